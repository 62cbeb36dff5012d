//! OpenID Connect discovery (v2 and v1 documents), the JWKS, and MSAL's instance-discovery
//! endpoint, served as Entra serves them (Microsoft's client libraries read them before the
//! first token request), with every URL pointing at the emulator.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::IdentityState;
use super::error::EntraError;
use super::token::TenantPath;
use crate::emulator::state::EmuState;

fn tenant_error(e: EntraError) -> Response {
    // Discovery answers an unknown tenant with `invalid_tenant`, not `invalid_request`.
    EntraError {
        error: "invalid_tenant",
        ..e
    }
    .into_response()
}

impl IdentityState {
    /// The tenant segment discovery documents are written for: our id, or the literal
    /// `{tenantid}` placeholder Entra uses in the issuer of the multi-tenant documents.
    fn discovery_tenant(&self, tenant: &str) -> Result<(String, bool), EntraError> {
        Ok(match self.resolve_tenant(tenant)? {
            TenantPath::Ours => (self.tenant_id.clone(), false),
            _ => (tenant.to_ascii_lowercase(), true),
        })
    }

    fn openid_configuration(
        &self,
        tenant: &str,
        v2: bool,
    ) -> Result<serde_json::Value, EntraError> {
        let (segment, multi) = self.discovery_tenant(tenant)?;
        let base = &self.login_url;
        let issuer_tenant = if multi {
            "{tenantid}"
        } else {
            self.tenant_id.as_str()
        };
        let (issuer, token, authorize, device, logout, jwks) = if v2 {
            (
                format!("{base}/{issuer_tenant}/v2.0"),
                format!("{base}/{segment}/oauth2/v2.0/token"),
                format!("{base}/{segment}/oauth2/v2.0/authorize"),
                format!("{base}/{segment}/oauth2/v2.0/devicecode"),
                format!("{base}/{segment}/oauth2/v2.0/logout"),
                format!("{base}/{segment}/discovery/v2.0/keys"),
            )
        } else {
            (
                format!("https://sts.windows.net/{issuer_tenant}/"),
                format!("{base}/{segment}/oauth2/token"),
                format!("{base}/{segment}/oauth2/authorize"),
                format!("{base}/{segment}/oauth2/devicecode"),
                format!("{base}/{segment}/oauth2/logout"),
                format!("{base}/{segment}/discovery/keys"),
            )
        };
        let mut doc = json!({
            "token_endpoint": token,
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": jwks,
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer,
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": authorize,
            "device_authorization_endpoint": device,
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": logout,
            "claims_supported": [
                "sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
                "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
                "name", "tid", "ver", "at_hash", "c_hash", "email"
            ],
            "kerberos_endpoint": format!("{base}/{segment}/kerberos"),
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        });
        if !v2 {
            doc["claims_supported"] = json!([
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_instance_host_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "amr",
                "nonce",
                "email",
                "given_name",
                "family_name",
                "nickname"
            ]);
        }
        Ok(doc)
    }
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(crate) async fn openid_configuration_v2(
    State(state): State<Arc<EmuState>>,
    Path(tenant): Path<String>,
) -> Response {
    match state.identity.openid_configuration(&tenant, true) {
        Ok(doc) => axum::Json(doc).into_response(),
        Err(e) => tenant_error(e),
    }
}

/// `GET /{tenant}/.well-known/openid-configuration` (v1).
pub(crate) async fn openid_configuration_v1(
    State(state): State<Arc<EmuState>>,
    Path(tenant): Path<String>,
) -> Response {
    match state.identity.openid_configuration(&tenant, false) {
        Ok(doc) => axum::Json(doc).into_response(),
        Err(e) => tenant_error(e),
    }
}

/// `GET /{tenant}/discovery/v2.0/keys` and `/{tenant}/discovery/keys`.
pub(crate) async fn keys(
    State(state): State<Arc<EmuState>>,
    Path(tenant): Path<String>,
) -> Response {
    let ident = &state.identity;
    match ident.discovery_tenant(&tenant) {
        Ok((_, multi)) => {
            let issuer = if multi {
                format!("{}/{{tenantid}}/v2.0", ident.login_url)
            } else {
                ident.issuer_v2()
            };
            axum::Json(json!({"keys": [ident.signing_key().jwk(&issuer)]})).into_response()
        }
        Err(e) => tenant_error(e),
    }
}

/// `GET /common/discovery/instance`: MSAL's authority validation. It names the emulator's
/// host as its own only alias, so MSAL keeps every request on it.
pub(crate) async fn instance(
    State(state): State<Arc<EmuState>>,
    Path(tenant): Path<String>,
) -> Response {
    let ident = &state.identity;
    if !tenant.eq_ignore_ascii_case("common") {
        return (
            axum::http::StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "not_found", "error_description": "Instance discovery lives at /common/discovery/instance."})),
        )
            .into_response();
    }
    let host = url::Url::parse(&ident.login_url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| {
                u.port()
                    .map_or_else(|| h.to_string(), |p| format!("{h}:{p}"))
            })
        })
        .unwrap_or_else(|| ident.login_url.clone());
    axum::Json(json!({
        "tenant_discovery_endpoint": format!("{}/{}/v2.0/.well-known/openid-configuration", ident.login_url, ident.tenant_id),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    }))
    .into_response()
}
