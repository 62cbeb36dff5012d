//! The run engine: executes a checked [`Playbook`] through one [`Connection`] (the shared HTTP
//! client and token store) and returns a [`RunReport`] — results are data; the human summary,
//! the JSON report, the log events and the exit code are all derived from the report.
//!
//! ```text
//! inputs::resolve ─► checks (response actions) ─► Engine::run ─► flow (steps, loops, groups)
//!                                                          └─► steps::<kind> ─► Connection
//! ```
//!
//! The user documentation is `docs/running.md`.

pub mod checks;
pub mod connection;
pub mod error;
mod flow;
pub mod inputs;
pub mod live;
pub mod render;
pub mod report;
pub mod scope;
mod steps;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};

pub use connection::{CallStats, Connection};
pub use error::{ErrorKind, StepError};
pub use inputs::Inputs;
pub use report::{Interruption, RunReport, Status, StepReport};
pub use steps::{PlannedWrite, hunt_data, hunt_data_from_json};

use crate::playbook::{Condition, Playbook, Step, TemplateField};
use crate::signals::Cancellation;
use crate::state::StateStore;
use crate::template::Value;
use scope::{Frame, RunValues};

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run's environment: `env.*` in templates and `{env: NAME}` secret references. The
    /// process environment, plus what `--emulator` supplies.
    pub env: BTreeMap<String, String>,
    /// Perform every read, send no write, write no file, save no state.
    pub dry_run: bool,
    /// Response actions were allowed (`--allow-actions` or a confirmation).
    pub allow_actions: bool,
    /// `run.started_at`, and the engine's frozen `now()`.
    pub started_at: DateTime<Utc>,
    /// `run.id`.
    pub run_id: String,
    /// Where relative `output.path`s are written (the working directory).
    pub workdir: PathBuf,
    /// How long in-flight calls may finish after a stop signal.
    pub grace: std::time::Duration,
}

impl RunOptions {
    /// Options for a run started now, in the current directory, with this environment.
    #[must_use]
    pub fn new(env: BTreeMap<String, String>) -> RunOptions {
        RunOptions {
            env,
            dry_run: false,
            allow_actions: false,
            started_at: Utc::now(),
            run_id: uuid::Uuid::new_v4().to_string(),
            workdir: PathBuf::from("."),
            grace: crate::signals::DEFAULT_GRACE_PERIOD,
        }
    }
}

/// Watches steps start and finish (the terminal progress display). Every method has a no-op
/// default.
pub trait Observer: Send + Sync {
    /// A step (or its first iteration) starts.
    fn step_started(&self, _step: &Step, _label: &str, _name: Option<&str>) {}
    /// A step was skipped by its `when`.
    fn step_skipped(&self, _step: &Step, _label: &str) {}
    /// A step finished (all its iterations).
    fn step_finished(&self, _step: &Step, _label: &str, _report: &StepReport) {}
    /// A dry run would have sent this write.
    fn would_send(&self, _step: &Step, _label: &str, _write: &PlannedWrite) {}
}

struct Quiet;
impl Observer for Quiet {}

/// Where `output` steps without a `path` write: the process's stdout, or a buffer in tests.
pub type Stdout = Arc<Mutex<Box<dyn Write + Send>>>;

/// What a run leaves behind.
#[derive(Debug, Clone)]
pub struct RunOutput {
    /// The record of what the run did.
    pub report: RunReport,
    /// `steps` as the run's top level left it: a map of step id to that step's outputs, for
    /// every top-level step with an id that ran (a failed one included, with its `error`) —
    /// also when the run stopped early. Values are shared handles, never copies: a hunt's
    /// rows stay rows until someone converts them ([`crate::template::value::to_json`]).
    pub steps: Value,
    /// `vars` as the run's top level left it (a `set` inside a block included, as the
    /// language makes it visible after the block).
    pub vars: Value,
}

/// Runs playbooks through one connection.
pub struct Engine {
    conn: Arc<dyn Connection>,
    stdout: Stdout,
    observer: Arc<dyn Observer>,
    cancel: Cancellation,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// The run-wide context every step reads.
pub(crate) struct Ctx<'a> {
    pub playbook: &'a Playbook,
    pub templates: crate::template::Engine,
    pub conn: &'a dyn Connection,
    pub run: RunValues,
    pub options: &'a RunOptions,
    pub cancel: &'a Cancellation,
    pub observer: &'a dyn Observer,
    pub stdout: &'a Stdout,
    /// Response actions sent so far (`max_targets`).
    pub actions: AtomicU32,
    /// The playbook's state, locked for this run (`filter.dedupe` remembers keys in it).
    pub state: Mutex<Option<StateStore>>,
    /// Without a state store (tests, embedding): dedupe keys seen in this run only.
    pub seen: Mutex<BTreeSet<(String, String)>>,
    /// Writes a dry run did not send, by step instance label.
    pub planned: Mutex<Vec<(String, PlannedWrite)>>,
}

