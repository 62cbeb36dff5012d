//! The playbook language: loading YAML, the raw and the checked model, validation.
//! (Skeleton: filled in by the language-core work.)
