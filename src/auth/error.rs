//! Authentication errors: the identity platform's refusals parsed into [`EntraError`] with a hint
//! of what to fix, and everything else that can stop us getting a token ([`AuthError`]).
//! No variant ever holds a secret, an assertion or a token; text that comes from the server is
//! scrubbed of the values we sent before it is kept.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

use super::certificate::CertificateError;
use super::endpoints::EndpointError;
use crate::exit::ExitStatus;

/// An error response of the token or device-code endpoint (defender-api.md §1.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraError {
    /// HTTP status (400 for most, 401 for `invalid_client`).
    pub status: u16,
    /// The OAuth `error` string (`invalid_client`, `invalid_grant`, …): what to branch on.
    pub error: String,
    /// The AADSTS numbers from `error_codes` (or parsed from the description).
    pub codes: Vec<u32>,
    /// The first line of `error_description`, without the trace/correlation trailer.
    pub description: String,
    /// `trace_id`, for a support ticket.
    pub trace_id: Option<String>,
    /// `correlation_id`, for a support ticket.
    pub correlation_id: Option<String>,
}

#[derive(Deserialize)]
struct RawEntraError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
}

impl EntraError {
    /// Parse an error body. `None` when the body is not the identity platform's error JSON.
    /// `scrub` lists values we sent (secret, password, assertion, refresh token) that must not
    /// survive into the description even if a server echoed them.
    #[must_use]
    pub fn parse(status: u16, body: &[u8], scrub: &[&str]) -> Option<EntraError> {
        let raw: RawEntraError = serde_json::from_slice(body).ok()?;
        let full = raw.error_description.unwrap_or_default();
        let first = full
            .split(['\r', '\n'])
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_string();
        let mut codes: Vec<u32> = raw
            .error_codes
            .unwrap_or_default()
            .iter()
            .filter_map(|v| match v {
                serde_json::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
                serde_json::Value::String(s) => s.parse().ok(),
                _ => None,
            })
            .collect();
        if codes.is_empty()
            && let Some(n) = aadsts_in(&first)
        {
            codes.push(n);
        }
        Some(EntraError {
            status,
            error: redact(&raw.error, scrub),
            codes,
            description: redact(&first, scrub),
            trace_id: raw.trace_id,
            correlation_id: raw.correlation_id,
        })
    }

    /// The first AADSTS code, if any.
    #[must_use]
    pub fn aadsts(&self) -> Option<u32> {
        self.codes.first().copied()
    }

    /// Whether this is a credential problem of the caller (exit 4) rather than a transient
    /// service condition.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.error == "temporarily_unavailable"
            || matches!(self.aadsts(), Some(90055 | 50196))
            || self.status >= 500
    }

    /// What the user should check, by AADSTS code first (specific), then by `error`.
    #[must_use]
    pub fn hint(&self) -> Option<&'static str> {
        let by_code = match self.aadsts().unwrap_or(0) {
            7_000_215 => {
                "the client secret is wrong: check AZURE_CLIENT_SECRET (copy the secret's *value*, not its id); it may also have expired"
            }
            7_000_222 => {
                "the client secret has expired: create a new one under the app registration's Certificates & secrets and update AZURE_CLIENT_SECRET"
            }
            700_016 => {
                "no application with this client id exists in the tenant: check AZURE_CLIENT_ID and AZURE_TENANT_ID (and the cloud)"
            }
            90_002 => {
                "the tenant was not found: check AZURE_TENANT_ID and the cloud (a GCC High tenant needs --cloud gcc_high)"
            }
            500_011 => {
                "the API is not provisioned or consented in this tenant: add its permissions to the app registration and grant admin consent"
            }
            65_001 => "admin consent is missing: grant admin consent for the app's API permissions",
            700_027 | 50_012 => {
                "the certificate assertion was rejected: upload this certificate (the public part) to the app registration, or check that the private key matches it"
            }
            700_024 => {
                "the certificate assertion is outside its validity window: check this machine's clock (NTP)"
            }
            7_000_218 => "the app requires a credential: provide a client secret or a certificate",
            700_025 => {
                "this app is a public client and must not send a credential: use the device code or password flow without a secret"
            }
            50_126 => "wrong user name or password",
            50_034 => "no such user in this tenant: check the user name",
            50_053 => "the account is locked or sign-in was blocked",
            50_057 => "the user account is disabled",
            50_076 | 50_079 => {
                "the account requires multi-factor authentication, which the password flow cannot do: use the device code flow (`huntbook auth login`)"
            }
            53_003 => "a Conditional Access policy blocked the sign-in",
            700_082 | 50_173 => {
                "the cached sign-in has expired or been revoked: run `huntbook auth login` again"
            }
            70_011 | 700_022 => {
                "the requested scope is invalid: check the cloud and the HUNTBOOK_*_RESOURCE settings"
            }
            90_055 | 50_196 => {
                "the identity platform is throttling token requests: wait and retry, and cache tokens between steps"
            }
            _ => "",
        };
        if !by_code.is_empty() {
            return Some(by_code);
        }
        match self.error.as_str() {
            "invalid_client" => Some(
                "the client credential was refused: check the secret or certificate and the client id",
            ),
            "unauthorized_client" => Some(
                "the application is not allowed to use this flow, or does not exist in the tenant: check AZURE_CLIENT_ID and the app's authentication settings",
            ),
            "consent_required" => {
                Some("admin consent is missing: grant admin consent for the app's API permissions")
            }
            "interaction_required" => Some(
                "the sign-in needs user interaction (MFA or consent): use the device code flow",
            ),
            "invalid_scope" => Some("the requested scope is invalid for this cloud or app"),
            "invalid_grant" => Some(
                "the grant was refused (wrong credentials, expired sign-in, or missing consent)",
            ),
            _ => None,
        }
    }
}

