//! Batches on the store double: which messages are retried, how events become jobs, and the
//! function's deadline.

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::journey::tests::{EICAR, pipeline, quarantining, store};
use crate::object::ObjectInfo;
use crate::store::{Hook, Op};

/// An SQS record whose body is an S3 event (sent straight to SQS) with these records.
fn message(id: &str, records: serde_json::Value) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.into());
    m.body = Some(json!({ "Records": records }).to_string());
    m
}

fn s3_record(event_name: &str, bucket: &str, key: &str, info: &ObjectInfo) -> serde_json::Value {
    json!({
        "eventName": event_name,
        "s3": { "bucket": { "name": bucket }, "object": {
            "key": key, "size": info.size, "eTag": info.etag, "versionId": info.version_id } }
    })
}

fn batch(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages;
    event
}

fn failed(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn a_bad_record_fails_alone_and_a_record_without_id_fails_the_batch() {
    let s = store();
    let info = s.put("uploads", "a.txt", b"fine", &[]);
    let p = pipeline(s, quarantining());
    let mut not_json = SqsMessage::default();
    not_json.message_id = Some("bad".into());
    not_json.body = Some("{not json".into());
    let good = message(
        "good",
        json!([s3_record("ObjectCreated:Put", "uploads", "a.txt", &info)]),
    );
    let removed = message(
        "removed",
        json!([s3_record("ObjectRemoved:Delete", "uploads", "a.txt", &info)]),
    );
    let response = p
        .process_batch(batch(vec![not_json, good, removed]))
        .await
        .unwrap();
    assert_eq!(failed(&response), ["bad"]);

    let mut anonymous = SqsMessage::default();
    anonymous.body = Some("{}".into());
    assert!(p.process_batch(batch(vec![anonymous])).await.is_err());
}

#[tokio::test]
async fn events_for_the_same_bytes_are_one_job_and_each_upload_its_own() {
    let s = store();
    let one = s.put("plain", "k", b"first upload", &[]);
    let two = s.put("plain", "k", EICAR, &[]);
    let p = pipeline(s, quarantining());
    let messages = vec![
        message(
            "first",
            json!([s3_record("ObjectCreated:Put", "plain", "k", &one)]),
        ),
        message(
            "second",
            json!([s3_record("ObjectCreated:Put", "plain", "k", &two)]),
        ),
        message(
            "again",
            json!([s3_record("ObjectCreated:Put", "plain", "k", &two)]),
        ),
        message(
            "tags",
            json!([s3_record("ObjectTagging:Put", "plain", "k", &two)]),
        ),
    ];
    let response = p.process_batch(batch(messages)).await.unwrap();
    assert_eq!(failed(&response), Vec::<&str>::new());
    // The first upload's read finds newer bytes; the second is read once for three messages.
    assert_eq!(p.store().count(Op::GetObject), 2);
    assert_eq!(
        p.store().history("quarantine", "plain/k").len(),
        1,
        "the newer upload scanned"
    );
}

/// A batch of `slow.txt`, whose read takes a minute, and `other`, run with `concurrency`
/// within `time` of the deadline; returns the messages to retry and the reads made. The
/// answer must leave before the deadline.
async fn slow_batch(other: &str, concurrency: usize, time: Duration) -> (Vec<String>, usize) {
    let s = store();
    let slow = s.put("uploads", "slow.txt", b"slow", &[]);
    let fast = s.put("uploads", other, b"fast", &[]);
    s.on(
        Op::GetObject,
        Some("slow.txt"),
        None,
        Hook::Delay(Duration::from_secs(60)),
    );
    let config = crate::config::Config {
        concurrency,
        ..quarantining()
    };
    let p = pipeline(s, config);
    let created = |key: &str, info| json!([s3_record("ObjectCreated:Put", "uploads", key, info)]);
    let messages = vec![
        message("slow", created("slow.txt", &slow)),
        message(other, created(other, &fast)),
    ];
    let deadline = SystemTime::now() + time;
    let response = p
        .process_batch_until(batch(messages), Some(deadline))
        .await
        .unwrap();
    assert!(
        SystemTime::now() < deadline,
        "the answer leaves before the deadline"
    );
    let failed = failed(&response).into_iter().map(String::from).collect();
    (failed, p.store().count(Op::GetObject))
}

#[tokio::test]
async fn objects_not_started_close_to_the_deadline_are_retried() {
    // One object at a time, and the first one outlasts the time to start any other.
    let (failed, reads) = slow_batch("late.txt", 1, Duration::from_millis(800)).await;
    assert_eq!(failed, ["slow", "late.txt"]);
    assert_eq!(reads, 1, "late.txt was never started");
}

#[tokio::test]
async fn objects_still_in_progress_are_abandoned_before_the_deadline() {
    let (failed, reads) = slow_batch("fast.txt", 8, Duration::from_secs(3)).await;
    assert_eq!(failed, ["slow"], "fast.txt settled, slow.txt abandoned");
    assert_eq!(reads, 2);
}
