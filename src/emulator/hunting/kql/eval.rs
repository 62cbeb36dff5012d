//! Execution of bound plans: expression evaluation with KQL's three-valued logic and string
//! rules (`has` matches whole terms, `=~` folds ASCII case), and the tabular operators over
//! shared columns. Output order is deterministic: scans keep table order, `summarize` and
//! `distinct` emit groups in first-seen order, and sorts are stable.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::aggregates::{State, empty_default};
use super::ast::JoinKind;
use super::ast::{BinOp, StrOp};
use super::bind::{
    BExpr, BKind, BSortKey, InSet, JoinPlan, MvExpandPlan, Plan, PlanOp, PlanSource, ProjCol,
    SumOut, Terms, UnionPlan,
};
use super::error::KqlError;
use super::functions;
use super::relation::{Column, ColumnDef, Relation};
use super::value::{Key, Type, Value, compare_values, datetime_in_range, scale_ticks};

/// Where scans get their rows.
pub trait TableSource {
    /// All rows of `table` (the executor applies the time window).
    ///
    /// # Errors
    /// When the table cannot be produced.
    fn scan(&self, table: &str) -> Result<Relation, KqlError>;
}

/// Per-query settings of the executor.
#[derive(Debug, Clone, Copy)]
pub struct Env {
    /// The query's `now()`, in ticks: every `now()`/`ago()` sees the same instant.
    pub now: i64,
    /// Table scans keep rows whose `Timestamp` lies in `[start, end]` (ticks).
    pub window: Option<(i64, i64)>,
    /// Evaluation stops with "Query exceeded the timeout period." after this instant.
    pub deadline: Option<Instant>,
}

/// Evaluate an expression that refers to no column.
#[must_use]
pub fn eval_const(e: &BExpr, now: i64) -> Value {
    let rel = Relation::empty_rows(1);
    eval(e, &rel, 0, now)
}

/// Run a plan.
///
/// # Errors
/// Timeouts and scan failures.
pub fn execute(plan: &Plan, tables: &dyn TableSource, env: &Env) -> Result<Relation, KqlError> {
    Executor { tables, env }.run(plan)
}

struct Executor<'a> {
    tables: &'a dyn TableSource,
    env: &'a Env,
}

const CHECK_EVERY: usize = 2048;

/// The most cells (rows × columns) a join, union or mv-expand may produce: about 200 MB of
/// cells. A join of two 100,000-row tables on a low-cardinality key would otherwise try to
/// build billions of rows; the service stops such queries too.
pub const MAX_CELLS: usize = 20_000_000;

fn guard_cells(rows: usize, cols: usize) -> Result<(), KqlError> {
    if rows.saturating_mul(cols.max(1)) > MAX_CELLS {
        Err(KqlError::resources())
    } else {
        Ok(())
    }
}

