//! `huntbook completions SHELL`: shell completion scripts generated from the clap definition.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, GlobalArgs};
use crate::exit::ExitStatus;

/// Print the completion script for the requested shell on stdout.
#[must_use]
pub fn run(args: &CompletionsArgs, _global: &GlobalArgs) -> ExitStatus {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "huntbook", &mut std::io::stdout());
    ExitStatus::Success
}
