//! The Microsoft identity platform: token, device-code and discovery endpoints, signing keys,
//! registered apps and users, and the emulator-only controls (approve a device code, revoke
//! tokens, set faults).
//!
//! Flow state (device codes, refresh tokens, used assertion ids, revocations) lives behind one
//! mutex: every critical section is a few map operations with no `.await` inside.

pub mod access;
mod client_auth;
mod control;
pub mod device;
mod discovery;
pub mod error;
pub mod keys;
pub mod scope;
mod token;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};

use super::directory::{AppSpec, Directory, Resource, UserSpec};
use super::state::EmuState;
use super::world::{TENANT_DOMAIN, World};
use super::{EmuError, EmulatorConfig, EmulatorUrls};
pub use access::TokenRejection;
pub use control::ControlError;
use device::DeviceStore;
pub use error::EntraError;
use keys::{ClientCertificate, SigningKey};

/// Which token endpoint was called: it decides the shape of the response and of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenVersion {
    /// `/{tenant}/oauth2/token`: `resource=`, string numbers, v1 claims.
    V1,
    /// `/{tenant}/oauth2/v2.0/token`: `scope=`, v2 claims.
    V2,
}

/// A refresh token the emulator issued.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub client_id: String,
    pub username: String,
    /// Issue sequence number, compared with revocations.
    pub seq: u64,
}

/// "Tokens issued up to sequence number `before_seq` are no longer valid", optionally only
/// those of one client or one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub before_seq: u64,
    pub client_id: Option<String>,
    pub username: Option<String>,
}

impl Revocation {
    fn covers(&self, seq: u64, client_id: &str, username: Option<&str>) -> bool {
        seq <= self.before_seq
            && self
                .client_id
                .as_deref()
                .is_none_or(|c| c.eq_ignore_ascii_case(client_id))
            && self
                .username
                .as_deref()
                .is_none_or(|u| username.is_some_and(|n| n.eq_ignore_ascii_case(u)))
    }
}

#[derive(Default)]
pub(crate) struct Flows {
    pub devices: DeviceStore,
    pub refresh: HashMap<String, RefreshGrant>,
    /// Client-assertion ids already redeemed, per client, with the assertion's `exp` (after
    /// which the id may be forgotten: an expired assertion is refused anyway).
    pub jtis: HashMap<(String, String), i64>,
    pub revocations: Vec<Revocation>,
}

// Counts only: refresh tokens and device codes are credentials.
impl std::fmt::Debug for Flows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flows")
            .field("device_codes", &self.devices.by_device_code.len())
            .field("refresh_tokens", &self.refresh.len())
            .field("used_assertions", &self.jtis.len())
            .field("revocations", &self.revocations)
            .finish()
    }
}

/// Device-code flow settings.
#[derive(Debug, Clone, Copy)]
pub struct DeviceSettings {
    pub expires_in: Duration,
    pub interval: Duration,
    pub auto_approve_after: Option<u32>,
}

