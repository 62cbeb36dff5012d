//! The one HTTP client: builds the request for an audience, attaches its token, paces, sends,
//! and decides — per response — whether to retry, wait, renew the token, or fail.
//!
//! Retry rules (docs/auth.md "Retries"):
//! - network errors and 500/502/503/504: retried with backoff for idempotent calls (GET, the
//!   hunting POSTs); for other calls only a connect error is retried, because nothing was sent;
//! - 429: retried for every call after the wait the service asks for (`Retry-After`, or the
//!   window named in Defender's body). A throttled request was refused before it ran, so
//!   repeating a write is safe — and a cron run that fails an isolation because of a busy minute
//!   helps nobody;
//! - 401: the token is renewed and the call repeated once, then it fails (exit 4);
//! - anything else fails at once with the service's error.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::ExposeSecret;
use tokio::time::Instant;
use url::Url;

use super::error::{ApiError, ServiceError, error_chain};
use super::pacing::{Pacer, PacingPolicy, bucket_for};
use super::request::{ApiRequest, ApiResponse, ApiStream, Target};
use super::retry::{RetryPolicy, parse_retry_after, parse_throttle_message};
use super::stats::{CallStats, StatsRegistry};
use crate::auth::{Endpoints, TokenStore};

/// Settings of the client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (headers and body). Advanced hunting runs up to 3 minutes on the
    /// server (MDE: 200 s), so the default leaves room for that and the transfer.
    pub request_timeout: Duration,
    /// Retries and waits.
    pub retry: RetryPolicy,
    /// Client-side budgets.
    pub pacing: PacingPolicy,
    /// The largest response body accepted (MDE caps results at 124 MB).
    pub max_body_bytes: u64,
    /// Extra trusted CA certificates, PEM (the emulator's self-signed certificate).
    pub extra_root_certificates: Vec<Vec<u8>>,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
            retry: RetryPolicy::default(),
            pacing: PacingPolicy::default(),
            max_body_bytes: 256 * 1024 * 1024,
            extra_root_certificates: Vec::new(),
            user_agent: format!("huntbook/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl ClientOptions {
    /// Settings for tests against local mocks: millisecond backoff, no pacing.
    #[must_use]
    pub fn for_tests() -> ClientOptions {
        ClientOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::fast(),
            pacing: PacingPolicy::disabled(),
            ..ClientOptions::default()
        }
    }
}

/// Build the one `reqwest::Client` (rustls; no redirects, so a token or a form with a secret
/// never follows a `Location` elsewhere). Token requests and API calls share it.
///
/// # Errors
/// [`ApiError::Setup`] for an unreadable CA certificate or a TLS set-up failure.
pub fn http_client(options: &ClientOptions) -> Result<reqwest::Client, ApiError> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(options.connect_timeout)
        .timeout(options.request_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(options.user_agent.clone())
        .gzip(true);
    for pem in &options.extra_root_certificates {
        let cert = reqwest::Certificate::from_pem(pem)
            .map_err(|e| ApiError::Setup(format!("invalid CA certificate: {}", error_chain(&e))))?;
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|e| ApiError::Setup(error_chain(&e)))
}

struct Inner {
    http: reqwest::Client,
    tokens: Arc<TokenStore>,
    options: ClientOptions,
    pacer: Pacer,
    stats: Arc<StatsRegistry>,
}

/// The API client. Cheap to clone; every clone shares the connection pool, tokens, pacing and
/// statistics.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("tokens", &self.inner.tokens)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// How an attempt ended when it did not produce a usable response.
enum Step {
    Retry { wait: Duration },
    Fail(ApiError),
}

