//! `--data FILE`: a tenant description (apps, users, devices, people, incidents, hunting-table
//! rows) in JSON or YAML, validated with clear errors.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::EmuError;
use super::directory::{AppSpec, UserSpec};
use super::world::{Device, Person, World};

/// A tenant description. Every part is optional; what is given replaces the generated default.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantData {
    #[serde(default)]
    pub apps: Option<Vec<AppSpec>>,
    #[serde(default)]
    pub users: Option<Vec<UserSpec>>,
    #[serde(default)]
    pub devices: Option<Vec<Device>>,
    #[serde(default)]
    pub people: Option<Vec<Person>>,
    /// Incidents in the Graph incident shape (with `alerts`), validated by the tenant store.
    #[serde(default)]
    pub incidents: Option<Vec<serde_json::Value>>,
    /// Rows per hunting table, keyed by table name; each row maps column name to value.
    #[serde(default)]
    pub tables: BTreeMap<String, Vec<serde_json::Map<String, serde_json::Value>>>,
}

impl TenantData {
    /// Replace the world's cast with the file's devices and people, where given.
    #[must_use]
    pub fn apply_to_world(&self, world: World) -> World {
        world.with_cast(self.devices.clone(), self.people.clone())
    }
}

/// Load and validate a data file.
///
/// # Errors
/// When the file cannot be read or does not describe a tenant.
pub fn load(path: &Path) -> Result<TenantData, EmuError> {
    let text = std::fs::read_to_string(path).map_err(|source| EmuError::Io {
        path: path.display().to_string(),
        source,
    })?;
    serde_saphyr::from_str(&text).map_err(|e| EmuError::Data(format!("{}: {e}", path.display())))
}
