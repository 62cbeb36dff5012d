//! RFC 9535 JSONPath over hunting rows: `serde_json_path` decides what is valid and answers
//! the general case; a fast path evaluates `$[?…]` filters row by row, straight from the
//! compact cells.

mod fast;

use minijinja::value::Value as MjValue;
use serde_json::Value;
use serde_json_path::JsonPath;

use super::view::Rows;
use crate::jsonpath::JsonPathError;
use crate::template::value::ValueError;

/// A compiled `filter.jsonpath`: compile once when the playbook loads, apply per run.
#[derive(Debug)]
pub struct RowFilter {
    source: String,
    path: JsonPath,
    fast: Option<fast::FastFilter>,
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
        crate::jsonpath::JsonPath::compile(path)?;
        // Our own handle too: the general path needs located results, which the shared
        // wrapper does not expose. It parsed once already, so this cannot fail; if it ever
        // did, report it the same way rather than panic.
        let compiled = JsonPath::parse(path).map_err(|e| JsonPathError {
            message: e.message().to_owned(),
            offset: e.position(),
            column: e.position() + 1,
        })?;
        Ok(RowFilter {
            source: path.to_owned(),
            path: compiled,
            fast: fast::FastFilter::parse(path),
        })
    }

    /// The expression as written.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
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

    /// Apply through `serde_json_path` on the rows' JSON form (what [`RowFilter::apply`]
    /// falls back to; public so tests can hold the fast path against it).
    #[must_use]
    pub fn apply_general(&self, rows: &Rows) -> FilterOutput {
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
        self.path.query(value).all().into_iter().cloned().collect()
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
