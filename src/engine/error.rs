//! Why a step failed: [`StepError`], with the kind that decides the exit code (template, API
//! and I/O failures → 1, a false `assert` → 3, authentication and permissions → 4) and the
//! playbook span it points at, so a failing step is reported at its `file:line`.

use std::fmt;

use serde::Serialize;

use crate::engine::connection::Call;
use crate::exit::ExitStatus;
use crate::playbook::TemplateField;
use crate::source::{SourceMap, Span};
use crate::template::TemplateError;

/// What kind of failure a [`StepError`] is. The kind alone decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A template or expression failed to render (undefined value, wrong type).
    Template,
    /// A value of the wrong shape reached a step (a `for_each` that is not a list, …).
    Data,
    /// The API answered with an error, or could not be reached.
    Api,
    /// Reading or writing a file failed.
    Io,
    /// The step ran longer than its `timeout`.
    Timeout,
    /// An `assert` expression was false.
    Assert,
    /// No token could be obtained (bad credentials, unknown tenant, …).
    Auth,
    /// The token lacks a permission a step needs (preflight, or a 403 from the API).
    Permission,
    /// A guard stopped a response action (`max_targets`).
    Guard,
    /// The run was interrupted.
    Cancelled,
}

impl ErrorKind {
    /// The exit status a run that stops on this error ends with.
    #[must_use]
    pub fn exit_status(self) -> ExitStatus {
        match self {
            ErrorKind::Assert => ExitStatus::AssertFailed,
            ErrorKind::Auth | ErrorKind::Permission => ExitStatus::AuthFailed,
            ErrorKind::Template
            | ErrorKind::Data
            | ErrorKind::Api
            | ErrorKind::Io
            | ErrorKind::Timeout
            | ErrorKind::Guard
            | ErrorKind::Cancelled => ExitStatus::Failure,
        }
    }

    /// The kind as written in reports and logs (`template`, `api`, …).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Template => "template",
            ErrorKind::Data => "data",
            ErrorKind::Api => "api",
            ErrorKind::Io => "io",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Assert => "assert",
            ErrorKind::Auth => "auth",
            ErrorKind::Permission => "permission",
            ErrorKind::Guard => "guard",
            ErrorKind::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step's failure. Messages never carry a secret: they are built from redacted data only
/// (API errors are scrubbed by the client before they get here).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub kind: ErrorKind,
    /// One line, lowercase, user values in backticks.
    pub message: String,
    /// Where in the playbook: the failing field, else the step's kind key (filled in by the
    /// flow when the step itself did not say).
    pub span: Option<Span>,
    /// What to do about it.
    pub help: Option<String>,
    /// The HTTP status, when an API answered.
    pub status: Option<u16>,
}

impl StepError {
    /// An error of `kind` without a location yet.
    #[must_use]
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> StepError {
        StepError {
            kind,
            message: message.into(),
            span: None,
            help: None,
            status: None,
        }
    }

    /// Point the error at `span`.
    #[must_use]
    pub fn at(mut self, span: Span) -> StepError {
        self.span = Some(span);
        self
    }

    /// Point the error at `span` unless it already points somewhere.
    #[must_use]
    pub fn or_at(mut self, span: Span) -> StepError {
        if self.span.is_none() {
            self.span = Some(span);
        }
        self
    }

    /// Add a help line.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> StepError {
        self.help = Some(help.into());
        self
    }

    /// A template that failed while rendering `field`: located at the failing range inside
    /// the field when the template engine knows it, else at the whole field.
    #[must_use]
    pub fn template(
        field: &TemplateField,
        sources: &SourceMap,
        what: &str,
        e: &TemplateError,
    ) -> StepError {
        let span = match &e.range {
            Some(r) => field.locate(sources, r.clone()),
            None => field.span,
        };
        StepError::new(ErrorKind::Template, format!("{what}: {}", e.message)).at(span)
    }

    /// An API answer with a status the step did not accept: `METHOD URL: HTTP 400: message`,
    /// the message taken from the Graph/Defender error body (`error.message`). 401 and 403
    /// are permission errors (exit 4).
    #[must_use]
    pub fn http_status(call: &Call, status: u16, body: &serde_json::Value) -> StepError {
        let message = body
            .pointer("/error/message")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("error");
        let kind = if status == 401 || status == 403 {
            ErrorKind::Permission
        } else {
            ErrorKind::Api
        };
        StepError {
            status: Some(status),
            ..StepError::new(
                kind,
                format!("{}: HTTP {status}: {message}", call.describe()),
            )
        }
    }

    /// The exit status this error calls for.
    #[must_use]
    pub fn exit_status(&self) -> ExitStatus {
        self.kind.exit_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_the_documented_exit_codes() {
        assert_eq!(ErrorKind::Template.exit_status().code(), 1);
        assert_eq!(ErrorKind::Api.exit_status().code(), 1);
        assert_eq!(ErrorKind::Io.exit_status().code(), 1);
        assert_eq!(ErrorKind::Timeout.exit_status().code(), 1);
        assert_eq!(ErrorKind::Assert.exit_status().code(), 3);
        assert_eq!(ErrorKind::Auth.exit_status().code(), 4);
        assert_eq!(ErrorKind::Permission.exit_status().code(), 4);
    }

    #[test]
    fn a_location_given_first_is_kept() {
        let a = Span::new(crate::source::FileId(0), 1, 2);
        let b = Span::new(crate::source::FileId(0), 5, 9);
        let e = StepError::new(ErrorKind::Api, "x").at(a).or_at(b);
        assert_eq!(e.span, Some(a));
        let e = StepError::new(ErrorKind::Api, "x").or_at(b);
        assert_eq!(e.span, Some(b));
    }
}
