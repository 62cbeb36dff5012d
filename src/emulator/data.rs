//! `--data FILE`: a tenant description (apps, users, devices, people, incidents, hunting-table
//! rows) in JSON or YAML, validated with clear errors that name the file, line and column.
//! The format is documented in `docs/emulator-data.md`; `docs/examples/tenant.yaml` is a
//! complete example.
//!
//! Checks happen in two passes: [`load`] checks syntax, types, enum values, duplicates and
//! references inside the file; [`TenantData::check_world`] and [`build_incidents`] check the
//! references into the world the file is applied to (devices and people that the file does not
//! define itself come from the generated tenant).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::{Location, Spanned};
use sha1::{Digest, Sha1};

use super::EmuError;
use super::api::generate::{self, account};
use super::api::machines::{
    EXPOSURE_LEVELS as EXPOSURE, HEALTH_STATUSES as HEALTH, RISK_SCORES as RISK,
};
use super::api::model::{
    Account, Alert, AlertStatus, Classification, Comment, DetectionSource, Determination, Evidence,
    EvidenceKind, FileDetails, Incident, IncidentStatus, ServiceSource, Severity,
};
use super::api::time::{parse_time, ticks};
use super::directory::{AppSpec, UserSpec};
use super::rng::Rng;
use super::world::{Device, NETBIOS_DOMAIN, Person, TENANT_DOMAIN, World};

/// Data files larger than this are refused (the hunting tables are the only bulky part).
pub const MAX_DATA_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A tenant description. Every part is optional; what is given replaces the generated default.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenantData {
    /// The file it was loaded from, for messages (`None` when built in code).
    #[serde(skip)]
    pub source: Option<String>,
    #[serde(default)]
    pub apps: Option<Vec<AppSpec>>,
    #[serde(default)]
    pub users: Option<Vec<UserSpec>>,
    /// Onboarded devices; replace the generated ones.
    #[serde(default)]
    pub devices: Option<Vec<DeviceSpec>>,
    /// People (accounts in the hunting tables); replace the generated ones.
    #[serde(default)]
    pub people: Option<Vec<PersonSpec>>,
    /// Incidents with their alerts; replace the generated ones.
    #[serde(default)]
    pub incidents: Option<Vec<IncidentSpec>>,
    /// Rows per hunting table, keyed by table name; each row maps column name to value.
    #[serde(default)]
    pub tables: BTreeMap<String, Vec<serde_json::Map<String, Value>>>,
}

/// A person by account name or UPN, or by index into `people`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PersonRef {
    Index(usize),
    Name(String),
}

/// A device of the data file; everything but `name` has a deterministic default.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceSpec {
    /// FQDN (lower-cased), e.g. `ws-101.corp.contoso.example`.
    pub name: Spanned<String>,
    /// 40 hex digits; default: the SHA-1 of the name.
    #[serde(default)]
    pub id: Option<Spanned<String>>,
    #[serde(default)]
    pub os_platform: Option<String>,
    #[serde(default)]
    pub os_version: Option<String>,
    #[serde(default)]
    pub os_build: Option<i64>,
    #[serde(default)]
    pub os_processor: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub external_ip_address: Option<String>,
    #[serde(default)]
    pub mac_address: Option<String>,
    #[serde(default)]
    pub aad_device_id: Option<String>,
    #[serde(default)]
    pub device_type: Option<String>,
    #[serde(default)]
    pub risk_score: Option<Spanned<String>>,
    #[serde(default)]
    pub exposure_level: Option<Spanned<String>>,
    #[serde(default)]
    pub health_status: Option<Spanned<String>>,
    #[serde(default)]
    pub rbac_group_name: Option<String>,
    #[serde(default)]
    pub rbac_group_id: Option<i64>,
    #[serde(default)]
    pub machine_tags: Vec<String>,
    #[serde(default)]
    pub primary_user: Option<PersonRef>,
    #[serde(default)]
    pub first_seen_days_ago: Option<i64>,
}

/// A person of the data file; everything but `accountName` has a default.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PersonSpec {
    pub account_name: Spanned<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub upn: Option<String>,
    #[serde(default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub object_id: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
}

/// An incident of the data file, in Graph spelling (PascalCase enum values are accepted too).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IncidentSpec {
    /// Numeric id; default: allocated in creation order.
    #[serde(default)]
    pub id: Option<Spanned<i64>>,
    pub display_name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub severity: Option<Spanned<String>>,
    #[serde(default)]
    pub status: Option<Spanned<String>>,
    #[serde(default)]
    pub classification: Option<Spanned<String>>,
    #[serde(default)]
    pub determination: Option<Spanned<String>>,
    #[serde(default)]
    pub assigned_to: Option<String>,
    /// RFC 3339, or relative to the tenant's anchor: `90m ago`, `2d ago`. Default `1h ago`.
    #[serde(default)]
    pub created_date_time: Option<Spanned<String>>,
    /// Default: the creation time.
    #[serde(default)]
    pub last_update_date_time: Option<Spanned<String>>,
    #[serde(default)]
    pub redirect_incident_id: Option<Spanned<i64>>,
    #[serde(default)]
    pub custom_tags: Vec<String>,
    #[serde(default)]
    pub system_tags: Vec<String>,
    #[serde(default)]
    pub comments: Vec<CommentSpec>,
    pub alerts: Vec<AlertSpec>,
}

/// A comment of an incident or alert.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommentSpec {
    pub comment: String,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<Spanned<String>>,
}

/// An alert of a data-file incident. Unset fields inherit from the incident.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertSpec {
    #[serde(default)]
    pub id: Option<Spanned<String>>,
    pub title: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub recommended_actions: Option<String>,
    /// MITRE tactic; default `SuspiciousActivity`.
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub severity: Option<Spanned<String>>,
    #[serde(default)]
    pub status: Option<Spanned<String>>,
    #[serde(default)]
    pub classification: Option<Spanned<String>>,
    #[serde(default)]
    pub determination: Option<Spanned<String>>,
    /// Default `microsoftDefenderForEndpoint`.
    #[serde(default)]
    pub service_source: Option<Spanned<String>>,
    #[serde(default)]
    pub detection_source: Option<Spanned<String>>,
    #[serde(default)]
    pub assigned_to: Option<String>,
    #[serde(default)]
    pub mitre_techniques: Vec<String>,
    #[serde(default)]
    pub threat_family_name: Option<String>,
    #[serde(default)]
    pub threat_display_name: Option<String>,
    #[serde(default)]
    pub actor_display_name: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<Spanned<String>>,
    #[serde(default)]
    pub first_activity_date_time: Option<Spanned<String>>,
    #[serde(default)]
    pub last_activity_date_time: Option<Spanned<String>>,
    #[serde(default)]
    pub comments: Vec<CommentSpec>,
    #[serde(default)]
    pub evidence: Vec<EvidenceSpec>,
}

