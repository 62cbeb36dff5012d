//! Scalar types and values of the KQL engine, with the literal formats Kusto reads and prints:
//! datetimes as 100-ns ticks since 0001-01-01 (so `bin(…, 7d)` aligns on Mondays, as the engine
//! does), timespans as ticks, and strings that are never null (§0.2 of the KQL reference).

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// 100-nanosecond ticks in a microsecond.
pub const TICKS_PER_MICROSECOND: i64 = 10;
/// Ticks in a millisecond.
pub const TICKS_PER_MILLISECOND: i64 = 10_000;
/// Ticks in a second.
pub const TICKS_PER_SECOND: i64 = 10_000_000;
/// Ticks in a minute.
pub const TICKS_PER_MINUTE: i64 = 60 * TICKS_PER_SECOND;
/// Ticks in an hour.
pub const TICKS_PER_HOUR: i64 = 60 * TICKS_PER_MINUTE;
/// Ticks in a day.
pub const TICKS_PER_DAY: i64 = 24 * TICKS_PER_HOUR;
/// Ticks from 0001-01-01 to 1970-01-01.
pub const UNIX_EPOCH_TICKS: i64 = 621_355_968_000_000_000;
/// The last representable instant, 9999-12-31T23:59:59.9999999Z.
pub const MAX_DATETIME_TICKS: i64 = 3_155_378_975_999_999_999;

/// A KQL scalar type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    /// 32-bit integer.
    Int,
    /// 64-bit integer.
    Long,
    /// 64-bit floating point.
    Real,
    DateTime,
    TimeSpan,
    String,
    Dynamic,
}

impl Type {
    /// The KQL spelling (`datetime`, `long`, …).
    #[must_use]
    pub fn kql_name(self) -> &'static str {
        match self {
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Long => "long",
            Type::Real => "real",
            Type::DateTime => "datetime",
            Type::TimeSpan => "timespan",
            Type::String => "string",
            Type::Dynamic => "dynamic",
        }
    }

    /// The name the hunting APIs print in `Schema[].Type` (the .NET type names).
    #[must_use]
    pub fn api_name(self) -> &'static str {
        match self {
            Type::Bool => "Boolean",
            Type::Int => "Int32",
            Type::Long => "Int64",
            Type::Real => "Double",
            Type::DateTime => "DateTime",
            Type::TimeSpan => "TimeSpan",
            Type::String => "String",
            Type::Dynamic => "Object",
        }
    }

    /// A KQL type name or alias.
    #[must_use]
    pub fn from_kql_name(name: &str) -> Option<Type> {
        Some(match name {
            "bool" | "boolean" => Type::Bool,
            "int" | "int32" => Type::Int,
            "long" | "int64" => Type::Long,
            "real" | "double" => Type::Real,
            "datetime" | "date" => Type::DateTime,
            "timespan" | "time" => Type::TimeSpan,
            "string" => Type::String,
            "dynamic" => Type::Dynamic,
            _ => return None,
        })
    }

    /// `int`, `long` or `real`.
    #[must_use]
    pub fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Long | Type::Real)
    }

    /// The null of this type (`""` for strings, which have no null).
    #[must_use]
    pub fn null_value(self) -> Value {
        if self == Type::String {
            Value::empty_string()
        } else {
            Value::Null
        }
    }
}

/// A KQL scalar value. The static type lives in the schema; `Null` is the null of any type
/// except `string`, whose missing value is `Str("")`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Real(f64),
    /// Ticks since 0001-01-01T00:00:00Z.
    DateTime(i64),
    /// Ticks.
    TimeSpan(i64),
    Str(Arc<str>),
    Dynamic(Arc<serde_json::Value>),
}

/// A shared null, for accessors that hand out references.
pub static NULL: Value = Value::Null;

impl Value {
    /// `""`.
    #[must_use]
    pub fn empty_string() -> Value {
        Value::Str(Arc::from(""))
    }

