//! End to end over loopback: a hunting response served in small chunks is read with reqwest
//! into a `RowSet`, filtered, and written as CSV / JSONL — the path the engine's hunt,
//! filter and output steps take.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use bytes::Bytes;
use huntbook::rows::{
    CsvOptions, FilterOutput, ParseOptions, RowFilter, Rows, read_response, write_csv, write_jsonl,
};
use serde_json::{Value, json};

fn response(rows: usize) -> Value {
    let results: Vec<Value> = (0..rows)
        .map(|i| {
            json!({
                "Timestamp": format!("2026-11-24T10:{:02}:{:02}.{}Z", i / 60 % 60, i % 60, "1234567".get(..i % 8).unwrap_or("")),
                "DeviceName": format!("ws-{}", i % 7),
                "AccountName": if i % 3 == 0 { "system".to_owned() } else { format!("user{}", i % 11) },
                "ProcessCommandLine": if i % 5 == 0 { "=cmd|' /C calc'!A0".to_owned() } else { format!("C:\\Windows\\cmd.exe /c echo \"{i}\"") },
                "ReportId": i,
                "AdditionalFields": if i % 4 == 0 { json!({"k": [i, "v"]}) } else { Value::Null },
            })
        })
        .collect();
    json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults",
        "schema": [
            {"name": "Timestamp", "type": "DateTime"},
            {"name": "DeviceName", "type": "String"},
            {"name": "AccountName", "type": "String"},
            {"name": "ProcessCommandLine", "type": "String"},
            {"name": "ReportId", "type": "Int64"},
            {"name": "AdditionalFields", "type": "Dynamic"}
        ],
        "results": results
    })
}

/// Serve `body` at POST /v1.0/security/runHuntingQuery in 997-byte chunks (odd, so chunk
/// edges fall inside strings, escapes and numbers).
async fn serve(body: Vec<u8>) -> String {
    let body = Bytes::from(body);
    let app = Router::new().route(
        "/v1.0/security/runHuntingQuery",
        post(move || {
            let body = body.clone();
            async move {
                let chunks: Vec<Result<Bytes, std::io::Error>> = (0..body.len())
                    .step_by(997)
                    .map(|i| Ok(body.slice(i..(i + 997).min(body.len()))))
                    .collect();
                Body::from_stream(futures_util::stream::iter(chunks))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn hunt_filter_and_write_over_loopback() {
    let doc = response(3000);
    let base = serve(serde_json::to_vec(&doc).unwrap()).await;
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1.0/security/runHuntingQuery"))
        .json(&json!({"Query": "DeviceProcessEvents"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let set = read_response(resp, ParseOptions::default()).await.unwrap();
    assert_eq!(set.len(), 3000);
    let rows = Rows::all(Arc::new(set));
    // Nothing was lost or altered on the way: the rows' JSON is the served JSON.
    assert_eq!(rows.to_json_value(), doc["results"]);

    let filter = RowFilter::compile("$[?@.AccountName != 'system']").unwrap();
    assert!(filter.is_fast());
    let FilterOutput::Rows(kept) = filter.apply(&rows) else {
        panic!("rows expected")
    };
    assert_eq!(kept.len(), 2000);

    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("noisy.csv");
    let mut tmp = tempfile::NamedTempFile::new_in(dir.path()).unwrap();
    write_csv(&kept, tmp.as_file_mut(), &CsvOptions::default()).unwrap();
    tmp.persist(&csv_path).unwrap();
    let text = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("Timestamp,DeviceName,AccountName,ProcessCommandLine,ReportId,AdditionalFields")
    );
    assert_eq!(
        lines.next(),
        Some("2026-11-24T10:00:01.1Z,ws-1,user1,\"C:\\Windows\\cmd.exe /c echo \"\"1\"\"\",1,")
    );
    assert!(
        text.contains(",'=cmd|' /C calc'!A0,"),
        "formula cells are neutralised"
    );
    assert!(text.contains(",\"{\"\"k\"\":[4,\"\"v\"\"]}\"\n"));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.records().count(), 2000);

    let mut jsonl = Vec::new();
    write_jsonl(&kept, &mut jsonl).unwrap();
    let first: Value =
        serde_json::from_slice(jsonl.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first, doc["results"][1]);
}

#[tokio::test]
async fn a_cut_off_body_is_a_clear_error() {
    let mut body = serde_json::to_vec(&response(50)).unwrap();
    body.truncate(body.len() / 2);
    let base = serve(body).await;
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1.0/security/runHuntingQuery"))
        .send()
        .await
        .unwrap();
    let err = read_response(resp, ParseOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("hunting response"), "{err}");
}

#[test]
fn playbook_templates_see_hunt_rows_as_ordinary_values() {
    use huntbook::template::{Engine, FieldKind};
    let body = br#"{"schema":[{"name":"Timestamp","type":"DateTime"},{"name":"AccountName","type":"String"}],
        "results":[{"Timestamp":"2026-11-24T10:00:01Z","AccountName":"system"},
                   {"Timestamp":"2026-11-24T10:00:02.123Z","AccountName":"alice"},
                   {"Timestamp":"2026-11-24T10:00:03.1234567Z","AccountName":"bob"}]}"#;
    let set = Arc::new(huntbook::rows::RowSet::from_slice(body).unwrap());
    let scope = minijinja::context! {
        steps => minijinja::context! { hunt => huntbook::rows::hunt_outputs(set) }
    };
    let engine = Engine::new();
    let render = |src: &str| {
        let field = engine.compile(src, FieldKind::Text).unwrap();
        engine.render(&field, &scope).unwrap()
    };
    // Datetimes with 0, 3 and 7 fraction digits all work with the `date` filter.
    assert_eq!(
        render(
            "{% for r in steps.hunt.results %}{{ r.Timestamp | date('%H:%M:%S') }};{% endfor %}"
        )
        .to_string(),
        "10:00:01;10:00:02;10:00:03;"
    );
    assert_eq!(render("{{ steps.hunt.count }}").to_string(), "3");
    let json: Value =
        serde_json::from_str(&render("{{ steps.hunt.results | tojson }}").to_string()).unwrap();
    assert_eq!(
        json[2],
        json!({"Timestamp": "2026-11-24T10:00:03.1234567Z", "AccountName": "bob"})
    );
    // `filter.input: "{{ steps.hunt.results }}"` hands the rows themselves to the filter.
    let input = render("{{ steps.hunt.results }}");
    let rows = Rows::from_value(&input).expect("the lone expression keeps the rows");
    let out = RowFilter::compile("$[?@.AccountName != 'system']")
        .unwrap()
        .apply_value(&input)
        .unwrap();
    assert_eq!(out.count(), 2);
    assert_eq!(rows.len(), 3);
}
