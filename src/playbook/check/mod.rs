//! Validation: walk the positioned YAML tree into the checked [`Playbook`], collecting every
//! problem instead of stopping at the first. Each rule reports `file:line:column` through the
//! node it looked at; nothing here prints.
//!
//! The walk is split by concern: [`top`] (top level, inputs, defaults), [`steps`] (common step
//! fields, blocks, parallel groups, the scope as steps go by), [`kinds`] (each kind's
//! fields), [`scope`] (the reference rules).
//!
//! [`Playbook`]: crate::playbook::model::Playbook

pub mod kinds;
pub mod order;
pub mod scope;
pub mod steps;
pub mod top;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::diag::{Code, Diagnostic, did_you_mean, one_of};
use crate::playbook::enums::Choice;
use crate::playbook::model::TemplateField;
use crate::playbook::yaml::{Entry, Node, Resolved, Style, Value, locate_range};
use crate::source::{FileId, SourceFile, SourceMap, Span};
use crate::template::{Engine, FieldKind};

use scope::Scope;

/// The state of one validation.
pub struct Checker<'a> {
    pub(crate) sources: &'a mut SourceMap,
    /// The playbook file.
    pub(crate) file: FileId,
    pub(crate) engine: &'a Engine,
    pub(crate) base_dir: PathBuf,
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) scope: Scope,
    /// First span of every step id seen so far.
    pub(crate) ids: std::collections::HashMap<String, Span>,
}

