//! `huntbook schema`: print the JSON Schema of the playbook format (the same text as the
//! committed `schemas/playbook.schema.json`, which a test keeps in sync).

use std::io::Write as _;

use crate::cli::{GlobalArgs, SchemaArgs};
use crate::exit::ExitStatus;

/// Entry point of `huntbook schema`.
#[must_use]
pub fn run(args: &SchemaArgs, _global: &GlobalArgs) -> ExitStatus {
    if args.test_file {
        // The test-file format belongs to `huntbook test`, which is not built yet.
        eprintln!("error: the schema of playbook test files is not available in this build yet");
        return ExitStatus::Invalid;
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(crate::playbook::raw::schema_json().as_bytes()) {
        Ok(()) => ExitStatus::Success,
        // A closed pipe (`huntbook schema | head`) is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(e) => {
            eprintln!("error: cannot write the schema: {e}");
            ExitStatus::Failure
        }
    }
}
