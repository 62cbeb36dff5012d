//! Defender XDR (the older Microsoft 365 Defender API): `GET /api/incidents`,
//! `GET /api/incidents/{id}`, `PATCH /api/incidents/{id}` — numeric ids, PascalCase enums,
//! alerts always embedded, `$filter` on four properties only, `$top` ≤ 100.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{Map, Value, json};

use super::graph::{Update, apply_incident_update, resolve_class};
use super::model::{Classification, Comment, Determination, Incident, IncidentStatus};
use super::odata::{Collection, Prop, PropType, parse_query, prop as p};
use super::respond::{
    Reply, WriteRequest, caller, case_hint, collection, json_object, odata_fail, ok,
};
use crate::emulator::principal::Principal;
use crate::emulator::state::EmuState;
use crate::emulator::{ApiError, ApiFamily};

const D: ApiFamily = ApiFamily::Defender;

const READ: &[&str] = &[
    "Incident.Read.All",
    "Incident.ReadWrite.All",
    "Incident.Read",
    "Incident.ReadWrite",
];
const WRITE: &[&str] = &["Incident.ReadWrite.All", "Incident.ReadWrite"];

static PROPS: &[Prop] = &[
    p("incidentId", PropType::Num, false),
    p("redirectIncidentId", PropType::Num, false),
    p("incidentName", PropType::Str, false),
    p("createdTime", PropType::DateTime, true),
    p("lastUpdateTime", PropType::DateTime, true),
    p("assignedTo", PropType::Str, true),
    p(
        "classification",
        PropType::Enum(Classification::DEFENDER_VALUES),
        false,
    ),
    p(
        "determination",
        PropType::Enum(Determination::DEFENDER_VALUES),
        false,
    ),
    p(
        "status",
        PropType::Enum(IncidentStatus::DEFENDER_VALUES),
        true,
    ),
    p(
        "severity",
        PropType::Enum(super::model::Severity::DEFENDER_VALUES),
        false,
    ),
    p("tags", PropType::StrList, false),
    p("comments", PropType::ObjList, false),
    p("alerts", PropType::ObjList, false),
];

/// `GET /api/incidents`: `$filter` on `lastUpdateTime`, `createdTime`, `status`, `assignedTo`.
pub static INCIDENTS: Collection = Collection {
    type_name: "Incident",
    props: PROPS,
    case_insensitive_names: true,
    case_insensitive_strings: true,
    max_top: 100,
    default_top: 100,
    allow_count: false,
    expandable: &[],
};

/// The Defender XDR incident routes.
pub fn router() -> Router<Arc<EmuState>> {
    Router::new()
        .route("/api/incidents", get(list))
        .route("/api/incidents/{id}", get(get_one).patch(patch))
}

fn find<'a>(incs: &'a mut [Incident], id: &str) -> Result<&'a mut Incident, ApiError> {
    let n: i64 = id.parse().map_err(|_| {
        ApiError::new(
            D,
            StatusCode::BAD_REQUEST,
            "InvalidInput",
            format!("Invalid input {id}: an incident id is a number."),
        )
    })?;
    incs.iter_mut()
        .find(|i| i.id == n)
        .ok_or_else(|| ApiError::not_found(D, format!("Incident {id} was not found")))
}

fn with_context(st: &EmuState, body: Value) -> Value {
    let mut o = Map::new();
    o.insert(
        "@odata.context".into(),
        json!(format!(
            "{}/api/$metadata#Incidents/$entity",
            st.urls.defender_url
        )),
    );
    if let Value::Object(rest) = body {
        o.extend(rest);
    }
    Value::Object(o)
}

async fn list(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    RawQuery(query): RawQuery,
) -> Reply {
    let p = caller(principal, D)?;
    p.require(D, READ)?;
    let q = parse_query(query.as_deref(), &INCIDENTS).map_err(|e| odata_fail(D, e))?;
    let tenant = &st.tenant;
    let items: Vec<Value> = {
        let ctx = tenant.ctx();
        tenant
            .lock()
            .incidents
            .iter()
            .map(|i| i.defender(&ctx))
            .collect()
    };
    let page = q.page(items, &INCIDENTS);
    // The API documents only $top/$skip paging: no @odata.nextLink, so clients must advance
    // $skip until a short page.
    let context = format!("{}/api/$metadata#Incidents", st.urls.defender_url);
    Ok(ok(StatusCode::OK, collection(&context, &q, page, None)))
}

