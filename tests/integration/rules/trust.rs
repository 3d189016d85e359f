//! The rules' trust boundary, through the binary on the emulator: the compiled cache is
//! authenticated before yara-x sees a byte of it (a swapped, unauthenticated, patched or
//! truncated cache is ignored, logged at error and rewritten), there is no cache at all without
//! a signing key, a `.yarc` under an S3 source loads only when `RULES_YARC_SHA256` pins it, and
//! `rules check` says what a `.yarc` holds.

use std::path::Path;
use std::process::Output;

use pretty_assertions::assert_eq;
use s3_yara_scan::rules::{CACHE_FOLDER, TARGET};
use sha2::{Digest, Sha256};

use super::{TEAM_RULE, keys, rules_bucket};
use crate::cli::{run, text};
use crate::support::*;

/// The signing key of these runs (`SIGNING_KEY`, as for local runs).
const KEY: &str = "rules-cache-test-key-0123456789abcdef";
/// A rule that never matches: a set that silently disables detection.
const NEVER_RULE: &str = "rule never { condition: false }";
/// What `TEAM_RULE` finds.
const MARKER: &str = "x team-marker-51c2 x";
/// A start-up that stops before any record is read needs only a well-formed event.
const SAMPLE_EVENT: &str = "events/sqs-sns-s3-put.json";

/// Uploads `body` to `w` as `key` and runs `handle` on its notification with `env` (besides
/// `ACTION=tag` and logs at info): the run's output, and the `scan-matches` tag written.
async fn scan_upload(
    emu: &Emulator,
    w: &Wiring,
    key: &str,
    body: &str,
    env: &[(&str, &str)],
) -> (Output, Option<String>) {
    emu.put(&w.bucket, key, body).await;
    let records = emu.notifications(w, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, serde_json::to_string(&batch(records)).unwrap()).unwrap();
    let out = handle(file.to_str().unwrap(), env);
    assert!(out.status.success(), "{key}: {}", text(&out.stderr));
    let tags = emu.tags(&w.bucket, key, None).await;
    assert!(
        tag_map(&tags).contains_key("scan-result"),
        "{key} was judged: {tags:?}"
    );
    (
        out,
        tag_map(&tags).get("scan-matches").map(|m| m.to_string()),
    )
}

fn handle(event: &str, env: &[(&str, &str)]) -> Output {
    let mut all = vec![("ACTION", "tag"), ("RUST_LOG", "info")];
    all.extend_from_slice(env);
    run(&["handle", event], &all)
}

/// The keys under `prefix`'s cache folder.
async fn caches(emu: &Emulator, bucket: &str, prefix: &str) -> Vec<String> {
    let folder = format!("{prefix}{CACHE_FOLDER}");
    let mut all: Vec<String> = keys(emu, bucket)
        .await
        .into_iter()
        .filter(|k| k.starts_with(&folder))
        .collect();
    all.sort();
    all
}

/// The one cache of `prefix`.
async fn the_cache(emu: &Emulator, bucket: &str, prefix: &str) -> String {
    let all = caches(emu, bucket, prefix).await;
    assert_eq!(all.len(), 1, "one cache under {prefix}: {all:?}");
    all[0].clone()
}

async fn body(emu: &Emulator, bucket: &str, key: &str) -> Vec<u8> {
    let got = emu
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    got.body.collect().await.unwrap().into_bytes().to_vec()
}

/// The lines the run logged at `level` (`ERROR`, `WARN`).
fn logged(out: &Output, level: &str) -> Vec<String> {
    let pad = format!(" {level} ");
    text(&out.stderr)
        .lines()
        .filter(|l| l.contains(&pad))
        .map(str::to_owned)
        .collect()
}

/// The run logged at error that the cache `key` was refused, and never said it loaded it.
fn assert_refused(out: &Output, key: &str, case: &str) {
    let errors = logged(out, "ERROR");
    assert!(
        errors.iter().any(|l| l.contains(key)),
        "{case}: no error naming {key}:\n{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("rule set loaded from its cache"),
        "{case}: {}",
        text(&out.stderr)
    );
}

/// Bytes no one can predict a meaning for: a SHA-256 chain.
fn noise(len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut block = Sha256::digest(b"noise").to_vec();
    while out.len() < len {
        block = Sha256::digest(&block).to_vec();
        out.extend_from_slice(&block);
    }
    out.truncate(len);
    out
}

