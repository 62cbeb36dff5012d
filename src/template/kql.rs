//! KQL literal rendering (playbook language §4.1): every `{{ value }}` in a query becomes a
//! literal that cannot change the query's meaning, whatever the value holds.
//!
//! | value | literal |
//! |---|---|
//! | string | `"…"`, see [`string_literal`] |
//! | integer / number | `42`, `-3`, `0.5`, `1e+21` (NaN and infinities are errors) |
//! | boolean | `true`, `false` |
//! | duration | timespan: `1d`, `90m`, `1500ms` |
//! | datetime | `datetime(2026-11-25T10:00:00.0000000Z)` |
//! | list | `("a", "b", 3)` for `in (…)`; empty: `(dynamic([]))`; nested lists and maps inside are `dynamic(…)`; written directly inside parentheses (`in ({{ ids }})`): its items, `"a", "b", 3` ([`items_literal`]) |
//! | map | `dynamic({"k": …})` |
//! | none | an error (KQL strings have no null; use `default()` or a condition) |
//!
//! The guarantee also needs the literal to land in KQL *code*: the query scan finds, at
//! compile time, a `{{ … }}` inside a KQL string literal, a multi-line string, or right
//! after the `@` of a verbatim string, where a quote in the value would end the string.

use std::fmt::Write;
use std::ops::Range;
use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};
use minijinja::value::ValueKind;

use super::Value;
use super::types::format_duration;
use super::value::{as_datetime, as_duration, as_verbatim, describe};

/// A value that has no KQL literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct KqlError {
    /// What went wrong, lowercase, no trailing period.
    pub message: String,
}

fn err(message: impl Into<String>) -> KqlError {
    KqlError {
        message: message.into(),
    }
}

/// The KQL literal of a value (see the module table).
///
/// # Errors
/// For none, undefined, non-finite numbers, integers beyond KQL's 64-bit `long`, datetimes
/// outside years 1–9999, and values with no literal (functions).
pub fn literal(value: &Value) -> Result<String, KqlError> {
    if let Some(items) = list_items(value) {
        let items = items?;
        if items.is_empty() {
            // `x in ()` does not parse; an empty dynamic array matches nothing.
            return Ok("(dynamic([]))".to_string());
        }
        let mut out = String::from("(");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if is_container(item) {
                out.push_str("dynamic(");
                dynamic_body(item, &mut out)?;
                out.push(')');
            } else {
                out.push_str(&scalar(item)?);
            }
        }
        out.push(')');
        return Ok(out);
    }
    if value.kind() == ValueKind::Map {
        let mut out = String::from("dynamic(");
        dynamic_body(value, &mut out)?;
        out.push(')');
        return Ok(out);
    }
    scalar(value)
}

fn is_container(v: &Value) -> bool {
    v.kind() == ValueKind::Map || list_items(v).is_some()
}

/// The items of a list-like value (not strings, not typed scalars).
fn list_items(v: &Value) -> Option<Result<Vec<Value>, KqlError>> {
    if as_duration(v).is_some() || as_datetime(v).is_some() || as_verbatim(v).is_some() {
        return None;
    }
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => Some(
            v.try_iter()
                .map(Iterator::collect)
                .map_err(|e| err(format!("cannot read a list: {e}"))),
        ),
        _ => None,
    }
}

fn scalar(v: &Value) -> Result<String, KqlError> {
    if let Some(d) = as_duration(v) {
        return Ok(timespan_literal(d));
    }
    if let Some(t) = as_datetime(v) {
        return datetime_literal(t);
    }
    if let Some(text) = as_verbatim(v) {
        return Ok(string_literal(text));
    }
    match v.kind() {
        ValueKind::String => Ok(string_literal(v.as_str().unwrap_or_default())),
        ValueKind::Bool => Ok(if v.is_true() { "true" } else { "false" }.to_string()),
        ValueKind::Number if v.is_integer() => match i64::try_from(v.clone()) {
            Ok(n) => Ok(n.to_string()),
            Err(_) => Err(err(format!("integer {v} is outside KQL's 64-bit range"))),
        },
        ValueKind::Number => {
            let f = f64::try_from(v.clone()).map_err(|e| err(e.to_string()))?;
            real_literal(f)
        }
        ValueKind::None => Err(err(
            "cannot put none (null) into a query: KQL strings have no null; \
             use `| default(…)` or a condition",
        )),
        ValueKind::Undefined => Err(err("cannot put an undefined value into a query")),
        _ => Err(err(format!("{} has no KQL literal", describe(v)))),
    }
}

