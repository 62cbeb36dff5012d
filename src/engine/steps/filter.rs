//! `filter`: an RFC 9535 JSONPath over the input (`crate::jsonpath`, the same code path as
//! `huntbook jsonpath`), then `dedupe`: drop elements whose key an earlier run (or an earlier
//! element of this one) already produced. Outputs `items` and `count`.

use crate::engine::error::{ErrorKind, StepError};
use crate::engine::flow::{Outcome, StepCx};
use crate::engine::scope::Frame;
use crate::playbook::Filter;
use crate::template::Value;
use crate::template::value::{describe, from_json};

/// Run a `filter` step.
pub(crate) fn run(cx: &StepCx<'_, '_>, f: &Filter) -> Result<Outcome, StepError> {
    let input = cx.ctx.render(cx.scope, &f.input, "`filter.input`")?;
    let mut items: Vec<Value> = match &f.jsonpath {
        Some(path) => {
            let doc = super::to_json(&input, "`filter.input`").map_err(|e| e.at(f.input.span))?;
            path.path.query(&doc).into_iter().map(from_json).collect()
        }
        None => {
            if input.is_none() {
                Vec::new()
            } else {
                input
                    .try_iter()
                    .map(Iterator::collect)
                    .map_err(|_| {
                        StepError::new(
                            ErrorKind::Data,
                            format!(
                                "`filter.input` must be a list when there is no `jsonpath`, but it is {}",
                                describe(&input)
                            ),
                        )
                        .at(f.input.span)
                    })?
            }
        }
    };
    if let Some(d) = &f.dedupe {
        items = dedupe(cx, d, items)?;
    }
    let count = items.len();
    let mut out = Outcome::with(vec![
        ("items", Value::from(items)),
        ("count", Value::from(count)),
    ]);
    out.count = Some(count as u64);
    Ok(out)
}

fn dedupe(
    cx: &StepCx<'_, '_>,
    d: &crate::playbook::Dedupe,
    items: Vec<Value>,
) -> Result<Vec<Value>, StepError> {
    let ctx = cx.ctx;
    let id = cx.step.id.clone().unwrap_or_else(|| cx.step.route.clone());
    let n = items.len();
    let mut keys = Vec::with_capacity(n);
    for (i, item) in items.iter().enumerate() {
        let frame = Frame::iteration(cx.frame, item.clone(), i, n);
        keys.push(ctx.render_text(&frame.scope(&ctx.run), &d.key, "`dedupe.key`")?);
    }
    let at = ctx.options.started_at;
    let mut store = ctx
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut seen = ctx
        .seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut kept = Vec::new();
    for (item, key) in items.into_iter().zip(keys) {
        // The state store remembers across runs (and within this one); without one, only
        // repeats within this run are dropped.
        let fresh = match store.as_mut() {
            Some(store) => store.admit(&id, &key, d.window, at),
            None => seen.insert((id.clone(), key)),
        };
        if fresh {
            kept.push(item);
        }
    }
    Ok(kept)
}
