//! Templates and expressions (playbook language §4): a minijinja environment with strict
//! undefined behaviour and huntbook's filters and functions, compiled at validation time and
//! rendered at run time.
//!
//! A playbook string field is one of:
//! - a literal (no `{{`, `{%` or `{#`): used as is;
//! - a single `{{ expr }}` and nothing else: the expression's *value* keeps its type (a list
//!   stays a list);
//! - a text template: rendered to a string.
//!
//! `when`, `for_each`, `assert.that` and `filter.input` ([`FieldKind::Expression`]) also
//! accept a bare expression, and reject text templates (a rendered string would always be
//! "true"). `hunt.query` ([`FieldKind::Query`]) renders every `{{ value }}` as a KQL literal
//! (§4.1) unless piped to `raw`. `output.template` ([`FieldKind::Document`]) is always a text
//! template: a lone `{{ expr }}` there prints the value, and a trailing newline is kept.
//!
//! Compilation checks more than syntax: names must be rooted in the scope ([`SCOPE_ROOTS`]),
//! and filters, tests and functions must exist. The user documentation is `docs/templates.md`.

mod analysis;
pub mod filters;
pub mod kql;
mod messages;
pub mod odata;
pub mod paths;
pub mod types;
pub mod value;

use std::collections::HashSet;
use std::ops::Range;

use chrono::{DateTime, Utc};

pub use minijinja::Value;
use minijinja::machinery;

use analysis::{Analysis, NameUse};
use messages::{did_you_mean, from_minijinja};

/// The names a field may read: `inputs`, `vars`, `steps.<id>`, `item` and `loop` (under
/// `for_each`), `env`, `run` and `state`.
pub const SCOPE_ROOTS: &[&str] = &[
    "inputs", "vars", "steps", "item", "loop", "env", "run", "state",
];

/// Template names are a prefix plus the template's own source, so the environment's loader
/// can compile each distinct field once and cache it (rendering a field per `for_each`
/// iteration does not re-parse it); the formatter renders KQL literals for the query prefix.
const TEXT_PREFIX: &str = "field:";
const QUERY_PREFIX: &str = "query.kql:";
const ODATA_PREFIX: &str = "odata:";
const URL_PATH_PREFIX: &str = "urlpath:";
const FILE_PATH_PREFIX: &str = "filepath:";
const PREFIXES: &[&str] = &[
    QUERY_PREFIX,
    ODATA_PREFIX,
    URL_PATH_PREFIX,
    FILE_PATH_PREFIX,
    TEXT_PREFIX,
];

/// Filters offered as "did you mean" suggestions (existence itself is asked of minijinja).
const KNOWN_FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "d",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
    "zip",
];

/// Tests offered as "did you mean" suggestions.
const KNOWN_TESTS: &[&str] = &[
    "boolean",
    "defined",
    "divisibleby",
    "endingwith",
    "eq",
    "even",
    "false",
    "float",
    "ge",
    "gt",
    "in",
    "integer",
    "iterable",
    "le",
    "lower",
    "lt",
    "mapping",
    "ne",
    "none",
    "number",
    "odd",
    "sameas",
    "sequence",
    "startingwith",
    "string",
    "true",
    "undefined",
    "upper",
];

/// How a field's text is to be understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Literal text or a template; a lone `{{ expr }}` keeps its type.
    Text,
    /// Like `Text`, but a bare expression (no braces) is also accepted (`when`, `for_each`,
    /// `assert.that`, `filter.input`). Text templates are rejected.
    Expression,
    /// A KQL query: interpolated values are rendered as KQL literals.
    Query,
    /// A document (`output.template`, `template_file`): always a text template, so a lone
    /// `{{ expr }}` followed by a newline prints the value's text and keeps the newline.
    Document,
    /// An OData `$filter`: interpolated values are rendered as OData literals.
    OData,
    /// A URL path: each interpolated value is percent-encoded as one path segment.
    UrlPath,
    /// A file path: interpolated values may not leave the folder they are written in.
    FilePath,
}

impl FieldKind {
    /// Whether every `{{ value }}` of the field is rendered by a kind-specific rule (so the
    /// field is always a text template, and `raw` is the way out).
    #[must_use]
    pub fn is_guarded(self) -> bool {
        matches!(
            self,
            FieldKind::Query | FieldKind::OData | FieldKind::UrlPath | FieldKind::FilePath
        )
    }

