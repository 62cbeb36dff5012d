//! The wire side of getting tokens: hand-rolled form POSTs to the v2.0 token and device-code
//! endpoints (client credentials with a secret or an assertion, password, refresh token, device
//! code), tolerant parsing of the answers, and the device-code polling loop.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::certificate::ClientCertificate;
use super::error::{AuthError, DeviceCodeError, EntraError};
use crate::api::error::error_chain;
use crate::api::retry::{RetryPolicy, parse_retry_after};

/// A successful token response.
pub(crate) struct Grant {
    pub access_token: SecretString,
    pub expires_in: Option<Duration>,
    pub refresh_token: Option<SecretString>,
    pub id_token: Option<SecretString>,
}

#[derive(Deserialize)]
struct RawGrant {
    #[serde(default)]
    access_token: Option<SecretString>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    refresh_token: Option<SecretString>,
    #[serde(default)]
    id_token: Option<SecretString>,
}

/// A JSON number or a numeric string (v1 endpoints send `"3599"`), as seconds.
pub(crate) fn seconds(v: Option<&serde_json::Value>) -> Option<Duration> {
    let secs = match v? {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        })?,
        serde_json::Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// What the caller sees during a device-code sign-in: where to go and what to type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCodePrompt {
    /// The short code the user types.
    pub user_code: String,
    /// The page to open (`https://microsoft.com/devicelogin`).
    pub verification_uri: String,
    /// The identity platform's own instructions.
    pub message: String,
    /// How long the code stays valid.
    pub expires_in: Duration,
}

/// Receives the device-code prompt (the CLI prints it to stderr).
pub type PromptFn = Arc<dyn Fn(&DeviceCodePrompt) + Send + Sync>;

/// The run's environment variable that lowers the device-code polling floor
/// ([`PollTiming::min_interval`]) — a duration (`0s`, `50ms`). Honoured only when the identity
/// platform is on loopback (the emulator): `run --emulator` and `huntbook test` set it to `0s`
/// so a sign-in polls at the emulator's announced interval. A real tenant's sign-in keeps the
/// 1 s floor whatever it says.
pub const POLL_FLOOR_VAR: &str = "HUNTBOOK_DEVICE_CODE_MIN_INTERVAL";

/// The interval when the server announces none (RFC 8628 §3.2: 5 seconds).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// The polling floor of real sign-ins: a server announcing no interval at all must not make
/// us hammer it. Microsoft announces 5 s, so it never binds there.
const DEFAULT_FLOOR: Duration = Duration::from_secs(1);

/// Polling cadence of the device-code flow: the server's announced `interval`, never below
/// `min_interval`, plus `slow_down_step` on each `slow_down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollTiming {
    /// Use this interval instead of the server's `interval` (tests).
    pub interval_override: Option<Duration>,
    /// The shortest interval honoured from the server (1 s; lower only against the emulator).
    pub min_interval: Duration,
    /// Added to the interval on each `slow_down` (RFC 8628 §3.5: 5 seconds).
    pub slow_down_step: Duration,
}

impl Default for PollTiming {
    fn default() -> PollTiming {
        PollTiming {
            interval_override: None,
            min_interval: DEFAULT_FLOOR,
            slow_down_step: Duration::from_secs(5),
        }
    }
}

impl PollTiming {
    /// The timing of a run whose identity platform is at `login`: the default, with the floor
    /// lowered to [`POLL_FLOOR_VAR`] when that is set and `login` is loopback. Set against any
    /// other host, it is ignored with a warning.
    ///
    /// # Errors
    /// When [`POLL_FLOOR_VAR`] is not a duration.
    pub fn for_login(env: &super::EnvVars, login: &url::Url) -> Result<PollTiming, AuthError> {
        let mut timing = PollTiming::default();
        let Some(text) = env.get(POLL_FLOOR_VAR).filter(|v| !v.trim().is_empty()) else {
            return Ok(timing);
        };
        let floor = crate::template::types::parse_duration(text).map_err(|e| {
            AuthError::InvalidSetting {
                setting: POLL_FLOOR_VAR,
                value: text.clone(),
                reason: format!("is not a duration: {e}"),
            }
        })?;
        if super::endpoints::is_loopback(login) {
            timing.min_interval = floor;
        } else if floor < timing.min_interval {
            tracing::warn!(
                setting = POLL_FLOOR_VAR,
                login = %display_url(login),
                "{POLL_FLOOR_VAR} is ignored: it lowers the device-code polling floor only for an identity platform on loopback (the emulator)"
            );
        } else {
            timing.min_interval = floor;
        }
        Ok(timing)
    }

