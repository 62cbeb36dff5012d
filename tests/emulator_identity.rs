//! The emulator's identity platform over HTTP, in-process: every grant (client credentials with
//! a secret, HTTP Basic or a certificate assertion; device code; password; refresh), the v1 and
//! v2 response shapes, discovery and JWKS, and each documented error in the Entra shape.

use std::time::Duration;

use base64::Engine as _;
use huntbook::emulator::data::TenantData;
use huntbook::emulator::directory::{UserSpec, analyst_scopes};
use huntbook::emulator::{Emulator, EmulatorConfig, EmulatorHandle, EmulatorInfo};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha1::Digest as _;

const GRAPH: &str = "https://graph.microsoft.com/.default";
const DEFENDER: &str = "https://api.security.microsoft.com/.default";
const MDE: &str = "https://api.securitycenter.microsoft.com/.default";

async fn start(config: EmulatorConfig) -> EmulatorHandle {
    Emulator::start(config).await.expect("emulator starts")
}

async fn start_default() -> EmulatorHandle {
    start(EmulatorConfig::default()).await
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn demo(info: &EmulatorInfo) -> (String, String) {
    let app = info.app("huntbook-demo").expect("demo app");
    (
        app.client_id.clone(),
        app.client_secret.clone().expect("secret"),
    )
}

async fn post_form(url: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = http().post(url).form(form).send().await.expect("request");
    let status = resp.status();
    let body = resp.json::<Value>().await.expect("JSON body");
    (status, body)
}

fn v1_url(info: &EmulatorInfo, tenant: &str) -> String {
    format!("{}/{tenant}/oauth2/token", info.login_url)
}

fn v2_url(info: &EmulatorInfo, tenant: &str) -> String {
    format!("{}/{tenant}/oauth2/v2.0/token", info.login_url)
}

/// The decoded payload of a JWT (no verification: the tests check what was issued).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn header_of(jwt: &str) -> Value {
    let part = jwt.split('.').next().expect("header");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON header")
}

/// Assert the Entra error shape and return the AADSTS code.
fn entra_error(body: &Value, error: &str) -> u64 {
    assert_eq!(body["error"], error, "{body}");
    let desc = body["error_description"]
        .as_str()
        .expect("error_description");
    let code = body["error_codes"][0].as_u64().expect("error_codes");
    assert!(
        desc.starts_with(&format!("AADSTS{code}: ")),
        "description must start with the code: {desc}"
    );
    assert!(desc.contains("\r\nTrace ID: ") && desc.contains("\r\nCorrelation ID: "));
    for field in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[field].is_string(), "{field} missing in {body}");
    }
    code
}

