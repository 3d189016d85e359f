//! Objects too large for the function, handed to the agent: over `LARGE_OBJECT_SIZE` the
//! function reads nothing; it sends the object's notification to `LARGE_OBJECT_QUEUE_URL`,
//! which the agent (`s3-yara-scan poll`, on ECS with up to 200 GiB of disk) consumes, and
//! acknowledges its own message once the queue has taken it. The object is left untouched:
//! no verdict, no tags, never `Clean`, until the agent settles it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where objects over a size go (`LARGE_OBJECT_SIZE`, `LARGE_OBJECT_QUEUE_URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LargeObjects {
    /// Objects larger than this many bytes are forwarded.
    pub over: u64,
    /// The agent's queue.
    pub queue_url: String,
}

impl LargeObjects {
    /// True when an object of `size` bytes goes to the agent.
    pub fn takes(&self, size: u64) -> bool {
        size > self.over
    }
}

/// Why an object's notification did not reach the agent's queue (after the SDK's retries).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("not forwarded to the large-object queue {queue}: {detail}")]
pub struct ForwardError {
    /// The queue.
    pub queue: String,
    /// What SQS or the connection said, naming the permission when it is one.
    pub detail: String,
}

/// A boxed future, so that forwarders can be swapped at run time.
pub type Forwarding<'a> = Pin<Box<dyn Future<Output = Result<(), ForwardError>> + Send + 'a>>;

/// Sends notification bodies to the agent's queue: SQS in AWS (`aws::ScanQueue`), a list in
/// tests.
pub trait Forward: Send + Sync + std::fmt::Debug {
    /// Puts `body` on the agent's queue as one message.
    fn forward<'a>(&'a self, body: &'a str) -> Forwarding<'a>;
}

/// Bodies kept in memory, for tests; forwarding can be made to fail.
#[derive(Debug, Default)]
pub struct MemoryForwarder {
    /// Bodies forwarded, in order.
    pub sent: Mutex<Vec<String>>,
    /// When set, `forward` fails.
    pub fail: AtomicBool,
}

impl Forward for MemoryForwarder {
    fn forward<'a>(&'a self, body: &'a str) -> Forwarding<'a> {
        let sent = if self.fail.load(Ordering::SeqCst) {
            Err(ForwardError {
                queue: "memory".into(),
                detail: "failing, as the test asked".into(),
            })
        } else {
            self.sent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(body.to_owned());
            Ok(())
        };
        Box::pin(async move { sent })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::ObjectRef;

    use crate::event::{self, ObjectEvent};

    #[test]
    fn the_forwarded_body_decodes_to_the_same_object_version_and_etag() {
        let mut event = ObjectEvent::announced(
            ObjectRef::new("uploads", "big files/a+b%.iso").at_version(Some("v1".into())),
            Some(30 << 30),
            "ObjectCreated:CompleteMultipartUpload",
        );
        event.etag = Some("abc-3".into());
        event.sequencer = Some("0A1B".into());
        event.owner = Some("OWNER".into());
        let decoded =
            event::decode_body(&event::notification(&event, "2026-12-06T00:00:00Z")).unwrap();
        assert_eq!(decoded.objects, [event]);
    }

    #[test]
    fn only_objects_over_the_threshold_are_taken() {
        let large = LargeObjects {
            over: 1000,
            queue_url: "q".into(),
        };
        assert!(!large.takes(1000));
        assert!(large.takes(1001));
    }
}
