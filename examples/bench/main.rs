//! Benchmarks, side by side in one run (machines here are shared and noisy, so ratios matter
//! more than absolute numbers): the pipeline's scan path against bare yara-x on the same bytes
//! and rules, the per-object fixed cost, start-up (rules deserialized, SDK client built, the real
//! binary from exec to ready), the pipeline on the emulator and peak memory.
//!
//!     scripts/bench                          # release build, full corpus, target/bench.json
//!     scripts/bench --portable               # also start-up without native-code-serialization
//!     cargo run --example bench -- --smoke   # tiny sizes, as the test command runs it
//!     cargo run --release --example bench --no-default-features -- --startup-only
//!     scripts/bench --feeds-only --corpus-mb 64   # only the feeds section (feeds.rs)
//!     target/release/examples/bench --feeds-profile --corpus-mb 16   # its files, slowest first
//!     target/release/examples/bench --feeds-split --corpus-mb 64     # what a magic split buys

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use s3_yara_scan::event::decode_body;
use s3_yara_scan::verdict::TagKeys;
use s3_yara_scan::verdict::{Verdict, merge_tags};
use s3_yara_scan::{Engine, RuleSet};
use serde_json::json;

mod feeds;
mod feeds_profile;
mod feeds_split;

/// Benchmarks of s3-yara-scan, side by side in one run.
#[derive(clap::Parser)]
struct Args {
    /// Tiny sizes, as the test command runs it.
    #[arg(long)]
    smoke: bool,
    /// Only the start-up figures (for comparing builds with and without native-rules).
    #[arg(long)]
    startup_only: bool,
    /// Only the feeds section (a feed-sized package through the updater, cold start from the
    /// compiled cache, throughput with it in force): needs the emulator.
    #[arg(long)]
    feeds_only: bool,
    /// Where the feed-sized set's scan time goes: each of its rule files timed alone on the
    /// corpus (`--corpus-mb`), the slowest first (feeds_profile.rs).
    #[arg(long)]
    feeds_profile: bool,
    /// What scanning the rules guarded by a PE/ELF/Mach-O magic only on objects that start so
    /// would buy, on the corpus (feeds_split.rs).
    #[arg(long)]
    feeds_split: bool,
    /// For a profiler: scan the files under this folder 20 times with signature-base.
    #[arg(long)]
    profile_scan: Option<PathBuf>,
    /// Where the figures go.
    #[arg(long, default_value = "target/bench.json")]
    json: PathBuf,
    /// The size of the scan corpus, in MB (at most 2 with --smoke).
    #[arg(long, default_value_t = 512)]
    corpus_mb: usize,
    /// The third-party rule sets.
    #[arg(long, default_value = "../shared/rulesets")]
    rulesets: PathBuf,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

fn args() -> Args {
    let mut a = <Args as clap::Parser>::parse();
    if a.smoke {
        a.corpus_mb = a.corpus_mb.min(2);
    }
    a
}

fn main() -> anyhow::Result<()> {
    let args = args();
    let repeats = if args.smoke { 1 } else { 3 };

    if let Some(dir) = &args.profile_scan {
        return profile_scan(dir, &args.rulesets.join("signature-base"));
    }
    if args.feeds_profile || args.feeds_split {
        let corpus = corpus(args.corpus_mb * 1024 * 1024);
        let (report, file) = match args.feeds_split {
            true => (
                feeds_split::run(&args.rulesets, &corpus)?,
                "bench-feeds-split.json",
            ),
            false => (
                feeds_profile::run(&args.rulesets, &corpus)?,
                "bench-feeds-profile.json",
            ),
        };
        let path = args.json.with_file_name(file);
        std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
        eprintln!("wrote {}", path.display());
        return Ok(());
    }
    if args.feeds_only {
        let corpus = corpus(args.corpus_mb * 1024 * 1024);
        let report = json!({
            "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "smoke": args.smoke,
            "native_code_serialization": cfg!(feature = "native-rules"),
            "feeds": feeds::run(&args.rulesets, &corpus, args.smoke, repeats)?,
        });
        return finish(&report, &args.json);
    }
    let mut sets = vec![("embedded signatures/".to_string(), RuleSet::embedded()?)];
    for name in ["reversinglabs-yara-rules", "signature-base"] {
        let dir = args.rulesets.join(name);
        if args.smoke || !dir.is_dir() {
            continue;
        }
        let started = Instant::now();
        let (rules, skipped) = compile_dirs(&[dir], 0)?;
        eprintln!(
            "{name}: {} rules compiled in {:.1} s ({skipped} files skipped)",
            rules.iter().len(),
            started.elapsed().as_secs_f64()
        );
        let bytes = rules.serialize()?;
        sets.push((name.to_string(), RuleSet::from_serialized(&bytes)?));
    }
    let large = if sets.len() == 3 {
        Some(large_set(
            &args.rulesets,
            sets[1].1.len() + sets[2].1.len(),
        )?)
    } else {
        None
    };

    if args.startup_only {
        let report = json!({
            "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "smoke": args.smoke,
            "native_code_serialization": cfg!(feature = "native-rules"),
            "startup": startup(&sets, large.as_ref(), args.smoke)?,
        });
        return finish(&report, &args.json);
    }

    let corpus = corpus(args.corpus_mb * 1024 * 1024);
    let bytes: usize = corpus.iter().map(Vec::len).sum();
    eprintln!(
        "corpus: {} items, {:.1} MB",
        corpus.len(),
        bytes as f64 / 1e6
    );

    let mut throughput = Vec::new();
    for (name, set) in &sets {
        let engine = Engine::new(set.clone(), Duration::from_secs(600));
        let bare_rules = yara_x_rules(set)?;
        // Alternate the two so that machine noise hits both alike; keep the best of each.
        let (mut ours, mut bare) = (Duration::MAX, Duration::MAX);
        for _ in 0..repeats {
            bare = bare.min(time(|| {
                let mut scanner = yara_x::Scanner::new(&bare_rules);
                for item in &corpus {
                    let _ = scanner.scan(item).map(|r| r.matching_rules().len());
                }
            }));
            ours = ours.min(time(|| {
                for item in &corpus {
                    let _ = engine.scan_bytes(item);
                }
            }));
        }
        let mbps = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
        throughput.push(json!({
            "ruleset": name, "rules": set.len(),
            "ours_mb_s": round(mbps(ours)), "bare_yara_x_mb_s": round(mbps(bare)),
            "ratio": round(mbps(ours) / mbps(bare)), "target": 0.95,
        }));
    }

    let policies = policy_cost(&corpus, repeats)?;
    let tools = tools(&corpus, repeats)?;
    let per_object = per_object_cost(if args.smoke { 200 } else { 5000 })?;
    let startup = startup(&sets, large.as_ref(), args.smoke)?;
    // The feeds section writes its package under a RULES prefix on the emulator.
    let feeds = if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        feeds::run(&args.rulesets, &corpus, args.smoke, repeats)?
    } else {
        json!(null)
    };
    drop(corpus);
    // The pipeline and memory figures need the emulator: scripts/bench runs this under it.
    let (pipeline, memory) = if std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        let runtime = tokio::runtime::Runtime::new()?;
        let pipeline = runtime.block_on(pipeline_throughput(args.smoke))?;
        let memory = runtime.block_on(peak_memory(args.smoke))?;
        (pipeline, memory)
    } else {
        eprintln!(
            "AWS_ENDPOINT_URL not set: no pipeline or memory figures (scripts/bench sets it)"
        );
        (json!(null), json!(null))
    };

    let report = json!({
        "date": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "smoke": args.smoke,
        "native_code_serialization": cfg!(feature = "native-rules"),
        "corpus_bytes": bytes,
        "scan_throughput_single_core": throughput,
        "policy_cost": policies,
        "against_tools": tools,
        "per_object_fixed_cost": per_object,
        "startup": startup,
        "pipeline_on_emulator": pipeline,
        "peak_memory": memory,
        "feeds": feeds,
    });
    finish(&report, &args.json)
}

