//! Per-playbook state for scheduled runs (playbook language §6): what a playbook remembers
//! between runs, kept so that scheduled runs never skip and never repeat a window of events.
//!
//! One JSON file per playbook, `STATE_DIR/NAME.json` (format in [`file`]), guarded by a run lock
//! on `STATE_DIR/NAME.lock`. A run:
//!
//! 1. [`StateStore::open`]s the store before its first step: the folder is created, the lock
//!    taken without waiting (a second run fails with [`StateError::AlreadyRunning`]), and the
//!    file read strictly — a corrupt file is an error naming the line and column, never an
//!    empty state;
//! 2. reads [`StateStore::scope`] into templates as `state` (`state.last_success` is a
//!    datetime), and filters repeats with [`StateStore::admit`] (`filter.dedupe`);
//! 3. on success only, [`StateStore::commit`]s: `last_success` becomes the run's `started_at`,
//!    the dedupe keys are merged, expired ones pruned, and the file replaced atomically. A run
//!    that fails or is stopped just drops the store: nothing is written, the lock is released,
//!    and the next run starts from the same `last_success`, so no window of events is lost.
//!
//! Clocks. `last_success` is this run's *start* time, so events that arrive while the run is
//! running fall in the next run's window. Times in the file that lie in the future (another
//! host's clock, or this one's before an NTP correction) are reported as
//! [`StateWarning`]s; a dedupe time in the future counts as "now", so a skewed clock cannot
//! suppress a key for longer than its window. A run that started before the `last_success` it
//! read still writes its own start time: the next window then overlaps (repeats that dedupe
//! can absorb) rather than leaves a gap (events lost for good).

mod error;
mod file;
mod lock;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

pub use error::{StateError, state_path};
pub use file::FORMAT_VERSION;

use crate::fsutil::{self, AtomicOptions, FsError};
use crate::template::Value;
use crate::template::value::{ValueError, datetime, format_datetime, to_json};
use file::{DedupeTable, DurationText, Rfc3339, StateFile, TypedDatetime};
use lock::RunLock;

/// How long `filter.dedupe` remembers a key when the step gives no `window:` (30 days, the
/// same default as the playbook checker's).
pub const DEFAULT_DEDUPE_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// The most keys one dedupe step keeps; beyond it the oldest are forgotten at commit (with a
/// warning), which bounds the file at a few megabytes per step.
pub const DEFAULT_MAX_KEYS_PER_STEP: usize = 100_000;

/// Differences between clocks smaller than this are not worth a warning (hosts in one cluster
/// routinely differ by a few seconds).
pub const CLOCK_SKEW_TOLERANCE: Duration = Duration::from_secs(60);

/// Something about the state worth telling the user, that does not stop the run. The store
/// logs each one when it arises; the engine copies them into the run report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateWarning {
    /// The stored `last_success` is later than this run's start: a clock is off, and a query
    /// from `state.last_success` finds nothing until this host's clock catches up.
    LastSuccessInFuture {
        /// The stored value.
        last_success: DateTime<Utc>,
        /// This run's time.
        now: DateTime<Utc>,
    },
    /// Dedupe keys were remembered at times later than now; they count as remembered now.
    KeysInFuture {
        /// The `filter.dedupe` step.
        step_id: String,
        /// How many keys.
        count: usize,
    },
    /// This run started before the last successful run did; its `started_at` is still saved
    /// (the next window overlaps instead of leaving a gap).
    StartedBeforeLastSuccess {
        /// This run's start.
        run_started_at: DateTime<Utc>,
        /// The previous `last_success`.
        last_success: DateTime<Utc>,
    },
    /// More keys than the cap: the oldest were forgotten, and may pass the filter again.
    KeysDropped {
        /// The `filter.dedupe` step.
        step_id: String,
        /// How many were forgotten.
        dropped: usize,
        /// The cap.
        cap: usize,
    },
    /// The state file changed while this run held the lock: something wrote it without
    /// locking (a file system where `flock` does not reach other hosts?). Both sets of dedupe
    /// keys were kept.
    ChangedDuringRun {
        /// The state file.
        path: PathBuf,
    },
}

