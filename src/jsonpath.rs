//! RFC 9535 JSONPath: the one code path for compiling and evaluating JSONPath over JSON in
//! huntbook — validation, `filter` steps, the `jsonpath()` template filter, `huntbook
//! jsonpath` and test expectations all go through here, so what an author tries on the
//! command line is exactly what a playbook does. Evaluation is serde_json_path's, which
//! passes the whole RFC 9535 compliance suite; [`crate::rows::RowFilter`] wraps a compiled
//! path with the fast path over hunting rows.

use std::fmt;

use serde_json::Value;

/// A compiled JSONPath expression together with its source text.
#[derive(Clone)]
pub struct JsonPath {
    source: String,
    path: serde_json_path::JsonPath,
}

impl fmt::Debug for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JsonPath").field(&self.source).finish()
    }
}

impl PartialEq for JsonPath {
    fn eq(&self, other: &JsonPath) -> bool {
        self.source == other.source
    }
}

/// A JSONPath expression that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSONPath at column {column}: {message}")]
pub struct JsonPathError {
    /// What the parser expected, lowercase.
    pub message: String,
    /// Byte offset of the problem inside the expression (0-based).
    pub offset: usize,
    /// 1-based character column of the problem inside the expression.
    pub column: usize,
}

impl JsonPath {
    /// Compile an expression.
    ///
    /// # Errors
    /// When `source` is not a valid RFC 9535 query; the error carries the position.
    pub fn compile(source: &str) -> Result<JsonPath, JsonPathError> {
        match serde_json_path::JsonPath::parse(source) {
            Ok(path) => Ok(JsonPath {
                source: source.to_string(),
                path,
            }),
            Err(_) if let Some((offset, op)) = missing_operand(source) => Err(JsonPathError {
                message: format!(
                    "expected a value after `{op}`: a literal like `'system'` or `3`, or a \
                     query like `@.x`"
                ),
                offset,
                column: source[..offset].chars().count() + 1,
            }),
            Err(e) => {
                // serde_json_path reports a 0-based byte offset (despite its docs).
                let offset = crate::source::floor_char_boundary(source, e.position());
                let column = source[..offset].chars().count() + 1;
                Err(JsonPathError {
                    message: tidy_message(e.message(), source, offset),
                    offset,
                    column,
                })
            }
        }
    }

    /// The expression as written.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every value the expression selects from `document`, in document order.
    #[must_use]
    pub fn query<'a>(&self, document: &'a Value) -> Vec<&'a Value> {
        self.path.query(document).all()
    }

    /// Like [`JsonPath::query`], with each value's location in `document`.
    #[must_use]
    pub fn query_located<'a>(&self, document: &'a Value) -> serde_json_path::LocatedNodeList<'a> {
        self.path.query_located(document)
    }
}

/// A comparison with nothing after its operator (`@.a != ]`), outside string literals: the
/// operator's byte offset. serde_json_path reports it as a missing `]` or a function's return
/// type, far from what is wrong.
fn missing_operand(source: &str) -> Option<(usize, &'static str)> {
    let bytes = source.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == b'\\' {
                i += 1;
            } else if b == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if b == b'\'' || b == b'"' {
            quote = Some(b);
            i += 1;
            continue;
        }
        // An ASCII operator starts on a character boundary.
        match ["==", "!=", "<=", ">=", "<", ">"]
            .into_iter()
            .find(|op| bytes[i..].starts_with(op.as_bytes()))
        {
            Some(op) => {
                let rest = source.get(i + op.len()..).unwrap_or_default().trim_start();
                if rest.is_empty()
                    || rest.starts_with([']', ')'])
                    || rest.starts_with("&&")
                    || rest.starts_with("||")
                {
                    return Some((i, op));
                }
                i += op.len();
            }
            None => i += 1,
        }
    }
    None
}

fn tidy_message(message: &str, source: &str, offset: usize) -> String {
    let base = if message.trim().is_empty() || message == "parser error" {
        if offset == 0 && !source.starts_with('$') {
            "a JSONPath query starts with `$`".to_string()
        } else {
            "unexpected text".to_string()
        }
    } else {
        message.to_string()
    };
    let rest = &source[offset..];
    match rest.chars().next() {
        Some(c) if !base.contains("starts with") => format!("{base} (at `{}`)", truncate(rest, c)),
        _ => base,
    }
}

fn truncate(rest: &str, _first: char) -> String {
    rest.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_select_matching_rows() {
        let p = JsonPath::compile("$[?@.AccountName != 'system'].DeviceName").unwrap();
        let doc = json!([
            {"AccountName": "system", "DeviceName": "a"},
            {"AccountName": "bob", "DeviceName": "b"}
        ]);
        let f = crate::rows::RowFilter::compile(p.source()).unwrap();
        assert_eq!(f.apply_json(&doc), [json!("b")]);
        assert_eq!(p.source(), "$[?@.AccountName != 'system'].DeviceName");
    }

    #[test]
    fn errors_carry_the_column_inside_the_expression() {
        let e = JsonPath::compile("$.a[?@.b ==]").unwrap_err();
        assert_eq!(e.offset, 9);
        assert_eq!(e.column, 10);
        let e = JsonPath::compile("x").unwrap_err();
        assert_eq!(e.column, 1);
        assert!(e.message.contains("starts with `$`"), "{}", e.message);
    }

    #[test]
    fn a_comparison_without_its_right_side_says_so() {
        for (source, column, op) in [
            ("$[?@.AccountName != ]", 18, "!="),
            ("$[?length(@.x) > ]", 16, ">"),
            ("$[?@.a == 1 && @.b <= ]", 20, "<="),
            ("$[?@.a == ", 8, "=="),
        ] {
            let e = JsonPath::compile(source).unwrap_err();
            assert_eq!(e.column, column, "{source}");
            assert!(
                e.message
                    .starts_with(&format!("expected a value after `{op}`")),
                "{source}: {}",
                e.message
            );
        }
        // Inside a string literal an operator is text: the parser's own message stays.
        let e = JsonPath::compile("$[?@.a == '>]' ").unwrap_err();
        assert!(
            !e.message.contains("expected a value after"),
            "{}",
            e.message
        );
        assert!(JsonPath::compile("$[?@.a == '!= ]']").is_ok());
    }

    #[test]
    fn non_ascii_columns_count_characters() {
        // `é` is two bytes: the `[` is at byte 4 but column 4.
        let e = JsonPath::compile("$.é[").unwrap_err();
        assert_eq!((e.offset, e.column), (4, 4));
    }
}
