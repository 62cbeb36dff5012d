//! Steps: the kind key, the common fields (`id`, `name`, `when`, `for_each`, `concurrency`,
//! `timeout`, `on_error`), and the lists steps live in — the top level, `steps` blocks and
//! `parallel` groups — which decide what each step may read.

use std::collections::HashSet;

use crate::diag::{Code, Diagnostic, closest, one_of};
use crate::playbook::keys;
use crate::playbook::model::{Condition, Defaults, ForEach, KindName, OnError, Step, StepKind};
use crate::playbook::yaml::{Node, Resolved, Value};
use crate::source::Span;
use crate::template::FieldKind;

use super::scope::{Visible, outputs_of};
use super::{Checker, is_identifier};

/// The most iterations a `for_each` may run at once.
pub const MAX_CONCURRENCY: i64 = 64;

/// The top-level `steps:` list.
pub fn top_level(c: &mut Checker<'_>, node: &Node, defaults: &Defaults) -> Option<Vec<Step>> {
    let items = c.seq(node, "`steps`")?;
    if items.is_empty() {
        c.push(
            Diagnostic::new(Code::EmptySteps, node.span, "`steps` is empty")
                .label("a playbook needs at least one step"),
        );
        return None;
    }
    sequence(c, items, "steps", defaults)
}

