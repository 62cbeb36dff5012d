//! Collection paging: follow `@odata.nextLink` (Graph; Defender when it sends one) or advance
//! `$skip` by `$top` until a short page (Defender incidents, MDE lists), with a cap on items.

use serde_json::Value;

use super::client::Client;
use super::error::ApiError;
use super::request::{ApiRequest, Target};

/// How to move from one page to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// Follow `@odata.nextLink` until there is none.
    NextLink,
    /// Send `$top=page_size` and `$skip=n`, stopping at a page shorter than `page_size`; an
    /// `@odata.nextLink` in a response is followed instead when present.
    Skip {
        /// Items per page (Defender incidents ≤ 100, Graph incidents ≤ 50, MDE ≤ 10,000).
        page_size: u32,
    },
}

/// Items gathered from every page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Paged {
    /// The `value` arrays, concatenated, at most `max_items`.
    pub items: Vec<Value>,
    /// Pages fetched.
    pub pages: u32,
    /// More items existed beyond `max_items`.
    pub truncated: bool,
}

/// A hard stop against a server that never ends a collection.
const MAX_PAGES: u32 = 100_000;

struct PageBody {
    items: Vec<Value>,
    next: Option<String>,
}

fn parse_page(resp: &super::request::ApiResponse) -> Result<PageBody, ApiError> {
    let mut v: Value = resp.json()?;
    let next = v
        .get("@odata.nextLink")
        .and_then(Value::as_str)
        .map(str::to_string);
    let items = match v.get_mut("value").map(Value::take) {
        Some(Value::Array(a)) => a,
        _ => {
            return Err(ApiError::InvalidJson {
                method: resp.method.clone(),
                path: resp.path.clone(),
                detail: "not an OData collection (no `value` array)".to_string(),
            });
        }
    };
    Ok(PageBody { items, next })
}

impl Client {
    /// GET every page of a collection, up to `max_items` items.
    ///
    /// A `@odata.nextLink` is followed as-is with the same token, but only on the audience's
    /// own host; a relative one is resolved against the current page's URL.
    ///
    /// # Errors
    /// Any page's [`ApiError`]; [`ApiError::ForeignUrl`] for a nextLink to another host.
    pub async fn paginate(
        &self,
        req: ApiRequest,
        paging: Paging,
        max_items: usize,
    ) -> Result<Paged, ApiError> {
        let mut out = Paged::default();
        let mut current = match paging {
            Paging::NextLink => req.clone(),
            Paging::Skip { page_size } => with_skip(&req, page_size, 0),
        };
        let mut skipped: u64 = 0;
        loop {
            let url = self.resolve_url(&current)?;
            let resp = self.send(current.clone()).await?;
            let page = parse_page(&resp)?;
            out.pages += 1;
            let got = page.items.len();
            let room = max_items.saturating_sub(out.items.len());
            if got > room {
                out.truncated = true;
            }
            out.items.extend(page.items.into_iter().take(room));
            if out.items.len() >= max_items {
                out.truncated |= page.next.is_some()
                    || matches!(paging, Paging::Skip { page_size } if got as u64 >= u64::from(page_size));
                return Ok(out);
            }
            if out.pages >= MAX_PAGES {
                out.truncated = true;
                return Ok(out);
            }
            let next = if let Some(link) = page.next {
                let abs = url.join(&link).map_err(|e| ApiError::InvalidUrl {
                    url: link.clone(),
                    reason: e.to_string(),
                })?;
                let mut r = ApiRequest::get_url(req.audience, abs.to_string());
                r.label.clone_from(&req.label);
                r.headers.clone_from(&req.headers);
                r.timeout = req.timeout;
                // Checked here too so the error names the link, before any token is attached.
                self.resolve_url(&r)?;
                Some(r)
            } else {
                match paging {
                    Paging::Skip { page_size } if got as u64 >= u64::from(page_size) && got > 0 => {
                        skipped += got as u64;
                        Some(with_skip(&req, page_size, skipped))
                    }
                    _ => None,
                }
            };
            match next {
                Some(r) => current = r,
                None => return Ok(out),
            }
        }
    }
}

/// The request with `$top` and `$skip` set (replacing any the caller put in the query).
fn with_skip(req: &ApiRequest, page_size: u32, skip: u64) -> ApiRequest {
    let mut r = req.clone();
    if let Target::Url(_) = r.target {
        return r;
    }
    r.query
        .retain(|(k, _)| !k.eq_ignore_ascii_case("$top") && !k.eq_ignore_ascii_case("$skip"));
    r.query.push(("$top".to_string(), page_size.to_string()));
    if skip > 0 {
        r.query.push(("$skip".to_string(), skip.to_string()));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Audience;

    #[test]
    fn skip_replaces_top_and_skip() {
        let req = ApiRequest::get(Audience::Defender, "/api/incidents")
            .query("$filter", "status eq 'Active'")
            .query("$TOP", "5");
        let r = with_skip(&req, 100, 200);
        assert_eq!(
            r.query,
            vec![
                ("$filter".to_string(), "status eq 'Active'".to_string()),
                ("$top".to_string(), "100".to_string()),
                ("$skip".to_string(), "200".to_string()),
            ]
        );
        assert!(
            !with_skip(&req, 100, 0)
                .query
                .iter()
                .any(|(k, _)| k == "$skip")
        );
    }
}