impl Executor<'_> {
    fn check(&self) -> Result<(), KqlError> {
        match self.env.deadline {
            Some(d) if Instant::now() >= d => Err(KqlError::timeout()),
            _ => Ok(()),
        }
    }

    fn tick(&self, row: usize) -> Result<(), KqlError> {
        if row.is_multiple_of(CHECK_EVERY) {
            self.check()?;
        }
        Ok(())
    }

    fn run(&self, plan: &Plan) -> Result<Relation, KqlError> {
        self.check()?;
        let mut rel = match &plan.source {
            PlanSource::Table(name) => self.scan(name)?,
            PlanSource::Rows(r) => r.clone(),
            PlanSource::Sub(p) => self.run(p)?,
        };
        for op in &plan.ops {
            self.check()?;
            rel = self.apply(op, rel)?;
        }
        // The schema of the plan names the columns (renames happen there).
        rel.schema.clone_from(&plan.schema);
        Ok(rel)
    }

    fn scan(&self, name: &str) -> Result<Relation, KqlError> {
        let rel = self.tables.scan(name)?;
        let (Some((start, end)), Some(ts)) = (self.env.window, rel.index_of("Timestamp")) else {
            return Ok(rel);
        };
        let inside = |row: usize| match rel.get(row, ts) {
            Value::DateTime(t) => *t >= start && *t <= end,
            _ => false,
        };
        if (0..rel.len()).all(inside) {
            return Ok(rel);
        }
        let keep: Vec<u32> = (0..rel.len())
            .filter(|&r| inside(r))
            .map(|r| r as u32)
            .collect();
        Ok(rel.select_rows(keep))
    }

    fn eval_rows(&self, e: &BExpr, rel: &Relation) -> Result<Vec<Value>, KqlError> {
        let mut out = Vec::with_capacity(rel.len());
        for row in 0..rel.len() {
            self.tick(row)?;
            out.push(eval(e, rel, row, self.env.now));
        }
        Ok(out)
    }

    fn apply(&self, op: &PlanOp, rel: Relation) -> Result<Relation, KqlError> {
        let now = self.env.now;
        Ok(match op {
            PlanOp::Filter(pred) => {
                let mut keep = Vec::new();
                for row in 0..rel.len() {
                    self.tick(row)?;
                    if eval(pred, &rel, row, now).as_bool() == Some(true) {
                        keep.push(row as u32);
                    }
                }
                if keep.len() == rel.len() {
                    rel
                } else {
                    rel.select_rows(keep)
                }
            }
            PlanOp::Select(idx, schema) => rel.select_columns(idx, schema.clone()),
            PlanOp::Project(cols, schema) => {
                let passes: Vec<usize> = cols
                    .iter()
                    .filter_map(|c| match c {
                        ProjCol::Pass(i) => Some(*i),
                        ProjCol::Expr(_) => None,
                    })
                    .collect();
                let pass_schema = passes.iter().map(|&i| rel.schema[i].clone()).collect();
                let passed = rel.select_columns(&passes, pass_schema).densify();
                let mut columns = Vec::with_capacity(cols.len());
                let mut next_pass = 0;
                for c in cols {
                    match c {
                        ProjCol::Pass(_) => {
                            columns.push(passed.columns[next_pass].clone());
                            next_pass += 1;
                        }
                        ProjCol::Expr(e) => {
                            columns.push(Arc::new(Column::Plain(self.eval_rows(e, &rel)?)));
                        }
                    }
                }
                Relation::new(schema.clone(), columns, rel.len())
            }
            PlanOp::Extend(e, def, replace) => {
                let values = self.eval_rows(e, &rel)?;
                rel.with_columns(vec![(def.clone(), values, *replace)])
            }
            PlanOp::Summarize(plan, schema) => self.summarize(plan, schema, &rel)?,
            PlanOp::Sort(keys) => self.sort(&rel, keys, None)?,
            PlanOp::Top(n, key) => self.sort(&rel, std::slice::from_ref(key), Some(*n))?,
            PlanOp::Take(n) => rel.take(*n),
            PlanOp::Distinct(exprs, schema) => {
                let mut seen: HashMap<Vec<Key>, ()> = HashMap::new();
                let mut rows = Vec::new();
                for row in 0..rel.len() {
                    self.tick(row)?;
                    let values: Vec<Value> =
                        exprs.iter().map(|e| eval(e, &rel, row, now)).collect();
                    let key: Vec<Key> = values.iter().cloned().map(Key).collect();
                    if seen.insert(key, ()).is_none() {
                        rows.push(values);
                    }
                }
                Relation::from_rows(schema.clone(), rows)
            }
            PlanOp::Count => Relation::from_rows(
                vec![ColumnDef::new("Count", Type::Long)],
                vec![vec![Value::Long(rel.len() as i64)]],
            ),
            PlanOp::Replace(r) => r.clone(),
            PlanOp::Union(u) => self.union(u, rel)?,
            PlanOp::Join(j) => self.join(j, &rel)?,
            PlanOp::MvExpand(m) => self.mv_expand(m, &rel)?,
        })
    }

    fn union(&self, u: &UnionPlan, input: Relation) -> Result<Relation, KqlError> {
        let mut legs = Vec::with_capacity(u.legs.len());
        for leg in &u.legs {
            let rel = match &leg.plan {
                None => input.clone(),
                Some(p) => self.run(p)?,
            };
            legs.push((rel, leg));
        }
        let offset = usize::from(u.with_source);
        let total: usize = legs.iter().map(|(r, _)| r.len()).sum();
        guard_cells(total, u.schema.len())?;
        let mut columns: Vec<Arc<Column>> = Vec::with_capacity(u.schema.len());
        if u.with_source {
            let pool: Arc<[Value]> = legs
                .iter()
                .map(|(_, l)| Value::str(&l.name))
                .collect::<Vec<_>>()
                .into();
            let codes = legs
                .iter()
                .enumerate()
                .flat_map(|(i, (r, _))| std::iter::repeat_n(i as u32, r.len()))
                .collect();
            columns.push(Arc::new(Column::Dict { pool, codes }));
        }
        for (out, def) in u.schema.iter().enumerate().skip(offset) {
            self.check()?;
            let mut values = Vec::with_capacity(total);
            for (rel, leg) in &legs {
                match leg.map.get(out - offset).copied().flatten() {
                    Some(c) => values.extend((0..rel.len()).map(|row| rel.get(row, c).clone())),
                    None => values.extend(std::iter::repeat_n(def.ty.null_value(), rel.len())),
                }
            }
            columns.push(Arc::new(Column::Plain(values)));
        }
        Ok(Relation::new(u.schema.clone(), columns, total))
    }

    fn join(&self, j: &JoinPlan, left: &Relation) -> Result<Relation, KqlError> {
        let right = self.run(&j.right)?;
        let key = |rel: &Relation, row: usize, keys: &[usize]| -> Vec<Key> {
            keys.iter().map(|&c| Key(rel.get(row, c).clone())).collect()
        };
        let mut index: HashMap<Vec<Key>, Vec<u32>> = HashMap::new();
        for r in 0..right.len() {
            self.tick(r)?;
            index
                .entry(key(&right, r, &j.right_keys))
                .or_default()
                .push(r as u32);
        }
        let mut lefts: Vec<Option<u32>> = Vec::new();
        let mut rights: Vec<Option<u32>> = Vec::new();
        let mut matched = vec![false; right.len()];
        let mut seen: std::collections::HashSet<Vec<Key>> = std::collections::HashSet::new();
        for l in 0..left.len() {
            self.tick(l)?;
            let k = key(left, l, &j.left_keys);
            // innerunique keeps one (the first) left row per key before joining.
            if j.kind == JoinKind::InnerUnique && !seen.insert(k.clone()) {
                continue;
            }
            let hits = index.get(&k);
            match (j.kind, hits) {
                (JoinKind::LeftSemi, Some(_))
                | (JoinKind::LeftAnti | JoinKind::LeftOuter | JoinKind::FullOuter, None) => {
                    lefts.push(Some(l as u32));
                    rights.push(None);
                }
                (JoinKind::LeftAnti | JoinKind::LeftSemi, _) => {}
                (JoinKind::RightSemi | JoinKind::RightAnti, Some(rs)) => {
                    for &r in rs {
                        matched[r as usize] = true;
                    }
                }
                (_, Some(rs)) => {
                    guard_cells(lefts.len() + rs.len(), j.schema.len())?;
                    for &r in rs {
                        matched[r as usize] = true;
                        lefts.push(Some(l as u32));
                        rights.push(Some(r));
                    }
                }
                (_, None) => {}
            }
        }
        let extra =
            |want_matched: bool, lefts: &mut Vec<Option<u32>>, rights: &mut Vec<Option<u32>>| {
                for (r, m) in matched.iter().enumerate() {
                    if *m == want_matched {
                        lefts.push(None);
                        rights.push(Some(r as u32));
                    }
                }
            };
        match j.kind {
            JoinKind::RightOuter | JoinKind::FullOuter | JoinKind::RightAnti => {
                extra(false, &mut lefts, &mut rights);
            }
            JoinKind::RightSemi => extra(true, &mut lefts, &mut rights),
            _ => {}
        }
        self.check()?;
        let only = |idx: &[Option<u32>]| {
            idx.iter()
                .map(|i| i.unwrap_or(u32::MAX))
                .collect::<Vec<u32>>()
        };
        Ok(match j.kind {
            JoinKind::LeftSemi | JoinKind::LeftAnti => left.select_rows(only(&lefts)),
            JoinKind::RightSemi | JoinKind::RightAnti => right.select_rows(only(&rights)),
            _ => {
                let mut columns = gather_optional(left, &lefts);
                columns.extend(gather_optional(&right, &rights));
                Relation::new(j.schema.clone(), columns, lefts.len())
            }
        })
    }

    fn mv_expand(&self, m: &MvExpandPlan, rel: &Relation) -> Result<Relation, KqlError> {
        let now = self.env.now;
        let mut repeat: Vec<u32> = Vec::new();
        let mut values: Vec<Vec<Value>> = vec![Vec::new(); m.columns.len()];
        let mut positions: Vec<Value> = Vec::new();
        for row in 0..rel.len() {
            self.tick(row)?;
            let lists: Vec<Vec<Value>> = m
                .columns
                .iter()
                .map(|c| expand_value(eval(&c.expr, rel, row, now), m.bag_as_array))
                .collect();
            let n = lists.iter().map(Vec::len).max().unwrap_or(0).min(m.limit);
            guard_cells(repeat.len() + n, m.schema.len())?;
            for i in 0..n {
                repeat.push(row as u32);
                positions.push(Value::Long(i as i64));
                for ((list, out), col) in lists.iter().zip(values.iter_mut()).zip(&m.columns) {
                    let v = list.get(i).cloned().unwrap_or(Value::Null);
                    out.push(match col.to {
                        Some(t) => cast_dynamic(v, t),
                        None => v,
                    });
                }
            }
        }
        let base = rel.select_rows(repeat);
        let input_len = rel.schema.len();
        let mut appended = 0;
        let mut added = Vec::new();
        for (col, vals) in m.columns.iter().zip(values) {
            let def = match col.replace {
                Some(i) => m.schema[i].clone(),
                None => {
                    appended += 1;
                    m.schema[input_len + appended - 1].clone()
                }
            };
            added.push((def, vals, col.replace));
        }
        if m.item_index
            && let Some(def) = m.schema.last()
        {
            added.push((def.clone(), positions, None));
        }
        Ok(base.with_columns(added))
    }

    fn summarize(
        &self,
        plan: &super::bind::SummarizePlan,
        schema: &[ColumnDef],
        rel: &Relation,
    ) -> Result<Relation, KqlError> {
        let now = self.env.now;
        let mut index: HashMap<Vec<Key>, usize> = HashMap::new();
        let mut groups: Vec<(Vec<Value>, Vec<State>)> = Vec::new();
        for row in 0..rel.len() {
            self.tick(row)?;
            let g = if plan.keys.is_empty() {
                if groups.is_empty() {
                    groups.push((Vec::new(), plan.aggs.iter().map(State::new).collect()));
                }
                0
            } else {
                let values: Vec<Value> = plan.keys.iter().map(|k| eval(k, rel, row, now)).collect();
                let key: Vec<Key> = values.iter().cloned().map(Key).collect();
                match index.get(&key) {
                    Some(&g) => g,
                    None => {
                        groups.push((values, plan.aggs.iter().map(State::new).collect()));
                        index.insert(key, groups.len() - 1);
                        groups.len() - 1
                    }
                }
            };
            let states = &mut groups[g].1;
            for (state, agg) in states.iter_mut().zip(&plan.aggs) {
                state.update(agg, row, &|e| eval(e, rel, row, now));
            }
        }
        // Group rows: the keys, then each aggregate's value.
        let mut group_rows: Vec<Vec<Value>> = Vec::new();
        let mut chosen: Vec<Vec<Option<usize>>> = Vec::new();
        if groups.is_empty() && plan.keys.is_empty() {
            group_rows.push(plan.aggs.iter().map(empty_default).collect());
            chosen.push(vec![None; plan.aggs.len()]);
        }
        for (keys, states) in &groups {
            let mut row = keys.clone();
            row.extend(states.iter().zip(&plan.aggs).map(|(s, a)| s.finish(a)));
            group_rows.push(row);
            chosen.push(states.iter().map(State::chosen_row).collect());
        }
        let group_schema: Vec<ColumnDef> = plan
            .keys
            .iter()
            .map(|k| k.ty)
            .chain(plan.aggs.iter().map(|a| a.ty))
            .enumerate()
            .map(|(i, t)| ColumnDef::new(&format!("g{i}"), t))
            .collect();
        let group_rel = Relation::from_rows(group_schema, group_rows);
        let mut out_rows = Vec::with_capacity(group_rel.len());
        for (g, picks) in chosen.iter().enumerate() {
            self.tick(g)?;
            let row = plan
                .outputs
                .iter()
                .map(|o| match o {
                    SumOut::Row(e) => eval(e, &group_rel, g, now),
                    SumOut::ArgCol(slot, e) => match picks.get(*slot).copied().flatten() {
                        Some(r) => eval(e, rel, r, now),
                        None => e.ty.null_value(),
                    },
                })
                .collect();
            out_rows.push(row);
        }
        Ok(Relation::from_rows(schema.to_vec(), out_rows))
    }

    fn sort(
        &self,
        rel: &Relation,
        keys: &[BSortKey],
        limit: Option<usize>,
    ) -> Result<Relation, KqlError> {
        let mut values: Vec<Vec<Value>> = Vec::with_capacity(keys.len());
        for k in keys {
            values.push(self.eval_rows(&k.expr, rel)?);
        }
        let mut order: Vec<u32> = (0..rel.len() as u32).collect();
        order.sort_by(|&a, &b| {
            for (k, col) in keys.iter().zip(&values) {
                let o = sort_cmp(
                    &col[a as usize],
                    &col[b as usize],
                    k.descending,
                    k.nulls_first,
                );
                if o.is_ne() {
                    return o;
                }
            }
            Ordering::Equal
        });
        self.check()?;
        if let Some(n) = limit {
            order.truncate(n);
        }
        Ok(rel.select_rows(order))
    }
}

