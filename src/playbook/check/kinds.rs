//! The fields of each step kind (playbook language §3, §5; `docs/language.md` lists them
//! all): types, enums, required and exclusive fields, secret references, included files.

use std::time::Duration;

use crate::diag::{Code, Diagnostic, one_of};
use crate::jsonpath::JsonPath;
use crate::playbook::enums::Choice;
use crate::playbook::enums::{AuthFlow, IncidentSeverity};
use crate::playbook::keys;
use crate::playbook::model::{
    ActionType, Api, Assert, AuthContext, Authenticate, Classification, Cloud, CompiledPath,
    Credential, Dedupe, Determination, Filter, Hunt, IncidentList, IncidentStatus, IncidentUpdate,
    Incidents, IncidentsOp, IsolationType, KindName, MachineAction, Method, Output, OutputContent,
    OutputFormat, Request, ScanType, SecretRef, SetVars, Since, StepKind, TemplateField,
    TemplateValue, Templated, Timespan,
};
use crate::playbook::yaml::{Entry, Node, Resolved, Style, Value};
use crate::source::Span;
use crate::template::FieldKind;
use crate::template::value::parse_datetime;

use super::{Checker, is_identifier, misspelt};

/// Default `machine_action.wait_timeout`.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(600);
/// Default `filter.dedupe.window`.
pub const DEFAULT_DEDUPE_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// Absent → `None`; present and valid → `Some`; present and invalid → `None` and `ok` false.
fn opt<T>(ok: &mut bool, v: Option<Option<T>>) -> Option<T> {
    match v {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => {
            *ok = false;
            None
        }
    }
}

/// Check the body of a step of kind `k` (not `steps`/`parallel`, handled with the scope).
pub fn check(c: &mut Checker<'_>, k: KindName, e: &Entry) -> Option<StepKind> {
    let node = &e.value;
    let what = format!("a `{k}` step");
    match k {
        KindName::Authenticate => {
            authenticate(c, node, e.key_span, &what).map(StepKind::Authenticate)
        }
        KindName::Hunt => hunt(c, node, e.key_span, &what).map(StepKind::Hunt),
        KindName::Incidents => incidents(c, node, e.key_span, &what).map(StepKind::Incidents),
        KindName::MachineAction => {
            machine_action(c, node, e.key_span, &what).map(StepKind::MachineAction)
        }
        KindName::Request => request(c, node, e.key_span, &what).map(StepKind::Request),
        KindName::Filter => filter(c, node, e.key_span, &what).map(StepKind::Filter),
        KindName::Set => set(c, node).map(StepKind::Set),
        KindName::Output => output(c, node, e.key_span, &what).map(StepKind::Output),
        KindName::Assert => assert(c, node, e.key_span, &what).map(StepKind::Assert),
        KindName::Steps | KindName::Parallel => None,
    }
}

fn not_applicable(c: &mut Checker<'_>, e: &Entry, why: &str, help: Option<String>) {
    c.push(
        Diagnostic::new(
            Code::NotApplicable,
            e.key_span,
            format!("`{}` does not apply here: {why}", e.key),
        )
        .label("not used")
        .maybe_help(help),
    );
}

fn conflict(c: &mut Checker<'_>, a: &Entry, b: &str, help: &str) {
    c.push(
        Diagnostic::new(
            Code::ConflictingFields,
            a.key_span,
            format!("`{}` and `{b}` cannot both be given", a.key),
        )
        .label(format!("conflicts with `{b}`"))
        .help(help.to_string()),
    );
}

fn authenticate(c: &mut Checker<'_>, node: &Node, at: Span, what: &str) -> Option<Authenticate> {
    let entries = c.map(node, what)?;
    c.check_keys(entries, keys::AUTHENTICATE, what);
    let mut ok = true;
    let context = opt(
        &mut ok,
        node.get("context")
            .map(|e| c.choice::<AuthContext>(&e.value, "`context`")),
    )
    .unwrap_or(AuthContext::Application);
    let cloud = opt(
        &mut ok,
        node.get("cloud")
            .map(|e| c.choice::<Cloud>(&e.value, "`cloud`")),
    )
    .unwrap_or(Cloud::Commercial);
    let tenant_id = opt(
        &mut ok,
        node.get("tenant_id")
            .map(|e| c.field(&e.value, FieldKind::Text, "`tenant_id`")),
    );
    let client_id = opt(
        &mut ok,
        node.get("client_id")
            .map(|e| c.field(&e.value, FieldKind::Text, "`client_id`")),
    );
    let credential = match context {
        AuthContext::Application => {
            for key in ["flow", "username", "password", "token_cache"] {
                if let Some(e) = node.get(key) {
                    not_applicable(
                        c,
                        e,
                        "it only applies to `context: user`",
                        Some("for an application, use `client_secret` or `certificate`".into()),
                    );
                    ok = false;
                }
            }
            match (node.get("client_secret"), node.get("certificate")) {
                (Some(s), Some(_)) => {
                    conflict(
                        c,
                        s,
                        "certificate",
                        "an application signs in with one credential: keep one",
                    );
                    None
                }
                (Some(s), None) => {
                    secret_ref(c, &s.value, "client_secret").map(Credential::ClientSecret)
                }
                (None, Some(cert)) => certificate(c, &cert.value, cert.key_span),
                (None, None) => Some(Credential::Environment),
            }
        }
        AuthContext::User => {
            for key in ["client_secret", "certificate"] {
                if let Some(e) = node.get(key) {
                    not_applicable(
                        c,
                        e,
                        "it only applies to `context: application`",
                        Some("a user signs in with `flow: device_code` (default) or `flow: password`".into()),
                    );
                    ok = false;
                }
            }
            let flow = opt(
                &mut ok,
                node.get("flow")
                    .map(|e| c.choice::<AuthFlow>(&e.value, "`flow`")),
            )
            .unwrap_or(AuthFlow::DeviceCode);
            let token_cache = opt(
                &mut ok,
                node.get("token_cache")
                    .map(|e| c.string(&e.value, "`token_cache`")),
            )
            .map(std::path::PathBuf::from);
            match flow {
                AuthFlow::DeviceCode => {
                    for key in ["username", "password"] {
                        if let Some(e) = node.get(key) {
                            not_applicable(
                                c,
                                e,
                                "the device code flow asks the user to sign in in a browser",
                                Some(
                                    "add `flow: password` to sign in with a username and password"
                                        .into(),
                                ),
                            );
                            ok = false;
                        }
                    }
                    Some(Credential::DeviceCode { token_cache })
                }
                AuthFlow::Password => {
                    let username = match node.get("username") {
                        Some(e) => c.field(&e.value, FieldKind::Text, "`username`"),
                        None => {
                            c.missing(node, keys::AUTHENTICATE, at, "username", "`flow: password`");
                            None
                        }
                    };
                    let password = match node.get("password") {
                        Some(e) => secret_ref(c, &e.value, "password"),
                        None => {
                            c.missing(node, keys::AUTHENTICATE, at, "password", "`flow: password`");
                            None
                        }
                    };
                    match (username, password) {
                        (Some(username), Some(password)) => Some(Credential::Password {
                            username,
                            password,
                            token_cache,
                        }),
                        _ => None,
                    }
                }
            }
        }
    };
    if !ok {
        return None;
    }
    Some(Authenticate {
        context,
        tenant_id,
        client_id,
        credential: credential?,
        cloud,
    })
}

