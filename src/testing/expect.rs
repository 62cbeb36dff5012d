//! Checking a case's expectations against what its run did: the run report (exit code, step
//! statuses, the stopping error), the outputs the run produced, the files in its working
//! directory, what it wrote to stdout, and the emulator's journal of write requests. Every
//! mismatch becomes a [`Failure`] pointing at the test-file text that expected otherwise.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::emulator::api::JournalEntry;
use crate::engine::{RunReport, Status, StepReport};
use crate::source::Span;

use super::spec::{
    ActionExpect, ActionKind, Case, CheckKind, FileExpect, Matchers, PathSeg, Selector,
};

/// One expectation the run did not meet.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The test-file text that expected otherwise.
    pub span: Span,
    /// What was checked, e.g. "exit code", "step `report`", "file `reports/*.md`".
    pub what: String,
    /// What the expectation wanted, for people.
    pub expected: String,
    /// What the run did instead.
    pub actual: String,
    /// More context: the run's error, the files written, a diff.
    pub notes: Vec<String>,
}

/// What a case's run did, as far as expectations can see.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The exit code `huntbook run` would have ended with.
    pub exit: u8,
    /// Why the run did not start (an invalid input, actions not allowed), when it did not.
    pub refused: Option<String>,
    /// The run report, when the run started.
    pub report: Option<RunReport>,
    /// `{"steps": …, "vars": …}` as the run left them — at its end, or where it stopped
    /// (a failed step's outputs included). `Err` says why there are none, e.g. "the run did
    /// not start".
    pub outputs: Result<Value, String>,
    /// What `output` steps without a `path` wrote.
    pub stdout: String,
    /// Write requests the emulator received, in order.
    pub journal: Vec<JournalEntry>,
}

impl Default for Observed {
    /// A run that did not start: exit 0, nothing observed.
    fn default() -> Observed {
        Observed {
            exit: 0,
            refused: None,
            report: None,
            outputs: Err("the run did not start".to_string()),
            stdout: String::new(),
            journal: Vec::new(),
        }
    }
}

/// Resolves a machine name or id to `(id, name)` in the case's tenant.
pub type MachineLookup<'a> = &'a dyn Fn(&str) -> Option<(String, String)>;

/// Every failed expectation of `case` against `seen`; `workdir` is where the run wrote files.
#[must_use]
pub fn evaluate(
    case: &Case,
    seen: &Observed,
    workdir: &Path,
    machines: MachineLookup<'_>,
) -> Vec<Failure> {
    let mut out = Vec::new();
    let x = &case.expect;
    if seen.exit != x.exit.0 {
        out.push(Failure {
            span: x.exit.1,
            what: "exit code".into(),
            expected: x.exit.0.to_string(),
            actual: seen.exit.to_string(),
            notes: run_notes(seen),
        });
    }
    for s in &x.steps {
        step(s, seen, &mut out);
    }
    if let (Err(why), Some(first)) = (&seen.outputs, x.outputs.first()) {
        // One failure for them all: the cause is the same.
        let n = x.outputs.len();
        out.push(Failure {
            span: first.span,
            what: if n == 1 {
                format!("output `{}`", first.selector.text())
            } else {
                format!("outputs (`{}` and {} more)", first.selector.text(), n - 1)
            },
            expected: "the run's outputs".into(),
            actual: format!("none: {why}"),
            notes: seen
                .refused
                .iter()
                .map(|r| format!("why it did not start: {r}"))
                .collect(),
        });
    }
    for o in &x.outputs {
        let Ok(doc) = &seen.outputs else {
            continue;
        };
        let subject = match &o.selector {
            Selector::Path(segs, _) => lookup(doc, segs).cloned(),
            Selector::JsonPath(p) => selection(p.query(doc)),
        };
        check_all(
            &o.matchers,
            subject.as_ref(),
            &format!("output `{}`", o.selector.text()),
            &mut out,
        );
    }
    if !x.files.is_empty() {
        let written = files_in(workdir);
        for f in &x.files {
            file(f, workdir, &written, &mut out);
        }
    }
    if let Some(m) = &x.stdout {
        let subject = (!seen.stdout.is_empty()).then(|| Value::String(seen.stdout.clone()));
        check_all(m, subject.as_ref(), "stdout", &mut out);
    }
    if let Some(m) = &x.error {
        let subject = run_error(seen).map(Value::String);
        check_all(m, subject.as_ref(), "the run's error", &mut out);
    }
    for a in &x.actions {
        action(a, &seen.journal, machines, &mut out);
    }
    out
}

