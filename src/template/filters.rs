//! huntbook's filters and functions, registered on every [`Engine`](super::Engine):
//! `jsonpath`, `kql`, `raw`, `date`, `duration`, `datetime` and `tojson` (replacing
//! minijinja's, which HTML-escapes), and the functions `ago()` and `now()`, which read the
//! engine's frozen "now" so one run sees one time.

use std::fmt::Write;
use std::time::Duration;

use chrono::format::StrftimeItems;
use chrono::{DateTime, Utc};
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Value};

use super::kql;
use super::types::parse_duration;
use super::value::{
    self, Verbatim, as_datetime, as_duration, as_verbatim, describe, parse_datetime,
};
use crate::rows::{FilterOutput, RowFilter};

/// Names of the filters huntbook adds to (or replaces in) minijinja's built-ins.
pub const FILTERS: &[&str] = &[
    "jsonpath", "kql", "raw", "date", "duration", "datetime", "tojson",
];
/// Names of the functions huntbook adds.
pub const FUNCTIONS: &[&str] = &["ago", "now"];

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

/// How a value prints in text (templates that are not queries, `raw`, `render_string`):
/// booleans as `true`/`false` (as YAML, JSON and KQL write them), none as nothing, typed
/// values naturally (`1d`, `2026-11-25T10:00:00Z`), everything else as minijinja prints it.
pub(crate) fn text_of(v: &Value) -> String {
    if let Some(text) = as_verbatim(v) {
        return text.to_string();
    }
    match v.kind() {
        ValueKind::None | ValueKind::Undefined => String::new(),
        ValueKind::Bool => if v.is_true() { "true" } else { "false" }.to_string(),
        _ => v.to_string(),
    }
}

/// Strict undefined, for filter inputs: minijinja passes an undefined value to a filter
/// that takes any `Value` without complaint, so each huntbook filter checks.
fn defined(v: &Value, what: &str) -> Result<(), Error> {
    if v.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            format!("undefined value passed to `{what}`"),
        ));
    }
    Ok(())
}

/// Register every huntbook filter and function; `now` is the engine's frozen time.
pub(crate) fn register(env: &mut Environment<'static>, now: DateTime<Utc>) {
    env.add_filter("raw", |v: Value| -> Result<Value, Error> {
        defined(&v, "raw")?;
        Ok(Value::from_object(Verbatim(text_of(&v), true)))
    });
    env.add_filter("kql", |v: Value| -> Result<Value, Error> {
        defined(&v, "kql")?;
        kql::literal(&v)
            .map(|text| Value::from_object(Verbatim(text, false)))
            .map_err(|e| invalid(format!("`kql`: {e}")))
    });
    // Private: wraps query placeholders written inside parentheses (see `Rewrite`).
    env.add_filter("_kql_items", |v: Value| -> Result<Value, Error> {
        defined(&v, "query")?;
        kql::items_literal(&v)
            .map(|text| Value::from_object(Verbatim(text, false)))
            .map_err(|e| invalid(e.message))
    });
    env.add_filter("jsonpath", jsonpath);
    env.add_filter("date", date);
    env.add_filter("duration", |v: Value| -> Result<Value, Error> {
        defined(&v, "duration")?;
        to_duration(&v).map(value::duration)
    });
    env.add_filter("datetime", |v: Value| -> Result<Value, Error> {
        defined(&v, "datetime")?;
        to_datetime(&v).map(value::datetime)
    });
    env.add_filter("tojson", tojson);
    register_clock(env, now);
}

/// (Re-)register `now()` and `ago()` for a frozen time.
pub(crate) fn register_clock(env: &mut Environment<'static>, now: DateTime<Utc>) {
    env.add_function("now", move || value::datetime(now));
    env.add_function("ago", move |d: Value| -> Result<Value, Error> {
        defined(&d, "ago")?;
        let d = to_duration(&d).map_err(|e| invalid(format!("`ago`: {}", detail(&e))))?;
        ago(now, d).map(value::datetime)
    });
}

fn detail(e: &Error) -> String {
    e.detail().unwrap_or("invalid argument").to_string()
}

/// `now - d`, or an error when that is before year 1.
fn ago(now: DateTime<Utc>, d: Duration) -> Result<DateTime<Utc>, Error> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| invalid("`ago`: the duration reaches before year 1".to_string()))
}

/// A duration value, or a string in duration syntax.
fn to_duration(v: &Value) -> Result<Duration, Error> {
    if let Some(d) = as_duration(v) {
        return Ok(d);
    }
    match v.as_str() {
        Some(s) => parse_duration(s).map_err(|e| invalid(e.message)),
        None => Err(invalid(format!(
            "expected a duration like `1d` or `90m`, got {}",
            describe(v)
        ))),
    }
}

