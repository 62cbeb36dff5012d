//! What the two committed JSON Schemas (`schemas/playbook.schema.json` and
//! `schemas/playbook-test.schema.json`) have in common: how a schemars schema becomes the
//! committed text.

use serde_json::Value;

/// The schema as pretty JSON with a trailing newline, `$schema`, `title` and `description`
/// first (editors and readers look for them there), and without schemars' `null`s.
#[must_use]
pub fn committed_text(schema: schemars::Schema) -> String {
    let mut schema = schema.to_value();
    no_nulls(&mut schema);
    if let Value::Object(map) = &mut schema {
        let mut ordered = serde_json::Map::new();
        for key in ["$schema", "title", "description"] {
            if let Some(v) = map.remove(key) {
                ordered.insert(key.into(), v);
            }
        }
        ordered.append(map);
        *map = ordered;
    }
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// schemars lets every `Option` field be `null`; in a playbook or test file an optional key
/// is simply left out (and the validators reject `key:` with no value), so drop the `null`s.
fn no_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = map.get_mut("anyOf") {
                any.retain(|s| s.get("type").and_then(Value::as_str) != Some("null"));
                if any.len() == 1 {
                    let only = any.remove(0);
                    map.remove("anyOf");
                    if let Value::Object(inner) = only {
                        for (k, val) in inner {
                            map.entry(k).or_insert(val);
                        }
                    }
                }
            }
            for child in map.values_mut() {
                no_nulls(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(no_nulls),
        _ => {}
    }
}

/// The property names of the schema's top level (`def` empty) or of one of its `$defs`, for
/// the tests that check a schema and its validator know the same keys.
#[cfg(test)]
pub(crate) fn properties(schema: &Value, def: &str) -> Vec<String> {
    let props = if def.is_empty() {
        &schema["properties"]
    } else {
        &schema["$defs"][def]["properties"]
    };
    props
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_fields_lose_their_null_and_the_header_comes_first() {
        let schema: schemars::Schema = serde_json::from_value(serde_json::json!({
            "properties": {
                "a": { "type": ["string", "null"] },
                "b": { "anyOf": [ { "$ref": "#/$defs/B" }, { "type": "null" } ] }
            },
            "title": "T",
            "$schema": "S"
        }))
        .unwrap();
        let text = committed_text(schema);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["properties"]["a"],
            serde_json::json!({ "type": "string" })
        );
        assert_eq!(
            v["properties"]["b"],
            serde_json::json!({ "$ref": "#/$defs/B" })
        );
        assert!(text.starts_with("{\n  \"$schema\": \"S\",\n  \"title\": \"T\""));
        assert!(text.ends_with("}\n"));
    }
}
