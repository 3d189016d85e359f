//! Result events, the documents: one JSON document per object, built from its [`Report`],
//! published to EventBridge and/or SNS (`RESULT_EVENT_BUS`, `RESULT_TOPIC_ARN`) after its
//! verdict is recorded and acted on, through the [`Publish`] seam (in AWS `aws/targets.rs`,
//! the transport; in tests [`MemoryPublisher`]). Publishing never changes what happened to
//! the object: a document that cannot be published goes back on the scan queue (`QUEUE_URL`)
//! as a message of its own, which is published again later without a rescan, re-tag or second
//! quarantine.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Value, json};

use crate::findings::{Finding, Product};
use crate::object::Location;
pub use crate::report::PublishError;
use crate::report::Report;
use crate::verdict::Verdict;

mod guardduty;

pub use crate::config::{DETAIL_TYPE, GUARDDUTY_DETAIL_TYPE, ResultEvents, ResultSchema};
pub use guardduty::OWN_FIELDS;

/// The `source` of the EventBridge events.
pub const SOURCE: &str = "s3-yara-scan";
/// Every verdict a document can carry, as `RESULT_VERDICTS` names them.
pub const VERDICTS: &[&str] = crate::verdict::VerdictKind::NAMES;
/// The most matches a document lists (`matchCount` has them all).
pub const MAX_MATCHES: usize = 100;
/// The key of a queued document (a message body `{"s3YaraScanResult": "…", "mac": "…"}`: the
/// document's text and its MAC) that waits to be published again.
pub const QUEUED_KEY: &str = "s3YaraScanResult";

/// The document for `report`, when `events` publish its verdict.
pub fn published_document(events: &ResultEvents, report: &Report) -> Option<Value> {
    let verdict = report.verdict.as_ref()?;
    if !events.is_on() || !events.verdicts.contains(&verdict.name()) {
        return None;
    }
    Some(match events.schema {
        ResultSchema::Scan => document(report),
        ResultSchema::GuardDuty => guardduty::document(report, verdict),
    })
}

/// The result event of one object: what it is, the verdict with its matches (rule, namespace,
/// archive member, meta), the ruleset, where the object is now and how long each step took.
pub fn document(report: &Report) -> Value {
    let verdict = report.verdict.as_ref();
    let all = verdict.map_or(&[][..], Verdict::matches);
    // EventBridge and SNS take 256 KB: an archive of thousands of matching members is named by
    // its first matches and their count.
    let matches: Vec<Value> = all.iter().take(MAX_MATCHES).map(|m| {
        let meta: serde_json::Map<String, Value> =
            m.meta.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
        json!({"rule": m.rule, "namespace": m.namespace, "member": m.member, "fileType": m.filetype, "label": m.label(), "meta": meta})
    }).collect();
    json!({
        "type": DETAIL_TYPE,
        "bucket": report.object.bucket,
        "key": report.object.key,
        "versionId": report.object.version_id,
        "eTag": report.etag,
        "size": report.size,
        "fileType": report.file_type,
        "bucketOwner": report.owner,
        "verdict": verdict.map(Verdict::name),
        "reason": verdict.and_then(Verdict::reason),
        "matches": matches,
        "matchCount": all.len(),
        "ruleset": report.ruleset,
        "location": location(&report.location),
        "outcome": report.disposition.to_string(),
        "scannedAt": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "timings": {
            "getMs": report.timings.get_ms,
            "scanMs": report.timings.scan_ms,
            "tagMs": report.timings.tag_ms,
            "actionMs": report.timings.action_ms,
        },
        "requests": report.requests,
    })
}

