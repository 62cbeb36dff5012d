//! [`RowSetBuilder`]: parse a hunting response chunk by chunk as it downloads, so the
//! whole body is never held in memory and parsing overlaps the transfer.
//!
//! A small state machine walks the top-level object; each member value and each row is
//! handed to serde_json as soon as it is complete. A row cut off by the end of a chunk
//! fails with an end-of-input error, is rolled back, and is parsed again once more data
//! is in; retries wait until the pending bytes have doubled, so even a hostile 50 MB single
//! value costs linear, not quadratic, time.

use std::cell::RefCell;

use futures_util::StreamExt;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny};
use serde_json::Value;

use super::error::RowsError;
use super::parse::{Accum, ParseOptions, RowSeed, SchemaEntry};
use super::rowset::RowSet;

thread_local! {
    /// The accumulator while one row is parsed: serde_json's stream iterator (the only API
    /// that reports how many bytes a value used) takes a type, not a seed, so the row type
    /// finds its accumulator here.
    static ROW_ACC: RefCell<Option<Accum>> = const { RefCell::new(None) };
}

struct RowMarker;

impl<'de> de::Deserialize<'de> for RowMarker {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RowMarker, D::Error> {
        ROW_ACC.with(|cell| {
            let mut slot = cell.borrow_mut();
            let Some(acc) = slot.as_mut() else {
                return Err(de::Error::custom("internal: row parser not armed"));
            };
            RowSeed { acc }.deserialize(d).map(|()| RowMarker)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Schema,
    Results,
    Stats,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    /// After `{` (first) or `,`: a key, or `}` when first.
    Key {
        first: bool,
    },
    Colon(Target),
    Value(Target),
    AfterMember,
    RowsOpen,
    /// After `[` (first) or `,`: a row, or `]` when first.
    Row {
        first: bool,
    },
    AfterRow,
    Done,
}

enum Step<T> {
    Got(T),
    NeedMore,
}

/// Parses a hunting response from chunks (e.g. reqwest's `bytes_stream`).
pub struct RowSetBuilder {
    acc: Option<Accum>,
    buf: Vec<u8>,
    pos: usize,
    /// Bytes of the body dropped from the front of `buf` so far (for error offsets).
    dropped: usize,
    phase: Phase,
    /// Don't retry a cut-off value until this many bytes are pending.
    need: usize,
}

impl std::fmt::Debug for RowSetBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowSetBuilder")
            .field("phase", &self.phase)
            .field("received", &(self.dropped + self.buf.len()))
            .finish_non_exhaustive()
    }
}

impl RowSetBuilder {
    /// A builder; `size_hint` (the `Content-Length`, when known) sizes the string arena.
    #[must_use]
    pub fn new(size_hint: Option<u64>, opts: ParseOptions) -> RowSetBuilder {
        let hint = size_hint.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
        // A lying Content-Length must not reserve gigabytes up front.
        let hint = hint.min(512 << 20);
        RowSetBuilder {
            acc: Some(Accum::new(opts, hint)),
            buf: Vec::with_capacity(64 << 10),
            pos: 0,
            dropped: 0,
            phase: Phase::Start,
            need: 0,
        }
    }

