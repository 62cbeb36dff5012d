//! `huntbook test` through the real binary: the example playbooks' own tests, invalid test
//! files (exit 2, located diagnostics), the JUnit report (parsed back as XML), `--jobs`, and a
//! deliberately broken playbook whose test must fail with a readable diff.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `huntbook ARGS…` in `dir`, colours off, no Azure settings from the environment.
fn huntbook_in(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = assert_cmd::Command::cargo_bin("huntbook")
        .unwrap_or_else(|e| panic!("no huntbook binary: {e}"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID");
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run huntbook: {e}"));
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn huntbook(args: &[&str]) -> Output {
    huntbook_in(&root(), args)
}

/// The example playbooks (not their tests).
fn playbooks() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("playbooks"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".yaml") && !n.ends_with(".test.yaml")
        })
        .collect();
    out.sort();
    out
}

// ---------------------------------------------------------------- a tiny XML reader

/// An element of a parsed XML document.
#[derive(Debug)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, name: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.name == name {
                out.push(c);
            }
            c.all(name, out);
        }
    }
}

/// Parse a well-formed XML 1.0 document (the subset JUnit reports use: a declaration,
/// elements, attributes, text, the five predefined entities and numeric references).
/// Panics with the position of the first problem.
fn parse_xml(doc: &str) -> Element {
    fn unescape(s: &str, at: usize) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('&') {
            out.push_str(&rest[..i]);
            let end = rest[i..]
                .find(';')
                .unwrap_or_else(|| panic!("unterminated entity near byte {at}"));
            let name = &rest[i + 1..i + end];
            out.push(match name {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                n if n.starts_with("#x") => u32::from_str_radix(&n[2..], 16)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or_else(|| panic!("bad reference &{n}; near byte {at}")),
                n if n.starts_with('#') => n[1..]
                    .parse()
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or_else(|| panic!("bad reference &{n}; near byte {at}")),
                n => panic!("unknown entity &{n}; near byte {at}"),
            });
            rest = &rest[i + end + 1..];
        }
        out.push_str(rest);
        for c in out.chars() {
            let ok =
                matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{fffe}' && c != '\u{ffff}');
            assert!(ok, "character {c:?} is not allowed in XML (near byte {at})");
        }
        out
    }
    let doc = doc
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .expect("an XML declaration first");
    let bytes = doc.as_bytes();
    let mut i = 0;
    let mut stack: Vec<Element> = vec![Element {
        name: String::new(),
        attrs: Vec::new(),
        children: Vec::new(),
        text: String::new(),
    }];
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let end = doc[i..]
                .find('>')
                .map(|e| i + e)
                .unwrap_or_else(|| panic!("unclosed tag at byte {i}"));
            let inner = &doc[i + 1..end];
            assert!(!inner.contains('<'), "`<` inside a tag at byte {i}");
            if let Some(name) = inner.strip_prefix('/') {
                let el = stack.pop().expect("an open element");
                assert_eq!(el.name, name.trim(), "mismatched end tag at byte {i}");
                stack.last_mut().expect("a parent").children.push(el);
            } else {
                let self_closing = inner.ends_with('/');
                let inner = inner.trim_end_matches('/');
                let name_end = inner.find(char::is_whitespace).unwrap_or(inner.len());
                let name = &inner[..name_end];
                assert!(
                    !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_alphanumeric() || c == '-' || c == '_'),
                    "bad element name `{name}` at byte {i}"
                );
                let mut attrs = Vec::new();
                let mut rest = inner[name_end..].trim_start();
                while !rest.is_empty() {
                    let eq = rest
                        .find('=')
                        .unwrap_or_else(|| panic!("attribute without `=` at byte {i}"));
                    let key = rest[..eq].trim().to_string();
                    let after = &rest[eq + 1..];
                    assert!(
                        after.starts_with('"'),
                        "unquoted attribute `{key}` at byte {i}"
                    );
                    let close = after[1..]
                        .find('"')
                        .unwrap_or_else(|| panic!("unterminated attribute `{key}` at byte {i}"));
                    let value = unescape(&after[1..=close], i);
                    assert!(
                        !attrs.iter().any(|(k, _): &(String, String)| *k == key),
                        "duplicate attribute `{key}` at byte {i}"
                    );
                    attrs.push((key, value));
                    rest = after[close + 2..].trim_start();
                }
                let el = Element {
                    name: name.to_string(),
                    attrs,
                    children: Vec::new(),
                    text: String::new(),
                };
                if self_closing {
                    stack.last_mut().expect("a parent").children.push(el);
                } else {
                    stack.push(el);
                }
            }
            i = end + 1;
        } else {
            let next = doc[i..].find('<').map_or(bytes.len(), |n| i + n);
            let text = unescape(&doc[i..next], i);
            let top = stack.last_mut().expect("an element");
            assert!(
                !top.name.is_empty() || text.trim().is_empty(),
                "text outside the root element at byte {i}"
            );
            top.text.push_str(&text);
            i = next;
        }
    }
    assert_eq!(
        stack.len(),
        1,
        "unclosed element `{}`",
        stack.last().map_or("", |e| e.name.as_str())
    );
    let mut top = stack.pop().expect("the document");
    assert_eq!(top.children.len(), 1, "exactly one root element");
    top.children.pop().expect("the root")
}

