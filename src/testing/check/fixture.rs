//! Per-step fixtures (`steps:` of a case): the step must exist and call an API, and the
//! fixture must be exactly one of `results` (hunts only), `response`, `fault`.

use std::collections::BTreeMap;

use crate::diag::{Code, Diagnostic, did_you_mean, one_of};
use crate::playbook::KindName;
use crate::playbook::yaml::{Entry, Node};
use crate::testing::spec::{Fault, Fixture};

use super::{Walker, keys};

impl Walker<'_> {
    pub(super) fn fixtures(&mut self, node: &Node) -> BTreeMap<String, Fixture> {
        let mut out = BTreeMap::new();
        let Some(entries) = self.map(node, "`steps` (fixtures by step id)") else {
            return out;
        };
        for e in entries {
            let kind = self.step_kind(&e.key, e.key_span);
            if let Some(f) = self.fixture(e, kind) {
                out.insert(e.key.clone(), f);
            }
        }
        out
    }

    fn fixture(&mut self, e: &Entry, kind: Option<KindName>) -> Option<Fixture> {
        let network = matches!(
            kind,
            Some(
                KindName::Authenticate
                    | KindName::Hunt
                    | KindName::Incidents
                    | KindName::MachineAction
                    | KindName::Request
            )
        );
        if let Some(k) = kind
            && !network
        {
            self.push(
                Diagnostic::new(
                    Code::NotApplicable,
                    e.key_span,
                    format!("step `{}` is a `{k}` step: it makes no API call, so a fixture has nothing to replace", e.key),
                )
                .label("fixtures replace the responses of hunt, incidents, machine_action, request and authenticate steps")
                .help("set up its input instead: a fixture on the step it reads from"),
            );
            return None;
        }
        let entries = self.map(&e.value, &format!("the fixture of step `{}`", e.key))?;
        let context = format!("the fixture of step `{}`", e.key);
        self.check_keys(entries, keys::FIXTURE, &context);
        let given: Vec<&Entry> = entries
            .iter()
            .filter(|x| matches!(x.key.as_str(), "results" | "response" | "fault"))
            .collect();
        if given.len() != 1 {
            let span = given.get(1).map_or(e.key_span, |x| x.key_span);
            self.push(
                Diagnostic::new(
                    if given.is_empty() {
                        Code::MissingField
                    } else {
                        Code::ConflictingFields
                    },
                    span,
                    format!("{context} needs exactly one of `results`, `response`, `fault`"),
                )
                .label(if given.is_empty() {
                    "none given"
                } else {
                    "a second one"
                }),
            );
            return None;
        }
        let main = given[0];
        for x in entries {
            let allowed_with = match x.key.as_str() {
                "schema" => Some("results"),
                "status" => Some("response"),
                _ => None,
            };
            if let Some(with) = allowed_with
                && main.key != with
            {
                self.push(
                    Diagnostic::new(
                        Code::NotApplicable,
                        x.key_span,
                        format!("`{}` only goes with `{with}`", x.key),
                    )
                    .label(format!("this fixture uses `{}`", main.key)),
                );
            }
        }
        match main.key.as_str() {
            "results" => {
                if let Some(k) = kind
                    && k != KindName::Hunt
                {
                    self.push(
                        Diagnostic::new(
                            Code::NotApplicable,
                            main.key_span,
                            format!(
                                "`results` replaces a hunt's rows, but step `{}` is a `{k}` step",
                                e.key
                            ),
                        )
                        .label("only for `hunt` steps")
                        .help("use `response:` with the JSON body the API would answer"),
                    );
                    return None;
                }
                let rows = self.seq(&main.value, "`results` (the hunt's rows)")?;
                let mut out = Vec::new();
                for r in rows {
                    if r.as_map().is_none() {
                        self.wrong_type(r, "a mapping (one row: column → value)");
                        return None;
                    }
                    out.push(r.to_json());
                }
                let schema = match e.value.get("schema") {
                    Some(s) => Some(self.columns(&s.value)?),
                    None => None,
                };
                Some(Fixture::Results { rows: out, schema })
            }
            "response" => {
                if kind == Some(KindName::Authenticate) {
                    self.push(
                        Diagnostic::new(
                            Code::NotApplicable,
                            main.key_span,
                            format!(
                                "step `{}` signs in: its fixture can only be a `fault`",
                                e.key
                            ),
                        )
                        .label("no API response to replace"),
                    );
                    return None;
                }
                let status = match e.value.get("status") {
                    Some(s) => u16::try_from(self.uint(&s.value, "`status`", 599)?)
                        .ok()
                        .filter(|s| *s >= 100)
                        .or_else(|| {
                            self.push(
                                Diagnostic::new(
                                    Code::BadValue,
                                    s.value.span,
                                    "an HTTP status is between 100 and 599",
                                )
                                .label("out of range"),
                            );
                            None
                        })?,
                    None => 200,
                };
                Some(Fixture::Response {
                    status,
                    body: main.value.to_json(),
                })
            }
            _ => {
                let text = self.string(&main.value, "`fault`")?;
                match Fault::ALL.iter().find(|(n, _)| *n == text) {
                    Some((_, f)) => Some(Fixture::Fault(*f)),
                    None => {
                        let names: Vec<&str> = Fault::ALL.iter().map(|(n, _)| *n).collect();
                        self.push(
                            Diagnostic::new(
                                Code::BadEnum,
                                main.value.span,
                                format!("unknown fault `{text}`"),
                            )
                            .label(format!("expected {}", one_of(&names)))
                            .maybe_help(did_you_mean(&text, names.iter().copied())),
                        );
                        None
                    }
                }
            }
        }
    }

    fn columns(&mut self, node: &Node) -> Option<Vec<serde_json::Value>> {
        let items = self.seq(node, "`schema` (the hunt's columns)")?;
        let mut out = Vec::new();
        for c in items {
            let entries = self.map(c, "a column (`{name, type}`)")?;
            self.check_keys(entries, &["name", "type"], "a column");
            let name = c.get("name").and_then(|e| self.string(&e.value, "`name`"));
            let ty = c.get("type").and_then(|e| self.string(&e.value, "`type`"));
            let (Some(name), Some(ty)) = (name, ty) else {
                self.push(
                    Diagnostic::new(
                        Code::MissingField,
                        c.span,
                        "a column needs a `name` and a `type`",
                    )
                    .label("e.g. `{ name: DeviceName, type: String }`"),
                );
                return None;
            };
            out.push(serde_json::json!({ "name": name, "type": ty }));
        }
        Some(out)
    }
}
