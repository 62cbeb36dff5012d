//! Defender for Endpoint machines and machine actions. An action's status is computed from
//! timestamps when read — `Pending` for one `action_step`, `InProgress` for another, then its
//! planned outcome — so progress is deterministic and needs no background task. A machine's
//! state (isolated, restricted, last scan, …) is the fold of its succeeded actions.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::time::format;
use crate::emulator::world::Device;

/// Machine tag that makes every action on the machine end `Failed`.
pub const TAG_FAILS: &str = "emulator:action-fails";
/// Machine tag that makes every action on the machine end `TimeOut`.
pub const TAG_TIMES_OUT: &str = "emulator:action-times-out";

/// `riskScore` values MDE documents for a machine.
pub const RISK_SCORES: &[&str] = &["None", "Informational", "Low", "Medium", "High"];
/// `exposureLevel` values MDE documents for a machine.
pub const EXPOSURE_LEVELS: &[&str] = &["None", "Low", "Medium", "High"];
/// `healthStatus` values MDE documents for a machine.
pub const HEALTH_STATUSES: &[&str] = &[
    "Active",
    "Inactive",
    "ImpairedCommunication",
    "NoSensorData",
    "NoSensorDataImpairedCommunication",
    "Unknown",
];

/// A machine action type, as MDE spells it in `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionType {
    Isolate,
    Unisolate,
    RunAntiVirusScan,
    CollectInvestigationPackage,
    RestrictCodeExecution,
    UnrestrictCodeExecution,
    StopAndQuarantineFile,
}

impl ActionType {
    /// Every action type.
    pub const ALL: &'static [ActionType] = &[
        ActionType::Isolate,
        ActionType::Unisolate,
        ActionType::RunAntiVirusScan,
        ActionType::CollectInvestigationPackage,
        ActionType::RestrictCodeExecution,
        ActionType::UnrestrictCodeExecution,
        ActionType::StopAndQuarantineFile,
    ];

    /// Every `type` value MDE documents, for `$filter` validation.
    pub const TYPE_VALUES: &'static [&'static str] = &[
        "RunAntiVirusScan",
        "Offboard",
        "LiveResponse",
        "CollectInvestigationPackage",
        "Isolate",
        "Unisolate",
        "StopAndQuarantineFile",
        "RestrictCodeExecution",
        "UnrestrictCodeExecution",
    ];

    /// The `type` value.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ActionType::Isolate => "Isolate",
            ActionType::Unisolate => "Unisolate",
            ActionType::RunAntiVirusScan => "RunAntiVirusScan",
            ActionType::CollectInvestigationPackage => "CollectInvestigationPackage",
            ActionType::RestrictCodeExecution => "RestrictCodeExecution",
            ActionType::UnrestrictCodeExecution => "UnrestrictCodeExecution",
            ActionType::StopAndQuarantineFile => "StopAndQuarantineFile",
        }
    }

    /// The path segment after `/api/machines/{id}/`, as documented. ASP.NET routing ignores
    /// case, so matching does too.
    #[must_use]
    pub fn from_route(segment: &str) -> Option<ActionType> {
        let routes = [
            ("isolate", ActionType::Isolate),
            ("unisolate", ActionType::Unisolate),
            ("runAntiVirusScan", ActionType::RunAntiVirusScan),
            (
                "collectInvestigationPackage",
                ActionType::CollectInvestigationPackage,
            ),
            ("restrictCodeExecution", ActionType::RestrictCodeExecution),
            (
                "unrestrictCodeExecution",
                ActionType::UnrestrictCodeExecution,
            ),
            ("StopAndQuarantineFile", ActionType::StopAndQuarantineFile),
        ];
        routes
            .iter()
            .find(|(r, _)| r.eq_ignore_ascii_case(segment))
            .map(|(_, t)| *t)
    }

    /// The permission (application role and delegated scope alike) the action needs.
    #[must_use]
    pub fn permission(self) -> &'static str {
        match self {
            ActionType::Isolate | ActionType::Unisolate => "Machine.Isolate",
            ActionType::RunAntiVirusScan => "Machine.Scan",
            ActionType::CollectInvestigationPackage => "Machine.CollectForensics",
            ActionType::RestrictCodeExecution | ActionType::UnrestrictCodeExecution => {
                "Machine.RestrictExecution"
            }
            ActionType::StopAndQuarantineFile => "Machine.StopAndQuarantine",
        }
    }

    /// Actions that conflict while one is pending: isolate/unisolate and restrict/unrestrict
    /// act on the same switch, so either blocks the other.
    fn conflict_group(self) -> u8 {
        match self {
            ActionType::Isolate | ActionType::Unisolate => 0,
            ActionType::RestrictCodeExecution | ActionType::UnrestrictCodeExecution => 1,
            ActionType::RunAntiVirusScan => 2,
            ActionType::CollectInvestigationPackage => 3,
            ActionType::StopAndQuarantineFile => 4,
        }
    }

    /// Whether `other` may not start while `self` is Pending or InProgress.
    #[must_use]
    pub fn conflicts_with(self, other: ActionType) -> bool {
        self.conflict_group() == other.conflict_group()
    }
}

