//! [`Rows`]: a cheap shared view of a [`RowSet`] (all rows or selected ones), and its
//! minijinja face — a lazy sequence of lazy row maps, so templates see ordinary values
//! without 100,000 maps being built up front.

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Value as MjValue};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::rowset::{CellRef, RowSet};

/// Rows of one hunting result: the shared [`RowSet`] plus, after a filter, the indices kept.
/// Cloning copies two pointers.
#[derive(Clone)]
pub struct Rows {
    set: Arc<RowSet>,
    sel: Option<Arc<[u32]>>,
}

impl fmt::Debug for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rows")
            .field("len", &self.len())
            .field("of", &self.set.len())
            .finish()
    }
}

impl Rows {
    /// Every row of `set`.
    #[must_use]
    pub fn all(set: Arc<RowSet>) -> Rows {
        Rows { set, sel: None }
    }

    /// The rows of `set` at `indices` (in that order). Indices out of range are dropped.
    #[must_use]
    pub fn select(set: Arc<RowSet>, indices: Vec<u32>) -> Rows {
        let n = set.len();
        let indices: Vec<u32> = indices.into_iter().filter(|&i| (i as usize) < n).collect();
        Rows {
            set,
            sel: Some(indices.into()),
        }
    }

    /// The underlying row set (schema, stats, every row).
    #[must_use]
    pub fn set(&self) -> &Arc<RowSet> {
        &self.set
    }

    /// Number of rows in the view.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sel.as_ref().map_or(self.set.len(), |s| s.len())
    }

    /// Whether the view has no rows.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The underlying row index of the view's `i`th row.
    #[must_use]
    pub fn row_id(&self, i: usize) -> Option<usize> {
        match &self.sel {
            Some(s) => s.get(i).map(|&r| r as usize),
            None => (i < self.set.len()).then_some(i),
        }
    }

    /// The view's `i`th row.
    #[must_use]
    pub fn get(&self, i: usize) -> Option<RowRef<'_>> {
        self.row_id(i).map(|row| RowRef {
            set: &self.set,
            row,
        })
    }

    /// The rows in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RowRef<'_>> + '_ {
        (0..self.len()).map(move |i| RowRef {
            set: &self.set,
            // In range: `i < self.len()`.
            row: self.row_id(i).unwrap_or(0),
        })
    }

    /// Keep the rows for which `keep` says yes, as a new view over the same set.
    #[must_use]
    pub fn retain_ids(&self, mut keep: impl FnMut(usize) -> bool) -> Rows {
        let ids: Vec<u32> = match &self.sel {
            Some(s) => s.iter().copied().filter(|&r| keep(r as usize)).collect(),
            None => (0..self.set.len())
                .filter(|&r| keep(r))
                .map(|r| r as u32)
                .collect(),
        };
        Rows {
            set: self.set.clone(),
            sel: Some(ids.into()),
        }
    }

    /// The rows as one JSON array of objects: the general path for code that needs plain
    /// values (it builds every row; avoid it on large results when a view will do).
    #[must_use]
    pub fn to_json_value(&self) -> Value {
        Value::Array(self.iter().map(|r| r.to_json()).collect())
    }

    /// The rows as a template value: a sequence of row maps built on access.
    #[must_use]
    pub fn into_value(self) -> MjValue {
        MjValue::from_object(RowsObject(self))
    }

    /// Recover the rows behind a template value made by [`Rows::into_value`] (the engine
    /// uses this so `filter: {input: "{{ steps.hunt.results }}"}` keeps the fast path).
    #[must_use]
    pub fn from_value(value: &MjValue) -> Option<Rows> {
        value
            .downcast_object_ref::<RowsObject>()
            .map(|o| o.0.clone())
    }
}

/// The most rows the hunting APIs return; a result of exactly this size was probably cut
/// off by the service (it says nothing itself), so `truncated` is set.
pub const ROW_LIMIT: usize = 100_000;

