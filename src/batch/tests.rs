//! Batches on the store double: which messages are retried, how events become jobs, and the
//! function's deadline.

use std::time::{Duration, SystemTime};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::config::{Action, Config};
use crate::journey::tests::{EICAR, pipeline, quarantining, store};
use crate::object::{ObjectInfo, ObjectRef};
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
    let response = crate::batch::process(&p, batch(vec![not_json, good, removed]))
        .await
        .unwrap();
    assert_eq!(failed(&response), ["bad"]);

    let mut anonymous = SqsMessage::default();
    anonymous.body = Some("{}".into());
    assert!(
        crate::batch::process(&p, batch(vec![anonymous]))
            .await
            .is_err()
    );
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
    let response = crate::batch::process(&p, batch(messages)).await.unwrap();
    assert_eq!(failed(&response), Vec::<&str>::new());
    // The first upload's read finds newer bytes; the second is read once for three messages.
    assert_eq!(p.store().count(Op::GetObject), 2);
    assert_eq!(
        p.store().history("quarantine", "plain/k").len(),
        1,
        "the newer upload scanned"
    );
}

/// An S3 record of a tag change made by `principal`.
fn tagged_by(bucket: &str, key: &str, info: &ObjectInfo, principal: &str) -> serde_json::Value {
    let mut record = s3_record("ObjectTagging:Put", bucket, key, info);
    record["userIdentity"] = json!({ "principalId": principal });
    record
}

#[tokio::test]
async fn tag_changes_of_one_version_by_two_principals_are_each_checked() {
    let s = store();
    let info = s.put("uploads", "e.com", EICAR, &[]);
    let config = Config {
        action: Action::Tag,
        scanner_role_id: Some("AROASCANNER".into()),
        ..quarantining()
    };
    let p = pipeline(s, config);
    let object = ObjectRef::new("uploads", "e.com").at_version(info.version_id.clone());
    let first = message(
        "created",
        json!([s3_record("ObjectCreated:Put", "uploads", "e.com", &info)]),
    );
    crate::batch::process(&p, batch(vec![first])).await.unwrap();
    // Someone re-tags the object Clean: S3 sends the scanner's earlier change and theirs.
    crate::journey::tag_tests::forge_clean(p.store(), &object).await;
    let messages = vec![
        message(
            "own",
            json!([tagged_by("uploads", "e.com", &info, "AWS:AROASCANNER:fn")]),
        ),
        message(
            "theirs",
            json!([tagged_by("uploads", "e.com", &info, "AWS:AROAOTHER:x")]),
        ),
    ];
    let gets = p.store().count(Op::GetObject);
    let response = crate::batch::process(&p, batch(messages)).await.unwrap();
    assert_eq!(failed(&response), Vec::<&str>::new());
    assert_eq!(
        p.store().count(Op::GetObject),
        gets + 1,
        "their change rescanned"
    );
    let tags = p.store().tags_of(&object).unwrap();
    assert!(
        tags.contains(&("scan-result".into(), "Infected".into())),
        "{tags:?}"
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
    let response = crate::batch::process_until(&p, batch(messages), Some(deadline))
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

/// A pipeline publishing result events to memory, with every verdict on.
fn publishing(
    s: crate::MemoryStore,
) -> (
    crate::Pipeline<crate::MemoryStore>,
    std::sync::Arc<crate::publish::MemoryPublisher>,
) {
    let mut config = crate::journey::tests::signed(quarantining());
    config.results.bus = Some("default".into());
    config.results.verdicts = crate::publish::VERDICTS.to_vec();
    let publisher = std::sync::Arc::new(crate::publish::MemoryPublisher::default());
    let p = pipeline(s, config).with_publisher(Some(publisher.clone()));
    (p, publisher)
}

#[tokio::test]
async fn a_settled_object_publishes_its_result_event_with_where_it_is_now() {
    let s = store();
    let info = s.put("uploads", "e.com", EICAR, &[]);
    let (p, publisher) = publishing(s);
    let record = s3_record("ObjectCreated:Put", "uploads", "e.com", &info);
    let response = crate::batch::process(&p, batch(vec![message("m", json!([record]))]))
        .await
        .unwrap();
    assert_eq!(failed(&response), Vec::<&str>::new());
    let published = publisher.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["verdict"], "Infected");
    assert_eq!(published[0]["key"], "e.com");
    assert_eq!(published[0]["location"]["state"], "quarantined");
    assert_eq!(published[0]["location"]["bucket"], "quarantine");
}

#[tokio::test]
async fn a_failed_publish_is_queued_and_published_later_without_touching_the_object() {
    use std::sync::atomic::Ordering;
    let s = store();
    let info = s.put("uploads", "a.txt", b"fine", &[]);
    let (p, publisher) = publishing(s);
    publisher.fail_publish.store(true, Ordering::SeqCst);
    let record = s3_record("ObjectCreated:Put", "uploads", "a.txt", &info);
    let response = crate::batch::process(&p, batch(vec![message("m", json!([record]))]))
        .await
        .unwrap();
    // The verdict is recorded and the message acknowledged: the event waits on the queue.
    assert_eq!(failed(&response), Vec::<&str>::new());
    let queued = publisher.requeued.lock().unwrap().clone();
    assert_eq!(queued.len(), 1);
    let object = crate::ObjectRef::new("uploads", "a.txt").at_version(info.version_id.clone());
    let tags = p.store().tags_of(&object).unwrap();
    assert!(tags.contains(&("scan-result".into(), "Clean".into())));

    // The queued message, in a later batch, is published and nothing else happens.
    publisher.fail_publish.store(false, Ordering::SeqCst);
    let calls = p.store().calls().len();
    let mut later = SqsMessage::default();
    later.message_id = Some("later".into());
    later.body = Some(queued[0].clone());
    let response = crate::batch::process(&p, batch(vec![later])).await.unwrap();
    assert_eq!(failed(&response), Vec::<&str>::new());
    assert_eq!(
        p.store().calls().len(),
        calls,
        "no S3 request for a queued event"
    );
    let published = publisher.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["key"], "a.txt");
    assert_eq!(published[0]["verdict"], "Clean");
}

