//! The token store: one credential, one token per audience, fetched on first use, replaced
//! ahead of expiry, single-flight per audience (concurrent steps wait for one request instead of
//! stampeding the token endpoint), and invalidated on a 401 so the client can retry once.

use std::fmt;
use std::path::PathBuf;

use super::TOKEN_CACHE_VAR;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokio::sync::Mutex;

use super::Audience;
use super::cache::{Account, CacheEntry, TokenCache};
use super::certificate::ClientCertificate;
use super::endpoints::{Cloud, Endpoints, EnvVars};
use super::error::AuthError;
use super::flows::{Field, Grant, PollTiming, PromptFn, TokenClient};
use super::token::{AccessToken, TokenInfo};
use crate::api::retry::RetryPolicy;

/// How the caller proves who it is.
pub enum Credential {
    /// Application context: a client secret.
    ClientSecret(SecretString),
    /// Application context: a certificate; a fresh signed assertion per token request.
    Certificate(ClientCertificate),
    /// User context: device-code sign-in, with a refresh-token cache.
    DeviceCode(DeviceCodeLogin),
    /// User context: resource owner password credentials (ROPC). Microsoft discourages it and
    /// it cannot satisfy MFA; it exists for lab tenants and legacy automation.
    Password {
        username: String,
        password: SecretString,
    },
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::ClientSecret(_) => f.write_str("ClientSecret([REDACTED])"),
            Credential::Certificate(c) => f.debug_tuple("Certificate").field(c).finish(),
            Credential::DeviceCode(d) => f.debug_tuple("DeviceCode").field(d).finish(),
            Credential::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"[REDACTED]")
                .finish(),
        }
    }
}

/// Settings of the device-code flow.
#[derive(Clone, Default)]
pub struct DeviceCodeLogin {
    /// Where the refresh token is kept between runs; `None` keeps it in memory only.
    pub cache: Option<TokenCache>,
    /// Shows the code and URL to the user. `None`: never start an interactive sign-in; fail
    /// with "run `huntbook auth login`" when the cache cannot serve (cron).
    pub prompt: Option<PromptFn>,
    /// Polling cadence.
    pub timing: PollTiming,
}

impl fmt::Debug for DeviceCodeLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceCodeLogin")
            .field("cache", &self.cache)
            .field("interactive", &self.prompt.is_some())
            .field("timing", &self.timing)
            .finish()
    }
}

/// Application (daemon) or user (delegated) context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthContext {
    Application,
    User,
}

impl Credential {
    /// The context this credential signs in with.
    #[must_use]
    pub fn context(&self) -> AuthContext {
        match self {
            Credential::ClientSecret(_) | Credential::Certificate(_) => AuthContext::Application,
            Credential::DeviceCode(_) | Credential::Password { .. } => AuthContext::User,
        }
    }
}

/// Everything needed to get tokens.
#[derive(Debug)]
pub struct AuthConfig {
    /// Tenant id or verified domain.
    pub tenant_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// The credential.
    pub credential: Credential,
    /// Hosts and resources.
    pub endpoints: Endpoints,
}

