//! Scalar functions: argument checking and result types (at bind time) and evaluation (per
//! row). Regular-expression arguments must be constants and are compiled once.

use std::sync::Arc;

use base64::Engine as _;
use regex::Regex;
use sha2::Digest as _;

use super::bind::{BExpr, BKind};
use super::error::{KqlError, Span};
use super::value::{
    TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MICROSECOND, TICKS_PER_MILLISECOND, TICKS_PER_MINUTE,
    TICKS_PER_SECOND, Type, UNIX_EPOCH_TICKS, Value, datetime_fields, datetime_in_range,
    parse_datetime, parse_timespan,
};

/// A bound scalar function.
#[derive(Debug, Clone)]
pub enum Func {
    Now,
    Ago,
    ToDateTime,
    ToTimeSpan,
    ToString,
    ToInt,
    ToLong,
    ToReal,
    ToBool,
    ParseJson,
    StrCat,
    StrCatDelim,
    StrLen,
    Substring,
    ToLower,
    ToUpper,
    Trim(Arc<Regex>, Arc<Regex>),
    Split,
    ReplaceString,
    ReplaceRegex(Arc<Regex>),
    Extract(Arc<Regex>),
    ExtractAll(Arc<Regex>),
    IndexOf,
    CountOf,
    CountOfRegex(Arc<Regex>),
    StrCmp,
    Base64Decode,
    Base64Encode,
    HashSha256,
    Iff,
    Case,
    Coalesce,
    IsEmpty,
    IsNotEmpty,
    IsNull,
    IsNotNull,
    Not,
    Bin,
    StartOf(Period),
    EndOfDay,
    DayOfWeek,
    HourOfDay,
    DayOfMonth,
    GetMonth,
    GetYear,
    DatetimeDiff,
    DatetimeAdd,
    FormatDatetime,
    Abs,
    Round,
    ArrayLength,
    PackArray,
    BagPack,
    SetHasElement,
    Ipv4IsPrivate,
    Ipv4IsInRange,
}

/// Calendar periods of `startof…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
    Year,
}

/// Known aggregate functions (handled by `summarize`, an error elsewhere).
pub const AGGREGATES: &[&str] = &[
    "count",
    "countif",
    "dcount",
    "dcountif",
    "sum",
    "sumif",
    "avg",
    "avgif",
    "min",
    "max",
    "minif",
    "maxif",
    "make_set",
    "make_set_if",
    "make_list",
    "make_list_if",
    "make_bag",
    "arg_max",
    "arg_min",
    "take_any",
    "take_anyif",
    "any",
    "stdev",
    "variance",
];

/// KQL aggregates the emulator does not implement.
pub const UNSUPPORTED_AGGREGATES: &[&str] = &[
    "percentile",
    "percentiles",
    "percentilew",
    "percentilesw",
    "percentiles_array",
    "tdigest",
    "hll",
    "hll_merge",
    "make_bag_if",
    "stdevif",
    "varianceif",
    "binary_all_and",
    "binary_all_or",
    "buildschema",
    "anyif",
    "count_distinct",
    "count_distinctif",
];

/// Scalar functions that exist in KQL but not in the emulator (reported as unsupported rather
/// than unknown).
const UNSUPPORTED_SCALARS: &[&str] = &[
    "parse_url",
    "parse_path",
    "parse_csv",
    "parse_xml",
    "parse_command_line",
    "parse_user_agent",
    "url_decode",
    "url_encode",
    "geo_info_from_ip_address",
    "ipv4_is_match",
    "ipv4_compare",
    "ipv6_compare",
    "ipv6_is_match",
    "format_ipv4",
    "bag_keys",
    "bag_merge",
    "array_concat",
    "array_slice",
    "array_index_of",
    "array_sort_asc",
    "array_sort_desc",
    "set_union",
    "set_intersect",
    "set_difference",
    "zip",
    "gettype",
    "reverse",
    "translate",
    "unixtime_seconds_todatetime",
    "unixtime_milliseconds_todatetime",
    "make_datetime",
    "make_timespan",
    "bin_at",
    "series_stats",
    "row_number",
    "prev",
    "next",
    "toscalar",
    "column_ifexists",
    "current_cluster_endpoint",
    "ingestion_time",
    "new_guid",
    "rand",
    "log",
    "log10",
    "log2",
    "exp",
    "pow",
    "sqrt",
    "sign",
    "ceiling",
    "hash",
    "hash_md5",
    "hash_sha1",
    "tohex",
    "todecimal",
    "toguid",
    "format_timespan",
    "week_of_year",
    "dayofyear",
    "monthofyear",
    "startofweek_utc",
    "endofweek",
    "endofmonth",
    "endofyear",
    "base64_encode_fromguid",
    "base64_decode_toarray",
    "base64_decode_toguid",
    "extract_json",
    "extractjson",
    "regex_quote",
    "has_any_index",
    "strrep",
    "isascii",
    "isutf8",
];

/// Every scalar function name the emulator evaluates (for "did you mean").
pub const SCALAR_NAMES: &[&str] = &[
    "now",
    "ago",
    "todatetime",
    "totimespan",
    "tostring",
    "toint",
    "tolong",
    "toreal",
    "todouble",
    "tobool",
    "toboolean",
    "parse_json",
    "todynamic",
    "strcat",
    "strcat_delim",
    "strlen",
    "substring",
    "tolower",
    "toupper",
    "trim",
    "trim_start",
    "trim_end",
    "split",
    "replace_string",
    "replace",
    "replace_regex",
    "extract",
    "extract_all",
    "indexof",
    "countof",
    "strcmp",
    "base64_decode_tostring",
    "base64_encode_tostring",
    "hash_sha256",
    "iff",
    "iif",
    "case",
    "coalesce",
    "isempty",
    "isnotempty",
    "notempty",
    "isnull",
    "isnotnull",
    "not",
    "bin",
    "floor",
    "startofday",
    "startofweek",
    "startofmonth",
    "startofyear",
    "endofday",
    "dayofweek",
    "hourofday",
    "dayofmonth",
    "getmonth",
    "getyear",
    "datetime_diff",
    "datetime_add",
    "format_datetime",
    "abs",
    "round",
    "array_length",
    "pack_array",
    "bag_pack",
    "pack",
    "pack_dictionary",
    "set_has_element",
    "ipv4_is_private",
    "ipv4_is_in_range",
];

struct Args<'a> {
    name: &'a str,
    span: Span,
    args: &'a [BExpr],
    spans: &'a [Span],
}

impl Args<'_> {
    fn arity(&self, min: usize, max: usize) -> Result<(), KqlError> {
        let n = self.args.len();
        if n < min || n > max {
            let expected = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(KqlError::semantic(
                self.span,
                format!(
                    "function '{}' expects {expected} argument{}, got {n}",
                    self.name,
                    if max == 1 && min == 1 { "" } else { "s" }
                ),
            ));
        }
        Ok(())
    }

    fn ty(&self, i: usize) -> Type {
        self.args.get(i).map_or(Type::Dynamic, |a| a.ty)
    }

    fn span_of(&self, i: usize) -> Span {
        self.spans.get(i).copied().unwrap_or(self.span)
    }

    /// Argument `i` must have one of `types` (dynamic is accepted wherever a scalar is).
    fn arg_type(&self, i: usize, types: &[Type], what: &str) -> Result<(), KqlError> {
        let t = self.ty(i);
        if i >= self.args.len() || t == Type::Dynamic || types.contains(&t) {
            return Ok(());
        }
        Err(KqlError::semantic(
            self.span_of(i),
            format!(
                "argument {} of function '{}' must be {what}, not {}",
                i + 1,
                self.name,
                t.kql_name()
            ),
        ))
    }

    fn string(&self, i: usize) -> Result<(), KqlError> {
        self.arg_type(i, &[Type::String], "a string")
    }

    fn const_string(&self, i: usize) -> Result<String, KqlError> {
        match self.args.get(i).map(|a| &a.kind) {
            Some(BKind::Lit(v)) if v.as_str().is_some() => Ok(v.as_str().unwrap_or("").to_string()),
            _ => Err(KqlError::semantic(
                self.span_of(i),
                format!(
                    "argument {} of function '{}' must be a constant string",
                    i + 1,
                    self.name
                ),
            )),
        }
    }

    fn regex(&self, i: usize) -> Result<Arc<Regex>, KqlError> {
        let pattern = self.const_string(i)?;
        compile_regex(&pattern, self.span_of(i))
    }
}