/// What the policies (true types, active content, the type mismatch) add to an inspection of
/// the corpus, each object walked as the pipeline walks it: with the defaults against none,
/// alternated, the best of each.
fn policy_cost(corpus: &[Vec<u8>], repeats: usize) -> anyhow::Result<serde_json::Value> {
    use s3_yara_scan::inspect::{self, Look};
    use s3_yara_scan::object::ObjectRef;
    use s3_yara_scan::policy::Policy;
    let engine = Engine::new(RuleSet::embedded()?, Duration::from_secs(600));
    let (rules, config) = (
        engine.rules(),
        s3_yara_scan::Config::new(s3_yara_scan::config::Action::Tag),
    );
    let budget = s3_yara_scan::store::Budget::memory(1 << 30);
    let walk = |policy: &Policy| {
        let look = Look {
            engine: &engine,
            rules: &rules,
            limits: &config.archive,
            policy,
            budget: &budget,
        };
        time(|| {
            for (i, item) in corpus.iter().enumerate() {
                let object = ObjectRef::new("bench", format!("objects/{i}.txt"));
                let _ = inspect::inspect(&look, item, &object, Duration::from_secs(600));
            }
        })
    };
    let (mut with, mut without) = (Duration::MAX, Duration::MAX);
    for _ in 0..repeats {
        without = without.min(walk(&Policy::OFF));
        with = with.min(walk(&Policy::default()));
    }
    let ms = |d: Duration| round(d.as_secs_f64() * 1000.0);
    Ok(json!({
        "objects": corpus.len(),
        "without_ms": ms(without), "with_defaults_ms": ms(with),
        "ratio": round(with.as_secs_f64() / without.as_secs_f64()), "target": 1.05,
    }))
}