/// One piece of evidence: `type` says which, and which other fields apply.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EvidenceSpec {
    /// `device`, `file`, `process`, `user`, `ip`, `url`, `mailbox`, `mailMessage`.
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// `unknown`, `suspicious` (default), `malicious`, `noThreatsFound`.
    #[serde(default)]
    pub verdict: Option<String>,
    #[serde(default)]
    pub device_id: Option<Spanned<String>>,
    #[serde(default)]
    pub device_name: Option<Spanned<String>>,
    #[serde(default)]
    pub file_name: Option<String>,
    /// The folder (without the file name).
    #[serde(default)]
    pub file_path: Option<String>,
    #[serde(default)]
    pub sha1: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub md5: Option<String>,
    #[serde(default)]
    pub file_size: Option<i64>,
    #[serde(default)]
    pub process_id: Option<i64>,
    #[serde(default)]
    pub process_command_line: Option<String>,
    #[serde(default)]
    pub parent_process_id: Option<i64>,
    #[serde(default)]
    pub parent_file_name: Option<String>,
    #[serde(default)]
    pub account_name: Option<String>,
    #[serde(default)]
    pub domain_name: Option<String>,
    #[serde(default)]
    pub user_sid: Option<String>,
    #[serde(default)]
    pub aad_user_id: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub country_letter_code: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub mailbox_address: Option<String>,
    #[serde(default)]
    pub network_message_id: Option<String>,
    #[serde(default)]
    pub internet_message_id: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub sender_address: Option<String>,
    #[serde(default)]
    pub sender_display_name: Option<String>,
    #[serde(default)]
    pub sender_ip: Option<String>,
    #[serde(default)]
    pub recipient: Option<String>,
    #[serde(default)]
    pub delivery_action: Option<String>,
    #[serde(default)]
    pub delivery_location: Option<String>,
    #[serde(default)]
    pub urls: Vec<String>,
}

const VERDICTS: &[&str] = &["unknown", "suspicious", "malicious", "noThreatsFound"];

/// Evidence types, with the fields each accepts besides `type` and `verdict`.
const EVIDENCE_TYPES: &[(&str, &[&str])] = &[
    ("device", &["deviceId", "deviceName"]),
    (
        "file",
        &[
            "deviceId",
            "deviceName",
            "fileName",
            "filePath",
            "sha1",
            "sha256",
            "md5",
            "fileSize",
        ],
    ),
    (
        "process",
        &[
            "deviceId",
            "deviceName",
            "fileName",
            "filePath",
            "sha1",
            "sha256",
            "processId",
            "processCommandLine",
            "parentProcessId",
            "parentFileName",
            "accountName",
            "domainName",
            "userSid",
            "aadUserId",
            "userPrincipalName",
            "displayName",
        ],
    ),
    (
        "user",
        &[
            "accountName",
            "domainName",
            "userSid",
            "aadUserId",
            "userPrincipalName",
            "displayName",
        ],
    ),
    ("ip", &["ipAddress", "countryLetterCode"]),
    ("url", &["url"]),
    (
        "mailbox",
        &[
            "mailboxAddress",
            "displayName",
            "accountName",
            "userPrincipalName",
        ],
    ),
    (
        "mailMessage",
        &[
            "networkMessageId",
            "internetMessageId",
            "subject",
            "senderAddress",
            "senderDisplayName",
            "senderIp",
            "recipient",
            "deliveryAction",
            "deliveryLocation",
            "urls",
        ],
    ),
];

impl EvidenceSpec {
    /// The fields that are set, by their file spelling.
    fn set_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut check = |name: &'static str, set: bool| {
            if set {
                out.push(name);
            }
        };
        check("deviceId", self.device_id.is_some());
        check("deviceName", self.device_name.is_some());
        check("fileName", self.file_name.is_some());
        check("filePath", self.file_path.is_some());
        check("sha1", self.sha1.is_some());
        check("sha256", self.sha256.is_some());
        check("md5", self.md5.is_some());
        check("fileSize", self.file_size.is_some());
        check("processId", self.process_id.is_some());
        check("processCommandLine", self.process_command_line.is_some());
        check("parentProcessId", self.parent_process_id.is_some());
        check("parentFileName", self.parent_file_name.is_some());
        check("accountName", self.account_name.is_some());
        check("domainName", self.domain_name.is_some());
        check("userSid", self.user_sid.is_some());
        check("aadUserId", self.aad_user_id.is_some());
        check("userPrincipalName", self.user_principal_name.is_some());
        check("displayName", self.display_name.is_some());
        check("ipAddress", self.ip_address.is_some());
        check("countryLetterCode", self.country_letter_code.is_some());
        check("url", self.url.is_some());
        check("mailboxAddress", self.mailbox_address.is_some());
        check("networkMessageId", self.network_message_id.is_some());
        check("internetMessageId", self.internet_message_id.is_some());
        check("subject", self.subject.is_some());
        check("senderAddress", self.sender_address.is_some());
        check("senderDisplayName", self.sender_display_name.is_some());
        check("senderIp", self.sender_ip.is_some());
        check("recipient", self.recipient.is_some());
        check("deliveryAction", self.delivery_action.is_some());
        check("deliveryLocation", self.delivery_location.is_some());
        check("urls", !self.urls.is_empty());
        out
    }
}

/// Collects semantic problems with their locations, so one run reports all of them.
struct Problems<'a> {
    source: &'a str,
    list: Vec<String>,
}

