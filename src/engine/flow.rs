//! Sequencing: steps in order, `when`, `for_each` with `concurrency` (each iteration in its
//! own scope frame), `steps` blocks, `parallel` groups, `timeout`, `on_error: continue`, and
//! stopping — after a failure, or when the run is interrupted. Every step ends as a
//! [`StepReport`]; a failure is data recorded there, never an unwinding `?` past the step.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::Utc;
use futures_util::StreamExt as _;

use super::Ctx;
use super::connection::{BoxFuture, CallStats};
use super::error::{ErrorKind, StepError};
use super::report::{ErrorReport, IterationReport, Location, Status, StepReport, Written};
use super::scope::Frame;
use super::steps;
use crate::playbook::{Condition, ForEach, OnError, Step, StepKind};
use crate::template::Value;

/// How messages name a step: "step `hunt`", or "`output` step at steps[3]" without an id.
pub(crate) fn who(step: &Step) -> String {
    match &step.id {
        Some(id) => format!("step `{id}`"),
        None => step.label(),
    }
}

/// How logs name a step: its id, else its route.
pub(crate) fn log_name(step: &Step) -> &str {
    step.id.as_deref().unwrap_or(&step.route)
}

/// What a step's body produced.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// The kind's outputs (`results`, `count`, …); `outcome`, `skipped` and `error` are added
    /// by the flow.
    pub outputs: Vec<(&'static str, Value)>,
    /// A response action changed something.
    pub changed: bool,
    pub count: Option<u64>,
    pub truncated: Option<bool>,
    pub written: Option<Written>,
}

impl Outcome {
    /// An outcome with these outputs.
    pub fn with(outputs: Vec<(&'static str, Value)>) -> Outcome {
        Outcome {
            outputs,
            ..Outcome::default()
        }
    }
}

/// Everything a step body needs: the run, its scope frame, the scope map rendered against,
/// the step, and the label its API calls are counted under.
pub(crate) struct StepCx<'c, 'a> {
    pub ctx: &'c Ctx<'a>,
    pub frame: &'c Arc<Frame>,
    pub scope: &'c Value,
    pub step: &'a Step,
    pub label: &'c str,
}

/// The result of running a list of steps.
pub(crate) struct Sequence {
    pub reports: Vec<StepReport>,
    /// The error that stopped the sequence (a failure without `on_error: continue`).
    pub stop: Option<ErrorReport>,
}

/// The label a step instance's API calls are counted under: the route with the enclosing
/// iterations' indices (`steps[4][1].steps[0]`).
fn instance_label(step: &Step, base_route: &str, base_instance: &str) -> String {
    match step.route.strip_prefix(base_route) {
        Some(rest) if !base_route.is_empty() => format!("{base_instance}{rest}"),
        _ => step.route.clone(),
    }
}

/// Run `steps` in order in `frame`; stop at the first failure not covered by
/// `on_error: continue` (the remaining steps are reported as skipped).
pub(crate) fn run_sequence<'c, 'a: 'c>(
    ctx: &'c Ctx<'a>,
    frame: &'c Arc<Frame>,
    steps: &'a [Step],
    base: (&'c str, &'c str),
) -> BoxFuture<'c, Sequence> {
    Box::pin(async move {
        let mut reports = Vec::with_capacity(steps.len());
        let mut stop: Option<ErrorReport> = None;
        for step in steps {
            if let Some(e) = &stop {
                reports.push(not_run(
                    ctx,
                    step,
                    format!("the run stopped at {}", e.label),
                ));
                continue;
            }
            if ctx.cancel.is_cancelled() {
                reports.push(not_run(ctx, step, "the run was interrupted".to_string()));
                continue;
            }
            let label = instance_label(step, base.0, base.1);
            let report = run_step(ctx, frame, step, &label).await;
            if report.status == Status::Failed && !report.continued {
                stop = report.error.clone();
            }
            reports.push(report);
        }
        Sequence { reports, stop }
    })
}

