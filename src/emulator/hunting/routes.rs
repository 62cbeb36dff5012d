//! The three hunting endpoints: request bodies (case-sensitive `Query`, Graph's `Timespan`),
//! permissions, and the responses written straight into the body — Graph `schema`/`results`,
//! Defender XDR `Stats`/`Schema`/`Results`, Defender for Endpoint `Schema`/`Results` — with
//! the row cap and the result-size limit.

use std::sync::Arc;

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::HuntingResult;
use super::kql::ErrorKind;
use super::kql::value::{
    TICKS_PER_DAY, TICKS_PER_HOUR, TICKS_PER_MINUTE, TICKS_PER_SECOND, parse_datetime,
    write_json_str,
};
use crate::emulator::principal::Principal;
use crate::emulator::state::EmuState;
use crate::emulator::{ApiError, ApiFamily};

/// Which hunting API a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Microsoft Graph `runHuntingQuery` (`v1.0` or `beta`).
    Graph { beta: bool },
    /// Defender XDR `POST /api/advancedhunting/run`.
    Defender,
    /// Defender for Endpoint `POST /api/advancedqueries/run`.
    Endpoint,
}

impl Api {
    fn family(self) -> ApiFamily {
        match self {
            Api::Graph { .. } => ApiFamily::Graph,
            Api::Defender => ApiFamily::Defender,
            Api::Endpoint => ApiFamily::Endpoint,
        }
    }

    /// Application roles and delegated scopes that allow the call.
    fn permissions(self) -> &'static [&'static str] {
        match self {
            Api::Graph { .. } => &["ThreatHunting.Read.All"],
            Api::Defender => &["AdvancedHunting.Read.All", "AdvancedHunting.Read"],
            Api::Endpoint => &["AdvancedQuery.Read.All", "AdvancedQuery.Read"],
        }
    }
}

/// The hunting routes; the gate in front of them authenticates and inserts the `Principal`.
pub fn router() -> Router<Arc<EmuState>> {
    Router::new()
        .route(
            "/v1.0/security/runHuntingQuery",
            post(|s, p, h, b| handle(Api::Graph { beta: false }, s, p, h, b)),
        )
        .route(
            "/beta/security/runHuntingQuery",
            post(|s, p, h, b| handle(Api::Graph { beta: true }, s, p, h, b)),
        )
        .route(
            "/api/advancedhunting/run",
            post(|s, p, h, b| handle(Api::Defender, s, p, h, b)),
        )
        .route(
            "/api/advancedqueries/run",
            post(|s, p, h, b| handle(Api::Endpoint, s, p, h, b)),
        )
}

/// A validated request body.
#[derive(Debug, Clone, PartialEq)]
struct HuntRequest {
    query: String,
    window: Option<(i64, i64)>,
}

async fn handle(
    api: Api,
    State(state): State<Arc<EmuState>>,
    principal: Option<Extension<Principal>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let family = api.family();
    let client_request_id = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let fail = |mut e: ApiError| {
        e.client_request_id.clone_from(&client_request_id);
        e.into_response()
    };
    let Some(Extension(principal)) = principal else {
        return fail(ApiError::new(
            family,
            StatusCode::UNAUTHORIZED,
            if family == ApiFamily::Graph {
                "InvalidAuthenticationToken"
            } else {
                "Unauthorized"
            },
            "Access token is missing or invalid.",
        ));
    };
    if let Err(e) = principal.require(family, api.permissions()) {
        return fail(e);
    }
    let now = state.hunting.now_ticks();
    let request = match parse_body(api, &body, now) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let worker = state.clone();
    let context = match api {
        Api::Graph { beta } => format!(
            "{}/{}/$metadata#microsoft.graph.security.huntingQueryResults",
            state.urls.graph_url,
            if beta { "beta" } else { "v1.0" }
        ),
        _ => String::new(),
    };
    // Evaluation and serialisation are CPU-bound; keep them off the async workers.
    let outcome = tokio::task::spawn_blocking(move || {
        let store = &worker.hunting;
        let result = store.run(&request.query, request.window).map_err(|e| {
            if e.kind == ErrorKind::Internal {
                ApiError::new(
                    family,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    if family == ApiFamily::Graph { "generalException" } else { "InternalServerError" },
                    e.message(&request.query),
                )
            } else {
                ApiError::bad_request(family, e.message(&request.query))
            }
        })?;
        let cap = store.limits().max_result_bytes;
        write_body(api, &context, &result, cap).ok_or_else(|| {
            ApiError::bad_request(
                family,
                if api == Api::Endpoint {
                    "Query execution has exceeded the allowed result size. Optimize your query by limiting the number of results and try again"
                } else {
                    "Result size limit exceeded. Use \"summarize\" to aggregate results, \"project\" to drop uninteresting columns, or \"take\" to truncate results."
                },
            )
        })
    })
    .await;
    match outcome {
        Ok(Ok(body)) => {
            let mut resp = (StatusCode::OK, body).into_response();
            let ct = if family == ApiFamily::Graph {
                "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
            } else {
                "application/json; charset=utf-8"
            };
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            resp
        }
        Ok(Err(e)) => fail(e),
        Err(_) => fail(ApiError::new(
            family,
            StatusCode::INTERNAL_SERVER_ERROR,
            if family == ApiFamily::Graph {
                "generalException"
            } else {
                "InternalServerError"
            },
            "An unexpected error occurred during query execution. Please try again in a few minutes.",
        )),
    }
}