impl Problems<'_> {
    fn at(&mut self, loc: Location, message: impl AsRef<str>) {
        if loc.line() == 0 {
            self.list
                .push(format!("{}: {}", self.source, message.as_ref()));
        } else {
            self.list.push(format!(
                "{}:{}:{}: {}",
                self.source,
                loc.line(),
                loc.column(),
                message.as_ref()
            ));
        }
    }

    fn finish(self) -> Result<(), EmuError> {
        if self.list.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for (i, p) in self.list.iter().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            let _ = write!(text, "{p}");
        }
        Err(EmuError::Data(text))
    }
}

fn check_enum(
    p: &mut Problems<'_>,
    what: &str,
    v: Option<&Spanned<String>>,
    ok: bool,
    allowed: &str,
) {
    if let Some(v) = v
        && !ok
    {
        p.at(
            v.referenced,
            format!("invalid {what} `{}`: expected one of {allowed}", v.value),
        );
    }
}

fn one_of(v: &str, allowed: &[&str]) -> bool {
    allowed.iter().any(|a| a.eq_ignore_ascii_case(v))
}

/// A time in the file: RFC 3339, or `<duration> ago` relative to the anchor.
fn parse_when(text: &str, anchor: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let t = parse_when_unchecked(text, anchor)?;
    if !(1970..=9999).contains(&chrono::Datelike::year(&t)) {
        return Err(format!(
            "invalid time `{text}`: outside the years 1970 to 9999"
        ));
    }
    Ok(t)
}

fn parse_when_unchecked(text: &str, anchor: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Some(t) = parse_time(text) {
        return Ok(ticks(t));
    }
    let rel = text
        .trim()
        .strip_suffix("ago")
        .ok_or_else(|| format!("invalid time `{text}`: expected RFC 3339 (`2026-11-20T10:00:00Z`) or a duration before now (`90m ago`, `2d ago`)"))?;
    let d = crate::template::types::parse_duration(rel.trim())
        .map_err(|e| format!("invalid time `{text}`: {e}"))?;
    Duration::from_std(d)
        .ok()
        .and_then(|d| anchor.checked_sub_signed(d))
        .map(ticks)
        .ok_or_else(|| format!("invalid time `{text}`: too far in the past"))
}

fn check_time(p: &mut Problems<'_>, v: Option<&Spanned<String>>) {
    if let Some(v) = v
        && let Err(e) = parse_when(&v.value, Utc::now())
    {
        p.at(v.referenced, e);
    }
}

impl TenantData {
    /// Replace the world's cast with the file's devices and people, where given.
    #[must_use]
    pub fn apply_to_world(&self, world: World) -> World {
        let people = self
            .people
            .as_ref()
            .map(|ps| ps.iter().map(person).collect::<Vec<_>>());
        let cast_people = people.as_ref().unwrap_or(&world.people);
        let devices = self.devices.as_ref().map(|ds| {
            ds.iter()
                .enumerate()
                .map(|(i, d)| device(d, i, cast_people))
                .collect::<Vec<_>>()
        });
        world.with_cast(devices, people)
    }

    /// Check references from the file into `world` (the generated cast, when the file defines
    /// no devices or people of its own).
    ///
    /// # Errors
    /// A device's `primaryUser` or an evidence's device that the world does not have.
    pub fn check_world(&self, world: &World) -> Result<(), EmuError> {
        let source = self.source.as_deref().unwrap_or("--data");
        // Data built in code skipped `load`: check it the same way.
        if self.source.is_none() {
            self.validate(source)?;
        }
        let mut p = Problems {
            source,
            list: Vec::new(),
        };
        for d in self.devices.iter().flatten() {
            if let Some(r) = &d.primary_user
                && resolve_person(r, &world.people).is_none()
            {
                p.at(
                    d.name.referenced,
                    format!(
                        "device `{}`: primaryUser {} is not a person of the tenant",
                        d.name.value,
                        describe_ref(r)
                    ),
                );
            }
        }
        for inc in self.incidents.iter().flatten() {
            for a in &inc.alerts {
                for e in &a.evidence {
                    if let Err(msg) = evidence_device(e, world) {
                        p.at(e.kind.referenced, msg);
                    }
                }
            }
        }
        p.finish()
    }

    /// Intra-file checks: enum values, times, duplicates, evidence fields, references.
    fn validate(&self, source: &str) -> Result<(), EmuError> {
        let mut p = Problems {
            source,
            list: Vec::new(),
        };
        let mut names = BTreeSet::new();
        let mut ids = BTreeSet::new();
        for d in self.devices.iter().flatten() {
            let name = d.name.value.to_ascii_lowercase();
            if name.trim().is_empty() {
                p.at(d.name.referenced, "a device name must not be empty");
            }
            if !names.insert(name.clone()) {
                p.at(d.name.referenced, format!("duplicate device name `{name}`"));
            }
            let id = device_id(d);
            if let Some(given) = &d.id
                && (given.value.len() != 40 || !given.value.chars().all(|c| c.is_ascii_hexdigit()))
            {
                p.at(
                    given.referenced,
                    format!(
                        "invalid device id `{}`: expected 40 hex digits",
                        given.value
                    ),
                );
            }
            if !ids.insert(id.clone()) {
                let loc = d.id.as_ref().map_or(d.name.referenced, |i| i.referenced);
                p.at(loc, format!("duplicate device id `{id}`"));
            }
            let allowed = |v: &[&str]| format!("`{}`", v.join("`, `"));
            check_enum(
                &mut p,
                "riskScore",
                d.risk_score.as_ref(),
                d.risk_score.as_ref().is_none_or(|v| one_of(&v.value, RISK)),
                &allowed(RISK),
            );
            check_enum(
                &mut p,
                "exposureLevel",
                d.exposure_level.as_ref(),
                d.exposure_level
                    .as_ref()
                    .is_none_or(|v| one_of(&v.value, EXPOSURE)),
                &allowed(EXPOSURE),
            );
            check_enum(
                &mut p,
                "healthStatus",
                d.health_status.as_ref(),
                d.health_status
                    .as_ref()
                    .is_none_or(|v| one_of(&v.value, HEALTH)),
                &allowed(HEALTH),
            );
            if let Some(days) = d.first_seen_days_ago
                && !(0..=36_500).contains(&days)
            {
                p.at(
                    d.name.referenced,
                    format!(
                        "device `{}`: firstSeenDaysAgo {days} is outside 0..=36500",
                        d.name.value
                    ),
                );
            }
            if let (Some(r), Some(people)) = (&d.primary_user, &self.people) {
                let cast: Vec<Person> = people.iter().map(person).collect();
                if resolve_person(r, &cast).is_none() {
                    p.at(
                        d.name.referenced,
                        format!(
                            "device `{}`: primaryUser {} is not one of the file's people",
                            d.name.value,
                            describe_ref(r)
                        ),
                    );
                }
            }
        }
        let mut accounts = BTreeSet::new();
        for person_spec in self.people.iter().flatten() {
            let a = person_spec.account_name.value.to_ascii_lowercase();
            if a.trim().is_empty() {
                p.at(
                    person_spec.account_name.referenced,
                    "an accountName must not be empty",
                );
            }
            if !accounts.insert(a.clone()) {
                p.at(
                    person_spec.account_name.referenced,
                    format!("duplicate person `{a}`"),
                );
            }
        }
        let mut incident_ids = BTreeSet::new();
        let mut alert_ids = BTreeSet::new();
        for inc in self.incidents.iter().flatten() {
            if let Some(id) = &inc.id {
                if id.value <= 0 {
                    p.at(id.referenced, "an incident id must be a positive number");
                }
                if !incident_ids.insert(id.value) {
                    p.at(id.referenced, format!("duplicate incident id {}", id.value));
                }
            }
        }
        for inc in self.incidents.iter().flatten() {
            validate_incident(&mut p, inc, &incident_ids, &mut alert_ids);
        }
        p.finish()
    }
}

