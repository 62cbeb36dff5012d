//! Value types of playbook inputs (`type:` in `inputs`) and the duration syntax shared by
//! inputs, `timeout`, `ago()` and KQL rendering.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The declared type of a playbook input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    String,
    Integer,
    Number,
    Boolean,
    Duration,
    Datetime,
    List,
}

impl ValueType {
    /// Every type name, as written in playbooks.
    pub const NAMES: &'static [&'static str] = &[
        "string", "integer", "number", "boolean", "duration", "datetime", "list",
    ];

    /// The name as written in playbooks.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Integer => "integer",
            ValueType::Number => "number",
            ValueType::Boolean => "boolean",
            ValueType::Duration => "duration",
            ValueType::Datetime => "datetime",
            ValueType::List => "list",
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ValueType {
    type Err = ();
    fn from_str(s: &str) -> Result<ValueType, ()> {
        Ok(match s {
            "string" => ValueType::String,
            "integer" => ValueType::Integer,
            "number" => ValueType::Number,
            "boolean" => ValueType::Boolean,
            "duration" => ValueType::Duration,
            "datetime" => ValueType::Datetime,
            "list" => ValueType::List,
            _ => return Err(()),
        })
    }
}

/// A duration that does not parse, with the byte offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DurationError {
    pub message: String,
    pub offset: usize,
}

const UNITS: &[(&str, u64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Parse a duration: one or more `<number><unit>` parts, units `ms`, `s`, `m`, `h`, `d`
/// (`30s`, `90m`, `1d`, `1h30m`, `1.5h`). The same spelling as KQL timespan literals.
///
/// # Errors
/// When the text is empty, a part lacks a number or a unit, or the unit is unknown.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = |message: String, offset: usize| DurationError { message, offset };
    let s = text.trim();
    let lead = text.len() - text.trim_start().len();
    if s.is_empty() {
        return Err(err(
            "empty duration: expected e.g. `30s`, `15m`, `2h`, `1d`".into(),
            0,
        ));
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total_ms: f64 = 0.0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if start == i {
            return Err(err(
                format!("expected a number in duration `{s}`: use e.g. `30s`, `15m`, `2h`, `1d`"),
                lead + i,
            ));
        }
        let number: f64 = s[start..i]
            .parse()
            .map_err(|_| err(format!("`{}` is not a number", &s[start..i]), lead + start))?;
        let ustart = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[ustart..i];
        let Some((_, ms)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            let what = if unit.is_empty() {
                "a unit".to_string()
            } else {
                format!("a unit, not `{unit}`")
            };
            return Err(err(
                format!("expected {what} in duration `{s}`: one of `ms`, `s`, `m`, `h`, `d`"),
                lead + ustart,
            ));
        };
        total_ms += number * (*ms as f64);
    }
    if !total_ms.is_finite() || total_ms > 1e15 {
        return Err(err(format!("duration `{s}` is too large"), lead));
    }
    Ok(Duration::from_micros((total_ms * 1000.0).round() as u64))
}

/// Format a duration in the largest unit that represents it exactly (`1d`, `90m`, `45s`,
/// `250ms`): valid both as a playbook duration and as a KQL timespan literal.
#[must_use]
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 && d.as_micros() > 0 {
        // KQL has `microsecond` literals; playbooks never need them, but stay exact.
        return format!("{}microsecond", d.as_micros());
    }
    for (unit, size) in UNITS.iter().rev() {
        let size = u128::from(*size);
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_simple_and_compound_durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    }

    #[test]
    fn rejects_bad_durations_with_offsets() {
        let e = parse_duration("10 minutes").err().map(|e| e.offset);
        assert_eq!(e, Some(2));
        assert_eq!(parse_duration("1w").err().map(|e| e.offset), Some(1));
        assert_eq!(parse_duration("h").err().map(|e| e.offset), Some(0));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5").is_err());
    }

    #[test]
    fn formats_in_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
        assert_eq!(format_duration(Duration::from_secs(5400)), "90m");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0d");
    }

    #[test]
    fn value_type_names_round_trip() {
        for name in ValueType::NAMES {
            let t: ValueType = name.parse().unwrap_or(ValueType::String);
            assert_eq!(t.name(), *name);
        }
        assert!("float".parse::<ValueType>().is_err());
    }
}