/// A KQL `real`: always with a `.` or an exponent, so it never reads as a `long`.
fn real_literal(f: f64) -> Result<String, KqlError> {
    if !f.is_finite() {
        return Err(err(format!(
            "cannot put {f} into a query: only finite numbers have a KQL literal"
        )));
    }
    // Rust's `Debug` for f64 is the shortest round-tripping form and always has a `.` or
    // an exponent (`1.0`, `0.1`, `1e21`, `1e-7`); all are KQL real literals.
    Ok(format!("{f:?}"))
}

/// A KQL timespan: the largest exact unit (`1d`, `90m`, `45s`, `1500ms`).
#[must_use]
pub fn timespan_literal(d: Duration) -> String {
    format_duration(d)
}

/// A KQL datetime with the engine's 100 ns precision: `datetime(2026-11-25T10:00:00.0000000Z)`.
///
/// # Errors
/// When the year is outside 1–9999, KQL's range.
pub fn datetime_literal(t: DateTime<Utc>) -> Result<String, KqlError> {
    if !(1..=9999).contains(&t.year()) {
        return Err(err(format!(
            "datetime {t} is outside KQL's range (years 1 to 9999)"
        )));
    }
    Ok(format!(
        "datetime({:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z)",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond().min(999_999_999) / 100
    ))
}

/// A double-quoted KQL string literal that holds `s` exactly and stays on one line:
/// `\` and `"` are backslash-escaped; newline, carriage return and tab become `\n`, `\r`,
/// `\t`; every other control character, the line and paragraph separators (U+2028, U+2029)
/// and invisible formatting characters (zero-width spaces and joiners, bidirectional
/// embeddings, overrides and isolates, the BOM, tag characters) become `\uXXXX` or
/// `\UXXXXXXXX`, so what a reviewer sees is what the engine gets. Everything else —
/// quotes `'`, `|`, `//`, `;`, letters of every script, emoji — is kept as is: inside the
/// quotes it is just text.
#[must_use]
pub fn string_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let code = u32::from(c);
                // Writing to a String cannot fail.
                let _ = if code <= 0xFFFF {
                    write!(out, "\\u{code:04X}")
                } else {
                    write!(out, "\\U{code:08X}")
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Control characters, line/paragraph separators and the invisible format characters
/// (Unicode category Cf) that can hide or reorder text.
fn needs_escape(c: char) -> bool {
    if c.is_control() {
        return true;
    }
    matches!(u32::from(c),
        0x00AD
        | 0x0600..=0x0605
        | 0x061C
        | 0x06DD
        | 0x070F
        | 0x08E2
        | 0x180E
        | 0x200B..=0x200F
        | 0x2028..=0x202E
        | 0x2060..=0x2064
        | 0x2066..=0x206F
        | 0xFEFF
        | 0xFFF9..=0xFFFB
        | 0x110BD
        | 0x110CD
        | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A
        | 0xE0001
        | 0xE0020..=0xE007F)
}

/// The inside of a `dynamic(…)` literal: JSON-like, with KQL literals for typed values.
fn dynamic_body(v: &Value, out: &mut String) -> Result<(), KqlError> {
    if let Some(items) = list_items(v) {
        out.push('[');
        for (i, item) in items?.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            dynamic_body(item, out)?;
        }
        out.push(']');
        return Ok(());
    }
    if v.kind() == ValueKind::Map {
        out.push('{');
        let keys = v
            .try_iter()
            .map_err(|e| err(format!("cannot read a map: {e}")))?;
        for (i, key) in keys.enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let item = v.get_item(&key).unwrap_or_default();
            let key = key.as_str().map_or_else(|| key.to_string(), str::to_string);
            out.push_str(&string_literal(&key));
            out.push_str(": ");
            dynamic_body(&item, out)?;
        }
        out.push('}');
        return Ok(());
    }
    if v.is_none() {
        out.push_str("null");
        return Ok(());
    }
    out.push_str(&scalar(v)?);
    Ok(())
}

/// Where the KQL lexer is in the template's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    Code,
    /// Inside `"…"`/`'…'` (backslash escapes) or, verbatim, `@"…"` (doubled quotes).
    Str {
        quote: u8,
        verbatim: bool,
        escaped: bool,
    },
    /// Just after a quote that closes a verbatim string unless the next byte doubles it.
    VerbatimQuote(u8),
    Comment,
    /// Inside a ```` ``` ```` or `~~~` multi-line string; `run` counts closing characters.
    Fence {
        fence: u8,
        run: u8,
    },
}

