//! How a case's run reaches its emulator: the environment that points a run at it (endpoint
//! URLs and the demo credentials, as `huntbook run --emulator` sets them) and the connection
//! the engine sends its calls through. The runner only sees the [`Backend`] trait, so its
//! unit tests run cases through a scripted connection, and the command wires the real one.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::emulator::EmulatorHandle;
use crate::emulator::server::EmulatorInfo;
use crate::engine::Connection;

/// Where a case's calls go.
pub trait Backend: Send + Sync {
    /// The run's environment for a run against `emulator`, signed in as the registered app
    /// named `app`.
    ///
    /// # Errors
    /// When the emulator has no such app.
    fn environment(
        &self,
        emulator: &EmulatorHandle,
        app: &str,
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
        emulator: &EmulatorHandle,
        app: &str,
    ) -> Result<BTreeMap<String, String>, String> {
        environment(emulator.info(), app)
    }

    fn connect(
        &self,
        _emulator: &EmulatorHandle,
        _env: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Connection>, String> {
        Err(NOT_WIRED.to_string())
    }
}

/// The environment that points a run at an emulator and signs it in as its app `app`: the
/// endpoint overrides, the tenant, the app's client id and its secret or certificate, and —
/// for a public client (user sign-in) — the first enabled user's name and password.
///
/// # Errors
/// When the emulator has no app of that name (the message lists those it has).
pub fn environment(info: &EmulatorInfo, app: &str) -> Result<BTreeMap<String, String>, String> {
    let Some(a) = info.app(app) else {
        let names: Vec<String> = info.apps.iter().map(|a| format!("`{}`", a.name)).collect();
        return Err(format!(
            "the emulator has no app `{app}` (its apps: {})",
            names.join(", ")
        ));
    };
    let mut env = BTreeMap::new();
    for (k, v) in [
        ("HUNTBOOK_LOGIN_URL", &info.login_url),
        ("HUNTBOOK_GRAPH_URL", &info.graph_url),
        ("HUNTBOOK_API_URL", &info.defender_url),
        ("HUNTBOOK_ENDPOINT_URL", &info.endpoint_url),
        ("AZURE_TENANT_ID", &info.tenant_id),
        ("AZURE_CLIENT_ID", &a.client_id),
    ] {
        env.insert(k.to_string(), v.clone());
    }
    if let Some(secret) = &a.client_secret {
        env.insert("AZURE_CLIENT_SECRET".to_string(), secret.clone());
    }
    if let Some(path) = &a.certificate_path {
        env.insert(
            "AZURE_CLIENT_CERTIFICATE_PATH".to_string(),
            path.display().to_string(),
        );
    }
    if a.public_client
        && let Some(user) = info.users.iter().find(|u| !u.disabled)
    {
        env.insert("AZURE_USERNAME".to_string(), user.username.clone());
        env.insert("AZURE_PASSWORD".to_string(), user.password.clone());
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_environment_points_at_the_emulator_and_signs_in_as_the_app() {
        let emu = crate::emulator::Emulator::start(crate::emulator::EmulatorConfig::default())
            .await
            .unwrap();
        let info = emu.info();
        let env = environment(info, "huntbook-demo").unwrap();
        assert_eq!(env["HUNTBOOK_GRAPH_URL"], info.graph_url);
        assert_eq!(env["AZURE_TENANT_ID"], info.tenant_id);
        let demo = info.app("huntbook-demo").unwrap();
        assert_eq!(env["AZURE_CLIENT_ID"], demo.client_id);
        assert_eq!(
            Some(&env["AZURE_CLIENT_SECRET"]),
            demo.client_secret.as_ref()
        );
        assert!(!env.contains_key("AZURE_PASSWORD"));
        let cli = environment(info, "huntbook-cli").unwrap();
        assert!(!cli.contains_key("AZURE_CLIENT_SECRET"));
        assert!(cli.contains_key("AZURE_USERNAME") && cli.contains_key("AZURE_PASSWORD"));
        let e = environment(info, "nope").unwrap_err();
        assert!(
            e.contains("no app `nope`") && e.contains("`huntbook-readonly`"),
            "{e}"
        );
    }
}
