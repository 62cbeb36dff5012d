//! A scripted [`Connection`] for the engine's unit tests: routes answer calls, every call is
//! journalled, tokens grant what the test says.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;
use chrono::{Duration, Utc};

use super::connection::{
    AuthOutcome, AuthRequest, BoxFuture, Call, CallStats, Connection, Grant, HuntData, Reply,
    Target,
};
use super::error::{ErrorKind, StepError};
use crate::playbook::{Api, AuthContext, Choice as _, Resource};

type Handler = Box<dyn Fn(&Call) -> Option<(u16, serde_json::Value)> + Send + Sync>;

/// A fake connection.
pub(crate) struct Fake {
    handlers: Vec<Handler>,
    pub journal: Mutex<Vec<Call>>,
    pub signed_in: Mutex<Vec<String>>,
    stats: Mutex<BTreeMap<String, CallStats>>,
    roles: BTreeMap<&'static str, Vec<String>>,
    context: AuthContext,
    auth_error: Option<StepError>,
    delay: Option<std::time::Duration>,
    opaque: bool,
}

fn key(r: Resource) -> &'static str {
    super::connection::audience_name(r)
}

impl Fake {
    /// A connection whose app holds every read permission of every API.
    pub fn new() -> Fake {
        let mut roles = BTreeMap::new();
        roles.insert(
            "graph",
            vec![
                "ThreatHunting.Read.All".to_string(),
                "SecurityIncident.ReadWrite.All".to_string(),
                "SecurityAlert.Read.All".to_string(),
            ],
        );
        roles.insert(
            "defender",
            vec![
                "AdvancedHunting.Read.All".to_string(),
                "Incident.ReadWrite.All".to_string(),
            ],
        );
        roles.insert(
            "endpoint",
            vec![
                "Machine.Read.All".to_string(),
                "Machine.Isolate".to_string(),
                "Machine.Scan".to_string(),
            ],
        );
        Fake {
            handlers: Vec::new(),
            journal: Mutex::new(Vec::new()),
            signed_in: Mutex::new(Vec::new()),
            stats: Mutex::new(BTreeMap::new()),
            roles,
            context: AuthContext::Application,
            auth_error: None,
            delay: None,
            opaque: false,
        }
    }

    /// Answer calls `h` recognises (first match wins).
    pub fn on(
        mut self,
        h: impl Fn(&Call) -> Option<(u16, serde_json::Value)> + Send + Sync + 'static,
    ) -> Fake {
        self.handlers.push(Box::new(h));
        self
    }

    /// Answer `METHOD path` (path without query) with `status` and `body`.
    pub fn route(
        self,
        method: &'static str,
        path: &'static str,
        status: u16,
        body: serde_json::Value,
    ) -> Fake {
        self.on(move |c| {
            (c.method.name() == method && c.target.display_path() == path)
                .then(|| (status, body.clone()))
        })
    }

    /// Grant exactly these roles on an API (`graph`, `defender`, `endpoint`).
    pub fn roles(mut self, api: &'static str, roles: &[&str]) -> Fake {
        self.roles
            .insert(api, roles.iter().map(|r| (*r).to_string()).collect());
        self
    }

    /// Make sign-in fail.
    pub fn failing_auth(mut self, e: StepError) -> Fake {
        self.auth_error = Some(e);
        self
    }

    /// Issue tokens whose claims cannot be read (not JWTs).
    pub fn opaque(mut self) -> Fake {
        self.opaque = true;
        self
    }

    /// Delay every call (for timeouts).
    pub fn slow(mut self, d: std::time::Duration) -> Fake {
        self.delay = Some(d);
        self
    }

    /// The calls made, as `METHOD /path`.
    pub fn calls(&self) -> Vec<String> {
        self.journal
            .lock()
            .unwrap()
            .iter()
            .map(Call::describe)
            .collect()
    }

    fn grant_of(&self, r: Resource) -> Grant {
        Grant {
            audience: r,
            roles: self.roles.get(key(r)).cloned().unwrap_or_default(),
            scopes: Vec::new(),
            expires_at: Utc::now() + Duration::hours(1),
            readable: !self.opaque,
        }
    }

    fn answer(&self, call: &Call, accept: &[u16]) -> Result<Reply, StepError> {
        self.journal.lock().unwrap().push(call.clone());
        let mut stats = self.stats.lock().unwrap();
        let s = stats.entry(call.label.clone()).or_default();
        s.calls += 1;
        s.attempts += 1;
        drop(stats);
        let found = self.handlers.iter().find_map(|h| h(call));
        let Some((status, body)) = found else {
            return Err(StepError {
                status: Some(404),
                ..StepError::new(
                    ErrorKind::Api,
                    format!("{}: HTTP 404: no route in the fake", call.describe()),
                )
            });
        };
        if (200..300).contains(&status) || accept.contains(&status) {
            let bytes = if body.is_null() {
                Bytes::new()
            } else {
                Bytes::from(serde_json::to_vec(&body).unwrap())
            };
            return Ok(Reply {
                status,
                body: bytes,
            });
        }
        Err(StepError::http_status(call, status, &body))
    }
}

impl Connection for Fake {
    fn authenticate(&self, request: AuthRequest) -> BoxFuture<'_, Result<AuthOutcome, StepError>> {
        Box::pin(async move {
            if let Some(e) = &self.auth_error {
                return Err(e.clone());
            }
            self.signed_in
                .lock()
                .unwrap()
                .push(format!("{:?}", request.credential));
            Ok(AuthOutcome {
                context: self.context,
                tenant_id: request.tenant_id.unwrap_or_else(|| "tenant-1".into()),
                client_id: request.client_id.unwrap_or_else(|| "client-1".into()),
                principal: Some("app-1".into()),
                grant: self.grant_of(request.audience),
            })
        })
    }

    fn grant(&self, audience: Resource) -> BoxFuture<'_, Result<Grant, StepError>> {
        Box::pin(async move { Ok(self.grant_of(audience)) })
    }

    fn call<'a>(
        &'a self,
        call: Call,
        accept: &'a [u16],
    ) -> BoxFuture<'a, Result<Reply, StepError>> {
        Box::pin(async move {
            if let Some(d) = self.delay {
                tokio::time::sleep(d).await;
            }
            self.answer(&call, accept)
        })
    }

    fn hunt(&self, call: Call, api: Api) -> BoxFuture<'_, Result<HuntData, StepError>> {
        Box::pin(async move {
            if let Some(d) = self.delay {
                tokio::time::sleep(d).await;
            }
            let reply = self.answer(&call, &[])?;
            super::steps::hunt_data_from_json(&reply.body, api)
        })
    }

    fn stats(&self, label: &str) -> CallStats {
        self.stats
            .lock()
            .unwrap()
            .get(label)
            .cloned()
            .unwrap_or_default()
    }

    fn url(&self, call: &Call) -> String {
        match &call.target {
            Target::Path(p) => format!("https://fake.example{p}"),
            Target::Url(u) => u.clone(),
        }
    }
}