    fn prefix(self) -> &'static str {
        match self {
            FieldKind::Query => QUERY_PREFIX,
            FieldKind::OData => ODATA_PREFIX,
            FieldKind::UrlPath => URL_PATH_PREFIX,
            FieldKind::FilePath => FILE_PATH_PREFIX,
            FieldKind::Text | FieldKind::Document | FieldKind::Expression => TEXT_PREFIX,
        }
    }
}

/// A template or expression that did not compile or did not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// What went wrong, lowercase, no trailing period.
    pub message: String,
    /// Byte range inside the field's source text, when known.
    pub range: Option<Range<usize>>,
}

impl TemplateError {
    fn new(message: impl Into<String>, range: Range<usize>) -> TemplateError {
        TemplateError {
            message: message.into(),
            range: Some(range),
        }
    }

    /// 1-based line and column (in characters) of the start of the error inside `source`,
    /// the field text it was reported against.
    #[must_use]
    pub fn position(&self, source: &str) -> Option<(usize, usize)> {
        let start = self.range.as_ref()?.start;
        let before = source.get(..start)?;
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Some((line, before[line_start..].chars().count() + 1))
    }
}

/// A name the field reads from the scope.
///
/// The path is the chain of attribute lookups (`.name`) and string subscripts (`["name"]`)
/// applied directly to the root, up to the first integer index, computed subscript, method
/// call or filter: `steps.hunt.results[0].DeviceName` → root `steps`, path
/// `["hunt", "results"]`, range covering `steps.hunt.results`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub root: String,
    pub path: Vec<String>,
    /// Byte range of the reference inside the field's source text, when known.
    pub range: Option<Range<usize>>,
}

impl Reference {
    /// The reference as written in a template, normalised: `steps.hunt.results`,
    /// `vars["odd key"]`.
    #[must_use]
    pub fn dotted(&self) -> String {
        dotted(&self.root, &self.path)
    }

    /// The byte range, inside `source` (the field text), of the root and its first `depth`
    /// path segments: for `steps.hunt.results`, depth 1 covers `steps.hunt`. `None` when
    /// the reference has no range or `depth` exceeds the path.
    #[must_use]
    pub fn prefix_range(&self, source: &str, depth: usize) -> Option<Range<usize>> {
        let range = self.range.clone()?;
        if depth > self.path.len() {
            return None;
        }
        let text = source.get(range.clone())?;
        let end = prefix_end(text, depth)?;
        Some(range.start..range.start + end)
    }
}

/// `root` followed by `.seg` (or `["seg"]` when `seg` is not an identifier).
fn dotted(root: &str, path: &[String]) -> String {
    let mut out = root.to_string();
    for seg in path {
        let ident = seg
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && seg.chars().all(|c| c.is_alphanumeric() || c == '_');
        if ident {
            out.push('.');
            out.push_str(seg);
        } else {
            out.push_str(&format!("[{seg:?}]"));
        }
    }
    out
}