async fn app_token(info: &EmulatorInfo, scope: &str) -> String {
    let (id, secret) = demo(info);
    let (status, body) = post_form(
        &info.token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().expect("token").to_string()
}

#[tokio::test]
async fn startup_info_describes_the_tenant_and_its_registrations() {
    let emu = start_default().await;
    let info = emu.info();
    let json = emu.info_json();
    assert_eq!(json["emulator"], "huntbook-emulator");
    for key in ["login_url", "graph_url", "defender_url", "endpoint_url"] {
        assert!(
            json[key]
                .as_str()
                .unwrap_or("")
                .starts_with("http://127.0.0.1:"),
            "{key}"
        );
    }
    assert_eq!(info.tenant_id, emu.state.world.tenant_id);
    assert_eq!(info.scopes.len(), 3);
    let names: Vec<&str> = info.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "huntbook-demo",
            "huntbook-readonly",
            "huntbook-cert",
            "huntbook-cli"
        ]
    );
    let cert = info.app("huntbook-cert").expect("cert app");
    let pem = std::fs::read_to_string(cert.certificate_path.as_ref().expect("path")).expect("pem");
    assert!(pem.contains("BEGIN CERTIFICATE") && pem.contains("BEGIN PRIVATE KEY"));
    assert!(cert.client_secret.is_none());
    assert!(info.app("huntbook-cli").expect("cli").public_client);
    let user = &info.users[0];
    assert_eq!(user.username, "analyst@contoso.example");
    assert_eq!(
        user.client_id.as_deref(),
        Some(info.app("huntbook-cli").unwrap().client_id.as_str())
    );
    assert!(
        json["users"][0]["scopes"]["endpoint"]
            .as_array()
            .unwrap()
            .contains(&json!("Machine.Isolate"))
    );
    // The same description is served at run time.
    let served: Value = http()
        .get(format!("{}/_emulator/info", info.login_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(served, json);
    // Secrets never show in Debug output.
    let debug = format!("{info:?}");
    assert!(!debug.contains(demo(info).1.as_str()));
    assert!(!debug.contains(user.password.as_str()));
}

#[tokio::test]
async fn client_credentials_with_a_secret_issue_v2_app_tokens() {
    let emu = start_default().await;
    let info = emu.info();
    let (id, secret) = demo(info);
    let (status, body) = post_form(
        &info.token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", MDE),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(c["aud"], "https://api.securitycenter.microsoft.com");
    assert_eq!(
        c["iss"],
        format!("{}/{}/v2.0", info.login_url, info.tenant_id)
    );
    assert_eq!(c["tid"], info.tenant_id);
    assert_eq!(c["azp"], id);
    assert_eq!(c["azpacr"], "1");
    assert_eq!(c["ver"], "2.0");
    assert_eq!(c["idtyp"], "app");
    assert!(c["oid"].is_string() && c["uti"].is_string());
    assert!(c.get("scp").is_none());
    let roles: Vec<&str> = c["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(roles.contains(&"Machine.Isolate") && roles.contains(&"AdvancedQuery.Read.All"));
    assert!(
        !roles.contains(&"ThreatHunting.Read.All"),
        "only the requested resource's roles"
    );
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3599
    );
    let h = header_of(token);
    assert_eq!(h["alg"], "RS256");
    assert!(h["kid"].is_string());
}

#[tokio::test]
async fn client_credentials_with_http_basic_and_the_tenant_domain() {
    let emu = start_default().await;
    let info = emu.info();
    let (id, secret) = demo(info);
    // RFC 6749 §2.3.1: each part form-URL-encoded before base64 (the secret contains `~`).
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let resp = http()
        .post(v2_url(info, "contoso.example"))
        .basic_auth(enc(&id), Some(enc(&secret)))
        .form(&[("grant_type", "client_credentials"), ("scope", DEFENDER)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        "https://api.security.microsoft.com"
    );
}

#[tokio::test]
async fn v1_endpoint_answers_with_string_numbers_and_v1_claims() {
    let emu = start_default().await;
    let info = emu.info();
    let (id, secret) = demo(info);
    let (status, body) = post_form(
        &v1_url(info, &info.tenant_id),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("resource", "https://api.security.microsoft.com"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], "3599");
    assert!(body["expires_on"].as_str().unwrap().parse::<i64>().is_ok());
    assert!(body["not_before"].as_str().unwrap().parse::<i64>().is_ok());
    assert_eq!(body["resource"], "https://api.security.microsoft.com");
    let token = body["access_token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(c["ver"], "1.0");
    assert_eq!(
        c["iss"],
        format!("https://sts.windows.net/{}/", info.tenant_id)
    );
    assert_eq!(c["appid"], id);
    assert_eq!(c["appidacr"], "1");
    assert_eq!(header_of(token)["x5t"], header_of(token)["kid"]);
}

#[tokio::test]
async fn token_endpoint_errors_carry_the_documented_aadsts_codes() {
    let emu = start_default().await;
    let info = emu.info();
    let (id, secret) = demo(info);
    let url = info.token_url.clone();
    let cc = |scope: &'static str| {
        vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", id.clone()),
            ("client_secret", secret.clone()),
            ("scope", scope.to_string()),
        ]
    };
    let send = |url: String, form: Vec<(&'static str, String)>| async move {
        let resp = http().post(url).form(&form).send().await.unwrap();
        (resp.status(), resp.json::<Value>().await.unwrap())
    };

    let mut bad_secret = cc(GRAPH);
    bad_secret[2].1 = "not-the-secret".into();
    let (status, body) = send(url.clone(), bad_secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(entra_error(&body, "invalid_client"), 7_000_215);

    let mut unknown = cc(GRAPH);
    unknown[1].1 = "11111111-2222-3333-4444-555555555555".into();
    let (status, body) = send(url.clone(), unknown).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(entra_error(&body, "unauthorized_client"), 700_016);

    let (status, body) = send(v2_url(info, "fabrikam.example"), cc(GRAPH)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(entra_error(&body, "invalid_request"), 90002);

    let (_, body) = send(
        url.clone(),
        cc("https://graph.microsoft.com/ThreatHunting.Read.All"),
    )
    .await;
    assert_eq!(entra_error(&body, "invalid_scope"), 1_002_012);

    let (_, body) = send(
        url.clone(),
        cc("https://graph.microsoft.com/.default https://api.security.microsoft.com/.default"),
    )
    .await;
    assert_eq!(entra_error(&body, "invalid_scope"), 700_022);

    let (_, body) = send(url.clone(), cc("https://vault.azure.net/.default")).await;
    assert_eq!(entra_error(&body, "invalid_resource"), 500_011);

    let mut no_secret = cc(GRAPH);
    no_secret.remove(2);
    let (status, body) = send(url.clone(), no_secret).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(entra_error(&body, "invalid_client"), 7_000_218);

    let mut no_grant = cc(GRAPH);
    no_grant.remove(0);
    let (_, body) = send(url.clone(), no_grant).await;
    assert_eq!(entra_error(&body, "invalid_request"), 900_144);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("'grant_type'")
    );

    let mut resource_on_v2 = cc(GRAPH);
    resource_on_v2.push(("resource", "https://graph.microsoft.com".into()));
    let (_, body) = send(url.clone(), resource_on_v2).await;
    assert_eq!(entra_error(&body, "invalid_request"), 901_002);

    let mut odd_grant = cc(GRAPH);
    odd_grant[0].1 = "saml2".into();
    let (_, body) = send(url.clone(), odd_grant).await;
    assert_eq!(entra_error(&body, "unsupported_grant_type"), 70003);

    let (_, body) = send(v2_url(info, "common"), cc(GRAPH)).await;
    assert_eq!(entra_error(&body, "invalid_request"), 50059);

    let (_, body) = send(v2_url(info, "consumers"), cc(GRAPH)).await;
    assert_eq!(entra_error(&body, "invalid_request"), 9_002_332);

    // A public client may not present a secret.
    let cli = info.app("huntbook-cli").unwrap().client_id.clone();
    let mut public_with_secret = cc(GRAPH);
    public_with_secret[1].1 = cli;
    let (_, body) = send(url.clone(), public_with_secret).await;
    assert_eq!(entra_error(&body, "invalid_client"), 700_025);

    let resp = http().get(&url).send().await.unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(entra_error(&body, "invalid_request"), 900_561);
}

struct CertApp {
    client_id: String,
    key_pem: String,
    cert_der: Vec<u8>,
}

fn cert_app(info: &EmulatorInfo) -> CertApp {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let app = info.app("huntbook-cert").expect("cert app");
    let pem = std::fs::read_to_string(app.certificate_path.as_ref().unwrap()).unwrap();
    let start = pem.find("-----BEGIN PRIVATE KEY-----").unwrap();
    let cert = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
    CertApp {
        client_id: app.client_id.clone(),
        key_pem: pem[start..].to_string(),
        cert_der: cert.as_ref().to_vec(),
    }
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn assertion(
    app: &CertApp,
    alg: Algorithm,
    aud: &str,
    tweak: impl FnOnce(&mut Header, &mut Value),
) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut header = Header::new(alg);
    match alg {
        Algorithm::PS256 => header.x5t_s256 = Some(b64url(&sha2::Sha256::digest(&app.cert_der))),
        _ => header.x5t = Some(b64url(&sha1::Sha1::digest(&app.cert_der))),
    }
    let mut claims = json!({
        "aud": aud,
        "iss": app.client_id,
        "sub": app.client_id,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": now,
        "iat": now,
        "exp": now + 300,
    });
    tweak(&mut header, &mut claims);
    let key = EncodingKey::from_rsa_pem(app.key_pem.as_bytes()).expect("RSA key");
    jsonwebtoken::encode(&header, &claims, &key).expect("signed assertion")
}

async fn redeem(
    info: &EmulatorInfo,
    client_id: &str,
    assertion: &str,
    scope: &str,
) -> (StatusCode, Value) {
    post_form(
        &info.token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
            ("scope", scope),
        ],
    )
    .await
}

#[tokio::test]
async fn certificate_assertions_rs256_x5t_and_ps256_x5t_s256_are_accepted() {
    let emu = start_default().await;
    let info = emu.info();
    let app = cert_app(info);
    for alg in [Algorithm::RS256, Algorithm::PS256] {
        let a = assertion(&app, alg, &info.token_url, |_, _| {});
        let (status, body) = redeem(info, &app.client_id, &a, GRAPH).await;
        assert_eq!(status, StatusCode::OK, "{alg:?}: {body}");
        let c = claims(body["access_token"].as_str().unwrap());
        assert_eq!(c["azpacr"], "2", "certificate credential");
        assert!(
            c["roles"]
                .as_array()
                .unwrap()
                .contains(&json!("ThreatHunting.Read.All"))
        );
    }
    // The v1 audience spelling and the real login host are accepted too, as Entra is lenient.
    let v1_aud = format!(
        "https://login.microsoftonline.com/{}/oauth2/token",
        info.tenant_id
    );
    let a = assertion(&app, Algorithm::RS256, &v1_aud, |_, _| {});
    assert_eq!(
        redeem(info, &app.client_id, &a, GRAPH).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bad_certificate_assertions_are_refused_with_their_codes() {
    let emu = start_default().await;
    let info = emu.info();
    let app = cert_app(info);
    let url = info.token_url.clone();

    // Replay: the same assertion twice.
    let a = assertion(&app, Algorithm::RS256, &url, |_, _| {});
    assert_eq!(
        redeem(info, &app.client_id, &a, GRAPH).await.0,
        StatusCode::OK
    );
    let (status, body) = redeem(info, &app.client_id, &a, GRAPH).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(entra_error(&body, "invalid_client"), 50013);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already been used")
    );

    // Signed by a key that is not the registered certificate's.
    let other =
        huntbook::emulator::identity::keys::ClientCertificate::generate("intruder").unwrap();
    let start = other.pem.find("-----BEGIN PRIVATE KEY-----").unwrap();
    let forged = CertApp {
        client_id: app.client_id.clone(),
        key_pem: other.pem[start..].to_string(),
        cert_der: app.cert_der.clone(),
    };
    let a = assertion(&forged, Algorithm::RS256, &url, |_, _| {});
    let (_, body) = redeem(info, &app.client_id, &a, GRAPH).await;
    assert_eq!(entra_error(&body, "invalid_client"), 700_027);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("signature validation")
    );

    // A thumbprint naming a certificate the app does not have.
    let a = assertion(&app, Algorithm::RS256, &url, |h, _| {
        h.x5t = Some(b64url(&[7u8; 20]))
    });
    let (_, body) = redeem(info, &app.client_id, &a, GRAPH).await;
    assert_eq!(entra_error(&body, "invalid_client"), 700_027);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("0707070707")
    );

    // Expired.
    let a = assertion(&app, Algorithm::RS256, &url, |_, c| {
        c["exp"] = json!(chrono::Utc::now().timestamp() - 10);
        c["nbf"] = json!(chrono::Utc::now().timestamp() - 600);
    });
    let (_, body) = redeem(info, &app.client_id, &a, GRAPH).await;
    assert_eq!(entra_error(&body, "invalid_client"), 700_024);

    // Wrong audience.
    let a = assertion(
        &app,
        Algorithm::RS256,
        "https://example.com/token",
        |_, _| {},
    );
    let (_, body) = redeem(info, &app.client_id, &a, GRAPH).await;
    assert_eq!(entra_error(&body, "invalid_client"), 700_212);

    // iss != sub.
    let a = assertion(&app, Algorithm::RS256, &url, |_, c| {
        c["sub"] = json!("someone-else")
    });
    let (_, body) = redeem(info, &app.client_id, &a, GRAPH).await;
    assert_eq!(entra_error(&body, "invalid_client"), 50048);

    // A well-formed assertion from the cert app, sent as another app.
    let (demo_id, _) = demo(info);
    let a = assertion(&app, Algorithm::RS256, &url, |_, _| {});
    let (_, body) = redeem(info, &demo_id, &a, GRAPH).await;
    assert_eq!(entra_error(&body, "invalid_client"), 700_027);

    // Not a JWT.
    let (_, body) = redeem(info, &app.client_id, "not-a-jwt", GRAPH).await;
    assert_eq!(entra_error(&body, "invalid_request"), 50027);

    // A secret sent for the certificate-only app.
    let (_, body) = post_form(
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id),
            ("client_secret", "guess"),
            ("scope", GRAPH),
        ],
    )
    .await;
    assert_eq!(entra_error(&body, "invalid_client"), 7_000_215);
}

