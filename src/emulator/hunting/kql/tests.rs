//! End-to-end tests of the engine over small in-memory tables, most of them the worked
//! examples of the KQL reference (`kql-reference.md`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value as J, json};

use super::value::{TICKS_PER_HOUR, parse_datetime};
use super::*;

struct Mem(HashMap<String, Relation>);

impl Catalog for Mem {
    fn schema(&self, table: &str) -> Option<Vec<ColumnDef>> {
        self.0.get(table).map(|r| r.schema.clone())
    }
    fn table_names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

impl TableSource for Mem {
    fn scan(&self, table: &str) -> Result<Relation, KqlError> {
        self.0
            .get(table)
            .cloned()
            .ok_or_else(|| KqlError::semantic(Span::default(), "no table"))
    }
}

fn now() -> i64 {
    parse_datetime("2024-05-10T12:00:00Z").unwrap()
}

fn events() -> Mem {
    let q = r#"datatable(Timestamp:datetime, DeviceId:string, FileName:string, ProcessCommandLine:string, Size:long, AdditionalFields:dynamic)[
        datetime(2024-05-10T11:30:00Z), "d1", "powershell.exe", "powershell.exe -NoProfile -enc SQBFAFgA", 10, dynamic({"Port": 443, "User": "bob"}),
        datetime(2024-05-10T10:10:00Z), "d1", "cmd.exe", @"C:\Windows\System32\cmd.exe /c whoami", 20, dynamic({"Port": 80}),
        datetime(2024-05-09T09:00:00Z), "d2", "PowerShell.EXE", "powershell -encodedcommand AAAA", 30, dynamic(null),
        datetime(2024-04-01T00:00:00Z), "d2", "chrome.exe", "chrome.exe --type=renderer", long(null), dynamic({"Port": 443})
    ]"#;
    let rel = run(q, &Mem(HashMap::new()), &env()).unwrap();
    let mut m = HashMap::new();
    m.insert("Events".to_string(), rel);
    Mem(m)
}

fn env() -> Env {
    Env {
        now: now(),
        window: None,
        deadline: None,
    }
}

fn go(q: &str) -> Result<Relation, KqlError> {
    run(q, &events(), &env())
}

fn columns(r: &Relation) -> Vec<String> {
    r.schema.iter().map(|c| c.name.to_string()).collect()
}

fn rows(r: &Relation) -> Vec<J> {
    (0..r.len())
        .map(|i| J::Array(r.row(i).iter().map(Value::to_json).collect()))
        .collect()
}

fn ok(q: &str) -> (Vec<String>, Vec<J>) {
    let r = go(q).unwrap_or_else(|e| panic!("{q}: {}", e.message(q)));
    (columns(&r), rows(&r))
}

fn err(q: &str) -> String {
    match go(q) {
        Ok(r) => panic!("{q} succeeded: {:?}", rows(&r)),
        Err(e) => e.message(q),
    }
}

