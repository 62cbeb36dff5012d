//! Microsoft Graph security API: `/security/incidents` (list, get, update, comments, alerts)
//! and `/security/alerts_v2` (list, get, update, comments), under `/v1.0` and `/beta`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{Map, Value, json};

use super::model::{
    AlertStatus, Classification, Comment, Determination, Incident, IncidentStatus, Severity,
};
use super::odata::{Collection, Prop, PropType, parse_query, prop as p};
use super::respond::{
    Fail, Reply, WriteRequest, caller, collection, json_object, odata_fail, ok, with_request_id,
};
use crate::emulator::principal::Principal;
use crate::emulator::state::EmuState;
use crate::emulator::{ApiError, ApiFamily};

const G: ApiFamily = ApiFamily::Graph;

const INCIDENT_READ: &[&str] = &[
    "SecurityIncident.Read.All",
    "SecurityIncident.ReadWrite.All",
];
const INCIDENT_WRITE: &[&str] = &["SecurityIncident.ReadWrite.All"];
const ALERT_READ: &[&str] = &["SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"];
const ALERT_WRITE: &[&str] = &["SecurityAlert.ReadWrite.All"];

static INCIDENT_PROPS: &[Prop] = &[
    p("id", PropType::Str, false),
    p("incidentWebUrl", PropType::Str, false),
    p("redirectIncidentId", PropType::Str, false),
    p("tenantId", PropType::Str, false),
    p("displayName", PropType::Str, false),
    p("createdDateTime", PropType::DateTime, true),
    p("lastUpdateDateTime", PropType::DateTime, true),
    p("assignedTo", PropType::Str, true),
    p(
        "classification",
        PropType::Enum(Classification::GRAPH_VALUES),
        true,
    ),
    p(
        "determination",
        PropType::Enum(Determination::GRAPH_VALUES),
        true,
    ),
    p("status", PropType::Enum(IncidentStatus::GRAPH_VALUES), true),
    p("severity", PropType::Enum(Severity::GRAPH_VALUES), true),
    p("customTags", PropType::StrList, false),
    p("comments", PropType::ObjList, false),
    p("systemTags", PropType::StrList, false),
    p("description", PropType::Str, false),
];

/// `GET /security/incidents`: `$top` ≤ 50 (the observed limit), `$count`, `$expand=alerts`.
pub static INCIDENTS: Collection = Collection {
    type_name: "microsoft.graph.security.incident",
    props: INCIDENT_PROPS,
    case_insensitive_names: false,
    case_insensitive_strings: false,
    max_top: 50,
    default_top: 50,
    allow_count: true,
    expandable: &["alerts"],
};

static ALERT_PROPS: &[Prop] = &[
    p("id", PropType::Str, false),
    p("providerAlertId", PropType::Str, false),
    // Not in the documented list, but integrations filter alerts by incident.
    p("incidentId", PropType::Str, true),
    p("status", PropType::Enum(AlertStatus::GRAPH_VALUES), true),
    p("severity", PropType::Enum(Severity::GRAPH_VALUES), true),
    p(
        "classification",
        PropType::Enum(Classification::GRAPH_VALUES),
        true,
    ),
    p(
        "determination",
        PropType::Enum(Determination::GRAPH_VALUES),
        true,
    ),
    p(
        "serviceSource",
        PropType::Enum(super::model::ServiceSource::GRAPH_VALUES),
        true,
    ),
    p("detectionSource", PropType::Str, false),
    p("detectorId", PropType::Str, false),
    p("tenantId", PropType::Str, false),
    p("title", PropType::Str, false),
    p("description", PropType::Str, false),
    p("recommendedActions", PropType::Str, false),
    p("category", PropType::Str, false),
    p("assignedTo", PropType::Str, true),
    p("alertWebUrl", PropType::Str, false),
    p("incidentWebUrl", PropType::Str, false),
    p("actorDisplayName", PropType::Str, false),
    p("threatDisplayName", PropType::Str, false),
    p("threatFamilyName", PropType::Str, false),
    p("mitreTechniques", PropType::StrList, false),
    p("createdDateTime", PropType::DateTime, true),
    p("lastUpdateDateTime", PropType::DateTime, true),
    p("resolvedDateTime", PropType::DateTime, false),
    p("firstActivityDateTime", PropType::DateTime, false),
    p("lastActivityDateTime", PropType::DateTime, false),
    p("comments", PropType::ObjList, false),
    // The migration guide filters on evidence with any(): allowed.
    p("evidence", PropType::ObjList, true),
    p("systemTags", PropType::StrList, false),
];