impl fmt::Display for EntraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the identity platform refused the request ({}",
            self.error
        )?;
        if let Some(code) = self.aadsts() {
            write!(f, ", AADSTS{code}")?;
        }
        write!(f, ")")?;
        // The description usually starts with "AADSTS<n>: " already shown above.
        let desc = self
            .description
            .split_once(": ")
            .filter(|(head, _)| head.starts_with("AADSTS"))
            .map_or(self.description.as_str(), |(_, rest)| rest);
        if !desc.is_empty() {
            write!(f, ": {desc}")?;
        }
        if let Some(hint) = self.hint() {
            write!(f, "\nhint: {hint}")?;
        }
        if let Some(trace) = &self.trace_id {
            write!(f, "\ntrace id: {trace}")?;
            if let Some(corr) = &self.correlation_id {
                write!(f, ", correlation id: {corr}")?;
            }
        }
        Ok(())
    }
}

fn aadsts_in(text: &str) -> Option<u32> {
    let rest = &text[text.find("AADSTS")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Replace every occurrence of each (non-trivial) secret in `text` with `[REDACTED]`.
#[must_use]
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        // Very short values would redact ordinary words; real secrets are long.
        if s.len() >= 6 && out.contains(s) {
            out = out.replace(s, "[REDACTED]");
        }
    }
    out
}

/// Device-code sign-in outcomes that end the flow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceCodeError {
    /// The user declined the sign-in on the verification page.
    #[error("the sign-in was declined on the verification page")]
    Declined,
    /// Nobody entered the code before it expired.
    #[error("the device code expired before the sign-in completed; run the login again")]
    Expired,
    /// The identity platform did not recognise the device code.
    #[error("the identity platform did not recognise the device code")]
    BadCode,
}

/// Why no token could be obtained.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A setting needed for the chosen flow is missing (tenant id, client id, …).
    #[error("{what} is not set: {hint}")]
    Missing {
        what: &'static str,
        hint: &'static str,
    },
    /// The endpoint configuration is invalid.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// A setting from the run's environment has a value that cannot be used.
    #[error("{setting}: `{value}` {reason}")]
    InvalidSetting {
        setting: &'static str,
        value: String,
        reason: String,
    },
    /// The certificate file cannot be used.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// The identity platform refused the request.
    #[error("{0}")]
    Entra(Box<EntraError>),
    /// The device-code sign-in ended without a token.
    #[error(transparent)]
    DeviceCode(#[from] DeviceCodeError),
    /// User context needs a sign-in and none can be done here (no cache, no prompt).
    #[error("no cached sign-in for tenant `{tenant}` and client `{client}`{}: run `huntbook auth login` first", cache.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default())]
    LoginRequired {
        tenant: String,
        client: String,
        cache: Option<PathBuf>,
    },
    /// The token endpoint could not be reached or did not answer in time.
    #[error("cannot reach the identity platform at {url}: {detail}")]
    Network { url: String, detail: String },
    /// The token endpoint answered something that is not a token nor an error we understand.
    #[error("unexpected answer from the identity platform at {url} (HTTP {status}): {detail}")]
    InvalidResponse {
        url: String,
        status: u16,
        detail: String,
    },
    /// The refresh-token cache could not be read or written.
    #[error("token cache {}: {detail}", path.display())]
    Cache { path: PathBuf, detail: String },
}

