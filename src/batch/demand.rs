//! On-demand scans: an invocation `{"scanObject": {"bucket", "key", "versionId"?}}` runs one
//! object's journey (read, scan, tag, act, result event) and answers with its report, the
//! result event's document: what GuardDuty users call for an on-demand scan. Only objects of
//! the buckets this deployment judges; the key is given as stored, not URL-encoded.

use std::time::SystemTime;

use serde::Deserialize;
use serde_json::Value;

use crate::deadline::Timing;
use crate::event::ObjectEvent;
use crate::journey;

use super::announce::announce;
use crate::object::ObjectRef;
use crate::pipeline::Pipeline;
use crate::store::ObjectStore;

/// The event name on-demand scans are processed under: a creation, as for new uploads.
pub const EVENT_NAME: &str = "ObjectCreated:OnDemand";
/// The invocation's one key.
pub const KEY: &str = "scanObject";

/// An on-demand scan's invocation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanObject {
    /// The request.
    #[serde(rename = "scanObject")]
    pub scan_object: Requested,
}

/// The object to scan.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Requested {
    /// Its bucket.
    pub bucket: String,
    /// Its key, as stored.
    pub key: String,
    /// One version; the current one when left out.
    pub version_id: Option<String>,
}

/// True when `event` is an on-demand scan's invocation.
pub fn is_scan_object(event: &Value) -> bool {
    event.get(KEY).is_some()
}

/// Runs the requested object's journey, logged and announced as any other, and answers
/// with its report: the result event's document, whatever `RESULT_VERDICTS` publishes,
/// and `settled` (false when it failed and should be asked again).
pub async fn scan_on_demand<S: ObjectStore>(
    p: &Pipeline<S>,
    request: ScanObject,
    deadline: Option<SystemTime>,
) -> Value {
    p.refresh_rules().await;
    let Requested {
        bucket,
        key,
        version_id,
    } = request.scan_object;
    let object = ObjectRef::new(bucket, key).at_version(version_id);
    let event = ObjectEvent::announced(object, None, EVENT_NAME);
    let timing = Timing::new(deadline, p.config.scan_timeout);
    let report = journey::settle_within(p, &event, &timing).await;
    report.log(&[KEY]);
    let report = announce(p, report).await;
    let mut document = crate::publish::document(&report);
    document["settled"] = Value::Bool(report.is_settled());
    document
}
