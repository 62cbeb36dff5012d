//! The order of sign-in: every step that calls an API must come after an `authenticate` step
//! that always runs before it. Checked on the checked model (it needs the steps' kinds,
//! conditions and nesting), after the per-field checks, by the loader.

use crate::diag::{Code, Diagnostic};
use crate::playbook::{Step, StepKind};

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

/// Every API step must come after an `authenticate` step that always runs before it (a
/// top-level one, or an earlier one in the same block). There is no implicit sign-in: a
/// playbook says how it authenticates.
#[must_use]
pub fn sign_in_order(steps: &[Step]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    walk(steps, false, &mut out);
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
                        Code::NoSignIn,
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

#[cfg(test)]
mod tests {
    use crate::diag::Diagnostic;
    use crate::playbook::load_str;

    /// The errors of a playbook made of `steps`.
    fn errors(steps: impl std::fmt::Display) -> Vec<Diagnostic> {
        let text = format!("huntbook: 1\nname: t\nsteps:\n{steps}");
        let loaded = load_str(std::path::Path::new("t.yaml"), text);
        assert_eq!(
            loaded.playbook.is_some(),
            !loaded.diagnostics.iter().any(Diagnostic::is_error)
        );
        loaded
            .diagnostics
            .into_iter()
            .filter(Diagnostic::is_error)
            .collect()
    }

    const LOGIN: &str = "  - authenticate:\n      client_secret: { env: S }\n";
    const HUNT: &str = "  - hunt:\n      query: DeviceInfo\n";

    #[test]
    fn an_api_step_before_authenticate_is_invalid() {
        let d = errors(format!("{HUNT}{LOGIN}"));
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(
            d[0].message
                .contains("no `authenticate` step runs before it")
        );
        // At the hunt's kind key: line 4 of the file, after its `  - `.
        let text = format!("huntbook: 1\nname: t\nsteps:\n{HUNT}");
        assert_eq!(d[0].span.map(|s| s.start), text.find("hunt:"));
        assert!(errors(format!("{LOGIN}{HUNT}")).is_empty());
    }

    #[test]
    fn a_conditional_or_parallel_sign_in_does_not_count() {
        let d = errors(format!(
            "  - when: false\n    authenticate:\n      client_secret: {{ env: S }}\n{HUNT}"
        ));
        assert_eq!(d.len(), 1);
        let d = errors(
            "  - parallel:\n    - authenticate:\n        client_secret: { env: S }\n    - hunt:\n        query: DeviceInfo\n",
        );
        assert_eq!(d.len(), 1);
        let d = errors(format!(
            "  - steps:\n    - authenticate:\n        client_secret: {{ env: S }}\n{HUNT}"
        ));
        assert!(d.is_empty(), "{d:?}");
    }
}
