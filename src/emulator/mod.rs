//! A faithful local emulator of the Microsoft identity platform, the Defender XDR API, the
//! Defender for Endpoint API and the Microsoft Graph security API — the test bed of every
//! huntbook feature and the engine of `huntbook run --emulator`. See `docs/emulator.md`.
//!
//! One port serves every host: identity paths start with `/{tenant}/`, Graph with `/v1.0` or
//! `/beta`, Defender XDR and Defender for Endpoint with `/api/`, and emulator-only controls with
//! `/_emulator/`.
//!
//! Module owners: `server`, `identity`, `gate`, `limits`, `faults`, `tls` (server and identity);
//! `api` and `data` (tenant APIs and data files); `hunting` (KQL engine and hunting tables);
//! `world`, `rng`, `error`, `principal`, `directory`, `state` are shared.

pub mod api;
pub mod data;
pub mod directory;
pub mod error;
pub mod faults;
pub mod gate;
pub mod hunting;
pub mod identity;
pub mod limits;
pub mod principal;
pub mod rng;
pub mod server;
pub mod state;
pub mod tls;
pub mod world;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use error::{ApiError, ApiFamily, EmuError};
pub use server::{AppInfo, Emulator, EmulatorHandle, EmulatorInfo, UserInfo};
pub use state::EmuState;

/// Everything `huntbook emulator`'s flags (and in-process tests) can set.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Serve HTTPS with a self-signed certificate generated at start.
    pub tls: bool,
    /// Seed of the synthetic tenant and of probabilistic faults.
    pub seed: u64,
    /// Rows per advanced-hunting table.
    pub rows: usize,
    /// A loaded `--data` tenant description.
    pub data: Option<data::TenantData>,
    /// Lifetime of issued access tokens.
    pub token_lifetime: Duration,
    /// Fault injection.
    pub faults: faults::FaultSpec,
    /// Rate limits.
    pub limits: limits::LimitsSpec,
    /// How long a machine action stays `Pending`, then `InProgress`, before it ends.
    pub action_step: Duration,
    /// Approve device-code sign-ins automatically after this many polls (`None`: only through
    /// the emulator-only approval endpoint).
    pub device_code_auto_approve: Option<u32>,
    /// The device-code polling `interval` the emulator announces and enforces (`slow_down`
    /// when polled faster), in whole seconds (rounded up). Zero announces 0 and enforces
    /// nothing, for fast tests (huntbook's client still polls at most once a second unless the
    /// run lowers its floor: `HUNTBOOK_DEVICE_CODE_MIN_INTERVAL`).
    pub device_code_interval: Duration,
    /// How long a device code stays valid (`expires_in`).
    pub device_code_lifetime: Duration,
    /// Folder for generated files (certificates, keys). `None`: a temporary folder that lives as
    /// long as the emulator.
    pub work_dir: Option<PathBuf>,
    /// "Now" of the synthetic data set; `None`: the start time.
    pub anchor: Option<DateTime<Utc>>,
    /// Log one line per request (method, path, status, time) through `tracing` at `info`.
    /// Never headers or bodies: they carry tokens and secrets.
    pub log_requests: bool,
    /// Limits of advanced-hunting queries (timeout, rows, result size, lookback).
    pub hunting: hunting::HuntingLimits,
}

impl Default for EmulatorConfig {
    fn default() -> EmulatorConfig {
        EmulatorConfig {
            port: 0,
            tls: false,
            seed: 1,
            rows: 2000,
            data: None,
            token_lifetime: Duration::from_secs(3599),
            faults: faults::FaultSpec::default(),
            limits: limits::LimitsSpec::default(),
            action_step: Duration::from_secs(2),
            device_code_auto_approve: Some(2),
            device_code_interval: Duration::from_secs(5),
            device_code_lifetime: Duration::from_secs(900),
            work_dir: None,
            anchor: None,
            log_requests: false,
            hunting: hunting::HuntingLimits::default(),
        }
    }
}

/// Where the emulator answers. Every field is the same `scheme://127.0.0.1:port` base today,
/// but clients must treat them as independent hosts, as they are in a real cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorUrls {
    pub base: String,
    pub login_url: String,
    pub graph_url: String,
    pub defender_url: String,
    pub endpoint_url: String,
}

impl EmulatorUrls {
    /// All hosts on one base URL (no trailing slash).
    #[must_use]
    pub fn on(base: &str) -> EmulatorUrls {
        let base = base.trim_end_matches('/').to_string();
        EmulatorUrls {
            login_url: base.clone(),
            graph_url: base.clone(),
            defender_url: base.clone(),
            endpoint_url: base.clone(),
            base,
        }
    }
}