/// Columns of `rel` at rows `idx`, with nulls where a row is missing (outer joins).
fn gather_optional(rel: &Relation, idx: &[Option<u32>]) -> Vec<Arc<Column>> {
    if idx.iter().all(Option::is_some) {
        let rows: Vec<u32> = idx.iter().map(|i| i.unwrap_or(0)).collect();
        return rel.select_rows(rows).densify().columns;
    }
    (0..rel.schema.len())
        .map(|c| {
            let null = rel.schema[c].ty.null_value();
            Arc::new(Column::Plain(
                idx.iter()
                    .map(|i| i.map_or_else(|| null.clone(), |r| rel.get(r as usize, c).clone()))
                    .collect(),
            ))
        })
        .collect()
}

/// The elements `mv-expand` makes rows of: array items, bag slots (`{k: v}` or `[k, v]`), one
/// null for null, and a non-container value as itself.
fn expand_value(v: Value, bag_as_array: bool) -> Vec<Value> {
    match &v {
        Value::Null => vec![Value::Null],
        Value::Dynamic(d) => match d.as_ref() {
            serde_json::Value::Array(items) => items.iter().cloned().map(Value::dynamic).collect(),
            serde_json::Value::Object(map) => map
                .iter()
                .map(|(k, x)| {
                    Value::dynamic(if bag_as_array {
                        serde_json::json!([k, x])
                    } else {
                        serde_json::json!({ k: x })
                    })
                })
                .collect(),
            _ => vec![v.clone()],
        },
        _ => vec![v],
    }
}

