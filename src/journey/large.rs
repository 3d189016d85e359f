//! Objects over `LARGE_OBJECT_SIZE`: not read here but handed to the agent's queue
//! (`crate::forward`), so that an object larger than the function's memory and disk is still
//! scanned, by `s3-yara-scan poll` on ECS, rather than left `Unscannable`.

use crate::event::{self, ObjectEvent};
use crate::forward::ForwardError;
use crate::object::ObjectInfo;
use crate::pipeline::Pipeline;
use crate::report::{Retry, Settled};
use crate::store::{ObjectStore, requests};

use super::ending::{Ending, Seen};

/// Hands `event`'s object to the agent when its `size` is over `LARGE_OBJECT_SIZE`: `Err` with
/// the ending of its journey here, `Ok` when it is read here.
pub(super) async fn forwarded<S: ObjectStore>(
    p: &Pipeline<S>,
    event: &ObjectEvent,
    size: u64,
) -> Result<(), Ending> {
    let Some(large) = p.config.large_objects.as_ref().filter(|l| l.takes(size)) else {
        return Ok(());
    };
    let mut event = event.clone();
    event.size = Some(size);
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let body = event::notification(&event, &now);
    let sent = match &p.forwarder {
        Some(forwarder) => {
            requests::count();
            forwarder.forward(&body).await
        }
        None => Err(ForwardError {
            queue: large.queue_url.clone(),
            detail: "no SQS client for it (the pipeline was built without one)".into(),
        }),
    };
    let ending = match sent {
        Ok(()) => Ending::settled(Settled::Forwarded {
            queue: large.queue_url.clone(),
            over: large.over,
        }),
        Err(e) => Ending::retried(Retry::Forward(e)),
    };
    Err(ending.seen(Seen {
        object: event.object,
        size,
        etag: event.etag,
    }))
}

/// [`forwarded`] for an object whose size only the read told: the event then names the
/// version, ETag and size read, so that the agent judges the bytes seen here.
pub(super) async fn forwarded_after_read<S: ObjectStore>(
    p: &Pipeline<S>,
    event: &ObjectEvent,
    info: &ObjectInfo,
) -> Result<(), Ending> {
    let mut seen = event.clone();
    seen.object = event.object.at_version(info.version_id.clone());
    seen.etag = info.etag.clone();
    forwarded(p, &seen, info.size).await
}
