//! Objects over `LARGE_OBJECT_SIZE`, through the binary: `handle` sends their notification to
//! the large-object queue unread and untouched and acknowledges it; `poll` on that queue (with
//! the very same settings) scans them; and an on-demand scan (`{"scanObject": …}`) answers
//! with the object's report.

use std::process::Command;

use pretty_assertions::assert_eq;

use crate::cli::run;
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_s3-yara-scan");

fn write_json(dir: &tempfile::TempDir, name: &str, value: &serde_json::Value) -> String {
    let file = dir.path().join(name);
    std::fs::write(&file, value.to_string()).unwrap();
    file.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_large_object_goes_to_the_agent_queue_unscanned_and_the_agent_settles_it() {
    let emu = emulator().await;
    let (w, records) = emu.uploaded("large-agent", "disk image.iso", EICAR).await;
    let (large_url, large_arn) = emu.queue("large-objects").await;
    let env = [
        ("ACTION", "tag"),
        ("PROTECTED_BUCKETS", w.bucket.as_str()),
        ("LARGE_OBJECT_SIZE", "10"),
        ("LARGE_OBJECT_QUEUE_URL", large_url.as_str()),
    ];
    let dir = tempfile::tempdir().unwrap();
    let event = write_json(
        &dir,
        "event.json",
        &serde_json::to_value(batch(records)).unwrap(),
    );
    let out = run(
        &["handle", &event],
        &[&env[..], &[("RUST_LOG", "info")]].concat(),
    );
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        response["batchItemFailures"],
        serde_json::json!([]),
        "{log}"
    );
    assert!(log.contains("sent to the agent's queue"), "{log}");
    assert_eq!(
        emu.tags(&w.bucket, "disk image.iso", None).await,
        [],
        "untouched"
    );

    // What the agent receives names the object, its size and ETag.
    let forwarded = emu.receive(&large_url, &large_arn, 1).await;
    let body = forwarded[0].body.clone().unwrap();
    assert!(
        body.contains("disk+image.iso") && body.contains("\"size\":68"),
        "{body}"
    );
    emu.sqs
        .change_message_visibility()
        .queue_url(&large_url)
        .receipt_handle(forwarded[0].receipt_handle.clone().unwrap())
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();

    let agent = Command::new(BIN)
        .args(["poll", "--queue-url", &large_url, "--max-batches", "1"])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("QUARANTINE_BUCKET")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&agent.stderr).into_owned();
    assert!(agent.status.success(), "{log}");
    assert_eq!(
        emu.tag(&w.bucket, "disk image.iso", "scan-result")
            .await
            .as_deref(),
        Some("Infected"),
        "{log}"
    );
    assert!(log.contains("every object is scanned here"), "{log}");
    let left = emu
        .sqs
        .receive_message()
        .queue_url(&large_url)
        .send()
        .await
        .unwrap();
    assert_eq!(left.messages.unwrap_or_default().len(), 0, "{log}");
}

#[tokio::test]
async fn an_on_demand_scan_returns_the_report() {
    let emu = emulator().await;
    let w = emu.wire("on-demand", Options::default()).await;
    let version = emu.put(&w.bucket, "a+b c.com", EICAR).await;
    let dir = tempfile::tempdir().unwrap();
    let request = serde_json::json!({"scanObject": {"bucket": w.bucket, "key": "a+b c.com",
        "versionId": version}});
    let file = write_json(&dir, "scan.json", &request);
    let env = [("ACTION", "tag"), ("PROTECTED_BUCKETS", w.bucket.as_str())];
    let out = run(&["handle", &file], &env);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "Infected", "{report:#}");
    assert_eq!(report["key"], "a+b c.com");
    assert_eq!(report["settled"], true);
    assert_eq!(
        report["matches"][0]["rule"], "EICAR_Test_File",
        "{report:#}"
    );
    assert_eq!(
        emu.tag(&w.bucket, "a+b c.com", "scan-result")
            .await
            .as_deref(),
        Some("Infected")
    );

    let bad = write_json(
        &dir,
        "bad.json",
        &serde_json::json!({"scanObject": {"key": "k"}}),
    );
    let out = run(&["handle", &bad], &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("not a valid on-demand scan") && stderr.contains("bucket"),
        "{stderr}"
    );
}
