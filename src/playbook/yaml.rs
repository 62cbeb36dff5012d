//! YAML → a positioned node tree. serde's model stops at the first error and forgets where
//! values came from; the validator needs every key and value with its span, the scalar's
//! style (to map an offset inside a block scalar back to the file), and to keep going after a
//! problem. So the playbook is read with serde-saphyr's event parser (`granit_parser`, which
//! serde-saphyr re-exports and runs on) and assembled here.
//!
//! Also here: the YAML 1.2 core-schema resolution of plain scalars, merge keys (`<<`), and the
//! alias budget that stops "billion laughs" documents.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, StructureStyle};

use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// How many nodes alias expansion may create in one document. Playbooks use aliases to share
/// a block or two; a document that needs more is an attack or a mistake.
pub const ALIAS_BUDGET: usize = 100_000;

/// How a scalar was written; decides typing (only plain scalars resolve to non-strings) and
/// how offsets inside it map back to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

/// A YAML node with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    /// The node's text: for a scalar its token (with quotes; block scalars start at their
    /// content), for a collection from its first to its last character.
    pub span: Span,
}

/// A node's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A scalar: its text after YAML escape processing, and how it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub style: Style,
    /// `!!str`, `!!int`, … when given explicitly.
    pub tag: Option<String>,
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

/// What a scalar means under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Scalar {
    /// Resolve under the YAML 1.2 core schema: only plain scalars (or explicit core tags) are
    /// anything but strings, so `"5"` stays a string and `no` is the string `no`.
    #[must_use]
    pub fn resolve(&self) -> Resolved<'_> {
        let t = self.text.as_str();
        match self.tag.as_deref() {
            Some("str") => return Resolved::Str(t),
            Some("null") => return Resolved::Null,
            Some("bool") => return resolve_bool(t).map_or(Resolved::Str(t), Resolved::Bool),
            Some("int") => return resolve_int(t).map_or(Resolved::Str(t), Resolved::Int),
            Some("float") => {
                return resolve_float(t)
                    .or_else(|| resolve_int(t).map(|i| i as f64))
                    .map_or(Resolved::Str(t), Resolved::Float);
            }
            _ => {}
        }
        if self.style != Style::Plain {
            return Resolved::Str(t);
        }
        if matches!(t, "" | "~" | "null" | "Null" | "NULL") {
            return Resolved::Null;
        }
        if let Some(b) = resolve_bool(t) {
            return Resolved::Bool(b);
        }
        if let Some(i) = resolve_int(t) {
            return Resolved::Int(i);
        }
        if let Some(f) = resolve_float(t) {
            return Resolved::Float(f);
        }
        Resolved::Str(t)
    }
}