fn certificate(c: &mut Checker<'_>, node: &Node, at: Span) -> Option<Credential> {
    if let Some(s) = node.as_scalar() {
        if matches!(s.resolve(), Resolved::Null) {
            c.wrong_type(node, "a path or `{path, password}` for `certificate`");
            return None;
        }
        return Some(Credential::Certificate {
            path: c.resolve(&s.text),
            password: None,
        });
    }
    let entries = c.map(node, "`certificate`")?;
    c.check_keys(entries, keys::CERTIFICATE, "`certificate`");
    let path = match node.get("path") {
        Some(e) => c
            .string(&e.value, "`certificate.path`")
            .map(|p| c.resolve(&p)),
        None => {
            c.missing(node, keys::CERTIFICATE, at, "path", "`certificate`");
            None
        }
    };
    let mut ok = true;
    let password = opt(
        &mut ok,
        node.get("password")
            .map(|e| secret_ref(c, &e.value, "certificate.password")),
    );
    if !ok {
        return None;
    }
    Some(Credential::Certificate {
        path: path?,
        password,
    })
}

/// `{env: NAME}` or `{file: PATH}`; a plain string is a literal secret and never echoed.
fn secret_ref(c: &mut Checker<'_>, node: &Node, key: &str) -> Option<SecretRef> {
    let help = "use a secret reference: `{ env: NAME }` or `{ file: path/to/secret }`";
    match &node.value {
        Value::Scalar(s) if !matches!(s.resolve(), Resolved::Null) => {
            if s.text.contains("{{") {
                let env = s
                    .text
                    .split("env.")
                    .nth(1)
                    .map(|rest| {
                        rest.chars()
                            .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
                            .collect::<String>()
                    })
                    .filter(|n| !n.is_empty());
                c.push(
                    Diagnostic::new(
                        Code::LiteralSecret,
                        node.span,
                        format!("`{key}` must be a secret reference, not a template"),
                    )
                    .label("templates render values in clear")
                    .help(match env {
                        Some(n) => format!("write `{key}: {{ env: {n} }}`"),
                        None => help.to_string(),
                    }),
                );
            } else {
                // Never show the secret: mask it in every snippet of this file.
                if let Some(f) = c.sources.get_mut(node.span.file) {
                    f.redact(node.span.start, node.span.end);
                }
                c.push(
                    Diagnostic::new(
                        Code::LiteralSecret,
                        node.span,
                        format!("`{key}` holds a literal secret"),
                    )
                    .label("a secret written into the playbook (hidden here)")
                    .help(help)
                    .note("playbooks live in git: treat this secret as leaked and rotate it"),
                );
            }
            None
        }
        Value::Map(entries) => {
            c.check_keys(entries, keys::SECRET_REF, "a secret reference");
            match (node.get("env"), node.get("file")) {
                (Some(e), Some(_)) => {
                    conflict(c, e, "file", "a secret reference names one place: keep one");
                    None
                }
                (Some(e), None) => {
                    let name = c.string(&e.value, "`env`")?;
                    if is_env_name(&name) {
                        Some(SecretRef::Env(name))
                    } else {
                        c.push(
                            Diagnostic::new(
                                Code::BadSecretRef,
                                e.value.span,
                                format!("`{name}` is not an environment variable name"),
                            )
                            .label("expected letters, digits and `_`, not starting with a digit"),
                        );
                        None
                    }
                }
                (None, Some(f)) => {
                    let path = c.string(&f.value, "`file`")?;
                    Some(SecretRef::File(c.resolve(&path)))
                }
                (None, None) => {
                    c.push(
                        Diagnostic::new(
                            Code::BadSecretRef,
                            node.span,
                            format!("the secret reference of `{key}` names no source"),
                        )
                        .label("expected `env:` or `file:`")
                        .help(help),
                    );
                    None
                }
            }
        }
        _ => {
            c.push(
                Diagnostic::new(
                    Code::BadSecretRef,
                    node.span,
                    format!(
                        "`{key}` must be a secret reference, found {}",
                        node.describe()
                    ),
                )
                .label("expected `{ env: NAME }` or `{ file: PATH }`"),
            );
            None
        }
    }
}

fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
        && chars.all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
}

fn hunt(c: &mut Checker<'_>, node: &Node, at: Span, what: &str) -> Option<Hunt> {
    let entries = c.map(node, what)?;
    c.check_keys(entries, keys::HUNT, what);
    let mut ok = true;
    let api = opt(&mut ok, node.get("api").map(|e| hunt_api(c, &e.value))).unwrap_or(Api::Graph);
    let (query, query_file) = match (node.get("query"), node.get("query_file")) {
        (Some(q), Some(_)) => {
            conflict(
                c,
                q,
                "query_file",
                "give the query inline or in a file, not both",
            );
            (None, None)
        }
        (Some(q), None) => (c.field(&q.value, FieldKind::Query, "the query"), None),
        (None, Some(f)) => match c.include(&f.value, "`query_file`") {
            Some((file, path)) => {
                let text = c
                    .sources
                    .get(file)
                    .map(|f| f.text().to_string())
                    .unwrap_or_default();
                let span = Span::new(file, 0, text.len());
                (
                    c.compile(
                        &text,
                        span,
                        Style::Literal,
                        FieldKind::Query,
                        "the query file",
                    ),
                    Some(path),
                )
            }
            None => (None, None),
        },
        (None, None) if misspelt(node, keys::HUNT, &["query", "query_file"]) => (None, None),
        (None, None) => {
            c.push(
                Diagnostic::new(
                    Code::MissingField,
                    at,
                    format!("{what} needs `query` or `query_file`"),
                )
                .label("no query given"),
            );
            (None, None)
        }
    };
    let timespan = match node.get("timespan") {
        Some(e) if api == Api::Defender => {
            not_applicable(
                c,
                e,
                "the Defender XDR hunting API has no timespan",
                Some("filter on `Timestamp` in the query instead".into()),
            );
            ok = false;
            None
        }
        Some(e) => opt(&mut ok, Some(timespan(c, &e.value))),
        None => None,
    };
    if !ok {
        return None;
    }
    Some(Hunt {
        query: query?,
        query_file,
        api,
        timespan,
    })
}

fn hunt_api(c: &mut Checker<'_>, node: &Node) -> Option<Api> {
    let api = c.choice::<Api>(node, "`api`")?;
    match api {
        Api::Endpoint => {
            c.push(
                Diagnostic::new(
                    Code::BadEnum,
                    node.span,
                    "hunting is not available through `api: endpoint`",
                )
                .label("expected `graph` or `defender`")
                .help("use `api: graph` (the default)"),
            );
            None
        }
        Api::Defender => {
            c.push(
                Diagnostic::new(
                    Code::DeprecatedApi,
                    node.span,
                    "the Defender XDR advanced hunting API is being retired",
                )
                .label("Microsoft stops returning data from this endpoint on 2027-02-01")
                .help("use `api: graph` (the default): Microsoft Graph `runHuntingQuery` takes the same KQL"),
            );
            Some(api)
        }
        Api::Graph => Some(api),
    }
}

fn timespan(c: &mut Checker<'_>, node: &Node) -> Option<Timespan> {
    let s = node.as_scalar()?;
    if s.text.contains("{{") || s.text.contains("{%") {
        return c
            .field(node, FieldKind::Text, "`timespan`")
            .map(Timespan::Template);
    }
    if let Ok(d) = crate::template::types::parse_duration(&s.text) {
        return Some(Timespan::Duration(d));
    }
    if looks_iso8601(&s.text) {
        return Some(Timespan::Iso(s.text.clone()));
    }
    c.push(
        Diagnostic::new(Code::BadDuration, node.span, format!("invalid `timespan` `{}`", s.text))
            .label("expected a duration like `7d`, or an ISO 8601 interval like `P7D` or `2026-11-01T00:00:00Z/P7D`"),
    );
    None
}

fn looks_iso8601(s: &str) -> bool {
    let part = |p: &str| {
        (p.starts_with('P')
            && p.len() > 1
            && p[1..]
                .chars()
                .all(|ch| ch.is_ascii_digit() || "YMWDTHS.".contains(ch)))
            || parse_datetime(p).is_ok()
    };
    let mut parts = s.split('/');
    let ok = parts.next().is_some_and(part);
    ok && parts.clone().count() <= 1 && parts.all(part)
}

fn incidents(c: &mut Checker<'_>, node: &Node, at: Span, what: &str) -> Option<Incidents> {
    let entries = c.map(node, what)?;
    c.check_keys(entries, keys::INCIDENTS, what);
    let mut ok = true;
    let api = opt(
        &mut ok,
        node.get("api").map(|e| {
            let api = c.choice::<Api>(&e.value, "`api`")?;
            if api == Api::Endpoint {
                c.push(
                    Diagnostic::new(
                        Code::BadEnum,
                        e.value.span,
                        "incidents are not available through `api: endpoint`",
                    )
                    .label("expected `graph` or `defender`"),
                );
                return None;
            }
            Some(api)
        }),
    )
    .unwrap_or(Api::Graph);
    let ops: Vec<&Entry> = ["list", "get", "update"]
        .iter()
        .filter_map(|k| node.get(k))
        .collect();
    let op = match ops.as_slice() {
        [] if misspelt(node, keys::INCIDENTS, &["list", "get", "update"]) => None,
        [] => {
            c.push(
                Diagnostic::new(
                    Code::MissingField,
                    at,
                    format!("{what} needs one of `list`, `get` or `update`"),
                )
                .label("no operation given"),
            );
            None
        }
        [e] => match e.key.as_str() {
            "list" => incident_list(c, &e.value, api).map(IncidentsOp::List),
            "get" => c
                .field(&e.value, FieldKind::Text, "the incident id of `get`")
                .map(|id| IncidentsOp::Get { id }),
            _ => incident_update(c, &e.value, e.key_span).map(IncidentsOp::Update),
        },
        [first, second, ..] => {
            conflict(
                c,
                second,
                &first.key,
                "one `incidents` step does one operation: split it",
            );
            None
        }
    };
    if !ok {
        return None;
    }
    Some(Incidents { api, op: op? })
}