/// The `hunt` step's outputs (playbook language §3) as one template map: `results` (the
/// lazy row sequence), `schema` (`[{name, type}]`), `stats` (Defender's block, or none),
/// `count`, and `truncated` (the result reached [`ROW_LIMIT`]).
#[must_use]
pub fn hunt_outputs(set: Arc<RowSet>) -> MjValue {
    let count = set.len();
    let schema = MjValue::from(minijinja::value::Serde(set.schema_json()));
    let stats = set.stats().map_or(MjValue::from(()), |s| {
        MjValue::from(minijinja::value::Serde(s))
    });
    minijinja::context! {
        results => Rows::all(set).into_value(),
        schema => schema,
        stats => stats,
        count => count,
        truncated => count >= ROW_LIMIT,
    }
}

/// One row of a [`Rows`] view.
#[derive(Clone, Copy)]
pub struct RowRef<'a> {
    set: &'a RowSet,
    row: usize,
}

impl fmt::Debug for RowRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RowRef({})", self.row)
    }
}

impl<'a> RowRef<'a> {
    /// The row's index in its [`RowSet`].
    #[must_use]
    pub fn index(&self) -> usize {
        self.row
    }

    /// The cell in column `col`.
    #[must_use]
    pub fn cell(&self, col: usize) -> CellRef<'a> {
        self.set.cell(self.row, col)
    }

    /// The cell of the column named `name` ([`CellRef::Missing`] when there is none).
    #[must_use]
    pub fn get(&self, name: &str) -> CellRef<'a> {
        self.set
            .column_index(name)
            .map_or(CellRef::Missing, |c| self.cell(c))
    }

    /// The row as a JSON object.
    #[must_use]
    pub fn to_json(&self) -> Value {
        self.set.row_json(self.row)
    }
}

impl Serialize for CellRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            CellRef::Missing | CellRef::Null => s.serialize_unit(),
            CellRef::Bool(b) => s.serialize_bool(b),
            CellRef::Int(i) => s.serialize_i64(i),
            CellRef::UInt(u) => s.serialize_u64(u),
            CellRef::Float(f) => s.serialize_f64(f),
            CellRef::Str(t) => s.serialize_str(t),
            CellRef::Json(text) => match serde_json::from_str::<&serde_json::value::RawValue>(text)
            {
                Ok(raw) => raw.serialize(s),
                Err(_) => s.serialize_unit(),
            },
        }
    }
}

impl Serialize for RowRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (ci, col) in self.set.columns().iter().enumerate() {
            let cell = self.cell(ci);
            if cell != CellRef::Missing {
                m.serialize_entry(&col.name, &cell)?;
            }
        }
        m.end()
    }
}

impl Serialize for Rows {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for r in self.iter() {
            seq.serialize_element(&r)?;
        }
        seq.end()
    }
}

/// A cell as a template value; `None` for a missing key (undefined, so strict templates
/// report it).
pub(crate) fn cell_value(cell: CellRef<'_>) -> Option<MjValue> {
    Some(match cell {
        CellRef::Missing => return None,
        CellRef::Null => MjValue::from(()),
        CellRef::Bool(b) => MjValue::from(b),
        CellRef::Int(i) => MjValue::from(i),
        CellRef::UInt(u) => MjValue::from(u),
        CellRef::Float(f) => MjValue::from(f),
        CellRef::Str(s) => MjValue::from(s),
        CellRef::Json(text) => match serde_json::from_str::<Value>(text) {
            Ok(v) => MjValue::from(minijinja::value::Serde(&v)),
            Err(_) => MjValue::from(()),
        },
    })
}

#[derive(Debug)]
struct RowsObject(Rows);

impl Object for RowsObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        // minijinja turns negative indices into positive ones before asking.
        let row = self.0.row_id(key.as_usize()?)?;
        Some(MjValue::from_object(RowObject {
            set: self.0.set.clone(),
            row,
        }))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.len())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }
}

#[derive(Debug)]
struct RowObject {
    set: Arc<RowSet>,
    row: usize,
}

