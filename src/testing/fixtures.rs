//! Per-step fixtures: a [`Connection`] wrapper that answers the calls of the steps a test case
//! gives a fixture for — rows for a hunt, a canned response, or a fault as the service would
//! send it — and hands every other call to the real connection (and so to the emulator).
//!
//! Calls carry the label of the step instance that made them (`steps[3]`, `steps[4][1].steps[0]`
//! in a loop); dropping the iteration indices gives the step's route, and the route its id.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use serde_json::json;

use crate::api::{ApiError, ServiceError};
use crate::engine::connection::{
    AuthOutcome, AuthRequest, BoxFuture, Call, CallStats, Connection, Grant, HuntData, Reply,
};
use crate::engine::{StepError, hunt_data_from_json};
use crate::playbook::{Api, Choice as _, Playbook, Resource};

use super::spec::{Fault, Fixture};

/// Seconds a throttled fixture asks the caller to wait (`Retry-After`).
const RETRY_AFTER: u64 = 60;

/// Serves fixtures for some steps, delegates the rest.
pub struct FixtureConnection {
    inner: Arc<dyn Connection>,
    /// Step route → fixture.
    by_route: HashMap<String, Fixture>,
    /// Counters of the calls fixtures answered, by label.
    stats: Mutex<BTreeMap<String, CallStats>>,
}

impl std::fmt::Debug for FixtureConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixtureConnection")
            .field("routes", &self.by_route.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl FixtureConnection {
    /// Wrap `inner`, answering the calls of `playbook`'s steps named in `fixtures` (by id).
    #[must_use]
    pub fn new(
        inner: Arc<dyn Connection>,
        playbook: &Playbook,
        fixtures: &BTreeMap<String, Fixture>,
    ) -> FixtureConnection {
        let by_route = playbook
            .all_steps()
            .into_iter()
            .filter_map(|s| {
                let f = fixtures.get(s.id.as_deref()?)?;
                Some((s.route.clone(), f.clone()))
            })
            .collect();
        FixtureConnection {
            inner,
            by_route,
            stats: Mutex::new(BTreeMap::new()),
        }
    }

    fn fixture(&self, label: &str) -> Option<&Fixture> {
        if self.by_route.is_empty() {
            return None;
        }
        self.by_route.get(&route_of(label))
    }

    fn count(&self, label: &str, f: impl FnOnce(&mut CallStats)) {
        let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
        f(stats.entry(label.to_string()).or_default());
    }

    /// Answer `call` from `fixture`, as the real connection would have returned it.
    fn answer(&self, call: &Call, fixture: &Fixture, accept: &[u16]) -> Result<Reply, StepError> {
        let (status, body) = match fixture {
            Fixture::Results { rows, schema } => (200, hunt_body(rows, schema.as_deref())),
            Fixture::Response { status, body } => {
                let mut body = body.clone();
                // Every call of the step gets this same answer: a next link would page forever.
                if let Some(map) = body.as_object_mut() {
                    map.remove("@odata.nextLink");
                }
                (*status, body)
            }
            Fixture::Fault(fault) => {
                let result = fault_error(call, *fault);
                self.count(&call.label, |s| {
                    s.calls += 1;
                    s.attempts += 1;
                    s.failures += 1;
                    if *fault == Fault::Throttle {
                        s.throttled += 1;
                    }
                });
                return Err(result);
            }
        };
        let bytes = if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
        };
        let ok = (200..300).contains(&status) || accept.contains(&status);
        self.count(&call.label, |s| {
            s.calls += 1;
            s.attempts += 1;
            s.bytes_received += bytes.len() as u64;
            if !ok {
                s.failures += 1;
            }
        });
        if ok {
            Ok(Reply {
                status,
                body: bytes,
            })
        } else {
            Err(response_error(call, status, &body))
        }
    }
}

/// The route of the step that made a call labelled `label`: the label without the iteration
/// indices that follow a `]` (`steps[4][1].steps[0]` → `steps[4].steps[0]`).
#[must_use]
pub fn route_of(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    let mut chars = label.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ']' {
            while chars.peek() == Some(&'[') {
                // An iteration index: skip `[digits]`.
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                }
            }
        }
    }
    out
}

