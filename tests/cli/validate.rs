//! `huntbook validate`: exit codes, human and JSON diagnostics, and a snapshot of the rendered
//! diagnostics of every broken playbook in `tests/fixtures/invalid/`.

use super::common::{huntbook, huntbook_in, rel, yaml_files};

#[test]
fn every_invalid_fixture_exits_2_with_file_line_column_and_matches_its_snapshot() {
    let files = yaml_files("tests/fixtures/invalid");
    assert!(files.len() >= 30, "only {} broken playbooks", files.len());
    for path in files {
        let name = rel(&path);
        let out = huntbook(&["validate", &name]);
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        let located = format!("--> {name}:");
        let pos = out
            .stderr
            .find(&located)
            .map(|i| &out.stderr[i + located.len()..])
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or("");
        let mut parts = pos.split(':');
        let line_ok = parts
            .next()
            .is_some_and(|l| l.parse::<usize>().is_ok_and(|l| l > 0));
        let col_ok = parts
            .next()
            .is_some_and(|c| c.parse::<usize>().is_ok_and(|c| c > 0));
        assert!(
            line_ok && col_ok,
            "{name}: no file:line:column in\n{}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{name}: {}", out.stderr);
        assert!(
            out.stdout.is_empty(),
            "{name}: human diagnostics go to stderr"
        );
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("huntbook validate {name}"),
        }, {
            insta::assert_snapshot!(format!("invalid__{stem}"), out.stderr);
        });
    }
}

#[test]
fn literal_secrets_never_reach_any_output() {
    let name = "tests/fixtures/invalid/literal-secret.yaml";
    for format in ["human", "json"] {
        let out = huntbook(&["validate", "--format", format, name]);
        assert_eq!(out.code, 2);
        for text in [&out.stdout, &out.stderr] {
            assert!(!text.contains("s3cr3t"), "{format}: {text}");
        }
    }
}

#[test]
fn valid_playbooks_exit_0_and_warnings_do_not_fail() {
    let out = huntbook(&["validate", "tests/fixtures/valid/query-file.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("query-file.yaml: valid"),
        "{}",
        out.stderr
    );

    let out = huntbook(&["validate", "tests/fixtures/valid/defender-hunting.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("warning[deprecated-api]"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("2027-02-01"), "{}", out.stderr);
    assert!(out.stderr.contains("valid, 1 warning"), "{}", out.stderr);

    let out = huntbook(&["validate", "tests/fixtures/valid/warnings.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for code in ["raw-in-query", "secret-in-template", "suspicious"] {
        assert!(
            out.stderr.contains(&format!("warning[{code}]")),
            "{code}: {}",
            out.stderr
        );
    }
    assert!(out.stderr.contains("valid, 3 warnings"), "{}", out.stderr);
}

#[test]
fn json_format_prints_one_array_on_stdout() {
    let out = huntbook(&[
        "validate",
        "--format",
        "json",
        "tests/fixtures/invalid/unknown-step-key.yaml",
        "tests/fixtures/valid/defender-hunting.yaml",
    ]);
    assert_eq!(out.code, 2);
    let diags: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    let diags = diags.as_array().cloned().unwrap_or_default();
    assert_eq!(diags.len(), 2, "{diags:?}");
    let first = &diags[0];
    assert_eq!(
        first["file"],
        "tests/fixtures/invalid/unknown-step-key.yaml"
    );
    assert_eq!(first["line"], 10);
    assert_eq!(first["column"], 7);
    assert_eq!(first["severity"], "error");
    assert_eq!(first["code"], "unknown-key");
    assert_eq!(first["message"], "unknown key `qeury` in a `hunt` step");
    assert_eq!(diags[1]["severity"], "warning");
    assert_eq!(diags[1]["code"], "deprecated-api");
}

#[test]
fn json_format_of_valid_files_is_an_empty_array() {
    let out = huntbook(&[
        "validate",
        "--format",
        "json",
        "playbooks/encoded-powershell.yaml",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "[]");
}

#[test]
fn the_worst_file_decides_the_exit_code() {
    let out = huntbook(&[
        "validate",
        "playbooks/encoded-powershell.yaml",
        "tests/fixtures/invalid/bad-name.yaml",
    ]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("encoded-powershell.yaml: valid"));
    assert!(out.stderr.contains("bad-name.yaml: invalid, 1 error"));
}

#[test]
fn unreadable_paths_are_clear_errors() {
    let out = huntbook(&["validate", "no/such/playbook.yaml"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("error[io-error]: cannot read `no/such/playbook.yaml`"),
        "{}",
        out.stderr
    );

    let out = huntbook(&["validate", "playbooks"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("error[not-a-file]"), "{}", out.stderr);
    assert!(out.stderr.contains("it is a directory"), "{}", out.stderr);
}

#[test]
fn files_over_10_mb_are_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let big = dir.path().join("big.yaml");
    let mut text = String::from("huntbook: 1\nname: big\nsteps:\n");
    let line = "  - set: {a: 1}\n";
    while text.len() <= 10 * 1024 * 1024 {
        text.push_str(line);
    }
    std::fs::write(&big, text).unwrap_or_else(|e| panic!("{e}"));
    let out = huntbook_in(dir.path(), &["validate", "big.yaml"], None);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("error[file-too-large]"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("the limit is 10 MB"), "{}", out.stderr);
}

#[test]
fn quiet_shows_errors_only() {
    let out = huntbook(&[
        "validate",
        "-q",
        "tests/fixtures/valid/defender-hunting.yaml",
    ]);
    assert_eq!(out.code, 0);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

#[test]
fn validate_needs_a_file() {
    let out = huntbook(&["validate"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("FILES"), "{}", out.stderr);
}
