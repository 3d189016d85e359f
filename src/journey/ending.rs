//! How one object's journey ended, as the steps returned it: every ending is made with its
//! [`Disposition`] (there is no default, so no path can acknowledge a message by forgetting to
//! say how it ended), and the [`Report`] is built from it once, when the journey is over.

use crate::event::ObjectEvent;
use crate::object::{Location, ObjectInfo, ObjectRef};
use crate::report::{Disposition, Report, Retry, Settled, Timings};
use crate::verdict::Verdict;

/// How a journey ended, and what it learnt on the way. Boxed: steps pass it up through
/// `Result`s and enums, which stay small.
#[derive(Debug)]
pub(crate) struct Ending(Box<Parts>);

#[derive(Debug)]
struct Parts {
    /// Whether the message is done with.
    disposition: Disposition,
    /// The version the journey found, when a read (or HEAD) told it.
    seen: Option<Seen>,
    verdict: Option<Verdict>,
    location: Location,
    file_type: Option<String>,
    earlier_threat: Option<ObjectRef>,
}

/// The version of the object a read described: the bytes every later step acts on.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(super) object: ObjectRef,
    pub(super) size: u64,
    pub(super) etag: Option<String>,
}

impl Seen {
    /// `object`'s version as `info` describes it.
    pub(super) fn of(object: &ObjectRef, info: &ObjectInfo) -> Seen {
        Seen {
            object: object.at_version(info.version_id.clone()),
            size: info.size,
            etag: info.etag.clone(),
        }
    }
}

impl Ending {
    /// An ending with nothing learnt but how it ended.
    pub(super) fn new(disposition: Disposition) -> Ending {
        Ending(Box::new(Parts {
            disposition,
            seen: None,
            verdict: None,
            location: Location::InPlace,
            file_type: None,
            earlier_threat: None,
        }))
    }

    /// Done with, as `settled` says.
    pub(super) fn settled(settled: Settled) -> Ending {
        Ending::new(Disposition::Acknowledge(settled))
    }

    /// Not done: its message goes back to the queue, as `why` says.
    pub(super) fn retried(why: Retry) -> Ending {
        Ending::new(Disposition::Retry(why))
    }

    /// The same ending, having found the version `seen`.
    pub(super) fn seen(mut self, seen: Seen) -> Ending {
        self.0.seen = Some(seen);
        self
    }

    /// The same ending, with the verdict given (or kept).
    pub(super) fn verdict(mut self, verdict: Verdict) -> Ending {
        self.0.verdict = Some(verdict);
        self
    }

    /// The same ending, the object now at `location`.
    pub(super) fn at(mut self, location: Location) -> Ending {
        self.0.location = location;
        self
    }

    /// The same ending, the object's type as its bytes told it.
    pub(super) fn file_type(mut self, file_type: Option<String>) -> Ending {
        self.0.file_type = file_type;
        self
    }

    /// The same ending, an earlier verdict on `object` having been a threat.
    pub(super) fn earlier_threat(mut self, object: Option<ObjectRef>) -> Ending {
        self.0.earlier_threat = object;
        self
    }

    /// The same ending, with what it learnt, but ended as `disposition` says (a later step
    /// failed).
    pub(super) fn instead(mut self, disposition: Disposition) -> Ending {
        self.0.disposition = disposition;
        self
    }

    /// How it ended.
    pub(super) fn disposition(&self) -> &Disposition {
        &self.0.disposition
    }

    /// The object this ending is about: the version found, else the one `event` names.
    pub(super) fn object<'a>(&'a self, event: &'a ObjectEvent) -> &'a ObjectRef {
        self.0.seen.as_ref().map_or(&event.object, |s| &s.object)
    }

    /// The report of `event`'s journey, judged by the rules `ruleset`, which took `timings`
    /// and `requests`.
    pub(super) fn report(
        self,
        event: &ObjectEvent,
        ruleset: &str,
        timings: Timings,
        requests: u32,
    ) -> Report {
        let parts = *self.0;
        let (object, size, etag) = match parts.seen {
            Some(seen) => (seen.object, Some(seen.size), seen.etag),
            None => (event.object.clone(), event.size, event.etag.clone()),
        };
        Report {
            object,
            owner: event.owner.clone(),
            etag,
            size,
            verdict: parts.verdict,
            ruleset: ruleset.to_owned(),
            location: parts.location,
            disposition: parts.disposition,
            timings,
            requests,
            file_type: parts.file_type,
            earlier_threat: parts.earlier_threat,
        }
    }
}
