//! The generated incidents of the synthetic tenant: one per planted finding (encoded
//! PowerShell, known-bad file, brute force, phishing) whose alerts name the same devices,
//! accounts, hashes, addresses and mail as the hunting tables, plus a spread of other incidents
//! over the last 30 days so that filters and paging have something to chew on. Deterministic
//! for a seed and anchor.

use chrono::{DateTime, Duration, Utc};

use super::model::{
    Account, Alert, AlertStatus, Classification, Comment, DetectionSource, Determination, Evidence,
    EvidenceKind, FileDetails, Incident, IncidentStatus, ServiceSource, Severity,
};
use super::time::ticks;
use crate::emulator::rng::Rng;
use crate::emulator::world::{Device, NETBIOS_DOMAIN, Person, World};

/// SOC analysts who own, comment on and resolve generated incidents.
pub const ANALYSTS: &[&str] = &["analyst@contoso.example", "soc-lead@contoso.example"];

/// How many incidents besides the planted ones.
const OTHER_INCIDENTS: usize = 40;

/// Seconds between 0001-01-01 and 1970-01-01: .NET ticks start there.
const DOTNET_EPOCH_OFFSET: i64 = 62_135_596_800;

/// The evidence account of a tenant person.
#[must_use]
pub fn account(p: &Person) -> Account {
    Account {
        account_name: p.account_name.clone(),
        domain_name: Some(NETBIOS_DOMAIN.to_string()),
        sid: Some(p.sid.clone()),
        aad_user_id: Some(p.object_id.clone()),
        upn: Some(p.upn.clone()),
        display_name: Some(p.display_name.clone()),
    }
}

/// An alert id in the style of the product that raised it (`da<ticks>_<n>` for MDE, a prefixed
/// GUID for the others).
pub fn alert_id(rng: &mut Rng, source: ServiceSource, created: DateTime<Utc>) -> String {
    let prefix = match source {
        ServiceSource::Endpoint => {
            let t = created
                .timestamp()
                .saturating_add(DOTNET_EPOCH_OFFSET)
                .saturating_mul(10_000_000)
                .saturating_add(i64::from(created.timestamp_subsec_nanos() / 100));
            return format!("da{t}_{}", rng.range(-2_147_483_648, 2_147_483_647));
        }
        ServiceSource::Office365 => "fa",
        ServiceSource::Identity => "aa",
        ServiceSource::CloudApps => "ca",
        ServiceSource::EntraIdProtection => "ad",
        ServiceSource::Xdr | ServiceSource::Unknown => "ed",
    };
    format!("{prefix}{}", rng.guid())
}

/// A stable detector id per alert title.
fn detector(seed: u64, title: &str) -> String {
    Rng::new(seed, &format!("detector:{title}")).guid()
}

fn evidence(created: DateTime<Utc>, verdict: &str, roles: &[&str], kind: EvidenceKind) -> Evidence {
    Evidence {
        created,
        verdict: verdict.to_string(),
        remediation_status: "none".to_string(),
        roles: roles.iter().map(|r| (*r).to_string()).collect(),
        detailed_roles: Vec::new(),
        kind,
    }
}

fn device_ev(created: DateTime<Utc>, d: &Device) -> Evidence {
    evidence(
        created,
        "suspicious",
        &["compromised"],
        EvidenceKind::Device {
            device_id: d.id.clone(),
        },
    )
}

fn user_ev(created: DateTime<Utc>, p: &Person) -> Evidence {
    evidence(
        created,
        "suspicious",
        &["compromised"],
        EvidenceKind::User {
            account: account(p),
        },
    )
}

/// Split a full Windows path into (folder, file name).
fn split_path(full: &str) -> (String, String) {
    match full.rsplit_once('\\') {
        Some((folder, name)) => (folder.to_string(), name.to_string()),
        None => (String::new(), full.to_string()),
    }
}

/// An alert skeleton; the incident id is filled in once ids are assigned.
struct AlertDraft {
    title: &'static str,
    description: String,
    category: &'static str,
    service: ServiceSource,
    detection: DetectionSource,
    severity: Severity,
    mitre: &'static [&'static str],
    threat: Option<(&'static str, &'static str)>,
    created: DateTime<Utc>,
    first_activity: DateTime<Utc>,
    last_activity: DateTime<Utc>,
    evidence: Vec<Evidence>,
}

struct Builder<'w> {
    world: &'w World,
    rng: Rng,
}