    /// A string value.
    #[must_use]
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    /// A dynamic value; JSON `null` becomes the dynamic null.
    #[must_use]
    pub fn dynamic(v: serde_json::Value) -> Value {
        if v.is_null() {
            Value::Null
        } else {
            Value::Dynamic(Arc::new(v))
        }
    }

    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The boolean, when this is a `bool` (null and other types: `None`).
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Dynamic(d) => d.as_bool(),
            _ => None,
        }
    }

    /// An integer view of `int`/`long` (and integral dynamic numbers).
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(i64::from(*i)),
            Value::Long(l) => Some(*l),
            Value::Dynamic(d) => d.as_i64(),
            _ => None,
        }
    }

    /// A floating view of any number.
    #[must_use]
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(f64::from(*i)),
            Value::Long(l) => Some(*l as f64),
            Value::Real(r) => Some(*r),
            Value::Dynamic(d) => d.as_f64(),
            _ => None,
        }
    }

    /// The text of a string value (or of a dynamic string).
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Dynamic(d) => d.as_str(),
            _ => None,
        }
    }

    /// `tostring()` semantics: null is `""`, a dynamic string is its raw text, other dynamic
    /// values are compact JSON.
    #[must_use]
    pub fn to_kql_string(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Long(l) => l.to_string(),
            Value::Real(r) => format_real(*r),
            Value::DateTime(t) => format_datetime(*t),
            Value::TimeSpan(t) => format_timespan(*t),
            Value::Str(s) => s.to_string(),
            Value::Dynamic(d) => match d.as_ref() {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        }
    }

    /// The value as JSON, the way the hunting APIs serialise result cells.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Long(l) => serde_json::Value::from(*l),
            Value::Real(r) => serde_json::Number::from_f64(*r)
                .map_or_else(|| serde_json::Value::String(format_real(*r)), Into::into),
            Value::DateTime(t) => serde_json::Value::String(format_datetime(*t)),
            Value::TimeSpan(t) => serde_json::Value::String(format_timespan(*t)),
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::Dynamic(d) => d.as_ref().clone(),
        }
    }

    /// Append the JSON form of the value to `out` (the fast path of the response writer).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Int(i) => write_int(out, i64::from(*i)),
            Value::Long(l) => write_int(out, *l),
            Value::Real(r) => {
                if r.is_finite() {
                    let mut s = String::new();
                    let _ = write!(s, "{r}");
                    out.extend_from_slice(s.as_bytes());
                } else {
                    write_json_str(out, &format_real(*r));
                }
            }
            Value::DateTime(t) => {
                out.push(b'"');
                push_datetime(out, *t);
                out.push(b'"');
            }
            Value::TimeSpan(t) => write_json_str(out, &format_timespan(*t)),
            Value::Str(s) => write_json_str(out, s),
            Value::Dynamic(d) => {
                let _ = serde_json::to_writer(&mut *out, d.as_ref());
            }
        }
    }
}

