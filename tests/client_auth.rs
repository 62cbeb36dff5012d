//! Token acquisition against mock identity platforms that answer in Entra's wire shapes:
//! client secret, certificate assertion, device code (with `slow_down`) and its refresh-token
//! cache, password, errors with AADSTS codes, and what never leaks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use huntbook::api::RetryPolicy;
use huntbook::auth::{
    Audience, AuthConfig, AuthContext, AuthError, AuthSettings, ClientCertificate, Credential,
    DeviceCodeError, DeviceCodeLogin, DeviceCodePrompt, Endpoints, EnvVars, PollTiming, TokenCache,
    TokenStore, TokenStoreOptions,
};
use huntbook::exit::ExitStatus;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const TENANT: &str = "contoso.example";
const CLIENT: &str = "11111111-2222-3333-4444-555555555555";
const SECRET: &str = "Sup3r~Secret~Value~0123456789";
const TOKEN_PATH: &str = "/contoso.example/oauth2/v2.0/token";
const DEVICE_PATH: &str = "/contoso.example/oauth2/v2.0/devicecode";

fn jwt(claims: &Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let p = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{h}.{p}.c2lnbmF0dXJl")
}

fn app_token(aud: &str, roles: &[&str]) -> String {
    jwt(
        &json!({"aud": aud, "tid": "tid-1", "appid": CLIENT, "oid": "sp-oid", "roles": roles,
                "exp": chrono::Utc::now().timestamp() + 3600, "ver": "1.0"}),
    )
}

fn token_body(token: &str) -> Value {
    json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})
}

fn form(req: &Request) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(&req.body)
        .into_owned()
        .collect()
}

fn store(server: &MockServer, credential: Credential) -> TokenStore {
    let config = AuthConfig {
        tenant_id: TENANT.into(),
        client_id: CLIENT.into(),
        credential,
        endpoints: Endpoints::all_on(&server.uri()).unwrap(),
    };
    let options = TokenStoreOptions {
        retry: RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::fast()
        },
        ..TokenStoreOptions::default()
    };
    TokenStore::with_options(reqwest::Client::new(), config, options)
}

fn entra_error(error: &str, code: u32, text: &str) -> ResponseTemplate {
    ResponseTemplate::new(if error == "invalid_client" { 401 } else { 400 }).set_body_json(json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {text}\r\nTrace ID: 0000aaaa-11bb-cccc-dd33-eeeeee333333\r\nCorrelation ID: aaaa0000-bb11-2222-33cc-444444dddddd\r\nTimestamp: 2026-01-09 02:02:12Z"),
        "error_codes": [code],
        "timestamp": "2026-01-09 02:02:12Z",
        "trace_id": "0000aaaa-11bb-cccc-dd33-eeeeee333333",
        "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
    }))
}

#[tokio::test]
async fn client_secret_token_is_fetched_once_per_audience_and_reused() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fapi.security.microsoft.com%2F.default",
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(token_body(&app_token(
                "https://api.security.microsoft.com",
                &["Incident.Read.All", "AdvancedHunting.Read.All"],
            ))),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        ))
        // v1-style string number: must be accepted.
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "token_type": "Bearer", "expires_in": "3599",
            "access_token": app_token("https://graph.microsoft.com", &["ThreatHunting.Read.All"])
        })))
        .expect(1)
        .mount(&server)
        .await;

    let tokens = store(&server, Credential::ClientSecret(SECRET.into()));
    assert_eq!(tokens.context(), AuthContext::Application);
    let a = tokens.token(Audience::Defender).await.unwrap();
    let b = tokens.token(Audience::Defender).await.unwrap();
    assert_eq!(a.generation, b.generation, "the held token is reused");
    assert_eq!(
        a.info.permissions(),
        vec!["AdvancedHunting.Read.All", "Incident.Read.All"]
    );
    assert_eq!(a.info.principal(), Some(CLIENT));
    let g = tokens.token(Audience::Graph).await.unwrap();
    assert_ne!(g.generation, a.generation);
    assert_eq!(g.lifetime(), Duration::from_secs(3599));
    assert_eq!(tokens.token_requests(), 2);

    let reqs = server.received_requests().await.unwrap();
    let f = form(&reqs[0]);
    assert_eq!(f["grant_type"], "client_credentials");
    assert_eq!(f["client_id"], CLIENT);
    assert_eq!(f["client_secret"], SECRET);
    assert_eq!(
        reqs[0]
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-www-form-urlencoded")
    );
}

