//! False positives of a feed, through the binary on the emulator: a canary set of this
//! machine's benign files (`canaries`) under `<prefix>canary/`, a rule package served by a
//! local HTTP server, `feeds update`, then every canary handled as an upload with the feed in
//! force. The rules that fire on a canary are listed as made private (report and log), a kept
//! rule still makes an object `Infected`, and no canary is `Infected`.
//!
//! The full run (signature-base and reversinglabs from `../shared/rulesets/`, about 7,100
//! rules, against 42 canaries) takes minutes on the debug build: it is `#[ignore]`d (named in
//! `scripts/run_tests.py`'s `IGNORED`) and run by hand with `--ignored`; CI runs the small one
//! (a share of reversinglabs and rules made to fire on canaries the way the scanner sees them:
//! by type, by extension, inside a gzip stream).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use crate::canaries::{self, Canary};
use crate::cli::{run, text};
use crate::feeds::{KEY, MARKER_RULE, Server, delete, judged, wired, zip};
use crate::support::*;

const SIGNATURE_BASE: &str = "../shared/rulesets/signature-base";
const REVERSINGLABS: &str = "../shared/rulesets/reversinglabs-yara-rules";

/// Rules that fire on canaries only as the scanner sees them: by their type (an ELF program
/// or library), by their name (the `extension` external, with its dot) and inside a gzip
/// stream (a man page's section heading, in `/usr/share/man`'s `.gz` files).
const CANARY_RULES: &str = r#"
rule Canary_Elf { condition: uint32(0) == 0x464c457f }
rule Canary_Gz_Name { condition: extension == ".gz" }
rule Canary_Man_Page { strings: $a = "\n.SH " condition: $a }
"#;

/// The `.yar`/`.yara` files under `dirs`, every `step`-th one, by path.
fn rule_files(dirs: &[&str], step: usize) -> Vec<(String, Vec<u8>)> {
    let mut paths: Vec<PathBuf> = (dirs.iter())
        .flat_map(|dir| walkdir::WalkDir::new(dir).into_iter())
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "yara" || e == "yar"))
        .collect();
    paths.sort();
    assert!(paths.len() > 200, "the rule sets are at {dirs:?}");
    (paths.iter().step_by(step))
        .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
        .collect()
}

/// What `feeds update --json` said of the one feed: its rule count and the rules made private;
/// and its log.
struct Updated {
    count: u64,
    dropped: Vec<String>,
    log: String,
}

/// Serves `package` as a zip and runs `feeds update --json` into `rules`.
fn update(package: &[(String, Vec<u8>)], rules: &str) -> Updated {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("package.zip"), zip(package)).unwrap();
    let server = Server::start(dir.path());
    let feeds = format!("yara={}", server.url("package.zip"));
    let out = run(
        &["feeds", "update", "--json"],
        &[("RUST_LOG", "info"), ("FEEDS", &feeds), ("RULES", rules)],
    );
    let log = text(&out.stderr);
    assert!(out.status.success(), "{}\n{log}", text(&out.stdout));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let feed = &report[0];
    assert_eq!(feed["status"], "updated", "{report}");
    let dropped = (feed["dropped"].as_array().unwrap().iter())
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    Updated {
        count: feed["count"].as_u64().unwrap(),
        dropped,
        log,
    }
}

/// Puts `canaries` under `<prefix>canary/` of a new bucket: the `RULES` prefix.
async fn rules_prefix(emu: &Emulator, name: &str, canaries: &[Canary]) -> String {
    let bucket = unique(name);
    emu.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for c in canaries {
        emu.put(&bucket, &format!("team/canary/{}", c.key), c.bytes.clone())
            .await;
    }
    format!("s3://{bucket}/team/")
}