    /// Add the next chunk of the body and parse whatever it completes.
    ///
    /// # Errors
    /// As soon as the data received is invalid.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), RowsError> {
        self.buf.extend_from_slice(chunk);
        self.drive(false)?;
        // Keep only the unparsed tail (at most one partial value, usually a part-row).
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.dropped += self.pos;
            self.pos = 0;
        }
        Ok(())
    }

    /// The body is complete: parse the rest and build the [`RowSet`].
    ///
    /// # Errors
    /// Invalid or truncated data, or anything [`RowSet::from_slice`] rejects.
    pub fn finish(mut self) -> Result<RowSet, RowsError> {
        self.need = 0;
        self.drive(true)?;
        if self.phase != Phase::Done {
            return Err(RowsError::Truncated);
        }
        match self.acc.take() {
            Some(acc) => acc.finish(),
            None => Err(RowsError::Read("internal: parser state lost".into())),
        }
    }

    fn acc(&mut self) -> Result<&mut Accum, RowsError> {
        self.acc
            .as_mut()
            .ok_or_else(|| RowsError::Read("internal: parser state lost".into()))
    }

    fn syntax(&self, expected: &'static str) -> RowsError {
        RowsError::Syntax {
            offset: self.dropped + self.pos,
            expected,
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.buf.get(self.pos) {
            self.pos += 1;
        }
    }

    fn drive(&mut self, finished: bool) -> Result<(), RowsError> {
        loop {
            self.skip_ws();
            let Some(&b) = self.buf.get(self.pos) else {
                return Ok(());
            };
            match self.phase {
                Phase::Start => {
                    if b != b'{' {
                        return Err(self.syntax("`{` starting the response object"));
                    }
                    self.pos += 1;
                    self.phase = Phase::Key { first: true };
                }
                Phase::Key { first } => {
                    if first && b == b'}' {
                        self.pos += 1;
                        self.phase = Phase::Done;
                        continue;
                    }
                    if b != b'"' {
                        return Err(self.syntax("a member name"));
                    }
                    let Step::Got(key) = self.value::<String>(finished)? else {
                        return Ok(());
                    };
                    let target = match key.as_str() {
                        "schema" | "Schema" => Target::Schema,
                        "results" | "Results" => Target::Results,
                        "Stats" | "stats" => Target::Stats,
                        _ => Target::Other,
                    };
                    self.phase = Phase::Colon(target);
                }
                Phase::Colon(target) => {
                    if b != b':' {
                        return Err(self.syntax("`:` after a member name"));
                    }
                    self.pos += 1;
                    self.phase = if target == Target::Results {
                        self.acc()?.begin_results()?;
                        Phase::RowsOpen
                    } else {
                        Phase::Value(target)
                    };
                }
                Phase::Value(target) => {
                    match target {
                        Target::Schema => {
                            let Step::Got(schema) = self.value::<Vec<SchemaEntry>>(finished)?
                            else {
                                return Ok(());
                            };
                            self.acc()?.set_schema(schema)?;
                        }
                        Target::Stats => {
                            let Step::Got(stats) = self.value::<Value>(finished)? else {
                                return Ok(());
                            };
                            self.acc()?.set_stats(stats);
                        }
                        Target::Results | Target::Other => {
                            let Step::Got(IgnoredAny) = self.value::<IgnoredAny>(finished)? else {
                                return Ok(());
                            };
                        }
                    }
                    self.phase = Phase::AfterMember;
                }
                Phase::AfterMember => {
                    self.pos += 1;
                    self.phase = match b {
                        b',' => Phase::Key { first: false },
                        b'}' => Phase::Done,
                        _ => {
                            self.pos -= 1;
                            return Err(self.syntax("`,` or `}` after a member"));
                        }
                    };
                }
                Phase::RowsOpen => {
                    if b != b'[' {
                        return Err(self.syntax("`[` starting the results array"));
                    }
                    self.pos += 1;
                    self.phase = Phase::Row { first: true };
                }
                Phase::Row { first } => {
                    if first && b == b']' {
                        self.pos += 1;
                        self.phase = Phase::AfterMember;
                        continue;
                    }
                    if b != b'{' {
                        return Err(self.syntax("a result row (an object)"));
                    }
                    if let Step::NeedMore = self.row(finished)? {
                        return Ok(());
                    }
                    self.phase = Phase::AfterRow;
                }
                Phase::AfterRow => {
                    self.pos += 1;
                    self.phase = match b {
                        b',' => Phase::Row { first: false },
                        b']' => Phase::AfterMember,
                        _ => {
                            self.pos -= 1;
                            return Err(self.syntax("`,` or `]` after a row"));
                        }
                    };
                }
                Phase::Done => return Err(self.syntax("nothing after the response object")),
            }
        }
    }

    /// Whether a cut-off value should be retried yet.
    fn ready(&self, finished: bool) -> bool {
        finished || self.buf.len() - self.pos >= self.need
    }

    fn cut_off(&mut self, finished: bool) -> Result<(), RowsError> {
        if finished {
            return Err(RowsError::Truncated);
        }
        self.need = (self.buf.len() - self.pos).saturating_mul(2).max(1);
        Ok(())
    }

    /// One complete JSON value at `pos`, or `NeedMore`.
    fn value<T: DeserializeOwned>(&mut self, finished: bool) -> Result<Step<T>, RowsError> {
        if !self.ready(finished) {
            return Ok(Step::NeedMore);
        }
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let delimited = matches!(rest.first(), Some(b'{' | b'[' | b'"'));
        let mut it = serde_json::Deserializer::from_slice(rest).into_iter::<T>();
        match it.next() {
            Some(Ok(v)) => {
                let used = it.byte_offset();
                // `12` at the very end of a chunk may be the start of `1234`.
                if !delimited && used == rest.len() && !finished {
                    self.cut_off(finished)?;
                    return Ok(Step::NeedMore);
                }
                self.pos += used;
                self.need = 0;
                Ok(Step::Got(v))
            }
            Some(Err(e)) if e.is_eof() => {
                self.cut_off(finished)?;
                Ok(Step::NeedMore)
            }
            Some(Err(e)) => Err(RowsError::Json(e)),
            None => {
                self.cut_off(finished)?;
                Ok(Step::NeedMore)
            }
        }
    }

    /// One row at `pos` into the accumulator, or `NeedMore` (with the part-row undone).
    fn row(&mut self, finished: bool) -> Result<Step<()>, RowsError> {
        if !self.ready(finished) {
            return Ok(Step::NeedMore);
        }
        let Some(acc) = self.acc.take() else {
            return Err(RowsError::Read("internal: parser state lost".into()));
        };
        let mark = acc.mark();
        ROW_ACC.with(|cell| *cell.borrow_mut() = Some(acc));
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let mut it = serde_json::Deserializer::from_slice(rest).into_iter::<RowMarker>();
        let result = it.next();
        let used = it.byte_offset();
        self.acc = ROW_ACC.with(|cell| cell.borrow_mut().take());
        let acc = self.acc()?;
        match result {
            Some(Ok(RowMarker)) => {
                self.pos += used;
                self.need = 0;
                Ok(Step::Got(()))
            }
            Some(Err(e)) if e.is_eof() => {
                acc.rollback_row(mark);
                self.cut_off(finished)?;
                Ok(Step::NeedMore)
            }
            Some(Err(e)) => Err(acc.fatal.take().unwrap_or(RowsError::Json(e))),
            None => {
                self.cut_off(finished)?;
                Ok(Step::NeedMore)
            }
        }
    }
}

