//! The syntax tree of a KQL query, with spans for error reporting. Produced by the parser,
//! checked and typed by the binder.

use super::error::Span;
use super::value::{Type, Value};

/// A whole query: `let` statements, then one tabular expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub lets: Vec<LetStmt>,
    pub body: Tabular,
}

/// `let name = value;`
#[derive(Debug, Clone, PartialEq)]
pub struct LetStmt {
    pub name: Ident,
    pub value: LetValue,
}

/// The right-hand side of a `let`. A bare name is parsed as a scalar and resolved by the
/// binder, which knows whether it names a table.
#[derive(Debug, Clone, PartialEq)]
pub enum LetValue {
    Scalar(Expr),
    Tabular(Tabular),
}

/// A name and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `Source | op | op …`
#[derive(Debug, Clone, PartialEq)]
pub struct Tabular {
    pub source: Source,
    pub ops: Vec<PipeOp>,
}

/// Where rows come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A table or a tabular `let` name.
    Name(Ident),
    /// `print a = 1, 2`.
    Print { items: Vec<NamedExpr>, span: Span },
    /// `datatable(a:long, b:string) [1, "x"]`.
    Datatable {
        columns: Vec<(Ident, Type)>,
        values: Vec<Expr>,
        span: Span,
    },
    /// `( tabular )`.
    Paren(Box<Tabular>),
    /// `union [kind=…] [withsource=…] A, (B | …), …`.
    Union(Union),
}

/// The legs and parameters of `union`.
#[derive(Debug, Clone, PartialEq)]
pub struct Union {
    /// `kind=inner`: only the columns every leg has.
    pub inner: bool,
    /// `withsource=Name`: a first column naming each row's leg.
    pub with_source: Option<Ident>,
    /// `isfuzzy=true`: legs that do not resolve are skipped.
    pub fuzzy: bool,
    pub legs: Vec<UnionLeg>,
    pub span: Span,
}

/// One leg of `union`: a table (possibly a wildcard such as `Device*`) or a sub-query.
#[derive(Debug, Clone, PartialEq)]
pub enum UnionLeg {
    Name(Ident),
    Query(Box<Tabular>),
}

/// `join` flavours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    InnerUnique,
    Inner,
    LeftOuter,
    RightOuter,
    FullOuter,
    LeftSemi,
    RightSemi,
    LeftAnti,
    RightAnti,
}

impl JoinKind {
    /// The flavour named `kind=…` (with the documented aliases).
    #[must_use]
    pub fn from_name(name: &str) -> Option<JoinKind> {
        Some(match name {
            "innerunique" => JoinKind::InnerUnique,
            "inner" => JoinKind::Inner,
            "leftouter" => JoinKind::LeftOuter,
            "rightouter" => JoinKind::RightOuter,
            "fullouter" => JoinKind::FullOuter,
            "leftsemi" => JoinKind::LeftSemi,
            "rightsemi" => JoinKind::RightSemi,
            "leftanti" | "anti" | "leftantisemi" => JoinKind::LeftAnti,
            "rightanti" | "rightantisemi" => JoinKind::RightAnti,
            _ => return None,
        })
    }
}

/// One equality of a `join … on` clause (`on Key` has the same name on both sides).
#[derive(Debug, Clone, PartialEq)]
pub struct JoinKey {
    pub left: Ident,
    pub right: Ident,
}

/// One expanded column of `mv-expand`.
#[derive(Debug, Clone, PartialEq)]
pub struct MvItem {
    pub name: Option<Ident>,
    pub expr: Expr,
    /// `to typeof(T)`.
    pub to: Option<Type>,
}

/// One `| operator …` with the operator keyword's span.
#[derive(Debug, Clone, PartialEq)]
pub struct PipeOp {
    /// The keyword as written (`where`, `filter`, `order`, …).
    pub keyword: String,
    pub span: Span,
    pub op: Op,
}

/// Tabular operators of the emulated subset.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Where(Expr),
    Project(Vec<NamedExpr>),
    ProjectAway(Vec<Ident>),
    ProjectKeep(Vec<Ident>),
    ProjectRename(Vec<(Ident, Ident)>),
    ProjectReorder(Vec<(Ident, ReorderOrder)>),
    Extend(Vec<NamedExpr>),
    Summarize {
        aggregates: Vec<NamedExpr>,
        by: Vec<NamedExpr>,
    },
    Sort(Vec<SortKey>),
    Top {
        count: Expr,
        key: SortKey,
    },
    Take(Expr),
    /// `distinct *` is an empty list with `star`.
    Distinct {
        columns: Vec<NamedExpr>,
        star: bool,
    },
    Count,
    /// `render …`: accepted as the last operator and ignored (the APIs return no chart).
    Render,
    /// `getschema`.
    GetSchema,
    /// `union` with the input as the first leg.
    Union(Union),
    Join {
        kind: JoinKind,
        right: Box<Tabular>,
        on: Vec<JoinKey>,
    },
    MvExpand {
        items: Vec<MvItem>,
        /// `kind=array`: bag slots become `[key, value]` pairs instead of `{key: value}` bags.
        bag_as_array: bool,
        item_index: Option<Ident>,
        limit: Option<Expr>,
    },
}

/// `project-reorder` column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReorderOrder {
    /// Source order.
    Keep,
    Asc,
    Desc,
    GrannyAsc,
    GrannyDesc,
}

/// `[Name =] expr`.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedExpr {
    pub name: Option<Ident>,
    pub expr: Expr,
}

/// `expr [asc|desc] [nulls first|last]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub descending: bool,
    /// `None`: the default for the direction (nulls last when descending).
    pub nulls_first: Option<bool>,
}

/// A scalar expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// Scalar expression forms.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A literal with its type (typed nulls included).
    Literal(Value, Type),
    /// A column or `let` name.
    Name(String),
    /// `*` as a function argument (`arg_max(x, *)`).
    Star,
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    Neg(Box<Expr>),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// The `has` / `contains` / `startswith` / `endswith` families and `matches regex`.
    StrPredicate {
        op: StrOp,
        case_sensitive: bool,
        negated: bool,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    In {
        lhs: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
        case_insensitive: bool,
    },
    HasAny {
        lhs: Box<Expr>,
        list: Vec<Expr>,
        all: bool,
    },
    Between {
        lhs: Box<Expr>,
        lo: Box<Expr>,
        hi: Box<Expr>,
        negated: bool,
    },
    /// `d.key`, `d["key"]`.
    Member {
        target: Box<Expr>,
        key: String,
    },
    /// `d[expr]` with a non-constant or integer index.
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    /// `dynamic(…)` literal.
    Dynamic(serde_json::Value),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `=~`
    EqCi,
    /// `!~`
    NeCi,
    And,
    Or,
}

impl BinOp {
    /// The operator as written.
    #[must_use]
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::EqCi => "=~",
            BinOp::NeCi => "!~",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

/// String predicate families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrOp {
    Has,
    HasPrefix,
    HasSuffix,
    Contains,
    StartsWith,
    EndsWith,
    MatchesRegex,
}

impl StrOp {
    /// The operator word (positive, case-insensitive form).
    #[must_use]
    pub fn word(self) -> &'static str {
        match self {
            StrOp::Has => "has",
            StrOp::HasPrefix => "hasprefix",
            StrOp::HasSuffix => "hassuffix",
            StrOp::Contains => "contains",
            StrOp::StartsWith => "startswith",
            StrOp::EndsWith => "endswith",
            StrOp::MatchesRegex => "matches regex",
        }
    }
}
