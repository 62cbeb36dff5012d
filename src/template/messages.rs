//! Turning minijinja's errors into huntbook's message style (lowercase, no trailing period,
//! template syntax in backticks) and "did you mean" suggestions.

use super::TemplateError;

/// The message of a minijinja error in house style.
pub(crate) fn humanize(e: &minijinja::Error) -> String {
    let text = match e.detail() {
        Some(detail) => detail.to_string(),
        None => e.kind().to_string(),
    };
    house_style(&text)
}

/// Rewrite minijinja's token names into the delimiters a playbook author typed, lowercase
/// the first letter and drop a trailing period.
pub(crate) fn house_style(text: &str) -> String {
    let mut s = text
        .replace("end of variable block", "`}}`")
        .replace("start of variable block", "`{{`")
        .replace("end of block", "`%}`")
        .replace("start of block", "`{%`")
        .replace("template-data", "text");
    if let Some(first) = s.chars().next()
        && first.is_uppercase()
        && !s.chars().nth(1).is_some_and(char::is_uppercase)
    {
        let lower: String = first.to_lowercase().collect();
        s.replace_range(..first.len_utf8(), &lower);
    }
    while s.ends_with('.') {
        s.pop();
    }
    // The parser says only "unexpected X" when it wanted an operand.
    if s.starts_with("unexpected `") && !s.contains(", expected") {
        s.push_str(", expected an expression");
    }
    s
}

/// A minijinja error as a `TemplateError`, its range shifted by `offset` (the position of
/// the compiled text inside the field).
pub(crate) fn from_minijinja(e: &minijinja::Error, offset: usize) -> TemplateError {
    TemplateError {
        message: humanize(e),
        range: e.range().map(|r| r.start + offset..r.end + offset),
    }
}

/// The candidate closest to `name`, when it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'c, I>(name: &str, candidates: I) -> Option<&'c str>
where
    I: IntoIterator<Item = &'c str>,
{
    let mut best: Option<(&str, f64)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let score = strsim::jaro_winkler(name, candidate);
        let close_edit = strsim::damerau_levenshtein(name, candidate) <= (name.len() / 3).max(1);
        if (score >= 0.85 || close_edit) && best.is_none_or(|(_, b)| score > b) {
            best = Some((candidate, score));
        }
    }
    best.map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn house_style_names_delimiters_and_drops_periods() {
        assert_eq!(
            house_style("unexpected end of input, expected end of variable block"),
            "unexpected end of input, expected `}}`"
        );
        assert_eq!(
            house_style("unexpected end of block"),
            "unexpected `%}`, expected an expression"
        );
        assert_eq!(
            house_style("unexpected end of string"),
            "unexpected end of string"
        );
        assert_eq!(
            house_style("Too many arguments in function call."),
            "too many arguments in function call"
        );
        // An acronym keeps its case.
        assert_eq!(house_style("KQL rocks"), "KQL rocks");
    }

    #[test]
    fn suggests_close_names_only() {
        let names = ["inputs", "vars", "steps", "state"];
        assert_eq!(did_you_mean("input", names), Some("inputs"));
        assert_eq!(did_you_mean("step", names), Some("steps"));
        assert_eq!(did_you_mean("stats", names), Some("state"));
        assert_eq!(did_you_mean("zzz", names), None);
        assert_eq!(
            did_you_mean("josnpath", ["jsonpath", "join"]),
            Some("jsonpath")
        );
    }
}
