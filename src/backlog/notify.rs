//! The message `backlog --to-queue` sends for one object: an S3 event notification, as S3
//! sends straight to SQS, that the function decodes like any other (`event::decode_body`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;

use super::EVENT_NAME;

/// Characters S3 leaves as they are in a notification's key; the space becomes `+`, the rest
/// is percent-encoded (a literal `+` becomes `%2B`, so decoding `+` first is unambiguous).
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'*')
    .remove(b'/')
    .remove(b' ');

/// `key` as S3 writes it in a notification.
pub fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY).to_string().replace(' ', "+")
}

/// The body of the message announcing `bucket`/`key` (of `size` bytes). No ETag and no
/// version: the function reads whatever the key holds when the message arrives, so that an
/// object replaced since the listing is scanned rather than dismissed as replaced.
pub fn body(bucket: &str, key: &str, size: Option<u64>, now: &str) -> String {
    let mut object = json!({ "key": encode_key(key) });
    if let Some(size) = size {
        object["size"] = json!(size);
    }
    json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "eventTime": now,
            "eventName": EVENT_NAME,
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": { "name": bucket, "arn": format!("arn:aws:s3:::{bucket}") },
                "object": object,
            },
        }]
    })
    .to_string()
}
