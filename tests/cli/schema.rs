//! `huntbook schema` and `schemas/playbook.schema.json`: the committed file is what the model
//! generates, and every example (and valid fixture) conforms to it.

use super::common::{huntbook, root, yaml_files};

fn committed() -> String {
    std::fs::read_to_string(root().join("schemas/playbook.schema.json")).unwrap_or_default()
}

#[test]
fn committed_schema_is_up_to_date() {
    let out = huntbook(&["schema"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout == committed(),
        "schemas/playbook.schema.json is stale: run `cargo run -- schema > schemas/playbook.schema.json`"
    );
}

#[test]
fn the_test_file_schema_is_the_committed_one() {
    let out = huntbook(&["schema", "--test-file"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let file = std::fs::read_to_string(root().join("schemas/playbook-test.schema.json"))
        .unwrap_or_default();
    assert!(
        out.stdout == file,
        "schemas/playbook-test.schema.json is stale"
    );
}

fn as_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let parsed = huntbook::playbook::yaml::parse(&text, huntbook::source::FileId(0));
    parsed
        .root
        .map(|n| n.to_json())
        .unwrap_or_else(|| panic!("{}: {:?}", path.display(), parsed.diagnostics))
}

#[test]
fn examples_conform_to_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(&committed()).unwrap_or_default();
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
    let mut files = yaml_files("playbooks");
    files.extend(yaml_files("tests/fixtures/valid"));
    for path in files {
        let doc = as_json(&path);
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
}

#[test]
fn the_schema_rejects_what_the_validator_rejects() {
    let schema: serde_json::Value = serde_json::from_str(&committed()).unwrap_or_default();
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
    for name in [
        "unknown-step-key",
        "two-kinds",
        "missing-kind",
        "unsupported-version",
        "bad-machine-action",
        "literal-secret",
    ] {
        let doc = as_json(&root().join(format!("tests/fixtures/invalid/{name}.yaml")));
        assert!(!validator.is_valid(&doc), "{name} passes the schema");
    }
}
