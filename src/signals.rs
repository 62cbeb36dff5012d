//! Run-wide cancellation on SIGINT and SIGTERM, the way cron, systemd and Kubernetes stop jobs.
//!
//! The first signal asks the run to stop: the engine starts no new step, in-flight API calls
//! get a grace period to finish ([`Cancellation::with_grace`]), nothing half-written is
//! published, state is not advanced, the report is written, and the process exits 130 (SIGINT)
//! or 143 (SIGTERM). A second signal aborts at once: in-flight calls are dropped. A third one
//! exits immediately without any clean-up — the escape hatch when clean-up itself hangs (the
//! hidden temporary files it may leave are removed by the next run, see
//! [`crate::fsutil::cleanup_stale_temps`]).
//!
//! [`Cancellation::install`] registers the handlers; [`Cancellation::new`] plus
//! [`Cancellation::trigger`] gives the same behaviour without real signals, for tests and for
//! embedding.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::exit::ExitStatus;

/// How long in-flight calls may run on after the first signal, unless the engine picks
/// otherwise. Well under Kubernetes' default `terminationGracePeriodSeconds` (30 s) and
/// systemd's `TimeoutStopSec` (90 s), so the report is written before SIGKILL comes.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(10);

/// A stop signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// SIGINT (Ctrl-C): exit code 130.
    Interrupt,
    /// SIGTERM (cron, systemd, Kubernetes, `kill`): exit code 143.
    Terminate,
}

impl Signal {
    /// `SIGINT` or `SIGTERM`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// The exit status of a run stopped by this signal.
    #[must_use]
    pub fn exit_status(self) -> ExitStatus {
        match self {
            Signal::Interrupt => ExitStatus::Interrupted,
            Signal::Terminate => ExitStatus::Terminated,
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a run is in stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No signal yet.
    Running,
    /// A first signal arrived: start nothing new, let in-flight calls finish within the grace
    /// period.
    Stopping {
        /// The first signal; it decides the exit code.
        signal: Signal,
        /// When it arrived; grace periods count from here.
        since: Instant,
    },
    /// A second signal arrived: drop in-flight calls now.
    Aborting {
        /// The first signal; it still decides the exit code.
        signal: Signal,
        /// When the first signal arrived.
        since: Instant,
    },
}

impl Phase {
    /// The signal that stopped the run, if any.
    #[must_use]
    pub fn signal(self) -> Option<Signal> {
        match self {
            Phase::Running => None,
            Phase::Stopping { signal, .. } | Phase::Aborting { signal, .. } => Some(signal),
        }
    }
}

/// An in-flight call that was dropped because the run was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub struct Cancelled {
    /// The signal that stopped the run.
    pub signal: Signal,
    /// True when a second signal ended the wait, false when the grace period ran out.
    pub aborted: bool,
}

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = if self.aborted {
            "a second signal: not waiting"
        } else {
            "the grace period ran out"
        };
        write!(f, "stopped by {} ({why})", self.signal)
    }
}

impl Cancelled {
    /// The exit status of the run (130 or 143).
    #[must_use]
    pub fn exit_status(self) -> ExitStatus {
        self.signal.exit_status()
    }
}

#[derive(Debug)]
struct Inner {
    phase: watch::Sender<Phase>,
    received: AtomicU32,
}

/// The run's cancellation handle; clones share one state.
#[derive(Debug, Clone)]
pub struct Cancellation {
    inner: Arc<Inner>,
}

impl Default for Cancellation {
    fn default() -> Cancellation {
        Cancellation::new()
    }
}

impl Cancellation {
    /// A handle no signal reaches; stop it with [`trigger`](Cancellation::trigger).
    #[must_use]
    pub fn new() -> Cancellation {
        let (phase, _) = watch::channel(Phase::Running);
        Cancellation {
            inner: Arc::new(Inner {
                phase,
                received: AtomicU32::new(0),
            }),
        }
    }

    /// The process's handle driven by SIGINT and SIGTERM (Ctrl-C elsewhere than Unix). From
    /// now on these signals no longer kill the process: the run must watch the handle. Call it
    /// inside the tokio runtime that lives as long as the process (the listener runs there),
    /// before the first step. Later calls return the same handle: one listener and one stopping
    /// state per process, whichever part of the program asks.
    ///
    /// # Errors
    /// Outside a tokio runtime, or when the handlers cannot be registered.
    pub fn install() -> std::io::Result<Cancellation> {
        static INSTALLED: std::sync::Mutex<Option<Cancellation>> = std::sync::Mutex::new(None);
        let mut installed = INSTALLED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(handle) = installed.as_ref() {
            return Ok(handle.clone());
        }
        let handle = Cancellation::listen()?;
        *installed = Some(handle.clone());
        Ok(handle)
    }

