//! What a step asks the client to do ([`ApiRequest`]) and what comes back ([`ApiResponse`],
//! or [`ApiStream`] for bodies too large to hold twice).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::stats::{CallStats, StatsRegistry};
use crate::auth::Audience;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path joined onto the audience's base URL: `/api/incidents`,
    /// `/v1.0/security/runHuntingQuery`.
    Path(String),
    /// An absolute URL, which must be on the audience's host (an `@odata.nextLink`).
    Url(String),
}

/// One API call, before retries.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// Picks the token and the base URL.
    pub audience: Audience,
    /// HTTP method.
    pub method: Method,
    /// Path or absolute URL.
    pub target: Target,
    /// Query parameters, appended in order (encoded by the client).
    pub query: Vec<(String, String)>,
    /// JSON body, serialized once.
    pub body: Option<Bytes>,
    /// Extra headers (`Prefer`, …). `Authorization` is always set by the client.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Whether repeating the call is harmless. Decides retries after the request may have
    /// reached the server (timeouts, resets, 5xx).
    pub idempotent: bool,
    /// The step this call is attributed to in the report.
    pub label: Option<String>,
    /// Overrides the client's per-request timeout.
    pub timeout: Option<Duration>,
}

/// The POST routes that only read: advanced hunting on each API.
fn is_read_only_post(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    p.ends_with("/api/advancedhunting/run")
        || p.ends_with("/api/advancedqueries/run")
        || p.ends_with("/security/runhuntingquery")
}

impl ApiRequest {
    /// A request; GET and HEAD, and the advanced-hunting POSTs, are idempotent, everything
    /// else is not until [`ApiRequest::idempotent`] says so.
    #[must_use]
    pub fn new(audience: Audience, method: Method, path: impl Into<String>) -> ApiRequest {
        let path = path.into();
        let idempotent = method == Method::GET
            || method == Method::HEAD
            || (method == Method::POST && is_read_only_post(&path));
        ApiRequest {
            audience,
            method,
            target: Target::Path(path),
            query: Vec::new(),
            body: None,
            headers: Vec::new(),
            idempotent,
            label: None,
            timeout: None,
        }
    }

    /// A GET of a path.
    #[must_use]
    pub fn get(audience: Audience, path: impl Into<String>) -> ApiRequest {
        ApiRequest::new(audience, Method::GET, path)
    }

    /// A POST with a JSON body.
    ///
    /// # Errors
    /// The body does not serialize.
    pub fn post_json<T: serde::Serialize + ?Sized>(
        audience: Audience,
        path: impl Into<String>,
        body: &T,
    ) -> Result<ApiRequest, ApiError> {
        ApiRequest::new(audience, Method::POST, path).json(body)
    }

    /// A PATCH with a JSON body.
    ///
    /// # Errors
    /// The body does not serialize.
    pub fn patch_json<T: serde::Serialize + ?Sized>(
        audience: Audience,
        path: impl Into<String>,
        body: &T,
    ) -> Result<ApiRequest, ApiError> {
        ApiRequest::new(audience, Method::PATCH, path).json(body)
    }

    /// A GET of an absolute URL on the audience's host.
    #[must_use]
    pub fn get_url(audience: Audience, url: impl Into<String>) -> ApiRequest {
        ApiRequest {
            target: Target::Url(url.into()),
            ..ApiRequest::get(audience, "")
        }
    }

    /// Set a JSON body.
    ///
    /// # Errors
    /// The body does not serialize.
    pub fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> Result<ApiRequest, ApiError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ApiError::InvalidJson {
            method: self.method.to_string(),
            path: self.path_for_display(),
            detail: format!("the request body does not serialize: {e}"),
        })?;
        self.body = Some(Bytes::from(bytes));
        Ok(self)
    }

    /// Add a query parameter.
    #[must_use]
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> ApiRequest {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Add a header.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> ApiRequest {
        self.headers.push((name, value));
        self
    }

    /// Mark the call idempotent (safe to repeat) or not.
    #[must_use]
    pub fn idempotent(mut self, yes: bool) -> ApiRequest {
        self.idempotent = yes;
        self
    }

    /// Attribute the call to a step in the report.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> ApiRequest {
        self.label = Some(label.into());
        self
    }

    /// Per-request timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> ApiRequest {
        self.timeout = Some(timeout);
        self
    }

    /// The path for logs and errors (no query, no host).
    #[must_use]
    pub fn path_for_display(&self) -> String {
        match &self.target {
            Target::Path(p) => p.split('?').next().unwrap_or("").to_string(),
            Target::Url(u) => url::Url::parse(u)
                .map(|u| u.path().to_string())
                .unwrap_or_else(|_| "<invalid url>".to_string()),
        }
    }
}

/// A complete response.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// The final status (2xx).
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body, one contiguous buffer.
    pub body: Bytes,
    /// The counters of this call.
    pub stats: CallStats,
    pub(crate) method: String,
    pub(crate) path: String,
}

impl ApiResponse {
    /// Deserialize the body.
    ///
    /// # Errors
    /// [`ApiError::InvalidJson`] (the message names the position, never quotes the body).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.body.is_empty() {
            return Err(self.invalid("the body is empty".to_string()));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            self.invalid(format!(
                "{} at line {} column {}",
                match e.classify() {
                    serde_json::error::Category::Data => "unexpected structure",
                    serde_json::error::Category::Eof => "truncated JSON",
                    _ => "malformed JSON",
                },
                e.line(),
                e.column()
            ))
        })
    }

    fn invalid(&self, detail: String) -> ApiError {
        ApiError::InvalidJson {
            method: self.method.clone(),
            path: self.path.clone(),
            detail,
        }
    }
}

