//! When and how long to wait before trying a call again: exponential backoff with full jitter,
//! `Retry-After` (seconds or an HTTP date), and the wait Defender spells out in its 429 bodies
//! ("maximum allowed 45 per 00:01:00", "run queries again in 00:05:00").

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng as _;
use regex::Regex;
use std::sync::LazyLock;

/// Retry settings of the API client (and, with fewer attempts, of token requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included. 1 disables retries.
    pub max_attempts: u32,
    /// First backoff ceiling; doubles per retry (full jitter picks uniformly below it).
    pub base_delay: Duration,
    /// Largest backoff ceiling.
    pub max_delay: Duration,
    /// The most a single call may spend waiting (backoff + server-requested waits). A server
    /// asking for longer makes the call fail at once with the wait it asked for.
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        // 15 minutes of total wait lets a cron run ride out an advanced-hunting CPU quota
        // ("blocked until the next 15-minute cycle", defender-api.md §3.5) instead of failing.
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_total_wait: Duration::from_secs(15 * 60),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    #[must_use]
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Fast retries for tests: millisecond backoff, same attempt count.
    #[must_use]
    pub fn fast() -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
            ..RetryPolicy::default()
        }
    }

    /// The backoff before retry number `retry` (1 = the first retry): a uniformly random
    /// duration in `[0, min(max_delay, base_delay * 2^(retry-1))]` ("full jitter"), so many
    /// clients failing together do not retry in lockstep.
    #[must_use]
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        if ms == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::rng().random_range(0..=ms))
    }

    /// The upper bound of [`RetryPolicy::backoff`] for a retry number.
    #[must_use]
    pub fn ceiling(&self, retry: u32) -> Duration {
        let exp = retry.saturating_sub(1).min(30);
        self.base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay)
    }
}

/// Parse a `Retry-After` value: delta seconds, or an HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`)
/// relative to `now`. A date in the past means "now".
#[must_use]
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs));
    }
    let date = DateTime::parse_from_rfc2822(v).ok()?;
    Some(
        (date.with_timezone(&Utc) - now)
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

static QUOTA_WINDOW: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)maximum allowed\s+(\d+)\s+per\s+(\d+):(\d{2}):(\d{2})").ok());
static AGAIN_IN_CLOCK: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)again in\s+(\d+):(\d{2}):(\d{2})").ok());
static AGAIN_IN_WORDS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)again in\s+(\d+)\s*(second|sec|s|minute|min|m|hour|h)\w*\b").ok()
});

/// What a throttling message says about waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleHint {
    /// The wait the message implies.
    pub wait: Duration,
    /// The quota, when the message names one (`45` of "45 per 00:01:00").
    pub quota: Option<u32>,
}

/// Read the wait out of a Defender / MDE throttling message:
/// "API calls quota exceeded! maximum allowed 45 per 00:01:00" → wait the window (we cannot
/// know when the server's window started, so a whole window is the safe wait);
/// "You can run queries again in 00:05:00" / "… again in 5 minutes" → that duration.
#[must_use]
pub fn parse_throttle_message(message: &str) -> Option<ThrottleHint> {
    let hms = |h: &str, m: &str, s: &str| -> Option<Duration> {
        let h: u64 = h.parse().ok()?;
        let m: u64 = m.parse().ok()?;
        let s: u64 = s.parse().ok()?;
        Some(Duration::from_secs(h * 3600 + m * 60 + s))
    };
    if let Some(c) = AGAIN_IN_CLOCK.as_ref().and_then(|re| re.captures(message)) {
        return Some(ThrottleHint {
            wait: hms(&c[1], &c[2], &c[3])?,
            quota: None,
        });
    }
    if let Some(c) = AGAIN_IN_WORDS.as_ref().and_then(|re| re.captures(message)) {
        let n: u64 = c[1].parse().ok()?;
        let unit = c[2].to_ascii_lowercase();
        let secs = match unit.chars().next() {
            Some('h') => n * 3600,
            Some('m') => n * 60,
            _ => n,
        };
        return Some(ThrottleHint {
            wait: Duration::from_secs(secs),
            quota: None,
        });
    }
    let c = QUOTA_WINDOW.as_ref()?.captures(message)?;
    Some(ThrottleHint {
        wait: hms(&c[2], &c[3], &c[4])?,
        quota: c[1].parse().ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn backoff_ceiling_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), Duration::from_secs(1));
        assert_eq!(p.ceiling(2), Duration::from_secs(2));
        assert_eq!(p.ceiling(4), Duration::from_secs(8));
        assert_eq!(p.ceiling(10), Duration::from_secs(60));
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(60));
        for retry in 1..8 {
            assert!(p.backoff(retry) <= p.ceiling(retry));
        }
    }

    #[test]
    fn jitter_spreads_waits() {
        let p = RetryPolicy::default();
        let waits: std::collections::BTreeSet<Duration> = (0..50).map(|_| p.backoff(6)).collect();
        assert!(
            waits.len() > 10,
            "full jitter should not repeat one value: {waits:?}"
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = Utc.with_ymd_and_hms(2015, 10, 21, 7, 27, 0).unwrap();
        assert_eq!(parse_retry_after("30", now), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn defender_quota_messages() {
        let h = parse_throttle_message("API calls quota exceeded! maximum allowed 45 per 00:01:00")
            .unwrap();
        assert_eq!(
            h,
            ThrottleHint {
                wait: Duration::from_secs(60),
                quota: Some(45)
            }
        );
        let h =
            parse_throttle_message("API calls quota exceeded! maximum allowed 1500 per 01:00:00")
                .unwrap();
        assert_eq!(h.wait, Duration::from_secs(3600));
        let h = parse_throttle_message(
            "You have exceeded processing resources allocated to this tenant. You can run queries again in 00:07:30.",
        )
        .unwrap();
        assert_eq!(h.wait, Duration::from_secs(450));
        assert_eq!(
            parse_throttle_message("try again in 2 minutes").map(|h| h.wait),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_throttle_message("Too many requests."), None);
    }
}
