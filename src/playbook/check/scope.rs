//! The reference rules of playbook language §3–§4: which names a template may read where.
//! `steps.<id>` must name an earlier step (in a block: the block's own earlier steps or outer
//! earlier steps; in a parallel group: not a sibling), and one of its kind's outputs;
//! `inputs.<name>` must be declared; `vars.<name>` must be defined by an earlier `set`;
//! `item`/`loop` only under `for_each`; `env`, `state` always; `run` has `id`, `started_at`
//! and `playbook`.

use std::collections::{HashMap, HashSet};

use crate::diag::{Code, closest, did_you_mean, one_of};
use crate::playbook::model::{IncidentsOp, KindName, StepKind};
use crate::template::Reference;

/// The roots a template may read.
pub const ROOTS: &[&str] = &[
    "inputs", "vars", "steps", "item", "loop", "env", "run", "state",
];

/// Fields of `run`.
pub const RUN_FIELDS: &[&str] = &["id", "started_at", "playbook"];

/// Global functions of the template environment: reading them is a call, not a lookup.
const GLOBAL_FUNCTIONS: &[&str] = &[
    "ago",
    "now",
    "range",
    "dict",
    "namespace",
    "lipsum",
    "cycler",
    "joiner",
    "debug",
];

/// What the pre-pass learnt about a step id anywhere in the playbook.
#[derive(Debug, Clone)]
pub struct IdInfo {
    pub kind: Option<KindName>,
    pub line: usize,
}

/// A step whose outputs the current position may read.
#[derive(Debug, Clone)]
pub struct Visible {
    pub kind: Option<KindName>,
    pub looped: bool,
    /// The outputs it produces; `None` when unknown (the step itself had errors).
    pub outputs: Option<Vec<&'static str>>,
}

/// Everything the reference rules need to know at one position in the playbook.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Every id in the playbook (pre-pass).
    pub all_ids: HashMap<String, IdInfo>,
    /// Every name some `set` defines, with the line of its first definition (pre-pass).
    pub var_defs: HashMap<String, usize>,
    /// Declared inputs.
    pub inputs: Vec<String>,
    /// Steps readable here.
    pub visible: HashMap<String, Visible>,
    /// Ids of steps inside a finished `steps` block → the block's label.
    pub hidden: HashMap<String, String>,
    /// Ids of steps in the same `parallel` group as the current one.
    pub siblings: HashSet<String>,
    /// `vars.` names defined so far.
    pub vars: HashSet<String>,
    /// Whether `item` and `loop` are bound.
    pub in_loop: bool,
    /// Whether the field being checked is a `for_each` (evaluated before its loop binds
    /// `item`).
    pub in_for_each: bool,
    /// The id of the step being checked.
    pub current: Option<String>,
}

/// A broken reference: what to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: Code,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
}

impl Problem {
    fn new(code: Code, message: String, label: impl Into<String>) -> Problem {
        Problem {
            code,
            message,
            label: label.into(),
            help: None,
        }
    }

    fn help(mut self, help: Option<String>) -> Problem {
        self.help = help;
        self
    }
}

/// The outputs a step of this kind produces, as far as they are known statically.
#[must_use]
pub fn outputs_of(kind: &StepKind, looped: bool) -> Vec<&'static str> {
    let name = kind.name();
    let mut out: Vec<&'static str> = if looped {
        name.loop_outputs().to_vec()
    } else {
        match kind {
            StepKind::Incidents(i) => match i.op {
                IncidentsOp::List(_) => vec!["items", "count"],
                IncidentsOp::Get { .. } => vec!["incident", "items", "count"],
                IncidentsOp::Update(_) => vec!["incident"],
            },
            StepKind::Request(r) if !r.paginate => vec!["status", "body"],
            _ => name.outputs().to_vec(),
        }
    };
    out.extend_from_slice(KindName::COMMON_OUTPUTS);
    out
}