/// A response whose body is read chunk by chunk (the 50+ MB hunting results). Byte counts are
/// added to the client's statistics when the stream ends or is dropped.
pub struct ApiStream {
    /// The final status (2xx).
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Counters up to the headers (body bytes are added as they arrive).
    pub stats: CallStats,
    pub(crate) response: Option<reqwest::Response>,
    pub(crate) registry: Arc<StatsRegistry>,
    pub(crate) label: String,
    pub(crate) received: u64,
    pub(crate) limit: u64,
    pub(crate) method: String,
    pub(crate) path: String,
}

impl std::fmt::Debug for ApiStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiStream")
            .field("status", &self.status)
            .field("path", &self.path)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl ApiStream {
    /// The expected body length, when the server sent one.
    #[must_use]
    pub fn content_length(&self) -> Option<u64> {
        self.response
            .as_ref()
            .and_then(reqwest::Response::content_length)
    }

    /// The next chunk of the body; `None` at the end. Errors are not retried: the caller may
    /// repeat the whole call.
    ///
    /// # Errors
    /// A network error mid-body, or the body exceeding the client's limit.
    pub async fn chunk(&mut self) -> Option<Result<Bytes, ApiError>> {
        let resp = self.response.as_mut()?;
        match resp.chunk().await {
            Ok(Some(b)) => {
                self.received += b.len() as u64;
                if self.received > self.limit {
                    self.finish();
                    return Some(Err(ApiError::BodyTooLarge {
                        method: self.method.clone(),
                        path: self.path.clone(),
                        limit: self.limit,
                    }));
                }
                Some(Ok(b))
            }
            Ok(None) => {
                self.finish();
                None
            }
            Err(e) => {
                self.finish();
                Some(Err(ApiError::Network {
                    method: self.method.clone(),
                    path: self.path.clone(),
                    attempts: 1,
                    detail: format!(
                        "the response body broke off: {}",
                        super::error::error_chain(&e)
                    ),
                }))
            }
        }
    }

    /// Read the rest of the body into one buffer (sized from `Content-Length` when known).
    ///
    /// # Errors
    /// As [`ApiStream::chunk`].
    pub async fn collect(mut self) -> Result<Bytes, ApiError> {
        let cap = self.content_length().unwrap_or(0).min(self.limit);
        let mut buf = bytes::BytesMut::with_capacity(usize::try_from(cap).unwrap_or(0));
        while let Some(chunk) = self.chunk().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(buf.freeze())
    }

    /// The underlying response, for readers that take a `reqwest::Response` (such as
    /// `rows::read_response`). Retries and the 2xx check are done; the body bytes are
    /// then counted from `Content-Length` when the server sent one (after gzip decoding there
    /// is none, and they count as 0).
    #[must_use]
    pub fn into_response(mut self) -> Option<reqwest::Response> {
        let resp = self.response.take()?;
        let extra = CallStats {
            bytes_received: resp.content_length().unwrap_or(0),
            ..CallStats::default()
        };
        self.registry.record(&self.label, &extra);
        Some(resp)
    }

    /// The body as a `futures` stream of chunks, for parsers that consume `Stream`s.
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Result<Bytes, ApiError>> + Send {
        futures_util::stream::unfold(self, |mut s| async move {
            s.chunk().await.map(|item| (item, s))
        })
    }

    fn finish(&mut self) {
        if self.response.take().is_some() {
            let extra = CallStats {
                bytes_received: self.received,
                ..CallStats::default()
            };
            self.stats.bytes_received = self.received;
            self.registry.record(&self.label, &extra);
        }
    }
}

impl Drop for ApiStream {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_defaults() {
        assert!(ApiRequest::get(Audience::Defender, "/api/incidents").idempotent);
        assert!(
            ApiRequest::post_json(
                Audience::Graph,
                "/v1.0/security/runHuntingQuery",
                &serde_json::json!({"Query": "x"})
            )
            .unwrap()
            .idempotent
        );
        assert!(
            ApiRequest::post_json(
                Audience::Defender,
                "/api/advancedhunting/run",
                &serde_json::json!({})
            )
            .unwrap()
            .idempotent
        );
        assert!(
            !ApiRequest::post_json(
                Audience::Endpoint,
                "/api/machines/1/isolate",
                &serde_json::json!({})
            )
            .unwrap()
            .idempotent
        );
        assert!(
            !ApiRequest::patch_json(
                Audience::Graph,
                "/v1.0/security/incidents/1",
                &serde_json::json!({})
            )
            .unwrap()
            .idempotent
        );
        assert!(
            ApiRequest::new(Audience::Endpoint, Method::DELETE, "/api/indicators/1")
                .idempotent(true)
                .idempotent
        );
    }

    #[test]
    fn display_path_drops_query_and_host() {
        assert_eq!(
            ApiRequest::get(Audience::Graph, "/v1.0/x?$skiptoken=abc").path_for_display(),
            "/v1.0/x"
        );
        assert_eq!(
            ApiRequest::get_url(
                Audience::Graph,
                "https://graph.microsoft.com/v1.0/y?$skiptoken=abc"
            )
            .path_for_display(),
            "/v1.0/y"
        );
    }

    #[test]
    fn json_errors_never_quote_the_body() {
        let r = ApiResponse {
            status: 200,
            headers: HeaderMap::new(),
            body: Bytes::from_static(b"{\"secret-ish-value\": }"),
            stats: CallStats::default(),
            method: "GET".into(),
            path: "/p".into(),
        };
        let e = r
            .json::<serde_json::Value>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("line 1"), "{e}");
        assert!(!e.contains("secret-ish-value"), "{e}");
    }
}