/// The `authenticate` step's fields, before environment fallbacks. Secrets arrive already
/// resolved from their `{env: …}` / `{file: …}` references.
#[derive(Debug, Default)]
pub struct AuthSettings {
    /// `application` (default) or `user`.
    pub user_context: bool,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub certificate: Option<PathBuf>,
    pub certificate_password: Option<SecretString>,
    /// User context: `password` flow instead of device code.
    pub password_flow: bool,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// User context: refresh-token cache file (default: [`TokenCache::default_path`]).
    pub token_cache: Option<PathBuf>,
    pub cloud: Cloud,
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl AuthSettings {
    /// Apply the environment fallbacks (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PATH`, `AZURE_USERNAME`,
    /// `AZURE_PASSWORD`) and the endpoint overrides, load the certificate, and build the
    /// configuration. In application context an explicit secret wins over an explicit
    /// certificate; absent both, `AZURE_CLIENT_SECRET` then `AZURE_CLIENT_CERTIFICATE_PATH`.
    ///
    /// # Errors
    /// Missing settings, a bad endpoint override, an unusable certificate.
    pub fn resolve(self, env: &EnvVars, prompt: Option<PromptFn>) -> Result<AuthConfig, AuthError> {
        let env_get = |k: &str| nonempty(env.get(k).cloned());
        let tenant_id = nonempty(self.tenant_id)
            .or_else(|| env_get("AZURE_TENANT_ID"))
            .ok_or(AuthError::Missing {
                what: "the tenant id",
                hint: "set `tenant_id` or AZURE_TENANT_ID",
            })?;
        let client_id = nonempty(self.client_id)
            .or_else(|| env_get("AZURE_CLIENT_ID"))
            .ok_or(AuthError::Missing {
                what: "the client id",
                hint: "set `client_id` or AZURE_CLIENT_ID",
            })?;
        let endpoints = Endpoints::from_env(self.cloud, env)?;
        let credential = if self.user_context {
            if self.password_flow {
                let username = nonempty(self.username)
                    .or_else(|| env_get("AZURE_USERNAME"))
                    .ok_or(AuthError::Missing {
                        what: "the user name",
                        hint: "set `username` or AZURE_USERNAME for the password flow",
                    })?;
                let password = self
                    .password
                    .or_else(|| env_get("AZURE_PASSWORD").map(SecretString::from))
                    .ok_or(AuthError::Missing {
                        what: "the password",
                        hint: "set `password` (a secret reference) or AZURE_PASSWORD for the password flow",
                    })?;
                tracing::warn!(
                    "the password flow (ROPC) is discouraged by Microsoft and fails for accounts with MFA; prefer the device code flow"
                );
                Credential::Password { username, password }
            } else {
                // The run's environment can move the default cache (`run --emulator` points
                // it into the emulator's throw-away folder so demo sign-ins never land in the
                // user's real cache).
                let cache = self
                    .token_cache
                    .or_else(|| env_get(TOKEN_CACHE_VAR).map(PathBuf::from))
                    .or_else(TokenCache::default_path)
                    .map(TokenCache::new);
                Credential::DeviceCode(DeviceCodeLogin {
                    cache,
                    prompt,
                    timing: PollTiming::for_login(env, &endpoints.login)?,
                })
            }
        } else if let Some(secret) = self.client_secret {
            Credential::ClientSecret(secret)
        } else if let Some(path) = self.certificate {
            Credential::Certificate(ClientCertificate::load(
                &path,
                self.certificate_password.as_ref(),
            )?)
        } else if let Some(secret) = env_get("AZURE_CLIENT_SECRET") {
            Credential::ClientSecret(SecretString::from(secret))
        } else if let Some(path) = env_get("AZURE_CLIENT_CERTIFICATE_PATH") {
            let password = env_get("AZURE_CLIENT_CERTIFICATE_PASSWORD").map(SecretString::from);
            Credential::Certificate(ClientCertificate::load(
                PathBuf::from(path).as_path(),
                password.as_ref(),
            )?)
        } else {
            return Err(AuthError::Missing {
                what: "an application credential",
                hint: "set `client_secret` or `certificate`, or AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH",
            });
        };
        Ok(AuthConfig {
            tenant_id,
            client_id,
            credential,
            endpoints,
        })
    }
}

/// Tuning of the token store.
#[derive(Debug, Clone)]
pub struct TokenStoreOptions {
    /// Replace a token this long before it expires at the most (a tenth of its lifetime when
    /// that is shorter).
    pub max_skew: Duration,
    /// Retries of token requests on network errors, 5xx, 429 and `temporarily_unavailable`.
    pub retry: RetryPolicy,
}

impl Default for TokenStoreOptions {
    fn default() -> TokenStoreOptions {
        TokenStoreOptions {
            max_skew: Duration::from_secs(300),
            retry: RetryPolicy {
                max_attempts: 3,
                max_total_wait: Duration::from_secs(60),
                ..RetryPolicy::default()
            },
        }
    }
}

#[derive(Default)]
struct UserSession {
    refresh_token: Option<SecretString>,
    account: Account,
    cache_checked: bool,
}

/// Holds the credential and one token per audience. `Send + Sync`; share it in an `Arc`.
pub struct TokenStore {
    client: TokenClient,
    config: AuthConfig,
    max_skew: Duration,
    slots: [Mutex<Option<Arc<AccessToken>>>; 3],
    user: Mutex<UserSession>,
    generation: AtomicU64,
    requests: AtomicU64,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field("tenant_id", &self.config.tenant_id)
            .field("client_id", &self.config.client_id)
            .field("credential", &self.config.credential)
            .field("token_requests", &self.token_requests())
            .finish_non_exhaustive()
    }
}

/// The user-flow scopes: the audience's `.default`, plus a refresh token and an ID token.
fn user_scope(endpoints: &Endpoints, audience: Audience) -> String {
    format!(
        "{} offline_access openid profile",
        endpoints.default_scope(audience)
    )
}

