//! Unit tests of the runner: whole cases through a scripted connection that journals its
//! machine actions in the case's real (in-process) emulator, as the emulator's APIs would.

use super::*;
use crate::emulator::world::World;
use crate::engine::connection::{
    AuthOutcome, AuthRequest, BoxFuture, Call, CallStats, Grant, HuntData, Reply,
};
use crate::engine::{ErrorKind, StepError, hunt_data_from_json};
use crate::playbook::{Api, AuthContext, Choice as _, Resource};
use crate::testing::spec::TestFile;
use bytes::Bytes;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Answers like the emulator would for the few calls these playbooks make.
struct Scripted {
    state: Arc<crate::emulator::EmuState>,
    delay: Option<Duration>,
}

fn grant(audience: Resource) -> Grant {
    Grant {
        audience,
        roles: vec![
            "ThreatHunting.Read.All".into(),
            "Machine.Read.All".into(),
            "Machine.Isolate".into(),
        ],
        scopes: Vec::new(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        readable: true,
    }
}

impl Connection for Scripted {
    fn authenticate(&self, request: AuthRequest) -> BoxFuture<'_, Result<AuthOutcome, StepError>> {
        Box::pin(async move {
            Ok(AuthOutcome {
                context: AuthContext::Application,
                tenant_id: "t".into(),
                client_id: "c".into(),
                principal: Some("app".into()),
                grant: grant(request.audience),
            })
        })
    }

    fn grant(&self, audience: Resource) -> BoxFuture<'_, Result<Grant, StepError>> {
        Box::pin(async move { Ok(grant(audience)) })
    }

    fn call<'a>(
        &'a self,
        call: Call,
        accept: &'a [u16],
    ) -> BoxFuture<'a, Result<Reply, StepError>> {
        Box::pin(async move {
            if let Some(d) = self.delay {
                tokio::time::sleep(d).await;
            }
            let path = call.target.display_path();
            let method = call.method.name();
            let (status, body) = if method == "GET" && path == "/api/machineactions" {
                (200, json!({ "value": [] }))
            } else if method == "POST" && path.starts_with("/api/machines/") {
                let body = serde_json::to_vec(&call.body).unwrap_or_default();
                self.state.tenant.record(method, &path, &body, None, 201);
                let id = path.split('/').nth(3).unwrap_or("");
                (
                    201,
                    json!({ "id": "a1", "type": "Isolate", "status": "Succeeded", "machineId": id }),
                )
            } else {
                (
                    404,
                    json!({ "error": { "code": "NotFound", "message": "no route" } }),
                )
            };
            if (200..300).contains(&status) || accept.contains(&status) {
                Ok(Reply {
                    status,
                    body: Bytes::from(serde_json::to_vec(&body).unwrap()),
                })
            } else {
                Err(StepError {
                    status: Some(status),
                    ..StepError::new(
                        ErrorKind::Api,
                        format!("{}: HTTP {status}", call.describe()),
                    )
                })
            }
        })
    }

    fn hunt(&self, _call: Call, api: Api) -> BoxFuture<'_, Result<HuntData, StepError>> {
        Box::pin(async move {
            if let Some(d) = self.delay {
                tokio::time::sleep(d).await;
            }
            hunt_data_from_json(br#"{"schema":[],"results":[]}"#, api)
        })
    }

    fn stats(&self, _label: &str) -> CallStats {
        CallStats::default()
    }

    fn url(&self, call: &Call) -> String {
        format!("http://emulator{}", call.target.display_path())
    }
}

#[derive(Default)]
struct ScriptedBackend {
    delay: Option<Duration>,
    connects: AtomicUsize,
}

impl Backend for ScriptedBackend {
    fn connect(
        &self,
        emulator: &EmulatorHandle,
        app: &str,
        env: &mut BTreeMap<String, String>,
    ) -> Result<Arc<dyn Connection>, String> {
        env.insert(
            "AZURE_TENANT_ID".into(),
            emulator.state.world.tenant_id.clone(),
        );
        env.insert("AZURE_CLIENT_ID".into(), app.into());
        env.insert("AZURE_CLIENT_SECRET".into(), "s3cret".into());
        self.connects.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::new(Scripted {
            state: Arc::clone(&emulator.state),
            delay: self.delay,
        }))
    }
}

const PLAYBOOK: &str = r#"huntbook: 1
name: contain
inputs:
  min: { type: integer, default: 1 }
