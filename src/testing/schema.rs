//! The test-file format as schemars types: the source of `schemas/playbook-test.schema.json`
//! (`huntbook schema --test-file`), which editors use to complete and check `*.test.yaml`.
//! These types only *describe* the YAML; [`check`](super::check) walks the positioned YAML
//! tree and is the authority. A test keeps each mapping's keys here equal to the validator's
//! key lists.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// A playbook test file (`NAME.test.yaml`).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "huntbook playbook test file")]
pub struct RawTestFile {
    /// The playbook under test, relative to this file. Default: `NAME.yaml` beside
    /// `NAME.test.yaml`.
    pub playbook: Option<String>,
    /// Set-up shared by every case; a case's own keys win (`inputs` and `env` per name).
    pub defaults: Option<RawDefaults>,
    /// The cases, run each in its own temporary folder against its own emulator.
    #[schemars(length(min = 1))]
    pub cases: Vec<RawCase>,
}

/// `defaults:` — what every case starts from.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// Playbook inputs, as `--input` would set them (typed YAML values).
    pub inputs: Option<BTreeMap<String, serde_json::Value>>,
    /// Extra environment variables of the run.
    pub env: Option<BTreeMap<String, String>>,
    /// The emulated tenant.
    pub tenant: Option<RawTenant>,
    /// Allow response actions, as `huntbook run --allow-actions`.
    pub allow_actions: Option<bool>,
    /// The longest a case may take (default `60s`).
    pub timeout: Option<DurationText>,
}

/// One case.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCase {
    /// What the case shows, in one line (unique in the file).
    pub name: String,
    /// Skip the case: `true`, or the reason.
    pub skip: Option<SkipSchema>,
    /// Playbook inputs, as `--input` would set them (typed YAML values).
    pub inputs: Option<BTreeMap<String, serde_json::Value>>,
    /// Extra environment variables of the run.
    pub env: Option<BTreeMap<String, String>>,
    /// The emulated tenant.
    pub tenant: Option<RawTenant>,
    /// Allow response actions, as `huntbook run --allow-actions` (default false).
    pub allow_actions: Option<bool>,
    /// The longest the case may take (default `60s`).
    pub timeout: Option<DurationText>,
    /// Per-step fixtures, by step id: replace the API response of the step's calls.
    pub steps: Option<BTreeMap<String, RawFixture>>,
    /// What the run must have done.
    pub expect: Option<RawExpect>,
}

/// The emulator a case runs against.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTenant {
    /// Seed of the synthetic tenant (default 1).
    #[schemars(range(min = 0))]
    pub seed: Option<u64>,
    /// Rows per advanced-hunting table.
    #[schemars(range(min = 0))]
    pub rows: Option<u64>,
    /// A tenant description: a `--data` file (relative to the test file) or the same
    /// content inline (`devices`, `people`, `incidents`, `tables`, `apps`, `users`).
    pub data: Option<DataSchema>,
    /// The registered app the run signs in as (default `huntbook-demo`; `huntbook-readonly`
    /// has read permissions only).
    pub app: Option<String>,
    /// Rate limits: `relaxed` (default), `real`, or a spec.
    pub limits: Option<String>,
    /// Emulator fault injection (`huntbook emulator --faults` syntax).
    pub faults: Option<String>,
    /// How long a machine action stays `Pending`, then `InProgress` (default `0s`: at once).
    pub action_step: Option<DurationText>,
}

/// A per-step fixture: exactly one of `results`, `response`, `fault`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = exactly_one_fixture)]
pub struct RawFixture {
    /// A `hunt` step's rows.
    pub results: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
    /// With `results`: the columns (`{name, type}`); inferred from the rows when absent.
    pub schema: Option<Vec<RawColumn>>,
    /// The JSON body every call of the step answers with.
    pub response: Option<serde_json::Value>,
    /// With `response`: the HTTP status (default 200).
    #[schemars(range(min = 100, max = 599))]
    pub status: Option<u16>,
    /// Every call of the step fails as the service would.
    pub fault: Option<FaultName>,
}

/// A hunting result column.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawColumn {
    /// The column name.
    pub name: String,
    /// `String`, `Int64`, `Real`, `Boolean`, `DateTime`, `Dynamic`, …
    #[serde(rename = "type")]
    pub ty: String,
}

fn exactly_one_fixture(schema: &mut Schema) {
    let one_of: Vec<serde_json::Value> = ["results", "response", "fault"]
        .iter()
        .map(|k| serde_json::json!({ "required": [k] }))
        .collect();
    schema.insert("oneOf".into(), serde_json::Value::Array(one_of));
}

