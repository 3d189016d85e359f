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

/// The values of the `ErrorKind` dimension of `Errors`.
pub const ERROR_KINDS: [&str; 11] = [
    "Read",
    "Record",
    "ReplacedTooOften",
    "NoRoom",
    "NotStarted",
    "Abandoned",
    "NotRecorded",
    "Publish",
    "NotProtected",
    "Forward",
    "Unfinished",
];

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
        if let Some(kind) = error_kind(&report.disposition) {
            *self.errors.entry(kind).or_default() += 1;
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
        let mut docs = vec![document(function, timestamp_ms, None, &totals)];
        // One document per dimension value: per verdict, then per kind of error.
        let counts = [
            ("Verdict", "Objects", &self.verdicts),
            ("ErrorKind", "Errors", &self.errors),
        ];
        for (dimension, metric, by_value) in counts {
            for (value, n) in by_value {
                let metric = [(metric, "Count", json!(n))];
                let extra = Some((dimension, *value));
                docs.push(document(function, timestamp_ms, extra, &metric));
            }
        }
        docs
    }
}

impl BatchMetrics {
    /// Writes the batch's EMF documents, one line each, all at once: to stdout (`stdout`, in
    /// Lambda) or stderr.
    pub fn emit(&self, function: &str, stdout: bool) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let lines: String = self
            .emf(function, now)
            .iter()
            .map(|doc| format!("{doc}\n"))
            .collect();
        // A log line that cannot be written is not worth failing a batch over.
        let _ = if stdout {
            std::io::Write::write_all(&mut std::io::stdout().lock(), lines.as_bytes())
        } else {
            std::io::Write::write_all(&mut std::io::stderr().lock(), lines.as_bytes())
        };
    }
}

/// One EMF document: its metrics under the `FunctionName` dimension, and `extra` beside it.
fn document(
    function: &str,
    timestamp_ms: u64,
    extra: Option<(&str, &str)>,
    metrics: &[(&str, &str, Value)],
) -> Value {
    let mut dimensions = vec!["FunctionName"];
    let mut doc = serde_json::Map::new();
    doc.insert("FunctionName".into(), json!(function));
    if let Some((name, value)) = extra {
        dimensions.push(name);
        doc.insert(name.into(), json!(value));
    }
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    for (name, _, value) in metrics {
        doc.insert((*name).into(), value.clone());
    }
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions],
                "Metrics": definitions,
            }],
        }),
    );
    Value::Object(doc)
}

/// The kind of failure a disposition counts as, if any: a bounded set of names.
fn error_kind(disposition: &Disposition) -> Option<&'static str> {
    let kind = match disposition {
        Disposition::Retry(Retry::Read(_)) => 0,
        Disposition::Retry(Retry::Record(_)) => 1,
        Disposition::Retry(Retry::ReplacedTooOften(_)) => 2,
        Disposition::Retry(Retry::NoRoom(_)) => 3,
        Disposition::Retry(Retry::NotStarted) => 4,
        Disposition::Retry(Retry::Abandoned) => 5,
        Disposition::Acknowledge(Settled::NotRecorded(_)) => 6,
        Disposition::Retry(Retry::Publish(_)) => 7,
        Disposition::Retry(Retry::NotProtected(_)) => 8,
        Disposition::Retry(Retry::Forward(_)) => 9,
        Disposition::Retry(Retry::Unfinished) => 10,
        Disposition::Acknowledge(_) => return None,
    };
    Some(ERROR_KINDS[kind])
}

fn round(ms: f64) -> f64 {
    (ms * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests;
