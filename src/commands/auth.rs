//! `huntbook auth login|status|logout`: the user-context sign-in and its refresh-token cache.
//! `login` runs the device-code flow (the code and URL go to stderr) and caches the refresh
//! token; `status` shows who is signed in and when (never a token); `logout` deletes the entry.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;

use crate::api::{ClientOptions, http_client};
use crate::auth::{
    Audience, AuthConfig, AuthError, CacheSummary, Cloud, Credential, DeviceCodeLogin,
    DeviceCodePrompt, Endpoints, PollTiming, TokenCache, TokenStore, env_from_process,
};
use crate::cli::{AuthAction, AuthArgs, AuthLoginArgs, GlobalArgs};
use crate::exit::ExitStatus;

/// Entry point of `huntbook auth`.
#[must_use]
pub fn run(args: &AuthArgs, _global: &GlobalArgs) -> ExitStatus {
    match &args.action {
        AuthAction::Login(a) => login(a),
        AuthAction::Status(a) => status(a),
        AuthAction::Logout(a) => logout(a),
    }
}

fn fail(message: impl std::fmt::Display, status: ExitStatus) -> ExitStatus {
    eprintln!("error: {message}");
    status
}

fn cache_of(args: &AuthLoginArgs) -> Result<TokenCache, ExitStatus> {
    match args.token_cache.clone().or_else(TokenCache::default_path) {
        Some(p) => Ok(TokenCache::new(p)),
        None => Err(fail(
            "no user cache folder is known on this system; pass `--token-cache FILE`",
            ExitStatus::Invalid,
        )),
    }
}

fn nonempty(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn login(args: &AuthLoginArgs) -> ExitStatus {
    if args.emulator {
        return login_emulator(args);
    }
    let Some(tenant) = nonempty(args.tenant_id.as_ref()) else {
        return fail(
            "the tenant id is not set: pass `--tenant-id` or set AZURE_TENANT_ID",
            ExitStatus::Invalid,
        );
    };
    let Some(client) = nonempty(args.client_id.as_ref()) else {
        return fail(
            "the client id is not set: pass `--client-id` or set AZURE_CLIENT_ID",
            ExitStatus::Invalid,
        );
    };
    let cloud: Cloud = match args.cloud.parse() {
        Ok(c) => c,
        Err(e) => return fail(e, ExitStatus::Invalid),
    };
    let audience: Audience = match args.api.parse() {
        Ok(a) => a,
        Err(e) => return fail(e, ExitStatus::Invalid),
    };
    let endpoints = match Endpoints::from_env(cloud, &env_from_process()) {
        Ok(e) => e,
        Err(e) => return fail(e, ExitStatus::Invalid),
    };
    let cache = match cache_of(args) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let options = ClientOptions::default();
    let http = match http_client(&options) {
        Ok(h) => h,
        Err(e) => return fail(e, ExitStatus::Failure),
    };
    let config = AuthConfig {
        tenant_id: tenant.to_string(),
        client_id: client.to_string(),
        credential: Credential::DeviceCode(DeviceCodeLogin {
            cache: Some(cache.clone()),
            prompt: Some(Arc::new(|p: &DeviceCodePrompt| {
                eprintln!("{}", p.message);
            })),
            timing: PollTiming::default(),
        }),
        endpoints,
    };
    let runtime = match runtime() {
        Ok(r) => r,
        Err(status) => return status,
    };
    let store = TokenStore::new(http, config);
    let result: Result<_, AuthError> = runtime.block_on(async {
        let token = store.login(audience).await?;
        Ok((token, store.account().await))
    });
    match result {
        Ok((token, account)) => {
            let who = account
                .as_ref()
                .and_then(|a| a.username.clone())
                .or_else(|| token.info.user.clone())
                .unwrap_or_else(|| "an unnamed account".to_string());
            eprintln!("Signed in as {who} (tenant {tenant}, client {client}).");
            eprintln!(
                "The sign-in is cached in {}; later runs use it until it expires.",
                cache.path().display()
            );
            ExitStatus::Success
        }
        Err(e) => {
            let code = e.exit_status();
            fail(e, code)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitStatus> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            fail(
                format!("cannot start the async runtime: {e}"),
                ExitStatus::Failure,
            )
        })
}

/// `auth login --emulator`: the whole device-code flow against an in-process emulator, with
/// its public client and tenant. The emulator (and every token it issued) ends with the
/// command, so the sign-in goes to a throw-away cache unless `--token-cache` names one.
fn login_emulator(args: &AuthLoginArgs) -> ExitStatus {
    use crate::emulator::directory::PUBLIC_APP;
    use crate::emulator::{Emulator, EmulatorConfig};

    let audience: Audience = match args.api.parse() {
        Ok(a) => a,
        Err(e) => return fail(e, ExitStatus::Invalid),
    };
    let scratch = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            return fail(
                format!("cannot create a temporary folder: {e}"),
                ExitStatus::Failure,
            );
        }
    };
    let cache = TokenCache::new(
        args.token_cache
            .clone()
            .unwrap_or_else(|| scratch.path().join("token-cache.json")),
    );
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(status) => return status,
    };
    let failed = |e: &dyn std::fmt::Display, status| (e.to_string(), status);
    let result = rt.block_on(async {
        let emu = Emulator::start(EmulatorConfig {
            // Announce no interval instead of 5: the client polls once a second (its floor) and
            // the emulator approves on the third poll.
            device_code_interval: std::time::Duration::ZERO,
            ..EmulatorConfig::default()
        })
        .await
        .map_err(|e| failed(&e, ExitStatus::Failure))?;
        let info = emu.info().clone();
        let client_id = info
            .app(PUBLIC_APP)
            .map(|a| a.client_id.clone())
            .ok_or_else(|| failed(&"the emulator has no public client", ExitStatus::Failure))?;
        eprintln!(
            "Emulator at {} (tenant {}, public client {client_id}); it approves the sign-in by itself.",
            emu.urls.base, info.tenant_id
        );
        let endpoints =
            Endpoints::all_on(&emu.urls.base).map_err(|e| failed(&e, ExitStatus::Failure))?;
        let http = http_client(&ClientOptions::default()).map_err(|e| failed(&e, ExitStatus::Failure))?;
        let store = TokenStore::new(
            http,
            AuthConfig {
                tenant_id: info.tenant_id.clone(),
                client_id,
                credential: Credential::DeviceCode(DeviceCodeLogin {
                    cache: Some(cache.clone()),
                    prompt: Some(Arc::new(|p: &DeviceCodePrompt| eprintln!("{}", p.message))),
                    timing: PollTiming::default(),
                }),
                endpoints,
            },
        );
        let token = store
            .login(audience)
            .await
            .map_err(|e| {
                let status = e.exit_status();
                failed(&e, status)
            })?;
        let who = store
            .account()
            .await
            .and_then(|a| a.username)
            .or_else(|| token.info.user.clone())
            .unwrap_or_else(|| "an unnamed account".to_string());
        Ok::<_, (String, ExitStatus)>((who, info.tenant_id))
    });
    match result {
        Ok((who, tenant)) => {
            eprintln!("Signed in as {who} (emulator tenant {tenant}).");
            if args.token_cache.is_some() {
                eprintln!(
                    "Cached in {}; the emulator has stopped, so the entry only shows what a sign-in stores.",
                    cache.path().display()
                );
            } else {
                eprintln!("The emulator stops with this command, so the sign-in was not kept.");
            }
            ExitStatus::Success
        }
        Err((message, status)) => fail(message, status),
    }
}

