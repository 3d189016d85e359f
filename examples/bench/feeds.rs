//! The feeds section (issue 25): a feed-sized rule package taken through the path a
//! deployment's takes, then measured beside the embedded rules alone, in the same run.
//!
//! The package is the third-party sets under `--rulesets` (ReversingLabs and signature-base,
//! ~7k rules), packed as a tar.gz as YARA Forge publishes its release asset; with `--smoke`, a
//! few generated rules. `feeds::update` unpacks it, compiles it with the scanner's externals,
//! checks it against canaries and writes it under the RULES prefix on the emulator; the
//! function's cold start (`lambda::pipeline`) then loads it with the RULES loader: the first
//! compiles it and writes the compiled cache, every later one deserializes the cache. Figures:
//! that cold start (in process and the real binary from exec to ready) and its first scan
//! against the embedded-only start-up (target ≤ 1 s), and the inspection path's throughput on
//! the bench's corpus with the feed in force against the embedded rules alone (target ≥ 0.9 ×).

use std::path::Path;
use std::time::{Duration, Instant};

use s3_yara_scan::config::Feed;
use s3_yara_scan::feeds::{self, FeedError, Source};
use s3_yara_scan::{Aws, Config, Engine, Pipeline, RuleSet, S3Store};
use serde_json::json;

use crate::{median, our_exe, round, time};

/// The prefix RULES watches, in the section's bucket.
const RULES_PREFIX: &str = "rules/";
/// Where the package is "downloaded" from: only its name matters (it names the feed's object).
const FEED_URL: &str = "https://feeds.invalid/bench-rulesets.tar.gz";
/// The signing key of the section's function: without one there is no compiled cache.
const SIGNING_KEY: &str = "bench-feeds-signing-key-of-at-least-32-bytes";
/// Cold start target, with a feed-sized set.
const TARGET_MS: f64 = 1000.0;
/// Throughput target, with the feed against without.
const TARGET_RATIO: f64 = 0.9;

/// The package, served from memory as a download would be.
struct Served(Vec<u8>);

impl Source for Served {
    async fn fetch(&self, _feed: &Feed, limit: u64) -> Result<Vec<u8>, FeedError> {
        if self.0.len() as u64 > limit {
            return Err(FeedError::Download {
                reason: format!("{} bytes is over FEEDS_MAX_SIZE", self.0.len()),
            });
        }
        Ok(self.0.clone())
    }
}

/// The section: the update, the cold starts, the throughput. Needs the emulator.
pub fn run(
    rulesets: &Path,
    corpus: &[Vec<u8>],
    smoke: bool,
    repeats: usize,
) -> anyhow::Result<serde_json::Value> {
    let runtime = tokio::runtime::Runtime::new()?;
    let bucket = format!("bench-feeds-{}", std::process::id());
    let (package, files) = package(rulesets, smoke)?;
    let update = runtime.block_on(update(&bucket, &package, &corpus[2.min(corpus.len())..]))?;
    let starts = runtime.block_on(cold_starts(&bucket, if smoke { 1 } else { 3 }))?;
    let binary = exec_to_ready(&bucket, if smoke { 1 } else { 5 })?;
    let throughput = throughput(corpus, starts.feed.engine(), repeats)?;
    Ok(json!({
        "package": {"files": files, "tar_gz_bytes": package.len(), "url": FEED_URL},
        "update": update,
        "cold_start": starts.figures,
        "binary_exec_to_ready": binary,
        "throughput": throughput,
    }))
}

/// The rule files of the third-party sets as one tar.gz, and how many files it holds.
fn package(rulesets: &Path, smoke: bool) -> anyhow::Result<(Vec<u8>, usize)> {
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut add = |name: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
    };
    let mut files = 0;
    if smoke {
        add("generated/rules.yar", crate::generated_rules(20).as_bytes())?;
        files += 1;
    } else {
        for set in ["reversinglabs-yara-rules", "signature-base"] {
            for path in crate::feeds_profile::rule_files(rulesets, set) {
                let name = path.strip_prefix(rulesets)?.to_string_lossy().into_owned();
                add(&name, &std::fs::read(&path)?)?;
                files += 1;
            }
        }
    }
    anyhow::ensure!(files > 0, "no rule files under {}", rulesets.display());
    Ok((tar.into_inner()?.finish()?, files))
}

