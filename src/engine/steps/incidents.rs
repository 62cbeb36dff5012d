//! `incidents`: list (with paging and the `since`/`status`/`severity` conveniences mapped to
//! each API's `$filter`), get, and update.
//!
//! - Microsoft Graph (`/security/incidents`): `$filter` on `lastUpdateDateTime`, `status` and
//!   `severity`; pages of at most 50 followed through `@odata.nextLink`.
//! - Defender XDR (`/api/incidents`): `$filter` on `lastUpdateTime` and `status` only —
//!   severity is not filterable there, so it is applied here, as Microsoft documents; pages of
//!   at most 100 through `@odata.nextLink` when sent, else `$skip` until a short page.
//! - `update` sends only the fields given (Graph: `PATCH` plus a separate comment `POST`;
//!   Defender: one `PATCH` with `comment`). Neither is retried by the connection once it may
//!   have reached the service; a failed call is followed by a read of the incident, and a
//!   comment already there is not posted again.

use chrono::{DateTime, Utc};
use serde_json::{Map, json};

use super::{admit_action, odata_page, odata_string, segment, send_write};
use crate::engine::connection::{Call, Target};
use crate::engine::error::{ErrorKind, StepError};
use crate::engine::flow::{Outcome, StepCx};
use crate::playbook::{
    Api, Choice as _, IncidentList, IncidentSeverity, IncidentStatus, IncidentUpdate, Incidents,
    IncidentsOp, Method, Resource, Since, Templated,
};
use crate::template::Value;
use crate::template::value::{as_datetime, as_duration, from_json, parse_datetime};

const GRAPH_PAGE: u32 = 50;
const DEFENDER_PAGE: u32 = 100;
/// A safety stop for services that keep sending `nextLink`s.
const MAX_PAGES: usize = 10_000;

/// Run an `incidents` step.
pub(crate) async fn run(cx: &StepCx<'_, '_>, i: &Incidents) -> Result<Outcome, StepError> {
    match &i.op {
        IncidentsOp::List(l) => list(cx, i.api, l).await,
        IncidentsOp::Get { id } => {
            let id = cx.ctx.render_text(cx.scope, id, "`incidents.get`")?;
            let incident = get(cx, i.api, id.trim()).await?;
            let v = from_json(&incident);
            let mut out = Outcome::with(vec![
                ("incident", v.clone()),
                ("items", Value::from(vec![v])),
                ("count", Value::from(1)),
            ]);
            out.count = Some(1);
            Ok(out)
        }
        IncidentsOp::Update(u) => update(cx, i.api, u).await,
    }
}

fn audience(api: Api) -> Resource {
    match api {
        Api::Defender => Resource::DefenderXdr,
        // `validate` rejects `api: endpoint` for incidents; Graph is the default.
        Api::Graph | Api::Endpoint => Resource::Graph,
    }
}

fn collection(api: Api) -> &'static str {
    match api {
        Api::Defender => "/api/incidents",
        Api::Graph | Api::Endpoint => "/v1.0/security/incidents",
    }
}

