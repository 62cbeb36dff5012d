//! The key names of every mapping in the format, in documentation order. The validator
//! checks against these lists; a test checks that the JSON Schema (generated from `raw.rs`)
//! has exactly the same keys, so schema, validator and docs cannot drift.

/// Top level.
pub const TOP: &[&str] = &[
    "huntbook",
    "name",
    "description",
    "inputs",
    "defaults",
    "max_targets",
    "steps",
];
/// One entry of `inputs:`.
pub const INPUT: &[&str] = &["type", "default", "required", "description", "enum"];
/// `defaults:`.
pub const DEFAULTS: &[&str] = &["timeout", "on_error"];
/// Fields every step may have besides its kind key.
pub const STEP_COMMON: &[&str] = &[
    "id",
    "name",
    "when",
    "for_each",
    "concurrency",
    "timeout",
    "on_error",
];
/// `authenticate:`.
pub const AUTHENTICATE: &[&str] = &[
    "context",
    "tenant_id",
    "client_id",
    "client_secret",
    "certificate",
    "flow",
    "username",
    "password",
    "token_cache",
    "cloud",
];
/// `authenticate.certificate:` in its mapping form.
pub const CERTIFICATE: &[&str] = &["path", "password"];
/// A secret reference.
pub const SECRET_REF: &[&str] = &["env", "file"];
/// `hunt:`.
pub const HUNT: &[&str] = &["query", "query_file", "api", "timespan"];
/// `incidents:`.
pub const INCIDENTS: &[&str] = &["list", "get", "update", "api"];
/// `incidents.list:`.
pub const INCIDENTS_LIST: &[&str] = &["filter", "top", "since", "status", "severity"];
/// `incidents.update:`.
pub const INCIDENTS_UPDATE: &[&str] = &[
    "id",
    "status",
    "assigned_to",
    "classification",
    "determination",
    "tags",
    "comment",
];
/// `machine_action:`.
pub const MACHINE_ACTION: &[&str] = &[
    "action",
    "machine_id",
    "comment",
    "isolation_type",
    "scan_type",
    "wait",
    "wait_timeout",
];
/// `request:`.
pub const REQUEST: &[&str] = &[
    "method", "api", "path", "query", "headers", "body", "paginate", "expect",
];
/// `filter:`.
pub const FILTER: &[&str] = &["input", "jsonpath", "dedupe"];
/// `filter.dedupe:`.
pub const DEDUPE: &[&str] = &["key", "window"];
/// `output:`.
pub const OUTPUT: &[&str] = &[
    "path",
    "format",
    "data",
    "template",
    "template_file",
    "append",
    "columns",
];
/// `assert:`.
pub const ASSERT: &[&str] = &["that", "message"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_documented_in_the_language_reference() {
        let docs =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/language.md"))
                .unwrap_or_default();
        let lists: &[&[&str]] = &[
            TOP,
            INPUT,
            DEFAULTS,
            STEP_COMMON,
            AUTHENTICATE,
            CERTIFICATE,
            SECRET_REF,
            HUNT,
            INCIDENTS,
            INCIDENTS_LIST,
            INCIDENTS_UPDATE,
            MACHINE_ACTION,
            REQUEST,
            FILTER,
            DEDUPE,
            OUTPUT,
            ASSERT,
        ];
        for key in lists.iter().flat_map(|l| l.iter()) {
            assert!(
                docs.contains(&format!("`{key}`")),
                "docs/language.md does not mention `{key}`"
            );
        }
    }
}
