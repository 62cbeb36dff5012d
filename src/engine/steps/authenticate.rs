//! `authenticate`: read the credential's secrets from their references, sign the connection
//! in, then run the permission preflight — every later step's permissions (up to the next
//! `authenticate`) against the roles (application) or scopes (user) of each audience's token,
//! so a missing permission fails here, before any step that needs it runs (exit 4). Outputs
//! `context`, `tenant_id`, `client_id`, `expires_at`, `permissions`, `principal` — never the
//! token.

use std::collections::BTreeSet;

use secrecy::SecretString;

use crate::engine::checks::permissions_after;
use crate::engine::connection::{AuthCredential, AuthRequest, Grant};
use crate::engine::error::{ErrorKind, StepError};
use crate::engine::flow::{Outcome, StepCx};
use crate::playbook::{AuthContext, Authenticate, Choice as _, Credential, Resource, SecretRef};
use crate::template::Value;
use crate::template::value::datetime;

/// Run an `authenticate` step.
pub(crate) async fn run(cx: &StepCx<'_, '_>, a: &Authenticate) -> Result<Outcome, StepError> {
    let ctx = cx.ctx;
    let text = |f: &Option<crate::playbook::TemplateField>,
                what: &str|
     -> Result<Option<String>, StepError> {
        match f {
            None => Ok(None),
            Some(f) => ctx
                .render_text(cx.scope, f, what)
                .map(|s| Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        }
    };
    let tenant_id = text(&a.tenant_id, "`authenticate.tenant_id`")?;
    let client_id = text(&a.client_id, "`authenticate.client_id`")?;
    let credential = match &a.credential {
        Credential::ClientSecret(r) => AuthCredential::ClientSecret(read_secret(cx, r)?),
        Credential::Certificate { path, password } => AuthCredential::Certificate {
            // Already resolved against the playbook's folder by the checker.
            path: path.clone(),
            password: password.as_ref().map(|r| read_secret(cx, r)).transpose()?,
        },
        Credential::Environment => AuthCredential::Environment,
        Credential::DeviceCode { token_cache } => AuthCredential::DeviceCode {
            token_cache: token_cache.clone(),
        },
        Credential::Password {
            username,
            password,
            token_cache,
        } => AuthCredential::Password {
            username: ctx.render_text(cx.scope, username, "`authenticate.username`")?,
            password: read_secret(cx, password)?,
            token_cache: token_cache.clone(),
        },
    };
    let needed = permissions_after(ctx.playbook, cx.step);
    let audience = needed.first().map_or(Resource::Graph, |(_, p)| p.resource);
    let outcome = ctx
        .conn
        .authenticate(AuthRequest {
            context: a.context,
            tenant_id,
            client_id,
            credential,
            cloud: a.cloud,
            audience,
            label: cx.label.to_string(),
        })
        .await?;
    tracing::info!(
        event = "authenticated",
        step = %crate::engine::flow::log_name(cx.step),
        context = outcome.context.name(),
        tenant_id = %outcome.tenant_id,
        client_id = %outcome.client_id,
        principal = outcome.principal.as_deref().unwrap_or(""),
        "signed in to tenant {} as {}",
        outcome.tenant_id,
        outcome.principal.as_deref().unwrap_or(&outcome.client_id)
    );

    // The preflight: one token per audience the rest of the playbook needs.
    let mut grants: Vec<Grant> = vec![outcome.grant.clone()];
    for (_, p) in &needed {
        if !grants.iter().any(|g| g.audience == p.resource) {
            grants.push(ctx.conn.grant(p.resource).await?);
        }
    }
    for g in grants.iter().filter(|g| !g.readable) {
        tracing::warn!(
            event = "preflight_skipped",
            step = %crate::engine::flow::log_name(cx.step),
            api = crate::engine::connection::audience_name(g.audience),
            "the {} token is not a JWT: its permissions cannot be checked before the steps run",
            g.audience.display()
        );
    }
    let mut missing: Vec<String> = Vec::new();
    let mut help: Vec<String> = Vec::new();
    for (step, p) in &needed {
        let wanted = match outcome.context {
            AuthContext::Application => &p.application,
            AuthContext::User => &p.delegated,
        };
        let grant = grants.iter().find(|g| g.audience == p.resource);
        if grant.is_some_and(|g| !g.readable) {
            continue;
        }
        let have = grant
            .map(|g| g.permissions(outcome.context))
            .unwrap_or_default();
        if wanted.is_empty() || wanted.iter().any(|w| have.iter().any(|h| h == w)) {
            continue;
        }
        let names = wanted
            .iter()
            .map(|w| format!("`{w}`"))
            .collect::<Vec<_>>()
            .join(" or ");
        let line = format!(
            "{names} on {} for {} ({})",
            p.resource.display(),
            crate::engine::flow::who(step),
            p.call
        );
        if !missing.contains(&line) {
            missing.push(line);
            help.push(grant_help(outcome.context, p.resource, wanted[0]));
        }
    }
    if !missing.is_empty() {
        help.dedup();
        return Err(StepError::new(
            ErrorKind::Permission,
            format!(
                "the {} lacks permissions later steps need: {}",
                match outcome.context {
                    AuthContext::Application => "application",
                    AuthContext::User => "signed-in user",
                },
                missing.join("; ")
            ),
        )
        .help(help.join("; ")));
    }

    let permissions: BTreeSet<&str> = grants
        .iter()
        .flat_map(|g| g.permissions(outcome.context))
        .map(String::as_str)
        .collect();
    let expires_at = grants
        .iter()
        .map(|g| g.expires_at)
        .min()
        .unwrap_or(outcome.grant.expires_at);
    Ok(Outcome::with(vec![
        ("context", Value::from(outcome.context.name())),
        ("tenant_id", Value::from(outcome.tenant_id)),
        ("client_id", Value::from(outcome.client_id)),
        ("expires_at", datetime(expires_at)),
        (
            "permissions",
            Value::from(permissions.into_iter().map(Value::from).collect::<Vec<_>>()),
        ),
        (
            "principal",
            outcome.principal.map_or(Value::from(()), Value::from),
        ),
    ]))
}

/// How to grant a missing permission, in the Entra admin center's words.
fn grant_help(context: AuthContext, resource: Resource, permission: &str) -> String {
    let api = match resource {
        Resource::Graph => "Microsoft Graph".to_string(),
        other => format!("APIs my organization uses → `{}`", other.display()),
    };
    match context {
        AuthContext::Application => format!(
            "grant `{permission}`: Microsoft Entra admin center → App registrations → your app → API permissions → Add a permission → {api} → Application permissions → `{permission}`, then Grant admin consent"
        ),
        AuthContext::User => format!(
            "grant `{permission}`: App registrations → your app → API permissions → Add a permission → {api} → Delegated permissions → `{permission}` (with admin consent), and give the user a Defender role that allows it"
        ),
    }
}

/// Read a secret from its reference: the run's environment, or a file (trailing newline
/// removed). Messages name the reference, never the value.
fn read_secret(cx: &StepCx<'_, '_>, r: &SecretRef) -> Result<SecretString, StepError> {
    match r {
        SecretRef::Env(name) => match cx.ctx.options.env.get(name) {
            Some(v) if !v.is_empty() => {
                crate::redact::register(v);
                Ok(SecretString::from(v.clone()))
            }
            _ => Err(StepError::new(
                ErrorKind::Auth,
                format!("the secret reference `{{env: {name}}}` is empty: `{name}` is not set"),
            )
            .help(format!(
                "export {name}=… before running (or use `--emulator` for the demo tenant)"
            ))),
        },
        SecretRef::File(path) => {
            // Already resolved against the playbook's folder by the checker.
            let full = path;
            match std::fs::read_to_string(full) {
                Ok(text) => {
                    let value = text.trim_end_matches(['\n', '\r']).to_string();
                    if value.is_empty() {
                        return Err(StepError::new(
                            ErrorKind::Auth,
                            format!("the secret file `{}` is empty", full.display()),
                        ));
                    }
                    crate::redact::register(&value);
                    Ok(SecretString::from(value))
                }
                Err(e) => Err(StepError::new(
                    ErrorKind::Auth,
                    format!("cannot read the secret file `{}`: {e}", full.display()),
                )),
            }
        }
    }
}
