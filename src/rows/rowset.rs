//! [`RowSet`]: the parsed hunting result — columns, column-major 16-byte cells, one string
//! arena — and its conversions to ordinary JSON values.

use std::fmt;

use serde_json::{Map, Number, Value};

/// A Kusto column type as the hunting schema names it (`DateTime`, `String`, `Int64`, …).
///
/// The type is informational: cells keep the JSON type the service actually sent (a string
/// where an `Int64` was announced stays a string), because JSONPath, `tojson` and the JSON
/// writers must see exactly what the service returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KustoType {
    /// `String` / `string`.
    String,
    /// `DateTime` / `datetime`: kept as the text the service printed (0–7 fraction digits).
    DateTime,
    /// `Int32` / `int`.
    Int,
    /// `Int64` / `long`.
    Long,
    /// `Double` / `real`.
    Real,
    /// `Decimal`.
    Decimal,
    /// `Boolean` / `bool` / `SByte` (how .NET reports Kusto `bool`).
    Bool,
    /// `Guid`.
    Guid,
    /// `TimeSpan` / `timespan`.
    TimeSpan,
    /// `Object` / `Dynamic`: nested JSON.
    Dynamic,
    /// Any other or absent type name (the raw text is kept in [`Column::type_name`]).
    Unknown,
}

impl KustoType {
    /// Classify a type name from the schema, accepting Kusto, .NET and lowercase spellings.
    #[must_use]
    pub fn from_name(name: &str) -> KustoType {
        let lower = name
            .trim()
            .trim_start_matches("System.")
            .to_ascii_lowercase();
        match lower.as_str() {
            "string" => KustoType::String,
            "datetime" | "date" => KustoType::DateTime,
            "int32" | "int" => KustoType::Int,
            "int64" | "long" => KustoType::Long,
            "double" | "real" | "single" | "float" => KustoType::Real,
            "decimal" => KustoType::Decimal,
            "boolean" | "bool" | "sbyte" => KustoType::Bool,
            "guid" | "uuid" | "uniqueid" => KustoType::Guid,
            "timespan" | "time" => KustoType::TimeSpan,
            "object" | "dynamic" => KustoType::Dynamic,
            _ => KustoType::Unknown,
        }
    }
}

/// One column: its name and the type the schema announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name, as in the schema (or as first seen in a row, for columns the schema
    /// did not list).
    pub name: String,
    /// The schema's type name verbatim (`None` when the schema did not list the column).
    pub type_name: Option<String>,
    /// The classified type.
    pub kind: KustoType,
}

impl Column {
    pub(crate) fn new(name: String, type_name: Option<String>) -> Column {
        let kind = type_name
            .as_deref()
            .map_or(KustoType::Unknown, KustoType::from_name);
        Column {
            name,
            type_name,
            kind,
        }
    }
}

/// A string's place in the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StrRef {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

/// One cell: 16 bytes, no heap allocation of its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell {
    /// The row has no such key (JSONPath "Nothing"; absent from the row's JSON object).
    Missing,
    Null,
    Bool(bool),
    I64(i64),
    /// Only for integers above `i64::MAX`, as serde_json keeps them.
    U64(u64),
    F64(f64),
    Str(StrRef),
    /// An object or array, stored as compact JSON text.
    Json(StrRef),
}

/// A cell as callers see it, borrowing from the [`RowSet`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CellRef<'a> {
    /// The row has no such key.
    Missing,
    /// JSON `null`.
    Null,
    /// JSON `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// A string, unescaped.
    Str(&'a str),
    /// An object or array, as compact JSON text.
    Json(&'a str),
}

impl CellRef<'_> {
    /// The cell as a `serde_json::Value` (`None` for a missing key).
    #[must_use]
    pub fn to_json(&self) -> Option<Value> {
        Some(match *self {
            CellRef::Missing => return None,
            CellRef::Null => Value::Null,
            CellRef::Bool(b) => Value::Bool(b),
            CellRef::Int(i) => Value::Number(i.into()),
            CellRef::UInt(u) => Value::Number(u.into()),
            // Finite by construction: serde_json never yields NaN or infinities.
            CellRef::Float(f) => Number::from_f64(f).map_or(Value::Null, Value::Number),
            CellRef::Str(s) => Value::String(s.to_owned()),
            // The arena text was produced by serde_json itself, so it parses back.
            CellRef::Json(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        })
    }
}

/// A parsed advanced-hunting result.
///
/// Columns come in schema order, followed by any keys the rows carried that the schema did
/// not list (in the order first seen). Cells are stored column by column, so a filter on one
/// column reads one contiguous vector.
pub struct RowSet {
    pub(crate) columns: Vec<Column>,
    /// How many leading entries of `columns` came from the response's schema.
    pub(crate) schema_len: usize,
    pub(crate) has_schema: bool,
    /// `cells[col][row]`.
    pub(crate) cells: Vec<Vec<Cell>>,
    pub(crate) arena: String,
    pub(crate) rows: usize,
    pub(crate) stats: Option<Value>,
    /// Column names as template values, built once so row lookups do not allocate keys.
    pub(crate) names: Vec<minijinja::Value>,
}

impl fmt::Debug for RowSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowSet")
            .field("rows", &self.rows)
            .field(
                "columns",
                &self.columns.iter().map(|c| &c.name).collect::<Vec<_>>(),
            )
            .field("arena_bytes", &self.arena.len())
            .finish_non_exhaustive()
    }
}

