//! The synthetic hunting tables: seeded, deterministic rows over the shared world's devices and
//! people, with timestamps spread over the 30 days before the anchor (denser towards now), and
//! the world's planted findings written into every table where a real tenant would show them.
//! Each table is generated on its own (the store does it lazily, on first use).

use std::collections::HashMap;
use std::sync::Arc;

use super::catalog::{
    self, DESTINATIONS, DOCUMENTS, EDGES, Edge, Image, Platform, Runs, SENDERS, SPAM_SUBJECTS,
    SUBJECTS,
};
use super::kql::value::{
    TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MINUTE, TICKS_PER_SECOND, Value, ticks_from_chrono,
};
use super::kql::{Column, Relation};
use super::schema;
use super::table::{Interner, TableBuilder, pool};
use crate::emulator::api::model::{
    Account as ApiAccount, Alert, DetectionSource, EvidenceKind, FileDetails, Incident,
    ServiceSource,
};
use crate::emulator::rng::Rng;
use crate::emulator::world::{NETBIOS_DOMAIN, TENANT_DOMAIN, World};

/// The oldest generated event is this far before the anchor: just inside the 30-day lookback,
/// with an hour's margin so a running emulator does not lose rows at once.
const SPAN: i64 = 30 * TICKS_PER_DAY - TICKS_PER_HOUR;

/// A tenant account as the device tables show it.
#[derive(Debug, Clone)]
struct Account {
    domain: String,
    name: String,
    sid: String,
    upn: String,
    object_id: String,
    kind: Runs,
}

/// Who a process runs as, and where.
#[derive(Debug, Clone, Copy, Default)]
struct Initiator {
    image: u32,
    cmd: u32,
    account: u32,
    pid: i64,
    created: i64,
    parent: u32,
    parent_pid: i64,
    parent_created: i64,
    session: u32,
    logon: i64,
}

/// Everything the generators share: the world plus derived pools.
pub struct Cast<'w> {
    world: &'w World,
    anchor: i64,
    images: Vec<Image>,
    by_name: HashMap<String, u32>,
    accounts: Vec<Account>,
    bad_image: u32,
    commands: Interner,
}

impl<'w> Cast<'w> {
    /// Derive the cast of the hunting tables from `world`.
    #[must_use]
    pub fn new(world: &'w World) -> Cast<'w> {
        let mut images = catalog::images();
        let bad = &world.findings.known_bad_file;
        images.push(Image {
            file_name: bad.file_name.clone(),
            folder_path: bad.folder_path.clone(),
            company: "",
            product: "",
            version: "",
            description: "",
            size: bad.file_size,
            signer: "",
            sha1: bad.sha1.clone(),
            sha256: bad.sha256.clone(),
            md5: bad.md5.clone(),
        });
        let bad_image = (images.len() - 1) as u32;
        let by_name = images
            .iter()
            .enumerate()
            .map(|(i, im)| (im.file_name.clone(), i as u32))
            .collect();
        let mut accounts: Vec<Account> = world
            .people
            .iter()
            .map(|p| Account {
                domain: NETBIOS_DOMAIN.to_lowercase(),
                name: p.account_name.clone(),
                sid: p.sid.clone(),
                upn: p.upn.clone(),
                object_id: p.object_id.clone(),
                kind: Runs::User,
            })
            .collect();
        for (name, sid, kind) in [
            ("system", "S-1-5-18", Runs::System),
            ("local service", "S-1-5-19", Runs::LocalService),
            ("network service", "S-1-5-20", Runs::NetworkService),
        ] {
            accounts.push(Account {
                domain: "nt authority".into(),
                name: name.into(),
                sid: sid.into(),
                upn: String::new(),
                object_id: String::new(),
                kind,
            });
        }
        accounts.push(Account {
            domain: String::new(),
            name: "root".into(),
            sid: String::new(),
            upn: String::new(),
            object_id: String::new(),
            kind: Runs::Root,
        });
        Cast {
            world,
            anchor: ticks_from_chrono(world.anchor),
            images,
            by_name,
            accounts,
            bad_image,
            commands: Interner::default(),
        }
    }

    fn image(&self, name: &str) -> u32 {
        self.by_name
            .get(name)
            .copied()
            .unwrap_or(self.images.len() as u32)
    }

    fn account_index(&self, kind: Runs) -> u32 {
        self.accounts
            .iter()
            .position(|a| a.kind == kind && kind != Runs::User)
            .unwrap_or(0) as u32
    }

    /// The account a process of `kind` runs as on `device`.
    fn account_for(&self, kind: Runs, device: usize) -> u32 {
        match kind {
            Runs::User => {
                let d = &self.world.devices[device];
                // Servers are used by the first person, the tenant's administrator.
                d.primary_user
                    .unwrap_or(0)
                    .min(self.world.people.len().saturating_sub(1)) as u32
            }
            other => self.account_index(other),
        }
    }

    fn platform(&self, device: usize) -> Platform {
        let d = &self.world.devices[device];
        if d.os_platform == "Linux" {
            Platform::Linux
        } else if d.device_type == "Server" {
            Platform::WindowsServer
        } else {
            Platform::Workstation
        }
    }

    fn minutes_ago(&self, m: i64) -> i64 {
        self.anchor - m * TICKS_PER_MINUTE
    }

    fn logon_id(&self, device: usize, account: u32) -> i64 {
        match self.accounts.get(account as usize).map(|a| a.kind) {
            Some(Runs::System) => 999,
            Some(Runs::LocalService) => 997,
            Some(Runs::NetworkService) => 996,
            _ => 0x10_0000 + ((device as i64 * 7919 + i64::from(account) * 104_729) % 0x80_0000),
        }
    }

    fn command(&mut self, text: &str) -> u32 {
        self.commands.code(text)
    }

    /// A running process `image` on `device` at `ts`, with a plausible parent.
    fn initiator(
        &mut self,
        rng: &mut Rng,
        device: usize,
        image: &str,
        runs: Runs,
        ts: i64,
    ) -> Initiator {
        let account = self.account_for(runs, device);
        let cmd_text = match catalog::parent_command(image) {
            "" => image.to_string(),
            c => c.to_string(),
        };
        let created = ts - rng.range(10, 8 * 3600) * TICKS_PER_SECOND;
        Initiator {
            image: self.image(image),
            cmd: self.command(&cmd_text),
            account,
            pid: rng.range(300, 20_000) * 4,
            created,
            parent: self.image(catalog::grandparent_of(image)),
            parent_pid: rng.range(100, 2_000) * 4,
            parent_created: created - rng.range(5, 3600) * TICKS_PER_SECOND,
            session: session_of(self.accounts[account as usize].kind, self.platform(device)),
            logon: self.logon_id(device, account),
        }
    }

    fn fill(&self, template: &str, rng: &mut Rng, person: usize) -> String {
        let user = self
            .world
            .people
            .get(person)
            .map_or("user", |p| p.account_name.as_str());
        template
            .replace("{user}", user)
            .replace("{doc}", rng.pick(DOCUMENTS).copied().unwrap_or("Report"))
            .replace("{n}", &rng.range(1000, 99_999).to_string())
    }

    // ------------------------------------------------------------------ pools

    fn image_pool(&self, f: impl Fn(&Image) -> Value) -> Arc<[Value]> {
        let mut v: Vec<Value> = self.images.iter().map(f).collect();
        v.push(Value::empty_string());
        v.into()
    }

    fn image_long_pool(&self, f: impl Fn(&Image) -> i64) -> Arc<[Value]> {
        let mut v: Vec<Value> = self.images.iter().map(|i| Value::Long(f(i))).collect();
        v.push(Value::Null);
        v.into()
    }

    fn account_pool(&self, f: impl Fn(&Account) -> &str) -> Arc<[Value]> {
        pool(&self.accounts, |a| Value::str(f(a)))
    }

    fn device_pool(&self, f: impl Fn(&crate::emulator::world::Device) -> Value) -> Arc<[Value]> {
        pool(&self.world.devices, f)
    }

    /// `DeviceId`, `DeviceName` from device indexes.
    fn device_columns(&self, b: &mut TableBuilder, devices: &[u32]) {
        let ids = self.device_pool(|d| Value::str(&d.id));
        let names = self.device_pool(|d| Value::str(&d.name));
        b.dict("DeviceId", &ids, devices.iter().copied());
        b.dict("DeviceName", &names, devices.iter().copied());
    }

    /// The `InitiatingProcess*` columns (every device table has the same set).
    fn initiator_columns(&self, b: &mut TableBuilder, init: &[Initiator]) {
        let img = |f: fn(&Image) -> Value| self.image_pool(f);
        let codes = |f: fn(&Initiator) -> u32| init.iter().map(f).collect::<Vec<u32>>().into_iter();
        b.dict(
            "InitiatingProcessFileName",
            &img(|i| Value::str(&i.file_name)),
            codes(|x| x.image),
        );
        b.dict(
            "InitiatingProcessFolderPath",
            &img(|i| Value::str(&i.folder_path)),
            codes(|x| x.image),
        );
        b.dict(
            "InitiatingProcessSHA1",
            &img(|i| Value::str(&i.sha1)),
            codes(|x| x.image),
        );
        b.dict(
            "InitiatingProcessSHA256",
            &img(|i| Value::str(&i.sha256)),
            codes(|x| x.image),
        );
        b.dict(
            "InitiatingProcessMD5",
            &img(|i| Value::str(&i.md5)),
            codes(|x| x.image),
        );
        b.dict(
            "InitiatingProcessFileSize",
            &self.image_long_pool(|i| i.size),
            codes(|x| x.image),
        );
        b.dict(
            "InitiatingProcessVersionInfoCompanyName",
            &img(|i| Value::str(i.company)),
            codes(|x| x.image),
        );
        b.dict(
            "InitiatingProcessVersionInfoProductName",
            &img(|i| Value::str(i.product)),
            codes(|x| x.image),
        );
        b.dict(
            "InitiatingProcessVersionInfoProductVersion",
            &img(|i| Value::str(i.version)),
            codes(|x| x.image),
        );
        b.dict(
            "InitiatingProcessVersionInfoInternalFileName",
            &img(internal_name),
            codes(|x| x.image),
        );
        b.dict(
            "InitiatingProcessVersionInfoOriginalFileName",
            &img(internal_name),
            codes(|x| x.image),
        );
        b.dict(
            "InitiatingProcessVersionInfoFileDescription",
            &img(|i| Value::str(i.description)),
            codes(|x| x.image),
        );
        // Only DeviceProcessEvents records the initiator's signature.
        if b.has_column("InitiatingProcessSignerType") {
            b.dict(
                "InitiatingProcessSignerType",
                &img(|i| Value::str(i.signer)),
                codes(|x| x.image),
            );
            b.dict(
                "InitiatingProcessSignatureStatus",
                &img(|i| {
                    Value::str(if i.signer.is_empty() {
                        "Unsigned"
                    } else {
                        "Valid"
                    })
                }),
                codes(|x| x.image),
            );
        }
        b.dict(
            "InitiatingProcessCommandLine",
            &self.commands.pool(),
            codes(|x| x.cmd),
        );
        b.plain(
            "InitiatingProcessId",
            init.iter().map(|x| Value::Long(x.pid)),
        );
        b.plain(
            "InitiatingProcessCreationTime",
            init.iter().map(|x| Value::DateTime(x.created)),
        );
        b.dict(
            "InitiatingProcessParentFileName",
            &img(|i| Value::str(&i.file_name)),
            codes(|x| x.parent),
        );
        b.plain(
            "InitiatingProcessParentId",
            init.iter().map(|x| Value::Long(x.parent_pid)),
        );
        b.plain(
            "InitiatingProcessParentCreationTime",
            init.iter().map(|x| Value::DateTime(x.parent_created)),
        );
        b.dict(
            "InitiatingProcessAccountDomain",
            &self.account_pool(|a| &a.domain),
            codes(|x| x.account),
        );
        b.dict(
            "InitiatingProcessAccountName",
            &self.account_pool(|a| &a.name),
            codes(|x| x.account),
        );
        b.dict(
            "InitiatingProcessAccountSid",
            &self.account_pool(|a| &a.sid),
            codes(|x| x.account),
        );
        b.dict(
            "InitiatingProcessAccountUpn",
            &self.account_pool(|a| &a.upn),
            codes(|x| x.account),
        );
        b.dict(
            "InitiatingProcessAccountObjectId",
            &self.account_pool(|a| &a.object_id),
            codes(|x| x.account),
        );
        let integrity = pool(&self.accounts, |a| Value::str(integrity_of(a.kind)));
        let elevation = pool(&self.accounts, |a| Value::str(elevation_of(a.kind)));
        b.dict(
            "InitiatingProcessIntegrityLevel",
            &integrity,
            codes(|x| x.account),
        );
        b.dict(
            "InitiatingProcessTokenElevation",
            &elevation,
            codes(|x| x.account),
        );
        if b.has_column("InitiatingProcessLogonId") {
            b.plain(
                "InitiatingProcessLogonId",
                init.iter().map(|x| Value::Long(x.logon)),
            );
        }
        let sessions: Arc<[Value]> = vec![Value::Long(0), Value::Long(1), Value::Long(2)].into();
        b.dict(
            "InitiatingProcessSessionId",
            &sessions,
            codes(|x| x.session),
        );
        let remote: Arc<[Value]> =
            vec![Value::Bool(false), Value::Bool(false), Value::Bool(true)].into();
        b.dict(
            "IsInitiatingProcessRemoteSession",
            &remote,
            codes(|x| x.session),
        );
        // RDP sessions (session 2, administrators on servers) come from the admin's workstation.
        let admin_ws = self
            .world
            .devices
            .iter()
            .find(|d| d.primary_user == Some(0))
            .or_else(|| self.world.devices.first());
        let (ws_name, ws_ip) = admin_ws.map_or((String::new(), String::new()), |d| {
            (
                d.name.split('.').next().unwrap_or("").to_uppercase(),
                d.ip_address.clone(),
            )
        });
        let rname: Arc<[Value]> = vec![
            Value::empty_string(),
            Value::empty_string(),
            Value::str(&ws_name),
        ]
        .into();
        let rip: Arc<[Value]> = vec![
            Value::empty_string(),
            Value::empty_string(),
            Value::str(&ws_ip),
        ]
        .into();
        b.dict(
            "InitiatingProcessRemoteSessionDeviceName",
            &rname,
            codes(|x| x.session),
        );
        b.dict(
            "InitiatingProcessRemoteSessionIP",
            &rip,
            codes(|x| x.session),
        );
    }
}

fn internal_name(i: &Image) -> Value {
    if i.company.is_empty() {
        Value::empty_string()
    } else {
        Value::str(&i.file_name)
    }
}

fn integrity_of(kind: Runs) -> &'static str {
    match kind {
        Runs::User => "Medium",
        Runs::Root => "",
        _ => "System",
    }
}

