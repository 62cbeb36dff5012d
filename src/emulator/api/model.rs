//! The tenant's incidents and alerts in one neutral model, rendered two ways: the Graph security
//! API's shape (camelCase enums, string ids, typed `evidence`) and the Defender XDR API's shape
//! (PascalCase enums, numeric `incidentId`, `devices` and `entities` with every key present).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::time::format;
use crate::emulator::world::Device;

/// Declares an enum with its Graph (camelCase) and Defender (PascalCase) spellings plus accepted
/// aliases; parsing ignores case, as the services' .NET enum parsing does.
macro_rules! api_enum {
    ($(#[$doc:meta])* $name:ident as $gtype:literal {
        $($v:ident = $g:literal / $d:literal $(| $alias:literal)*),+ $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($v),+ }

        impl $name {
            /// Every member.
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            /// The Graph type name, for error messages.
            pub const GRAPH_TYPE: &'static str = $gtype;
            /// Graph spellings, for `$filter` validation.
            pub const GRAPH_VALUES: &'static [&'static str] = &[$($g),+];
            /// Defender XDR spellings, for `$filter` validation.
            pub const DEFENDER_VALUES: &'static [&'static str] = &[$($d),+];

            /// The Graph spelling.
            #[must_use]
            pub fn graph(self) -> &'static str {
                match self { $($name::$v => $g),+ }
            }

            /// The Defender XDR spelling.
            #[must_use]
            pub fn defender(self) -> &'static str {
                match self { $($name::$v => $d),+ }
            }

            /// Either spelling or an alias, any case.
            #[must_use]
            pub fn parse(s: &str) -> Option<$name> {
                $(
                    if s.eq_ignore_ascii_case($g) || s.eq_ignore_ascii_case($d)
                        $(|| s.eq_ignore_ascii_case($alias))*
                    {
                        return Some($name::$v);
                    }
                )+
                None
            }
        }
    };
}

api_enum! {
    /// Incident and alert severity.
    Severity as "microsoft.graph.security.alertSeverity" {
        Unknown = "unknown" / "UnSpecified",
        Informational = "informational" / "Informational",
        Low = "low" / "Low",
        Medium = "medium" / "Medium",
        High = "high" / "High",
    }
}

api_enum! {
    /// Incident status.
    IncidentStatus as "microsoft.graph.security.incidentStatus" {
        Active = "active" / "Active",
        InProgress = "inProgress" / "InProgress",
        Resolved = "resolved" / "Resolved",
        Redirected = "redirected" / "Redirected",
        AwaitingAction = "awaitingAction" / "AwaitingAction",
    }
}

api_enum! {
    /// Alert status.
    AlertStatus as "microsoft.graph.security.alertStatus" {
        Unknown = "unknown" / "Unknown",
        New = "new" / "New",
        InProgress = "inProgress" / "InProgress",
        Resolved = "resolved" / "Resolved",
    }
}

api_enum! {
    /// Classification of an incident or alert.
    Classification as "microsoft.graph.security.alertClassification" {
        Unknown = "unknown" / "Unknown",
        FalsePositive = "falsePositive" / "FalsePositive",
        TruePositive = "truePositive" / "TruePositive",
        InformationalExpectedActivity = "informationalExpectedActivity" / "InformationalExpectedActivity",
    }
}

