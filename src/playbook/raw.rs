//! The playbook format as serde/schemars types: the source of the JSON Schema that editors
//! use to complete and check playbooks (`schemas/playbook.schema.json`, `huntbook schema`).
//! These types are a *description* of the YAML; validation walks the positioned YAML tree
//! (`check`) so that it can report every problem with its position. A test checks that each
//! mapping here has exactly the keys of `keys.rs`, which the validator uses.
//!
//! The schema is a guide for editors; the validator is the authority. Where the validator is
//! lenient (enum spellings in any case, `InProgress` as well as `in_progress`), the schema
//! lists the canonical spellings, so editors suggest those.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::enums::{
    ActionType, Api, AuthContext, AuthFlow, Choice, Classification, Cloud, Determination,
    IncidentSeverity, IncidentStatus, IsolationType, Method, OnError, OutputFormat, ScanType,
};
use crate::template::types::ValueType;

/// A huntbook playbook (format version 1).
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "huntbook playbook")]
pub struct RawPlaybook {
    /// The format version; only `1` exists.
    pub huntbook: Version,
    /// Identifier-like name (`[a-z0-9][a-z0-9_-]*`); keys the state file and the report.
    pub name: PlaybookName,
    /// Free text.
    pub description: Option<String>,
    /// Named, typed inputs, set with `--input name=value`.
    pub inputs: Option<BTreeMap<String, RawInput>>,
    /// Step defaults.
    pub defaults: Option<RawDefaults>,
    /// The most response actions one run may perform (default 10).
    #[schemars(range(min = 0, max = 10000))]
    pub max_targets: Option<u32>,
    /// The steps, run in order.
    #[schemars(length(min = 1))]
    pub steps: Vec<RawStep>,
}

/// A declared input.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawInput {
    /// The value type; `--input` values are parsed by it.
    #[serde(rename = "type")]
    pub ty: InputType,
    /// The value when `--input` does not set it.
    pub default: Option<serde_json::Value>,
    /// Must be given with `--input` (then there is no default).
    pub required: Option<bool>,
    /// Shown in `huntbook plan`.
    pub description: Option<String>,
    /// The only values allowed.
    #[serde(rename = "enum")]
    pub allowed: Option<Vec<serde_json::Value>>,
}

/// `defaults:` — applied to every step that does not set its own.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// Default step timeout.
    pub timeout: Option<DurationText>,
    /// Default error policy.
    pub on_error: Option<EnumOf<OnError>>,
}

/// A step: exactly one kind key (`hunt`, `filter`, …) plus optional common fields.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = exactly_one_kind)]
pub struct RawStep {
    /// Identifier, unique in the playbook; how later steps read this one's outputs
    /// (`steps.<id>.…`).
    pub id: Option<Identifier>,
    /// Human label for logs and reports (a template).
    pub name: Option<Template>,
    /// Run the step only when this expression is true.
    pub when: Option<Expression>,
    /// Run the step once per element of this list (expression or literal list), with `item`
    /// and `loop.index` bound.
    pub for_each: Option<ForEachSchema>,
    /// With `for_each`: iterations run at once (default 1).
    #[schemars(range(min = 1, max = 64))]
    pub concurrency: Option<u32>,
    /// The step fails when it takes longer.
    pub timeout: Option<DurationText>,
    /// `fail` (default) or `continue`: record the error in `steps.<id>.error` and go on.
    pub on_error: Option<EnumOf<OnError>>,

    /// Get a token for the run's shared connection.
    pub authenticate: Option<RawAuthenticate>,
    /// Run an advanced hunting (KQL) query.
    pub hunt: Option<RawHunt>,
    /// List, get or update incidents.
    pub incidents: Option<RawIncidents>,
    /// A Defender for Endpoint machine action (a response action).
    pub machine_action: Option<RawMachineAction>,
    /// A generic API call (non-GET requests are response actions).
    pub request: Option<RawRequest>,
    /// Select with RFC 9535 JSONPath and/or drop items seen by earlier runs.
    pub filter: Option<RawFilter>,
    /// Define `vars.<name>` for later steps.
    pub set: Option<BTreeMap<String, serde_json::Value>>,
    /// Write data (json, jsonl, csv) or a rendered template (markdown, text).
    pub output: Option<RawOutput>,
    /// End the run with exit code 3 when an expression is false.
    pub assert: Option<RawAssert>,
    /// A block of steps, run in order (per element with `for_each`).
    pub steps: Option<Vec<RawStep>>,
    /// Steps run concurrently.
    pub parallel: Option<Vec<RawStep>>,
}

