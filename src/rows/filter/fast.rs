//! The fast path: `$[?<expr>]` over the top-level rows, where `<expr>` is built from
//! `@.Col` / `@['Col']`, literals, the six comparisons, `&&`, `||`, `!`, parentheses,
//! existence tests and `match()` / `search()` with a literal pattern, optionally followed by
//! one member name (`$[?…].DeviceName`: that column of the kept rows).
//!
//! The parser only recognises that subset and says `None` to anything else (the caller then
//! uses `serde_json_path`). It runs after `serde_json_path` accepted the expression, so it
//! never has to report errors, only to never misread what it accepts. The comparison rules
//! copy `serde_json_path_core` 0.2 exactly (numbers compared as `f64`, deep equality for
//! arrays and objects), so both paths select the same rows; a property test holds them to it.

use std::str::FromStr;

use regex::Regex;
use serde_json::{Number, Value};

use super::FilterOutput;
use crate::rows::rowset::{Cell, RowSet};
use crate::rows::view::Rows;

/// A parsed fast-path filter.
#[derive(Debug)]
pub(crate) struct FastFilter {
    expr: Expr,
    /// A trailing `.Name` / `['Name']` segment: the kept rows' values of that column.
    project: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Col(String),
    Lit(Lit),
}

#[derive(Debug)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Exists(String),
    Cmp(Operand, Op, Operand),
    /// `match` / `search`; `None` when the pattern does not compile (always false, as in
    /// `serde_json_path`).
    Regex(Operand, Option<Regex>),
}

impl FastFilter {
    /// Recognise the fast subset; `None` for anything else.
    pub(crate) fn parse(path: &str) -> Option<FastFilter> {
        let mut p = Parser { s: path, i: 0 };
        p.ws();
        p.eat('$')?;
        p.ws();
        p.eat('[')?;
        p.ws();
        p.eat('?')?;
        p.ws();
        let expr = p.or()?;
        p.ws();
        p.eat(']')?;
        let mut names = p.name_segments()?;
        p.ws();
        if p.i != p.s.len() || names.len() > 1 {
            return None;
        }
        Some(FastFilter {
            expr,
            project: names.pop(),
        })
    }

