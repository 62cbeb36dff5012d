//! `output`: write `data` as json, jsonl or csv, or a template as text or markdown, to a file
//! or to stdout. Files are written atomically through `crate::fsutil` — a temporary file in
//! the same folder, renamed over the target — so a reader (or a crash, or Ctrl-C) never sees
//! half a report; `append` copies the existing content first. CSV cells that a spreadsheet
//! would run as a formula are neutralised. A dry run writes stdout outputs but no file.

use std::io::Write as _;

use crate::engine::error::{ErrorKind, StepError};
use crate::engine::flow::{Outcome, StepCx};
use crate::engine::report::Written;
use crate::playbook::{Output, OutputContent, OutputFormat};
use crate::template::Value;

/// Run an `output` step.
pub(crate) fn run(cx: &StepCx<'_, '_>, o: &Output) -> Result<Outcome, StepError> {
    let ctx = cx.ctx;
    let path = match &o.path {
        Some(p) => {
            let text = ctx.render_text(cx.scope, p, "`output.path`")?;
            if text.trim().is_empty() {
                return Err(
                    StepError::new(ErrorKind::Data, "`output.path` rendered empty").at(p.span),
                );
            }
            Some((ctx.options.workdir.join(&text), text))
        }
        None => None,
    };
    let appending_to_existing = o.append
        && path
            .as_ref()
            .is_some_and(|(p, _)| std::fs::metadata(p).is_ok_and(|m| m.len() > 0));
    let bytes = match &o.content {
        OutputContent::Data(field) => {
            let value = ctx.render(cx.scope, field, "`output.data`")?;
            let json = super::to_json(&value, "`output.data`").map_err(|e| e.at(field.span))?;
            serialise(&json, o, appending_to_existing).map_err(|e| e.at(field.span))?
        }
        OutputContent::Template { template, .. } => ctx
            .render_text(cx.scope, template, "`output.template`")?
            .into_bytes(),
    };
    let size = bytes.len() as u64;
    let written = match &path {
        None => {
            let mut out = ctx
                .stdout
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match out.write_all(&bytes).and_then(|()| out.flush()) {
                Ok(()) => {}
                // A closed pipe (`| head`) is the reader's choice, not a failure of the run.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(e) => {
                    return Err(StepError::new(
                        ErrorKind::Io,
                        format!("cannot write to stdout: {e}"),
                    ));
                }
            }
            Written {
                path: "-".to_string(),
                bytes: size,
            }
        }
        Some((p, shown)) => {
            if ctx.options.dry_run {
                tracing::info!(
                    event = "dry_run_output",
                    step = %crate::engine::flow::log_name(cx.step),
                    path = %shown,
                    bytes = size,
                    "dry run: would write {size} bytes to {shown}"
                );
            } else {
                let options = crate::fsutil::AtomicOptions::new().append(o.append);
                crate::fsutil::write_atomic_with(p, &bytes, &options).map_err(|e| {
                    StepError::new(ErrorKind::Io, format!("cannot write `{shown}`: {e}"))
                })?;
            }
            Written {
                path: shown.clone(),
                bytes: size,
            }
        }
    };
    let path_value = path
        .as_ref()
        .map_or(Value::from(()), |(_, shown)| Value::from(shown.clone()));
    let mut out = Outcome::with(vec![("path", path_value), ("bytes", Value::from(size))]);
    out.written = Some(written);
    Ok(out)
}

