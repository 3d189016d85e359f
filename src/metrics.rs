//! Metrics of each batch, built from its [`Report`]s, as CloudWatch Embedded Metric Format
//! (EMF) lines: JSON that CloudWatch Logs turns into metrics as it ingests the function's log,
//! so no API call (and no permission) is needed. Dimensions are few and bounded (the function,
//! the verdict, the error kind), never a bucket or key.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::report::{Disposition, Report, Retry, Settled};

pub use crate::config::Metrics;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "S3YaraScan";

/// The metrics of a batch's totals document, with their units, in the order it lists them.
pub const TOTALS: [(&str, &str); 7] = [
    ("Records", "Count"),
    ("BatchItemFailures", "Count"),
    ("BytesScanned", "Bytes"),
    ("ScanTime", "Milliseconds"),
    ("S3Time", "Milliseconds"),
    ("SkippedSigned", "Count"),
    ("S3Requests", "Count"),
];

/// The values of the `ErrorKind` dimension of `Errors`: the names of [`ErrorKind`].
pub const ERROR_KINDS: &[&str] = <ErrorKind as strum::VariantNames>::VARIANTS;

/// The kinds of failure the `Errors` metric counts: a bounded set, named by their variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantNames)]
pub enum ErrorKind {
    /// The object could not be read ([`Retry::Read`]).
    Read,
    /// Its verdict could not be recorded, for now ([`Retry::Record`]).
    Record,
    /// Overwritten faster than it could be read ([`Retry::ReplacedTooOften`]).
    ReplacedTooOften,
    /// No room for its bytes ([`Retry::NoRoom`]).
    NoRoom,
    /// The batch ran out of time before it started ([`Retry::NotStarted`]).
    NotStarted,
    /// The batch ran out of time while it ran ([`Retry::Abandoned`]).
    Abandoned,
    /// Its verdict could not be recorded, and retrying cannot help ([`Settled::NotRecorded`]).
    NotRecorded,
    /// Its result event could not be published ([`Retry::Publish`]).
    Publish,
    /// Not in a protected bucket ([`Retry::NotProtected`]).
    NotProtected,
    /// It could not be sent to the agent's queue ([`Retry::Forward`]).
    Forward,
}

impl ErrorKind {
    /// The dimension's value.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The kind of failure a disposition counts as, if any. Every variant is named, so a new
    /// disposition must say whether it is an error.
    pub fn of(disposition: &Disposition) -> Option<ErrorKind> {
        Some(match disposition {
            Disposition::Retry(retry) => match retry {
                Retry::Read(_) => ErrorKind::Read,
                Retry::Record(_) => ErrorKind::Record,
                Retry::ReplacedTooOften(_) => ErrorKind::ReplacedTooOften,
                Retry::NoRoom(_) => ErrorKind::NoRoom,
                Retry::NotStarted => ErrorKind::NotStarted,
                Retry::NotProtected(_) => ErrorKind::NotProtected,
                Retry::Abandoned => ErrorKind::Abandoned,
                Retry::Publish(_) => ErrorKind::Publish,
                Retry::Forward(_) => ErrorKind::Forward,
            },
            Disposition::Acknowledge(settled) => match settled {
                Settled::NotRecorded(_) => ErrorKind::NotRecorded,
                Settled::Recorded
                | Settled::SignedClean { .. }
                | Settled::SignedReleased { .. }
                | Settled::OwnTagChange
                | Settled::VerdictStillSigned { .. }
                | Settled::NoVerdictTags
                | Settled::TagChangeUnchecked
                | Settled::Gone { .. }
                | Settled::Replaced
                | Settled::QuarantineBucket
                | Settled::NotTagged
                | Settled::Forwarded { .. } => return None,
            },
        })
    }
}

/// What one batch did, summed over its objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchMetrics {
    /// SQS records in the batch.
    pub records: usize,
    /// Records the response names for a retry.
    pub batch_item_failures: usize,
    /// Objects given each verdict.
    pub verdicts: BTreeMap<&'static str, u64>,
    /// Objects whose message goes back to the queue, or whose verdict could not be recorded,
    /// by kind.
    pub errors: BTreeMap<&'static str, u64>,
    /// Bytes of the objects scanned.
    pub bytes_scanned: u64,
    /// Milliseconds scanning, summed over objects.
    pub scan_ms: f64,
    /// Milliseconds in S3 calls (reads, tags, quarantine), summed over objects.
    pub s3_ms: f64,
    /// Objects not scanned again: a valid signed Clean for the same content.
    pub skipped_signed: u64,
    /// Requests sent to AWS for the objects.
    pub s3_requests: u64,
}

