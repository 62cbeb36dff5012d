//! [`RowSetBuilder`]: feed a hunting response chunk by chunk as it downloads.

use futures_util::StreamExt;

use super::error::RowsError;
use super::parse::ParseOptions;
use super::rowset::RowSet;

/// Collects a response body as it arrives (e.g. from reqwest's `bytes_stream`) and parses
/// it into a [`RowSet`].
#[derive(Debug, Default)]
pub struct RowSetBuilder {
    buf: Vec<u8>,
    opts: ParseOptions,
}

impl RowSetBuilder {
    /// A builder; `size_hint` (the `Content-Length`, when known) sizes the buffer once.
    #[must_use]
    pub fn new(size_hint: Option<u64>, opts: ParseOptions) -> RowSetBuilder {
        let cap = size_hint.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
        // A lying Content-Length must not reserve gigabytes up front.
        let cap = cap.min(256 << 20);
        RowSetBuilder {
            buf: Vec::with_capacity(cap),
            opts,
        }
    }

    /// Add the next chunk of the body.
    ///
    /// # Errors
    /// Never at present; kept fallible so a parser that works during the download can
    /// report errors early.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), RowsError> {
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// The body is complete: parse it.
    ///
    /// # Errors
    /// As [`RowSet::from_slice`].
    pub fn finish(self) -> Result<RowSet, RowsError> {
        RowSet::from_slice_with(&self.buf, self.opts)
    }
}

/// Read a hunting response body from reqwest chunk by chunk into a [`RowSet`]. The caller
/// has already checked the status (error bodies are not hunting results).
///
/// # Errors
/// A failed read ([`RowsError::Read`]) or an invalid body.
pub async fn read_response(
    resp: reqwest::Response,
    opts: ParseOptions,
) -> Result<RowSet, RowsError> {
    let mut builder = RowSetBuilder::new(resp.content_length(), opts);
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| RowsError::Read(e.without_url().to_string()))?;
        builder.push(&chunk)?;
    }
    builder.finish()
}