    /// The interval before the first poll, from the server's announced `interval`.
    pub(crate) fn first_interval(&self, announced: Option<Duration>) -> Duration {
        self.interval_override
            .unwrap_or_else(|| announced.unwrap_or(DEFAULT_INTERVAL).max(self.min_interval))
    }
}

/// What to do after a polling error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PollNext {
    /// Keep polling at this interval.
    Continue(Duration),
    /// Stop with this outcome.
    Stop(DeviceCodeError),
    /// Not a polling condition: surface the identity platform's error.
    Fail,
}

/// The RFC 8628 polling state machine for one error string.
pub(crate) fn next_poll(error: &str, interval: Duration, timing: &PollTiming) -> PollNext {
    match error {
        "authorization_pending" => PollNext::Continue(interval),
        "slow_down" => PollNext::Continue(interval + timing.slow_down_step),
        "authorization_declined" | "access_denied" => PollNext::Stop(DeviceCodeError::Declined),
        "expired_token" | "code_expired" => PollNext::Stop(DeviceCodeError::Expired),
        "bad_verification_code" => PollNext::Stop(DeviceCodeError::BadCode),
        _ => PollNext::Fail,
    }
}

#[derive(Deserialize)]
struct RawDeviceCode {
    device_code: SecretString,
    user_code: String,
    #[serde(default)]
    verification_uri: Option<String>,
    // The v1 endpoint spells it `_url` (defender-api.md §1.6).
    #[serde(default)]
    verification_url: Option<String>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    interval: Option<serde_json::Value>,
    #[serde(default)]
    message: Option<String>,
}

/// One form field; secret values are marked so they can be scrubbed from error text.
pub(crate) enum Field<'a> {
    Plain(&'static str, String),
    Secret(&'static str, &'a SecretString),
    /// `client_assertion`, signed anew for every attempt (a retry is a new token request:
    /// fresh `jti`, fresh validity window), with the token URL as audience.
    Assertion(&'a ClientCertificate, &'a str),
}

/// A field's value for one attempt.
enum Rendered<'a> {
    Borrowed(&'a str),
    Secret(SecretString),
}

impl Rendered<'_> {
    fn as_str(&self) -> &str {
        match self {
            Rendered::Borrowed(s) => s,
            Rendered::Secret(s) => s.expose_secret(),
        }
    }
}

fn render<'a>(
    fields: &'a [Field<'a>],
    url: &url::Url,
) -> Result<Vec<(&'static str, Rendered<'a>)>, AuthError> {
    fields
        .iter()
        .map(|f| {
            Ok(match f {
                Field::Plain(k, v) => (*k, Rendered::Borrowed(v.as_str())),
                Field::Secret(k, v) => (*k, Rendered::Borrowed(v.expose_secret())),
                Field::Assertion(cert, client_id) => (
                    "client_assertion",
                    Rendered::Secret(cert.assertion(url.as_str(), client_id)?),
                ),
            })
        })
        .collect()
}

/// Posts forms to one identity-platform endpoint through the shared HTTP client.
#[derive(Clone)]
pub(crate) struct TokenClient {
    pub http: reqwest::Client,
    pub retry: RetryPolicy,
}

impl fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenClient")
            .field("retry", &self.retry)
            .finish()
    }
}

enum Answer {
    Ok(Vec<u8>),
    Refused(EntraError),
}

