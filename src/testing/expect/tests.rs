//! Unit tests of expectation checking.

use super::*;
use crate::engine::report::{ErrorReport, Tally};
use crate::engine::{CallStats, ErrorKind};
use crate::source::FileId;
use crate::testing::spec::{Check, Expect, OutputExpect, StepExpect, Tenant};
use serde_json::json;

fn sp(n: usize) -> Span {
    Span::new(FileId(0), n, n + 1)
}

fn case(expect: Expect) -> Case {
    Case {
        name: "c".into(),
        span: sp(0),
        skip: None,
        inputs: Vec::new(),
        env: Default::default(),
        tenant: Tenant::default(),
        allow_actions: false,
        fixtures: Default::default(),
        expect,
        timeout: std::time::Duration::from_secs(5),
    }
}

fn expect() -> Expect {
    Expect {
        exit: (0, sp(0)),
        steps: Vec::new(),
        outputs: Vec::new(),
        files: Vec::new(),
        stdout: None,
        error: None,
        actions: Vec::new(),
    }
}

fn step_report(id: &str, status: Status, count: Option<u64>) -> StepReport {
    StepReport {
        id: Some(id.into()),
        name: None,
        kind: "hunt",
        route: "steps[0]".into(),
        location: None,
        status,
        reason: None,
        started_at: None,
        duration_ms: 0,
        count,
        truncated: None,
        written: None,
        would_send: Vec::new(),
        api: CallStats::default(),
        error: None,
        continued: false,
        iterations: Vec::new(),
        steps: Vec::new(),
    }
}

fn report(steps: Vec<StepReport>, error: Option<&str>) -> RunReport {
    let mut r = RunReport {
        huntbook: "0",
        playbook: "p".into(),
        file: "p.yaml".into(),
        run_id: "r".into(),
        started_at: chrono::Utc::now(),
        finished_at: chrono::Utc::now(),
        duration_ms: 0,
        outcome: "",
        exit_code: 0,
        dry_run: false,
        inputs: serde_json::Map::new(),
        tally: Tally::default(),
        api: CallStats::default(),
        error: error.map(|m| ErrorReport {
            kind: ErrorKind::Api,
            message: m.into(),
            help: None,
            status: Some(429),
            location: None,
            step: Some("hunt".into()),
            label: "step `hunt`".into(),
            span: None,
        }),
        interrupted: None,
        state: None,
        steps,
    };
    r.finish();
    r
}

fn matchers(checks: Vec<CheckKind>) -> Matchers {
    Matchers {
        span: sp(1),
        checks: checks
            .into_iter()
            .enumerate()
            .map(|(i, kind)| Check {
                span: sp(10 + i),
                kind,
            })
            .collect(),
    }
}

fn no_machines(_: &str) -> Option<(String, String)> {
    None
}

fn run(c: &Case, seen: &Observed) -> Vec<Failure> {
    evaluate(c, seen, Path::new("/nonexistent"), &no_machines)
}

#[test]
fn a_wrong_exit_code_says_why_the_run_stopped() {
    let mut x = expect();
    x.exit = (0, sp(3));
    let seen = Observed {
        exit: 1,
        report: Some(report(
            vec![step_report("hunt", Status::Failed, None)],
            Some(
                "POST /v1.0/security/runHuntingQuery: HTTP 429 TooManyRequests: Too many requests.",
            ),
        )),
        ..Observed::default()
    };
    let f = run(&case(x), &seen);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].expected.as_str(), f[0].actual.as_str()), ("0", "1"));
    assert_eq!(f[0].span, sp(3));
    assert!(
        f[0].notes[0].contains("the run stopped at step `hunt`: POST"),
        "{:?}",
        f[0].notes
    );
    assert_eq!(f[0].notes[1], "steps: hunt failed");
}