impl AuthError {
    /// The process exit status this error calls for: 4 for refused credentials and missing
    /// sign-ins, 2 for configuration mistakes caught before any request, 1 for network trouble.
    #[must_use]
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            AuthError::Missing { .. }
            | AuthError::Endpoint(_)
            | AuthError::InvalidSetting { .. } => ExitStatus::Invalid,
            AuthError::Certificate(_)
            | AuthError::DeviceCode(_)
            | AuthError::LoginRequired { .. }
            | AuthError::Cache { .. } => ExitStatus::AuthFailed,
            AuthError::Entra(e) if e.is_transient() => ExitStatus::Failure,
            AuthError::Entra(_) => ExitStatus::AuthFailed,
            AuthError::Network { .. } | AuthError::InvalidResponse { .. } => ExitStatus::Failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD_SECRET: &str = r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app 'abc'.\r\nTrace ID: 0000aaaa-11bb-cccc-dd33-eeeeee333333\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2016-01-09 02:02:12Z","error_codes":[7000215],"timestamp":"2016-01-09 02:02:12Z","trace_id":"0000aaaa-11bb-cccc-dd33-eeeeee333333","correlation_id":"aaaa0000-bb11-2222-33cc-444444dddddd"}"#;

    #[test]
    fn bad_secret_is_explained_with_hint() {
        let e = EntraError::parse(401, BAD_SECRET.as_bytes(), &[]).unwrap();
        assert_eq!(e.error, "invalid_client");
        assert_eq!(e.aadsts(), Some(7_000_215));
        let msg = e.to_string();
        assert!(msg.starts_with("the identity platform refused the request (invalid_client, AADSTS7000215): Invalid client secret provided."), "{msg}");
        assert!(
            msg.contains("hint: the client secret is wrong: check AZURE_CLIENT_SECRET"),
            "{msg}"
        );
        assert!(msg.contains("trace id: 0000aaaa"), "{msg}");
        assert!(!msg.contains("Timestamp:"), "{msg}");
        assert_eq!(
            AuthError::Entra(Box::new(e)).exit_status(),
            ExitStatus::AuthFailed
        );
    }

    #[test]
    fn code_found_in_description_when_codes_missing() {
        let body = br#"{"error":"invalid_grant","error_description":"AADSTS50076: Due to a configuration change made by your administrator, you must use multi-factor authentication."}"#;
        let e = EntraError::parse(400, body, &[]).unwrap();
        assert_eq!(e.codes, vec![50076]);
        assert!(e.hint().unwrap_or("").contains("device code"));
    }

    #[test]
    fn echoed_secrets_are_scrubbed() {
        let body = br#"{"error":"invalid_request","error_description":"AADSTS900144: bad value 'S3cr3t~value~1234' for client_secret"}"#;
        let e = EntraError::parse(400, body, &["S3cr3t~value~1234"]).unwrap();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("S3cr3t~value~1234"), "{shown}");
        assert!(shown.contains("[REDACTED]"));
    }

    #[test]
    fn unknown_codes_fall_back_to_error_hints_and_non_json_is_none() {
        let e = EntraError::parse(400, br#"{"error":"invalid_scope"}"#, &[]).unwrap();
        assert_eq!(
            e.hint(),
            Some("the requested scope is invalid for this cloud or app")
        );
        assert!(EntraError::parse(502, b"<html>Bad gateway</html>", &[]).is_none());
        let throttled = EntraError::parse(
            400,
            br#"{"error":"temporarily_unavailable","error_codes":["90055"]}"#,
            &[],
        )
        .unwrap();
        assert!(throttled.is_transient());
        assert_eq!(
            AuthError::Entra(Box::new(throttled)).exit_status(),
            ExitStatus::Failure
        );
    }

    #[test]
    fn redact_ignores_trivial_values() {
        assert_eq!(redact("abc def", &["abc", ""]), "abc def");
        assert_eq!(redact("x=longsecret;", &["longsecret"]), "x=[REDACTED];");
    }
}
