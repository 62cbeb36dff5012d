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

// ---- rendering ----------------------------------------------------------------------

use chrono::TimeZone;
use std::time::Duration;

fn frozen() -> Engine {
    Engine::new().with_now(Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap())
}

fn scope() -> Value {
    minijinja::context! {
        inputs => minijinja::context! {
            lookback => value::duration(Duration::from_secs(86_400)),
            name => "\"; DeviceInfo | take 1 //",
            ids => vec!["a1", "b\"2"],
            min_hits => 2,
            flag => true,
        },
        state => Value::from_pairs([(
            "last_success",
            value::datetime(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()),
        )]),
        steps => minijinja::context! {
            hunt => minijinja::context! {
                results => vec![
                    minijinja::context! { DeviceName => "ws-01", AccountName => "system" },
                    minijinja::context! { DeviceName => "ws-02\u{202E}", AccountName => "alice" },
                ],
                count => 2,
            },
        },
        item => minijinja::context! { DeviceName => "line\nbreak", Owner => () },
    }
}

fn render(source: &str, kind: FieldKind) -> Result<Value, TemplateError> {
    let e = frozen();
    let field = e.compile(source, kind)?;
    e.render(&field, &scope())
}

fn render_text(source: &str, kind: FieldKind) -> String {
    render(source, kind).unwrap().as_str().unwrap().to_string()
}

#[test]
fn queries_render_values_as_kql_literals() {
    let query = "DeviceProcessEvents\n\
                 | where Timestamp > ago({{ inputs.lookback }})\n\
                 | where Timestamp > {{ state.last_success }}\n\
                 | where DeviceName == {{ inputs.name }} or DeviceName == {{ item.DeviceName }}\n\
                 | where DeviceId in ({{ inputs.ids }}) and Hits >= {{ inputs.min_hits }}\n\
                 | where IsAdmin == {{ inputs.flag }}\n";
    assert_eq!(
        render_text(query, FieldKind::Query),
        "DeviceProcessEvents\n\
         | where Timestamp > ago(1d)\n\
         | where Timestamp > datetime(2026-11-25T10:00:00.0000000Z)\n\
         | where DeviceName == \"\\\"; DeviceInfo | take 1 //\" or DeviceName == \"line\\nbreak\"\n\
         | where DeviceId in (\"a1\", \"b\\\"2\") and Hits >= 2\n\
         | where IsAdmin == true\n"
    );
}

#[test]
fn a_list_renders_as_the_parenthesised_list_itself() {
    assert_eq!(
        render_text("T | where DeviceId in {{ inputs.ids }}", FieldKind::Query),
        r#"T | where DeviceId in ("a1", "b\"2")"#
    );
    assert_eq!(
        render_text(
            "T | where DeviceName in {{ steps.hunt.results | map(attribute='DeviceName') | list }}",
            FieldKind::Query
        ),
        r#"T | where DeviceName in ("ws-01", "ws-02\u202E")"#
    );
}

#[test]
fn raw_is_verbatim_in_queries_and_kql_is_explicit() {
    assert_eq!(
        render_text(
            "T | {{ 'take 5' | raw }} | where X == {{ inputs.name | kql }}",
            FieldKind::Query
        ),
        r#"T | take 5 | where X == "\"; DeviceInfo | take 1 //""#
    );
    // `safe` (or any other filter) does not bypass quoting: only `raw` does.
    assert_eq!(
        render_text("T | where X == {{ 'a\"b' | safe }}", FieldKind::Query),
        r#"T | where X == "a\"b""#
    );
    // Outside queries `raw` changes nothing and `kql` gives the literal's text.
    assert_eq!(
        render_text(
            "x={{ inputs.name | raw }} y={{ inputs.ids | kql }}",
            FieldKind::Text
        ),
        r#"x="; DeviceInfo | take 1 // y=("a1", "b\"2")"#
    );
    assert_eq!(
        render("{{ inputs.lookback | kql }}", FieldKind::Text).unwrap(),
        Value::from("1d")
    );
}

