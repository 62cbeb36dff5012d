//! The OData query options every tenant collection shares: a `$filter` parser (lexer, recursive
//! descent, positions in errors), a binder that checks properties, types and enum values against
//! a collection's schema, an evaluator over the rendered JSON objects, and `$top`/`$skip`/
//! `$count`/`$expand` parsing with `@odata.nextLink` construction.
//!
//! Evaluation works on the JSON each API renders, so a filter sees exactly the values a client
//! reads back — `lastUpdateTime ge <a value from the previous page>` always matches.

use std::cmp::Ordering;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::time::parse_time;

/// A `$filter` or query-option problem, worded like the OData stack of the services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ODataError {
    pub message: String,
    /// `$top` over the collection's limit: Graph answers this one with an empty error `code`.
    pub top_exceeded: bool,
}

impl ODataError {
    fn new(message: impl Into<String>) -> ODataError {
        ODataError {
            message: message.into(),
            top_exceeded: false,
        }
    }
}

/// The type of a filterable property, for binding-time checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    Str,
    /// A string enum; the values list is used for validation (compared case-insensitively).
    Enum(&'static [&'static str]),
    DateTime,
    Num,
    Bool,
    /// A collection of strings (`machineTags`): only `any`/`all` lambdas apply.
    StrList,
    /// A collection of typed objects (`evidence`): only `any`/`all` lambdas apply; the lambda
    /// body may cast (`e/microsoft.graph.security.deviceEvidence/deviceDnsName`).
    ObjList,
}

impl PropType {
    fn edm(self) -> &'static str {
        match self {
            PropType::Str | PropType::Enum(_) => "Edm.String",
            PropType::DateTime => "Edm.DateTimeOffset",
            PropType::Num => "Edm.Int64",
            PropType::Bool => "Edm.Boolean",
            PropType::StrList => "Collection(Edm.String)",
            PropType::ObjList => "Collection(Edm.ComplexType)",
        }
    }
}

/// One property of a collection's entity type.
#[derive(Debug, Clone, Copy)]
pub struct Prop {
    /// The name as rendered in JSON (the canonical spelling).
    pub name: &'static str,
    pub ty: PropType,
    /// Whether `$filter` may use it.
    pub filterable: bool,
}

/// A [`Prop`], short enough for the property tables of each API.
#[must_use]
pub const fn prop(name: &'static str, ty: PropType, filterable: bool) -> Prop {
    Prop {
        name,
        ty,
        filterable,
    }
}

/// What a collection accepts in its query string.
#[derive(Debug, Clone, Copy)]
pub struct Collection {
    /// OData type name for messages, e.g. `microsoft.graph.security.incident`.
    pub type_name: &'static str,
    pub props: &'static [Prop],
    /// Property names match case-insensitively (Defender XDR, MDE) or exactly (Graph).
    pub case_insensitive_names: bool,
    /// Plain string comparisons ignore case (Defender XDR, MDE) or not (Graph).
    pub case_insensitive_strings: bool,
    pub max_top: usize,
    /// Page size when the client sends no `$top`.
    pub default_top: usize,
    pub allow_count: bool,
    pub expandable: &'static [&'static str],
}

impl Collection {
    fn lookup(&self, name: &str) -> Option<&'static Prop> {
        self.props.iter().find(|p| p.name == name).or_else(|| {
            if self.case_insensitive_names {
                self.props
                    .iter()
                    .find(|p| p.name.eq_ignore_ascii_case(name))
            } else {
                None
            }
        })
    }

    fn filterable_list(&self) -> String {
        self.props
            .iter()
            .filter(|p| p.filterable)
            .map(|p| p.name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// An identifier or a path (`status`, `machineTags/any`, `e/microsoft.graph.x/y`).
    Ident(String),
    Str(String),
    Num(f64),
    Time(DateTime<Utc>),
    LParen,
    RParen,
    Comma,
    Colon,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

fn syntax(text: &str, pos: usize, what: &str) -> ODataError {
    ODataError::new(format!(
        "Syntax error at position {pos} in '{text}': {what}."
    ))
}

fn lex(text: &str) -> Result<Vec<Token>, ODataError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                i += 1;
            }
            '(' => {
                out.push(Token {
                    tok: Tok::LParen,
                    pos: i,
                });
                i += 1;
            }
            ')' => {
                out.push(Token {
                    tok: Tok::RParen,
                    pos: i,
                });
                i += 1;
            }
            ',' => {
                out.push(Token {
                    tok: Tok::Comma,
                    pos: i,
                });
                i += 1;
            }
            ':' => {
                out.push(Token {
                    tok: Tok::Colon,
                    pos: i,
                });
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(syntax(text, start, "unterminated string literal"));
                        }
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token {
                    tok: Tok::Str(s),
                    pos: start,
                });
            }
            c if c.is_ascii_digit()
                || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_ascii_alphanumeric()
                        || matches!(chars[j], '-' | ':' | '.' | '+'))
                {
                    j += 1;
                }
                let word: String = chars[i..j].iter().collect();
                let looks_like_time = word.len() >= 10
                    && word.as_bytes().get(4) == Some(&b'-')
                    && word.as_bytes().get(7) == Some(&b'-');
                if looks_like_time {
                    let t = parse_literal_time(&word).ok_or_else(|| {
                        syntax(
                            text,
                            start,
                            &format!("'{word}' is not a valid DateTimeOffset"),
                        )
                    })?;
                    out.push(Token {
                        tok: Tok::Time(t),
                        pos: start,
                    });
                } else {
                    let n: f64 = word
                        .parse()
                        .map_err(|_| syntax(text, start, &format!("'{word}' is not a number")))?;
                    out.push(Token {
                        tok: Tok::Num(n),
                        pos: start,
                    });
                }
                i = j;
            }
            c if c.is_alphabetic() || c == '_' || c == '@' || c == '$' => {
                let mut j = i + 1;
                while j < chars.len()
                    && (chars[j].is_alphanumeric() || matches!(chars[j], '_' | '.' | '/'))
                {
                    j += 1;
                }
                out.push(Token {
                    tok: Tok::Ident(chars[i..j].iter().collect()),
                    pos: start,
                });
                i = j;
            }
            other => {
                return Err(syntax(
                    text,
                    start,
                    &format!("unexpected character '{other}'"),
                ));
            }
        }
    }
    Ok(out)
}