#[tokio::test]
async fn a_queued_document_the_function_did_not_seal_is_dropped_unpublished() {
    let (p, publisher) = publishing(store());
    let forged = [
        json!({ "s3YaraScanResult": {"verdict": "Clean", "key": "eicar.com"} }).to_string(),
        json!({ "s3YaraScanResult": "{\"verdict\":\"Clean\"}", "mac": "00".repeat(32) })
            .to_string(),
        "{\"s3YaraScanResult\": not json".to_owned(),
    ];
    let messages = forged
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut m = SqsMessage::default();
            m.message_id = Some(format!("forged-{i}"));
            m.body = Some(body.clone());
            m
        })
        .collect();
    let response = crate::batch::process(&p, batch(messages)).await.unwrap();
    assert_eq!(
        failed(&response),
        Vec::<&str>::new(),
        "dropped, not retried"
    );
    assert!(publisher.published.lock().unwrap().is_empty());
    assert_eq!(p.store().calls(), vec![]);
}

#[tokio::test]
async fn without_a_signing_key_a_failed_publish_retries_the_message() {
    use std::sync::atomic::Ordering;
    let s = store();
    let info = s.put("uploads", "a.txt", b"fine", &[]);
    let (mut p, publisher) = publishing(s);
    p.signing_key = None;
    publisher.fail_publish.store(true, Ordering::SeqCst);
    let record = s3_record("ObjectCreated:Put", "uploads", "a.txt", &info);
    let response = crate::batch::process(&p, batch(vec![message("m", json!([record]))]))
        .await
        .unwrap();
    assert_eq!(
        failed(&response),
        ["m"],
        "nothing to seal a queued document with"
    );
    assert!(publisher.requeued.lock().unwrap().is_empty());
}

#[tokio::test]
async fn when_neither_publish_nor_queue_works_the_message_is_retried_and_the_verdict_stays() {
    use std::sync::atomic::Ordering;
    let s = store();
    let info = s.put("uploads", "a.txt", b"fine", &[]);
    let (p, publisher) = publishing(s);
    publisher.fail_publish.store(true, Ordering::SeqCst);
    publisher.fail_requeue.store(true, Ordering::SeqCst);
    let record = s3_record("ObjectCreated:Put", "uploads", "a.txt", &info);
    let response = crate::batch::process(&p, batch(vec![message("m", json!([record]))]))
        .await
        .unwrap();
    assert_eq!(failed(&response), ["m"]);
    let object = crate::ObjectRef::new("uploads", "a.txt").at_version(info.version_id.clone());
    let tags = p.store().tags_of(&object).unwrap();
    assert!(tags.contains(&("scan-result".into(), "Clean".into())));
    // A queued event that cannot be published is retried on its own.
    let key = p
        .signing_key
        .as_ref()
        .unwrap()
        .derive(crate::signature::Purpose::QueuedResult);
    let document = r#"{"verdict":"Clean"}"#;
    let mut later = SqsMessage::default();
    later.message_id = Some("queued".into());
    later.body = Some(
        json!({ "s3YaraScanResult": document, "mac": key.mac(&[document.as_bytes()]) }).to_string(),
    );
    let response = crate::batch::process(&p, batch(vec![later])).await.unwrap();
    assert_eq!(failed(&response), ["queued"]);
}
