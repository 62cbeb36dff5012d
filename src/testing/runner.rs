//! Running cases: each in a fresh temporary folder (working directory, state directory,
//! emulator files) against its own in-process emulator, through the engine, with fixtures in
//! front of the connection — then its expectations checked. Cases run in parallel, up to
//! `jobs` at once; results come back in file order as soon as they are known.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use crate::engine::{self, Connection, Engine, RunOptions};
use crate::playbook::{Playbook, Step};

use super::backend::Backend;
use super::expect::{self, Failure, Observed};
use super::fixtures::FixtureConnection;
use super::spec::{Case, TestFile};

/// How a case ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// Expectations the run did not meet.
    Failed(Vec<Failure>),
    /// `skip:`, with the reason.
    Skipped(String),
    /// The case could not be run (the emulator refused its tenant, the case hung, …).
    Error(String),
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// Index of the test file in the list given to [`Runner::run_all`].
    pub file: usize,
    /// Index of the case in its file.
    pub case: usize,
    /// The case's `name`.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took, set-up included.
    pub duration: Duration,
}

impl CaseResult {
    /// Whether the case counts as failed (a failed expectation or an error).
    #[must_use]
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed(_) | Outcome::Error(_))
    }
}

/// Runs cases through a backend.
pub struct Runner {
    backend: Arc<dyn Backend>,
    jobs: usize,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("jobs", &self.jobs)
            .finish_non_exhaustive()
    }
}

/// Where `output` steps without a path write during a case.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

/// A failure to set a case up, shown as the case's error.
type SetupError = String;

impl Runner {
    /// A runner sending calls through `backend`, running up to `jobs` cases at once.
    #[must_use]
    pub fn new(backend: Arc<dyn Backend>, jobs: usize) -> Runner {
        Runner {
            backend,
            jobs: jobs.max(1),
        }
    }

    /// Run every case of `files`; `report` sees each result in file order, as soon as it and
    /// every result before it are known. Returns all results, in file order.
    pub async fn run_all(
        &self,
        files: Arc<Vec<TestFile>>,
        mut report: impl FnMut(&CaseResult),
    ) -> Vec<CaseResult> {
        let order: Vec<(usize, usize)> = files
            .iter()
            .enumerate()
            .flat_map(|(f, file)| (0..file.cases.len()).map(move |c| (f, c)))
            .collect();
        let limit = Arc::new(tokio::sync::Semaphore::new(self.jobs));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (slot, &(f, c)) in order.iter().enumerate() {
            let files = Arc::clone(&files);
            let limit = Arc::clone(&limit);
            let backend = Arc::clone(&self.backend);
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(_permit) = limit.acquire_owned().await else {
                    return;
                };
                let result = run_case(backend.as_ref(), &files[f], f, c).await;
                let _ = tx.send((slot, result));
            });
        }
        drop(tx);
        let mut done: Vec<Option<CaseResult>> = vec![None; order.len()];
        let mut next = 0;
        while let Some((slot, result)) = rx.recv().await {
            done[slot] = Some(result);
            while let Some(Some(r)) = done.get(next) {
                report(r);
                next += 1;
            }
        }
        // A task that panicked sent nothing: report its case rather than lose it.
        done.into_iter()
            .zip(order)
            .map(|(r, (f, c))| {
                r.unwrap_or_else(|| {
                    let result = CaseResult {
                        file: f,
                        case: c,
                        name: files[f].cases[c].name.clone(),
                        outcome: Outcome::Error("the case crashed (a bug in huntbook)".into()),
                        duration: Duration::ZERO,
                    };
                    report(&result);
                    result
                })
            })
            .collect()
    }
}

/// Run case `c` of `file` (file number `f`).
pub async fn run_case(backend: &dyn Backend, file: &TestFile, f: usize, c: usize) -> CaseResult {
    let case = &file.cases[c];
    let started = Instant::now();
    let outcome = match &case.skip {
        Some(reason) => Outcome::Skipped(reason.clone()),
        None => match tokio::time::timeout(case.timeout, attempt(backend, file, case)).await {
            Ok(Ok(failures)) if failures.is_empty() => Outcome::Passed,
            Ok(Ok(failures)) => Outcome::Failed(failures),
            Ok(Err(e)) => Outcome::Error(e),
            Err(_) => Outcome::Error(format!(
                "the case did not finish within {} (`timeout:`)",
                crate::template::types::format_duration(case.timeout)
            )),
        },
    };
    CaseResult {
        file: f,
        case: c,
        name: case.name.clone(),
        outcome,
        duration: started.elapsed(),
    }
}

/// The emulator configuration of a case.
fn emulator_config(case: &Case, dir: &Path) -> Result<EmulatorConfig, SetupError> {
    let t = &case.tenant;
    let mut config = EmulatorConfig {
        seed: t.seed,
        data: t.data.as_deref().cloned(),
        action_step: t.action_step,
        // Nobody approves a device code in a test: the emulator does, at the first poll, and
        // announces no interval, which the client honours (the run's environment lowers its
        // polling floor against the emulator): a sign-in costs no waiting.
        device_code_auto_approve: Some(0),
        device_code_interval: Duration::ZERO,
        work_dir: Some(dir.to_path_buf()),
        ..EmulatorConfig::default()
    };
    if let Some(rows) = t.rows {
        config.rows = rows;
    }
    config.limits = crate::emulator::limits::LimitsSpec::from_str(&t.limits)
        .map_err(|e| format!("tenant `limits`: {e}"))?;
    if let Some(spec) = &t.faults {
        config.faults = crate::emulator::faults::FaultSpec::from_str(spec)
            .map_err(|e| format!("tenant `faults`: {e}"))?;
    }
    Ok(config)
}

