//! The playbook language: loading YAML, the raw and the checked model, validation.

pub mod yaml;