fn with_users(users: Vec<UserSpec>) -> EmulatorConfig {
    EmulatorConfig {
        data: Some(TenantData {
            users: Some(users),
            ..TenantData::default()
        }),
        device_code_interval: Duration::ZERO,
        ..EmulatorConfig::default()
    }
}

fn user(name: &str, password: &str) -> UserSpec {
    UserSpec {
        username: name.to_string(),
        password: password.to_string(),
        display_name: None,
        scopes: analyst_scopes(),
        disabled: false,
        mfa_required: false,
    }
}

#[tokio::test]
async fn password_flow_and_refresh_for_another_resource() {
    let emu = start_default().await;
    let info = emu.info();
    let cli = info.app("huntbook-cli").unwrap().client_id.clone();
    let u = &info.users[0];
    let (status, body) = post_form(
        &v2_url(info, "organizations"),
        &[
            ("grant_type", "password"),
            ("client_id", &cli),
            ("username", &u.username),
            ("password", &u.password),
            (
                "scope",
                "https://graph.microsoft.com/ThreatHunting.Read.All openid offline_access",
            ),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["preferred_username"], "analyst@contoso.example");
    assert_eq!(c["idtyp"], "user");
    assert_eq!(c["azpacr"], "0");
    assert!(c.get("roles").is_none());
    let scp = c["scp"].as_str().unwrap();
    assert!(
        scp.split(' ').any(|s| s == "ThreatHunting.Read.All"),
        "{scp}"
    );
    assert!(body["scope"].as_str().unwrap().contains("openid"));
    let id_token = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id_token["aud"], cli);
    let refresh = body["refresh_token"]
        .as_str()
        .expect("offline_access gives a refresh token")
        .to_string();
    // Neither the refresh token nor any secret shows in the state's Debug output.
    let debug = format!("{:?}", emu.state);
    assert!(!debug.contains(&refresh));
    assert!(!debug.contains(&u.password));
    assert!(!debug.contains(demo(info).1.as_str()));

    // Redeem the refresh token for Defender for Endpoint.
    let (status, body) = post_form(
        &info.token_url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &cli),
            ("refresh_token", &refresh),
            ("scope", "https://api.securitycenter.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://api.securitycenter.microsoft.com");
    assert!(c["scp"].as_str().unwrap().contains("Machine.Isolate"));
    assert!(
        body["refresh_token"].is_string(),
        "refresh tokens are rotated"
    );

    // A scope the user never consented to.
    let (_, body) = post_form(
        &info.token_url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &cli),
            ("refresh_token", &refresh),
            (
                "scope",
                "https://api.securitycenter.microsoft.com/Machine.Offboard",
            ),
        ],
    )
    .await;
    assert_eq!(entra_error(&body, "invalid_grant"), 65001);
    assert_eq!(body["suberror"], "consent_required");

    // Revocation kills refresh tokens too.
    emu.revoke_tokens();
    let (_, body) = post_form(
        &info.token_url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &cli),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_eq!(entra_error(&body, "invalid_grant"), 50173);

    let (_, body) = post_form(
        &info.token_url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &cli),
            ("refresh_token", "0.Agarbage"),
        ],
    )
    .await;
    assert_eq!(entra_error(&body, "invalid_grant"), 9_002_313);

    // No offline_access, no refresh token.
    let (_, body) = post_form(
        &info.token_url,
        &[
            ("grant_type", "password"),
            ("client_id", &cli),
            ("username", &u.username),
            ("password", &u.password),
            ("scope", DEFENDER),
        ],
    )
    .await;
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(
        claims(body["access_token"].as_str().unwrap())["scp"]
            .as_str()
            .unwrap()
            .contains("AdvancedHunting.Read")
    );
}

