//! The template API as the validator and the run engine use it: fields compiled at
//! validation, typed inputs, a parameterised query, and typed state across two runs.

use chrono::{TimeZone, Utc};
use huntbook::template::types::ValueType;
use huntbook::template::{Engine, FieldKind, Value, value};
use serde_json::json;

const QUERY: &str = "DeviceProcessEvents
| where Timestamp > {{ state.last_success | default(ago(inputs.lookback)) }}
| where DeviceName == {{ inputs.device }}
| project Timestamp, DeviceName
";

fn scope(inputs: Value, state: Value, started_at: Value) -> Value {
    minijinja::context! {
        inputs => inputs,
        state => state,
        run => minijinja::context! { started_at => started_at },
    }
}

#[test]
fn an_incremental_hunt_keeps_its_window_across_runs() {
    let first_start = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
    let engine = Engine::new().with_now(first_start);

    // Validation: the query compiles, reads what the validator must check, and has no `raw`.
    let query = engine.compile(QUERY, FieldKind::Query).unwrap();
    let read: Vec<String> = query.references().iter().map(|r| r.dotted()).collect();
    assert_eq!(
        read,
        ["state.last_success", "inputs.lookback", "inputs.device"]
    );
    assert!(query.raw_uses().is_empty());

    // Inputs: a YAML default and a hostile --input value.
    let inputs = Value::from_pairs([
        (
            "lookback",
            value::check_default(ValueType::Duration, &json!("1d")).unwrap(),
        ),
        (
            "device",
            value::parse_input(ValueType::String, "ws-01\"; DeviceInfo | take 1 //").unwrap(),
        ),
    ]);

    // First run: no state yet, so the window starts a day before now.
    let empty_state = value::from_typed_json(&json!({})).unwrap();
    let rendered = engine
        .render_string(
            &query,
            &scope(inputs.clone(), empty_state, value::datetime(first_start)),
        )
        .unwrap();
    assert_eq!(
        rendered,
        "DeviceProcessEvents
| where Timestamp > datetime(2026-11-24T10:00:00.0000000Z)
| where DeviceName == \"ws-01\\\"; DeviceInfo | take 1 //\"
| project Timestamp, DeviceName
"
    );

    // The run succeeds: its start is saved as a typed value and read back from disk text.
    let state = Value::from_pairs([("last_success", value::datetime(first_start))]);
    let file = serde_json::to_string(&value::to_typed_json(&state).unwrap()).unwrap();
    assert_eq!(
        file,
        r#"{"last_success":{"$datetime":"2026-11-25T10:00:00Z"}}"#
    );
    let restored = value::from_typed_json(&serde_json::from_str(&file).unwrap()).unwrap();

    // Second run, a day later: the window starts where the last one ended.
    let second_start = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let engine = Engine::new().with_now(second_start);
    let query = engine.compile(QUERY, FieldKind::Query).unwrap();
    let rendered = engine
        .render_string(
            &query,
            &scope(inputs, restored, value::datetime(second_start)),
        )
        .unwrap();
    assert!(
        rendered.contains("| where Timestamp > datetime(2026-11-25T10:00:00.0000000Z)\n"),
        "{rendered}"
    );
}

#[test]
fn validation_reports_every_problem_with_its_line_inside_the_field() {
    let engine = Engine::new();
    let source = "# Report\n{{ steps.hunt.count }} hits\n{{ input.lookback }} {{ steps.hunt.results | josnpath('$') }}\n";
    let problems = engine.problems(source, FieldKind::Text);
    let found: Vec<(String, Option<(usize, usize)>)> = problems
        .iter()
        .map(|p| (p.message.clone(), p.position(source)))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                "unknown name `input`, did you mean `inputs`?".to_string(),
                Some((3, 4))
            ),
            (
                "unknown filter `josnpath`, did you mean `jsonpath`?".to_string(),
                Some((3, 46))
            ),
        ]
    );
}