/// OData datetime literals: RFC 3339 with `Z` or an offset, or a date with an optional `Z`
/// (`2018-08-01Z`, as the MDE samples write it).
fn parse_literal_time(word: &str) -> Option<DateTime<Utc>> {
    if let Some(t) = parse_time(word) {
        return Some(t);
    }
    let date = word.strip_suffix('Z').unwrap_or(word);
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

// ---------------------------------------------------------------------------------------------
// Parser

/// A literal value in a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Str(String),
    Num(f64),
    Time(DateTime<Utc>),
    Bool(bool),
    Null,
}

impl Lit {
    fn edm(&self) -> &'static str {
        match self {
            Lit::Str(_) => "Edm.String",
            Lit::Num(_) => "Edm.Int64",
            Lit::Time(_) => "Edm.DateTimeOffset",
            Lit::Bool(_) => "Edm.Boolean",
            Lit::Null => "null",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn kind(self) -> &'static str {
        match self {
            CmpOp::Eq => "Equal",
            CmpOp::Ne => "NotEqual",
            CmpOp::Gt => "GreaterThan",
            CmpOp::Ge => "GreaterThanOrEqual",
            CmpOp::Lt => "LessThan",
            CmpOp::Le => "LessThanOrEqual",
        }
    }

    fn mirrored(self) -> CmpOp {
        match self {
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            other => other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrFn {
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Path(String, usize),
    Lit(Lit, usize),
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Or(Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Cmp {
        left: Term,
        op: CmpOp,
        right: Term,
        pos: usize,
    },
    Fn {
        func: StrFn,
        subject: Term,
        needle: Term,
        pos: usize,
    },
    In {
        subject: Term,
        items: Vec<Lit>,
        pos: usize,
    },
    Lambda {
        collection: String,
        all: bool,
        var: String,
        body: Box<Node>,
        pos: usize,
    },
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<Token>,
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn pos(&self) -> usize {
        self.toks
            .get(self.i)
            .map_or(self.text.chars().count(), |t| t.pos)
    }

    fn err(&self, what: &str) -> ODataError {
        syntax(self.text, self.pos(), what)
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == kw)
    }

    fn expect(&mut self, tok: &Tok, what: &str) -> Result<(), ODataError> {
        if self.peek() == Some(tok) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    fn parse_or(&mut self) -> Result<Node, ODataError> {
        let mut left = self.parse_and()?;
        while self.keyword("or") {
            self.i += 1;
            let right = self.parse_and()?;
            left = Node::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Node, ODataError> {
        let mut left = self.parse_unary()?;
        while self.keyword("and") {
            self.i += 1;
            let right = self.parse_unary()?;
            left = Node::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_unary(&mut self) -> Result<Node, ODataError> {
        if self.keyword("not") {
            self.i += 1;
            let inner = self.parse_unary()?;
            return Ok(Node::Not(Box::new(inner)));
        }
        self.parse_primary()
    }

    fn parse_primary(&mut self) -> Result<Node, ODataError> {
        let pos = self.pos();
        match self.peek().cloned() {
            Some(Tok::LParen) => {
                self.i += 1;
                let inner = self.parse_or()?;
                self.expect(&Tok::RParen, "expected ')'")?;
                Ok(inner)
            }
            Some(Tok::Ident(name))
                if self.toks.get(self.i + 1).map(|t| &t.tok) == Some(&Tok::LParen) =>
            {
                self.i += 2;
                if let Some(collection) = name
                    .strip_suffix("/any")
                    .or_else(|| name.strip_suffix("/all"))
                {
                    return self.parse_lambda(collection.to_string(), name.ends_with("/all"), pos);
                }
                let func = match name.as_str() {
                    "startswith" => StrFn::StartsWith,
                    "endswith" => StrFn::EndsWith,
                    "contains" => StrFn::Contains,
                    other => {
                        return Err(syntax(
                            self.text,
                            pos,
                            &format!(
                                "unknown function '{other}'; supported: startswith, endswith, contains, any, all"
                            ),
                        ));
                    }
                };
                let subject = self.parse_term()?;
                self.expect(&Tok::Comma, "expected ','")?;
                let needle = self.parse_term()?;
                self.expect(&Tok::RParen, "expected ')'")?;
                Ok(Node::Fn {
                    func,
                    subject,
                    needle,
                    pos,
                })
            }
            Some(_) => {
                let left = self.parse_term()?;
                let op_pos = self.pos();
                let op = match self.peek() {
                    Some(Tok::Ident(op)) => match op.as_str() {
                        "eq" => CmpOp::Eq,
                        "ne" => CmpOp::Ne,
                        "gt" => CmpOp::Gt,
                        "ge" => CmpOp::Ge,
                        "lt" => CmpOp::Lt,
                        "le" => CmpOp::Le,
                        "in" => {
                            self.i += 1;
                            let items = self.parse_list()?;
                            return Ok(Node::In {
                                subject: left,
                                items,
                                pos: op_pos,
                            });
                        }
                        _ => {
                            return Err(self.err(
                                "expected a comparison operator (eq, ne, gt, ge, lt, le, in)",
                            ));
                        }
                    },
                    _ => {
                        return Err(
                            self.err("expected a comparison operator (eq, ne, gt, ge, lt, le, in)")
                        );
                    }
                };
                self.i += 1;
                let right = self.parse_term()?;
                Ok(Node::Cmp {
                    left,
                    op,
                    right,
                    pos: op_pos,
                })
            }
            None => Err(self.err("expected an expression")),
        }
    }

    fn parse_lambda(
        &mut self,
        collection: String,
        all: bool,
        pos: usize,
    ) -> Result<Node, ODataError> {
        let var = match self.peek().cloned() {
            Some(Tok::Ident(v)) if !v.contains('/') => v,
            _ => return Err(self.err("expected a lambda variable, as in any(t: t eq 'x')")),
        };
        self.i += 1;
        self.expect(&Tok::Colon, "expected ':' after the lambda variable")?;
        let body = self.parse_or()?;
        self.expect(&Tok::RParen, "expected ')'")?;
        Ok(Node::Lambda {
            collection,
            all,
            var,
            body: Box::new(body),
            pos,
        })
    }

    fn parse_list(&mut self) -> Result<Vec<Lit>, ODataError> {
        self.expect(&Tok::LParen, "expected '(' after 'in'")?;
        let mut items = Vec::new();
        loop {
            match self.parse_term()? {
                Term::Lit(l, _) => items.push(l),
                Term::Path(_, p) => {
                    return Err(syntax(self.text, p, "expected a literal in the 'in' list"));
                }
            }
            if self.peek() == Some(&Tok::Comma) {
                self.i += 1;
                continue;
            }
            self.expect(&Tok::RParen, "expected ',' or ')'")?;
            return Ok(items);
        }
    }

    fn parse_term(&mut self) -> Result<Term, ODataError> {
        let pos = self.pos();
        let tok = self.peek().cloned();
        let term = match tok {
            Some(Tok::Str(s)) => Term::Lit(Lit::Str(s), pos),
            Some(Tok::Num(n)) => Term::Lit(Lit::Num(n), pos),
            Some(Tok::Time(t)) => Term::Lit(Lit::Time(t), pos),
            Some(Tok::Ident(id)) => match id.as_str() {
                "null" => Term::Lit(Lit::Null, pos),
                "true" => Term::Lit(Lit::Bool(true), pos),
                "false" => Term::Lit(Lit::Bool(false), pos),
                "and" | "or" | "not" | "eq" | "ne" | "gt" | "ge" | "lt" | "le" | "in" => {
                    return Err(self.err("expected a property name or a literal value"));
                }
                _ => Term::Path(id, pos),
            },
            _ => return Err(self.err("expected a property name or a literal value")),
        };
        self.i += 1;
        Ok(term)
    }
}

fn parse(text: &str) -> Result<Node, ODataError> {
    let toks = lex(text)?;
    let mut p = Parser { text, toks, i: 0 };
    let node = p.parse_or()?;
    if p.i < p.toks.len() {
        return Err(p.err("unexpected text after the end of the expression"));
    }
    Ok(node)
}

// ---------------------------------------------------------------------------------------------
// Binder

/// A path to a value, from the entity root or from the current lambda element.
#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// From the entity root: canonical property names (plus nested segments).
    Root(Vec<String>),
    /// From the lambda element: segments after the variable; `.`-containing ones are casts.
    Elem(Vec<String>),
    Lit(Lit),
}

/// A checked filter, ready to evaluate against rendered JSON objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter(Bound);

#[derive(Debug, Clone, PartialEq)]
enum Bound {
    Or(Box<Bound>, Box<Bound>),
    And(Box<Bound>, Box<Bound>),
    Not(Box<Bound>),
    Cmp {
        left: Operand,
        op: CmpOp,
        right: Operand,
        ci: bool,
    },
    Fn {
        func: StrFn,
        subject: Operand,
        needle: String,
        ci: bool,
    },
    In {
        subject: Operand,
        items: Vec<Lit>,
        ci: bool,
    },
    Lambda {
        collection: String,
        all: bool,
        body: Box<Bound>,
    },
}

struct Binder<'a> {
    text: &'a str,
    coll: &'a Collection,
    /// The lambda variable in scope.
    var: Option<String>,
}

/// What the binder knows about an operand's type.
#[derive(Debug, Clone, Copy)]
enum Known {
    Prop(PropType),
    Dynamic,
    Lit,
}

impl Binder<'_> {
    fn bind(&mut self, node: &Node) -> Result<Bound, ODataError> {
        match node {
            Node::Or(a, b) => Ok(Bound::Or(Box::new(self.bind(a)?), Box::new(self.bind(b)?))),
            Node::And(a, b) => Ok(Bound::And(Box::new(self.bind(a)?), Box::new(self.bind(b)?))),
            Node::Not(a) => Ok(Bound::Not(Box::new(self.bind(a)?))),
            Node::Cmp {
                left,
                op,
                right,
                pos,
            } => {
                let (mut l, mut lk) = self.operand(left)?;
                let (mut r, mut rk) = self.operand(right)?;
                let mut op = *op;
                if matches!(l, Operand::Lit(_)) && !matches!(r, Operand::Lit(_)) {
                    std::mem::swap(&mut l, &mut r);
                    std::mem::swap(&mut lk, &mut rk);
                    op = op.mirrored();
                }
                let ci = self.check_cmp(lk, &r, op, *pos)?;
                Ok(Bound::Cmp {
                    left: l,
                    op,
                    right: r,
                    ci,
                })
            }
            Node::Fn {
                func,
                subject,
                needle,
                pos,
            } => {
                let (s, sk) = self.operand(subject)?;
                let needle = match needle {
                    Term::Lit(Lit::Str(n), _) => n.clone(),
                    _ => {
                        return Err(ODataError::new(format!(
                            "The second argument of the function at position {pos} in '{}' must be a string literal.",
                            self.text
                        )));
                    }
                };
                let ci = match sk {
                    Known::Prop(PropType::Str) => self.coll.case_insensitive_strings,
                    Known::Prop(PropType::Enum(_)) => true,
                    Known::Dynamic => self.coll.case_insensitive_strings,
                    Known::Prop(t) => {
                        return Err(ODataError::new(format!(
                            "No function signature for the function at position {pos} in '{}' matches the argument type '{}'.",
                            self.text,
                            t.edm()
                        )));
                    }
                    Known::Lit => {
                        return Err(ODataError::new(format!(
                            "The first argument of the function at position {pos} in '{}' must be a property.",
                            self.text
                        )));
                    }
                };
                Ok(Bound::Fn {
                    func: *func,
                    subject: s,
                    needle,
                    ci,
                })
            }
            Node::In {
                subject,
                items,
                pos,
            } => {
                let (s, sk) = self.operand(subject)?;
                let mut ci = false;
                for item in items {
                    ci = self.check_cmp(sk, &Operand::Lit(item.clone()), CmpOp::Eq, *pos)?;
                }
                Ok(Bound::In {
                    subject: s,
                    items: items.clone(),
                    ci,
                })
            }
            Node::Lambda {
                collection,
                all,
                var,
                body,
                pos,
            } => {
                if self.var.is_some() {
                    return Err(ODataError::new(format!(
                        "Nested lambda expressions (position {pos} in '{}') are not supported.",
                        self.text
                    )));
                }
                let prop = self.property(collection, *pos)?;
                if !matches!(prop.ty, PropType::StrList | PropType::ObjList) {
                    return Err(ODataError::new(format!(
                        "The 'any' and 'all' operators apply to collections; '{}' is of type '{}'.",
                        prop.name,
                        prop.ty.edm()
                    )));
                }
                self.var = Some(var.clone());
                let body = self.bind(body);
                self.var = None;
                Ok(Bound::Lambda {
                    collection: prop.name.to_string(),
                    all: *all,
                    body: Box::new(body?),
                })
            }
        }
    }

    fn property(&self, name: &str, pos: usize) -> Result<&'static Prop, ODataError> {
        let Some(prop) = self.coll.lookup(name) else {
            let hint = self
                .coll
                .props
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(name))
                .map(|p| {
                    format!(
                        " Property names are case-sensitive: did you mean '{}'?",
                        p.name
                    )
                })
                .unwrap_or_default();
            return Err(ODataError::new(format!(
                "Could not find a property named '{name}' on type '{}' (position {pos} in '{}').{hint}",
                self.coll.type_name, self.text
            )));
        };
        if !prop.filterable {
            return Err(ODataError::new(format!(
                "The property '{}' cannot be used in the $filter query option. Filterable properties: {}.",
                prop.name,
                self.coll.filterable_list()
            )));
        }
        Ok(prop)
    }

    fn operand(&self, term: &Term) -> Result<(Operand, Known), ODataError> {
        match term {
            Term::Lit(l, _) => Ok((Operand::Lit(l.clone()), Known::Lit)),
            Term::Path(path, pos) => {
                let mut segs = path.split('/');
                let first = segs.next().unwrap_or_default();
                if self.var.as_deref() == Some(first) {
                    return Ok((
                        Operand::Elem(segs.map(str::to_string).collect()),
                        Known::Dynamic,
                    ));
                }
                if path.contains('/') {
                    return Err(ODataError::new(format!(
                        "The path '{path}' at position {pos} in '{}' is not supported: navigate collections with any() or all().",
                        self.text
                    )));
                }
                let prop = self.property(first, *pos)?;
                Ok((
                    Operand::Root(vec![prop.name.to_string()]),
                    Known::Prop(prop.ty),
                ))
            }
        }
    }

    /// Type-check `left op right` where `right` is usually a literal; returns whether string
    /// comparison ignores case.
    fn check_cmp(
        &self,
        left: Known,
        right: &Operand,
        op: CmpOp,
        pos: usize,
    ) -> Result<bool, ODataError> {
        let Operand::Lit(lit) = right else {
            return Ok(self.coll.case_insensitive_strings);
        };
        let ty = match left {
            Known::Prop(t) => t,
            Known::Dynamic => return Ok(self.coll.case_insensitive_strings),
            Known::Lit => {
                return Err(ODataError::new(format!(
                    "The comparison at position {pos} in '{}' compares two literals; one side must be a property.",
                    self.text
                )));
            }
        };
        let mismatch = || {
            ODataError::new(format!(
                "A binary operator with incompatible types was detected. Found operand types '{}' and '{}' for operator kind '{}'.",
                ty.edm(),
                lit.edm(),
                op.kind()
            ))
        };
        match (ty, lit) {
            (_, Lit::Null) if !matches!(ty, PropType::StrList | PropType::ObjList) => {
                Ok(self.coll.case_insensitive_strings)
            }
            (PropType::Str, Lit::Str(_)) => Ok(self.coll.case_insensitive_strings),
            (PropType::Enum(values), Lit::Str(s)) => {
                if values.iter().any(|v| v.eq_ignore_ascii_case(s)) {
                    Ok(true)
                } else {
                    Err(ODataError::new(format!(
                        "The string '{s}' is not a valid enumeration type constant (position {pos} in '{}'). Expected one of: {}.",
                        self.text,
                        values.join(", ")
                    )))
                }
            }
            (PropType::DateTime, Lit::Time(_))
            | (PropType::Num, Lit::Num(_))
            | (PropType::Bool, Lit::Bool(_)) => Ok(false),
            _ => Err(mismatch()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// A comparable scalar: a JSON value or a literal.
#[derive(Debug, Clone)]
enum Scalar<'a> {
    Str(&'a str),
    Num(f64),
    Time(DateTime<Utc>),
    Bool(bool),
    Null,
}

fn lit_scalar(l: &Lit) -> Scalar<'_> {
    match l {
        Lit::Str(s) => Scalar::Str(s),
        Lit::Num(n) => Scalar::Num(*n),
        Lit::Time(t) => Scalar::Time(*t),
        Lit::Bool(b) => Scalar::Bool(*b),
        Lit::Null => Scalar::Null,
    }
}

fn json_scalar(v: &Value) -> Option<Scalar<'_>> {
    match v {
        Value::String(s) => Some(Scalar::Str(s)),
        Value::Number(n) => n.as_f64().map(Scalar::Num),
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::Null => Some(Scalar::Null),
        _ => None,
    }
}

fn compare(a: &Scalar<'_>, b: &Scalar<'_>, ci: bool) -> Option<Ordering> {
    match (a, b) {
        (Scalar::Str(x), Scalar::Str(y)) => Some(if ci {
            x.to_lowercase().cmp(&y.to_lowercase())
        } else {
            x.cmp(y)
        }),
        (Scalar::Num(x), Scalar::Num(y)) => x.partial_cmp(y),
        (Scalar::Bool(x), Scalar::Bool(y)) => Some(x.cmp(y)),
        (Scalar::Time(x), Scalar::Time(y)) => Some(x.cmp(y)),
        (Scalar::Str(s), Scalar::Time(t)) => parse_time(s).map(|x| x.cmp(t)),
        (Scalar::Time(t), Scalar::Str(s)) => parse_time(s).map(|y| t.cmp(&y)),
        (Scalar::Null, Scalar::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

fn apply(op: CmpOp, a: &Scalar<'_>, b: &Scalar<'_>, ci: bool) -> bool {
    let null_a = matches!(a, Scalar::Null);
    let null_b = matches!(b, Scalar::Null);
    if null_a || null_b {
        // OData: null equals only null; ordering comparisons with null are false.
        return match op {
            CmpOp::Eq => null_a && null_b,
            CmpOp::Ne => null_a != null_b,
            _ => false,
        };
    }
    let ord = compare(a, b, ci);
    match op {
        CmpOp::Eq => ord == Some(Ordering::Equal),
        CmpOp::Ne => ord != Some(Ordering::Equal),
        CmpOp::Gt => ord == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        CmpOp::Lt => ord == Some(Ordering::Less),
        CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
    }
}

/// Walk a path through objects; a segment containing `.` is a type cast on `@odata.type`.
fn walk<'v>(mut v: &'v Value, segs: &[String]) -> Option<&'v Value> {
    for seg in segs {
        if seg.contains('.') {
            let ty = v.get("@odata.type").and_then(Value::as_str)?;
            if ty.trim_start_matches('#') != seg {
                return None;
            }
            continue;
        }
        v = v.get(seg.as_str())?;
    }
    Some(v)
}

impl Filter {
    /// Whether the rendered entity `obj` matches.
    #[must_use]
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.eval(obj, None)
    }
}

impl Bound {
    fn resolve<'v>(op: &'v Operand, obj: &'v Value, elem: Option<&'v Value>) -> Option<Scalar<'v>> {
        match op {
            Operand::Lit(l) => Some(lit_scalar(l)),
            Operand::Root(path) => walk(obj, path).map_or(Some(Scalar::Null), json_scalar),
            Operand::Elem(path) => {
                let e = elem?;
                walk(e, path).and_then(json_scalar)
            }
        }
    }

    fn eval(&self, obj: &Value, elem: Option<&Value>) -> bool {
        match self {
            Bound::Or(a, b) => a.eval(obj, elem) || b.eval(obj, elem),
            Bound::And(a, b) => a.eval(obj, elem) && b.eval(obj, elem),
            Bound::Not(a) => !a.eval(obj, elem),
            Bound::Cmp {
                left,
                op,
                right,
                ci,
            } => match (
                Self::resolve(left, obj, elem),
                Self::resolve(right, obj, elem),
            ) {
                (Some(a), Some(b)) => apply(*op, &a, &b, *ci),
                _ => false,
            },
            Bound::Fn {
                func,
                subject,
                needle,
                ci,
            } => {
                let Some(Scalar::Str(s)) = Self::resolve(subject, obj, elem) else {
                    return false;
                };
                let (s, n) = if *ci {
                    (s.to_lowercase(), needle.to_lowercase())
                } else {
                    (s.to_string(), needle.clone())
                };
                match func {
                    StrFn::StartsWith => s.starts_with(&n),
                    StrFn::EndsWith => s.ends_with(&n),
                    StrFn::Contains => s.contains(&n),
                }
            }
            Bound::In { subject, items, ci } => {
                let Some(s) = Self::resolve(subject, obj, elem) else {
                    return false;
                };
                items
                    .iter()
                    .any(|i| apply(CmpOp::Eq, &s, &lit_scalar(i), *ci))
            }
            Bound::Lambda {
                collection,
                all,
                body,
            } => {
                let items = obj
                    .get(collection.as_str())
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                if *all {
                    items.iter().all(|e| body.eval(obj, Some(e)))
                } else {
                    items.iter().any(|e| body.eval(obj, Some(e)))
                }
            }
        }
    }
}

/// Parse and check a `$filter` expression for a collection.
///
/// # Errors
/// A syntax error (with its position), an unknown or unfilterable property, a type mismatch or
/// an unknown enum value.
pub fn parse_filter(text: &str, coll: &Collection) -> Result<Filter, ODataError> {
    let node = parse(text)?;
    Binder {
        text,
        coll,
        var: None,
    }
    .bind(&node)
    .map(Filter)
}

// ---------------------------------------------------------------------------------------------
// Query options and paging

/// The parsed query string of a collection request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub top: Option<usize>,
    pub skip: usize,
    pub count: bool,
    pub expand: Vec<String>,
    /// Every pair as sent, to rebuild `@odata.nextLink`.
    pairs: Vec<(String, String)>,
}

/// The decoded `key=value` pairs of a query string (`+` is a space).
#[must_use]
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    })
    .unwrap_or_default()
}