steps:
  - id: login
    authenticate:
      client_secret: { env: AZURE_CLIENT_SECRET }
  - id: hits
    hunt:
      query: DeviceFileEvents | take 10
  - id: bad
    filter:
      input: "{{ steps.hits.results }}"
      jsonpath: "$[?@.Bad == true]"
  - set:
      names: "{{ steps.bad.items | map(attribute='DeviceName') | list }}"
  - id: isolate
    when: steps.bad.count >= inputs.min
    for_each: steps.bad.items
    machine_action:
      action: isolate
      machine_id: "{{ item.DeviceId }}"
      comment: "huntbook test"
  - id: report
    when: steps.bad.count >= inputs.min
    output:
      path: "reports/bad.json"
      format: json
      data: "{{ steps.bad.items }}"
  - output:
      format: text
      template: "{{ steps.bad.count }} bad device(s)\n"
"#;

fn test_file(test: &str) -> (TestFile, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("contain.yaml"), PLAYBOOK).unwrap();
    let path = dir.path().join("contain.test.yaml");
    let id3 = World::generate(1, chrono::Utc::now()).devices[2].id.clone();
    std::fs::write(&path, test.replace("ID3", &id3)).unwrap();
    let l = crate::testing::check::load(&path);
    assert!(l.diagnostics.is_empty(), "{:#?}", l.diagnostics);
    (l.test.expect("valid test file"), dir)
}

async fn run_one(test: &str, backend: ScriptedBackend) -> CaseResult {
    let (t, _dir) = test_file(test);
    run_case(&backend, &t, 0, 0).await
}

const HITS: &str = r#"
    steps:
      hits:
        results:
          - { DeviceName: ws-003.corp.contoso.example, DeviceId: ID3, Bad: true }
          - { DeviceName: ws-009.corp.contoso.example, DeviceId: x9, Bad: false }
"#;

#[tokio::test]
async fn a_case_runs_and_meets_every_kind_of_expectation() {
    let test = format!(
        r#"cases:
  - name: isolates the bad device
    allow_actions: true{HITS}    expect:
      exit: 0
      steps: {{ hits: {{ status: ok, count: 2 }}, bad: ok, isolate: changed, report: ok }}
      outputs:
        - {{ path: steps.bad.count, equals: 1 }}
        - {{ path: vars.names, equals: [ws-003.corp.contoso.example] }}
        - {{ jsonpath: "$.steps.bad.items[0].DeviceId", equals: ID3 }}
      files:
        - {{ path: "reports/*.json", jsonpath: "$[0].DeviceName", equals: ws-003.corp.contoso.example }}
      stdout: {{ equals: "1 bad device(s)\n" }}
      error: {{ exists: false }}
      actions: {{ isolated: [ws-003], unisolated: [], writes: 1 }}
"#
    );
    let r = run_one(&test, ScriptedBackend::default()).await;
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
}

#[tokio::test]
async fn unmet_expectations_are_failures_with_their_lines() {
    let test = format!(
        r#"cases:
  - name: expects the wrong things
    allow_actions: true{HITS}    expect:
      steps: {{ isolate: skipped }}
      outputs:
        - {{ path: steps.bad.count, equals: 2 }}
      actions: {{ isolated: [ws-009] }}
"#
    );
    let r = run_one(&test, ScriptedBackend::default()).await;
    let Outcome::Failed(f) = &r.outcome else {
        panic!("{r:#?}")
    };
    let what: Vec<&str> = f.iter().map(|f| f.what.as_str()).collect();
    assert_eq!(
        what,
        vec![
            "step `isolate` status",
            "output `steps.bad.count`: `equals`",
            "`isolated` (accepted requests)"
        ]
    );
    assert_eq!(f[2].actual, "ws-003.corp.contoso.example");
}

#[tokio::test]
async fn a_fault_fixture_fails_the_step_as_the_service_would() {
    let test = r#"cases:
  - name: throttled
    allow_actions: true
    steps: { hits: { fault: throttle } }
    expect:
      exit: 1
      steps: { hits: failed, isolate: skipped }
      error: { matches: 'HTTP 429' }
      actions: { writes: 0 }
"#;
    let r = run_one(test, ScriptedBackend::default()).await;
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
}

#[tokio::test]
async fn response_actions_need_allow_actions_as_with_run() {
    let test = r#"cases:
  - name: not allowed
    expect: { exit: 2, error: { contains: "performs response actions" } }
"#;
    let r = run_one(test, ScriptedBackend::default()).await;
    assert_eq!(r.outcome, Outcome::Passed, "{r:#?}");
}