fn elevation_of(kind: Runs) -> &'static str {
    match kind {
        Runs::User => "TokenElevationTypeLimited",
        Runs::Root => "",
        _ => "TokenElevationTypeDefault",
    }
}

fn session_of(kind: Runs, platform: Platform) -> u32 {
    match (kind, platform) {
        (Runs::User, Platform::Workstation) => 1,
        (Runs::User, Platform::WindowsServer) => 2,
        _ => 0,
    }
}

/// `n` event times, ascending, spread over the 30 days before `anchor` with more events
/// recently (an age of `SPAN × u²` for uniform `u`).
fn spread_times(rng: &mut Rng, n: usize, anchor: i64) -> Vec<i64> {
    let mut out: Vec<i64> = (0..n)
        .map(|_| {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let age = (SPAN as f64 * u * u) as i64 + TICKS_PER_SECOND;
            // Jitter below a second so timestamps carry a realistic 7-digit fraction.
            anchor - age - rng.below(TICKS_PER_SECOND as u64) as i64
        })
        .collect();
    out.sort_unstable();
    out
}

fn weighted<'a, T>(rng: &mut Rng, items: &'a [T], weight: impl Fn(&T) -> u32) -> Option<&'a T> {
    let total: u64 = items.iter().map(|i| u64::from(weight(i))).sum();
    let mut pick = rng.below(total);
    for i in items {
        let w = u64::from(weight(i));
        if pick < w {
            return Some(i);
        }
        pick -= w;
    }
    items.last()
}

fn guid(rng: &mut Rng) -> String {
    rng.guid()
}

/// Generate table `name` with `rows` background rows for `world`, or `None` for a table the
/// emulator does not know. The alert tables hold the alerts of `incidents` (the incidents
/// APIs' data), whatever `rows` is.
#[must_use]
pub fn generate(
    name: &str,
    world: &World,
    incidents: &[Incident],
    seed: u64,
    rows: usize,
) -> Option<Relation> {
    let mut cast = Cast::new(world);
    let mut rng = Rng::new(seed, &format!("hunting:{name}"));
    Some(match name {
        "DeviceProcessEvents" => process_events(&mut cast, &mut rng, rows),
        "DeviceNetworkEvents" => network_events(&mut cast, &mut rng, rows),
        "DeviceFileEvents" => file_events(&mut cast, &mut rng, rows),
        "DeviceLogonEvents" => logon_events(&mut cast, &mut rng, rows),
        "DeviceInfo" => device_info(&cast, &mut rng, rows),
        "EmailEvents" => email_events(&cast, &mut rng, rows),
        "AlertInfo" => alert_info(incidents),
        "AlertEvidence" => alert_evidence(&cast, incidents),
        "IdentityLogonEvents" => identity_logon_events(&cast, &mut rng, rows),
        _ => return None,
    })
}

// ====================================================================== DeviceProcessEvents

struct ProcRow {
    ts: i64,
    device: u32,
    image: u32,
    cmd: u32,
    account: u32,
    pid: i64,
    init: Initiator,
}

fn process_events(cast: &mut Cast<'_>, rng: &mut Rng, rows: usize) -> Relation {
    let mut out: Vec<ProcRow> = Vec::with_capacity(rows + 8);
    if !cast.world.devices.is_empty() && !cast.world.people.is_empty() {
        let times = spread_times(rng, rows, cast.anchor);
        let n_dev = cast.world.devices.len() as u64;
        for ts in times {
            let device = rng.below(n_dev) as usize;
            let platform = cast.platform(device);
            let edges: Vec<&Edge> = EDGES.iter().filter(|e| e.platform == platform).collect();
            let Some(edge) = weighted(rng, &edges, |e| e.weight).copied() else {
                continue;
            };
            let runs = edge.runs;
            let account = cast.account_for(runs, device);
            let person = account as usize;
            let template = rng.pick(edge.commands).copied().unwrap_or("");
            let text = cast.fill(template, rng, person);
            let cmd = cast.command(&text);
            // The parent runs as the same user, except services that start user tasks.
            let parent_runs = match edge.parent {
                "services.exe" | "svchost.exe" if runs == Runs::User => Runs::System,
                "services.exe" | "svchost.exe" => runs,
                "systemd" | "cron" => Runs::Root,
                _ => runs,
            };
            let parent_runs = if edge.parent == "svchost.exe" && runs != Runs::User {
                Runs::System
            } else {
                parent_runs
            };
            let init = cast.initiator(rng, device, edge.parent, parent_runs, ts);
            out.push(ProcRow {
                ts,
                device: device as u32,
                image: cast.image(edge.child),
                cmd,
                account,
                pid: rng.range(300, 20_000) * 4,
                init,
            });
        }
        plant_processes(cast, rng, &mut out);
    }
    out.sort_by_key(|r| r.ts);
    let mut b = TableBuilder::new(schema::DEVICE_PROCESS_EVENTS, out.len());
    let ts = b.plain("Timestamp", out.iter().map(|r| Value::DateTime(r.ts)));
    b.shared("ProcessCreationTime", ts);
    let devices: Vec<u32> = out.iter().map(|r| r.device).collect();
    cast.device_columns(&mut b, &devices);
    b.constant("ActionType", Value::str("ProcessCreated"));
    let images = |r: &ProcRow| r.image;
    let codes = |f: fn(&ProcRow) -> u32| out.iter().map(f).collect::<Vec<_>>().into_iter();
    b.dict(
        "FileName",
        &cast.image_pool(|i| Value::str(&i.file_name)),
        codes(images),
    );
    b.dict(
        "FolderPath",
        &cast.image_pool(|i| Value::str(&i.folder_path)),
        codes(images),
    );
    b.dict(
        "SHA1",
        &cast.image_pool(|i| Value::str(&i.sha1)),
        codes(images),
    );
    b.dict(
        "SHA256",
        &cast.image_pool(|i| Value::str(&i.sha256)),
        codes(images),
    );
    b.dict(
        "MD5",
        &cast.image_pool(|i| Value::str(&i.md5)),
        codes(images),
    );
    b.dict("FileSize", &cast.image_long_pool(|i| i.size), codes(images));
    b.dict(
        "ProcessVersionInfoCompanyName",
        &cast.image_pool(|i| Value::str(i.company)),
        codes(images),
    );
    b.dict(
        "ProcessVersionInfoProductName",
        &cast.image_pool(|i| Value::str(i.product)),
        codes(images),
    );
    b.dict(
        "ProcessVersionInfoProductVersion",
        &cast.image_pool(|i| Value::str(i.version)),
        codes(images),
    );
    b.dict(
        "ProcessVersionInfoInternalFileName",
        &cast.image_pool(internal_name),
        codes(images),
    );
    b.dict(
        "ProcessVersionInfoOriginalFileName",
        &cast.image_pool(internal_name),
        codes(images),
    );
    b.dict(
        "ProcessVersionInfoFileDescription",
        &cast.image_pool(|i| Value::str(i.description)),
        codes(images),
    );
    b.plain("ProcessId", out.iter().map(|r| Value::Long(r.pid)));
    b.dict(
        "ProcessCommandLine",
        &cast.commands.pool(),
        codes(|r| r.cmd),
    );
    let integrity = pool(&cast.accounts, |a| Value::str(integrity_of(a.kind)));
    let elevation = pool(&cast.accounts, |a| Value::str(elevation_of(a.kind)));
    b.dict("ProcessIntegrityLevel", &integrity, codes(|r| r.account));
    b.dict("ProcessTokenElevation", &elevation, codes(|r| r.account));
    b.dict(
        "AccountDomain",
        &cast.account_pool(|a| &a.domain),
        codes(|r| r.account),
    );
    b.dict(
        "AccountName",
        &cast.account_pool(|a| &a.name),
        codes(|r| r.account),
    );
    b.dict(
        "AccountSid",
        &cast.account_pool(|a| &a.sid),
        codes(|r| r.account),
    );
    b.dict(
        "AccountUpn",
        &cast.account_pool(|a| &a.upn),
        codes(|r| r.account),
    );
    b.dict(
        "AccountObjectId",
        &cast.account_pool(|a| &a.object_id),
        codes(|r| r.account),
    );
    b.plain(
        "LogonId",
        out.iter()
            .map(|r| Value::Long(cast.logon_id(r.device as usize, r.account))),
    );
    let init: Vec<Initiator> = out.iter().map(|r| r.init).collect();
    cast.initiator_columns(&mut b, &init);
    b.plain(
        "ReportId",
        (0..out.len()).map(|i| Value::Long(1000 + (i as i64 * 37) % 90_000)),
    );
    let sessions: Arc<[Value]> = vec![Value::Long(0), Value::Long(1), Value::Long(2)].into();
    let session_codes: Vec<u32> = out
        .iter()
        .map(|r| {
            let kind = cast.accounts[r.account as usize].kind;
            session_of(kind, cast.platform(r.device as usize))
        })
        .collect();
    b.dict(
        "CreatedProcessSessionId",
        &sessions,
        session_codes.iter().copied(),
    );
    let remote: Arc<[Value]> =
        vec![Value::Bool(false), Value::Bool(false), Value::Bool(true)].into();
    b.dict(
        "IsProcessRemoteSession",
        &remote,
        session_codes.iter().copied(),
    );
    b.constant("ProcessRemoteSessionDeviceName", Value::empty_string());
    b.constant("ProcessRemoteSessionIP", Value::empty_string());
    b.build()
}

