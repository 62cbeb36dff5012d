//! Rate limits per endpoint bucket, as documented (defender-api.md §6): hunting 45/min,
//! Defender XDR incidents 50/min and 1,500/h, Defender for Endpoint machines and actions
//! 100/min and 1,500/h, Graph `/security` 150/min, `getPackageUri` 2/min.
//!
//! Budgets are per emulator (that is, per tenant), counted over a **sliding window**: a call is
//! allowed when fewer than `calls` allowed calls happened in the last `period`. That makes
//! `Retry-After` exact — the seconds until the oldest counted call leaves the window — where a
//! fixed window would make a client wait for a boundary it cannot see. Refused calls do not
//! count, so retrying after `Retry-After` always succeeds.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::Method;

use super::EmuError;

/// A group of routes that share a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bucket {
    /// Graph `runHuntingQuery` and Defender XDR `/api/advancedhunting`.
    Hunting,
    /// Defender for Endpoint `/api/advancedqueries`.
    AdvancedQueries,
    /// Defender XDR `/api/incidents`: list and update.
    Incidents,
    /// Defender XDR `GET /api/incidents/{id}`.
    IncidentGet,
    /// Every other Graph call (`/security/incidents`, `/security/alerts_v2`, …).
    GraphSecurity,
    /// Defender for Endpoint machine reads.
    Machines,
    /// Defender for Endpoint machine actions (`POST /api/machines/{id}/isolate`, …).
    Actions,
    /// Defender for Endpoint `/api/machineactions` reads and cancel.
    MachineActions,
    /// `GET /api/machineactions/{id}/getPackageUri`.
    PackageUri,
    /// Defender for Endpoint `/api/alerts`.
    Alerts,
    /// Defender for Endpoint `/api/indicators`.
    Indicators,
}

impl Bucket {
    /// Every bucket, in a stable order.
    pub const ALL: [Bucket; 11] = [
        Bucket::Hunting,
        Bucket::AdvancedQueries,
        Bucket::Incidents,
        Bucket::IncidentGet,
        Bucket::GraphSecurity,
        Bucket::Machines,
        Bucket::Actions,
        Bucket::MachineActions,
        Bucket::PackageUri,
        Bucket::Alerts,
        Bucket::Indicators,
    ];

    /// The bucket's name in `--limits` and `--faults`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Bucket::Hunting => "hunting",
            Bucket::AdvancedQueries => "advanced-queries",
            Bucket::Incidents => "incidents",
            Bucket::IncidentGet => "incident-get",
            Bucket::GraphSecurity => "graph-security",
            Bucket::Machines => "machines",
            Bucket::Actions => "actions",
            Bucket::MachineActions => "machineactions",
            Bucket::PackageUri => "package-uri",
            Bucket::Alerts => "alerts",
            Bucket::Indicators => "indicators",
        }
    }

    /// The bucket with this name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Bucket> {
        Bucket::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The documented budgets (defender-api.md §6). Defender XDR's "get incident" has two
    /// documented per-minute figures (100 on the method page, 50 in the overview): we take
    /// the method page's 100.
    #[must_use]
    pub fn real_budgets(self) -> Vec<Budget> {
        let min = |calls| Budget::new(calls, Duration::from_secs(60));
        let hour = |calls| Budget::new(calls, Duration::from_secs(3600));
        match self {
            Bucket::Hunting => vec![min(45)],
            Bucket::AdvancedQueries => vec![min(45), hour(1500)],
            Bucket::Incidents => vec![min(50), hour(1500)],
            Bucket::IncidentGet => vec![min(100), hour(1500)],
            Bucket::GraphSecurity => vec![min(150)],
            Bucket::Machines
            | Bucket::Actions
            | Bucket::MachineActions
            | Bucket::Alerts
            | Bucket::Indicators => vec![min(100), hour(1500)],
            Bucket::PackageUri => vec![min(2), hour(120)],
        }
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn is_graph(path: &str) -> bool {
    path.starts_with("/v1.0/") || path.starts_with("/beta/")
}

/// The bucket a request counts against, by method and path; `None` for routes with no
/// documented limit (and for everything outside the APIs).
#[must_use]
pub fn bucket_of(method: &Method, path: &str) -> Option<Bucket> {
    if is_graph(path) {
        let rest = path.split_once('/').map_or(path, |p| p.1);
        let rest = rest.split_once('/').map_or("", |p| p.1);
        return Some(if rest.eq_ignore_ascii_case("security/runHuntingQuery") {
            Bucket::Hunting
        } else {
            Bucket::GraphSecurity
        });
    }
    let rest = path.strip_prefix("/api/")?;
    let mut segments: Vec<String> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    // MDE serves the same API under `/api/v1.0/` too.
    if segments.first().is_some_and(|s| s == "v1.0") {
        segments.remove(0);
    }
    let first = segments.first()?.as_str();
    Some(match first {
        "advancedhunting" => Bucket::Hunting,
        "advancedqueries" => Bucket::AdvancedQueries,
        "incidents" => {
            if segments.len() >= 2 && method == Method::GET {
                Bucket::IncidentGet
            } else {
                Bucket::Incidents
            }
        }
        "machines" => {
            if segments.len() >= 3 && method == Method::POST {
                Bucket::Actions
            } else {
                Bucket::Machines
            }
        }
        "machineactions" => {
            if segments.get(2).is_some_and(|s| s == "getpackageuri") {
                Bucket::PackageUri
            } else {
                Bucket::MachineActions
            }
        }
        "alerts" => Bucket::Alerts,
        "indicators" => Bucket::Indicators,
        _ => return None,
    })
}

/// `calls` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub calls: u32,
    pub period: Duration,
}