/// A Graph hunting response for `rows`, with `schema` or one inferred from the rows.
#[must_use]
pub fn hunt_body(
    rows: &[serde_json::Value],
    schema: Option<&[serde_json::Value]>,
) -> serde_json::Value {
    let schema: Vec<serde_json::Value> = match schema {
        Some(s) => s.to_vec(),
        None => {
            let mut cols: Vec<(String, &'static str)> = Vec::new();
            for row in rows {
                let Some(map) = row.as_object() else { continue };
                for (k, v) in map {
                    if !cols.iter().any(|(c, _)| c == k) {
                        cols.push((k.clone(), column_type(v)));
                    }
                }
            }
            cols.into_iter()
                .map(|(name, ty)| json!({ "name": name, "type": ty }))
                .collect()
        }
    };
    json!({ "schema": schema, "results": rows })
}

/// The hunting type name of a value (what the service would put in `schema`).
fn column_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Bool(_) => "Boolean",
        serde_json::Value::Number(n) if n.is_f64() => "Double",
        serde_json::Value::Number(_) => "Int64",
        serde_json::Value::String(s) if chrono::DateTime::parse_from_rfc3339(s).is_ok() => {
            "DateTime"
        }
        serde_json::Value::String(_) => "String",
        _ => "Dynamic",
    }
}

/// The error body a service of `audience` sends, in its family's shape.
fn error_body(audience: Resource, code: &str, message: &str) -> serde_json::Value {
    match audience {
        Resource::Graph => json!({ "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": uuid::Uuid::new_v4().to_string()
            }
        }}),
        Resource::DefenderXdr | Resource::Endpoint => json!({ "error": {
            "code": code, "message": message, "target": uuid::Uuid::new_v4().to_string()
        }}),
    }
}

/// The audience of a resource, as the client names it.
fn audience(r: Resource) -> crate::auth::Audience {
    match r {
        Resource::Graph => crate::auth::Audience::Graph,
        Resource::DefenderXdr => crate::auth::Audience::Defender,
        Resource::Endpoint => crate::auth::Audience::Endpoint,
    }
}

/// What the live connection returns for a call the service answered with an error status:
/// the client's error for that answer, converted as the engine converts it (401/403 are
/// permission failures, exit 4; the rest API failures, exit 1).
fn response_error(call: &Call, status: u16, body: &serde_json::Value) -> StepError {
    let method = call.method.name().to_string();
    let path = call.target.display_path();
    let service = Box::new(ServiceError::parse(
        &serde_json::to_vec(body).unwrap_or_default(),
        &[],
    ));
    let e = match status {
        401 => ApiError::Unauthorized {
            method,
            path,
            audience: audience(call.audience),
            service,
        },
        403 => ApiError::Forbidden {
            method,
            path,
            service,
        },
        429 => ApiError::Throttled {
            method,
            path,
            attempts: 1,
            wait: Some(std::time::Duration::from_secs(RETRY_AFTER)),
            service,
        },
        _ => ApiError::Status {
            method,
            path,
            status,
            attempts: 1,
            service,
        },
    };
    crate::engine::live::api_error(&e)
}

/// The error a fault ends in, as the live connection reports it.
fn fault_error(call: &Call, fault: Fault) -> StepError {
    let a = call.audience;
    match fault {
        Fault::Throttle => {
            let body = match a {
                Resource::Graph => error_body(a, "TooManyRequests", "Too many requests."),
                _ => error_body(
                    a,
                    "429",
                    "API calls quota exceeded! maximum allowed 45 per 00:01:00",
                ),
            };
            response_error(call, 429, &body)
        }
        Fault::ServerError => response_error(
            call,
            500,
            &error_body(
                a,
                "InternalServerError",
                "An unexpected error occurred. Please try again later.",
            ),
        ),
        Fault::Forbidden => {
            let body = match a {
                Resource::Graph => error_body(
                    a,
                    "Forbidden",
                    "Missing application roles. API required roles: the step's permission.",
                ),
                _ => error_body(
                    a,
                    "Forbidden",
                    "The application does not have any of the required application permissions for this request.",
                ),
            };
            response_error(call, 403, &body)
        }
        Fault::Timeout => crate::engine::live::api_error(&ApiError::Network {
            method: call.method.name().to_string(),
            path: call.target.display_path(),
            attempts: 1,
            detail: "no response: the request timed out".to_string(),
        }),
    }
}

/// What the live connection reports when the identity platform answers a token request
/// with a fault.
fn sign_in_error(fault: Fault) -> StepError {
    let entra = |status: u16, error: &str, code: u32, description: &str| {
        let body = json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}\r\nTrace ID: {}", uuid::Uuid::new_v4()),
            "error_codes": [code],
        });
        crate::auth::EntraError::parse(status, body.to_string().as_bytes(), &[]).map_or_else(
            || crate::auth::AuthError::InvalidResponse {
                url: "the token endpoint".into(),
                status,
                detail: error.to_string(),
            },
            |e| crate::auth::AuthError::Entra(Box::new(e)),
        )
    };
    let e = match fault {
        Fault::Throttle => entra(
            429,
            "temporarily_unavailable",
            90055,
            "The request is throttled temporarily. Please try after some time.",
        ),
        Fault::ServerError => entra(
            500,
            "server_error",
            50000,
            "There was an error issuing a token or an issue with our sign-in service.",
        ),
        Fault::Forbidden => entra(
            401,
            "invalid_client",
            7_000_215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        ),
        Fault::Timeout => crate::auth::AuthError::Network {
            url: "the token endpoint".into(),
            detail: "no response: the request timed out".into(),
        },
    };
    crate::engine::live::auth_error(&e)
}

