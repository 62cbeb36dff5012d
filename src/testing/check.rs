//! Loading and validating a test file: read it, parse it into the positioned YAML tree the
//! playbook validator uses, load the playbook it names, and walk every case into the checked
//! [`TestFile`] — reporting every problem with `file:line:column` (unknown keys with a "did
//! you mean", wrong types, step ids and inputs the playbook does not have, JSONPaths and
//! regexes that do not parse, data files that cannot be read), never stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use crate::diag::{Code, Diagnostic, did_you_mean, has_errors, one_of};
use crate::emulator::data::{self as tenant_data, TenantData};
use crate::playbook::yaml::{self, Entry, Node, Resolved};
use crate::playbook::{KindName, Loaded, Playbook, load_file};
use crate::source::{FileId, SourceFile, SourceMap, Span};

use super::spec::{Case, Expect, PathSeg, Tenant, TestFile};

/// The keys of each mapping of the format (the schema test keeps `schema.rs` in step).
pub mod keys {
    /// The top level of a test file.
    pub const TOP: &[&str] = &["playbook", "defaults", "cases"];
    /// `defaults:`.
    pub const DEFAULTS: &[&str] = &["inputs", "env", "tenant", "allow_actions", "timeout"];
    /// A case.
    pub const CASE: &[&str] = &[
        "name",
        "skip",
        "inputs",
        "env",
        "tenant",
        "allow_actions",
        "timeout",
        "steps",
        "expect",
    ];
    /// `tenant:`.
    pub const TENANT: &[&str] = &[
        "seed",
        "rows",
        "data",
        "app",
        "limits",
        "faults",
        "action_step",
    ];
    /// The parts of an inline tenant description (`docs/emulator-data.md`).
    pub const DATA: &[&str] = &["apps", "users", "devices", "people", "incidents", "tables"];
    /// A per-step fixture.
    pub const FIXTURE: &[&str] = &["results", "schema", "response", "status", "fault"];
    /// `expect:`.
    pub const EXPECT: &[&str] = &[
        "exit", "steps", "outputs", "files", "stdout", "error", "actions",
    ];
    /// `expect.steps.<id>` as a mapping.
    pub const STEP_EXPECT: &[&str] = &["status", "count", "error"];
    /// The checks every value expectation shares.
    pub const MATCHERS: &[&str] = &["equals", "contains", "matches", "exists", "length"];
    /// How an output expectation selects (with the matchers).
    pub const OUTPUT_SELECT: &[&str] = &["path", "jsonpath"];
    /// How a file expectation selects (with the matchers).
    pub const FILE_SELECT: &[&str] = &["path", "jsonpath"];
    /// `expect.actions`.
    pub const ACTIONS: &[&str] = &[
        "isolated",
        "unisolated",
        "scanned",
        "collected",
        "restricted",
        "unrestricted",
        "quarantined",
        "incidents_updated",
        "alerts_updated",
        "writes",
    ];
}

/// How long a case may run when the file does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The outcome of loading one test file.
#[derive(Debug)]
pub struct LoadedTest {
    /// The test file as found.
    pub path: PathBuf,
    /// The test file's text, for rendering `diagnostics`.
    pub sources: Arc<SourceMap>,
    /// Problems in the test file.
    pub diagnostics: Vec<Diagnostic>,
    /// The playbook's own load when it is invalid (its diagnostics point into its sources).
    pub playbook: Option<Loaded>,
    /// The checked test file; `Some` exactly when nothing above is an error.
    pub test: Option<TestFile>,
}

impl LoadedTest {
    /// Whether the file (and its playbook) are valid.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.test.is_some()
    }
}

