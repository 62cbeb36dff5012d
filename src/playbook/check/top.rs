//! The top level of a playbook: `huntbook`, `name`, `description`, `inputs`, `defaults`,
//! `max_targets`, `steps`; plus the pre-pass that learns every step id and `set` name so
//! that references to later steps can say "runs later" rather than "does not exist".

use crate::diag::{Code, Diagnostic, one_of};
use crate::playbook::keys;
use crate::playbook::model::{Defaults, Input, InputValue, KindName, Step};
use crate::playbook::yaml::{Node, Resolved, Value};
use crate::source::Span;
use crate::template::types::ValueType;
use crate::template::value::parse_datetime;

use super::scope::IdInfo;
use super::{Checker, is_identifier};

/// The supported format versions.
pub const VERSIONS: &[i64] = &[1];

/// The default of `max_targets`.
pub const DEFAULT_MAX_TARGETS: u32 = 10;

/// The checked top level, before the loader attaches the sources.
#[derive(Debug)]
pub struct Checked {
    pub name: String,
    pub description: Option<String>,
    pub inputs: Vec<Input>,
    pub defaults: Defaults,
    pub max_targets: u32,
    pub steps: Vec<Step>,
}

/// Validate a whole document. `None` when something is too broken to build the model (the
/// diagnostics say what); the loader also refuses the model when any error was reported.
pub fn check(c: &mut Checker<'_>, root: &Node) -> Option<Checked> {
    let Some(entries) = root.as_map() else {
        c.push(
            Diagnostic::new(
                Code::WrongType,
                root.span,
                format!(
                    "a playbook is a mapping, but this file holds {}",
                    root.describe()
                ),
            )
            .label("expected `huntbook: 1`, `name:`, `steps:`, …"),
        );
        return None;
    };
    c.check_keys(entries, keys::TOP, "the playbook");
    let start = Span::point(c.file, root.span.start);

    match root.get("huntbook") {
        None if super::misspelt(root, keys::TOP, &["huntbook"]) => {}
        None => c.push(
            Diagnostic::new(
                Code::MissingField,
                start,
                "the playbook is missing `huntbook: 1`",
            )
            .label("the first line should be `huntbook: 1`")
            .help("`huntbook:` declares the format version; the only version is 1"),
        ),
        Some(e) => version(c, &e.value),
    }

    let name = match root.get("name") {
        None => {
            c.missing(root, keys::TOP, start, "name", "the playbook");
            None
        }
        Some(e) => c.string(&e.value, "`name`").and_then(|n| {
            if valid_name(&n) {
                Some(n)
            } else {
                let suggestion = suggest_name(&n);
                c.push(
                    Diagnostic::new(
                        Code::BadName,
                        e.value.span,
                        format!("playbook name `{n}` is not a valid name"),
                    )
                    .label("expected lowercase letters, digits, `_` and `-`, starting with a letter or digit")
                    .maybe_help((!suggestion.is_empty()).then(|| format!("try `{suggestion}`")))
                    .note("the name keys the state file and the report, so it must be file-name safe"),
                );
                None
            }
        }),
    };
    let description = root
        .get("description")
        .and_then(|e| c.string(&e.value, "`description`"));

    let inputs = root
        .get("inputs")
        .map_or_else(Vec::new, |e| inputs(c, &e.value));
    c.scope.inputs = inputs.iter().map(|i| i.name.clone()).collect();

    let defaults = root
        .get("defaults")
        .map_or_else(Defaults::default, |e| defaults(c, &e.value));

    let max_targets = root
        .get("max_targets")
        .map_or(Some(DEFAULT_MAX_TARGETS), |e| {
            c.int(&e.value, "`max_targets`", 0..=10_000)
                .and_then(|i| u32::try_from(i).ok())
        });

    let steps = match root.get("steps") {
        None if super::misspelt(root, keys::TOP, &["steps"]) => None,
        None => {
            c.push(
                Diagnostic::new(Code::MissingField, start, "the playbook is missing `steps`")
                    .label("a playbook needs a non-empty list of steps"),
            );
            None
        }
        Some(e) => {
            prepass(c, &e.value);
            super::steps::top_level(c, &e.value, &defaults)
        }
    };

    Some(Checked {
        name: name?,
        description,
        inputs,
        defaults,
        max_targets: max_targets?,
        steps: steps?,
    })
}

fn version(c: &mut Checker<'_>, node: &Node) {
    let supported = VERSIONS.iter().map(ToString::to_string).collect::<Vec<_>>();
    let ok = matches!(node.as_scalar().map(crate::playbook::yaml::Scalar::resolve), Some(Resolved::Int(v)) if VERSIONS.contains(&v));
    if ok {
        return;
    }
    let shown = node
        .as_scalar()
        .map_or_else(|| node.describe().to_string(), |s| format!("`{}`", s.text));
    c.push(
        Diagnostic::new(
            Code::UnsupportedVersion,
            node.span,
            format!("unsupported playbook format version {shown}"),
        )
        .label(format!(
            "supported: {}",
            one_of(&supported.iter().map(String::as_str).collect::<Vec<_>>())
        ))
        .help("write `huntbook: 1`"),
    );
}