fn serialise(
    json: &serde_json::Value,
    o: &Output,
    appending_to_existing: bool,
) -> Result<Vec<u8>, StepError> {
    let data_err = |m: String| StepError::new(ErrorKind::Data, m);
    match o.format {
        OutputFormat::Json => {
            if o.append {
                return Err(data_err(
                    "`append` with `format: json` would make the file invalid JSON".into(),
                )
                .help("use `format: jsonl` to append one JSON value per line"));
            }
            let mut text = serde_json::to_string_pretty(json)
                .map_err(|e| data_err(format!("cannot write JSON: {e}")))?;
            text.push('\n');
            Ok(text.into_bytes())
        }
        OutputFormat::Jsonl => {
            let mut out = Vec::new();
            let items: Vec<&serde_json::Value> = match json {
                serde_json::Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for item in items {
                serde_json::to_writer(&mut out, item)
                    .map_err(|e| data_err(format!("cannot write JSON: {e}")))?;
                out.push(b'\n');
            }
            Ok(out)
        }
        OutputFormat::Csv => csv_bytes(json, o.columns.as_deref(), !appending_to_existing),
        OutputFormat::Markdown | OutputFormat::Text => {
            // A data output in a text format: the value's text, as `{{ data }}` would print it.
            match json {
                serde_json::Value::String(s) => Ok(s.clone().into_bytes()),
                other => {
                    let mut text = serde_json::to_string_pretty(other)
                        .map_err(|e| data_err(format!("cannot write JSON: {e}")))?;
                    text.push('\n');
                    Ok(text.into_bytes())
                }
            }
        }
    }
}

/// A spreadsheet runs a cell starting with `=`, `+`, `-`, `@` (or a tab or carriage return,
/// which some strip first) as a formula: prefix such text with `'` (OWASP's advice). Numbers
/// are written as numbers, so `-3` stays `-3`.
#[must_use]
pub fn neutralise_cell(text: &str) -> std::borrow::Cow<'_, str> {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

fn cell(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => neutralise_cell(s).into_owned(),
        Some(serde_json::Value::Bool(b)) => b.to_string(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(other) => neutralise_cell(&other.to_string()).into_owned(),
    }
}

/// Rows as CSV: `columns` when given, else each key in first-seen order (a hunt's rows carry
/// their schema's order). A list of scalars is one column named `value`.
fn csv_bytes(
    json: &serde_json::Value,
    columns: Option<&[String]>,
    header: bool,
) -> Result<Vec<u8>, StepError> {
    let rows: Vec<&serde_json::Value> = match json {
        serde_json::Value::Array(items) => items.iter().collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![other],
    };
    let cols: Vec<String> = match columns {
        Some(c) => c.to_vec(),
        None => {
            let mut cols: Vec<String> = Vec::new();
            for r in &rows {
                if let serde_json::Value::Object(m) = r {
                    for k in m.keys() {
                        if !cols.iter().any(|c| c == k) {
                            cols.push(k.clone());
                        }
                    }
                }
            }
            if cols.is_empty() && !rows.is_empty() {
                cols.push("value".to_string());
            }
            cols
        }
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| StepError::new(ErrorKind::Data, format!("cannot write CSV: {e}"));
    if header && !cols.is_empty() {
        w.write_record(cols.iter().map(|c| neutralise_cell(c).into_owned()))
            .map_err(err)?;
    }
    for r in rows {
        let record: Vec<String> = match r {
            serde_json::Value::Object(m) => cols.iter().map(|c| cell(m.get(c))).collect(),
            scalar => vec![cell(Some(scalar))],
        };
        w.write_record(&record).map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| StepError::new(ErrorKind::Data, format!("cannot write CSV: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formula_cells_are_neutralised_and_numbers_are_not() {
        let rows = json!([
            {"a": "=cmd|' /C calc'!A0", "b": -3, "c": "+1", "d": "@SUM(1)", "e": "-enc x", "f": "ok"}
        ]);
        let out = String::from_utf8(csv_bytes(&rows, None, true).unwrap()).unwrap();
        assert_eq!(
            out,
            "a,b,c,d,e,f\n'=cmd|' /C calc'!A0,-3,'+1,'@SUM(1),'-enc x,ok\n"
        );
    }

    #[test]
    fn csv_columns_follow_first_seen_order_or_the_given_list() {
        let rows = json!([{"x": 1, "y": null}, {"z": [1, 2], "x": 2}]);
        let out = String::from_utf8(csv_bytes(&rows, None, true).unwrap()).unwrap();
        assert_eq!(out, "x,y,z\n1,,\n2,,\"[1,2]\"\n");
        let cols = vec!["z".to_string(), "x".to_string()];
        let out = String::from_utf8(csv_bytes(&rows, Some(&cols), false).unwrap()).unwrap();
        assert_eq!(out, ",1\n\"[1,2]\",2\n");
        let out = String::from_utf8(csv_bytes(&json!(["a", "b"]), None, true).unwrap()).unwrap();
        assert_eq!(out, "value\na\nb\n");
    }
}