impl Builder<'_> {
    fn alert(&mut self, d: AlertDraft) -> Alert {
        let created = ticks(d.created);
        Alert {
            id: alert_id(&mut self.rng, d.service, created),
            incident_id: 0,
            title: d.title.to_string(),
            description: d.description,
            recommended_actions: "Review the device timeline around the alert, collect related artifacts, and contain affected devices and accounts.".to_string(),
            category: d.category.to_string(),
            service_source: d.service,
            detection_source: d.detection,
            detector_id: detector(self.world.seed, d.title),
            status: AlertStatus::New,
            severity: d.severity,
            classification: Classification::Unknown,
            determination: Determination::Unknown,
            assigned_to: None,
            actor_name: None,
            threat_display_name: d.threat.map(|t| t.1.to_string()),
            threat_family_name: d.threat.map(|t| t.0.to_string()),
            mitre_techniques: d.mitre.iter().map(|m| (*m).to_string()).collect(),
            created,
            last_update: ticks(created + Duration::seconds(self.rng.range(1, 90))),
            resolved: None,
            first_activity: ticks(d.first_activity),
            last_activity: ticks(d.last_activity),
            investigation_id: None,
            investigation_state: if d.service == ServiceSource::Endpoint {
                "Queued".to_string()
            } else {
                "UnsupportedAlertType".to_string()
            },
            comments: Vec::new(),
            system_tags: Vec::new(),
            evidence: d.evidence,
        }
    }

    fn pid(&mut self) -> i64 {
        self.rng.range(1000, 19_999) / 4 * 4
    }

    fn encoded_powershell(&mut self) -> Option<Incident> {
        let w = self.world;
        let f = &w.findings.encoded_powershell;
        let d = w.devices.get(f.device)?;
        let p = w.people.get(f.person)?;
        let oldest = f.minutes_ago.iter().copied().max().unwrap_or(60);
        let newest = f.minutes_ago.iter().copied().min().unwrap_or(oldest);
        let first = w.minutes_ago(oldest);
        let last = w.minutes_ago(newest);
        let parent_created = first - Duration::seconds(40);
        let process = EvidenceKind::Process {
            process_id: self.pid(),
            command_line: f.command_line.clone(),
            created: ticks(first),
            parent_process_id: self.pid(),
            parent_created: Some(ticks(parent_created)),
            image: FileDetails {
                file_name: "powershell.exe".into(),
                file_path: "C:\\Windows\\System32\\WindowsPowerShell\\v1.0".into(),
                publisher: Some("Microsoft Corporation".into()),
                ..FileDetails::default()
            },
            parent_image: Some(FileDetails {
                file_name: "WINWORD.EXE".into(),
                file_path: "C:\\Program Files\\Microsoft Office\\root\\Office16".into(),
                publisher: Some("Microsoft Corporation".into()),
                ..FileDetails::default()
            }),
            account: Some(account(p)),
            device_id: Some(d.id.clone()),
        };
        let c1 = first + Duration::minutes(2);
        let a1 = self.alert(AlertDraft {
            title: "Suspicious PowerShell command line",
            description: format!(
                "A suspicious PowerShell command line launched by an Office application was observed on {}. The command runs a Base64-encoded script that downloads and runs code from {}.",
                d.name, f.c2_url
            ),
            category: "Execution",
            service: ServiceSource::Endpoint,
            detection: DetectionSource::Edr,
            severity: Severity::High,
            mitre: &["T1059.001", "T1027"],
            threat: None,
            created: c1,
            first_activity: first,
            last_activity: last,
            evidence: vec![
                device_ev(c1, d),
                evidence(c1, "malicious", &[], process.clone()),
                user_ev(c1, p),
            ],
        });
        let c2 = first + Duration::minutes(3);
        let a2 = self.alert(AlertDraft {
            title: "Suspicious connection to a command-and-control address",
            description: format!(
                "powershell.exe on {} connected to {}, an address used to deliver malicious scripts.",
                d.name, f.c2_ip
            ),
            category: "CommandAndControl",
            service: ServiceSource::Endpoint,
            detection: DetectionSource::Edr,
            severity: Severity::High,
            mitre: &["T1071.001", "T1105"],
            threat: None,
            created: c2,
            first_activity: first,
            last_activity: last,
            evidence: vec![
                device_ev(c2, d),
                evidence(
                    c2,
                    "malicious",
                    &["destination"],
                    EvidenceKind::Ip {
                        address: f.c2_ip.clone(),
                        country: None,
                    },
                ),
                evidence(
                    c2,
                    "malicious",
                    &[],
                    EvidenceKind::Url {
                        url: f.c2_url.clone(),
                    },
                ),
                evidence(c2, "malicious", &[], process),
            ],
        });
        Some(Incident {
            id: 0,
            display_name:
                "Multi-stage incident involving Execution & Command and control on one endpoint"
                    .into(),
            description: format!(
                "{} opened an Office document on {} that launched encoded PowerShell which downloaded a script from {}.",
                p.display_name, d.name, f.c2_ip
            ),
            created: ticks(c1),
            last_update: ticks(last + Duration::minutes(3)),
            assigned_to: None,
            classification: Classification::Unknown,
            determination: Determination::Unknown,
            status: IncidentStatus::Active,
            severity: Severity::High,
            redirect_incident_id: None,
            custom_tags: Vec::new(),
            system_tags: Vec::new(),
            comments: Vec::new(),
            alerts: vec![a1, a2],
        })
    }

    fn known_bad_file(&mut self) -> Option<Incident> {
        let w = self.world;
        let f = &w.findings.known_bad_file;
        let d = w.devices.get(f.device)?;
        let p = w.people.get(f.person)?;
        let seen = w.minutes_ago(f.minutes_ago);
        let created = seen + Duration::minutes(1);
        let (folder, _) = split_path(&f.folder_path);
        let file = FileDetails {
            file_name: f.file_name.clone(),
            file_path: folder,
            sha1: Some(f.sha1.clone()),
            sha256: Some(f.sha256.clone()),
            md5: Some(f.md5.clone()),
            file_size: Some(f.file_size),
            publisher: None,
        };
        let alert = self.alert(AlertDraft {
            title: "'Wacatac' malware was detected",
            description: format!(
                "Microsoft Defender Antivirus detected '{}' on {}. The file's hash is on the block list.",
                f.file_name, d.name
            ),
            category: "Malware",
            service: ServiceSource::Endpoint,
            detection: DetectionSource::Antivirus,
            severity: Severity::High,
            mitre: &[],
            threat: Some(("Wacatac", "Trojan:Win32/Wacatac.B!ml")),
            created,
            first_activity: seen,
            last_activity: seen,
            evidence: vec![
                device_ev(created, d),
                evidence(
                    created,
                    "malicious",
                    &[],
                    EvidenceKind::File {
                        file,
                        device_id: Some(d.id.clone()),
                    },
                ),
                user_ev(created, p),
            ],
        });
        Some(Incident {
            id: 0,
            display_name: "'Wacatac' malware was detected on one endpoint".into(),
            description: format!(
                "A known-bad file, {}, was downloaded by {} on {}.",
                f.file_name, p.display_name, d.name
            ),
            created: ticks(created),
            last_update: ticks(created + Duration::minutes(2)),
            assigned_to: None,
            classification: Classification::Unknown,
            determination: Determination::Unknown,
            status: IncidentStatus::Active,
            severity: Severity::High,
            redirect_incident_id: None,
            custom_tags: Vec::new(),
            system_tags: Vec::new(),
            comments: Vec::new(),
            alerts: vec![alert],
        })
    }

    fn brute_force(&mut self) -> Option<Incident> {
        let w = self.world;
        let f = &w.findings.brute_force;
        let d = w.devices.get(f.device)?;
        let p = w.people.get(f.person)?;
        let start = w.minutes_ago(f.minutes_ago);
        let end = start + Duration::minutes(10);
        let created = end + Duration::minutes(1);
        let mut alert = self.alert(AlertDraft {
            title: "Suspected Brute Force attack (Kerberos, NTLM)",
            description: format!(
                "{} failed sign-in attempts against {} from {} on {}{}.",
                f.failed_attempts,
                p.account_name,
                f.source_ip,
                d.name,
                if f.succeeded {
                    ", followed by a successful sign-in"
                } else {
                    ""
                }
            ),
            category: "CredentialAccess",
            service: ServiceSource::Identity,
            detection: DetectionSource::Identity,
            severity: Severity::Medium,
            mitre: &["T1110", "T1110.001"],
            threat: None,
            created,
            first_activity: start,
            last_activity: end,
            evidence: vec![
                device_ev(created, d),
                user_ev(created, p),
                evidence(
                    created,
                    "suspicious",
                    &["attacker"],
                    EvidenceKind::Ip {
                        address: f.source_ip.clone(),
                        country: Some("NL".into()),
                    },
                ),
            ],
        });
        let analyst = ANALYSTS[0].to_string();
        alert.status = AlertStatus::InProgress;
        alert.assigned_to = Some(analyst.clone());
        let comment_at = created + Duration::minutes(25);
        Some(Incident {
            id: 0,
            display_name: "Suspected Brute Force attack (Kerberos, NTLM) on one endpoint".into(),
            description: format!(
                "Repeated failed logons for {} on {} from {}.",
                p.upn, d.name, f.source_ip
            ),
            created: ticks(created),
            last_update: ticks(comment_at),
            assigned_to: Some(analyst.clone()),
            classification: Classification::Unknown,
            determination: Determination::Unknown,
            status: IncidentStatus::InProgress,
            severity: Severity::Medium,
            redirect_incident_id: None,
            custom_tags: Vec::new(),
            system_tags: Vec::new(),
            comments: vec![Comment {
                comment: format!(
                    "Blocked {} at the perimeter; resetting the password of {}.",
                    f.source_ip, p.account_name
                ),
                created_by: analyst,
                created: ticks(comment_at),
            }],
            alerts: vec![alert],
        })
    }

    fn phishing(&mut self) -> Option<Incident> {
        let w = self.world;
        let f = &w.findings.phishing;
        let p = w.people.get(f.recipient)?;
        let received = w.minutes_ago(f.minutes_ago);
        let created = received + Duration::minutes(25);
        let message = EvidenceKind::Message {
            network_message_id: f.network_message_id.clone(),
            internet_message_id: f.internet_message_id.clone(),
            subject: f.subject.clone(),
            sender_address: f.sender_address.clone(),
            sender_display_name: Some(f.sender_display_name.clone()),
            sender_ip: Some(f.sender_ip.clone()),
            recipient: p.upn.clone(),
            delivery_action: "Delivered".into(),
            delivery_location: "Inbox".into(),
            received: ticks(received),
            urls: vec![f.url.clone()],
            threats: vec!["Phish".into()],
        };
        let alert = self.alert(AlertDraft {
            title: "Email messages containing malicious URL removed after delivery",
            description: format!(
                "A message from {} with the subject '{}' was delivered to {} and later removed: it links to a credential-harvesting page.",
                f.sender_address, f.subject, p.upn
            ),
            category: "InitialAccess",
            service: ServiceSource::Office365,
            detection: DetectionSource::Office365,
            severity: Severity::Medium,
            mitre: &["T1566.002"],
            threat: None,
            created,
            first_activity: received,
            last_activity: received,
            evidence: vec![
                evidence(
                    created,
                    "suspicious",
                    &[],
                    EvidenceKind::Mailbox {
                        primary_address: p.upn.clone(),
                        display_name: Some(p.display_name.clone()),
                        account: Some(account(p)),
                    },
                ),
                evidence(created, "malicious", &[], message),
                evidence(
                    created,
                    "malicious",
                    &[],
                    EvidenceKind::Url { url: f.url.clone() },
                ),
                evidence(
                    created,
                    "suspicious",
                    &["attacker"],
                    EvidenceKind::Ip {
                        address: f.sender_ip.clone(),
                        country: None,
                    },
                ),
                user_ev(created, p),
            ],
        });
        Some(Incident {
            id: 0,
            display_name:
                "Email messages containing malicious URL removed after delivery involving one user"
                    .into(),
            description: format!(
                "A phishing message from {} reached {}'s inbox.",
                f.sender_address, p.display_name
            ),
            created: ticks(created),
            last_update: ticks(created + Duration::minutes(4)),
            assigned_to: None,
            classification: Classification::Unknown,
            determination: Determination::Unknown,
            status: IncidentStatus::Active,
            severity: Severity::Medium,
            redirect_incident_id: None,
            custom_tags: Vec::new(),
            system_tags: Vec::new(),
            comments: Vec::new(),
            alerts: vec![alert],
        })
    }
}

