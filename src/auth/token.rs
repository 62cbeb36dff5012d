//! Access tokens as huntbook holds them: the secret value, when it expires, and the claims we
//! read from it (without verifying the signature — we are the client; the API verifies).

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Audience;

/// What an access token says about the caller, decoded from its JWT payload. Used for the
/// `authenticate` step's outputs and the permission preflight. Never holds the token itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// `aud`: the resource URI or its application id.
    pub audience: Option<String>,
    /// `tid`: the tenant id.
    pub tenant_id: Option<String>,
    /// `appid` (v1) or `azp` (v2): the client application id.
    pub app_id: Option<String>,
    /// `oid`: the object id of the user or service principal.
    pub object_id: Option<String>,
    /// The signed-in user (`upn`, `unique_name` or `preferred_username`); `None` for app tokens.
    pub user: Option<String>,
    /// `roles`: application permissions (app-only tokens) or app roles of a user.
    pub roles: Vec<String>,
    /// `scp`, split on spaces: delegated permissions (user tokens).
    pub scopes: Vec<String>,
    /// `exp`.
    pub expires_at: Option<DateTime<Utc>>,
    /// `iat`.
    pub issued_at: Option<DateTime<Utc>>,
    /// `ver`: `1.0` or `2.0`.
    pub version: Option<String>,
}

#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    tid: Option<String>,
    #[serde(default)]
    appid: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    oid: Option<String>,
    #[serde(default)]
    upn: Option<String>,
    #[serde(default)]
    unique_name: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    roles: Option<serde_json::Value>,
    #[serde(default)]
    scp: Option<String>,
    #[serde(default)]
    exp: Option<serde_json::Value>,
    #[serde(default)]
    iat: Option<serde_json::Value>,
    #[serde(default)]
    ver: Option<String>,
}

fn epoch(v: Option<&serde_json::Value>) -> Option<DateTime<Utc>> {
    let secs = match v? {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        serde_json::Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    Utc.timestamp_opt(secs, 0).single()
}

fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

impl TokenInfo {
    /// Decode the claims of a JWT without checking its signature. `None` when the token is not
    /// a JWT with a JSON payload (an opaque token is still usable, it just tells us nothing).
    #[must_use]
    pub fn decode(jwt: &str) -> Option<TokenInfo> {
        let mut parts = jwt.split('.');
        let (_header, payload) = (parts.next()?, parts.next()?);
        parts.next()?;
        let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        let raw: RawClaims = serde_json::from_slice(&bytes).ok()?;
        let audience = match raw.aud {
            Some(serde_json::Value::String(s)) => Some(s),
            Some(serde_json::Value::Array(a)) => {
                a.first().and_then(|v| v.as_str()).map(str::to_string)
            }
            _ => None,
        };
        Some(TokenInfo {
            audience,
            tenant_id: raw.tid,
            app_id: raw.appid.or(raw.azp),
            object_id: raw.oid,
            user: raw.upn.or(raw.unique_name).or(raw.preferred_username),
            roles: strings(raw.roles.as_ref()),
            scopes: raw
                .scp
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            expires_at: epoch(raw.exp.as_ref()),
            issued_at: epoch(raw.iat.as_ref()),
            version: raw.ver,
        })
    }

    /// Roles and scopes together: what the `authenticate` step reports as `permissions`.
    #[must_use]
    pub fn permissions(&self) -> Vec<String> {
        let mut all: Vec<String> = self.roles.iter().chain(&self.scopes).cloned().collect();
        all.sort();
        all.dedup();
        all
    }

    /// Whether the token carries any of these permissions (as a role or a scope).
    #[must_use]
    pub fn has_any(&self, wanted: &[&str]) -> bool {
        wanted.iter().any(|w| {
            self.roles
                .iter()
                .chain(&self.scopes)
                .any(|p| p.eq_ignore_ascii_case(w))
        })
    }

    /// Who the token speaks for: the user, else the application id, else the object id.
    #[must_use]
    pub fn principal(&self) -> Option<&str> {
        self.user
            .as_deref()
            .or(self.app_id.as_deref())
            .or(self.object_id.as_deref())
    }
}

/// An access token for one audience. `Debug` and `Display` never show the token.
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    /// The audience it was requested for.
    pub audience: Audience,
    /// When it expires (wall clock), for reports and the `authenticate` step.
    pub expires_at: DateTime<Utc>,
    lifetime: Duration,
    obtained: Instant,
    /// The decoded claims (empty for opaque tokens).
    pub info: TokenInfo,
    /// Distinguishes successive tokens of one audience, so a late 401 from an old token does not
    /// throw away a fresh one (see `TokenStore::invalidate`).
    pub generation: u64,
}

impl AccessToken {
    /// Wrap a token returned by the token endpoint. `expires_in` is trusted over the `exp` claim
    /// because it is relative (immune to clock skew); without it the claim is used, and without
    /// both the token is assumed to live five minutes.
    #[must_use]
    pub fn new(
        secret: SecretString,
        audience: Audience,
        expires_in: Option<Duration>,
        generation: u64,
    ) -> AccessToken {
        let info = TokenInfo::decode(secret.expose_secret()).unwrap_or_default();
        let now = Utc::now();
        let lifetime = expires_in
            .or_else(|| info.expires_at.and_then(|exp| (exp - now).to_std().ok()))
            .unwrap_or(Duration::from_secs(300));
        let expires_at = now
            + chrono::Duration::from_std(lifetime)
                .unwrap_or_else(|_| chrono::Duration::seconds(300));
        AccessToken {
            secret,
            audience,
            expires_at,
            lifetime,
            obtained: Instant::now(),
            info,
            generation,
        }
    }