/// A machine action's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActionStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    TimeOut,
    Cancelled,
}

impl ActionStatus {
    /// Every status, as MDE spells them.
    pub const VALUES: &'static [&'static str] = &[
        "Pending",
        "InProgress",
        "Succeeded",
        "Failed",
        "TimeOut",
        "Cancelled",
    ];

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            ActionStatus::Pending => "Pending",
            ActionStatus::InProgress => "InProgress",
            ActionStatus::Succeeded => "Succeeded",
            ActionStatus::Failed => "Failed",
            ActionStatus::TimeOut => "TimeOut",
            ActionStatus::Cancelled => "Cancelled",
        }
    }

    /// `Succeeded`, `Failed`, `TimeOut`, `Cancelled`: the states a poller stops on.
    #[must_use]
    pub fn is_final(self) -> bool {
        !matches!(self, ActionStatus::Pending | ActionStatus::InProgress)
    }
}

/// How an action ends if nobody cancels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ActionOutcome {
    Succeeded,
    Failed,
    TimeOut,
}

impl ActionOutcome {
    fn status(self) -> ActionStatus {
        match self {
            ActionOutcome::Succeeded => ActionStatus::Succeeded,
            ActionOutcome::Failed => ActionStatus::Failed,
            ActionOutcome::TimeOut => ActionStatus::TimeOut,
        }
    }
}

/// Who cancelled an action, when and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Cancellation {
    pub by: String,
    pub comment: String,
    pub at: DateTime<Utc>,
}

/// A machine action as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineAction {
    pub id: String,
    pub kind: ActionType,
    /// `Full`/`Selective`/`UnManagedDevice` for isolation, `Quick`/`Full` for scans.
    pub scope: Option<String>,
    pub requestor: String,
    pub requestor_comment: String,
    pub machine_id: String,
    pub computer_dns_name: String,
    pub created: DateTime<Utc>,
    pub outcome: ActionOutcome,
    pub cancellation: Option<Cancellation>,
    /// SHA-1 of the file of a `StopAndQuarantineFile`.
    pub related_sha1: Option<String>,
    pub external_id: Option<String>,
}