/// The `since` instant: a duration before the run started, or a datetime.
fn since_instant(cx: &StepCx<'_, '_>, since: &Since) -> Result<DateTime<Utc>, StepError> {
    let started = cx.ctx.options.started_at;
    let ago = |d: std::time::Duration| {
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| started.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    match since {
        Since::Ago(d) => Ok(ago(*d)),
        Since::At(t) => Ok(*t),
        Since::Template(field) => {
            let v = cx.ctx.render(cx.scope, field, "`incidents.list.since`")?;
            if let Some(t) = as_datetime(&v) {
                return Ok(t);
            }
            if let Some(d) = as_duration(&v) {
                return Ok(ago(d));
            }
            let text = cx
                .ctx
                .render_text(cx.scope, field, "`incidents.list.since`")?;
            if let Ok(d) = crate::template::types::parse_duration(text.trim()) {
                return Ok(ago(d));
            }
            parse_datetime(&text).map_err(|e| {
                StepError::new(
                    ErrorKind::Data,
                    format!(
                        "`incidents.list.since` must be a duration or a datetime: {}",
                        e.message
                    ),
                )
                .at(field.span)
            })
        }
    }
}

/// An OData datetime literal (unquoted, UTC, `Z`).
fn odata_datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn any_of(field: &str, values: &[String]) -> Option<String> {
    match values {
        [] => None,
        [one] => Some(format!("{field} eq {}", odata_string(one))),
        many => Some(format!(
            "({})",
            many.iter()
                .map(|v| format!("{field} eq {}", odata_string(v)))
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

/// The `$filter` of a list, and the severities to apply here (Defender only).
fn list_filter(
    cx: &StepCx<'_, '_>,
    api: Api,
    l: &IncidentList,
) -> Result<(Option<String>, Vec<&'static str>), StepError> {
    let mut parts: Vec<String> = Vec::new();
    if let Some(since) = &l.since {
        let t = odata_datetime(since_instant(cx, since)?);
        let field = if api == Api::Defender {
            "lastUpdateTime"
        } else {
            "lastUpdateDateTime"
        };
        parts.push(format!("{field} ge {t}"));
    }
    let mut local_severity = Vec::new();
    if api == Api::Defender {
        let mut statuses = Vec::new();
        for s in &l.status {
            match s.defender() {
                Some(v) => statuses.push(v.to_string()),
                None => {
                    return Err(StepError::new(
                        ErrorKind::Data,
                        format!(
                            "incident status `{}` exists only in Microsoft Graph",
                            s.name()
                        ),
                    )
                    .help("remove `api: defender` to use Microsoft Graph"));
                }
            }
        }
        parts.extend(any_of("status", &statuses));
        local_severity = l.severity.iter().map(|s| s.defender()).collect();
    } else {
        let statuses: Vec<String> = l.status.iter().map(|s| s.graph().to_string()).collect();
        parts.extend(any_of("status", &statuses));
        let severities: Vec<String> = l.severity.iter().map(|s| s.graph().to_string()).collect();
        parts.extend(any_of("severity", &severities));
    }
    if let Some(f) = &l.filter {
        let raw = cx.ctx.render_text(cx.scope, f, "`incidents.list.filter`")?;
        if !raw.trim().is_empty() {
            parts.push(format!("({})", raw.trim()));
        }
    }
    let filter = (!parts.is_empty()).then(|| parts.join(" and "));
    Ok((filter, local_severity))
}

async fn list(cx: &StepCx<'_, '_>, api: Api, l: &IncidentList) -> Result<Outcome, StepError> {
    let (filter, local_severity) = list_filter(cx, api, l)?;
    let cap = l.top.map(|t| t as usize);
    let page_max = if api == Api::Defender {
        DEFENDER_PAGE
    } else {
        GRAPH_PAGE
    };
    let mut items: Vec<serde_json::Value> = Vec::new();
    let mut next: Option<String> = None;
    let mut skip: usize = 0;
    for page in 0..MAX_PAGES {
        let call = match &next {
            Some(url) => Call::new(
                audience(api),
                Method::Get,
                Target::Url(url.clone()),
                cx.label,
            ),
            None => {
                if page > 0 && api != Api::Defender {
                    break;
                }
                // Ask for no more than still needed when nothing is filtered here.
                let want = match cap {
                    Some(c) if local_severity.is_empty() => {
                        u32::try_from(c.saturating_sub(items.len()))
                            .unwrap_or(page_max)
                            .clamp(1, page_max)
                    }
                    _ => page_max,
                };
                let mut call = Call::new(
                    audience(api),
                    Method::Get,
                    Target::Path(collection(api).to_string()),
                    cx.label,
                );
                if let Some(f) = &filter {
                    call = call.query("$filter", f.clone());
                }
                call = call.query("$top", want.to_string());
                if skip > 0 {
                    call = call.query("$skip", skip.to_string());
                }
                call
            }
        };
        let reply = cx.ctx.conn.call(call.clone(), &[]).await?;
        let body = reply.json(&call)?;
        let (page_items, link) = odata_page(&body);
        let got = page_items.len();
        for it in page_items {
            let keep = local_severity.is_empty()
                || it
                    .get("severity")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|s| {
                        local_severity
                            .iter()
                            .any(|w| IncidentSeverity::parse(s) == IncidentSeverity::parse(w))
                    });
            if keep {
                items.push(it);
            }
            if cap.is_some_and(|c| items.len() >= c) {
                break;
            }
        }
        if cap.is_some_and(|c| items.len() >= c) {
            break;
        }
        match link {
            Some(url) => next = Some(url),
            None if api == Api::Defender && got > 0 && next.is_none() => {
                // Defender documents only `$top`/`$skip` paging: a full page may have more.
                if got < page_max as usize {
                    break;
                }
                skip += got;
            }
            None => break,
        }
    }
    if let Some(c) = cap {
        items.truncate(c);
    }
    let count = items.len();
    let mut out = Outcome::with(vec![
        ("items", from_json(&serde_json::Value::Array(items))),
        ("count", Value::from(count)),
    ]);
    out.count = Some(count as u64);
    Ok(out)
}

fn incident_path(api: Api, id: &str) -> Result<String, StepError> {
    Ok(format!("{}/{}", collection(api), segment(id)?))
}

async fn get(cx: &StepCx<'_, '_>, api: Api, id: &str) -> Result<serde_json::Value, StepError> {
    if id.is_empty() {
        return Err(StepError::new(ErrorKind::Data, "the incident id is empty"));
    }
    let mut call = Call::new(
        audience(api),
        Method::Get,
        Target::Path(incident_path(api, id)?),
        cx.label,
    );
    if api != Api::Defender {
        // Defender always embeds alerts; Graph only when asked.
        call = call.query("$expand", "alerts");
    }
    let reply = cx.ctx.conn.call(call.clone(), &[]).await?;
    reply.json(&call)
}

fn templated<T: Copy>(
    cx: &StepCx<'_, '_>,
    t: &Templated<T>,
    what: &str,
    parse: fn(&str) -> Option<T>,
    kind: &str,
) -> Result<T, StepError> {
    match t {
        Templated::Literal(v) => Ok(*v),
        Templated::Template(field) => {
            let text = cx.ctx.render_text(cx.scope, field, what)?;
            parse(text.trim()).ok_or_else(|| {
                StepError::new(
                    ErrorKind::Data,
                    format!("{what}: `{}` is not a known {kind}", text.trim()),
                )
                .at(field.span)
            })
        }
    }
}

/// Whether an incident already lists `comment` among its comments.
fn has_comment(incident: &serde_json::Value, comment: &str) -> bool {
    incident
        .get("comments")
        .and_then(serde_json::Value::as_array)
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| c.get("comment").and_then(serde_json::Value::as_str) == Some(comment))
        })
}

/// Whether a failed write may still have reached the service (no answer, or a 5xx).
fn may_have_landed(e: &StepError) -> bool {
    e.kind == ErrorKind::Api && e.status.is_none_or(|s| s >= 500)
}

#[expect(
    clippy::too_many_lines,
    reason = "the two APIs' update shapes side by side read better than split apart"
)]
async fn update(cx: &StepCx<'_, '_>, api: Api, u: &IncidentUpdate) -> Result<Outcome, StepError> {
    let ctx = cx.ctx;
    let id = ctx.render_text(cx.scope, &u.id, "`incidents.update.id`")?;
    let id = id.trim().to_string();
    if id.is_empty() {
        return Err(StepError::new(ErrorKind::Data, "the incident id is empty").at(u.id.span));
    }
    let defender = api == Api::Defender;
    let mut body = Map::new();
    if let Some(s) = &u.status {
        let s = templated(
            cx,
            s,
            "`incidents.update.status`",
            IncidentStatus::parse,
            "incident status",
        )?;
        let v = if defender {
            s.defender().ok_or_else(|| {
                StepError::new(
                    ErrorKind::Data,
                    format!(
                        "incident status `{}` exists only in Microsoft Graph",
                        s.name()
                    ),
                )
            })?
        } else {
            s.graph()
        };
        body.insert("status".into(), json!(v));
    }
    if let Some(a) = &u.assigned_to {
        let who = ctx.render_text(cx.scope, a, "`incidents.update.assigned_to`")?;
        body.insert("assignedTo".into(), json!(who));
    }
    if let Some(c) = &u.classification {
        let c = templated(
            cx,
            c,
            "`incidents.update.classification`",
            crate::playbook::Classification::parse,
            "classification",
        )?;
        body.insert(
            "classification".into(),
            json!(if defender { c.defender() } else { c.graph() }),
        );
    }
    if let Some(d) = &u.determination {
        let d = templated(
            cx,
            d,
            "`incidents.update.determination`",
            crate::playbook::Determination::parse,
            "determination",
        )?;
        body.insert(
            "determination".into(),
            json!(if defender { d.defender() } else { d.graph() }),
        );
    }
    if let Some(tags) = &u.tags {
        let mut list = Vec::with_capacity(tags.len());
        for t in tags {
            list.push(json!(ctx.render_text(
                cx.scope,
                t,
                "`incidents.update.tags`"
            )?));
        }
        body.insert(
            if defender { "tags" } else { "customTags" }.into(),
            serde_json::Value::Array(list),
        );
    }
    let comment = match &u.comment {
        Some(c) => {
            let text = ctx.render_text(cx.scope, c, "`incidents.update.comment`")?;
            Some(text.trim().to_string()).filter(|t| !t.is_empty())
        }
        None => None,
    };
    let path = incident_path(api, &id).map_err(|e| e.at(u.id.span))?;
    let aud = audience(api);
    if body.is_empty() && comment.is_none() {
        // Nothing to change: not an action at all.
        let incident = get(cx, api, &id).await?;
        return Ok(Outcome::with(vec![("incident", from_json(&incident))]));
    }
    admit_action(cx, &format!("the update of incident {id}"))?;
    let mut incident: Option<serde_json::Value> = None;
    let mut sent = false;

    if defender {
        if let Some(c) = &comment {
            body.insert("comment".into(), json!(c));
        }
        if !body.is_empty() {
            let call = Call::new(aud, Method::Patch, Target::Path(path.clone()), cx.label)
                .body(serde_json::Value::Object(body.clone()));
            match send_write(cx, call.clone(), &[]).await {
                Ok(Some(reply)) => {
                    incident = Some(reply.json(&call)?);
                    sent = true;
                }
                Ok(None) => {}
                Err(e) if may_have_landed(&e) && comment.is_some() => {
                    // The comment would be appended again by a second PATCH: look first.
                    let now = get(cx, api, &id).await?;
                    if comment.as_deref().is_some_and(|c| has_comment(&now, c)) {
                        incident = Some(now);
                        sent = true;
                    } else {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    } else {
        if !body.is_empty() {
            let call = Call::new(aud, Method::Patch, Target::Path(path.clone()), cx.label)
                .body(serde_json::Value::Object(body.clone()));
            if let Some(reply) = send_write(cx, call.clone(), &[]).await? {
                incident = Some(reply.json(&call)?);
                sent = true;
            }
        }
        if let Some(c) = &comment {
            let call = Call::new(
                aud,
                Method::Post,
                Target::Path(format!("{path}/comments")),
                cx.label,
            )
            .body(json!({
                "@odata.type": "microsoft.graph.security.alertComment",
                "comment": c,
            }));
            match send_write(cx, call, &[]).await {
                Ok(Some(_)) => sent = true,
                Ok(None) => {}
                Err(e) if may_have_landed(&e) => {
                    let now = get(cx, api, &id).await?;
                    if has_comment(&now, c) {
                        sent = true;
                    } else {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
            if sent {
                // The comment POST answers with the comment list: read the incident back.
                incident = Some(get(cx, api, &id).await?);
            }
        }
    }
    let incident = incident.map_or(Value::from(()), |i| from_json(&i));
    let mut out = Outcome::with(vec![("incident", incident)]);
    out.changed = sent;
    Ok(out)
}
