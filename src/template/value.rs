//! Typed values in the template scope: durations and datetimes that survive as themselves
//! (so a query renders them as KQL `1d` / `datetime(…)` literals), their conversions to and
//! from JSON (plain for outputs, tagged for state files), and typed parsing of `--input`
//! values and YAML defaults.
//!
//! Durations print as `1d`/`90m` and datetimes as RFC 3339 UTC (`2026-11-25T10:00:00Z`) in
//! text. Values of the same type compare and sort (`state.last_success < ago('1d')`);
//! minijinja has no operator hooks for objects, so `+`/`-` on them are errors (use `ago()`).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use minijinja::value::{DynObject, Object, ObjectRepr, Serde, ValueKind};

use super::Value;
use super::types::{ValueType, format_duration, parse_duration};

/// A value that cannot be converted, parsed or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    /// What went wrong, lowercase, no trailing period.
    pub message: String,
}

impl ValueError {
    fn new(message: impl Into<String>) -> ValueError {
        ValueError {
            message: message.into(),
        }
    }
}

/// A duration in the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct DurationValue(Duration);

impl Object for DurationValue {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "seconds" => Some(Value::from(self.0.as_secs_f64())),
            "milliseconds" => Some(Value::from(
                u64::try_from(self.0.as_millis()).unwrap_or(u64::MAX),
            )),
            _ => None,
        }
    }

    fn is_true(self: &Arc<Self>) -> bool {
        !self.0.is_zero()
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        Some(self.0.cmp(&other.downcast_ref::<Self>()?.0))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// A point in time (UTC) in the scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct DatetimeValue(DateTime<Utc>);

impl Object for DatetimeValue {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        use chrono::{Datelike, Timelike};
        let t = self.0;
        Some(match key.as_str()? {
            "year" => Value::from(t.year()),
            "month" => Value::from(t.month()),
            "day" => Value::from(t.day()),
            "hour" => Value::from(t.hour()),
            "minute" => Value::from(t.minute()),
            "second" => Value::from(t.second()),
            "timestamp" => Value::from(t.timestamp()),
            _ => return None,
        })
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        Some(self.0.cmp(&other.downcast_ref::<Self>()?.0))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_datetime(self.0))
    }
}

/// Text produced by `raw` or `kql`: inserted into a query as is. The flag says whether it
/// came from `raw`, the only filter that is verbatim in OData filters and paths too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verbatim(pub String, pub bool);

