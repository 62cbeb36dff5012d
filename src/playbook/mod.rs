//! The playbook language: loading YAML ([`load`], [`yaml`]), validation ([`check`]) into the
//! checked model ([`model`]) the engine runs, the JSON Schema description of the format
//! ([`raw`], [`schema`]) and the static plan ([`plan`]).

pub mod check;
pub mod enums;
pub mod inputs;
pub mod keys;
pub mod load;
pub mod model;
pub mod plan;
pub mod raw;
pub mod yaml;

pub use load::{Loaded, MAX_FILE_SIZE, load_file, load_str};
pub use model::*;