#[test]
fn a_none_in_a_query_is_an_error_at_its_place() {
    let src = "T | where Owner == {{ item.Owner }}";
    let err = render(src, FieldKind::Query).unwrap_err();
    assert!(
        err.message
            .starts_with("cannot put none (null) into a query"),
        "{}",
        err.message
    );
    assert_eq!(&src[err.range.unwrap()], "item.Owner");
    assert_eq!(
        render_text(
            "T | where Owner == {{ item.Owner | default('nobody', true) }}",
            FieldKind::Query
        ),
        r#"T | where Owner == "nobody""#
    );
}

#[test]
fn quoting_a_placeholder_in_a_query_is_a_compile_error() {
    let src = "T | where DeviceName == \"{{ item.DeviceName }}\"";
    let e = compile_err(src, FieldKind::Query);
    assert!(
        e.message.contains("inside a KQL string literal"),
        "{}",
        e.message
    );
    assert_eq!(&src[e.range.unwrap()], "{{ item.DeviceName }}");
}

#[test]
fn single_expressions_keep_their_type() {
    let results = render("{{ steps.hunt.results }}", FieldKind::Text).unwrap();
    assert_eq!(results.len(), Some(2));
    let lookback = render("{{ inputs.lookback }}", FieldKind::Text).unwrap();
    assert_eq!(
        value::as_duration(&lookback),
        Some(Duration::from_secs(86_400))
    );
    assert_eq!(
        render("steps.hunt.count >= inputs.min_hits", FieldKind::Expression).unwrap(),
        Value::from(true)
    );
    assert_eq!(
        render("{{ inputs.min_hits + 1 }}", FieldKind::Text).unwrap(),
        Value::from(3)
    );
    // Text templates render to strings, with booleans as YAML/JSON write them.
    assert_eq!(
        render_text(
            "n={{ inputs.min_hits }} f={{ inputs.flag }} o={{ item.Owner }}",
            FieldKind::Text
        ),
        "n=2 f=true o="
    );
    assert_eq!(
        render_text(
            "since {{ state.last_success }} for {{ inputs.lookback }}",
            FieldKind::Text
        ),
        "since 2026-11-25T10:00:00Z for 1d"
    );
}

#[test]
fn default_works_for_a_missing_state_key_under_strict_undefined() {
    let e = frozen();
    let field = e
        .compile(
            "{{ state.last_success | default(ago(inputs.lookback)) }}",
            FieldKind::Text,
        )
        .unwrap();
    let first_run = minijinja::context! {
        state => minijinja::context! {},
        inputs => minijinja::context! { lookback => value::duration(Duration::from_secs(86_400)) },
    };
    let since = e.render(&field, &first_run).unwrap();
    assert_eq!(
        value::as_datetime(&since),
        Some(Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap())
    );
    let later = e.render(&field, &scope()).unwrap();
    assert_eq!(
        value::as_datetime(&later),
        Some(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap())
    );
    // In a query, the default renders as a datetime literal too.
    let q = e
        .compile(
            "T | where Timestamp > {{ state.last_success | default(ago('1h')) }}",
            FieldKind::Query,
        )
        .unwrap();
    assert_eq!(
        e.render(&q, &first_run).unwrap().as_str(),
        Some("T | where Timestamp > datetime(2026-11-25T11:00:00.0000000Z)")
    );
}