impl fmt::Display for StateWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateWarning::LastSuccessInFuture { last_success, now } => write!(
                f,
                "state.last_success ({}) is later than now ({}): a clock is off (this host's, or \
                 that of the host that wrote the state); a query from state.last_success finds \
                 nothing until the clocks agree",
                format_datetime(*last_success),
                format_datetime(*now)
            ),
            StateWarning::KeysInFuture { step_id, count } => write!(
                f,
                "{count} dedupe key(s) of step `{step_id}` were remembered at a time later than \
                 now (a clock is off); they count as remembered now"
            ),
            StateWarning::StartedBeforeLastSuccess {
                run_started_at,
                last_success,
            } => write!(
                f,
                "this run started ({}) before the last successful run ({}); saving this run's \
                 start, so the next run's window overlaps rather than skips events",
                format_datetime(*run_started_at),
                format_datetime(*last_success)
            ),
            StateWarning::KeysDropped {
                step_id,
                dropped,
                cap,
            } => write!(
                f,
                "step `{step_id}` remembers more than {cap} dedupe keys: the {dropped} oldest \
                 were forgotten and may pass the filter again"
            ),
            StateWarning::ChangedDuringRun { path } => write!(
                f,
                "state file `{}` changed while this run held its lock: another process wrote it \
                 without locking (is the state folder on a file system where locks do not \
                 reach other hosts?); both sets of dedupe keys were kept",
                path.display()
            ),
        }
    }
}

/// What [`StateStore::commit`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The state file.
    pub path: PathBuf,
    /// The saved `last_success`.
    pub last_success: DateTime<Utc>,
    /// Dedupe keys kept, over all steps.
    pub keys: usize,
    /// Keys forgotten because their window had passed.
    pub expired: usize,
    /// Keys forgotten because a step had more than the cap.
    pub dropped: usize,
    /// Warnings that arose while committing (also logged).
    pub warnings: Vec<StateWarning>,
}

/// The keys of one dedupe step.
#[derive(Debug, Clone)]
struct Table {
    window: Duration,
    keys: BTreeMap<String, DateTime<Utc>>,
}

impl Table {
    fn new(window: Duration) -> Table {
        Table {
            window,
            keys: BTreeMap::new(),
        }
    }
}

/// A playbook's state, locked for one run.
#[derive(Debug)]
pub struct StateStore {
    playbook: String,
    path: PathBuf,
    lock: RunLock,
    /// SHA-256 of the file as read (`None`: there was none), to notice unlocked writers.
    fingerprint: Option<[u8; 32]>,
    last_success: Option<DateTime<Utc>>,
    last_run_id: Option<String>,
    tables: BTreeMap<String, Table>,
    now: DateTime<Utc>,
    max_keys: usize,
    warnings: Vec<StateWarning>,
}

impl StateStore {
    /// Open `NAME.json` under `state_dir` for a run starting now; see [`StateStore::open_at`].
    ///
    /// # Errors
    /// As [`StateStore::open_at`].
    pub fn open(state_dir: &Path, playbook: &str) -> Result<StateStore, StateError> {
        StateStore::open_at(state_dir, playbook, Utc::now())
    }

    /// Open the state of `playbook` for a run whose `run.started_at` is `now`: create the
    /// folder, take the run lock without waiting, remove temporary files a killed run left
    /// for this state file, and read the file if there is one. `now` is the time dedupe
    /// windows are measured against.
    ///
    /// # Errors
    /// [`StateError::BadName`], [`StateError::AlreadyRunning`] when another run holds the lock,
    /// [`StateError::Corrupt`] / [`StateError::UnsupportedVersion`] /
    /// [`StateError::WrongPlaybook`] for a file that cannot be trusted (it is left as it is),
    /// [`StateError::Fs`] when the folder or files cannot be created or read.
    pub fn open_at(
        state_dir: &Path,
        playbook: &str,
        now: DateTime<Utc>,
    ) -> Result<StateStore, StateError> {
        check_name(playbook)?;
        fsutil::create_dir_all(state_dir)?;
        let path = error::state_path(state_dir, playbook);
        let lock = RunLock::acquire(&state_dir.join(format!("{playbook}.lock")), playbook)?;
        // Only a holder of this lock writes this file, so any temporary file of it is a
        // leftover of a killed run, however young.
        let removed = fsutil::remove_temps_of(&path)?;
        if !removed.is_empty() {
            tracing::info!(
                count = removed.len(),
                "removed temporary state files left by an interrupted run"
            );
        }
        let (file, fingerprint) = read(&path, playbook)?;
        let mut store = StateStore {
            playbook: playbook.to_string(),
            path,
            lock,
            fingerprint,
            last_success: None,
            last_run_id: None,
            tables: BTreeMap::new(),
            now,
            max_keys: DEFAULT_MAX_KEYS_PER_STEP,
            warnings: Vec::new(),
        };
        if let Some(file) = file {
            store.last_success = file.last_success.map(|t| t.at.0);
            store.last_run_id = file.last_run_id;
            store.tables = tables_from(file.dedupe);
        }
        store.check_clocks();
        Ok(store)
    }

