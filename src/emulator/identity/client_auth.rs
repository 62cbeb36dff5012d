//! Client authentication at the token endpoint: a secret in the body or in HTTP Basic
//! (RFC 6749 §2.3.1), or a certificate client assertion (`private_key_jwt`: RS256 + `x5t`,
//! PS256 + `x5t#S256`, or `x5c`), with the checks and AADSTS codes Entra applies.

use std::collections::HashMap;

use axum::http::HeaderMap;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::error::EntraError;
use super::keys::{JwsAlg, b64url_decode, hex_upper, sha1_thumbprint};
use super::{IdentityState, TokenVersion};
use crate::emulator::directory::AppSpec;

/// The only `client_assertion_type` Entra accepts.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the client proved who it is: the `appidacr`/`azpacr` claim of its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// A public client: no credential.
    Public,
    /// A client secret.
    Secret,
    /// A certificate client assertion.
    Certificate,
}

impl ClientAuth {
    /// `"0"`, `"1"` or `"2"`, as in `appidacr`.
    #[must_use]
    pub fn acr(self) -> &'static str {
        match self {
            ClientAuth::Public => "0",
            ClientAuth::Secret => "1",
            ClientAuth::Certificate => "2",
        }
    }
}

/// The client id and secret of an `Authorization: Basic` header (each part form-URL-encoded,
/// as RFC 6749 §2.3.1 requires).
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    pub client_id: String,
    pub secret: String,
}

/// Parse `Authorization: Basic …`; `Ok(None)` when the header is absent or another scheme.
///
/// # Errors
/// AADSTS9002313 when the header is Basic but does not decode.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<BasicCredentials>, EntraError> {
    let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let Some((scheme, rest)) = value.trim().split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let bad =
        || EntraError::malformed("The Authorization header is not valid HTTP Basic credentials.");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let unescape = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some(BasicCredentials {
        client_id: unescape(id),
        secret: unescape(secret),
    }))
}

/// Everything the token endpoint needs to authenticate a client.
pub(crate) struct ClientRequest<'a> {
    pub form: &'a HashMap<String, String>,
    pub basic: Option<&'a BasicCredentials>,
    /// The `{tenant}` segment of the path, as sent.
    pub tenant_path: &'a str,
    pub version: TokenVersion,
}

impl IdentityState {
    /// Authenticate `app` with whatever credential the request carries.
    pub(crate) fn authenticate_client(
        &self,
        app: &AppSpec,
        req: &ClientRequest<'_>,
    ) -> Result<ClientAuth, EntraError> {
        let body_secret = req.form.get("client_secret").filter(|s| !s.is_empty());
        let secret = body_secret.or(req.basic.map(|b| &b.secret));
        let assertion = req.form.get("client_assertion").filter(|s| !s.is_empty());
        let assertion_type = req.form.get("client_assertion_type");
        if app.public_client {
            if secret.is_some() || assertion.is_some() {
                return Err(EntraError::invalid_client(
                    700_025,
                    "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
                ));
            }
            return Ok(ClientAuth::Public);
        }
        if let Some(assertion) = assertion {
            match assertion_type.map(String::as_str) {
                Some(JWT_BEARER) => {}
                None => return Err(EntraError::missing("client_assertion_type")),
                Some(other) => {
                    return Err(EntraError::new(
                        "invalid_request",
                        50027,
                        format!(
                            "JWT token is invalid or malformed: client_assertion_type '{other}' is not supported; use '{JWT_BEARER}'."
                        ),
                    ));
                }
            }
            self.check_assertion(app, assertion, req)?;
            return Ok(ClientAuth::Certificate);
        }
        if let Some(secret) = secret {
            let registered = app.client_secret.as_deref();
            // Compare without an early exit, as a real credential check would.
            let ok = registered.is_some_and(|r| {
                r.len() == secret.len()
                    && r.bytes()
                        .zip(secret.bytes())
                        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                        == 0
            });
            if !ok {
                return Err(EntraError::invalid_client(
                    7_000_215,
                    format!(
                        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                        app.client_id
                    ),
                ));
            }
            return Ok(ClientAuth::Secret);
        }
        Err(EntraError::invalid_client(
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ))
    }

