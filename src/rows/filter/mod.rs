//! RFC 9535 JSONPath over hunting rows: `serde_json_path` decides what is valid and answers
//! the general case; a fast path evaluates `$[?…]` filters row by row, straight from the
//! compact cells.
//!
//! The general case avoids building the whole result as JSON when it can: a query whose
//! first segment is a filter or a wildcard over the rows and that never refers to the root
//! `$` again gives, for the whole array, exactly the concatenation of its answers on each row
//! alone (`[row]`), so it runs one row at a time in constant memory.

mod fast;

use minijinja::value::Value as MjValue;
use serde_json::Value;

use super::view::Rows;
use crate::jsonpath::{JsonPath, JsonPathError};
use crate::template::value::ValueError;

/// A compiled `filter.jsonpath`: compile once when the playbook loads, apply per run.
#[derive(Debug)]
pub struct RowFilter {
    path: JsonPath,
    fast: Option<fast::FastFilter>,
    per_row: Option<PerRow>,
}

/// How a query that can run row by row answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PerRow {
    /// `$[?…]`, `$[*]`, `$.*` alone: whole rows.
    Rows,
    /// Followed by more segments: values found inside rows.
    Values,
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// End (exclusive) of the string literal opening at `i`, honouring backslash escapes.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let quote = *b.get(i)?;
    let mut j = i + 1;
    loop {
        match *b.get(j)? {
            b'\\' => j += 2,
            c if c == quote => return Some(j + 1),
            _ => j += 1,
        }
    }
}

