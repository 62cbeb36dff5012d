//! How a case's run reaches its emulator: the environment that points a run at it (endpoint
//! URLs and the demo credentials, as `huntbook run --emulator` sets them) and the connection
//! the engine sends its calls through. The runner only sees the [`Backend`] trait, so its
//! unit tests run cases through a scripted connection, and the command wires the real one.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::emulator::EmulatorHandle;
use crate::engine::Connection;

/// Where a case's calls go.
pub trait Backend: Send + Sync {
    /// The run's environment for a run against `emulator`, signed in as the registered app
    /// named `app` (`None`: the emulator's demo app).
    ///
    /// # Errors
    /// When the emulator has no such app, or cannot describe its credentials.
    fn environment(
        &self,
        emulator: &EmulatorHandle,
        app: Option<&str>,
    ) -> Result<BTreeMap<String, String>, String>;

    /// The connection for a run against `emulator` with environment `env`.
    ///
    /// # Errors
    /// When the environment does not describe a usable connection.
    fn connect(
        &self,
        emulator: &EmulatorHandle,
        env: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Connection>, String>;
}

/// The production backend: the emulator's endpoints and demo credentials, and the engine's
/// HTTP connection.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmulatorBackend;

/// Why the production backend cannot run a case in this build.
const NOT_WIRED: &str = "this build cannot run playbook tests end to end yet: the emulator's \
identity platform (demo credentials) and the engine's HTTP connection have not been merged in; \
cases whose every API step has a fixture still need them to sign in";

impl Backend for EmulatorBackend {
    fn environment(
        &self,
        _emulator: &EmulatorHandle,
        _app: Option<&str>,
    ) -> Result<BTreeMap<String, String>, String> {
        Err(NOT_WIRED.to_string())
    }

    fn connect(
        &self,
        _emulator: &EmulatorHandle,
        _env: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Connection>, String> {
        Err(NOT_WIRED.to_string())
    }
}
