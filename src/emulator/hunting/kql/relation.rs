//! Columnar tables and intermediate results. Columns are shared (`Arc`) between a table and
//! every result derived from it, and a selection vector maps result rows onto column rows, so
//! `where`, `project`, `take` and `sort` never copy cell values: a 100,000-row answer costs a
//! vector of row numbers, not a copy of the table.

use std::sync::Arc;

use super::value::{NULL, Type, Value};

/// A column's cells.
#[derive(Debug, Clone)]
pub enum Column {
    /// The same value in every row (empty columns of the synthetic tables).
    Const(Value, usize),
    /// Values drawn from a small pool: one index per row. Most hunting columns (device names,
    /// accounts, file names, action types) repeat heavily, so this is the compact form.
    Dict { pool: Arc<[Value]>, codes: Vec<u32> },
    /// One value per row.
    Plain(Vec<Value>),
}

impl Column {
    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Column::Const(_, n) => *n,
            Column::Dict { codes, .. } => codes.len(),
            Column::Plain(v) => v.len(),
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cell at physical row `i` (null past the end, which the engine never asks for).
    #[must_use]
    pub fn get(&self, i: usize) -> &Value {
        match self {
            Column::Const(v, n) => {
                if i < *n {
                    v
                } else {
                    &NULL
                }
            }
            Column::Dict { pool, codes } => codes
                .get(i)
                .and_then(|c| pool.get(*c as usize))
                .unwrap_or(&NULL),
            Column::Plain(v) => v.get(i).unwrap_or(&NULL),
        }
    }

    /// A new column holding rows `rows` of this one, in that order.
    #[must_use]
    pub fn gather(&self, rows: &[u32]) -> Column {
        match self {
            Column::Const(v, _) => Column::Const(v.clone(), rows.len()),
            Column::Dict { pool, codes } => Column::Dict {
                pool: pool.clone(),
                codes: rows
                    .iter()
                    .map(|&r| codes.get(r as usize).copied().unwrap_or(0))
                    .collect(),
            },
            Column::Plain(v) => Column::Plain(
                rows.iter()
                    .map(|&r| v.get(r as usize).cloned().unwrap_or(Value::Null))
                    .collect(),
            ),
        }
    }

    /// Approximate heap bytes, for the `Stats` block and the performance notes.
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        match self {
            Column::Const(..) => 0,
            Column::Dict { pool, codes } => codes.len() * 4 + pool.len() * 48,
            Column::Plain(v) => v.len() * std::mem::size_of::<Value>(),
        }
    }
}

/// A column's name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    pub name: Arc<str>,
    pub ty: Type,
}

impl ColumnDef {
    #[must_use]
    pub fn new(name: &str, ty: Type) -> ColumnDef {
        ColumnDef {
            name: Arc::from(name),
            ty,
        }
    }
}

/// A table or an intermediate result: a schema, shared columns and an optional selection
/// (result row `i` is column row `sel[i]`; without one, row `i` is row `i`).
#[derive(Debug, Clone)]
pub struct Relation {
    pub schema: Vec<ColumnDef>,
    pub columns: Vec<Arc<Column>>,
    sel: Option<Arc<[u32]>>,
    len: usize,
}

impl Relation {
    /// A relation over whole columns (all of length `len`).
    #[must_use]
    pub fn new(schema: Vec<ColumnDef>, columns: Vec<Arc<Column>>, len: usize) -> Relation {
        Relation {
            schema,
            columns,
            sel: None,
            len,
        }
    }

    /// A relation with no columns and `len` rows (`print`'s input).
    #[must_use]
    pub fn empty_rows(len: usize) -> Relation {
        Relation::new(Vec::new(), Vec::new(), len)
    }

    /// A relation built from rows of values (summarize output, `datatable`).
    #[must_use]
    pub fn from_rows(schema: Vec<ColumnDef>, rows: Vec<Vec<Value>>) -> Relation {
        let len = rows.len();
        let mut cols: Vec<Vec<Value>> =
            (0..schema.len()).map(|_| Vec::with_capacity(len)).collect();
        for row in rows {
            for (c, v) in cols.iter_mut().zip(row) {
                c.push(v);
            }
        }
        let columns = cols
            .into_iter()
            .map(|c| Arc::new(Column::Plain(c)))
            .collect();
        Relation::new(schema, columns, len)
    }

    /// Number of rows.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The column row of result row `row`.
    #[inline]
    #[must_use]
    pub fn physical(&self, row: usize) -> usize {
        match &self.sel {
            Some(s) => s.get(row).map_or(usize::MAX, |&r| r as usize),
            None => row,
        }
    }

    /// The cell at (`row`, `col`).
    #[inline]
    #[must_use]
    pub fn get(&self, row: usize, col: usize) -> &Value {
        match self.columns.get(col) {
            Some(c) => c.get(self.physical(row)),
            None => &NULL,
        }
    }

