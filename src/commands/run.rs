//! `huntbook run PLAYBOOK`: load and validate the playbook, resolve `--input`s, refuse what
//! cannot run (exit 2, nothing sent), set up logging, start the emulator when asked, run the
//! playbook through the engine, then write the `--report` file and the summary and exit with
//! the status the report calls for. stdout carries only the data `output` steps write.

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{GlobalArgs, LogFormat, RunArgs};
use crate::diag::{self, Diagnostic, Severity};
use crate::engine::report::RunReport;
use crate::engine::{self, Engine, Observer, PlannedWrite, RunOptions};
use crate::exit::ExitStatus;
use crate::playbook::{Playbook, Step, load_file};
use crate::signals::Cancellation;
use crate::source::SourceMap;
use crate::state::StateStore;

/// How the command talks to the person (or the log collector) on stderr.
struct Ui {
    json: bool,
    quiet: bool,
    colour: bool,
}

impl Ui {
    fn new(global: &GlobalArgs) -> Ui {
        let json = global.log_format == LogFormat::Json;
        Ui {
            json,
            quiet: global.quiet,
            colour: !json && diag::stderr_wants_colour(),
        }
    }

    fn diagnostics(&self, diags: &[Diagnostic], sources: &SourceMap) {
        let shown: Vec<Diagnostic> = diags
            .iter()
            .filter(|d| !self.quiet || d.severity == Severity::Error)
            .cloned()
            .collect();
        if shown.is_empty() {
            return;
        }
        let mut err = std::io::stderr().lock();
        if self.json {
            for d in &shown {
                let line = serde_json::json!({
                    "timestamp": log_timestamp(),
                    "level": d.severity.as_str().to_uppercase(),
                    "event": "diagnostic",
                    "diagnostic": diag::to_json(d, sources),
                });
                let _ = writeln!(err, "{line}");
            }
        } else {
            let _ = write!(err, "{}", diag::render_human(&shown, sources, self.colour));
        }
    }

    /// A one-line message to the person (an event in JSON mode).
    fn say(&self, level: &str, event: &str, message: &str) {
        if self.quiet && level != "ERROR" {
            return;
        }
        let message = &crate::redact::redact(message);
        let mut err = std::io::stderr().lock();
        if self.json {
            let line = serde_json::json!({
                "timestamp": log_timestamp(),
                "level": level,
                "event": event,
                "message": message,
            });
            let _ = writeln!(err, "{line}");
        } else {
            let _ = writeln!(err, "{message}");
        }
    }
}

/// The time of a JSON log line, as the `tracing` events print it (UTC, microseconds).
fn log_timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Entry point of `huntbook run`.
#[must_use]
pub fn run(args: &RunArgs, global: &GlobalArgs) -> ExitStatus {
    let ui = Ui::new(global);
    let loaded = load_file(&args.playbook);
    ui.diagnostics(&loaded.diagnostics, &loaded.sources);
    let Some(playbook) = loaded.playbook.as_ref().filter(|_| loaded.is_valid()) else {
        ui.say(
            "ERROR",
            "invalid_playbook",
            &format!("{}: invalid, nothing ran", args.playbook.display()),
        );
        return ExitStatus::Invalid;
    };
    let inputs = match engine::inputs::resolve(playbook, &args.inputs) {
        Ok(i) => i,
        Err(diags) => {
            ui.diagnostics(&diags, &playbook.sources);
            ui.say("ERROR", "invalid_input", "bad `--input`: nothing ran");
            return ExitStatus::Invalid;
        }
    };
    let allow_actions = match guard(args, playbook, &ui) {
        Ok(allowed) => allowed,
        Err(status) => return status,
    };
    init_logging(global);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            ui.say(
                "ERROR",
                "runtime",
                &format!("error: cannot start the runtime: {e}"),
            );
            return ExitStatus::Failure;
        }
    };
    let status = runtime.block_on(execute(args, &ui, playbook, &inputs, allow_actions));
    // Connections to a server that is gone (the emulator) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_millis(200));
    status
}