/// `mv-expand … to typeof(T)`: elements of that JSON type keep their value, others are null.
fn cast_dynamic(v: Value, ty: Type) -> Value {
    let Value::Dynamic(d) = &v else {
        return if v.is_null() { ty.null_value() } else { v };
    };
    match (ty, d.as_ref()) {
        (Type::Dynamic, _) => v,
        (Type::String, serde_json::Value::String(s)) => Value::str(s),
        (Type::Long, serde_json::Value::Number(n)) => n.as_i64().map_or(Value::Null, Value::Long),
        (Type::Int, serde_json::Value::Number(n)) => n
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map_or(Value::Null, Value::Int),
        (Type::Real, serde_json::Value::Number(n)) => n.as_f64().map_or(Value::Null, Value::Real),
        (Type::Bool, serde_json::Value::Bool(b)) => Value::Bool(*b),
        (Type::DateTime, serde_json::Value::String(s)) => {
            super::value::parse_datetime(s).map_or(Value::Null, Value::DateTime)
        }
        (Type::TimeSpan, serde_json::Value::String(s)) => {
            super::value::parse_timespan(s).map_or(Value::Null, Value::TimeSpan)
        }
        _ => ty.null_value(),
    }
}

/// Null and NaN sort together at the end chosen by `nulls first|last`; null is outermost.
fn sort_cmp(a: &Value, b: &Value, descending: bool, nulls_first: bool) -> Ordering {
    let rank = |v: &Value| match v {
        Value::Null => Some(0),
        Value::Real(r) if r.is_nan() => Some(1),
        _ => None,
    };
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) => {
            if nulls_first {
                x.cmp(&y)
            } else {
                y.cmp(&x)
            }
        }
        (Some(_), None) => {
            if nulls_first {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (None, Some(_)) => {
            if nulls_first {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (None, None) => {
            let o = compare_values(a, b);
            if descending { o.reverse() } else { o }
        }
    }
}

/// The text of a string-like value without copying when it already is text.
fn text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::Str(s) => Cow::Borrowed(s),
        Value::Dynamic(d) => match d.as_str() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(v.to_kql_string()),
        },
        other => Cow::Owned(other.to_kql_string()),
    }
}