fn parse_body(api: Api, body: &[u8], now: i64) -> Result<HuntRequest, ApiError> {
    let family = api.family();
    let invalid_body = || {
        if family == ApiFamily::Graph {
            ApiError::bad_request(
                family,
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.",
            )
        } else {
            ApiError::new(
                family,
                StatusCode::BAD_REQUEST,
                "InvalidRequestBody",
                "Request body is incorrect",
            )
        }
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| invalid_body())?;
    let obj = value.as_object().ok_or_else(invalid_body)?;
    let missing = |name: &str| {
        let case_hint = obj
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .map_or(String::new(), |k| {
                format!(" (found '{k}'; property names are case-sensitive)")
            });
        if family == ApiFamily::Graph {
            ApiError::bad_request(
                family,
                format!("The request body must contain '{name}'{case_hint}."),
            )
        } else {
            ApiError::new(
                family,
                StatusCode::BAD_REQUEST,
                "MissingRequiredParameter",
                format!("Parameter {name} is missing{case_hint}"),
            )
        }
    };
    let query = match obj.get("Query") {
        None | Some(serde_json::Value::Null) => return Err(missing("Query")),
        Some(serde_json::Value::String(q)) if !q.trim().is_empty() => q.clone(),
        Some(_) => {
            return Err(ApiError::new(
                family,
                StatusCode::BAD_REQUEST,
                if family == ApiFamily::Graph {
                    "BadRequest"
                } else {
                    "InvalidRequestBody"
                },
                "Query must be a non-empty string",
            ));
        }
    };
    let window = match (api, obj.get("Timespan")) {
        (Api::Graph { .. }, Some(serde_json::Value::String(t))) => {
            Some(parse_timespan_param(t, now).map_err(|e| {
                ApiError::bad_request(family, format!("Invalid Timespan '{t}': {e}"))
            })?)
        }
        (Api::Graph { .. }, None | Some(serde_json::Value::Null)) => None,
        (Api::Graph { .. }, Some(_)) => {
            return Err(ApiError::bad_request(family, "Timespan must be a string"));
        }
        // The older APIs have no Timespan; an extra property changes nothing.
        _ => None,
    };
    Ok(HuntRequest { query, window })
}

/// An ISO 8601 duration (`P30D`, `PT12H`, `P1DT2H30M`, `P2W`) in ticks. Years and months count
/// 365 and 30 days.
fn parse_iso_duration(text: &str) -> Option<i64> {
    let rest = text.strip_prefix('P').or_else(|| text.strip_prefix('p'))?;
    if rest.is_empty() {
        return None;
    }
    let mut total = 0i64;
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            'T' | 't' if !in_time && number.is_empty() => in_time = true,
            '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
            unit => {
                let n: f64 = number.parse().ok()?;
                number.clear();
                let ticks = match (in_time, unit.to_ascii_uppercase()) {
                    (false, 'Y') => 365 * TICKS_PER_DAY,
                    (false, 'M') => 30 * TICKS_PER_DAY,
                    (false, 'W') => 7 * TICKS_PER_DAY,
                    (false, 'D') => TICKS_PER_DAY,
                    (true, 'H') => TICKS_PER_HOUR,
                    (true, 'M') => TICKS_PER_MINUTE,
                    (true, 'S') => TICKS_PER_SECOND,
                    _ => return None,
                };
                total = total.checked_add((n * ticks as f64) as i64)?;
                any = true;
            }
        }
    }
    if !number.is_empty() || !any {
        return None;
    }
    Some(total)
}

