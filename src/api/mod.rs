//! The one HTTP client every API step uses: retries, throttling, pacing, paging, call counts.
//! (Skeleton.)