/// The evidence a background template produces.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// A process on the device, run by its user.
    Process {
        file: &'static str,
        folder: &'static str,
        command: &'static str,
    },
    /// A file on the device.
    File {
        file: &'static str,
        folder: &'static str,
    },
    /// A user signing in from an outside address.
    UserFromIp,
    /// A user acting on the device (identity detections).
    UserOnDevice,
    /// A mailbox and its user.
    Mailbox,
}

struct Template {
    title: &'static str,
    category: &'static str,
    service: ServiceSource,
    detection: DetectionSource,
    severity: Severity,
    mitre: &'static [&'static str],
    threat: Option<(&'static str, &'static str)>,
    shape: Shape,
    /// The determination when resolved as a true positive.
    true_positive: Determination,
}

const TEMPLATES: &[Template] = &[
    Template {
        title: "'Mimikatz' hacktool was detected",
        category: "Malware",
        service: ServiceSource::Endpoint,
        detection: DetectionSource::Antivirus,
        severity: Severity::Low,
        mitre: &[],
        threat: Some(("Mimikatz", "HackTool:Win32/Mimikatz")),
        shape: Shape::File {
            file: "mimikatz.exe",
            folder: "C:\\Users\\Public\\Downloads",
        },
        true_positive: Determination::Malware,
    },
    Template {
        title: "Suspicious scheduled task",
        category: "Persistence",
        service: ServiceSource::Endpoint,
        detection: DetectionSource::Edr,
        severity: Severity::Medium,
        mitre: &["T1053.005"],
        threat: None,
        shape: Shape::Process {
            file: "schtasks.exe",
            folder: "C:\\Windows\\System32",
            command: "schtasks.exe /create /tn \"Updater\" /tr C:\\ProgramData\\upd.exe /sc minute /mo 30",
        },
        true_positive: Determination::MultiStagedAttack,
    },
    Template {
        title: "Unfamiliar sign-in properties",
        category: "InitialAccess",
        service: ServiceSource::EntraIdProtection,
        detection: DetectionSource::EntraIdProtection,
        severity: Severity::Medium,
        mitre: &["T1078"],
        threat: None,
        shape: Shape::UserFromIp,
        true_positive: Determination::CompromisedAccount,
    },
    Template {
        title: "Impossible travel activity",
        category: "InitialAccess",
        service: ServiceSource::CloudApps,
        detection: DetectionSource::CloudAppSecurity,
        severity: Severity::Low,
        mitre: &["T1078"],
        threat: None,
        shape: Shape::UserFromIp,
        true_positive: Determination::CompromisedAccount,
    },
    Template {
        title: "Suspicious inbox forwarding rule",
        category: "Exfiltration",
        service: ServiceSource::CloudApps,
        detection: DetectionSource::CloudAppSecurity,
        severity: Severity::Medium,
        mitre: &["T1114.003"],
        threat: None,
        shape: Shape::Mailbox,
        true_positive: Determination::MaliciousUserActivity,
    },
    Template {
        title: "Security principal reconnaissance (LDAP)",
        category: "Discovery",
        service: ServiceSource::Identity,
        detection: DetectionSource::Identity,
        severity: Severity::Low,
        mitre: &["T1087.002"],
        threat: None,
        shape: Shape::UserOnDevice,
        true_positive: Determination::MultiStagedAttack,
    },
    Template {
        title: "'Presenoker' unwanted software was detected",
        category: "Malware",
        service: ServiceSource::Endpoint,
        detection: DetectionSource::Antivirus,
        severity: Severity::Informational,
        mitre: &[],
        threat: Some(("Presenoker", "PUA:Win32/Presenoker")),
        shape: Shape::File {
            file: "FreePdfConverterSetup.exe",
            folder: "C:\\Users\\Public\\Downloads",
        },
        true_positive: Determination::UnwantedSoftware,
    },
    Template {
        title: "Email messages containing malicious file removed after delivery",
        category: "InitialAccess",
        service: ServiceSource::Office365,
        detection: DetectionSource::Office365,
        severity: Severity::Medium,
        mitre: &["T1566.001"],
        threat: None,
        shape: Shape::Mailbox,
        true_positive: Determination::Phishing,
    },
    Template {
        title: "Suspicious process injection observed",
        category: "DefenseEvasion",
        service: ServiceSource::Endpoint,
        detection: DetectionSource::Edr,
        severity: Severity::Medium,
        mitre: &["T1055"],
        threat: None,
        shape: Shape::Process {
            file: "rundll32.exe",
            folder: "C:\\Windows\\System32",
            command: "rundll32.exe C:\\Users\\Public\\libcache.dll,Start",
        },
        true_positive: Determination::MultiStagedAttack,
    },
    Template {
        title: "Possible credential dumping",
        category: "CredentialAccess",
        service: ServiceSource::Endpoint,
        detection: DetectionSource::Edr,
        severity: Severity::High,
        mitre: &["T1003.001"],
        threat: None,
        shape: Shape::Process {
            file: "procdump64.exe",
            folder: "C:\\Temp",
            command: "procdump64.exe -accepteula -ma lsass.exe C:\\Temp\\ls.dmp",
        },
        true_positive: Determination::MultiStagedAttack,
    },
    Template {
        title: "An uncommon file was created and added to a Run Key",
        category: "Persistence",
        service: ServiceSource::Endpoint,
        detection: DetectionSource::Edr,
        severity: Severity::Medium,
        mitre: &["T1547.001"],
        threat: None,
        shape: Shape::File {
            file: "onedrive_sync.exe",
            folder: "C:\\Users\\Public\\AppData\\Roaming",
        },
        true_positive: Determination::Malware,
    },
    Template {
        title: "Ransomware behavior detected in the file system",
        category: "Impact",
        service: ServiceSource::Endpoint,
        detection: DetectionSource::Edr,
        severity: Severity::High,
        mitre: &["T1486"],
        threat: None,
        shape: Shape::File {
            file: "README_RESTORE_FILES.txt",
            folder: "C:\\Users\\Public\\Documents",
        },
        true_positive: Determination::Malware,
    },
];

