//! The run report: the single record of what a run did. Per step its status (ok, changed,
//! skipped, failed), duration, counts, API calls and error with `file:line`; per iteration the
//! same. The human summary, the `--report` JSON, the JSON log events and the exit code are all
//! derived from it, and it is built from redacted data only — no token or secret can reach it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::connection::CallStats;
use super::error::{ErrorKind, StepError};
use crate::exit::ExitStatus;
use crate::playbook::Step;
use crate::source::{SourceMap, Span};

/// How a step (or an iteration) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Ran and succeeded, changing nothing.
    Ok,
    /// Ran and changed something (a response action was performed).
    Changed,
    /// Not run: `when` was false, or the run stopped before it.
    Skipped,
    /// Ran and failed.
    Failed,
}

impl Status {
    /// `ok`, `changed`, `skipped`, `failed`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Changed => "changed",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }

    /// The status of a group from its members': failed if any failed, changed if any
    /// changed, ok if any ran, else skipped.
    #[must_use]
    pub fn combine(statuses: impl IntoIterator<Item = Status>) -> Status {
        let mut out = Status::Skipped;
        for s in statuses {
            out = match (out, s) {
                (_, Status::Failed) | (Status::Failed, _) => Status::Failed,
                (_, Status::Changed) | (Status::Changed, _) => Status::Changed,
                (_, Status::Ok) | (Status::Ok, _) => Status::Ok,
                _ => Status::Skipped,
            };
        }
        out
    }
}

/// A position in the playbook (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The position where `span` starts.
    #[must_use]
    pub fn of(span: Span, sources: &SourceMap) -> Option<Location> {
        let f = sources.get(span.file)?;
        let lc = f.line_col(span.start);
        Some(Location {
            file: f.name(),
            line: lc.line,
            column: lc.column,
        })
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A step's error as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// The failing step's id, else its route (`steps[3]`); absent when no step failed (the
    /// state could not be saved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// How messages name the failing step ("step `hunt`", or its kind and route).
    #[serde(skip)]
    pub label: String,
    /// The span, for rendering the source snippet (not serialised).
    #[serde(skip)]
    pub span: Option<Span>,
}

impl ErrorReport {
    /// The report of `e`, raised by `step`.
    #[must_use]
    pub fn new(e: &StepError, step: &Step, sources: &SourceMap) -> ErrorReport {
        ErrorReport {
            kind: e.kind,
            message: crate::redact::redact(&e.message).into_owned(),
            help: e
                .help
                .as_deref()
                .map(|h| crate::redact::redact(h).into_owned()),
            status: e.status,
            location: e.span.and_then(|s| Location::of(s, sources)),
            step: Some(crate::engine::flow::log_name(step).to_string()),
            label: crate::engine::flow::who(step),
            span: e.span,
        }
    }
}

/// What an `output` step wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Written {
    /// The file, or `-` for stdout.
    pub path: String,
    pub bytes: u64,
}

/// One iteration of a `for_each` step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IterationReport {
    pub index: usize,
    /// The step's `name` rendered for this iteration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub status: Status,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(skip_serializing_if = "CallStats::is_empty")]
    pub api: CallStats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    /// The inner steps, for a `steps` block.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepReport>,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The step's `name`, rendered (without `for_each`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub kind: &'static str,
    /// Where the step sits: `steps[2]`, `steps[4].steps[0]`.
    pub route: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    pub status: Status,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    pub duration_ms: u64,
    /// Rows, items or incidents produced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// A hunt hit the service's row or size limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<Written>,
    /// Writes a dry run did not send (method, URL, body).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_send: Vec<super::steps::PlannedWrite>,
    /// API calls of this step (its iterations and children included).
    pub api: CallStats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    /// The step failed but `on_error: continue` let the run go on.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub continued: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iterations: Vec<IterationReport>,
    /// Children of a `steps` block (without `for_each`) or a `parallel` group.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepReport>,
}

/// Step counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub ok: usize,
    pub changed: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// Which signal interrupted a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Interruption {
    Sigint,
    Sigterm,
}

impl From<crate::signals::Signal> for Interruption {
    fn from(s: crate::signals::Signal) -> Interruption {
        match s {
            crate::signals::Signal::Interrupt => Interruption::Sigint,
            crate::signals::Signal::Terminate => Interruption::Sigterm,
        }
    }
}

/// What happened to the playbook's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateReport {
    /// The state file.
    pub path: String,
    /// Whether this run saved it (only a successful, real run does).
    pub saved: bool,
    /// Dedupe keys kept, when saved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// The huntbook version that ran it.
    pub huntbook: &'static str,
    pub playbook: String,
    pub file: String,
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// `success`, `failure`, `assert_failed`, `auth_failed`, `interrupted`, `terminated`.
    pub outcome: &'static str,
    pub exit_code: u8,
    pub dry_run: bool,
    /// The inputs the run used (typed values as text).
    pub inputs: serde_json::Map<String, serde_json::Value>,
    pub tally: Tally,
    /// API calls of the whole run.
    pub api: CallStats,
    /// The error that stopped the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<Interruption>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<StateReport>,
    pub steps: Vec<StepReport>,
}

