//! Incidents, alerts, machines and machine actions: the Graph security API, the Defender XDR
//! API and the Defender for Endpoint API over the synthetic tenant, plus the emulator-only
//! journal and machine-state routes. See `docs/emulator-data.md`.
//!
//! The request gate (identity work) authenticates callers and inserts
//! `axum::Extension<Principal>`; every API handler here authorises with
//! [`Principal::require`](crate::emulator::principal::Principal::require) for its route's
//! permissions. Routes under `/_emulator/` are not gated.

pub mod defender;
pub mod endpoint;
pub mod generate;
pub mod graph;
pub mod machines;
pub mod model;
pub mod odata;
pub mod respond;
pub mod time;

mod control;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use self::machines::{ActionOutcome, ActionType, Machine, MachineAction, MachineState};
use self::model::{Incident, RenderCtx};
use super::principal::Principal;
use super::rng::Rng;
use super::state::EmuState;
use super::world::{Device, World};
use super::{EmuError, EmulatorConfig};

/// One write request the tenant APIs received (PATCH, POST), whatever its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    /// Emulator time of the request, 7-digit UTC.
    pub time: String,
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// The JSON body, a string when it was not JSON, `null` when empty.
    pub body: Value,
    /// The authenticated caller, when the gate identified one.
    pub principal: Option<JournalPrincipal>,
    /// The HTTP status answered.
    pub status: u16,
}

/// The caller of a journaled request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JournalPrincipal {
    /// The user's UPN or the application's name (what `requestor` fields show).
    pub name: String,
    pub app_id: String,
    pub user: Option<String>,
}

/// Mutable tenant state, behind one lock so each write request is atomic.
#[derive(Debug)]
struct Inner {
    /// Newest first.
    incidents: Vec<Incident>,
    actions: Vec<MachineAction>,
    journal: Vec<JournalEntry>,
    /// Added to the wall clock: lets tests move machine actions along without sleeping.
    skew: chrono::Duration,
    /// Machine action ids: deterministic per seed and request order.
    ids: Rng,
    /// Outcomes planned in-process, by machine and (optionally) action type.
    outcomes: BTreeMap<(String, Option<ActionType>), ActionOutcome>,
}

/// The tenant's mutable objects: incidents, alerts, machines, machine actions.
#[derive(Debug)]
pub struct TenantStore {
    tenant_id: String,
    anchor: DateTime<Utc>,
    step: chrono::Duration,
    devices: Vec<Device>,
    machines: Vec<Machine>,
    inner: Mutex<Inner>,
}