#[test]
fn datetimes_and_durations_compare_in_conditions() {
    assert_eq!(
        render("state.last_success < ago('1h')", FieldKind::Expression).unwrap(),
        Value::from(true)
    );
    assert_eq!(
        render("state.last_success < ago('1d')", FieldKind::Expression).unwrap(),
        Value::from(false)
    );
    assert_eq!(
        render("state.last_success < now()", FieldKind::Expression).unwrap(),
        Value::from(true)
    );
    assert_eq!(
        render(
            "inputs.lookback > ('90m' | duration)",
            FieldKind::Expression
        )
        .unwrap(),
        Value::from(true)
    );
    assert_eq!(
        render(
            "state.last_success == ('2026-11-25T12:00:00+02:00' | datetime)",
            FieldKind::Expression
        )
        .unwrap(),
        Value::from(true)
    );
    assert_eq!(
        render("{{ now() }}", FieldKind::Text).unwrap().to_string(),
        "2026-11-25T12:00:00Z"
    );
}

#[test]
fn jsonpath_filter_returns_matches_and_checks_constant_paths() {
    let v = render(
        "{{ steps.hunt.results | jsonpath(\"$[?@.AccountName != 'system'].DeviceName\") }}",
        FieldKind::Text,
    )
    .unwrap();
    assert_eq!(
        value::to_json(&v).unwrap(),
        serde_json::json!(["ws-02\u{202E}"])
    );
    let src = "{{ steps.hunt.results | jsonpath('$[?@.x ==]') }}";
    let e = compile_err(src, FieldKind::Text);
    assert!(
        e.message.starts_with("invalid JSONPath `$[?@.x ==]`"),
        "{}",
        e.message
    );
    let range = e.range.unwrap();
    assert!(
        range.start > src.find('$').unwrap() && range.end <= src.find("')").unwrap(),
        "{range:?}"
    );
    // A computed path is checked when it is known.
    let e = frozen();
    let field = e
        .compile(
            "{{ steps.hunt.results | jsonpath(inputs.name) }}",
            FieldKind::Text,
        )
        .unwrap();
    let err = e.render(&field, &scope()).unwrap_err();
    assert!(err.message.contains("invalid JSONPath"), "{}", err.message);
}

#[test]
fn jsonpath_over_hunting_rows_renders_as_over_their_json() {
    use crate::rows::{RowSet, Rows};
    let body = r#"{"schema":[{"name":"DeviceName","type":"String"},{"name":"Count","type":"Int64"},{"name":"Extra","type":"Dynamic"}],
        "results":[{"DeviceName":"ws1","Count":1,"Extra":{"k":[1,2]}},{"DeviceName":"ws2","Count":5},
                   {"DeviceName":"ws3","Count":null,"Extra":"x"},{"DeviceName":"ws4","Count":7}]}"#;
    let rows = Rows::all(std::sync::Arc::new(
        RowSet::from_slice(body.as_bytes()).unwrap(),
    ));
    let as_rows = minijinja::context! { steps => minijinja::context! {
        hunt => minijinja::context! { results => rows.clone().into_value() },
    }};
    let as_json = minijinja::context! { steps => minijinja::context! {
        hunt => minijinja::context! { results => value::from_json(&rows.to_json_value()) },
    }};
    let e = frozen();
    for template in [
        "{{ steps.hunt.results | jsonpath('$[?@.Count > 1]') }}",
        "{{ steps.hunt.results | jsonpath('$[?@.Count > 1]') | tojson }}",
        "{{ steps.hunt.results | jsonpath('$[?@.Count > 1]') | length }}",
        "{{ steps.hunt.results | jsonpath('$[?@.Count > 1].DeviceName') | join(',') }}",
        "{% for r in steps.hunt.results | jsonpath('$[?@.Extra]') %}{{ r.DeviceName }}:{{ r.Extra }};{% endfor %}",
        "{{ steps.hunt.results | jsonpath('$[0,2]') | tojson }}",
        "{{ steps.hunt.results | jsonpath('$..k') }}",
        "{{ steps.hunt.results | jsonpath('$[?@.Count == 99]') }}",
    ] {
        // Text around the expression: the matches print as text, as in a report.
        let field = e
            .compile(&format!("= {template}"), FieldKind::Text)
            .unwrap();
        let want = e.render_string(&field, &as_json).unwrap();
        assert_eq!(
            e.render_string(&field, &as_rows).unwrap(),
            want,
            "{template}"
        );
    }
    // Whole-row matches stay rows: a later filter step keeps its fast path.
    let field = e
        .compile(
            "{{ steps.hunt.results | jsonpath('$[?@.Count > 1]') }}",
            FieldKind::Text,
        )
        .unwrap();
    let kept = e.render(&field, &as_rows).unwrap();
    assert_eq!(Rows::from_value(&kept).map(|r| r.len()), Some(2));
}

