//! Parsing a hunting response into a [`RowSet`] in one pass: serde_json drives, custom seeds
//! put each value straight into its column (no intermediate `Value` per row).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::error::RowsError;
use super::rowset::{Cell, Column, RowSet, StrRef};

/// Knobs for parsing; the defaults are what the engine uses.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// Store each distinct string of a column once while the column repeats itself (device
    /// names, account names, hashes); columns that turn out mostly unique stop interning.
    pub intern: bool,
}

impl Default for ParseOptions {
    fn default() -> ParseOptions {
        ParseOptions { intern: true }
    }
}

/// More columns than any hunting table has; a bound so hostile input cannot make every
/// row pay for millions of late-discovered keys.
const MAX_COLUMNS: usize = 4096;
/// Upper bound on rows × columns (1 GiB of cells).
const MAX_CELLS: usize = 64 << 20;
/// After this many strings, a column whose values were mostly distinct stops interning.
const INTERN_PROBE: u32 = 4096;

impl RowSet {
    /// Parse a whole Graph or Defender hunting response.
    ///
    /// # Errors
    /// Invalid JSON, a top level that is not an object, no `results`/`Results` array, a row
    /// that is not an object, a duplicate schema column, or a response beyond the size
    /// limits.
    pub fn from_slice(body: &[u8]) -> Result<RowSet, RowsError> {
        RowSet::from_slice_with(body, ParseOptions::default())
    }

    /// [`RowSet::from_slice`] with explicit options.
    ///
    /// # Errors
    /// As [`RowSet::from_slice`].
    pub fn from_slice_with(body: &[u8], opts: ParseOptions) -> Result<RowSet, RowsError> {
        let mut acc = Accum::new(opts, body.len());
        let mut de = serde_json::Deserializer::from_slice(body);
        let parsed = DocSeed { acc: &mut acc }.deserialize(&mut de);
        if let Err(e) = parsed.and_then(|()| de.end()) {
            return Err(match acc.fatal.take() {
                Some(fatal) => fatal,
                None if e.is_eof() => RowsError::Truncated,
                None => RowsError::Json(e),
            });
        }
        acc.finish()
    }
}

/// FxHash-style: the map only needs to spread keys; equality is always checked on bytes.
fn hash_str(s: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = s.len() as u64;
    let mut chunks = s.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut w = [0u8; 8];
        w[..tail.len()].copy_from_slice(tail);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    h
}

/// Passes a precomputed hash through unchanged.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
struct Interner {
    map: HashMap<u64, StrRef, BuildHasherDefault<IdHasher>>,
    lookups: u32,
    off: bool,
}

/// The parse state shared by the whole-body and the chunked parsers.
pub(crate) struct Accum {
    opts: ParseOptions,
    columns: Vec<Column>,
    by_name: HashMap<String, usize>,
    cells: Vec<Vec<Cell>>,
    interners: Vec<Interner>,
    arena: String,
    rows: usize,
    /// Column of the previous key: rows usually repeat the key order, so the next key is
    /// checked against the next column before any lookup.
    last_col: usize,
    schema: Option<Vec<Column>>,
    stats: Option<Value>,
    saw_results: bool,
    /// A typed error raised inside a serde visitor, reported instead of serde's wrapper.
    pub(crate) fatal: Option<RowsError>,
}

impl Accum {
    pub(crate) fn new(opts: ParseOptions, size_hint: usize) -> Accum {
        // Values are roughly half of a hunting response (keys, quotes and punctuation are
        // the rest); interning shrinks it further. Untouched capacity costs no memory.
        let mut arena = String::new();
        arena.reserve(size_hint / 2);
        Accum {
            opts,
            columns: Vec::new(),
            by_name: HashMap::new(),
            cells: Vec::new(),
            interners: Vec::new(),
            arena,
            rows: 0,
            last_col: usize::MAX,
            schema: None,
            stats: None,
            saw_results: false,
            fatal: None,
        }
    }

    fn fail<E: de::Error>(&mut self, err: RowsError) -> E {
        let msg = err.to_string();
        self.fatal = Some(err);
        E::custom(msg)
    }

