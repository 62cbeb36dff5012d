//! Fault injection: by route and probability or by schedule — 429, 500, 503, connection reset,
//! slow response, truncated body, token revoked mid-run.
//!
//! SPEC is a comma-separated list of rules `TARGET:KIND[=ARG][TRIGGER]`:
//! - TARGET: a bucket name (`hunting`, `incidents`, … see `limits`), `token` (the token and
//!   device-code endpoints), `discovery`, `api` (every Graph/Defender/MDE route), `*`
//!   (everything but `/_emulator/`), or a path prefix starting with `/`.
//! - KIND: `429` (ARG: `Retry-After` seconds, default 1), `500`, `503` (ARG: optional
//!   `Retry-After`), `reset` (close the connection with no response), `slow` (ARG: a delay such
//!   as `500ms` or `2s`), `truncate` (cut the JSON body in half), `revoke` (tokens issued so far
//!   stop working; the call itself then fails authentication).
//! - TRIGGER: none (every matching call), `@P` (probability, `0.2` or `20%`, drawn from a
//!   generator seeded with `--seed`, so a run is reproducible for the same call order), `#N`
//!   (the Nth matching call only), `#N-M` (calls N to M), `#N+` (the Nth and every later call).
//!
//! Calls are counted per rule, every request that matches its target counting, whatever
//! happens to it afterwards. Faults apply before authentication and rate limiting: they stand
//! for failures in front of the service (gateways, load balancers) and for revocation, which
//! the same call must already see.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::EmuError;
use super::error::{ApiError, ApiFamily};
use super::gate::family_of;
use super::identity::EntraError;
use super::limits::{Bucket, bucket_of, unknown_bucket};
use super::rng::Rng;
use super::state::EmuState;

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// 429 with `Retry-After` (seconds) and the family's throttling body.
    TooManyRequests { retry_after: u64 },
    /// 500 in the family's shape.
    ServerError,
    /// 503 in the family's shape, with `Retry-After` when given.
    Unavailable { retry_after: Option<u64> },
    /// Close the connection (TCP reset) without answering.
    Reset,
    /// Wait this long, then answer normally (or with another fault).
    Slow(Duration),
    /// Answer normally but cut the body in half, sent without `Content-Length`.
    Truncate,
    /// Revoke every token issued so far, then answer normally (the call's own token included).
    Revoke,
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::TooManyRequests { retry_after } => write!(f, "429={retry_after}"),
            FaultKind::ServerError => f.write_str("500"),
            FaultKind::Unavailable { retry_after: None } => f.write_str("503"),
            FaultKind::Unavailable {
                retry_after: Some(s),
            } => write!(f, "503={s}"),
            FaultKind::Reset => f.write_str("reset"),
            FaultKind::Slow(d) => write!(f, "slow={}ms", d.as_millis()),
            FaultKind::Truncate => f.write_str("truncate"),
            FaultKind::Revoke => f.write_str("revoke"),
        }
    }
}

impl FaultKind {
    fn name(&self) -> &'static str {
        match self {
            FaultKind::TooManyRequests { .. } => "429",
            FaultKind::ServerError => "500",
            FaultKind::Unavailable { .. } => "503",
            FaultKind::Reset => "reset",
            FaultKind::Slow(_) => "slow",
            FaultKind::Truncate => "truncate",
            FaultKind::Revoke => "revoke",
        }
    }
}

/// Which requests a rule watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultTarget {
    /// Every route except the emulator-only controls.
    All,
    /// Every Graph, Defender XDR and Defender for Endpoint route.
    Api,
    /// The routes of one rate-limit bucket.
    Bucket(Bucket),
    /// The token and device-code endpoints.
    Token,
    /// Discovery documents and keys.
    Discovery,
    /// Paths starting with this prefix.
    Prefix(String),
}

