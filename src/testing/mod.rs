//! Playbook tests (`huntbook test`, `NAME.test.yaml`): run a playbook against the emulator
//! with controlled data and check what it did — hermetic, fast, readable in CI.
//!
//! ```text
//! discover ─► check::load (test file + playbook → TestFile, or diagnostics: exit 2)
//!          ─► Runner::run_all ─► per case: temp dir, Emulator::start, Backend (env +
//!             connection), FixtureConnection, Engine::run ─► expect::evaluate
//!          ─► report (lines, failures, summary, JUnit)
//! ```
//!
//! The format is described in `docs/testing.md`, and as a JSON Schema in
//! `schemas/playbook-test.schema.json` ([`schema::schema_json`]).

pub mod backend;
pub mod check;
pub mod expect;
pub mod fixtures;
pub mod report;
pub mod runner;
pub mod schema;
pub mod spec;

use std::path::{Path, PathBuf};

pub use backend::{Backend, EmulatorBackend};
pub use check::{LoadedTest, load};
pub use runner::{CaseResult, Outcome, Runner};
pub use spec::TestFile;

/// Whether a file name is a test file's (`*.test.yaml`, `*.test.yml`).
#[must_use]
pub fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"))
}

/// A path given to `huntbook test` that holds no test.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverError {
    #[error("`{0}` does not exist")]
    /// A path that is neither a file nor a folder.
    Missing(String),
    #[error("`{0}` is a playbook without a test file: expected `{1}` beside it")]
    /// A playbook given without its `NAME.test.yaml` beside it (the path, the test file looked for).
    NoTestFile(String, String),
    #[error("`{0}` holds no `*.test.yaml` file")]
    /// A folder without any test file below it.
    EmptyFolder(String),
}

/// The test files `paths` name: files as given (a playbook `X.yaml` stands for its
/// `X.test.yaml`), folders searched recursively for `*.test.yaml` (hidden folders and
/// `target/` skipped), in sorted order, each once.
///
/// # Errors
/// Every path that names no test, at once.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Vec<DiscoverError>> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        let shown = p.display().to_string();
        if p.is_dir() {
            let mut here = Vec::new();
            walk(p, &mut here);
            here.sort();
            if here.is_empty() {
                errors.push(DiscoverError::EmptyFolder(shown));
            }
            found.extend(here);
        } else if p.is_file() {
            if is_test_file(p) {
                found.push(p.clone());
            } else {
                match test_file_of(p) {
                    Some(t) if t.is_file() => found.push(t),
                    Some(t) => {
                        errors.push(DiscoverError::NoTestFile(shown, t.display().to_string()))
                    }
                    None => found.push(p.clone()),
                }
            }
        } else {
            errors.push(DiscoverError::Missing(shown));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    found.retain(|p| seen.insert(p.clone()));
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors)
    }
}

/// `X.test.yaml` for a playbook `X.yaml` (`None` when `path` is not a `.yaml`/`.yml`).
fn test_file_of(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let (stem, ext) = name
        .strip_suffix(".yaml")
        .map(|s| (s, "yaml"))
        .or_else(|| name.strip_suffix(".yml").map(|s| (s, "yml")))?;
    Some(path.with_file_name(format!("{stem}.test.{ext}")))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() {
            if !name.starts_with('.') && name != "target" {
                walk(&path, out);
            }
        } else if is_test_file(&path) {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_searched_recursively_and_playbooks_stand_for_their_tests() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::create_dir_all(d.join(".git")).unwrap();
        std::fs::create_dir_all(d.join("empty")).unwrap();
        for f in [
            "x.yaml",
            "x.test.yaml",
            "a/b/y.test.yml",
            ".git/z.test.yaml",
            "a/w.yaml",
        ] {
            std::fs::write(d.join(f), "").unwrap();
        }
        let found = discover(&[d.to_path_buf()]).unwrap();
        let rel: Vec<String> = found
            .iter()
            .map(|p| p.strip_prefix(d).unwrap().display().to_string())
            .collect();
        assert_eq!(rel, vec!["a/b/y.test.yml", "x.test.yaml"]);
        // The playbook stands for its test file; the same file twice counts once.
        let found = discover(&[d.join("x.yaml"), d.join("x.test.yaml")]).unwrap();
        assert_eq!(found, vec![d.join("x.test.yaml")]);
        let errors = discover(&[d.join("a/w.yaml"), d.join("nope"), d.join("empty")]).unwrap_err();
        assert_eq!(errors.len(), 3);
        assert!(
            errors[0].to_string().contains("w.test.yaml"),
            "{}",
            errors[0]
        );
        assert!(errors[1].to_string().contains("does not exist"));
        assert!(errors[2].to_string().contains("holds no"));
    }
}
