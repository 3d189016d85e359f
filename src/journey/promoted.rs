//! Promotion in the journey: a clean object of a staging bucket (`PROMOTE`) moves to its
//! production bucket once its verdict is recorded; so does one skipped for its valid signed
//! `Clean` (or, with `PROMOTE_RELEASED=true`, `Released`), which is how a delivery that died between the copy and the delete is finished.

use std::time::Instant;

use crate::action::{self, ActionError, Location};
use crate::object::{ObjectInfo, ObjectRef, Tags};
use crate::pipeline::Pipeline;
use crate::report::{Disposition, Report, Retry, Settled, ms};
use crate::signature;
use crate::store::ObjectStore;
use crate::verdict::{Verdict, has_case_variants};

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
        // A signed Released reaches this far in a staging bucket only with PROMOTE_RELEASED.
        let signed = matches!(
            report.disposition,
            Disposition::Acknowledge(Settled::SignedClean { .. } | Settled::SignedReleased { .. })
        );
        let Some(dest) = self.config.promotion(&report.object).filter(|_| signed) else {
            return report;
        };
        let (info, tags) = match self.read_staged(&report.object).await {
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
        report.object = report.object.at_version(info.version_id.clone());
        // Read again, these must still be the bytes whose signed Clean spared the scan: an
        // unversioned key may hold a newer upload now, which its own event will judge.
        let keys = &self.config.tag_keys;
        let still_signed = self.signing_key.as_ref().and_then(|key| {
            let check = signature::verify(key, &info, &tags, keys);
            self.signed_kept(&report.object, &check, has_case_variants(&tags, keys))
        });
        if still_signed.is_none() {
            tracing::warn!(object = %report.object, "replaced since its signed Clean was checked; not promoted (the new upload has its own event)");
            return report;
        }
        // The verdict tags as they are, signature included: the copy carries them unchanged.
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

    /// The staging object's version now and the tags of that very version (the event may name
    /// none): the signature checked and the version copied are then those of the same bytes.
    /// `None` when it is gone.
    async fn read_staged(
        &self,
        object: &ObjectRef,
    ) -> Result<Option<(ObjectInfo, Tags)>, crate::StoreError> {
        let Some(info) = self.store.head(object).await? else {
            return Ok(None);
        };
        let version = object.at_version(info.version_id.clone());
        let tags = self.store.tags(&version).await?;
        Ok(Some((info, tags)))
    }
}
