//! Where a feed-sized set's scan time goes (`--feeds-profile`), by bisecting it into its files:
//! each rule file of the third-party sets compiled alone (with the scanner's externals) and
//! timed on the same sample of the corpus with bare yara-x, less the time of a set of one plain
//! two-string rule, best of two. Costs are not strictly additive (the atom search is shared), but the
//! files that dominate stand out. Per-rule figures need yara-x's `rules-profiling` feature.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::{round, time};

/// The files that took longest, printed and kept in the JSON.
const TOP: usize = 25;

/// Every file of the sets under `rulesets`, timed on `sample`; the slowest `TOP` first.
pub fn run(rulesets: &Path, sample: &[Vec<u8>]) -> anyhow::Result<serde_json::Value> {
    // A set without strings is not searched at all: the baseline is one plain string rule.
    let plain = compile(&crate::generated_rules(1)).map_err(anyhow::Error::msg)?;
    let baseline = scan_time(&plain, sample)?;
    let mut rows = Vec::new();
    for set in ["reversinglabs-yara-rules", "signature-base"] {
        for path in rule_files(rulesets, set) {
            let text = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
            let Ok(rules) = compile(&text) else {
                continue; // a file that needs another (none do in these sets)
            };
            let extra = scan_time(&rules, sample)?.saturating_sub(baseline);
            let name = path.strip_prefix(rulesets)?.display().to_string();
            rows.push((extra, name, rules.iter().len(), set));
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    let total: Duration = rows.iter().map(|r| r.0).sum();
    let bytes: usize = sample.iter().map(Vec::len).sum();
    let by_set = |set: &str| -> f64 {
        let d: Duration = rows.iter().filter(|r| r.3 == set).map(|r| r.0).sum();
        round(d.as_secs_f64() * 1e3)
    };
    let top: Vec<_> = (rows.iter().take(TOP))
        .map(|(d, name, rules, _)| {
            json!({"file": name, "rules": rules, "extra_ms": round(d.as_secs_f64() * 1e3),
                   "share": round(d.as_secs_f64() / total.as_secs_f64())})
        })
        .collect();
    let report = json!({
        "sample_objects": sample.len(), "sample_bytes": bytes, "files": rows.len(),
        "baseline_ms": round(baseline.as_secs_f64() * 1e3),
        "sum_extra_ms": round(total.as_secs_f64() * 1e3),
        "reversinglabs_extra_ms": by_set("reversinglabs-yara-rules"),
        "signature_base_extra_ms": by_set("signature-base"),
        "slowest_files": top,
    });
    print(&report);
    Ok(report)
}

/// The `.yar` and `.yara` files of one of the third-party sets under `rulesets`, sorted.
pub fn rule_files(rulesets: &Path, set: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = walkdir::WalkDir::new(rulesets.join(set))
        .into_iter()
        .filter_map(Result::ok)
        .map(walkdir::DirEntry::into_path)
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yar" | "yara")))
        .collect();
    files.sort();
    files
}

/// Rules compiled as the scanner compiles users' sources.
fn compile(text: &str) -> Result<yara_x::Rules, String> {
    s3_yara_scan::rules::compile(&[("file".to_owned(), text.as_bytes().to_vec())])
}

/// The best of two scans of `sample` with `rules`.
fn scan_time(rules: &yara_x::Rules, sample: &[Vec<u8>]) -> anyhow::Result<Duration> {
    let mut scanner = yara_x::Scanner::new(rules);
    let mut best = Duration::MAX;
    for _ in 0..2 {
        best = best.min(time(|| {
            for item in sample {
                let _ = scanner.scan(item).map(|r| r.matching_rules().len());
            }
        }));
    }
    Ok(best)
}

fn print(r: &serde_json::Value) {
    println!(
        "\nfeeds profile: {} files on {} objects ({} bytes); one plain rule {} ms; extra \
         ms in all {} (reversinglabs {}, signature-base {})",
        r["files"],
        r["sample_objects"],
        r["sample_bytes"],
        r["baseline_ms"],
        r["sum_extra_ms"],
        r["reversinglabs_extra_ms"],
        r["signature_base_extra_ms"]
    );
    println!("\n| file | rules | extra ms | share of the extra |");
    println!("| --- | --- | --- | --- |");
    for row in r["slowest_files"].as_array().into_iter().flatten() {
        println!(
            "| {} | {} | {} | {} |",
            row["file"], row["rules"], row["extra_ms"], row["share"]
        );
    }
}
