//! What every tenant route shares: the caller from the gate, errors in each family's shape,
//! request bodies read with the services' error wording, OData collection envelopes, and the
//! journal of write requests.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{FromRequest, OriginalUri, Request};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::odata::{Collection, ListQuery, ODataError, Page};
use crate::emulator::principal::Principal;
use crate::emulator::state::EmuState;
use crate::emulator::{ApiError, ApiFamily};

/// A failed request: an [`ApiError`] plus the `details: []` Graph adds to OData errors.
#[derive(Debug, Clone)]
pub struct Fail {
    pub error: ApiError,
    pub graph_details: bool,
}

impl From<ApiError> for Fail {
    fn from(error: ApiError) -> Fail {
        Fail {
            error,
            graph_details: false,
        }
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let mut body = self.error.body();
        if self.graph_details
            && let Some(err) = body.get_mut("error").and_then(Value::as_object_mut)
        {
            // Keep the observed key order: code, message, details, innerError.
            let inner = err.remove("innerError");
            err.insert("details".into(), json!([]));
            if let Some(inner) = inner {
                err.insert("innerError".into(), inner);
            }
        }
        (self.error.status, axum::Json(body)).into_response()
    }
}

/// The result of a handler.
pub type Reply = Result<Response, Fail>;

/// The authenticated caller. Without the gate in front nobody is authenticated: 401.
///
/// # Errors
/// 401 in the family's shape when no principal was attached.
pub fn caller(p: Option<Extension<Principal>>, family: ApiFamily) -> Result<Principal, ApiError> {
    p.map(|Extension(p)| p).ok_or_else(|| match family {
        ApiFamily::Graph => ApiError::new(
            family,
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token is empty.",
        ),
        _ => ApiError::new(
            family,
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Authorization header is missing or invalid.",
        ),
    })
}

/// Echo Graph's `client-request-id` header into the error, as Graph does.
#[must_use]
pub fn with_request_id(mut e: ApiError, headers: &HeaderMap) -> ApiError {
    if e.family == ApiFamily::Graph {
        e.client_request_id = headers
            .get("client-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
    }
    e
}

/// An OData query problem as the family reports it: Graph `BadRequest` (or the empty code it
/// uses for `$top` over the limit, with `details: []`); Defender XDR and MDE `ODataError`.
#[must_use]
pub fn odata_fail(family: ApiFamily, e: ODataError) -> Fail {
    match family {
        ApiFamily::Graph => {
            let code = if e.top_exceeded { "" } else { "BadRequest" };
            Fail {
                error: ApiError::new(family, StatusCode::BAD_REQUEST, code, e.message),
                graph_details: e.top_exceeded,
            }
        }
        _ => ApiError::new(
            family,
            StatusCode::BAD_REQUEST,
            "ODataError",
            format!("Invalid OData URI query: {}", e.message),
        )
        .into(),
    }
}

/// Parse a JSON object body, failing as the family does for an empty or malformed body.
///
/// # Errors
/// 400 when the body is empty, not JSON, or not an object.
pub fn json_object(family: ApiFamily, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let fail = |message: &str| {
        let code = if family == ApiFamily::Graph {
            "BadRequest"
        } else {
            "InvalidRequestBody"
        };
        ApiError::new(family, StatusCode::BAD_REQUEST, code, message)
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(fail(if family == ApiFamily::Graph {
            "Empty Payload. JSON content expected."
        } else {
            "Request body is incorrect: a JSON object is required."
        }));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(fail(
            "Request body is incorrect: a JSON object is required.",
        )),
        Err(e) => Err(fail(&if family == ApiFamily::Graph {
            format!(
                "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format. ({e})"
            )
        } else {
            format!("Request body is incorrect: {e}")
        })),
    }
}

/// `200 OK` with a JSON body.
#[must_use]
pub fn ok(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// An OData collection envelope for one page: `@odata.context`, `@odata.count` when asked,
/// `value`, and `@odata.nextLink` when `next` is given and more items remain.
#[must_use]
pub fn collection(context: &str, q: &ListQuery, page: Page, next: Option<(&str, &str)>) -> Value {
    let mut o = Map::new();
    o.insert("@odata.context".into(), json!(context));
    if q.count {
        o.insert("@odata.count".into(), json!(page.total));
    }
    o.insert("value".into(), Value::Array(page.items));
    if let (Some((base, path)), Some(skip)) = (next, page.next_skip) {
        o.insert(
            "@odata.nextLink".into(),
            json!(q.next_link(base, path, skip)),
        );
    }
    Value::Object(o)
}

/// Filter and page `items` for a collection request.
#[must_use]
pub fn page(q: &ListQuery, items: Vec<Value>, coll: &Collection) -> Page {
    q.page(items, coll)
}

/// The request line and body of a write, for the journal (an extractor: take it last).
#[derive(Debug)]
pub struct WriteRequest {
    pub method: Method,
    pub uri: Uri,
    pub body: bytes::Bytes,
}

impl<S: Send + Sync> FromRequest<S> for WriteRequest {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<WriteRequest, Response> {
        let method = req.method().clone();
        let uri = req
            .extensions()
            .get::<OriginalUri>()
            .map_or_else(|| req.uri().clone(), |o| o.0.clone());
        let body = bytes::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(WriteRequest { method, uri, body })
    }
}

impl WriteRequest {
    /// Journal this write with its outcome and hand the response on.
    pub fn journal(
        &self,
        state: &Arc<EmuState>,
        principal: Option<&Extension<Principal>>,
        reply: Reply,
    ) -> Response {
        let resp = reply.unwrap_or_else(IntoResponse::into_response);
        let path = self
            .uri
            .path_and_query()
            .map_or_else(|| self.uri.path().to_string(), ToString::to_string);
        state.tenant.record(
            self.method.as_str(),
            &path,
            &self.body,
            principal.map(|Extension(p)| p),
            resp.status().as_u16(),
        );
        resp
    }
}

/// A property name sent with the wrong case, for "did you mean" hints.
#[must_use]
pub fn case_hint(key: &str, known: &[&str]) -> String {
    known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(key))
        .map(|k| format!(" Property names are case-sensitive: did you mean '{k}'?"))
        .unwrap_or_default()
}