/// A byte-level lexer for just enough KQL to know whether a position is in code.
struct KqlLexer {
    state: Lex,
    /// The last three bytes seen in code (0 for an interpolated literal).
    last: [u8; 3],
    /// The last non-whitespace byte that left the lexer in code (0 for a literal).
    last_code: u8,
}

impl KqlLexer {
    fn new() -> KqlLexer {
        KqlLexer {
            state: Lex::Code,
            last: [0; 3],
            last_code: 0,
        }
    }

    fn push(&mut self, b: u8) {
        self.last = [self.last[1], self.last[2], b];
    }

    fn code(&self, b: u8) -> Lex {
        match b {
            b'/' if self.last[2] == b'/' => Lex::Comment,
            b'`' | b'~' if self.last[1] == b && self.last[2] == b => {
                Lex::Fence { fence: b, run: 0 }
            }
            b'"' | b'\'' => Lex::Str {
                quote: b,
                verbatim: self.last[2] == b'@',
                escaped: false,
            },
            _ => Lex::Code,
        }
    }

    fn feed(&mut self, b: u8) {
        self.state = match self.state {
            Lex::Code => self.code(b),
            Lex::VerbatimQuote(q) if b == q => Lex::Str {
                quote: q,
                verbatim: true,
                escaped: false,
            },
            Lex::VerbatimQuote(_) => self.code(b),
            Lex::Str {
                quote,
                verbatim: false,
                escaped: true,
            } => Lex::Str {
                quote,
                verbatim: false,
                escaped: false,
            },
            Lex::Str {
                quote,
                verbatim: false,
                escaped: false,
            } => {
                if b == b'\\' {
                    Lex::Str {
                        quote,
                        verbatim: false,
                        escaped: true,
                    }
                } else if b == quote {
                    Lex::Code
                } else {
                    self.state
                }
            }
            Lex::Str {
                quote,
                verbatim: true,
                ..
            } => {
                if b == quote {
                    Lex::VerbatimQuote(quote)
                } else {
                    self.state
                }
            }
            Lex::Comment if b == b'\n' => Lex::Code,
            Lex::Comment => Lex::Comment,
            Lex::Fence { fence, run } if b == fence && run == 2 => Lex::Code,
            Lex::Fence { fence, run } if b == fence => Lex::Fence {
                fence,
                run: run + 1,
            },
            Lex::Fence { fence, .. } => Lex::Fence { fence, run: 0 },
        };
        if self.state == Lex::Code && !b.is_ascii_whitespace() {
            self.last_code = b;
        }
        self.push(b);
    }

    /// Why an interpolated literal cannot go here, if it cannot.
    fn misplaced(&self) -> Option<&'static str> {
        match self.state {
            Lex::Str { verbatim: true, .. } => Some("inside a verbatim KQL string (`@\"…\"`)"),
            Lex::Str { .. } => Some("inside a KQL string literal"),
            Lex::Fence { .. } => Some("inside a KQL multi-line string"),
            Lex::Code if self.last[2] == b'@' => Some("right after `@`"),
            Lex::Code | Lex::VerbatimQuote(_) | Lex::Comment => None,
        }
    }

    /// An interpolated literal is a complete token: code goes on after it.
    fn interpolated(&mut self) {
        if matches!(self.state, Lex::VerbatimQuote(_)) {
            self.state = Lex::Code;
        }
        self.last_code = 0;
        self.push(0);
    }
}

/// A `{{ … }}` placed where a quote in its value could end a KQL string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Misplaced {
    pub message: String,
    pub range: Range<usize>,
}

/// What a query template's KQL text says about its placeholders.
#[derive(Debug, Default)]
pub(crate) struct QueryScan {
    /// Placeholders inside KQL strings, where quoting could be undone.
    pub misplaced: Vec<Misplaced>,
    /// Byte ranges of the expressions of placeholders written directly inside KQL
    /// parentheses (`in ({{ ids }})`, `has_any({{ ids }})`): a list there renders as its
    /// items, since the author already wrote the parentheses.
    pub in_parens: Vec<Range<usize>>,
}