fn write_int(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Append `s` as a JSON string literal, escaping quotes, backslashes and control characters.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Reals print like Kusto's: shortest round-trip digits, `NaN`, `Infinity`, `-Infinity`.
#[must_use]
pub fn format_real(r: f64) -> String {
    if r.is_nan() {
        "NaN".to_string()
    } else if r.is_infinite() {
        if r > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        format!("{r}")
    }
}

/// Ticks of a chrono instant.
#[must_use]
pub fn ticks_from_chrono(t: DateTime<Utc>) -> i64 {
    UNIX_EPOCH_TICKS
        .saturating_add(t.timestamp().saturating_mul(TICKS_PER_SECOND))
        .saturating_add(i64::from(t.timestamp_subsec_nanos() / 100))
}

/// The chrono instant of `ticks` (`None` outside chrono's range).
#[must_use]
pub fn chrono_from_ticks(ticks: i64) -> Option<DateTime<Utc>> {
    let rel = ticks.checked_sub(UNIX_EPOCH_TICKS)?;
    let secs = rel.div_euclid(TICKS_PER_SECOND);
    let nanos = (rel.rem_euclid(TICKS_PER_SECOND) * 100) as u32;
    DateTime::from_timestamp(secs, nanos)
}

/// Whether `ticks` is a representable datetime (0001-01-01 … 9999-12-31).
#[must_use]
pub fn datetime_in_range(ticks: i64) -> bool {
    (0..=MAX_DATETIME_TICKS).contains(&ticks)
}

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Broken-down UTC fields of a tick count: (year, month, day, hour, minute, second, ticks of
/// the second).
#[must_use]
pub fn datetime_fields(ticks: i64) -> (i64, u32, u32, u32, u32, u32, i64) {
    let rel = ticks - UNIX_EPOCH_TICKS;
    let days = rel.div_euclid(TICKS_PER_DAY);
    let in_day = rel.rem_euclid(TICKS_PER_DAY);
    let (y, mo, d) = civil_from_days(days);
    let secs = in_day / TICKS_PER_SECOND;
    let frac = in_day % TICKS_PER_SECOND;
    (
        y,
        mo,
        d,
        (secs / 3600) as u32,
        ((secs / 60) % 60) as u32,
        (secs % 60) as u32,
        frac,
    )
}

fn push_digits(out: &mut Vec<u8>, v: i64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    while n > 0 && i > 0 {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    let start = buf.len().saturating_sub(width).min(i);
    out.extend_from_slice(&buf[start..]);
}

/// Append `2026-11-25T10:00:00.1234567Z` (always seven fraction digits, as the APIs print).
pub fn push_datetime(out: &mut Vec<u8>, ticks: i64) {
    let (y, mo, d, h, mi, s, frac) = datetime_fields(ticks);
    push_digits(out, y, 4);
    out.push(b'-');
    push_digits(out, i64::from(mo), 2);
    out.push(b'-');
    push_digits(out, i64::from(d), 2);
    out.push(b'T');
    push_digits(out, i64::from(h), 2);
    out.push(b':');
    push_digits(out, i64::from(mi), 2);
    out.push(b':');
    push_digits(out, i64::from(s), 2);
    out.push(b'.');
    push_digits(out, frac, 7);
    out.push(b'Z');
}

/// `2026-11-25T10:00:00.1234567Z`.
#[must_use]
pub fn format_datetime(ticks: i64) -> String {
    let mut out = Vec::with_capacity(28);
    push_datetime(&mut out, ticks);
    String::from_utf8(out).unwrap_or_default()
}

/// `[-][d.]hh:mm:ss[.fffffff]`, the way Kusto prints timespans.
#[must_use]
pub fn format_timespan(ticks: i64) -> String {
    let neg = ticks < 0;
    let t = ticks.unsigned_abs();
    let day = TICKS_PER_DAY as u64;
    let days = t / day;
    let rem = t % day;
    let secs = rem / TICKS_PER_SECOND as u64;
    let frac = rem % TICKS_PER_SECOND as u64;
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if days > 0 {
        let _ = write!(s, "{days}.");
    }
    let _ = write!(
        s,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if frac > 0 {
        let _ = write!(s, ".{frac:07}");
    }
    s
}

/// The ticks of a timespan unit suffix (`d`, `h`, `m`, `s`, `ms`, `tick`, and their long forms).
#[must_use]
pub fn timespan_unit(suffix: &str) -> Option<i64> {
    Some(match suffix {
        "d" | "day" | "days" => TICKS_PER_DAY,
        "h" | "hr" | "hrs" | "hour" | "hours" => TICKS_PER_HOUR,
        "m" | "min" | "minute" | "minutes" => TICKS_PER_MINUTE,
        "s" | "sec" | "second" | "seconds" => TICKS_PER_SECOND,
        "ms" | "milli" | "millis" | "millisec" | "millisecond" | "milliseconds" => {
            TICKS_PER_MILLISECOND
        }
        "microsecond" | "micro" | "micros" | "microsec" | "microseconds" => TICKS_PER_MICROSECOND,
        "tick" | "ticks" => 1,
        // Nanoseconds are below the tick resolution: 100 ns is one tick.
        "nano" | "nanos" | "nanosec" | "nanosecond" | "nanoseconds" => 0,
        _ => return None,
    })
}

/// `amount` units as ticks, rounded to the nearest tick (`None` on overflow).
#[must_use]
pub fn scale_ticks(amount: f64, unit: i64) -> Option<i64> {
    let t = (amount * unit as f64).round();
    if t.is_finite() && t.abs() < 9.2e18 {
        Some(t as i64)
    } else {
        None
    }
}

/// Parse the text of `timespan(…)` / `totimespan(…)`: `1d`, `1.5h`, `15 seconds`,
/// `[-][d.]hh:mm[:ss[.f]]`, or a bare number of days.
#[must_use]
pub fn parse_timespan(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if t.contains(':') {
        return parse_clock_timespan(t);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let amount: f64 = num.parse().ok()?;
    let unit = unit.trim();
    let ticks = if unit.is_empty() {
        TICKS_PER_DAY
    } else {
        timespan_unit(unit)?
    };
    if ticks == 0 {
        return scale_ticks(amount / 100.0, 1);
    }
    scale_ticks(amount, ticks)
}

fn parse_clock_timespan(t: &str) -> Option<i64> {
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (days, clock) = match t.split_once(':') {
        Some((head, _)) if head.contains('.') => {
            let (d, rest) = t.split_once('.')?;
            (d.parse::<i64>().ok()?, rest)
        }
        _ => (0, t),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    let h: i64 = parts[0].parse().ok()?;
    let m: i64 = parts[1].parse().ok()?;
    let (s, frac) = match parts.get(2) {
        Some(sec) => match sec.split_once('.') {
            Some((whole, f)) => (whole.parse::<i64>().ok()?, parse_fraction(f)?),
            None => (sec.parse::<i64>().ok()?, 0),
        },
        None => (0, 0),
    };
    if m >= 60 || s >= 60 {
        return None;
    }
    let total = days
        .checked_mul(TICKS_PER_DAY)?
        .checked_add(h.checked_mul(TICKS_PER_HOUR)?)?
        .checked_add(m * TICKS_PER_MINUTE + s * TICKS_PER_SECOND + frac)?;
    Some(if neg { -total } else { total })
}

/// Up to seven fraction digits as ticks (`"9"` is 0.9 s).
fn parse_fraction(f: &str) -> Option<i64> {
    if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits: String = f.chars().take(7).collect();
    let v: i64 = digits.parse().ok()?;
    Some(v * 10_i64.pow(7 - digits.len() as u32))
}

/// Parse the text of `datetime(…)` / `todatetime(…)`: ISO 8601 forms (`2015-12-31`,
/// `2015-12-31 23:59:59.9`, `2014-05-25T08:20:03.123456Z`, with `Z`, ` GMT` or an offset), and
/// RFC 822 / RFC 850 dates. Always UTC.
#[must_use]
pub fn parse_datetime(text: &str) -> Option<i64> {
    let t = text.trim().trim_matches(|c| c == '\'' || c == '"').trim();
    if t.is_empty() {
        return None;
    }
    if let Some(v) = parse_iso_datetime(t) {
        return Some(v);
    }
    if let Ok(dt) = DateTime::parse_from_rfc2822(t) {
        return Some(ticks_from_chrono(dt.with_timezone(&Utc)));
    }
    let no_zone = t
        .strip_suffix(" GMT")
        .or_else(|| t.strip_suffix(" UTC"))
        .unwrap_or(t);
    const FORMATS: &[&str] = &[
        "%a, %d %b %y %H:%M:%S",
        "%a, %d %b %Y %H:%M:%S",
        "%d %b %y %H:%M:%S",
        "%d %b %Y %H:%M:%S",
        "%a, %d %b %y %H:%M",
        "%d %b %y %H:%M",
        "%A, %d-%b-%y %H:%M:%S",
        "%d-%b-%y %H:%M:%S",
        "%A, %d-%b-%y %H:%M",
        "%d-%b-%y %H:%M",
    ];
    for f in FORMATS {
        if let Ok(n) = NaiveDateTime::parse_from_str(no_zone, f) {
            return Some(ticks_from_chrono(n.and_utc()));
        }
    }
    None
}

fn parse_iso_datetime(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i32 = t.get(0..4)?.parse().ok()?;
    let month: u32 = t.get(5..7)?.parse().ok()?;
    let day: u32 = t.get(8..10)?.parse().ok()?;
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let mut rest = &t[10..];
    let mut ticks = ticks_from_chrono(date.and_hms_opt(0, 0, 0)?.and_utc());
    if rest.is_empty() {
        return Some(ticks);
    }
    let sep = rest.as_bytes()[0];
    if sep != b'T' && sep != b' ' {
        return None;
    }
    rest = &rest[1..];
    // Time: HH:MM[:SS[.f]]
    let hh: i64 = rest.get(0..2)?.parse().ok()?;
    if rest.as_bytes().get(2) != Some(&b':') {
        return None;
    }
    let mm: i64 = rest.get(3..5)?.parse().ok()?;
    rest = &rest[5..];
    let mut ss = 0i64;
    let mut frac = 0i64;
    if let Some(r) = rest.strip_prefix(':') {
        ss = r.get(0..2)?.parse().ok()?;
        rest = &r[2..];
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            frac = parse_fraction(&r[..end])?;
            rest = &r[end..];
        }
    }
    if hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    ticks += hh * TICKS_PER_HOUR + mm * TICKS_PER_MINUTE + ss * TICKS_PER_SECOND + frac;
    let zone = rest.trim();
    let offset = match zone {
        "" | "Z" | "z" | "GMT" | "UTC" => 0,
        z => {
            let sign = match z.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = z[1..].chars().filter(char::is_ascii_digit).collect();
            if digits.len() != 4 {
                return None;
            }
            let oh: i64 = digits[0..2].parse().ok()?;
            let om: i64 = digits[2..4].parse().ok()?;
            sign * (oh * TICKS_PER_HOUR + om * TICKS_PER_MINUTE)
        }
    };
    Some(ticks - offset)
}

/// Hashable, equality-comparable view of a value, for grouping, `distinct`, `dcount` and
/// `make_set`. `int` and `long` of equal value are the same key; reals compare by bits after
/// folding `-0.0` and NaN.
#[derive(Debug, Clone)]
pub struct Key(pub Value);

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        match (&self.0, &other.0) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Real(a), Value::Real(b)) => real_bits(*a) == real_bits(*b),
            (Value::DateTime(a), Value::DateTime(b)) | (Value::TimeSpan(a), Value::TimeSpan(b)) => {
                a == b
            }
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::Dynamic(a), Value::Dynamic(b)) => a == b,
            (a @ (Value::Int(_) | Value::Long(_)), b @ (Value::Int(_) | Value::Long(_))) => {
                a.as_i64() == b.as_i64()
            }
            _ => false,
        }
    }
}

