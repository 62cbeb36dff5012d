//! The real [`Connection`]: the run's one `reqwest` client and one token store from
//! [`crate::auth`], API calls through [`crate::api::Client`] (retries, throttling, pacing,
//! token renewal, call accounting), hunting results parsed into the compact row set of
//! [`crate::rows`] while they download.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use reqwest::header::{HeaderName, HeaderValue};

use super::connection::{
    AuthCredential, AuthOutcome, AuthRequest, BoxFuture, Call, CallStats, Connection, Grant,
    HuntData, Reply, Target,
};
use super::error::{ErrorKind, StepError};
use crate::api::{self, ApiError, ApiRequest, ClientOptions};
use crate::auth::{self, AuthError, AuthSettings, PromptFn, TokenStore};
use crate::exit::ExitStatus;
use crate::playbook::{Api, AuthContext, Choice as _, Cloud, Resource};

fn cloud(c: Cloud) -> auth::Cloud {
    match c {
        Cloud::Commercial => auth::Cloud::Commercial,
        Cloud::Gcc => auth::Cloud::Gcc,
        Cloud::GccHigh => auth::Cloud::GccHigh,
        Cloud::Dod => auth::Cloud::Dod,
    }
}

/// Split a client error's text into the message and its `hint:` line.
fn split_hint(text: &str) -> (String, Option<String>) {
    match text.split_once("\nhint: ") {
        Some((m, h)) => (m.to_string(), Some(h.trim().to_string())),
        None => (text.to_string(), None),
    }
}

/// A sign-in error as a step error (shared with `huntbook test` fixtures).
pub(crate) fn auth_error(e: &AuthError) -> StepError {
    let (message, help) = split_hint(&e.to_string());
    let kind = if e.exit_status() == ExitStatus::AuthFailed {
        ErrorKind::Auth
    } else {
        ErrorKind::Api
    };
    StepError {
        help,
        ..StepError::new(kind, message)
    }
}

/// A client error as a step error (also how `huntbook test` fixtures report faults, so a
/// fixture fails exactly as a real answer would).
pub(crate) fn api_error(e: &ApiError) -> StepError {
    let (message, help) = split_hint(&e.to_string());
    let kind = match (e.exit_status(), e.status()) {
        (ExitStatus::AuthFailed, Some(403)) => ErrorKind::Permission,
        (ExitStatus::AuthFailed, _) => ErrorKind::Auth,
        _ => ErrorKind::Api,
    };
    StepError {
        help,
        status: e.status(),
        ..StepError::new(kind, message)
    }
}

/// Whether a token's claims were readable (a JWT names at least its audience, tenant or
/// expiry; an opaque token names nothing).
fn readable(info: &auth::TokenInfo) -> bool {
    info.audience.is_some() || info.tenant_id.is_some() || info.expires_at.is_some()
}

/// The live connection.
pub struct Live {
    env: BTreeMap<String, String>,
    http: reqwest::Client,
    options: ClientOptions,
    prompt: Option<PromptFn>,
    /// The client id of user sign-ins that name none (the emulator's public client).
    user_client_id: Option<String>,
    client: RwLock<Option<api::Client>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl Live {
    /// A connection for a run with this environment (`HUNTBOOK_*_URL`, `AZURE_*`). `prompt`
    /// shows a device-code sign-in; without one, a user-context run needs a cached sign-in.
    ///
    /// # Errors
    /// When the HTTP client cannot be set up (TLS, a bad CA certificate).
    pub fn new(
        env: BTreeMap<String, String>,
        options: ClientOptions,
        prompt: Option<PromptFn>,
    ) -> Result<Live, String> {
        let http = api::http_client(&options).map_err(|e| e.to_string())?;
        Ok(Live {
            env,
            http,
            options,
            prompt,
            user_client_id: None,
            client: RwLock::new(None),
        })
    }

    /// Sign users in through this client id when an `authenticate` step with
    /// `context: user` names none (the emulator's public client: the demo application in
    /// `AZURE_CLIENT_ID` is a confidential client, which cannot sign users in).
    #[must_use]
    pub fn with_user_client_id(mut self, client_id: Option<String>) -> Live {
        self.user_client_id = client_id;
        self
    }

    fn client(&self) -> Result<api::Client, StepError> {
        self.client
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                StepError::new(ErrorKind::Auth, "no `authenticate` step has signed in yet")
                    .help("add an `authenticate` step before the first API step")
            })
    }

    fn request(call: &Call) -> Result<ApiRequest, StepError> {
        let aud = call.audience.audience();
        let method = reqwest::Method::from_bytes(call.method.name().as_bytes())
            .map_err(|e| StepError::new(ErrorKind::Api, format!("bad method: {e}")))?;
        let mut req = match &call.target {
            Target::Path(p) => ApiRequest::new(aud, method, p.clone()),
            Target::Url(u) => {
                let mut r = ApiRequest::get_url(aud, u.clone());
                r.method = method;
                r
            }
        };
        for (k, v) in &call.query {
            req = req.query(k.clone(), v.clone());
        }
        for (k, v) in &call.headers {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                StepError::new(ErrorKind::Data, format!("`{k}` is not a valid header name"))
            })?;
            let value = HeaderValue::from_str(v).map_err(|_| {
                StepError::new(
                    ErrorKind::Data,
                    format!("the value of header `{k}` is not valid in a header"),
                )
            })?;
            req = req.header(name, value);
        }
        if let Some(body) = &call.body {
            req = req.json(body).map_err(|e| api_error(&e))?;
        }
        Ok(req.idempotent(call.idempotent).label(call.label.clone()))
    }
}