#[tokio::test]
async fn skipped_cases_do_not_run() {
    let backend = ScriptedBackend::default();
    let (t, _dir) = test_file("cases:\n  - name: later\n    skip: not yet\n");
    let r = run_case(&backend, &t, 0, 0).await;
    assert_eq!(r.outcome, Outcome::Skipped("not yet".into()));
    assert_eq!(backend.connects.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_hung_case_fails_at_its_timeout() {
    let test = "cases:\n  - name: hangs\n    allow_actions: true\n    timeout: 200ms\n";
    let backend = ScriptedBackend {
        delay: Some(Duration::from_secs(30)),
        ..ScriptedBackend::default()
    };
    let started = Instant::now();
    let r = run_one(test, backend).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    match &r.outcome {
        Outcome::Error(e) => assert!(e.contains("did not finish within 200ms"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_tenant_the_emulator_refuses_is_a_case_error() {
    let test = r#"cases:
  - name: bad tenant
    allow_actions: true
    tenant:
      data:
        incidents:
          - displayName: x
            alerts:
              - title: y
                evidence: [ { type: device, deviceName: ws-999 } ]
"#;
    let r = run_one(test, ScriptedBackend::default()).await;
    match &r.outcome {
        Outcome::Error(e) => assert!(e.contains("ws-999"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_come_back_in_file_order_whatever_finishes_first() {
    let mut test = String::from("cases:\n");
    for i in 0..6 {
        test.push_str(&format!(
            "  - name: case {i}\n    allow_actions: true\n    inputs: {{ min: {} }}\n",
            if i % 2 == 0 { 1 } else { 5 }
        ));
    }
    let (t, _dir) = test_file(&test);
    let files = Arc::new(vec![t]);
    let runner = Runner::new(Arc::new(ScriptedBackend::default()), 3);
    let mut seen = Vec::new();
    let results = runner
        .run_all(Arc::clone(&files), |r| seen.push(r.case))
        .await;
    assert_eq!(seen, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(results.len(), 6);
    assert!(
        results.iter().all(|r| r.outcome == Outcome::Passed),
        "{results:#?}"
    );
}

#[test]
fn the_capture_step_is_a_valid_output_step() {
    let s = capture_step(Path::new("/tmp/x \"y\".json"), "steps[9]".into()).expect("step");
    assert_eq!(s.route, "steps[9]");
    assert_eq!(s.kind.name().as_str(), "output");
}

/// The example playbooks' own test files, every case, against the case's real emulator APIs
/// and hunting tables (in-process, without the identity platform and the HTTP client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_playbook_tests_pass_against_the_emulator_in_process() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks");
    let paths = crate::testing::discover(&[PathBuf::from(dir)]).unwrap();
    // Cases that sign in as another app test the identity platform, which this backend skips.
    let files: Vec<TestFile> = paths
        .iter()
        .map(|p| {
            let mut t = crate::testing::load(p).test.expect("valid test file");
            t.cases.retain(|c| c.tenant.app.is_none());
            t
        })
        .collect();
    let files = Arc::new(files);
    let runner = Runner::new(Arc::new(super::inproc::InProcess), 2);
    let mut report = String::new();
    let results = runner
        .run_all(Arc::clone(&files), |r| {
            let f = &files[r.file];
            report.push_str(&crate::testing::report::case_line(f, r, false));
            report.push('\n');
            report.push_str(&crate::testing::report::details(f, r, false));
        })
        .await;
    let failed: Vec<&CaseResult> = results.iter().filter(|r| r.failed()).collect();
    assert!(failed.is_empty(), "{report}");
}

#[test]
fn user_sign_ins_use_the_case_s_own_token_cache() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/playbooks/phishing-user-investigation.yaml"
    );
    let mut pb = crate::playbook::load_file(Path::new(path))
        .playbook
        .expect("valid");
    let cache = Path::new("/tmp/case/token-cache.json");
    private_token_caches(&mut pb.steps, cache);
    let caches: Vec<Option<PathBuf>> = pb
        .all_steps()
        .into_iter()
        .filter_map(|s| match &s.kind {
            crate::playbook::StepKind::Authenticate(a) => match &a.credential {
                crate::playbook::Credential::DeviceCode { token_cache } => {
                    Some(token_cache.clone())
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(caches, vec![Some(cache.to_path_buf())]);
}