impl Object for Verbatim {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn is_true(self: &Arc<Self>) -> bool {
        !self.0.is_empty()
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<Ordering> {
        Some(self.0.cmp(&other.downcast_ref::<Self>()?.0))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The verbatim text of a `raw`/`kql` result.
pub(crate) fn as_verbatim(v: &Value) -> Option<&str> {
    v.downcast_object_ref::<Verbatim>().map(|v| v.0.as_str())
}

/// The text of a `raw` result.
pub(crate) fn as_raw(v: &Value) -> Option<&str> {
    v.downcast_object_ref::<Verbatim>()
        .filter(|v| v.1)
        .map(|v| v.0.as_str())
}

/// A duration value (prints as `1d`, `90m`; a KQL timespan in queries).
#[must_use]
pub fn duration(d: Duration) -> Value {
    Value::from_object(DurationValue(d))
}

/// A datetime value (prints as `2026-11-25T10:00:00Z`; `datetime(…)` in queries).
#[must_use]
pub fn datetime(t: DateTime<Utc>) -> Value {
    Value::from_object(DatetimeValue(t))
}

/// The duration inside a duration value.
#[must_use]
pub fn as_duration(v: &Value) -> Option<Duration> {
    v.downcast_object_ref::<DurationValue>().map(|d| d.0)
}

/// The datetime inside a datetime value.
#[must_use]
pub fn as_datetime(v: &Value) -> Option<DateTime<Utc>> {
    v.downcast_object_ref::<DatetimeValue>().map(|d| d.0)
}

/// RFC 3339 in UTC with a `Z`, with fractional seconds only when there are any.
#[must_use]
pub fn format_datetime(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parse a datetime: RFC 3339 with any offset (converted to UTC), or without an offset
/// (`2026-11-25T10:00:00`, `2026-11-25 10:00`: taken as UTC, as KQL does), or a date
/// (`2026-11-25`: midnight UTC).
///
/// # Errors
/// When the text is none of these.
pub fn parse_datetime(text: &str) -> Result<DateTime<Utc>, ValueError> {
    let s = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        && let Some(t) = d.and_hms_opt(0, 0, 0)
    {
        return Ok(t.and_utc());
    }
    Err(ValueError::new(format!(
        "`{s}` is not a datetime: use RFC 3339 (`2026-11-25T10:00:00Z`) or a date (`2026-11-25`)"
    )))
}

/// The type of a value as a playbook author would name it: `string`, `integer`, `number`,
/// `boolean`, `duration`, `datetime`, `list`, `map`, `none`, `undefined`, or `value`.
#[must_use]
pub fn type_name(v: &Value) -> &'static str {
    if as_duration(v).is_some() {
        return "duration";
    }
    if as_datetime(v).is_some() {
        return "datetime";
    }
    if as_verbatim(v).is_some() {
        return "string";
    }
    match v.kind() {
        ValueKind::Undefined => "undefined",
        ValueKind::None => "none",
        ValueKind::Bool => "boolean",
        ValueKind::Number if v.is_integer() => "integer",
        ValueKind::Number => "number",
        ValueKind::String => "string",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "map",
        _ => "value",
    }
}

/// The type of a value with an article, for messages: `an integer`, `a list`, `none`.
#[must_use]
pub fn describe(v: &Value) -> String {
    match type_name(v) {
        "none" => "none".to_string(),
        name @ ("integer" | "undefined") => format!("an {name}"),
        name => format!("a {name}"),
    }
}

/// A value as plain JSON, for outputs and API bodies: durations and datetimes become their
/// text (`"1d"`, `"2026-11-25T10:00:00Z"`), non-finite floats `null`.
///
/// # Errors
/// For values JSON cannot hold (functions, macros, undefined).
pub fn to_json(v: &Value) -> Result<serde_json::Value, ValueError> {
    convert(v, false)
}

/// A value as JSON that keeps its types, for state files: durations are
/// `{"$duration": "1d"}`, datetimes `{"$datetime": "2026-11-25T10:00:00Z"}`, and a map whose
/// only key is one of those tags is wrapped as `{"$map": {…}}`. [`from_typed_json`] reverses it.
///
/// # Errors
/// As [`to_json`].
pub fn to_typed_json(v: &Value) -> Result<serde_json::Value, ValueError> {
    convert(v, true)
}

const TAG_DURATION: &str = "$duration";
const TAG_DATETIME: &str = "$datetime";
const TAG_MAP: &str = "$map";

fn tagged(tag: &str, text: String) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert(tag.to_string(), serde_json::Value::String(text));
    serde_json::Value::Object(m)
}

fn convert(v: &Value, typed: bool) -> Result<serde_json::Value, ValueError> {
    use serde_json::Value as J;
    if let Some(d) = as_duration(v) {
        let text = format_duration(d);
        return Ok(if typed {
            tagged(TAG_DURATION, text)
        } else {
            J::String(text)
        });
    }
    if let Some(t) = as_datetime(v) {
        let text = format_datetime(t);
        return Ok(if typed {
            tagged(TAG_DATETIME, text)
        } else {
            J::String(text)
        });
    }
    if let Some(text) = as_verbatim(v) {
        return Ok(J::String(text.to_string()));
    }
    match v.kind() {
        ValueKind::None => Ok(J::Null),
        ValueKind::Undefined => Err(ValueError::new("an undefined value cannot be written")),
        ValueKind::Bool => Ok(J::Bool(v.is_true())),
        ValueKind::Number => serde_json::to_value(v)
            .map_err(|e| ValueError::new(format!("number {v} cannot be written as JSON: {e}"))),
        ValueKind::String | ValueKind::Bytes => Ok(J::String(
            v.as_str().map_or_else(|| v.to_string(), str::to_string),
        )),
        ValueKind::Seq | ValueKind::Iterable => {
            let items = v
                .try_iter()
                .map_err(|e| ValueError::new(format!("cannot iterate a list: {e}")))?;
            items
                .map(|item| convert(&item, typed))
                .collect::<Result<Vec<_>, _>>()
                .map(J::Array)
        }
        ValueKind::Map => {
            let mut out = serde_json::Map::new();
            let keys = v
                .try_iter()
                .map_err(|e| ValueError::new(format!("cannot iterate a map: {e}")))?;
            for key in keys {
                let item = v.get_item(&key).unwrap_or_default();
                let key = key.as_str().map_or_else(|| key.to_string(), str::to_string);
                out.insert(key, convert(&item, typed)?);
            }
            let ambiguous = typed
                && out.len() == 1
                && out
                    .keys()
                    .all(|k| k == TAG_DURATION || k == TAG_DATETIME || k == TAG_MAP);
            if ambiguous {
                let mut wrapper = serde_json::Map::new();
                wrapper.insert(TAG_MAP.to_string(), J::Object(out));
                return Ok(J::Object(wrapper));
            }
            Ok(J::Object(out))
        }
        _ => Err(ValueError::new(format!(
            "{} cannot be written as data",
            describe(v)
        ))),
    }
}

/// Plain JSON as a template value (strings stay strings).
#[must_use]
pub fn from_json(j: &serde_json::Value) -> Value {
    Value::from(Serde(j))
}

/// JSON written by [`to_typed_json`] back into typed values.
///
/// # Errors
/// When a `$duration` or `$datetime` tag holds something that does not parse.
pub fn from_typed_json(j: &serde_json::Value) -> Result<Value, ValueError> {
    use serde_json::Value as J;
    match j {
        J::Array(items) => items
            .iter()
            .map(from_typed_json)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::from),
        J::Object(map) => {
            if map.len() == 1
                && let Some((tag, inner)) = map.iter().next()
            {
                match (tag.as_str(), inner) {
                    (TAG_DURATION, J::String(s)) => {
                        return parse_duration(s).map(duration).map_err(|e| {
                            ValueError::new(format!("bad `{TAG_DURATION}` in state: {e}"))
                        });
                    }
                    (TAG_DATETIME, J::String(s)) => {
                        return parse_datetime(s).map(datetime).map_err(|e| {
                            ValueError::new(format!("bad `{TAG_DATETIME}` in state: {e}"))
                        });
                    }
                    (TAG_MAP, J::Object(inner)) => return typed_map(inner),
                    _ => {}
                }
            }
            typed_map(map)
        }
        other => Ok(Value::from(Serde(other))),
    }
}

fn typed_map(map: &serde_json::Map<String, serde_json::Value>) -> Result<Value, ValueError> {
    let mut pairs = Vec::with_capacity(map.len());
    for (k, v) in map {
        pairs.push((k.clone(), from_typed_json(v)?));
    }
    Ok(Value::from_pairs(pairs))
}

/// A typed input value: a playbook's `default:`/`enum:` entry or an `--input` argument,
/// parsed by [`InputValue::parse`] — the one parser `huntbook run`, `huntbook plan` and the
/// validation of defaults share.
#[derive(Debug, Clone, PartialEq)]
pub enum InputValue {
    String(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
    Duration(Duration),
    Datetime(DateTime<Utc>),
    List(Vec<serde_json::Value>),
}

impl InputValue {
    /// Parse an `--input name=value` text as the declared type (`docs/templates.md`, Inputs).
    ///
    /// - `integer`: a whole number (`-3`, `42`); `number`: any finite number (`0.5`, `1e3`);
    /// - `boolean`: `true`/`false`/`yes`/`no`, any case;
    /// - `duration`: `30s`, `15m`, `2h`, `1d`, `1h30m`;
    /// - `datetime`: see [`parse_datetime`];
    /// - `list`: a JSON array (`["a", 1]`), or comma-separated strings (`a, b`), items trimmed
    ///   and empty items dropped (so an empty text is an empty list);
    /// - `string`: the text as is.
    ///
    /// # Errors
    /// When the text is not of the type; the message says what was expected.
    pub fn parse(ty: ValueType, text: &str) -> Result<InputValue, ValueError> {
        let s = text.trim();
        match ty {
            ValueType::String => Ok(InputValue::String(text.to_string())),
            ValueType::Integer => s
                .parse::<i64>()
                .map(InputValue::Integer)
                .map_err(|_| ValueError::new(format!("expected an integer, got `{s}`"))),
            ValueType::Number => match s.parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(InputValue::Number(n)),
                _ => Err(ValueError::new(format!("expected a number, got `{s}`"))),
            },
            ValueType::Boolean => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" => Ok(InputValue::Boolean(true)),
                "false" | "no" => Ok(InputValue::Boolean(false)),
                _ => Err(ValueError::new(format!(
                    "expected a boolean (`true`, `false`, `yes`, `no`), got `{s}`"
                ))),
            },
            ValueType::Duration => parse_duration(s)
                .map(InputValue::Duration)
                .map_err(|e| ValueError::new(e.message)),
            ValueType::Datetime => parse_datetime(s).map(InputValue::Datetime),
            ValueType::List => {
                if s.starts_with('[') {
                    return match serde_json::from_str::<serde_json::Value>(s) {
                        Ok(serde_json::Value::Array(items)) => Ok(InputValue::List(items)),
                        Ok(_) => Err(ValueError::new("expected a JSON array")),
                        Err(e) => Err(ValueError::new(format!("expected a JSON array: {e}"))),
                    };
                }
                Ok(InputValue::List(
                    s.split(',')
                        .map(str::trim)
                        .filter(|item| !item.is_empty())
                        .map(|item| serde_json::Value::String(item.to_string()))
                        .collect(),
                ))
            }
        }
    }