fn parse_count(name: &str, v: &str) -> Result<usize, ODataError> {
    v.trim().parse::<usize>().map_err(|_| {
        ODataError::new(format!(
            "Invalid value '{v}' for {name} query option found. The {name} query option requires a non-negative integer value."
        ))
    })
}

/// Parse the OData system query options of a collection request.
///
/// # Errors
/// Unsupported or repeated options, bad `$top`/`$skip`/`$count` values, `$top` over the limit,
/// a bad `$filter`, an unknown `$expand`.
pub fn parse_query(raw: Option<&str>, coll: &Collection) -> Result<ListQuery, ODataError> {
    let pairs = query_pairs(raw);
    let mut q = ListQuery {
        filter: None,
        top: None,
        skip: 0,
        count: false,
        expand: Vec::new(),
        pairs: pairs.clone(),
    };
    let mut seen: Vec<String> = Vec::new();
    for (k, v) in &pairs {
        if !k.starts_with('$') {
            continue;
        }
        let key = k.to_ascii_lowercase();
        if seen.contains(&key) {
            return Err(ODataError::new(format!(
                "Query option '{k}' was specified more than once, but it must be specified at most once."
            )));
        }
        seen.push(key.clone());
        match key.as_str() {
            "$filter" => q.filter = Some(parse_filter(v, coll)?),
            "$top" => {
                let top = parse_count("$top", v)?;
                if top > coll.max_top {
                    return Err(ODataError {
                        message: format!(
                            "The query specified in the URI is not valid. The limit of '{}' for Top query has been exceeded. The value from the incoming request is '{top}'.",
                            coll.max_top
                        ),
                        top_exceeded: true,
                    });
                }
                q.top = Some(top);
            }
            "$skip" => q.skip = parse_count("$skip", v)?,
            "$count" if coll.allow_count => {
                q.count = match v.trim() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(ODataError::new(format!(
                            "'{other}' is not a valid count option: use true or false."
                        )));
                    }
                };
            }
            "$expand" if !coll.expandable.is_empty() => {
                for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let Some(name) = coll.expandable.iter().find(|e| **e == item) else {
                        return Err(ODataError::new(format!(
                            "Could not find a navigation property named '{item}' on type '{}'. Expandable: {}.",
                            coll.type_name,
                            coll.expandable.join(", ")
                        )));
                    };
                    q.expand.push((*name).to_string());
                }
            }
            _ => {
                return Err(ODataError::new(format!(
                    "The query parameter '{k}' is not supported on this collection."
                )));
            }
        }
    }
    Ok(q)
}