impl Budget {
    #[must_use]
    pub fn new(calls: u32, period: Duration) -> Budget {
        Budget { calls, period }
    }

    /// The period as .NET's `TimeSpan` prints it, as the Defender throttling message does:
    /// `00:01:00`.
    #[must_use]
    pub fn period_timespan(&self) -> String {
        let s = self.period.as_secs();
        format!("{:02}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.period.as_secs();
        let unit = match s {
            1 => "s".to_string(),
            60 => "m".to_string(),
            3600 => "h".to_string(),
            _ => format!("{s}s"),
        };
        write!(f, "{}/{unit}", self.calls)
    }
}

/// `--limits real|relaxed|SPEC`.
///
/// SPEC is a comma-separated list. It may start with a base, `real` (the default) or `relaxed`
/// (no limits), followed by per-bucket settings `BUCKET=BUDGET[+BUDGET…]` or `BUCKET=off`,
/// where BUDGET is `CALLS/PERIOD` and PERIOD is `s`, `m`, `h` or a count of them (`10s`, `5m`).
/// Example: `relaxed,hunting=45/m`, `incidents=5/m+100/h,actions=off`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitsSpec {
    /// The base the settings start from: `false` is `real`, `true` is `relaxed`.
    pub relaxed: bool,
    /// Per-bucket budgets replacing the base's; an empty list means unlimited.
    pub overrides: BTreeMap<Bucket, Vec<Budget>>,
}

impl LimitsSpec {
    /// No limits at all, for fast tests.
    #[must_use]
    pub fn relaxed() -> LimitsSpec {
        LimitsSpec {
            relaxed: true,
            overrides: BTreeMap::new(),
        }
    }

    /// The budgets in force for a bucket (empty: unlimited).
    #[must_use]
    pub fn budgets(&self, bucket: Bucket) -> Vec<Budget> {
        match self.overrides.get(&bucket) {
            Some(b) => b.clone(),
            None if self.relaxed => Vec::new(),
            None => bucket.real_budgets(),
        }
    }
}

impl fmt::Display for LimitsSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.relaxed { "relaxed" } else { "real" })?;
        for (bucket, budgets) in &self.overrides {
            if budgets.is_empty() {
                write!(f, ",{bucket}=off")?;
            } else {
                let parts: Vec<String> = budgets.iter().map(ToString::to_string).collect();
                write!(f, ",{bucket}={}", parts.join("+"))?;
            }
        }
        Ok(())
    }
}