    fn check_clocks(&mut self) {
        let horizon = chrono::Duration::from_std(CLOCK_SKEW_TOLERANCE)
            .ok()
            .and_then(|tolerance| self.now.checked_add_signed(tolerance))
            .unwrap_or(self.now);
        if let Some(last_success) = self.last_success
            && last_success > horizon
        {
            self.warn(StateWarning::LastSuccessInFuture {
                last_success,
                now: self.now,
            });
        }
        let skewed: Vec<(String, usize)> = self
            .tables
            .iter()
            .map(|(id, t)| {
                (
                    id.clone(),
                    t.keys.values().filter(|at| **at > horizon).count(),
                )
            })
            .filter(|(_, count)| *count > 0)
            .collect();
        for (step_id, count) in skewed {
            self.warn(StateWarning::KeysInFuture { step_id, count });
        }
    }

    fn warn(&mut self, warning: StateWarning) {
        tracing::warn!(playbook = %self.playbook, "{warning}");
        self.warnings.push(warning);
    }

    /// Cap the keys each dedupe step keeps (default [`DEFAULT_MAX_KEYS_PER_STEP`]).
    pub fn set_max_keys_per_step(&mut self, max: usize) {
        self.max_keys = max.max(1);
    }

    /// The playbook's name.
    #[must_use]
    pub fn playbook(&self) -> &str {
        &self.playbook
    }

    /// The state file (which may not exist yet).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock file.
    #[must_use]
    pub fn lock_path(&self) -> &Path {
        self.lock.path()
    }

    /// The `run.started_at` of the last successful run, if there was one.
    #[must_use]
    pub fn last_success(&self) -> Option<DateTime<Utc>> {
        self.last_success
    }

    /// The id of the last successful run, if there was one.
    #[must_use]
    pub fn last_run_id(&self) -> Option<&str> {
        self.last_run_id.as_deref()
    }

    /// Warnings so far (clock skew seen at open).
    #[must_use]
    pub fn warnings(&self) -> &[StateWarning] {
        &self.warnings
    }

    /// The `state` value for templates: a map with `last_success` (a datetime) and
    /// `last_run_id` when there was a successful run, empty otherwise — so
    /// `state.last_success | default(ago(inputs.lookback))` works on the first run.
    #[must_use]
    pub fn scope(&self) -> Value {
        scope_of(self.last_success, self.last_run_id.as_deref())
    }

    /// Set the window of a dedupe step (`filter.dedupe.window`); a step whose window is never
    /// set keeps the one saved with its keys, or [`DEFAULT_DEDUPE_WINDOW`].
    pub fn set_window(&mut self, step_id: &str, window: Duration) {
        self.table(step_id).window = window;
    }

    /// Whether `key` passed step `step_id`'s filter within its window (in an earlier run, or
    /// earlier in this one).
    #[must_use]
    pub fn seen(&self, step_id: &str, key: &str) -> bool {
        self.tables.get(step_id).is_some_and(|table| {
            table
                .keys
                .get(key)
                .is_some_and(|at| active(*at, table.window, self.now))
        })
    }

    /// Remember that `key` passed step `step_id`'s filter at `at` (normally `run.started_at`).
    /// A key still within its window keeps its first time: the window counts from when it was
    /// first let through, so a condition that persists is reported again once per window.
    /// Remembered keys are saved only by [`commit`](StateStore::commit).
    pub fn remember(&mut self, step_id: &str, key: &str, at: DateTime<Utc>) {
        let now = self.now;
        let table = self.table(step_id);
        let window = table.window;
        match table.keys.get_mut(key) {
            Some(first) if active(*first, window, now) => {}
            Some(first) => *first = at,
            None => {
                table.keys.insert(key.to_string(), at);
            }
        }
    }

