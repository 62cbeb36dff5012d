//! Running the binary from the repository root, with colours off and no Azure environment.

use std::path::{Path, PathBuf};

/// The repository root (where `playbooks/` and `tests/fixtures/` are).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `huntbook ARGS…` in the repository root.
pub fn huntbook(args: &[&str]) -> Output {
    huntbook_in(&root(), args, None)
}

/// `huntbook ARGS…` in `dir`, with `stdin` piped in when given (through assert_cmd, which
/// finds the binary cargo built for this test run).
pub fn huntbook_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = assert_cmd::Command::cargo_bin("huntbook")
        .unwrap_or_else(|e| panic!("no huntbook binary: {e}"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID");
    if let Some(text) = stdin {
        cmd.write_stdin(text.to_string());
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run huntbook: {e}"));
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The YAML files directly in `dir` (relative to the root), sorted.
pub fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        // Playbook tests (`NAME.test.yaml`) sit beside the playbooks; they are not playbooks.
        .filter(|p| !p.to_string_lossy().ends_with(".test.yaml"))
        .collect();
    files.sort();
    files
}

/// `dir/name` as the relative path the CLI is given.
pub fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}