/// The kind keys of a step.
pub const KIND_KEYS: &[&str] = &[
    "authenticate",
    "hunt",
    "incidents",
    "machine_action",
    "request",
    "filter",
    "set",
    "output",
    "assert",
    "steps",
    "parallel",
];

fn exactly_one_kind(schema: &mut Schema) {
    let one_of: Vec<serde_json::Value> = KIND_KEYS
        .iter()
        .map(|k| serde_json::json!({ "required": [k] }))
        .collect();
    schema.insert("oneOf".into(), serde_json::Value::Array(one_of));
}

/// `authenticate:`
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAuthenticate {
    /// `application` (client credentials; default) or `user` (delegated).
    pub context: Option<EnumOf<AuthContext>>,
    /// Tenant id or domain; `AZURE_TENANT_ID` when absent.
    pub tenant_id: Option<Template>,
    /// Application (client) id; `AZURE_CLIENT_ID` when absent.
    pub client_id: Option<Template>,
    /// Application context: the client secret, as a secret reference.
    pub client_secret: Option<SecretRefSchema>,
    /// Application context: a PEM certificate with its private key (path, or
    /// `{path, password}`).
    pub certificate: Option<CertificateSchema>,
    /// User context: `device_code` (default) or `password`.
    pub flow: Option<EnumOf<AuthFlow>>,
    /// User context, `flow: password`: the user name.
    pub username: Option<Template>,
    /// User context, `flow: password`: the password, as a secret reference.
    pub password: Option<SecretRefSchema>,
    /// User context: the refresh-token cache file.
    pub token_cache: Option<String>,
    /// National cloud: picks login and API hosts.
    pub cloud: Option<EnumOf<Cloud>>,
}

/// `authenticate.certificate` in its mapping form.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    /// PEM file with the certificate and its private key (relative to the playbook).
    pub path: String,
    /// The private key's password, as a secret reference.
    pub password: Option<SecretRefSchema>,
}

/// `hunt:`
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHunt {
    /// The KQL; every `{{ value }}` is rendered as a KQL literal.
    pub query: Option<QueryTemplate>,
    /// A file holding the KQL (relative to the playbook).
    pub query_file: Option<String>,
    /// `graph` (default: Microsoft Graph runHuntingQuery) or `defender` (retiring).
    pub api: Option<EnumOf<Api>>,
    /// Graph only: a duration back from now (`7d`) or an ISO 8601 interval.
    pub timespan: Option<Template>,
}

/// `incidents:` — one of `list`, `get`, `update`.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawIncidents {
    /// List incidents (follows paging).
    pub list: Option<RawIncidentList>,
    /// Get one incident, with its alerts.
    pub get: Option<Template>,
    /// Update an incident (a response action).
    pub update: Option<RawIncidentUpdate>,
    /// `graph` (default) or `defender`.
    pub api: Option<EnumOf<Api>>,
}

/// `incidents.list:`
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawIncidentList {
    /// Raw OData `$filter`, ANDed with the other conditions.
    pub filter: Option<Template>,
    /// At most this many incidents.
    #[schemars(range(min = 1, max = 10000))]
    pub top: Option<u32>,
    /// Only incidents updated since: a duration back from the run start, or a date-time.
    pub since: Option<Template>,
    /// Any of these statuses.
    pub status: Option<OneOrMany<EnumOf<IncidentStatus>>>,
    /// Any of these severities.
    pub severity: Option<OneOrMany<EnumOf<IncidentSeverity>>>,
}

/// `incidents.update:`
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawIncidentUpdate {
    /// The incident id.
    pub id: Template,
    /// New status.
    pub status: Option<EnumOf<IncidentStatus>>,
    /// Owner (UPN).
    pub assigned_to: Option<Template>,
    /// Classification.
    pub classification: Option<EnumOf<Classification>>,
    /// Determination.
    pub determination: Option<EnumOf<Determination>>,
    /// Tags (replace the incident's custom tags).
    pub tags: Option<Vec<Template>>,
    /// A comment to add.
    pub comment: Option<Template>,
}

