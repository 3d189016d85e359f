//! Pathological objects and what must never reach the logs: a scan that outruns its timeout,
//! zero-byte objects, 1,024-byte keys with control characters, secrets and object contents.

use std::time::Duration;

use pretty_assertions::assert_eq;
use s3_yara_scan::{Action, Config, Engine, Pipeline, RuleSet};

use crate::support::*;

/// A scan that outruns SCAN_TIMEOUT_SECS gives `Unscannable` with the reason, promptly, and
/// the message is acknowledged: never a hang, never `Clean`.
#[tokio::test]
async fn a_scan_over_its_timeout_is_unscannable_with_the_reason() {
    let emu = emulator().await;
    let (w, records) = emu
        .uploaded("slowscan", "slow.bin", vec![0u8; 200_000])
        .await;
    let slow = yara_x::compile(
        "rule slow { condition: for all i in (0..filesize): (for all j in (0..filesize): \
         (uint8(i) != 0xff or uint8(j) != 0xfe)) }",
    )
    .unwrap();
    let engine = Engine::new(RuleSet::new(slow, "slow"), Duration::from_secs(1));
    let config = Config {
        action: Action::Tag,
        ..config(&w)
    };
    let started = std::time::Instant::now();
    acknowledged(&Pipeline::new(emu.store(), engine, config), records).await;
    assert!(started.elapsed() < Duration::from_secs(20));
    let tags = emu.tags(&w.bucket, "slow.bin", None).await;
    let map = tag_map(&tags);
    assert_eq!(map["scan-result"], "Unscannable");
    assert!(map["scan-detail"].contains("timed out"), "{map:?}");
}

/// A zero-byte object is scanned (and clean); an EICAR object under a 1,024-byte key full of
/// control characters is quarantined under a key S3 accepts.
#[tokio::test]
async fn zero_byte_objects_and_longest_keys_with_control_characters() {
    let emu = emulator().await;
    let w = emu.wire("edge", Options::default()).await;
    emu.put(&w.bucket, "empty", Vec::new()).await;
    let mut key = String::from("dir/\u{1}\u{7}\u{1b}[31m\t");
    key.push_str(&"k".repeat(1024 - key.len()));
    assert_eq!(key.len(), 1024);
    emu.put(&w.bucket, &key, EICAR).await;
    let records = emu.notifications(&w, 2).await;
    acknowledged(&emu.pipeline(config(&w)), records).await;
    assert_eq!(
        emu.tag(&w.bucket, "empty", "scan-result").await.as_deref(),
        Some("Clean")
    );
    assert!(!emu.exists(&w.bucket, &key).await);
    // moto cannot list keys with control characters (S3 can, URL-encoded): look it up.
    let qkey = s3_yara_scan::action::quarantine_key(&w.bucket, &key);
    assert!(qkey.len() <= 1024, "{}", qkey.len());
    assert!(emu.exists(&w.quarantine, &qkey).await);
}

/// At debug level, the logs of `handle` carry neither the signing key nor any object's
/// contents, and a key's control characters are escaped (one line per record).
#[tokio::test]
async fn logs_never_carry_secrets_contents_or_raw_control_characters() {
    let emu = emulator().await;
    let w = emu.wire("logs", Options::default()).await;
    let secret_text = "the-quarterly-numbers-are-confidential";
    // moto cannot route a key with a newline; BEL and backspace make the same point.
    emu.put(&w.bucket, "a\u{7}bell\u{8}", secret_text).await;
    emu.put(&w.bucket, "eicar.com", EICAR).await;
    let records = emu.notifications(&w, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, serde_json::to_string(&batch(records)).unwrap()).unwrap();
    let key = "0123456789abcdef-signing-key-0123456789abcdef";
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_s3-yara-scan"))
        .args(["handle", file.to_str().unwrap()])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "debug")
        .env("QUARANTINE_BUCKET", &w.quarantine)
        .env("SIGNING_KEY", key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!logs.is_empty());
    for needle in [key, secret_text, "EICAR-STANDARD-ANTIVIRUS-TEST-FILE"] {
        assert!(!logs.contains(needle), "{needle:?} appears in the logs");
    }
    assert!(
        !logs.contains(['\u{7}', '\u{8}']),
        "raw control characters from a key"
    );
    assert!(logs.contains(r"a\u{7}bell\u{8}"), "the key, escaped");
}