/// A report for a step that never started.
fn not_run(ctx: &Ctx<'_>, step: &Step, reason: String) -> StepReport {
    let mut r = blank_report(ctx, step);
    r.status = Status::Skipped;
    r.reason = Some(reason);
    r
}

fn blank_report(ctx: &Ctx<'_>, step: &Step) -> StepReport {
    step_report(step, &ctx.playbook.sources)
}

/// A report for `step` before it runs (status `ok` until told otherwise).
pub(crate) fn step_report(step: &Step, sources: &crate::source::SourceMap) -> StepReport {
    StepReport {
        id: step.id.clone(),
        name: None,
        kind: step.kind.name().as_str(),
        route: step.route.clone(),
        location: Location::of(step.kind_span, sources),
        status: Status::Ok,
        reason: None,
        started_at: None,
        duration_ms: 0,
        count: None,
        truncated: None,
        written: None,
        would_send: Vec::new(),
        api: CallStats::default(),
        error: None,
        continued: false,
        iterations: Vec::new(),
        steps: Vec::new(),
    }
}

fn millis(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The outputs a step leaves in scope when it did not run.
fn skipped_outputs() -> Value {
    Value::from_pairs([
        ("outcome", Value::from("skipped")),
        ("skipped", Value::from(true)),
        ("error", Value::from(())),
    ])
}

fn finished_outputs(
    mut outputs: Vec<(&'static str, Value)>,
    status: Status,
    error: Option<&str>,
) -> Value {
    // `changed` is a report status; in templates a step that ran is `ok` (see `changed`).
    let outcome = if status == Status::Changed {
        "ok"
    } else {
        status.as_str()
    };
    outputs.push(("outcome", Value::from(outcome)));
    outputs.push(("skipped", Value::from(false)));
    outputs.push(("error", error.map_or(Value::from(()), Value::from)));
    Value::from_pairs(outputs)
}

/// Whether a field reads `item` or `loop` (then a `when` is evaluated per iteration).
fn reads_loop_vars(cond: &Condition) -> bool {
    match cond {
        Condition::Literal(_) => false,
        Condition::Expr(f) => f
            .references()
            .iter()
            .any(|r| r.root == "item" || r.root == "loop"),
    }
}

/// Run one step (all its iterations), record its outputs in `frame`, and report it.
pub(crate) async fn run_step<'c, 'a: 'c>(
    ctx: &'c Ctx<'a>,
    frame: &'c Arc<Frame>,
    step: &'a Step,
    label: &'c str,
) -> StepReport {
    // The API client's log events name the step, as `step_start` does.
    crate::api::with_log_step(log_name(step), run_one(ctx, frame, step, label)).await
}

async fn run_one<'c, 'a: 'c>(
    ctx: &'c Ctx<'a>,
    frame: &'c Arc<Frame>,
    step: &'a Step,
    label: &'c str,
) -> StepReport {
    let mut report = blank_report(ctx, step);
    let started = Instant::now();
    report.started_at = Some(Utc::now());
    let scope = frame.scope(&ctx.run);
    let who = who(step);
    let per_iteration_when =
        step.for_each.is_some() && step.when.as_ref().is_some_and(reads_loop_vars);

    if let Some(cond) = &step.when
        && !per_iteration_when
    {
        match ctx.condition(&scope, cond) {
            Ok(true) => {}
            Ok(false) => {
                report.status = Status::Skipped;
                report.reason = Some("`when` is false".to_string());
                if let Some(id) = &step.id {
                    frame.set_step(id, skipped_outputs());
                }
                ctx.observer.step_skipped(step, label);
                return report;
            }
            Err(e) => {
                let e = e.or_at(step.kind_span);
                return fail(ctx, frame, step, label, report, &e, started);
            }
        }
    }
    if step.for_each.is_none()
        && let Some(name) = &step.name
    {
        match ctx.render_text(&scope, name, "the step `name`") {
            Ok(n) => report.name = Some(n),
            Err(e) => return fail(ctx, frame, step, label, report, &e, started),
        }
    }
    ctx.observer
        .step_started(step, label, report.name.as_deref());
    tracing::info!(
        event = "step_start",
        step = %log_name(step),
        kind = step.kind.name().as_str(),
        route = %step.route,
        "{who} started"
    );

    if step.for_each.is_some() {
        run_looped(
            ctx,
            frame,
            step,
            label,
            &scope,
            per_iteration_when,
            &mut report,
        )
        .await;
    } else {
        let result = run_body(ctx, frame, step, label, &scope).await;
        apply_result(frame, step, &mut report, result);
    }
    report.api = sum_stats(ctx, label, &report);
    report.would_send = take_planned(ctx, label);
    report.duration_ms = millis(started);
    log_end(step, &report);
    ctx.observer.step_finished(step, label, &report);
    report
}