/// Lex a query template's KQL text in source order (ignoring control flow) to find
/// placeholders that do not land in KQL code (or a comment) — inside a KQL string literal,
/// a multi-line string, or right after the `@` of a verbatim string — and placeholders
/// directly inside parentheses. `| raw` placeholders are the author's explicit choice and
/// are left alone (validation warns about them). A template that does not tokenize yields
/// nothing (the parser reports it).
pub(crate) fn scan_query(source: &str, syntax: &minijinja::syntax::SyntaxConfig) -> QueryScan {
    use minijinja::machinery::{Token, tokenize};
    let mut scan = QueryScan::default();
    let mut lexer = KqlLexer::new();
    // The current `{{`: where it starts and where its expression starts.
    let mut open: Option<(usize, usize)> = None;
    // Inside the current `{{ … }}`: whether the previous token was `|`, and whether the
    // expression so far ends in `| raw` (its outermost filter, so its output is verbatim).
    let mut after_pipe = false;
    let mut ends_raw = false;
    // A placeholder just closed after a `(`: its expression, waiting for a `)`.
    let mut paren_candidate: Option<Range<usize>> = None;
    for token in tokenize(source, false, syntax.clone()) {
        let Ok((token, span)) = token else {
            return QueryScan::default();
        };
        match token {
            Token::TemplateData(text) => {
                for b in text.bytes() {
                    if let Some(expr) = paren_candidate.take_if(|_| !b.is_ascii_whitespace())
                        && b == b')'
                        && lexer.state == Lex::Code
                    {
                        scan.in_parens.push(expr);
                    }
                    lexer.feed(b);
                }
            }
            Token::VariableStart => {
                open = Some((span.start_offset as usize, span.end_offset as usize));
                after_pipe = false;
                ends_raw = false;
                paren_candidate = None;
            }
            Token::VariableEnd => {
                let (start, expr_start) = open.take().unwrap_or((0, 0));
                let expr_end = span.start_offset as usize;
                if !ends_raw {
                    if let Some(place) = lexer.misplaced() {
                        scan.misplaced.push(Misplaced {
                            message: format!(
                                "`{{{{ … }}}}` is {place}: values are quoted for you, so write \
                                 it outside quotes (`where DeviceName == {{{{ item.DeviceName }}}}`)"
                            ),
                            range: start..span.end_offset as usize,
                        });
                    } else if lexer.state == Lex::Code && lexer.last_code == b'(' {
                        paren_candidate = Some(expr_start..expr_end);
                    }
                }
                lexer.interpolated();
            }
            Token::BlockStart => paren_candidate = None,
            Token::BlockEnd => {}
            other => {
                ends_raw = after_pipe && matches!(other, Token::Ident("raw"));
                after_pipe = matches!(other, Token::Pipe);
            }
        }
    }
    scan
}