impl Ctx<'_> {
    /// Render a field to a value (a single expression keeps its type).
    pub fn render(
        &self,
        scope: &Value,
        field: &TemplateField,
        what: &str,
    ) -> Result<Value, StepError> {
        self.templates
            .render(&field.field, scope)
            .map_err(|e| StepError::template(field, &self.playbook.sources, what, &e))
    }

    /// Render a field that must be text.
    pub fn render_text(
        &self,
        scope: &Value,
        field: &TemplateField,
        what: &str,
    ) -> Result<String, StepError> {
        self.templates
            .render_string(&field.field, scope)
            .map_err(|e| StepError::template(field, &self.playbook.sources, what, &e))
    }

    /// Evaluate a `when`.
    pub fn condition(&self, scope: &Value, cond: &Condition) -> Result<bool, StepError> {
        match cond {
            Condition::Literal(b) => Ok(*b),
            Condition::Expr(field) => self.render(scope, field, "`when`").map(|v| v.is_true()),
        }
    }
}

impl Engine {
    /// An engine using `conn` for every API call, writing stdout outputs to the process's
    /// stdout.
    #[must_use]
    pub fn new(conn: Arc<dyn Connection>) -> Engine {
        Engine {
            conn,
            stdout: Arc::new(Mutex::new(Box::new(std::io::stdout()))),
            observer: Arc::new(Quiet),
            cancel: Cancellation::new(),
        }
    }

    /// Write stdout outputs somewhere else.
    #[must_use]
    pub fn with_stdout(mut self, stdout: Stdout) -> Engine {
        self.stdout = stdout;
        self
    }

    /// Report progress to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Engine {
        self.observer = observer;
        self
    }

    /// Stop runs through `cancel` (the process's signal handle, or a test's).
    #[must_use]
    pub fn with_cancel(mut self, cancel: Cancellation) -> Engine {
        self.cancel = cancel;
        self
    }

    /// The handle that stops this engine's runs.
    #[must_use]
    pub fn cancel_handle(&self) -> Cancellation {
        self.cancel.clone()
    }

    /// Run `playbook` with `inputs`. Never fails: every failure is in the report, and the
    /// final top-level `steps` and `vars` come back beside it however the run ended. With a
    /// `state` store (opened, so locked, for this run), `state.*` reads it, `filter.dedupe`
    /// remembers keys in it, and it is saved when — and only when — the run succeeds and is
    /// not a dry run.
    pub async fn run(
        &self,
        playbook: &Playbook,
        inputs: &Inputs,
        options: &RunOptions,
        state: Option<StateStore>,
    ) -> RunOutput {
        let clock = Instant::now();
        // Secrets in the environment are masked in outputs, the report, logs and errors.
        crate::redact::register_env(&options.env);
        let env = Value::from_pairs(
            options
                .env
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.clone()))),
        );
        let run = Value::from_pairs([
            ("id", Value::from(options.run_id.clone())),
            (
                "started_at",
                crate::template::value::datetime(options.started_at),
            ),
            ("playbook", Value::from(playbook.name.clone())),
        ]);
        let ctx = Ctx {
            playbook,
            templates: crate::template::Engine::new().with_now(options.started_at),
            conn: self.conn.as_ref(),
            run: RunValues {
                inputs: inputs.to_value(),
                env,
                run,
                state: state.as_ref().map_or_else(
                    || Value::from_pairs(Vec::<(String, Value)>::new()),
                    StateStore::scope,
                ),
            },
            options,
            cancel: &self.cancel,
            observer: self.observer.as_ref(),
            stdout: &self.stdout,
            actions: AtomicU32::new(0),
            state: Mutex::new(state),
            seen: Mutex::new(BTreeSet::new()),
            planned: Mutex::new(Vec::new()),
        };
        tracing::info!(
            event = "run_start",
            playbook = %playbook.name,
            file = %playbook.path.display(),
            run_id = %options.run_id,
            dry_run = options.dry_run,
            "run of {} started", playbook.name
        );
        let root = Frame::root();
        let seq = flow::run_sequence(&ctx, &root, &playbook.steps, ("", "")).await;
        // The scope a template after the last step would see; building it copies handles.
        let last = root.scope(&ctx.run);
        let steps = last.get_attr("steps").unwrap_or_default();
        let vars = last.get_attr("vars").unwrap_or_default();
        let mut api = CallStats::default();
        for s in &seq.reports {
            api.merge(&s.api);
        }
        let mut report = RunReport {
            duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            api,
            error: seq.stop,
            interrupted: self.cancel.signal().map(Interruption::from),
            ..unfinished_report(playbook, inputs, options, seq.reports)
        };
        report.finish();
        let store = ctx
            .state
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        report.state = store.map(|store| save_state(store, &mut report, options));
        tracing::info!(
            event = "run_end",
            playbook = %playbook.name,
            run_id = %options.run_id,
            outcome = report.outcome,
            exit_code = report.exit_code,
            duration_ms = report.duration_ms,
            ok = report.tally.ok,
            changed = report.tally.changed,
            skipped = report.tally.skipped,
            failed = report.tally.failed,
            api_calls = report.api.calls,
            throttled = report.api.throttled,
            "run of {} ended: {}", playbook.name, report.outcome
        );
        RunOutput {
            report,
            steps,
            vars,
        }
    }
}