api_enum! {
    /// Determination of an incident or alert. Graph spellings follow the service metadata;
    /// Defender spellings follow the update-incident page; the other documented spellings are
    /// accepted as aliases (`defender-api.md` §3.4, §4.4).
    Determination as "microsoft.graph.security.alertDetermination" {
        Unknown = "unknown" / "NotAvailable",
        Apt = "apt" / "Apt",
        Malware = "malware" / "Malware",
        SecurityPersonnel = "securityPersonnel" / "SecurityPersonnel",
        SecurityTesting = "securityTesting" / "SecurityTesting",
        UnwantedSoftware = "unwantedSoftware" / "UnwantedSoftware",
        Other = "other" / "Other",
        MultiStagedAttack = "multiStagedAttack" / "MultiStagedAttack",
        CompromisedAccount = "compromisedAccount" / "CompromisedAccount" | "compromisedUser",
        Phishing = "phishing" / "Phishing",
        MaliciousUserActivity = "maliciousUserActivity" / "MaliciousUserActivity",
        NotMalicious = "notMalicious" / "Clean",
        NotEnoughDataToValidate = "notEnoughDataToValidate" / "NoEnoughDataToValidate" | "insufficientData",
        ConfirmedActivity = "confirmedActivity" / "ConfirmedActivity" | "confirmedUserActivity",
        LineOfBusinessApplication = "lineOfBusinessApplication" / "LineOfBusinessApplication",
    }
}

impl Determination {
    /// Whether this determination may be set together with `class`. `Other` fits every
    /// classification; `Apt` and `SecurityPersonnel` are read-only legacy values.
    #[must_use]
    pub fn fits(self, class: Classification) -> bool {
        use Determination as D;
        match class {
            Classification::Unknown => self == D::Unknown,
            Classification::TruePositive => matches!(
                self,
                D::MultiStagedAttack
                    | D::MaliciousUserActivity
                    | D::CompromisedAccount
                    | D::Malware
                    | D::Phishing
                    | D::UnwantedSoftware
                    | D::Other
                    | D::Unknown
            ),
            Classification::InformationalExpectedActivity => matches!(
                self,
                D::SecurityTesting
                    | D::LineOfBusinessApplication
                    | D::ConfirmedActivity
                    | D::Other
                    | D::Unknown
            ),
            Classification::FalsePositive => matches!(
                self,
                D::NotMalicious | D::NotEnoughDataToValidate | D::Other | D::Unknown
            ),
        }
    }

    /// Deprecated for writes around August 29, 2022.
    #[must_use]
    pub fn deprecated(self) -> bool {
        matches!(self, Determination::Apt | Determination::SecurityPersonnel)
    }
}

api_enum! {
    /// The product that raised an alert.
    ServiceSource as "microsoft.graph.security.serviceSource" {
        Unknown = "unknown" / "Unknown",
        Endpoint = "microsoftDefenderForEndpoint" / "MicrosoftDefenderForEndpoint" | "MicrosoftDefenderATP",
        Identity = "microsoftDefenderForIdentity" / "MicrosoftDefenderForIdentity",
        CloudApps = "microsoftDefenderForCloudApps" / "MicrosoftCloudAppSecurity",
        Office365 = "microsoftDefenderForOffice365" / "OfficeATP",
        Xdr = "microsoft365Defender" / "Microsoft365Defender",
        EntraIdProtection = "azureAdIdentityProtection" / "AzureAdIdentityProtection",
    }
}

api_enum! {
    /// The detection technology behind an alert.
    DetectionSource as "microsoft.graph.security.detectionSource" {
        Unknown = "unknown" / "Unknown",
        Edr = "microsoftDefenderForEndpoint" / "WindowsDefenderAtp",
        Antivirus = "antivirus" / "WindowsDefenderAv",
        SmartScreen = "smartScreen" / "WindowsDefenderSmartScreen",
        CustomTi = "customTi" / "CustomerTI",
        Office365 = "microsoftDefenderForOffice365" / "OfficeATP",
        AutomatedInvestigation = "automatedInvestigation" / "AutomatedInvestigation",
        CustomDetection = "customDetection" / "CustomDetection",
        Identity = "microsoftDefenderForIdentity" / "AzureATP",
        CloudAppSecurity = "cloudAppSecurity" / "MCAS",
        Xdr = "microsoft365Defender" / "Microsoft365Defender",
        EntraIdProtection = "azureAdIdentityProtection" / "AzureAdIdentityProtection",
        Manual = "manual" / "Manual",
    }
}