/// Evaluate `e` at result row `row` of `rel`.
#[must_use]
pub fn eval(e: &BExpr, rel: &Relation, row: usize, now: i64) -> Value {
    match &e.kind {
        BKind::Lit(v) => v.clone(),
        BKind::Col(i) => rel.get(row, *i).clone(),
        BKind::Neg(x) => match eval(x, rel, row, now) {
            Value::Int(i) => Value::Int(i.wrapping_neg()),
            Value::Long(l) => Value::Long(l.wrapping_neg()),
            Value::Real(r) => Value::Real(-r),
            Value::TimeSpan(t) => Value::TimeSpan(t.wrapping_neg()),
            v => v.as_f64().map_or(Value::Null, |f| Value::Real(-f)),
        },
        BKind::Arith(op, l, r) => {
            let a = eval(l, rel, row, now);
            let b = eval(r, rel, row, now);
            arith(*op, &a, &b, e.ty)
        }
        BKind::Cmp(op, l, r) => {
            let a = eval(l, rel, row, now);
            let b = eval(r, rel, row, now);
            compare(*op, &a, &b)
        }
        BKind::And(l, r) => {
            let a = eval(l, rel, row, now).as_bool();
            if a == Some(false) {
                return Value::Bool(false);
            }
            match (a, eval(r, rel, row, now).as_bool()) {
                (_, Some(false)) => Value::Bool(false),
                (Some(true), Some(true)) => Value::Bool(true),
                _ => Value::Null,
            }
        }
        BKind::Or(l, r) => {
            let a = eval(l, rel, row, now).as_bool();
            if a == Some(true) {
                return Value::Bool(true);
            }
            match (a, eval(r, rel, row, now).as_bool()) {
                (_, Some(true)) => Value::Bool(true),
                (Some(false), Some(false)) => Value::Bool(false),
                _ => Value::Null,
            }
        }
        BKind::Str {
            op,
            case_sensitive,
            negated,
            lhs,
            rhs,
        } => {
            let a = eval(lhs, rel, row, now);
            let b = eval(rhs, rel, row, now);
            let hit = string_op(*op, &text(&a), &text(&b), *case_sensitive);
            Value::Bool(hit != *negated)
        }
        BKind::Regex(lhs, re) => {
            let a = eval(lhs, rel, row, now);
            Value::Bool(re.is_match(&text(&a)))
        }
        BKind::InSet { lhs, set, negated } => {
            let a = eval(lhs, rel, row, now);
            if a.is_null() {
                return Value::Bool(*negated);
            }
            Value::Bool(in_set(&a, set) != *negated)
        }
        BKind::InList {
            lhs,
            list,
            negated,
            case_insensitive,
        } => {
            let a = eval(lhs, rel, row, now);
            if a.is_null() {
                return Value::Bool(*negated);
            }
            let mut found = false;
            for item in list {
                let v = eval(item, rel, row, now);
                if in_value(&a, &v, *case_insensitive) {
                    found = true;
                    break;
                }
            }
            Value::Bool(found != *negated)
        }
        BKind::HasTerms { lhs, terms, all } => {
            let a = eval(lhs, rel, row, now);
            Value::Bool(has_terms(&text(&a), terms, *all))
        }
        BKind::Between {
            lhs,
            lo,
            hi,
            negated,
        } => {
            let v = eval(lhs, rel, row, now);
            let lo = eval(lo, rel, row, now);
            let hi = eval(hi, rel, row, now);
            if v.is_null() || lo.is_null() || hi.is_null() {
                return Value::Null;
            }
            match (ordered(&v, &lo), ordered(&v, &hi)) {
                (Some(a), Some(b)) => {
                    let inside = a.is_ge() && b.is_le();
                    Value::Bool(inside != *negated)
                }
                _ => Value::Null,
            }
        }
        BKind::Call(f, args) => {
            let values: Vec<Value> = args.iter().map(|a| eval(a, rel, row, now)).collect();
            functions::eval(f, e.ty, values, now)
        }
        BKind::Member(t, key) => match eval(t, rel, row, now) {
            Value::Dynamic(d) => d
                .get(key.as_str())
                .cloned()
                .map_or(Value::Null, Value::dynamic),
            _ => Value::Null,
        },
        BKind::Index(t, i) => {
            let target = eval(t, rel, row, now);
            let index = eval(i, rel, row, now);
            let Value::Dynamic(d) = target else {
                return Value::Null;
            };
            match (d.as_ref(), index.as_i64(), index.as_str()) {
                (serde_json::Value::Array(a), Some(i), _) => {
                    let i = if i < 0 { a.len() as i64 + i } else { i };
                    usize::try_from(i)
                        .ok()
                        .and_then(|i| a.get(i))
                        .cloned()
                        .map_or(Value::Null, Value::dynamic)
                }
                (serde_json::Value::Object(o), _, Some(k)) => {
                    o.get(k).cloned().map_or(Value::Null, Value::dynamic)
                }
                _ => Value::Null,
            }
        }
    }
}