fn log_end(step: &Step, report: &StepReport) {
    let who = who(step);
    match &report.error {
        // Failures are `info` here: the run's error is reported once, at the end.
        Some(e) if report.status == Status::Failed => tracing::info!(
            event = "step_end",
            step = %log_name(step),
            status = report.status.as_str(),
            duration_ms = report.duration_ms,
            error_kind = e.kind.as_str(),
            error = %e.message,
            continued = report.continued,
            "{who} failed: {}", e.message
        ),
        _ => tracing::info!(
            event = "step_end",
            step = %log_name(step),
            status = report.status.as_str(),
            duration_ms = report.duration_ms,
            count = report.count,
            api_calls = report.api.calls,
            "{who} {}", report.status.as_str()
        ),
    }
}

/// The dry-run writes of a step instance and its iterations.
fn take_planned(ctx: &Ctx<'_>, label: &str) -> Vec<super::steps::PlannedWrite> {
    let mut planned = ctx
        .planned
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let iteration_prefix = format!("{label}[");
    let (mine, rest): (Vec<_>, Vec<_>) = planned
        .drain(..)
        .partition(|(l, _)| l == label || l.starts_with(&iteration_prefix));
    *planned = rest;
    mine.into_iter().map(|(_, w)| w).collect()
}

/// The step's own calls plus its iterations' and children's.
fn sum_stats(ctx: &Ctx<'_>, label: &str, report: &StepReport) -> CallStats {
    let mut total = ctx.conn.stats(label);
    for i in &report.iterations {
        total.merge(&i.api);
        for s in &i.steps {
            total.merge(&s.api);
        }
    }
    for s in &report.steps {
        total.merge(&s.api);
    }
    total
}

fn fail(
    ctx: &Ctx<'_>,
    frame: &Arc<Frame>,
    step: &Step,
    label: &str,
    mut report: StepReport,
    e: &StepError,
    started: Instant,
) -> StepReport {
    let e = e.clone().or_at(step.kind_span);
    report.status = Status::Failed;
    report.continued = step.on_error == OnError::Continue;
    report.error = Some(ErrorReport::new(&e, step, &ctx.playbook.sources));
    if let Some(id) = &step.id {
        frame.set_step(
            id,
            finished_outputs(Vec::new(), Status::Failed, Some(&e.message)),
        );
    }
    report.duration_ms = millis(started);
    log_end(step, &report);
    ctx.observer.step_finished(step, label, &report);
    report
}

/// What running a step's body once gave.
pub(crate) enum BodyResult {
    Done(Outcome, Vec<StepReport>),
    Failed(ErrorReport, Vec<StepReport>),
}

fn apply_result(frame: &Arc<Frame>, step: &Step, report: &mut StepReport, result: BodyResult) {
    match result {
        BodyResult::Done(outcome, children) => {
            report.status = if outcome.changed {
                Status::Changed
            } else {
                Status::Ok
            };
            report.count = outcome.count;
            report.truncated = outcome.truncated;
            report.written = outcome.written;
            report.steps = children;
            if let Some(id) = &step.id {
                frame.set_step(id, finished_outputs(outcome.outputs, report.status, None));
            }
        }
        BodyResult::Failed(error, children) => {
            report.status = Status::Failed;
            report.continued = step.on_error == OnError::Continue;
            if let Some(id) = &step.id {
                frame.set_step(
                    id,
                    finished_outputs(Vec::new(), Status::Failed, Some(&error.message)),
                );
            }
            report.error = Some(error);
            report.steps = children;
        }
    }
}