/// Load and validate the test file at `path` and the playbook it names.
#[must_use]
pub fn load(path: &Path) -> LoadedTest {
    let shown = path.display().to_string();
    match crate::playbook::load::read_source(path) {
        Ok(text) => load_str(path, text, &load_file),
        Err(e) => LoadedTest {
            path: path.to_path_buf(),
            sources: Arc::new(SourceMap::new()),
            diagnostics: vec![Diagnostic::file(
                Code::IoError,
                shown.clone(),
                format!("cannot read `{shown}`: {e}"),
            )],
            playbook: None,
            test: None,
        },
    }
}

/// Validate `text` as the test file at `path`; `load_playbook` loads the playbook it names
/// (tests pass an in-memory one).
#[must_use]
pub fn load_str(
    path: &Path,
    text: impl Into<String>,
    load_playbook: &dyn Fn(&Path) -> Loaded,
) -> LoadedTest {
    let mut sources = SourceMap::new();
    let file = sources.add(SourceFile::new(path, text));
    let text = sources
        .get(file)
        .map(|f| f.text().to_string())
        .unwrap_or_default();
    let parsed = yaml::parse(&text, file);
    let mut diagnostics = parsed.diagnostics;
    let mut result = LoadedTest {
        path: path.to_path_buf(),
        sources: Arc::new(SourceMap::new()),
        diagnostics: Vec::new(),
        playbook: None,
        test: None,
    };
    let Some(root) = parsed.root else {
        if diagnostics.is_empty() {
            diagnostics.push(
                Diagnostic::new(
                    Code::EmptyFile,
                    Span::point(file, 0),
                    format!("`{}` holds no test cases", path.display()),
                )
                .label("the file is empty (or only comments)")
                .help("a test file has a list of `cases:`, each with a `name:` and `expect:`"),
            );
        }
        result.diagnostics = diagnostics;
        result.sources = Arc::new(sources);
        return result;
    };
    let dir = path.parent().map_or_else(PathBuf::new, Path::to_path_buf);
    let mut w = Walker {
        file,
        text: &text,
        source_name: path.display().to_string(),
        dir,
        diags: Vec::new(),
        playbook: None,
        data_cache: BTreeMap::new(),
    };
    let playbook = w.playbook_of(&root, path, load_playbook);
    let checked = match playbook {
        Some(loaded) if loaded.is_valid() => {
            let pb = loaded.playbook.map(Arc::new);
            w.playbook = pb.clone();
            let cases = w.top(&root);
            pb.zip(cases)
        }
        Some(loaded) => {
            result.playbook = Some(loaded);
            // Check the file's own structure anyway: its problems are worth knowing too.
            let _ = w.top(&root);
            None
        }
        None => {
            let _ = w.top(&root);
            None
        }
    };
    diagnostics.append(&mut w.diags);
    diagnostics.sort_by_key(|d| d.span.map(|s| (s.file.0, s.start, s.end)));
    diagnostics.dedup();
    let sources = Arc::new(sources);
    let invalid = has_errors(&diagnostics) || result.playbook.is_some();
    result.test = match checked {
        Some((playbook, cases)) if !invalid => Some(TestFile {
            path: path.to_path_buf(),
            sources: Arc::clone(&sources),
            file,
            playbook,
            cases,
        }),
        _ => None,
    };
    result.sources = sources;
    result.diagnostics = diagnostics;
    result
}

/// The default playbook of a test file: `NAME.yaml` (or `.yml`) beside `NAME.test.yaml`.
#[must_use]
pub fn default_playbook(test_path: &Path) -> Option<PathBuf> {
    let name = test_path.file_name()?.to_str()?;
    let stem = name
        .strip_suffix(".test.yaml")
        .or_else(|| name.strip_suffix(".test.yml"))?;
    let dir = test_path
        .parent()
        .map_or_else(PathBuf::new, Path::to_path_buf);
    let yaml = dir.join(format!("{stem}.yaml"));
    let yml = dir.join(format!("{stem}.yml"));
    Some(if !yaml.exists() && yml.exists() {
        yml
    } else {
        yaml
    })
}

