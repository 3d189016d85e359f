//! `backlog` through the binary on the emulator: a bucket of existing objects scanned,
//! interrupted by a signal, resumed and rescanned with signed verdicts skipped; and keys sent to
//! the scan queue as messages the function decodes and settles.
//! `BACKLOG_OBJECTS=3000` makes the first test's bucket larger, for measuring (it prints each
//! run's summary with `--nocapture`).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use futures::StreamExt;
use pretty_assertions::assert_eq;
use s3_yara_scan::event::decode_body;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_s3-yara-scan");
const SIGNING_KEY: &str = "backlog-test-signing-key-of-32-bytes-at-least";

fn backlog(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("backlog")
        .args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn summary(out: &Output) -> serde_json::Value {
    let stderr = String::from_utf8_lossy(&out.stderr);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON summary ({e}); stderr:\n{stderr}"))
}

/// A summary's counts add up: every object finished is counted once, by outcome.
fn assert_adds_up(s: &serde_json::Value) {
    let c = &s["counts"];
    let parts = [
        "skipped",
        "clean",
        "infected",
        "suspicious",
        "unscannable",
        "error",
        "no_verdict",
        "enqueued",
        "failed",
    ];
    let sum: u64 = parts.iter().map(|p| c[p].as_u64().unwrap()).sum();
    assert_eq!(c["objects"].as_u64().unwrap(), sum, "{s:#}");
}

/// Uploads `bodies` under their keys, many at a time.
async fn upload(emu: &Emulator, bucket: &str, objects: Vec<(String, Vec<u8>)>) {
    futures::stream::iter(objects)
        .map(|(key, body)| {
            emu.s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(ByteStream::from(body))
                .send()
        })
        .buffer_unordered(32)
        .for_each(|r| async move {
            r.unwrap();
        })
        .await;
}

async fn bucket(emu: &Emulator, name: &str, versioned: bool) -> String {
    let bucket = unique(name);
    emu.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    if versioned {
        let on = aws_sdk_s3::types::VersioningConfiguration::builder()
            .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
            .build();
        emu.s3
            .put_bucket_versioning()
            .bucket(&bucket)
            .versioning_configuration(on)
            .send()
            .await
            .unwrap();
    }
    bucket
}

/// Waits until the run's state file says some objects are done, then sends SIGINT.
fn interrupt_once_started(child: &Child, state: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let done = std::fs::read_to_string(state)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|s| s["done"].as_u64());
        if done.is_some_and(|d| d > 0) {
            let pid = child.id().to_string();
            assert!(
                Command::new("kill")
                    .args(["-INT", &pid])
                    .status()
                    .unwrap()
                    .success()
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the backlog saved no progress within a minute");
}

/// A bucket of existing objects: the first run is interrupted with SIGINT, finishes what is in
/// flight, saves its watermark and exits 130; the second resumes after the watermark (the
/// objects finished above it carry signed verdicts, and are skipped unread) and tags every
/// object; a third from the start skips them all. Every object ends with the right verdict.
#[tokio::test]
async fn backlog_resumes_after_an_interruption_and_tags_everything() {
    let n: usize = std::env::var("BACKLOG_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(800);
    let emu = emulator().await;
    let (bucket, quarantine) = (
        bucket(&emu, "backlog", false).await,
        bucket(&emu, "backlog-q", true).await,
    );
    let infected: Vec<String> = (0..4)
        .map(|i| format!("obj/{:05}", n / 4 * i + n / 8))
        .collect();
    let objects = (0..n).map(|i| {
        let key = format!("obj/{i:05}");
        let body = if infected.contains(&key) {
            EICAR.as_bytes().to_vec()
        } else {
            format!("object {i}\n").repeat(20).into_bytes()
        };
        (key, body)
    });
    upload(&emu, &bucket, objects.collect()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let location = format!("s3://{bucket}/obj/");
    let args = [
        "--json",
        "--concurrency",
        "8",
        "--state",
        state.to_str().unwrap(),
    ];
    let args: Vec<&str> = [location.as_str()].into_iter().chain(args).collect();
    let env = [
        ("QUARANTINE_BUCKET", quarantine.as_str()),
        ("SIGNING_KEY", SIGNING_KEY),
    ];

    let child = backlog(&args, &env).spawn().unwrap();
    interrupt_once_started(&child, &state);
    let out = child.wait_with_output().unwrap();
    let first = summary(&out);
    println!("first run: {first:#}");
    assert_eq!(out.status.code(), Some(130), "{first:#}");
    assert_eq!(
        (&first["interrupted"], &first["complete"]),
        (&true.into(), &false.into())
    );
    assert_adds_up(&first);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let done = saved["done"].as_u64().unwrap();
    let done_first = first["counts"]["objects"].as_u64().unwrap();
    assert!(
        done > 0 && done <= done_first && done < n as u64,
        "{saved:#}"
    );

    let out = backlog(&args, &env).output().unwrap();
    let second = summary(&out);
    println!("second run: {second:#}");
    assert_adds_up(&second);
    assert_eq!(second["resumed_after"], saved["after"]);
    assert_eq!(second["done_before"].as_u64(), Some(done));
    assert_eq!(
        (&second["complete"], &second["state_file"]),
        (&true.into(), &serde_json::Value::Null)
    );
    let c = &second["counts"];
    let infected_total =
        first["counts"]["infected"].as_u64().unwrap() + c["infected"].as_u64().unwrap();
    assert_eq!(infected_total, 4, "each infected object is found once");
    assert_eq!(
        out.status.code(),
        Some(if c["infected"] == 0 { 0 } else { 1 })
    );
    // What the first run finished above its watermark is listed again but not read again.
    let above = done_first - done;
    assert!(c["skipped"].as_u64().unwrap() <= above, "{second:#}");
    let scanned = c["clean"].as_u64().unwrap() + c["infected"].as_u64().unwrap();
    assert!(
        scanned + above >= n as u64 - done,
        "scanned {scanned} of the {} left",
        n as u64 - done
    );

    assert_every_object_tagged(&emu, &bucket, n, &infected).await;
    assert_eq!(
        emu.versions(&quarantine).await.len(),
        4,
        "one quarantine copy each"
    );

    let restart: Vec<&str> = args.iter().copied().chain(["--restart"]).collect();
    let out = backlog(&restart, &env).output().unwrap();
    let third = summary(&out);
    println!("third run (--restart): {third:#}");
    assert_eq!(out.status.code(), Some(0));
    let c = &third["counts"];
    assert_eq!(
        (c["objects"].as_u64(), c["skipped"].as_u64()),
        (Some(n as u64 - 4), Some(n as u64 - 4))
    );
}

/// Where one key of the backlog's bucket stands after the runs.
#[derive(Debug, PartialEq)]
enum Found {
    /// No longer in the bucket (GetObjectTagging answers NoSuchKey): quarantined.
    Gone,
    /// Still in the bucket, with its `scan-result` tag, or `None` when it carries none.
    InPlace(Option<String>),
}

/// What GetObjectTagging says of `key`: gone, or in place with its verdict or none. Any other
/// answer (a missing bucket, a denial, a failure) stops the test instead of reading as "gone".
async fn found(emu: &Emulator, bucket: &str, key: &str) -> Found {
    use aws_sdk_s3::error::ProvideErrorMetadata;
    match emu
        .s3
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .send()
        .await
    {
        Ok(t) => Found::InPlace(
            t.tag_set
                .into_iter()
                .find(|t| t.key == "scan-result")
                .map(|t| t.value),
        ),
        Err(e) if e.as_service_error().and_then(|e| e.code()) == Some("NoSuchKey") => Found::Gone,
        Err(e) => panic!("GetObjectTagging {bucket}/{key}: {e:?}"),
    }
}

/// Every key but the infected ones is still in `bucket`, tagged `Clean`; the infected ones are
/// gone (quarantined), not left in place untagged.
async fn assert_every_object_tagged(emu: &Emulator, bucket: &str, n: usize, infected: &[String]) {
    let keys: Vec<String> = (0..n).map(|i| format!("obj/{i:05}")).collect();
    let results: Vec<(String, Found)> = futures::stream::iter(keys)
        .map(|key| async move {
            let state = found(emu, bucket, &key).await;
            (key, state)
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for (key, state) in results {
        let expected = if infected.contains(&key) {
            Found::Gone
        } else {
            Found::InPlace(Some("Clean".to_owned()))
        };
        assert_eq!(state, expected, "{key}");
    }
}

/// `--to-queue` sends one message per object, shaped as an S3 notification: the decoder reads
/// back each key (spaces, `+`, `%` and non-ASCII included), and `handle` settles them.
#[tokio::test]
async fn backlog_to_queue_sends_messages_the_function_settles() {
    let emu = emulator().await;
    let (bucket, quarantine) = (
        bucket(&emu, "backlog-send", false).await,
        bucket(&emu, "backlog-send-q", true).await,
    );
    let keys = [
        "a.txt",
        "dir/with space+plus.txt",
        "é/ü 100%.bin",
        "eicar.com",
    ];
    let objects = keys.iter().map(|k| {
        let body = if *k == "eicar.com" {
            EICAR.as_bytes().to_vec()
        } else {
            b"hello".to_vec()
        };
        (k.to_string(), body)
    });
    upload(&emu, &bucket, objects.collect()).await;
    let (url, arn) = emu.queue("backlog-send").await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let location = format!("s3://{bucket}");
    let args = [
        location.as_str(),
        "--to-queue",
        &url,
        "--json",
        "--state",
        state.to_str().unwrap(),
    ];
    let out = backlog(&args, &[]).output().unwrap();
    let s = summary(&out);
    assert_eq!(out.status.code(), Some(0), "{s:#}");
    assert_eq!(
        (s["mode"].as_str(), s["counts"]["enqueued"].as_u64()),
        (Some("queue"), Some(4))
    );
    assert_adds_up(&s);

    let messages = emu.receive(&url, &arn, 4).await;
    let mut named: Vec<String> = messages
        .iter()
        .flat_map(|m| decode_body(m.body.as_deref().unwrap()).unwrap().objects)
        .map(|o| {
            assert_eq!(o.object.bucket, bucket);
            o.object.key
        })
        .collect();
    named.sort();
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.sort();
    assert_eq!(named, expected);

    let event = dir.path().join("event.json");
    std::fs::write(&event, serde_json::to_string(&batch(messages)).unwrap()).unwrap();
    let out = Command::new(BIN)
        .args(["handle", event.to_str().unwrap()])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "warn")
        .env("QUARANTINE_BUCKET", &quarantine)
        .output()
        .unwrap();
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response, serde_json::json!({"batchItemFailures": []}));
    assert_eq!(
        emu.tag(&bucket, "é/ü 100%.bin", "scan-result")
            .await
            .as_deref(),
        Some("Clean")
    );
    assert!(!emu.exists(&bucket, "eicar.com").await);
}