/// Graph `Timespan`: `start/end`, `duration/end`, `start/duration`, `duration` (back from
/// now) or `start` (to now).
fn parse_timespan_param(text: &str, now: i64) -> Result<(i64, i64), String> {
    const FORMS: &str = "use an ISO 8601 duration or interval such as P30D, 2024-02-01T08:00:00Z/2024-02-15T08:00:00Z, P7D/2024-02-15T08:00:00Z or 2024-02-01T08:00:00Z/P7D";
    let t = text.trim();
    let part = |p: &str| -> Result<Either, String> {
        if let Some(d) = parse_iso_duration(p) {
            return Ok(Either::Duration(d));
        }
        parse_datetime(p)
            .map(Either::Instant)
            .ok_or_else(|| format!("'{p}' is neither a datetime nor a duration; {FORMS}"))
    };
    let (start, end) = match t.split_once('/') {
        Some((a, b)) => match (part(a)?, part(b)?) {
            (Either::Instant(s), Either::Instant(e)) => (s, e),
            (Either::Duration(d), Either::Instant(e)) => (e - d, e),
            (Either::Instant(s), Either::Duration(d)) => (s, s + d),
            (Either::Duration(_), Either::Duration(_)) => {
                return Err(format!("an interval needs at least one datetime; {FORMS}"));
            }
        },
        None => match part(t)? {
            Either::Duration(d) => (now - d, now),
            Either::Instant(s) => (s, now),
        },
    };
    if start > end {
        return Err("the start is after the end".to_string());
    }
    Ok((start, end))
}

enum Either {
    Duration(i64),
    Instant(i64),
}

/// Serialise a result in the API's shape, or `None` when it would exceed `cap` bytes.
#[must_use]
pub fn write_body(api: Api, context: &str, result: &HuntingResult, cap: usize) -> Option<Vec<u8>> {
    let rel = &result.relation;
    let graph = matches!(api, Api::Graph { .. });
    let (name_key, type_key) = if graph {
        ("name", "type")
    } else {
        ("Name", "Type")
    };
    // Each row repeats the column names: escape them once.
    let keys: Vec<Vec<u8>> = rel
        .schema
        .iter()
        .map(|c| {
            let mut k = Vec::new();
            write_json_str(&mut k, &c.name);
            k.push(b':');
            k
        })
        .collect();
    let per_row: usize = keys.iter().map(|k| k.len() + 24).sum::<usize>() + 2;
    let mut out: Vec<u8> =
        Vec::with_capacity((per_row * rel.len() + 512).min(cap.saturating_add(1)));
    out.push(b'{');
    if graph {
        out.extend_from_slice(b"\"@odata.context\":");
        write_json_str(&mut out, context);
        out.push(b',');
    }
    if api == Api::Defender {
        out.extend_from_slice(b"\"Stats\":");
        let stats = stats(result);
        let _ = serde_json::to_writer(&mut out, &stats);
        out.push(b',');
    }
    out.extend_from_slice(if graph {
        b"\"schema\":["
    } else {
        b"\"Schema\":["
    });
    for (i, c) in rel.schema.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        write_json_str(&mut out, name_key);
        out.push(b':');
        write_json_str(&mut out, &c.name);
        out.push(b',');
        write_json_str(&mut out, type_key);
        out.push(b':');
        write_json_str(&mut out, c.ty.api_name());
        out.push(b'}');
    }
    out.extend_from_slice(if graph {
        b"],\"results\":["
    } else {
        b"],\"Results\":["
    });
    for row in 0..rel.len() {
        if row > 0 {
            out.push(b',');
        }
        out.push(b'{');
        for (c, key) in keys.iter().enumerate() {
            if c > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            rel.get(row, c).write_json(&mut out);
        }
        out.push(b'}');
        if out.len() > cap {
            return None;
        }
    }
    out.extend_from_slice(b"]}");
    if out.len() > cap {
        return None;
    }
    Some(out)
}

