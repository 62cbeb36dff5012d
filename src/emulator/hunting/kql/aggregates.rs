//! Aggregation functions of `summarize`: result types, per-group state and the values they
//! produce, with the reference's null rules (nulls ignored except by `count()`) and defaults on
//! empty input (0 for counts and sums, `[]` for `make_*`, null otherwise).

use std::collections::HashSet;

use super::bind::BExpr;
use super::error::{KqlError, Span};
use super::value::{Key, Type, Value, compare_values};

/// Which aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    Count,
    CountIf,
    DCount,
    DCountIf,
    Sum,
    SumIf,
    Avg,
    AvgIf,
    Min,
    Max,
    MinIf,
    MaxIf,
    MakeSet,
    MakeSetIf,
    MakeList,
    MakeListIf,
    MakeBag,
    ArgMax,
    ArgMin,
    TakeAny,
    TakeAnyIf,
    Any,
    Stdev,
    Variance,
}

impl AggKind {
    /// The aggregate named `name`, if the emulator implements it.
    #[must_use]
    pub fn from_name(name: &str) -> Option<AggKind> {
        Some(match name {
            "count" => AggKind::Count,
            "countif" => AggKind::CountIf,
            "dcount" => AggKind::DCount,
            "dcountif" => AggKind::DCountIf,
            "sum" => AggKind::Sum,
            "sumif" => AggKind::SumIf,
            "avg" => AggKind::Avg,
            "avgif" => AggKind::AvgIf,
            "min" => AggKind::Min,
            "max" => AggKind::Max,
            "minif" => AggKind::MinIf,
            "maxif" => AggKind::MaxIf,
            "make_set" | "makeset" => AggKind::MakeSet,
            "make_set_if" => AggKind::MakeSetIf,
            "make_list" | "makelist" => AggKind::MakeList,
            "make_list_if" => AggKind::MakeListIf,
            "make_bag" => AggKind::MakeBag,
            "arg_max" => AggKind::ArgMax,
            "arg_min" => AggKind::ArgMin,
            "take_any" => AggKind::TakeAny,
            "take_anyif" => AggKind::TakeAnyIf,
            "any" => AggKind::Any,
            "stdev" => AggKind::Stdev,
            "variance" => AggKind::Variance,
            _ => return None,
        })
    }

    /// Whether the last mandatory argument is a predicate (`countif`, `sumif`, …).
    #[must_use]
    pub fn has_predicate(self) -> bool {
        matches!(
            self,
            AggKind::CountIf
                | AggKind::DCountIf
                | AggKind::SumIf
                | AggKind::AvgIf
                | AggKind::MinIf
                | AggKind::MaxIf
                | AggKind::MakeSetIf
                | AggKind::MakeListIf
                | AggKind::TakeAnyIf
        )
    }
}

/// A bound aggregate: its value argument, its predicate, and for `arg_max`/`arg_min` the
/// expressions returned from the winning row.
#[derive(Debug, Clone)]
pub struct BAgg {
    pub kind: AggKind,
    pub arg: Option<BExpr>,
    pub pred: Option<BExpr>,
    /// `make_set`/`make_list` size cap.
    pub max_size: usize,
    /// Result type of the slot (for `arg_max`: the maximised expression's type).
    pub ty: Type,
}