impl fmt::Display for FaultTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultTarget::All => f.write_str("*"),
            FaultTarget::Api => f.write_str("api"),
            FaultTarget::Bucket(b) => f.write_str(b.name()),
            FaultTarget::Token => f.write_str("token"),
            FaultTarget::Discovery => f.write_str("discovery"),
            FaultTarget::Prefix(p) => f.write_str(p),
        }
    }
}

/// When a rule fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultTrigger {
    /// Every matching call.
    Always,
    /// Each matching call with this probability.
    Probability(f64),
    /// Matching calls number `from` to `to` (1-based, inclusive; `None`: no end).
    Calls { from: u64, to: Option<u64> },
}

impl fmt::Display for FaultTrigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultTrigger::Always => Ok(()),
            FaultTrigger::Probability(p) => write!(f, "@{p}"),
            FaultTrigger::Calls { from, to: None } => write!(f, "#{from}+"),
            FaultTrigger::Calls { from, to: Some(to) } if from == to => write!(f, "#{from}"),
            FaultTrigger::Calls { from, to: Some(to) } => write!(f, "#{from}-{to}"),
        }
    }
}

/// One rule of a fault specification.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub target: FaultTarget,
    pub kind: FaultKind,
    pub trigger: FaultTrigger,
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}{}", self.target, self.kind, self.trigger)
    }
}

/// `--faults SPEC` (see the module documentation for the syntax).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSpec {
    pub rules: Vec<FaultRule>,
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.rules.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

const KINDS: &str = "429, 500, 503, reset, slow, truncate, revoke";

fn parse_rule(text: &str) -> Result<FaultRule, String> {
    let Some((target, rest)) = text.split_once(':') else {
        return Err("expected `TARGET:KIND`, e.g. `hunting:429@0.2`".to_string());
    };
    let target = match target.trim() {
        "" => return Err("the target before `:` is empty".to_string()),
        "*" => FaultTarget::All,
        "api" => FaultTarget::Api,
        "token" => FaultTarget::Token,
        "discovery" => FaultTarget::Discovery,
        p if p.starts_with('/') => FaultTarget::Prefix(p.to_string()),
        name => match Bucket::from_name(name) {
            Some(b) => FaultTarget::Bucket(b),
            None => {
                return Err(format!(
                    "{}; or `token`, `discovery`, `api`, `*`, or a path prefix starting with `/`",
                    unknown_bucket(name)
                ));
            }
        },
    };
    let (kind_arg, trigger) = match rest.find(['@', '#']) {
        Some(i) => (&rest[..i], Some(&rest[i..])),
        None => (rest, None),
    };
    let (kind, arg) = match kind_arg.split_once('=') {
        Some((k, a)) => (k.trim(), Some(a.trim())),
        None => (kind_arg.trim(), None),
    };
    let secs = |a: &str| -> Result<u64, String> {
        a.parse::<u64>()
            .map_err(|_| format!("`{a}` is not a whole number of seconds"))
    };
    let no_arg = |k: FaultKind| -> Result<FaultKind, String> {
        match arg {
            Some(a) => Err(format!("`{kind}` takes no `={a}`")),
            None => Ok(k),
        }
    };
    let kind = match kind {
        "429" => FaultKind::TooManyRequests {
            retry_after: arg.map(secs).transpose()?.unwrap_or(1),
        },
        "500" => no_arg(FaultKind::ServerError)?,
        "503" => FaultKind::Unavailable {
            retry_after: arg.map(secs).transpose()?,
        },
        "reset" => no_arg(FaultKind::Reset)?,
        "truncate" => no_arg(FaultKind::Truncate)?,
        "revoke" => no_arg(FaultKind::Revoke)?,
        "slow" => {
            let Some(a) = arg else {
                return Err("`slow` needs a delay, e.g. `slow=2s` or `slow=500ms`".to_string());
            };
            let d = humantime::parse_duration(a)
                .map_err(|_| format!("`{a}` is not a delay such as `2s` or `500ms`"))?;
            FaultKind::Slow(d)
        }
        "" => return Err(format!("the fault after `:` is empty; faults are {KINDS}")),
        other => return Err(format!("unknown fault `{other}`; faults are {KINDS}")),
    };
    let trigger = match trigger {
        None => FaultTrigger::Always,
        Some(t) if t.starts_with('@') => {
            let p = &t[1..];
            let value = match p.strip_suffix('%') {
                Some(pct) => pct.parse::<f64>().map(|v| v / 100.0),
                None => p.parse::<f64>(),
            }
            .map_err(|_| format!("`{p}` is not a probability (e.g. `0.2` or `20%`)"))?;
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("probability `{p}` is outside 0..1"));
            }
            FaultTrigger::Probability(value)
        }
        Some(t) => {
            let s = &t[1..];
            let n = |x: &str| -> Result<u64, String> {
                match x.parse::<u64>() {
                    Ok(v) if v >= 1 => Ok(v),
                    _ => Err(format!("`{x}` is not a call number (1, 2, …)")),
                }
            };
            if let Some(from) = s.strip_suffix('+') {
                FaultTrigger::Calls {
                    from: n(from)?,
                    to: None,
                }
            } else if let Some((a, b)) = s.split_once('-') {
                let (from, to) = (n(a)?, n(b)?);
                if to < from {
                    return Err(format!("`#{s}` ends before it starts"));
                }
                FaultTrigger::Calls { from, to: Some(to) }
            } else {
                let v = n(s)?;
                FaultTrigger::Calls {
                    from: v,
                    to: Some(v),
                }
            }
        }
    };
    Ok(FaultRule {
        target,
        kind,
        trigger,
    })
}

