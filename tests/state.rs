//! Scheduled-run guarantees, tested the way the engine uses them: state across runs, the run
//! lock between processes, and what SIGKILL, SIGTERM and SIGINT leave behind.
//!
//! Process tests re-run this test binary as a child (`child_process_helper`, selected by
//! environment variables) that takes the lock and starts writing, then kill or signal it.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use huntbook::fsutil::{self, AtomicFile, STALE_TEMP_AGE, is_temp_name};
use huntbook::state::{self, StateError, StateStore};
use huntbook::template::value::{as_datetime, duration};
use huntbook::template::{Engine, FieldKind, Value};

const PLAYBOOK: &str = "encoded-powershell";

/// The tests here run one at a time. A child process forked by one test holds copies of all
/// the parent's descriptors until it `exec`s, so a lock another test just released can seem
/// held for that instant (huntbook itself starts no child processes).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
const DAY: Duration = Duration::from_secs(86_400);

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// One scheduled "run" as the engine performs it: render the hunt query from `state`, let the
/// rows through `filter.dedupe`, and commit on success. Returns the query and the rows kept.
fn scheduled_run(
    dir: &Path,
    started_at: DateTime<Utc>,
    rows: &[&str],
    succeed: bool,
) -> (String, Vec<String>) {
    let mut store = StateStore::open_at(dir, PLAYBOOK, started_at).unwrap();
    let engine = Engine::new().with_now(started_at);
    let query = engine
        .compile(
            // As in docs/scheduling.md.
            "DeviceProcessEvents\n| where Timestamp > {{ state.last_success | default(ago(inputs.lookback)) }} - {{ inputs.overlap }}",
            FieldKind::Query,
        )
        .unwrap();
    let inputs = minijinja::context! {
        lookback => duration(DAY),
        overlap => duration(Duration::from_secs(15 * 60)),
    };
    let scope = minijinja::context! { state => store.scope(), inputs => inputs };
    let query = engine.render_string(&query, &scope).unwrap();
    let kept: Vec<String> = rows
        .iter()
        .filter(|device| {
            let key = state::dedupe_key(&Value::from(**device)).unwrap();
            store.admit("noisy", &key, 7 * DAY, started_at)
        })
        .map(|d| (*d).to_string())
        .collect();
    if succeed {
        store
            .commit(started_at, &format!("run-{started_at}"))
            .unwrap();
    }
    (query, kept)
}

#[test]
fn runs_sharing_a_state_dir_continue_where_the_last_success_ended() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let t1 = at("2026-11-25T10:00:00Z");
    let (query, kept) = scheduled_run(dir.path(), t1, &["ws-01", "ws-02", "ws-01"], true);
    assert_eq!(
        query,
        "DeviceProcessEvents\n| where Timestamp > datetime(2026-11-24T10:00:00.0000000Z) - 15m",
        "the first run falls back to its lookback"
    );
    assert_eq!(kept, ["ws-01", "ws-02"]);

    let t2 = at("2026-11-25T11:00:00Z");
    let (query, kept) = scheduled_run(dir.path(), t2, &["ws-02", "ws-03"], true);
    assert_eq!(
        query,
        "DeviceProcessEvents\n| where Timestamp > datetime(2026-11-25T10:00:00.0000000Z) - 15m",
        "the second run starts at the first run's start"
    );
    assert_eq!(kept, ["ws-03"], "ws-02 was reported by the first run");

    // A failing run sees the same window and keys, and changes nothing.
    let t3 = at("2026-11-25T12:00:00Z");
    let before = fs::read(dir.path().join(format!("{PLAYBOOK}.json"))).unwrap();
    let (query, kept) = scheduled_run(dir.path(), t3, &["ws-04"], false);
    assert!(
        query.ends_with("datetime(2026-11-25T11:00:00.0000000Z) - 15m"),
        "{query}"
    );
    assert_eq!(kept, ["ws-04"]);
    assert_eq!(
        fs::read(dir.path().join(format!("{PLAYBOOK}.json"))).unwrap(),
        before
    );

    // The retry after the failure starts from the same last_success: no window is lost.
    let t4 = at("2026-11-25T13:00:00Z");
    let (query, kept) = scheduled_run(dir.path(), t4, &["ws-04", "ws-01"], true);
    assert!(
        query.ends_with("datetime(2026-11-25T11:00:00.0000000Z) - 15m"),
        "{query}"
    );
    assert_eq!(kept, ["ws-04"]);

    // A week and more after the first sighting, keys are forgotten and pass again.
    let t5 = at("2026-12-02T12:00:00Z");
    let (_, kept) = scheduled_run(dir.path(), t5, &["ws-01", "ws-02", "ws-04"], true);
    assert_eq!(
        kept,
        ["ws-01", "ws-02"],
        "ws-04 (first seen 11-25 13:00) is still within its 7 days"
    );

    let snapshot = state::peek(dir.path(), PLAYBOOK).unwrap().unwrap();
    assert_eq!(snapshot.last_success, Some(t5));
    let last = snapshot.scope().get_attr("last_success").unwrap();
    assert_eq!(as_datetime(&last), Some(t5));
}

