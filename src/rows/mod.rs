//! A compact representation of advanced-hunting results (up to 100,000 rows), the JSONPath
//! filter over it, and the CSV / JSON / JSONL writers.
//!
//! Why not one `serde_json::Value`: 100,000 rows × 12 columns as `Value` is 1.2 million
//! heap-allocated keys and values, ~340 MB and slower to build and free than the plain Python
//! job it is meant to beat (`/work/shared/design/performance-notes.md`). Here the response is
//! parsed once into a [`RowSet`]: one shared column list, one cell per value (16 bytes, typed
//! by the JSON the service sent), and all strings copied once into a single arena, interned
//! per column while that pays off. A [`Rows`] is a cheap, `Arc`-shared view (all rows, or a
//! selection of row indices) that every later step passes around without copying rows.
//!
//! - [`RowSet::from_slice`], [`RowSetBuilder`] and [`read_response`] parse Graph
//!   (`schema`/`results`) and Defender (`Schema`/`Results`/`Stats`) responses, whole or chunk
//!   by chunk while they download.
//! - [`hunt_outputs`] gives the hunt step's outputs; [`Rows::into_value`] exposes rows to
//!   minijinja as lazy objects (a sequence of maps) and [`Rows::from_value`] recovers them.
//! - [`RowFilter`] is RFC 9535 JSONPath over rows: a fast path for `$[?…]` (optionally
//!   `$[?…].Name`) that never builds JSON values, `serde_json_path` for everything else.
//! - [`write_csv`], [`write_json`], [`write_jsonl`] stream rows into any `Write`;
//!   [`write_data`] picks them for an `output.data` value (or converts any other value).
//!
//! Measurements and the reasons behind these choices: `docs/performance.md`, "The
//! 100,000-row hunting job".

mod error;
mod filter;
mod parse;
mod rowset;
mod stream;
mod view;
mod write;

pub use error::{RowsError, WriteError};
pub use filter::{FilterOutput, RowFilter};
pub use parse::ParseOptions;
pub use rowset::{CellRef, Column, KustoType, RowSet};
pub use stream::{RowSetBuilder, read_response};
pub use view::{ROW_LIMIT, RowRef, Rows, hunt_outputs};
pub use write::{
    CsvOptions, DataFormat, write_csv, write_csv_values, write_data, write_json, write_jsonl,
};
