//! Recursive-descent parser from tokens to the syntax tree. Constructs outside the emulated
//! subset that are valid KQL (`join`, `union`, `mv-expand`, user functions, …) are reported as
//! unsupported, by name and position, rather than as syntax errors.

use super::ast::{
    BinOp, Expr, ExprKind, Ident, JoinKey, JoinKind, LetStmt, LetValue, MvItem, NamedExpr, Op,
    PipeOp, Query, ReorderOrder, SortKey, Source, StrOp, Tabular, Union, UnionLeg,
};
use super::error::{ErrorKind, KqlError, Span};
use super::lexer::{Tok, Token, lex};
use super::value::{Type, Value, parse_datetime, parse_timespan};

/// Tabular operators of KQL that the emulator does not implement.
const UNSUPPORTED_OPERATORS: &[&str] = &[
    "lookup",
    "mv-apply",
    "parse",
    "parse-where",
    "parse-kv",
    "evaluate",
    "invoke",
    "make-series",
    "top-nested",
    "top-hitters",
    "as",
    "serialize",
    "sample",
    "sample-distinct",
    "search",
    "find",
    "fork",
    "facet",
    "partition",
    "scan",
    "reduce",
    "project-smart",
    "make-graph",
    "graph-match",
    "consume",
    "externaldata",
    "range",
];

/// Operators the parser knows, for "did you mean" hints.
const SUPPORTED_OPERATORS: &[&str] = &[
    "where",
    "filter",
    "project",
    "project-away",
    "project-keep",
    "project-rename",
    "project-reorder",
    "extend",
    "summarize",
    "sort",
    "order",
    "top",
    "take",
    "limit",
    "distinct",
    "count",
    "render",
    "getschema",
    "join",
    "union",
    "mv-expand",
];

/// Parse a whole query.
///
/// # Errors
/// Syntax errors and unsupported constructs, with their position.
pub fn parse(src: &str) -> Result<Query, KqlError> {
    let tokens = lex(src)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    p.query()
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Nesting of expressions and sub-queries being parsed, bounded so hostile input cannot
    /// exhaust the stack.
    depth: usize,
}

/// Deepest nesting of parentheses and sub-queries a query may have.
pub const MAX_NESTING: usize = 64;

/// Deepest expression tree (chains of `or`, `and`, `+` count one level per operator).
pub const MAX_DEPTH: usize = 200;