/// The KQL of a value written directly inside parentheses (`in ({{ ids }})`): a list as its
/// items, `"a", "b"`, an empty list as `dynamic([])`; anything else as [`literal`].
///
/// # Errors
/// As [`literal`].
pub fn items_literal(value: &Value) -> Result<String, KqlError> {
    match list_items(value) {
        Some(items) if items.as_ref().is_ok_and(Vec::is_empty) => Ok("dynamic([])".to_string()),
        Some(_) => {
            let list = literal(value)?;
            // `literal` wraps a non-empty list in exactly one pair of parentheses.
            Ok(list
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .unwrap_or(&list)
                .to_string())
        }
        None => literal(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::value::{datetime, duration};
    use chrono::TimeZone;

    /// A reference decoder for KQL double-quoted literals (kql-reference §5.1), used to
    /// prove that a literal holds exactly the original text and nothing else.
    fn decode(literal: &str) -> Result<String, String> {
        let body = literal
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .ok_or("not a double-quoted literal")?;
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Err("unescaped quote inside the literal".into()),
                '\n' | '\r' => return Err("raw line break inside the literal".into()),
                '\\' => {
                    let e = chars.next().ok_or("dangling backslash")?;
                    match e {
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        '\'' => out.push('\''),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' | 'U' => {
                            let n = if e == 'u' { 4 } else { 8 };
                            let hex: String = chars.by_ref().take(n).collect();
                            let code = u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?;
                            out.push(char::from_u32(code).ok_or("bad code point")?);
                        }
                        other => return Err(format!("unexpected escape \\{other}")),
                    }
                }
                c => out.push(c),
            }
        }
        Ok(out)
    }

    const HOSTILE: &[&str] = &[
        "",
        "plain",
        "\"; DeviceInfo | take 1 //",
        "\" or 1==1 or \"",
        "' or '1'=='1",
        "C:\\Windows\\System32\\",
        "ends with backslash \\",
        "\\\"",
        "line1\nline2\r\nline3",
        "tab\there",
        "nul\0byte",
        "pipe | where x",
        "// not a comment",
        "```fence``` ~~~",
        "@\"verbatim\"",
        "héllo wörld 中文 Ελληνικά",
        "rtl \u{200F}mark and \u{202E}override\u{202C}",
        "isolate \u{2066}x\u{2069}",
        "zero\u{200B}width\u{FEFF}bom",
        "line\u{2028}sep\u{2029}para\u{0085}nel",
        "del\u{7F} bell\u{7} esc\u{1B}[31m",
        "emoji 🛡️👩‍💻",
        "tag \u{E0041}\u{E007F}",
        "soft\u{AD}hyphen",
    ];

    #[test]
    fn hostile_strings_stay_one_exact_string_literal() {
        for s in HOSTILE {
            let lit = string_literal(s);
            assert_eq!(decode(&lit).as_deref(), Ok(*s), "literal {lit}");
            assert!(!lit.contains('\n') && !lit.contains('\r'), "{lit}");
            for c in lit.chars() {
                assert!(!needs_escape(c), "{lit} keeps {:?}", c);
            }
        }
    }

    #[test]
    fn string_literals_read_naturally() {
        assert_eq!(
            string_literal("\"; DeviceInfo | take 1 //"),
            r#""\"; DeviceInfo | take 1 //""#
        );
        assert_eq!(string_literal(r"C:\Temp\x.exe"), r#""C:\\Temp\\x.exe""#);
        assert_eq!(string_literal("a\nb\r\tc\0"), r#""a\nb\r\tc\u0000""#);
        assert_eq!(string_literal("O'Brien"), r#""O'Brien""#);
        assert_eq!(string_literal("a\u{202E}b"), r#""a\u202Eb""#);
        assert_eq!(string_literal("x\u{2028}y"), r#""x\u2028y""#);
        assert_eq!(string_literal("t\u{E0041}"), r#""t\U000E0041""#);
        assert_eq!(string_literal("中文 🛡️"), "\"中文 🛡️\"");
    }

    #[test]
    fn scalars_render_as_kql_literals() {
        let lit = |v: Value| literal(&v).unwrap();
        assert_eq!(lit(Value::from(42)), "42");
        assert_eq!(lit(Value::from(-3)), "-3");
        assert_eq!(lit(Value::from(1.5)), "1.5");
        assert_eq!(lit(Value::from(2.0)), "2.0");
        assert_eq!(lit(Value::from(1e21)), "1e21");
        assert_eq!(lit(Value::from(true)), "true");
        assert_eq!(lit(Value::from(false)), "false");
        assert_eq!(lit(duration(Duration::from_secs(86_400))), "1d");
        assert_eq!(lit(duration(Duration::from_secs(5400))), "90m");
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
        assert_eq!(lit(datetime(t)), "datetime(2026-11-25T10:00:00.0000000Z)");
        let precise = t + chrono::Duration::nanoseconds(123_456_789);
        assert_eq!(
            lit(datetime(precise)),
            "datetime(2026-11-25T10:00:00.1234567Z)"
        );
    }

    #[test]
    fn values_without_a_safe_literal_are_errors() {
        let e = literal(&Value::from(())).unwrap_err();
        assert!(
            e.message.starts_with("cannot put none (null) into a query"),
            "{e}"
        );
        assert!(literal(&Value::from(f64::NAN)).is_err());
        assert!(literal(&Value::from(f64::INFINITY)).is_err());
        let e = literal(&Value::from(u64::MAX)).unwrap_err();
        assert_eq!(
            e.message,
            "integer 18446744073709551615 is outside KQL's 64-bit range"
        );
        assert!(literal(&Value::from(vec![Value::from(())])).is_err());
        let old = Utc.with_ymd_and_hms(-5, 1, 1, 0, 0, 0).unwrap();
        assert!(literal(&datetime(old)).is_err());
    }

    #[test]
    fn lists_render_for_in_and_containers_as_dynamic() {
        let list = Value::from(vec![Value::from("a\"b"), Value::from(3), Value::from(true)]);
        assert_eq!(literal(&list).unwrap(), r#"("a\"b", 3, true)"#);
        assert_eq!(
            literal(&Value::from(Vec::<Value>::new())).unwrap(),
            "(dynamic([]))"
        );
        let nested = Value::from(vec![
            Value::from(vec![Value::from("x")]),
            Value::from_pairs([("k", Value::from(1))]),
        ]);
        assert_eq!(
            literal(&nested).unwrap(),
            r#"(dynamic(["x"]), dynamic({"k": 1}))"#
        );
        let t = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let map = Value::from_pairs([
            ("name", Value::from("a\nb")),
            ("none", Value::from(())),
            ("at", datetime(t)),
            ("every", duration(Duration::from_secs(60))),
        ]);
        assert_eq!(
            literal(&map).unwrap(),
            r#"dynamic({"name": "a\nb", "none": null, "at": datetime(2026-01-02T03:04:05.0000000Z), "every": 1m})"#
        );
    }

    fn placement(source: &str) -> Result<(), String> {
        match scan_query(source, &minijinja::syntax::SyntaxConfig::default())
            .misplaced
            .first()
        {
            Some(m) => Err(format!("{} @ {}", m.message, &source[m.range.clone()])),
            None => Ok(()),
        }
    }

    #[test]
    fn interpolations_inside_kql_strings_are_rejected() {
        let e = placement(r#"T | where Name == "{{ item.Name }}""#).unwrap_err();
        assert!(
            e.starts_with("`{{ … }}` is inside a KQL string literal"),
            "{e}"
        );
        assert!(e.ends_with("@ {{ item.Name }}"), "{e}");
        assert!(placement("T | where Name == '{{ item.Name }}'").is_err());
        let e = placement("T | where Name == @{{ item.Name }}").unwrap_err();
        assert!(e.contains("right after `@`"), "{e}");
        let e = placement("T | where Name == @'x{{ item.Name }}'").unwrap_err();
        assert!(e.contains("verbatim"), "{e}");
        let e = placement("T | extend x = ```\n{{ item.Name }}\n```").unwrap_err();
        assert!(e.contains("multi-line"), "{e}");
        assert!(placement(r#"T | where Name == "{{ item.Name | raw | upper }}""#).is_err());
    }

    #[test]
    fn interpolations_in_code_are_accepted_after_any_kind_of_string() {
        assert_eq!(
            placement(r#"T | where A == "C:\\" and B == {{ x }}"#),
            Ok(())
        );
        assert_eq!(
            placement(r#"T | where A == "say \"hi\"" and B == {{ x }}"#),
            Ok(())
        );
        assert_eq!(
            placement(r#"T | where A == @"a""b" and B == {{ x }}"#),
            Ok(())
        );
        assert_eq!(placement("T | where A == @'c:\\' and B == {{ x }}"), Ok(()));
        assert_eq!(
            placement("T | where A == ```multi\nline``` and B == {{ x }}"),
            Ok(())
        );
        assert_eq!(
            placement("T // a \"comment {{ x }}\n| where B == {{ y }}"),
            Ok(())
        );
        assert_eq!(
            placement("T | where A == h{{ x }} and B in ({{ y }}, {{ z }})"),
            Ok(())
        );
        assert_eq!(placement(r#"T | where Name == "{{ x | raw }}""#), Ok(()));
        assert_eq!(
            placement("T | where X == {{ a }}{% if b %} and Y == {{ b }}{% endif %}"),
            Ok(())
        );
    }
}

#[cfg(test)]
mod paren_tests {
    use super::*;

    fn in_parens(source: &str) -> Vec<&str> {
        scan_query(source, &minijinja::syntax::SyntaxConfig::default())
            .in_parens
            .into_iter()
            .map(|r| &source[r])
            .collect()
    }

    #[test]
    fn finds_placeholders_directly_inside_parentheses() {
        assert_eq!(
            in_parens("T | where A in ({{ ids }}) and B has_any({{- xs -}}) and C == ({{ c }} )"),
            vec![" ids ", " xs ", " c "]
        );
        assert!(in_parens("T | where A in ({{ a }}, {{ b }})").is_empty());
        assert!(in_parens("T | where A in {{ ids }} and ago({{ d | raw }})").is_empty());
        assert!(in_parens("T | where A == \"(\" and B == {{ b }} and C == \")\"").is_empty());
        assert!(in_parens("T | where A in ({{ a }}{% if x %}){% endif %}").is_empty());
    }

    #[test]
    fn items_of_a_list_without_parentheses() {
        let list = Value::from(vec![Value::from("a\")"), Value::from(2)]);
        assert_eq!(items_literal(&list).unwrap(), r#""a\")", 2"#);
        assert_eq!(
            items_literal(&Value::from(Vec::<Value>::new())).unwrap(),
            "dynamic([])"
        );
        assert_eq!(items_literal(&Value::from("x")).unwrap(), r#""x""#);
    }
}
