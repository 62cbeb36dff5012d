//! `hunt`: an advanced-hunting query. Microsoft Graph `POST /security/runHuntingQuery` by
//! default (with an optional `Timespan`), `api: defender` for the older Defender XDR
//! `POST /api/advancedhunting/run`, `api: endpoint` for Defender for Endpoint's
//! `POST /api/advancedqueries/run`. Every `{{ value }}` in the query was rendered as a KQL
//! literal by the template engine. Outputs `results`, `schema`, `stats`, `count`, `truncated`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::engine::connection::{Call, HuntData, Target, audience_of};
use crate::engine::error::{ErrorKind, StepError};
use crate::engine::flow::{Outcome, StepCx};
use crate::playbook::{Api, Hunt, Method, Timespan};
use crate::rows::{ROW_LIMIT, RowSet, hunt_outputs};
use crate::template::value::as_duration;

/// Run a `hunt` step.
pub(crate) async fn run(cx: &StepCx<'_, '_>, h: &Hunt) -> Result<Outcome, StepError> {
    let query = cx.ctx.render_text(cx.scope, &h.query, "`hunt.query`")?;
    let (path, mut body) = match h.api {
        Api::Graph => ("/v1.0/security/runHuntingQuery", json!({ "Query": query })),
        Api::Defender => ("/api/advancedhunting/run", json!({ "Query": query })),
        Api::Endpoint => ("/api/advancedqueries/run", json!({ "Query": query })),
    };
    if h.api == Api::Graph
        && let Some(ts) = &h.timespan
    {
        body["Timespan"] = serde_json::Value::String(timespan(cx, ts)?);
    }
    let mut call = Call::new(
        audience_of(h.api),
        Method::Post,
        Target::Path(path.to_string()),
        cx.label,
    )
    .body(body);
    // Hunting only reads: repeating the POST after a timeout or a 5xx is harmless.
    call.idempotent = true;
    let data = cx.ctx.conn.hunt(call, h.api).await?;
    if data.truncated {
        tracing::warn!(
            event = "hunt_truncated",
            step = %crate::engine::flow::log_name(cx.step),
            rows = data.count,
            "{}: the result has {} rows, the service's limit: it is probably incomplete",
            crate::engine::flow::who(cx.step),
            data.count
        );
    }
    let outputs = ["results", "schema", "stats", "count", "truncated"]
        .into_iter()
        .map(|k| (k, data.outputs.get_attr(k).unwrap_or_default()))
        .collect();
    let mut out = Outcome::with(outputs);
    out.count = Some(data.count as u64);
    out.truncated = Some(data.truncated);
    Ok(out)
}

/// `hunt.timespan` as Graph's ISO 8601 `Timespan`.
fn timespan(cx: &StepCx<'_, '_>, ts: &Timespan) -> Result<String, StepError> {
    match ts {
        Timespan::Duration(d) => Ok(iso_duration(*d)),
        Timespan::Iso(s) => Ok(s.clone()),
        Timespan::Template(field) => {
            let v = cx.ctx.render(cx.scope, field, "`hunt.timespan`")?;
            if let Some(d) = as_duration(&v) {
                return Ok(iso_duration(d));
            }
            let text = cx.ctx.render_text(cx.scope, field, "`hunt.timespan`")?;
            match crate::template::types::parse_duration(text.trim()) {
                Ok(d) => Ok(iso_duration(d)),
                Err(_) => Ok(text.trim().to_string()),
            }
        }
    }
}

/// A duration in ISO 8601 (`P1D`, `PT90M`, `PT45S`, `P1DT2H`).
#[must_use]
pub fn iso_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if rest > 0 || days == 0 {
        out.push('T');
        if h > 0 {
            out.push_str(&format!("{h}H"));
        }
        if m > 0 {
            out.push_str(&format!("{m}M"));
        }
        if s > 0 || (h == 0 && m == 0) {
            out.push_str(&format!("{s}S"));
        }
    }
    out
}

/// Parse a whole hunting response body (Graph `schema`/`results`, Defender `Schema`/
/// `Results`/`Stats`) into the step's outputs: the compact row set of [`crate::rows`],
/// shared by every later step without copying rows.
///
/// # Errors
/// When the body is not a hunting result.
pub fn hunt_data_from_json(body: &[u8], api: Api) -> Result<HuntData, StepError> {
    let set = RowSet::from_slice(body).map_err(|e| {
        let what = match api {
            Api::Graph => "POST /v1.0/security/runHuntingQuery",
            Api::Defender => "POST /api/advancedhunting/run",
            Api::Endpoint => "POST /api/advancedqueries/run",
        };
        StepError::new(ErrorKind::Api, format!("{what}: {e}"))
    })?;
    Ok(hunt_data(set))
}

/// The hunt step's data for a parsed row set.
#[must_use]
pub fn hunt_data(set: RowSet) -> HuntData {
    let count = set.len();
    HuntData {
        outputs: hunt_outputs(Arc::new(set)),
        count,
        truncated: count >= ROW_LIMIT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::Value;

    #[test]
    fn iso_durations() {
        assert_eq!(iso_duration(Duration::from_secs(86_400)), "P1D");
        assert_eq!(iso_duration(Duration::from_secs(5400)), "PT1H30M");
        assert_eq!(iso_duration(Duration::from_secs(45)), "PT45S");
        assert_eq!(iso_duration(Duration::from_secs(93_600)), "P1DT2H");
        assert_eq!(iso_duration(Duration::ZERO), "PT0S");
    }

    #[test]
    fn both_response_shapes_parse() {
        let g = br#"{"schema":[{"name":"A","type":"String"}],"results":[{"A":"x"},{"A":"y"}]}"#;
        let d = hunt_data_from_json(g, Api::Graph).unwrap();
        assert_eq!(d.count, 2);
        assert!(!d.truncated);
        let d = hunt_data_from_json(
            br#"{"Stats":{"ExecutionTime":1.5},"Schema":[{"Name":"A","Type":"Int64"}],"Results":[{"A":1}]}"#,
            Api::Defender,
        )
        .unwrap();
        let schema = d.outputs.get_attr("schema").unwrap();
        let first = schema.get_item(&Value::from(0)).unwrap();
        assert_eq!(first.get_attr("type").unwrap().as_str(), Some("Int64"));
        let stats = d.outputs.get_attr("stats").unwrap();
        assert!(stats.get_attr("ExecutionTime").is_ok());
        let e = hunt_data_from_json(b"{\"value\":[]}", Api::Graph).unwrap_err();
        assert!(e.message.contains("no `results`"), "{}", e.message);
    }
}
