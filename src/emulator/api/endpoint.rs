//! Defender for Endpoint: `GET /api/machines[/{id}]`, the machine actions
//! (`POST /api/machines/{id}/isolate` …, 201 + MachineAction), and
//! `GET /api/machineactions[/{id}]`, `POST /api/machineactions/{id}/cancel`. Every route is
//! also served under the version-pinned prefix `/api/v1.0`.

use std::sync::Arc;

use axum::extract::{OriginalUri, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{Map, Value, json};

use super::machines::{ActionOutcome, ActionStatus, ActionType, Cancellation, MachineAction};
use super::machines::{
    EXPOSURE_LEVELS as EXPOSURE, HEALTH_STATUSES as HEALTH, RISK_SCORES as RISK,
};
use super::odata::{Collection, Prop, PropType, parse_query, prop as p};
use super::respond::{
    Reply, WriteRequest, caller, case_hint, collection, json_object, odata_fail, ok,
};
use crate::emulator::principal::Principal;
use crate::emulator::state::EmuState;
use crate::emulator::{ApiError, ApiFamily};

const E: ApiFamily = ApiFamily::Endpoint;

const READ: &[&str] = &[
    "Machine.Read.All",
    "Machine.ReadWrite.All",
    "Machine.Read",
    "Machine.ReadWrite",
];
const CANCEL: &[&str] = &[
    "Machine.CollectForensics",
    "Machine.Isolate",
    "Machine.RestrictExecution",
    "Machine.Scan",
    "Machine.Offboard",
    "Machine.StopAndQuarantine",
    "Machine.LiveResponse",
];

const ONBOARDING: &[&str] = &[
    "Onboarded",
    "CanBeOnboarded",
    "Unsupported",
    "InsufficientInfo",
];
const DEVICE_VALUE: &[&str] = &["Normal", "Low", "High"];

static MACHINE_PROPS: &[Prop] = &[
    p("id", PropType::Str, true),
    p("computerDnsName", PropType::Str, true),
    p("firstSeen", PropType::DateTime, false),
    p("lastSeen", PropType::DateTime, true),
    p("osPlatform", PropType::Str, true),
    p("osProcessor", PropType::Str, false),
    p("version", PropType::Str, true),
    p("lastIpAddress", PropType::Str, true),
    p("lastExternalIpAddress", PropType::Str, false),
    p("osBuild", PropType::Num, false),
    p("healthStatus", PropType::Enum(HEALTH), true),
    p("deviceValue", PropType::Enum(DEVICE_VALUE), true),
    p("rbacGroupName", PropType::Str, false),
    p("rbacGroupId", PropType::Num, true),
    p("riskScore", PropType::Enum(RISK), true),
    p("exposureLevel", PropType::Enum(EXPOSURE), true),
    p("aadDeviceId", PropType::Str, true),
    p("isAadJoined", PropType::Bool, false),
    p("machineTags", PropType::StrList, true),
    p("onboardingStatus", PropType::Enum(ONBOARDING), true),
    p("osArchitecture", PropType::Str, false),
    p("ipAddresses", PropType::ObjList, false),
];

/// `GET /api/machines`: the documented filterable properties, `$top` ≤ 10,000.
pub static MACHINES: Collection = Collection {
    type_name: "Machine",
    props: MACHINE_PROPS,
    case_insensitive_names: true,
    case_insensitive_strings: true,
    max_top: 10_000,
    default_top: 10_000,
    allow_count: false,
    expandable: &[],
};

static ACTION_PROPS: &[Prop] = &[
    p("id", PropType::Str, true),
    p("type", PropType::Enum(ActionType::TYPE_VALUES), true),
    p("scope", PropType::Str, false),
    p("requestor", PropType::Str, true),
    p("requestorComment", PropType::Str, false),
    p("status", PropType::Enum(ActionStatus::VALUES), true),
    p("machineId", PropType::Str, true),
    p("computerDnsName", PropType::Str, false),
    p("creationDateTimeUtc", PropType::DateTime, true),
    p("lastUpdateDateTimeUtc", PropType::DateTime, false),
    p("cancellationRequestor", PropType::Str, false),
    p("cancellationComment", PropType::Str, false),
    p("cancellationDateTimeUtc", PropType::DateTime, false),
    p("title", PropType::Str, false),
    p("externalID", PropType::Str, false),
    p("requestSource", PropType::Str, false),
    p("relatedFileInfo", PropType::ObjList, false),
];

/// `GET /api/machineactions`: `$filter` on `id`, `status`, `machineId`, `type`, `requestor`,
/// `creationDateTimeUtc`; `$top` ≤ 10,000.
pub static ACTIONS: Collection = Collection {
    type_name: "MachineAction",
    props: ACTION_PROPS,
    case_insensitive_names: true,
    case_insensitive_strings: true,
    max_top: 10_000,
    default_top: 10_000,
    allow_count: false,
    expandable: &[],
};

/// The MDE routes, unversioned and under `/api/v1.0`.
pub fn router() -> Router<Arc<EmuState>> {
    let mut r = Router::new();
    for base in ["/api", "/api/v1.0"] {
        r = r
            .route(&format!("{base}/machines"), get(list_machines))
            .route(&format!("{base}/machines/{{id}}"), get(get_machine))
            .route(&format!("{base}/machines/{{id}}/{{action}}"), post(act))
            .route(&format!("{base}/machineactions"), get(list_actions))
            .route(&format!("{base}/machineactions/{{id}}"), get(get_action))
            .route(
                &format!("{base}/machineactions/{{id}}/cancel"),
                post(cancel),
            );
    }
    r
}

fn machine_not_found(id: &str) -> ApiError {
    ApiError::not_found(E, format!("Machine {id} was not found"))
}

fn action_not_found(id: &str) -> ApiError {
    ApiError::not_found(E, format!("MachineAction {id} was not found"))
}

fn err(code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(E, StatusCode::BAD_REQUEST, code, message)
}

fn entity(context: String, body: Value) -> Value {
    let mut o = Map::new();
    o.insert("@odata.context".into(), json!(context));
    if let Value::Object(rest) = body {
        o.extend(rest);
    }
    Value::Object(o)
}

async fn list_machines(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Reply {
    let p = caller(principal, E)?;
    p.require(E, READ)?;
    let q = parse_query(query.as_deref(), &MACHINES).map_err(|e| odata_fail(E, e))?;
    let items = st.tenant.machines().iter().map(|m| m.render()).collect();
    let page = q.page(items, &MACHINES);
    let context = format!("{}/api/$metadata#Machines", st.urls.endpoint_url);
    Ok(ok(
        StatusCode::OK,
        collection(
            &context,
            &q,
            page,
            Some((&st.urls.endpoint_url, uri.path())),
        ),
    ))
}

async fn get_machine(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
) -> Reply {
    let p = caller(principal, E)?;
    p.require(E, READ)?;
    let m = st
        .tenant
        .machine(&id)
        .ok_or_else(|| machine_not_found(&id))?;
    Ok(ok(
        StatusCode::OK,
        entity(
            format!("{}/api/$metadata#Machines/$entity", st.urls.endpoint_url),
            m.render(),
        ),
    ))
}

/// Parameters of an action request, keys exactly as documented.
struct ActionBody {
    comment: String,
    scope: Option<String>,
    sha1: Option<String>,
    external_id: Option<String>,
}

fn string_param(body: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(err(
            "InvalidRequestBody",
            format!("Request body is incorrect: {key} must be a string, not {other}"),
        )),
    }
}

fn one_of(key: &str, value: &str, allowed: &[&str]) -> Result<String, ApiError> {
    allowed
        .iter()
        .find(|a| a.eq_ignore_ascii_case(value))
        .map(|a| (*a).to_string())
        .ok_or_else(|| {
            err(
                "InvalidInput",
                format!(
                    "Invalid input {key}: '{value}'. Allowed values: {}",
                    allowed.join(", ")
                ),
            )
        })
}

fn parse_action(kind: ActionType, body: &Map<String, Value>) -> Result<ActionBody, ApiError> {
    let keys: &[&str] = match kind {
        ActionType::Isolate => &["Comment", "IsolationType", "ExternalID"],
        ActionType::RunAntiVirusScan => &["Comment", "ScanType", "ExternalID"],
        ActionType::StopAndQuarantineFile => &["Comment", "Sha1", "ExternalID"],
        _ => &["Comment", "ExternalID"],
    };
    // Parameter names are case-sensitive: `comment` is not `Comment`. A mis-cased or unknown
    // key is refused rather than ignored, so `isolationType` can't silently mean Full.
    if let Some(k) = body.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(err(
            "InvalidRequestBody",
            format!(
                "Request body is incorrect: unknown parameter '{k}'. Parameters: {}.{}",
                keys.join(", "),
                case_hint(k, keys)
            ),
        ));
    }
    let comment = string_param(body, "Comment")?
        .ok_or_else(|| err("MissingRequiredParameter", "Parameter Comment is missing"))?;
    let external_id = string_param(body, "ExternalID")?;
    let (scope, sha1) = match kind {
        ActionType::Isolate => {
            let t = string_param(body, "IsolationType")?.unwrap_or_else(|| "Full".into());
            (
                Some(one_of(
                    "IsolationType",
                    &t,
                    &["Full", "Selective", "UnManagedDevice"],
                )?),
                None,
            )
        }
        ActionType::RunAntiVirusScan => {
            let t = string_param(body, "ScanType")?
                .ok_or_else(|| err("MissingRequiredParameter", "Parameter ScanType is missing"))?;
            (Some(one_of("ScanType", &t, &["Quick", "Full"])?), None)
        }
        ActionType::StopAndQuarantineFile => {
            let s = string_param(body, "Sha1")?
                .ok_or_else(|| err("MissingRequiredParameter", "Parameter Sha1 is missing"))?;
            if s.len() != 40 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(err(
                    "InvalidHashValue",
                    format!("Hash value {s} is invalid"),
                ));
            }
            (None, Some(s.to_ascii_lowercase()))
        }
        _ => (None, None),
    };
    Ok(ActionBody {
        comment,
        scope,
        sha1,
        external_id,
    })
}

