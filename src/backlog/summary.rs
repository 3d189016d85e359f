//! What a backlog run did: the outcome of each object, counted ([`Counts`]), and the
//! [`Summary`] printed at the end, as text or JSON, with the exit code that goes with it.

use std::fmt;

use serde::Serialize;

use crate::report::{Disposition, Report, Settled};

/// Failed objects the text summary names one by one.
const MAX_FAILED_SHOWN: usize = 20;

/// How one object's work ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not read: its tags carry this scanner's signed `Clean` for the same bytes and rules, or
    /// its signed `Released`.
    Skipped,
    /// Read and judged; its verdict recorded and acted on. The verdict's name, and the size.
    Judged(&'static str, u64),
    /// Settled without a verdict: deleted or replaced before it was read.
    NoVerdict,
    /// Sent to the scan queue; its size.
    Enqueued(u64),
    /// Not settled, and why: counted as failed and retried by the next run.
    Failed(String),
}

impl Outcome {
    /// What `report` says about its object.
    pub fn of(report: &Report) -> Outcome {
        match (&report.disposition, &report.verdict) {
            (Disposition::Retry(why), _) => Outcome::Failed(why.to_string()),
            (Disposition::Acknowledge(Settled::NotRecorded(e)), _) => {
                Outcome::Failed(format!("verdict not recorded: {e}"))
            }
            (
                Disposition::Acknowledge(
                    Settled::SignedClean { .. } | Settled::SignedReleased { .. },
                ),
                _,
            ) => Outcome::Skipped,
            (_, Some(v)) => Outcome::Judged(v.name(), report.size.unwrap_or(0)),
            (_, None) => Outcome::NoVerdict,
        }
    }
}

/// The objects of one run, by outcome. `objects` is the sum of all the others but `bytes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Objects finished (settled or failed).
    pub objects: u64,
    /// Skipped unread: a valid signed `Clean` (or `Released`).
    pub skipped: u64,
    /// Verdicts recorded: `Clean`.
    pub clean: u64,
    /// `Infected`.
    pub infected: u64,
    /// `Suspicious`.
    pub suspicious: u64,
    /// `Unscannable`.
    pub unscannable: u64,
    /// `Error` (a missing permission, a KMS key).
    pub error: u64,
    /// Gone or replaced before they were read.
    pub no_verdict: u64,
    /// Sent to the scan queue.
    pub enqueued: u64,
    /// Not settled.
    pub failed: u64,
    /// Bytes read and scanned (or, sent to the queue, their sizes).
    pub bytes: u64,
}

impl Counts {
    /// Counts one more object.
    pub fn add(&mut self, outcome: &Outcome) {
        self.objects += 1;
        let slot = match outcome {
            Outcome::Skipped => &mut self.skipped,
            Outcome::Judged(verdict, bytes) => {
                self.bytes += bytes;
                self.verdict(verdict)
            }
            Outcome::NoVerdict => &mut self.no_verdict,
            Outcome::Enqueued(bytes) => {
                self.bytes += bytes;
                &mut self.enqueued
            }
            Outcome::Failed(_) => &mut self.failed,
        };
        *slot += 1;
    }

    /// The count of the verdict named `name` (see `Verdict::name`).
    fn verdict(&mut self, name: &str) -> &mut u64 {
        match name {
            "Clean" => &mut self.clean,
            "Infected" => &mut self.infected,
            "Suspicious" => &mut self.suspicious,
            "Unscannable" => &mut self.unscannable,
            _ => &mut self.error,
        }
    }
}

/// An object that did not settle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    /// Its key.
    pub key: String,
    /// Why.
    pub reason: String,
}

/// What one run did, printed at its end.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `s3://bucket/prefix`.
    pub location: String,
    /// `scan` (in this process) or `queue` (sent to the scan queue).
    pub mode: &'static str,
    /// This run's objects.
    pub counts: Counts,
    /// Objects this run listed (those of earlier runs excluded).
    pub listed: u64,
    /// Failed objects of earlier runs, tried again first.
    pub retried: u64,
    /// The key this run resumed after, if it resumed.
    pub resumed_after: Option<String>,
    /// Objects done by earlier runs.
    pub done_before: u64,
    /// Seconds this run took.
    pub elapsed_secs: f64,
    /// Objects finished per second.
    pub objects_per_sec: f64,
    /// True when stopped by a signal before the end.
    pub interrupted: bool,
    /// Why the listing stopped early, if it did.
    pub listing_error: Option<String>,
    /// Everything is listed and done; only `failed` (if any) is left for the next run.
    pub complete: bool,
    /// Objects not settled, this run's and earlier runs' still failing.
    pub failed: Vec<Failed>,
    /// The state file, or `None` when it was removed because nothing is left to do.
    pub state_file: Option<String>,
}

impl Summary {
    /// 130 when interrupted; else 1 when something is infected, 2 when an object failed, was
    /// unscannable or an error, or the listing stopped early; 0 otherwise. As for `scan`,
    /// infected wins over errors, so that a caller alerting on 1 misses no detection.
    pub fn exit_code(&self) -> u8 {
        let c = &self.counts;
        if self.interrupted {
            130
        } else if c.infected > 0 {
            1
        } else if c.failed + c.unscannable + c.error > 0
            || !self.failed.is_empty()
            || self.listing_error.is_some()
        {
            2
        } else {
            0
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match (self.interrupted, self.complete) {
            (true, _) => "interrupted; the same command resumes it",
            (false, true) => "complete",
            (false, false) => "stopped early; the same command resumes it",
        };
        writeln!(f, "backlog {} ({}): {how}", self.location, self.mode)?;
        if let Some(after) = &self.resumed_after {
            let after = after.escape_debug();
            writeln!(
                f,
                "  resumed after `{after}` ({} objects done by earlier runs)",
                self.done_before
            )?;
        }
        let c = &self.counts;
        let rows = [
            ("objects", c.objects),
            ("listed", self.listed),
            ("retried", self.retried),
            ("skipped", c.skipped),
            ("Clean", c.clean),
            ("Infected", c.infected),
            ("Suspicious", c.suspicious),
            ("Unscannable", c.unscannable),
            ("Error", c.error),
            ("no verdict", c.no_verdict),
            ("enqueued", c.enqueued),
            ("failed", c.failed),
        ];
        for (name, n) in rows.iter().filter(|(name, n)| *n > 0 || *name == "objects") {
            writeln!(f, "  {name:<12} {n}")?;
        }
        writeln!(f, "  {:<12} {}", "bytes", bytesize::ByteSize(c.bytes))?;
        writeln!(
            f,
            "  {:<12} {:.1} s ({:.1} objects/s)",
            "elapsed", self.elapsed_secs, self.objects_per_sec
        )?;
        if let Some(e) = &self.listing_error {
            writeln!(f, "  listing stopped: {e}")?;
        }
        // A whole bucket can fail (a missing permission): the text names the first few, the
        // JSON all of them.
        for failed in self.failed.iter().take(MAX_FAILED_SHOWN) {
            let key = failed.key.escape_debug();
            writeln!(f, "  failed: {key}: {}", failed.reason)?;
        }
        if self.failed.len() > MAX_FAILED_SHOWN {
            let more = self.failed.len() - MAX_FAILED_SHOWN;
            writeln!(f, "  … and {more} more failed (--json lists them all)")?;
        }
        match &self.state_file {
            Some(path) => writeln!(f, "  state: {path}"),
            None => writeln!(f, "  state: removed (nothing left to do)"),
        }
    }
}
