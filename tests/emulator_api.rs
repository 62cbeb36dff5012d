//! The emulator's tenant APIs in-process: Graph incidents and alerts_v2, Defender XDR
//! incidents, Defender for Endpoint machines and machine actions, the journal and state routes,
//! and `--data` files — shapes checked against the API reference examples, every documented
//! error, and the same machines and incidents seen through every API.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Utc};
use huntbook::emulator::api::machines::{ActionOutcome, ActionType};
use huntbook::emulator::principal::Principal;
use huntbook::emulator::{EmuState, EmulatorConfig, EmulatorUrls, api, data};
use serde_json::{Value, json};
use tower::ServiceExt;

const BASE: &str = "http://127.0.0.1:1";
const STEP: Duration = Duration::from_secs(60);

fn anchor() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn config() -> EmulatorConfig {
    EmulatorConfig {
        anchor: Some(anchor()),
        action_step: STEP,
        ..EmulatorConfig::default()
    }
}

fn app(perms: &[&str]) -> Principal {
    Principal {
        tenant_id: "t".into(),
        app_id: "11111111-2222-3333-4444-555555555555".into(),
        app_name: "huntbook-demo".into(),
        object_id: "o".into(),
        user: None,
        permissions: perms.iter().map(|s| (*s).to_string()).collect(),
    }
}

fn user(upn: &str, perms: &[&str]) -> Principal {
    Principal {
        user: Some(upn.into()),
        ..app(perms)
    }
}

/// Every permission the tenant routes know.
fn admin() -> Principal {
    app(&[
        "SecurityIncident.ReadWrite.All",
        "SecurityAlert.ReadWrite.All",
        "Incident.ReadWrite.All",
        "Machine.ReadWrite.All",
        "Machine.Isolate",
        "Machine.Scan",
        "Machine.CollectForensics",
        "Machine.RestrictExecution",
        "Machine.StopAndQuarantine",
    ])
}

struct Emu {
    state: Arc<EmuState>,
}

impl Emu {
    fn new() -> Emu {
        Emu::with(config())
    }

    fn with(config: EmulatorConfig) -> Emu {
        let state = EmuState::new(config, EmulatorUrls::on(BASE)).expect("state");
        Emu {
            state: Arc::new(state),
        }
    }

    async fn call(
        &self,
        who: Option<&Principal>,
        method: &str,
        uri: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut router = api::router();
        if let Some(p) = who {
            router = router.layer(Extension(p.clone()));
        }
        let router = router.with_state(self.state.clone());
        let uri = uri.replace(' ', "%20");
        let req = Request::builder()
            .method(method)
            .uri(uri.strip_prefix(BASE).unwrap_or(&uri))
            .header("content-type", "application/json")
            .body(match body {
                Some(b) => Body::from(b.to_string()),
                None => Body::empty(),
            })
            .unwrap();
        let resp = router.oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        (status, value)
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Some(&admin()), "GET", uri, None).await
    }

    async fn send(&self, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        self.call(Some(&admin()), method, uri, Some(body)).await
    }

    fn world(&self) -> &huntbook::emulator::world::World {
        &self.state.world
    }
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str()
        .unwrap_or_else(|| panic!("{k} is not a string in {v}"))
}

fn seven_digit(s: &str) -> bool {
    s.len() == 28 && s.ends_with('Z') && s.as_bytes()[19] == b'.'
}

// ---------------------------------------------------------------------------------------------
// Graph incidents

#[tokio::test]
async fn graph_incidents_have_the_documented_shape() {
    let emu = Emu::new();
    let (status, body) = emu.get("/v1.0/security/incidents").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["@odata.context"],
        format!("{BASE}/v1.0/$metadata#security/incidents")
    );
    let first = &body["value"][0];
    assert_eq!(
        keys(first),
        [
            "@odata.type",
            "id",
            "incidentWebUrl",
            "redirectIncidentId",
            "tenantId",
            "displayName",
            "createdDateTime",
            "lastUpdateDateTime",
            "assignedTo",
            "classification",
            "determination",
            "status",
            "severity",
            "customTags",
            "comments",
            "systemTags",
            "description"
        ]
    );
    assert_eq!(first["@odata.type"], "#microsoft.graph.security.incident");
    let id = str_of(first, "id");
    assert!(id.parse::<i64>().is_ok(), "Graph ids are numeric strings");
    assert_eq!(
        first["incidentWebUrl"],
        format!(
            "https://security.microsoft.com/incidents/{id}?tid={}",
            emu.world().tenant_id
        )
    );
    assert!(seven_digit(str_of(first, "createdDateTime")));
    let all = body["value"].as_array().unwrap();
    assert_eq!(
        all.len(),
        44,
        "4 planted + 40 background incidents, one page of 50"
    );
    assert!(body.get("@odata.nextLink").is_none());
    for inc in all {
        assert!(inc.get("alerts").is_none(), "alerts only with $expand");
        let status = str_of(inc, "status");
        assert!(["active", "inProgress", "resolved", "redirected"].contains(&status));
        assert!(["informational", "low", "medium", "high"].contains(&str_of(inc, "severity")));
    }
    let created: Vec<&str> = all.iter().map(|i| str_of(i, "createdDateTime")).collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert!(all.iter().any(|i| i["redirectIncidentId"].is_string()));
    assert!(
        all.iter()
            .any(|i| i["comments"][0]["createdByDisplayName"].is_string())
    );
}