/// What a case inherits from `defaults:` (every key optional).
#[derive(Debug, Clone, Default)]
struct Setup {
    /// name → (typed value, the key's span, the value's span)
    inputs: BTreeMap<String, (serde_json::Value, Span, Span)>,
    /// Every input name given, its value valid or not.
    named: BTreeSet<String>,
    env: BTreeMap<String, String>,
    tenant: TenantParts,
    allow_actions: Option<bool>,
    timeout: Option<Duration>,
}

/// The keys of a `tenant:` that were given.
#[derive(Debug, Clone, Default)]
struct TenantParts {
    seed: Option<u64>,
    rows: Option<usize>,
    data: Option<Arc<TenantData>>,
    app: Option<String>,
    limits: Option<String>,
    faults: Option<String>,
    action_step: Option<Duration>,
}

impl TenantParts {
    /// `self` with `over`'s keys replacing its own.
    fn merged(&self, over: &TenantParts) -> TenantParts {
        TenantParts {
            seed: over.seed.or(self.seed),
            rows: over.rows.or(self.rows),
            data: over.data.clone().or_else(|| self.data.clone()),
            app: over.app.clone().or_else(|| self.app.clone()),
            limits: over.limits.clone().or_else(|| self.limits.clone()),
            faults: over.faults.clone().or_else(|| self.faults.clone()),
            action_step: over.action_step.or(self.action_step),
        }
    }

    fn build(self) -> Tenant {
        let d = Tenant::default();
        Tenant {
            seed: self.seed.unwrap_or(d.seed),
            rows: self.rows,
            data: self.data,
            app: self.app,
            limits: self.limits.unwrap_or(d.limits),
            faults: self.faults,
            action_step: self.action_step.unwrap_or(d.action_step),
        }
    }
}

struct Walker<'t> {
    file: FileId,
    /// The test file's text (inline tenant data is re-read from it).
    text: &'t str,
    source_name: String,
    /// The test file's folder: relative `playbook:` and `data:` paths resolve against it.
    dir: PathBuf,
    diags: Vec<Diagnostic>,
    playbook: Option<Arc<Playbook>>,
    /// Data files already loaded (several cases often share one).
    data_cache: BTreeMap<PathBuf, Option<Arc<TenantData>>>,
}

