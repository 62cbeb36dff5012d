//! The binder: resolves names against each operator's input schema, checks types (the engine
//! rejects `Timestamp > "2024-01-01"` before running, and so do we), names output columns, folds
//! constants, and turns the syntax tree into an executable plan. Every error is found here,
//! before any table is generated or scanned.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use regex::Regex;

use super::aggregates::{self, AggKind, BAgg};
use super::ast::{
    BinOp, Expr, ExprKind, Ident, JoinKey, JoinKind, LetValue, MvItem, NamedExpr, Op, PipeOp,
    Query, ReorderOrder, SortKey, Source, StrOp, Tabular, Union, UnionLeg,
};
use super::error::{ErrorKind, KqlError, Span};
use super::eval;
use super::functions::{self, AGGREGATES, Func, UNSUPPORTED_AGGREGATES};
use super::naming::{DefaultNames, aggregate_name, derived_name, unique_name};
use super::parser::strsim_suggest;
use super::relation::{ColumnDef, Relation};
use super::value::{Type, Value};

/// A typed, resolved scalar expression.
#[derive(Debug, Clone)]
pub struct BExpr {
    pub kind: BKind,
    pub ty: Type,
}

/// Bound expression forms.
#[derive(Debug, Clone)]
pub enum BKind {
    Lit(Value),
    /// Input column (or, after `summarize`, position in the group row).
    Col(usize),
    Neg(Box<BExpr>),
    Arith(BinOp, Box<BExpr>, Box<BExpr>),
    Cmp(BinOp, Box<BExpr>, Box<BExpr>),
    And(Box<BExpr>, Box<BExpr>),
    Or(Box<BExpr>, Box<BExpr>),
    Str {
        op: StrOp,
        case_sensitive: bool,
        negated: bool,
        lhs: Box<BExpr>,
        rhs: Box<BExpr>,
    },
    Regex(Box<BExpr>, Arc<Regex>),
    /// `in` against a constant list, pre-hashed.
    InSet {
        lhs: Box<BExpr>,
        set: Arc<InSet>,
        negated: bool,
    },
    /// `in` against expressions evaluated per row.
    InList {
        lhs: Box<BExpr>,
        list: Vec<BExpr>,
        negated: bool,
        case_insensitive: bool,
    },
    /// `has_any` / `has_all` against constant terms.
    HasTerms {
        lhs: Box<BExpr>,
        terms: Arc<Terms>,
        all: bool,
    },
    Between {
        lhs: Box<BExpr>,
        lo: Box<BExpr>,
        hi: Box<BExpr>,
        negated: bool,
    },
    Call(Func, Vec<BExpr>),
    Member(Box<BExpr>, String),
    Index(Box<BExpr>, Box<BExpr>),
}

impl BExpr {
    fn lit(v: Value, ty: Type) -> BExpr {
        BExpr {
            kind: BKind::Lit(v),
            ty,
        }
    }

    fn is_const(&self) -> bool {
        matches!(self.kind, BKind::Lit(_))
    }

    fn const_value(&self) -> Option<&Value> {
        match &self.kind {
            BKind::Lit(v) => Some(v),
            _ => None,
        }
    }
}

/// The constant list of an `in` / `in~`: strings hashed (lower-cased for `in~`), other values
/// kept for comparison.
#[derive(Debug, Default)]
pub struct InSet {
    pub case_insensitive: bool,
    pub strings: HashSet<String>,
    pub others: Vec<Value>,
}

/// The constant terms of `has_any` / `has_all`: whole alphanumeric terms (lower-cased) and
/// phrases that need the boundary search.
#[derive(Debug, Default)]
pub struct Terms {
    pub words: HashSet<String>,
    pub phrases: Vec<String>,
    /// Distinct terms in total (for `has_all`).
    pub count: usize,
}

/// An executable plan: a source and operators, with the output schema.
#[derive(Debug, Clone)]
pub struct Plan {
    pub source: PlanSource,
    pub ops: Vec<PlanOp>,
    pub schema: Vec<ColumnDef>,
}

/// Where a plan's rows come from.
#[derive(Debug, Clone)]
pub enum PlanSource {
    /// A hunting table, scanned within the query's time window.
    Table(String),
    /// Rows computed at bind time (`print`, `datatable`).
    Rows(Relation),
    /// A tabular `let` or a parenthesised expression.
    Sub(Box<Plan>),
}

/// One output column of `project`.
#[derive(Debug, Clone)]
pub enum ProjCol {
    Pass(usize),
    Expr(BExpr),
}

/// One output column of `summarize`.
#[derive(Debug, Clone)]
pub enum SumOut {
    /// An expression over the group row (keys, then aggregate slots).
    Row(BExpr),
    /// An expression over the input row chosen by `arg_max`/`arg_min` slot `slot`.
    ArgCol(usize, BExpr),
}

/// A bound `summarize`.
#[derive(Debug, Clone)]
pub struct SummarizePlan {
    pub keys: Vec<BExpr>,
    pub aggs: Vec<BAgg>,
    pub outputs: Vec<SumOut>,
}

/// A sort key.
#[derive(Debug, Clone)]
pub struct BSortKey {
    pub expr: BExpr,
    pub descending: bool,
    pub nulls_first: bool,
}

/// Executable operators.
#[derive(Debug, Clone)]
pub enum PlanOp {
    Filter(BExpr),
    /// Keep/reorder/rename columns without computing anything.
    Select(Vec<usize>, Vec<ColumnDef>),
    Project(Vec<ProjCol>, Vec<ColumnDef>),
    /// Add a column or replace the one at the index.
    Extend(BExpr, ColumnDef, Option<usize>),
    Summarize(Box<SummarizePlan>, Vec<ColumnDef>),
    Sort(Vec<BSortKey>),
    Take(usize),
    Top(usize, BSortKey),
    Distinct(Vec<BExpr>, Vec<ColumnDef>),
    Count,
    /// Replace the rows with a result known at bind time (`getschema`).
    Replace(Relation),
    Union(Box<UnionPlan>),
    Join(Box<JoinPlan>),
    MvExpand(Box<MvExpandPlan>),
}

/// One leg of a bound `union`.
#[derive(Debug, Clone)]
pub struct UnionLegPlan {
    /// `None`: the operator's input.
    pub plan: Option<Plan>,
    /// For each output column, the leg's column (or `None`: nulls).
    pub map: Vec<Option<usize>>,
    /// The `withsource=` value of the leg's rows.
    pub name: String,
}

/// A bound `union`.
#[derive(Debug, Clone)]
pub struct UnionPlan {
    pub legs: Vec<UnionLegPlan>,
    /// Whether the first output column is the `withsource=` column.
    pub with_source: bool,
    pub schema: Vec<ColumnDef>,
}

/// A bound `join`.
#[derive(Debug, Clone)]
pub struct JoinPlan {
    pub kind: JoinKind,
    pub right: Plan,
    pub left_keys: Vec<usize>,
    pub right_keys: Vec<usize>,
    pub schema: Vec<ColumnDef>,
}

/// One expanded column of a bound `mv-expand`.
#[derive(Debug, Clone)]
pub struct MvColumn {
    pub expr: BExpr,
    /// Replace this input column, or append.
    pub replace: Option<usize>,
    /// `to typeof(T)`.
    pub to: Option<Type>,
}

/// A bound `mv-expand`.
#[derive(Debug, Clone)]
pub struct MvExpandPlan {
    pub columns: Vec<MvColumn>,
    pub bag_as_array: bool,
    pub item_index: bool,
    pub limit: usize,
    pub schema: Vec<ColumnDef>,
}

/// What the binder needs to know about tables.
pub trait Catalog {
    /// The columns of `table`, if it exists.
    fn schema(&self, table: &str) -> Option<Vec<ColumnDef>>;
    /// Every table name, for suggestions.
    fn table_names(&self) -> Vec<String>;
}

/// Defender tables the emulator knows of but does not generate.
const KNOWN_TABLES: &[&str] = &[
    "DeviceEvents",
    "DeviceRegistryEvents",
    "DeviceImageLoadEvents",
    "DeviceNetworkInfo",
    "DeviceFileCertificateInfo",
    "DeviceTvmSoftwareVulnerabilities",
    "DeviceTvmSoftwareInventory",
    "DeviceTvmSecureConfigurationAssessment",
    "EmailAttachmentInfo",
    "EmailUrlInfo",
    "EmailPostDeliveryEvents",
    "UrlClickEvents",
    "IdentityQueryEvents",
    "IdentityDirectoryEvents",
    "IdentityInfo",
    "CloudAppEvents",
    "AADSignInEventsBeta",
    "AADSpnSignInEventsBeta",
    "BehaviorInfo",
    "BehaviorEntities",
    "ExposureGraphNodes",
    "ExposureGraphEdges",
];