#[tokio::test]
async fn graph_incidents_expand_alerts_only_when_asked() {
    let emu = Emu::new();
    let (_, body) = emu
        .get("/v1.0/security/incidents?$expand=alerts&$top=5")
        .await;
    assert_eq!(
        body["@odata.context"],
        format!("{BASE}/v1.0/$metadata#security/incidents(alerts())")
    );
    let alert = &body["value"][0]["alerts"][0];
    assert_eq!(alert["@odata.type"], "#microsoft.graph.security.alert");
    assert_eq!(alert["incidentId"], body["value"][0]["id"]);
    let (_, one) = emu
        .get(&format!(
            "/v1.0/security/incidents/{}?$expand=alerts",
            str_of(&body["value"][0], "id")
        ))
        .await;
    assert_eq!(one["alerts"], body["value"][0]["alerts"]);
    let (status, err) = emu.get("/v1.0/security/incidents?$expand=evidence").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(str_of(&err["error"], "message").contains("evidence"));
}

#[tokio::test]
async fn graph_top_over_50_fails_with_the_observed_message() {
    let emu = Emu::new();
    let (status, body) = emu.get("/v1.0/security/incidents?$top=100").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "");
    assert_eq!(
        body["error"]["message"],
        "The query specified in the URI is not valid. The limit of '50' for Top query has been exceeded. The value from the incoming request is '100'."
    );
    assert_eq!(body["error"]["details"], json!([]));
    assert!(body["error"]["innerError"]["request-id"].is_string());
}

#[tokio::test]
async fn graph_paging_follows_next_links_to_every_incident() {
    let emu = Emu::new();
    let mut url = format!("{BASE}/v1.0/security/incidents?$top=10&$count=true");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, body) = emu.get(&url).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["@odata.count"], 44);
        for i in body["value"].as_array().unwrap() {
            seen.push(str_of(i, "id").to_string());
        }
        pages += 1;
        match body.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => {
                assert!(next.starts_with(&format!("{BASE}/v1.0/security/incidents?")));
                assert!(next.contains("$skip="));
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 5);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 44, "no duplicates, nothing skipped");
}

