//! The checked model of a playbook test file (`NAME.test.yaml`): what [`check`](super::check)
//! produces from the YAML and the runner executes. Every expectation keeps the span of the
//! test-file text it came from, so a failure points at the line that expected it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::emulator::data::TenantData;
use crate::engine::Status;
use crate::jsonpath::JsonPath;
use crate::playbook::Playbook;
use crate::source::{FileId, SourceMap, Span};

/// A valid test file and the playbook it tests.
#[derive(Debug)]
pub struct TestFile {
    /// The test file's path as found (relative to where `huntbook test` was pointed).
    pub path: PathBuf,
    /// The test file's text; every span of the model points into it.
    pub sources: Arc<SourceMap>,
    /// The test file within `sources`.
    pub file: FileId,
    /// The playbook under test, loaded and validated.
    pub playbook: Arc<Playbook>,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// One test case: a set-up, one run of the playbook, and what the run must have done.
#[derive(Debug, Clone)]
pub struct Case {
    /// The case's one-line description (unique in its file).
    pub name: String,
    /// The case's `name:` value: where its one-line result and run-level failures point.
    pub span: Span,
    /// `skip:` — the case is reported as skipped, with this reason, and not run.
    pub skip: Option<String>,
    /// `--input` arguments (`name=value`) built from the typed YAML values.
    pub inputs: Vec<String>,
    /// Extra variables in the run's environment (on top of the emulator's credentials).
    pub env: BTreeMap<String, String>,
    /// The emulator the case runs against.
    pub tenant: Tenant,
    /// `allow_actions:` — as `huntbook run --allow-actions`.
    pub allow_actions: bool,
    /// Per-step fixtures, by step id.
    pub fixtures: BTreeMap<String, Fixture>,
    /// What the run must have done.
    pub expect: Expect,
    /// The longest the case may take before it fails as hung.
    pub timeout: Duration,
}

/// The emulator a case runs against.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// Seed of the synthetic tenant.
    pub seed: u64,
    /// Rows per advanced-hunting table; `None`: the emulator's default.
    pub rows: Option<usize>,
    /// A `--data`-style tenant description (from a file or inline).
    pub data: Option<Arc<TenantData>>,
    /// The registered app (display name) the run signs in as; `None`: the emulator's demo app.
    pub app: Option<String>,
    /// Rate limits (`relaxed` unless the case asks for `real` or a spec).
    pub limits: String,
    /// Emulator fault injection spec (`--faults` syntax).
    pub faults: Option<String>,
    /// How long a machine action stays `Pending`, then `InProgress` (0: actions end at once).
    pub action_step: Duration,
}

impl Default for Tenant {
    fn default() -> Tenant {
        Tenant {
            seed: 1,
            rows: None,
            data: None,
            app: None,
            limits: "relaxed".to_string(),
            faults: None,
            action_step: Duration::ZERO,
        }
    }
}

/// A fault a fixture injects into every call of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 Too Many Requests, with `Retry-After`.
    Throttle,
    /// 500 Internal Server Error.
    ServerError,
    /// No answer before the client gives up.
    Timeout,
    /// 403: the token lacks the permission.
    Forbidden,
}

impl Fault {
    /// Every fault, by its test-file spelling.
    pub const ALL: [(&'static str, Fault); 4] = [
        ("throttle", Fault::Throttle),
        ("server_error", Fault::ServerError),
        ("timeout", Fault::Timeout),
        ("forbidden", Fault::Forbidden),
    ];

    /// The test-file spelling.
    #[must_use]
    pub fn name(self) -> &'static str {
        Fault::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("fault", |(n, _)| n)
    }
}

/// What replaces the API response of a step's calls.
#[derive(Debug, Clone, PartialEq)]
pub enum Fixture {
    /// A hunt's rows (and optionally its schema; inferred from the rows when absent).
    Results {
        /// The rows, as JSON objects.
        rows: Vec<serde_json::Value>,
        /// The columns (`{name, type}`); `None`: inferred from the rows.
        schema: Option<Vec<serde_json::Value>>,
    },
    /// Every call of the step answers with this status and JSON body.
    Response {
        /// The HTTP status.
        status: u16,
        /// The JSON body (`null`: empty).
        body: serde_json::Value,
    },
    /// Every call of the step fails this way.
    Fault(Fault),
}

/// Everything a case expects of its run.
#[derive(Debug, Clone)]
pub struct Expect {
    /// The exit code `huntbook run` would have ended with (default 0), and where it is written
    /// (the case's name when defaulted).
    pub exit: (u8, Span),
    /// `expect.steps`, in file order.
    pub steps: Vec<StepExpect>,
    /// `expect.outputs`.
    pub outputs: Vec<OutputExpect>,
    /// `expect.files`.
    pub files: Vec<FileExpect>,
    /// What `output` steps without a `path` wrote.
    pub stdout: Option<Matchers>,
    /// The error that stopped the run (its message).
    pub error: Option<Matchers>,
    /// The write requests the emulator received.
    pub actions: Vec<ActionExpect>,
}

/// `expect.steps.<id>`.
#[derive(Debug, Clone)]
pub struct StepExpect {
    /// The step id.
    pub id: String,
    /// The `<id>:` key.
    pub span: Span,
    /// The status it must have ended with, and where that is written.
    pub status: Option<(Status, Span)>,
    /// The rows or items it must have produced, and where that is written.
    pub count: Option<(u64, Span)>,
    /// Matchers on the step's error message.
    pub error: Option<Matchers>,
}