/// Whether a finding's device and person exist (a `--data` cast may be smaller).
fn in_cast(world: &World, device: usize, person: usize) -> bool {
    device < world.devices.len() && person < world.people.len()
}

fn plant_processes(cast: &mut Cast<'_>, rng: &mut Rng, out: &mut Vec<ProcRow>) {
    let world = cast.world;
    let ps = &world.findings.encoded_powershell;
    let bad = &world.findings.known_bad_file;
    if !in_cast(world, ps.device, ps.person) || !in_cast(world, bad.device, bad.person) {
        return;
    }
    let user = world
        .people
        .get(ps.person)
        .map_or("user", |p| p.account_name.as_str());
    let word_cmd = format!(
        r#""C:\Program Files\Microsoft Office\Root\Office16\WINWORD.EXE" /n "C:\Users\{user}\Downloads\Invoice_2026-11.docm""#
    );
    for &m in &ps.minutes_ago {
        let ts = cast.minutes_ago(m);
        let mut init = cast.initiator(rng, ps.device, "winword.exe", Runs::User, ts);
        init.account = ps.person as u32;
        init.logon = cast.logon_id(ps.device, ps.person as u32);
        init.cmd = cast.command(&word_cmd);
        init.created = ts - rng.range(20, 90) * TICKS_PER_SECOND;
        let cmd = cast.command(&ps.command_line);
        out.push(ProcRow {
            ts,
            device: ps.device as u32,
            image: cast.image("powershell.exe"),
            cmd,
            account: ps.person as u32,
            pid: rng.range(300, 20_000) * 4,
            init,
        });
    }
    // Executed two minutes after the download.
    let ts = cast.minutes_ago(bad.minutes_ago - 2);
    let mut init = cast.initiator(rng, bad.device, "explorer.exe", Runs::User, ts);
    init.account = bad.person as u32;
    init.logon = cast.logon_id(bad.device, bad.person as u32);
    let cmd = cast.command(&format!("\"{}\"", bad.folder_path));
    out.push(ProcRow {
        ts,
        device: bad.device as u32,
        image: cast.bad_image,
        cmd,
        account: bad.person as u32,
        pid: rng.range(300, 20_000) * 4,
        init,
    });
}

// ====================================================================== DeviceNetworkEvents

struct NetRow {
    ts: i64,
    device: u32,
    action: &'static str,
    url: String,
    remote_ip: String,
    remote_port: i32,
    local_port: i32,
    protocol: &'static str,
    init: Initiator,
}

fn ip_type(ip: &str) -> &'static str {
    let o: Vec<u8> = ip.split('.').filter_map(|p| p.parse().ok()).collect();
    match o.as_slice() {
        [10, ..] | [192, 168, ..] => "Private",
        [172, b, ..] if (16..=31).contains(b) => "Private",
        [127, ..] => "Loopback",
        [a, ..] if *a >= 224 => "Multicast",
        [_, _, _, _] => "Public",
        _ => "",
    }
}

fn network_events(cast: &mut Cast<'_>, rng: &mut Rng, rows: usize) -> Relation {
    let world = cast.world;
    let mut out: Vec<NetRow> = Vec::with_capacity(rows + 64);
    let dc = world
        .devices
        .iter()
        .position(|d| d.name.starts_with("srv-dc"));
    let file_server = world
        .devices
        .iter()
        .position(|d| d.name.starts_with("srv-file"));
    if !world.devices.is_empty() && !world.people.is_empty() {
        let times = spread_times(rng, rows, cast.anchor);
        for ts in times {
            let device = rng.below(world.devices.len() as u64) as usize;
            let platform = cast.platform(device);
            let roll = rng.below(100);
            let (image, runs, url, ip, port, protocol, inbound): (
                String,
                Runs,
                String,
                String,
                i32,
                &str,
                bool,
            ) = match platform {
                Platform::Linux => {
                    if roll < 60 {
                        let client = format!(
                            "{}.{}.{}.{}",
                            rng.range(23, 203),
                            rng.range(0, 255),
                            rng.range(0, 255),
                            rng.range(1, 254)
                        );
                        (
                            "nginx".into(),
                            Runs::Root,
                            String::new(),
                            client,
                            443,
                            "Tcp",
                            true,
                        )
                    } else if roll < 80 {
                        (
                            "curl".into(),
                            Runs::Root,
                            "api.github.com".into(),
                            "140.82.121.6".into(),
                            443,
                            "Tcp",
                            false,
                        )
                    } else {
                        (
                            "apt".into(),
                            Runs::Root,
                            "archive.ubuntu.com".into(),
                            "91.189.91.82".into(),
                            80,
                            "Tcp",
                            false,
                        )
                    }
                }
                _ if roll < 12 => {
                    let dns = dc.map_or_else(
                        || "10.1.0.10".to_string(),
                        |i| world.devices[i].ip_address.clone(),
                    );
                    (
                        "svchost.exe".into(),
                        Runs::NetworkService,
                        String::new(),
                        dns,
                        53,
                        "Udp",
                        false,
                    )
                }
                Platform::Workstation if roll < 20 => match file_server {
                    Some(fs) => (
                        "explorer.exe".into(),
                        Runs::User,
                        world.devices[fs].name.clone(),
                        world.devices[fs].ip_address.clone(),
                        445,
                        "Tcp",
                        false,
                    ),
                    None => (
                        "svchost.exe".into(),
                        Runs::System,
                        String::new(),
                        "10.1.0.10".into(),
                        53,
                        "Udp",
                        false,
                    ),
                },
                Platform::WindowsServer if roll < 30 => {
                    // Inbound SMB / Kerberos / SQL from workstations.
                    let client = &world.devices[rng.below(world.devices.len() as u64) as usize];
                    let port = match world.devices[device].name.as_str() {
                        n if n.starts_with("srv-dc") => {
                            *rng.pick(&[88, 389, 445, 53]).unwrap_or(&445)
                        }
                        n if n.starts_with("srv-sql") => 1433,
                        _ => 445,
                    };
                    let image = if port == 1433 {
                        "sqlservr.exe"
                    } else {
                        "System"
                    };
                    (
                        image.into(),
                        Runs::System,
                        String::new(),
                        client.ip_address.clone(),
                        port,
                        "Tcp",
                        true,
                    )
                }
                _ => {
                    let candidates: Vec<&catalog::Destination> = DESTINATIONS
                        .iter()
                        .filter(|d| {
                            platform == Platform::Workstation
                                || d.processes
                                    .iter()
                                    .any(|p| p.starts_with("svchost") || p.starts_with("Ms"))
                        })
                        .collect();
                    match weighted(rng, &candidates, |d| d.weight) {
                        Some(d) => {
                            let process = rng.pick(d.processes).copied().unwrap_or("svchost.exe");
                            let runs = match process {
                                "svchost.exe"
                                | "MsSense.exe"
                                | "MsMpEng.exe"
                                | "CompatTelRunner.exe" => Runs::System,
                                _ => Runs::User,
                            };
                            (
                                process.into(),
                                runs,
                                d.url.into(),
                                d.ip.into(),
                                d.port,
                                d.protocol,
                                false,
                            )
                        }
                        None => (
                            "svchost.exe".into(),
                            Runs::System,
                            String::new(),
                            "10.1.0.10".into(),
                            53,
                            "Udp",
                            false,
                        ),
                    }
                }
            };
            let action = if inbound {
                "InboundConnectionAccepted"
            } else if rng.chance(0.06) {
                "ConnectionFailed"
            } else {
                "ConnectionSuccess"
            };
            let init = cast.initiator(rng, device, &image, runs, ts);
            out.push(NetRow {
                ts,
                device: device as u32,
                action,
                url,
                remote_ip: ip,
                remote_port: port,
                local_port: if inbound {
                    port
                } else {
                    rng.range(49_152, 65_535) as i32
                },
                protocol,
                init,
            });
        }
        plant_network(cast, rng, &mut out);
    }
    out.sort_by_key(|r| r.ts);
    let mut b = TableBuilder::new(schema::DEVICE_NETWORK_EVENTS, out.len());
    b.plain("Timestamp", out.iter().map(|r| Value::DateTime(r.ts)));
    let devices: Vec<u32> = out.iter().map(|r| r.device).collect();
    cast.device_columns(&mut b, &devices);
    b.strings("ActionType", out.iter().map(|r| r.action));
    b.strings("RemoteIP", out.iter().map(|r| r.remote_ip.as_str()));
    b.plain("RemotePort", out.iter().map(|r| Value::Int(r.remote_port)));
    b.strings("RemoteUrl", out.iter().map(|r| r.url.as_str()));
    let local_ips = cast.device_pool(|d| Value::str(&d.ip_address));
    b.dict("LocalIP", &local_ips, devices.iter().copied());
    b.plain("LocalPort", out.iter().map(|r| Value::Int(r.local_port)));
    b.strings("Protocol", out.iter().map(|r| r.protocol));
    let local_types = cast.device_pool(|d| Value::str(ip_type(&d.ip_address)));
    b.dict("LocalIPType", &local_types, devices.iter().copied());
    b.strings("RemoteIPType", out.iter().map(|r| ip_type(&r.remote_ip)));
    let init: Vec<Initiator> = out.iter().map(|r| r.init).collect();
    cast.initiator_columns(&mut b, &init);
    b.plain(
        "ReportId",
        (0..out.len()).map(|i| Value::Long(2000 + (i as i64 * 41) % 90_000)),
    );
    b.build()
}

fn plant_network(cast: &mut Cast<'_>, rng: &mut Rng, out: &mut Vec<NetRow>) {
    let world = cast.world;
    let ps = &world.findings.encoded_powershell;
    if !in_cast(world, ps.device, ps.person) {
        return;
    }
    for &m in &ps.minutes_ago {
        // The decoded script downloads its payload a few seconds after each launch.
        let ts = cast.minutes_ago(m) + rng.range(3, 9) * TICKS_PER_SECOND;
        let mut init = cast.initiator(rng, ps.device, "powershell.exe", Runs::User, ts);
        init.account = ps.person as u32;
        init.cmd = cast.command(&ps.command_line);
        init.created = cast.minutes_ago(m);
        init.parent = cast.image("winword.exe");
        out.push(NetRow {
            ts,
            device: ps.device as u32,
            action: "ConnectionSuccess",
            url: ps.c2_url.clone(),
            remote_ip: ps.c2_ip.clone(),
            remote_port: 80,
            local_port: rng.range(49_152, 65_535) as i32,
            protocol: "Tcp",
            init,
        });
    }
    // The phishing recipient follows the link from their workstation a quarter of an hour
    // after delivery (and submits the form a minute later).
    let ph = &world.findings.phishing;
    let site = phishing_site(world);
    if let Some(ws) = world
        .devices
        .iter()
        .position(|d| d.primary_user == Some(ph.recipient))
    {
        for (i, delay) in [14i64, 15].into_iter().enumerate() {
            let ts = cast.minutes_ago(ph.minutes_ago - delay) + (i as i64 + 3) * TICKS_PER_SECOND;
            let mut init = cast.initiator(rng, ws, "msedge.exe", Runs::User, ts);
            init.account = ph.recipient as u32;
            out.push(NetRow {
                ts,
                device: ws as u32,
                action: "ConnectionSuccess",
                url: site.0.clone(),
                remote_ip: site.1.clone(),
                remote_port: 443,
                local_port: rng.range(49_152, 65_535) as i32,
                protocol: "Tcp",
                init,
            });
        }
    }
    let bf = &world.findings.brute_force;
    if bf.device < world.devices.len() {
        // The burst arrives over SMB on the domain controller.
        for i in 0..4 {
            let ts = cast.minutes_ago(bf.minutes_ago) + i * 150 * TICKS_PER_SECOND;
            let init = cast.initiator(rng, bf.device, "System", Runs::System, ts);
            out.push(NetRow {
                ts,
                device: bf.device as u32,
                action: "InboundConnectionAccepted",
                url: String::new(),
                remote_ip: bf.source_ip.clone(),
                remote_port: 445,
                local_port: 445,
                protocol: "Tcp",
                init,
            });
        }
    }
}