/// `GET /security/alerts_v2`: `$top` ≤ 1000 (the legacy alerts page's limit; the v2 page gives
/// none), `$count`.
pub static ALERTS: Collection = Collection {
    type_name: "microsoft.graph.security.alert",
    props: ALERT_PROPS,
    case_insensitive_names: false,
    case_insensitive_strings: false,
    max_top: 1000,
    default_top: 100,
    allow_count: true,
    expandable: &[],
};

/// The Graph API version a route serves (`v1.0` or `beta`).
#[derive(Debug, Clone, Copy)]
struct Version(&'static str);

/// The Graph routes under `/{version}/security`.
pub fn router(version: &'static str) -> Router<Arc<EmuState>> {
    let base = format!("/{version}/security");
    Router::new()
        .route(&format!("{base}/incidents"), get(list_incidents))
        .route(
            &format!("{base}/incidents/{{id}}"),
            get(get_incident).patch(patch_incident),
        )
        .route(
            &format!("{base}/incidents/{{id}}/alerts"),
            get(incident_alerts),
        )
        .route(
            &format!("{base}/incidents/{{id}}/comments"),
            post(comment_incident),
        )
        .route(&format!("{base}/alerts_v2"), get(list_alerts))
        .route(
            &format!("{base}/alerts_v2/{{id}}"),
            get(get_alert).patch(patch_alert),
        )
        .route(
            &format!("{base}/alerts_v2/{{id}}/comments"),
            post(comment_alert),
        )
        .layer(Extension(Version(version)))
}

fn context(st: &EmuState, v: Version, tail: &str) -> String {
    format!("{}/{}/$metadata#{tail}", st.urls.graph_url, v.0)
}

fn not_found_incident(id: &str) -> ApiError {
    ApiError::not_found(G, format!("Incident with id '{id}' was not found."))
}

fn not_found_alert(id: &str) -> ApiError {
    ApiError::not_found(G, format!("Alert with id '{id}' was not found."))
}

fn find_incident<'a>(incs: &'a mut [Incident], id: &str) -> Option<&'a mut Incident> {
    let n: i64 = id.parse().ok()?;
    incs.iter_mut().find(|i| i.id == n)
}

fn fail(headers: &HeaderMap) -> impl Fn(ApiError) -> Fail + '_ {
    move |e| with_request_id(e, headers).into()
}

fn graph_odata(headers: &HeaderMap) -> impl Fn(super::odata::ODataError) -> Fail + '_ {
    move |e| {
        let mut f = odata_fail(G, e);
        f.error = with_request_id(f.error, headers);
        f
    }
}

