//! Building hunting tables column by column (from generated rows or from a `--data` file),
//! in the exact column order and types of `schema.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use super::kql::value::{Type, Value, parse_datetime, parse_timespan};
use super::kql::{Column, ColumnDef, Relation};
use super::schema::ColumnSpec;
use crate::emulator::EmuError;

/// A pool of values and a code per row: the dictionary form of a column under construction.
#[derive(Debug, Default)]
pub struct Interner {
    map: HashMap<String, u32>,
    values: Vec<Value>,
}

impl Interner {
    /// The code of `text`, added to the pool on first sight.
    pub fn code(&mut self, text: &str) -> u32 {
        if let Some(&c) = self.map.get(text) {
            return c;
        }
        let c = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        self.values.push(Value::str(text));
        self.map.insert(text.to_string(), c);
        c
    }

    /// The pool, for a dictionary column.
    #[must_use]
    pub fn pool(&self) -> Arc<[Value]> {
        self.values.clone().into()
    }
}

/// A pool built from items.
pub fn pool<T>(items: &[T], f: impl Fn(&T) -> Value) -> Arc<[Value]> {
    items.iter().map(f).collect::<Vec<_>>().into()
}

/// Collects the columns of one table; columns never set are empty (`""` or null).
pub struct TableBuilder {
    schema: &'static [ColumnSpec],
    len: usize,
    columns: Vec<Option<Arc<Column>>>,
}

impl TableBuilder {
    #[must_use]
    pub fn new(schema: &'static [ColumnSpec], len: usize) -> TableBuilder {
        TableBuilder {
            schema,
            len,
            columns: vec![None; schema.len()],
        }
    }

    /// Whether the table has a column named `name`.
    #[must_use]
    pub fn has_column(&self, name: &str) -> bool {
        self.schema.iter().any(|(n, _)| *n == name)
    }

    fn slot(&mut self, name: &str) -> Option<&mut Option<Arc<Column>>> {
        let i = self.schema.iter().position(|(n, _)| *n == name);
        debug_assert!(i.is_some(), "unknown column {name}");
        i.and_then(|i| self.columns.get_mut(i))
    }

    /// Set a column that is already built (so two columns can share one, e.g.
    /// `ProcessCreationTime` and `Timestamp`).
    pub fn shared(&mut self, name: &str, col: Arc<Column>) {
        if let Some(s) = self.slot(name) {
            *s = Some(col);
        }
    }

    /// A dictionary column: `codes` index `pool`.
    pub fn dict(&mut self, name: &str, pool: &Arc<[Value]>, codes: impl Iterator<Item = u32>) {
        let col = Column::Dict {
            pool: pool.clone(),
            codes: codes.collect(),
        };
        self.shared(name, Arc::new(col));
    }

    /// A column of one value per row.
    pub fn plain(&mut self, name: &str, values: impl Iterator<Item = Value>) -> Arc<Column> {
        let col = Arc::new(Column::Plain(values.collect()));
        self.shared(name, col.clone());
        col
    }

    /// A column with the same value in every row.
    pub fn constant(&mut self, name: &str, value: Value) {
        let len = self.len;
        self.shared(name, Arc::new(Column::Const(value, len)));
    }

    /// Strings interned into a dictionary column.
    pub fn strings<'a>(&mut self, name: &str, values: impl Iterator<Item = &'a str>) {
        let mut interner = Interner::default();
        let codes: Vec<u32> = values.map(|v| interner.code(v)).collect();
        let pool = interner.pool();
        self.dict(name, &pool, codes.into_iter());
    }

    /// The finished table.
    #[must_use]
    pub fn build(self) -> Relation {
        let schema: Vec<ColumnDef> = self
            .schema
            .iter()
            .map(|(n, t)| ColumnDef::new(n, *t))
            .collect();
        let len = self.len;
        let columns = self
            .columns
            .into_iter()
            .zip(self.schema)
            .map(|(c, (_, t))| c.unwrap_or_else(|| Arc::new(Column::Const(t.null_value(), len))))
            .collect();
        Relation::new(schema, columns, len)
    }
}

/// Convert one `--data` cell to a column type, or say why it does not fit.
fn cell(v: &serde_json::Value, ty: Type) -> Result<Value, String> {
    use serde_json::Value as J;
    if v.is_null() {
        return Ok(ty.null_value());
    }
    let mismatch = || {
        Err(format!(
            "expected a value of type {}, got {}",
            ty.kql_name(),
            match v {
                J::Bool(_) => "a boolean".to_string(),
                J::Number(_) => "a number".to_string(),
                J::String(s) => format!("the string {s:?}"),
                J::Array(_) => "an array".to_string(),
                J::Object(_) => "an object".to_string(),
                J::Null => "null".to_string(),
            }
        ))
    };
    match (ty, v) {
        (Type::String, J::String(s)) => Ok(Value::str(s)),
        (Type::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Long, J::Number(n)) => n.as_i64().map(Value::Long).map_or_else(mismatch, Ok),
        (Type::Int, J::Number(n)) => n
            .as_i64()
            .and_then(|i| i32::try_from(i).ok())
            .map(Value::Int)
            .map_or_else(mismatch, Ok),
        (Type::Real, J::Number(n)) => n.as_f64().map(Value::Real).map_or_else(mismatch, Ok),
        (Type::DateTime, J::String(s)) => parse_datetime(s).map(Value::DateTime).map_or_else(
            || {
                Err(format!(
                    "{s:?} is not a datetime (use ISO 8601, e.g. 2026-11-25T10:00:00Z)"
                ))
            },
            Ok,
        ),
        (Type::TimeSpan, J::String(s)) => parse_timespan(s).map(Value::TimeSpan).map_or_else(
            || Err(format!("{s:?} is not a timespan (e.g. 1.02:00:00 or 90m)")),
            Ok,
        ),
        (Type::Dynamic, other) => Ok(Value::dynamic(other.clone())),
        _ => mismatch(),
    }
}

