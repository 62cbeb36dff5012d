//! `--input name=value`: parsed by each input's declared type with the template module's
//! parser (`template::value::parse_input`, the syntax `docs/templates.md` documents), checked
//! against `enum:`, defaults applied, required inputs enforced — all before any network call,
//! with the same diagnostics as `huntbook validate` (exit 2).

use crate::diag::{Code, Diagnostic, did_you_mean, one_of};
use crate::playbook::{InputValue, Playbook};
use crate::template::Value;
use crate::template::value::{self, parse_input};

/// The typed input values of a run, in declaration order.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    values: Vec<(String, Value)>,
}

impl Inputs {
    /// The `inputs` map of the template scope.
    #[must_use]
    pub fn to_value(&self) -> Value {
        Value::from_pairs(self.values.iter().cloned())
    }

    /// The values as JSON text/numbers, for the run report.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.values
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    value::to_json(v).unwrap_or(serde_json::Value::Null),
                )
            })
            .collect()
    }

    /// The value of one input.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A model default as a typed template value.
#[must_use]
pub fn default_value(v: &InputValue) -> Value {
    match v {
        InputValue::Duration(d) => value::duration(*d),
        InputValue::Datetime(t) => value::datetime(*t),
        other => value::from_json(&other.to_json()),
    }
}

/// Resolve `--input` arguments against the playbook's declared inputs.
///
/// # Errors
/// Every problem at once: a malformed argument, an undeclared name (with a suggestion), a
/// value that does not parse as its type or is outside `enum:`, a required input not given.
pub fn resolve(playbook: &Playbook, args: &[String]) -> Result<Inputs, Vec<Diagnostic>> {
    let file = playbook.path.display().to_string();
    let mut given: Vec<(String, Value)> = Vec::new();
    let mut errors = Vec::new();
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
        let parsed = match parse_input(input.ty, text) {
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
        if let Some(allowed) = &input.allowed {
            let got = value::to_json(&parsed).ok();
            if !allowed.iter().any(|a| Some(a.to_json()) == got) {
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
        }
        match given.iter_mut().find(|(k, _)| k == name) {
            // A repeated `--input` replaces the earlier one, as repeated flags usually do.
            Some(slot) => slot.1 = parsed,
            None => given.push((name.to_string(), parsed)),
        }
    }
    let mut values = Vec::with_capacity(playbook.inputs.len());
    for input in &playbook.inputs {
        if let Some((_, v)) = given.iter().find(|(k, _)| *k == input.name) {
            values.push((input.name.clone(), v.clone()));
        } else if let Some(d) = &input.default {
            values.push((input.name.clone(), default_value(d)));
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
        Ok(Inputs { values })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::load_str;

    fn playbook() -> Playbook {
        let text = "huntbook: 1\nname: t\ninputs:\n  lookback: { type: duration, default: 1d }\n  device: { type: string, required: true }\n  level: { type: string, default: low, enum: [low, high] }\n  ids: { type: list, default: [] }\nsteps:\n  - set: { x: 1 }\n";
        let loaded = load_str(std::path::Path::new("t.yaml"), text);
        loaded.playbook.expect("valid test playbook")
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn typed_values_and_defaults() {
        let p = playbook();
        let i = resolve(&p, &args(&["device=ws-01", "lookback=90m", "ids=a, b,"])).unwrap();
        assert_eq!(
            value::as_duration(i.get("lookback").unwrap()),
            Some(std::time::Duration::from_secs(5400))
        );
        assert_eq!(i.get("device").unwrap().as_str(), Some("ws-01"));
        assert_eq!(i.get("level").unwrap().as_str(), Some("low"));
        assert_eq!(i.get("ids").unwrap().len(), Some(2));
        let j = serde_json::Value::Object(i.to_json());
        assert_eq!(j["lookback"], "90m");
    }

    #[test]
    fn unknown_missing_and_bad_values_are_all_reported() {
        let p = playbook();
        let errors = resolve(&p, &args(&["lookbak=1d", "level=medium", "noequals"])).unwrap_err();
        let messages: Vec<&str> = errors.iter().map(|d| d.message.as_str()).collect();
        assert!(
            messages.contains(&"the playbook has no input `lookbak`"),
            "{messages:?}"
        );
        assert_eq!(errors[0].help.as_deref(), Some("did you mean `lookback`?"));
        assert!(
            messages
                .iter()
                .any(|m| m.contains("must be `low` or `high`"))
        );
        assert!(messages.iter().any(|m| m.contains("`--input noequals`")));
        assert!(messages.contains(&"input `device` is required"));
        let e = resolve(&p, &args(&["device=x", "lookback=1w"])).unwrap_err();
        assert!(
            e[0].message
                .starts_with("bad value for input `lookback` (duration)")
        );
    }
}