#[test]
fn the_xml_reader_rejects_what_is_not_well_formed() {
    for bad in [
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a><b></a>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a x=1/>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>&nope;</a>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>x < y</a>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>\u{1b}[31m</a>",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><a/><b/>",
    ] {
        assert!(
            std::panic::catch_unwind(|| parse_xml(bad)).is_err(),
            "{bad}"
        );
    }
    let ok = parse_xml(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a n=\"&lt;&amp;&quot;\"><b/>t&#233;</a>\n",
    );
    assert_eq!(ok.attr("n"), Some("<&\""));
    assert_eq!(ok.text.trim(), "té");
}

// ---------------------------------------------------------------- the examples' tests

#[test]
fn every_example_playbook_has_a_valid_test_file_with_several_cases() {
    let examples = playbooks();
    assert!(examples.len() >= 6);
    for pb in examples {
        let test = pb.with_file_name(
            pb.file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".yaml", ".test.yaml"),
        );
        assert!(test.is_file(), "{} has no test file", pb.display());
        let loaded = huntbook::testing::load(&test);
        assert!(
            loaded.diagnostics.is_empty(),
            "{}: {:#?}",
            test.display(),
            loaded.diagnostics
        );
        let t = loaded.test.expect("valid");
        assert!(
            t.cases.len() >= 2,
            "{}: a positive and a negative case at least",
            test.display()
        );
        // A positive case (it succeeds, or for the sweep gate exits 3 on a finding) and one
        // that changes the situation: other data, a fixture, or a refusal.
        assert!(
            t.cases
                .iter()
                .any(|c| c.fixtures.is_empty() && c.tenant.data.is_none()),
            "{}: no case runs against the planted findings",
            test.display()
        );
        assert!(
            t.cases
                .iter()
                .any(|c| !c.fixtures.is_empty() || c.tenant.data.is_some() || c.expect.exit.0 != 0),
            "{}: no negative or failure case",
            test.display()
        );
        let text = std::fs::read_to_string(&test).unwrap();
        assert!(
            text.starts_with(
                "# yaml-language-server: $schema=../schemas/playbook-test.schema.json\n"
            ),
            "{}",
            test.display()
        );
    }
}