#[tokio::test]
async fn password_flow_errors() {
    let mut disabled = user("disabled@contoso.example", "pw-1");
    disabled.disabled = true;
    let mut mfa = user("mfa@contoso.example", "pw-2");
    mfa.mfa_required = true;
    let emu = start(with_users(vec![
        user("ok@contoso.example", "pw-0"),
        disabled,
        mfa,
    ]))
    .await;
    let info = emu.info();
    let cli = info.app("huntbook-cli").unwrap().client_id.clone();
    let ropc = |tenant: &str, name: &str, pw: &str| {
        let url = v2_url(info, tenant);
        let form = vec![
            ("grant_type", "password".to_string()),
            ("client_id", cli.clone()),
            ("username", name.to_string()),
            ("password", pw.to_string()),
            ("scope", GRAPH.to_string()),
        ];
        async move {
            let resp = http().post(url).form(&form).send().await.unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }
    };
    let t = info.tenant_id.clone();
    assert_eq!(
        ropc(&t, "ok@contoso.example", "pw-0").await.0,
        StatusCode::OK
    );
    assert_eq!(
        entra_error(
            &ropc(&t, "nobody@contoso.example", "x").await.1,
            "invalid_grant"
        ),
        50034
    );
    assert_eq!(
        entra_error(
            &ropc(&t, "ok@contoso.example", "wrong").await.1,
            "invalid_grant"
        ),
        50126
    );
    assert_eq!(
        entra_error(
            &ropc(&t, "disabled@contoso.example", "pw-1").await.1,
            "invalid_grant"
        ),
        50057
    );
    let (_, body) = ropc(&t, "mfa@contoso.example", "pw-2").await;
    assert_eq!(entra_error(&body, "invalid_grant"), 50076);
    assert_eq!(
        entra_error(
            &ropc("common", "ok@contoso.example", "pw-0").await.1,
            "invalid_request"
        ),
        9_001_023
    );
}

