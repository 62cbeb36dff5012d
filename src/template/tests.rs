//! Unit tests of compilation, static analysis (references, `raw` uses, exact ranges) and
//! error reporting.

use super::*;

fn engine() -> Engine {
    Engine::new()
}

/// `(root, path, text at the range)` for every reference of a field.
fn refs(source: &str, kind: FieldKind) -> Vec<(String, Vec<String>, String)> {
    let field = engine().compile(source, kind).unwrap();
    field
        .references()
        .into_iter()
        .map(|r| {
            let range = r.range.clone().unwrap();
            (r.root, r.path, source[range].to_string())
        })
        .collect()
}

fn r(root: &str, path: &[&str], text: &str) -> (String, Vec<String>, String) {
    (
        root.to_string(),
        path.iter().map(|s| (*s).to_string()).collect(),
        text.to_string(),
    )
}

fn compile_err(source: &str, kind: FieldKind) -> TemplateError {
    engine().compile(source, kind).unwrap_err()
}

#[test]
fn single_expression_reference_stops_at_integer_index() {
    let src = "{{ steps.hunt.results[0].DeviceName }}";
    let field = engine().compile(src, FieldKind::Text).unwrap();
    assert!(field.is_expression());
    assert_eq!(
        field.references(),
        vec![Reference {
            root: "steps".into(),
            path: vec!["hunt".into(), "results".into()],
            range: Some(3..21),
        }]
    );
}

#[test]
fn text_template_references_in_source_order_with_ranges() {
    let src = "reports/{{ inputs.prefix }}-{{ run.started_at | date('%Y%m%d') }}.md";
    assert_eq!(
        refs(src, FieldKind::Text),
        vec![
            r("inputs", &["prefix"], "inputs.prefix"),
            r("run", &["started_at"], "run.started_at"),
        ]
    );
    let field = engine().compile(src, FieldKind::Text).unwrap();
    let ranges: Vec<_> = field
        .references()
        .into_iter()
        .map(|r| r.range.unwrap())
        .collect();
    assert_eq!(ranges, vec![11..24, 31..45]);
}

#[test]
fn names_bound_by_the_template_are_not_references() {
    let src = "{% for r in steps.noisy.items %}{{ loop.index }} {{ r.DeviceName }}\
               {% set seen = r.DeviceId %}{{ seen }}{% endfor %}";
    assert_eq!(
        refs(src, FieldKind::Text),
        vec![r("steps", &["noisy", "items"], "steps.noisy.items")]
    );
}

#[test]
fn loop_and_item_at_top_level_are_references() {
    assert_eq!(
        refs("{{ item.DeviceId }}-{{ loop.index }}", FieldKind::Text),
        vec![
            r("item", &["DeviceId"], "item.DeviceId"),
            r("loop", &["index"], "loop.index"),
        ]
    );
}

#[test]
fn for_loop_variables_do_not_leak_but_set_inside_if_does() {
    // After the loop `r` is unbound again, so reading it is reading the scope.
    let e = compile_err("{% for r in vars.xs %}{% endfor %}{{ r }}", FieldKind::Text);
    assert!(
        e.message
            .starts_with("unknown name `r`: the names in scope are")
    );
    assert_eq!(e.range, Some(37..38));
    // `if` opens no scope in minijinja: the `set` is visible afterwards.
    assert_eq!(
        refs(
            "{% if inputs.x %}{% set y = 1 %}{% else %}{% set y = 2 %}{% endif %}{{ y }}",
            FieldKind::Text
        ),
        vec![r("inputs", &["x"], "inputs.x")]
    );
}

#[test]
fn macros_with_blocks_and_namespaces_bind_their_names() {
    let src = "{% macro row(d, sep=vars.sep) %}{{ d.name }}{{ sep }}{{ caller() }}{% endmacro %}\
               {% call row(inputs.device) %}x{% endcall %}\
               {% with n = steps.a.count %}{{ n }}{% endwith %}\
               {% set ns = namespace(total=0) %}{% set ns.total = ns.total + 1 %}{{ ns.total }}";
    assert_eq!(
        refs(src, FieldKind::Text),
        vec![
            r("vars", &["sep"], "vars.sep"),
            r("inputs", &["device"], "inputs.device"),
            r("steps", &["a", "count"], "steps.a.count"),
        ]
    );
}

