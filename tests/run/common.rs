//! The harness: a temporary working folder with playbooks, the real `huntbook` binary run in
//! it with a controlled environment, and the results read back.

use std::path::{Path, PathBuf};

/// Variables a developer's shell may set that would change what a run does.
const SCRUBBED: &[&str] = &[
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "HUNTBOOK_LOGIN_URL",
    "HUNTBOOK_API_URL",
    "HUNTBOOK_ENDPOINT_URL",
    "HUNTBOOK_GRAPH_URL",
    "RUST_LOG",
    "NO_COLOR",
];

/// One run in its own folder.
pub struct Case {
    pub dir: std::sync::Arc<tempfile::TempDir>,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

/// What the run did.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub dir: PathBuf,
    /// Keeps the folder alive as long as the result is looked at.
    _keep: std::sync::Arc<tempfile::TempDir>,
}

impl Ran {
    /// The `--report` file, parsed.
    pub fn report(&self, name: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.dir.join(name)).expect("report written");
        serde_json::from_str(&text).expect("report is JSON")
    }

    /// A file the run wrote, relative to its folder.
    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

impl Case {
    pub fn new() -> Case {
        Case {
            dir: std::sync::Arc::new(tempfile::tempdir().expect("temp dir")),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Write a file into the case's folder.
    pub fn file(self, name: &str, text: &str) -> Case {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("folder");
        }
        std::fs::write(path, text).expect("write fixture");
        self
    }

    /// Copy a fixture from `tests/fixtures/run/`.
    pub fn fixture(self, name: &str) -> Case {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/run")
            .join(name);
        let text = std::fs::read_to_string(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
        self.file(name, &text)
    }

    pub fn args(mut self, args: &[&str]) -> Case {
        self.args.extend(args.iter().map(|a| (*a).to_string()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Case {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The `huntbook` command with the arguments, in the folder, with the controlled
    /// environment.
    fn command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_huntbook"));
        cmd.current_dir(self.dir.path()).args(&self.args);
        for k in SCRUBBED {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// What a finished run left.
    fn ran(&self, out: &std::process::Output) -> Ran {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            dir: self.dir.path().to_path_buf(),
            _keep: self.dir.clone(),
        }
    }

    /// Run `huntbook` with the arguments, in the folder.
    pub fn run(&self) -> Ran {
        let mut cmd = self.command();
        cmd.stdin(std::process::Stdio::null());
        let out = cmd.output().expect("run huntbook");
        self.ran(&out)
    }
}

/// An emulator started in the test process, for runs that need faults, short token lifetimes
/// or other settings `--emulator` does not expose.
pub struct Emu {
    pub handle: huntbook::emulator::EmulatorHandle,
    pub info: huntbook::emulator::EmulatorInfo,
}

impl Emu {
    /// Start one with relaxed limits (tests are not about the tenant's budget unless they say
    /// so) and the given changes.
    pub async fn start(change: impl FnOnce(&mut huntbook::emulator::EmulatorConfig)) -> Emu {
        let mut config = huntbook::emulator::EmulatorConfig {
            port: 0,
            device_code_interval: std::time::Duration::ZERO,
            limits: "relaxed".parse().expect("limits"),
            ..huntbook::emulator::EmulatorConfig::default()
        };
        change(&mut config);
        let handle = huntbook::emulator::Emulator::start(config)
            .await
            .expect("emulator starts");
        let info = handle.info().clone();
        Emu { handle, info }
    }

    /// The variables pointing a run at this emulator, signed in as `app`.
    pub fn env(&self, app: &str) -> Vec<(String, String)> {
        let a = self.info.app(app).unwrap_or_else(|| panic!("no app {app}"));
        let mut env = vec![
            (
                "HUNTBOOK_LOGIN_URL".to_string(),
                self.info.login_url.clone(),
            ),
            (
                "HUNTBOOK_GRAPH_URL".to_string(),
                self.info.graph_url.clone(),
            ),
            (
                "HUNTBOOK_API_URL".to_string(),
                self.info.defender_url.clone(),
            ),
            (
                "HUNTBOOK_ENDPOINT_URL".to_string(),
                self.info.endpoint_url.clone(),
            ),
            ("AZURE_TENANT_ID".to_string(), self.info.tenant_id.clone()),
            ("AZURE_CLIENT_ID".to_string(), a.client_id.clone()),
        ];
        if let Some(secret) = &a.client_secret {
            env.push(("AZURE_CLIENT_SECRET".to_string(), secret.clone()));
        }
        if let Some(cert) = &a.certificate_path {
            env.push((
                "AZURE_CLIENT_CERTIFICATE_PATH".to_string(),
                cert.display().to_string(),
            ));
        }
        env
    }

    /// One with machine actions moving on every 0.3 s (instead of 2 s), for tests that wait
    /// for them.
    pub async fn with_quick_actions() -> Emu {
        Emu::start(|c| c.action_step = std::time::Duration::from_millis(300)).await
    }

    /// The writes the emulator received, as `METHOD path`, in order.
    pub fn writes(&self) -> Vec<String> {
        self.handle
            .state
            .tenant
            .journal()
            .into_iter()
            .filter(|e| e.method != "GET")
            .map(|e| format!("{} {}", e.method, e.path))
            .collect()
    }

    /// The demo secret (to check it never leaks).
    pub fn secret(&self, app: &str) -> String {
        self.info
            .app(app)
            .and_then(|a| a.client_secret.clone())
            .unwrap_or_default()
    }
}

impl Case {
    /// Point the run at `emu`, signed in as `app`.
    pub fn against(mut self, emu: &Emu, app: &str) -> Case {
        self.env.extend(emu.env(app));
        self
    }

    /// Run without blocking the test's runtime (the emulator serves on it).
    pub async fn run_async(&self) -> Ran {
        let case = Case {
            dir: self.dir.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
        };
        tokio::task::spawn_blocking(move || case.run())
            .await
            .expect("the run's thread")
    }
}

impl Case {
    /// Start the run, send `signal` (`TERM`, `INT`) to it once per delay, and wait for it.
    pub async fn run_signalled(&self, signal: &str, delays: &[std::time::Duration]) -> Ran {
        let mut cmd = self.command();
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().expect("start huntbook");
        let pid = child.id().to_string();
        for d in delays {
            tokio::time::sleep(*d).await;
            let _ = std::process::Command::new("kill")
                .args([&format!("-{signal}"), &pid])
                .status();
        }
        let out = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .expect("the run's thread")
            .expect("wait for huntbook");
        self.ran(&out)
    }
}

impl Case {
    /// Start the run without waiting for it, stdout and stderr piped, for tests that act on a
    /// run while it is going (kill it, start a second one beside it).
    pub fn spawn(&self) -> std::process::Child {
        let mut cmd = self.command();
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().expect("start huntbook")
    }

    /// The same run with more arguments (a second run of the same playbook in the same
    /// folder, with its own `--report`, say).
    pub fn with_args(&self, more: &[&str]) -> Case {
        let mut args = self.args.clone();
        args.extend(more.iter().map(|a| (*a).to_string()));
        Case {
            dir: self.dir.clone(),
            args,
            env: self.env.clone(),
        }
    }
}