fn arith(op: BinOp, a: &Value, b: &Value, ty: Type) -> Value {
    if a.is_null() || b.is_null() {
        return Value::Null;
    }
    let dt = |t: Option<i64>| match t {
        Some(t) if datetime_in_range(t) => Value::DateTime(t),
        _ => Value::Null,
    };
    let span = |t: Option<i64>| t.map_or(Value::Null, Value::TimeSpan);
    match (op, a, b) {
        (BinOp::Add, Value::DateTime(x), Value::TimeSpan(y))
        | (BinOp::Add, Value::TimeSpan(y), Value::DateTime(x)) => dt(x.checked_add(*y)),
        (BinOp::Sub, Value::DateTime(x), Value::TimeSpan(y)) => dt(x.checked_sub(*y)),
        (BinOp::Sub, Value::DateTime(x), Value::DateTime(y)) => span(x.checked_sub(*y)),
        (BinOp::Add, Value::TimeSpan(x), Value::TimeSpan(y)) => span(x.checked_add(*y)),
        (BinOp::Sub, Value::TimeSpan(x), Value::TimeSpan(y)) => span(x.checked_sub(*y)),
        (BinOp::Mod, Value::TimeSpan(x), Value::TimeSpan(y)) => {
            if *y == 0 {
                Value::Null
            } else {
                Value::TimeSpan(x.rem_euclid(*y))
            }
        }
        (BinOp::Div, Value::TimeSpan(x), Value::TimeSpan(y)) => Value::Real(*x as f64 / *y as f64),
        (BinOp::Mul, Value::TimeSpan(x), n) | (BinOp::Mul, n, Value::TimeSpan(x)) => n
            .as_f64()
            .and_then(|f| scale_ticks(f, *x))
            .map_or(Value::Null, Value::TimeSpan),
        (BinOp::Div, Value::TimeSpan(x), n) => match n.as_f64() {
            Some(f) if f != 0.0 => scale_ticks(1.0 / f, *x).map_or(Value::Null, Value::TimeSpan),
            _ => Value::Null,
        },
        _ => {
            if ty == Type::Long {
                let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) else {
                    return Value::Null;
                };
                match op {
                    BinOp::Add => Value::Long(x.wrapping_add(y)),
                    BinOp::Sub => Value::Long(x.wrapping_sub(y)),
                    BinOp::Mul => Value::Long(x.wrapping_mul(y)),
                    BinOp::Div => x.checked_div(y).map_or(Value::Null, Value::Long),
                    BinOp::Mod => x.checked_rem_euclid(y).map_or(Value::Null, Value::Long),
                    _ => Value::Null,
                }
            } else {
                let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
                    return Value::Null;
                };
                Value::Real(match op {
                    BinOp::Add => x + y,
                    BinOp::Sub => x - y,
                    BinOp::Mul => x * y,
                    BinOp::Div => x / y,
                    BinOp::Mod => x.rem_euclid(y.abs()),
                    _ => return Value::Null,
                })
            }
        }
    }
}

/// Equality of two non-null values of comparable types (dynamic values compare by their
/// runtime value; a runtime type mismatch is simply unequal).
fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::DateTime(x), Value::DateTime(y)) | (Value::TimeSpan(x), Value::TimeSpan(y)) => {
            x == y
        }
        (Value::Int(_) | Value::Long(_), Value::Int(_) | Value::Long(_)) => {
            a.as_i64() == b.as_i64()
        }
        (Value::Dynamic(x), Value::Dynamic(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) => p == q,
            _ => x == y,
        },
        (Value::Dynamic(d), other) | (other, Value::Dynamic(d)) => match d.as_ref() {
            serde_json::Value::String(s) => match other {
                Value::Str(t) => s.as_str() == &**t,
                Value::DateTime(_) | Value::TimeSpan(_) => *s == other.to_kql_string(),
                _ => false,
            },
            serde_json::Value::Number(n) => match (n.as_f64(), other.as_f64()) {
                (Some(p), Some(q)) if !matches!(other, Value::Str(_)) => p == q,
                _ => false,
            },
            serde_json::Value::Bool(x) => matches!(other, Value::Bool(y) if x == y),
            _ => false,
        },
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// Order of two non-null values for `<`, `between` (None when they cannot be ordered).
fn ordered(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::DateTime(x), Value::DateTime(y)) | (Value::TimeSpan(x), Value::TimeSpan(y)) => {
            Some(x.cmp(y))
        }
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Int(_) | Value::Long(_), Value::Int(_) | Value::Long(_)) => {
            Some(a.as_i64().cmp(&b.as_i64()))
        }
        (Value::Str(_), _) | (_, Value::Str(_)) => None,
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y),
            _ => None,
        },
    }
}

