//! Streaming writers for the `output` step's data formats: CSV (RFC 4180, formula cells
//! neutralised), a JSON array, and JSON Lines. They write into any `Write`; the engine
//! wraps them in a temp-file-then-rename so readers never see half a file.

use std::io::{BufWriter, Write};

use serde_json::Value;

use super::error::WriteError;
use super::rowset::CellRef;
use super::view::Rows;

/// CSV settings.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Prefix string cells that a spreadsheet would run as a formula — those starting with
    /// `=`, `+`, `-`, `@`, tab or carriage return (OWASP "CSV injection") — with `'`.
    /// Numbers are never prefixed: `-5` is data, not a formula.
    pub neutralize_formulas: bool,
    /// Columns to write, in order (`output.columns`); `None` means every column of the
    /// rows: the hunt's schema order, then keys the schema did not list.
    pub columns: Option<Vec<String>>,
    /// Write a header line.
    pub header: bool,
}

impl Default for CsvOptions {
    fn default() -> CsvOptions {
        CsvOptions {
            neutralize_formulas: true,
            columns: None,
            header: true,
        }
    }
}

fn is_formula_start(s: &str) -> bool {
    matches!(
        s.as_bytes().first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// A header cell: column names come from KQL `project` aliases and API keys, so they are
/// neutralised like values.
fn header_cell(name: &str, neutralize: bool) -> std::borrow::Cow<'_, str> {
    if neutralize && is_formula_start(name) {
        std::borrow::Cow::Owned(format!("'{name}"))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// Append a cell's CSV text to `buf`: strings as is (datetimes exactly as the service
/// printed them), `dynamic` as compact JSON, null and missing as an empty field.
fn cell_text(cell: CellRef<'_>, neutralize: bool, buf: &mut Vec<u8>) -> Result<(), WriteError> {
    match cell {
        CellRef::Missing | CellRef::Null => {}
        CellRef::Bool(b) => buf.extend_from_slice(if b { b"true" } else { b"false" }),
        CellRef::Int(i) => write!(buf, "{i}")?,
        CellRef::UInt(u) => write!(buf, "{u}")?,
        // serde_json's float formatting, so the CSV shows what the JSON output would.
        CellRef::Float(f) => serde_json::to_writer(&mut *buf, &f)?,
        CellRef::Str(s) => {
            if neutralize && is_formula_start(s) {
                buf.push(b'\'');
            }
            buf.extend_from_slice(s.as_bytes());
        }
        CellRef::Json(text) => buf.extend_from_slice(text.as_bytes()),
    }
    Ok(())
}

/// Write rows as CSV.
///
/// # Errors
/// When the destination fails.
pub fn write_csv<W: Write>(rows: &Rows, out: W, opts: &CsvOptions) -> Result<(), WriteError> {
    let set = rows.set();
    let cols: Vec<(String, Option<usize>)> = match &opts.columns {
        Some(names) => names
            .iter()
            .map(|n| (n.clone(), set.column_index(n)))
            .collect(),
        None => set
            .columns()
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), Some(i)))
            .collect(),
    };
    let mut w = csv::WriterBuilder::new()
        .buffer_capacity(1 << 16)
        .from_writer(out);
    if opts.header {
        w.write_record(
            cols.iter()
                .map(|(n, _)| header_cell(n, opts.neutralize_formulas).into_owned()),
        )?;
    }
    let mut buf = Vec::with_capacity(256);
    for row in rows.iter() {
        for (_, col) in &cols {
            let cell = col.map_or(CellRef::Missing, |c| row.cell(c));
            match cell {
                // Most cells: straight from the arena, no staging copy.
                CellRef::Str(s) if !(opts.neutralize_formulas && is_formula_start(s)) => {
                    w.write_field(s)?;
                }
                CellRef::Json(text) => w.write_field(text)?,
                other => {
                    buf.clear();
                    cell_text(other, opts.neutralize_formulas, &mut buf)?;
                    w.write_field(&buf)?;
                }
            }
        }
        w.write_record(None::<&[u8]>)?;
    }
    w.flush()?;
    Ok(())
}

/// Write arbitrary JSON items as CSV (filter results that are not whole rows, or data that
/// did not come from a hunt). Columns: `opts.columns`, else object keys in first-seen
/// order; an item that is not an object goes in a column named `value`.
///
/// # Errors
/// When the destination fails.
pub fn write_csv_values<W: Write>(
    items: &[Value],
    out: W,
    opts: &CsvOptions,
) -> Result<(), WriteError> {
    let cols: Vec<String> = match &opts.columns {
        Some(c) => c.clone(),
        None => {
            let mut seen: Vec<String> = Vec::new();
            for item in items {
                match item {
                    Value::Object(m) => {
                        for k in m.keys() {
                            if !seen.contains(k) {
                                seen.push(k.clone());
                            }
                        }
                    }
                    _ => {
                        if !seen.iter().any(|k| k == "value") {
                            seen.push("value".into());
                        }
                    }
                }
            }
            seen
        }
    };
    let mut w = csv::WriterBuilder::new().from_writer(out);
    if opts.header {
        w.write_record(
            cols.iter()
                .map(|n| header_cell(n, opts.neutralize_formulas).into_owned()),
        )?;
    }
    let mut buf = Vec::new();
    for item in items {
        for col in &cols {
            buf.clear();
            let v = match item {
                Value::Object(m) => m.get(col),
                other if col == "value" => Some(other),
                _ => None,
            };
            match v {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => {
                    cell_text(CellRef::Str(s), opts.neutralize_formulas, &mut buf)?;
                }
                Some(v) => serde_json::to_writer(&mut buf, v)?,
            }
            w.write_field(&buf)?;
        }
        w.write_record(None::<&[u8]>)?;
    }
    w.flush()?;
    Ok(())
}