fn resolve_bool(t: &str) -> Option<bool> {
    match t {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn resolve_int(t: &str) -> Option<i64> {
    if let Some(oct) = t.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    if let Some(hex) = t.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

fn resolve_float(t: &str) -> Option<f64> {
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let neg = t.starts_with('-');
    match body {
        ".inf" | ".Inf" | ".INF" => {
            return Some(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        ".nan" | ".NaN" | ".NAN" if body.len() == t.len() => return Some(f64::NAN),
        _ => {}
    }
    // The core schema's float: digits with an optional fraction and exponent, at least one digit.
    let bytes = body.as_bytes();
    let mut i = 0;
    let mut digits = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return None;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    t.parse().ok()
}

impl Node {
    /// The scalar, if this is one.
    #[must_use]
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The entries, if this is a mapping.
    #[must_use]
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this is a sequence.
    #[must_use]
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is a null scalar (`~`, `null`, or nothing).
    #[must_use]
    pub fn is_null(&self) -> bool {
        self.as_scalar()
            .is_some_and(|s| matches!(s.resolve(), Resolved::Null))
    }

    /// The entry for `key` in a mapping.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key == key)
    }

    /// "a string", "a list", … for "expected X, found Y" messages.
    #[must_use]
    pub fn describe(&self) -> &'static str {
        match &self.value {
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Scalar(s) => match s.resolve() {
                Resolved::Null => "nothing (null)",
                Resolved::Bool(_) => "a boolean",
                Resolved::Int(_) => "an integer",
                Resolved::Float(_) => "a number",
                Resolved::Str(_) => "a string",
            },
        }
    }

    /// Number of nodes in this tree (the alias budget's unit).
    #[must_use]
    pub fn size(&self) -> usize {
        match &self.value {
            Value::Scalar(_) => 1,
            Value::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Value::Map(entries) => 1 + entries.iter().map(|e| 1 + e.value.size()).sum::<usize>(),
        }
    }

    /// The node as JSON (core-schema typing; non-finite floats become null).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Scalar(s) => match s.resolve() {
                Resolved::Null => J::Null,
                Resolved::Bool(b) => J::Bool(b),
                Resolved::Int(i) => J::from(i),
                Resolved::Float(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
                Resolved::Str(t) => J::String(t.to_string()),
            },
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// The result of reading a document.
#[derive(Debug)]
pub struct Parsed {
    /// The root node; `None` when the document is empty or the YAML is broken.
    pub root: Option<Node>,
    pub diagnostics: Vec<Diagnostic>,
}

enum Frame {
    Seq {
        start: usize,
        flow: bool,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: usize,
        flow: bool,
        anchor: usize,
        entries: Vec<Entry>,
        merges: Vec<Node>,
        key: Option<(String, Span)>,
        seen: HashMap<String, Span>,
    },
}

struct Builder<'t> {
    text: &'t str,
    file: FileId,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    expanded: usize,
    root: Option<Node>,
    diagnostics: Vec<Diagnostic>,
}

fn style_of(s: ScalarStyle) -> Style {
    match s {
        ScalarStyle::SingleQuoted => Style::SingleQuoted,
        ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
        ScalarStyle::Literal => Style::Literal,
        ScalarStyle::Folded => Style::Folded,
        _ => Style::Plain,
    }
}

/// When the parser stopped on a line whose indentation lines up with none of the open block
/// collections, say which indentations would: the usual cause of "did not find expected key".
fn indentation_help(text: &str, at: usize, stack: &[Frame]) -> Option<String> {
    let position = |offset: usize| {
        let before = &text[..offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count());
        (line, column)
    };
    let line_start = text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].split('\n').next().unwrap_or_default();
    if line.trim().is_empty() || line.trim_start().starts_with('#') {
        return None;
    }
    let indent = line.len() - line.trim_start_matches(' ').len();
    let blocks: Vec<(usize, usize)> = stack
        .iter()
        .filter_map(|f| match f {
            Frame::Seq {
                start, flow: false, ..
            }
            | Frame::Map {
                start, flow: false, ..
            } => Some(position(*start)),
            _ => None,
        })
        .collect();
    if blocks.is_empty() || blocks.iter().any(|&(_, column)| column == indent) {
        return None;
    }
    // The block the line may have meant to continue is often closed already: look back over
    // the lines above, up to its parent, for the shallowest indentation deeper than this one.
    let mut deeper: Option<(usize, usize)> = None;
    let above_lines: Vec<&str> = text[..line_start].lines().collect();
    for (n, above) in above_lines.iter().enumerate().rev() {
        if above.trim().is_empty() || above.trim_start().starts_with('#') {
            continue;
        }
        let column = above.len() - above.trim_start_matches(' ').len();
        if column <= indent {
            break;
        }
        if deeper.is_none_or(|(_, c)| column <= c) {
            deeper = Some((n + 1, column));
        }
    }
    let deeper = deeper.as_ref();
    let shallower = blocks
        .iter()
        .filter(|&&(_, c)| c < indent)
        .max_by_key(|&&(_, c)| c);
    let choices: Vec<String> = [deeper, shallower]
        .into_iter()
        .flatten()
        .map(|&(l, c)| format!("{c} (as on line {l})"))
        .collect();
    Some(format!(
        "check the indentation: this line is indented {indent} space{}, but the entries it can \
         belong with are indented {}",
        if indent == 1 { "" } else { "s" },
        choices.join(" or ")
    ))
}

/// Parse `text` (the contents of `file`) into a node tree.
#[must_use]
pub fn parse(text: &str, file: FileId) -> Parsed {
    let mut options = serde_saphyr::granit_parser::Options::default();
    options.emit_comments = false;
    let parser = Parser::new_from_str_with_options(text, options);
    let mut b = Builder {
        text,
        file,
        stack: Vec::new(),
        anchors: HashMap::new(),
        expanded: 0,
        root: None,
        diagnostics: Vec::new(),
    };
    let mut documents = 0;
    for next in parser {
        let (event, span) = match next {
            Ok(x) => x,
            Err(e) => {
                let at = e.marker().byte_offset().unwrap_or(text.len());
                let info = e.info();
                let info = if info.is_empty() {
                    "invalid YAML".to_string()
                } else {
                    info
                };
                let mut d = Diagnostic::new(
                    Code::YamlSyntax,
                    Span::point(file, at),
                    format!("invalid YAML: {info}"),
                )
                .label("the YAML parser stopped here");
                // An unclosed `[` or `{` makes the parser fail far from the cause: say where
                // the innermost open flow collection started.
                if let Some((start, what)) = b.stack.iter().rev().find_map(|f| match f {
                    Frame::Seq {
                        start, flow: true, ..
                    } => Some((*start, "list `[`")),
                    Frame::Map {
                        start, flow: true, ..
                    } => Some((*start, "mapping `{`")),
                    _ => None,
                }) {
                    let before = &text[..start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    d = d.note(format!(
                        "the flow {what} opened at line {line}, column {column} is still open here"
                    ));
                } else if let Some(help) = indentation_help(text, at, &b.stack) {
                    d = d.help(help);
                }
                b.diagnostics.push(d);
                return Parsed {
                    root: None,
                    diagnostics: b.diagnostics,
                };
            }
        };
        let start = span.start.byte_offset().unwrap_or(0);
        let end = span.end.byte_offset().unwrap_or(start);
        let result = match event {
            Event::DocumentStart(..) => {
                documents += 1;
                if documents > 1 {
                    b.diagnostics.push(
                        Diagnostic::new(
                            Code::UnsupportedYaml,
                            Span::new(file, start, end.max(start + 3)),
                            "a playbook is one YAML document, but a second one starts here",
                        )
                        .help("remove the `---` line, or split the file in two playbooks"),
                    );
                    break;
                }
                Ok(())
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = match tag {
                    None => None,
                    Some(t) => match t.core_suffix() {
                        Some(suffix) => Some(suffix.to_string()),
                        None => {
                            let tag_at = span
                                .tag_span()
                                .and_then(|t| t.start.byte_offset().zip(t.end.byte_offset()))
                                .map_or(Span::point(file, start), |(s, e)| Span::new(file, s, e));
                            b.diagnostics.push(
                                Diagnostic::new(
                                    Code::UnsupportedYaml,
                                    tag_at,
                                    format!(
                                        "YAML tag `{}{}` is not supported",
                                        t.original_handle(),
                                        t.suffix()
                                    ),
                                )
                                .label("a YAML tag")
                                .help("huntbook reads plain YAML; remove the tag"),
                            );
                            None
                        }
                    },
                };
                let node = Node {
                    value: Value::Scalar(Scalar {
                        text: text.into_owned(),
                        style: style_of(style),
                        tag,
                    }),
                    span: Span::new(file, start, end),
                };
                b.complete(node, anchor)
            }
            Event::SequenceStart(style, anchor, tag) => {
                b.check_collection_tag(tag.as_deref(), tag_start(&span, start), "seq");
                b.stack.push(Frame::Seq {
                    start,
                    flow: style == StructureStyle::Flow,
                    anchor,
                    items: Vec::new(),
                });
                Ok(())
            }
            Event::MappingStart(style, anchor, tag) => {
                b.check_collection_tag(tag.as_deref(), tag_start(&span, start), "map");
                b.stack.push(Frame::Map {
                    start,
                    flow: style == StructureStyle::Flow,
                    anchor,
                    entries: Vec::new(),
                    merges: Vec::new(),
                    key: None,
                    seen: HashMap::new(),
                });
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => b.close(end),
            Event::Alias(id) => b.alias(id, Span::new(file, start, end)),
            _ => Ok(()),
        };
        if let Err(d) = result {
            b.diagnostics.push(*d);
            return Parsed {
                root: None,
                diagnostics: b.diagnostics,
            };
        }
    }
    Parsed {
        root: b.root,
        diagnostics: b.diagnostics,
    }
}

/// Where an explicit tag starts (else the node).
fn tag_start(span: &serde_saphyr::granit_parser::Span, node_start: usize) -> usize {
    span.tag_span()
        .and_then(|t| t.start.byte_offset())
        .unwrap_or(node_start)
}

impl Builder<'_> {
    fn check_collection_tag(
        &mut self,
        tag: Option<&serde_saphyr::granit_parser::Tag>,
        at: usize,
        expected: &str,
    ) {
        if let Some(t) = tag
            && t.core_suffix() != Some(expected)
        {
            self.diagnostics.push(
                Diagnostic::new(
                    Code::UnsupportedYaml,
                    Span::point(self.file, at),
                    format!(
                        "YAML tag `{}{}` is not supported",
                        t.original_handle(),
                        t.suffix()
                    ),
                )
                .label("a YAML tag")
                .help("huntbook reads plain YAML; remove the tag"),
            );
        }
    }

    fn alias(&mut self, id: usize, span: Span) -> Result<(), Box<Diagnostic>> {
        let Some(node) = self.anchors.get(&id) else {
            // The parser resolves aliases itself; an unknown id cannot happen, but stay total.
            return Err(Box::new(Diagnostic::new(
                Code::YamlSyntax,
                span,
                "invalid YAML: alias to an unknown anchor",
            )));
        };
        self.expanded += node.size();
        if self.expanded > ALIAS_BUDGET {
            return Err(Box::new(
                Diagnostic::new(
                    Code::YamlTooComplex,
                    span,
                    format!("aliases expand to more than {ALIAS_BUDGET} YAML nodes"),
                )
                .label("expanding this alias exceeds the budget")
                .note("documents whose aliases multiply (a \"billion laughs\" attack) are refused"),
            ));
        }
        let node = node.clone();
        self.complete(node, 0)
    }

    fn close(&mut self, end_event_end: usize) -> Result<(), Box<Diagnostic>> {
        let Some(frame) = self.stack.pop() else {
            return Ok(());
        };
        let file = self.file;
        let (node, anchor) = match frame {
            Frame::Seq {
                start,
                flow,
                anchor,
                items,
            } => {
                // A block collection's end event sits at the next token, possibly lines later.
                let end = if flow {
                    end_event_end
                } else {
                    items.last().map_or(start, |n| n.span.end)
                };
                (
                    Node {
                        value: Value::Seq(items),
                        span: Span::new(file, start, end),
                    },
                    anchor,
                )
            }
            Frame::Map {
                start,
                flow,
                anchor,
                mut entries,
                merges,
                seen,
                ..
            } => {
                let end = if flow {
                    end_event_end
                } else {
                    entries.last().map_or(start, |e| e.value.span.end)
                };
                // Merged keys never override the mapping's own keys, whatever the order.
                let mut present: std::collections::HashSet<String> = seen.into_keys().collect();
                for merge in merges {
                    let sources: Vec<&Node> = match &merge.value {
                        Value::Seq(items) => items.iter().collect(),
                        _ => vec![&merge],
                    };
                    for src in sources {
                        let Some(m) = src.as_map() else {
                            self.diagnostics.push(Diagnostic::new(
                                Code::WrongType,
                                src.span,
                                "a merge key `<<` takes a mapping or a list of mappings",
                            ));
                            continue;
                        };
                        for e in m {
                            if present.insert(e.key.clone()) {
                                entries.push(e.clone());
                            }
                        }
                    }
                }
                (
                    Node {
                        value: Value::Map(entries),
                        span: Span::new(file, start, end),
                    },
                    anchor,
                )
            }
        };
        self.complete(node, anchor)
    }

    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), Box<Diagnostic>> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                merges,
                key,
                seen,
                ..
            }) => match key.take() {
                None => {
                    let key_text = match &node.value {
                        Value::Scalar(s) => s.text.clone(),
                        _ => {
                            self.diagnostics.push(Diagnostic::new(
                                Code::UnsupportedYaml,
                                node.span,
                                "a mapping key must be a plain string, not a list or mapping",
                            ));
                            String::from("?")
                        }
                    };
                    let plain_merge = key_text == "<<"
                        && node.as_scalar().is_some_and(|s| s.style == Style::Plain);
                    *key = Some((
                        if plain_merge {
                            "\u{0}<<".to_string()
                        } else {
                            key_text
                        },
                        node.span,
                    ));
                }
                Some((k, key_span)) => {
                    if k == "\u{0}<<" {
                        merges.push(node);
                        return Ok(());
                    }
                    if let Some(first) = seen.get(&k) {
                        let line = self.text[..first.start.min(self.text.len())]
                            .matches('\n')
                            .count()
                            + 1;
                        self.diagnostics.push(
                            Diagnostic::new(
                                Code::DuplicateKey,
                                key_span,
                                format!("duplicate key `{k}`"),
                            )
                            .label(format!("`{k}` is already set at line {line}"))
                            .help("a mapping has each key once: remove one of them"),
                        );
                        return Ok(());
                    }
                    seen.insert(k.clone(), key_span);
                    entries.push(Entry {
                        key: k,
                        key_span,
                        value: node,
                    });
                }
            },
        }
        Ok(())
    }
}