/// Compile a KQL regular expression (RE2 syntax, which the `regex` crate implements).
///
/// # Errors
/// A semantic error at `span` when the pattern is invalid.
pub fn compile_regex(pattern: &str, span: Span) -> Result<Arc<Regex>, KqlError> {
    Regex::new(pattern).map(Arc::new).map_err(|e| {
        KqlError::semantic(
            span,
            format!(
                "invalid regular expression '{pattern}': {}",
                e.to_string().lines().last().unwrap_or("")
            ),
        )
    })
}

/// The common type of branches (`iff`, `case`, `coalesce`): equal types, or numbers widened.
fn common_type(types: &[Type], span: Span, name: &str) -> Result<Type, KqlError> {
    let mut out: Option<Type> = None;
    for &t in types {
        out = Some(match out {
            None => t,
            Some(o) if o == t => o,
            Some(o) if o.is_numeric() && t.is_numeric() => {
                if o == Type::Real || t == Type::Real {
                    Type::Real
                } else {
                    Type::Long
                }
            }
            Some(Type::Dynamic) | Some(_) if t == Type::Dynamic => Type::Dynamic,
            Some(Type::Dynamic) => Type::Dynamic,
            Some(o) => {
                return Err(KqlError::semantic(
                    span,
                    format!(
                        "the results of '{name}' must have the same type, not {} and {}",
                        o.kql_name(),
                        t.kql_name()
                    ),
                ));
            }
        });
    }
    Ok(out.unwrap_or(Type::Dynamic))
}