/// A datetime value, an RFC 3339 string (or a date), or Unix seconds.
fn to_datetime(v: &Value) -> Result<DateTime<Utc>, Error> {
    if let Some(t) = as_datetime(v) {
        return Ok(t);
    }
    if let Some(s) = v.as_str() {
        return parse_datetime(s).map_err(|e| invalid(e.message));
    }
    if v.is_integer()
        && let Ok(secs) = i64::try_from(v.clone())
        && let Some(t) = DateTime::from_timestamp(secs, 0)
    {
        return Ok(t);
    }
    Err(invalid(format!(
        "expected a datetime (or an RFC 3339 string), got {}",
        describe(v)
    )))
}

/// Check a strftime format without formatting anything (chrono panics when a bad format is
/// displayed with `to_string`).
pub(crate) fn check_date_format(format: &str) -> Result<(), String> {
    StrftimeItems::new(format)
        .parse()
        .map(|_| ())
        .map_err(|_| format!("`{format}` is not a valid date format (strftime, e.g. `%Y-%m-%d`)"))
}

/// `date(fmt)`: strftime on a datetime or an RFC 3339 string; `%Y-%m-%d` by default.
fn date(v: Value, format: Option<String>) -> Result<Value, Error> {
    defined(&v, "date")?;
    let t = to_datetime(&v).map_err(|e| invalid(format!("`date`: {}", detail(&e))))?;
    let format = format.unwrap_or_else(|| "%Y-%m-%d".to_string());
    let items = StrftimeItems::new(&format)
        .parse()
        .map_err(|_| invalid(check_date_format(&format).err().unwrap_or_default()))?;
    let mut out = String::new();
    write!(out, "{}", t.format_with_items(items.iter()))
        .map_err(|_| invalid(format!("`date`: cannot format with `{format}`")))?;
    Ok(Value::from(out))
}

/// Check a JSONPath at compile time through [`crate::jsonpath`], the project's one JSONPath
/// front end: the error names the byte offset inside the path.
pub(crate) fn check_jsonpath(path: &str) -> Result<(), (String, usize)> {
    crate::jsonpath::JsonPath::compile(path)
        .map(|_| ())
        .map_err(|e| {
            (
                format!("invalid JSONPath `{path}`: {}", e.message),
                e.offset,
            )
        })
}

/// `jsonpath(path)`: RFC 9535 query over the value; the list of matches. The code path of a
/// `filter` step ([`RowFilter::apply_value`]): hunting rows take the row filter (the fast
/// path when the query allows, never the whole result as JSON) and whole-row matches stay
/// rows; any other value is queried as JSON.
fn jsonpath(v: Value, path: String) -> Result<Value, Error> {
    defined(&v, "jsonpath")?;
    let filter = RowFilter::compile(&path).map_err(|e| {
        invalid(format!(
            "`jsonpath`: invalid JSONPath `{path}` at column {}: {}",
            e.column, e.message
        ))
    })?;
    filter
        .apply_value(&v)
        .map(FilterOutput::into_value)
        .map_err(|e| invalid(format!("`jsonpath`: {e}")))
}

/// `tojson`: plain JSON (no HTML escaping), typed values as their text; `indent` (a number
/// or `true` for 2) pretty-prints.
fn tojson(v: Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(&v, "tojson")?;
    let indent = match indent {
        Some(i) => Some(i),
        None => kwargs.get::<Option<Value>>("indent")?,
    };
    kwargs.assert_all_used()?;
    let json = value::to_json(&v).map_err(|e| invalid(format!("`tojson`: {e}")))?;
    let width = match indent {
        None => None,
        Some(i) if i.kind() == ValueKind::Bool => i.is_true().then_some(2),
        Some(i) => Some(
            usize::try_from(i.clone())
                .map_err(|_| invalid(format!("`tojson`: indent must be a number, got {i}")))?,
        ),
    };
    let text = match width {
        None => serde_json::to_string(&json),
        Some(width) => {
            let pad = " ".repeat(width);
            let formatter = serde_json::ser::PrettyFormatter::with_indent(pad.as_bytes());
            let mut buf = Vec::new();
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
            serde::Serialize::serialize(&json, &mut ser)
                .map(|()| String::from_utf8_lossy(&buf).into_owned())
        }
    }
    .map_err(|e| invalid(format!("`tojson`: {e}")))?;
    Ok(Value::from(text))
}
