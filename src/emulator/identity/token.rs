//! The token endpoints, `/{tenant}/oauth2/v2.0/token` and the v1 `/{tenant}/oauth2/token`:
//! client credentials (secret or certificate), device code, password (ROPC) and refresh token,
//! answered in the version's shape (v1 numbers are strings and carry `expires_on`,
//! `not_before` and `resource`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::access::{Grant, IssuedAccess};
use super::client_auth::{BasicCredentials, ClientAuth, ClientRequest, basic_credentials};
use super::device::resource_on_v2;
use super::error::EntraError;
use super::scope::{ScopeRequest, parse_resource, parse_scope};
use super::{IdentityState, RefreshGrant, TokenVersion};
use crate::emulator::directory::{AppSpec, Resource, UserSpec};
use crate::emulator::state::EmuState;

/// Parse an `application/x-www-form-urlencoded` body; the first value of a repeated key wins.
pub(crate) fn parse_form(body: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// A required, non-empty form parameter, or AADSTS900144.
pub(crate) fn require<'a>(
    form: &'a HashMap<String, String>,
    name: &str,
) -> Result<&'a str, EntraError> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| EntraError::missing(name))
}

/// What the `{tenant}` path segment named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TenantPath {
    /// This tenant, by id or verified domain.
    Ours,
    Common,
    Organizations,
    Consumers,
}

impl TenantPath {
    /// Work accounts only: every registered app refuses `/consumers` (AADSTS9002332).
    pub(crate) fn refuse_consumers(self, app: Option<&AppSpec>) -> Result<TenantPath, EntraError> {
        if self != TenantPath::Consumers {
            return Ok(self);
        }
        let (id, name) = app.map_or(("(unknown)", "(unknown)"), |a| {
            (a.client_id.as_str(), a.name.as_str())
        });
        Err(EntraError::new(
            "invalid_request",
            9_002_332,
            format!(
                "Application '{id}'({name}) is configured for use by Microsoft Entra users only. Please do not use the /consumers endpoint to serve this request."
            ),
        ))
    }
}

impl IdentityState {
    /// Resolve the `{tenant}` path segment: the tenant id or domain, or an alias.
    ///
    /// # Errors
    /// AADSTS90002 for any other tenant.
    pub(crate) fn resolve_tenant(&self, tenant: &str) -> Result<TenantPath, EntraError> {
        if tenant.eq_ignore_ascii_case(&self.tenant_id)
            || tenant.eq_ignore_ascii_case(&self.tenant_domain)
        {
            return Ok(TenantPath::Ours);
        }
        match tenant.to_ascii_lowercase().as_str() {
            "common" => Ok(TenantPath::Common),
            "organizations" => Ok(TenantPath::Organizations),
            "consumers" => Ok(TenantPath::Consumers),
            _ => Err(EntraError::new(
                "invalid_request",
                90002,
                format!(
                    "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant. (This emulator serves tenant '{}' and domain '{}'.)",
                    self.tenant_id, self.tenant_domain
                ),
            )),
        }
    }

    /// The app with `client_id`, or AADSTS700016.
    pub(crate) fn app_or_error(
        &self,
        client_id: &str,
        tenant: &str,
    ) -> Result<&AppSpec, EntraError> {
        self.directory.app(client_id).ok_or_else(|| {
            EntraError::new(
                "unauthorized_client",
                700_016,
                format!(
                    "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
                ),
            )
        })
    }

