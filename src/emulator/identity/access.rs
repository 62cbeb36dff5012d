//! Access tokens: minting them (claims per defender-api.md §1.11, v1 or v2 shaped by endpoint)
//! and validating them for the request gate — signature, lifetime, issuer, tenant, audience
//! for the API family, revocation — into the [`Principal`] handlers authorise with.

use std::fmt;

use serde_json::{Map, Value, json};

use super::keys::{b64url, b64url_decode};
use super::{IdentityState, TokenVersion};
use crate::emulator::directory::{AppSpec, Resource, UserSpec};
use crate::emulator::error::{ApiFamily, EmuError};
use crate::emulator::principal::Principal;

/// What a token is being issued for.
#[derive(Debug, Clone)]
pub(crate) struct Grant<'a> {
    pub app: &'a AppSpec,
    pub user: Option<&'a UserSpec>,
    /// The resource, and the identifier the client used for it (the token's `aud`).
    pub resource: (Resource, &'static str),
    /// `roles` for application tokens, `scp` for delegated ones.
    pub permissions: Vec<String>,
    /// `appidacr`/`azpacr`: "0" public client, "1" secret, "2" certificate.
    pub acr: &'static str,
    pub version: TokenVersion,
}

impl<'a> Grant<'a> {
    /// An application token with every role the app was granted on `resource`.
    pub fn application(
        app: &'a AppSpec,
        resource: Resource,
        acr: &'static str,
        version: TokenVersion,
    ) -> Grant<'a> {
        Grant {
            app,
            user: None,
            resource: (resource, resource.uri()),
            permissions: app.roles.get(&resource).cloned().unwrap_or_default(),
            acr,
            version,
        }
    }

    /// A delegated token for `user` with `scopes`.
    pub fn delegated(
        app: &'a AppSpec,
        user: &'a UserSpec,
        resource: Resource,
        scopes: Vec<String>,
        acr: &'static str,
        version: TokenVersion,
    ) -> Grant<'a> {
        Grant {
            app,
            user: Some(user),
            resource: (resource, resource.uri()),
            permissions: scopes,
            acr,
            version,
        }
    }
}

/// A minted access token and its times.
#[derive(Clone)]
pub(crate) struct IssuedAccess {
    pub token: String,
    pub expires_in: u64,
    pub not_before: i64,
    pub expires_on: i64,
}

/// 16 bytes: the issue sequence number (for revocation) then 8 random bytes; encoded like
/// Entra's 22-character `uti`.
fn make_uti(seq: u64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&seq.to_be_bytes());
    bytes[8..].copy_from_slice(&rand::random::<u64>().to_be_bytes());
    b64url(&bytes)
}

fn seq_of_uti(uti: &str) -> Option<u64> {
    let bytes = b64url_decode(uti)?;
    let head: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    (bytes.len() == 16).then(|| u64::from_be_bytes(head))
}

