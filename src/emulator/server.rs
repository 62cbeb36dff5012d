//! Starting and stopping the emulator: bind, build the state, serve the merged routers.
//! (Skeleton: plain HTTP, no gate yet.)

use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::state::EmuState;
use super::{EmuError, EmulatorConfig, EmulatorUrls, api, hunting, identity};

/// The emulator server.
pub struct Emulator;

/// A running emulator; dropping it stops the server.
#[derive(Debug)]
pub struct EmulatorHandle {
    pub urls: EmulatorUrls,
    pub state: Arc<EmuState>,
    shutdown: Option<oneshot::Sender<()>>,
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
        let urls = EmulatorUrls::on(&format!("http://{addr}"));
        let state = Arc::new(EmuState::new(config, urls.clone())?);
        let app: Router = Router::new()
            .merge(identity::router())
            .merge(hunting::router())
            .merge(api::router())
            .with_state(state.clone());
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(EmulatorHandle {
            urls,
            state,
            shutdown: Some(tx),
        })
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