#[test]
fn corrupt_state_files_are_reported_with_their_location_and_kept() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{PLAYBOOK}.json"));
    let good_start = format!("{{\n  \"version\": 1,\n  \"playbook\": \"{PLAYBOOK}\",\n");
    let cases: Vec<(String, usize, &str)> = vec![
        // Cut off mid-write (a disk full, a copy interrupted).
        (
            format!("{good_start}  \"last_success\": {{\"$datetime\": \"2026-11"),
            4,
            "EOF",
        ),
        // A hand edit with a syntax error.
        (
            format!("{good_start}  \"last_run_id\": 'r1'\n}}\n"),
            4,
            "expected value",
        ),
        // A value of the wrong type.
        (
            format!("{good_start}  \"last_success\": \"2026-11-25T10:00:00Z\"\n}}\n"),
            4,
            "expected a typed datetime",
        ),
        // A misspelt key, which must not silently drop last_success.
        (
            format!(
                "{good_start}  \"last_succes\": {{\"$datetime\": \"2026-11-25T10:00:00Z\"}}\n}}\n"
            ),
            4,
            "unknown field `last_succes`",
        ),
        // A dedupe time that is not a time.
        (
            format!(
                "{good_start}  \"dedupe\": {{\"noisy\": {{\"window\": \"7d\",\n    \"keys\": {{\"ws-01\": \"tuesday\"}}}}}}\n}}\n"
            ),
            5,
            "`tuesday` is not an RFC 3339 datetime",
        ),
        ("\n".to_string(), 1, "the file is empty"),
    ];
    for (text, line, problem) in cases {
        fs::write(&path, &text).unwrap();
        let err = StateStore::open(dir.path(), PLAYBOOK).unwrap_err();
        let msg = err.to_string();
        match &err {
            StateError::Corrupt {
                line: l,
                problem: p,
                ..
            } => {
                assert_eq!(*l, line, "{msg}");
                assert!(p.contains(problem), "{msg}");
            }
            other => panic!("expected Corrupt for {text:?}, got {other:?}"),
        }
        assert!(
            msg.starts_with(&format!(
                "state file `{}` is corrupt at line {line}, column ",
                path.display()
            )),
            "{msg}"
        );
        assert!(msg.contains("move it aside"), "{msg}");
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "the file is kept");
    }

    fs::write(&path, "{\"version\": 3, \"playbook\": \"x\"}").unwrap();
    let msg = StateStore::open(dir.path(), PLAYBOOK)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("has format version 3, but this huntbook reads version 1"),
        "{msg}"
    );
    fs::write(&path, "{\"version\": 1, \"playbook\": \"isolate-devices\"}").unwrap();
    let msg = StateStore::open(dir.path(), PLAYBOOK)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("belongs to playbook `isolate-devices`, not `encoded-powershell`"),
        "{msg}"
    );
}

#[test]
fn the_corrupt_file_message_in_the_scheduling_docs_is_the_real_one() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let text = "{\n  \"version\": 1,\n  \"playbook\": \"encoded-powershell\",\n  \"last_success\": \"2026-11-25T10:00:00Z\"\n}\n";
    fs::write(dir.path().join(format!("{PLAYBOOK}.json")), text).unwrap();
    let msg = StateStore::open(dir.path(), PLAYBOOK)
        .unwrap_err()
        .to_string()
        .replace(&dir.path().display().to_string(), "/var/lib/huntbook/state");
    let docs =
        fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scheduling.md")).unwrap();
    assert!(docs.contains(text), "the example file is in the docs");
    assert!(
        docs.contains(&format!("error: {msg}\n")),
        "docs/scheduling.md should show:\nerror: {msg}"
    );
}

