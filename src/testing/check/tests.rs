//! Unit tests of test-file validation: every rule, with its position.

use super::*;
use crate::diag::to_json;
use crate::testing::spec::{ActionExpect, ActionKind, Fault, Fixture};

const PLAYBOOK: &str = r#"huntbook: 1
name: demo
inputs:
  lookback: { type: duration, default: 1d }
  device: { type: string, required: true }
  level: { type: string, default: low, enum: [low, high] }
  ids: { type: list, default: [] }
steps:
  - id: login
    authenticate:
      client_secret: { env: AZURE_CLIENT_SECRET }
  - id: hunt
    hunt:
      query: DeviceInfo | take 1
  - id: noisy
    filter:
      input: "{{ steps.hunt.results }}"
      jsonpath: "$[*]"
  - id: report
    output:
      path: out.json
      format: json
      data: "{{ steps.noisy.items }}"
"#;

/// Load `test` as `demo.test.yaml` beside the demo playbook (and any `extra` files).
fn load_with(test: &str, extra: &[(&str, &str)]) -> (LoadedTest, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("demo.yaml"), PLAYBOOK).unwrap();
    for (name, text) in extra {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let path = dir.path().join("demo.test.yaml");
    std::fs::write(&path, test).unwrap();
    (load(&path), dir)
}

fn load_test(test: &str) -> LoadedTest {
    load_with(test, &[]).0
}

/// `(code, line, column, message)` of every diagnostic.
fn problems(l: &LoadedTest) -> Vec<(&'static str, usize, usize, String)> {
    l.diagnostics
        .iter()
        .map(|d| {
            let j = to_json(d, &l.sources);
            (
                j.code,
                j.line.unwrap_or(0),
                j.column.unwrap_or(0),
                j.message,
            )
        })
        .collect()
}

fn only(l: &LoadedTest) -> (&'static str, usize, usize, String) {
    let p = problems(l);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(l.test.is_none());
    p.into_iter().next().unwrap()
}