    /// The value in the template scope: durations and datetimes stay typed, so a query
    /// renders them as KQL `1d` and `datetime(…)` literals.
    #[must_use]
    pub fn to_value(&self) -> Value {
        match self {
            InputValue::Duration(d) => duration(*d),
            InputValue::Datetime(t) => datetime(*t),
            other => from_json(&other.to_json()),
        }
    }

    /// The value as plain JSON, as [`to_json`] writes it (durations in their huntbook
    /// spelling, datetimes as RFC 3339 UTC).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            InputValue::String(s) => J::String(s.clone()),
            InputValue::Integer(i) => J::from(*i),
            InputValue::Number(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            InputValue::Boolean(b) => J::Bool(*b),
            InputValue::Duration(d) => J::String(format_duration(*d)),
            InputValue::Datetime(t) => J::String(format_datetime(*t)),
            InputValue::List(items) => J::Array(items.clone()),
        }
    }

    /// The value's type.
    #[must_use]
    pub fn value_type(&self) -> ValueType {
        match self {
            InputValue::String(_) => ValueType::String,
            InputValue::Integer(_) => ValueType::Integer,
            InputValue::Number(_) => ValueType::Number,
            InputValue::Boolean(_) => ValueType::Boolean,
            InputValue::Duration(_) => ValueType::Duration,
            InputValue::Datetime(_) => ValueType::Datetime,
            InputValue::List(_) => ValueType::List,
        }
    }
}