fn incident_list(c: &mut Checker<'_>, node: &Node, api: Api) -> Option<IncidentList> {
    if node.is_null() {
        return Some(IncidentList::default());
    }
    let entries = c.map(node, "`list`")?;
    c.check_keys(entries, keys::INCIDENTS_LIST, "`incidents.list`");
    let mut ok = true;
    let filter = opt(
        &mut ok,
        node.get("filter")
            .map(|e| c.field(&e.value, FieldKind::OData, "`filter`")),
    );
    let top = opt(
        &mut ok,
        node.get("top").map(|e| {
            c.int(&e.value, "`top`", 1..=10_000)
                .and_then(|i| u32::try_from(i).ok())
        }),
    );
    let since = opt(&mut ok, node.get("since").map(|e| since(c, &e.value)));
    let status: Vec<IncidentStatus> = opt(
        &mut ok,
        node.get("status").map(|e| choices(c, &e.value, "`status`")),
    )
    .unwrap_or_default();
    if api == Api::Defender
        && let Some(e) = node.get("status")
        && status.contains(&IncidentStatus::AwaitingAction)
    {
        c.push(
            Diagnostic::new(
                Code::BadEnum,
                e.value.span,
                "`awaiting_action` exists only in the Graph API",
            )
            .label("the Defender XDR API has no such status"),
        );
        ok = false;
    }
    let severity: Vec<IncidentSeverity> = opt(
        &mut ok,
        node.get("severity")
            .map(|e| choices(c, &e.value, "`severity`")),
    )
    .unwrap_or_default();
    if !ok {
        return None;
    }
    Some(IncidentList {
        filter,
        top,
        since,
        status,
        severity,
    })
}

/// One value or a list of values of a closed set.
fn choices<T: Choice>(c: &mut Checker<'_>, node: &Node, what: &str) -> Option<Vec<T>> {
    match &node.value {
        Value::Seq(items) => {
            let parsed: Vec<Option<T>> = items.iter().map(|n| c.choice::<T>(n, what)).collect();
            parsed.into_iter().collect()
        }
        _ => c.choice::<T>(node, what).map(|v| vec![v]),
    }
}

fn since(c: &mut Checker<'_>, node: &Node) -> Option<Since> {
    let Some(s) = node.as_scalar() else {
        c.wrong_type(node, "a duration or a date-time for `since`");
        return None;
    };
    if s.text.contains("{{") || s.text.contains("{%") {
        return c
            .field(node, FieldKind::Text, "`since`")
            .map(Since::Template);
    }
    if let Ok(d) = crate::template::types::parse_duration(&s.text) {
        return Some(Since::Ago(d));
    }
    if let Ok(t) = parse_datetime(&s.text) {
        return Some(Since::At(t));
    }
    c.push(
        Diagnostic::new(
            Code::BadValue,
            node.span,
            format!("invalid `since` `{}`", s.text),
        )
        .label("expected a duration like `1d` or a date-time like `2026-11-25T08:00:00Z`"),
    );
    None
}

/// A closed-set value, or a template rendered (and checked) at run time.
fn templated<T: Choice>(c: &mut Checker<'_>, node: &Node, what: &str) -> Option<Templated<T>> {
    if let Some(s) = node.as_scalar()
        && (s.text.contains("{{") || s.text.contains("{%"))
    {
        return c
            .field(node, FieldKind::Text, what)
            .map(Templated::Template);
    }
    c.choice::<T>(node, what).map(Templated::Literal)
}

fn incident_update(c: &mut Checker<'_>, node: &Node, at: Span) -> Option<IncidentUpdate> {
    let entries = c.map(node, "`update`")?;
    c.check_keys(entries, keys::INCIDENTS_UPDATE, "`incidents.update`");
    let mut ok = true;
    let id = match node.get("id") {
        Some(e) => c.field(&e.value, FieldKind::Text, "the incident `id`"),
        None => {
            c.missing(node, keys::INCIDENTS_UPDATE, at, "id", "`incidents.update`");
            None
        }
    };
    let status = opt(
        &mut ok,
        node.get("status").map(|e| {
            let v = templated::<IncidentStatus>(c, &e.value, "`status`")?;
            if let Templated::Literal(IncidentStatus::AwaitingAction) = v {
                c.push(
                    Diagnostic::new(
                        Code::BadValue,
                        e.value.span,
                        "`awaiting_action` cannot be set through the API",
                    )
                    .label("only Microsoft Defender Experts set this status"),
                );
                return None;
            }
            Some(v)
        }),
    );
    let assigned_to = opt(
        &mut ok,
        node.get("assigned_to")
            .map(|e| c.field(&e.value, FieldKind::Text, "`assigned_to`")),
    );
    let classification = opt(
        &mut ok,
        node.get("classification")
            .map(|e| templated::<Classification>(c, &e.value, "`classification`")),
    );
    let determination = opt(
        &mut ok,
        node.get("determination")
            .map(|e| templated::<Determination>(c, &e.value, "`determination`")),
    );
    if let (Some(Templated::Literal(cl)), Some(Templated::Literal(d)), Some(e)) =
        (&classification, &determination, node.get("determination"))
        && let Some(belongs) = d.classification()
        && belongs != *cl
    {
        c.push(
            Diagnostic::new(
                Code::Suspicious,
                e.value.span,
                format!("determination `{d}` belongs to classification `{belongs}`, not `{cl}`"),
            )
            .label("the API may refuse this combination"),
        );
    }
    let tags = opt(
        &mut ok,
        node.get("tags").map(|e| {
            let items = c.seq(&e.value, "`tags`")?;
            let fields: Vec<Option<TemplateField>> = items
                .iter()
                .map(|n| c.field(n, FieldKind::Text, "a tag"))
                .collect();
            fields.into_iter().collect::<Option<Vec<_>>>()
        }),
    );
    let comment = opt(
        &mut ok,
        node.get("comment")
            .map(|e| c.field(&e.value, FieldKind::Text, "`comment`")),
    );
    if status.is_none()
        && assigned_to.is_none()
        && classification.is_none()
        && determination.is_none()
        && tags.is_none()
        && comment.is_none()
        && ok
    {
        c.push(
            Diagnostic::new(Code::MissingField, at, "`incidents.update` changes nothing").label(
                format!(
                    "expected at least one of {}",
                    one_of(&keys::INCIDENTS_UPDATE[1..])
                ),
            ),
        );
        return None;
    }
    if !ok {
        return None;
    }
    Some(IncidentUpdate {
        id: id?,
        status,
        assigned_to,
        classification,
        determination,
        tags,
        comment,
    })
}

