//! The on-disk state format (version 1) and its strict reader.
//!
//! ```json
//! {
//!   "version": 1,
//!   "playbook": "encoded-powershell",
//!   "written_by": "huntbook 0.1.0",
//!   "updated_at": "2026-11-25T10:03:12Z",
//!   "last_success": { "$datetime": "2026-11-25T10:00:00Z" },
//!   "last_run_id": "6f1c…",
//!   "dedupe": {
//!     "noisy": {
//!       "window": "30d",
//!       "keys": { "ws-01|alice": "2026-11-25T10:00:00Z" }
//!     }
//!   }
//! }
//! ```
//!
//! `last_success` uses the template module's typed JSON (`{"$datetime": …}`), because it comes
//! back into templates as `state.last_success` and must be a datetime again. `updated_at` and
//! dedupe times are bookkeeping no template sees, so they are plain RFC 3339 text.
//!
//! Reading is strict: unknown fields are errors, not ignored, because a misspelt hand edit
//! (`last_sucess`) would otherwise drop `last_success` and silently move the run's window.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::StateError;
use crate::template::types::{format_duration, parse_duration};
use crate::template::value::format_datetime;

/// The state format this huntbook reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// A whole state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a huntbook state object")]
pub(crate) struct StateFile {
    pub version: u64,
    pub playbook: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Rfc3339>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "typed_datetime"
    )]
    pub last_success: Option<TypedDatetime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_id: Option<String>,
    #[serde(default, deserialize_with = "dedupe_tables")]
    pub dedupe: BTreeMap<String, DedupeTable>,
}

/// The keys one `filter.dedupe` step remembers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DedupeTable {
    pub window: DurationText,
    pub keys: BTreeMap<String, Rfc3339>,
}

/// A datetime as RFC 3339 text (`2026-11-25T10:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rfc3339(pub DateTime<Utc>);

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_datetime(self.0))
    }
}

impl<'de> Deserialize<'de> for Rfc3339 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rfc3339, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Rfc3339(t.with_timezone(&Utc)))
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{text}` is not an RFC 3339 datetime like `2026-11-25T10:00:00Z` ({e})"
                ))
            })
    }
}

/// A datetime in the template module's typed JSON: `{"$datetime": "2026-11-25T10:00:00Z"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TypedDatetime {
    #[serde(rename = "$datetime")]
    pub at: Rfc3339,
}

/// Serde's derived structs also accept a JSON array of their fields in order; a state file
/// never holds one, so these objects are read from JSON objects only, with a message that
/// shows the expected shape.
struct ObjectOnly<T> {
    expecting: &'static str,
    target: PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

fn object_only<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
    expecting: &'static str,
) -> Result<T, D::Error> {
    d.deserialize_map(ObjectOnly {
        expecting,
        target: PhantomData,
    })
}

const TYPED_DATETIME: &str = "a typed datetime like {\"$datetime\": \"2026-11-25T10:00:00Z\"}";
const DEDUPE_TABLE: &str = "a dedupe table like {\"window\": \"30d\", \"keys\": {…}}";

fn typed_datetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TypedDatetime>, D::Error> {
    struct Field(TypedDatetime);
    impl<'de> Deserialize<'de> for Field {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
            object_only(d, TYPED_DATETIME).map(Field)
        }
    }
    Option::<Field>::deserialize(d).map(|f| f.map(|f| f.0))
}

fn dedupe_tables<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, DedupeTable>, D::Error> {
    struct Table(DedupeTable);
    impl<'de> Deserialize<'de> for Table {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Table, D::Error> {
            object_only(d, DEDUPE_TABLE).map(Table)
        }
    }
    let tables = BTreeMap::<String, Table>::deserialize(d)?;
    Ok(tables.into_iter().map(|(k, t)| (k, t.0)).collect())
}

/// A duration in the playbook syntax (`30d`, `12h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DurationText(pub Duration);

impl Serialize for DurationText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DurationText, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text)
            .map(DurationText)
            .map_err(|e| serde::de::Error::custom(format!("`{text}` is not a duration: {e}")))
    }
}