fn finish(report: &serde_json::Value, json: &Path) -> anyhow::Result<()> {
    print_table(report);
    if let Some(dir) = json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(json, serde_json::to_string_pretty(report)?)?;
    eprintln!("wrote {}", json.display());
    Ok(())
}

/// Scans the files under `dir` 20 times with the rules under `rules`, through the pipeline's
/// scan path, for a profiler (`perf record`); prints the scan time.
fn profile_scan(dir: &Path, rules: &Path) -> anyhow::Result<()> {
    let (rules, _) = compile_dirs(&[rules.to_path_buf()], 0)?;
    let engine = Engine::new(RuleSet::new(rules, "profile"), Duration::from_secs(600));
    let files: Vec<Vec<u8>> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect();
    let bytes: usize = files.iter().map(Vec::len).sum();
    let d = time(|| {
        for _ in 0..20 {
            for f in &files {
                let _ = engine.scan_bytes(f);
            }
        }
    });
    eprintln!(
        "scanned {} files ({:.1} MB) 20 times in {:.2} s: {:.1} MB/s",
        files.len(),
        bytes as f64 / 1e6,
        d.as_secs_f64(),
        20.0 * bytes as f64 / 1e6 / d.as_secs_f64()
    );
    Ok(())
}

/// A fixed mix, the same every run: two samples that must be detected, then half files from
/// /usr/lib (sorted by path), a quarter pseudo-random bytes, a quarter text.
fn corpus(total: usize) -> Vec<Vec<u8>> {
    let mut items = vec![
        s3_yara_scan::scan::EICAR.as_bytes().to_vec(),
        b"<?php @eval($_POST['cmd']); ?>".to_vec(),
    ];
    let mut taken = 0;
    for entry in walkdir::WalkDir::new("/usr/lib")
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
    {
        if taken >= total / 2 {
            break;
        }
        let Ok(data) = std::fs::read(entry.path()) else {
            continue;
        };
        if data.is_empty() || data.len() > 8 * 1024 * 1024 {
            continue;
        }
        taken += data.len();
        items.push(data);
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let chunk = (1024 * 1024).min(total / 8).max(1024);
    while taken < total * 3 / 4 {
        items.push((0..chunk).map(|_| next() as u8).collect());
        taken += chunk;
    }
    let words = [
        "the",
        "invoice",
        "report",
        "quarterly",
        "data",
        "customer",
        "shipment",
        "total",
        "account",
        "summary",
        "<div>",
        "function",
        "return",
        "var",
        "GET",
    ];
    while taken < total {
        let mut text = Vec::with_capacity(chunk);
        while text.len() < chunk {
            text.extend_from_slice(words[(next() % words.len() as u64) as usize].as_bytes());
            text.push(if next() % 12 == 0 { b'\n' } else { b' ' });
        }
        taken += text.len();
        items.push(text);
    }
    items
}

/// The same files and the same (embedded) rules through the tools users run: our CLI, the
/// `yara` 4.x CLI and `clamscan`, each on one thread, each as a whole process (start-up
/// included). Tools not installed are reported as missing (`scripts/bench` installs them).
fn tools(corpus: &[Vec<u8>], repeats: usize) -> anyhow::Result<serde_json::Value> {
    let dir = PathBuf::from("target/bench-corpus");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    for (i, item) in corpus.iter().enumerate() {
        std::fs::write(dir.join(format!("{i:05}.bin")), item)?;
    }
    let rules = PathBuf::from("target/bench-rules.yar");
    let mut text = String::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir("signatures")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yar"))
        .collect();
    files.sort();
    for f in &files {
        text.push_str(&std::fs::read_to_string(f)?);
        text.push('\n');
    }
    std::fs::write(&rules, text)?;
    let ours = our_exe()?;
    let d = dir.to_string_lossy().into_owned();
    let r = rules.to_string_lossy().into_owned();
    let runs: [(&str, PathBuf, Vec<String>, &str); 3] = [
        (
            "s3-yara-scan scan",
            ours,
            vec!["scan".into(), d.clone()],
            "Infected",
        ),
        (
            "yara -p 1 -r",
            "yara".into(),
            vec!["-p".into(), "1".into(), "-r".into(), r, d.clone()],
            "",
        ),
        (
            "clamscan -d signatures/",
            "clamscan".into(),
            [
                "--no-summary",
                "--infected",
                "-d",
                "signatures/",
                "-r",
                "--max-filesize=2000M",
                "--max-scansize=2000M",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([d])
            .collect(),
            "FOUND",
        ),
    ];
    let mut out = Vec::new();
    let mut ours_secs = None;
    for (name, exe, argv, marker) in runs {
        let mut best = Duration::MAX;
        let mut detections = 0;
        let mut missing = false;
        for _ in 0..repeats {
            let started = Instant::now();
            match std::process::Command::new(&exe).args(&argv).output() {
                Ok(o) => {
                    best = best.min(started.elapsed());
                    let stdout = String::from_utf8_lossy(&o.stdout);
                    detections = stdout
                        .lines()
                        .filter(|l| l.contains(marker) && !l.is_empty())
                        .count();
                }
                Err(_) => {
                    missing = true;
                    break;
                }
            }
        }
        if missing {
            out.push(json!({"tool": name, "missing": true}));
            continue;
        }
        let secs = best.as_secs_f64();
        let ours = *ours_secs.get_or_insert(secs);
        out.push(
            json!({"tool": name, "seconds": round(secs), "detections": detections,
                        "times_slower_than_ours": round(secs / ours)}),
        );
    }
    Ok(json!(out))
}

/// Compiles every rule file under `dirs` (one namespace per file), with the external variables
/// signature-base expects, plus `generated` simple string rules; a file that does not compile is
/// skipped and counted.
fn compile_dirs(dirs: &[PathBuf], generated: usize) -> anyhow::Result<(yara_x::Rules, usize)> {
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        let mut found: Vec<PathBuf> = walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_map(Result::ok)
            .map(|e| e.into_path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yar" | "yara")))
            .collect();
        found.sort();
        files.extend(found);
    }
    let mut compiler = yara_x::Compiler::new();
    for ident in ["filename", "filepath", "extension", "filetype", "owner"] {
        compiler.define_global(ident, "")?;
    }
    let mut skipped = 0;
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap_or_default();
        let origin = file.display().to_string();
        compiler.new_namespace(&origin.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
        if compiler
            .add_source(yara_x::SourceCode::from(source.as_str()).with_origin(origin.as_str()))
            .is_err()
        {
            skipped += 1;
        }
    }
    if generated > 0 {
        compiler.new_namespace("generated");
        compiler.add_source(generated_rules(generated).as_str())?;
    }
    Ok((compiler.build(), skipped))
}

/// `n` simple rules, the same every run: two random 12-character strings each (one of them
/// also `wide`), matching if either occurs.
fn generated_rules(n: usize) -> String {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut word = || {
        (0..12)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                b"abcdefghijklmnopqrstuvwxyz0123456789"[(state % 36) as usize] as char
            })
            .collect::<String>()
    };
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "rule generated_{i:05} {{ strings: $a = \"{}\" $b = \"{}\" ascii wide condition: any of them }}\n",
            word(),
            word()
        ));
    }
    text
}

