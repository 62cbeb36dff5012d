//! The API client against mock Defender / Graph services: tokens attached per audience, 401 →
//! renew once, 5xx retries for idempotent calls only, 429 with `Retry-After` and Defender's
//! throttling body, paging by nextLink and `$skip`, streaming, statistics, and what never leaks.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use huntbook::api::{
    ApiError, ApiRequest, Client, ClientOptions, PacingPolicy, Paging, RetryPolicy,
};
use huntbook::auth::{Audience, AuthConfig, Credential, Endpoints, TokenStore};
use huntbook::exit::ExitStatus;
use serde_json::{Value, json};
use wiremock::matchers::{
    bearer_token, body_json, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN_PATH: &str = "/t1/oauth2/v2.0/token";
const SECRET: &str = "client-secret-value-0123456789";

fn jwt(aud: &str, n: u32) -> String {
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let p = URL_SAFE_NO_PAD
        .encode(json!({"aud": aud, "roles": ["Incident.Read.All"], "n": n}).to_string());
    format!("{h}.{p}.sig{n}")
}

/// Mount a token endpoint that hands out `tok-<audience>-<n>` style JWTs, one per request.
async fn mount_tokens(server: &MockServer, aud: &str, scope_host: &str, tokens: &[String]) {
    for (i, t) in tokens.iter().enumerate() {
        Mock::given(method("POST"))
            .and(path(TOKEN_PATH))
            .and(wiremock::matchers::body_string_contains(scope_host))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "token_type": "Bearer", "expires_in": 3599, "access_token": t
            })))
            .up_to_n_times(1)
            .with_priority(u8::try_from(i + 1).unwrap())
            .named(format!("token {aud} #{i}"))
            .mount(server)
            .await;
    }
}

fn client_with(server: &MockServer, options: ClientOptions) -> Client {
    let endpoints = Endpoints::all_on(&server.uri()).unwrap();
    let http = huntbook::api::http_client(&options).unwrap();
    let config = AuthConfig {
        tenant_id: "t1".into(),
        client_id: "c1".into(),
        credential: Credential::ClientSecret(SECRET.into()),
        endpoints,
    };
    let tokens = Arc::new(TokenStore::new(http.clone(), config));
    Client::new(http, tokens, options)
}

fn client(server: &MockServer) -> Client {
    client_with(server, ClientOptions::for_tests())
}

fn defender_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "error": {"code": code, "message": message, "target": "43f4cb08-8fac-4b65-9db1-745c2ae65f3a"}
    }))
}

#[tokio::test]
async fn each_audience_gets_its_own_token() {
    let server = MockServer::start().await;
    let d = jwt("defender", 1);
    let g = jwt("graph", 1);
    mount_tokens(
        &server,
        "defender",
        "api.security.microsoft.com",
        std::slice::from_ref(&d),
    )
    .await;
    mount_tokens(
        &server,
        "graph",
        "graph.microsoft.com",
        std::slice::from_ref(&g),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/api/incidents/924565"))
        .and(bearer_token(d.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"incidentId": 924565})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/security/incidents/2972395"))
        .and(bearer_token(g.as_str()))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "2972395"})))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    for _ in 0..2 {
        let r = c
            .send(ApiRequest::get(Audience::Defender, "/api/incidents/924565").label("get"))
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().unwrap()["incidentId"], 924_565);
        assert_eq!(r.stats.attempts, 1);
    }
    let r = c
        .send(ApiRequest::get(
            Audience::Graph,
            "/v1.0/security/incidents/2972395",
        ))
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().unwrap()["id"], "2972395");
    assert_eq!(c.tokens().token_requests(), 2);
    assert_eq!(c.stats().get("get").calls, 2);
}

