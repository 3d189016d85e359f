//! The local commands: `scan` files, list and build `rules`, print JSON and quarantine keys.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use s3_yara_scan::scan::RuleSets;
use s3_yara_scan::{Config, Engine, RuleSet, Verdict, action, inspect, rules, store};

pub fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    writeln!(
        std::io::stdout(),
        "{}",
        serde_json::to_string_pretty(value)?
    )?;
    Ok(())
}

pub fn print_quarantine_keys() -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line?;
        let (bucket, key): (String, String) = serde_json::from_str(&line)
            .with_context(|| format!("line {}: not a [\"bucket\", \"key\"] pair", n + 1))?;
        writeln!(
            out,
            "{}",
            serde_json::to_string(&action::quarantine_key(&bucket, &key))?
        )?;
    }
    Ok(())
}

pub fn rules() -> anyhow::Result<()> {
    let rules = RuleSet::embedded()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ruleset {} ({} rules)", rules.id(), rules.len())?;
    for (name, description) in rules.describe() {
        writeln!(out, "  {name}: {}", description.unwrap_or_default())?;
    }
    Ok(())
}

pub fn check_rules(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let files = rules::local_sources(paths)?;
    match rules::compile_with_warnings(&files) {
        Ok((compiled, warnings)) => {
            for w in &warnings {
                eprintln!("{w}");
            }
            println!(
                "{} rules from {} files, {} warnings: they compile",
                compiled.iter().len(),
                files.len(),
                warnings.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            println!("the rules do not compile");
            Ok(ExitCode::from(1))
        }
    }
}

pub fn build_rules(paths: &[PathBuf], output: &Path) -> anyhow::Result<()> {
    let files = rules::local_sources(paths)?;
    let compiled = rules::compile(&files).map_err(|e| anyhow::anyhow!("{e}"))?;
    let set = RuleSet::new(compiled, "build");
    let bytes = set.serialize()?;
    std::fs::write(output, &bytes).with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "{} rules from {} files written to {} ({} bytes)",
        set.len(),
        files.len(),
        output.display(),
        bytes.len()
    );
    Ok(())
}

pub fn scan(
    paths: &[PathBuf],
    json: bool,
    timeout: Duration,
    extra: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let mut sets = vec![RuleSet::embedded()?];
    let (theirs, hashes) = rules::local_sets(extra)?;
    sets.extend(theirs);
    let engine = Engine::with_sets(RuleSets::with_hashes(sets, hashes), timeout);
    let (rules, config) = (
        engine.rules(),
        Config::new(s3_yara_scan::config::Action::Tag),
    );
    let budget = store::Budget::memory(config.max_object_size);
    let look = inspect::Look {
        engine: &engine,
        rules: &rules,
        limits: &config.archive,
        budget: &budget,
    };
    let (mut infected, mut errors) = (false, false);
    let files = paths
        .iter()
        .flat_map(|p| walkdir::WalkDir::new(p).follow_links(false))
        .filter(|e| e.as_ref().map_or(true, |e| e.file_type().is_file()));
    for entry in files {
        let (path, verdict) = match entry {
            Ok(e) => (e.path().to_path_buf(), scan_one(&look, e.path(), timeout)),
            Err(e) => {
                let path = e.path().map(Path::to_path_buf).unwrap_or_default();
                (path, Verdict::Error(e.to_string().into()))
            }
        };
        infected |= matches!(verdict, Verdict::Infected(_));
        errors |= verdict.reason().is_some();
        print_scanned(&path, json, &verdict);
    }
    // Infected wins over errors: a caller alerting on 1 must not miss a detection because
    // another file was unreadable.
    Ok(ExitCode::from(if infected {
        1
    } else if errors {
        2
    } else {
        0
    }))
}

/// The verdict on one local file, archives looked into as in the pipeline.
fn scan_one(look: &inspect::Look<'_>, path: &Path, timeout: Duration) -> Verdict {
    match inspect::inspect_file(look, path, timeout).map(inspect::Inspection::verdict) {
        Ok(Ok(verdict)) => verdict,
        Ok(Err(busy)) => Verdict::Error(busy.into()),
        Err(e) => Verdict::Error(e.to_string().into()),
    }
}

fn print_scanned(path: &Path, json: bool, verdict: &Verdict) {
    let labels = verdict.labels();
    if json {
        let line = serde_json::json!({
            "path": path.to_string_lossy(), "verdict": verdict.name(), "matches": labels,
            "error": verdict.reason(),
        });
        println!("{line}");
        return;
    }
    match (verdict.reason(), labels.is_empty()) {
        (Some(why), _) => println!("{}: {} ({why})", path.display(), verdict.name()),
        (None, true) => println!("{}: {}", path.display(), verdict.name()),
        (None, false) => println!(
            "{}: {} ({})",
            path.display(),
            verdict.name(),
            labels.join(", ")
        ),
    }
}