/// Binds a query.
pub struct Binder<'a> {
    catalog: &'a dyn Catalog,
    now: i64,
    scalars: HashMap<String, (Value, Type)>,
    tabulars: HashMap<String, Plan>,
    names: DefaultNames,
    /// The table name of the current operator's input, when it is a bare table (for
    /// `union withsource=`).
    input_name: Option<String>,
}

/// State of the aggregate part of a `summarize` while its expressions are bound.
struct AggCtx {
    input: Vec<ColumnDef>,
    n_keys: usize,
    slots: Vec<BAgg>,
}

fn names_of(cols: &[ColumnDef]) -> Vec<String> {
    cols.iter().map(|c| c.name.to_string()).collect()
}

fn type_list(t: Type) -> &'static str {
    t.kql_name()
}

impl<'a> Binder<'a> {
    /// A binder over `catalog`; `now` is the query's instant (ticks), used to fold `ago()`.
    #[must_use]
    pub fn new(catalog: &'a dyn Catalog, now: i64) -> Binder<'a> {
        Binder {
            catalog,
            now,
            scalars: HashMap::new(),
            tabulars: HashMap::new(),
            names: DefaultNames::default(),
            input_name: None,
        }
    }

    /// Bind a whole query into a plan.
    ///
    /// # Errors
    /// Unknown names, type errors, unsupported constructs, with positions.
    pub fn bind_query(&mut self, q: &Query) -> Result<Plan, KqlError> {
        for stmt in &q.lets {
            let name = stmt.name.name.clone();
            match &stmt.value {
                LetValue::Tabular(t) => {
                    let plan = self.bind_tabular(t)?;
                    self.scalars.remove(&name);
                    self.tabulars.insert(name, plan);
                }
                LetValue::Scalar(e) => {
                    if let ExprKind::Name(n) = &e.kind
                        && (self.tabulars.contains_key(n) || self.catalog.schema(n).is_some())
                    {
                        let plan = self.bind_tabular(&Tabular {
                            source: Source::Name(Ident {
                                name: n.clone(),
                                span: e.span,
                            }),
                            ops: Vec::new(),
                        })?;
                        self.scalars.remove(&name);
                        self.tabulars.insert(name, plan);
                        continue;
                    }
                    let b = self.bind_expr(e, &[], &mut None)?;
                    let value = eval::eval_const(&b, self.now);
                    self.tabulars.remove(&name);
                    self.scalars.insert(name, (value, b.ty));
                }
            }
        }
        self.bind_tabular(&q.body)
    }

    fn bind_tabular(&mut self, t: &Tabular) -> Result<Plan, KqlError> {
        let (source, mut schema, mut ops) = match &t.source {
            Source::Union(u) => {
                let (op, schema) = self.bind_union(u, None)?;
                let source = PlanSource::Rows(Relation::empty_rows(0));
                (source, schema, vec![op])
            }
            other => {
                let (source, schema) = self.bind_source(other)?;
                (source, schema, Vec::new())
            }
        };
        let source_name = match &t.source {
            Source::Name(id) => Some(id.name.clone()),
            _ => None,
        };
        for (i, op) in t.ops.iter().enumerate() {
            self.input_name = if i == 0 { source_name.clone() } else { None };
            if matches!(op.op, Op::Render) {
                if i + 1 != t.ops.len() {
                    return Err(KqlError::semantic(
                        op.span,
                        "'render' must be the last operator of the query",
                    ));
                }
                continue;
            }
            let (mut new_ops, new_schema) = self
                .bind_op(op, &schema)
                .map_err(|e| e.in_operator(&op.keyword))?;
            ops.append(&mut new_ops);
            schema = new_schema;
        }
        Ok(Plan {
            source,
            ops,
            schema,
        })
    }

    fn bind_source(&mut self, s: &Source) -> Result<(PlanSource, Vec<ColumnDef>), KqlError> {
        match s {
            Source::Name(id) => {
                if let Some(plan) = self.tabulars.get(&id.name) {
                    let schema = plan.schema.clone();
                    return Ok((PlanSource::Sub(Box::new(plan.clone())), schema));
                }
                if let Some(schema) = self.catalog.schema(&id.name) {
                    return Ok((PlanSource::Table(id.name.clone()), schema));
                }
                if self.scalars.contains_key(&id.name) {
                    return Err(KqlError::semantic(
                        id.span,
                        format!("'{}' is a scalar value, not a table", id.name),
                    ));
                }
                if KNOWN_TABLES.contains(&id.name.as_str()) {
                    return Err(KqlError::unsupported(
                        id.span,
                        &format!("table `{}`", id.name),
                    ));
                }
                let mut candidates: Vec<String> = self.catalog.table_names();
                candidates.extend(self.tabulars.keys().cloned());
                let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
                let hint = closest_name(&id.name, &refs)
                    .map_or(String::new(), |c| format!(". Did you mean '{c}'?"));
                Err(KqlError::semantic(
                    id.span,
                    format!(
                        "Failed to resolve table or column expression named '{}'{hint}",
                        id.name
                    ),
                ))
            }
            Source::Paren(inner) => {
                let plan = self.bind_tabular(inner)?;
                let schema = plan.schema.clone();
                Ok((PlanSource::Sub(Box::new(plan)), schema))
            }
            Source::Union(u) => {
                let plan = self.bind_tabular(&Tabular {
                    source: Source::Union(u.clone()),
                    ops: Vec::new(),
                })?;
                let schema = plan.schema.clone();
                Ok((PlanSource::Sub(Box::new(plan)), schema))
            }
            Source::Print { items, .. } => {
                let mut schema = Vec::new();
                let mut row = Vec::new();
                let mut explicit = HashSet::new();
                for (i, item) in items.iter().enumerate() {
                    let b = self.bind_expr(&item.expr, &[], &mut None)?;
                    let name = match &item.name {
                        Some(n) => {
                            if !explicit.insert(n.name.clone()) {
                                return Err(already_declared(n));
                            }
                            n.name.clone()
                        }
                        None => format!("print_{i}"),
                    };
                    row.push(eval::eval_const(&b, self.now));
                    schema.push(ColumnDef::new(&name, b.ty));
                }
                let rel = Relation::from_rows(schema.clone(), vec![row]);
                Ok((PlanSource::Rows(rel), schema))
            }
            Source::Datatable {
                columns, values, ..
            } => {
                let schema: Vec<ColumnDef> = columns
                    .iter()
                    .map(|(n, t)| ColumnDef::new(&n.name, *t))
                    .collect();
                let width = schema.len().max(1);
                if values.len() % width != 0 {
                    let span = values.last().map_or(Span::default(), |v| v.span);
                    return Err(KqlError::semantic(
                        span,
                        format!(
                            "datatable has {} columns but {} values, which is not a whole number of rows",
                            schema.len(),
                            values.len()
                        ),
                    ));
                }
                let mut rows = Vec::new();
                for chunk in values.chunks(width) {
                    let mut row = Vec::new();
                    for (v, col) in chunk.iter().zip(&schema) {
                        let b = self.bind_expr(v, &[], &mut None)?;
                        let value = coerce_literal(eval::eval_const(&b, self.now), col.ty)
                            .ok_or_else(|| {
                                KqlError::semantic(
                                    v.span,
                                    format!(
                                        "value of type {} does not fit column '{}' of type {}",
                                        b.ty.kql_name(),
                                        col.name,
                                        col.ty.kql_name()
                                    ),
                                )
                            })?;
                        row.push(value);
                    }
                    rows.push(row);
                }
                let rel = Relation::from_rows(schema.clone(), rows);
                Ok((PlanSource::Rows(rel), schema))
            }
        }
    }

    fn bind_op(
        &mut self,
        op: &PipeOp,
        input: &[ColumnDef],
    ) -> Result<(Vec<PlanOp>, Vec<ColumnDef>), KqlError> {
        let keep = |ops: Vec<PlanOp>| Ok((ops, input.to_vec()));
        match &op.op {
            Op::Where(e) => {
                let b = self.bind_expr(e, input, &mut None)?;
                if b.ty != Type::Bool && b.ty != Type::Dynamic {
                    return Err(KqlError::semantic(
                        e.span,
                        format!(
                            "the predicate must be of type bool, not {}",
                            type_list(b.ty)
                        ),
                    ));
                }
                keep(vec![PlanOp::Filter(b)])
            }
            Op::Project(items) => self.bind_project(items, input),
            Op::Extend(items) => self.bind_extend(items, input),
            Op::ProjectAway(patterns) => {
                let drop = match_patterns(patterns, input)?;
                let (idx, schema): (Vec<usize>, Vec<ColumnDef>) = input
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !drop.contains(i))
                    .map(|(i, c)| (i, c.clone()))
                    .unzip();
                Ok((vec![PlanOp::Select(idx, schema.clone())], schema))
            }
            Op::ProjectKeep(patterns) => {
                let keep_set = match_patterns(patterns, input)?;
                let (idx, schema): (Vec<usize>, Vec<ColumnDef>) = input
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| keep_set.contains(i))
                    .map(|(i, c)| (i, c.clone()))
                    .unzip();
                Ok((vec![PlanOp::Select(idx, schema.clone())], schema))
            }
            Op::ProjectRename(pairs) => {
                let mut schema = input.to_vec();
                for (new, old) in pairs {
                    let i = resolve_column(&old.name, old.span, &schema)?;
                    if schema
                        .iter()
                        .enumerate()
                        .any(|(j, c)| j != i && *c.name == *new.name)
                    {
                        return Err(already_declared(new));
                    }
                    schema[i].name = Arc::from(new.name.as_str());
                }
                let idx: Vec<usize> = (0..schema.len()).collect();
                Ok((vec![PlanOp::Select(idx, schema.clone())], schema))
            }
            Op::ProjectReorder(items) => {
                let mut order: Vec<usize> = Vec::new();
                for (pattern, how) in items {
                    let mut matched: Vec<usize> =
                        match_patterns(std::slice::from_ref(pattern), input)?
                            .into_iter()
                            .filter(|i| !order.contains(i))
                            .collect();
                    matched.sort_unstable();
                    match how {
                        ReorderOrder::Keep => {}
                        ReorderOrder::Asc => {
                            matched.sort_by(|a, b| input[*a].name.cmp(&input[*b].name))
                        }
                        ReorderOrder::Desc => {
                            matched.sort_by(|a, b| input[*b].name.cmp(&input[*a].name))
                        }
                        ReorderOrder::GrannyAsc => {
                            matched.sort_by(|a, b| granny_cmp(&input[*a].name, &input[*b].name));
                        }
                        ReorderOrder::GrannyDesc => {
                            matched.sort_by(|a, b| granny_cmp(&input[*b].name, &input[*a].name));
                        }
                    }
                    order.extend(matched);
                }
                for i in 0..input.len() {
                    if !order.contains(&i) {
                        order.push(i);
                    }
                }
                let schema: Vec<ColumnDef> = order.iter().map(|&i| input[i].clone()).collect();
                Ok((vec![PlanOp::Select(order, schema.clone())], schema))
            }
            Op::Summarize { aggregates, by } => self.bind_summarize(aggregates, by, input),
            Op::Sort(keys) => {
                let keys = keys
                    .iter()
                    .map(|k| self.bind_sort_key(k, input, "sort"))
                    .collect::<Result<Vec<_>, _>>()?;
                keep(vec![PlanOp::Sort(keys)])
            }
            Op::Top { count, key } => {
                let n = self.const_count(count, "top")?;
                let key = self.bind_sort_key(key, input, "top")?;
                keep(vec![PlanOp::Top(n, key)])
            }
            Op::Take(count) => {
                let n = self.const_count(count, &op.keyword)?;
                keep(vec![PlanOp::Take(n)])
            }
            Op::Distinct { columns, star } => {
                if *star {
                    if let Some(c) = input.iter().find(|c| c.ty == Type::Dynamic) {
                        return Err(KqlError::semantic(
                            op.span,
                            format!(
                                "column '{}' is of type dynamic, which 'distinct' cannot compare; project a cast of it first",
                                c.name
                            ),
                        ));
                    }
                    let exprs = (0..input.len())
                        .map(|i| BExpr {
                            kind: BKind::Col(i),
                            ty: input[i].ty,
                        })
                        .collect();
                    return Ok((
                        vec![PlanOp::Distinct(exprs, input.to_vec())],
                        input.to_vec(),
                    ));
                }
                let mut exprs = Vec::new();
                let mut schema: Vec<ColumnDef> = Vec::new();
                let mut explicit = HashSet::new();
                for item in columns {
                    let b = self.bind_expr(&item.expr, input, &mut None)?;
                    if b.ty == Type::Dynamic {
                        return Err(KqlError::semantic(
                            item.expr.span,
                            "a dynamic value cannot be a 'distinct' key; cast it first (tostring(), toint() …)",
                        ));
                    }
                    let name = self.output_name(item, &schema, &mut explicit)?;
                    schema.push(ColumnDef::new(&name, b.ty));
                    exprs.push(b);
                }
                Ok((vec![PlanOp::Distinct(exprs, schema.clone())], schema))
            }
            Op::Count => {
                let schema = vec![ColumnDef::new("Count", Type::Long)];
                Ok((vec![PlanOp::Count], schema))
            }
            Op::GetSchema => {
                let schema = vec![
                    ColumnDef::new("ColumnName", Type::String),
                    ColumnDef::new("ColumnOrdinal", Type::Int),
                    ColumnDef::new("DataType", Type::String),
                    ColumnDef::new("ColumnType", Type::String),
                ];
                let rows = input
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        vec![
                            Value::Str(c.name.clone()),
                            Value::Int(i32::try_from(i).unwrap_or(i32::MAX)),
                            Value::str(&format!("System.{}", system_type(c.ty))),
                            Value::str(c.ty.kql_name()),
                        ]
                    })
                    .collect();
                let rel = Relation::from_rows(schema.clone(), rows);
                Ok((vec![PlanOp::Replace(rel)], schema))
            }
            Op::Render => keep(Vec::new()),
            Op::Union(u) => {
                let (op, schema) = self.bind_union(u, Some(input))?;
                Ok((vec![op], schema))
            }
            Op::Join { kind, right, on } => self.bind_join(*kind, right, on, input),
            Op::MvExpand {
                items,
                bag_as_array,
                item_index,
                limit,
            } => self.bind_mv_expand(
                items,
                *bag_as_array,
                item_index.as_ref(),
                limit.as_ref(),
                input,
            ),
        }
    }

    /// Bind `union`; `input` is the piped input, the first leg, when used as an operator.
    fn bind_union(
        &mut self,
        u: &Union,
        input: Option<&[ColumnDef]>,
    ) -> Result<(PlanOp, Vec<ColumnDef>), KqlError> {
        let mut legs: Vec<(Option<Plan>, Vec<ColumnDef>, String)> = Vec::new();
        if let Some(cols) = input {
            let name = self
                .input_name
                .clone()
                .unwrap_or_else(|| "union_arg0".into());
            legs.push((None, cols.to_vec(), name));
        }
        for leg in &u.legs {
            match leg {
                UnionLeg::Query(q) => {
                    let plan = self.bind_tabular(q)?;
                    let schema = plan.schema.clone();
                    let name = format!("union_arg{}", legs.len());
                    legs.push((Some(plan), schema, name));
                }
                UnionLeg::Name(id) if id.name.contains('*') => {
                    let mut matched = 0;
                    for table in self.catalog.table_names() {
                        if wildcard_match(&id.name, &table) {
                            let plan = self.bind_tabular(&Tabular {
                                source: Source::Name(Ident {
                                    name: table.clone(),
                                    span: id.span,
                                }),
                                ops: Vec::new(),
                            })?;
                            let schema = plan.schema.clone();
                            legs.push((Some(plan), schema, table));
                            matched += 1;
                        }
                    }
                    if matched == 0 && !u.fuzzy {
                        return Err(KqlError::semantic(
                            id.span,
                            format!("'{}' matches no emulated table", id.name),
                        ));
                    }
                }
                UnionLeg::Name(id) => {
                    let bound = self.bind_tabular(&Tabular {
                        source: Source::Name(id.clone()),
                        ops: Vec::new(),
                    });
                    match bound {
                        Ok(plan) => {
                            let schema = plan.schema.clone();
                            legs.push((Some(plan), schema, id.name.clone()));
                        }
                        Err(_) if u.fuzzy => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if legs.is_empty() {
            return Err(KqlError::semantic(
                u.span,
                "no leg of 'union' could be resolved",
            ));
        }
        // Columns by (name, type) in first-seen order; `kind=inner` keeps the common ones.
        let mut columns: Vec<(String, Type)> = Vec::new();
        for (_, schema, _) in &legs {
            for c in schema {
                let key = (c.name.to_string(), c.ty);
                if !columns.contains(&key) {
                    columns.push(key);
                }
            }
        }
        if u.inner {
            columns.retain(|(n, t)| {
                legs.iter()
                    .all(|(_, schema, _)| schema.iter().any(|c| *c.name == **n && c.ty == *t))
            });
        }
        let mut out: Vec<ColumnDef> = Vec::new();
        if let Some(ws) = &u.with_source {
            out.push(ColumnDef::new(&ws.name, Type::String));
        }
        for (name, ty) in &columns {
            // A name seen with several types becomes one column per type: `x_long`, `x_string`.
            let several = columns.iter().filter(|(n, _)| n == name).count() > 1;
            let wanted = if several {
                format!("{name}_{}", ty.kql_name())
            } else {
                name.clone()
            };
            let unique = unique_name(&wanted, &names_of(&out));
            out.push(ColumnDef::new(&unique, *ty));
        }
        let plans = legs
            .into_iter()
            .map(|(plan, schema, name)| UnionLegPlan {
                plan,
                map: columns
                    .iter()
                    .map(|(n, t)| schema.iter().position(|c| *c.name == **n && c.ty == *t))
                    .collect(),
                name,
            })
            .collect();
        let plan = UnionPlan {
            legs: plans,
            with_source: u.with_source.is_some(),
            schema: out.clone(),
        };
        Ok((PlanOp::Union(Box::new(plan)), out))
    }

    fn bind_join(
        &mut self,
        kind: JoinKind,
        right: &Tabular,
        on: &[JoinKey],
        input: &[ColumnDef],
    ) -> Result<(Vec<PlanOp>, Vec<ColumnDef>), KqlError> {
        let right_plan = self.bind_tabular(right)?;
        let right_schema = right_plan.schema.clone();
        let mut left_keys = Vec::new();
        let mut right_keys = Vec::new();
        for key in on {
            let l = resolve_column(&key.left.name, key.left.span, input)?;
            let r = resolve_column(&key.right.name, key.right.span, &right_schema)?;
            let (lt, rt) = (input[l].ty, right_schema[r].ty);
            if lt == Type::Dynamic || rt == Type::Dynamic {
                return Err(KqlError::semantic(
                    key.left.span.to(key.right.span),
                    "Join keys cannot be dynamic; cast them first (tostring(), tolong() …)",
                ));
            }
            let ints = |t: Type| matches!(t, Type::Int | Type::Long);
            if lt != rt && !(ints(lt) && ints(rt)) {
                return Err(KqlError::semantic(
                    key.left.span.to(key.right.span),
                    format!(
                        "join keys '{}' ({}) and '{}' ({}) have different types",
                        key.left.name,
                        lt.kql_name(),
                        key.right.name,
                        rt.kql_name()
                    ),
                ));
            }
            left_keys.push(l);
            right_keys.push(r);
        }
        let schema = match kind {
            JoinKind::LeftSemi | JoinKind::LeftAnti => input.to_vec(),
            JoinKind::RightSemi | JoinKind::RightAnti => right_schema.clone(),
            _ => {
                // Right columns whose names are taken get the first free numeric suffix.
                let mut out = input.to_vec();
                let mut taken: Vec<String> = names_of(input);
                taken.extend(names_of(&right_schema));
                let left_names = names_of(input);
                for c in &right_schema {
                    let name = if left_names.contains(&c.name.to_string()) {
                        let n = unique_name(&c.name, &taken);
                        taken.push(n.clone());
                        n
                    } else {
                        c.name.to_string()
                    };
                    out.push(ColumnDef::new(&name, c.ty));
                }
                out
            }
        };
        let plan = JoinPlan {
            kind,
            right: right_plan,
            left_keys,
            right_keys,
            schema: schema.clone(),
        };
        Ok((vec![PlanOp::Join(Box::new(plan))], schema))
    }

    fn bind_mv_expand(
        &mut self,
        items: &[MvItem],
        bag_as_array: bool,
        item_index: Option<&Ident>,
        limit: Option<&Expr>,
        input: &[ColumnDef],
    ) -> Result<(Vec<PlanOp>, Vec<ColumnDef>), KqlError> {
        let mut schema = input.to_vec();
        let mut columns = Vec::new();
        for item in items {
            let b = self.bind_expr(&item.expr, input, &mut None)?;
            if b.ty != Type::Dynamic {
                return Err(KqlError::semantic(
                    item.expr.span,
                    format!(
                        "mv-expand expands dynamic arrays and bags, not {}; use parse_json() or todynamic() first",
                        b.ty.kql_name()
                    ),
                ));
            }
            let name = match &item.name {
                Some(n) => n.name.clone(),
                None => match derived_name(&item.expr) {
                    Some(d) => d,
                    None => self.names.next(&names_of(&schema)),
                },
            };
            let ty = item.to.unwrap_or(Type::Dynamic);
            let def = ColumnDef::new(&name, ty);
            let replace = schema.iter().position(|c| *c.name == *name);
            match replace {
                Some(i) => schema[i] = def,
                None => schema.push(def),
            }
            columns.push(MvColumn {
                expr: b,
                replace,
                to: item.to,
            });
        }
        if let Some(ix) = item_index {
            if schema.iter().any(|c| *c.name == *ix.name) {
                return Err(already_declared(ix));
            }
            schema.push(ColumnDef::new(&ix.name, Type::Long));
        }
        let limit = match limit {
            Some(e) => self.const_count(e, "mv-expand")?,
            None => 2_147_483_647,
        };
        let plan = MvExpandPlan {
            columns,
            bag_as_array,
            item_index: item_index.is_some(),
            limit,
            schema: schema.clone(),
        };
        Ok((vec![PlanOp::MvExpand(Box::new(plan))], schema))
    }

    fn const_count(&mut self, e: &Expr, op: &str) -> Result<usize, KqlError> {
        let b = self.bind_expr(e, &[], &mut None)?;
        match b.const_value().and_then(Value::as_i64) {
            Some(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => Err(KqlError::semantic(
                e.span,
                format!("the row count of '{op}' must be a non-negative integer constant"),
            )),
        }
    }

    fn bind_sort_key(
        &mut self,
        k: &SortKey,
        input: &[ColumnDef],
        op: &str,
    ) -> Result<BSortKey, KqlError> {
        let expr = self.bind_expr(&k.expr, input, &mut None)?;
        if expr.ty == Type::Dynamic {
            return Err(KqlError::semantic(
                k.expr.span,
                format!(
                    "a dynamic value cannot be a '{op}' key; cast it first (tostring(), toint() …)"
                ),
            ));
        }
        Ok(BSortKey {
            expr,
            descending: k.descending,
            nulls_first: k.nulls_first.unwrap_or(!k.descending),
        })
    }

    /// The output name of a projected item: explicit (unique among explicit names), derived
    /// from the expression, or the next `ColumnN`; generated names get numeric suffixes.
    fn output_name(
        &mut self,
        item: &NamedExpr,
        taken: &[ColumnDef],
        explicit: &mut HashSet<String>,
    ) -> Result<String, KqlError> {
        let taken_names = names_of(taken);
        if let Some(n) = &item.name {
            if !explicit.insert(n.name.clone()) || taken_names.contains(&n.name) {
                return Err(already_declared(n));
            }
            return Ok(n.name.clone());
        }
        Ok(match derived_name(&item.expr) {
            Some(d) => unique_name(&d, &taken_names),
            None => self.names.next(&taken_names),
        })
    }

    fn bind_project(
        &mut self,
        items: &[NamedExpr],
        input: &[ColumnDef],
    ) -> Result<(Vec<PlanOp>, Vec<ColumnDef>), KqlError> {
        let mut cols = Vec::new();
        let mut schema: Vec<ColumnDef> = Vec::new();
        let mut explicit = HashSet::new();
        let mut all_pass = true;
        // Explicit names are reserved first so a generated name never takes one.
        let reserved: Vec<ColumnDef> = items
            .iter()
            .filter_map(|i| i.name.as_ref())
            .map(|n| ColumnDef::new(&n.name, Type::String))
            .collect();
        for item in items {
            let b = self.bind_expr(&item.expr, input, &mut None)?;
            let name = if item.name.is_some() {
                self.output_name(item, &schema, &mut explicit)?
            } else {
                let mut taken = schema.clone();
                taken.extend(reserved.iter().cloned());
                self.output_name(item, &taken, &mut explicit)?
            };
            schema.push(ColumnDef::new(&name, b.ty));
            match b.kind {
                BKind::Col(i) => cols.push(ProjCol::Pass(i)),
                _ => {
                    all_pass = false;
                    cols.push(ProjCol::Expr(b));
                }
            }
        }
        if all_pass {
            let idx = cols
                .iter()
                .map(|c| match c {
                    ProjCol::Pass(i) => *i,
                    ProjCol::Expr(_) => 0,
                })
                .collect();
            return Ok((vec![PlanOp::Select(idx, schema.clone())], schema));
        }
        Ok((vec![PlanOp::Project(cols, schema.clone())], schema))
    }

    fn bind_extend(
        &mut self,
        items: &[NamedExpr],
        input: &[ColumnDef],
    ) -> Result<(Vec<PlanOp>, Vec<ColumnDef>), KqlError> {
        let mut schema = input.to_vec();
        let mut ops = Vec::new();
        let mut explicit: HashSet<String> = HashSet::new();
        for item in items {
            let b = self.bind_expr(&item.expr, &schema, &mut None)?;
            let name = match &item.name {
                Some(n) => {
                    if !explicit.insert(n.name.clone()) {
                        return Err(already_declared(n));
                    }
                    n.name.clone()
                }
                None => match derived_name(&item.expr) {
                    Some(d) => d,
                    None => self.names.next(&names_of(&schema)),
                },
            };
            let def = ColumnDef::new(&name, b.ty);
            // A name that exists replaces that column in place.
            let replace = schema.iter().position(|c| *c.name == *name);
            match replace {
                Some(i) => schema[i] = def.clone(),
                None => schema.push(def.clone()),
            }
            ops.push(PlanOp::Extend(b, def, replace));
        }
        Ok((ops, schema))
    }

    fn bind_summarize(
        &mut self,
        aggregates: &[NamedExpr],
        by: &[NamedExpr],
        input: &[ColumnDef],
    ) -> Result<(Vec<PlanOp>, Vec<ColumnDef>), KqlError> {
        let mut schema: Vec<ColumnDef> = Vec::new();
        let mut explicit = HashSet::new();
        let mut keys = Vec::new();
        let mut outputs = Vec::new();
        let reserved: Vec<ColumnDef> = aggregates
            .iter()
            .chain(by)
            .filter_map(|i| i.name.as_ref())
            .map(|n| ColumnDef::new(&n.name, Type::String))
            .collect();
        let taken_with_reserved = |schema: &[ColumnDef]| {
            let mut t = schema.to_vec();
            t.extend(reserved.iter().cloned());
            t
        };
        for item in by {
            let b = self.bind_expr(&item.expr, input, &mut None)?;
            if b.ty == Type::Dynamic {
                let label = derived_name(&item.expr).unwrap_or_else(|| "expression".into());
                return Err(KqlError::semantic(
                    item.expr.span,
                    format!(
                        "Summarize group key '{label}' is of a 'dynamic' type. Please use an explicit cast (for example, 'summarize ... by tostring({label})')"
                    ),
                ));
            }
            let taken = if item.name.is_some() {
                schema.clone()
            } else {
                taken_with_reserved(&schema)
            };
            let name = self.output_name(item, &taken, &mut explicit)?;
            let idx = keys.len();
            schema.push(ColumnDef::new(&name, b.ty));
            outputs.push(SumOut::Row(BExpr {
                kind: BKind::Col(idx),
                ty: b.ty,
            }));
            keys.push(b);
        }
        let key_schema = schema.clone();
        let mut agg = Some(AggCtx {
            input: input.to_vec(),
            n_keys: keys.len(),
            slots: Vec::new(),
        });
        for item in aggregates {
            if let ExprKind::Call { name, args } = &item.expr.kind {
                if matches!(name.name.as_str(), "arg_max" | "arg_min") {
                    self.bind_arg_extreme(
                        item,
                        name,
                        args,
                        input,
                        by,
                        &mut schema,
                        &mut explicit,
                        &mut outputs,
                        &mut agg,
                    )?;
                    continue;
                }
                if name.name == "take_any" && args.iter().any(|a| matches!(a.kind, ExprKind::Star))
                {
                    return Err(KqlError::unsupported(name.span, "`take_any(*)`"));
                }
            }
            let slots_before = agg.as_ref().map_or(0, |a| a.slots.len());
            let b = self.bind_expr(&item.expr, &key_schema, &mut agg)?;
            let slots_after = agg.as_ref().map_or(0, |a| a.slots.len());
            if slots_after == slots_before {
                return Err(KqlError::semantic(
                    item.expr.span,
                    "the expression must contain an aggregation function (count(), dcount(), sum(), make_set() …)",
                ));
            }
            let name = match &item.name {
                Some(_) => self.output_name(item, &schema, &mut explicit)?,
                None => {
                    let generated = match &item.expr.kind {
                        ExprKind::Call { name, args }
                            if AGGREGATES.contains(&name.name.as_str()) =>
                        {
                            match name.name.as_str() {
                                "take_any" | "take_anyif" => args
                                    .first()
                                    .and_then(derived_name)
                                    .unwrap_or_else(|| "take_any_".into()),
                                _ => aggregate_name(&name.name, args),
                            }
                        }
                        _ => self.names.next(&names_of(&taken_with_reserved(&schema))),
                    };
                    unique_name(&generated, &names_of(&taken_with_reserved(&schema)))
                }
            };
            schema.push(ColumnDef::new(&name, b.ty));
            outputs.push(SumOut::Row(b));
        }
        let aggs = agg.map(|a| a.slots).unwrap_or_default();
        let plan = SummarizePlan {
            keys,
            aggs,
            outputs,
        };
        Ok((
            vec![PlanOp::Summarize(Box::new(plan), schema.clone())],
            schema,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn bind_arg_extreme(
        &mut self,
        item: &NamedExpr,
        fname: &Ident,
        args: &[Expr],
        input: &[ColumnDef],
        by: &[NamedExpr],
        schema: &mut Vec<ColumnDef>,
        explicit: &mut HashSet<String>,
        outputs: &mut Vec<SumOut>,
        agg: &mut Option<AggCtx>,
    ) -> Result<(), KqlError> {
        let is_max = fname.name == "arg_max";
        let Some(first) = args.first() else {
            return Err(KqlError::semantic(
                fname.span,
                format!(
                    "aggregate '{}' expects the expression to {} and the columns to return",
                    fname.name,
                    if is_max { "maximise" } else { "minimise" }
                ),
            ));
        };
        if args.len() < 2 {
            return Err(KqlError::semantic(
                fname.span,
                format!(
                    "aggregate '{}' expects at least 2 arguments: the expression and the columns to return (or *)",
                    fname.name
                ),
            ));
        }
        let target = self.bind_expr(first, input, &mut None)?;
        if target.ty == Type::Dynamic {
            return Err(KqlError::semantic(
                first.span,
                format!(
                    "the first argument of '{}' cannot be dynamic; cast it first",
                    fname.name
                ),
            ));
        }
        let kind = if is_max {
            AggKind::ArgMax
        } else {
            AggKind::ArgMin
        };
        let Some(ctx) = agg.as_mut() else {
            return Err(KqlError::semantic(fname.span, "arg_max outside summarize"));
        };
        let slot = ctx.slots.len();
        let n_keys = ctx.n_keys;
        ctx.slots.push(BAgg {
            kind,
            arg: Some(target.clone()),
            pred: None,
            max_size: 0,
            ty: target.ty,
        });
        let first_name = match &item.name {
            Some(_) => self.output_name(item, schema, explicit)?,
            None => {
                let d = derived_name(first)
                    .unwrap_or_else(|| if is_max { "max_" } else { "min_" }.to_string());
                unique_name(&d, &names_of(schema))
            }
        };
        schema.push(ColumnDef::new(&first_name, target.ty));
        outputs.push(SumOut::Row(BExpr {
            kind: BKind::Col(n_keys + slot),
            ty: target.ty,
        }));
        let by_names: Vec<String> = by
            .iter()
            .filter_map(|b| {
                b.name
                    .as_ref()
                    .map(|n| n.name.clone())
                    .or_else(|| derived_name(&b.expr))
            })
            .collect();
        let first_arg_name = derived_name(first).unwrap_or_default();
        for (i, a) in args.iter().enumerate().skip(1) {
            if matches!(a.kind, ExprKind::Star) {
                for (c, col) in input.iter().enumerate() {
                    let taken = names_of(schema);
                    if by_names.contains(&col.name.to_string())
                        || taken.contains(&col.name.to_string())
                    {
                        continue;
                    }
                    schema.push(col.clone());
                    outputs.push(SumOut::ArgCol(
                        slot,
                        BExpr {
                            kind: BKind::Col(c),
                            ty: col.ty,
                        },
                    ));
                }
                continue;
            }
            let b = self.bind_expr(a, input, &mut None)?;
            let name = match derived_name(a) {
                Some(d) => unique_name(&d, &names_of(schema)),
                None => unique_name(
                    &format!(
                        "{}_{first_arg_name}_arg{i}",
                        if is_max { "max" } else { "min" }
                    ),
                    &names_of(schema),
                ),
            };
            schema.push(ColumnDef::new(&name, b.ty));
            outputs.push(SumOut::ArgCol(slot, b));
        }
        Ok(())
    }

    /// Bind a scalar expression against `cols`. With `agg`, aggregate calls become slots and
    /// `cols` are the `by` keys.
    fn bind_expr(
        &mut self,
        e: &Expr,
        cols: &[ColumnDef],
        agg: &mut Option<AggCtx>,
    ) -> Result<BExpr, KqlError> {
        let b = self.bind_expr_inner(e, cols, agg)?;
        Ok(self.fold(b))
    }

    /// Replace a constant expression by its value.
    fn fold(&self, b: BExpr) -> BExpr {
        let all_const = match &b.kind {
            BKind::Lit(_) | BKind::Col(_) => return b,
            BKind::Neg(x) | BKind::Member(x, _) | BKind::Regex(x, _) => x.is_const(),
            BKind::Arith(_, l, r)
            | BKind::Cmp(_, l, r)
            | BKind::And(l, r)
            | BKind::Or(l, r)
            | BKind::Index(l, r) => l.is_const() && r.is_const(),
            BKind::Str { lhs, rhs, .. } => lhs.is_const() && rhs.is_const(),
            BKind::InSet { lhs, .. } | BKind::HasTerms { lhs, .. } => lhs.is_const(),
            BKind::InList { lhs, list, .. } => lhs.is_const() && list.iter().all(BExpr::is_const),
            BKind::Between { lhs, lo, hi, .. } => lhs.is_const() && lo.is_const() && hi.is_const(),
            BKind::Call(_, args) => args.iter().all(BExpr::is_const),
        };
        if all_const {
            let v = eval::eval_const(&b, self.now);
            BExpr::lit(v, b.ty)
        } else {
            b
        }
    }

    fn resolve_name(
        &self,
        name: &str,
        span: Span,
        cols: &[ColumnDef],
        agg: &Option<AggCtx>,
    ) -> Result<BExpr, KqlError> {
        if let Some(i) = cols.iter().position(|c| *c.name == *name) {
            return Ok(BExpr {
                kind: BKind::Col(i),
                ty: cols[i].ty,
            });
        }
        if let Some((v, t)) = self.scalars.get(name) {
            return Ok(BExpr::lit(v.clone(), *t));
        }
        if let Some(ctx) = agg
            && ctx.input.iter().any(|c| *c.name == *name)
        {
            return Err(KqlError::semantic(
                span,
                format!(
                    "column '{name}' must be inside an aggregation function or listed after 'by'"
                ),
            ));
        }
        if self.tabulars.contains_key(name) || self.catalog.schema(name).is_some() {
            return Err(KqlError::semantic(
                span,
                format!("'{name}' is a table, not a scalar value"),
            ));
        }
        let mut candidates: Vec<&str> = cols.iter().map(|c| &*c.name).collect();
        candidates.extend(self.scalars.keys().map(String::as_str));
        let hint = closest_name(name, &candidates)
            .map_or(String::new(), |c| format!(". Did you mean '{c}'?"));
        Err(KqlError::semantic(
            span,
            format!("Failed to resolve scalar expression named '{name}'{hint}"),
        ))
    }

    #[allow(clippy::too_many_lines)]
    fn bind_expr_inner(
        &mut self,
        e: &Expr,
        cols: &[ColumnDef],
        agg: &mut Option<AggCtx>,
    ) -> Result<BExpr, KqlError> {
        match &e.kind {
            ExprKind::Literal(v, t) => Ok(BExpr::lit(v.clone(), *t)),
            ExprKind::Dynamic(j) => Ok(BExpr::lit(Value::dynamic(j.clone()), Type::Dynamic)),
            ExprKind::Name(n) => self.resolve_name(n, e.span, cols, agg),
            ExprKind::Star => Err(KqlError::semantic(
                e.span,
                "'*' is only allowed as an argument of arg_max() and arg_min()",
            )),
            ExprKind::Call { name, args } => self.bind_call(name, args, e.span, cols, agg),
            ExprKind::Neg(inner) => {
                let b = self.bind_expr(inner, cols, agg)?;
                if !(b.ty.is_numeric() || matches!(b.ty, Type::TimeSpan | Type::Dynamic)) {
                    return Err(KqlError::semantic(
                        e.span,
                        format!(
                            "unary '-' cannot be applied to a value of type {}",
                            b.ty.kql_name()
                        ),
                    ));
                }
                let ty = if b.ty == Type::Dynamic {
                    Type::Real
                } else {
                    b.ty
                };
                Ok(BExpr {
                    kind: BKind::Neg(Box::new(b)),
                    ty,
                })
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let l = self.bind_expr(lhs, cols, agg)?;
                let r = self.bind_expr(rhs, cols, agg)?;
                bind_binary(*op, l, r, e.span)
            }
            ExprKind::StrPredicate {
                op,
                case_sensitive,
                negated,
                lhs,
                rhs,
            } => {
                let l = self.bind_expr(lhs, cols, agg)?;
                let r = self.bind_expr(rhs, cols, agg)?;
                let word = op.word();
                check_string_operand(&l, lhs.span, word, "left")?;
                check_string_operand(&r, rhs.span, word, "right")?;
                if *op == StrOp::MatchesRegex {
                    let Some(pattern) = r.const_value().and_then(Value::as_str) else {
                        return Err(KqlError::semantic(
                            rhs.span,
                            "the pattern of 'matches regex' must be a constant string",
                        ));
                    };
                    let re = functions::compile_regex(pattern, rhs.span)?;
                    return Ok(BExpr {
                        kind: BKind::Regex(Box::new(l), re),
                        ty: Type::Bool,
                    });
                }
                Ok(BExpr {
                    kind: BKind::Str {
                        op: *op,
                        case_sensitive: *case_sensitive,
                        negated: *negated,
                        lhs: Box::new(l),
                        rhs: Box::new(r),
                    },
                    ty: Type::Bool,
                })
            }
            ExprKind::In {
                lhs,
                list,
                negated,
                case_insensitive,
            } => {
                let l = self.bind_expr(lhs, cols, agg)?;
                if *case_insensitive {
                    check_string_operand(&l, lhs.span, "in~", "left")?;
                }
                let mut items = Vec::new();
                for item in list {
                    let b = self.bind_expr(item, cols, agg)?;
                    if !eq_comparable(l.ty, b.ty) {
                        return Err(compare_error(l.ty, b.ty, item.span, None));
                    }
                    items.push(b);
                }
                if items.iter().all(BExpr::is_const) {
                    let mut set = InSet {
                        case_insensitive: *case_insensitive,
                        ..InSet::default()
                    };
                    for item in &items {
                        if let Some(v) = item.const_value() {
                            add_flattened(&mut set, v);
                        }
                    }
                    return Ok(BExpr {
                        kind: BKind::InSet {
                            lhs: Box::new(l),
                            set: Arc::new(set),
                            negated: *negated,
                        },
                        ty: Type::Bool,
                    });
                }
                Ok(BExpr {
                    kind: BKind::InList {
                        lhs: Box::new(l),
                        list: items,
                        negated: *negated,
                        case_insensitive: *case_insensitive,
                    },
                    ty: Type::Bool,
                })
            }
            ExprKind::HasAny { lhs, list, all } => {
                let word = if *all { "has_all" } else { "has_any" };
                let l = self.bind_expr(lhs, cols, agg)?;
                check_string_operand(&l, lhs.span, word, "left")?;
                let mut terms = Terms::default();
                let mut seen = HashSet::new();
                for item in list {
                    let b = self.bind_expr(item, cols, agg)?;
                    let Some(v) = b.const_value() else {
                        return Err(KqlError::semantic(
                            item.span,
                            format!("the values of '{word}' must be constants"),
                        ));
                    };
                    let mut texts = Vec::new();
                    flatten_strings(v, &mut texts);
                    for t in texts {
                        let lower = t.to_ascii_lowercase();
                        if lower.is_empty() || !seen.insert(lower.clone()) {
                            continue;
                        }
                        if lower.chars().all(char::is_alphanumeric) {
                            terms.words.insert(lower);
                        } else {
                            terms.phrases.push(lower);
                        }
                    }
                }
                terms.count = seen.len();
                Ok(BExpr {
                    kind: BKind::HasTerms {
                        lhs: Box::new(l),
                        terms: Arc::new(terms),
                        all: *all,
                    },
                    ty: Type::Bool,
                })
            }
            ExprKind::Between {
                lhs,
                lo,
                hi,
                negated,
            } => {
                let l = self.bind_expr(lhs, cols, agg)?;
                let lo_b = self.bind_expr(lo, cols, agg)?;
                let hi_b = self.bind_expr(hi, cols, agg)?;
                let ok = match l.ty {
                    t if t.is_numeric() || t == Type::Dynamic => {
                        (lo_b.ty.is_numeric() || lo_b.ty == Type::Dynamic)
                            && (hi_b.ty.is_numeric() || hi_b.ty == Type::Dynamic)
                    }
                    Type::DateTime => {
                        lo_b.ty == Type::DateTime
                            && matches!(hi_b.ty, Type::DateTime | Type::TimeSpan)
                    }
                    Type::TimeSpan => lo_b.ty == Type::TimeSpan && hi_b.ty == Type::TimeSpan,
                    _ => false,
                };
                if !ok {
                    return Err(KqlError::semantic(
                        e.span,
                        format!(
                            "'between' cannot compare a {} with bounds of types {} and {}",
                            l.ty.kql_name(),
                            lo_b.ty.kql_name(),
                            hi_b.ty.kql_name()
                        ),
                    ));
                }
                // `datetime between (datetime .. timespan)` means [lo, lo + span].
                let hi_b = if l.ty == Type::DateTime && hi_b.ty == Type::TimeSpan {
                    self.fold(BExpr {
                        kind: BKind::Arith(BinOp::Add, Box::new(lo_b.clone()), Box::new(hi_b)),
                        ty: Type::DateTime,
                    })
                } else {
                    hi_b
                };
                Ok(BExpr {
                    kind: BKind::Between {
                        lhs: Box::new(l),
                        lo: Box::new(lo_b),
                        hi: Box::new(hi_b),
                        negated: *negated,
                    },
                    ty: Type::Bool,
                })
            }
            ExprKind::Member { target, key } => {
                let t = self.bind_expr(target, cols, agg)?;
                if t.ty != Type::Dynamic {
                    return Err(KqlError::semantic(
                        e.span,
                        format!(
                            "'.{key}' needs a dynamic value, but this is a {}; wrap it in parse_json() first",
                            t.ty.kql_name()
                        ),
                    ));
                }
                Ok(BExpr {
                    kind: BKind::Member(Box::new(t), key.clone()),
                    ty: Type::Dynamic,
                })
            }
            ExprKind::Index { target, index } => {
                let t = self.bind_expr(target, cols, agg)?;
                if t.ty != Type::Dynamic {
                    return Err(KqlError::semantic(
                        e.span,
                        format!(
                            "indexing needs a dynamic value, but this is a {}; wrap it in parse_json() first",
                            t.ty.kql_name()
                        ),
                    ));
                }
                let i = self.bind_expr(index, cols, agg)?;
                Ok(BExpr {
                    kind: BKind::Index(Box::new(t), Box::new(i)),
                    ty: Type::Dynamic,
                })
            }
        }
    }

    fn bind_call(
        &mut self,
        name: &Ident,
        args: &[Expr],
        span: Span,
        cols: &[ColumnDef],
        agg: &mut Option<AggCtx>,
    ) -> Result<BExpr, KqlError> {
        let fname = name.name.as_str();
        if let Some(kind) = AggKind::from_name(fname) {
            let Some(ctx) = agg.as_mut() else {
                return Err(KqlError::semantic(
                    name.span,
                    format!(
                        "Function '{fname}' cannot be invoked in current context (aggregates belong in 'summarize')"
                    ),
                ));
            };
            if matches!(kind, AggKind::ArgMax | AggKind::ArgMin) {
                return Err(KqlError::semantic(
                    name.span,
                    format!(
                        "'{fname}' must be a whole summarize column, not part of an expression"
                    ),
                ));
            }
            let input = ctx.input.clone();
            let mut bound = Vec::new();
            for a in args {
                bound.push(self.bind_expr(a, &input, &mut None)?);
            }
            let ty = aggregates::result_type(kind, fname, &bound, span)?;
            if (kind == AggKind::DCount || kind == AggKind::MakeSet)
                && let Some(b) = bound.first()
                && b.ty == Type::Dynamic
                && kind == AggKind::DCount
            {
                return Err(KqlError::semantic(
                    args[0].span,
                    "dcount() cannot count dynamic values; cast them first",
                ));
            }
            let (arg, pred, size_arg) = match kind {
                AggKind::Count => (None, None, None),
                AggKind::CountIf => (None, bound.first().cloned(), None),
                k if k.has_predicate() => {
                    (bound.first().cloned(), bound.get(1).cloned(), bound.get(2))
                }
                _ => (bound.first().cloned(), None, bound.get(1)),
            };
            let max_size = match size_arg.map(|b| b.const_value().and_then(Value::as_i64)) {
                None => 1_048_576,
                Some(Some(n)) if n > 0 => usize::try_from(n).unwrap_or(1_048_576).min(1_048_576),
                Some(_) if matches!(kind, AggKind::DCount | AggKind::DCountIf) => 1_048_576,
                Some(_) => {
                    return Err(KqlError::semantic(
                        span,
                        format!("the size limit of '{fname}' must be a positive integer constant"),
                    ));
                }
            };
            let slot = ctx.slots.len();
            let n_keys = ctx.n_keys;
            ctx.slots.push(BAgg {
                kind,
                arg,
                pred,
                max_size,
                ty,
            });
            return Ok(BExpr {
                kind: BKind::Col(n_keys + slot),
                ty,
            });
        }
        if UNSUPPORTED_AGGREGATES.contains(&fname) {
            return Err(KqlError::unsupported(
                name.span,
                &format!("aggregate `{fname}()`"),
            ));
        }
        let mut bound = Vec::new();
        let mut spans = Vec::new();
        for a in args {
            bound.push(self.bind_expr(a, cols, agg)?);
            spans.push(a.span);
        }
        let (f, ty) = functions::bind(fname, name.span, &bound, &spans).map_err(|e| {
            if e.kind == ErrorKind::Semantic
                && e.span == Some(name.span)
                && e.detail.starts_with("function")
            {
                KqlError::semantic(span, e.detail)
            } else {
                e
            }
        })?;
        Ok(BExpr {
            kind: BKind::Call(f, bound),
            ty,
        })
    }
}

fn already_declared(n: &Ident) -> KqlError {
    KqlError::semantic(
        n.span,
        format!("A column with the name '{}' is already declared.", n.name),
    )
}

fn system_type(t: Type) -> &'static str {
    match t {
        Type::Bool => "SByte",
        Type::Int => "Int32",
        Type::Long => "Int64",
        Type::Real => "Double",
        Type::DateTime => "DateTime",
        Type::TimeSpan => "TimeSpan",
        Type::String => "String",
        Type::Dynamic => "Object",
    }
}

/// A name close to `name`: the same ignoring case first (KQL names are case-sensitive, so
/// `filename` for `FileName` is the classic slip), then by edit distance.
fn closest_name<'c>(name: &str, candidates: &[&'c str]) -> Option<&'c str> {
    candidates
        .iter()
        .find(|c| c.eq_ignore_ascii_case(name))
        .copied()
        .or_else(|| strsim_suggest(name, candidates))
}

fn resolve_column(name: &str, span: Span, cols: &[ColumnDef]) -> Result<usize, KqlError> {
    cols.iter().position(|c| *c.name == *name).ok_or_else(|| {
        let candidates: Vec<&str> = cols.iter().map(|c| &*c.name).collect();
        let hint = closest_name(name, &candidates)
            .map_or(String::new(), |c| format!(". Did you mean '{c}'?"));
        KqlError::semantic(
            span,
            format!("Failed to resolve column or column expression named '{name}'{hint}"),
        )
    })
}

/// Columns matching names or `*` patterns; a plain name must exist.
fn match_patterns(patterns: &[Ident], cols: &[ColumnDef]) -> Result<Vec<usize>, KqlError> {
    let mut out = Vec::new();
    for p in patterns {
        if p.name.contains('*') {
            for (i, c) in cols.iter().enumerate() {
                if wildcard_match(&p.name, &c.name) && !out.contains(&i) {
                    out.push(i);
                }
            }
        } else {
            let i = resolve_column(&p.name, p.span, cols)?;
            if !out.contains(&i) {
                out.push(i);
            }
        }
    }
    Ok(out)
}

fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

/// Natural order: digit runs compare as numbers (`a20` before `a100`).
fn granny_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let digit = c.is_ascii_digit();
            match out.last_mut() {
                Some((d, text)) if *d == digit => text.push(c),
                _ => out.push((digit, c.to_string())),
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let o = if x.0 && y.0 {
            let nx = x.1.trim_start_matches('0');
            let ny = y.1.trim_start_matches('0');
            nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny))
        } else {
            x.1.cmp(&y.1)
        };
        if o.is_ne() {
            return o;
        }
    }
    ca.len().cmp(&cb.len())
}

