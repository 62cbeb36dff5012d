//! Errors of parsing hunting responses and of writing rows out.

/// A hunting response that could not be turned into a [`RowSet`](super::RowSet).
#[derive(Debug, thiserror::Error)]
pub enum RowsError {
    /// Not JSON, or JSON of the wrong shape (serde_json's message carries line and column).
    #[error("hunting response is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// The chunked parser met a byte the response grammar does not allow there.
    #[error("hunting response is not valid: expected {expected} at byte {offset}")]
    Syntax {
        /// Byte offset in the body.
        offset: usize,
        /// What was expected, for the message.
        expected: &'static str,
    },
    /// The top-level object has neither `results` (Graph) nor `Results` (Defender).
    #[error("hunting response has no `results` (Graph) or `Results` (Defender) array")]
    MissingResults,
    /// The response object has two schemas or two results arrays.
    #[error("hunting response has two `{0}` members")]
    DuplicateMember(&'static str),
    /// Two schema entries name the same column.
    #[error("hunting response schema names column `{0}` twice")]
    DuplicateColumn(String),
    /// The response holds more text or rows than the compact form can address (4 GiB of
    /// string data or 2^32 rows; the service caps responses far below this).
    #[error("hunting response is too large to hold in memory ({0})")]
    TooLarge(&'static str),
    /// The body ended before the JSON document did.
    #[error("hunting response ended early (truncated body?)")]
    Truncated,
    /// Reading the body failed.
    #[error("reading the hunting response failed: {0}")]
    Read(String),
}

/// A write of rows to CSV / JSON / JSONL failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The destination refused the bytes.
    #[error("writing output failed: {0}")]
    Io(#[from] std::io::Error),
    /// The CSV encoder failed (it wraps I/O errors too).
    #[error("writing CSV failed: {0}")]
    Csv(#[from] csv::Error),
    /// JSON encoding failed.
    #[error("writing JSON failed: {0}")]
    Json(#[from] serde_json::Error),
    /// The data is not representable as JSON (undefined, a callable).
    #[error("cannot write the data: {0}")]
    Data(#[from] crate::template::value::ValueError),
}