/// Set the case up, run it, check it.
async fn attempt(
    backend: &dyn Backend,
    file: &TestFile,
    case: &Case,
) -> Result<Vec<Failure>, SetupError> {
    let dir = tempfile::Builder::new()
        .prefix("huntbook-test-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let work = dir.path().join("work");
    let emu_dir = dir.path().join("emulator");
    for d in [&work, &emu_dir] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create `{}`: {e}", d.display()))?;
    }
    let config = emulator_config(case, &emu_dir)?;
    let emulator = Emulator::start(config)
        .await
        .map_err(|e| format!("the emulator did not start with this case's tenant: {e}"))?;
    let app = case
        .tenant
        .app
        .as_deref()
        .unwrap_or(crate::emulator::directory::DEMO_APP);
    let mut env = case.env.clone();
    let inner = backend.connect(&emulator, app, &mut env)?;
    let conn: Arc<dyn Connection> = Arc::new(FixtureConnection::new(
        inner,
        &file.playbook,
        &case.fixtures,
    ));
    let seen = execute(
        conn,
        &file.playbook,
        case,
        env,
        &work,
        dir.path(),
        &emulator,
    )
    .await;
    let lookup = |t: &str| machine(&emulator, t);
    Ok(expect::evaluate(case, &seen, &work, &lookup))
}

/// A machine of the case's tenant by DNS name, first label or id: `(id, DNS name)`.
fn machine(emulator: &EmulatorHandle, t: &str) -> Option<(String, String)> {
    let tenant = &emulator.state.tenant;
    let m = tenant.machine(t).or_else(|| {
        let prefix = format!("{}.", t.to_ascii_lowercase());
        let mut found = tenant
            .machines()
            .iter()
            .filter(|m| m.device.name.to_ascii_lowercase().starts_with(&prefix));
        match (found.next(), found.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    })?;
    Some((m.device.id.to_ascii_lowercase(), m.device.name.clone()))
}

/// Run the playbook as `huntbook run` would (its refusals included) and observe the result.
async fn execute(
    conn: Arc<dyn Connection>,
    playbook: &Playbook,
    case: &Case,
    env: BTreeMap<String, String>,
    work: &Path,
    dir: &Path,
    emulator: &EmulatorHandle,
) -> Observed {
    let refuse = |why: String| Observed {
        exit: crate::exit::ExitStatus::Invalid.code(),
        refused: Some(why),
        ..Observed::default()
    };
    let inputs = match engine::inputs::resolve(playbook, &case.inputs) {
        Ok(i) => i,
        Err(diags) => {
            let msgs: Vec<String> = diags.iter().map(|d| d.message.clone()).collect();
            return refuse(format!("bad inputs: {}", msgs.join("; ")));
        }
    };
    if !case.allow_actions {
        let actions = engine::checks::describe_response_actions(playbook);
        if !actions.is_empty() {
            return refuse(format!(
                "{} performs response actions and they were not allowed (`allow_actions: true`): {}",
                playbook.name,
                actions.join("; ")
            ));
        }
    }
    let mut own = playbook.clone();
    private_token_caches(&mut own.steps, &dir.join("token-cache.json"));
    let stdout = Captured::default();
    let engine = Engine::new(conn).with_stdout(Arc::new(Mutex::new(Box::new(stdout.clone()))));
    let mut options = RunOptions::new(env);
    options.allow_actions = case.allow_actions;
    options.workdir = work.to_path_buf();
    // Every case is a first run, with a state folder of its own, as a run with `--state-dir`.
    let store = match crate::state::StateStore::open(&dir.join("state"), &playbook.name) {
        Ok(s) => s,
        Err(e) => return refuse(format!("cannot open the case's state folder: {e}")),
    };
    let run = engine.run(&own, &inputs, &options, Some(store)).await;
    // Converting copies every row: only a case that checks outputs pays for it.
    let outputs = if case.expect.outputs.is_empty() {
        Err("no expectation reads them".to_string())
    } else {
        outputs_json(&run)
    };
    let report = run.report;
    Observed {
        exit: report.exit_code,
        refused: None,
        report: Some(report),
        outputs,
        stdout: stdout.text(),
        journal: emulator.state.tenant.journal(),
    }
}

/// Point every user sign-in at the case's own refresh-token cache: a test must not read or
/// grow the cache of the person running it (`~/.cache/huntbook/token-cache.json`), nor see
/// another case's sign-in.
fn private_token_caches(steps: &mut [Step], cache: &Path) {
    for step in steps {
        match &mut step.kind {
            crate::playbook::StepKind::Authenticate(a) => match &mut a.credential {
                crate::playbook::Credential::DeviceCode { token_cache }
                | crate::playbook::Credential::Password { token_cache, .. } => {
                    *token_cache = Some(cache.to_path_buf());
                }
                _ => {}
            },
            crate::playbook::StepKind::Steps(children)
            | crate::playbook::StepKind::Parallel(children) => {
                private_token_caches(children, cache);
            }
            _ => {}
        }
    }
}

/// `{"steps": …, "vars": …}` as the run left them, as JSON.
fn outputs_json(run: &engine::RunOutput) -> Result<serde_json::Value, String> {
    let doc = crate::template::Value::from_pairs([
        ("steps", run.steps.clone()),
        ("vars", run.vars.clone()),
    ]);
    crate::template::value::to_json(&doc)
        .map_err(|e| format!("they cannot be read as JSON: {}", e.message))
}

#[cfg(test)]
mod inproc;
#[cfg(test)]
mod tests;