async fn act(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Path((id, action)): Path<(String, String)>,
    req: WriteRequest,
) -> axum::response::Response {
    let reply = (|| -> Reply {
        let Some(kind) = ActionType::from_route(&action) else {
            return Err(ApiError::new(
                E,
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("No action '{action}' exists on machines"),
            )
            .into());
        };
        let p = caller(principal.clone(), E)?;
        p.require(E, &[kind.permission()])?;
        let tenant = &st.tenant;
        let machine = tenant.machine(&id).ok_or_else(|| machine_not_found(&id))?;
        let body = json_object(E, &req.body)?;
        let params = parse_action(kind, &body)?;
        let unsupported_on_linux = matches!(
            kind,
            ActionType::RestrictCodeExecution
                | ActionType::UnrestrictCodeExecution
                | ActionType::StopAndQuarantineFile
        ) || (kind == ActionType::Isolate
            && params.scope.as_deref() == Some("Selective"));
        if machine.is_linux() && unsupported_on_linux {
            return Err(err(
                "OsPlatformNotSupported",
                format!(
                    "OS Platform {} isn't supported for this action",
                    machine.device.os_platform
                ),
            )
            .into());
        }
        let now = tenant.now();
        let mut inner = tenant.lock();
        let busy = inner.actions.iter().any(|a| {
            a.machine_id == machine.device.id
                && a.kind.conflicts_with(kind)
                && !a.status_at(now, tenant.step).0.is_final()
        });
        if busy {
            return Err(err(
                "ActiveRequestAlreadyExists",
                "Action is already in progress",
            )
            .into());
        }
        let key = machine.device.id.to_ascii_lowercase();
        let outcome = inner
            .outcomes
            .get(&(key.clone(), Some(kind)))
            .or_else(|| inner.outcomes.get(&(key, None)))
            .copied()
            .or_else(|| machine.planned_outcome(kind))
            .unwrap_or(ActionOutcome::Succeeded);
        let action = MachineAction {
            id: inner.ids.guid(),
            kind,
            scope: params.scope,
            requestor: p.display_name().to_string(),
            requestor_comment: params.comment,
            machine_id: machine.device.id.clone(),
            computer_dns_name: machine.device.name.clone(),
            created: now,
            outcome,
            cancellation: None,
            related_sha1: params.sha1,
            external_id: params.external_id,
        };
        let body = action.render(now, tenant.step);
        inner.actions.push(action);
        Ok(ok(
            StatusCode::CREATED,
            entity(
                format!(
                    "{}/api/$metadata#MachineActions/$entity",
                    st.urls.endpoint_url
                ),
                body,
            ),
        ))
    })();
    req.journal(&st, principal.as_ref(), reply)
}

