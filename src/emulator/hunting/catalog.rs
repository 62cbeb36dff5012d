//! The cast of the synthetic hunting data that is not in the shared world: executable images
//! with their version resources, process trees, network destinations, mail senders and alert
//! titles. Hashes are derived from the image path, so they are stable and distinct.

use sha1::Digest as _;

/// An executable image.
#[derive(Debug, Clone)]
pub struct Image {
    pub file_name: String,
    /// Full path including the file name (as the `FolderPath` column holds it).
    pub folder_path: String,
    pub company: &'static str,
    pub product: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    pub size: i64,
    /// `InitiatingProcessSignerType`.
    pub signer: &'static str,
    pub sha1: String,
    pub sha256: String,
    pub md5: String,
}

/// Stable pseudo-hashes of a path: real digests of a fixed preimage, so they look and behave
/// like the real thing.
#[must_use]
pub fn hashes_of(path: &str) -> (String, String, String) {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let sha1 = sha1::Sha1::digest(format!("huntbook-image:{path}").as_bytes());
    let sha256 = sha2::Sha256::digest(format!("huntbook-image:{path}").as_bytes());
    // No MD5 implementation is in the dependency set; 32 hex digits of another digest stand in.
    let md5 = sha2::Sha256::digest(format!("huntbook-md5:{path}").as_bytes());
    (hex(&sha1), hex(&sha256), hex(&md5[..16]))
}

const MS: &str = "Microsoft Corporation";
const WIN: &str = "Microsoft® Windows® Operating System";
const WINVER: &str = "10.0.22621.4317";

/// (path, company, product, version, description, size, signer)
type ImageSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    &'static str,
);