/// The ~10,000-rule set: reversinglabs and signature-base in one set, topped up with generated
/// string rules to 10,000 (`third_party` is how many rules the two compile to on their own).
struct LargeSet {
    serialized: Vec<u8>,
    rules: usize,
    third_party: usize,
    generated: usize,
    skipped_files: usize,
    compile_seconds: f64,
}

fn large_set(rulesets: &Path, third_party: usize) -> anyhow::Result<LargeSet> {
    let generated = 10_000usize.saturating_sub(third_party);
    let started = Instant::now();
    let (rules, skipped_files) = compile_dirs(
        &[
            rulesets.join("reversinglabs-yara-rules"),
            rulesets.join("signature-base"),
        ],
        generated,
    )?;
    let compile_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "10k set: {} rules ({third_party} third-party + {generated} generated) compiled in {compile_seconds:.1} s ({skipped_files} files skipped)",
        rules.iter().len()
    );
    Ok(LargeSet {
        serialized: rules.serialize()?,
        rules: rules.iter().len(),
        third_party,
        generated,
        skipped_files,
        compile_seconds,
    })
}

/// The same rules as `set`, as a plain yara-x value for the bare baseline.
fn yara_x_rules(set: &RuleSet) -> anyhow::Result<yara_x::Rules> {
    Ok(yara_x::Rules::deserialize(set.serialize()?)?)
}

