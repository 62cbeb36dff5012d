//! Incidents, alerts, machines and machine actions: the Graph security API, the Defender XDR
//! API and the Defender for Endpoint API over the synthetic tenant. (Skeleton.)

use std::sync::Arc;

use axum::Router;

use super::state::EmuState;
use super::world::World;
use super::{EmuError, EmulatorConfig};

/// The tenant's mutable objects: incidents, alerts, machines, machine actions.
#[derive(Debug)]
pub struct TenantStore {}

impl TenantStore {
    /// # Errors
    /// When the data file's incidents are invalid.
    pub fn new(_config: &EmulatorConfig, _world: &World) -> Result<TenantStore, EmuError> {
        Ok(TenantStore {})
    }
}

/// Routes under `/v1.0/security`, `/beta/security` and `/api/…` (except hunting).
pub fn router() -> Router<Arc<EmuState>> {
    Router::new()
}
