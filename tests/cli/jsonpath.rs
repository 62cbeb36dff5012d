//! `huntbook jsonpath` and the RFC 9535 compliance suite (read from
//! `../shared/conformance/jsonpath-cts.json` when present; never copied into the repo).

use super::common::{huntbook, huntbook_in, root};

fn cts() -> Option<Vec<serde_json::Value>> {
    let candidates = [
        root().join("../shared/conformance/jsonpath-cts.json"),
        std::path::PathBuf::from("/work/shared/conformance/jsonpath-cts.json"),
    ];
    let path = candidates.iter().find(|p| p.exists())?;
    let text = std::fs::read_to_string(path).ok()?;
    let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
    doc["tests"].as_array().cloned()
}

/// Whether `got` is the expected result of `case` (`result`, or any of `results`).
fn expected(case: &serde_json::Value, got: &serde_json::Value) -> bool {
    if let Some(r) = case.get("result") {
        return r == got;
    }
    case["results"]
        .as_array()
        .is_some_and(|all| all.iter().any(|r| r == got))
}

#[test]
fn the_compliance_suite_passes_through_the_playbook_code_path() {
    let Some(cases) = cts() else {
        eprintln!("note: jsonpath-cts.json not found; skipping the compliance suite");
        return;
    };
    assert!(cases.len() > 700);
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        let selector = case["selector"].as_str().unwrap_or("");
        let compiled = huntbook::rows::RowFilter::compile(selector);
        if case["invalid_selector"] == true {
            if compiled.is_ok() {
                failures.push(format!("{name}: `{selector}` should be rejected"));
            }
            continue;
        }
        match compiled {
            Err(e) => failures.push(format!("{name}: `{selector}` rejected: {e}")),
            Ok(p) => {
                let got = serde_json::Value::Array(p.apply_json(&case["document"]));
                if !expected(case, &got) {
                    failures.push(format!("{name}: `{selector}` gave {got}"));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_compliance_suite_passes_through_the_command() {
    let Some(cases) = cts() else {
        eprintln!("note: jsonpath-cts.json not found; skipping the compliance suite");
        return;
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["name"].as_str().unwrap_or("?");
        let selector = case["selector"].as_str().unwrap_or("");
        if selector.contains('\0') {
            // argv cannot carry a NUL byte; the library test above covers these cases.
            continue;
        }
        let doc = case
            .get("document")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        let file = dir.path().join("doc.json");
        std::fs::write(&file, doc.to_string()).unwrap_or_else(|e| panic!("{e}"));
        let out = huntbook_in(dir.path(), &["jsonpath", selector, "doc.json"], None);
        if case["invalid_selector"] == true {
            if out.code != 2 || !out.stderr.contains("invalid JSONPath at column") {
                failures.push(format!(
                    "{name}: `{selector}` exit {} {}",
                    out.code, out.stderr
                ));
            }
            continue;
        }
        let got: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        if out.code != 0 || !expected(case, &got) {
            failures.push(format!(
                "{name}: `{selector}` exit {} gave {}",
                out.code, out.stdout
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn reads_stdin_and_prints_a_json_array() {
    let rows =
        r#"[{"AccountName":"system","DeviceName":"a"},{"AccountName":"bob","DeviceName":"b"}]"#;
    let out = huntbook_in(
        &root(),
        &["jsonpath", "$[?@.AccountName != 'system'].DeviceName", "-"],
        Some(rows),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
    assert_eq!(got, serde_json::json!(["b"]));
    let out = huntbook_in(&root(), &["jsonpath", "$.nothing"], Some("{}"));
    assert_eq!(out.code, 0);
    assert_eq!(out.stdout.trim(), "[]");
}

#[test]
fn an_invalid_expression_exits_2_with_its_column() {
    let out = huntbook_in(&root(), &["jsonpath", "$[?@.a == ]"], Some("[]"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("error[bad-jsonpath]: invalid JSONPath at column 8"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("1 | $[?@.a == ]\n  |        ^"),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_documents_exit_2() {
    let out = huntbook_in(&root(), &["jsonpath", "$"], Some("{\"a\": "));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("is not valid JSON"), "{}", out.stderr);
    let out = huntbook(&["jsonpath", "$", "no-such.json"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("cannot read `no-such.json`"),
        "{}",
        out.stderr
    );
}