/// `expect:` — every key is optional; `exit` defaults to 0.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// The exit code `huntbook run` would end with (default 0).
    #[schemars(range(min = 0, max = 255))]
    pub exit: Option<u8>,
    /// Step statuses by id: `ok`, `changed`, `skipped`, `failed`, or a mapping.
    pub steps: Option<BTreeMap<String, StepExpectSchema>>,
    /// Values the run produced, by path or JSONPath.
    pub outputs: Option<Vec<RawOutputExpect>>,
    /// Files the run wrote in its working directory.
    pub files: Option<Vec<RawFileExpect>>,
    /// What `output` steps without a `path` wrote.
    pub stdout: Option<RawMatchers>,
    /// The message of the error that stopped the run.
    pub error: Option<RawMatchers>,
    /// Write requests the emulator received.
    pub actions: Option<RawActions>,
}

/// `expect.steps.<id>` as a mapping.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStepExpect {
    /// `ok`, `changed`, `skipped` or `failed`.
    pub status: Option<StatusName>,
    /// Rows, items or incidents the step produced.
    #[schemars(range(min = 0))]
    pub count: Option<u64>,
    /// Checks on the step's error message.
    pub error: Option<RawMatchers>,
}

/// Checks on one value; all must hold.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMatchers {
    /// Equal (as JSON; `3` equals `3.0`).
    pub equals: Option<serde_json::Value>,
    /// A substring of a string, an element of a list, a key of a mapping.
    pub contains: Option<serde_json::Value>,
    /// A regular expression (Rust `regex` syntax) found in the string.
    pub matches: Option<String>,
    /// The value is there (`true`) or not (`false`).
    pub exists: Option<bool>,
    /// Elements of a list, characters of a string, keys of a mapping.
    #[schemars(range(min = 0))]
    pub length: Option<u64>,
}

/// `expect.outputs[]`: `path` or `jsonpath`, and checks.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOutputExpect {
    /// A dotted path: `steps.<id>.<output>…` or `vars.<name>…`, with `[n]` indices.
    pub path: Option<String>,
    /// An RFC 9535 JSONPath over `{"steps": …, "vars": …}`.
    pub jsonpath: Option<String>,
    /// Equal (as JSON; `3` equals `3.0`).
    pub equals: Option<serde_json::Value>,
    /// A substring, a list element, a mapping key.
    pub contains: Option<serde_json::Value>,
    /// A regular expression found in the value.
    pub matches: Option<String>,
    /// There is a value (`true`) or none (`false`).
    pub exists: Option<bool>,
    #[schemars(range(min = 0))]
    /// Elements, characters or keys.
    pub length: Option<u64>,
}

/// `expect.files[]`: a glob, optionally a JSONPath into the file, and checks.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFileExpect {
    /// A glob relative to the run's working directory (`*`, `?`, `**`).
    pub path: String,
    /// Select inside the file, read as JSON (JSON Lines and CSV as a list of rows).
    pub jsonpath: Option<String>,
    /// Equal: the whole content as text, or the selected JSON value.
    pub equals: Option<serde_json::Value>,
    /// A substring, a list element, a mapping key.
    pub contains: Option<serde_json::Value>,
    /// A regular expression found in the content or value.
    pub matches: Option<String>,
    /// The file (or the selected value) is there, or not.
    pub exists: Option<bool>,
    #[schemars(range(min = 0))]
    /// Elements, characters or keys.
    pub length: Option<u64>,
}

/// `expect.actions`: machines (by name or id) or incident/alert ids that got exactly these
/// accepted requests, and the number of write requests.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawActions {
    /// Machines isolated (by DNS name, first label or MDE id).
    pub isolated: Option<Vec<String>>,
    /// Machines released from isolation.
    pub unisolated: Option<Vec<String>>,
    /// Machines that got an antivirus scan.
    pub scanned: Option<Vec<String>>,
    /// Machines whose investigation package was collected.
    pub collected: Option<Vec<String>>,
    /// Machines whose code execution was restricted.
    pub restricted: Option<Vec<String>>,
    /// Machines whose code execution was unrestricted.
    pub unrestricted: Option<Vec<String>>,
    /// Machines where a file was stopped and quarantined.
    pub quarantined: Option<Vec<String>>,
    /// Incidents updated or commented (Graph or Defender XDR ids).
    pub incidents_updated: Option<Vec<IdSchema>>,
    /// Alerts updated or commented.
    pub alerts_updated: Option<Vec<String>>,
    /// Write requests (POST, PATCH) received, whatever their outcome.
    #[schemars(range(min = 0))]
    pub writes: Option<u64>,
}

