//! `s3-yara-scan poll`, the long-running agent, as a child process on a wired queue: it settles
//! what arrives, deletes exactly the acknowledged messages, and stops cleanly on SIGTERM. The
//! mid-scan stop and the visibility renewal, which need a slow S3, are in
//! tests/faults/test_poll.py (behind the fault proxy).

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_s3-yara-scan");

/// The agent on `queue_url`, settings from `env`, its log written to `log`.
fn agent(args: &[&str], env: &[(&str, &str)], log: &std::path::Path) -> Child {
    let stderr = std::fs::File::create(log).unwrap();
    Command::new(BIN)
        .arg("poll")
        .args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("QUARANTINE_BUCKET")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("the binary runs")
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// Waits up to `seconds` for the child to exit.
async fn exit_status(child: &mut Child, seconds: u64) -> ExitStatus {
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    panic!("the agent did not exit within {seconds} s");
}

/// Waits up to a minute (a debug build starts slowly) for `key`'s verdict tag.
async fn verdict(emu: &Emulator, bucket: &str, key: &str) -> Option<String> {
    for _ in 0..300 {
        if let Some(v) = emu.tag(bucket, key, "scan-result").await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// Messages waiting and messages in flight (received, not deleted).
async fn on_queue(emu: &Emulator, url: &str) -> (String, String) {
    let attributes = emu
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let count = |name| attributes.get(&name).cloned().unwrap_or_default();
    (
        count(QueueAttributeName::ApproximateNumberOfMessages),
        count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    )
}

/// A clean file and EICAR uploaded to a wired bucket are tagged by the agent; SIGTERM while
/// it waits on an empty queue stops it with exit code 0, both messages deleted.
#[tokio::test]
async fn agent_settles_objects_deletes_their_messages_and_stops_on_sigterm() {
    let emu = emulator().await;
    let w = emu.wire("poll", Options::default()).await;
    // The wiring received the s3:TestEvent without deleting it: out of the count below.
    emu.sqs
        .delete_message()
        .queue_url(&w.queue_url)
        .set_receipt_handle(w.test_event.receipt_handle.clone())
        .send()
        .await
        .unwrap();
    emu.put(&w.bucket, "notes.txt", "hello").await;
    emu.put(&w.bucket, "eicar.com", EICAR).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("agent.log");
    let mut child = agent(
        &["--queue-url", &w.queue_url, "--visibility-timeout", "30"],
        &[("ACTION", "tag"), ("PROTECTED_BUCKETS", &w.bucket)],
        &log,
    );
    let clean = verdict(&emu, &w.bucket, "notes.txt").await;
    let infected = verdict(&emu, &w.bucket, "eicar.com").await;
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        (clean.as_deref(), infected.as_deref()),
        (Some("Clean"), Some("Infected")),
        "{}",
        text()
    );
    // The deletes follow the tags: wait for the batch's line before stopping the agent.
    for _ in 0..100 {
        if text().contains("batch done") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    signal(&child, "TERM");
    let status = exit_status(&mut child, 30).await;
    let log = text();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("SIGTERM"), "{log}");
    assert!(
        log.contains("acknowledged=") && !log.contains("retried=1") && !log.contains("retried=2"),
        "{log}"
    );
    assert_eq!(
        on_queue(&emu, &w.queue_url).await,
        ("0".into(), "0".into()),
        "messages left on the queue (waiting, in flight)\n{log}"
    );
}

/// Without PROTECTED_BUCKETS the agent would judge objects of any bucket a message names: it
/// refuses to start, naming the setting, before any request.
#[tokio::test]
async fn agent_refuses_to_start_without_protected_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("agent.log");
    let url = "http://127.0.0.1:9/000000000000/never-asked";
    let mut child = agent(&["--queue-url", url], &[("ACTION", "tag")], &log);
    let status = exit_status(&mut child, 60).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(text.contains("PROTECTED_BUCKETS is empty"), "{text}");
}

/// A queue URL that names no queue stops the agent at start-up (exit code 2), naming the URL
/// and the permissions the agent needs.
#[tokio::test]
async fn agent_names_a_missing_queue_and_its_permissions() {
    let emu = emulator().await;
    let (url, _) = emu.queue("poll-missing").await;
    emu.sqs.delete_queue().queue_url(&url).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("agent.log");
    let mut child = agent(
        &["--queue-url", &url],
        &[("ACTION", "tag"), ("PROTECTED_BUCKETS", "uploads")],
        &log,
    );
    let status = exit_status(&mut child, 60).await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(text.contains(&url), "{text}");
    assert!(
        text.contains("does not exist") && text.contains("sqs:ReceiveMessage"),
        "{text}"
    );
}
