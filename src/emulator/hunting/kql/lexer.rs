//! The KQL lexer: turns query text into tokens with byte spans. It decodes every string literal
//! form (quoted with escapes, `@` verbatim, `h` obfuscated, ```` ``` ```` multi-line), numbers,
//! timespan literals (`1d`, `90m`, `1.5h`), and keeps the raw text of `datetime(…)` and
//! `timespan(…)` literals, whose contents are not tokens.

use super::error::{KqlError, Span};
use super::value::{scale_ticks, timespan_unit};

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An identifier or keyword, including `!has`-style negated operator words, `in~`, `!in~`
    /// and hyphenated operator names (`project-away`).
    Ident(String),
    /// `['name']` or `["name"]`.
    BracketName(String),
    /// A string literal, decoded.
    Str(String),
    Long(i64),
    Real(f64),
    /// A timespan literal, in ticks.
    Timespan(i64),
    /// `datetime(…)`, `date(…)`, `timespan(…)` or `time(…)` with the raw text inside.
    TypedRaw {
        kind: String,
        text: String,
    },
    /// Punctuation and operators.
    Punct(&'static str),
    Eof,
}

/// A token with its source span.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

const HYPHENATED: &[&str] = &[
    "project-away",
    "project-rename",
    "project-reorder",
    "project-keep",
    "project-smart",
    "mv-expand",
    "mv-apply",
    "make-series",
    "top-nested",
    "top-hitters",
    "make-graph",
];

const PUNCT: &[&str] = &[
    "..", "==", "!=", "=~", "!~", "<=", ">=", "<>", "|", ",", ";", "(", ")", "[", "]", "{", "}",
    "=", "<", ">", "+", "-", "*", "/", "%", ".", ":", "?",
];

