//! Engine tests against the fake connection: sequencing, scopes, loops, groups, errors and
//! their locations, every leaf kind's request shape, guards and dry runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::fake::Fake;
use super::*;
use crate::playbook::{Playbook, load_str};

fn playbook(steps: &str) -> Playbook {
    playbook_with("", steps)
}

fn playbook_with(top: &str, steps: &str) -> Playbook {
    let text = format!("huntbook: 1\nname: t\n{top}steps:\n{steps}");
    let loaded = load_str(Path::new("t.yaml"), text);
    let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    loaded.playbook.expect("valid playbook")
}

const LOGIN: &str = "  - id: login\n    authenticate:\n      client_secret: { env: SECRET }\n";

struct Run {
    out: RunOutput,
    stdout: String,
}

impl Run {
    fn exit(&self) -> u8 {
        self.out.report.exit_code
    }
    fn step(&self, id: &str) -> &StepReport {
        fn find<'a>(steps: &'a [StepReport], id: &str) -> Option<&'a StepReport> {
            steps.iter().find_map(|s| {
                if s.id.as_deref() == Some(id) {
                    Some(s)
                } else {
                    find(&s.steps, id)
                        .or_else(|| s.iterations.iter().find_map(|i| find(&i.steps, id)))
                }
            })
        }
        find(&self.out.report.steps, id).unwrap_or_else(|| panic!("no step {id}"))
    }
    fn error(&self) -> &report::ErrorReport {
        self.out
            .report
            .error
            .as_ref()
            .expect("the run stopped with an error")
    }
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn options() -> RunOptions {
    let mut env = BTreeMap::new();
    env.insert("SECRET".to_string(), "s3cr3t-value".to_string());
    let mut o = RunOptions::new(env);
    o.run_id = "run-1".into();
    o
}

async fn run_with(p: &Playbook, fake: Arc<Fake>, inputs: &[&str], o: RunOptions) -> Run {
    let args: Vec<String> = inputs.iter().map(|s| (*s).to_string()).collect();
    let inputs = inputs::resolve(p, &args).expect("inputs");
    let buf = Buf::default();
    let engine = Engine::new(fake).with_stdout(Arc::new(Mutex::new(Box::new(buf.clone()))));
    let out = engine.run(p, &inputs, &o, None).await;
    let stdout = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    Run { out, stdout }
}

async fn run(p: &Playbook, fake: Arc<Fake>) -> Run {
    run_with(p, fake, &[], options()).await
}

fn hunt_rows(rows: serde_json::Value) -> serde_json::Value {
    json!({"schema": [{"name": "DeviceName", "type": "String"}, {"name": "AccountName", "type": "String"}], "results": rows})
}

fn hunting(rows: serde_json::Value) -> Fake {
    Fake::new().route(
        "POST",
        "/v1.0/security/runHuntingQuery",
        200,
        hunt_rows(rows),
    )
}

#[tokio::test]
async fn hunt_filter_and_output_flow_through_the_scope() {
    let p = playbook(&format!(
        "{LOGIN}  - id: hunt\n    hunt:\n      query: DeviceProcessEvents | take 3\n  - id: f\n    filter:\n      input: \"{{{{ steps.hunt.results }}}}\"\n      jsonpath: \"$[?@.AccountName != 'system']\"\n  - output:\n      format: json\n      data: \"{{{{ steps.f.items }}}}\"\n"
    ));
    let fake = Arc::new(hunting(json!([
        {"DeviceName": "a", "AccountName": "system"},
        {"DeviceName": "b", "AccountName": "bob"}
    ])));
    let r = run(&p, fake.clone()).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report);
    assert_eq!(r.step("hunt").count, Some(2));
    assert_eq!(r.step("f").count, Some(1));
    let written: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(written, json!([{"DeviceName": "b", "AccountName": "bob"}]));
    assert_eq!(fake.calls(), vec!["POST /v1.0/security/runHuntingQuery"]);
    assert_eq!(r.out.report.tally.ok, 4);
}

#[tokio::test]
async fn query_values_are_kql_literals_so_injection_changes_nothing() {
    let p = playbook_with(
        "inputs:\n  device: { type: string, required: true }\n",
        &format!(
            "{LOGIN}  - id: hunt\n    hunt:\n      query: |\n        DeviceInfo\n        | where DeviceName == {{{{ inputs.device }}}}\n"
        ),
    );
    let fake = Arc::new(hunting(json!([])));
    let hostile = "x\" or 1==1 | DeviceInfo | take 1 //";
    let r = run_with(&p, fake.clone(), &[&format!("device={hostile}")], options()).await;
    assert_eq!(r.exit(), 0);
    let journal = fake.journal.lock().unwrap();
    let query = journal[0].body.as_ref().unwrap()["Query"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        query,
        "DeviceInfo\n| where DeviceName == \"x\\\" or 1==1 | DeviceInfo | take 1 //\"\n"
    );
}

