//! The static plan (`huntbook plan`): every step in order with its fields rendered where the
//! values are known before the run (literals, inputs, defaults, `--input` overrides),
//! placeholders where they come from the API or the run, secrets redacted, response actions
//! flagged, and the permissions each step needs. No network, no environment variables read.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::template::{Engine, Value};

use super::model::{
    AuthContext, Choice, Condition, Credential, ForEach, IncidentsOp, InputValue, OutputContent,
    Permission, Playbook, SecretRef, Since, Step, StepKind, TemplateField, TemplateValue,
    Templated, Timespan,
};

/// A value in the plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum PlanValue {
    /// Known before the run: a literal or a rendered template.
    Known(serde_json::Value),
    /// Rendered at run time.
    Runtime {
        /// The template as written.
        template: String,
        /// What it reads that is only known at run time (`steps.hunt.results`, …).
        reads: Vec<String>,
    },
    /// A secret: never its value, only where it comes from.
    Secret { secret: String },
}

impl PlanValue {
    fn text(s: impl Into<String>) -> PlanValue {
        PlanValue::Known(serde_json::Value::String(s.into()))
    }
}

/// A declared input and the value the plan used.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlanInput {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    /// `null` for a required input not given with `--input`.
    pub value: Option<serde_json::Value>,
    /// `input` (from `--input`), `default`, or `missing`.
    pub source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Permissions of a step, for one API.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlanPermission {
    /// The API's name in the Entra portal.
    pub api: &'static str,
    /// Any one of these application roles (application context).
    pub application: Vec<&'static str>,
    /// Any one of these delegated scopes (user context).
    pub delegated: Vec<&'static str>,
    /// The call that needs it.
    pub call: String,
}

impl From<&Permission> for PlanPermission {
    fn from(p: &Permission) -> PlanPermission {
        PlanPermission {
            api: p.resource.display(),
            application: p.application.clone(),
            delegated: p.delegated.clone(),
            call: p.call.clone(),
        }
    }
}

/// One step of the plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlanStep {
    /// `1`, `2`, … and `4.1` inside blocks.
    pub number: String,
    pub route: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub kind: &'static str,
    /// One line saying what the step does.
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<PlanValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<PlanValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_each: Option<PlanValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    pub on_error: &'static str,
    /// Guarded by `--allow-actions` and `max_targets`.
    pub response_action: bool,
    /// The kind's fields, in documentation order (a JSON object).
    #[serde(serialize_with = "fields_as_object")]
    pub fields: Vec<(String, PlanValue)>,
    pub permissions: Vec<PlanPermission>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<PlanStep>,
}

/// The whole plan.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Plan {
    pub playbook: String,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub inputs: Vec<PlanInput>,
    pub max_targets: u32,
    /// How many steps are response actions (each may run more than once with `for_each`).
    pub response_actions: usize,
    /// Every permission the playbook needs.
    pub permissions: Vec<PlanPermission>,
    pub steps: Vec<PlanStep>,
}

pub use super::inputs::parse_inputs;

struct Planner<'a> {
    engine: &'a Engine,
    scope: Value,
}

/// Build the plan of `playbook` with the `--input` values `given`.
#[must_use]
pub fn build(playbook: &Playbook, given: &BTreeMap<String, InputValue>) -> Plan {
    let mut inputs = Vec::new();
    let mut values: BTreeMap<String, InputValue> = BTreeMap::new();
    for i in &playbook.inputs {
        let (value, source) = match (given.get(&i.name), &i.default) {
            (Some(v), _) => (Some(v.clone()), "input"),
            (None, Some(d)) => (Some(d.clone()), "default"),
            (None, None) => (None, "missing"),
        };
        if let Some(v) = &value {
            values.insert(i.name.clone(), v.clone());
        }
        inputs.push(PlanInput {
            name: i.name.clone(),
            ty: i.ty.to_string(),
            value: value.map(|v| v.to_json()),
            source,
            description: i.description.clone(),
        });
    }
    // The plan is made "now": `run.started_at`, `now()` and `ago()` render against the same
    // instant, as they will in a run started at this moment.
    let now = chrono::Utc::now();
    let engine = Engine::new().with_now(now);
    let mut run: BTreeMap<String, Value> = BTreeMap::new();
    run.insert("id".into(), Value::from("<run id>"));
    run.insert("started_at".into(), crate::template::value::datetime(now));
    run.insert("playbook".into(), Value::from(playbook.name.clone()));
    let mut scope: BTreeMap<String, Value> = BTreeMap::new();
    scope.insert("inputs".into(), super::inputs::scope_value(&values));
    scope.insert("run".into(), Value::from(run));
    let planner = Planner {
        engine: &engine,
        scope: Value::from(scope),
    };
    let steps = planner.steps(&playbook.steps, "");
    let permissions = playbook
        .required_permissions()
        .iter()
        .map(PlanPermission::from)
        .collect();
    Plan {
        playbook: playbook.name.clone(),
        file: playbook.path.display().to_string(),
        description: playbook.description.clone(),
        inputs,
        max_targets: playbook.max_targets,
        response_actions: playbook.response_actions().len(),
        permissions,
        steps,
    }
}

