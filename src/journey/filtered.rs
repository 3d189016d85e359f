//! The step before any other: an object the filters skip (`SKIP_*`) gets the verdict `Skipped`
//! from its event alone, with no read of its bytes; tagged, or left as it is.

use crate::action::ActionError;
use crate::event::{EventKind, ObjectEvent};
use crate::filter::SkippedAction;
use crate::object::ObjectInfo;
use crate::pipeline::Pipeline;
use crate::report::{Disposition, Report, Retry, Settled};
use crate::store::ObjectStore;
use crate::verdict::Verdict;

impl<S: ObjectStore> Pipeline<S> {
    /// The report of a skipped object, or `None` when the filters let it be scanned.
    pub(super) async fn filtered(&self, event: &ObjectEvent, report: &Report) -> Option<Report> {
        let filters = &self.config.filters;
        let reason = filters.skip_reason(&event.object.key, event.size)?;
        let mut report = report.clone();
        report.verdict = Some(Verdict::Skipped(reason));
        // A tag change (the scanner's own Skipped tags among them) needs nothing: tagging
        // again would announce another change, forever.
        if filters.action == SkippedAction::Ignore || event.kind() == EventKind::TagsChanged {
            return Some(report.ending(Disposition::Acknowledge(Settled::NotTagged)));
        }
        let info = match self.skipped_info(event).await {
            Ok(Some(info)) => info,
            Ok(None) => return Some(report.ending(Disposition::Acknowledge(Settled::Replaced))),
            Err(e) => return Some(report.ending(Disposition::Retry(Retry::Record(e)))),
        };
        let verdict = report.verdict.clone().unwrap_or(Verdict::Clean);
        let ending = match self.apply(&mut report, &info, &verdict, None).await {
            Ok(location) => {
                report.location = location;
                Disposition::Acknowledge(Settled::Recorded)
            }
            // The key holds a newer upload, which has an event of its own.
            Err(ActionError::Replaced) => Disposition::Acknowledge(Settled::Replaced),
            Err(e) if e.is_retryable(&verdict) => Disposition::Retry(Retry::Record(e)),
            Err(e) => Disposition::Acknowledge(Settled::NotRecorded(e)),
        };
        Some(report.ending(ending))
    }

    /// What the tags will be signed for: the event's version, ETag and size when it names
    /// them all; otherwise what the key holds now, if that is still the announced upload.
    async fn skipped_info(&self, event: &ObjectEvent) -> Result<Option<ObjectInfo>, ActionError> {
        if let (Some(etag), Some(size)) = (&event.etag, event.size)
            && event.object.is_pinned()
        {
            return Ok(Some(ObjectInfo {
                version_id: event.object.version_id.clone(),
                size,
                etag: Some(etag.clone()),
                ..ObjectInfo::default()
            }));
        }
        let head = self.store.head(&event.object).await;
        match head.map_err(|source| ActionError::Store {
            step: "reading the skipped object's version",
            source,
        })? {
            Some(info) if event.etag.is_none() || info.etag == event.etag => Ok(Some(info)),
            _ => Ok(None),
        }
    }
}
