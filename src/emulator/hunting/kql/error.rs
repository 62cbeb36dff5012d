//! Query errors with source positions, rendered in the wording of the advanced-hunting service
//! (`Query could not be parsed at 'foo' on line [3,12]`, `'project' operator: Failed to resolve
//! scalar expression named 'x'`) plus the position the service leaves out.

/// A byte range of the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    #[must_use]
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    #[must_use]
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not KQL.
    Syntax,
    /// Valid KQL outside the emulated subset.
    Unsupported,
    /// Unknown names, type errors, invalid arguments.
    Semantic,
    /// The evaluation budget ran out.
    Timeout,
    /// An intermediate result grew past what the emulator will hold (a runaway join).
    Resources,
    /// A defect of the emulator (the query thread failed).
    Internal,
}

/// A query error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KqlError {
    pub kind: ErrorKind,
    /// Where, when the error has a place in the text.
    pub span: Option<Span>,
    /// The message without position.
    pub detail: String,
}

impl std::fmt::Display for KqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for KqlError {}

impl KqlError {
    /// A parse error at `span`; `detail` says what was expected.
    #[must_use]
    pub fn syntax(span: Span, detail: &str) -> KqlError {
        KqlError {
            kind: ErrorKind::Syntax,
            span: Some(span),
            detail: detail.to_string(),
        }
    }

    /// A construct outside the subset: `what` is e.g. "operator `join`".
    #[must_use]
    pub fn unsupported(span: Span, what: &str) -> KqlError {
        KqlError {
            kind: ErrorKind::Unsupported,
            span: Some(span),
            detail: format!("{what} is not supported by the huntbook emulator"),
        }
    }

    /// A semantic error at `span`.
    #[must_use]
    pub fn semantic(span: Span, detail: impl Into<String>) -> KqlError {
        KqlError {
            kind: ErrorKind::Semantic,
            span: Some(span),
            detail: detail.into(),
        }
    }

    /// The evaluation budget ran out.
    #[must_use]
    pub fn timeout() -> KqlError {
        KqlError {
            kind: ErrorKind::Timeout,
            span: None,
            detail: "Query exceeded the timeout period.".to_string(),
        }
    }

    /// A result too large to hold (the service's wording).
    #[must_use]
    pub fn resources() -> KqlError {
        KqlError {
            kind: ErrorKind::Resources,
            span: None,
            detail: "Query stopped due to excessive resource consumption.".to_string(),
        }
    }

    /// The query thread failed: a defect, reported as the service reports its own failures.
    #[must_use]
    pub fn internal() -> KqlError {
        KqlError {
            kind: ErrorKind::Internal,
            span: None,
            detail: "An unexpected error occurred during query execution. Please try again in a few minutes.".to_string(),
        }
    }

    /// Prefix the detail with the operator the error happened in (`'project' operator: …`).
    #[must_use]
    pub fn in_operator(mut self, op: &str) -> KqlError {
        if self.kind == ErrorKind::Semantic && !self.detail.starts_with('\'') {
            self.detail = format!("'{op}' operator: {}", self.detail);
        }
        self
    }

    /// The full message for `query`, with the 1-based line and column of the error.
    #[must_use]
    pub fn message(&self, query: &str) -> String {
        let Some(span) = self.span else {
            return self.detail.clone();
        };
        let (line, col) = line_col(query, span.start);
        match self.kind {
            ErrorKind::Syntax => {
                let text = query.get(span.start..span.end).unwrap_or("");
                let shown: String = text.chars().take(40).collect();
                let shown = if span.start >= query.trim_end().len() {
                    "<end of query>".to_string()
                } else {
                    shown
                };
                format!(
                    "Query could not be parsed at '{shown}' on line [{line},{col}]: {}",
                    self.detail
                )
            }
            _ => format!("{} on line [{line},{col}]", self.detail),
        }
    }
}

/// 1-based line and column (in characters) of byte offset `pos`.
#[must_use]
pub fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = text.get(..pos).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_lines_and_columns() {
        let q = "let x = 1;\nT\n| whre x";
        assert_eq!(line_col(q, 0), (1, 1));
        assert_eq!(line_col(q, 15), (3, 3));
        let e = KqlError::syntax(Span::new(15, 19), "expected a tabular operator");
        assert_eq!(
            e.message(q),
            "Query could not be parsed at 'whre' on line [3,3]: expected a tabular operator"
        );
    }

    #[test]
    fn unsupported_and_semantic_messages() {
        let q = "T | join (U) on k";
        let e = KqlError::unsupported(Span::new(4, 8), "operator `join`");
        assert_eq!(
            e.message(q),
            "operator `join` is not supported by the huntbook emulator on line [1,5]"
        );
        let e = KqlError::semantic(
            Span::new(0, 1),
            "Failed to resolve scalar expression named 'x'",
        )
        .in_operator("project");
        assert_eq!(
            e.message("x"),
            "'project' operator: Failed to resolve scalar expression named 'x' on line [1,1]"
        );
        assert_eq!(
            KqlError::timeout().message(q),
            "Query exceeded the timeout period."
        );
    }

    #[test]
    fn end_of_query_is_named() {
        let q = "T | where";
        let e = KqlError::syntax(Span::new(9, 9), "expected an expression");
        assert_eq!(
            e.message(q),
            "Query could not be parsed at '<end of query>' on line [1,10]: expected an expression"
        );
    }
}
