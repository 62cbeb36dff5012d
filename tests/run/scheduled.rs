//! Response actions and scheduled runs through the real binary against the emulator (issue 5):
//! a non-GET `request` guarded, rehearsed and sent; `wait` through a failed action; isolating
//! twice; runs sharing a `--state-dir` (`state.last_success`, `filter.dedupe`, a failed run in
//! between); a corrupt state file; a second run while one is in flight; SIGKILL mid-run; and
//! the `--report` of a run stopped before its first step.

use std::io::BufRead as _;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use huntbook::emulator::api::machines::{ActionOutcome, ActionType};

use crate::common::{Case, Emu};

const SIGN_IN: &str = "  - authenticate:\n      client_secret: { env: AZURE_CLIENT_SECRET }\n";

/// Generous: these runs share two cores with other builds.
const PATIENCE: Duration = Duration::from_secs(90);

/// An onboarded Windows machine that reports (actions on it end as planned, not `TimeOut`).
fn healthy_machines(emu: &Emu) -> Vec<String> {
    emu.handle
        .state
        .world
        .devices
        .iter()
        .filter(|d| d.health_status == "Active" && d.os_platform.starts_with("Windows"))
        .filter(|d| d.machine_tags.iter().all(|t| !t.starts_with("emulator:")))
        .map(|d| d.id.clone())
        .collect()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn step<'r>(report: &'r serde_json::Value, id: &str) -> &'r serde_json::Value {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {report:#}"))
}