/// One page of a collection after filtering.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<Value>,
    /// All matching items, before `$skip`/`$top`.
    pub total: usize,
    /// `$skip` of the next page, when there is one.
    pub next_skip: Option<usize>,
}

impl ListQuery {
    /// Filter `items` (in their final order) and cut out the requested page.
    #[must_use]
    pub fn page(&self, items: Vec<Value>, coll: &Collection) -> Page {
        let matching: Vec<Value> = match &self.filter {
            Some(f) => items.into_iter().filter(|v| f.matches(v)).collect(),
            None => items,
        };
        let total = matching.len();
        let size = self.top.unwrap_or(coll.default_top);
        let page: Vec<Value> = matching.into_iter().skip(self.skip).take(size).collect();
        let end = self.skip.saturating_add(page.len());
        let next_skip = (size > 0 && end < total && !page.is_empty()).then_some(end);
        Page {
            items: page,
            total,
            next_skip,
        }
    }

    /// `base` + `path` + the request's query with `$skip` replaced: the next page's address.
    #[must_use]
    pub fn next_link(&self, base: &str, path: &str, skip: usize) -> String {
        let mut out = format!("{base}{path}?");
        let mut first = true;
        let mut push = |out: &mut String, k: &str, v: &str| {
            if !first {
                out.push('&');
            }
            first = false;
            let _ = write!(out, "{}={}", encode(k), encode(v));
        };
        for (k, v) in &self.pairs {
            if k.eq_ignore_ascii_case("$skip") {
                continue;
            }
            push(&mut out, k, v);
        }
        push(&mut out, "$skip", &skip.to_string());
        out
    }
}

