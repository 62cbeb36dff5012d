//! The one HTTP client every API step uses: retries, throttling, pacing, paging, call counts.
//!
//! [`Client::send`] takes an [`ApiRequest`] (audience, method, path or URL, query, JSON body,
//! idempotency, a step label) and returns an [`ApiResponse`] with the body in one buffer, or an
//! [`ApiError`] that keeps the status and the service's error code and message. Large bodies
//! (hunting results) come through [`Client::send_stream`]; collections through
//! [`Client::paginate`]. Every call is counted per label in [`Client::stats`].

mod client;
pub mod error;
pub mod pacing;
mod paging;
mod request;
pub mod retry;
pub mod stats;

pub use client::{Client, ClientOptions, http_client};
pub use error::{ApiError, ServiceError};
pub use pacing::{Budget, PacingPolicy};
pub use paging::{Paged, Paging};
pub use request::{ApiRequest, ApiResponse, ApiStream, Target};
pub use retry::RetryPolicy;
pub use stats::{CallStats, StatsRegistry};

tokio::task_local! {
    /// The id (or route) of the step whose future is running, for the client's log events.
    static LOG_STEP: std::sync::Arc<str>;
}

/// Run `f` with `step` as the step named by the API call events it logs (`"step": "hunt"` in
/// JSON logs, the same name `step_start` and `step_end` carry).
pub async fn with_log_step<F: std::future::Future>(step: &str, f: F) -> F::Output {
    LOG_STEP.scope(std::sync::Arc::from(step), f).await
}

/// The step set by [`with_log_step`] around the current task, if any.
#[must_use]
pub fn log_step() -> Option<std::sync::Arc<str>> {
    LOG_STEP.try_with(std::sync::Arc::clone).ok()
}