/// Whether `path` (already valid) can run one row at a time, and what it then yields.
fn per_row_shape(path: &str) -> Option<PerRow> {
    let b = path.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'$') {
        return None;
    }
    // No second reference to the root anywhere (outside string literals).
    let mut j = i + 1;
    while let Some(&c) = b.get(j) {
        match c {
            b'\'' | b'"' => j = skip_string(b, j)?,
            b'$' => return None,
            _ => j += 1,
        }
    }
    i = skip_ws(b, i + 1);
    if path.get(i..)?.starts_with(".*") {
        i += 2;
    } else {
        if b.get(i) != Some(&b'[') {
            return None;
        }
        i = skip_ws(b, i + 1);
        match b.get(i) {
            Some(b'*') => {
                i = skip_ws(b, i + 1);
                if b.get(i) != Some(&b']') {
                    return None;
                }
                i += 1;
            }
            Some(b'?') => {
                // To the `]` closing this selector; a `,` at this level is a second selector.
                let mut depth = 0usize;
                i += 1;
                loop {
                    match *b.get(i)? {
                        b'\'' | b'"' => {
                            i = skip_string(b, i)?;
                            continue;
                        }
                        b'(' | b'[' => depth += 1,
                        b')' => depth = depth.checked_sub(1)?,
                        b']' if depth == 0 => break,
                        b']' => depth -= 1,
                        b',' if depth == 0 => return None,
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
            }
            _ => return None,
        }
    }
    Some(if path.get(i..)?.trim().is_empty() {
        PerRow::Rows
    } else {
        PerRow::Values
    })
}

/// What a filter produced.
#[derive(Debug, Clone)]
pub enum FilterOutput {
    /// Whole rows of the input (every match was a top-level element): a view sharing the
    /// input's row set and schema, so CSV output keeps the hunt's column order.
    Rows(Rows),
    /// Anything else (`$[*].DeviceName`, nested values, …), as plain JSON values.
    Values(Vec<Value>),
}

impl FilterOutput {
    /// The filter step's `count` output.
    #[must_use]
    pub fn count(&self) -> usize {
        match self {
            FilterOutput::Rows(r) => r.len(),
            FilterOutput::Values(v) => v.len(),
        }
    }

    /// The filter step's `items` output as a template value.
    #[must_use]
    pub fn into_value(self) -> MjValue {
        match self {
            FilterOutput::Rows(r) => r.into_value(),
            FilterOutput::Values(v) => MjValue::from(minijinja::value::Serde(&v)),
        }
    }

    /// The items as one JSON array (builds every row; for small results and tests).
    #[must_use]
    pub fn to_json_value(&self) -> Value {
        match self {
            FilterOutput::Rows(r) => r.to_json_value(),
            FilterOutput::Values(v) => Value::Array(v.clone()),
        }
    }
}

impl RowFilter {
    /// Compile a JSONPath expression. Validity and the error (with its column) come from
    /// [`crate::jsonpath::JsonPath`], the project's one JSONPath front end, so a filter step
    /// accepts exactly what `huntbook jsonpath` and `validate` accept.
    ///
    /// # Errors
    /// When the expression is not valid RFC 9535 JSONPath.
    pub fn compile(path: &str) -> Result<RowFilter, JsonPathError> {
        Ok(RowFilter {
            path: JsonPath::compile(path)?,
            fast: fast::FastFilter::parse(path),
            per_row: per_row_shape(path),
        })
    }

    /// The expression as written.
    #[must_use]
    pub fn source(&self) -> &str {
        self.path.source()
    }

    /// Whether [`RowFilter::apply`] evaluates this expression without building JSON values.
    #[must_use]
    pub fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// Apply to rows: the fast path when the expression allows, else the general one.
    #[must_use]
    pub fn apply(&self, rows: &Rows) -> FilterOutput {
        match &self.fast {
            Some(f) => f.apply(rows),
            None => self.apply_general(rows),
        }
    }

    /// Apply through `serde_json_path` (what [`RowFilter::apply`] falls back to; public so
    /// tests can hold the fast path against it): one row at a time when the query allows,
    /// else on the JSON form of all the rows.
    #[must_use]
    pub fn apply_general(&self, rows: &Rows) -> FilterOutput {
        match self.per_row {
            Some(kind) => self.apply_per_row(rows, kind),
            None => self.apply_whole(rows),
        }
    }

    fn apply_per_row(&self, rows: &Rows, kind: PerRow) -> FilterOutput {
        let mut ids = Vec::new();
        let mut values = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let doc = Value::Array(vec![row.to_json()]);
            let found = self.path.query(&doc);
            match kind {
                PerRow::Rows => {
                    if !found.is_empty()
                        && let Some(id) = rows.row_id(i).and_then(|r| u32::try_from(r).ok())
                    {
                        ids.push(id);
                    }
                }
                PerRow::Values => values.extend(found.into_iter().cloned()),
            }
        }
        match kind {
            PerRow::Rows => FilterOutput::Rows(Rows::select(rows.set().clone(), ids)),
            PerRow::Values => FilterOutput::Values(values),
        }
    }

    /// On the JSON form of all the rows at once (queries that index the array or refer to
    /// the root inside a filter); matches that are all top-level rows come back as rows.
    #[must_use]
    pub fn apply_whole(&self, rows: &Rows) -> FilterOutput {
        let doc = rows.to_json_value();
        let found = self.path.query_located(&doc);
        let mut ids = Vec::with_capacity(found.len());
        let all_rows = found.iter().all(|node| {
            let loc = node.location();
            match (loc.len(), loc.first().and_then(|e| e.as_index())) {
                (1, Some(i)) => match rows.row_id(i).and_then(|r| u32::try_from(r).ok()) {
                    Some(r) => {
                        ids.push(r);
                        true
                    }
                    None => false,
                },
                _ => false,
            }
        });
        if all_rows {
            FilterOutput::Rows(Rows::select(rows.set().clone(), ids))
        } else {
            FilterOutput::Values(found.iter().map(|n| n.node().clone()).collect())
        }
    }

    /// Apply to an arbitrary JSON value (filter inputs that did not come from a hunt).
    #[must_use]
    pub fn apply_json(&self, value: &Value) -> Vec<Value> {
        self.path.query(value).into_iter().cloned().collect()
    }

    /// Apply to a `filter.input` value: rows from a hunt (or an earlier filter) take
    /// [`RowFilter::apply`]; any other value is converted to JSON the way templates do
    /// ([`crate::template::value::to_json`]) and queried.
    ///
    /// # Errors
    /// When the value cannot be represented as JSON (undefined, a callable).
    pub fn apply_value(&self, input: &MjValue) -> Result<FilterOutput, ValueError> {
        if let Some(rows) = Rows::from_value(input) {
            return Ok(self.apply(&rows));
        }
        let doc = crate::template::value::to_json(input)?;
        Ok(FilterOutput::Values(self.apply_json(&doc)))
    }
}

#[cfg(test)]
mod tests;
