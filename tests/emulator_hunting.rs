//! The hunting endpoints driven in-process: response shapes of the three APIs, the planted
//! findings found by the queries a playbook would write, errors in each family's shape, and the
//! service limits (lookback, Timespan, row cap, result size, timeout).

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Utc};
use huntbook::emulator::hunting::HuntingLimits;
use huntbook::emulator::principal::Principal;
use huntbook::emulator::world::World;
use huntbook::emulator::{EmuState, EmulatorConfig, EmulatorUrls};
use serde_json::{Value, json};
use tower::ServiceExt;

const GRAPH: &str = "/v1.0/security/runHuntingQuery";
const DEFENDER: &str = "/api/advancedhunting/run";
const ENDPOINT: &str = "/api/advancedqueries/run";

fn anchor() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
        .map(|d| d.with_timezone(&Utc))
        .unwrap()
}

fn config(rows: usize) -> EmulatorConfig {
    EmulatorConfig {
        rows,
        seed: 11,
        anchor: Some(anchor()),
        ..EmulatorConfig::default()
    }
}

fn principal(perms: &[&str]) -> Principal {
    Principal {
        tenant_id: "t".into(),
        app_id: "a".into(),
        app_name: "huntbook-demo".into(),
        object_id: "o".into(),
        user: None,
        permissions: perms.iter().map(|p| (*p).to_string()).collect(),
    }
}

const ALL: &[&str] = &[
    "ThreatHunting.Read.All",
    "AdvancedHunting.Read.All",
    "AdvancedQuery.Read.All",
];

struct Emu {
    state: Arc<EmuState>,
    perms: Vec<String>,
}

impl Emu {
    fn new(config: EmulatorConfig) -> Emu {
        let state = EmuState::new(config, EmulatorUrls::on("http://127.0.0.1:1")).unwrap();
        Emu {
            state: Arc::new(state),
            perms: ALL.iter().map(|p| (*p).to_string()).collect(),
        }
    }

    fn world(&self) -> &World {
        &self.state.world
    }

    async fn post_raw(&self, path: &str, body: &str, with_principal: bool) -> (StatusCode, Value) {
        let app = huntbook::emulator::hunting::router().with_state(self.state.clone());
        let perms: Vec<&str> = self.perms.iter().map(String::as_str).collect();
        let app = if with_principal {
            app.layer(Extension(principal(&perms)))
        } else {
            app
        };
        let req = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
        (status, value)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.post_raw(path, &body.to_string(), true).await
    }

    /// Graph results of `query`, asserting success.
    async fn rows(&self, query: &str) -> Vec<Value> {
        let (status, body) = self.post(GRAPH, json!({ "Query": query })).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body["results"].as_array().cloned().unwrap_or_default()
    }
}

fn is_iso7(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 28 && s.ends_with('Z') && s.as_bytes()[19] == b'.' && s.as_bytes()[10] == b'T'
}