fn age(summary: &CacheSummary) -> String {
    let secs = (Utc::now() - summary.written_at).num_seconds().max(0);
    let d = std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    // Minutes are precise enough for "when did I sign in".
    let d = std::time::Duration::from_secs(d.as_secs() / 60 * 60);
    if d.is_zero() {
        "just now".to_string()
    } else {
        format!("{} ago", humantime::format_duration(d))
    }
}

fn matches(s: &CacheSummary, args: &AuthLoginArgs) -> bool {
    nonempty(args.tenant_id.as_ref()).is_none_or(|t| s.tenant_id.eq_ignore_ascii_case(t))
        && nonempty(args.client_id.as_ref()).is_none_or(|c| s.client_id.eq_ignore_ascii_case(c))
}

fn status(args: &AuthLoginArgs) -> ExitStatus {
    if args.emulator {
        return fail(
            "`--emulator` applies to `auth login` only",
            ExitStatus::Invalid,
        );
    }
    let cache = match cache_of(args) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let entries = match cache.summaries() {
        Ok(e) => e,
        Err(e) => {
            return {
                let code = e.exit_status();
                fail(e, code)
            };
        }
    };
    let shown: Vec<&CacheSummary> = entries.iter().filter(|s| matches(s, args)).collect();
    if shown.is_empty() {
        println!(
            "Not signed in (no cached sign-in in {}).",
            cache.path().display()
        );
        println!("Run `huntbook auth login` to sign in.");
        return ExitStatus::AuthFailed;
    }
    for s in shown {
        let who = s
            .account
            .username
            .as_deref()
            .unwrap_or("an unnamed account");
        match &s.account.name {
            Some(name) => println!("Signed in as {who} ({name})"),
            None => println!("Signed in as {who}"),
        }
        println!("  tenant:    {}", s.tenant_id);
        println!("  client:    {}", s.client_id);
        println!("  authority: {}", s.authority);
        println!(
            "  cached:    {} ({})",
            s.written_at.format("%Y-%m-%d %H:%M:%S UTC"),
            age(s)
        );
        println!("  file:      {}", cache.path().display());
    }
    ExitStatus::Success
}

fn logout(args: &AuthLoginArgs) -> ExitStatus {
    if args.emulator {
        return fail(
            "`--emulator` applies to `auth login` only",
            ExitStatus::Invalid,
        );
    }
    let cache = match cache_of(args) {
        Ok(c) => c,
        Err(status) => return status,
    };
    let path: PathBuf = cache.path().to_path_buf();
    match cache.remove(
        nonempty(args.tenant_id.as_ref()),
        nonempty(args.client_id.as_ref()),
    ) {
        Ok(0) => {
            eprintln!("No cached sign-in to remove in {}.", path.display());
            ExitStatus::Success
        }
        Ok(n) => {
            eprintln!(
                "Removed {n} cached sign-in{} from {}.",
                if n == 1 { "" } else { "s" },
                path.display()
            );
            ExitStatus::Success
        }
        Err(e) => {
            let code = e.exit_status();
            fail(e, code)
        }
    }
}