/// The message of the error that stopped the run (or kept it from starting).
fn run_error(seen: &Observed) -> Option<String> {
    if let Some(r) = &seen.refused {
        return Some(r.clone());
    }
    seen.report
        .as_ref()
        .and_then(|r| r.error.as_ref())
        .map(|e| e.message.clone())
}

/// Context for a failure about the run as a whole: why it stopped, and how its steps ended.
fn run_notes(seen: &Observed) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(r) = &seen.refused {
        notes.push(format!("the run did not start: {r}"));
    }
    if let Some(report) = &seen.report {
        if let Some(e) = &report.error {
            let at = e
                .location
                .as_ref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            notes.push(format!("the run stopped at {}{at}: {}", e.label, e.message));
        }
        let mut steps = Vec::new();
        statuses(&report.steps, &mut steps);
        if !steps.is_empty() {
            notes.push(format!("steps: {}", steps.join(", ")));
        }
    }
    notes
}

fn statuses(steps: &[StepReport], out: &mut Vec<String>) {
    for s in steps {
        if let Some(id) = &s.id {
            out.push(format!("{id} {}", s.status.as_str()));
        }
        statuses(&s.steps, out);
        for it in &s.iterations {
            statuses(&it.steps, out);
        }
    }
}

/// Every report of the step `id` (several inside a looping block).
fn reports_of<'r>(steps: &'r [StepReport], id: &str, out: &mut Vec<&'r StepReport>) {
    for s in steps {
        if s.id.as_deref() == Some(id) {
            out.push(s);
        }
        reports_of(&s.steps, id, out);
        for it in &s.iterations {
            reports_of(&it.steps, id, out);
        }
    }
}

fn step(s: &super::spec::StepExpect, seen: &Observed, out: &mut Vec<Failure>) {
    let mut found = Vec::new();
    if let Some(r) = &seen.report {
        reports_of(&r.steps, &s.id, &mut found);
    }
    // A step that never ran (the run did not start, or its block never iterated) is skipped.
    let status = Status::combine(found.iter().map(|r| r.status));
    let what = format!("step `{}`", s.id);
    if let Some((want, span)) = s.status
        && want != status
    {
        let mut notes = Vec::new();
        for r in &found {
            if let Some(reason) = &r.reason {
                notes.push(format!("skipped: {reason}"));
            }
            if let Some(e) = &r.error {
                notes.push(format!("error: {}", e.message));
            }
        }
        if found.is_empty() {
            notes.push("the step never ran".to_string());
            notes.extend(run_notes(seen));
        }
        out.push(Failure {
            span,
            what: format!("{what} status"),
            expected: want.as_str().into(),
            actual: status.as_str().into(),
            notes,
        });
    }
    if let Some((want, span)) = s.count {
        let counts: Vec<u64> = found.iter().filter_map(|r| r.count).collect();
        let got = (!counts.is_empty()).then(|| counts.iter().sum::<u64>());
        if got != Some(want) {
            out.push(Failure {
                span,
                what: format!("{what} count"),
                expected: want.to_string(),
                actual: got.map_or_else(
                    || format!("no count (the step is {})", status.as_str()),
                    |g| g.to_string(),
                ),
                notes: Vec::new(),
            });
        }
    }
    if let Some(m) = &s.error {
        let msg = found
            .iter()
            .find_map(|r| r.error.as_ref())
            .map(|e| Value::String(e.message.clone()));
        check_all(m, msg.as_ref(), &format!("{what} error"), out);
    }
}