#[test]
fn a_complete_file_becomes_the_model() {
    let l = load_test(
        r#"# yaml-language-server: $schema=../schemas/playbook-test.schema.json
defaults:
  inputs: { device: ws-001 }
  env: { EXTRA: "1" }
  tenant: { seed: 7, action_step: 100ms }
cases:
  - name: finds it
    inputs: { lookback: 2d, ids: [a, b] }
    tenant: { app: huntbook-readonly }
    allow_actions: true
    timeout: 5s
    steps:
      hunt: { results: [ { DeviceName: pc1, N: 2 } ] }
      login: { fault: throttle }
    expect:
      exit: 3
      steps: { hunt: ok, report: { status: ok, count: 1, error: { exists: false } } }
      outputs:
        - { path: "steps.noisy.items[0].DeviceName", equals: pc1 }
        - { jsonpath: "$.steps.noisy.count", equals: 1 }
      files:
        - { path: "*.json", jsonpath: "$[0].N", equals: 2 }
        - { path: out.json, matches: 'pc\d' }
      stdout: { exists: false }
      error: { contains: nope }
      actions: { isolated: [ws-003, ws-003.CORP.contoso.example], incidents_updated: [7], writes: 2 }
  - name: skipped one
    skip: not today
"#,
    );
    assert!(l.diagnostics.is_empty(), "{:#?}", problems(&l));
    let t = l.test.expect("valid");
    assert_eq!(t.playbook.name, "demo");
    assert_eq!(t.cases.len(), 2);
    let c = &t.cases[0];
    assert_eq!(c.name, "finds it");
    let mut inputs = c.inputs.clone();
    inputs.sort();
    assert_eq!(
        inputs,
        vec!["device=ws-001", "ids=[\"a\",\"b\"]", "lookback=2d"]
    );
    assert_eq!(c.env.get("EXTRA").map(String::as_str), Some("1"));
    assert_eq!(c.tenant.seed, 7);
    assert_eq!(c.tenant.action_step, Duration::from_millis(100));
    assert_eq!(c.tenant.app.as_deref(), Some("huntbook-readonly"));
    assert_eq!(c.tenant.limits, "relaxed");
    assert!(c.allow_actions);
    assert_eq!(c.timeout, Duration::from_secs(5));
    assert_eq!(c.fixtures["login"], Fixture::Fault(Fault::Throttle));
    assert!(
        matches!(&c.fixtures["hunt"], Fixture::Results { rows, schema: None } if rows.len() == 1)
    );
    assert_eq!(c.expect.exit.0, 3);
    assert_eq!(c.expect.steps.len(), 2);
    assert_eq!(c.expect.steps[1].count.map(|c| c.0), Some(1));
    assert_eq!(c.expect.outputs.len(), 2);
    assert_eq!(c.expect.files.len(), 2);
    assert!(c.expect.stdout.is_some() && c.expect.error.is_some());
    // The same machine twice counts once; `writes` is its own expectation.
    assert_eq!(c.expect.actions.len(), 3);
    match &c.expect.actions[0] {
        ActionExpect::Targets { kind, targets, .. } => {
            assert_eq!(*kind, ActionKind::Isolated);
            // Spelt differently, so both are kept; they resolve to one machine when checked.
            assert_eq!(targets.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    let s = &t.cases[1];
    assert_eq!(s.skip.as_deref(), Some("not today"));
    // Defaults apply to every case; `exit` defaults to 0 at the case's name.
    assert_eq!(s.tenant.seed, 7);
    assert_eq!(s.expect.exit.0, 0);
    assert_eq!(s.expect.exit.1, s.span);
    assert_eq!(s.timeout, DEFAULT_TIMEOUT);
}

#[test]
fn unknown_keys_are_located_with_a_suggestion() {
    let l = load_test("cases:\n  - name: a\n    inputs: { device: x }\n    expcet: { exit: 0 }\n");
    let (code, line, col, msg) = only(&l);
    assert_eq!((code, line, col), ("unknown-key", 4, 5));
    assert_eq!(msg, "unknown key `expcet` in a case");
    assert_eq!(
        l.diagnostics[0].help.as_deref(),
        Some("did you mean `expect`?")
    );
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x }\n    expect:\n      outputs:\n        - { path: steps.hunt.count, equal: 1 }\n",
    );
    let p = problems(&l);
    assert_eq!(p[0].0, "unknown-key");
    assert_eq!((p[0].1, p[0].2), (6, 37));
    assert_eq!(
        l.diagnostics[0].help.as_deref(),
        Some("did you mean `equals`?")
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    let l = load_test("cases: { name: a }\n");
    let (code, line, col, msg) = only(&l);
    assert_eq!((code, line, col), ("wrong-type", 1, 8));
    assert_eq!(msg, "expected a list for `cases`, found a mapping");
    let l =
        load_test("cases:\n  - name: a\n    inputs: { device: x }\n    expect: { exit: one }\n");
    let (code, _, col, msg) = only(&l);
    assert_eq!((code, col), ("wrong-type", 21));
    assert!(msg.starts_with("expected an integer for `exit`"), "{msg}");
    let l =
        load_test("cases:\n  - name: a\n    inputs: { device: x }\n    expect: { exit: 256 }\n");
    assert_eq!(only(&l).0, "bad-value");
    let l = load_test("cases:\n  - name: a\n    inputs: { device: x }\n    allow_actions: yes\n");
    assert_eq!(only(&l).0, "wrong-type");
}

#[test]
fn step_ids_the_playbook_lacks_are_refused_everywhere() {
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x }\n    steps:\n      hnut: { results: [] }\n    expect:\n      steps: { reprt: ok }\n      outputs:\n        - { path: steps.noisey.count, equals: 1 }\n",
    );
    let p = problems(&l);
    let got: Vec<(&str, usize)> = p.iter().map(|x| (x.0, x.1)).collect();
    assert_eq!(
        got,
        vec![
            ("unknown-step", 5),
            ("unknown-step", 7),
            ("unknown-step", 9)
        ]
    );
    let helps: Vec<Option<&str>> = l.diagnostics.iter().map(|d| d.help.as_deref()).collect();
    assert_eq!(
        helps,
        vec![
            Some("did you mean `hunt`?"),
            Some("did you mean `report`?"),
            Some("did you mean `noisy`?"),
        ]
    );
    assert_eq!(p[0].3, "the playbook `demo` has no step with id `hnut`");
}

#[test]
fn inputs_must_be_declared_typed_and_complete() {
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x, lookbak: 1d, level: medium }\n  - name: b\n    inputs: { device: x, lookback: soon }\n  - name: c\n",
    );
    let p = problems(&l);
    let codes: Vec<(&str, usize)> = p.iter().map(|x| (x.0, x.1)).collect();
    assert_eq!(
        codes,
        vec![
            ("unknown-input", 3),
            ("bad-value", 3),
            ("bad-value", 5),
            ("missing-field", 6)
        ]
    );
    assert_eq!(
        l.diagnostics[0].help.as_deref(),
        Some("did you mean `lookback`?")
    );
    assert!(p[1].3.contains("must be `low` or `high`"), "{}", p[1].3);
    assert!(
        p[2].3
            .starts_with("bad value for input `lookback` (duration)"),
        "{}",
        p[2].3
    );
    assert_eq!(
        p[3].3,
        "case `c` does not set the input `device`, which the playbook requires"
    );
    // A string input does not take a YAML number (as a playbook default would not).
    let l = load_test("cases:\n  - name: a\n    inputs: { device: 5 }\n");
    assert_eq!(only(&l).0, "bad-value");
}

