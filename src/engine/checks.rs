//! What is checked before a run starts (exit 2, nothing sent) and the permission tables the
//! `authenticate` preflight reads: response actions need `--allow-actions` (or a
//! confirmation, or `--dry-run`). That an API step needs an `authenticate` step before it is
//! part of validation ([`crate::playbook::check::order`]).

use crate::playbook::{Permission, Playbook, Step, StepKind};

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
