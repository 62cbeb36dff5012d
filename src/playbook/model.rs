//! The checked playbook: what validation produces and the engine runs. Nothing unchecked
//! reaches it — templates are compiled, JSONPaths parsed, durations and enums typed, secret
//! references resolved to where they are read — and every step and templated field keeps its
//! span, so run-time errors can point back at the file.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::jsonpath::JsonPath;
use crate::source::{SourceMap, Span};
use crate::template::types::ValueType;
use crate::template::{Field, Reference};

/// Input values are typed and parsed by the template layer, so `run`, `plan` and validation
/// share one parser.
pub use crate::template::value::InputValue;

pub use super::enums::{
    ActionType, Api, AuthContext, Choice, Classification, Cloud, Determination, IncidentSeverity,
    IncidentStatus, IsolationType, Method, OnError, OutputFormat, ScanType,
};
use super::yaml::{Style, locate_range};

/// A validated playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    /// Identifier-like name; keys the state file and the report.
    pub name: String,
    pub description: Option<String>,
    /// Declared inputs, in file order.
    pub inputs: Vec<Input>,
    pub defaults: Defaults,
    /// The most response actions one run may perform.
    pub max_targets: u32,
    /// Top-level steps, in order.
    pub steps: Vec<Step>,
    /// The playbook file and every file it includes; spans index into it.
    pub sources: Arc<SourceMap>,
    /// The playbook's path as given.
    pub path: PathBuf,
    /// The folder files the playbook *reads* resolve against.
    pub base_dir: PathBuf,
}

/// `defaults:` — applied to every step that does not set its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Defaults {
    pub timeout: Option<Duration>,
    pub on_error: Option<OnError>,
}

/// A declared input.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub name: String,
    pub ty: ValueType,
    pub default: Option<InputValue>,
    /// A required input has no default and must be given with `--input`.
    pub required: bool,
    pub description: Option<String>,
    /// `enum:` — the only values allowed, when given.
    pub allowed: Option<Vec<InputValue>>,
    /// The input's key in `inputs:`.
    pub span: Span,
}

/// A compiled template or expression with where it came from.
#[derive(Debug, Clone)]
pub struct TemplateField {
    /// Shared: a compiled field is large, and steps are cloned per `for_each` iteration.
    pub field: Arc<Field>,
    /// The scalar's span in its file (for quoted scalars, with the quotes).
    pub span: Span,
    /// How the scalar was written, to map offsets inside it back to the file.
    pub style: Style,
}

impl TemplateField {
    /// The field's text.
    #[must_use]
    pub fn source(&self) -> &str {
        self.field.source()
    }

    /// Whether it is plain text with nothing to render.
    #[must_use]
    pub fn is_literal(&self) -> bool {
        self.field.is_literal()
    }

    /// The file span of a byte range inside the field's text (e.g. a `TemplateError.range`
    /// or a `Reference.range`), following block-scalar indentation and quoted-scalar escapes.
    #[must_use]
    pub fn locate(&self, sources: &SourceMap, range: Range<usize>) -> Span {
        locate_range(
            sources.slice(self.span),
            self.span,
            self.style,
            self.field.source(),
            range,
        )
    }

    /// The names the field reads.
    #[must_use]
    pub fn references(&self) -> Vec<Reference> {
        self.field.references()
    }
}

/// A value that is either known now or rendered from a template at run time.
#[derive(Debug, Clone)]
pub enum Templated<T> {
    Literal(T),
    Template(TemplateField),
}

/// A secret reference: where the engine reads the secret at run time. Never the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// `{env: NAME}`: the environment variable `NAME`.
    Env(String),
    /// `{file: PATH}`: the file's contents, trailing newline removed (resolved against the
    /// playbook's folder).
    File(PathBuf),
}

