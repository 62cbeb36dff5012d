//! `--input name=value` for a run: parsed, checked against `enum:` and merged with the
//! defaults by [`crate::playbook::inputs::resolve`] (the code `huntbook plan` uses too), all
//! before any network call, with the same diagnostics as `huntbook validate` (exit 2); here the
//! values become template values.

use crate::diag::Diagnostic;
use crate::playbook::Playbook;
use crate::template::Value;
use crate::template::value;

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

/// Resolve `--input` arguments against the playbook's declared inputs.
///
/// # Errors
/// Every problem at once: a malformed argument, an undeclared name (with a suggestion), a
/// value that does not parse as its type or is outside `enum:`, a required input not given.
pub fn resolve(playbook: &Playbook, args: &[String]) -> Result<Inputs, Vec<Diagnostic>> {
    let values = crate::playbook::inputs::resolve(playbook, args)?;
    Ok(Inputs {
        values: values
            .into_iter()
            .map(|(name, v)| (name, v.to_value()))
            .collect(),
    })
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