async fn get_one(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
) -> Reply {
    let p = caller(principal, D)?;
    p.require(D, READ)?;
    let tenant = &st.tenant;
    let ctx = tenant.ctx();
    let mut inner = tenant.lock();
    let inc = find(&mut inner.incidents, &id)?;
    Ok(ok(StatusCode::OK, with_context(&st, inc.defender(&ctx))))
}

const KEYS: &[&str] = &[
    "status",
    "assignedTo",
    "classification",
    "determination",
    "tags",
    "comment",
];

fn invalid(key: &str, value: &Value, allowed: &[&str]) -> ApiError {
    ApiError::new(
        D,
        StatusCode::BAD_REQUEST,
        "InvalidInput",
        format!(
            "Invalid input {key}: {value}. Allowed values: {}",
            allowed.join(", ")
        ),
    )
}

fn enum_of<T>(
    key: &str,
    v: &Value,
    parse: fn(&str) -> Option<T>,
    allowed: &[&str],
) -> Result<T, ApiError> {
    v.as_str()
        .and_then(parse)
        .ok_or_else(|| invalid(key, v, allowed))
}

/// Validate a PATCH body: case-sensitive keys, enum values in either case.
fn parse_patch(body: &Map<String, Value>) -> Result<(Update, Option<String>), ApiError> {
    let mut u = Update::default();
    let mut comment = None;
    for (key, value) in body {
        match key.as_str() {
            "status" => {
                let allowed = &["Active", "Resolved", "InProgress", "Redirected"];
                let s = enum_of(key, value, IncidentStatus::parse, allowed)?;
                if s == IncidentStatus::AwaitingAction {
                    return Err(invalid(key, value, allowed));
                }
                u.status = Some(s);
            }
            "assignedTo" => match value {
                Value::Null => u.assigned_to = Some(None),
                Value::String(s) if s.trim().is_empty() => u.assigned_to = Some(None),
                Value::String(s) => u.assigned_to = Some(Some(s.clone())),
                other => return Err(invalid(key, other, &["a user principal name"])),
            },
            "classification" => {
                u.classification = Some(enum_of(
                    key,
                    value,
                    Classification::parse,
                    &[
                        "TruePositive",
                        "InformationalExpectedActivity",
                        "FalsePositive",
                    ],
                )?);
            }
            "determination" => {
                let d = enum_of(
                    key,
                    value,
                    Determination::parse,
                    Determination::DEFENDER_VALUES,
                )?;
                if d.deprecated() {
                    return Err(ApiError::new(
                        D,
                        StatusCode::BAD_REQUEST,
                        "InvalidInput",
                        format!(
                            "Invalid input determination: {} is deprecated and can no longer be set",
                            d.defender()
                        ),
                    ));
                }
                u.determination = Some(d);
            }
            "tags" => {
                let tags = value
                    .as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|t| t.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| invalid(key, value, &["a list of strings"]))?;
                u.custom_tags = Some(tags);
            }
            "comment" => match value {
                Value::String(s) if !s.trim().is_empty() => comment = Some(s.clone()),
                other => return Err(invalid(key, other, &["a non-empty string"])),
            },
            other => {
                return Err(ApiError::new(
                    D,
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestBody",
                    format!(
                        "Invalid request body: unknown property '{other}'. Updatable properties: {}.{}",
                        KEYS.join(", "),
                        case_hint(other, KEYS)
                    ),
                ));
            }
        }
    }
    Ok((u, comment))
}

async fn patch(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
    req: WriteRequest,
) -> axum::response::Response {
    let reply = (|| -> Reply {
        let p = caller(principal.clone(), D)?;
        p.require(D, WRITE)?;
        let tenant = &st.tenant;
        let now = tenant.now();
        let ctx = tenant.ctx();
        let mut inner = tenant.lock();
        let inc = find(&mut inner.incidents, &id)?;
        let body = json_object(D, &req.body)?;
        let (u, comment) = parse_patch(&body)?;
        let (class, det) = resolve_class(D, &u, (inc.classification, inc.determination))?;
        apply_incident_update(inc, &u, class, det, now);
        // Real behaviour: every PATCH carrying `comment` appends one, even a repeat.
        if let Some(text) = comment {
            inc.comments.push(Comment {
                comment: text,
                created_by: p.display_name().to_string(),
                created: now,
            });
        }
        Ok(ok(StatusCode::OK, with_context(&st, inc.defender(&ctx))))
    })();
    req.journal(&st, principal.as_ref(), reply)
}