/// `machine_action:`
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMachineAction {
    /// The action.
    pub action: EnumOf<ActionType>,
    /// The Defender for Endpoint machine id (40 hex characters).
    pub machine_id: Template,
    /// Recorded with the action.
    pub comment: Template,
    /// `isolate` only: `full` (default) or `selective`.
    pub isolation_type: Option<EnumOf<IsolationType>>,
    /// `run_av_scan` only: `quick` (default) or `full`.
    pub scan_type: Option<EnumOf<ScanType>>,
    /// Poll the action until it ends.
    pub wait: Option<bool>,
    /// With `wait`: how long to poll (default 10m).
    pub wait_timeout: Option<DurationText>,
}

/// `request:`
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    /// HTTP method (default GET).
    pub method: Option<EnumOf<Method>>,
    /// `graph` (default), `defender` (`/api/…` on the Defender XDR host) or `endpoint`
    /// (Defender for Endpoint).
    pub api: Option<EnumOf<Api>>,
    /// The path, starting with `/` (a template).
    pub path: Template,
    /// Query-string parameters.
    pub query: Option<BTreeMap<String, Template>>,
    /// Extra headers (never `Authorization`).
    pub headers: Option<BTreeMap<String, Template>>,
    /// JSON body; strings are templates.
    pub body: Option<serde_json::Value>,
    /// Follow `@odata.nextLink`, collecting `value` into `items` (GET only).
    pub paginate: Option<bool>,
    /// Acceptable statuses (default: any 2xx).
    pub expect: Option<OneOrMany<u16>>,
}

/// `filter:`
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFilter {
    /// The list to filter (an expression).
    pub input: Expression,
    /// RFC 9535 JSONPath, applied to `input`.
    pub jsonpath: Option<String>,
    /// Drop elements whose key an earlier run already saw.
    pub dedupe: Option<RawDedupe>,
}

/// `filter.dedupe:`
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDedupe {
    /// The key of an element (an expression over `item`).
    pub key: Expression,
    /// How long keys are remembered (default 30d).
    pub window: Option<DurationText>,
}

/// `output:`
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOutput {
    /// Where to write (a template; relative to the working directory); stdout when absent.
    pub path: Option<Template>,
    /// json, jsonl, csv (write `data`) or markdown, text (render a template). Default: from
    /// the path's extension, else json for `data` and text for a template.
    pub format: Option<EnumOf<OutputFormat>>,
    /// The value to write (an expression).
    pub data: Option<Expression>,
    /// A template to render.
    pub template: Option<Template>,
    /// A file holding the template (relative to the playbook).
    pub template_file: Option<String>,
    /// Append instead of replacing (not with json).
    pub append: Option<bool>,
    /// CSV column order.
    pub columns: Option<Vec<String>>,
}

/// `assert:`
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAssert {
    /// Expressions that must all be true.
    pub that: OneOrMany<Expression>,
    /// Shown when one is false (a template).
    pub message: Option<Template>,
}

macro_rules! leaf {
    ($(#[$doc:meta])* $name:ident, $schema:expr) => {
        $(#[$doc])*
        pub struct $name(pub serde_json::Value);

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
    /// `huntbook: 1`.
    Version,
    json_schema!({ "description": "The format version; only 1 exists.", "const": 1 })
);
leaf!(
    /// The playbook name.
    PlaybookName,
    json_schema!({ "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$", "maxLength": 64 })
);
leaf!(
    /// A step id.
    Identifier,
    json_schema!({ "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "maxLength": 64 })
);
leaf!(
    /// Text, possibly a template (`{{ … }}`, `{% … %}`).
    Template,
    json_schema!({
        "description": "Text or a template (`{{ expr }}`); a lone `{{ expr }}` keeps the value's type.",
        "type": ["string", "number", "boolean"]
    })
);
leaf!(
    /// A KQL query template.
    QueryTemplate,
    json_schema!({
        "description": "KQL. Every `{{ value }}` is rendered as a KQL literal (quoted and escaped); `| raw` inserts text verbatim.",
        "type": "string"
    })
);
leaf!(
    /// A bare expression or a `{{ … }}` template.
    Expression,
    json_schema!({
        "description": "An expression (`steps.hunt.count > 0`) or a template (`{{ … }}`).",
        "type": ["string", "boolean", "number"]
    })
);
leaf!(
    /// A duration.
    DurationText,
    json_schema!({
        "description": "A duration: number + unit (ms, s, m, h, d), e.g. `30s`, `15m`, `1h30m`, `1d`.",
        "type": "string",
        "pattern": "^\\s*([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+\\s*$"
    })
);
leaf!(
    /// `{env: NAME}` or `{file: PATH}`.
    SecretRefSchema,
    json_schema!({
        "description": "A secret reference: `{env: NAME}` or `{file: PATH}`. Never the secret itself.",
        "oneOf": [
            {
                "type": "object",
                "properties": { "env": { "type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" } },
                "required": ["env"],
                "additionalProperties": false
            },
            {
                "type": "object",
                "properties": { "file": { "type": "string" } },
                "required": ["file"],
                "additionalProperties": false
            }
        ]
    })
);

/// `certificate:` — a path or `{path, password}`.
pub struct CertificateSchema;

impl JsonSchema for CertificateSchema {
    fn schema_name() -> Cow<'static, str> {
        "Certificate".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let object = generator.subschema_for::<RawCertificate>();
        json_schema!({ "anyOf": [ { "type": "string" }, object ] })
    }
}

/// `for_each:` — an expression or a literal list.
pub struct ForEachSchema;

impl JsonSchema for ForEachSchema {
    fn schema_name() -> Cow<'static, str> {
        "ForEach".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An expression giving a list, or a literal list.",
            "anyOf": [ { "type": "string" }, { "type": "array", "minItems": 1 } ]
        })
    }
}

/// One value or a list of them.
pub struct OneOrMany<T>(pub Vec<T>);

impl<T: JsonSchema> JsonSchema for OneOrMany<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("OneOrMany_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let one = generator.subschema_for::<T>();
        json_schema!({ "anyOf": [ one, { "type": "array", "items": one, "minItems": 1 } ] })
    }
}

