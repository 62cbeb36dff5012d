//! Diagnostics: one model for every problem huntbook reports about a file (YAML syntax,
//! validation, bad inputs), and its two renderers — human text in the style of rustc, and
//! machine-readable JSON. Codes are stable: scripts and `docs/errors.md` rely on them.

use std::fmt::Write as _;

use serde::Serialize;

use crate::source::{SourceFile, SourceMap, Span};

/// How bad a diagnostic is. Errors make a playbook invalid (exit 2); warnings never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    /// `error` or `warning`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $text:literal, $sev:ident; )*) => {
        /// Stable diagnostic codes; each is documented with an example in `docs/errors.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// Every code, in documentation order.
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            /// The code as printed, e.g. `unknown-key`.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text,)* }
            }

            /// The severity every diagnostic with this code has.
            #[must_use]
            pub fn severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }
        }
    };
}

codes! {
    /// The file cannot be read (missing, permission denied, …).
    IoError = "io-error", Error;
    /// The path is a directory or another non-regular file.
    NotAFile = "not-a-file", Error;
    /// The file is larger than the 10 MB a playbook may have.
    FileTooLarge = "file-too-large", Error;
    /// The file is not UTF-8 text.
    NotUtf8 = "not-utf8", Error;
    /// The file holds no YAML document.
    EmptyFile = "empty-file", Error;
    /// The YAML does not parse.
    YamlSyntax = "yaml-syntax", Error;
    /// Aliases expand past the size budget (a "billion laughs" document), or nesting is too deep.
    YamlTooComplex = "yaml-too-complex", Error;
    /// YAML huntbook does not accept: several documents, complex keys, unknown tags.
    UnsupportedYaml = "unsupported-yaml", Error;
    /// A mapping has the same key twice.
    DuplicateKey = "duplicate-key", Error;
    /// `huntbook:` is missing a supported version.
    UnsupportedVersion = "unsupported-version", Error;
    /// A key the format does not define.
    UnknownKey = "unknown-key", Error;
    /// A value of the wrong YAML type (a list where a string belongs, …).
    WrongType = "wrong-type", Error;
    /// A required key is absent.
    MissingField = "missing-field", Error;
    /// A step calls an API but no `authenticate` step always runs before it.
    NoSignIn = "no-sign-in", Error;
    /// Two keys that exclude each other are both present.
    ConflictingFields = "conflicting-fields", Error;
    /// A key that has no meaning in this context (e.g. `scan_type` on `isolate`).
    NotApplicable = "not-applicable", Error;
    /// A step has no kind key.
    MissingKind = "missing-kind", Error;
    /// A step has more than one kind key.
    MultipleKinds = "multiple-kinds", Error;
    /// A `steps:` or `parallel:` list is empty.
    EmptySteps = "empty-steps", Error;
    /// A step id, input name or variable name is not an identifier.
    BadIdentifier = "bad-identifier", Error;
    /// The playbook `name` is not of the form `[a-z0-9][a-z0-9_-]*`.
    BadName = "bad-name", Error;
    /// Two steps have the same id.
    DuplicateId = "duplicate-id", Error;
    /// A value outside its allowed set.
    BadEnum = "bad-enum", Error;
    /// A value of the right type but not acceptable (range, format).
    BadValue = "bad-value", Error;
    /// A duration that does not parse.
    BadDuration = "bad-duration", Error;
    /// A date-time that does not parse.
    BadDatetime = "bad-datetime", Error;
    /// A template or expression that does not parse.
    BadTemplate = "bad-template", Error;
    /// A JSONPath expression that does not parse.
    BadJsonpath = "bad-jsonpath", Error;
    /// A literal secret where a secret reference belongs.
    LiteralSecret = "literal-secret", Error;
    /// A malformed secret reference.
    BadSecretRef = "bad-secret-ref", Error;
    /// `for_each`/`concurrency` used where they cannot work.
    LoopMisuse = "loop-misuse", Error;
    /// A reference to a step id that does not exist.
    UnknownStep = "unknown-step", Error;
    /// A reference to a step that runs later (or to the step itself).
    LaterStep = "later-step", Error;
    /// A reference to an output the step kind does not produce.
    UnknownOutput = "unknown-output", Error;
    /// A reference to an input that is not declared.
    UnknownInput = "unknown-input", Error;
    /// A reference to a `vars.` name no earlier `set` defines.
    UndefinedVar = "undefined-var", Error;
    /// `item` or `loop` outside a `for_each`.
    LoopVarOutsideLoop = "loop-var-outside-loop", Error;
    /// A name that is not in scope (`inputs`, `vars`, `steps`, `item`, `loop`, `env`, `run`,
    /// `state`).
    UnknownName = "unknown-name", Error;
    /// A file the playbook includes (`query_file`, `template_file`) cannot be read.
    MissingFile = "missing-file", Error;
    /// A request header huntbook sets itself.
    ForbiddenHeader = "forbidden-header", Error;
    /// A `--input` value that is undeclared or does not parse as its type.
    BadInput = "bad-input", Error;
    /// `| raw` inside a query: the value is not escaped as a KQL literal.
    RawInQuery = "raw-in-query", Warning;
    /// `api: defender` for hunting: Microsoft is retiring that endpoint.
    DeprecatedApi = "deprecated-api", Warning;
    /// A template reads a secret-looking environment variable.
    SecretInTemplate = "secret-in-template", Warning;
    /// A construct that works but is probably not what was meant.
    Suspicious = "suspicious", Warning;
}

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    /// One line, lowercase, no trailing period, user values in backticks.
    pub message: String,
    /// Where; `None` for problems with the file as a whole (unreadable, too large).
    pub span: Option<Span>,
    /// The file's path when there is no span.
    pub path: Option<String>,
    /// Text under the carets: what was expected.
    pub label: Option<String>,
    /// A suggestion, e.g. "did you mean `query`?".
    pub help: Option<String>,
    /// Extra context lines.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// A diagnostic with `code`'s severity at `span`.
    #[must_use]
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            span: Some(span),
            path: None,
            label: None,
            help: None,
            notes: Vec::new(),
        }
    }

    /// A diagnostic about a whole file.
    #[must_use]
    pub fn file(code: Code, path: impl Into<String>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            span: None,
            path: Some(path.into()),
            label: None,
            help: None,
            notes: Vec::new(),
        }
    }

    /// Set the text shown under the carets.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// Set the help line.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Set the help line when there is one.
    #[must_use]
    pub fn maybe_help(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Add a note line.
    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Whether this is an error (as opposed to a warning).
    #[must_use]
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Whether any diagnostic is an error.
#[must_use]
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}

