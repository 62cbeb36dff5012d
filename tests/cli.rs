//! Command-line tests: the real `huntbook` binary, every language command and its exit codes,
//! the diagnostics of every broken playbook under `tests/fixtures/invalid/` (insta snapshots
//! in `tests/snapshots/`), the examples, the JSON Schema, and the RFC 9535 compliance suite.

mod cli {
    pub mod common;
    mod examples;
    mod jsonpath;
    mod misc;
    mod plan;
    mod schema;
    mod validate;
}