/// Check one reference against the scope.
#[must_use]
pub fn check_reference(scope: &Scope, r: &Reference) -> Option<Problem> {
    let first = r.path.first().map(String::as_str);
    match r.root.as_str() {
        "steps" => {
            first.and_then(|id| check_step_ref(scope, id, r.path.get(1).map(String::as_str)))
        }
        "inputs" => {
            let name = first?;
            if scope.inputs.iter().any(|i| i == name) {
                return None;
            }
            let help = did_you_mean(name, scope.inputs.iter().map(String::as_str)).or_else(|| {
                Some(format!(
                    "declare it under `inputs:`, e.g. `{name}: {{ type: string }}`"
                ))
            });
            Some(
                Problem::new(
                    Code::UnknownInput,
                    format!("input `{name}` is not declared"),
                    "not declared under `inputs:`",
                )
                .help(help),
            )
        }
        "vars" => {
            let name = first?;
            if scope.vars.contains(name) {
                return None;
            }
            if let Some(line) = scope.var_defs.get(name) {
                return Some(
                    Problem::new(
                        Code::UndefinedVar,
                        format!("`vars.{name}` is not defined yet"),
                        format!("`{name}` is set later, by the `set` step at line {line}"),
                    )
                    .help(Some(
                        "steps run in order: move the `set` step before this one".into(),
                    )),
                );
            }
            let help = did_you_mean(name, scope.vars.iter().map(String::as_str));
            Some(
                Problem::new(
                    Code::UndefinedVar,
                    format!("`vars.{name}` is not defined by any `set` step"),
                    "no earlier `set` step defines it",
                )
                .help(help),
            )
        }
        "item" | "loop" if !scope.in_loop && scope.in_for_each => Some(
            Problem::new(
                Code::LoopVarOutsideLoop,
                format!("`{}` is not bound yet in `for_each`", r.root),
                "the list is computed before the loop starts",
            )
            .help(Some(
                "compute the list from earlier steps, e.g. `for_each: steps.hunt.results`".into(),
            )),
        ),
        "item" | "loop" if !scope.in_loop => Some(
            Problem::new(
                Code::LoopVarOutsideLoop,
                format!("`{}` is only defined in a step with `for_each`", r.root),
                "this step does not loop",
            )
            .help(Some(
                "add `for_each:` to this step (or to an enclosing `steps` block)".into(),
            )),
        ),
        "run" => {
            let field = first?;
            if RUN_FIELDS.contains(&field) {
                return None;
            }
            Some(
                Problem::new(
                    Code::UnknownName,
                    format!("`run` has no field `{field}`"),
                    format!("expected {}", one_of(RUN_FIELDS)),
                )
                .help(did_you_mean(field, RUN_FIELDS.iter().copied())),
            )
        }
        "item" | "loop" | "env" | "state" => None,
        other if GLOBAL_FUNCTIONS.contains(&other) => None,
        other => Some(
            Problem::new(
                Code::UnknownName,
                format!("`{other}` is not defined"),
                format!("expected a name under {}", one_of(ROOTS)),
            )
            .help(did_you_mean(other, ROOTS.iter().copied())),
        ),
    }
}

