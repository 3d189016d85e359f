//! Promotion in the journey: a clean object of a staging bucket (`PROMOTE`) moves to its
//! production bucket once its verdict is recorded; so does one skipped for its valid signed
//! `Clean`, which is how a delivery that died between the copy and the delete is finished.

use std::time::Instant;

use crate::action::{self, ActionError, Location};
use crate::object::{ObjectInfo, ObjectRef, Tags};
use crate::pipeline::Pipeline;
use crate::report::{Disposition, Report, Retry, Settled, ms};
use crate::store::ObjectStore;
use crate::verdict::Verdict;

impl<S: ObjectStore> Pipeline<S> {
    /// Promotes the clean object `report` names to `dest`, its tags `existing` and `ours`.
    pub(super) async fn promote(
        &self,
        report: &mut Report,
        info: &ObjectInfo,
        (existing, ours): (&Tags, Tags),
        dest: &ObjectRef,
    ) -> Result<Location, ActionError> {
        let started = Instant::now();
        let source = (&report.object, info);
        let moved = action::promote(&self.store, &self.config, source, existing, ours, dest).await;
        report.timings.action_ms = ms(started);
        moved
    }

    /// A staging object skipped for its signed `Clean` still has to reach production: an
    /// earlier delivery recorded the verdict and stopped before the move was done.
    pub(super) async fn promote_signed(&self, mut report: Report) -> Report {
        let signed = matches!(
            report.disposition,
            Disposition::Acknowledge(Settled::SignedClean { .. })
        );
        let Some(dest) = self.config.promotion(&report.object).filter(|_| signed) else {
            return report;
        };
        let read = async {
            let info = self.store.head(&report.object).await?;
            let tags = self.store.tags(&report.object).await?;
            Ok::<_, crate::StoreError>(info.map(|info| (info, tags)))
        };
        let (info, tags) = match read.await {
            Ok(Some(found)) => found,
            Ok(None) => {
                report.location = Location::Gone;
                return report;
            }
            Err(e) if e.is_retryable() => return report.ending(Disposition::Retry(Retry::Read(e))),
            Err(e) => {
                let e = ActionError::Act {
                    step: "reading the staging object to promote it",
                    source: e,
                };
                return report.ending(Disposition::Acknowledge(Settled::NotRecorded(e)));
            }
        };
        // The verdict tags as they are, signature included: the copy carries them unchanged.
        let keys = &self.config.tag_keys;
        let ours: Tags = tags
            .iter()
            .filter(|(k, _)| keys.all().contains(&k.as_str()) && *k != keys.source)
            .cloned()
            .collect();
        match self.promote(&mut report, &info, (&tags, ours), &dest).await {
            Ok(location) => {
                report.location = location;
                report
            }
            Err(e) if e.is_retryable(&Verdict::Clean) => {
                report.ending(Disposition::Retry(Retry::Record(e)))
            }
            Err(e) => report.ending(Disposition::Acknowledge(Settled::NotRecorded(e))),
        }
    }
}
