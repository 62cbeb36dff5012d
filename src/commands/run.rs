//! `huntbook run`.

use crate::cli::{GlobalArgs, RunArgs};
use crate::exit::ExitStatus;

/// Entry point of `huntbook run` (not built yet: reports so and exits 2).
#[must_use]
pub fn run(_args: &RunArgs, _global: &GlobalArgs) -> ExitStatus {
    eprintln!("error: `huntbook run` is not available in this build yet");
    ExitStatus::Invalid
}