impl<'a> Checker<'a> {
    /// A checker for the playbook `file` of `sources`.
    pub fn new(
        sources: &'a mut SourceMap,
        file: FileId,
        engine: &'a Engine,
        base_dir: PathBuf,
    ) -> Checker<'a> {
        Checker {
            sources,
            file,
            engine,
            base_dir,
            diags: Vec::new(),
            scope: Scope::default(),
            ids: std::collections::HashMap::new(),
        }
    }

    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// The 1-based line of a span.
    pub(crate) fn line_of(&self, span: Span) -> usize {
        self.sources
            .get(span.file)
            .map_or(0, |f| f.line_of(span.start))
    }

    /// Report every key of `entries` not in `allowed`.
    pub(crate) fn check_keys(&mut self, entries: &[Entry], allowed: &[&str], context: &str) {
        for e in entries {
            if !allowed.contains(&e.key.as_str()) {
                self.unknown_key(e, allowed, context);
            }
        }
    }

    pub(crate) fn unknown_key(&mut self, e: &Entry, allowed: &[&str], context: &str) {
        let label = format!("expected {}", one_of(allowed));
        self.push(
            Diagnostic::new(
                Code::UnknownKey,
                e.key_span,
                format!("unknown key `{}` in {context}", e.key),
            )
            .label(label)
            .maybe_help(did_you_mean(&e.key, allowed.iter().copied())),
        );
    }

    /// The mapping's entries, or a `wrong-type` diagnostic.
    pub(crate) fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Entry]> {
        match &node.value {
            Value::Map(m) => Some(m),
            _ => {
                self.wrong_type(node, &format!("a mapping for {what}"));
                None
            }
        }
    }

    /// The sequence's items, or a `wrong-type` diagnostic.
    pub(crate) fn seq<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(s) => Some(s),
            _ => {
                self.wrong_type(node, &format!("a list for {what}"));
                None
            }
        }
    }

    pub(crate) fn wrong_type(&mut self, node: &Node, expected: &str) {
        self.push(
            Diagnostic::new(
                Code::WrongType,
                node.span,
                format!("expected {expected}, found {}", node.describe()),
            )
            .label(format!("expected {expected}")),
        );
    }

    /// Report a missing required key of `map` — unless an unknown key of `map` is a
    /// misspelling of it, already reported with a "did you mean".
    pub(crate) fn missing(
        &mut self,
        map: &Node,
        allowed: &[&str],
        at: Span,
        key: &str,
        context: &str,
    ) {
        if misspelt(map, allowed, &[key]) {
            return;
        }
        self.push(
            Diagnostic::new(
                Code::MissingField,
                at,
                format!("{context} is missing `{key}`"),
            )
            .label(format!("`{key}` is required here")),
        );
    }

    /// A scalar's text (numbers and booleans as written), or a `wrong-type` diagnostic.
    pub(crate) fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Scalar(s) if !matches!(s.resolve(), Resolved::Null) => Some(s.text.clone()),
            _ => {
                self.wrong_type(node, &format!("a string for {what}"));
                None
            }
        }
    }

    pub(crate) fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.as_scalar().map(crate::playbook::yaml::Scalar::resolve) {
            Some(Resolved::Bool(b)) => Some(b),
            _ => {
                self.wrong_type(node, &format!("`true` or `false` for {what}"));
                None
            }
        }
    }

    /// An integer in `range`.
    pub(crate) fn int(
        &mut self,
        node: &Node,
        what: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        match node.as_scalar().map(crate::playbook::yaml::Scalar::resolve) {
            Some(Resolved::Int(i)) if range.contains(&i) => Some(i),
            Some(Resolved::Int(i)) => {
                self.push(
                    Diagnostic::new(
                        Code::BadValue,
                        node.span,
                        format!(
                            "{what} must be between {} and {}, not {i}",
                            range.start(),
                            range.end()
                        ),
                    )
                    .label("out of range"),
                );
                None
            }
            _ => {
                self.wrong_type(node, &format!("an integer for {what}"));
                None
            }
        }
    }

    /// A duration (`30s`, `15m`, `1h30m`, `1d`).
    pub(crate) fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let Some(s) = node.as_scalar() else {
            self.wrong_type(node, &format!("a duration for {what}"));
            return None;
        };
        if let Resolved::Int(_) | Resolved::Float(_) = s.resolve() {
            self.push(
                Diagnostic::new(
                    Code::BadDuration,
                    node.span,
                    format!("{what} needs a unit: `{}` alone is ambiguous", s.text),
                )
                .label("expected a duration like `30s`, `15m`, `2h` or `1d`")
                .help(format!("write `{}s` for seconds", s.text)),
            );
            return None;
        }
        match crate::template::types::parse_duration(&s.text) {
            Ok(d) => Some(d),
            Err(e) => {
                let at = self.locate_in_scalar(node, e.offset..e.offset + 1);
                self.push(
                    Diagnostic::new(
                        Code::BadDuration,
                        at,
                        format!("invalid duration `{}` for {what}", s.text),
                    )
                    .label(e.message),
                );
                None
            }
        }
    }

    /// A value of a closed set; suggests the closest one.
    pub(crate) fn choice<T: Choice>(&mut self, node: &Node, what: &str) -> Option<T> {
        let Some(s) = node
            .as_scalar()
            .filter(|s| !matches!(s.resolve(), Resolved::Null))
        else {
            self.wrong_type(node, &format!("a {} for {what}", T::WHAT));
            return None;
        };
        if let Some(v) = T::parse(&s.text) {
            return Some(v);
        }
        let names = T::names();
        self.push(
            Diagnostic::new(
                Code::BadEnum,
                node.span,
                format!("unknown {} `{}`", T::WHAT, s.text),
            )
            .label(format!("expected {}", one_of(&names)))
            .maybe_help(did_you_mean(&s.text, names.iter().copied())),
        );
        None
    }

    /// The file span of a byte range inside a scalar's value.
    pub(crate) fn locate_in_scalar(&self, node: &Node, range: std::ops::Range<usize>) -> Span {
        match node.as_scalar() {
            Some(s) => locate_range(
                self.sources.slice(node.span),
                node.span,
                s.style,
                &s.text,
                range,
            ),
            None => node.span,
        }
    }

    /// Compile a scalar as a template/expression field, reporting syntax errors inside the
    /// scalar and checking what it reads against the scope.
    pub(crate) fn field(
        &mut self,
        node: &Node,
        kind: FieldKind,
        what: &str,
    ) -> Option<TemplateField> {
        let Some(s) = node.as_scalar() else {
            let expected = match kind {
                FieldKind::Expression => "an expression",
                FieldKind::Query => "a query",
                FieldKind::OData => "an OData filter",
                FieldKind::Text
                | FieldKind::Document
                | FieldKind::UrlPath
                | FieldKind::FilePath => "a string",
            };
            self.wrong_type(node, &format!("{expected} for {what}"));
            return None;
        };
        if matches!(s.resolve(), Resolved::Null) {
            self.wrong_type(node, &format!("a value for {what}"));
            return None;
        }
        self.compile(&s.text.clone(), node.span, s.style, kind, what)
    }

    /// Compile `text` (whose source is `span`, written in `style`) as a field.
    pub(crate) fn compile(
        &mut self,
        text: &str,
        span: Span,
        style: Style,
        kind: FieldKind,
        what: &str,
    ) -> Option<TemplateField> {
        match self.engine.compile(text, kind) {
            Ok(field) => {
                let tf = TemplateField {
                    field: std::sync::Arc::new(field),
                    span,
                    style,
                };
                self.check_field(&tf, kind, what);
                Some(tf)
            }
            Err(first) => {
                // `compile` stops at the first problem; `problems` lists them all (a syntax
                // error comes alone).
                let mut problems = self.engine.problems(text, kind);
                if problems.is_empty() {
                    problems.push(first);
                }
                let noun = match kind {
                    FieldKind::Expression if !text.contains("{{") => "expression",
                    _ => "template",
                };
                for e in problems {
                    let at = e.range.clone().map_or(span, |r| {
                        locate_range(self.sources.slice(span), span, style, text, r)
                    });
                    let (message, help) = match e.message.split_once(", did you mean ") {
                        Some((m, rest)) => (m.to_string(), Some(format!("did you mean {rest}"))),
                        None => (e.message.clone(), None),
                    };
                    let code = if message.starts_with("unknown name") {
                        Code::UnknownName
                    } else {
                        Code::BadTemplate
                    };
                    // The header says it all; repeat it under the carets only when short.
                    let mut d =
                        Diagnostic::new(code, at, format!("invalid {noun} in {what}: {message}"))
                            .maybe_help(help);
                    if message.chars().count() <= 40 {
                        d = d.label(message);
                    }
                    self.push(d);
                }
                None
            }
        }
    }

    /// Scope rules, `| raw` in queries, secret-looking environment reads.
    fn check_field(&mut self, tf: &TemplateField, kind: FieldKind, what: &str) {
        let source = tf.source().to_string();
        for r in tf.references() {
            // Point at the part of the reference that is wrong: `steps.later` for a step,
            // `steps.hunt.reslts` for an output, `item` for a loop variable.
            let [at0, at, at2] = [0, 1, 2].map(|depth| {
                r.prefix_range(&source, depth)
                    .or_else(|| r.range.clone())
                    .map_or(tf.span, |range| tf.locate(self.sources, range))
            });
            if r.root == "env"
                && let Some(name) = r.path.first()
                && scope::secret_looking(name)
            {
                self.push(
                    Diagnostic::new(
                        Code::SecretInTemplate,
                        at,
                        format!("{what} reads the secret-looking variable `env.{name}`"),
                    )
                    .label("its value is sent to APIs as is, and shows as `***` wherever huntbook writes")
                    .help(format!(
                        "pass secrets as a secret reference (`{{ env: {name} }}`) in `authenticate`, which never renders them"
                    )),
                );
            }
            if let Some(p) = scope::check_reference(&self.scope, &r) {
                let at = match p.code {
                    Code::UnknownOutput => at2,
                    Code::LoopVarOutsideLoop => at0,
                    _ => at,
                };
                self.push(
                    Diagnostic::new(p.code, at, p.message)
                        .label(p.label)
                        .maybe_help(p.help),
                );
            }
        }
        let rule = match kind {
            FieldKind::Query => Some((
                "into the query",
                "not rendered as a KQL literal",
                "drop `| raw` unless the value is trusted KQL; without it, values are quoted and escaped",
            )),
            FieldKind::OData => Some((
                "into the filter",
                "not rendered as an OData literal",
                "drop `| raw` unless the value is a trusted OData expression; without it, values are quoted and escaped",
            )),
            FieldKind::UrlPath => Some((
                "into the URL path",
                "not encoded as one path segment",
                "drop `| raw` unless the value is a trusted path; without it, each value is encoded as one segment",
            )),
            FieldKind::FilePath => Some((
                "into the file path",
                "not kept inside its folder",
                "drop `| raw` unless the value is a trusted path; without it, values cannot leave the folder they are written in",
            )),
            FieldKind::Text | FieldKind::Document | FieldKind::Expression => None,
        };
        if let Some((into, label, help)) = rule {
            for range in tf.field.raw_uses() {
                let at = tf.locate(self.sources, range);
                self.push(
                    Diagnostic::new(
                        Code::RawInQuery,
                        at,
                        format!("`raw` in {what} inserts text {into} unescaped"),
                    )
                    .label(label)
                    .help(help),
                );
            }
        }
    }

    /// Resolve a path the playbook reads against its folder.
    pub(crate) fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// Read an included file (`query_file`, `template_file`) into the source map.
    pub(crate) fn include(&mut self, node: &Node, what: &str) -> Option<(FileId, PathBuf)> {
        let rel = self.string(node, what)?;
        let path = self.resolve(&rel);
        match crate::playbook::load::read_source(&path) {
            Ok(text) => Some((self.sources.add(SourceFile::new(path.clone(), text)), path)),
            Err(e) => {
                self.push(
                    Diagnostic::new(
                        Code::MissingFile,
                        node.span,
                        format!("cannot read {what} `{}`: {e}", path.display()),
                    )
                    .label("relative paths resolve against the playbook's folder"),
                );
                None
            }
        }
    }
}

/// Whether `map` has an unknown key (not in `allowed`) whose closest allowed key is one of
/// `wanted`: the user meant it, and the unknown-key diagnostic already says so.
#[must_use]
pub fn misspelt(map: &Node, allowed: &[&str], wanted: &[&str]) -> bool {
    map.as_map().is_some_and(|entries| {
        entries.iter().any(|e| {
            !allowed.contains(&e.key.as_str())
                && crate::diag::closest(&e.key, allowed.iter().copied())
                    .is_some_and(|c| wanted.contains(&c))
        })
    })
}

/// Whether `s` is an identifier usable after a dot in a template (`steps.<id>`).
#[must_use]
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 64
}

#[cfg(test)]
mod tests;