/// Strip the query (never present on our token URLs, but cheap insurance) for messages.
fn display_url(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

impl TokenClient {
    /// POST a form, retrying network errors, 5xx, 429 and Entra's "temporarily unavailable"
    /// per the retry policy (token requests are idempotent: asking twice just mints two tokens).
    async fn post(
        &self,
        url: &url::Url,
        fields: &[Field<'_>],
        retryable: bool,
    ) -> Result<Answer, AuthError> {
        let grant = fields
            .iter()
            .find_map(|f| match f {
                Field::Plain("grant_type", v) => Some(v.as_str()),
                _ => None,
            })
            .unwrap_or("device_authorization");
        let shown = display_url(url);
        let attempts = if retryable {
            self.retry.max_attempts.max(1)
        } else {
            1
        };
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let rendered = render(fields, url)?;
            let form: Vec<(&str, &str)> = rendered.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let scrub: Vec<&str> = fields
                .iter()
                .zip(&rendered)
                .filter_map(|(f, (_, v))| match f {
                    Field::Plain(..) => None,
                    Field::Secret(..) | Field::Assertion(..) => Some(v.as_str()),
                })
                .collect();
            let started = std::time::Instant::now();
            let result = self
                .http
                .post(url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .form(&form)
                .send()
                .await;
            let (status, retry_after, body) = match result {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
                    match resp.bytes().await {
                        Ok(b) => (status, retry_after, b),
                        Err(e) => {
                            tracing::debug!(url = %shown, grant, attempt, error = %e, "token response body failed");
                            if attempt < attempts {
                                let wait = self.retry.backoff(attempt);
                                if waited + wait <= self.retry.max_total_wait {
                                    waited += wait;
                                    tokio::time::sleep(wait).await;
                                    continue;
                                }
                            }
                            return Err(AuthError::Network {
                                url: shown,
                                detail: error_chain(&e),
                            });
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(url = %shown, grant, attempt, error = %e, "token request failed");
                    if attempt < attempts {
                        let wait = self.retry.backoff(attempt);
                        if waited + wait <= self.retry.max_total_wait {
                            waited += wait;
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                    }
                    return Err(AuthError::Network {
                        url: shown,
                        detail: error_chain(&e),
                    });
                }
            };
            tracing::debug!(
                url = %shown,
                grant,
                attempt,
                status,
                duration_ms = started.elapsed().as_millis() as u64,
                "token request"
            );
            if (200..300).contains(&status) {
                return Ok(Answer::Ok(body.to_vec()));
            }
            let entra = EntraError::parse(status, &body, &scrub);
            let transient = status == 429
                || status >= 500
                || entra.as_ref().is_some_and(EntraError::is_transient);
            // Device-code polling errors are 400s and must reach the poll loop untouched.
            if transient && attempt < attempts {
                let wait = retry_after.unwrap_or_else(|| self.retry.backoff(attempt));
                if waited + wait <= self.retry.max_total_wait {
                    tracing::warn!(url = %shown, status, wait_ms = wait.as_millis() as u64, "identity platform busy; retrying");
                    waited += wait;
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            return match entra {
                Some(e) => Ok(Answer::Refused(e)),
                None => Err(AuthError::InvalidResponse {
                    url: shown,
                    status,
                    detail: match (status, body.is_empty()) {
                        (404, _) => {
                            "no token endpoint here; check the tenant and HUNTBOOK_LOGIN_URL"
                                .to_string()
                        }
                        (_, true) => "an empty body".to_string(),
                        _ => format!(
                            "{} bytes that are not an identity-platform error",
                            body.len()
                        ),
                    },
                }),
            };
        }
    }

    /// POST to the token endpoint and parse a grant.
    pub(crate) async fn token(
        &self,
        url: &url::Url,
        fields: &[Field<'_>],
    ) -> Result<Grant, AuthError> {
        match self.post(url, fields, true).await? {
            Answer::Ok(body) => parse_grant(url, &body),
            Answer::Refused(e) => Err(AuthError::Entra(Box::new(e))),
        }
    }

    /// Run the device-code flow: ask for a code, hand the prompt to `prompt`, poll until the
    /// user finishes, declines, or the code expires.
    pub(crate) async fn device_code(
        &self,
        device_url: &url::Url,
        token_url: &url::Url,
        client_id: &str,
        scope: &str,
        prompt: &PromptFn,
        timing: &PollTiming,
    ) -> Result<Grant, AuthError> {
        let start = [
            Field::Plain("client_id", client_id.to_string()),
            Field::Plain("scope", scope.to_string()),
        ];
        let body = match self.post(device_url, &start, true).await? {
            Answer::Ok(b) => b,
            Answer::Refused(e) => return Err(AuthError::Entra(Box::new(e))),
        };
        let raw: RawDeviceCode =
            serde_json::from_slice(&body).map_err(|e| AuthError::InvalidResponse {
                url: display_url(device_url),
                status: 200,
                detail: format!("not a device-code response: {e}"),
            })?;
        let verification_uri = raw
            .verification_uri
            .or(raw.verification_url)
            .unwrap_or_else(|| "https://microsoft.com/devicelogin".to_string());
        let expires_in = seconds(raw.expires_in.as_ref()).unwrap_or(Duration::from_secs(900));
        let mut interval = timing.first_interval(seconds(raw.interval.as_ref()));
        let message = raw.message.unwrap_or_else(|| {
            format!(
                "To sign in, use a web browser to open the page {verification_uri} and enter the code {} to authenticate.",
                raw.user_code
            )
        });
        prompt(&DeviceCodePrompt {
            user_code: raw.user_code,
            verification_uri,
            message,
            expires_in,
        });
        let deadline = tokio::time::Instant::now() + expires_in;
        let poll = [
            Field::Plain(
                "grant_type",
                "urn:ietf:params:oauth:grant-type:device_code".to_string(),
            ),
            Field::Plain("client_id", client_id.to_string()),
            Field::Secret("device_code", &raw.device_code),
        ];
        loop {
            if tokio::time::Instant::now() + interval > deadline {
                return Err(DeviceCodeError::Expired.into());
            }
            tokio::time::sleep(interval).await;
            match self.post(token_url, &poll, false).await {
                Ok(Answer::Ok(body)) => return parse_grant(token_url, &body),
                Ok(Answer::Refused(e)) => match next_poll(&e.error, interval, timing) {
                    PollNext::Continue(next) => {
                        if next != interval {
                            tracing::debug!(
                                interval_ms = next.as_millis() as u64,
                                "device code: slowing down"
                            );
                        }
                        interval = next;
                    }
                    PollNext::Stop(outcome) => return Err(outcome.into()),
                    PollNext::Fail if e.is_transient() => {}
                    PollNext::Fail => return Err(AuthError::Entra(Box::new(e))),
                },
                // A network blip while the user is typing the code should not end the sign-in.
                Err(AuthError::Network { detail, .. }) => {
                    tracing::warn!(detail, "device code: poll failed; still waiting");
                }
                Err(AuthError::InvalidResponse { status, .. }) if status >= 500 => {
                    tracing::warn!(
                        status,
                        "device code: identity platform error; still waiting"
                    );
                }
                Err(other) => return Err(other),
            }
        }
    }
}

fn parse_grant(url: &url::Url, body: &[u8]) -> Result<Grant, AuthError> {
    let invalid = |detail: String| AuthError::InvalidResponse {
        url: display_url(url),
        status: 200,
        detail,
    };
    // The error of a failed parse may quote the body, which holds tokens: never surface it.
    let raw: RawGrant = serde_json::from_slice(body)
        .map_err(|_| invalid("the token response is not JSON".to_string()))?;
    let access_token = raw
        .access_token
        .filter(|t| !t.expose_secret().is_empty())
        .ok_or_else(|| invalid("the token response has no access_token".to_string()))?;
    crate::redact::register(access_token.expose_secret());
    if let Some(rt) = &raw.refresh_token {
        crate::redact::register(rt.expose_secret());
    }
    Ok(Grant {
        access_token,
        expires_in: seconds(raw.expires_in.as_ref()),
        refresh_token: raw.refresh_token.filter(|t| !t.expose_secret().is_empty()),
        id_token: raw.id_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_number_or_string() {
        assert_eq!(
            seconds(Some(&serde_json::json!(3599))),
            Some(Duration::from_secs(3599))
        );
        assert_eq!(
            seconds(Some(&serde_json::json!("3599"))),
            Some(Duration::from_secs(3599))
        );
        assert_eq!(
            seconds(Some(&serde_json::json!(3599.0))),
            Some(Duration::from_secs(3599))
        );
        assert_eq!(seconds(Some(&serde_json::json!("soon"))), None);
        assert_eq!(seconds(None), None);
    }

    #[test]
    fn grant_parsing_is_tolerant_and_never_echoes_bodies() {
        let url = url::Url::parse("https://login.example/t/oauth2/v2.0/token").unwrap();
        let g = parse_grant(&url, br#"{"token_type":"Bearer","expires_in":"3599","ext_expires_in":0,"access_token":"tok","new_field":{"x":1}}"#).unwrap();
        assert_eq!(g.access_token.expose_secret(), "tok");
        assert_eq!(g.expires_in, Some(Duration::from_secs(3599)));
        assert!(g.refresh_token.is_none());
        let err = parse_grant(
            &url,
            br#"{"access_token": "leaky-token-123", "expires_in": }"#,
        )
        .err();
        let msg = err.map(|e| format!("{e} {e:?}")).unwrap_or_default();
        assert!(!msg.contains("leaky-token-123"), "{msg}");
        assert!(parse_grant(&url, br#"{"token_type":"Bearer"}"#).is_err());
    }

    #[test]
    fn the_announced_interval_is_honoured_above_the_floor() {
        let real = PollTiming::default();
        let secs = Duration::from_secs;
        assert_eq!(real.first_interval(Some(secs(5))), secs(5));
        assert_eq!(real.first_interval(Some(secs(0))), secs(1));
        assert_eq!(real.first_interval(None), secs(5));
        let emulator = PollTiming {
            min_interval: Duration::ZERO,
            ..real
        };
        assert_eq!(emulator.first_interval(Some(secs(0))), Duration::ZERO);
        assert_eq!(emulator.first_interval(Some(secs(2))), secs(2));
        // No announcement means the RFC's 5 s even without a floor.
        assert_eq!(emulator.first_interval(None), secs(5));
        // `slow_down` still adds its full step to a zero interval.
        assert_eq!(
            next_poll("slow_down", Duration::ZERO, &emulator),
            PollNext::Continue(secs(5))
        );
    }

    #[test]
    fn the_floor_is_lowered_only_for_a_loopback_identity_platform() {
        let env =
            |v: &str| crate::auth::EnvVars::from([(POLL_FLOOR_VAR.to_string(), v.to_string())]);
        let local = url::Url::parse("http://127.0.0.1:8400").unwrap();
        let real = url::Url::parse("https://login.microsoftonline.com").unwrap();
        let floor = |env, url| PollTiming::for_login(&env, url).unwrap().min_interval;
        assert_eq!(floor(env("0s"), &local), Duration::ZERO);
        assert_eq!(floor(env("250ms"), &local), Duration::from_millis(250));
        assert_eq!(floor(env("0s"), &real), Duration::from_secs(1));
        // Raising it is always allowed; unset or empty keeps the default.
        assert_eq!(floor(env("3s"), &real), Duration::from_secs(3));
        assert_eq!(floor(env(" "), &local), Duration::from_secs(1));
        assert_eq!(
            floor(crate::auth::EnvVars::new(), &local),
            Duration::from_secs(1)
        );
        let e = PollTiming::for_login(&env("fast"), &local).unwrap_err();
        assert_eq!(e.exit_status(), crate::exit::ExitStatus::Invalid);
        assert!(
            e.to_string()
                .starts_with("HUNTBOOK_DEVICE_CODE_MIN_INTERVAL: `fast` is not a duration"),
            "{e}"
        );
    }

    #[test]
    fn polling_state_machine() {
        let t = PollTiming::default();
        let i = Duration::from_secs(5);
        assert_eq!(
            next_poll("authorization_pending", i, &t),
            PollNext::Continue(i)
        );
        assert_eq!(
            next_poll("slow_down", i, &t),
            PollNext::Continue(Duration::from_secs(10))
        );
        assert_eq!(
            next_poll("authorization_declined", i, &t),
            PollNext::Stop(DeviceCodeError::Declined)
        );
        assert_eq!(
            next_poll("expired_token", i, &t),
            PollNext::Stop(DeviceCodeError::Expired)
        );
        assert_eq!(
            next_poll("bad_verification_code", i, &t),
            PollNext::Stop(DeviceCodeError::BadCode)
        );
        assert_eq!(next_poll("invalid_client", i, &t), PollNext::Fail);
    }
}