/// Decoding a notification, a scanner for a tiny object, its scan, and the tag logic: what
/// each object costs besides S3's own latency.
fn per_object_cost(n: usize) -> anyhow::Result<serde_json::Value> {
    let engine = Engine::new(RuleSet::embedded()?, Duration::from_secs(10));
    let event: serde_json::Value =
        serde_json::from_str(include_str!("../../events/sqs-sns-s3-put.json"))?;
    let body = event["Records"][0]["body"]
        .as_str()
        .context("fixture body")?
        .to_owned();
    let keys = TagKeys::default();
    let user = vec![("owner".to_string(), "alice".to_string())];
    let started = Instant::now();
    for _ in 0..n {
        let decoded = decode_body(&body)?;
        let rules = engine.scan_bytes(b"a tiny object of a few bytes")?;
        let verdict = if rules.is_empty() {
            Verdict::Clean
        } else {
            Verdict::Infected(rules)
        };
        let tags = verdict.tags(&keys, engine.rules().id(), "2026-01-01T00:00:00Z");
        let merged = merge_tags(&user, tags, &keys, &verdict)?;
        std::hint::black_box((decoded, merged));
    }
    let us = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    Ok(json!({"objects": n, "microseconds_per_object": round(us), "target_microseconds": 1000}))
}

/// Start-up: deserializing each rule set (median of several runs, in this process, where
/// yara-x's WASM engine is already set up), building the SDK client, and the real binary from
/// exec to ready; with the ~10,000-rule set, an estimate of the binary's exec to ready with it.
fn startup(
    sets: &[(String, RuleSet)],
    large: Option<&LargeSet>,
    smoke: bool,
) -> anyhow::Result<serde_json::Value> {
    let deserialize_ms = |bytes: &[u8], runs: usize| -> anyhow::Result<f64> {
        let mut times = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            let rules = yara_x::Rules::deserialize(bytes)?;
            times.push(started.elapsed().as_secs_f64() * 1e3);
            drop(rules);
        }
        Ok(median(times))
    };
    let mut rows = Vec::new();
    let mut embedded_ms = 0.0;
    for (name, set) in sets {
        let bytes = set.serialize()?;
        let embedded = name.starts_with("embedded");
        let ms = deserialize_ms(
            &bytes,
            if smoke {
                1
            } else if embedded {
                9
            } else {
                3
            },
        )?;
        if embedded {
            embedded_ms = ms;
        }
        // Targets: 50 ms for the embedded rules, 1 s for a large third-party set.
        rows.push(
            json!({"ruleset": name, "rules": set.len(), "serialized_bytes": bytes.len(),
            "deserialize_ms": round(ms), "target_ms": if embedded { 50 } else { 1000 }}),
        );
    }
    let mut large_ms = None;
    if let Some(l) = large {
        let ms = deserialize_ms(&l.serialized, 3)?;
        large_ms = Some(ms);
        rows.push(json!({"ruleset": "10k: reversinglabs + signature-base + generated",
            "rules": l.rules, "third_party_rules": l.third_party, "generated_rules": l.generated,
            "skipped_files": l.skipped_files, "compile_seconds": round(l.compile_seconds),
            "serialized_bytes": l.serialized.len(), "deserialize_ms": round(ms), "target_ms": 1000}));
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = time(|| {
        runtime.block_on(async {
            let config = s3_yara_scan::Config::new(s3_yara_scan::Action::Tag);
            let _ = s3_yara_scan::Aws::load(&config).await.s3_store();
        })
    });

    // `handle` on a batch with no records: ACTION=tag makes no start-up S3 calls, so this is
    // exec, the embedded rules deserialized, the SDK client built, and exit.
    let event = PathBuf::from("target/bench-empty-event.json");
    std::fs::write(&event, r#"{"Records": []}"#)?;
    let runs = if smoke { 2 } else { 11 };
    let mut times = Vec::new();
    for i in 0..=runs {
        let mut cmd = std::process::Command::new(our_exe()?);
        cmd.arg("handle")
            .arg(&event)
            .env("ACTION", "tag")
            .env("RUST_LOG", "error")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(std::process::Stdio::null());
        if std::env::var_os("AWS_REGION").is_none() {
            cmd.env("AWS_REGION", "us-east-1");
        }
        let started = Instant::now();
        let out = cmd.output()?;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        anyhow::ensure!(
            out.status.success(),
            "handle on an empty batch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if i > 0 {
            times.push(ms); // the first run only warms the page cache
        }
    }
    let exec_ms = median(times);
    let estimate = large_ms.map(|l| {
        json!({"exec_to_ready_ms": round(exec_ms - embedded_ms + l), "target_ms": 1000,
               "how": "binary exec to ready − embedded deserialize + 10k deserialize (estimate)"})
    });
    Ok(json!({
        "rules": rows,
        "sdk_client_ms": round(client.as_secs_f64() * 1e3),
        "binary_exec_to_ready": {"runs": runs, "median_ms": round(exec_ms), "target_ms": 50,
            "what": "s3-yara-scan handle on an empty batch, ACTION=tag: exec, embedded rules, SDK client, exit"},
        "large_set_exec_to_ready_estimate": estimate,
    }))
}

fn our_exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe()?
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("s3-yara-scan"))
        .context("no exe dir")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

