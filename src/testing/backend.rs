//! How a case's run reaches its emulator: the environment that points a run at it (endpoint
//! URLs and credentials, set exactly as `huntbook run --emulator` sets them) and the
//! connection the engine sends its calls through (the engine's live connection). The runner
//! only sees the [`Backend`] trait, so its unit tests can run cases through scripted
//! connections.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::emulator::EmulatorHandle;
use crate::emulator::directory::DEMO_APP;
use crate::engine::Connection;

/// Where a case's calls go.
pub trait Backend: Send + Sync {
    /// The connection for a run against `emulator`, signed in as its registered app named
    /// `app`. `env` holds the case's own variables; the backend adds what points the run at
    /// the emulator (without replacing what the case set).
    ///
    /// # Errors
    /// When the emulator has no such app, or the connection cannot be set up.
    fn connect(
        &self,
        emulator: &EmulatorHandle,
        app: &str,
        env: &mut BTreeMap<String, String>,
    ) -> Result<Arc<dyn Connection>, String>;
}

/// The production backend: the emulator's endpoints and credentials, and the engine's live
/// HTTP connection (retries, pacing, token store — everything a real run goes through).
#[derive(Debug, Default, Clone, Copy)]
pub struct EmulatorBackend;

impl Backend for EmulatorBackend {
    fn connect(
        &self,
        emulator: &EmulatorHandle,
        app: &str,
        env: &mut BTreeMap<String, String>,
    ) -> Result<Arc<dyn Connection>, String> {
        let info = emulator.info();
        let Some(a) = info.app(app) else {
            let names: Vec<String> = info.apps.iter().map(|a| format!("`{}`", a.name)).collect();
            return Err(format!(
                "the emulator has no app `{app}` (its apps: {})",
                names.join(", ")
            ));
        };
        if app != DEMO_APP {
            // Another app's credentials, in place of the demo application's (an empty value
            // counts as unset, so the demo secret cannot sneak in beside a certificate).
            let mut set = |k: &str, v: String| {
                env.entry(k.to_string()).or_insert(v);
            };
            set("AZURE_CLIENT_ID", a.client_id.clone());
            set(
                "AZURE_CLIENT_SECRET",
                a.client_secret.clone().unwrap_or_default(),
            );
            if let Some(path) = &a.certificate_path {
                set("AZURE_CLIENT_CERTIFICATE_PATH", path.display().to_string());
            }
        }
        let user_client = crate::commands::run::emulator_environment(info, env);
        // Nobody watches a test: the emulator approves device-code sign-ins by itself.
        let prompt: crate::auth::PromptFn = Arc::new(|_: &crate::auth::DeviceCodePrompt| {});
        let live = crate::engine::live::Live::new(
            env.clone(),
            crate::api::ClientOptions::default(),
            Some(prompt),
        )?
        .with_user_client_id(user_client);
        Ok(Arc::new(live))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_environment_points_at_the_emulator_and_signs_in_as_the_app() {
        let emu = crate::emulator::Emulator::start(crate::emulator::EmulatorConfig::default())
            .await
            .unwrap();
        let info = emu.info().clone();
        let mut env = BTreeMap::new();
        EmulatorBackend
            .connect(&emu, "huntbook-demo", &mut env)
            .unwrap();
        assert_eq!(env["HUNTBOOK_GRAPH_URL"], info.graph_url);
        assert_eq!(env["AZURE_TENANT_ID"], info.tenant_id);
        let demo = info.app("huntbook-demo").unwrap();
        assert_eq!(env["AZURE_CLIENT_ID"], demo.client_id);
        assert_eq!(
            Some(&env["AZURE_CLIENT_SECRET"]),
            demo.client_secret.as_ref()
        );
        let mut env = BTreeMap::new();
        EmulatorBackend
            .connect(&emu, "huntbook-readonly", &mut env)
            .unwrap();
        let ro = info.app("huntbook-readonly").unwrap();
        assert_eq!(env["AZURE_CLIENT_ID"], ro.client_id);
        assert_eq!(Some(&env["AZURE_CLIENT_SECRET"]), ro.client_secret.as_ref());
        let mut env = BTreeMap::new();
        EmulatorBackend
            .connect(&emu, "huntbook-cert", &mut env)
            .unwrap();
        assert_eq!(env["AZURE_CLIENT_SECRET"], "");
        assert!(env.contains_key("AZURE_CLIENT_CERTIFICATE_PATH"));
        // The case's own settings win.
        let mut env = BTreeMap::from([("AZURE_TENANT_ID".to_string(), "mine".to_string())]);
        EmulatorBackend
            .connect(&emu, "huntbook-demo", &mut env)
            .unwrap();
        assert_eq!(env["AZURE_TENANT_ID"], "mine");
        let e = EmulatorBackend
            .connect(&emu, "nope", &mut BTreeMap::new())
            .err()
            .unwrap();
        assert!(
            e.contains("no app `nope`") && e.contains("`huntbook-readonly`"),
            "{e}"
        );
    }
}
