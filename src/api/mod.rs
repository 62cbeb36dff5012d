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
