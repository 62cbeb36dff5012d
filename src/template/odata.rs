//! OData literal rendering: every `{{ value }}` in an OData `$filter` field
//! (`incidents.list.filter`, a `request` step's `query.$filter`) becomes a literal, so a value
//! from an API or an input cannot change the filter's meaning, as KQL literals do for
//! queries (see [`super::kql`]).
//!
//! | value | literal |
//! |---|---|
//! | string | `'…'`, single quotes doubled: `O'Brien` → `'O''Brien'` |
//! | integer / number | `42`, `-3`, `0.5` (NaN and infinities are errors) |
//! | boolean | `true`, `false` |
//! | none | `null` |
//! | datetime | `2026-11-25T10:00:00Z` (OData datetimes are unquoted) |
//! | duration | `duration'PT1H30M'` |
//! | list | `('a', 'b')`, for `in` |
//! | map | an error |
//!
//! The guarantee also needs the literal to land outside an OData string: [`scan`] finds,
//! at compile time, a `{{ … }}` written inside `'…'`, where the value's own quotes would
//! end the string.

use std::ops::Range;

use minijinja::value::ValueKind;

use super::Value;
use super::value::{as_datetime, as_duration, as_verbatim, describe, format_datetime};

/// The OData literal of a value (see the module table).
///
/// # Errors
/// For undefined values, non-finite numbers, maps and values with no literal.
pub fn literal(value: &Value) -> Result<String, String> {
    if let Some(text) = as_verbatim(value) {
        // A `kql` result outside `raw` is just text here.
        return Ok(string_literal(text));
    }
    if let Some(t) = as_datetime(value) {
        return Ok(format_datetime(t));
    }
    if let Some(d) = as_duration(value) {
        return Ok(format!("duration'{}'", iso_duration(d)));
    }
    match value.kind() {
        ValueKind::None => Ok("null".to_string()),
        ValueKind::Undefined => Err("undefined value in an OData filter".to_string()),
        ValueKind::Bool => Ok(if value.is_true() { "true" } else { "false" }.to_string()),
        ValueKind::String => Ok(string_literal(value.as_str().unwrap_or_default())),
        ValueKind::Number => {
            if value.is_integer() {
                return Ok(value.to_string());
            }
            let f = f64::try_from(value.clone()).map_err(|e| e.to_string())?;
            if f.is_finite() {
                Ok(format!("{f:?}"))
            } else {
                Err(format!("{f} has no OData literal"))
            }
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items = value
                .try_iter()
                .map_err(|e| e.to_string())?
                .map(|v| {
                    if matches!(v.kind(), ValueKind::Seq | ValueKind::Map) {
                        Err("a nested list or map has no OData literal".to_string())
                    } else {
                        literal(&v)
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(format!("({})", items.join(", ")))
        }
        _ => Err(format!(
            "{} has no OData literal: give a string, number, boolean, datetime or list",
            describe(value)
        )),
    }
}

/// An OData string literal: single-quoted, quotes doubled.
#[must_use]
pub fn string_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An ISO 8601 duration (`PT1H30M`, `P1D`, `PT0.5S`).
fn iso_duration(d: std::time::Duration) -> String {
    let total_ms = d.as_millis();
    let days = total_ms / 86_400_000;
    let mut rest = total_ms % 86_400_000;
    let hours = rest / 3_600_000;
    rest %= 3_600_000;
    let minutes = rest / 60_000;
    rest %= 60_000;
    let (secs, ms) = (rest / 1000, rest % 1000);
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if hours > 0 || minutes > 0 || secs > 0 || ms > 0 || days == 0 {
        out.push('T');
        if hours > 0 {
            out.push_str(&format!("{hours}H"));
        }
        if minutes > 0 {
            out.push_str(&format!("{minutes}M"));
        }
        if ms > 0 {
            out.push_str(&format!("{secs}.{ms:03}S"));
        } else if secs > 0 || (hours == 0 && minutes == 0) {
            out.push_str(&format!("{secs}S"));
        }
    }
    out
}

/// A placeholder written inside an OData string literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misplaced {
    pub message: String,
    pub range: Range<usize>,
}

/// The `{{ … }}` placeholders of an OData field written inside `'…'`.
#[must_use]
pub fn scan(source: &str, syntax: &minijinja::syntax::SyntaxConfig) -> Vec<Misplaced> {
    use minijinja::machinery::{Token, tokenize};
    let mut in_string = false;
    let mut open: Option<usize> = None;
    let mut out = Vec::new();
    for token in tokenize(source, false, syntax.clone()) {
        let Ok((token, span)) = token else {
            break;
        };
        match token {
            Token::TemplateData(text) => {
                // `''` inside a string toggles twice: still inside.
                in_string ^= text.matches('\'').count() % 2 == 1;
            }
            Token::VariableStart if in_string => open = Some(span.start_offset as usize),
            Token::VariableEnd => {
                if let Some(start) = open.take() {
                    out.push(Misplaced {
                        message: "`{{ … }}` is inside an OData string literal: values are \
                                  quoted for you, so write it outside quotes \
                                  (`status eq {{ inputs.status }}`)"
                            .to_string(),
                        range: start..span.end_offset as usize,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::value::{datetime, duration};

    #[test]
    fn strings_are_quoted_with_their_quotes_doubled() {
        assert_eq!(
            literal(&Value::from("x' or 1 eq 1 or status eq 'y")).unwrap(),
            "'x'' or 1 eq 1 or status eq ''y'"
        );
        assert_eq!(literal(&Value::from("O'Brien")).unwrap(), "'O''Brien'");
    }

    #[test]
    fn scalars_have_their_odata_literals() {
        assert_eq!(literal(&Value::from(3)).unwrap(), "3");
        assert_eq!(literal(&Value::from(0.5)).unwrap(), "0.5");
        assert_eq!(literal(&Value::from(true)).unwrap(), "true");
        assert_eq!(literal(&Value::from(())).unwrap(), "null");
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(literal(&datetime(t)).unwrap(), "2026-11-25T10:00:00Z");
        assert_eq!(
            literal(&duration(std::time::Duration::from_secs(5400))).unwrap(),
            "duration'PT1H30M'"
        );
        assert_eq!(
            literal(&duration(std::time::Duration::from_secs(86_400))).unwrap(),
            "duration'P1D'"
        );
        assert!(literal(&Value::from(f64::NAN)).is_err());
        assert!(
            literal(&crate::template::value::from_json(
                &serde_json::json!({"a": 1})
            ))
            .is_err()
        );
    }

    #[test]
    fn lists_are_parenthesised_for_in() {
        assert_eq!(
            literal(&Value::from(vec![Value::from("a"), Value::from("b'c")])).unwrap(),
            "('a', 'b''c')"
        );
    }

    #[test]
    fn placeholders_inside_quotes_are_found() {
        let syntax = minijinja::syntax::SyntaxConfig::default();
        assert_eq!(scan("status eq '{{ x }}'", &syntax).len(), 1);
        assert!(scan("status eq {{ x }} and t eq 'it''s'", &syntax).is_empty());
        assert_eq!(scan("t eq 'it''s {{ x }}'", &syntax).len(), 1);
    }
}