/// A comment on an incident or alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    pub comment: String,
    pub created_by: String,
    pub created: DateTime<Utc>,
}

impl Comment {
    fn graph(&self) -> Value {
        json!({
            "comment": self.comment,
            "createdByDisplayName": self.created_by,
            "createdDateTime": format(&self.created),
        })
    }

    fn defender(&self) -> Value {
        json!({
            "comment": self.comment,
            "createdBy": self.created_by,
            "createdTime": format(&self.created),
        })
    }
}

/// A user account named by evidence.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Account {
    pub account_name: String,
    pub domain_name: Option<String>,
    pub sid: Option<String>,
    pub aad_user_id: Option<String>,
    pub upn: Option<String>,
    pub display_name: Option<String>,
}

impl Account {
    fn graph(&self) -> Value {
        json!({
            "accountName": self.account_name,
            "domainName": self.domain_name,
            "userSid": self.sid,
            "azureAdUserId": self.aad_user_id,
            "userPrincipalName": self.upn,
            "displayName": self.display_name,
        })
    }
}

/// A file named by evidence.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileDetails {
    pub file_name: String,
    /// The folder, without the file name (as the services report `filePath`).
    pub file_path: String,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub md5: Option<String>,
    pub file_size: Option<i64>,
    pub publisher: Option<String>,
}

impl FileDetails {
    fn graph(&self) -> Value {
        json!({
            "sha1": self.sha1,
            "sha256": self.sha256,
            "fileName": self.file_name,
            "filePath": self.file_path,
            "fileSize": self.file_size,
            "filePublisher": self.publisher,
            "signer": null,
            "issuer": null,
        })
    }
}

/// What a piece of evidence is about.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a handful per alert; boxing would only add noise to construction"
)]
pub enum EvidenceKind {
    /// A tenant device, by MDE machine id.
    Device {
        device_id: String,
    },
    File {
        file: FileDetails,
        device_id: Option<String>,
    },
    Process {
        process_id: i64,
        command_line: String,
        created: DateTime<Utc>,
        parent_process_id: i64,
        parent_created: Option<DateTime<Utc>>,
        image: FileDetails,
        parent_image: Option<FileDetails>,
        account: Option<Account>,
        device_id: Option<String>,
    },
    User {
        account: Account,
    },
    Ip {
        address: String,
        country: Option<String>,
    },
    Url {
        url: String,
    },
    Mailbox {
        primary_address: String,
        display_name: Option<String>,
        account: Option<Account>,
    },
    /// An analyzed e-mail message.
    Message {
        network_message_id: String,
        internet_message_id: String,
        subject: String,
        sender_address: String,
        sender_display_name: Option<String>,
        sender_ip: Option<String>,
        recipient: String,
        delivery_action: String,
        delivery_location: String,
        received: DateTime<Utc>,
        urls: Vec<String>,
        threats: Vec<String>,
    },
}

/// One piece of alert evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub created: DateTime<Utc>,
    /// `unknown`, `suspicious`, `malicious`, `noThreatsFound`.
    pub verdict: String,
    /// `none`, `remediated`, `prevented`, `blocked`, `notFound`.
    pub remediation_status: String,
    pub roles: Vec<String>,
    pub detailed_roles: Vec<String>,
    pub kind: EvidenceKind,
}

/// An alert, always part of one incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
    pub incident_id: i64,
    pub title: String,
    pub description: String,
    pub recommended_actions: String,
    /// MITRE tactic, e.g. `Execution`.
    pub category: String,
    pub service_source: ServiceSource,
    pub detection_source: DetectionSource,
    pub detector_id: String,
    pub status: AlertStatus,
    pub severity: Severity,
    pub classification: Classification,
    pub determination: Determination,
    pub assigned_to: Option<String>,
    pub actor_name: Option<String>,
    pub threat_display_name: Option<String>,
    pub threat_family_name: Option<String>,
    pub mitre_techniques: Vec<String>,
    pub created: DateTime<Utc>,
    pub last_update: DateTime<Utc>,
    pub resolved: Option<DateTime<Utc>>,
    pub first_activity: DateTime<Utc>,
    pub last_activity: DateTime<Utc>,
    pub investigation_id: Option<i64>,
    pub investigation_state: String,
    pub comments: Vec<Comment>,
    pub system_tags: Vec<String>,
    pub evidence: Vec<Evidence>,
}

