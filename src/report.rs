//! What happened to one object, as one typed value: the [`Report`] that the log line (and the
//! batch response) is built from, and that result events, metrics and other front ends can be
//! built from in the same way. Nothing here decides anything; the journey fills it in.

use std::fmt;
use std::time::Instant;

use tracing::Level;

use crate::action::ActionError;
use crate::event::ObjectEvent;
use crate::forward::ForwardError;
use crate::object::Location;
use crate::object::ObjectRef;
use crate::store::StoreError;
use crate::verdict::Verdict;

/// What happened to one object.
#[derive(Debug, Clone)]
pub struct Report {
    /// The object, at the version read when known.
    pub object: ObjectRef,
    /// The bucket's owner, as the event names it (another account's, for buckets there).
    pub owner: Option<String>,
    /// The ETag of the bytes read (or announced, before the read).
    pub etag: Option<String>,
    /// Their size, when known.
    pub size: Option<u64>,
    /// The verdict, when the object was there to judge.
    pub verdict: Option<Verdict>,
    /// The identity of the rules in use.
    pub ruleset: String,
    /// Where the object is now.
    pub location: Location,
    /// Whether its message is done with.
    pub disposition: Disposition,
    /// Milliseconds spent in each step.
    pub timings: Timings,
    /// Requests sent to AWS for it, retries included.
    pub requests: u32,
    /// Its type, by its bytes (the `filetype` external rules get), once scanned.
    pub file_type: Option<String>,
    /// The object (at the version it had then) when an earlier verdict on it was a threat,
    /// as its tags said before this verdict (or, for a release, the quarantined version): its
    /// Security Hub finding is resolved by a `Clean` or `Released` (`findings`).
    pub earlier_threat: Option<ObjectRef>,
}

/// Whether the message that named the object can be acknowledged.
#[derive(Debug, Clone)]
pub enum Disposition {
    /// Done with: the message can be deleted.
    Acknowledge(Settled),
    /// Not done: the message goes back to the queue (and, after the redrive limit, to the DLQ).
    Retry(Retry),
}

/// Why an object is done with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Its verdict is recorded, and acted on.
    Recorded,
    /// Not scanned again: its tags carry this scanner's signed `Clean` for the same content.
    SignedClean {
        /// When it was scanned.
        date: String,
        /// The ruleset that scanned it.
        rules: String,
    },
    /// Not scanned again: its tags carry this scanner's signed `Released` for the same content
    /// (a false positive an operator released from quarantine), kept whatever `SKIP_SIGNED`
    /// and the rules in use.
    SignedReleased {
        /// When it was released.
        date: String,
    },
    /// A tag change that S3 says the scanner's own role made, taken at its word only when there
    /// is no signing key to check the tags with.
    OwnTagChange,
    /// A tag change after which the verdict tags are still the scanner's valid signature.
    VerdictStillSigned {
        /// The verdict.
        result: String,
        /// When it was given.
        date: String,
    },
    /// A tag change that left no verdict tags: nothing to check ("no verdict" is not clean).
    NoVerdictTags,
    /// A tag change that could not be checked: no signing key, and S3 did not say who made it.
    TagChangeUnchecked,
    /// Gone before the scan: deleted, or (when `quarantined` names the copy) quarantined by an
    /// earlier delivery.
    Gone {
        /// S3's answer, such as `NoSuchKey`.
        code: String,
        /// The quarantine copy found, if any.
        quarantined: Option<ObjectRef>,
    },
    /// Replaced by a newer upload before it was read; that upload has its own event.
    Replaced,
    /// An event from the quarantine bucket itself, which is never scanned.
    QuarantineBucket,
    /// Skipped by the filters and, as `SKIPPED_ACTION=ignore` says (or being a tag change),
    /// left untagged.
    NotTagged,
    /// The verdict could not be recorded, and retrying cannot help (a missing permission).
    NotRecorded(ActionError),
    /// Too large for the function: not read, its notification sent to the agent's queue
    /// (`LARGE_OBJECT_SIZE`), which settles it; the object is untouched until then.
    Forwarded {
        /// The agent's queue.
        queue: String,
        /// `LARGE_OBJECT_SIZE`.
        over: u64,
    },
}

/// Why a document was not published (after the client's own retries): defined with the
/// report that records it (`Retry::Publish`), below the `publish` module that returns it.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{target}: {detail}")]
pub struct PublishError {
    /// Where it was going: `EventBridge bus X`, `SNS topic Y`, `queue Z`.
    pub target: String,
    /// What went wrong, naming the permission to grant when it is one.
    pub detail: String,
}

