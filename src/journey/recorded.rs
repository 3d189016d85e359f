//! Recording and acting: the verdict's tags written on the version judged, next to the user's
//! own; then a clean object of a staging bucket promoted, an infected one quarantined (or
//! deleted), as the settings say.

use std::sync::Arc;
use std::time::Instant;

use crate::action::{self, ActionError};
use crate::config::Disposal;
use crate::object::{Location, ObjectInfo, ObjectRef, Tags};
use crate::pipeline::Pipeline;
use crate::record::{record, verdict_tags};
use crate::report::{Timings, ms};
use crate::scan::RuleSets;
use crate::store::ObjectStore;
use crate::verdict::Verdict;

use super::ending::Seen;
use super::promoted;

/// What recording a verdict and acting on it gave.
pub(super) struct Recorded {
    /// The object, when its tags said an earlier verdict on it was a threat.
    pub(super) earlier_threat: Option<ObjectRef>,
    /// Where the object is now, or why the verdict could not be recorded or acted on.
    pub(super) acted: Result<Location, ActionError>,
}

/// Records `verdict` on the version `seen` (`info` as read) and acts on it; `known` are its
/// tags when they were read already.
pub(super) async fn recorded<S: ObjectStore>(
    p: &Pipeline<S>,
    rules: &Arc<RuleSets>,
    (seen, info): (&Seen, &ObjectInfo),
    verdict: &Verdict,
    known: Option<Tags>,
    timings: &mut Timings,
) -> Recorded {
    let object = &seen.object;
    let keys = &p.config.tag_keys;
    let tags = verdict_tags(keys, p.signing_key.as_ref(), info, verdict, rules.id());
    let started = Instant::now();
    let written = record(&p.store, &p.config, object, info, verdict, &tags, known).await;
    timings.tag_ms = ms(started);
    let existing = match written {
        Ok(Some(existing)) => existing,
        Ok(None) => return Recorded::of(None, Ok(Location::Gone)),
        Err(e) => return Recorded::of(None, Err(e)),
    };
    let earlier_threat = crate::findings::had_threat(&existing, keys).then(|| object.clone());
    if *verdict == Verdict::Clean
        && let Some(dest) = p.config.promotion(object)
    {
        let started = Instant::now();
        let moved = promoted::promote(p, (object, info), (&existing, tags), &dest).await;
        timings.action_ms = ms(started);
        return Recorded::of(earlier_threat, moved);
    }
    if p.config.disposal(verdict) == Disposal::Tag {
        return Recorded::of(earlier_threat, Ok(Location::InPlace));
    }
    let started = Instant::now();
    let acted = action::act(&p.store, &p.config, object, info, verdict, &existing, tags).await;
    timings.action_ms = ms(started);
    Recorded::of(earlier_threat, acted)
}

impl Recorded {
    fn of(earlier_threat: Option<ObjectRef>, acted: Result<Location, ActionError>) -> Recorded {
        Recorded {
            earlier_threat,
            acted,
        }
    }
}
