//! One test per validation rule, each asserting the code and the exact line and column.

use std::path::Path;

use crate::diag::{Code, Severity};
use crate::playbook::load::load_str;
use crate::playbook::model::*;

const HEAD: &str = "huntbook: 1\nname: t\nsteps:\n";

/// (code, line, column) of every diagnostic.
fn diags(text: &str) -> Vec<(Code, usize, usize)> {
    let loaded = load_str(Path::new("t.yaml"), text);
    loaded
        .diagnostics
        .iter()
        .map(|d| {
            let pos = d
                .span
                .and_then(|s| loaded.sources.get(s.file).map(|f| f.line_col(s.start)))
                .map_or((0, 0), |p| (p.line, p.column));
            (d.code, pos.0, pos.1)
        })
        .collect()
}

/// The position of the only diagnostic, which must have `code`.
#[track_caller]
fn only(text: &str, code: Code) -> (usize, usize) {
    let d = diags(text);
    assert_eq!(d.len(), 1, "expected exactly one diagnostic, got {d:?}");
    assert_eq!(d[0].0, code, "{d:?}");
    (d[0].1, d[0].2)
}

#[track_caller]
fn valid(text: &str) -> Playbook {
    let loaded = load_str(Path::new("t.yaml"), text);
    assert!(
        loaded
            .diagnostics
            .iter()
            .all(|d| d.severity == Severity::Warning),
        "{:?}",
        loaded.diagnostics
    );
    loaded.playbook.unwrap_or_else(|| panic!("no playbook"))
}

fn steps(body: &str) -> String {
    format!("{HEAD}{body}")
}

const LOGIN: &str = "  - authenticate:\n      client_secret: { env: S }\n";

/// A playbook of `body` after a one-line sign-in (API steps need one before them): its steps
/// start at index 1 and its lines one lower than with [`steps`].
fn signed_in(body: &str) -> String {
    format!("{HEAD}  - authenticate: {{ client_secret: {{ env: S }} }}\n{body}")
}

#[test]
fn a_minimal_playbook_builds_the_model() {
    let p = valid(&signed_in(
        "  - id: hunt\n    hunt:\n      query: DeviceInfo | take 1\n  - output:\n      data: steps.hunt.results\n",
    ));
    assert_eq!(p.name, "t");
    assert_eq!(p.max_targets, 10);
    assert_eq!(p.steps.len(), 3);
    assert_eq!(p.steps[1].id.as_deref(), Some("hunt"));
    assert_eq!(p.steps[1].route, "steps[1]");
    match &p.steps[1].kind {
        StepKind::Hunt(h) => {
            assert_eq!(h.api, Api::Graph);
            assert_eq!(h.query.source(), "DeviceInfo | take 1");
        }
        other => panic!("{other:?}"),
    }
    match &p.steps[2].kind {
        StepKind::Output(o) => assert_eq!(o.format, OutputFormat::Json),
        other => panic!("{other:?}"),
    }
}

#[test]
fn yaml_syntax_errors_point_at_the_problem() {
    // The flow sequence opened at line 2, column 7 never closes.
    assert_eq!(only("huntbook: 1\nname: [t\n", Code::YamlSyntax), (2, 7));
}

#[test]
fn unsupported_versions_name_the_supported_one() {
    assert_eq!(
        only(
            "huntbook: 2\nname: t\nsteps:\n  - set: {a: 1}\n",
            Code::UnsupportedVersion
        ),
        (1, 11)
    );
    assert_eq!(
        only(
            "huntbook: \"1\"\nname: t\nsteps:\n  - set: {a: 1}\n",
            Code::UnsupportedVersion
        ),
        (1, 11)
    );
}

#[test]
fn missing_version_points_at_the_start() {
    assert_eq!(
        only("name: t\nsteps:\n  - set: {a: 1}\n", Code::MissingField),
        (1, 1)
    );
}