fn check_step_ref(scope: &Scope, id: &str, output: Option<&str>) -> Option<Problem> {
    if let Some(v) = scope.visible.get(id) {
        let output = output?;
        let outputs = v.outputs.as_ref()?;
        if outputs.contains(&output) {
            return None;
        }
        let kind = v.kind.map_or("step".to_string(), |k| format!("`{k}` step"));
        if v.looped
            && v.kind.is_some_and(|k| {
                k.outputs().contains(&output) || KindName::COMMON_OUTPUTS.contains(&output)
            })
        {
            return Some(
                Problem::new(
                    Code::UnknownOutput,
                    format!("`steps.{id}.{output}` is per iteration: `{id}` runs `for_each`"),
                    "one value per iteration",
                )
                .help(Some(format!(
                    "read `steps.{id}.iterations` (one entry per iteration)"
                ))),
            );
        }
        let listed: Vec<&str> = outputs
            .iter()
            .copied()
            .filter(|o| !KindName::COMMON_OUTPUTS.contains(o))
            .collect();
        let label = if listed.is_empty() {
            format!("a {kind} has no outputs of its own")
        } else {
            format!("expected {}", one_of(&listed))
        };
        return Some(
            Problem::new(
                Code::UnknownOutput,
                format!("step `{id}` has no output `{output}`"),
                label,
            )
            .help(did_you_mean(output, outputs.iter().copied())),
        );
    }
    if scope.current.as_deref() == Some(id) {
        return Some(Problem::new(
            Code::LaterStep,
            format!("step `{id}` cannot read its own outputs"),
            "this is the step being defined",
        ));
    }
    if scope.siblings.contains(id) {
        return Some(
            Problem::new(
                Code::LaterStep,
                format!("step `{id}` runs in parallel with this one"),
                "its outputs are not there yet",
            )
            .help(Some(
                "read it after the `parallel` group, or move it before the group".into(),
            )),
        );
    }
    if let Some(block) = scope.hidden.get(id) {
        let help = if block.starts_with('`') {
            format!(
                "outside the block, read its outputs per iteration: `steps.{}.iterations`",
                block.trim_matches('`')
            )
        } else {
            "outside the block, read its outputs per iteration from `steps.<block id>.iterations` (give the block an `id`)".to_string()
        };
        return Some(
            Problem::new(
                Code::UnknownStep,
                format!("step `{id}` is inside the `steps` block {block}"),
                "not visible outside its block",
            )
            .help(Some(help)),
        );
    }
    if let Some(info) = scope.all_ids.get(id) {
        return Some(
            Problem::new(
                Code::LaterStep,
                format!("step `{id}` runs later (line {})", info.line),
                "not run yet at this point",
            )
            .help(Some(
                "steps run in order: a step can only read earlier steps".into(),
            )),
        );
    }
    let help = closest(id, scope.visible.keys().map(String::as_str))
        .map(|c| format!("did you mean `{c}`?"));
    Some(
        Problem::new(
            Code::UnknownStep,
            format!("there is no step with id `{id}`"),
            "no such step",
        )
        .help(help),
    )
}