#[tokio::test]
async fn concurrent_steps_share_one_token_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(token_body(&app_token("https://graph.microsoft.com", &[])))
                .set_delay(Duration::from_millis(100)),
        )
        .expect(1)
        .mount(&server)
        .await;
    let tokens = Arc::new(store(&server, Credential::ClientSecret(SECRET.into())));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let t = tokens.clone();
            tokio::spawn(async move { t.token(Audience::Graph).await.map(|t| t.generation) })
        })
        .collect();
    let mut gens = Vec::new();
    for t in tasks {
        gens.push(t.await.unwrap().unwrap());
    }
    gens.dedup();
    assert_eq!(gens.len(), 1, "one token for all: {gens:?}");
}

#[tokio::test]
async fn invalidate_forgets_only_the_token_that_failed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("opaque-token")))
        .expect(2)
        .mount(&server)
        .await;
    let tokens = store(&server, Credential::ClientSecret(SECRET.into()));
    let first = tokens.token(Audience::Endpoint).await.unwrap();
    tokens
        .invalidate(Audience::Endpoint, first.generation)
        .await;
    let second = tokens.token(Audience::Endpoint).await.unwrap();
    assert_ne!(first.generation, second.generation);
    // A late 401 from the old token must not throw away the new one.
    tokens
        .invalidate(Audience::Endpoint, first.generation)
        .await;
    let third = tokens.token(Audience::Endpoint).await.unwrap();
    assert_eq!(third.generation, second.generation);
}

#[tokio::test]
async fn bad_secret_is_explained_and_never_echoed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(entra_error(
            "invalid_client",
            7_000_215,
            &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID. Got '{SECRET}'."),
        ))
        .mount(&server)
        .await;
    let tokens = store(&server, Credential::ClientSecret(SECRET.into()));
    let err = tokens.token(Audience::Graph).await.err().unwrap();
    let shown = format!("{err}\n{err:?}");
    assert!(
        matches!(err, AuthError::Entra(ref e) if e.aadsts() == Some(7_000_215)),
        "{shown}"
    );
    assert!(shown.contains("AADSTS7000215"), "{shown}");
    assert!(shown.contains("check AZURE_CLIENT_SECRET"), "{shown}");
    assert!(shown.contains("trace id: 0000aaaa"), "{shown}");
    assert!(!shown.contains(SECRET), "the secret leaked: {shown}");
    assert_eq!(err.exit_status(), ExitStatus::AuthFailed);
    assert!(!format!("{tokens:?}").contains(SECRET));
}

#[tokio::test]
async fn unknown_tenant_and_missing_consent_get_their_own_hints() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(body_string_contains("graph.microsoft.com"))
        .respond_with(entra_error(
            "invalid_request",
            90_002,
            "Tenant 'contoso.example' not found.",
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string_contains("api.security.microsoft.com"))
        .respond_with(entra_error(
            "invalid_resource",
            500_011,
            "The resource principal named https://api.security.microsoft.com was not found in the tenant.",
        ))
        .mount(&server)
        .await;
    let tokens = store(&server, Credential::ClientSecret(SECRET.into()));
    let e = tokens
        .token(Audience::Graph)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--cloud gcc_high"), "{e}");
    let e = tokens
        .token(Audience::Defender)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("grant admin consent"), "{e}");
}

#[tokio::test]
async fn transient_token_endpoint_errors_are_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_string("<html>busy</html>"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(entra_error(
            "temporarily_unavailable",
            90_055,
            "Tenant throttled.",
        ))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("tok")))
        .with_priority(3)
        .mount(&server)
        .await;
    let tokens = store(&server, Credential::ClientSecret(SECRET.into()));
    let t = tokens.token(Audience::Graph).await.unwrap();
    assert_eq!(t.secret().expose_secret(), "tok");
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