    fn listen() -> std::io::Result<Cancellation> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| std::io::Error::other("signal handlers need a running tokio runtime"))?;
        let handle = Cancellation::new();
        let listener = handle.clone();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let _guard = runtime.enter();
            let mut interrupt = signal(SignalKind::interrupt())?;
            let mut terminate = signal(SignalKind::terminate())?;
            runtime.spawn(async move {
                loop {
                    let received = tokio::select! {
                        Some(()) = interrupt.recv() => Signal::Interrupt,
                        Some(()) = terminate.recv() => Signal::Terminate,
                        else => break,
                    };
                    listener.on_signal(received);
                }
            });
        }
        #[cfg(not(unix))]
        runtime.spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                listener.on_signal(Signal::Interrupt);
            }
        });
        Ok(handle)
    }

    /// What a real signal does: log it, escalate, and on the third one exit at once.
    fn on_signal(&self, signal: Signal) {
        match self.trigger(signal) {
            1 => tracing::warn!(
                signal = signal.name(),
                "received {signal}: stopping — no new steps; in-flight calls may finish within \
                 the grace period; send it again to stop at once"
            ),
            2 => tracing::warn!(
                signal = signal.name(),
                "received {signal} again: dropping in-flight calls and stopping now"
            ),
            _ => {
                let code = self.signal().unwrap_or(signal).exit_status().code();
                tracing::error!(
                    signal = signal.name(),
                    "received a third signal: exiting immediately without clean-up"
                );
                std::process::exit(i32::from(code));
            }
        }
    }

    /// Deliver a signal as if it had arrived; returns how many have arrived so far (1: the run
    /// is now stopping, 2 or more: aborting).
    pub fn trigger(&self, signal: Signal) -> u32 {
        let count = self.inner.received.fetch_add(1, Ordering::SeqCst) + 1;
        self.inner.phase.send_modify(|phase| {
            *phase = match *phase {
                Phase::Running => Phase::Stopping {
                    signal,
                    since: Instant::now(),
                },
                Phase::Stopping { signal, since } | Phase::Aborting { signal, since } => {
                    Phase::Aborting { signal, since }
                }
            };
        });
        count
    }

    /// The current phase.
    #[must_use]
    pub fn phase(&self) -> Phase {
        *self.inner.phase.borrow()
    }

    /// True once a stop signal arrived: start no new step.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.phase() != Phase::Running
    }

    /// True once a second signal arrived: drop in-flight work.
    #[must_use]
    pub fn is_aborted(&self) -> bool {
        matches!(self.phase(), Phase::Aborting { .. })
    }

    /// The first signal received, if any.
    #[must_use]
    pub fn signal(&self) -> Option<Signal> {
        self.phase().signal()
    }

    /// The run's exit status if it was stopped (130 or 143).
    #[must_use]
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.signal().map(Signal::exit_status)
    }

    /// Resolves when the run is told to stop (at once if it already was); for `select!`.
    pub async fn cancelled(&self) {
        self.wait_for(|p| p != Phase::Running).await;
    }

    /// Resolves on the second signal.
    pub async fn aborted(&self) {
        self.wait_for(|p| matches!(p, Phase::Aborting { .. })).await;
    }

    async fn wait_for(&self, done: impl Fn(Phase) -> bool) {
        let mut rx = self.inner.phase.subscribe();
        if rx.wait_for(|p| done(*p)).await.is_err() {
            // The sender lives in `self.inner`, so the channel cannot close while we wait; if it
            // somehow did, no signal can come any more.
            std::future::pending::<()>().await;
        }
    }

    /// Run an in-flight call to completion, unless the run is stopped: then it may still finish
    /// within `grace` of the first signal, and is dropped (cancelled) when the grace period ends
    /// or a second signal arrives. A call started after the grace period has ended is dropped
    /// unless it is ready at once.
    ///
    /// # Errors
    /// [`Cancelled`] when the call was dropped.
    pub async fn with_grace<F: Future>(
        &self,
        fut: F,
        grace: Duration,
    ) -> Result<F::Output, Cancelled> {
        tokio::pin!(fut);
        tokio::select! {
            biased;
            out = &mut fut => return Ok(out),
            () = self.cancelled() => {}
        }
        let (signal, since) = match self.phase() {
            Phase::Aborting { signal, .. } => {
                return Err(Cancelled {
                    signal,
                    aborted: true,
                });
            }
            Phase::Stopping { signal, since } => (signal, since),
            // `cancelled()` only resolves once the phase has left `Running`.
            Phase::Running => return Ok(fut.await),
        };
        tokio::select! {
            biased;
            out = &mut fut => Ok(out),
            () = self.aborted() => Err(Cancelled { signal, aborted: true }),
            () = tokio::time::sleep_until(since + grace) => Err(Cancelled { signal, aborted: false }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: Future>(fut: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(fut)
    }

    #[test]
    fn first_signal_stops_and_decides_the_exit_code() {
        let c = Cancellation::new();
        assert!(!c.is_cancelled());
        assert_eq!(c.exit_status(), None);
        assert_eq!(c.trigger(Signal::Terminate), 1);
        assert!(c.is_cancelled() && !c.is_aborted());
        assert_eq!(c.trigger(Signal::Interrupt), 2);
        assert!(c.is_aborted());
        // The first signal wins: a SIGTERM followed by a Ctrl-C still exits 143.
        assert_eq!(c.exit_status(), Some(ExitStatus::Terminated));
        assert_eq!(c.exit_status().map(ExitStatus::code), Some(143));
    }

    #[test]
    fn sigint_exits_130() {
        let c = Cancellation::new();
        c.trigger(Signal::Interrupt);
        assert_eq!(c.exit_status().map(ExitStatus::code), Some(130));
        assert_eq!(Signal::Interrupt.to_string(), "SIGINT");
    }

    #[test]
    fn clones_share_the_state_and_cancelled_wakes_waiters() {
        block_on(async {
            let c = Cancellation::new();
            let waiter = {
                let c = c.clone();
                tokio::spawn(async move {
                    c.cancelled().await;
                    c.signal()
                })
            };
            tokio::task::yield_now().await;
            c.trigger(Signal::Terminate);
            assert_eq!(waiter.await.unwrap(), Some(Signal::Terminate));
            // Already cancelled: resolves at once.
            c.cancelled().await;
        });
    }

    #[test]
    fn with_grace_returns_calls_that_finish_normally() {
        block_on(async {
            let c = Cancellation::new();
            assert_eq!(c.with_grace(async { 7 }, Duration::ZERO).await, Ok(7));
        });
    }

    #[test]
    fn an_in_flight_call_may_finish_within_the_grace_period() {
        block_on(async {
            let c = Cancellation::new();
            let trigger = c.clone();
            let call = async move {
                trigger.trigger(Signal::Terminate);
                tokio::time::sleep(Duration::from_millis(20)).await;
                "response"
            };
            let out = c.with_grace(call, Duration::from_secs(60)).await;
            assert_eq!(out, Ok("response"));
            assert!(c.is_cancelled());
        });
    }

    #[test]
    fn a_slow_call_is_dropped_when_the_grace_period_ends() {
        block_on(async {
            let c = Cancellation::new();
            let trigger = c.clone();
            let call = async move {
                trigger.trigger(Signal::Interrupt);
                tokio::time::sleep(Duration::from_secs(3600)).await;
                "never"
            };
            let out = c.with_grace(call, Duration::from_millis(20)).await;
            assert_eq!(
                out,
                Err(Cancelled {
                    signal: Signal::Interrupt,
                    aborted: false
                })
            );
            assert_eq!(out.unwrap_err().exit_status(), ExitStatus::Interrupted);
        });
    }

    #[test]
    fn a_second_signal_drops_the_call_at_once() {
        block_on(async {
            let c = Cancellation::new();
            c.trigger(Signal::Interrupt);
            let trigger = c.clone();
            // The second Ctrl-C comes while the call is in its (hour-long) grace period.
            let signaller = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                trigger.trigger(Signal::Interrupt);
            });
            let call = tokio::time::sleep(Duration::from_secs(3600));
            let out = c.with_grace(call, Duration::from_secs(3600)).await;
            signaller.await.unwrap();
            let err = out.unwrap_err();
            assert!(err.aborted);
            assert!(err.to_string().contains("second signal"), "{err}");
        });
    }

    #[test]
    fn the_grace_period_counts_from_the_signal_not_from_the_call() {
        block_on(async {
            let c = Cancellation::new();
            c.trigger(Signal::Terminate);
            tokio::time::sleep(Duration::from_millis(30)).await;
            // Started after a 10 ms grace period ended: not ready at once, so dropped.
            let out = c
                .with_grace(
                    tokio::time::sleep(Duration::from_secs(3600)),
                    Duration::from_millis(10),
                )
                .await;
            assert!(matches!(out, Err(Cancelled { aborted: false, .. })));
            // But a call that is ready at once still completes.
            assert_eq!(
                c.with_grace(async { 1 }, Duration::from_millis(10)).await,
                Ok(1)
            );
        });
    }

    #[test]
    fn install_outside_a_runtime_is_an_error_not_a_panic() {
        let err = Cancellation::install().unwrap_err();
        assert!(err.to_string().contains("tokio runtime"), "{err}");
    }
}