#[tokio::test]
async fn graph_filters_on_the_documented_properties() {
    let emu = Emu::new();
    let (_, body) = emu
        .get("/v1.0/security/incidents?$filter=status eq 'active' and severity eq 'high'")
        .await;
    let hits = body["value"].as_array().unwrap();
    assert!(hits.len() >= 2);
    assert!(
        hits.iter()
            .all(|i| i["status"] == "active" && i["severity"] == "high")
    );
    let since = "2026-11-24T12:00:00Z";
    let (_, fresh) = emu
        .get(&format!(
            "/v1.0/security/incidents?$filter=createdDateTime ge {since} and assignedTo eq null and severity eq 'high'"
        ))
        .await;
    let fresh = fresh["value"].as_array().unwrap();
    assert!(
        fresh.len() >= 2,
        "two new high-severity incidents in the last day"
    );
    // A timestamp read back from the API matches itself in a filter.
    let last = str_of(&fresh[0], "lastUpdateDateTime");
    let (_, again) = emu
        .get(&format!(
            "/v1.0/security/incidents?$filter=lastUpdateDateTime ge {last}"
        ))
        .await;
    assert!(
        again["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == fresh[0]["id"])
    );
}

#[tokio::test]
async fn graph_filter_errors_are_400_with_details() {
    let emu = Emu::new();
    let cases = [
        ("displayName eq 'x'", "cannot be used in the $filter"),
        ("Status eq 'active'", "did you mean 'status'"),
        ("status eq 'open'", "'open' is not a valid enumeration"),
        ("createdDateTime ge '2026-01-01'", "incompatible types"),
        ("status eq", "Syntax error at position 9"),
    ];
    for (filter, expected) in cases {
        let (status, body) = emu
            .get(&format!("/v1.0/security/incidents?$filter={filter}"))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{filter}");
        assert_eq!(body["error"]["code"], "BadRequest");
        let msg = str_of(&body["error"], "message");
        assert!(msg.contains(expected), "{filter}: {msg}");
    }
}

#[tokio::test]
async fn graph_incident_get_and_404() {
    let emu = Emu::new();
    let id = emu.state.tenant.incidents()[0].id;
    let (status, body) = emu.get(&format!("/v1.0/security/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], id.to_string());
    assert_eq!(
        body["@odata.context"],
        format!("{BASE}/v1.0/$metadata#security/incidents/$entity")
    );
    let (status, body) = emu.get("/v1.0/security/incidents/999999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "NotFound");
    assert!(body["error"]["innerError"]["date"].is_string());
    let (status, _) = emu.get(&format!("/beta/security/incidents/{id}")).await;
    assert_eq!(status, StatusCode::OK, "beta serves the same tenant");
    let (status, alerts) = emu
        .get(&format!("/v1.0/security/incidents/{id}/alerts?$count=true"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        alerts["@odata.count"],
        emu.state.tenant.incidents()[0].alerts.len()
    );
    assert!(
        alerts["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["incidentId"].as_str() == Some(id.to_string().as_str()))
    );
    let (status, _) = emu.get("/v1.0/security/incidents/1/alerts").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn graph_incident_update_accepts_both_spellings_and_validates() {
    let emu = Emu::new();
    let inc = emu.state.tenant.incidents()[0].clone();
    let url = format!("/v1.0/security/incidents/{}", inc.id);
    let (status, body) = emu
        .send(
            "PATCH",
            &url,
            json!({
                "status": "Resolved",
                "classification": "TruePositive",
                "determination": "MultiStagedAttack",
                "assignedTo": "analyst@contoso.example",
                "customTags": ["Demo"]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "resolved");
    assert_eq!(body["classification"], "truePositive");
    assert_eq!(body["determination"], "multiStagedAttack");
    assert_eq!(body["customTags"], json!(["Demo"]));
    assert!(str_of(&body, "lastUpdateDateTime") > api::time::format(&inc.last_update).as_str());
    // The same incident through the Defender XDR API.
    let (_, d) = emu.get(&format!("/api/incidents/{}", inc.id)).await;
    assert_eq!(d["status"], "Resolved");
    assert_eq!(d["classification"], "TruePositive");
    assert_eq!(
        d["alerts"][0]["status"], "Resolved",
        "resolution reaches the alerts"
    );

    let bad = [
        (
            json!({"status": "closed"}),
            "Invalid value 'closed' for property 'status'",
        ),
        (json!({"severity": "low"}), "read-only"),
        (json!({"Status": "active"}), "did you mean 'status'"),
        (
            json!({"classification": "falsePositive", "determination": "malware"}),
            "does not apply",
        ),
        (json!({"determination": "apt"}), "deprecated"),
        (json!({"customTags": "x"}), "customTags"),
    ];
    for (b, expected) in bad {
        let (status, body) = emu.send("PATCH", &url, b.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
        let msg = str_of(&body["error"], "message");
        assert!(msg.contains(expected), "{b}: {msg}");
    }
    let (status, body) = emu.call(Some(&admin()), "PATCH", &url, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["error"]["message"],
        "Empty Payload. JSON content expected."
    );
}

#[tokio::test]
async fn graph_permissions_are_enforced() {
    let emu = Emu::new();
    let reader = app(&["SecurityIncident.Read.All"]);
    let id = emu.state.tenant.incidents()[0].id;
    let (status, _) = emu
        .call(Some(&reader), "GET", "/v1.0/security/incidents", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = emu
        .call(
            Some(&reader),
            "PATCH",
            &format!("/v1.0/security/incidents/{id}"),
            Some(json!({"status": "resolved"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(str_of(&body["error"], "message").contains("SecurityIncident.ReadWrite.All"));
    let (status, _) = emu
        .call(Some(&reader), "GET", "/v1.0/security/alerts_v2", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "alerts need SecurityAlert.*");
    let (status, body) = emu
        .call(None, "GET", "/v1.0/security/incidents", None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "InvalidAuthenticationToken");
}

#[tokio::test]
async fn graph_comments_append_and_return_the_list() {
    let emu = Emu::new();
    let analyst = user(
        "analyst@contoso.example",
        &["SecurityIncident.ReadWrite.All"],
    );
    let inc = emu.state.tenant.incidents()[1].clone();
    let before = inc.comments.len();
    let (status, body) = emu
        .call(
            Some(&analyst),
            "POST",
            &format!("/v1.0/security/incidents/{}/comments", inc.id),
            Some(json!({"@odata.type": "microsoft.graph.security.alertComment", "comment": "Demo for docs"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list = body["value"].as_array().unwrap();
    assert_eq!(list.len(), before + 1);
    let last = list.last().unwrap();
    assert_eq!(last["comment"], "Demo for docs");
    assert_eq!(last["createdByDisplayName"], "analyst@contoso.example");
    assert!(seven_digit(str_of(last, "createdDateTime")));
    let (status, _) = emu
        .call(
            Some(&analyst),
            "POST",
            &format!("/v1.0/security/incidents/{}/comments", inc.id),
            Some(json!({"text": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// Graph alerts_v2

#[tokio::test]
async fn graph_alerts_carry_typed_evidence() {
    let emu = Emu::new();
    let (status, body) = emu.get("/v1.0/security/alerts_v2?$top=200").await;
    assert_eq!(status, StatusCode::OK);
    let alerts = body["value"].as_array().unwrap();
    let first = &alerts[0];
    for k in [
        "@odata.type",
        "id",
        "providerAlertId",
        "incidentId",
        "status",
        "severity",
        "classification",
        "determination",
        "serviceSource",
        "detectionSource",
        "detectorId",
        "tenantId",
        "title",
        "description",
        "recommendedActions",
        "category",
        "assignedTo",
        "alertWebUrl",
        "incidentWebUrl",
        "actorDisplayName",
        "threatDisplayName",
        "threatFamilyName",
        "mitreTechniques",
        "createdDateTime",
        "lastUpdateDateTime",
        "resolvedDateTime",
        "firstActivityDateTime",
        "lastActivityDateTime",
        "comments",
        "evidence",
        "systemTags",
    ] {
        assert!(first.get(k).is_some(), "alert lacks {k}");
    }
    assert!(first["incidentId"].is_string());
    let types: std::collections::BTreeSet<&str> = alerts
        .iter()
        .flat_map(|a| a["evidence"].as_array().unwrap())
        .map(|e| str_of(e, "@odata.type"))
        .collect();
    for t in [
        "deviceEvidence",
        "fileEvidence",
        "processEvidence",
        "userEvidence",
        "ipEvidence",
        "urlEvidence",
        "mailboxEvidence",
        "analyzedMessageEvidence",
    ] {
        assert!(
            types.contains(format!("#microsoft.graph.security.{t}").as_str()),
            "no {t}"
        );
    }
    let device = alerts
        .iter()
        .flat_map(|a| a["evidence"].as_array().unwrap())
        .find(|e| e["@odata.type"] == "#microsoft.graph.security.deviceEvidence")
        .unwrap();
    for k in [
        "mdeDeviceId",
        "deviceDnsName",
        "osPlatform",
        "healthStatus",
        "riskScore",
        "firstSeenDateTime",
    ] {
        assert!(device.get(k).is_some(), "deviceEvidence lacks {k}");
    }
    assert_eq!(device["healthStatus"], "active", "camelCase in Graph");
}

#[tokio::test]
async fn graph_alert_filters_get_and_errors() {
    let emu = Emu::new();
    let (_, mde) = emu
        .get("/v1.0/security/alerts_v2?$filter=serviceSource eq 'microsoftDefenderForEndpoint'")
        .await;
    let mde = mde["value"].as_array().unwrap();
    assert!(!mde.is_empty());
    assert!(
        mde.iter()
            .all(|a| a["serviceSource"] == "microsoftDefenderForEndpoint")
    );
    let w = emu.world();
    let ps_device = &w.devices[w.findings.encoded_powershell.device];
    let (status, hits) = emu
        .get(&format!(
            "/v1.0/security/alerts_v2?$filter=evidence/any(e: e/microsoft.graph.security.deviceEvidence/deviceDnsName eq '{}')",
            ps_device.name
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{hits}");
    let titles: Vec<&str> = hits["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| str_of(a, "title"))
        .collect();
    assert!(
        titles.contains(&"Suspicious PowerShell command line"),
        "{titles:?}"
    );
    let (status, err) = emu
        .get("/v1.0/security/alerts_v2?$filter=title eq 'x'")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(str_of(&err["error"], "message").contains("cannot be used in the $filter"));
    let id = str_of(&mde[0], "id");
    let (status, one) = emu.get(&format!("/v1.0/security/alerts_v2/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["id"], id);
    let (status, nf) = emu.get("/v1.0/security/alerts_v2/da000_1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(nf["error"]["code"], "NotFound");
    let (status, comments) = emu
        .send(
            "POST",
            &format!("/v1.0/security/alerts_v2/{id}/comments"),
            json!({"comment": "Looked at the process tree"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{comments}");
    assert_eq!(
        comments["value"].as_array().unwrap().last().unwrap()["comment"],
        "Looked at the process tree"
    );
    let (status, patched) = emu
        .send(
            "PATCH",
            &format!("/v1.0/security/alerts_v2/{id}"),
            json!({"status": "inProgress", "assignedTo": "soc-lead@contoso.example"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["status"], "inProgress");
}

// ---------------------------------------------------------------------------------------------
// Defender XDR incidents

const ENTITY_KEYS: &[&str] = &[
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

#[tokio::test]
async fn defender_incidents_have_the_documented_shape() {
    let emu = Emu::new();
    let (status, body) = emu.get("/api/incidents").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["@odata.context"],
        format!("{BASE}/api/$metadata#Incidents")
    );
    let incs = body["value"].as_array().unwrap();
    assert_eq!(incs.len(), 44);
    let first = &incs[0];
    assert_eq!(
        keys(first),
        [
            "incidentId",
            "redirectIncidentId",
            "incidentName",
            "createdTime",
            "lastUpdateTime",
            "assignedTo",
            "classification",
            "determination",
            "status",
            "severity",
            "tags",
            "comments",
            "alerts"
        ]
    );
    assert!(first["incidentId"].is_i64());
    let alert = &first["alerts"][0];
    assert_eq!(
        keys(alert),
        [
            "alertId",
            "incidentId",
            "serviceSource",
            "creationTime",
            "lastUpdatedTime",
            "resolvedTime",
            "firstActivity",
            "lastActivity",
            "title",
            "description",
            "category",
            "status",
            "severity",
            "investigationId",
            "investigationState",
            "classification",
            "determination",
            "detectionSource",
            "detectorId",
            "assignedTo",
            "actorName",
            "threatFamilyName",
            "mitreTechniques",
            "devices",
            "entities"
        ]
    );
    for inc in incs {
        assert!(
            ["Active", "InProgress", "Resolved", "Redirected"].contains(&str_of(inc, "status"))
        );
        for a in inc["alerts"].as_array().unwrap() {
            for e in a["entities"].as_array().unwrap() {
                assert_eq!(
                    keys(e),
                    ENTITY_KEYS,
                    "every entity key, null when not applicable"
                );
            }
            for d in a["devices"].as_array().unwrap() {
                assert!(d["mdatpDeviceId"].as_str().is_some_and(|s| s.len() == 40));
            }
        }
    }
    assert!(incs.iter().any(|i| i["determination"] == "NotAvailable"));
    let unclassified = incs
        .iter()
        .flat_map(|i| i["alerts"].as_array().unwrap())
        .find(|a| a["status"] == "New")
        .unwrap();
    assert!(
        unclassified["classification"].is_null(),
        "alert classification is null until set"
    );
}

#[tokio::test]
async fn defender_filters_top_and_skip() {
    let emu = Emu::new();
    let (_, body) = emu
        .get("/api/incidents?$filter=status eq 'Active' and createdTime gt 2026-11-24T12:00:00Z")
        .await;
    let hits = body["value"].as_array().unwrap();
    assert!(hits.len() >= 2);
    assert!(hits.iter().all(|i| i["status"] == "Active"));
    let (status, err) = emu.get("/api/incidents?$filter=severity eq 'High'").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "ODataError");
    assert!(str_of(&err["error"], "message").starts_with("Invalid OData URI query:"));
    assert!(err["error"]["target"].is_string());
    let (status, err) = emu.get("/api/incidents?$top=101").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "ODataError");
    // Pages by $skip only; no nextLink is documented.
    let (_, p1) = emu.get("/api/incidents?$top=30").await;
    let (_, p2) = emu.get("/api/incidents?$top=30&$skip=30").await;
    assert!(p1.get("@odata.nextLink").is_none());
    assert_eq!(p1["value"].as_array().unwrap().len(), 30);
    assert_eq!(p2["value"].as_array().unwrap().len(), 14);
    assert_ne!(p1["value"][29]["incidentId"], p2["value"][0]["incidentId"]);
    let (_, case) = emu.get("/api/incidents?$filter=Status eq 'active'").await;
    assert_eq!(
        case["value"].as_array().unwrap().len(),
        emu.get("/api/incidents?$filter=status eq 'Active'").await.1["value"]
            .as_array()
            .unwrap()
            .len(),
        "Defender property names and enum values ignore case"
    );
}

#[tokio::test]
async fn defender_update_appends_a_comment_every_time() {
    let emu = Emu::new();
    let id = emu.state.tenant.incidents()[2].id;
    let url = format!("/api/incidents/{id}");
    let body = json!({
        "status": "Resolved",
        "assignedTo": "secop2@contoso.example",
        "classification": "TruePositive",
        "determination": "Malware",
        "tags": ["Yossi's playground"],
        "comment": "pen testing"
    });
    let (status, first) = emu.send("PATCH", &url, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["status"], "Resolved");
    assert_eq!(first["determination"], "Malware");
    assert_eq!(first["tags"], json!(["Yossi's playground"]));
    let n = first["comments"].as_array().unwrap().len();
    let (_, second) = emu.send("PATCH", &url, body).await;
    assert_eq!(
        second["comments"].as_array().unwrap().len(),
        n + 1,
        "a retry appends again"
    );
    assert_eq!(second["comments"][n]["comment"], "pen testing");
    assert_eq!(second["comments"][n]["createdBy"], "huntbook-demo");

    let (status, err) = emu.send("PATCH", &url, json!({"Status": "Active"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "InvalidRequestBody");
    assert!(str_of(&err["error"], "message").contains("did you mean 'status'"));
    let (status, err) = emu
        .send("PATCH", &url, json!({"classification": "Maybe"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "InvalidInput");
    let (status, err) = emu
        .send(
            "PATCH",
            "/api/incidents/424242",
            json!({"status": "Active"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["error"]["code"], "ResourceNotFound");
    let (status, err) = emu.get("/api/incidents/abc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "InvalidInput");
    let reader = app(&["Incident.Read.All"]);
    let (status, _) = emu
        .call(
            Some(&reader),
            "PATCH",
            &url,
            Some(json!({"status": "Active"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let delegated = user("analyst@contoso.example", &["Incident.Read"]);
    let (status, _) = emu.call(Some(&delegated), "GET", &url, None).await;
    assert_eq!(status, StatusCode::OK, "delegated Incident.Read reads");
}

// ---------------------------------------------------------------------------------------------
// Defender for Endpoint machines

#[tokio::test]
async fn machines_list_filter_and_get() {
    let emu = Emu::new();
    let (status, body) = emu.get("/api/machines").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["@odata.context"],
        format!("{BASE}/api/$metadata#Machines")
    );
    let all = body["value"].as_array().unwrap();
    assert_eq!(all.len(), emu.world().devices.len());
    for k in [
        "id",
        "computerDnsName",
        "firstSeen",
        "lastSeen",
        "osPlatform",
        "osProcessor",
        "version",
        "lastIpAddress",
        "lastExternalIpAddress",
        "osBuild",
        "healthStatus",
        "deviceValue",
        "rbacGroupName",
        "riskScore",
        "exposureLevel",
        "aadDeviceId",
        "machineTags",
        "ipAddresses",
        "onboardingStatus",
        "osArchitecture",
    ] {
        assert!(all[0].get(k).is_some(), "machine lacks {k}");
    }
    let (_, ws) = emu
        .get("/api/machines?$filter=startswith(computerDnsName,'ws-')")
        .await;
    assert_eq!(ws["value"].as_array().unwrap().len(), 12);
    let (_, linux) = emu
        .get("/api/machines?$filter=osPlatform eq 'Linux' or rbacGroupId eq 99")
        .await;
    assert_eq!(linux["value"].as_array().unwrap().len(), 1);
    let (_, recent) = emu
        .get("/api/machines?$filter=lastSeen gt 2026-11-20Z&$top=3")
        .await;
    assert_eq!(recent["value"].as_array().unwrap().len(), 3);
    assert!(
        recent["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("$skip=3")
    );
    let (status, err) = emu
        .get("/api/machines?$filter=riskScore eq 'Critical'")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(str_of(&err["error"], "message").contains("'Critical'"));
    let id = str_of(&all[0], "id");
    let (status, one) = emu.get(&format!("/api/machines/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["computerDnsName"], all[0]["computerDnsName"]);
    let (status, by_name) = emu
        .get(&format!(
            "/api/v1.0/machines/{}",
            str_of(&all[0], "computerDnsName")
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_name["id"], id);
    let (status, nf) = emu.get("/api/machines/123123123").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(nf["error"]["code"], "ResourceNotFound");
    assert_eq!(nf["error"]["message"], "Machine 123123123 was not found");
}

// ---------------------------------------------------------------------------------------------
// Machine actions

#[tokio::test]
async fn isolation_progresses_and_changes_the_machine() {
    let emu = Emu::new();
    let m = emu.world().devices[0].clone();
    let analyst = user(
        "analyst@contoso.example",
        &["Machine.Isolate", "Machine.Read.All"],
    );
    let url = format!("/api/machines/{}/isolate", m.id);
    let (status, action) = emu
        .call(
            Some(&analyst),
            "POST",
            &url,
            Some(json!({"Comment": "Isolate machine due to alert 1234", "IsolationType": "Selective"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{action}");
    assert_eq!(
        action["@odata.context"],
        format!("{BASE}/api/$metadata#MachineActions/$entity")
    );
    assert_eq!(action["type"], "Isolate");
    assert_eq!(action["scope"], "Selective");
    assert_eq!(action["status"], "Pending");
    assert_eq!(action["requestor"], "analyst@contoso.example");
    assert_eq!(
        action["requestorComment"],
        "Isolate machine due to alert 1234"
    );
    assert_eq!(action["machineId"], m.id.as_str());
    assert_eq!(action["computerDnsName"], m.name.as_str());
    assert!(action["relatedFileInfo"].is_null());
    assert_eq!(str_of(&action, "id").len(), 36);
    assert!(seven_digit(str_of(&action, "creationDateTimeUtc")));

    let (status, dup) = emu
        .call(
            Some(&analyst),
            "POST",
            &url,
            Some(json!({"Comment": "again"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(dup["error"]["code"], "ActiveRequestAlreadyExists");
    assert_eq!(dup["error"]["message"], "Action is already in progress");
    let (status, _) = emu
        .call(
            Some(&analyst),
            "POST",
            &format!("/api/machines/{}/unisolate", m.id),
            Some(json!({"Comment": "undo"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unisolate waits for isolate"
    );

    let state_url = format!("/_emulator/tenant/machines/{}/state", m.id);
    let (_, st) = emu.call(None, "GET", &state_url, None).await;
    assert_eq!(st["isolated"], false);
    assert_eq!(st["pendingActions"][0]["status"], "Pending");

    let get_url = format!("/api/machineactions/{}", str_of(&action, "id"));
    emu.state.tenant.advance_clock(STEP);
    let (_, a) = emu.call(Some(&analyst), "GET", &get_url, None).await;
    assert_eq!(a["status"], "InProgress");
    emu.state.tenant.advance_clock(STEP);
    let (_, a) = emu.call(Some(&analyst), "GET", &get_url, None).await;
    assert_eq!(a["status"], "Succeeded");
    assert!(str_of(&a, "lastUpdateDateTimeUtc") > str_of(&a, "creationDateTimeUtc"));
    let (_, st) = emu.call(None, "GET", &state_url, None).await;
    assert_eq!(st["isolated"], true);
    assert_eq!(st["isolationType"], "Selective");
    assert_eq!(st["pendingActions"], json!([]));

    let (status, _) = emu
        .call(
            Some(&analyst),
            "POST",
            &format!("/api/machines/{}/unisolate", m.id),
            Some(json!({"Comment": "Unisolate machine since it was clean and validated"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    emu.state.tenant.advance_clock(STEP * 2);
    assert!(!emu.state.tenant.machine_state(&m.id).unwrap().isolated);
}

#[tokio::test]
async fn action_bodies_are_case_sensitive_and_validated() {
    let emu = Emu::new();
    let w = emu.world();
    let win = &w.devices[0].id;
    let linux = &w
        .devices
        .iter()
        .find(|d| d.os_platform == "Linux")
        .unwrap()
        .id;
    let cases: Vec<(String, Value, &str, &str)> = vec![
        (
            format!("/api/machines/{win}/isolate"),
            json!({"IsolationType": "Full"}),
            "MissingRequiredParameter",
            "Parameter Comment is missing",
        ),
        (
            format!("/api/machines/{win}/isolate"),
            json!({"comment": "x"}),
            "InvalidRequestBody",
            "did you mean 'Comment'",
        ),
        (
            format!("/api/machines/{win}/isolate"),
            json!({"Comment": "x", "IsolationType": "Partial"}),
            "InvalidInput",
            "IsolationType",
        ),
        (
            format!("/api/machines/{win}/runAntiVirusScan"),
            json!({"Comment": "x"}),
            "MissingRequiredParameter",
            "Parameter ScanType is missing",
        ),
        (
            format!("/api/machines/{win}/runAntiVirusScan"),
            json!({"Comment": "x", "ScanType": "Deep"}),
            "InvalidInput",
            "Quick, Full",
        ),
        (
            format!("/api/machines/{win}/StopAndQuarantineFile"),
            json!({"Comment": "x", "Sha1": "abc"}),
            "InvalidHashValue",
            "Hash value abc is invalid",
        ),
        (
            format!("/api/machines/{linux}/isolate"),
            json!({"Comment": "x", "IsolationType": "Selective"}),
            "OsPlatformNotSupported",
            "OS Platform Linux isn't supported for this action",
        ),
        (
            format!("/api/machines/{linux}/restrictCodeExecution"),
            json!({"Comment": "x"}),
            "OsPlatformNotSupported",
            "Linux",
        ),
    ];
    for (url, body, code, msg) in cases {
        let (status, err) = emu.send("POST", &url, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url} {body}");
        assert_eq!(err["error"]["code"], code, "{url} {body}: {err}");
        assert!(
            str_of(&err["error"], "message").contains(msg),
            "{url} {body}: {err}"
        );
    }
    let (status, err) = emu
        .send(
            "POST",
            "/api/machines/ffff/isolate",
            json!({"Comment": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["error"]["message"], "Machine ffff was not found");
    let (status, err) = emu
        .call(
            Some(&app(&["Machine.Read.All"])),
            "POST",
            &format!("/api/machines/{win}/isolate"),
            Some(json!({"Comment": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(str_of(&err["error"], "message").contains("Machine.Isolate"));
    let (status, err) = emu
        .call(
            Some(&admin()),
            "POST",
            &format!("/api/machines/{win}/isolate"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "InvalidRequestBody");
    // Linux full isolation, scans and package collection are supported.
    for (action, body) in [
        ("isolate", json!({"Comment": "x", "IsolationType": "Full"})),
        (
            "runAntiVirusScan",
            json!({"Comment": "x", "ScanType": "Quick"}),
        ),
        ("collectInvestigationPackage", json!({"Comment": "x"})),
    ] {
        let (status, b) = emu
            .send("POST", &format!("/api/machines/{linux}/{action}"), body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{action}: {b}");
    }
    let sha1 = &w.findings.known_bad_file.sha1;
    let (status, q) = emu
        .send(
            "POST",
            &format!("/api/machines/{win}/StopAndQuarantineFile"),
            json!({"Comment": "x", "Sha1": sha1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        q["relatedFileInfo"],
        json!({"fileIdentifier": sha1, "fileIdentifierType": "Sha1"})
    );
}

#[tokio::test]
async fn machine_actions_list_filter_and_cancel() {
    let emu = Emu::new();
    let w = emu.world();
    let (a, b) = (&w.devices[1].id, &w.devices[2].id);
    emu.send(
        "POST",
        &format!("/api/machines/{a}/runAntiVirusScan"),
        json!({"Comment": "scan", "ScanType": "Full"}),
    )
    .await;
    emu.send(
        "POST",
        &format!("/api/machines/{b}/runAntiVirusScan"),
        json!({"Comment": "scan", "ScanType": "Quick"}),
    )
    .await;
    let (_, iso) = emu
        .send(
            "POST",
            &format!("/api/machines/{b}/isolate"),
            json!({"Comment": "iso"}),
        )
        .await;

    let (status, list) = emu.get("/api/machineactions").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list["@odata.context"],
        format!("{BASE}/api/$metadata#MachineActions")
    );
    assert_eq!(list["value"].as_array().unwrap().len(), 3);
    assert_eq!(list["value"][0]["type"], "Isolate", "newest first");
    let (_, mine) = emu
        .get(&format!(
            "/api/machineactions?$filter=machineId eq '{b}' and type eq 'RunAntiVirusScan'"
        ))
        .await;
    assert_eq!(mine["value"].as_array().unwrap().len(), 1);
    assert_eq!(mine["value"][0]["scope"], "Quick");
    let (_, pending) = emu
        .get("/api/machineactions?$filter=status eq 'Pending' and requestor eq 'huntbook-demo'&$top=2")
        .await;
    assert_eq!(pending["value"].as_array().unwrap().len(), 2);
    let (status, err) = emu.get("/api/machineactions?$filter=scope eq 'Full'").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "ODataError");

    let cancel = format!("/api/machineactions/{}/cancel", str_of(&iso, "id"));
    let (status, err) = emu.send("POST", &cancel, json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["error"]["code"], "MissingRequiredParameter");
    let (status, c) = emu
        .send(
            "POST",
            &cancel,
            json!({"Comment": "Machine action was canceled by automation"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "Cancelled");
    assert_eq!(c["cancellationRequestor"], "huntbook-demo");
    assert_eq!(
        c["cancellationComment"],
        "Machine action was canceled by automation"
    );
    let (status, _) = emu.send("POST", &cancel, json!({"Comment": "again"})).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a final action can't be cancelled"
    );
    emu.state.tenant.advance_clock(STEP * 3);
    assert!(
        !emu.state.tenant.machine_state(b).unwrap().isolated,
        "cancelled isolation never lands"
    );
    assert!(
        emu.state
            .tenant
            .machine_state(a)
            .unwrap()
            .last_antivirus_scan
            .is_some()
    );
    let (status, _) = emu
        .send(
            "POST",
            "/api/machineactions/00000000-0000-4000-8000-000000000000/cancel",
            json!({"Comment": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = emu.get("/api/machineactions/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn actions_can_be_made_to_fail_or_time_out() {
    let emu = Emu::new();
    let m = &emu.world().devices[3].id;
    emu.state
        .tenant
        .plan_action_outcome(m, Some(ActionType::Isolate), ActionOutcome::Failed);
    let (_, a) = emu
        .send(
            "POST",
            &format!("/api/machines/{m}/isolate"),
            json!({"Comment": "x"}),
        )
        .await;
    let (_, s) = emu
        .send(
            "POST",
            &format!("/api/machines/{m}/runAntiVirusScan"),
            json!({"Comment": "x", "ScanType": "Quick"}),
        )
        .await;
    emu.state.tenant.advance_clock(STEP * 2);
    let (_, a) = emu
        .get(&format!("/api/machineactions/{}", str_of(&a, "id")))
        .await;
    let (_, s) = emu
        .get(&format!("/api/machineactions/{}", str_of(&s, "id")))
        .await;
    assert_eq!(a["status"], "Failed");
    assert_eq!(s["status"], "Succeeded");
    assert!(!emu.state.tenant.machine_state(m).unwrap().isolated);

    // The same through a data file's machine tag.
    let text = "devices:\n  - name: ws-slow.corp.contoso.example\n    machineTags: [\"emulator:action-times-out\"]\n";
    let data = data::parse(text.as_bytes(), "slow.yaml").unwrap();
    let emu = Emu::with(EmulatorConfig {
        data: Some(data),
        ..config()
    });
    let id = emu.world().devices[0].id.clone();
    let (status, a) = emu
        .send(
            "POST",
            &format!("/api/machines/{id}/collectInvestigationPackage"),
            json!({"Comment": "x"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    emu.state.tenant.advance_clock(STEP * 2);
    let (_, a) = emu
        .get(&format!("/api/machineactions/{}", str_of(&a, "id")))
        .await;
    assert_eq!(a["status"], "TimeOut");
}

// ---------------------------------------------------------------------------------------------
// Journal, cross-API consistency, data files

#[tokio::test]
async fn journal_records_every_write_with_its_outcome() {
    let emu = Emu::new();
    let m = &emu.world().devices[0].id;
    let inc = emu.state.tenant.incidents()[0].id;
    emu.send(
        "POST",
        &format!("/api/machines/{m}/isolate"),
        json!({"Comment": "first"}),
    )
    .await;
    emu.send(
        "POST",
        &format!("/api/machines/{m}/isolate"),
        json!({"Comment": "dup"}),
    )
    .await;
    emu.call(
        Some(&app(&[])),
        "PATCH",
        &format!("/api/incidents/{inc}"),
        Some(json!({"status": "Active"})),
    )
    .await;
    emu.get("/api/machines").await;
    let (status, body) = emu
        .call(None, "GET", "/_emulator/tenant/journal", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let entries = body["value"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "reads are not journaled");
    assert_eq!(entries[0]["method"], "POST");
    assert_eq!(entries[0]["path"], format!("/api/machines/{m}/isolate"));
    assert_eq!(entries[0]["body"]["Comment"], "first");
    assert_eq!(entries[0]["status"], 201);
    assert_eq!(entries[0]["principal"]["name"], "huntbook-demo");
    assert_eq!(entries[1]["status"], 400);
    assert_eq!(entries[2]["status"], 403);
    let (status, _) = emu
        .call(None, "DELETE", "/_emulator/tenant/journal", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(emu.state.tenant.journal().is_empty());
    let (status, _) = emu
        .call(None, "GET", "/_emulator/tenant/machines/nope/state", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_same_devices_and_findings_appear_in_every_api() {
    let emu = Emu::new();
    let w = emu.world();
    let ps = &w.findings.encoded_powershell;
    let dev = &w.devices[ps.device];
    let (_, graph) = emu
        .get("/v1.0/security/incidents?$expand=alerts&$top=50")
        .await;
    let ps_incident = graph["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["alerts"][0]["title"] == "Suspicious PowerShell command line"
                || i["alerts"][1]["title"] == "Suspicious PowerShell command line"
        })
        .unwrap();
    let evidence = ps_incident["alerts"][0]["evidence"].as_array().unwrap();
    assert!(evidence.iter().any(|e| e["mdeDeviceId"] == dev.id.as_str() && e["deviceDnsName"] == dev.name.as_str()));
    assert!(
        evidence
            .iter()
            .any(|e| e["processCommandLine"] == ps.command_line.as_str())
    );
    let upn = &w.people[ps.person].upn;
    assert!(
        evidence
            .iter()
            .any(|e| e["userAccount"]["userPrincipalName"] == upn.as_str())
    );

    let id = str_of(ps_incident, "id");
    let (_, d) = emu.get(&format!("/api/incidents/{id}")).await;
    let d_alerts = d["alerts"].as_array().unwrap();
    assert!(
        d_alerts
            .iter()
            .all(|a| a["devices"][0]["mdatpDeviceId"] == dev.id.as_str())
    );
    assert!(
        d_alerts
            .iter()
            .flat_map(|a| a["entities"].as_array().unwrap())
            .any(|e| e["entityType"] == "Ip" && e["ipAddress"] == ps.c2_ip.as_str())
    );
    let (status, m) = emu.get(&format!("/api/machines/{}", dev.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(m["computerDnsName"], dev.name.as_str());

    let bad = &w.findings.known_bad_file;
    let (_, files) = emu
        .get("/v1.0/security/alerts_v2?$filter=evidence/any(e: e/microsoft.graph.security.fileEvidence/fileDetails/sha256 eq '')")
        .await;
    assert_eq!(files["value"].as_array().unwrap().len(), 0);
    let (_, files) = emu
        .get(&format!(
            "/v1.0/security/alerts_v2?$filter=evidence/any(e: e/microsoft.graph.security.fileEvidence/fileDetails/sha256 eq '{}')",
            bad.sha256
        ))
        .await;
    assert_eq!(files["value"].as_array().unwrap().len(), 1);
    let phish = &w.findings.phishing;
    let (_, mail) = emu
        .get("/v1.0/security/alerts_v2?$filter=serviceSource eq 'microsoftDefenderForOffice365'")
        .await;
    assert!(
        mail["value"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| a["evidence"].as_array().unwrap())
            .any(
                |e| e["networkMessageId"] == phish.network_message_id.as_str()
                    && e["subject"] == phish.subject.as_str()
            )
    );
}

#[tokio::test]
async fn the_example_data_file_drives_every_api() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/examples/tenant.yaml");
    let data = data::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let emu = Emu::with(EmulatorConfig {
        data: Some(data),
        ..config()
    });
    let (_, machines) = emu.get("/api/machines").await;
    let names: Vec<&str> = machines["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| str_of(m, "computerDnsName"))
        .collect();
    assert!(names.contains(&"ws-101.corp.contoso.example"), "{names:?}");
    let (_, incs) = emu.get("/v1.0/security/incidents?$expand=alerts").await;
    let incs = incs["value"].as_array().unwrap();
    let planted = incs
        .iter()
        .find(|i| i["id"] == "5001")
        .expect("incident 5001 from the file");
    assert_eq!(planted["severity"], "high");
    let dev = &planted["alerts"][0]["evidence"][0];
    assert_eq!(dev["deviceDnsName"], "ws-101.corp.contoso.example");
    assert!(
        incs.iter()
            .any(|i| i["status"] == "redirected" && i["redirectIncidentId"] == "5001")
    );
    let (_, d) = emu.get("/api/incidents/5001").await;
    assert_eq!(
        d["alerts"][0]["devices"][0]["deviceDnsName"],
        "ws-101.corp.contoso.example"
    );
}

#[tokio::test]
async fn data_file_errors_name_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let bad_ref = dir.path().join("bad.yaml");
    std::fs::write(
        &bad_ref,
        "incidents:\n  - displayName: x\n    alerts:\n      - title: y\n        evidence:\n          - type: device\n            deviceName: ws-999\n",
    )
    .unwrap();
    let data = data::load(&bad_ref).unwrap();
    let err = EmuState::new(
        EmulatorConfig {
            data: Some(data),
            ..config()
        },
        EmulatorUrls::on(BASE),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("bad.yaml:6:19"), "{err}");
    assert!(err.contains("ws-999"), "{err}");
    let err = data::load(dir.path()).unwrap_err().to_string();
    assert!(err.contains("is a directory"), "{err}");
    let wrong = dir.path().join("wrong.yaml");
    std::fs::write(
        &wrong,
        "incidents:\n  - displayName: x\n    severity: severe\n    alerts: []\n",
    )
    .unwrap();
    let err = data::load(&wrong).unwrap_err().to_string();
    assert!(
        err.contains("wrong.yaml:3:15: invalid severity `severe`"),
        "{err}"
    );
    assert!(err.contains("has no alerts"), "{err}");
}
