//! `huntbook jsonpath`.

use crate::cli::{GlobalArgs, JsonpathArgs};
use crate::exit::ExitStatus;

/// Entry point of `huntbook jsonpath` (not built yet: reports so and exits 2).
#[must_use]
pub fn run(_args: &JsonpathArgs, _global: &GlobalArgs) -> ExitStatus {
    eprintln!("error: `huntbook jsonpath` is not available in this build yet");
    ExitStatus::Invalid
}
