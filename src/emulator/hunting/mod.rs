//! Advanced hunting: the synthetic tables, the KQL engine and the three hunting endpoints.
//!
//! [`HuntingStore`] owns the nine tables of the synthetic tenant (generated lazily, on first
//! use, or loaded from a `--data` file) and runs queries over them with the service's limits;
//! [`router`] serves Graph `runHuntingQuery`, Defender XDR `advancedhunting/run` and Defender
//! for Endpoint `advancedqueries/run`. See `docs/kql.md`.

pub mod catalog;
pub mod generate;
pub mod kql;
pub mod routes;
pub mod schema;
pub mod table;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;

use self::kql::value::{TICKS_PER_DAY, ticks_from_chrono};
use self::kql::{Catalog, ColumnDef, Env, KqlError, Relation, TableSource};
use self::schema::ColumnSpec;
use super::api::model::Incident;
use super::state::EmuState;
use super::world::World;
use super::{EmuError, EmulatorConfig};

/// The service limits the emulator enforces on hunting queries. Defaults are the documented
/// API limits; tests shrink them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HuntingLimits {
    /// Evaluation budget of one query ("Query exceeded the timeout period.").
    pub timeout: Duration,
    /// Rows returned at most; more are cut (the first rows in result order are kept).
    pub max_rows: usize,
    /// Serialised result size above which the query fails (MDE documents 124 MB).
    pub max_result_bytes: usize,
    /// How far back data is visible (30 days).
    pub lookback: Duration,
}

impl Default for HuntingLimits {
    fn default() -> HuntingLimits {
        HuntingLimits {
            timeout: Duration::from_secs(180),
            max_rows: 100_000,
            max_result_bytes: 124 * 1024 * 1024,
            lookback: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// Stack of the thread a query runs on.
const QUERY_STACK: usize = 64 * 1024 * 1024;

struct Slot {
    name: &'static str,
    schema: &'static [ColumnSpec],
    rows: OnceLock<Arc<Relation>>,
}

/// The hunting tables of the synthetic tenant.
pub struct HuntingStore {
    world: World,
    seed: u64,
    rows: usize,
    limits: HuntingLimits,
    anchor: i64,
    started: Instant,
    slots: Vec<Slot>,
    /// The tenant's incidents, whose alerts fill `AlertInfo` and `AlertEvidence`.
    incidents: Vec<Incident>,
}

impl std::fmt::Debug for HuntingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let loaded: Vec<&str> = self
            .slots
            .iter()
            .filter(|s| s.rows.get().is_some())
            .map(|s| s.name)
            .collect();
        f.debug_struct("HuntingStore")
            .field("rows", &self.rows)
            .field("seed", &self.seed)
            .field("limits", &self.limits)
            .field("loaded", &loaded)
            .finish_non_exhaustive()
    }
}

/// A query's answer.
#[derive(Debug, Clone)]
pub struct HuntingResult {
    /// The rows (at most `max_rows`).
    pub relation: Relation,
    /// Rows the query produced before the row cap.
    pub total_rows: usize,
    /// How long evaluation took.
    pub elapsed: Duration,
}

impl HuntingResult {
    /// Whether rows were cut at the row cap.
    #[must_use]
    pub fn truncated(&self) -> bool {
        self.total_rows > self.relation.len()
    }
}

impl HuntingStore {
    /// Build the store: tables from the data file are validated now (so a bad file fails at
    /// start); generated tables are produced on first use.
    ///
    /// # Errors
    /// `EmuError::Data` when the data file's table rows do not fit the tables' schemas.
    pub fn new(config: &EmulatorConfig, world: &World) -> Result<HuntingStore, EmuError> {
        let slots: Vec<Slot> = schema::TABLES
            .iter()
            .map(|(name, cols)| Slot {
                name,
                schema: cols,
                rows: OnceLock::new(),
            })
            .collect();
        if let Some(data) = &config.data {
            for (name, rows) in &data.tables {
                let Some(slot) = slots.iter().find(|s| s.name == name) else {
                    let known: Vec<&str> = schema::TABLES.iter().map(|(n, _)| *n).collect();
                    return Err(EmuError::Data(format!(
                        "tables.{name}: not an emulated hunting table (emulated: {})",
                        known.join(", ")
                    )));
                };
                let rel = table::from_data(name, slot.schema, rows)?;
                let _ = slot.rows.set(Arc::new(rel));
            }
        }
        let incidents = super::api::tenant_incidents(config, world)?;
        Ok(HuntingStore {
            incidents,
            world: world.clone(),
            seed: config.seed,
            rows: config.rows,
            limits: config.hunting.clone(),
            anchor: ticks_from_chrono(world.anchor),
            started: Instant::now(),
            slots,
        })
    }