    /// `filter.dedupe` in one call: set the step's window, and let `key` through (returning
    /// true, and remembering it at `at`) unless it was seen within the window.
    pub fn admit(&mut self, step_id: &str, key: &str, window: Duration, at: DateTime<Utc>) -> bool {
        self.set_window(step_id, window);
        if self.seen(step_id, key) {
            return false;
        }
        self.remember(step_id, key, at);
        true
    }

    fn table(&mut self, step_id: &str) -> &mut Table {
        self.tables
            .entry(step_id.to_string())
            .or_insert_with(|| Table::new(DEFAULT_DEDUPE_WINDOW))
    }

    /// Save the state of a successful run, atomically: `last_success` = `run_started_at`,
    /// `last_run_id` = `run_id`, this run's dedupe keys merged with the earlier ones, keys
    /// older than their window dropped, each step capped. Then release the lock. Call it only
    /// when the run succeeded (and was not stopped); otherwise drop the store.
    ///
    /// # Errors
    /// When the file cannot be written (the old file then stays as it was), or when it was
    /// replaced during the run by something that is not a valid state file (it is not
    /// overwritten).
    pub fn commit(
        mut self,
        run_started_at: DateTime<Utc>,
        run_id: &str,
    ) -> Result<Committed, StateError> {
        let first_warning = self.warnings.len();
        if let Some(last_success) = self.last_success
            && run_started_at < last_success
        {
            self.warn(StateWarning::StartedBeforeLastSuccess {
                run_started_at,
                last_success,
            });
        }

        let (current, fingerprint) = read(&self.path, &self.playbook)?;
        if fingerprint != self.fingerprint {
            self.warn(StateWarning::ChangedDuringRun {
                path: self.path.clone(),
            });
            if let Some(theirs) = current {
                self.merge(tables_from(theirs.dedupe));
            }
        }

        let (mut expired, mut dropped, mut kept) = (0, 0, 0);
        let mut dedupe = BTreeMap::new();
        let mut over_cap = Vec::new();
        for (step_id, table) in std::mem::take(&mut self.tables) {
            let before = table.keys.len();
            let mut keys: Vec<(String, DateTime<Utc>)> = table
                .keys
                .into_iter()
                .map(|(k, at)| (k, at.min(run_started_at)))
                .filter(|(_, at)| active(*at, table.window, run_started_at))
                .collect();
            expired += before - keys.len();
            if keys.len() > self.max_keys {
                // Newest first; the oldest would expire first anyway.
                keys.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                let excess = keys.len() - self.max_keys;
                keys.truncate(self.max_keys);
                dropped += excess;
                over_cap.push((step_id.clone(), excess));
            }
            kept += keys.len();
            if !keys.is_empty() {
                dedupe.insert(
                    step_id,
                    DedupeTable {
                        window: DurationText(table.window),
                        keys: keys.into_iter().map(|(k, at)| (k, Rfc3339(at))).collect(),
                    },
                );
            }
        }
        for (step_id, excess) in over_cap {
            self.warn(StateWarning::KeysDropped {
                step_id,
                dropped: excess,
                cap: self.max_keys,
            });
        }

        let file = StateFile {
            version: FORMAT_VERSION,
            playbook: self.playbook.clone(),
            written_by: Some(format!("huntbook {}", env!("CARGO_PKG_VERSION"))),
            updated_at: Some(Rfc3339(Utc::now())),
            last_success: Some(TypedDatetime {
                at: Rfc3339(run_started_at),
            }),
            last_run_id: Some(run_id.to_string()),
            dedupe,
        };
        let bytes = file::encode(&self.path, &file)?;
        // State names accounts and devices of the tenant: owner-only, like the token cache.
        fsutil::write_atomic_with(
            &self.path,
            &bytes,
            &AtomicOptions::new().private().create_parents(false),
        )?;
        Ok(Committed {
            path: self.path.clone(),
            last_success: run_started_at,
            keys: kept,
            expired,
            dropped,
            warnings: self.warnings.split_off(first_warning),
        })
    }

    /// Add keys another writer saved: the later time of a key wins (it was let through more
    /// recently); windows set in this run win over saved ones.
    fn merge(&mut self, theirs: BTreeMap<String, Table>) {
        for (step_id, their_table) in theirs {
            let ours = self
                .tables
                .entry(step_id)
                .or_insert_with(|| Table::new(their_table.window));
            for (key, at) in their_table.keys {
                let entry = ours.keys.entry(key).or_insert(at);
                *entry = (*entry).max(at);
            }
        }
    }
}