impl IdentityState {
    /// Mint an access token for `grant`.
    pub(crate) fn issue_access(&self, grant: &Grant<'_>) -> Result<IssuedAccess, EmuError> {
        let now = chrono::Utc::now().timestamp();
        let lifetime = self.token_lifetime.as_secs().max(1);
        let exp = now + i64::try_from(lifetime).unwrap_or(i64::MAX / 2);
        let seq = self.next_seq();
        let app_oid = self.directory.app_object_id(grant.app);
        let mut c = Map::new();
        c.insert("aud".into(), json!(grant.resource.1));
        let v2 = grant.version == TokenVersion::V2;
        let iss = if v2 {
            self.issuer_v2()
        } else {
            self.issuer_v1()
        };
        c.insert("iss".into(), json!(iss));
        c.insert("iat".into(), json!(now));
        c.insert("nbf".into(), json!(now));
        c.insert("exp".into(), json!(exp));
        if v2 {
            c.insert("azp".into(), json!(grant.app.client_id));
            c.insert("azpacr".into(), json!(grant.acr));
        } else {
            c.insert("appid".into(), json!(grant.app.client_id));
            c.insert("appidacr".into(), json!(grant.acr));
            c.insert("app_displayname".into(), json!(grant.app.name));
        }
        match grant.user {
            None => {
                c.insert("idp".into(), json!(self.issuer_v1()));
                c.insert("idtyp".into(), json!("app"));
                c.insert("oid".into(), json!(app_oid));
                c.insert("sub".into(), json!(app_oid));
                // Entra leaves `roles` out entirely when the app holds none on the resource.
                if !grant.permissions.is_empty() {
                    c.insert("roles".into(), json!(grant.permissions));
                }
            }
            Some(user) => {
                let oid = self.directory.user_object_id(user);
                c.insert("idtyp".into(), json!("user"));
                c.insert("name".into(), json!(user.name()));
                c.insert("oid".into(), json!(oid));
                c.insert("scp".into(), json!(grant.permissions.join(" ")));
                c.insert(
                    "sub".into(),
                    json!(b64url(
                        &super::keys::sha256_thumbprint(
                            format!("{oid}:{}", grant.app.client_id).as_bytes()
                        )[..24]
                    )),
                );
                c.insert("amr".into(), json!(["pwd"]));
                if v2 {
                    c.insert("preferred_username".into(), json!(user.username));
                } else {
                    c.insert("upn".into(), json!(user.username));
                    c.insert("unique_name".into(), json!(user.username));
                }
            }
        }
        c.insert("tid".into(), json!(self.tenant_id));
        c.insert("uti".into(), json!(make_uti(seq)));
        c.insert("ver".into(), json!(if v2 { "2.0" } else { "1.0" }));
        let token = self.signing.sign(&Value::Object(c), !v2)?;
        Ok(IssuedAccess {
            token,
            expires_in: lifetime,
            not_before: now,
            expires_on: exp,
        })
    }

    /// An OpenID Connect ID token for a user signing in to `app`.
    pub(crate) fn issue_id_token(
        &self,
        app: &AppSpec,
        user: &UserSpec,
    ) -> Result<String, EmuError> {
        let now = chrono::Utc::now().timestamp();
        let oid = self.directory.user_object_id(user);
        let claims = json!({
            "aud": app.client_id,
            "iss": self.issuer_v2(),
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": user.name(),
            "oid": oid,
            "preferred_username": user.username,
            "sub": b64url(&super::keys::sha256_thumbprint(format!("{oid}:{}", app.client_id).as_bytes())[..24]),
            "tid": self.tenant_id,
            "ver": "2.0",
        });
        self.signing.sign(&claims, false)
    }

