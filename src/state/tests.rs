//! Unit tests of the state store: scope values, locking, dedupe windows, caps, clocks, and
//! commit behaviour.

use std::fs;

use chrono::{DateTime, Utc};

use super::*;
use crate::template::value::as_datetime;
use crate::template::{Engine, FieldKind};

const DAY: Duration = Duration::from_secs(86_400);

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn render(engine: &Engine, source: &str, kind: FieldKind, state: Value) -> String {
    let field = engine.compile(source, kind).unwrap();
    let scope = minijinja::context! { state => state };
    engine.render_string(&field, &scope).unwrap()
}

#[test]
fn first_run_has_no_last_success_and_default_applies() {
    let dir = tempfile::tempdir().unwrap();
    let now = at("2026-11-25T10:00:00Z");
    let store = StateStore::open_at(&dir.path().join("state"), "pb", now).unwrap();
    assert!(dir.path().join("state").is_dir(), "the folder is created");
    assert_eq!(store.last_success(), None);
    let engine = Engine::new().with_now(now);
    let text = render(
        &engine,
        "{{ state.last_success | default(ago('1d')) }}",
        FieldKind::Text,
        store.scope(),
    );
    assert_eq!(text, "2026-11-24T10:00:00Z");
    assert_eq!(
        render(
            &engine,
            "{{ state.last_success is defined }}",
            FieldKind::Text,
            store.scope()
        ),
        "false"
    );
}

#[test]
fn a_committed_run_gives_the_next_one_a_typed_last_success() {
    let dir = tempfile::tempdir().unwrap();
    let first = at("2026-11-25T10:00:00Z");
    let store = StateStore::open_at(dir.path(), "pb", first).unwrap();
    let done = store.commit(first, "run-1").unwrap();
    assert_eq!(done.last_success, first);
    assert_eq!(done.path, dir.path().join("pb.json"));

    let second = StateStore::open_at(dir.path(), "pb", at("2026-11-25T11:00:00Z")).unwrap();
    assert_eq!(second.last_success(), Some(first));
    assert_eq!(second.last_run_id(), Some("run-1"));
    let scope = second.scope();
    let value = scope.get_attr("last_success").unwrap();
    assert_eq!(as_datetime(&value), Some(first), "a datetime, not a string");
    // In a query it is a KQL datetime literal.
    let engine = Engine::new();
    let query = render(
        &engine,
        "T | where Timestamp > {{ state.last_success | default(ago('1d')) }}",
        FieldKind::Query,
        scope,
    );
    assert_eq!(
        query,
        "T | where Timestamp > datetime(2026-11-25T10:00:00.0000000Z)"
    );
}

#[test]
fn a_second_open_fails_while_the_first_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let held = StateStore::open(dir.path(), "pb").unwrap();
    let err = StateStore::open(dir.path(), "pb").unwrap_err();
    assert!(matches!(err, StateError::AlreadyRunning { .. }), "{err:?}");
    let msg = err.to_string();
    let lock = dir.path().join("pb.lock");
    assert!(
        msg.starts_with(&format!(
            "playbook `pb` is already running (lock held on `{}` by process {} since ",
            lock.display(),
            std::process::id()
        )),
        "{msg}"
    );
    assert_eq!(err.exit_status(), crate::exit::ExitStatus::Failure);
    // Another playbook in the same folder is independent.
    let other = StateStore::open(dir.path(), "other").unwrap();
    drop(other);
    drop(held);
    StateStore::open(dir.path(), "pb").unwrap();
}

#[test]
fn dropping_without_commit_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let t = at("2026-11-25T10:00:00Z");
    StateStore::open_at(dir.path(), "pb", t)
        .unwrap()
        .commit(t, "run-1")
        .unwrap();
    let before = fs::read(dir.path().join("pb.json")).unwrap();

    let mut failed = StateStore::open_at(dir.path(), "pb", t + chrono::Duration::hours(1)).unwrap();
    assert!(failed.admit("s", "k", DAY, t));
    drop(failed);

    assert_eq!(fs::read(dir.path().join("pb.json")).unwrap(), before);
    let again = StateStore::open(dir.path(), "pb").unwrap();
    assert_eq!(again.last_success(), Some(t));
    assert!(!again.seen("s", "k"), "keys of a failed run are not kept");
}