fn datetime(v: &serde_json::Value) -> DateTime<Utc> {
    let text = v
        .as_str()
        .or_else(|| v["$datetime"].as_str())
        .unwrap_or_else(|| panic!("not a datetime: {v}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}

fn state_last_success(dir: &Path, name: &str) -> DateTime<Utc> {
    let text = std::fs::read_to_string(dir.join(format!("state/{name}.json"))).expect("state");
    let state: serde_json::Value = serde_json::from_str(&text).expect("state is JSON");
    datetime(&state["last_success"])
}

/// Files whose name says they are a huntbook temporary, anywhere under `dir`.
fn temporaries(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.to_string_lossy().contains("huntbook-tmp") {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------------------
// A non-GET `request` is a response action.

const MARK_ALERT: &str = "huntbook: 1\nname: mark-alert\nsteps:\n  - authenticate:\n      client_secret: { env: AZURE_CLIENT_SECRET }\n  - id: alerts\n    request:\n      path: /security/alerts_v2\n  - id: mark\n    request:\n      method: PATCH\n      path: \"/security/alerts_v2/{{ steps.alerts.body.value[0].id }}\"\n      body: { status: inProgress, assignedTo: huntbook@contoso.example }\n  - output:\n      format: json\n      data: \"{{ [steps.mark.status, steps.mark.outcome] }}\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_request_is_refused_then_rehearsed_then_sent() {
    let emu = Emu::with_quick_actions().await;
    let case = Case::new()
        .file("p.yaml", MARK_ALERT)
        .against(&emu, "huntbook-demo");

    // Without --allow-actions: refused before any step, exit 2, nothing reaches the emulator.
    let refused = case.with_args(&["run", "p.yaml"]).run_async().await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(
            "step `mark`: PATCH /security/alerts_v2/{{ steps.alerts.body.value[0].id }} at p.yaml:10"
        ),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("nothing ran"), "{}", refused.stderr);
    assert!(refused.stdout.is_empty(), "{}", refused.stdout);
    assert!(emu.handle.state.tenant.journal().is_empty());

    // --dry-run: the GET runs (the alert id is real), the PATCH is shown, not sent.
    let dry = case
        .with_args(&["run", "p.yaml", "--dry-run", "--report", "dry.json"])
        .run_async()
        .await;
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(emu.writes().is_empty(), "{:?}", emu.writes());
    let line = dry
        .stderr
        .lines()
        .find(|l| l.starts_with("dry run: step `mark` would send PATCH http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("the write is shown: {}", dry.stderr));
    assert!(
        line.contains("/v1.0/security/alerts_v2/")
            && line.contains(r#"{"status":"inProgress","assignedTo":"huntbook@contoso.example"}"#),
        "{line}"
    );
    let report = dry.report("dry.json");
    let planned = &step(&report, "mark")["would_send"][0];
    assert_eq!(planned["method"], "PATCH", "{report:#}");
    assert_eq!(planned["body"]["status"], "inProgress", "{report:#}");
    // Nothing was sent, so there is no status and nothing changed.
    assert_eq!(json(&dry.stdout), serde_json::json!([null, "ok"]));

    // --allow-actions: sent once, and the emulator applied it.
    let real = case
        .with_args(&["run", "p.yaml", "--allow-actions", "--report", "r.json"])
        .run_async()
        .await;
    assert_eq!(real.code, 0, "{}", real.stderr);
    assert_eq!(json(&real.stdout), serde_json::json!([200, "ok"]));
    let sent: Vec<_> = emu
        .handle
        .state
        .tenant
        .journal()
        .into_iter()
        .filter(|e| e.method != "GET")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].method, "PATCH");
    assert!(
        sent[0].path.starts_with("/v1.0/security/alerts_v2/"),
        "{sent:?}"
    );
    assert_eq!(
        sent[0].body,
        serde_json::json!({"status": "inProgress", "assignedTo": "huntbook@contoso.example"})
    );
    assert_eq!(sent[0].status, 200);
    let report = real.report("r.json");
    assert_eq!(step(&report, "mark")["status"], "changed", "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_trips_max_targets_as_the_real_run_would() {
    let emu = Emu::with_quick_actions().await;
    let machines = healthy_machines(&emu);
    let list = machines[..3]
        .iter()
        .map(|m| format!("\"{m}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let r = Case::new()
        .file(
            "p.yaml",
            &format!(
                "huntbook: 1\nname: p\nmax_targets: 2\nsteps:\n{SIGN_IN}  - id: scan\n    for_each: [{list}]\n    machine_action:\n      action: run_av_scan\n      machine_id: \"{{{{ item }}}}\"\n      comment: sweep\n"
            ),
        )
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "--dry-run", "--report", "r.json"])
        .run_async()
        .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("over the playbook's `max_targets` of 2"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.matches("would send POST").count(),
        2,
        "the two within the limit are shown: {}",
        r.stderr
    );
    assert!(emu.writes().is_empty(), "{:?}", emu.writes());
    assert_eq!(r.report("r.json")["steps"][1]["status"], "failed");
}

// ---------------------------------------------------------------------------------------
// Machine actions: a failed action, and idempotency.

fn contain(action: &str, machine: &str) -> String {
    format!(
        "huntbook: 1\nname: contain\nsteps:\n{SIGN_IN}  - id: act\n    machine_action:\n      action: {action}\n      machine_id: \"{machine}\"\n      comment: contained by huntbook\n      wait: true\n      wait_timeout: 5m\n  - output:\n      format: text\n      template: \"{{{{ steps.act.changed }}}} {{{{ steps.act.action.status }}}}\\n\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_action_that_ends_failed_fails_the_step_and_the_next_run_tries_again() {
    let emu = Emu::with_quick_actions().await;
    let machine = healthy_machines(&emu)[0].clone();
    emu.handle.state.tenant.plan_action_outcome(
        &machine,
        Some(ActionType::Isolate),
        ActionOutcome::Failed,
    );
    let case = Case::new()
        .file("p.yaml", &contain("isolate", &machine))
        .against(&emu, "huntbook-demo")
        .args(&[
            "run",
            "p.yaml",
            "--allow-actions",
            "--report",
            "r.json",
            "--state-dir",
            "state",
        ]);
    let r = case.run_async().await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("error[api]: step `act` failed: machine action Isolate"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("on machine {machine} ended `Failed`")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Action center"), "{}", r.stderr);
    assert!(
        r.stdout.is_empty(),
        "the step after it did not run: {}",
        r.stdout
    );
    let report = r.report("r.json");
    assert_eq!(report["outcome"], "failure");
    assert_eq!(report["exit_code"], 1);
    let act = step(&report, "act");
    assert_eq!(act["status"], "failed", "{report:#}");
    assert_eq!(act["error"]["kind"], "api");
    assert!(
        act["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with("ended `Failed`"),
        "{act:#}"
    );
    assert_eq!(report["state"]["saved"], false);
    assert!(!r.dir.join("state/contain.json").exists());
    // It was sent, and polled to its end (the emulator moved it through Pending and
    // InProgress: the GETs in between are not journaled).
    assert_eq!(
        emu.writes(),
        vec![format!("POST /api/machines/{machine}/isolate")]
    );

    // A failed isolation is not taken for an isolated machine: the next run isolates again.
    emu.handle.state.tenant.plan_action_outcome(
        &machine,
        Some(ActionType::Isolate),
        ActionOutcome::Succeeded,
    );
    let again = case.run_async().await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout, "true Succeeded\n");
    assert_eq!(emu.writes().len(), 2, "{:?}", emu.writes());
    assert!(
        emu.handle
            .state
            .tenant
            .machine_state(&machine)
            .unwrap()
            .isolated
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_that_times_out_fails_naming_timeout() {
    let emu = Emu::with_quick_actions().await;
    let machine = healthy_machines(&emu)[1].clone();
    emu.handle.state.tenant.plan_action_outcome(
        &machine,
        Some(ActionType::RunAntiVirusScan),
        ActionOutcome::TimeOut,
    );
    let r = Case::new()
        .file("p.yaml", &contain("run_av_scan", &machine))
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "--allow-actions", "--report", "r.json"])
        .run_async()
        .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("ended `TimeOut`"), "{}", r.stderr);
    let report = r.report("r.json");
    assert_eq!(step(&report, "act")["status"], "failed", "{report:#}");
    assert_eq!(
        emu.writes(),
        vec![format!("POST /api/machines/{machine}/runAntiVirusScan")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_cancelled_while_waited_for_fails_naming_cancelled() {
    // Slow actions, so the cancellation lands while the first run is still waiting.
    let emu = Emu::start(|c| c.action_step = Duration::from_secs(30)).await;
    let machine = healthy_machines(&emu)[4].clone();
    let waiting = Case::new()
        .file("p.yaml", &contain("isolate", &machine))
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "--allow-actions", "--report", "r.json"]);
    let waiting = tokio::spawn(async move { waiting.run_async().await });

    let deadline = std::time::Instant::now() + PATIENCE;
    let action = loop {
        if let Some(a) = emu.handle.state.tenant.machine_actions().first() {
            break a.id.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the isolation never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Someone cancels it meanwhile, here with another playbook's non-GET request.
    let cancel = Case::new()
        .file(
            "cancel.yaml",
            &format!(
                "huntbook: 1\nname: cancel\nsteps:\n{SIGN_IN}  - request:\n      method: POST\n      api: endpoint\n      path: /api/machineactions/{action}/cancel\n      body: {{ Comment: wrong machine }}\n"
            ),
        )
        .against(&emu, "huntbook-demo")
        .args(&["run", "cancel.yaml", "--allow-actions"])
        .run_async()
        .await;
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);

    let r = waiting.await.unwrap();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("ended `Cancelled`"), "{}", r.stderr);
    let report = r.report("r.json");
    assert_eq!(step(&report, "act")["status"], "failed", "{report:#}");
    assert_eq!(
        emu.writes(),
        vec![
            format!("POST /api/machines/{machine}/isolate"),
            format!("POST /api/machineactions/{action}/cancel"),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolating_an_isolated_machine_sends_nothing_and_reports_unchanged() {
    let emu = Emu::with_quick_actions().await;
    let machine = healthy_machines(&emu)[2].clone();
    let case = Case::new()
        .file("p.yaml", &contain("isolate", &machine))
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "--allow-actions", "--report", "r.json"]);

    let first = case.run_async().await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    // `wait: true` followed it through Pending and InProgress to its end.
    assert_eq!(first.stdout, "true Succeeded\n");
    let report = first.report("r.json");
    assert_eq!(step(&report, "act")["status"], "changed", "{report:#}");
    assert_eq!(report["tally"]["changed"], 1);

    let second = case.run_async().await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.stdout, "false Succeeded\n");
    let report = second.report("r.json");
    assert_eq!(step(&report, "act")["status"], "ok", "{report:#}");
    assert_eq!(report["tally"]["changed"], 0);

    assert_eq!(
        emu.writes(),
        vec![format!("POST /api/machines/{machine}/isolate")],
        "exactly one isolation reached the emulator"
    );
    let state = emu.handle.state.tenant.machine_state(&machine).unwrap();
    assert!(state.isolated, "{state:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_machine_action_kind_reaches_the_emulator() {
    let emu = Emu::with_quick_actions().await;
    let machine = healthy_machines(&emu)[3].clone();
    let kinds = [
        "isolate",
        "unisolate",
        "run_av_scan",
        "collect_investigation_package",
        "restrict_code_execution",
        "unrestrict_code_execution",
    ];
    let mut playbook = format!("huntbook: 1\nname: kinds\nsteps:\n{SIGN_IN}");
    for k in kinds {
        playbook.push_str(&format!(
            "  - id: {k}\n    machine_action:\n      action: {k}\n      machine_id: \"{machine}\"\n      comment: every kind\n      wait: true\n"
        ));
    }
    let r = Case::new()
        .file("p.yaml", &playbook)
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "--allow-actions", "--report", "r.json"])
        .run_async()
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let paths: Vec<String> = [
        "isolate",
        "unisolate",
        "runAntiVirusScan",
        "collectInvestigationPackage",
        "restrictCodeExecution",
        "unrestrictCodeExecution",
    ]
    .iter()
    .map(|p| format!("POST /api/machines/{machine}/{p}"))
    .collect();
    assert_eq!(emu.writes(), paths);
    let report = r.report("r.json");
    assert_eq!(report["tally"]["changed"], 6, "{report:#}");
    let state = emu.handle.state.tenant.machine_state(&machine).unwrap();
    assert!(
        !state.isolated && !state.code_execution_restricted,
        "{state:?}"
    );
    assert_eq!(state.investigation_packages_collected, 1, "{state:?}");
    assert!(state.last_antivirus_scan.is_some(), "{state:?}");
}

// ---------------------------------------------------------------------------------------
// Scheduled runs sharing a state folder.

/// A scheduled hunt: the window starts at `state.last_success` (the `print` makes the
/// emulator evaluate the very literal the hunt uses), with an overlap that returns the same
/// rows every run, and `filter.dedupe` passing each device once. `fail=true` fails the run
/// after the filter.
const SCHEDULED: &str = r#"huntbook: 1
name: sched
inputs:
  lookback: { type: duration, default: 7d }
  fail: { type: boolean, default: false }
steps:
  - authenticate:
      client_secret: { env: AZURE_CLIENT_SECRET }
  - id: window
    hunt:
      query: "print Since = {{ state.last_success | default(ago(inputs.lookback)) }}"
  - id: hunt
    hunt:
      query: |
        DeviceInfo
        | where Timestamp > {{ state.last_success | default(ago(inputs.lookback)) }} - 30d
        | distinct DeviceName
        | order by DeviceName asc
        | take 3
  - id: new
    filter:
      input: "{{ steps.hunt.results }}"
      dedupe:
        key: "{{ item.DeviceName }}"
        window: 2d
  - output:
      path: out/feed.jsonl
      format: jsonl
      append: true
      data: "{{ steps.new.items }}"
  - id: broken
    when: inputs.fail
    request: { path: /security/incidents/999999999 }
  - output:
      format: json
      data: "{{ [steps.window.results[0].Since, steps.hunt.count, steps.new.count] }}"
"#;

fn since_and_counts(stdout: &str) -> (DateTime<Utc>, u64, u64) {
    let v: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{stdout}: {e}"));
    (
        datetime(&v[0]),
        v[1].as_u64().expect("hunt count"),
        v[2].as_u64().expect("new count"),
    )
}

fn close(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).num_microseconds().is_some_and(|us| us.abs() < 1000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_runs_continue_from_the_last_success_and_never_repeat_a_row() {
    let emu = Emu::with_quick_actions().await;
    let case = Case::new()
        .file("sched.yaml", SCHEDULED)
        .against(&emu, "huntbook-demo")
        .args(&["run", "sched.yaml", "--state-dir", "state", "-q"]);
    let feed = |dir: &Path| -> Vec<String> {
        std::fs::read_to_string(dir.join("out/feed.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };

    // First run: no state, the lookback applies; every row is new.
    let first = case.run_async().await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let (since, rows, new) = since_and_counts(&first.stdout);
    assert_eq!((rows, new), (3, 3), "{}", first.stdout);
    let last1 = state_last_success(&first.dir, "sched");
    assert!(
        since < last1 - chrono::Duration::days(6),
        "the first window is the lookback: {since} vs {last1}"
    );
    let lines = feed(&first.dir);
    assert_eq!(lines.len(), 3, "{lines:?}");

    // Second run: the query starts at the first run's start; the same rows come back (the
    // overlap) and dedupe drops every one of them.
    let second = case.run_async().await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    let (since, rows, new) = since_and_counts(&second.stdout);
    assert!(
        close(since, last1),
        "the window starts at {since}, not {last1}"
    );
    assert_eq!((rows, new), (3, 0), "{}", second.stdout);
    assert_eq!(feed(&second.dir), lines, "no row is output twice");
    let last2 = state_last_success(&second.dir, "sched");
    assert!(last2 > last1);
    let saved = std::fs::read(second.dir.join("state/sched.json")).unwrap();

    // A failed run: exit 1, and the state is exactly as the second run left it.
    let failed = case
        .with_args(&["--input", "fail=true", "--report", "failed.json"])
        .run_async()
        .await;
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("step `broken` failed"),
        "{}",
        failed.stderr
    );
    assert_eq!(
        std::fs::read(failed.dir.join("state/sched.json")).unwrap(),
        saved,
        "a failed run does not touch the state"
    );
    assert_eq!(failed.report("failed.json")["state"]["saved"], false);

    // The next run starts where the last *successful* run started, not the failed one.
    let third = case.run_async().await;
    assert_eq!(third.code, 0, "{}", third.stderr);
    let (since, _, new) = since_and_counts(&third.stdout);
    assert!(
        close(since, last2),
        "the window starts at {since}, not {last2}"
    );
    assert_eq!(new, 0);
    assert_eq!(feed(&third.dir), lines);
    assert!(
        temporaries(&third.dir).is_empty(),
        "{:?}",
        temporaries(&third.dir)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_of_a_scheduled_playbook_dedupes_like_a_real_run_but_writes_nothing() {
    let emu = Emu::with_quick_actions().await;
    let case = Case::new()
        .file("sched.yaml", SCHEDULED)
        .against(&emu, "huntbook-demo")
        .args(&["run", "sched.yaml", "--state-dir", "state", "-q"]);
    let dry = case.with_args(&["--dry-run"]);

    let rehearsal = dry.run_async().await;
    assert_eq!(rehearsal.code, 0, "{}", rehearsal.stderr);
    let (_, rows, new) = since_and_counts(&rehearsal.stdout);
    assert_eq!((rows, new), (3, 3), "stdout outputs still print");
    assert!(
        !rehearsal.dir.join("out/feed.jsonl").exists(),
        "no output file"
    );
    assert!(!rehearsal.dir.join("state/sched.json").exists(), "no state");

    let real = case.run_async().await;
    assert_eq!(real.code, 0, "{}", real.stderr);
    assert_eq!(
        since_and_counts(&real.stdout).2,
        3,
        "the rehearsal remembered nothing"
    );
    let saved = std::fs::read(real.dir.join("state/sched.json")).unwrap();
    let feed = real.file("out/feed.jsonl");

    // A rehearsal after it reads the remembered keys, as the next real run would.
    let again = dry.run_async().await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    let (since, _, new) = since_and_counts(&again.stdout);
    assert!(close(since, state_last_success(&again.dir, "sched")));
    assert_eq!(new, 0);
    assert_eq!(
        std::fs::read(again.dir.join("state/sched.json")).unwrap(),
        saved
    );
    assert_eq!(again.file("out/feed.jsonl"), feed);
}

// ---------------------------------------------------------------------------------------
// A state file that cannot be used.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_stops_the_run_names_the_file_and_is_kept() {
    let emu = Emu::with_quick_actions().await;
    // The hand edit from docs/scheduling.md: `last_success` as plain text.
    let corrupt = "{\n  \"version\": 1,\n  \"playbook\": \"sched\",\n  \"last_success\": \"2026-11-25T10:00:00Z\"\n}\n";
    let r = Case::new()
        .file("sched.yaml", SCHEDULED)
        .file("state/sched.json", corrupt)
        .against(&emu, "huntbook-demo")
        .args(&[
            "run",
            "sched.yaml",
            "--state-dir",
            "state",
            "--report",
            "r.json",
        ])
        .run_async()
        .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "error: state file `state/sched.json` is corrupt at line 4, column 40: invalid type: string \"2026-11-25T10:00:00Z\""
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("help: huntbook never resets state by itself"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.file("state/sched.json"),
        corrupt,
        "the file is kept as it was"
    );
    assert!(r.stdout.is_empty(), "no step ran: {}", r.stdout);
    assert!(!r.dir.join("out").exists());

    // The report is written all the same: the run stopped before its first step.
    let report = r.report("r.json");
    assert_eq!(report["outcome"], "failure", "{report:#}");
    assert_eq!(report["exit_code"], 1);
    assert!(
        report["error"].get("step").is_none(),
        "no step failed: {report}"
    );
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is corrupt at line 4, column 40"),
        "{report:#}"
    );
    assert!(
        report["error"]["help"]
            .as_str()
            .unwrap()
            .starts_with("huntbook never resets state"),
        "{report:#}"
    );
    assert_eq!(report["state"]["saved"], false);
    assert_eq!(report["state"]["path"], "state/sched.json");
    assert_eq!(report["tally"]["skipped"], 7, "{report:#}");
    assert_eq!(report["api"]["calls"], 0);
}

// ---------------------------------------------------------------------------------------
// Runs in flight: a second run beside one, and SIGKILL.

/// A run in flight: its stderr read line by line as it comes.
struct InFlight {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl InFlight {
    fn start(case: &Case) -> InFlight {
        let mut child = case.spawn();
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        InFlight {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Wait (blocking) for a stderr line containing every one of `parts`.
    fn expect(&mut self, parts: &[&str]) {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = parts.iter().all(|p| line.contains(p));
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!("no line with {parts:?} in:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Wait for the exit: the code (`None` when killed by a signal) and the rest of stderr.
    fn finish(mut self) -> (Option<i32>, String) {
        let status = self.child.wait().expect("wait");
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            self.seen.push(line);
        }
        (status.code(), self.seen.join("\n"))
    }
}

/// A run whose second hunt hangs in the emulator (a 120 s slow answer), after an output.
const SLOW: &str = "huntbook: 1\nname: slow\nsteps:\n  - authenticate:\n      client_secret: { env: AZURE_CLIENT_SECRET }\n  - id: fast\n    hunt: { query: DeviceInfo | distinct DeviceName | take 2 }\n  - output:\n      path: out/fast.json\n      data: \"{{ steps.fast.results }}\"\n  - id: slow\n    hunt: { query: DeviceInfo | take 1 }\n  - output:\n      path: out/after.json\n      data: \"{{ steps.slow.results }}\"\n";

fn slow_case(emu: &Emu) -> Case {
    Case::new()
        .file("slow.yaml", SLOW)
        .against(emu, "huntbook-demo")
        .args(&[
            "run",
            "slow.yaml",
            "--state-dir",
            "state",
            "--log-format",
            "json",
        ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_while_one_is_in_flight_exits_1_and_still_writes_its_report() {
    let emu = Emu::with_quick_actions().await;
    let case = slow_case(&emu);
    // A first, quick run gives the playbook a state to protect.
    let seeded = case.run_async().await;
    assert_eq!(seeded.code, 0, "{}", seeded.stderr);
    let saved = std::fs::read(case.path().join("state/slow.json")).unwrap();

    emu.handle
        .set_faults("hunting:slow=120s#2")
        .expect("faults");
    let first = tokio::task::spawn_blocking({
        let case = case.with_args(&["--report", "first.json"]);
        move || {
            let mut run = InFlight::start(&case);
            run.expect(&["\"event\":\"step_start\"", "\"step\":\"slow\""]);
            run
        }
    })
    .await
    .unwrap();
    let pid = first.child.id();

    let second = case
        .with_args(&["--report", "second.json"])
        .run_async()
        .await;
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert!(
        second.stderr.contains("playbook `slow` is already running"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains(&format!("by process {pid}")),
        "names the holder: {}",
        second.stderr
    );
    assert!(second.stdout.is_empty());
    let report = second.report("second.json");
    assert_eq!(report["outcome"], "failure", "{report:#}");
    assert_eq!(report["exit_code"], 1);
    assert!(
        report["error"].get("step").is_none(),
        "no step failed: {report}"
    );
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is already running"),
        "{report:#}"
    );
    assert_eq!(report["steps"][1]["status"], "skipped", "{report:#}");
    assert_eq!(report["state"]["saved"], false);

    // Stop the first one (twice: the second signal drops the hanging call at once).
    first.signal("TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    first.signal("TERM");
    let (code, stderr) = tokio::task::spawn_blocking(move || first.finish())
        .await
        .unwrap();
    assert_eq!(code, Some(143), "{stderr}");
    assert_eq!(
        std::fs::read(case.path().join("state/slow.json")).unwrap(),
        saved,
        "neither run touched the state"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.path().join("first.json")).unwrap())
            .unwrap();
    assert_eq!(report["interrupted"], "sigterm");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_run_publishes_nothing_keeps_the_state_and_leaves_no_lock() {
    let emu = Emu::with_quick_actions().await;
    let case = slow_case(&emu);
    let seeded = case.run_async().await;
    assert_eq!(seeded.code, 0, "{}", seeded.stderr);
    let saved = std::fs::read(case.path().join("state/slow.json")).unwrap();
    let last = state_last_success(case.path(), "slow");
    std::fs::remove_file(case.path().join("out/after.json")).unwrap();

    emu.handle
        .set_faults("hunting:slow=120s#2")
        .expect("faults");
    let killed = tokio::task::spawn_blocking({
        let case = case.with_args(&["--report", "killed.json"]);
        move || {
            let mut run = InFlight::start(&case);
            run.expect(&["\"event\":\"step_start\"", "\"step\":\"slow\""]);
            run.signal("KILL");
            run.finish()
        }
    })
    .await
    .unwrap();
    assert_eq!(killed.0, None, "killed by the signal: {}", killed.1);

    // Nothing half-done is published: the step after the hang never wrote, the file written
    // before it is whole, SIGKILL left no report, and the state is byte for byte the same.
    let dir = case.path();
    assert!(!dir.join("out/after.json").exists());
    let fast: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/fast.json")).unwrap())
            .expect("the earlier output is whole");
    assert_eq!(fast.as_array().map(Vec::len), Some(2));
    assert!(!dir.join("killed.json").exists());
    assert_eq!(std::fs::read(dir.join("state/slow.json")).unwrap(), saved);
    assert!(dir.join("state/slow.lock").exists(), "the lock file stays");

    // The lock went with the process: the next run is not blocked, and advances the state.
    // (Had the kill hit the state's save, a half-written temporary would be left; the next
    // run removes it before reading the state.)
    std::fs::write(
        dir.join("state/.slow.json.huntbook-tmp-Xk3q9z"),
        "{\"version\": 1, \"pl",
    )
    .unwrap();
    emu.handle.clear_faults();
    let next = case.with_args(&["--report", "next.json"]).run_async().await;
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(!next.stderr.contains("already running"), "{}", next.stderr);
    assert!(state_last_success(dir, "slow") > last);
    assert!(dir.join("out/after.json").exists());
    assert!(temporaries(dir).is_empty(), "{:?}", temporaries(dir));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_waiting_for_an_action_exits_143_and_keeps_the_state() {
    // The action stays pending long after the grace period.
    let emu = Emu::start(|c| c.action_step = Duration::from_secs(120)).await;
    let machine = healthy_machines(&emu)[5].clone();
    let case = Case::new()
        .file("p.yaml", &contain("isolate", &machine))
        .against(&emu, "huntbook-demo")
        .args(&[
            "run",
            "p.yaml",
            "--allow-actions",
            "--state-dir",
            "state",
            "--report",
            "r.json",
            "--log-format",
            "json",
        ]);
    let run = tokio::task::spawn_blocking({
        let case = case.with_args(&[]);
        move || {
            let mut run = InFlight::start(&case);
            run.expect(&["\"event\":\"step_start\"", "\"step\":\"act\""]);
            run
        }
    })
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    while emu.writes().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the isolation never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run.signal("TERM");
    let (code, stderr) = tokio::task::spawn_blocking(move || run.finish())
        .await
        .unwrap();
    assert_eq!(code, Some(143), "{stderr}");
    let dir = case.path();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("r.json")).unwrap()).unwrap();
    assert_eq!(report["interrupted"], "sigterm", "{report:#}");
    assert_eq!(step(&report, "act")["status"], "failed", "{report:#}");
    assert_eq!(
        step(&report, "act")["error"]["kind"],
        "cancelled",
        "{report:#}"
    );
    assert_eq!(report["state"]["saved"], false);
    assert!(
        !dir.join("state/contain.json").exists(),
        "the state is not advanced"
    );
    // The isolation sent before the signal stays sent; nothing else was.
    assert_eq!(
        emu.writes(),
        vec![format!("POST /api/machines/{machine}/isolate")]
    );
}
