//! One file per step kind. Each takes the step context and returns the kind's outputs (or a
//! [`StepError`]); the flow adds `outcome`, `skipped` and `error` and records them in scope.

mod assert;
mod authenticate;
mod filter;
mod hunt;
mod incidents;
mod machine_action;
mod output;
mod request;
mod set;

pub use hunt::{hunt_data, hunt_data_from_json};

use serde::Serialize;

use super::connection::{Call, Reply};
use super::error::{ErrorKind, StepError};
use super::flow::{Outcome, StepCx};
use crate::playbook::{Choice as _, StepKind, TemplateValue};
use crate::template::Value;
use crate::template::value;

/// Run a leaf step's body.
pub(crate) async fn execute(cx: &StepCx<'_, '_>) -> Result<Outcome, StepError> {
    match &cx.step.kind {
        StepKind::Authenticate(a) => authenticate::run(cx, a).await,
        StepKind::Hunt(h) => hunt::run(cx, h).await,
        StepKind::Incidents(i) => incidents::run(cx, i).await,
        StepKind::MachineAction(m) => machine_action::run(cx, m).await,
        StepKind::Request(r) => request::run(cx, r).await,
        StepKind::Filter(f) => filter::run(cx, f),
        StepKind::Set(s) => set::run(cx, s),
        StepKind::Output(o) => output::run(cx, o),
        StepKind::Assert(a) => assert::run(cx, a),
        // Blocks and groups are run by the flow itself.
        StepKind::Steps(_) | StepKind::Parallel(_) => Ok(Outcome::default()),
    }
}

/// Render a YAML value whose strings are templates (`set` values, `request.body`).
pub(crate) fn render_value(
    cx: &StepCx<'_, '_>,
    v: &TemplateValue,
    what: &str,
) -> Result<Value, StepError> {
    Ok(match v {
        TemplateValue::Null => Value::from(()),
        TemplateValue::Bool(b) => Value::from(*b),
        TemplateValue::Int(i) => Value::from(*i),
        TemplateValue::Float(f) => Value::from(*f),
        TemplateValue::Text(field) => cx.ctx.render(cx.scope, field, what)?,
        TemplateValue::List(items) => Value::from(
            items
                .iter()
                .map(|i| render_value(cx, i, what))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        TemplateValue::Map(entries) => {
            let mut pairs = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                pairs.push((k.clone(), render_value(cx, v, what)?));
            }
            Value::from_pairs(pairs)
        }
    })
}

/// A template value as plain JSON (for API bodies and outputs).
pub(crate) fn to_json(v: &Value, what: &str) -> Result<serde_json::Value, StepError> {
    value::to_json(v).map_err(|e| StepError::new(ErrorKind::Data, format!("{what}: {}", e.message)))
}

/// A write the run would send, shown by `--dry-run` (secrets never appear: bodies are built
/// from playbook values, and the token is not part of a call).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedWrite {
    pub method: &'static str,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// Admit one response action (a machine action, an incident update, a non-GET request) —
/// however many calls it takes: refused unless actions were allowed (or this is a dry run),
/// and counted against `max_targets`, so the action over the limit is never sent. A dry run
/// counts the same way: a real run would stop there.
pub(crate) fn admit_action(cx: &StepCx<'_, '_>, what: &str) -> Result<(), StepError> {
    let ctx = cx.ctx;
    if !ctx.options.allow_actions && !ctx.options.dry_run {
        return Err(StepError::new(
            ErrorKind::Guard,
            format!("{what} is a response action and response actions were not allowed"),
        )
        .help("run with `--allow-actions`, or `--dry-run` to see what would be sent"));
    }
    let limit = ctx.playbook.max_targets;
    let n = ctx
        .actions
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        + 1;
    if n > limit {
        return Err(StepError::new(
            ErrorKind::Guard,
            format!(
                "{what} would be response action number {n}, over the playbook's `max_targets` of {limit}: not sent"
            ),
        )
        .help("check why so many targets matched; raise `max_targets` only if that many is expected"));
    }
    Ok(())
}

/// Send a write of an admitted action, or, in a dry run, announce it and send nothing
/// (`Ok(None)`).
pub(crate) async fn send_write(
    cx: &StepCx<'_, '_>,
    call: Call,
    accept: &[u16],
) -> Result<Option<Reply>, StepError> {
    let ctx = cx.ctx;
    if ctx.options.dry_run {
        let planned = PlannedWrite {
            method: call.method.name(),
            url: ctx.conn.url(&call),
            body: call.body.clone(),
        };
        tracing::info!(
            event = "dry_run_write",
            step = %crate::engine::flow::log_name(cx.step),
            method = planned.method,
            url = %planned.url,
            body = %planned.body.as_ref().map(ToString::to_string).unwrap_or_default(),
            "dry run: would send {} {}", planned.method, planned.url
        );
        ctx.observer.would_send(cx.step, cx.label, &planned);
        ctx.planned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((cx.label.to_string(), planned));
        return Ok(None);
    }
    ctx.conn.call(call, accept).await.map(Some)
}

/// Percent-encode one URL path segment (ids from data must not add segments or a query,
/// nor be `.`/`..`, which a URL parser resolves to another route).
pub(crate) fn segment(s: &str) -> Result<String, StepError> {
    crate::template::paths::segment(s).map_err(|m| StepError::new(ErrorKind::Data, m))
}

/// An OData string literal: single-quoted, quotes doubled.
pub(crate) fn odata_string(s: &str) -> String {
    crate::template::odata::string_literal(s)
}

/// The `value` array of an OData collection page, and its `@odata.nextLink`.
pub(crate) fn odata_page(body: &serde_json::Value) -> (Vec<serde_json::Value>, Option<String>) {
    let items = body
        .get("value")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    let next = body
        .get("@odata.nextLink")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    (items, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_escape() {
        assert_eq!(segment("abc-123").unwrap(), "abc-123");
        assert_eq!(segment("../machines?x=1").unwrap(), "..%2Fmachines%3Fx%3D1");
        assert_eq!(segment("a b/c").unwrap(), "a%20b%2Fc");
        assert!(segment("..").is_err());
        assert!(segment(".").is_err());
    }

    #[test]
    fn odata_strings_double_their_quotes() {
        assert_eq!(odata_string("O'Brien"), "'O''Brien'");
    }
}