async fn list_actions(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    OriginalUri(uri): OriginalUri,
    RawQuery(query): RawQuery,
) -> Reply {
    let p = caller(principal, E)?;
    p.require(E, READ)?;
    let q = parse_query(query.as_deref(), &ACTIONS).map_err(|e| odata_fail(E, e))?;
    let tenant = &st.tenant;
    let now = tenant.now();
    let items: Vec<Value> = tenant
        .lock()
        .actions
        .iter()
        .rev()
        .map(|a| a.render(now, tenant.step))
        .collect();
    let page = q.page(items, &ACTIONS);
    let context = format!("{}/api/$metadata#MachineActions", st.urls.endpoint_url);
    Ok(ok(
        StatusCode::OK,
        collection(
            &context,
            &q,
            page,
            Some((&st.urls.endpoint_url, uri.path())),
        ),
    ))
}

async fn get_action(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
) -> Reply {
    let p = caller(principal, E)?;
    p.require(E, READ)?;
    let tenant = &st.tenant;
    let now = tenant.now();
    let inner = tenant.lock();
    let a = inner
        .actions
        .iter()
        .find(|a| a.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| action_not_found(&id))?;
    Ok(ok(
        StatusCode::OK,
        entity(
            format!(
                "{}/api/$metadata#MachineActions/$entity",
                st.urls.endpoint_url
            ),
            a.render(now, tenant.step),
        ),
    ))
}

