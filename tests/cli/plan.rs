//! `huntbook plan`: rendered values where known, placeholders otherwise, secrets redacted,
//! response actions and permissions listed; bad inputs and invalid playbooks exit 2.

use super::common::huntbook;

#[test]
fn plan_renders_inputs_and_hides_secrets() {
    let out = huntbook(&[
        "plan",
        "playbooks/encoded-powershell.yaml",
        "--input",
        "lookback=7d",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let p = &out.stdout;
    assert!(p.contains("lookback (duration) = 7d  [input]"), "{p}");
    assert!(p.contains("min_hits (integer) = 1  [default]"), "{p}");
    assert!(
        p.contains("client_secret: <secret from env AZURE_CLIENT_SECRET>"),
        "{p}"
    );
    assert!(p.contains("ago(7d)"), "the query renders the input: {p}");
    assert!(p.contains("input: <from steps.hunt.results>"), "{p}");
    assert!(p.contains("ThreatHunting.Read.All"), "{p}");
    assert!(p.contains("response actions: none"), "{p}");
}

#[test]
fn plan_flags_response_actions_and_their_permissions() {
    let out = huntbook(&[
        "plan",
        "playbooks/isolate-devices.yaml",
        "--input",
        "sha256=abc",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let p = &out.stdout;
    assert!(p.contains("response actions: 2 step(s)"), "{p}");
    assert!(p.contains("at most 5 action(s) per run"), "{p}");
    assert!(
        p.contains(
            "isolate: machine action `isolate`: POST /api/machines/{id}/isolate  [RESPONSE ACTION]"
        ),
        "{p}"
    );
    assert!(p.contains("application Machine.Isolate"), "{p}");
    assert!(p.contains("SecurityIncident.ReadWrite.All"), "{p}");
}

#[test]
fn plan_as_json() {
    let out = huntbook(&[
        "plan",
        "playbooks/isolate-devices.yaml",
        "--format",
        "json",
        "--input",
        "sha256=abc",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let plan: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert_eq!(plan["playbook"], "isolate-devices");
    assert_eq!(plan["max_targets"], 5);
    assert_eq!(plan["response_actions"], 2);
    let steps = plan["steps"].as_array().cloned().unwrap_or_default();
    let isolate = steps
        .iter()
        .find(|s| s["id"] == "isolate")
        .cloned()
        .unwrap_or_default();
    assert_eq!(isolate["response_action"], true);
    assert_eq!(isolate["kind"], "machine_action");
    assert_eq!(isolate["fields"]["isolation_type"], "selective");
    assert_eq!(
        isolate["permissions"][0]["application"][0],
        "Machine.Isolate"
    );
    let login = &steps[0];
    assert_eq!(
        login["fields"]["client_secret"]["secret"],
        "<secret from env AZURE_CLIENT_SECRET>"
    );
    let inputs = plan["inputs"].as_array().cloned().unwrap_or_default();
    assert_eq!(inputs[0]["name"], "sha256");
    assert_eq!(inputs[0]["value"], "abc");
    assert_eq!(inputs[0]["source"], "input");
}

#[test]
fn plan_shows_missing_required_inputs() {
    let out = huntbook(&["plan", "playbooks/isolate-devices.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("<required: give --input sha256=…>"),
        "{}",
        out.stdout
    );
}

#[test]
fn plan_rejects_bad_inputs() {
    let out = huntbook(&[
        "plan",
        "playbooks/encoded-powershell.yaml",
        "--input",
        "lookbak=7d",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("error[bad-input]: the playbook has no input `lookbak`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("did you mean `lookback`?"),
        "{}",
        out.stderr
    );

    let out = huntbook(&[
        "plan",
        "playbooks/encoded-powershell.yaml",
        "--input",
        "min_hits=many",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("expected an integer, got `many`"),
        "{}",
        out.stderr
    );

    let out = huntbook(&[
        "plan",
        "playbooks/encoded-powershell.yaml",
        "--input",
        "novalue",
    ]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("is not of the form `name=value`"),
        "{}",
        out.stderr
    );
}

#[test]
fn plan_of_an_invalid_playbook_exits_2_with_its_diagnostics() {
    let out = huntbook(&["plan", "tests/fixtures/invalid/unknown-step-key.yaml"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("error[unknown-key]"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}
