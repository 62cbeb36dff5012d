//! `request`: a generic call — `method`, `api` (`graph`, `defender`, `endpoint`), `path`,
//! `query`, `headers`, `body`, `paginate` (follow `@odata.nextLink`, collecting `value` into
//! `items`), `expect` (statuses accepted; default any 2xx). A non-GET request is a response
//! action: guarded, counted against `max_targets`, and only announced in a dry run. Outputs
//! `status`, `body` (JSON, or the text when the service sent something else), `items`.

use super::{admit_action, odata_page, render_value, send_write, to_json};
use crate::engine::connection::{Call, Reply, Target, audience_of};
use crate::engine::error::{ErrorKind, StepError};
use crate::engine::flow::{Outcome, StepCx};
use crate::playbook::{Api, Method, Request};
use crate::template::Value;
use crate::template::value::from_json;

const MAX_PAGES: usize = 10_000;

/// The path as sent: Graph paths get the `/v1.0` version unless they name one.
fn full_path(api: Api, path: &str) -> String {
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    if api == Api::Graph && !(path.starts_with("/v1.0/") || path.starts_with("/beta/")) {
        format!("/v1.0{path}")
    } else {
        path
    }
}

fn body_value(reply: &Reply) -> Value {
    if reply.body.iter().all(u8::is_ascii_whitespace) {
        return Value::from(());
    }
    match serde_json::from_slice::<serde_json::Value>(&reply.body) {
        Ok(j) => from_json(&j),
        Err(_) => Value::from(String::from_utf8_lossy(&reply.body).into_owned()),
    }
}

/// Run a `request` step.
pub(crate) async fn run(cx: &StepCx<'_, '_>, r: &Request) -> Result<Outcome, StepError> {
    let ctx = cx.ctx;
    let path = ctx.render_text(cx.scope, &r.path, "`request.path`")?;
    let mut call = Call::new(
        audience_of(r.api),
        r.method,
        Target::Path(full_path(r.api, path.trim())),
        cx.label,
    );
    for (k, v) in &r.query {
        let text = ctx.render_text(cx.scope, v, &format!("`request.query.{k}`"))?;
        call = call.query(k.clone(), text);
    }
    for (k, v) in &r.headers {
        let text = ctx.render_text(cx.scope, v, &format!("`request.headers.{k}`"))?;
        call.headers.push((k.clone(), text));
    }
    if let Some(b) = &r.body {
        let v = render_value(cx, b, "`request.body`")?;
        call = call.body(to_json(&v, "`request.body`")?);
    }
    let reply = if r.method == Method::Get {
        ctx.conn.call(call.clone(), &r.expect).await?
    } else {
        admit_action(cx, &call.describe())?;
        match send_write(cx, call.clone(), &r.expect).await? {
            Some(reply) => reply,
            None => {
                // A dry run: nothing was sent, so there is no status or body.
                return Ok(Outcome::with(vec![
                    ("status", Value::from(())),
                    ("body", Value::from(())),
                    ("items", Value::from(Vec::<Value>::new())),
                ]));
            }
        }
    };
    if !r.expect.is_empty() && !r.expect.contains(&reply.status) {
        return Err(StepError {
            status: Some(reply.status),
            ..StepError::new(
                ErrorKind::Api,
                format!(
                    "{}: HTTP {}, expected {}",
                    call.describe(),
                    reply.status,
                    r.expect
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            )
        });
    }
    let mut outputs = vec![
        ("status", Value::from(reply.status)),
        ("body", body_value(&reply)),
    ];
    let mut count = None;
    if r.paginate {
        let mut items: Vec<serde_json::Value> = Vec::new();
        let first = reply.json(&call)?;
        let (page, mut next) = odata_page(&first);
        items.extend(page);
        let mut pages = 1;
        while let Some(url) = next.take() {
            if pages >= MAX_PAGES {
                break;
            }
            let page_call = Call::new(call.audience, Method::Get, Target::Url(url), cx.label);
            let reply = ctx.conn.call(page_call.clone(), &[]).await?;
            let (page, link) = odata_page(&reply.json(&page_call)?);
            items.extend(page);
            next = link;
            pages += 1;
        }
        count = Some(items.len() as u64);
        outputs.push(("items", from_json(&serde_json::Value::Array(items))));
    }
    let mut out = Outcome::with(outputs);
    out.count = count;
    out.changed = r.method != Method::Get;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_paths_get_a_version() {
        assert_eq!(
            full_path(Api::Graph, "/security/alerts_v2"),
            "/v1.0/security/alerts_v2"
        );
        assert_eq!(
            full_path(Api::Graph, "/beta/security/x"),
            "/beta/security/x"
        );
        assert_eq!(full_path(Api::Graph, "security/x"), "/v1.0/security/x");
        assert_eq!(full_path(Api::Endpoint, "/api/machines"), "/api/machines");
    }
}