async fn list_incidents(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Reply {
    let p = caller(principal, G).map_err(fail(&headers))?;
    p.require(G, INCIDENT_READ).map_err(fail(&headers))?;
    let q = parse_query(query.as_deref(), &INCIDENTS).map_err(graph_odata(&headers))?;
    let expand = q.expand.iter().any(|e| e == "alerts");
    let tenant = &st.tenant;
    let items: Vec<Value> = {
        let ctx = tenant.ctx();
        tenant
            .lock()
            .incidents
            .iter()
            .map(|i| i.graph(&ctx, expand))
            .collect()
    };
    let page = q.page(items, &INCIDENTS);
    let ctx_tail = if expand {
        "security/incidents(alerts())"
    } else {
        "security/incidents"
    };
    let path = format!("/{}/security/incidents", v.0);
    Ok(ok(
        StatusCode::OK,
        collection(
            &context(&st, v, ctx_tail),
            &q,
            page,
            Some((&st.urls.graph_url, &path)),
        ),
    ))
}

async fn get_incident(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Reply {
    let p = caller(principal, G).map_err(fail(&headers))?;
    p.require(G, INCIDENT_READ).map_err(fail(&headers))?;
    let q = parse_query(query.as_deref(), &INCIDENTS).map_err(graph_odata(&headers))?;
    let expand = q.expand.iter().any(|e| e == "alerts");
    let tenant = &st.tenant;
    let ctx = tenant.ctx();
    let mut inner = tenant.lock();
    let inc = find_incident(&mut inner.incidents, &id)
        .ok_or_else(|| fail(&headers)(not_found_incident(&id)))?;
    Ok(ok(
        StatusCode::OK,
        entity(
            &context(&st, v, "security/incidents/$entity"),
            inc.graph(&ctx, expand),
        ),
    ))
}

/// Prefix an entity with its `@odata.context`.
fn entity(context: &str, body: Value) -> Value {
    let mut o = Map::new();
    o.insert("@odata.context".into(), json!(context));
    if let Value::Object(rest) = body {
        o.extend(rest);
    }
    Value::Object(o)
}

async fn incident_alerts(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Reply {
    let p = caller(principal, G).map_err(fail(&headers))?;
    p.require(G, INCIDENT_READ).map_err(fail(&headers))?;
    let q = parse_query(query.as_deref(), &ALERTS).map_err(graph_odata(&headers))?;
    let tenant = &st.tenant;
    let items: Vec<Value> = {
        let ctx = tenant.ctx();
        let mut inner = tenant.lock();
        let inc = find_incident(&mut inner.incidents, &id)
            .ok_or_else(|| fail(&headers)(not_found_incident(&id)))?;
        inc.alerts.iter().map(|a| a.graph(&ctx)).collect()
    };
    let page = q.page(items, &ALERTS);
    let path = format!("/{}/security/incidents/{id}/alerts", v.0);
    let tail = format!("security/incidents('{id}')/alerts");
    Ok(ok(
        StatusCode::OK,
        collection(
            &context(&st, v, &tail),
            &q,
            page,
            Some((&st.urls.graph_url, &path)),
        ),
    ))
}

/// A validated incident or alert update.
#[derive(Debug, Default)]
pub(super) struct Update {
    pub(super) status: Option<IncidentStatus>,
    pub(super) alert_status: Option<AlertStatus>,
    pub(super) assigned_to: Option<Option<String>>,
    pub(super) classification: Option<Classification>,
    pub(super) determination: Option<Determination>,
    pub(super) custom_tags: Option<Vec<String>>,
}

fn bad(message: String) -> ApiError {
    ApiError::bad_request(G, message)
}

fn enum_value<T: Copy>(
    key: &str,
    value: &Value,
    type_name: &str,
    parse: fn(&str) -> Option<T>,
    accepted: &[&str],
) -> Result<T, ApiError> {
    let Some(s) = value.as_str() else {
        return Err(bad(format!(
            "Cannot convert the value {value} of property '{key}' to the expected type '{type_name}': a string is required."
        )));
    };
    parse(s).ok_or_else(|| {
        bad(format!(
            "Invalid value '{s}' for property '{key}' of type '{type_name}'. Expected one of: {}.",
            accepted.join(", ")
        ))
    })
}

/// Validate an update body. `alert`: the alerts_v2 update (alert statuses, no `customTags`).
fn parse_update(body: &Map<String, Value>, alert: bool) -> Result<Update, ApiError> {
    let type_name = if alert {
        "microsoft.graph.security.alert"
    } else {
        "microsoft.graph.security.incident"
    };
    let writable: &[&str] = if alert {
        &["status", "assignedTo", "classification", "determination"]
    } else {
        &[
            "status",
            "assignedTo",
            "classification",
            "determination",
            "customTags",
        ]
    };
    let readable: &[Prop] = if alert { ALERT_PROPS } else { INCIDENT_PROPS };
    let mut u = Update::default();
    for (key, value) in body {
        if key == "@odata.type" {
            continue;
        }
        if !writable.contains(&key.as_str()) {
            if readable.iter().any(|p| p.name == key) {
                return Err(bad(format!(
                    "The property '{key}' of type '{type_name}' is read-only and cannot be updated."
                )));
            }
            return Err(bad(format!(
                "The property '{key}' does not exist on type '{type_name}'. Make sure to only use property names that are defined by the type or mark the type as open type.{}",
                super::respond::case_hint(key, writable)
            )));
        }
        match key.as_str() {
            "status" if alert => {
                let s = enum_value(
                    key,
                    value,
                    AlertStatus::GRAPH_TYPE,
                    AlertStatus::parse,
                    &["new", "inProgress", "resolved"],
                )?;
                if s == AlertStatus::Unknown {
                    return Err(bad("The alert status 'unknown' cannot be set.".into()));
                }
                u.alert_status = Some(s);
            }
            "status" => {
                let s = enum_value(
                    key,
                    value,
                    IncidentStatus::GRAPH_TYPE,
                    IncidentStatus::parse,
                    &["active", "inProgress", "resolved", "redirected"],
                )?;
                if s == IncidentStatus::AwaitingAction {
                    return Err(bad(
                        "The status 'awaitingAction' can only be set by Microsoft Defender Experts."
                            .into(),
                    ));
                }
                u.status = Some(s);
            }
            "assignedTo" => match value {
                Value::Null => u.assigned_to = Some(None),
                Value::String(s) if s.trim().is_empty() => u.assigned_to = Some(None),
                Value::String(s) => u.assigned_to = Some(Some(s.clone())),
                other => {
                    return Err(bad(format!(
                        "Cannot convert the value {other} of property 'assignedTo' to the expected type 'Edm.String'."
                    )));
                }
            },
            "classification" => {
                u.classification = Some(enum_value(
                    key,
                    value,
                    Classification::GRAPH_TYPE,
                    Classification::parse,
                    Classification::GRAPH_VALUES,
                )?);
            }
            "determination" => {
                let d = enum_value(
                    key,
                    value,
                    Determination::GRAPH_TYPE,
                    Determination::parse,
                    Determination::GRAPH_VALUES,
                )?;
                if d.deprecated() {
                    return Err(bad(format!(
                        "The determination '{}' is deprecated and can no longer be set.",
                        d.graph()
                    )));
                }
                u.determination = Some(d);
            }
            "customTags" => {
                let tags = value
                    .as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|t| t.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| {
                        bad("Cannot convert the value of property 'customTags' to the expected type 'Collection(Edm.String)'.".into())
                    })?;
                u.custom_tags = Some(tags);
            }
            _ => {}
        }
    }
    Ok(u)
}

/// The classification and determination after an update, checked together.
pub(super) fn resolve_class(
    family: ApiFamily,
    u: &Update,
    current: (Classification, Determination),
) -> Result<(Classification, Determination), ApiError> {
    let class = u.classification.unwrap_or(current.0);
    let det = match (u.determination, u.classification) {
        (Some(d), _) => d,
        // A new classification drops a determination that no longer fits it.
        (None, Some(c)) if !current.1.fits(c) => Determination::Unknown,
        (None, _) => current.1,
    };
    if !det.fits(class) {
        let (d, c) = if family == G {
            (det.graph(), class.graph())
        } else {
            (det.defender(), class.defender())
        };
        return Err(ApiError::new(
            family,
            StatusCode::BAD_REQUEST,
            if family == G {
                "BadRequest"
            } else {
                "InvalidInput"
            },
            format!("The determination '{d}' does not apply to the classification '{c}'."),
        ));
    }
    Ok((class, det))
}

async fn patch_incident(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(id): Path<String>,
    req: WriteRequest,
) -> axum::response::Response {
    let reply = patch_incident_inner(&st, principal.clone(), v, &headers, &id, &req.body);
    req.journal(&st, principal.as_ref(), reply)
}

fn patch_incident_inner(
    st: &Arc<EmuState>,
    principal: Option<Extension<Principal>>,
    v: Version,
    headers: &HeaderMap,
    id: &str,
    body: &[u8],
) -> Reply {
    let p = caller(principal, G).map_err(fail(headers))?;
    p.require(G, INCIDENT_WRITE).map_err(fail(headers))?;
    let tenant = &st.tenant;
    let now = tenant.now();
    let ctx = tenant.ctx();
    let mut inner = tenant.lock();
    let inc = find_incident(&mut inner.incidents, id)
        .ok_or_else(|| fail(headers)(not_found_incident(id)))?;
    let body = json_object(G, body).map_err(fail(headers))?;
    let u = parse_update(&body, false).map_err(fail(headers))?;
    let (class, det) =
        resolve_class(G, &u, (inc.classification, inc.determination)).map_err(fail(headers))?;
    apply_incident_update(inc, &u, class, det, now);
    Ok(ok(
        StatusCode::OK,
        entity(
            &context(st, v, "security/incidents/$entity"),
            inc.graph(&ctx, false),
        ),
    ))
}

/// Apply a validated update. Like the portal, the incident's owner, classification and
/// resolution carry over to its alerts.
pub(super) fn apply_incident_update(
    inc: &mut Incident,
    u: &Update,
    class: Classification,
    det: Determination,
    now: chrono::DateTime<chrono::Utc>,
) {
    if let Some(s) = u.status {
        inc.status = s;
        let alert_status = match s {
            IncidentStatus::Resolved => Some(AlertStatus::Resolved),
            IncidentStatus::InProgress => Some(AlertStatus::InProgress),
            IncidentStatus::Active => Some(AlertStatus::New),
            _ => None,
        };
        for a in &mut inc.alerts {
            if let Some(s) = alert_status {
                a.status = s;
                a.resolved = (s == AlertStatus::Resolved).then_some(now);
                a.last_update = now;
            }
        }
    }
    if let Some(a) = &u.assigned_to {
        inc.assigned_to.clone_from(a);
        for al in &mut inc.alerts {
            al.assigned_to.clone_from(a);
            al.last_update = now;
        }
    }
    if u.classification.is_some() || u.determination.is_some() {
        inc.classification = class;
        inc.determination = det;
        for al in &mut inc.alerts {
            al.classification = class;
            al.determination = det;
            al.last_update = now;
        }
    }
    if let Some(t) = &u.custom_tags {
        inc.custom_tags.clone_from(t);
    }
    inc.last_update = now;
}

/// Read `comment` from a comments POST body.
fn comment_text(body: &Map<String, Value>) -> Result<String, ApiError> {
    match body.get("comment") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(bad("The comment must not be empty.".into())),
        Some(other) => Err(bad(format!(
            "Cannot convert the value {other} of property 'comment' to the expected type 'Edm.String'."
        ))),
        None => Err(bad(
            "The request body must contain a 'comment' property (microsoft.graph.security.alertComment).".into(),
        )),
    }
}

async fn comment_incident(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(id): Path<String>,
    req: WriteRequest,
) -> axum::response::Response {
    let reply = (|| -> Reply {
        let p = caller(principal.clone(), G).map_err(fail(&headers))?;
        p.require(G, INCIDENT_WRITE).map_err(fail(&headers))?;
        let tenant = &st.tenant;
        let now = tenant.now();
        let mut inner = tenant.lock();
        let inc = find_incident(&mut inner.incidents, &id)
            .ok_or_else(|| fail(&headers)(not_found_incident(&id)))?;
        let body = json_object(G, &req.body).map_err(fail(&headers))?;
        let text = comment_text(&body).map_err(fail(&headers))?;
        inc.comments.push(Comment {
            comment: text,
            created_by: p.display_name().to_string(),
            created: now,
        });
        inc.last_update = now;
        Ok(ok(StatusCode::OK, comments_body(&st, v, &inc.comments)))
    })();
    req.journal(&st, principal.as_ref(), reply)
}

fn comments_body(st: &EmuState, v: Version, comments: &[Comment]) -> Value {
    json!({
        "@odata.context": context(st, v, "Collection(microsoft.graph.security.alertComment)"),
        "value": comments.iter().map(|c| json!({
            "@odata.type": "#microsoft.graph.security.alertComment",
            "comment": c.comment,
            "createdByDisplayName": c.created_by,
            "createdDateTime": super::time::format(&c.created),
        })).collect::<Vec<_>>(),
    })
}

async fn list_alerts(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Reply {
    let p = caller(principal, G).map_err(fail(&headers))?;
    p.require(G, ALERT_READ).map_err(fail(&headers))?;
    let q = parse_query(query.as_deref(), &ALERTS).map_err(graph_odata(&headers))?;
    let tenant = &st.tenant;
    let items: Vec<Value> = {
        let ctx = tenant.ctx();
        let inner = tenant.lock();
        let mut alerts: Vec<_> = inner.incidents.iter().flat_map(|i| &i.alerts).collect();
        alerts.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| b.id.cmp(&a.id)));
        alerts.iter().map(|a| a.graph(&ctx)).collect()
    };
    let page = q.page(items, &ALERTS);
    let path = format!("/{}/security/alerts_v2", v.0);
    Ok(ok(
        StatusCode::OK,
        collection(
            &context(&st, v, "security/alerts_v2"),
            &q,
            page,
            Some((&st.urls.graph_url, &path)),
        ),
    ))
}