/// Run a step's body once (one iteration), honouring `timeout` and interruption.
/// `frame` is where the body's scope lives (an iteration's own frame under `for_each`).
fn run_body<'c, 'a: 'c>(
    ctx: &'c Ctx<'a>,
    frame: &'c Arc<Frame>,
    step: &'a Step,
    label: &'c str,
    scope: &'c Value,
) -> BoxFuture<'c, BodyResult> {
    Box::pin(async move {
        let body = body(ctx, frame, step, label, scope);
        let timed = async {
            match step.timeout {
                Some(limit) => match tokio::time::timeout(limit, body).await {
                    Ok(r) => r,
                    Err(_) => BodyResult::Failed(
                        ErrorReport::new(
                            &StepError::new(
                                ErrorKind::Timeout,
                                format!(
                                    "timed out after {}",
                                    crate::template::types::format_duration(limit)
                                ),
                            )
                            .at(step.kind_span)
                            .help("raise the step's `timeout` (or `defaults.timeout`)"),
                            step,
                            &ctx.playbook.sources,
                        ),
                        Vec::new(),
                    ),
                },
                None => body.await,
            }
        };
        match ctx.cancel.with_grace(timed, ctx.options.grace).await {
            Ok(r) => r,
            Err(stopped) => BodyResult::Failed(
                ErrorReport::new(
                    &StepError::new(ErrorKind::Cancelled, format!("interrupted: {stopped}"))
                        .at(step.kind_span),
                    step,
                    &ctx.playbook.sources,
                ),
                Vec::new(),
            ),
        }
    })
}

/// The body proper: a leaf kind, a block, or a parallel group.
fn body<'c, 'a: 'c>(
    ctx: &'c Ctx<'a>,
    frame: &'c Arc<Frame>,
    step: &'a Step,
    label: &'c str,
    scope: &'c Value,
) -> BoxFuture<'c, BodyResult> {
    Box::pin(async move {
        match &step.kind {
            StepKind::Steps(children) => {
                // Without `for_each` a block still gets its own `steps.<id>` namespace.
                let inner = if step.for_each.is_some() {
                    frame.clone()
                } else {
                    Frame::block(frame)
                };
                let seq = run_sequence(ctx, &inner, children, (&step.route, label)).await;
                if step.for_each.is_none() {
                    inner.export_vars(frame);
                }
                match seq.stop {
                    Some(e) => BodyResult::Failed(e, seq.reports),
                    None => {
                        let iterations = Value::from(vec![inner.own_steps()]);
                        let outputs = if step.for_each.is_some() {
                            Vec::new()
                        } else {
                            vec![("iterations", iterations)]
                        };
                        BodyResult::Done(Outcome::with(outputs), seq.reports)
                    }
                }
            }
            StepKind::Parallel(children) => {
                let futures = children.iter().map(|child| {
                    let child_label = instance_label(child, &step.route, label);
                    async move { run_step(ctx, frame, child, &child_label).await }
                });
                let reports = futures_util::future::join_all(futures).await;
                let failed = reports
                    .iter()
                    .find(|r| r.status == Status::Failed && !r.continued)
                    .and_then(|r| r.error.clone());
                match failed {
                    Some(e) => BodyResult::Failed(e, reports),
                    None => {
                        let changed = reports.iter().any(|r| r.status == Status::Changed);
                        let outcome = Outcome {
                            changed,
                            ..Outcome::default()
                        };
                        BodyResult::Done(outcome, reports)
                    }
                }
            }
            _ => {
                let cx = StepCx {
                    ctx,
                    frame,
                    scope,
                    step,
                    label,
                };
                match steps::execute(&cx).await {
                    Ok(outcome) => BodyResult::Done(outcome, Vec::new()),
                    Err(e) => BodyResult::Failed(
                        ErrorReport::new(&e.or_at(step.kind_span), step, &ctx.playbook.sources),
                        Vec::new(),
                    ),
                }
            }
        }
    })
}

