//! Security Hub findings of a batch, against the in-memory publisher: filed for a threat,
//! resolved only where a threat verdict was on the object before, and sent through the scan
//! queue when the import fails, never blocking the verdict.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use pretty_assertions::assert_eq;
use serde_json::json;

use crate::config::{Action, Config};
use crate::findings::{Product, RecordState, Severity, finding_id};
use crate::journey::tests::{EICAR, pipeline, signed, store};
use crate::object::{ObjectInfo, ObjectRef};
use crate::publish::MemoryPublisher;

fn record(key: &str, info: &ObjectInfo) -> SqsMessage {
    let record = json!({"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "uploads"},
        "object": {"key": key, "size": info.size, "eTag": info.etag, "versionId": info.version_id}}});
    let mut m = SqsMessage::default();
    m.message_id = Some(key.to_owned());
    m.body = Some(json!({ "Records": [record] }).to_string());
    m
}

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

/// A pipeline that tags (objects stay in place) and files findings in memory.
fn filing(s: crate::MemoryStore) -> (crate::Pipeline<crate::MemoryStore>, Arc<MemoryPublisher>) {
    let publisher = Arc::new(MemoryPublisher {
        product: Product::of_caller("arn:aws:sts::123456789012:assumed-role/r/f", "eu-west-1"),
        ..MemoryPublisher::default()
    });
    let p = pipeline(s, signed(Config::new(Action::Tag))).with_publisher(Some(publisher.clone()));
    (p, publisher)
}

fn object(key: &str, info: &ObjectInfo) -> ObjectRef {
    ObjectRef::new("uploads", key).at_version(info.version_id.clone())
}

#[tokio::test]
async fn a_threat_is_filed_and_only_an_earlier_threat_is_resolved_by_clean() {
    let s = store();
    let eicar = s.put("uploads", "eicar.com", EICAR, &[]);
    let was_infected = s.put(
        "uploads",
        "fp.txt",
        b"fine now",
        &[("scan-result", "Infected")],
    );
    let clean = s.put("uploads", "a.txt", b"fine", &[]);
    let (p, publisher) = filing(s);
    let records = vec![
        record("eicar.com", &eicar),
        record("fp.txt", &was_infected),
        record("a.txt", &clean),
    ];
    let response = crate::batch::process(&p, batch(records)).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let mut filed = publisher.findings.lock().unwrap().clone();
    filed.sort_by_key(|f| f.record_state == RecordState::Archived);
    assert_eq!(
        filed.len(),
        2,
        "none for the clean object that never was a threat"
    );
    assert_eq!(filed[0].id, finding_id(&object("eicar.com", &eicar)));
    assert_eq!(
        (filed[0].record_state, filed[0].severity),
        (RecordState::Active, Severity::High)
    );
    assert_eq!(filed[1].id, finding_id(&object("fp.txt", &was_infected)));
    assert_eq!(filed[1].record_state, RecordState::Archived);
}

#[tokio::test]
async fn a_finding_that_cannot_be_imported_is_queued_and_imported_later() {
    let s = store();
    let eicar = s.put("uploads", "eicar.com", EICAR, &[]);
    let (p, publisher) = filing(s);
    publisher.fail_import.store(true, Ordering::SeqCst);
    let response = crate::batch::process(&p, batch(vec![record("eicar.com", &eicar)]))
        .await
        .unwrap();
    // The verdict is recorded and the message acknowledged: the finding waits on the queue.
    assert!(response.batch_item_failures.is_empty());
    let tags = p.store().tags_of(&object("eicar.com", &eicar)).unwrap();
    assert!(tags.contains(&("scan-result".into(), "Infected".into())));
    let queued = publisher.requeued.lock().unwrap().clone();
    assert_eq!(queued.len(), 1);
    assert!(queued[0].contains("securityHubFinding"), "{}", queued[0]);

    publisher.fail_import.store(false, Ordering::SeqCst);
    let calls = p.store().calls().len();
    let mut later = SqsMessage::default();
    later.message_id = Some("later".into());
    later.body = Some(queued[0].clone());
    let response = crate::batch::process(&p, batch(vec![later])).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        p.store().calls().len(),
        calls,
        "no S3 request for a queued finding"
    );
    let filed = publisher.findings.lock().unwrap().clone();
    assert_eq!(filed.len(), 1);
    assert_eq!(filed[0].id, finding_id(&object("eicar.com", &eicar)));

    // Neither imported nor queued: the message is retried, the verdict stays.
    publisher.fail_import.store(true, Ordering::SeqCst);
    publisher.fail_requeue.store(true, Ordering::SeqCst);
    let response = crate::batch::process(&p, batch(vec![record("eicar.com", &eicar)]))
        .await
        .unwrap();
    assert_eq!(response.batch_item_failures.len(), 1);
}
