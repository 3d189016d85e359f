//! Promotion in the journey: a clean object of a staging bucket (`PROMOTE`) moves to its
//! production bucket once its verdict is recorded; so does one skipped for its valid signed
//! `Clean` (or, with `PROMOTE_RELEASED=true`, `Released`), which is how a delivery that died
//! between the copy and the delete is finished.

use std::sync::Arc;
use std::time::Instant;

use crate::action::{self, ActionError};
use crate::event::ObjectEvent;
use crate::object::{Location, ObjectInfo, ObjectRef, Tags};
use crate::pipeline::Pipeline;
use crate::report::{Disposition, Retry, Settled, Timings, ms};
use crate::scan::RuleSets;
use crate::signature;
use crate::store::{ObjectStore, StoreError};
use crate::verdict::{Verdict, has_case_variants};

use super::checks;
use super::ending::{Ending, Seen};

/// Promotes the clean object `source` (its version as `info` describes it) to `dest`, its tags
/// `existing` and `ours`.
pub(super) async fn promote<S: ObjectStore>(
    p: &Pipeline<S>,
    source: (&ObjectRef, &ObjectInfo),
    (existing, ours): (&Tags, Tags),
    dest: &ObjectRef,
) -> Result<Location, ActionError> {
    action::promote(&p.store, &p.config, source, existing, ours, dest).await
}

/// A staging object kept for its signed `Clean` still has to reach production: an earlier
/// delivery recorded the verdict and stopped before the move was done. Any other ending is
/// returned as it is.
pub(super) async fn signed_promoted<S: ObjectStore>(
    p: &Pipeline<S>,
    rules: &Arc<RuleSets>,
    event: &ObjectEvent,
    ending: Ending,
    timings: &mut Timings,
) -> Ending {
    // A signed Released reaches this far in a staging bucket only with PROMOTE_RELEASED.
    let signed = matches!(
        ending.disposition(),
        Disposition::Acknowledge(Settled::SignedClean { .. } | Settled::SignedReleased { .. })
    );
    let object = ending.object(event).clone();
    let Some(dest) = p.config.promotion(&object).filter(|_| signed) else {
        return ending;
    };
    let (info, tags) = match read_staged(p, &object).await {
        Ok(Some(found)) => found,
        Ok(None) => return ending.at(Location::Gone),
        Err(e) if e.is_retryable() => return ending.instead(Disposition::Retry(Retry::Read(e))),
        Err(e) => {
            let e = ActionError::Act {
                step: "reading the staging object to promote it",
                source: e,
            };
            return ending.instead(Disposition::Acknowledge(Settled::NotRecorded(e)));
        }
    };
    let seen = Seen::of(&object, &info);
    let ending = ending.seen(seen.clone());
    // Read again, these must still be the bytes whose signed Clean spared the scan: an
    // unversioned key may hold a newer upload now, which its own event will judge.
    if !still_signed(p, rules, &seen.object, &info, &tags) {
        tracing::warn!(object = %seen.object, "replaced since its signed Clean was checked; not promoted (the new upload has its own event)");
        return ending;
    }
    // The verdict tags as they are, signature included: the copy carries them unchanged.
    let keys = &p.config.tag_keys;
    let ours: Tags = tags
        .iter()
        .filter(|(k, _)| keys.all().contains(&k.as_str()) && *k != keys.source)
        .cloned()
        .collect();
    let started = Instant::now();
    let moved = promote(p, (&seen.object, &info), (&tags, ours), &dest).await;
    timings.action_ms = ms(started);
    match moved {
        Ok(location) => ending.at(location),
        Err(e) if e.is_retryable(&Verdict::Clean) => {
            ending.instead(Disposition::Retry(Retry::Record(e)))
        }
        Err(e) => ending.instead(Disposition::Acknowledge(Settled::NotRecorded(e))),
    }
}

/// True when `tags` are still a signed verdict that spares `object` (`info` as read) a scan.
fn still_signed<S: ObjectStore>(
    p: &Pipeline<S>,
    rules: &Arc<RuleSets>,
    object: &ObjectRef,
    info: &ObjectInfo,
    tags: &Tags,
) -> bool {
    let keys = &p.config.tag_keys;
    let Some(key) = &p.signing_key else {
        return false;
    };
    let check = signature::verify(key, info, tags, keys);
    checks::signed_kept(p, rules, object, &check, has_case_variants(tags, keys)).is_some()
}

/// The staging object's version now and the tags of that very version (the event may name
/// none): the signature checked and the version copied are then those of the same bytes.
/// `None` when it is gone.
async fn read_staged<S: ObjectStore>(
    p: &Pipeline<S>,
    object: &ObjectRef,
) -> Result<Option<(ObjectInfo, Tags)>, StoreError> {
    let Some(info) = p.store.head(object).await? else {
        return Ok(None);
    };
    let version = object.at_version(info.version_id.clone());
    let tags = p.store.tags(&version).await?;
    Ok(Some((info, tags)))
}
