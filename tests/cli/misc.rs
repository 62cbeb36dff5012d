//! `--version`, `--help` and `completions`.

use super::common::huntbook;

#[test]
fn version_prints_the_crate_version() {
    let out = huntbook(&["--version"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout.trim(),
        format!("huntbook {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_has_examples_and_exit_codes() {
    let out = huntbook(&["--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("Examples:"), "{}", out.stdout);
    assert!(out.stdout.contains("huntbook validate playbooks/*.yaml"));
    assert!(out.stdout.contains("Exit codes:"));
    let out = huntbook(&["validate", "--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("--format"), "{}", out.stdout);
}

#[test]
fn every_subcommand_help_shows_examples() {
    for command in [
        &["validate"][..],
        &["plan"],
        &["run"],
        &["test"],
        &["jsonpath"],
        &["schema"],
        &["emulator"],
        &["auth"],
        &["completions"],
    ] {
        let mut args = command.to_vec();
        args.push("--help");
        let out = huntbook(&args);
        assert_eq!(out.code, 0, "{command:?}");
        assert!(
            out.stdout.contains("Examples:\n  huntbook "),
            "{command:?}: {}",
            out.stdout
        );
    }
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = huntbook(&["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains("validate"), "{shell}");
    }
    let out = huntbook(&["completions", "tcsh"]);
    assert_eq!(out.code, 2);
}

#[test]
fn unknown_commands_are_usage_errors() {
    let out = huntbook(&["valdate", "x.yaml"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("validate"), "{}", out.stderr);
}
