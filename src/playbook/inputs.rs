//! Input values of a run or a plan: `--input name=value` arguments parsed by each input's
//! declared type ([`InputValue::parse`], the syntax `docs/templates.md` documents) and checked
//! against its `enum`, then merged with the defaults. `plan` and `run` share this, so a value
//! `plan` accepts is a value `run` accepts, with the same diagnostics.

use std::collections::BTreeMap;

use crate::diag::{Code, Diagnostic, did_you_mean, one_of};
use crate::template::Value;

use super::model::{InputValue, Playbook};

/// Parse `--input name=value` arguments against the playbook's inputs. A repeated name
/// replaces the earlier value, as repeated flags usually do.
///
/// # Errors
/// One diagnostic per bad argument (missing `=`, unknown name, value of the wrong type or
/// outside `enum:`).
pub fn parse_inputs(
    playbook: &Playbook,
    args: &[String],
) -> Result<BTreeMap<String, InputValue>, Vec<Diagnostic>> {
    let (given, errors) = parse_args(playbook, args);
    if errors.is_empty() {
        Ok(given)
    } else {
        Err(errors)
    }
}

/// The value of every input for a run, in declaration order: the `--input` arguments over the
/// defaults. An optional input with no default and no argument is left out.
///
/// # Errors
/// Every problem at once: each bad argument (as [`parse_inputs`]) and each required input not
/// given.
pub fn resolve(
    playbook: &Playbook,
    args: &[String],
) -> Result<Vec<(String, InputValue)>, Vec<Diagnostic>> {
    let (given, mut errors) = parse_args(playbook, args);
    let mut values = Vec::with_capacity(playbook.inputs.len());
    for input in &playbook.inputs {
        if let Some(v) = given.get(&input.name).or(input.default.as_ref()) {
            values.push((input.name.clone(), v.clone()));
        } else if input.required {
            errors.push(
                Diagnostic::new(
                    Code::BadInput,
                    input.span,
                    format!("input `{}` is required", input.name),
                )
                .label("required, with no default")
                .help(format!("pass it with `--input {}=…`", input.name)),
            );
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

fn parse_args(
    playbook: &Playbook,
    args: &[String],
) -> (BTreeMap<String, InputValue>, Vec<Diagnostic>) {
    let mut given = BTreeMap::new();
    let mut errors = Vec::new();
    let file = playbook.path.display().to_string();
    for arg in args {
        let Some((name, text)) = arg.split_once('=') else {
            errors.push(
                Diagnostic::file(
                    Code::BadInput,
                    file.clone(),
                    format!("`--input {arg}` is not of the form `name=value`"),
                )
                .help(format!("e.g. `--input {arg}=…`")),
            );
            continue;
        };
        let name = name.trim();
        let Some(input) = playbook.input(name) else {
            let names: Vec<&str> = playbook.inputs.iter().map(|i| i.name.as_str()).collect();
            let help = did_you_mean(name, names.iter().copied()).or_else(|| {
                if names.is_empty() {
                    Some("this playbook declares no inputs".to_string())
                } else {
                    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                    Some(format!("its inputs: {}", quoted.join(", ")))
                }
            });
            errors.push(
                Diagnostic::file(
                    Code::BadInput,
                    file.clone(),
                    format!("the playbook has no input `{name}`"),
                )
                .maybe_help(help),
            );
            continue;
        };
        let parsed = match InputValue::parse(input.ty, text) {
            Ok(v) => v,
            Err(e) => {
                errors.push(
                    Diagnostic::new(
                        Code::BadInput,
                        input.span,
                        format!("bad value for input `{name}` ({}): {}", input.ty, e.message),
                    )
                    .label(format!("declared as {} here", input.ty)),
                );
                continue;
            }
        };
        if let Some(allowed) = &input.allowed
            && !allowed.contains(&parsed)
        {
            let names: Vec<String> = allowed.iter().map(ToString::to_string).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            errors.push(
                Diagnostic::new(
                    Code::BadInput,
                    input.span,
                    format!("input `{name}` must be {}, not `{text}`", one_of(&refs)),
                )
                .label("the allowed values are declared here"),
            );
            continue;
        }
        given.insert(name.to_string(), parsed);
    }
    (given, errors)
}

/// The `inputs` map of the template scope: durations and datetimes stay typed.
#[must_use]
pub fn scope_value(values: &BTreeMap<String, InputValue>) -> Value {
    let map: BTreeMap<String, Value> = values
        .iter()
        .map(|(k, v)| (k.clone(), v.to_value()))
        .collect();
    Value::from(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::load_str;
    use std::path::Path;

    fn playbook() -> Playbook {
        let text = "huntbook: 1\nname: t\ninputs:\n  lookback: {type: duration, default: 1d}\n  device: {type: string, required: true}\n  level: {type: string, default: high, enum: [medium, high]}\nsteps:\n  - set: {a: 1}\n";
        load_str(Path::new("t.yaml"), text)
            .playbook
            .unwrap_or_else(|| panic!("invalid test playbook"))
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn given_values_override_defaults_and_required_ones_must_be_given() {
        let p = playbook();
        let errors = resolve(&p, &args(&["lookback=7d"]))
            .err()
            .unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].message, "input `device` is required");
        let values: BTreeMap<String, InputValue> =
            resolve(&p, &args(&["lookback=7d", "device=ws-1"]))
                .unwrap_or_default()
                .into_iter()
                .collect();
        assert_eq!(
            values.get("lookback"),
            Some(&InputValue::Duration(std::time::Duration::from_secs(
                7 * 86_400
            )))
        );
        assert_eq!(
            values.get("level"),
            Some(&InputValue::String("high".into()))
        );
    }

    #[test]
    fn bad_arguments_are_all_reported() {
        let p = playbook();
        let errors = parse_inputs(
            &p,
            &args(&["lookbak=1d", "lookback=soon", "level=low", "x"]),
        )
        .err()
        .unwrap_or_default();
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert_eq!(errors[0].help.as_deref(), Some("did you mean `lookback`?"));
        assert!(
            messages[2].contains("must be `medium` or `high`"),
            "{messages:?}"
        );
    }

    #[test]
    fn plan_and_run_read_the_same_arguments_the_same_way() {
        let text = "huntbook: 1\nname: t\ninputs:\n  ids: {type: list, default: []}\n  since: {type: datetime, required: true}\nsteps:\n  - set: {a: 1}\n";
        let p = load_str(Path::new("t.yaml"), text)
            .playbook
            .unwrap_or_else(|| panic!("invalid test playbook"));
        let a = args(&["ids=a,, b,", "since=2026-11-25T10:00"]);
        let planned = parse_inputs(&p, &a).unwrap_or_default();
        let run: BTreeMap<String, InputValue> =
            resolve(&p, &a).unwrap_or_default().into_iter().collect();
        assert_eq!(planned, run);
        assert_eq!(
            run.get("ids").map(InputValue::to_json),
            Some(serde_json::json!(["a", "b"]))
        );
        assert_eq!(
            run.get("since").map(ToString::to_string).as_deref(),
            Some("2026-11-25T10:00:00Z")
        );
    }

    #[test]
    fn scope_values_keep_durations_typed() {
        let mut values = BTreeMap::new();
        values.insert(
            "lookback".to_string(),
            InputValue::Duration(std::time::Duration::from_secs(3600)),
        );
        let scope = scope_value(&values);
        let v = scope.get_attr("lookback").unwrap_or_default();
        assert_eq!(
            crate::template::value::as_duration(&v),
            Some(std::time::Duration::from_secs(3600))
        );
    }
}
