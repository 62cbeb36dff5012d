//! The request gate in front of every API route (`/v1.0/…`, `/beta/…`, `/api/…`): classify the
//! API family by path, authenticate the bearer token (401 in the family's shape), apply the
//! route's rate limit (429 with `Retry-After` and the family's throttling body), then hand the
//! handler an `Extension<Principal>`. Handlers authorise themselves with
//! `principal.require(family, &[…])` (403): they know what each route needs.
//!
//! Authentication comes before throttling, as in the real services: an unauthenticated caller
//! cannot spend the tenant's budget, and a refused token never counts as a call.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiFamily};
use super::limits::{Throttled, bucket_of};
use super::state::EmuState;

/// The API family a path belongs to, or `None` for non-API paths (identity, controls).
#[must_use]
pub fn family_of(path: &str) -> Option<ApiFamily> {
    if path.starts_with("/v1.0/")
        || path.starts_with("/beta/")
        || path == "/v1.0"
        || path == "/beta"
    {
        return Some(ApiFamily::Graph);
    }
    let rest = path
        .strip_prefix("/api/")
        .or_else(|| (path == "/api").then_some(""))?;
    let first = rest.split('/').next().unwrap_or("").to_ascii_lowercase();
    Some(match first.as_str() {
        "incidents" | "advancedhunting" => ApiFamily::Defender,
        // Machines, machine actions, advanced queries, alerts, indicators — and every other
        // `/api/` path, which on the real hosts belongs to Defender for Endpoint.
        _ => ApiFamily::Endpoint,
    })
}

fn client_request_id(req: &Request) -> Option<String> {
    req.headers()
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The 429 a throttled call gets: Defender XDR and MDE answer with code `"429"` and the quota
/// message of the budget that ran out, Graph with `TooManyRequests`.
#[must_use]
pub fn throttled_response(
    family: ApiFamily,
    t: &Throttled,
    client_request_id: Option<String>,
) -> Response {
    let mut err = match family {
        ApiFamily::Graph => ApiError::new(
            family,
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests.",
        ),
        ApiFamily::Defender | ApiFamily::Endpoint => ApiError::new(
            family,
            StatusCode::TOO_MANY_REQUESTS,
            "429",
            format!(
                "API calls quota exceeded! maximum allowed {} per {}",
                t.budget.calls,
                t.budget.period_timespan()
            ),
        ),
    }
    .with_retry_after(t.retry_after);
    err.client_request_id = client_request_id;
    err.into_response()
}

/// The gate middleware. Requests outside the APIs pass through untouched.
pub async fn gate(State(state): State<Arc<EmuState>>, mut req: Request, next: Next) -> Response {
    let Some(family) = family_of(req.uri().path()) else {
        return next.run(req).await;
    };
    let crid = client_request_id(&req);
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = match state.identity.authenticate(authorization, family) {
        Ok(p) => p,
        Err(rejection) => {
            let mut err = ApiError::new(
                family,
                StatusCode::UNAUTHORIZED,
                rejection.code(family),
                rejection.message(family),
            );
            err.client_request_id = crid;
            let mut resp = err.into_response();
            let challenge = format!(
                "Bearer realm=\"\", authorization_uri=\"{}/common/oauth2/authorize\", client_id=\"{}\"",
                state.identity.login_url(),
                super::directory::Resource::of_family(family).app_id()
            );
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            return resp;
        }
    };
    if let Some(bucket) = bucket_of(req.method(), req.uri().path())
        && let Err(t) = state.limits.check(bucket)
    {
        return throttled_response(family, &t, crid);
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// What answers a request no route matched: the family's "not found" for API paths (Graph
/// says 400 `BadRequest` "Resource not found for the segment …", as it does), a plain 404
/// otherwise.
pub async fn fallback(req: Request) -> Response {
    let path = req.uri().path();
    match family_of(path) {
        Some(ApiFamily::Graph) => {
            let segment = path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            ApiError::bad_request(
                ApiFamily::Graph,
                format!("Resource not found for the segment '{segment}'."),
            )
            .into_response()
        }
        Some(family) => ApiError::not_found(
            family,
            format!("No API route matches {} {path}.", req.method()),
        )
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({
                "error": "not_found",
                "error_description": format!("The emulator serves nothing at {path}."),
            })),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::Extension;
    use axum::body::Body;
    use axum::routing::post;
    use tower::ServiceExt as _;

    use super::*;
    use crate::emulator::directory::Resource;
    use crate::emulator::principal::Principal;
    use crate::emulator::{EmulatorConfig, EmulatorUrls};

    /// A stand-in for the tenant API's isolate route: it authorises as the real one must.
    async fn isolate(Extension(p): Extension<Principal>) -> Response {
        match p.require(ApiFamily::Endpoint, &["Machine.Isolate"]) {
            Ok(()) => (StatusCode::CREATED, p.app_name.clone()).into_response(),
            Err(e) => e.into_response(),
        }
    }

    async fn status_of(app: &axum::Router, token: Option<&str>) -> (StatusCode, String) {
        let mut req = axum::http::Request::post("/api/machines/abc/isolate");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).to_string())
    }

    #[tokio::test]
    async fn handlers_get_the_principal_and_readonly_apps_get_403() {
        let state = Arc::new(
            EmuState::new(
                EmulatorConfig::default(),
                EmulatorUrls::on("http://127.0.0.1:9"),
            )
            .unwrap(),
        );
        let app = axum::Router::new()
            .route("/api/machines/{id}/isolate", post(isolate))
            .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
            .with_state(state.clone());
        let ident = &state.identity;
        let demo = ident
            .mint_app_token("huntbook-demo", Resource::Endpoint)
            .unwrap();
        let readonly = ident
            .mint_app_token("huntbook-readonly", Resource::Endpoint)
            .unwrap();
        assert_eq!(
            status_of(&app, Some(&demo)).await,
            (StatusCode::CREATED, "huntbook-demo".to_string())
        );
        let (status, body) = status_of(&app, Some(&readonly)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(
            body.contains("\"Forbidden\"") && body.contains("Machine.Isolate"),
            "{body}"
        );
        assert_eq!(status_of(&app, None).await.0, StatusCode::UNAUTHORIZED);
        // A delegated token carries the user's scopes.
        let user = ident
            .mint_user_token(
                "huntbook-cli",
                "analyst@contoso.example",
                Resource::Endpoint,
            )
            .unwrap();
        assert_eq!(status_of(&app, Some(&user)).await.0, StatusCode::CREATED);
    }

    #[test]
    fn families_by_path() {
        assert_eq!(
            family_of("/v1.0/security/runHuntingQuery"),
            Some(ApiFamily::Graph)
        );
        assert_eq!(
            family_of("/beta/security/incidents"),
            Some(ApiFamily::Graph)
        );
        assert_eq!(family_of("/api/incidents/3"), Some(ApiFamily::Defender));
        assert_eq!(
            family_of("/api/advancedhunting/run"),
            Some(ApiFamily::Defender)
        );
        assert_eq!(family_of("/api/machines"), Some(ApiFamily::Endpoint));
        assert_eq!(
            family_of("/api/advancedqueries/run"),
            Some(ApiFamily::Endpoint)
        );
        assert_eq!(family_of("/api/indicators"), Some(ApiFamily::Endpoint));
        assert_eq!(family_of("/contoso.example/oauth2/v2.0/token"), None);
        assert_eq!(family_of("/_emulator/faults"), None);
        assert_eq!(family_of("/apis/x"), None);
    }
}