fn compare(op: BinOp, a: &Value, b: &Value) -> Value {
    match op {
        BinOp::Eq | BinOp::Ne => {
            let eq = match (a.is_null(), b.is_null()) {
                (true, true) => return Value::Null,
                (true, false) | (false, true) => false,
                (false, false) => values_equal(a, b),
            };
            Value::Bool(if op == BinOp::Eq { eq } else { !eq })
        }
        BinOp::EqCi | BinOp::NeCi => {
            let eq = text(a).eq_ignore_ascii_case(&text(b));
            Value::Bool(if op == BinOp::EqCi { eq } else { !eq })
        }
        _ => {
            if a.is_null() || b.is_null() {
                return Value::Null;
            }
            match ordered(a, b) {
                Some(o) => Value::Bool(match op {
                    BinOp::Lt => o.is_lt(),
                    BinOp::Le => o.is_le(),
                    BinOp::Gt => o.is_gt(),
                    _ => o.is_ge(),
                }),
                None => Value::Bool(false),
            }
        }
    }
}

fn in_set(a: &Value, set: &InSet) -> bool {
    let as_text = match a {
        Value::Str(s) => Some(&**s),
        Value::Dynamic(d) => d.as_str(),
        _ => None,
    };
    if let Some(s) = as_text {
        let hit = if set.case_insensitive {
            set.strings.contains(&s.to_ascii_lowercase())
        } else {
            set.strings.contains(s)
        };
        if hit {
            return true;
        }
    }
    set.others.iter().any(|o| values_equal(a, o))
}

fn in_value(a: &Value, v: &Value, ci: bool) -> bool {
    if let Value::Dynamic(d) = v
        && let Some(items) = d.as_array()
    {
        return items
            .iter()
            .any(|i| in_value(a, &Value::dynamic(i.clone()), ci));
    }
    if v.is_null() {
        return false;
    }
    if ci {
        return text(a).eq_ignore_ascii_case(&text(v));
    }
    values_equal(a, v)
}

fn has_terms(hay: &str, terms: &Terms, all: bool) -> bool {
    let mut found = 0usize;
    if !terms.words.is_empty() {
        let mut seen: Vec<String> = Vec::new();
        for term in hay
            .split(|c: char| !c.is_alphanumeric())
            .filter(|t| !t.is_empty())
        {
            let lower = term.to_ascii_lowercase();
            if terms.words.contains(&lower) {
                if !all {
                    return true;
                }
                if !seen.contains(&lower) {
                    seen.push(lower);
                    found += 1;
                }
            }
        }
    }
    for p in &terms.phrases {
        if has_match(hay, p, false, Boundary::Both) {
            if !all {
                return true;
            }
            found += 1;
        }
    }
    all && found == terms.count && terms.count > 0
}

/// Which ends of a match must sit on a term boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    Both,
    Start,
    End,
}

fn find_at(hay: &[u8], needle: &[u8], from: usize, cs: bool) -> Option<usize> {
    let n = needle.len();
    if n == 0 || hay.len() < n {
        return None;
    }
    let first = needle[0];
    let mut i = from;
    while i + n <= hay.len() {
        let c = hay[i];
        let candidate = if cs {
            c == first
        } else {
            c.eq_ignore_ascii_case(&first)
        };
        if candidate {
            let window = &hay[i..i + n];
            let eq = if cs {
                window == needle
            } else {
                window.eq_ignore_ascii_case(needle)
            };
            if eq {
                return Some(i);
            }
        }
        i += 1;
    }
    None
}

/// The `has` family: `needle` occurs in `hay` with its ends on term boundaries (a boundary is
/// the edge of the text, a non-alphanumeric neighbour, or a non-alphanumeric end of `needle`
/// itself, so `has "-enc"` and `has "cmd.exe"` behave as phrases).
#[must_use]
pub fn has_match(hay: &str, needle: &str, cs: bool, boundary: Boundary) -> bool {
    if needle.is_empty() {
        return false;
    }
    let hb = hay.as_bytes();
    let nb = needle.as_bytes();
    let first_alnum = needle.chars().next().is_some_and(char::is_alphanumeric);
    let last_alnum = needle
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric);
    let mut from = 0;
    while let Some(i) = find_at(hb, nb, from, cs) {
        let j = i + nb.len();
        let left_ok = !first_alnum
            || hay
                .get(..i)
                .and_then(|s| s.chars().next_back())
                .is_none_or(|c| !c.is_alphanumeric());
        let right_ok = !last_alnum
            || hay
                .get(j..)
                .and_then(|s| s.chars().next())
                .is_none_or(|c| !c.is_alphanumeric());
        let ok = match boundary {
            Boundary::Both => left_ok && right_ok,
            Boundary::Start => left_ok,
            Boundary::End => right_ok,
        };
        if ok {
            return true;
        }
        from = i + 1;
    }
    false
}