#[test]
fn unknown_keys_get_a_suggestion() {
    let text = steps("  - hunt:\n      qeury: DeviceInfo\n");
    assert_eq!(only(&text, Code::UnknownKey), (5, 7));
    let loaded = load_str(Path::new("t.yaml"), text);
    assert_eq!(
        loaded.diagnostics[0].help.as_deref(),
        Some("did you mean `query`?")
    );
}

#[test]
fn unknown_top_level_keys() {
    assert_eq!(
        only(
            "huntbook: 1\nname: t\nsetps: []\nsteps:\n  - set: {a: 1}\n",
            Code::UnknownKey
        ),
        (3, 1)
    );
}

#[test]
fn wrong_types_say_what_was_found() {
    assert_eq!(
        only(
            &steps("  - set: {a: 1}\n    on_error: [fail]\n"),
            Code::WrongType
        ),
        (5, 15)
    );
    assert_eq!(
        only("huntbook: 1\nname: t\nsteps: {a: 1}\n", Code::WrongType),
        (3, 8)
    );
}

#[test]
fn missing_required_fields() {
    assert_eq!(
        only(
            &steps(
                "  - machine_action:\n      action: isolate\n      machine_id: \"{{ item }}\"\n    for_each: [a]\n"
            ),
            Code::MissingField
        ),
        (4, 5)
    );
}

#[test]
fn a_step_needs_exactly_one_kind() {
    assert_eq!(
        only(&steps("  - id: a\n    name: nothing\n"), Code::MissingKind),
        (4, 5)
    );
    assert_eq!(
        only(
            &steps("  - set: {a: 1}\n    assert: {that: true}\n"),
            Code::MultipleKinds
        ),
        (5, 5)
    );
}

#[test]
fn duplicate_and_malformed_ids() {
    assert_eq!(
        only(
            &steps("  - id: a\n    set: {x: 1}\n  - id: a\n    set: {y: 1}\n"),
            Code::DuplicateId
        ),
        (6, 9)
    );
    assert_eq!(
        only(
            &steps("  - id: my-step\n    set: {x: 1}\n"),
            Code::BadIdentifier
        ),
        (4, 9)
    );
    assert_eq!(
        only(
            &steps("  - id: 1st\n    set: {x: 1}\n"),
            Code::BadIdentifier
        ),
        (4, 9)
    );
}

#[test]
fn duplicate_ids_inside_blocks_count_too() {
    let text =
        steps("  - id: a\n    set: {x: 1}\n  - steps:\n      - id: a\n        set: {y: 1}\n");
    assert_eq!(only(&text, Code::DuplicateId), (7, 13));
}

#[test]
fn bad_names() {
    assert_eq!(
        only(
            "huntbook: 1\nname: Daily Hunt\nsteps:\n  - set: {a: 1}\n",
            Code::BadName
        ),
        (2, 7)
    );
}

#[test]
fn template_errors_point_inside_block_scalars() {
    let text = steps(
        "  - hunt:\n      query: |\n        DeviceInfo\n        | where DeviceName == {{ inputs.x + }}\n",
    );
    let (line, col) = only(&text, Code::BadTemplate);
    assert_eq!(line, 7);
    assert!(col > 30, "column {col} should be inside the template");
}

#[test]
fn expression_errors_point_inside_quoted_scalars() {
    let text = steps("  - set: {a: 1}\n    when: \"steps.x.count >\"\n");
    assert_eq!(only(&text, Code::BadTemplate).0, 5);
}

#[test]
fn jsonpath_errors_carry_the_column_inside_the_path() {
    let text = steps("  - filter:\n      input: \"{{ [] }}\"\n      jsonpath: \"$[?@.a == ]\"\n");
    // `$[?@.a == ]`: the parser stops at byte 7 (`==`); the path starts at column 18.
    assert_eq!(only(&text, Code::BadJsonpath), (6, 25));
}

#[test]
fn jsonpath_cannot_be_templated() {
    let text = steps(
        "  - filter:\n      input: \"{{ [] }}\"\n      jsonpath: \"$[?@.a == '{{ item }}']\"\n",
    );
    assert_eq!(only(&text, Code::BadJsonpath), (6, 29));
}