#[test]
fn bad_jsonpaths_and_regexes_point_inside_the_value() {
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x }\n    expect:\n      outputs:\n        - { jsonpath: \"$.steps[?@.x ==]\", exists: true }\n",
    );
    let (code, line, col, msg) = only(&l);
    assert_eq!((code, line), ("bad-jsonpath", 6));
    // The column of the problem inside the expression, not of the value's start (22).
    assert_eq!(col, 37);
    assert_eq!(msg, "invalid JSONPath `$.steps[?@.x ==]`");
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x }\n    expect:\n      stdout: { matches: 'a(b' }\n",
    );
    let (code, line, col, msg) = only(&l);
    assert_eq!((code, line, col), ("bad-value", 5, 26));
    assert_eq!(msg, "`a(b` is not a valid regular expression");
}

#[test]
fn a_missing_playbook_is_reported_where_it_is_named() {
    let l = load_test("playbook: nope.yaml\ncases:\n  - name: a\n");
    let (code, line, col, msg) = only(&l);
    assert_eq!((code, line, col), ("missing-file", 1, 11));
    assert!(msg.contains("nope.yaml` does not exist"), "{msg}");
    // No `playbook:` and no NAME.yaml beside NAME.test.yaml.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lonely.test.yaml");
    std::fs::write(&path, "cases:\n  - name: a\n").unwrap();
    let l = load(&path);
    let (code, line, _, msg) = only(&l);
    assert_eq!((code, line), ("missing-file", 1));
    assert!(msg.contains("lonely.yaml` does not exist"), "{msg}");
    assert!(
        l.diagnostics[0]
            .help
            .as_deref()
            .unwrap_or("")
            .contains("playbook:")
    );
}

#[test]
fn an_invalid_playbook_makes_the_test_file_invalid() {
    let (l, _dir) = load_with(
        "playbook: broken.yaml\ncases:\n  - name: a\n",
        &[("broken.yaml", "huntbook: 1\nname: b\nsteps:\n  - hnt: {}\n")],
    );
    assert!(l.test.is_none());
    let pb = l.playbook.as_ref().expect("the playbook's own problems");
    assert!(pb.diagnostics.iter().any(|d| d.is_error()));
}

#[test]
fn fixtures_need_one_kind_that_fits_the_step() {
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x }\n    steps:\n      hunt: { results: [], fault: throttle }\n      noisy: { fault: throttle }\n      login: { response: {} }\n      report: {}\n",
    );
    let p = problems(&l);
    let got: Vec<(&str, usize)> = p.iter().map(|x| (x.0, x.1)).collect();
    assert_eq!(
        got,
        vec![
            ("conflicting-fields", 5),
            ("not-applicable", 6),
            ("not-applicable", 7),
            ("not-applicable", 8),
        ]
    );
    assert!(p[1].3.contains("is a `filter` step"), "{}", p[1].3);
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x }\n    steps:\n      hunt: { fault: throtle }\n",
    );
    let (code, _, _, msg) = only(&l);
    assert_eq!(
        (code, msg.as_str()),
        ("bad-enum", "unknown fault `throtle`")
    );
    assert_eq!(
        l.diagnostics[0].help.as_deref(),
        Some("did you mean `throttle`?")
    );
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x }\n    steps:\n      hunt: { results: [], status: 500 }\n",
    );
    assert_eq!(only(&l).0, "not-applicable");
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x }\n    steps:\n      hunt: { response: { error: {} }, status: 403 }\n",
    );
    assert!(l.diagnostics.is_empty(), "{:?}", problems(&l));
    let c = &l.test.unwrap().cases[0];
    assert!(matches!(
        c.fixtures["hunt"],
        Fixture::Response { status: 403, .. }
    ));
}

