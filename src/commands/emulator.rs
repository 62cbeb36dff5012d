//! `huntbook emulator`: serve the local identity platform + Defender XDR + MDE + Graph emulator
//! on loopback until SIGINT or SIGTERM. The first line on stdout is one JSON object describing
//! it (URLs, tenant, credentials), so scripts and tests can configure themselves; everything
//! for people goes to stderr.

use std::io::Write as _;
use std::time::Duration;

use crate::cli::{EmulatorArgs, GlobalArgs, LogFormat};
use crate::emulator::faults::FaultSpec;
use crate::emulator::limits::LimitsSpec;
use crate::emulator::{EmuError, Emulator, EmulatorConfig};
use crate::exit::ExitStatus;

/// Turn the flags into a configuration, or say which flag is wrong.
///
/// # Errors
/// A message naming the flag and the problem (exit 2).
pub fn config_from_args(
    args: &EmulatorArgs,
    global: &GlobalArgs,
) -> Result<EmulatorConfig, String> {
    let limits: LimitsSpec = args.limits.parse().map_err(|e: EmuError| e.to_string())?;
    let faults: FaultSpec = match &args.faults {
        Some(spec) => spec.parse().map_err(|e: EmuError| e.to_string())?,
        None => FaultSpec::default(),
    };
    if args.token_lifetime == 0 {
        return Err("invalid --token-lifetime: must be at least 1 second".to_string());
    }
    let device_code_auto_approve = match args.device_code_approve_after.trim() {
        "never" => None,
        n => Some(n.parse::<u32>().map_err(|_| {
            format!("invalid --device-code-approve-after: `{n}` is neither a number of polls nor `never`")
        })?),
    };
    let action_step = humantime::parse_duration(args.action_step.trim()).map_err(|_| {
        format!(
            "invalid --action-step: `{}` is not a duration such as `2s` or `500ms`",
            args.action_step
        )
    })?;
    let data = match &args.data {
        Some(path) => {
            Some(crate::emulator::data::load(path).map_err(|e| format!("invalid --data: {e}"))?)
        }
        None => None,
    };
    Ok(EmulatorConfig {
        port: args.port,
        tls: args.tls,
        seed: args.seed,
        rows: args.rows,
        data,
        token_lifetime: Duration::from_secs(args.token_lifetime),
        faults,
        limits,
        action_step,
        device_code_auto_approve,
        device_code_interval: Duration::from_secs(args.device_code_interval),
        work_dir: args.work_dir.clone(),
        log_requests: global.verbose >= 1 && !global.quiet,
        ..EmulatorConfig::default()
    })
}

/// Entry point of `huntbook emulator`.
#[must_use]
pub fn run(args: &EmulatorArgs, global: &GlobalArgs) -> ExitStatus {
    let config = match config_from_args(args, global) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitStatus::Invalid;
        }
    };
    if config.log_requests {
        use std::io::IsTerminal as _;
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let builder = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .with_max_level(tracing::Level::INFO);
        let _ = match global.log_format {
            // As `run`'s JSON logs: the event's fields at the top level.
            LogFormat::Json => builder
                .json()
                .flatten_event(true)
                .with_target(false)
                .try_init(),
            LogFormat::Text => builder.with_target(false).try_init(),
        };
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitStatus::Failure;
        }
    };
    let log = Log {
        json: global.log_format == LogFormat::Json,
        quiet: global.quiet,
    };
    runtime.block_on(serve(config, log))
}

/// Where the command's own messages go: human lines on stderr, or with `--log-format json`
/// one JSON object per line (as the request log), so stderr stays machine-readable.
#[derive(Clone, Copy)]
struct Log {
    json: bool,
    quiet: bool,
}

impl Log {
    fn say(self, level: &str, event: &str, message: &str) {
        if self.quiet && level != "ERROR" {
            return;
        }
        if self.json {
            let line = serde_json::json!({
                "timestamp": chrono::Utc::now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                "level": level,
                "event": event,
                "message": message,
            });
            eprintln!("{line}");
        } else {
            eprintln!("{message}");
        }
    }
}