/// Background incidents: a spread of sources, severities, statuses and owners over 30 days.
fn background(b: &mut Builder<'_>) -> Vec<Incident> {
    let w = b.world;
    let mut out = Vec::new();
    if w.devices.is_empty() || w.people.is_empty() {
        return out;
    }
    for _ in 0..OTHER_INCIDENTS {
        let tpl = &TEMPLATES[usize::try_from(b.rng.below(TEMPLATES.len() as u64)).unwrap_or(0)];
        let minutes = b.rng.range(90, 30 * 24 * 60);
        let first = w.minutes_ago(minutes);
        let created = first + Duration::minutes(b.rng.range(1, 20));
        let two_devices =
            matches!(tpl.shape, Shape::Process { .. } | Shape::File { .. }) && b.rng.chance(0.2);
        let n_alerts = if two_devices { 2 } else { 1 };
        let mut alerts = Vec::new();
        let mut first_device: Option<usize> = None;
        let mut first_person: Option<usize> = None;
        for k in 0..n_alerts {
            let di = loop {
                let di = usize::try_from(b.rng.below(w.devices.len() as u64)).unwrap_or(0);
                if first_device != Some(di) || w.devices.len() == 1 {
                    break di;
                }
            };
            first_device.get_or_insert(di);
            let d = &w.devices[di];
            let pi = d
                .primary_user
                .filter(|i| *i < w.people.len())
                .unwrap_or_else(|| {
                    usize::try_from(b.rng.below(w.people.len() as u64)).unwrap_or(0)
                });
            first_person.get_or_insert(pi);
            let p = &w.people[pi];
            let at = created + Duration::minutes(i64::from(k) * 7);
            let evidence = shape_evidence(b, tpl.shape, at, d, p);
            alerts.push(b.alert(AlertDraft {
                title: tpl.title,
                description: format!("{} (observed on {} for {}).", tpl.title, d.name, p.upn),
                category: tpl.category,
                service: tpl.service,
                detection: tpl.detection,
                severity: tpl.severity,
                mitre: tpl.mitre,
                threat: tpl.threat,
                created: at,
                first_activity: at - Duration::minutes(2),
                last_activity: at - Duration::minutes(1),
                evidence,
            }));
        }
        let scope = match tpl.shape {
            Shape::UserFromIp | Shape::Mailbox => "involving one user",
            _ if n_alerts > 1 => "on multiple endpoints",
            _ => "on one endpoint",
        };
        let person = first_person
            .and_then(|i| w.people.get(i))
            .map_or("a user", |p| p.display_name.as_str());
        let mut inc = Incident {
            id: 0,
            display_name: format!("{} {scope}", tpl.title),
            description: format!("{} involving {person}.", tpl.title),
            created: ticks(created),
            last_update: ticks(created + Duration::minutes(3)),
            assigned_to: None,
            classification: Classification::Unknown,
            determination: Determination::Unknown,
            status: IncidentStatus::Active,
            severity: tpl.severity,
            redirect_incident_id: None,
            custom_tags: Vec::new(),
            system_tags: Vec::new(),
            comments: Vec::new(),
            alerts,
        };
        triage(b, &mut inc, tpl, minutes);
        out.push(inc);
    }
    out
}