fn machine_action(c: &mut Checker<'_>, node: &Node, at: Span, what: &str) -> Option<MachineAction> {
    let entries = c.map(node, what)?;
    c.check_keys(entries, keys::MACHINE_ACTION, what);
    let mut ok = true;
    let action = match node.get("action") {
        Some(e) => c.choice::<ActionType>(&e.value, "`action`"),
        None => {
            c.missing(node, keys::MACHINE_ACTION, at, "action", what);
            None
        }
    };
    let machine_id = match node.get("machine_id") {
        Some(e) => c.field(&e.value, FieldKind::Text, "`machine_id`").and_then(|f| {
            if f.is_literal() && !is_machine_id(f.source()) {
                c.push(
                    Diagnostic::new(
                        Code::BadValue,
                        e.value.span,
                        format!("`{}` is not a Defender for Endpoint machine id", f.source()),
                    )
                    .label("expected 40 hexadecimal characters")
                    .help("take the `DeviceId` from a hunt, e.g. `machine_id: \"{{ item.DeviceId }}\"`"),
                );
                return None;
            }
            Some(f)
        }),
        None => {
            c.missing(node, keys::MACHINE_ACTION, at, "machine_id", what);
            None
        }
    };
    let comment = match node.get("comment") {
        Some(e) => c.field(&e.value, FieldKind::Text, "`comment`"),
        None if misspelt(node, keys::MACHINE_ACTION, &["comment"]) => None,
        None => {
            c.push(
                Diagnostic::new(Code::MissingField, at, format!("{what} is missing `comment`"))
                    .label("`comment` is required here")
                    .note("Defender for Endpoint records a comment with every machine action, for the audit trail"),
            );
            None
        }
    };
    let isolation_type = match node.get("isolation_type") {
        Some(e) if action.is_some() && action != Some(ActionType::Isolate) => {
            not_applicable(c, e, "it only applies to `action: isolate`", None);
            ok = false;
            None
        }
        Some(e) => opt(
            &mut ok,
            Some(c.choice::<IsolationType>(&e.value, "`isolation_type`")),
        ),
        None => (action == Some(ActionType::Isolate)).then_some(IsolationType::Full),
    };
    let scan_type = match node.get("scan_type") {
        Some(e) if action.is_some() && action != Some(ActionType::RunAvScan) => {
            not_applicable(c, e, "it only applies to `action: run_av_scan`", None);
            ok = false;
            None
        }
        Some(e) => opt(&mut ok, Some(c.choice::<ScanType>(&e.value, "`scan_type`"))),
        None => (action == Some(ActionType::RunAvScan)).then_some(ScanType::Quick),
    };
    let wait = opt(
        &mut ok,
        node.get("wait").map(|e| c.bool(&e.value, "`wait`")),
    )
    .unwrap_or(false);
    let wait_timeout = match node.get("wait_timeout") {
        Some(e) if !wait && ok => {
            not_applicable(
                c,
                e,
                "it only applies with `wait: true`",
                Some("add `wait: true`".into()),
            );
            ok = false;
            None
        }
        Some(e) => opt(&mut ok, Some(c.duration(&e.value, "`wait_timeout`"))),
        None => None,
    }
    .unwrap_or(DEFAULT_WAIT_TIMEOUT);
    if !ok {
        return None;
    }
    Some(MachineAction {
        action: action?,
        machine_id: machine_id?,
        comment: comment?,
        isolation_type,
        scan_type,
        wait,
        wait_timeout,
    })
}

fn is_machine_id(s: &str) -> bool {
    s.len() == 40 && s.chars().all(|ch| ch.is_ascii_hexdigit())
}