/// Where generated files go; a temporary folder is removed when the emulator stops.
#[derive(Debug)]
struct WorkDir {
    path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// Keys, registrations and flow state of the identity platform.
#[derive(Debug)]
pub struct IdentityState {
    /// The tenant (directory) id, `World::tenant_id`.
    pub tenant_id: String,
    /// The tenant's verified domain, accepted in paths in place of the id.
    pub tenant_domain: String,
    login_url: String,
    directory: Directory,
    signing: SigningKey,
    certificates: BTreeMap<String, (ClientCertificate, PathBuf)>,
    work_dir: WorkDir,
    token_lifetime: Duration,
    device: DeviceSettings,
    seq: AtomicU64,
    flows: Mutex<Flows>,
}

impl IdentityState {
    /// Build the registrations (defaults, or the data file's), generate the signing key and
    /// each certificate app's key and certificate, and write the certificates' PEM files.
    ///
    /// # Errors
    /// When the data file's registrations are invalid, or key generation or writing a
    /// certificate file fails.
    pub fn new(
        config: &EmulatorConfig,
        world: &World,
        urls: &EmulatorUrls,
    ) -> Result<IdentityState, EmuError> {
        let data = config.data.as_ref();
        let directory = Directory::with_overrides(
            config.seed,
            data.and_then(|d| d.apps.as_deref()),
            data.and_then(|d| d.users.as_deref()),
        )?;
        let work_dir = match &config.work_dir {
            Some(path) => {
                std::fs::create_dir_all(path).map_err(|source| EmuError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
                WorkDir {
                    path: path.clone(),
                    _temp: None,
                }
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("huntbook-emulator-")
                    .tempdir()
                    .map_err(|source| EmuError::Io {
                        path: std::env::temp_dir().display().to_string(),
                        source,
                    })?;
                WorkDir {
                    path: temp.path().to_path_buf(),
                    _temp: Some(temp),
                }
            }
        };
        let cert_apps: Vec<&AppSpec> = directory.apps.iter().filter(|a| a.certificate).collect();
        // RSA key generation dominates start-up (~50-100 ms a key): run the keys in parallel,
        // and reuse the keys this process already generated for the tenant (each emulator
        // still gets certificates, so a `kid` and thumbprints, of its own).
        let tenant = world.tenant_id.as_str();
        let (signing, certs) = std::thread::scope(|s| {
            let signing = s.spawn(|| SigningKey::for_tenant(tenant));
            let certs: Vec<_> = cert_apps
                .iter()
                .map(|app| s.spawn(|| ClientCertificate::for_tenant(tenant, &app.name)))
                .collect();
            let signing = signing
                .join()
                .unwrap_or_else(|_| Err(EmuError::Crypto("key generation panicked".into())));
            let certs: Vec<Result<ClientCertificate, EmuError>> = certs
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(EmuError::Crypto("key generation panicked".into())))
                })
                .collect();
            (signing, certs)
        });
        let signing = signing?;
        let mut certificates = BTreeMap::new();
        for (app, cert) in cert_apps.iter().zip(certs) {
            let cert = cert?;
            let path = work_dir.path.join(format!("{}.pem", file_stem(&app.name)));
            write_private(&path, cert.pem.as_bytes())?;
            certificates.insert(app.client_id.to_ascii_lowercase(), (cert, path));
        }
        Ok(IdentityState {
            tenant_id: world.tenant_id.clone(),
            tenant_domain: TENANT_DOMAIN.to_string(),
            login_url: urls.login_url.clone(),
            directory,
            signing,
            certificates,
            work_dir,
            token_lifetime: config.token_lifetime,
            device: DeviceSettings {
                expires_in: config.device_code_lifetime,
                interval: config.device_code_interval,
                auto_approve_after: config.device_code_auto_approve,
            },
            seq: AtomicU64::new(0),
            flows: Mutex::new(Flows::default()),
        })
    }

    /// The registered apps and users.
    #[must_use]
    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    /// The folder holding generated files (certificates, the TLS CA).
    #[must_use]
    pub fn work_dir(&self) -> &Path {
        &self.work_dir.path
    }

    /// The PEM file (certificate + private key) of a certificate app.
    #[must_use]
    pub fn certificate_path(&self, client_id: &str) -> Option<&Path> {
        self.certificates
            .get(&client_id.to_ascii_lowercase())
            .map(|(_, p)| p.as_path())
    }

    /// The SHA-1 thumbprint (upper-case hex) of a certificate app's certificate.
    #[must_use]
    pub fn certificate_thumbprint(&self, client_id: &str) -> Option<&str> {
        self.certificates
            .get(&client_id.to_ascii_lowercase())
            .map(|(c, _)| c.thumbprint_hex.as_str())
    }

    pub(crate) fn certificate(&self, client_id: &str) -> Option<&ClientCertificate> {
        self.certificates
            .get(&client_id.to_ascii_lowercase())
            .map(|(c, _)| c)
    }

    /// The base URL of the login host (no trailing slash).
    #[must_use]
    pub fn login_url(&self) -> &str {
        &self.login_url
    }

    /// The v2 token endpoint of the tenant.
    #[must_use]
    pub fn token_url(&self) -> String {
        format!("{}/{}/oauth2/v2.0/token", self.login_url, self.tenant_id)
    }

    /// `iss` of v2 tokens: the login host, the tenant id and `/v2.0`.
    #[must_use]
    pub fn issuer_v2(&self) -> String {
        format!("{}/{}/v2.0", self.login_url, self.tenant_id)
    }

    /// `iss` of v1 tokens, as Entra writes it.
    #[must_use]
    pub fn issuer_v1(&self) -> String {
        format!("https://sts.windows.net/{}/", self.tenant_id)
    }

    /// Device-code settings in force.
    #[must_use]
    pub fn device_settings(&self) -> DeviceSettings {
        self.device
    }

    /// Access-token lifetime.
    #[must_use]
    pub fn token_lifetime(&self) -> Duration {
        self.token_lifetime
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub(crate) fn flows(&self) -> MutexGuard<'_, Flows> {
        // A poisoned lock means a panic mid-update of maps that stay consistent between
        // operations; carry on rather than take the whole emulator down.
        self.flows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next issue sequence number (starts at 1).
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Invalidate every access and refresh token issued so far — or only those of one client
    /// or one user. Returns the sequence number the revocation covers up to.
    pub fn revoke(&self, client_id: Option<&str>, username: Option<&str>) -> u64 {
        let before_seq = self.seq.load(Ordering::SeqCst);
        self.flows().revocations.push(Revocation {
            before_seq,
            client_id: client_id.map(str::to_string),
            username: username.map(str::to_string),
        });
        before_seq
    }

    pub(crate) fn is_revoked(&self, seq: u64, client_id: &str, username: Option<&str>) -> bool {
        self.flows()
            .revocations
            .iter()
            .any(|r| r.covers(seq, client_id, username))
    }

    /// An application token for a registered app, minted without the HTTP round trip — for
    /// tests of API handlers. `None` when no app has this client id or name.
    #[must_use]
    pub fn mint_app_token(&self, app: &str, resource: Resource) -> Option<String> {
        let app = self
            .directory
            .app(app)
            .or_else(|| self.directory.app_named(app))?;
        let grant = access::Grant::application(app, resource, "1", TokenVersion::V2);
        self.issue_access(&grant).ok().map(|t| t.token)
    }

    /// A delegated token for a registered user through a registered app, with all the user's
    /// consented scopes on `resource`. `None` when the app or user is unknown.
    #[must_use]
    pub fn mint_user_token(&self, app: &str, username: &str, resource: Resource) -> Option<String> {
        let app = self
            .directory
            .app(app)
            .or_else(|| self.directory.app_named(app))?;
        let user: &UserSpec = self.directory.user(username)?;
        let scopes = user.scopes.get(&resource).cloned().unwrap_or_default();
        let grant = access::Grant::delegated(app, user, resource, scopes, "0", TokenVersion::V2);
        self.issue_access(&grant).ok().map(|t| t.token)
    }
}