/// An incident with its alerts.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: i64,
    pub display_name: String,
    pub description: String,
    pub created: DateTime<Utc>,
    pub last_update: DateTime<Utc>,
    pub assigned_to: Option<String>,
    pub classification: Classification,
    pub determination: Determination,
    pub status: IncidentStatus,
    pub severity: Severity,
    pub redirect_incident_id: Option<i64>,
    pub custom_tags: Vec<String>,
    pub system_tags: Vec<String>,
    pub comments: Vec<Comment>,
    pub alerts: Vec<Alert>,
}

/// What rendering needs besides the objects: the tenant and its devices.
#[derive(Debug, Clone, Copy)]
pub struct RenderCtx<'a> {
    pub tenant_id: &'a str,
    pub devices: &'a [Device],
    pub anchor: DateTime<Utc>,
}

impl RenderCtx<'_> {
    fn device(&self, id: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.id == id)
    }

    /// When MDE first saw a device.
    #[must_use]
    pub fn first_seen(&self, d: &Device) -> DateTime<Utc> {
        super::machines::first_seen(self.anchor, d.first_seen_days_ago)
    }
}

/// `ImpairedCommunication` → `impairedCommunication`: Graph's spelling of an MDE enum value.
fn camel(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

fn os_build(d: &Device) -> Value {
    if d.os_build > 0 {
        json!(d.os_build)
    } else {
        Value::Null
    }
}

impl Evidence {
    fn graph(&self, ctx: &RenderCtx<'_>) -> Value {
        let mut o = Map::new();
        let ty = match &self.kind {
            EvidenceKind::Device { .. } => "deviceEvidence",
            EvidenceKind::File { .. } => "fileEvidence",
            EvidenceKind::Process { .. } => "processEvidence",
            EvidenceKind::User { .. } => "userEvidence",
            EvidenceKind::Ip { .. } => "ipEvidence",
            EvidenceKind::Url { .. } => "urlEvidence",
            EvidenceKind::Mailbox { .. } => "mailboxEvidence",
            EvidenceKind::Message { .. } => "analyzedMessageEvidence",
        };
        o.insert(
            "@odata.type".into(),
            json!(format!("#microsoft.graph.security.{ty}")),
        );
        o.insert("createdDateTime".into(), json!(format(&self.created)));
        o.insert("verdict".into(), json!(self.verdict));
        o.insert("remediationStatus".into(), json!(self.remediation_status));
        o.insert("remediationStatusDetails".into(), Value::Null);
        o.insert("roles".into(), json!(self.roles));
        o.insert("detailedRoles".into(), json!(self.detailed_roles));
        o.insert("tags".into(), json!([]));
        let mut put = |k: &str, v: Value| {
            o.insert(k.to_string(), v);
        };
        match &self.kind {
            EvidenceKind::Device { device_id } => {
                let d = ctx.device(device_id);
                put(
                    "firstSeenDateTime",
                    d.map_or(Value::Null, |d| json!(format(&ctx.first_seen(d)))),
                );
                put("mdeDeviceId", json!(device_id));
                put("azureAdDeviceId", json!(d.map(|d| &d.aad_device_id)));
                put("deviceDnsName", json!(d.map(|d| &d.name)));
                put("osPlatform", json!(d.map(|d| &d.os_platform)));
                put("osBuild", d.map_or(Value::Null, os_build));
                put("version", json!(d.map(|d| &d.os_version)));
                put("healthStatus", json!(d.map(|d| camel(&d.health_status))));
                put("riskScore", json!(d.map(|d| camel(&d.risk_score))));
                put("rbacGroupId", json!(d.map(|d| d.rbac_group_id)));
                put("rbacGroupName", json!(d.map(|d| &d.rbac_group_name)));
                put("onboardingStatus", json!("onboarded"));
                put("defenderAvStatus", json!("updated"));
                put("ipInterfaces", json!(d.map(|d| vec![&d.ip_address])));
                put("loggedOnUsers", json!([]));
                put("vmMetadata", Value::Null);
            }
            EvidenceKind::File { file, device_id } => {
                put("detectionStatus", json!("detected"));
                put("mdeDeviceId", json!(device_id));
                put("fileDetails", file.graph());
            }
            EvidenceKind::Process {
                process_id,
                command_line,
                created,
                parent_process_id,
                parent_created,
                image,
                parent_image,
                account,
                device_id,
            } => {
                put("processId", json!(process_id));
                put("parentProcessId", json!(parent_process_id));
                put("processCommandLine", json!(command_line));
                put("processCreationDateTime", json!(format(created)));
                put(
                    "parentProcessCreationDateTime",
                    json!(parent_created.as_ref().map(format)),
                );
                put("detectionStatus", json!("detected"));
                put("mdeDeviceId", json!(device_id));
                put("imageFile", image.graph());
                put(
                    "parentProcessImageFile",
                    parent_image
                        .as_ref()
                        .map_or(Value::Null, FileDetails::graph),
                );
                put(
                    "userAccount",
                    account.as_ref().map_or(Value::Null, Account::graph),
                );
            }
            EvidenceKind::User { account } => put("userAccount", account.graph()),
            EvidenceKind::Ip { address, country } => {
                put("ipAddress", json!(address));
                put("countryLetterCode", json!(country));
            }
            EvidenceKind::Url { url } => put("url", json!(url)),
            EvidenceKind::Mailbox {
                primary_address,
                display_name,
                account,
            } => {
                put("displayName", json!(display_name));
                put("primaryAddress", json!(primary_address));
                put("upn", json!(account.as_ref().and_then(|a| a.upn.clone())));
                put(
                    "userAccount",
                    account.as_ref().map_or(Value::Null, Account::graph),
                );
            }
            EvidenceKind::Message {
                network_message_id,
                internet_message_id,
                subject,
                sender_address,
                sender_display_name,
                sender_ip,
                recipient,
                delivery_action,
                delivery_location,
                received,
                urls,
                threats,
            } => {
                let domain = sender_address.split('@').nth(1).unwrap_or_default();
                let sender = json!({
                    "emailAddress": sender_address,
                    "displayName": sender_display_name,
                    "domainName": domain,
                });
                put("networkMessageId", json!(network_message_id));
                put("internetMessageId", json!(internet_message_id));
                put("subject", json!(subject));
                put("language", json!("en"));
                put("senderIp", json!(sender_ip));
                put("recipientEmailAddress", json!(recipient));
                put("antiSpamDirection", json!("inbound"));
                put("deliveryAction", json!(camel(delivery_action)));
                put("deliveryLocation", json!(camel(delivery_location)));
                put("urn", Value::Null);
                put("threats", json!(threats));
                put("threatDetectionMethods", json!(["urlDetonationReputation"]));
                put("urls", json!(urls));
                put("urlCount", json!(urls.len()));
                put("attachmentsCount", json!(0));
                put("receivedDateTime", json!(format(received)));
                put("p1Sender", sender.clone());
                put("p2Sender", sender);
            }
        }
        Value::Object(o)
    }

    /// The Defender XDR entity, every key present; `None` for device evidence (rendered in
    /// `devices` instead).
    fn defender_entity(&self) -> Option<Value> {
        const KEYS: &[&str] = &[
            "entityType",
            "sha1",
            "sha256",
            "fileName",
            "filePath",
            "processId",
            "processCommandLine",
            "processCreationTime",
            "parentProcessId",
            "parentProcessCreationTime",
            "ipAddress",
            "url",
            "accountName",
            "domainName",
            "userSid",
            "aadUserId",
            "userPrincipalName",
            "mailboxDisplayName",
            "mailboxAddress",
            "clusterBy",
            "sender",
            "recipient",
            "subject",
            "deliveryAction",
            "securityGroupId",
            "securityGroupName",
            "registryHive",
            "registryKey",
            "registryValueType",
            "registryValue",
            "deviceId",
        ];
        let mut o: Map<String, Value> = KEYS
            .iter()
            .map(|k| ((*k).to_string(), Value::Null))
            .collect();
        let mut set = |k: &str, v: Value| {
            o.insert(k.to_string(), v);
        };
        let account_keys = |set: &mut dyn FnMut(&str, Value), a: &Account| {
            set("accountName", json!(a.account_name));
            set("domainName", json!(a.domain_name));
            set("userSid", json!(a.sid));
            set("aadUserId", json!(a.aad_user_id));
            set("userPrincipalName", json!(a.upn));
        };
        match &self.kind {
            EvidenceKind::Device { .. } => return None,
            EvidenceKind::File { file, device_id } => {
                set("entityType", json!("File"));
                set("sha1", json!(file.sha1));
                set("sha256", json!(file.sha256));
                set("fileName", json!(file.file_name));
                set("filePath", json!(file.file_path));
                set("deviceId", json!(device_id));
            }
            EvidenceKind::Process {
                process_id,
                command_line,
                created,
                parent_process_id,
                parent_created,
                image,
                device_id,
                ..
            } => {
                set("entityType", json!("Process"));
                set("sha1", json!(image.sha1));
                set("sha256", json!(image.sha256));
                set("fileName", json!(image.file_name));
                set("filePath", json!(image.file_path));
                set("processId", json!(process_id));
                set("processCommandLine", json!(command_line));
                set("processCreationTime", json!(format(created)));
                set("parentProcessId", json!(parent_process_id));
                set(
                    "parentProcessCreationTime",
                    json!(parent_created.as_ref().map(format)),
                );
                set("deviceId", json!(device_id));
            }
            EvidenceKind::User { account } => {
                set("entityType", json!("User"));
                account_keys(&mut set, account);
            }
            EvidenceKind::Ip { address, .. } => {
                set("entityType", json!("Ip"));
                set("ipAddress", json!(address));
            }
            EvidenceKind::Url { url } => {
                set("entityType", json!("Url"));
                set("url", json!(url));
            }
            EvidenceKind::Mailbox {
                primary_address,
                display_name,
                account,
            } => {
                set("entityType", json!("MailBox"));
                set(
                    "userPrincipalName",
                    json!(account.as_ref().and_then(|a| a.upn.clone())),
                );
                set("mailboxDisplayName", json!(display_name));
                set("mailboxAddress", json!(primary_address));
            }
            EvidenceKind::Message {
                subject,
                sender_address,
                recipient,
                delivery_action,
                ..
            } => {
                set("entityType", json!("MailMessage"));
                set("sender", json!(sender_address));
                set("recipient", json!(recipient));
                set("subject", json!(subject));
                set("deliveryAction", json!(delivery_action));
            }
        }
        Some(Value::Object(o))
    }
}

fn device_defender(ctx: &RenderCtx<'_>, id: &str) -> Value {
    let Some(d) = ctx.device(id) else {
        return json!({ "mdatpDeviceId": id });
    };
    json!({
        "mdatpDeviceId": d.id,
        "aadDeviceId": d.aad_device_id,
        "deviceDnsName": d.name,
        "osPlatform": d.os_platform,
        "version": d.os_version,
        "osProcessor": d.os_processor,
        "osBuild": os_build(d),
        "healthStatus": d.health_status,
        "riskScore": d.risk_score,
        "rbacGroupName": d.rbac_group_name,
        "rbacGroupId": d.rbac_group_id,
        "firstSeen": format(&ctx.first_seen(d)),
        "tags": d.machine_tags,
        "defenderAvStatus": "Updated",
        "onboardingStatus": "Onboarded",
        "vmMetadata": null,
    })
}

fn web_url(kind: &str, id: &str, tenant: &str) -> String {
    format!("https://security.microsoft.com/{kind}/{id}?tid={tenant}")
}

impl Alert {
    /// The Graph `microsoft.graph.security.alert`.
    #[must_use]
    pub fn graph(&self, ctx: &RenderCtx<'_>) -> Value {
        let incident = self.incident_id.to_string();
        json!({
            "@odata.type": "#microsoft.graph.security.alert",
            "id": self.id,
            "providerAlertId": self.id,
            "incidentId": incident,
            "status": self.status.graph(),
            "severity": self.severity.graph(),
            "classification": self.classification.graph(),
            "determination": self.determination.graph(),
            "serviceSource": self.service_source.graph(),
            "detectionSource": self.detection_source.graph(),
            "detectorId": self.detector_id,
            "tenantId": ctx.tenant_id,
            "title": self.title,
            "description": self.description,
            "recommendedActions": self.recommended_actions,
            "category": self.category,
            "assignedTo": self.assigned_to,
            "alertWebUrl": web_url("alerts", &self.id, ctx.tenant_id),
            "incidentWebUrl": web_url("incidents", &incident, ctx.tenant_id),
            "actorDisplayName": self.actor_name,
            "threatDisplayName": self.threat_display_name,
            "threatFamilyName": self.threat_family_name,
            "mitreTechniques": self.mitre_techniques,
            "createdDateTime": format(&self.created),
            "lastUpdateDateTime": format(&self.last_update),
            "resolvedDateTime": self.resolved.as_ref().map(format),
            "firstActivityDateTime": format(&self.first_activity),
            "lastActivityDateTime": format(&self.last_activity),
            "comments": self.comments.iter().map(Comment::graph).collect::<Vec<_>>(),
            "evidence": self.evidence.iter().map(|e| e.graph(ctx)).collect::<Vec<_>>(),
            "systemTags": self.system_tags,
        })
    }

    /// The alert as embedded in a Defender XDR incident.
    #[must_use]
    pub fn defender(&self, ctx: &RenderCtx<'_>) -> Value {
        let unknown_to_null = |known: bool, s: &str| if known { json!(s) } else { Value::Null };
        json!({
            "alertId": self.id,
            "incidentId": self.incident_id,
            "serviceSource": self.service_source.defender(),
            "creationTime": format(&self.created),
            "lastUpdatedTime": format(&self.last_update),
            "resolvedTime": self.resolved.as_ref().map(format),
            "firstActivity": format(&self.first_activity),
            "lastActivity": format(&self.last_activity),
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "status": self.status.defender(),
            "severity": self.severity.defender(),
            "investigationId": self.investigation_id,
            "investigationState": self.investigation_state,
            "classification": unknown_to_null(
                self.classification != Classification::Unknown,
                self.classification.defender()
            ),
            "determination": unknown_to_null(
                self.determination != Determination::Unknown,
                self.determination.defender()
            ),
            "detectionSource": self.detection_source.defender(),
            "detectorId": self.detector_id,
            "assignedTo": self.assigned_to,
            "actorName": self.actor_name,
            "threatFamilyName": self.threat_family_name,
            "mitreTechniques": self.mitre_techniques,
            "devices": self.device_ids().iter().map(|id| device_defender(ctx, id)).collect::<Vec<_>>(),
            "entities": self.evidence.iter().filter_map(Evidence::defender_entity).collect::<Vec<_>>(),
        })
    }

    /// MDE machine ids named by the alert's evidence (devices first, then files/processes).
    #[must_use]
    pub fn device_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for e in &self.evidence {
            if let EvidenceKind::Device { device_id } = &e.kind
                && !ids.contains(device_id)
            {
                ids.push(device_id.clone());
            }
        }
        ids
    }
}