async fn get_alert(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let p = caller(principal, G).map_err(fail(&headers))?;
    p.require(G, ALERT_READ).map_err(fail(&headers))?;
    let tenant = &st.tenant;
    let ctx = tenant.ctx();
    let inner = tenant.lock();
    let alert = inner
        .incidents
        .iter()
        .flat_map(|i| &i.alerts)
        .find(|a| a.id == id)
        .ok_or_else(|| fail(&headers)(not_found_alert(&id)))?;
    Ok(ok(
        StatusCode::OK,
        entity(
            &context(&st, v, "security/alerts_v2/$entity"),
            alert.graph(&ctx),
        ),
    ))
}

async fn patch_alert(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(id): Path<String>,
    req: WriteRequest,
) -> axum::response::Response {
    let reply = (|| -> Reply {
        let p = caller(principal.clone(), G).map_err(fail(&headers))?;
        p.require(G, ALERT_WRITE).map_err(fail(&headers))?;
        let tenant = &st.tenant;
        let now = tenant.now();
        let ctx = tenant.ctx();
        let mut inner = tenant.lock();
        let (incident, alert) = inner
            .incidents
            .iter_mut()
            .find_map(|i| {
                let pos = i.alerts.iter().position(|a| a.id == id)?;
                Some((i, pos))
            })
            .ok_or_else(|| fail(&headers)(not_found_alert(&id)))?;
        let body = json_object(G, &req.body).map_err(fail(&headers))?;
        let u = parse_update(&body, true).map_err(fail(&headers))?;
        let a = &mut incident.alerts[alert];
        let (class, det) =
            resolve_class(G, &u, (a.classification, a.determination)).map_err(fail(&headers))?;
        if let Some(s) = u.alert_status {
            a.status = s;
            a.resolved = (s == AlertStatus::Resolved).then_some(now);
        }
        if let Some(who) = &u.assigned_to {
            a.assigned_to.clone_from(who);
        }
        a.classification = class;
        a.determination = det;
        a.last_update = now;
        incident.last_update = now;
        let body = incident.alerts[alert].graph(&ctx);
        Ok(ok(
            StatusCode::OK,
            entity(&context(&st, v, "security/alerts_v2/$entity"), body),
        ))
    })();
    req.journal(&st, principal.as_ref(), reply)
}

async fn comment_alert(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Extension(v): Extension<Version>,
    headers: HeaderMap,
    Path(id): Path<String>,
    req: WriteRequest,
) -> axum::response::Response {
    let reply = (|| -> Reply {
        let p = caller(principal.clone(), G).map_err(fail(&headers))?;
        p.require(G, ALERT_WRITE).map_err(fail(&headers))?;
        let tenant = &st.tenant;
        let now = tenant.now();
        let mut inner = tenant.lock();
        let alert = inner
            .incidents
            .iter_mut()
            .flat_map(|i| i.alerts.iter_mut())
            .find(|a| a.id == id)
            .ok_or_else(|| fail(&headers)(not_found_alert(&id)))?;
        let body = json_object(G, &req.body).map_err(fail(&headers))?;
        let text = comment_text(&body).map_err(fail(&headers))?;
        alert.comments.push(Comment {
            comment: text,
            created_by: p.display_name().to_string(),
            created: now,
        });
        alert.last_update = now;
        Ok(ok(StatusCode::OK, comments_body(&st, v, &alert.comments)))
    })();
    req.journal(&st, principal.as_ref(), reply)
}
