//! Batch handling: an SQS batch in, a partial batch response out. Each message is decoded on
//! its own, every object it names goes through fetch → scan → verdict → action with bounded
//! concurrency, and only messages whose objects were all settled are acknowledged.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::StreamExt;
use tracing::{Level, error, info, warn};

use crate::action::{self, ActionError, Location};
use crate::config::{Action, Config, SigningKey, SkipSigned};
use crate::event::{EventKind, ObjectEvent, decode_body};
use crate::scan::Engine;
use crate::signature::{self, Check};
use crate::store::{Budget, Fetched, ObjectInfo, ObjectRef, ObjectStore, StoreError, Tags};
use crate::verdict::{Verdict, has_case_variants, has_scanner_keys};

/// A fault of the whole invocation (not of one message): Lambda retries the whole batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// SQS always sets a message id; without one, a failure could not be reported.
    #[error("SQS record {index} has no messageId, so its failure could not be reported")]
    MissingMessageId {
        /// Position of the record in the batch.
        index: usize,
    },
    /// The ruleset has no rules: every object would be `Clean`.
    #[error("the ruleset has no rules; refusing to mark objects Clean without any check")]
    NoRules,
    /// A start-up check against S3 failed.
    #[error("{0}")]
    Preflight(String),
}

/// What happened to one object.
#[derive(Debug, Clone)]
pub struct ObjectOutcome {
    /// The object, at the version that was scanned when known.
    pub object: ObjectRef,
    /// Its size, when known.
    pub size: Option<u64>,
    /// The verdict, when the object was there to judge.
    pub verdict: Option<Verdict>,
    /// Where the object is now.
    pub location: Location,
    /// Why its message must be retried, if it must.
    pub retry: Option<String>,
    /// Anything else worth knowing (why it was skipped, a failure that was acknowledged).
    pub note: Option<String>,
    /// Milliseconds spent reading, scanning, tagging and acting.
    pub timings: Timings,
}

/// Milliseconds spent in each stage for one object.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// GetObject, including the body.
    pub get_ms: f64,
    /// The YARA-X scan.
    pub scan_ms: f64,
    /// Reading and writing tags.
    pub tag_ms: f64,
    /// Quarantine or delete.
    pub action_ms: f64,
}

/// How often an object replaced during its own processing is read again.
const MAX_ATTEMPTS: usize = 3;

/// Everything a batch needs, built once per process.
#[derive(Debug)]
pub struct Pipeline<S> {
    store: S,
    engine: Engine,
    config: Config,
    budget: Budget,
}