/// Split `src` into tokens, ending with `Eof`.
///
/// # Errors
/// A syntax error at the first character that starts no token.
pub fn lex(src: &str) -> Result<Vec<Token>, KqlError> {
    let mut lx = Lexer { src, pos: 0 };
    let mut out = Vec::new();
    loop {
        lx.skip_trivia();
        let start = lx.pos;
        let Some(c) = lx.peek() else {
            out.push(Token {
                tok: Tok::Eof,
                span: Span::new(start, start),
            });
            return Ok(out);
        };
        let tok = lx.next_token(c)?;
        out.push(Token {
            tok,
            span: Span::new(start, lx.pos),
        });
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_trivia(&mut self) {
        loop {
            let Some(c) = self.peek() else { return };
            if c.is_whitespace() {
                self.bump();
            } else if self.rest().starts_with("//") {
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.bump();
                }
            } else {
                return;
            }
        }
    }

    fn error_here(&self, start: usize, detail: &str) -> KqlError {
        let end = self.src[start..]
            .char_indices()
            .find(|(_, c)| c.is_whitespace())
            .map_or(self.src.len(), |(i, _)| start + i)
            .max(start + self.src[start..].chars().next().map_or(0, char::len_utf8));
        KqlError::syntax(Span::new(start, end), detail)
    }

    fn next_token(&mut self, c: char) -> Result<Tok, KqlError> {
        let start = self.pos;
        // String literal prefixes: h"…", H'…', h@"…", @"…".
        if (c == 'h' || c == 'H') && matches!(self.peek_at(1), Some('"' | '\'')) {
            self.bump();
            return self.quoted_string(start);
        }
        if (c == 'h' || c == 'H')
            && self.peek_at(1) == Some('@')
            && matches!(self.peek_at(2), Some('"' | '\''))
        {
            self.bump();
            self.bump();
            return self.verbatim_string(start);
        }
        if c == '@' && matches!(self.peek_at(1), Some('"' | '\'')) {
            self.bump();
            return self.verbatim_string(start);
        }
        if c == '"' || c == '\'' {
            return self.quoted_string(start);
        }
        if self.rest().starts_with("```") || self.rest().starts_with("~~~") {
            return self.multiline_string(start);
        }
        if c.is_ascii_digit() {
            return self.number(start);
        }
        if c == '[' && matches!(self.peek_at(1), Some('"' | '\'')) {
            // `['name']` is a name; `['a', 'b']` is an array that starts with a string.
            if let Ok(tok) = self.bracket_name(start) {
                return Ok(tok);
            }
            self.pos = start + 1;
            return Ok(Tok::Punct("["));
        }
        if c == '!' && self.peek_at(1).is_some_and(char::is_alphabetic) {
            self.bump();
            let word = self.word();
            let mut name = format!("!{word}");
            if word == "in" && self.peek() == Some('~') {
                self.bump();
                name.push('~');
            }
            return Ok(Tok::Ident(name));
        }
        if is_ident_start(c) {
            return Ok(self.identifier());
        }
        for p in PUNCT {
            if self.rest().starts_with(p) {
                self.pos += p.len();
                return Ok(Tok::Punct(p));
            }
        }
        Err(self.error_here(start, "unexpected character"))
    }

    fn word(&mut self) -> String {
        let start = self.pos;
        if self.peek() == Some('$') {
            self.bump();
        }
        while self.peek().is_some_and(is_ident_char) {
            self.bump();
        }
        self.src[start..self.pos].to_string()
    }

    fn identifier(&mut self) -> Tok {
        let mut word = self.word();
        if word == "in" && self.peek() == Some('~') {
            self.bump();
            word.push('~');
            return Tok::Ident(word);
        }
        if self.peek() == Some('-') && self.peek_at(1).is_some_and(char::is_alphabetic) {
            let save = self.pos;
            self.bump();
            let tail = self.word();
            let joined = format!("{word}-{tail}");
            if HYPHENATED.contains(&joined.as_str()) {
                return Tok::Ident(joined);
            }
            self.pos = save;
        }
        if matches!(word.as_str(), "datetime" | "date" | "timespan" | "time") {
            let save = self.pos;
            self.skip_trivia();
            if self.peek() == Some('(') {
                self.bump();
                let inner_start = self.pos;
                if let Some(close) = self.rest().find(')') {
                    let text = self.src[inner_start..inner_start + close].to_string();
                    self.pos = inner_start + close + 1;
                    return Tok::TypedRaw { kind: word, text };
                }
            }
            self.pos = save;
        }
        Tok::Ident(word)
    }

    fn bracket_name(&mut self, start: usize) -> Result<Tok, KqlError> {
        self.bump(); // [
        let Tok::Str(name) = self.quoted_string(self.pos)? else {
            return Err(self.error_here(start, "expected a quoted name"));
        };
        self.skip_trivia();
        if self.peek() != Some(']') {
            return Err(self.error_here(start, "expected ']' after a bracketed name"));
        }
        self.bump();
        Ok(Tok::BracketName(name))
    }

    fn quoted_string(&mut self, start: usize) -> Result<Tok, KqlError> {
        let Some(quote) = self.bump() else {
            return Err(self.error_here(start, "unterminated string literal"));
        };
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(KqlError::syntax(
                    Span::new(start, self.pos),
                    "unterminated string literal",
                ));
            };
            match c {
                c if c == quote => return Ok(Tok::Str(out)),
                '\n' => {
                    return Err(KqlError::syntax(
                        Span::new(start, self.pos),
                        "a string literal cannot span lines (use ``` for multi-line text)",
                    ));
                }
                '\\' => self.escape(&mut out, start)?,
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut String, start: usize) -> Result<(), KqlError> {
        let Some(e) = self.bump() else {
            return Err(KqlError::syntax(
                Span::new(start, self.pos),
                "unterminated string literal",
            ));
        };
        let hex = |lx: &mut Lexer<'_>, n: usize| -> Option<char> {
            let digits: String = lx.rest().chars().take(n).collect();
            if digits.len() != n || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            lx.pos += n;
            u32::from_str_radix(&digits, 16)
                .ok()
                .and_then(char::from_u32)
        };
        let c = match e {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'v' => '\u{b}',
            'u' => hex(self, 4).ok_or_else(|| {
                KqlError::syntax(Span::new(start, self.pos), "invalid \\u escape")
            })?,
            'U' => hex(self, 8).ok_or_else(|| {
                KqlError::syntax(Span::new(start, self.pos), "invalid \\U escape")
            })?,
            'x' => hex(self, 2).ok_or_else(|| {
                KqlError::syntax(Span::new(start, self.pos), "invalid \\x escape")
            })?,
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            self.bump();
                        }
                        None => break,
                    }
                }
                char::from_u32(v).unwrap_or('\u{fffd}')
            }
            // Unknown escapes yield the character itself (`\q` is `q`), quotes and `\\` too.
            other => other,
        };
        out.push(c);
        Ok(())
    }

    fn verbatim_string(&mut self, start: usize) -> Result<Tok, KqlError> {
        let Some(quote) = self.bump() else {
            return Err(self.error_here(start, "unterminated string literal"));
        };
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(KqlError::syntax(
                    Span::new(start, self.pos),
                    "unterminated string literal",
                ));
            };
            if c == quote {
                if self.peek() == Some(quote) {
                    self.bump();
                    out.push(quote);
                    continue;
                }
                return Ok(Tok::Str(out));
            }
            if c == '\n' {
                return Err(KqlError::syntax(
                    Span::new(start, self.pos),
                    "a string literal cannot span lines (use ``` for multi-line text)",
                ));
            }
            out.push(c);
        }
    }

    fn multiline_string(&mut self, start: usize) -> Result<Tok, KqlError> {
        let fence = &self.src[self.pos..self.pos + 3];
        self.pos += 3;
        match self.rest().find(fence) {
            Some(end) => {
                let text = self.src[self.pos..self.pos + end].to_string();
                self.pos += end + 3;
                Ok(Tok::Str(text))
            }
            None => Err(KqlError::syntax(
                Span::new(start, self.src.len()),
                "unterminated multi-line string literal",
            )),
        }
    }

    fn number(&mut self, start: usize) -> Result<Tok, KqlError> {
        if self.rest().starts_with("0x") || self.rest().starts_with("0X") {
            self.pos += 2;
            let ds = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                self.bump();
            }
            return i64::from_str_radix(&self.src[ds..self.pos], 16)
                .map(Tok::Long)
                .map_err(|_| self.error_here(start, "invalid hexadecimal number"));
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        let mut real = false;
        if self.peek() == Some('.') && self.peek_at(1) != Some('.') {
            real = true;
            self.bump();
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
        }
        if matches!(self.peek(), Some('e' | 'E'))
            && (self.peek_at(1).is_some_and(|c| c.is_ascii_digit())
                || (matches!(self.peek_at(1), Some('+' | '-'))
                    && self.peek_at(2).is_some_and(|c| c.is_ascii_digit())))
        {
            real = true;
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
        }
        let num_text = &self.src[start..self.pos];
        if self.peek().is_some_and(char::is_alphabetic) {
            let suffix_start = self.pos;
            while self.peek().is_some_and(char::is_alphabetic) {
                self.bump();
            }
            let suffix = &self.src[suffix_start..self.pos];
            let amount: f64 = num_text
                .parse()
                .map_err(|_| self.error_here(start, "invalid number"))?;
            return match timespan_unit(suffix) {
                Some(0) => Ok(Tok::Timespan(scale_ticks(amount / 100.0, 1).unwrap_or(0))),
                Some(unit) => scale_ticks(amount, unit).map(Tok::Timespan).ok_or_else(|| {
                    KqlError::syntax(Span::new(start, self.pos), "timespan literal out of range")
                }),
                None => Err(KqlError::syntax(
                    Span::new(start, self.pos),
                    &format!(
                        "'{suffix}' is not a timespan unit (use d, h, m, s, ms, microsecond or tick; there is no week or month unit)"
                    ),
                )),
            };
        }
        if real {
            num_text
                .parse::<f64>()
                .map(Tok::Real)
                .map_err(|_| self.error_here(start, "invalid number"))
        } else {
            num_text.parse::<i64>().map(Tok::Long).map_err(|_| {
                KqlError::syntax(Span::new(start, self.pos), "integer literal out of range")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::hunting::kql::value::{TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MINUTE};

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    fn ident(s: &str) -> Tok {
        Tok::Ident(s.to_string())
    }

    #[test]
    fn pipeline_tokens_with_spans() {
        let t = lex("T | where x == 'a' // comment\n| take 5").unwrap();
        let kinds: Vec<&Tok> = t.iter().map(|t| &t.tok).collect();
        assert_eq!(
            kinds,
            vec![
                &ident("T"),
                &Tok::Punct("|"),
                &ident("where"),
                &ident("x"),
                &Tok::Punct("=="),
                &Tok::Str("a".into()),
                &Tok::Punct("|"),
                &ident("take"),
                &Tok::Long(5),
                &Tok::Eof
            ]
        );
        assert_eq!(t[5].span, Span::new(15, 18));
    }

    #[test]
    fn negated_and_special_operator_words() {
        assert_eq!(
            toks("a !has b !in~ c in~ d !contains_cs e project-away f"),
            vec![
                ident("a"),
                ident("!has"),
                ident("b"),
                ident("!in~"),
                ident("c"),
                ident("in~"),
                ident("d"),
                ident("!contains_cs"),
                ident("e"),
                ident("project-away"),
                ident("f"),
                Tok::Eof
            ]
        );
        // `a-b` that is not an operator name stays a subtraction.
        assert_eq!(
            toks("a-b"),
            vec![ident("a"), Tok::Punct("-"), ident("b"), Tok::Eof]
        );
        assert_eq!(toks("a !~ b")[1], Tok::Punct("!~"));
    }

    #[test]
    fn string_literal_forms() {
        assert_eq!(toks(r#""a\"b\\c\n""#)[0], Tok::Str("a\"b\\c\n".into()));
        assert_eq!(toks(r"'\u0041\x42\101\q'")[0], Tok::Str("ABAq".into()));
        assert_eq!(
            toks(r"@'C:\Folder\file.txt'")[0],
            Tok::Str(r"C:\Folder\file.txt".into())
        );
        assert_eq!(toks(r#"@"a""b""#)[0], Tok::Str("a\"b".into()));
        assert_eq!(toks(r#"h"secret""#)[0], Tok::Str("secret".into()));
        assert_eq!(toks(r"h@'c:\x'")[0], Tok::Str(r"c:\x".into()));
        assert_eq!(
            toks("```line1\nline2```")[0],
            Tok::Str("line1\nline2".into())
        );
        assert_eq!(toks("['where']")[0], Tok::BracketName("where".into()));
        assert_eq!(toks(r#"["Col 1"]"#)[0], Tok::BracketName("Col 1".into()));
    }

    #[test]
    fn numbers_and_timespans() {
        assert_eq!(toks("12")[0], Tok::Long(12));
        assert_eq!(toks("0xf")[0], Tok::Long(15));
        assert_eq!(toks("1.5")[0], Tok::Real(1.5));
        assert_eq!(toks("1e3")[0], Tok::Real(1000.0));
        assert_eq!(toks("30m")[0], Tok::Timespan(30 * TICKS_PER_MINUTE));
        assert_eq!(toks("1.5h")[0], Tok::Timespan(90 * TICKS_PER_MINUTE));
        assert_eq!(toks("2hours")[0], Tok::Timespan(2 * TICKS_PER_HOUR));
        assert_eq!(toks("7d")[0], Tok::Timespan(7 * TICKS_PER_DAY));
        assert_eq!(toks("100ms")[0], Tok::Timespan(1_000_000));
        assert_eq!(
            toks("1 .. 5"),
            vec![Tok::Long(1), Tok::Punct(".."), Tok::Long(5), Tok::Eof]
        );
        assert_eq!(
            toks("1..5"),
            vec![Tok::Long(1), Tok::Punct(".."), Tok::Long(5), Tok::Eof]
        );
    }

    #[test]
    fn typed_literals_keep_raw_text() {
        assert_eq!(
            toks("datetime(2024-01-01 10:00)")[0],
            Tok::TypedRaw {
                kind: "datetime".into(),
                text: "2024-01-01 10:00".into()
            }
        );
        assert_eq!(
            toks("timespan (1.02:00:00)")[0],
            Tok::TypedRaw {
                kind: "timespan".into(),
                text: "1.02:00:00".into()
            }
        );
        // A type name that is not followed by `(` stays an identifier.
        assert_eq!(toks("x:datetime)")[2], ident("datetime"));
    }

    #[test]
    fn errors_point_at_the_offending_text() {
        let e = lex("T | where x > 1w").unwrap_err();
        assert_eq!(e.span, Some(Span::new(14, 16)));
        assert!(
            e.detail.contains("'w' is not a timespan unit"),
            "{}",
            e.detail
        );
        let e = lex("T | where x == 'abc").unwrap_err();
        assert_eq!(e.span.map(|s| s.start), Some(15));
        let e = lex("T | where x == #").unwrap_err();
        assert_eq!(e.span, Some(Span::new(15, 16)));
        let e = lex("'a\nb'").unwrap_err();
        assert!(e.detail.contains("cannot span lines"));
    }
}