/// The value at a dotted path.
#[must_use]
pub fn lookup<'v>(doc: &'v Value, segs: &[PathSeg]) -> Option<&'v Value> {
    let mut cur = doc;
    for s in segs {
        cur = match s {
            PathSeg::Key(k) => cur.get(k)?,
            PathSeg::Index(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

/// A JSONPath's nodes as one subject: the node when there is exactly one, else the list.
fn selection(nodes: Vec<&Value>) -> Option<Value> {
    match nodes.as_slice() {
        [] => None,
        [one] => Some((*one).clone()),
        many => Some(Value::Array(many.iter().map(|v| (*v).clone()).collect())),
    }
}

/// JSON equality where numbers compare by value (`3` equals `3.0`).
#[must_use]
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// How many lines of a multi-line text a failure shows.
const SHOWN_LINES: usize = 12;

/// A value for a message: strings quoted, long values cut; a multi-line text (a file, stdout)
/// as its first lines, so it reads as it would in an editor.
#[must_use]
pub fn show(v: &Value) -> String {
    if let Value::String(t) = v
        && t.trim_end().contains('\n')
    {
        let lines: Vec<&str> = t.lines().collect();
        let mut out = format!("{} lines:", lines.len());
        for l in lines.iter().take(SHOWN_LINES) {
            out.push_str("\n  | ");
            out.push_str(&l.chars().take(200).collect::<String>());
        }
        if lines.len() > SHOWN_LINES {
            out.push_str(&format!("\n  … {} more lines", lines.len() - SHOWN_LINES));
        }
        return out;
    }
    let text = v.to_string();
    if text.chars().count() > 300 {
        let cut: String = text.chars().take(300).collect();
        format!("{cut}… ({} characters)", text.chars().count())
    } else {
        text
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn length_of(v: &Value) -> Option<u64> {
    let n = match v {
        Value::Array(a) => a.len(),
        Value::String(s) => s.chars().count(),
        Value::Object(o) => o.len(),
        _ => return None,
    };
    Some(n as u64)
}

/// Apply every check of `m` to `subject` (`None`: there is no such value).
fn check_all(m: &Matchers, subject: Option<&Value>, what: &str, out: &mut Vec<Failure>) {
    for c in &m.checks {
        if let Some(f) = check_one(&c.kind, subject) {
            let (expected, actual, notes) = f;
            out.push(Failure {
                span: c.span,
                what: format!("{what}: `{}`", c.kind.key()),
                expected,
                actual,
                notes,
            });
        }
    }
}

type Mismatch = (String, String, Vec<String>);

fn check_one(kind: &CheckKind, subject: Option<&Value>) -> Option<Mismatch> {
    let missing = || "nothing (no such value)".to_string();
    match kind {
        CheckKind::Exists(want) => (subject.is_some() != *want).then(|| {
            (
                if *want { "a value" } else { "no value" }.to_string(),
                subject.map_or_else(missing, show),
                Vec::new(),
            )
        }),
        CheckKind::Equals(want) => match subject {
            Some(v) if json_eq(v, want) => None,
            Some(v) => {
                let notes = match (v, want) {
                    (Value::String(a), Value::String(b))
                        if a.contains('\n') || b.contains('\n') =>
                    {
                        vec![format!("diff (- expected, + actual):\n{}", line_diff(b, a))]
                    }
                    _ => Vec::new(),
                };
                Some((show(want), show(v), notes))
            }
            None => Some((show(want), missing(), Vec::new())),
        },
        CheckKind::Contains(want) => {
            let ok = match (subject, want) {
                (Some(Value::String(s)), Value::String(w)) => s.contains(w.as_str()),
                (Some(Value::Array(items)), w) => items.iter().any(|i| json_eq(i, w)),
                (Some(Value::Object(m)), Value::String(k)) => m.contains_key(k),
                _ => false,
            };
            (!ok).then(|| {
                (
                    format!("something containing {}", show(want)),
                    subject.map_or_else(missing, show),
                    Vec::new(),
                )
            })
        }
        CheckKind::Matches(re) => {
            let ok = subject.and_then(text_of).is_some_and(|t| re.is_match(&t));
            (!ok).then(|| {
                (
                    format!("a match for /{}/", re.as_str()),
                    subject.map_or_else(missing, show),
                    Vec::new(),
                )
            })
        }
        CheckKind::Length(want) => {
            let got = subject.and_then(length_of);
            (got != Some(*want)).then(|| {
                (
                    format!("length {want}"),
                    match (got, subject) {
                        (Some(n), _) => format!("length {n}"),
                        (None, Some(v)) => format!("{} (which has no length)", show(v)),
                        (None, None) => missing(),
                    },
                    Vec::new(),
                )
            })
        }
    }
}

/// A line diff of `expected` → `actual` (longest common subsequence), `-`/`+`/` ` prefixed,
/// unchanged runs longer than six lines shortened to their ends.
#[must_use]
pub fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    // Files in tests are small; past this the quadratic table is not worth it.
    if a.len() * b.len() > 4_000_000 {
        return format!(
            "(too long to diff: {} lines expected, {} actual)",
            a.len(),
            b.len()
        );
    }
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut lines: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            lines.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            lines.push(('-', a[i]));
            i += 1;
        } else {
            lines.push(('+', b[j]));
            j += 1;
        }
    }
    let mut out = String::new();
    let mut k = 0;
    while k < lines.len() {
        let run = lines[k..].iter().take_while(|(c, _)| *c == ' ').count();
        if run > 6 {
            let (head, tail) = if k == 0 { (0, 2) } else { (2, 2) };
            let tail = if k + run == lines.len() { 0 } else { tail };
            for (_, l) in &lines[k..k + head] {
                out.push_str(&format!("  {l}\n"));
            }
            out.push_str(&format!("  … ({} unchanged lines)\n", run - head - tail));
            for (_, l) in &lines[k + run - tail..k + run] {
                out.push_str(&format!("  {l}\n"));
            }
            k += run;
            continue;
        }
        let (c, l) = lines[k];
        out.push_str(&format!("{c} {l}\n"));
        k += 1;
    }
    out.trim_end_matches('\n').to_string()
}

/// Every regular file under `dir`, as `/`-separated relative paths, sorted.
#[must_use]
pub fn files_in(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                walk(root, &p, out);
            } else if ft.is_file()
                && let Ok(rel) = p.strip_prefix(root)
            {
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Whether `path` (`/`-separated) matches `glob` (`*` and `?` within a segment, `**` across
/// segments).
#[must_use]
pub fn glob_match(glob: &str, path: &str) -> bool {
    fn segs(g: &[&str], p: &[&str]) -> bool {
        match g.split_first() {
            None => p.is_empty(),
            Some((&"**", rest)) => (0..=p.len()).any(|k| segs(rest, &p[k..])),
            Some((first, rest)) => {
                !p.is_empty() && seg(first.as_bytes(), p[0].as_bytes()) && segs(rest, &p[1..])
            }
        }
    }
    fn seg(g: &[u8], s: &[u8]) -> bool {
        match g.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|k| seg(rest, &s[k..])),
            Some((b'?', rest)) => !s.is_empty() && seg(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && seg(rest, &s[1..]),
        }
    }
    let g: Vec<&str> = glob
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    let p: Vec<&str> = path.split('/').collect();
    segs(&g, &p)
}

/// A file as JSON for `jsonpath`: JSON Lines (`.jsonl`, `.ndjson`) and CSV as lists of rows.
fn file_json(path: &str, text: &str) -> Result<Value, String> {
    let lower = path.to_ascii_lowercase();
    if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
        return text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| format!("line {} is not JSON: {e}", i + 1))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if lower.ends_with(".csv") {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().map_err(|e| e.to_string())?.clone();
        let mut rows = Vec::new();
        for rec in reader.records() {
            let rec = rec.map_err(|e| e.to_string())?;
            let row: serde_json::Map<String, Value> = headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), Value::String(v.to_string())))
                .collect();
            rows.push(Value::Object(row));
        }
        return Ok(Value::Array(rows));
    }
    serde_json::from_str(text).map_err(|e| format!("it is not JSON: {e}"))
}