/// "did you mean `x`?" for the candidate closest to `word`, when one is close enough.
#[must_use]
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The candidate closest to `word` (Jaro-Winkler ≥ 0.8 or a case-insensitive match).
#[must_use]
pub fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_lowercase();
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        let score = if c.to_lowercase() == lower {
            2.0
        } else {
            strsim::jaro_winkler(&lower, &c.to_lowercase())
        };
        if score >= 0.8 && best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.map(|(c, _)| c)
}

/// "`a`, `b` or `c`".
#[must_use]
pub fn one_of(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    }
}

/// Whether to colour human output on stderr: only on a terminal, and never with `NO_COLOR`.
#[must_use]
pub fn stderr_wants_colour() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Render diagnostics as human text, each followed by a blank line.
#[must_use]
pub fn render_human(diags: &[Diagnostic], sources: &SourceMap, colour: bool) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&render_one(d, sources, colour));
        out.push('\n');
    }
    out
}

/// Render one diagnostic as human text.
#[must_use]
pub fn render_one(d: &Diagnostic, sources: &SourceMap, colour: bool) -> String {
    let st = Style { on: colour };
    let sev_colour = match d.severity {
        Severity::Error => "1;31",
        Severity::Warning => "1;33",
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}{}",
        st.paint(
            sev_colour,
            &format!("{}[{}]", d.severity.as_str(), d.code.as_str())
        ),
        st.paint("1", &format!(": {}", d.message))
    );
    let extras: Vec<(&str, &str)> = d
        .help
        .iter()
        .map(|h| ("help", h.as_str()))
        .chain(d.notes.iter().map(|n| ("note", n.as_str())))
        .collect();
    let file = d.span.and_then(|s| sources.get(s.file).map(|f| (s, f)));
    let Some((span, file)) = file else {
        if let Some(path) = &d.path {
            let _ = writeln!(out, " {} {path}", st.paint("1;34", "-->"));
        }
        if let Some(label) = &d.label {
            let _ = writeln!(out, "  {} {label}", st.paint("1;34", "="));
        }
        for (prefix, text) in extras {
            let _ = writeln!(out, "  {} {prefix}: {text}", st.paint("1;34", "="));
        }
        return out;
    };
    write_snippet(
        &mut out,
        file,
        span,
        colour,
        sev_colour,
        d.label.as_deref(),
        &extras,
    );
    out
}