/// A file name from an app's display name.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if stem.is_empty() { "app".into() } else { stem }
}

/// Write a file only its owner can read (0600 from its creation): it holds a private key.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), EmuError> {
    let options = crate::fsutil::AtomicOptions::new().private();
    crate::fsutil::write_atomic_with(path, bytes, &options)
        .map(|_| ())
        .map_err(|e| EmuError::Io {
            path: path.display().to_string(),
            source: e.io,
        })
}

/// Routes under `/{tenant}/…` and `/_emulator/…`.
pub fn router() -> Router<Arc<EmuState>> {
    Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(token::token_v2).fallback(token::wrong_method),
        )
        .route(
            "/{tenant}/oauth2/token",
            post(token::token_v1).fallback(token::wrong_method),
        )
        .route(
            "/{tenant}/oauth2/v2.0/devicecode",
            post(device::devicecode_v2).fallback(token::wrong_method),
        )
        .route(
            "/{tenant}/oauth2/devicecode",
            post(device::devicecode_v1).fallback(token::wrong_method),
        )
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(discovery::openid_configuration_v2),
        )
        .route(
            "/{tenant}/.well-known/openid-configuration",
            get(discovery::openid_configuration_v1),
        )
        .route("/{tenant}/discovery/v2.0/keys", get(discovery::keys))
        .route("/{tenant}/discovery/keys", get(discovery::keys))
        .route("/{tenant}/discovery/instance", get(discovery::instance))
        .merge(control::router())
}

#[cfg(test)]
mod tests {
    use super::access::Grant;
    use super::*;
    use crate::emulator::directory::DEMO_APP;
    use crate::emulator::error::ApiFamily;
    use crate::emulator::{Emulator, EmulatorConfig};

    /// An application token of the demo app for Defender XDR, in the shape of `version`.
    fn token(identity: &IdentityState, version: TokenVersion) -> String {
        let app = identity.directory().app_named(DEMO_APP).unwrap();
        let grant = Grant::application(app, Resource::Defender, "1", version);
        format!("Bearer {}", identity.issue_access(&grant).unwrap().token)
    }

    #[tokio::test]
    async fn a_token_of_one_emulator_is_refused_by_every_other_one() {
        let seed = |seed| EmulatorConfig {
            seed,
            ..EmulatorConfig::default()
        };
        let a = Emulator::start(seed(1)).await.unwrap();
        let twin = Emulator::start(seed(1)).await.unwrap();
        let other = Emulator::start(seed(2)).await.unwrap();
        let (a, twin, other) = (
            &a.state.identity,
            &twin.state.identity,
            &other.state.identity,
        );
        // The same tenant: same id, same apps, same (reused) signing key, its own `kid`.
        assert_eq!(a.tenant_id, twin.tenant_id);
        assert_ne!(a.tenant_id, other.tenant_id);
        assert_eq!(
            a.signing_key().jwk("i")["n"],
            twin.signing_key().jwk("i")["n"]
        );
        assert_ne!(a.signing_key().kid, twin.signing_key().kid);
        // v1 tokens carry the tenant-wide issuer (`https://sts.windows.net/{tid}/`), so the
        // twin's refusal rests on the signing key's `kid`; v2 ones also on the login URL.
        for version in [TokenVersion::V1, TokenVersion::V2] {
            let t = token(a, version);
            assert!(a.authenticate(Some(&t), ApiFamily::Defender).is_ok());
            for (b, name) in [(twin, "twin"), (other, "other tenant")] {
                let refused = b.authenticate(Some(&t), ApiFamily::Defender);
                assert!(
                    matches!(refused, Err(TokenRejection::BadSignature(ref m)) if m.contains("is not one of this tenant's keys")),
                    "{version:?} token accepted by the {name}: {refused:?}"
                );
            }
        }
    }
}