/// (a) The cache of another set (`rule never`), valid and written by the function itself with
/// the same key, put where the team's set's cache is looked for: refused, logged at error,
/// rewritten; the team's rule still detects, and the next cold start loads the good cache.
#[tokio::test]
async fn a_swapped_cache_is_refused_logged_and_rewritten() {
    let emu = emulator().await;
    let files = [
        ("team/team.yar", TEAM_RULE),
        ("other/never.yar", NEVER_RULE),
    ];
    let (bucket, _) = rules_bucket(&emu, &files).await;
    let w = emu.wire("cacheswap", Options::default()).await;
    let (team, other) = (
        format!("s3://{bucket}/team/"),
        format!("s3://{bucket}/other/"),
    );
    let env = |rules: &str| [("RULES", rules.to_owned()), ("SIGNING_KEY", KEY.to_owned())];
    let team_env = env(&team);
    let team_env: Vec<(&str, &str)> = team_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let other_env = env(&other);
    let other_env: Vec<(&str, &str)> = other_env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let (out, found) = scan_upload(&emu, &w, "a.txt", MARKER, &team_env).await;
    assert_eq!(
        found.as_deref(),
        Some("Team_Marker"),
        "{}",
        text(&out.stderr)
    );
    scan_upload(&emu, &w, "b.txt", "fine", &other_env).await;
    let team_cache = the_cache(&emu, &bucket, "team/").await;
    let swapped = body(&emu, &bucket, &the_cache(&emu, &bucket, "other/").await).await;

    emu.put(&bucket, &team_cache, swapped.clone()).await;
    let (out, found) = scan_upload(&emu, &w, "c.txt", MARKER, &team_env).await;
    assert_eq!(
        found.as_deref(),
        Some("Team_Marker"),
        "{}",
        text(&out.stderr)
    );
    assert_refused(&out, &team_cache, "swapped");
    assert_ne!(body(&emu, &bucket, &team_cache).await, swapped, "rewritten");

    let (out, found) = scan_upload(&emu, &w, "d.txt", MARKER, &team_env).await;
    assert_eq!(found.as_deref(), Some("Team_Marker"));
    assert_eq!(logged(&out, "ERROR"), Vec::<String>::new());
    assert!(
        text(&out.stderr).contains("rule set loaded from its cache"),
        "{}",
        text(&out.stderr)
    );
}

/// (b) A cache without the function's MAC, or whose bytes changed after it was written, is
/// never handed to yara-x: serialized rules of `rule never` as yara-x writes them, noise, the
/// good cache with one byte flipped, with the team's marker patched, or cut in half.
#[tokio::test]
async fn an_unauthenticated_or_patched_cache_is_never_loaded() {
    let emu = emulator().await;
    let (bucket, source) = rules_bucket(&emu, &[("team/team.yar", TEAM_RULE)]).await;
    let w = emu.wire("cachepatch", Options::default()).await;
    let rules = source.to_string();
    let env = [("RULES", rules.as_str()), ("SIGNING_KEY", KEY)];
    scan_upload(&emu, &w, "first.txt", MARKER, &env).await;
    let cache = the_cache(&emu, &bucket, "team/").await;
    let good = body(&emu, &bucket, &cache).await;

    let never = yara_x::compile(NEVER_RULE).unwrap().serialize().unwrap();
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let marker = b"team-marker-51c2";
    let at = good
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("the pattern is in the cache");
    let mut patched = good.clone();
    patched[at + marker.len() - 1] = b'3';
    let cases = [
        ("yara-x bytes without a MAC", never),
        ("noise", noise(good.len())),
        ("one byte flipped", flipped),
        ("the pattern patched", patched),
        ("truncated", good[..good.len() / 2].to_vec()),
    ];
    for (n, (case, bytes)) in cases.into_iter().enumerate() {
        emu.put(&bucket, &cache, bytes.clone()).await;
        let key = format!("{n}.txt");
        let (out, found) = scan_upload(&emu, &w, &key, MARKER, &env).await;
        assert_eq!(found.as_deref(), Some("Team_Marker"), "{case}");
        assert_refused(&out, &cache, case);
        assert_ne!(
            body(&emu, &bucket, &cache).await,
            bytes,
            "{case}: rewritten"
        );
        assert_eq!(
            caches(&emu, &bucket, "team/").await,
            std::slice::from_ref(&cache),
            "{case}"
        );
    }
}

/// (d) Without a signing key nothing can authenticate a cache: none is read or written. The
/// start-up says once which setting gives one; every cold start compiles.
#[tokio::test]
async fn without_a_signing_key_no_cache_is_read_or_written() {
    let emu = emulator().await;
    let (bucket, source) = rules_bucket(&emu, &[("team/team.yar", TEAM_RULE)]).await;
    let w = emu.wire("cachenokey", Options::default()).await;
    let rules = source.to_string();
    scan_upload(
        &emu,
        &w,
        "keyed.txt",
        MARKER,
        &[("RULES", &rules), ("SIGNING_KEY", KEY)],
    )
    .await;
    let cache = the_cache(&emu, &bucket, "team/").await;
    // Whatever lies there now would be refused (and rewritten) if it were read.
    let planted = noise(4096);
    emu.put(&bucket, &cache, planted.clone()).await;

    for run in ["first", "second"] {
        let key = format!("{run}.txt");
        let (out, found) = scan_upload(&emu, &w, &key, MARKER, &[("RULES", &rules)]).await;
        let stderr = text(&out.stderr);
        assert_eq!(found.as_deref(), Some("Team_Marker"), "{run}: {stderr}");
        assert!(stderr.contains("rule set compiled"), "{run}: {stderr}");
        let said = logged(&out, "WARN");
        let said: Vec<&String> = said
            .iter()
            .filter(|l| l.contains("SIGNING_KEY_SECRET"))
            .collect();
        assert_eq!(said.len(), 1, "{run}: said once: {stderr}");
        assert!(
            !stderr.contains(&cache),
            "{run}: the cache was looked at: {stderr}"
        );
        assert_eq!(
            caches(&emu, &bucket, "team/").await,
            std::slice::from_ref(&cache),
            "{run}"
        );
        assert_eq!(
            body(&emu, &bucket, &cache).await,
            planted,
            "{run}: not rewritten"
        );
    }
}

