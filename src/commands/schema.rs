//! `huntbook schema`.

use crate::cli::{GlobalArgs, SchemaArgs};
use crate::exit::ExitStatus;

/// Entry point of `huntbook schema` (not built yet: reports so and exits 2).
#[must_use]
pub fn run(_args: &SchemaArgs, _global: &GlobalArgs) -> ExitStatus {
    eprintln!("error: `huntbook schema` is not available in this build yet");
    ExitStatus::Invalid
}