#[test]
fn the_test_files_conform_to_the_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schemas/playbook-test.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("playbooks"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yaml"))
        .collect();
    files.push(root().join("tests/fixtures/testing/everything.test.yaml"));
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = huntbook::playbook::yaml::parse(&text, huntbook::source::FileId(0));
        let doc = parsed.root.map(|n| n.to_json()).expect("YAML");
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
    // And the schema refuses what the validator refuses.
    for bad in [
        serde_json::json!({"cases": []}),
        serde_json::json!({"cases": [{"name": "a", "expcet": {}}]}),
        serde_json::json!({"cases": [{"name": "a", "steps": {"hunt": {"results": [], "fault": "throttle"}}}]}),
        serde_json::json!({"cases": [{"name": "a", "expect": {"steps": {"hunt": "done"}}}]}),
    ] {
        assert!(!validator.is_valid(&bad), "{bad}");
    }
}

#[test]
fn the_fixture_file_covering_every_key_is_valid() {
    let loaded =
        huntbook::testing::load(&root().join("tests/fixtures/testing/everything.test.yaml"));
    assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
    assert!(loaded.is_valid());
}

#[test]
fn the_docs_first_example_is_a_valid_test_file() {
    let docs = std::fs::read_to_string(root().join("docs/testing.md")).unwrap();
    let section = docs.split("## 1. A first test").nth(1).expect("section 1");
    let block = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a yaml block");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("playbooks/encoded-powershell.yaml"),
        dir.path().join("encoded-powershell.yaml"),
    )
    .unwrap();
    let path = dir.path().join("encoded-powershell.test.yaml");
    std::fs::write(&path, block).unwrap();
    let loaded = huntbook::testing::load(&path);
    assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
}

// ---------------------------------------------------------------- invalid input: exit 2

#[test]
fn invalid_test_files_exit_2_with_located_diagnostics_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root().join("playbooks/encoded-powershell.yaml"),
        dir.path().join("encoded-powershell.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("encoded-powershell.test.yaml"),
        "cases:\n  - name: typo\n    expect:\n      steps: { reprt: ok }\n      stdout: { maches: x }\n",
    )
    .unwrap();
    let out = huntbook_in(
        dir.path(),
        &[
            "test",
            "encoded-powershell.test.yaml",
            "--junit",
            "junit.xml",
        ],
    );
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert_eq!(out.stdout, "", "nothing ran");
    assert!(
        out.stderr.contains("error[unknown-step]: the playbook `encoded-powershell` has no step with id `reprt`\n --> encoded-powershell.test.yaml:4:16\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("= help: did you mean `report`?"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("error[unknown-key]: unknown key `maches` in `stdout`\n --> encoded-powershell.test.yaml:5:17\n"), "{}", out.stderr);
    assert!(
        out.stderr.contains("= help: did you mean `matches`?"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .ends_with("error: 1 invalid test file: nothing ran\n"),
        "{}",
        out.stderr
    );
    // CI still gets a report saying why nothing ran.
    let xml = parse_xml(&std::fs::read_to_string(dir.path().join("junit.xml")).unwrap());
    assert_eq!(xml.name, "testsuites");
    assert_eq!(xml.attr("errors"), Some("1"));
    let mut errors = Vec::new();
    xml.all("error", &mut errors);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].text.contains("did you mean `report`?"));
}

#[test]
fn a_broken_playbook_is_reported_through_its_test_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("p.yaml"),
        "huntbook: 1\nname: p\nsteps:\n  - hnt: {}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("p.test.yaml"), "cases:\n  - name: a\n").unwrap();
    let out = huntbook_in(dir.path(), &["test", "."]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--> ./p.yaml:4:5") || out.stderr.contains("p.yaml:4:5"),
        "{}",
        out.stderr
    );
}