#[test]
fn date_filter_formats_datetimes_and_strings() {
    assert_eq!(
        render_text(
            "{{ state.last_success | date('%Y%m%d-%H%M') }}",
            FieldKind::Text
        ),
        "20261125-1000"
    );
    assert_eq!(
        render_text("{{ '2026-01-02T03:04:05Z' | date }}", FieldKind::Text),
        "2026-01-02"
    );
    assert_eq!(
        render_text("{{ now() | date('%d/%m') }}", FieldKind::Text),
        "25/11"
    );
    let e = compile_err("{{ now() | date('%Q') }}", FieldKind::Text);
    assert!(
        e.message.contains("not a valid date format"),
        "{}",
        e.message
    );
    assert!(
        render("{{ 'yesterday' | date }}", FieldKind::Text)
            .unwrap_err()
            .message
            .contains("not a datetime")
    );
}

#[test]
fn ago_and_duration_reject_bad_durations() {
    let src = "{{ ago('1w') }}";
    let e = compile_err(src, FieldKind::Text);
    assert!(e.message.contains("a unit, not `w`"), "{}", e.message);
    assert_eq!(&src[e.range.unwrap()], "'1w'");
    let err = render("{{ ago(inputs.min_hits) }}", FieldKind::Text).unwrap_err();
    assert_eq!(
        err.message,
        "`ago`: expected a duration like `1d` or `90m`, got an integer"
    );
}

#[test]
fn tojson_is_plain_json_with_typed_values_as_text() {
    assert_eq!(
        render_text(
            "{{ {'a': '<b> & \"c\"', 'since': state.last_success, 'n': [1, 2.5, none]} | tojson }}",
            FieldKind::Text
        ),
        r#"{"a":"<b> & \"c\"","since":"2026-11-25T10:00:00Z","n":[1,2.5,null]}"#
    );
    assert_eq!(
        render_text("{{ [1] | tojson(indent=2) }}", FieldKind::Text),
        "[\n  1\n]"
    );
}

#[test]
fn render_string_accepts_text_like_values_only() {
    let e = frozen();
    let s = scope();
    let get = |src: &str| e.render_string(&e.compile(src, FieldKind::Text).unwrap(), &s);
    assert_eq!(get("{{ inputs.min_hits }}").unwrap(), "2");
    assert_eq!(get("{{ inputs.flag }}").unwrap(), "true");
    assert_eq!(get("{{ inputs.lookback }}").unwrap(), "1d");
    assert_eq!(get("literal").unwrap(), "literal");
    let err = get("{{ inputs.ids }}").unwrap_err();
    assert_eq!(
        err.message,
        "expected text here, but the expression gives a list"
    );
    assert_eq!(err.range, Some(2..14));
    assert_eq!(
        get("{{ item.Owner }}").unwrap_err().message,
        "expected text here, but the expression gives none"
    );
}

#[test]
fn now_is_frozen_per_engine() {
    let e = frozen();
    let field = e
        .compile("{{ now() }}|{{ ago('0s') }}", FieldKind::Text)
        .unwrap();
    let scope = minijinja::context! {};
    assert_eq!(
        e.render(&field, &scope).unwrap().as_str(),
        Some("2026-11-25T12:00:00Z|2026-11-25T12:00:00Z")
    );
    let other = Engine::new().with_now(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap());
    assert_eq!(
        other.render(&field, &scope).unwrap().as_str(),
        Some("2027-01-01T00:00:00Z|2027-01-01T00:00:00Z")
    );
}