impl Connection for Live {
    fn authenticate(&self, request: AuthRequest) -> BoxFuture<'_, Result<AuthOutcome, StepError>> {
        Box::pin(async move {
            let user = request.context == AuthContext::User;
            let client_id = match request.client_id {
                None if user => self.user_client_id.clone(),
                other => other,
            };
            let mut settings = AuthSettings {
                user_context: user,
                tenant_id: request.tenant_id,
                client_id,
                cloud: cloud(request.cloud),
                ..AuthSettings::default()
            };
            match request.credential {
                AuthCredential::ClientSecret(s) => settings.client_secret = Some(s),
                AuthCredential::Certificate { path, password } => {
                    settings.certificate = Some(path);
                    settings.certificate_password = password;
                }
                AuthCredential::Environment => {}
                AuthCredential::DeviceCode { token_cache } => settings.token_cache = token_cache,
                AuthCredential::Password {
                    username,
                    password,
                    token_cache,
                } => {
                    settings.password_flow = true;
                    settings.username = Some(username);
                    settings.password = Some(password);
                    settings.token_cache = token_cache;
                }
            }
            let config = settings
                .resolve(&self.env, self.prompt.clone())
                .map_err(|e| auth_error(&e))?;
            let tokens = Arc::new(TokenStore::new(self.http.clone(), config));
            let aud = request.audience.audience();
            let token = tokens.token(aud).await.map_err(|e| auth_error(&e))?;
            let info = token.info.clone();
            let context = match tokens.context() {
                auth::AuthContext::Application => AuthContext::Application,
                auth::AuthContext::User => AuthContext::User,
            };
            let outcome = AuthOutcome {
                context,
                tenant_id: tokens.tenant_id().to_string(),
                client_id: tokens.client_id().to_string(),
                principal: info.principal().map(str::to_string),
                grant: Grant {
                    audience: request.audience,
                    roles: info.roles.clone(),
                    scopes: info.scopes.clone(),
                    expires_at: token.expires_at,
                    readable: readable(&info),
                },
            };
            let client = api::Client::new(self.http.clone(), tokens, self.options.clone());
            *self
                .client
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(client);
            Ok(outcome)
        })
    }

    fn grant(&self, resource: Resource) -> BoxFuture<'_, Result<Grant, StepError>> {
        Box::pin(async move {
            let client = self.client()?;
            let token = client
                .tokens()
                .token(resource.audience())
                .await
                .map_err(|e| auth_error(&e))?;
            Ok(Grant {
                audience: resource,
                roles: token.info.roles.clone(),
                scopes: token.info.scopes.clone(),
                expires_at: token.expires_at,
                readable: readable(&token.info),
            })
        })
    }

    fn call<'a>(
        &'a self,
        call: Call,
        accept: &'a [u16],
    ) -> BoxFuture<'a, Result<Reply, StepError>> {
        Box::pin(async move {
            let client = self.client()?;
            let req = Live::request(&call)?;
            match client.send(req).await {
                Ok(resp) => Ok(Reply {
                    status: resp.status,
                    body: resp.body,
                }),
                Err(e) => match (e.status(), e.service()) {
                    // An expected error status: the body as the service sent it (capped and
                    // scrubbed by the client), read like a success's.
                    (Some(status), Some(service)) if accept.contains(&status) => Ok(Reply {
                        status,
                        body: service.body.clone(),
                    }),
                    _ => Err(api_error(&e)),
                },
            }
        })
    }

    fn hunt(&self, call: Call, api: Api) -> BoxFuture<'_, Result<HuntData, StepError>> {
        let _ = api;
        Box::pin(async move {
            let client = self.client()?;
            let what = call.describe();
            let req = Live::request(&call)?;
            let mut stream = client.send_stream(req).await.map_err(|e| api_error(&e))?;
            let mut builder = crate::rows::RowSetBuilder::new(
                stream.content_length(),
                crate::rows::ParseOptions::default(),
            );
            // Parse on a blocking worker while the body downloads; a bounded channel makes a
            // slow parser slow the download instead of buffering the whole body.
            let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
            let worker = tokio::task::spawn_blocking(move || {
                while let Some(chunk) = rx.blocking_recv() {
                    builder.push(&chunk)?;
                }
                builder.finish()
            });
            let mut read_error = None;
            while let Some(chunk) = stream.chunk().await {
                match chunk {
                    Ok(c) => {
                        if tx.send(c).await.is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        read_error = Some(api_error(&e));
                        break;
                    }
                }
            }
            drop(tx);
            drop(stream);
            let parsed = worker.await.map_err(|e| {
                StepError::new(ErrorKind::Api, format!("{what}: the parser stopped: {e}"))
            })?;
            if let Some(e) = read_error {
                return Err(e);
            }
            let set = parsed.map_err(|e| {
                StepError::new(
                    ErrorKind::Api,
                    format!("{what}: the result does not parse: {e}"),
                )
            })?;
            let count = set.len();
            let truncated = count >= crate::rows::ROW_LIMIT;
            Ok(HuntData {
                outputs: crate::rows::hunt_outputs(Arc::new(set)),
                count,
                truncated,
            })
        })
    }

    fn stats(&self, label: &str) -> CallStats {
        let Ok(client) = self.client() else {
            return CallStats::default();
        };
        let s = client.stats().get(label);
        CallStats {
            calls: s.calls,
            attempts: s.attempts,
            retries: s.retries,
            throttled: s.throttled,
            reauthenticated: s.reauthenticated,
            failures: s.failures,
            bytes_sent: s.bytes_sent,
            bytes_received: s.bytes_received,
            waited: s.waited,
        }
    }

    fn url(&self, call: &Call) -> String {
        let resolved = self.client().ok().and_then(|client| {
            let req = Live::request(call).ok()?;
            client.resolve_url(&req).ok()
        });
        resolved.map_or_else(|| call.target.display_path(), |u| u.to_string())
    }
}