/// Whether an environment variable name looks like it holds a secret.
#[must_use]
pub fn secret_looking(name: &str) -> bool {
    crate::redact::secret_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(root: &str, path: &[&str]) -> Reference {
        Reference {
            root: root.into(),
            path: path.iter().map(|s| s.to_string()).collect(),
            range: None,
        }
    }

    fn scope() -> Scope {
        let mut s = Scope {
            inputs: vec!["lookback".into(), "min_hits".into()],
            ..Scope::default()
        };
        s.visible.insert(
            "hunt".into(),
            Visible {
                kind: Some(KindName::Hunt),
                looped: false,
                outputs: Some(
                    KindName::Hunt
                        .outputs()
                        .iter()
                        .chain(KindName::COMMON_OUTPUTS)
                        .copied()
                        .collect(),
                ),
            },
        );
        s.all_ids.insert(
            "hunt".into(),
            IdInfo {
                kind: Some(KindName::Hunt),
                line: 3,
            },
        );
        s.all_ids.insert(
            "report".into(),
            IdInfo {
                kind: Some(KindName::Output),
                line: 20,
            },
        );
        s.var_defs.insert("threshold".into(), 30);
        s
    }

    fn code(p: Option<Problem>) -> Option<Code> {
        p.map(|p| p.code)
    }

    #[test]
    fn earlier_steps_and_their_outputs_are_readable() {
        let s = scope();
        assert_eq!(check_reference(&s, &r("steps", &["hunt", "results"])), None);
        assert_eq!(check_reference(&s, &r("steps", &["hunt"])), None);
        assert_eq!(check_reference(&s, &r("steps", &["hunt", "error"])), None);
    }

    #[test]
    fn misspelt_outputs_get_a_suggestion() {
        let p = check_reference(&scope(), &r("steps", &["hunt", "reslts"]));
        let p = p.unwrap();
        assert_eq!(p.code, Code::UnknownOutput);
        assert_eq!(p.help.as_deref(), Some("did you mean `results`?"));
    }

    #[test]
    fn later_unknown_and_self_steps_are_distinguished() {
        let mut s = scope();
        assert_eq!(
            code(check_reference(&s, &r("steps", &["report", "path"]))),
            Some(Code::LaterStep)
        );
        let p = check_reference(&s, &r("steps", &["hunr"])).unwrap();
        assert_eq!(p.code, Code::UnknownStep);
        assert_eq!(p.help.as_deref(), Some("did you mean `hunt`?"));
        s.current = Some("report".into());
        let p = check_reference(&s, &r("steps", &["report"])).unwrap();
        assert!(p.message.contains("its own outputs"));
    }

    #[test]
    fn parallel_siblings_and_block_internals_are_not_readable() {
        let mut s = scope();
        s.siblings.insert("other".into());
        s.hidden.insert("inner".into(), "`per_device`".into());
        assert_eq!(
            code(check_reference(&s, &r("steps", &["other"]))),
            Some(Code::LaterStep)
        );
        let p = check_reference(&s, &r("steps", &["inner", "items"])).unwrap();
        assert_eq!(p.code, Code::UnknownStep);
        assert!(
            p.help
                .unwrap_or_default()
                .contains("`steps.per_device.iterations`")
        );
    }

    #[test]
    fn looped_steps_expose_concatenated_lists_and_iterations() {
        let mut s = scope();
        s.visible.insert(
            "details".into(),
            Visible {
                kind: Some(KindName::Incidents),
                looped: true,
                outputs: Some(
                    KindName::Incidents
                        .loop_outputs()
                        .iter()
                        .chain(KindName::COMMON_OUTPUTS)
                        .copied()
                        .collect(),
                ),
            },
        );
        assert_eq!(
            check_reference(&s, &r("steps", &["details", "items"])),
            None
        );
        let p = check_reference(&s, &r("steps", &["details", "incident"])).unwrap();
        assert!(p.message.contains("per iteration"), "{}", p.message);
    }

    #[test]
    fn inputs_must_be_declared() {
        let s = scope();
        assert_eq!(check_reference(&s, &r("inputs", &["lookback"])), None);
        let p = check_reference(&s, &r("inputs", &["lookbak"])).unwrap();
        assert_eq!(p.code, Code::UnknownInput);
        assert_eq!(p.help.as_deref(), Some("did you mean `lookback`?"));
    }

    #[test]
    fn vars_must_be_set_earlier() {
        let mut s = scope();
        let p = check_reference(&s, &r("vars", &["threshold"])).unwrap();
        assert_eq!(p.code, Code::UndefinedVar);
        assert!(p.label.contains("line 30"));
        s.vars.insert("threshold".into());
        assert_eq!(check_reference(&s, &r("vars", &["threshold"])), None);
        assert_eq!(
            code(check_reference(&s, &r("vars", &["nope"]))),
            Some(Code::UndefinedVar)
        );
    }

    #[test]
    fn item_and_loop_need_for_each() {
        let mut s = scope();
        assert_eq!(
            code(check_reference(&s, &r("item", &[]))),
            Some(Code::LoopVarOutsideLoop)
        );
        assert_eq!(
            code(check_reference(&s, &r("loop", &["index"]))),
            Some(Code::LoopVarOutsideLoop)
        );
        s.in_loop = true;
        assert_eq!(check_reference(&s, &r("item", &["DeviceId"])), None);
    }

    #[test]
    fn env_state_and_run_fields() {
        let s = scope();
        assert_eq!(check_reference(&s, &r("env", &["ANYTHING"])), None);
        assert_eq!(check_reference(&s, &r("state", &["last_success"])), None);
        assert_eq!(check_reference(&s, &r("run", &["started_at"])), None);
        let p = check_reference(&s, &r("run", &["started"])).unwrap();
        assert_eq!(p.help.as_deref(), Some("did you mean `started_at`?"));
        let p = check_reference(&s, &r("input", &["x"])).unwrap();
        assert_eq!(p.code, Code::UnknownName);
        assert_eq!(p.help.as_deref(), Some("did you mean `inputs`?"));
        assert_eq!(check_reference(&s, &r("ago", &[])), None);
    }

    #[test]
    fn secret_looking_env_names() {
        assert!(secret_looking("AZURE_CLIENT_SECRET"));
        assert!(secret_looking("db_password"));
        assert!(!secret_looking("AZURE_TENANT_ID"));
    }
}
