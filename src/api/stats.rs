//! Call accounting for the run report: per step label, how many calls, attempts, retries,
//! throttled responses, bytes and time.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Serialize, Serializer};

fn millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Counters of one call, or the sum of many.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallStats {
    /// Logical calls (`send` invocations).
    pub calls: u64,
    /// HTTP requests sent (retries and the re-authenticated retry included).
    pub attempts: u64,
    /// Attempts after the first, for any reason.
    pub retries: u64,
    /// 429 responses received.
    pub throttled: u64,
    /// 401 responses that led to a new token.
    pub reauthenticated: u64,
    /// Calls that ended in an error.
    pub failures: u64,
    /// Request body bytes sent (all attempts).
    pub bytes_sent: u64,
    /// Response body bytes received (the final attempt).
    pub bytes_received: u64,
    /// Wall time from the first attempt to the end, waits included.
    #[serde(rename = "elapsed_ms", serialize_with = "millis")]
    pub elapsed: Duration,
    /// Of which spent waiting: pacing, backoff and server-requested waits.
    #[serde(rename = "waited_ms", serialize_with = "millis")]
    pub waited: Duration,
}

impl CallStats {
    /// Add another's counters to these.
    pub fn merge(&mut self, other: &CallStats) {
        self.calls += other.calls;
        self.attempts += other.attempts;
        self.retries += other.retries;
        self.throttled += other.throttled;
        self.reauthenticated += other.reauthenticated;
        self.failures += other.failures;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.elapsed += other.elapsed;
        self.waited += other.waited;
    }
}

/// Totals per label, shared by every call of a client. A call without a label counts under
/// `""`.
#[derive(Debug, Default)]
pub struct StatsRegistry {
    by_label: Mutex<BTreeMap<String, CallStats>>,
}

impl StatsRegistry {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, CallStats>> {
        match self.by_label.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Add one call's counters under its label.
    pub fn record(&self, label: &str, stats: &CallStats) {
        self.map()
            .entry(label.to_string())
            .or_default()
            .merge(stats);
    }

    /// The totals of one label.
    #[must_use]
    pub fn get(&self, label: &str) -> CallStats {
        self.map().get(label).cloned().unwrap_or_default()
    }

    /// Every label's totals.
    #[must_use]
    pub fn snapshot(&self) -> BTreeMap<String, CallStats> {
        self.map().clone()
    }

    /// The sum over all labels.
    #[must_use]
    pub fn total(&self) -> CallStats {
        let mut t = CallStats::default();
        for s in self.map().values() {
            t.merge(s);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_sums_per_label_and_serializes_millis() {
        let r = StatsRegistry::default();
        let one = CallStats {
            calls: 1,
            attempts: 3,
            retries: 2,
            throttled: 1,
            elapsed: Duration::from_millis(1500),
            ..CallStats::default()
        };
        r.record("hunt", &one);
        r.record("hunt", &one);
        r.record("incidents", &one);
        assert_eq!(r.get("hunt").attempts, 6);
        assert_eq!(r.total().calls, 3);
        assert_eq!(r.get("nope"), CallStats::default());
        let v = serde_json::to_value(r.get("hunt")).unwrap();
        assert_eq!(v["elapsed_ms"], 3000);
        assert_eq!(v["throttled"], 2);
    }
}
