//! The engine's one door to the network: the [`Connection`] trait. Steps build [`Call`]s
//! (audience, method, path, query, body) and the connection sends them with the run's one
//! HTTP client and token store — retries, throttling, paging of a single call, token refresh
//! and call accounting are its business, not the steps'. Step semantics (incident filters,
//! paging across calls, idempotency checks, dry runs) stay in the engine, where they are
//! unit-tested against a fake connection.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Serialize;

use super::error::StepError;
use crate::playbook::{Api, AuthContext, Cloud, Method, Resource};
use crate::template::Value;

/// A boxed, sendable future: what [`Connection`] methods return, so the trait stays
/// object-safe and the engine holds an `Arc<dyn Connection>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The API an `api:` value talks to, as a token audience.
#[must_use]
pub fn audience_of(api: Api) -> Resource {
    match api {
        Api::Graph => Resource::Graph,
        Api::Defender => Resource::DefenderXdr,
        Api::Endpoint => Resource::Endpoint,
    }
}

/// The lowercase name of an audience in reports and logs (`graph`, `defender`, `endpoint`).
#[must_use]
pub fn audience_name(r: Resource) -> &'static str {
    match r {
        Resource::Graph => "graph",
        Resource::DefenderXdr => "defender",
        Resource::Endpoint => "endpoint",
    }
}

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path joined onto the audience's base URL (`/api/incidents`,
    /// `/v1.0/security/incidents`).
    Path(String),
    /// An absolute URL on the audience's host (an `@odata.nextLink`).
    Url(String),
}

impl Target {
    /// The path for messages: no host, no query.
    #[must_use]
    pub fn display_path(&self) -> String {
        match self {
            Target::Path(p) => p.split('?').next().unwrap_or_default().to_string(),
            Target::Url(u) => url::Url::parse(u)
                .map(|u| u.path().to_string())
                .unwrap_or_else(|_| "<url>".to_string()),
        }
    }
}

/// One API call.
#[derive(Debug, Clone)]
pub struct Call {
    pub audience: Resource,
    pub method: Method,
    pub target: Target,
    /// Query parameters, in order, not yet encoded.
    pub query: Vec<(String, String)>,
    /// Extra headers (never `Authorization`: the connection sets it).
    pub headers: Vec<(String, String)>,
    pub body: Option<serde_json::Value>,
    /// Whether repeating the call is harmless (decides retries after a timeout or a 5xx).
    pub idempotent: bool,
    /// The step instance the call is counted under (`steps[2]`, `steps[4][1].steps[0]`).
    pub label: String,
}

impl Call {
    /// A call with no query, headers or body; GETs are idempotent, other methods are not.
    #[must_use]
    pub fn new(audience: Resource, method: Method, target: Target, label: &str) -> Call {
        Call {
            audience,
            method,
            target,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            idempotent: method == Method::Get,
            label: label.to_string(),
        }
    }

    /// Add a query parameter.
    #[must_use]
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Call {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Set the JSON body.
    #[must_use]
    pub fn body(mut self, body: serde_json::Value) -> Call {
        self.body = Some(body);
        self
    }

    /// `METHOD /path` for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        use crate::playbook::Choice as _;
        format!("{} {}", self.method.name(), self.target.display_path())
    }
}

/// A successful (2xx, or an expected status) response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON; an empty body is `null`.
    ///
    /// # Errors
    /// When the body is not JSON (the message names the call and the position, never quotes
    /// the body).
    pub fn json(&self, call: &Call) -> Result<serde_json::Value, StepError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            StepError::new(
                super::error::ErrorKind::Api,
                format!(
                    "{}: the response is not JSON (line {} column {})",
                    call.describe(),
                    e.line(),
                    e.column()
                ),
            )
        })
    }
}

/// A parsed hunting result, as the `hunt` step exposes it.
#[derive(Debug, Clone)]
pub struct HuntData {
    /// The step's outputs: `results`, `schema`, `stats`, `count`, `truncated`.
    pub outputs: Value,
    pub count: usize,
    pub truncated: bool,
}

/// The credential of an `authenticate` step, secrets already read from their references.
/// `Debug` never shows a secret (`SecretString` prints as redacted).
#[derive(Debug)]
pub enum AuthCredential {
    ClientSecret(SecretString),
    Certificate {
        path: PathBuf,
        password: Option<SecretString>,
    },
    /// Nothing in the playbook: `AZURE_CLIENT_SECRET`, else `AZURE_CLIENT_CERTIFICATE_PATH`.
    Environment,
    DeviceCode {
        token_cache: Option<PathBuf>,
    },
    Password {
        username: String,
        password: SecretString,
        token_cache: Option<PathBuf>,
    },
}

