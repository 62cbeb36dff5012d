//! Emulator-only routes for tests and users (not gated, not part of any Microsoft API):
//! the journal of write requests and the response state of a machine.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::emulator::state::EmuState;
use crate::emulator::{ApiError, ApiFamily};

/// `GET`/`DELETE /_emulator/tenant/journal`, `GET /_emulator/tenant/machines/{id}/state`.
pub fn router() -> Router<Arc<EmuState>> {
    Router::new()
        .route("/_emulator/tenant/journal", get(journal).delete(clear))
        .route("/_emulator/tenant/machines/{id}/state", get(machine_state))
}

async fn journal(State(st): State<Arc<EmuState>>) -> Response {
    axum::Json(json!({ "value": st.tenant.journal() })).into_response()
}

async fn clear(State(st): State<Arc<EmuState>>) -> Response {
    st.tenant.clear_journal();
    StatusCode::NO_CONTENT.into_response()
}

async fn machine_state(State(st): State<Arc<EmuState>>, Path(id): Path<String>) -> Response {
    match st.tenant.machine_state(&id) {
        Some(state) => axum::Json(state).into_response(),
        // The same body Defender for Endpoint's own routes give for an unknown machine.
        None => ApiError::not_found(ApiFamily::Endpoint, format!("Machine {id} was not found"))
            .into_response(),
    }
}