#[tokio::test]
async fn a_401_renews_the_token_and_retries_once() {
    let server = MockServer::start().await;
    let (old, new) = (jwt("graph", 1), jwt("graph", 2));
    mount_tokens(
        &server,
        "graph",
        "graph.microsoft.com",
        &[old.clone(), new.clone()],
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .and(bearer_token(old.as_str()))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired or is not yet valid.",
                      "innerError": {"date": "2026-01-01T00:00:00", "request-id": "r1", "client-request-id": "r1"}}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .and(bearer_token(new.as_str()))
        .and(body_json(json!({"Query": "DeviceInfo | take 1"})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"schema": [], "results": []})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let req = ApiRequest::post_json(
        Audience::Graph,
        "/v1.0/security/runHuntingQuery",
        &json!({"Query": "DeviceInfo | take 1"}),
    )
    .unwrap()
    .label("hunt");
    let r = c.send(req).await.unwrap();
    assert_eq!(r.stats.attempts, 2);
    assert_eq!(r.stats.reauthenticated, 1);
    assert_eq!(c.tokens().token_requests(), 2);
}

#[tokio::test]
async fn a_second_401_fails_with_exit_4_and_no_token_in_the_message() {
    let server = MockServer::start().await;
    let (a, b) = (jwt("defender", 1), jwt("defender", 2));
    mount_tokens(
        &server,
        "defender",
        "api.security.microsoft.com",
        &[a.clone(), b.clone()],
    )
    .await;
    // A (misbehaving) service that echoes the bearer token in its error message.
    Mock::given(method("GET"))
        .and(path("/api/incidents"))
        .respond_with(move |req: &wiremock::Request| {
            let auth = req
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            defender_error(
                401,
                "Unauthorized",
                &format!("Invalid Authorization header: {auth}"),
            )
        })
        .expect(2)
        .mount(&server)
        .await;
    let c = client(&server);
    let err = c
        .send(ApiRequest::get(Audience::Defender, "/api/incidents"))
        .await
        .err()
        .unwrap();
    let shown = format!("{err}\n{err:?}");
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{shown}");
    assert_eq!(err.exit_status(), ExitStatus::AuthFailed);
    assert!(
        !shown.contains(&a) && !shown.contains(&b),
        "token leaked: {shown}"
    );
    assert!(shown.contains("[REDACTED]"), "{shown}");
    assert!(!shown.contains(SECRET));
}