/// Whether a request error happened before anything was sent.
fn nothing_sent(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_builder()
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

impl Client {
    /// A client over a shared `reqwest::Client` and token store.
    #[must_use]
    pub fn new(http: reqwest::Client, tokens: Arc<TokenStore>, options: ClientOptions) -> Client {
        let pacer = Pacer::new(options.pacing.clone());
        Client {
            inner: Arc::new(Inner {
                http,
                tokens,
                options,
                pacer,
                stats: Arc::new(StatsRegistry::default()),
            }),
        }
    }

    /// The token store.
    #[must_use]
    pub fn tokens(&self) -> &Arc<TokenStore> {
        &self.inner.tokens
    }

    /// Call statistics per label.
    #[must_use]
    pub fn stats(&self) -> &StatsRegistry {
        &self.inner.stats
    }

    /// Hosts and resources.
    #[must_use]
    pub fn endpoints(&self) -> &Endpoints {
        self.inner.tokens.endpoints()
    }

    /// The options.
    #[must_use]
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// The absolute URL a request goes to, query included. Absolute targets must be on the
    /// audience's host.
    ///
    /// # Errors
    /// [`ApiError::InvalidUrl`], [`ApiError::ForeignUrl`].
    pub fn resolve_url(&self, req: &ApiRequest) -> Result<Url, ApiError> {
        let base = self.endpoints().base(req.audience);
        let mut url = match &req.target {
            Target::Path(p) => {
                if p.contains("://") {
                    return Err(ApiError::InvalidUrl {
                        url: p.clone(),
                        reason:
                            "a path must not contain a scheme; give an absolute URL as a URL target"
                                .to_string(),
                    });
                }
                let joined = self.endpoints().join(req.audience, p);
                let url = Url::parse(&joined).map_err(|e| ApiError::InvalidUrl {
                    url: p.clone(),
                    reason: e.to_string(),
                })?;
                // Joining can never change the host, but the token's safety rests on it.
                if !same_origin(&url, base) {
                    return Err(ApiError::InvalidUrl {
                        url: p.clone(),
                        reason: "the path changes the host".to_string(),
                    });
                }
                url
            }
            Target::Url(u) => {
                let url = Url::parse(u).map_err(|e| ApiError::InvalidUrl {
                    url: u.clone(),
                    reason: e.to_string(),
                })?;
                if !same_origin(&url, base) {
                    return Err(ApiError::ForeignUrl {
                        url: format!("{}://{}", url.scheme(), url.host_str().unwrap_or("")),
                        audience: req.audience,
                        expected: format!("{}://{}", base.scheme(), base.host_str().unwrap_or("")),
                    });
                }
                url
            }
        };
        if !req.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        Ok(url)
    }

    /// Send a request and read the whole body into one buffer.
    ///
    /// # Errors
    /// See [`ApiError`]; statistics are recorded either way.
    pub async fn send(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        let label = req.label.clone().unwrap_or_default();
        let mut stats = CallStats {
            calls: 1,
            ..CallStats::default()
        };
        let started = Instant::now();
        let result = self.run(&req, &mut stats, true).await;
        stats.elapsed = started.elapsed();
        if result.is_err() {
            stats.failures = 1;
        }
        self.inner.stats.record(&label, &stats);
        let (resp, body) = result?;
        let (status, headers) = (resp.status, resp.headers);
        Ok(ApiResponse {
            status,
            headers,
            body: body.unwrap_or_default(),
            stats,
            method: req.method.to_string(),
            path: req.path_for_display(),
        })
    }

    /// Send a request and return once the headers are in; the body is read from the stream.
    /// Retries apply up to the headers only.
    ///
    /// # Errors
    /// See [`ApiError`].
    pub async fn send_stream(&self, req: ApiRequest) -> Result<ApiStream, ApiError> {
        let label = req.label.clone().unwrap_or_default();
        let mut stats = CallStats {
            calls: 1,
            ..CallStats::default()
        };
        let started = Instant::now();
        let result = self.run(&req, &mut stats, false).await;
        stats.elapsed = started.elapsed();
        if result.is_err() {
            stats.failures = 1;
        }
        self.inner.stats.record(&label, &stats);
        let (head, _) = result?;
        Ok(ApiStream {
            status: head.status,
            headers: head.headers,
            stats,
            response: head.response,
            registry: self.inner.stats.clone(),
            label,
            received: 0,
            limit: self.inner.options.max_body_bytes,
            method: req.method.to_string(),
            path: req.path_for_display(),
        })
    }

    async fn run(
        &self,
        req: &ApiRequest,
        stats: &mut CallStats,
        read_body: bool,
    ) -> Result<(Head, Option<Bytes>), ApiError> {
        let url = self.resolve_url(req)?;
        let method = req.method.to_string();
        let path = url.path().to_string();
        // Classify on the API path, without a proxy prefix the base URL may carry.
        let prefix = self
            .endpoints()
            .base(req.audience)
            .path()
            .trim_end_matches('/');
        let bucket = bucket_for(
            req.audience,
            &req.method,
            path.strip_prefix(prefix).unwrap_or(&path),
        );
        let mut attempt: u32 = 0;
        let mut renewed = false;
        loop {
            attempt += 1;
            stats.attempts += 1;
            if attempt > 1 {
                stats.retries += 1;
            }
            stats.waited += self.inner.pacer.acquire(bucket).await;
            let token = self.inner.tokens.token(req.audience).await?;
            let mut bearer =
                HeaderValue::try_from(format!("Bearer {}", token.secret().expose_secret()))
                    .map_err(|_| {
                        ApiError::Setup(
                            "the access token contains characters not allowed in a header"
                                .to_string(),
                        )
                    })?;
            // Sensitive: never logged by the HTTP stack, never HPACK-indexed.
            bearer.set_sensitive(true);
            let mut rb = self
                .inner
                .http
                .request(req.method.clone(), url.clone())
                .header(AUTHORIZATION, bearer)
                .header(reqwest::header::ACCEPT, "application/json");
            for (k, v) in &req.headers {
                // The token is ours to set; a caller's Authorization header would go out next to it.
                if k != AUTHORIZATION {
                    rb = rb.header(k.clone(), v.clone());
                }
            }
            if let Some(body) = &req.body {
                stats.bytes_sent += body.len() as u64;
                rb = rb
                    .header(
                        CONTENT_TYPE,
                        HeaderValue::from_static("application/json; charset=utf-8"),
                    )
                    .body(body.clone());
            }
            if let Some(t) = req.timeout {
                rb = rb.timeout(t);
            }
            let sent_at = Instant::now();
            let outcome = rb.send().await;
            let step = match outcome {
                Err(e) => {
                    tracing::debug!(step = log_step(req).as_deref(), method, path, attempt, error = %error_chain(&e), "api call failed");
                    self.on_network_error(req, &e, attempt, stats)
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    tracing::debug!(
                        step = log_step(req).as_deref(),
                        audience = %req.audience,
                        method,
                        path,
                        status,
                        attempt,
                        duration_ms = sent_at.elapsed().as_millis() as u64,
                        "api call"
                    );
                    if (200..300).contains(&status) {
                        let head = Head {
                            status,
                            headers: resp.headers().clone(),
                            response: None,
                        };
                        if !read_body {
                            return Ok((
                                Head {
                                    response: Some(resp),
                                    ..head
                                },
                                None,
                            ));
                        }
                        match self.read_body(resp, &method, &path).await {
                            Ok(body) => {
                                stats.bytes_received = body.len() as u64;
                                return Ok((head, Some(body)));
                            }
                            Err(BodyError::TooLarge(e)) => return Err(e),
                            Err(BodyError::Broken(e)) => {
                                tracing::debug!(step = log_step(req).as_deref(), method, path, attempt, error = %error_chain(&e), "response body broke off");
                                self.on_network_error(req, &e, attempt, stats)
                            }
                        }
                    } else {
                        self.on_status(req, resp, &token, &mut renewed, attempt, stats, bucket)
                            .await
                    }
                }
            };
            match step {
                Step::Fail(e) => return Err(e),
                Step::Retry { wait } => {
                    if !wait.is_zero() {
                        stats.waited += wait;
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    }

    fn on_network_error(
        &self,
        req: &ApiRequest,
        e: &reqwest::Error,
        attempt: u32,
        stats: &CallStats,
    ) -> Step {
        let policy = &self.inner.options.retry;
        let fail = |note: &str| {
            Step::Fail(ApiError::Network {
                method: req.method.to_string(),
                path: req.path_for_display(),
                attempts: attempt,
                detail: format!("{}{note}", error_chain(e)),
            })
        };
        let safe = req.idempotent || nothing_sent(e);
        if !safe {
            return fail(
                "; not retried: the request may have reached the service and is not idempotent",
            );
        }
        if attempt >= policy.max_attempts {
            return fail("");
        }
        let wait = policy.backoff(attempt);
        if stats.waited + wait > policy.max_total_wait {
            return fail("");
        }
        tracing::warn!(
            step = log_step(req).as_deref(),
            method = %req.method,
            path = %req.path_for_display(),
            attempt,
            wait_ms = wait.as_millis() as u64,
            "network error; retrying"
        );
        Step::Retry { wait }
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one call site; the state of one attempt loop"
    )]
    async fn on_status(
        &self,
        req: &ApiRequest,
        resp: reqwest::Response,
        token: &crate::auth::AccessToken,
        renewed: &mut bool,
        attempt: u32,
        stats: &mut CallStats,
        bucket: Option<&'static str>,
    ) -> Step {
        let policy = &self.inner.options.retry;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        // Error bodies are small; cap what we read anyway.
        let body = read_capped(resp, MAX_ERROR_BODY).await;
        let service = Box::new(ServiceError::parse(
            &body,
            &[token.secret().expose_secret()],
        ));
        let method = req.method.to_string();
        let path = req.path_for_display();
        match status {
            401 if !*renewed => {
                *renewed = true;
                stats.reauthenticated += 1;
                tracing::info!(step = log_step(req).as_deref(), audience = %req.audience, path, "HTTP 401: renewing the token and retrying once");
                self.inner
                    .tokens
                    .invalidate(req.audience, token.generation)
                    .await;
                Step::Retry {
                    wait: Duration::ZERO,
                }
            }
            401 => Step::Fail(ApiError::Unauthorized {
                method,
                path,
                audience: req.audience,
                service,
            }),
            403 => Step::Fail(ApiError::Forbidden {
                method,
                path,
                service,
            }),
            429 => {
                stats.throttled += 1;
                let hint = service.message.as_deref().and_then(parse_throttle_message);
                let asked = retry_after.or(hint.map(|h| h.wait));
                let wait = asked.unwrap_or_else(|| policy.backoff(attempt));
                // Everyone using this bucket waits, not just this call.
                self.inner.pacer.block(bucket, wait);
                if attempt >= policy.max_attempts || stats.waited + wait > policy.max_total_wait {
                    return Step::Fail(ApiError::Throttled {
                        method,
                        path,
                        attempts: attempt,
                        wait: asked,
                        service,
                    });
                }
                tracing::warn!(
                    step = log_step(req).as_deref(),
                    method,
                    path,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    // Not `message`: that is the event's own text in JSON logs.
                    service_message = service.message.as_deref().unwrap_or(""),
                    "throttled (HTTP 429); waiting"
                );
                // The block above already holds this bucket; pacing will absorb the wait for a
                // paced bucket, so only unpaced calls sleep here.
                if bucket.is_some() && self.inner.pacer.policy().enabled {
                    Step::Retry {
                        wait: Duration::ZERO,
                    }
                } else {
                    Step::Retry { wait }
                }
            }
            500 | 502 | 503 | 504 if req.idempotent && attempt < policy.max_attempts => {
                let wait = retry_after.unwrap_or_else(|| policy.backoff(attempt));
                if stats.waited + wait > policy.max_total_wait {
                    return Step::Fail(ApiError::Status {
                        method,
                        path,
                        status,
                        attempts: attempt,
                        service,
                    });
                }
                tracing::warn!(
                    step = log_step(req).as_deref(),
                    method,
                    path,
                    status,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "server error; retrying"
                );
                Step::Retry { wait }
            }
            _ => Step::Fail(ApiError::Status {
                method,
                path,
                status,
                attempts: attempt,
                service,
            }),
        }
    }

    async fn read_body(
        &self,
        mut resp: reqwest::Response,
        method: &str,
        path: &str,
    ) -> Result<Bytes, BodyError> {
        let limit = self.inner.options.max_body_bytes;
        let too_large = || {
            BodyError::TooLarge(ApiError::BodyTooLarge {
                method: method.to_string(),
                path: path.to_string(),
                limit,
            })
        };
        let hint = resp.content_length().unwrap_or(0);
        if hint > limit {
            return Err(too_large());
        }
        if hint > 0 {
            // One allocation of the announced size; each chunk copied in once.
            let mut buf = BytesMut::with_capacity(usize::try_from(hint).unwrap_or(0));
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        if (buf.len() + chunk.len()) as u64 > limit {
                            return Err(too_large());
                        }
                        buf.extend_from_slice(&chunk);
                    }
                    Ok(None) => return Ok(buf.freeze()),
                    Err(e) => return Err(BodyError::Broken(e)),
                }
            }
        }
        // Unknown length (chunked, or decompressed): keep the chunks, then join them once at the
        // exact size — or hand back the only chunk without copying.
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut total: u64 = 0;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    total += chunk.len() as u64;
                    if total > limit {
                        return Err(too_large());
                    }
                    chunks.push(chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(BodyError::Broken(e)),
            }
        }
        if chunks.len() <= 1 {
            return Ok(chunks.pop().unwrap_or_default());
        }
        let mut buf = BytesMut::with_capacity(usize::try_from(total).unwrap_or(0));
        for c in chunks {
            buf.extend_from_slice(&c);
        }
        Ok(buf.freeze())
    }
}

