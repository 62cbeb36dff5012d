//! Reporting results: one line per case, the expected-vs-actual detail of a failure (pointed at
//! the test file's line, in the style of the diagnostics), the summary, and JUnit XML for CI.

use std::fmt::Write as _;
use std::time::Duration;

use crate::source::{SourceMap, Span};

use super::expect::Failure;
use super::runner::{CaseResult, Outcome};
use super::spec::TestFile;

fn paint(on: bool, code: &str, text: &str) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// The one line of a case: `ok   FILE: NAME  (0.21s)`, `FAIL …`, `skip …  (reason)`.
#[must_use]
pub fn case_line(file: &TestFile, r: &CaseResult, colour: bool) -> String {
    let path = file.path.display();
    match &r.outcome {
        Outcome::Passed => format!(
            "{}   {path}: {}  ({})",
            paint(colour, "32", "ok"),
            r.name,
            seconds(r.duration)
        ),
        Outcome::Failed(_) | Outcome::Error(_) => format!(
            "{} {path}: {}  ({})",
            paint(colour, "1;31", "FAIL"),
            r.name,
            seconds(r.duration)
        ),
        Outcome::Skipped(reason) => format!(
            "{} {path}: {}  ({reason})",
            paint(colour, "33", "skip"),
            r.name
        ),
    }
}

/// The detail under a failed case's line: each failed expectation with its test-file line,
/// what was expected and what happened; or the error that kept the case from running.
#[must_use]
pub fn details(file: &TestFile, r: &CaseResult, colour: bool) -> String {
    match &r.outcome {
        Outcome::Failed(failures) => {
            let mut out = String::new();
            for f in failures {
                out.push_str(&failure(f, &file.sources, colour));
            }
            out
        }
        Outcome::Error(e) => {
            let case = &file.cases[r.case];
            let mut out = String::new();
            let _ = writeln!(out, "  {}: {e}", paint(colour, "1;31", "error"));
            if let Some(at) = location(&file.sources, case.span) {
                let _ = writeln!(out, "    {} {at}", paint(colour, "1;34", "-->"));
            }
            out
        }
        _ => String::new(),
    }
}

fn location(sources: &SourceMap, span: Span) -> Option<String> {
    let f = sources.get(span.file)?;
    let lc = f.line_col(span.start);
    Some(format!("{}:{}:{}", f.name(), lc.line, lc.column))
}

/// One failed expectation, indented under its case:
///
/// ```text
///   exit code: expected 0, got 1
///     --> playbooks/x.test.yaml:12:13
///      |
///   12 |       exit: 0
///      |             ^ expected 0
///      |
///      = actual: 1
///      = note: the run stopped at `hunt`: …
/// ```
#[must_use]
pub fn failure(f: &Failure, sources: &SourceMap, colour: bool) -> String {
    let mut out = String::new();
    let single = !f.expected.contains('\n') && !f.actual.contains('\n');
    let head = if single && f.expected.len() + f.actual.len() < 120 {
        format!("{}: expected {}, got {}", f.what, f.expected, f.actual)
    } else {
        f.what.clone()
    };
    let _ = writeln!(out, "  {}", paint(colour, "1", &head));
    let blue = |t: &str| paint(colour, "1;34", t);
    let Some(file) = sources.get(f.span.file) else {
        let _ = writeln!(out, "    = expected: {}", f.expected);
        let _ = writeln!(out, "    = actual:   {}", f.actual);
        return out;
    };
    let lc = file.line_col(f.span.start);
    let gutter = lc.line.to_string().len();
    let pad = " ".repeat(gutter);
    let _ = writeln!(
        out,
        "  {pad}{} {}:{}:{}",
        blue("-->"),
        file.name(),
        lc.line,
        lc.column
    );
    let bar = blue("|");
    let _ = writeln!(out, "  {pad} {bar}");
    let line = file.line_text(lc.line).replace('\t', "    ");
    let _ = writeln!(out, "  {} {bar} {line}", blue(&lc.line.to_string()));
    let (line_start, line_end) = file.line_range(lc.line);
    let end = f.span.end.min(line_end).max(f.span.start);
    let width = file
        .text()
        .get(f.span.start.max(line_start)..end)
        .map_or(1, |t| t.chars().count())
        .max(1);
    let _ = writeln!(
        out,
        "  {pad} {bar} {}{}",
        " ".repeat(lc.column - 1),
        paint(
            colour,
            "1;31",
            &format!("{} expected {}", "^".repeat(width), one_line(&f.expected))
        )
    );
    let _ = writeln!(out, "  {pad} {bar}");
    let eq = blue("=");
    let _ = writeln!(
        out,
        "  {pad} {eq} actual: {}",
        indent(&f.actual, gutter + 13)
    );
    for n in &f.notes {
        let _ = writeln!(out, "  {pad} {eq} note: {}", indent(n, gutter + 11));
    }
    out
}

fn one_line(s: &str) -> String {
    match s.split_once('\n') {
        Some((first, _)) => format!("{first} …"),
        None => s.to_string(),
    }
}

/// Continuation lines of a multi-line text, indented to line up after `= note: `.
fn indent(s: &str, by: usize) -> String {
    let pad = format!("\n{}", " ".repeat(by));
    s.lines().collect::<Vec<_>>().join(&pad)
}

/// Counts of a set of results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Cases that met every expectation.
    pub passed: usize,
    /// Cases that did not, or could not run.
    pub failed: usize,
    /// Cases with `skip:`.
    pub skipped: usize,
}