/// The settings of the section's function: its RULES prefix, the feed, the signing key; the
/// rest from the environment (the emulator's endpoint).
fn config(bucket: &str, with_rules: bool) -> anyhow::Result<Config> {
    let rules = format!("s3://{bucket}/{RULES_PREFIX}");
    let feed = format!("yara={FEED_URL}");
    Ok(Config::from_lookup(|name| match name {
        "ACTION" => Some("tag".into()),
        "RULES" => with_rules.then(|| rules.clone()),
        "FEEDS" => Some(feed.clone()),
        "SIGNING_KEY" => Some(SIGNING_KEY.into()),
        _ => std::env::var(name).ok(),
    })?)
}

/// The feed update: canaries (benign corpus files) put under the prefix, then `feeds::update`
/// with the package as its download.
async fn update(
    bucket: &str,
    package: &[u8],
    benign: &[Vec<u8>],
) -> anyhow::Result<serde_json::Value> {
    let s3 = crate::emulator_s3().await?;
    s3.create_bucket().bucket(bucket).send().await?;
    let canaries = &benign[..benign.len().min(8)];
    for (i, bytes) in canaries.iter().enumerate() {
        let key = format!("{RULES_PREFIX}{}{i:02}.bin", feeds::CANARY_FOLDER);
        let body = bytes::Bytes::from(bytes.clone());
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await?;
    }
    let config = config(bucket, true)?;
    let target = feeds::Target::choose(None, &config.rules)?;
    let store = S3Store::new(s3);
    let started = Instant::now();
    let reports = feeds::update(&store, &Served(package.to_vec()), &config, &target).await;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        reports.iter().all(|r| r.in_force()),
        "the feed was refused: {reports:?}"
    );
    eprintln!("feeds: update in {seconds:.1} s: {}", reports[0].line());
    Ok(json!({"seconds": round(seconds), "canaries": canaries.len(), "reports": reports}))
}

/// Cold starts in process, each `lambda::pipeline` as the function runs it; the pipeline of
/// the last one from the cache is kept for the throughput.
struct ColdStarts {
    figures: serde_json::Value,
    feed: Pipeline<S3Store>,
}

async fn cold_starts(bucket: &str, runs: usize) -> anyhow::Result<ColdStarts> {
    let (compiled_ms, first) = start(bucket, true).await?;
    anyhow::ensure!(
        first.engine().rules().sets().len() == 2,
        "no feed set in force"
    );
    drop(first);
    let (mut cached, mut embedded, mut scans, mut embedded_scans) =
        (vec![], vec![], vec![], vec![]);
    let mut feed = None;
    for _ in 0..runs {
        let (ms, pipeline) = start(bucket, true).await?;
        cached.push(ms);
        scans.push(first_scan(pipeline.engine())?);
        feed = Some(pipeline);
        let (ms, pipeline) = start(bucket, false).await?;
        embedded.push(ms);
        embedded_scans.push(first_scan(pipeline.engine())?);
    }
    let feed = feed.ok_or_else(|| anyhow::anyhow!("no cold start run"))?;
    let (cache_bytes, deserialize_ms) = deserialize_cache(bucket, runs).await?;
    let embedded_deserialize_ms = median(
        (0..runs)
            .map(|_| time_ms(|| drop(RuleSet::embedded())))
            .collect(),
    );
    let sets = feed.engine().rules();
    let (from_cache, first_scan) = (median(cached), median(scans));
    let feed_rules = sets.sets().get(1).map(RuleSet::len);
    let figures = json!({
        "rules": sets.len(), "feed_rules": feed_rules, "runs": runs,
        "first_after_update_compiles_ms": round(compiled_ms),
        "from_cache_ms": round(from_cache), "embedded_only_ms": round(median(embedded)),
        "cache_bytes": cache_bytes, "deserialize_ms": round(deserialize_ms),
        "embedded_deserialize_ms": round(embedded_deserialize_ms),
        "first_scan_ms": round(first_scan), "embedded_first_scan_ms": round(median(embedded_scans)),
        "target_ms": TARGET_MS, "met": from_cache + first_scan <= TARGET_MS,
        "what": "lambda::pipeline in process (SDK client, RULES listed, cache read from the \
                 emulator, MAC checked, deserialized), medians; first scan: a 28-byte object, \
                 the thread's scanners set up",
    });
    Ok(ColdStarts { figures, feed })
}