/// The data formats of the `output` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    /// One JSON document (an array for lists).
    Json,
    /// One compact JSON value per line (one line per element for lists).
    Jsonl,
    /// CSV with a header line.
    Csv,
}

/// Write an `output.data` value: rows from a hunt or filter take the streaming row writers
/// (schema column order, no per-row JSON built); any other value is converted to JSON as
/// templates do ([`crate::template::value::to_json`]: datetimes and durations as text).
///
/// # Errors
/// When the destination fails or the value is not representable as JSON.
pub fn write_data<W: Write>(
    data: &minijinja::Value,
    format: DataFormat,
    out: W,
    csv: &CsvOptions,
) -> Result<(), WriteError> {
    if let Some(rows) = Rows::from_value(data) {
        return match format {
            DataFormat::Json => write_json(&rows, out, false),
            DataFormat::Jsonl => write_jsonl(&rows, out),
            DataFormat::Csv => write_csv(&rows, out, csv),
        };
    }
    let value = crate::template::value::to_json(data)?;
    let mut out = BufWriter::new(out);
    match (format, value) {
        (DataFormat::Json, value) => {
            serde_json::to_writer(&mut out, &value)?;
            out.write_all(b"\n")?;
        }
        (DataFormat::Jsonl, Value::Array(items)) => {
            for item in &items {
                serde_json::to_writer(&mut out, item)?;
                out.write_all(b"\n")?;
            }
        }
        (DataFormat::Jsonl, value) => {
            serde_json::to_writer(&mut out, &value)?;
            out.write_all(b"\n")?;
        }
        (DataFormat::Csv, Value::Array(items)) => write_csv_values(&items, &mut out, csv)?,
        (DataFormat::Csv, value) => write_csv_values(&[value], &mut out, csv)?,
    }
    out.flush()?;
    Ok(())
}