fn test_certificate() -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["huntbook.test".into()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "huntbook-it");
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn certificate_assertion_claims_verify_against_the_certificate() {
    use rustls_pki_types::pem::PemObject as _;
    let (cert_pem, key_pem) = test_certificate();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("huntbook.pem");
    std::fs::write(&cert_path, format!("{cert_pem}{key_pem}")).unwrap();
    let cert = ClientCertificate::load(&cert_path, None).unwrap();

    let server = MockServer::start().await;
    // The first attempt fails: the retry must carry a new assertion, not replay the old one.
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains("client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_body("tok")))
        .expect(2)
        .mount(&server)
        .await;
    let tokens = store(&server, Credential::Certificate(cert.clone()));
    tokens.token(Audience::Graph).await.unwrap();
    tokens.token(Audience::Defender).await.unwrap();

    let der = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
    let key =
        jsonwebtoken::DecodingKey::from_rsa_der(x509.public_key().subject_public_key.data.as_ref());
    let token_url = format!("{}{TOKEN_PATH}", server.uri());
    let mut jtis = Vec::new();
    for req in server.received_requests().await.unwrap() {
        let f = form(&req);
        assert!(!f.contains_key("client_secret"));
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&[&token_url]);
        v.set_issuer(&[CLIENT]);
        let data = jsonwebtoken::decode::<Value>(&f["client_assertion"], &key, &v).unwrap();
        assert_eq!(data.header.x5t.as_deref(), Some(cert.x5t().as_str()));
        assert_eq!(data.claims["sub"], CLIENT);
        let (nbf, exp) = (
            data.claims["nbf"].as_i64().unwrap(),
            data.claims["exp"].as_i64().unwrap(),
        );
        assert!(exp > nbf && exp - nbf <= 600, "short-lived assertion");
        jtis.push(data.claims["jti"].as_str().unwrap().to_string());
    }
    assert_eq!(jtis.len(), 3);
    jtis.sort();
    jtis.dedup();
    assert_eq!(
        jtis.len(),
        3,
        "a fresh assertion per token request, retries included"
    );
}

fn device_code_body(interval: u64) -> Value {
    json!({
        "user_code": "FJ8SYBCZP",
        "device_code": "GMMhmHCXhWEzkobqIHGG_EnNYYsAkukHspeYUk9E8-device-code",
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": 900,
        "interval": interval,
        "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code FJ8SYBCZP to authenticate."
    })
}

fn user_token(aud: &str) -> String {
    jwt(
        &json!({"aud": aud, "tid": "tid-1", "azp": CLIENT, "oid": "user-oid",
                "upn": "ana@contoso.example", "scp": "ThreatHunting.Read.All SecurityIncident.Read.All"}),
    )
}

fn user_grant(aud: &str, refresh: &str) -> ResponseTemplate {
    let id_token = jwt(
        &json!({"preferred_username": "ana@contoso.example", "name": "Ana Analyst", "oid": "user-oid", "tid": "tid-1"}),
    );
    ResponseTemplate::new(200).set_body_json(json!({
        "token_type": "Bearer", "scope": "ThreatHunting.Read.All", "expires_in": 3599,
        "access_token": user_token(aud), "refresh_token": refresh, "id_token": id_token
    }))
}

fn fast_polling() -> PollTiming {
    PollTiming {
        interval_override: Some(Duration::from_millis(5)),
        slow_down_step: Duration::from_millis(5),
        ..PollTiming::default()
    }
}