/// What a state file holds, read without taking the lock (for `plan` and diagnostics: the
/// file is replaced atomically, so an unlocked read sees a whole file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSnapshot {
    /// The state file.
    pub path: PathBuf,
    /// The `run.started_at` of the last successful run.
    pub last_success: Option<DateTime<Utc>>,
    /// The id of the last successful run.
    pub last_run_id: Option<String>,
    /// When the file was last written.
    pub updated_at: Option<DateTime<Utc>>,
    /// How many keys each dedupe step remembers.
    pub dedupe_keys: BTreeMap<String, usize>,
}

impl StateSnapshot {
    /// The `state` value for templates, as [`StateStore::scope`].
    #[must_use]
    pub fn scope(&self) -> Value {
        scope_of(self.last_success, self.last_run_id.as_deref())
    }
}

/// Read the state of `playbook` without locking it: `None` when there is no state file yet.
///
/// # Errors
/// As [`StateStore::open_at`], except that a running playbook is no error.
pub fn peek(state_dir: &Path, playbook: &str) -> Result<Option<StateSnapshot>, StateError> {
    check_name(playbook)?;
    let path = error::state_path(state_dir, playbook);
    let (file, _) = read(&path, playbook)?;
    Ok(file.map(|f| StateSnapshot {
        path,
        last_success: f.last_success.map(|t| t.at.0),
        last_run_id: f.last_run_id,
        updated_at: f.updated_at.map(|t| t.0),
        dedupe_keys: f
            .dedupe
            .into_iter()
            .map(|(id, t)| (id, t.keys.len()))
            .collect(),
    }))
}

/// The text a `filter.dedupe` key expression's value is remembered as: a string as is; other
/// values as compact JSON (`42`, `["ws-01","alice"]`), datetimes and durations as their text.
///
/// # Errors
/// For values JSON cannot hold (undefined, functions).
pub fn dedupe_key(value: &Value) -> Result<String, ValueError> {
    if let Some(s) = value.as_str() {
        return Ok(s.to_string());
    }
    Ok(match to_json(value)? {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    })
}

fn scope_of(last_success: Option<DateTime<Utc>>, last_run_id: Option<&str>) -> Value {
    let mut pairs: Vec<(&str, Value)> = Vec::new();
    if let Some(t) = last_success {
        pairs.push(("last_success", datetime(t)));
    }
    if let Some(id) = last_run_id {
        pairs.push(("last_run_id", Value::from(id)));
    }
    Value::from_pairs(pairs)
}

fn tables_from(dedupe: BTreeMap<String, DedupeTable>) -> BTreeMap<String, Table> {
    dedupe
        .into_iter()
        .map(|(id, t)| {
            (
                id,
                Table {
                    window: t.window.0,
                    keys: t.keys.into_iter().map(|(k, at)| (k, at.0)).collect(),
                },
            )
        })
        .collect()
}

/// Whether a key remembered at `at` is still within `window` at `now`. A time in the future
/// counts as `now`, so a skewed clock cannot stretch the suppression; a window too large for
/// the calendar never ends.
fn active(at: DateTime<Utc>, window: Duration, now: DateTime<Utc>) -> bool {
    let at = at.min(now);
    match chrono::Duration::from_std(window)
        .ok()
        .and_then(|w| at.checked_add_signed(w))
    {
        Some(expires) => now < expires,
        None => true,
    }
}

/// Read and parse the state file: `(None, None)` when there is none.
fn read(path: &Path, playbook: &str) -> Result<(Option<StateFile>, Option<[u8; 32]>), StateError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, None)),
        Err(e) => {
            return Err(FsError {
                action: "read the state file",
                path: path.to_path_buf(),
                io: e,
            }
            .into());
        }
    };
    let fingerprint: [u8; 32] = Sha256::digest(&bytes).into();
    let file = file::parse(path, &bytes, playbook)?;
    Ok((Some(file), Some(fingerprint)))
}

/// A playbook name becomes a file name: keep it to letters, digits, `-`, `_` and `.`, starting
/// with a letter or digit (the playbook language is stricter still).
fn check_name(name: &str) -> Result<(), StateError> {
    let bad = |why| {
        Err(StateError::BadName {
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 128 {
        return bad("it is longer than 128 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("it must start with a letter or a digit");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return bad("only letters, digits, `-`, `_` and `.` are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests;