fn is_keyword_ident(tok: &Tok, word: &str) -> bool {
    matches!(tok, Tok::Ident(w) if w == word)
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.tokens.get(self.pos).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> &Tok {
        self.tokens.get(self.pos + n).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn span(&self) -> Span {
        self.tokens
            .get(self.pos)
            .or_else(|| self.tokens.last())
            .map_or(Span::default(), |t| t.span)
    }

    fn prev_span(&self) -> Span {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(Span::default(), |t| t.span)
    }

    fn advance(&mut self) -> Token {
        let t = self.tokens.get(self.pos).cloned().unwrap_or(Token {
            tok: Tok::Eof,
            span: self.span(),
        });
        if self.pos < self.tokens.len() {
            self.pos += 1;
        }
        t
    }

    fn at_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn at_word(&self, w: &str) -> bool {
        is_keyword_ident(self.peek(), w)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.at_punct(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.at_word(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn err(&self, detail: &str) -> KqlError {
        KqlError::syntax(self.span(), detail)
    }

    fn expect_punct(&mut self, p: &str, what: &str) -> Result<Span, KqlError> {
        if self.at_punct(p) {
            Ok(self.advance().span)
        } else {
            Err(self.err(&format!("expected '{p}' {what}")))
        }
    }

    fn ident(&mut self, what: &str) -> Result<Ident, KqlError> {
        match self.peek().clone() {
            Tok::Ident(name) | Tok::BracketName(name) if !name.starts_with('!') => {
                let span = self.advance().span;
                Ok(Ident { name, span })
            }
            _ => Err(self.err(&format!("expected {what}"))),
        }
    }

    // ---------------------------------------------------------------- statements

    fn query(&mut self) -> Result<Query, KqlError> {
        let mut lets = Vec::new();
        loop {
            if self.at_word("let") {
                lets.push(self.let_stmt()?);
                continue;
            }
            if let Tok::Ident(w) = self.peek()
                && matches!(
                    w.as_str(),
                    "set" | "declare" | "alias" | "restrict" | "pattern"
                )
            {
                return Err(KqlError::unsupported(
                    self.span(),
                    &format!("the `{w}` statement"),
                ));
            }
            break;
        }
        if matches!(self.peek(), Tok::Eof) {
            return Err(self.err("expected a tabular expression (for example a table name)"));
        }
        let body = self.tabular()?;
        while self.eat_punct(";") {}
        if !matches!(self.peek(), Tok::Eof) {
            if self.prev_is_semicolon() {
                return Err(KqlError::unsupported(
                    self.span(),
                    "a query with more than one tabular statement",
                ));
            }
            return Err(self.err("expected '|' or the end of the query"));
        }
        Ok(Query { lets, body })
    }

    fn prev_is_semicolon(&self) -> bool {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .is_some_and(|t| t.tok == Tok::Punct(";"))
    }

    fn let_stmt(&mut self) -> Result<LetStmt, KqlError> {
        let let_span = self.advance().span;
        let name = self.ident("a name after 'let'")?;
        self.expect_punct("=", "after the let name")?;
        if self.at_punct("(") && self.looks_like_function() {
            return Err(KqlError::unsupported(
                let_span.to(self.span()),
                "a user-defined function (`let f = (…) { … }`)",
            ));
        }
        if self.at_word("view") {
            return Err(KqlError::unsupported(self.span(), "a `view` let statement"));
        }
        let value = self.let_value()?;
        if !self.eat_punct(";") {
            return Err(self.err("expected ';' after the let statement"));
        }
        Ok(LetStmt { name, value })
    }

    /// `(` followed by `)` `{` or `name :` starts a function definition.
    fn looks_like_function(&self) -> bool {
        matches!(
            (self.peek_at(1), self.peek_at(2)),
            (Tok::Punct(")"), Tok::Punct("{")) | (Tok::Ident(_), Tok::Punct(":"))
        )
    }

    fn let_value(&mut self) -> Result<LetValue, KqlError> {
        if let Tok::Ident(w) = self.peek() {
            if matches!(w.as_str(), "print" | "datatable") {
                return Ok(LetValue::Tabular(self.tabular()?));
            }
            if w == "materialize" && self.peek_at(1) == &Tok::Punct("(") {
                self.advance();
                self.advance();
                let inner = self.tabular()?;
                self.expect_punct(")", "to close materialize(")?;
                return Ok(LetValue::Tabular(
                    self.continue_tabular(Source::Paren(Box::new(inner)))?,
                ));
            }
        }
        let save = self.pos;
        let scalar = self.expr();
        match scalar {
            Ok(e) if !self.at_punct("|") => Ok(LetValue::Scalar(e)),
            Ok(_) => {
                self.pos = save;
                Ok(LetValue::Tabular(self.tabular()?))
            }
            Err(scalar_err) => {
                let scalar_pos = self.pos;
                self.pos = save;
                match self.tabular() {
                    Ok(t) => Ok(LetValue::Tabular(t)),
                    Err(tab_err) => {
                        // Report whichever reading got further into the text.
                        let s = scalar_err.span.map_or(0, |s| s.start);
                        let t = tab_err.span.map_or(0, |s| s.start);
                        if tab_err.kind == ErrorKind::Unsupported || t > s {
                            Err(tab_err)
                        } else {
                            self.pos = scalar_pos;
                            Err(scalar_err)
                        }
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- tabular

    fn tabular(&mut self) -> Result<Tabular, KqlError> {
        self.enter()?;
        let t = self.source().and_then(|s| self.continue_tabular(s));
        self.depth -= 1;
        t
    }

    fn continue_tabular(&mut self, source: Source) -> Result<Tabular, KqlError> {
        let mut ops = Vec::new();
        while self.eat_punct("|") {
            ops.push(self.pipe_op()?);
        }
        Ok(Tabular { source, ops })
    }

    fn source(&mut self) -> Result<Source, KqlError> {
        let start = self.span();
        match self.peek().clone() {
            Tok::Punct("(") => {
                self.advance();
                let inner = self.tabular()?;
                self.expect_punct(")", "to close the parenthesised tabular expression")?;
                Ok(Source::Paren(Box::new(inner)))
            }
            Tok::Ident(w) if w == "print" => {
                self.advance();
                let items = if matches!(self.peek(), Tok::Eof | Tok::Punct("|" | ";" | ")")) {
                    Vec::new()
                } else {
                    self.named_list()?
                };
                Ok(Source::Print {
                    items,
                    span: start.to(self.prev_span()),
                })
            }
            Tok::Ident(w) if w == "datatable" => self.datatable(),
            Tok::Ident(w) if w == "union" => {
                self.advance();
                Ok(Source::Union(self.union_body(start)?))
            }
            Tok::Ident(w) if UNSUPPORTED_OPERATORS.contains(&w.as_str()) => {
                Err(KqlError::unsupported(start, &format!("operator `{w}`")))
            }
            Tok::Ident(w) if !w.starts_with('!') => {
                self.advance();
                if self.at_punct("(") {
                    return Err(KqlError::unsupported(
                        start,
                        &format!("calling `{w}(…)` as a tabular source"),
                    ));
                }
                Ok(Source::Name(Ident {
                    name: w,
                    span: start,
                }))
            }
            Tok::BracketName(w) => {
                self.advance();
                Ok(Source::Name(Ident {
                    name: w,
                    span: start,
                }))
            }
            _ => Err(self.err("expected a tabular expression (for example a table name)")),
        }
    }

    fn datatable(&mut self) -> Result<Source, KqlError> {
        let start = self.advance().span;
        self.expect_punct("(", "after datatable")?;
        let mut columns = Vec::new();
        loop {
            let name = self.ident("a column name")?;
            self.expect_punct(":", "between the column name and its type")?;
            let ty_span = self.span();
            let ty_name = match self.advance().tok {
                Tok::Ident(t) => t,
                Tok::TypedRaw { kind, .. } => kind,
                _ => return Err(KqlError::syntax(ty_span, "expected a type name")),
            };
            let ty = Type::from_kql_name(&ty_name).ok_or_else(|| {
                if matches!(ty_name.as_str(), "guid" | "uuid" | "uniqueid" | "decimal") {
                    KqlError::unsupported(ty_span, &format!("the `{ty_name}` type"))
                } else {
                    KqlError::syntax(ty_span, "expected a type name")
                }
            })?;
            columns.push((name, ty));
            if !self.eat_punct(",") {
                break;
            }
        }
        self.expect_punct(")", "to close the datatable columns")?;
        if let Tok::BracketName(single) = self.peek().clone() {
            // `datatable(s:string)['x']`: one string value, lexed as a bracketed name.
            let span = self.advance().span;
            return Ok(Source::Datatable {
                columns,
                values: vec![Expr {
                    kind: ExprKind::Literal(Value::str(&single), Type::String),
                    span,
                }],
                span: start.to(span),
            });
        }
        self.expect_punct("[", "before the datatable values")?;
        let mut values = Vec::new();
        while !self.at_punct("]") {
            values.push(self.expr()?);
            if !self.eat_punct(",") {
                break;
            }
        }
        self.expect_punct("]", "to close the datatable values")?;
        Ok(Source::Datatable {
            columns,
            values,
            span: start.to(self.prev_span()),
        })
    }

    fn pipe_op(&mut self) -> Result<PipeOp, KqlError> {
        let span = self.span();
        let keyword = match self.peek().clone() {
            Tok::Ident(w) => w,
            _ => return Err(self.err("expected a tabular operator after '|'")),
        };
        if UNSUPPORTED_OPERATORS.contains(&keyword.as_str()) {
            return Err(KqlError::unsupported(
                span,
                &format!("operator `{keyword}`"),
            ));
        }
        self.advance();
        let op = match keyword.as_str() {
            "where" | "filter" => Op::Where(self.expr()?),
            "project" => Op::Project(self.named_list()?),
            "extend" => Op::Extend(self.named_list()?),
            "project-away" => Op::ProjectAway(self.patterns()?),
            "project-keep" => Op::ProjectKeep(self.patterns()?),
            "project-rename" => Op::ProjectRename(self.renames()?),
            "project-reorder" => Op::ProjectReorder(self.reorders()?),
            "summarize" => self.summarize()?,
            "sort" | "order" => {
                if !self.eat_word("by") {
                    return Err(self.err(&format!("expected 'by' after '{keyword}'")));
                }
                let mut keys = vec![self.sort_key()?];
                while self.eat_punct(",") {
                    keys.push(self.sort_key()?);
                }
                Op::Sort(keys)
            }
            "top" => {
                let count = self.expr()?;
                if !self.eat_word("by") {
                    return Err(self.err("expected 'by' after the row count of 'top'"));
                }
                let key = self.sort_key()?;
                if self.at_punct(",") {
                    return Err(KqlError::syntax(
                        self.span(),
                        "'top' takes a single sort expression",
                    ));
                }
                Op::Top { count, key }
            }
            "take" | "limit" => Op::Take(self.expr()?),
            "distinct" => {
                if self.eat_punct("*") {
                    Op::Distinct {
                        columns: Vec::new(),
                        star: true,
                    }
                } else {
                    Op::Distinct {
                        columns: self.named_list()?,
                        star: false,
                    }
                }
            }
            "count" => Op::Count,
            "getschema" => Op::GetSchema,
            "union" => Op::Union(self.union_body(span)?),
            "join" => self.join()?,
            "mv-expand" | "mvexpand" => self.mv_expand(&keyword)?,
            "render" => {
                // The chart type and its `with (…)` properties change nothing in an API result.
                let mut depth = 0usize;
                loop {
                    match self.peek() {
                        Tok::Eof => break,
                        Tok::Punct("|" | ";") if depth == 0 => break,
                        Tok::Punct("(") => depth += 1,
                        Tok::Punct(")") => {
                            if depth == 0 {
                                break;
                            }
                            depth -= 1;
                        }
                        _ => {}
                    }
                    self.advance();
                }
                Op::Render
            }
            other => {
                let suggestion = strsim_suggest(other, SUPPORTED_OPERATORS);
                let hint = suggestion.map_or(String::new(), |s| format!(" (did you mean '{s}'?)"));
                return Err(KqlError::syntax(
                    span,
                    &format!("'{other}' is not a tabular operator{hint}"),
                ));
            }
        };
        Ok(PipeOp { keyword, span, op })
    }

    /// `name=value` parameters (`kind=inner`, `withsource=T`, `hint.strategy=shuffle`).
    fn parameter(&mut self) -> Option<(String, String, Span)> {
        let Tok::Ident(name) = self.peek().clone() else {
            return None;
        };
        let span = self.span();
        if name.starts_with("hint") && self.peek_at(1) == &Tok::Punct(".") {
            if let (Tok::Ident(h), Tok::Punct("=")) = (self.peek_at(2).clone(), self.peek_at(3)) {
                self.pos += 4;
                let value = self.advance();
                let text = match value.tok {
                    Tok::Ident(v) | Tok::Str(v) => v,
                    Tok::Long(n) => n.to_string(),
                    _ => String::new(),
                };
                return Some((format!("hint.{h}"), text, span));
            }
            return None;
        }
        if self.peek_at(1) != &Tok::Punct("=") {
            return None;
        }
        if !matches!(
            name.as_str(),
            "kind" | "withsource" | "isfuzzy" | "bagexpansion" | "with_itemindex"
        ) {
            return None;
        }
        self.pos += 2;
        let value = match self.advance().tok {
            Tok::Ident(v) | Tok::BracketName(v) => v,
            _ => String::new(),
        };
        Some((name, value, span))
    }

    fn union_body(&mut self, start: Span) -> Result<Union, KqlError> {
        let mut inner = false;
        let mut with_source = None;
        let mut fuzzy = false;
        while let Some((name, value, span)) = self.parameter() {
            match (name.as_str(), value.as_str()) {
                ("kind", "inner") => inner = true,
                ("kind", "outer") => inner = false,
                ("withsource", v) if !v.is_empty() => {
                    with_source = Some(Ident {
                        name: v.to_string(),
                        span,
                    });
                }
                ("isfuzzy", "true") => fuzzy = true,
                ("isfuzzy", "false") => fuzzy = false,
                (n, _) if n.starts_with("hint.") => {}
                (n, v) => {
                    return Err(KqlError::syntax(
                        span,
                        &format!(
                            "'{n}={v}' is not a parameter of 'union' (kind=inner|outer, withsource=Name, isfuzzy=true|false)"
                        ),
                    ));
                }
            }
        }
        let mut legs = Vec::new();
        loop {
            if self.at_punct("(") {
                self.advance();
                let inner_query = self.tabular()?;
                self.expect_punct(")", "to close the union leg")?;
                legs.push(UnionLeg::Query(Box::new(inner_query)));
            } else {
                let p = self.pattern()?;
                legs.push(UnionLeg::Name(p));
            }
            if !self.eat_punct(",") {
                break;
            }
        }
        Ok(Union {
            inner,
            with_source,
            fuzzy,
            legs,
            span: start.to(self.prev_span()),
        })
    }

    fn join(&mut self) -> Result<Op, KqlError> {
        let mut kind = JoinKind::InnerUnique;
        while let Some((name, value, span)) = self.parameter() {
            match name.as_str() {
                "kind" => {
                    kind = JoinKind::from_name(&value).ok_or_else(|| {
                        KqlError::syntax(
                            span,
                            &format!("'{value}' is not a join kind (innerunique, inner, leftouter, rightouter, fullouter, leftsemi, rightsemi, leftanti, rightanti)"),
                        )
                    })?;
                }
                n if n.starts_with("hint.") => {}
                n => {
                    return Err(KqlError::syntax(
                        span,
                        &format!("'{n}' is not a parameter of 'join'"),
                    ));
                }
            }
        }
        let right = if self.at_punct("(") {
            self.advance();
            let r = self.tabular()?;
            self.expect_punct(")", "to close the right side of 'join'")?;
            r
        } else {
            let span = self.span();
            let name =
                self.ident("the right side of 'join' (a table name or a parenthesised query)")?;
            let _ = span;
            Tabular {
                source: Source::Name(name),
                ops: Vec::new(),
            }
        };
        if !self.eat_word("on") {
            return Err(self.err("expected 'on' and the join keys"));
        }
        let mut on = Vec::new();
        loop {
            on.push(self.join_key()?);
            if !(self.eat_punct(",") || self.eat_word("and")) {
                break;
            }
        }
        Ok(Op::Join {
            kind,
            right: Box::new(right),
            on,
        })
    }

    /// `Key` or `$left.A == $right.B` (either order).
    fn join_key(&mut self) -> Result<JoinKey, KqlError> {
        let side = |p: &mut Parser| -> Result<Option<(bool, Ident)>, KqlError> {
            match p.peek().clone() {
                Tok::Ident(w) if w == "$left" || w == "$right" => {
                    p.advance();
                    p.expect_punct(".", &format!("after {w}"))?;
                    let col = p.ident("a column name")?;
                    Ok(Some((w == "$left", col)))
                }
                _ => Ok(None),
            }
        };
        if let Some((is_left, a)) = side(self)? {
            self.expect_punct("==", "between the join key columns")?;
            let Some((other_left, b)) = side(self)? else {
                return Err(self.err("expected $left.<column> or $right.<column>"));
            };
            if is_left == other_left {
                return Err(KqlError::semantic(
                    a.span.to(b.span),
                    "a join condition compares a $left column with a $right column",
                ));
            }
            return Ok(if is_left {
                JoinKey { left: a, right: b }
            } else {
                JoinKey { left: b, right: a }
            });
        }
        let name = self.ident("a join key column (or $left.<column> == $right.<column>)")?;
        Ok(JoinKey {
            left: name.clone(),
            right: name,
        })
    }

    fn mv_expand(&mut self, keyword: &str) -> Result<Op, KqlError> {
        let mut bag_as_array = false;
        let mut item_index = None;
        while let Some((name, value, span)) = self.parameter() {
            match (name.as_str(), value.as_str()) {
                ("kind" | "bagexpansion", "bag") => bag_as_array = false,
                ("kind" | "bagexpansion", "array") => bag_as_array = true,
                ("with_itemindex", v) if !v.is_empty() => {
                    item_index = Some(Ident {
                        name: v.to_string(),
                        span,
                    });
                }
                (n, v) => {
                    return Err(KqlError::syntax(
                        span,
                        &format!("'{n}={v}' is not a parameter of '{keyword}'"),
                    ));
                }
            }
        }
        let mut items = Vec::new();
        loop {
            let named = self.named_expr()?;
            let to = if self.eat_word("to") {
                if !self.eat_word("typeof") {
                    return Err(self.err("expected typeof(<type>) after 'to'"));
                }
                self.expect_punct("(", "after typeof")?;
                let span = self.span();
                let ty = match self.advance().tok {
                    Tok::Ident(t) | Tok::TypedRaw { kind: t, .. } => Type::from_kql_name(&t),
                    _ => None,
                }
                .ok_or_else(|| KqlError::syntax(span, "expected a type name"))?;
                self.expect_punct(")", "to close typeof(")?;
                Some(ty)
            } else {
                None
            };
            items.push(MvItem {
                name: named.name,
                expr: named.expr,
                to,
            });
            if !self.eat_punct(",") {
                break;
            }
        }
        let limit = if self.eat_word("limit") {
            Some(self.expr()?)
        } else {
            None
        };
        Ok(Op::MvExpand {
            items,
            bag_as_array,
            item_index,
            limit,
        })
    }

    fn summarize(&mut self) -> Result<Op, KqlError> {
        // Hints (`hint.strategy=shuffle`) change nothing in the result.
        while let Tok::Ident(w) = self.peek() {
            if !w.starts_with("hint") || self.peek_at(1) != &Tok::Punct(".") {
                break;
            }
            self.advance();
            self.advance();
            self.ident("a hint name")?;
            self.expect_punct("=", "after the hint name")?;
            self.advance();
        }
        let aggregates = if self.at_word("by") {
            Vec::new()
        } else {
            self.named_list()?
        };
        let by = if self.eat_word("by") {
            self.named_list()?
        } else {
            Vec::new()
        };
        if aggregates.is_empty() && by.is_empty() {
            return Err(self.err("expected an aggregation or 'by' after 'summarize'"));
        }
        Ok(Op::Summarize { aggregates, by })
    }

    fn sort_key(&mut self) -> Result<SortKey, KqlError> {
        let expr = self.expr()?;
        let descending = if self.eat_word("asc") {
            false
        } else {
            self.eat_word("desc");
            true
        };
        let nulls_first = if self.eat_word("nulls") {
            if self.eat_word("first") {
                Some(true)
            } else if self.eat_word("last") {
                Some(false)
            } else {
                return Err(self.err("expected 'first' or 'last' after 'nulls'"));
            }
        } else {
            None
        };
        Ok(SortKey {
            expr,
            descending,
            nulls_first,
        })
    }

    /// A column name or wildcard pattern (`Initiating*`), written without spaces.
    fn pattern(&mut self) -> Result<Ident, KqlError> {
        let start = self.span();
        let mut text = String::new();
        let mut end = start;
        loop {
            let adjacent = text.is_empty() || self.span().start == end.end;
            if !adjacent {
                break;
            }
            match self.peek().clone() {
                Tok::Ident(w) | Tok::BracketName(w) if !w.starts_with('!') => text.push_str(&w),
                Tok::Punct("*") => text.push('*'),
                Tok::Long(n) if !text.is_empty() => text.push_str(&n.to_string()),
                _ => break,
            }
            end = self.advance().span;
        }
        if text.is_empty() {
            return Err(self.err("expected a column name"));
        }
        Ok(Ident {
            name: text,
            span: start.to(end),
        })
    }

    fn patterns(&mut self) -> Result<Vec<Ident>, KqlError> {
        let mut out = vec![self.pattern()?];
        while self.eat_punct(",") {
            out.push(self.pattern()?);
        }
        Ok(out)
    }

    fn renames(&mut self) -> Result<Vec<(Ident, Ident)>, KqlError> {
        let mut out = Vec::new();
        loop {
            let new = self.ident("a new column name")?;
            self.expect_punct("=", "in project-rename (NewName = ExistingName)")?;
            let old = self.ident("an existing column name")?;
            out.push((new, old));
            if !self.eat_punct(",") {
                return Ok(out);
            }
        }
    }

    fn reorders(&mut self) -> Result<Vec<(Ident, ReorderOrder)>, KqlError> {
        let mut out = Vec::new();
        loop {
            let p = self.pattern()?;
            let order = match self.peek() {
                Tok::Ident(w) if w == "asc" => ReorderOrder::Asc,
                Tok::Ident(w) if w == "desc" => ReorderOrder::Desc,
                Tok::Ident(w) if w == "granny" => {
                    // `granny-asc` lexes as granny - asc.
                    self.advance();
                    self.expect_punct("-", "in granny-asc / granny-desc")?;
                    match self.peek() {
                        Tok::Ident(w) if w == "asc" => ReorderOrder::GrannyAsc,
                        Tok::Ident(w) if w == "desc" => ReorderOrder::GrannyDesc,
                        _ => return Err(self.err("expected granny-asc or granny-desc")),
                    }
                }
                _ => ReorderOrder::Keep,
            };
            if order != ReorderOrder::Keep {
                self.advance();
            }
            out.push((p, order));
            if !self.eat_punct(",") {
                return Ok(out);
            }
        }
    }

    fn named_list(&mut self) -> Result<Vec<NamedExpr>, KqlError> {
        let mut out = vec![self.named_expr()?];
        while self.eat_punct(",") {
            out.push(self.named_expr()?);
        }
        Ok(out)
    }

    fn named_expr(&mut self) -> Result<NamedExpr, KqlError> {
        if self.at_punct("(") {
            // `(a, b) = expr` tuple naming.
            let mut i = 1;
            while matches!(
                self.peek_at(i),
                Tok::Ident(_) | Tok::BracketName(_) | Tok::Punct(",")
            ) {
                i += 1;
            }
            if self.peek_at(i) == &Tok::Punct(")")
                && self.peek_at(i + 1) == &Tok::Punct("=")
                && i > 1
            {
                return Err(KqlError::unsupported(
                    self.span(),
                    "naming several columns at once (`(A, B) = …`)",
                ));
            }
        }
        let is_named = matches!(self.peek(), Tok::Ident(w) if !w.starts_with('!'))
            || matches!(self.peek(), Tok::BracketName(_));
        if is_named && self.peek_at(1) == &Tok::Punct("=") {
            let name = self.ident("a column name")?;
            self.advance();
            let expr = self.expr()?;
            return Ok(NamedExpr {
                name: Some(name),
                expr,
            });
        }
        Ok(NamedExpr {
            name: None,
            expr: self.expr()?,
        })
    }

    // ---------------------------------------------------------------- scalar expressions

    fn expr(&mut self) -> Result<Expr, KqlError> {
        self.enter()?;
        let e = self.or_expr();
        self.depth -= 1;
        let e = e?;
        if tree_depth(&e) > MAX_DEPTH {
            return Err(KqlError::syntax(
                e.span,
                &format!(
                    "the expression is nested more than {MAX_DEPTH} levels deep; use `in (…)` or `has_any (…)` for long lists of alternatives"
                ),
            ));
        }
        Ok(e)
    }

    fn enter(&mut self) -> Result<(), KqlError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            self.depth -= 1;
            return Err(self.err(&format!(
                "the query is nested more than {MAX_NESTING} levels deep"
            )));
        }
        Ok(())
    }

    fn or_expr(&mut self) -> Result<Expr, KqlError> {
        let mut lhs = self.and_expr()?;
        while self.eat_word("or") {
            let rhs = self.and_expr()?;
            lhs = binary(BinOp::Or, lhs, rhs);
        }
        Ok(lhs)
    }

    fn and_expr(&mut self) -> Result<Expr, KqlError> {
        let mut lhs = self.comparison()?;
        while self.eat_word("and") {
            let rhs = self.comparison()?;
            lhs = binary(BinOp::And, lhs, rhs);
        }
        Ok(lhs)
    }

    fn comparison(&mut self) -> Result<Expr, KqlError> {
        let lhs = self.additive()?;
        let op_span = self.span();
        let cmp = match self.peek() {
            Tok::Punct("==") => Some(BinOp::Eq),
            Tok::Punct("!=") => Some(BinOp::Ne),
            Tok::Punct("<") => Some(BinOp::Lt),
            Tok::Punct("<=") => Some(BinOp::Le),
            Tok::Punct(">") => Some(BinOp::Gt),
            Tok::Punct(">=") => Some(BinOp::Ge),
            Tok::Punct("=~") => Some(BinOp::EqCi),
            Tok::Punct("!~") => Some(BinOp::NeCi),
            _ => None,
        };
        if let Some(op) = cmp {
            self.advance();
            let rhs = self.additive()?;
            return Ok(binary(op, lhs, rhs));
        }
        if self.at_punct("=") {
            return Err(self.err("expected '==' (a single '=' only names columns)"));
        }
        let Tok::Ident(word) = self.peek().clone() else {
            return Ok(lhs);
        };
        let (negated, base) = match word.strip_prefix('!') {
            Some(b) => (true, b.to_string()),
            None => (false, word.clone()),
        };
        let (base_word, case_sensitive) = match base.strip_suffix("_cs") {
            Some(b) => (b.to_string(), true),
            None => (base.clone(), false),
        };
        let str_op = match base_word.as_str() {
            "has" => Some(StrOp::Has),
            "hasprefix" => Some(StrOp::HasPrefix),
            "hassuffix" => Some(StrOp::HasSuffix),
            "contains" => Some(StrOp::Contains),
            "startswith" => Some(StrOp::StartsWith),
            "endswith" => Some(StrOp::EndsWith),
            _ => None,
        };
        if let Some(op) = str_op {
            self.advance();
            let rhs = self.additive()?;
            let span = lhs.span.to(rhs.span);
            return Ok(Expr {
                kind: ExprKind::StrPredicate {
                    op,
                    case_sensitive,
                    negated,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            });
        }
        match word.as_str() {
            "matches" => {
                self.advance();
                if !self.eat_word("regex") {
                    return Err(self.err("expected 'regex' after 'matches'"));
                }
                let rhs = self.additive()?;
                let span = lhs.span.to(rhs.span);
                Ok(Expr {
                    kind: ExprKind::StrPredicate {
                        op: StrOp::MatchesRegex,
                        case_sensitive: true,
                        negated: false,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                    span,
                })
            }
            "in" | "!in" | "in~" | "!in~" => {
                self.advance();
                let list = self.paren_list(&word)?;
                let span = lhs.span.to(self.prev_span());
                Ok(Expr {
                    kind: ExprKind::In {
                        lhs: Box::new(lhs),
                        list,
                        negated: word.starts_with('!'),
                        case_insensitive: word.ends_with('~'),
                    },
                    span,
                })
            }
            "has_any" | "has_all" => {
                self.advance();
                let list = self.paren_list(&word)?;
                let span = lhs.span.to(self.prev_span());
                Ok(Expr {
                    kind: ExprKind::HasAny {
                        lhs: Box::new(lhs),
                        list,
                        all: word == "has_all",
                    },
                    span,
                })
            }
            "between" | "!between" => {
                self.advance();
                self.expect_punct("(", &format!("after '{word}'"))?;
                let lo = self.additive()?;
                self.expect_punct("..", "between the bounds of 'between'")?;
                let hi = self.additive()?;
                self.expect_punct(")", "to close 'between'")?;
                let span = lhs.span.to(self.prev_span());
                Ok(Expr {
                    kind: ExprKind::Between {
                        lhs: Box::new(lhs),
                        lo: Box::new(lo),
                        hi: Box::new(hi),
                        negated: negated_word(&word),
                    },
                    span,
                })
            }
            w if matches!(
                w,
                "has_any_cs" | "has_all_cs" | "like" | "notlike" | "!like" | "matches_regex"
            ) || (w.starts_with('!') && w.len() > 1) =>
            {
                Err(KqlError::unsupported(
                    op_span,
                    &format!("the `{w}` operator"),
                ))
            }
            _ => Ok(lhs),
        }
    }

    fn paren_list(&mut self, op: &str) -> Result<Vec<Expr>, KqlError> {
        self.expect_punct("(", &format!("after '{op}'"))?;
        let mut list = Vec::new();
        if self.eat_punct(")") {
            return Ok(list);
        }
        loop {
            if self.at_punct("(") && self.is_tabular_subquery() {
                return Err(KqlError::unsupported(
                    self.span(),
                    &format!("a tabular sub-query inside `{op} (…)`"),
                ));
            }
            list.push(self.expr()?);
            if self.at_punct("|") {
                return Err(KqlError::unsupported(
                    self.span(),
                    &format!("a tabular sub-query inside `{op} (…)`"),
                ));
            }
            if !self.eat_punct(",") {
                break;
            }
        }
        self.expect_punct(")", &format!("to close the list of '{op}'"))?;
        Ok(list)
    }

    fn is_tabular_subquery(&self) -> bool {
        matches!(self.peek_at(1), Tok::Ident(_)) && self.peek_at(2) == &Tok::Punct("|")
    }

    fn additive(&mut self) -> Result<Expr, KqlError> {
        let mut lhs = self.multiplicative()?;
        loop {
            let op = if self.at_punct("+") {
                BinOp::Add
            } else if self.at_punct("-") {
                BinOp::Sub
            } else {
                return Ok(lhs);
            };
            self.advance();
            let rhs = self.multiplicative()?;
            lhs = binary(op, lhs, rhs);
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, KqlError> {
        let mut lhs = self.unary()?;
        loop {
            let op = if self.at_punct("*") {
                BinOp::Mul
            } else if self.at_punct("/") {
                BinOp::Div
            } else if self.at_punct("%") {
                BinOp::Mod
            } else {
                return Ok(lhs);
            };
            self.advance();
            let rhs = self.unary()?;
            lhs = binary(op, lhs, rhs);
        }
    }

    fn unary(&mut self) -> Result<Expr, KqlError> {
        let start = self.span();
        if self.eat_punct("-") {
            let inner = self.unary()?;
            let span = start.to(inner.span);
            // Fold negative literals so `-5` and `-1d` are literals (and `long.MinValue` fits).
            return Ok(match inner.kind {
                ExprKind::Literal(Value::Long(v), t) => Expr {
                    kind: ExprKind::Literal(Value::Long(v.wrapping_neg()), t),
                    span,
                },
                ExprKind::Literal(Value::Real(v), t) => Expr {
                    kind: ExprKind::Literal(Value::Real(-v), t),
                    span,
                },
                ExprKind::Literal(Value::TimeSpan(v), t) => Expr {
                    kind: ExprKind::Literal(Value::TimeSpan(-v), t),
                    span,
                },
                kind => Expr {
                    kind: ExprKind::Neg(Box::new(Expr {
                        kind,
                        span: inner.span,
                    })),
                    span,
                },
            });
        }
        if self.eat_punct("+") {
            return self.unary();
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, KqlError> {
        let mut e = self.primary()?;
        loop {
            if self.at_punct(".") {
                self.advance();
                let key = self.ident("a property name after '.'")?;
                let span = e.span.to(key.span);
                e = Expr {
                    kind: ExprKind::Member {
                        target: Box::new(e),
                        key: key.name,
                    },
                    span,
                };
            } else if let Tok::BracketName(key) = self.peek().clone() {
                // `d['key']` lexes as a bracketed name after the target.
                let close = self.advance().span;
                let span = e.span.to(close);
                e = Expr {
                    kind: ExprKind::Member {
                        target: Box::new(e),
                        key,
                    },
                    span,
                };
            } else if self.at_punct("[") {
                self.advance();
                let index = self.expr()?;
                let close = self.expect_punct("]", "to close the index")?;
                let span = e.span.to(close);
                e = match index.kind {
                    ExprKind::Literal(Value::Str(s), _) => Expr {
                        kind: ExprKind::Member {
                            target: Box::new(e),
                            key: s.to_string(),
                        },
                        span,
                    },
                    _ => Expr {
                        kind: ExprKind::Index {
                            target: Box::new(e),
                            index: Box::new(index),
                        },
                        span,
                    },
                };
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, KqlError> {
        let start = self.span();
        let lit = |v: Value, t: Type| ExprKind::Literal(v, t);
        let kind = match self.peek().clone() {
            Tok::Str(s) => {
                self.advance();
                // Adjacent string literals concatenate.
                let mut text = s;
                while let Tok::Str(more) = self.peek().clone() {
                    text.push_str(&more);
                    self.advance();
                }
                return Ok(Expr {
                    kind: lit(Value::str(&text), Type::String),
                    span: start.to(self.prev_span()),
                });
            }
            Tok::Long(v) => {
                self.advance();
                lit(Value::Long(v), Type::Long)
            }
            Tok::Real(v) => {
                self.advance();
                lit(Value::Real(v), Type::Real)
            }
            Tok::Timespan(v) => {
                self.advance();
                lit(Value::TimeSpan(v), Type::TimeSpan)
            }
            Tok::TypedRaw { kind, text } => {
                self.advance();
                return typed_raw(&kind, &text, start);
            }
            Tok::Punct("(") => {
                self.advance();
                let inner = self.expr()?;
                let close = self.expect_punct(")", "to close the parenthesis")?;
                return Ok(Expr {
                    kind: inner.kind,
                    span: start.to(close),
                });
            }
            Tok::Punct("*") => {
                self.advance();
                ExprKind::Star
            }
            Tok::BracketName(name) => {
                self.advance();
                ExprKind::Name(name)
            }
            Tok::Ident(w) if !w.starts_with('!') => {
                self.advance();
                match w.as_str() {
                    "true" => lit(Value::Bool(true), Type::Bool),
                    "false" => lit(Value::Bool(false), Type::Bool),
                    _ if self.at_punct("(") => return self.call_or_typed(w, start),
                    _ => ExprKind::Name(w),
                }
            }
            Tok::Eof => return Err(self.err("expected an expression")),
            _ => return Err(self.err("expected an expression")),
        };
        Ok(Expr { kind, span: start })
    }

    fn call_or_typed(&mut self, name: String, start: Span) -> Result<Expr, KqlError> {
        if name == "dynamic" {
            self.advance();
            let v = self.dynamic_value()?;
            let close = self.expect_punct(")", "to close dynamic(")?;
            return Ok(Expr {
                kind: ExprKind::Dynamic(v),
                span: start.to(close),
            });
        }
        if let Some(ty) = Type::from_kql_name(&name).filter(|t| *t != Type::String) {
            self.advance();
            let value = self.typed_scalar(ty)?;
            let close = self.expect_punct(")", &format!("to close {name}("))?;
            return Ok(Expr {
                kind: ExprKind::Literal(value, ty),
                span: start.to(close),
            });
        }
        if matches!(name.as_str(), "guid" | "uuid" | "uniqueid" | "decimal") {
            return Err(KqlError::unsupported(start, &format!("the `{name}` type")));
        }
        if matches!(name.as_str(), "toscalar" | "materialize" | "view") {
            return Err(KqlError::unsupported(start, &format!("`{name}(…)`")));
        }
        self.advance(); // (
        let mut args = Vec::new();
        if !self.at_punct(")") {
            loop {
                if self.at_word("typeof") && self.peek_at(1) == &Tok::Punct("(") {
                    return Err(KqlError::unsupported(self.span(), "`typeof(…)` arguments"));
                }
                args.push(self.expr()?);
                if !self.eat_punct(",") {
                    break;
                }
            }
        }
        let close = self.expect_punct(")", &format!("to close the arguments of {name}("))?;
        Ok(Expr {
            kind: ExprKind::Call {
                name: Ident { name, span: start },
                args,
            },
            span: start.to(close),
        })
    }

    /// The literal inside `long(…)`, `bool(…)`, `real(…)` …: a number, `true`/`false`, `null`,
    /// `nan`, `+inf`, `-inf`.
    fn typed_scalar(&mut self, ty: Type) -> Result<Value, KqlError> {
        let span = self.span();
        let neg = self.eat_punct("-");
        if !neg {
            self.eat_punct("+");
        }
        let tok = self.advance().tok;
        let bad = || KqlError::syntax(span, &format!("expected a {} literal", ty.kql_name()));
        let v = match (ty, tok) {
            (_, Tok::Ident(w)) if w == "null" => return Ok(Value::Null),
            (Type::Bool, Tok::Ident(w)) if w == "true" => Value::Bool(true),
            (Type::Bool, Tok::Ident(w)) if w == "false" => Value::Bool(false),
            (Type::Int, Tok::Long(n)) => {
                let n = if neg { -n } else { n };
                Value::Int(i32::try_from(n).map_err(|_| bad())?)
            }
            (Type::Long, Tok::Long(n)) => Value::Long(if neg { -n } else { n }),
            (Type::Real, Tok::Long(n)) => Value::Real(if neg { -(n as f64) } else { n as f64 }),
            (Type::Real, Tok::Real(r)) => Value::Real(if neg { -r } else { r }),
            (Type::Real, Tok::Ident(w)) if w == "nan" => Value::Real(f64::NAN),
            (Type::Real, Tok::Ident(w)) if w == "inf" => Value::Real(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            }),
            (Type::TimeSpan, Tok::Timespan(t)) => Value::TimeSpan(if neg { -t } else { t }),
            (Type::Dynamic, _) => return Err(bad()),
            _ => return Err(bad()),
        };
        Ok(v)
    }

    /// A JSON-like value inside `dynamic(…)`.
    fn dynamic_value(&mut self) -> Result<serde_json::Value, KqlError> {
        let span = self.span();
        let neg = self.eat_punct("-");
        let tok = self.advance().tok;
        let num = |v: f64| {
            serde_json::Number::from_f64(if neg { -v } else { v })
                .map_or(serde_json::Value::Null, serde_json::Value::Number)
        };
        Ok(match tok {
            Tok::Punct("[") => {
                let mut items = Vec::new();
                while !self.at_punct("]") {
                    items.push(self.dynamic_value()?);
                    if !self.eat_punct(",") {
                        break;
                    }
                }
                self.expect_punct("]", "to close the array")?;
                serde_json::Value::Array(items)
            }
            Tok::Punct("{") => {
                let mut map = serde_json::Map::new();
                while !self.at_punct("}") {
                    let key = match self.advance().tok {
                        Tok::Str(s) | Tok::Ident(s) => s,
                        _ => {
                            return Err(KqlError::syntax(
                                self.prev_span(),
                                "expected a property name",
                            ));
                        }
                    };
                    self.expect_punct(":", "after the property name")?;
                    let v = self.dynamic_value()?;
                    map.insert(key, v);
                    if !self.eat_punct(",") {
                        break;
                    }
                }
                self.expect_punct("}", "to close the property bag")?;
                serde_json::Value::Object(map)
            }
            Tok::Str(s) => serde_json::Value::String(s),
            // `['a']` inside a dynamic literal lexes as a bracketed name: a one-string array.
            Tok::BracketName(s) => serde_json::Value::Array(vec![serde_json::Value::String(s)]),
            Tok::Long(n) => serde_json::Value::from(if neg { -n } else { n }),
            Tok::Real(r) => num(r),
            Tok::Ident(w) if w == "true" => serde_json::Value::Bool(true),
            Tok::Ident(w) if w == "false" => serde_json::Value::Bool(false),
            Tok::Ident(w) if w == "null" => serde_json::Value::Null,
            Tok::Timespan(t) => {
                serde_json::Value::String(super::value::format_timespan(if neg { -t } else { t }))
            }
            Tok::TypedRaw { kind, text } => {
                let e = typed_raw(&kind, &text, span)?;
                match e.kind {
                    ExprKind::Literal(v, _) => v.to_json(),
                    _ => {
                        return Err(KqlError::syntax(
                            span,
                            "expected a constant inside dynamic()",
                        ));
                    }
                }
            }
            _ => {
                return Err(KqlError::syntax(
                    span,
                    "expected a JSON value inside dynamic()",
                ));
            }
        })
    }
}

/// The depth of an expression tree, measured without recursion (chains of `or` are as deep
/// as they are long).
fn tree_depth(e: &Expr) -> usize {
    let mut stack = vec![(e, 1usize)];
    let mut max = 0;
    while let Some((e, d)) = stack.pop() {
        max = max.max(d);
        if d > MAX_DEPTH {
            return d;
        }
        stack.extend(children(e).into_iter().map(|c| (c, d + 1)));
    }
    max
}

fn children(e: &Expr) -> Vec<&Expr> {
    match &e.kind {
        ExprKind::Call { args, .. } => args.iter().collect(),
        ExprKind::Neg(x) | ExprKind::Member { target: x, .. } => vec![x],
        ExprKind::Binary { lhs, rhs, .. } | ExprKind::StrPredicate { lhs, rhs, .. } => {
            vec![lhs, rhs]
        }
        ExprKind::In { lhs, list, .. } | ExprKind::HasAny { lhs, list, .. } => {
            std::iter::once(lhs.as_ref()).chain(list.iter()).collect()
        }
        ExprKind::Between { lhs, lo, hi, .. } => vec![lhs, lo, hi],
        ExprKind::Index { target, index } => vec![target, index],
        ExprKind::Literal(..) | ExprKind::Name(_) | ExprKind::Star | ExprKind::Dynamic(_) => {
            Vec::new()
        }
    }
}

fn negated_word(w: &str) -> bool {
    w.starts_with('!')
}

fn binary(op: BinOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = lhs.span.to(rhs.span);
    Expr {
        kind: ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
        span,
    }
}

/// `datetime(…)` / `timespan(…)` literal from its raw text.
fn typed_raw(kind: &str, text: &str, span: Span) -> Result<Expr, KqlError> {
    let t = text.trim();
    let is_date = matches!(kind, "datetime" | "date");
    let ty = if is_date {
        Type::DateTime
    } else {
        Type::TimeSpan
    };
    if t == "null" {
        return Ok(Expr {
            kind: ExprKind::Literal(Value::Null, ty),
            span,
        });
    }
    if is_date && t.is_empty() {
        // `datetime()` is the current time.
        return Ok(Expr {
            kind: ExprKind::Call {
                name: Ident {
                    name: "now".into(),
                    span,
                },
                args: Vec::new(),
            },
            span,
        });
    }
    let value = if is_date {
        parse_datetime(t).map(Value::DateTime)
    } else {
        parse_timespan(t).map(Value::TimeSpan)
    };
    value
        .map(|v| Expr {
            kind: ExprKind::Literal(v, ty),
            span,
        })
        .ok_or_else(|| KqlError::syntax(span, &format!("'{t}' is not a valid {kind} literal")))
}

/// The closest candidate by edit distance, if close enough to be a typo.
#[must_use]
pub fn strsim_suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        parse(s).unwrap()
    }

    fn err(s: &str) -> KqlError {
        parse(s).unwrap_err()
    }

    fn where_expr(s: &str) -> ExprKind {
        let query = q(&format!("T | where {s}"));
        match &query.body.ops[0].op {
            Op::Where(e) => e.kind.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pipeline_with_lets() {
        let query = q(
            "let n = 5;\nlet since = ago(1d);\nDeviceProcessEvents | where Timestamp > since | take n",
        );
        assert_eq!(query.lets.len(), 2);
        assert_eq!(query.lets[0].name.name, "n");
        assert!(
            matches!(query.body.source, Source::Name(ref i) if i.name == "DeviceProcessEvents")
        );
        assert_eq!(query.body.ops.len(), 2);
        assert_eq!(query.body.ops[1].keyword, "take");
    }

    #[test]
    fn tabular_let_is_recognised() {
        let query = q("let recent = T | where x > 1; recent | count");
        assert!(matches!(query.lets[0].value, LetValue::Tabular(_)));
        let query = q("let bad = dynamic(['a', 'b']); T");
        assert!(matches!(query.lets[0].value, LetValue::Scalar(_)));
    }

    #[test]
    fn precedence_of_and_or_and_arithmetic() {
        match where_expr("a == 1 or b == 2 and c + 1 * 2 > 3") {
            ExprKind::Binary {
                op: BinOp::Or, rhs, ..
            } => match rhs.kind {
                ExprKind::Binary {
                    op: BinOp::And,
                    rhs,
                    ..
                } => match rhs.kind {
                    ExprKind::Binary {
                        op: BinOp::Gt, lhs, ..
                    } => {
                        assert!(matches!(lhs.kind, ExprKind::Binary { op: BinOp::Add, .. }));
                    }
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn string_operators() {
        assert!(matches!(
            where_expr("x !has_cs 'a'"),
            ExprKind::StrPredicate {
                op: StrOp::Has,
                case_sensitive: true,
                negated: true,
                ..
            }
        ));
        assert!(matches!(
            where_expr("x matches regex '^a'"),
            ExprKind::StrPredicate {
                op: StrOp::MatchesRegex,
                ..
            }
        ));
        assert!(matches!(
            where_expr("x !in~ ('a', 'b')"),
            ExprKind::In { negated: true, case_insensitive: true, ref list, .. } if list.len() == 2
        ));
        assert!(matches!(
            where_expr("x has_any ('a', 'b')"),
            ExprKind::HasAny { all: false, .. }
        ));
        assert!(matches!(
            where_expr("x !between (1 .. 5)"),
            ExprKind::Between { negated: true, .. }
        ));
    }

    #[test]
    fn literals() {
        assert!(matches!(
            where_expr("x > datetime(2024-01-01)"),
            ExprKind::Binary { ref rhs, .. } if matches!(rhs.kind, ExprKind::Literal(Value::DateTime(_), Type::DateTime))
        ));
        assert!(matches!(
            where_expr("x == long(null)"),
            ExprKind::Binary { ref rhs, .. } if matches!(rhs.kind, ExprKind::Literal(Value::Null, Type::Long))
        ));
        assert!(matches!(
            where_expr("x == -5"),
            ExprKind::Binary { ref rhs, .. } if matches!(rhs.kind, ExprKind::Literal(Value::Long(-5), _))
        ));
        assert!(matches!(
            where_expr("x in (dynamic([1, {'a': 'b'}]))"),
            ExprKind::In { ref list, .. } if matches!(list[0].kind, ExprKind::Dynamic(_))
        ));
        assert!(matches!(
            where_expr("x == 'a' 'b'"),
            ExprKind::Binary { ref rhs, .. } if matches!(rhs.kind, ExprKind::Literal(Value::Str(ref s), _) if &**s == "ab")
        ));
    }

    #[test]
    fn member_and_index_access() {
        assert!(matches!(
            where_expr("d.a['b'] == 1"),
            ExprKind::Binary { ref lhs, .. } if matches!(lhs.kind, ExprKind::Member { ref key, .. } if key == "b")
        ));
        assert!(matches!(
            where_expr("d[0] == 1"),
            ExprKind::Binary { ref lhs, .. } if matches!(lhs.kind, ExprKind::Index { .. })
        ));
    }

    #[test]
    fn operators_parse() {
        let query = q(
            "T | project a, b = c + 1 | project-away x*, y | project-rename n = a \
             | extend z = strcat(a, 'x') | summarize count(), d = dcount(b) by bin(Timestamp, 1h), a \
             | order by a asc nulls last, b | top 5 by a | take 10 | distinct * | count | render timechart with (title='x')",
        );
        let kinds: Vec<&str> = query.body.ops.iter().map(|o| o.keyword.as_str()).collect();
        assert_eq!(
            kinds,
            vec![
                "project",
                "project-away",
                "project-rename",
                "extend",
                "summarize",
                "order",
                "top",
                "take",
                "distinct",
                "count",
                "render"
            ]
        );
        match &query.body.ops[1].op {
            Op::ProjectAway(p) => assert_eq!(p[0].name, "x*"),
            other => panic!("{other:?}"),
        }
        match &query.body.ops[5].op {
            Op::Sort(keys) => {
                assert!(!keys[0].descending);
                assert_eq!(keys[0].nulls_first, Some(false));
                assert!(keys[1].descending);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unsupported_constructs_are_named_with_position() {
        let src = "DeviceProcessEvents\n| lookup kind=inner (DeviceNetworkEvents) on DeviceId";
        let e = err(src);
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert_eq!(
            e.message(src),
            "operator `lookup` is not supported by the huntbook emulator on line [2,3]"
        );
        assert_eq!(err("evaluate bag_unpack(x)").kind, ErrorKind::Unsupported);
        assert_eq!(
            err("let f = (x:long) { x }; T").kind,
            ErrorKind::Unsupported
        );
        assert_eq!(err("T | parse x with * 'a' y").kind, ErrorKind::Unsupported);
        assert_eq!(
            err("T | where x in ((U | project y))").kind,
            ErrorKind::Unsupported
        );
    }

    #[test]
    fn hostile_nesting_is_an_error_not_a_crash() {
        let deep = format!("T | where {}1{} == 1", "(".repeat(5000), ")".repeat(5000));
        assert!(err(&deep).detail.contains("nested more than"));
        let subqueries = format!("{}T{}", "(".repeat(5000), ")".repeat(5000));
        assert!(err(&subqueries).detail.contains("nested more than"));
        let chain: Vec<String> = (0..300).map(|i| format!("x == {i}")).collect();
        let e = err(&format!("T | where {}", chain.join(" or ")));
        assert!(e.detail.contains("use `in (…)`"), "{}", e.detail);
        let chain: Vec<String> = (0..150).map(|i| format!("x == {i}")).collect();
        assert!(parse(&format!("T | where {}", chain.join(" or "))).is_ok());
    }

    #[test]
    fn join_union_and_mv_expand_parse() {
        let query = q(
            "T | join kind=leftouter hint.strategy=shuffle (U | where a > 1) on Key, $left.A == $right.B",
        );
        match &query.body.ops[0].op {
            Op::Join { kind, on, .. } => {
                assert_eq!(*kind, JoinKind::LeftOuter);
                assert_eq!(on.len(), 2);
                assert_eq!(
                    (on[1].left.name.as_str(), on[1].right.name.as_str()),
                    ("A", "B")
                );
            }
            other => panic!("{other:?}"),
        }
        let query = q("union withsource=Src kind=inner Device*, (T | take 1)");
        match &query.body.source {
            Source::Union(u) => {
                assert!(u.inner);
                assert_eq!(u.with_source.as_ref().map(|i| i.name.as_str()), Some("Src"));
                assert_eq!(u.legs.len(), 2);
                assert!(matches!(&u.legs[0], UnionLeg::Name(i) if i.name == "Device*"));
            }
            other => panic!("{other:?}"),
        }
        let query = q("T | mv-expand with_itemindex=i x = d.items to typeof(string) limit 5");
        assert!(
            matches!(&query.body.ops[0].op, Op::MvExpand { items, item_index: Some(_), limit: Some(_), .. } if items[0].to == Some(Type::String))
        );
    }

    #[test]
    fn syntax_errors_point_at_the_token() {
        let src = "DeviceProcessEvents\n| whre FileName == 'a'";
        let e = err(src);
        assert_eq!(e.kind, ErrorKind::Syntax);
        assert_eq!(
            e.message(src),
            "Query could not be parsed at 'whre' on line [2,3]: 'whre' is not a tabular operator (did you mean 'where'?)"
        );
        let src = "T | where x = 1";
        assert!(err(src).message(src).contains("at '=' on line [1,13]"));
        let src = "T | where (x == 1";
        assert!(err(src).message(src).contains("'<end of query>'"));
        let src = "T | take 1; U | take 2";
        assert_eq!(err(src).kind, ErrorKind::Unsupported);
    }
}