fn shape_evidence(
    b: &mut Builder<'_>,
    shape: Shape,
    at: DateTime<Utc>,
    d: &Device,
    p: &Person,
) -> Vec<Evidence> {
    match shape {
        Shape::Process {
            file,
            folder,
            command,
        } => {
            let sha1 = b.rng.hex(40);
            let sha256 = b.rng.hex(64);
            vec![
                device_ev(at, d),
                evidence(
                    at,
                    "suspicious",
                    &[],
                    EvidenceKind::Process {
                        process_id: b.pid(),
                        command_line: command.to_string(),
                        created: ticks(at - Duration::minutes(2)),
                        parent_process_id: b.pid(),
                        parent_created: Some(ticks(at - Duration::minutes(30))),
                        image: FileDetails {
                            file_name: file.into(),
                            file_path: folder.into(),
                            sha1: Some(sha1),
                            sha256: Some(sha256),
                            ..FileDetails::default()
                        },
                        parent_image: Some(FileDetails {
                            file_name: "cmd.exe".into(),
                            file_path: "C:\\Windows\\System32".into(),
                            publisher: Some("Microsoft Corporation".into()),
                            ..FileDetails::default()
                        }),
                        account: Some(account(p)),
                        device_id: Some(d.id.clone()),
                    },
                ),
                user_ev(at, p),
            ]
        }
        Shape::File { file, folder } => {
            let details = FileDetails {
                file_name: file.into(),
                file_path: folder.into(),
                sha1: Some(b.rng.hex(40)),
                sha256: Some(b.rng.hex(64)),
                md5: Some(b.rng.hex(32)),
                file_size: Some(b.rng.range(20_000, 4_000_000)),
                publisher: None,
            };
            vec![
                device_ev(at, d),
                evidence(
                    at,
                    "malicious",
                    &[],
                    EvidenceKind::File {
                        file: details,
                        device_id: Some(d.id.clone()),
                    },
                ),
            ]
        }
        Shape::UserFromIp => {
            let ip = format!("203.0.113.{}", b.rng.range(2, 250));
            vec![
                user_ev(at, p),
                evidence(
                    at,
                    "suspicious",
                    &["attacker"],
                    EvidenceKind::Ip {
                        address: ip,
                        country: Some(
                            b.rng
                                .pick(&["BR", "VN", "RU", "NG", "US"])
                                .copied()
                                .unwrap_or("US")
                                .to_string(),
                        ),
                    },
                ),
            ]
        }
        Shape::UserOnDevice => vec![device_ev(at, d), user_ev(at, p)],
        Shape::Mailbox => vec![
            evidence(
                at,
                "suspicious",
                &[],
                EvidenceKind::Mailbox {
                    primary_address: p.upn.clone(),
                    display_name: Some(p.display_name.clone()),
                    account: Some(account(p)),
                },
            ),
            user_ev(at, p),
        ],
    }
}