fn check_string_operand(b: &BExpr, span: Span, op: &str, side: &str) -> Result<(), KqlError> {
    if matches!(b.ty, Type::String | Type::Dynamic) {
        return Ok(());
    }
    Err(KqlError::semantic(
        span,
        format!(
            "the {side} side of '{op}' must be a string, not {}; convert it with tostring()",
            b.ty.kql_name()
        ),
    ))
}

/// Whether `==`/`!=`/`in` accept these operand types.
fn eq_comparable(a: Type, b: Type) -> bool {
    a == b || (a.is_numeric() && b.is_numeric()) || a == Type::Dynamic || b == Type::Dynamic
}

fn order_comparable(a: Type, b: Type) -> bool {
    match (a, b) {
        (x, y) if x.is_numeric() && y.is_numeric() => true,
        (Type::DateTime, Type::DateTime)
        | (Type::TimeSpan, Type::TimeSpan)
        | (Type::Bool, Type::Bool) => true,
        (Type::Dynamic, y) | (y, Type::Dynamic) => y.is_numeric() || y == Type::Dynamic,
        _ => false,
    }
}

fn compare_error(a: Type, b: Type, span: Span, op: Option<BinOp>) -> KqlError {
    let hint = if a == Type::String && b == Type::String {
        " Strings cannot be ordered with comparison operators; use strcmp()."
    } else {
        ""
    };
    let with = op.map_or(String::new(), |o| format!(" with '{}'", o.symbol()));
    KqlError::semantic(
        span,
        format!(
            "Cannot compare values of types {} and {}{with}. Try adding explicit casts.{hint}",
            a.kql_name(),
            b.kql_name()
        ),
    )
}

