//! `huntbook schema`: print the JSON Schema of the playbook format (the same text as the
//! committed `schemas/playbook.schema.json`, which a test keeps in sync), or with
//! `--test-file` that of playbook test files (`schemas/playbook-test.schema.json`).

use std::io::Write as _;

use crate::cli::{GlobalArgs, SchemaArgs};
use crate::exit::ExitStatus;

/// Entry point of `huntbook schema`.
#[must_use]
pub fn run(args: &SchemaArgs, _global: &GlobalArgs) -> ExitStatus {
    let schema = if args.test_file {
        crate::testing::schema::schema_json()
    } else {
        crate::playbook::raw::schema_json()
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(schema.as_bytes()) {
        Ok(()) => ExitStatus::Success,
        // A closed pipe (`huntbook schema | head`) is not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(e) => {
            eprintln!("error: cannot write the schema: {e}");
            ExitStatus::Failure
        }
    }
}