/// Check a call of scalar function `name` and give its implementation and result type.
///
/// # Errors
/// Unknown functions (with a suggestion), unsupported ones, wrong arity or argument types.
pub fn bind(
    name: &str,
    span: Span,
    args: &[BExpr],
    spans: &[Span],
) -> Result<(Func, Type), KqlError> {
    let a = Args {
        name,
        span,
        args,
        spans,
    };
    const NUM: &[Type] = &[Type::Int, Type::Long, Type::Real];
    let r = match name {
        "now" => {
            a.arity(0, 1)?;
            a.arg_type(0, &[Type::TimeSpan], "a timespan")?;
            (Func::Now, Type::DateTime)
        }
        "ago" => {
            a.arity(1, 1)?;
            a.arg_type(0, &[Type::TimeSpan], "a timespan")?;
            (Func::Ago, Type::DateTime)
        }
        "todatetime" => {
            a.arity(1, 1)?;
            (Func::ToDateTime, Type::DateTime)
        }
        "totimespan" => {
            a.arity(1, 1)?;
            (Func::ToTimeSpan, Type::TimeSpan)
        }
        "tostring" => {
            a.arity(1, 1)?;
            (Func::ToString, Type::String)
        }
        "toint" => {
            a.arity(1, 1)?;
            (Func::ToInt, Type::Int)
        }
        "tolong" => {
            a.arity(1, 1)?;
            (Func::ToLong, Type::Long)
        }
        "toreal" | "todouble" => {
            a.arity(1, 1)?;
            (Func::ToReal, Type::Real)
        }
        "tobool" | "toboolean" => {
            a.arity(1, 1)?;
            (Func::ToBool, Type::Bool)
        }
        "parse_json" | "todynamic" | "parsejson" | "toobject" => {
            a.arity(1, 1)?;
            (Func::ParseJson, Type::Dynamic)
        }
        "strcat" => {
            a.arity(1, 64)?;
            (Func::StrCat, Type::String)
        }
        "strcat_delim" => {
            a.arity(2, 65)?;
            (Func::StrCatDelim, Type::String)
        }
        "strlen" => {
            a.arity(1, 1)?;
            a.string(0)?;
            (Func::StrLen, Type::Long)
        }
        "substring" => {
            a.arity(2, 3)?;
            a.arg_type(1, NUM, "a number")?;
            a.arg_type(2, NUM, "a number")?;
            (Func::Substring, Type::String)
        }
        "tolower" | "toupper" => {
            a.arity(1, 1)?;
            a.string(0)?;
            let f = if name == "tolower" {
                Func::ToLower
            } else {
                Func::ToUpper
            };
            (f, Type::String)
        }
        "trim" | "trim_start" | "trim_end" => {
            a.arity(2, 2)?;
            let pattern = a.const_string(0)?;
            a.string(1)?;
            let lead = if name == "trim_end" {
                "(?!)".to_string()
            } else {
                format!("^(?:{pattern})+")
            };
            let trail = if name == "trim_start" {
                "(?!)".to_string()
            } else {
                format!("(?:{pattern})+$")
            };
            // The regex crate has no look-around; an impossible match is spelt `[^\s\S]`.
            let lead = lead.replace("(?!)", r"[^\s\S]");
            let trail = trail.replace("(?!)", r"[^\s\S]");
            (
                Func::Trim(
                    compile_regex(&lead, a.span_of(0))?,
                    compile_regex(&trail, a.span_of(0))?,
                ),
                Type::String,
            )
        }
        "split" => {
            a.arity(2, 3)?;
            a.string(0)?;
            a.string(1)?;
            a.arg_type(2, NUM, "a number")?;
            (Func::Split, Type::Dynamic)
        }
        "replace_string" | "replace" => {
            a.arity(3, 3)?;
            for i in 0..3 {
                a.string(i)?;
            }
            (Func::ReplaceString, Type::String)
        }
        "replace_regex" => {
            a.arity(3, 3)?;
            a.string(0)?;
            a.string(2)?;
            (Func::ReplaceRegex(a.regex(1)?), Type::String)
        }
        "extract" => {
            a.arity(3, 3)?;
            a.arg_type(1, NUM, "a number")?;
            (Func::Extract(a.regex(0)?), Type::String)
        }
        "extract_all" => {
            a.arity(2, 2)?;
            (Func::ExtractAll(a.regex(0)?), Type::Dynamic)
        }
        "indexof" => {
            a.arity(2, 2)?;
            (Func::IndexOf, Type::Long)
        }
        "countof" => {
            a.arity(2, 3)?;
            if a.args.len() == 3 {
                match a.const_string(2)?.as_str() {
                    "normal" => (Func::CountOf, Type::Long),
                    "regex" => (Func::CountOfRegex(a.regex(1)?), Type::Long),
                    _ => {
                        return Err(KqlError::semantic(
                            a.span_of(2),
                            "the kind of 'countof' must be \"normal\" or \"regex\"",
                        ));
                    }
                }
            } else {
                (Func::CountOf, Type::Long)
            }
        }
        "strcmp" => {
            a.arity(2, 2)?;
            a.string(0)?;
            a.string(1)?;
            (Func::StrCmp, Type::Int)
        }
        "base64_decode_tostring" => {
            a.arity(1, 1)?;
            a.string(0)?;
            (Func::Base64Decode, Type::String)
        }
        "base64_encode_tostring" => {
            a.arity(1, 1)?;
            a.string(0)?;
            (Func::Base64Encode, Type::String)
        }
        "hash_sha256" => {
            a.arity(1, 1)?;
            (Func::HashSha256, Type::String)
        }
        "iff" | "iif" => {
            a.arity(3, 3)?;
            a.arg_type(0, &[Type::Bool], "a bool")?;
            (Func::Iff, common_type(&[a.ty(1), a.ty(2)], span, name)?)
        }
        "case" => {
            a.arity(3, usize::MAX)?;
            if a.args.len().is_multiple_of(2) {
                return Err(KqlError::semantic(
                    span,
                    "function 'case' expects pairs of predicate and value, then an else value",
                ));
            }
            let mut values = Vec::new();
            for i in (0..a.args.len() - 1).step_by(2) {
                a.arg_type(i, &[Type::Bool], "a bool")?;
                values.push(a.ty(i + 1));
            }
            values.push(a.ty(a.args.len() - 1));
            (Func::Case, common_type(&values, span, name)?)
        }
        "coalesce" => {
            a.arity(1, 64)?;
            let types: Vec<Type> = args.iter().map(|x| x.ty).collect();
            (Func::Coalesce, common_type(&types, span, name)?)
        }
        "isempty" => {
            a.arity(1, 1)?;
            (Func::IsEmpty, Type::Bool)
        }
        "isnotempty" | "notempty" => {
            a.arity(1, 1)?;
            (Func::IsNotEmpty, Type::Bool)
        }
        "isnull" => {
            a.arity(1, 1)?;
            (Func::IsNull, Type::Bool)
        }
        "isnotnull" | "notnull" => {
            a.arity(1, 1)?;
            (Func::IsNotNull, Type::Bool)
        }
        "not" => {
            a.arity(1, 1)?;
            a.arg_type(0, &[Type::Bool], "a bool")?;
            (Func::Not, Type::Bool)
        }
        "bin" | "floor" => {
            a.arity(2, 2)?;
            let t = a.ty(0);
            match t {
                Type::DateTime | Type::TimeSpan => {
                    a.arg_type(1, &[Type::TimeSpan], "a timespan")?
                }
                Type::Int | Type::Long | Type::Real => a.arg_type(1, NUM, "a number")?,
                Type::Dynamic => {}
                _ => a.arg_type(
                    0,
                    &[Type::Long, Type::Real, Type::DateTime, Type::TimeSpan],
                    "a number, datetime or timespan",
                )?,
            }
            (Func::Bin, if t == Type::Dynamic { Type::Real } else { t })
        }
        "startofday" | "startofweek" | "startofmonth" | "startofyear" => {
            a.arity(1, 2)?;
            a.arg_type(0, &[Type::DateTime], "a datetime")?;
            a.arg_type(1, &[Type::Int, Type::Long], "an integer")?;
            let p = match name {
                "startofday" => Period::Day,
                "startofweek" => Period::Week,
                "startofmonth" => Period::Month,
                _ => Period::Year,
            };
            (Func::StartOf(p), Type::DateTime)
        }
        "endofday" => {
            a.arity(1, 2)?;
            a.arg_type(0, &[Type::DateTime], "a datetime")?;
            (Func::EndOfDay, Type::DateTime)
        }
        "dayofweek" => {
            a.arity(1, 1)?;
            a.arg_type(0, &[Type::DateTime], "a datetime")?;
            (Func::DayOfWeek, Type::TimeSpan)
        }
        "hourofday" | "dayofmonth" | "getmonth" | "getyear" => {
            a.arity(1, 1)?;
            a.arg_type(0, &[Type::DateTime], "a datetime")?;
            let f = match name {
                "hourofday" => Func::HourOfDay,
                "dayofmonth" => Func::DayOfMonth,
                "getmonth" => Func::GetMonth,
                _ => Func::GetYear,
            };
            (f, Type::Int)
        }
        "datetime_diff" => {
            a.arity(3, 3)?;
            period_of(&a.const_string(0)?, a.span_of(0))?;
            a.arg_type(1, &[Type::DateTime], "a datetime")?;
            a.arg_type(2, &[Type::DateTime], "a datetime")?;
            (Func::DatetimeDiff, Type::Long)
        }
        "datetime_add" => {
            a.arity(3, 3)?;
            period_of(&a.const_string(0)?, a.span_of(0))?;
            a.arg_type(1, &[Type::Int, Type::Long], "an integer")?;
            a.arg_type(2, &[Type::DateTime], "a datetime")?;
            (Func::DatetimeAdd, Type::DateTime)
        }
        "format_datetime" => {
            a.arity(2, 2)?;
            a.arg_type(0, &[Type::DateTime], "a datetime")?;
            a.string(1)?;
            (Func::FormatDatetime, Type::String)
        }
        "abs" => {
            a.arity(1, 1)?;
            a.arg_type(
                0,
                &[Type::Int, Type::Long, Type::Real, Type::TimeSpan],
                "a number",
            )?;
            (Func::Abs, a.ty(0))
        }
        "round" => {
            a.arity(1, 2)?;
            a.arg_type(0, NUM, "a number")?;
            a.arg_type(1, &[Type::Int, Type::Long], "an integer")?;
            let t = if a.ty(0) == Type::Int {
                Type::Long
            } else {
                a.ty(0)
            };
            (Func::Round, if t == Type::Dynamic { Type::Real } else { t })
        }
        "array_length" => {
            a.arity(1, 1)?;
            a.arg_type(0, &[Type::Dynamic], "dynamic")?;
            (Func::ArrayLength, Type::Long)
        }
        "pack_array" => {
            a.arity(1, usize::MAX)?;
            (Func::PackArray, Type::Dynamic)
        }
        "bag_pack" | "pack" | "pack_dictionary" => {
            if !a.args.len().is_multiple_of(2) {
                return Err(KqlError::semantic(
                    span,
                    format!(
                        "function '{name}' expects an even number of arguments (key, value, …)"
                    ),
                ));
            }
            for i in (0..a.args.len()).step_by(2) {
                a.string(i)?;
            }
            (Func::BagPack, Type::Dynamic)
        }
        "set_has_element" => {
            a.arity(2, 2)?;
            a.arg_type(0, &[Type::Dynamic], "dynamic")?;
            (Func::SetHasElement, Type::Bool)
        }
        "ipv4_is_private" => {
            a.arity(1, 1)?;
            a.string(0)?;
            (Func::Ipv4IsPrivate, Type::Bool)
        }
        "ipv4_is_in_range" => {
            a.arity(2, 2)?;
            a.string(0)?;
            a.string(1)?;
            (Func::Ipv4IsInRange, Type::Bool)
        }
        _ if AGGREGATES.contains(&name) || UNSUPPORTED_AGGREGATES.contains(&name) => {
            return Err(KqlError::semantic(
                span,
                format!(
                    "Function '{name}' cannot be invoked in current context (aggregates belong in 'summarize')"
                ),
            ));
        }
        _ if UNSUPPORTED_SCALARS.contains(&name) => {
            return Err(KqlError::unsupported(span, &format!("function `{name}()`")));
        }
        _ => {
            let hint = super::parser::strsim_suggest(name, SCALAR_NAMES)
                .map_or(String::new(), |s| format!(" Did you mean '{s}'?"));
            return Err(KqlError::semantic(
                span,
                format!("Unknown function: '{name}'.{hint}"),
            ));
        }
    };
    Ok(r)
}

