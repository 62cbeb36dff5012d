//! Source files and spans: the text diagnostics point into, and the byte-offset → line/column
//! arithmetic every renderer shares.
//!
//! Spans are byte ranges into one file of a [`SourceMap`]; lines are 1-based and columns are
//! 1-based counts of Unicode scalar values, the convention of rustc and most editors' "go to
//! line:column".

use std::path::{Path, PathBuf};

/// Which file of a [`SourceMap`] a span points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// The file the range belongs to.
    pub file: FileId,
    /// First byte (inclusive).
    pub start: usize,
    /// Last byte (exclusive); equal to `start` for a point.
    pub end: usize,
}

impl Span {
    /// A span in `file` from `start` to `end` (bytes).
    #[must_use]
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start,
            end: end.max(start),
        }
    }

    /// A zero-width span at `offset`.
    #[must_use]
    pub fn point(file: FileId, offset: usize) -> Span {
        Span::new(file, offset, offset)
    }

    /// Length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span covers no byte.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// One line/column position (both 1-based; the column counts characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

/// A file's text with its line index.
#[derive(Clone)]
pub struct SourceFile {
    /// The path as the user gave it (used in `file:line:column`).
    path: PathBuf,
    text: String,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
    /// Byte ranges whose text must never be shown (literal secrets): renderers mask them.
    redactions: Vec<(usize, usize)>,
}

/// The text is left out: a playbook may hold a literal secret (which validation refuses),
/// and `Debug` output ends up in logs.
impl std::fmt::Debug for SourceFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceFile")
            .field("path", &self.path)
            .field("bytes", &self.text.len())
            .field("lines", &self.line_count())
            .finish_non_exhaustive()
    }
}

impl SourceFile {
    /// Index `text` as the contents of `path`.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i + 1),
        );
        SourceFile {
            path: path.into(),
            text,
            line_starts,
            redactions: Vec::new(),
        }
    }

    /// The path as given.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path for display in `file:line:column`.
    #[must_use]
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// The whole text.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Number of lines (a trailing newline does not start a new line).
    #[must_use]
    pub fn line_count(&self) -> usize {
        if self.text.ends_with('\n') {
            self.line_starts.len() - 1
        } else {
            self.line_starts.len()
        }
    }

    /// The 1-based line containing byte `offset` (offsets past the end clamp to the end).
    #[must_use]
    pub fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// Line and column of byte `offset`. An offset inside a multi-byte character counts as
    /// that character.
    #[must_use]
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let line = self.line_of(offset);
        let start = self.line_starts[line - 1];
        let column = self.text[start..offset].chars().count() + 1;
        LineCol { line, column }
    }

    /// Byte range of 1-based `line` without its line terminator.
    #[must_use]
    pub fn line_range(&self, line: usize) -> (usize, usize) {
        let idx = line.saturating_sub(1).min(self.line_starts.len() - 1);
        let start = self.line_starts[idx];
        let mut end = self
            .line_starts
            .get(idx + 1)
            .map_or(self.text.len(), |next| next - 1);
        if end > start && self.text.as_bytes()[end - 1] == b'\r' {
            end -= 1;
        }
        (start, end.max(start))
    }

    /// The text of 1-based `line`, with redacted ranges masked.
    #[must_use]
    pub fn line_text(&self, line: usize) -> String {
        let (start, end) = self.line_range(line);
        let mut out = String::with_capacity(end - start);
        let mut i = start;
        for (s, e) in &self.redactions {
            let (s, e) = ((*s).max(start), (*e).min(end));
            if s >= e || s < i {
                continue;
            }
            out.push_str(&self.text[i..s]);
            // Same width as the secret, so carets under the line still line up.
            out.extend(std::iter::repeat_n('*', self.text[s..e].chars().count()));
            i = e;
        }
        out.push_str(&self.text[i..end]);
        out
    }

    /// Never show the text of `span` (a literal secret) in any rendered snippet.
    pub fn redact(&mut self, start: usize, end: usize) {
        let start = floor_char_boundary(&self.text, start.min(self.text.len()));
        let end = ceil_char_boundary(&self.text, end.min(self.text.len()));
        self.redactions.push((start, end));
        self.redactions.sort_unstable();
    }

    /// Whether some byte of `start..end` is redacted.
    #[must_use]
    pub fn is_redacted(&self, start: usize, end: usize) -> bool {
        self.redactions.iter().any(|(s, e)| *s < end && start < *e)
    }
}

/// The files one validation or run reads: the playbook, plus any `query_file` or
/// `template_file` it includes. [`FileId`] indexes into it.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    #[must_use]
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    /// Add a file; returns its id.
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        FileId(u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX))
    }

    /// The file with `id` (`None` for an id from another map).
    #[must_use]
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    /// Mutable access, to record redactions.
    pub fn get_mut(&mut self, id: FileId) -> Option<&mut SourceFile> {
        self.files.get_mut(id.0 as usize)
    }

    /// All files, in insertion order.
    #[must_use]
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// The text a span covers (empty when the span is not in this map).
    #[must_use]
    pub fn slice(&self, span: Span) -> &str {
        self.get(span.file)
            .and_then(|f| f.text.get(span.start..span.end))
            .unwrap_or("")
    }
}

/// The largest char boundary ≤ `i`.
#[must_use]
pub fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary ≥ `i`.
#[must_use]
pub fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let f = SourceFile::new("x.yaml", "a: 1\nnäme: é\n");
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(f.line_col(5), LineCol { line: 2, column: 1 });
        // `é` after `näme: ` is at byte 5 + 7 = 12, the 7th character of line 2.
        assert_eq!(f.line_col(13), LineCol { line: 2, column: 7 });
        assert_eq!(f.line_count(), 2);
        assert_eq!(f.line_text(2), "näme: é");
    }

    #[test]
    fn offsets_past_the_end_clamp() {
        let f = SourceFile::new("x.yaml", "ab");
        assert_eq!(f.line_col(99), LineCol { line: 1, column: 3 });
    }

    #[test]
    fn crlf_lines_drop_the_carriage_return() {
        let f = SourceFile::new("x.yaml", "a: 1\r\nb: 2\r\n");
        assert_eq!(f.line_text(1), "a: 1");
        assert_eq!(f.line_text(2), "b: 2");
    }

    #[test]
    fn debug_output_never_shows_the_text() {
        let f = SourceFile::new("x.yaml", "client_secret: hunter2\n");
        let shown = format!("{f:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("x.yaml"));
    }

    #[test]
    fn redacted_text_is_masked_with_the_same_width() {
        let mut f = SourceFile::new("x.yaml", "client_secret: hunter2\n");
        f.redact(15, 22);
        assert_eq!(f.line_text(1), "client_secret: *******");
        assert!(f.is_redacted(16, 17));
        assert!(!f.is_redacted(0, 5));
    }
}