#[test]
fn string_subscripts_extend_the_path_computed_ones_stop_it() {
    assert_eq!(
        refs(r#"{{ vars["odd key"].x }}"#, FieldKind::Text),
        vec![r("vars", &["odd key", "x"], r#"vars["odd key"].x"#)]
    );
    assert_eq!(
        refs("{{ steps.hunt.results[inputs.n].x }}", FieldKind::Text),
        vec![
            r("steps", &["hunt", "results"], "steps.hunt.results"),
            r("inputs", &["n"], "inputs.n"),
        ]
    );
    assert_eq!(
        refs("{{ steps.hunt.results[1:3] }}", FieldKind::Text),
        vec![r("steps", &["hunt", "results"], "steps.hunt.results")]
    );
}

#[test]
fn method_names_and_filters_are_not_part_of_the_path() {
    assert_eq!(
        refs(
            "{% for k, v in vars.m.items() %}{{ k }}{% endfor %}",
            FieldKind::Text
        ),
        vec![r("vars", &["m"], "vars.m")]
    );
    assert_eq!(
        refs(
            "{{ state.last_success | default(ago(inputs.lookback)) }}",
            FieldKind::Text
        ),
        vec![
            r("state", &["last_success"], "state.last_success"),
            r("inputs", &["lookback"], "inputs.lookback"),
        ]
    );
}

#[test]
fn bare_expression_references_and_ranges() {
    let src = "steps.noisy.count >= inputs.min_hits";
    let field = engine().compile(src, FieldKind::Expression).unwrap();
    assert!(field.is_expression());
    let got: Vec<_> = field
        .references()
        .into_iter()
        .map(|r| (r.dotted(), r.range.unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("steps.noisy.count".to_string(), 0..17),
            ("inputs.min_hits".to_string(), 21..36),
        ]
    );
}

#[test]
fn multi_line_block_scalar_ranges_point_inside_the_text() {
    let src = "DeviceProcessEvents\n| where Timestamp > ago({{ inputs.lookback }})\n\
               | where DeviceName == {{ item.DeviceName }}\n";
    let field = engine().compile(src, FieldKind::Query).unwrap();
    let got: Vec<_> = field
        .references()
        .into_iter()
        .map(|r| &src[r.range.unwrap()])
        .map(str::to_string)
        .collect();
    assert_eq!(got, vec!["inputs.lookback", "item.DeviceName"]);
    assert!(!field.is_expression(), "a query is always text");
}

#[test]
fn raw_uses_cover_the_filtered_value_and_the_filter() {
    let src = "DeviceInfo | where DeviceName == {{ inputs.name | raw }} {{ inputs.x | kql }}";
    let field = engine().compile(src, FieldKind::Query).unwrap();
    let uses: Vec<_> = field.raw_uses().into_iter().map(|r| &src[r]).collect();
    assert_eq!(uses, vec!["inputs.name | raw"]);
    assert_eq!(field.raw_uses(), vec![36..53]);

    let src = "{{ (vars.a ~ 'x') | raw | upper }}{% filter raw %}t{% endfilter %}";
    let field = engine().compile(src, FieldKind::Query).unwrap();
    let uses: Vec<_> = field.raw_uses().into_iter().map(|r| &src[r]).collect();
    assert_eq!(uses, vec!["vars.a ~ 'x') | raw", "raw"]);

    let plain = engine()
        .compile("{{ inputs.a }}", FieldKind::Query)
        .unwrap();
    assert!(plain.raw_uses().is_empty());
}

#[test]
fn forms_are_chosen_from_the_text() {
    let e = engine();
    assert!(
        e.compile("plain text", FieldKind::Text)
            .unwrap()
            .is_literal()
    );
    assert!(e.compile("", FieldKind::Text).unwrap().is_literal());
    assert!(
        e.compile("  {{ inputs.a }}\n", FieldKind::Text)
            .unwrap()
            .is_expression()
    );
    assert!(
        e.compile("{{- inputs.a -}}", FieldKind::Text)
            .unwrap()
            .is_expression()
    );
    assert!(
        e.compile("{# why #}{{ inputs.a }}", FieldKind::Text)
            .unwrap()
            .is_expression()
    );
    // A `}}` inside a string constant does not end the expression.
    assert!(
        e.compile("{{ '}}' ~ inputs.a }}", FieldKind::Text)
            .unwrap()
            .is_expression()
    );
    let two = e
        .compile("{{ inputs.a }}{{ inputs.b }}", FieldKind::Text)
        .unwrap();
    assert!(!two.is_expression() && !two.is_literal());
    assert!(
        !e.compile("x {{ inputs.a }}", FieldKind::Text)
            .unwrap()
            .is_expression()
    );
    assert!(
        e.compile("steps.a.count > 0", FieldKind::Expression)
            .unwrap()
            .is_expression()
    );
    // A bare expression may contain template markers inside strings.
    assert!(
        e.compile("'{{' in inputs.s", FieldKind::Expression)
            .unwrap()
            .is_expression()
    );
}

#[test]
fn expression_fields_reject_text_templates() {
    let e = compile_err("{{ steps.a.count }} > 0", FieldKind::Expression);
    assert!(
        e.message.starts_with("expected one expression"),
        "{}",
        e.message
    );
    assert_eq!(e.range, Some(0..23));
    let e = compile_err(" x: {{ a }}", FieldKind::Expression);
    assert!(
        e.message.starts_with("expected one expression"),
        "{}",
        e.message
    );
    assert_eq!(e.range, Some(1..11));
    let e = compile_err("  ", FieldKind::Expression);
    assert_eq!(e.message, "expected an expression, found nothing");
}

#[test]
fn syntax_errors_have_house_style_messages_and_ranges() {
    let e = compile_err("{{ inputs.a", FieldKind::Text);
    assert_eq!(e.message, "unexpected end of input, expected `}}`");
    assert_eq!(e.range, Some(10..11));

    let e = compile_err("{{ inputs.a }", FieldKind::Text);
    assert_eq!(e.message, "unexpected `}`, expected `}}`");
    assert_eq!(e.range, Some(12..13));

    // Line 2 of a block scalar: the range is inside the field text.
    let src = "DeviceInfo\n| where X == {{ inputs.a + }}\n";
    let e = compile_err(src, FieldKind::Query);
    assert_eq!(e.message, "unexpected `}}`, expected an expression");
    let range = e.range.clone().unwrap();
    assert_eq!(&src[range], "}}");
    assert_eq!(e.position(src), Some((2, 28)));

    // A bare expression: ranges are relative to the field text too.
    let e = compile_err("steps.a.count >", FieldKind::Expression);
    assert_eq!(e.message, "unexpected end of input, expected expression");
    assert_eq!(e.range, Some(14..15));
}

#[test]
fn unknown_names_filters_tests_and_functions_are_compile_errors() {
    let e = compile_err("{{ input.lookback }}", FieldKind::Text);
    assert_eq!(e.message, "unknown name `input`, did you mean `inputs`?");
    assert_eq!(e.range, Some(3..8));

    let e = compile_err("{{ foo }}", FieldKind::Text);
    assert_eq!(
        e.message,
        "unknown name `foo`: the names in scope are `inputs`, `vars`, `steps`, `item`, \
         `loop`, `env`, `run`, `state`"
    );

    let e = compile_err("{{ steps.a.results | josnpath('$') }}", FieldKind::Text);
    assert_eq!(
        e.message,
        "unknown filter `josnpath`, did you mean `jsonpath`?"
    );
    assert_eq!(e.range, Some(21..29));

    let e = compile_err("{{ inputs.a | uper }}", FieldKind::Text);
    assert_eq!(e.message, "unknown filter `uper`, did you mean `upper`?");

    let e = compile_err("{{ inputs.a is defind }}", FieldKind::Text);
    assert_eq!(e.message, "unknown test `defind`, did you mean `defined`?");
    assert_eq!(e.range, Some(15..21));

    let e = compile_err("x {{ rnage(3) }}", FieldKind::Text);
    assert_eq!(e.message, "unknown function `rnage`, did you mean `range`?");
    assert_eq!(e.range, Some(5..10));

    let e = compile_err("a\n{% include 'x.j2' %}", FieldKind::Text);
    assert!(
        e.message.starts_with("`include` is not available"),
        "{}",
        e.message
    );
    assert_eq!(e.position("a\n{% include 'x.j2' %}"), Some((2, 4)));
}

#[test]
fn problems_lists_every_problem_in_order() {
    let p = engine().problems("{{ a }} {{ inputs.x | nope }} {{ b }}", FieldKind::Text);
    let messages: Vec<_> = p.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert!(messages[0].starts_with("unknown name `a`"));
    assert!(messages[1].starts_with("unknown filter `nope`"));
    assert!(messages[2].starts_with("unknown name `b`"));
    assert!(
        engine()
            .problems("{{ inputs.x }}", FieldKind::Text)
            .is_empty()
    );
}

#[test]
fn suggestion_lists_name_real_filters_and_tests() {
    let e = engine();
    for f in KNOWN_FILTERS.iter().chain(filters::FILTERS) {
        assert!(e.is_known("filter", f), "{f} is not a filter");
    }
    for t in KNOWN_TESTS {
        assert!(e.is_known("test", t), "{t} is not a test");
    }
    assert!(!e.is_known("filter", "nope"));
}

#[test]
fn prefix_ranges_cover_the_root_and_leading_segments() {
    let src = r#"{{ steps . hunt["re\"s"].count }}"#;
    let field = engine().compile(src, FieldKind::Text).unwrap();
    let reference = &field.references()[0];
    assert_eq!(reference.path, vec!["hunt", "re\"s", "count"]);
    let at = |d| reference.prefix_range(src, d).map(|r| &src[r]);
    assert_eq!(at(0), Some("steps"));
    assert_eq!(at(1), Some("steps . hunt"));
    assert_eq!(at(2), Some(r#"steps . hunt["re\"s"]"#));
    assert_eq!(at(3), Some(r#"steps . hunt["re\"s"].count"#));
    assert_eq!(at(4), None);
    assert_eq!(reference.dotted(), r#"steps.hunt["re\"s"].count"#);
}

#[test]
fn undefined_names_at_render_time_name_the_missing_prefix() {
    let scope = minijinja::context! {
        steps => minijinja::context! { hunt => minijinja::context! { results => vec![1], count => 1 } },
        inputs => minijinja::context! {},
    };
    let e = engine();
    let field = e
        .compile("a\nb {{ steps.hunt.resuts }}", FieldKind::Text)
        .unwrap();
    let err = e.render(&field, &scope).unwrap_err();
    assert_eq!(
        err.message,
        "undefined value `steps.hunt.resuts`, did you mean `steps.hunt.results`?"
    );
    assert_eq!(err.range, Some(7..24));
    assert_eq!(err.position(field.source()), Some((2, 6)));

    let field = e
        .compile("steps.hnt.count > 0", FieldKind::Expression)
        .unwrap();
    let err = e.render(&field, &scope).unwrap_err();
    assert_eq!(
        err.message,
        "undefined value `steps.hnt`, did you mean `steps.hunt`?"
    );
    assert_eq!(err.range, Some(0..9));

    // An expression that evaluates to undefined is an error too, not a silent value.
    let field = e.compile("{{ inputs.nope }}", FieldKind::Text).unwrap();
    let err = e.render(&field, &scope).unwrap_err();
    assert_eq!(err.message, "undefined value `inputs.nope`");
    assert_eq!(err.range, Some(3..14));

    let field = e
        .compile("{{ steps.hunt.count.x }}", FieldKind::Text)
        .unwrap();
    let err = e.render(&field, &scope).unwrap_err();
    assert_eq!(
        err.message,
        "undefined value `steps.hunt.count.x`: `steps.hunt.count` is a number"
    );
}