fn location(location: &Location) -> Value {
    match location {
        Location::InPlace => json!({"state": "in-place"}),
        Location::Quarantined(copy) => json!({
            "state": "quarantined", "bucket": copy.bucket, "key": copy.key,
            "versionId": copy.version_id,
        }),
        Location::Promoted(copy) => json!({
            "state": "promoted", "bucket": copy.bucket, "key": copy.key,
            "versionId": copy.version_id,
        }),
        Location::Restored(copy) => json!({
            "state": "restored", "bucket": copy.bucket, "key": copy.key,
            "versionId": copy.version_id,
        }),
        Location::Deleted => json!({"state": "deleted"}),
        Location::Gone => json!({"state": "gone"}),
    }
}

/// A document's verdict and bucket: the SNS message attributes subscription filters match on
/// (in a GuardDuty-schema document, from this scanner's own fields riding along).
pub fn attributes(document: &Value) -> (&str, &str) {
    let own = document.get(OWN_FIELDS).unwrap_or(document);
    let text = |k: &str| own.get(k).and_then(Value::as_str).unwrap_or("-");
    (text("verdict"), text("bucket"))
}

/// A boxed future, so that publishers can be swapped at run time.
pub type Publishing<'a> = Pin<Box<dyn Future<Output = Result<(), PublishError>> + Send + 'a>>;

/// Where documents go: EventBridge and SNS in AWS (`aws::AwsPublisher`), a list in tests.
pub trait Publish: Send + Sync + std::fmt::Debug {
    /// Publishes `document` to every target; fails if any target did not take it.
    fn publish<'a>(&'a self, document: &'a Value) -> Publishing<'a>;

    /// Puts `body` (a sealed document, see `batch`) on the scan queue, as a message of its own,
    /// to be published later.
    fn requeue<'a>(&'a self, body: &'a str) -> Publishing<'a>;

    /// Where Security Hub findings are filed, when `SECURITY_HUB` is on.
    fn product(&self) -> Option<&Product>;

    /// Imports `finding` into Security Hub (created, or updated by its id).
    fn import<'a>(&'a self, finding: &'a Finding) -> Publishing<'a>;
}

/// Documents kept in memory, for tests; each kind of call can be made to fail.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    /// Documents published, in order.
    pub published: std::sync::Mutex<Vec<Value>>,
    /// Message bodies put back on the queue, in order.
    pub requeued: std::sync::Mutex<Vec<String>>,
    /// When set, `publish` fails.
    pub fail_publish: std::sync::atomic::AtomicBool,
    /// When set, `requeue` fails.
    pub fail_requeue: std::sync::atomic::AtomicBool,
    /// Findings imported, in order; findings are on when `product` is set.
    pub findings: std::sync::Mutex<Vec<Finding>>,
    /// Where findings are filed.
    pub product: Option<Product>,
    /// When set, `import` fails.
    pub fail_import: std::sync::atomic::AtomicBool,
}

impl MemoryPublisher {
    fn keep<T: Clone>(
        list: &std::sync::Mutex<Vec<T>>,
        fail: &std::sync::atomic::AtomicBool,
        document: &T,
        target: &str,
    ) -> Result<(), PublishError> {
        if fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(PublishError {
                target: target.into(),
                detail: "failing, as the test asked".into(),
            });
        }
        list.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(document.clone());
        Ok(())
    }
}

impl Publish for MemoryPublisher {
    fn publish<'a>(&'a self, document: &'a Value) -> Publishing<'a> {
        let kept = Self::keep(&self.published, &self.fail_publish, document, "memory");
        Box::pin(async move { kept })
    }

    fn requeue<'a>(&'a self, body: &'a str) -> Publishing<'a> {
        let kept = Self::keep(
            &self.requeued,
            &self.fail_requeue,
            &body.to_owned(),
            "memory queue",
        );
        Box::pin(async move { kept })
    }

    fn product(&self) -> Option<&Product> {
        self.product.as_ref()
    }

    fn import<'a>(&'a self, finding: &'a Finding) -> Publishing<'a> {
        let kept = Self::keep(&self.findings, &self.fail_import, finding, "memory hub");
        Box::pin(async move { kept })
    }
}

#[cfg(test)]
mod tests;