fn account_from(grant: &Grant, info: &TokenInfo) -> Account {
    let mut account = Account {
        username: info.user.clone(),
        name: None,
        object_id: info.object_id.clone(),
        tenant_id: info.tenant_id.clone(),
    };
    let claims = grant
        .id_token
        .as_ref()
        .and_then(|t| t.expose_secret().split('.').nth(1).map(str::to_string))
        .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    if let Some(c) = claims {
        let s = |k: &str| c.get(k).and_then(|v| v.as_str()).map(str::to_string);
        account.username = s("preferred_username").or(s("upn")).or(account.username);
        account.name = s("name");
        account.object_id = s("oid").or(account.object_id);
        account.tenant_id = s("tid").or(account.tenant_id);
    }
    account
}

impl TokenStore {
    /// A store using the shared HTTP client for token requests.
    #[must_use]
    pub fn new(http: reqwest::Client, config: AuthConfig) -> TokenStore {
        TokenStore::with_options(http, config, TokenStoreOptions::default())
    }

    /// A store with explicit tuning.
    #[must_use]
    pub fn with_options(
        http: reqwest::Client,
        config: AuthConfig,
        options: TokenStoreOptions,
    ) -> TokenStore {
        TokenStore {
            client: TokenClient {
                http,
                retry: options.retry,
            },
            config,
            max_skew: options.max_skew,
            slots: [Mutex::new(None), Mutex::new(None), Mutex::new(None)],
            user: Mutex::new(UserSession::default()),
            generation: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
    }

    /// Hosts and resources.
    #[must_use]
    pub fn endpoints(&self) -> &Endpoints {
        &self.config.endpoints
    }

    /// The configured tenant.
    #[must_use]
    pub fn tenant_id(&self) -> &str {
        &self.config.tenant_id
    }

    /// The configured client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.config.client_id
    }

    /// Application or user context.
    #[must_use]
    pub fn context(&self) -> AuthContext {
        self.config.credential.context()
    }

    /// How many token requests (including device-code polls' final redemption) were made.
    #[must_use]
    pub fn token_requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The signed-in account (user context), once known.
    pub async fn account(&self) -> Option<Account> {
        let s = self.user.lock().await;
        (s.account != Account::default()).then(|| s.account.clone())
    }

    /// A valid token for the audience: the held one, or a new one when there is none or it is
    /// within the refresh window of expiry. Concurrent callers for one audience share one
    /// request.
    ///
    /// # Errors
    /// Whatever stopped the token request; see [`AuthError`].
    pub async fn token(&self, audience: Audience) -> Result<Arc<AccessToken>, AuthError> {
        let mut slot = self.slots[audience.index()].lock().await;
        if let Some(tok) = slot.as_ref()
            && !tok.needs_refresh(self.max_skew)
        {
            return Ok(tok.clone());
        }
        let fresh = Arc::new(self.fetch(audience, false).await?);
        tracing::debug!(
            audience = %audience,
            expires_at = %fresh.expires_at,
            generation = fresh.generation,
            "new access token"
        );
        *slot = Some(fresh.clone());
        Ok(fresh)
    }

    /// Drop the audience's token if it is still the one with this generation (the one a 401
    /// answered), so the next [`TokenStore::token`] fetches a new one. A newer token, fetched
    /// meanwhile by a concurrent step, is kept.
    pub async fn invalidate(&self, audience: Audience, generation: u64) {
        let mut slot = self.slots[audience.index()].lock().await;
        if slot.as_ref().is_some_and(|t| t.generation == generation) {
            tracing::debug!(audience = %audience, generation, "access token invalidated");
            *slot = None;
        }
    }

    /// User context, device code: sign in interactively now, even if a cached sign-in exists
    /// (`huntbook auth login`), and cache the refresh token. Other credentials simply fetch a
    /// new token.
    ///
    /// # Errors
    /// No prompt to show the code with, or the sign-in failed.
    pub async fn login(&self, audience: Audience) -> Result<Arc<AccessToken>, AuthError> {
        let mut slot = self.slots[audience.index()].lock().await;
        let fresh = Arc::new(self.fetch(audience, true).await?);
        *slot = Some(fresh.clone());
        Ok(fresh)
    }