/// Why a message goes back to the queue.
#[derive(Debug, Clone)]
pub enum Retry {
    /// The object could not be read, for a reason worth retrying.
    Read(StoreError),
    /// The verdict could not be recorded or acted on.
    Record(ActionError),
    /// The key was replaced this many times while being tagged.
    ReplacedTooOften(usize),
    /// The memory budget had no room for an archive member while other objects were scanned.
    NoRoom(String),
    /// Not started: too close to the function's timeout.
    NotStarted,
    /// The object's bucket is not one this deployment judges (`PROTECTED_BUCKETS`, `PROMOTE`):
    /// nothing was read or written; the message goes on to the DLQ, to be redriven once the
    /// bucket is listed if it should have been.
    NotProtected(String),
    /// Abandoned unfinished just before the function's timeout.
    Abandoned,
    /// The result event could not be published, nor put back on the queue to be published
    /// later; the verdict stays recorded.
    Publish(PublishError),
    /// The object is too large for the function, and its notification did not reach the
    /// agent's queue.
    Forward(ForwardError),
}

/// Milliseconds spent in each step for one object.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// GetObject, including the body (and waiting for room for it).
    pub get_ms: f64,
    /// The YARA-X scan.
    pub scan_ms: f64,
    /// Reading and writing tags.
    pub tag_ms: f64,
    /// Quarantine or delete.
    pub action_ms: f64,
}

/// Milliseconds since `since`, to two decimals.
pub fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

macro_rules! report_event {
    ($level:expr, $r:expr, $ids:expr) => {
        tracing::event!(
            $level,
            message_ids = ?$ids,
            bucket = %$r.object.bucket,
            bucket_owner = $r.owner.as_deref().unwrap_or("-"),
            key = %$r.object.key.escape_debug(),
            version = $r.object.version_id.as_deref().unwrap_or("-"),
            size = $r.size,
            file_type = $r.file_type.as_deref().unwrap_or("-"),
            verdict = $r.verdict.as_ref().map_or("-", |v| v.name()),
            matches = ?$r.verdict.as_ref().map(|v| v.labels()).unwrap_or_default(),
            match_details = ?$r.verdict.as_ref().map(|v| v.details()).unwrap_or_default(),
            reason = $r.verdict.as_ref().and_then(|v| v.reason()),
            location = %$r.location,
            outcome = %$r.disposition,
            requests = $r.requests,
            get_ms = $r.timings.get_ms,
            scan_ms = $r.timings.scan_ms,
            tag_ms = $r.timings.tag_ms,
            action_ms = $r.timings.action_ms,
            "object processed"
        )
    };
}

impl Report {
    /// A report for `event`'s object that ended as `disposition` says, before anything else
    /// was learnt. There is no report without a disposition: every ending says whether its
    /// message is done with (the journey builds its reports from its `Ending`).
    pub fn new(event: &ObjectEvent, ruleset: &str, disposition: Disposition) -> Report {
        Report {
            object: event.object.clone(),
            owner: event.owner.clone(),
            etag: event.etag.clone(),
            size: event.size,
            verdict: None,
            ruleset: ruleset.to_owned(),
            location: Location::InPlace,
            disposition,
            timings: Timings::default(),
            requests: 0,
            file_type: None,
            earlier_threat: None,
        }
    }

    /// The same report, its message now retried as `why` says (a step after the journey,
    /// such as publishing its result event, failed).
    pub fn retried(self, why: Retry) -> Report {
        Report {
            disposition: Disposition::Retry(why),
            ..self
        }
    }

    /// True when the message can be acknowledged.
    pub fn is_settled(&self) -> bool {
        matches!(self.disposition, Disposition::Acknowledge(_))
    }

    /// How loud its log line is: error when its message is retried, it could not be read, or
    /// its verdict could not be recorded; warn when infected, suspicious or unscannable, or a tag change
    /// went unchecked; info otherwise.
    pub fn level(&self) -> Level {
        match (&self.disposition, &self.verdict) {
            (Disposition::Retry(_), _)
            | (_, Some(Verdict::Error(_)))
            | (Disposition::Acknowledge(Settled::NotRecorded(_)), _) => Level::ERROR,
            (_, Some(Verdict::Infected(_) | Verdict::Suspicious(_) | Verdict::Unscannable(_)))
            | (Disposition::Acknowledge(Settled::TagChangeUnchecked), _) => Level::WARN,
            _ => Level::INFO,
        }
    }

