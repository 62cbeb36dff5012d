//! Response actions against the emulator: the isolation example end to end (idempotent on a
//! second run, `wait` to the end), refusal without `--allow-actions`, `--dry-run`,
//! `max_targets`, and an incident update.
use crate::common::{Case, Emu};

fn example(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("playbooks")
        .join(name);
    std::fs::read_to_string(path).expect("example playbook")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_isolation_example_isolates_once_and_waits_for_the_end() {
    let emu = Emu::with_quick_actions().await;
    let bad = emu.handle.state.world.findings.known_bad_file.clone();
    let device = emu.handle.state.world.devices[bad.device].clone();
    let case = Case::new()
        .file("isolate-devices.yaml", &example("isolate-devices.yaml"))
        .against(&emu, "huntbook-demo")
        .args(&[
            "run",
            "isolate-devices.yaml",
            "--allow-actions",
            "--input",
            &format!("sha256={}", bad.sha256),
            "--report",
            "r.json",
        ]);
    let first = case.run_async().await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(
        emu.writes(),
        vec![format!("POST /api/machines/{}/isolate", device.id)]
    );
    let report = first.report("r.json");
    let isolate = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "isolate")
        .cloned()
        .unwrap();
    assert_eq!(isolate["status"], "changed", "{isolate:#}");
    assert_eq!(
        isolate["iterations"][0]["name"],
        format!("Isolate {}", device.name)
    );
    assert!(
        first.stdout.contains("1 device(s) matched"),
        "{}",
        first.stdout
    );

    // The machine is isolated now: a second run sends nothing and changes nothing.
    let second = case.run_async().await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(
        emu.writes().len(),
        1,
        "no second isolation: {:?}",
        emu.writes()
    );
    let report = second.report("r.json");
    assert_eq!(report["tally"]["changed"], 0, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_isolation_example_is_refused_without_allow_actions_and_sends_nothing() {
    let emu = Emu::with_quick_actions().await;
    let bad = emu.handle.state.world.findings.known_bad_file.clone();
    let r = Case::new()
        .file("isolate-devices.yaml", &example("isolate-devices.yaml"))
        .against(&emu, "huntbook-demo")
        .args(&[
            "run",
            "isolate-devices.yaml",
            "--input",
            &format!("sha256={}", bad.sha256),
        ])
        .run_async()
        .await;
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("nothing ran"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("step `isolate`: machine action `isolate` (once per `for_each` item)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("step `note`: incident update"),
        "{}",
        r.stderr
    );
    // Refused before any step ran: no write reached the emulator, and nothing was printed.
    assert!(emu.handle.state.tenant.journal().is_empty());
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_reads_everything_and_writes_nothing() {
    let emu = Emu::with_quick_actions().await;
    let bad = emu.handle.state.world.findings.known_bad_file.clone();
    let r = Case::new()
        .file("isolate-devices.yaml", &example("isolate-devices.yaml"))
        .against(&emu, "huntbook-demo")
        .args(&[
            "run",
            "isolate-devices.yaml",
            "--dry-run",
            "--input",
            &format!("sha256={}", bad.sha256),
            "--report",
            "r.json",
        ])
        .run_async()
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(emu.writes().is_empty(), "{:?}", emu.writes());
    assert!(
        r.stderr.contains("would send POST http://127.0.0.1:"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("\"IsolationType\":\"Selective\""),
        "{}",
        r.stderr
    );
    let report = r.report("r.json");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["state"]["saved"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_targets_stops_before_the_action_over_the_limit() {
    let emu = Emu::with_quick_actions().await;
    let ids: Vec<String> = emu.handle.state.world.devices[..3]
        .iter()
        .map(|d| format!("\"{}\"", d.id))
        .collect();
    let r = Case::new()
        .file(
            "p.yaml",
            &format!(
                "huntbook: 1\nname: p\nmax_targets: 2\nsteps:\n  - authenticate:\n      client_secret: {{ env: AZURE_CLIENT_SECRET }}\n  - id: scan\n    for_each: [{}]\n    machine_action:\n      action: run_av_scan\n      machine_id: \"{{{{ item }}}}\"\n      comment: sweep\n",
                ids.join(", ")
            ),
        )
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "--allow-actions"])
        .run_async()
        .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("over the playbook's `max_targets` of 2"),
        "{}",
        r.stderr
    );
    assert_eq!(emu.writes().len(), 2, "{:?}", emu.writes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_update_sends_only_the_fields_given_and_one_comment() {
    let emu = Emu::with_quick_actions().await;
    let r = Case::new()
        .file(
            "p.yaml",
            "huntbook: 1\nname: p\nsteps:\n  - authenticate:\n      client_secret: { env: AZURE_CLIENT_SECRET }\n  - id: first\n    incidents:\n      list: { top: 1 }\n  - id: up\n    incidents:\n      update:\n        id: \"{{ steps.first.items[0].id }}\"\n        status: in_progress\n        comment: triaged by huntbook\n  - output:\n      format: text\n      template: \"{{ steps.up.incident.status }} {{ steps.up.incident.comments | map(attribute='comment') | select('equalto', 'triaged by huntbook') | list | length }}\\n\"\n",
        )
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "--allow-actions", "-q"])
        .run_async()
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "inProgress 1\n");
    let writes = emu.handle.state.tenant.journal();
    let writes: Vec<_> = writes.iter().filter(|e| e.method != "GET").collect();
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!(writes[0].method, "PATCH");
    assert_eq!(writes[0].body, serde_json::json!({"status": "inProgress"}));
    assert!(writes[1].path.ends_with("/comments"));
}