/// Steps run one after the other: each sees the ones before it.
fn sequence(
    c: &mut Checker<'_>,
    items: &[Node],
    prefix: &str,
    defaults: &Defaults,
) -> Option<Vec<Step>> {
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, node) in items.iter().enumerate() {
        let route = format!("{prefix}[{i}]");
        let step = step(c, node, &route, defaults);
        register(c, node, step.as_ref());
        match step {
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Make a checked step (or what is known of a broken one) readable by the steps after it.
fn register(c: &mut Checker<'_>, node: &Node, step: Option<&Step>) {
    let id = node
        .get("id")
        .and_then(|e| e.value.as_scalar())
        .map(|s| s.text.clone());
    let kind_entry = node
        .as_map()
        .and_then(|m| m.iter().find(|e| KindName::from_key(&e.key).is_some()));
    if let Some(e) = kind_entry
        && KindName::from_key(&e.key) == Some(KindName::Set)
        && let Some(vars) = e.value.as_map()
    {
        for v in vars {
            c.scope.vars.insert(v.key.clone());
        }
    }
    let Some(id) = id else {
        return;
    };
    let looped = node.get("for_each").is_some();
    let visible = match step {
        Some(s) => Visible {
            kind: Some(s.kind.name()),
            looped,
            outputs: Some(outputs_of(&s.kind, looped)),
        },
        None => Visible {
            kind: kind_entry.and_then(|e| KindName::from_key(&e.key)),
            looped,
            outputs: None,
        },
    };
    c.scope.visible.insert(id, visible);
}

/// Ids of the steps directly in `items` and, recursively, in their blocks and groups.
fn ids_in(items: &[Node]) -> Vec<String> {
    let mut out = Vec::new();
    for n in items {
        if let Some(id) = n.get("id").and_then(|e| e.value.as_scalar()) {
            out.push(id.text.clone());
        }
        if let Some(m) = n.as_map() {
            for e in m {
                if matches!(
                    KindName::from_key(&e.key),
                    Some(KindName::Steps | KindName::Parallel)
                ) && let Some(inner) = e.value.as_seq()
                {
                    out.extend(ids_in(inner));
                }
            }
        }
    }
    out
}

fn step(c: &mut Checker<'_>, node: &Node, route: &str, defaults: &Defaults) -> Option<Step> {
    let Some(entries) = node.as_map() else {
        c.wrong_type(node, "a step (a mapping with a kind key such as `hunt:`)");
        return None;
    };
    let kind_names: Vec<&str> = KindName::ALL.iter().map(|k| k.as_str()).collect();
    let kinds: Vec<_> = entries
        .iter()
        .filter(|e| KindName::from_key(&e.key).is_some())
        .collect();
    let mut allowed: Vec<&str> = keys::STEP_COMMON.to_vec();
    allowed.extend(&kind_names);
    let mut near_kind = false;
    for e in entries {
        if !allowed.contains(&e.key.as_str()) {
            if kinds.is_empty() && closest(&e.key, kind_names.iter().copied()).is_some() {
                near_kind = true;
            }
            c.unknown_key(e, &allowed, "a step");
        }
    }
    let start = Span::point(node.span.file, node.span.start);
    if kinds.is_empty() && !near_kind {
        c.push(
            Diagnostic::new(Code::MissingKind, start, "this step has no kind")
                .label(format!("expected one of {}", one_of(&kind_names)))
                .help("a step needs exactly one kind key, e.g. `hunt:` or `output:`"),
        );
    }
    if kinds.len() > 1 {
        let names: Vec<&str> = kinds.iter().map(|e| e.key.as_str()).collect();
        c.push(
            Diagnostic::new(
                Code::MultipleKinds,
                kinds[1].key_span,
                format!(
                    "a step has exactly one kind, but this one has {}",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            )
            .label("second kind key")
            .help("split it into one step per kind"),
        );
    }

    let id = node.get("id").and_then(|e| step_id(c, &e.value));
    let saved_current = c.scope.current.replace(id.clone().unwrap_or_default());

    // `for_each` is evaluated before the loop binds `item`.
    c.scope.in_for_each = true;
    let for_each = node.get("for_each").and_then(|e| for_each(c, &e.value));
    c.scope.in_for_each = false;
    let looped = node.get("for_each").is_some();
    let saved_loop = c.scope.in_loop;
    c.scope.in_loop |= looped;

    let name = node
        .get("name")
        .and_then(|e| c.field(&e.value, FieldKind::Text, "the step `name`"));
    let when = node.get("when").and_then(|e| condition(c, &e.value));
    let concurrency = match node.get("concurrency") {
        None => Some(1),
        Some(e) => {
            if !looped {
                c.push(
                    Diagnostic::new(
                        Code::LoopMisuse,
                        e.key_span,
                        "`concurrency` only applies to a step with `for_each`",
                    )
                    .label("this step runs once")
                    .help("add `for_each:`, or remove `concurrency`"),
                );
            }
            c.int(&e.value, "`concurrency`", 1..=MAX_CONCURRENCY)
                .and_then(|i| u32::try_from(i).ok())
        }
    };
    let timeout = node
        .get("timeout")
        .map(|e| c.duration(&e.value, "`timeout`"));
    let on_error = node
        .get("on_error")
        .map(|e| c.choice::<OnError>(&e.value, "`on_error`"));

    let kind = match kinds.as_slice() {
        [e] => {
            let k = KindName::from_key(&e.key);
            if looped
                && let Some(k @ (KindName::Set | KindName::Authenticate | KindName::Parallel)) = k
                && let Some(fe) = node.get("for_each")
            {
                let help = match k {
                    KindName::Set => {
                        "compute the list with an expression instead, e.g. `{{ steps.x.items | map(attribute='DeviceId') | list }}`"
                    }
                    KindName::Authenticate => "authenticate once; later steps share the connection",
                    _ => {
                        "use a `steps` block with `for_each` (and `concurrency` to run iterations at once)"
                    }
                };
                c.push(
                    Diagnostic::new(
                        Code::LoopMisuse,
                        fe.key_span,
                        format!("a `{k}` step cannot have `for_each`"),
                    )
                    .label("not allowed here")
                    .help(help),
                );
            }
            kind(c, e, route, defaults, id.as_deref())
        }
        _ => None,
    };

    c.scope.in_loop = saved_loop;
    c.scope.current = saved_current;

    let kind = kind?;
    let (kind_key_span, _) = kinds
        .first()
        .map(|e| (e.key_span, ()))
        .unwrap_or((start, ()));
    Some(Step {
        id,
        name,
        when: match node.get("when") {
            Some(_) => Some(when?),
            None => None,
        },
        for_each: match node.get("for_each") {
            Some(_) => Some(for_each?),
            None => None,
        },
        concurrency: concurrency?,
        timeout: match timeout {
            Some(t) => Some(t?),
            None => defaults.timeout,
        },
        on_error: match on_error {
            Some(o) => o?,
            None => defaults.on_error.unwrap_or(OnError::Fail),
        },
        kind,
        span: node.span,
        kind_span: kind_key_span,
        route: route.to_string(),
    })
}

fn step_id(c: &mut Checker<'_>, node: &Node) -> Option<String> {
    let id = c.string(node, "`id`")?;
    if !is_identifier(&id) {
        let fixed: String = id
            .chars()
            .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
            .collect();
        c.push(
            Diagnostic::new(
                Code::BadIdentifier,
                node.span,
                format!("step id `{id}` is not an identifier"),
            )
            .label("expected letters, digits and `_`, not starting with a digit")
            .help(format!(
                "templates read it as `steps.{id}`, so it must be an identifier: try `{fixed}`"
            )),
        );
        return None;
    }
    if let Some(first) = c.ids.get(&id).copied() {
        let line = c.line_of(first);
        c.push(
            Diagnostic::new(
                Code::DuplicateId,
                node.span,
                format!("duplicate step id `{id}`"),
            )
            .label(format!(
                "`{id}` is already the id of the step at line {line}"
            ))
            .help("step ids are unique in the whole playbook, blocks included"),
        );
        return None;
    }
    c.ids.insert(id.clone(), node.span);
    Some(id)
}

fn condition(c: &mut Checker<'_>, node: &Node) -> Option<Condition> {
    if let Some(Resolved::Bool(b)) = node.as_scalar().map(crate::playbook::yaml::Scalar::resolve) {
        return Some(Condition::Literal(b));
    }
    c.field(node, FieldKind::Expression, "`when`")
        .map(Condition::Expr)
}

fn for_each(c: &mut Checker<'_>, node: &Node) -> Option<ForEach> {
    match &node.value {
        Value::Seq(items) => {
            if items.is_empty() {
                c.push(
                    Diagnostic::new(Code::LoopMisuse, node.span, "`for_each` is an empty list")
                        .label("the step would never run"),
                );
                return None;
            }
            Some(ForEach::List(
                items.iter().map(Node::to_json).collect(),
                node.span,
            ))
        }
        Value::Map(_) => {
            c.wrong_type(
                node,
                "an expression giving a list, or a list, for `for_each`",
            );
            None
        }
        Value::Scalar(_) => c
            .field(node, FieldKind::Expression, "`for_each`")
            .map(ForEach::Expr),
    }
}

fn kind(
    c: &mut Checker<'_>,
    e: &crate::playbook::yaml::Entry,
    route: &str,
    defaults: &Defaults,
    id: Option<&str>,
) -> Option<StepKind> {
    let k = KindName::from_key(&e.key)?;
    match k {
        KindName::Steps => {
            let items = c.seq(&e.value, "a `steps` block")?;
            if items.is_empty() {
                c.push(
                    Diagnostic::new(
                        Code::EmptySteps,
                        e.value.span,
                        "this `steps` block is empty",
                    )
                    .label("expected at least one step"),
                );
                return None;
            }
            let outer = c.scope.visible.clone();
            let saved_siblings = std::mem::take(&mut c.scope.siblings);
            let inner = sequence(c, items, &format!("{route}.steps"), defaults);
            c.scope.visible = outer;
            c.scope.siblings = saved_siblings;
            let label = id.map_or_else(|| format!("at {route}"), |id| format!("`{id}`"));
            for inner_id in ids_in(items) {
                c.scope.hidden.insert(inner_id, label.clone());
            }
            inner.map(StepKind::Steps)
        }
        KindName::Parallel => {
            let items = c.seq(&e.value, "a `parallel` group")?;
            if items.is_empty() {
                c.push(
                    Diagnostic::new(
                        Code::EmptySteps,
                        e.value.span,
                        "this `parallel` group is empty",
                    )
                    .label("expected at least one step"),
                );
                return None;
            }
            let outer = c.scope.visible.clone();
            let saved_siblings = c.scope.siblings.clone();
            let all: HashSet<String> = ids_in(items).into_iter().collect();
            let mut after = outer.clone();
            let outer_vars = c.scope.vars.clone();
            let mut after_vars = outer_vars.clone();
            let mut out = Vec::new();
            let mut ok = true;
            for (i, n) in items.iter().enumerate() {
                // Each child sees what the group sees, never its siblings.
                c.scope.visible = outer.clone();
                c.scope.vars = outer_vars.clone();
                c.scope.siblings = all.clone();
                let s = step(c, n, &format!("{route}.parallel[{i}]"), defaults);
                register(c, n, s.as_ref());
                for (k, v) in &c.scope.visible {
                    if !outer.contains_key(k) {
                        after.insert(k.clone(), v.clone());
                    }
                }
                after_vars.extend(c.scope.vars.iter().cloned());
                match s {
                    Some(s) => out.push(s),
                    None => ok = false,
                }
            }
            c.scope.visible = after;
            c.scope.vars = after_vars;
            c.scope.siblings = saved_siblings;
            ok.then_some(StepKind::Parallel(out))
        }
        _ => super::kinds::check(c, k, e),
    }
}