async fn start_device(info: &EmulatorInfo, scope: &str) -> Value {
    let cli = info.app("huntbook-cli").unwrap().client_id.clone();
    let (status, body) = post_form(
        &format!("{}/organizations/oauth2/v2.0/devicecode", info.login_url),
        &[("client_id", &cli), ("scope", scope)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn poll(info: &EmulatorInfo, device_code: &str) -> (StatusCode, Value) {
    let cli = info.app("huntbook-cli").unwrap().client_id.clone();
    post_form(
        &v2_url(info, "organizations"),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", &cli),
            ("device_code", device_code),
        ],
    )
    .await
}

#[tokio::test]
async fn device_code_is_pending_until_approved_over_http() {
    let emu = start(EmulatorConfig {
        device_code_auto_approve: None,
        device_code_interval: Duration::ZERO,
        ..EmulatorConfig::default()
    })
    .await;
    let info = emu.info();
    let dc = start_device(
        info,
        "https://api.security.microsoft.com/Incident.ReadWrite offline_access",
    )
    .await;
    for field in ["user_code", "device_code", "verification_uri", "message"] {
        assert!(dc[field].is_string(), "{field}");
    }
    assert_eq!(dc["expires_in"], 900);
    assert_eq!(dc["interval"], 0);
    let user_code = dc["user_code"].as_str().unwrap();
    assert!(dc["message"].as_str().unwrap().contains(user_code));
    let device_code = dc["device_code"].as_str().unwrap();
    let (status, body) = poll(info, device_code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(entra_error(&body, "authorization_pending"), 70016);

    // The verification page exists and lists the code.
    let page = http()
        .get(dc["verification_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(user_code));

    let resp = http()
        .post(format!(
            "{}/_emulator/identity/device/approve",
            info.login_url
        ))
        .json(&json!({"user_code": user_code.to_lowercase()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, body) = poll(info, device_code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://api.security.microsoft.com");
    assert!(c["scp"].as_str().unwrap().contains("Incident.ReadWrite"));
    assert!(body["refresh_token"].is_string());
    // A device code is good for one redemption.
    assert_eq!(
        entra_error(&poll(info, device_code).await.1, "invalid_grant"),
        70000
    );
    // Approving it again is a conflict.
    let resp = http()
        .post(format!(
            "{}/_emulator/identity/device/approve",
            info.login_url
        ))
        .json(&json!({"user_code": user_code}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn device_code_auto_approval_decline_expiry_and_slow_down() {
    let emu = start(EmulatorConfig {
        device_code_auto_approve: Some(1),
        device_code_interval: Duration::from_secs(1),
        device_code_lifetime: Duration::from_secs(2),
        ..EmulatorConfig::default()
    })
    .await;
    let info = emu.info();

    // Polling again at once is too fast: `slow_down`, and the code enforces 5 s more.
    let dc = start_device(info, "openid profile offline_access").await;
    let code = dc["device_code"].as_str().unwrap();
    assert_eq!(
        entra_error(&poll(info, code).await.1, "authorization_pending"),
        70016
    );
    let (_, body) = poll(info, code).await;
    assert_eq!(entra_error(&body, "slow_down"), 70016);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("wait at least 6 seconds")
    );
    // Past `expires_in`.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        entra_error(&poll(info, code).await.1, "expired_token"),
        70019
    );

    // Declined through the handle.
    let dc3 = start_device(info, "openid").await;
    emu.decline_device_code(dc3["user_code"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        entra_error(
            &poll(info, dc3["device_code"].as_str().unwrap()).await.1,
            "authorization_declined"
        ),
        70000
    );

    // Auto-approved: the second poll (a second later) gets a Graph token and an ID token.
    let dc4 = start_device(info, "openid profile offline_access").await;
    let code4 = dc4["device_code"].as_str().unwrap();
    assert_eq!(poll(info, code4).await.1["error"], "authorization_pending");
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let (status, body) = poll(info, code4).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["aud"],
        "https://graph.microsoft.com"
    );
    assert!(body["id_token"].is_string() && body["refresh_token"].is_string());

    assert_eq!(
        entra_error(&poll(info, "no-such-code").await.1, "bad_verification_code"),
        70018
    );
}

#[tokio::test]
async fn v1_device_code_uses_the_old_spellings() {
    let emu = start_default().await;
    let info = emu.info();
    let cli = info.app("huntbook-cli").unwrap().client_id.clone();
    let (status, body) = post_form(
        &format!("{}/{}/oauth2/devicecode", info.login_url, info.tenant_id),
        &[
            ("client_id", &cli),
            ("resource", "https://api.securitycenter.microsoft.com"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["verification_url"].is_string());
    assert!(body.get("verification_uri").is_none());
    assert_eq!(body["expires_in"], "900");
    assert_eq!(body["interval"], "5");
}

#[tokio::test]
async fn discovery_documents_and_jwks_validate_issued_tokens() {
    let emu = start_default().await;
    let info = emu.info();
    let base = &info.login_url;
    let doc: Value = http()
        .get(format!(
            "{base}/{}/v2.0/.well-known/openid-configuration",
            info.tenant_id
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["token_endpoint"], info.token_url);
    assert!(
        doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    let token = app_token(info, GRAPH).await;
    let c = claims(&token);
    assert_eq!(doc["issuer"], c["iss"]);

    // Validate the token with the published key, as a client library would.
    let jwks: Value = http()
        .get(doc["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kid"], header_of(&token)["kid"]);
    assert_eq!(key["kty"], "RSA");
    assert!(key["x5c"][0].is_string());
    let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
        key["n"].as_str().unwrap(),
        key["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
    validation.set_audience(&["https://graph.microsoft.com"]);
    validation.set_issuer(&[doc["issuer"].as_str().unwrap()]);
    let decoded = jsonwebtoken::decode::<Value>(&token, &decoding, &validation)
        .expect("token verifies with the JWKS");
    assert_eq!(decoded.claims["tid"], info.tenant_id);

    // Multi-tenant documents carry the `{tenantid}` placeholder in the issuer.
    let common: Value = http()
        .get(format!(
            "{base}/common/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(common["issuer"], format!("{base}/{{tenantid}}/v2.0"));
    assert_eq!(
        common["device_authorization_endpoint"],
        format!("{base}/common/oauth2/v2.0/devicecode")
    );
    let v1: Value = http()
        .get(format!(
            "{base}/{}/.well-known/openid-configuration",
            info.tenant_id
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v1["issuer"],
        format!("https://sts.windows.net/{}/", info.tenant_id)
    );

    let resp = http()
        .get(format!(
            "{base}/fabrikam.example/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(entra_error(&body, "invalid_tenant"), 90002);

    let inst: Value = http()
        .get(format!(
            "{base}/common/discovery/instance?api-version=1.1&authorization_endpoint=x"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        inst["tenant_discovery_endpoint"]
            .as_str()
            .unwrap()
            .starts_with(base.as_str())
    );
}

#[tokio::test]
async fn data_file_registrations_replace_the_defaults() {
    let apps = serde_json::from_value(json!([{
        "name": "soc-bot",
        "client_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "client_secret": "s3cret~value",
        "roles": {"endpoint": ["Machine.Read.All"]}
    }]))
    .unwrap();
    let emu = start(EmulatorConfig {
        data: Some(TenantData {
            apps: Some(apps),
            ..TenantData::default()
        }),
        ..EmulatorConfig::default()
    })
    .await;
    let info = emu.info();
    assert_eq!(info.apps.len(), 1);
    let (status, body) = post_form(
        &info.token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"),
            ("client_secret", "s3cret~value"),
            ("scope", GRAPH),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // No roles on Graph: Entra issues the token without a `roles` claim.
    assert!(
        claims(body["access_token"].as_str().unwrap())
            .get("roles")
            .is_none()
    );

    let bad =
        serde_json::from_value(json!([{"name": "x", "client_id": "nope", "client_secret": "s"}]))
            .unwrap();
    let err = Emulator::start(EmulatorConfig {
        data: Some(TenantData {
            apps: Some(bad),
            ..TenantData::default()
        }),
        ..EmulatorConfig::default()
    })
    .await
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        err.contains("apps[0]") && err.contains("not a GUID"),
        "{err}"
    );
}