impl Connection for FixtureConnection {
    fn authenticate(&self, request: AuthRequest) -> BoxFuture<'_, Result<AuthOutcome, StepError>> {
        if let Some(Fixture::Fault(fault)) = self.fixture(&request.label) {
            let e = sign_in_error(*fault);
            self.count(&request.label, |s| {
                s.calls += 1;
                s.attempts += 1;
                s.failures += 1;
            });
            return Box::pin(async move { Err(e) });
        }
        self.inner.authenticate(request)
    }

    fn grant(&self, audience: Resource) -> BoxFuture<'_, Result<Grant, StepError>> {
        self.inner.grant(audience)
    }

    fn call<'a>(
        &'a self,
        call: Call,
        accept: &'a [u16],
    ) -> BoxFuture<'a, Result<Reply, StepError>> {
        match self.fixture(&call.label) {
            Some(f) => {
                let result = self.answer(&call, f, accept);
                Box::pin(async move { result })
            }
            None => self.inner.call(call, accept),
        }
    }

    fn hunt(&self, call: Call, api: Api) -> BoxFuture<'_, Result<HuntData, StepError>> {
        match self.fixture(&call.label) {
            Some(f) => {
                let result = self
                    .answer(&call, f, &[])
                    .and_then(|reply| hunt_data_from_json(&reply.body, api));
                Box::pin(async move { result })
            }
            None => self.inner.hunt(call, api),
        }
    }

    fn stats(&self, label: &str) -> CallStats {
        let mut s = self.inner.stats(label);
        if let Some(own) = self
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(label)
        {
            s.merge(own);
        }
        s
    }

    fn url(&self, call: &Call) -> String {
        self.inner.url(call)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ErrorKind;
    use crate::engine::connection::Target;
    use crate::playbook::Method;

    #[test]
    fn routes_drop_iteration_indices_only() {
        assert_eq!(route_of("steps[3]"), "steps[3]");
        assert_eq!(route_of("steps[3][12]"), "steps[3]");
        assert_eq!(route_of("steps[4][1].steps[0]"), "steps[4].steps[0]");
        assert_eq!(route_of("steps[4][1].steps[0][2]"), "steps[4].steps[0]");
        assert_eq!(route_of("steps[1].parallel[2]"), "steps[1].parallel[2]");
    }

    #[test]
    fn inferred_schemas_follow_first_seen_columns() {
        let body = hunt_body(
            &[
                json!({"DeviceName": "a", "Count": 3}),
                json!({"DeviceName": "b", "Seen": "2026-11-25T10:00:00Z", "Score": 0.5, "Ok": true}),
            ],
            None,
        );
        let types: Vec<(String, String)> = body["schema"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            types,
            vec![
                ("DeviceName".into(), "String".into()),
                ("Count".into(), "Int64".into()),
                ("Seen".into(), "DateTime".into()),
                ("Score".into(), "Double".into()),
                ("Ok".into(), "Boolean".into()),
            ]
        );
        assert_eq!(body["results"].as_array().map(Vec::len), Some(2));
    }

    fn call(audience: Resource, path: &str) -> Call {
        Call::new(
            audience,
            Method::Post,
            Target::Path(path.into()),
            "steps[1]",
        )
    }

    #[test]
    fn faults_fail_as_the_live_connection_reports_them() {
        let graph = call(Resource::Graph, "/v1.0/security/runHuntingQuery");
        let e = fault_error(&graph, Fault::Throttle);
        assert_eq!((e.kind, e.status), (ErrorKind::Api, Some(429)));
        assert!(
            e.message.starts_with(
                "POST /v1.0/security/runHuntingQuery: throttled (HTTP 429) after 1 attempt(s); the service asked to wait 1m: TooManyRequests: Too many requests. (request id "
            ),
            "{}",
            e.message
        );
        let mde = call(Resource::Endpoint, "/api/machines/x/isolate");
        let e = fault_error(&mde, Fault::Throttle);
        assert!(
            e.message
                .contains(": 429: API calls quota exceeded! maximum allowed 45 per 00:01:00"),
            "{}",
            e.message
        );
        let e = fault_error(&mde, Fault::Forbidden);
        assert_eq!((e.kind, e.status), (ErrorKind::Permission, Some(403)));
        assert_eq!(e.kind.exit_status().code(), 4);
        assert!(
            e.message.contains("HTTP 403, permission denied: Forbidden"),
            "{}",
            e.message
        );
        assert!(
            e.help
                .as_deref()
                .unwrap_or("")
                .contains("grant the permission")
        );
        let e = fault_error(&graph, Fault::ServerError);
        assert_eq!((e.kind, e.status), (ErrorKind::Api, Some(500)));
        assert!(
            e.message.contains("HTTP 500: InternalServerError"),
            "{}",
            e.message
        );
        let e = fault_error(&graph, Fault::Timeout);
        assert_eq!((e.kind, e.status), (ErrorKind::Api, None));
        assert!(e.message.contains("timed out"));
    }

    #[test]
    fn error_responses_name_the_call_status_and_message() {
        let c = call(Resource::DefenderXdr, "/api/incidents/7");
        let body = error_body(
            Resource::DefenderXdr,
            "ResourceNotFound",
            "Incident 7 was not found",
        );
        let e = response_error(&c, 404, &body);
        assert!(
            e.message
                .starts_with("POST /api/incidents/7: HTTP 404: ResourceNotFound: Incident 7 was not found (request id "),
            "{}",
            e.message
        );
        assert_eq!((e.kind, e.status), (ErrorKind::Api, Some(404)));
        let e = response_error(&c, 401, &body);
        assert_eq!((e.kind, e.kind.exit_status().code()), (ErrorKind::Auth, 4));
    }

    #[test]
    fn sign_in_faults_read_as_the_identity_platform_s_answers() {
        let e = sign_in_error(Fault::Forbidden);
        assert_eq!((e.kind, e.kind.exit_status().code()), (ErrorKind::Auth, 4));
        assert!(
            e.message.contains("invalid_client, AADSTS7000215"),
            "{}",
            e.message
        );
        let e = sign_in_error(Fault::Throttle);
        assert!(e.message.contains("AADSTS90055"), "{}", e.message);
        assert_eq!(e.kind.exit_status().code(), 1);
        let e = sign_in_error(Fault::Timeout);
        assert!(e.message.contains("timed out"), "{}", e.message);
    }

    /// A connection that must not be reached.
    struct Unreachable;

    impl Connection for Unreachable {
        fn authenticate(&self, _r: AuthRequest) -> BoxFuture<'_, Result<AuthOutcome, StepError>> {
            panic!("authenticate reached the inner connection")
        }
        fn grant(&self, _a: Resource) -> BoxFuture<'_, Result<Grant, StepError>> {
            panic!("grant reached the inner connection")
        }
        fn call<'a>(&'a self, c: Call, _a: &'a [u16]) -> BoxFuture<'a, Result<Reply, StepError>> {
            Box::pin(async move {
                Err(StepError::new(
                    ErrorKind::Api,
                    format!("inner: {}", c.label),
                ))
            })
        }
        fn hunt(&self, _c: Call, _a: Api) -> BoxFuture<'_, Result<HuntData, StepError>> {
            panic!("hunt reached the inner connection")
        }
        fn stats(&self, _l: &str) -> CallStats {
            CallStats {
                calls: 1,
                ..CallStats::default()
            }
        }
        fn url(&self, _c: &Call) -> String {
            "inner".into()
        }
    }

    #[tokio::test]
    async fn fixtures_answer_their_step_in_every_iteration_and_delegate_the_rest() {
        let pb = crate::playbook::load_str(
            std::path::Path::new("p.yaml"),
            "huntbook: 1\nname: p\nsteps:\n  - id: login\n    authenticate: { client_secret: { env: S } }\n  - id: alerts\n    for_each: [1, 2]\n    request: { path: /security/alerts_v2, paginate: true }\n  - id: other\n    request: { path: /security/incidents }\n",
        )
        .playbook
        .expect("valid");
        let mut fixtures = BTreeMap::new();
        fixtures.insert(
            "alerts".to_string(),
            Fixture::Response {
                status: 200,
                body: json!({"value": [1], "@odata.nextLink": "https://x/next"}),
            },
        );
        let conn = FixtureConnection::new(Arc::new(Unreachable), &pb, &fixtures);
        let get = |label: &str| {
            Call::new(
                Resource::Graph,
                Method::Get,
                Target::Path("/v1.0/security/alerts_v2".into()),
                label,
            )
        };
        let reply = conn.call(get("steps[1][1]"), &[]).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body, json!({"value": [1]}));
        let e = conn.call(get("steps[2]"), &[]).await.unwrap_err();
        assert_eq!(e.message, "inner: steps[2]");
        // The fixture's calls add to the inner connection's counts.
        assert_eq!(conn.stats("steps[1][1]").calls, 2);
        assert_eq!(conn.stats("steps[2]").calls, 1);
    }
}