fn describe_ref(r: &PersonRef) -> String {
    match r {
        PersonRef::Index(i) => format!("#{i}"),
        PersonRef::Name(n) => format!("`{n}`"),
    }
}

fn resolve_person(r: &PersonRef, people: &[Person]) -> Option<usize> {
    match r {
        PersonRef::Index(i) => (*i < people.len()).then_some(*i),
        PersonRef::Name(n) => people
            .iter()
            .position(|p| p.account_name.eq_ignore_ascii_case(n) || p.upn.eq_ignore_ascii_case(n)),
    }
}

fn status_values() -> String {
    "`active`, `inProgress`, `resolved`, `redirected`".into()
}

fn validate_incident(
    p: &mut Problems<'_>,
    inc: &IncidentSpec,
    incident_ids: &BTreeSet<i64>,
    alert_ids: &mut BTreeSet<String>,
) {
    let list = |v: &[&str]| format!("`{}`", v.join("`, `"));
    let sev = inc.severity.as_ref();
    check_enum(
        p,
        "severity",
        sev,
        sev.is_none_or(|v| Severity::parse(&v.value).is_some()),
        &list(Severity::GRAPH_VALUES),
    );
    let st = inc.status.as_ref();
    let status = st.and_then(|v| IncidentStatus::parse(&v.value));
    check_enum(
        p,
        "status",
        st,
        st.is_none_or(|_| status.is_some()),
        &status_values(),
    );
    let cl = inc.classification.as_ref();
    let class = cl.and_then(|v| Classification::parse(&v.value));
    check_enum(
        p,
        "classification",
        cl,
        cl.is_none_or(|_| class.is_some()),
        &list(Classification::GRAPH_VALUES),
    );
    let de = inc.determination.as_ref();
    let det = de.and_then(|v| Determination::parse(&v.value));
    check_enum(
        p,
        "determination",
        de,
        de.is_none_or(|_| det.is_some()),
        &list(Determination::GRAPH_VALUES),
    );
    if let (Some(d), Some(loc)) = (det, de)
        && !d.fits(class.unwrap_or(Classification::Unknown))
    {
        p.at(
            loc.referenced,
            format!(
                "determination `{}` does not apply to classification `{}`",
                d.graph(),
                class.unwrap_or(Classification::Unknown).graph()
            ),
        );
    }
    check_time(p, inc.created_date_time.as_ref());
    check_time(p, inc.last_update_date_time.as_ref());
    for c in &inc.comments {
        check_time(p, c.created_date_time.as_ref());
    }
    if let Some(r) = &inc.redirect_incident_id {
        if !incident_ids.contains(&r.value) {
            p.at(
                r.referenced,
                format!(
                    "redirectIncidentId {} names no incident of the file (give that incident an `id`)",
                    r.value
                ),
            );
        }
        if status.is_some_and(|s| s != IncidentStatus::Redirected) {
            p.at(
                r.referenced,
                "an incident with a redirectIncidentId must have status `redirected`",
            );
        }
    }
    if inc.alerts.is_empty() {
        p.at(
            inc.display_name.referenced,
            format!(
                "incident `{}` has no alerts: give it at least one",
                inc.display_name.value
            ),
        );
    }
    for a in &inc.alerts {
        if let Some(id) = &a.id
            && !alert_ids.insert(id.value.clone())
        {
            p.at(id.referenced, format!("duplicate alert id `{}`", id.value));
        }
        let sev = a.severity.as_ref();
        check_enum(
            p,
            "severity",
            sev,
            sev.is_none_or(|v| Severity::parse(&v.value).is_some()),
            &list(Severity::GRAPH_VALUES),
        );
        let st = a.status.as_ref();
        check_enum(
            p,
            "alert status",
            st,
            st.is_none_or(|v| AlertStatus::parse(&v.value).is_some()),
            "`new`, `inProgress`, `resolved`",
        );
        let cl = a.classification.as_ref();
        check_enum(
            p,
            "classification",
            cl,
            cl.is_none_or(|v| Classification::parse(&v.value).is_some()),
            &list(Classification::GRAPH_VALUES),
        );
        let de = a.determination.as_ref();
        check_enum(
            p,
            "determination",
            de,
            de.is_none_or(|v| Determination::parse(&v.value).is_some()),
            &list(Determination::GRAPH_VALUES),
        );
        let ss = a.service_source.as_ref();
        check_enum(
            p,
            "serviceSource",
            ss,
            ss.is_none_or(|v| ServiceSource::parse(&v.value).is_some()),
            &list(ServiceSource::GRAPH_VALUES),
        );
        let ds = a.detection_source.as_ref();
        check_enum(
            p,
            "detectionSource",
            ds,
            ds.is_none_or(|v| DetectionSource::parse(&v.value).is_some()),
            &list(DetectionSource::GRAPH_VALUES),
        );
        check_time(p, a.created_date_time.as_ref());
        check_time(p, a.first_activity_date_time.as_ref());
        check_time(p, a.last_activity_date_time.as_ref());
        for c in &a.comments {
            check_time(p, c.created_date_time.as_ref());
        }
        for e in &a.evidence {
            validate_evidence(p, e);
        }
    }
}

