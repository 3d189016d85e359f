//! One object's journey, as small steps: check its tags (skip a validly signed `Clean` or
//! `Released`, or a tag change that left the verdict intact), fetch it, scan it, record the verdict, act on it.
//! Every step writes into the object's [`Report`], which says at the end what happened and
//! whether its message is done with.

use std::sync::Arc;
use std::time::Instant;

use crate::action::Location;
use crate::action::{self, ActionError};
use crate::config::{Disposal, settings};
use crate::event::ObjectEvent;
use crate::inspect::{Inspection, Scope, Stored, inspect_async};
use crate::object::{ObjectInfo, Tags};
use crate::pipeline::Pipeline;
use crate::record::record;
use crate::report::{Disposition, Report, Retry, Settled, ms};
use crate::scan::RuleSets;
use crate::signature;
use crate::store::{Fetched, ObjectStore, StoreError, requests};
use crate::verdict::{Failure, Verdict};

mod checks;

mod filtered;
mod large;
mod promoted;

/// How often an unversioned key replaced during its own processing is read again.
const MAX_ATTEMPTS: usize = 3;

/// How one pass over the object ended.
enum Attempt {
    /// With the object settled, or with its message to retry.
    Done(Report),
    /// With the key replaced while its verdict was written: the new object is read next.
    Replaced(Report),
}

/// What reading and scanning the object gave.
// One lives per object, for one step: boxing the larger variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Judged {
    /// A verdict on the bytes `ObjectInfo` describes, and their tags when the read told them
    /// (none, when GetObject said there are none).
    Verdict(ObjectInfo, Verdict, Option<Tags>),
    /// No verdict: the journey ends here.
    Ends(Box<Report>),
}

impl<S: ObjectStore> Pipeline<S> {
    /// Takes `event`'s object through its journey and reports what happened, with the number
    /// of requests it took. The caller logs the report.
    pub async fn settle(&self, event: &ObjectEvent) -> Report {
        let (mut report, requests) = requests::counted(self.journey(event)).await;
        report.requests = requests;
        report
    }

    async fn journey(&self, event: &ObjectEvent) -> Report {
        let report = Report::new(event, self.engine.rules().id());
        let bucket = &event.object.bucket;
        if self.config.quarantine_bucket() == Some(bucket.as_str()) {
            // Each quarantine copy would announce itself and be quarantined again, forever.
            return report.ending(Disposition::Acknowledge(Settled::QuarantineBucket));
        }
        match self.judged(bucket).await {
            Ok(true) => {}
            Ok(false) => {
                return report.ending(Disposition::Retry(Retry::NotProtected(bucket.clone())));
            }
            Err(e) => return report.ending(Disposition::Retry(Retry::Read(e))),
        }
        match self.filtered(event, &report).await {
            filtered::Filtered::Scan => {}
            filtered::Filtered::Done(report) => return *report,
            filtered::Filtered::Replaced => {
                let mut newer = event.clone();
                (newer.etag, newer.size) = (None, None);
                return self.scan_until_stable(&newer, None).await;
            }
        }
        match self.check_tags(event, report).await {
            checks::Checked::Settled(report) => self.promote_signed(*report).await,
            checks::Checked::Scan(known) => {
                // A small object's signed Clean is found once it is read.
                let report = self.scan_until_stable(event, known).await;
                self.promote_signed(report).await
            }
        }
    }