fn request(c: &mut Checker<'_>, node: &Node, at: Span, what: &str) -> Option<Request> {
    let entries = c.map(node, what)?;
    c.check_keys(entries, keys::REQUEST, what);
    let mut ok = true;
    let method = opt(
        &mut ok,
        node.get("method")
            .map(|e| c.choice::<Method>(&e.value, "`method`")),
    )
    .unwrap_or(Method::Get);
    let api = opt(
        &mut ok,
        node.get("api").map(|e| c.choice::<Api>(&e.value, "`api`")),
    )
    .unwrap_or(Api::Graph);
    let path = match node.get("path") {
        Some(e) => c
            .field(&e.value, FieldKind::UrlPath, "`path`")
            .and_then(|f| request_path(c, &e.value, f, api)),
        None => {
            c.missing(node, keys::REQUEST, at, "path", what);
            None
        }
    };
    let query = opt(
        &mut ok,
        node.get("query")
            .map(|e| string_map(c, &e.value, "`query`", false)),
    )
    .unwrap_or_default();
    let headers = opt(
        &mut ok,
        node.get("headers")
            .map(|e| string_map(c, &e.value, "`headers`", true)),
    )
    .unwrap_or_default();
    let body = match node.get("body") {
        Some(e) if method == Method::Get => {
            not_applicable(
                c,
                e,
                "a GET request has no body",
                Some("use `method: POST`, or pass values in `query`".into()),
            );
            ok = false;
            None
        }
        Some(e) => opt(&mut ok, Some(template_value(c, &e.value, "`body`"))),
        None => None,
    };
    let paginate = match node.get("paginate") {
        Some(e) => {
            let v = opt(&mut ok, Some(c.bool(&e.value, "`paginate`"))).unwrap_or(false);
            if v && method != Method::Get {
                not_applicable(c, e, "only GET responses are paginated", None);
                ok = false;
            }
            v
        }
        None => false,
    };
    let expect = opt(
        &mut ok,
        node.get("expect").map(|e| {
            let items: Vec<&Node> = match &e.value.value {
                Value::Seq(items) => items.iter().collect(),
                _ => vec![&e.value],
            };
            let codes: Vec<Option<u16>> = items
                .into_iter()
                .map(|n| {
                    c.int(n, "an `expect` status", 100..=599)
                        .and_then(|i| u16::try_from(i).ok())
                })
                .collect();
            codes.into_iter().collect::<Option<Vec<_>>>()
        }),
    )
    .unwrap_or_default();
    if !ok {
        return None;
    }
    Some(Request {
        method,
        api,
        path: path?,
        query,
        headers,
        body,
        paginate,
        expect,
    })
}

fn request_path(
    c: &mut Checker<'_>,
    node: &Node,
    f: TemplateField,
    api: Api,
) -> Option<TemplateField> {
    let src = f.source().trim_start();
    if src.starts_with("{{") || src.starts_with("{%") {
        return Some(f);
    }
    if src.starts_with("http://") || src.starts_with("https://") {
        c.push(
            Diagnostic::new(Code::BadValue, node.span, "`path` is a path, not a URL")
                .label("the host comes from `api` (and the cloud)")
                .help("write the path only, e.g. `/security/incidents`"),
        );
        return None;
    }
    if !src.starts_with('/') {
        c.push(
            Diagnostic::new(
                Code::BadValue,
                node.span,
                format!(
                    "`path` must start with `/`, not `{}`",
                    src.chars().next().unwrap_or(' ')
                ),
            )
            .label("expected e.g. `/security/incidents` or `/api/machines`"),
        );
        return None;
    }
    if matches!(api, Api::Defender | Api::Endpoint) && !src.starts_with("/api/") {
        c.push(
            Diagnostic::new(
                Code::Suspicious,
                node.span,
                format!("`api: {api}` paths start with `/api/`"),
            )
            .label("this path is probably wrong for this API"),
        );
    }
    Some(f)
}