/// The phishing campaign's infrastructure, derived from the finding: (site host, site IP, the
/// address the stolen password is used from).
fn phishing_site(world: &World) -> (String, String, String) {
    let ph = &world.findings.phishing;
    let host = ph
        .url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?']).next())
        .unwrap_or("")
        .to_string();
    let mut rng = Rng::new(world.seed, "hunting:phishing-site");
    // Address ranges no other part of the world draws from (the brute force uses
    // 192.0.2.10–250, devices 198.51.100.x, the C2 203.0.113.x, the mail sender 198.18.x.x).
    let site_ip = format!("192.0.2.{}", rng.range(2, 9));
    let attacker = format!("198.19.{}.{}", rng.range(0, 255), rng.range(1, 254));
    (host, site_ip, attacker)
}

// ====================================================================== DeviceFileEvents

struct FileRow {
    ts: i64,
    device: u32,
    action: &'static str,
    name: String,
    folder: String,
    hashes: (String, String, String),
    size: i64,
    origin_url: String,
    referrer: String,
    origin_ip: String,
    previous_name: String,
    previous_folder: String,
    request: Option<(String, String, String, String)>,
    init: Initiator,
}

fn file_events(cast: &mut Cast<'_>, rng: &mut Rng, rows: usize) -> Relation {
    let world = cast.world;
    let mut out: Vec<FileRow> = Vec::with_capacity(rows + 4);
    let file_server = world
        .devices
        .iter()
        .position(|d| d.name.starts_with("srv-file"));
    if !world.devices.is_empty() && !world.people.is_empty() {
        let times = spread_times(rng, rows, cast.anchor);
        let mut hash_cache: HashMap<String, (String, String, String)> = HashMap::new();
        let downloads: &[(&str, &str)] = &[
            (
                "https://github.com/contoso/tools/releases/download/v2.3/tools-2.3.zip",
                "tools-2.3.zip",
            ),
            (
                "https://contoso.sharepoint.com/sites/finance/Shared%20Documents/Budget%202027.xlsx",
                "Budget 2027.xlsx",
            ),
            (
                "https://www.fabrikam.example/catalog/2027-catalog.pdf",
                "2027-catalog.pdf",
            ),
            (
                "https://dl.google.com/chrome/install/ChromeStandaloneSetup64.exe",
                "ChromeStandaloneSetup64.exe",
            ),
            (
                "https://www.adatum.example/support/drivers/adatum-dock-3.1.msi",
                "adatum-dock-3.1.msi",
            ),
        ];
        for ts in times {
            let device = rng.below(world.devices.len() as u64) as usize;
            let platform = cast.platform(device);
            let account = cast.account_for(Runs::User, device) as usize;
            let user = world
                .people
                .get(account)
                .map_or("user", |p| p.account_name.as_str())
                .to_string();
            let roll = rng.below(100);
            let mut row = FileRow {
                ts,
                device: device as u32,
                action: "FileCreated",
                name: String::new(),
                folder: String::new(),
                hashes: (String::new(), String::new(), String::new()),
                size: 0,
                origin_url: String::new(),
                referrer: String::new(),
                origin_ip: String::new(),
                previous_name: String::new(),
                previous_folder: String::new(),
                request: None,
                init: Initiator::default(),
            };
            let (image, runs) = match platform {
                Platform::Linux => {
                    let name = format!("access.log.{}", rng.range(1, 14));
                    row.folder = format!("/var/log/nginx/{name}");
                    row.name = name;
                    row.action = if rng.chance(0.5) {
                        "FileModified"
                    } else {
                        "FileCreated"
                    };
                    ("nginx", Runs::Root)
                }
                Platform::WindowsServer if file_server == Some(device) && roll < 60 => {
                    let client = rng.below(world.devices.len() as u64) as usize;
                    let person = cast.account_for(Runs::User, client) as usize;
                    let doc = rng.pick(DOCUMENTS).copied().unwrap_or("Report");
                    let share = *rng
                        .pick(&["Finance", "Public", "Projects"])
                        .unwrap_or(&"Public");
                    row.name = format!("{doc}.docx");
                    row.folder = format!(r"D:\Shares\{share}\{doc}.docx");
                    row.action = *rng
                        .pick(&["FileCreated", "FileModified", "FileModified"])
                        .unwrap_or(&"FileModified");
                    let p = &world.people[person];
                    row.request = Some((
                        world.devices[client].ip_address.clone(),
                        p.account_name.clone(),
                        p.sid.clone(),
                        share.to_string(),
                    ));
                    ("System", Runs::System)
                }
                Platform::WindowsServer | Platform::Workstation if roll < 30 => {
                    let name = format!("TMP{:04X}.tmp", rng.below(512) * 97 % 65_536);
                    row.folder = format!(r"C:\Windows\Temp\{name}");
                    row.name = name;
                    row.action = *rng
                        .pick(&["FileCreated", "FileDeleted"])
                        .unwrap_or(&"FileCreated");
                    ("svchost.exe", Runs::System)
                }
                Platform::WindowsServer => {
                    let name = format!("mpenginedb-{}.db", rng.range(1, 9));
                    row.folder = format!(r"C:\ProgramData\Microsoft\Windows Defender\Scans\{name}");
                    row.name = name;
                    row.action = "FileModified";
                    ("MsMpEng.exe", Runs::System)
                }
                Platform::Workstation if roll < 50 => {
                    let (url, name) = rng.pick(downloads).copied().unwrap_or(("", "file.bin"));
                    row.name = name.to_string();
                    row.folder = format!(r"C:\Users\{user}\Downloads\{name}");
                    row.origin_url = url.to_string();
                    row.referrer = url
                        .rsplit_once('/')
                        .map_or(String::new(), |(h, _)| format!("{h}/"));
                    row.origin_ip = "140.82.121.4".to_string();
                    (
                        if rng.chance(0.6) {
                            "chrome.exe"
                        } else {
                            "msedge.exe"
                        },
                        Runs::User,
                    )
                }
                Platform::Workstation if roll < 70 => {
                    let doc = rng.pick(DOCUMENTS).copied().unwrap_or("Report");
                    let (ext, app) = if rng.chance(0.5) {
                        ("docx", "winword.exe")
                    } else {
                        ("xlsx", "excel.exe")
                    };
                    row.name = format!("{doc}.{ext}");
                    row.folder = format!(r"C:\Users\{user}\Documents\{doc}.{ext}");
                    row.action = "FileModified";
                    (app, Runs::User)
                }
                Platform::Workstation if roll < 85 => {
                    let doc = rng.pick(DOCUMENTS).copied().unwrap_or("Report");
                    row.name = format!("{doc}.pdf");
                    row.folder = format!(
                        r"C:\Users\{user}\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\K2J8Q1ZB\{doc}.pdf"
                    );
                    ("outlook.exe", Runs::User)
                }
                Platform::Workstation => {
                    let doc = rng.pick(DOCUMENTS).copied().unwrap_or("Report");
                    row.previous_name = format!("{doc} (1).docx");
                    row.previous_folder = format!(r"C:\Users\{user}\Documents");
                    row.name = format!("{doc} final.docx");
                    row.folder = format!(r"C:\Users\{user}\Documents\{doc} final.docx");
                    row.action = if rng.chance(0.5) {
                        "FileRenamed"
                    } else {
                        "FileDeleted"
                    };
                    ("explorer.exe", Runs::User)
                }
            };
            // Few distinct names, many rows: digest each name once.
            row.hashes = hash_cache
                .entry(row.name.clone())
                .or_insert_with(|| catalog::hashes_of(&row.name))
                .clone();
            row.size = 4_096 + (rng.below(4_000_000) as i64);
            row.init = cast.initiator(rng, device, image, runs, ts);
            out.push(row);
        }
        let bad = &world.findings.known_bad_file;
        if in_cast(world, bad.device, bad.person) {
            let ts = cast.minutes_ago(bad.minutes_ago);
            let mut init = cast.initiator(rng, bad.device, "msedge.exe", Runs::User, ts);
            init.account = bad.person as u32;
            let url = format!("https://files-contoso.example/dl/{}", bad.file_name);
            out.push(FileRow {
                ts,
                device: bad.device as u32,
                action: "FileCreated",
                name: bad.file_name.clone(),
                folder: bad.folder_path.clone(),
                hashes: (bad.sha1.clone(), bad.sha256.clone(), bad.md5.clone()),
                size: bad.file_size,
                origin_url: url,
                referrer: "https://files-contoso.example/".into(),
                origin_ip: "203.0.113.200".into(),
                previous_name: String::new(),
                previous_folder: String::new(),
                request: None,
                init,
            });
        }
    }
    out.sort_by_key(|r| r.ts);
    let mut b = TableBuilder::new(schema::DEVICE_FILE_EVENTS, out.len());
    b.plain("Timestamp", out.iter().map(|r| Value::DateTime(r.ts)));
    let devices: Vec<u32> = out.iter().map(|r| r.device).collect();
    cast.device_columns(&mut b, &devices);
    b.strings("ActionType", out.iter().map(|r| r.action));
    b.strings("FileName", out.iter().map(|r| r.name.as_str()));
    b.strings("FolderPath", out.iter().map(|r| r.folder.as_str()));
    b.strings("SHA1", out.iter().map(|r| r.hashes.0.as_str()));
    b.strings("SHA256", out.iter().map(|r| r.hashes.1.as_str()));
    b.strings("MD5", out.iter().map(|r| r.hashes.2.as_str()));
    b.strings("FileOriginUrl", out.iter().map(|r| r.origin_url.as_str()));
    b.strings(
        "FileOriginReferrerUrl",
        out.iter().map(|r| r.referrer.as_str()),
    );
    b.strings("FileOriginIP", out.iter().map(|r| r.origin_ip.as_str()));
    b.strings(
        "PreviousFolderPath",
        out.iter().map(|r| r.previous_folder.as_str()),
    );
    b.strings(
        "PreviousFileName",
        out.iter().map(|r| r.previous_name.as_str()),
    );
    b.plain("FileSize", out.iter().map(|r| Value::Long(r.size)));
    let init: Vec<Initiator> = out.iter().map(|r| r.init).collect();
    cast.initiator_columns(&mut b, &init);
    let req = |f: fn(&(String, String, String, String)) -> &str| {
        out.iter()
            .map(move |r| r.request.as_ref().map_or("", f))
            .collect::<Vec<&str>>()
    };
    b.strings(
        "RequestProtocol",
        out.iter()
            .map(|r| if r.request.is_some() { "SMB" } else { "Local" }),
    );
    b.strings("RequestSourceIP", req(|r| r.0.as_str()).into_iter());
    b.plain(
        "RequestSourcePort",
        out.iter().map(|r| {
            if r.request.is_some() {
                Value::Int(50_000 + (r.ts % 10_000) as i32)
            } else {
                Value::Null
            }
        }),
    );
    b.strings("RequestAccountName", req(|r| r.1.as_str()).into_iter());
    b.strings(
        "RequestAccountDomain",
        out.iter().map(|r| {
            if r.request.is_some() {
                NETBIOS_DOMAIN
            } else {
                ""
            }
        }),
    );
    b.strings("RequestAccountSid", req(|r| r.2.as_str()).into_iter());
    b.strings("ShareName", req(|r| r.3.as_str()).into_iter());
    b.constant("IsAzureInfoProtectionApplied", Value::Bool(false));
    b.plain(
        "ReportId",
        (0..out.len()).map(|i| Value::Long(3000 + (i as i64 * 43) % 90_000)),
    );
    b.build()
}

// ====================================================================== DeviceLogonEvents

struct LogonRow {
    ts: i64,
    device: u32,
    action: &'static str,
    logon_type: &'static str,
    account: u32,
    protocol: &'static str,
    failure: &'static str,
    admin: bool,
    remote_name: String,
    remote_ip: String,
    remote_port: Option<i32>,
    init: Initiator,
}