    fn handle_token(
        &self,
        tenant: &str,
        headers: &HeaderMap,
        body: &[u8],
        version: TokenVersion,
    ) -> Result<Value, EntraError> {
        let tenant_path = self.resolve_tenant(tenant)?;
        let form = parse_form(body);
        let grant_type = require(&form, "grant_type")?.to_string();
        if version == TokenVersion::V2 && form.contains_key("resource") {
            return Err(resource_on_v2());
        }
        let basic = basic_credentials(headers)?;
        let client_id = match (form.get("client_id").filter(|c| !c.is_empty()), &basic) {
            (Some(body_id), Some(b)) if !body_id.eq_ignore_ascii_case(&b.client_id) => {
                return Err(EntraError::malformed(
                    "The client_id in the body and the one in the Authorization header differ.",
                ));
            }
            (Some(id), _) => id.clone(),
            (None, Some(BasicCredentials { client_id, .. })) => client_id.clone(),
            (None, None) => return Err(EntraError::missing("client_id")),
        };
        let app = self.app_or_error(&client_id, tenant)?;
        tenant_path.refuse_consumers(Some(app))?;
        let client_req = ClientRequest {
            form: &form,
            basic: basic.as_ref(),
            tenant_path: tenant,
            version,
        };
        match grant_type.as_str() {
            "client_credentials" => {
                if matches!(tenant_path, TenantPath::Common | TenantPath::Organizations) {
                    return Err(EntraError::new(
                        "invalid_request",
                        50059,
                        "No tenant-identifying information found in either the request or implied by any provided credentials. Client credentials need the tenant id or domain in the path.",
                    ));
                }
                let auth = self.authenticate_client(app, &client_req)?;
                let scope = self.requested_scope(&form, tenant, version)?;
                if version == TokenVersion::V2 && !scope.is_default_only() {
                    return Err(EntraError::new(
                        "invalid_scope",
                        1_002_012,
                        format!(
                            "The provided value for scope {} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
                            scope.raw
                        ),
                    ));
                }
                let resource = scope.resource.ok_or_else(|| {
                    EntraError::new("invalid_scope", 70011, "The scope names no resource.")
                })?;
                let mut grant = Grant::application(app, resource.0, auth.acr(), version);
                grant.resource = resource;
                let issued = self.issue(&grant)?;
                Ok(token_response(
                    version, &issued, resource.1, None, None, None,
                ))
            }
            "password" => {
                if matches!(tenant_path, TenantPath::Common) {
                    return Err(grant_not_on_common());
                }
                let auth = self.authenticate_client(app, &client_req)?;
                let username = require(&form, "username")?;
                let password = form.get("password").map(String::as_str).unwrap_or("");
                let user = self.check_password(username, password, tenant)?;
                let scope = self.requested_scope_delegated(&form, tenant, version)?;
                self.delegated_response(app, user, &scope, auth, version)
            }
            "urn:ietf:params:oauth:grant-type:device_code" | "device_code" => {
                let auth = self.authenticate_client(app, &client_req)?;
                let code_param = if version == TokenVersion::V1 && grant_type == "device_code" {
                    "code"
                } else {
                    "device_code"
                };
                let device_code = require(&form, code_param)?;
                let (username, scope) = self.poll_device(device_code, &app.client_id)?;
                let user = self.directory.user(&username).ok_or_else(|| {
                    EntraError::new(
                        "invalid_grant",
                        50034,
                        "The approving user no longer exists.",
                    )
                })?;
                self.delegated_response(app, user, &scope, auth, version)
            }
            "refresh_token" => {
                let auth = self.authenticate_client(app, &client_req)?;
                let refresh = require(&form, "refresh_token")?;
                let grant = self.redeem_refresh(refresh, &app.client_id)?;
                let user = self.directory.user(&grant.username).ok_or_else(|| {
                    EntraError::new(
                        "invalid_grant",
                        50034,
                        format!(
                            "The user account {} does not exist in the directory.",
                            grant.username
                        ),
                    )
                })?;
                if user.disabled {
                    return Err(user_disabled());
                }
                // The scope may name a different resource than the original request: that is
                // how one sign-in yields tokens for Graph, Defender XDR and MDE.
                let scope = self.requested_scope_delegated(&form, tenant, version)?;
                let mut scope = scope;
                // A refresh keeps offline access: Entra returns a new refresh token every time.
                scope.oidc.insert("offline_access");
                self.delegated_response(app, user, &scope, auth, version)
            }
            "authorization_code" => Err(EntraError::new(
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type 'authorization_code'. The huntbook emulator has no browser sign-in; use the device code or password flow for delegated tokens.",
            )),
            other => Err(EntraError::new(
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            )),
        }
    }