#[tokio::test]
async fn a_false_when_skips_and_leaves_outcome_for_later_steps() {
    let p = playbook(&format!(
        "{LOGIN}  - id: h\n    when: false\n    hunt:\n      query: X\n  - output:\n      format: text\n      template: \"{{{{ steps.h.outcome }}}} {{{{ steps.h.count | default('none') }}}}\"\n"
    ));
    let fake = Arc::new(hunting(json!([])));
    let r = run(&p, fake.clone()).await;
    assert_eq!(r.exit(), 0);
    assert_eq!(r.step("h").status, Status::Skipped);
    assert_eq!(r.stdout, "skipped none");
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn for_each_runs_each_item_in_order_and_concatenates_results() {
    let p = playbook(&format!(
        "{LOGIN}  - id: per\n    name: \"hunt {{{{ item }}}}\"\n    for_each: [a, b, c]\n    concurrency: 2\n    hunt:\n      query: \"DeviceInfo | where DeviceName == {{{{ item }}}}\"\n  - output:\n      format: text\n      template: \"{{{{ steps.per.count }}}} {{{{ steps.per.results | map(attribute='DeviceName') | join(',') }}}} {{{{ steps.per.iterations | length }}}}\"\n"
    ));
    let fake = Arc::new(Fake::new().on(|c| {
        let q = c.body.as_ref()?["Query"].as_str()?.to_string();
        let name = q.rsplit("== ").next()?.trim_matches('"').to_string();
        Some((
            200,
            hunt_rows(json!([{"DeviceName": name, "AccountName": "x"}])),
        ))
    }));
    let r = run(&p, fake).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    assert_eq!(r.stdout, "3 a,b,c 3");
    let s = r.step("per");
    assert_eq!(s.iterations.len(), 3);
    assert_eq!(s.iterations[1].name.as_deref(), Some("hunt b"));
    assert_eq!(s.api.calls, 3, "calls of every iteration are summed");
}

#[tokio::test]
async fn block_iterations_see_their_own_steps_only() {
    let p = playbook(&format!(
        "{LOGIN}  - id: blk\n    for_each: [1, 2]\n    steps:\n      - id: inner\n        set:\n          doubled: \"{{{{ item * 2 }}}}\"\n      - id: h\n        hunt:\n          query: \"T | take {{{{ vars.doubled }}}}\"\n  - output:\n      format: text\n      template: \"{{% for it in steps.blk.iterations %}}{{{{ it.h.count }}}};{{% endfor %}}{{{{ vars.doubled }}}}\"\n"
    ));
    let fake = Arc::new(Fake::new().on(|c| {
        let q = c.body.as_ref()?["Query"].as_str()?.to_string();
        let n: usize = q.rsplit(' ').next()?.trim().parse().ok()?;
        let rows: Vec<serde_json::Value> = (0..n)
            .map(|i| json!({"DeviceName": i.to_string(), "AccountName": "x"}))
            .collect();
        Some((200, hunt_rows(json!(rows))))
    }));
    let r = run(&p, fake).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    // Each iteration's `h` saw its own `vars.doubled`; the last iteration's value stays.
    assert_eq!(r.stdout, "2;4;4");
    assert_eq!(r.out.report.tally.ok, 1 + 4 + 1);
}

#[tokio::test]
async fn parallel_children_are_readable_after_the_group() {
    let p = playbook(&format!(
        "{LOGIN}  - parallel:\n      - id: a\n        hunt:\n          query: A\n      - id: b\n        hunt:\n          query: B\n  - output:\n      format: text\n      template: \"{{{{ steps.a.count + steps.b.count }}}}\"\n"
    ));
    let fake = Arc::new(hunting(json!([{"DeviceName": "x", "AccountName": "y"}])));
    let r = run(&p, fake.clone()).await;
    assert_eq!(r.exit(), 0);
    assert_eq!(r.stdout, "2");
    assert_eq!(fake.calls().len(), 2);
}

#[tokio::test]
async fn a_failing_step_stops_the_run_and_points_at_its_line() {
    let p = playbook(&format!(
        "{LOGIN}  - id: broken\n    hunt:\n      query: X\n  - id: after\n    set: {{ x: 1 }}\n"
    ));
    let fake = Arc::new(Fake::new().route(
        "POST",
        "/v1.0/security/runHuntingQuery",
        500,
        json!({"error": {"code": "InternalServerError", "message": "boom"}}),
    ));
    let r = run(&p, fake).await;
    assert_eq!(r.exit(), 1);
    let e = r.error();
    assert_eq!(e.label, "step `broken`");
    assert!(e.message.contains("HTTP 500"), "{}", e.message);
    let loc = e.location.as_ref().unwrap();
    assert_eq!((loc.file.as_str(), loc.line), ("t.yaml", 8));
    assert_eq!(r.step("after").status, Status::Skipped);
    let text = render::render_error(e, &p.sources, false);
    assert!(text.contains("--> t.yaml:8:5"), "{text}");
    assert!(text.contains("8 |     hunt:"), "{text}");
}

#[tokio::test]
async fn on_error_continue_records_the_error_and_goes_on() {
    let p = playbook(&format!(
        "{LOGIN}  - id: broken\n    on_error: continue\n    hunt:\n      query: X\n  - output:\n      format: text\n      template: \"{{{{ steps.broken.outcome }}}}: {{{{ steps.broken.error }}}}\"\n"
    ));
    let fake = Arc::new(Fake::new().route(
        "POST",
        "/v1.0/security/runHuntingQuery",
        400,
        json!({"error": {"message": "Syntax error"}}),
    ));
    let r = run(&p, fake).await;
    assert_eq!(r.exit(), 0);
    assert!(r.step("broken").continued);
    assert_eq!(
        r.stdout,
        "failed: POST /v1.0/security/runHuntingQuery: HTTP 400: Syntax error"
    );
}

#[tokio::test]
async fn a_false_assert_exits_3_at_the_failing_expression() {
    let p = playbook(
        "  - id: a\n    set: { n: 5 }\n  - assert:\n      that:\n        - vars.n > 1\n        - vars.n < 3\n      message: \"{{ vars.n }} is too many\"\n",
    );
    let r = run(&p, Arc::new(Fake::new())).await;
    assert_eq!(r.exit(), 3);
    let e = r.error();
    assert_eq!(e.message, "5 is too many");
    assert_eq!(e.location.as_ref().unwrap().line, 9);
}

#[tokio::test]
async fn undefined_values_fail_with_the_field_line() {
    let p = playbook("  - id: a\n    set:\n      x: 1\n      y: \"{{ env.NOT_SET_ANYWHERE }}\"\n");
    let r = run(&p, Arc::new(Fake::new())).await;
    assert_eq!(r.exit(), 1);
    let e = r.error();
    assert_eq!(e.kind, ErrorKind::Template);
    assert_eq!(e.location.as_ref().unwrap().line, 7, "{e:#?}");
}

#[tokio::test]
async fn a_timeout_fails_the_step() {
    let p = playbook(&format!(
        "{LOGIN}  - id: slow\n    timeout: 50ms\n    hunt:\n      query: X\n"
    ));
    let fake = Arc::new(hunting(json!([])).slow(Duration::from_millis(400)));
    let r = run(&p, fake).await;
    assert_eq!(r.exit(), 1);
    assert_eq!(r.error().kind, ErrorKind::Timeout);
    assert_eq!(r.error().message, "timed out after 50ms");
}

#[tokio::test]
async fn the_preflight_fails_before_any_step_needing_a_missing_permission() {
    let p = playbook(&format!(
        "{LOGIN}  - id: hunt\n    hunt:\n      query: X\n  - id: iso\n    machine_action:\n      action: isolate\n      machine_id: 0123456789abcdef0123456789abcdef01234567\n      comment: c\n"
    ));
    let fake = Arc::new(hunting(json!([])).roles("endpoint", &["Machine.Read.All"]));
    let mut o = options();
    o.allow_actions = true;
    let r = run_with(&p, fake.clone(), &[], o).await;
    assert_eq!(r.exit(), 4);
    let e = r.error();
    assert_eq!(e.label, "step `login`");
    assert!(
        e.message
            .contains("`Machine.Isolate` on WindowsDefenderATP for step `iso`"),
        "{}",
        e.message
    );
    assert!(
        e.help
            .as_deref()
            .unwrap_or_default()
            .contains("Grant admin consent")
    );
    assert!(fake.calls().is_empty(), "nothing ran: {:?}", fake.calls());
}

#[tokio::test]
async fn secrets_reach_the_connection_but_never_the_report() {
    let p = playbook(&format!("{LOGIN}  - set: {{ x: 1 }}\n"));
    let fake = Arc::new(Fake::new());
    let r = run(&p, fake.clone()).await;
    assert_eq!(r.exit(), 0);
    let signed = fake.signed_in.lock().unwrap().join("");
    assert!(signed.contains("ClientSecret"), "{signed}");
    assert!(
        !signed.contains("s3cr3t-value"),
        "Debug of a credential must not show it"
    );
    let report = render::report_json(&r.out.report).unwrap();
    assert!(!report.contains("s3cr3t-value"));
    let login = r.step("login");
    assert_eq!(login.status, Status::Ok);
}

#[tokio::test]
async fn a_missing_secret_variable_is_an_auth_failure() {
    let p = playbook(&format!("{LOGIN}  - set: {{ x: 1 }}\n"));
    let r = run_with(
        &p,
        Arc::new(Fake::new()),
        &[],
        RunOptions::new(BTreeMap::new()),
    )
    .await;
    assert_eq!(r.exit(), 4);
    assert!(r.error().message.contains("`SECRET` is not set"));
}

#[tokio::test]
async fn graph_incident_lists_filter_server_side_and_follow_next_links_up_to_top() {
    let p = playbook(&format!(
        "{LOGIN}  - id: inc\n    incidents:\n      list:\n        status: [active, in_progress]\n        severity: high\n        since: 1d\n        top: 3\n"
    ));
    let fake = Arc::new(Fake::new().on(|c| {
        if c.target.display_path() != "/v1.0/security/incidents" {
            return None;
        }
        match &c.target {
            super::connection::Target::Path(_) => Some((200, json!({"value": [{"id": "1"}, {"id": "2"}], "@odata.nextLink": "https://fake.example/v1.0/security/incidents?$skiptoken=2"}))),
            super::connection::Target::Url(_) => Some((200, json!({"value": [{"id": "3"}, {"id": "4"}]}))),
        }
    }));
    let mut o = options();
    o.started_at = "2026-11-25T10:00:00Z".parse().unwrap();
    let r = run_with(&p, fake.clone(), &[], o).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    assert_eq!(r.step("inc").count, Some(3));
    let journal = fake.journal.lock().unwrap();
    let q: BTreeMap<_, _> = journal[0].query.iter().cloned().collect();
    assert_eq!(
        q["$filter"],
        "lastUpdateDateTime ge 2026-11-24T10:00:00Z and (status eq 'active' or status eq 'inProgress') and severity eq 'high'"
    );
    assert_eq!(q["$top"], "3");
    assert_eq!(journal.len(), 2);
}

#[tokio::test]
async fn defender_incident_lists_filter_severity_here_and_page_with_skip() {
    let p = playbook(&format!(
        "{LOGIN}  - id: inc\n    incidents:\n      api: defender\n      list:\n        severity: high\n        status: active\n"
    ));
    let fake = Arc::new(Fake::new().on(|c| {
        let skip = c.query.iter().find(|(k, _)| k == "$skip").map(|(_, v)| v.clone());
        let page: Vec<serde_json::Value> = match skip.as_deref() {
            None => (0..100).map(|i| json!({"incidentId": i, "severity": if i % 2 == 0 { "High" } else { "Low" }})).collect(),
            Some("100") => vec![json!({"incidentId": 100, "severity": "High"})],
            _ => return None,
        };
        Some((200, json!({"value": page})))
    }));
    let r = run(&p, fake.clone()).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    assert_eq!(r.step("inc").count, Some(51));
    let journal = fake.journal.lock().unwrap();
    assert_eq!(journal.len(), 2);
    let q: BTreeMap<_, _> = journal[0].query.iter().cloned().collect();
    assert_eq!(q["$filter"], "status eq 'Active'");
}

#[tokio::test]
async fn incident_gets_feed_items_under_for_each() {
    let p = playbook(&format!(
        "{LOGIN}  - id: one\n    for_each: ['7', '9']\n    incidents:\n      get: \"{{{{ item }}}}\"\n  - output:\n      format: text\n      template: \"{{{{ steps.one.items | map(attribute='id') | join(',') }}}}\"\n"
    ));
    let fake = Arc::new(Fake::new().on(|c| {
        let id = c.target.display_path().rsplit('/').next()?.to_string();
        let expanded = c.query.iter().any(|(k, v)| k == "$expand" && v == "alerts");
        expanded.then(|| (200, json!({"id": id, "alerts": []})))
    }));
    let r = run(&p, fake).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    assert_eq!(r.stdout, "7,9");
}

#[tokio::test]
async fn paginated_requests_collect_every_page() {
    let p = playbook(&format!(
        "{LOGIN}  - id: alerts\n    request:\n      path: /security/alerts_v2\n      query:\n        $top: 2\n      paginate: true\n"
    ));
    let fake = Arc::new(Fake::new().on(|c| match &c.target {
        super::connection::Target::Path(p) if p == "/v1.0/security/alerts_v2" => Some((200, json!({"value": [1, 2], "@odata.nextLink": "https://fake.example/v1.0/security/alerts_v2?page=2"}))),
        super::connection::Target::Url(_) => Some((200, json!({"value": [3]}))),
        super::connection::Target::Path(_) => None,
    }));
    let r = run(&p, fake).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    assert_eq!(r.step("alerts").count, Some(3));
}

fn isolate_playbook(max: u32) -> Playbook {
    playbook_with(
        &format!("max_targets: {max}\n"),
        &format!(
            "{LOGIN}  - id: iso\n    for_each: [m1, m2, m3]\n    machine_action:\n      action: isolate\n      machine_id: \"{{{{ item }}}}\"\n      comment: \"huntbook {{{{ run.playbook }}}}\"\n"
        ),
    )
}

fn machines() -> Fake {
    Fake::new()
        .on(|c| {
            (c.target.display_path() == "/api/machineactions").then(|| {
                // m2 is already isolated.
                let m2 = c.query.iter().any(|(_, v)| v.contains("'m2'"));
                let value = if m2 {
                    json!([{"id": "old", "type": "Isolate", "status": "Succeeded", "machineId": "m2", "creationDateTimeUtc": "2026-01-01T00:00:00Z"}])
                } else {
                    json!([])
                };
                (200, json!({ "value": value }))
            })
        })
        .on(|c| {
            let p = c.target.display_path();
            p.ends_with("/isolate").then(|| {
                (201, json!({"id": "new", "type": "Isolate", "status": "Pending", "machineId": p.split('/').nth(3).unwrap_or("")}))
            })
        })
}

#[tokio::test]
async fn machine_actions_are_idempotent_and_report_changed() {
    let p = isolate_playbook(10);
    let fake = Arc::new(machines());
    let mut o = options();
    o.allow_actions = true;
    let r = run_with(&p, fake.clone(), &[], o).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    let s = r.step("iso");
    assert_eq!(s.status, Status::Changed);
    let statuses: Vec<Status> = s.iterations.iter().map(|i| i.status).collect();
    assert_eq!(statuses, vec![Status::Changed, Status::Ok, Status::Changed]);
    let posts: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("POST"))
        .collect();
    assert_eq!(
        posts,
        vec![
            "POST /api/machines/m1/isolate",
            "POST /api/machines/m3/isolate"
        ]
    );
    let journal = fake.journal.lock().unwrap();
    let body = journal.iter().find_map(|c| c.body.clone()).unwrap();
    assert_eq!(
        body,
        json!({"Comment": "huntbook t", "IsolationType": "Full"})
    );
}

