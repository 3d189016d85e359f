//! Releasing a false positive through the binary (`release`): an EICAR uploaded, handled and
//! quarantined is moved back to its bucket and key with its metadata and the user's tags,
//! tagged `Released` (signed, naming who released it and why); the event of the restored
//! object, delivered twice, keeps it `Released` and in place. What `release` refuses.

use std::process::{Command, Output};

use pretty_assertions::assert_eq;

use crate::support::*;

const KEY: &str = "a signing key of at least thirty-two bytes";

fn release_bin() -> String {
    std::env::var("S3_YARA_SCAN_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_s3-yara-scan").into())
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(release_bin());
    cmd.args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "info");
    for var in ["ACTION", "QUARANTINE_BUCKET", "SIGNING_KEY", "SKIP_SIGNED"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("the binary runs")
}

/// Runs `handle` on `records`, checks that every message is acknowledged, and returns its log.
fn handle(records: Vec<aws_lambda_events::event::sqs::SqsMessage>, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, serde_json::to_string(&batch(records)).unwrap()).unwrap();
    let out = run(&["handle", file.to_str().unwrap()], env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        response,
        serde_json::json!({"batchItemFailures": []}),
        "{stderr}"
    );
    stderr.into_owned()
}

#[tokio::test]
async fn a_released_eicar_is_back_in_place_and_stays_released() {
    let versioned = Options {
        versioned: true,
        quarantine_versioned: true,
    };
    released_and_kept(versioned).await;
}

/// The same with an unversioned protected bucket: the copy back and its checks hold by key and
/// ETag alone.
#[tokio::test]
async fn a_released_eicar_is_back_in_an_unversioned_bucket_and_stays_released() {
    released_and_kept(Options::default()).await;
}

async fn released_and_kept(options: Options) {
    let emu = emulator().await;
    let w = emu.wire("release", options).await;
    emu.s3
        .put_object()
        .bucket(&w.bucket)
        .key("inbox/eicar.com")
        .body(EICAR.as_bytes().to_vec().into())
        .content_type("application/x-test")
        .metadata("uploaded-by", "alice")
        .tagging("owner=bob")
        .send()
        .await
        .unwrap();
    let env = [
        ("QUARANTINE_BUCKET", w.quarantine.as_str()),
        ("SIGNING_KEY", KEY),
    ];
    handle(emu.notifications(&w, 1).await, &env);
    assert!(!emu.exists(&w.bucket, "inbox/eicar.com").await);
    let qkey = format!("{}/inbox/eicar.com", w.bucket);
    let location = format!("s3://{}/{qkey}", w.quarantine);

    // Refused: no reason, no signing key, not the quarantine bucket.
    let out = run(&["release", &location], &env);
    assert!(!out.status.success());
    let out = run(
        &["release", &location, "--reason", "ok"],
        &[("QUARANTINE_BUCKET", w.quarantine.as_str())],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SIGNING_KEY"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let elsewhere = format!("s3://{}/inbox/eicar.com", w.bucket);
    let out = run(&["release", &elsewhere, "--reason", "ok"], &env);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not the quarantine bucket"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(emu.exists(&w.quarantine, &qkey).await);

    let reason = "test file, a false positive (ticket 42)";
    let out = run(&["release", &location, "--reason", reason], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("released from quarantine"), "{stderr}");
    let document: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(document["verdict"], "Released");
    assert_eq!(document["reason"], reason);
    assert!(!emu.exists(&w.quarantine, &qkey).await);
    let head = emu
        .s3
        .head_object()
        .bucket(&w.bucket)
        .key("inbox/eicar.com")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/x-test"));
    let metadata = head.metadata().unwrap();
    assert_eq!(
        metadata.get("uploaded-by").map(String::as_str),
        Some("alice")
    );
    let released = |tags: Vec<(String, String)>| {
        let map = tag_map(&tags);
        assert_eq!(map["scan-result"], "Released", "{map:?}");
        assert_eq!(map["owner"], "bob");
        assert!(map["scan-signature"].starts_with("v1."), "{map:?}");
        let detail = map["scan-detail"];
        assert!(detail.starts_with("released by arn:aws:"), "{detail}");
        assert!(
            detail.ends_with(": test file_ a false positive _ticket 42_"),
            "{detail}"
        );
    };
    released(emu.tags(&w.bucket, "inbox/eicar.com", None).await);

    // The restored object's own event, delivered twice: still Released, still in place.
    let records = emu.notifications(&w, 1).await;
    for _ in 0..2 {
        let log = handle(records.clone(), &env);
        assert!(log.contains("not scanned again: signed Released"), "{log}");
        assert!(emu.exists(&w.bucket, "inbox/eicar.com").await);
        assert!(!emu.exists(&w.quarantine, &qkey).await);
        released(emu.tags(&w.bucket, "inbox/eicar.com", None).await);
    }

    // Nothing left to release.
    let out = run(&["release", &location, "--reason", reason], &env);
    assert!(!out.status.success());
}