#[test]
fn inline_tenant_data_errors_point_into_the_test_file() {
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x }\n    tenant:\n      data:\n        devices:\n          - name: pc1.corp.contoso.example\n            riskScore: Severe\n",
    );
    let p = problems(&l);
    assert!(!p.is_empty());
    assert!(l.test.is_none());
    let hit = p
        .iter()
        .find(|x| x.3.contains("Severe"))
        .unwrap_or_else(|| panic!("{p:#?}"));
    assert_eq!((hit.1, hit.2), (8, 24), "{p:#?}");
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x }\n    tenant:\n      data:\n        devcies: []\n",
    );
    let (code, line, _, _) = only(&l);
    assert_eq!((code, line), ("unknown-key", 6));
    assert_eq!(
        l.diagnostics[0].help.as_deref(),
        Some("did you mean `devices`?")
    );
}

#[test]
fn tenant_data_files_are_read_relative_to_the_test_file() {
    let (l, _d) = load_with(
        "cases:\n  - name: a\n    inputs: { device: x }\n    tenant: { data: tenant.yaml }\n",
        &[(
            "tenant.yaml",
            "devices:\n  - name: pc9.corp.contoso.example\n",
        )],
    );
    assert!(l.diagnostics.is_empty(), "{:?}", problems(&l));
    let t = l.test.unwrap();
    let data = t.cases[0].tenant.data.as_ref().expect("data");
    assert_eq!(data.devices.as_ref().map(Vec::len), Some(1));
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x }\n    tenant: { data: nope.yaml }\n",
    );
    assert_eq!(only(&l).0, "missing-file");
}

#[test]
fn case_names_are_unique() {
    let l =
        load_test("defaults: { inputs: { device: x } }\ncases:\n  - name: same\n  - name: same\n");
    let (code, line, _, msg) = only(&l);
    assert_eq!((code, line), ("duplicate-id", 4));
    assert_eq!(msg, "two cases are named `same`");
}

#[test]
fn expectations_must_check_something_sensible() {
    let l = load_test(
        "defaults: { inputs: { device: x } }\ncases:\n  - name: a\n    expect:\n      outputs:\n        - { path: steps.hunt.count }\n        - { path: hunt.count, equals: 1 }\n        - { path: steps.hunt.count, jsonpath: $.x, equals: 1 }\n      files:\n        - { path: out.json, equals: 3 }\n        - { path: ../etc/passwd }\n      stdout: { exists: false, contains: x }\n      steps: { hunt: done }\n",
    );
    let p = problems(&l);
    let got: Vec<(&str, usize)> = p.iter().map(|x| (x.0, x.1)).collect();
    assert_eq!(
        got,
        vec![
            ("missing-field", 6),
            ("bad-value", 7),
            ("conflicting-fields", 8),
            ("wrong-type", 10),
            ("bad-value", 11),
            ("conflicting-fields", 12),
            ("bad-enum", 13),
        ],
        "{p:#?}"
    );
}

#[test]
fn broken_yaml_and_empty_files_are_diagnosed() {
    let l = load_test("cases: [\n");
    assert_eq!(only(&l).0, "yaml-syntax");
    let l = load_test("# nothing\n");
    assert_eq!(only(&l).0, "empty-file");
    let l = load_test("cases: []\n");
    assert_eq!(only(&l).0, "bad-value");
    let l = load_test("cases:\n  - inputs: {}\n");
    assert_eq!(only(&l).0, "missing-field");
}

#[test]
fn output_paths_split_into_keys_and_indices() {
    assert_eq!(
        parse_path("steps.hunt.results[0][2].DeviceName"),
        Some(vec![
            PathSeg::Key("steps".into()),
            PathSeg::Key("hunt".into()),
            PathSeg::Key("results".into()),
            PathSeg::Index(0),
            PathSeg::Index(2),
            PathSeg::Key("DeviceName".into()),
        ])
    );
    for bad in [
        "",
        "steps..x",
        "steps.x[",
        "steps.x[a]",
        "steps.x[0]y",
        "1x",
    ] {
        assert_eq!(parse_path(bad), None, "{bad}");
    }
}

#[test]
fn the_default_playbook_sits_beside_the_test_file() {
    assert_eq!(
        default_playbook(Path::new("p/x.test.yaml")),
        Some(PathBuf::from("p/x.yaml"))
    );
    assert_eq!(default_playbook(Path::new("p/x.yaml")), None);
}

#[test]
fn inline_tenant_data_type_errors_are_located_too() {
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x }\n    tenant:\n      data:\n        devices:\n          - name: pc1\n            riskScore: [1]\n",
    );
    let (code, line, col, _) = only(&l);
    assert_eq!((code, line, col), ("bad-value", 8, 24));
    let l = load_test(
        "cases:\n  - name: a\n    inputs: { device: x }\n    tenant: { data: { devices: { x: 1 } } }\n",
    );
    let (code, line, col, _) = only(&l);
    assert_eq!((code, line, col), ("bad-value", 4, 32));
}