fn arith_type(op: BinOp, a: Type, b: Type) -> Option<Type> {
    use Type::{DateTime, Dynamic, Long, Real, TimeSpan};
    let num = |x: Type| x.is_numeric();
    let widen = |x: Type, y: Type| if x == Real || y == Real { Real } else { Long };
    Some(match (op, a, b) {
        (_, Dynamic, y) | (_, y, Dynamic) if num(y) || y == Dynamic => Real,
        (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Mod, x, y) if num(x) && num(y) => {
            widen(x, y)
        }
        (BinOp::Div, x, y) if num(x) && num(y) => widen(x, y),
        (BinOp::Add, DateTime, TimeSpan) | (BinOp::Add, TimeSpan, DateTime) => DateTime,
        (BinOp::Sub, DateTime, TimeSpan) => DateTime,
        (BinOp::Sub, DateTime, DateTime) => TimeSpan,
        (BinOp::Add | BinOp::Sub | BinOp::Mod, TimeSpan, TimeSpan) => TimeSpan,
        (BinOp::Mul, TimeSpan, y) if num(y) => TimeSpan,
        (BinOp::Mul, x, TimeSpan) if num(x) => TimeSpan,
        (BinOp::Div, TimeSpan, TimeSpan) => Real,
        (BinOp::Div, TimeSpan, y) if num(y) => TimeSpan,
        _ => return None,
    })
}