/// `--allow-actions`, a confirmation on a terminal, or a refusal (exit 2) listing the writes.
/// A dry run sends no write, so it needs no permission to act.
fn guard(args: &RunArgs, playbook: &Playbook, ui: &Ui) -> Result<bool, ExitStatus> {
    let actions = engine::checks::describe_response_actions(playbook);
    if actions.is_empty() || args.allow_actions || args.dry_run {
        return Ok(args.allow_actions);
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if interactive && !ui.json {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "{} performs response actions (at most {} per run):",
            playbook.name, playbook.max_targets
        );
        for a in &actions {
            let _ = writeln!(err, "  - {a}");
        }
        let _ = write!(err, "Run them? Type `yes` to continue: ");
        let _ = err.flush();
        drop(err);
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if answer.trim().eq_ignore_ascii_case("yes") {
            return Ok(true);
        }
        ui.say("ERROR", "refused", "not confirmed: nothing ran");
        return Err(ExitStatus::Invalid);
    }
    let mut message = format!(
        "error: {} performs response actions and `--allow-actions` was not given; nothing ran:",
        playbook.name
    );
    for a in &actions {
        message.push_str("\n  - ");
        message.push_str(a);
    }
    message.push_str(
        "\nhelp: review them with `huntbook run --dry-run`, then run with `--allow-actions`",
    );
    ui.say("ERROR", "actions_refused", &message);
    Err(ExitStatus::Invalid)
}