    /// Validate the `Authorization` header of an API request for `family`.
    ///
    /// # Errors
    /// Why the token is refused; the gate turns it into a 401 in the family's shape.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        family: ApiFamily,
    ) -> Result<Principal, TokenRejection> {
        let value = authorization.map(str::trim).unwrap_or_default();
        if value.is_empty() {
            return Err(TokenRejection::Missing);
        }
        let Some((scheme, token)) = value.split_once(' ') else {
            return Err(TokenRejection::NotBearer);
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(TokenRejection::NotBearer);
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(TokenRejection::Missing);
        }
        if !token.contains('.') {
            return Err(TokenRejection::NoDots);
        }
        let parts: Vec<&str> = token.split('.').collect();
        if parts.len() != 3 {
            return Err(TokenRejection::Malformed(format!(
                "a JWT has three dot-separated parts, this token has {}",
                parts.len()
            )));
        }
        let decode = |part: &str, what: &str| -> Result<Map<String, Value>, TokenRejection> {
            let bytes = b64url_decode(part)
                .ok_or_else(|| TokenRejection::Malformed(format!("the {what} is not base64url")))?;
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(TokenRejection::Malformed(format!(
                    "the {what} is not a JSON object"
                ))),
            }
        };
        let header = decode(parts[0], "header")?;
        let claims = decode(parts[1], "payload")?;
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        if alg != "RS256" {
            return Err(TokenRejection::BadSignature(format!(
                "algorithm `{alg}` is not accepted; tokens are signed with RS256"
            )));
        }
        let kid = header.get("kid").and_then(Value::as_str).unwrap_or("");
        if kid != self.signing.kid {
            return Err(TokenRejection::BadSignature(format!(
                "signing key `{kid}` is not one of this tenant's keys (see the JWKS)"
            )));
        }
        let sig = b64url_decode(parts[2])
            .ok_or_else(|| TokenRejection::Malformed("the signature is not base64url".into()))?;
        let input = format!("{}.{}", parts[0], parts[1]);
        if !self.signing.verify(input.as_bytes(), &sig) {
            return Err(TokenRejection::BadSignature(
                "the signature does not match the token's contents".into(),
            ));
        }
        let int = |name: &str| claims.get(name).and_then(Value::as_i64);
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let now = chrono::Utc::now().timestamp();
        let (Some(exp), Some(nbf)) = (int("exp"), int("nbf")) else {
            return Err(TokenRejection::Malformed(
                "`exp` or `nbf` is missing".into(),
            ));
        };
        if now >= exp {
            return Err(TokenRejection::Expired { exp, now });
        }
        if now < nbf {
            return Err(TokenRejection::NotYetValid { nbf, now });
        }
        let iss = text("iss").unwrap_or("");
        if iss != self.issuer_v2() && iss != self.issuer_v1() {
            return Err(TokenRejection::WrongIssuer(iss.to_string()));
        }
        let tid = text("tid").unwrap_or("");
        if !tid.eq_ignore_ascii_case(&self.tenant_id) {
            return Err(TokenRejection::WrongTenant(tid.to_string()));
        }
        let aud = text("aud").unwrap_or("");
        let wanted = Resource::of_family(family);
        if Resource::from_identifier(aud).map(|r| r.0) != Some(wanted) {
            return Err(TokenRejection::WrongAudience {
                aud: aud.to_string(),
                expected: wanted.uri(),
            });
        }
        let app_id = text("azp")
            .or_else(|| text("appid"))
            .ok_or_else(|| TokenRejection::Malformed("`azp`/`appid` is missing".into()))?;
        let app = self
            .directory
            .app(app_id)
            .ok_or_else(|| TokenRejection::Malformed(format!("client `{app_id}` is unknown")))?;
        let user = text("preferred_username").or_else(|| text("upn"));
        let seq = text("uti")
            .and_then(seq_of_uti)
            .ok_or_else(|| TokenRejection::Malformed("`uti` is missing or invalid".into()))?;
        if self.is_revoked(seq, &app.client_id, user) {
            return Err(TokenRejection::Revoked);
        }
        let permissions: Vec<String> = match (user, claims.get("scp"), claims.get("roles")) {
            (Some(_), Some(Value::String(scp)), _) => {
                scp.split_whitespace().map(str::to_string).collect()
            }
            (None, _, Some(Value::Array(roles))) => roles
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        Ok(Principal {
            tenant_id: self.tenant_id.clone(),
            app_id: app.client_id.clone(),
            app_name: app.name.clone(),
            object_id: text("oid").unwrap_or_default().to_string(),
            user: user.map(str::to_string),
            permissions,
        })
    }
}

/// Why an API refused a bearer token (always 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRejection {
    /// No `Authorization` header, or an empty token.
    Missing,
    /// An `Authorization` header that is not `Bearer <token>`.
    NotBearer,
    /// Not a JWT at all (no dots): an opaque or truncated string.
    NoDots,
    /// A JWT that does not decode.
    Malformed(String),
    /// Wrong algorithm, unknown key, or a signature that does not verify.
    BadSignature(String),
    Expired {
        exp: i64,
        now: i64,
    },
    NotYetValid {
        nbf: i64,
        now: i64,
    },
    WrongIssuer(String),
    WrongTenant(String),
    WrongAudience {
        aud: String,
        expected: &'static str,
    },
    /// Issued before a revocation (a control call or an injected `revoke` fault).
    Revoked,
}

