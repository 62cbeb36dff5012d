//! `huntbook validate FILE…`: every static check, no network. Human diagnostics on stderr, or
//! with `--format json` one JSON array on stdout. Exit 0 when every file is valid (warnings
//! allowed), 2 otherwise. A `*.test.yaml` is checked as a playbook test file (with the playbook
//! it names), so `huntbook validate playbooks/*.yaml` covers a folder of playbooks and tests.

use std::io::Write as _;

use crate::cli::{DiagFormat, GlobalArgs, ValidateArgs};
use crate::diag::{self, Diagnostic, JsonDiagnostic, Severity};
use crate::exit::ExitStatus;
use crate::playbook::{Loaded, load_file};
use crate::source::FileId;

/// Entry point of `huntbook validate`.
#[must_use]
pub fn run(args: &ValidateArgs, global: &GlobalArgs) -> ExitStatus {
    let colour = diag::stderr_wants_colour();
    let mut status = ExitStatus::Success;
    let mut json: Vec<JsonDiagnostic> = Vec::new();
    let mut stderr = std::io::stderr().lock();
    for path in &args.files {
        let loaded = if crate::testing::is_test_file(path) {
            test_file(path)
        } else {
            load_file(path)
        };
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

/// A test file's problems (and its playbook's errors) as one [`Loaded`]: the playbook's
/// sources are appended to the test file's, so every diagnostic renders from one map.
fn test_file(path: &std::path::Path) -> Loaded {
    let t = crate::testing::load(path);
    let mut sources = (*t.sources).clone();
    let mut diagnostics = t.diagnostics;
    if let Some(pb) = t.playbook {
        let offset = u32::try_from(sources.files().len()).unwrap_or(u32::MAX);
        for f in pb.sources.files() {
            sources.add(f.clone());
        }
        diagnostics.extend(
            pb.diagnostics
                .into_iter()
                .filter(Diagnostic::is_error)
                .map(|mut d| {
                    if let Some(span) = &mut d.span {
                        span.file = FileId(span.file.0.saturating_add(offset));
                    }
                    d
                }),
        );
    }
    Loaded {
        sources: std::sync::Arc::new(sources),
        diagnostics,
        playbook: None,
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