#[test]
fn undefined_loop_variables_keep_their_own_name() {
    let src =
        "{{ state.x | default(1) }}{% for r in steps.hunt.results %}{{ r.Missing }}{% endfor %}";
    let err = render(src, FieldKind::Text).unwrap_err();
    assert_eq!(err.message, "undefined value `r.Missing`");
    assert_eq!(&src[err.range.unwrap()], "r.Missing");
}

#[test]
fn engines_and_fields_can_be_shared_across_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
    assert_send_sync::<Field>();
    assert_send_sync::<TemplateError>();
}

#[test]
fn bare_expressions_tolerate_block_scalar_newlines() {
    assert_eq!(
        render("steps.hunt.count\n  > 1\n", FieldKind::Expression).unwrap(),
        Value::from(true)
    );
}

#[test]
fn the_query_example_of_the_documentation_renders_as_documented() {
    let e = frozen();
    let query = "DeviceProcessEvents\n\
                 | where Timestamp > ago({{ inputs.lookback }})\n\
                 | where Timestamp > {{ state.last_success | default(ago(inputs.lookback)) }}\n\
                 | where DeviceName == {{ item.DeviceName }}\n\
                 | where DeviceId in ({{ steps.devices.items | map(attribute='DeviceId') | list }})\n";
    let field = e.compile(query, FieldKind::Query).unwrap();
    let scope = minijinja::context! {
        inputs => minijinja::context! { lookback => value::duration(Duration::from_secs(86_400)) },
        state => minijinja::context! {},
        item => minijinja::context! { DeviceName => "ws-01" },
        steps => minijinja::context! { devices => minijinja::context! { items => vec![
            minijinja::context! { DeviceId => "d1" },
            minijinja::context! { DeviceId => "d2" },
        ] } },
    };
    assert_eq!(
        e.render(&field, &scope).unwrap().as_str(),
        Some(
            "DeviceProcessEvents\n\
             | where Timestamp > ago(1d)\n\
             | where Timestamp > datetime(2026-11-24T12:00:00.0000000Z)\n\
             | where DeviceName == \"ws-01\"\n\
             | where DeviceId in (\"d1\", \"d2\")\n"
        )
    );
}

#[test]
fn report_templates_have_no_blank_lines_from_tags_and_keep_their_last_newline() {
    let src = "# Hits: {{ steps.hunt.count }}\n{% for r in steps.hunt.results %}\n- {{ r.DeviceName }}\n{% endfor %}\n";
    assert_eq!(
        render_text(src, FieldKind::Text),
        "# Hits: 2\n- ws-01\n- ws-02\u{202E}\n"
    );
}

#[test]
fn a_list_inside_written_parentheses_renders_as_its_items() {
    assert_eq!(
        render_text(
            "T | where A in ({{ inputs.ids }}) and B has_any({{ inputs.ids }}) and C in ({{ [] }}) and D == ({{ inputs.min_hits }})",
            FieldKind::Query
        ),
        r#"T | where A in ("a1", "b\"2") and B has_any("a1", "b\"2") and C in (dynamic([])) and D == (2)"#
    );
    // An expression with operators is wrapped whole, not just its last operand.
    assert_eq!(
        render_text(
            "T | where A in ({{ inputs.ids if inputs.flag else [] }})",
            FieldKind::Query
        ),
        r#"T | where A in ("a1", "b\"2")"#
    );
}