impl SecretRef {
    /// How plans and logs show it: `<secret from env AZURE_CLIENT_SECRET>`.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            SecretRef::Env(name) => format!("<secret from env {name}>"),
            SecretRef::File(path) => format!("<secret from file {}>", path.display()),
        }
    }
}

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: Option<String>,
    /// Human label (a text template).
    pub name: Option<TemplateField>,
    pub when: Option<Condition>,
    pub for_each: Option<ForEach>,
    /// Iterations at once (1 without `for_each`).
    pub concurrency: u32,
    /// Effective timeout: the step's, else `defaults.timeout`.
    pub timeout: Option<Duration>,
    /// Effective error policy: the step's, else `defaults.on_error`, else `fail`.
    pub on_error: OnError,
    pub kind: StepKind,
    /// The step's mapping.
    pub span: Span,
    /// The kind key (`hunt:`), the natural place to point at "this step".
    pub kind_span: Span,
    /// Where the step sits, e.g. `steps[2]` or `steps[4].steps[0]`.
    pub route: String,
}

/// `when:`
#[derive(Debug, Clone)]
pub enum Condition {
    Literal(bool),
    Expr(TemplateField),
}

/// `for_each:`
#[derive(Debug, Clone)]
pub enum ForEach {
    /// An expression giving a list.
    Expr(TemplateField),
    /// A literal YAML list.
    List(Vec<serde_json::Value>, Span),
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepKind {
    Authenticate(Authenticate),
    Hunt(Hunt),
    Incidents(Incidents),
    MachineAction(MachineAction),
    Request(Request),
    Filter(Filter),
    Set(SetVars),
    Output(Output),
    Assert(Assert),
    /// A block of steps run in order (per iteration with `for_each`).
    Steps(Vec<Step>),
    /// Steps run concurrently.
    Parallel(Vec<Step>),
}

/// The name of a step kind, as written in playbooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KindName {
    Authenticate,
    Hunt,
    Incidents,
    MachineAction,
    Request,
    Filter,
    Set,
    Output,
    Assert,
    Steps,
    Parallel,
}

impl KindName {
    /// Every kind, in documentation order.
    pub const ALL: &'static [KindName] = &[
        KindName::Authenticate,
        KindName::Hunt,
        KindName::Incidents,
        KindName::MachineAction,
        KindName::Request,
        KindName::Filter,
        KindName::Set,
        KindName::Output,
        KindName::Assert,
        KindName::Steps,
        KindName::Parallel,
    ];

    /// The kind key.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            KindName::Authenticate => "authenticate",
            KindName::Hunt => "hunt",
            KindName::Incidents => "incidents",
            KindName::MachineAction => "machine_action",
            KindName::Request => "request",
            KindName::Filter => "filter",
            KindName::Set => "set",
            KindName::Output => "output",
            KindName::Assert => "assert",
            KindName::Steps => "steps",
            KindName::Parallel => "parallel",
        }
    }

    /// The kind for a key.
    #[must_use]
    pub fn from_key(key: &str) -> Option<KindName> {
        KindName::ALL.iter().copied().find(|k| k.as_str() == key)
    }

    /// Outputs every step has, besides its kind's.
    pub const COMMON_OUTPUTS: &'static [&'static str] = &["outcome", "error", "skipped"];

    /// The outputs (`steps.<id>.…`) the kind produces.
    #[must_use]
    pub fn outputs(self) -> &'static [&'static str] {
        match self {
            KindName::Authenticate => &[
                "context",
                "tenant_id",
                "client_id",
                "expires_at",
                "permissions",
                "principal",
            ],
            KindName::Hunt => &["results", "schema", "stats", "count", "truncated"],
            KindName::Incidents => &["items", "count", "incident"],
            KindName::MachineAction => &["action", "changed"],
            KindName::Request => &["status", "body", "items"],
            KindName::Filter => &["items", "count"],
            KindName::Output => &["path", "bytes"],
            KindName::Set | KindName::Assert | KindName::Parallel => &[],
            KindName::Steps => &["iterations"],
        }
    }

    /// With `for_each`, the outputs that stay available directly: list outputs are
    /// concatenated across iterations and `count` is their total; the rest live in
    /// `iterations`.
    #[must_use]
    pub fn loop_outputs(self) -> &'static [&'static str] {
        match self {
            KindName::Hunt => &["results", "count", "iterations"],
            KindName::Incidents | KindName::Filter => &["items", "count", "iterations"],
            KindName::Request => &["items", "iterations"],
            _ => &["iterations"],
        }
    }
}

