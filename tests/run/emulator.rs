//! Runs against the emulator, through the real binary: every step kind, each sign-in flow,
//! token renewal, throttling and server errors, the preflight, injection through `--input`,
//! the example playbooks, and the secrets test.

use std::time::Duration;

use crate::common::{Case, Emu};

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_only_step_kind_runs() {
    let emu = Emu::start(|_| {}).await;
    let r = Case::new()
        .fixture("kinds.yaml")
        .against(&emu, "huntbook-demo")
        .args(&["run", "kinds.yaml", "--report", "report.json"])
        .run_async()
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("incidents=3 alerts="),
        "stdout: {}",
        r.stdout
    );
    assert!(
        r.stdout.contains("skipped=skipped tolerated=failed"),
        "{}",
        r.stdout
    );
    let report = r.report("report.json");
    let step = |id: &str| {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("step {id}"))
    };
    assert_eq!(step("encoded")["count"], 3);
    assert_eq!(step("details")["iterations"].as_array().unwrap().len(), 3);
    assert_eq!(step("tolerated")["status"], "failed");
    assert_eq!(step("tolerated")["continued"], true);
    assert_eq!(step("tolerated")["error"]["status"], 404);
    assert!(report["api"]["calls"].as_u64().unwrap() >= 10);
    let csv = r.file("out/hits.csv");
    assert!(
        csv.starts_with("Timestamp,DeviceName,AccountName,ProcessCommandLine\n"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 4);
    assert_eq!(r.file("out/hits.jsonl").lines().count(), 3);
    let json: serde_json::Value = serde_json::from_str(&r.file("out/hits.json")).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(3));
    assert!(
        r.file("out/summary.md")
            .starts_with("# 3 encoded launches\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_signs_in() {
    let emu = Emu::start(|_| {}).await;
    let r = Case::new()
        .file(
            "p.yaml",
            "huntbook: 1\nname: p\nsteps:\n  - id: login\n    authenticate: {}\n  - id: h\n    hunt:\n      query: DeviceInfo | take 1\n  - output:\n      format: text\n      template: \"{{ steps.login.principal }} {{ steps.h.count }}\\n\"\n",
        )
        .against(&emu, "huntbook-cert")
        .args(&["run", "p.yaml", "-q"])
        .run_async()
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cert_app = emu.info.app("huntbook-cert").unwrap();
    assert_eq!(r.stdout, format!("{} 1\n", cert_app.client_id));
}

fn user_playbook(flow: &str) -> String {
    let creds = if flow == "password" {
        "      flow: password\n      username: \"{{ env.AZURE_USERNAME }}\"\n      password: { env: AZURE_PASSWORD }\n"
    } else {
        "      flow: device_code\n"
    };
    format!(
        "huntbook: 1\nname: u\nsteps:\n  - id: login\n    authenticate:\n      context: user\n{creds}      token_cache: cache.json\n  - id: inc\n    incidents:\n      list: {{ top: 2 }}\n  - output:\n      format: text\n      template: \"{{{{ steps.login.context }}}} {{{{ steps.login.principal }}}} {{{{ steps.inc.count }}}}\\n\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_in_with_the_device_code_flow() {
    let r = Case::new()
        .file("u.yaml", &user_playbook("device_code"))
        .args(&["run", "u.yaml", "--emulator"])
        .run_async()
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "user analyst@contoso.example 2\n");
    assert!(
        r.stderr.contains("enter the code"),
        "the code and URL are shown: {}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_in_with_a_password() {
    let r = Case::new()
        .file("u.yaml", &user_playbook("password"))
        .args(&["run", "u.yaml", "--emulator", "-q"])
        .run_async()
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "user analyst@contoso.example 2\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_exit_4_with_entras_reason_and_no_secret() {
    let emu = Emu::start(|_| {}).await;
    let r = Case::new()
        .fixture("kinds.yaml")
        .against(&emu, "huntbook-demo")
        .env("AZURE_CLIENT_SECRET", "not-the-secret-0123456789")
        .args(&["run", "kinds.yaml"])
        .run_async()
        .await;
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("AADSTS7000215"), "{}", r.stderr);
    assert!(r.stderr.contains("step `login` failed"), "{}", r.stderr);
    assert!(!r.stderr.contains("not-the-secret-0123456789"));
}

const THREE_HUNTS: &str = "huntbook: 1\nname: p\nsteps:\n  - authenticate:\n      client_secret: { env: AZURE_CLIENT_SECRET }\n  - id: a\n    hunt: { query: DeviceInfo | take 1 }\n  - id: b\n    hunt: { query: DeviceInfo | take 2 }\n  - id: c\n    hunt: { query: DeviceInfo | take 3 }\n  - output:\n      format: text\n      template: \"{{ steps.a.count }}{{ steps.b.count }}{{ steps.c.count }}\\n\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_is_renewed_ahead_of_time() {
    // Three-second tokens; the second hunt is throttled with `Retry-After: 3`, so its retry
    // goes out after the token has expired. Fetched anew before that retry, it meets no 401.
    let emu = Emu::start(|c| {
        c.token_lifetime = Duration::from_secs(3);
        c.faults = "hunting:429=3#2".parse().expect("faults");
    })
    .await;
    let r = Case::new()
        .file("p.yaml", THREE_HUNTS)
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "--report", "r.json", "-q"])
        .run_async()
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "123\n");
    let report = r.report("r.json");
    assert!(
        report["duration_ms"].as_u64().unwrap() >= 3000,
        "{report:#}"
    );
    assert_eq!(report["api"]["throttled"], 1, "{:#}", report["api"]);
    assert_eq!(report["api"]["reauthenticated"], 0, "{:#}", report["api"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_renewed_once_and_the_call_repeated() {
    let emu = Emu::start(|c| c.faults = "api:revoke#2".parse().expect("faults")).await;
    let r = Case::new()
        .file("p.yaml", THREE_HUNTS)
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "--report", "r.json", "-q"])
        .run_async()
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "123\n");
    assert_eq!(r.report("r.json")["api"]["reauthenticated"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_waited_out_as_retry_after_says() {
    let emu = Emu::start(|c| c.faults = "hunting:429=1#1".parse().expect("faults")).await;
    let r = Case::new()
        .file("p.yaml", THREE_HUNTS)
        .against(&emu, "huntbook-demo")
        .args(&[
            "run",
            "p.yaml",
            "--report",
            "r.json",
            "--log-format",
            "json",
        ])
        .run_async()
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.report("r.json");
    let a = &report["steps"][1];
    assert_eq!(a["api"]["throttled"], 1, "{a:#}");
    assert_eq!(a["api"]["retries"], 1);
    // Retry-After: 1 — the client waited, and the run cannot have finished sooner than the
    // second it was told to wait. (`waited_ms` counts from when the 429 was read, so under load
    // it can be a little less than 1000; the run's duration is the lower bound that holds.)
    assert!(a["api"]["waited_ms"].as_u64().unwrap() > 0, "{a:#}");
    assert!(a["duration_ms"].as_u64().unwrap() >= 1000, "{a:#}");
    assert!(!json_lines(&r.stderr).is_empty());
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("throttled (HTTP 429)") && l.contains("\"wait_ms\":1000")),
        "the throttling is logged: {}",
        r.stderr
    );
    // The service's own text has its own key: the event's `message` appears once.
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("throttled (HTTP 429)"))
        .unwrap_or_default();
    assert_eq!(line.matches("\"message\":").count(), 1, "{line}");
    let event: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(event["message"], "throttled (HTTP 429); waiting");
    assert!(event["service_message"].is_string(), "{event:#}");
    // A SIEM can tell which step was throttled and which step made each call: the step's id,
    // as in `step_start`.
    assert_eq!(event["step"], "a", "{event:#}");
    let calls: Vec<serde_json::Value> = json_lines(&r.stderr)
        .into_iter()
        .filter(|e| e["message"] == "api call")
        .collect();
    assert_eq!(calls.len(), 4, "{}", r.stderr);
    for (call, step) in calls.iter().zip(["a", "a", "b", "c"]) {
        assert_eq!(call["step"], step, "{call:#}");
    }
    let signed_in = json_lines(&r.stderr)
        .into_iter()
        .find(|e| e["event"] == "authenticated")
        .expect("an authenticated event");
    assert_eq!(
        signed_in["step"], "steps[0]",
        "a step without an id: its route"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_expecting_an_error_status_gets_the_whole_body() {
    let emu = Emu::start(|_| {}).await;
    let playbook = "huntbook: 1\nname: p\nsteps:\n  - authenticate:\n      client_secret: { env: AZURE_CLIENT_SECRET }\n  - id: gone\n    request: { path: /security/incidents/999999999, expect: [404] }\n  - id: gone_mde\n    request: { api: endpoint, path: /api/machines/0000000000000000000000000000000000000000, expect: 404 }\n  - output:\n      path: out/bodies.json\n      data: \"{{ [steps.gone.status, steps.gone.body, steps.gone_mde.body] }}\"\n";
    let r = Case::new()
        .file("p.yaml", playbook)
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "-q"])
        .run_async()
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out: serde_json::Value = serde_json::from_str(&r.file("out/bodies.json")).unwrap();
    assert_eq!(out[0], 404);
    let graph = &out[1]["error"];
    assert_eq!(graph["code"], "NotFound", "{out:#}");
    assert!(graph["message"].is_string(), "{out:#}");
    // More than the code and message: Graph's innerError came through.
    assert!(graph["innerError"]["request-id"].is_string(), "{out:#}");
    assert_eq!(
        out[2]["error"]["target"].as_str().map(str::len),
        Some(36),
        "Defender's target (request id) came through: {out:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried() {
    let emu = Emu::start(|c| c.faults = "hunting:500#1-2".parse().expect("faults")).await;
    let r = Case::new()
        .file("p.yaml", THREE_HUNTS)
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "--report", "r.json", "-q"])
        .run_async()
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.report("r.json")["steps"][1]["api"]["retries"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_faults_fail_clearly_naming_the_step() {
    let emu = Emu::start(|c| c.faults = "hunting:503".parse().expect("faults")).await;
    let r = Case::new()
        .file("p.yaml", THREE_HUNTS)
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "--report", "r.json"])
        .run_async()
        .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("error[api]: step `a` failed"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("HTTP 503"), "{}", r.stderr);
    assert!(r.stderr.contains("--> p.yaml:7:5"), "{}", r.stderr);
    assert!(r.stderr.contains("after 6 attempts"), "{}", r.stderr);
    let report = r.report("r.json");
    assert_eq!(report["outcome"], "failure");
    assert_eq!(report["steps"][2]["status"], "skipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preflight_names_a_missing_permission_before_anything_acts() {
    let emu = Emu::start(|_| {}).await;
    let machine = emu.handle.state.world.devices[0].id.clone();
    let r = Case::new()
        .file(
            "p.yaml",
            &format!(
                "huntbook: 1\nname: p\nsteps:\n  - id: login\n    authenticate:\n      client_secret: {{ env: AZURE_CLIENT_SECRET }}\n  - id: hunt\n    hunt: {{ query: DeviceInfo | take 1 }}\n  - id: iso\n    machine_action:\n      action: isolate\n      machine_id: \"{machine}\"\n      comment: test\n"
            ),
        )
        .against(&emu, "huntbook-readonly")
        .args(&["run", "p.yaml", "--allow-actions"])
        .run_async()
        .await;
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("`Machine.Isolate` on WindowsDefenderATP for step `iso`"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("Grant admin consent"), "{}", r.stderr);
    assert!(
        emu.handle.state.tenant.journal().is_empty(),
        "nothing was written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kql_injection_through_an_input_changes_nothing() {
    let emu = Emu::start(|_| {}).await;
    let playbook = "huntbook: 1\nname: p\ninputs:\n  device: { type: string, required: true }\nsteps:\n  - authenticate:\n      client_secret: { env: AZURE_CLIENT_SECRET }\n  - id: h\n    hunt:\n      query: |\n        DeviceInfo\n        | where DeviceName == {{ inputs.device }}\n        | distinct DeviceName\n  - output:\n      format: text\n      template: \"{{ steps.h.count }}\\n\"\n";
    let device = emu.handle.state.world.devices[0].name.clone();
    for (value, want) in [
        (device.clone(), "1"),
        (format!("{device}\" or DeviceName != \""), "0"),
        (
            "x\" | union DeviceInfo | where \"1\" == \"1".to_string(),
            "0",
        ),
        ("\"; DeviceInfo | take 5 //".to_string(), "0"),
    ] {
        let r = Case::new()
            .file("p.yaml", playbook)
            .against(&emu, "huntbook-demo")
            .args(&["run", "p.yaml", "-q", "--input", &format!("device={value}")])
            .run_async()
            .await;
        assert_eq!(r.code, 0, "{value}: {}", r.stderr);
        assert!(
            r.stdout.trim_end().ends_with(want) || r.stdout.trim() == want,
            "{value}: got {}",
            r.stdout
        );
    }
}

/// Strings that look like bearer tokens (JWTs) or the emulator's refresh tokens.
fn token_like(text: &str) -> Vec<String> {
    let jwt = regex::Regex::new(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}").unwrap();
    let refresh = regex::Regex::new(r"0\.A[A-Za-z0-9_-]{60,}").unwrap();
    jwt.find_iter(text)
        .chain(refresh.find_iter(text))
        .map(|m| m.as_str().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_or_token_reaches_any_output_at_the_highest_verbosity() {
    let emu = Emu::start(|c| c.faults = "api:revoke#3".parse().expect("faults")).await;
    let secret = emu.secret("huntbook-demo");
    let app = Case::new()
        .fixture("kinds.yaml")
        .against(&emu, "huntbook-demo")
        .args(&[
            "run",
            "kinds.yaml",
            "-vvv",
            "--log-format",
            "json",
            "--report",
            "report.json",
        ])
        .run_async()
        .await;
    assert_eq!(app.code, 0, "{}", app.stderr);
    let user = Case::new()
        .file("u.yaml", &user_playbook("password"))
        .args(&[
            "run",
            "u.yaml",
            "--emulator",
            "-vvv",
            "--log-format",
            "json",
            "--report",
            "report.json",
        ])
        .run_async()
        .await;
    assert_eq!(user.code, 0, "{}", user.stderr);
    for (name, ran) in [("app", &app), ("user", &user)] {
        let mut texts = vec![
            ("stdout", ran.stdout.clone()),
            ("stderr", ran.stderr.clone()),
            ("report", ran.file("report.json")),
        ];
        for f in [
            "out/hits.json",
            "out/hits.jsonl",
            "out/hits.csv",
            "out/summary.md",
        ] {
            if ran.dir.join(f).exists() {
                texts.push((f, ran.file(f)));
            }
        }
        for (what, text) in texts {
            assert!(
                !text.contains(&secret),
                "{name} {what} holds the client secret"
            );
            for u in &emu.info.users {
                assert!(
                    !text.contains(&u.password),
                    "{name} {what} holds a password"
                );
            }
            assert!(
                token_like(&text).is_empty(),
                "{name} {what} holds a token: {:?}",
                token_like(&text)
            );
        }
        assert!(
            ran.stderr.contains("\"level\":\"TRACE\"")
                || ran.stderr.contains("\"level\":\"DEBUG\""),
            "-vvv logs the details ({name}): {}",
            ran.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_playbooks_without_response_actions_run_green() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    let mut ran = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        // Playbook tests (`NAME.test.yaml`) sit beside the playbooks; they are not playbooks.
        if path.to_string_lossy().ends_with(".test.yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let loaded = huntbook::playbook::load_str(&path, text.clone());
        let playbook = loaded.playbook.expect("examples are valid");
        if !playbook.response_actions().is_empty() {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut case = Case::new().file(&name, &text).args(&[
            "run",
            &name,
            "--emulator",
            "--report",
            "r.json",
        ]);
        for input in &playbook.inputs {
            if input.required && input.default.is_none() {
                case = case.args(&[
                    "--input",
                    &format!(
                        "{}=Action required: your password expires today",
                        input.name
                    ),
                ]);
            }
        }
        let r = case.run_async().await;
        let report = r.report("r.json");
        // `parallel-sweep` ends with an assert that fails when the sweep finds something —
        // and the demo tenant has planted findings: exit 3 there is the playbook working.
        let expected = if report["steps"].as_array().is_some_and(|s| {
            s.iter()
                .any(|s| s["kind"] == "assert" && s["status"] == "failed")
        }) {
            3
        } else {
            0
        };
        assert_eq!(r.code, expected, "{name}: {}", r.stderr);
        assert_eq!(
            report["tally"]["failed"],
            if expected == 3 { 1 } else { 0 },
            "{name}: {report:#}"
        );
        ran += 1;
    }
    assert!(ran >= 5, "ran {ran} examples");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_run_writes_the_report_and_keeps_the_state() {
    let emu = Emu::start(|c| c.faults = "hunting:slow=20s#2".parse().expect("faults")).await;
    let playbook = "huntbook: 1\nname: p\nsteps:\n  - authenticate:\n      client_secret: { env: AZURE_CLIENT_SECRET }\n  - id: a\n    hunt: { query: DeviceInfo | take 1 }\n  - id: slow\n    hunt: { query: DeviceInfo | take 2 }\n  - output:\n      path: out/after.txt\n      template: never\n";
    let started = std::time::Instant::now();
    let r = Case::new()
        .file("p.yaml", playbook)
        .against(&emu, "huntbook-demo")
        .args(&[
            "run",
            "p.yaml",
            "--report",
            "r.json",
            "--state-dir",
            "state",
        ])
        .run_signalled(
            "TERM",
            &[Duration::from_millis(1500), Duration::from_millis(300)],
        )
        .await;
    assert_eq!(r.code, 143, "{}", r.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the second signal stops at once"
    );
    let report = r.report("r.json");
    assert_eq!(report["interrupted"], "sigterm");
    assert_eq!(report["outcome"], "terminated");
    assert_eq!(report["steps"][1]["status"], "ok");
    assert_eq!(report["steps"][2]["status"], "failed");
    assert_eq!(report["steps"][2]["error"]["kind"], "cancelled");
    assert_eq!(report["steps"][3]["status"], "skipped");
    assert!(!r.dir.join("out").exists(), "no output after the signal");
    assert!(
        !r.dir.join("state/p.json").exists(),
        "the state is not advanced"
    );
}

/// Secret and certificate files are named relative to the playbook, which is usually not the
/// folder the run starts in (cron runs `huntbook run /etc/huntbook/daily.yaml`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_and_certificate_files_are_read_beside_a_playbook_in_another_folder() {
    let emu = Emu::start(|_| {}).await;
    let secret_app = emu.info.app("huntbook-demo").unwrap().clone();
    let cert_app = emu.info.app("huntbook-cert").unwrap().clone();
    let pem = std::fs::read_to_string(cert_app.certificate_path.as_ref().unwrap()).unwrap();
    let playbook = format!(
        "huntbook: 1\nname: files\nsteps:\n  - id: by_secret\n    authenticate:\n      tenant_id: {tenant}\n      client_id: {secret_id}\n      client_secret: {{ file: creds/secret.txt }}\n  - id: by_cert\n    authenticate:\n      tenant_id: {tenant}\n      client_id: {cert_id}\n      certificate: creds/app.pem\n  - id: h\n    hunt:\n      query: DeviceInfo | take 1\n  - output:\n      format: text\n      template: \"{{{{ steps.by_secret.principal }}}} {{{{ steps.by_cert.principal }}}} {{{{ steps.h.count }}}}\\n\"\n",
        tenant = emu.info.tenant_id,
        secret_id = secret_app.client_id,
        cert_id = cert_app.client_id,
    );
    let mut case = Case::new()
        .file("jobs/daily/files.yaml", &playbook)
        .file(
            "jobs/daily/creds/secret.txt",
            &format!("{}\n", secret_app.client_secret.clone().unwrap()),
        )
        .file("jobs/daily/creds/app.pem", &pem)
        .args(&["run", "jobs/daily/files.yaml", "-q"]);
    for (k, v) in emu.env("huntbook-demo") {
        if k.starts_with("HUNTBOOK_") {
            case = case.env(&k, &v);
        }
    }
    let r = case.run_async().await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        format!("{} {} 1\n", secret_app.client_id, cert_app.client_id)
    );
}
