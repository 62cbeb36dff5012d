//! `huntbook run` end to end, through the real binary: exit codes, stdout purity, the report
//! file, JSON logs, guards and state (offline); and, against the in-process emulator, every
//! step kind, authentication, throttling, faults, the preflight, injection and secrets.

#[path = "run/actions.rs"]
mod actions;
#[path = "run/common.rs"]
mod common;
#[path = "run/emulator.rs"]
mod emulator;
#[path = "run/offline.rs"]
mod offline;
#[path = "run/scheduled.rs"]
mod scheduled;
#[path = "run/security.rs"]
mod security;