#[rustfmt::skip]
const IMAGES: &[ImageSpec] = &[
    (r"C:\Windows\explorer.exe", MS, WIN, WINVER, "Windows Explorer", 5_670_840, "OsVendor"),
    (r"C:\Windows\System32\svchost.exe", MS, WIN, WINVER, "Host Process for Windows Services", 57_360, "OsVendor"),
    (r"C:\Windows\System32\services.exe", MS, WIN, WINVER, "Services and Controller app", 718_112, "OsVendor"),
    (r"C:\Windows\System32\userinit.exe", MS, WIN, WINVER, "Userinit Logon Application", 39_424, "OsVendor"),
    (r"C:\Windows\System32\wininit.exe", MS, WIN, WINVER, "Windows Start-Up Application", 437_856, "OsVendor"),
    (r"C:\Windows\System32\winlogon.exe", MS, WIN, WINVER, "Windows Logon Application", 926_720, "OsVendor"),
    (r"C:\Windows\System32\lsass.exe", MS, WIN, WINVER, "Local Security Authority Process", 59_456, "OsVendor"),
    (r"C:\Windows\System32\cmd.exe", MS, WIN, WINVER, "Windows Command Processor", 323_584, "OsVendor"),
    (r"C:\Windows\System32\conhost.exe", MS, WIN, WINVER, "Console Window Host", 1_043_456, "OsVendor"),
    (r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", MS, WIN, "10.0.22621.3085", "Windows PowerShell", 455_680, "OsVendor"),
    (r"C:\Windows\System32\taskhostw.exe", MS, WIN, WINVER, "Host Process for Windows Tasks", 101_720, "OsVendor"),
    (r"C:\Windows\System32\wbem\WmiPrvSE.exe", MS, WIN, WINVER, "WMI Provider Host", 514_048, "OsVendor"),
    (r"C:\Windows\System32\backgroundTaskHost.exe", MS, WIN, WINVER, "Background Task Host", 34_304, "OsVendor"),
    (r"C:\Windows\System32\RuntimeBroker.exe", MS, WIN, WINVER, "Runtime Broker", 147_456, "OsVendor"),
    (r"C:\Windows\System32\SearchProtocolHost.exe", MS, WIN, WINVER, "Microsoft Windows Search Protocol Host", 417_792, "OsVendor"),
    (r"C:\Windows\System32\CompatTelRunner.exe", MS, WIN, WINVER, "Microsoft Compatibility Telemetry", 210_432, "OsVendor"),
    (r"C:\Windows\System32\wermgr.exe", MS, WIN, WINVER, "Windows Problem Reporting", 222_720, "OsVendor"),
    (r"C:\Windows\System32\msiexec.exe", MS, WIN, WINVER, "Windows® installer", 69_632, "OsVendor"),
    (r"C:\Windows\System32\whoami.exe", MS, WIN, WINVER, "whoami - displays logged on user information", 82_432, "OsVendor"),
    (r"C:\Windows\System32\ipconfig.exe", MS, WIN, WINVER, "IP Configuration Utility", 35_840, "OsVendor"),
    (r"C:\Windows\System32\notepad.exe", MS, WIN, WINVER, "Notepad", 201_216, "OsVendor"),
    (r"C:\Windows\System32\rundll32.exe", MS, WIN, WINVER, "Windows host process (Rundll32)", 71_680, "OsVendor"),
    (r"C:\Program Files\Google\Chrome\Application\chrome.exe", "Google LLC", "Google Chrome", "131.0.6778.86", "Google Chrome", 3_161_880, "ThirdParty"),
    (r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe", MS, "Microsoft Edge", "131.0.2903.70", "Microsoft Edge", 4_190_536, "Microsoft"),
    (r"C:\Program Files\Microsoft Office\root\Office16\outlook.exe", MS, "Microsoft Outlook", "16.0.18129.20158", "Microsoft Outlook", 43_018_120, "Microsoft"),
    (r"C:\Program Files\Microsoft Office\root\Office16\winword.exe", MS, "Microsoft Office", "16.0.18129.20158", "Microsoft Word", 1_623_928, "Microsoft"),
    (r"C:\Program Files\Microsoft Office\root\Office16\excel.exe", MS, "Microsoft Office", "16.0.18129.20158", "Microsoft Excel", 70_412_680, "Microsoft"),
    (r"C:\Program Files\WindowsApps\MSTeams_24295.605.3225.8804_x64__8wekyb3d8bbwe\ms-teams.exe", MS, "Microsoft Teams", "24295.605.3225.8804", "Microsoft Teams", 1_102_048, "Microsoft"),
    (r"C:\Program Files\Windows Defender\MsMpEng.exe", MS, WIN, "4.18.24090.11", "Antimalware Service Executable", 133_576, "OsVendor"),
    (r"C:\Program Files\Windows Defender\MpCmdRun.exe", MS, WIN, "4.18.24090.11", "Microsoft Malware Protection Command Line Utility", 1_524_464, "OsVendor"),
    (r"C:\Program Files\Windows Defender Advanced Threat Protection\MsSense.exe", MS, WIN, "10.8760.22621.1012", "Windows Defender Advanced Threat Protection Service Executable", 4_612_096, "OsVendor"),
    (r"C:\Program Files\Microsoft SQL Server\MSSQL16.MSSQLSERVER\MSSQL\Binn\sqlservr.exe", MS, "Microsoft SQL Server", "2022.160.4145.4", "SQL Server Windows NT - 64 Bit", 651_864, "Microsoft"),
    ("System", MS, WIN, WINVER, "NT Kernel & System", 0, "OsVendor"),
    (r"C:\Windows\System32\dns.exe", MS, WIN, "10.0.20348.2849", "Domain Name System (DNS) Server", 2_408_448, "OsVendor"),
    ("/usr/lib/systemd/systemd", "", "", "", "", 96_064, ""),
    ("/usr/sbin/sshd", "", "", "", "", 920_520, ""),
    ("/usr/bin/bash", "", "", "", "", 1_396_520, ""),
    ("/usr/sbin/nginx", "", "", "", "", 1_186_640, ""),
    ("/usr/bin/python3.10", "", "", "", "", 5_912_032, ""),
    ("/usr/bin/curl", "", "", "", "", 260_328, ""),
    ("/usr/sbin/cron", "", "", "", "", 55_944, ""),
    ("/usr/bin/apt", "", "", "", "", 18_824, ""),
];

/// Every catalogued image, with derived hashes.
#[must_use]
pub fn images() -> Vec<Image> {
    IMAGES
        .iter()
        .map(
            |(path, company, product, version, description, size, signer)| {
                let sep = if path.starts_with('/') { '/' } else { '\\' };
                let file_name = path.rsplit(sep).next().unwrap_or(path).to_string();
                // The kernel's `System` process has no image path.
                let folder = if path.contains(sep) {
                    (*path).to_string()
                } else {
                    String::new()
                };
                let (sha1, sha256, md5) = hashes_of(path);
                Image {
                    file_name,
                    folder_path: folder,
                    company,
                    product,
                    version,
                    description,
                    size: *size,
                    signer,
                    sha1,
                    sha256,
                    md5,
                }
            },
        )
        .collect()
}

/// Who a process runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// The device's user (an administrator on servers).
    User,
    System,
    LocalService,
    NetworkService,
    Root,
}

/// Where a process tree edge happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Workstation,
    WindowsServer,
    Linux,
}

