//! The shared state of a running emulator, handed to every axum handler as
//! `State<Arc<EmuState>>`. Each part is owned by its module and guards its own mutability.

use chrono::{DateTime, Utc};

use super::api::TenantStore;
use super::faults::Faults;
use super::hunting::HuntingStore;
use super::identity::IdentityState;
use super::limits::Limiter;
use super::world::World;
use super::{EmuError, EmulatorConfig, EmulatorUrls};

/// Everything a running emulator knows.
#[derive(Debug)]
pub struct EmuState {
    pub config: EmulatorConfig,
    pub urls: EmulatorUrls,
    pub started_at: DateTime<Utc>,
    pub world: World,
    pub identity: IdentityState,
    pub tenant: TenantStore,
    pub hunting: HuntingStore,
    pub limits: Limiter,
    pub faults: Faults,
}

impl EmuState {
    /// Build the state for a server that will answer on `urls`.
    ///
    /// # Errors
    /// When the data file's contents, the fault or limit specification, or key generation fail.
    pub fn new(config: EmulatorConfig, urls: EmulatorUrls) -> Result<EmuState, EmuError> {
        let started_at = Utc::now();
        let anchor = config.anchor.unwrap_or(started_at);
        let mut world = World::generate(config.seed, anchor);
        if let Some(data) = &config.data {
            world = data.apply_to_world(world);
        }
        let identity = IdentityState::new(&config, &world, &urls)?;
        let tenant = TenantStore::new(&config, &world)?;
        let hunting = HuntingStore::new(&config, &world)?;
        let limits = Limiter::new(&config.limits);
        let faults = Faults::new(&config.faults, config.seed);
        Ok(EmuState {
            config,
            urls,
            started_at,
            world,
            identity,
            tenant,
            hunting,
            limits,
            faults,
        })
    }
}