    /// The limits queries run under.
    #[must_use]
    pub fn limits(&self) -> &HuntingLimits {
        &self.limits
    }

    /// "Now" for queries, in ticks: the world's anchor plus the time the emulator has run, so
    /// `ago(1h)` finds the planted findings whether the anchor is real time or fixed by a test.
    #[must_use]
    pub fn now_ticks(&self) -> i64 {
        let elapsed = i64::try_from(self.started.elapsed().as_nanos() / 100).unwrap_or(i64::MAX);
        self.anchor.saturating_add(elapsed)
    }

    /// The rows of `name` (generated on first use), if it is an emulated table.
    #[must_use]
    pub fn table(&self, name: &str) -> Option<Arc<Relation>> {
        let slot = self.slots.iter().find(|s| s.name == name)?;
        let rel = slot.rows.get_or_init(|| {
            let rel = generate::generate(name, &self.world, &self.incidents, self.seed, self.rows)
                .unwrap_or_else(|| table::TableBuilder::new(slot.schema, 0).build());
            Arc::new(rel)
        });
        Some(rel.clone())
    }

    /// Run `query`. `window` (ticks) restricts table rows by `Timestamp`; it is clipped to the
    /// lookback, which always applies.
    ///
    /// # Errors
    /// Query errors with positions, and timeouts.
    pub fn run(&self, query: &str, window: Option<(i64, i64)>) -> Result<HuntingResult, KqlError> {
        let started = Instant::now();
        let now = self.now_ticks();
        let lookback =
            i64::try_from(self.limits.lookback.as_nanos() / 100).unwrap_or(30 * TICKS_PER_DAY);
        let floor = now - lookback;
        let (start, end) = window.unwrap_or((floor, now));
        let env = Env {
            now,
            window: Some((start.max(floor), end)),
            deadline: started.checked_add(self.limits.timeout),
        };
        // Parsing, binding and evaluation recurse over the query's nesting (bounded by the
        // parser); a dedicated thread with a generous stack keeps the worst case well clear of
        // the 2 MiB stacks of runtime threads.
        let rel = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("kql-query".into())
                .stack_size(QUERY_STACK)
                .spawn_scoped(scope, || kql::run(query, self, &env))
                .map_err(|_| KqlError::internal())?
                .join()
                .unwrap_or_else(|_| Err(KqlError::internal()))
        })?;
        let total_rows = rel.len();
        let relation = if total_rows > self.limits.max_rows {
            rel.take(self.limits.max_rows)
        } else {
            rel
        };
        Ok(HuntingResult {
            relation,
            total_rows,
            elapsed: started.elapsed(),
        })
    }
}

impl Catalog for HuntingStore {
    fn schema(&self, table: &str) -> Option<Vec<ColumnDef>> {
        self.slots.iter().find(|s| s.name == table).map(|s| {
            s.schema
                .iter()
                .map(|(n, t)| ColumnDef::new(n, *t))
                .collect()
        })
    }

    fn table_names(&self) -> Vec<String> {
        self.slots.iter().map(|s| s.name.to_string()).collect()
    }
}

impl TableSource for HuntingStore {
    fn scan(&self, table: &str) -> Result<Relation, KqlError> {
        self.table(table)
            .map(|r| r.as_ref().clone())
            .ok_or_else(|| KqlError::semantic(kql::Span::default(), format!("no table '{table}'")))
    }
}

/// `POST /v1.0/security/runHuntingQuery`, `/beta/…`, `/api/advancedhunting/run`,
/// `/api/advancedqueries/run`.
pub fn router() -> Router<Arc<EmuState>> {
    routes::router()
}