#[test]
fn errors_inside_written_parentheses_point_at_the_authors_text() {
    let src = "T | where A in ({{ inputs.ids }})\n| where Owner in ({{ item.Owner }})";
    let err = render(src, FieldKind::Query).unwrap_err();
    assert!(
        err.message.starts_with("cannot put none"),
        "{}",
        err.message
    );
    assert_eq!(&src[err.range.unwrap()], "item.Owner");

    let src = "T | where A in ({{ inputs.ids }}) and B in ({{ inputs.idz }})";
    let err = render(src, FieldKind::Query).unwrap_err();
    assert_eq!(
        err.message,
        "undefined value `inputs.idz`, did you mean `inputs.ids`?"
    );
    assert_eq!(&src[err.range.unwrap()], "inputs.idz");
}

#[test]
fn huntbook_filters_refuse_undefined_values() {
    for src in [
        "{{ inputs.nope | raw }}",
        "{{ inputs.nope | kql }}",
        "{{ inputs.nope | date }}",
        "{{ inputs.nope | tojson }}",
        "{{ inputs.nope | jsonpath('$') }}",
        "{{ inputs.nope | duration }}",
        "{{ ago(inputs.nope) }}",
        "x {{ inputs.nope | raw }}",
    ] {
        let err = render(src, FieldKind::Text).unwrap_err();
        assert_eq!(
            err.message,
            "undefined value `inputs.nope`: `inputs` has `lookback`, `name`, `ids`, `min_hits`, `flag`",
            "{src}"
        );
        assert_eq!(&src[err.range.unwrap()], "inputs.nope", "{src}");
    }
    let err = render(
        "{% for r in [1] %}{{ r.x | raw }}{% endfor %}",
        FieldKind::Text,
    )
    .unwrap_err();
    assert_eq!(err.message, "undefined value passed to `raw`");
}

#[test]
fn a_document_is_always_text_and_keeps_its_trailing_newline() {
    let scope = minijinja::context! {
        steps => minijinja::context! { h => minijinja::context! { count => 3, results => vec![1, 2] } },
    };
    let e = engine();
    for (source, expected) in [
        ("{{ steps.h.count }}\n", "3\n"),
        ("{{ steps.h.count }}", "3"),
        ("  {{ steps.h.count }}\n\n", "  3\n\n"),
        ("{{ steps.h.results | length }}\n", "2\n"),
    ] {
        let field = e.compile(source, FieldKind::Document).unwrap();
        assert!(!field.is_expression(), "{source:?}");
        let text = e.render_string(&field, &scope).unwrap();
        assert_eq!(text, expected, "{source:?}");
    }
    // A text field keeps the single-expression rule: the value, with its type.
    let field = e.compile("{{ steps.h.count }}\n", FieldKind::Text).unwrap();
    assert!(field.is_expression());
}

#[test]
fn an_unset_environment_variable_is_named_as_such() {
    let scope = minijinja::context! {
        env => minijinja::context! { HOME => "/root" },
    };
    let e = engine();
    let field = e
        .compile("{{ env.AZURE_TENANT_ID }}", FieldKind::Text)
        .unwrap();
    let err = e.render(&field, &scope).unwrap_err();
    assert_eq!(
        err.message,
        "undefined value `env.AZURE_TENANT_ID`: the environment variable `AZURE_TENANT_ID` is not set"
    );
    assert_eq!(err.range, Some(3..22));
}

// ---- OData filters, URL paths, file paths -------------------------------------------

fn hostile_scope() -> Value {
    minijinja::context! {
        inputs => minijinja::context! {
            status => "x' or 1 eq 1 or status eq 'y",
            since => value::datetime(Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap()),
            n => 3,
            ids => vec!["a", "b'c"],
            filter => "status eq 'active'",
            dir => "../../etc",
        },
        item => minijinja::context! {
            DeviceName => "../../../home/u/.bashrc",
            Id => "../machines/other?x=1#f",
            Dot => "..",
            Abs => "/etc/passwd",
            Nul => "a\0b",
            Sub => "2026/11",
            Plain => "ws-01",
        },
    }
}

