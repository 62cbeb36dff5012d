//! `huntbook plan`.

use crate::cli::{GlobalArgs, PlanArgs};
use crate::exit::ExitStatus;

/// Entry point of `huntbook plan` (not built yet: reports so and exits 2).
#[must_use]
pub fn run(_args: &PlanArgs, _global: &GlobalArgs) -> ExitStatus {
    eprintln!("error: `huntbook plan` is not available in this build yet");
    ExitStatus::Invalid
}