#[tokio::test]
async fn forbidden_keeps_the_service_message() {
    let server = MockServer::start().await;
    mount_tokens(
        &server,
        "endpoint",
        "api.securitycenter.microsoft.com",
        &[jwt("endpoint", 1)],
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/machines/1e5bc9d7e413ddd7902c2932e418702b84d0cc07/isolate"))
        .respond_with(defender_error(
            403,
            "Forbidden",
            "The application does not have any of the required application permissions (Machine.Isolate) to access the resource.",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let req = ApiRequest::post_json(
        Audience::Endpoint,
        "/api/machines/1e5bc9d7e413ddd7902c2932e418702b84d0cc07/isolate",
        &json!({"Comment": "c", "IsolationType": "Full"}),
    )
    .unwrap();
    let err = c.send(req).await.err().unwrap();
    assert_eq!(err.exit_status(), ExitStatus::AuthFailed);
    let svc = err.service().unwrap();
    assert_eq!(svc.code.as_deref(), Some("Forbidden"));
    assert_eq!(
        svc.request_id.as_deref(),
        Some("43f4cb08-8fac-4b65-9db1-745c2ae65f3a")
    );
    assert!(err.to_string().contains("Machine.Isolate"));
}

#[tokio::test]
async fn server_errors_are_retried_for_reads() {
    let server = MockServer::start().await;
    mount_tokens(
        &server,
        "defender",
        "api.security.microsoft.com",
        &[jwt("defender", 1)],
    )
    .await;
    for (i, status) in [(1u8, 503u16), (2, 500)] {
        Mock::given(method("GET"))
            .and(path("/api/incidents"))
            .respond_with(defender_error(status, "InternalServerError", ""))
            .up_to_n_times(1)
            .with_priority(i)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/api/incidents"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .with_priority(3)
        .mount(&server)
        .await;
    let c = client(&server);
    let r = c
        .send(ApiRequest::get(Audience::Defender, "/api/incidents").label("list"))
        .await
        .unwrap();
    assert_eq!(r.stats.attempts, 3);
    assert_eq!(r.stats.retries, 2);
    assert_eq!(c.stats().get("list").failures, 0);
}

#[tokio::test]
async fn server_errors_are_not_retried_for_actions() {
    let server = MockServer::start().await;
    mount_tokens(
        &server,
        "endpoint",
        "api.securitycenter.microsoft.com",
        &[jwt("endpoint", 1)],
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/machines/m1/runAntiVirusScan"))
        .respond_with(defender_error(503, "ServiceUnavailable", "try later"))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let req = ApiRequest::post_json(
        Audience::Endpoint,
        "/api/machines/m1/runAntiVirusScan",
        &json!({"Comment": "c", "ScanType": "Quick"}),
    )
    .unwrap()
    .label("scan");
    let err = c.send(req).await.err().unwrap();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.exit_status(), ExitStatus::Failure);
    let s = c.stats().get("scan");
    assert_eq!((s.attempts, s.failures), (1, 1));
}

#[tokio::test]
async fn throttled_calls_wait_for_retry_after_even_for_actions() {
    let server = MockServer::start().await;
    mount_tokens(
        &server,
        "defender",
        "api.security.microsoft.com",
        &[jwt("defender", 1)],
    )
    .await;
    Mock::given(method("PATCH"))
        .and(path("/api/incidents/924565"))
        .respond_with(
            defender_error(429, "TooManyRequests", "Too many requests")
                .insert_header("Retry-After", "1"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/api/incidents/924565"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"incidentId": 924565, "status": "Resolved"})),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let c = client(&server);
    let req = ApiRequest::patch_json(
        Audience::Defender,
        "/api/incidents/924565",
        &json!({"status": "Resolved"}),
    )
    .unwrap();
    let r = c.send(req).await.unwrap();
    assert_eq!(r.stats.throttled, 1);
    assert_eq!(r.stats.attempts, 2);
    // The wait the service asked for, exactly (not a backoff guess).
    assert_eq!(r.stats.waited, Duration::from_secs(1));
}

#[tokio::test]
async fn defender_quota_body_sets_the_wait_and_the_cap_ends_the_call() {
    let server = MockServer::start().await;
    mount_tokens(
        &server,
        "defender",
        "api.security.microsoft.com",
        &[jwt("defender", 1)],
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/api/advancedhunting/run"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "error": {"code": "429", "message": "API calls quota exceeded! maximum allowed 45 per 00:01:00", "target": "x"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let options = ClientOptions {
        retry: RetryPolicy {
            max_total_wait: Duration::from_secs(5),
            ..RetryPolicy::fast()
        },
        ..ClientOptions::for_tests()
    };
    let c = client_with(&server, options);
    let req = ApiRequest::post_json(
        Audience::Defender,
        "/api/advancedhunting/run",
        &json!({"Query": "DeviceInfo"}),
    )
    .unwrap();
    let err = c.send(req).await.err().unwrap();
    match &err {
        ApiError::Throttled { wait, attempts, .. } => {
            assert_eq!(*wait, Some(Duration::from_secs(60)));
            assert_eq!(*attempts, 1);
        }
        other => panic!("expected Throttled, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("maximum allowed 45 per 00:01:00"), "{msg}");
    assert!(msg.contains("wait 1m"), "{msg}");
}

#[tokio::test]
async fn pacing_holds_a_bucket_after_a_throttle() {
    // With pacing on, a 429's wait is taken through the bucket, so parallel calls wait too.
    let server = MockServer::start().await;
    mount_tokens(&server, "graph", "graph.microsoft.com", &[jwt("graph", 1)]).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/security/alerts_v2"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .set_body_json(
                    json!({"error": {"code": "TooManyRequests", "message": "Too many requests."}}),
                ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/security/alerts_v2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .with_priority(2)
        .mount(&server)
        .await;
    let options = ClientOptions {
        pacing: PacingPolicy {
            margin: Duration::ZERO,
            ..PacingPolicy::default()
        },
        ..ClientOptions::for_tests()
    };
    let c = client_with(&server, options);
    let r = c
        .send(ApiRequest::get(Audience::Graph, "/v1.0/security/alerts_v2"))
        .await
        .unwrap();
    assert_eq!(r.stats.throttled, 1);
    assert!(
        r.stats.waited >= Duration::from_millis(900),
        "{:?}",
        r.stats.waited
    );
}

#[tokio::test]
async fn connection_failures_are_retried_because_nothing_was_sent() {
    // A port with nothing listening: connect errors, for the API host only.
    let server = MockServer::start().await;
    mount_tokens(
        &server,
        "endpoint",
        "api.securitycenter.microsoft.com",
        &[jwt("endpoint", 1)],
    )
    .await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let options = ClientOptions::for_tests();
    let http = huntbook::api::http_client(&options).unwrap();
    let mut endpoints = Endpoints::all_on(&server.uri()).unwrap();
    endpoints.endpoint = url::Url::parse(&dead_url).unwrap();
    let config = AuthConfig {
        tenant_id: "t1".into(),
        client_id: "c1".into(),
        credential: Credential::ClientSecret(SECRET.into()),
        endpoints,
    };
    let c = Client::new(
        http.clone(),
        Arc::new(TokenStore::new(http, config)),
        options.clone(),
    );
    let req = ApiRequest::post_json(
        Audience::Endpoint,
        "/api/machines/m1/isolate",
        &json!({"Comment": "c"}),
    )
    .unwrap()
    .label("isolate");
    let err = c.send(req).await.err().unwrap();
    match &err {
        ApiError::Network { attempts, .. } => assert_eq!(*attempts, options.retry.max_attempts),
        other => panic!("expected Network, got {other:?}"),
    }
    assert_eq!(
        c.stats().get("isolate").attempts,
        u64::from(options.retry.max_attempts)
    );
}

#[tokio::test]
async fn next_link_pages_are_followed_on_the_same_host_only() {
    let server = MockServer::start().await;
    let evil = MockServer::start().await;
    mount_tokens(&server, "graph", "graph.microsoft.com", &[jwt("graph", 1)]).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/security/incidents"))
        .and(query_param_is_missing("$skiptoken"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "ctx", "value": [{"id": "1"}, {"id": "2"}],
            "@odata.nextLink": format!("{}/v1.0/security/incidents?$top=2&$skiptoken=p2", server.uri())
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/security/incidents"))
        .and(query_param("$skiptoken", "p2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": [{"id": "3"}]})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/security/alerts_v2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "value": [{"id": "a"}],
            "@odata.nextLink": format!("{}/v1.0/security/alerts_v2?$skiptoken=steal", evil.uri())
        })))
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&evil)
        .await;
    let c = client(&server);
    let req = ApiRequest::get(Audience::Graph, "/v1.0/security/incidents")
        .query("$top", "2")
        .label("list");
    let paged = c.paginate(req, Paging::NextLink, 1000).await.unwrap();
    let ids: Vec<&str> = paged
        .items
        .iter()
        .filter_map(|v| v["id"].as_str())
        .collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert_eq!(paged.pages, 2);
    assert!(!paged.truncated);
    assert_eq!(c.stats().get("list").calls, 2);

    let err = c
        .paginate(
            ApiRequest::get(Audience::Graph, "/v1.0/security/alerts_v2"),
            Paging::NextLink,
            1000,
        )
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ApiError::ForeignUrl { .. }), "{err:?}");
    assert!(err.to_string().contains("refusing to send the graph token"));
}

#[tokio::test]
async fn skip_paging_stops_at_a_short_page_and_honours_max_items() {
    let server = MockServer::start().await;
    mount_tokens(
        &server,
        "defender",
        "api.security.microsoft.com",
        &[jwt("defender", 1)],
    )
    .await;
    let page = |ids: &[u64]| {
        ResponseTemplate::new(200).set_body_json(json!({
            "@odata.context": "https://api.security.microsoft.com/api/$metadata#Incidents",
            "value": ids.iter().map(|i| json!({"incidentId": i})).collect::<Vec<_>>()
        }))
    };
    Mock::given(method("GET"))
        .and(path("/api/incidents"))
        .and(query_param("$top", "2"))
        .and(query_param_is_missing("$skip"))
        .and(query_param("$filter", "status eq 'Active'"))
        .respond_with(page(&[1, 2]))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/incidents"))
        .and(query_param("$skip", "2"))
        .respond_with(page(&[3, 4]))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/incidents"))
        .and(query_param("$skip", "4"))
        .respond_with(page(&[5]))
        .mount(&server)
        .await;
    let c = client(&server);
    let req = ApiRequest::get(Audience::Defender, "/api/incidents")
        .query("$filter", "status eq 'Active'");
    let all = c
        .paginate(req.clone(), Paging::Skip { page_size: 2 }, 100)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 5);
    assert_eq!(all.pages, 3);
    assert!(!all.truncated);

    let some = c
        .paginate(req, Paging::Skip { page_size: 2 }, 3)
        .await
        .unwrap();
    assert_eq!(some.items.len(), 3);
    assert_eq!(some.pages, 2);
    assert!(some.truncated);
}

#[tokio::test]
async fn large_bodies_stream_and_are_counted() {
    let server = MockServer::start().await;
    mount_tokens(
        &server,
        "graph",
        "graph.microsoft.com",
        &[jwt("graph", 1), jwt("graph", 2)],
    )
    .await;
    let rows: Vec<Value> = (0..20_000)
        .map(|i| json!({"DeviceName": format!("pc-{i:05}"), "n": i}))
        .collect();
    let body = serde_json::to_vec(&json!({"schema": [], "results": rows})).unwrap();
    Mock::given(method("POST"))
        .and(path("/v1.0/security/runHuntingQuery"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json"))
        .mount(&server)
        .await;
    let c = client(&server);
    let req = || {
        ApiRequest::post_json(
            Audience::Graph,
            "/v1.0/security/runHuntingQuery",
            &json!({"Query": "DeviceInfo"}),
        )
        .unwrap()
        .label("hunt")
    };
    let stream = c.send_stream(req()).await.unwrap();
    assert_eq!(stream.content_length(), Some(body.len() as u64));
    let got = stream.collect().await.unwrap();
    assert_eq!(got.as_ref(), body.as_slice());
    let whole = c.send(req()).await.unwrap();
    assert_eq!(whole.body.len(), body.len());
    {
        use futures_util::StreamExt as _;
        let mut chunks = Box::pin(c.send_stream(req()).await.unwrap().into_stream());
        let mut n = 0;
        while let Some(chunk) = chunks.next().await {
            n += chunk.unwrap().len();
        }
        assert_eq!(n, body.len());
    }
    // The rows module's reader takes the reqwest response itself.
    let resp = c.send_stream(req()).await.unwrap().into_response().unwrap();
    let set = huntbook::rows::read_response(resp, huntbook::rows::ParseOptions::default())
        .await
        .unwrap();
    assert_eq!(set.len(), 20_000);
    let s = c.stats().get("hunt");
    assert_eq!(s.calls, 4);
    assert_eq!(s.bytes_received, 4 * body.len() as u64);

    let small = ClientOptions {
        max_body_bytes: 1024,
        ..ClientOptions::for_tests()
    };
    let c = client_with(&server, small);
    let err = c.send(req()).await.err().unwrap();
    assert!(
        matches!(err, ApiError::BodyTooLarge { limit: 1024, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn graph_and_defender_errors_keep_code_message_and_request_id() {
    let server = MockServer::start().await;
    mount_tokens(&server, "graph", "graph.microsoft.com", &[jwt("graph", 1)]).await;
    Mock::given(method("GET"))
        .and(path("/v1.0/security/incidents"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {
            "code": "", "message": "The query specified in the URI is not valid. The limit of '50' for Top query has been exceeded. The value from the incoming request is '100'.",
            "details": [], "innerError": {"date": "2025-01-11T19:43:26", "request-id": "rid-42", "client-request-id": "rid-42"}}})))
        .mount(&server)
        .await;
    let c = client(&server);
    let err = c
        .send(ApiRequest::get(Audience::Graph, "/v1.0/security/incidents").query("$top", "100"))
        .await
        .err()
        .unwrap();
    assert_eq!(err.status(), Some(400));
    let msg = err.to_string();
    assert!(
        msg.starts_with("GET /v1.0/security/incidents: HTTP 400: The query specified"),
        "{msg}"
    );
    assert!(msg.contains("(request id rid-42)"), "{msg}");
}

#[tokio::test]
async fn absolute_urls_to_other_hosts_and_bad_endpoints_are_refused() {
    let server = MockServer::start().await;
    let c = client(&server);
    let err = c
        .send(ApiRequest::get_url(
            Audience::Defender,
            "https://api.attacker.example/api/incidents",
        ))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ApiError::ForeignUrl { .. }));
    let err = c
        .send(ApiRequest::get(
            Audience::Graph,
            "https://api.attacker.example/v1.0/me",
        ))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ApiError::InvalidUrl { .. }), "{err:?}");
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "no token was even requested"
    );
    assert!(Endpoints::all_on("http://api.example.com").is_err());
}

#[tokio::test]
async fn a_caller_cannot_replace_the_authorization_header() {
    let server = MockServer::start().await;
    let t = jwt("graph", 1);
    mount_tokens(
        &server,
        "graph",
        "graph.microsoft.com",
        std::slice::from_ref(&t),
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/v1.0/security/alerts_v2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .mount(&server)
        .await;
    let c = client(&server);
    let req = ApiRequest::get(Audience::Graph, "/v1.0/security/alerts_v2")
        .header(
            reqwest::header::AUTHORIZATION,
            reqwest::header::HeaderValue::from_static("Bearer someone-else"),
        )
        .header(
            reqwest::header::HeaderName::from_static("prefer"),
            reqwest::header::HeaderValue::from_static("include-unknown-enum-members"),
        );
    c.send(req).await.unwrap();
    let reqs = server.received_requests().await.unwrap();
    let api = reqs
        .iter()
        .find(|r| r.url.path() == "/v1.0/security/alerts_v2")
        .unwrap();
    let auths: Vec<_> = api.headers.get_all("authorization").iter().collect();
    assert_eq!(auths.len(), 1);
    assert_eq!(auths[0].to_str().unwrap(), format!("Bearer {t}"));
    assert_eq!(
        api.headers.get("prefer").unwrap(),
        "include-unknown-enum-members"
    );
}

/// Collects everything a subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn trace_level_json_logs_hold_no_secret_or_token() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    let (a, b) = (jwt("defender", 1), jwt("defender", 2));
    mount_tokens(
        &server,
        "defender",
        "api.security.microsoft.com",
        &[a.clone(), b.clone()],
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/api/incidents"))
        .and(bearer_token(a.as_str()))
        .respond_with(defender_error(401, "Unauthorized", "expired"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/incidents"))
        .and(bearer_token(b.as_str()))
        .respond_with(
            defender_error(
                429,
                "429",
                "API calls quota exceeded! maximum allowed 50 per 00:01:00",
            )
            .insert_header("Retry-After", "0"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/incidents"))
        .and(bearer_token(b.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": []})))
        .mount(&server)
        .await;
    let c = client(&server);
    let r = c
        .send(ApiRequest::get(Audience::Defender, "/api/incidents"))
        .await
        .unwrap();
    assert_eq!((r.stats.reauthenticated, r.stats.throttled), (1, 1));

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("\"status\":401"),
        "per-attempt events are logged: {logs}"
    );
    assert!(logs.contains("/api/incidents"));
    for secret in [SECRET, a.as_str(), b.as_str()] {
        assert!(!logs.contains(secret), "a secret reached the logs: {logs}");
    }
}

// ---------------------------------------------------------------------------------------------
// Against the emulator: its identity platform, request gate, rate limits and fault injection.

mod emulator {
    use super::*;
    use huntbook::emulator::directory::{DEMO_APP, READONLY_APP};
    use huntbook::emulator::{Emulator, EmulatorConfig, EmulatorHandle};

    async fn start(limits: &str) -> EmulatorHandle {
        Emulator::start(EmulatorConfig {
            limits: limits.parse().unwrap(),
            ..EmulatorConfig::default()
        })
        .await
        .unwrap()
    }

    fn client_for(emu: &EmulatorHandle, app: &str, options: ClientOptions) -> Client {
        let info = emu.info();
        let app = info.app(app).unwrap();
        let http = huntbook::api::http_client(&options).unwrap();
        let config = AuthConfig {
            tenant_id: info.tenant_id.clone(),
            client_id: app.client_id.clone(),
            credential: Credential::ClientSecret(app.client_secret.clone().unwrap().into()),
            endpoints: Endpoints::all_on(&emu.urls.base).unwrap(),
        };
        Client::new(
            http.clone(),
            Arc::new(TokenStore::new(http, config)),
            options,
        )
    }

    fn ids(items: &[Value], key: &str) -> Vec<String> {
        let mut v: Vec<String> = items.iter().map(|i| i[key].to_string()).collect();
        v.sort();
        v
    }

    fn hunt() -> ApiRequest {
        ApiRequest::post_json(
            Audience::Graph,
            "/v1.0/security/runHuntingQuery",
            &json!({"Query": "DeviceInfo | take 3"}),
        )
        .unwrap()
        .label("hunt")
    }

    #[tokio::test]
    async fn paging_through_the_gate_on_graph_and_defender() {
        let emu = start("relaxed").await;
        let c = client_for(&emu, DEMO_APP, ClientOptions::for_tests());
        let list = |top: &str| {
            ApiRequest::get(Audience::Graph, "/v1.0/security/incidents").query("$top", top)
        };
        let small = c
            .paginate(list("3"), Paging::NextLink, 10_000)
            .await
            .unwrap();
        let big = c
            .paginate(list("50"), Paging::NextLink, 10_000)
            .await
            .unwrap();
        assert!(small.pages > 1, "the tenant needs several pages of 3");
        assert_eq!(ids(&small.items, "id"), ids(&big.items, "id"));

        let d = |n| {
            c.paginate(
                ApiRequest::get(Audience::Defender, "/api/incidents"),
                Paging::Skip { page_size: n },
                10_000,
            )
        };
        let (paged, whole) = (d(2).await.unwrap(), d(100).await.unwrap());
        assert!(paged.pages > 1);
        assert_eq!(
            ids(&paged.items, "incidentId"),
            ids(&whole.items, "incidentId")
        );
        assert_eq!(
            whole.items.len(),
            big.items.len(),
            "one tenant seen through both APIs"
        );

        let err = c.send(list("100")).await.err().unwrap();
        assert_eq!(err.status(), Some(400));
        assert!(
            err.to_string()
                .contains("The limit of '50' for Top query has been exceeded"),
            "{err}"
        );
        // One token per audience for all of it.
        assert_eq!(c.tokens().token_requests(), 2);
    }

    #[tokio::test]
    async fn hunting_results_parse_into_rows() {
        let emu = start("relaxed").await;
        let c = client_for(&emu, DEMO_APP, ClientOptions::for_tests());
        let resp = c
            .send_stream(hunt())
            .await
            .unwrap()
            .into_response()
            .unwrap();
        let set = huntbook::rows::read_response(resp, huntbook::rows::ParseOptions::default())
            .await
            .unwrap();
        assert_eq!(set.len(), 3);
        assert!(set.column_index("DeviceName").is_some());
    }

    #[tokio::test]
    async fn actions_conflicts_and_permissions_come_back_typed() {
        let emu = start("relaxed").await;
        let c = client_for(&emu, DEMO_APP, ClientOptions::for_tests());
        let device = emu
            .state
            .world
            .devices
            .iter()
            .find(|d| !d.os_platform.contains("Linux"))
            .unwrap()
            .id
            .clone();
        let isolate = || {
            ApiRequest::post_json(
                Audience::Endpoint,
                format!("/api/machines/{device}/isolate"),
                &json!({"Comment": "huntbook test", "IsolationType": "Full"}),
            )
            .unwrap()
            .label("isolate")
        };
        let first = c.send(isolate()).await.unwrap();
        assert_eq!(first.status, 201);
        assert_eq!(first.json::<Value>().unwrap()["type"], "Isolate");
        let again = c.send(isolate()).await.err().unwrap();
        assert_eq!(again.status(), Some(400));
        let svc = again.service().unwrap();
        assert_eq!(
            svc.message.as_deref(),
            Some("Action is already in progress")
        );
        assert!(
            svc.request_id.is_some(),
            "Defender errors carry a target id"
        );
        assert_eq!(
            c.stats().get("isolate").attempts,
            2,
            "a 400 is never retried"
        );

        let missing = c
            .send(ApiRequest::get(
                Audience::Endpoint,
                "/api/machines/0000000000000000000000000000000000000000",
            ))
            .await
            .err()
            .unwrap();
        assert_eq!(
            missing.service().and_then(|s| s.code.as_deref()),
            Some("ResourceNotFound")
        );

        let readonly = client_for(&emu, READONLY_APP, ClientOptions::for_tests());
        let denied = readonly.send(isolate()).await.err().unwrap();
        assert_eq!(denied.exit_status(), ExitStatus::AuthFailed);
        assert!(denied.to_string().contains("Machine.Isolate"), "{denied}");
        // The preflight table agrees with the emulator's gate.
        let token = readonly.tokens().token(Audience::Endpoint).await.unwrap();
        let need = huntbook::auth::permissions::required(
            Audience::Endpoint,
            "POST",
            &format!("/api/machines/{device}/isolate"),
        )
        .unwrap();
        assert!(
            !token.info.has_any(need.application),
            "the token lacks what the table says isolation needs: {:?}",
            token.info.roles
        );
    }

    #[tokio::test]
    async fn revoked_tokens_are_renewed_once() {
        let emu = start("relaxed").await;
        let c = client_for(&emu, DEMO_APP, ClientOptions::for_tests());
        c.send(ApiRequest::get(Audience::Defender, "/api/incidents").label("a"))
            .await
            .unwrap();
        emu.revoke_tokens();
        let r = c
            .send(ApiRequest::get(Audience::Defender, "/api/incidents").label("a"))
            .await
            .unwrap();
        assert_eq!(r.stats.reauthenticated, 1);
        assert_eq!(c.tokens().token_requests(), 2);
        // Every call's token revoked: the renewed one fails too, and the call fails with exit 4.
        emu.set_faults("api:revoke").unwrap();
        let err = c
            .send(ApiRequest::get(Audience::Defender, "/api/incidents"))
            .await
            .err()
            .unwrap();
        assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
        assert_eq!(err.exit_status(), ExitStatus::AuthFailed);
    }

    #[tokio::test]
    async fn injected_faults_are_retried_only_where_safe() {
        let emu = start("relaxed").await;
        let c = client_for(&emu, DEMO_APP, ClientOptions::for_tests());
        emu.set_faults("incidents:500#1,/api/machines:reset#1,actions:503#1")
            .unwrap();
        let r = c
            .send(ApiRequest::get(Audience::Defender, "/api/incidents"))
            .await
            .unwrap();
        assert_eq!(r.stats.attempts, 2, "500 on a read: retried");
        let r = c
            .send(ApiRequest::get(Audience::Endpoint, "/api/machines"))
            .await
            .unwrap();
        assert_eq!(r.stats.attempts, 2, "reset on a read: retried");
        let device = emu.state.world.devices[0].id.clone();
        let scan = ApiRequest::post_json(
            Audience::Endpoint,
            format!("/api/machines/{device}/runAntiVirusScan"),
            &json!({"Comment": "c", "ScanType": "Quick"}),
        )
        .unwrap()
        .label("scan");
        let err = c.send(scan).await.err().unwrap();
        assert_eq!(err.status(), Some(503), "{err}");
        assert_eq!(
            c.stats().get("scan").attempts,
            1,
            "503 on an action: not retried"
        );
    }

    #[tokio::test]
    async fn rate_limits_are_waited_out_or_paced_away() {
        // Without pacing: the third call in 2 s is throttled and waits the exact Retry-After.
        let emu = start("relaxed,hunting=2/2s").await;
        let c = client_for(&emu, DEMO_APP, ClientOptions::for_tests());
        for _ in 0..3 {
            c.send(hunt()).await.unwrap();
        }
        let s = c.stats().get("hunt");
        assert_eq!((s.calls, s.throttled), (3, 1));
        assert!(s.waited >= Duration::from_secs(1), "{s:?}");

        // With the same budget as client-side pacing: never throttled.
        let emu = start("relaxed,hunting=2/2s").await;
        let options = ClientOptions {
            pacing: PacingPolicy::default().with_budget(
                huntbook::api::pacing::BUCKET_HUNTING,
                vec![huntbook::api::Budget {
                    max: 2,
                    per: Duration::from_secs(2),
                }],
            ),
            ..ClientOptions::for_tests()
        };
        let c = client_for(&emu, DEMO_APP, options);
        for _ in 0..3 {
            c.send(hunt()).await.unwrap();
        }
        let s = c.stats().get("hunt");
        assert_eq!((s.calls, s.throttled, s.attempts), (3, 0, 3));
        assert!(
            s.waited >= Duration::from_secs(1),
            "the third call was paced: {s:?}"
        );
    }
}