impl Walker<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn check_keys(&mut self, entries: &[Entry], allowed: &[&str], context: &str) {
        for e in entries {
            if !allowed.contains(&e.key.as_str()) {
                self.push(
                    Diagnostic::new(
                        Code::UnknownKey,
                        e.key_span,
                        format!("unknown key `{}` in {context}", e.key),
                    )
                    .label(format!("expected {}", one_of(allowed)))
                    .maybe_help(did_you_mean(&e.key, allowed.iter().copied())),
                );
            }
        }
    }

    fn wrong_type(&mut self, node: &Node, expected: &str) {
        self.push(
            Diagnostic::new(
                Code::WrongType,
                node.span,
                format!("expected {expected}, found {}", node.describe()),
            )
            .label(format!("expected {expected}")),
        );
    }

    fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Entry]> {
        if let Some(m) = node.as_map() {
            return Some(m);
        }
        self.wrong_type(node, &format!("a mapping for {what}"));
        None
    }

    fn seq<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        if let Some(s) = node.as_seq() {
            return Some(s);
        }
        self.wrong_type(node, &format!("a list for {what}"));
        None
    }

    /// A scalar's text (numbers and booleans as written).
    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.as_scalar() {
            Some(s) if !matches!(s.resolve(), Resolved::Null) => Some(s.text.clone()),
            _ => {
                self.wrong_type(node, &format!("a string for {what}"));
                None
            }
        }
    }

    fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.as_scalar().map(yaml::Scalar::resolve) {
            Some(Resolved::Bool(b)) => Some(b),
            _ => {
                self.wrong_type(node, &format!("`true` or `false` for {what}"));
                None
            }
        }
    }

    fn uint(&mut self, node: &Node, what: &str, max: u64) -> Option<u64> {
        match node.as_scalar().map(yaml::Scalar::resolve) {
            Some(Resolved::Int(i)) => match u64::try_from(i) {
                Ok(u) if u <= max => Some(u),
                _ => {
                    self.push(
                        Diagnostic::new(
                            Code::BadValue,
                            node.span,
                            format!("{what} must be between 0 and {max}, not {i}"),
                        )
                        .label("out of range"),
                    );
                    None
                }
            },
            _ => {
                self.wrong_type(node, &format!("an integer for {what}"));
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let text = self.string(node, what)?;
        match crate::template::types::parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.push(
                    Diagnostic::new(
                        Code::BadDuration,
                        node.span,
                        format!("invalid duration `{text}` for {what}: {}", e.message),
                    )
                    .label("expected e.g. `500ms`, `30s`, `2m`"),
                );
                None
            }
        }
    }

    /// Find and load the playbook under test (`playbook:` or the default name).
    fn playbook_of(
        &mut self,
        root: &Node,
        test_path: &Path,
        load_playbook: &dyn Fn(&Path) -> Loaded,
    ) -> Option<Loaded> {
        let Some(entries) = root.as_map() else {
            self.wrong_type(root, "a mapping with `cases:` at the top of a test file");
            return None;
        };
        let given = entries.iter().find(|e| e.key == "playbook");
        let (path, at) = match given {
            Some(e) => {
                let text = self.string(&e.value, "`playbook`")?;
                (self.dir.join(text), e.value.span)
            }
            None => {
                let Some(p) = default_playbook(test_path) else {
                    self.push(
                        Diagnostic::new(
                            Code::MissingField,
                            Span::new(self.file, root.span.start, root.span.start),
                            "this test file does not say which playbook it tests",
                        )
                        .label("no `playbook:` key")
                        .help("add `playbook: FILE.yaml`, or name the test file `FILE.test.yaml` beside `FILE.yaml`"),
                    );
                    return None;
                };
                (p, Span::point(self.file, root.span.start))
            }
        };
        if !path.is_file() {
            let shown = path.display();
            let mut d = Diagnostic::new(
                Code::MissingFile,
                at,
                format!("the playbook `{shown}` does not exist"),
            );
            d = if given.is_some() {
                d.label("no such file (relative to the test file's folder)")
            } else {
                d.label(format!("no `playbook:` key, so the playbook is `{shown}`"))
                    .help("add `playbook: FILE.yaml` naming the playbook under test")
            };
            self.push(d);
            return None;
        }
        Some(load_playbook(&path))
    }

    /// The top level: `playbook`, `defaults`, `cases`.
    fn top(&mut self, root: &Node) -> Option<Vec<Case>> {
        let entries = root.as_map()?;
        self.check_keys(entries, keys::TOP, "a test file");
        let defaults = match root.get("defaults") {
            Some(e) => self.setup(&e.value, "`defaults`", keys::DEFAULTS),
            None => Setup::default(),
        };
        let Some(cases) = root.get("cases") else {
            self.push(
                Diagnostic::new(
                    Code::MissingField,
                    Span::point(self.file, root.span.start),
                    "a test file needs `cases:`",
                )
                .label("no `cases:` key")
                .help("add `cases:` with at least one `- name: …` and its `expect:`"),
            );
            return None;
        };
        let items = self.seq(&cases.value, "`cases`")?;
        if items.is_empty() {
            self.push(
                Diagnostic::new(Code::BadValue, cases.value.span, "`cases` is empty")
                    .label("at least one case is needed"),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut names: BTreeMap<String, Span> = BTreeMap::new();
        let mut ok = true;
        for item in items {
            match self.case(item, &defaults) {
                Some(case) => {
                    if let Some(first) = names.get(&case.name) {
                        let line = self
                            .text
                            .get(..first.start)
                            .map_or(0, |t| t.matches('\n').count() + 1);
                        self.push(
                            Diagnostic::new(
                                Code::DuplicateId,
                                case.span,
                                format!("two cases are named `{}`", case.name),
                            )
                            .label(format!("also the name of the case on line {line}"))
                            .help("case names identify results in reports and JUnit: make them unique"),
                        );
                        ok = false;
                    } else {
                        names.insert(case.name.clone(), case.span);
                    }
                    out.push(case);
                }
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// `defaults:` or the shared keys of a case.
    fn setup(&mut self, node: &Node, what: &str, allowed: &[&str]) -> Setup {
        let mut s = Setup::default();
        let Some(entries) = self.map(node, what) else {
            return s;
        };
        if allowed == keys::DEFAULTS {
            self.check_keys(entries, allowed, what);
        }
        for e in entries {
            match e.key.as_str() {
                "inputs" => {
                    s.inputs = self.inputs(&e.value);
                    if let Some(m) = e.value.as_map() {
                        s.named = m.iter().map(|x| x.key.clone()).collect();
                    }
                }
                "env" => s.env = self.env(&e.value),
                "tenant" => s.tenant = self.tenant(&e.value),
                "allow_actions" => s.allow_actions = self.bool(&e.value, "`allow_actions`"),
                "timeout" => s.timeout = self.duration(&e.value, "`timeout`"),
                _ => {}
            }
        }
        s
    }

    fn inputs(&mut self, node: &Node) -> BTreeMap<String, (serde_json::Value, Span, Span)> {
        let mut out = BTreeMap::new();
        let Some(entries) = self.map(node, "`inputs`") else {
            return out;
        };
        for e in entries {
            let Some(pb) = self.playbook.clone() else {
                continue;
            };
            let Some(input) = pb.input(&e.key) else {
                let names: Vec<&str> = pb.inputs.iter().map(|i| i.name.as_str()).collect();
                let help = did_you_mean(&e.key, names.iter().copied()).or_else(|| {
                    Some(if names.is_empty() {
                        format!("`{}` declares no inputs", pb.path.display())
                    } else {
                        format!("its inputs: {}", one_of(&names))
                    })
                });
                self.push(
                    Diagnostic::new(
                        Code::UnknownInput,
                        e.key_span,
                        format!("the playbook `{}` has no input `{}`", pb.name, e.key),
                    )
                    .label("not declared by the playbook")
                    .maybe_help(help),
                );
                continue;
            };
            let json = e.value.to_json();
            match crate::template::value::check_default(input.ty, &json) {
                Ok(parsed) => {
                    if let Some(allowed) = &input.allowed {
                        let got = crate::template::value::to_json(&parsed).ok();
                        if !allowed.iter().any(|a| Some(a.to_json()) == got) {
                            let names: Vec<String> =
                                allowed.iter().map(ToString::to_string).collect();
                            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                            self.push(
                                Diagnostic::new(
                                    Code::BadValue,
                                    e.value.span,
                                    format!("input `{}` must be {}", e.key, one_of(&refs)),
                                )
                                .label("not one of the playbook's allowed values"),
                            );
                            continue;
                        }
                    }
                    out.insert(e.key.clone(), (json, e.key_span, e.value.span));
                }
                Err(err) => self.push(
                    Diagnostic::new(
                        Code::BadValue,
                        e.value.span,
                        format!(
                            "bad value for input `{}` ({}): {}",
                            e.key, input.ty, err.message
                        ),
                    )
                    .label(format!("the playbook declares `{}` as {}", e.key, input.ty)),
                ),
            }
        }
        out
    }

    fn env(&mut self, node: &Node) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let Some(entries) = self.map(node, "`env`") else {
            return out;
        };
        for e in entries {
            let valid = !e.key.is_empty()
                && !e.key.starts_with(|c: char| c.is_ascii_digit())
                && e.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                self.push(
                    Diagnostic::new(
                        Code::BadIdentifier,
                        e.key_span,
                        format!("`{}` is not an environment variable name", e.key),
                    )
                    .label("expected letters, digits and `_`"),
                );
                continue;
            }
            if let Some(v) = self.string(&e.value, &format!("`env.{}`", e.key)) {
                out.insert(e.key.clone(), v);
            }
        }
        out
    }

    fn tenant(&mut self, node: &Node) -> TenantParts {
        let mut t = TenantParts::default();
        let Some(entries) = self.map(node, "`tenant`") else {
            return t;
        };
        self.check_keys(entries, keys::TENANT, "`tenant`");
        for e in entries {
            let v = &e.value;
            match e.key.as_str() {
                "seed" => t.seed = self.uint(v, "`seed`", u64::MAX),
                "rows" => {
                    t.rows = self
                        .uint(v, "`rows`", 10_000_000)
                        .and_then(|r| usize::try_from(r).ok());
                }
                "data" => t.data = self.data(v),
                "app" => t.app = self.string(v, "`app`"),
                "limits" => {
                    if let Some(s) = self.string(v, "`limits`") {
                        match crate::emulator::limits::LimitsSpec::from_str(&s) {
                            Ok(_) => t.limits = Some(s),
                            Err(err) => self.push(
                                Diagnostic::new(Code::BadValue, v.span, err.to_string())
                                    .label("expected `relaxed`, `real` or a limits spec"),
                            ),
                        }
                    }
                }
                "faults" => {
                    if let Some(s) = self.string(v, "`faults`") {
                        match crate::emulator::faults::FaultSpec::from_str(&s) {
                            Ok(_) => t.faults = Some(s),
                            Err(err) => self.push(
                                Diagnostic::new(Code::BadValue, v.span, err.to_string())
                                    .label("not a fault specification"),
                            ),
                        }
                    }
                }
                "action_step" => t.action_step = self.duration(v, "`action_step`"),
                _ => {}
            }
        }
        t
    }

    /// `data:` — a file (relative to the test file) or the same content inline.
    fn data(&mut self, node: &Node) -> Option<Arc<TenantData>> {
        if let Some(entries) = node.as_map() {
            self.check_keys(entries, keys::DATA, "inline tenant `data`");
            if self.diags.iter().any(|d| {
                d.code == Code::UnknownKey
                    && d.span
                        .is_some_and(|s| s.start >= node.span.start && s.end <= node.span.end)
            }) {
                return None;
            }
            // Re-read the mapping's own text with blank lines and spaces in front, so the data
            // loader's `file:line:column`s are positions in the test file.
            let before = self.text.get(..node.span.start).unwrap_or("");
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let mut snippet = "\n".repeat(before.matches('\n').count());
            snippet.push_str(&" ".repeat(before[line_start..].chars().count()));
            snippet.push_str(self.text.get(node.span.start..node.span.end).unwrap_or(""));
            snippet.push('\n');
            return match tenant_data::parse(snippet.as_bytes(), &self.source_name) {
                Ok(d) => Some(Arc::new(d)),
                Err(e) => {
                    self.data_error(node.span, &e.to_string(), &self.source_name.clone());
                    None
                }
            };
        }
        let text = self.string(node, "`data` (a file, or the tenant inline)")?;
        let path = self.dir.join(&text);
        if let Some(cached) = self.data_cache.get(&path) {
            return cached.clone();
        }
        let loaded = if path.is_file() {
            match tenant_data::load(&path) {
                Ok(d) => Some(Arc::new(d)),
                Err(e) => {
                    let name = path.display().to_string();
                    self.data_error(node.span, &e.to_string(), &name);
                    None
                }
            }
        } else {
            self.push(
                Diagnostic::new(
                    Code::MissingFile,
                    node.span,
                    format!("the tenant data file `{}` does not exist", path.display()),
                )
                .label("no such file (relative to the test file's folder)"),
            );
            None
        };
        self.data_cache.insert(path, loaded.clone());
        loaded
    }

    /// Turn the data loader's message into diagnostics: lines that start with
    /// `TESTFILE:LINE:COL: ` point into the test file; anything else is shown at `at`.
    fn data_error(&mut self, at: Span, message: &str, source: &str) {
        let mut placed = false;
        let mut rest: Vec<String> = Vec::new();
        // A syntax or type error, rendered by the YAML reader: `SOURCE: line L column C: MSG`
        // followed by its own snippet, which the diagnostic's replaces.
        let syntax = message
            .lines()
            .next()
            .and_then(|l| l.strip_prefix(&format!("{source}: line ")))
            .and_then(|tail| {
                let (l, tail) = tail.split_once(" column ")?;
                let (c, msg) = tail.split_once(": ")?;
                Some((
                    l.trim().parse::<usize>().ok()?,
                    c.trim().parse::<usize>().ok()?,
                    msg,
                ))
            });
        if source == self.source_name
            && let Some((l, c, msg)) = syntax
        {
            let offset = self.offset_of(l, c);
            self.push(
                Diagnostic::new(
                    Code::BadValue,
                    Span::point(self.file, offset),
                    msg.to_string(),
                )
                .label("in the inline tenant data")
                .help("the tenant data format is described in docs/emulator-data.md"),
            );
            return;
        }
        if source == self.source_name {
            let prefix = format!("{source}:");
            for line in message.lines() {
                let located = line.strip_prefix(&prefix).and_then(|tail| {
                    let mut parts = tail.splitn(3, ':');
                    let l: usize = parts.next()?.trim().parse().ok()?;
                    let c: usize = parts.next()?.trim().parse().ok()?;
                    let msg = parts.next()?.trim().to_string();
                    Some((l, c, msg))
                });
                match located {
                    Some((l, c, msg)) if !msg.is_empty() => {
                        let offset = self.offset_of(l, c);
                        self.push(
                            Diagnostic::new(Code::BadValue, Span::point(self.file, offset), msg)
                                .label("in the inline tenant data"),
                        );
                        placed = true;
                    }
                    _ => rest.push(line.to_string()),
                }
            }
        } else {
            rest = message.lines().map(str::to_string).collect();
        }
        if placed && rest.iter().all(|l| l.trim().is_empty()) {
            return;
        }
        let mut d = Diagnostic::new(Code::BadValue, at, "invalid tenant data")
            .label("the emulator cannot load this tenant description");
        for line in rest.iter().filter(|l| !l.trim().is_empty()) {
            d = d.note(line.clone());
        }
        self.push(d);
    }

    /// The byte offset of a 1-based line and column of the test file.
    fn offset_of(&self, line: usize, column: usize) -> usize {
        let mut offset = 0;
        for (i, l) in self.text.split_inclusive('\n').enumerate() {
            if i + 1 == line {
                let within: usize = l
                    .chars()
                    .take(column.saturating_sub(1))
                    .map(char::len_utf8)
                    .sum();
                return offset + within;
            }
            offset += l.len();
        }
        offset
    }

    fn case(&mut self, node: &Node, defaults: &Setup) -> Option<Case> {
        let entries = self.map(node, "a case")?;
        self.check_keys(entries, keys::CASE, "a case");
        let Some(name_entry) = node.get("name") else {
            self.push(
                Diagnostic::new(
                    Code::MissingField,
                    Span::new(self.file, node.span.start, node.span.start),
                    "a case is missing `name`",
                )
                .label("`name` is required here")
                .help("name what the case shows, e.g. `name: finds the planted finding`"),
            );
            return None;
        };
        let name = self.string(&name_entry.value, "`name`")?;
        let name_span = name_entry.value.span;
        let errors_before = self.error_count();
        let own = self.setup(node, "a case", keys::CASE);
        let skip = match node.get("skip") {
            Some(e) => match e.value.as_scalar().map(yaml::Scalar::resolve) {
                Some(Resolved::Bool(true)) => Some("skipped".to_string()),
                Some(Resolved::Bool(false)) => None,
                Some(Resolved::Str(s)) if !s.trim().is_empty() => Some(s.to_string()),
                _ => {
                    self.wrong_type(&e.value, "`true` or a reason for `skip`");
                    None
                }
            },
            None => None,
        };
        let fixtures = match node.get("steps") {
            Some(e) => self.fixtures(&e.value),
            None => BTreeMap::new(),
        };
        let expect = match node.get("expect") {
            Some(e) => self.expect(&e.value, name_span),
            None => Some(empty_expect(name_span)),
        };
        let mut inputs = defaults.inputs.clone();
        inputs.extend(own.inputs);
        if let Some(pb) = self.playbook.clone() {
            for input in pb.inputs.iter().filter(|i| i.required) {
                if !own.named.contains(&input.name) && !defaults.named.contains(&input.name) {
                    self.push(
                        Diagnostic::new(
                            Code::MissingField,
                            name_span,
                            format!(
                                "case `{name}` does not set the input `{}`, which the playbook requires",
                                input.name
                            ),
                        )
                        .label("in this case")
                        .help(format!(
                            "add `inputs: {{ {}: … }}` to the case or to `defaults`",
                            input.name
                        )),
                    );
                }
            }
        }
        let mut env = defaults.env.clone();
        env.extend(own.env);
        let tenant = defaults.tenant.merged(&own.tenant).build();
        let expect = expect?;
        if self.error_count() > errors_before {
            return None;
        }
        Some(Case {
            name,
            span: name_span,
            skip,
            inputs: inputs
                .into_iter()
                .map(|(k, (v, _, _))| format!("{k}={}", input_text(&v)))
                .collect(),
            env,
            tenant,
            allow_actions: own
                .allow_actions
                .or(defaults.allow_actions)
                .unwrap_or(false),
            fixtures,
            expect,
            timeout: own.timeout.or(defaults.timeout).unwrap_or(DEFAULT_TIMEOUT),
        })
    }

    fn error_count(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    /// The step with `id`, or an `unknown-step` diagnostic at `at`.
    fn step_kind(&mut self, id: &str, at: Span) -> Option<KindName> {
        let pb = self.playbook.clone()?;
        if let Some(step) = pb.step(id) {
            return Some(step.kind.name());
        }
        let ids: Vec<&str> = pb
            .all_steps()
            .into_iter()
            .filter_map(|s| s.id.as_deref())
            .collect();
        let help = did_you_mean(id, ids.iter().copied()).or_else(|| {
            Some(if ids.is_empty() {
                "the playbook's steps have no ids".to_string()
            } else {
                format!("its step ids: {}", one_of(&ids))
            })
        });
        self.push(
            Diagnostic::new(
                Code::UnknownStep,
                at,
                format!("the playbook `{}` has no step with id `{id}`", pb.name),
            )
            .label("no such step")
            .maybe_help(help),
        );
        None
    }
}

fn empty_expect(name_span: Span) -> Expect {
    Expect {
        exit: (0, name_span),
        steps: Vec::new(),
        outputs: Vec::new(),
        files: Vec::new(),
        stdout: None,
        error: None,
        actions: Vec::new(),
    }
}

/// A typed YAML input value as `--input` text: strings as they are, lists as JSON, the rest
/// as written.
fn input_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Split `a.b[0].c` into segments; `None` when it is not of that form.
#[must_use]
pub fn parse_path(text: &str) -> Option<Vec<PathSeg>> {
    let mut out = Vec::new();
    for part in text.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        let ident = |s: &str| {
            !s.is_empty()
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && s.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        };
        if !ident(name) {
            return None;
        }
        out.push(PathSeg::Key(name.to_string()));
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let index: usize = rest.get(1..close)?.parse().ok()?;
            out.push(PathSeg::Index(index));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    Some(out)
}

mod expect;
mod fixture;
#[cfg(test)]
mod tests;
