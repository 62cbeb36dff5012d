//! The single table of process exit codes (playbook language §8, `docs/errors.md`).

use std::process::ExitCode;

/// How a huntbook command ended. Every command returns one of these; `main` turns it into the
/// process exit code, so the numbers live here and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// 0: everything succeeded.
    Success,
    /// 1: a step failed at run time (or a test case failed, or the run was locked).
    Failure,
    /// 2: invalid playbook, input or usage; nothing ran.
    Invalid,
    /// 3: an `assert` step failed.
    AssertFailed,
    /// 4: authentication or permission failure.
    AuthFailed,
    /// 130: interrupted by SIGINT.
    Interrupted,
    /// 143: terminated by SIGTERM.
    Terminated,
}

impl ExitStatus {
    /// The numeric process exit code.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Invalid => 2,
            ExitStatus::AssertFailed => 3,
            ExitStatus::AuthFailed => 4,
            ExitStatus::Interrupted => 130,
            ExitStatus::Terminated => 143,
        }
    }

    /// The more severe of two statuses, for commands that aggregate several results
    /// (e.g. `validate a.yaml b.yaml`).
    #[must_use]
    pub fn worst(self, other: ExitStatus) -> ExitStatus {
        fn rank(s: ExitStatus) -> u8 {
            match s {
                ExitStatus::Success => 0,
                ExitStatus::AssertFailed => 1,
                ExitStatus::Failure => 2,
                ExitStatus::AuthFailed => 3,
                ExitStatus::Invalid => 4,
                ExitStatus::Terminated => 5,
                ExitStatus::Interrupted => 6,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_the_language_document() {
        assert_eq!(ExitStatus::Success.code(), 0);
        assert_eq!(ExitStatus::Failure.code(), 1);
        assert_eq!(ExitStatus::Invalid.code(), 2);
        assert_eq!(ExitStatus::AssertFailed.code(), 3);
        assert_eq!(ExitStatus::AuthFailed.code(), 4);
        assert_eq!(ExitStatus::Interrupted.code(), 130);
        assert_eq!(ExitStatus::Terminated.code(), 143);
    }

    #[test]
    fn worst_prefers_invalid_over_failure() {
        assert_eq!(
            ExitStatus::Failure.worst(ExitStatus::Invalid),
            ExitStatus::Invalid
        );
        assert_eq!(
            ExitStatus::Invalid.worst(ExitStatus::Success),
            ExitStatus::Invalid
        );
    }
}