fn file(f: &FileExpect, workdir: &Path, written: &[String], out: &mut Vec<Failure>) {
    let what = format!("file `{}`", f.glob);
    let matched: Vec<&String> = written.iter().filter(|p| glob_match(&f.glob, p)).collect();
    let absent_only = f
        .matchers
        .checks
        .iter()
        .any(|c| matches!(c.kind, CheckKind::Exists(false)));
    let listing = || {
        if written.is_empty() {
            vec!["the run wrote no file".to_string()]
        } else {
            vec![format!("files written: {}", written.join(", "))]
        }
    };
    if absent_only {
        if !matched.is_empty() {
            out.push(Failure {
                span: f.span,
                what,
                expected: "no such file".into(),
                actual: matched
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                notes: Vec::new(),
            });
        }
        return;
    }
    if matched.is_empty() {
        out.push(Failure {
            span: f.span,
            what,
            expected: "a file written by the run".into(),
            actual: "no file matches".into(),
            notes: listing(),
        });
        return;
    }
    for rel in matched {
        let label = if rel.as_str() == f.glob {
            what.clone()
        } else {
            format!("file `{rel}`")
        };
        let text = match std::fs::read(workdir.join(rel)) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                out.push(Failure {
                    span: f.span,
                    what: label,
                    expected: "a readable file".into(),
                    actual: e.to_string(),
                    notes: Vec::new(),
                });
                continue;
            }
        };
        let subject = match &f.jsonpath {
            None => Some(Value::String(text)),
            Some(p) => match file_json(rel, &text) {
                Ok(doc) => selection(p.query(&doc)),
                Err(e) => {
                    out.push(Failure {
                        span: f.span,
                        what: label,
                        expected: format!("JSON to select `{}` from", p.source()),
                        actual: e,
                        notes: Vec::new(),
                    });
                    continue;
                }
            },
        };
        let checks: Vec<_> = f
            .matchers
            .checks
            .iter()
            .filter(|c| !matches!(c.kind, CheckKind::Exists(true)) || f.jsonpath.is_some())
            .cloned()
            .collect();
        let what = match &f.jsonpath {
            Some(p) => format!("{label} at `{}`", p.source()),
            None => label,
        };
        check_all(
            &Matchers {
                span: f.matchers.span,
                checks,
            },
            subject.as_ref(),
            &what,
            out,
        );
    }
}