fn logon_events(cast: &mut Cast<'_>, rng: &mut Rng, rows: usize) -> Relation {
    let world = cast.world;
    let mut out: Vec<LogonRow> = Vec::with_capacity(rows + 64);
    if !world.devices.is_empty() && !world.people.is_empty() {
        let times = spread_times(rng, rows, cast.anchor);
        for ts in times {
            let device = rng.below(world.devices.len() as u64) as usize;
            let platform = cast.platform(device);
            let roll = rng.below(100);
            let mut row = LogonRow {
                ts,
                device: device as u32,
                action: "LogonSuccess",
                logon_type: "Interactive",
                account: cast.account_for(Runs::User, device),
                protocol: "Negotiate",
                failure: "",
                admin: false,
                remote_name: String::new(),
                remote_ip: String::new(),
                remote_port: None,
                init: Initiator::default(),
            };
            let image = match platform {
                Platform::Linux => {
                    row.logon_type = "Network";
                    row.protocol = "";
                    row.account = cast.account_index(Runs::Root);
                    row.remote_ip = world.devices
                        [cast.account_for(Runs::User, 0) as usize % world.devices.len()]
                    .ip_address
                    .clone();
                    row.remote_port = Some(rng.range(49_152, 65_535) as i32);
                    "sshd"
                }
                Platform::Workstation if roll < 45 => {
                    row.logon_type = if rng.chance(0.3) {
                        "Unlock"
                    } else {
                        "Interactive"
                    };
                    if rng.chance(0.04) {
                        row.action = "LogonFailed";
                        row.failure = "InvalidUserNameOrPassword";
                    }
                    "lsass.exe"
                }
                Platform::WindowsServer if roll < 55 => {
                    let client = rng.below(world.devices.len() as u64) as usize;
                    row.logon_type = "Network";
                    row.protocol = if rng.chance(0.85) { "Kerberos" } else { "NTLM" };
                    row.account = cast.account_for(Runs::User, client);
                    row.remote_name = world.devices[client]
                        .name
                        .split('.')
                        .next()
                        .unwrap_or("")
                        .to_uppercase();
                    row.remote_ip = world.devices[client].ip_address.clone();
                    row.remote_port = Some(0);
                    "lsass.exe"
                }
                Platform::WindowsServer if roll < 62 => {
                    row.logon_type = "RemoteInteractive";
                    row.account = 0;
                    row.admin = true;
                    let admin_ws = world.devices.iter().find(|d| d.primary_user == Some(0));
                    if let Some(ws) = admin_ws {
                        row.remote_name = ws.name.split('.').next().unwrap_or("").to_uppercase();
                        row.remote_ip = ws.ip_address.clone();
                    }
                    row.remote_port = Some(0);
                    "svchost.exe"
                }
                _ => {
                    row.logon_type = if rng.chance(0.8) { "Service" } else { "Batch" };
                    row.account = cast.account_index(
                        *rng.pick(&[Runs::System, Runs::LocalService, Runs::NetworkService])
                            .unwrap_or(&Runs::System),
                    );
                    row.protocol = "";
                    "services.exe"
                }
            };
            row.init = cast.initiator(rng, device, image, Runs::System, ts);
            out.push(row);
        }
        let bf = &world.findings.brute_force;
        if in_cast(world, bf.device, bf.person) {
            let start = cast.minutes_ago(bf.minutes_ago);
            let n = i64::from(bf.failed_attempts.max(1));
            for i in 0..=n {
                let failed = i < n;
                if !failed && !bf.succeeded {
                    break;
                }
                // Failures spread over ten minutes, the success right after.
                let ts = start
                    + i * (10 * TICKS_PER_MINUTE) / n
                    + rng.below(TICKS_PER_SECOND as u64) as i64;
                let init = cast.initiator(rng, bf.device, "lsass.exe", Runs::System, ts);
                out.push(LogonRow {
                    ts,
                    device: bf.device as u32,
                    action: if failed {
                        "LogonFailed"
                    } else {
                        "LogonSuccess"
                    },
                    logon_type: "Network",
                    account: bf.person as u32,
                    protocol: "NTLM",
                    failure: if failed {
                        "InvalidUserNameOrPassword"
                    } else {
                        ""
                    },
                    admin: false,
                    remote_name: String::new(),
                    remote_ip: bf.source_ip.clone(),
                    remote_port: Some(rng.range(49_152, 65_535) as i32),
                    init,
                });
            }
        }
    }
    out.sort_by_key(|r| r.ts);
    let mut b = TableBuilder::new(schema::DEVICE_LOGON_EVENTS, out.len());
    b.plain("Timestamp", out.iter().map(|r| Value::DateTime(r.ts)));
    let devices: Vec<u32> = out.iter().map(|r| r.device).collect();
    cast.device_columns(&mut b, &devices);
    b.strings("ActionType", out.iter().map(|r| r.action));
    b.strings("LogonType", out.iter().map(|r| r.logon_type));
    let codes = |f: fn(&LogonRow) -> u32| out.iter().map(f).collect::<Vec<_>>().into_iter();
    b.dict(
        "AccountDomain",
        &cast.account_pool(|a| &a.domain),
        codes(|r| r.account),
    );
    b.dict(
        "AccountName",
        &cast.account_pool(|a| &a.name),
        codes(|r| r.account),
    );
    b.dict(
        "AccountSid",
        &cast.account_pool(|a| &a.sid),
        codes(|r| r.account),
    );
    b.strings("Protocol", out.iter().map(|r| r.protocol));
    b.strings("FailureReason", out.iter().map(|r| r.failure));
    b.plain("IsLocalAdmin", out.iter().map(|r| Value::Bool(r.admin)));
    b.plain(
        "LogonId",
        out.iter().map(|r| {
            Value::Long(cast.logon_id(r.device as usize, r.account) + (r.ts / TICKS_PER_DAY) % 4096)
        }),
    );
    b.strings(
        "RemoteDeviceName",
        out.iter().map(|r| r.remote_name.as_str()),
    );
    b.strings("RemoteIP", out.iter().map(|r| r.remote_ip.as_str()));
    b.strings("RemoteIPType", out.iter().map(|r| ip_type(&r.remote_ip)));
    b.plain(
        "RemotePort",
        out.iter()
            .map(|r| r.remote_port.map_or(Value::Null, Value::Int)),
    );
    let init: Vec<Initiator> = out.iter().map(|r| r.init).collect();
    cast.initiator_columns(&mut b, &init);
    b.plain(
        "ReportId",
        (0..out.len()).map(|i| Value::Long(4000 + (i as i64 * 47) % 90_000)),
    );
    b.build()
}

// ====================================================================== DeviceInfo

fn device_info(cast: &Cast<'_>, rng: &mut Rng, rows: usize) -> Relation {
    let world = cast.world;
    let n_dev = world.devices.len();
    let times = if n_dev == 0 {
        Vec::new()
    } else {
        // Inventory reports arrive evenly, not in bursts: spread uniformly, newest last.
        let mut t: Vec<i64> = (0..rows.max(n_dev))
            .map(|i| {
                cast.anchor
                    - ((i as i64 * SPAN) / rows.max(n_dev) as i64)
                    - rng.below(TICKS_PER_MINUTE as u64) as i64
            })
            .collect();
        t.sort_unstable();
        t
    };
    let devices: Vec<u32> = (0..times.len())
        .map(|i| (i % n_dev.max(1)) as u32)
        .collect();
    let mut b = TableBuilder::new(schema::DEVICE_INFO, times.len());
    b.plain("Timestamp", times.iter().map(|t| Value::DateTime(*t)));
    cast.device_columns(&mut b, &devices);
    let d = |f: fn(&crate::emulator::world::Device) -> Value| cast.device_pool(f);
    let codes = || devices.iter().copied();
    b.dict(
        "ClientVersion",
        &d(|x| {
            Value::str(if x.os_platform == "Linux" {
                "101.24082.0004"
            } else {
                "10.8760.22621.1012"
            })
        }),
        codes(),
    );
    b.dict(
        "PublicIP",
        &d(|x| Value::str(&x.external_ip_address)),
        codes(),
    );
    b.dict(
        "OSArchitecture",
        &d(|x| {
            Value::str(if x.os_processor == "x64" {
                "64-bit"
            } else {
                "32-bit"
            })
        }),
        codes(),
    );
    b.dict("OSPlatform", &d(|x| Value::str(&x.os_platform)), codes());
    b.dict("OSBuild", &d(|x| Value::Long(x.os_build)), codes());
    b.dict(
        "IsAzureADJoined",
        &d(|x| Value::Bool(x.device_type == "Workstation")),
        codes(),
    );
    b.dict(
        "JoinType",
        &d(|x| {
            Value::str(if x.device_type == "Workstation" {
                "Hybrid Azure AD Join"
            } else {
                "Domain Joined"
            })
        }),
        codes(),
    );
    b.dict(
        "AadDeviceId",
        &d(|x| {
            Value::str(if x.device_type == "Workstation" {
                &x.aad_device_id
            } else {
                ""
            })
        }),
        codes(),
    );
    let users = cast.device_pool(|x| {
        let list: Vec<serde_json::Value> = x
            .primary_user
            .and_then(|p| world.people.get(p))
            .map(|p| serde_json::json!({"UserName": p.account_name, "DomainName": NETBIOS_DOMAIN, "Sid": p.sid}))
            .into_iter()
            .collect();
        Value::str(&serde_json::Value::Array(list).to_string())
    });
    b.dict("LoggedOnUsers", &users, codes());
    b.dict(
        "OSVersion",
        &d(|x| {
            Value::str(if x.os_platform == "Linux" {
                "22.04"
            } else {
                "10.0"
            })
        }),
        codes(),
    );
    b.dict(
        "MachineGroup",
        &d(|x| Value::str(&x.rbac_group_name)),
        codes(),
    );
    b.plain(
        "ReportId",
        (0..times.len()).map(|i| Value::Long(5000 + i as i64)),
    );
    b.constant("OnboardingStatus", Value::str("Onboarded"));
    b.constant("DeviceCategory", Value::str("Endpoint"));
    b.dict("DeviceType", &d(|x| Value::str(&x.device_type)), codes());
    b.dict(
        "Model",
        &d(|x| {
            Value::str(if x.device_type == "Workstation" {
                "Latitude 7440"
            } else {
                "Virtual Machine"
            })
        }),
        codes(),
    );
    b.dict(
        "Vendor",
        &d(|x| {
            Value::str(if x.device_type == "Workstation" {
                "Dell Inc."
            } else {
                "Microsoft Corporation"
            })
        }),
        codes(),
    );
    b.dict(
        "OSDistribution",
        &d(|x| {
            Value::str(if x.os_platform == "Linux" {
                "Ubuntu"
            } else {
                ""
            })
        }),
        codes(),
    );
    b.dict("OSVersionInfo", &d(|x| Value::str(&x.os_version)), codes());
    b.dict(
        "IsInternetFacing",
        &d(|x| Value::Bool(x.name.starts_with("srv-web"))),
        codes(),
    );
    b.dict(
        "SensorHealthState",
        &d(|x| Value::str(&x.health_status)),
        codes(),
    );
    b.constant("IsExcluded", Value::Bool(false));
    b.dict(
        "ExposureLevel",
        &d(|x| Value::str(&x.exposure_level)),
        codes(),
    );
    b.dict(
        "AssetValue",
        &d(|x| {
            Value::str(if x.device_type == "Server" {
                "High"
            } else {
                "Normal"
            })
        }),
        codes(),
    );
    b.dict(
        "DeviceManualTags",
        &d(|x| Value::str(&serde_json::to_string(&x.machine_tags).unwrap_or_default())),
        codes(),
    );
    b.constant("DeviceDynamicTags", Value::str("[]"));
    b.constant("ConnectivityType", Value::str("Streamlined"));
    b.build()
}

// ====================================================================== EmailEvents