/// Evaluate a string predicate (positive form).
#[must_use]
pub fn string_op(op: StrOp, hay: &str, needle: &str, cs: bool) -> bool {
    match op {
        StrOp::Has => has_match(hay, needle, cs, Boundary::Both),
        StrOp::HasPrefix => has_match(hay, needle, cs, Boundary::Start),
        StrOp::HasSuffix => has_match(hay, needle, cs, Boundary::End),
        StrOp::Contains => {
            needle.is_empty() || find_at(hay.as_bytes(), needle.as_bytes(), 0, cs).is_some()
        }
        StrOp::StartsWith => {
            let (h, n) = (hay.as_bytes(), needle.as_bytes());
            h.len() >= n.len()
                && if cs {
                    h.starts_with(n)
                } else {
                    h[..n.len()].eq_ignore_ascii_case(n)
                }
        }
        StrOp::EndsWith => {
            let (h, n) = (hay.as_bytes(), needle.as_bytes());
            h.len() >= n.len()
                && if cs {
                    h.ends_with(n)
                } else {
                    h[h.len() - n.len()..].eq_ignore_ascii_case(n)
                }
        }
        StrOp::MatchesRegex => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_is_about_whole_terms() {
        assert!(has_match("North America", "america", false, Boundary::Both));
        assert!(!has_match("North America", "amer", false, Boundary::Both));
        assert!(!has_match(
            "KustoExplorerQueryRun",
            "Explorer",
            false,
            Boundary::Both
        ));
        assert!(has_match(
            r"C:\Windows\System32\cmd.exe /c",
            "cmd.exe",
            false,
            Boundary::Both
        ));
        assert!(!has_match(
            r"C:\Windows\System32\cmd.exe /c",
            "md.exe",
            false,
            Boundary::Both
        ));
        assert!(has_match(
            r"C:\Windows\System32\cmd.exe /c",
            r"system32\cmd",
            false,
            Boundary::Both
        ));
        assert!(has_match(
            "powershell -enc AAA",
            "-enc",
            false,
            Boundary::Both
        ));
        assert!(!has_match(
            "powershell -encodedcommand AAA",
            "-enc",
            false,
            Boundary::Both
        ));
        assert!(!has_match("abc", "", false, Boundary::Both));
        assert!(has_match("North America", "ame", false, Boundary::Start));
        assert!(has_match("North America", "ica", false, Boundary::End));
        assert!(has_match("North America", "America", true, Boundary::Both));
        assert!(!has_match("North America", "america", true, Boundary::Both));
    }

    #[test]
    fn string_ops_fold_ascii_case_only_when_asked() {
        assert!(string_op(StrOp::Contains, "FabriKam", "BRik", false));
        assert!(!string_op(StrOp::Contains, "FabriKam", "BRik", true));
        assert!(string_op(StrOp::StartsWith, "Fabrikam", "fab", false));
        assert!(!string_op(StrOp::StartsWith, "Fabrikam", "fab", true));
        assert!(string_op(StrOp::EndsWith, "Fabrikam", "KAM", false));
        assert!(!string_op(StrOp::EndsWith, "am", "Fabrikam", false));
    }

    #[test]
    fn three_valued_comparisons() {
        assert!(matches!(
            compare(BinOp::Eq, &Value::Null, &Value::Long(1)),
            Value::Bool(false)
        ));
        assert!(matches!(
            compare(BinOp::Ne, &Value::Null, &Value::Long(1)),
            Value::Bool(true)
        ));
        assert!(compare(BinOp::Eq, &Value::Null, &Value::Null).is_null());
        assert!(compare(BinOp::Gt, &Value::Null, &Value::Long(1)).is_null());
        assert!(matches!(
            compare(BinOp::Lt, &Value::Int(1), &Value::Real(1.5)),
            Value::Bool(true)
        ));
        assert!(matches!(
            compare(BinOp::EqCi, &Value::str("ABC"), &Value::str("abc")),
            Value::Bool(true)
        ));
    }

    #[test]
    fn arithmetic_rules() {
        assert!(matches!(
            arith(BinOp::Div, &Value::Long(1), &Value::Long(2), Type::Long),
            Value::Long(0)
        ));
        assert!(
            matches!(arith(BinOp::Div, &Value::Long(1), &Value::Real(2.0), Type::Real), Value::Real(r) if r == 0.5)
        );
        assert!(matches!(
            arith(BinOp::Mod, &Value::Long(-14), &Value::Long(12), Type::Long),
            Value::Long(10)
        ));
        assert!(matches!(
            arith(BinOp::Mod, &Value::Long(14), &Value::Long(-12), Type::Long),
            Value::Long(2)
        ));
        assert!(arith(BinOp::Div, &Value::Long(1), &Value::Long(0), Type::Long).is_null());
        assert!(arith(BinOp::Add, &Value::Null, &Value::Long(1), Type::Long).is_null());
        let day = super::super::value::TICKS_PER_DAY;
        let hour = super::super::value::TICKS_PER_HOUR;
        assert!(
            matches!(arith(BinOp::Div, &Value::TimeSpan(day), &Value::TimeSpan(5 * hour), Type::Real), Value::Real(r) if (r - 4.8).abs() < 1e-9)
        );
        assert!(
            matches!(arith(BinOp::Mul, &Value::Real(1.5), &Value::TimeSpan(hour), Type::TimeSpan), Value::TimeSpan(t) if t == 90 * 60 * 10_000_000)
        );
    }

    #[test]
    fn sorting_places_nulls_and_nan() {
        let mut v = [
            Value::Real(5.0),
            Value::Null,
            Value::Real(f64::NAN),
            Value::Real(-5.0),
        ];
        v.sort_by(|a, b| sort_cmp(a, b, false, true));
        let shown: Vec<String> = v.iter().map(Value::to_kql_string).collect();
        assert_eq!(shown, vec!["", "NaN", "-5", "5"]);
        v.sort_by(|a, b| sort_cmp(a, b, true, false));
        let shown: Vec<String> = v.iter().map(Value::to_kql_string).collect();
        assert_eq!(shown, vec!["5", "-5", "NaN", ""]);
    }
}