/// The kind and target of a journaled request, when it is one `expect.actions` counts.
fn classify(e: &JournalEntry) -> Option<(ActionKind, String)> {
    let path = e.path.split('?').next().unwrap_or("");
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let method = e.method.to_ascii_uppercase();
    match segs.as_slice() {
        ["api", "machines", id, verb] | ["api", "v1.0", "machines", id, verb]
            if method == "POST" =>
        {
            let kind = match verb.to_ascii_lowercase().as_str() {
                "isolate" => ActionKind::Isolated,
                "unisolate" => ActionKind::Unisolated,
                "runantivirusscan" => ActionKind::Scanned,
                "collectinvestigationpackage" => ActionKind::Collected,
                "restrictcodeexecution" => ActionKind::Restricted,
                "unrestrictcodeexecution" => ActionKind::Unrestricted,
                "stopandquarantinefile" => ActionKind::Quarantined,
                _ => return None,
            };
            Some((kind, (*id).to_string()))
        }
        [_, "security", "incidents", id] if method == "PATCH" => {
            Some((ActionKind::IncidentsUpdated, (*id).to_string()))
        }
        [_, "security", "incidents", id, "comments"] if method == "POST" => {
            Some((ActionKind::IncidentsUpdated, (*id).to_string()))
        }
        ["api", "incidents", id] if method == "PATCH" => {
            Some((ActionKind::IncidentsUpdated, (*id).to_string()))
        }
        [_, "security", "alerts_v2", id] if method == "PATCH" => {
            Some((ActionKind::AlertsUpdated, (*id).to_string()))
        }
        [_, "security", "alerts_v2", id, "comments"] if method == "POST" => {
            Some((ActionKind::AlertsUpdated, (*id).to_string()))
        }
        _ => None,
    }
}