#[test]
fn where_keeps_only_true_rows() {
    let (_, r) = ok(r#"datatable(ival:int, sval:string)[5,"a", int(null),"b"] | where ival != 5"#);
    assert_eq!(r, vec![json!([null, "b"])]);
    let (_, r) = ok("datatable(x:long)[1, long(null), 5] | where x > 2");
    assert_eq!(r, vec![json!([5])]);
    let (_, r) = ok("datatable(x:long)[1, 3, long(null)] | where x !in (1, 2)");
    assert_eq!(r, vec![json!([3]), json!([null])]);
}

#[test]
fn project_naming_and_default_columns() {
    let (c, r) =
        ok(r#"datatable(a:string, b:long)["x", 1] | project b, n = strlen(a), tolower(a)"#);
    assert_eq!(c, vec!["b", "n", "Column1"]);
    assert_eq!(r, vec![json!([1, 1, "x"])]);
    let (c, r) = ok(
        r#"datatable(Name:string)["ab"] | extend strlen(Name), Upper = toupper(Name), toupper(Name)"#,
    );
    assert_eq!(c, vec!["Name", "strlen_Name", "Upper", "Column1"]);
    assert_eq!(r, vec![json!(["ab", 2, "AB", "AB"])]);
    let (c, _) = ok(r#"datatable(a:string)["x"] | project strlen(a), strlen(a)"#);
    assert_eq!(c, vec!["strlen_a", "strlen_a1"]);
    let (c, _) =
        ok("Events | project AdditionalFields.Port, tostring(AdditionalFields.User) | take 1");
    assert_eq!(c, vec!["AdditionalFields_Port", "AdditionalFields_User"]);
    assert!(
        err(r#"datatable(a:string)["x"] | project b = a, b = a"#)
            .contains("A column with the name 'b' is already declared.")
    );
}

#[test]
fn extend_replaces_existing_columns_in_place() {
    let (c, r) = ok(
        "Events | take 1 | project Timestamp, Size | extend Timestamp = bin(Timestamp, 1d), x = Size * 2, y = x + 1",
    );
    assert_eq!(c, vec!["Timestamp", "Size", "x", "y"]);
    assert_eq!(r, vec![json!(["2024-05-10T00:00:00.0000000Z", 10, 20, 21])]);
}

#[test]
fn summarize_examples_from_the_reference() {
    let t = r#"datatable(k:string, v:long)["a",1, "a",2, "b",5, "b",long(null)]"#;
    let (c, r) = ok(&format!(
        "{t} | summarize count(), sum(v), make_set(v) by k"
    ));
    assert_eq!(c, vec!["k", "count_", "sum_v", "set_v"]);
    assert_eq!(r, vec![json!(["a", 2, 3, [1, 2]]), json!(["b", 2, 5, [5]])]);

    let t = r#"datatable(k:string, v:long)["a",3, "a",long(null), "b",7]"#;
    let (c, r) = ok(&format!(
        "{t} | summarize c=count(), n=countif(v > 2), d=dcount(v), s=make_set(v), arg_max(v, *) by k"
    ));
    assert_eq!(c, vec!["k", "c", "n", "d", "s", "v"]);
    assert_eq!(
        r,
        vec![json!(["a", 2, 1, 1, [3], 3]), json!(["b", 1, 1, 1, [7], 7])]
    );

    let (c, _) = ok("datatable(y:long)[1] | summarize make_set(y), make_set(y)");
    assert_eq!(c, vec!["set_y", "set_y1"]);
}

#[test]
fn summarize_on_empty_input() {
    let (c, r) =
        ok("Events | where Size > 1000 | summarize count(), make_list(FileName), max(Size)");
    assert_eq!(c, vec!["count_", "list_FileName", "max_Size"]);
    assert_eq!(r, vec![json!([0, [], null])]);
    let (_, r) = ok("Events | where Size > 1000 | summarize count() by DeviceId");
    assert!(r.is_empty());
}

#[test]
fn summarize_bins_arg_max_and_expressions() {
    let (c, r) = ok("Events | summarize n = count() by bin(Timestamp, 1d) | sort by Timestamp asc");
    assert_eq!(c, vec!["Timestamp", "n"]);
    assert_eq!(r[0], json!(["2024-04-01T00:00:00.0000000Z", 1]));
    assert_eq!(r.len(), 3);
    let (c, r) = ok("Events | summarize arg_max(Timestamp, *) by DeviceId");
    assert_eq!(
        c,
        vec![
            "DeviceId",
            "Timestamp",
            "FileName",
            "ProcessCommandLine",
            "Size",
            "AdditionalFields"
        ]
    );
    assert_eq!(r[0][2], json!("powershell.exe"));
    assert_eq!(r[1][2], json!("PowerShell.EXE"));
    let (c, r) = ok(
        "Events | summarize Total = count(), Pct = 100.0 * countif(FileName =~ 'powershell.exe') / count(), dcount(DeviceId)",
    );
    assert_eq!(c, vec!["Total", "Pct", "dcount_DeviceId"]);
    assert_eq!(r, vec![json!([4, 50.0, 2])]);
    let (c, r) = ok("Events | summarize arg_min(Timestamp, FileName, Size + 1) by DeviceId");
    assert_eq!(
        c,
        vec!["DeviceId", "Timestamp", "FileName", "min_Timestamp_arg2"]
    );
    assert_eq!(
        r[1],
        json!(["d2", "2024-04-01T00:00:00.0000000Z", "chrome.exe", null])
    );
    let (c, r) = ok("Events | summarize take_any(FileName), avg(Size), min(Timestamp), sum(Size)");
    assert_eq!(c, vec!["FileName", "avg_Size", "min_Timestamp", "sum_Size"]);
    assert_eq!(
        r,
        vec![json!([
            "powershell.exe",
            20.0,
            "2024-04-01T00:00:00.0000000Z",
            60
        ])]
    );
    assert!(
        err("Events | summarize count() by AdditionalFields")
            .contains("Summarize group key 'AdditionalFields' is of a 'dynamic' type")
    );
    assert!(err("Events | summarize FileName").contains("must be inside an aggregation function"));
    assert!(err("Events | summarize 1").contains("must contain an aggregation function"));
    assert!(
        err("Events | summarize count() + Size")
            .contains("column 'Size' must be inside an aggregation")
    );
}

#[test]
fn count_take_top_sort_distinct() {
    assert_eq!(
        ok("Events | count"),
        (vec!["Count".to_string()], vec![json!([4])])
    );
    assert_eq!(ok("Events | take 2").1.len(), 2);
    let t = "datatable(x:long)[2, long(null), 5, 1]";
    assert_eq!(
        ok(&format!("{t} | top 2 by x")).1,
        vec![json!([5]), json!([2])]
    );
    assert_eq!(
        ok(&format!("{t} | top 2 by x asc")).1,
        vec![json!([null]), json!([1])]
    );
    let t = "datatable(x:long)[2, long(null), 5]";
    assert_eq!(
        ok(&format!("{t} | sort by x")).1,
        vec![json!([5]), json!([2]), json!([null])]
    );
    assert_eq!(
        ok(&format!("{t} | order by x asc")).1,
        vec![json!([null]), json!([2]), json!([5])]
    );
    assert_eq!(
        ok(&format!("{t} | sort by x desc nulls first")).1,
        vec![json!([null]), json!([5]), json!([2])]
    );
    let (c, r) = ok("Events | distinct DeviceId");
    assert_eq!(c, vec!["DeviceId"]);
    assert_eq!(r, vec![json!(["d1"]), json!(["d2"])]);
    let (_, r) = ok(r#"datatable(a:string, b:long)["a",1, "a",1, "b",2] | distinct *"#);
    assert_eq!(r, vec![json!(["a", 1]), json!(["b", 2])]);
    assert!(err("Events | sort by AdditionalFields").contains("dynamic"));
}

#[test]
fn project_away_rename_reorder_keep() {
    let (c, _) = ok("Events | project-away Size, Add*");
    assert_eq!(
        c,
        vec!["Timestamp", "DeviceId", "FileName", "ProcessCommandLine"]
    );
    let (c, _) = ok("Events | project-rename Device = DeviceId | project-keep Dev*, File*");
    assert_eq!(c, vec!["Device", "FileName"]);
    let (c, _) = ok("print b='b', a2='a2', a3='a3', a1='a1' | project-reorder a* asc");
    assert_eq!(c, vec!["a1", "a2", "a3", "b"]);
    assert!(err("Events | project-rename FileName = DeviceId").contains("already declared"));
    assert!(err("Events | project-away Sise").contains("Did you mean 'Size'?"));
}

#[test]
fn string_predicates() {
    let n = |pred: &str| ok(&format!("Events | where {pred} | count")).1[0][0].clone();
    assert_eq!(n("FileName =~ 'POWERSHELL.exe'"), json!(2));
    assert_eq!(n("FileName == 'powershell.exe'"), json!(1));
    assert_eq!(n("FileName !~ 'powershell.exe'"), json!(2));
    assert_eq!(n("ProcessCommandLine has '-enc'"), json!(1));
    assert_eq!(n("ProcessCommandLine has 'cmd.exe'"), json!(1));
    assert_eq!(n("ProcessCommandLine has 'md.exe'"), json!(0));
    assert_eq!(n("ProcessCommandLine !has 'powershell'"), json!(2));
    assert_eq!(n("ProcessCommandLine contains 'ENC'"), json!(2));
    assert_eq!(n("ProcessCommandLine contains_cs 'ENC'"), json!(0));
    assert_eq!(n("ProcessCommandLine !contains 'exe'"), json!(1));
    assert_eq!(n("FileName startswith 'power'"), json!(2));
    assert_eq!(n("FileName endswith '.EXE'"), json!(4));
    assert_eq!(n("FileName endswith_cs '.EXE'"), json!(1));
    assert_eq!(n("FileName in ('cmd.exe', 'chrome.exe')"), json!(2));
    assert_eq!(n("FileName in~ ('POWERSHELL.EXE')"), json!(2));
    assert_eq!(n("FileName !in~ ('POWERSHELL.EXE')"), json!(2));
    assert_eq!(
        n("FileName in (dynamic(['cmd.exe', ['chrome.exe']]))"),
        json!(2)
    );
    assert_eq!(
        n("ProcessCommandLine has_any ('whoami', 'renderer')"),
        json!(2)
    );
    assert_eq!(
        n("ProcessCommandLine has_all ('powershell', '-enc')"),
        json!(1)
    );
    assert_eq!(
        n(r"ProcessCommandLine matches regex @'-enc(odedcommand)?\s'"),
        json!(2)
    );
    assert_eq!(n("Size between (10 .. 20)"), json!(2));
    assert_eq!(n("Size !between (10 .. 20)"), json!(1));
    assert_eq!(n("isempty(Size)"), json!(1));
    assert_eq!(
        n("isnotempty(FileName) and not(FileName has 'cmd')"),
        json!(3)
    );
    assert_eq!(n("AdditionalFields.Port == 443"), json!(2));
    assert_eq!(n("AdditionalFields['User'] == 'bob'"), json!(1));
    assert_eq!(n("toint(AdditionalFields.Port) > 100"), json!(2));
    assert_eq!(n("isnull(AdditionalFields)"), json!(1));
}

#[test]
fn time_and_lets() {
    let (_, r) = ok(
        "let since = ago(1d); let name = 'cmd.exe'; Events | where Timestamp > since and FileName != name | project FileName",
    );
    assert_eq!(r, vec![json!(["powershell.exe"])]);
    let (_, r) =
        ok("Events | where Timestamp between (datetime(2024-05-09) .. 1d) | project FileName");
    assert_eq!(r, vec![json!(["PowerShell.EXE"])]);
    let (c, r) = ok(
        "print now(), ago(1h), datetime(2024-01-01) + 1d, now() - datetime(2024-05-10), 1d / 5h, 1.5 * 1h",
    );
    assert_eq!(
        c,
        vec![
            "print_0", "print_1", "print_2", "print_3", "print_4", "print_5"
        ]
    );
    assert_eq!(
        r[0],
        json!([
            "2024-05-10T12:00:00.0000000Z",
            "2024-05-10T11:00:00.0000000Z",
            "2024-01-02T00:00:00.0000000Z",
            "12:00:00",
            4.8,
            "01:30:00"
        ])
    );
    let (_, r) = ok("let recent = Events | where Timestamp > ago(2h); recent | count");
    assert_eq!(r, vec![json!([2])]);
    let (_, r) = ok(
        "print iff(1 > 2, 'a', 'b'), strcat('x', 1, true), case(false, 1, 2.5), 7 / 2, -14 % 12",
    );
    assert_eq!(r[0], json!(["b", "x1true", 2.5, 3, 10]));
}

#[test]
fn semantic_errors_name_and_place_the_problem() {
    assert_eq!(
        err("Events | project Filename"),
        "'project' operator: Failed to resolve scalar expression named 'Filename'. Did you mean 'FileName'? on line [1,18]"
    );
    assert_eq!(
        err("Events\n| where Timestamp > '2024-01-01'"),
        "'where' operator: Cannot compare values of types datetime and string with '>'. Try adding explicit casts. on line [2,9]"
    );
    assert!(err("Events | where FileName > 'a'").contains("strcmp"));
    assert!(err("Events | where Size").contains("must be of type bool, not long"));
    assert!(err("Events | where Size has '1'").contains("must be a string, not long"));
    assert!(err("Events | project count()").contains("cannot be invoked in current context"));
    assert_eq!(
        err("Evnts | take 1"),
        "Failed to resolve table or column expression named 'Evnts'. Did you mean 'Events'? on line [1,1]"
    );
    assert!(
        err("DeviceRegistryEvents | take 1")
            .contains("table `DeviceRegistryEvents` is not supported")
    );
    assert!(err("Events | render timechart | take 1").contains("last operator"));
    assert!(err("Events | extend x = FileName + 'a'").contains("strcat"));
    assert!(
        err("Events | where FileName matches regex '('").contains("invalid regular expression")
    );
    assert!(err("Events | extend x = percentile(Size, 50)").contains("is not supported"));
    assert!(err("Events | where tolowr(FileName) == 'a'").contains("Did you mean 'tolower'?"));
}

#[test]
fn render_is_accepted_last_and_changes_nothing() {
    let (_, r) = ok("Events | summarize count() by DeviceId | render columnchart with (title='x')");
    assert_eq!(r.len(), 2);
}

#[test]
fn getschema_describes_columns() {
    let (c, r) = ok("Events | project Timestamp, Size | getschema");
    assert_eq!(
        c,
        vec!["ColumnName", "ColumnOrdinal", "DataType", "ColumnType"]
    );
    assert_eq!(r[0], json!(["Timestamp", 0, "System.DateTime", "datetime"]));
    assert_eq!(r[1], json!(["Size", 1, "System.Int64", "long"]));
}

#[test]
fn window_restricts_scans_by_timestamp() {
    let mut e = env();
    e.window = Some((now() - 3 * TICKS_PER_HOUR, now()));
    let r = run("Events | count", &events(), &e).unwrap();
    assert_eq!(rows(&r), vec![json!([2])]);
}

#[test]
fn deadline_stops_evaluation() {
    let mut e = env();
    e.deadline = Some(Instant::now() - Duration::from_millis(1));
    let err = run("Events | count", &events(), &e).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert_eq!(
        err.message("Events | count"),
        "Query exceeded the timeout period."
    );
}

const LR: &str = r#"let L = datatable(k:string, v:long)["a",1, "b",2, "b",3];
let R = datatable(k:string, w:long)["b",10, "b",11, "c",20];
"#;

#[test]
fn join_flavours_follow_the_reference() {
    let j = |kind: &str| ok(&format!("{LR}L | join {kind} R on k"));
    let (c, r) = j("");
    assert_eq!(c, vec!["k", "v", "k1", "w"]);
    assert_eq!(r, vec![json!(["b", 2, "b", 10]), json!(["b", 2, "b", 11])]);
    assert_eq!(
        j("kind=inner").1,
        vec![
            json!(["b", 2, "b", 10]),
            json!(["b", 2, "b", 11]),
            json!(["b", 3, "b", 10]),
            json!(["b", 3, "b", 11])
        ]
    );
    let (_, r) = j("kind=leftouter");
    assert_eq!(r.len(), 5);
    assert_eq!(r[0], json!(["a", 1, "", null]));
    let (_, r) = j("kind=rightouter");
    assert_eq!(r.len(), 5);
    assert_eq!(r[4], json!(["", null, "c", 20]));
    assert_eq!(j("kind=fullouter").1.len(), 6);
    assert_eq!(
        j("kind=leftsemi"),
        (
            vec!["k".to_string(), "v".to_string()],
            vec![json!(["b", 2]), json!(["b", 3])]
        )
    );
    assert_eq!(j("kind=leftanti").1, vec![json!(["a", 1])]);
    assert_eq!(j("kind=anti").1, vec![json!(["a", 1])]);
    assert_eq!(
        j("kind=rightsemi").1,
        vec![json!(["b", 10]), json!(["b", 11])]
    );
    assert_eq!(j("kind=rightanti").1, vec![json!(["c", 20])]);
    let (c, r) = ok(&format!(
        "{LR}L | join kind=inner (R | project-rename key = k) on $left.k == $right.key | project v, w"
    ));
    assert_eq!(c, vec!["v", "w"]);
    assert_eq!(r.len(), 4);
    assert!(err(&format!("{LR}L | join R on v")).contains("Failed to resolve column"));
    assert!(
        err(&format!(
            "{LR}L | join (R | extend d = dynamic(1)) on $left.k == $right.d"
        ))
        .contains("Join keys cannot be dynamic")
    );
    assert!(err(&format!("{LR}L | join R on $left.v == $right.k")).contains("different types"));
    assert!(err(&format!("{LR}L | join kind=outer R on k")).contains("is not a join kind"));
}

#[test]
fn union_outer_inner_and_withsource() {
    let t = r#"let T1 = datatable(x:long)[1]; let T2 = datatable(x:long, y:string)[2, "a"];"#;
    let (c, r) = ok(&format!("{t} union withsource=S T1, T2"));
    assert_eq!(c, vec!["S", "x", "y"]);
    assert_eq!(r, vec![json!(["T1", 1, ""]), json!(["T2", 2, "a"])]);
    let (c, _) = ok(&format!("{t} union kind=inner T1, T2"));
    assert_eq!(c, vec!["x"]);
    let (c, r) = ok(&format!("{t} T1 | union (T2 | project x = tostring(x))"));
    assert_eq!(c, vec!["x_long", "x_string"]);
    assert_eq!(r, vec![json!([1, ""]), json!([null, "2"])]);
    let (_, r) = ok("union Event* | count");
    assert_eq!(r, vec![json!([4])]);
    assert!(err("union Nope*").contains("matches no emulated table"));
    assert_eq!(
        ok("union isfuzzy=true Events, Nope | count").1,
        vec![json!([4])]
    );
    assert!(err("union Events, Nope").contains("Failed to resolve table"));
}

#[test]
fn mv_expand_rows_and_types() {
    let t = "datatable(a:long, b:dynamic)[1, dynamic([10, 20]), 2, dynamic([]), 3, dynamic(null)]";
    let (c, r) = ok(&format!("{t} | mv-expand b"));
    assert_eq!(c, vec!["a", "b"]);
    assert_eq!(r, vec![json!([1, 10]), json!([1, 20]), json!([3, null])]);
    let (c, r) = ok(&format!(
        "{t} | mv-expand with_itemindex=i n = b to typeof(long) limit 1"
    ));
    assert_eq!(c, vec!["a", "b", "n", "i"]);
    assert_eq!(r[0], json!([1, [10, 20], 10, 0]));
    assert_eq!(r.len(), 2);
    let (_, r) = ok(r#"print d = dynamic({"x": 1, "y": 2}) | mv-expand kind=array d"#);
    assert_eq!(r, vec![json!([["x", 1]]), json!([["y", 2]])]);
    let (c, r) = ok("print t = '[\"T1059\",\"T1027\"]' | mv-expand todynamic(t) to typeof(string)");
    assert_eq!(c, vec!["t"]);
    assert_eq!(r, vec![json!(["T1059"]), json!(["T1027"])]);
    assert!(err("Events | mv-expand FileName").contains("expands dynamic arrays"));
}

#[test]
fn runaway_joins_stop_with_the_service_message() {
    // 5,000 rows with one key joined to itself would be 25 million rows.
    let values: Vec<String> = (0..5000).map(|i| format!("'k', {i}")).collect();
    let t = format!(
        "let T = datatable(k:string, v:long)[{}];",
        values.join(", ")
    );
    let e = err(&format!("{t} T | join kind=inner T on k | count"));
    assert_eq!(e, "Query stopped due to excessive resource consumption.");
}

#[test]
fn more_scalar_functions() {
    let one = |expr: &str| ok(&format!("print {expr}")).1[0][0].clone();
    assert_eq!(
        one("datetime_add('day', 2, datetime(2024-05-10))"),
        json!("2024-05-12T00:00:00.0000000Z")
    );
    assert_eq!(
        one("datetime_add('month', -1, datetime(2024-03-31))"),
        json!("2024-02-29T00:00:00.0000000Z")
    );
    assert_eq!(
        one("startofweek(datetime(2024-05-10 15:00))"),
        json!("2024-05-05T00:00:00.0000000Z")
    );
    assert_eq!(
        one("startofmonth(datetime(2024-05-10))"),
        json!("2024-05-01T00:00:00.0000000Z")
    );
    assert_eq!(
        one("startofyear(datetime(2024-05-10), 1)"),
        json!("2025-01-01T00:00:00.0000000Z")
    );
    assert_eq!(
        one("endofday(datetime(2024-05-10 15:00))"),
        json!("2024-05-10T23:59:59.9999999Z")
    );
    assert_eq!(one("hourofday(datetime(2024-05-10 15:42))"), json!(15));
    assert_eq!(one("getyear(datetime(2024-05-10))"), json!(2024));
    assert_eq!(
        one("datetime_diff('minute', datetime(2024-05-10 10:30), datetime(2024-05-10 10:00))"),
        json!(30)
    );
    assert_eq!(one("round(2.567, 2)"), json!(2.57));
    assert_eq!(one("abs(-3)"), json!(3));
    assert_eq!(one("array_length(dynamic([1, 2, 3]))"), json!(3));
    assert_eq!(one("array_length(dynamic({}))"), json!(null));
    assert_eq!(one("pack_array(1, 'a', 2s)"), json!([1, "a", "00:00:02"]));
    assert_eq!(one("bag_pack('k', 1, 'v', 'x')"), json!({"k": 1, "v": "x"}));
    assert_eq!(
        one("set_has_element(dynamic(['a', 'b']), 'b')"),
        json!(true)
    );
    assert_eq!(one("strcat_delim('-', 'a', 1, 'b')"), json!("a-1-b"));
    assert_eq!(one("base64_encode_tostring('Kusto')"), json!("S3VzdG8="));
    assert_eq!(one("strcmp('a', 'b')"), json!(-1));
    assert_eq!(one("countof('ababa', 'aba', 'regex')"), json!(1));
    assert_eq!(one("tobool('TRUE')"), json!(true));
    assert_eq!(one("totimespan('1.02:00:00')"), json!("1.02:00:00"));
    assert_eq!(one("toreal('1.5') * 2"), json!(3.0));
    assert_eq!(one("coalesce('', 'x')"), json!("x"));
    assert_eq!(one("replace_string('a.b.c', '.', '/')"), json!("a/b/c"));
    assert_eq!(one("dayofweek(datetime(2024-05-13))"), json!("1.00:00:00"));
    assert_eq!(
        one("format_datetime(datetime(2024-05-10 15:04:05.1234), 'yyyy-MM-dd HH:mm:ss.fff')"),
        json!("2024-05-10 15:04:05.123")
    );
    assert_eq!(one("ipv4_is_private('172.20.1.1')"), json!(true));
    assert_eq!(one("not(true)"), json!(false));
    assert_eq!(one("case(1 > 2, 'a', 2 > 1, 'b', 'c')"), json!("b"));
    assert_eq!(one("extract(@'(\\d+)', 1, 'abc 42')"), json!("42"));
    assert!(err("print datetime_add('fortnight', 1, now())").contains("is not a datetime part"));
    assert!(err("print round('x')").contains("must be a number, not string"));
}

#[test]
fn table_names_are_case_sensitive_with_a_hint() {
    assert!(err("events | count").contains("Did you mean 'Events'?"));
}