fn parse_period(text: &str) -> Option<Duration> {
    let (count, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let count: u64 = if count.is_empty() {
        1
    } else {
        count.parse().ok()?
    };
    let unit_secs = match unit {
        "s" | "sec" => 1,
        "m" | "min" => 60,
        "h" | "hour" => 3600,
        _ => return None,
    };
    (count > 0).then(|| Duration::from_secs(count * unit_secs))
}

impl FromStr for LimitsSpec {
    type Err = EmuError;

    fn from_str(s: &str) -> Result<LimitsSpec, EmuError> {
        let mut spec = LimitsSpec::default();
        let items: Vec<&str> = s.split(',').map(str::trim).collect();
        if items.iter().all(|i| i.is_empty()) {
            return Err(EmuError::Limits(
                "empty specification; use `real`, `relaxed` or e.g. `hunting=45/m`".into(),
            ));
        }
        for (i, item) in items.iter().enumerate() {
            match *item {
                "" => {
                    return Err(EmuError::Limits(format!("empty item {} in `{s}`", i + 1)));
                }
                "real" | "relaxed" if i == 0 => spec.relaxed = *item == "relaxed",
                "real" | "relaxed" => {
                    return Err(EmuError::Limits(format!(
                        "`{item}` must come first in `{s}`: it is the base the other items change"
                    )));
                }
                _ => {
                    let Some((name, value)) = item.split_once('=') else {
                        return Err(EmuError::Limits(format!(
                            "`{item}` is not `BUCKET=CALLS/PERIOD`, `real` or `relaxed`"
                        )));
                    };
                    let name = name.trim();
                    let Some(bucket) = Bucket::from_name(name) else {
                        return Err(EmuError::Limits(unknown_bucket(name)));
                    };
                    let value = value.trim();
                    let budgets = if value == "off" || value == "none" {
                        Vec::new()
                    } else {
                        value
                            .split('+')
                            .map(|b| parse_budget(b.trim(), item))
                            .collect::<Result<Vec<_>, _>>()?
                    };
                    spec.overrides.insert(bucket, budgets);
                }
            }
        }
        Ok(spec)
    }
}

fn parse_budget(text: &str, item: &str) -> Result<Budget, EmuError> {
    let bad = |why: &str| {
        EmuError::Limits(format!(
            "`{item}`: {why}; a budget is CALLS/PERIOD, e.g. `45/m`, `1500/h`, `10/30s`"
        ))
    };
    let (calls, period) = text
        .split_once('/')
        .ok_or_else(|| bad(&format!("`{text}` has no `/`")))?;
    let calls: u32 = calls
        .trim()
        .parse()
        .map_err(|_| bad(&format!("`{calls}` is not a whole number of calls")))?;
    if calls == 0 {
        return Err(bad(
            "a budget of 0 calls would refuse everything; use `off` for no limit",
        ));
    }
    let period = parse_period(period.trim()).ok_or_else(|| {
        bad(&format!(
            "`{period}` is not a period (`s`, `m`, `h`, `10s`)"
        ))
    })?;
    Ok(Budget::new(calls, period))
}

/// An "unknown bucket" message with the closest name and the list.
pub(crate) fn unknown_bucket(name: &str) -> String {
    let names: Vec<&str> = Bucket::ALL.iter().map(|b| b.name()).collect();
    let best = names
        .iter()
        .map(|n| (strsim::levenshtein(n, name), *n))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, n)| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default();
    format!(
        "unknown bucket `{name}`{best}; buckets are {}",
        names.join(", ")
    )
}

/// A refused call: which budget ran out and how long until a call would succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub bucket: Bucket,
    pub budget: Budget,
    /// Whole seconds, rounded up, until the next call would be allowed (at least 1).
    pub retry_after: u64,
}

#[derive(Debug)]
struct Window {
    budget: Budget,
    calls: VecDeque<Instant>,
}

/// Counts calls per bucket and refuses them past the budget.
#[derive(Debug)]
pub struct Limiter {
    spec: Mutex<LimitsSpec>,
    windows: Mutex<HashMap<Bucket, Vec<Window>>>,
}