impl BatchMetrics {
    /// The metrics of a batch of `records` records, `failures` of them failed, from the
    /// reports of its objects.
    pub fn of<'a>(
        records: usize,
        failures: usize,
        reports: impl IntoIterator<Item = &'a Report>,
    ) -> BatchMetrics {
        let mut m = BatchMetrics {
            records,
            batch_item_failures: failures,
            ..BatchMetrics::default()
        };
        for report in reports {
            m.add(report);
        }
        m
    }

    fn add(&mut self, report: &Report) {
        if let Some(verdict) = &report.verdict {
            *self.verdicts.entry(verdict.name()).or_default() += 1;
            if report.timings.scan_ms > 0.0 {
                self.bytes_scanned += report.size.unwrap_or(0);
            }
        }
        if let Some(kind) = ErrorKind::of(&report.disposition) {
            *self.errors.entry(kind.name()).or_default() += 1;
        }
        if matches!(
            report.disposition,
            Disposition::Acknowledge(Settled::SignedClean { .. } | Settled::SignedReleased { .. })
        ) {
            self.skipped_signed += 1;
        }
        let t = &report.timings;
        self.scan_ms += t.scan_ms;
        self.s3_ms += t.get_ms + t.tag_ms + t.action_ms;
        self.s3_requests += u64::from(report.requests);
    }

    /// The EMF documents of the batch, one per line: the totals, then one per verdict given
    /// and one per kind of error seen (a document carries one value of each dimension).
    pub fn emf(&self, function: &str, timestamp_ms: u64) -> Vec<Value> {
        let values = [
            json!(self.records),
            json!(self.batch_item_failures),
            json!(self.bytes_scanned),
            json!(round(self.scan_ms)),
            json!(round(self.s3_ms)),
            json!(self.skipped_signed),
            json!(self.s3_requests),
        ];
        let totals: Vec<(&str, &str, Value)> = TOTALS
            .iter()
            .zip(values)
            .map(|(&(name, unit), value)| (name, unit, value))
            .collect();
        let mut docs = vec![document(function, timestamp_ms, None, Rollup::No, &totals)];
        // One document per dimension value: per verdict, then per kind of error.
        let counts = [
            ("Verdict", "Objects", &self.verdicts),
            ("ErrorKind", "Errors", &self.errors),
        ];
        for (dimension, metric, by_value) in counts {
            for (value, n) in by_value {
                let metric = [(metric, "Count", json!(n))];
                let extra = Some((dimension, *value));
                docs.push(document(function, timestamp_ms, extra, Rollup::No, &metric));
            }
        }
        docs
    }
}

impl BatchMetrics {
    /// Writes the batch's EMF documents, one line each, all at once: to stdout (`stdout`, in
    /// Lambda) or stderr.
    pub fn emit(&self, function: &str, stdout: bool) {
        write_documents(&self.emf(function, now_ms()), stdout);
    }
}

/// Now, in milliseconds since the epoch: an EMF document's timestamp.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Writes EMF `docs`, one line each, all at once: to stdout (`stdout`, in Lambda) or stderr.
pub(crate) fn write_documents(docs: &[Value], stdout: bool) {
    let lines: String = docs.iter().map(|doc| format!("{doc}\n")).collect();
    // A log line that cannot be written is not worth failing a batch or an update over.
    let _ = if stdout {
        std::io::Write::write_all(&mut std::io::stdout().lock(), lines.as_bytes())
    } else {
        std::io::Write::write_all(&mut std::io::stderr().lock(), lines.as_bytes())
    };
}

/// Whether an EMF document with an `extra` dimension is also rolled up under `FunctionName`
/// alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollup {
    /// Under `FunctionName` and `extra` only.
    No,
    /// Under `FunctionName` alone too (what an alarm over every value of `extra` watches).
    AlsoFunction,
}

/// One EMF document: its metrics under the `FunctionName` dimension, and `extra` beside it. A
/// metric whose value is null is left out (a value it does not have).
pub fn document(
    function: &str,
    timestamp_ms: u64,
    extra: Option<(&str, &str)>,
    rollup: Rollup,
    metrics: &[(&str, &str, Value)],
) -> Value {
    let mut dimensions = vec![vec!["FunctionName"]];
    let mut doc = serde_json::Map::new();
    doc.insert("FunctionName".into(), json!(function));
    if let Some((name, value)) = extra {
        dimensions[0].push(name);
        doc.insert(name.into(), json!(value));
        if rollup == Rollup::AlsoFunction {
            dimensions.push(vec!["FunctionName"]);
        }
    }
    let present = metrics.iter().filter(|(_, _, value)| !value.is_null());
    let definitions: Vec<Value> = (present.clone())
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    for (name, _, value) in present {
        doc.insert((*name).into(), value.clone());
    }
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": dimensions,
                "Metrics": definitions,
            }],
        }),
    );
    Value::Object(doc)
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests;