fn at(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| secs.to_string())
}

impl TokenRejection {
    /// The error `code` for the family: Graph says `InvalidAuthenticationToken`, Defender
    /// XDR and Defender for Endpoint say `Unauthorized`.
    #[must_use]
    pub fn code(&self, family: ApiFamily) -> &'static str {
        match family {
            ApiFamily::Graph => "InvalidAuthenticationToken",
            ApiFamily::Defender | ApiFamily::Endpoint => "Unauthorized",
        }
    }

    /// The message, worded as Graph words it where its wording is known, and specific about
    /// what was wrong.
    #[must_use]
    pub fn message(&self, family: ApiFamily) -> String {
        let graph = family == ApiFamily::Graph;
        match self {
            TokenRejection::Missing if graph => "Access token is empty.".into(),
            TokenRejection::Missing => {
                "Authorization header is missing or empty: send `Authorization: Bearer <access token>`."
                    .into()
            }
            TokenRejection::NotBearer => {
                "Authorization header is not a Bearer token: send `Authorization: Bearer <access token>`."
                    .into()
            }
            TokenRejection::NoDots if graph => {
                "IDX14100: JWT is not well formed, there are no dots (.).".into()
            }
            TokenRejection::NoDots => {
                "Access token is not a JWT (it contains no dots).".into()
            }
            TokenRejection::Malformed(why) => {
                format!("Access token validation failure: the token is malformed: {why}.")
            }
            TokenRejection::BadSignature(why) => {
                format!("Access token validation failure: invalid signature: {why}.")
            }
            TokenRejection::Expired { exp, now } => format!(
                "Access token has expired or is not yet valid. It expired at {} (now {}).",
                at(*exp),
                at(*now)
            ),
            TokenRejection::NotYetValid { nbf, now } => format!(
                "Access token has expired or is not yet valid. It is valid from {} (now {}).",
                at(*nbf),
                at(*now)
            ),
            TokenRejection::WrongIssuer(iss) => {
                format!("Access token validation failure: issuer `{iss}` is not trusted.")
            }
            TokenRejection::WrongTenant(tid) => format!(
                "Access token validation failure: the token is for tenant `{tid}`, not this tenant."
            ),
            TokenRejection::WrongAudience { aud, expected } => format!(
                "Invalid audience. The token's audience is `{aud}`; this API accepts tokens for `{expected}`."
            ),
            TokenRejection::Revoked => {
                "Access token has been revoked. Acquire a new token.".into()
            }
        }
    }
}

impl fmt::Display for TokenRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message(ApiFamily::Defender))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uti_round_trips_the_sequence() {
        let uti = make_uti(42);
        assert_eq!(uti.len(), 22);
        assert_eq!(seq_of_uti(&uti), Some(42));
        assert_eq!(seq_of_uti("short"), None);
    }

    #[test]
    fn messages_name_the_problem() {
        let e = TokenRejection::WrongAudience {
            aud: "https://graph.microsoft.com".into(),
            expected: "https://api.securitycenter.microsoft.com",
        };
        assert!(
            e.message(ApiFamily::Endpoint)
                .contains("https://graph.microsoft.com")
        );
        assert_eq!(e.code(ApiFamily::Endpoint), "Unauthorized");
        assert_eq!(
            TokenRejection::Missing.message(ApiFamily::Graph),
            "Access token is empty."
        );
        let exp = TokenRejection::Expired { exp: 0, now: 10 }.message(ApiFamily::Graph);
        assert!(exp.starts_with("Access token has expired or is not yet valid."));
        assert!(exp.contains("1970-01-01T00:00:00Z"));
    }
}