struct MailRow {
    ts: i64,
    sender: String,
    display: String,
    sender_ip: String,
    sender_object: String,
    recipient: usize,
    subject: String,
    direction: &'static str,
    action: &'static str,
    location: &'static str,
    threats: &'static str,
    threat_names: &'static str,
    detection: &'static str,
    confidence: &'static str,
    email_action: &'static str,
    policy: &'static str,
    auth: &'static str,
    attachments: i32,
    urls: i32,
    latest_location: &'static str,
    latest_action: &'static str,
    network_id: String,
    internet_id: String,
    cluster: i64,
}

fn email_events(cast: &Cast<'_>, rng: &mut Rng, rows: usize) -> Relation {
    let world = cast.world;
    let people = &world.people;
    let mut out: Vec<MailRow> = Vec::with_capacity(rows + 1);
    const PASS: &str = r#"{"SPF":"pass","DKIM":"pass","DMARC":"pass","CompAuth":"pass"}"#;
    if !people.is_empty() {
        for ts in spread_times(rng, rows, cast.anchor) {
            let recipient = rng.below(people.len() as u64) as usize;
            let roll = rng.below(100);
            let mut row = MailRow {
                ts,
                sender: String::new(),
                display: String::new(),
                sender_ip: String::new(),
                sender_object: String::new(),
                recipient,
                subject: rng.pick(SUBJECTS).copied().unwrap_or("Hello").to_string(),
                direction: "Inbound",
                action: "Delivered",
                location: "Inbox/folder",
                threats: "",
                threat_names: "",
                detection: "",
                confidence: r#"{"Phish":"Low","Spam":"Low"}"#,
                email_action: "No action taken",
                policy: "",
                auth: PASS,
                attachments: i32::from(rng.chance(0.25)),
                urls: rng.range(0, 4) as i32,
                latest_location: "Inbox/folder",
                latest_action: "Delivered",
                network_id: guid(rng),
                internet_id: String::new(),
                cluster: rng.range(1_000_000_000, 9_999_999_999),
            };
            if roll < 35 {
                let from = &people[rng.below(people.len() as u64) as usize];
                row.sender = from.upn.clone();
                row.display = from.display_name.clone();
                row.sender_ip = "10.1.0.25".into();
                row.sender_object = from.object_id.clone();
                row.direction = "Intra-org";
            } else if roll < 45 {
                // Outbound: recorded once per external recipient; the "recipient" column holds
                // the partner address, so the sender is the person.
                let from = &people[recipient];
                row.sender = from.upn.clone();
                row.display = from.display_name.clone();
                row.sender_ip = "10.1.0.25".into();
                row.sender_object = from.object_id.clone();
                row.direction = "Outbound";
            } else {
                let (addr, name, ip) = rng.pick(SENDERS).copied().unwrap_or(SENDERS[0]);
                row.sender = addr.into();
                row.display = name.into();
                row.sender_ip = ip.into();
                if roll >= 92 {
                    row.subject = rng.pick(SPAM_SUBJECTS).copied().unwrap_or("Offer").into();
                    row.sender = format!("promo{}@bulk-mailer.example", rng.range(10, 99));
                    row.display = "Special Offers".into();
                    row.sender_ip = format!("203.0.113.{}", rng.range(100, 199));
                    row.action = "Junked";
                    row.location = "Junk folder";
                    row.latest_location = "Junk folder";
                    row.latest_action = "Junked";
                    row.threats = "Spam";
                    row.detection = r#"{"Spam":["Mixed analysis detection"]}"#;
                    row.confidence = r#"{"Spam":"High"}"#;
                    row.email_action = "Move message to junk mail folder";
                    row.policy = "Antispam";
                    row.auth =
                        r#"{"SPF":"softfail","DKIM":"none","DMARC":"fail","CompAuth":"fail"}"#;
                } else if roll == 91 {
                    row.subject = "Scanned document".into();
                    row.action = "Blocked";
                    row.location = "Quarantine";
                    row.latest_location = "Quarantine";
                    row.latest_action = "Blocked";
                    row.threats = "Malware";
                    row.threat_names = "Trojan:O97M/Sadoca.C!ml";
                    row.detection = r#"{"Malware":["Antimalware protection"]}"#;
                    row.email_action = "Send to quarantine";
                    row.policy = "Antimalware";
                    row.attachments = 1;
                }
            }
            row.internet_id = format!(
                "<{}@{}>",
                rng.hex(20),
                row.sender.split('@').nth(1).unwrap_or(TENANT_DOMAIN)
            );
            out.push(row);
        }
        let ph = &world.findings.phishing;
        if ph.recipient < people.len() {
            out.push(MailRow {
                ts: cast.minutes_ago(ph.minutes_ago),
                sender: ph.sender_address.clone(),
                display: ph.sender_display_name.clone(),
                sender_ip: ph.sender_ip.clone(),
                sender_object: String::new(),
                recipient: ph.recipient,
                subject: ph.subject.clone(),
                direction: "Inbound",
                action: "Delivered",
                location: "Inbox/folder",
                threats: "Phish",
                threat_names: "",
                detection: r#"{"Phish":["URL malicious reputation"]}"#,
                confidence: r#"{"Phish":"Low","Spam":"Normal"}"#,
                email_action: "No action taken",
                policy: "",
                auth: r#"{"SPF":"pass","DKIM":"none","DMARC":"none","CompAuth":"softpass"}"#,
                attachments: 0,
                urls: 1,
                // Zero-hour auto purge moved it to quarantine after delivery.
                latest_location: "Quarantine",
                latest_action: "Moved to quarantine",
                network_id: ph.network_message_id.clone(),
                internet_id: ph.internet_message_id.clone(),
                cluster: 4_242_424_242,
            });
        }
    }
    out.sort_by_key(|r| r.ts);
    let mut b = TableBuilder::new(schema::EMAIL_EVENTS, out.len());
    b.plain("Timestamp", out.iter().map(|r| Value::DateTime(r.ts)));
    b.plain(
        "NetworkMessageId",
        out.iter().map(|r| Value::str(&r.network_id)),
    );
    b.plain(
        "InternetMessageId",
        out.iter().map(|r| Value::str(&r.internet_id)),
    );
    b.strings(
        "SenderMailFromAddress",
        out.iter().map(|r| r.sender.as_str()),
    );
    b.strings("SenderFromAddress", out.iter().map(|r| r.sender.as_str()));
    b.strings("SenderDisplayName", out.iter().map(|r| r.display.as_str()));
    b.strings(
        "SenderObjectId",
        out.iter().map(|r| r.sender_object.as_str()),
    );
    let domains: Vec<&str> = out
        .iter()
        .map(|r| r.sender.split('@').nth(1).unwrap_or(""))
        .collect();
    b.strings("SenderMailFromDomain", domains.iter().copied());
    b.strings("SenderFromDomain", domains.iter().copied());
    b.strings("SenderIPv4", out.iter().map(|r| r.sender_ip.as_str()));
    let partner: Vec<String> = out
        .iter()
        .map(|r| {
            if r.direction == "Outbound" {
                let (addr, ..) = SENDERS[(r.cluster as usize) % SENDERS.len()];
                addr.to_string()
            } else {
                people
                    .get(r.recipient)
                    .map_or(String::new(), |p| p.upn.clone())
            }
        })
        .collect();
    b.strings("RecipientEmailAddress", partner.iter().map(String::as_str));
    b.strings(
        "RecipientObjectId",
        out.iter().map(|r| {
            if r.direction == "Outbound" {
                ""
            } else {
                people.get(r.recipient).map_or("", |p| p.object_id.as_str())
            }
        }),
    );
    b.strings("Subject", out.iter().map(|r| r.subject.as_str()));
    b.plain("EmailClusterId", out.iter().map(|r| Value::Long(r.cluster)));
    b.strings("EmailDirection", out.iter().map(|r| r.direction));
    b.strings("DeliveryAction", out.iter().map(|r| r.action));
    b.strings("DeliveryLocation", out.iter().map(|r| r.location));
    b.strings("ThreatTypes", out.iter().map(|r| r.threats));
    b.strings("ThreatNames", out.iter().map(|r| r.threat_names));
    b.strings("DetectionMethods", out.iter().map(|r| r.detection));
    b.strings("ConfidenceLevel", out.iter().map(|r| r.confidence));
    b.plain(
        "BulkComplaintLevel",
        out.iter()
            .map(|r| Value::Int(if r.threats == "Spam" { 7 } else { 0 })),
    );
    b.strings("EmailAction", out.iter().map(|r| r.email_action));
    b.strings("EmailActionPolicy", out.iter().map(|r| r.policy));
    b.strings(
        "EmailActionPolicyGuid",
        out.iter().map(|r| {
            if r.policy.is_empty() {
                ""
            } else {
                "0b3b8f2a-1c6d-4a3e-9a57-2f6f5a1c0d11"
            }
        }),
    );
    b.strings("AuthenticationDetails", out.iter().map(|r| r.auth));
    b.plain(
        "AttachmentCount",
        out.iter().map(|r| Value::Int(r.attachments)),
    );
    b.plain("UrlCount", out.iter().map(|r| Value::Int(r.urls)));
    b.constant("EmailLanguage", Value::str("en"));
    b.plain(
        "ReportId",
        out.iter()
            .map(|r| Value::str(&format!("{}-{}", r.network_id, r.recipient))),
    );
    b.strings(
        "LatestDeliveryLocation",
        out.iter().map(|r| r.latest_location),
    );
    b.strings("LatestDeliveryAction", out.iter().map(|r| r.latest_action));
    b.build()
}

// ====================================================================== alerts

/// The hunting name of a MITRE technique id (`PowerShell (T1059.001)`), as `AttackTechniques`
/// lists them.
fn technique(id: &str) -> String {
    let name = match id {
        "T1059.001" => "PowerShell",
        "T1027" => "Obfuscated Files or Information",
        "T1071.001" => "Web Protocols",
        "T1105" => "Ingress Tool Transfer",
        "T1110" => "Brute Force",
        "T1110.001" => "Password Guessing",
        "T1110.003" => "Password Spraying",
        "T1566" => "Phishing",
        "T1566.001" => "Spearphishing Attachment",
        "T1566.002" => "Spearphishing Link",
        "T1053.005" => "Scheduled Task",
        "T1078" => "Valid Accounts",
        "T1114.003" => "Email Forwarding Rule",
        "T1087.002" => "Domain Account",
        "T1055" => "Process Injection",
        "T1003.001" => "LSASS Memory",
        "T1547.001" => "Registry Run Keys / Startup Folder",
        "T1486" => "Data Encrypted for Impact",
        _ => return id.to_string(),
    };
    format!("{name} ({id})")
}

/// `ServiceSource` as the hunting tables spell it.
fn service_name(s: ServiceSource) -> &'static str {
    match s {
        ServiceSource::Endpoint => "Microsoft Defender for Endpoint",
        ServiceSource::Identity => "Microsoft Defender for Identity",
        ServiceSource::CloudApps => "Microsoft Defender for Cloud Apps",
        ServiceSource::Office365 => "Microsoft Defender for Office 365",
        ServiceSource::Xdr => "Microsoft Defender XDR",
        ServiceSource::EntraIdProtection => "Microsoft Entra ID Protection",
        ServiceSource::Unknown => "",
    }
}

/// `DetectionSource` as the hunting tables spell it.
fn detection_name(d: DetectionSource) -> &'static str {
    match d {
        DetectionSource::Edr => "EDR",
        DetectionSource::Antivirus => "Antivirus",
        DetectionSource::SmartScreen => "SmartScreen",
        DetectionSource::CustomTi => "Custom TI",
        DetectionSource::Office365 => "Microsoft Defender for Office 365",
        DetectionSource::AutomatedInvestigation => "Automated investigation",
        DetectionSource::CustomDetection => "Custom detection",
        DetectionSource::Identity => "Microsoft Defender for Identity",
        DetectionSource::CloudAppSecurity => "Microsoft Defender for Cloud Apps",
        DetectionSource::Xdr => "Microsoft Defender XDR",
        DetectionSource::EntraIdProtection => "Microsoft Entra ID Protection",
        DetectionSource::Manual => "Manual",
        DetectionSource::Unknown => "",
    }
}