/// One cold start of the function in this process: its milliseconds, and the pipeline.
async fn start(bucket: &str, with_rules: bool) -> anyhow::Result<(f64, Pipeline<S3Store>)> {
    let config = config(bucket, with_rules)?;
    let started = Instant::now();
    let aws = Aws::load(&config).await;
    let pipeline = s3_yara_scan::lambda::pipeline(&aws, config).await?;
    Ok((started.elapsed().as_secs_f64() * 1e3, pipeline))
}

/// The first scan after a cold start: a tiny object, the scanners of this thread set up.
fn first_scan(engine: &Engine) -> anyhow::Result<f64> {
    let started = Instant::now();
    engine.scan_bytes(b"a tiny object of a few bytes")?;
    Ok(started.elapsed().as_secs_f64() * 1e3)
}

/// The compiled cache the loader wrote: its size, and yara-x's deserialize time alone.
async fn deserialize_cache(bucket: &str, runs: usize) -> anyhow::Result<(usize, f64)> {
    let s3 = crate::emulator_s3().await?;
    let prefix = format!("{RULES_PREFIX}{}", s3_yara_scan::rules::CACHE_FOLDER);
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&prefix)
        .send()
        .await?;
    let key = (listed.contents().first())
        .and_then(|o| o.key())
        .ok_or_else(|| anyhow::anyhow!("no compiled cache under {prefix}"))?;
    let object = s3.get_object().bucket(bucket).key(key).send().await?;
    let bytes = object.body.collect().await?.into_bytes();
    let (_, body) = s3_yara_scan::scan::serialized::split(&bytes)?;
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let rules = yara_x::Rules::deserialize(body)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        drop(rules);
    }
    Ok((bytes.len(), median(times)))
}

fn time_ms(f: impl FnOnce()) -> f64 {
    time(f).as_secs_f64() * 1e3
}