impl Limiter {
    #[must_use]
    pub fn new(spec: &LimitsSpec) -> Limiter {
        Limiter {
            spec: Mutex::new(spec.clone()),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The specification in force.
    #[must_use]
    pub fn spec(&self) -> LimitsSpec {
        self.spec
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replace the specification and forget every count.
    pub fn set(&self, spec: &LimitsSpec) {
        *self
            .spec
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = spec.clone();
        self.reset();
    }

    /// Forget every count, as if no call had been made.
    pub fn reset(&self) {
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// Count a call to `bucket` now, or refuse it.
    ///
    /// # Errors
    /// [`Throttled`] when a budget of the bucket is spent.
    pub fn check(&self, bucket: Bucket) -> Result<(), Throttled> {
        self.check_at(bucket, Instant::now())
    }

    /// [`Limiter::check`] at a given instant (for tests).
    ///
    /// # Errors
    /// [`Throttled`] when a budget of the bucket is spent.
    pub fn check_at(&self, bucket: Bucket, now: Instant) -> Result<(), Throttled> {
        let budgets = self
            .spec
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .budgets(bucket);
        if budgets.is_empty() {
            return Ok(());
        }
        let mut all = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let windows = all.entry(bucket).or_insert_with(|| {
            budgets
                .iter()
                .map(|b| Window {
                    budget: *b,
                    calls: VecDeque::new(),
                })
                .collect()
        });
        let mut refusal: Option<Throttled> = None;
        for w in windows.iter_mut() {
            while w
                .calls
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= w.budget.period)
            {
                w.calls.pop_front();
            }
            if w.calls.len() >= w.budget.calls as usize
                && let Some(oldest) = w.calls.front()
            {
                let free_at = *oldest + w.budget.period;
                let wait = free_at.saturating_duration_since(now);
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let secs = secs.max(1);
                if refusal.is_none_or(|r| secs > r.retry_after) {
                    refusal = Some(Throttled {
                        bucket,
                        budget: w.budget,
                        retry_after: secs,
                    });
                }
            }
        }
        if let Some(r) = refusal {
            return Err(r);
        }
        for w in windows.iter_mut() {
            w.calls.push_back(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_documented_buckets() {
        let post = Method::POST;
        let get = Method::GET;
        assert_eq!(
            bucket_of(&post, "/v1.0/security/runHuntingQuery"),
            Some(Bucket::Hunting)
        );
        assert_eq!(
            bucket_of(&post, "/beta/security/runHuntingQuery"),
            Some(Bucket::Hunting)
        );
        assert_eq!(
            bucket_of(&post, "/api/advancedhunting/run"),
            Some(Bucket::Hunting)
        );
        assert_eq!(
            bucket_of(&post, "/api/advancedqueries/run"),
            Some(Bucket::AdvancedQueries)
        );
        assert_eq!(bucket_of(&get, "/api/incidents"), Some(Bucket::Incidents));
        assert_eq!(
            bucket_of(&get, "/api/incidents/42"),
            Some(Bucket::IncidentGet)
        );
        assert_eq!(
            bucket_of(&Method::PATCH, "/api/incidents/42"),
            Some(Bucket::Incidents)
        );
        assert_eq!(
            bucket_of(&get, "/v1.0/security/incidents"),
            Some(Bucket::GraphSecurity)
        );
        assert_eq!(bucket_of(&get, "/api/machines/abc"), Some(Bucket::Machines));
        assert_eq!(
            bucket_of(&post, "/api/machines/abc/isolate"),
            Some(Bucket::Actions)
        );
        assert_eq!(
            bucket_of(&get, "/api/machineactions"),
            Some(Bucket::MachineActions)
        );
        assert_eq!(
            bucket_of(&get, "/api/machineactions/x/GetPackageUri"),
            Some(Bucket::PackageUri)
        );
        assert_eq!(
            bucket_of(&post, "/api/v1.0/machines/abc/isolate"),
            Some(Bucket::Actions)
        );
        assert_eq!(bucket_of(&get, "/api/files/abc"), None);
        assert_eq!(bucket_of(&post, "/contoso.example/oauth2/v2.0/token"), None);
    }

    #[test]
    fn forty_sixth_hunting_call_in_a_minute_is_refused_with_honest_retry_after() {
        let lim = Limiter::new(&LimitsSpec::default());
        let t0 = Instant::now();
        for i in 0..45u64 {
            assert!(
                lim.check_at(Bucket::Hunting, t0 + Duration::from_millis(i * 100))
                    .is_ok()
            );
        }
        // The 46th, 10 s after the first: the first leaves the window at 60 s, 50 s from now.
        let err = lim
            .check_at(Bucket::Hunting, t0 + Duration::from_secs(10))
            .err()
            .map(|t| (t.retry_after, t.budget));
        assert_eq!(err, Some((50, Budget::new(45, Duration::from_secs(60)))));
        // Refused calls do not count: at 60 s exactly one slot is free again.
        assert!(
            lim.check_at(Bucket::Hunting, t0 + Duration::from_secs(60))
                .is_ok()
        );
        assert!(
            lim.check_at(Bucket::Hunting, t0 + Duration::from_secs(60))
                .is_err()
        );
        // Other buckets are independent.
        assert!(lim.check_at(Bucket::Incidents, t0).is_ok());
    }

    #[test]
    fn hourly_budget_applies_after_the_minute_one() {
        let spec: LimitsSpec = "incidents=2/m+3/h".parse().unwrap();
        let lim = Limiter::new(&spec);
        let t0 = Instant::now();
        assert!(lim.check_at(Bucket::Incidents, t0).is_ok());
        assert!(lim.check_at(Bucket::Incidents, t0).is_ok());
        let minute = lim.check_at(Bucket::Incidents, t0).err();
        assert_eq!(minute.map(|t| t.retry_after), Some(60));
        let later = t0 + Duration::from_secs(61);
        assert!(lim.check_at(Bucket::Incidents, later).is_ok());
        let hour = lim.check_at(Bucket::Incidents, later).err();
        assert_eq!(
            hour.map(|t| (t.budget.calls, t.retry_after)),
            Some((3, 3600 - 61))
        );
    }

    #[test]
    fn relaxed_is_unlimited_and_overridable() {
        let lim = Limiter::new(&LimitsSpec::relaxed());
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert!(lim.check_at(Bucket::Hunting, t0).is_ok());
        }
        let spec: LimitsSpec = "relaxed,hunting=1/10s".parse().unwrap();
        assert_eq!(spec.budgets(Bucket::Incidents), vec![]);
        assert_eq!(
            spec.budgets(Bucket::Hunting),
            vec![Budget::new(1, Duration::from_secs(10))]
        );
        assert_eq!(spec.to_string(), "relaxed,hunting=1/10s");
    }

    #[test]
    fn bad_specs_are_explained() {
        let err = |s: &str| {
            s.parse::<LimitsSpec>()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(err("huntin=45/m").contains("did you mean `hunting`"));
        assert!(err("hunting=45").contains("has no `/`"));
        assert!(err("hunting=x/m").contains("not a whole number"));
        assert!(err("hunting=45/week").contains("not a period"));
        assert!(err("hunting=0/m").contains("use `off`"));
        assert!(err("hunting=1/m,relaxed").contains("must come first"));
        assert!(err("").contains("empty"));
        assert!(err("fast").contains("not `BUCKET=CALLS/PERIOD`"));
        assert_eq!(
            "real".parse::<LimitsSpec>().ok(),
            Some(LimitsSpec::default())
        );
        assert_eq!(
            "machines=off"
                .parse::<LimitsSpec>()
                .map(|s| s.budgets(Bucket::Machines))
                .ok(),
            Some(vec![])
        );
    }

    #[test]
    fn timespan_matches_the_defender_message() {
        assert_eq!(
            Budget::new(45, Duration::from_secs(60)).period_timespan(),
            "00:01:00"
        );
        assert_eq!(
            Budget::new(1500, Duration::from_secs(3600)).period_timespan(),
            "01:00:00"
        );
    }
}