impl Totals {
    /// Count `results`.
    #[must_use]
    pub fn of(results: &[CaseResult]) -> Totals {
        let mut t = Totals::default();
        for r in results {
            match r.outcome {
                Outcome::Passed => t.passed += 1,
                Outcome::Failed(_) | Outcome::Error(_) => t.failed += 1,
                Outcome::Skipped(_) => t.skipped += 1,
            }
        }
        t
    }

    /// `N passed, N failed` (`, N skipped` when any were).
    #[must_use]
    pub fn line(&self) -> String {
        let mut s = format!("{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            s.push_str(&format!(", {} skipped", self.skipped));
        }
        s
    }
}

/// The end of the output: the failed cases again (after a long run their lines have scrolled
/// away), then the plain totals line.
#[must_use]
pub fn summary(files: &[TestFile], results: &[CaseResult]) -> String {
    let mut out = String::new();
    let failed: Vec<&CaseResult> = results.iter().filter(|r| r.failed()).collect();
    if !failed.is_empty() {
        out.push_str("\nfailed:\n");
        for r in failed {
            let _ = writeln!(out, "  {}: {}", files[r.file].path.display(), r.name);
        }
    }
    let _ = writeln!(out, "{}", Totals::of(results).line());
    out
}

/// Text for XML: escaped, without characters XML 1.0 forbids, without terminal colours.
#[must_use]
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\x1b' => {
                // An ANSI colour sequence: ESC [ … letter.
                if chars.peek() == Some(&'[') {
                    for d in chars.by_ref() {
                        if d.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                out.push('\u{fffd}');
            }
            c => out.push(c),
        }
    }
    out
}

/// A test file that could not be loaded, for the JUnit report.
#[derive(Debug, Clone)]
pub struct InvalidFile {
    /// The test file, as found.
    pub path: String,
    /// The rendered diagnostics.
    pub message: String,
}

/// The JUnit XML report: one `testsuite` per test file, one `testcase` per case (with
/// `classname`, `name`, `file`, `line`, `time`), a `failure` with the expected-vs-actual
/// text, `skipped` with the reason; an invalid test file is a suite with one errored case.
#[must_use]
pub fn junit(files: &[TestFile], results: &[CaseResult], invalid: &[InvalidFile]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let totals = Totals::of(results);
    let errors = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Error(_)))
        .count()
        + invalid.len();
    let time = results
        .iter()
        .fold(0.0, |t, r| t + r.duration.as_secs_f64());
    // `failed` counts errored cases too; JUnit counts them apart.
    let failures = totals.failed - (errors - invalid.len());
    let _ = writeln!(
        out,
        "<testsuites name=\"huntbook test\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{}\" time=\"{time:.3}\">",
        results.len() + invalid.len(),
        totals.skipped,
    );
    for (i, file) in files.iter().enumerate() {
        let mine: Vec<&CaseResult> = results.iter().filter(|r| r.file == i).collect();
        let path = file.path.display().to_string();
        let classname = classname(&path);
        let failures = mine
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .count();
        let errs = mine
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Error(_)))
            .count();
        let skipped = mine
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
            .count();
        let time = mine.iter().fold(0.0, |t, r| t + r.duration.as_secs_f64());
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errs}\" skipped=\"{skipped}\" time=\"{time:.3}\">",
            xml_escape(&path),
            mine.len()
        );
        for r in mine {
            let case = &file.cases[r.case];
            let line = file
                .sources
                .get(case.span.file)
                .map_or(0, |f| f.line_of(case.span.start));
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{line}\" time=\"{:.3}\"",
                xml_escape(&classname),
                xml_escape(&r.name),
                xml_escape(&path),
                r.duration.as_secs_f64()
            );
            match &r.outcome {
                Outcome::Passed => out.push_str("/>\n"),
                Outcome::Skipped(reason) => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        xml_escape(reason)
                    );
                }
                Outcome::Failed(fs) => {
                    let message = fs
                        .iter()
                        .map(|f| {
                            one_line(&format!(
                                "{}: expected {}, got {}",
                                f.what, f.expected, f.actual
                            ))
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    let body: String = fs
                        .iter()
                        .map(|f| failure(f, &file.sources, false))
                        .collect();
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\" type=\"expectation\">{}</failure>\n    </testcase>",
                        xml_escape(&message),
                        xml_escape(&body)
                    );
                }
                Outcome::Error(e) => {
                    let _ = writeln!(
                        out,
                        ">\n      <error message=\"{}\" type=\"setup\">{}</error>\n    </testcase>",
                        xml_escape(&one_line(e)),
                        xml_escape(e)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    for bad in invalid {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{0}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"0.000\">\n    <testcase classname=\"{1}\" name=\"(invalid test file)\" file=\"{0}\" time=\"0.000\">\n      <error message=\"invalid test file\" type=\"invalid\">{2}</error>\n    </testcase>\n  </testsuite>",
            xml_escape(&bad.path),
            xml_escape(&classname(&bad.path)),
            xml_escape(&bad.message)
        );
    }
    out.push_str("</testsuites>\n");
    out
}

/// `playbooks/encoded-powershell.test.yaml` → `playbooks.encoded-powershell`.
fn classname(path: &str) -> String {
    let stem = path
        .strip_suffix(".test.yaml")
        .or_else(|| path.strip_suffix(".test.yml"))
        .unwrap_or(path);
    stem.trim_start_matches("./").replace(['/', '\\'], ".")
}

#[cfg(test)]
mod tests;