#[tokio::test]
async fn device_code_sign_in_polls_through_slow_down_and_caches_the_refresh_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(DEVICE_PATH))
        .and(body_string_contains("offline_access"))
        .respond_with(ResponseTemplate::new(200).set_body_json(device_code_body(5)))
        .expect(1)
        .mount(&server)
        .await;
    for (i, err) in [
        (1, "authorization_pending"),
        (2, "slow_down"),
        (3, "authorization_pending"),
    ] {
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .and(body_string_contains("device_code"))
            .respond_with(if err == "slow_down" {
                ResponseTemplate::new(400).set_body_json(json!({"error": "slow_down"}))
            } else {
                entra_error(
                    err,
                    70_016,
                    "OAuth 2.0 device flow error. Authorization is pending.",
                )
            })
            .up_to_n_times(1)
            .with_priority(i)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains("device_code"))
        .respond_with(user_grant(
            "https://graph.microsoft.com",
            "refresh-token-one-0123456789",
        ))
        .with_priority(4)
        .mount(&server)
        .await;

    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::new(dir.path().join("hb").join("token-cache.json"));
    let seen: Arc<Mutex<Vec<DeviceCodePrompt>>> = Arc::default();
    let sink = seen.clone();
    let tokens = store(
        &server,
        Credential::DeviceCode(DeviceCodeLogin {
            cache: Some(cache.clone()),
            prompt: Some(Arc::new(move |p: &DeviceCodePrompt| {
                sink.lock().unwrap().push(p.clone())
            })),
            timing: fast_polling(),
        }),
    );
    assert_eq!(tokens.context(), AuthContext::User);
    let tok = tokens.token(Audience::Graph).await.unwrap();
    assert_eq!(tok.info.principal(), Some("ana@contoso.example"));
    assert_eq!(
        tok.info.scopes,
        vec!["ThreatHunting.Read.All", "SecurityIncident.Read.All"]
    );
    let prompts = seen.lock().unwrap().clone();
    assert_eq!(prompts.len(), 1);
    assert_eq!(prompts[0].user_code, "FJ8SYBCZP");
    assert_eq!(
        prompts[0].verification_uri,
        "https://microsoft.com/devicelogin"
    );
    let polls = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == TOKEN_PATH)
        .count();
    assert_eq!(polls, 4, "pending, slow_down, pending, success");

    // The cache: 0600, the refresh token and account, no access token.
    let raw = std::fs::read_to_string(cache.path()).unwrap();
    assert!(raw.contains("refresh-token-one-0123456789"));
    assert!(raw.contains("Ana Analyst"));
    assert!(
        !raw.contains(tok.secret().expose_secret()),
        "access tokens are not cached"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(cache.path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let summary = cache.summaries().unwrap();
    assert_eq!(
        summary[0].account.username.as_deref(),
        Some("ana@contoso.example")
    );
    assert_eq!(summary[0].tenant_id, TENANT);
}

#[tokio::test]
async fn a_later_run_redeems_the_cached_refresh_token_for_each_audience() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::new(dir.path().join("token-cache.json"));
    cache
        .store(&huntbook::auth::CacheEntry {
            authority: server.uri(),
            tenant_id: TENANT.into(),
            client_id: CLIENT.into(),
            account: huntbook::auth::Account::default(),
            refresh_token: SecretString::from("cached-refresh-token-abcdef"),
            written_at: chrono::Utc::now(),
        })
        .unwrap();
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains(
            "refresh_token=cached-refresh-token-abcdef",
        ))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fapi.security.microsoft.com%2F.default",
        ))
        .respond_with(user_grant(
            "https://api.security.microsoft.com",
            "rotated-refresh-token-123456",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains(
            "refresh_token=rotated-refresh-token-123456",
        ))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        ))
        .respond_with(user_grant(
            "https://graph.microsoft.com",
            "rotated-again-refresh-token-7",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(DEVICE_PATH))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    // No prompt: a cron run. It must work from the cache alone.
    let tokens = store(
        &server,
        Credential::DeviceCode(DeviceCodeLogin {
            cache: Some(cache.clone()),
            prompt: None,
            timing: fast_polling(),
        }),
    );
    tokens.token(Audience::Defender).await.unwrap();
    tokens.token(Audience::Graph).await.unwrap();
    assert_eq!(
        tokens.account().await.and_then(|a| a.name).as_deref(),
        Some("Ana Analyst")
    );
    let raw = std::fs::read_to_string(cache.path()).unwrap();
    assert!(
        raw.contains("rotated-again-refresh-token-7"),
        "the newest refresh token is kept"
    );
}