/// Build table `name` from `--data` rows, checking every column name and value type.
///
/// # Errors
/// `EmuError::Data` naming the table, row and column of the first problem.
pub fn from_data(
    name: &str,
    schema: &'static [ColumnSpec],
    rows: &[serde_json::Map<String, serde_json::Value>],
) -> Result<Relation, EmuError> {
    let mut values: Vec<Vec<Value>> = schema
        .iter()
        .map(|_| Vec::with_capacity(rows.len()))
        .collect();
    for (r, row) in rows.iter().enumerate() {
        for key in row.keys() {
            if !schema.iter().any(|(n, _)| n == key) {
                let names: Vec<&str> = schema.iter().map(|(n, _)| *n).collect();
                let hint = names
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(key))
                    .copied()
                    .or_else(|| super::kql::parser::strsim_suggest(key, &names))
                    .map_or(String::new(), |s| format!(" (did you mean `{s}`?)"));
                return Err(EmuError::Data(format!(
                    "tables.{name}[{r}]: `{key}` is not a column of {name}{hint}"
                )));
            }
        }
        for ((col, ty), out) in schema.iter().zip(values.iter_mut()) {
            let v = match row.get(*col) {
                Some(v) => cell(v, *ty)
                    .map_err(|e| EmuError::Data(format!("tables.{name}[{r}].{col}: {e}")))?,
                None => ty.null_value(),
            };
            out.push(v);
        }
    }
    let len = rows.len();
    let defs = schema.iter().map(|(n, t)| ColumnDef::new(n, *t)).collect();
    let columns = values
        .into_iter()
        .map(|v| Arc::new(Column::Plain(v)))
        .collect();
    Ok(Relation::new(defs, columns, len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::hunting::schema::{ALERT_INFO, IDENTITY_LOGON_EVENTS};
    use serde_json::json;

    fn rows(v: serde_json::Value) -> Vec<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn data_rows_fill_the_schema_in_order() {
        let r = from_data(
            "AlertInfo",
            ALERT_INFO,
            &rows(json!([{"Timestamp": "2026-11-25T10:00:00Z", "AlertId": "da1", "Severity": "High"}])),
        )
        .unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r.schema.len(), 8);
        assert_eq!(r.get(0, 1).as_str(), Some("da1"));
        assert_eq!(r.get(0, 2).as_str(), Some(""));
        assert_eq!(r.get(0, 0).to_kql_string(), "2026-11-25T10:00:00.0000000Z");
    }

    #[test]
    fn data_errors_name_table_row_and_column() {
        let e = from_data(
            "AlertInfo",
            ALERT_INFO,
            &rows(json!([{}, {"Severty": "High"}])),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "tables.AlertInfo[1]: `Severty` is not a column of AlertInfo (did you mean `Severity`?)"
        );
        let e = from_data(
            "AlertInfo",
            ALERT_INFO,
            &rows(json!([{"Timestamp": "yesterday"}])),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("tables.AlertInfo[0].Timestamp: \"yesterday\" is not a datetime"),
            "{e}"
        );
        let e = from_data(
            "IdentityLogonEvents",
            IDENTITY_LOGON_EVENTS,
            &rows(json!([{"Port": "443"}])),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "tables.IdentityLogonEvents[0].Port: expected a value of type int, got the string \"443\""
        );
        let ok = from_data(
            "IdentityLogonEvents",
            IDENTITY_LOGON_EVENTS,
            &rows(json!([{"AdditionalFields": {"a": 1}, "Port": 443}])),
        )
        .unwrap();
        assert_eq!(ok.get(0, 25).to_kql_string(), r#"{"a":1}"#);
    }

    #[test]
    fn builder_defaults_unset_columns_to_empty() {
        let mut b = TableBuilder::new(ALERT_INFO, 2);
        b.strings("Title", ["a", "a"].into_iter());
        b.constant("Severity", Value::str("High"));
        let r = b.build();
        assert_eq!(r.get(1, 2).as_str(), Some("a"));
        assert_eq!(r.get(1, 4).as_str(), Some("High"));
        assert_eq!(r.get(1, 3).as_str(), Some(""));
        assert!(r.get(1, 0).is_null());
    }
}