#[test]
fn an_interrupted_atomic_write_leaves_the_old_content() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports/hits.csv");
    fsutil::write_atomic(&out, b"DeviceName\nws-01\n").unwrap();
    let mut writer = AtomicFile::create(&out).unwrap();
    writer.write_all(b"DeviceName\nws-0").unwrap();
    writer.flush().unwrap();
    drop(writer);
    assert_eq!(fs::read_to_string(&out).unwrap(), "DeviceName\nws-01\n");
    assert!(temp_files(&out.with_file_name("")).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Child processes

const ROLE: &str = "HUNTBOOK_STATE_TEST_ROLE";
const DIR: &str = "HUNTBOOK_STATE_TEST_DIR";

/// A child running this binary's `child_process_helper` in `role`, with its stdout lines
/// forwarded to a channel (so a misbehaving child fails the test instead of hanging it).
struct ChildRun {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildRun {
    fn start(role: &str, dir: &Path) -> ChildRun {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "child_process_helper",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ROLE, role)
            .env(DIR, dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildRun { child, lines }
    }

    /// Wait for a `@@MARKER@@` line; panics if the child ends or stays silent for a minute.
    fn expect(&self, marker: &str) {
        let wanted = format!("@@{marker}@@");
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line.contains(&wanted) => return,
                Ok(_) => {}
                Err(e) => panic!("child never printed {wanted}: {e}"),
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// The rest of the child's output and its exit code.
    fn finish(mut self) -> (Vec<String>, Option<i32>) {
        drop(self.child.stdin.take());
        let status = self.child.wait().unwrap();
        (self.lines.iter().collect(), status.code())
    }
}

impl Drop for ChildRun {
    /// A failing test must not leave its child behind (one of them sleeps for minutes).
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| is_temp_name(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect()
}

/// A committed state to check later runs against.
fn seed_state(dir: &Path) -> Vec<u8> {
    let t = at("2026-11-25T10:00:00Z");
    let mut store = StateStore::open_at(dir, PLAYBOOK, t).unwrap();
    store.remember("noisy", "ws-01", t);
    store.commit(t, "run-1").unwrap();
    fs::read(dir.join(format!("{PLAYBOOK}.json"))).unwrap()
}

#[test]
fn a_concurrent_run_in_another_process_is_refused_and_changes_nothing() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let before = seed_state(dir.path());
    let holder = ChildRun::start("hold", dir.path());
    holder.expect("READY");

    let err = StateStore::open(dir.path(), PLAYBOOK).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StateError::AlreadyRunning { .. }), "{msg}");
    assert!(
        msg.starts_with("playbook `encoded-powershell` is already running (lock held on `"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("by process {}", holder.child.id())),
        "{msg}"
    );

    let (_, code) = holder.finish();
    assert_eq!(code, Some(0));
    assert_eq!(
        fs::read(dir.path().join(format!("{PLAYBOOK}.json"))).unwrap(),
        before,
        "neither the refused run nor the holder (which did not commit) changed the state"
    );
    StateStore::open(dir.path(), PLAYBOOK).expect("the lock is free once the holder ended");
}

#[cfg(unix)]
#[test]
fn a_sigkilled_run_leaves_no_lock_no_partial_file_and_the_old_state() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let before = seed_state(dir.path());
    let out = dir.path().join("out/hits.jsonl");
    fsutil::write_atomic(&out, b"{\"old\":true}\n").unwrap();

    let mut child = ChildRun::start("write-and-hang", dir.path());
    child.expect("READY");
    let out_dir = dir.path().join("out");
    assert_eq!(temp_files(&out_dir).len(), 1, "the child is mid-write");
    child.child.kill().unwrap(); // SIGKILL: no handler, no clean-up
    let (_, code) = child.finish();
    assert_eq!(code, None, "killed by a signal");

    // The OS released the lock with the process.
    let store = StateStore::open(dir.path(), PLAYBOOK).expect("no stale lock");
    assert_eq!(store.last_success(), Some(at("2026-11-25T10:00:00Z")));
    assert!(
        !store.seen("noisy", "ws-99"),
        "the killed run's keys were never saved"
    );
    assert_eq!(
        fs::read(dir.path().join(format!("{PLAYBOOK}.json"))).unwrap(),
        before
    );
    // Its half-written state file was removed when the lock was taken again.
    assert!(
        temp_files(dir.path()).is_empty(),
        "{:?}",
        temp_files(dir.path())
    );
    drop(store);

    // The target output is untouched; the hidden leftover is removed by the start-up clean-up
    // (once old enough; here with age zero to stand for "minutes later").
    assert_eq!(fs::read_to_string(&out).unwrap(), "{\"old\":true}\n");
    assert!(
        fsutil::cleanup_stale_temps(&out_dir, STALE_TEMP_AGE)
            .unwrap()
            .is_empty(),
        "a fresh leftover might be a live run's: kept"
    );
    let removed = fsutil::cleanup_stale_temps(&out_dir, Duration::ZERO).unwrap();
    assert_eq!(removed.len(), 1);
    assert!(temp_files(&out_dir).is_empty());
}