fn validate_evidence(p: &mut Problems<'_>, e: &EvidenceSpec) {
    let loc = e.kind.referenced;
    let Some((kind, allowed)) = EVIDENCE_TYPES
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(e.kind.value.trim_end_matches("Evidence")))
    else {
        let kinds: Vec<&str> = EVIDENCE_TYPES.iter().map(|(k, _)| *k).collect();
        p.at(
            loc,
            format!(
                "unknown evidence type `{}`: expected one of `{}`",
                e.kind.value,
                kinds.join("`, `")
            ),
        );
        return;
    };
    for f in e.set_fields() {
        if !allowed.contains(&f) {
            p.at(loc, format!("`{f}` does not apply to `{kind}` evidence"));
        }
    }
    if let Some(v) = &e.verdict
        && !one_of(v, VERDICTS)
    {
        p.at(
            loc,
            format!(
                "invalid verdict `{v}`: expected one of `{}`",
                VERDICTS.join("`, `")
            ),
        );
    }
    let need = |p: &mut Problems<'_>, ok: bool, what: &str| {
        if !ok {
            p.at(loc, format!("`{kind}` evidence needs {what}"));
        }
    };
    match *kind {
        "device" => need(
            p,
            e.device_id.is_some() || e.device_name.is_some(),
            "`deviceId` or `deviceName`",
        ),
        "file" => need(p, e.file_name.is_some(), "`fileName`"),
        "process" => need(p, e.process_command_line.is_some(), "`processCommandLine`"),
        "user" => need(
            p,
            e.account_name.is_some() || e.user_principal_name.is_some(),
            "`accountName` or `userPrincipalName`",
        ),
        "ip" => need(p, e.ip_address.is_some(), "`ipAddress`"),
        "url" => need(p, e.url.is_some(), "`url`"),
        "mailbox" => need(
            p,
            e.mailbox_address.is_some() || e.user_principal_name.is_some(),
            "`mailboxAddress` or `userPrincipalName`",
        ),
        "mailMessage" => need(
            p,
            e.subject.is_some() && e.sender_address.is_some() && e.recipient.is_some(),
            "`subject`, `senderAddress` and `recipient`",
        ),
        _ => {}
    }
}

/// The device an evidence names, checked against the world (`Ok(None)` when it names none).
fn evidence_device<'w>(e: &EvidenceSpec, world: &'w World) -> Result<Option<&'w Device>, String> {
    if let Some(id) = &e.device_id {
        return world
            .devices
            .iter()
            .find(|d| d.id.eq_ignore_ascii_case(&id.value))
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "evidence names device id `{}`, which is not a device of the tenant",
                    id.value
                )
            });
    }
    if let Some(name) = &e.device_name {
        let short = |n: &str| n.split('.').next().unwrap_or(n).to_ascii_lowercase();
        return world
            .devices
            .iter()
            .find(|d| {
                d.name.eq_ignore_ascii_case(&name.value)
                    || short(&d.name) == name.value.to_ascii_lowercase()
            })
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "evidence names device `{}`, which is not a device of the tenant",
                    name.value
                )
            });
    }
    Ok(None)
}

fn device_id(d: &DeviceSpec) -> String {
    match &d.id {
        Some(id) => id.value.to_ascii_lowercase(),
        None => {
            let digest = Sha1::digest(d.name.value.to_ascii_lowercase().as_bytes());
            digest.iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
        }
    }
}

fn canonical(v: Option<&Spanned<String>>, allowed: &[&str], default: &str) -> String {
    v.and_then(|v| allowed.iter().find(|a| a.eq_ignore_ascii_case(&v.value)))
        .map_or_else(|| default.to_string(), |a| (*a).to_string())
}

fn device(spec: &DeviceSpec, index: usize, people: &[Person]) -> Device {
    let name = spec.name.value.to_ascii_lowercase();
    let mut rng = Rng::new(0, &format!("data-device:{name}"));
    let linux = spec
        .os_platform
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("linux"));
    let server = spec
        .os_platform
        .as_deref()
        .is_some_and(|p| p.starts_with("WindowsServer"))
        || linux;
    Device {
        id: device_id(spec),
        os_platform: spec
            .os_platform
            .clone()
            .unwrap_or_else(|| "Windows11".into()),
        os_version: spec.os_version.clone().unwrap_or_else(|| {
            if linux {
                "Ubuntu 22.04".into()
            } else {
                "23H2".into()
            }
        }),
        os_build: spec.os_build.unwrap_or(if linux { 0 } else { 22631 }),
        os_processor: spec.os_processor.clone().unwrap_or_else(|| "x64".into()),
        ip_address: spec
            .ip_address
            .clone()
            .unwrap_or_else(|| format!("10.9.{}.{}", index / 200, index % 200 + 10)),
        external_ip_address: spec
            .external_ip_address
            .clone()
            .unwrap_or_else(|| format!("198.51.100.{}", rng.range(2, 250))),
        mac_address: spec
            .mac_address
            .clone()
            .unwrap_or_else(|| rng.hex(12).to_uppercase()),
        aad_device_id: spec.aad_device_id.clone().unwrap_or_else(|| rng.guid()),
        device_type: spec.device_type.clone().unwrap_or_else(|| {
            if server {
                "Server".into()
            } else {
                "Workstation".into()
            }
        }),
        risk_score: canonical(spec.risk_score.as_ref(), RISK, "Low"),
        exposure_level: canonical(spec.exposure_level.as_ref(), EXPOSURE, "Low"),
        health_status: canonical(spec.health_status.as_ref(), HEALTH, "Active"),
        rbac_group_name: spec.rbac_group_name.clone().unwrap_or_else(|| {
            if server {
                "Servers".into()
            } else {
                "Workstations".into()
            }
        }),
        rbac_group_id: spec.rbac_group_id.unwrap_or(if server { 12 } else { 11 }),
        machine_tags: spec.machine_tags.clone(),
        primary_user: spec
            .primary_user
            .as_ref()
            .and_then(|r| resolve_person(r, people)),
        first_seen_days_ago: spec.first_seen_days_ago.unwrap_or(90),
        name,
    }
}

