//! The benchmark job, driven by the library code the engine uses, until `huntbook run
//! scripts/bench/playbook.yaml` can run it: token → hunt (Graph `runHuntingQuery`) →
//! `$[?@.AccountName != 'system']` → CSV file + short Markdown summary (minijinja), both
//! written atomically with `fsutil::AtomicFile` (temp file, fsync, rename).
//!
//! Usage: `hunt_job BASE_URL OUT_DIR TEMPLATE [--whole-body] [--path EXPR]`; BASE_URL serves both the token endpoint
//! (`/{tenant}/oauth2/v2.0/token`) and Graph (`/v1.0/security/runHuntingQuery`), as
//! `scripts/bench.sh` sets it up. Step timings go to stderr. `--whole-body` reads the
//! whole body first and parses it in one go (the comparison for the chunked parser);
//! `--path` replaces the filter (e.g. with one the fast path declines).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use huntbook::fsutil::AtomicFile;
use huntbook::rows::{CsvOptions, FilterOutput, ParseOptions, RowFilter, Rows, write_csv};

const PATH: &str = "$[?@.AccountName != 'system']";
const QUERY: &str = "DeviceProcessEvents | where Timestamp > ago(1d) | project Timestamp, DeviceId, DeviceName, ActionType, FileName, FolderPath, SHA256, ProcessCommandLine, AccountDomain, AccountName, InitiatingProcessFileName, ReportId";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Write through the engine's atomic file (temp file in the target's folder, fsync, rename,
/// fsync of the folder), so the job pays what `huntbook run` outputs will.
fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut AtomicFile) -> Result<(), BoxError>,
) -> Result<(), BoxError> {
    let mut file = AtomicFile::create(path)?;
    fill(&mut file)?;
    file.commit()?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(base), Some(out_dir), Some(template)) = (args.get(1), args.get(2), args.get(3))
    else {
        return Err("usage: hunt_job BASE_URL OUT_DIR TEMPLATE".into());
    };
    let t0 = Instant::now();
    let path = args
        .iter()
        .position(|a| a == "--path")
        .and_then(|i| args.get(i + 1))
        .map_or(PATH, String::as_str);
    // Compile before any network call, as the engine does at validation time.
    let filter = RowFilter::compile(path)?;
    let template = std::fs::read_to_string(template)?;
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template("summary.md", &template)?;

    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let token: serde_json::Value = client
        .post(format!("{base}/bench-tenant/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "00000000-0000-0000-0000-00000000b0b0"),
            ("client_secret", "bench-secret"),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let access = token["access_token"]
        .as_str()
        .ok_or("token response without access_token")?;
    let t_token = t0.elapsed();

    let resp = client
        .post(format!("{base}/v1.0/security/runHuntingQuery"))
        .bearer_auth(access)
        .json(&serde_json::json!({ "Query": QUERY }))
        .send()
        .await?
        .error_for_status()?;
    let set = if args.iter().any(|a| a == "--whole-body") {
        huntbook::rows::RowSet::from_slice(&resp.bytes().await?)?
    } else {
        huntbook::rows::read_response(resp, ParseOptions::default()).await?
    };
    let total = set.len();
    let results = Rows::all(Arc::new(set));
    let t_hunt = t0.elapsed();

    let FilterOutput::Rows(items) = filter.apply(&results) else {
        return Err("the filter must select whole rows".into());
    };
    let t_filter = t0.elapsed();

    let out_dir = Path::new(out_dir);
    write_atomically(&out_dir.join("noisy.csv"), |f| {
        write_csv(&items, f, &CsvOptions::default())?;
        Ok(())
    })?;
    let t_csv = t0.elapsed();

    let md = env
        .get_template("summary.md")?
        .render(minijinja::context! {
            total => total,
            path => path,
            items => items.clone().into_value(),
        })?;
    write_atomically(&out_dir.join("summary.md"), |f| {
        f.write_all(md.as_bytes())?;
        Ok(())
    })?;
    let t_md = t0.elapsed();

    eprintln!(
        "hunt_job: {total} rows, kept {}, fast path {}, arena {} B | token {:?} hunt {:?} filter {:?} csv {:?} md {:?}",
        items.len(),
        filter.is_fast(),
        results.set().arena_bytes(),
        t_token,
        t_hunt - t_token,
        t_filter - t_hunt,
        t_csv - t_filter,
        t_md - t_csv,
    );
    Ok(())
}
