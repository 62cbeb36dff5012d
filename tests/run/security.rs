//! The security model end to end, through the real binary against the emulator: values from
//! inputs and API data cannot change an OData filter, redirect a write to another URL path,
//! or write a file outside its folder; CSV headers are neutralised; terminal escapes from
//! data are neutralised on stderr; secrets never reach outputs, reports, plans or errors.

use crate::common::{Case, Emu};

const LOGIN: &str = "  - authenticate:\n      client_secret: { env: AZURE_CLIENT_SECRET }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odata_injection_through_an_input_changes_nothing() {
    let emu = Emu::start(|_| {}).await;
    let playbook = format!(
        "huntbook: 1\nname: p\ninputs:\n  who: {{ type: string, required: true }}\nsteps:\n{LOGIN}  - id: inc\n    incidents:\n      list:\n        filter: \"assignedTo eq {{{{ inputs.who }}}}\"\n  - id: req\n    request:\n      path: /security/incidents\n      query:\n        $filter: \"assignedTo eq {{{{ inputs.who }}}}\"\n  - output:\n      format: text\n      template: \"{{{{ steps.inc.count }}}} {{{{ steps.req.body.value | length }}}}\\n\"\n"
    );
    let all = Case::new()
        .file("p.yaml", &playbook)
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "-q", "--input", "who=nobody"])
        .run_async()
        .await;
    assert_eq!(all.code, 0, "{}", all.stderr);
    assert_eq!(all.stdout, "0 0\n");
    for value in [
        "nobody' or assignedTo ne 'nobody",
        "x' or 1 eq 1 or status eq 'y",
        "nobody') or (assignedTo eq null",
    ] {
        let r = Case::new()
            .file("p.yaml", &playbook)
            .against(&emu, "huntbook-demo")
            .args(&["run", "p.yaml", "-q", "--input", &format!("who={value}")])
            .run_async()
            .await;
        assert_eq!(r.code, 0, "{value}: {}", r.stderr);
        assert_eq!(r.stdout, "0 0\n", "{value} changed the filter");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quoted_placeholder_in_a_filter_is_refused_before_anything_runs() {
    let r = Case::new()
        .file(
            "p.yaml",
            "huntbook: 1\nname: p\ninputs:\n  who: { type: string, default: x }\nsteps:\n  - incidents:\n      list:\n        filter: \"assignedTo eq '{{ inputs.who }}'\"\n",
        )
        .args(&["validate", "p.yaml"])
        .run();
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("inside an OData string literal"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_path_values_cannot_redirect_a_write() {
    let emu = Emu::start(|_| {}).await;
    let real = emu.handle.state.world.devices[0].id.clone();
    let playbook = "huntbook: 1\nname: p\ninputs:\n  id: { type: string, required: true }\nsteps:\n  - authenticate:\n      client_secret: { env: AZURE_CLIENT_SECRET }\n  - id: act\n    on_error: continue\n    machine_action:\n      action: run_av_scan\n      machine_id: \"{{ inputs.id }}\"\n      comment: test\n  - id: req\n    on_error: continue\n    request:\n      method: POST\n      api: endpoint\n      path: \"/api/machines/{{ inputs.id }}/runAntiVirusScan\"\n      body: { Comment: test, ScanType: Quick }\n";
    for value in [
        format!("x/../../machines/{real}"),
        format!("x/../{real}"),
        format!("{real}/runAntiVirusScan?"),
        format!("{real}#"),
    ] {
        let r = Case::new()
            .file("p.yaml", playbook)
            .against(&emu, "huntbook-demo")
            .args(&[
                "run",
                "p.yaml",
                "--allow-actions",
                "--input",
                &format!("id={value}"),
                "--report",
                "r.json",
            ])
            .run_async()
            .await;
        let report = r.report("r.json");
        for s in report["steps"].as_array().unwrap().iter().skip(1) {
            assert_eq!(s["status"], "failed", "{value}: {s:#}");
        }
        for w in emu.writes() {
            assert!(
                !w.contains(&format!("/api/machines/{real}/")),
                "{value} reached the real machine: {w}"
            );
        }
    }
    // `.` and `..` are refused outright: a URL parser would resolve them, even encoded.
    let r = Case::new()
        .file("p.yaml", playbook)
        .against(&emu, "huntbook-demo")
        .args(&[
            "run",
            "p.yaml",
            "--allow-actions",
            "--input",
            "id=..",
            "--report",
            "r.json",
        ])
        .run_async()
        .await;
    let report = r.report("r.json");
    for s in report["steps"].as_array().unwrap().iter().skip(1) {
        let message = s["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("cannot be a URL path segment"), "{s:#}");
    }
    assert!(
        emu.writes()
            .iter()
            .all(|w| !w.contains("/api/runAntiVirusScan")
                && !w.starts_with("POST /api/machines/runAntiVirusScan")),
        "{:?}",
        emu.writes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_path_from_api_data_cannot_leave_its_folder() {
    let emu = Emu::start(|_| {}).await;
    let playbook = format!(
        "huntbook: 1\nname: p\nsteps:\n{LOGIN}  - id: h\n    hunt:\n      query: |\n        DeviceInfo\n        | take 1\n        | project DeviceName = strcat(\"../../escaped-\", DeviceName)\n  - id: write\n    for_each: steps.h.results\n    output:\n      path: \"out/reports/{{{{ item.DeviceName }}}}.md\"\n      format: text\n      template: \"pwned\\n\"\n"
    );
    // An escape would land in the case folder itself, two levels above `out/reports/`.
    let r = Case::new()
        .file("p.yaml", &playbook)
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml"])
        .run_async()
        .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("step `write` failed"), "{}", r.stderr);
    assert!(r.stderr.contains("leave its folder"), "{}", r.stderr);
    let stray: Vec<_> = walk(&r.dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    assert!(stray.is_empty(), "files written: {stray:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_rendered_by_a_playbook_are_masked_everywhere() {
    let emu = Emu::start(|_| {}).await;
    let secret = emu.secret("huntbook-demo");
    // The secret reaches templates three ways: a secret-named variable, a variable whose name
    // says nothing (its value is known from the `{ file: … }` reference), and an API error
    // that echoes the request.
    let playbook = "huntbook: 1\nname: p\nsteps:\n  - authenticate:\n      client_secret: { file: secret.txt }\n  - id: echo\n    on_error: continue\n    request:\n      path: \"/security/incidents/{{ env.INNOCENT }}\"\n  - output:\n      format: text\n      template: \"env={{ env.AZURE_CLIENT_SECRET }} plain={{ env.INNOCENT }} error={{ steps.echo.error }}\\n\"\n  - output:\n      path: out/leak.md\n      format: text\n      template: \"{{ env.AZURE_CLIENT_SECRET }} {{ env.INNOCENT }}\\n\"\n  - output:\n      path: out/leak.csv\n      data: \"{{ [{'k': env.INNOCENT}] }}\"\n  - assert:\n      that: [false]\n      message: \"stopping with {{ env.INNOCENT }}\"\n";
    let case = |args: &[&str]| {
        Case::new()
            .file("p.yaml", playbook)
            .file("secret.txt", &format!("{secret}\n"))
            .against(&emu, "huntbook-demo")
            .env("INNOCENT", &secret)
            .args(args)
    };
    for args in [
        &["run", "p.yaml", "-vvv", "--report", "r.json"][..],
        &[
            "run",
            "p.yaml",
            "-vvv",
            "--log-format",
            "json",
            "--report",
            "r.json",
        ][..],
    ] {
        let r = case(args).run_async().await;
        assert_eq!(r.code, 3, "{}", r.stderr);
        assert!(
            r.stdout.starts_with("env=*** plain=*** error="),
            "{}",
            r.stdout
        );
        assert_eq!(r.file("out/leak.md"), "*** ***\n");
        assert!(r.file("out/leak.csv").contains("***"));
        for (what, text) in [
            ("stdout", r.stdout.clone()),
            ("stderr", r.stderr.clone()),
            ("report", r.file("r.json")),
            ("md", r.file("out/leak.md")),
            ("csv", r.file("out/leak.csv")),
        ] {
            assert!(!text.contains(&secret), "{what} holds the secret: {text}");
        }
        assert!(r.stderr.contains("stopping with ***"), "{}", r.stderr);
    }
    // `plan` renders what is known before the run: environment values are placeholders.
    let plan = case(&["plan", "p.yaml"]).run_async().await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(!plan.stdout.contains(&secret), "{}", plan.stdout);
    assert!(!plan.stderr.contains(&secret), "{}", plan.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_header_cells_from_query_aliases_are_neutralised() {
    let emu = Emu::start(|_| {}).await;
    let playbook = format!(
        "huntbook: 1\nname: p\nsteps:\n{LOGIN}  - id: h\n    hunt:\n      query: |\n        DeviceInfo\n        | take 1\n        | project ['=HYPERLINK(\"http://x\")'] = DeviceName, ['@SUM(A1)'] = strcat(\"=\", DeviceName)\n  - output:\n      path: out/h.csv\n      data: \"{{{{ steps.h.results }}}}\"\n  - output:\n      path: out/v.csv\n      data: \"{{{{ steps.h.results | map(attribute='@SUM(A1)') | list }}}}\"\n"
    );
    let r = Case::new()
        .file("p.yaml", &playbook)
        .against(&emu, "huntbook-demo")
        .args(&["run", "p.yaml", "-q"])
        .run_async()
        .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let csv = r.file("out/h.csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("\"'=HYPERLINK(\"\"http://x\"\")\",'@SUM(A1)"),
        "{csv}"
    );
    assert!(lines.next().unwrap().contains(",'="), "{csv}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_escapes_from_api_data_do_not_reach_stderr() {
    let emu = Emu::start(|_| {}).await;
    // The emulator echoes the incident id in its 404 message: API data with escapes.
    let evil = "ws\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m\r";
    let playbook = format!(
        "huntbook: 1\nname: p\ninputs:\n  id: {{ type: string, required: true }}\nsteps:\n{LOGIN}  - id: get\n    name: \"get {{{{ inputs.id }}}}\"\n    on_error: continue\n    incidents:\n      get: \"{{{{ inputs.id }}}}\"\n  - id: again\n    incidents:\n      get: \"{{{{ inputs.id }}}}\"\n"
    );
    for verbosity in ["-v", "-vvv"] {
        let r = Case::new()
            .file("p.yaml", &playbook)
            .against(&emu, "huntbook-demo")
            .args(&["run", "p.yaml", verbosity, "--input", &format!("id={evil}")])
            .run_async()
            .await;
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains("was not found"), "{}", r.stderr);
        for c in ['\u{1b}', '\u{7}', '\u{9b}', '\r'] {
            assert!(
                !r.stderr.contains(c),
                "{verbosity}: U+{:04X} reached stderr: {:?}",
                u32::from(c),
                r.stderr
            );
        }
    }
}