/// The Defender XDR `Stats` block, with the service's mixed key casing.
fn stats(result: &HuntingResult) -> serde_json::Value {
    let secs = result.elapsed.as_secs_f64();
    let cpu = super::kql::value::format_timespan((secs * TICKS_PER_SECOND as f64) as i64);
    let rows = result.total_rows as u64;
    let bytes = super::generate::heap_bytes(&result.relation) as u64;
    serde_json::json!({
        "ExecutionTime": (secs * 1e6).round() / 1e6,
        "resource_usage": {
            "cache": {
                "memory": { "hits": rows, "misses": 0, "total": rows },
                "disk": { "hits": 0, "misses": 0, "total": 0 }
            },
            "cpu": { "user": cpu, "kernel": "00:00:00", "total cpu": cpu },
            "memory": { "peak_per_node": bytes }
        },
        "dataset_statistics": [ { "table_row_count": rows, "table_size": bytes } ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::hunting::kql::value::parse_datetime;

    fn dt(s: &str) -> i64 {
        parse_datetime(s).unwrap()
    }

    #[test]
    fn timespan_forms() {
        let now = dt("2024-02-15T08:00:00Z");
        assert_eq!(
            parse_timespan_param("P30D", now),
            Ok((now - 30 * TICKS_PER_DAY, now))
        );
        assert_eq!(
            parse_timespan_param("2024-02-01T08:00:00Z/2024-02-15T08:00:00Z", now),
            Ok((dt("2024-02-01T08:00:00Z"), now))
        );
        assert_eq!(
            parse_timespan_param("P1D/2024-02-15T08:00:00Z", now),
            Ok((now - TICKS_PER_DAY, now))
        );
        assert_eq!(
            parse_timespan_param("2024-02-14T08:00:00Z/PT12H", now),
            Ok((dt("2024-02-14T08:00:00Z"), dt("2024-02-14T20:00:00Z")))
        );
        assert_eq!(
            parse_timespan_param("2024-02-14T08:00:00Z", now),
            Ok((dt("2024-02-14T08:00:00Z"), now))
        );
        assert_eq!(
            parse_iso_duration("P1DT2H30M"),
            Some(TICKS_PER_DAY + 150 * TICKS_PER_MINUTE)
        );
        assert_eq!(parse_iso_duration("P2W"), Some(14 * TICKS_PER_DAY));
        assert!(parse_timespan_param("30 days", now).is_err());
        assert!(parse_timespan_param("P", now).is_err());
        assert!(parse_timespan_param("P1D/P2D", now).is_err());
        assert!(parse_timespan_param("2024-02-15T08:00:00Z/2024-02-01T08:00:00Z", now).is_err());
    }

    #[test]
    fn bodies_are_case_sensitive() {
        let now = 0;
        let e = parse_body(Api::Defender, br#"{"query": "T"}"#, now).unwrap_err();
        assert_eq!(e.code, "MissingRequiredParameter");
        assert_eq!(
            e.message,
            "Parameter Query is missing (found 'query'; property names are case-sensitive)"
        );
        let e = parse_body(Api::Graph { beta: false }, b"not json", now).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("Unable to read JSON request payload"));
        let e = parse_body(Api::Endpoint, br#"{"Query": 5}"#, now).unwrap_err();
        assert_eq!(e.code, "InvalidRequestBody");
        let ok = parse_body(
            Api::Endpoint,
            br#"{"Query": "T | take 1", "Timespan": "P1D"}"#,
            now,
        )
        .unwrap();
        assert_eq!(ok.window, None);
        let g = parse_body(
            Api::Graph { beta: true },
            br#"{"Query": "T", "Timespan": "P1D"}"#,
            now,
        )
        .unwrap();
        assert_eq!(g.window, Some((-TICKS_PER_DAY, 0)));
        let e = parse_body(
            Api::Graph { beta: true },
            br#"{"Query": "T", "Timespan": "yesterday"}"#,
            now,
        )
        .unwrap_err();
        assert!(
            e.message.starts_with("Invalid Timespan 'yesterday'"),
            "{}",
            e.message
        );
    }
}