#[test]
fn paths_without_tests_and_bad_jobs_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let out = huntbook_in(dir.path(), &["test", "empty", "missing.test.yaml"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("error: `empty` holds no `*.test.yaml` file"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("error: `missing.test.yaml` does not exist"),
        "{}",
        out.stderr
    );
    let out = huntbook(&["test", "playbooks", "--jobs", "0"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("`--jobs` must be at least 1"),
        "{}",
        out.stderr
    );
}

#[test]
fn validate_checks_test_files_too() {
    let out = huntbook(&["validate", "playbooks/encoded-powershell.test.yaml"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stderr.trim(),
        "playbooks/encoded-powershell.test.yaml: valid"
    );
}

// ---------------------------------------------------------------- end to end

#[test]
fn the_example_playbooks_pass_their_tests_and_junit_names_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let out = huntbook(&[
        "test",
        "playbooks/",
        "--junit",
        &junit.display().to_string(),
    ]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let last = out.stdout.lines().last().unwrap_or("");
    let cases: usize = last
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("last line: {last}"));
    let ok_lines = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("ok   "))
        .count();
    assert_eq!(ok_lines, cases);
    let xml = parse_xml(&std::fs::read_to_string(&junit).unwrap());
    let mut testcases = Vec::new();
    xml.all("testcase", &mut testcases);
    assert_eq!(testcases.len(), cases);
    let mut suites = Vec::new();
    xml.all("testsuite", &mut suites);
    assert_eq!(suites.len(), playbooks().len());
    for pb in playbooks() {
        let test = pb.with_file_name(
            pb.file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".yaml", ".test.yaml"),
        );
        let t = huntbook::testing::load(&test).test.expect("valid");
        for c in &t.cases {
            assert!(
                testcases
                    .iter()
                    .any(|tc| tc.attr("name") == Some(c.name.as_str())),
                "JUnit lacks `{}`",
                c.name
            );
            assert!(
                out.stdout.contains(&format!(": {}  (", c.name)),
                "no line for `{}`",
                c.name
            );
        }
    }
}

#[test]
fn a_deliberately_broken_playbook_fails_its_test_with_a_readable_diff() {
    let dir = tempfile::tempdir().unwrap();
    let pb = std::fs::read_to_string(root().join("playbooks/encoded-powershell.yaml")).unwrap();
    // The bug: the report's heading counts rows of the raw hunt, not the suspicious ones.
    let broken = pb.replace(
        "# Encoded PowerShell — {{ steps.suspicious.count }} launches",
        "# Encoded PowerShell — {{ steps.hunt.count + 1 }} launches",
    );
    assert_ne!(broken, pb);
    std::fs::write(dir.path().join("encoded-powershell.yaml"), broken).unwrap();
    std::fs::copy(
        root().join("playbooks/encoded-powershell.test.yaml"),
        dir.path().join("encoded-powershell.test.yaml"),
    )
    .unwrap();
    let out = huntbook_in(dir.path(), &["test", "encoded-powershell.test.yaml"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("FAIL encoded-powershell.test.yaml: finds the encoded PowerShell on Bob's laptop and writes the report"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains("expected a match for /Encoded PowerShell — 3 launches/"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("= actual: 9 lines:\n                 | # Encoded PowerShell — 4 launches\n"),
        "{}",
        out.stdout
    );
    let test =
        std::fs::read_to_string(root().join("playbooks/encoded-powershell.test.yaml")).unwrap();
    let line = test
        .lines()
        .position(|l| l.contains("matches: 'Encoded PowerShell — 3 launches'"))
        .expect("the heading expectation")
        + 1;
    assert!(
        out.stdout
            .contains(&format!("--> encoded-powershell.test.yaml:{line}:")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.lines().last().unwrap_or("").ends_with(" failed"),
        "{}",
        out.stdout
    );
}

#[test]
fn jobs_change_the_speed_not_the_results() {
    let one = huntbook(&["test", "playbooks/", "--jobs", "1"]);
    let many = huntbook(&["test", "playbooks/", "--jobs", "8"]);
    let strip = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| l.rsplit_once("  (").map_or(l, |(a, _)| a).to_string())
            .collect()
    };
    assert_eq!(one.code, many.code);
    assert_eq!(strip(&one.stdout), strip(&many.stdout));
}