/// A value of a closed set, by its canonical playbook spellings.
pub struct EnumOf<T>(pub T);

impl<T: Choice> JsonSchema for EnumOf<T> {
    fn schema_name() -> Cow<'static, str> {
        let what: String = T::WHAT
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| {
                let mut cs = w.chars();
                cs.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + cs.as_str())
                    .unwrap_or_default()
            })
            .collect();
        what.into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names = T::names();
        json_schema!({ "type": "string", "enum": names })
    }
}

/// `type:` of an input.
pub struct InputType;

impl JsonSchema for InputType {
    fn schema_name() -> Cow<'static, str> {
        "InputType".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "enum": ValueType::NAMES })
    }
}

/// The JSON Schema of the playbook format, as pretty JSON with a trailing newline (exactly
/// the committed `schemas/playbook.schema.json`).
#[must_use]
pub fn schema_json() -> String {
    crate::schema::committed_text(schemars::schema_for!(RawPlaybook))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::keys;
    use crate::playbook::model::KindName;
    use crate::schema::properties;

    #[test]
    fn schema_and_validator_know_the_same_keys() {
        let schema: serde_json::Value = serde_json::from_str(&schema_json()).unwrap_or_default();
        let mut step_keys: Vec<&str> = keys::STEP_COMMON.to_vec();
        step_keys.extend(KindName::ALL.iter().map(|k| k.as_str()));
        let cases: &[(&str, &[&str])] = &[
            ("", keys::TOP),
            ("RawInput", keys::INPUT),
            ("RawDefaults", keys::DEFAULTS),
            ("RawStep", &step_keys),
            ("RawAuthenticate", keys::AUTHENTICATE),
            ("RawCertificate", keys::CERTIFICATE),
            ("RawHunt", keys::HUNT),
            ("RawIncidents", keys::INCIDENTS),
            ("RawIncidentList", keys::INCIDENTS_LIST),
            ("RawIncidentUpdate", keys::INCIDENTS_UPDATE),
            ("RawMachineAction", keys::MACHINE_ACTION),
            ("RawRequest", keys::REQUEST),
            ("RawFilter", keys::FILTER),
            ("RawDedupe", keys::DEDUPE),
            ("RawOutput", keys::OUTPUT),
            ("RawAssert", keys::ASSERT),
        ];
        for (def, expected) in cases {
            let got = properties(&schema, def);
            assert_eq!(
                got, *expected,
                "keys of `{def}` differ between raw.rs and keys.rs"
            );
        }
        let kinds: Vec<&str> = KindName::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(KIND_KEYS, kinds.as_slice());
    }

    #[test]
    fn a_step_schema_requires_exactly_one_kind() {
        let schema: serde_json::Value = serde_json::from_str(&schema_json()).unwrap_or_default();
        let one_of = schema["$defs"]["RawStep"]["oneOf"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(one_of, KindName::ALL.len());
    }

    #[test]
    fn optional_keys_never_accept_null() {
        assert!(!schema_json().contains("\"null\""));
    }
}
