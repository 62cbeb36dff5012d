//! `huntbook plan PLAYBOOK`: what a run would do — every step in order with the values known
//! before the run rendered, placeholders for what comes from the API, secrets redacted,
//! response actions flagged and the permissions each step needs. Nothing is sent anywhere.

use std::io::Write as _;

use crate::cli::{DiagFormat, GlobalArgs, PlanArgs};
use crate::diag;
use crate::exit::ExitStatus;
use crate::playbook::{load_file, plan};

/// Entry point of `huntbook plan`.
#[must_use]
pub fn run(args: &PlanArgs, _global: &GlobalArgs) -> ExitStatus {
    let colour = diag::stderr_wants_colour();
    let loaded = load_file(&args.playbook);
    let mut stderr = std::io::stderr().lock();
    let _ = write!(
        stderr,
        "{}",
        diag::render_human(&loaded.diagnostics, &loaded.sources, colour)
    );
    let Some(playbook) = &loaded.playbook else {
        let _ = writeln!(
            stderr,
            "{}: invalid, nothing to plan",
            args.playbook.display()
        );
        return ExitStatus::Invalid;
    };
    let given = match plan::parse_inputs(playbook, &args.inputs) {
        Ok(g) => g,
        Err(errors) => {
            let _ = write!(
                stderr,
                "{}",
                diag::render_human(&errors, &loaded.sources, colour)
            );
            return ExitStatus::Invalid;
        }
    };
    let p = plan::build(playbook, &given);
    let text = match args.format {
        DiagFormat::Human => plan::render_human(&p),
        DiagFormat::Json => {
            let mut t = serde_json::to_string_pretty(&p).unwrap_or_default();
            t.push('\n');
            t
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()) {
        Ok(()) => ExitStatus::Success,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitStatus::Success,
        Err(e) => {
            let _ = writeln!(stderr, "error: cannot write the plan: {e}");
            ExitStatus::Failure
        }
    }
}
