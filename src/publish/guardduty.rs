//! Result events in GuardDuty Malware Protection for S3's schema (`RESULT_EVENT_SCHEMA=guardduty`):
//! the `detail` of its `GuardDuty Malware Protection Object Scan Result` events, so that rules
//! and consumers written for GuardDuty work on this scanner's events once their `source` is
//! changed (`aws.*` sources are reserved to AWS). The shape follows GuardDuty's documented
//! samples (tests/fixtures/guardduty-scan-results.json); the status is the one the GuardDuty
//! tag schema writes ([`GuardDutyStatus`]), so that tags and events agree.

use serde_json::{Value, json};

use crate::report::Report;
use crate::verdict::{GuardDutyStatus, Verdict};

/// The `schemaVersion` GuardDuty's documented events carry.
pub const SCHEMA_VERSION: &str = "1.0";
/// The key under which this scanner's own document rides along. GuardDuty's consumers read
/// the fields they know (rules match on named fields; GuardDuty itself has added fields to
/// these events since their launch), so one extra key breaks none of them, and keeps the
/// matches, ruleset and location a GuardDuty event cannot say.
pub const OWN_FIELDS: &str = "s3YaraScan";

/// The GuardDuty-schema document of `report`, whose verdict is `verdict`.
pub fn document(report: &Report, verdict: &Verdict) -> Value {
    let status = GuardDutyStatus::of(verdict);
    let threats = match status {
        GuardDutyStatus::ThreatsFound => Value::Array(threats(verdict)),
        GuardDutyStatus::NoThreatsFound
        | GuardDutyStatus::Unsupported
        | GuardDutyStatus::AccessDenied
        | GuardDutyStatus::Failed => Value::Null,
    };
    let mut object = json!({
        "bucketName": report.object.bucket,
        "objectKey": report.object.key,
        // No throttling is reported per object: S3's SlowDown answers are retried by the SDK.
        "s3Throttled": false,
    });
    // GuardDuty leaves out what it does not know (no version in an unversioned bucket) rather
    // than write null where its consumers expect a string.
    if let Some(etag) = &report.etag {
        object["eTag"] = Value::from(etag.trim_matches('"'));
    }
    if let Some(version) = &report.object.version_id {
        object["versionId"] = Value::from(version.as_str());
    }
    json!({
        "schemaVersion": SCHEMA_VERSION,
        "scanStatus": status.scan_status(),
        "resourceType": "S3_OBJECT",
        "s3ObjectDetails": object,
        "scanResultDetails": {
            "scanResultStatus": status.name(),
            "threats": threats,
        },
        OWN_FIELDS: super::document(report),
    })
}

/// One threat per matching rule, named as the rule is (each once, at most
/// [`super::MAX_MATCHES`]): GuardDuty names threats, not where in an archive they were.
fn threats(verdict: &Verdict) -> Vec<Value> {
    let mut names: Vec<&str> = Vec::new();
    for rule in verdict.rule_names() {
        if !names.contains(&rule) && names.len() < super::MAX_MATCHES {
            names.push(rule);
        }
    }
    names
        .into_iter()
        .map(|name| json!({ "name": name }))
        .collect()
}

#[cfg(test)]
mod tests;
