//! `huntbook auth`.

use crate::cli::{AuthArgs, GlobalArgs};
use crate::exit::ExitStatus;

/// Entry point of `huntbook auth` (not built yet: reports so and exits 2).
#[must_use]
pub fn run(_args: &AuthArgs, _global: &GlobalArgs) -> ExitStatus {
    eprintln!("error: `huntbook auth` is not available in this build yet");
    ExitStatus::Invalid
}