#[tokio::test]
async fn graph_response_has_the_documented_shape() {
    let emu = Emu::new(config(500));
    let (status, body) = emu
        .post(
            GRAPH,
            json!({"Query": "DeviceProcessEvents | where InitiatingProcessFileName =~ \"powershell.exe\" | project Timestamp, FileName, InitiatingProcessFileName | order by Timestamp desc | limit 2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["@odata.context"],
        "http://127.0.0.1:1/v1.0/$metadata#microsoft.graph.security.huntingQueryResults"
    );
    assert_eq!(
        body["schema"],
        json!([
            {"name": "Timestamp", "type": "DateTime"},
            {"name": "FileName", "type": "String"},
            {"name": "InitiatingProcessFileName", "type": "String"}
        ])
    );
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert!(is_iso7(&results[0]["Timestamp"]), "{}", results[0]);
    assert!(results[0]["Timestamp"].as_str() >= results[1]["Timestamp"].as_str());
    assert_eq!(results[0]["InitiatingProcessFileName"], "powershell.exe");
    let keys: Vec<&String> = results[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        vec!["Timestamp", "FileName", "InitiatingProcessFileName"]
    );
    let (_, beta) = emu
        .post(
            "/beta/security/runHuntingQuery",
            json!({"Query": "AlertInfo | take 1"}),
        )
        .await;
    assert!(
        beta["@odata.context"]
            .as_str()
            .unwrap()
            .contains("/beta/$metadata#")
    );
}

#[tokio::test]
async fn defender_and_endpoint_shapes() {
    let emu = Emu::new(config(300));
    let q = json!({"Query": "DeviceNetworkEvents | summarize Connections = count(), Ports = make_set(RemotePort) by DeviceName | take 3"});
    let (status, body) = emu.post(DEFENDER, q.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["Stats", "Schema", "Results"]);
    assert!(body["Stats"]["ExecutionTime"].is_number());
    assert!(body["Stats"]["resource_usage"]["cpu"]["total cpu"].is_string());
    assert!(body["Stats"]["dataset_statistics"][0]["table_row_count"].is_number());
    assert_eq!(
        body["Schema"],
        json!([
            {"Name": "DeviceName", "Type": "String"},
            {"Name": "Connections", "Type": "Int64"},
            {"Name": "Ports", "Type": "Object"}
        ])
    );
    assert!(body["Results"][0]["Ports"].is_array());
    let (status, body) = emu.post(ENDPOINT, q).await;
    assert_eq!(status, StatusCode::OK);
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["Schema", "Results"]);
    assert_eq!(body["Results"].as_array().unwrap().len(), 3);
    let (_, body) = emu
        .post(ENDPOINT, json!({"Query": "DeviceNetworkEvents | project RemotePort, IsInitiatingProcessRemoteSession, AdditionalFields | take 1"}))
        .await;
    assert_eq!(
        body["Schema"],
        json!([
            {"Name": "RemotePort", "Type": "Int32"},
            {"Name": "IsInitiatingProcessRemoteSession", "Type": "Boolean"},
            {"Name": "AdditionalFields", "Type": "String"}
        ])
    );
}

#[tokio::test]
async fn encoded_powershell_is_found() {
    let emu = Emu::new(config(2000));
    let f = emu.world().findings.encoded_powershell.clone();
    let device = emu.world().devices[f.device].name.clone();
    let account = emu.world().people[f.person].account_name.clone();
    let rows = emu
        .rows(
            "DeviceProcessEvents
             | where FileName =~ \"powershell.exe\" and ProcessCommandLine has \"-enc\"
             | project Timestamp, DeviceName, AccountName, InitiatingProcessFileName, ProcessCommandLine
             | order by Timestamp desc",
        )
        .await;
    assert_eq!(rows.len(), f.minutes_ago.len(), "{rows:?}");
    for r in &rows {
        assert_eq!(r["DeviceName"], device.as_str());
        assert_eq!(r["AccountName"], account.as_str());
        assert_eq!(r["InitiatingProcessFileName"], "winword.exe");
        assert_eq!(r["ProcessCommandLine"], f.command_line.as_str());
    }
    let recent = emu
        .rows("DeviceProcessEvents | where Timestamp > ago(1h) and ProcessCommandLine has_any (\"-enc\", \"-EncodedCommand\") | count")
        .await;
    assert_eq!(recent[0]["Count"], 1);
    // The script's download shows up in the network table, from the same device.
    let net = emu
        .rows(&format!(
            "DeviceNetworkEvents | where RemoteIP == \"{}\" | summarize n = count(), devices = make_set(DeviceName), procs = make_set(InitiatingProcessFileName)",
            f.c2_ip
        ))
        .await;
    assert_eq!(net[0]["n"], 3);
    assert_eq!(net[0]["devices"], json!([device]));
    assert_eq!(net[0]["procs"], json!(["powershell.exe"]));
}

#[tokio::test]
async fn known_bad_hash_is_found_across_tables() {
    let emu = Emu::new(config(1000));
    let f = emu.world().findings.known_bad_file.clone();
    let device_id = emu.world().devices[f.device].id.clone();
    let files = emu
        .rows(&format!(
            "DeviceFileEvents | where SHA256 == \"{}\" | project DeviceId, ActionType, FileName, FolderPath, SHA1, FileOriginUrl",
            f.sha256
        ))
        .await;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["DeviceId"], device_id.as_str());
    assert_eq!(files[0]["ActionType"], "FileCreated");
    assert_eq!(files[0]["FolderPath"], f.folder_path.as_str());
    assert_eq!(files[0]["SHA1"], f.sha1.as_str());
    let procs = emu
        .rows(&format!(
            "DeviceProcessEvents | where SHA1 in (\"{}\", \"0000\") | project FileName, MD5",
            f.sha1
        ))
        .await;
    assert_eq!(procs, vec![json!({"FileName": f.file_name, "MD5": f.md5})]);
    let alerts = emu
        .rows(&format!(
            "AlertEvidence | where SHA256 =~ \"{}\" | project AlertId, Title, ThreatFamily",
            f.sha256.to_uppercase()
        ))
        .await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["ThreatFamily"], "Wacatac");
    let info = emu
        .rows(&format!(
            "AlertInfo | where AlertId == \"{}\" | project Severity",
            alerts[0]["AlertId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(info, vec![json!({"Severity": "High"})]);
}

#[tokio::test]
async fn brute_force_burst_is_found() {
    let emu = Emu::new(config(2000));
    let f = emu.world().findings.brute_force.clone();
    let person = emu.world().people[f.person].account_name.clone();
    let rows = emu
        .rows(
            "DeviceLogonEvents
             | where ActionType == \"LogonFailed\"
             | summarize Failures = count(), First = min(Timestamp), Last = max(Timestamp) by RemoteIP, AccountName, DeviceName
             | where Failures >= 20",
        )
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["RemoteIP"], f.source_ip.as_str());
    assert_eq!(rows[0]["AccountName"], person.as_str());
    assert_eq!(rows[0]["Failures"], f.failed_attempts);
    let first: DateTime<Utc> = rows[0]["First"].as_str().unwrap().parse().unwrap();
    let last: DateTime<Utc> = rows[0]["Last"].as_str().unwrap().parse().unwrap();
    assert!(last - first <= chrono::Duration::minutes(10));
    let success = emu
        .rows(&format!(
            "DeviceLogonEvents | where RemoteIP == \"{}\" and ActionType == \"LogonSuccess\" | project Timestamp",
            f.source_ip
        ))
        .await;
    assert_eq!(success.len(), 1);
    assert!(success[0]["Timestamp"].as_str() > rows[0]["Last"].as_str());
    let identity = emu
        .rows(
            "IdentityLogonEvents | where ActionType == \"LogonFailed\" | summarize count() by IPAddress | where count_ > 20",
        )
        .await;
    assert_eq!(
        identity,
        vec![json!({"IPAddress": f.source_ip, "count_": f.failed_attempts})]
    );
}

#[tokio::test]
async fn phishing_mail_is_found() {
    let emu = Emu::new(config(1000));
    let f = emu.world().findings.phishing.clone();
    let recipient = emu.world().people[f.recipient].upn.clone();
    let rows = emu
        .rows(
            "EmailEvents
             | where ThreatTypes has \"Phish\" and DeliveryAction == \"Delivered\"
             | project NetworkMessageId, InternetMessageId, RecipientEmailAddress, SenderFromAddress, SenderIPv4, Subject",
        )
        .await;
    assert_eq!(
        rows,
        vec![json!({
            "NetworkMessageId": f.network_message_id,
            "InternetMessageId": f.internet_message_id,
            "RecipientEmailAddress": recipient,
            "SenderFromAddress": f.sender_address,
            "SenderIPv4": f.sender_ip,
            "Subject": f.subject,
        })]
    );
    let evidence = emu
        .rows(&format!(
            "AlertEvidence | where NetworkMessageId == \"{}\" | project EntityType",
            f.network_message_id
        ))
        .await;
    assert_eq!(evidence, vec![json!({"EntityType": "MailMessage"})]);
    // The recipient followed the link, and the stolen password was then tried from abroad.
    let domain = f.sender_address.split('@').nth(1).unwrap();
    let visits = emu
        .rows(&format!(
            "DeviceNetworkEvents | where RemoteUrl has \"{domain}\" | project InitiatingProcessAccountName"
        ))
        .await;
    let account = emu.world().people[f.recipient].account_name.clone();
    assert_eq!(
        visits,
        vec![json!({"InitiatingProcessAccountName": account}); 2]
    );
    let signins = emu
        .rows(&format!(
            "IdentityLogonEvents | where AccountUpn =~ \"{recipient}\" | summarize Failed = countif(ActionType == \"LogonFailed\") by Location | where Failed > 0"
        ))
        .await;
    assert!(
        signins
            .iter()
            .any(|r| r["Location"] == "Lagos, NG" && r["Failed"] == 2),
        "{signins:?}"
    );
}

#[tokio::test]
async fn devices_and_accounts_match_the_world() {
    let emu = Emu::new(config(500));
    let rows = emu.rows("DeviceInfo | summarize arg_max(Timestamp, *) by DeviceId | project DeviceId, DeviceName, OSPlatform").await;
    let world = emu.world();
    assert_eq!(rows.len(), world.devices.len());
    for d in &world.devices {
        assert!(
            rows.iter().any(|r| r["DeviceId"] == d.id.as_str()
                && r["DeviceName"] == d.name.as_str()
                && r["OSPlatform"] == d.os_platform.as_str()),
            "{} missing",
            d.name
        );
    }
    let ids = emu.rows("DeviceProcessEvents | distinct DeviceId").await;
    assert!(
        ids.iter()
            .all(|r| world.devices.iter().any(|d| r["DeviceId"] == d.id.as_str()))
    );
    let upns = emu
        .rows("DeviceProcessEvents | where isnotempty(AccountUpn) | distinct AccountUpn")
        .await;
    assert!(upns.iter().all(|r| {
        world
            .people
            .iter()
            .any(|p| r["AccountUpn"] == p.upn.as_str())
    }));
}

#[tokio::test]
async fn query_errors_are_400_in_each_family_shape() {
    let emu = Emu::new(config(50));
    let (status, body) = emu
        .post(
            GRAPH,
            json!({"Query": "DeviceProcessEvents\n| whre FileName == 'x'"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "BadRequest");
    assert_eq!(
        body["error"]["message"],
        "Query could not be parsed at 'whre' on line [2,3]: 'whre' is not a tabular operator (did you mean 'where'?)"
    );
    assert!(body["error"]["innerError"]["request-id"].is_string());
    let (status, body) = emu
        .post(
            DEFENDER,
            json!({"Query": "DeviceProcessEvents | evaluate bag_unpack(AdditionalFields)"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["message"],
        "operator `evaluate` is not supported by the huntbook emulator on line [1,23]"
    );
    assert!(body["error"]["target"].is_string());
    let (_, body) = emu
        .post(
            ENDPOINT,
            json!({"Query": "DeviceProcessEvents | project Filename"}),
        )
        .await;
    assert_eq!(
        body["error"]["message"],
        "'project' operator: Failed to resolve scalar expression named 'Filename'. Did you mean 'FileName'? on line [1,31]"
    );
    let (_, body) = emu
        .post(
            GRAPH,
            json!({"Query": "DeviceLogonEvents | where Timestamp > '2024-01-01'"}),
        )
        .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Cannot compare values of types datetime and string")
    );
}

#[tokio::test]
async fn request_bodies_and_permissions() {
    let emu = Emu::new(config(10));
    let (status, body) = emu.post(DEFENDER, json!({"query": "AlertInfo"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "MissingRequiredParameter");
    let (status, body) = emu.post_raw(GRAPH, "{not json", true).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "BadRequest");
    let (status, body) = emu
        .post_raw(ENDPOINT, r#"{"Query": "AlertInfo"}"#, false)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "Unauthorized");
    let mut narrow = Emu::new(config(10));
    narrow.perms = vec!["AdvancedHunting.Read".into()];
    let (status, _) = narrow
        .post(DEFENDER, json!({"Query": "AlertInfo | take 1"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = narrow
        .post(GRAPH, json!({"Query": "AlertInfo | take 1"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ThreatHunting.Read.All")
    );
    let (status, body) = narrow
        .post(ENDPOINT, json!({"Query": "AlertInfo | take 1"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AdvancedQuery.Read.All")
    );
}

#[tokio::test]
async fn timespan_and_lookback_restrict_rows() {
    let emu = Emu::new(config(200));
    let q = "DeviceProcessEvents | where ProcessCommandLine has \"-enc\" | count";
    let (_, all) = emu.post(GRAPH, json!({"Query": q})).await;
    assert_eq!(all["results"][0]["Count"], 3);
    let (_, hour) = emu
        .post(GRAPH, json!({"Query": q, "Timespan": "PT1H"}))
        .await;
    assert_eq!(hour["results"][0]["Count"], 1);
    let (_, interval) = emu
        .post(
            GRAPH,
            json!({"Query": q, "Timespan": "2026-11-25T10:00:00Z/2026-11-25T11:00:00Z"}),
        )
        .await;
    assert_eq!(interval["results"][0]["Count"], 1);
    let (status, body) = emu
        .post(GRAPH, json!({"Query": q, "Timespan": "last week"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid Timespan 'last week'")
    );
    // Data older than the lookback is never returned, whatever the Timespan says.
    let data: huntbook::emulator::data::TenantData = serde_json::from_value(json!({
        "tables": {"AlertInfo": [
            {"Timestamp": "2026-11-24T12:00:00Z", "AlertId": "recent", "Severity": "High"},
            {"Timestamp": "2026-09-01T12:00:00Z", "AlertId": "old", "Severity": "High"}
        ]}
    }))
    .unwrap();
    let emu = Emu::new(EmulatorConfig {
        data: Some(data),
        ..config(10)
    });
    let (_, body) = emu
        .post(
            GRAPH,
            json!({"Query": "AlertInfo | project AlertId", "Timespan": "P90D"}),
        )
        .await;
    assert_eq!(body["results"], json!([{"AlertId": "recent"}]));
}

#[tokio::test]
async fn limits_on_rows_size_and_time() {
    let mut cfg = config(300);
    cfg.hunting = HuntingLimits {
        max_rows: 25,
        ..HuntingLimits::default()
    };
    let emu = Emu::new(cfg);
    let rows = emu.rows("DeviceProcessEvents | project Timestamp").await;
    assert_eq!(rows.len(), 25);

    let mut cfg = config(300);
    cfg.hunting = HuntingLimits {
        max_result_bytes: 10_000,
        ..HuntingLimits::default()
    };
    let emu = Emu::new(cfg);
    let (status, body) = emu
        .post(DEFENDER, json!({"Query": "DeviceProcessEvents"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Result size limit exceeded.")
    );
    let (_, body) = emu
        .post(ENDPOINT, json!({"Query": "DeviceProcessEvents"}))
        .await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Query execution has exceeded the allowed result size.")
    );
    let (status, _) = emu
        .post(ENDPOINT, json!({"Query": "DeviceProcessEvents | count"}))
        .await;
    assert_eq!(status, StatusCode::OK);

    let mut cfg = config(300);
    cfg.hunting = HuntingLimits {
        timeout: Duration::ZERO,
        ..HuntingLimits::default()
    };
    let emu = Emu::new(cfg);
    let (status, body) = emu
        .post(GRAPH, json!({"Query": "DeviceProcessEvents | count"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["message"],
        "Query exceeded the timeout period."
    );
}

#[tokio::test]
async fn data_file_tables_replace_generated_rows_and_are_validated() {
    let data: huntbook::emulator::data::TenantData = serde_json::from_value(json!({
        "tables": {"DeviceLogonEvents": [
            {"Timestamp": "2026-11-25T11:00:00Z", "DeviceName": "lab-01", "ActionType": "LogonFailed", "RemotePort": 3389, "IsLocalAdmin": true}
        ]}
    }))
    .unwrap();
    let emu = Emu::new(EmulatorConfig {
        data: Some(data),
        ..config(100)
    });
    let rows = emu
        .rows("DeviceLogonEvents | project DeviceName, RemotePort, IsLocalAdmin, LogonId")
        .await;
    assert_eq!(
        rows,
        vec![
            json!({"DeviceName": "lab-01", "RemotePort": 3389, "IsLocalAdmin": true, "LogonId": null})
        ]
    );
    // Other tables are still generated.
    assert_eq!(emu.rows("DeviceInfo | take 1").await.len(), 1);

    for (tables, expected) in [
        (
            json!({"DeviceLogonEvents": [{"RemotePort": "3389"}]}),
            "tables.DeviceLogonEvents[0].RemotePort: expected a value of type int",
        ),
        (
            json!({"DeviceLogonEvent": []}),
            "tables.DeviceLogonEvent: not an emulated hunting table",
        ),
        (
            json!({"AlertInfo": [{"alertid": "x"}]}),
            "did you mean `AlertId`?",
        ),
    ] {
        let data: huntbook::emulator::data::TenantData =
            serde_json::from_value(json!({ "tables": tables })).unwrap();
        let err = EmuState::new(
            EmulatorConfig {
                data: Some(data),
                ..config(10)
            },
            EmulatorUrls::on("http://127.0.0.1:1"),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains(expected), "{err}");
    }
}

/// Peak resident memory of this process so far (Linux), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Performance check of the 100,000-row job: run with
/// `cargo test --release --test emulator_hunting -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "performance measurement; run in release mode"]
async fn hundred_thousand_rows_twelve_columns() {
    let started = std::time::Instant::now();
    let emu = Emu::new(config(100_000));
    let built = started.elapsed();
    let q = "DeviceProcessEvents | project Timestamp, DeviceId, DeviceName, ActionType, FileName, FolderPath, SHA256, ProcessCommandLine, AccountDomain, AccountName, InitiatingProcessFileName, ReportId";
    let before = peak_rss_mib();
    let mut timings = Vec::new();
    let mut size = 0;
    for _ in 0..3 {
        let app = huntbook::emulator::hunting::router()
            .with_state(emu.state.clone())
            .layer(Extension(principal(ALL)));
        let t = std::time::Instant::now();
        let req = Request::post(GRAPH)
            .header("content-type", "application/json")
            .body(Body::from(json!({"Query": q}).to_string()))
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        timings.push(t.elapsed());
        // Count rows without building a JSON tree (which would dwarf what is measured).
        let rows = bytes
            .windows(13)
            .filter(|w| w == b"{\"Timestamp\":")
            .count();
        assert_eq!(rows, 100_000);
        size = bytes.len();
    }
    let after = peak_rss_mib();
    let filtered = {
        let app = huntbook::emulator::hunting::router()
            .with_state(emu.state.clone())
            .layer(Extension(principal(ALL)));
        let t = std::time::Instant::now();
        let body = json!({"Query": format!("{q} | where AccountName != 'system' and FileName !in~ ('svchost.exe', 'conhost.exe')")});
        let req = Request::post(GRAPH)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let _ = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        t.elapsed()
    };
    println!(
        "state {built:?}; first query (generate + evaluate + serialise) {:?}; then {:?}, {:?}; \
         with a where clause {filtered:?}; body {size} bytes; peak RSS {before:.0} MiB before, {after:.0} MiB after",
        timings[0], timings[1], timings[2]
    );
    // Every other table at 100,000 rows: generation time and size.
    for table in [
        "DeviceNetworkEvents",
        "DeviceFileEvents",
        "DeviceLogonEvents",
        "DeviceInfo",
        "EmailEvents",
        "IdentityLogonEvents",
    ] {
        let t = std::time::Instant::now();
        let rel = emu.state.hunting.table(table).unwrap();
        println!(
            "{table}: {} rows generated in {:?}, ~{} MiB",
            rel.len(),
            t.elapsed(),
            huntbook::emulator::hunting::generate::heap_bytes(&rel) / (1024 * 1024)
        );
    }
    let dpe = emu.state.hunting.table("DeviceProcessEvents").unwrap();
    println!(
        "DeviceProcessEvents: ~{} MiB; peak RSS with all tables {:.0} MiB",
        huntbook::emulator::hunting::generate::heap_bytes(&dpe) / (1024 * 1024),
        peak_rss_mib()
    );
}

#[tokio::test]
async fn example_tenant_file_feeds_the_hunting_tables() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/tenant.yaml");
    let data = huntbook::emulator::data::load(&path).unwrap();
    let emu = Emu::new(EmulatorConfig {
        data: Some(data),
        ..config(100)
    });
    let rows = emu
        .rows("DeviceProcessEvents | where ProcessCommandLine has '-enc' | project DeviceName, AccountName, InitiatingProcessFileName")
        .await;
    assert_eq!(
        rows,
        vec![
            json!({"DeviceName": "ws-101.corp.contoso.example", "AccountName": "jdoe", "InitiatingProcessFileName": "WINWORD.EXE"})
        ]
    );
    // The file's incidents are the alert tables' alerts.
    let alerts = emu
        .rows("AlertInfo | where Title == 'Suspicious PowerShell command line' | count")
        .await;
    assert_eq!(alerts[0]["Count"], 2);
}

#[tokio::test]
async fn cross_table_joins_and_unions() {
    let emu = Emu::new(config(1500));
    let f = emu.world().findings.encoded_powershell.clone();
    let rows = emu
        .rows(
            "DeviceProcessEvents
             | where FileName =~ 'powershell.exe' and ProcessCommandLine has '-enc'
             | join kind=inner (DeviceNetworkEvents | where InitiatingProcessFileName =~ 'powershell.exe') on DeviceId
             | distinct DeviceName, RemoteIP",
        )
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["RemoteIP"], f.c2_ip.as_str());
    let alerts = emu
        .rows(
            "AlertInfo
             | where Severity == 'High'
             | join kind=inner (AlertEvidence | where EntityType == 'File') on AlertId
             | project Title, FileName, SHA256",
        )
        .await;
    let bad = &emu.world().findings.known_bad_file;
    assert!(
        alerts.iter().any(|r| r["SHA256"] == bad.sha256.as_str()),
        "{alerts:?}"
    );
    let union = emu
        .rows(&format!(
            "union withsource=Table DeviceLogonEvents, IdentityLogonEvents
             | where RemoteIP == '{ip}' or IPAddress == '{ip}'
             | summarize count() by Table",
            ip = emu.world().findings.brute_force.source_ip
        ))
        .await;
    assert_eq!(
        union,
        vec![
            json!({"Table": "DeviceLogonEvents", "count_": 49}),
            json!({"Table": "IdentityLogonEvents", "count_": 49})
        ]
    );
    let techniques = emu
        .rows("AlertInfo | mv-expand Technique = todynamic(AttackTechniques) to typeof(string) | where Technique has 'T1059' | distinct Title")
        .await;
    assert_eq!(
        techniques,
        vec![json!({"Title": "Suspicious PowerShell command line"})]
    );
}

#[tokio::test]
async fn routes_are_served_by_the_running_emulator() {
    // The hunting routes merge with the identity and tenant routers without clashes, and a
    // request without a token is refused (by the gate in front, or by the handler without one).
    let handle = huntbook::emulator::Emulator::start(config(10))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    for path in [GRAPH, DEFENDER, ENDPOINT] {
        let resp = client
            .post(format!("{}{path}", handle.urls.base))
            .json(&json!({"Query": "AlertInfo | take 1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{body}");
    }
}

/// A stand-in KQL literal for a playbook placeholder, by what its name says it holds (the
/// playbook engine renders every placeholder as a literal of the value's type).
fn stand_in(placeholder: &str) -> &'static str {
    let p = placeholder.to_lowercase();
    if p.contains("lookback") || p.contains("window") {
        "3d"
    } else if p.contains("since") || p.contains("ago(") {
        "datetime(2026-11-24T12:00:00Z)"
    } else if p.contains("threshold") || p.contains("count") || p.contains("limit") {
        "5"
    } else if p.contains("ips") || p.contains("list") || p.contains("devices") {
        "(\"192.0.2.1\", \"192.0.2.2\")"
    } else {
        "\"contoso-helpdesk.example\""
    }
}

#[tokio::test]
async fn example_playbook_queries_run() {
    let emu = Emu::new(config(500));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let placeholder = regex::Regex::new(r"\{\{\s*([^}]*?)\s*\}\}").unwrap();
    let mut checked = 0;
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let doc: Value = serde_saphyr::from_str(&text).unwrap_or(Value::Null);
        let mut queries = Vec::new();
        collect_hunt_queries(&doc, &mut queries);
        for q in queries {
            let kql =
                placeholder.replace_all(&q, |c: &regex::Captures<'_>| stand_in(&c[1]).to_string());
            let (status, body) = emu.post(GRAPH, json!({ "Query": kql })).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{}: {kql}\n{body}",
                entry.path().display()
            );
            checked += 1;
        }
    }
    assert!(checked > 0 || !dir.exists());
}

fn collect_hunt_queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(q) = map
                .get("hunt")
                .and_then(|h| h.get("query"))
                .and_then(Value::as_str)
            {
                out.push(q.to_string());
            }
            map.values().for_each(|x| collect_hunt_queries(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| collect_hunt_queries(x, out)),
        _ => {}
    }
}
