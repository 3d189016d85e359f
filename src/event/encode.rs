//! Events written: the inverse of [`super::decode_body`] for one object.

use serde_json::json;

use super::ObjectEvent;
use crate::object::encode_key;

/// The notification of `event`, as S3 sends it straight to SQS, with what the event knows
/// (size, ETag, version, sequencer, owner, region): what `backlog --to-queue` sends and what a
/// large object's message becomes on the agent's queue, read back by [`decode_body`].
pub fn notification(event: &ObjectEvent, now: &str) -> String {
    let mut object = json!({ "key": encode_key(&event.object.key) });
    if let Some(size) = event.size {
        object["size"] = json!(size);
    }
    if let Some(etag) = &event.etag {
        object["eTag"] = json!(etag);
    }
    if let Some(version) = &event.object.version_id {
        object["versionId"] = json!(version);
    }
    if let Some(sequencer) = &event.sequencer {
        object["sequencer"] = json!(sequencer);
    }
    let bucket = &event.object.bucket;
    let mut bucket_json = json!({ "name": bucket, "arn": format!("arn:aws:s3:::{bucket}") });
    if let Some(owner) = &event.owner {
        bucket_json["ownerIdentity"] = json!({ "principalId": owner });
    }
    let mut record = json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": now,
        "eventName": event.event_name,
        "s3": { "s3SchemaVersion": "1.0", "bucket": bucket_json, "object": object },
    });
    if let Some(region) = &event.region {
        record["awsRegion"] = json!(region);
    }
    json!({ "Records": [record] }).to_string()
}