    /// The one log line for this object, naming the messages that named it.
    pub fn log(&self, message_ids: &[&str]) {
        match self.level() {
            Level::ERROR => report_event!(Level::ERROR, self, message_ids),
            Level::WARN => report_event!(Level::WARN, self, message_ids),
            _ => report_event!(Level::INFO, self, message_ids),
        }
    }
}

#[cfg(test)]
impl Report {
    /// For tests: the report of `b/dir/a.zip` version `v1` (10 bytes, ETag `"e1"`, ruleset
    /// `r1`) with `verdict`, nothing else done.
    pub(crate) fn sample(verdict: Verdict) -> Report {
        let object = ObjectRef::new("b", "dir/a.zip").at_version(Some("v1".into()));
        let mut event = ObjectEvent::announced(object, Some(10), "ObjectCreated:Put");
        event.etag = Some("\"e1\"".into());
        let mut report = Report::new(&event, "r1", Disposition::Acknowledge(Settled::Recorded));
        report.verdict = Some(verdict);
        report
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Disposition::Acknowledge(settled) => write!(f, "acknowledged: {settled}"),
            Disposition::Retry(retry) => write!(f, "retry: {retry}"),
        }
    }
}

impl fmt::Display for Settled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Settled::Recorded => f.write_str("verdict recorded"),
            Settled::SignedClean { date, rules } => {
                write!(
                    f,
                    "not scanned again: signed Clean on {date} by ruleset {rules}"
                )
            }
            Settled::SignedReleased { date } => write!(
                f,
                "not scanned again: signed Released on {date} (released from quarantine; kept \
                 while its signature holds for these bytes)"
            ),
            Settled::OwnTagChange => f.write_str("the scanner's own tag change"),
            Settled::VerdictStillSigned { result, date } => {
                write!(
                    f,
                    "verdict tags are still the scanner's own ({result}, {date})"
                )
            }
            Settled::NoVerdictTags => f.write_str("tag change left no verdict tags to check"),
            Settled::TagChangeUnchecked => f.write_str(
                "tag change not checked: without a signing key (SIGNING_KEY_SECRET) the \
                 scanner's own tag writes cannot be told from others' when S3 does not name \
                 who made them",
            ),
            Settled::Gone {
                quarantined: Some(copy),
                ..
            } => write!(f, "already quarantined to {copy} by an earlier delivery"),
            Settled::Gone { code, .. } => write!(f, "no longer exists ({code})"),
            Settled::Replaced => f.write_str("replaced by a newer upload, which has its own event"),
            Settled::QuarantineBucket => {
                f.write_str("the quarantine bucket is not scanned (remove its notification)")
            }
            Settled::NotTagged => f.write_str("skipped by the filters; not tagged"),
            Settled::NotRecorded(e) => write!(
                f,
                "cannot record the verdict; acknowledged, as retrying cannot help: {e}"
            ),
            Settled::Forwarded { queue, over } => write!(
                f,
                "not read: over {} of {over} bytes, sent to the agent's queue {queue} \
                 untouched (no verdict until the agent scans it)",
                crate::config::settings::LARGE_OBJECT_SIZE.name
            ),
        }
    }
}

impl fmt::Display for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retry::Read(e) => write!(f, "{e}"),
            Retry::Record(e) => write!(f, "{e}"),
            Retry::ReplacedTooOften(n) => {
                write!(f, "the object was replaced {n} times while being tagged")
            }
            Retry::NoRoom(why) => write!(f, "{why}; retried later"),
            Retry::NotStarted => f.write_str("not started: too close to the function's timeout"),
            Retry::NotProtected(bucket) => write!(
                f,
                "bucket `{}` is not protected by this deployment: only the buckets in \
                 PROTECTED_BUCKETS and PROMOTE's staging buckets are scanned, and those carrying \
                 ONBOARD_TAG where buckets are onboarded by tag (add or tag it if it should be, \
                 then redrive the dead-letter queue)",
                bucket.escape_debug()
            ),
            Retry::Publish(e) => write!(
                f,
                "result event not published, nor queued to be published later ({e}); the \
                 verdict stays recorded"
            ),
            Retry::Forward(e) => write!(
                f,
                "{e} (the function's role needs sqs:SendMessage on it; the template grants it \
                 with LargeObjectAgent=true)"
            ),
            Retry::Abandoned => f.write_str(
                "abandoned unfinished just before the function's timeout (raise the function's \
                 Timeout, or lower MAX_CONCURRENCY or the batch size)",
            ),
        }
    }
}