#[test]
fn step_statuses_counts_and_errors() {
    let mut x = expect();
    x.steps = vec![
        StepExpect {
            id: "hunt".into(),
            span: sp(1),
            status: Some((Status::Ok, sp(2))),
            count: Some((3, sp(3))),
            error: None,
        },
        StepExpect {
            id: "report".into(),
            span: sp(4),
            status: Some((Status::Skipped, sp(5))),
            count: None,
            error: None,
        },
        StepExpect {
            id: "never".into(),
            span: sp(6),
            status: Some((Status::Skipped, sp(7))),
            count: None,
            error: Some(matchers(vec![CheckKind::Exists(false)])),
        },
    ];
    let mut skipped = step_report("report", Status::Skipped, None);
    skipped.reason = Some("`when` was false".into());
    let seen = Observed {
        report: Some(report(
            vec![step_report("hunt", Status::Ok, Some(2)), skipped],
            None,
        )),
        ..Observed::default()
    };
    let f = run(&case(x.clone()), &seen);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].what, "step `hunt` count");
    assert_eq!((f[0].expected.as_str(), f[0].actual.as_str()), ("3", "2"));
    // Statuses of iterations and blocks combine: one failed iteration fails the step.
    let mut block = step_report("per_user", Status::Failed, None);
    block.iterations = vec![
        crate::engine::report::IterationReport {
            index: 0,
            name: None,
            status: Status::Ok,
            duration_ms: 0,
            count: None,
            api: CallStats::default(),
            error: None,
            steps: vec![step_report("signins", Status::Ok, Some(1))],
        },
        crate::engine::report::IterationReport {
            index: 1,
            name: None,
            status: Status::Failed,
            duration_ms: 0,
            count: None,
            api: CallStats::default(),
            error: None,
            steps: vec![step_report("signins", Status::Failed, Some(4))],
        },
    ];
    let mut x = expect();
    x.steps = vec![StepExpect {
        id: "signins".into(),
        span: sp(1),
        status: Some((Status::Ok, sp(2))),
        count: Some((5, sp(3))),
        error: None,
    }];
    let f = run(
        &case(x),
        &Observed {
            report: Some(report(vec![block], None)),
            ..Observed::default()
        },
    );
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].actual, "failed");
}

fn output(path: &str, checks: Vec<CheckKind>) -> OutputExpect {
    let segs = crate::testing::check::parse_path(path).unwrap();
    OutputExpect {
        span: sp(1),
        selector: Selector::Path(segs, path.into()),
        matchers: matchers(checks),
    }
}

#[test]
fn outputs_by_path_and_jsonpath() {
    let doc = json!({
        "steps": {
            "noisy": { "count": 3, "items": [ {"DeviceName": "ws-007", "N": 2.0}, {"DeviceName": "ws-003"} ] }
        },
        "vars": { "ips": ["1.2.3.4"] }
    });
    let mut x = expect();
    x.outputs = vec![
        output("steps.noisy.count", vec![CheckKind::Equals(json!(3.0))]),
        output("steps.noisy.items[0].N", vec![CheckKind::Equals(json!(2))]),
        output(
            "steps.noisy.items",
            vec![
                CheckKind::Length(2),
                CheckKind::Contains(json!({"DeviceName": "ws-003"})),
            ],
        ),
        output("vars.ips", vec![CheckKind::Contains(json!("1.2.3.4"))]),
        output(
            "steps.noisy.items[0].DeviceName",
            vec![CheckKind::Matches(regex::Regex::new(r"^ws-\d+$").unwrap())],
        ),
        output("steps.noisy.missing", vec![CheckKind::Exists(false)]),
        OutputExpect {
            span: sp(2),
            selector: Selector::JsonPath(
                crate::jsonpath::JsonPath::compile("$.steps.noisy.items[*].DeviceName").unwrap(),
            ),
            matchers: matchers(vec![CheckKind::Equals(json!(["ws-007", "ws-003"]))]),
        },
        OutputExpect {
            span: sp(2),
            selector: Selector::JsonPath(
                crate::jsonpath::JsonPath::compile("$.steps.noisy.items[?@.N > 1].DeviceName")
                    .unwrap(),
            ),
            matchers: matchers(vec![CheckKind::Equals(json!("ws-007"))]),
        },
    ];
    let seen = Observed {
        outputs: Ok(doc.clone()),
        ..Observed::default()
    };
    let f = run(&case(x), &seen);
    assert!(f.is_empty(), "{f:#?}");
    // And the failures read well.
    let mut x = expect();
    x.outputs = vec![
        output("steps.noisy.count", vec![CheckKind::Equals(json!(4))]),
        output("steps.noisy.nope", vec![CheckKind::Equals(json!(1))]),
        output("steps.noisy.items", vec![CheckKind::Length(1)]),
    ];
    let f = run(
        &case(x),
        &Observed {
            outputs: Ok(doc),
            ..Observed::default()
        },
    );
    let got: Vec<(String, String, String)> = f
        .iter()
        .map(|f| (f.what.clone(), f.expected.clone(), f.actual.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "output `steps.noisy.count`: `equals`".into(),
                "4".into(),
                "3".into()
            ),
            (
                "output `steps.noisy.nope`: `equals`".into(),
                "1".into(),
                "nothing (no such value)".into()
            ),
            (
                "output `steps.noisy.items`: `length`".into(),
                "length 1".into(),
                "length 2".into()
            ),
        ]
    );
}