/// Builds `rules` (file name, text) with `rules build` into `dir/name`; its bytes.
fn build(dir: &Path, name: &str, rules: &[(&str, &str)]) -> Vec<u8> {
    let src = dir.join(format!("{name}-src"));
    std::fs::create_dir_all(&src).unwrap();
    for (file, text) in rules {
        std::fs::write(src.join(file), text).unwrap();
    }
    let out_path = dir.join(name);
    let args = [
        "rules",
        "build",
        src.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ];
    let out = run(&args, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::read(out_path).unwrap()
}

/// (c) A `.yarc` under an S3 source carries native code the function would run: the start-up
/// refuses it, naming the file, its digest and the setting, unless `RULES_YARC_SHA256` pins
/// exactly its bytes; pinned, it loads and judges.
#[tokio::test]
async fn a_yarc_in_s3_loads_only_when_pinned() {
    let emu = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let yarc = build(dir.path(), "team.yarc", &[("team.yar", TEAM_RULE)]);
    let digest = hex::encode(Sha256::digest(&yarc));
    let (bucket, _) = rules_bucket(&emu, &[]).await;
    emu.put(&bucket, "yarc/team.yarc", yarc).await;
    let rules = format!("s3://{bucket}/yarc/");
    let other = hex::encode(Sha256::digest(b"another build"));

    for pins in ["", other.as_str()] {
        let out = handle(
            SAMPLE_EVENT,
            &[("RULES", &rules), ("RULES_YARC_SHA256", pins)],
        );
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "pins `{pins}`: {stderr}");
        for named in ["yarc/team.yarc", digest.as_str(), "RULES_YARC_SHA256"] {
            assert!(
                stderr.contains(named),
                "pins `{pins}`: {named} not in {stderr}"
            );
        }
    }

    let w = emu.wire("yarcpin", Options::default()).await;
    // Any letter case, among other digests.
    let pins = format!("{other}, {}", digest.to_uppercase());
    let env = [
        ("RULES", rules.as_str()),
        ("RULES_YARC_SHA256", pins.as_str()),
    ];
    let (out, found) = scan_upload(&emu, &w, "a.txt", MARKER, &env).await;
    assert_eq!(
        found.as_deref(),
        Some("Team_Marker"),
        "{}",
        text(&out.stderr)
    );
}

/// (e) `rules check FILE.yarc` says what a compiled file holds: its rules, the yara-x that
/// serialized it, its native code and that code's target, and the digest to pin; a file that
/// is no serialized rule set of this yara-x is refused with exit code 1.
#[test]
fn rules_check_says_what_a_yarc_holds() {
    let dir = tempfile::tempdir().unwrap();
    let two = [("team.yar", TEAM_RULE), ("never.yar", NEVER_RULE)];
    let yarc = build(dir.path(), "team.yarc", &two);
    let path = dir.path().join("team.yarc");
    let out = run(&["rules", "check", path.to_str().unwrap()], &[]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let digest = hex::encode(Sha256::digest(&yarc));
    for said in [
        "2 rules",
        yara_x::VERSION,
        "native code",
        TARGET,
        digest.as_str(),
    ] {
        assert!(stdout.contains(said), "{said} not in {stdout}");
    }

    // As yara-x itself writes them (`yr compile`): no version recorded, the rest is read.
    let raw = dir.path().join("raw.yarc");
    std::fs::write(
        &raw,
        yara_x::compile(NEVER_RULE).unwrap().serialize().unwrap(),
    )
    .unwrap();
    let out = run(&["rules", "check", raw.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 rules"),
        "{}",
        text(&out.stdout)
    );

    let mut other_format = yara_x::compile(NEVER_RULE).unwrap().serialize().unwrap();
    other_format[8] ^= 0x7f;
    for (name, bytes, why) in [
        ("junk.yarc", b"rule x { condition: true }".to_vec(), "not"),
        ("future.yarc", other_format, "format"),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let out = run(&["rules", "check", file.to_str().unwrap()], &[]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(name) && stderr.contains(why),
            "{name}: {stderr}"
        );
    }
}
