//! `machine_action`: Defender for Endpoint actions on one machine (isolate, unisolate,
//! run_av_scan, collect_investigation_package, restrict_code_execution,
//! unrestrict_code_execution).
//!
//! Idempotent: the machine's recent actions are read first. A machine already in the wanted
//! state (its latest isolation or restriction action, not failed, is the wanted one), or with
//! the same action pending, is `ok` with `changed: false` and nothing is sent; so is the
//! service's "Action is already in progress" answer. `wait: true` polls the action until it
//! ends, with backoff, failing clearly on `Failed`, `Cancelled` or `TimeOut`. Outputs `action`
//! (the MachineAction) and `changed`.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{admit_action, odata_page, odata_string, segment, send_write};
use crate::engine::connection::{Call, Target};
use crate::engine::error::{ErrorKind, StepError};
use crate::engine::flow::{Outcome, StepCx};
use crate::playbook::{ActionType, IsolationType, MachineAction, Method, Resource, ScanType};
use crate::template::Value;
use crate::template::value::from_json;

const FINAL: &[&str] = &["Succeeded", "Failed", "TimeOut", "Cancelled"];
const FAILED: &[&str] = &["Failed", "TimeOut", "Cancelled"];
const FIRST_POLL: Duration = Duration::from_millis(500);
const MAX_POLL: Duration = Duration::from_secs(15);

fn str_field<'v>(v: &'v serde_json::Value, key: &str) -> &'v str {
    v.get(key).and_then(serde_json::Value::as_str).unwrap_or("")
}

/// The action that undoes this one, for the two that set a lasting state.
fn opposite(a: ActionType) -> Option<ActionType> {
    match a {
        ActionType::Isolate => Some(ActionType::Unisolate),
        ActionType::Unisolate => Some(ActionType::Isolate),
        ActionType::RestrictCodeExecution => Some(ActionType::UnrestrictCodeExecution),
        ActionType::UnrestrictCodeExecution => Some(ActionType::RestrictCodeExecution),
        ActionType::RunAvScan | ActionType::CollectInvestigationPackage => None,
    }
}

/// The recent action that already satisfies `wanted` on this machine, if any.
fn satisfying(wanted: ActionType, actions: &[serde_json::Value]) -> Option<serde_json::Value> {
    let mut relevant: Vec<&serde_json::Value> = actions
        .iter()
        .filter(|a| {
            let t = str_field(a, "type");
            t.eq_ignore_ascii_case(wanted.mde_type())
                || opposite(wanted).is_some_and(|o| t.eq_ignore_ascii_case(o.mde_type()))
        })
        .filter(|a| !FAILED.contains(&str_field(a, "status")))
        .collect();
    // Newest first; RFC 3339 UTC timestamps compare as text.
    relevant.sort_by(|a, b| {
        str_field(b, "creationDateTimeUtc").cmp(str_field(a, "creationDateTimeUtc"))
    });
    let latest = relevant.first()?;
    let same = str_field(latest, "type").eq_ignore_ascii_case(wanted.mde_type());
    let pending = matches!(str_field(latest, "status"), "Pending" | "InProgress");
    let lasting = opposite(wanted).is_some();
    (same && (lasting || pending)).then(|| (*latest).clone())
}

async fn recent_actions(
    cx: &StepCx<'_, '_>,
    machine_id: &str,
) -> Result<Vec<serde_json::Value>, StepError> {
    let call = Call::new(
        Resource::Endpoint,
        Method::Get,
        Target::Path("/api/machineactions".to_string()),
        cx.label,
    )
    .query(
        "$filter",
        format!("machineId eq {}", odata_string(machine_id)),
    );
    let reply = cx.ctx.conn.call(call.clone(), &[]).await?;
    Ok(odata_page(&reply.json(&call)?).0)
}

