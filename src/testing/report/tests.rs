//! Unit tests of result reporting.

use super::*;
use crate::source::{FileId, SourceFile};
use crate::testing::check::load_str;
use std::path::Path;

fn file() -> TestFile {
    let pb = "huntbook: 1\nname: demo\nsteps:\n  - id: s\n    set: { x: 1 }\n";
    let test = "cases:\n  - name: \"a <b> & 'c'\"\n    expect:\n      exit: 0\n  - name: second\n  - name: third\n    skip: later\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("demo.yaml"), pb).unwrap();
    let path = dir.path().join("demo.test.yaml");
    let l = load_str(&path, test, &crate::playbook::load_file);
    let mut t = l.test.expect("valid");
    t.path = "playbooks/demo.test.yaml".into();
    t
}

fn failure_at(t: &TestFile) -> Failure {
    let text = t.sources.get(FileId(0)).unwrap().text();
    let at = text.find("exit: 0").unwrap() + 6;
    Failure {
        span: Span::new(FileId(0), at, at + 1),
        what: "exit code".into(),
        expected: "0".into(),
        actual: "1".into(),
        notes: vec!["the run stopped at `hunt`: HTTP 429".into()],
    }
}

fn results(t: &TestFile) -> Vec<CaseResult> {
    vec![
        CaseResult {
            file: 0,
            case: 0,
            name: t.cases[0].name.clone(),
            outcome: Outcome::Failed(vec![failure_at(t)]),
            duration: Duration::from_millis(213),
        },
        CaseResult {
            file: 0,
            case: 1,
            name: "second".into(),
            outcome: Outcome::Passed,
            duration: Duration::from_millis(5),
        },
        CaseResult {
            file: 0,
            case: 2,
            name: "third".into(),
            outcome: Outcome::Skipped("later".into()),
            duration: Duration::ZERO,
        },
    ]
}

#[test]
fn one_line_per_case() {
    let t = file();
    let r = results(&t);
    assert_eq!(
        case_line(&t, &r[1], false),
        "ok   playbooks/demo.test.yaml: second  (0.01s)"
    );
    assert_eq!(
        case_line(&t, &r[0], false),
        "FAIL playbooks/demo.test.yaml: a <b> & 'c'  (0.21s)"
    );
    assert_eq!(
        case_line(&t, &r[2], false),
        "skip playbooks/demo.test.yaml: third  (later)"
    );
    assert!(case_line(&t, &r[1], true).contains("\x1b[32mok\x1b[0m"));
}

#[test]
fn a_failure_points_at_the_expecting_line() {
    let t = file();
    let got = details(&t, &results(&t)[0], false);
    let want = "  exit code: expected 0, got 1
   --> playbooks/demo.test.yaml:4:13
    |
  4 |       exit: 0
    |             ^ expected 0
    |
    = actual: 1
    = note: the run stopped at `hunt`: HTTP 429
";
    // The test file's path in the source map is the temporary one.
    let got = got.replace(
        &t.sources.get(FileId(0)).unwrap().name(),
        "playbooks/demo.test.yaml",
    );
    assert_eq!(got, want);
}

#[test]
fn multi_line_notes_stay_indented() {
    let mut m = SourceMap::new();
    m.add(SourceFile::new("x.test.yaml", "a: 1\n"));
    let f = Failure {
        span: Span::new(FileId(0), 3, 4),
        what: "file `out.md`: `equals`".into(),
        expected: "\"x\\ny\"".into(),
        actual: "\"x\\nz\"".into(),
        notes: vec!["diff (- expected, + actual):\n  x\n- y\n+ z".into()],
    };
    let got = failure(&f, &m, false);
    assert!(
        got.contains("    = note: diff (- expected, + actual):\n              x\n            - y\n            + z\n"),
        "{got}"
    );
}

#[test]
fn totals_line() {
    let t = file();
    let totals = Totals::of(&results(&t));
    assert_eq!(totals.line(), "1 passed, 1 failed, 1 skipped");
    assert_eq!(
        Totals {
            passed: 3,
            failed: 0,
            skipped: 0
        }
        .line(),
        "3 passed, 0 failed"
    );
    let s = summary(std::slice::from_ref(&t), &results(&t));
    assert!(s.ends_with("\n1 passed, 1 failed, 1 skipped\n"), "{s}");
    assert!(
        s.contains("failed:\n  playbooks/demo.test.yaml: a <b> & 'c'\n"),
        "{s}"
    );
}

#[test]
fn junit_names_every_case_and_escapes() {
    let t = file();
    let xml = junit(
        std::slice::from_ref(&t),
        &results(&t),
        &[InvalidFile {
            path: "bad.test.yaml".into(),
            message: "error[unknown-key]: \x1b[1mx\x1b[0m <y>\u{7}".into(),
        }],
    );
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"huntbook test\" tests=\"4\" failures=\"1\" errors=\"1\" skipped=\"1\""), "{xml}");
    assert!(xml.contains("<testsuite name=\"playbooks/demo.test.yaml\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""), "{xml}");
    assert!(xml.contains("<testcase classname=\"playbooks.demo\" name=\"a &lt;b&gt; &amp; &apos;c&apos;\" file=\"playbooks/demo.test.yaml\" line=\"2\" time=\"0.213\">"), "{xml}");
    assert!(
        xml.contains("<failure message=\"exit code: expected 0, got 1\" type=\"expectation\">"),
        "{xml}"
    );
    assert!(xml.contains("<testcase classname=\"playbooks.demo\" name=\"second\""));
    assert!(xml.contains("<skipped message=\"later\"/>"));
    assert!(
        xml.contains("error[unknown-key]: x &lt;y&gt;\u{fffd}</error>"),
        "{xml}"
    );
    assert!(!xml.contains('\x1b'));
    assert!(xml.ends_with("</testsuites>\n"));
}

#[test]
fn classnames_follow_the_path() {
    assert_eq!(classname("./a/b.test.yaml"), "a.b");
    assert_eq!(classname("x.test.yml"), "x");
    let _ = Path::new("");
}