/// The tenant's alerts, oldest first: the alert tables show exactly the alerts of the incidents
/// API, so an `AlertId` found by hunting opens with `GET …/alerts_v2/{id}`.
fn tenant_alerts(incidents: &[Incident]) -> Vec<&Alert> {
    let mut alerts: Vec<&Alert> = incidents.iter().flat_map(|i| i.alerts.iter()).collect();
    alerts.sort_by_key(|a| a.created);
    alerts
}

fn techniques_json(a: &Alert) -> String {
    let list: Vec<String> = a.mitre_techniques.iter().map(|t| technique(t)).collect();
    serde_json::to_string(&list).unwrap_or_else(|_| "[]".into())
}

fn alert_info(incidents: &[Incident]) -> Relation {
    let list = tenant_alerts(incidents);
    let mut b = TableBuilder::new(schema::ALERT_INFO, list.len());
    b.plain(
        "Timestamp",
        list.iter()
            .map(|a| Value::DateTime(ticks_from_chrono(a.created))),
    );
    b.plain("AlertId", list.iter().map(|a| Value::str(&a.id)));
    b.strings("Title", list.iter().map(|a| a.title.as_str()));
    b.strings("Category", list.iter().map(|a| a.category.as_str()));
    b.strings("Severity", list.iter().map(|a| a.severity.defender()));
    b.strings(
        "ServiceSource",
        list.iter().map(|a| service_name(a.service_source)),
    );
    b.strings(
        "DetectionSource",
        list.iter().map(|a| detection_name(a.detection_source)),
    );
    let techniques: Vec<String> = list.iter().map(|a| techniques_json(a)).collect();
    b.strings("AttackTechniques", techniques.iter().map(String::as_str));
    b.build()
}

/// One `AlertEvidence` row, flattened from an evidence entity.
#[derive(Default)]
struct EvidenceRow {
    ts: i64,
    alert: usize,
    entity: &'static str,
    role: &'static str,
    direction: &'static str,
    file: Option<FileDetails>,
    threat_family: String,
    remote_ip: String,
    remote_url: String,
    account: Option<ApiAccount>,
    upn: String,
    device_id: String,
    message: Option<(String, String)>,
    command_line: String,
    additional: String,
}

fn evidence_rows(alerts: &[&Alert]) -> Vec<EvidenceRow> {
    let mut out = Vec::new();
    for (i, a) in alerts.iter().enumerate() {
        for ev in &a.evidence {
            let has = |r: &str| ev.roles.iter().any(|x| x.eq_ignore_ascii_case(r));
            let mut row = EvidenceRow {
                ts: ticks_from_chrono(a.created),
                alert: i,
                role: if ev.verdict == "malicious" || ev.verdict == "suspicious" || has("impacted")
                {
                    "Impacted"
                } else {
                    "Related"
                },
                direction: if has("attacker") || has("source") {
                    "Source"
                } else if has("destination") {
                    "Destination"
                } else {
                    ""
                },
                ..EvidenceRow::default()
            };
            match &ev.kind {
                EvidenceKind::Device { device_id } => {
                    row.entity = "Machine";
                    row.device_id.clone_from(device_id);
                }
                EvidenceKind::File { file, device_id } => {
                    row.entity = "File";
                    row.file = Some(file.clone());
                    row.threat_family = a.threat_family_name.clone().unwrap_or_default();
                    row.device_id = device_id.clone().unwrap_or_default();
                }
                EvidenceKind::Process {
                    command_line,
                    image,
                    account,
                    device_id,
                    ..
                } => {
                    row.entity = "Process";
                    row.command_line.clone_from(command_line);
                    row.file = Some(image.clone());
                    row.account = account.clone();
                    row.device_id = device_id.clone().unwrap_or_default();
                }
                EvidenceKind::User { account } => {
                    row.entity = "User";
                    row.account = Some(account.clone());
                }
                EvidenceKind::Ip { address, .. } => {
                    row.entity = "Ip";
                    row.remote_ip.clone_from(address);
                }
                EvidenceKind::Url { url } => {
                    row.entity = "Url";
                    row.remote_url.clone_from(url);
                }
                EvidenceKind::Mailbox {
                    primary_address,
                    account,
                    ..
                } => {
                    row.entity = "Mailbox";
                    row.account = account.clone();
                    row.upn.clone_from(primary_address);
                }
                EvidenceKind::Message {
                    network_message_id,
                    subject,
                    sender_address,
                    sender_ip,
                    recipient,
                    delivery_action,
                    delivery_location,
                    ..
                } => {
                    row.entity = "MailMessage";
                    row.message = Some((network_message_id.clone(), subject.clone()));
                    row.additional = serde_json::json!({
                        "Sender": sender_address,
                        "Recipient": recipient,
                        "SenderIP": sender_ip,
                        "DeliveryAction": delivery_action,
                        "DeliveryLocation": delivery_location,
                    })
                    .to_string();
                }
            }
            if row.upn.is_empty() {
                row.upn = row
                    .account
                    .as_ref()
                    .and_then(|x| x.upn.clone())
                    .unwrap_or_default();
            }
            out.push(row);
        }
    }
    out
}

fn alert_evidence(cast: &Cast<'_>, incidents: &[Incident]) -> Relation {
    let alerts = tenant_alerts(incidents);
    let rows = evidence_rows(&alerts);
    let world = cast.world;
    let alert = |r: &EvidenceRow| alerts[r.alert];
    let mut b = TableBuilder::new(schema::ALERT_EVIDENCE, rows.len());
    b.plain("Timestamp", rows.iter().map(|r| Value::DateTime(r.ts)));
    b.strings("AlertId", rows.iter().map(|r| alert(r).id.as_str()));
    b.strings("Title", rows.iter().map(|r| alert(r).title.as_str()));
    let categories: Vec<String> = rows
        .iter()
        .map(|r| serde_json::json!([alert(r).category]).to_string())
        .collect();
    b.strings("Categories", categories.iter().map(String::as_str));
    let techniques: Vec<String> = rows.iter().map(|r| techniques_json(alert(r))).collect();
    b.strings("AttackTechniques", techniques.iter().map(String::as_str));
    b.strings(
        "ServiceSource",
        rows.iter().map(|r| service_name(alert(r).service_source)),
    );
    b.strings(
        "DetectionSource",
        rows.iter()
            .map(|r| detection_name(alert(r).detection_source)),
    );
    b.strings("EntityType", rows.iter().map(|r| r.entity));
    b.strings("EvidenceRole", rows.iter().map(|r| r.role));
    b.strings("EvidenceDirection", rows.iter().map(|r| r.direction));
    let file = |f: fn(&FileDetails) -> String| {
        rows.iter()
            .map(move |r| r.file.as_ref().map_or_else(String::new, f))
            .collect::<Vec<String>>()
    };
    let names = file(|f| f.file_name.clone());
    let folders = file(|f| {
        // The device tables' FolderPath includes the file name; keep them joinable.
        let sep = if f.file_path.starts_with('/') {
            "/"
        } else {
            "\\"
        };
        if f.file_path.is_empty() {
            f.file_name.clone()
        } else {
            format!(
                "{}{sep}{}",
                f.file_path.trim_end_matches(['\\', '/']),
                f.file_name
            )
        }
    });
    let sha1 = file(|f| f.sha1.clone().unwrap_or_default());
    let sha256 = file(|f| f.sha256.clone().unwrap_or_default());
    b.strings("FileName", names.iter().map(String::as_str));
    b.strings("FolderPath", folders.iter().map(String::as_str));
    b.strings("SHA1", sha1.iter().map(String::as_str));
    b.strings("SHA256", sha256.iter().map(String::as_str));
    b.plain(
        "FileSize",
        rows.iter().map(|r| {
            r.file
                .as_ref()
                .and_then(|f| f.file_size)
                .map_or(Value::Null, Value::Long)
        }),
    );
    b.strings(
        "ThreatFamily",
        rows.iter().map(|r| r.threat_family.as_str()),
    );
    b.strings("RemoteIP", rows.iter().map(|r| r.remote_ip.as_str()));
    b.strings("RemoteUrl", rows.iter().map(|r| r.remote_url.as_str()));
    let acct = |f: fn(&ApiAccount) -> Option<String>| {
        rows.iter()
            .map(move |r| r.account.as_ref().and_then(f).unwrap_or_default())
            .collect::<Vec<String>>()
    };
    let an = acct(|a| Some(a.account_name.clone()));
    let ad = acct(|a| a.domain_name.clone());
    let asid = acct(|a| a.sid.clone());
    let aoid = acct(|a| a.aad_user_id.clone());
    b.strings("AccountName", an.iter().map(String::as_str));
    b.strings("AccountDomain", ad.iter().map(String::as_str));
    b.strings("AccountSid", asid.iter().map(String::as_str));
    b.strings("AccountObjectId", aoid.iter().map(String::as_str));
    b.strings("AccountUpn", rows.iter().map(|r| r.upn.as_str()));
    let device = |r: &EvidenceRow| world.devices.iter().find(|d| d.id == r.device_id);
    b.strings("DeviceId", rows.iter().map(|r| r.device_id.as_str()));
    b.strings(
        "DeviceName",
        rows.iter()
            .map(|r| device(r).map_or("", |d| d.name.as_str())),
    );
    b.strings(
        "LocalIP",
        rows.iter().map(|r| {
            if r.entity == "Machine" {
                device(r).map_or("", |d| d.ip_address.as_str())
            } else {
                ""
            }
        }),
    );
    b.strings(
        "NetworkMessageId",
        rows.iter()
            .map(|r| r.message.as_ref().map_or("", |m| m.0.as_str())),
    );
    b.strings(
        "EmailSubject",
        rows.iter()
            .map(|r| r.message.as_ref().map_or("", |m| m.1.as_str())),
    );
    b.strings(
        "ProcessCommandLine",
        rows.iter().map(|r| r.command_line.as_str()),
    );
    b.strings(
        "AdditionalFields",
        rows.iter().map(|r| r.additional.as_str()),
    );
    b.strings(
        "Severity",
        rows.iter().map(|r| alert(r).severity.defender()),
    );
    b.build()
}

// ====================================================================== IdentityLogonEvents

struct IdRow {
    ts: i64,
    action: &'static str,
    application: &'static str,
    logon_type: &'static str,
    protocol: &'static str,
    failure: &'static str,
    person: usize,
    device: Option<usize>,
    ip: String,
    port: Option<i32>,
    destination: Option<usize>,
    destination_port: Option<i32>,
    location: &'static str,
    isp: &'static str,
    additional: serde_json::Value,
}

