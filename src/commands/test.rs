//! `huntbook test PATH…`: find the test files, validate them all (any invalid: exit 2, nothing
//! runs), run every case against its own emulator (`--jobs` at once), print one line per case
//! (with `-q`, only failed ones) with the detail of each failure, a summary ending in
//! `N passed, N failed`, and write `--junit FILE`. Exit 0 when every case passed, 1 when one
//! failed.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{GlobalArgs, TestArgs};
use crate::diag::{self, Severity};
use crate::exit::ExitStatus;
use crate::testing::report::{self, InvalidFile};
use crate::testing::{self, Backend, EmulatorBackend, Runner, TestFile};

/// Entry point of `huntbook test`.
#[must_use]
pub fn run(args: &TestArgs, global: &GlobalArgs) -> ExitStatus {
    run_with(args, global, Arc::new(EmulatorBackend))
}

/// `huntbook test` with the cases' calls going through `backend`.
#[must_use]
pub fn run_with(args: &TestArgs, global: &GlobalArgs, backend: Arc<dyn Backend>) -> ExitStatus {
    let err_colour = diag::stderr_wants_colour();
    let out_colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal();
    let paths = match testing::discover(&args.paths) {
        Ok(p) => p,
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            return ExitStatus::Invalid;
        }
    };
    let jobs = match args.jobs {
        Some(0) => {
            eprintln!("error: `--jobs` must be at least 1");
            return ExitStatus::Invalid;
        }
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    };
    let mut files: Vec<TestFile> = Vec::new();
    let mut invalid: Vec<InvalidFile> = Vec::new();
    for path in &paths {
        let loaded = testing::load(path);
        let mut text = String::new();
        let shown: Vec<_> = loaded
            .diagnostics
            .iter()
            .filter(|d| !global.quiet || d.severity == Severity::Error)
            .cloned()
            .collect();
        text.push_str(&diag::render_human(&shown, &loaded.sources, false));
        if let Some(pb) = &loaded.playbook {
            let errors: Vec<_> = pb
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .collect();
            text.push_str(&diag::render_human(&errors, &pb.sources, false));
        }
        let mut coloured = diag::render_human(&shown, &loaded.sources, err_colour);
        if let Some(pb) = &loaded.playbook {
            let errors: Vec<_> = pb
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .collect();
            coloured.push_str(&diag::render_human(&errors, &pb.sources, err_colour));
        }
        eprint!("{coloured}");
        match loaded.test {
            Some(t) => files.push(t),
            None => invalid.push(InvalidFile {
                path: path.display().to_string(),
                message: text,
            }),
        }
    }
    if !invalid.is_empty() {
        eprintln!(
            "error: {} invalid test file{}: nothing ran",
            invalid.len(),
            if invalid.len() == 1 { "" } else { "s" }
        );
        if let Some(j) = &args.junit
            && let Err(e) = std::fs::write(j, report::junit(&[], &[], &invalid))
        {
            eprintln!("error: cannot write `{}`: {e}", j.display());
        }
        return ExitStatus::Invalid;
    }
    init_logging(global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitStatus::Failure;
        }
    };
    let files = Arc::new(files);
    let runner = Runner::new(backend, jobs);
    let shown = Arc::clone(&files);
    let quiet = global.quiet;
    let results = runtime.block_on(runner.run_all(Arc::clone(&files), move |r| {
        let file = &shown[r.file];
        let mut out = std::io::stdout().lock();
        // `-q`: only what went wrong, and the summary.
        if quiet && !r.failed() {
            return;
        }
        let _ = writeln!(out, "{}", report::case_line(file, r, out_colour));
        let _ = write!(out, "{}", report::details(file, r, out_colour));
        let _ = out.flush();
    }));
    // Connections to emulators that are gone must not hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(200));
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", report::summary(&files, &results));
    let _ = out.flush();
    let mut status = if results.iter().any(testing::CaseResult::failed) {
        ExitStatus::Failure
    } else {
        ExitStatus::Success
    };
    if let Some(j) = &args.junit
        && let Err(e) = std::fs::write(j, report::junit(&files, &results, &[]))
    {
        eprintln!("error: cannot write `{}`: {e}", j.display());
        status = status.worst(ExitStatus::Failure);
    }
    status
}

/// With `-v`, the engine's log on stderr (cases run in parallel: their lines interleave).
fn init_logging(global: &GlobalArgs) {
    if global.verbose == 0 {
        return;
    }
    let level = match global.verbose {
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::new(format!("warn,huntbook={level}"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Secrets masked, terminal escapes from data made visible (so no colour codes).
        .with_writer(crate::redact::stderr)
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .try_init();
}