    /// Position of the column named `name`.
    #[must_use]
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.schema.iter().position(|c| &*c.name == name)
    }

    /// Keep result rows `rows` (indexes into this relation), in that order. Columns are shared.
    #[must_use]
    pub fn select_rows(&self, rows: Vec<u32>) -> Relation {
        let sel: Arc<[u32]> = match &self.sel {
            Some(s) => rows
                .iter()
                .map(|&r| s.get(r as usize).copied().unwrap_or(u32::MAX))
                .collect(),
            None => rows.into(),
        };
        Relation {
            schema: self.schema.clone(),
            columns: self.columns.clone(),
            len: sel.len(),
            sel: Some(sel),
        }
    }

    /// The first `n` rows.
    #[must_use]
    pub fn take(&self, n: usize) -> Relation {
        if n >= self.len {
            return self.clone();
        }
        match &self.sel {
            Some(s) => Relation {
                schema: self.schema.clone(),
                columns: self.columns.clone(),
                sel: Some(s.iter().take(n).copied().collect()),
                len: n,
            },
            None => self.select_rows((0..n as u32).collect()),
        }
    }

    /// Keep and reorder columns: `cols[i]` is the source column of output column `i`, named
    /// `schema[i]`.
    #[must_use]
    pub fn select_columns(&self, cols: &[usize], schema: Vec<ColumnDef>) -> Relation {
        Relation {
            schema,
            columns: cols
                .iter()
                .map(|&c| {
                    self.columns
                        .get(c)
                        .cloned()
                        .unwrap_or_else(|| Arc::new(Column::Const(Value::Null, 0)))
                })
                .collect(),
            sel: self.sel.clone(),
            len: self.len,
        }
    }

    /// The same rows with the selection applied to every column, so new dense columns (one
    /// value per result row) can sit beside the existing ones.
    #[must_use]
    pub fn densify(&self) -> Relation {
        match &self.sel {
            None => self.clone(),
            Some(s) => Relation {
                schema: self.schema.clone(),
                columns: self.columns.iter().map(|c| Arc::new(c.gather(s))).collect(),
                sel: None,
                len: self.len,
            },
        }
    }

    /// Whether the columns are indexed by result row (no selection).
    #[must_use]
    pub fn is_dense(&self) -> bool {
        self.sel.is_none()
    }

    /// Add or replace columns on a dense relation: each `(def, values, replace)` replaces the
    /// column at `replace` in place, or is appended.
    ///
    /// Callers densify first; a sparse relation is densified here.
    #[must_use]
    pub fn with_columns(&self, added: Vec<(ColumnDef, Vec<Value>, Option<usize>)>) -> Relation {
        let mut out = self.densify();
        for (def, values, replace) in added {
            let col = Arc::new(Column::Plain(values));
            match replace {
                Some(i) if i < out.columns.len() => {
                    out.schema[i] = def;
                    out.columns[i] = col;
                }
                _ => {
                    out.schema.push(def);
                    out.columns.push(col);
                }
            }
        }
        out
    }

    /// One row as values (tests and small results).
    #[must_use]
    pub fn row(&self, row: usize) -> Vec<Value> {
        (0..self.columns.len())
            .map(|c| self.get(row, c).clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel() -> Relation {
        let schema = vec![
            ColumnDef::new("a", Type::Long),
            ColumnDef::new("b", Type::String),
        ];
        let pool: Arc<[Value]> = vec![Value::str("x"), Value::str("y")].into();
        Relation::new(
            schema,
            vec![
                Arc::new(Column::Plain((0..5).map(Value::Long).collect())),
                Arc::new(Column::Dict {
                    pool,
                    codes: vec![0, 1, 0, 1, 1],
                }),
            ],
            5,
        )
    }

    #[test]
    fn selections_compose_without_copying_columns() {
        let r = rel();
        let s = r.select_rows(vec![4, 2, 1]);
        let t = s.select_rows(vec![2, 0]);
        assert_eq!(t.len(), 2);
        assert!(matches!(t.get(0, 0), Value::Long(1)));
        assert!(matches!(t.get(1, 0), Value::Long(4)));
        assert!(Arc::ptr_eq(&t.columns[0], &r.columns[0]));
        assert_eq!(t.get(0, 1).as_str(), Some("y"));
    }

    #[test]
    fn densify_then_add_column() {
        let r = rel().select_rows(vec![3, 0]);
        let d = r.with_columns(vec![(
            ColumnDef::new("c", Type::Bool),
            vec![Value::Bool(true), Value::Bool(false)],
            None,
        )]);
        assert!(d.is_dense());
        assert_eq!(d.schema.len(), 3);
        assert!(matches!(d.get(0, 0), Value::Long(3)));
        assert!(matches!(d.get(1, 2), Value::Bool(false)));
        assert!(matches!(d.get(9, 0), Value::Null));
    }

    #[test]
    fn take_and_select_columns() {
        let r = rel()
            .take(2)
            .select_columns(&[1], vec![ColumnDef::new("B", Type::String)]);
        assert_eq!(r.len(), 2);
        assert_eq!(r.row(1)[0].as_str(), Some("y"));
    }
}