/// The list a `for_each` iterates.
fn loop_items(ctx: &Ctx<'_>, scope: &Value, step: &Step) -> Result<Vec<Value>, StepError> {
    match &step.for_each {
        None => Ok(Vec::new()),
        Some(ForEach::List(items, _)) => Ok(items
            .iter()
            .map(crate::template::value::from_json)
            .collect()),
        Some(ForEach::Expr(field)) => {
            let v = ctx.render(scope, field, "`for_each`")?;
            if v.is_none() {
                return Ok(Vec::new());
            }
            let listy = matches!(
                v.kind(),
                minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Iterable
            );
            if !listy {
                return Err(StepError::new(
                    ErrorKind::Data,
                    format!(
                        "`for_each` must give a list, but it gives {}",
                        crate::template::value::describe(&v)
                    ),
                )
                .at(field.span));
            }
            v.try_iter().map(Iterator::collect).map_err(|e| {
                StepError::new(ErrorKind::Data, format!("`for_each`: {e}")).at(field.span)
            })
        }
    }
}

/// One iteration's result.
struct Iteration {
    report: IterationReport,
    outputs: Value,
    frame: Option<Arc<Frame>>,
}

#[expect(
    clippy::too_many_lines,
    reason = "one place for the loop's life cycle: items, iterations, aggregation"
)]
async fn run_looped<'c, 'a: 'c>(
    ctx: &'c Ctx<'a>,
    frame: &'c Arc<Frame>,
    step: &'a Step,
    label: &'c str,
    scope: &'c Value,
    per_iteration_when: bool,
    report: &mut StepReport,
) {
    let items = match loop_items(ctx, scope, step) {
        Ok(items) => items,
        Err(e) => {
            let e = e.or_at(step.kind_span);
            report.status = Status::Failed;
            report.continued = step.on_error == OnError::Continue;
            report.error = Some(ErrorReport::new(&e, step, &ctx.playbook.sources));
            if let Some(id) = &step.id {
                frame.set_step(
                    id,
                    finished_outputs(Vec::new(), Status::Failed, Some(&e.message)),
                );
            }
            return;
        }
    };
    let n = items.len();
    let concurrency = usize::try_from(step.concurrency.max(1)).unwrap_or(1);
    let stop = AtomicBool::new(false);
    let stop = &stop;
    let is_block = matches!(step.kind, StepKind::Steps(_));

    let iterations: Vec<Iteration> = futures_util::stream::iter(items.into_iter().enumerate())
        .map(|(i, item)| async move {
            let started = Instant::now();
            let mut it = IterationReport {
                index: i,
                name: None,
                status: Status::Skipped,
                duration_ms: 0,
                count: None,
                api: CallStats::default(),
                error: None,
                steps: Vec::new(),
            };
            let iter_label = format!("{label}[{i}]");
            if stop.load(Ordering::SeqCst) || ctx.cancel.is_cancelled() {
                return Iteration {
                    report: it,
                    outputs: skipped_outputs(),
                    frame: None,
                };
            }
            let child = Frame::iteration(frame, item, i, n);
            let child_scope = child.scope(&ctx.run);
            let failed = |mut it: IterationReport, e: StepError| {
                let e = e.or_at(step.kind_span);
                it.status = Status::Failed;
                it.error = Some(ErrorReport::new(&e, step, &ctx.playbook.sources));
                it
            };
            if per_iteration_when && let Some(cond) = &step.when {
                match ctx.condition(&child_scope, cond) {
                    Ok(true) => {}
                    Ok(false) => {
                        return Iteration {
                            report: it,
                            outputs: skipped_outputs(),
                            frame: None,
                        };
                    }
                    Err(e) => {
                        if step.on_error == OnError::Fail {
                            stop.store(true, Ordering::SeqCst);
                        }
                        let msg = e.message.clone();
                        return Iteration {
                            report: failed(it, e),
                            outputs: finished_outputs(Vec::new(), Status::Failed, Some(&msg)),
                            frame: None,
                        };
                    }
                }
            }
            if let Some(name) = &step.name {
                match ctx.render_text(&child_scope, name, "the step `name`") {
                    Ok(text) => it.name = Some(text),
                    Err(e) => {
                        if step.on_error == OnError::Fail {
                            stop.store(true, Ordering::SeqCst);
                        }
                        let msg = e.message.clone();
                        return Iteration {
                            report: failed(it, e),
                            outputs: finished_outputs(Vec::new(), Status::Failed, Some(&msg)),
                            frame: None,
                        };
                    }
                }
            }
            let result = run_body(ctx, &child, step, &iter_label, &child_scope).await;
            it.api = ctx.conn.stats(&iter_label);
            let outputs = match result {
                BodyResult::Done(outcome, children) => {
                    it.status = if outcome.changed {
                        Status::Changed
                    } else {
                        Status::Ok
                    };
                    it.count = outcome.count;
                    it.steps = children;
                    if is_block {
                        child.own_steps()
                    } else {
                        finished_outputs(outcome.outputs, it.status, None)
                    }
                }
                BodyResult::Failed(error, children) => {
                    if step.on_error == OnError::Fail {
                        stop.store(true, Ordering::SeqCst);
                    }
                    it.status = Status::Failed;
                    it.steps = children;
                    let out = finished_outputs(Vec::new(), Status::Failed, Some(&error.message));
                    it.error = Some(error);
                    out
                }
            };
            it.duration_ms = millis(started);
            Iteration {
                report: it,
                outputs,
                frame: Some(child),
            }
        })
        .buffered(concurrency)
        .collect()
        .await;

    // A `set` inside a looped block stays visible afterwards; the last iteration wins, as in
    // a sequential loop.
    if is_block {
        for it in &iterations {
            if let Some(f) = &it.frame {
                f.export_vars(frame);
            }
        }
    }

    let statuses: Vec<Status> = iterations.iter().map(|i| i.report.status).collect();
    let first_error = iterations.iter().find_map(|i| i.report.error.clone());
    let outputs = aggregate(step, &iterations);
    let count = if is_block {
        None
    } else {
        outputs
            .iter()
            .find(|(k, _)| *k == "count")
            .and_then(|(_, v)| u64::try_from(v.clone()).ok())
    };
    report.iterations = iterations.into_iter().map(|i| i.report).collect();
    report.count = count;
    let status = Status::combine(statuses);
    report.status = if n == 0 { Status::Ok } else { status };
    if n == 0 {
        report.reason = Some("`for_each` gave an empty list".to_string());
    }
    if report.status == Status::Failed {
        report.continued = step.on_error == OnError::Continue;
        report.error = first_error;
    }
    if let Some(id) = &step.id {
        let error = report.error.as_ref().map(|e| e.message.clone());
        frame.set_step(
            id,
            finished_outputs(outputs, report.status, error.as_deref()),
        );
    }
}

/// A looped step's outputs: `iterations` (one map per iteration), the list outputs
/// (`results`, `items`) concatenated, and `count` (their total length).
fn aggregate(step: &Step, iterations: &[Iteration]) -> Vec<(&'static str, Value)> {
    let mut out = vec![(
        "iterations",
        Value::from(
            iterations
                .iter()
                .map(|i| i.outputs.clone())
                .collect::<Vec<_>>(),
        ),
    )];
    if matches!(step.kind, StepKind::Steps(_)) {
        return out;
    }
    let listed = step.kind.name().loop_outputs();
    for key in ["results", "items"] {
        if !listed.contains(&key) {
            continue;
        }
        let mut all = Vec::new();
        for it in iterations {
            if let Ok(list) = it.outputs.get_attr(key)
                && !list.is_undefined()
                && !list.is_none()
                && let Ok(iter) = list.try_iter()
            {
                all.extend(iter);
            }
        }
        let len = all.len();
        out.push((key, Value::from(all)));
        if listed.contains(&"count") {
            out.push(("count", Value::from(len)));
        }
    }
    out
}