/// Logs on stderr: human text or JSON lines. Default level: warnings (info with JSON, for
/// cron); `-v` info, `-vv` debug, `-vvv` trace, `-q` errors only. Other crates stay at `warn`
/// whatever the verbosity, and `RUST_LOG` is not read, so no library's trace output (request
/// headers) can reach the logs.
fn init_logging(global: &GlobalArgs) {
    let json = global.log_format == LogFormat::Json;
    let level = match (global.quiet, global.verbose, json) {
        (true, _, _) => "error",
        (false, 0, false) => "warn",
        (false, 0, true) | (false, 1, _) => "info",
        (false, 2, _) => "debug",
        _ => "trace",
    };
    // JSON logs at their default level also carry each API call attempt (the client logs
    // those at debug), as a cron job's audit trail.
    let api = if json && global.verbose == 0 && !global.quiet {
        ",huntbook::api=debug"
    } else {
        ""
    };
    let filter = tracing_subscriber::EnvFilter::new(format!("warn,huntbook={level}{api}"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(crate::redact::stderr)
        .with_target(false);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder
            .without_time()
            // The writer makes every escape visible (data in logs must not drive the terminal).
            .with_ansi(false)
            .try_init()
    };
}

/// The process environment as the run's environment (variables that are not UTF-8 are left
/// out: templates and secret references only read text).
fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

async fn execute(
    args: &RunArgs,
    ui: &Ui,
    playbook: &Playbook,
    inputs: &engine::Inputs,
    allow_actions: bool,
) -> ExitStatus {
    let mut env = process_env();
    let mut public_client = None;
    let _emulator = if args.emulator {
        match start_emulator(&mut env).await {
            Ok((handle, public, message)) => {
                ui.say("INFO", "emulator", &message);
                public_client = public;
                Some(handle)
            }
            Err(e) => {
                ui.say(
                    "ERROR",
                    "emulator",
                    &format!("error: cannot start the emulator: {e}"),
                );
                return ExitStatus::Failure;
            }
        }
    } else {
        None
    };
    let connection = match connect(&env, public_client, ui, args.emulator) {
        Ok(c) => c,
        Err(e) => {
            ui.say("ERROR", "connection", &format!("error: {e}"));
            return ExitStatus::AuthFailed;
        }
    };
    let mut options = RunOptions::new(env);
    options.dry_run = args.dry_run;
    options.allow_actions = allow_actions;
    if let Ok(dir) = std::env::current_dir() {
        options.workdir = dir;
    }
    // One run of a playbook at a time: the lock is taken before the first step (a dry run
    // takes it too, to read dedupe keys exactly as a real run would).
    let state = match StateStore::open_at(&args.state_dir, &playbook.name, options.started_at) {
        Ok(s) => s,
        Err(e) => {
            ui.say("ERROR", "state", &format!("error: {e}"));
            // Stopped before its first step, but a report is promised whatever the outcome.
            let (message, help) = e.message_and_help();
            let error = engine::report::ErrorReport {
                kind: engine::ErrorKind::Io,
                message,
                help,
                status: None,
                location: None,
                step: None,
                label: "the state".to_string(),
                span: None,
            };
            let state = engine::report::StateReport {
                path: crate::state::state_path(&args.state_dir, &playbook.name)
                    .display()
                    .to_string(),
                saved: false,
                keys: None,
                warnings: Vec::new(),
            };
            let report = engine::report_not_started(playbook, inputs, &options, error, Some(state));
            return write_report(args, ui, &report, e.exit_status());
        }
    };
    let cancel = match Cancellation::install() {
        Ok(c) => c,
        Err(e) => {
            ui.say(
                "WARN",
                "signals",
                &format!("warning: cannot watch for Ctrl-C and SIGTERM ({e}): they will end the run at once"),
            );
            Cancellation::new()
        }
    };
    let progress = Progress::new(ui);
    let engine = Engine::new(connection)
        .with_cancel(cancel)
        .with_observer(progress.clone());
    let output = engine.run(playbook, inputs, &options, Some(state)).await;
    progress.finish();
    let report = output.report;
    let status = write_report(args, ui, &report, report.exit_status());
    finish(ui, playbook, &report);
    status
}

/// Write the `--report` file, if asked for; a report that cannot be written fails the run.
fn write_report(args: &RunArgs, ui: &Ui, report: &RunReport, status: ExitStatus) -> ExitStatus {
    let Some(path) = &args.report else {
        return status;
    };
    let written = engine::render::report_json(report)
        .map_err(|e| e.to_string())
        .and_then(|text| {
            crate::fsutil::write_atomic(path, text.as_bytes()).map_err(|e| e.to_string())
        });
    match written {
        Ok(_) => status,
        Err(e) => {
            ui.say(
                "ERROR",
                "report",
                &format!("error: cannot write the report `{}`: {e}", path.display()),
            );
            status.worst(ExitStatus::Failure)
        }
    }
}

/// Start the emulator in-process on a free loopback port and point every endpoint at it,
/// with its demo application's credentials, through the run's environment (never the
/// process's) — each only where the user did not set it. Says which tenant and application it
/// uses, never the secret.
async fn start_emulator(
    env: &mut BTreeMap<String, String>,
) -> Result<(crate::emulator::EmulatorHandle, Option<String>, String), String> {
    let config = crate::emulator::EmulatorConfig {
        port: 0,
        // A person is watching: no need to wait between device-code polls.
        device_code_interval: Duration::ZERO,
        ..crate::emulator::EmulatorConfig::default()
    };
    let handle = crate::emulator::Emulator::start(config)
        .await
        .map_err(|e| e.to_string())?;
    let info = handle.info().clone();
    let public_client = emulator_environment(&info, env);
    let demo = info.app("huntbook-demo");
    let app_name = demo.map_or("none", |a| a.name.as_str());
    let client_id = env.get("AZURE_CLIENT_ID").cloned().unwrap_or_default();
    let message = format!(
        "emulator: demo tenant {} at {} (application {app_name}, client id {client_id})",
        info.tenant_id, info.login_url
    );
    Ok((handle, public_client, message))
}

/// Point a run's environment at a running emulator (shared with `huntbook test`): every
/// endpoint, the tenant, the demo application's credentials and the default user's — each
/// only where `env` does not set it already. Returns the public client that user-context
/// steps sign in through, when the run uses the demo application (a confidential client,
/// which cannot sign users in).
pub fn emulator_environment(
    info: &crate::emulator::server::EmulatorInfo,
    env: &mut BTreeMap<String, String>,
) -> Option<String> {
    let mut set = |key: &str, value: &str| {
        env.entry(key.to_string())
            .or_insert_with(|| value.to_string());
    };
    set("HUNTBOOK_LOGIN_URL", &info.login_url);
    set("HUNTBOOK_GRAPH_URL", &info.graph_url);
    set("HUNTBOOK_API_URL", &info.defender_url);
    set("HUNTBOOK_ENDPOINT_URL", &info.endpoint_url);
    set("AZURE_TENANT_ID", &info.tenant_id);
    // Demo sign-ins must not touch the user's real refresh-token cache.
    let cache = info.work_dir.join("token-cache.json");
    set(crate::auth::TOKEN_CACHE_VAR, &cache.display().to_string());
    // Poll a device-code sign-in at the emulator's announced interval (it approves by itself).
    set(crate::auth::POLL_FLOOR_VAR, "0s");
    let demo = info.app("huntbook-demo");
    if let Some(app) = demo {
        set("AZURE_CLIENT_ID", &app.client_id);
        if let Some(secret) = &app.client_secret {
            set("AZURE_CLIENT_SECRET", secret);
        }
    }
    // User sign-in (device code, password) goes through the public client.
    if let Some(user) = info.users.first() {
        set("AZURE_USERNAME", &user.username);
        set("AZURE_PASSWORD", &user.password);
    }
    let client_id = env.get("AZURE_CLIENT_ID").cloned().unwrap_or_default();
    // A user signs in through a public client, not the demo application: unless the user
    // chose a client id, user-context steps without one use the emulator's public client.
    (Some(&client_id) == demo.map(|a| &a.client_id))
        .then(|| {
            info.apps
                .iter()
                .find(|a| a.public_client)
                .map(|a| a.client_id.clone())
        })
        .flatten()
}

/// The connection every API step uses: one HTTP client and token store for the run. A
/// device-code sign-in is shown on stderr when someone can see it (a terminal, or
/// `--emulator`, which approves it by itself); a cron run without a cached sign-in fails with
/// "run `huntbook auth login`" instead of waiting for nobody.
fn connect(
    env: &BTreeMap<String, String>,
    public_client: Option<String>,
    ui: &Ui,
    emulator: bool,
) -> Result<Arc<dyn engine::Connection>, String> {
    let someone_watching = std::io::stderr().is_terminal() || std::io::stdin().is_terminal();
    let prompt: Option<crate::auth::PromptFn> = (someone_watching || emulator).then(|| {
        let json = ui.json;
        let prompt: crate::auth::PromptFn = Arc::new(move |p: &crate::auth::DeviceCodePrompt| {
            let mut err = std::io::stderr().lock();
            if json {
                let line = serde_json::json!({
                    "timestamp": log_timestamp(),
                    "level": "WARN",
                    "event": "device_code",
                    "message": p.message,
                    "verification_uri": p.verification_uri,
                    "user_code": p.user_code,
                });
                let _ = writeln!(err, "{line}");
            } else {
                let _ = writeln!(err, "{}", p.message);
            }
        });
        prompt
    });
    let live = engine::live::Live::new(env.clone(), crate::api::ClientOptions::default(), prompt)?
        .with_user_client_id(public_client);
    Ok(Arc::new(live))
}

fn finish(ui: &Ui, playbook: &Playbook, report: &RunReport) {
    if ui.json {
        // The `run_end` event carries the outcome; the error that stopped the run gets its
        // own line, with its location, at error level (shown even with `-q`).
        if let Some(e) = &report.error {
            // `step` names the step as `step_start` does (its id, else its route).
            let line = serde_json::json!({
                "timestamp": log_timestamp(),
                "level": "ERROR",
                "event": "run_error",
                "step": e.step,
                "error_kind": e.kind.as_str(),
                "message": e.message,
                "help": e.help,
                "status": e.status,
                "location": e.location,
            });
            let _ = writeln!(std::io::stderr(), "{line}");
        }
        return;
    }
    let mut err = std::io::stderr().lock();
    if let Some(e) = &report.error {
        let _ = write!(
            err,
            "{}",
            engine::render::render_error(e, &playbook.sources, ui.colour)
        );
    }
    if !ui.quiet {
        let _ = write!(err, "{}", engine::render::summary(report, ui.colour));
    }
}

/// The terminal progress display: a spinner naming the running step, only when stderr is a
/// terminal and logs are human text. Dry-run writes are listed as they are planned.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    json: bool,
}

impl Progress {
    fn new(ui: &Ui) -> Arc<Progress> {
        let show = !ui.json && !ui.quiet && std::io::stderr().is_terminal();
        let bar = show.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Arc::new(Progress { bar, json: ui.json })
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn step_started(&self, step: &Step, _label: &str, name: Option<&str>) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "{} {}",
                step.kind.name(),
                name.map_or_else(|| step.label(), str::to_string)
            ));
        }
    }

    fn would_send(&self, step: &Step, _label: &str, write: &PlannedWrite) {
        if self.json {
            return;
        }
        let body = write
            .body
            .as_ref()
            .map(|b| format!(" {b}"))
            .unwrap_or_default();
        let line = format!(
            "dry run: step {} would send {} {}{body}",
            step.label(),
            write.method,
            write.url
        );
        let line = crate::redact::redact(&line).into_owned();
        match &self.bar {
            Some(bar) => bar.println(line),
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }
}