    /// Scans the object and records its verdict; when an unversioned key is replaced while
    /// its verdict is written, does the same for the new object, which the verdict may have
    /// landed on.
    async fn scan_until_stable(&self, event: &ObjectEvent, mut known: Option<Tags>) -> Report {
        let mut event = event.clone();
        for attempt in 1..=MAX_ATTEMPTS {
            match self.attempt(&event, known.take()).await {
                Attempt::Done(report) => return report,
                Attempt::Replaced(report) if attempt == MAX_ATTEMPTS => {
                    return report.ending(Disposition::Retry(Retry::ReplacedTooOften(attempt)));
                }
                // Whatever the key holds now, whatever its ETag and size.
                Attempt::Replaced(_) => {
                    event.etag = None;
                    event.size = None;
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// One pass: fetch, scan, record, act.
    async fn attempt(&self, event: &ObjectEvent, known: Option<Tags>) -> Attempt {
        // One object is judged, and its verdict tagged, by one set of rules.
        let rules = self.engine.rules();
        let mut report = Report::new(event, rules.id());
        let (info, verdict, read) = match self.judge(event, &rules, &mut report).await {
            Judged::Verdict(info, verdict, read) => (info, verdict, read),
            Judged::Ends(report) => return Attempt::Done(*report),
        };
        report.object = event.object.at_version(info.version_id.clone());
        report.size = Some(info.size);
        report.etag = info.etag.clone();
        // Tags read earlier are those of this very version only when the event named it.
        let known = known.filter(|_| report.object == event.object).or(read);
        let outcome = self.apply(&mut report, &info, &verdict, known).await;
        let ending = match outcome {
            Ok(location) => {
                report.location = location;
                Some(Disposition::Acknowledge(Settled::Recorded))
            }
            Err(ActionError::Replaced) => {
                report.verdict = Some(verdict);
                return Attempt::Replaced(report);
            }
            Err(e) if e.is_retryable(&verdict) => Some(Disposition::Retry(Retry::Record(e))),
            Err(e) => Some(Disposition::Acknowledge(Settled::NotRecorded(e))),
        };
        report.verdict = Some(verdict);
        if let Some(disposition) = ending {
            report.disposition = disposition;
        }
        Attempt::Done(report)
    }

    /// Reads the object and scans its bytes.
    async fn judge(
        &self,
        event: &ObjectEvent,
        rules: &Arc<RuleSets>,
        report: &mut Report,
    ) -> Judged {
        if let Some(size) = event.size
            && let Some(forwarded) = self.forwarded(event, report, size).await
        {
            return Judged::Ends(Box::new(forwarded));
        }
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
        report.timings.get_ms = ms(started);
        // An event without a size (Batch Operations, on-demand scans): the read tells it.
        let read = match &fetched {
            Ok(Fetched::Body { info, .. } | Fetched::TooLarge(info)) => Some(info),
            Err(_) => None,
        };
        if let Some(info) = read
            && let Some(forwarded) = self.forwarded_after_read(event, report, info).await
        {
            return Judged::Ends(Box::new(forwarded));
        }
        match fetched {
            Ok(Fetched::Body {
                info,
                body,
                tag_count,
            }) => {
                let known = match self.check_signed_after_read(event, &info, tag_count).await {
                    checks::AfterRead::Settled(settled, verdict) => {
                        report.object = event.object.at_version(info.version_id.clone());
                        report.size = Some(info.size);
                        report.verdict = Some(verdict);
                        let done = Disposition::Acknowledge(settled);
                        return Judged::Ends(Box::new(report.clone().ending(done)));
                    }
                    checks::AfterRead::Scan(known) => known,
                };
                self.scan_body(event, rules, report, (info, body), known)
                    .await
            }
            Ok(Fetched::TooLarge(info)) => {
                let reason = self.too_large(info.size);
                Judged::Verdict(info, Verdict::Unscannable(reason), None)
            }
            Err(e) => self.unreadable(event, report.clone(), e).await,
        }
    }

    /// Scans the bytes read (as stored, and decoded with their `Content-Encoding`); `known`
    /// are the tags learnt with the read, if any.
    async fn scan_body(
        &self,
        event: &ObjectEvent,
        rules: &Arc<RuleSets>,
        report: &mut Report,
        (info, body): (ObjectInfo, crate::store::Buffer),
        known: Option<Tags>,
    ) -> Judged {
        let started = Instant::now();
        let stored = Stored {
            encoding: info.content_encoding.clone(),
            content_type: info.content_type.clone(),
        };
        let scope = Scope {
            limits: &self.config.archive,
            policy: &self.config.policy,
        };
        let inspected = inspect_async(
            &self.engine,
            rules.clone(),
            body,
            stored,
            &event.object,
            scope,
            &self.budget,
        )
        .await;
        report.timings.scan_ms = ms(started);
        if let Ok(inspection) = &inspected {
            report.file_type = Some(inspection.filetype.clone()).filter(|t| !t.is_empty());
        }
        match inspected.map(|i| self.verdict_of(event, i)) {
            Ok(Ok(verdict)) => Judged::Verdict(info, verdict, known),
            Ok(Err(why)) => Judged::Ends(Box::new(
                report
                    .clone()
                    .ending(Disposition::Retry(Retry::NoRoom(why))),
            )),
            Err(e) => Judged::Verdict(info, Verdict::Unscannable(e.to_string()), known),
        }
    }

    /// What a failed read means: gone, replaced, worth retrying, or (a permission, an
    /// archived object) an `Error` verdict, since retrying cannot help.
    async fn unreadable(&self, event: &ObjectEvent, report: Report, e: StoreError) -> Judged {
        let ends = |report: Report, settled| {
            let mut report = report.ending(Disposition::Acknowledge(settled));
            report.location = Location::Gone;
            Judged::Ends(Box::new(report))
        };
        match e {
            StoreError::NotFound { code, .. } => {
                let quarantined =
                    action::find_quarantined(&self.store, &self.config, &event.object).await;
                ends(report, Settled::Gone { code, quarantined })
            }
            StoreError::Changed { .. } => ends(report, Settled::Replaced),
            e if e.is_retryable() => {
                Judged::Ends(Box::new(report.ending(Disposition::Retry(Retry::Read(e)))))
            }
            e => {
                let info = ObjectInfo {
                    version_id: event.object.version_id.clone(),
                    size: event.size.unwrap_or(0),
                    etag: event.etag.clone(),
                    ..ObjectInfo::default()
                };
                let failure = Failure {
                    access_denied: matches!(e, StoreError::AccessDenied { .. }),
                    reason: e.to_string(),
                };
                Judged::Verdict(info, Verdict::Error(failure), None)
            }
        }
    }

    /// The verdict an inspection gives, what it could not read logged.
    fn verdict_of(&self, event: &ObjectEvent, inspection: Inspection) -> Result<Verdict, String> {
        for note in &inspection.notes {
            tracing::warn!(object = %event.object, note = %note.escape_debug(), "not looked into in full; its bytes were scanned");
        }
        inspection.verdict()
    }

    /// Why an object of `size` bytes was not read, naming the setting to raise.
    fn too_large(&self, size: u64) -> String {
        match self.budget.spool_limit() {
            Some(spool) => format!(
                "object is {size} bytes, over {} of {spool} bytes (raise the function's \
                 ephemeral storage, up to 10 GiB)",
                settings::MAX_SPOOL_SIZE.name
            ),
            None => format!(
                "object is {size} bytes, over {} of {} bytes (raise it with the function's \
                 memory, or turn on {})",
                settings::MAX_OBJECT_SIZE.name,
                self.budget.memory_limit(),
                settings::SPOOL_DIR.name
            ),
        }
    }

    /// Records the verdict on the version read and acts on it; returns where the object is.
    async fn apply(
        &self,
        report: &mut Report,
        info: &ObjectInfo,
        verdict: &Verdict,
        known: Option<Tags>,
    ) -> Result<Location, ActionError> {
        let tags = self.verdict_tags(info, verdict, &report.ruleset);
        let started = Instant::now();
        let recorded = record(
            &self.store,
            &self.config,
            &report.object,
            info,
            verdict,
            &tags,
            known,
        )
        .await;
        report.timings.tag_ms = ms(started);
        let Some(existing) = recorded? else {
            return Ok(Location::Gone);
        };
        if crate::findings::had_threat(&existing, &self.config.tag_keys) {
            report.earlier_threat = Some(report.object.clone());
        }
        if *verdict == Verdict::Clean
            && let Some(dest) = self.config.promotion(&report.object)
        {
            return self.promote(report, info, (&existing, tags), &dest).await;
        }
        if self.config.disposal(verdict) == Disposal::Tag {
            return Ok(Location::InPlace);
        }
        let started = Instant::now();
        let acted = action::act(
            &self.store,
            &self.config,
            &report.object,
            info,
            verdict,
            &existing,
            tags,
        )
        .await;
        report.timings.action_ms = ms(started);
        acted
    }

    /// The tags that record `verdict` on the bytes `info` describes, signed when there is a key.
    pub(crate) fn verdict_tags(&self, info: &ObjectInfo, verdict: &Verdict, ruleset: &str) -> Tags {
        let keys = &self.config.tag_keys;
        let date = keys.schema.date(chrono::Utc::now());
        let mut tags = verdict.tags(keys, ruleset, &date);
        if let Some(key) = &self.signing_key {
            let signature = signature::sign(key, info, &tags, keys);
            tags.push((keys.signature.clone(), signature));
        }
        tags
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