/// Uploads every canary to the protected bucket and runs `handle` once on all their
/// notifications with `RULES=rules`: each canary's `scan-result` and `scan-matches` tags.
async fn handled(
    emu: &Emulator,
    w: &Wiring,
    canaries: &[Canary],
    rules: &str,
) -> BTreeMap<String, (String, String)> {
    for c in canaries {
        emu.put(&w.bucket, &c.key, c.bytes.clone()).await;
    }
    let records = emu.notifications(w, canaries.len()).await;
    assert_eq!(records.len(), canaries.len(), "a notification per canary");
    for r in &records {
        delete(emu, w, r).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, serde_json::to_string(&batch(records)).unwrap()).unwrap();
    let env = [("ACTION", "tag"), ("RULES", rules), ("SIGNING_KEY", KEY)];
    let out = run(&["handle", file.to_str().unwrap()], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut verdicts = BTreeMap::new();
    for c in canaries {
        let tags = emu.tags(&w.bucket, &c.key, None).await;
        let map = tag_map(&tags);
        let get = |k: &str| map.get(k).map(|v| v.to_string()).unwrap_or_default();
        verdicts.insert(c.key.clone(), (get("scan-result"), get("scan-matches")));
    }
    verdicts
}

/// The update's made-private rules are in its log; no canary is `Infected` once the feed is
/// in force; a kept rule (the marker) makes an object `Infected`. The canaries' verdicts,
/// counted.
async fn check(
    emu: &Emulator,
    w: &Wiring,
    canaries: &[Canary],
    rules: &str,
    updated: &Updated,
) -> BTreeMap<String, usize> {
    assert!(
        !updated.dropped.iter().any(|n| n == "Feed_Marker"),
        "{:?}",
        updated.dropped
    );
    if !updated.dropped.is_empty() {
        assert!(
            updated
                .log
                .contains("rules that fired on a canary made private"),
            "{}",
            updated.log
        );
    }
    for name in &updated.dropped {
        assert!(updated.log.contains(name.as_str()), "{name} logged");
    }
    let (verdict, matches) = judged(emu, w, "marker.txt", b"x feed-marker-2c9e41 x", rules).await;
    assert_eq!(
        (verdict.as_str(), matches.as_str()),
        ("Infected", "Feed_Marker")
    );
    let verdicts = handled(emu, w, canaries, rules).await;
    let infected: Vec<_> = (verdicts.iter())
        .filter(|(_, (verdict, _))| verdict == "Infected")
        .collect();
    assert!(
        infected.is_empty(),
        "canaries Infected with the feed in force: {infected:?}"
    );
    let unjudged: Vec<_> = (verdicts.iter())
        .filter(|(_, (v, _))| v.is_empty())
        .collect();
    assert!(
        unjudged.is_empty(),
        "canaries without a verdict: {unjudged:?}"
    );
    let mut counted = BTreeMap::new();
    for (verdict, _) in verdicts.values() {
        *counted.entry(verdict.clone()).or_default() += 1;
    }
    counted
}

fn with_marker(mut files: Vec<(String, Vec<u8>)>, more: &str) -> Vec<(String, Vec<u8>)> {
    let rules = format!("{MARKER_RULE}\n{more}\n");
    files.push(("marker/marker.yar".into(), rules.into_bytes()));
    files
}

#[tokio::test]
async fn rules_firing_on_this_machines_canaries_as_the_scanner_sees_them_are_made_private() {
    let emu = emulator().await;
    let w = wired(&emu, "canaryset").await;
    let canaries = canaries::pick(2);
    let rules = rules_prefix(&emu, "canarysetrules", &canaries).await;
    let package = with_marker(rule_files(&[REVERSINGLABS], 4), CANARY_RULES);

    let updated = update(&package, &rules);
    for name in ["Canary_Elf", "Canary_Gz_Name", "Canary_Man_Page"] {
        assert!(
            updated.dropped.iter().any(|n| n == name),
            "{name} fires on a canary: {:?}",
            updated.dropped
        );
    }
    check(&emu, &w, &canaries, &rules, &updated).await;
}

#[tokio::test]
#[ignore = "minutes on the debug build: run by hand with --ignored (scripts/run_tests.py IGNORED)"]
async fn signature_base_and_reversinglabs_against_this_machines_canaries() {
    let started = Instant::now();
    let emu = emulator().await;
    let w = wired(&emu, "canaryfull").await;
    let canaries = canaries::pick(6);
    let bytes: usize = canaries.iter().map(|c| c.bytes.len()).sum();
    let rules = rules_prefix(&emu, "canaryfullrules", &canaries).await;
    let package = with_marker(rule_files(&[SIGNATURE_BASE, REVERSINGLABS], 1), "");

    let updated = update(&package, &rules);
    let update_time = started.elapsed();
    assert!(updated.count > 7000, "{}", updated.count);
    let verdicts = check(&emu, &w, &canaries, &rules, &updated).await;
    eprintln!(
        "canaries: {} files, {bytes} bytes; {} rules; made private: {:?}; verdicts {verdicts:?}; \
         update {update_time:?}, in all {:?}",
        canaries.len(),
        updated.count,
        updated.dropped,
        started.elapsed()
    );
}