impl RunReport {
    /// The exit status the run calls for: an interruption's, else the stopping error's,
    /// else success. Failures under `on_error: continue` do not count.
    #[must_use]
    pub fn exit_status(&self) -> ExitStatus {
        match (self.interrupted, &self.error) {
            (Some(Interruption::Sigint), _) => ExitStatus::Interrupted,
            (Some(Interruption::Sigterm), _) => ExitStatus::Terminated,
            (None, Some(e)) => e.kind.exit_status(),
            (None, None) => ExitStatus::Success,
        }
    }

    /// Set `outcome`, `exit_code` and `tally` from the rest.
    pub fn finish(&mut self) {
        let status = self.exit_status();
        self.exit_code = status.code();
        self.outcome = outcome_name(status);
        let mut tally = Tally::default();
        count(&self.steps, &mut tally);
        self.tally = tally;
    }

    /// Whether the run succeeded (exit 0).
    #[must_use]
    pub fn succeeded(&self) -> bool {
        self.exit_status() == ExitStatus::Success
    }
}

fn outcome_name(s: ExitStatus) -> &'static str {
    match s {
        ExitStatus::Success => "success",
        ExitStatus::Failure | ExitStatus::Invalid => "failure",
        ExitStatus::AssertFailed => "assert_failed",
        ExitStatus::AuthFailed => "auth_failed",
        ExitStatus::Interrupted => "interrupted",
        ExitStatus::Terminated => "terminated",
    }
}

/// Count steps by status, blocks' and groups' children included (a block's iterations'
/// inner steps too), the block itself not counted when it has children.
fn count(steps: &[StepReport], t: &mut Tally) {
    for s in steps {
        let inner: Vec<&StepReport> = s
            .steps
            .iter()
            .chain(s.iterations.iter().flat_map(|i| i.steps.iter()))
            .collect();
        if inner.is_empty() {
            match s.status {
                Status::Ok => t.ok += 1,
                Status::Changed => t.changed += 1,
                Status::Skipped => t.skipped += 1,
                Status::Failed => t.failed += 1,
            }
        } else {
            let owned: Vec<StepReport> = inner.into_iter().cloned().collect();
            count(&owned, t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(status: Status) -> StepReport {
        StepReport {
            id: None,
            name: None,
            kind: "set",
            route: "steps[0]".into(),
            location: None,
            status,
            reason: None,
            started_at: None,
            duration_ms: 0,
            count: None,
            truncated: None,
            written: None,
            would_send: Vec::new(),
            api: CallStats::default(),
            error: None,
            continued: false,
            iterations: Vec::new(),
            steps: Vec::new(),
        }
    }

    fn report(steps: Vec<StepReport>, error: Option<ErrorKind>) -> RunReport {
        let mut r = RunReport {
            huntbook: "0",
            playbook: "p".into(),
            file: "p.yaml".into(),
            run_id: "r".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            duration_ms: 0,
            outcome: "",
            exit_code: 0,
            dry_run: false,
            inputs: serde_json::Map::new(),
            tally: Tally::default(),
            api: CallStats::default(),
            error: error.map(|kind| ErrorReport {
                kind,
                message: "m".into(),
                help: None,
                status: None,
                location: None,
                step: Some("s".into()),
                label: "step `s`".into(),
                span: None,
            }),
            interrupted: None,
            state: None,
            steps,
        };
        r.finish();
        r
    }

    #[test]
    fn the_exit_code_comes_from_the_stopping_error() {
        assert_eq!(report(vec![], None).exit_code, 0);
        assert_eq!(report(vec![], Some(ErrorKind::Api)).exit_code, 1);
        let r = report(vec![], Some(ErrorKind::Assert));
        assert_eq!((r.exit_code, r.outcome), (3, "assert_failed"));
        assert_eq!(report(vec![], Some(ErrorKind::Permission)).exit_code, 4);
        let mut r = report(vec![], Some(ErrorKind::Api));
        r.interrupted = Some(Interruption::Sigterm);
        r.finish();
        assert_eq!(r.exit_code, 143);
    }

    #[test]
    fn a_continued_failure_alone_is_success() {
        let mut failed = step(Status::Failed);
        failed.continued = true;
        let r = report(vec![step(Status::Ok), failed], None);
        assert_eq!(r.exit_code, 0);
        assert_eq!(r.tally.failed, 1);
        assert_eq!(r.tally.ok, 1);
    }

    #[test]
    fn statuses_combine_to_the_most_notable() {
        use Status::*;
        assert_eq!(Status::combine([Ok, Skipped]), Ok);
        assert_eq!(Status::combine([Ok, Changed]), Changed);
        assert_eq!(Status::combine([Changed, Failed, Ok]), Failed);
        assert_eq!(Status::combine([]), Skipped);
    }

    #[test]
    fn block_children_are_tallied_instead_of_the_block() {
        let mut block = step(Status::Ok);
        block.iterations = vec![IterationReport {
            index: 0,
            name: None,
            status: Status::Ok,
            duration_ms: 0,
            count: None,
            api: CallStats::default(),
            error: None,
            steps: vec![step(Status::Ok), step(Status::Skipped)],
        }];
        let r = report(vec![block], None);
        assert_eq!((r.tally.ok, r.tally.skipped), (1, 1));
    }
}