/// A set of checks on one value; all must hold.
#[derive(Debug, Clone)]
pub struct Matchers {
    /// The mapping that holds them.
    pub span: Span,
    /// The checks, in file order.
    pub checks: Vec<Check>,
}

/// One check, with the span of its key and value.
#[derive(Debug, Clone)]
pub struct Check {
    /// The check's key and value.
    pub span: Span,
    /// What it checks.
    pub kind: CheckKind,
}

/// What a check asserts about its subject.
#[derive(Debug, Clone)]
pub enum CheckKind {
    /// JSON equality (numbers compare by value: `3` equals `3.0`).
    Equals(serde_json::Value),
    /// A substring of a string, an element of a list, a key of a mapping.
    Contains(serde_json::Value),
    /// A regular expression found in the string.
    Matches(regex::Regex),
    /// The value is there (or, with `false`, is not).
    Exists(bool),
    /// Elements of a list, characters of a string, keys of a mapping.
    Length(u64),
}

impl CheckKind {
    /// The key as written in the test file.
    #[must_use]
    pub fn key(&self) -> &'static str {
        match self {
            CheckKind::Equals(_) => "equals",
            CheckKind::Contains(_) => "contains",
            CheckKind::Matches(_) => "matches",
            CheckKind::Exists(_) => "exists",
            CheckKind::Length(_) => "length",
        }
    }
}

/// One segment of an output path (`steps.hunt.results[0].DeviceName`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// How an output expectation selects its value.
#[derive(Debug, Clone)]
pub enum Selector {
    /// A dotted path (`steps.noisy.count`); the text as written.
    Path(Vec<PathSeg>, String),
    /// An RFC 9535 JSONPath over `{"steps": …, "vars": …}`.
    JsonPath(JsonPath),
}

impl Selector {
    /// The selector as written.
    #[must_use]
    pub fn text(&self) -> &str {
        match self {
            Selector::Path(_, t) => t,
            Selector::JsonPath(p) => p.source(),
        }
    }
}

/// `expect.outputs[]`.
#[derive(Debug, Clone)]
pub struct OutputExpect {
    /// The expectation's mapping.
    pub span: Span,
    /// Which value.
    pub selector: Selector,
    /// What must hold of it.
    pub matchers: Matchers,
}

/// `expect.files[]`.
#[derive(Debug, Clone)]
pub struct FileExpect {
    /// The expectation's mapping.
    pub span: Span,
    /// A glob relative to the run's working directory (`*`, `?`, `**`).
    pub glob: String,
    /// Select inside the file, parsed as JSON (JSON Lines and CSV as a list of rows).
    pub jsonpath: Option<JsonPath>,
    /// What must hold of each matching file (or of the selected value).
    pub matchers: Matchers,
}

/// A kind of write request, as `expect.actions` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// `isolated`: `POST /api/machines/{id}/isolate`.
    Isolated,
    /// `unisolated`: `…/unisolate`.
    Unisolated,
    /// `scanned`: `…/runAntiVirusScan`.
    Scanned,
    /// `collected`: `…/collectInvestigationPackage`.
    Collected,
    /// `restricted`: `…/restrictCodeExecution`.
    Restricted,
    /// `unrestricted`: `…/unrestrictCodeExecution`.
    Unrestricted,
    /// `quarantined`: `…/StopAndQuarantineFile`.
    Quarantined,
    /// `incidents_updated`: an incident `PATCH`, or a comment posted to one.
    IncidentsUpdated,
    /// `alerts_updated`: an alert `PATCH`, or a comment posted to one.
    AlertsUpdated,
}

impl ActionKind {
    /// Every kind, by its test-file key.
    pub const ALL: [(&'static str, ActionKind); 9] = [
        ("isolated", ActionKind::Isolated),
        ("unisolated", ActionKind::Unisolated),
        ("scanned", ActionKind::Scanned),
        ("collected", ActionKind::Collected),
        ("restricted", ActionKind::Restricted),
        ("unrestricted", ActionKind::Unrestricted),
        ("quarantined", ActionKind::Quarantined),
        ("incidents_updated", ActionKind::IncidentsUpdated),
        ("alerts_updated", ActionKind::AlertsUpdated),
    ];

    /// The test-file key.
    #[must_use]
    pub fn key(self) -> &'static str {
        ActionKind::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("actions", |(n, _)| n)
    }

    /// Whether the targets are machines (by name or id) rather than incident or alert ids.
    #[must_use]
    pub fn on_machines(self) -> bool {
        !matches!(
            self,
            ActionKind::IncidentsUpdated | ActionKind::AlertsUpdated
        )
    }
}

/// `expect.actions`.
#[derive(Debug, Clone)]
pub enum ActionExpect {
    /// Exactly these targets got this kind of request, accepted (2xx).
    Targets {
        /// Which kind of request.
        kind: ActionKind,
        /// The key in the test file.
        span: Span,
        /// The machines (or ids) as written, each with its span.
        targets: Vec<(String, Span)>,
    },
    /// The number of write requests received, whatever their outcome.
    Writes {
        /// How many.
        count: u64,
        /// Where the number is written.
        span: Span,
    },
}