impl MachineAction {
    /// The status at `now` and when it last changed.
    #[must_use]
    pub fn status_at(&self, now: DateTime<Utc>, step: Duration) -> (ActionStatus, DateTime<Utc>) {
        // Saturate: a huge configured step must not overflow the calendar.
        let later = |t: DateTime<Utc>| {
            t.checked_add_signed(step)
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        let in_progress_at = later(self.created);
        let done_at = later(in_progress_at);
        if let Some(c) = &self.cancellation
            && c.at <= now
            && c.at < done_at
        {
            return (ActionStatus::Cancelled, c.at);
        }
        if now < in_progress_at {
            (ActionStatus::Pending, self.created)
        } else if now < done_at {
            (ActionStatus::InProgress, in_progress_at)
        } else {
            (self.outcome.status(), done_at)
        }
    }

    /// The MDE `MachineAction` object.
    #[must_use]
    pub fn render(&self, now: DateTime<Utc>, step: Duration) -> Value {
        let (status, updated) = self.status_at(now, step);
        let cancelled = self
            .cancellation
            .as_ref()
            .filter(|_| status == ActionStatus::Cancelled);
        json!({
            "id": self.id,
            "type": self.kind.name(),
            "scope": self.scope,
            "requestor": self.requestor,
            "requestorComment": self.requestor_comment,
            "status": status.name(),
            "machineId": self.machine_id,
            "computerDnsName": self.computer_dns_name,
            "creationDateTimeUtc": format(&self.created),
            "lastUpdateDateTimeUtc": format(&updated),
            "cancellationRequestor": cancelled.map(|c| &c.by),
            "cancellationComment": cancelled.map(|c| &c.comment),
            "cancellationDateTimeUtc": cancelled.map(|c| format(&c.at)),
            "errorHResult": 0,
            "title": null,
            "externalID": self.external_id,
            "requestSource": "PublicApi",
            "commands": [],
            "relatedFileInfo": self.related_sha1.as_ref().map(|s| json!({
                "fileIdentifier": s,
                "fileIdentifierType": "Sha1",
            })),
        })
    }
}

/// When MDE first saw a device onboarded `days_ago` days before `anchor` (clamped to the
/// representable range, so odd data-file values can't overflow).
#[must_use]
pub fn first_seen(anchor: DateTime<Utc>, days_ago: i64) -> DateTime<Utc> {
    Duration::try_days(days_ago.clamp(0, 365_000))
        .and_then(|d| anchor.checked_sub_signed(d + Duration::minutes(17)))
        .unwrap_or(anchor)
}

/// An onboarded machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub device: Device,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl Machine {
    /// Build from a world device; `index` spreads `lastSeen` deterministically.
    #[must_use]
    pub fn new(device: &Device, index: usize, anchor: DateTime<Utc>) -> Machine {
        let minutes = i64::try_from((index * 13) % 180 + 3).unwrap_or(3);
        Machine {
            first_seen: first_seen(anchor, device.first_seen_days_ago),
            last_seen: anchor - Duration::minutes(minutes),
            device: device.clone(),
        }
    }

    /// Whether the device runs Linux (some actions are Windows-only).
    #[must_use]
    pub fn is_linux(&self) -> bool {
        self.device.os_platform.eq_ignore_ascii_case("Linux")
    }

    /// The outcome the machine plans for `kind` (`None`: succeed): its failure tags first; then
    /// a machine that isn't reporting (`Inactive`, `NoSensorData…`) never picks the action up,
    /// so it times out.
    #[must_use]
    pub fn planned_outcome(&self, kind: ActionType) -> Option<ActionOutcome> {
        let tags = &self.device.machine_tags;
        let has = |t: &str| tags.iter().any(|x| x.eq_ignore_ascii_case(t));
        let silent = matches!(
            self.device.health_status.as_str(),
            "Inactive" | "NoSensorData" | "NoSensorDataImpairedCommunication"
        );
        if has(&format!("{TAG_FAILS}:{}", kind.name())) || has(TAG_FAILS) {
            Some(ActionOutcome::Failed)
        } else if has(&format!("{TAG_TIMES_OUT}:{}", kind.name())) || has(TAG_TIMES_OUT) || silent {
            Some(ActionOutcome::TimeOut)
        } else {
            None
        }
    }

    /// The MDE `Machine` object.
    #[must_use]
    pub fn render(&self) -> Value {
        let d = &self.device;
        let value = if d.name.starts_with("srv-dc") {
            "High"
        } else {
            "Normal"
        };
        json!({
            "id": d.id,
            "computerDnsName": d.name,
            "firstSeen": format(&self.first_seen),
            "lastSeen": format(&self.last_seen),
            "osPlatform": d.os_platform,
            "osProcessor": d.os_processor,
            "version": d.os_version,
            "lastIpAddress": d.ip_address,
            "lastExternalIpAddress": d.external_ip_address,
            "osBuild": if d.os_build > 0 { json!(d.os_build) } else { Value::Null },
            "healthStatus": d.health_status,
            "deviceValue": value,
            "rbacGroupName": d.rbac_group_name,
            "rbacGroupId": d.rbac_group_id,
            "riskScore": d.risk_score,
            "exposureLevel": d.exposure_level,
            "aadDeviceId": if d.aad_device_id.is_empty() { Value::Null } else { json!(d.aad_device_id) },
            "isAadJoined": !d.aad_device_id.is_empty(),
            "machineTags": d.machine_tags,
            "onboardingStatus": "Onboarded",
            "osArchitecture": if d.os_processor.contains("64") { "64-bit" } else { "32-bit" },
            "ipAddresses": [
                { "ipAddress": d.ip_address, "macAddress": d.mac_address, "type": "Ethernet", "operationalStatus": "Up" }
            ],
        })
    }
}

