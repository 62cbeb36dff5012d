//! `huntbook validate FILE…`: every static check, no network. Human diagnostics on stderr, or
//! with `--format json` one JSON array on stdout. Exit 0 when every file is valid (warnings
//! allowed), 2 otherwise.

use std::io::Write as _;

use crate::cli::{DiagFormat, GlobalArgs, ValidateArgs};
use crate::diag::{self, JsonDiagnostic, Severity};
use crate::exit::ExitStatus;
use crate::playbook::load_file;

/// Entry point of `huntbook validate`.
#[must_use]
pub fn run(args: &ValidateArgs, global: &GlobalArgs) -> ExitStatus {
    let colour = diag::stderr_wants_colour();
    let mut status = ExitStatus::Success;
    let mut json: Vec<JsonDiagnostic> = Vec::new();
    let mut stderr = std::io::stderr().lock();
    for path in &args.files {
        let loaded = load_file(path);
        let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = loaded.diagnostics.len() - errors;
        if errors > 0 {
            status = status.worst(ExitStatus::Invalid);
        }
        match args.format {
            DiagFormat::Json => json.extend(
                loaded
                    .diagnostics
                    .iter()
                    .map(|d| diag::to_json(d, &loaded.sources)),
            ),
            DiagFormat::Human => {
                let shown: Vec<_> = loaded
                    .diagnostics
                    .iter()
                    .filter(|d| !global.quiet || d.severity == Severity::Error)
                    .cloned()
                    .collect();
                let _ = write!(
                    stderr,
                    "{}",
                    diag::render_human(&shown, &loaded.sources, colour)
                );
                let name = path.display();
                let summary = match (errors, warnings) {
                    (0, 0) => format!("{name}: valid"),
                    (0, w) => format!("{name}: valid, {}", plural(w, "warning")),
                    (e, 0) => format!("{name}: invalid, {}", plural(e, "error")),
                    (e, w) => format!(
                        "{name}: invalid, {}, {}",
                        plural(e, "error"),
                        plural(w, "warning")
                    ),
                };
                if errors > 0 || !global.quiet {
                    let _ = writeln!(stderr, "{summary}");
                }
            }
        }
    }
    if args.format == DiagFormat::Json {
        let text = serde_json::to_string_pretty(&json).unwrap_or_else(|_| "[]".into());
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
    }
    status
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
