//! Objects over `LARGE_OBJECT_SIZE`: not read here but handed to the agent's queue
//! (`crate::forward`), so that an object larger than the function's memory and disk is still
//! scanned, by `s3-yara-scan poll` on ECS, rather than left `Unscannable`.

use crate::event::{self, ObjectEvent};
use crate::forward::ForwardError;
use crate::object::ObjectInfo;
use crate::pipeline::Pipeline;
use crate::report::{Disposition, Report, Retry, Settled};
use crate::store::{ObjectStore, requests};

impl<S: ObjectStore> Pipeline<S> {
    /// Hands `event`'s object to the agent when its `size` is over `LARGE_OBJECT_SIZE`: the
    /// report that ends its journey here, or `None` when it is read here.
    pub(super) async fn forwarded(
        &self,
        event: &ObjectEvent,
        report: &Report,
        size: u64,
    ) -> Option<Report> {
        let large = self
            .config
            .large_objects
            .as_ref()
            .filter(|l| l.takes(size))?;
        let mut event = event.clone();
        event.size = Some(size);
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let body = event::notification(&event, &now);
        let sent = match &self.forwarder {
            Some(forwarder) => {
                requests::count();
                forwarder.forward(&body).await
            }
            None => Err(ForwardError {
                queue: large.queue_url.clone(),
                detail: "no SQS client for it (the pipeline was built without one)".into(),
            }),
        };
        let mut report = report.clone();
        report.object = event.object.clone();
        report.size = Some(size);
        report.etag = event.etag.clone();
        Some(report.ending(match sent {
            Ok(()) => Disposition::Acknowledge(Settled::Forwarded {
                queue: large.queue_url.clone(),
                over: large.over,
            }),
            Err(e) => Disposition::Retry(Retry::Forward(e)),
        }))
    }

    /// [`Pipeline::forwarded`] for an object whose size only the read told: the event then
    /// names the version, ETag and size read, so that the agent judges the bytes seen here.
    pub(super) async fn forwarded_after_read(
        &self,
        event: &ObjectEvent,
        report: &Report,
        info: &ObjectInfo,
    ) -> Option<Report> {
        let mut seen = event.clone();
        seen.object = event.object.at_version(info.version_id.clone());
        seen.etag = info.etag.clone();
        self.forwarded(&seen, report, info.size).await
    }
}