macro_rules! leaf {
    ($(#[$doc:meta])* $name:ident, $schema:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

leaf!(
    /// A duration.
    DurationText,
    json_schema!({
        "description": "A duration: number + unit (ms, s, m, h, d), e.g. `500ms`, `30s`, `1m`.",
        "type": "string",
        "pattern": "^\\s*([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+\\s*$"
    })
);
leaf!(
    /// `skip:`.
    SkipSchema,
    json_schema!({
        "description": "`true`, or why the case is skipped.",
        "type": ["boolean", "string"]
    })
);
leaf!(
    /// `data:`.
    DataSchema,
    json_schema!({
        "description": "A tenant data file (relative to the test file), or its content inline.",
        "anyOf": [
            { "type": "string" },
            {
                "type": "object",
                "properties": {
                    "apps": { "type": "array" },
                    "users": { "type": "array" },
                    "devices": { "type": "array" },
                    "people": { "type": "array" },
                    "incidents": { "type": "array" },
                    "tables": { "type": "object" }
                },
                "additionalProperties": false
            }
        ]
    })
);
leaf!(
    /// `fault:`.
    FaultName,
    json_schema!({
        "description": "`throttle` (429), `server_error` (500), `timeout` (no answer), `forbidden` (403).",
        "type": "string",
        "enum": ["throttle", "server_error", "timeout", "forbidden"]
    })
);
leaf!(
    /// A step status.
    StatusName,
    json_schema!({ "type": "string", "enum": ["ok", "changed", "skipped", "failed"] })
);
leaf!(
    /// An incident id.
    IdSchema,
    json_schema!({ "type": ["string", "integer"] })
);

/// `expect.steps.<id>`: a status or a mapping.
pub struct StepExpectSchema;

impl JsonSchema for StepExpectSchema {
    fn schema_name() -> Cow<'static, str> {
        "StepExpect".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let status = generator.subschema_for::<StatusName>();
        let map = generator.subschema_for::<RawStepExpect>();
        json_schema!({ "anyOf": [ status, map ] })
    }
}

/// The JSON Schema of the test-file format, as pretty JSON with a trailing newline (exactly
/// the committed `schemas/playbook-test.schema.json`).
#[must_use]
pub fn schema_json() -> String {
    crate::schema::committed_text(schemars::schema_for!(RawTestFile))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::properties;
    use crate::testing::check::keys;

    #[test]
    fn schema_and_validator_know_the_same_keys() {
        let schema: serde_json::Value = serde_json::from_str(&schema_json()).unwrap();
        let with = |base: &[&str]| -> Vec<String> {
            base.iter()
                .chain(keys::MATCHERS)
                .map(|s| (*s).to_string())
                .collect()
        };
        let cases: Vec<(&str, Vec<String>)> = vec![
            ("", keys::TOP.iter().map(|s| (*s).to_string()).collect()),
            (
                "RawDefaults",
                keys::DEFAULTS.iter().map(|s| (*s).to_string()).collect(),
            ),
            (
                "RawCase",
                keys::CASE.iter().map(|s| (*s).to_string()).collect(),
            ),
            (
                "RawTenant",
                keys::TENANT.iter().map(|s| (*s).to_string()).collect(),
            ),
            (
                "RawFixture",
                keys::FIXTURE.iter().map(|s| (*s).to_string()).collect(),
            ),
            (
                "RawExpect",
                keys::EXPECT.iter().map(|s| (*s).to_string()).collect(),
            ),
            (
                "RawStepExpect",
                keys::STEP_EXPECT.iter().map(|s| (*s).to_string()).collect(),
            ),
            (
                "RawMatchers",
                keys::MATCHERS.iter().map(|s| (*s).to_string()).collect(),
            ),
            ("RawOutputExpect", with(keys::OUTPUT_SELECT)),
            ("RawFileExpect", with(keys::FILE_SELECT)),
            (
                "RawActions",
                keys::ACTIONS.iter().map(|s| (*s).to_string()).collect(),
            ),
        ];
        for (def, expected) in cases {
            let mut got = properties(&schema, def);
            let mut want = expected.clone();
            got.sort();
            want.sort();
            assert_eq!(
                got, want,
                "keys of `{def}` differ between schema.rs and check.rs"
            );
        }
    }

    #[test]
    fn the_committed_schema_is_up_to_date() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/playbook-test.schema.json"
        );
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == schema_json(),
            "schemas/playbook-test.schema.json is stale: run `huntbook schema --test-file > schemas/playbook-test.schema.json`"
        );
    }

    #[test]
    fn optional_keys_never_accept_null() {
        assert!(!schema_json().contains("\"null\""));
    }

    #[test]
    fn a_fixture_has_exactly_one_kind() {
        let schema: serde_json::Value = serde_json::from_str(&schema_json()).unwrap();
        assert_eq!(
            schema["$defs"]["RawFixture"]["oneOf"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
    }
}