fn render_in(source: &str, kind: FieldKind) -> Result<String, TemplateError> {
    let e = frozen();
    let field = e.compile(source, kind)?;
    e.render_string(&field, &hostile_scope())
}

#[test]
fn odata_filters_render_values_as_literals() {
    assert_eq!(
        render_in(
            "status eq {{ inputs.status }} and t ge {{ inputs.since }} and n eq {{ inputs.n }}",
            FieldKind::OData
        )
        .unwrap(),
        "status eq 'x'' or 1 eq 1 or status eq ''y' and t ge 2026-11-25T10:00:00Z and n eq 3"
    );
    assert_eq!(
        render_in("id in {{ inputs.ids }}", FieldKind::OData).unwrap(),
        "id in ('a', 'b''c')"
    );
    // A lone placeholder is a literal too, not a filter expression.
    assert_eq!(
        render_in("{{ inputs.filter }}", FieldKind::OData).unwrap(),
        "'status eq ''active'''"
    );
    // `raw` is the way out; `kql` is not.
    assert_eq!(
        render_in("{{ inputs.filter | raw }}", FieldKind::OData).unwrap(),
        "status eq 'active'"
    );
    assert_eq!(
        render_in("s eq {{ inputs.status | kql }}", FieldKind::OData).unwrap(),
        "s eq '\"x'' or 1 eq 1 or status eq ''y\"'"
    );
}

#[test]
fn quoting_a_placeholder_in_an_odata_filter_is_a_compile_error() {
    let src = "status eq '{{ inputs.status }}'";
    let e = compile_err(src, FieldKind::OData);
    assert!(
        e.message.contains("inside an OData string literal"),
        "{}",
        e.message
    );
    assert_eq!(&src[e.range.unwrap()], "{{ inputs.status }}");
    assert!(
        engine()
            .compile("a eq 'it''s' and b eq {{ inputs.n }}", FieldKind::OData)
            .is_ok()
    );
}

#[test]
fn url_path_values_are_one_segment() {
    assert_eq!(
        render_in("/api/machines/{{ item.Id }}/isolate", FieldKind::UrlPath).unwrap(),
        "/api/machines/..%2Fmachines%2Fother%3Fx%3D1%23f/isolate"
    );
    let e = render_in("/api/machines/{{ item.Dot }}/isolate", FieldKind::UrlPath).unwrap_err();
    assert!(e.message.contains("another route"), "{}", e.message);
    assert_eq!(
        render_in(
            "{{ '/api/machines' | raw }}/{{ item.Plain }}",
            FieldKind::UrlPath
        )
        .unwrap(),
        "/api/machines/ws-01"
    );
}

#[test]
fn file_path_values_stay_in_their_folder() {
    assert_eq!(
        render_in("reports/{{ item.Plain }}.md", FieldKind::FilePath).unwrap(),
        "reports/ws-01.md"
    );
    assert_eq!(
        render_in("../reports/{{ item.Sub }}/x.md", FieldKind::FilePath).unwrap(),
        "../reports/2026/11/x.md"
    );
    for bad in [
        "reports/{{ item.DeviceName }}.md",
        "reports/{{ item.Dot }}/x.md",
        "{{ item.Abs }}",
        "reports/{{ item.Nul }}.md",
        "{{ inputs.dir }}/x.md",
    ] {
        let e = render_in(bad, FieldKind::FilePath).unwrap_err();
        assert!(
            e.message.contains("leave its folder")
                || e.message.contains("absolute")
                || e.message.contains("NUL"),
            "{bad}: {}",
            e.message
        );
    }
    // The author's way out, for a trusted input.
    assert_eq!(
        render_in("{{ inputs.dir | raw }}/x.md", FieldKind::FilePath).unwrap(),
        "../../etc/x.md"
    );
    // Lists are not text.
    assert!(render_in("r/{{ inputs.ids }}", FieldKind::FilePath).is_err());
}