#[test]
fn bad_durations_point_at_the_bad_unit() {
    // The unit is missing right after `10`.
    assert_eq!(
        only(
            &steps("  - set: {a: 1}\n    timeout: 10 minutes\n"),
            Code::BadDuration
        ),
        (5, 16)
    );
    assert_eq!(
        only(
            &steps("  - set: {a: 1}\n    timeout: 30\n"),
            Code::BadDuration
        ),
        (5, 14)
    );
    assert_eq!(
        only(
            "huntbook: 1\nname: t\ninputs:\n  l: {type: duration, default: 1w}\nsteps:\n  - set: {a: 1}\n",
            Code::BadDuration
        ),
        (4, 33)
    );
}

#[test]
fn enum_values_are_checked_with_suggestions() {
    let ma = |body: &str| {
        steps(&format!(
            "  - machine_action:\n      machine_id: \"{{{{ item }}}}\"\n      comment: c\n{body}    for_each: [a]\n"
        ))
    };
    assert_eq!(only(&ma("      action: isolat\n"), Code::BadEnum), (7, 15));
    assert_eq!(
        only(
            &ma("      action: isolate\n      isolation_type: partial\n"),
            Code::BadEnum
        ),
        (8, 23)
    );
    assert_eq!(
        only(
            &ma("      action: run_av_scan\n      scan_type: deep\n"),
            Code::BadEnum
        ),
        (8, 18)
    );
    assert_eq!(
        only(
            &steps("  - incidents:\n      update: {id: \"1\", status: closed}\n"),
            Code::BadEnum
        ),
        (5, 33)
    );
    assert_eq!(
        only(
            &steps("  - incidents:\n      update: {id: \"1\", classification: benign}\n"),
            Code::BadEnum
        ),
        (5, 41)
    );
    assert_eq!(
        only(
            &steps("  - incidents:\n      update: {id: \"1\", determination: apt2}\n"),
            Code::BadEnum
        ),
        (5, 40)
    );
    assert_eq!(
        only(
            &steps("  - output:\n      data: x\n      format: xml\n"),
            Code::BadEnum
        ),
        (6, 15)
    );
    assert_eq!(
        only(
            &steps("  - authenticate:\n      cloud: china\n"),
            Code::BadEnum
        ),
        (5, 14)
    );
    assert_eq!(
        only(
            &steps("  - authenticate:\n      context: robot\n"),
            Code::BadEnum
        ),
        (5, 16)
    );
    assert_eq!(
        only(
            &steps("  - authenticate:\n      context: user\n      flow: browser\n"),
            Code::BadEnum
        ),
        (6, 13)
    );
}

#[test]
fn enums_accept_graph_and_defender_spellings() {
    let p = valid(&signed_in(
        "  - incidents:\n      update:\n        id: \"1\"\n        status: InProgress\n        classification: truePositive\n        determination: Malware\n",
    ));
    let StepKind::Incidents(i) = &p.steps[1].kind else {
        panic!()
    };
    let IncidentsOp::Update(u) = &i.op else {
        panic!()
    };
    assert!(matches!(
        u.status,
        Some(Templated::Literal(IncidentStatus::InProgress))
    ));
    assert!(matches!(
        u.classification,
        Some(Templated::Literal(Classification::TruePositive))
    ));
}

#[test]
fn literal_secrets_are_errors_and_never_echoed() {
    let text = steps("  - authenticate:\n      client_secret: \"s3cr3t-value\"\n");
    assert_eq!(only(&text, Code::LiteralSecret), (5, 22));
    let loaded = load_str(Path::new("t.yaml"), text);
    let rendered = crate::diag::render_human(&loaded.diagnostics, &loaded.sources, false);
    assert!(!rendered.contains("s3cr3t"), "{rendered}");
    let json = serde_json::to_string(&crate::diag::to_json(
        &loaded.diagnostics[0],
        &loaded.sources,
    ))
    .unwrap_or_default();
    assert!(!json.contains("s3cr3t"), "{json}");
    let debug = format!("{loaded:?}");
    assert!(!debug.contains("s3cr3t"), "{debug}");
}

