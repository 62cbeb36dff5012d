//! `huntbook test`.

use crate::cli::{GlobalArgs, TestArgs};
use crate::exit::ExitStatus;

/// Entry point of `huntbook test` (not built yet: reports so and exits 2).
#[must_use]
pub fn run(_args: &TestArgs, _global: &GlobalArgs) -> ExitStatus {
    eprintln!("error: `huntbook test` is not available in this build yet");
    ExitStatus::Invalid
}