/// Check an aggregate's arguments and give its result type.
///
/// # Errors
/// Wrong arity or argument types.
pub fn result_type(
    kind: AggKind,
    name: &str,
    args: &[BExpr],
    span: Span,
) -> Result<Type, KqlError> {
    let min_args = match kind {
        AggKind::Count => 0,
        AggKind::CountIf | AggKind::MakeBag => 1,
        k if k.has_predicate() => 2,
        AggKind::ArgMax | AggKind::ArgMin => 1,
        _ => 1,
    };
    let max_args = match kind {
        AggKind::Count | AggKind::CountIf => 1,
        AggKind::DCount | AggKind::MakeSet | AggKind::MakeList | AggKind::MakeBag => 2,
        AggKind::DCountIf | AggKind::MakeSetIf | AggKind::MakeListIf => 3,
        AggKind::ArgMax | AggKind::ArgMin => usize::MAX,
        k if k.has_predicate() => 2,
        _ => 1,
    };
    if args.len() < min_args || args.len() > max_args {
        return Err(KqlError::semantic(
            span,
            format!("aggregate '{name}' got {} arguments", args.len()),
        ));
    }
    let arg_ty = args.first().map_or(Type::Long, |a| a.ty);
    if kind.has_predicate() || kind == AggKind::CountIf {
        let p = if kind == AggKind::CountIf { 0 } else { 1 };
        if let Some(pred) = args.get(p)
            && pred.ty != Type::Bool
            && pred.ty != Type::Dynamic
        {
            return Err(KqlError::semantic(
                span,
                format!(
                    "the predicate of '{name}' must be of type bool, not {}",
                    pred.ty.kql_name()
                ),
            ));
        }
    }
    let numeric_like = |t: Type| t.is_numeric() || matches!(t, Type::TimeSpan | Type::Dynamic);
    Ok(match kind {
        AggKind::Count | AggKind::CountIf | AggKind::DCount | AggKind::DCountIf => Type::Long,
        AggKind::Sum | AggKind::SumIf => {
            if !numeric_like(arg_ty) {
                return Err(type_error(name, arg_ty, span));
            }
            match arg_ty {
                Type::Int | Type::Long => Type::Long,
                Type::TimeSpan => Type::TimeSpan,
                _ => Type::Real,
            }
        }
        AggKind::Avg | AggKind::AvgIf => match arg_ty {
            Type::TimeSpan | Type::DateTime => arg_ty,
            t if numeric_like(t) => Type::Real,
            t => return Err(type_error(name, t, span)),
        },
        AggKind::Stdev | AggKind::Variance => {
            if !arg_ty.is_numeric() && arg_ty != Type::Dynamic {
                return Err(type_error(name, arg_ty, span));
            }
            Type::Real
        }
        AggKind::MakeSet
        | AggKind::MakeSetIf
        | AggKind::MakeList
        | AggKind::MakeListIf
        | AggKind::MakeBag => Type::Dynamic,
        AggKind::Min
        | AggKind::Max
        | AggKind::MinIf
        | AggKind::MaxIf
        | AggKind::ArgMax
        | AggKind::ArgMin
        | AggKind::TakeAny
        | AggKind::TakeAnyIf
        | AggKind::Any => arg_ty,
    })
}

fn type_error(name: &str, t: Type, span: Span) -> KqlError {
    KqlError::semantic(
        span,
        format!(
            "aggregate '{name}' cannot be applied to a value of type {}",
            t.kql_name()
        ),
    )
}

/// Per-group accumulator.
#[derive(Debug, Clone)]
pub enum State {
    Count(i64),
    Distinct(HashSet<Key>),
    SumLong(Option<i64>),
    SumReal(Option<f64>),
    SumSpan(Option<i64>),
    Avg {
        sum: f64,
        wide: i128,
        n: i64,
    },
    Extreme(Option<Value>),
    Set(Vec<Value>, HashSet<Key>),
    List(Vec<Value>),
    Bag(serde_json::Map<String, serde_json::Value>),
    /// Best value so far and the row it came from; `first` is the fallback row when every
    /// value is null.
    Arg {
        best: Option<Value>,
        row: Option<usize>,
        first: Option<usize>,
    },
    Any(Option<Value>),
    Moments {
        n: i64,
        mean: f64,
        m2: f64,
    },
}

impl State {
    /// A fresh accumulator for `agg`.
    #[must_use]
    pub fn new(agg: &BAgg) -> State {
        match agg.kind {
            AggKind::Count | AggKind::CountIf => State::Count(0),
            AggKind::DCount | AggKind::DCountIf => State::Distinct(HashSet::new()),
            AggKind::Sum | AggKind::SumIf => match agg.ty {
                Type::Long => State::SumLong(None),
                Type::TimeSpan => State::SumSpan(None),
                _ => State::SumReal(None),
            },
            AggKind::Avg | AggKind::AvgIf => State::Avg {
                sum: 0.0,
                wide: 0,
                n: 0,
            },
            AggKind::Min | AggKind::Max | AggKind::MinIf | AggKind::MaxIf => State::Extreme(None),
            AggKind::MakeSet | AggKind::MakeSetIf => State::Set(Vec::new(), HashSet::new()),
            AggKind::MakeList | AggKind::MakeListIf => State::List(Vec::new()),
            AggKind::MakeBag => State::Bag(serde_json::Map::new()),
            AggKind::ArgMax | AggKind::ArgMin => State::Arg {
                best: None,
                row: None,
                first: None,
            },
            AggKind::TakeAny | AggKind::TakeAnyIf | AggKind::Any => State::Any(None),
            AggKind::Stdev | AggKind::Variance => State::Moments {
                n: 0,
                mean: 0.0,
                m2: 0.0,
            },
        }
    }