/// The real binary, `handle` on an empty batch, with the feed in force (its cache read from
/// the emulator) and without RULES: medians of `runs` after one unmeasured run each.
fn exec_to_ready(bucket: &str, runs: usize) -> anyhow::Result<serde_json::Value> {
    let event = std::path::PathBuf::from("target/bench-empty-event.json");
    std::fs::write(&event, r#"{"Records": []}"#)?;
    let run = |rules: Option<String>| -> anyhow::Result<f64> {
        let mut times = Vec::new();
        for i in 0..=runs {
            let mut cmd = std::process::Command::new(our_exe()?);
            cmd.arg("handle")
                .arg(&event)
                .env("ACTION", "tag")
                .env("SIGNING_KEY", SIGNING_KEY)
                .env("RUST_LOG", "error")
                .stdout(std::process::Stdio::null());
            if let Some(rules) = &rules {
                cmd.env("RULES", rules);
            }
            let started = Instant::now();
            let out = cmd.output()?;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            anyhow::ensure!(
                out.status.success(),
                "handle failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if i > 0 {
                times.push(ms);
            }
        }
        Ok(median(times))
    };
    let with_feed = run(Some(format!("s3://{bucket}/{RULES_PREFIX}")))?;
    let embedded = run(None)?;
    Ok(json!({
        "runs": runs, "with_feed_ms": round(with_feed), "embedded_only_ms": round(embedded),
        "target_ms": TARGET_MS, "met": with_feed <= TARGET_MS,
        "what": "s3-yara-scan handle on an empty batch, ACTION=tag: exec, embedded rules, SDK \
                 client, RULES listed and its compiled cache read from the emulator, exit",
    }))
}

/// The corpus inspected as objects are (`inspect::inspect`, the policies at their defaults)
/// with the feed in force and with the embedded rules alone, alternated, the best of each.
fn throughput(
    corpus: &[Vec<u8>],
    with_feed: &Engine,
    repeats: usize,
) -> anyhow::Result<serde_json::Value> {
    let embedded = Engine::new(RuleSet::embedded()?, Duration::from_secs(600));
    let (mut with, mut without) = (Duration::MAX, Duration::MAX);
    for _ in 0..repeats {
        without = without.min(inspect_all(corpus, &embedded));
        with = with.min(inspect_all(corpus, with_feed));
    }
    let bytes: usize = corpus.iter().map(Vec::len).sum();
    let mbps = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    let ratio = mbps(with) / mbps(without);
    Ok(json!({
        "objects": corpus.len(), "bytes": bytes,
        "rules_with_feed": with_feed.rules().len(), "rules_embedded": embedded.rules().len(),
        "with_feed_mb_s": round(mbps(with)), "embedded_only_mb_s": round(mbps(without)),
        "ratio": round(ratio), "target": TARGET_RATIO, "met": ratio >= TARGET_RATIO,
    }))
}

/// Inspects every object of the corpus with `engine`'s rules: its time.
fn inspect_all(corpus: &[Vec<u8>], engine: &Engine) -> Duration {
    use s3_yara_scan::inspect::{self, Look};
    use s3_yara_scan::object::ObjectRef;
    let config = Config::new(s3_yara_scan::Action::Tag);
    let (rules, budget) = (engine.rules(), s3_yara_scan::store::Budget::memory(1 << 30));
    let look = Look {
        engine,
        rules: &rules,
        limits: &config.archive,
        policy: &config.policy,
        budget: &budget,
    };
    time(|| {
        for (i, item) in corpus.iter().enumerate() {
            let object = ObjectRef::new("bench", format!("objects/{i}.bin"));
            let _ = inspect::inspect(&look, item, &object, Duration::from_secs(600));
        }
    })
}

/// The section's lines of the table.
pub fn print(f: &serde_json::Value) {
    if f.is_null() {
        return;
    }
    let (c, b, t) = (
        &f["cold_start"],
        &f["binary_exec_to_ready"],
        &f["throughput"],
    );
    println!(
        "\nfeeds: a package of {} files ({} bytes tar.gz), update {} s; {} rules in force ({} of the feed)",
        f["package"]["files"],
        f["package"]["tar_gz_bytes"],
        f["update"]["seconds"],
        c["rules"],
        c["feed_rules"]
    );
    println!("\n| feeds: cold start | with the feed | embedded only | target |");
    println!("| --- | --- | --- | --- |");
    println!(
        "| deserialize ms | {} ({} bytes) | {} | |",
        c["deserialize_ms"], c["cache_bytes"], c["embedded_deserialize_ms"]
    );
    println!(
        "| lambda::pipeline in process, ms | {} (first after the update, compiling: {}) | {} | ≤ {} |",
        c["from_cache_ms"],
        c["first_after_update_compiles_ms"],
        c["embedded_only_ms"],
        c["target_ms"]
    );
    println!(
        "| first scan ms | {} | {} | |",
        c["first_scan_ms"], c["embedded_first_scan_ms"]
    );
    println!(
        "| binary exec → ready ms | {} | {} | ≤ {} |",
        b["with_feed_ms"], b["embedded_only_ms"], b["target_ms"]
    );
    println!(
        "\nfeeds: inspection of {} objects ({} bytes): {} MB/s with the feed ({} rules), {} MB/s embedded only ({} rules): {} × (target ≥ {})",
        t["objects"],
        t["bytes"],
        t["with_feed_mb_s"],
        t["rules_with_feed"],
        t["embedded_only_mb_s"],
        t["rules_embedded"],
        t["ratio"],
        t["target"]
    );
}
