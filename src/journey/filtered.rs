//! The step before any other: a new object the filters skip (`SKIP_*`) gets the verdict
//! `Skipped` without a read of its bytes; tagged, or left as it is but for verdict tags the
//! scanner did not sign, which are taken off. Tag changes are not
//! filtered: they are checked as on any object, so a verdict someone else wrote on a skipped
//! object is not left standing.

use std::sync::Arc;

use crate::action::ActionError;
use crate::event::{EventKind, ObjectEvent};
use crate::filter::SkippedAction;
use crate::object::{Location, ObjectInfo};
use crate::pipeline::Pipeline;
use crate::record;
use crate::report::{Retry, Settled, Timings};
use crate::scan::RuleSets;
use crate::store::ObjectStore;
use crate::verdict::Verdict;

use super::ending::{Ending, Seen};
use super::recorded::{self, Recorded};

/// What the filters make of an object.
pub(super) enum Filtered {
    /// Not skipped: the journey goes on.
    Scan,
    /// Skipped: what happened.
    Done(Ending),
    /// Skipped, but the key held a newer upload by the time it was tagged: that upload is
    /// judged in its place (the check took any verdict off it).
    Replaced,
}

/// Whether the filters skip `event`'s object, and if so what became of it.
pub(super) async fn skipped<S: ObjectStore>(
    p: &Pipeline<S>,
    event: &ObjectEvent,
    rules: &Arc<RuleSets>,
    timings: &mut Timings,
) -> Filtered {
    let filters = &p.config.filters;
    if event.kind() == EventKind::TagsChanged {
        return Filtered::Scan;
    }
    let Some(reason) = filters.skip_reason(&event.object.key, event.size) else {
        return Filtered::Scan;
    };
    let verdict = Verdict::Skipped(reason);
    if filters.action == SkippedAction::Ignore {
        return Filtered::Done(ignored(p, event, &verdict).await.verdict(verdict));
    }
    let info = match skipped_info(p, event).await {
        Ok(Some(info)) => info,
        // Not the object the event announced any more (or its size no longer skips it):
        // judged as any other.
        Ok(None) => return Filtered::Scan,
        Err(e) => return Filtered::Done(Ending::retried(Retry::Record(e)).verdict(verdict)),
    };
    let seen = Seen::of(&event.object, &info);
    let Recorded {
        earlier_threat,
        acted,
    } = recorded::recorded(p, rules, (&seen, &info), &verdict, None, timings).await;
    let ending = match acted {
        Ok(Location::Gone) => Ending::settled(Settled::Gone {
            code: "NoSuchKey".into(),
            quarantined: None,
        })
        .at(Location::Gone),
        Ok(location) => Ending::settled(Settled::Recorded).at(location),
        Err(ActionError::Replaced) => return Filtered::Replaced,
        // No room next to the object's own tags: nothing is written (any forged verdict was
        // taken off), as no verdict reads as "not clean" all the same.
        Err(ActionError::TagLimit(e)) => {
            tracing::warn!(object = %seen.object, error = %e, "skipped object not tagged: no room for the Skipped verdict");
            Ending::settled(Settled::NotTagged)
        }
        Err(e) if e.is_retryable(&verdict) => Ending::retried(Retry::Record(e)),
        Err(e) => Ending::settled(Settled::NotRecorded(e)),
    };
    let ending = ending.earlier_threat(earlier_threat).seen(seen);
    Filtered::Done(ending.verdict(verdict))
}

/// A skipped object left untagged (`SKIPPED_ACTION=ignore`) still loses any verdict tags the
/// scanner did not sign for its bytes: an uploader who names an object so that it is skipped
/// must not make a forged `Clean` stick.
async fn ignored<S: ObjectStore>(
    p: &Pipeline<S>,
    event: &ObjectEvent,
    verdict: &Verdict,
) -> Ending {
    let keys = &p.config.tag_keys;
    let cleared =
        record::clear_foreign_verdict(&p.store, keys, p.signing_key.as_ref(), &event.object).await;
    match cleared {
        Ok(removed) => {
            if removed {
                tracing::warn!(object = %event.object, "verdict tags someone else set were taken off a skipped object");
            }
            Ending::settled(Settled::NotTagged)
        }
        Err(e) if e.is_retryable(verdict) => Ending::retried(Retry::Record(e)),
        Err(e) => Ending::settled(Settled::NotRecorded(e)),
    }
}

/// The version the Skipped tags are signed for, as HEAD tells it (with its checksum, which
/// the signature covers), when it is still the announced upload and its size still skips it;
/// `None` otherwise, or when it is gone.
async fn skipped_info<S: ObjectStore>(
    p: &Pipeline<S>,
    event: &ObjectEvent,
) -> Result<Option<ObjectInfo>, ActionError> {
    let head = p.store.head(&event.object).await;
    let info = head.map_err(|source| ActionError::Store {
        step: "reading the skipped object's version",
        source,
    })?;
    Ok(info.filter(|info| {
        let announced = event.etag.is_none() || info.etag == event.etag;
        let same_size = event.size.is_none_or(|n| n == info.size);
        let still_skipped = p
            .config
            .filters
            .skip_reason(&event.object.key, Some(info.size))
            .is_some();
        announced && same_size && still_skipped
    }))
}