#[tokio::test]
async fn without_a_cached_sign_in_cron_runs_are_told_to_log_in() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("none.json");
    let tokens = store(
        &server,
        Credential::DeviceCode(DeviceCodeLogin {
            cache: Some(TokenCache::new(&cache_path)),
            prompt: None,
            timing: fast_polling(),
        }),
    );
    let err = tokens.token(Audience::Graph).await.err().unwrap();
    assert!(matches!(err, AuthError::LoginRequired { .. }));
    assert!(err.to_string().contains("huntbook auth login"));
    assert_eq!(err.exit_status(), ExitStatus::AuthFailed);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn declined_and_expired_device_codes_end_the_sign_in() {
    for (error, expected) in [
        ("authorization_declined", DeviceCodeError::Declined),
        ("expired_token", DeviceCodeError::Expired),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(DEVICE_PATH))
            .respond_with(ResponseTemplate::new(200).set_body_json(device_code_body(1)))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": error, "error_description": "AADSTS70019: Verification code expired."})))
            .expect(1)
            .mount(&server)
            .await;
        let tokens = store(
            &server,
            Credential::DeviceCode(DeviceCodeLogin {
                cache: None,
                prompt: Some(Arc::new(|_: &DeviceCodePrompt| {})),
                timing: fast_polling(),
            }),
        );
        let err = tokens.token(Audience::Graph).await.err().unwrap();
        assert!(
            matches!(&err, AuthError::DeviceCode(e) if *e == expected),
            "{err:?}"
        );
        assert_eq!(err.exit_status(), ExitStatus::AuthFailed);
    }
}

