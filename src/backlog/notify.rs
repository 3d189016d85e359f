//! The message `backlog --to-queue` sends for one object: an S3 event notification, as S3
//! sends straight to SQS, that the function decodes like any other (`event::decode_body`).

use super::EVENT_NAME;
use crate::event::{ObjectEvent, notification};
use crate::object::ObjectRef;

/// The body of the message announcing `bucket`/`key` (of `size` bytes). No ETag and no
/// version: the function reads whatever the key holds when the message arrives, so that an
/// object replaced since the listing is scanned rather than dismissed as replaced.
pub fn body(bucket: &str, key: &str, size: Option<u64>, now: &str) -> String {
    let event = ObjectEvent::announced(ObjectRef::new(bucket, key), size, EVENT_NAME);
    notification(&event, now)
}
