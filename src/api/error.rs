//! API errors: what the service said (Graph and Defender shapes both parsed into
//! [`ServiceError`]) and what went wrong on our side ([`ApiError`]). Never holds a token: text
//! from the server is scrubbed of the bearer value we sent before it is kept.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::error::redact;
use crate::auth::{Audience, AuthError};
use crate::exit::ExitStatus;

/// The service's own account of an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceError {
    /// `error.code` (`ResourceNotFound`, `Forbidden`, `TooManyRequests`, `"429"`, …).
    pub code: Option<String>,
    /// `error.message`.
    pub message: Option<String>,
    /// Defender's `error.target` or Graph's `innerError.request-id`: quote it to support.
    pub request_id: Option<String>,
    /// The whole body as the service sent it (up to the client's cap on error bodies), the
    /// bearer token scrubbed: a `request` step that expects this status gets it as `body`.
    pub body: bytes::Bytes,
}

#[derive(Deserialize)]
struct Envelope {
    error: serde_json::Value,
    #[serde(default)]
    error_description: Option<String>,
}

/// Longest raw (non-JSON) body text kept in an error.
const RAW_SNIPPET: usize = 300;

impl ServiceError {
    /// Parse an error body: Defender/MDE `{"error":{"code","message","target"}}`, Graph
    /// `{"error":{"code","message","innerError":{"request-id"}}}`, OAuth-style
    /// `{"error":"…","error_description":"…"}`, or else a snippet of the text.
    #[must_use]
    pub fn parse(body: &[u8], scrub: &[&str]) -> ServiceError {
        let parsed = ServiceError::parse_fields(body, scrub);
        if body.is_empty() {
            return parsed;
        }
        ServiceError {
            body: bytes::Bytes::from(redact(&String::from_utf8_lossy(body), scrub)),
            ..parsed
        }
    }

    fn parse_fields(body: &[u8], scrub: &[&str]) -> ServiceError {
        let clean = |s: &str| redact(s, scrub);
        if let Ok(env) = serde_json::from_slice::<Envelope>(body) {
            let s = |v: Option<&serde_json::Value>| {
                v.and_then(|v| match v {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .filter(|s| !s.is_empty())
            };
            return match &env.error {
                serde_json::Value::Object(o) => {
                    let inner = o.get("innerError").or_else(|| o.get("innererror"));
                    ServiceError {
                        code: s(o.get("code")).map(|c| clean(&c)),
                        message: s(o.get("message")).map(|m| clean(&m)),
                        request_id: s(o.get("target"))
                            .or_else(|| s(inner.and_then(|i| i.get("request-id")))),
                        ..ServiceError::default()
                    }
                }
                serde_json::Value::String(code) => ServiceError {
                    code: Some(clean(code)),
                    message: env.error_description.map(|d| clean(&d)),
                    ..ServiceError::default()
                },
                _ => ServiceError::default(),
            };
        }
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            return ServiceError::default();
        }
        let mut snippet: String = text.chars().take(RAW_SNIPPET).collect();
        if snippet.len() < text.len() {
            snippet.push('…');
        }
        ServiceError {
            message: Some(clean(&snippet)),
            ..ServiceError::default()
        }
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, &self.message) {
            (Some(c), Some(m)) => write!(f, "{c}: {m}")?,
            (Some(c), None) => write!(f, "{c}")?,
            (None, Some(m)) => write!(f, "{m}")?,
            (None, None) => write!(f, "no error details")?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token could be obtained.
    #[error(transparent)]
    Auth(Box<AuthError>),
    /// 401 again after fetching a new token.
    #[error(
        "{method} {path}: HTTP 401, the {audience} API refused the token even after it was renewed: {service}\nhint: check that the app (or user) has this API's permissions with admin consent, and that the cloud and endpoints match the tenant"
    )]
    Unauthorized {
        method: String,
        path: String,
        audience: Audience,
        service: Box<ServiceError>,
    },
    /// 403: authenticated but not allowed.
    #[error(
        "{method} {path}: HTTP 403, permission denied: {service}\nhint: grant the permission named above to the app registration (application context) or the user (delegated), then grant admin consent"
    )]
    Forbidden {
        method: String,
        path: String,
        service: Box<ServiceError>,
    },
    /// Still throttled when the retry budget ran out.
    #[error("{method} {path}: throttled (HTTP 429) after {attempts} attempt(s){}: {service}", wait.map(|w| format!("; the service asked to wait {}", humantime::format_duration(Duration::from_secs(w.as_secs())))).unwrap_or_default())]
    Throttled {
        method: String,
        path: String,
        attempts: u32,
        /// The wait the service asked for last.
        wait: Option<Duration>,
        service: Box<ServiceError>,
    },
    /// Any other non-success status.
    #[error("{method} {path}: HTTP {status}{}: {service}", if *attempts > 1 { format!(" after {attempts} attempts") } else { String::new() })]
    Status {
        method: String,
        path: String,
        status: u16,
        attempts: u32,
        service: Box<ServiceError>,
    },
    /// The request failed on the network.
    #[error("{method} {path}: {detail}{}", if *attempts > 1 { format!(" (after {attempts} attempts)") } else { String::new() })]
    Network {
        method: String,
        path: String,
        attempts: u32,
        detail: String,
    },
    /// An absolute URL (a request target or an `@odata.nextLink`) points away from the
    /// audience's host: the token must not travel there.
    #[error(
        "refusing to send the {audience} token to `{url}`: it is not on the configured {audience} host `{expected}`"
    )]
    ForeignUrl {
        url: String,
        audience: Audience,
        expected: String,
    },
    /// A request target is not a usable URL or path.
    #[error("invalid request URL `{url}`: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The response is not the JSON expected.
    #[error("{method} {path}: the response is not the expected JSON: {detail}")]
    InvalidJson {
        method: String,
        path: String,
        detail: String,
    },
    /// The response body exceeds the configured limit.
    #[error("{method} {path}: the response body exceeds {limit} bytes")]
    BodyTooLarge {
        method: String,
        path: String,
        limit: u64,
    },
    /// The HTTP client could not be built (bad CA certificate, TLS set-up).
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> ApiError {
        ApiError::Auth(Box::new(e))
    }
}

