//! The request gate, rate limits, fault injection, TLS and the `huntbook emulator` command, over
//! real loopback connections: 401s in each API family's shape, the documented 429s with honest
//! `Retry-After`, every injected fault, and the startup JSON line of the binary.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use huntbook::emulator::limits::LimitsSpec;
use huntbook::emulator::{Emulator, EmulatorConfig, EmulatorHandle, EmulatorInfo};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn start(config: EmulatorConfig) -> EmulatorHandle {
    Emulator::start(config).await.expect("emulator starts")
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn token_for(info: &EmulatorInfo, app: &str, scope: &str) -> String {
    let app = info.app(app).expect("app");
    let body: Value = http()
        .post(&info.token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.as_deref().unwrap_or("")),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"]
        .as_str()
        .expect("access token")
        .to_string()
}

async fn call(
    url: &str,
    method: reqwest::Method,
    token: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = http()
        .request(method, url)
        .header("client-request-id", "crid-42");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

fn graph_error(body: &Value) -> (&str, &str) {
    let e = &body["error"];
    assert!(
        e["innerError"]["request-id"].is_string(),
        "Graph shape: {body}"
    );
    assert!(e["innerError"]["date"].is_string(), "Graph shape: {body}");
    (
        e["code"].as_str().unwrap_or(""),
        e["message"].as_str().unwrap_or(""),
    )
}

fn defender_error(body: &Value) -> (&str, &str) {
    let e = &body["error"];
    assert_eq!(
        e["target"].as_str().map(str::len),
        Some(36),
        "Defender shape: {body}"
    );
    (
        e["code"].as_str().unwrap_or(""),
        e["message"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn tokens_are_checked_and_401s_come_in_each_familys_shape() {
    let emu = start(EmulatorConfig::default()).await;
    let info = emu.info();
    let base = &info.login_url;
    let graph_url = format!("{base}/v1.0/security/notARoute");
    let mde_url = format!("{base}/api/machines");

    // Missing.
    let (status, headers, body) = call(&graph_url, reqwest::Method::GET, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        graph_error(&body),
        ("InvalidAuthenticationToken", "Access token is empty.")
    );
    assert_eq!(body["error"]["innerError"]["client-request-id"], "crid-42");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    let (status, _, body) = call(&mde_url, reqwest::Method::GET, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(defender_error(&body).0, "Unauthorized");

    // Malformed.
    let (_, _, body) = call(&graph_url, reqwest::Method::GET, Some("opaque-token")).await;
    assert!(graph_error(&body).1.starts_with("IDX14100"));
    let (_, _, body) = call(&mde_url, reqwest::Method::GET, Some("a.b.c")).await;
    assert!(defender_error(&body).1.contains("malformed"));

    // A Graph token on an MDE route: wrong audience.
    let graph_token = token_for(
        info,
        "huntbook-demo",
        "https://graph.microsoft.com/.default",
    )
    .await;
    let (status, _, body) = call(&mde_url, reqwest::Method::GET, Some(&graph_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (code, message) = defender_error(&body);
    assert_eq!(code, "Unauthorized");
    assert!(
        message.contains("audience") && message.contains("https://graph.microsoft.com"),
        "{message}"
    );
    let (status, _, body) = call(
        &format!("{base}/api/incidents"),
        reqwest::Method::GET,
        Some(&graph_token),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        defender_error(&body)
            .1
            .contains("https://api.security.microsoft.com")
    );

    // A tampered token: same header and signature, different claims.
    let mut parts: Vec<String> = graph_token.split('.').map(str::to_string).collect();
    let mut claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&parts[1])
            .unwrap(),
    )
    .unwrap();
    claims["roles"] = json!(["Everything.All"]);
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let (status, _, body) = call(&graph_url, reqwest::Method::GET, Some(&parts.join("."))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(graph_error(&body).1.contains("signature"));

    // The right token passes the gate: the unknown Graph segment is then a 400 from Graph.
    let (status, _, body) = call(&graph_url, reqwest::Method::GET, Some(&graph_token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        graph_error(&body).1,
        "Resource not found for the segment 'notARoute'."
    );

    // Revoked tokens fail; a fresh one works.
    emu.revoke_tokens();
    let (status, _, body) = call(&graph_url, reqwest::Method::GET, Some(&graph_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(graph_error(&body).1.contains("revoked"));
    let fresh = token_for(
        info,
        "huntbook-demo",
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(
        call(&graph_url, reqwest::Method::GET, Some(&fresh)).await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let emu = start(EmulatorConfig {
        token_lifetime: Duration::from_secs(1),
        ..EmulatorConfig::default()
    })
    .await;
    let info = emu.info();
    let token = token_for(
        info,
        "huntbook-demo",
        "https://api.security.microsoft.com/.default",
    )
    .await;
    let url = format!("{}/api/incidents/1", info.login_url);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, body) = call(&url, reqwest::Method::GET, Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        defender_error(&body)
            .1
            .starts_with("Access token has expired or is not yet valid.")
    );
}

#[tokio::test]
async fn the_46th_hunting_call_in_a_minute_gets_429_with_retry_after() {
    let emu = start(EmulatorConfig::default()).await;
    let info = emu.info();
    let token = token_for(
        info,
        "huntbook-demo",
        "https://api.security.microsoft.com/.default",
    )
    .await;
    let url = format!("{}/api/advancedhunting/run", info.login_url);
    // Unauthenticated calls do not spend the budget.
    for _ in 0..5 {
        assert_eq!(
            call(&url, reqwest::Method::POST, None).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    for i in 0..45 {
        let resp = http()
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"Query": "DeviceInfo | take 1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "hunting call {}", i + 1);
    }
    let (status, headers, body) = call(&url, reqwest::Method::POST, Some(&token)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((50..=60).contains(&retry), "honest Retry-After: {retry}");
    let (code, message) = defender_error(&body);
    assert_eq!(code, "429");
    assert_eq!(
        message,
        "API calls quota exceeded! maximum allowed 45 per 00:01:00"
    );

    // Graph runHuntingQuery shares the hunting quota and says so in Graph's words.
    let graph = token_for(
        info,
        "huntbook-demo",
        "https://graph.microsoft.com/.default",
    )
    .await;
    let (status, headers, body) = call(
        &format!("{}/v1.0/security/runHuntingQuery", info.login_url),
        reqwest::Method::POST,
        Some(&graph),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(
        graph_error(&body),
        ("TooManyRequests", "Too many requests.")
    );

    // Other buckets are unaffected; resetting the counts frees hunting again.
    let (status, _, _) = call(
        &format!("{}/api/incidents", info.login_url),
        reqwest::Method::GET,
        Some(&token),
    )
    .await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    emu.reset_limits();
    assert_ne!(
        call(&url, reqwest::Method::POST, Some(&token)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn custom_limits_and_the_retry_after_they_promise() {
    let emu = start(EmulatorConfig {
        limits: "relaxed,actions=2/2s".parse::<LimitsSpec>().unwrap(),
        ..EmulatorConfig::default()
    })
    .await;
    let info = emu.info();
    assert_eq!(info.limits, "relaxed,actions=2/2s");
    let token = token_for(
        info,
        "huntbook-demo",
        "https://api.securitycenter.microsoft.com/.default",
    )
    .await;
    let url = format!("{}/api/machines/abc/isolate", info.login_url);
    assert_ne!(
        call(&url, reqwest::Method::POST, Some(&token)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_ne!(
        call(&url, reqwest::Method::POST, Some(&token)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    let (status, headers, body) = call(&url, reqwest::Method::POST, Some(&token)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        defender_error(&body).1,
        "API calls quota exceeded! maximum allowed 2 per 00:00:02"
    );
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry));
    // Waiting as told is enough.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_ne!(
        call(&url, reqwest::Method::POST, Some(&token)).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Relaxed: machine reads are unlimited.
    for _ in 0..120 {
        let (status, _, _) = call(
            &format!("{}/api/machines", info.login_url),
            reqwest::Method::GET,
            Some(&token),
        )
        .await;
        assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
    }
}

#[tokio::test]
async fn scheduled_status_faults_answer_in_the_family_shape() {
    let emu = start(EmulatorConfig {
        limits: LimitsSpec::relaxed(),
        faults: "hunting:500#2,hunting:429=7#3,api:503=4#4,token:503=2#1"
            .parse()
            .unwrap(),
        ..EmulatorConfig::default()
    })
    .await;
    let info = emu.info();
    // The first token request meets the injected 503, in the Entra shape.
    let app = info.app("huntbook-demo").unwrap();
    let resp = http()
        .post(&info.token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.as_deref().unwrap()),
            ("scope", "https://api.security.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "2");
    assert_eq!(resp.headers()["x-emulator-fault"], "503");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS")
    );

    let token = token_for(
        info,
        "huntbook-demo",
        "https://api.security.microsoft.com/.default",
    )
    .await;
    let url = format!("{}/api/advancedhunting/run", info.login_url);
    let (status, headers, _) = call(&url, reqwest::Method::POST, Some(&token)).await;
    assert!(not_injected(status, &headers), "{status}");
    let (status, headers, body) = call(&url, reqwest::Method::POST, Some(&token)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(headers["x-emulator-fault"], "500");
    assert_eq!(defender_error(&body).0, "InternalServerError");
    let (status, headers, body) = call(&url, reqwest::Method::POST, Some(&token)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "7");
    assert_eq!(defender_error(&body).0, "429");
    let (status, headers, body) = call(&url, reqwest::Method::POST, Some(&token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "4");
    assert_eq!(defender_error(&body).0, "ServiceUnavailable");
    let (status, headers, _) = call(&url, reqwest::Method::POST, Some(&token)).await;
    assert!(not_injected(status, &headers), "{status}");
}

/// An answer from the route itself (whatever the handler says), not from fault injection.
fn not_injected(status: StatusCode, headers: &reqwest::header::HeaderMap) -> bool {
    !headers.contains_key("x-emulator-fault") && ![429, 500, 503, 401].contains(&status.as_u16())
}

#[tokio::test]
async fn reset_slow_truncate_and_revoke_faults() {
    let emu = start(EmulatorConfig {
        limits: LimitsSpec::relaxed(),
        ..EmulatorConfig::default()
    })
    .await;
    let info = emu.info();
    let token = token_for(
        info,
        "huntbook-demo",
        "https://graph.microsoft.com/.default",
    )
    .await;
    // A Graph path no handler serves: after the gate it is Graph's 400, whatever else lands.
    let url = format!("{}/v1.0/security/notARoute", info.login_url);

    // Connection reset: no HTTP response at all.
    emu.set_faults("graph-security:reset#1").unwrap();
    let err = http()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect_err("the connection is reset");
    assert!(!err.is_status() && err.status().is_none(), "{err:?}");
    assert_eq!(
        call(&url, reqwest::Method::GET, Some(&token)).await.0,
        StatusCode::BAD_REQUEST
    );

    // Graph's words for an injected 503, echoing the client's request id.
    emu.set_faults("graph-security:503=3#1").unwrap();
    let (status, headers, body) = call(&url, reqwest::Method::GET, Some(&token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "3");
    assert_eq!(graph_error(&body).0, "serviceNotAvailable");
    assert_eq!(body["error"]["innerError"]["client-request-id"], "crid-42");

    // Slow: the answer arrives after the delay.
    emu.set_faults("/v1.0/:slow=300ms").unwrap();
    let t = Instant::now();
    assert_eq!(
        call(&url, reqwest::Method::GET, Some(&token)).await.0,
        StatusCode::BAD_REQUEST
    );
    assert!(t.elapsed() >= Duration::from_millis(300));

    // Truncated: the status and headers of the real answer, then half its JSON.
    emu.set_faults("api:truncate").unwrap();
    let resp = http().get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get("content-length").is_none());
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("{\"error\""), "{text}");
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "cut mid-JSON: {text}"
    );

    // Revoke: the call itself already fails; a new token works.
    emu.set_faults("api:revoke#1").unwrap();
    let (status, _, body) = call(&url, reqwest::Method::GET, Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(graph_error(&body).1.contains("revoked"));
    let fresh = token_for(
        info,
        "huntbook-demo",
        "https://graph.microsoft.com/.default",
    )
    .await;
    assert_eq!(
        call(&url, reqwest::Method::GET, Some(&fresh)).await.0,
        StatusCode::BAD_REQUEST
    );
    emu.clear_faults();
}

#[tokio::test]
async fn faults_can_be_set_over_http_and_are_reproducible_per_seed() {
    let outcomes = |seed: u64| async move {
        let emu = start(EmulatorConfig {
            seed,
            limits: LimitsSpec::relaxed(),
            ..EmulatorConfig::default()
        })
        .await;
        let info = emu.info();
        let control = format!("{}/_emulator/faults", info.login_url);
        let resp = http()
            .put(&control)
            .json(&json!({"spec": "api:500@0.5"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let token = token_for(
            info,
            "huntbook-demo",
            "https://api.securitycenter.microsoft.com/.default",
        )
        .await;
        let url = format!("{}/api/machines", info.login_url);
        let mut seen = Vec::new();
        for _ in 0..24 {
            seen.push(
                call(&url, reqwest::Method::GET, Some(&token))
                    .await
                    .0
                    .as_u16(),
            );
        }
        let status: Value = http()
            .get(&control)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["rules"][0]["calls"], 24);
        let bad = http()
            .put(&control)
            .body("api:teapot")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        let msg: Value = bad.json().await.unwrap();
        assert!(
            msg["message"]
                .as_str()
                .unwrap()
                .contains("unknown fault `teapot`")
        );
        let cleared: Value = http()
            .delete(&control)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(cleared["rules"], json!([]));
        seen
    };
    let a = outcomes(11).await;
    assert_eq!(a, outcomes(11).await, "same seed, same faults");
    assert!(a.contains(&500) && a.iter().any(|s| *s != 500), "{a:?}");
}

#[tokio::test]
async fn tls_serves_a_certificate_signed_by_the_printed_ca() {
    let emu = start(EmulatorConfig {
        tls: true,
        ..EmulatorConfig::default()
    })
    .await;
    let info = emu.info();
    assert!(info.login_url.starts_with("https://127.0.0.1:"));
    let ca_path = info
        .ca_cert
        .as_ref()
        .expect("ca_cert is printed with --tls");
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca_path).unwrap()).unwrap();
    let trusting = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let url = format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        info.login_url, info.tenant_id
    );
    let doc: Value = trusting
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["token_endpoint"], info.token_url);
    // `localhost` is in the certificate too.
    let by_name = url.replace("127.0.0.1", "localhost");
    assert_eq!(
        trusting.get(&by_name).send().await.unwrap().status(),
        StatusCode::OK
    );
    // A client that does not trust the CA refuses the connection.
    let (_, empty) = {
        let other = huntbook::emulator::tls::generate(tempfile::tempdir().unwrap().path()).unwrap();
        (other.ca_cert_path.clone(), other.ca_cert_pem)
    };
    let stranger = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(empty.as_bytes()).unwrap()])
        .build()
        .unwrap();
    assert!(stranger.get(&url).send().await.is_err());
}

fn huntbook() -> Command {
    Command::new(env!("CARGO_BIN_EXE_huntbook"))
}

#[test]
fn the_command_prints_its_json_line_first_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = huntbook()
        .args([
            "emulator",
            "--port",
            "0",
            "--limits",
            "relaxed",
            "--work-dir",
        ])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let info: Value = serde_json::from_str(&line).expect("the first stdout line is JSON");
    for key in [
        "login_url",
        "graph_url",
        "defender_url",
        "endpoint_url",
        "tenant_id",
        "apps",
        "users",
    ] {
        assert!(!info[key].is_null(), "{key} in {line}");
    }
    assert_eq!(info["limits"], "relaxed");
    let cert = info["apps"][2]["certificate_path"].as_str().unwrap();
    assert!(cert.starts_with(dir.path().to_str().unwrap()));
    // The server answers.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!(
        "{}/{}/discovery/v2.0/keys",
        info["login_url"].as_str().unwrap(),
        info["tenant_id"].as_str().unwrap()
    );
    let status = rt
        .block_on(async { reqwest::get(&url).await.map(|r| r.status()) })
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listening on"), "{stderr}");
    // Secrets go to the JSON line only, never to the human log.
    let secret = info["apps"][0]["client_secret"].as_str().unwrap();
    assert!(!stderr.contains(secret));
}

#[test]
fn with_json_logs_every_stderr_line_of_the_command_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = huntbook()
        .args(["emulator", "--port", "0", "-v", "--log-format", "json"])
        .arg("--work-dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let info: Value = serde_json::from_str(&line).expect("the first stdout line is JSON");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!("{}/_emulator/info", info["login_url"].as_str().unwrap());
    let status = rt
        .block_on(async { reqwest::get(&url).await.map(|r| r.status()) })
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let events: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    for e in &events {
        assert!(e["timestamp"].is_string() && e["level"].is_string(), "{e}");
    }
    assert_eq!(
        events.first().map(|e| &e["event"]),
        Some(&Value::from("listening"))
    );
    assert_eq!(
        events.last().map(|e| &e["event"]),
        Some(&Value::from("stopping"))
    );
    assert!(
        events.iter().any(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("GET /_emulator/info -> 200"))),
        "the request log is JSON too: {stderr}"
    );
    let request = events
        .iter()
        .find(|e| e["event"] == "request")
        .unwrap_or_else(|| panic!("a request event: {stderr}"));
    assert_eq!(request["method"], "GET");
    assert_eq!(request["path"], "/_emulator/info");
    assert_eq!(request["status"], 200);
    assert!(request["elapsed_ms"].is_u64(), "{request}");
}

#[test]
fn the_command_refuses_bad_flags_and_data_with_exit_2() {
    for args in [
        vec!["emulator", "--limits", "hunting=45/week"],
        vec!["emulator", "--faults", "hunting:418"],
        vec!["emulator", "--data", "/nonexistent/tenant.yaml"],
    ] {
        let out = huntbook().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: invalid --"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tenant.yaml");
    std::fs::write(
        &data,
        "apps:\n  - name: x\n    client_id: not-a-guid\n    client_secret: s\n",
    )
    .unwrap();
    let out = huntbook()
        .args(["emulator", "--port", "0", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a GUID"));
}

#[tokio::test]
async fn app_tokens_work_on_incidents_and_machine_actions_and_readonly_gets_403_on_isolate() {
    let emu = start(EmulatorConfig {
        limits: LimitsSpec::relaxed(),
        ..EmulatorConfig::default()
    })
    .await;
    let info = emu.info();
    let get = |url: String, token: String| async move {
        let resp = http().get(url).bearer_auth(token).send().await.unwrap();
        (resp.status(), resp.json::<Value>().await.unwrap())
    };

    let graph = token_for(
        info,
        "huntbook-demo",
        "https://graph.microsoft.com/.default",
    )
    .await;
    let (status, body) = get(format!("{}/v1.0/security/incidents", info.graph_url), graph).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["value"].is_array());

    let defender = token_for(
        info,
        "huntbook-demo",
        "https://api.security.microsoft.com/.default",
    )
    .await;
    let (status, body) = get(format!("{}/api/incidents", info.defender_url), defender).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["value"].is_array());

    let mde = token_for(
        info,
        "huntbook-demo",
        "https://api.securitycenter.microsoft.com/.default",
    )
    .await;
    let (status, body) = get(format!("{}/api/machines", info.endpoint_url), mde.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ids: Vec<String> = body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    assert!(ids.len() >= 2);
    let isolate = |id: &str, token: &str| {
        http()
            .post(format!("{}/api/machines/{id}/isolate", info.endpoint_url))
            .bearer_auth(token)
            .json(&json!({"Comment": "contain the host", "IsolationType": "Full"}))
            .send()
    };
    let resp = isolate(&ids[0], &mde).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let action: Value = resp.json().await.unwrap();
    assert_eq!(action["type"], "Isolate");
    assert_eq!(action["requestor"], "huntbook-demo");

    let readonly = token_for(
        info,
        "huntbook-readonly",
        "https://api.securitycenter.microsoft.com/.default",
    )
    .await;
    let resp = isolate(&ids[1], &readonly).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.unwrap();
    let (code, message) = defender_error(&body);
    assert_eq!(code, "Forbidden");
    assert!(message.contains("Machine.Isolate"), "{message}");
    // The read-only app can still read.
    let (status, _) = get(
        format!("{}/api/machines/{}", info.endpoint_url, ids[1]),
        readonly,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn app_tokens_hunt_on_graph_defender_and_mde_and_audiences_do_not_cross() {
    let emu = start(EmulatorConfig {
        limits: LimitsSpec::relaxed(),
        rows: 50,
        ..EmulatorConfig::default()
    })
    .await;
    let info = emu.info();
    let hunt = |url: String, token: String| async move {
        let resp = http()
            .post(url)
            .bearer_auth(token)
            .json(&json!({"Query": "DeviceInfo | take 3"}))
            .send()
            .await
            .unwrap();
        (
            resp.status(),
            resp.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    let cases = [
        (
            "https://graph.microsoft.com/.default",
            format!("{}/v1.0/security/runHuntingQuery", info.graph_url),
        ),
        (
            "https://api.security.microsoft.com/.default",
            format!("{}/api/advancedhunting/run", info.defender_url),
        ),
        (
            "https://api.securitycenter.microsoft.com/.default",
            format!("{}/api/advancedqueries/run", info.endpoint_url),
        ),
    ];
    for (scope, url) in &cases {
        for app in ["huntbook-demo", "huntbook-readonly"] {
            let token = token_for(info, app, scope).await;
            let (status, body) = hunt(url.clone(), token).await;
            assert_eq!(status, StatusCode::OK, "{app} on {url}: {body}");
        }
    }
    // A Defender XDR token is not a Graph token.
    let defender = token_for(info, "huntbook-demo", cases[1].0).await;
    assert_eq!(
        hunt(cases[0].1.clone(), defender).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A delegated token from the password flow hunts too.
    let cli = info.app("huntbook-cli").unwrap();
    let user = &info.users[0];
    let body: Value = http()
        .post(&info.token_url)
        .form(&[
            ("grant_type", "password"),
            ("client_id", cli.client_id.as_str()),
            ("username", user.username.as_str()),
            ("password", user.password.as_str()),
            ("scope", cases[1].0),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let delegated = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(hunt(cases[1].1.clone(), delegated).await.0, StatusCode::OK);
}