/// Where the root and its first `depth` lookups end in the text of a reference (which the
/// analysis guarantees is an identifier followed by `.name` and `["key"]` lookups).
fn prefix_end(text: &str, depth: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let ident_end = |mut i: usize| {
        while i < bytes.len()
            && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
        {
            i += 1;
        }
        i
    };
    let skip_ws = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut i = ident_end(0);
    for _ in 0..depth {
        i = skip_ws(i);
        match bytes.get(i)? {
            b'.' => i = ident_end(skip_ws(i + 1)),
            b'[' => {
                i = skip_ws(i + 1);
                let quote = *bytes.get(i)?;
                i += 1;
                while *bytes.get(i)? != quote {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = skip_ws(i + 1);
                if *bytes.get(i)? != b']' {
                    return None;
                }
                i += 1;
            }
            _ => return None,
        }
    }
    Some(i)
}

/// The template environment: one per playbook run (or validation), shared by every field.
///
/// "Now" is frozen when the engine is made ([`Engine::new`]) or set ([`Engine::with_now`],
/// which the run engine calls with `run.started_at`): every `now()` and `ago()` of a run
/// sees the same time, so a query and the state saved after it agree.
pub struct Engine {
    env: minijinja::Environment<'static>,
    /// Global functions (`range`, `ago`, …): calling them is not reading the scope.
    globals: HashSet<String>,
    now: DateTime<Utc>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl Engine {
    /// An environment with strict undefined behaviour and huntbook's filters and functions,
    /// with "now" frozen at the current time.
    #[must_use]
    pub fn new() -> Engine {
        let now = Utc::now();
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // As Ansible's templates: a block tag's own line break is dropped, so `{% for %}`
        // on its own line adds no blank line, and a file template keeps its final newline.
        // (Building from the default delimiters cannot fail.)
        if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .keep_trailing_newline(true)
            .build()
        {
            env.set_syntax(syntax);
        }
        filters::register(&mut env, now);
        env.set_formatter(format_value);
        env.set_loader(|name| {
            Ok(PREFIXES
                .iter()
                .find_map(|p| name.strip_prefix(p))
                .map(str::to_string))
        });
        let globals = env.globals().map(|(name, _)| name.to_string()).collect();
        Engine { env, globals, now }
    }

    /// The same engine with "now" frozen at `now` (for `now()`, `ago()`).
    #[must_use]
    pub fn with_now(mut self, now: DateTime<Utc>) -> Engine {
        filters::register_clock(&mut self.env, now);
        self.now = now;
        self
    }

    /// The engine's frozen "now".
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Compile a field: parse it, decide its form, and check every name, filter, test and
    /// function it uses.
    ///
    /// # Errors
    /// The first problem in the field (by position): a syntax error, a name outside
    /// [`SCOPE_ROOTS`], an unknown filter, test or function, `include`/`import`/`extends`,
    /// or a text template where an expression is expected. The range is a byte range inside
    /// `source`.
    pub fn compile(&self, source: &str, kind: FieldKind) -> Result<Field, TemplateError> {
        let (form, analysis) = self.parse_field(source, kind)?;
        if let Some(problem) = self.check(&analysis).into_iter().next() {
            return Err(problem);
        }
        let rewrite = Rewrite::wrap(source, &analysis.in_parens);
        let analysis = analysis.analysis;
        Ok(Field {
            source: source.to_string(),
            kind,
            form,
            references: analysis.references,
            raw_uses: analysis.raw_uses,
            applications: analysis.applications,
            rewrite,
        })
    }

    /// Every problem [`compile`](Self::compile) would report, in source order (a syntax error
    /// stops the analysis, so it comes alone). Empty when the field compiles.
    #[must_use]
    pub fn problems(&self, source: &str, kind: FieldKind) -> Vec<TemplateError> {
        match self.parse_field(source, kind) {
            Ok((_, checked)) => self.check(&checked),
            Err(e) => vec![e],
        }
    }

    fn parse_field(&self, source: &str, kind: FieldKind) -> Result<(Form, Parsed), TemplateError> {
        let templated = has_template_markers(source);
        if kind == FieldKind::Expression && !starts_with_marker(source.trim_start()) {
            if source.trim().is_empty() {
                return Err(TemplateError::new(
                    "expected an expression, found nothing",
                    0..source.len(),
                ));
            }
            return match machinery::parse_expr(source) {
                Ok(expr) => Ok((
                    Form::Expr(0..source.len()),
                    Parsed::new(analysis::analyze_expr(&expr, &self.globals)),
                )),
                Err(_) if templated => Err(not_one_expression(source)),
                Err(e) => Err(from_minijinja(&e, 0)),
            };
        }
        if !templated {
            return Ok((Form::Literal, Parsed::new(Analysis::default())));
        }
        let ast = machinery::parse(source, "field", self.env.syntax().clone())
            .map_err(|e| from_minijinja(&e, 0))?;
        let mut parsed = Parsed::new(analysis::analyze_template(&ast, &self.globals));
        if kind == FieldKind::Query {
            let scan = kql::scan_query(source, self.env.syntax());
            parsed.misplaced = scan
                .misplaced
                .into_iter()
                .map(|m| TemplateError::new(m.message, m.range))
                .collect();
            parsed.in_parens = scan.in_parens;
        }
        if kind == FieldKind::OData {
            parsed.misplaced = odata::scan(source, self.env.syntax())
                .into_iter()
                .map(|m| TemplateError::new(m.message, m.range))
                .collect();
        }
        let form = match kind {
            // A query is always text: a lone `{{ x }}` is a query made of one KQL literal;
            // likewise filters and paths, whose every value goes through their rule, and a
            // document: `{{ steps.h.count }}\n` prints the count and the newline.
            FieldKind::Query
            | FieldKind::OData
            | FieldKind::UrlPath
            | FieldKind::FilePath
            | FieldKind::Document => Form::Template,
            FieldKind::Text | FieldKind::Expression => {
                match single_expression(source, self.env.syntax()) {
                    Some(inner) => Form::Expr(inner),
                    None if kind == FieldKind::Expression => {
                        return Err(not_one_expression(source));
                    }
                    None => Form::Template,
                }
            }
        };
        Ok((form, parsed))
    }

    /// Names, filters, tests and functions the environment does not know, constant
    /// arguments that cannot work, and misplaced query placeholders, in source order.
    fn check(&self, parsed: &Parsed) -> Vec<TemplateError> {
        let analysis = &parsed.analysis;
        let mut problems = parsed.misplaced.clone();
        for r in &analysis.references {
            if SCOPE_ROOTS.contains(&r.root.as_str()) {
                continue;
            }
            let start = r.range.as_ref().map_or(0, |r| r.start);
            let range = start..start + r.root.len();
            let message = match did_you_mean(&r.root, SCOPE_ROOTS.iter().copied()) {
                Some(s) => format!("unknown name `{}`, did you mean `{s}`?", r.root),
                None => format!(
                    "unknown name `{}`: the names in scope are {}",
                    r.root,
                    backticked(SCOPE_ROOTS.iter().copied())
                ),
            };
            problems.push(TemplateError::new(message, range));
        }
        for f in &analysis.filters {
            if !self.is_known("filter", &f.name) {
                let candidates: Vec<&str> = KNOWN_FILTERS
                    .iter()
                    .chain(filters::FILTERS)
                    .copied()
                    .collect();
                problems.push(self.unknown("filter", f, &candidates));
            }
        }
        for t in &analysis.tests {
            if !self.is_known("test", &t.name) {
                problems.push(self.unknown("test", t, KNOWN_TESTS));
            }
        }
        for used in analysis.filters.iter().chain(&analysis.calls) {
            if let Some(problem) = check_constant_argument(used) {
                problems.push(problem);
            }
        }
        for f in &analysis.unknown_functions {
            let globals: Vec<&str> = self.globals.iter().map(String::as_str).collect();
            problems.push(self.unknown("function", f, &globals));
        }
        for u in &analysis.unsupported {
            problems.push(TemplateError::new(
                format!(
                    "`{}` is not available in playbook templates: a field is a single template",
                    u.name
                ),
                u.range.clone(),
            ));
        }
        problems.sort_by_key(|p| p.range.as_ref().map_or(0, |r| r.start));
        problems
    }

    /// Whether minijinja has a filter or test of that name (asked through the `filter` and
    /// `test` tests, so the answer cannot drift from what rendering will find).
    fn is_known(&self, what: &str, name: &str) -> bool {
        let probe = if what == "filter" {
            "name is filter"
        } else {
            "name is test"
        };
        self.env
            .compile_expression(probe)
            .and_then(|e| e.eval(minijinja::context! { name }))
            .is_ok_and(|v| v.is_true())
    }

    fn unknown(&self, what: &str, used: &NameUse, candidates: &[&str]) -> TemplateError {
        let known = candidates
            .iter()
            .copied()
            .filter(|c| what == "function" || self.is_known(what, c));
        let message = match did_you_mean(&used.name, known) {
            Some(s) => format!("unknown {what} `{}`, did you mean `{s}`?", used.name),
            None => format!("unknown {what} `{}`", used.name),
        };
        TemplateError::new(message, used.range.clone())
    }

    /// Render a field against a scope (a map value).
    ///
    /// # Errors
    /// On undefined names or failing filters, with the range inside the field's text.
    pub fn render(&self, field: &Field, scope: &Value) -> Result<Value, TemplateError> {
        match &field.form {
            Form::Literal => Ok(Value::from(field.source.clone())),
            Form::Expr(range) => {
                let text = field.source.get(range.clone()).unwrap_or_default();
                let expr = self
                    .env
                    .compile_expression(text)
                    .map_err(|e| from_minijinja(&e, range.start))?;
                let value = expr
                    .eval(scope)
                    .map_err(|e| runtime_error(field, scope, &e, range.start))?;
                if value.is_undefined() {
                    return Err(undefined_error(field, scope, None).unwrap_or_else(|| {
                        TemplateError {
                            message: "the expression is undefined".to_string(),
                            range: Some(range.clone()),
                        }
                    }));
                }
                // `raw`/`kql` results are plain text outside a query.
                if let Some(text) = value::as_verbatim(&value) {
                    return Ok(Value::from(text));
                }
                Ok(value)
            }
            Form::Template => {
                let prefix = field.kind.prefix();
                let text = field.rewrite.as_ref().map_or(&field.source, |r| &r.source);
                let template = self
                    .env
                    .get_template(&format!("{prefix}{text}"))
                    .map_err(|e| runtime_error(field, scope, &e, 0))?;
                let rendered = template
                    .render(scope)
                    .map_err(|e| runtime_error(field, scope, &e, 0))?;
                if field.kind == FieldKind::FilePath {
                    return paths::check_file_path(&rendered)
                        .map(Value::from)
                        .map_err(|message| TemplateError {
                            message,
                            range: None,
                        });
                }
                Ok(Value::from(rendered))
            }
        }
    }
}

/// Check a constant first argument where its meaning is known at compile time: the path of
/// `jsonpath`, the format of `date`, the duration of `ago`.
fn check_constant_argument(used: &NameUse) -> Option<TemplateError> {
    let (arg, range) = used.arg.as_ref()?;
    match used.name.as_str() {
        "jsonpath" => filters::check_jsonpath(arg).err().map(|(message, column)| {
            // Point at the column inside the path when the literal has no escapes, so
            // source offsets and string offsets agree.
            let inner = range.start + 1 + column;
            let precise = !arg.contains('\\') && inner < range.end;
            let range = if precise {
                inner..inner + 1
            } else {
                range.clone()
            };
            TemplateError::new(message, range)
        }),
        "date" => filters::check_date_format(arg)
            .err()
            .map(|message| TemplateError::new(message, range.clone())),
        "ago" => types::parse_duration(arg)
            .err()
            .map(|e| TemplateError::new(e.message, range.clone())),
        _ => None,
    }
}

/// The formatter of every template: KQL literals in queries (verbatim for `raw`/`kql`
/// results), text elsewhere. Strict undefined values never get here (minijinja reports
/// them first); the silent undefined of `x if c` without `else` prints nothing.
fn format_value(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    if value.is_undefined() {
        return Ok(());
    }
    let invalid =
        |message: String| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message);
    let name = state.name();
    let text = if name.starts_with(QUERY_PREFIX) {
        match value::as_verbatim(value) {
            Some(text) => text.to_string(),
            None => kql::literal(value).map_err(|e| invalid(e.message))?,
        }
    } else if name.starts_with(TEXT_PREFIX) {
        filters::text_of(value)
    } else if let Some(text) = value::as_raw(value) {
        // `raw`: the author's way out, verbatim (and `validate` warns).
        text.to_string()
    } else if name.starts_with(ODATA_PREFIX) {
        odata::literal(value).map_err(invalid)?
    } else {
        let text = path_text(value).map_err(invalid)?;
        if name.starts_with(URL_PATH_PREFIX) {
            paths::segment(&text).map_err(invalid)?
        } else {
            paths::mark_file_value(&text).map_err(invalid)?
        }
    };
    out.write_str(&text).map_err(minijinja::Error::from)
}

/// The text of a value rendered into a path: strings, numbers, booleans, durations and
/// datetimes; not lists, maps or none.
fn path_text(value: &Value) -> Result<String, String> {
    let text_like = value.kind() == minijinja::value::ValueKind::String
        || value::as_verbatim(value).is_some()
        || value::as_duration(value).is_some()
        || value::as_datetime(value).is_some()
        || matches!(
            value.kind(),
            minijinja::value::ValueKind::Number | minijinja::value::ValueKind::Bool
        );
    if text_like {
        Ok(filters::text_of(value))
    } else {
        Err(format!(
            "expected text in a path, but the value is {}",
            value::describe(value)
        ))
    }
}

impl Engine {
    /// Render a field that must produce text (a path, an id, a message): a single
    /// expression's string, number, boolean, duration or datetime becomes its text (as
    /// `{{ }}` would print it); a list, map or none is an error.
    ///
    /// # Errors
    /// As [`render`](Self::render), and when the value is not text-like.
    pub fn render_string(&self, field: &Field, scope: &Value) -> Result<String, TemplateError> {
        let value = self.render(field, scope)?;
        if let Some(s) = value.as_str() {
            return Ok(s.to_string());
        }
        let text_like = value::as_duration(&value).is_some()
            || value::as_datetime(&value).is_some()
            || matches!(
                value.kind(),
                minijinja::value::ValueKind::Number | minijinja::value::ValueKind::Bool
            );
        if text_like {
            return Ok(filters::text_of(&value));
        }
        let range = match &field.form {
            Form::Expr(r) => Some(r.clone()),
            Form::Literal | Form::Template => None,
        };
        Err(TemplateError {
            message: format!(
                "expected text here, but the expression gives {}",
                value::describe(&value)
            ),
            range,
        })
    }
}

fn backticked<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn has_template_markers(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}

fn starts_with_marker(s: &str) -> bool {
    s.starts_with("{{") || s.starts_with("{%") || s.starts_with("{#")
}

fn not_one_expression(source: &str) -> TemplateError {
    let start = source.len() - source.trim_start().len();
    let end = source.trim_end().len().max(start);
    TemplateError::new(
        "expected one expression (e.g. `steps.hunt.count > 0` or `{{ steps.hunt.count > 0 }}`), \
         not a text template",
        start..end,
    )
}

/// For a field that is exactly one `{{ expr }}` (whitespace and comments around it allowed),
/// the byte range of `expr`. Found with minijinja's lexer, so `{{ "}}" }}` is one expression.
fn single_expression(
    source: &str,
    syntax: &minijinja::syntax::SyntaxConfig,
) -> Option<Range<usize>> {
    use machinery::Token;
    let mut start = None;
    let mut inner = None;
    for token in machinery::tokenize(source, false, syntax.clone()) {
        let (token, span) = token.ok()?;
        match token {
            Token::TemplateData(text) if text.trim().is_empty() => {}
            Token::VariableStart if start.is_none() => start = Some(span.end_offset as usize),
            Token::VariableEnd if inner.is_none() => {
                inner = Some(start?..span.start_offset as usize);
            }
            Token::VariableStart | Token::VariableEnd | Token::TemplateData(_) => return None,
            Token::BlockStart | Token::BlockEnd => return None,
            _ if start.is_none() || inner.is_some() => return None,
            _ => {}
        }
    }
    inner
}

/// A runtime error from minijinja, with undefined names explained against the scope.
fn runtime_error(
    field: &Field,
    scope: &Value,
    e: &minijinja::Error,
    offset: usize,
) -> TemplateError {
    let mut base = from_minijinja(e, offset);
    if let Some(rewrite) = &field.rewrite {
        base.range = base.range.map(|r| rewrite.original_range(r));
    }
    if e.kind() != minijinja::ErrorKind::UndefinedError {
        return base;
    }
    // A filter given an undefined value reports the filter's name: look at what it got.
    let near = base.range.clone().map(|r| {
        field
            .applications
            .iter()
            .find(|(name, applied)| name.start == r.start && r.end <= applied.end)
            .map_or(r, |(_, applied)| applied.clone())
    });
    if let Some(explained) = undefined_error(field, scope, near) {
        return explained;
    }
    // A name bound inside the template (`{% for r in … %}{{ r.x }}`): keep minijinja's
    // spelling of it, in house style.
    let message = match e.detail().and_then(|d| d.strip_suffix(" is undefined")) {
        Some(name) => format!("undefined value {name}"),
        None => base.message,
    };
    TemplateError {
        message,
        range: base.range,
    }
}

/// The first reference of the field that does not resolve in `scope` (preferring one that
/// overlaps `near`), as an error naming the undefined prefix, with a suggestion.
fn undefined_error(
    field: &Field,
    scope: &Value,
    near: Option<Range<usize>>,
) -> Option<TemplateError> {
    let overlaps = |r: &Reference| match (&near, &r.range) {
        (Some(n), Some(r)) => n.start < r.end && r.start < n.end,
        _ => false,
    };
    let missing: Vec<(&Reference, Missing)> = field
        .references
        .iter()
        .filter_map(|r| resolve(scope, r).err().map(|m| (r, m)))
        .collect();
    // With a position, only a reference at that position explains the error: another one
    // may be undefined on purpose (`state.x | default(…)`).
    let (reference, miss) = if near.is_some() {
        missing.iter().find(|(r, _)| overlaps(r))?
    } else {
        missing.first()?
    };
    let undefined = dotted(&reference.root, &reference.path[..miss.depth]);
    let parent = if miss.depth == 0 {
        None
    } else {
        Some(dotted(&reference.root, &reference.path[..miss.depth - 1]))
    };
    let wanted = if miss.depth == 0 {
        reference.root.as_str()
    } else {
        reference.path[miss.depth - 1].as_str()
    };
    let mut message = format!("undefined value `{undefined}`");
    if reference.root == "env" && miss.depth == 1 {
        // The usual cause on a first run against a real tenant: say it plainly.
        message.push_str(&format!(": the environment variable `{wanted}` is not set"));
        let range = reference
            .prefix_range(&field.source, miss.depth)
            .or_else(|| reference.range.clone());
        return Some(TemplateError { message, range });
    }
    match (&miss.parent_kind, &parent) {
        (Some(kind), Some(parent)) => {
            message.push_str(&format!(": `{parent}` is {kind}"));
        }
        _ => {
            if let Some(s) = did_you_mean(wanted, miss.keys.iter().map(String::as_str)) {
                let suggestion = match &parent {
                    Some(p) => dotted(p, &[s.to_string()]),
                    None => s.to_string(),
                };
                message.push_str(&format!(", did you mean `{suggestion}`?"));
            } else if let Some(parent) = &parent
                && !miss.keys.is_empty()
                && miss.keys.len() <= 12
            {
                message.push_str(&format!(
                    ": `{parent}` has {}",
                    backticked(miss.keys.iter().map(String::as_str))
                ));
            }
        }
    }
    let range = reference
        .prefix_range(&field.source, miss.depth)
        .or_else(|| reference.range.clone());
    Some(TemplateError { message, range })
}

/// Where a reference stops resolving.
struct Missing {
    /// How many path segments exist past the root before the undefined one: 0 when the
    /// root itself is undefined; `n` when `path[n - 1]` is missing.
    depth: usize,
    /// The keys available where the lookup failed, for suggestions.
    keys: Vec<String>,
    /// When the value looked into is not a map: what it is ("a string", "none", …).
    parent_kind: Option<String>,
}

fn map_keys(v: &Value) -> Vec<String> {
    if v.kind() != minijinja::value::ValueKind::Map {
        return Vec::new();
    }
    v.try_iter()
        .map(|keys| {
            keys.filter_map(|k| k.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn resolve(scope: &Value, r: &Reference) -> Result<(), Missing> {
    let mut current = scope.get_attr(&r.root).unwrap_or_default();
    if current.is_undefined() {
        return Err(Missing {
            depth: 0,
            keys: map_keys(scope),
            parent_kind: None,
        });
    }
    for (i, seg) in r.path.iter().enumerate() {
        let next = current.get_attr(seg).unwrap_or_default();
        if next.is_undefined() {
            let parent_kind = match current.kind() {
                minijinja::value::ValueKind::Map => None,
                kind => Some(describe_kind(kind)),
            };
            return Err(Missing {
                depth: i + 1,
                keys: map_keys(&current),
                parent_kind,
            });
        }
        current = next;
    }
    Ok(())
}

fn describe_kind(kind: minijinja::value::ValueKind) -> String {
    use minijinja::value::ValueKind as K;
    match kind {
        K::None => "none",
        K::Bool => "a boolean",
        K::Number => "a number",
        K::String => "a string",
        K::Seq => "a list",
        K::Iterable => "a sequence",
        K::Bytes => "bytes",
        K::Plain => "a value without attributes",
        _ => "not a map",
    }
    .to_string()
}

/// A parsed field: what it uses, and what its KQL text says (queries only).
struct Parsed {
    analysis: Analysis,
    /// Query placeholders inside KQL strings (see [`kql`]).
    misplaced: Vec<TemplateError>,
    /// Query placeholder expressions written directly inside parentheses.
    in_parens: Vec<Range<usize>>,
}

impl Parsed {
    fn new(analysis: Analysis) -> Parsed {
        Parsed {
            analysis,
            misplaced: Vec::new(),
            in_parens: Vec::new(),
        }
    }
}

/// What a query renders from when some placeholders sit directly inside KQL parentheses:
/// their expressions wrapped as `(expr)|_kql_items`, so a list renders as its items
/// (`in ({{ ids }})` → `in ("a", "b")`, not `in (("a", "b"))`, which KQL reads as a
/// tabular expression). `insertions` (position in the original, length) map error
/// ranges back to the author's text.
#[derive(Debug, Clone)]
struct Rewrite {
    source: String,
    insertions: Vec<(usize, usize)>,
    /// The wrapped expressions, as written and whitespace-trimmed, for errors raised by the
    /// wrapper itself.
    wrapped: Vec<(Range<usize>, Range<usize>)>,
}

const ITEMS_SUFFIX: &str = ")|_kql_items";

impl Rewrite {
    fn wrap(source: &str, expressions: &[Range<usize>]) -> Option<Rewrite> {
        if expressions.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(source.len() + expressions.len() * 16);
        let mut insertions = Vec::with_capacity(expressions.len() * 2);
        let mut wrapped = Vec::with_capacity(expressions.len());
        let mut last = 0;
        for r in expressions {
            let text = source.get(r.clone())?;
            let start = r.start + (text.len() - text.trim_start().len());
            wrapped.push((
                r.clone(),
                start..(r.start + text.trim_end().len()).max(start),
            ));
            out.push_str(source.get(last..r.start)?);
            out.push('(');
            insertions.push((r.start, 1));
            out.push_str(source.get(r.clone())?);
            out.push_str(ITEMS_SUFFIX);
            insertions.push((r.end, ITEMS_SUFFIX.len()));
            last = r.end;
        }
        out.push_str(source.get(last..)?);
        Some(Rewrite {
            source: out,
            insertions,
            wrapped,
        })
    }

    /// A range in the rewritten text as a range in the original; a range inside the
    /// wrapper's own text (the `_kql_items` filter failing) becomes the wrapped expression.
    fn original_range(&self, r: Range<usize>) -> Range<usize> {
        let (start, end) = (self.original(r.start), self.original(r.end));
        if start == end
            && let Some((_, trimmed)) = self
                .wrapped
                .iter()
                .find(|(written, _)| written.start <= start && start <= written.end)
        {
            return trimmed.clone();
        }
        start..end
    }

    /// An offset in the rewritten text as an offset in the original.
    fn original(&self, offset: usize) -> usize {
        let mut shift = 0;
        for &(at, len) in &self.insertions {
            let here = at + shift;
            if offset < here {
                break;
            }
            if offset < here + len {
                return at;
            }
            shift += len;
        }
        offset - shift
    }
}

#[derive(Debug, Clone)]
enum Form {
    Literal,
    /// The byte range of the expression inside the source: the whole text for a bare
    /// expression, the inside of `{{ … }}` for a single-expression template.
    Expr(Range<usize>),
    Template,
}

/// A compiled field: its source, its kind, how it renders and what it reads.
#[derive(Debug, Clone)]
pub struct Field {
    source: String,
    kind: FieldKind,
    form: Form,
    references: Vec<Reference>,
    raw_uses: Vec<Range<usize>>,
    /// Filter and test names with the range of their whole application.
    applications: Vec<(Range<usize>, Range<usize>)>,
    rewrite: Option<Rewrite>,
}

impl Field {
    /// The field's source text.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What kind of field it was compiled as.
    #[must_use]
    pub fn kind(&self) -> FieldKind {
        self.kind
    }

    /// Whether the field is plain text with nothing to render.
    #[must_use]
    pub fn is_literal(&self) -> bool {
        matches!(self.form, Form::Literal)
    }

    /// Whether the field renders to the value of one expression (a bare expression or a
    /// lone `{{ expr }}`), keeping its type, rather than to text.
    #[must_use]
    pub fn is_expression(&self) -> bool {
        matches!(self.form, Form::Expr(_))
    }

    /// Every scope name the field reads, in source order, one entry per occurrence; names
    /// bound inside the template (loop variables, `set`, macro arguments) are not included.
    /// See [`Reference`] for how far the path goes.
    #[must_use]
    pub fn references(&self) -> Vec<Reference> {
        self.references.clone()
    }

    /// Byte ranges of every `raw` filter application (`value | raw`, and
    /// `{% filter raw %}`), in source order. Inside a query each inserts text verbatim.
    #[must_use]
    pub fn raw_uses(&self) -> Vec<Range<usize>> {
        self.raw_uses.clone()
    }
}

#[cfg(test)]
mod tests;