    /// Fold in one row. `eval` evaluates an expression of the aggregate at that row.
    pub fn update(&mut self, agg: &BAgg, row: usize, eval: &dyn Fn(&BExpr) -> Value) {
        if let Some(p) = &agg.pred
            && eval(p).as_bool() != Some(true)
        {
            return;
        }
        let value = || agg.arg.as_ref().map_or(Value::Null, eval);
        match self {
            State::Count(n) => {
                *n += 1;
            }
            State::Distinct(set) => {
                let v = value();
                if !v.is_null() {
                    set.insert(Key(v));
                }
            }
            State::SumLong(acc) => {
                if let Some(x) = value().as_i64() {
                    *acc = Some(acc.unwrap_or(0).wrapping_add(x));
                }
            }
            State::SumReal(acc) => {
                if let Some(x) = value().as_f64() {
                    *acc = Some(acc.unwrap_or(0.0) + x);
                }
            }
            State::SumSpan(acc) => {
                if let Value::TimeSpan(x) = value() {
                    *acc = Some(acc.unwrap_or(0).wrapping_add(x));
                }
            }
            State::Avg { sum, wide, n } => match value() {
                Value::TimeSpan(t) | Value::DateTime(t) => {
                    *wide += i128::from(t);
                    *n += 1;
                }
                v => {
                    if let Some(x) = v.as_f64() {
                        *sum += x;
                        *n += 1;
                    }
                }
            },
            State::Extreme(best) => {
                let v = value();
                if v.is_null() {
                    return;
                }
                let want_max = matches!(agg.kind, AggKind::Max | AggKind::MaxIf);
                let better = match best {
                    None => true,
                    Some(b) => {
                        let o = compare_values(&v, b);
                        if want_max { o.is_gt() } else { o.is_lt() }
                    }
                };
                if better {
                    *best = Some(v);
                }
            }
            State::Set(items, seen) => {
                if items.len() >= agg.max_size {
                    return;
                }
                let v = value();
                let elements: Vec<Value> = match &v {
                    Value::Null => Vec::new(),
                    // Arrays are flattened into their elements.
                    Value::Dynamic(d) if d.is_array() => d
                        .as_array()
                        .map(|a| a.iter().cloned().map(Value::dynamic).collect())
                        .unwrap_or_default(),
                    _ => vec![v.clone()],
                };
                for e in elements {
                    if e.is_null() || items.len() >= agg.max_size {
                        continue;
                    }
                    let key = Key(normalise_dynamic(&e));
                    if seen.insert(key) {
                        items.push(e);
                    }
                }
            }
            State::List(items) => {
                if items.len() < agg.max_size {
                    let v = value();
                    if !v.is_null() {
                        items.push(v);
                    }
                }
            }
            State::Bag(map) => {
                if let Value::Dynamic(d) = value()
                    && let Some(obj) = d.as_object()
                {
                    for (k, v) in obj {
                        map.insert(k.clone(), v.clone());
                    }
                }
            }
            State::Arg {
                best,
                row: at,
                first,
            } => {
                if first.is_none() {
                    *first = Some(row);
                }
                let v = value();
                if v.is_null() {
                    return;
                }
                let better = match best {
                    None => true,
                    Some(b) => {
                        let o = compare_values(&v, b);
                        if agg.kind == AggKind::ArgMax {
                            o.is_gt()
                        } else {
                            o.is_lt()
                        }
                    }
                };
                if better {
                    *best = Some(v);
                    *at = Some(row);
                }
            }
            State::Any(slot) => {
                let v = value();
                let good = match &v {
                    Value::Null => false,
                    Value::Str(s) => !s.is_empty(),
                    _ => true,
                };
                match slot {
                    None => *slot = Some(v),
                    // take_any prefers a non-null, non-empty value.
                    Some(current) if agg.kind != AggKind::Any && !is_good(current) && good => {
                        *slot = Some(v);
                    }
                    Some(_) => {}
                }
            }
            State::Moments { n, mean, m2 } => {
                if let Some(x) = value().as_f64() {
                    *n += 1;
                    let delta = x - *mean;
                    *mean += delta / *n as f64;
                    *m2 += delta * (x - *mean);
                }
            }
        }
    }