impl std::fmt::Display for KindName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl StepKind {
    /// The kind's name.
    #[must_use]
    pub fn name(&self) -> KindName {
        match self {
            StepKind::Authenticate(_) => KindName::Authenticate,
            StepKind::Hunt(_) => KindName::Hunt,
            StepKind::Incidents(_) => KindName::Incidents,
            StepKind::MachineAction(_) => KindName::MachineAction,
            StepKind::Request(_) => KindName::Request,
            StepKind::Filter(_) => KindName::Filter,
            StepKind::Set(_) => KindName::Set,
            StepKind::Output(_) => KindName::Output,
            StepKind::Assert(_) => KindName::Assert,
            StepKind::Steps(_) => KindName::Steps,
            StepKind::Parallel(_) => KindName::Parallel,
        }
    }
}

/// `authenticate:`
#[derive(Debug, Clone)]
pub struct Authenticate {
    pub context: AuthContext,
    /// Absent: `AZURE_TENANT_ID`.
    pub tenant_id: Option<TemplateField>,
    /// Absent: `AZURE_CLIENT_ID`.
    pub client_id: Option<TemplateField>,
    pub credential: Credential,
    pub cloud: Cloud,
}

/// How `authenticate` proves who it is.
#[derive(Debug, Clone)]
pub enum Credential {
    /// Application context with a client secret.
    ClientSecret(SecretRef),
    /// Application context with a certificate (PEM with the private key), signing a client
    /// assertion.
    Certificate {
        /// Resolved against the playbook's folder.
        path: PathBuf,
        /// The private key's password, when it is encrypted.
        password: Option<SecretRef>,
    },
    /// Application context with nothing in the playbook: `AZURE_CLIENT_SECRET`, else
    /// `AZURE_CLIENT_CERTIFICATE_PATH`, at run time.
    Environment,
    /// User context, device code flow (prints a code and URL on stderr).
    DeviceCode { token_cache: Option<PathBuf> },
    /// User context, resource owner password credentials.
    Password {
        username: TemplateField,
        password: SecretRef,
        token_cache: Option<PathBuf>,
    },
}

/// `hunt:`
#[derive(Debug, Clone)]
pub struct Hunt {
    /// The KQL, compiled with KQL-literal interpolation (inline or from `query_file`).
    pub query: TemplateField,
    /// The `query_file` it came from, resolved against the playbook's folder.
    pub query_file: Option<PathBuf>,
    pub api: Api,
    /// Graph only.
    pub timespan: Option<Timespan>,
}

/// `hunt.timespan` (Graph `Timespan`).
#[derive(Debug, Clone)]
pub enum Timespan {
    /// Back from now: sent as ISO 8601 `P…`.
    Duration(Duration),
    /// An ISO 8601 interval or duration, passed through as written.
    Iso(String),
    Template(TemplateField),
}

/// `incidents:`
#[derive(Debug, Clone)]
pub struct Incidents {
    pub api: Api,
    pub op: IncidentsOp,
}

/// The incidents operation.
#[derive(Debug, Clone)]
pub enum IncidentsOp {
    List(IncidentList),
    Get { id: TemplateField },
    Update(IncidentUpdate),
}