    pub(crate) fn set_schema(&mut self, schema: Vec<SchemaEntry>) -> Result<(), RowsError> {
        if self.schema.is_some() {
            return Err(RowsError::DuplicateMember("schema"));
        }
        let mut cols: Vec<Column> = Vec::with_capacity(schema.len());
        for e in schema {
            if cols.iter().any(|c| c.name == e.name) {
                return Err(RowsError::DuplicateColumn(e.name));
            }
            cols.push(Column::new(e.name, e.kind));
        }
        if cols.len() > MAX_COLUMNS {
            return Err(RowsError::TooLarge("more than 4096 columns"));
        }
        // Seeding the columns before any row arrives makes the key-order prediction hit
        // from the first row and keeps discovered columns in schema order.
        if self.columns.is_empty() {
            for c in &cols {
                self.add_column(c.name.clone());
            }
        }
        self.schema = Some(cols);
        Ok(())
    }

    pub(crate) fn set_stats(&mut self, stats: Value) {
        self.stats = Some(stats);
    }

    pub(crate) fn begin_results(&mut self) -> Result<(), RowsError> {
        if self.saw_results {
            return Err(RowsError::DuplicateMember("results"));
        }
        self.saw_results = true;
        Ok(())
    }

    fn add_column(&mut self, name: String) -> usize {
        let idx = self.columns.len();
        self.by_name.insert(name.clone(), idx);
        self.columns.push(Column::new(name, None));
        self.cells.push(vec![Cell::Missing; self.rows]);
        self.interners.push(Interner::default());
        idx
    }

    fn column_for(&mut self, key: &str) -> Result<usize, RowsError> {
        let next = self.last_col.wrapping_add(1);
        let idx = if self.columns.get(next).is_some_and(|c| c.name == key) {
            next
        } else if let Some(&i) = self.by_name.get(key) {
            i
        } else {
            if self.columns.len() >= MAX_COLUMNS {
                return Err(RowsError::TooLarge("more than 4096 columns"));
            }
            if (self.columns.len() + 1).saturating_mul(self.rows + 1) > MAX_CELLS {
                return Err(RowsError::TooLarge("more than 64 Mi cells"));
            }
            // The row being parsed already has a slot in every older column.
            let i = self.add_column(key.to_owned());
            self.cells[i].push(Cell::Missing);
            i
        };
        self.last_col = idx;
        Ok(idx)
    }

    fn begin_row(&mut self) -> Result<(), RowsError> {
        if self.rows >= u32::MAX as usize
            || self.columns.len().saturating_mul(self.rows + 1) > MAX_CELLS
        {
            return Err(RowsError::TooLarge("more rows than can be indexed"));
        }
        for col in &mut self.cells {
            col.push(Cell::Missing);
        }
        self.last_col = usize::MAX;
        Ok(())
    }

    fn push_text(&mut self, s: &str) -> Result<StrRef, RowsError> {
        let start = self.arena.len();
        let end = start.saturating_add(s.len());
        if end > u32::MAX as usize {
            return Err(RowsError::TooLarge("more than 4 GiB of text"));
        }
        self.arena.push_str(s);
        // Both fit in u32: checked just above.
        Ok(StrRef {
            start: start as u32,
            len: s.len() as u32,
        })
    }

    fn intern(&mut self, col: usize, s: &str) -> Result<StrRef, RowsError> {
        if !self.opts.intern {
            return self.push_text(s);
        }
        let Some(int) = self.interners.get_mut(col) else {
            return self.push_text(s);
        };
        if int.off {
            return self.push_text(s);
        }
        let h = hash_str(s);
        if let Some(&r) = int.map.get(&h) {
            let start = r.start as usize;
            if self.arena.as_bytes().get(start..start + r.len as usize) == Some(s.as_bytes()) {
                return Ok(r);
            }
        }
        int.lookups += 1;
        let probe_done = int.lookups == INTERN_PROBE;
        let r = self.push_text(s)?;
        // Re-borrow: push_text needed `self` whole. Replacing a hash collision (or an entry
        // left stale by a rolled-back partial row) keeps the newest string findable.
        if let Some(int) = self.interners.get_mut(col) {
            int.map.insert(h, r);
            if probe_done && int.map.len() as u32 > INTERN_PROBE / 2 {
                int.off = true;
                int.map = HashMap::default();
            }
        }
        Ok(r)
    }

