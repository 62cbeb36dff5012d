//! `assert`: every expression in `that` must be true; the first false one ends the run with
//! exit code 3, the rendered `message`, and the failing expression's `file:line`.

use crate::engine::error::{ErrorKind, StepError};
use crate::engine::flow::{Outcome, StepCx};
use crate::playbook::Assert;

/// Run an `assert` step.
pub(crate) fn run(cx: &StepCx<'_, '_>, a: &Assert) -> Result<Outcome, StepError> {
    for that in &a.that {
        let value = cx.ctx.render(cx.scope, that, "`assert.that`")?;
        if value.is_true() {
            continue;
        }
        let default = format!("assertion failed: `{}`", that.source().trim());
        let message = match &a.message {
            None => default,
            Some(m) => match cx.ctx.render_text(cx.scope, m, "`assert.message`") {
                Ok(text) if !text.trim().is_empty() => text.trim().to_string(),
                Ok(_) => default,
                // The assertion's verdict matters more than its message: still exit 3.
                Err(e) => format!("{default} (the message did not render: {})", e.message),
            },
        };
        return Err(StepError::new(ErrorKind::Assert, message)
            .at(that.span)
            .help(format!("`{}` is false", that.source().trim())));
    }
    Ok(crate::engine::flow::Outcome::default())
}