/// `incidents.list:`
#[derive(Debug, Clone, Default)]
pub struct IncidentList {
    /// Raw OData `$filter`, ANDed with the others.
    pub filter: Option<TemplateField>,
    /// At most this many incidents (paging stops there).
    pub top: Option<u32>,
    /// Only incidents updated since then.
    pub since: Option<Since>,
    /// Any of these statuses.
    pub status: Vec<IncidentStatus>,
    /// Any of these severities.
    pub severity: Vec<IncidentSeverity>,
}

/// `incidents.list.since`
#[derive(Debug, Clone)]
pub enum Since {
    /// That long before the run started.
    Ago(Duration),
    At(DateTime<Utc>),
    /// Renders to a datetime or a duration.
    Template(TemplateField),
}

/// `incidents.update:`
#[derive(Debug, Clone)]
pub struct IncidentUpdate {
    pub id: TemplateField,
    pub status: Option<Templated<IncidentStatus>>,
    pub assigned_to: Option<TemplateField>,
    pub classification: Option<Templated<Classification>>,
    pub determination: Option<Templated<Determination>>,
    pub tags: Option<Vec<TemplateField>>,
    pub comment: Option<TemplateField>,
}

/// `machine_action:`
#[derive(Debug, Clone)]
pub struct MachineAction {
    pub action: ActionType,
    pub machine_id: TemplateField,
    pub comment: TemplateField,
    /// `isolate` only (default `full`).
    pub isolation_type: Option<IsolationType>,
    /// `run_av_scan` only (default `quick`).
    pub scan_type: Option<ScanType>,
    /// Poll the action until it ends.
    pub wait: bool,
    /// How long `wait` polls before failing.
    pub wait_timeout: Duration,
}

/// `request:`
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub api: Api,
    pub path: TemplateField,
    /// Query-string parameters.
    pub query: Vec<(String, TemplateField)>,
    /// Extra request headers (never `Authorization`).
    pub headers: Vec<(String, TemplateField)>,
    pub body: Option<TemplateValue>,
    /// Follow `@odata.nextLink`, collecting `value` into `items`.
    pub paginate: bool,
    /// Acceptable statuses; empty means any 2xx.
    pub expect: Vec<u16>,
}

/// `filter:`
#[derive(Debug, Clone)]
pub struct Filter {
    pub input: TemplateField,
    pub jsonpath: Option<CompiledPath>,
    pub dedupe: Option<Dedupe>,
}

/// A JSONPath with its span.
#[derive(Debug, Clone)]
pub struct CompiledPath {
    pub path: JsonPath,
    pub span: Span,
}

/// `filter.dedupe:` — keys remembered across runs in the state.
#[derive(Debug, Clone)]
pub struct Dedupe {
    /// Evaluated per element, with the element bound to `item`.
    pub key: TemplateField,
    /// How long a key is remembered.
    pub window: Duration,
}

/// `set:`
#[derive(Debug, Clone)]
pub struct SetVars {
    pub vars: Vec<(String, TemplateValue, Span)>,
}

/// A YAML value whose strings are templates (`set` values, `request.body`).
#[derive(Debug, Clone)]
pub enum TemplateValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(TemplateField),
    List(Vec<TemplateValue>),
    Map(Vec<(String, TemplateValue)>),
}

impl TemplateValue {
    /// Every template field inside, depth first.
    #[must_use]
    pub fn fields(&self) -> Vec<&TemplateField> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a TemplateField>) {
        match self {
            TemplateValue::Text(f) => out.push(f),
            TemplateValue::List(items) => items.iter().for_each(|v| v.collect_fields(out)),
            TemplateValue::Map(entries) => entries.iter().for_each(|(_, v)| v.collect_fields(out)),
            _ => {}
        }
    }
}

/// `output:`
#[derive(Debug, Clone)]
pub struct Output {
    /// Absent: stdout.
    pub path: Option<TemplateField>,
    pub format: OutputFormat,
    pub content: OutputContent,
    pub append: bool,
    /// CSV column order.
    pub columns: Option<Vec<String>>,
}