/// Read a hunting response body from reqwest into a [`RowSet`], parsing on a blocking
/// worker while the download continues. The caller has already checked the status (error
/// bodies are not hunting results).
///
/// # Errors
/// A failed read ([`RowsError::Read`]) or an invalid body.
pub async fn read_response(
    resp: reqwest::Response,
    opts: ParseOptions,
) -> Result<RowSet, RowsError> {
    let mut builder = RowSetBuilder::new(resp.content_length(), opts);
    // A bounded channel: a slow parser slows the download instead of buffering the body.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(64);
    let worker = tokio::task::spawn_blocking(move || {
        while let Some(chunk) = rx.blocking_recv() {
            builder.push(&chunk)?;
        }
        builder.finish()
    });
    let mut body = resp.bytes_stream();
    let mut read_error = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                // A closed channel means the parser already failed; its error wins.
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            Err(e) => {
                read_error = Some(RowsError::Read(e.without_url().to_string()));
                break;
            }
        }
    }
    drop(tx);
    let parsed = worker
        .await
        .map_err(|e| RowsError::Read(format!("parser task failed: {e}")))?;
    match (parsed, read_error) {
        (Err(e), None) => Err(e),
        (_, Some(read)) => Err(read),
        (Ok(set), None) => Ok(set),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::CellRef;

    fn chunked(body: &[u8], size: usize) -> Result<RowSet, RowsError> {
        let mut b = RowSetBuilder::new(Some(body.len() as u64), ParseOptions::default());
        for c in body.chunks(size.max(1)) {
            b.push(c)?;
        }
        b.finish()
    }

    fn sample() -> String {
        let mut rows = Vec::new();
        for i in 0..200 {
            rows.push(format!(
                r#"{{"Timestamp":"2026-11-24T10:00:{:02}.{}Z","DeviceName":"ws-{}","Path":"C:\\Windows\\{i}\\\"q\"","N":{},"F":{}e-1,"D":{}}}"#,
                i % 60,
                "1234567".get(..i % 8).unwrap_or(""),
                i % 5,
                i * 1000 + 7,
                i,
                if i % 3 == 0 { r#"{"k":[1,{"z":null}]}"# } else { "null" }
            ));
        }
        format!(
            r#"{{ "@odata.context": "x", "Stats": {{"ExecutionTime": 1.5}},
               "schema": [{{"name":"Timestamp","type":"DateTime"}},{{"name":"DeviceName","type":"String"}}],
               "results": [ {} ], "@odata.count": 200 }}"#,
            rows.join(" ,\n ")
        )
    }

    #[test]
    fn every_chunk_size_gives_the_same_rows_as_the_whole_body() {
        let body = sample();
        let whole = RowSet::from_slice(body.as_bytes()).unwrap();
        let expected: Vec<Value> = (0..whole.len()).map(|r| whole.row_json(r)).collect();
        for size in [1, 2, 3, 7, 64, 333, 4096, body.len()] {
            let got = chunked(body.as_bytes(), size).unwrap();
            assert_eq!(got.len(), 200, "chunk {size}");
            let rows: Vec<Value> = (0..got.len()).map(|r| got.row_json(r)).collect();
            assert_eq!(rows, expected, "chunk {size}");
            assert_eq!(got.stats().unwrap()["ExecutionTime"], 1.5);
            assert_eq!(got.columns()[1].name, "DeviceName");
            // Interning survives rollbacks: repeated names are stored once.
            assert_eq!(got.arena_bytes(), whole.arena_bytes(), "chunk {size}");
        }
        let one = chunked(body.as_bytes(), 5).unwrap();
        assert_eq!(one.cell(199, 1), CellRef::Str("ws-4"));
        assert_eq!(
            one.cell(1, one.column_index("Path").unwrap()),
            CellRef::Str("C:\\Windows\\1\\\"q\"")
        );
    }

    #[test]
    fn numbers_split_across_chunks_are_not_cut_short() {
        let body = br#"{"odata":123456,"results":[{"n":123456}],"more":98765}"#;
        for size in 1..body.len() {
            let rs = chunked(body, size).unwrap();
            assert_eq!(rs.cell(0, 0), CellRef::Int(123_456), "chunk {size}");
        }
    }

    #[test]
    fn truncated_and_invalid_bodies_fail_cleanly_at_any_chunking() {
        let body = sample();
        for cut in [0, 1, 10, body.len() / 2, body.len() - 1] {
            for size in [1, 17, 4096] {
                let err = chunked(&body.as_bytes()[..cut], size).unwrap_err();
                assert!(
                    matches!(err, RowsError::Truncated),
                    "cut {cut}/{size}: {err}"
                );
            }
        }
        let cases: &[(&[u8], &str)] = &[
            (b"[]", "expected `{`"),
            (br#"{"results":5}"#, "expected `[`"),
            (br#"{"results":[1]}"#, "expected a result row"),
            (br#"{"results":[{"a":1}}"#, "expected `,` or `]`"),
            (br#"{"results":[{"a":1},]}"#, "expected a result row"),
            (br#"{"results":[]} {}"#, "nothing after"),
            (br#"{"results":[{"a":tru}]}"#, "not valid"),
            (
                br#"{"schema":[{"name":"a"},{"name":"a"}],"results":[]}"#,
                "twice",
            ),
            (br#"{"schema":[]}"#, "no `results`"),
        ];
        for (body, want) in cases {
            for size in [1, 4, 1000] {
                let err = chunked(body, size).unwrap_err().to_string();
                assert!(
                    err.contains(want),
                    "{} / {size}: {err}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }

    #[test]
    fn mutated_bodies_never_panic_and_both_parsers_agree() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let base = sample().into_bytes();
        let base = &base[..base.len().min(3000)];
        // Cut inside the results: close the array and object so most mutants stay near-valid.
        let mut seed = base.to_vec();
        while seed.last() != Some(&b'}') {
            seed.pop();
        }
        seed.extend_from_slice(b"]}");
        let mut rng = StdRng::seed_from_u64(7);
        let alphabet = b"{}[]\",:0123456789-.eE tnfrul\\\x00\xff\xc3";
        let (mut accepted, mut rejected) = (0, 0);
        for case in 0..1500 {
            let mut body = seed.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..body.len());
                let b = alphabet[rng.random_range(0..alphabet.len())];
                match rng.random_range(0..3) {
                    0 => body[at] = b,
                    1 => {
                        body.remove(at);
                    }
                    _ => body.insert(at, b),
                }
            }
            let whole = RowSet::from_slice(&body);
            let parts = chunked(&body, rng.random_range(1..200));
            match (&whole, &parts) {
                (Ok(a), Ok(b)) => {
                    accepted += 1;
                    let ra: Vec<Value> = (0..a.len()).map(|r| a.row_json(r)).collect();
                    let rb: Vec<Value> = (0..b.len()).map(|r| b.row_json(r)).collect();
                    assert_eq!(ra, rb, "case {case}");
                    assert_eq!(a.columns(), b.columns(), "case {case}");
                }
                (Err(_), Err(_)) => rejected += 1,
                _ => panic!(
                    "case {case}: whole {:?} vs chunked {:?} on {}",
                    whole.as_ref().map(RowSet::len),
                    parts.as_ref().map(RowSet::len),
                    String::from_utf8_lossy(&body)
                ),
            }
        }
        assert!(accepted > 100 && rejected > 100, "{accepted} / {rejected}");
    }

    #[test]
    fn a_huge_single_value_is_parsed_in_linear_time() {
        // One 4 MB string in 1-byte chunks: with naive retries this would rescan ~8 TB.
        let big = "x".repeat(4 << 20);
        let body = format!(r#"{{"results":[{{"blob":"{big}"}}]}}"#);
        let rs = chunked(body.as_bytes(), 64).unwrap();
        assert_eq!(rs.cell(0, 0), CellRef::Str(&big));
    }
}