impl ApiError {
    /// The process exit status this error calls for: 4 for authentication and permission
    /// failures, 1 for everything else that happens at run time.
    #[must_use]
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            ApiError::Auth(e) => e.exit_status(),
            ApiError::Unauthorized { .. } | ApiError::Forbidden { .. } => ExitStatus::AuthFailed,
            _ => ExitStatus::Failure,
        }
    }

    /// The HTTP status, when the service answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::Forbidden { .. } => Some(403),
            ApiError::Throttled { .. } => Some(429),
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The service's error, when it sent one.
    #[must_use]
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            ApiError::Unauthorized { service, .. }
            | ApiError::Forbidden { service, .. }
            | ApiError::Throttled { service, .. }
            | ApiError::Status { service, .. } => Some(service.as_ref()),
            _ => None,
        }
    }
}

/// An error and its sources on one line (reqwest hides the useful part in `source()`).
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_defender_and_graph_shapes() {
        let d = ServiceError::parse(
            br#"{"error":{"code":"ResourceNotFound","message":"Machine 123 was not found","target":"43f4cb08-8fac-4b65-9db1-745c2ae65f3a"}}"#,
            &[],
        );
        assert_eq!(d.code.as_deref(), Some("ResourceNotFound"));
        assert_eq!(
            d.to_string(),
            "ResourceNotFound: Machine 123 was not found (request id 43f4cb08-8fac-4b65-9db1-745c2ae65f3a)"
        );
        let g = ServiceError::parse(
            br#"{"error":{"code":"","message":"The limit of '50' for Top query has been exceeded.","details":[],"innerError":{"date":"2025-01-11T19:43:26","request-id":"rid-1","client-request-id":"c"}}}"#,
            &[],
        );
        assert_eq!(g.code, None);
        assert_eq!(g.request_id.as_deref(), Some("rid-1"));
        let t = ServiceError::parse(br#"{"error":{"code":429,"message":"API calls quota exceeded! maximum allowed 45 per 00:01:00"}}"#, &[]);
        assert_eq!(t.code.as_deref(), Some("429"));
    }

    #[test]
    fn raw_bodies_are_truncated_and_scrubbed() {
        let body = format!(
            "<html>token eyJ-bearer-token-value {}</html>",
            "x".repeat(1000)
        );
        let e = ServiceError::parse(body.as_bytes(), &["eyJ-bearer-token-value"]);
        let m = e.message.unwrap_or_default();
        assert!(m.chars().count() <= RAW_SNIPPET + 1);
        assert!(!m.contains("eyJ-bearer-token-value"));
        let raw = String::from_utf8_lossy(&e.body);
        assert!(raw.starts_with("<html>token [REDACTED] xxx"), "{raw}");
        assert!(raw.ends_with("</html>"), "the whole body is kept");
        assert_eq!(ServiceError::parse(b"", &[]), ServiceError::default());
    }

    #[test]
    fn auth_failures_exit_4() {
        let e = ApiError::Forbidden {
            method: "POST".into(),
            path: "/api/machines/1/isolate".into(),
            service: Box::default(),
        };
        assert_eq!(e.exit_status(), ExitStatus::AuthFailed);
        assert_eq!(e.status(), Some(403));
        let n = ApiError::Network {
            method: "GET".into(),
            path: "/".into(),
            attempts: 3,
            detail: "reset".into(),
        };
        assert_eq!(n.exit_status(), ExitStatus::Failure);
        assert!(n.to_string().contains("after 3 attempts"));
    }
}
