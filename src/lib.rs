//! huntbook runs declarative YAML playbooks against the Microsoft Defender XDR APIs and the
//! Microsoft Graph security API: authenticate, hunt with KQL, filter with JSONPath, act on
//! incidents and machines, and render reports — safely, and testably offline against a
//! faithful local emulator.
//!
//! The pipeline: [`playbook`] loads and validates a file into a checked model (no network);
//! `engine` runs it through one shared HTTP client and token store ([`auth`], [`api`]);
//! [`emulator`] serves a local Microsoft identity platform + Defender + Graph for tests and
//! `--emulator` runs. [`cli`] and [`commands`] are the edge: the only places that print.

pub mod api;
pub mod auth;
pub mod cli;
pub mod commands;
pub mod diag;
pub mod emulator;
pub mod engine;
pub mod exit;
pub mod fsutil;
pub mod jsonpath;
pub mod playbook;
pub mod redact;
pub mod rows;
pub mod schema;
pub mod signals;
pub mod source;
pub mod state;
pub mod template;
pub mod testing;