#[test]
fn outputs_of_a_run_that_did_not_start_are_not_available() {
    let mut x = expect();
    x.outputs = vec![output(
        "steps.hunt.count",
        vec![CheckKind::Equals(json!(1))],
    )];
    let refused = Observed {
        exit: 2,
        refused: Some("bad inputs: `n` must be an integer".into()),
        ..Observed::default()
    };
    let mut c = case(x.clone());
    c.expect.exit.0 = 2;
    let f = run(&c, &refused);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].actual, "none: the run did not start");
    assert_eq!(
        f[0].notes,
        vec!["why it did not start: bad inputs: `n` must be an integer"]
    );
    assert_eq!(f[0].what, "output `steps.hunt.count`");
    // Several output expectations make one failure: they fail for one reason.
    x.outputs
        .push(output("vars.x", vec![CheckKind::Exists(true)]));
    x.outputs
        .push(output("vars.y", vec![CheckKind::Exists(true)]));
    let f = run(&case(x), &Observed::default());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].what, "outputs (`steps.hunt.count` and 2 more)");
}

#[test]
fn files_by_glob_with_text_json_jsonl_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("reports")).unwrap();
    std::fs::write(
        d.join("reports/encoded-20261125.md"),
        "# Encoded PowerShell — 3 launches\n\n- ws-007\n",
    )
    .unwrap();
    std::fs::write(d.join("out.json"), r#"[{"DeviceId": "abc", "N": 1}]"#).unwrap();
    std::fs::write(d.join("feed.jsonl"), "{\"id\": 1}\n{\"id\": 2}\n").unwrap();
    std::fs::write(d.join("rows.csv"), "DeviceName,N\nws-1,3\n").unwrap();
    let file = |glob: &str, jp: Option<&str>, checks: Vec<CheckKind>| FileExpect {
        span: sp(1),
        glob: glob.into(),
        jsonpath: jp.map(|p| crate::jsonpath::JsonPath::compile(p).unwrap()),
        matchers: matchers(checks),
    };
    let mut x = expect();
    x.files = vec![
        file(
            "reports/*.md",
            None,
            vec![CheckKind::Matches(
                regex::Regex::new(r"Encoded PowerShell — \d+ launches").unwrap(),
            )],
        ),
        file("**/*.md", None, vec![CheckKind::Contains(json!("ws-007"))]),
        file(
            "out.json",
            Some("$[0].DeviceId"),
            vec![CheckKind::Exists(true), CheckKind::Equals(json!("abc"))],
        ),
        file(
            "feed.jsonl",
            Some("$[*].id"),
            vec![CheckKind::Equals(json!([1, 2]))],
        ),
        file(
            "rows.csv",
            Some("$[0].N"),
            vec![CheckKind::Equals(json!("3"))],
        ),
        file("nothing-*.txt", None, vec![CheckKind::Exists(false)]),
        file("out.json", None, vec![]),
    ];
    let f = evaluate(&case(x), &Observed::default(), d, &no_machines);
    assert!(f.is_empty(), "{f:#?}");
    let mut x = expect();
    x.files = vec![
        file("reports/*.txt", None, vec![]),
        file("out.json", None, vec![CheckKind::Equals(json!("[]"))]),
        file(
            "reports/*.md",
            None,
            vec![CheckKind::Equals(json!(
                "# Encoded PowerShell — 2 launches\n\n- ws-007\n"
            ))],
        ),
        file("out.json", None, vec![CheckKind::Exists(false)]),
    ];
    let f = evaluate(&case(x), &Observed::default(), d, &no_machines);
    assert_eq!(f.len(), 4, "{f:#?}");
    assert_eq!(f[0].actual, "no file matches");
    assert!(
        f[0].notes[0].starts_with("files written: feed.jsonl, out.json"),
        "{:?}",
        f[0].notes
    );
    assert_eq!(f[2].what, "file `reports/encoded-20261125.md`: `equals`");
    assert_eq!(
        f[2].notes[0],
        "diff (- expected, + actual):\n- # Encoded PowerShell — 2 launches\n+ # Encoded PowerShell — 3 launches\n  \n  - ws-007"
    );
    assert_eq!(f[3].expected, "no such file");
}

#[test]
fn stdout_and_the_run_error() {
    let mut x = expect();
    x.exit = (1, sp(0));
    x.stdout = Some(matchers(vec![CheckKind::Contains(json!("matched"))]));
    x.error = Some(matchers(vec![CheckKind::Matches(
        regex::Regex::new("HTTP 429").unwrap(),
    )]));
    let seen = Observed {
        exit: 1,
        stdout: "3 device(s) matched\n".into(),
        report: Some(report(
            Vec::new(),
            Some("POST /x: HTTP 429 TooManyRequests: slow down"),
        )),
        ..Observed::default()
    };
    assert!(run(&case(x.clone()), &seen).is_empty());
    let f = run(
        &case(x),
        &Observed {
            exit: 1,
            ..Observed::default()
        },
    );
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].actual, "nothing (no such value)");
}