/// Give an incident a plausible history for its age: owners, comments, resolution.
fn triage(b: &mut Builder<'_>, inc: &mut Incident, tpl: &Template, age_minutes: i64) {
    let week = 7 * 24 * 60;
    let roll = b.rng.below(100);
    let status = if age_minutes > week {
        match roll {
            0..70 => IncidentStatus::Resolved,
            70..90 => IncidentStatus::InProgress,
            _ => IncidentStatus::Active,
        }
    } else {
        match roll {
            0..40 => IncidentStatus::Active,
            40..70 => IncidentStatus::InProgress,
            _ => IncidentStatus::Resolved,
        }
    };
    let analyst = b
        .rng
        .pick(ANALYSTS)
        .copied()
        .unwrap_or(ANALYSTS[0])
        .to_string();
    let max_later = (age_minutes - 5).max(6);
    let touched = inc.created + Duration::minutes(b.rng.range(5, max_later.min(4 * 24 * 60)));
    inc.status = status;
    match status {
        IncidentStatus::Resolved => {
            let (class, det) = match b.rng.below(20) {
                0..12 => (Classification::TruePositive, tpl.true_positive),
                12..17 => (
                    Classification::FalsePositive,
                    if b.rng.chance(0.5) {
                        Determination::NotMalicious
                    } else {
                        Determination::NotEnoughDataToValidate
                    },
                ),
                _ => (
                    Classification::InformationalExpectedActivity,
                    if b.rng.chance(0.5) {
                        Determination::SecurityTesting
                    } else {
                        Determination::ConfirmedActivity
                    },
                ),
            };
            inc.classification = class;
            inc.determination = det;
            inc.assigned_to = Some(analyst.clone());
            inc.comments.push(Comment {
                comment: format!("Closed as {}.", class.graph()),
                created_by: analyst.clone(),
                created: ticks(touched),
            });
            for a in &mut inc.alerts {
                a.status = AlertStatus::Resolved;
                a.classification = class;
                a.determination = det;
                a.assigned_to = Some(analyst.clone());
                a.resolved = Some(ticks(touched));
                a.last_update = ticks(touched);
            }
        }
        IncidentStatus::InProgress => {
            inc.assigned_to = Some(analyst.clone());
            if b.rng.chance(0.6) {
                inc.comments.push(Comment {
                    comment: "Looking into it; contacted the user.".into(),
                    created_by: analyst.clone(),
                    created: ticks(touched),
                });
            }
            for a in &mut inc.alerts {
                a.status = AlertStatus::InProgress;
                a.assigned_to = Some(analyst.clone());
            }
        }
        _ => {
            if b.rng.chance(0.2) {
                inc.assigned_to = Some(analyst);
            }
        }
    }
    if inc.status != IncidentStatus::Active {
        inc.last_update = ticks(touched);
    }
    if b.rng.chance(0.15) {
        inc.custom_tags.push("VIP".into());
    }
    if b.rng.chance(0.1) {
        inc.custom_tags.push("Phishing campaign".into());
    }
    if b.rng.chance(0.08) {
        inc.system_tags.push("Defender Experts".into());
    }
}