fn period_of(p: &str, span: Span) -> Result<&'static str, KqlError> {
    let lower = p.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "year" => "year",
        "quarter" => "quarter",
        "month" => "month",
        "week" => "week",
        "day" => "day",
        "hour" => "hour",
        "minute" => "minute",
        "second" => "second",
        "millisecond" => "millisecond",
        "microsecond" => "microsecond",
        "nanosecond" => "nanosecond",
        _ => {
            return Err(KqlError::semantic(
                span,
                format!(
                    "'{p}' is not a datetime part (Year, Quarter, Month, Week, Day, Hour, Minute, Second, Millisecond, Microsecond, Nanosecond)"
                ),
            ));
        }
    })
}

/// Convert a value to `ty` where KQL widens implicitly (numbers in `iff`/`case`/`coalesce`).
#[must_use]
pub fn widen(v: Value, ty: Type) -> Value {
    match (ty, &v) {
        (Type::Real, Value::Int(i)) => Value::Real(f64::from(*i)),
        (Type::Real, Value::Long(l)) => Value::Real(*l as f64),
        (Type::Long, Value::Int(i)) => Value::Long(i64::from(*i)),
        _ => v,
    }
}

fn s(v: &Value) -> String {
    v.to_kql_string()
}

fn to_long(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(i64::from(*i)),
        Value::Long(l) => Some(*l),
        Value::Real(r) if r.is_finite() => Some(r.trunc() as i64),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::Str(t) => parse_number(t).and_then(|x| x.as_i64_trunc()),
        Value::Dynamic(d) => match d.as_ref() {
            serde_json::Value::Number(n) => {
                n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64))
            }
            serde_json::Value::String(t) => parse_number(t).and_then(|x| x.as_i64_trunc()),
            serde_json::Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        },
        Value::TimeSpan(t) | Value::DateTime(t) => Some(*t),
        Value::Null | Value::Real(_) => None,
    }
}

enum Num {
    I(i64),
    F(f64),
}

impl Num {
    fn as_i64_trunc(&self) -> Option<i64> {
        match self {
            Num::I(i) => Some(*i),
            Num::F(f) if f.is_finite() => Some(f.trunc() as i64),
            Num::F(_) => None,
        }
    }
}

fn parse_number(t: &str) -> Option<Num> {
    let t = t.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(Num::I(i));
    }
    t.parse::<f64>().ok().map(Num::F)
}