impl Eq for Key {}

fn real_bits(r: f64) -> u64 {
    if r.is_nan() {
        f64::NAN.to_bits()
    } else if r == 0.0 {
        0
    } else {
        r.to_bits()
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.0 {
            Value::Null => 0u8.hash(state),
            Value::Bool(b) => (1u8, b).hash(state),
            Value::Int(i) => (2u8, i64::from(*i)).hash(state),
            Value::Long(l) => (2u8, *l).hash(state),
            Value::Real(r) => (3u8, real_bits(*r)).hash(state),
            Value::DateTime(t) => (4u8, t).hash(state),
            Value::TimeSpan(t) => (5u8, t).hash(state),
            Value::Str(s) => (6u8, s.as_ref()).hash(state),
            Value::Dynamic(d) => (7u8, d.to_string()).hash(state),
        }
    }
}

/// Order two non-null values of comparable types (numbers with numbers, strings ordinally by
/// code point, booleans false < true); incomparable pairs order by a fixed type rank so sorting
/// stays total.
#[must_use]
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x.as_ref().cmp(y.as_ref()),
        (Value::DateTime(x), Value::DateTime(y)) | (Value::TimeSpan(x), Value::TimeSpan(y)) => {
            x.cmp(y)
        }
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Int(_) | Value::Long(_), Value::Int(_) | Value::Long(_)) => {
            a.as_i64().cmp(&b.as_i64())
        }
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or_else(|| {
                // NaN sorts with the nulls' neighbours: below every number.
                y.is_nan().cmp(&x.is_nan())
            }),
            _ => rank(a)
                .cmp(&rank(b))
                .then_with(|| a.to_kql_string().cmp(&b.to_kql_string())),
        },
    }
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Int(_) | Value::Long(_) | Value::Real(_) => 2,
        Value::DateTime(_) => 3,
        Value::TimeSpan(_) => 4,
        Value::Str(_) => 5,
        Value::Dynamic(_) => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(s: &str) -> i64 {
        parse_datetime(s).unwrap()
    }

    #[test]
    fn datetimes_print_with_seven_fraction_digits() {
        assert_eq!(
            format_datetime(dt("2014-05-25T08:20:03.123456Z")),
            "2014-05-25T08:20:03.1234560Z"
        );
        assert_eq!(
            format_datetime(dt("2015-12-31 23:59:59.9")),
            "2015-12-31T23:59:59.9000000Z"
        );
        assert_eq!(
            format_datetime(dt("2015-12-31")),
            "2015-12-31T00:00:00.0000000Z"
        );
        assert_eq!(format_datetime(0), "0001-01-01T00:00:00.0000000Z");
        assert_eq!(
            format_datetime(MAX_DATETIME_TICKS),
            "9999-12-31T23:59:59.9999999Z"
        );
    }

    #[test]
    fn datetime_formats_and_zones() {
        assert_eq!(dt("2024-01-01T10:00:00+02:00"), dt("2024-01-01T08:00:00Z"));
        assert_eq!(dt("2024-01-01 10:00"), dt("2024-01-01T10:00:00Z"));
        assert_eq!(dt("2014-11-08 15:05:25 GMT"), dt("2014-11-08T15:05:25Z"));
        assert_eq!(dt("Sat, 8 Nov 14 15:05:02 GMT"), dt("2014-11-08T15:05:02Z"));
        assert_eq!(
            dt("Saturday, 08-Nov-14 15:05:02 GMT"),
            dt("2014-11-08T15:05:02Z")
        );
        assert_eq!(parse_datetime("2024-13-01"), None);
        assert_eq!(parse_datetime("yesterday"), None);
        assert_eq!(parse_datetime("2024-01-01T25:00"), None);
    }

    #[test]
    fn chrono_round_trip() {
        let t = dt("2026-11-25T10:00:00.1234567Z");
        let c = chrono_from_ticks(t).unwrap();
        assert_eq!(ticks_from_chrono(c), t);
        assert_eq!(c.to_rfc3339(), "2026-11-25T10:00:00.123456700+00:00");
    }

    #[test]
    fn timespans_print_like_kusto() {
        assert_eq!(format_timespan(TICKS_PER_DAY), "1.00:00:00");
        assert_eq!(format_timespan(TICKS_PER_HOUR), "01:00:00");
        assert_eq!(format_timespan(-12 * TICKS_PER_HOUR), "-12:00:00");
        assert_eq!(format_timespan(TICKS_PER_SECOND / 2), "00:00:00.5000000");
    }

    #[test]
    fn timespan_texts() {
        assert_eq!(parse_timespan("2"), Some(2 * TICKS_PER_DAY));
        assert_eq!(parse_timespan("15 seconds"), Some(15 * TICKS_PER_SECOND));
        assert_eq!(parse_timespan("1.5h"), Some(90 * TICKS_PER_MINUTE));
        assert_eq!(parse_timespan("00:01:00"), Some(TICKS_PER_MINUTE));
        assert_eq!(
            parse_timespan("0.12:34:56.7"),
            Some(
                12 * TICKS_PER_HOUR
                    + 34 * TICKS_PER_MINUTE
                    + 56 * TICKS_PER_SECOND
                    + 7 * TICKS_PER_SECOND / 10
            )
        );
        assert_eq!(parse_timespan("1w"), None);
        assert_eq!(parse_timespan("00:61:00"), None);
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = Vec::new();
        write_json_str(&mut out, "a\"b\\c\nd\u{1}é");
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\\c\nd\u0001é""#);
        let mut out = Vec::new();
        Value::Long(-1234).write_json(&mut out);
        Value::Real(0.5).write_json(&mut out);
        Value::Real(f64::NAN).write_json(&mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"-12340.5"NaN""#);
    }

    #[test]
    fn keys_fold_int_and_long() {
        use std::collections::HashSet;
        let set: HashSet<Key> = [
            Key(Value::Int(1)),
            Key(Value::Long(1)),
            Key(Value::Real(0.0)),
            Key(Value::Real(-0.0)),
            Key(Value::str("a")),
        ]
        .into_iter()
        .collect();
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn ordering_is_ordinal_for_strings() {
        assert_eq!(
            compare_values(&Value::str("B"), &Value::str("a")),
            Ordering::Less
        );
        assert_eq!(
            compare_values(&Value::Int(3), &Value::Real(2.5)),
            Ordering::Greater
        );
    }
}
