//! Values in paths: URL path segments (`request.path`) and file paths (`output.path`).
//!
//! - In a URL path every `{{ value }}` is percent-encoded as **one segment** ([`segment`]):
//!   `/`, `?`, `#`, `%` and everything outside `A-Z a-z 0-9 - _ . ~` are escaped, and `.`,
//!   `..` and the empty string are refused (a URL parser resolves `.`/`..` segments, even
//!   encoded ones, so they would move the request to another route).
//! - In a file path a `{{ value }}` may name files and folders *below* where it stands, never
//!   leave it: [`FilePath`] refuses a path where a rendered value makes a `.` or `..`
//!   component, makes the path absolute, or holds `\`, NUL or another control character.
//!   The author's own text is trusted: `../reports/{{ x }}.md` is fine.

use std::ops::Range;

/// Percent-encode one URL path segment.
///
/// # Errors
/// For `.`, `..` and the empty string, which no encoding keeps a plain segment.
pub fn segment(s: &str) -> Result<String, String> {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    match s {
        "" => Err("an empty value cannot be a URL path segment".to_string()),
        "." | ".." => Err(format!(
            "`{s}` cannot be a URL path segment: it would move the request to another route"
        )),
        _ => Ok(percent_encoding::utf8_percent_encode(s, SET).to_string()),
    }
}

/// Marks where a value rendered into a file path starts and ends, while the template renders
/// (private-use characters; a value holding one is refused).
pub(crate) const OPEN: char = '\u{E000}';
pub(crate) const CLOSE: char = '\u{E001}';

/// Check one value about to be rendered into a file path, and mark it.
///
/// # Errors
/// When the value holds `\`, NUL or another control character.
pub(crate) fn mark_file_value(text: &str) -> Result<String, String> {
    if let Some(c) = text
        .chars()
        .find(|&c| c == '\\' || c.is_control() || c == OPEN || c == CLOSE)
    {
        return Err(format!(
            "the value {text:?} cannot be part of a file path: it contains {}",
            match c {
                '\\' => "`\\`".to_string(),
                '\0' => "a NUL character".to_string(),
                c => format!("the character U+{:04X}", u32::from(c)),
            }
        ));
    }
    Ok(format!("{OPEN}{text}{CLOSE}"))
}

/// Remove the marks from a rendered file path and check that no rendered value leaves the
/// folder it was written in.
///
/// # Errors
/// When a value makes the path absolute or makes a `.`/`..` component.
pub(crate) fn check_file_path(marked: &str) -> Result<String, String> {
    let mut clean = String::with_capacity(marked.len());
    let mut values: Vec<Range<usize>> = Vec::new();
    let mut start = None;
    for c in marked.chars() {
        match c {
            OPEN => start = Some(clean.len()),
            CLOSE => {
                if let Some(s) = start.take() {
                    values.push(s..clean.len());
                }
            }
            c => clean.push(c),
        }
    }
    let from_data = |r: &Range<usize>| {
        values
            .iter()
            .find(|v| v.start < r.end.max(r.start + 1) && r.start < v.end.max(v.start + 1))
    };
    let shown = |v: &Range<usize>| clean.get(v.clone()).unwrap_or_default().to_string();
    if clean.starts_with('/')
        && let Some(v) = from_data(&(0..1))
    {
        return Err(format!(
            "the value {:?} would make the output path absolute ({clean:?})",
            shown(v)
        ));
    }
    let mut at = 0;
    for component in clean.split('/') {
        let range = at..at + component.len();
        at = range.end + 1;
        if (component == "." || component == "..")
            && let Some(v) = from_data(&range)
        {
            return Err(format!(
                "the value {:?} would make the output path {clean:?} leave its folder \
                 (a `{component}` component)",
                shown(v)
            ));
        }
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(parts: &[(&str, bool)]) -> Result<String, String> {
        let mut s = String::new();
        for (text, value) in parts {
            if *value {
                s.push_str(&mark_file_value(text)?);
            } else {
                s.push_str(text);
            }
        }
        check_file_path(&s)
    }

    #[test]
    fn segments_cannot_escape() {
        assert_eq!(segment("abc-123").unwrap(), "abc-123");
        assert_eq!(segment("../machines?x=1").unwrap(), "..%2Fmachines%3Fx%3D1");
        assert_eq!(segment("a b/c#d").unwrap(), "a%20b%2Fc%23d");
        assert_eq!(segment("%2e%2e").unwrap(), "%252e%252e");
        assert!(segment("..").is_err());
        assert!(segment(".").is_err());
        assert!(segment("").is_err());
    }

    #[test]
    fn values_stay_below_their_folder() {
        assert_eq!(
            path(&[("reports/", false), ("ws-01", true), (".md", false)]).unwrap(),
            "reports/ws-01.md"
        );
        // Subfolders from a value are allowed (`date('%Y/%m')`).
        assert_eq!(
            path(&[("r/", false), ("2026/11", true), ("/x.md", false)]).unwrap(),
            "r/2026/11/x.md"
        );
        // The author's own `..` is trusted.
        assert_eq!(path(&[("../r/", false), ("a", true)]).unwrap(), "../r/a");
        for bad in ["..", "../x", "a/../../b"] {
            assert!(path(&[("reports/", false), (bad, true), ("/x.md", false)]).is_err());
        }
        assert!(path(&[("reports/", false), ("..", true)]).is_err());
        assert!(path(&[("reports/", false), ("a/../../b", true)]).is_err());
        assert!(path(&[("reports/", false), ("x/..", true)]).is_err());
        assert!(path(&[("", false), ("/etc/passwd", true)]).is_err());
        assert!(path(&[("reports/", false), ("a\\..\\b", true)]).is_err());
        assert!(path(&[("reports/", false), ("a\0b", true)]).is_err());
        assert!(path(&[("reports/", false), ("a\x1b[2Jb", true)]).is_err());
        // Across the boundary: the author's `.` and the value's `.` make `..`.
        assert!(path(&[("reports/.", false), (".", true), ("/x", false)]).is_err());
        // An empty value makes an empty component, which stays in place.
        assert_eq!(
            path(&[("reports/", false), ("", true), ("/x", false)]).unwrap(),
            "reports//x"
        );
    }
}