fn bind_binary(op: BinOp, l: BExpr, r: BExpr, span: Span) -> Result<BExpr, KqlError> {
    let (lt, rt) = (l.ty, r.ty);
    let boxed = |l: BExpr, r: BExpr| (Box::new(l), Box::new(r));
    match op {
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => {
            let Some(ty) = arith_type(op, lt, rt) else {
                let hint = if op == BinOp::Add && lt == Type::String {
                    " (use strcat() to join strings)"
                } else {
                    ""
                };
                return Err(KqlError::semantic(
                    span,
                    format!(
                        "the operator '{}' cannot be applied to values of types {} and {}{hint}",
                        op.symbol(),
                        lt.kql_name(),
                        rt.kql_name()
                    ),
                ));
            };
            let (a, b) = boxed(l, r);
            Ok(BExpr {
                kind: BKind::Arith(op, a, b),
                ty,
            })
        }
        BinOp::Eq | BinOp::Ne => {
            if !eq_comparable(lt, rt) {
                return Err(compare_error(lt, rt, span, None));
            }
            let (a, b) = boxed(l, r);
            Ok(BExpr {
                kind: BKind::Cmp(op, a, b),
                ty: Type::Bool,
            })
        }
        BinOp::EqCi | BinOp::NeCi => {
            let ok = |t: Type| matches!(t, Type::String | Type::Dynamic);
            if !ok(lt) || !ok(rt) {
                return Err(KqlError::semantic(
                    span,
                    format!(
                        "the operator '{}' compares strings, not {} and {}",
                        op.symbol(),
                        lt.kql_name(),
                        rt.kql_name()
                    ),
                ));
            }
            let (a, b) = boxed(l, r);
            Ok(BExpr {
                kind: BKind::Cmp(op, a, b),
                ty: Type::Bool,
            })
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            if !order_comparable(lt, rt) {
                return Err(compare_error(lt, rt, span, Some(op)));
            }
            let (a, b) = boxed(l, r);
            Ok(BExpr {
                kind: BKind::Cmp(op, a, b),
                ty: Type::Bool,
            })
        }
        BinOp::And | BinOp::Or => {
            let ok = |t: Type| matches!(t, Type::Bool | Type::Dynamic);
            if !ok(lt) || !ok(rt) {
                return Err(KqlError::semantic(
                    span,
                    format!(
                        "the operands of '{}' must be of type bool, not {} and {}",
                        op.symbol(),
                        lt.kql_name(),
                        rt.kql_name()
                    ),
                ));
            }
            let (a, b) = boxed(l, r);
            Ok(BExpr {
                kind: if op == BinOp::And {
                    BKind::And(a, b)
                } else {
                    BKind::Or(a, b)
                },
                ty: Type::Bool,
            })
        }
    }
}