impl Planner<'_> {
    fn steps(&self, steps: &[Step], prefix: &str) -> Vec<PlanStep> {
        steps
            .iter()
            .enumerate()
            .map(|(i, s)| self.step(s, &format!("{prefix}{}", i + 1)))
            .collect()
    }

    /// Render a field if everything it reads is known now.
    fn value(&self, f: &TemplateField) -> PlanValue {
        if f.is_literal() {
            return PlanValue::text(f.source());
        }
        // Only what is known before the run renders: a field reading steps, vars, items,
        // state or the environment waits for the run (and the environment is never read here).
        let runtime_only = f
            .references()
            .iter()
            .any(|r| !matches!(r.root.as_str(), "inputs" | "run"));
        if runtime_only {
            return self.runtime(f);
        }
        match self.engine.render(&f.field, &self.scope) {
            Ok(v) => crate::template::value::to_json(&v)
                .map_or_else(|_| self.runtime(f), PlanValue::Known),
            Err(_) => self.runtime(f),
        }
    }

    fn runtime(&self, f: &TemplateField) -> PlanValue {
        let mut reads: Vec<String> = f
            .references()
            .iter()
            .filter(|r| r.root != "inputs")
            .map(|r| {
                std::iter::once(r.root.as_str())
                    .chain(r.path.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(".")
            })
            .collect();
        reads.dedup();
        PlanValue::Runtime {
            template: f.source().to_string(),
            reads,
        }
    }

    fn templated<T: Choice>(&self, t: &Templated<T>) -> PlanValue {
        match t {
            Templated::Literal(v) => PlanValue::text(v.name()),
            Templated::Template(f) => self.value(f),
        }
    }

    fn template_value(&self, v: &TemplateValue) -> PlanValue {
        fn known(p: PlanValue) -> Option<serde_json::Value> {
            match p {
                PlanValue::Known(v) => Some(v),
                _ => None,
            }
        }
        let json = match v {
            TemplateValue::Null => Some(serde_json::Value::Null),
            TemplateValue::Bool(b) => Some(serde_json::Value::Bool(*b)),
            TemplateValue::Int(i) => Some(serde_json::Value::from(*i)),
            TemplateValue::Float(f) => {
                serde_json::Number::from_f64(*f).map(serde_json::Value::Number)
            }
            TemplateValue::Text(f) => return self.value(f),
            TemplateValue::List(items) => items
                .iter()
                .map(|i| known(self.template_value(i)))
                .collect::<Option<Vec<_>>>()
                .map(serde_json::Value::Array),
            TemplateValue::Map(entries) => entries
                .iter()
                .map(|(k, v)| known(self.template_value(v)).map(|v| (k.clone(), v)))
                .collect::<Option<serde_json::Map<_, _>>>()
                .map(serde_json::Value::Object),
        };
        json.map_or_else(
            || {
                let fields = v.fields();
                PlanValue::Runtime {
                    template: fields
                        .iter()
                        .map(|f| f.source())
                        .collect::<Vec<_>>()
                        .join(" … "),
                    reads: fields
                        .iter()
                        .flat_map(|f| match self.runtime(f) {
                            PlanValue::Runtime { reads, .. } => reads,
                            _ => Vec::new(),
                        })
                        .collect(),
                }
            },
            PlanValue::Known,
        )
    }

    fn step(&self, s: &Step, number: &str) -> PlanStep {
        let mut fields: Vec<(String, PlanValue)> = Vec::new();
        let mut field = |k: &str, v: PlanValue| fields.push((k.to_string(), v));
        let summary = match &s.kind {
            StepKind::Authenticate(a) => {
                let how = match &a.credential {
                    Credential::ClientSecret(r) => {
                        field("client_secret", secret(r));
                        "client secret"
                    }
                    Credential::Certificate { path, password } => {
                        field("certificate", PlanValue::text(path.display().to_string()));
                        if let Some(p) = password {
                            field("certificate.password", secret(p));
                        }
                        "certificate"
                    }
                    Credential::Environment => {
                        field(
                            "credential",
                            PlanValue::text(
                                "from AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH at run time",
                            ),
                        );
                        "credential from the environment"
                    }
                    Credential::DeviceCode { token_cache } => {
                        if let Some(c) = token_cache {
                            field("token_cache", PlanValue::text(c.display().to_string()));
                        }
                        "device code sign-in"
                    }
                    Credential::Password {
                        username,
                        password,
                        token_cache,
                    } => {
                        field("username", self.value(username));
                        field("password", secret(password));
                        if let Some(c) = token_cache {
                            field("token_cache", PlanValue::text(c.display().to_string()));
                        }
                        "username and password"
                    }
                };
                field(
                    "tenant_id",
                    a.tenant_id.as_ref().map_or_else(
                        || PlanValue::text("<from env AZURE_TENANT_ID>"),
                        |f| self.value(f),
                    ),
                );
                field(
                    "client_id",
                    a.client_id.as_ref().map_or_else(
                        || PlanValue::text("<from env AZURE_CLIENT_ID>"),
                        |f| self.value(f),
                    ),
                );
                let context = match a.context {
                    AuthContext::Application => "application",
                    AuthContext::User => "user",
                };
                format!("authenticate: {context} context, {how}, {} cloud", a.cloud)
            }
            StepKind::Hunt(h) => {
                if let Some(f) = &h.query_file {
                    field("query_file", PlanValue::text(f.display().to_string()));
                }
                field("query", self.value(&h.query));
                if let Some(t) = &h.timespan {
                    field(
                        "timespan",
                        match t {
                            Timespan::Duration(d) => {
                                PlanValue::text(crate::template::types::format_duration(*d))
                            }
                            Timespan::Iso(s) => PlanValue::text(s.clone()),
                            Timespan::Template(f) => self.value(f),
                        },
                    );
                }
                format!("hunt: {}", call_of(s))
            }
            StepKind::Incidents(i) => {
                match &i.op {
                    IncidentsOp::List(l) => {
                        if let Some(f) = &l.filter {
                            field("filter", self.value(f));
                        }
                        if let Some(t) = l.top {
                            field("top", PlanValue::Known(t.into()));
                        }
                        if let Some(since) = &l.since {
                            field(
                                "since",
                                match since {
                                    Since::Ago(d) => PlanValue::text(format!(
                                        "{} before the run",
                                        crate::template::types::format_duration(*d)
                                    )),
                                    Since::At(t) => PlanValue::text(t.to_rfc3339()),
                                    Since::Template(f) => self.value(f),
                                },
                            );
                        }
                        if !l.status.is_empty() {
                            field("status", names(&l.status));
                        }
                        if !l.severity.is_empty() {
                            field("severity", names(&l.severity));
                        }
                    }
                    IncidentsOp::Get { id } => field("id", self.value(id)),
                    IncidentsOp::Update(u) => {
                        field("id", self.value(&u.id));
                        if let Some(v) = &u.status {
                            field("status", self.templated(v));
                        }
                        if let Some(v) = &u.assigned_to {
                            field("assigned_to", self.value(v));
                        }
                        if let Some(v) = &u.classification {
                            field("classification", self.templated(v));
                        }
                        if let Some(v) = &u.determination {
                            field("determination", self.templated(v));
                        }
                        if let Some(tags) = &u.tags {
                            let values: Vec<PlanValue> =
                                tags.iter().map(|t| self.value(t)).collect();
                            field("tags", list(values));
                        }
                        if let Some(v) = &u.comment {
                            field("comment", self.value(v));
                        }
                    }
                }
                let op = match i.op {
                    IncidentsOp::List(_) => "list",
                    IncidentsOp::Get { .. } => "get",
                    IncidentsOp::Update(_) => "update",
                };
                format!("incidents {op}: {}", call_of(s))
            }
            StepKind::MachineAction(m) => {
                field("machine_id", self.value(&m.machine_id));
                field("comment", self.value(&m.comment));
                if let Some(t) = m.isolation_type {
                    field("isolation_type", PlanValue::text(t.name()));
                }
                if let Some(t) = m.scan_type {
                    field("scan_type", PlanValue::text(t.name()));
                }
                if m.wait {
                    field(
                        "wait",
                        PlanValue::text(format!(
                            "until the action ends, at most {}",
                            crate::template::types::format_duration(m.wait_timeout)
                        )),
                    );
                }
                format!("machine action `{}`: {}", m.action, call_of(s))
            }
            StepKind::Request(r) => {
                field("path", self.value(&r.path));
                for (k, v) in &r.query {
                    field(&format!("query.{k}"), self.value(v));
                }
                for (k, v) in &r.headers {
                    field(&format!("headers.{k}"), self.value(v));
                }
                if let Some(b) = &r.body {
                    field("body", self.template_value(b));
                }
                if r.paginate {
                    field("paginate", PlanValue::Known(true.into()));
                }
                if !r.expect.is_empty() {
                    field(
                        "expect",
                        PlanValue::Known(
                            r.expect
                                .iter()
                                .map(|c| serde_json::Value::from(*c))
                                .collect(),
                        ),
                    );
                }
                format!("request: {} {} via {}", r.method, r.path.source(), r.api)
            }
            StepKind::Filter(f) => {
                field("input", self.value(&f.input));
                if let Some(p) = &f.jsonpath {
                    field("jsonpath", PlanValue::text(p.path.source()));
                }
                if let Some(d) = &f.dedupe {
                    field("dedupe.key", PlanValue::text(d.key.source()));
                    field(
                        "dedupe.window",
                        PlanValue::text(crate::template::types::format_duration(d.window)),
                    );
                }
                "filter".to_string()
            }
            StepKind::Set(v) => {
                for (name, value, _) in &v.vars {
                    field(&format!("vars.{name}"), self.template_value(value));
                }
                let names: Vec<String> =
                    v.vars.iter().map(|(n, _, _)| format!("vars.{n}")).collect();
                format!("set {}", names.join(", "))
            }
            StepKind::Output(o) => {
                let target = o.path.as_ref().map(|p| self.value(p));
                match &target {
                    Some(p) => field("path", p.clone()),
                    None => field("path", PlanValue::text("<stdout>")),
                }
                match &o.content {
                    OutputContent::Data(d) => field("data", self.value(d)),
                    OutputContent::Template { template, file } => {
                        if let Some(f) = file {
                            field("template_file", PlanValue::text(f.display().to_string()));
                        }
                        field("template", self.value(template));
                    }
                }
                if o.append {
                    field("append", PlanValue::Known(true.into()));
                }
                if let Some(c) = &o.columns {
                    field(
                        "columns",
                        PlanValue::Known(
                            c.iter()
                                .map(|c| serde_json::Value::from(c.as_str()))
                                .collect(),
                        ),
                    );
                }
                format!("output: write {}", o.format)
            }
            StepKind::Assert(a) => {
                field(
                    "that",
                    PlanValue::Known(
                        a.that
                            .iter()
                            .map(|t| serde_json::Value::from(t.source()))
                            .collect(),
                    ),
                );
                if let Some(m) = &a.message {
                    field("message", self.value(m));
                }
                "assert (a false expression ends the run with exit code 3)".to_string()
            }
            StepKind::Steps(inner) => format!("block of {} steps, run in order", inner.len()),
            StepKind::Parallel(inner) => format!("{} steps run concurrently", inner.len()),
        };
        let condition = s.when.as_ref().map(|w| match w {
            Condition::Literal(b) => PlanValue::Known((*b).into()),
            Condition::Expr(f) => PlanValue::text(f.source()),
        });
        let for_each = s.for_each.as_ref().map(|f| match f {
            ForEach::Expr(f) => match self.value(f) {
                // A bare expression renders only when it reads nothing run-time; show it as
                // written otherwise.
                PlanValue::Known(v) => PlanValue::Known(v),
                _ => PlanValue::text(f.source()),
            },
            ForEach::List(items, _) => PlanValue::Known(serde_json::Value::Array(items.clone())),
        });
        PlanStep {
            number: number.to_string(),
            route: s.route.clone(),
            id: s.id.clone(),
            kind: s.kind.name().as_str(),
            summary,
            name: s.name.as_ref().map(|n| self.value(n)),
            when: condition,
            for_each,
            concurrency: s.for_each.as_ref().map(|_| s.concurrency),
            timeout: s.timeout.map(crate::template::types::format_duration),
            on_error: s.on_error.name(),
            response_action: s.is_response_action(),
            fields,
            permissions: s
                .required_permissions()
                .iter()
                .map(PlanPermission::from)
                .collect(),
            steps: self.steps(s.children(), &format!("{number}.")),
        }
    }
}