#[test]
fn dedupe_suppresses_repeats_within_a_run_and_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = at("2026-11-01T00:00:00Z");
    let mut run = StateStore::open_at(dir.path(), "pb", t0).unwrap();
    assert!(run.admit("noisy", "ws-01", 7 * DAY, t0));
    assert!(
        !run.admit("noisy", "ws-01", 7 * DAY, t0),
        "a repeat in the same run"
    );
    assert!(run.admit("noisy", "ws-02", 7 * DAY, t0));
    assert!(
        run.admit("other", "ws-01", 7 * DAY, t0),
        "steps are separate"
    );
    let done = run.commit(t0, "r1").unwrap();
    assert_eq!(done.keys, 3);

    let t1 = t0 + chrono::Duration::days(3);
    let mut run = StateStore::open_at(dir.path(), "pb", t1).unwrap();
    assert!(run.seen("noisy", "ws-01"));
    assert!(!run.admit("noisy", "ws-01", 7 * DAY, t1));
    assert!(run.admit("noisy", "ws-03", 7 * DAY, t1));
    run.commit(t1, "r2").unwrap();

    // Eight days after ws-01 was first let through, its window has passed; ws-03 (seen on
    // day 3) is still suppressed: the window counts from the first sighting.
    let t2 = t0 + chrono::Duration::days(8);
    let mut run = StateStore::open_at(dir.path(), "pb", t2).unwrap();
    assert!(run.admit("noisy", "ws-01", 7 * DAY, t2));
    assert!(!run.admit("noisy", "ws-03", 7 * DAY, t2));
    let done = run.commit(t2, "r3").unwrap();
    // ws-02 and other/ws-01 expired (not re-seen), ws-01 renewed, ws-03 kept.
    assert_eq!((done.keys, done.expired), (2, 2));
    let text = fs::read_to_string(dir.path().join("pb.json")).unwrap();
    assert!(
        text.contains("\"ws-01\": \"2026-11-09T00:00:00Z\""),
        "{text}"
    );
    assert!(
        !text.contains("\"other\""),
        "an empty table is not kept: {text}"
    );
}

#[test]
fn the_window_is_saved_with_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = at("2026-01-01T00:00:00Z");
    let mut run = StateStore::open_at(dir.path(), "pb", t0).unwrap();
    assert!(run.admit("long", "k", 90 * DAY, t0));
    run.commit(t0, "r1").unwrap();
    // A run 60 days later that skips the step (never sets the window) must not prune the key
    // with the 30-day default.
    let t1 = t0 + chrono::Duration::days(60);
    let run = StateStore::open_at(dir.path(), "pb", t1).unwrap();
    assert!(run.seen("long", "k"));
    run.commit(t1, "r2").unwrap();
    let run = StateStore::open_at(dir.path(), "pb", t1).unwrap();
    assert!(run.seen("long", "k"));
}

#[test]
fn keys_over_the_cap_lose_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = at("2026-11-01T00:00:00Z");
    let mut run = StateStore::open_at(dir.path(), "pb", t0).unwrap();
    run.set_max_keys_per_step(2);
    for (i, key) in ["a", "b", "c"].iter().enumerate() {
        let when = t0 - chrono::Duration::hours(3 - i64::try_from(i).unwrap());
        run.remember("s", key, when);
    }
    let done = run.commit(t0, "r1").unwrap();
    assert_eq!((done.keys, done.dropped), (2, 1));
    assert!(matches!(
        done.warnings.as_slice(),
        [StateWarning::KeysDropped {
            dropped: 1,
            cap: 2,
            ..
        }]
    ));
    let run = StateStore::open_at(dir.path(), "pb", t0).unwrap();
    assert!(!run.seen("s", "a") && run.seen("s", "b") && run.seen("s", "c"));
}

#[test]
fn future_times_are_reported_and_cannot_stretch_a_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pb.json");
    fs::write(
        &path,
        r#"{"version": 1, "playbook": "pb",
            "last_success": {"$datetime": "2026-12-01T00:00:00Z"},
            "dedupe": {"s": {"window": "1d", "keys": {"k": "2027-01-01T00:00:00Z"}}}}"#,
    )
    .unwrap();
    let now = at("2026-11-25T10:00:00Z");
    let run = StateStore::open_at(dir.path(), "pb", now).unwrap();
    assert_eq!(run.warnings().len(), 2, "{:?}", run.warnings());
    assert!(
        run.warnings()[0]
            .to_string()
            .starts_with("state.last_success (2026-12-01T00:00:00Z) is later than now"),
        "{}",
        run.warnings()[0]
    );
    assert!(matches!(
        &run.warnings()[1],
        StateWarning::KeysInFuture { count: 1, .. }
    ));
    assert!(run.seen("s", "k"), "a future time counts as now");
    let done = run.commit(now, "r1").unwrap();
    assert!(matches!(
        done.warnings.as_slice(),
        [StateWarning::StartedBeforeLastSuccess { .. }]
    ));
    // Saved as now, so it expires one window after now, not after 2027.
    let run = StateStore::open_at(dir.path(), "pb", now + chrono::Duration::days(2)).unwrap();
    assert!(!run.seen("s", "k"));
    assert_eq!(
        run.last_success(),
        Some(now),
        "the run's own start is saved"
    );
}

#[test]
fn small_clock_differences_are_not_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let now = at("2026-11-25T10:00:00Z");
    StateStore::open_at(dir.path(), "pb", now)
        .unwrap()
        .commit(now + chrono::Duration::seconds(5), "r")
        .unwrap();
    let run = StateStore::open_at(dir.path(), "pb", now).unwrap();
    assert!(run.warnings().is_empty(), "{:?}", run.warnings());
}