impl fmt::Display for InputValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_json() {
            serde_json::Value::String(s) => f.write_str(&s),
            other => write!(f, "{other}"),
        }
    }
}

/// Parse an `--input name=value` text as the declared type, into a scope value: the rules of
/// [`InputValue::parse`].
///
/// # Errors
/// When the text is not of the type; the message says what was expected.
pub fn parse_input(ty: ValueType, text: &str) -> Result<Value, ValueError> {
    InputValue::parse(ty, text).map(|v| v.to_value())
}

/// Check a YAML `default:` (as JSON) against the declared type and make it a typed value.
/// A string is parsed as [`parse_input`] would (so `default: 1d` and `default: "5"` work);
/// otherwise the JSON type must match: an integer for `integer`, any number for `number`, a
/// boolean for `boolean`, an array for `list`. A `string` input does not take a number or a
/// boolean: quote it.
///
/// # Errors
/// When the default is not of the type.
pub fn check_default(ty: ValueType, default: &serde_json::Value) -> Result<Value, ValueError> {
    use serde_json::Value as J;
    let got = match default {
        J::String(s) => return parse_input(ty, s),
        J::Null => "null",
        J::Bool(_) => "a boolean",
        J::Number(n) if n.is_f64() => "a number",
        J::Number(_) => "an integer",
        J::Array(_) => "a list",
        J::Object(_) => "a map",
    };
    let ok = match (ty, default) {
        (ValueType::Integer, J::Number(n)) => n.is_i64() || n.is_u64(),
        (ValueType::Number, J::Number(_))
        | (ValueType::Boolean, J::Bool(_))
        | (ValueType::List, J::Array(_)) => true,
        _ => false,
    };
    if ok {
        return Ok(from_json(default));
    }
    let hint = match ty {
        ValueType::String => " (quote it to make it a string)",
        ValueType::Duration => " (write it like `30s`, `15m`, `1d`)",
        ValueType::Datetime => " (write it like `2026-11-25T10:00:00Z`)",
        _ => "",
    };
    Err(ValueError::new(format!(
        "expected {} {ty}, got {got}{hint}",
        if ty == ValueType::Integer { "an" } else { "a" }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    #[test]
    fn typed_values_print_naturally_and_round_trip() {
        let d = duration(Duration::from_secs(86_400));
        assert_eq!(d.to_string(), "1d");
        assert_eq!(as_duration(&d), Some(Duration::from_secs(86_400)));
        let dt = datetime(t(2026, 11, 25, 10, 0, 0));
        assert_eq!(dt.to_string(), "2026-11-25T10:00:00Z");
        assert_eq!(as_datetime(&dt), Some(t(2026, 11, 25, 10, 0, 0)));
        assert_eq!(as_duration(&dt), None);
        assert_eq!(as_datetime(&Value::from("2026-11-25T10:00:00Z")), None);
        let precise = t(2026, 11, 25, 10, 0, 0) + chrono::Duration::milliseconds(250);
        assert_eq!(datetime(precise).to_string(), "2026-11-25T10:00:00.250Z");
    }

    #[test]
    fn typed_values_compare_within_their_type() {
        let early = datetime(t(2026, 1, 1, 0, 0, 0));
        let late = datetime(t(2026, 6, 1, 0, 0, 0));
        assert!(early < late);
        assert_eq!(early, datetime(t(2026, 1, 1, 0, 0, 0)));
        assert!(duration(Duration::from_secs(60)) < duration(Duration::from_secs(3600)));
        assert_ne!(early, Value::from("2026-01-01T00:00:00Z"));
        assert!(!duration(Duration::ZERO).is_true());
    }

    #[test]
    fn plain_json_writes_text_typed_json_keeps_types() {
        let v = Value::from_pairs([
            ("since", datetime(t(2026, 11, 25, 10, 0, 0))),
            ("window", duration(Duration::from_secs(5400))),
            ("n", Value::from(3)),
            ("xs", Value::from(vec![Value::from("a"), Value::from(1.5)])),
        ]);
        assert_eq!(
            to_json(&v).unwrap(),
            serde_json::json!({"since": "2026-11-25T10:00:00Z", "window": "90m", "n": 3, "xs": ["a", 1.5]})
        );
        let typed = to_typed_json(&v).unwrap();
        assert_eq!(
            typed,
            serde_json::json!({
                "since": {"$datetime": "2026-11-25T10:00:00Z"},
                "window": {"$duration": "90m"},
                "n": 3,
                "xs": ["a", 1.5],
            })
        );
        let back = from_typed_json(&typed).unwrap();
        assert_eq!(
            as_datetime(&back.get_attr("since").unwrap()),
            Some(t(2026, 11, 25, 10, 0, 0))
        );
        assert_eq!(
            as_duration(&back.get_attr("window").unwrap()),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(back.get_attr("n").unwrap(), Value::from(3));
    }

    #[test]
    fn a_user_map_that_looks_like_a_tag_survives_the_state_file() {
        let v = Value::from_pairs([("$datetime", Value::from("not a date"))]);
        let typed = to_typed_json(&v).unwrap();
        assert_eq!(
            typed,
            serde_json::json!({"$map": {"$datetime": "not a date"}})
        );
        let back = from_typed_json(&typed).unwrap();
        assert_eq!(
            back.get_attr("$datetime").unwrap(),
            Value::from("not a date")
        );
        assert!(from_typed_json(&serde_json::json!({"$duration": "1w"})).is_err());
    }

    #[test]
    fn parses_inputs_by_type() {
        assert_eq!(
            parse_input(ValueType::Integer, " 42 ").unwrap(),
            Value::from(42)
        );
        assert!(parse_input(ValueType::Integer, "4.2").is_err());
        assert_eq!(
            parse_input(ValueType::Number, "1e3").unwrap(),
            Value::from(1000.0)
        );
        assert!(parse_input(ValueType::Number, "nan").is_err());
        assert_eq!(
            parse_input(ValueType::Boolean, "Yes").unwrap(),
            Value::from(true)
        );
        assert_eq!(
            parse_input(ValueType::Boolean, "false").unwrap(),
            Value::from(false)
        );
        let e = parse_input(ValueType::Boolean, "maybe").unwrap_err();
        assert_eq!(
            e.message,
            "expected a boolean (`true`, `false`, `yes`, `no`), got `maybe`"
        );
        let d = parse_input(ValueType::Duration, "1h30m").unwrap();
        assert_eq!(as_duration(&d), Some(Duration::from_secs(5400)));
        assert!(parse_input(ValueType::Duration, "1w").is_err());
        let dt = parse_input(ValueType::Datetime, "2026-11-25").unwrap();
        assert_eq!(as_datetime(&dt), Some(t(2026, 11, 25, 0, 0, 0)));
        let dt = parse_input(ValueType::Datetime, "2026-11-25T12:00:00+02:00").unwrap();
        assert_eq!(as_datetime(&dt), Some(t(2026, 11, 25, 10, 0, 0)));
        assert!(parse_input(ValueType::Datetime, "yesterday").is_err());
        let list = parse_input(ValueType::List, "a, b,,c ").unwrap();
        assert_eq!(to_json(&list).unwrap(), serde_json::json!(["a", "b", "c"]));
        let list = parse_input(ValueType::List, r#"["a, b", 2]"#).unwrap();
        assert_eq!(to_json(&list).unwrap(), serde_json::json!(["a, b", 2]));
        assert_eq!(
            to_json(&parse_input(ValueType::List, "").unwrap()).unwrap(),
            serde_json::json!([])
        );
        assert!(parse_input(ValueType::List, "[1,").is_err());
        assert_eq!(
            parse_input(ValueType::String, " x ").unwrap(),
            Value::from(" x ")
        );
    }

    #[test]
    fn cli_input_values_parse_by_type() {
        assert_eq!(
            InputValue::parse(ValueType::Integer, "42"),
            Ok(InputValue::Integer(42))
        );
        assert!(InputValue::parse(ValueType::Integer, "4x").is_err());
        assert_eq!(
            InputValue::parse(ValueType::Duration, "90m"),
            Ok(InputValue::Duration(Duration::from_secs(5400)))
        );
        assert_eq!(
            InputValue::parse(ValueType::Boolean, "yes"),
            Ok(InputValue::Boolean(true))
        );
        assert!(InputValue::parse(ValueType::Boolean, "1").is_err());
        assert_eq!(
            InputValue::parse(ValueType::List, "a,,b,"),
            Ok(InputValue::List(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            InputValue::parse(ValueType::List, "a, b"),
            Ok(InputValue::List(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            InputValue::parse(ValueType::List, "[1, 2]"),
            Ok(InputValue::List(vec![1.into(), 2.into()]))
        );
        let dt = InputValue::parse(ValueType::Datetime, "2026-11-25").unwrap();
        assert_eq!(dt.to_json(), serde_json::json!("2026-11-25T00:00:00Z"));
        assert!(InputValue::parse(ValueType::Datetime, "yesterday").is_err());
    }

    #[test]
    fn durations_print_in_playbook_spelling() {
        assert_eq!(
            InputValue::Duration(Duration::from_secs(86_400)).to_string(),
            "1d"
        );
    }

    #[test]
    fn checks_yaml_defaults_against_the_type() {
        use serde_json::json;
        let d = check_default(ValueType::Duration, &json!("1d")).unwrap();
        assert_eq!(as_duration(&d), Some(Duration::from_secs(86_400)));
        assert_eq!(
            check_default(ValueType::Integer, &json!(5)).unwrap(),
            Value::from(5)
        );
        assert_eq!(
            check_default(ValueType::Integer, &json!("5")).unwrap(),
            Value::from(5)
        );
        assert_eq!(
            check_default(ValueType::Integer, &json!(1.5))
                .unwrap_err()
                .message,
            "expected an integer, got a number"
        );
        assert_eq!(
            check_default(ValueType::String, &json!(123))
                .unwrap_err()
                .message,
            "expected a string, got an integer (quote it to make it a string)"
        );
        assert_eq!(
            check_default(ValueType::Duration, &json!(30))
                .unwrap_err()
                .message,
            "expected a duration, got an integer (write it like `30s`, `15m`, `1d`)"
        );
        assert!(check_default(ValueType::List, &json!(["a"])).is_ok());
        assert!(check_default(ValueType::Boolean, &json!(true)).is_ok());
        assert!(check_default(ValueType::Number, &json!(2)).is_ok());
    }

    #[test]
    fn type_names_for_messages() {
        assert_eq!(type_name(&duration(Duration::from_secs(1))), "duration");
        assert_eq!(type_name(&datetime(t(2026, 1, 1, 0, 0, 0))), "datetime");
        assert_eq!(type_name(&Value::from(1)), "integer");
        assert_eq!(type_name(&Value::from(1.5)), "number");
        assert_eq!(type_name(&Value::from(vec![1])), "list");
        assert_eq!(type_name(&Value::from(())), "none");
    }
}