impl<S: ObjectStore> Pipeline<S> {
    /// A pipeline reading and writing through `store`.
    pub fn new(store: S, engine: Engine, config: Config) -> Pipeline<S> {
        let mut budget = Budget::memory(config.max_object_size);
        if let Some(dir) = &config.spool_dir {
            // On Lambda the free space of /tmp is the ephemeral storage the function was given.
            let limit = config
                .max_spool_size
                .unwrap_or_else(|| fs4::available_space(dir).unwrap_or(0));
            if limit > config.max_object_size {
                budget = budget.with_spool(dir.clone(), limit);
            }
        }
        Pipeline {
            store,
            engine,
            config,
            budget,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store objects are read from and written to.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Start-up checks that need S3: with `ACTION=quarantine`, the quarantine bucket must exist,
    /// be reachable and have versioning enabled (without it, two infected versions of one key
    /// would overwrite each other's copy).
    pub async fn preflight(&self) -> Result<(), BatchError> {
        if self.engine.rules().is_empty() {
            return Err(BatchError::NoRules);
        }
        if let Some(dir) = &self.config.spool_dir
            && let Err(e) = tempfile::tempfile_in(dir)
        {
            return Err(BatchError::Preflight(format!(
                "SPOOL_DIR=`{}` is not a writable directory ({e}); point it at one, or set \
                     it to `off` to scan only objects up to MAX_OBJECT_SIZE",
                dir.display()
            )));
        }
        let quarantines =
            [self.config.action, self.config.unscannable_action].contains(&Action::Quarantine);
        if let (true, Some(bucket)) = (quarantines, &self.config.quarantine_bucket) {
            match self.store.is_versioned(bucket).await {
                Ok(Some(true)) => {}
                Ok(None) => tracing::warn!(
                    bucket = %bucket,
                    "cannot read the quarantine bucket's versioning; make sure it is enabled"
                ),
                Ok(Some(false)) => {
                    return Err(BatchError::Preflight(format!(
                        "QUARANTINE_BUCKET=`{bucket}` does not have versioning enabled; enable it \
                         (the stack's own quarantine bucket has it)"
                    )));
                }
                Err(e) => {
                    return Err(BatchError::Preflight(format!(
                        "cannot check QUARANTINE_BUCKET=`{bucket}`: {e}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Processes one SQS batch and lists the messages to retry; see [`Pipeline::process_batch_until`].
    pub async fn process_batch(&self, event: SqsEvent) -> Result<SqsBatchResponse, BatchError> {
        self.process_batch_until(event, None).await
    }

    /// Processes one SQS batch and lists the messages to retry. Undecodable messages are
    /// listed (they reach the DLQ after `maxReceiveCount` tries); so are messages with an
    /// object that hit a retryable failure, objects not started before `deadline` less the
    /// scan timeout, and objects still in progress just before `deadline`, which are abandoned
    /// so that the response is sent before Lambda's timeout (which would retry the whole
    /// batch). Events that name the same bytes are processed once.
    pub async fn process_batch_until(
        &self,
        event: SqsEvent,
        deadline: Option<SystemTime>,
    ) -> Result<SqsBatchResponse, BatchError> {
        let Planned {
            ids,
            mut failed,
            jobs,
        } = jobs_of(&event)?;
        let timing = Timing::new(deadline, self.config.scan_timeout);
        let (ids_ref, timing) = (&ids, &timing);
        let outcomes: Vec<(Vec<usize>, ObjectOutcome)> = futures::stream::iter(jobs)
            .map(|job| async move {
                let outcome = timing.run(&job.event, self.settle(&job.event)).await;
                let message_ids: Vec<&str> =
                    job.messages.iter().map(|&m| ids_ref[m].as_str()).collect();
                log_outcome(&outcome, &message_ids);
                (job.messages, outcome)
            })
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        for (messages, outcome) in outcomes {
            if outcome.retry.is_some() {
                for m in messages {
                    failed[m] = true;
                }
            }
        }

        let mut response = SqsBatchResponse::default();
        for (id, failed) in ids.into_iter().zip(failed) {
            if failed {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        Ok(response)
    }

    /// Fetch → scan → verdict → action for one object, logged as one line.
    pub async fn process_object(&self, event: &ObjectEvent) -> ObjectOutcome {
        let outcome = self.settle(event).await;
        log_outcome(&outcome, &[]);
        outcome
    }

    /// Processes `event`'s object; when an unversioned key is replaced while its verdict is
    /// written, processes the new object too, as the verdict may have landed on it.
    async fn settle(&self, event: &ObjectEvent) -> ObjectOutcome {
        if self.config.quarantine_bucket.as_deref() == Some(event.object.bucket.as_str()) {
            // Each quarantine copy would announce itself and be quarantined again, forever.
            let mut outcome = blank(event);
            outcome.note =
                Some("the quarantine bucket is not scanned (remove its notification)".into());
            return outcome;
        }
        let checked = match event.kind() {
            EventKind::Created => self.skip_if_signed(event).await,
            EventKind::TagsChanged => self.recheck_tags(event).await,
        };
        let known_tags = match checked {
            Signed::Skip(outcome) => return *outcome,
            Signed::Scan(tags) => tags,
        };
        let mut event = event.clone();
        for _ in 1..MAX_ATTEMPTS {
            match self.attempt(&event, known_tags.as_ref()).await {
                Ok(outcome) => return outcome,
                Err(_) => {
                    event.etag = None;
                    event.size = None;
                }
            }
        }
        self.attempt(&event, None)
            .await
            .unwrap_or_else(|mut outcome| {
                outcome.retry = Some(format!(
                    "the object was replaced {MAX_ATTEMPTS} times while being tagged"
                ));
                outcome
            })
    }

    /// With a signing key, an object whose tags carry this scanner's valid `Clean` verdict for
    /// the same content (and, unless `SKIP_SIGNED=any-rules`, the rules in use) is not read
    /// again: typically a scanned object copied into another protected bucket. Every other
    /// verdict tag is distrusted, logged, and the object scanned as if untagged.
    ///
    /// The tags read for this are handed on when they are those of the exact version the
    /// event names, so that writing the verdict does not read them again.
    async fn skip_if_signed(&self, event: &ObjectEvent) -> Signed {
        let Some(key) = &self.config.signing_key else {
            return Signed::Scan(None);
        };
        if self.config.skip_signed == SkipSigned::Never {
            return Signed::Scan(None);
        }
        let Some(read) = self.read_verdict(event, key).await else {
            return Signed::Scan(None);
        };
        let object = &event.object;
        match &read.check {
            Check::Valid {
                result,
                rules,
                date,
            } if result == Verdict::Clean.name()
                && (self.config.skip_signed == SkipSigned::AnyRules
                    || rules == self.engine.rules().id())
                && !read.case_variants =>
            {
                let mut outcome = blank(event);
                if let Some(info) = &read.info {
                    outcome.object = object.at_version(info.version_id.clone());
                    outcome.size = Some(info.size);
                }
                outcome.verdict = Some(Verdict::Clean);
                outcome.note = Some(format!(
                    "not scanned again: signed Clean on {date} by ruleset {rules}"
                ));
                return Signed::Skip(Box::new(outcome));
            }
            Check::Valid { result, rules, .. } if !read.case_variants => {
                info!(object = %object, result = %result, rules = %rules, "signed verdict is not a Clean from the current rules; rescanning");
            }
            Check::Untagged if !read.case_variants => {}
            check => warn_distrusted(object, check, read.case_variants),
        }
        Signed::Scan(read.handed_on(object))
    }

    /// A tag change (`ObjectTagging:*`): nothing to do when the scanner made it (S3 names the
    /// scanner's role), or when the verdict tags are still the scanner's valid signature for
    /// these bytes (its own write, on an emulator that names nobody, or a change to the user's
    /// tags only). Otherwise someone else changed or removed the verdict: the object is
    /// scanned again, which writes its true verdict over theirs. The scanner's own writes are
    /// always recognised, so its rescans cause no further rescans.
    async fn recheck_tags(&self, event: &ObjectEvent) -> Signed {
        let settled = |note: String| {
            let mut outcome = blank(event);
            outcome.note = Some(note);
            Signed::Skip(Box::new(outcome))
        };
        if self.is_own_change(event) {
            return settled("the scanner's own tag change".into());
        }
        let Some(key) = &self.config.signing_key else {
            if event.principal.is_some() {
                warn!(object = %event.object, "tags changed by someone other than the scanner; rescanning");
                return Signed::Scan(None);
            }
            return settled(
                "tag change not checked: without a signing key (SIGNING_KEY_SECRET) the \
                 scanner's own tag writes cannot be told from others' when S3 does not name \
                 who made them"
                    .into(),
            );
        };
        let Some(read) = self.read_verdict(event, key).await else {
            return Signed::Scan(None);
        };
        match &read.check {
            Check::Valid { result, date, .. } if !read.case_variants => settled(format!(
                "verdict tags are still the scanner's own ({result}, {date})"
            )),
            check => {
                warn_distrusted(&event.object, check, read.case_variants);
                Signed::Scan(read.handed_on(&event.object))
            }
        }
    }

    /// True when S3 says the scanner's own role made the change (`SCANNER_ROLE_ID`).
    fn is_own_change(&self, event: &ObjectEvent) -> bool {
        match (&self.config.scanner_role_id, &event.principal) {
            (Some(role), Some(principal)) => principal.split(':').any(|part| part == role),
            _ => false,
        }
    }

    /// The object's tags and what they say about an earlier scan of these bytes; `None` when
    /// they cannot be read (the scan goes ahead, and reports what is wrong).
    async fn read_verdict(&self, event: &ObjectEvent, key: &SigningKey) -> Option<ReadVerdict> {
        let keys = &self.config.tag_keys;
        let tags = self.store.tags(&event.object).await.ok()?;
        let case_variants = has_case_variants(&tags, keys);
        let mut read = ReadVerdict {
            check: Check::Untagged,
            info: None,
            case_variants,
            tags,
        };
        if !has_scanner_keys(&read.tags, keys) {
            return Some(read);
        }
        match self.store.head(&event.object).await {
            // Replaced since the event: the normal path reports that.
            Ok(Some(info)) if event.etag.is_none() || info.etag == event.etag => {
                read.check = signature::verify(key, &info, &read.tags, keys);
                read.info = Some(info);
            }
            _ => read.check = Check::Unsigned,
        }
        Some(read)
    }

    /// One pass over the object; `Err` when it was replaced while its verdict was written.
    async fn attempt(
        &self,
        event: &ObjectEvent,
        known_tags: Option<&Tags>,
    ) -> Result<ObjectOutcome, ObjectOutcome> {
        let mut outcome = blank(event);
        let started = Instant::now();
        // Room for the bytes before the request, from the size the event announced: waiting
        // for room with a response open would stall it.
        let reserved = match event.size {
            Some(size) => self.budget.reserve(size).await.ok().flatten(),
            None => None,
        };
        let fetched = self
            .store
            .get(&event.object, event.etag.as_deref(), &self.budget, reserved)
            .await;
        outcome.timings.get_ms = ms(started);

        let (info, verdict) = match fetched {
            Ok(Fetched::Body { info, body }) => {
                let started = Instant::now();
                let scanned = self.engine.scan(body).await;
                outcome.timings.scan_ms = ms(started);
                let verdict = match scanned {
                    Ok(rules) if rules.is_empty() => Verdict::Clean,
                    Ok(rules) => Verdict::Infected(rules),
                    Err(e) => Verdict::Unscannable(e.to_string()),
                };
                (info, verdict)
            }
            Ok(Fetched::TooLarge(info)) => {
                let reason = match self.budget.spool_limit() {
                    Some(spool) => format!(
                        "object is {} bytes, over MAX_SPOOL_SIZE of {spool} bytes (raise the \
                         function's ephemeral storage, up to 10 GiB)",
                        info.size
                    ),
                    None => format!(
                        "object is {} bytes, over MAX_OBJECT_SIZE of {} bytes (raise it with \
                         the function's memory, or turn on SPOOL_DIR)",
                        info.size,
                        self.budget.memory_limit()
                    ),
                };
                (info, Verdict::Unscannable(reason))
            }
            Err(StoreError::NotFound { code, .. }) => {
                outcome.location = Location::Gone;
                outcome.note = Some(self.explain_gone(event, &code).await);
                return Ok(outcome);
            }
            Err(StoreError::Changed { .. }) => {
                outcome.location = Location::Gone;
                outcome.note = Some("replaced by a newer upload, which has its own event".into());
                return Ok(outcome);
            }
            Err(e) if e.is_retryable() => {
                outcome.retry = Some(e.to_string());
                return Ok(outcome);
            }
            // Retrying cannot fix a permission: record the failure on the object and move on.
            Err(e) => {
                let info = ObjectInfo {
                    version_id: event.object.version_id.clone(),
                    size: event.size.unwrap_or(0),
                    etag: event.etag.clone(),
                    checksum_sha256: None,
                    last_modified: None,
                };
                (info, Verdict::Error(e.to_string()))
            }
        };

        outcome.object = event.object.at_version(info.version_id.clone());
        outcome.size = Some(info.size);
        let date = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let keys = &self.config.tag_keys;
        let mut tags = verdict.tags(keys, self.engine.rules().id(), &date);
        if let Some(key) = &self.config.signing_key {
            let signature = signature::sign(key, &info, &tags, keys);
            tags.push((keys.signature.clone(), signature));
        }
        let started = Instant::now();
        // Tags read earlier are those of this very version only when the event named it.
        let known_tags = known_tags.filter(|_| outcome.object == event.object);
        let recorded = action::record(
            &self.store,
            &self.config,
            &outcome.object,
            &info,
            &verdict,
            &tags,
            known_tags,
        )
        .await;
        outcome.timings.tag_ms = ms(started);
        let result = match recorded {
            Ok(None) => Ok(Location::Gone),
            Ok(Some(existing)) if action::moves_away(&self.config, &verdict) => {
                let started = Instant::now();
                let acted = action::act(
                    &self.store,
                    &self.config,
                    &outcome.object,
                    &info,
                    &verdict,
                    &existing,
                    tags,
                )
                .await;
                outcome.timings.action_ms = ms(started);
                acted
            }
            Ok(Some(_)) => Ok(Location::InPlace),
            Err(e) => Err(e),
        };
        let replaced = matches!(result, Err(ActionError::Replaced));
        match result {
            Ok(location) => outcome.location = location,
            Err(e) if e.is_retryable(&verdict) => outcome.retry = Some(e.to_string()),
            Err(e) => {
                outcome.note = Some(format!(
                    "cannot record the verdict; acknowledged, as retrying cannot help: {e}"
                ))
            }
        }
        outcome.verdict = Some(verdict);
        if replaced { Err(outcome) } else { Ok(outcome) }
    }

    /// Why a missing object is acknowledged: say whether an earlier delivery quarantined it.
    async fn explain_gone(&self, event: &ObjectEvent, code: &str) -> String {
        let quarantines =
            [self.config.action, self.config.unscannable_action].contains(&Action::Quarantine);
        if let (true, Some(bucket)) = (quarantines, &self.config.quarantine_bucket) {
            let dest = ObjectRef {
                bucket: bucket.clone(),
                key: action::quarantine_key(&event.object.bucket, &event.object.key),
                version_id: None,
            };
            if let Ok(Some(_)) = self.store.head(&dest).await {
                return format!("already quarantined to {dest} by an earlier delivery");
            }
        }
        format!("no longer exists ({code})")
    }
}

/// Whether a signed verdict lets an object skip its scan.
enum Signed {
    Skip(Box<ObjectOutcome>),
    /// Scan it; the tags of the version the event names, when they were read.
    Scan(Option<Tags>),
}

/// An object's tags as read before a scan, and what they say.
struct ReadVerdict {
    tags: Tags,
    /// The version whose tags they are, when they hold scanner keys and it was still there.
    info: Option<ObjectInfo>,
    check: Check,
    /// Keys that differ from a scanner key only in letter case: never the scanner's.
    case_variants: bool,
}

impl ReadVerdict {
    /// The tags, when they are those of the exact version `object` names and so can stand
    /// in for a second read when the verdict is written.
    fn handed_on(self, object: &ObjectRef) -> Option<Tags> {
        object.is_pinned().then_some(self.tags)
    }
}

fn warn_distrusted(object: &ObjectRef, check: &Check, case_variants: bool) {
    if case_variants {
        warn!(object = %object, "tags with scanner keys in another letter case (set by someone else); rescanning");
    } else if matches!(check, Check::Invalid) {
        warn!(object = %object, "forged verdict: the scan signature does not match this content under this scanner's key; rescanning");
    } else {
        warn!(object = %object, "verdict tags without a valid signature (set by someone else, or before signing was on); rescanning");
    }
}

/// One object to settle, and the messages (by position in the batch) that name it.
struct Job {
    event: ObjectEvent,
    messages: Vec<usize>,
}

/// What makes two events name the same bytes: the bucket, the key, and a pinned version or,
/// for an unversioned (or `null`) key, the ETag. Two uploads of one unversioned key with
/// different bytes are two jobs: the older one's read finds its bytes gone (its ETag no
/// longer matches) and the newer one's scans what the key holds.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Identity {
    bucket: String,
    key: String,
    pin: Option<String>,
}

impl Identity {
    fn of(event: &ObjectEvent) -> Identity {
        let o = &event.object;
        Identity {
            bucket: o.bucket.clone(),
            key: o.key.clone(),
            pin: if o.is_pinned() {
                o.version_id.clone()
            } else {
                event.etag.as_ref().map(|e| format!("etag {e}"))
            },
        }
    }
}

/// A batch's records as jobs: the message ids in batch order, which messages already failed
/// (could not be decoded), and the objects to settle.
struct Planned {
    ids: Vec<String>,
    failed: Vec<bool>,
    jobs: Vec<Job>,
}

/// Decodes each record on its own (an undecodable one is marked failed) and makes one job per
/// identity. A creation event for the same bytes as a tag change stands for both.
fn jobs_of(event: &SqsEvent) -> Result<Planned, BatchError> {
    let mut failed = vec![false; event.records.len()];
    let mut ids = Vec::with_capacity(event.records.len());
    let mut jobs: Vec<Job> = Vec::new();
    let mut job_of: HashMap<Identity, usize> = HashMap::new();
    for (index, record) in event.records.iter().enumerate() {
        let id = record
            .message_id
            .clone()
            .ok_or(BatchError::MissingMessageId { index })?;
        let decoded = record
            .body
            .as_deref()
            .ok_or(crate::event::EventError::MissingBody)
            .and_then(decode_body);
        match decoded {
            Err(e) => {
                error!(message_id = %id, error = %e, "cannot decode message; reporting it as failed");
                failed[index] = true;
            }
            Ok(decoded) => {
                for ignored in decoded.ignored {
                    info!(message_id = %id, event = %ignored.event_name, bucket = ?ignored.bucket, "not an object creation or tag change; acknowledged");
                }
                for object in decoded.objects {
                    match job_of.get(&Identity::of(&object)) {
                        Some(&j) => {
                            let job = &mut jobs[j];
                            if !job.messages.contains(&index) {
                                job.messages.push(index);
                            }
                            if job.event.kind() == EventKind::TagsChanged
                                && object.kind() == EventKind::Created
                            {
                                job.event = object;
                            }
                        }
                        None => {
                            job_of.insert(Identity::of(&object), jobs.len());
                            jobs.push(Job {
                                event: object,
                                messages: vec![index],
                            });
                        }
                    }
                }
            }
        }
        ids.push(id);
    }
    Ok(Planned { ids, failed, jobs })
}

/// Leave at least this long between the last object abandoned and the function's timeout.
const STOP_MARGIN: Duration = Duration::from_secs(1);

/// When objects may still start, and when those in progress are abandoned, from the
/// function's deadline.
struct Timing {
    last_start: Option<SystemTime>,
    stop: Option<tokio::time::Instant>,
}

impl Timing {
    /// Objects start only while there is room for the slowest scan plus the calls around it,
    /// but never later than half the time left (a function timeout at or below
    /// SCAN_TIMEOUT_SECS must still work). Every object still in progress is abandoned a
    /// little before the deadline: waiting for room, reading, copying or tagging alike.
    fn new(deadline: Option<SystemTime>, scan_timeout: Duration) -> Timing {
        // A deadline already past is no real deadline (local emulators send odd values).
        let left = deadline.and_then(|d| d.duration_since(SystemTime::now()).ok());
        let (Some(deadline), Some(left)) = (deadline, left.filter(|l| !l.is_zero())) else {
            return Timing {
                last_start: None,
                stop: None,
            };
        };
        let reserve = scan_timeout + Duration::from_secs(2);
        if reserve >= left {
            warn!(
                left_ms = left.as_millis() as u64,
                "SCAN_TIMEOUT_SECS is not well below the function timeout; lower it"
            );
        }
        Timing {
            last_start: Some(deadline - reserve.min(left / 2)),
            stop: Some(tokio::time::Instant::now() + (left - STOP_MARGIN.min(left / 4))),
        }
    }

    /// Runs `work` for `event` within these limits.
    async fn run(
        &self,
        event: &ObjectEvent,
        work: impl std::future::Future<Output = ObjectOutcome>,
    ) -> ObjectOutcome {
        if self.last_start.is_some_and(|t| SystemTime::now() >= t) {
            return retry(event, "not started: too close to the function's timeout");
        }
        match self.stop {
            Some(stop) => tokio::time::timeout_at(stop, work)
                .await
                .unwrap_or_else(|_| {
                    retry(
                        event,
                        "abandoned unfinished just before the function's timeout (raise the \
                     function's Timeout, or lower MAX_CONCURRENCY or the batch size)",
                    )
                }),
            None => work.await,
        }
    }
}

fn blank(event: &ObjectEvent) -> ObjectOutcome {
    ObjectOutcome {
        object: event.object.clone(),
        size: event.size,
        verdict: None,
        location: Location::InPlace,
        retry: None,
        note: None,
        timings: Timings::default(),
    }
}

fn retry(event: &ObjectEvent, why: &str) -> ObjectOutcome {
    ObjectOutcome {
        retry: Some(why.into()),
        ..blank(event)
    }
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

macro_rules! outcome_event {
    ($level:expr, $o:expr, $where:expr, $ids:expr) => {
        tracing::event!(
            $level,
            message_ids = ?$ids,
            bucket = %$o.object.bucket,
            key = %$o.object.key.escape_debug(),
            version = $o.object.version_id.as_deref().unwrap_or("-"),
            size = $o.size,
            verdict = $o.verdict.as_ref().map_or("-", |v| v.name()),
            matches = ?$o.verdict.as_ref().map(|v| v.matches()).unwrap_or_default(),
            reason = $o.verdict.as_ref().and_then(|v| v.reason()),
            location = %$where,
            retry = $o.retry.as_deref(),
            note = $o.note.as_deref(),
            get_ms = $o.timings.get_ms,
            scan_ms = $o.timings.scan_ms,
            tag_ms = $o.timings.tag_ms,
            action_ms = $o.timings.action_ms,
            "object processed"
        )
    };
}

/// The one log line per object: error when its message is retried or it could not be read,
/// warn when infected or unscannable, info otherwise.
fn log_outcome(o: &ObjectOutcome, message_ids: &[&str]) {
    let location = match &o.location {
        Location::InPlace => "in place".to_owned(),
        Location::Quarantined(dest) => format!("quarantined to {dest}"),
        Location::Deleted => "deleted".to_owned(),
        Location::Gone => "gone".to_owned(),
    };
    let level = match (&o.retry, &o.verdict) {
        (Some(_), _) | (_, Some(Verdict::Error(_))) => Level::ERROR,
        _ if o.note.as_deref().is_some_and(|n| n.starts_with("cannot")) => Level::ERROR,
        (_, Some(Verdict::Infected(_) | Verdict::Unscannable(_))) => Level::WARN,
        _ => Level::INFO,
    };
    match level {
        Level::ERROR => outcome_event!(Level::ERROR, o, location, message_ids),
        Level::WARN => outcome_event!(Level::WARN, o, location, message_ids),
        _ => outcome_event!(Level::INFO, o, location, message_ids),
    }
}

impl From<BatchError> for lambda_runtime::Diagnostic {
    fn from(e: BatchError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "BatchError".into(),
            error_message: e.to_string(),
        }
    }
}