impl RowSet {
    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether there are no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// All columns: the schema's, then extra keys seen in rows.
    #[must_use]
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The columns the response's schema listed, in its order.
    #[must_use]
    pub fn schema_columns(&self) -> &[Column] {
        &self.columns[..self.schema_len]
    }

    /// Whether the response carried a schema at all.
    #[must_use]
    pub fn has_schema(&self) -> bool {
        self.has_schema
    }

    /// Index of a column by exact name.
    #[must_use]
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The Defender `Stats` block, verbatim (Graph responses have none).
    #[must_use]
    pub fn stats(&self) -> Option<&Value> {
        self.stats.as_ref()
    }

    /// The cell at `row`, `col`; [`CellRef::Missing`] when either is out of range.
    #[must_use]
    pub fn cell(&self, row: usize, col: usize) -> CellRef<'_> {
        match self.cells.get(col).and_then(|c| c.get(row)) {
            Some(cell) => self.resolve(*cell),
            None => CellRef::Missing,
        }
    }

    pub(crate) fn resolve(&self, cell: Cell) -> CellRef<'_> {
        match cell {
            Cell::Missing => CellRef::Missing,
            Cell::Null => CellRef::Null,
            Cell::Bool(b) => CellRef::Bool(b),
            Cell::I64(i) => CellRef::Int(i),
            Cell::U64(u) => CellRef::UInt(u),
            Cell::F64(f) => CellRef::Float(f),
            Cell::Str(r) => CellRef::Str(self.str_at(r)),
            Cell::Json(r) => CellRef::Json(self.str_at(r)),
        }
    }

    pub(crate) fn str_at(&self, r: StrRef) -> &str {
        let start = r.start as usize;
        // Refs are only minted by the builder for text it pushed whole, so they are in range
        // and on char boundaries; `get` keeps a logic error from becoming a panic.
        self.arena
            .get(start..start + r.len as usize)
            .unwrap_or_default()
    }

    /// The schema as the hunt step's `schema` output: `[{"name": …, "type": …}]`.
    #[must_use]
    pub fn schema_json(&self) -> Value {
        Value::Array(
            self.schema_columns()
                .iter()
                .map(|c| {
                    let mut m = Map::new();
                    m.insert("name".into(), Value::String(c.name.clone()));
                    m.insert(
                        "type".into(),
                        c.type_name.clone().map_or(Value::Null, Value::String),
                    );
                    Value::Object(m)
                })
                .collect(),
        )
    }

    /// One row as a JSON object (keys in column order; missing keys absent).
    #[must_use]
    pub fn row_json(&self, row: usize) -> Value {
        let mut m = Map::with_capacity(self.columns.len());
        for (ci, col) in self.columns.iter().enumerate() {
            if let Some(v) = self.cell(row, ci).to_json() {
                m.insert(col.name.clone(), v);
            }
        }
        Value::Object(m)
    }

    /// Bytes held by the string arena (for diagnostics and the benchmark).
    #[must_use]
    pub fn arena_bytes(&self) -> usize {
        self.arena.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kusto_type_names_in_every_spelling() {
        assert_eq!(KustoType::from_name("DateTime"), KustoType::DateTime);
        assert_eq!(KustoType::from_name("System.DateTime"), KustoType::DateTime);
        assert_eq!(KustoType::from_name("Int64"), KustoType::Long);
        assert_eq!(KustoType::from_name("long"), KustoType::Long);
        assert_eq!(KustoType::from_name("Object"), KustoType::Dynamic);
        assert_eq!(KustoType::from_name("SByte"), KustoType::Bool);
        assert_eq!(KustoType::from_name("Frobnitz"), KustoType::Unknown);
    }

    #[test]
    fn cell_is_sixteen_bytes() {
        // The memory budget of a 1.2-million-cell result depends on this.
        assert_eq!(std::mem::size_of::<Cell>(), 16);
    }
}