    fn next_generation(&self) -> u64 {
        self.generation.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn wrap(&self, audience: Audience, grant: &Grant) -> AccessToken {
        AccessToken::new(
            grant.access_token.clone(),
            audience,
            grant.expires_in,
            self.next_generation(),
        )
    }

    async fn fetch(
        &self,
        audience: Audience,
        force_interactive: bool,
    ) -> Result<AccessToken, AuthError> {
        let ep = &self.config.endpoints;
        let token_url = ep.token_url(&self.config.tenant_id);
        let client_id = self.config.client_id.as_str();
        let scope = ep.default_scope(audience);
        match &self.config.credential {
            Credential::ClientSecret(secret) => {
                let grant = self
                    .request(
                        &token_url,
                        &[
                            Field::Plain("grant_type", "client_credentials".into()),
                            Field::Plain("client_id", client_id.into()),
                            Field::Plain("scope", scope),
                            Field::Secret("client_secret", secret),
                        ],
                    )
                    .await?;
                Ok(self.wrap(audience, &grant))
            }
            Credential::Certificate(cert) => {
                let grant = self
                    .request(
                        &token_url,
                        &[
                            Field::Plain("grant_type", "client_credentials".into()),
                            Field::Plain("client_id", client_id.into()),
                            Field::Plain("scope", scope),
                            Field::Plain(
                                "client_assertion_type",
                                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
                            ),
                            Field::Assertion(cert, client_id),
                        ],
                    )
                    .await?;
                Ok(self.wrap(audience, &grant))
            }
            Credential::Password { username, password } => {
                let grant = self
                    .request(
                        &token_url,
                        &[
                            Field::Plain("grant_type", "password".into()),
                            Field::Plain("client_id", client_id.into()),
                            Field::Plain("scope", user_scope(ep, audience)),
                            Field::Plain("username", username.clone()),
                            Field::Secret("password", password),
                        ],
                    )
                    .await?;
                let tok = self.wrap(audience, &grant);
                let mut session = self.user.lock().await;
                session.account = account_from(&grant, &tok.info);
                Ok(tok)
            }
            Credential::DeviceCode(login) => {
                self.fetch_user(audience, login, force_interactive).await
            }
        }
    }

    async fn request(&self, url: &url::Url, fields: &[Field<'_>]) -> Result<Grant, AuthError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.client.token(url, fields).await
    }

    async fn fetch_user(
        &self,
        audience: Audience,
        login: &DeviceCodeLogin,
        force_interactive: bool,
    ) -> Result<AccessToken, AuthError> {
        let ep = &self.config.endpoints;
        let authority = ep.login.as_str().trim_end_matches('/').to_string();
        let token_url = ep.token_url(&self.config.tenant_id);
        // One user session for every audience: the first audience may sign in interactively,
        // the others then redeem its refresh token.
        let mut session = self.user.lock().await;
        if !session.cache_checked {
            session.cache_checked = true;
            if !force_interactive
                && let Some(cache) = &login.cache
                && let Some(entry) =
                    cache.load(&authority, &self.config.tenant_id, &self.config.client_id)?
            {
                session.refresh_token = Some(entry.refresh_token.clone());
                session.account = entry.account.clone();
            }
        }
        if !force_interactive && let Some(rt) = session.refresh_token.clone() {
            let result = self
                .request(
                    &token_url,
                    &[
                        Field::Plain("grant_type", "refresh_token".into()),
                        Field::Plain("client_id", self.config.client_id.clone()),
                        Field::Plain("scope", user_scope(ep, audience)),
                        Field::Secret("refresh_token", &rt),
                    ],
                )
                .await;
            match result {
                Ok(grant) => {
                    let tok = self.wrap(audience, &grant);
                    // Refresh tokens rotate: keep the newest (defender-api.md §1.8).
                    if let Some(new_rt) = grant.refresh_token.clone() {
                        session.refresh_token = Some(new_rt);
                        self.save(&mut session, login, &authority, &grant, &tok, false)?;
                    }
                    return Ok(tok);
                }
                Err(AuthError::Entra(e))
                    if e.error == "invalid_grant" || e.error == "interaction_required" =>
                {
                    tracing::warn!(
                        error = %e.error,
                        code = e.aadsts(),
                        "the cached sign-in can no longer be used; a new sign-in is needed"
                    );
                    session.refresh_token = None;
                    if login.prompt.is_none() {
                        return Err(AuthError::Entra(e));
                    }
                }
                Err(other) => return Err(other),
            }
        }
        let Some(prompt) = &login.prompt else {
            return Err(AuthError::LoginRequired {
                tenant: self.config.tenant_id.clone(),
                client: self.config.client_id.clone(),
                cache: login.cache.as_ref().map(|c| c.path().to_path_buf()),
            });
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        let grant = self
            .client
            .device_code(
                &ep.device_code_url(&self.config.tenant_id),
                &token_url,
                &self.config.client_id,
                &user_scope(ep, audience),
                prompt,
                &login.timing,
            )
            .await?;
        let tok = self.wrap(audience, &grant);
        session.refresh_token = grant.refresh_token.clone();
        if grant.refresh_token.is_none() {
            tracing::warn!(
                "the sign-in returned no refresh token; later runs will need to sign in again"
            );
        }
        self.save(
            &mut session,
            login,
            &authority,
            &grant,
            &tok,
            force_interactive,
        )?;
        Ok(tok)
    }

    fn save(
        &self,
        session: &mut UserSession,
        login: &DeviceCodeLogin,
        authority: &str,
        grant: &Grant,
        tok: &AccessToken,
        must_persist: bool,
    ) -> Result<(), AuthError> {
        let fresh = account_from(grant, &tok.info);
        if fresh != Account::default() {
            session.account = fresh;
        }
        let (Some(cache), Some(rt)) = (&login.cache, &session.refresh_token) else {
            return Ok(());
        };
        let stored = cache.store(&CacheEntry {
            authority: authority.to_string(),
            tenant_id: self.config.tenant_id.clone(),
            client_id: self.config.client_id.clone(),
            account: session.account.clone(),
            refresh_token: rt.clone(),
            written_at: Utc::now(),
        });
        match stored {
            // `auth login` exists to fill the cache: failing to is its failure.
            Err(e) if must_persist => Err(e),
            // A run already holds its token; a read-only cache only costs the next run a sign-in.
            Err(e) => {
                tracing::warn!(error = %e, "could not update the token cache");
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::endpoints::tests::env;

    #[test]
    fn settings_fall_back_to_the_environment() {
        let cfg = AuthSettings::default()
            .resolve(
                &env(&[
                    ("AZURE_TENANT_ID", "t1"),
                    ("AZURE_CLIENT_ID", "c1"),
                    ("AZURE_CLIENT_SECRET", "s3cret-value"),
                ]),
                None,
            )
            .unwrap();
        assert_eq!(
            (cfg.tenant_id.as_str(), cfg.client_id.as_str()),
            ("t1", "c1")
        );
        assert!(matches!(cfg.credential, Credential::ClientSecret(_)));
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cret-value"), "{shown}");
    }

    #[test]
    fn missing_settings_are_named() {
        let msg = |s: AuthSettings, e: &[(&str, &str)]| {
            s.resolve(&env(e), None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(msg(AuthSettings::default(), &[]).contains("AZURE_TENANT_ID"));
        assert!(
            msg(AuthSettings::default(), &[("AZURE_TENANT_ID", "t")]).contains("AZURE_CLIENT_ID")
        );
        assert!(
            msg(
                AuthSettings::default(),
                &[("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")]
            )
            .contains("AZURE_CLIENT_CERTIFICATE_PATH")
        );
        let ropc = AuthSettings {
            user_context: true,
            password_flow: true,
            ..AuthSettings::default()
        };
        assert!(
            msg(ropc, &[("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c")])
                .contains("AZURE_USERNAME")
        );
    }

    #[test]
    fn user_context_defaults_to_device_code_with_a_cache() {
        let s = AuthSettings {
            user_context: true,
            tenant_id: Some("t".into()),
            client_id: Some("c".into()),
            token_cache: Some("/tmp/hb-cache.json".into()),
            ..AuthSettings::default()
        };
        let cfg = s.resolve(&EnvVars::new(), None).unwrap();
        match &cfg.credential {
            Credential::DeviceCode(d) => {
                assert_eq!(
                    d.cache.as_ref().map(|c| c.path().to_path_buf()),
                    Some("/tmp/hb-cache.json".into())
                );
                assert!(d.prompt.is_none());
            }
            other => panic!("expected device code, got {other:?}"),
        }
        assert_eq!(cfg.credential.context(), AuthContext::User);
    }

    #[test]
    fn bad_override_is_a_configuration_error() {
        let s = AuthSettings {
            tenant_id: Some("t".into()),
            client_id: Some("c".into()),
            client_secret: Some("x".into()),
            ..AuthSettings::default()
        };
        let err = s
            .resolve(
                &env(&[("HUNTBOOK_LOGIN_URL", "http://login.example")]),
                None,
            )
            .err()
            .unwrap();
        assert_eq!(err.exit_status(), crate::exit::ExitStatus::Invalid);
    }
}