fn action(
    a: &ActionExpect,
    journal: &[JournalEntry],
    machines: MachineLookup<'_>,
    out: &mut Vec<Failure>,
) {
    match a {
        ActionExpect::Writes { count, span } => {
            let got = journal.len() as u64;
            if got != *count {
                out.push(Failure {
                    span: *span,
                    what: "write requests received".into(),
                    expected: count.to_string(),
                    actual: got.to_string(),
                    notes: journal
                        .iter()
                        .map(|e| format!("{} {} → {}", e.method, e.path, e.status))
                        .collect(),
                });
            }
        }
        ActionExpect::Targets {
            kind,
            span,
            targets,
        } => {
            // Canonical key → how to show it.
            let canon = |t: &str| -> Option<(String, String)> {
                if kind.on_machines() {
                    machines(t)
                } else {
                    Some((t.to_ascii_lowercase(), t.to_string()))
                }
            };
            let mut expected: Vec<(String, String)> = Vec::new();
            for (t, tspan) in targets {
                match canon(t) {
                    Some(c) => expected.push(c),
                    None => out.push(Failure {
                        span: *tspan,
                        what: format!("`{}`", kind.key()),
                        expected: format!("a machine of the tenant named `{t}`"),
                        actual: "no machine has that name or id".into(),
                        notes: vec![
                            "machines are named by DNS name (`ws-003.corp.contoso.example`), its first label (`ws-003`) or MDE id".into(),
                        ],
                    }),
                }
            }
            let mut actual: Vec<(String, String)> = Vec::new();
            let mut refused = Vec::new();
            for e in journal {
                let Some((k, target)) = classify(e) else {
                    continue;
                };
                if k != *kind {
                    continue;
                }
                let c = canon(&target).unwrap_or_else(|| (target.to_ascii_lowercase(), target));
                if (200..300).contains(&e.status) {
                    if !actual.iter().any(|(key, _)| *key == c.0) {
                        actual.push(c);
                    }
                } else {
                    refused.push(format!("{} {} → {}", e.method, e.path, e.status));
                }
            }
            let want: BTreeSet<&str> = expected.iter().map(|(k, _)| k.as_str()).collect();
            let got: BTreeSet<&str> = actual.iter().map(|(k, _)| k.as_str()).collect();
            if want != got {
                let names = |v: &[(String, String)]| {
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.iter()
                            .map(|(_, n)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                };
                let mut notes = Vec::new();
                let missing: Vec<&str> = expected
                    .iter()
                    .filter(|(k, _)| !got.contains(k.as_str()))
                    .map(|(_, n)| n.as_str())
                    .collect();
                let extra: Vec<&str> = actual
                    .iter()
                    .filter(|(k, _)| !want.contains(k.as_str()))
                    .map(|(_, n)| n.as_str())
                    .collect();
                if !missing.is_empty() {
                    notes.push(format!("missing: {}", missing.join(", ")));
                }
                if !extra.is_empty() {
                    notes.push(format!("unexpected: {}", extra.join(", ")));
                }
                if !refused.is_empty() {
                    notes.push(format!("refused by the emulator: {}", refused.join("; ")));
                }
                out.push(Failure {
                    span: *span,
                    what: format!("`{}` (accepted requests)", kind.key()),
                    expected: names(&expected),
                    actual: names(&actual),
                    notes,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
