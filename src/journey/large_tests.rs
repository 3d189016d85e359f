//! Objects over `LARGE_OBJECT_SIZE`: forwarded to the agent's queue unread and untouched, the
//! message acknowledged only once the queue has taken them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use pretty_assertions::assert_eq;

use super::tests::{EICAR, created, pipeline, quarantining, settled, store};
use crate::batch::demand;
use crate::event::{ObjectEvent, decode_body};
use crate::forward::{LargeObjects, MemoryForwarder};
use crate::object::ObjectRef;
use crate::pipeline::Pipeline;
use crate::report::{Disposition, Retry, Settled};
use crate::store::{MemoryStore, Op};

fn forwarding(s: MemoryStore, over: u64) -> (Pipeline<MemoryStore>, Arc<MemoryForwarder>) {
    let mut config = quarantining();
    config.large_objects = Some(LargeObjects {
        over,
        queue_url: "https://sqs/large".into(),
    });
    let forwarder = Arc::new(MemoryForwarder::default());
    let p = pipeline(s, config).with_forwarder(Some(forwarder.clone()));
    (p, forwarder)
}

#[tokio::test]
async fn an_object_over_the_size_is_forwarded_unread_and_untouched() {
    let s = store();
    let info = s.put("uploads", "big.iso", EICAR, &[]);
    let (p, forwarder) = forwarding(s, 10);
    let event = created("uploads", "big.iso", &info);
    let report = crate::journey::settle(&p, &event).await;
    assert_eq!(
        settled(&report),
        &Settled::Forwarded {
            queue: "https://sqs/large".into(),
            over: 10
        }
    );
    assert!(report.verdict.is_none(), "never a verdict, never Clean");
    assert_eq!(p.store().calls(), [], "nothing read, nothing written");
    assert_eq!(report.requests, 1, "the SendMessage counts");
    let sent = forwarder.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(decode_body(&sent[0]).unwrap().objects, [event]);
}

#[tokio::test]
async fn an_object_at_the_size_is_scanned_here() {
    let s = store();
    let info = s.put("uploads", "small.txt", EICAR, &[]);
    let (p, forwarder) = forwarding(s, info.size);
    let report = crate::journey::settle(&p, &created("uploads", "small.txt", &info)).await;
    assert_eq!(report.verdict.map(|v| v.name()), Some("Infected"));
    assert!(forwarder.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failed_forward_retries_the_message() {
    let s = store();
    let info = s.put("uploads", "big.iso", EICAR, &[]);
    let (p, forwarder) = forwarding(s, 10);
    forwarder.fail.store(true, Ordering::SeqCst);
    let report = crate::journey::settle(&p, &created("uploads", "big.iso", &info)).await;
    assert!(
        matches!(&report.disposition, Disposition::Retry(Retry::Forward(_))),
        "{}",
        report.disposition
    );
    assert_eq!(p.store().tags_of(&report.object), Some(Vec::new()));
}

#[tokio::test]
async fn an_event_without_a_size_is_forwarded_with_the_version_and_etag_read() {
    let s = store();
    let info = s.put("uploads", "big.iso", EICAR, &[]);
    let (p, forwarder) = forwarding(s, 10);
    let event = ObjectEvent::announced(
        ObjectRef::new("uploads", "big.iso"),
        None,
        demand::EVENT_NAME,
    );
    let report = crate::journey::settle(&p, &event).await;
    assert!(matches!(settled(&report), Settled::Forwarded { .. }));
    assert_eq!(p.store().calls().len(), 1, "one read, nothing written");
    assert_eq!(p.store().calls()[0].0, Op::GetObject);
    let sent = forwarder.sent.lock().unwrap().clone();
    let decoded = decode_body(&sent[0]).unwrap().objects;
    assert_eq!(decoded[0].object.version_id, info.version_id);
    assert_eq!(decoded[0].etag, info.etag);
    assert_eq!(decoded[0].size, Some(info.size));
}

#[tokio::test]
async fn an_on_demand_scan_answers_with_the_report() {
    let s = store();
    let info = s.put("uploads", "a b.txt", EICAR, &[]);
    let p = pipeline(s, quarantining());
    let request = serde_json::json!({"scanObject": {"bucket": "uploads", "key": "a b.txt",
        "versionId": info.version_id}});
    assert!(demand::is_scan_object(&request));
    let request: demand::ScanObject = serde_json::from_value(request).unwrap();
    let answer = crate::batch::demand::scan_on_demand(&p, request, None).await;
    assert_eq!(answer["verdict"], "Infected");
    assert_eq!(answer["key"], "a b.txt");
    assert_eq!(answer["location"]["state"], "quarantined");
    assert_eq!(answer["settled"], true);
}

#[tokio::test]
async fn an_on_demand_scan_of_an_unprotected_bucket_reads_nothing() {
    let s = store();
    s.put("plain", "k", EICAR, &[]);
    let mut config = quarantining();
    config.protected_buckets = vec!["uploads".into()];
    let p = pipeline(s, config);
    let request =
        serde_json::from_value(serde_json::json!({"scanObject": {"bucket": "plain", "key": "k"}}))
            .unwrap();
    let answer = crate::batch::demand::scan_on_demand(&p, request, None).await;
    assert_eq!(answer["settled"], false);
    assert_eq!(answer["verdict"], serde_json::Value::Null);
    assert!(
        answer["outcome"]
            .as_str()
            .unwrap()
            .contains("not protected")
    );
    assert_eq!(p.store().calls(), []);
}