    /// The audiences an assertion may name: the token endpoint of the version called (and,
    /// leniently as Entra is, the other version's and the issuer URL), on the emulator's host or
    /// the real one, with the tenant as id, domain or as written in the path.
    fn assertion_audiences(&self, tenant_path: &str) -> Vec<String> {
        let hosts = [
            self.login_url.as_str(),
            "https://login.microsoftonline.com",
            "https://login.windows.net",
        ];
        let tenants = [
            self.tenant_id.as_str(),
            self.tenant_domain.as_str(),
            tenant_path,
        ];
        let mut out = Vec::new();
        for host in hosts {
            for tenant in tenants {
                for tail in ["oauth2/v2.0/token", "oauth2/token", "v2.0"] {
                    out.push(format!("{host}/{tenant}/{tail}").to_ascii_lowercase());
                }
            }
        }
        out
    }

    fn check_assertion(
        &self,
        app: &AppSpec,
        assertion: &str,
        req: &ClientRequest<'_>,
    ) -> Result<(), EntraError> {
        let malformed = |why: &str| {
            EntraError::new(
                "invalid_request",
                50027,
                format!("JWT token is invalid or malformed: {why}."),
            )
        };
        let parts: Vec<&str> = assertion.split('.').collect();
        if parts.len() != 3 {
            return Err(malformed("a JWT has three dot-separated parts"));
        }
        let object = |part: &str, what: &str| -> Result<Map<String, Value>, EntraError> {
            let bytes = b64url_decode(part)
                .ok_or_else(|| malformed(&format!("the {what} is not base64url")))?;
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(malformed(&format!("the {what} is not a JSON object"))),
            }
        };
        let header = object(parts[0], "header")?;
        let claims = object(parts[1], "payload")?;
        let sig =
            b64url_decode(parts[2]).ok_or_else(|| malformed("the signature is not base64url"))?;

