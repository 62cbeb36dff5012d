//! The device authorization grant (RFC 8628) as Entra serves it: `/devicecode` hands out a
//! `user_code` and a `device_code`; polling the token endpoint answers `authorization_pending`
//! until the sign-in is approved (through an emulator-only endpoint or automatically after a
//! configured number of polls), `slow_down` when polled faster than `interval`,
//! `authorization_declined`, `expired_token`, or the tokens.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::EntraError;
use super::scope::{ScopeRequest, parse_resource, parse_scope};
use super::token::{parse_form, require};
use super::{IdentityState, TokenVersion};
use crate::emulator::state::EmuState;

/// Where a device sign-in stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    /// Approved by this user; the next poll gets the tokens.
    Approved(String),
    Declined,
    /// The tokens were handed out; the code cannot be used again.
    Redeemed,
}

/// One device-code sign-in.
#[derive(Debug, Clone)]
pub struct DeviceGrant {
    pub client_id: String,
    pub user_code: String,
    pub scope: ScopeRequest,
    pub expires_at: Instant,
    /// The polling interval this code enforces (grows by 5 s on each `slow_down`).
    pub interval: Duration,
    pub last_poll: Option<Instant>,
    pub polls: u32,
    pub status: DeviceStatus,
}

/// Device codes by `device_code`, with an index by `user_code`.
#[derive(Default)]
pub struct DeviceStore {
    pub by_device_code: HashMap<String, DeviceGrant>,
    pub by_user_code: HashMap<String, String>,
}

// Device codes are credentials: show how many there are, not what they are.
impl std::fmt::Debug for DeviceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceStore")
            .field("device_codes", &self.by_device_code.len())
            .finish()
    }
}

impl DeviceStore {
    /// The grant a user code names (user codes compare case-insensitively, ignoring dashes
    /// and spaces, as people type them).
    pub fn by_user_code_mut(&mut self, user_code: &str) -> Option<&mut DeviceGrant> {
        let key = normalize_user_code(user_code);
        let device_code = self.by_user_code.get(&key)?.clone();
        self.by_device_code.get_mut(&device_code)
    }
}

fn normalize_user_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn random_user_code() -> String {
    // No vowels or look-alikes, so codes never spell words and are easy to type.
    const CHARS: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ23456789";
    (0..9)
        .map(|_| char::from(CHARS[rand::random_range(0..CHARS.len())]))
        .collect()
}

fn random_device_code() -> String {
    let bytes: Vec<u8> = (0..64).map(|_| rand::random::<u8>()).collect();
    format!("DAQABIQEAAAD{}", super::keys::b64url(&bytes))
}

/// The slack allowed when enforcing `interval`: a client that sleeps exactly `interval`
/// between polls must never see `slow_down`.
const POLL_TOLERANCE: Duration = Duration::from_millis(50);

impl IdentityState {
    /// The verification page users are sent to.
    #[must_use]
    pub fn verification_uri(&self) -> String {
        format!("{}/_emulator/identity/device", self.login_url)
    }

    fn start_device_flow(
        &self,
        tenant: &str,
        body: &[u8],
        version: TokenVersion,
    ) -> Result<Value, EntraError> {
        self.resolve_tenant(tenant)?.refuse_consumers(None)?;
        let form = parse_form(body);
        let client_id = require(&form, "client_id")?;
        let app = self.app_or_error(client_id, tenant)?;
        let scope = match version {
            TokenVersion::V2 => {
                if form.contains_key("resource") {
                    return Err(resource_on_v2());
                }
                parse_scope(require(&form, "scope")?, tenant)?
            }
            TokenVersion::V1 => parse_resource(require(&form, "resource")?, tenant)?,
        };
        let user_code = random_user_code();
        let device_code = random_device_code();
        let settings = self.device;
        let grant = DeviceGrant {
            client_id: app.client_id.clone(),
            user_code: user_code.clone(),
            scope,
            expires_at: Instant::now() + settings.expires_in,
            interval: settings.interval,
            last_poll: None,
            polls: 0,
            status: DeviceStatus::Pending,
        };
        {
            let mut flows = self.flows();
            let now = Instant::now();
            // Forget codes long past their expiry so the maps do not grow without bound.
            let stale: Vec<String> = flows
                .devices
                .by_device_code
                .iter()
                .filter(|(_, g)| now > g.expires_at + Duration::from_secs(3600))
                .map(|(k, _)| k.clone())
                .collect();
            for k in stale {
                if let Some(g) = flows.devices.by_device_code.remove(&k) {
                    flows.devices.by_user_code.remove(&g.user_code);
                }
            }
            flows
                .devices
                .by_user_code
                .insert(user_code.clone(), device_code.clone());
            flows
                .devices
                .by_device_code
                .insert(device_code.clone(), grant);
        }
        let uri = self.verification_uri();
        let message = format!(
            "To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."
        );
        let expires_in = settings.expires_in.as_secs();
        // Whole seconds, as Entra sends them, rounded up so a client that waits what is
        // announced is never told to slow down; zero (fast tests) announces zero.
        let interval =
            settings.interval.as_secs() + u64::from(settings.interval.subsec_nanos() > 0);
        Ok(match version {
            TokenVersion::V2 => json!({
                "user_code": user_code,
                "device_code": device_code,
                "verification_uri": uri,
                "expires_in": expires_in,
                "interval": interval,
                "message": message,
            }),
            // The v1 endpoint spells the URL `verification_url` and sends numbers as strings.
            TokenVersion::V1 => json!({
                "user_code": user_code,
                "device_code": device_code,
                "verification_url": uri,
                "expires_in": expires_in.to_string(),
                "interval": interval.to_string(),
                "message": message,
            }),
        })
    }

