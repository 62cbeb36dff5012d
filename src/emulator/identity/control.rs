//! Emulator-only control endpoints under `/_emulator/`: the device-code verification page and
//! its approve/decline calls, token revocation, and run-time fault and limit settings. They
//! exist only in the emulator; their answers are plain JSON `{"error", "message"}` on failure.

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::IdentityState;
use super::device::DeviceStatus;
use crate::emulator::faults::FaultSpec;
use crate::emulator::limits::LimitsSpec;
use crate::emulator::state::EmuState;

/// Why a control call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("no device sign-in has user code `{0}`")]
    UnknownUserCode(String),
    #[error("device sign-in `{code}` is already {state}")]
    AlreadyDecided { code: String, state: &'static str },
    #[error("device sign-in `{0}` has expired")]
    Expired(String),
    #[error("no user `{0}` is registered")]
    UnknownUser(String),
    #[error("user `{0}` is disabled")]
    UserDisabled(String),
    #[error("no user is registered to approve the sign-in")]
    NoUser,
    #[error("{0}")]
    BadRequest(String),
}

impl ControlError {
    fn status(&self) -> StatusCode {
        match self {
            ControlError::UnknownUserCode(_) | ControlError::UnknownUser(_) => {
                StatusCode::NOT_FOUND
            }
            ControlError::AlreadyDecided { .. } | ControlError::Expired(_) => StatusCode::CONFLICT,
            ControlError::UserDisabled(_) | ControlError::NoUser | ControlError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ControlError::UnknownUserCode(_) => "unknown_user_code",
            ControlError::AlreadyDecided { .. } => "already_decided",
            ControlError::Expired(_) => "expired",
            ControlError::UnknownUser(_) => "unknown_user",
            ControlError::UserDisabled(_) => "user_disabled",
            ControlError::NoUser => "no_user",
            ControlError::BadRequest(_) => "bad_request",
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (
            self.status(),
            axum::Json(json!({"error": self.code(), "message": self.to_string()})),
        )
            .into_response()
    }
}

fn status_name(s: &DeviceStatus) -> &'static str {
    match s {
        DeviceStatus::Pending => "pending",
        DeviceStatus::Approved(_) => "approved",
        DeviceStatus::Declined => "declined",
        DeviceStatus::Redeemed => "redeemed",
    }
}

impl IdentityState {
    /// Approve a pending device sign-in as `username` (default: the first enabled user). The
    /// next poll of the token endpoint gets the tokens.
    ///
    /// # Errors
    /// When the code is unknown, expired or already decided, or the user cannot sign in.
    pub fn approve_device(
        &self,
        user_code: &str,
        username: Option<&str>,
    ) -> Result<String, ControlError> {
        let user = match username {
            Some(name) => {
                let u = self
                    .directory
                    .user(name)
                    .ok_or_else(|| ControlError::UnknownUser(name.to_string()))?;
                if u.disabled {
                    return Err(ControlError::UserDisabled(u.username.clone()));
                }
                u.username.clone()
            }
            None => self
                .directory
                .users
                .iter()
                .find(|u| !u.disabled)
                .map(|u| u.username.clone())
                .ok_or(ControlError::NoUser)?,
        };
        self.decide_device(user_code, DeviceStatus::Approved(user.clone()))?;
        Ok(user)
    }

    /// Decline a pending device sign-in: the next poll gets `authorization_declined`.
    ///
    /// # Errors
    /// When the code is unknown, expired or already decided.
    pub fn decline_device(&self, user_code: &str) -> Result<(), ControlError> {
        self.decide_device(user_code, DeviceStatus::Declined)
    }

    fn decide_device(&self, user_code: &str, decision: DeviceStatus) -> Result<(), ControlError> {
        let mut flows = self.flows();
        let grant = flows
            .devices
            .by_user_code_mut(user_code)
            .ok_or_else(|| ControlError::UnknownUserCode(user_code.to_string()))?;
        if grant.status != DeviceStatus::Pending {
            return Err(ControlError::AlreadyDecided {
                code: grant.user_code.clone(),
                state: status_name(&grant.status),
            });
        }
        if std::time::Instant::now() >= grant.expires_at {
            return Err(ControlError::Expired(grant.user_code.clone()));
        }
        grant.status = decision;
        Ok(())
    }

