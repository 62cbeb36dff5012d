//! The Microsoft identity platform: token, device-code and discovery endpoints, signing keys,
//! registered apps and users. (Skeleton: filled in by the identity work.)

use std::sync::Arc;

use axum::Router;

use super::state::EmuState;
use super::world::World;
use super::{EmuError, EmulatorConfig, EmulatorUrls};

/// Keys, registrations and flow state of the identity platform.
#[derive(Debug)]
pub struct IdentityState {}

impl IdentityState {
    /// # Errors
    /// When key or certificate generation fails.
    pub fn new(
        _config: &EmulatorConfig,
        _world: &World,
        _urls: &EmulatorUrls,
    ) -> Result<IdentityState, EmuError> {
        Ok(IdentityState {})
    }
}

/// Routes under `/{tenant}/…` and `/_emulator/…`.
pub fn router() -> Router<Arc<EmuState>> {
    Router::new()
}