fn to_real(v: &Value) -> Option<f64> {
    match v {
        Value::Str(t) => match t.trim() {
            "NaN" | "nan" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Dynamic(d) => match d.as_ref() {
            serde_json::Value::String(t) => t.trim().parse().ok(),
            other => other.as_f64(),
        },
        Value::TimeSpan(t) | Value::DateTime(t) => Some(*t as f64),
        other => other.as_f64(),
    }
}

/// Evaluate a bound function on evaluated arguments. `now` is the query's fixed instant.
#[must_use]
pub fn eval(f: &Func, ty: Type, args: Vec<Value>, now: i64) -> Value {
    let arg = |i: usize| args.get(i).unwrap_or(&super::value::NULL);
    match f {
        Func::Now => match arg(0) {
            Value::TimeSpan(t) => checked_dt(now.checked_add(*t)),
            _ => Value::DateTime(now),
        },
        Func::Ago => match arg(0) {
            Value::TimeSpan(t) => checked_dt(now.checked_sub(*t)),
            _ => Value::Null,
        },
        Func::ToDateTime => match arg(0) {
            Value::DateTime(t) => Value::DateTime(*t),
            Value::Str(t) => parse_datetime(t).map_or(Value::Null, Value::DateTime),
            Value::Dynamic(d) => d
                .as_str()
                .and_then(parse_datetime)
                .map_or(Value::Null, Value::DateTime),
            _ => Value::Null,
        },
        Func::ToTimeSpan => match arg(0) {
            Value::TimeSpan(t) => Value::TimeSpan(*t),
            Value::Long(l) => Value::TimeSpan(*l),
            Value::Int(i) => Value::TimeSpan(i64::from(*i)),
            Value::Str(t) => parse_timespan(t).map_or(Value::Null, Value::TimeSpan),
            Value::Dynamic(d) => d
                .as_str()
                .and_then(parse_timespan)
                .map_or(Value::Null, Value::TimeSpan),
            _ => Value::Null,
        },
        Func::ToString => Value::str(&s(arg(0))),
        Func::ToInt => match arg(0) {
            Value::DateTime(_) | Value::TimeSpan(_) => Value::Null,
            v => to_long(v)
                .and_then(|l| i32::try_from(l).ok())
                .map_or(Value::Null, Value::Int),
        },
        Func::ToLong => match arg(0) {
            Value::DateTime(t) => Value::Long(*t),
            v => to_long(v).map_or(Value::Null, Value::Long),
        },
        Func::ToReal => to_real(arg(0)).map_or(Value::Null, Value::Real),
        Func::ToBool => match arg(0) {
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(_) | Value::Long(_) | Value::Real(_) => {
                Value::Bool(arg(0).as_f64().is_some_and(|f| f != 0.0))
            }
            v @ (Value::Str(_) | Value::Dynamic(_)) => {
                match v.to_kql_string().trim().to_ascii_lowercase().as_str() {
                    "true" | "1" => Value::Bool(true),
                    "false" | "0" => Value::Bool(false),
                    _ => Value::Null,
                }
            }
            _ => Value::Null,
        },
        Func::ParseJson => match arg(0) {
            Value::Dynamic(d) => Value::Dynamic(d.clone()),
            Value::Str(t) => {
                if t.trim().is_empty() {
                    Value::Null
                } else {
                    match serde_json::from_str::<serde_json::Value>(t) {
                        Ok(v) => Value::dynamic(v),
                        Err(_) => Value::dynamic(serde_json::Value::String(t.to_string())),
                    }
                }
            }
            Value::Null => Value::Null,
            other => Value::dynamic(other.to_json()),
        },
        Func::StrCat => {
            let mut out = String::new();
            for v in &args {
                out.push_str(&s(v));
            }
            Value::str(&out)
        }
        Func::StrCatDelim => {
            let delim = s(arg(0));
            let parts: Vec<String> = args.iter().skip(1).map(s).collect();
            Value::str(&parts.join(&delim))
        }
        Func::StrLen => Value::Long(s(arg(0)).chars().count() as i64),
        Func::Substring => {
            let text: Vec<char> = s(arg(0)).chars().collect();
            let n = text.len() as i64;
            let Some(mut start) = arg(1)
                .as_i64()
                .or_else(|| arg(1).as_f64().map(|f| f as i64))
            else {
                return Value::empty_string();
            };
            if start < 0 {
                start = (n + start).max(0);
            }
            let len = match args.get(2) {
                Some(v) => match v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)) {
                    Some(l) => l.max(0),
                    None => return Value::empty_string(),
                },
                None => n,
            };
            let start = start.min(n) as usize;
            let end = (start as i64 + len).min(n) as usize;
            Value::str(&text[start..end].iter().collect::<String>())
        }
        Func::ToLower => Value::str(&s(arg(0)).to_lowercase()),
        Func::ToUpper => Value::str(&s(arg(0)).to_uppercase()),
        Func::Trim(lead, trail) => {
            let text = s(arg(1));
            let a = lead.find(&text).map_or(0, |m| m.end());
            let rest = &text[a..];
            let b = trail.find(rest).map_or(rest.len(), |m| m.start());
            Value::str(&rest[..b])
        }
        Func::Split => {
            let text = s(arg(0));
            let delim = s(arg(1));
            let parts: Vec<serde_json::Value> = if delim.is_empty() {
                vec![serde_json::Value::String(text.clone())]
            } else {
                text.split(delim.as_str())
                    .map(|p| serde_json::Value::String(p.to_string()))
                    .collect()
            };
            match args.get(2) {
                Some(idx) => match idx.as_i64() {
                    Some(i) => {
                        let i = if i < 0 { parts.len() as i64 + i } else { i };
                        match usize::try_from(i).ok().and_then(|i| parts.get(i)) {
                            Some(p) => Value::dynamic(serde_json::Value::Array(vec![p.clone()])),
                            None => Value::dynamic(serde_json::Value::Array(Vec::new())),
                        }
                    }
                    None => Value::Null,
                },
                None => Value::dynamic(serde_json::Value::Array(parts)),
            }
        }
        Func::ReplaceString => {
            let text = s(arg(0));
            let lookup = s(arg(1));
            if lookup.is_empty() {
                return Value::str(&text);
            }
            Value::str(&text.replace(&lookup, &s(arg(2))))
        }
        Func::ReplaceRegex(re) => {
            let rewrite = kql_rewrite_to_regex(&s(arg(2)));
            Value::str(&re.replace_all(&s(arg(0)), rewrite.as_str()))
        }
        Func::Extract(re) => {
            let group = arg(1).as_i64().unwrap_or(0);
            let text = s(arg(2));
            let found = usize::try_from(group)
                .ok()
                .and_then(|g| re.captures(&text).and_then(|c| c.get(g)))
                .map(|m| m.as_str().to_string());
            Value::str(&found.unwrap_or_default())
        }
        Func::ExtractAll(re) => {
            let text = s(arg(1));
            let groups = re.captures_len() - 1;
            let mut out = Vec::new();
            for caps in re.captures_iter(&text) {
                let item = match groups {
                    0 => serde_json::Value::String(caps.get(0).map_or("", |m| m.as_str()).into()),
                    1 => serde_json::Value::String(caps.get(1).map_or("", |m| m.as_str()).into()),
                    _ => serde_json::Value::Array(
                        (1..=groups)
                            .map(|g| {
                                serde_json::Value::String(
                                    caps.get(g).map_or("", |m| m.as_str()).into(),
                                )
                            })
                            .collect(),
                    ),
                };
                out.push(item);
            }
            if out.is_empty() {
                Value::Null
            } else {
                Value::dynamic(serde_json::Value::Array(out))
            }
        }
        Func::IndexOf => {
            let text = s(arg(0));
            let needle = s(arg(1));
            match text.find(&needle) {
                Some(b) => Value::Long(text[..b].chars().count() as i64),
                None => Value::Long(-1),
            }
        }
        Func::CountOf => {
            let text = s(arg(0));
            let needle = s(arg(1));
            if needle.is_empty() {
                return Value::Long(0);
            }
            // Plain matches may overlap: countof("aaaa", "aa") is 3.
            let mut count = 0;
            let mut from = 0;
            while let Some(i) = text[from..].find(&needle) {
                count += 1;
                from += i + text[from + i..].chars().next().map_or(1, char::len_utf8);
            }
            Value::Long(count)
        }
        Func::CountOfRegex(re) => Value::Long(re.find_iter(&s(arg(0))).count() as i64),
        Func::StrCmp => Value::Int(match s(arg(0)).cmp(&s(arg(1))) {
            std::cmp::Ordering::Less => -1,
            std::cmp::Ordering::Equal => 0,
            std::cmp::Ordering::Greater => 1,
        }),
        Func::Base64Decode => {
            let text = s(arg(0));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text.trim()));
            match bytes.ok().and_then(|b| String::from_utf8(b).ok()) {
                Some(t) => Value::str(&t),
                None => Value::empty_string(),
            }
        }
        Func::Base64Encode => {
            Value::str(&base64::engine::general_purpose::STANDARD.encode(s(arg(0))))
        }
        Func::HashSha256 => {
            let digest = sha2::Sha256::digest(s(arg(0)).as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            Value::str(&hex)
        }
        Func::Iff => {
            let pick = if arg(0).as_bool() == Some(true) { 1 } else { 2 };
            widen(arg(pick).clone(), ty)
        }
        Func::Case => {
            let n = args.len();
            for i in (0..n.saturating_sub(1)).step_by(2) {
                if arg(i).as_bool() == Some(true) {
                    return widen(arg(i + 1).clone(), ty);
                }
            }
            widen(arg(n.saturating_sub(1)).clone(), ty)
        }
        Func::Coalesce => {
            for v in &args {
                let present = match v {
                    Value::Null => false,
                    Value::Str(t) => !t.is_empty(),
                    _ => true,
                };
                if present {
                    return widen(v.clone(), ty);
                }
            }
            ty.null_value()
        }
        Func::IsEmpty => Value::Bool(is_empty(arg(0))),
        Func::IsNotEmpty => Value::Bool(!is_empty(arg(0))),
        Func::IsNull => Value::Bool(arg(0).is_null()),
        Func::IsNotNull => Value::Bool(!arg(0).is_null()),
        Func::Not => match arg(0).as_bool() {
            Some(b) => Value::Bool(!b),
            None => Value::Null,
        },
        Func::Bin => bin(arg(0), arg(1)),
        Func::StartOf(p) => match (arg(0), args.get(1)) {
            (Value::DateTime(t), offset) => {
                let n = offset.and_then(Value::as_i64).unwrap_or(0);
                start_of(*t, *p, n)
            }
            _ => Value::Null,
        },
        Func::EndOfDay => match arg(0) {
            Value::DateTime(t) => {
                let n = args.get(1).and_then(Value::as_i64).unwrap_or(0);
                match start_of(*t, Period::Day, n + 1) {
                    Value::DateTime(next) => Value::DateTime(next - 1),
                    other => other,
                }
            }
            _ => Value::Null,
        },
        Func::DayOfWeek => match arg(0) {
            // 0001-01-01 was a Monday; Sunday is day 0.
            Value::DateTime(t) => {
                Value::TimeSpan(((t.div_euclid(TICKS_PER_DAY) + 1).rem_euclid(7)) * TICKS_PER_DAY)
            }
            _ => Value::Null,
        },
        Func::HourOfDay => match arg(0) {
            Value::DateTime(t) => Value::Int(datetime_fields(*t).3 as i32),
            _ => Value::Null,
        },
        Func::DayOfMonth => match arg(0) {
            Value::DateTime(t) => Value::Int(datetime_fields(*t).2 as i32),
            _ => Value::Null,
        },
        Func::GetMonth => match arg(0) {
            Value::DateTime(t) => Value::Int(datetime_fields(*t).1 as i32),
            _ => Value::Null,
        },
        Func::GetYear => match arg(0) {
            Value::DateTime(t) => Value::Int(datetime_fields(*t).0 as i32),
            _ => Value::Null,
        },
        Func::DatetimeDiff => match (arg(1), arg(2)) {
            (Value::DateTime(a), Value::DateTime(b)) => {
                datetime_diff(&s(arg(0)).to_ascii_lowercase(), *a, *b)
                    .map_or(Value::Null, Value::Long)
            }
            _ => Value::Null,
        },
        Func::DatetimeAdd => match (arg(1).as_i64(), arg(2)) {
            (Some(n), Value::DateTime(t)) => datetime_add(&s(arg(0)).to_ascii_lowercase(), n, *t),
            _ => Value::Null,
        },
        Func::FormatDatetime => match arg(0) {
            Value::DateTime(t) => Value::str(&format_with(*t, &s(arg(1)))),
            _ => Value::empty_string(),
        },
        Func::Abs => match arg(0) {
            Value::Int(i) => Value::Int(i.wrapping_abs()),
            Value::Long(l) => Value::Long(l.wrapping_abs()),
            Value::Real(r) => Value::Real(r.abs()),
            Value::TimeSpan(t) => Value::TimeSpan(t.wrapping_abs()),
            _ => Value::Null,
        },
        Func::Round => {
            let digits = args
                .get(1)
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .clamp(-18, 18) as i32;
            match arg(0) {
                Value::Int(i) => Value::Long(i64::from(*i)),
                Value::Long(l) if digits >= 0 => Value::Long(*l),
                Value::Long(l) => {
                    let p = 10f64.powi(-digits);
                    Value::Long(((*l as f64 / p).round() * p) as i64)
                }
                v => match v.as_f64() {
                    Some(r) => {
                        let p = 10f64.powi(digits);
                        Value::Real((r * p).round() / p)
                    }
                    None => Value::Null,
                },
            }
        }
        Func::ArrayLength => match arg(0) {
            Value::Dynamic(d) => d
                .as_array()
                .map_or(Value::Null, |a| Value::Long(a.len() as i64)),
            _ => Value::Null,
        },
        Func::PackArray => Value::dynamic(serde_json::Value::Array(
            args.iter().map(Value::to_json).collect(),
        )),
        Func::BagPack => {
            let mut map = serde_json::Map::new();
            for pair in args.chunks(2) {
                if let [k, v] = pair {
                    map.insert(s(k), v.to_json());
                }
            }
            Value::dynamic(serde_json::Value::Object(map))
        }
        Func::SetHasElement => match arg(0) {
            Value::Dynamic(d) => {
                let needle = arg(1).to_json();
                Value::Bool(
                    d.as_array()
                        .is_some_and(|a| a.iter().any(|x| json_eq(x, &needle))),
                )
            }
            _ => Value::Null,
        },
        Func::Ipv4IsPrivate => match parse_ipv4_prefix(&s(arg(0))) {
            Some((ip, _)) => {
                let o = ip.to_be_bytes();
                Value::Bool(
                    o[0] == 10
                        || (o[0] == 172 && (16..=31).contains(&o[1]))
                        || (o[0] == 192 && o[1] == 168),
                )
            }
            None => Value::Null,
        },
        Func::Ipv4IsInRange => match (parse_ipv4_prefix(&s(arg(0))), parse_ipv4_prefix(&s(arg(1))))
        {
            (Some((ip, _)), Some((net, bits))) => {
                let mask = if bits == 0 {
                    0
                } else {
                    u32::MAX << (32 - bits)
                };
                Value::Bool(ip & mask == net & mask)
            }
            _ => Value::Null,
        },
    }
}

fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn checked_dt(t: Option<i64>) -> Value {
    match t {
        Some(t) if datetime_in_range(t) => Value::DateTime(t),
        _ => Value::Null,
    }
}

/// `isempty`: `""`, null, or an empty dynamic string.
#[must_use]
pub fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Str(s) => s.is_empty(),
        Value::Dynamic(d) => d.as_str().is_some_and(str::is_empty),
        _ => false,
    }
}

/// `bin(value, size)`: floor to a multiple of `size`; null for a null, zero or negative size.
/// Datetimes floor their tick count since 0001-01-01, so 7-day bins start on Mondays.
#[must_use]
pub fn bin(v: &Value, size: &Value) -> Value {
    match (v, size) {
        (Value::DateTime(t) | Value::TimeSpan(t), Value::TimeSpan(sz)) if *sz > 0 => {
            let floored = t.div_euclid(*sz) * sz;
            if matches!(v, Value::DateTime(_)) {
                Value::DateTime(floored)
            } else {
                Value::TimeSpan(floored)
            }
        }
        (Value::Int(i), _) => match size.as_f64() {
            Some(sz) if sz > 0.0 => Value::Int(((f64::from(*i) / sz).floor() * sz) as i32),
            _ => Value::Null,
        },
        (Value::Long(l), _) => match size.as_i64() {
            Some(sz) if sz > 0 => Value::Long(l.div_euclid(sz) * sz),
            _ => match size.as_f64() {
                Some(sz) if sz > 0.0 => Value::Long(((*l as f64 / sz).floor() * sz) as i64),
                _ => Value::Null,
            },
        },
        (Value::Real(_) | Value::Dynamic(_), _) => match (v.as_f64(), size.as_f64()) {
            (Some(r), Some(sz)) if sz > 0.0 => Value::Real((r / sz).floor() * sz),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

fn start_of(t: i64, p: Period, offset: i64) -> Value {
    let day = t.div_euclid(TICKS_PER_DAY) * TICKS_PER_DAY;
    let out = match p {
        Period::Day => Some(day + offset * TICKS_PER_DAY),
        Period::Week => {
            // Weeks start on Sunday; 0001-01-01 was a Monday.
            let dow = (t.div_euclid(TICKS_PER_DAY) + 1).rem_euclid(7);
            Some(day - dow * TICKS_PER_DAY + offset * 7 * TICKS_PER_DAY)
        }
        Period::Month | Period::Year => {
            let (y, m, ..) = datetime_fields(t);
            let months = if p == Period::Month {
                y * 12 + i64::from(m) - 1 + offset
            } else {
                (y + offset) * 12
            };
            ymd_ticks(months.div_euclid(12), (months.rem_euclid(12) + 1) as u32, 1)
        }
    };
    checked_dt(out)
}

fn ymd_ticks(y: i64, m: u32, d: u32) -> Option<i64> {
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)?;
    let secs = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp();
    Some(UNIX_EPOCH_TICKS + secs * TICKS_PER_SECOND)
}

fn truncate_to(part: &str, t: i64) -> Option<i64> {
    let (y, m, ..) = datetime_fields(t);
    Some(match part {
        "year" => ymd_ticks(y, 1, 1)?,
        "quarter" => ymd_ticks(y, ((m - 1) / 3) * 3 + 1, 1)?,
        "month" => ymd_ticks(y, m, 1)?,
        "week" => {
            let dow = (t.div_euclid(TICKS_PER_DAY) + 1).rem_euclid(7);
            t.div_euclid(TICKS_PER_DAY) * TICKS_PER_DAY - dow * TICKS_PER_DAY
        }
        "day" => t.div_euclid(TICKS_PER_DAY) * TICKS_PER_DAY,
        "hour" => t.div_euclid(TICKS_PER_HOUR) * TICKS_PER_HOUR,
        "minute" => t.div_euclid(TICKS_PER_MINUTE) * TICKS_PER_MINUTE,
        "second" => t.div_euclid(TICKS_PER_SECOND) * TICKS_PER_SECOND,
        "millisecond" => t.div_euclid(TICKS_PER_MILLISECOND) * TICKS_PER_MILLISECOND,
        "microsecond" => t.div_euclid(TICKS_PER_MICROSECOND) * TICKS_PER_MICROSECOND,
        _ => t,
    })
}

/// Period boundaries between `b` and `a` (`datetime_diff` counts boundaries, not elapsed time).
fn datetime_diff(part: &str, a: i64, b: i64) -> Option<i64> {
    let (ya, ma, ..) = datetime_fields(a);
    let (yb, mb, ..) = datetime_fields(b);
    Some(match part {
        "year" => ya - yb,
        "quarter" => (ya * 4 + i64::from((ma - 1) / 3)) - (yb * 4 + i64::from((mb - 1) / 3)),
        "month" => (ya * 12 + i64::from(ma)) - (yb * 12 + i64::from(mb)),
        "week" => (truncate_to("week", a)? - truncate_to("week", b)?) / (7 * TICKS_PER_DAY),
        "day" => (truncate_to("day", a)? - truncate_to("day", b)?) / TICKS_PER_DAY,
        "hour" => (truncate_to("hour", a)? - truncate_to("hour", b)?) / TICKS_PER_HOUR,
        "minute" => (truncate_to("minute", a)? - truncate_to("minute", b)?) / TICKS_PER_MINUTE,
        "second" => (truncate_to("second", a)? - truncate_to("second", b)?) / TICKS_PER_SECOND,
        "millisecond" => {
            (truncate_to("millisecond", a)? - truncate_to("millisecond", b)?)
                / TICKS_PER_MILLISECOND
        }
        "microsecond" => {
            (truncate_to("microsecond", a)? - truncate_to("microsecond", b)?)
                / TICKS_PER_MICROSECOND
        }
        "nanosecond" => (a - b).checked_mul(100)?,
        _ => return None,
    })
}

fn datetime_add(part: &str, n: i64, t: i64) -> Value {
    let unit = match part {
        "week" => 7 * TICKS_PER_DAY,
        "day" => TICKS_PER_DAY,
        "hour" => TICKS_PER_HOUR,
        "minute" => TICKS_PER_MINUTE,
        "second" => TICKS_PER_SECOND,
        "millisecond" => TICKS_PER_MILLISECOND,
        "microsecond" => TICKS_PER_MICROSECOND,
        "nanosecond" => return checked_dt(t.checked_add(n / 100)),
        "year" | "quarter" | "month" => {
            let months = match part {
                "year" => n.checked_mul(12),
                "quarter" => n.checked_mul(3),
                _ => Some(n),
            };
            let Some(months) = months else {
                return Value::Null;
            };
            let Some(dt) = super::value::chrono_from_ticks(t) else {
                return Value::Null;
            };
            let shifted = if months >= 0 {
                u32::try_from(months)
                    .ok()
                    .and_then(|m| dt.checked_add_months(chrono::Months::new(m)))
            } else {
                u32::try_from(-months)
                    .ok()
                    .and_then(|m| dt.checked_sub_months(chrono::Months::new(m)))
            };
            return shifted.map_or(Value::Null, |d| {
                checked_dt(Some(super::value::ticks_from_chrono(d)))
            });
        }
        _ => return Value::Null,
    };
    checked_dt(n.checked_mul(unit).and_then(|d| t.checked_add(d)))
}

/// `format_datetime` specifiers: d dd f…fffffff F…FFFFFFF h hh H HH m mm M MM s ss y yy yyyy tt.
fn format_with(t: i64, fmt: &str) -> String {
    let (y, mo, d, h, mi, sec, frac) = datetime_fields(t);
    let chars: Vec<char> = fmt.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        let piece = match c {
            'd' => Some(if n >= 2 {
                format!("{d:02}")
            } else {
                d.to_string()
            }),
            'M' => Some(if n >= 2 {
                format!("{mo:02}")
            } else {
                mo.to_string()
            }),
            'y' => Some(match n {
                1 => (y % 100).to_string(),
                2 => format!("{:02}", y % 100),
                _ => format!("{y:04}"),
            }),
            'H' => Some(if n >= 2 {
                format!("{h:02}")
            } else {
                h.to_string()
            }),
            'h' => {
                let h12 = if h % 12 == 0 { 12 } else { h % 12 };
                Some(if n >= 2 {
                    format!("{h12:02}")
                } else {
                    h12.to_string()
                })
            }
            'm' => Some(if n >= 2 {
                format!("{mi:02}")
            } else {
                mi.to_string()
            }),
            's' => Some(if n >= 2 {
                format!("{sec:02}")
            } else {
                sec.to_string()
            }),
            'f' | 'F' => {
                let digits = format!("{frac:07}");
                let take = n.min(7);
                let part = &digits[..take];
                if c == 'F' {
                    Some(part.trim_end_matches('0').to_string())
                } else {
                    Some(part.to_string())
                }
            }
            't' if n >= 2 => Some(if h < 12 { "AM" } else { "PM" }.to_string()),
            _ => None,
        };
        match piece {
            Some(p) => {
                if c == 'F' && p.is_empty() && out.ends_with('.') {
                    out.pop();
                }
                out.push_str(&p);
                i += n;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// KQL rewrite strings use `\1`; the regex crate uses `${1}` and needs `$` escaped.
fn kql_rewrite_to_regex(rewrite: &str) -> String {
    let mut out = String::new();
    let mut chars = rewrite.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(*d);
                    chars.next();
                }
                out.push_str(&format!("${{{n}}}"));
            }
            other => out.push(other),
        }
    }
    out
}

fn parse_ipv4_prefix(text: &str) -> Option<(u32, u32)> {
    let (ip, bits) = match text.trim().split_once('/') {
        Some((ip, b)) => (ip, b.parse::<u32>().ok().filter(|b| *b <= 32)?),
        None => (text.trim(), 32),
    };
    let addr: std::net::Ipv4Addr = ip.parse().ok()?;
    Some((u32::from(addr), bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::hunting::kql::value::parse_datetime;

    fn dt(s: &str) -> i64 {
        parse_datetime(s).unwrap()
    }

    fn call(f: Func, ty: Type, args: Vec<Value>) -> Value {
        eval(&f, ty, args, dt("2024-05-10T12:00:00Z"))
    }

    fn text(v: Value) -> String {
        v.to_kql_string()
    }

    #[test]
    fn time_functions() {
        assert_eq!(
            text(call(
                Func::Ago,
                Type::DateTime,
                vec![Value::TimeSpan(TICKS_PER_DAY)]
            )),
            "2024-05-09T12:00:00.0000000Z"
        );
        assert_eq!(
            text(call(
                Func::Now,
                Type::DateTime,
                vec![Value::TimeSpan(-2 * TICKS_PER_DAY)]
            )),
            "2024-05-08T12:00:00.0000000Z"
        );
        assert_eq!(
            text(bin(
                &Value::DateTime(dt("1970-05-11 13:45:07")),
                &Value::TimeSpan(TICKS_PER_DAY)
            )),
            "1970-05-11T00:00:00.0000000Z"
        );
        // Seven-day bins start on Mondays (2024-05-06 was a Monday).
        assert_eq!(
            text(bin(
                &Value::DateTime(dt("2024-05-10T09:00:00Z")),
                &Value::TimeSpan(7 * TICKS_PER_DAY)
            )),
            "2024-05-06T00:00:00.0000000Z"
        );
        assert_eq!(text(bin(&Value::Real(4.5), &Value::Long(1))), "4");
        assert_eq!(
            text(bin(
                &Value::TimeSpan(16 * TICKS_PER_DAY),
                &Value::TimeSpan(7 * TICKS_PER_DAY)
            )),
            "14.00:00:00"
        );
        assert!(bin(&Value::Long(5), &Value::Long(-1)).is_null());
        assert_eq!(
            text(start_of(dt("2017-01-01 10:10:17"), Period::Day, -1)),
            "2016-12-31T00:00:00.0000000Z"
        );
        assert_eq!(
            datetime_diff("year", dt("2017-01-01"), dt("2000-12-31")),
            Some(17)
        );
        assert_eq!(
            datetime_diff("hour", dt("2017-10-31 01:00"), dt("2017-10-30 23:59")),
            Some(2)
        );
        assert_eq!(
            datetime_diff("week", dt("2017-10-29 00:00"), dt("2017-09-30 23:59")),
            Some(5)
        );
        assert_eq!(
            format_with(dt("2017-01-29 09:00:05"), "yy-MM-dd [HH:mm:ss]"),
            "17-01-29 [09:00:05]"
        );
        assert_eq!(
            text(call(
                Func::DayOfWeek,
                Type::TimeSpan,
                vec![Value::DateTime(dt("2024-05-12"))]
            )),
            "00:00:00"
        );
    }

    #[test]
    fn conversions() {
        assert_eq!(
            text(call(Func::ToString, Type::String, vec![Value::Null])),
            ""
        );
        assert!(matches!(
            call(Func::ToInt, Type::Int, vec![Value::Real(2.7)]),
            Value::Int(2)
        ));
        assert!(matches!(
            call(Func::ToLong, Type::Long, vec![Value::str("42")]),
            Value::Long(42)
        ));
        assert!(call(Func::ToLong, Type::Long, vec![Value::str("x")]).is_null());
        assert!(matches!(
            call(Func::ToBool, Type::Bool, vec![Value::Long(123)]),
            Value::Bool(true)
        ));
        assert!(call(Func::ParseJson, Type::Dynamic, vec![Value::str("")]).is_null());
        assert_eq!(
            text(call(
                Func::ParseJson,
                Type::Dynamic,
                vec![Value::str(r#"{"a":1}"#)]
            )),
            r#"{"a":1}"#
        );
        assert_eq!(
            text(call(
                Func::ToDateTime,
                Type::DateTime,
                vec![Value::str("2015-12-31 23:59:59.9")]
            )),
            "2015-12-31T23:59:59.9000000Z"
        );
    }

    #[test]
    fn string_functions() {
        assert_eq!(
            text(call(
                Func::StrCat,
                Type::String,
                vec![Value::str("a"), Value::Long(1), Value::Null]
            )),
            "a1"
        );
        assert_eq!(
            text(call(
                Func::Substring,
                Type::String,
                vec![Value::str("123456"), Value::Long(1)]
            )),
            "23456"
        );
        assert_eq!(
            text(call(
                Func::Substring,
                Type::String,
                vec![Value::str("123456"), Value::Long(2), Value::Long(2)]
            )),
            "34"
        );
        assert_eq!(
            text(call(
                Func::Substring,
                Type::String,
                vec![Value::str("123456"), Value::Long(-2), Value::Long(2)]
            )),
            "56"
        );
        assert_eq!(
            text(call(
                Func::Split,
                Type::Dynamic,
                vec![Value::str("a__b"), Value::str("_")]
            )),
            r#"["a","","b"]"#
        );
        assert_eq!(
            text(call(
                Func::Split,
                Type::Dynamic,
                vec![Value::str("aaa_bbb_ccc"), Value::str("_"), Value::Long(1)]
            )),
            r#"["bbb"]"#
        );
        let re = compile_regex(r"is (\d+)", Span::default()).unwrap();
        assert_eq!(
            text(call(
                Func::ReplaceRegex(re),
                Type::String,
                vec![
                    Value::str("Number is 1"),
                    Value::Null,
                    Value::str(r"was: \1")
                ]
            )),
            "Number was: 1"
        );
        let re = compile_regex(r"-(\d{2})-", Span::default()).unwrap();
        assert_eq!(
            text(call(
                Func::Extract(re),
                Type::String,
                vec![Value::Null, Value::Long(1), Value::str("15-12-2024")]
            )),
            "12"
        );
        let re = compile_regex(r"(\d+)", Span::default()).unwrap();
        assert_eq!(
            text(call(
                Func::ExtractAll(re),
                Type::Dynamic,
                vec![Value::Null, Value::str("a 123, 567")]
            )),
            r#"["123","567"]"#
        );
        assert!(matches!(
            call(
                Func::CountOf,
                Type::Long,
                vec![Value::str("aaaa"), Value::str("aa")]
            ),
            Value::Long(3)
        ));
        assert!(matches!(
            call(
                Func::IndexOf,
                Type::Long,
                vec![Value::str("abcdefg"), Value::str("cde")]
            ),
            Value::Long(2)
        ));
        assert_eq!(
            text(call(
                Func::Base64Decode,
                Type::String,
                vec![Value::str("S3VzdG8=")]
            )),
            "Kusto"
        );
        assert_eq!(
            text(call(
                Func::HashSha256,
                Type::String,
                vec![Value::str("World")]
            )),
            "78ae647dc5544d227130a0682a51e30bc7777fbb6d8a8f17007463a3ecd1d524"
        );
        let (f, _) = bind(
            "trim",
            Span::default(),
            &[lit_str(r"[^\w]+"), lit_str("x")],
            &[],
        )
        .unwrap();
        assert_eq!(
            text(call(
                f,
                Type::String,
                vec![Value::Null, Value::str("-  Te st1// $")]
            )),
            "Te st1"
        );
    }

    fn lit_str(s: &str) -> BExpr {
        BExpr {
            kind: BKind::Lit(Value::str(s)),
            ty: Type::String,
        }
    }

    #[test]
    fn conditionals_and_ipv4() {
        assert!(matches!(
            call(
                Func::Iff,
                Type::Long,
                vec![Value::Null, Value::Long(1), Value::Long(2)]
            ),
            Value::Long(2)
        ));
        assert!(matches!(
            call(
                Func::Iff,
                Type::Real,
                vec![Value::Bool(true), Value::Long(1), Value::Real(2.0)]
            ),
            Value::Real(_)
        ));
        assert!(matches!(
            call(
                Func::Coalesce,
                Type::Long,
                vec![Value::Null, Value::Long(42)]
            ),
            Value::Long(42)
        ));
        assert!(matches!(
            call(Func::IsEmpty, Type::Bool, vec![Value::str("")]),
            Value::Bool(true)
        ));
        assert!(matches!(
            call(
                Func::Ipv4IsPrivate,
                Type::Bool,
                vec![Value::str("10.1.2.3")]
            ),
            Value::Bool(true)
        ));
        assert!(matches!(
            call(
                Func::Ipv4IsPrivate,
                Type::Bool,
                vec![Value::str("127.0.0.1")]
            ),
            Value::Bool(false)
        ));
        assert!(call(Func::Ipv4IsPrivate, Type::Bool, vec![Value::str("nope")]).is_null());
        assert!(matches!(
            call(
                Func::Ipv4IsInRange,
                Type::Bool,
                vec![Value::str("192.168.1.7"), Value::str("192.168.1.0/24")]
            ),
            Value::Bool(true)
        ));
    }

    #[test]
    fn binding_checks_arity_types_and_names() {
        let e = bind("strlen", Span::default(), &[], &[]).unwrap_err();
        assert!(e.detail.contains("expects 1 argument"), "{}", e.detail);
        let e = bind("tolowr", Span::default(), &[lit_str("a")], &[]).unwrap_err();
        assert_eq!(
            e.detail,
            "Unknown function: 'tolowr'. Did you mean 'tolower'?"
        );
        let e = bind("parse_url", Span::default(), &[lit_str("a")], &[]).unwrap_err();
        assert_eq!(e.kind, super::super::error::ErrorKind::Unsupported);
        let e = bind("count", Span::default(), &[], &[]).unwrap_err();
        assert!(e.detail.contains("cannot be invoked in current context"));
        let ts = BExpr {
            kind: BKind::Lit(Value::str("x")),
            ty: Type::String,
        };
        let e = bind("ago", Span::default(), &[ts], &[]).unwrap_err();
        assert!(e.detail.contains("must be a timespan, not string"));
    }
}