/// What an `output` step writes.
#[derive(Debug, Clone)]
pub enum OutputContent {
    /// `data:` serialised as json, jsonl or csv.
    Data(TemplateField),
    /// `template:` or `template_file:` rendered as text or markdown.
    Template {
        template: TemplateField,
        /// The `template_file` it came from.
        file: Option<PathBuf>,
    },
}

/// `assert:`
#[derive(Debug, Clone)]
pub struct Assert {
    pub that: Vec<TemplateField>,
    pub message: Option<TemplateField>,
}

/// A resource (token audience) permissions belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Microsoft Graph.
    Graph,
    /// Defender XDR API ("Microsoft Threat Protection").
    DefenderXdr,
    /// Defender for Endpoint API ("WindowsDefenderATP").
    Endpoint,
}

impl Resource {
    /// The token audience of the resource.
    #[must_use]
    pub fn audience(self) -> crate::auth::Audience {
        use crate::auth::Audience;
        match self {
            Resource::Graph => Audience::Graph,
            Resource::DefenderXdr => Audience::Defender,
            Resource::Endpoint => Audience::Endpoint,
        }
    }

    /// The API's display name in the Entra portal.
    #[must_use]
    pub fn display(self) -> &'static str {
        match self {
            Resource::Graph => "Microsoft Graph",
            Resource::DefenderXdr => "Microsoft Threat Protection",
            Resource::Endpoint => "WindowsDefenderATP",
        }
    }
}

/// One permission a step needs: any one of the application roles (application context) or
/// of the delegated scopes (user context) satisfies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub resource: Resource,
    pub application: Vec<&'static str>,
    pub delegated: Vec<&'static str>,
    /// The call that needs it, e.g. `POST /security/runHuntingQuery`.
    pub call: String,
}

/// The permission a call needs, from the one table of what each API call needs
/// ([`crate::auth::permissions::required`]); `None` for a call the table does not know.
fn call_permission(
    resource: Resource,
    method: &str,
    path: &str,
    call: impl Into<String>,
) -> Option<Permission> {
    let req = crate::auth::permissions::required(resource.audience(), method, path)?;
    Some(Permission {
        resource,
        application: req.application.to_vec(),
        delegated: req.delegated.to_vec(),
        call: call.into(),
    })
}

impl Step {
    /// How messages name the step: its id, else its kind and route.
    #[must_use]
    pub fn label(&self) -> String {
        match &self.id {
            Some(id) => format!("`{id}`"),
            None => format!("`{}` step at {}", self.kind.name(), self.route),
        }
    }

    /// Whether the step is a response action (guarded by `--allow-actions` and
    /// `max_targets`): a machine action, an incident update, a non-GET request.
    #[must_use]
    pub fn is_response_action(&self) -> bool {
        match &self.kind {
            StepKind::MachineAction(_) => true,
            StepKind::Incidents(i) => matches!(i.op, IncidentsOp::Update(_)),
            StepKind::Request(r) => r.method != Method::Get,
            _ => false,
        }
    }

    /// Child steps of a `steps` block or a `parallel` group.
    #[must_use]
    pub fn children(&self) -> &[Step] {
        match &self.kind {
            StepKind::Steps(s) | StepKind::Parallel(s) => s,
            _ => &[],
        }
    }