/// Run a `machine_action` step.
pub(crate) async fn run(cx: &StepCx<'_, '_>, m: &MachineAction) -> Result<Outcome, StepError> {
    let ctx = cx.ctx;
    let machine_id = ctx
        .render_text(cx.scope, &m.machine_id, "`machine_action.machine_id`")?
        .trim()
        .to_string();
    if machine_id.is_empty() {
        return Err(
            StepError::new(ErrorKind::Data, "the machine id is empty").at(m.machine_id.span)
        );
    }
    // One path segment, whatever the id holds: `../`, `?` or `#` cannot reach another route.
    let machine_segment = segment(&machine_id).map_err(|e| e.at(m.machine_id.span))?;
    let comment = ctx.render_text(cx.scope, &m.comment, "`machine_action.comment`")?;

    if let Some(existing) = satisfying(m.action, &recent_actions(cx, &machine_id).await?) {
        tracing::info!(
            event = "machine_action_unchanged",
            step = %crate::engine::flow::log_name(cx.step),
            machine_id = %machine_id,
            action = m.action.mde_type(),
            status = str_field(&existing, "status"),
            "machine {machine_id}: {} already {}",
            m.action.mde_type(),
            str_field(&existing, "status")
        );
        let action = if m.wait {
            wait(cx, m, existing).await?
        } else {
            existing
        };
        return Ok(done(Some(action), false));
    }

    let mut body = json!({ "Comment": comment });
    match m.action {
        ActionType::Isolate => {
            body["IsolationType"] = json!(m.isolation_type.unwrap_or(IsolationType::Full).mde());
        }
        ActionType::RunAvScan => {
            body["ScanType"] = json!(m.scan_type.unwrap_or(ScanType::Quick).mde());
        }
        _ => {}
    }
    let call = Call::new(
        Resource::Endpoint,
        Method::Post,
        Target::Path(format!(
            "/api/machines/{machine_segment}/{}",
            m.action.mde_path()
        )),
        cx.label,
    )
    .body(body);
    admit_action(
        cx,
        &format!("machine action `{}` on {machine_id}", m.action.mde_type()),
    )?;
    let action = match send_write(cx, call.clone(), &[]).await {
        Ok(Some(reply)) => reply.json(&call)?,
        Ok(None) => return Ok(done(None, false)),
        Err(e)
            if e.status == Some(400) && e.message.to_ascii_lowercase().contains("in progress") =>
        {
            // Someone (or an earlier attempt) started the same action meanwhile.
            match satisfying(m.action, &recent_actions(cx, &machine_id).await?) {
                Some(existing) => {
                    let action = if m.wait {
                        wait(cx, m, existing).await?
                    } else {
                        existing
                    };
                    return Ok(done(Some(action), false));
                }
                None => return Err(e),
            }
        }
        Err(e) => return Err(e),
    };
    let action = if m.wait {
        wait(cx, m, action).await?
    } else {
        action
    };
    Ok(done(Some(action), true))
}

fn done(action: Option<serde_json::Value>, changed: bool) -> Outcome {
    let mut out = Outcome::with(vec![
        ("action", action.as_ref().map_or(Value::from(()), from_json)),
        ("changed", Value::from(changed)),
    ]);
    out.changed = changed;
    out
}

/// Poll the action until it ends (with backoff, up to `wait_timeout`).
async fn wait(
    cx: &StepCx<'_, '_>,
    m: &MachineAction,
    mut action: serde_json::Value,
) -> Result<serde_json::Value, StepError> {
    let started = Instant::now();
    let mut delay = FIRST_POLL;
    loop {
        let status = str_field(&action, "status").to_string();
        if FINAL.contains(&status.as_str()) {
            if FAILED.contains(&status.as_str()) {
                return Err(StepError::new(
                    ErrorKind::Api,
                    format!(
                        "machine action {} {} on machine {} ended `{status}`",
                        str_field(&action, "type"),
                        str_field(&action, "id"),
                        str_field(&action, "machineId"),
                    ),
                )
                .help("see the action in the Microsoft Defender portal (Action center) for the reason"));
            }
            return Ok(action);
        }
        if started.elapsed() + delay > m.wait_timeout {
            return Err(StepError::new(
                ErrorKind::Timeout,
                format!(
                    "machine action {} {} is still `{status}` after {}",
                    str_field(&action, "type"),
                    str_field(&action, "id"),
                    crate::template::types::format_duration(m.wait_timeout)
                ),
            )
            .help("raise `wait_timeout`, or drop `wait: true` and check the action later"));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_POLL);
        let id = str_field(&action, "id").to_string();
        let call = Call::new(
            Resource::Endpoint,
            Method::Get,
            Target::Path(format!("/api/machineactions/{}", segment(&id)?)),
            cx.label,
        );
        let reply = cx.ctx.conn.call(call.clone(), &[]).await?;
        action = reply.json(&call)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(t: &str, status: &str, at: &str) -> serde_json::Value {
        json!({"id": at, "type": t, "status": status, "creationDateTimeUtc": at})
    }

    #[test]
    fn an_isolated_machine_needs_no_second_isolation() {
        let acts = vec![
            a("Isolate", "Succeeded", "2026-01-01T00:00:00Z"),
            a("RunAntiVirusScan", "Pending", "2026-01-03T00:00:00Z"),
        ];
        assert!(satisfying(ActionType::Isolate, &acts).is_some());
        assert!(satisfying(ActionType::Unisolate, &acts).is_none());
    }

    #[test]
    fn a_later_release_means_isolating_again() {
        let acts = vec![
            a("Isolate", "Succeeded", "2026-01-01T00:00:00Z"),
            a("Unisolate", "Succeeded", "2026-01-02T00:00:00Z"),
        ];
        assert!(satisfying(ActionType::Isolate, &acts).is_none());
        assert!(satisfying(ActionType::Unisolate, &acts).is_some());
    }

    #[test]
    fn failed_actions_do_not_count_and_scans_only_when_pending() {
        let acts = vec![a("Isolate", "Failed", "2026-01-01T00:00:00Z")];
        assert!(satisfying(ActionType::Isolate, &acts).is_none());
        let done = vec![a("RunAntiVirusScan", "Succeeded", "2026-01-01T00:00:00Z")];
        assert!(satisfying(ActionType::RunAvScan, &done).is_none());
        let pending = vec![a("RunAntiVirusScan", "InProgress", "2026-01-01T00:00:00Z")];
        assert!(satisfying(ActionType::RunAvScan, &pending).is_some());
    }
}
