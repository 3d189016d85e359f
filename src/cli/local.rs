//! The local commands: `scan` files; list, check and build `rules`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use s3_yara_scan::config::settings;
use s3_yara_scan::scan::RuleSets;
use s3_yara_scan::scan::serialized::{self, Description, Native};
use s3_yara_scan::{Config, Engine, RuleSet, Verdict, inspect, rules, store};
use sha2::Digest as _;

/// Scan local files and directories (recursively) with the embedded rules. Exit code 0: all
/// clean; 1: something infected; 2: errors and nothing infected.
#[derive(clap::Args)]
pub struct ScanArgs {
    /// Files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
    /// Give up on a file after this many seconds.
    #[arg(long, default_value = settings::SCAN_TIMEOUT_SECS.default,
          value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Also scan with the rules under this path (.yar, .yara sources, or .yarc files that
    /// `rules build` wrote: native code loaded as is, so only files you trust); may be given
    /// several times.
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
}

/// Print the embedded ruleset's identity and rules; or check and build rule sets.
#[derive(clap::Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    action: Option<RulesCommand>,
}

#[derive(clap::Subcommand)]
enum RulesCommand {
    /// Compile the YARA sources under PATH: every error with its file and line, or the number
    /// of rules; and say what each .yarc holds (its rules, the yara-x that serialized it, its
    /// native code and that code's target, its SHA-256), its native code read, never loaded.
    /// Exit code 0: they compile and load; 1: they do not.
    Check {
        /// Files or folders of .yar, .yara and .yarc files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Compile the sources under PATH and write them serialized to FILE, for RULES or
    /// `scan --rules`. The file holds a header (the yara-x version and target), portable code,
    /// and native code for this machine that other machines ignore: it is executable code. The
    /// SHA-256 printed is what RULES_YARC_SHA256 pins to load it from S3.
    Build {
        /// Files or folders of .yar and .yara files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Where to write them (by convention `.yarc`).
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// `rules`, `rules check` or `rules build`.
pub fn rules(args: RulesArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        None => list_rules().map(|()| ExitCode::SUCCESS),
        Some(RulesCommand::Check { paths }) => check_rules(&paths),
        Some(RulesCommand::Build { paths, output }) => {
            build_rules(&paths, &output).map(|()| ExitCode::SUCCESS)
        }
    }
}

pub fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    writeln!(
        std::io::stdout(),
        "{}",
        serde_json::to_string_pretty(value)?
    )?;
    Ok(())
}

fn list_rules() -> anyhow::Result<()> {
    let rules = RuleSet::embedded()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ruleset {} ({} rules)", rules.id(), rules.len())?;
    for (name, description) in rules.describe() {
        writeln!(out, "  {name}: {}", description.unwrap_or_default())?;
    }
    Ok(())
}

/// `rules check`: the YARA sources under `paths` compiled together, and each `.yarc` described.
/// Exit code 1 when the sources do not compile or a `.yarc` is refused.
fn check_rules(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let sources = rules::local_sources(paths)?;
    let compiled = rules::local_serialized(paths)?;
    let mut ok = true;
    if !sources.is_empty() || compiled.is_empty() {
        ok &= check_sources(&sources);
    }
    // Compared once: describing the binary's own costs a small compile.
    let own = (!compiled.is_empty())
        .then(serialized::own_native)
        .flatten();
    for (name, bytes) in &compiled {
        ok &= check_compiled(name, bytes, own.as_ref());
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn check_sources(files: &[(String, Vec<u8>)]) -> bool {
    match rules::compile_with_warnings(files, rules::Includes::Allowed) {
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
            true
        }
        Err(errors) => {
            eprintln!("{errors}");
            println!("the rules do not compile");
            false
        }
    }
}

/// What the compiled file `name` holds (its native code described, never loaded), or why this
/// binary would not load it.
fn check_compiled(name: &str, bytes: &[u8], own: Option<&Native>) -> bool {
    match serialized::describe(bytes) {
        Ok(found) => {
            print!("{}", describe_compiled(name, &found, own));
            true
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            println!(
                "{name}: not compiled rules that yara-x {} loads",
                yara_x::VERSION
            );
            false
        }
    }
}

fn describe_compiled(name: &str, found: &Description, own: Option<&Native>) -> String {
    let by = match &found.header {
        Some(h) => format!(
            "yara-x {}{} ({})",
            h.yara_x,
            h.target
                .as_ref()
                .map_or(String::new(), |t| format!(" on {t}")),
            match h.mac {
                Some(_) => "a compiled cache: its MAC only the function holding the key can check",
                None => "s3-yara-scan rules build",
            }
        ),
        None => format!(
            "yara-x, version not recorded (no s3-yara-scan header; yara-x {} reads this format)",
            yara_x::VERSION
        ),
    };
    let native = match (&found.native, own) {
        (None, _) => "none: portable code only, compiled at every load".to_owned(),
        (Some(n), Some(own)) if n.target == own.target && n.wasmtime == own.wasmtime => {
            format!("{n}: this binary runs it as is (described here, not loaded)")
        }
        (Some(n), Some(own)) => {
            format!("{n}: this binary ({own}) ignores it and compiles the portable code at load")
        }
        (Some(n), None) => format!("{n}: used where wasmtime and the target match"),
    };
    format!(
        "{name}: {} rules, compiled (YARA-X serialization format {})\n  serialized by: {by}\n  \
         native code: {native}\n  sha256: {} (list it in RULES_YARC_SHA256 to load the file \
         from S3)\n",
        found.rules, found.format, found.sha256
    )
}

fn build_rules(paths: &[PathBuf], output: &Path) -> anyhow::Result<()> {
    let files = rules::local_sources(paths)?;
    let compiled = rules::compile_with(&files, rules::Includes::Allowed)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let set = RuleSet::new(compiled, "build");
    let bytes = set.to_file()?;
    std::fs::write(output, &bytes).with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "{} rules from {} files written to {} ({} bytes, sha256 {}: list it in \
         RULES_YARC_SHA256 to load the file from S3)",
        set.len(),
        files.len(),
        output.display(),
        bytes.len(),
        hex::encode(sha2::Sha256::digest(&bytes))
    );
    Ok(())
}

/// `scan`: exit code 0 when all is clean, 1 when something is infected, 2 on errors alone.
pub fn scan(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let (json, timeout) = (args.json, Duration::from_secs(args.timeout));
    let mut sets = vec![RuleSet::embedded()?];
    let (theirs, hashes) = rules::local_sets(&args.rules)?;
    sets.extend(theirs);
    let engine = Engine::with_sets(RuleSets::with_hashes(sets, hashes), timeout);
    let (rules, config) = (engine.rules(), local_config()?);
    let budget = store::Budget::memory(config.max_object_size);
    let look = inspect::Look {
        engine: &engine,
        rules: &rules,
        limits: &config.archive,
        policy: &config.policy,
        budget: &budget,
    };
    let (mut infected, mut errors) = (false, false);
    let files = (args.paths.iter())
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

/// The defaults, but for the policies (`ALLOWED_TYPES`, `TYPE_MISMATCH`, `ACTIVE_CONTENT`),
/// read from the environment: a local scan judges as the function would.
fn local_config() -> anyhow::Result<Config> {
    use s3_yara_scan::config::settings as s;
    let from_env = [s::ALLOWED_TYPES, s::TYPE_MISMATCH, s::ACTIVE_CONTENT].map(|s| s.name);
    let config = Config::from_lookup(|name| match name {
        "ACTION" => Some("tag".into()),
        name if from_env.contains(&name) => std::env::var(name).ok(),
        _ => None,
    })?;
    Ok(config)
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