/// The located part of a message in the house style, shared by validation diagnostics and
/// run-time errors: `--> file:line:column`, the source line with carets under `span` (then
/// ` label`) in `caret_colour`, and `= help: …` / `= note: …` lines (`extras`).
pub(crate) fn write_snippet(
    out: &mut String,
    file: &SourceFile,
    span: Span,
    colour: bool,
    caret_colour: &str,
    label: Option<&str>,
    extras: &[(&str, &str)],
) {
    let st = Style { on: colour };
    let pos = file.line_col(span.start);
    let gutter = pos.line.to_string().len();
    let pad = " ".repeat(gutter);
    let bar = st.paint("1;34", "|");
    let _ = writeln!(
        out,
        "{pad}{} {}:{}:{}",
        st.paint("1;34", "-->"),
        file.name(),
        pos.line,
        pos.column
    );
    let _ = writeln!(out, "{pad} {bar}");
    let raw_line = file.line_text(pos.line);
    let (line_start, line_end) = file.line_range(pos.line);
    // Tabs are expanded so the carets line up in any terminal.
    let display_line = raw_line.replace('\t', "    ");
    let caret_col = raw_line
        .chars()
        .take(pos.column.saturating_sub(1))
        .map(|c| if c == '\t' { 4 } else { 1 })
        .sum::<usize>();
    let span_end = span.end.min(line_end).max(span.start.min(line_end));
    let covered = if span_end > span.start {
        let start = span.start.max(line_start);
        file.text().get(start..span_end).map_or(1, |t| {
            t.chars().map(|c| if c == '\t' { 4 } else { 1 }).sum()
        })
    } else {
        1
    };
    let _ = writeln!(
        out,
        "{} {bar} {}",
        st.paint("1;34", &pos.line.to_string()),
        display_line
    );
    let carets = "^".repeat(covered.max(1));
    let label = label.map(|l| format!(" {l}")).unwrap_or_default();
    let _ = writeln!(
        out,
        "{pad} {bar} {}{}",
        " ".repeat(caret_col),
        st.paint(caret_colour, &format!("{carets}{label}"))
    );
    if !extras.is_empty() {
        let _ = writeln!(out, "{pad} {bar}");
    }
    for (prefix, text) in extras {
        let _ = writeln!(out, "{pad} {} {prefix}: {text}", st.paint("1;34", "="));
    }
}

/// One diagnostic in the JSON output of `validate --format json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct JsonDiagnostic {
    pub file: String,
    /// 1-based; `null` for problems with the file as a whole.
    pub line: Option<usize>,
    /// 1-based, in characters; `null` with `line`.
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