impl Incident {
    /// The Graph `microsoft.graph.security.incident`, with `alerts` when expanded.
    #[must_use]
    pub fn graph(&self, ctx: &RenderCtx<'_>, with_alerts: bool) -> Value {
        let id = self.id.to_string();
        let mut v = json!({
            "@odata.type": "#microsoft.graph.security.incident",
            "id": id,
            "incidentWebUrl": web_url("incidents", &id, ctx.tenant_id),
            "redirectIncidentId": self.redirect_incident_id.map(|r| r.to_string()),
            "tenantId": ctx.tenant_id,
            "displayName": self.display_name,
            "createdDateTime": format(&self.created),
            "lastUpdateDateTime": format(&self.last_update),
            "assignedTo": self.assigned_to,
            "classification": self.classification.graph(),
            "determination": self.determination.graph(),
            "status": self.status.graph(),
            "severity": self.severity.graph(),
            "customTags": self.custom_tags,
            "comments": self.comments.iter().map(Comment::graph).collect::<Vec<_>>(),
            "systemTags": self.system_tags,
            "description": self.description,
        });
        if with_alerts && let Some(o) = v.as_object_mut() {
            o.insert(
                "alerts".into(),
                Value::Array(self.alerts.iter().map(|a| a.graph(ctx)).collect()),
            );
        }
        v
    }