fn person(spec: &PersonSpec) -> Person {
    let account = spec.account_name.value.to_ascii_lowercase();
    let mut rng = Rng::new(0, &format!("data-person:{account}"));
    Person {
        display_name: spec.display_name.clone().unwrap_or_else(|| account.clone()),
        upn: spec
            .upn
            .clone()
            .unwrap_or_else(|| format!("{account}@{TENANT_DOMAIN}")),
        sid: spec.sid.clone().unwrap_or_else(|| {
            format!(
                "S-1-5-21-1004336348-1177238915-682003330-{}",
                rng.range(1100, 9999)
            )
        }),
        object_id: spec.object_id.clone().unwrap_or_else(|| rng.guid()),
        department: spec.department.clone().unwrap_or_else(|| "IT".into()),
        account_name: account,
    }
}

/// Load and validate a data file (JSON or YAML).
///
/// # Errors
/// When the path is a directory, too large, empty, not UTF-8, not a tenant description, or
/// describes an inconsistent tenant; the message names the file, line and column.
pub fn load(path: &Path) -> Result<TenantData, EmuError> {
    let shown = path.display().to_string();
    let io = |source| EmuError::Io {
        path: shown.clone(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(EmuError::Data(format!(
            "{shown}: is a directory; expected a JSON or YAML tenant description file"
        )));
    }
    check_size(&shown, meta.len())?;
    let bytes = std::fs::read(path).map_err(io)?;
    parse(&bytes, &shown)
}

fn check_size(shown: &str, len: u64) -> Result<(), EmuError> {
    if len > MAX_DATA_FILE_BYTES {
        return Err(EmuError::Data(format!(
            "{shown}: is {len} bytes; data files are limited to {} MiB",
            MAX_DATA_FILE_BYTES / (1024 * 1024)
        )));
    }
    Ok(())
}

/// Parse and validate data-file contents; `source` names them in messages.
///
/// # Errors
/// As [`load`].
pub fn parse(bytes: &[u8], source: &str) -> Result<TenantData, EmuError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        EmuError::Data(format!(
            "{source}: is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            e.valid_up_to()
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(EmuError::Data(format!(
            "{source}: is empty; expected a tenant description (devices, people, incidents, tables …)"
        )));
    }
    let mut data: TenantData = serde_saphyr::from_str(text).map_err(|e| {
        let rendered = e.render_with_options(serde_saphyr::render_options! {
            source_name: Some(source),
        });
        let rendered = rendered.strip_prefix("error: ").unwrap_or(&rendered);
        EmuError::Data(format!("{source}: {rendered}"))
    })?;
    data.validate(source)?;
    data.source = Some(source.to_string());
    Ok(data)
}

fn spec_account(e: &EvidenceSpec, world: &World) -> Account {
    let known = world.people.iter().find(|p| {
        e.account_name
            .as_deref()
            .is_some_and(|a| p.account_name.eq_ignore_ascii_case(a))
            || e.user_principal_name
                .as_deref()
                .is_some_and(|u| p.upn.eq_ignore_ascii_case(u))
    });
    let mut a = known.map(account).unwrap_or_else(|| Account {
        account_name: e
            .account_name
            .clone()
            .or_else(|| {
                e.user_principal_name
                    .as_deref()
                    .and_then(|u| u.split('@').next())
                    .map(str::to_string)
            })
            .unwrap_or_default(),
        domain_name: Some(NETBIOS_DOMAIN.to_string()),
        ..Account::default()
    });
    if let Some(v) = &e.domain_name {
        a.domain_name = Some(v.clone());
    }
    if let Some(v) = &e.user_sid {
        a.sid = Some(v.clone());
    }
    if let Some(v) = &e.aad_user_id {
        a.aad_user_id = Some(v.clone());
    }
    if let Some(v) = &e.user_principal_name {
        a.upn = Some(v.clone());
    }
    if let Some(v) = &e.display_name {
        a.display_name = Some(v.clone());
    }
    a
}

fn build_evidence(
    e: &EvidenceSpec,
    created: DateTime<Utc>,
    world: &World,
    rng: &mut Rng,
) -> Result<Evidence, String> {
    let dev = evidence_device(e, world)?;
    let device_id = dev.map(|d| d.id.clone());
    let kind_name = e
        .kind
        .value
        .trim_end_matches("Evidence")
        .to_ascii_lowercase();
    let file = || FileDetails {
        file_name: e.file_name.clone().unwrap_or_default(),
        file_path: e.file_path.clone().unwrap_or_default(),
        sha1: e.sha1.clone(),
        sha256: e.sha256.clone(),
        md5: e.md5.clone(),
        file_size: e.file_size,
        publisher: None,
    };
    let kind = match kind_name.as_str() {
        "device" => EvidenceKind::Device {
            device_id: device_id.unwrap_or_default(),
        },
        "file" => EvidenceKind::File {
            file: file(),
            device_id,
        },
        "process" => {
            let mut image = file();
            if image.file_name.is_empty() {
                image.file_name = e
                    .process_command_line
                    .as_deref()
                    .and_then(|c| c.split_whitespace().next())
                    .unwrap_or("unknown.exe")
                    .trim_matches('"')
                    .to_string();
            }
            let has_account = e.account_name.is_some() || e.user_principal_name.is_some();
            EvidenceKind::Process {
                process_id: e.process_id.unwrap_or_else(|| rng.range(1000, 19_999)),
                command_line: e.process_command_line.clone().unwrap_or_default(),
                created,
                parent_process_id: e.parent_process_id.unwrap_or_else(|| rng.range(500, 999)),
                parent_created: None,
                image,
                parent_image: e.parent_file_name.as_ref().map(|n| FileDetails {
                    file_name: n.clone(),
                    ..FileDetails::default()
                }),
                account: has_account.then(|| spec_account(e, world)),
                device_id,
            }
        }
        "user" => EvidenceKind::User {
            account: spec_account(e, world),
        },
        "ip" => EvidenceKind::Ip {
            address: e.ip_address.clone().unwrap_or_default(),
            country: e.country_letter_code.clone(),
        },
        "url" => EvidenceKind::Url {
            url: e.url.clone().unwrap_or_default(),
        },
        "mailbox" => {
            let account = spec_account(e, world);
            EvidenceKind::Mailbox {
                primary_address: e
                    .mailbox_address
                    .clone()
                    .or_else(|| account.upn.clone())
                    .unwrap_or_default(),
                display_name: e
                    .display_name
                    .clone()
                    .or_else(|| account.display_name.clone()),
                account: Some(account),
            }
        }
        _ => EvidenceKind::Message {
            network_message_id: e.network_message_id.clone().unwrap_or_else(|| rng.guid()),
            internet_message_id: e
                .internet_message_id
                .clone()
                .unwrap_or_else(|| format!("<{}@mail.example>", rng.hex(20))),
            subject: e.subject.clone().unwrap_or_default(),
            sender_address: e.sender_address.clone().unwrap_or_default(),
            sender_display_name: e.sender_display_name.clone(),
            sender_ip: e.sender_ip.clone(),
            recipient: e.recipient.clone().unwrap_or_default(),
            delivery_action: e
                .delivery_action
                .clone()
                .unwrap_or_else(|| "Delivered".into()),
            delivery_location: e
                .delivery_location
                .clone()
                .unwrap_or_else(|| "Inbox".into()),
            received: created,
            urls: e.urls.clone(),
            threats: Vec::new(),
        },
    };
    Ok(Evidence {
        created,
        verdict: e.verdict.clone().unwrap_or_else(|| "suspicious".into()),
        remediation_status: "none".into(),
        roles: Vec::new(),
        detailed_roles: Vec::new(),
        kind,
    })
}

fn when(
    v: Option<&Spanned<String>>,
    default: DateTime<Utc>,
    anchor: DateTime<Utc>,
) -> DateTime<Utc> {
    v.and_then(|v| parse_when(&v.value, anchor).ok())
        .unwrap_or(default)
}

fn comments(
    specs: &[CommentSpec],
    default_at: DateTime<Utc>,
    anchor: DateTime<Utc>,
) -> Vec<Comment> {
    specs
        .iter()
        .map(|c| Comment {
            comment: c.comment.clone(),
            created_by: c
                .created_by
                .clone()
                .unwrap_or_else(|| generate::ANALYSTS[0].to_string()),
            created: when(c.created_date_time.as_ref(), default_at, anchor),
        })
        .collect()
}

/// The incidents of a data file, built against the world it was applied to; newest first.
///
/// # Errors
/// When an alert's evidence names a device the world does not have.
pub fn build_incidents(data: &TenantData, world: &World) -> Result<Vec<Incident>, EmuError> {
    data.check_world(world)?;
    let source = data.source.as_deref().unwrap_or("--data");
    let anchor = world.anchor;
    let mut rng = Rng::new(world.seed, "data-incidents");
    let mut out = Vec::new();
    for spec in data.incidents.iter().flatten() {
        let created = when(
            spec.created_date_time.as_ref(),
            ticks(anchor - Duration::hours(1)),
            anchor,
        );
        let status = spec
            .status
            .as_ref()
            .and_then(|s| IncidentStatus::parse(&s.value))
            .unwrap_or(if spec.redirect_incident_id.is_some() {
                IncidentStatus::Redirected
            } else {
                IncidentStatus::Active
            });
        let severity = spec
            .severity
            .as_ref()
            .and_then(|s| Severity::parse(&s.value))
            .unwrap_or(Severity::Medium);
        let classification = spec
            .classification
            .as_ref()
            .and_then(|s| Classification::parse(&s.value))
            .unwrap_or(Classification::Unknown);
        let determination = spec
            .determination
            .as_ref()
            .and_then(|s| Determination::parse(&s.value))
            .unwrap_or(Determination::Unknown);
        let mut alerts = Vec::new();
        for a in &spec.alerts {
            let a_created = when(a.created_date_time.as_ref(), created, anchor);
            let service = a
                .service_source
                .as_ref()
                .and_then(|s| ServiceSource::parse(&s.value))
                .unwrap_or(ServiceSource::Endpoint);
            let detection = a
                .detection_source
                .as_ref()
                .and_then(|s| DetectionSource::parse(&s.value))
                .unwrap_or(match service {
                    ServiceSource::Office365 => DetectionSource::Office365,
                    ServiceSource::Identity => DetectionSource::Identity,
                    ServiceSource::CloudApps => DetectionSource::CloudAppSecurity,
                    ServiceSource::EntraIdProtection => DetectionSource::EntraIdProtection,
                    ServiceSource::Xdr => DetectionSource::Xdr,
                    _ => DetectionSource::Edr,
                });
            let alert_status = a
                .status
                .as_ref()
                .and_then(|s| AlertStatus::parse(&s.value))
                .unwrap_or(match status {
                    IncidentStatus::Resolved => AlertStatus::Resolved,
                    IncidentStatus::InProgress => AlertStatus::InProgress,
                    _ => AlertStatus::New,
                });
            let mut evidence = Vec::new();
            for e in &a.evidence {
                let built = build_evidence(e, a_created, world, &mut rng).map_err(|m| {
                    let loc = e.kind.referenced;
                    EmuError::Data(format!("{source}:{}:{}: {m}", loc.line(), loc.column()))
                })?;
                evidence.push(built);
            }
            let id = match &a.id {
                Some(id) => id.value.clone(),
                None => generate::alert_id(&mut rng, service, a_created),
            };
            alerts.push(Alert {
                id,
                incident_id: 0,
                title: a.title.value.clone(),
                description: a
                    .description
                    .clone()
                    .unwrap_or_else(|| a.title.value.clone()),
                recommended_actions: a.recommended_actions.clone().unwrap_or_default(),
                category: a
                    .category
                    .clone()
                    .unwrap_or_else(|| "SuspiciousActivity".into()),
                service_source: service,
                detection_source: detection,
                detector_id: Rng::new(world.seed, &format!("detector:{}", a.title.value)).guid(),
                status: alert_status,
                severity: a
                    .severity
                    .as_ref()
                    .and_then(|s| Severity::parse(&s.value))
                    .unwrap_or(severity),
                classification: a
                    .classification
                    .as_ref()
                    .and_then(|s| Classification::parse(&s.value))
                    .unwrap_or(classification),
                determination: a
                    .determination
                    .as_ref()
                    .and_then(|s| Determination::parse(&s.value))
                    .unwrap_or(determination),
                assigned_to: a.assigned_to.clone().or_else(|| spec.assigned_to.clone()),
                actor_name: a.actor_display_name.clone(),
                threat_display_name: a.threat_display_name.clone(),
                threat_family_name: a.threat_family_name.clone(),
                mitre_techniques: a.mitre_techniques.clone(),
                created: a_created,
                last_update: a_created,
                resolved: (alert_status == AlertStatus::Resolved).then_some(a_created),
                first_activity: when(a.first_activity_date_time.as_ref(), a_created, anchor),
                last_activity: when(a.last_activity_date_time.as_ref(), a_created, anchor),
                investigation_id: None,
                investigation_state: "Queued".into(),
                comments: comments(&a.comments, a_created, anchor),
                system_tags: Vec::new(),
                evidence,
            });
        }
        out.push(Incident {
            id: spec.id.as_ref().map_or(0, |i| i.value),
            display_name: spec.display_name.value.clone(),
            description: spec.description.clone().unwrap_or_default(),
            created,
            last_update: when(spec.last_update_date_time.as_ref(), created, anchor),
            assigned_to: spec.assigned_to.clone(),
            classification,
            determination,
            status,
            severity,
            redirect_incident_id: spec.redirect_incident_id.as_ref().map(|r| r.value),
            custom_tags: spec.custom_tags.clone(),
            system_tags: spec.system_tags.clone(),
            comments: comments(&spec.comments, created, anchor),
            alerts,
        });
    }
    // Ids the file leaves out continue after the largest id it gives.
    let mut next = out.iter().map(|i| i.id).max().unwrap_or(0).max(1000);
    out.sort_by_key(|i| i.created);
    for inc in &mut out {
        if inc.id == 0 {
            next += 1;
            inc.id = next;
        }
        for a in &mut inc.alerts {
            a.incident_id = inc.id;
        }
    }
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse(text.as_bytes(), "t.yaml") {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn minimal_file_loads() {
        let d = parse(
            b"devices:\n  - name: ws-900.corp.contoso.example\n",
            "t.yaml",
        )
        .unwrap();
        let dev = device(&d.devices.as_ref().unwrap()[0], 0, &[]);
        assert_eq!(dev.id.len(), 40);
        assert_eq!(dev.os_platform, "Windows11");
    }

    #[test]
    fn json_loads_too() {
        let d = parse(br#"{"people": [{"accountName": "zed"}]}"#, "t.json").unwrap();
        assert_eq!(person(&d.people.unwrap()[0]).upn, "zed@contoso.example");
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let e = err("devices:\n  - name: a\n    osBuild: many\n");
        assert!(e.starts_with("t.yaml:"), "{e}");
        assert!(e.contains("line 3 column 14: invalid i64"), "{e}");
        assert!(e.contains("--> t.yaml:3:14"), "{e}");
        let e = err("devices:\n  - nmae: a\n");
        assert!(e.contains("nmae"), "{e}");
    }

    #[test]
    fn semantic_errors_have_locations() {
        let e = err("devices:\n  - name: a\n    riskScore: Severe\n  - name: A\n");
        assert!(e.contains("t.yaml:3:16: invalid riskScore `Severe`"), "{e}");
        assert!(e.contains("t.yaml:4:11: duplicate device name `a`"), "{e}");
    }

    #[test]
    fn empty_and_non_utf8_files_are_refused() {
        assert!(err("  \n").contains("is empty"));
        let e = parse(&[0x66, 0xff, 0xfe], "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not UTF-8") && e.contains("offset 1"), "{e}");
    }

    #[test]
    fn oversized_files_are_refused_before_reading() {
        assert!(check_size("big.yaml", MAX_DATA_FILE_BYTES).is_ok());
        let e = check_size("big.yaml", MAX_DATA_FILE_BYTES + 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("big.yaml") && e.contains("64 MiB"), "{e}");
    }

    #[test]
    fn data_built_in_code_is_checked_too() {
        let mut d = parse(
            b"incidents:\n  - displayName: x\n    alerts:\n      - title: y\n",
            "t.yaml",
        )
        .unwrap();
        d.source = None;
        let w = World::generate(1, Utc::now());
        assert!(d.check_world(&w).is_ok());
        d.incidents.as_mut().unwrap()[0].alerts.clear();
        let e = d.check_world(&w).unwrap_err().to_string();
        assert!(e.contains("has no alerts"), "{e}");
    }

    #[test]
    fn evidence_fields_must_fit_the_type() {
        let e = err(
            "incidents:\n  - displayName: x\n    alerts:\n      - title: y\n        evidence:\n          - type: ip\n            url: http://x\n          - type: router\n",
        );
        assert!(
            e.contains("t.yaml:6:19: `url` does not apply to `ip` evidence"),
            "{e}"
        );
        assert!(
            e.contains("t.yaml:6:19: `ip` evidence needs `ipAddress`"),
            "{e}"
        );
        assert!(e.contains("unknown evidence type `router`"), "{e}");
    }

    #[test]
    fn relative_times() {
        let anchor = parse_time("2026-11-25T12:00:00Z").unwrap();
        assert_eq!(
            parse_when("90m ago", anchor).unwrap(),
            parse_time("2026-11-25T10:30:00Z").unwrap()
        );
        assert!(parse_when("yesterday", anchor).is_err());
        assert!(parse_when("99999999999d ago", anchor).is_err());
        assert!(parse_when("95000000d ago", anchor).is_err());
    }
}
