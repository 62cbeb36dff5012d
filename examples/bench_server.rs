//! Loopback server for the 100,000-row benchmark (`scripts/bench`): builds one Graph
//! `runHuntingQuery` response (100,000 rows × 12 columns, ~53 MB) once at start-up, then
//! answers the token endpoint and the hunting POST with pre-built bytes, so the server
//! itself costs nothing during the timed jobs. Stops by itself after `--max-seconds`.
//!
//! Usage: `bench_server [--rows N] [--write-body FILE] [--max-seconds S]`; prints
//! `listening http://127.0.0.1:PORT` on stdout once ready.

use std::io::Write as _;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// The access token the token endpoint hands out and the hunting endpoint requires.
const TOKEN: &str = "bench-access-token-not-a-secret";

/// xorshift64*: deterministic, so every run serves the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn hex(seed: u64, len: usize) -> String {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (0..len)
        .map(|_| char::from(b"0123456789abcdef"[(r.next() >> 60) as usize]))
        .collect()
}

const FILES: &[(&str, &str)] = &[
    (
        "powershell.exe",
        r"C:\Windows\System32\WindowsPowerShell\v1.0",
    ),
    ("cmd.exe", r"C:\Windows\System32"),
    ("conhost.exe", r"C:\Windows\System32"),
    ("rundll32.exe", r"C:\Windows\System32"),
    ("svchost.exe", r"C:\Windows\System32"),
    ("wmic.exe", r"C:\Windows\System32\wbem"),
    ("reg.exe", r"C:\Windows\System32"),
    ("schtasks.exe", r"C:\Windows\System32"),
    ("msiexec.exe", r"C:\Windows\System32"),
    ("certutil.exe", r"C:\Windows\System32"),
    ("chrome.exe", r"C:\Program Files\Google\Chrome\Application"),
    (
        "teams.exe",
        r"C:\Users\Public\AppData\Local\Microsoft\Teams\current",
    ),
    ("python.exe", r"C:\Program Files\Python312"),
    ("git.exe", r"C:\Program Files\Git\cmd"),
    ("net.exe", r"C:\Windows\System32"),
    ("whoami.exe", r"C:\Windows\System32"),
];
const PARENTS: &[&str] = &[
    "explorer.exe",
    "cmd.exe",
    "powershell.exe",
    "services.exe",
    "svchost.exe",
    "WmiPrvSE.exe",
    "winword.exe",
];
const ACTIONS: &[&str] = &[
    "ProcessCreated",
    "ProcessCreated",
    "ProcessCreated",
    "ProcessCreated",
    "ProcessCreated",
    "ProcessCreated",
    "OpenProcessApiCall",
    "CreateRemoteThreadApiCall",
];
const COLUMNS: &[(&str, &str)] = &[
    ("Timestamp", "DateTime"),
    ("DeviceId", "String"),
    ("DeviceName", "String"),
    ("ActionType", "String"),
    ("FileName", "String"),
    ("FolderPath", "String"),
    ("SHA256", "String"),
    ("ProcessCommandLine", "String"),
    ("AccountDomain", "String"),
    ("AccountName", "String"),
    ("InitiatingProcessFileName", "String"),
    ("ReportId", "Int64"),
];

fn put_str(out: &mut Vec<u8>, key: &str, value: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    // serde_json escapes backslashes and quotes exactly as the service would.
    serde_json::to_writer(&mut *out, value).unwrap_or_default();
    out.push(b',');
}