/// Add a constant (flattening dynamic arrays) to an `in` set.
fn add_flattened(set: &mut InSet, v: &Value) {
    match v {
        Value::Dynamic(d) => match d.as_ref() {
            serde_json::Value::Array(items) => {
                for i in items {
                    add_flattened(set, &Value::dynamic(i.clone()));
                }
            }
            serde_json::Value::String(s) => add_string(set, s),
            serde_json::Value::Number(n) => set.others.push(
                n.as_i64()
                    .map(Value::Long)
                    .or_else(|| n.as_f64().map(Value::Real))
                    .unwrap_or(Value::Null),
            ),
            serde_json::Value::Bool(b) => set.others.push(Value::Bool(*b)),
            _ => set.others.push(v.clone()),
        },
        Value::Str(s) => add_string(set, s),
        other => set.others.push(other.clone()),
    }
}

fn add_string(set: &mut InSet, s: &str) {
    let s = if set.case_insensitive {
        s.to_ascii_lowercase()
    } else {
        s.to_string()
    };
    set.strings.insert(s);
}

fn flatten_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Dynamic(d) => match d.as_ref() {
            serde_json::Value::Array(items) => {
                for i in items {
                    flatten_strings(&Value::dynamic(i.clone()), out);
                }
            }
            serde_json::Value::String(s) => out.push(s.clone()),
            other => out.push(other.to_string()),
        },
        Value::Null => {}
        other => out.push(other.to_kql_string()),
    }
}

