//! Starting and stopping the emulator: bind on loopback, build the state, put the gate and fault
//! injection around the merged routers, and serve plain HTTP or TLS on one port.
//!
//! The accept loop is ours rather than `axum::serve` for two reasons: TLS (tokio-rustls in
//! front of hyper), and the `reset` fault, which needs to drop a client's connection from
//! inside a request — each connection gets a [`ConnControl`] in its requests' extensions.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt as _;

use super::directory::Resource;
use super::faults::{ConnControl, FaultSpec};
use super::limits::LimitsSpec;
use super::state::EmuState;
use super::{EmuError, EmulatorConfig, EmulatorUrls, api, faults, gate, hunting, identity, tls};

/// The emulator server.
pub struct Emulator;

/// A registered app, as the startup line describes it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    pub name: String,
    pub client_id: String,
    /// The secret, for secret-credential apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The PEM file (certificate + private key), for certificate-credential apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_path: Option<PathBuf>,
    /// The certificate's SHA-1 thumbprint (upper-case hex), for certificate-credential apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_thumbprint: Option<String>,
    pub public_client: bool,
    /// Granted application permissions per resource (`graph`, `defender`, `endpoint`).
    pub permissions: BTreeMap<Resource, Vec<String>>,
}

impl fmt::Debug for AppInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppInfo")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .field("certificate_path", &self.certificate_path)
            .field("public_client", &self.public_client)
            .field("permissions", &self.permissions)
            .finish()
    }
}

/// A registered user, as the startup line describes it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub username: String,
    pub password: String,
    /// The public client to sign in through (device code, password), when one is registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Consented delegated scopes per resource.
    pub scopes: BTreeMap<Resource, Vec<String>>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub mfa_required: bool,
}

impl fmt::Debug for UserInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserInfo")
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// The startup line: everything a script or test needs to configure itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmulatorInfo {
    /// Always `"huntbook-emulator"`, so a reader can tell the line from other output.
    pub emulator: String,
    pub version: String,
    pub login_url: String,
    pub graph_url: String,
    pub defender_url: String,
    pub endpoint_url: String,
    pub tenant_id: String,
    pub tenant_domain: String,
    /// The v2 token endpoint of the tenant.
    pub token_url: String,
    /// The `.default` scope of each resource (`graph`, `defender`, `endpoint`).
    pub scopes: BTreeMap<Resource, String>,
    pub apps: Vec<AppInfo>,
    pub users: Vec<UserInfo>,
    /// The CA certificate to trust, with `--tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// Where generated files are.
    pub work_dir: PathBuf,
    pub seed: u64,
    /// The rate limits in force (`real`, `relaxed`, or the normalised SPEC).
    pub limits: String,
    /// The fault plan at start (empty: none).
    pub faults: String,
}

impl EmulatorInfo {
    /// The registered app with this display name.
    #[must_use]
    pub fn app(&self, name: &str) -> Option<&AppInfo> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// The startup line as a JSON value.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Describe a running emulator.
    #[must_use]
    pub fn of(state: &EmuState) -> EmulatorInfo {
        let ident = &state.identity;
        let dir = ident.directory();
        let public = dir.apps.iter().find(|a| a.public_client);
        let apps = dir
            .apps
            .iter()
            .map(|a| AppInfo {
                name: a.name.clone(),
                client_id: a.client_id.clone(),
                client_secret: a.client_secret.clone(),
                certificate_path: ident.certificate_path(&a.client_id).map(PathBuf::from),
                certificate_thumbprint: ident
                    .certificate_thumbprint(&a.client_id)
                    .map(str::to_string),
                public_client: a.public_client,
                permissions: a.roles.clone(),
            })
            .collect();
        let users = dir
            .users
            .iter()
            .map(|u| UserInfo {
                username: u.username.clone(),
                password: u.password.clone(),
                client_id: public.map(|p| p.client_id.clone()),
                scopes: u.scopes.clone(),
                disabled: u.disabled,
                mfa_required: u.mfa_required,
            })
            .collect();
        let urls = &state.urls;
        EmulatorInfo {
            emulator: "huntbook-emulator".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            login_url: urls.login_url.clone(),
            graph_url: urls.graph_url.clone(),
            defender_url: urls.defender_url.clone(),
            endpoint_url: urls.endpoint_url.clone(),
            tenant_id: ident.tenant_id.clone(),
            tenant_domain: ident.tenant_domain.clone(),
            token_url: ident.token_url(),
            scopes: Resource::ALL
                .into_iter()
                .map(|r| (r, format!("{}/.default", r.uri())))
                .collect(),
            apps,
            users,
            ca_cert: state
                .config
                .tls
                .then(|| ident.work_dir().join(tls::CA_FILE)),
            work_dir: ident.work_dir().to_path_buf(),
            seed: state.config.seed,
            limits: state.config.limits.to_string(),
            faults: state.config.faults.to_string(),
        }
    }
}

/// A running emulator; dropping it stops the server.
pub struct EmulatorHandle {
    pub urls: EmulatorUrls,
    pub state: Arc<EmuState>,
    info: EmulatorInfo,
    shutdown: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for EmulatorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorHandle")
            .field("urls", &self.urls)
            .finish_non_exhaustive()
    }
}

/// `GET /_emulator/info`: the startup line, again.
async fn info(State(state): State<Arc<EmuState>>) -> axum::Json<EmulatorInfo> {
    axum::Json(EmulatorInfo::of(&state))
}