    /// The device sign-ins still waiting for a decision: `(user_code, client_id, scope)`.
    #[must_use]
    pub fn pending_devices(&self) -> Vec<(String, String, String)> {
        let now = std::time::Instant::now();
        let mut out: Vec<_> = self
            .flows()
            .devices
            .by_device_code
            .values()
            .filter(|g| g.status == DeviceStatus::Pending && now < g.expires_at)
            .map(|g| {
                (
                    g.user_code.clone(),
                    g.client_id.clone(),
                    g.scope.raw.clone(),
                )
            })
            .collect();
        out.sort();
        out
    }
}

/// Read a control request body: JSON object, or a form (from the HTML page).
fn fields(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Map<String, Value>, ControlError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    if is_json || body.first() == Some(&b'{') {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(ControlError::BadRequest(
                "the body must be a JSON object (or a form)".into(),
            )),
        }
    } else {
        Ok(url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect())
    }
}

fn text_field<'a>(m: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a str> {
    m.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

fn page(body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>huntbook emulator sign-in</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\">{body}</body></html>"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn device_page(State(state): State<Arc<EmuState>>) -> Html<String> {
    let pending = state.identity.pending_devices();
    let mut list = String::new();
    for (code, client, scope) in &pending {
        list.push_str(&format!(
            "<li><code>{}</code> — client {} — scope <code>{}</code></li>",
            escape(code),
            escape(client),
            escape(scope)
        ));
    }
    if list.is_empty() {
        list.push_str("<li>none</li>");
    }
    page(&format!(
        "<h1>Sign in to the huntbook emulator</h1>\
         <p>Enter the code your device shows. This page stands in for microsoft.com/devicelogin.</p>\
         <form method=\"post\" action=\"/_emulator/identity/device/approve\">\
         <p><label>Code <input name=\"user_code\" autofocus></label></p>\
         <p><label>User <input name=\"username\" placeholder=\"(first registered user)\"></label></p>\
         <p><button type=\"submit\">Approve</button> \
         <button type=\"submit\" formaction=\"/_emulator/identity/device/decline\">Decline</button></p>\
         </form><h2>Waiting sign-ins</h2><ul>{list}</ul>"
    ))
}

async fn device_approve(
    State(state): State<Arc<EmuState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let html = wants_html(&headers);
    let result = fields(&headers, &body).and_then(|f| {
        let code = text_field(&f, "user_code")
            .ok_or_else(|| ControlError::BadRequest("`user_code` is required".into()))?
            .to_string();
        let user = state
            .identity
            .approve_device(&code, text_field(&f, "username"))?;
        Ok((code, user))
    });
    match (result, html) {
        (Ok((code, user)), false) => {
            axum::Json(json!({"user_code": code, "status": "approved", "username": user}))
                .into_response()
        }
        (Ok((_, user)), true) => page(&format!(
            "<h1>Approved</h1><p>Signed in as {}. You can close this page.</p>",
            escape(&user)
        ))
        .into_response(),
        (Err(e), false) => e.into_response(),
        (Err(e), true) => (
            e.status(),
            page(&format!(
                "<h1>Not approved</h1><p>{}</p>",
                escape(&e.to_string())
            )),
        )
            .into_response(),
    }
}

async fn device_decline(
    State(state): State<Arc<EmuState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let html = wants_html(&headers);
    let result = fields(&headers, &body).and_then(|f| {
        let code = text_field(&f, "user_code")
            .ok_or_else(|| ControlError::BadRequest("`user_code` is required".into()))?
            .to_string();
        state.identity.decline_device(&code)?;
        Ok(code)
    });
    match (result, html) {
        (Ok(code), false) => {
            axum::Json(json!({"user_code": code, "status": "declined"})).into_response()
        }
        (Ok(_), true) => page("<h1>Declined</h1><p>The sign-in was declined.</p>").into_response(),
        (Err(e), false) => e.into_response(),
        (Err(e), true) => (
            e.status(),
            page(&format!("<h1>Error</h1><p>{}</p>", escape(&e.to_string()))),
        )
            .into_response(),
    }
}

async fn revoke(State(state): State<Arc<EmuState>>, headers: HeaderMap, body: Bytes) -> Response {
    match fields(&headers, &body) {
        Ok(f) => {
            let client = text_field(&f, "client_id");
            let user = text_field(&f, "username");
            let seq = state.identity.revoke(client, user);
            axum::Json(json!({
                "revoked": true,
                "client_id": client,
                "username": user,
                "tokens_issued": seq,
            }))
            .into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn faults_get(State(state): State<Arc<EmuState>>) -> Response {
    axum::Json(state.faults.status()).into_response()
}

/// `PUT`/`POST /_emulator/faults` with `{"spec": "…"}` or the spec as a plain-text body.
async fn faults_set(
    State(state): State<Arc<EmuState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).to_string();
    let spec_text = if text.trim_start().starts_with('{') {
        match fields(&headers, &body) {
            Ok(f) => match f.get("spec").and_then(Value::as_str) {
                Some(s) => s.to_string(),
                None => {
                    return ControlError::BadRequest("`spec` (a string) is required".into())
                        .into_response();
                }
            },
            Err(e) => return e.into_response(),
        }
    } else {
        text
    };
    match spec_text.parse::<FaultSpec>() {
        Ok(spec) => {
            state.faults.set(&spec);
            axum::Json(state.faults.status()).into_response()
        }
        Err(e) => ControlError::BadRequest(e.to_string()).into_response(),
    }
}

async fn faults_clear(State(state): State<Arc<EmuState>>) -> Response {
    state.faults.clear();
    axum::Json(state.faults.status()).into_response()
}

async fn limits_get(State(state): State<Arc<EmuState>>) -> Response {
    axum::Json(json!({"spec": state.limits.spec().to_string()})).into_response()
}

/// `PUT /_emulator/limits` with `{"spec": "…"}` or plain text; counts start over.
async fn limits_set(
    State(state): State<Arc<EmuState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).to_string();
    let spec_text = if text.trim_start().starts_with('{') {
        match fields(&headers, &body)
            .map(|f| f.get("spec").and_then(Value::as_str).map(str::to_string))
        {
            Ok(Some(s)) => s,
            Ok(None) => {
                return ControlError::BadRequest("`spec` (a string) is required".into())
                    .into_response();
            }
            Err(e) => return e.into_response(),
        }
    } else {
        text
    };
    match spec_text.trim().parse::<LimitsSpec>() {
        Ok(spec) => {
            state.limits.set(&spec);
            axum::Json(json!({"spec": state.limits.spec().to_string()})).into_response()
        }
        Err(e) => ControlError::BadRequest(e.to_string()).into_response(),
    }
}

async fn limits_reset(State(state): State<Arc<EmuState>>) -> Response {
    state.limits.reset();
    axum::Json(json!({"spec": state.limits.spec().to_string(), "reset": true})).into_response()
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(status_name(self))
    }
}

/// The control routes.
pub(super) fn router() -> Router<Arc<EmuState>> {
    Router::new()
        .route("/_emulator/identity/device", get(device_page))
        .route("/_emulator/identity/device/approve", post(device_approve))
        .route("/_emulator/identity/device/decline", post(device_decline))
        .route("/_emulator/identity/revoke", post(revoke))
        .route(
            "/_emulator/faults",
            get(faults_get)
                .put(faults_set)
                .post(faults_set)
                .delete(faults_clear),
        )
        .route("/_emulator/limits", get(limits_get).put(limits_set))
        .route("/_emulator/limits/reset", post(limits_reset))
}
