//! Token-endpoint errors in the Microsoft Entra shape (defender-api.md §1.10): `error`,
//! `error_description` starting with `AADSTS<code>: ` and carrying the trace and correlation
//! ids and the timestamp, `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An identity-platform error response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraError {
    pub status: StatusCode,
    /// The OAuth `error` string clients branch on, e.g. `invalid_client`.
    pub error: &'static str,
    /// The AADSTS number.
    pub code: u32,
    /// The message after `AADSTS<code>: `.
    pub description: String,
    /// Entra's `suberror` (e.g. `consent_required`, `basic_action`), when it sends one.
    pub suberror: Option<&'static str>,
    /// Seconds, sent as `Retry-After` (throttling and injected 429/503).
    pub retry_after: Option<u64>,
}

impl EntraError {
    /// An error with status 400, the common case.
    #[must_use]
    pub fn new(error: &'static str, code: u32, description: impl Into<String>) -> EntraError {
        EntraError {
            status: StatusCode::BAD_REQUEST,
            error,
            code,
            description: description.into(),
            suberror: None,
            retry_after: None,
        }
    }

    /// `invalid_client` errors are 401, as the OAuth spec says for failed client authentication.
    #[must_use]
    pub fn invalid_client(code: u32, description: impl Into<String>) -> EntraError {
        EntraError {
            status: StatusCode::UNAUTHORIZED,
            ..EntraError::new("invalid_client", code, description)
        }
    }

    /// AADSTS900144: a required form parameter is missing.
    #[must_use]
    pub fn missing(param: &str) -> EntraError {
        EntraError::new(
            "invalid_request",
            900_144,
            format!("The request body must contain the following parameter: '{param}'."),
        )
    }

    /// AADSTS9002313: the request is malformed, with the specific reason appended.
    #[must_use]
    pub fn malformed(reason: impl std::fmt::Display) -> EntraError {
        EntraError::new(
            "invalid_request",
            9_002_313,
            format!("Invalid request. Request is malformed or invalid. {reason}"),
        )
    }

    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> EntraError {
        self.status = status;
        self
    }

    #[must_use]
    pub fn with_suberror(mut self, suberror: &'static str) -> EntraError {
        self.suberror = Some(suberror);
        self
    }

    #[must_use]
    pub fn with_retry_after(mut self, secs: u64) -> EntraError {
        self.retry_after = Some(secs);
        self
    }

    /// The JSON body, with fresh trace and correlation ids.
    #[must_use]
    pub fn body(&self) -> Value {
        let trace_id = uuid::Uuid::new_v4().to_string();
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        let mut body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        if let Some(sub) = self.suberror {
            body["suberror"] = json!(sub);
        }
        body
    }
}

impl IntoResponse for EntraError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store, no-cache"),
        );
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_entra_shape() {
        let b = EntraError::invalid_client(7_000_215, "Invalid client secret provided.").body();
        let desc = b["error_description"].as_str().unwrap_or_default();
        assert!(desc.starts_with("AADSTS7000215: Invalid client secret provided.\r\nTrace ID: "));
        assert!(desc.contains("\r\nCorrelation ID: "));
        assert_eq!(b["error"], "invalid_client");
        assert_eq!(b["error_codes"], json!([7_000_215]));
        let ts = b["timestamp"].as_str().unwrap_or_default();
        // `YYYY-MM-DD HH:MM:SSZ`: a space, not a `T`.
        assert_eq!(ts.len(), 20);
        assert_eq!(&ts[10..11], " ");
        assert!(ts.ends_with('Z'));
        assert_eq!(b["trace_id"].as_str().map(str::len), Some(36));
        assert!(desc.contains(b["trace_id"].as_str().unwrap_or("missing")));
        assert!(b.get("suberror").is_none());
    }

    #[test]
    fn invalid_client_is_401_and_others_400() {
        assert_eq!(
            EntraError::invalid_client(1, "x").status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(EntraError::missing("scope").status, StatusCode::BAD_REQUEST);
        assert!(EntraError::missing("scope").description.contains("'scope'"));
    }
}