/// A `datatable` cell converted to its column's type (numbers widen; null fits anything).
fn coerce_literal(v: Value, ty: Type) -> Option<Value> {
    Some(match (ty, v) {
        (_, Value::Null) => ty.null_value(),
        (Type::String, v @ Value::Str(_)) => v,
        (Type::Long, Value::Long(l)) => Value::Long(l),
        (Type::Long, Value::Int(i)) => Value::Long(i64::from(i)),
        (Type::Int, Value::Long(l)) => Value::Int(i32::try_from(l).ok()?),
        (Type::Int, v @ Value::Int(_)) => v,
        (Type::Real, v) if v.as_f64().is_some() && !matches!(v, Value::Dynamic(_)) => {
            Value::Real(v.as_f64()?)
        }
        (Type::Bool, v @ Value::Bool(_)) => v,
        (Type::DateTime, v @ Value::DateTime(_)) => v,
        (Type::TimeSpan, v @ Value::TimeSpan(_)) => v,
        (Type::Dynamic, Value::Dynamic(d)) => Value::Dynamic(d),
        (Type::Dynamic, v) => Value::dynamic(v.to_json()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("Init*", "InitiatingProcessId"));
        assert!(wildcard_match("*Id", "InitiatingProcessId"));
        assert!(wildcard_match("I*Process*Id", "InitiatingProcessId"));
        assert!(!wildcard_match("Init*", "Timestamp"));
        assert!(wildcard_match("*", "x"));
    }

    #[test]
    fn natural_order() {
        assert!(granny_cmp("a20", "a100").is_lt());
        assert!(granny_cmp("a2", "a10").is_lt());
        assert!(granny_cmp("b", "a1").is_gt());
    }
}