/// Number incidents by creation time (older first, as the services allocate them) and point
/// each alert at its incident.
pub fn assign_ids(incidents: &mut [Incident], rng: &mut Rng) {
    incidents.sort_by_key(|i| i.created);
    let mut next = rng.range(1000, 9000) * 10;
    for inc in incidents.iter_mut() {
        if inc.id == 0 {
            next += rng.range(1, 37);
            inc.id = next;
        } else {
            next = next.max(inc.id);
        }
        for a in &mut inc.alerts {
            a.incident_id = inc.id;
        }
    }
}

/// The generated incidents of `world`, newest first.
#[must_use]
pub fn generate(world: &World) -> Vec<Incident> {
    let mut b = Builder {
        world,
        rng: Rng::new(world.seed, "incidents"),
    };
    let mut incidents: Vec<Incident> = [
        b.encoded_powershell(),
        b.known_bad_file(),
        b.brute_force(),
        b.phishing(),
    ]
    .into_iter()
    .flatten()
    .collect();
    incidents.extend(background(&mut b));
    assign_ids(&mut incidents, &mut b.rng);
    // One older incident was merged into a newer one of the same kind.
    let n = incidents.len();
    if n > 8 {
        let from = usize::try_from(b.rng.below(n as u64 / 2)).unwrap_or(0);
        let into = n / 2 + usize::try_from(b.rng.below((n - n / 2) as u64)).unwrap_or(0);
        let target = incidents[into].id;
        let inc = &mut incidents[from];
        if inc
            .alerts
            .iter()
            .all(|a| a.service_source != ServiceSource::Unknown)
        {
            inc.status = IncidentStatus::Redirected;
            inc.redirect_incident_id = Some(target);
            inc.assigned_to = None;
        }
    }
    incidents.reverse();
    incidents
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::world::tests::anchor;

    #[test]
    fn deterministic_per_seed() {
        let w = World::generate(9, anchor());
        assert_eq!(generate(&w), generate(&w));
        let other = generate(&World::generate(10, anchor()));
        assert_ne!(generate(&w)[0].id, other[0].id);
    }

    #[test]
    fn planted_findings_have_incidents_naming_the_same_things() {
        let w = World::generate(3, anchor());
        let incs = generate(&w);
        let f = &w.findings;
        let ps_device = &w.devices[f.encoded_powershell.device].id;
        let ps = incs
            .iter()
            .find(|i| {
                i.alerts
                    .iter()
                    .any(|a| a.title == "Suspicious PowerShell command line")
            })
            .unwrap();
        assert!(ps.alerts.iter().all(|a| a.device_ids().contains(ps_device)));
        assert!(ps.alerts.iter().any(|a| a.evidence.iter().any(|e| matches!(
            &e.kind,
            EvidenceKind::Process { command_line, .. } if *command_line == f.encoded_powershell.command_line
        ))));
        let bad = incs
            .iter()
            .flat_map(|i| &i.alerts)
            .flat_map(|a| &a.evidence)
            .any(|e| matches!(&e.kind, EvidenceKind::File { file, .. } if file.sha256.as_deref() == Some(f.known_bad_file.sha256.as_str())));
        assert!(bad);
        let phish = incs
            .iter()
            .flat_map(|i| &i.alerts)
            .flat_map(|a| &a.evidence)
            .any(|e| matches!(&e.kind, EvidenceKind::Message { network_message_id, .. } if *network_message_id == f.phishing.network_message_id));
        assert!(phish);
    }

    #[test]
    fn spread_supports_filters_and_paging() {
        let w = World::generate(1, anchor());
        let incs = generate(&w);
        assert!(incs.len() >= 40);
        let day_ago = anchor() - Duration::hours(24);
        let fresh_high = incs
            .iter()
            .filter(|i| {
                i.created > day_ago
                    && i.severity == Severity::High
                    && i.status == IncidentStatus::Active
                    && i.assigned_to.is_none()
            })
            .count();
        assert!(fresh_high >= 2);
        assert!(incs.iter().any(|i| i.status == IncidentStatus::Resolved));
        assert!(incs.iter().any(|i| i.status == IncidentStatus::InProgress));
        assert!(incs.iter().any(|i| i.redirect_incident_id.is_some()));
        assert!(incs.iter().any(|i| !i.comments.is_empty()));
        assert!(
            incs.iter()
                .all(|i| i.created >= anchor() - Duration::days(31))
        );
        let mut ids: Vec<i64> = incs.iter().map(|i| i.id).collect();
        assert!(
            ids.windows(2).all(|p| p[0] > p[1]),
            "newest (highest id) first"
        );
        ids.dedup();
        assert_eq!(ids.len(), incs.len());
        let alert_ids: std::collections::BTreeSet<&str> = incs
            .iter()
            .flat_map(|i| &i.alerts)
            .map(|a| a.id.as_str())
            .collect();
        assert_eq!(
            alert_ids.len(),
            incs.iter().map(|i| i.alerts.len()).sum::<usize>()
        );
    }
}