fn fields_as_object<S: serde::Serializer>(
    fields: &[(String, PlanValue)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap as _;
    let mut map = serializer.serialize_map(Some(fields.len()))?;
    for (k, v) in fields {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

/// A list of values: known when every element is.
fn list(values: Vec<PlanValue>) -> PlanValue {
    let known: Option<Vec<serde_json::Value>> = values
        .iter()
        .map(|v| match v {
            PlanValue::Known(j) => Some(j.clone()),
            _ => None,
        })
        .collect();
    match known {
        Some(items) => PlanValue::Known(serde_json::Value::Array(items)),
        None => PlanValue::Runtime {
            template: values.iter().map(value_text).collect::<Vec<_>>().join(", "),
            reads: values
                .into_iter()
                .flat_map(|v| match v {
                    PlanValue::Runtime { reads, .. } => reads,
                    _ => Vec::new(),
                })
                .collect(),
        },
    }
}

fn secret(r: &SecretRef) -> PlanValue {
    PlanValue::Secret {
        secret: r.describe(),
    }
}

fn names<T: Choice>(values: &[T]) -> PlanValue {
    PlanValue::Known(
        values
            .iter()
            .map(|v| serde_json::Value::from(v.name()))
            .collect(),
    )
}

fn call_of(s: &Step) -> String {
    s.required_permissions()
        .first()
        .map_or_else(String::new, |p| p.call.clone())
}

/// Render a plan as human text.
#[must_use]
pub fn render_human(plan: &Plan) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "plan for `{}` ({})", plan.playbook, plan.file);
    if let Some(d) = &plan.description {
        let _ = writeln!(out, "  {d}");
    }
    if !plan.inputs.is_empty() {
        let _ = writeln!(out, "\ninputs:");
        for i in &plan.inputs {
            let value = i.value.as_ref().map_or_else(
                || format!("<required: give --input {}=…>", i.name),
                json_text,
            );
            let _ = writeln!(out, "  {} ({}) = {value}  [{}]", i.name, i.ty, i.source);
        }
    }
    let _ = writeln!(out);
    if plan.response_actions == 0 {
        let _ = writeln!(out, "response actions: none");
    } else {
        let _ = writeln!(
            out,
            "response actions: {} step(s) — `run` needs --allow-actions; at most {} action(s) per run (max_targets)",
            plan.response_actions, plan.max_targets
        );
    }
    let _ = writeln!(out, "\nsteps:");
    for s in &plan.steps {
        render_step(&mut out, s, 1);
    }
    if !plan.permissions.is_empty() {
        let _ = writeln!(
            out,
            "\npermissions (grant one of each line, then admin consent):"
        );
        for p in &plan.permissions {
            let _ = writeln!(
                out,
                "  {}: application {} | delegated {}",
                p.api,
                p.application.join(" or "),
                p.delegated.join(" or ")
            );
        }
    }
    out
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) if s.is_empty() => "\"\"".to_string(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn value_text(v: &PlanValue) -> String {
    match v {
        PlanValue::Known(v) => json_text(v),
        PlanValue::Secret { secret } => secret.clone(),
        PlanValue::Runtime { template, reads } => {
            // A lone `{{ steps.hunt.results }}` reads as "the value from there".
            let trimmed = template.trim();
            let inner = trimmed
                .strip_prefix("{{")
                .and_then(|t| t.strip_suffix("}}"))
                .map(str::trim)
                .filter(|t| {
                    !t.is_empty()
                        && t.split('.').all(|part| {
                            !part.is_empty()
                                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        })
                });
            match (inner, reads.as_slice()) {
                (Some(path), _) => format!("<from {path}>"),
                (None, _) => template.clone(),
            }
        }
    }
}

fn render_step(out: &mut String, s: &PlanStep, depth: usize) {
    use std::fmt::Write as _;
    let pad = "  ".repeat(depth);
    let label =
        s.id.as_deref()
            .map(|id| format!("{id}: "))
            .unwrap_or_default();
    let action = if s.response_action {
        "  [RESPONSE ACTION]"
    } else {
        ""
    };
    let _ = writeln!(out, "{pad}{}. {label}{}{action}", s.number, s.summary);
    let inner = format!("{pad}     ");
    let line = |out: &mut String, k: &str, v: &PlanValue| {
        let text = value_text(v);
        let at_run = matches!(v, PlanValue::Runtime { .. } if !text.starts_with("<from "));
        let suffix = if at_run {
            "   (rendered at run time)"
        } else {
            ""
        };
        if text.contains('\n') {
            let _ = writeln!(out, "{inner}{k}:{suffix}");
            for l in text.trim_end().lines() {
                if l.trim().is_empty() {
                    let _ = writeln!(out);
                } else {
                    let _ = writeln!(out, "{inner}  {l}");
                }
            }
        } else {
            let _ = writeln!(out, "{inner}{k}: {text}{suffix}");
        }
    };
    if let Some(n) = &s.name {
        line(out, "name", n);
    }
    if let Some(w) = &s.when {
        line(out, "when", w);
    }
    if let Some(f) = &s.for_each {
        let c = s
            .concurrency
            .map(|c| format!(" (concurrency {c})"))
            .unwrap_or_default();
        line(out, &format!("for_each{c}"), f);
    }
    if let Some(t) = &s.timeout {
        let _ = writeln!(out, "{inner}timeout: {t}");
    }
    if s.on_error != "fail" {
        let _ = writeln!(out, "{inner}on_error: {}", s.on_error);
    }
    for (k, v) in &s.fields {
        line(out, k, v);
    }
    for p in &s.permissions {
        let _ = writeln!(
            out,
            "{inner}permission: {} — application {} | delegated {}",
            p.api,
            p.application.join(" or "),
            p.delegated.join(" or ")
        );
    }
    for c in &s.steps {
        render_step(out, c, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::load_str;
    use std::path::Path;

    fn plan(text: &str, given: &[(&str, InputValue)]) -> Plan {
        let loaded = load_str(Path::new("t.yaml"), text);
        let p = loaded
            .playbook
            .unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
        let given = given
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        build(&p, &given)
    }

    fn field<'a>(s: &'a PlanStep, name: &str) -> &'a PlanValue {
        s.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no field {name} in {:?}", s.fields))
    }

    const PLAYBOOK: &str = "huntbook: 1\nname: t\ninputs:\n  lookback: {type: duration, default: 1d}\n  device: {type: string, default: ws-1}\nsteps:\n  - authenticate:\n      client_secret: {file: secret.txt}\n  - id: hunt\n    hunt:\n      query: \"DeviceInfo | where Timestamp > ago({{ inputs.lookback }}) and DeviceName == {{ inputs.device }}\"\n  - output:\n      path: \"out-{{ inputs.device }}.json\"\n      data: \"{{ steps.hunt.results }}\"\n";

    #[test]
    fn known_values_render_as_kql_literals_and_text() {
        let p = plan(
            PLAYBOOK,
            &[(
                "lookback",
                InputValue::Duration(std::time::Duration::from_secs(7200)),
            )],
        );
        assert_eq!(
            field(&p.steps[1], "query"),
            &PlanValue::text("DeviceInfo | where Timestamp > ago(2h) and DeviceName == \"ws-1\"")
        );
        assert_eq!(
            field(&p.steps[2], "path"),
            &PlanValue::text("out-ws-1.json")
        );
        assert_eq!(p.inputs[0].source, "input");
        assert_eq!(p.inputs[1].source, "default");
    }

    #[test]
    fn run_time_values_are_placeholders_and_secrets_are_redacted() {
        let p = plan(PLAYBOOK, &[]);
        match field(&p.steps[2], "data") {
            PlanValue::Runtime { reads, .. } => assert_eq!(reads, &["steps.hunt.results"]),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            value_text(field(&p.steps[2], "data")),
            "<from steps.hunt.results>"
        );
        assert_eq!(
            field(&p.steps[0], "client_secret"),
            &PlanValue::Secret {
                secret: "<secret from file secret.txt>".into()
            }
        );
        let text = render_human(&p);
        assert!(
            text.contains("client_secret: <secret from file secret.txt>"),
            "{text}"
        );
        assert!(text.contains("response actions: none"), "{text}");
    }
}