/// `[a-z0-9][a-z0-9_-]*`, at most 64 characters.
#[must_use]
pub fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && n.len() <= 64
}

fn suggest_name(n: &str) -> String {
    let mut out = String::new();
    for c in n.trim().chars() {
        match c {
            'a'..='z' | '0'..='9' | '_' | '-' => out.push(c),
            'A'..='Z' => out.push(c.to_ascii_lowercase()),
            ' ' | '.' | '/' if !out.ends_with('-') => out.push('-'),
            _ => {}
        }
    }
    let out = out.trim_matches(['-', '_']).to_string();
    if valid_name(&out) { out } else { String::new() }
}

fn inputs(c: &mut Checker<'_>, node: &Node) -> Vec<Input> {
    let Some(entries) = c.map(node, "`inputs`") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries {
        if !is_identifier(&e.key) {
            c.push(
                Diagnostic::new(
                    Code::BadIdentifier,
                    e.key_span,
                    format!("input name `{}` is not an identifier", e.key),
                )
                .label("expected letters, digits and `_`, not starting with a digit")
                .help(format!(
                    "templates read it as `inputs.{}`, so it must be an identifier; try `{}`",
                    e.key,
                    e.key.replace(['-', ' ', '.'], "_")
                )),
            );
            continue;
        }
        if let Some(i) = input(c, &e.key, e.key_span, &e.value) {
            out.push(i);
        }
    }
    out
}

fn input(c: &mut Checker<'_>, name: &str, key_span: Span, node: &Node) -> Option<Input> {
    let entries = c.map(node, &format!("input `{name}`"))?;
    c.check_keys(entries, keys::INPUT, &format!("input `{name}`"));
    let ty = match node.get("type") {
        None if super::misspelt(node, keys::INPUT, &["type"]) => None,
        None => {
            c.push(
                Diagnostic::new(
                    Code::MissingField,
                    key_span,
                    format!("input `{name}` is missing `type`"),
                )
                .label(format!("expected one of {}", one_of(ValueType::NAMES)))
                .help(format!("e.g. `{name}: {{ type: string }}`")),
            );
            None
        }
        Some(e) => {
            let text = e
                .value
                .as_scalar()
                .map(|s| s.text.clone())
                .unwrap_or_default();
            match text.parse::<ValueType>() {
                Ok(t) => Some(t),
                Err(()) => {
                    c.push(
                        Diagnostic::new(
                            Code::BadEnum,
                            e.value.span,
                            format!("unknown input type `{text}`"),
                        )
                        .label(format!("expected {}", one_of(ValueType::NAMES)))
                        .maybe_help(crate::diag::did_you_mean(
                            &text,
                            ValueType::NAMES.iter().copied(),
                        )),
                    );
                    None
                }
            }
        }
    };
    let required = node
        .get("required")
        .and_then(|e| c.bool(&e.value, "`required`"))
        .unwrap_or(false);
    let description = node
        .get("description")
        .and_then(|e| c.string(&e.value, "`description`"));
    let ty = ty?;
    let allowed = node.get("enum").and_then(|e| {
        let items = c.seq(&e.value, "`enum`")?;
        if items.is_empty() {
            c.push(
                Diagnostic::new(Code::BadValue, e.value.span, "`enum` is empty")
                    .label("list the allowed values"),
            );
            return None;
        }
        let values: Vec<Option<InputValue>> = items
            .iter()
            .map(|n| typed_value(c, n, ty, &format!("`enum` of input `{name}`")))
            .collect();
        values.into_iter().collect::<Option<Vec<_>>>()
    });
    let default = node.get("default").and_then(|e| {
        typed_value(c, &e.value, ty, &format!("the default of input `{name}`")).map(|v| (v, e))
    });
    if let (Some((v, e)), Some(allowed)) = (&default, &allowed)
        && !allowed.contains(v)
    {
        let names: Vec<String> = allowed.iter().map(ToString::to_string).collect();
        c.push(
            Diagnostic::new(
                Code::BadEnum,
                e.value.span,
                format!("the default of input `{name}` is not one of its `enum` values"),
            )
            .label(format!(
                "expected {}",
                one_of(&names.iter().map(String::as_str).collect::<Vec<_>>())
            )),
        );
    }
    if required && let Some((_, e)) = &default {
        c.push(
            Diagnostic::new(
                Code::ConflictingFields,
                e.key_span,
                format!("input `{name}` is `required` but has a `default`"),
            )
            .label("a default makes the input optional")
            .help("remove `required: true` or the default"),
        );
    }
    Some(Input {
        name: name.to_string(),
        ty,
        default: default.map(|(v, _)| v),
        required,
        description,
        allowed,
        span: key_span,
    })
}

