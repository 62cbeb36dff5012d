//! The `scope` (v2) and `resource` (v1) request parameters: which resource a token is for and
//! which permissions are asked for, with the identity platform's rules (one resource per token
//! request, `/.default` for client credentials, bare names mean Microsoft Graph).

use std::collections::BTreeSet;

use super::error::EntraError;
use crate::emulator::directory::Resource;

/// OpenID Connect scopes, which name no resource.
const OIDC: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// A parsed `scope` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRequest {
    /// The resource and the identifier the client used for it (which becomes `aud`); `None`
    /// when only OpenID Connect scopes were asked for.
    pub resource: Option<(Resource, &'static str)>,
    /// Permission names without the resource prefix; `.default` means "everything granted".
    pub permissions: Vec<String>,
    /// The OpenID Connect scopes asked for (`openid`, `offline_access`, …), lower-case.
    pub oidc: BTreeSet<&'static str>,
    /// The parameter as sent (for error messages).
    pub raw: String,
}

impl ScopeRequest {
    /// Whether the request is exactly `<resource>/.default`, the only form client credentials
    /// accept.
    #[must_use]
    pub fn is_default_only(&self) -> bool {
        self.resource.is_some()
            && self.oidc.is_empty()
            && self.permissions.len() == 1
            && self.permissions[0] == ".default"
    }

    /// Whether `.default` was asked for.
    #[must_use]
    pub fn wants_default(&self) -> bool {
        self.permissions.iter().any(|p| p == ".default")
    }

    /// A refresh token is issued only when `offline_access` was asked for.
    #[must_use]
    pub fn offline_access(&self) -> bool {
        self.oidc.contains("offline_access")
    }

    /// An ID token is issued only when `openid` was asked for.
    #[must_use]
    pub fn openid(&self) -> bool {
        self.oidc.contains("openid")
    }
}

fn invalid_scope(raw: &str) -> EntraError {
    EntraError::new(
        "invalid_scope",
        70011,
        format!(
            "The provided value for the input parameter 'scope' is not valid. The scope {raw} is not valid."
        ),
    )
}

/// AADSTS500011 for an identifier that names no resource in the tenant.
#[must_use]
pub fn unknown_resource(identifier: &str, tenant: &str) -> EntraError {
    EntraError::new(
        "invalid_resource",
        500_011,
        format!(
            "The resource principal named {identifier} was not found in the tenant named {tenant}. \
             This can happen if the application has not been installed by the administrator of the \
             tenant or consented to by any user in the tenant. You might have sent your \
             authentication request to the wrong tenant."
        ),
    )
}

/// Parse a v2 `scope` parameter.
///
/// # Errors
/// AADSTS70011 for a malformed or empty scope, AADSTS700022 when it names more than one
/// resource, AADSTS500011 when it names a resource the tenant does not have.
pub fn parse_scope(raw: &str, tenant: &str) -> Result<ScopeRequest, EntraError> {
    let mut resource: Option<(Resource, &'static str)> = None;
    let mut permissions = Vec::new();
    let mut oidc = BTreeSet::new();
    let tokens: Vec<&str> = raw.split_whitespace().collect();
    if tokens.is_empty() {
        return Err(invalid_scope(raw));
    }
    for token in tokens {
        if let Some(o) = OIDC.iter().find(|o| o.eq_ignore_ascii_case(token)) {
            oidc.insert(*o);
            continue;
        }
        let (res, perm) = if Resource::from_identifier(token).is_some() {
            // A bare resource identifier with no permission after it.
            return Err(invalid_scope(raw));
        } else if token.contains("://") || token.contains('/') {
            let Some((id, perm)) = token.rsplit_once('/') else {
                return Err(invalid_scope(raw));
            };
            if perm.is_empty() {
                return Err(invalid_scope(raw));
            }
            let Some(found) = Resource::from_identifier(id) else {
                return Err(unknown_resource(id.trim_end_matches('/'), tenant));
            };
            (found, perm)
        } else {
            // Bare permission names are Microsoft Graph's (`User.Read`).
            ((Resource::Graph, Resource::Graph.uri()), token)
        };
        match resource {
            Some((r, _)) if r != res.0 => {
                return Err(EntraError::new(
                    "invalid_scope",
                    700_022,
                    format!(
                        "The provided value for the input parameter scope is not valid because it \
                         contains more than one resource. Scope {raw} is not valid."
                    ),
                ));
            }
            Some(_) => {}
            None => resource = Some(res),
        }
        if !permissions.iter().any(|p: &String| p == perm) {
            permissions.push(perm.to_string());
        }
    }
    Ok(ScopeRequest {
        resource,
        permissions,
        oidc,
        raw: raw.to_string(),
    })
}

/// Parse a v1 `resource` parameter (the application ID URI or app id), as a `.default`
/// request for that resource.
///
/// # Errors
/// AADSTS500011 when the tenant has no such resource.
pub fn parse_resource(raw: &str, tenant: &str) -> Result<ScopeRequest, EntraError> {
    let Some(found) = Resource::from_identifier(raw.trim()) else {
        return Err(unknown_resource(raw.trim(), tenant));
    };
    Ok(ScopeRequest {
        resource: Some(found),
        permissions: vec![".default".to_string()],
        oidc: BTreeSet::new(),
        raw: raw.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(r: Result<ScopeRequest, EntraError>) -> u32 {
        r.err().map_or(0, |e| e.code)
    }

    #[test]
    fn default_scope_of_each_resource() {
        let s = parse_scope("https://api.security.microsoft.com/.default", "t").unwrap();
        assert_eq!(
            s.resource,
            Some((Resource::Defender, "https://api.security.microsoft.com"))
        );
        assert!(s.is_default_only());
        let s = parse_scope(
            "https://securitycenter.onmicrosoft.com/windowsatpservice/.default",
            "t",
        )
        .unwrap();
        assert_eq!(s.resource.map(|r| r.0), Some(Resource::Endpoint));
        // MSAL's well-known double slash.
        let s = parse_scope("https://graph.microsoft.com//.default", "t").unwrap();
        assert_eq!(s.resource.map(|r| r.0), Some(Resource::Graph));
    }

    #[test]
    fn delegated_scopes_with_oidc() {
        let s = parse_scope(
            "openid offline_access https://graph.microsoft.com/ThreatHunting.Read.All SecurityIncident.Read.All",
            "t",
        )
        .unwrap();
        assert!(s.offline_access() && s.openid());
        assert!(!s.is_default_only());
        assert_eq!(
            s.permissions,
            vec!["ThreatHunting.Read.All", "SecurityIncident.Read.All"]
        );
    }

    #[test]
    fn errors_carry_the_documented_codes() {
        assert_eq!(
            code(parse_scope(
                "https://graph.microsoft.com/.default https://api.security.microsoft.com/.default",
                "t"
            )),
            700_022
        );
        assert_eq!(
            code(parse_scope("https://vault.azure.net/.default", "t")),
            500_011
        );
        assert_eq!(code(parse_scope("   ", "t")), 70011);
        assert_eq!(code(parse_scope("https://graph.microsoft.com", "t")), 70011);
        assert_eq!(
            code(parse_scope("https://graph.microsoft.com/", "t")),
            70011
        );
    }

    #[test]
    fn v1_resource() {
        let s = parse_resource("https://api.securitycenter.windows.com", "t").unwrap();
        assert_eq!(s.resource.map(|r| r.0), Some(Resource::Endpoint));
        assert!(s.is_default_only());
        assert_eq!(code(parse_resource("https://example.com", "t")), 500_011);
    }
}
