//! Advanced hunting: the synthetic tables, the KQL engine and the three hunting endpoints.

pub mod kql;
pub mod schema;

use std::sync::Arc;

use axum::Router;

use super::state::EmuState;
use super::world::World;
use super::{EmuError, EmulatorConfig};

/// The hunting tables of the synthetic tenant.
#[derive(Debug)]
pub struct HuntingStore {}

impl HuntingStore {
    /// # Errors
    /// When the data file's table rows do not fit the tables' schemas.
    pub fn new(_config: &EmulatorConfig, _world: &World) -> Result<HuntingStore, EmuError> {
        Ok(HuntingStore {})
    }
}

/// `POST /v1.0/security/runHuntingQuery`, `/beta/…`, `/api/advancedhunting/run`,
/// `/api/advancedqueries/run`.
pub fn router() -> Router<Arc<EmuState>> {
    Router::new()
}