/// One log line per request, when `config.log_requests` is set: method, path (never the
/// query string, headers or body — they can carry secrets), status and time taken.
async fn log_request(
    State(state): State<Arc<EmuState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if !state.config.log_requests {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // As the engine's events: an `event` name and the fields a log query filters on.
    tracing::info!(
        target: "huntbook::emulator",
        event = "request",
        method = %method,
        path = %path,
        status,
        elapsed_ms,
        "{method} {path} -> {status} ({elapsed_ms} ms)"
    );
    resp
}

/// The full application: every router, the gate around the API routes, fault injection
/// around everything (it skips `/_emulator/` itself), and the request log outermost.
pub fn app(state: Arc<EmuState>) -> Router {
    Router::new()
        .merge(identity::router())
        .merge(hunting::router())
        .merge(api::router())
        .route("/_emulator/info", get(info))
        .fallback(gate::fallback)
        .layer(from_fn_with_state(state.clone(), gate::gate))
        .layer(from_fn_with_state(state.clone(), faults::inject))
        .layer(from_fn_with_state(state.clone(), log_request))
        .with_state(state)
}

impl Emulator {
    /// Bind on 127.0.0.1 and serve in the background of the current tokio runtime.
    ///
    /// # Errors
    /// When the port cannot be bound or the state cannot be built.
    pub async fn start(config: EmulatorConfig) -> Result<EmulatorHandle, EmuError> {
        let port = config.port;
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| EmuError::Bind { port, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmuError::Bind { port, source })?;
        let scheme = if config.tls { "https" } else { "http" };
        let urls = EmulatorUrls::on(&format!("{scheme}://{addr}"));
        let want_tls = config.tls;
        let state_urls = urls.clone();
        // Key generation and the synthetic tables take a moment of CPU: keep it off the
        // runtime's worker threads.
        let built = tokio::task::spawn_blocking(move || {
            let state = EmuState::new(config, state_urls)?;
            let tls = if want_tls {
                Some(tls::generate(state.identity.work_dir())?)
            } else {
                None
            };
            Ok::<_, EmuError>((state, tls))
        })
        .await
        .map_err(|e| EmuError::Crypto(format!("start-up task failed: {e}")))??;
        let (state, tls) = built;
        let state = Arc::new(state);
        let info = EmulatorInfo::of(&state);
        let acceptor = tls.map(|t| tokio_rustls::TlsAcceptor::from(t.server_config));
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, app(state.clone()), acceptor, rx));
        Ok(EmulatorHandle {
            urls,
            state,
            info,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

impl EmulatorHandle {
    /// The startup description (URLs, tenant, apps and their credentials, users).
    #[must_use]
    pub fn info(&self) -> &EmulatorInfo {
        &self.info
    }

    /// The startup description as the JSON object `huntbook emulator` prints.
    #[must_use]
    pub fn info_json(&self) -> serde_json::Value {
        self.info.to_json()
    }

    /// Approve a pending device-code sign-in (as the first registered user when `username`
    /// is `None`).
    ///
    /// # Errors
    /// When the code is unknown, expired or already decided, or the user cannot sign in.
    pub fn approve_device_code(
        &self,
        user_code: &str,
        username: Option<&str>,
    ) -> Result<String, identity::ControlError> {
        self.state.identity.approve_device(user_code, username)
    }

    /// Decline a pending device-code sign-in.
    ///
    /// # Errors
    /// When the code is unknown, expired or already decided.
    pub fn decline_device_code(&self, user_code: &str) -> Result<(), identity::ControlError> {
        self.state.identity.decline_device(user_code)
    }

    /// Revoke every access and refresh token issued so far.
    pub fn revoke_tokens(&self) {
        self.state.identity.revoke(None, None);
    }

    /// Replace the fault plan (the `--faults` syntax).
    ///
    /// # Errors
    /// When the specification does not parse.
    pub fn set_faults(&self, spec: &str) -> Result<(), EmuError> {
        self.state.faults.set_str(spec)
    }

    /// Install an already-parsed fault plan.
    pub fn set_fault_spec(&self, spec: &FaultSpec) {
        self.state.faults.set(spec);
    }

    /// Remove every fault rule.
    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Replace the rate limits (the `--limits` syntax); counts start over.
    ///
    /// # Errors
    /// When the specification does not parse.
    pub fn set_limits(&self, spec: &str) -> Result<(), EmuError> {
        let spec: LimitsSpec = spec.parse()?;
        self.state.limits.set(&spec);
        Ok(())
    }

    /// Forget every rate-limit count.
    pub fn reset_limits(&self) {
        self.state.limits.reset();
    }

    /// Stop accepting connections, close the open ones, and wait for the server to finish.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((tcp, _)) => {
                        tokio::spawn(serve_connection(tcp, app.clone(), tls.clone(), shutdown.clone()));
                    }
                    // Out of file descriptors and the like: back off instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}

async fn serve_connection(
    tcp: TcpStream,
    app: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = tcp.set_nodelay(true);
    let control = ConnControl::new();
    let stream = KillableStream {
        inner: tcp,
        killed: control.flag(),
    };
    let conn_control = control.clone();
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(conn_control.clone());
            app.clone().oneshot(req)
        });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    match tls {
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await;
            let Ok(Ok(tls_stream)) = handshake else {
                return;
            };
            let conn = builder.serve_connection(TokioIo::new(tls_stream), service);
            tokio::select! {
                _ = conn => {}
                () = control.killed() => {}
                _ = shutdown.changed() => {}
            }
        }
        None => {
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                () = control.killed() => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// A TCP stream that closes with a reset (zero linger) when its connection was killed by a
/// `reset` fault, so the client sees `ECONNRESET` rather than a clean end of stream.
struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
}

impl Drop for KillableStream {
    fn drop(&mut self) {
        if self.killed.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
