//! Error types of the emulator: start-up errors ([`EmuError`]) and API error responses in each
//! service's real shape ([`ApiError`]). Identity-platform (Entra) errors have their own shape in
//! `identity`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Why the emulator could not start or load its data.
#[derive(Debug, thiserror::Error)]
pub enum EmuError {
    #[error("cannot bind 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A `--data` file problem, already formatted with its location.
    #[error("{0}")]
    Data(String),
    #[error("invalid --faults: {0}")]
    Faults(String),
    #[error("invalid --limits: {0}")]
    Limits(String),
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    #[error("key generation failed: {0}")]
    Crypto(String),
}

/// Which service answers a request: they spell their errors differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiFamily {
    /// Microsoft Graph (`/v1.0/security/…`, `/beta/security/…`).
    Graph,
    /// Defender XDR, the older Microsoft 365 Defender API (`/api/incidents`, `/api/advancedhunting`).
    Defender,
    /// Defender for Endpoint (`/api/machines`, `/api/machineactions`, `/api/advancedqueries`).
    Endpoint,
}

/// An API error response, rendered in the family's documented shape:
/// Graph `{"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}`,
/// Defender XDR / MDE `{"error":{"code","message","target"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub family: ApiFamily,
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// Seconds, sent as `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
    /// Echoed in Graph's `innerError.client-request-id` when the client sent one.
    pub client_request_id: Option<String>,
}

impl ApiError {
    #[must_use]
    pub fn new(
        family: ApiFamily,
        status: StatusCode,
        code: &str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            family,
            status,
            code: code.to_string(),
            message: message.into(),
            retry_after: None,
            client_request_id: None,
        }
    }

    /// 400 with the family's generic bad-request code (`BadRequest` / Graph `BadRequest`).
    #[must_use]
    pub fn bad_request(family: ApiFamily, message: impl Into<String>) -> ApiError {
        ApiError::new(family, StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 404 in the family's shape (`ResourceNotFound` for Defender/MDE, `NotFound` for Graph).
    #[must_use]
    pub fn not_found(family: ApiFamily, message: impl Into<String>) -> ApiError {
        let code = if family == ApiFamily::Graph {
            "NotFound"
        } else {
            "ResourceNotFound"
        };
        ApiError::new(family, StatusCode::NOT_FOUND, code, message)
    }

    #[must_use]
    pub fn with_retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after = Some(secs);
        self
    }

    /// The JSON body, without headers.
    #[must_use]
    pub fn body(&self) -> serde_json::Value {
        let id = uuid::Uuid::new_v4().to_string();
        match self.family {
            ApiFamily::Graph => json!({
                "error": {
                    "code": self.code,
                    "message": self.message,
                    "innerError": {
                        "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                        "request-id": id,
                        "client-request-id": self.client_request_id.clone().unwrap_or_else(|| id.clone()),
                    }
                }
            }),
            ApiFamily::Defender | ApiFamily::Endpoint => json!({
                "error": { "code": self.code, "message": self.message, "target": id }
            }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_shape_has_inner_error() {
        let e = ApiError::not_found(ApiFamily::Graph, "nope").body();
        assert_eq!(e["error"]["code"], "NotFound");
        assert!(e["error"]["innerError"]["request-id"].is_string());
        assert!(e["error"]["innerError"]["date"].is_string());
    }

    #[test]
    fn defender_shape_has_target() {
        let e = ApiError::not_found(ApiFamily::Endpoint, "Machine 1 was not found").body();
        assert_eq!(e["error"]["code"], "ResourceNotFound");
        assert_eq!(e["error"]["message"], "Machine 1 was not found");
        assert_eq!(e["error"]["target"].as_str().map(str::len), Some(36));
    }
}