/// Map a byte offset inside a scalar's *value* back to a byte offset in the file.
///
/// `raw` is the scalar's source text (its span), starting at `raw_start`. Block scalars lose
/// their indentation, folded and plain scalars turn line breaks into spaces, quoted scalars
/// process escapes and doubled quotes; the walk below aligns value and source character by
/// character, letting a folded space match a line break and an escape sequence match the one
/// character it produced. Where the alignment cannot follow (exotic escapes), it degrades to
/// the nearest earlier position rather than failing.
#[must_use]
pub fn map_scalar_offset(
    raw: &str,
    raw_start: usize,
    style: Style,
    value: &str,
    value_offset: usize,
) -> usize {
    let raw_bytes = raw.as_bytes();
    let mut r = match style {
        Style::SingleQuoted | Style::DoubleQuoted => 1.min(raw.len()),
        _ => 0,
    };
    for (vi, c) in value.char_indices() {
        loop {
            if r >= raw.len() {
                return raw_start + raw.len();
            }
            let Some(rc) = raw[r..].chars().next() else {
                return raw_start + raw.len();
            };
            if style == Style::DoubleQuoted && rc == '\\' {
                let len = escape_len(&raw_bytes[r..]);
                let next = raw_bytes.get(r + 1).copied();
                if matches!(next, Some(b'\n' | b'\r')) {
                    // An escaped line break produces nothing: skip it and the indentation.
                    r += len;
                    while r < raw.len() && matches!(raw_bytes[r], b' ' | b'\t') {
                        r += 1;
                    }
                    continue;
                }
                if vi >= value_offset {
                    return raw_start + r;
                }
                r += len;
                break;
            }
            let matches = rc == c || (matches!(c, ' ' | '\n') && rc == '\n');
            if matches {
                if vi >= value_offset {
                    return raw_start + r;
                }
                r += rc.len_utf8();
                break;
            }
            r += rc.len_utf8();
        }
    }
    raw_start + r.min(raw.len())
}

