//! What `huntbook run` does before and without the network: exit codes 0/2/3, stdout carrying
//! only data, the report file, JSON logs, the response-action guard and the state lock.

use crate::common::Case;

#[test]
fn a_passing_run_prints_only_its_data_on_stdout_and_exits_0() {
    let r = Case::new()
        .fixture("offline.yaml")
        .args(&["run", "offline.yaml", "--report", "report.json"])
        .run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    let data: serde_json::Value =
        serde_json::from_str(&r.stdout).expect("stdout is the JSON data only");
    assert_eq!(
        data,
        serde_json::json!(["ws-01", "=hyperlink(\"http://x\")"])
    );
    assert_eq!(
        r.file("out/offline.csv"),
        "value\nws-01\n\"'=hyperlink(\"\"http://x\"\")\"\n",
        "the formula cell is neutralised"
    );
    let report = r.report("report.json");
    assert_eq!(report["outcome"], "success");
    assert_eq!(report["exit_code"], 0);
    assert_eq!(report["tally"]["ok"], 5);
    assert_eq!(report["steps"][3]["written"]["path"], "out/offline.csv");
    assert!(r.stderr.contains("offline: success"), "{}", r.stderr);
    assert_eq!(report["state"]["saved"], true);
}

#[test]
fn a_false_assert_exits_3_and_still_writes_the_report() {
    let r = Case::new()
        .fixture("offline.yaml")
        .args(&[
            "run",
            "offline.yaml",
            "--input",
            "max=1",
            "--report",
            "r.json",
        ])
        .run();
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("error[assert]: step `check` failed: 2 hosts is more than 1"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--> offline.yaml:31:11"), "{}", r.stderr);
    let report = r.report("r.json");
    assert_eq!(report["outcome"], "assert_failed");
    assert_eq!(report["error"]["location"]["line"], 31);
    assert_eq!(report["state"]["saved"], false);
}

#[test]
fn bad_inputs_exit_2_before_anything_runs() {
    let r = Case::new()
        .fixture("offline.yaml")
        .args(&[
            "run",
            "offline.yaml",
            "--input",
            "hots=a",
            "--input",
            "max=many",
            "--report",
            "r.json",
        ])
        .run();
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("the playbook has no input `hots`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("did you mean `hosts`?"), "{}", r.stderr);
    assert!(
        r.stderr.contains("expected an integer, got `many`"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty());
    assert!(
        !r.dir.join("r.json").exists(),
        "nothing ran, so there is no report"
    );
    assert!(!r.dir.join("out").exists());
}

#[test]
fn a_required_input_must_be_given() {
    let r = Case::new()
        .file(
            "p.yaml",
            "huntbook: 1\nname: p\ninputs:\n  sha256: { type: string, required: true }\nsteps:\n  - set: { x: \"{{ inputs.sha256 }}\" }\n",
        )
        .args(&["run", "p.yaml"])
        .run();
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("input `sha256` is required"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--input sha256="), "{}", r.stderr);
}

#[test]
fn an_invalid_playbook_gets_the_validate_diagnostics_and_exit_2() {
    let r = Case::new()
        .file(
            "bad.yaml",
            "huntbook: 1\nname: bad\nsteps:\n  - hunt:\n      qeury: DeviceInfo\n",
        )
        .args(&["run", "bad.yaml"])
        .run();
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("error[unknown-key]"), "{}", r.stderr);
    assert!(r.stderr.contains("did you mean `query`?"), "{}", r.stderr);
}

#[test]
fn an_api_step_without_a_sign_in_before_it_is_refused() {
    let r = Case::new()
        .file(
            "p.yaml",
            "huntbook: 1\nname: p\nsteps:\n  - id: h\n    hunt:\n      query: DeviceInfo\n",
        )
        .args(&["run", "p.yaml"])
        .run();
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("step `h` calls an API, but no `authenticate` step runs before it"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("--> p.yaml:5:5"), "{}", r.stderr);
}

#[test]
fn response_actions_are_refused_without_allow_actions() {
    let r = Case::new()
        .file(
            "p.yaml",
            "huntbook: 1\nname: p\nsteps:\n  - authenticate:\n      client_secret: { env: S }\n  - id: iso\n    machine_action:\n      action: isolate\n      machine_id: \"{{ 'x' }}\"\n      comment: test\n",
        )
        .args(&["run", "p.yaml"])
        .run();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("performs response actions and `--allow-actions` was not given; nothing ran"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("step `iso`: machine action `isolate` at p.yaml:7"),
        "{}",
        r.stderr
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let r = Case::new()
        .fixture("offline.yaml")
        .args(&[
            "run",
            "offline.yaml",
            "--log-format",
            "json",
            "--input",
            "max=1",
        ])
        .run();
    assert_eq!(r.code, 3);
    let events: Vec<serde_json::Value> = r
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(names.first(), Some(&"run_start"));
    assert!(names.contains(&"step_end"));
    assert!(names.contains(&"run_end"));
    let error = events
        .iter()
        .find(|e| e["event"] == "run_error")
        .expect("run_error event");
    assert_eq!(error["error_kind"], "assert");
    assert_eq!(error["step"], "check", "the step's id, as in `step_start`");
    assert_eq!(error["location"]["line"], 31);
    for e in &events {
        assert!(
            e["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{e}"
        );
        assert!(e["level"].is_string(), "{e}");
    }
}

#[test]
fn json_logs_of_a_run_that_cannot_start_carry_a_timestamp_and_a_level() {
    let r = Case::new()
        .fixture("offline.yaml")
        .args(&[
            "run",
            "offline.yaml",
            "--log-format",
            "json",
            "--input",
            "hots=a",
        ])
        .run();
    assert_eq!(r.code, 2, "{}", r.stderr);
    let events: Vec<serde_json::Value> = r
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(names, ["diagnostic", "invalid_input"], "{}", r.stderr);
    for e in &events {
        assert!(
            e["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{e}"
        );
        assert_eq!(e["level"], "ERROR", "{e}");
    }
}

#[test]
fn a_second_run_of_the_same_playbook_exits_1_already_running() {
    let case =
        Case::new()
            .fixture("offline.yaml")
            .args(&["run", "offline.yaml", "--state-dir", "state"]);
    let _held = huntbook::state::StateStore::open(&case.path().join("state"), "offline")
        .expect("the test holds the lock");
    let r = case.run();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("is already running"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "no step ran");
}

#[test]
fn state_last_success_is_a_datetime_on_the_next_run() {
    let case = Case::new()
        .file(
            "p.yaml",
            "huntbook: 1\nname: p\nsteps:\n  - output:\n      format: text\n      template: \"{{ state.last_success is defined }} {{ (state.last_success | default(now())) <= now() }}\\n\"\n",
        )
        .args(&["run", "p.yaml", "-q"]);
    let first = case.run();
    assert_eq!(
        (first.code, first.stdout.as_str()),
        (0, "false true\n"),
        "{}",
        first.stderr
    );
    let second = case.run();
    assert_eq!(
        (second.code, second.stdout.as_str()),
        (0, "true true\n"),
        "{}",
        second.stderr
    );
}

#[test]
fn templates_read_the_run_environment() {
    let r = Case::new()
        .file(
            "p.yaml",
            "huntbook: 1\nname: p\nsteps:\n  - output:\n      format: text\n      template: \"team={{ env.HUNTBOOK_TEST_TEAM }}\\n\"\n",
        )
        .env("HUNTBOOK_TEST_TEAM", "blue")
        .args(&["run", "p.yaml", "-q"])
        .run();
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (0, "team=blue\n"),
        "{}",
        r.stderr
    );
}

/// A scheduler or SIEM reading the report finds the failing step by its id, not by a phrase.
#[test]
fn the_report_names_the_step_that_stopped_the_run_by_its_id() {
    let r = Case::new()
        .file(
            "p.yaml",
            "huntbook: 1\nname: p\nsteps:\n  - id: gate\n    assert:\n      that: [\"1 == 2\"]\n      message: no\n",
        )
        .args(&["run", "p.yaml", "--report", "r.json", "-q"])
        .run();
    assert_eq!(r.code, 3, "{}", r.stderr);
    let report = r.report("r.json");
    assert_eq!(report["error"]["step"], "gate");
    assert_eq!(report["error"]["kind"], "assert");
    assert!(r.stderr.contains("step `gate` failed"), "{}", r.stderr);
}

#[test]
fn an_output_template_that_is_one_expression_keeps_its_trailing_newline() {
    // `{{ x }}\n` in `output.template` is a document, not a typed single expression: the
    // newline is printed (a block scalar ends in one too).
    let r = Case::new()
        .file(
            "count.yaml",
            "huntbook: 1\nname: count\nsteps:\n  - set: { n: 3 }\n  \
             - output:\n      template: \"{{ vars.n }}\\n\"\n  - output:\n      template: |\n        \
             {{ vars.n * 2 }}\n  - output:\n      template: \"{{ [1, 2] }}\\n\"\n",
        )
        .args(&["run", "count.yaml"])
        .run();
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "3\n6\n[1, 2]\n");
}