impl FromStr for FaultSpec {
    type Err = EmuError;

    fn from_str(s: &str) -> Result<FaultSpec, EmuError> {
        let mut rules = Vec::new();
        if s.trim().is_empty() {
            return Ok(FaultSpec { rules });
        }
        for (i, item) in s.split(',').enumerate() {
            let item = item.trim();
            let rule = parse_rule(item)
                .map_err(|why| EmuError::Faults(format!("rule {} `{item}`: {why}", i + 1)))?;
            rules.push(rule);
        }
        Ok(FaultSpec { rules })
    }
}

/// What kind of route a request is, for matching fault targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub path: String,
    pub family: Option<ApiFamily>,
    pub bucket: Option<Bucket>,
    /// A token or device-code endpoint.
    pub token: bool,
    /// A discovery document or the JWKS.
    pub discovery: bool,
}

impl RouteInfo {
    /// Classify a request.
    #[must_use]
    pub fn of(method: &Method, path: &str) -> RouteInfo {
        let family = family_of(path);
        RouteInfo {
            path: path.to_string(),
            family,
            bucket: bucket_of(method, path),
            token: family.is_none() && path.contains("/oauth2/"),
            discovery: family.is_none()
                && (path.contains("/.well-known/") || path.contains("/discovery/")),
        }
    }

    fn matches(&self, target: &FaultTarget) -> bool {
        match target {
            FaultTarget::All => true,
            FaultTarget::Api => self.family.is_some(),
            FaultTarget::Bucket(b) => self.bucket == Some(*b),
            FaultTarget::Token => self.token,
            FaultTarget::Discovery => self.discovery,
            FaultTarget::Prefix(p) => self.path.starts_with(p.as_str()),
        }
    }
}

#[derive(Debug)]
struct LiveRule {
    rule: FaultRule,
    rng: Rng,
    calls: u64,
    fired: u64,
}

/// The live fault plan; tests may change it while the emulator runs.
#[derive(Debug)]
pub struct Faults {
    seed: u64,
    rules: Mutex<Vec<LiveRule>>,
}

fn live(spec: &FaultSpec, seed: u64) -> Vec<LiveRule> {
    spec.rules
        .iter()
        .enumerate()
        .map(|(i, r)| LiveRule {
            rule: r.clone(),
            rng: Rng::new(seed, &format!("faults/{i}")),
            calls: 0,
            fired: 0,
        })
        .collect()
}