#[test]
fn secret_templates_and_malformed_references() {
    let text = steps("  - authenticate:\n      client_secret: \"{{ env.S }}\"\n");
    assert_eq!(only(&text, Code::LiteralSecret), (5, 22));
    let text = steps("  - authenticate:\n      client_secret: { env: 1BAD }\n");
    assert_eq!(only(&text, Code::BadSecretRef), (5, 29));
    let text = steps("  - authenticate:\n      client_secret: { vault: x }\n");
    let d = diags(&text);
    assert_eq!(d[0], (Code::BadSecretRef, 5, 22));
    assert_eq!(d[1], (Code::UnknownKey, 5, 24));
}

#[test]
fn secret_references_are_resolved_against_the_playbook_folder() {
    let loaded = load_str(
        Path::new("books/t.yaml"),
        steps("  - authenticate:\n      client_secret: { file: secrets/app.txt }\n"),
    );
    let p = loaded
        .playbook
        .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    let StepKind::Authenticate(a) = &p.steps[0].kind else {
        panic!()
    };
    match &a.credential {
        Credential::ClientSecret(SecretRef::File(path)) => {
            assert_eq!(path, Path::new("books/secrets/app.txt"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn auth_fields_must_fit_the_context() {
    assert_eq!(
        only(
            &steps("  - authenticate:\n      flow: password\n"),
            Code::NotApplicable
        ),
        (5, 7)
    );
    assert_eq!(
        only(
            &steps("  - authenticate:\n      context: user\n      client_secret: { env: S }\n"),
            Code::NotApplicable
        ),
        (6, 7)
    );
    assert_eq!(
        only(
            &steps(
                "  - authenticate:\n      context: user\n      flow: password\n      username: u\n"
            ),
            Code::MissingField
        ),
        (4, 5)
    );
    assert_eq!(
        only(
            &steps(
                "  - authenticate:\n      client_secret: { env: S }\n      certificate: c.pem\n"
            ),
            Code::ConflictingFields
        ),
        (5, 7)
    );
}

#[test]
fn concurrency_needs_for_each() {
    assert_eq!(
        only(
            &steps("  - set: {a: 1}\n    concurrency: 2\n"),
            Code::LoopMisuse
        ),
        (5, 5)
    );
    assert_eq!(
        only(
            &steps("  - output: {data: item}\n    for_each: [1]\n    concurrency: 0\n"),
            Code::BadValue
        ),
        (6, 18)
    );
}

#[test]
fn some_kinds_cannot_loop() {
    assert_eq!(
        only(
            &steps("  - set: {a: 1}\n    for_each: [1, 2]\n"),
            Code::LoopMisuse
        ),
        (5, 5)
    );
    assert_eq!(
        only(
            &steps(&format!("{LOGIN}    for_each: [1]\n")),
            Code::LoopMisuse
        ),
        (6, 5)
    );
    assert_eq!(
        only(
            &steps("  - parallel:\n      - set: {a: 1}\n    for_each: [1]\n"),
            Code::LoopMisuse
        ),
        (6, 5)
    );
}

#[test]
fn defender_hunting_warns_but_validates() {
    let text = signed_in("  - hunt:\n      query: DeviceInfo\n      api: defender\n");
    let d = diags(&text);
    assert_eq!(d, vec![(Code::DeprecatedApi, 7, 12)]);
    let p = valid(&text);
    let StepKind::Hunt(h) = &p.steps[1].kind else {
        panic!()
    };
    assert_eq!(h.api, Api::Defender);
}

#[test]
fn timespan_is_graph_only() {
    let text =
        signed_in("  - hunt:\n      query: DeviceInfo\n      api: defender\n      timespan: 7d\n");
    let d = diags(&text);
    assert!(d.contains(&(Code::NotApplicable, 8, 7)), "{d:?}");
    let p = valid(&signed_in(
        "  - hunt:\n      query: DeviceInfo\n      timespan: P7D\n",
    ));
    let StepKind::Hunt(h) = &p.steps[1].kind else {
        panic!()
    };
    assert!(matches!(h.timespan, Some(Timespan::Iso(_))));
}

#[test]
fn query_and_query_file_exclude_each_other() {
    assert_eq!(
        only(
            &steps("  - hunt:\n      query: DeviceInfo\n      query_file: q.kql\n"),
            Code::ConflictingFields
        ),
        (5, 7)
    );
    assert_eq!(
        only(&steps("  - hunt: {api: graph}\n"), Code::MissingField),
        (4, 5)
    );
}

#[test]
fn missing_included_files_are_reported_at_the_path() {
    assert_eq!(
        only(
            &steps("  - hunt:\n      query_file: no/such.kql\n"),
            Code::MissingFile
        ),
        (5, 19)
    );
}

#[test]
fn included_query_files_are_compiled_and_located() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("q.kql"),
        "DeviceInfo\n| where X == {{ inputs.y +\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("t.yaml");
    let loaded = load_str(&path, steps("  - hunt:\n      query_file: q.kql\n"));
    assert_eq!(loaded.diagnostics.len(), 1, "{:?}", loaded.diagnostics);
    let d = &loaded.diagnostics[0];
    assert_eq!(d.code, Code::BadTemplate);
    let span = d.span.unwrap_or_default();
    let file = loaded.sources.get(span.file).unwrap_or_else(|| panic!());
    assert!(file.path().ends_with("q.kql"));
    assert_eq!(file.line_col(span.start).line, 2);
}

#[test]
fn machine_ids_must_look_like_machine_ids() {
    let text = steps(
        "  - machine_action:\n      action: isolate\n      machine_id: pc-042\n      comment: c\n",
    );
    assert_eq!(only(&text, Code::BadValue), (6, 19));
}

#[test]
fn fields_that_do_not_apply_to_the_action() {
    let text = steps(
        "  - machine_action:\n      action: unisolate\n      machine_id: \"{{ item }}\"\n      comment: c\n      scan_type: full\n    for_each: [a]\n",
    );
    assert_eq!(only(&text, Code::NotApplicable), (8, 7));
}

#[test]
fn requests_are_checked() {
    assert_eq!(
        only(
            &steps("  - request:\n      path: https://graph.microsoft.com/v1.0/me\n"),
            Code::BadValue
        ),
        (5, 13)
    );
    assert_eq!(
        only(
            &steps(
                "  - request:\n      path: /security/incidents\n      headers: {Authorization: x}\n"
            ),
            Code::ForbiddenHeader
        ),
        (6, 17)
    );
    assert_eq!(
        only(
            &steps("  - request:\n      path: /x\n      body: {a: 1}\n"),
            Code::NotApplicable
        ),
        (6, 7)
    );
    assert_eq!(
        only(
            &steps("  - request:\n      path: /x\n      expect: [200, 999]\n"),
            Code::BadValue
        ),
        (6, 21)
    );
}

#[test]
fn response_actions_are_found_anywhere() {
    let p = valid(&signed_in(
        "  - id: g\n    request: {path: /security/incidents}\n  - steps:\n      - request: {method: POST, path: /security/incidents/1/comments, body: {comment: x}}\n      - incidents: {update: {id: \"1\", status: resolved}}\n",
    ));
    let actions = p.response_actions();
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0].route, "steps[2].steps[0]");
}

#[test]
fn permissions_follow_kind_and_api() {
    let p = valid(&signed_in(
        "  - hunt: {query: DeviceInfo}\n  - incidents: {list: {top: 5}}\n  - incidents: {api: defender, update: {id: \"1\", comment: c}}\n  - machine_action: {action: isolate, machine_id: 0123456789abcdef0123456789abcdef01234567, comment: c}\n",
    ));
    let roles = |i: usize| -> Vec<&str> {
        p.steps[i + 1]
            .required_permissions()
            .iter()
            .flat_map(|p| p.application.clone())
            .collect()
    };
    assert_eq!(roles(0), vec!["ThreatHunting.Read.All"]);
    assert_eq!(
        roles(1),
        vec![
            "SecurityIncident.Read.All",
            "SecurityIncident.ReadWrite.All"
        ]
    );
    assert_eq!(roles(2), vec!["Incident.ReadWrite.All"]);
    assert_eq!(roles(3)[0], "Machine.Isolate");
}

#[test]
fn request_permissions_come_from_the_call_table() {
    let p = valid(&signed_in(
        "  - request: {path: /v1.0/security/alerts_v2}\n  - request: {api: endpoint, method: POST, path: \"/api/machines/{{ run.id }}/isolate\", body: {Comment: c}}\n  - request: {api: endpoint, path: /api/indicators}\n  - request: {path: /me}\n",
    ));
    let perms = |i: usize| p.steps[i + 1].required_permissions();
    assert_eq!(
        perms(0)[0].application,
        vec!["SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"]
    );
    assert_eq!(perms(0)[0].call, "GET /v1.0/security/alerts_v2");
    assert_eq!(perms(1)[0].application, vec!["Machine.Isolate"]);
    assert_eq!(perms(2)[0].delegated, vec!["Ti.ReadWrite"]);
    assert!(perms(3).is_empty(), "an undocumented call lists nothing");
}

#[test]
fn inputs_are_typed() {
    let p = valid(
        "huntbook: 1\nname: t\ninputs:\n  l: {type: duration, default: 90m}\n  n: {type: integer, default: 3, enum: [1, 3]}\n  d: {type: datetime, default: 2026-11-01}\n  h: {type: list, default: [a, b]}\nsteps:\n  - set: {a: 1}\n",
    );
    assert_eq!(p.inputs.len(), 4);
    assert_eq!(
        p.input("l").and_then(|i| i.default.clone()),
        Some(InputValue::Duration(std::time::Duration::from_secs(5400)))
    );
    assert_eq!(
        p.input("n").and_then(|i| i.default.clone()),
        Some(InputValue::Integer(3))
    );
}

#[test]
fn input_defaults_must_match_type_and_enum() {
    let base =
        |i: &str| format!("huntbook: 1\nname: t\ninputs:\n  {i}\nsteps:\n  - set: {{a: 1}}\n");
    assert_eq!(
        only(&base("n: {type: integer, default: many}"), Code::WrongType),
        (4, 31)
    );
    assert_eq!(
        only(
            &base("n: {type: integer, default: 2, enum: [1, 3]}"),
            Code::BadEnum
        ),
        (4, 31)
    );
    assert_eq!(
        only(
            &base("d: {type: datetime, default: yesterday}"),
            Code::BadDatetime
        ),
        (4, 32)
    );
    assert_eq!(only(&base("n: {type: float}"), Code::BadEnum), (4, 13));
    assert_eq!(only(&base("n: {default: 1}"), Code::MissingField), (4, 3));
    assert_eq!(
        only(&base("my-input: {type: string}"), Code::BadIdentifier),
        (4, 3)
    );
    assert_eq!(
        only(
            &base("n: {type: string, required: true, default: x}"),
            Code::ConflictingFields
        ),
        (4, 37)
    );
}

#[test]
fn output_formats_must_fit_the_content() {
    assert_eq!(
        only(
            &steps("  - output:\n      template: hi\n      format: csv\n"),
            Code::ConflictingFields
        ),
        (6, 15)
    );
    assert_eq!(
        only(
            &steps("  - output:\n      data: x\n      path: out.json\n      append: true\n"),
            Code::NotApplicable
        ),
        (7, 7)
    );
    assert_eq!(
        only(
            &steps("  - output:\n      data: x\n      columns: [a]\n"),
            Code::NotApplicable
        ),
        (6, 7)
    );
    let p = valid(&steps(
        "  - output:\n      data: x\n      path: \"out-{{ run.id }}.csv\"\n",
    ));
    let StepKind::Output(o) = &p.steps[0].kind else {
        panic!()
    };
    assert_eq!(o.format, OutputFormat::Csv);
}

#[test]
fn empty_step_lists() {
    assert_eq!(
        only("huntbook: 1\nname: t\nsteps: []\n", Code::EmptySteps),
        (3, 8)
    );
    assert_eq!(only(&steps("  - steps: []\n"), Code::EmptySteps), (4, 12));
}

#[test]
fn defaults_apply_to_steps_without_their_own() {
    let p = valid(
        "huntbook: 1\nname: t\ndefaults: {timeout: 2m, on_error: continue}\nsteps:\n  - set: {a: 1}\n  - set: {b: 1}\n    on_error: fail\n",
    );
    assert_eq!(
        p.steps[0].timeout,
        Some(std::time::Duration::from_secs(120))
    );
    assert_eq!(p.steps[0].on_error, OnError::Continue);
    assert_eq!(p.steps[1].on_error, OnError::Fail);
}

#[test]
fn empty_files_and_non_mappings() {
    assert_eq!(only("# nothing here\n", Code::EmptyFile), (1, 1));
    assert_eq!(only("", Code::EmptyFile), (1, 1));
    assert_eq!(only("- a\n- b\n", Code::WrongType), (1, 1));
}

#[test]
fn every_problem_is_collected() {
    let text = steps(
        "  - hunt:\n      qeury: x\n  - filter:\n      input: x\n      jsonpath: \"$[\"\n  - machine_action:\n      action: nuke\n",
    );
    let codes: Vec<Code> = diags(&text).into_iter().map(|d| d.0).collect();
    assert!(codes.contains(&Code::UnknownKey), "{codes:?}");
    assert!(codes.contains(&Code::BadJsonpath), "{codes:?}");
    assert!(codes.contains(&Code::BadEnum), "{codes:?}");
    assert!(codes.contains(&Code::MissingField), "{codes:?}");
}

#[test]
fn references_to_later_and_unknown_steps() {
    let text = steps(
        "  - output: {data: \"{{ steps.later.items }}\"}\n  - id: later\n    filter: {input: \"{{ [] }}\", jsonpath: $}\n",
    );
    // The span covers `steps.later`.
    assert_eq!(only(&text, Code::LaterStep), (4, 24));
    let text = steps("  - id: a\n    set: {x: 1}\n  - output: {data: \"{{ steps.b }}\"}\n");
    assert_eq!(only(&text, Code::UnknownStep), (6, 24));
    let text = steps("  - id: me\n    output: {data: \"{{ steps.me.path }}\"}\n");
    assert_eq!(only(&text, Code::LaterStep), (5, 24));
}

#[test]
fn references_to_unknown_outputs() {
    let text = steps(
        "  - id: hunt\n    hunt: {query: DeviceInfo}\n  - output: {data: \"{{ steps.hunt.reslts }}\"}\n",
    );
    assert_eq!(only(&text, Code::UnknownOutput), (6, 24));
    // `set` has no outputs of its own, but every step has `outcome`.
    let text = steps(
        "  - id: s\n    set: {x: 1}\n  - output: {data: \"{{ steps.s.outcome }} {{ steps.s.x }}\"}\n",
    );
    assert_eq!(only(&text, Code::UnknownOutput), (6, 46));
}

#[test]
fn references_to_inputs_and_vars() {
    let text = steps("  - output: {data: \"{{ inputs.nope }}\"}\n");
    assert_eq!(only(&text, Code::UnknownInput), (4, 24));
    let text = steps("  - output: {data: \"{{ vars.nope }}\"}\n");
    assert_eq!(only(&text, Code::UndefinedVar), (4, 24));
    let text = steps("  - output: {data: \"{{ vars.x }}\"}\n  - set: {x: 1}\n");
    assert_eq!(only(&text, Code::UndefinedVar), (4, 24));
    valid(&steps(
        "  - set: {x: 1}\n  - output: {data: \"{{ vars.x }}\"}\n",
    ));
}

#[test]
fn item_and_loop_only_under_for_each() {
    let text = steps("  - output: {data: \"{{ item }}\"}\n");
    assert_eq!(only(&text, Code::LoopVarOutsideLoop), (4, 24));
    valid(&steps(
        "  - output: {data: \"{{ item }} {{ loop.index }}\"}\n    for_each: [1, 2]\n",
    ));
    // Inside a looping block, inner steps see the block's `item`.
    valid(&steps(
        "  - for_each: [1, 2]\n    steps:\n      - output: {data: \"{{ item }}\"}\n",
    ));
    let text = steps("  - for_each: \"{{ item }}\"\n    output: {data: x}\n");
    assert_eq!(only(&text, Code::LoopVarOutsideLoop), (4, 19));
}

#[test]
fn blocks_and_parallel_groups_scope_their_steps() {
    let text = steps(
        "  - id: blk\n    for_each: [1]\n    steps:\n      - id: inner\n        set: {x: 1}\n      - output: {data: \"{{ steps.inner.outcome }}\"}\n  - output: {data: \"{{ steps.inner.outcome }}\"}\n",
    );
    assert_eq!(only(&text, Code::UnknownStep), (10, 24));
    let text = steps(
        "  - parallel:\n      - id: a\n        set: {x: 1}\n      - output: {data: \"{{ steps.a.outcome }}\"}\n  - output: {data: \"{{ steps.a.outcome }} {{ vars.x }}\"}\n",
    );
    assert_eq!(only(&text, Code::LaterStep), (7, 28));
}

#[test]
fn unknown_names_and_run_fields() {
    let text = steps("  - output: {data: \"{{ input.x }}\"}\n");
    assert_eq!(only(&text, Code::UnknownName), (4, 24));
    let text = steps("  - output: {data: \"{{ run.started }}\"}\n");
    assert_eq!(only(&text, Code::UnknownName), (4, 24));
}

#[test]
fn secret_looking_environment_reads_warn() {
    let text = steps("  - output: {data: \"{{ env.DB_PASSWORD }}\"}\n");
    assert_eq!(only(&text, Code::SecretInTemplate), (4, 24));
    valid(&text);
}

#[test]
fn raw_in_a_query_warns() {
    let text = signed_in(
        "  - hunt:\n      query: \"DeviceInfo | where {{ inputs.f | raw }}\"\ninputs:\n  f: {type: string, default: x}\n",
    );
    let d = diags(&text);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].0, Code::RawInQuery);
    assert_eq!(d[0].1, 6);
}