/// What an `authenticate` step asks for.
#[derive(Debug)]
pub struct AuthRequest {
    pub context: AuthContext,
    /// `None`: `AZURE_TENANT_ID` from the run's environment.
    pub tenant_id: Option<String>,
    /// `None`: `AZURE_CLIENT_ID` from the run's environment.
    pub client_id: Option<String>,
    pub credential: AuthCredential,
    pub cloud: Cloud,
    /// The audience whose token is fetched right away (the first one the playbook needs).
    pub audience: Resource,
    /// The step label the token requests are counted under.
    pub label: String,
}

/// What a token grants, decoded from its claims (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub audience: Resource,
    /// Application permissions (`roles`).
    pub roles: Vec<String>,
    /// Delegated permissions (`scp`).
    pub scopes: Vec<String>,
    pub expires_at: DateTime<Utc>,
    /// Whether the token's claims could be read. Entra issues JWTs; a gateway or a test
    /// server may issue opaque tokens, which tell nothing about permissions.
    pub readable: bool,
}

impl Grant {
    /// The permissions that count in `context`: roles for an application, scopes for a user.
    #[must_use]
    pub fn permissions(&self, context: AuthContext) -> &[String] {
        match context {
            AuthContext::Application => &self.roles,
            AuthContext::User => &self.scopes,
        }
    }
}

/// The result of signing in.
#[derive(Debug, Clone)]
pub struct AuthOutcome {
    pub context: AuthContext,
    pub tenant_id: String,
    pub client_id: String,
    /// The user (user context) or the application id.
    pub principal: Option<String>,
    /// The first audience's token.
    pub grant: Grant,
}

/// Counters of API calls, per step or for the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    /// Logical calls.
    pub calls: u64,
    /// HTTP requests sent, retries included.
    pub attempts: u64,
    /// Attempts after the first.
    pub retries: u64,
    /// 429 responses received.
    pub throttled: u64,
    /// 401 responses that led to a new token.
    pub reauthenticated: u64,
    /// Calls that ended in an error.
    pub failures: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Time spent waiting (pacing, backoff, `Retry-After`).
    #[serde(rename = "waited_ms", serialize_with = "millis")]
    pub waited: Duration,
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl CallStats {
    /// Add another's counters to these.
    pub fn merge(&mut self, other: &CallStats) {
        self.calls += other.calls;
        self.attempts += other.attempts;
        self.retries += other.retries;
        self.throttled += other.throttled;
        self.reauthenticated += other.reauthenticated;
        self.failures += other.failures;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.waited += other.waited;
    }

    /// Whether nothing was counted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == CallStats::default()
    }
}

/// The network side of a run: one HTTP client, one credential, one token per audience.
/// `Send + Sync`; the engine shares it in an `Arc` across concurrent steps.
pub trait Connection: Send + Sync {
    /// Sign in: set the credential (replacing an earlier one) and fetch the first token.
    fn authenticate(&self, request: AuthRequest) -> BoxFuture<'_, Result<AuthOutcome, StepError>>;

    /// What the token of `audience` grants (fetching the token if needed): the permission
    /// preflight.
    fn grant(&self, audience: Resource) -> BoxFuture<'_, Result<Grant, StepError>>;

    /// Send one call; statuses outside 2xx are errors unless listed in `accept`.
    fn call<'a>(&'a self, call: Call, accept: &'a [u16])
    -> BoxFuture<'a, Result<Reply, StepError>>;

    /// Run an advanced-hunting call and parse its result (the connection may parse while the
    /// body downloads).
    fn hunt(&self, call: Call, api: Api) -> BoxFuture<'_, Result<HuntData, StepError>>;

    /// The counters of every call made under `label`.
    fn stats(&self, label: &str) -> CallStats;

    /// The absolute URL a call would go to (for `--dry-run` and messages), query included.
    fn url(&self, call: &Call) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gets_are_idempotent_and_posts_are_not() {
        let g = Call::new(Resource::Graph, Method::Get, Target::Path("/x".into()), "s");
        assert!(g.idempotent);
        let p = Call::new(
            Resource::Graph,
            Method::Post,
            Target::Path("/x".into()),
            "s",
        );
        assert!(!p.idempotent);
        assert_eq!(p.describe(), "POST /x");
    }

    #[test]
    fn display_paths_drop_host_and_query() {
        assert_eq!(
            Target::Url("https://h/v1.0/a?$skiptoken=x".into()).display_path(),
            "/v1.0/a"
        );
        assert_eq!(
            Target::Path("/api/x?$top=1".into()).display_path(),
            "/api/x"
        );
    }

    #[test]
    fn empty_bodies_are_null_and_bad_json_names_the_call() {
        let call = Call::new(Resource::Graph, Method::Get, Target::Path("/p".into()), "s");
        let r = Reply {
            status: 204,
            body: Bytes::new(),
        };
        assert_eq!(r.json(&call).unwrap(), serde_json::Value::Null);
        let r = Reply {
            status: 200,
            body: Bytes::from_static(b"{oops"),
        };
        let e = r.json(&call).unwrap_err();
        assert!(e.message.starts_with("GET /p: the response is not JSON"));
    }
}