    /// Bytes of string data so far; a partial row rolls back to this mark.
    pub(crate) fn mark(&self) -> usize {
        self.arena.len()
    }

    /// Undo a row that was cut off by the end of the data received so far: it is parsed
    /// again, whole, when more data arrives. Columns it discovered stay (they will be seen
    /// again); interner entries pointing past the mark are detected as stale on lookup.
    pub(crate) fn rollback_row(&mut self, mark: usize) {
        for col in &mut self.cells {
            col.truncate(self.rows);
        }
        if mark <= self.arena.len() && self.arena.is_char_boundary(mark) {
            self.arena.truncate(mark);
        }
        self.fatal = None;
    }

    pub(crate) fn finish(mut self) -> Result<RowSet, RowsError> {
        if !self.saw_results {
            return Err(RowsError::MissingResults);
        }
        let has_schema = self.schema.is_some();
        let schema = self.schema.take().unwrap_or_default();
        let mut taken: Vec<Option<Vec<Cell>>> = self.cells.into_iter().map(Some).collect();
        let mut columns = Vec::with_capacity(self.columns.len().max(schema.len()));
        let mut cells = Vec::with_capacity(columns.capacity());
        for col in &schema {
            let data = self
                .by_name
                .get(&col.name)
                .and_then(|&i| taken.get_mut(i))
                .and_then(Option::take)
                .unwrap_or_else(|| vec![Cell::Missing; self.rows]);
            columns.push(col.clone());
            cells.push(data);
        }
        let schema_len = columns.len();
        for (col, data) in self.columns.into_iter().zip(taken) {
            if let Some(data) = data {
                columns.push(col);
                cells.push(data);
            }
        }
        let names = columns
            .iter()
            .map(|c| minijinja::Value::from(c.name.as_str()))
            .collect();
        self.arena.shrink_to_fit();
        Ok(RowSet {
            columns,
            schema_len,
            has_schema,
            cells,
            arena: self.arena,
            rows: self.rows,
            stats: self.stats,
            names,
        })
    }
}

/// One `schema` entry; Graph spells the keys `name`/`type`, Defender `Name`/`Type`.
#[derive(Debug, Deserialize)]
pub(crate) struct SchemaEntry {
    #[serde(alias = "Name")]
    name: String,
    #[serde(rename = "type", alias = "Type", default)]
    kind: Option<String>,
}

/// The top-level response object.
struct DocSeed<'a> {
    acc: &'a mut Accum,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a hunting response object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "schema" | "Schema" => {
                    let schema: Vec<SchemaEntry> = map.next_value()?;
                    if let Err(e) = self.acc.set_schema(schema) {
                        return Err(self.acc.fail(e));
                    }
                }
                "results" | "Results" => {
                    if let Err(e) = self.acc.begin_results() {
                        return Err(self.acc.fail(e));
                    }
                    map.next_value_seed(ResultsSeed {
                        acc: &mut *self.acc,
                    })?;
                }
                "Stats" | "stats" => {
                    let stats: Value = map.next_value()?;
                    self.acc.set_stats(stats);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// The `results` array.
struct ResultsSeed<'a> {
    acc: &'a mut Accum,
}

impl<'de> DeserializeSeed<'de> for ResultsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ResultsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of result rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(RowSeed {
                acc: &mut *self.acc,
            })?
            .is_some()
        {}
        Ok(())
    }
}

/// One row object.
pub(crate) struct RowSeed<'a> {
    pub(crate) acc: &'a mut Accum,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a result row (an object of column name to value)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let acc = self.acc;
        if let Err(e) = acc.begin_row() {
            return Err(acc.fail(e));
        }
        let row = acc.rows;
        while let Some(col) = map.next_key_seed(KeySeed { acc: &mut *acc })? {
            let cell = map.next_value_seed(CellSeed {
                acc: &mut *acc,
                col,
            })?;
            // A repeated key overwrites, as it would in a JSON object.
            if let Some(slot) = acc.cells.get_mut(col).and_then(|c| c.get_mut(row)) {
                *slot = cell;
            }
        }
        acc.rows += 1;
        Ok(())
    }
}