    /// One poll of the token endpoint with a device code. `Ok` carries the approving user
    /// and the requested scope, for the caller to issue tokens.
    pub(crate) fn poll_device(
        &self,
        device_code: &str,
        client_id: &str,
    ) -> Result<(String, ScopeRequest), EntraError> {
        let now = Instant::now();
        let auto_after = self.device.auto_approve_after;
        let auto_user = self
            .directory
            .users
            .iter()
            .find(|u| !u.disabled)
            .map(|u| u.username.clone());
        let mut flows = self.flows();
        let Some(grant) = flows.devices.by_device_code.get_mut(device_code) else {
            return Err(EntraError::new(
                "bad_verification_code",
                70018,
                "The provided value for the input parameter 'device_code' is not valid: no such device code was issued.",
            ));
        };
        if !grant.client_id.eq_ignore_ascii_case(client_id) {
            return Err(EntraError::new(
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed: the device code was issued to a different client_id.",
            ));
        }
        if grant.status == DeviceStatus::Redeemed {
            return Err(EntraError::new(
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed: the device code has already been redeemed.",
            ));
        }
        if now >= grant.expires_at {
            return Err(EntraError::new(
                "expired_token",
                70019,
                "Verification code expired. Have the user retry the sign-in.",
            ));
        }
        if grant.status == DeviceStatus::Declined {
            return Err(EntraError::new(
                "authorization_declined",
                70000,
                "The user declined the sign-in request.",
            ));
        }
        if let Some(last) = grant.last_poll
            && now.duration_since(last) + POLL_TOLERANCE < grant.interval
        {
            grant.last_poll = Some(now);
            // RFC 8628 §3.5: the client must add 5 seconds to its interval from now on.
            grant.interval += Duration::from_secs(5);
            return Err(EntraError::new(
                "slow_down",
                70016,
                format!(
                    "OAuth 2.0 device flow error. Polling too fast: wait at least {} seconds between polls.",
                    grant.interval.as_secs()
                ),
            ));
        }
        grant.last_poll = Some(now);
        grant.polls += 1;
        if grant.status == DeviceStatus::Pending
            && let (Some(after), Some(user)) = (auto_after, &auto_user)
            && grant.polls > after
        {
            grant.status = DeviceStatus::Approved(user.clone());
        }
        match grant.status.clone() {
            DeviceStatus::Approved(user) => {
                grant.status = DeviceStatus::Redeemed;
                Ok((user, grant.scope.clone()))
            }
            _ => Err(EntraError::new(
                "authorization_pending",
                70016,
                "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
            )),
        }
    }
}

/// AADSTS901002: the v1 `resource` parameter sent to a v2 endpoint.
pub(crate) fn resource_on_v2() -> EntraError {
    EntraError::new(
        "invalid_request",
        901_002,
        "The 'resource' request parameter is not supported.",
    )
}

fn respond(result: Result<Value, EntraError>) -> Response {
    match result {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /{tenant}/oauth2/v2.0/devicecode`.
pub(crate) async fn devicecode_v2(
    State(state): State<Arc<EmuState>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    respond(
        state
            .identity
            .start_device_flow(&tenant, &body, TokenVersion::V2),
    )
}

/// `POST /{tenant}/oauth2/devicecode` (v1).
pub(crate) async fn devicecode_v1(
    State(state): State<Arc<EmuState>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    respond(
        state
            .identity
            .start_device_flow(&tenant, &body, TokenVersion::V1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_typeable() {
        let code = random_user_code();
        assert_eq!(code.len(), 9);
        assert!(
            code.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_eq!(normalize_user_code("abc-d ef"), "ABCDEF");
    }
}
