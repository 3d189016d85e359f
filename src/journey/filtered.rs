//! The step before any other: a new object the filters skip (`SKIP_*`) gets the verdict
//! `Skipped` without a read of its bytes; tagged, or left as it is but for verdict tags the
//! scanner did not sign, which are taken off. Tag changes are not
//! filtered: they are checked as on any object, so a verdict someone else wrote on a skipped
//! object is not left standing.

use crate::action::{ActionError, Location};
use crate::event::{EventKind, ObjectEvent};
use crate::filter::SkippedAction;
use crate::object::ObjectInfo;
use crate::pipeline::Pipeline;
use crate::record;
use crate::report::{Disposition, Report, Retry, Settled};
use crate::store::ObjectStore;
use crate::verdict::Verdict;

/// What the filters make of an object.
pub(super) enum Filtered {
    /// Not skipped: the journey goes on.
    Scan,
    /// Skipped: what happened.
    Done(Box<Report>),
    /// Skipped, but the key held a newer upload by the time it was tagged: that upload is
    /// judged in its place (the check took any verdict off it).
    Replaced,
}

impl<S: ObjectStore> Pipeline<S> {
    /// Whether the filters skip `event`'s object, and if so what became of it.
    pub(super) async fn filtered(&self, event: &ObjectEvent, report: &Report) -> Filtered {
        let filters = &self.config.filters;
        if event.kind() == EventKind::TagsChanged {
            return Filtered::Scan;
        }
        let Some(reason) = filters.skip_reason(&event.object.key, event.size) else {
            return Filtered::Scan;
        };
        let mut report = report.clone();
        report.verdict = Some(Verdict::Skipped(reason));
        if filters.action == SkippedAction::Ignore {
            return Filtered::Done(Box::new(self.ignored(event, report).await));
        }
        let info = match self.skipped_info(event).await {
            Ok(Some(info)) => info,
            // Not the object the event announced any more (or its size no longer skips it):
            // judged as any other.
            Ok(None) => return Filtered::Scan,
            Err(e) => {
                return Filtered::Done(Box::new(
                    report.ending(Disposition::Retry(Retry::Record(e))),
                ));
            }
        };
        report.object = event.object.at_version(info.version_id.clone());
        report.size = Some(info.size);
        report.etag = info.etag.clone();
        let verdict = report.verdict.clone().unwrap_or(Verdict::Clean);
        let ending = match self.apply(&mut report, &info, &verdict, None).await {
            Ok(Location::Gone) => {
                report.location = Location::Gone;
                Disposition::Acknowledge(Settled::Gone {
                    code: "NoSuchKey".into(),
                    quarantined: None,
                })
            }
            Ok(location) => {
                report.location = location;
                Disposition::Acknowledge(Settled::Recorded)
            }
            Err(ActionError::Replaced) => return Filtered::Replaced,
            // No room next to the object's own tags: nothing is written (any forged verdict was
            // taken off), as no verdict reads as "not clean" all the same.
            Err(ActionError::TagLimit(e)) => {
                tracing::warn!(object = %report.object, error = %e, "skipped object not tagged: no room for the Skipped verdict");
                Disposition::Acknowledge(Settled::NotTagged)
            }
            Err(e) if e.is_retryable(&verdict) => Disposition::Retry(Retry::Record(e)),
            Err(e) => Disposition::Acknowledge(Settled::NotRecorded(e)),
        };
        Filtered::Done(Box::new(report.ending(ending)))
    }

    /// A skipped object left untagged (`SKIPPED_ACTION=ignore`) still loses any verdict tags
    /// the scanner did not sign for its bytes: an uploader who names an object so that it is
    /// skipped must not make a forged `Clean` stick.
    async fn ignored(&self, event: &ObjectEvent, report: Report) -> Report {
        let keys = &self.config.tag_keys;
        let cleared = record::clear_foreign_verdict(
            &self.store,
            keys,
            self.signing_key.as_ref(),
            &event.object,
        )
        .await;
        let verdict = report.verdict.clone().unwrap_or(Verdict::Clean);
        match cleared {
            Ok(removed) => {
                if removed {
                    tracing::warn!(object = %event.object, "verdict tags someone else set were taken off a skipped object");
                }
                report.ending(Disposition::Acknowledge(Settled::NotTagged))
            }
            Err(e) if e.is_retryable(&verdict) => {
                report.ending(Disposition::Retry(Retry::Record(e)))
            }
            Err(e) => report.ending(Disposition::Acknowledge(Settled::NotRecorded(e))),
        }
    }

    /// The version the Skipped tags are signed for, as HEAD tells it (with its checksum, which
    /// the signature covers), when it is still the announced upload and its size still skips
    /// it; `None` otherwise, or when it is gone.
    async fn skipped_info(&self, event: &ObjectEvent) -> Result<Option<ObjectInfo>, ActionError> {
        let head = self.store.head(&event.object).await;
        let info = head.map_err(|source| ActionError::Store {
            step: "reading the skipped object's version",
            source,
        })?;
        Ok(info.filter(|info| {
            let announced = event.etag.is_none() || info.etag == event.etag;
            let same_size = event.size.is_none_or(|n| n == info.size);
            let still_skipped = self
                .config
                .filters
                .skip_reason(&event.object.key, Some(info.size))
                .is_some();
            announced && same_size && still_skipped
        }))
    }
}