/// The report of a run stopped before its first step — its state could not be opened (the
/// playbook is already running, the state file is corrupt or unreadable): every top-level
/// step skipped, `error` saying why, so `--report` is written whatever the outcome.
#[must_use]
pub fn report_not_started(
    playbook: &Playbook,
    inputs: &Inputs,
    options: &RunOptions,
    error: report::ErrorReport,
    state: Option<report::StateReport>,
) -> RunReport {
    let reason = format!("the run stopped before its first step: {}", error.label);
    let steps = playbook
        .steps
        .iter()
        .map(|step| {
            let mut r = flow::step_report(step, &playbook.sources);
            r.status = Status::Skipped;
            r.reason = Some(reason.clone());
            r
        })
        .collect();
    let mut report = RunReport {
        error: Some(error),
        state,
        ..unfinished_report(playbook, inputs, options, steps)
    };
    report.finish();
    report
}

/// A run's report with its identity and steps, finished now, before `finish` derives the
/// tally, outcome and exit code; the rest (calls, error, state) left empty for the caller.
fn unfinished_report(
    playbook: &Playbook,
    inputs: &Inputs,
    options: &RunOptions,
    steps: Vec<report::StepReport>,
) -> RunReport {
    RunReport {
        huntbook: env!("CARGO_PKG_VERSION"),
        playbook: playbook.name.clone(),
        file: playbook.path.display().to_string(),
        run_id: options.run_id.clone(),
        started_at: options.started_at,
        finished_at: Utc::now(),
        duration_ms: 0,
        outcome: "",
        exit_code: 0,
        dry_run: options.dry_run,
        inputs: inputs.to_json(),
        tally: report::Tally::default(),
        api: CallStats::default(),
        error: None,
        interrupted: None,
        state: None,
        steps,
    }
}

/// Save the state of a successful, real run (and say so in the report); leave it untouched
/// otherwise. Failing to save fails the run: the next one would repeat this window.
fn save_state(
    store: StateStore,
    report: &mut RunReport,
    options: &RunOptions,
) -> report::StateReport {
    let path = store.path().display().to_string();
    let mut warnings: Vec<String> = store.warnings().iter().map(ToString::to_string).collect();
    if !report.succeeded() || options.dry_run {
        let why = if options.dry_run {
            "a dry run saves no state"
        } else {
            "the run did not succeed: the next run starts from the same point"
        };
        tracing::info!(event = "state_kept", path = %path, "state not saved: {why}");
        return report::StateReport {
            path,
            saved: false,
            keys: None,
            warnings,
        };
    }
    match store.commit(options.started_at, &options.run_id) {
        Ok(c) => {
            warnings.extend(c.warnings.iter().map(ToString::to_string));
            tracing::info!(event = "state_saved", path = %path, keys = c.keys, "state saved");
            report::StateReport {
                path,
                saved: true,
                keys: Some(c.keys),
                warnings,
            }
        }
        Err(e) => {
            report.error = Some(report::ErrorReport {
                kind: ErrorKind::Io,
                message: format!("the run succeeded but its state could not be saved: {e}"),
                help: Some("the next run repeats this run's window; fix the state folder".into()),
                status: None,
                location: None,
                step: None,
                label: "the state".into(),
                span: None,
            });
            report.finish();
            report::StateReport {
                path,
                saved: false,
                keys: None,
                warnings,
            }
        }
    }
}