/// Percent-encode a query component, keeping OData's readable characters (`$`, `'`, `(`, `)`,
/// `,`, `:`, `/`) as they are.
fn encode(s: &str) -> String {
    use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
    const SET: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'&')
        .add(b'+')
        .add(b'<')
        .add(b'>')
        .add(b'=')
        .add(b'?')
        .add(b'`')
        .add(b'{')
        .add(b'}')
        .add(b'|')
        .add(b'\\')
        .add(b'^')
        .add(b'[')
        .add(b']');
    utf8_percent_encode(s, SET).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STATUS: &[&str] = &["active", "resolved", "inProgress", "redirected"];
    static PROPS: &[Prop] = &[
        Prop {
            name: "status",
            ty: PropType::Enum(STATUS),
            filterable: true,
        },
        Prop {
            name: "assignedTo",
            ty: PropType::Str,
            filterable: true,
        },
        Prop {
            name: "createdDateTime",
            ty: PropType::DateTime,
            filterable: true,
        },
        Prop {
            name: "rbacGroupId",
            ty: PropType::Num,
            filterable: true,
        },
        Prop {
            name: "machineTags",
            ty: PropType::StrList,
            filterable: true,
        },
        Prop {
            name: "evidence",
            ty: PropType::ObjList,
            filterable: true,
        },
        Prop {
            name: "displayName",
            ty: PropType::Str,
            filterable: false,
        },
    ];

    fn coll(ci: bool) -> Collection {
        Collection {
            type_name: "test.entity",
            props: PROPS,
            case_insensitive_names: ci,
            case_insensitive_strings: ci,
            max_top: 50,
            default_top: 10,
            allow_count: true,
            expandable: &["alerts"],
        }
    }

    fn obj() -> Value {
        json!({
            "status": "active",
            "assignedTo": "bob@contoso.example",
            "createdDateTime": "2026-11-20T10:00:00.1234567Z",
            "rbacGroupId": 11,
            "machineTags": ["VIP", "Finance"],
            "evidence": [
                {"@odata.type": "#microsoft.graph.security.deviceEvidence", "deviceDnsName": "ws-001.corp"},
                {"@odata.type": "#microsoft.graph.security.ipEvidence", "ipAddress": "192.0.2.1"}
            ],
            "displayName": "x"
        })
    }

    fn m(text: &str) -> bool {
        parse_filter(text, &coll(false))
            .map(|f| f.matches(&obj()))
            .unwrap_or_else(|e| panic!("{text}: {}", e.message))
    }

    fn err(text: &str, ci: bool) -> String {
        parse_filter(text, &coll(ci))
            .err()
            .map(|e| e.message)
            .unwrap_or_default()
    }

    #[test]
    fn comparisons_and_logic() {
        assert!(m("status eq 'active'"));
        assert!(
            m("status eq 'Active'"),
            "enum values compare case-insensitively"
        );
        assert!(!m("status ne 'active'"));
        assert!(m(
            "status eq 'resolved' or assignedTo eq 'bob@contoso.example'"
        ));
        assert!(!m(
            "status eq 'resolved' and assignedTo eq 'bob@contoso.example'"
        ));
        assert!(m("not (status eq 'resolved')"));
        assert!(m("rbacGroupId ge 11 and rbacGroupId lt 12"));
        assert!(m("'active' eq status"), "literal on the left is mirrored");
        assert!(m("11 le rbacGroupId"));
        assert!(m("assignedTo ne null"));
        assert!(!m("assignedTo eq null"));
        assert!(m("status in ('resolved', 'active')"));
    }

    #[test]
    fn datetimes_compare_as_instants() {
        assert!(m("createdDateTime ge 2026-11-20T10:00:00Z"));
        assert!(m("createdDateTime ge 2026-11-20T10:00:00.1234567Z"));
        assert!(!m("createdDateTime gt 2026-11-20T10:00:00.1234567Z"));
        assert!(m("createdDateTime gt 2026-11-20Z"));
        assert!(!m("createdDateTime lt 2026-11-20T11:00:00+01:00"));
    }

    #[test]
    fn functions_and_lambdas() {
        assert!(m("startswith(assignedTo,'bob')"));
        assert!(
            !m("startswith(assignedTo,'Bob')"),
            "Graph strings are case-sensitive"
        );
        assert!(m("contains(assignedTo,'@contoso')"));
        assert!(m("endswith(assignedTo,'.example')"));
        assert!(m("machineTags/any(t: t eq 'VIP')"));
        assert!(!m("machineTags/all(t: t eq 'VIP')"));
        assert!(m(
            "evidence/any(e: e/microsoft.graph.security.deviceEvidence/deviceDnsName eq 'ws-001.corp')"
        ));
        assert!(!m(
            "evidence/any(e: e/microsoft.graph.security.ipEvidence/deviceDnsName eq 'ws-001.corp')"
        ));
    }

    #[test]
    fn string_literals_escape_quotes() {
        let c = coll(false);
        let f = parse_filter("assignedTo eq 'o''brien'", &c).unwrap();
        assert!(f.matches(&json!({"assignedTo": "o'brien"})));
    }

    #[test]
    fn syntax_errors_carry_positions() {
        let e = err("status eq", false);
        assert!(e.contains("position 9"), "{e}");
        let e = err("status eq 'active", false);
        assert!(
            e.contains("position 10") && e.contains("unterminated"),
            "{e}"
        );
        let e = err("status = 'x'", false);
        assert!(e.contains("position 7"), "{e}");
        let e = err("(status eq 'active'", false);
        assert!(e.contains("expected ')'"), "{e}");
        let e = err("status eq 'active' foo", false);
        assert!(e.contains("position 19"), "{e}");
    }

    #[test]
    fn binding_errors_name_the_problem() {
        let e = err("severity eq 'high'", false);
        assert!(
            e.contains("Could not find a property named 'severity'"),
            "{e}"
        );
        let e = err("Status eq 'active'", false);
        assert!(e.contains("did you mean 'status'"), "{e}");
        assert!(
            err("Status eq 'active'", true).is_empty(),
            "MDE names ignore case"
        );
        let e = err("displayName eq 'x'", false);
        assert!(e.contains("cannot be used in the $filter"), "{e}");
        let e = err("createdDateTime ge '2026-01-01'", false);
        assert!(
            e.contains("Edm.DateTimeOffset") && e.contains("Edm.String"),
            "{e}"
        );
        let e = err("status eq 'open'", false);
        assert!(e.contains("'open' is not a valid enumeration"), "{e}");
        let e = err("machineTags eq 'VIP'", false);
        assert!(e.contains("incompatible"), "{e}");
    }

    #[test]
    fn query_options_and_paging() {
        let c = coll(false);
        let q = parse_query(
            Some("$top=2&$skip=1&$count=true&$filter=status+eq+'active'"),
            &c,
        )
        .unwrap();
        assert_eq!((q.top, q.skip, q.count), (Some(2), 1, true));
        let items: Vec<Value> = (0..5)
            .map(|i| json!({"status": "active", "n": i}))
            .collect();
        let page = q.page(items, &c);
        assert_eq!(page.total, 5);
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.items[0]["n"], 1);
        assert_eq!(page.next_skip, Some(3));
        let link = q.next_link("http://127.0.0.1:9", "/v1.0/security/incidents", 3);
        assert_eq!(
            link,
            "http://127.0.0.1:9/v1.0/security/incidents?$top=2&$count=true&$filter=status%20eq%20'active'&$skip=3"
        );
    }

    #[test]
    fn query_option_errors() {
        let c = coll(false);
        let e = parse_query(Some("$top=100"), &c).unwrap_err();
        assert!(e.top_exceeded);
        assert_eq!(
            e.message,
            "The query specified in the URI is not valid. The limit of '50' for Top query has been exceeded. The value from the incoming request is '100'."
        );
        assert!(parse_query(Some("$top=-1"), &c).is_err());
        assert!(parse_query(Some("$top=1&$top=2"), &c).is_err());
        assert!(parse_query(Some("$orderby=x"), &c).is_err());
        assert!(parse_query(Some("$expand=evidence"), &c).is_err());
        assert_eq!(
            parse_query(Some("$expand=alerts"), &c).unwrap().expand,
            vec!["alerts".to_string()]
        );
        assert!(
            parse_query(Some("api-version=1"), &c).is_ok(),
            "plain parameters are ignored"
        );
    }

    #[test]
    fn last_page_has_no_next_link() {
        let c = coll(false);
        let q = parse_query(Some("$top=5"), &c).unwrap();
        let items: Vec<Value> = (0..5).map(|i| json!({ "n": i })).collect();
        assert_eq!(q.page(items, &c).next_skip, None);
    }
}