        let alg = match header.get("alg").and_then(Value::as_str) {
            Some("RS256") => JwsAlg::Rs256,
            Some("PS256") => JwsAlg::Ps256,
            other => {
                return Err(EntraError::invalid_client(
                    700_027,
                    format!(
                        "Client assertion failed signature validation. [Reason - The algorithm '{}' is not supported; sign with RS256 or PS256.]",
                        other.unwrap_or("(none)")
                    ),
                ));
            }
        };
        let Some(cert) = self.certificate(&app.client_id) else {
            return Err(EntraError::invalid_client(
                700_027,
                format!(
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]",
                    app.client_id
                ),
            ));
        };
        // Which certificate the client says it used: `x5t#S256`, `x5t`, or the leaf of `x5c`.
        let thumbprint: Option<Vec<u8>> = header
            .get("x5t#S256")
            .and_then(Value::as_str)
            .and_then(b64url_decode)
            .or_else(|| {
                header
                    .get("x5t")
                    .and_then(Value::as_str)
                    .and_then(b64url_decode)
            })
            .or_else(|| {
                header
                    .get("x5c")
                    .and_then(Value::as_array)
                    .and_then(|chain| chain.first())
                    .and_then(Value::as_str)
                    .and_then(|leaf| base64::engine::general_purpose::STANDARD.decode(leaf).ok())
                    .map(|der| sha1_thumbprint(&der))
            });
        let Some(thumbprint) = thumbprint else {
            return Err(malformed(
                "the header names no certificate: send `x5t` (SHA-1), `x5t#S256` or `x5c`",
            ));
        };
        if !cert.matches_thumbprint(&thumbprint) {
            return Err(EntraError::invalid_client(
                700_027,
                format!(
                    "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '{}'.]",
                    hex_upper(&thumbprint),
                    app.client_id
                ),
            ));
        }
        let input = format!("{}.{}", parts[0], parts[1]);
        if !cert.verify(alg, input.as_bytes(), &sig) {
            return Err(EntraError::invalid_client(
                700_027,
                "Client assertion failed signature validation.",
            ));
        }

        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let iss = text("iss").unwrap_or("");
        let sub = text("sub").unwrap_or("");
        if iss != sub {
            return Err(EntraError::invalid_client(
                50048,
                format!(
                    "Subject mismatches Issuer claim in the client assertion. Issuer: '{iss}', subject: '{sub}'."
                ),
            ));
        }
        if !iss.eq_ignore_ascii_case(&app.client_id) {
            return Err(EntraError::invalid_client(
                700_021,
                format!(
                    "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials . Assertion issuer: '{iss}', client_id: '{}'.",
                    app.client_id
                ),
            ));
        }
        let allowed = self.assertion_audiences(req.tenant_path);
        let auds: Vec<String> = match claims.get("aud") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        let aud_ok = auds
            .iter()
            .any(|a| allowed.contains(&a.trim_end_matches('/').to_ascii_lowercase()));
        if !aud_ok {
            let expected = match req.version {
                TokenVersion::V2 => {
                    format!("{}/{}/oauth2/v2.0/token", self.login_url, req.tenant_path)
                }
                TokenVersion::V1 => format!("{}/{}/oauth2/token", self.login_url, req.tenant_path),
            };
            return Err(EntraError::invalid_client(
                700_212,
                format!(
                    "The client assertion's audience claim does not match the token endpoint. Audience: '{}', expected '{expected}'.",
                    auds.join(", ")
                ),
            ));
        }
        let now = chrono::Utc::now().timestamp();
        let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
            return Err(malformed("the assertion has no `exp` claim"));
        };
        let nbf = claims.get("nbf").and_then(Value::as_i64);
        // Five minutes of clock skew for `nbf`, as Entra tolerates; `exp` is strict so that
        // a test can build an expired assertion without waiting.
        if now >= exp || nbf.is_some_and(|n| n > now + 300) {
            let fmt = |t: i64| {
                chrono::DateTime::from_timestamp(t, 0)
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%S.0000000Z").to_string())
                    .unwrap_or_default()
            };
            return Err(EntraError::invalid_client(
                700_024,
                format!(
                    "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, expiry time of assertion {}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
                    fmt(now),
                    nbf.map_or_else(|| "(none)".to_string(), fmt),
                    fmt(exp)
                ),
            ));
        }
        let Some(jti) = text("jti").filter(|j| !j.is_empty()) else {
            return Err(malformed("the assertion has no `jti` claim"));
        };
        let mut flows = self.flows();
        flows.jtis.retain(|_, e| *e > now);
        let key = (app.client_id.to_ascii_lowercase(), jti.to_string());
        if flows.jtis.contains_key(&key) {
            return Err(EntraError::invalid_client(
                50013,
                format!(
                    "Assertion is invalid: the client assertion with jti '{jti}' has already been used. Build a new assertion, with a fresh jti, for every token request."
                ),
            ));
        }
        flows.jtis.insert(key, exp);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_url_decoded() {
        let mut h = HeaderMap::new();
        let raw = base64::engine::general_purpose::STANDARD.encode("abc:s%7Ee%2Bc+ret");
        h.insert(
            axum::http::header::AUTHORIZATION,
            format!("Basic {raw}").parse().unwrap(),
        );
        let c = basic_credentials(&h).unwrap().unwrap();
        assert_eq!(c.client_id, "abc");
        assert_eq!(c.secret, "s~e+c ret");
    }

    #[test]
    fn bearer_header_is_not_basic() {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            "Bearer x.y.z".parse().unwrap(),
        );
        assert!(basic_credentials(&h).unwrap().is_none());
        h.insert(
            axum::http::header::AUTHORIZATION,
            "Basic !!!".parse().unwrap(),
        );
        assert_eq!(basic_credentials(&h).err().map(|e| e.code), Some(9_002_313));
    }
}