/// A row key, resolved to its column index without allocating.
struct KeySeed<'a> {
    acc: &'a mut Accum,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a column name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        match self.acc.column_for(key) {
            Ok(i) => Ok(i),
            Err(e) => Err(self.acc.fail(e)),
        }
    }
}

/// One cell value, typed by what the JSON holds.
struct CellSeed<'a> {
    acc: &'a mut Accum,
    col: usize,
}

impl<'de> DeserializeSeed<'de> for CellSeed<'_> {
    type Value = Cell;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cell, D::Error> {
        d.deserialize_any(self)
    }
}

impl CellSeed<'_> {
    fn json<E: de::Error>(self, v: &Value) -> Result<Cell, E> {
        let text = serde_json::to_string(v).map_err(E::custom)?;
        match self.acc.push_text(&text) {
            Ok(r) => Ok(Cell::Json(r)),
            Err(e) => Err(self.acc.fail(e)),
        }
    }
}

impl<'de> Visitor<'de> for CellSeed<'_> {
    type Value = Cell;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Cell, E> {
        Ok(Cell::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cell, E> {
        Ok(Cell::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell, E> {
        Ok(Cell::I64(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell, E> {
        Ok(i64::try_from(v).map_or(Cell::U64(v), Cell::I64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cell, E> {
        Ok(Cell::F64(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cell, E> {
        match self.acc.intern(self.col, v) {
            Ok(r) => Ok(Cell::Str(r)),
            Err(e) => Err(self.acc.fail(e)),
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Cell, A::Error> {
        let v = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        self.json(&v)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Cell, A::Error> {
        let v = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        self.json(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::{CellRef, KustoType};

    const GRAPH: &str = r#"{
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults",
        "schema": [
            { "name": "Timestamp", "type": "DateTime" },
            { "name": "FileName", "type": "String" },
            { "name": "ReportId", "type": "Int64" }
        ],
        "results": [
            { "Timestamp": "2024-03-26T09:39:50.7688641Z", "FileName": "cmd.exe", "ReportId": 7 },
            { "FileName": "C:\\Windows\\a.exe", "Timestamp": "2024-03-26T09:39:49Z", "ReportId": null },
            { "Timestamp": "2024-03-26T09:39:48.1Z" }
        ]
    }"#;

    #[test]
    fn graph_response_keeps_schema_order_and_types() {
        let rs = RowSet::from_slice(GRAPH.as_bytes()).unwrap();
        assert_eq!(rs.len(), 3);
        let names: Vec<_> = rs.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Timestamp", "FileName", "ReportId"]);
        assert_eq!(rs.columns()[0].kind, KustoType::DateTime);
        assert_eq!(rs.cell(0, 2), CellRef::Int(7));
        // Key order differing from the schema, escapes decoded.
        assert_eq!(rs.cell(1, 1), CellRef::Str("C:\\Windows\\a.exe"));
        assert_eq!(rs.cell(1, 0), CellRef::Str("2024-03-26T09:39:49Z"));
        assert_eq!(rs.cell(1, 2), CellRef::Null);
        assert_eq!(rs.cell(2, 1), CellRef::Missing);
        assert_eq!(rs.cell(2, 0), CellRef::Str("2024-03-26T09:39:48.1Z"));
        assert!(rs.stats().is_none());
    }

    #[test]
    fn defender_response_with_stats_and_capitalised_keys() {
        let body = r#"{"Stats":{"ExecutionTime":4.6,"resource_usage":{"cpu":{"total cpu":"00:00:19"}}},
            "Schema":[{"Name":"DeviceName","Type":"String"},{"Name":"Count","Type":"Int32"}],
            "Results":[{"DeviceName":"ws1","Count":3},{"DeviceName":"ws2","Count":4.5}]}"#;
        let rs = RowSet::from_slice(body.as_bytes()).unwrap();
        assert_eq!(rs.len(), 2);
        assert_eq!(rs.cell(1, 1), CellRef::Float(4.5));
        assert_eq!(rs.stats().unwrap()["ExecutionTime"], serde_json::json!(4.6));
        assert_eq!(
            rs.schema_json(),
            serde_json::json!([{"name":"DeviceName","type":"String"},{"name":"Count","type":"Int32"}])
        );
    }

    #[test]
    fn results_before_schema_and_extra_keys() {
        let body = r#"{"results":[{"B":1,"X":"extra","A":"a"},{"A":"b","Y":[1,{"k":"v"}]}],
            "schema":[{"name":"A","type":"String"},{"name":"B","type":"Int64"},{"name":"C","type":"String"}]}"#;
        let rs = RowSet::from_slice(body.as_bytes()).unwrap();
        let names: Vec<_> = rs.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["A", "B", "C", "X", "Y"]);
        assert_eq!(rs.schema_columns().len(), 3);
        assert_eq!(rs.cell(0, 0), CellRef::Str("a"));
        assert_eq!(rs.cell(0, 1), CellRef::Int(1));
        assert_eq!(rs.cell(0, 2), CellRef::Missing);
        assert_eq!(rs.cell(1, 4), CellRef::Json(r#"[1,{"k":"v"}]"#));
        assert_eq!(rs.cell(0, 4), CellRef::Missing);
        assert_eq!(
            rs.row_json(1),
            serde_json::json!({"A":"b","Y":[1,{"k":"v"}]})
        );
    }

    #[test]
    fn no_schema_discovers_columns_in_first_seen_order() {
        let body = r#"{"results":[{"b":true},{"a":-1,"b":false},{"c":18446744073709551615}]}"#;
        let rs = RowSet::from_slice(body.as_bytes()).unwrap();
        assert!(!rs.has_schema());
        let names: Vec<_> = rs.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["b", "a", "c"]);
        assert_eq!(rs.cell(0, 1), CellRef::Missing);
        assert_eq!(rs.cell(1, 1), CellRef::Int(-1));
        assert_eq!(rs.cell(2, 2), CellRef::UInt(u64::MAX));
    }

    #[test]
    fn duplicate_key_in_a_row_keeps_the_last_value() {
        let rs = RowSet::from_slice(br#"{"results":[{"a":1,"a":2}]}"#).unwrap();
        assert_eq!(rs.cell(0, 0), CellRef::Int(2));
    }

    #[test]
    fn interning_shares_repeated_strings() {
        let mut body = String::from(r#"{"results":["#);
        for i in 0..1000 {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&format!(
                r#"{{"Device":"device-{}","Id":"unique-{i}"}}"#,
                i % 3
            ));
        }
        body.push_str("]}");
        let interned = RowSet::from_slice(body.as_bytes()).unwrap();
        let plain =
            RowSet::from_slice_with(body.as_bytes(), ParseOptions { intern: false }).unwrap();
        assert_eq!(interned.cell(998, 0), CellRef::Str("device-2"));
        assert_eq!(interned.cell(998, 1), CellRef::Str("unique-998"));
        assert_eq!(plain.cell(998, 0), CellRef::Str("device-2"));
        assert!(interned.arena_bytes() + 8 * 990 < plain.arena_bytes());
    }

    #[test]
    fn bad_input_gives_typed_errors_not_panics() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "ended early"),
            (b"{\"results\": [{\"a\": \"x", "ended early"),
            (b"[1,2]", "not valid"),
            (b"{}", "no `results`"),
            (br#"{"results": 5}"#, "not valid"),
            (br#"{"results": [1]}"#, "not valid"),
            (br#"{"results": [{"a": 1}]"#, "ended early"),
            (br#"{"results": []} x"#, "not valid"),
            (
                br#"{"schema":[{"name":"a"},{"name":"a"}],"results":[]}"#,
                "twice",
            ),
            (
                br#"{"schema":[{"type":"String"}],"results":[]}"#,
                "not valid",
            ),
            (br#"{"results":[],"Results":[]}"#, "two `results`"),
            (br#"{"schema":[],"Schema":[],"results":[]}"#, "two `schema`"),
            (b"{\"results\":[{\"a\":\"\xff\"}]}", "not valid"),
        ];
        for (body, want) in cases {
            let err = RowSet::from_slice(body).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{:?}: {err}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let mut body = String::from(r#"{"results":[{"a":"#);
        body.push_str(&"[".repeat(10_000));
        body.push_str(&"]".repeat(10_000));
        body.push_str("}]}");
        let err = RowSet::from_slice(body.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("recursion"), "{err}");
    }
}
