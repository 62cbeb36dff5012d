//! `expect:` of a case: exit code, step statuses, outputs, files, stdout, the run's error
//! and the emulator's journal — each checked for what it names (steps the playbook has, paths
//! that select something, JSONPaths and regexes that parse).

use std::collections::BTreeSet;
use std::path::Path;

use crate::diag::{Code, Diagnostic, did_you_mean, one_of};
use crate::engine::Status;
use crate::jsonpath::JsonPath;
use crate::playbook::yaml::{self, Entry, Node, Resolved};
use crate::source::Span;
use crate::testing::spec::{
    ActionExpect, ActionKind, Check, CheckKind, Expect, FileExpect, Matchers, OutputExpect,
    PathSeg, Selector, StepExpect,
};

use super::{Walker, empty_expect, keys, parse_path};

impl Walker<'_> {
    pub(super) fn expect(&mut self, node: &Node, name_span: Span) -> Option<Expect> {
        let entries = self.map(node, "`expect`")?;
        self.check_keys(entries, keys::EXPECT, "`expect`");
        let mut x = empty_expect(name_span);
        let before = self.error_count();
        for e in entries {
            let v = &e.value;
            match e.key.as_str() {
                "exit" => {
                    if let Some(code) = self.uint(v, "`exit`", 255) {
                        x.exit = (u8::try_from(code).unwrap_or(u8::MAX), v.span);
                    }
                }
                "steps" => x.steps = self.step_expects(v),
                "outputs" => {
                    if let Some(items) = self.seq(v, "`outputs`") {
                        x.outputs = items.iter().filter_map(|i| self.output(i)).collect();
                    }
                }
                "files" => {
                    if let Some(items) = self.seq(v, "`files`") {
                        x.files = items.iter().filter_map(|i| self.file_expect(i)).collect();
                    }
                }
                "stdout" => x.stdout = self.matchers_map(v, "`stdout`"),
                "error" => x.error = self.matchers_map(v, "`error`"),
                "actions" => x.actions = self.actions(v),
                _ => {}
            }
        }
        (self.error_count() == before).then_some(x)
    }

    fn step_expects(&mut self, node: &Node) -> Vec<StepExpect> {
        let mut out = Vec::new();
        let Some(entries) = self.map(node, "`expect.steps` (statuses by step id)") else {
            return out;
        };
        for e in entries {
            if self.step_kind(&e.key, e.key_span).is_none() {
                continue;
            }
            let mut s = StepExpect {
                id: e.key.clone(),
                span: e.key_span,
                status: None,
                count: None,
                error: None,
            };
            if e.value.as_scalar().is_some() {
                s.status = self.status(&e.value).map(|st| (st, e.value.span));
            } else if let Some(entries) = self.map(&e.value, "a step expectation") {
                self.check_keys(entries, keys::STEP_EXPECT, "a step expectation");
                for x in entries {
                    match x.key.as_str() {
                        "status" => s.status = self.status(&x.value).map(|st| (st, x.value.span)),
                        "count" => {
                            s.count = self
                                .uint(&x.value, "`count`", u64::MAX)
                                .map(|c| (c, x.value.span));
                        }
                        "error" => s.error = self.matchers_map(&x.value, "`error`"),
                        _ => {}
                    }
                }
            }
            out.push(s);
        }
        out
    }

    fn status(&mut self, node: &Node) -> Option<Status> {
        let text = self.string(node, "a step status")?;
        let all = [
            ("ok", Status::Ok),
            ("changed", Status::Changed),
            ("skipped", Status::Skipped),
            ("failed", Status::Failed),
        ];
        if let Some((_, st)) = all.iter().find(|(n, _)| *n == text) {
            return Some(*st);
        }
        let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
        self.push(
            Diagnostic::new(
                Code::BadEnum,
                node.span,
                format!("unknown step status `{text}`"),
            )
            .label(format!("expected {}", one_of(&names)))
            .maybe_help(did_you_mean(&text, names.iter().copied())),
        );
        None
    }

    /// A mapping that is only matchers (`stdout:`, `error:`).
    fn matchers_map(&mut self, node: &Node, what: &str) -> Option<Matchers> {
        let entries = self.map(node, what)?;
        self.check_keys(entries, keys::MATCHERS, what);
        let m = self.matchers(node, entries, what)?;
        if m.checks.is_empty()
            && !entries
                .iter()
                .any(|e| !keys::MATCHERS.contains(&e.key.as_str()))
        {
            self.push(
                Diagnostic::new(
                    Code::MissingField,
                    node.span,
                    format!("{what} checks nothing"),
                )
                .label(format!("expected {}", one_of(keys::MATCHERS))),
            );
            return None;
        }
        Some(m)
    }

    /// The matcher keys of `entries` (others are ignored here: the caller checks them).
    fn matchers(&mut self, node: &Node, entries: &[Entry], what: &str) -> Option<Matchers> {
        let mut checks = Vec::new();
        let before = self.error_count();
        for e in entries {
            let span = Span::new(self.file, e.key_span.start, e.value.span.end);
            let kind = match e.key.as_str() {
                "equals" => Some(CheckKind::Equals(e.value.to_json())),
                "contains" => Some(CheckKind::Contains(e.value.to_json())),
                "matches" => self.string(&e.value, "`matches`").and_then(|re| {
                    match regex::Regex::new(&re) {
                        Ok(r) => Some(CheckKind::Matches(r)),
                        Err(err) => {
                            let detail = err.to_string();
                            let last = detail.lines().last().unwrap_or("").trim();
                            let last = last.strip_prefix("error: ").unwrap_or(last).to_string();
                            self.push(
                                Diagnostic::new(
                                    Code::BadValue,
                                    e.value.span,
                                    format!("`{re}` is not a valid regular expression"),
                                )
                                .label(last)
                                .help("`matches` takes Rust `regex` syntax; in YAML, prefer single quotes so `\\` stays as written"),
                            );
                            None
                        }
                    }
                }),
                "exists" => self.bool(&e.value, "`exists`").map(CheckKind::Exists),
                "length" => self
                    .uint(&e.value, "`length`", u64::MAX)
                    .map(CheckKind::Length),
                _ => None,
            };
            if let Some(kind) = kind {
                checks.push(Check { span, kind });
            }
        }
        if checks
            .iter()
            .any(|c| matches!(c.kind, CheckKind::Exists(false)))
            && checks.len() > 1
        {
            self.push(
                Diagnostic::new(
                    Code::ConflictingFields,
                    node.span,
                    format!("{what} expects the value to be absent and checks it too"),
                )
                .label("`exists: false` goes alone"),
            );
        }
        (self.error_count() == before).then_some(Matchers {
            span: node.span,
            checks,
        })
    }

    fn output(&mut self, node: &Node) -> Option<OutputExpect> {
        let entries = self.map(node, "an output expectation")?;
        let mut allowed: Vec<&str> = keys::OUTPUT_SELECT.to_vec();
        allowed.extend(keys::MATCHERS);
        self.check_keys(entries, &allowed, "an output expectation");
        let path = node.get("path");
        let jp = node.get("jsonpath");
        let selector = match (path, jp) {
            (Some(p), None) => {
                let text = self.string(&p.value, "`path`")?;
                Selector::Path(self.output_path(&text, p.value.span)?, text)
            }
            (None, Some(j)) => Selector::JsonPath(self.jsonpath(&j.value)?),
            (Some(_), Some(j)) => {
                self.push(
                    Diagnostic::new(
                        Code::ConflictingFields,
                        j.key_span,
                        "an output expectation selects with `path` or `jsonpath`, not both",
                    )
                    .label("a second selector"),
                );
                return None;
            }
            (None, None) => {
                self.push(
                    Diagnostic::new(
                        Code::MissingField,
                        node.span,
                        "an output expectation needs `path` or `jsonpath`",
                    )
                    .label("which value to check?")
                    .help("e.g. `path: steps.hunt.count` or `jsonpath: \"$.steps.hunt.results[0].DeviceName\"`"),
                );
                return None;
            }
        };
        let matchers = self.matchers(node, entries, "an output expectation")?;
        if matchers.checks.is_empty() && !entries.iter().any(|e| !allowed.contains(&e.key.as_str()))
        {
            self.push(
                Diagnostic::new(
                    Code::MissingField,
                    node.span,
                    "an output expectation checks nothing",
                )
                .label(format!("add {}", one_of(keys::MATCHERS))),
            );
            return None;
        }
        Some(OutputExpect {
            span: node.span,
            selector,
            matchers,
        })
    }

    fn jsonpath(&mut self, node: &Node) -> Option<JsonPath> {
        let text = self.string(node, "`jsonpath`")?;
        match JsonPath::compile(&text) {
            Ok(p) => Some(p),
            Err(e) => {
                let raw = self.text.get(node.span.start..node.span.end).unwrap_or("");
                let at = node.as_scalar().map_or(node.span, |s| {
                    yaml::locate_range(raw, node.span, s.style, &s.text, e.offset..e.offset + 1)
                });
                self.push(
                    Diagnostic::new(Code::BadJsonpath, at, format!("invalid JSONPath `{text}`"))
                        .label(e.message),
                );
                None
            }
        }
    }

    /// `steps.<id>.<output>…` / `vars.<name>…` with `[n]` indices.
    fn output_path(&mut self, text: &str, at: Span) -> Option<Vec<PathSeg>> {
        let Some(segs) = parse_path(text) else {
            self.push(
                Diagnostic::new(
                    Code::BadValue,
                    at,
                    format!("`{text}` is not an output path"),
                )
                .label("expected names separated by `.`, with `[n]` indices, e.g. `steps.hunt.results[0].DeviceName`")
                .help("for anything fancier, use `jsonpath:`"),
            );
            return None;
        };
        match segs.first() {
            Some(PathSeg::Key(k)) if k == "steps" => match segs.get(1) {
                Some(PathSeg::Key(id)) => {
                    let id = id.clone();
                    self.step_kind(&id, at)?;
                }
                _ => {
                    self.push(
                        Diagnostic::new(Code::BadValue, at, format!("`{text}` names no step"))
                            .label("expected `steps.<id>.…`"),
                    );
                    return None;
                }
            },
            Some(PathSeg::Key(k)) if k == "vars" => {}
            _ => {
                self.push(
                    Diagnostic::new(
                        Code::BadValue,
                        at,
                        format!("`{text}` does not start with `steps.` or `vars.`"),
                    )
                    .label("a run's outputs are its steps' outputs and its `vars`"),
                );
                return None;
            }
        }
        Some(segs)
    }

    fn file_expect(&mut self, node: &Node) -> Option<FileExpect> {
        let entries = self.map(node, "a file expectation")?;
        let mut allowed: Vec<&str> = keys::FILE_SELECT.to_vec();
        allowed.extend(keys::MATCHERS);
        self.check_keys(entries, &allowed, "a file expectation");
        let Some(path) = node.get("path") else {
            self.push(
                Diagnostic::new(
                    Code::MissingField,
                    node.span,
                    "a file expectation needs `path`",
                )
                .label("which file? (a glob relative to the run's working directory)"),
            );
            return None;
        };
        let glob = self.string(&path.value, "`path`")?;
        if Path::new(&glob).is_absolute() || glob.split('/').any(|s| s == "..") {
            self.push(
                Diagnostic::new(
                    Code::BadValue,
                    path.value.span,
                    format!("`{glob}` is outside the run's working directory"),
                )
                .label("expected a relative path without `..`"),
            );
            return None;
        }
        let jsonpath = match node.get("jsonpath") {
            Some(j) => Some(self.jsonpath(&j.value)?),
            None => None,
        };
        if jsonpath.is_none()
            && let Some(eq) = node.get("equals")
            && eq.value.as_scalar().is_none_or(|s| {
                !matches!(s.resolve(), Resolved::Str(_)) && s.style == yaml::Style::Plain
            })
        {
            self.push(
                Diagnostic::new(
                    Code::WrongType,
                    eq.value.span,
                    "a file's content is text: `equals` needs a string here",
                )
                .label(format!("found {}", eq.value.describe()))
                .help("quote it, or add `jsonpath:` to compare a value inside a JSON file"),
            );
            return None;
        }
        let matchers = self.matchers(node, entries, "a file expectation")?;
        Some(FileExpect {
            span: node.span,
            glob,
            jsonpath,
            matchers,
        })
    }

    fn actions(&mut self, node: &Node) -> Vec<ActionExpect> {
        let mut out = Vec::new();
        let Some(entries) = self.map(node, "`actions`") else {
            return out;
        };
        self.check_keys(entries, keys::ACTIONS, "`actions`");
        for e in entries {
            if e.key == "writes" {
                if let Some(count) = self.uint(&e.value, "`writes`", u64::MAX) {
                    out.push(ActionExpect::Writes {
                        count,
                        span: e.value.span,
                    });
                }
                continue;
            }
            let Some((_, kind)) = ActionKind::ALL.iter().find(|(k, _)| *k == e.key) else {
                continue;
            };
            let what = if kind.on_machines() {
                "machine names or ids"
            } else {
                "ids"
            };
            let Some(items) = self.seq(&e.value, &format!("`{}` ({what})", e.key)) else {
                continue;
            };
            let mut targets = Vec::new();
            let mut seen = BTreeSet::new();
            for i in items {
                if let Some(t) = self.string(i, &format!("a `{}` entry", e.key))
                    && seen.insert(t.to_ascii_lowercase())
                {
                    targets.push((t, i.span));
                }
            }
            out.push(ActionExpect::Targets {
                kind: *kind,
                span: e.key_span,
                targets,
            });
        }
        out
    }
}
