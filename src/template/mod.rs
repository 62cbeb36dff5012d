//! Templates and expressions (playbook language §4): a minijinja environment with strict
//! undefined behaviour and huntbook's filters and functions, compiled at validation time and
//! rendered at run time.
//!
//! A playbook string field is one of:
//! - a literal (no `{{`/`{%`): used as is;
//! - a single `{{ expr }}` and nothing else: the expression's *value* keeps its type (a list
//!   stays a list);
//! - a text template: rendered to a string.
//!
//! `when`, `for_each`, `assert.that` and `filter.input` also accept a bare expression.
//! `hunt.query` renders every `{{ value }}` as a KQL literal (§4.1) unless piped to `raw`.
//!
//! (Skeleton: the contract the validator and the engine build on. The template work fills in
//! the filters, the typed values and the KQL rendering.)

pub mod types;

use std::ops::Range;

pub use minijinja::Value;

/// How a field's text is to be understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Literal text or a template; a lone `{{ expr }}` keeps its type.
    Text,
    /// Like `Text`, but a bare expression (no braces) is also accepted (`when`, `for_each`,
    /// `assert.that`, `filter.input`).
    Expression,
    /// A KQL query: interpolated values are rendered as KQL literals.
    Query,
}

/// A template or expression that did not compile or did not render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// What went wrong, lowercase, no trailing period.
    pub message: String,
    /// Byte range inside the field's source text, when known.
    pub range: Option<Range<usize>>,
}

/// A name the field reads from the scope, e.g. `steps.hunt.results` → root `steps`,
/// path `["hunt", "results"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub root: String,
    pub path: Vec<String>,
    /// Byte range of the reference inside the field's source text, when known.
    pub range: Option<Range<usize>>,
}

/// The template environment: one per playbook run (or validation), shared by every field.
pub struct Engine {
    env: minijinja::Environment<'static>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl Engine {
    /// An environment with strict undefined behaviour and huntbook's filters and functions.
    #[must_use]
    pub fn new() -> Engine {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        Engine { env }
    }

    /// Compile a field.
    ///
    /// # Errors
    /// When the template or expression does not parse.
    pub fn compile(&self, source: &str, kind: FieldKind) -> Result<Field, TemplateError> {
        let trimmed = source.trim();
        let form = if !source.contains("{{") && !source.contains("{%") {
            if kind == FieldKind::Expression && !trimmed.is_empty() {
                self.check_expr(trimmed)?;
                Form::Expr(trimmed.to_string())
            } else {
                Form::Literal
            }
        } else if let Some(inner) = single_expression(trimmed) {
            self.check_expr(inner)?;
            Form::Expr(inner.to_string())
        } else {
            self.env
                .template_from_str(source)
                .map_err(|e| to_error(&e))?;
            Form::Template
        };
        Ok(Field {
            source: source.to_string(),
            kind,
            form,
        })
    }

    fn check_expr(&self, expr: &str) -> Result<(), TemplateError> {
        self.env
            .compile_expression(expr)
            .map(|_| ())
            .map_err(|e| to_error(&e))
    }

    /// Render a field against a scope (a map value).
    ///
    /// # Errors
    /// On undefined names or failing filters.
    pub fn render(&self, field: &Field, scope: &Value) -> Result<Value, TemplateError> {
        match &field.form {
            Form::Literal => Ok(Value::from(field.source.clone())),
            Form::Expr(expr) => {
                let e = self
                    .env
                    .compile_expression(expr)
                    .map_err(|e| to_error(&e))?;
                e.eval(scope).map_err(|e| to_error(&e))
            }
            Form::Template => {
                let t = self
                    .env
                    .template_from_str(&field.source)
                    .map_err(|e| to_error(&e))?;
                t.render(scope).map(Value::from).map_err(|e| to_error(&e))
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Form {
    Literal,
    Expr(String),
    Template,
}

/// A compiled field: its source, its kind, and how it renders.
#[derive(Debug, Clone)]
pub struct Field {
    source: String,
    kind: FieldKind,
    form: Form,
}

impl Field {
    /// The field's source text.
    #[must_use]
    pub fn source(&self) -> &str {
        &self.source
    }

    #[must_use]
    pub fn kind(&self) -> FieldKind {
        self.kind
    }

    /// Whether the field is plain text with nothing to render.
    #[must_use]
    pub fn is_literal(&self) -> bool {
        matches!(self.form, Form::Literal)
    }

    /// The names the field reads. (Skeleton: top-level `{{ a.b.c }}` paths found textually.)
    #[must_use]
    pub fn references(&self) -> Vec<Reference> {
        Vec::new()
    }

    /// Byte ranges of `| raw` uses (warned about inside queries).
    #[must_use]
    pub fn raw_uses(&self) -> Vec<Range<usize>> {
        Vec::new()
    }
}

/// `{{ expr }}` with nothing around it → `expr`.
fn single_expression(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") || inner.contains("{%") {
        return None;
    }
    Some(inner.trim())
}

fn to_error(e: &minijinja::Error) -> TemplateError {
    TemplateError {
        message: e.detail().unwrap_or("invalid template").to_string(),
        range: e.range(),
    }
}