/// The whole response body.
fn build_response(rows: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows * 540 + 1024);
    out.extend_from_slice(
        br##"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults","schema":["##,
    );
    for (i, (name, kind)) in COLUMNS.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write!(out, r#"{{"name":"{name}","type":"{kind}"}}"#).unwrap_or_default();
    }
    out.extend_from_slice(br#"],"results":["#);
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut cmd = String::new();
    for i in 0..rows {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        // Newest first, ~0.8 s apart; fraction digits vary as the service's do (0–7).
        let secs = 1_795_651_200u64 - (i as u64 * 8) / 10;
        let (d, s) = (secs / 86_400, secs % 86_400);
        let day = 24 - (1_795_651_200 / 86_400 - d).min(20);
        let frac = rng.below(10_000_000);
        let ts = match i % 50 {
            0 => format!(
                "2026-11-{day:02}T{:02}:{:02}:{:02}Z",
                s / 3600,
                s / 60 % 60,
                s % 60
            ),
            7 => format!(
                "2026-11-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
                s / 3600,
                s / 60 % 60,
                s % 60,
                frac / 10_000
            ),
            _ => format!(
                "2026-11-{day:02}T{:02}:{:02}:{:02}.{frac:07}Z",
                s / 3600,
                s / 60 % 60,
                s % 60
            ),
        };
        put_str(&mut out, "Timestamp", &ts);
        let dev = rng.below(400);
        put_str(&mut out, "DeviceId", &hex(dev, 40));
        let prefix = ["ws", "srv", "lt"][(dev % 3) as usize];
        put_str(
            &mut out,
            "DeviceName",
            &format!("{prefix}-{dev:04}.contoso.com"),
        );
        put_str(
            &mut out,
            "ActionType",
            ACTIONS[rng.below(ACTIONS.len() as u64) as usize],
        );
        let f = rng.below(FILES.len() as u64) as usize;
        let (file, folder) = FILES[f];
        put_str(&mut out, "FileName", file);
        put_str(&mut out, "FolderPath", &format!("{folder}\\{file}"));
        put_str(
            &mut out,
            "SHA256",
            &hex(1000 + f as u64 * 8 + rng.below(3), 64),
        );
        cmd.clear();
        let kind = rng.below(4);
        cmd.push('"');
        if kind < 2 {
            cmd.push_str(folder);
            cmd.push('\\');
        }
        cmd.push_str(file);
        cmd.push_str("\" ");
        match kind {
            0 => {
                cmd.push_str("-NoProfile -ExecutionPolicy Bypass -EncodedCommand ");
                for _ in 0..(12 + rng.below(60)) {
                    cmd.push(char::from(alphabet[rng.below(64) as usize]));
                }
            }
            1 => cmd.push_str("/c whoami /all"),
            2 => {
                cmd.push_str("--type=renderer --field-trial-handle=");
                cmd.push_str(&rng.below(1 << 40).to_string());
            }
            _ => cmd.push_str("-k netsvcs -p -s Schedule"),
        }
        put_str(&mut out, "ProcessCommandLine", &cmd);
        let system = rng.below(1000) < 300;
        put_str(
            &mut out,
            "AccountDomain",
            if system { "nt authority" } else { "contoso" },
        );
        let user = format!("user{:03}", rng.below(300));
        put_str(
            &mut out,
            "AccountName",
            if system { "system" } else { &user },
        );
        put_str(
            &mut out,
            "InitiatingProcessFileName",
            PARENTS[rng.below(PARENTS.len() as u64) as usize],
        );
        write!(out, r#""ReportId":{}}}"#, 10_000 + i * 3).unwrap_or_default();
    }
    out.extend_from_slice(b"]}");
    out
}

struct Served {
    body: Bytes,
}

async fn handle(
    State(served): State<std::sync::Arc<Served>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    if method == Method::POST && path.ends_with("/oauth2/v2.0/token") {
        let form = String::from_utf8_lossy(&body);
        if !form.contains("grant_type=client_credentials") {
            return (StatusCode::BAD_REQUEST, "unsupported grant").into_response();
        }
        let json = format!(
            r#"{{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{TOKEN}"}}"#
        );
        return ([(header::CONTENT_TYPE, "application/json")], json).into_response();
    }
    if method == Method::POST && path.ends_with("/security/runHuntingQuery") {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if auth != Some(&format!("Bearer {TOKEN}")) {
            return (StatusCode::UNAUTHORIZED, "missing or bad token").into_response();
        }
        return (
            [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
            Body::from(served.body.clone()),
        )
            .into_response();
    }
    (StatusCode::NOT_FOUND, "not found").into_response()
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = arg(&args, "--rows").map_or(Ok(100_000), |s| s.parse())?;
    let max_secs: u64 = arg(&args, "--max-seconds").map_or(Ok(900), |s| s.parse())?;
    let body = build_response(rows);
    if let Some(path) = arg(&args, "--write-body") {
        std::fs::write(path, &body)?;
    }
    let served = std::sync::Arc::new(Served {
        body: Bytes::from(body),
    });
    let app = Router::new().fallback(handle).with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!(
        "listening http://{} ({} rows, {} bytes)",
        listener.local_addr()?,
        rows,
        served.body.len()
    );
    std::io::stdout().flush()?;
    tokio::select! {
        r = axum::serve(listener, app) => r?,
        () = tokio::time::sleep(Duration::from_secs(max_secs)) => {}
    }
    Ok(())
}