/// Write rows as one JSON array of objects (keys in column order).
///
/// # Errors
/// When the destination fails.
pub fn write_json<W: Write>(rows: &Rows, out: W, pretty: bool) -> Result<(), WriteError> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    if pretty {
        serde_json::to_writer_pretty(&mut out, rows)?;
    } else {
        serde_json::to_writer(&mut out, rows)?;
    }
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// Write rows as JSON Lines: one compact object per line.
///
/// # Errors
/// When the destination fails.
pub fn write_jsonl<W: Write>(rows: &Rows, out: W) -> Result<(), WriteError> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    for row in rows.iter() {
        serde_json::to_writer(&mut out, &row)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::rows::RowSet;

    fn rows() -> Rows {
        let body = r#"{"schema":[{"name":"Timestamp","type":"DateTime"},{"name":"Cmd","type":"String"},
              {"name":"N","type":"Int64"},{"name":"Extra","type":"Dynamic"}],
            "results":[
              {"Cmd":"=HYPERLINK(\"http://x\")","Timestamp":"2024-01-01T00:00:00Z","N":-5,"Extra":{"a":[1,"b"]}},
              {"Timestamp":"2024-01-01T00:00:00.1234567Z","Cmd":"a,b\n\"q\"","N":1.5,"Extra":null},
              {"Timestamp":"2024-01-02T00:00:00.12Z","Cmd":"-enc AAAA","Zed":true},
              {"Timestamp":"x","Cmd":"+1","N":2},{"Timestamp":"y","Cmd":"@SUM(A1)"},
              {"Timestamp":"z","Cmd":"\tTab"},{"Timestamp":"w","Cmd":"plain"}]}"#;
        Rows::all(Arc::new(RowSet::from_slice(body.as_bytes()).unwrap()))
    }

    fn csv_of(rows: &Rows, opts: &CsvOptions) -> String {
        let mut out = Vec::new();
        write_csv(rows, &mut out, opts).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_header_in_schema_order_with_quoting_and_neutralised_formulas() {
        let out = csv_of(&rows(), &CsvOptions::default());
        let expected = "Timestamp,Cmd,N,Extra,Zed\n\
            2024-01-01T00:00:00Z,\"'=HYPERLINK(\"\"http://x\"\")\",-5,\"{\"\"a\"\":[1,\"\"b\"\"]}\",\n\
            2024-01-01T00:00:00.1234567Z,\"a,b\n\"\"q\"\"\",1.5,,\n\
            2024-01-02T00:00:00.12Z,'-enc AAAA,,,true\n\
            x,'+1,2,,\n\
            y,'@SUM(A1),,,\n\
            z,'\tTab,,,\n\
            w,plain,,,\n";
        assert_eq!(out, expected);
    }

    #[test]
    fn csv_headers_are_neutralised_too() {
        let items = vec![serde_json::json!({"=cmd|' /C calc'!A0": 1, "+x": 2, "ok": "=1+1"})];
        let mut out = Vec::new();
        write_csv_values(&items, &mut out, &CsvOptions::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let header = text.lines().next().unwrap();
        assert!(!header.contains(",=") && !header.starts_with('='), "{text}");
        assert!(header.contains("'+x"), "{text}");
        assert!(text.contains("'=1+1"), "{text}");
        let opts = CsvOptions {
            columns: Some(vec!["@evil".into(), "-x".into()]),
            ..CsvOptions::default()
        };
        let out = csv_of(&rows(), &opts);
        assert!(out.starts_with("'@evil,'-x\n"), "{out}");
    }

    #[test]
    fn csv_can_keep_formulas_and_pick_columns() {
        let opts = CsvOptions {
            neutralize_formulas: false,
            columns: Some(vec!["Cmd".into(), "Nope".into()]),
            header: true,
        };
        let out = csv_of(&rows(), &opts);
        assert!(
            out.starts_with("Cmd,Nope\n\"=HYPERLINK(\"\"http://x\"\")\",\n"),
            "{out}"
        );
        assert!(out.contains("-enc AAAA,\n"));
    }

    #[test]
    fn csv_of_a_filtered_view_and_of_plain_values() {
        let kept = rows().retain_ids(|r| r == 6);
        assert_eq!(
            csv_of(&kept, &CsvOptions::default()),
            "Timestamp,Cmd,N,Extra,Zed\nw,plain,,,\n"
        );
        let items = vec![
            serde_json::json!({"b": "=1", "a": 1}),
            serde_json::json!({"a": [1], "c": null}),
            serde_json::json!("bare"),
        ];
        let mut out = Vec::new();
        write_csv_values(&items, &mut out, &CsvOptions::default()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "b,a,c,value\n'=1,1,,\n,[1],,\n,,,bare\n"
        );
    }

    #[test]
    fn json_and_jsonl_round_trip_to_the_rows_json_form() {
        let r = rows();
        let mut out = Vec::new();
        write_json(&r, &mut out, false).unwrap();
        let back: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, r.to_json_value());
        assert_eq!(back[1]["Extra"], Value::Null);
        assert!(back[2].get("N").is_none());

        let mut lines = Vec::new();
        write_jsonl(&r, &mut lines).unwrap();
        let text = String::from_utf8(lines).unwrap();
        assert_eq!(text.lines().count(), 7);
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first, r.to_json_value()[0]);
        assert!(text.starts_with("{\"Timestamp\":\"2024-01-01T00:00:00Z\",\"Cmd\""));
    }

    #[test]
    fn write_data_uses_rows_or_plain_values() {
        let r = rows();
        let mut from_rows = Vec::new();
        write_data(
            &r.clone().into_value(),
            DataFormat::Csv,
            &mut from_rows,
            &CsvOptions::default(),
        )
        .unwrap();
        assert_eq!(from_rows, csv_of(&r, &CsvOptions::default()).into_bytes());

        let plain = minijinja::Value::from(minijinja::value::Serde(
            serde_json::json!([{"a": 1, "b": "x"}, {"a": 2}]),
        ));
        let mut out = Vec::new();
        write_data(&plain, DataFormat::Jsonl, &mut out, &CsvOptions::default()).unwrap();
        assert_eq!(out, b"{\"a\":1,\"b\":\"x\"}\n{\"a\":2}\n");
        let mut out = Vec::new();
        write_data(&plain, DataFormat::Json, &mut out, &CsvOptions::default()).unwrap();
        assert_eq!(out, b"[{\"a\":1,\"b\":\"x\"},{\"a\":2}]\n");
        let mut out = Vec::new();
        write_data(&plain, DataFormat::Csv, &mut out, &CsvOptions::default()).unwrap();
        assert_eq!(out, b"a,b\n1,x\n2,\n");
        let one = minijinja::Value::from(minijinja::value::Serde(serde_json::json!({"k": 1})));
        let mut out = Vec::new();
        write_data(&one, DataFormat::Json, &mut out, &CsvOptions::default()).unwrap();
        assert_eq!(out, b"{\"k\":1}\n");
    }

    #[test]
    fn write_errors_surface_as_typed_errors() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Err(std::io::Error::other("disk full"))
            }
        }
        let err = write_csv(&rows(), Broken, &CsvOptions::default()).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
        let err = write_jsonl(&rows(), Broken).unwrap_err();
        assert!(err.to_string().contains("disk full"), "{err}");
    }
}