impl TenantStore {
    /// Build the tenant from the world: machines from its devices, incidents from the data
    /// file when it has any, else generated from the planted findings.
    ///
    /// # Errors
    /// When the data file's incidents are invalid (unknown devices, bad enum values, duplicates).
    pub fn new(config: &EmulatorConfig, world: &World) -> Result<TenantStore, EmuError> {
        let incidents = tenant_incidents(config, world)?;
        let machines = world
            .devices
            .iter()
            .enumerate()
            .map(|(i, d)| Machine::new(d, i, world.anchor))
            .collect();
        let step = chrono::Duration::from_std(config.action_step)
            .map_err(|e| EmuError::Data(format!("action step out of range: {e}")))?;
        Ok(TenantStore {
            tenant_id: world.tenant_id.clone(),
            anchor: world.anchor,
            step,
            devices: world.devices.clone(),
            machines,
            inner: Mutex::new(Inner {
                incidents,
                actions: Vec::new(),
                journal: Vec::new(),
                skew: chrono::Duration::zero(),
                ids: Rng::new(world.seed, "machine-actions"),
                outcomes: BTreeMap::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not take the emulator down with it: the data stays usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ctx(&self) -> RenderCtx<'_> {
        RenderCtx {
            tenant_id: &self.tenant_id,
            devices: &self.devices,
            anchor: self.anchor,
        }
    }

    /// The emulator's "now": the wall clock plus any [`advance_clock`](Self::advance_clock).
    /// Takes the lock briefly: never call it while holding the lock (std mutexes don't nest).
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        let skew = self.lock().skew;
        let now = Utc::now();
        time::ticks(now.checked_add_signed(skew).unwrap_or(now))
    }

    /// Move the emulator's clock forward, e.g. to let machine actions complete in a test.
    pub fn advance_clock(&self, by: std::time::Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        let mut inner = self.lock();
        inner.skew = inner.skew.checked_add(&by).unwrap_or(inner.skew);
    }

    /// A snapshot of every incident (with alerts), newest first.
    #[must_use]
    pub fn incidents(&self) -> Vec<Incident> {
        self.lock().incidents.clone()
    }

    /// The onboarded machines.
    #[must_use]
    pub fn machines(&self) -> &[Machine] {
        &self.machines
    }

    /// Every machine action requested so far, oldest first.
    #[must_use]
    pub fn machine_actions(&self) -> Vec<MachineAction> {
        self.lock().actions.clone()
    }

    /// A machine by MDE id or DNS name (either case).
    #[must_use]
    pub fn machine(&self, id_or_name: &str) -> Option<&Machine> {
        self.machines.iter().find(|m| {
            m.device.id.eq_ignore_ascii_case(id_or_name)
                || m.device.name.eq_ignore_ascii_case(id_or_name)
        })
    }

    /// Isolation, restriction, scans and pending actions of a machine, as of now.
    #[must_use]
    pub fn machine_state(&self, id_or_name: &str) -> Option<MachineState> {
        let machine = self.machine(id_or_name)?;
        let now = self.now();
        let inner = self.lock();
        Some(MachineState::derive(
            machine,
            &inner.actions,
            now,
            self.step,
        ))
    }

    /// Plan how future actions on a machine end (all types when `kind` is `None`).
    pub fn plan_action_outcome(
        &self,
        machine_id: &str,
        kind: Option<ActionType>,
        outcome: ActionOutcome,
    ) {
        self.lock()
            .outcomes
            .insert((machine_id.to_ascii_lowercase(), kind), outcome);
    }

    /// Every write request received so far, oldest first.
    #[must_use]
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.lock().journal.clone()
    }

    /// Forget the journal (e.g. between playbook test cases).
    pub fn clear_journal(&self) {
        self.lock().journal.clear();
    }

    /// Append a journal entry.
    pub fn record(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        principal: Option<&Principal>,
        status: u16,
    ) {
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
        };
        let time = time::format(&self.now());
        self.lock().journal.push(JournalEntry {
            time,
            method: method.to_string(),
            path: path.to_string(),
            body,
            principal: principal.map(|p| JournalPrincipal {
                name: p.display_name().to_string(),
                app_id: p.app_id.clone(),
                user: p.user.clone(),
            }),
            status,
        });
    }
}

/// The tenant's incidents for a configuration and world, newest first: the data file's when
/// it has any, else generated from the planted findings. Deterministic, so the hunting tables
/// (`AlertInfo`, `AlertEvidence`) can be built from the very incidents the APIs serve.
///
/// # Errors
/// When the data file names devices or people the world does not have.
pub fn tenant_incidents(config: &EmulatorConfig, world: &World) -> Result<Vec<Incident>, EmuError> {
    if let Some(data) = &config.data {
        data.check_world(world)?;
        if data.incidents.is_some() {
            return super::data::build_incidents(data, world);
        }
    }
    Ok(generate::generate(world))
}

/// Routes under `/v1.0/security`, `/beta/security`, `/api/…` (except hunting) and
/// `/_emulator/tenant/…`.
pub fn router() -> Router<Arc<EmuState>> {
    Router::new()
        .merge(graph::router("v1.0"))
        .merge(graph::router("beta"))
        .merge(defender::router())
        .merge(endpoint::router())
        .merge(control::router())
}