#[test]
fn a_write_behind_the_locks_back_is_merged_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = at("2026-11-25T10:00:00Z");
    let mut run = StateStore::open_at(dir.path(), "pb", t0).unwrap();
    assert!(run.admit("s", "ours", DAY, t0));
    // Something that does not lock (another host over NFS) writes meanwhile.
    fs::write(
        dir.path().join("pb.json"),
        r#"{"version": 1, "playbook": "pb",
            "last_success": {"$datetime": "2026-11-25T10:05:00Z"},
            "dedupe": {"s": {"window": "1d", "keys": {"theirs": "2026-11-25T10:05:00Z"}}}}"#,
    )
    .unwrap();
    let done = run.commit(t0, "r1").unwrap();
    assert!(matches!(
        done.warnings.as_slice(),
        [StateWarning::ChangedDuringRun { .. }]
    ));
    let run = StateStore::open_at(dir.path(), "pb", t0).unwrap();
    assert!(run.seen("s", "ours") && run.seen("s", "theirs"));
    assert_eq!(run.last_success(), Some(t0));
}

#[test]
fn a_corrupt_file_is_left_alone_and_the_lock_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pb.json");
    let text = "{\"version\": 1, \"playbook\": \"pb\",\n \"last_success\": 17}\n";
    fs::write(&path, text).unwrap();
    let err = StateStore::open(dir.path(), "pb").unwrap_err();
    match &err {
        StateError::Corrupt { line, problem, .. } => {
            assert_eq!(*line, 2);
            assert!(problem.contains("expected a typed datetime"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fs::read_to_string(&path).unwrap(), text, "never reset");
    // Moving it aside, as the message says, starts afresh.
    fs::rename(&path, dir.path().join("pb.json.bad")).unwrap();
    let run = StateStore::open(dir.path(), "pb").unwrap();
    assert_eq!(run.last_success(), None);
}

#[test]
fn a_commit_over_a_file_corrupted_during_the_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = StateStore::open(dir.path(), "pb").unwrap();
    fs::write(dir.path().join("pb.json"), "garbage").unwrap();
    let err = run.commit(Utc::now(), "r1").unwrap_err();
    assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
    assert_eq!(
        fs::read_to_string(dir.path().join("pb.json")).unwrap(),
        "garbage"
    );
}

#[test]
fn leftover_temp_files_of_the_state_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let leftover = dir.path().join(".pb.json.huntbook-tmp-x1y2z3");
    fs::write(&leftover, "{\"version\": 1, \"play").unwrap();
    let _run = StateStore::open(dir.path(), "pb").unwrap();
    assert!(!leftover.exists());
}

#[cfg(unix)]
#[test]
fn the_state_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    StateStore::open(dir.path(), "pb")
        .unwrap()
        .commit(Utc::now(), "r")
        .unwrap();
    let mode = fs::metadata(dir.path().join("pb.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn names_that_are_not_file_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["", "../etc/passwd", "a/b", ".hidden", "-x", "white space"] {
        let err = StateStore::open(dir.path(), name).unwrap_err();
        assert!(matches!(err, StateError::BadName { .. }), "{name}: {err:?}");
    }
    assert!(
        peek(dir.path(), "../x")
            .unwrap_err()
            .to_string()
            .contains("cannot name a state file")
    );
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing created"
    );
}

#[test]
fn a_state_folder_that_is_a_file_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state");
    fs::write(&file, "").unwrap();
    let msg = StateStore::open(&file, "pb").unwrap_err().to_string();
    assert!(msg.starts_with("cannot create folder `"), "{msg}");
}

#[test]
fn peek_reads_without_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(peek(dir.path(), "pb").unwrap(), None);
    let t = at("2026-11-25T10:00:00Z");
    let mut run = StateStore::open_at(dir.path(), "pb", t).unwrap();
    run.remember("s", "k", t);
    run.commit(t, "r1").unwrap();
    let _held = StateStore::open(dir.path(), "pb").unwrap();
    let snap = peek(dir.path(), "pb").unwrap().unwrap();
    assert_eq!(snap.last_success, Some(t));
    assert_eq!(snap.dedupe_keys.get("s"), Some(&1));
    assert_eq!(
        as_datetime(&snap.scope().get_attr("last_success").unwrap()),
        Some(t)
    );
}

#[test]
fn dedupe_keys_from_values() {
    assert_eq!(dedupe_key(&Value::from("ws-01")).unwrap(), "ws-01");
    assert_eq!(dedupe_key(&Value::from(42)).unwrap(), "42");
    assert_eq!(
        dedupe_key(&Value::from(vec![
            Value::from("ws-01"),
            Value::from("alice")
        ]))
        .unwrap(),
        "[\"ws-01\",\"alice\"]"
    );
    let t = at("2026-11-25T10:00:00Z");
    assert_eq!(
        dedupe_key(&crate::template::value::datetime(t)).unwrap(),
        "2026-11-25T10:00:00Z"
    );
    assert!(dedupe_key(&Value::UNDEFINED).is_err());
}
