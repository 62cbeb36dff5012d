//! Which permission each API call needs (defender-api.md §2): the one table. Steps derive
//! their permissions from it (`playbook::Step::required_permissions`), so `huntbook plan` and
//! the engine's preflight (which checks the token's `roles` / `scp` before the first action
//! instead of failing halfway with a 403) show the same thing. The emulator's per-route checks
//! are the server side and stay apart.

use super::Audience;

/// The permissions that allow a call: any one of them suffices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// Application permissions (`roles`), any of.
    pub application: &'static [&'static str],
    /// Delegated permissions (`scp`), any of.
    pub delegated: &'static [&'static str],
}

const fn same(p: &'static [&'static str]) -> Requirement {
    Requirement {
        application: p,
        delegated: p,
    }
}

const MACHINE_ACTIONS: &[&str] = &[
    "Machine.CollectForensics",
    "Machine.Isolate",
    "Machine.RestrictExecution",
    "Machine.Scan",
    "Machine.Offboard",
    "Machine.StopAndQuarantine",
    "Machine.LiveResponse",
];

/// Drop the version prefix and lower-case; ids stay (the rules below match by shape).
fn normalise(audience: Audience, path: &str) -> Vec<String> {
    let p = path.split('?').next().unwrap_or("").to_ascii_lowercase();
    let mut segs: Vec<String> = p
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    match audience {
        Audience::Graph => {
            if segs.first().is_some_and(|s| s == "v1.0" || s == "beta") {
                segs.remove(0);
            }
        }
        Audience::Defender | Audience::Endpoint => {
            if segs.first().is_some_and(|s| s == "api") {
                segs.remove(0);
                if segs.first().is_some_and(|s| s == "v1.0") {
                    segs.remove(0);
                }
            }
        }
    }
    segs
}