/// Parse a state file's bytes, checking its version and that it is this playbook's.
pub(crate) fn parse(path: &Path, bytes: &[u8], playbook: &str) -> Result<StateFile, StateError> {
    let corrupt = |line: usize, column: usize, problem: String| StateError::Corrupt {
        path: path.to_path_buf(),
        line,
        column,
        problem,
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        // What a crash leaves on a file system that does not order data before a rename; we
        // never write an empty file.
        return Err(corrupt(1, 1, "the file is empty".to_string()));
    }
    // First a loose pass: syntax errors, the top-level shape and the version come first, so a
    // file from a newer huntbook is reported as that rather than as a list of unknown fields.
    let loose: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| from_serde(path, &e))?;
    let Some(top) = loose.as_object() else {
        return Err(corrupt(
            1,
            1,
            format!("expected a JSON object, found {}", json_kind(&loose)),
        ));
    };
    if let Some(found) = top.get("version").and_then(serde_json::Value::as_u64)
        && found != FORMAT_VERSION
    {
        return Err(StateError::UnsupportedVersion {
            path: path.to_path_buf(),
            found,
            supported: FORMAT_VERSION,
        });
    }
    // Then the strict pass, which knows where in the text each problem is.
    let file: StateFile = serde_json::from_slice(bytes).map_err(|e| from_serde(path, &e))?;
    if file.playbook != playbook {
        return Err(StateError::WrongPlaybook {
            path: path.to_path_buf(),
            found: file.playbook,
            expected: playbook.to_string(),
        });
    }
    Ok(file)
}