async fn serve(config: EmulatorConfig, log: Log) -> ExitStatus {
    let signals = StopSignals::install();
    let handle = match Emulator::start(config).await {
        Ok(h) => h,
        Err(e) => {
            log.say("ERROR", "error", &format!("error: {e}"));
            // A bad data file is bad input; a busy port or a failing key generator is not.
            return match e {
                EmuError::Data(_) | EmuError::Faults(_) | EmuError::Limits(_) => {
                    ExitStatus::Invalid
                }
                _ => ExitStatus::Failure,
            };
        }
    };
    let info = handle.info();
    let line = match serde_json::to_string(info) {
        Ok(l) => l,
        Err(e) => {
            log.say(
                "ERROR",
                "error",
                &format!("error: cannot describe the emulator: {e}"),
            );
            return ExitStatus::Failure;
        }
    };
    {
        let mut out = std::io::stdout().lock();
        // A closed stdout (the reader went away) is not a reason to stop serving.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    let listening = format!(
        "huntbook emulator {} listening on {} (tenant {}, limits {})",
        info.version, handle.urls.base, info.tenant_id, info.limits
    );
    if log.json {
        // The JSON line on stdout has the rest.
        log.say("INFO", "listening", &listening);
    } else if !log.quiet {
        eprintln!("{listening}");
        for app in &info.apps {
            eprintln!("  app  {:<18} {}", app.name, app.client_id);
        }
        for user in &info.users {
            eprintln!("  user {}", user.username);
        }
        if let Some(ca) = &info.ca_cert {
            eprintln!("  TLS: trust the CA in {}", ca.display());
        }
        eprintln!("credentials are in the JSON line on stdout; Ctrl-C to stop");
    }
    let why = signals.wait().await;
    log.say("INFO", "stopping", &format!("{why}: stopping"));
    handle.shutdown().await;
    ExitStatus::Success
}

/// SIGINT and SIGTERM, listened for from before the JSON line is printed: a script that reads
/// the line and stops the emulator at once must still get a clean exit 0.
struct StopSignals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn install() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            StopSignals {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    async fn wait(self) -> &'static str {
        #[cfg(unix)]
        if let (Some(mut int), Some(mut term)) = (self.int, self.term) {
            return tokio::select! {
                _ = int.recv() => "interrupted",
                _ = term.recv() => "terminated",
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        "interrupted"
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Result<EmulatorConfig, String> {
        let mut argv = vec!["huntbook", "emulator"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        match cli.command {
            Command::Emulator(a) => config_from_args(&a, &cli.global),
            _ => Err("not the emulator command".into()),
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.port, 8400);
        assert_eq!(c.limits, LimitsSpec::default());
        assert_eq!(c.device_code_auto_approve, Some(2));
        assert_eq!(c.token_lifetime, Duration::from_secs(3599));
        assert_eq!(c.action_step, Duration::from_secs(2));
    }

    #[test]
    fn flags_reach_the_config() {
        let c = parse(&[
            "--port",
            "0",
            "--limits",
            "relaxed",
            "--faults",
            "hunting:429@0.5",
            "--device-code-approve-after",
            "never",
            "--action-step",
            "500ms",
            "--seed",
            "9",
        ])
        .unwrap();
        assert_eq!(c.port, 0);
        assert!(c.limits.relaxed);
        assert_eq!(c.faults.rules.len(), 1);
        assert_eq!(c.device_code_auto_approve, None);
        assert_eq!(c.action_step, Duration::from_millis(500));
        assert_eq!(c.seed, 9);
    }

    #[test]
    fn bad_flags_are_named() {
        let e = parse(&["--limits", "hunting=45"]).err().unwrap_or_default();
        assert!(e.starts_with("invalid --limits"), "{e}");
        let e = parse(&["--faults", "hunting:418"])
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("invalid --faults"), "{e}");
        let e = parse(&["--device-code-approve-after", "soon"])
            .err()
            .unwrap_or_default();
        assert!(e.contains("--device-code-approve-after"), "{e}");
        let e = parse(&["--token-lifetime", "0"]).err().unwrap_or_default();
        assert!(e.contains("--token-lifetime"), "{e}");
        let e = parse(&["--data", "/nonexistent/tenant.yaml"])
            .err()
            .unwrap_or_default();
        assert!(
            e.starts_with("invalid --data") && e.contains("/nonexistent/tenant.yaml"),
            "{e}"
        );
    }
}