/// A YAML value typed as an input of type `ty`, by the rules of
/// [`crate::template::value::check_default`]: a string is parsed as `--input` would parse it
/// (`1d`, `"5"`), other YAML values must have the type (a `string` input takes no unquoted
/// number or boolean).
fn typed_value(c: &mut Checker<'_>, node: &Node, ty: ValueType, what: &str) -> Option<InputValue> {
    let resolved = node.as_scalar().map(crate::playbook::yaml::Scalar::resolve);
    let value = match (ty, resolved, &node.value) {
        (ValueType::List, _, Value::Seq(items)) => {
            Some(InputValue::List(items.iter().map(Node::to_json).collect()))
        }
        (ValueType::Duration, Some(Resolved::Int(_) | Resolved::Float(_)), _) => {
            c.duration(node, what);
            return None;
        }
        (ValueType::Duration, Some(Resolved::Str(_)), _) => {
            return c.duration(node, what).map(InputValue::Duration);
        }
        (ValueType::Datetime, Some(Resolved::Str(t)), _) => match parse_datetime(t) {
            Ok(d) => Some(InputValue::Datetime(d)),
            Err(m) => {
                c.push(
                    Diagnostic::new(
                        Code::BadDatetime,
                        node.span,
                        format!("invalid date-time for {what}"),
                    )
                    .label(m.message),
                );
                return None;
            }
        },
        (_, Some(Resolved::Str(t)), _) => match InputValue::parse(ty, t) {
            Ok(v) => Some(v),
            Err(m) => {
                c.push(
                    Diagnostic::new(
                        Code::WrongType,
                        node.span,
                        format!("{what} must be of type `{ty}`"),
                    )
                    .label(m.message),
                );
                return None;
            }
        },
        (ValueType::Integer, Some(Resolved::Int(i)), _) => Some(InputValue::Integer(i)),
        (ValueType::Number, Some(Resolved::Int(i)), _) => Some(InputValue::Number(i as f64)),
        (ValueType::Number, Some(Resolved::Float(f)), _) if f.is_finite() => {
            Some(InputValue::Number(f))
        }
        (ValueType::Boolean, Some(Resolved::Bool(b)), _) => Some(InputValue::Boolean(b)),
        _ => None,
    };
    if value.is_none() {
        let expected = match ty {
            ValueType::String => "a string (quote it to make it a string)",
            ValueType::Integer => "an integer",
            ValueType::Number => "a number",
            ValueType::Boolean => "`true` or `false`",
            ValueType::Duration => "a duration like `1d`",
            ValueType::Datetime => "a date-time like `2026-11-25T08:00:00Z`",
            ValueType::List => "a list",
        };
        c.push(
            Diagnostic::new(
                Code::WrongType,
                node.span,
                format!("{what} must be of type `{ty}`, found {}", node.describe()),
            )
            .label(format!("expected {expected}")),
        );
    }
    value
}

fn defaults(c: &mut Checker<'_>, node: &Node) -> Defaults {
    let Some(entries) = c.map(node, "`defaults`") else {
        return Defaults::default();
    };
    c.check_keys(entries, keys::DEFAULTS, "`defaults`");
    Defaults {
        timeout: node
            .get("timeout")
            .and_then(|e| c.duration(&e.value, "`defaults.timeout`")),
        on_error: node
            .get("on_error")
            .and_then(|e| c.choice(&e.value, "`defaults.on_error`")),
    }
}

/// Learn every step id (with its kind and line) and every `set` name, anywhere.
fn prepass(c: &mut Checker<'_>, steps: &Node) {
    let Some(items) = steps.as_seq() else {
        return;
    };
    for step in items {
        let Some(entries) = step.as_map() else {
            continue;
        };
        let kind = entries.iter().find_map(|e| KindName::from_key(&e.key));
        if let Some(id) = step.get("id").and_then(|e| e.value.as_scalar()) {
            let line = c.line_of(step.span);
            c.scope
                .all_ids
                .entry(id.text.clone())
                .or_insert(IdInfo { kind, line });
        }
        for e in entries {
            match KindName::from_key(&e.key) {
                Some(KindName::Steps | KindName::Parallel) => prepass(c, &e.value),
                Some(KindName::Set) => {
                    if let Some(vars) = e.value.as_map() {
                        for v in vars {
                            let line = c.line_of(v.key_span);
                            c.scope.var_defs.entry(v.key.clone()).or_insert(line);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