#[tokio::test]
async fn password_flow_sends_credentials_and_explains_mfa() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains("grant_type=password"))
        .and(body_string_contains("username=ana%40contoso.example"))
        .respond_with(entra_error(
            "invalid_grant",
            50_076,
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let password = "Pa55word!-not-to-be-shown";
    let tokens = store(
        &server,
        Credential::Password {
            username: "ana@contoso.example".into(),
            password: password.into(),
        },
    );
    let err = tokens.token(Audience::Graph).await.err().unwrap();
    let shown = format!("{err} {err:?} {tokens:?}");
    assert!(shown.contains("device code"), "{shown}");
    assert!(!shown.contains(password), "{shown}");
    let reqs = server.received_requests().await.unwrap();
    let f = form(&reqs[0]);
    assert_eq!(f["password"], password);
    assert!(f["scope"].contains("offline_access"));
}

#[tokio::test]
async fn settings_refuse_plain_http_to_a_remote_login_host() {
    let env: EnvVars = [
        ("HUNTBOOK_LOGIN_URL", "http://login.attacker.example"),
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT),
        ("AZURE_CLIENT_SECRET", SECRET),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
    .collect();
    let err = AuthSettings::default().resolve(&env, None).err().unwrap();
    let msg = err.to_string();
    assert!(msg.contains("plain http"), "{msg}");
    assert!(!msg.contains(SECRET));
    assert_eq!(err.exit_status(), ExitStatus::Invalid);
}

/// Run the real binary with only the given environment (no proxies, no AZURE_* leaking in).
async fn huntbook(args: Vec<String>, env: Vec<(String, String)>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_huntbook"))
            .args(&args)
            .env_clear()
            .envs(env)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn auth_login_status_logout_round_trip() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(DEVICE_PATH))
        .and(body_string_contains(
            "scope=https%3A%2F%2Fapi.security.microsoft.com%2F.default",
        ))
        .and(body_string_contains(format!("client_id={CLIENT}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(device_code_body(0)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains("grant-type%3Adevice_code"))
        .respond_with(user_grant(
            "https://api.security.microsoft.com",
            "cli-refresh-token-0123456789",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache.json").display().to_string();
    let env = vec![("HUNTBOOK_LOGIN_URL".to_string(), server.uri())];
    let args = |action: &str| -> Vec<String> {
        let mut v: Vec<String> = [
            "auth",
            action,
            "--tenant-id",
            TENANT,
            "--client-id",
            CLIENT,
            "--token-cache",
            &cache,
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
        if action == "login" {
            v.extend(["--api".to_string(), "defender".to_string()]);
        }
        v
    };

    let (code, stdout, stderr) = huntbook(args("status"), env.clone()).await;
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert!(stdout.contains("Not signed in"), "{stdout}");

    let (code, _stdout, stderr) = huntbook(args("login"), env.clone()).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("enter the code FJ8SYBCZP"), "{stderr}");
    assert!(
        stderr.contains("Signed in as ana@contoso.example"),
        "{stderr}"
    );

    let (code, stdout, stderr) = huntbook(args("status"), env.clone()).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("Signed in as ana@contoso.example (Ana Analyst)"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("client:    {CLIENT}")), "{stdout}");
    assert!(!stdout.contains("cli-refresh-token") && !stderr.contains("cli-refresh-token"));

    let (code, _, stderr) = huntbook(args("logout"), env.clone()).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Removed 1 cached sign-in"), "{stderr}");
    assert!(!std::path::Path::new(&cache).exists());
    let (code, _, _) = huntbook(args("status"), env).await;
    assert_eq!(code, 4);
}

#[tokio::test]
async fn auth_login_needs_tenant_and_client() {
    let (code, _, stderr) = huntbook(vec!["auth".into(), "login".into()], vec![]).await;
    assert_eq!(code, 2);
    assert!(stderr.contains("AZURE_TENANT_ID"), "{stderr}");
    let (code, _, stderr) = huntbook(
        [
            "auth",
            "login",
            "--tenant-id",
            "t",
            "--client-id",
            "c",
            "--token-cache",
            "/nonexistent/x.json",
        ]
        .iter()
        .map(|s| (*s).to_string())
        .collect(),
        vec![(
            "HUNTBOOK_LOGIN_URL".into(),
            "http://login.example.com".into(),
        )],
    )
    .await;
    assert_eq!(code, 2);
    assert!(stderr.contains("plain http"), "{stderr}");
}

#[tokio::test]
async fn an_unwritable_cache_does_not_fail_a_run_that_has_its_token() {
    let server = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cache = TokenCache::new(dir.path().join("token-cache.json"));
    cache
        .store(&huntbook::auth::CacheEntry {
            authority: server.uri(),
            tenant_id: TENANT.into(),
            client_id: CLIENT.into(),
            account: huntbook::auth::Account::default(),
            refresh_token: SecretString::from("cached-refresh-token-abcdef"),
            written_at: chrono::Utc::now(),
        })
        .unwrap();
    // The lock file cannot be opened (a folder is in its way), so the rotated token cannot be
    // saved — even when running as root.
    let lock = dir.path().join("token-cache.json.lock");
    std::fs::remove_file(&lock).unwrap();
    std::fs::create_dir(&lock).unwrap();
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .and(body_string_contains("grant_type=refresh_token"))
        .respond_with(user_grant(
            "https://graph.microsoft.com",
            "rotated-refresh-token-123456",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let tokens = store(
        &server,
        Credential::DeviceCode(DeviceCodeLogin {
            cache: Some(cache.clone()),
            prompt: None,
            timing: fast_polling(),
        }),
    );
    let tok = tokens.token(Audience::Graph).await.unwrap();
    assert_eq!(tok.info.principal(), Some("ana@contoso.example"));
    let raw = std::fs::read_to_string(cache.path()).unwrap();
    assert!(
        raw.contains("cached-refresh-token-abcdef"),
        "the old entry is untouched"
    );
}

// ---------------------------------------------------------------------------------------------
// Against the emulator's identity platform.

mod emulator {
    use super::*;
    use huntbook::emulator::directory::{CERT_APP, DEFAULT_USER, DEMO_APP, PUBLIC_APP};
    use huntbook::emulator::{Emulator, EmulatorConfig, EmulatorHandle};

    async fn start(config: EmulatorConfig) -> Arc<EmulatorHandle> {
        Arc::new(
            Emulator::start(EmulatorConfig {
                limits: "relaxed".parse().unwrap(),
                ..config
            })
            .await
            .unwrap(),
        )
    }

    fn store_on(emu: &EmulatorHandle, client_id: &str, credential: Credential) -> TokenStore {
        let config = AuthConfig {
            tenant_id: emu.info().tenant_id.clone(),
            client_id: client_id.to_string(),
            credential,
            endpoints: Endpoints::all_on(&emu.urls.base).unwrap(),
        };
        TokenStore::new(reqwest::Client::new(), config)
    }

    #[tokio::test]
    async fn secret_and_certificate_apps_get_tokens_with_their_roles() {
        let emu = start(EmulatorConfig::default()).await;
        let demo = emu.info().app(DEMO_APP).unwrap().clone();
        let tokens = store_on(
            &emu,
            &demo.client_id,
            Credential::ClientSecret(demo.client_secret.clone().unwrap().into()),
        );
        for aud in Audience::ALL {
            let t = tokens.token(aud).await.unwrap();
            assert_eq!(t.info.app_id.as_deref(), Some(demo.client_id.as_str()));
            assert!(!t.info.roles.is_empty(), "{aud}: {:?}", t.info);
        }
        let defender = tokens.token(Audience::Defender).await.unwrap();
        assert!(
            defender.info.has_any(&["AdvancedHunting.Read.All"]),
            "{:?}",
            defender.info
        );

        let cert_app = emu.info().app(CERT_APP).unwrap().clone();
        let cert =
            ClientCertificate::load(cert_app.certificate_path.as_deref().unwrap(), None).unwrap();
        if let Some(thumb) = &cert_app.certificate_thumbprint {
            assert!(
                thumb.eq_ignore_ascii_case(&cert.thumbprint()),
                "{thumb} vs {}",
                cert.thumbprint()
            );
        }
        for cert in [
            cert.clone(),
            cert.with_algorithm(huntbook::auth::AssertionAlgorithm::Ps256),
        ] {
            let tokens = store_on(&emu, &cert_app.client_id, Credential::Certificate(cert));
            let t = tokens.token(Audience::Endpoint).await.unwrap();
            assert_eq!(t.info.app_id.as_deref(), Some(cert_app.client_id.as_str()));
        }

        let wrong = store_on(
            &emu,
            &demo.client_id,
            Credential::ClientSecret(SECRET.into()),
        );
        let err = wrong.token(Audience::Graph).await.err().unwrap();
        let shown = format!("{err} {err:?}");
        assert!(
            shown.contains("AADSTS7000215") && shown.contains("check AZURE_CLIENT_SECRET"),
            "{shown}"
        );
        assert!(!shown.contains(SECRET));
        assert_eq!(err.exit_status(), ExitStatus::AuthFailed);
    }

    #[tokio::test]
    async fn device_code_sign_in_then_refresh_for_other_apis() {
        let emu = start(EmulatorConfig {
            device_code_interval: Duration::ZERO,
            ..EmulatorConfig::default()
        })
        .await;
        let public = emu.info().app(PUBLIC_APP).unwrap().clone();
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path().join("cache.json"));
        let prompts: Arc<Mutex<Vec<DeviceCodePrompt>>> = Arc::default();
        let sink = prompts.clone();
        let tokens = store_on(
            &emu,
            &public.client_id,
            Credential::DeviceCode(DeviceCodeLogin {
                cache: Some(cache.clone()),
                prompt: Some(Arc::new(move |p: &DeviceCodePrompt| {
                    sink.lock().unwrap().push(p.clone())
                })),
                timing: fast_polling(),
            }),
        );
        let g = tokens.token(Audience::Graph).await.unwrap();
        assert_eq!(g.info.principal(), Some(DEFAULT_USER));
        assert!(!g.info.scopes.is_empty(), "delegated scopes: {:?}", g.info);
        assert_eq!(prompts.lock().unwrap().len(), 1);
        // The other APIs through the refresh token: no second prompt.
        tokens.token(Audience::Defender).await.unwrap();
        tokens.token(Audience::Endpoint).await.unwrap();
        assert_eq!(prompts.lock().unwrap().len(), 1);
        assert_eq!(
            cache.summaries().unwrap()[0].account.username.as_deref(),
            Some(DEFAULT_USER)
        );

        // A later run (no prompt) signs in from the cache alone.
        let later = store_on(
            &emu,
            &public.client_id,
            Credential::DeviceCode(DeviceCodeLogin {
                cache: Some(cache.clone()),
                prompt: None,
                timing: fast_polling(),
            }),
        );
        assert_eq!(
            later.token(Audience::Graph).await.unwrap().info.principal(),
            Some(DEFAULT_USER)
        );

        // Revoked sessions: the cached refresh token is refused and the hint says what to do.
        emu.revoke_tokens();
        let revoked = store_on(
            &emu,
            &public.client_id,
            Credential::DeviceCode(DeviceCodeLogin {
                cache: Some(cache),
                prompt: None,
                timing: fast_polling(),
            }),
        );
        let err = revoked.token(Audience::Graph).await.err().unwrap();
        assert_eq!(err.exit_status(), ExitStatus::AuthFailed);
        assert!(err.to_string().contains("huntbook auth login"), "{err}");
    }

    #[tokio::test]
    async fn declined_sign_ins_end_the_flow() {
        let emu = start(EmulatorConfig {
            device_code_interval: Duration::ZERO,
            device_code_auto_approve: None,
            ..EmulatorConfig::default()
        })
        .await;
        let public = emu.info().app(PUBLIC_APP).unwrap().clone();
        let handle = emu.clone();
        let tokens = store_on(
            &emu,
            &public.client_id,
            Credential::DeviceCode(DeviceCodeLogin {
                cache: None,
                prompt: Some(Arc::new(move |p: &DeviceCodePrompt| {
                    handle.decline_device_code(&p.user_code).unwrap();
                })),
                timing: fast_polling(),
            }),
        );
        let err = tokens.token(Audience::Graph).await.err().unwrap();
        assert!(
            matches!(err, AuthError::DeviceCode(DeviceCodeError::Declined)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn password_flow_signs_in_and_wrong_passwords_are_explained() {
        let emu = start(EmulatorConfig::default()).await;
        let user = emu
            .info()
            .users
            .iter()
            .find(|u| u.username == DEFAULT_USER)
            .unwrap()
            .clone();
        let client_id = user.client_id.clone().unwrap();
        let ok = store_on(
            &emu,
            &client_id,
            Credential::Password {
                username: user.username.clone(),
                password: user.password.clone().into(),
            },
        );
        let t = ok.token(Audience::Defender).await.unwrap();
        assert_eq!(t.info.principal(), Some(DEFAULT_USER));
        let bad = store_on(
            &emu,
            &client_id,
            Credential::Password {
                username: user.username.clone(),
                password: "not-the-password".into(),
            },
        );
        let err = bad.token(Audience::Defender).await.err().unwrap();
        let shown = format!("{err} {err:?}");
        assert!(
            shown.contains("AADSTS50126") && shown.contains("wrong user name or password"),
            "{shown}"
        );
        assert!(!shown.contains("not-the-password"));
        assert!(!shown.contains(&user.password));
    }
}

#[tokio::test]
async fn auth_login_against_the_in_process_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("emu-cache.json").display().to_string();
    let (code, _, stderr) = huntbook(
        ["auth", "login", "--emulator", "--token-cache", &cache]
            .iter()
            .map(|s| (*s).to_string())
            .collect(),
        vec![],
    )
    .await;
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("enter the code"), "{stderr}");
    assert!(
        stderr.contains("Signed in as analyst@contoso.example"),
        "{stderr}"
    );
    let raw = std::fs::read_to_string(&cache).unwrap();
    assert!(raw.contains("analyst@contoso.example"));
    let (code, _, stderr) = huntbook(
        vec!["auth".into(), "status".into(), "--emulator".into()],
        vec![],
    )
    .await;
    assert_eq!(code, 2, "{stderr}");
}
