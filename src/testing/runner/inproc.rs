//! A test-only [`Backend`] that sends each call straight into the case's emulator routers
//! (in-process, no socket, no token): the caller is a [`Principal`] holding every permission.
//! It lets unit tests run the example playbooks' test files against the real tenant APIs and
//! hunting tables while the identity platform and the HTTP client are elsewhere; production
//! runs go through [`EmulatorBackend`](crate::testing::EmulatorBackend).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use tower::ServiceExt as _;

use crate::emulator::principal::Principal;
use crate::emulator::{EmuState, EmulatorHandle};
use crate::engine::connection::{
    AuthOutcome, AuthRequest, BoxFuture, Call, CallStats, Grant, HuntData, Reply, Target,
};
use crate::engine::{Connection, ErrorKind, StepError, hunt_data_from_json};
use crate::playbook::{Api, Choice as _, Resource};
use crate::testing::Backend;

/// Every role and scope the routes check.
const ALL: &[&str] = &[
    "ThreatHunting.Read.All",
    "AdvancedHunting.Read.All",
    "AdvancedQuery.Read.All",
    "SecurityIncident.ReadWrite.All",
    "SecurityAlert.ReadWrite.All",
    "Incident.ReadWrite.All",
    "Machine.Read.All",
    "Machine.ReadWrite.All",
    "Machine.Isolate",
    "Machine.Scan",
    "Machine.CollectForensics",
    "Machine.RestrictExecution",
    "Machine.StopAndQuarantine",
];

pub(crate) struct InProcess;

impl Backend for InProcess {
    fn connect(
        &self,
        emulator: &EmulatorHandle,
        app: &str,
        env: &mut BTreeMap<String, String>,
    ) -> Result<Arc<dyn Connection>, String> {
        env.insert(
            "AZURE_TENANT_ID".into(),
            emulator.state.world.tenant_id.clone(),
        );
        env.insert("AZURE_CLIENT_ID".into(), app.into());
        env.insert("AZURE_CLIENT_SECRET".into(), "s3cret".into());
        let state: Arc<EmuState> = Arc::clone(&emulator.state);
        let router = Router::new()
            .merge(crate::emulator::hunting::router())
            .merge(crate::emulator::api::router())
            .with_state(Arc::clone(&state));
        Ok(Arc::new(Direct {
            router,
            base: emulator.urls.base.clone(),
            tenant: state.world.tenant_id.clone(),
        }))
    }
}

struct Direct {
    router: Router,
    base: String,
    tenant: String,
}

fn grant(audience: Resource) -> Grant {
    Grant {
        audience,
        roles: ALL.iter().map(|s| (*s).to_string()).collect(),
        scopes: ALL.iter().map(|s| (*s).to_string()).collect(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        readable: true,
    }
}

impl Direct {
    fn path_and_query(call: &Call) -> String {
        let mut path = match &call.target {
            Target::Path(p) => p.clone(),
            Target::Url(u) => url::Url::parse(u).map_or_else(
                |_| u.clone(),
                |u| match u.query() {
                    Some(q) => format!("{}?{q}", u.path()),
                    None => u.path().to_string(),
                },
            ),
        };
        if !call.query.is_empty() {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &call.query {
                ser.append_pair(k, v);
            }
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(&ser.finish().replace('+', "%20"));
        }
        path
    }

    async fn send(&self, call: &Call, accept: &[u16]) -> Result<Reply, StepError> {
        let body = call
            .body
            .as_ref()
            .map(|b| Body::from(serde_json::to_vec(b).unwrap_or_default()))
            .unwrap_or_else(Body::empty);
        let mut req = axum::http::Request::builder()
            .method(call.method.name())
            .uri(Self::path_and_query(call))
            .header("content-type", "application/json")
            .body(body)
            .map_err(|e| StepError::new(ErrorKind::Api, e.to_string()))?;
        req.extensions_mut().insert(Principal {
            tenant_id: self.tenant.clone(),
            app_id: "00000000-0000-0000-0000-000000000001".into(),
            app_name: "huntbook-demo".into(),
            object_id: "00000000-0000-0000-0000-000000000002".into(),
            user: None,
            permissions: ALL.iter().map(|s| (*s).to_string()).collect(),
        });
        let resp = self
            .router
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| StepError::new(ErrorKind::Api, e.to_string()))?;
        let status = resp.status().as_u16();
        let bytes: Bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .map_err(|e| StepError::new(ErrorKind::Api, e.to_string()))?;
        if (200..300).contains(&status) || accept.contains(&status) {
            return Ok(Reply {
                status,
                body: bytes,
            });
        }
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        Err(StepError::http_status(call, status, &json))
    }
}

impl Connection for Direct {
    fn authenticate(&self, request: AuthRequest) -> BoxFuture<'_, Result<AuthOutcome, StepError>> {
        Box::pin(async move {
            Ok(AuthOutcome {
                context: request.context,
                tenant_id: self.tenant.clone(),
                client_id: "00000000-0000-0000-0000-000000000001".into(),
                principal: Some("huntbook-demo".into()),
                grant: grant(request.audience),
            })
        })
    }

    fn grant(&self, audience: Resource) -> BoxFuture<'_, Result<Grant, StepError>> {
        Box::pin(async move { Ok(grant(audience)) })
    }

    fn call<'a>(
        &'a self,
        call: Call,
        accept: &'a [u16],
    ) -> BoxFuture<'a, Result<Reply, StepError>> {
        Box::pin(async move { self.send(&call, accept).await })
    }

    fn hunt(&self, call: Call, api: Api) -> BoxFuture<'_, Result<HuntData, StepError>> {
        Box::pin(async move {
            let reply = self.send(&call, &[]).await?;
            hunt_data_from_json(&reply.body, api)
        })
    }

    fn stats(&self, _label: &str) -> CallStats {
        CallStats::default()
    }

    fn url(&self, call: &Call) -> String {
        format!("{}{}", self.base, Self::path_and_query(call))
    }
}