impl Faults {
    #[must_use]
    pub fn new(spec: &FaultSpec, seed: u64) -> Faults {
        Faults {
            seed,
            rules: Mutex::new(live(spec, seed)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LiveRule>> {
        self.rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replace the plan; counters and random sequences start over.
    pub fn set(&self, spec: &FaultSpec) {
        *self.lock() = live(spec, self.seed);
    }

    /// Parse and install a plan.
    ///
    /// # Errors
    /// When `spec` does not parse.
    pub fn set_str(&self, spec: &str) -> Result<(), EmuError> {
        let spec: FaultSpec = spec.parse()?;
        self.set(&spec);
        Ok(())
    }

    /// Remove every rule.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The plan in force.
    #[must_use]
    pub fn spec(&self) -> FaultSpec {
        FaultSpec {
            rules: self.lock().iter().map(|l| l.rule.clone()).collect(),
        }
    }

    /// The plan with, per rule, how many calls matched and how many times it fired.
    #[must_use]
    pub fn status(&self) -> Value {
        let rules: Vec<Value> = self
            .lock()
            .iter()
            .map(|l| json!({"rule": l.rule.to_string(), "calls": l.calls, "fired": l.fired}))
            .collect();
        json!({"spec": self.spec().to_string(), "rules": rules})
    }

    /// Count a request against every rule it matches and return the faults that fire, in
    /// rule order.
    pub fn decide(&self, route: &RouteInfo) -> Vec<FaultKind> {
        let mut fired = Vec::new();
        for live in self.lock().iter_mut() {
            if !route.matches(&live.rule.target) {
                continue;
            }
            live.calls += 1;
            let fires = match live.rule.trigger {
                FaultTrigger::Always => true,
                FaultTrigger::Probability(p) => live.rng.chance(p),
                FaultTrigger::Calls { from, to } => {
                    live.calls >= from && to.is_none_or(|t| live.calls <= t)
                }
            };
            if fires {
                live.fired += 1;
                fired.push(live.rule.kind);
            }
        }
        fired
    }
}

/// A handle on one client connection, placed in every request's extensions by the server so
/// that a `reset` fault can drop the connection instead of answering.
#[derive(Debug, Clone, Default)]
pub struct ConnControl {
    killed: Arc<AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
}

impl ConnControl {
    #[must_use]
    pub fn new() -> ConnControl {
        ConnControl::default()
    }

    /// Ask the connection's task to drop the connection with a TCP reset.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Whether [`ConnControl::kill`] was called.
    #[must_use]
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// The shared flag, for the socket wrapper that sets zero linger on drop.
    #[must_use]
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.killed.clone()
    }

    /// Resolves once [`ConnControl::kill`] is called.
    pub async fn killed(&self) {
        self.notify.notified().await;
    }
}

fn mark(mut resp: Response, kind: &FaultKind) -> Response {
    resp.headers_mut()
        .insert("x-emulator-fault", HeaderValue::from_static(kind.name()));
    resp
}

/// The response of an injected status fault, in the shape of whoever the route belongs to.
fn status_response(
    state: &EmuState,
    route: &RouteInfo,
    kind: &FaultKind,
    client_request_id: Option<String>,
) -> Response {
    let (status, retry) = match kind {
        FaultKind::TooManyRequests { retry_after } => {
            (StatusCode::TOO_MANY_REQUESTS, Some(*retry_after))
        }
        FaultKind::Unavailable { retry_after } => (StatusCode::SERVICE_UNAVAILABLE, *retry_after),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, None),
    };
    let resp = if let Some(family) = route.family {
        let mut err = match (status, family) {
            (StatusCode::TOO_MANY_REQUESTS, ApiFamily::Graph) => {
                ApiError::new(family, status, "TooManyRequests", "Too many requests.")
            }
            (StatusCode::TOO_MANY_REQUESTS, _) => {
                let budget = route
                    .bucket
                    .map(|b| state.limits.spec().budgets(b))
                    .and_then(|b| b.first().copied());
                let message = budget.map_or_else(
                    || "API calls quota exceeded!".to_string(),
                    |b| {
                        format!(
                            "API calls quota exceeded! maximum allowed {} per {}",
                            b.calls,
                            b.period_timespan()
                        )
                    },
                );
                ApiError::new(family, status, "429", message)
            }
            (StatusCode::SERVICE_UNAVAILABLE, ApiFamily::Graph) => ApiError::new(
                family,
                status,
                "serviceNotAvailable",
                "The service is temporarily unavailable. Retry the request after a delay.",
            ),
            (StatusCode::SERVICE_UNAVAILABLE, _) => ApiError::new(
                family,
                status,
                "ServiceUnavailable",
                "The service is temporarily unavailable. Retry the request after a delay.",
            ),
            (_, ApiFamily::Graph) => ApiError::new(
                family,
                status,
                "generalException",
                "An unspecified error has occurred.",
            ),
            (_, _) => ApiError::new(
                family,
                status,
                "InternalServerError",
                "An internal server error occurred. Retry the request.",
            ),
        };
        if let Some(secs) = retry {
            err = err.with_retry_after(secs);
        }
        err.client_request_id = client_request_id;
        err.into_response()
    } else if route.token || route.discovery {
        let mut err = match status {
            StatusCode::TOO_MANY_REQUESTS => EntraError::new(
                "temporarily_unavailable",
                90055,
                "There are too many incoming requests. Retry after the time given in the Retry-After header.",
            ),
            StatusCode::SERVICE_UNAVAILABLE => EntraError::new(
                "temporarily_unavailable",
                90006,
                "The service is temporarily unavailable. Retry the request.",
            ),
            _ => EntraError::new("server_error", 50000, "There was an error issuing a token."),
        }
        .with_status(status);
        if let Some(secs) = retry {
            err = err.with_retry_after(secs);
        }
        err.into_response()
    } else {
        let mut resp = (status, format!("injected fault {kind}\n")).into_response();
        if let Some(secs) = retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    };
    mark(resp, kind)
}

/// Cut a response's body in half and send it without `Content-Length`, so the client sees a
/// normal status and headers and then JSON that stops mid-way.
async fn truncate(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let cut = bytes.len() / 2;
    let part = bytes.slice(..cut);
    parts.headers.remove(header::CONTENT_LENGTH);
    let stream = futures_util::stream::once(async move { Ok::<_, Infallible>(part) });
    mark(
        Response::from_parts(parts, Body::from_stream(stream)),
        &FaultKind::Truncate,
    )
}

/// The fault-injection middleware, outermost on every route but `/_emulator/`.
pub async fn inject(State(state): State<Arc<EmuState>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path.starts_with("/_emulator/") {
        return next.run(req).await;
    }
    let route = RouteInfo::of(req.method(), path);
    let fired = state.faults.decide(&route);
    if fired.is_empty() {
        return next.run(req).await;
    }
    let delay: Duration = fired
        .iter()
        .map(|k| match k {
            FaultKind::Slow(d) => *d,
            _ => Duration::ZERO,
        })
        .sum();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if fired.contains(&FaultKind::Revoke) {
        state.identity.revoke(None, None);
    }
    let terminal = fired
        .iter()
        .find(|k| !matches!(k, FaultKind::Slow(_) | FaultKind::Revoke));
    match terminal {
        None => next.run(req).await,
        Some(FaultKind::Truncate) => truncate(next.run(req).await).await,
        Some(FaultKind::Reset) => {
            if let Some(conn) = req.extensions().get::<ConnControl>() {
                conn.kill();
                // The connection task drops this request (and the socket) as soon as it sees
                // the kill; never answer in the meantime.
                std::future::pending::<()>().await;
            }
            // Served without the emulator's own connection loop: the closest we can do is an
            // empty 502 that closes the connection.
            let mut resp = StatusCode::BAD_GATEWAY.into_response();
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            mark(resp, &FaultKind::Reset)
        }
        Some(kind) => {
            let crid = req
                .headers()
                .get("client-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            status_response(&state, &route, kind, crid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> RouteInfo {
        RouteInfo::of(&method, path)
    }

    #[test]
    fn spec_round_trips() {
        let text = "hunting:429@0.2,incidents:500#3,*:slow=250ms#1-2,token:503=7#4+,/api/machines:reset,api:truncate,api:revoke#10";
        let spec: FaultSpec = text.parse().unwrap();
        assert_eq!(spec.rules.len(), 7);
        assert_eq!(
            spec.rules[0],
            FaultRule {
                target: FaultTarget::Bucket(Bucket::Hunting),
                kind: FaultKind::TooManyRequests { retry_after: 1 },
                trigger: FaultTrigger::Probability(0.2)
            }
        );
        assert_eq!(
            spec.rules[2].kind,
            FaultKind::Slow(Duration::from_millis(250))
        );
        let again: FaultSpec = spec.to_string().parse().unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn bad_specs_are_explained() {
        let err = |s: &str| {
            s.parse::<FaultSpec>()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err("hunting:501").contains("unknown fault `501`"));
        assert!(err("huntng:500").contains("did you mean `hunting`"));
        assert!(err("hunting:500@1.5").contains("outside 0..1"));
        assert!(err("hunting:500#0").contains("not a call number"));
        assert!(err("hunting:500#5-2").contains("ends before it starts"));
        assert!(err("hunting:slow").contains("needs a delay"));
        assert!(err("hunting:reset=3").contains("takes no"));
        assert!(err("hunting").contains("TARGET:KIND"));
        assert!(err("hunting:500,incidents:oops").starts_with("invalid --faults: rule 2"));
        assert_eq!("".parse::<FaultSpec>().ok(), Some(FaultSpec::default()));
    }

    #[test]
    fn schedules_fire_on_the_right_calls() {
        let f = Faults::new(&"hunting:500#2-3".parse().unwrap(), 1);
        let r = route(Method::POST, "/api/advancedhunting/run");
        let fired: Vec<bool> = (0..5).map(|_| !f.decide(&r).is_empty()).collect();
        assert_eq!(fired, vec![false, true, true, false, false]);
        // Other routes neither count nor fire.
        assert!(f.decide(&route(Method::GET, "/api/incidents")).is_empty());
        assert_eq!(f.status()["rules"][0]["calls"], 5);
    }

    #[test]
    fn probability_is_deterministic_per_seed() {
        let spec: FaultSpec = "api:503@0.5".parse().unwrap();
        let r = route(Method::GET, "/v1.0/security/incidents");
        let run = |seed| {
            let f = Faults::new(&spec, seed);
            (0..64)
                .map(|_| !f.decide(&r).is_empty())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let hits = run(7).iter().filter(|x| **x).count();
        assert!((16..=48).contains(&hits), "{hits}");
    }

    #[test]
    fn targets_match_their_routes() {
        let token = route(Method::POST, "/contoso.example/oauth2/v2.0/token");
        assert!(token.token && !token.discovery && token.family.is_none());
        let keys = route(Method::GET, "/common/discovery/v2.0/keys");
        assert!(keys.discovery);
        let api = route(Method::POST, "/api/machines/abc/isolate");
        assert!(api.matches(&FaultTarget::Api));
        assert!(api.matches(&FaultTarget::Bucket(Bucket::Actions)));
        assert!(api.matches(&FaultTarget::Prefix("/api/machines".into())));
        assert!(!token.matches(&FaultTarget::Api));
        assert!(token.matches(&FaultTarget::All));
    }
}
