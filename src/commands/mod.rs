//! One file per subcommand. Each takes its parsed arguments and returns an [`ExitStatus`];
//! they are the only places (besides `output`) that print.
//!
//! [`ExitStatus`]: crate::exit::ExitStatus

pub mod auth;
pub mod completions;
pub mod emulator;
pub mod jsonpath;
pub mod plan;
pub mod run;
pub mod schema;
pub mod test;
pub mod validate;
