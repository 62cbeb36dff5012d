//! `filter`: an RFC 9535 JSONPath over the input, then `dedupe`: drop elements whose key an
//! earlier successful run (or an earlier element of this one) already produced. Rows from a
//! hunt take the row filter of [`crate::rows`] — a fast path that never builds JSON values —
//! and stay rows (a view on the same row set), so a later CSV keeps the hunt's column order;
//! anything else goes through the same JSONPath code as `huntbook jsonpath`. Outputs `items`
//! and `count`.

use crate::engine::error::{ErrorKind, StepError};
use crate::engine::flow::{Outcome, StepCx};
use crate::engine::scope::Frame;
use crate::playbook::{Dedupe, Filter};
use crate::rows::{FilterOutput, RowFilter, Rows};
use crate::template::Value;
use crate::template::value::describe;

/// Run a `filter` step.
pub(crate) fn run(cx: &StepCx<'_, '_>, f: &Filter) -> Result<Outcome, StepError> {
    let input = cx.ctx.render(cx.scope, &f.input, "`filter.input`")?;
    let data_error = |m: String| StepError::new(ErrorKind::Data, m).at(f.input.span);
    let mut output = match &f.jsonpath {
        Some(path) => {
            let filter = RowFilter::compile(path.path.source())
                .map_err(|e| StepError::new(ErrorKind::Data, e.to_string()).at(path.span))?;
            filter
                .apply_value(&input)
                .map_err(|e| data_error(format!("`filter.input`: {}", e.message)))?
        }
        None => match Rows::from_value(&input) {
            Some(rows) => FilterOutput::Rows(rows),
            None if input.is_none() => FilterOutput::Values(Vec::new()),
            None => match super::to_json(&input, "`filter.input`")? {
                serde_json::Value::Array(items) => FilterOutput::Values(items),
                _ => {
                    return Err(data_error(format!(
                        "`filter.input` must be a list when there is no `jsonpath`, but it is {}",
                        describe(&input)
                    )));
                }
            },
        },
    };
    if let Some(d) = &f.dedupe {
        output = dedupe(cx, d, output)?;
    }
    let count = output.count();
    let mut out = Outcome::with(vec![
        ("items", output.into_value()),
        ("count", Value::from(count)),
    ]);
    out.count = Some(count as u64);
    Ok(out)
}

fn dedupe(
    cx: &StepCx<'_, '_>,
    d: &Dedupe,
    output: FilterOutput,
) -> Result<FilterOutput, StepError> {
    let ctx = cx.ctx;
    let id = cx.step.id.clone().unwrap_or_else(|| cx.step.route.clone());
    // Every element as a template value (rows stay lazy row objects), for `dedupe.key`.
    let elements: Vec<Value> = match &output {
        FilterOutput::Rows(rows) => rows
            .clone()
            .into_value()
            .try_iter()
            .map(Iterator::collect)
            .unwrap_or_default(),
        FilterOutput::Values(items) => items
            .iter()
            .map(crate::template::value::from_json)
            .collect(),
    };
    let n = elements.len();
    let mut keys = Vec::with_capacity(n);
    for (i, item) in elements.into_iter().enumerate() {
        let frame = Frame::iteration(cx.frame, item, i, n);
        keys.push(ctx.render_text(&frame.scope(&ctx.run), &d.key, "`dedupe.key`")?);
    }
    let at = ctx.options.started_at;
    let keep: Vec<bool> = {
        let mut store = ctx
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut seen = ctx
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        keys.into_iter()
            .map(|key| match store.as_mut() {
                // The state store remembers across runs (and within this one); without one,
                // only repeats within this run are dropped.
                Some(store) => store.admit(&id, &key, d.window, at),
                None => seen.insert((id.clone(), key)),
            })
            .collect()
    };
    Ok(match output {
        FilterOutput::Rows(rows) => {
            let ids: Vec<u32> = (0..rows.len())
                .filter(|i| keep.get(*i).copied().unwrap_or(false))
                .filter_map(|i| rows.row_id(i).and_then(|r| u32::try_from(r).ok()))
                .collect();
            FilterOutput::Rows(Rows::select(rows.set().clone(), ids))
        }
        FilterOutput::Values(items) => FilterOutput::Values(
            items
                .into_iter()
                .zip(keep)
                .filter_map(|(item, k)| k.then_some(item))
                .collect(),
        ),
    })
}
