//! `huntbook jsonpath EXPR [FILE|-]`: evaluate an RFC 9535 JSONPath over a JSON document and
//! print the matched values as a JSON array — the author's tool for trying a `filter` on
//! sample results. It runs the code path of `filter` steps ([`RowFilter`]: compiled by
//! `crate::jsonpath`, a JSON document queried as a step's non-row input is).

use std::io::{Read as _, Write as _};

use crate::cli::{GlobalArgs, JsonpathArgs};
use crate::diag::{self, Code, Diagnostic};
use crate::exit::ExitStatus;
use crate::rows::RowFilter;
use crate::source::{SourceFile, SourceMap, Span};

/// Entry point of `huntbook jsonpath`.
#[must_use]
pub fn run(args: &JsonpathArgs, _global: &GlobalArgs) -> ExitStatus {
    let colour = diag::stderr_wants_colour();
    let path = match RowFilter::compile(&args.expr) {
        Ok(p) => p,
        Err(e) => {
            let mut sources = SourceMap::new();
            let file = sources.add(SourceFile::new("<expression>", args.expr.clone()));
            let end = (e.offset + 1).min(args.expr.len()).max(e.offset);
            let d = Diagnostic::new(
                Code::BadJsonpath,
                Span::new(file, e.offset, end),
                format!("invalid JSONPath at column {}", e.column),
            )
            .label(e.message);
            eprint!("{}", diag::render_one(&d, &sources, colour));
            return ExitStatus::Invalid;
        }
    };
    let (name, text) = match read_document(args.file.as_deref()) {
        Ok(x) => x,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitStatus::Invalid;
        }
    };
    let document: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!(
                "error: `{name}` is not valid JSON: {} (line {}, column {})",
                strip_position(&e.to_string()),
                e.line(),
                e.column()
            );
            return ExitStatus::Invalid;
        }
    };
    let matches = path.apply_json(&document);
    let mut out = std::io::stdout().lock();
    let text = serde_json::to_string_pretty(&matches).unwrap_or_else(|_| "[]".into());
    match writeln!(out, "{text}") {
        Ok(()) => ExitStatus::Success,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(e) => {
            eprintln!("error: cannot write the result: {e}");
            ExitStatus::Failure
        }
    }
}

fn read_document(file: Option<&std::path::Path>) -> Result<(String, String), String> {
    match file {
        None => read_stdin(),
        Some(p) if p.as_os_str() == "-" => read_stdin(),
        Some(p) => {
            let name = p.display().to_string();
            if p.is_dir() {
                return Err(format!("cannot read `{name}`: it is a directory"));
            }
            let bytes = std::fs::read(p).map_err(|e| format!("cannot read `{name}`: {e}"))?;
            let text =
                String::from_utf8(bytes).map_err(|_| format!("`{name}` is not UTF-8 text"))?;
            Ok((name, text))
        }
    }
}

fn read_stdin() -> Result<(String, String), String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read the document from stdin: {e}"))?;
    Ok(("<stdin>".into(), text))
}

/// serde_json appends " at line L column C"; the message says it once, our way.
fn strip_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |i| &message[..i])
}