enum BodyError {
    TooLarge(ApiError),
    Broken(reqwest::Error),
}

struct Head {
    status: u16,
    headers: HeaderMap,
    response: Option<reqwest::Response>,
}

/// The most of an error body kept: enough for any service error (and for a `request` step
/// that expects the status to read it), bounded against a hostile or broken server.
const MAX_ERROR_BODY: usize = 64 * 1024;

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= cap {
            break;
        }
    }
    out
}

/// The step an API call is logged under: the running step's id (as in `step_start`), else the
/// request's label.
fn log_step(req: &ApiRequest) -> Option<std::sync::Arc<str>> {
    super::log_step().or_else(|| req.label.as_deref().map(std::sync::Arc::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compile-time: one client and token store are shared by concurrent steps on a
    /// multi-threaded runtime, so they and their futures must cross threads.
    #[test]
    fn client_and_its_futures_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        fn send_future<F: std::future::Future + Send>(_: F) {}
        send_sync::<Client>();
        send_sync::<TokenStore>();
        #[expect(dead_code, reason = "type-checked, never run")]
        fn futures(c: &Client, r: ApiRequest) {
            send_future(c.send(r.clone()));
            send_future(c.send_stream(r.clone()));
            send_future(c.paginate(r, crate::api::Paging::NextLink, 10));
            send_future(c.tokens().token(crate::auth::Audience::Graph));
        }
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let a = Url::parse("https://graph.microsoft.com/v1.0").unwrap();
        assert!(same_origin(
            &a,
            &Url::parse("https://graph.microsoft.com:443/x?y").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("http://graph.microsoft.com/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://graph.microsoft.com.evil.example/x").unwrap()
        ));
        assert!(!same_origin(
            &a,
            &Url::parse("https://graph.microsoft.com:8443/x").unwrap()
        ));
    }
}