    fn issue(&self, grant: &Grant<'_>) -> Result<IssuedAccess, EntraError> {
        self.issue_access(grant).map_err(|e| {
            EntraError::new(
                "server_error",
                50000,
                format!("There was an error issuing a token: {e}"),
            )
            .with_status(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
        })
    }

    /// The requested resource: `scope` (v2) or `resource` (v1).
    fn requested_scope(
        &self,
        form: &HashMap<String, String>,
        tenant: &str,
        version: TokenVersion,
    ) -> Result<ScopeRequest, EntraError> {
        match version {
            TokenVersion::V2 => parse_scope(require(form, "scope")?, tenant),
            TokenVersion::V1 => parse_resource(require(form, "resource")?, tenant),
        }
    }

    /// Delegated flows may leave the scope out on v1 (then Graph) and send only OpenID
    /// scopes on v2 (then Graph's consented scopes).
    fn requested_scope_delegated(
        &self,
        form: &HashMap<String, String>,
        tenant: &str,
        version: TokenVersion,
    ) -> Result<ScopeRequest, EntraError> {
        match version {
            TokenVersion::V2 => match form.get("scope").filter(|s| !s.trim().is_empty()) {
                Some(s) => parse_scope(s, tenant),
                None => parse_scope("https://graph.microsoft.com/.default", tenant),
            },
            TokenVersion::V1 => match form.get("resource").filter(|s| !s.trim().is_empty()) {
                Some(r) => parse_resource(r, tenant),
                None => parse_resource(Resource::Graph.uri(), tenant),
            },
        }
    }

    fn check_password<'a>(
        &'a self,
        username: &str,
        password: &str,
        tenant: &str,
    ) -> Result<&'a UserSpec, EntraError> {
        let Some(user) = self.directory.user(username) else {
            return Err(EntraError::new(
                "invalid_grant",
                50034,
                format!(
                    "The user account {username} does not exist in the {tenant} directory. To sign into this application, the account must be added to the directory."
                ),
            ));
        };
        if user.password != password {
            return Err(EntraError::new(
                "invalid_grant",
                50126,
                "Error validating credentials due to invalid username or password.",
            ));
        }
        if user.disabled {
            return Err(user_disabled());
        }
        if user.mfa_required {
            return Err(EntraError::new(
                "invalid_grant",
                50076,
                "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource. The password flow cannot satisfy it: use the device code flow.",
            )
            .with_suberror("basic_action"));
        }
        Ok(user)
    }

    fn redeem_refresh(&self, token: &str, client_id: &str) -> Result<RefreshGrant, EntraError> {
        let grant = self.flows().refresh.get(token).cloned();
        let Some(grant) = grant else {
            return Err(EntraError::new(
                "invalid_grant",
                9_002_313,
                "Invalid request. Request is malformed or invalid. The refresh token was not issued by this tenant.",
            ));
        };
        if !grant.client_id.eq_ignore_ascii_case(client_id) {
            return Err(EntraError::new(
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed: the refresh token was issued to a different client.",
            ));
        }
        if self.is_revoked(grant.seq, &grant.client_id, Some(&grant.username)) {
            return Err(EntraError::new(
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
            ));
        }
        Ok(grant)
    }

    /// Issue the delegated tokens for `user` and `scope`: the access token (with every scope
    /// the user consented to on the resource, as Entra does), a refresh token with
    /// `offline_access`, an ID token with `openid`.
    fn delegated_response(
        &self,
        app: &AppSpec,
        user: &UserSpec,
        scope: &ScopeRequest,
        auth: ClientAuth,
        version: TokenVersion,
    ) -> Result<Value, EntraError> {
        let resource = scope
            .resource
            .unwrap_or((Resource::Graph, Resource::Graph.uri()));
        let consented = user.scopes.get(&resource.0).cloned().unwrap_or_default();
        let missing: Vec<&String> = scope
            .permissions
            .iter()
            .filter(|p| *p != ".default" && !consented.iter().any(|c| c.eq_ignore_ascii_case(p)))
            .collect();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            return Err(EntraError::new(
                "invalid_grant",
                65001,
                format!(
                    "The user or administrator has not consented to use the application with ID '{}' named '{}'. Send an interactive authorization request for this user and resource. Not consented on {}: {}.",
                    app.client_id,
                    app.name,
                    resource.0.uri(),
                    names.join(", ")
                ),
            )
            .with_suberror("consent_required"));
        }
        let mut grant = Grant::delegated(
            app,
            user,
            resource.0,
            consented.clone(),
            auth.acr(),
            version,
        );
        grant.resource = resource;
        let issued = self.issue(&grant)?;
        let refresh = if scope.offline_access() {
            let token = format!(
                "0.A{}",
                super::keys::b64url(&(0..96).map(|_| rand::random::<u8>()).collect::<Vec<_>>())
            );
            let seq = self.next_seq();
            self.flows().refresh.insert(
                token.clone(),
                RefreshGrant {
                    client_id: app.client_id.clone(),
                    username: user.username.clone(),
                    seq,
                },
            );
            Some(token)
        } else {
            None
        };
        let id_token = if scope.openid() {
            Some(self.issue_id_token(app, user).map_err(|e| {
                EntraError::new(
                    "server_error",
                    50000,
                    format!("There was an error issuing a token: {e}"),
                )
                .with_status(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
            })?)
        } else {
            None
        };
        // Graph scopes are reported by bare name, other resources' with their URI.
        let mut granted: Vec<String> = consented
            .iter()
            .map(|s| {
                if resource.0 == Resource::Graph {
                    s.clone()
                } else {
                    format!("{}/{s}", resource.1)
                }
            })
            .collect();
        granted.extend(scope.oidc.iter().map(|s| (*s).to_string()));
        Ok(token_response(
            version,
            &issued,
            resource.1,
            Some(granted.join(" ")),
            refresh,
            id_token,
        ))
    }
}

