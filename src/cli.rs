//! Command-line interface: the clap definition of every subcommand and the dispatch to
//! `commands::*`. Flags are defined once here; `--help`, completions and docs derive from it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::exit::ExitStatus;

const AFTER_HELP: &str = "\
Examples:
  huntbook validate playbooks/*.yaml
  huntbook plan playbooks/encoded-powershell.yaml
  huntbook run playbooks/encoded-powershell.yaml --emulator
  huntbook run playbooks/isolate-devices.yaml --dry-run --input device=pc-042
  huntbook jsonpath '$[?@.AccountName != \"system\"]' results.json
  huntbook emulator --port 8400

Exit codes: 0 success, 1 a step failed, 2 invalid playbook/input/usage, 3 an assert failed,
4 authentication or permission failure, 130/143 interrupted.";

/// Run declarative YAML playbooks against the Microsoft Defender XDR and Graph security APIs.
#[derive(Debug, Parser)]
#[command(name = "huntbook", version, about, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand understands.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace). Secrets are never logged.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Log format on stderr: human text, or one JSON object per line (for cron and SIEMs).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a playbook.
    Run(RunArgs),
    /// Check playbooks without touching the network.
    Validate(ValidateArgs),
    /// Show what a playbook would do, with values rendered where they are known.
    Plan(PlanArgs),
    /// Print the JSON Schema of the playbook format.
    Schema(SchemaArgs),
    /// Evaluate an RFC 9535 JSONPath expression over a JSON document.
    Jsonpath(JsonpathArgs),
    /// Serve the local Microsoft identity platform + Defender XDR + Graph emulator.
    Emulator(EmulatorArgs),
    /// Run playbook tests (`*.test.yaml`) against the emulator.
    Test(TestArgs),
    /// Manage the user-context token cache.
    Auth(AuthArgs),
    /// Print shell completions.
    Completions(CompletionsArgs),
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  huntbook run playbooks/encoded-powershell.yaml --emulator
  huntbook run hunt.yaml --input lookback=7d --input min_hits=3 --report run.json
  huntbook run isolate.yaml --dry-run
  huntbook run isolate.yaml --allow-actions --state-dir /var/lib/huntbook")]
pub struct RunArgs {
    /// The playbook file.
    pub playbook: PathBuf,

    /// Set an input: `name=value`, parsed by the input's declared type. Repeatable.
    #[arg(short, long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,

    /// Perform every read, send no write, and print what each write would send.
    #[arg(long)]
    pub dry_run: bool,

    /// Allow response actions (machine actions, incident updates, non-GET requests).
    #[arg(long)]
    pub allow_actions: bool,

    /// Where per-playbook state is kept.
    #[arg(long, value_name = "DIR", default_value = ".huntbook/state")]
    pub state_dir: PathBuf,

    /// Write a JSON run report to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Start the emulator in-process and run against it with its demo credentials.
    #[arg(long)]
    pub emulator: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  huntbook validate playbooks/*.yaml
  huntbook validate --format json hunt.yaml | jq '.[] | select(.severity == \"error\")'")]
pub struct ValidateArgs {
    /// Playbook files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,

    /// Diagnostics as human text on stderr, or a JSON array on stdout.
    #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
    pub format: DiagFormat,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  huntbook plan playbooks/encoded-powershell.yaml
  huntbook plan hunt.yaml --input lookback=7d --format json")]
pub struct PlanArgs {
    /// The playbook file.
    pub playbook: PathBuf,

    /// Set an input: `name=value`. Repeatable.
    #[arg(short, long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,

    /// Plan as human text or JSON, on stdout.
    #[arg(long, value_enum, default_value_t = DiagFormat::Human)]
    pub format: DiagFormat,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  huntbook schema > playbook.schema.json
  huntbook schema --test-file > playbook-test.schema.json

In a playbook, a first line `# yaml-language-server: $schema=PATH` lets editors check it.")]
pub struct SchemaArgs {
    /// Print the schema of playbook test files (`*.test.yaml`) instead.
    #[arg(long)]
    pub test_file: bool,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  huntbook jsonpath '$[?@.AccountName != \"system\"].DeviceName' results.json
  curl -s ... | huntbook jsonpath '$.results[*]' -")]
pub struct JsonpathArgs {
    /// The RFC 9535 JSONPath expression.
    pub expr: String,

    /// The JSON document; `-` or absent reads stdin.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "\
The first line on stdout is one JSON object with the URLs and demo credentials.

Examples:
  huntbook emulator
  huntbook emulator --port 0 --tls --rows 100000
  huntbook emulator --faults 'hunting:429@0.2,incidents:500#3' --seed 7")]
pub struct EmulatorArgs {
    /// Port on 127.0.0.1; 0 picks a free port.
    #[arg(long, default_value_t = 8400)]
    pub port: u16,

    /// Serve HTTPS with a self-signed certificate generated at start.
    #[arg(long)]
    pub tls: bool,

    /// Seed of the synthetic tenant and of probabilistic faults.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Rows per advanced-hunting table.
    #[arg(long, default_value_t = 2000)]
    pub rows: usize,

    /// A tenant description (apps, users, machines, incidents, table rows) as JSON or YAML.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,

    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3599)]
    pub token_lifetime: u64,

    /// Fault injection specification (see docs/emulator.md).
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,

    /// Rate limits: `real` (documented quotas), `relaxed`, or a custom SPEC.
    #[arg(long, value_name = "real|relaxed|SPEC", default_value = "real")]
    pub limits: String,

    /// Folder for generated files (certificates, the TLS CA); default: a temporary folder
    /// removed on exit.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    /// Device-code polling interval the emulator announces and enforces, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub device_code_interval: u64,

    /// Approve device-code sign-ins automatically after N polls, or `never` (approve through
    /// the verification page or `POST /_emulator/identity/device/approve`).
    #[arg(long, value_name = "N|never", default_value = "2")]
    pub device_code_approve_after: String,

    /// How long a machine action stays `Pending`, then `InProgress`, before it ends
    /// (e.g. `2s`, `500ms`).
    #[arg(long, value_name = "DURATION", default_value = "2s")]
    pub action_step: String,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Exit code 0 when every case passes, 1 when one fails, 2 when a test file is invalid.

Examples:
  huntbook test playbooks/
  huntbook test playbooks/encoded-powershell.yaml
  huntbook test tests/ --jobs 4 --junit report.xml")]
pub struct TestArgs {
    /// Test files or folders (searched recursively for `*.test.yaml`).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// How many cases run at once.
    #[arg(short, long)]
    pub jobs: Option<usize>,

    /// Write a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  huntbook auth login --tenant-id contoso.onmicrosoft.com --client-id 0000...
  huntbook auth status
  huntbook auth logout
  huntbook auth login --emulator")]
pub struct AuthArgs {
    #[command(subcommand)]
    pub action: AuthAction,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AuthAction {
    /// Sign in with the device code flow and cache the refresh token.
    Login(AuthLoginArgs),
    /// Show the cached sign-in (never the tokens).
    Status(AuthLoginArgs),
    /// Delete the cached refresh token.
    Logout(AuthLoginArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AuthLoginArgs {
    /// Tenant id or domain (default: `AZURE_TENANT_ID`).
    #[arg(long, env = "AZURE_TENANT_ID")]
    pub tenant_id: Option<String>,

    /// Application (client) id (default: `AZURE_CLIENT_ID`).
    #[arg(long, env = "AZURE_CLIENT_ID")]
    pub client_id: Option<String>,

    /// Token cache file (default: `HUNTBOOK_TOKEN_CACHE`, else under the user's cache dir).
    #[arg(long, value_name = "FILE", env = "HUNTBOOK_TOKEN_CACHE")]
    pub token_cache: Option<PathBuf>,

    /// Cloud: commercial, gcc, gcc_high, dod.
    #[arg(long, default_value = "commercial")]
    pub cloud: String,

    /// `login` only: start the emulator in-process and sign in against it.
    #[arg(long)]
    pub emulator: bool,

    /// `login` only: the API to sign in for first: graph, defender or endpoint. The cached
    /// sign-in then serves the others too.
    #[arg(long, default_value = "graph", value_name = "API")]
    pub api: String,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  huntbook completions bash > ~/.local/share/bash-completion/completions/huntbook
  huntbook completions zsh > \"${fpath[1]}/_huntbook\"
  huntbook completions fish > ~/.config/fish/completions/huntbook.fish")]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}

/// Dispatch a parsed command line to its implementation.
#[must_use]
pub fn run(cli: Cli) -> ExitStatus {
    let global = cli.global;
    match cli.command {
        Command::Run(args) => commands::run::run(&args, &global),
        Command::Validate(args) => commands::validate::run(&args, &global),
        Command::Plan(args) => commands::plan::run(&args, &global),
        Command::Schema(args) => commands::schema::run(&args, &global),
        Command::Jsonpath(args) => commands::jsonpath::run(&args, &global),
        Command::Emulator(args) => commands::emulator::run(&args, &global),
        Command::Test(args) => commands::test::run(&args, &global),
        Command::Auth(args) => commands::auth::run(&args, &global),
        Command::Completions(args) => commands::completions::run(&args, &global),
    }
}