/// The last completed antivirus scan of a machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanRecord {
    pub scan_type: Option<String>,
    pub action_id: String,
    pub completed: String,
}

/// An action not yet final.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingAction {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub creation_date_time_utc: String,
}

/// The response-relevant state of a machine, derived from its succeeded actions
/// (`GET /_emulator/tenant/machines/{id}/state`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineState {
    pub machine_id: String,
    pub computer_dns_name: String,
    pub isolated: bool,
    /// `Full`, `Selective` or `UnManagedDevice` while isolated.
    pub isolation_type: Option<String>,
    pub isolated_since: Option<String>,
    pub code_execution_restricted: bool,
    pub last_antivirus_scan: Option<ScanRecord>,
    pub investigation_packages_collected: u32,
    /// SHA-1s stopped and quarantined.
    pub quarantined_files: Vec<String>,
    pub pending_actions: Vec<PendingAction>,
}

impl MachineState {
    /// Fold `actions` (any machine's; only this machine's count) as of `now`.
    #[must_use]
    pub fn derive(
        machine: &Machine,
        actions: &[MachineAction],
        now: DateTime<Utc>,
        step: Duration,
    ) -> MachineState {
        let mut st = MachineState {
            machine_id: machine.device.id.clone(),
            computer_dns_name: machine.device.name.clone(),
            isolated: false,
            isolation_type: None,
            isolated_since: None,
            code_execution_restricted: false,
            last_antivirus_scan: None,
            investigation_packages_collected: 0,
            quarantined_files: Vec::new(),
            pending_actions: Vec::new(),
        };
        let mut mine: Vec<&MachineAction> = actions
            .iter()
            .filter(|a| a.machine_id == machine.device.id && a.created <= now)
            .collect();
        mine.sort_by_key(|a| a.created);
        for a in mine {
            let (status, at) = a.status_at(now, step);
            if !status.is_final() {
                st.pending_actions.push(PendingAction {
                    id: a.id.clone(),
                    kind: a.kind.name().to_string(),
                    status: status.name().to_string(),
                    creation_date_time_utc: format(&a.created),
                });
                continue;
            }
            if status != ActionStatus::Succeeded {
                continue;
            }
            match a.kind {
                ActionType::Isolate => {
                    st.isolated = true;
                    st.isolation_type.clone_from(&a.scope);
                    st.isolated_since = Some(format(&at));
                }
                ActionType::Unisolate => {
                    st.isolated = false;
                    st.isolation_type = None;
                    st.isolated_since = None;
                }
                ActionType::RestrictCodeExecution => st.code_execution_restricted = true,
                ActionType::UnrestrictCodeExecution => st.code_execution_restricted = false,
                ActionType::RunAntiVirusScan => {
                    st.last_antivirus_scan = Some(ScanRecord {
                        scan_type: a.scope.clone(),
                        action_id: a.id.clone(),
                        completed: format(&at),
                    });
                }
                ActionType::CollectInvestigationPackage => {
                    st.investigation_packages_collected += 1;
                }
                ActionType::StopAndQuarantineFile => {
                    if let Some(sha1) = &a.related_sha1
                        && !st.quarantined_files.contains(sha1)
                    {
                        st.quarantined_files.push(sha1.clone());
                    }
                }
            }
        }
        st
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::world::World;
    use crate::emulator::world::tests::anchor;

    fn action(kind: ActionType, machine: &str, created: DateTime<Utc>) -> MachineAction {
        MachineAction {
            id: format!("{kind:?}-{created}"),
            kind,
            scope: Some("Full".into()),
            requestor: "app".into(),
            requestor_comment: "c".into(),
            machine_id: machine.into(),
            computer_dns_name: "m".into(),
            created,
            outcome: ActionOutcome::Succeeded,
            cancellation: None,
            related_sha1: None,
            external_id: None,
        }
    }

    #[test]
    fn status_moves_pending_in_progress_final() {
        let t0 = anchor();
        let step = Duration::seconds(10);
        let mut a = action(ActionType::Isolate, "m1", t0);
        assert_eq!(a.status_at(t0, step).0, ActionStatus::Pending);
        assert_eq!(
            a.status_at(t0 + Duration::seconds(9), step).0,
            ActionStatus::Pending
        );
        assert_eq!(
            a.status_at(t0 + Duration::seconds(10), step),
            (ActionStatus::InProgress, t0 + step)
        );
        assert_eq!(
            a.status_at(t0 + Duration::seconds(25), step),
            (ActionStatus::Succeeded, t0 + step + step)
        );
        a.outcome = ActionOutcome::TimeOut;
        assert_eq!(
            a.status_at(t0 + Duration::hours(1), step).0,
            ActionStatus::TimeOut
        );
        a.cancellation = Some(Cancellation {
            by: "x".into(),
            comment: "y".into(),
            at: t0 + Duration::seconds(12),
        });
        assert_eq!(
            a.status_at(t0 + Duration::hours(1), step),
            (ActionStatus::Cancelled, t0 + Duration::seconds(12))
        );
    }

    #[test]
    fn state_folds_succeeded_actions_in_order() {
        let w = World::generate(1, anchor());
        let m = Machine::new(&w.devices[0], 0, anchor());
        let id = m.device.id.clone();
        let step = Duration::seconds(1);
        let t0 = anchor();
        let mut failed = action(ActionType::RestrictCodeExecution, &id, t0);
        failed.outcome = ActionOutcome::Failed;
        let actions = vec![
            action(ActionType::Isolate, &id, t0),
            failed,
            action(ActionType::RunAntiVirusScan, &id, t0 + Duration::seconds(5)),
            action(ActionType::Unisolate, &id, t0 + Duration::seconds(60)),
            action(ActionType::Isolate, "another-machine", t0),
        ];
        let st = MachineState::derive(&m, &actions, t0 + Duration::seconds(30), step);
        assert!(st.isolated);
        assert_eq!(st.isolation_type.as_deref(), Some("Full"));
        assert!(
            !st.code_execution_restricted,
            "a failed restriction changes nothing"
        );
        assert!(st.last_antivirus_scan.is_some());
        assert!(st.pending_actions.is_empty());
        let later = MachineState::derive(&m, &actions, t0 + Duration::seconds(61), step);
        assert!(later.isolated, "unisolate is still pending");
        assert_eq!(later.pending_actions.len(), 1);
        let done = MachineState::derive(&m, &actions, t0 + Duration::seconds(90), step);
        assert!(!done.isolated);
    }

    #[test]
    fn tags_plan_failures() {
        let w = World::generate(1, anchor());
        let mut d = w.devices[0].clone();
        d.machine_tags = vec![format!("{TAG_TIMES_OUT}:Isolate")];
        let m = Machine::new(&d, 0, anchor());
        assert_eq!(
            m.planned_outcome(ActionType::Isolate),
            Some(ActionOutcome::TimeOut)
        );
        assert_eq!(m.planned_outcome(ActionType::RunAntiVirusScan), None);
        d.machine_tags = vec![TAG_FAILS.to_string()];
        let m = Machine::new(&d, 0, anchor());
        assert_eq!(
            m.planned_outcome(ActionType::RunAntiVirusScan),
            Some(ActionOutcome::Failed)
        );
        d.machine_tags.clear();
        d.health_status = "Inactive".into();
        let m = Machine::new(&d, 0, anchor());
        assert_eq!(
            m.planned_outcome(ActionType::RunAntiVirusScan),
            Some(ActionOutcome::TimeOut),
            "a machine that isn't reporting never runs the action"
        );
    }

    #[test]
    fn routes_and_conflicts() {
        assert_eq!(
            ActionType::from_route("runantivirusscan"),
            Some(ActionType::RunAntiVirusScan)
        );
        assert_eq!(ActionType::from_route("reboot"), None);
        assert!(ActionType::Isolate.conflicts_with(ActionType::Unisolate));
        assert!(!ActionType::Isolate.conflicts_with(ActionType::RunAntiVirusScan));
    }
}
