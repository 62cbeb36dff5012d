//! `huntbook emulator`.

use crate::cli::{EmulatorArgs, GlobalArgs};
use crate::exit::ExitStatus;

/// Entry point of `huntbook emulator` (not built yet: reports so and exits 2).
#[must_use]
pub fn run(_args: &EmulatorArgs, _global: &GlobalArgs) -> ExitStatus {
    eprintln!("error: `huntbook emulator` is not available in this build yet");
    ExitStatus::Invalid
}