#[cfg(unix)]
#[test]
fn sigterm_lets_the_call_finish_then_exits_143_without_writing() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let before = seed_state(dir.path());
    let out = dir.path().join("out/hits.jsonl");
    fsutil::write_atomic(&out, b"{\"old\":true}\n").unwrap();

    let child = ChildRun::start("graceful", dir.path());
    child.expect("READY");
    child.signal("TERM");
    let (lines, code) = child.finish();
    assert_eq!(code, Some(143), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("@@CALL-FINISHED response@@")),
        "the in-flight call finished within the grace period: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("@@NO-NEW-STEP@@")),
        "{lines:?}"
    );
    assert_eq!(fs::read_to_string(&out).unwrap(), "{\"old\":true}\n");
    assert!(temp_files(&dir.path().join("out")).is_empty());
    assert!(temp_files(dir.path()).is_empty());
    assert_eq!(
        fs::read(dir.path().join(format!("{PLAYBOOK}.json"))).unwrap(),
        before,
        "state not advanced"
    );
    StateStore::open(dir.path(), PLAYBOOK).expect("lock released");
}

#[cfg(unix)]
#[test]
fn a_second_sigint_drops_the_call_and_exits_130() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let child = ChildRun::start("impatient", dir.path());
    child.expect("READY");
    child.signal("INT");
    child.expect("STOPPING");
    child.signal("INT");
    let (lines, code) = child.finish();
    assert_eq!(code, Some(130), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("@@DROPPED stopped by SIGINT (a second signal: not waiting)@@")),
        "{lines:?}"
    );
    assert!(!dir.path().join(format!("{PLAYBOOK}.json")).exists());
}

/// Not a test: the child process of the tests above, selected by `HUNTBOOK_STATE_TEST_ROLE`.
/// It prints `@@MARKER@@` lines for the parent and exits with its own code.
#[test]
#[ignore = "helper process started by the process tests in this file"]
fn child_process_helper() {
    let (Ok(role), Ok(dir)) = (std::env::var(ROLE), std::env::var(DIR)) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let code = match role.as_str() {
        "hold" => {
            let _store = StateStore::open(&dir, PLAYBOOK).unwrap();
            println!("@@READY@@");
            // Hold the lock until the parent closes our stdin.
            let mut sink = String::new();
            let _ = std::io::stdin().read_line(&mut sink);
            0
        }
        "write-and-hang" => {
            let mut store = StateStore::open(&dir, PLAYBOOK).unwrap();
            store.remember("noisy", "ws-99", Utc::now());
            let mut out = AtomicFile::create(dir.join("out/hits.jsonl")).unwrap();
            out.write_all(b"{\"partial\":").unwrap();
            out.flush().unwrap();
            // As if killed in the middle of committing the state.
            let mut state_file = AtomicFile::create(dir.join(format!("{PLAYBOOK}.json"))).unwrap();
            state_file.write_all(b"{\"version\": 1, \"pla").unwrap();
            state_file.flush().unwrap();
            println!("@@READY@@");
            std::thread::sleep(Duration::from_secs(600));
            1
        }
        "graceful" | "impatient" => signal_child(&role, &dir),
        other => panic!("unknown role {other}"),
    };
    std::process::exit(code);
}

/// A miniature run engine: a step writing an output, an in-flight API call under
/// `with_grace`, and the rule that a stopped run commits nothing.
fn signal_child(role: &str, dir: &Path) -> i32 {
    use huntbook::signals::Cancellation;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let cancel = Cancellation::install().unwrap();
        let mut store = StateStore::open(dir, PLAYBOOK).unwrap();
        store.remember("noisy", "ws-77", Utc::now());
        let mut out = AtomicFile::create(dir.join("out/hits.jsonl")).unwrap();
        out.write_all(b"{\"new\":").unwrap();
        out.flush().unwrap();

        let watcher = cancel.clone();
        tokio::spawn(async move {
            watcher.cancelled().await;
            println!("@@STOPPING@@");
        });

        let (call_time, grace) = if role == "graceful" {
            // Slow enough for the signal to arrive mid-call, fast enough for the grace period.
            (Duration::from_millis(300), Duration::from_secs(30))
        } else {
            (Duration::from_secs(3600), Duration::from_secs(3600))
        };
        // An API call in flight when the signal comes (it cannot end before it, however slow
        // the machine), then still busy for `call_time`.
        let in_flight = cancel.clone();
        let call = async move {
            in_flight.cancelled().await;
            tokio::time::sleep(call_time).await;
            "response"
        };
        println!("@@READY@@");
        match cancel.with_grace(call, grace).await {
            Ok(body) => println!("@@CALL-FINISHED {body}@@"),
            Err(e) => println!("@@DROPPED {e}@@"),
        }
        if cancel.is_cancelled() {
            println!("@@NO-NEW-STEP@@");
            drop(out); // no partial output
            drop(store); // no commit: state not advanced, lock released
        } else {
            out.commit().unwrap();
            store.commit(Utc::now(), "run").unwrap();
        }
        let code = cancel.exit_status().map_or(0, |s| i32::from(s.code()));
        std::io::stdout().flush().unwrap();
        code
    })
}