/// Encode a state file as pretty JSON with a final newline (readable and diffable by hand).
pub(crate) fn encode(path: &Path, file: &StateFile) -> Result<Vec<u8>, StateError> {
    let mut bytes = serde_json::to_vec_pretty(file).map_err(|e| StateError::Encode {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn from_serde(path: &Path, e: &serde_json::Error) -> StateError {
    // serde_json appends " at line L column C" to its message; the position has its own
    // fields here.
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let problem = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
    StateError::Corrupt {
        path: path.to_path_buf(),
        line: e.line().max(1),
        column: e.column().max(1),
        problem,
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::value::{as_datetime, datetime, from_typed_json, to_typed_json};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn err(text: &str) -> StateError {
        parse(Path::new("st/pb.json"), text.as_bytes(), "pb").unwrap_err()
    }

    fn corrupt(text: &str) -> (usize, usize, String) {
        match err(text) {
            StateError::Corrupt {
                line,
                column,
                problem,
                ..
            } => (line, column, problem),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn last_success_is_written_as_the_template_modules_typed_json() {
        let t = at("2026-11-25T10:00:00Z");
        let ours = serde_json::to_value(TypedDatetime { at: Rfc3339(t) }).unwrap();
        assert_eq!(ours, to_typed_json(&datetime(t)).unwrap());
        // And the template module reads it back as a datetime.
        assert_eq!(as_datetime(&from_typed_json(&ours).unwrap()), Some(t));
    }

    #[test]
    fn a_full_file_round_trips() {
        let mut keys = BTreeMap::new();
        keys.insert(
            "ws-01|alice".to_string(),
            Rfc3339(at("2026-11-20T08:00:00.5Z")),
        );
        let mut dedupe = BTreeMap::new();
        dedupe.insert(
            "noisy".to_string(),
            DedupeTable {
                window: DurationText(Duration::from_secs(7 * 86_400)),
                keys,
            },
        );
        let file = StateFile {
            version: 1,
            playbook: "pb".into(),
            written_by: Some("huntbook 0.1.0".into()),
            updated_at: Some(Rfc3339(at("2026-11-25T10:03:00Z"))),
            last_success: Some(TypedDatetime {
                at: Rfc3339(at("2026-11-25T10:00:00Z")),
            }),
            last_run_id: Some("run-1".into()),
            dedupe,
        };
        let bytes = encode(Path::new("pb.json"), &file).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\"window\": \"7d\""), "{text}");
        assert!(
            text.contains("\"$datetime\": \"2026-11-25T10:00:00Z\""),
            "{text}"
        );
        assert!(
            text.contains("\"ws-01|alice\": \"2026-11-20T08:00:00.500Z\""),
            "{text}"
        );
        assert!(text.ends_with("}\n"));
        assert_eq!(parse(Path::new("pb.json"), &bytes, "pb").unwrap(), file);
    }

    #[test]
    fn a_minimal_file_is_enough() {
        let f = parse(
            Path::new("pb.json"),
            br#"{"version": 1, "playbook": "pb"}"#,
            "pb",
        )
        .unwrap();
        assert_eq!(f.last_success, None);
        assert!(f.dedupe.is_empty());
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let (line, column, problem) =
            corrupt("{\n  \"version\": 1,\n  \"playbook\": \"pb\"\n  \"x\": 1\n}");
        assert_eq!((line, column), (4, 3));
        assert!(problem.contains("expected `,` or `}`"), "{problem}");
        assert!(!problem.contains("at line"), "{problem}");
    }

    #[test]
    fn a_truncated_file_is_corrupt_not_empty_state() {
        let (line, _, problem) = corrupt("{\n  \"version\": 1,\n  \"playbook\": \"p");
        assert_eq!(line, 3);
        assert!(problem.contains("EOF"), "{problem}");
    }

    #[test]
    fn empty_and_non_object_files() {
        assert_eq!(corrupt("").2, "the file is empty");
        assert_eq!(corrupt(" \n").2, "the file is empty");
        assert_eq!(
            corrupt("[1, 2]").2,
            "expected a JSON object, found an array"
        );
    }

    #[test]
    fn wrong_types_are_located() {
        let (line, column, problem) = corrupt(
            "{\n  \"version\": 1,\n  \"playbook\": \"pb\",\n  \"last_success\": \"2026-11-25T10:00:00Z\"\n}",
        );
        assert_eq!(line, 4);
        assert!(column > 10, "{column}");
        assert!(
            problem.contains("expected a typed datetime like {\"$datetime\""),
            "{problem}"
        );

        let (line, _, problem) = corrupt(
            "{\"version\": 1, \"playbook\": \"pb\",\n \"dedupe\": {\"s\": {\"window\": \"30d\", \"keys\": {\"k\": \"yesterday\"}}}}",
        );
        assert_eq!(line, 2);
        assert!(
            problem.contains("`yesterday` is not an RFC 3339 datetime"),
            "{problem}"
        );

        let (_, _, problem) = corrupt(
            "{\"version\": 1, \"playbook\": \"pb\", \"dedupe\": {\"s\": {\"window\": \"1w\", \"keys\": {}}}}",
        );
        assert!(problem.contains("`1w` is not a duration"), "{problem}");

        let (_, _, problem) =
            corrupt("{\"version\": 1, \"playbook\": \"pb\", \"dedupe\": {\"s\": [\"k\"]}}");
        assert!(
            problem.contains("expected a dedupe table like"),
            "{problem}"
        );

        let (_, _, problem) = corrupt(
            "{\"version\": 1, \"playbook\": \"pb\", \"last_success\": [\"2026-11-25T10:00:00Z\"]}",
        );
        assert!(
            problem.contains("expected a typed datetime like"),
            "{problem}"
        );

        let (_, _, problem) = corrupt("{\"version\": \"1\", \"playbook\": \"pb\"}");
        assert!(
            problem.contains("invalid type: string \"1\", expected u64"),
            "{problem}"
        );
    }

    #[test]
    fn misspelt_and_missing_fields_are_errors() {
        let (line, _, problem) = corrupt(
            "{\"version\": 1, \"playbook\": \"pb\",\n \"last_sucess\": {\"$datetime\": \"2026-11-25T10:00:00Z\"}}",
        );
        assert_eq!(line, 2);
        assert!(problem.contains("unknown field `last_sucess`"), "{problem}");
        assert!(
            corrupt("{\"playbook\": \"pb\"}")
                .2
                .contains("missing field `version`")
        );
        assert!(
            corrupt("{\"version\": 1}")
                .2
                .contains("missing field `playbook`")
        );
    }

    #[test]
    fn another_version_or_playbook_is_refused() {
        match err("{\"version\": 2, \"playbook\": \"pb\", \"new_thing\": true}") {
            StateError::UnsupportedVersion {
                found, supported, ..
            } => {
                assert_eq!((found, supported), (2, 1));
            }
            other => panic!("{other:?}"),
        }
        match err("{\"version\": 1, \"playbook\": \"other\"}") {
            StateError::WrongPlaybook {
                found, expected, ..
            } => assert_eq!((found.as_str(), expected.as_str()), ("other", "pb")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn messages_name_the_file_and_the_way_out() {
        let msg = err("{\"version\": 1,").to_string();
        assert!(
            msg.starts_with("state file `st/pb.json` is corrupt at line 1, column"),
            "{msg}"
        );
        assert!(msg.contains("never resets state by itself"), "{msg}");
        assert!(msg.contains("mv 'st/pb.json' 'st/pb.json.bad'"), "{msg}");
    }
}