impl Object for RowObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &MjValue) -> Option<MjValue> {
        self.get_value_by_str(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<MjValue> {
        let col = self.set.column_index(key)?;
        cell_value(self.set.cell(self.row, col))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<MjValue> = (0..self.set.columns().len())
            .filter(|&c| self.set.cell(self.row, c) != CellRef::Missing)
            .filter_map(|c| self.set.names.get(c).cloned())
            .collect();
        Enumerator::Values(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Rows {
        let body = r#"{"schema":[{"name":"DeviceName","type":"String"},{"name":"AccountName","type":"String"},
            {"name":"Count","type":"Int64"},{"name":"Extra","type":"Dynamic"}],
            "results":[{"DeviceName":"ws1","AccountName":"system","Count":1,"Extra":{"k":[1,2]}},
                       {"DeviceName":"ws2","AccountName":"alice","Count":2},
                       {"DeviceName":"ws1","AccountName":"bob","Count":null,"Extra":"x"}]}"#;
        Rows::all(Arc::new(RowSet::from_slice(body.as_bytes()).unwrap()))
    }

    fn render(tpl: &str, rows: &Rows) -> Result<String, minijinja::Error> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.render_str(
            tpl,
            minijinja::context! { rows => rows.clone().into_value() },
        )
    }

    #[test]
    fn templates_iterate_index_and_count_rows() {
        let rows = sample();
        assert_eq!(
            render(
                "{% for r in rows %}{{ r.DeviceName }}/{{ r['AccountName'] }};{% endfor %}",
                &rows
            )
            .unwrap(),
            "ws1/system;ws2/alice;ws1/bob;"
        );
        assert_eq!(render("{{ rows|length }}", &rows).unwrap(), "3");
        assert_eq!(render("{{ rows[1].Count + 1 }}", &rows).unwrap(), "3");
        assert_eq!(render("{{ rows[-1].AccountName }}", &rows).unwrap(), "bob");
        assert_eq!(render("{{ rows[0].Extra.k[1] }}", &rows).unwrap(), "2");
        assert_eq!(
            render("{{ rows[2].Count is none }}", &rows).unwrap(),
            "True"
        );
        assert_eq!(
            render(
                "{{ rows|map(attribute='DeviceName')|unique|list|length }}",
                &rows
            )
            .unwrap(),
            "2"
        );
        assert_eq!(
            render(
                "{% for r in rows[:2] %}{{ r.DeviceName }}{% endfor %}",
                &rows
            )
            .unwrap(),
            "ws1ws2"
        );
    }

    #[test]
    fn tojson_and_keys_see_ordinary_values() {
        let rows = sample();
        let out = render("{{ rows[0]|tojson }}", &rows).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"DeviceName":"ws1","AccountName":"system","Count":1,"Extra":{"k":[1,2]}})
        );
        assert_eq!(
            render("{{ rows[1]|list|join(',') }}", &rows).unwrap(),
            "DeviceName,AccountName,Count"
        );
    }

    #[test]
    fn a_missing_key_is_undefined_in_strict_templates() {
        let rows = sample();
        let err = render("{{ rows[1].Extra }}", &rows).unwrap_err();
        assert_eq!(err.kind(), minijinja::ErrorKind::UndefinedError);
        assert_eq!(
            render("{{ rows[1].Extra is defined }}", &rows).unwrap(),
            "False"
        );
    }

    #[test]
    fn hunt_outputs_expose_the_documented_keys() {
        let set = sample().set().clone();
        let out = hunt_outputs(set);
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        let text = env
            .render_str(
                "{{ h.count }} {{ h.truncated }} {{ h.schema[3].type }} {{ h.stats is none }} {{ h.results[1].DeviceName }}",
                minijinja::context! { h => out },
            )
            .unwrap();
        assert_eq!(text, "3 False Dynamic True ws2");
    }

    #[test]
    fn value_round_trip_and_serialize() {
        let rows = sample();
        let v = rows.clone().into_value();
        let back = Rows::from_value(&v).unwrap();
        assert_eq!(back.len(), 3);
        assert!(Rows::from_value(&MjValue::from(3)).is_none());
        let kept = rows.retain_ids(|r| r != 1);
        assert_eq!(
            serde_json::to_value(&kept).unwrap(),
            serde_json::json!([
                {"DeviceName":"ws1","AccountName":"system","Count":1,"Extra":{"k":[1,2]}},
                {"DeviceName":"ws1","AccountName":"bob","Count":null,"Extra":"x"}
            ])
        );
        assert_eq!(serde_json::to_value(&kept).unwrap(), kept.to_json_value());
    }
}
