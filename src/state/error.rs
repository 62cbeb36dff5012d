//! What can go wrong with a playbook's state: a bad name, a second run holding the lock, a
//! state file that cannot be trusted, or the file system.

use std::path::PathBuf;

use crate::exit::ExitStatus;
use crate::fsutil::FsError;

/// A state problem. Every variant stops the run before its first step (or, at commit, marks a
/// successful run as failed because its state could not be saved).
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The playbook name cannot be used as a file name.
    #[error("playbook name `{name}` cannot name a state file: {why}")]
    BadName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        why: &'static str,
    },

    /// Another run of the same playbook holds the lock.
    #[error("playbook `{playbook}` is already running (lock held on `{}`{holder})", lock_path.display())]
    AlreadyRunning {
        /// The playbook's name.
        playbook: String,
        /// The lock file.
        lock_path: PathBuf,
        /// Who holds it, as ` by process 1234 since 2026-11-25T10:00:00Z`, or empty when the
        /// holder did not say (yet).
        holder: String,
    },

    /// The state file does not parse or does not hold what a state file holds.
    #[error(
        "state file `{}` is corrupt at line {line}, column {column}: {problem}\n{}",
        path.display(),
        recovery_help(path)
    )]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong, in words.
        problem: String,
    },

    /// The state file was written by a huntbook with another state format.
    #[error(
        "state file `{}` has format version {found}, but this huntbook reads version {supported} \
         (was it written by a newer huntbook?)\n{}",
        path.display(),
        recovery_help(path)
    )]
    UnsupportedVersion {
        /// The state file.
        path: PathBuf,
        /// The version found in the file.
        found: u64,
        /// The version this huntbook reads and writes.
        supported: u64,
    },

    /// The state file names another playbook (copied or renamed by hand).
    #[error(
        "state file `{}` belongs to playbook `{found}`, not `{expected}`\n{}",
        path.display(),
        recovery_help(path)
    )]
    WrongPlaybook {
        /// The state file.
        path: PathBuf,
        /// The playbook named in the file.
        found: String,
        /// The playbook being run.
        expected: String,
    },

    /// Creating, reading or writing a file failed.
    #[error(transparent)]
    Fs(#[from] FsError),

    /// The state could not be encoded (not expected with well-formed keys).
    #[error("cannot encode the state for `{}`: {message}", path.display())]
    Encode {
        /// The state file.
        path: PathBuf,
        /// The encoder's message.
        message: String,
    },
}

impl StateError {
    /// The exit status of a run stopped by this error: 1, like a failed step ("already
    /// running" included, so a scheduler's overlapping start is visible but not mistaken for
    /// an invalid playbook).
    #[must_use]
    pub fn exit_status(&self) -> ExitStatus {
        ExitStatus::Failure
    }

    /// The message and, for a state file that cannot be used, the recovery help, apart (the
    /// report has a field for each; the displayed error puts the help on its own line).
    #[must_use]
    pub fn message_and_help(&self) -> (String, Option<String>) {
        let text = self.to_string();
        match text.split_once("\nhelp: ") {
            Some((message, help)) => (message.to_string(), Some(help.to_string())),
            None => (text, None),
        }
    }
}

/// The state file of `playbook` under `state_dir`.
#[must_use]
pub fn state_path(state_dir: &std::path::Path, playbook: &str) -> PathBuf {
    state_dir.join(format!("{playbook}.json"))
}

/// How to get past a state file that cannot be used. State is never reset silently: losing
/// `last_success` changes which events the next run looks at, so a person decides.
fn recovery_help(path: &std::path::Path) -> String {
    let shown = path.display();
    format!(
        "help: huntbook never resets state by itself; fix the file, or move it aside \
         (`mv '{shown}' '{shown}.bad'`) to start afresh: the next run then has no \
         `state.last_success` (its default lookback applies) and no remembered dedupe keys"
    )
}
