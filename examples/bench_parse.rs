//! Parse-only baselines for the benchmark: read a saved hunting response and parse it as
//! `value` (`serde_json::Value`, the "serde_json alone" figure), `ignored` (serde_json
//! skipping everything: the scan floor), `rowset` (huntbook's [`RowSet`]) or
//! `rowset-nointern` (the same without string interning).
//!
//! Usage: `bench_parse MODE FILE`; prints the parse time on stderr.

use std::time::Instant;

use huntbook::rows::RowSet;
use serde::de::IgnoredAny;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(file)) = (args.get(1), args.get(2)) else {
        return Err("usage: bench_parse value|ignored|rowset|rowset-nointern FILE".into());
    };
    let body = std::fs::read(file)?;
    let start = Instant::now();
    let what = match mode.as_str() {
        "value" => {
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            let n = v["results"].as_array().map_or(0, Vec::len);
            let parse = start.elapsed();
            drop(v);
            format!(
                "{n} rows, parse {parse:?}, parse+drop {:?}",
                start.elapsed()
            )
        }
        "ignored" => {
            let _: IgnoredAny = serde_json::from_slice(&body)?;
            format!("scan {:?}", start.elapsed())
        }
        "rowset" | "rowset-nointern" => {
            let opts = huntbook::rows::ParseOptions {
                intern: mode == "rowset",
            };
            let rs = RowSet::from_slice_with(&body, opts)?;
            let parse = start.elapsed();
            let (n, arena) = (rs.len(), rs.arena_bytes());
            drop(rs);
            format!(
                "{n} rows, arena {arena} bytes, parse {parse:?}, parse+drop {:?}",
                start.elapsed()
            )
        }
        other => return Err(format!("unknown mode `{other}`").into()),
    };
    eprintln!("bench_parse {mode}: {what}");
    Ok(())
}
