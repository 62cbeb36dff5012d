//! `set`: define `vars.<name>` from templates or expressions (a single `{{ expr }}` keeps its
//! type). Values are rendered against the scope as it was when the step started, so one `set`
//! cannot read a name it defines itself.

use super::render_value;
use crate::engine::error::StepError;
use crate::engine::flow::{Outcome, StepCx};
use crate::playbook::SetVars;

/// Run a `set` step.
pub(crate) fn run(cx: &StepCx<'_, '_>, set: &SetVars) -> Result<Outcome, StepError> {
    let mut values = Vec::with_capacity(set.vars.len());
    for (name, value, span) in &set.vars {
        let v = render_value(cx, value, &format!("`vars.{name}`")).map_err(|e| e.or_at(*span))?;
        values.push((name, v));
    }
    // All or nothing: a failing value leaves no half-applied `set` behind.
    for (name, v) in values {
        cx.frame.set_var(name, v);
    }
    Ok(Outcome::default())
}
