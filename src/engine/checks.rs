//! What is checked before a run starts (exit 2, nothing sent) and the permission tables the
//! `authenticate` preflight reads: an API step needs an `authenticate` step before it;
//! response actions need `--allow-actions` (or a confirmation, or `--dry-run`).

use crate::diag::{Code, Diagnostic};
use crate::playbook::{Permission, Playbook, Step, StepKind};

/// Whether a step (itself, not its children) calls an API.
#[must_use]
pub fn calls_api(step: &Step) -> bool {
    matches!(
        step.kind,
        StepKind::Hunt(_)
            | StepKind::Incidents(_)
            | StepKind::MachineAction(_)
            | StepKind::Request(_)
    )
}

/// Problems that stop a run before it starts: every API step must come after an
/// `authenticate` step that always runs before it (a top-level one, or an earlier one in the
/// same block). There is no implicit sign-in: a playbook says how it authenticates.
#[must_use]
pub fn before_run(playbook: &Playbook) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    walk(&playbook.steps, false, &mut out);
    out
}

fn walk(steps: &[Step], mut authenticated: bool, out: &mut Vec<Diagnostic>) -> bool {
    for s in steps {
        match &s.kind {
            // A conditional sign-in may not happen; only an unconditional one counts.
            StepKind::Authenticate(_) if s.when.is_none() => authenticated = true,
            StepKind::Authenticate(_) => {}
            StepKind::Steps(children) => {
                let inner = walk(children, authenticated, out);
                if s.when.is_none() && s.for_each.is_none() {
                    authenticated = inner;
                }
            }
            StepKind::Parallel(children) => {
                for c in children {
                    walk(std::slice::from_ref(c), authenticated, out);
                }
            }
            _ if calls_api(s) && !authenticated => {
                out.push(
                    Diagnostic::new(
                        Code::MissingField,
                        s.kind_span,
                        format!(
                            "step {} calls an API, but no `authenticate` step runs before it",
                            s.label()
                        ),
                    )
                    .label("needs a signed-in connection")
                    .help("add an `authenticate` step before it, e.g. `- authenticate: { client_secret: { env: AZURE_CLIENT_SECRET } }`"),
                );
            }
            _ => {}
        }
    }
    authenticated
}

/// The response actions of a playbook, one line each, for the refusal message and the
/// confirmation prompt.
#[must_use]
pub fn describe_response_actions(playbook: &Playbook) -> Vec<String> {
    playbook
        .response_actions()
        .into_iter()
        .map(|s| {
            let what = match &s.kind {
                StepKind::MachineAction(m) => {
                    use crate::playbook::Choice as _;
                    format!("machine action `{}`", m.action.name())
                }
                StepKind::Incidents(_) => "incident update".to_string(),
                StepKind::Request(r) => {
                    use crate::playbook::Choice as _;
                    format!("{} {}", r.method.name(), r.path.source())
                }
                _ => s.kind.name().to_string(),
            };
            let looped = if s.for_each.is_some() {
                " (once per `for_each` item)"
            } else {
                ""
            };
            let at = playbook
                .sources
                .get(s.kind_span.file)
                .map(|f| format!(" at {}:{}", f.name(), f.line_col(s.kind_span.start).line))
                .unwrap_or_default();
            format!("step {}: {what}{looped}{at}", s.label())
        })
        .collect()
}

/// The permissions the steps after `auth` need, up to the next `authenticate` (which checks
/// its own), with the label of the step needing each.
#[must_use]
pub fn permissions_after<'p>(playbook: &'p Playbook, auth: &Step) -> Vec<(&'p Step, Permission)> {
    let all = playbook.all_steps();
    let start = all
        .iter()
        .position(|s| std::ptr::eq(*s, auth))
        .map_or(0, |i| i + 1);
    let mut out = Vec::new();
    for s in all.into_iter().skip(start) {
        if matches!(s.kind, StepKind::Authenticate(_)) {
            break;
        }
        for p in s.required_permissions() {
            out.push((s, p));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::load_str;

    fn load(steps: impl std::fmt::Display) -> Playbook {
        let text = format!("huntbook: 1\nname: t\nsteps:\n{steps}");
        let loaded = load_str(std::path::Path::new("t.yaml"), text);
        assert!(
            loaded.diagnostics.iter().all(|d| !d.is_error()),
            "{:?}",
            loaded.diagnostics
        );
        loaded.playbook.expect("valid")
    }

    const LOGIN: &str = "  - authenticate:\n      client_secret: { env: S }\n";
    const HUNT: &str = "  - hunt:\n      query: DeviceInfo\n";

    #[test]
    fn an_api_step_before_authenticate_is_refused() {
        let p = load(format!("{HUNT}{LOGIN}"));
        let d = before_run(&p);
        assert_eq!(d.len(), 1);
        assert!(
            d[0].message
                .contains("no `authenticate` step runs before it")
        );
        assert!(before_run(&load(format!("{LOGIN}{HUNT}"))).is_empty());
    }

    #[test]
    fn a_conditional_or_parallel_sign_in_does_not_count() {
        let p = load(format!(
            "  - when: false\n    authenticate:\n      client_secret: {{ env: S }}\n{HUNT}"
        ));
        assert_eq!(before_run(&p).len(), 1);
        let p = load(
            "  - parallel:\n    - authenticate:\n        client_secret: { env: S }\n    - hunt:\n        query: DeviceInfo\n",
        );
        assert_eq!(before_run(&p).len(), 1);
        let p = load(format!(
            "  - steps:\n    - authenticate:\n        client_secret: {{ env: S }}\n{HUNT}"
        ));
        assert!(before_run(&p).is_empty());
    }

    #[test]
    fn permissions_are_collected_up_to_the_next_sign_in() {
        let p = load(format!(
            "{LOGIN}{HUNT}  - incidents:\n      list: {{}}\n{LOGIN}  - hunt:\n      api: defender\n      query: X\n"
        ));
        let first = &p.steps[0];
        let perms = permissions_after(&p, first);
        let calls: Vec<&str> = perms.iter().map(|(_, p)| p.call.as_str()).collect();
        assert_eq!(
            calls,
            vec!["POST /security/runHuntingQuery", "GET /security/incidents"]
        );
        let second = &p.steps[3];
        assert_eq!(permissions_after(&p, second).len(), 1);
    }
}
