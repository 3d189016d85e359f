//! One object's journey, top-down: admitted (a bucket this deployment judges), not skipped by
//! the filters, its tags checked (a validly signed `Clean` or `Released`, or a tag change that
//! left the verdict intact, needs nothing more), fetched, scanned, its verdict recorded and
//! acted on. Each step is a function of its own module, with explicit inputs and a typed
//! result; the journey ends in an [`Ending`], from which the object's [`Report`] is built once.
//!
//! [`settle`] is the one way in: batches, Batch Operations, on-demand scans, `backlog` and
//! `poll` all call it.

use std::sync::Arc;
use std::time::Instant;

use crate::action::ActionError;
use crate::deadline::Timing;
use crate::event::ObjectEvent;
use crate::object::{ObjectInfo, Tags};
use crate::pipeline::Pipeline;
use crate::report::{Report, Retry, Settled, Timings, ms};
use crate::scan::RuleSets;
use crate::store::{Fetched, ObjectStore, requests};
use crate::verdict::Verdict;

use checks::Checked;
use ending::{Ending, Seen};
use filtered::Filtered;
use recorded::Recorded;

mod checks;
mod ending;
mod fetched;
mod filtered;
mod large;
mod promoted;
mod recorded;
mod scanned;

/// How often an unversioned key replaced during its own processing is read again.
const MAX_ATTEMPTS: usize = 3;

/// Takes `event`'s object through its journey and reports what happened, with the number of
/// requests it took. The caller logs the report.
pub async fn settle<S: ObjectStore>(p: &Pipeline<S>, event: &ObjectEvent) -> Report {
    // One object is judged, and its verdict tagged, by one set of rules.
    let rules = p.engine.rules();
    let mut timings = Timings::default();
    let journey = journey(p, &rules, event, &mut timings);
    let (ending, requests) = requests::counted(journey).await;
    ending.report(event, rules.id(), timings, requests)
}

/// [`settle`] within `timing`: an object not started, or abandoned, too close to the
/// function's timeout is retried.
pub async fn settle_within<S: ObjectStore>(
    p: &Pipeline<S>,
    event: &ObjectEvent,
    timing: &Timing,
) -> Report {
    match timing.run(settle(p, event)).await {
        Ok(report) => report,
        Err(why) => {
            Ending::retried(why).report(event, p.engine.rules().id(), Timings::default(), 0)
        }
    }
}

/// The steps, in order.
async fn journey<S: ObjectStore>(
    p: &Pipeline<S>,
    rules: &Arc<RuleSets>,
    event: &ObjectEvent,
    timings: &mut Timings,
) -> Ending {
    if let Err(ending) = admitted(p, event).await {
        return ending;
    }
    match filtered::skipped(p, event, rules, timings).await {
        Filtered::Scan => {}
        Filtered::Done(ending) => return ending,
        Filtered::Replaced => return until_stable(p, rules, &event.newest(), None, timings).await,
    }
    let ending = match checks::before_read(p, rules, event).await {
        Checked::Kept(ending) => ending,
        // A small object's signed Clean is found once it is read.
        Checked::Scan(known) => until_stable(p, rules, event, known, timings).await,
    };
    promoted::signed_promoted(p, rules, event, ending, timings).await
}

/// `Ok` when `event`'s object is this deployment's to judge.
async fn admitted<S: ObjectStore>(p: &Pipeline<S>, event: &ObjectEvent) -> Result<(), Ending> {
    let bucket = &event.object.bucket;
    if p.config.quarantine_bucket() == Some(bucket.as_str()) {
        // Each quarantine copy would announce itself and be quarantined again, forever.
        return Err(Ending::settled(Settled::QuarantineBucket));
    }
    match p.judged(bucket).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Ending::retried(Retry::NotProtected(bucket.clone()))),
        Err(e) => Err(Ending::retried(Retry::Read(e))),
    }
}

/// Judges the object and records its verdict; when an unversioned key is replaced while its
/// verdict is written, does the same for the new object, which the verdict may have landed on.
async fn until_stable<S: ObjectStore>(
    p: &Pipeline<S>,
    rules: &Arc<RuleSets>,
    event: &ObjectEvent,
    mut known: Option<Tags>,
    timings: &mut Timings,
) -> Ending {
    let mut event = event.clone();
    let mut attempt = 1;
    loop {
        match pass(p, rules, &event, known.take(), timings).await {
            Pass::Done(ending) => return ending,
            Pass::Replaced(judged) if attempt == MAX_ATTEMPTS => {
                return (*judged).ending(Ending::retried(Retry::ReplacedTooOften(attempt)));
            }
            Pass::Replaced(_) => {
                attempt += 1;
                event = event.newest();
            }
        }
    }
}