/// A mapping of names to text templates (`query`, `headers`).
fn string_map(
    c: &mut Checker<'_>,
    node: &Node,
    what: &str,
    headers: bool,
) -> Option<Vec<(String, TemplateField)>> {
    let entries = c.map(node, what)?;
    let mut out = Vec::new();
    let mut ok = true;
    for e in entries {
        if headers {
            if e.key.eq_ignore_ascii_case("authorization") {
                c.push(
                    Diagnostic::new(
                        Code::ForbiddenHeader,
                        e.key_span,
                        "the `Authorization` header is set by huntbook",
                    )
                    .label("the shared connection adds the token for the API")
                    .help("remove it; use an `authenticate` step"),
                );
                ok = false;
                continue;
            }
            if e.key.is_empty()
                || !e
                    .key
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(ch))
            {
                c.push(
                    Diagnostic::new(
                        Code::BadValue,
                        e.key_span,
                        format!("`{}` is not a valid header name", e.key),
                    )
                    .label("expected letters, digits and `-`"),
                );
                ok = false;
                continue;
            }
        }
        // `$filter` is OData: its values are rendered as OData literals.
        let kind = if !headers && e.key == "$filter" {
            FieldKind::OData
        } else {
            FieldKind::Text
        };
        match c.field(&e.value, kind, &format!("`{}`", e.key)) {
            Some(f) => out.push((e.key.clone(), f)),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A YAML value whose strings are templates.
fn template_value(c: &mut Checker<'_>, node: &Node, what: &str) -> Option<TemplateValue> {
    match &node.value {
        Value::Scalar(s) => match s.resolve() {
            Resolved::Null => Some(TemplateValue::Null),
            Resolved::Bool(b) => Some(TemplateValue::Bool(b)),
            Resolved::Int(i) => Some(TemplateValue::Int(i)),
            Resolved::Float(f) => Some(TemplateValue::Float(f)),
            Resolved::Str(_) => c
                .field(node, FieldKind::Text, what)
                .map(TemplateValue::Text),
        },
        Value::Seq(items) => {
            let values: Vec<Option<TemplateValue>> =
                items.iter().map(|n| template_value(c, n, what)).collect();
            values
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .map(TemplateValue::List)
        }
        Value::Map(entries) => {
            let values: Vec<Option<(String, TemplateValue)>> = entries
                .iter()
                .map(|e| template_value(c, &e.value, what).map(|v| (e.key.clone(), v)))
                .collect();
            values
                .into_iter()
                .collect::<Option<Vec<_>>>()
                .map(TemplateValue::Map)
        }
    }
}

fn filter(c: &mut Checker<'_>, node: &Node, at: Span, what: &str) -> Option<Filter> {
    let entries = c.map(node, what)?;
    c.check_keys(entries, keys::FILTER, what);
    let mut ok = true;
    let input = match node.get("input") {
        Some(e) => c.field(&e.value, FieldKind::Expression, "`input`"),
        None => {
            c.missing(node, keys::FILTER, at, "input", what);
            None
        }
    };
    let jsonpath = opt(&mut ok, node.get("jsonpath").map(|e| jsonpath(c, &e.value)));
    let dedupe = opt(
        &mut ok,
        node.get("dedupe").map(|e| dedupe(c, &e.value, e.key_span)),
    );
    if node.get("jsonpath").is_none() && node.get("dedupe").is_none() {
        if misspelt(node, keys::FILTER, &["jsonpath", "dedupe"]) {
            return None;
        }
        c.push(
            Diagnostic::new(
                Code::MissingField,
                at,
                format!("{what} needs `jsonpath`, `dedupe`, or both"),
            )
            .label("nothing to filter with"),
        );
        return None;
    }
    if !ok {
        return None;
    }
    Some(Filter {
        input: input?,
        jsonpath,
        dedupe,
    })
}

fn jsonpath(c: &mut Checker<'_>, node: &Node) -> Option<CompiledPath> {
    let text = c.string(node, "`jsonpath`")?;
    if let Some(at) = text.find("{{").or_else(|| text.find("{%")) {
        let span = c.locate_in_scalar(node, at..at + 2);
        c.push(
            Diagnostic::new(Code::BadJsonpath, span, "a JSONPath cannot contain a template")
                .label("JSONPath is compiled when the playbook is validated")
                .help("filter on a value that varies with a template in `input`, e.g. `input: \"{{ steps.x.items | selectattr('DeviceName', 'eq', item) | list }}\"`"),
        );
        return None;
    }
    match JsonPath::compile(&text) {
        Ok(path) => Some(CompiledPath {
            path,
            span: node.span,
        }),
        Err(e) => {
            let span =
                c.locate_in_scalar(node, e.offset..(e.offset + 1).min(text.len().max(e.offset)));
            c.push(
                Diagnostic::new(
                    Code::BadJsonpath,
                    span,
                    format!("invalid JSONPath at column {} of the expression", e.column),
                )
                .label(e.message)
                .help("try it on sample data with `huntbook jsonpath EXPR FILE`"),
            );
            None
        }
    }
}

fn dedupe(c: &mut Checker<'_>, node: &Node, at: Span) -> Option<Dedupe> {
    let entries = c.map(node, "`dedupe`")?;
    c.check_keys(entries, keys::DEDUPE, "`dedupe`");
    let saved = c.scope.in_loop;
    // The key is evaluated once per element, with the element bound to `item`.
    c.scope.in_loop = true;
    let key = match node.get("key") {
        Some(e) => c.field(&e.value, FieldKind::Text, "the `dedupe` key"),
        None => {
            c.missing(node, keys::DEDUPE, at, "key", "`dedupe`");
            None
        }
    };
    c.scope.in_loop = saved;
    let mut ok = true;
    let window = opt(
        &mut ok,
        node.get("window").map(|e| c.duration(&e.value, "`window`")),
    )
    .unwrap_or(DEFAULT_DEDUPE_WINDOW);
    if !ok {
        return None;
    }
    Some(Dedupe { key: key?, window })
}

fn set(c: &mut Checker<'_>, node: &Node) -> Option<SetVars> {
    let entries = c.map(node, "a `set` step")?;
    if entries.is_empty() {
        c.push(
            Diagnostic::new(Code::BadValue, node.span, "this `set` step defines nothing")
                .label("expected `name: value` entries"),
        );
        return None;
    }
    let mut ok = true;
    let mut vars = Vec::new();
    for e in entries {
        if !is_identifier(&e.key) {
            c.push(
                Diagnostic::new(
                    Code::BadIdentifier,
                    e.key_span,
                    format!("variable name `{}` is not an identifier", e.key),
                )
                .label("expected letters, digits and `_`, not starting with a digit")
                .help(format!("templates read it as `vars.{}`", e.key)),
            );
            ok = false;
            continue;
        }
        match template_value(c, &e.value, &format!("`vars.{}`", e.key)) {
            Some(v) => vars.push((e.key.clone(), v, e.key_span)),
            None => ok = false,
        }
    }
    ok.then_some(SetVars { vars })
}

fn output(c: &mut Checker<'_>, node: &Node, at: Span, what: &str) -> Option<Output> {
    let entries = c.map(node, what)?;
    c.check_keys(entries, keys::OUTPUT, what);
    let mut ok = true;
    let path = opt(
        &mut ok,
        node.get("path")
            .map(|e| c.field(&e.value, FieldKind::FilePath, "`path`")),
    );
    let sources: Vec<&Entry> = ["data", "template", "template_file"]
        .iter()
        .filter_map(|k| node.get(k))
        .collect();
    let content = match sources.as_slice() {
        [] if misspelt(node, keys::OUTPUT, &["data", "template", "template_file"]) => None,
        [] => {
            c.push(
                Diagnostic::new(
                    Code::MissingField,
                    at,
                    format!("{what} needs `data`, `template` or `template_file`"),
                )
                .label("nothing to write"),
            );
            None
        }
        [e] => match e.key.as_str() {
            "data" => c
                .field(&e.value, FieldKind::Text, "`data`")
                .inspect(|f| literal_reference(c, &e.value, f, "data"))
                .map(OutputContent::Data),
            "template" => c
                .field(&e.value, FieldKind::Document, "the output template")
                .map(|template| OutputContent::Template {
                    template,
                    file: None,
                }),
            _ => c
                .include(&e.value, "`template_file`")
                .and_then(|(file, path)| {
                    let text = c
                        .sources
                        .get(file)
                        .map(|f| f.text().to_string())
                        .unwrap_or_default();
                    let span = Span::new(file, 0, text.len());
                    c.compile(
                        &text,
                        span,
                        Style::Literal,
                        FieldKind::Document,
                        "the template file",
                    )
                    .map(|template| OutputContent::Template {
                        template,
                        file: Some(path),
                    })
                }),
        },
        [first, second, ..] => {
            conflict(
                c,
                second,
                &first.key,
                "an output writes `data` or a template, not both",
            );
            None
        }
    };
    let format_entry = node.get("format");
    let explicit = opt(
        &mut ok,
        format_entry.map(|e| c.choice::<OutputFormat>(&e.value, "`format`")),
    );
    let implied = path.as_ref().and_then(|p| {
        // The extension is whatever follows the last `.` after the last template.
        let tail = p.source().rsplit("}}").next().unwrap_or("");
        tail.rsplit_once('.')
            .filter(|(_, ext)| !ext.contains('/'))
            .and_then(|(_, ext)| OutputFormat::from_extension(ext))
    });
    let takes_data = sources.first().map(|e| e.key == "data");
    let format = explicit
        .or_else(|| implied.filter(|f| Some(f.takes_data()) == takes_data))
        .unwrap_or(if takes_data == Some(true) {
            OutputFormat::Json
        } else {
            OutputFormat::Text
        });
    if let (Some(e), Some(td), Some(f)) = (format_entry, takes_data, explicit)
        && f.takes_data() != td
    {
        let (needs, has) = if f.takes_data() {
            ("`data`", "a template")
        } else {
            ("a `template`", "`data`")
        };
        c.push(
            Diagnostic::new(
                Code::ConflictingFields,
                e.value.span,
                format!("format `{f}` writes {needs}, but this output has {has}"),
            )
            .label(if f.takes_data() {
                "json, jsonl and csv serialise `data`"
            } else {
                "markdown and text render a template"
            }),
        );
        ok = false;
    }
    let append = match node.get("append") {
        Some(e) => {
            let v = opt(&mut ok, Some(c.bool(&e.value, "`append`"))).unwrap_or(false);
            if v && format == OutputFormat::Json {
                not_applicable(
                    c,
                    e,
                    "appending JSON documents makes invalid JSON",
                    Some("use `format: jsonl` to append one JSON value per line".into()),
                );
                ok = false;
            }
            if v && node.get("path").is_none() {
                not_applicable(
                    c,
                    e,
                    "this output writes to stdout",
                    Some("give a `path`".into()),
                );
                ok = false;
            }
            v
        }
        None => false,
    };
    let columns = match node.get("columns") {
        Some(e) if format != OutputFormat::Csv => {
            not_applicable(c, e, "columns only apply to `format: csv`", None);
            ok = false;
            None
        }
        Some(e) => opt(
            &mut ok,
            Some(c.seq(&e.value, "`columns`").and_then(|items| {
                let names: Vec<Option<String>> =
                    items.iter().map(|n| c.string(n, "a column name")).collect();
                names.into_iter().collect::<Option<Vec<_>>>()
            })),
        ),
        None => None,
    };
    if !ok {
        return None;
    }
    Some(Output {
        path,
        format,
        content: content?,
        append,
        columns,
    })
}

/// A literal that reads like a reference (`data: steps.hunt.results`) is almost certainly
/// meant as one: only `when`, `for_each`, `assert.that` and `filter.input` take bare
/// expressions, so this would write the text itself.
fn literal_reference(c: &mut Checker<'_>, node: &Node, f: &TemplateField, key: &str) {
    let text = f.source().trim();
    let looks_like_path = f.is_literal()
        && text.split('.').count() >= 2
        && text
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'))
        && super::scope::ROOTS
            .iter()
            .any(|r| text.starts_with(&format!("{r}.")));
    if looks_like_path {
        c.push(
            Diagnostic::new(
                Code::Suspicious,
                node.span,
                format!("`{key}` is the literal text `{text}`"),
            )
            .label("not a reference: this field is a template")
            .help(format!(
                "write `{key}: \"{{{{ {text} }}}}\"` to use the value"
            )),
        );
    }
}

fn assert(c: &mut Checker<'_>, node: &Node, at: Span, what: &str) -> Option<Assert> {
    let entries = c.map(node, what)?;
    c.check_keys(entries, keys::ASSERT, what);
    let that = match node.get("that") {
        None => {
            c.missing(node, keys::ASSERT, at, "that", what);
            None
        }
        Some(e) => match &e.value.value {
            Value::Seq(items) if items.is_empty() => {
                c.push(
                    Diagnostic::new(Code::BadValue, e.value.span, "`that` is empty")
                        .label("expected at least one expression"),
                );
                None
            }
            Value::Seq(items) => {
                let fields: Vec<Option<TemplateField>> = items
                    .iter()
                    .map(|n| c.field(n, FieldKind::Expression, "`assert.that`"))
                    .collect();
                fields.into_iter().collect::<Option<Vec<_>>>()
            }
            _ => c
                .field(&e.value, FieldKind::Expression, "`assert.that`")
                .map(|f| vec![f]),
        },
    };
    let mut ok = true;
    let message = opt(
        &mut ok,
        node.get("message")
            .map(|e| c.field(&e.value, FieldKind::Text, "`message`")),
    );
    if !ok {
        return None;
    }
    Some(Assert {
        that: that?,
        message,
    })
}