async fn cancel(
    State(st): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    Path(id): Path<String>,
    req: WriteRequest,
) -> axum::response::Response {
    let reply = (|| -> Reply {
        let p = caller(principal.clone(), E)?;
        p.require(E, CANCEL)?;
        let tenant = &st.tenant;
        let now = tenant.now();
        let mut inner = tenant.lock();
        let a = inner
            .actions
            .iter_mut()
            .find(|a| a.id.eq_ignore_ascii_case(&id))
            .ok_or_else(|| action_not_found(&id))?;
        let body = json_object(E, &req.body)?;
        if let Some(k) = body.keys().find(|k| *k != "Comment") {
            return Err(err(
                "InvalidRequestBody",
                format!(
                    "Request body is incorrect: unknown parameter '{k}'. Parameters: Comment.{}",
                    case_hint(k, &["Comment"])
                ),
            )
            .into());
        }
        let comment = string_param(&body, "Comment")?
            .ok_or_else(|| err("MissingRequiredParameter", "Parameter Comment is missing"))?;
        let (status, _) = a.status_at(now, tenant.step);
        if status.is_final() {
            return Err(err(
                "BadRequest",
                format!(
                    "Machine action {} is {} and can no longer be cancelled",
                    a.id,
                    status.name()
                ),
            )
            .into());
        }
        a.cancellation = Some(Cancellation {
            by: p.display_name().to_string(),
            comment,
            at: now,
        });
        Ok(ok(
            StatusCode::OK,
            entity(
                format!(
                    "{}/api/$metadata#MachineActions/$entity",
                    st.urls.endpoint_url
                ),
                a.render(now, tenant.step),
            ),
        ))
    })();
    req.journal(&st, principal.as_ref(), reply)
}