#[tokio::test]
async fn max_targets_stops_before_the_action_over_the_limit() {
    let p = isolate_playbook(1);
    let fake = Arc::new(machines());
    let mut o = options();
    o.allow_actions = true;
    let r = run_with(&p, fake.clone(), &[], o).await;
    assert_eq!(r.exit(), 1);
    assert_eq!(r.error().kind, ErrorKind::Guard);
    assert!(
        r.error().message.contains("`max_targets` of 1"),
        "{}",
        r.error().message
    );
    let posts = fake
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("POST"))
        .count();
    assert_eq!(posts, 1);
}

#[tokio::test]
async fn a_dry_run_reads_but_sends_no_write() {
    let p = isolate_playbook(10);
    let fake = Arc::new(machines());
    let mut o = options();
    o.dry_run = true;
    let r = run_with(&p, fake.clone(), &[], o).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    assert!(
        fake.calls().iter().all(|c| c.starts_with("GET")),
        "{:?}",
        fake.calls()
    );
    let s = r.step("iso");
    assert_eq!(s.would_send.len(), 2);
    assert_eq!(
        s.would_send[0].url,
        "https://fake.example/api/machines/m1/isolate"
    );
}

#[tokio::test]
async fn writes_without_permission_to_act_are_refused() {
    let p = isolate_playbook(10);
    let r = run(&p, Arc::new(machines())).await;
    assert_eq!(r.exit(), 1);
    assert_eq!(r.error().kind, ErrorKind::Guard);
}