/// The JSON form of `d`.
#[must_use]
pub fn to_json(d: &Diagnostic, sources: &SourceMap) -> JsonDiagnostic {
    let located = d.span.and_then(|s| sources.get(s.file).map(|f| (s, f)));
    let (file, line, column, end_line, end_column) = match located {
        Some((span, f)) => {
            let start = f.line_col(span.start);
            let end = f.line_col(span.end);
            (
                f.name(),
                Some(start.line),
                Some(start.column),
                Some(end.line),
                Some(end.column),
            )
        }
        None => (d.path.clone().unwrap_or_default(), None, None, None, None),
    };
    JsonDiagnostic {
        file,
        line,
        column,
        end_line,
        end_column,
        severity: d.severity,
        code: d.code.as_str(),
        message: d.message.clone(),
        label: d.label.clone(),
        help: d.help.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{FileId, SourceFile};

    fn map(text: &str) -> SourceMap {
        let mut m = SourceMap::new();
        m.add(SourceFile::new("playbooks/x.yaml", text));
        m
    }

    #[test]
    fn human_rendering_matches_the_house_style() {
        let text = "steps:\n  - hunt:\n      qeury: |\n        DeviceInfo\n";
        let sources = map(text);
        let start = text.find("qeury").unwrap_or(0);
        let d = Diagnostic::new(
            Code::UnknownKey,
            Span::new(FileId(0), start, start + 5),
            "unknown key `qeury` in a `hunt` step",
        )
        .label("expected one of `query`, `query_file`, `api`, `timespan`")
        .help("did you mean `query`?");
        let got = render_one(&d, &sources, false);
        let want = "\
error[unknown-key]: unknown key `qeury` in a `hunt` step
 --> playbooks/x.yaml:3:7
  |
3 |       qeury: |
  |       ^^^^^ expected one of `query`, `query_file`, `api`, `timespan`
  |
  = help: did you mean `query`?
";
        assert_eq!(got, want);
    }

    #[test]
    fn multi_line_spans_underline_to_the_end_of_the_first_line() {
        let sources = map("a: [1,\n  2]\n");
        let d = Diagnostic::new(Code::WrongType, Span::new(FileId(0), 3, 11), "bad");
        let got = render_one(&d, &sources, false);
        assert!(got.contains("1 | a: [1,\n  |    ^^^\n"), "{got}");
    }

    #[test]
    fn colour_is_only_used_when_asked() {
        let sources = map("a: 1\n");
        let d = Diagnostic::new(Code::UnknownKey, Span::new(FileId(0), 0, 1), "x");
        assert!(!render_one(&d, &sources, false).contains('\x1b'));
        assert!(render_one(&d, &sources, true).contains("\x1b[1;31m"));
    }

    #[test]
    fn json_positions_are_one_based() {
        let sources = map("a: 1\nbb: 2\n");
        let d = Diagnostic::new(
            Code::UnknownKey,
            Span::new(FileId(0), 5, 7),
            "unknown key `bb`",
        );
        let j = to_json(&d, &sources);
        assert_eq!(
            (j.line, j.column, j.end_column),
            (Some(2), Some(1), Some(3))
        );
        assert_eq!(j.code, "unknown-key");
        assert_eq!(j.file, "playbooks/x.yaml");
    }

    #[test]
    fn suggestions_pick_the_closest_candidate() {
        let keys = ["query", "query_file", "api", "timespan"];
        assert_eq!(closest("qeury", keys), Some("query"));
        assert_eq!(closest("API", keys), Some("api"));
        assert_eq!(closest("zzzz", keys), None);
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
    }

    #[test]
    fn every_code_is_documented() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/errors.md"))
            .unwrap_or_default();
        for c in Code::ALL {
            assert!(
                docs.contains(&format!("#### `{}`", c.as_str())),
                "docs/errors.md does not document `{}`",
                c.as_str()
            );
        }
    }

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "duplicate {}", c.as_str());
            assert!(
                c.as_str()
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
            );
        }
    }
}