fn identity_logon_events(cast: &Cast<'_>, rng: &mut Rng, rows: usize) -> Relation {
    let world = cast.world;
    let mut out: Vec<IdRow> = Vec::with_capacity(rows + 64);
    let dc = world
        .devices
        .iter()
        .position(|d| d.name.starts_with("srv-dc"));
    let workstations: Vec<usize> = world
        .devices
        .iter()
        .enumerate()
        .filter(|(_, d)| d.device_type == "Workstation")
        .map(|(i, _)| i)
        .collect();
    if !world.people.is_empty() && !workstations.is_empty() {
        for ts in spread_times(rng, rows, cast.anchor) {
            let ws = workstations[rng.below(workstations.len() as u64) as usize];
            let person = world.devices[ws]
                .primary_user
                .unwrap_or(0)
                .min(world.people.len() - 1);
            let failed = rng.chance(0.03);
            let row = if rng.chance(0.7) {
                let kerberos = rng.chance(0.85);
                IdRow {
                    ts,
                    action: if failed {
                        "LogonFailed"
                    } else {
                        "LogonSuccess"
                    },
                    application: "Active Directory",
                    logon_type: if rng.chance(0.6) {
                        "Resource access"
                    } else {
                        "Credentials validation"
                    },
                    protocol: if kerberos { "Kerberos" } else { "NTLM" },
                    failure: if failed { "WrongPassword" } else { "" },
                    person,
                    device: Some(ws),
                    ip: world.devices[ws].ip_address.clone(),
                    port: Some(rng.range(49_152, 65_535) as i32),
                    destination: dc,
                    destination_port: Some(if kerberos { 88 } else { 445 }),
                    location: "",
                    isp: "",
                    additional: if kerberos {
                        serde_json::json!({"Spns": format!("krbtgt/{}", TENANT_DOMAIN.to_uppercase())})
                    } else {
                        serde_json::json!({})
                    },
                }
            } else {
                let (location, isp) = *rng
                    .pick(&[
                        ("Berlin, DE", "Deutsche Telekom AG"),
                        ("Seattle, US", "Comcast Cable"),
                        ("London, GB", "British Telecommunications PLC"),
                    ])
                    .unwrap_or(&("Seattle, US", "Comcast Cable"));
                IdRow {
                    ts,
                    action: if failed {
                        "LogonFailed"
                    } else {
                        "LogonSuccess"
                    },
                    application: rng
                        .pick(&[
                            "Microsoft 365",
                            "Microsoft Teams",
                            "Microsoft Exchange Online",
                        ])
                        .unwrap_or(&"Microsoft 365"),
                    logon_type: "Interactive",
                    protocol: "",
                    failure: if failed { "InvalidPassword" } else { "" },
                    person,
                    device: None,
                    ip: world.devices[ws].external_ip_address.clone(),
                    port: None,
                    destination: None,
                    destination_port: None,
                    location,
                    isp,
                    additional: serde_json::json!({"ARG.CLOUD_SERVICE": "Azure Active Directory"}),
                }
            };
            out.push(row);
        }
        // With the harvested password, someone signs in as the phishing recipient from abroad
        // forty minutes after the click: two failures, then a success.
        let ph = &world.findings.phishing;
        if ph.recipient < world.people.len() {
            let attacker = phishing_site(world).2;
            for (i, failed) in [true, true, false].into_iter().enumerate() {
                out.push(IdRow {
                    ts: cast.minutes_ago(ph.minutes_ago - 55) + i as i64 * 40 * TICKS_PER_SECOND,
                    action: if failed {
                        "LogonFailed"
                    } else {
                        "LogonSuccess"
                    },
                    application: "Microsoft 365",
                    logon_type: "Interactive",
                    protocol: "",
                    failure: if failed { "InvalidPassword" } else { "" },
                    person: ph.recipient,
                    device: None,
                    ip: attacker.clone(),
                    port: None,
                    destination: None,
                    destination_port: None,
                    location: "Lagos, NG",
                    isp: "Hosting Services Ltd",
                    additional: serde_json::json!({"ARG.CLOUD_SERVICE": "Azure Active Directory"}),
                });
            }
        }
        let bf = &world.findings.brute_force;
        let start = cast.minutes_ago(bf.minutes_ago);
        let n = i64::from(bf.failed_attempts.max(1));
        for i in 0..=n {
            let failed = i < n;
            if !failed && !bf.succeeded {
                break;
            }
            out.push(IdRow {
                ts: start + i * (10 * TICKS_PER_MINUTE) / n + 2 * TICKS_PER_SECOND,
                action: if failed {
                    "LogonFailed"
                } else {
                    "LogonSuccess"
                },
                application: "Active Directory",
                logon_type: "Resource access",
                protocol: "NTLM",
                failure: if failed { "WrongPassword" } else { "" },
                person: bf.person.min(world.people.len() - 1),
                device: None,
                ip: bf.source_ip.clone(),
                port: Some(rng.range(49_152, 65_535) as i32),
                destination: Some(bf.device),
                destination_port: Some(445),
                location: "",
                isp: "",
                additional: serde_json::json!({"Count": "1"}),
            });
        }
    }
    out.sort_by_key(|r| r.ts);
    let people = &world.people;
    let mut b = TableBuilder::new(schema::IDENTITY_LOGON_EVENTS, out.len());
    b.plain("Timestamp", out.iter().map(|r| Value::DateTime(r.ts)));
    b.strings("ActionType", out.iter().map(|r| r.action));
    b.strings("Application", out.iter().map(|r| r.application));
    b.strings("LogonType", out.iter().map(|r| r.logon_type));
    b.strings("Protocol", out.iter().map(|r| r.protocol));
    b.strings("FailureReason", out.iter().map(|r| r.failure));
    let codes: Vec<u32> = out.iter().map(|r| r.person as u32).collect();
    let people_pool = |f: fn(&crate::emulator::world::Person) -> Value| pool(people, f);
    b.dict(
        "AccountName",
        &people_pool(|x| Value::str(&x.account_name)),
        codes.iter().copied(),
    );
    b.constant("AccountDomain", Value::str(TENANT_DOMAIN));
    b.dict(
        "AccountUpn",
        &people_pool(|x| Value::str(&x.upn)),
        codes.iter().copied(),
    );
    b.dict(
        "AccountSid",
        &people_pool(|x| Value::str(&x.sid)),
        codes.iter().copied(),
    );
    b.dict(
        "AccountObjectId",
        &people_pool(|x| Value::str(&x.object_id)),
        codes.iter().copied(),
    );
    b.dict(
        "AccountDisplayName",
        &people_pool(|x| Value::str(&x.display_name)),
        codes.iter().copied(),
    );
    let dev = |i: Option<usize>| i.and_then(|i| world.devices.get(i));
    b.strings(
        "DeviceName",
        out.iter()
            .map(|r| dev(r.device).map_or("", |d| d.name.as_str())),
    );
    b.strings(
        "DeviceType",
        out.iter().map(|r| {
            if r.device.is_some() {
                "Workstation"
            } else {
                ""
            }
        }),
    );
    b.strings(
        "OSPlatform",
        out.iter()
            .map(|r| dev(r.device).map_or("", |d| d.os_platform.as_str())),
    );
    b.strings("IPAddress", out.iter().map(|r| r.ip.as_str()));
    b.plain(
        "Port",
        out.iter().map(|r| r.port.map_or(Value::Null, Value::Int)),
    );
    b.strings(
        "DestinationDeviceName",
        out.iter()
            .map(|r| dev(r.destination).map_or("", |d| d.name.as_str())),
    );
    b.strings(
        "DestinationIPAddress",
        out.iter()
            .map(|r| dev(r.destination).map_or("", |d| d.ip_address.as_str())),
    );
    b.plain(
        "DestinationPort",
        out.iter()
            .map(|r| r.destination_port.map_or(Value::Null, Value::Int)),
    );
    b.strings("Location", out.iter().map(|r| r.location));
    b.strings("Isp", out.iter().map(|r| r.isp));
    b.plain(
        "ReportId",
        (0..out.len()).map(|i| Value::str(&format!("{}-{i}", 6_000_000 + i))),
    );
    b.plain(
        "AdditionalFields",
        out.iter().map(|r| Value::dynamic(r.additional.clone())),
    );
    b.build()
}

/// Approximate heap size of a table, for the performance notes.
#[must_use]
pub fn heap_bytes(r: &Relation) -> usize {
    let mut seen: Vec<*const Column> = Vec::new();
    let mut total = 0;
    for c in &r.columns {
        let p = Arc::as_ptr(c);
        if !seen.contains(&p) {
            seen.push(p);
            total += c.heap_bytes();
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::hunting::kql::value::format_datetime;

    fn world() -> World {
        let anchor = chrono::DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .map(|d| d.with_timezone(&chrono::Utc))
            .unwrap();
        World::generate(7, anchor)
    }

    fn incidents(w: &World) -> Vec<Incident> {
        crate::emulator::api::generate::generate(w)
    }

    fn generate(name: &str, w: &World, seed: u64, rows: usize) -> Option<Relation> {
        super::generate(name, w, &incidents(w), seed, rows)
    }

    fn col(r: &Relation, name: &str) -> usize {
        r.index_of(name).unwrap()
    }

    #[test]
    fn every_table_has_its_schema_and_rows() {
        let w = world();
        for (name, cols) in schema::TABLES {
            let r = generate(name, &w, 7, 300).unwrap();
            assert_eq!(r.schema.len(), cols.len(), "{name}");
            // The alert tables hold the incidents' alerts, whatever `rows` is.
            let expected = if name.starts_with("Alert") { 40 } else { 290 };
            assert!(r.len() >= expected, "{name}: {}", r.len());
            for (i, (c, t)) in cols.iter().enumerate() {
                assert_eq!(&*r.schema[i].name, *c);
                assert_eq!(r.schema[i].ty, *t);
                assert_eq!(r.columns[i].len(), r.len(), "{name}.{c}");
            }
            let ts = col(&r, "Timestamp");
            let anchor = ticks_from_chrono(w.anchor);
            for row in 0..r.len() {
                match r.get(row, ts) {
                    Value::DateTime(t) => {
                        assert!(
                            *t <= anchor && *t >= anchor - SPAN - TICKS_PER_HOUR,
                            "{name} row {row}: {}",
                            format_datetime(*t)
                        );
                    }
                    other => panic!("{name}: {other:?}"),
                }
            }
        }
        assert!(generate("DeviceEvents", &w, 7, 10).is_none());
    }

    #[test]
    fn generation_is_deterministic_per_seed() {
        let w = world();
        let a = generate("DeviceProcessEvents", &w, 7, 200).unwrap();
        let b = generate("DeviceProcessEvents", &w, 7, 200).unwrap();
        let c = generate("DeviceProcessEvents", &w, 8, 200).unwrap();
        assert_eq!(a.row(17), b.row(17));
        assert_ne!(a.row(17), c.row(17));
    }

    #[test]
    fn planted_rows_exist_with_zero_background_rows() {
        let w = world();
        let dpe = generate("DeviceProcessEvents", &w, 7, 0).unwrap();
        assert_eq!(
            dpe.len(),
            w.findings.encoded_powershell.minutes_ago.len() + 1
        );
        let cmd = col(&dpe, "ProcessCommandLine");
        let parent = col(&dpe, "InitiatingProcessFileName");
        let encoded: Vec<usize> = (0..dpe.len())
            .filter(|&r| {
                dpe.get(r, cmd).as_str() == Some(&w.findings.encoded_powershell.command_line)
            })
            .collect();
        assert_eq!(encoded.len(), 3);
        assert!(
            encoded
                .iter()
                .all(|&r| dpe.get(r, parent).as_str() == Some("winword.exe"))
        );
        let logons = generate("DeviceLogonEvents", &w, 7, 0).unwrap();
        assert_eq!(logons.len(), 49);
        let ident = generate("IdentityLogonEvents", &w, 7, 0).unwrap();
        assert_eq!(ident.len(), 49 + 3);
        let mail = generate("EmailEvents", &w, 7, 0).unwrap();
        assert_eq!(mail.len(), 1);
        assert_eq!(
            mail.get(0, col(&mail, "ThreatTypes")).as_str(),
            Some("Phish")
        );
        assert_eq!(generate("DeviceFileEvents", &w, 7, 0).unwrap().len(), 1);
    }

    #[test]
    fn alert_tables_hold_the_incidents_alerts() {
        let w = world();
        let incidents = incidents(&w);
        let info = generate("AlertInfo", &w, 7, 100).unwrap();
        let ev = generate("AlertEvidence", &w, 7, 100).unwrap();
        let api_ids: std::collections::HashSet<String> = incidents
            .iter()
            .flat_map(|i| i.alerts.iter().map(|a| a.id.clone()))
            .collect();
        let ids: std::collections::HashSet<String> = (0..info.len())
            .map(|r| info.get(r, 1).to_kql_string())
            .collect();
        assert_eq!(ids, api_ids);
        assert!((0..ev.len()).all(|r| ids.contains(&ev.get(r, 1).to_kql_string())));
        let entity = col(&ev, "EntityType");
        let kinds: std::collections::HashSet<String> = (0..ev.len())
            .map(|r| ev.get(r, entity).to_kql_string())
            .collect();
        for k in [
            "Machine",
            "User",
            "File",
            "Process",
            "Ip",
            "Url",
            "MailMessage",
        ] {
            assert!(kinds.contains(k), "{k} missing from {kinds:?}");
        }
        assert!(technique("T1059.001") == "PowerShell (T1059.001)");
    }
}