#[tokio::test]
async fn outputs_write_files_atomically_and_csv_neutralises_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let p = playbook(
        "  - id: s\n    set:\n      rows: [{a: \"=1+1\", b: 2}]\n  - id: o\n    output:\n      path: \"out/{{ run.id }}.csv\"\n      format: csv\n      data: \"{{ vars.rows }}\"\n",
    );
    let mut o = options();
    o.workdir = dir.path().to_path_buf();
    let r = run_with(&p, Arc::new(Fake::new()), &[], o).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    let text = std::fs::read_to_string(dir.path().join("out/run-1.csv")).unwrap();
    assert_eq!(text, "a,b\n'=1+1,2\n");
    assert_eq!(
        r.step("o").written.as_ref().unwrap().bytes,
        text.len() as u64
    );
}

#[tokio::test]
async fn dedupe_remembers_keys_in_the_state_across_runs() {
    let p = playbook_with(
        "inputs:\n  extra: { type: list, default: [] }\n",
        "  - id: f\n    filter:\n      input: \"{{ [{'k': 'a'}, {'k': 'b'}, {'k': 'b'}] + inputs.extra }}\"\n      dedupe:\n        key: \"{{ item.k }}\"\n        window: 1d\n  - output:\n      format: text\n      template: \"{{ steps.f.items | map(attribute='k') | join(',') }};\"\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let once = |inputs: &'static [&'static str]| {
        let p = &p;
        let dir = dir.path().to_path_buf();
        async move {
            let o = options();
            let store = crate::state::StateStore::open_at(&dir, "t", o.started_at).unwrap();
            let args: Vec<String> = inputs.iter().map(|s| (*s).to_string()).collect();
            let inputs = inputs::resolve(p, &args).unwrap();
            let buf = Buf::default();
            let engine = Engine::new(Arc::new(Fake::new()))
                .with_stdout(Arc::new(Mutex::new(Box::new(buf.clone()))));
            let out = engine.run(p, &inputs, &o, Some(store)).await;
            let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
            (out.report, text)
        }
    };
    let (first, text) = once(&[]).await;
    assert_eq!(text, "a,b;", "repeats within one run are dropped too");
    assert!(first.state.as_ref().unwrap().saved);
    let (second, text) = once(&[r#"extra=[{"k": "c"}]"#]).await;
    assert_eq!(second.exit_code, 0);
    assert_eq!(text, "c;", "keys of the first run are remembered");
}

#[tokio::test]
async fn a_failed_run_leaves_the_state_as_it_was() {
    let p = playbook(
        "  - id: f\n    filter:\n      input: \"{{ [{'k': 'a'}] }}\"\n      dedupe:\n        key: \"{{ item.k }}\"\n  - assert:\n      that: false\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let o = options();
    let store = crate::state::StateStore::open_at(dir.path(), "t", o.started_at).unwrap();
    let out = Engine::new(Arc::new(Fake::new()))
        .run(&p, &Inputs::default(), &o, Some(store))
        .await;
    assert_eq!(out.report.exit_code, 3);
    let state = out.report.state.unwrap();
    assert!(!state.saved);
    assert!(!dir.path().join("t.json").exists());
}

#[tokio::test]
async fn an_interrupted_run_starts_no_more_steps() {
    let p = playbook("  - set: { a: 1 }\n  - set: { b: 2 }\n");
    let engine = Engine::new(Arc::new(Fake::new()));
    engine
        .cancel_handle()
        .trigger(crate::signals::Signal::Terminate);
    let out = engine.run(&p, &Inputs::default(), &options(), None).await;
    assert_eq!(out.report.exit_code, 143);
    assert!(out.report.steps.iter().all(|s| s.status == Status::Skipped));
}

#[tokio::test]
async fn a_refused_sign_in_exits_4_and_runs_nothing_else() {
    let p = playbook(&format!("{LOGIN}  - id: h\n    hunt:\n      query: X\n"));
    let fake = Arc::new(hunting(json!([])).failing_auth(StepError::new(
        ErrorKind::Auth,
        "the identity platform refused the request (invalid_client, AADSTS7000215)",
    )));
    let r = run(&p, fake.clone()).await;
    assert_eq!(r.exit(), 4);
    assert_eq!(r.error().label, "step `login`");
    assert_eq!(r.step("h").status, Status::Skipped);
    assert!(fake.calls().is_empty());
}

fn update_playbook() -> Playbook {
    playbook_with(
        "max_targets: 1\n",
        &format!(
            "{LOGIN}  - id: up\n    incidents:\n      update:\n        id: \"42\"\n        status: in_progress\n        tags: [huntbook]\n        comment: isolated 2 devices\n"
        ),
    )
}

#[tokio::test]
async fn a_graph_update_is_one_action_of_two_writes_with_only_the_given_fields() {
    let fake = Arc::new(
        Fake::new()
            .route(
                "PATCH",
                "/v1.0/security/incidents/42",
                200,
                json!({"id": "42", "status": "inProgress"}),
            )
            .route(
                "POST",
                "/v1.0/security/incidents/42/comments",
                200,
                json!({"value": []}),
            )
            .route(
                "GET",
                "/v1.0/security/incidents/42",
                200,
                json!({"id": "42", "comments": [{"comment": "isolated 2 devices"}]}),
            ),
    );
    let mut o = options();
    o.allow_actions = true;
    let r = run_with(&update_playbook(), fake.clone(), &[], o).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    assert_eq!(r.step("up").status, Status::Changed);
    assert_eq!(
        fake.calls(),
        vec![
            "PATCH /v1.0/security/incidents/42",
            "POST /v1.0/security/incidents/42/comments",
            "GET /v1.0/security/incidents/42"
        ]
    );
    let journal = fake.journal.lock().unwrap();
    assert_eq!(
        journal[0].body,
        Some(json!({"status": "inProgress", "customTags": ["huntbook"]}))
    );
    assert_eq!(
        journal[1].body.as_ref().unwrap()["comment"],
        "isolated 2 devices"
    );
}

#[tokio::test]
async fn a_comment_that_landed_despite_an_error_is_not_posted_again() {
    let fake = Arc::new(
        Fake::new()
            .route(
                "PATCH",
                "/v1.0/security/incidents/42",
                200,
                json!({"id": "42"}),
            )
            .route(
                "POST",
                "/v1.0/security/incidents/42/comments",
                503,
                json!({"error": {"message": "unavailable"}}),
            )
            .route(
                "GET",
                "/v1.0/security/incidents/42",
                200,
                json!({"id": "42", "comments": [{"comment": "isolated 2 devices"}]}),
            ),
    );
    let mut o = options();
    o.allow_actions = true;
    let r = run_with(&update_playbook(), fake.clone(), &[], o).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    let posts = fake
        .calls()
        .iter()
        .filter(|c| c.starts_with("POST"))
        .count();
    assert_eq!(posts, 1);
}

#[tokio::test]
async fn a_dry_run_update_lists_both_writes() {
    let fake = Arc::new(Fake::new());
    let mut o = options();
    o.dry_run = true;
    let r = run_with(&update_playbook(), fake.clone(), &[], o).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    let writes = &r.step("up").would_send;
    let methods: Vec<&str> = writes.iter().map(|w| w.method).collect();
    assert_eq!(methods, vec!["PATCH", "POST"]);
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn when_reading_item_is_evaluated_per_element() {
    let p = playbook(
        "  - id: per\n    for_each: [1, 2, 3, 4]\n    when: item % 2 == 0\n    filter:\n      input: \"{{ [item] }}\"\n      jsonpath: \"$[*]\"\n  - output:\n      format: text\n      template: \"{{ steps.per.items | join(',') }} {{ steps.per.iterations | map(attribute='outcome') | join(',') }}\"\n",
    );
    let r = run(&p, Arc::new(Fake::new())).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    assert_eq!(r.stdout, "2,4 skipped,ok,skipped,ok");
}

#[tokio::test]
async fn a_failing_iteration_stops_new_ones_unless_errors_continue() {
    let steps = |policy: &str| {
        format!(
            "  - id: per\n    for_each: [1, 0, 2, 3]\n    on_error: {policy}\n    filter:\n      input: \"{{{{ [10 // item] }}}}\"\n      jsonpath: \"$[*]\"\n"
        )
    };
    let r = run(&playbook(&steps("fail")), Arc::new(Fake::new())).await;
    assert_eq!(r.exit(), 1);
    let statuses: Vec<Status> = r.step("per").iterations.iter().map(|i| i.status).collect();
    assert_eq!(
        statuses,
        vec![Status::Ok, Status::Failed, Status::Skipped, Status::Skipped]
    );
    let r = run(&playbook(&steps("continue")), Arc::new(Fake::new())).await;
    assert_eq!(r.exit(), 0);
    let statuses: Vec<Status> = r.step("per").iterations.iter().map(|i| i.status).collect();
    assert_eq!(
        statuses,
        vec![Status::Ok, Status::Failed, Status::Ok, Status::Ok]
    );
    assert_eq!(r.step("per").status, Status::Failed);
    assert!(r.step("per").continued);
}

#[tokio::test]
async fn an_empty_for_each_is_ok_with_empty_outputs() {
    let p = playbook(
        "  - set: { none: [] }\n  - id: per\n    for_each: vars.none\n    filter:\n      input: \"{{ [item] }}\"\n      jsonpath: \"$[*]\"\n  - output:\n      format: text\n      template: \"{{ steps.per.count }}/{{ steps.per.items | length }}\"\n",
    );
    let r = run(&p, Arc::new(Fake::new())).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    assert_eq!(r.stdout, "0/0");
    assert_eq!(
        r.step("per").reason.as_deref(),
        Some("`for_each` gave an empty list")
    );
}

#[tokio::test]
async fn a_for_each_that_is_not_a_list_fails_clearly() {
    let p = playbook(
        "  - set: { m: \"{{ {'a': 1} }}\" }\n  - id: per\n    for_each: vars.m\n    filter:\n      input: \"{{ [item] }}\"\n      jsonpath: \"$[*]\"\n",
    );
    let r = run(&p, Arc::new(Fake::new())).await;
    assert_eq!(r.exit(), 1);
    assert_eq!(r.error().kind, ErrorKind::Data);
    assert!(
        r.error()
            .message
            .contains("`for_each` must give a list, but it gives a map"),
        "{}",
        r.error().message
    );
}

#[tokio::test]
async fn nested_loops_bind_the_innermost_item() {
    let p = playbook(
        "  - id: outer\n    for_each: [a, b]\n    steps:\n      - id: inner\n        for_each: [1, 2]\n        filter:\n          input: \"{{ [item] }}\"\n          jsonpath: \"$[*]\"\n  - output:\n      format: text\n      template: \"{% for it in steps.outer.iterations %}{{ it.inner.items | join('') }};{% endfor %}\"\n",
    );
    let r = run(&p, Arc::new(Fake::new())).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    assert_eq!(r.stdout, "12;12;");
}

#[tokio::test]
async fn a_failing_step_inside_a_continued_block_lets_the_run_go_on() {
    let p = playbook(
        "  - id: blk\n    on_error: continue\n    steps:\n      - id: bad\n        assert:\n          that: false\n      - id: never\n        set: { x: 1 }\n  - id: after\n    set: { y: 2 }\n",
    );
    let r = run(&p, Arc::new(Fake::new())).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    let blk = r.step("blk");
    assert_eq!(blk.status, Status::Failed);
    assert!(blk.continued);
    assert_eq!(blk.error.as_ref().unwrap().label, "step `bad`");
    assert_eq!(r.step("never").status, Status::Skipped);
    assert_eq!(r.step("after").status, Status::Ok);
}

#[tokio::test]
async fn filtered_hunt_rows_stay_rows_and_csv_keeps_the_schema_order() {
    let dir = tempfile::tempdir().unwrap();
    let p = playbook(&format!(
        "{LOGIN}  - id: hunt\n    hunt:\n      query: X\n  - id: f\n    filter:\n      input: \"{{{{ steps.hunt.results }}}}\"\n      jsonpath: \"$[?@.B > 1]\"\n      dedupe:\n        key: \"{{{{ item.A }}}}\"\n  - output:\n      path: out.csv\n      data: \"{{{{ steps.f.items }}}}\"\n"
    ));
    let fake = Arc::new(Fake::new().route(
        "POST",
        "/v1.0/security/runHuntingQuery",
        200,
        json!({"schema": [{"name": "B", "type": "Int64"}, {"name": "A", "type": "String"}],
               "results": [{"A": "=x", "B": 2}, {"A": "y", "B": 1}, {"A": "=x", "B": 3}, {"A": "z", "B": 5}]}),
    ));
    let mut o = options();
    o.workdir = dir.path().to_path_buf();
    let r = run_with(&p, fake, &[], o).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out.csv")).unwrap(),
        "B,A\n2,'=x\n5,z\n"
    );
}

#[tokio::test]
async fn an_opaque_token_skips_the_preflight_instead_of_failing_it() {
    let p = playbook(&format!("{LOGIN}  - id: hunt\n    hunt:\n      query: X\n"));
    let fake = Arc::new(hunting(json!([])).roles("graph", &[]).opaque());
    let r = run(&p, fake.clone()).await;
    assert_eq!(r.exit(), 0, "{:#?}", r.out.report.error);
    assert_eq!(fake.calls(), vec!["POST /v1.0/security/runHuntingQuery"]);
}

#[tokio::test]
async fn waiting_for_an_action_that_fails_fails_the_step_clearly() {
    let p = playbook(&format!(
        "{LOGIN}  - id: scan\n    machine_action:\n      action: run_av_scan\n      machine_id: 0123456789abcdef0123456789abcdef01234567\n      comment: sweep\n      wait: true\n"
    ));
    let fake = Arc::new(
        Fake::new()
            .route("GET", "/api/machineactions", 200, json!({"value": []}))
            .route(
                "POST",
                "/api/machines/0123456789abcdef0123456789abcdef01234567/runAntiVirusScan",
                201,
                json!({"id": "a1", "type": "RunAntiVirusScan", "status": "Pending", "machineId": "0123456789abcdef0123456789abcdef01234567"}),
            )
            .route(
                "GET",
                "/api/machineactions/a1",
                200,
                json!({"id": "a1", "type": "RunAntiVirusScan", "status": "Failed", "machineId": "0123456789abcdef0123456789abcdef01234567"}),
            ),
    );
    let mut o = options();
    o.allow_actions = true;
    let r = run_with(&p, fake.clone(), &[], o).await;
    assert_eq!(r.exit(), 1);
    assert_eq!(
        r.error().message,
        "machine action RunAntiVirusScan a1 on machine 0123456789abcdef0123456789abcdef01234567 ended `Failed`"
    );
    let journal = fake.journal.lock().unwrap();
    let body = journal.iter().find_map(|c| c.body.clone()).unwrap();
    assert_eq!(body, json!({"Comment": "sweep", "ScanType": "Quick"}));
}

#[tokio::test]
async fn the_final_steps_and_vars_come_back_when_the_run_stops_at_a_failed_assert() {
    let p = playbook(&format!(
        "{LOGIN}  - id: hunt\n    hunt:\n      query: T | take 2\n  - id: blk\n    steps:\n      - set: {{ seen: \"{{{{ steps.hunt.count }}}}\" }}\n  - id: gate\n    assert:\n      that: [steps.hunt.count == 0]\n  - id: never\n    set: {{ late: 1 }}\n"
    ));
    let fake = Arc::new(hunting(json!([
        {"DeviceName": "a", "AccountName": "x"},
        {"DeviceName": "b", "AccountName": "y"}
    ])));
    let r = run(&p, fake).await;
    assert_eq!(r.exit(), 3);
    let steps = crate::template::value::to_json(&r.out.steps).unwrap();
    let vars = crate::template::value::to_json(&r.out.vars).unwrap();
    assert_eq!(steps["hunt"]["count"], json!(2));
    assert_eq!(steps["hunt"]["results"][1]["DeviceName"], json!("b"));
    assert_eq!(steps["gate"]["outcome"], json!("failed"));
    assert!(steps["gate"]["error"].is_string(), "{steps:#}");
    // A step the run never reached has no outputs, and its `set` never happened.
    assert!(steps.get("never").is_none(), "{steps:#}");
    // A `set` inside a block stays visible after it.
    assert_eq!(vars, json!({"seen": 2}));
}
