//! `output`: write `data` as json, jsonl or csv, or a template as text or markdown, to a file
//! or to stdout. Data is streamed by the writers of [`crate::rows`] (rows from a hunt or a
//! filter are written straight from the row set, in the hunt's column order, with formula
//! cells neutralised); files are written through [`crate::fsutil::AtomicFile`] — a temporary
//! file in the same folder, renamed over the target when complete — so a reader, a crash or
//! Ctrl-C never leaves half a report. `append` copies the existing content first. A dry run
//! writes stdout outputs but no file.

use std::io::Write;

use crate::engine::error::{ErrorKind, StepError};
use crate::engine::flow::{Outcome, StepCx};
use crate::engine::report::Written;
use crate::fsutil::AtomicOptions;
use crate::playbook::{Output, OutputContent, OutputFormat};
use crate::redact::Redacting;
use crate::rows::{CsvOptions, DataFormat, write_data};
use crate::template::Value;

/// What to write: data for a streaming writer, or text already rendered.
enum Content {
    Data(Value, DataFormat),
    Bytes(Vec<u8>),
}

/// Counts what passes through to the inner writer.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

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
    let content = match &o.content {
        OutputContent::Data(field) => {
            let value = ctx.render(cx.scope, field, "`output.data`")?;
            match o.format {
                OutputFormat::Json if o.append => {
                    return Err(StepError::new(
                        ErrorKind::Data,
                        "`append` with `format: json` would make the file invalid JSON",
                    )
                    .at(field.span)
                    .help("use `format: jsonl` to append one JSON value per line"));
                }
                OutputFormat::Json => Content::Data(value, DataFormat::Json),
                OutputFormat::Jsonl => Content::Data(value, DataFormat::Jsonl),
                OutputFormat::Csv => Content::Data(value, DataFormat::Csv),
                OutputFormat::Markdown | OutputFormat::Text => {
                    Content::Bytes(text_of_data(&value).map_err(|e| e.at(field.span))?)
                }
            }
        }
        OutputContent::Template { template, .. } => Content::Bytes(
            ctx.render_text(cx.scope, template, "`output.template`")?
                .into_bytes(),
        ),
    };
    let csv = CsvOptions {
        columns: o.columns.clone(),
        // Appending to a CSV file that already has its header line.
        header: !appending_to_existing,
        ..CsvOptions::default()
    };
    let write = |out: &mut dyn Write| -> Result<(), StepError> {
        let result = match &content {
            Content::Data(value, format) => {
                write_data(value, *format, &mut *out, &csv).map_err(|e| e.to_string())
            }
            Content::Bytes(b) => out.write_all(b).map_err(|e| e.to_string()),
        };
        result
            .and_then(|()| out.flush().map_err(|e| e.to_string()))
            .map_err(|e| StepError::new(ErrorKind::Io, e))
    };
    let written = match &path {
        None => {
            let mut lock = ctx
                .stdout
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut out = Counting {
                inner: &mut **lock,
                bytes: 0,
            };
            // Secrets are masked in everything an output writes.
            match write(&mut Redacting::new(&mut out)) {
                Ok(()) => {}
                // A closed pipe (`| head`) is the reader's choice, not a failure of the run.
                Err(e) if e.message.contains("Broken pipe") => {}
                Err(e) => {
                    return Err(StepError::new(
                        ErrorKind::Io,
                        format!("cannot write to stdout: {}", e.message),
                    ));
                }
            }
            Written {
                path: "-".to_string(),
                bytes: out.bytes,
            }
        }
        Some((full, shown)) => {
            let bytes = if ctx.options.dry_run {
                let mut sink = Counting {
                    inner: std::io::sink(),
                    bytes: 0,
                };
                write(&mut Redacting::new(&mut sink))?;
                tracing::info!(
                    event = "dry_run_output",
                    step = %crate::engine::flow::log_name(cx.step),
                    path = %shown,
                    bytes = sink.bytes,
                    "dry run: would write {} bytes to {shown}", sink.bytes
                );
                sink.bytes
            } else {
                let fail = |e: String| {
                    StepError::new(ErrorKind::Io, format!("cannot write `{shown}`: {e}"))
                };
                let mut file = AtomicOptions::new()
                    .append(o.append)
                    .open(full)
                    .map_err(|e| fail(e.to_string()))?;
                // Dropping the file on an error removes the temporary file: the target keeps
                // its old content.
                write(&mut Redacting::new(&mut file)).map_err(|e| fail(e.message))?;
                file.commit().map_err(|e| fail(e.to_string()))?
            };
            Written {
                path: shown.clone(),
                bytes,
            }
        }
    };
    let path_value = path
        .as_ref()
        .map_or(Value::from(()), |(_, shown)| Value::from(shown.clone()));
    let mut out = Outcome::with(vec![
        ("path", path_value),
        ("bytes", Value::from(written.bytes)),
    ]);
    out.written = Some(written);
    Ok(out)
}

/// `data` in a text format: a string as is, anything else as indented JSON.
fn text_of_data(value: &Value) -> Result<Vec<u8>, StepError> {
    if let Some(s) = value.as_str() {
        return Ok(s.as_bytes().to_vec());
    }
    let json = super::to_json(value, "`output.data`")?;
    let mut text = serde_json::to_string_pretty(&json)
        .map_err(|e| StepError::new(ErrorKind::Data, format!("cannot write JSON: {e}")))?;
    text.push('\n');
    Ok(text.into_bytes())
}