/// The file span of the byte range `range` inside a scalar's value (see
/// [`map_scalar_offset`]). `raw` is the scalar's source text, which starts at `span.start`.
#[must_use]
pub fn locate_range(
    raw: &str,
    span: Span,
    style: Style,
    value: &str,
    range: std::ops::Range<usize>,
) -> Span {
    let range_start = crate::source::floor_char_boundary(value, range.start);
    let start = map_scalar_offset(raw, span.start, style, value, range_start);
    let end = if range.end > range_start {
        // Map the last character, then step over it: a range ending at a line break would
        // otherwise stretch to the next line's indentation.
        let last = crate::source::floor_char_boundary(value, range.end.min(value.len()) - 1);
        let width = value[last..].chars().next().map_or(1, char::len_utf8);
        map_scalar_offset(raw, span.start, style, value, last) + width
    } else {
        start
    };
    Span::new(span.file, start, end.max(start))
}

/// Length in bytes of the escape sequence at the start of `s` (which starts with `\`).
fn escape_len(s: &[u8]) -> usize {
    match s.get(1) {
        Some(b'x') => 4,
        Some(b'u') => 6,
        Some(b'U') => 10,
        Some(b'\r') if s.get(2) == Some(&b'\n') => 3,
        Some(_) => 2,
        None => 1,
    }
    .min(s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        let p = parse(text, FileId(0));
        assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
        p.root.unwrap_or_else(|| panic!("no root"))
    }

    #[test]
    fn keys_and_values_carry_their_spans() {
        let text = "a: 1\nsteps:\n  - id: x\n    hunt: {query: q}\n";
        let n = root(text);
        let steps = n.get("steps").unwrap();
        assert_eq!(&text[steps.key_span.start..steps.key_span.end], "steps");
        let step = &steps.value.as_seq().unwrap()[0];
        let id = step.get("id").unwrap();
        assert_eq!(&text[id.value.span.start..id.value.span.end], "x");
        let hunt = step.get("hunt").unwrap();
        assert_eq!(
            &text[hunt.value.span.start..hunt.value.span.end],
            "{query: q}"
        );
    }

    #[test]
    fn plain_scalars_resolve_by_the_core_schema() {
        let n = root("a: 1\nb: '1'\nc: no\nd: true\ne: ~\nf: 1.5\ng: 0x1f\nh: -3\ni: 1e3\nj: 1d\n");
        let r = |k: &str| n.get(k).unwrap().value.to_json();
        assert_eq!(r("a"), serde_json::json!(1));
        assert_eq!(r("b"), serde_json::json!("1"));
        assert_eq!(r("c"), serde_json::json!("no"));
        assert_eq!(r("d"), serde_json::json!(true));
        assert_eq!(r("e"), serde_json::Value::Null);
        assert_eq!(r("f"), serde_json::json!(1.5));
        assert_eq!(r("g"), serde_json::json!(31));
        assert_eq!(r("h"), serde_json::json!(-3));
        assert_eq!(r("i"), serde_json::json!(1000.0));
        assert_eq!(r("j"), serde_json::json!("1d"));
    }

    #[test]
    fn syntax_errors_point_at_the_problem() {
        let p = parse("a: 1\nb: [1, 2\n", FileId(0));
        assert!(p.root.is_none());
        assert_eq!(p.diagnostics.len(), 1);
        assert_eq!(p.diagnostics[0].code, Code::YamlSyntax);
    }

    #[test]
    fn a_misindented_line_gets_an_indentation_help() {
        let text = "steps:\n  - id: a\n    output:\n      template: x\n     path: y\n";
        let p = parse(text, FileId(0));
        assert_eq!(p.diagnostics.len(), 1, "{:?}", p.diagnostics);
        let help = p.diagnostics[0].help.as_deref().unwrap_or_default();
        assert_eq!(
            help,
            "check the indentation: this line is indented 5 spaces, but the entries it can \
             belong with are indented 6 (as on line 4) or 4 (as on line 2)"
        );
        let text = "steps:\n  - id: a\n    hunt: x\n   - id: b\n";
        let p = parse(text, FileId(0));
        let help = p.diagnostics[0].help.as_deref().unwrap_or_default();
        assert!(help.contains("indented 3 spaces"), "{help}");
        assert!(
            help.ends_with("indented 4 (as on line 3) or 2 (as on line 2)"),
            "{help}"
        );
        // Not an indentation problem: no help.
        let p = parse("a: 1\nb: [1, 2\n", FileId(0));
        assert!(p.diagnostics[0].help.is_none());
    }

    #[test]
    fn duplicate_keys_are_reported_and_the_first_wins() {
        let text = "a: 1\nb: 2\na: 3\n";
        let p = parse(text, FileId(0));
        assert_eq!(p.diagnostics.len(), 1);
        let d = &p.diagnostics[0];
        assert_eq!(d.code, Code::DuplicateKey);
        assert_eq!(d.span.map(|s| s.start), Some(10));
        assert_eq!(p.root.unwrap().get("a").unwrap().value.to_json(), 1);
    }

    #[test]
    fn merge_keys_fill_in_missing_keys_only() {
        let n = root("base: &b {x: 1, y: 2}\nit:\n  <<: *b\n  y: 3\n");
        let it = n.get("it").unwrap().value.to_json();
        assert_eq!(it, serde_json::json!({"y": 3, "x": 1}));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let p = parse(&text, FileId(0));
        assert!(p.root.is_none());
        assert_eq!(p.diagnostics[0].code, Code::YamlTooComplex);
    }

    #[test]
    fn a_second_document_is_an_error() {
        let p = parse("a: 1\n---\nb: 2\n", FileId(0));
        assert_eq!(p.diagnostics[0].code, Code::UnsupportedYaml);
    }

    #[test]
    fn unknown_tags_are_reported() {
        let p = parse("a: !include x.yaml\n", FileId(0));
        assert_eq!(p.diagnostics[0].code, Code::UnsupportedYaml);
        assert!(p.diagnostics[0].message.contains("!include"));
    }

    fn mapped(text: &str, key: &str, needle: &str) -> (usize, usize) {
        let n = root(text);
        let v = &n.get(key).unwrap().value;
        let s = v.as_scalar().unwrap();
        let off = s.text.find(needle).unwrap();
        let at = map_scalar_offset(
            &text[v.span.start..v.span.end],
            v.span.start,
            s.style,
            &s.text,
            off,
        );
        let f = crate::source::SourceFile::new("x", text);
        let lc = f.line_col(at);
        assert_eq!(&text[at..at + needle.len()], needle);
        (lc.line, lc.column)
    }

    #[test]
    fn offsets_inside_block_scalars_map_to_their_line() {
        let text = "q: |\n  DeviceInfo\n    | where {{ x }}\n  | take 1\n";
        assert_eq!(mapped(text, "q", "{{ x }}"), (3, 13));
        assert_eq!(mapped(text, "q", "take"), (4, 5));
        let folded = "q: >\n  a b\n  c {{ y }}\n";
        assert_eq!(mapped(folded, "q", "{{ y }}"), (3, 5));
    }

    #[test]
    fn offsets_inside_quoted_scalars_skip_escapes() {
        let text = "q: \"a\\tb \\\"c\\\" {{ x }}\"\n";
        assert_eq!(mapped(text, "q", "{{ x }}"), (1, 16));
        let single = "q: 'it''s {{ y }}'\n";
        assert_eq!(mapped(single, "q", "{{ y }}"), (1, 11));
        let multi = "q: \"first\n  second {{ z }}\"\n";
        assert_eq!(mapped(multi, "q", "{{ z }}"), (2, 10));
    }
}