#[test]
fn literal_references_in_text_fields_warn() {
    let text = signed_in(
        "  - id: h\n    hunt: {query: DeviceInfo}\n  - output: {data: steps.h.results}\n",
    );
    assert_eq!(only(&text, Code::Suspicious), (7, 20));
}

/// Broken input of every shape gets diagnostics, never a panic: the examples, mutated at
/// random (deterministically) by deleting, inserting and duplicating text.
#[test]
fn mutated_playbooks_never_panic() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    assert!(!files.is_empty());
    let pieces = [
        "{", "}", "[", "]", ":", "- ", "\n", " ", "'", "\"", "|", "*a", "&a ", "\t", "é", "{{",
        "}}", "{%", "#", "\\", "$[?", "<<: ", "!!str ", "---\n", "\u{feff}", "\r\n",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n.max(1) as u64) as usize
    };
    for path in files {
        let original = std::fs::read_to_string(&path).unwrap_or_default();
        for _ in 0..150 {
            let mut text = original.clone();
            for _ in 0..1 + next(3) {
                let at = crate::source::floor_char_boundary(&text, next(text.len() + 1));
                match next(3) {
                    0 => {
                        let end = crate::source::floor_char_boundary(&text, at + next(40));
                        text.replace_range(at..end.max(at), "");
                    }
                    1 => text.insert_str(at, pieces[next(pieces.len())]),
                    _ => {
                        let end = crate::source::floor_char_boundary(&text, at + next(80));
                        let copy = text[at..end.max(at)].to_string();
                        text.insert_str(at, &copy);
                    }
                }
            }
            let loaded = load_str(Path::new("m.yaml"), text.clone());
            // Rendering must not panic either, and every error must have a position.
            let _ = crate::diag::render_human(&loaded.diagnostics, &loaded.sources, false);
            for d in &loaded.diagnostics {
                assert!(d.span.is_some(), "{d:?} in\n{text}");
            }
        }
    }
}
