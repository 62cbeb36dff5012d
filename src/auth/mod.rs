//! Getting tokens from the Microsoft identity platform: client secret, certificate assertion,
//! device code, password, refresh; one token per API audience; clouds and endpoints.
//!
//! The usual wiring (the engine does this once per run):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use huntbook::auth::{Audience, AuthSettings, TokenStore, env_from_process};
//! use huntbook::api::{Client, ClientOptions};
//!
//! let env = env_from_process();
//! let config = AuthSettings::default().resolve(&env, None)?; // AZURE_* fallbacks
//! let options = ClientOptions::default();
//! let http = huntbook::api::http_client(&options)?;
//! let tokens = Arc::new(TokenStore::new(http.clone(), config));
//! let info = tokens.token(Audience::Graph).await?.info.clone(); // the `authenticate` step
//! let client = Client::new(http, tokens, options);
//! # let _ = (info, client); Ok(()) }
//! ```
//!
//! See `docs/auth.md` for app registration, permissions, clouds and the token cache.

mod audience;
pub mod cache;
pub mod certificate;
pub mod endpoints;
pub mod error;
mod flows;
pub mod permissions;
pub mod store;
pub mod token;

pub use audience::Audience;
pub use cache::{Account, CacheEntry, CacheSummary, TokenCache};
pub use certificate::{AssertionAlgorithm, CertificateError, ClientCertificate};
pub use endpoints::{Cloud, EndpointError, Endpoints, EnvVars, env_from_process, is_loopback};
pub use error::{AuthError, DeviceCodeError, EntraError};
pub use flows::{DeviceCodePrompt, PollTiming, PromptFn};
pub use permissions::Requirement;
pub use store::{
    AuthConfig, AuthContext, AuthSettings, Credential, DeviceCodeLogin, TokenStore,
    TokenStoreOptions,
};
pub use token::{AccessToken, TokenInfo};

/// Environment variable naming the user-context refresh-token cache when a playbook's
/// `token_cache` is absent (default: under the user's cache folder).
pub const TOKEN_CACHE_VAR: &str = "HUNTBOOK_TOKEN_CACHE";