/// How one pass over the object ended.
enum Pass {
    /// With the object settled, or with its message to retry.
    Done(Ending),
    /// With the key replaced while its verdict was written: the new object is read next.
    Replaced(Box<Judged>),
}

/// A verdict on the bytes read: what recording and acting take.
pub(crate) struct Judged {
    /// The version read.
    seen: Seen,
    info: ObjectInfo,
    verdict: Verdict,
    /// Their tags, when the read told them (none, when GetObject said there are none).
    tags: Option<Tags>,
    file_type: Option<String>,
}

impl Judged {
    /// `ending`, with what was judged.
    fn ending(self, ending: Ending) -> Ending {
        ending
            .seen(self.seen)
            .verdict(self.verdict)
            .file_type(self.file_type)
    }
}

/// One pass: fetch, scan, record, act.
async fn pass<S: ObjectStore>(
    p: &Pipeline<S>,
    rules: &Arc<RuleSets>,
    event: &ObjectEvent,
    known: Option<Tags>,
    timings: &mut Timings,
) -> Pass {
    let mut judged = match judge(p, rules, event, timings).await {
        Ok(judged) => judged,
        Err(ending) => return Pass::Done(ending),
    };
    // Tags read earlier are those of this very version only when the event named it.
    let known = known
        .filter(|_| judged.seen.object == event.object)
        .or(judged.tags.take());
    let recorded = recorded::recorded(
        p,
        rules,
        (&judged.seen, &judged.info),
        &judged.verdict,
        known,
        timings,
    )
    .await;
    let Recorded {
        earlier_threat,
        acted,
    } = recorded;
    let ending = match acted {
        Ok(location) => Ending::settled(Settled::Recorded).at(location),
        Err(ActionError::Replaced) => return Pass::Replaced(Box::new(judged)),
        Err(e) if e.is_retryable(&judged.verdict) => Ending::retried(Retry::Record(e)),
        Err(e) => Ending::settled(Settled::NotRecorded(e)),
    };
    Pass::Done(judged.ending(ending.earlier_threat(earlier_threat)))
}

/// Reads the object and scans its bytes: a verdict, or the end of the journey (handed to the
/// agent, gone, kept for its signed verdict, or to retry).
async fn judge<S: ObjectStore>(
    p: &Pipeline<S>,
    rules: &Arc<RuleSets>,
    event: &ObjectEvent,
    timings: &mut Timings,
) -> Result<Judged, Ending> {
    if let Some(size) = event.size {
        large::forwarded(p, event, size).await?;
    }
    let started = Instant::now();
    let fetched = fetched::fetch(p, event).await;
    timings.get_ms = ms(started);
    let (info, body, tag_count) = match fetched {
        Ok(Fetched::Body {
            info,
            body,
            tag_count,
        }) => (info, body, tag_count),
        Ok(Fetched::TooLarge(info)) => {
            large::forwarded_after_read(p, event, &info).await?;
            let verdict = Verdict::Unscannable(fetched::too_large(p, info.size));
            return Ok(Judged::unread(event, info, verdict));
        }
        Err(e) => return fetched::unreadable(p, event, e).await,
    };
    // An event without a size (Batch Operations, on-demand scans): the read tells it.
    large::forwarded_after_read(p, event, &info).await?;
    let tags = checks::after_read(p, rules, event, &info, tag_count).await?;
    let started = Instant::now();
    let scanned = scanned::scan(p, rules, event, &info, body).await;
    timings.scan_ms = ms(started);
    let (verdict, file_type) = scanned?;
    Ok(Judged {
        seen: Seen::of(&event.object, &info),
        info,
        verdict,
        tags,
        file_type,
    })
}

impl Judged {
    /// A verdict given without the bytes (too large, or unreadable for good).
    fn unread(event: &ObjectEvent, info: ObjectInfo, verdict: Verdict) -> Judged {
        Judged {
            seen: Seen::of(&event.object, &info),
            info,
            verdict,
            tags: None,
            file_type: None,
        }
    }
}

#[cfg(test)]
mod filter_tests;
#[cfg(test)]
mod inspect_tests;
#[cfg(test)]
mod large_tests;
#[cfg(test)]
mod promote_tests;
#[cfg(test)]
mod request_tests;
#[cfg(test)]
mod schema_tests;
#[cfg(test)]
pub(crate) mod tag_tests;
#[cfg(test)]
pub(crate) mod tests;
