//! Renderers over the [`RunReport`]: the human summary and error (stderr), the JSON report
//! (`--report`). Runtime errors are rendered in the house diagnostic style — title,
//! `--> file:line:column`, the playbook line with carets, `help:` — so a failing step points
//! at its line just as `huntbook validate` does.

use std::fmt::Write as _;

use super::report::{ErrorReport, RunReport, Status, StepReport};
use crate::source::SourceMap;

pub use crate::redact::terminal_safe;

fn paint(on: bool, code: &str, text: &str) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// A runtime error against the playbook source.
#[must_use]
pub fn render_error(e: &ErrorReport, sources: &SourceMap, colour: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}{}",
        paint(colour, "1;31", &format!("error[{}]", e.kind.as_str())),
        paint(
            colour,
            "1",
            &format!(
                ": {} failed: {}",
                terminal_safe(&e.label),
                terminal_safe(&e.message)
            )
        )
    );
    let located = e.span.and_then(|s| sources.get(s.file).map(|f| (s, f)));
    let help = e.help.as_deref().map(terminal_safe);
    let extras: Vec<(&str, &str)> = help.iter().map(|h| ("help", h.as_ref())).collect();
    match located {
        Some((span, file)) => {
            crate::diag::write_snippet(&mut out, file, span, colour, "1;31", None, &extras);
        }
        None => {
            for (prefix, text) in extras {
                let _ = writeln!(out, "  {} {prefix}: {text}", paint(colour, "1;34", "="));
            }
        }
    }
    out
}

fn seconds(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        #[expect(clippy::cast_precision_loss, reason = "display only")]
        let s = ms as f64 / 1000.0;
        format!("{s:.2}s")
    }
}

fn status_word(s: Status, colour: bool) -> String {
    let (code, word) = match s {
        Status::Ok => ("32", "ok"),
        Status::Changed => ("33", "changed"),
        Status::Skipped => ("2", "skipped"),
        Status::Failed => ("1;31", "FAILED"),
    };
    paint(colour, code, &format!("{word:<8}"))
}

fn plural(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn detail(s: &StepReport) -> String {
    let mut parts = Vec::new();
    if let Some(c) = s.count {
        let noun = if s.kind == "hunt" { "row" } else { "item" };
        parts.push(plural(c, noun));
    }
    if s.truncated == Some(true) {
        parts.push("truncated at the service's limit".to_string());
    }
    if let Some(w) = &s.written {
        // `-` is how the report names stdout; people read "stdout".
        let to = if w.path == "-" {
            "stdout"
        } else {
            w.path.as_str()
        };
        parts.push(format!("{} bytes to {to}", w.bytes));
    }
    if !s.iterations.is_empty() {
        parts.push(plural(s.iterations.len() as u64, "iteration"));
    }
    if !s.would_send.is_empty() {
        parts.push(format!(
            "{} write(s) not sent (dry run)",
            s.would_send.len()
        ));
    }
    if s.api.throttled > 0 {
        parts.push(format!("{} throttled", s.api.throttled));
    }
    if let Some(r) = &s.reason {
        parts.push(r.clone());
    }
    if s.continued {
        parts.push("on_error: continue".to_string());
    }
    terminal_safe(&parts.join(", ")).into_owned()
}

fn step_lines(steps: &[StepReport], depth: usize, colour: bool, out: &mut String) {
    for s in steps {
        let mut who = match (&s.id, &s.name) {
            (Some(id), _) => id.clone(),
            (None, Some(n)) => n.clone(),
            (None, None) => s.route.clone(),
        };
        // Keep the columns aligned: long names are cut (the report has them whole).
        who = terminal_safe(&who).into_owned();
        if who.chars().count() > 24 {
            who = who.chars().take(23).chain(std::iter::once('…')).collect();
        }
        let indent = "  ".repeat(depth + 1);
        let time = if s.status == Status::Skipped {
            String::new()
        } else {
            seconds(s.duration_ms)
        };
        let _ = writeln!(
            out,
            "{indent}{} {:<24} {:<14} {:>8}  {}",
            status_word(s.status, colour),
            who,
            s.kind,
            time,
            detail(s)
        )
        .map(|()| ());
        step_lines(&s.steps, depth + 1, colour, out);
        for it in &s.iterations {
            if it.status == Status::Failed
                && let Some(e) = &it.error
            {
                let _ = writeln!(
                    out,
                    "{indent}    [{}] {}: {}",
                    it.index,
                    status_word(it.status, colour).trim_end(),
                    terminal_safe(&e.message)
                );
            }
            step_lines(&it.steps, depth + 2, colour, out);
        }
    }
}

/// The human summary: one line per step, then the totals.
#[must_use]
pub fn summary(report: &RunReport, colour: bool) -> String {
    let mut out = String::new();
    let dry = if report.dry_run { " (dry run)" } else { "" };
    let _ = writeln!(
        out,
        "{}{dry}: {} in {} (exit {})",
        paint(colour, "1", &report.playbook),
        report.outcome.replace('_', " "),
        seconds(report.duration_ms),
        report.exit_code
    );
    step_lines(&report.steps, 0, colour, &mut out);
    let t = report.tally;
    let _ = writeln!(
        out,
        "  {} ok, {} changed, {} skipped, {} failed; {} API call(s), {} retried, {} throttled",
        t.ok,
        t.changed,
        t.skipped,
        t.failed,
        report.api.calls,
        report.api.retries,
        report.api.throttled
    );
    let mut files = Vec::new();
    files_written(&report.steps, &mut files);
    let verb = if report.dry_run {
        "would write"
    } else {
        "wrote"
    };
    for w in files {
        let _ = writeln!(
            out,
            "  {verb} {} ({} bytes)",
            terminal_safe(&w.path),
            w.bytes
        );
    }
    out
}

fn files_written<'r>(steps: &'r [StepReport], out: &mut Vec<&'r super::report::Written>) {
    for s in steps {
        if let Some(w) = &s.written
            && w.path != "-"
            && !out.iter().any(|o| o.path == w.path)
        {
            out.push(w);
        }
        files_written(&s.steps, out);
        for it in &s.iterations {
            files_written(&it.steps, out);
        }
    }
}

/// The `--report` file's text.
///
/// # Errors
/// Never in practice (the report is plain data); a serialisation failure is passed on.
pub fn report_json(report: &RunReport) -> Result<String, serde_json::Error> {
    let mut text = crate::redact::redact(&serde_json::to_string_pretty(report)?).into_owned();
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_from_data_are_made_visible() {
        assert_eq!(terminal_safe("ws-01"), "ws-01");
        assert_eq!(
            terminal_safe("ws\x1b[2J\x1b]0;pwned\x07\r\u{9b}31m"),
            "ws\\x1b[2J\\x1b]0;pwned\\x07\\x0d\\x9b31m"
        );
        assert_eq!(terminal_safe("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(terminal_safe("line\nnext\tcol"), "line\nnext\tcol");
    }
}
