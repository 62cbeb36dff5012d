//! The example playbooks: all validate cleanly (no error, no warning), carry the editor
//! modeline, and plan.

use super::common::{huntbook, rel, yaml_files};

#[test]
fn there_are_at_least_five_examples() {
    assert!(yaml_files("playbooks").len() >= 5);
}

#[test]
fn every_example_validates_without_a_single_warning() {
    for path in yaml_files("playbooks") {
        let name = rel(&path);
        let out = huntbook(&["validate", &name]);
        assert_eq!(out.code, 0, "{name}:\n{}", out.stderr);
        assert_eq!(out.stderr.trim(), format!("{name}: valid"), "{name}");
    }
}

#[test]
fn every_example_carries_the_schema_modeline() {
    for path in yaml_files("playbooks") {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/playbook.schema.json\n"),
            "{}",
            path.display()
        );
    }
}

#[test]
fn every_example_plans() {
    for path in yaml_files("playbooks") {
        let name = rel(&path);
        let out = huntbook(&["plan", &name, "--input", "sha256=0", "--input", "subject=x"]);
        // Inputs a playbook does not declare are usage errors, so pass only what it has.
        let out = if out.code == 2 && out.stderr.contains("has no input") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let mut args = vec!["plan".to_string(), name.clone()];
            for (input, value) in [("sha256", "0"), ("subject", "x")] {
                if text.contains(&format!("\n  {input}:")) {
                    args.push("--input".into());
                    args.push(format!("{input}={value}"));
                }
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            huntbook(&args)
        } else {
            out
        };
        assert_eq!(out.code, 0, "{name}:\n{}", out.stderr);
        assert!(
            out.stdout.starts_with("plan for `"),
            "{name}: {}",
            out.stdout
        );
    }
}