async fn emulator_s3() -> anyhow::Result<aws_sdk_s3::Client> {
    let shared = aws_config::load_from_env().await;
    let conf = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(true)
        .build();
    Ok(aws_sdk_s3::Client::from_conf(conf))
}

async fn put_objects(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    size: usize,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    use futures::StreamExt;
    let body = bytes::Bytes::from(vec![b'x'; size]);
    let keys: Vec<String> = (0..count).map(|i| format!("{prefix}/{i:05}")).collect();
    let puts = futures::stream::iter(keys.clone())
        .map(|key| {
            let req = s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(body.clone().into());
            async move { req.send().await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    for put in puts {
        put?;
    }
    Ok(keys)
}

/// Objects per second through the real handler against the emulator, with the time spent in
/// S3 calls reported apart from our own (scan) time, for three object sizes.
async fn pipeline_throughput(smoke: bool) -> anyhow::Result<serde_json::Value> {
    use futures::StreamExt;
    use s3_yara_scan::event::ObjectEvent;
    let s3 = emulator_s3().await?;
    let bucket = format!("bench-pipeline-{}", std::process::id());
    s3.create_bucket().bucket(&bucket).send().await?;
    let config = s3_yara_scan::Config {
        force_path_style: true,
        ..s3_yara_scan::Config::new(s3_yara_scan::Action::Tag)
    };
    let concurrency = config.concurrency;
    let engine = Engine::new(RuleSet::embedded()?, Duration::from_secs(60));
    let pipeline =
        s3_yara_scan::Pipeline::new(s3_yara_scan::S3Store::new(s3.clone()), engine, config);
    let mut rows = Vec::new();
    let sizes: [(&str, usize, usize); 3] = if smoke {
        [
            ("1 KB", 1024, 10),
            ("100 KB", 100 * 1024, 5),
            ("10 MB", 10 << 20, 1),
        ]
    } else {
        [
            ("1 KB", 1024, 300),
            ("100 KB", 100 * 1024, 200),
            ("10 MB", 10 << 20, 20),
        ]
    };
    for (label, size, count) in sizes {
        let keys = put_objects(&s3, &bucket, label, size, count).await?;
        let events: Vec<ObjectEvent> = keys
            .into_iter()
            .map(|key| ObjectEvent {
                object: s3_yara_scan::ObjectRef {
                    bucket: bucket.clone(),
                    key,
                    version_id: None,
                },
                size: Some(size as u64),
                etag: None,
                region: Some("us-east-1".into()),
                event_name: "ObjectCreated:Put".into(),
                sequencer: None,
                principal: None,
                owner: None,
            })
            .collect();
        let started = Instant::now();
        let outcomes: Vec<_> = futures::stream::iter(&events)
            .map(|e| s3_yara_scan::journey::settle(&pipeline, e))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let elapsed = started.elapsed().as_secs_f64();
        let failed = outcomes
            .iter()
            .filter(|o| !o.is_settled() || o.verdict.is_none())
            .count();
        let requests: u32 = outcomes.iter().map(|o| o.requests).sum();
        let s3_ms: f64 = outcomes
            .iter()
            .map(|o| o.timings.get_ms + o.timings.tag_ms + o.timings.action_ms)
            .sum();
        let scan_ms: f64 = outcomes.iter().map(|o| o.timings.scan_ms).sum();
        rows.push(json!({
            "size": label, "objects": count, "concurrency": concurrency, "failed": failed,
            "objects_per_second": round(count as f64 / elapsed),
            "mb_per_second": round((count * size) as f64 / elapsed / 1e6),
            "s3_ms_per_object": round(s3_ms / count as f64),
            "scan_ms_per_object": round(scan_ms / count as f64),
            "requests_per_object": round(requests as f64 / count as f64),
        }));
    }
    Ok(json!(rows))
}

/// Peak resident memory of `s3-yara-scan handle` on one object of each size: objects scanned
/// in memory, against the target of 1.1 × size + 100 MB, and one object over MAX_OBJECT_SIZE
/// that is spooled to SPOOL_DIR and scanned through a memory map.
///
/// The peak is GNU time's `%M`: the exec'd handler's own high-water mark. (`wait4` on a child
/// spawned straight from this process is not: Linux carries the parent's high-water mark,
/// hundreds of MB here, into the child's `ru_maxrss` across exec.) Without /usr/bin/time the
/// peak is the child's `VmHWM`, sampled. Anonymous and file-backed RSS are sampled from
/// /proc every few ms, to show how much of the peak is mapped file pages (page cache).
async fn peak_memory(smoke: bool) -> anyhow::Result<serde_json::Value> {
    let s3 = emulator_s3().await?;
    let bucket = format!("bench-memory-{}", std::process::id());
    s3.create_bucket().bucket(&bucket).send().await?;
    let exe = our_exe()?;
    const MIB: usize = 1 << 20;
    // (object size, MAX_OBJECT_SIZE)
    let cases: &[(usize, usize)] = if smoke {
        &[(MIB, 2 * MIB), (3 * MIB, MIB)]
    } else {
        &[
            (16 * MIB, 32 * MIB),
            (64 * MIB, 128 * MIB),
            (256 * MIB, 512 * MIB),
            (512 * MIB, 64 * MIB),
        ]
    };
    let gnu_time = Path::new("/usr/bin/time").is_file();
    let mut rows = Vec::new();
    for &(size, max_object_size) in cases {
        let spooled = size > max_object_size;
        let key = put_objects(&s3, &bucket, &format!("m{size}"), size, 1)
            .await?
            .remove(0);
        let body = json!({"Records": [{"eventName": "ObjectCreated:Put", "awsRegion": "us-east-1",
            "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": size}}}]});
        let event = json!({"Records": [{"messageId": "m1", "body": body.to_string(), "eventSource": "aws:sqs"}]});
        let file = PathBuf::from(format!("target/bench-memory-{size}.json"));
        std::fs::write(&file, event.to_string())?;
        let peak_file = PathBuf::from(format!("target/bench-memory-{size}.maxrss"));
        let mut cmd = if gnu_time {
            let mut c = std::process::Command::new("/usr/bin/time");
            c.arg("-f").arg("%M").arg("-o").arg(&peak_file).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        cmd.arg("handle")
            .arg(&file)
            .env("ACTION", "tag")
            .env("MAX_OBJECT_SIZE", max_object_size.to_string())
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let started = Instant::now();
        let mut child = cmd.spawn()?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let sampler = {
            let stop = stop.clone();
            let root = child.id();
            std::thread::spawn(move || sample_rss(root, gnu_time, &stop))
        };
        let status = child.wait()?;
        let seconds = started.elapsed().as_secs_f64();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let sampled = sampler.join().unwrap_or_default();
        anyhow::ensure!(status.success(), "handle failed on the {size}-byte object");
        let peak_kb = if gnu_time {
            let text = std::fs::read_to_string(&peak_file)?;
            text.lines()
                .rev()
                .find_map(|l| l.trim().parse::<u64>().ok())
                .context("no %M in GNU time's output")?
        } else {
            sampled.hwm_kb
        };
        // The object must have been scanned in full, not left Unscannable.
        let tags = s3
            .get_object_tagging()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await?;
        let result = tags
            .tag_set()
            .iter()
            .find(|t| t.key() == "scan-result")
            .map(|t| t.value().to_string())
            .unwrap_or_default();
        anyhow::ensure!(
            result == "Clean",
            "the {size}-byte object was tagged `{result}`, not Clean"
        );
        let mib = |kb: u64| round(kb as f64 / 1024.0);
        let size_mib = (size / MIB) as f64;
        let target = 1.1 * size_mib + 100.0;
        rows.push(json!({
            "object_mib": size_mib, "max_object_size_mib": (max_object_size / MIB) as f64,
            "mode": if spooled { "spooled to SPOOL_DIR, scanned through a map" } else { "in memory" },
            "seconds": round(seconds), "peak_rss_mib": mib(peak_kb),
            "peak_rss_method": if gnu_time { "GNU time %M" } else { "sampled VmHWM" },
            "sampled_peak_anon_mib": mib(sampled.anon_kb), "sampled_peak_file_mib": mib(sampled.file_kb),
            "target_mib": if spooled { json!(null) } else { json!(round(target)) },
            "met": if spooled { json!(null) } else { json!(peak_kb as f64 / 1024.0 <= target) },
        }));
    }
    Ok(json!(rows))
}

/// Highest values seen in /proc/PID/status, in KiB.
#[derive(Default)]
struct Sampled {
    hwm_kb: u64,
    anon_kb: u64,
    file_kb: u64,
}

/// Samples the handler's memory until `stop`: `root` itself, or its child when `root` is GNU
/// time.
fn sample_rss(root: u32, via_time: bool, stop: &std::sync::atomic::AtomicBool) -> Sampled {
    let mut peak = Sampled::default();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let pid = if via_time {
            std::fs::read_to_string(format!("/proc/{root}/task/{root}/children"))
                .ok()
                .and_then(|t| t.split_whitespace().next().map(str::to_owned))
        } else {
            Some(root.to_string())
        };
        if let Some(status) =
            pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
        {
            for line in status.lines() {
                let mut parts = line.split_whitespace();
                let (Some(field), Some(kb)) = (parts.next(), parts.next()) else {
                    continue;
                };
                let kb: u64 = kb.parse().unwrap_or(0);
                let slot = match field {
                    "VmHWM:" => &mut peak.hwm_kb,
                    "RssAnon:" => &mut peak.anon_kb,
                    "RssFile:" => &mut peak.file_kb,
                    _ => continue,
                };
                *slot = (*slot).max(kb);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    peak
}

fn time(f: impl FnOnce()) -> Duration {
    let started = Instant::now();
    f();
    started.elapsed()
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn print_table(report: &serde_json::Value) {
    if report["startup"].is_null() {
        feeds::print(&report["feeds"]);
        return;
    }
    if report["scan_throughput_single_core"].is_null() {
        print_startup(
            &report["startup"],
            report["native_code_serialization"] == true,
        );
        return;
    }
    println!(
        "\n| scan throughput, one core | rules | ours MB/s | bare yara-x MB/s | ratio (target ≥ 0.95) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for row in report["scan_throughput_single_core"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "| {} | {} | {} | {} | {} |",
            row["ruleset"], row["rules"], row["ours_mb_s"], row["bare_yara_x_mb_s"], row["ratio"]
        );
    }
    let p = &report["policy_cost"];
    println!(
        "\npolicies (types, mismatch, active content) over {} objects: {} ms with the defaults, \
         {} ms without: {} × (target ≤ 1.05)",
        p["objects"], p["with_defaults_ms"], p["without_ms"], p["ratio"]
    );
    println!(
        "\n| same files, same rules, one thread | seconds | detections | × our time (targets: yara ≥ 2, clamscan ≥ 10) |"
    );
    println!("| --- | --- | --- | --- |");
    for row in report["against_tools"].as_array().into_iter().flatten() {
        if row["missing"] == true {
            println!("| {} | not installed | | |", row["tool"]);
        } else {
            println!(
                "| {} | {} | {} | {} |",
                row["tool"], row["seconds"], row["detections"], row["times_slower_than_ours"]
            );
        }
    }
    let p = &report["per_object_fixed_cost"];
    println!(
        "\nper-object fixed cost (decode + scanner + tiny scan + tags): {} µs (target ≤ 1000 µs)",
        p["microseconds_per_object"]
    );
    print_startup(
        &report["startup"],
        report["native_code_serialization"] == true,
    );
    if let Some(rows) = report["pipeline_on_emulator"].as_array() {
        println!(
            "\n| pipeline on the emulator | objects | objects/s | MB/s | S3 ms/object | scan ms/object |"
        );
        println!("| --- | --- | --- | --- | --- | --- |");
        for r in rows {
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                r["size"],
                r["objects"],
                r["objects_per_second"],
                r["mb_per_second"],
                r["s3_ms_per_object"],
                r["scan_ms_per_object"]
            );
        }
    }
    if let Some(rows) = report["peak_memory"].as_array() {
        println!(
            "\n| object MiB | MAX_OBJECT_SIZE MiB | how | seconds | peak RSS MiB | sampled peak anon / file MiB | target MiB (1.1 × size + 100) |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- |");
        for r in rows {
            println!(
                "| {} | {} | {} | {} | {} | {} / {} | {} {} |",
                r["object_mib"],
                r["max_object_size_mib"],
                r["mode"],
                r["seconds"],
                r["peak_rss_mib"],
                r["sampled_peak_anon_mib"],
                r["sampled_peak_file_mib"],
                r["target_mib"],
                match r["met"].as_bool() {
                    Some(true) => "✓",
                    Some(false) => "✗",
                    None => "",
                }
            );
        }
    }
    feeds::print(&report["feeds"]);
}

fn print_startup(s: &serde_json::Value, native: bool) {
    println!(
        "\n| start-up ({}): deserialize rules | rules | bytes | ms (median) | target ms |",
        if native {
            "native-code-serialization"
        } else {
            "portable"
        }
    );
    println!("| --- | --- | --- | --- | --- |");
    for row in s["rules"].as_array().into_iter().flatten() {
        println!(
            "| {} | {} | {} | {} | {} |",
            row["ruleset"],
            row["rules"],
            row["serialized_bytes"],
            row["deserialize_ms"],
            row["target_ms"]
        );
    }
    println!("SDK client: {} ms", s["sdk_client_ms"]);
    let b = &s["binary_exec_to_ready"];
    println!(
        "binary exec to ready (embedded rules, median of {}): {} ms (target ≤ {} ms)",
        b["runs"], b["median_ms"], b["target_ms"]
    );
    let e = &s["large_set_exec_to_ready_estimate"];
    if !e.is_null() {
        println!(
            "10k-rule set exec to ready, estimated: {} ms (target ≤ {} ms)",
            e["exec_to_ready_ms"], e["target_ms"]
        );
    }
}