/// The permission a call needs, or `None` when the call is not one huntbook knows (a generic
/// `request` step to another path: the service decides).
#[must_use]
pub fn required(audience: Audience, method: &str, path: &str) -> Option<Requirement> {
    let m = method.to_ascii_uppercase();
    let segs = normalise(audience, path);
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let read = m == "GET" || m == "HEAD";
    match audience {
        Audience::Graph => match s.as_slice() {
            ["security", "runhuntingquery"] => Some(same(&["ThreatHunting.Read.All"])),
            ["security", "incidents", ..] if read => Some(same(&[
                "SecurityIncident.Read.All",
                "SecurityIncident.ReadWrite.All",
            ])),
            ["security", "incidents", ..] => Some(same(&["SecurityIncident.ReadWrite.All"])),
            ["security", "alerts_v2", ..] if read => Some(same(&[
                "SecurityAlert.Read.All",
                "SecurityAlert.ReadWrite.All",
            ])),
            ["security", "alerts_v2", ..] => Some(same(&["SecurityAlert.ReadWrite.All"])),
            ["security", "alerts", ..] if read => Some(same(&[
                "SecurityEvents.Read.All",
                "SecurityEvents.ReadWrite.All",
            ])),
            ["security", "alerts", ..] => Some(same(&["SecurityEvents.ReadWrite.All"])),
            _ => None,
        },
        // The Defender XDR API ("Microsoft Threat Protection") documents incidents and
        // advanced hunting; the rest is the Defender for Endpoint API ("WindowsDefenderATP").
        Audience::Defender => match s.as_slice() {
            ["incidents", ..] if read => Some(Requirement {
                application: &["Incident.Read.All", "Incident.ReadWrite.All"],
                delegated: &["Incident.Read", "Incident.ReadWrite"],
            }),
            ["incidents", ..] => Some(Requirement {
                application: &["Incident.ReadWrite.All"],
                delegated: &["Incident.ReadWrite"],
            }),
            ["advancedhunting", ..] => Some(Requirement {
                application: &["AdvancedHunting.Read.All"],
                delegated: &["AdvancedHunting.Read"],
            }),
            _ => None,
        },
        Audience::Endpoint => match s.as_slice() {
            ["advancedqueries", ..] => Some(Requirement {
                application: &["AdvancedQuery.Read.All"],
                delegated: &["AdvancedQuery.Read"],
            }),
            ["machines", _, action] if !read => match *action {
                "isolate" | "unisolate" => Some(same(&["Machine.Isolate"])),
                "runantivirusscan" => Some(same(&["Machine.Scan"])),
                "collectinvestigationpackage" => Some(same(&["Machine.CollectForensics"])),
                "restrictcodeexecution" | "unrestrictcodeexecution" => {
                    Some(same(&["Machine.RestrictExecution"]))
                }
                "stopandquarantinefile" => Some(same(&["Machine.StopAndQuarantine"])),
                _ => None,
            },
            ["machineactions", _, "cancel"] => Some(same(MACHINE_ACTIONS)),
            ["machineactions", _, "getpackageuri"] => Some(Requirement {
                application: &["Machine.Read.All", "Machine.ReadWrite.All"],
                delegated: &["Machine.CollectForensics"],
            }),
            ["machines" | "machineactions", ..] if read => Some(Requirement {
                application: &["Machine.Read.All", "Machine.ReadWrite.All"],
                delegated: &["Machine.Read", "Machine.ReadWrite"],
            }),
            // Listing indicators needs the same permission as submitting one.
            ["indicators", ..] => Some(Requirement {
                application: &["Ti.ReadWrite", "Ti.ReadWrite.All"],
                delegated: &["Ti.ReadWrite"],
            }),
            ["alerts", ..] if read => Some(Requirement {
                application: &["Alert.Read.All", "Alert.ReadWrite.All"],
                delegated: &["Alert.Read", "Alert.ReadWrite"],
            }),
            // The update-alert page spells it `Alerts.ReadWrite.All`; accept both.
            ["alerts", ..] => Some(Requirement {
                application: &["Alert.ReadWrite.All", "Alerts.ReadWrite.All"],
                delegated: &["Alert.ReadWrite"],
            }),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_permissions_per_call() {
        let app = |a, m, p| required(a, m, p).map(|r| r.application.to_vec());
        let user = |a, m, p| required(a, m, p).map(|r| r.delegated.to_vec());
        assert_eq!(
            app(Audience::Graph, "POST", "/v1.0/security/runHuntingQuery"),
            Some(vec!["ThreatHunting.Read.All"])
        );
        assert_eq!(
            app(Audience::Graph, "PATCH", "/v1.0/security/incidents/2972395"),
            Some(vec!["SecurityIncident.ReadWrite.All"])
        );
        assert_eq!(
            user(Audience::Defender, "GET", "/api/incidents?$top=10"),
            Some(vec!["Incident.Read", "Incident.ReadWrite"])
        );
        assert_eq!(
            app(Audience::Defender, "POST", "/api/advancedhunting/run"),
            Some(vec!["AdvancedHunting.Read.All"])
        );
        assert_eq!(
            app(Audience::Endpoint, "POST", "/api/machines/1e5b/isolate"),
            Some(vec!["Machine.Isolate"])
        );
        assert_eq!(
            app(
                Audience::Endpoint,
                "POST",
                "/api/v1.0/machines/1e5b/StopAndQuarantineFile"
            ),
            Some(vec!["Machine.StopAndQuarantine"])
        );
        assert_eq!(
            app(Audience::Endpoint, "GET", "/api/machineactions/5382f7ea"),
            Some(vec!["Machine.Read.All", "Machine.ReadWrite.All"])
        );
        assert_eq!(
            user(
                Audience::Endpoint,
                "GET",
                "/api/machineactions/5382/GetPackageUri"
            ),
            Some(vec!["Machine.CollectForensics"])
        );
        assert_eq!(required(Audience::Graph, "GET", "/v1.0/me"), None);
    }
}