    /// The Defender XDR incident, alerts always embedded.
    #[must_use]
    pub fn defender(&self, ctx: &RenderCtx<'_>) -> Value {
        json!({
            "incidentId": self.id,
            "redirectIncidentId": self.redirect_incident_id,
            "incidentName": self.display_name,
            "createdTime": format(&self.created),
            "lastUpdateTime": format(&self.last_update),
            "assignedTo": self.assigned_to,
            "classification": self.classification.defender(),
            "determination": self.determination.defender(),
            "status": self.status.defender(),
            "severity": self.severity.defender(),
            "tags": self.custom_tags,
            "comments": self.comments.iter().map(Comment::defender).collect::<Vec<_>>(),
            "alerts": self.alerts.iter().map(|a| a.defender(ctx)).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_every_spelling() {
        assert_eq!(
            IncidentStatus::parse("Active"),
            Some(IncidentStatus::Active)
        );
        assert_eq!(
            IncidentStatus::parse("inprogress"),
            Some(IncidentStatus::InProgress)
        );
        assert_eq!(Severity::parse("UnSpecified"), Some(Severity::Unknown));
        assert_eq!(
            Determination::parse("Clean"),
            Some(Determination::NotMalicious)
        );
        assert_eq!(
            Determination::parse("compromisedUser"),
            Some(Determination::CompromisedAccount)
        );
        assert_eq!(
            Determination::parse("NotAvailable"),
            Some(Determination::Unknown)
        );
        assert_eq!(
            Classification::parse("truePositive").map(Classification::defender),
            Some("TruePositive")
        );
        assert_eq!(Severity::parse("critical"), None);
    }

    #[test]
    fn determinations_belong_to_classifications() {
        assert!(Determination::Malware.fits(Classification::TruePositive));
        assert!(!Determination::Malware.fits(Classification::FalsePositive));
        assert!(Determination::NotMalicious.fits(Classification::FalsePositive));
        assert!(Determination::Other.fits(Classification::InformationalExpectedActivity));
        assert!(!Determination::Other.fits(Classification::Unknown));
    }

    #[test]
    fn camel_case_of_mde_values() {
        assert_eq!(camel("ImpairedCommunication"), "impairedCommunication");
        assert_eq!(camel("None"), "none");
        assert_eq!(camel(""), "");
    }
}