    /// Evaluate against every row of the view.
    pub(crate) fn apply(&self, rows: &Rows) -> FilterOutput {
        let set = rows.set();
        let expr = resolve(&self.expr, set);
        let kept = rows.retain_ids(|row| eval(&expr, set, row));
        match &self.project {
            None => FilterOutput::Rows(kept),
            Some(name) => {
                let col = set.column_index(name);
                FilterOutput::Values(
                    kept.iter()
                        .filter_map(|r| col.and_then(|c| r.cell(c).to_json()))
                        .collect(),
                )
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parsing

struct Parser<'s> {
    s: &'s str,
    i: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        self.s.get(self.i..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            if matches!(c, ' ' | '\t' | '\n' | '\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: char) -> Option<()> {
        if self.peek() == Some(c) {
            self.i += c.len_utf8();
            Some(())
        } else {
            None
        }
    }

    fn eat_str(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.i += s.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Option<Expr> {
        let mut items = vec![self.and()?];
        loop {
            let save = self.i;
            self.ws();
            if self.eat_str("||") {
                self.ws();
                items.push(self.and()?);
            } else {
                self.i = save;
                break;
            }
        }
        Some(if items.len() == 1 {
            items.pop()?
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Option<Expr> {
        let mut items = vec![self.basic()?];
        loop {
            let save = self.i;
            self.ws();
            if self.eat_str("&&") {
                self.ws();
                items.push(self.basic()?);
            } else {
                self.i = save;
                break;
            }
        }
        Some(if items.len() == 1 {
            items.pop()?
        } else {
            Expr::And(items)
        })
    }

    fn paren(&mut self) -> Option<Expr> {
        self.eat('(')?;
        self.ws();
        let e = self.or()?;
        self.ws();
        self.eat(')')?;
        Some(e)
    }

    fn basic(&mut self) -> Option<Expr> {
        if self.eat('!').is_some() {
            self.ws();
            let inner = if self.peek() == Some('(') {
                self.paren()?
            } else {
                // `!` applies to a test (existence or function), never to a comparison.
                let e = self.test_or_comparison()?;
                if matches!(e, Expr::Cmp(..)) {
                    return None;
                }
                e
            };
            return Some(Expr::Not(Box::new(inner)));
        }
        if self.peek() == Some('(') {
            return self.paren();
        }
        self.test_or_comparison()
    }

    fn test_or_comparison(&mut self) -> Option<Expr> {
        let c = self.peek()?;
        if c == '@' {
            let col = self.rel_query()?;
            let save = self.i;
            self.ws();
            if let Some(op) = self.op() {
                self.ws();
                let rhs = self.comparable()?;
                return Some(Expr::Cmp(Operand::Col(col), op, rhs));
            }
            self.i = save;
            return Some(Expr::Exists(col));
        }
        if self.rest().starts_with("match(") || self.rest().starts_with("search(") {
            let full = self.eat_str("match");
            if !full && !self.eat_str("search") {
                return None;
            }
            let e = self.regex_call(full)?;
            // A function result used in a comparison is not this subset.
            let save = self.i;
            self.ws();
            if self.op().is_some() {
                return None;
            }
            self.i = save;
            return Some(e);
        }
        let lhs = Operand::Lit(self.literal()?);
        self.ws();
        let op = self.op()?;
        self.ws();
        let rhs = self.comparable()?;
        Some(Expr::Cmp(lhs, op, rhs))
    }

    fn regex_call(&mut self, full: bool) -> Option<Expr> {
        self.eat('(')?;
        self.ws();
        let arg = self.comparable()?;
        self.ws();
        self.eat(',')?;
        self.ws();
        let Lit::Str(pattern) = self.literal()? else {
            return None;
        };
        self.ws();
        self.eat(')')?;
        // The same pattern text serde_json_path builds, so both paths agree on every regex.
        let text = if full {
            format!("(?R)^({pattern})$")
        } else {
            format!("(?R)({pattern})")
        };
        Some(Expr::Regex(arg, Regex::new(&text).ok()))
    }

    fn comparable(&mut self) -> Option<Operand> {
        if self.peek() == Some('@') {
            Some(Operand::Col(self.rel_query()?))
        } else {
            Some(Operand::Lit(self.literal()?))
        }
    }

    fn op(&mut self) -> Option<Op> {
        for (text, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if self.eat_str(text) {
                return Some(op);
            }
        }
        None
    }

    /// `@` followed by exactly one name segment.
    fn rel_query(&mut self) -> Option<String> {
        self.eat('@')?;
        let mut names = self.name_segments()?;
        if names.len() == 1 { names.pop() } else { None }
    }

    /// Zero or more `.name` / `['name']` segments; `None` for any other kind of segment.
    fn name_segments(&mut self) -> Option<Vec<String>> {
        let mut names = Vec::new();
        loop {
            let save = self.i;
            self.ws();
            if self.rest().starts_with("..") {
                return None;
            }
            if self.eat('.').is_some() {
                names.push(self.member_name()?);
            } else if self.eat('[').is_some() {
                self.ws();
                let Lit::Str(name) = self.literal()? else {
                    return None;
                };
                self.ws();
                self.eat(']')?;
                names.push(name);
            } else {
                self.i = save;
                break;
            }
        }
        Some(names)
    }

    fn member_name(&mut self) -> Option<String> {
        let start = self.i;
        let first = self.peek()?;
        if !(first.is_ascii_alphabetic() || first == '_' || u32::from(first) >= 0x80) {
            return None;
        }
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' || u32::from(c) >= 0x80 {
                self.i += c.len_utf8();
            } else {
                break;
            }
        }
        Some(self.s.get(start..self.i)?.to_owned())
    }

    fn literal(&mut self) -> Option<Lit> {
        match self.peek()? {
            q @ ('\'' | '"') => self.string(q).map(Lit::Str),
            '-' | '0'..='9' => self.number().map(Lit::Num),
            _ => {
                for (word, lit) in [
                    ("true", Lit::Bool(true)),
                    ("false", Lit::Bool(false)),
                    ("null", Lit::Null),
                ] {
                    if self.eat_str(word) {
                        return Some(lit);
                    }
                }
                None
            }
        }
    }

    fn number(&mut self) -> Option<f64> {
        let start = self.i;
        let bytes = self.s.as_bytes();
        let mut j = self.i;
        let digits = |j: &mut usize| {
            let from = *j;
            while bytes.get(*j).is_some_and(u8::is_ascii_digit) {
                *j += 1;
            }
            *j > from
        };
        if bytes.get(j) == Some(&b'-') {
            j += 1;
        }
        if !digits(&mut j) {
            return None;
        }
        if bytes.get(j) == Some(&b'.') {
            j += 1;
            if !digits(&mut j) {
                return None;
            }
        }
        if matches!(bytes.get(j), Some(b'e' | b'E')) {
            j += 1;
            if matches!(bytes.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if !digits(&mut j) {
                return None;
            }
        }
        let text = self.s.get(start..j)?;
        // Leading zeros (`01`) are not JSONPath numbers; serde_json_path rejects them, so
        // they never reach here, but stay out of the subset to be safe.
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        if unsigned.len() > 1
            && unsigned.starts_with('0')
            && !unsigned[1..].starts_with(['.', 'e', 'E'])
        {
            return None;
        }
        self.i = j;
        Number::from_str(text).ok()?.as_f64()
    }

    fn string(&mut self, quote: char) -> Option<String> {
        self.eat(quote)?;
        let mut out = String::new();
        loop {
            let c = self.peek()?;
            self.i += c.len_utf8();
            match c {
                c if c == quote => return Some(out),
                '\\' => {
                    let e = self.peek()?;
                    self.i += e.len_utf8();
                    match e {
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        '/' => out.push('/'),
                        '\\' => out.push('\\'),
                        e if e == quote => out.push(e),
                        'u' => out.push(self.unicode_escape()?),
                        _ => return None,
                    }
                }
                c if u32::from(c) < 0x20 => return None,
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let text = self.s.get(self.i..self.i + 4)?;
        let v = u32::from_str_radix(text, 16).ok()?;
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        Some(v)
    }

    fn unicode_escape(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) {
            if !self.eat_str("\\u") {
                return None;
            }
            let lo = self.hex4()?;
            if !(0xDC00..0xE000).contains(&lo) {
                return None;
            }
            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
        } else {
            char::from_u32(hi)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Evaluation

/// An operand bound to a row set: a column index (or none, when the set lacks the column:
/// always Nothing) or a literal.
enum ROperand<'e> {
    Col(Option<usize>),
    Lit(&'e Lit),
}

enum RExpr<'e> {
    Or(Vec<RExpr<'e>>),
    And(Vec<RExpr<'e>>),
    Not(Box<RExpr<'e>>),
    Exists(Option<usize>),
    Cmp(ROperand<'e>, Op, ROperand<'e>),
    Regex(ROperand<'e>, Option<&'e Regex>),
}

fn resolve_operand<'e>(o: &'e Operand, set: &RowSet) -> ROperand<'e> {
    match o {
        Operand::Col(name) => ROperand::Col(set.column_index(name)),
        Operand::Lit(l) => ROperand::Lit(l),
    }
}

fn resolve<'e>(e: &'e Expr, set: &RowSet) -> RExpr<'e> {
    match e {
        Expr::Or(v) => RExpr::Or(v.iter().map(|e| resolve(e, set)).collect()),
        Expr::And(v) => RExpr::And(v.iter().map(|e| resolve(e, set)).collect()),
        Expr::Not(e) => RExpr::Not(Box::new(resolve(e, set))),
        Expr::Exists(name) => RExpr::Exists(set.column_index(name)),
        Expr::Cmp(l, op, r) => RExpr::Cmp(resolve_operand(l, set), *op, resolve_operand(r, set)),
        Expr::Regex(arg, re) => RExpr::Regex(resolve_operand(arg, set), re.as_ref()),
    }
}

/// A value during evaluation. `Arr`/`Obj` hold compact JSON text.
#[derive(Clone, Copy)]
enum V<'a> {
    Nothing,
    Null,
    Bool(bool),
    Num(f64),
    Str(&'a str),
    Arr(&'a str),
    Obj(&'a str),
}

fn cell_at(set: &RowSet, col: Option<usize>, row: usize) -> Cell {
    col.and_then(|c| set.cells.get(c))
        .and_then(|c| c.get(row))
        .copied()
        .unwrap_or(Cell::Missing)
}

fn value<'a>(o: &ROperand<'a>, set: &'a RowSet, row: usize) -> V<'a> {
    match o {
        ROperand::Lit(l) => match l {
            Lit::Null => V::Null,
            Lit::Bool(b) => V::Bool(*b),
            Lit::Num(n) => V::Num(*n),
            Lit::Str(s) => V::Str(s),
        },
        ROperand::Col(c) => match cell_at(set, *c, row) {
            Cell::Missing => V::Nothing,
            Cell::Null => V::Null,
            Cell::Bool(b) => V::Bool(b),
            // `as f64` is what serde_json's `Number::as_f64` does, which serde_json_path
            // compares with.
            Cell::I64(i) => V::Num(i as f64),
            Cell::U64(u) => V::Num(u as f64),
            Cell::F64(f) => V::Num(f),
            Cell::Str(r) => V::Str(set.str_at(r)),
            Cell::Json(r) => {
                let t = set.str_at(r);
                if t.starts_with('[') {
                    V::Arr(t)
                } else {
                    V::Obj(t)
                }
            }
        },
    }
}

fn json_eq(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn eq(a: V<'_>, b: V<'_>) -> bool {
    match (a, b) {
        (V::Nothing, V::Nothing) | (V::Null, V::Null) => true,
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Num(x), V::Num(y)) => x == y,
        (V::Str(x), V::Str(y)) => x == y,
        (V::Arr(x), V::Arr(y)) | (V::Obj(x), V::Obj(y)) => x == y || json_eq(x, y),
        _ => false,
    }
}

fn lt(a: V<'_>, b: V<'_>) -> bool {
    match (a, b) {
        (V::Num(x), V::Num(y)) => x < y,
        (V::Str(x), V::Str(y)) => x < y,
        _ => false,
    }
}

fn same_type(a: V<'_>, b: V<'_>) -> bool {
    matches!(
        (a, b),
        (V::Null, V::Null)
            | (V::Bool(_), V::Bool(_))
            | (V::Num(_), V::Num(_))
            | (V::Str(_), V::Str(_))
            | (V::Arr(_), V::Arr(_))
            | (V::Obj(_), V::Obj(_))
    )
}

fn compare(a: V<'_>, op: Op, b: V<'_>) -> bool {
    match op {
        Op::Eq => eq(a, b),
        Op::Ne => !eq(a, b),
        Op::Lt => same_type(a, b) && lt(a, b),
        Op::Gt => same_type(a, b) && !lt(a, b) && !eq(a, b),
        Op::Le => same_type(a, b) && (lt(a, b) || eq(a, b)),
        Op::Ge => same_type(a, b) && !lt(a, b),
    }
}

fn eval(e: &RExpr<'_>, set: &RowSet, row: usize) -> bool {
    match e {
        RExpr::Or(v) => v.iter().any(|e| eval(e, set, row)),
        RExpr::And(v) => v.iter().all(|e| eval(e, set, row)),
        RExpr::Not(e) => !eval(e, set, row),
        RExpr::Exists(c) => !matches!(cell_at(set, *c, row), Cell::Missing),
        RExpr::Cmp(l, op, r) => compare(value(l, set, row), *op, value(r, set, row)),
        RExpr::Regex(arg, re) => match (value(arg, set, row), re) {
            (V::Str(s), Some(re)) => re.is_match(s),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parses(p: &str) -> bool {
        FastFilter::parse(p).is_some()
    }

    #[test]
    fn recognises_the_common_subset() {
        for p in [
            "$[?@.AccountName != 'system']",
            "$[?@['AccountName'] == \"system\"]",
            "$[? @.a < 3 && (@.b >= -1.5e2 || !@.c)]",
            "$[?!(@.a == null) && @.b == true]",
            "$[?match(@.FileName, 'power.*\\\\.exe')]",
            "$[?!search(@.Cmd, '-enc')]",
            "$[?1 == @.a]",
            "$[?@.a == @.b]",
            "$[?@['it\\'s'] == '\\u00e9']",
            "$[?@.a == 1].DeviceName",
            "$[?@.a == 1] ['x y']",
        ] {
            assert!(parses(p), "{p}");
        }
    }

    #[test]
    fn declines_everything_else() {
        for p in [
            "$[*]",
            "$[?@.a.b == 1]",
            "$[?@..a]",
            "$[?@.a == 1].b.c",
            "$[?@.a == 1][0]",
            "$[?@.a == 1].*",
            "$[?@.a == 1]..b",
            "$[?@.a == 1, ?@.b]",
            "$[?@[0] == 1]",
            "$[?length(@.a) > 1]",
            "$[?$.x == 1]",
            "$[?@ == 1]",
            "$.results[?@.a]",
            "$[?match(@.a, @.b)]",
        ] {
            assert!(!parses(p), "{p}");
        }
    }

    #[test]
    fn string_escapes_decode() {
        let mut p = Parser {
            s: r"'a\'b\\c\u00e9\ud83d\ude00\n'",
            i: 0,
        };
        assert_eq!(p.string('\'').as_deref(), Some("a'b\\cé😀\n"));
        let mut lone = Parser {
            s: r"'\ud83d'",
            i: 0,
        };
        assert_eq!(lone.string('\''), None);
    }
}
