//! Input values of a run or a plan: `--input name=value` arguments parsed by each input's
//! declared type and checked against its `enum`, then merged with the defaults. `plan` and
//! `run` share this, so a value `plan` accepts is a value `run` accepts.

use std::collections::BTreeMap;

use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::template::Value;

use super::model::{InputValue, Playbook};

/// Parse `--input name=value` arguments against the playbook's inputs.
///
/// # Errors
/// One diagnostic per bad argument (unknown name, missing `=`, value of the wrong type).
pub fn parse_inputs(
    playbook: &Playbook,
    args: &[String],
) -> Result<BTreeMap<String, InputValue>, Vec<Diagnostic>> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    let file = playbook.path.display().to_string();
    for arg in args {
        let Some((name, value)) = arg.split_once('=') else {
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
            errors.push(
                Diagnostic::file(
                    Code::BadInput,
                    file.clone(),
                    format!("the playbook has no input `{name}`"),
                )
                .maybe_help(did_you_mean(name, names.iter().copied()).or_else(
                    || {
                        (!names.is_empty()).then(|| {
                            let quoted: Vec<String> =
                                names.iter().map(|n| format!("`{n}`")).collect();
                            format!("its inputs: {}", quoted.join(", "))
                        })
                    },
                )),
            );
            continue;
        };
        match InputValue::parse(input.ty, value) {
            Ok(v) => {
                if let Some(allowed) = &input.allowed
                    && !allowed.contains(&v)
                {
                    let names: Vec<String> = allowed.iter().map(ToString::to_string).collect();
                    errors.push(Diagnostic::file(
                        Code::BadInput,
                        file.clone(),
                        format!(
                            "input `{name}` must be one of {}, not `{value}`",
                            crate::diag::one_of(
                                &names.iter().map(String::as_str).collect::<Vec<_>>()
                            )
                        ),
                    ));
                    continue;
                }
                out.insert(name.to_string(), v);
            }
            Err(m) => errors.push(Diagnostic::file(
                Code::BadInput,
                file.clone(),
                format!("bad value for input `{name}` ({}): {m}", input.ty),
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The value of every input for a run: `given` (from [`parse_inputs`]) over the defaults.
///
/// # Errors
/// One diagnostic per required input that `given` does not set, pointing at its declaration.
pub fn resolve(
    playbook: &Playbook,
    given: &BTreeMap<String, InputValue>,
) -> Result<BTreeMap<String, InputValue>, Vec<Diagnostic>> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for input in &playbook.inputs {
        match given.get(&input.name).or(input.default.as_ref()) {
            Some(v) => {
                out.insert(input.name.clone(), v.clone());
            }
            None => errors.push(
                Diagnostic::new(
                    Code::BadInput,
                    input.span,
                    format!("input `{}` is required", input.name),
                )
                .label("declared `required: true`, without a default")
                .help(format!("give it with `--input {}=…`", input.name)),
            ),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
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
        let given = parse_inputs(&p, &args(&["lookback=7d"])).unwrap_or_default();
        let errors = resolve(&p, &given).err().unwrap_or_default();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].message, "input `device` is required");
        let given = parse_inputs(&p, &args(&["lookback=7d", "device=ws-1"])).unwrap_or_default();
        let values = resolve(&p, &given).unwrap_or_default();
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
            messages[2].contains("must be one of `medium` or `high`"),
            "{messages:?}"
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
