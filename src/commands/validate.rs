//! `huntbook validate`.

use crate::cli::{GlobalArgs, ValidateArgs};
use crate::exit::ExitStatus;

/// Entry point of `huntbook validate` (not built yet: reports so and exits 2).
#[must_use]
pub fn run(_args: &ValidateArgs, _global: &GlobalArgs) -> ExitStatus {
    eprintln!("error: `huntbook validate` is not available in this build yet");
    ExitStatus::Invalid
}