    /// The permissions this step itself needs (not its children's): the calls the step
    /// makes, looked up in [`crate::auth::permissions`] (defender-api.md §2).
    #[must_use]
    pub fn required_permissions(&self) -> Vec<Permission> {
        let calls: Vec<(Resource, &str, String, String)> = match &self.kind {
            StepKind::Hunt(h) => {
                let (resource, path) = match h.api {
                    Api::Defender => (Resource::DefenderXdr, "/api/advancedhunting/run"),
                    Api::Endpoint => (Resource::Endpoint, "/api/advancedqueries/run"),
                    Api::Graph => (Resource::Graph, "/security/runHuntingQuery"),
                };
                vec![(resource, "POST", path.to_string(), format!("POST {path}"))]
            }
            StepKind::Incidents(i) => {
                let (resource, base) = match i.api {
                    Api::Defender => (Resource::DefenderXdr, "/api/incidents"),
                    Api::Graph | Api::Endpoint => (Resource::Graph, "/security/incidents"),
                };
                let one = format!("{base}/{{id}}");
                match &i.op {
                    IncidentsOp::Update(u) => {
                        // Graph records a comment with a second call needing the same
                        // permission: one line in the plan names both.
                        let call = if resource == Resource::Graph && u.comment.is_some() {
                            format!("PATCH {one} + POST {one}/comments")
                        } else {
                            format!("PATCH {one}")
                        };
                        vec![(resource, "PATCH", one, call)]
                    }
                    IncidentsOp::Get { .. } => {
                        vec![(resource, "GET", one.clone(), format!("GET {one}"))]
                    }
                    IncidentsOp::List(_) => {
                        vec![(resource, "GET", base.to_string(), format!("GET {base}"))]
                    }
                }
            }
            StepKind::MachineAction(m) => {
                let path = format!("/api/machines/{{id}}/{}", m.action.mde_path());
                vec![
                    (
                        Resource::Endpoint,
                        "POST",
                        path.clone(),
                        format!("POST {path}"),
                    ),
                    // Idempotency checks (and `wait`) read the machine's pending actions.
                    (
                        Resource::Endpoint,
                        "GET",
                        "/api/machineactions".to_string(),
                        "GET /api/machineactions".to_string(),
                    ),
                ]
            }
            StepKind::Request(r) => {
                let resource = match r.api {
                    Api::Graph => Resource::Graph,
                    Api::Defender => Resource::DefenderXdr,
                    Api::Endpoint => Resource::Endpoint,
                };
                let path = r.path.source();
                vec![(
                    resource,
                    r.method.name(),
                    path.to_string(),
                    format!("{} {path}", r.method.name()),
                )]
            }
            _ => Vec::new(),
        };
        let mut out: Vec<Permission> = calls
            .into_iter()
            .filter_map(|(resource, method, path, call)| {
                call_permission(resource, method, &path, call)
            })
            .collect();
        out.dedup();
        out
    }
}

impl Playbook {
    /// Every step, depth first in file order (blocks and parallel groups before their
    /// children).
    #[must_use]
    pub fn all_steps(&self) -> Vec<&Step> {
        fn walk<'a>(steps: &'a [Step], out: &mut Vec<&'a Step>) {
            for s in steps {
                out.push(s);
                walk(s.children(), out);
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut out);
        out
    }

    /// The steps that are response actions (machine actions, incident updates, non-GET
    /// requests), wherever they are nested: `run` refuses them without `--allow-actions`.
    #[must_use]
    pub fn response_actions(&self) -> Vec<&Step> {
        self.all_steps()
            .into_iter()
            .filter(|s| s.is_response_action())
            .collect()
    }

    /// The step with `id`.
    #[must_use]
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.all_steps()
            .into_iter()
            .find(|s| s.id.as_deref() == Some(id))
    }

    /// Every permission any step needs, without duplicates, in step order.
    #[must_use]
    pub fn required_permissions(&self) -> Vec<Permission> {
        let mut out: Vec<Permission> = Vec::new();
        for s in self.all_steps() {
            for p in s.required_permissions() {
                if !out
                    .iter()
                    .any(|q| q.resource == p.resource && q.application == p.application)
                {
                    out.push(p);
                }
            }
        }
        out
    }

    /// The declared input named `name`.
    #[must_use]
    pub fn input(&self, name: &str) -> Option<&Input> {
        self.inputs.iter().find(|i| i.name == name)
    }
}