/// A parent → child process launch, with how often it happens and its command lines.
/// `{user}`, `{doc}`, `{n}` are filled at generation.
pub struct Edge {
    pub platform: Platform,
    pub parent: &'static str,
    pub child: &'static str,
    pub weight: u32,
    pub runs: Runs,
    pub commands: &'static [&'static str],
}

/// The process trees of the synthetic devices.
#[rustfmt::skip]
pub const EDGES: &[Edge] = &[
    Edge { platform: Platform::Workstation, parent: "userinit.exe", child: "explorer.exe", weight: 2, runs: Runs::User, commands: &[r"C:\Windows\Explorer.EXE"] },
    Edge { platform: Platform::Workstation, parent: "explorer.exe", child: "chrome.exe", weight: 10, runs: Runs::User, commands: &[r#""C:\Program Files\Google\Chrome\Application\chrome.exe""#, r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --profile-directory=Default"#] },
    Edge { platform: Platform::Workstation, parent: "chrome.exe", child: "chrome.exe", weight: 24, runs: Runs::User, commands: &[r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --renderer-client-id={n} --field-trial-handle=1948,i,{n}"#, r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=gpu-process --gpu-preferences=WAAAAAAAAADgAAA --field-trial-handle=1948,i,{n}"#, r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=utility --utility-sub-type=network.mojom.NetworkService --lang=en-US --service-sandbox-type=none"#] },
    Edge { platform: Platform::Workstation, parent: "explorer.exe", child: "msedge.exe", weight: 6, runs: Runs::User, commands: &[r#""C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --single-argument https://contoso.sharepoint.com/"#, r#""C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe""#] },
    Edge { platform: Platform::Workstation, parent: "msedge.exe", child: "msedge.exe", weight: 10, runs: Runs::User, commands: &[r#""C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --type=renderer --lang=en-US --renderer-client-id={n}"#] },
    Edge { platform: Platform::Workstation, parent: "explorer.exe", child: "outlook.exe", weight: 4, runs: Runs::User, commands: &[r#""C:\Program Files\Microsoft Office\Root\Office16\OUTLOOK.EXE""#] },
    Edge { platform: Platform::Workstation, parent: "explorer.exe", child: "ms-teams.exe", weight: 4, runs: Runs::User, commands: &[r#""C:\Program Files\WindowsApps\MSTeams_24295.605.3225.8804_x64__8wekyb3d8bbwe\ms-teams.exe" msteams:system-initiated"#] },
    Edge { platform: Platform::Workstation, parent: "explorer.exe", child: "winword.exe", weight: 3, runs: Runs::User, commands: &[r#""C:\Program Files\Microsoft Office\Root\Office16\WINWORD.EXE" /n "C:\Users\{user}\Documents\{doc}.docx""#] },
    Edge { platform: Platform::Workstation, parent: "outlook.exe", child: "winword.exe", weight: 1, runs: Runs::User, commands: &[r#""C:\Program Files\Microsoft Office\Root\Office16\WINWORD.EXE" /n "C:\Users\{user}\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\K2J8Q1ZB\{doc}.docx" /o """#] },
    Edge { platform: Platform::Workstation, parent: "explorer.exe", child: "excel.exe", weight: 3, runs: Runs::User, commands: &[r#""C:\Program Files\Microsoft Office\Root\Office16\EXCEL.EXE" "C:\Users\{user}\Documents\{doc}.xlsx""#] },
    Edge { platform: Platform::Workstation, parent: "explorer.exe", child: "notepad.exe", weight: 2, runs: Runs::User, commands: &[r#""C:\Windows\system32\NOTEPAD.EXE" C:\Users\{user}\Desktop\notes.txt"#] },
    Edge { platform: Platform::Workstation, parent: "explorer.exe", child: "cmd.exe", weight: 1, runs: Runs::User, commands: &[r#""C:\Windows\system32\cmd.exe" "#] },
    Edge { platform: Platform::Workstation, parent: "cmd.exe", child: "ipconfig.exe", weight: 1, runs: Runs::User, commands: &["ipconfig  /all", "ipconfig /flushdns"] },
    Edge { platform: Platform::Workstation, parent: "cmd.exe", child: "whoami.exe", weight: 1, runs: Runs::User, commands: &["whoami", "whoami  /groups"] },
    Edge { platform: Platform::Workstation, parent: "cmd.exe", child: "conhost.exe", weight: 1, runs: Runs::User, commands: &[r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1"] },
    Edge { platform: Platform::Workstation, parent: "explorer.exe", child: "powershell.exe", weight: 1, runs: Runs::User, commands: &[r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" "#, r#""powershell.exe" -NoLogo"#] },
    Edge { platform: Platform::Workstation, parent: "powershell.exe", child: "conhost.exe", weight: 1, runs: Runs::User, commands: &[r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1"] },
    Edge { platform: Platform::Workstation, parent: "svchost.exe", child: "taskhostw.exe", weight: 4, runs: Runs::User, commands: &["taskhostw.exe Install $(Arg0)", "taskhostw.exe -RegisterDevice -ProtectionStateChanged -FreeNetworkOnly", "taskhostw.exe"] },
    Edge { platform: Platform::Workstation, parent: "svchost.exe", child: "RuntimeBroker.exe", weight: 4, runs: Runs::User, commands: &[r"C:\Windows\System32\RuntimeBroker.exe -Embedding"] },
    Edge { platform: Platform::Workstation, parent: "svchost.exe", child: "backgroundTaskHost.exe", weight: 3, runs: Runs::User, commands: &[r#""C:\Windows\system32\backgroundTaskHost.exe" -ServerName:BackgroundTaskHost.WebAccountProvider"#] },
    Edge { platform: Platform::Workstation, parent: "svchost.exe", child: "SearchProtocolHost.exe", weight: 3, runs: Runs::System, commands: &[r#""C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe{n}_ Global\UsGthrCtrlFltPipeMssGthrPipe{n} 1 -2147483646 "Software\Microsoft\Windows Search" "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)" "C:\ProgramData\Microsoft\Search\Data\Temp\usgthrsvc" "DownLevelDaemon""#] },
    Edge { platform: Platform::Workstation, parent: "svchost.exe", child: "WmiPrvSE.exe", weight: 3, runs: Runs::NetworkService, commands: &[r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding", r"C:\Windows\system32\wbem\wmiprvse.exe -Embedding"] },
    Edge { platform: Platform::Workstation, parent: "svchost.exe", child: "CompatTelRunner.exe", weight: 1, runs: Runs::System, commands: &[r"C:\Windows\system32\compattelrunner.exe -m:appraiser.dll -f:DoScheduledTelemetryRun -cv:{n}.5"] },
    Edge { platform: Platform::Workstation, parent: "svchost.exe", child: "MpCmdRun.exe", weight: 1, runs: Runs::System, commands: &[r#""C:\Program Files\Windows Defender\MpCmdRun.exe" -wdenable"#, r#""C:\Program Files\Windows Defender\MpCmdRun.exe" SignatureUpdate -ScheduleJob -RestrictPrivileges"#] },
    Edge { platform: Platform::Workstation, parent: "svchost.exe", child: "wermgr.exe", weight: 1, runs: Runs::System, commands: &[r#"C:\Windows\system32\wermgr.exe -upload"#] },
    Edge { platform: Platform::Workstation, parent: "services.exe", child: "svchost.exe", weight: 10, runs: Runs::System, commands: &[r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule", r"C:\Windows\system32\svchost.exe -k netsvcs -p -s gpsvc", r"C:\Windows\System32\svchost.exe -k wsappx -p -s AppXSvc", r"C:\Windows\system32\svchost.exe -k UnistackSvcGroup -s WpnUserService_{n}"] },
    Edge { platform: Platform::Workstation, parent: "services.exe", child: "svchost.exe", weight: 4, runs: Runs::LocalService, commands: &[r"C:\Windows\system32\svchost.exe -k LocalServiceNetworkRestricted -p -s Dhcp", r"C:\Windows\System32\svchost.exe -k LocalServiceNoNetworkFirewall -p"] },
    Edge { platform: Platform::Workstation, parent: "services.exe", child: "msiexec.exe", weight: 1, runs: Runs::System, commands: &[r"C:\Windows\system32\msiexec.exe /V"] },
    Edge { platform: Platform::WindowsServer, parent: "services.exe", child: "svchost.exe", weight: 10, runs: Runs::System, commands: &[r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule", r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Winmgmt", r"C:\Windows\System32\svchost.exe -k NetworkService -p -s Dnscache"] },
    Edge { platform: Platform::WindowsServer, parent: "svchost.exe", child: "WmiPrvSE.exe", weight: 4, runs: Runs::NetworkService, commands: &[r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding"] },
    Edge { platform: Platform::WindowsServer, parent: "svchost.exe", child: "taskhostw.exe", weight: 2, runs: Runs::System, commands: &["taskhostw.exe"] },
    Edge { platform: Platform::WindowsServer, parent: "svchost.exe", child: "MpCmdRun.exe", weight: 2, runs: Runs::System, commands: &[r#""C:\Program Files\Windows Defender\MpCmdRun.exe" SignatureUpdate -ScheduleJob -RestrictPrivileges"#] },
    Edge { platform: Platform::WindowsServer, parent: "services.exe", child: "sqlservr.exe", weight: 1, runs: Runs::NetworkService, commands: &[r#""C:\Program Files\Microsoft SQL Server\MSSQL16.MSSQLSERVER\MSSQL\Binn\sqlservr.exe" -sMSSQLSERVER"#] },
    Edge { platform: Platform::WindowsServer, parent: "explorer.exe", child: "cmd.exe", weight: 1, runs: Runs::User, commands: &[r#""C:\Windows\system32\cmd.exe" "#] },
    Edge { platform: Platform::WindowsServer, parent: "explorer.exe", child: "powershell.exe", weight: 1, runs: Runs::User, commands: &[r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" "#] },
    Edge { platform: Platform::WindowsServer, parent: "cmd.exe", child: "ipconfig.exe", weight: 1, runs: Runs::User, commands: &["ipconfig  /all"] },
    Edge { platform: Platform::Linux, parent: "systemd", child: "sshd", weight: 2, runs: Runs::Root, commands: &["sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"] },
    Edge { platform: Platform::Linux, parent: "sshd", child: "bash", weight: 2, runs: Runs::User, commands: &["-bash"] },
    Edge { platform: Platform::Linux, parent: "systemd", child: "cron", weight: 1, runs: Runs::Root, commands: &["/usr/sbin/cron -f -P"] },
    Edge { platform: Platform::Linux, parent: "cron", child: "bash", weight: 4, runs: Runs::Root, commands: &["/bin/sh -c /opt/backup/run.sh", "/bin/sh -c 'test -x /usr/sbin/anacron || run-parts --report /etc/cron.daily'"] },
    Edge { platform: Platform::Linux, parent: "bash", child: "curl", weight: 2, runs: Runs::Root, commands: &["curl -fsS https://api.github.com/repos/contoso/web/releases/latest", "curl -s http://127.0.0.1:8080/healthz"] },
    Edge { platform: Platform::Linux, parent: "bash", child: "python3.10", weight: 2, runs: Runs::User, commands: &["python3 manage.py migrate", "python3 /opt/backup/rotate.py --keep 14"] },
    Edge { platform: Platform::Linux, parent: "systemd", child: "nginx", weight: 1, runs: Runs::Root, commands: &["nginx: master process /usr/sbin/nginx -g daemon on; master_process on;"] },
    Edge { platform: Platform::Linux, parent: "bash", child: "apt", weight: 1, runs: Runs::Root, commands: &["apt update", "apt list --upgradable"] },
];

/// The parent of a long-lived process, for `InitiatingProcessParentFileName`.
#[must_use]
pub fn grandparent_of(parent: &str) -> &'static str {
    match parent {
        "explorer.exe" => "userinit.exe",
        "userinit.exe" => "winlogon.exe",
        "services.exe" => "wininit.exe",
        "svchost.exe" => "services.exe",
        "chrome.exe" | "msedge.exe" | "outlook.exe" | "cmd.exe" | "powershell.exe"
        | "winword.exe" => "explorer.exe",
        "MsMpEng.exe" | "MsSense.exe" | "sqlservr.exe" | "msiexec.exe" | "dns.exe" => {
            "services.exe"
        }
        "WmiPrvSE.exe"
        | "taskhostw.exe"
        | "RuntimeBroker.exe"
        | "backgroundTaskHost.exe"
        | "SearchProtocolHost.exe"
        | "CompatTelRunner.exe"
        | "MpCmdRun.exe"
        | "wermgr.exe" => "svchost.exe",
        "lsass.exe" => "wininit.exe",
        "System" | "systemd" => "",
        "sshd" | "cron" | "nginx" => "systemd",
        "bash" => "sshd",
        "curl" | "apt" | "python3.10" => "bash",
        _ => "explorer.exe",
    }
}

/// The command line a long-lived parent runs with.
#[must_use]
pub fn parent_command(parent: &str) -> &'static str {
    match parent {
        "explorer.exe" => r"C:\Windows\Explorer.EXE",
        "userinit.exe" => r"C:\Windows\system32\userinit.exe",
        "services.exe" => r"C:\Windows\system32\services.exe",
        "svchost.exe" => r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
        "chrome.exe" => r#""C:\Program Files\Google\Chrome\Application\chrome.exe""#,
        "msedge.exe" => r#""C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe""#,
        "outlook.exe" => r#""C:\Program Files\Microsoft Office\Root\Office16\OUTLOOK.EXE""#,
        "cmd.exe" => r#""C:\Windows\system32\cmd.exe" "#,
        "powershell.exe" => r#""C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" "#,
        "winword.exe" => r#""C:\Program Files\Microsoft Office\Root\Office16\WINWORD.EXE" /n"#,
        "systemd" => "/sbin/init",
        "sshd" => "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",
        "bash" => "-bash",
        "cron" => "/usr/sbin/cron -f -P",
        "lsass.exe" => r"C:\Windows\system32\lsass.exe",
        "winlogon.exe" => "winlogon.exe",
        "MsSense.exe" => {
            r#""C:\Program Files\Windows Defender Advanced Threat Protection\MsSense.exe""#
        }
        "MsMpEng.exe" => r#""C:\Program Files\Windows Defender\MsMpEng.exe""#,
        _ => "",
    }
}

/// Document names for `{doc}`.
pub const DOCUMENTS: &[&str] = &[
    "Q3 forecast",
    "Board minutes",
    "Project Falcon plan",
    "Budget 2027",
    "Supplier contracts",
    "Onboarding checklist",
    "Travel expenses",
    "Customer list",
];

/// A network destination: (RemoteUrl, RemoteIP, RemotePort, Protocol, which processes call it).
pub struct Destination {
    pub url: &'static str,
    pub ip: &'static str,
    pub port: i32,
    pub protocol: &'static str,
    pub processes: &'static [&'static str],
    pub weight: u32,
}

/// Where the workstations and servers connect to.
#[rustfmt::skip]
pub const DESTINATIONS: &[Destination] = &[
    Destination { url: "www.google.com", ip: "142.250.185.196", port: 443, protocol: "Tcp", processes: &["chrome.exe", "msedge.exe"], weight: 8 },
    Destination { url: "www.bing.com", ip: "13.107.21.200", port: 443, protocol: "Tcp", processes: &["msedge.exe"], weight: 4 },
    Destination { url: "github.com", ip: "140.82.121.4", port: 443, protocol: "Tcp", processes: &["chrome.exe", "msedge.exe"], weight: 3 },
    Destination { url: "en.wikipedia.org", ip: "185.15.59.224", port: 443, protocol: "Tcp", processes: &["chrome.exe", "msedge.exe"], weight: 2 },
    Destination { url: "www.linkedin.com", ip: "13.107.42.14", port: 443, protocol: "Tcp", processes: &["chrome.exe", "msedge.exe"], weight: 2 },
    Destination { url: "contoso.sharepoint.com", ip: "13.107.136.9", port: 443, protocol: "Tcp", processes: &["msedge.exe", "chrome.exe", "winword.exe", "excel.exe"], weight: 5 },
    Destination { url: "login.microsoftonline.com", ip: "20.190.159.2", port: 443, protocol: "Tcp", processes: &["msedge.exe", "outlook.exe", "ms-teams.exe", "winword.exe"], weight: 5 },
    Destination { url: "outlook.office365.com", ip: "52.97.201.226", port: 443, protocol: "Tcp", processes: &["outlook.exe"], weight: 6 },
    Destination { url: "teams.microsoft.com", ip: "52.113.194.132", port: 443, protocol: "Tcp", processes: &["ms-teams.exe"], weight: 6 },
    Destination { url: "ctldl.windowsupdate.com", ip: "93.184.221.240", port: 80, protocol: "Tcp", processes: &["svchost.exe"], weight: 3 },
    Destination { url: "settings-win.data.microsoft.com", ip: "20.42.65.92", port: 443, protocol: "Tcp", processes: &["svchost.exe", "CompatTelRunner.exe"], weight: 3 },
    Destination { url: "winatp-gw-weu.microsoft.com", ip: "20.50.201.195", port: 443, protocol: "Tcp", processes: &["MsSense.exe"], weight: 4 },
    Destination { url: "wdcp.microsoft.com", ip: "52.182.141.63", port: 443, protocol: "Tcp", processes: &["MsMpEng.exe"], weight: 2 },
];

/// Mail senders outside the tenant: (address, display name, sending IP).
pub const SENDERS: &[(&str, &str, &str)] = &[
    (
        "orders@fabrikam.example",
        "Fabrikam Orders",
        "198.51.100.25",
    ),
    (
        "ap@fabrikam.example",
        "Fabrikam Accounts Payable",
        "198.51.100.25",
    ),
    (
        "news@tailspintoys.example",
        "Tailspin Toys Newsletter",
        "203.0.113.77",
    ),
    ("support@adatum.example", "Adatum Support", "192.0.2.44"),
    (
        "recruiting@wingtiptoys.example",
        "Wingtip Recruiting",
        "198.51.100.140",
    ),
    (
        "noreply@northwindtraders.example",
        "Northwind Traders",
        "203.0.113.12",
    ),
];

/// Subjects of ordinary mail.
pub const SUBJECTS: &[&str] = &[
    "Re: Q3 forecast",
    "Weekly sync notes",
    "Invoice INV-20931",
    "Your order has shipped",
    "Updated contract draft",
    "Lunch on Friday?",
    "Reminder: expense reports due",
    "FW: supplier onboarding",
    "Meeting moved to 3pm",
    "November newsletter",
    "Re: budget review",
    "Access request approved",
];

/// Spam subjects.
pub const SPAM_SUBJECTS: &[&str] = &[
    "You have won a $500 gift card",
    "Limited offer: 90% off luxury watches",
    "Cheap meds, no prescription",
];