    /// The bearer value, for the `Authorization` header only.
    #[must_use]
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// How long the token was issued for.
    #[must_use]
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// Time left before expiry (zero once expired).
    #[must_use]
    pub fn remaining(&self) -> Duration {
        self.lifetime.saturating_sub(self.obtained.elapsed())
    }

    /// Whether the token should be replaced now: within `refresh_window(lifetime, max_skew)` of
    /// its expiry.
    #[must_use]
    pub fn needs_refresh(&self, max_skew: Duration) -> bool {
        self.remaining() <= refresh_window(self.lifetime, max_skew)
    }
}

/// How long before expiry a token is replaced: a tenth of its lifetime, at most `max_skew`.
/// (A 60–90 minute Entra token is refreshed 5 minutes early with the default skew; a one-minute
/// emulator token 6 seconds early, instead of immediately.)
#[must_use]
pub fn refresh_window(lifetime: Duration, max_skew: Duration) -> Duration {
    (lifetime / 10).min(max_skew)
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("audience", &self.audience)
            .field("token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .field("generation", &self.generation)
            .field("info", &self.info)
            .finish()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    /// An unsigned JWT with these claims (the client never checks signatures).
    pub(crate) fn jwt(claims: &serde_json::Value) -> String {
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let p = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{h}.{p}.c2ln")
    }

    #[test]
    fn decodes_app_token_roles() {
        let t = jwt(&serde_json::json!({
            "aud": "https://api.security.microsoft.com", "tid": "t1", "appid": "app1",
            "oid": "o1", "roles": ["Incident.Read.All", "AdvancedHunting.Read.All"],
            "exp": 1_900_000_000, "iat": "1899996400", "ver": "1.0"
        }));
        let info = TokenInfo::decode(&t).unwrap();
        assert_eq!(info.app_id.as_deref(), Some("app1"));
        assert_eq!(info.principal(), Some("app1"));
        assert_eq!(
            info.permissions(),
            vec!["AdvancedHunting.Read.All", "Incident.Read.All"]
        );
        assert!(info.has_any(&["incident.read.all"]));
        assert_eq!(info.expires_at.map(|d| d.timestamp()), Some(1_900_000_000));
        assert_eq!(info.issued_at.map(|d| d.timestamp()), Some(1_899_996_400));
    }

    #[test]
    fn decodes_user_token_scopes() {
        let t = jwt(&serde_json::json!({
            "aud": "00000003-0000-0000-c000-000000000000", "azp": "cli",
            "scp": "ThreatHunting.Read.All  SecurityIncident.Read.All", "upn": "ana@contoso.example"
        }));
        let info = TokenInfo::decode(&t).unwrap();
        assert_eq!(info.scopes.len(), 2);
        assert_eq!(info.principal(), Some("ana@contoso.example"));
        assert_eq!(info.app_id.as_deref(), Some("cli"));
        assert!(!info.has_any(&["Machine.Isolate"]));
    }

    #[test]
    fn opaque_tokens_decode_to_nothing() {
        assert!(TokenInfo::decode("opaque-token").is_none());
        assert!(TokenInfo::decode("a.b.c").is_none());
        let tok = AccessToken::new(
            "opaque".into(),
            Audience::Graph,
            Some(Duration::from_secs(60)),
            1,
        );
        assert_eq!(tok.info, TokenInfo::default());
        assert_eq!(tok.lifetime(), Duration::from_secs(60));
    }

    #[test]
    fn lifetime_falls_back_to_exp_then_five_minutes() {
        let exp = Utc::now().timestamp() + 1000;
        let tok = AccessToken::new(
            jwt(&serde_json::json!({"exp": exp})).into(),
            Audience::Defender,
            None,
            1,
        );
        assert!(
            tok.lifetime() > Duration::from_secs(990)
                && tok.lifetime() <= Duration::from_secs(1000)
        );
        let tok = AccessToken::new("x".into(), Audience::Defender, None, 1);
        assert_eq!(tok.lifetime(), Duration::from_secs(300));
    }

    #[test]
    fn refresh_window_is_a_tenth_capped_by_skew() {
        let skew = Duration::from_secs(300);
        assert_eq!(refresh_window(Duration::from_secs(3599), skew), skew);
        assert_eq!(
            refresh_window(Duration::from_secs(1000), skew),
            Duration::from_secs(100)
        );
        assert_eq!(refresh_window(Duration::from_secs(5400), skew), skew);
        assert_eq!(
            refresh_window(Duration::from_secs(60), skew),
            Duration::from_secs(6)
        );
    }

    #[test]
    fn fresh_token_not_refreshed_nearly_expired_one_is() {
        let fresh = AccessToken::new(
            "x".into(),
            Audience::Graph,
            Some(Duration::from_secs(3599)),
            1,
        );
        assert!(!fresh.needs_refresh(Duration::from_secs(300)));
        let dying = AccessToken::new("x".into(), Audience::Graph, Some(Duration::ZERO), 1);
        assert!(dying.needs_refresh(Duration::from_secs(300)));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let tok = AccessToken::new(
            "eyJsecret-token-value".into(),
            Audience::Graph,
            Some(Duration::from_secs(60)),
            7,
        );
        let dbg = format!("{tok:?}");
        assert!(!dbg.contains("secret-token-value"), "{dbg}");
        assert!(dbg.contains("REDACTED"));
    }
}
