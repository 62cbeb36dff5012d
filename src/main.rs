//! The `huntbook` binary: parse the command line, dispatch, exit with the command's status.
//! Everything else lives in the library so tests can drive it directly.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Usage errors are exit 2 (playbook language §8), which is also clap's own code.
    let cli = huntbook::cli::Cli::parse();
    huntbook::cli::run(cli).into()
}