fn entry(method: &str, path: &str, status: u16) -> JournalEntry {
    JournalEntry {
        time: "t".into(),
        method: method.into(),
        path: path.into(),
        body: Value::Null,
        principal: None,
        status,
    }
}

fn machines(t: &str) -> Option<(String, String)> {
    let all = [
        ("aaa", "ws-003.corp.contoso.example"),
        ("bbb", "ws-005.corp.contoso.example"),
    ];
    all.iter()
        .find(|(id, name)| {
            id.eq_ignore_ascii_case(t)
                || name.eq_ignore_ascii_case(t)
                || name.split('.').next() == Some(t)
        })
        .map(|(id, name)| ((*id).to_string(), (*name).to_string()))
}

#[test]
fn actions_compare_accepted_requests_as_sets() {
    let journal = vec![
        entry("POST", "/api/machines/aaa/isolate", 201),
        entry(
            "POST",
            "/api/machines/ws-005.corp.contoso.example/isolate",
            400,
        ),
        entry("POST", "/api/v1.0/machines/bbb/runAntiVirusScan", 201),
        entry("PATCH", "/v1.0/security/incidents/7", 200),
        entry("POST", "/api/incidents/8/comments", 404),
        entry("PATCH", "/api/incidents/9", 200),
    ];
    let targets = |kind, names: &[&str]| ActionExpect::Targets {
        kind,
        span: sp(1),
        targets: names.iter().map(|n| ((*n).to_string(), sp(2))).collect(),
    };
    let mut x = expect();
    x.actions = vec![
        targets(ActionKind::Isolated, &["ws-003"]),
        targets(ActionKind::Unisolated, &[]),
        targets(ActionKind::Scanned, &["ws-005.corp.contoso.example"]),
        targets(ActionKind::IncidentsUpdated, &["7", "9"]),
        ActionExpect::Writes {
            count: 6,
            span: sp(3),
        },
    ];
    let seen = Observed {
        journal: journal.clone(),
        ..Observed::default()
    };
    let f = evaluate(&case(x), &seen, Path::new("/x"), &machines);
    assert!(f.is_empty(), "{f:#?}");
    let mut x = expect();
    x.actions = vec![
        targets(ActionKind::Isolated, &["ws-005"]),
        targets(ActionKind::Isolated, &["ws-404"]),
        ActionExpect::Writes {
            count: 0,
            span: sp(3),
        },
    ];
    let f = evaluate(
        &case(x),
        &Observed {
            journal,
            ..Observed::default()
        },
        Path::new("/x"),
        &machines,
    );
    assert_eq!(f.len(), 4, "{f:#?}");
    assert_eq!(f[0].expected, "ws-005.corp.contoso.example");
    assert_eq!(f[0].actual, "ws-003.corp.contoso.example");
    assert_eq!(
        f[0].notes,
        vec![
            "missing: ws-005.corp.contoso.example".to_string(),
            "unexpected: ws-003.corp.contoso.example".to_string(),
            "refused by the emulator: POST /api/machines/ws-005.corp.contoso.example/isolate → 400"
                .to_string(),
        ]
    );
    assert_eq!(f[1].actual, "no machine has that name or id");
    assert_eq!(f[3].what, "write requests received");
}

#[test]
fn numbers_compare_by_value() {
    assert!(json_eq(&json!(3), &json!(3.0)));
    assert!(json_eq(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
    assert!(!json_eq(&json!("3"), &json!(3)));
    assert!(!json_eq(&json!([1]), &json!([1, 1])));
}

#[test]
fn globs_match_within_and_across_folders() {
    assert!(glob_match("reports/*.md", "reports/a.md"));
    assert!(!glob_match("reports/*.md", "reports/sub/a.md"));
    assert!(glob_match("reports/**/*.md", "reports/sub/a.md"));
    assert!(glob_match("reports/**/*.md", "reports/a.md"));
    assert!(glob_match("**", "a/b/c"));
    assert!(glob_match("./out.json", "out.json"));
    assert!(glob_match("out-??.json", "out-12.json"));
    assert!(!glob_match("out-??.json", "out-1.json"));
}

#[test]
fn diffs_show_changed_lines_and_shorten_long_runs() {
    assert_eq!(line_diff("a\nb\nc", "a\nB\nc"), "  a\n- b\n+ B\n  c");
    let same: String = (0..20).map(|i| format!("l{i}\n")).collect();
    let d = line_diff(&format!("{same}x"), &format!("{same}y"));
    assert!(
        d.starts_with("  … (18 unchanged lines)\n  l18\n  l19\n- x\n+ y"),
        "{d}"
    );
}