fn user_disabled() -> EntraError {
    EntraError::new(
        "invalid_grant",
        50057,
        "The user account is disabled. The user object in Active Directory backing this account has been disabled. An admin can re-enable this account.",
    )
}

fn grant_not_on_common() -> EntraError {
    EntraError::new(
        "invalid_request",
        9_001_023,
        "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint.",
    )
}

/// The success body in the version's shape.
fn token_response(
    version: TokenVersion,
    issued: &IssuedAccess,
    resource: &str,
    scope: Option<String>,
    refresh: Option<String>,
    id_token: Option<String>,
) -> Value {
    let mut body = match version {
        TokenVersion::V2 => json!({
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "ext_expires_in": issued.expires_in,
            "access_token": issued.token,
        }),
        TokenVersion::V1 => json!({
            "token_type": "Bearer",
            "expires_in": issued.expires_in.to_string(),
            "ext_expires_in": issued.expires_in.to_string(),
            "expires_on": issued.expires_on.to_string(),
            "not_before": issued.not_before.to_string(),
            "resource": resource,
            "access_token": issued.token,
        }),
    };
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    if let Some(i) = id_token {
        body["id_token"] = json!(i);
    }
    body
}

fn respond(result: Result<Value, EntraError>) -> Response {
    match result {
        Ok(body) => {
            let mut resp = axum::Json(body).into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, no-cache"),
            );
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token_v2(
    State(state): State<Arc<EmuState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        state
            .identity
            .handle_token(&tenant, &headers, &body, TokenVersion::V2),
    )
}

/// `POST /{tenant}/oauth2/token` (v1).
pub(crate) async fn token_v1(
    State(state): State<Arc<EmuState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        state
            .identity
            .handle_token(&tenant, &headers, &body, TokenVersion::V1),
    )
}

/// Any other method on a token or device-code endpoint: AADSTS900561.
pub(crate) async fn wrong_method(method: Method) -> Response {
    EntraError::new(
        "invalid_request",
        900_561,
        format!("The endpoint only accepts POST requests. Received a {method} request."),
    )
    .into_response()
}