    /// The aggregate's value for the group.
    #[must_use]
    pub fn finish(&self, agg: &BAgg) -> Value {
        match self {
            State::Count(n) => Value::Long(*n),
            State::Distinct(set) => Value::Long(set.len() as i64),
            State::SumLong(acc) => Value::Long(acc.unwrap_or(0)),
            State::SumReal(acc) => Value::Real(acc.unwrap_or(0.0)),
            State::SumSpan(acc) => Value::TimeSpan(acc.unwrap_or(0)),
            State::Avg { sum, wide, n } => {
                if *n == 0 {
                    return Value::Null;
                }
                match agg.ty {
                    Type::TimeSpan => Value::TimeSpan((*wide / i128::from(*n)) as i64),
                    Type::DateTime => Value::DateTime((*wide / i128::from(*n)) as i64),
                    _ => Value::Real(sum / *n as f64),
                }
            }
            State::Extreme(best) | State::Any(best) => {
                best.clone().unwrap_or_else(|| agg.ty.null_value())
            }
            State::Set(items, _) | State::List(items) => Value::dynamic(serde_json::Value::Array(
                items.iter().map(Value::to_json).collect(),
            )),
            State::Bag(map) => Value::dynamic(serde_json::Value::Object(map.clone())),
            State::Arg { best, .. } => best.clone().unwrap_or_else(|| agg.ty.null_value()),
            State::Moments { n, m2, .. } => {
                if *n == 0 {
                    return Value::Null;
                }
                if *n == 1 {
                    return Value::Real(0.0);
                }
                let var = m2 / (*n - 1) as f64;
                Value::Real(if agg.kind == AggKind::Stdev {
                    var.sqrt()
                } else {
                    var
                })
            }
        }
    }

    /// For `arg_max`/`arg_min`: the row whose other columns are returned.
    #[must_use]
    pub fn chosen_row(&self) -> Option<usize> {
        match self {
            State::Arg { row, first, .. } => row.or(*first),
            _ => None,
        }
    }
}

fn is_good(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Str(s) => !s.is_empty(),
        _ => true,
    }
}

/// Dynamic scalars compare with their plain counterparts in `make_set` (`"a"` once, whether it
/// came from a string column or from a flattened array).
fn normalise_dynamic(v: &Value) -> Value {
    match v {
        Value::Dynamic(d) => match d.as_ref() {
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(Value::Long)
                .or_else(|| n.as_f64().map(Value::Real))
                .unwrap_or(Value::Null),
            _ => v.clone(),
        },
        _ => v.clone(),
    }
}

/// The value of an aggregate over no rows at all (`summarize` without `by` on empty input).
#[must_use]
pub fn empty_default(agg: &BAgg) -> Value {
    match agg.kind {
        AggKind::Count | AggKind::CountIf | AggKind::DCount | AggKind::DCountIf => Value::Long(0),
        AggKind::Sum | AggKind::SumIf => match agg.ty {
            Type::Long => Value::Long(0),
            Type::TimeSpan => Value::TimeSpan(0),
            _ => Value::Real(0.0),
        },
        AggKind::Stdev | AggKind::Variance => Value::Real(0.0),
        AggKind::MakeSet | AggKind::MakeSetIf | AggKind::MakeList | AggKind::MakeListIf => {
            Value::dynamic(serde_json::Value::Array(Vec::new()))
        }
        AggKind::MakeBag => Value::dynamic(serde_json::Value::Object(serde_json::Map::new())),
        _ => agg.ty.null_value(),
    }
}
