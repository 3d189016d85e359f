//! Security Hub findings (`SECURITY_HUB=on`): an `Infected` or `Suspicious` object becomes an
//! AWS Security Finding Format (ASFF) finding in the account's default product, one per
//! bucket, key and version, so that a re-delivery updates it rather than adding another; a
//! later `Clean` for that version, or a release from quarantine, archives it (Security Hub then
//! resolves its workflow). Building a finding is pure and lives here; importing it is the
//! `Publish` seam's (in `publish`), and one that cannot be imported takes the
//! result events' way back through the scan queue (`batch::announce`), never blocking the
//! verdict.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::object::Location;
use crate::object::{ObjectRef, Tags};
use crate::report::Report;
use crate::verdict::{TagKeys, Verdict};

mod severity;

pub use crate::config::SecurityHub;
pub use severity::Severity;

/// ASFF's schema version.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// The `GeneratorId` of every finding: the scanner, not a rule (the rules are in the title).
pub const GENERATOR_ID: &str = "s3-yara-scan";
/// ASFF caps `Title` at this many characters.
const MAX_TITLE: usize = 256;
/// ASFF caps `Description` (and the remediation text) at this many characters.
const MAX_DESCRIPTION: usize = 1024;

/// Where findings go: the account and region the function runs in (STS GetCallerIdentity at
/// start-up: it needs no permission, and the `handle`, `poll` and `release` commands have no
/// Lambda context to read the account from), and their partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// The AWS account id.
    pub account: String,
    /// The region.
    pub region: String,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
}

impl Product {
    /// The product of the caller `arn` (as STS names it) in `region`.
    pub fn of_caller(arn: &str, region: &str) -> Option<Product> {
        let mut parts = arn.split(':');
        let (Some("arn"), Some(partition), _, _, Some(account)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let digits = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        (digits && !partition.is_empty() && !region.is_empty()).then(|| Product {
            account: account.to_owned(),
            region: region.to_owned(),
            partition: partition.to_owned(),
        })
    }

    /// The account's default product, where an account's own findings are imported.
    pub fn arn(&self) -> String {
        format!(
            "arn:{}:securityhub:{}:{}:product/{}/default",
            self.partition, self.region, self.account, self.account
        )
    }

    fn s3_arn(&self, path: &str) -> String {
        format!("arn:{}:s3:::{path}", self.partition)
    }
}

/// Whether a finding is in force or archived (ASFF `RecordState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordState {
    /// A threat is there: `ACTIVE`, workflow `NEW`.
    #[serde(rename = "ACTIVE")]
    Active,
    /// No longer a threat: `ARCHIVED`, workflow `RESOLVED`.
    #[serde(rename = "ARCHIVED")]
    Archived,
}

impl RecordState {
    /// ASFF's `RecordState`.
    pub fn name(self) -> &'static str {
        match self {
            RecordState::Active => "ACTIVE",
            RecordState::Archived => "ARCHIVED",
        }
    }

    /// The `Workflow.Status` sent with it. Security Hub itself resolves the workflow of a
    /// finding its provider archives and ignores a provider's workflow on updates; it is sent
    /// all the same for emulators and readers that take the finding as sent.
    pub fn workflow(self) -> &'static str {
        match self {
            RecordState::Active => "NEW",
            RecordState::Archived => "RESOLVED",
        }
    }
}

/// One resource of a finding (ASFF `Resources[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resource {
    /// `AwsS3Object` or `AwsS3Bucket`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Its ARN.
    pub id: String,
    /// The object's ETag (`Details.AwsS3Object.ETag`), for the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The object's version (`Details.AwsS3Object.VersionId`), for the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// A finding in ASFF's terms, as the store imports it and as the scan queue holds one that
/// waits to be imported again (serialized with these names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Finding {
    /// Deterministic per bucket, key and version: see [`finding_id`].
    pub id: String,
    /// The account's default product.
    pub product_arn: String,
    /// The account.
    pub aws_account_id: String,
    /// The region.
    pub region: String,
    /// The resources' partition.
    pub partition: String,
    /// ASFF types, `namespace/category/classifier`.
    pub types: Vec<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
    /// `Severity.Label`.
    pub severity: Severity,
    /// What was found where.
    pub title: String,
    /// The rules and archive members, and the ruleset.
    pub description: String,
    /// The object, then its bucket.
    pub resources: Vec<Resource>,
    /// `Remediation.Recommendation.Text`: where the object is now, and what to do.
    pub remediation: String,
    /// In force or archived.
    pub record_state: RecordState,
}

/// The finding id of `object`: its bucket, key and version (`null` unversioned), hashed, since
/// an id has at most 512 characters and a key up to 1024 bytes.
pub fn finding_id(object: &ObjectRef) -> String {
    let version = object
        .version_id
        .as_deref()
        .filter(|_| object.is_pinned())
        .unwrap_or("null");
    let digest = Sha256::new()
        .chain_update(object.bucket.as_bytes())
        .chain_update([0])
        .chain_update(object.key.as_bytes())
        .chain_update([0])
        .chain_update(version.as_bytes())
        .finalize();
    format!("{GENERATOR_ID}/{}", hex::encode(digest))
}

/// Whether the tags an object had before this verdict hold a threat verdict (`Infected` or
/// `Suspicious`, as the tag schema writes them): its finding, if any, is resolved by a `Clean`.
/// Only objects that had one cost a Security Hub call.
pub fn had_threat(tags: &Tags, keys: &TagKeys) -> bool {
    let threat = |value: &str| {
        [
            Verdict::Infected(Vec::new()),
            Verdict::Suspicious(Vec::new()),
        ]
        .iter()
        .any(|v| keys.schema.value(v) == value)
    };
    tags.iter().any(|(k, v)| *k == keys.result && threat(v))
}

/// The finding `report` files or resolves in `product`, if any: an `ACTIVE` one for a threat,
/// an `ARCHIVED` one for a `Clean` or `Released` of an object whose earlier verdict was a threat
/// ([`Report::earlier_threat`]); none otherwise.
pub fn finding(report: &Report, product: &Product) -> Option<Finding> {
    let verdict = report.verdict.as_ref()?;
    let (object, state) = match verdict {
        Verdict::Infected(_) | Verdict::Suspicious(_) => (&report.object, RecordState::Active),
        Verdict::Clean | Verdict::Released { .. } => {
            (report.earlier_threat.as_ref()?, RecordState::Archived)
        }
        Verdict::Unscannable(_) | Verdict::Error(_) | Verdict::Skipped(_) => return None,
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (title, description) = words(report, verdict, object);
    Some(Finding {
        id: finding_id(object),
        product_arn: product.arn(),
        aws_account_id: product.account.clone(),
        region: product.region.clone(),
        partition: product.partition.clone(),
        types: vec![kind(verdict).to_owned()],
        created_at: now.clone(),
        updated_at: now,
        severity: Severity::of(verdict),
        title: cut(&title, MAX_TITLE),
        description: cut(&description, MAX_DESCRIPTION),
        resources: resources(report, object, product),
        remediation: cut(&remediation(report, verdict), MAX_DESCRIPTION),
        record_state: state,
    })
}

/// The ASFF type: malware is a technique of initial access; a suspicious file (a macro, a
/// script where none belongs) is unusual data rather than a known threat.
fn kind(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Suspicious(_) => "Unusual Behaviors/Data/Suspicious File",
        Verdict::Infected(_)
        | Verdict::Clean
        | Verdict::Unscannable(_)
        | Verdict::Error(_)
        | Verdict::Skipped(_)
        | Verdict::Released { .. } => "TTPs/Initial Access/Malware",
    }
}

fn s3_url(object: &ObjectRef) -> String {
    match object.version_id.as_deref().filter(|_| object.is_pinned()) {
        Some(version) => format!("s3://{}/{} (version {version})", object.bucket, object.key),
        None => format!("s3://{}/{}", object.bucket, object.key),
    }
}

/// The title and description: the verdict, the object, each rule with the archive member it
/// matched in, and the ruleset.
fn words(report: &Report, verdict: &Verdict, object: &ObjectRef) -> (String, String) {
    let url = s3_url(object);
    match verdict {
        Verdict::Infected(_) | Verdict::Suspicious(_) => {
            let rules = verdict.rule_names();
            let mut distinct: Vec<&str> = Vec::new();
            for rule in rules {
                if !distinct.contains(&rule) {
                    distinct.push(rule);
                }
            }
            let title = format!("{} object {url}: {}", verdict.name(), distinct.join(", "));
            let description = format!(
                "s3-yara-scan found {} {url}: {} (ruleset {}).",
                verdict.name(),
                verdict.labels().join("; "),
                report.ruleset
            );
            (title, description)
        }
        Verdict::Clean
        | Verdict::Unscannable(_)
        | Verdict::Error(_)
        | Verdict::Skipped(_)
        | Verdict::Released { .. } => {
            let title = format!("No longer a threat: {url} is {}", verdict.name());
            let description = format!(
                "s3-yara-scan gave {url} the verdict {} (ruleset {}){}.",
                verdict.name(),
                report.ruleset,
                verdict
                    .released_detail()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            );
            (title, description)
        }
    }
}

/// Where the object is now, and what to do about it.
fn remediation(report: &Report, verdict: &Verdict) -> String {
    let release = "if it is a false positive, `s3-yara-scan release` moves it back";
    match (&report.location, verdict) {
        (_, Verdict::Clean | Verdict::Released { .. }) => {
            format!("Nothing to do: the object is now {}.", verdict.name())
        }
        (Location::Quarantined(copy), _) => format!(
            "Quarantined to {}: review it there; {release}.",
            s3_url(copy)
        ),
        (Location::InPlace, _) => format!(
            "Left in place, tagged {}: delete it, or keep readers away from it until reviewed.",
            verdict.name()
        ),
        (Location::Deleted, _) => "Deleted from its bucket: nothing is left to read.".into(),
        (Location::Gone, _) => "No longer in its bucket (deleted or replaced).".into(),
        (Location::Promoted(copy) | Location::Restored(copy), _) => {
            format!("Now at {}: review it there.", s3_url(copy))
        }
    }
}

/// The object (with its ETag and version) and its bucket.
fn resources(report: &Report, object: &ObjectRef, product: &Product) -> Vec<Resource> {
    let pinned = object.version_id.clone().filter(|_| object.is_pinned());
    vec![
        Resource {
            kind: "AwsS3Object".into(),
            id: product.s3_arn(&format!("{}/{}", object.bucket, object.key)),
            etag: report
                .etag
                .as_deref()
                .map(|e| e.trim_matches('"').to_owned()),
            version_id: pinned,
        },
        Resource {
            kind: "AwsS3Bucket".into(),
            id: product.s3_arn(&object.bucket),
            etag: None,
            version_id: None,
        },
    ]
}

/// `text` cut to `max` characters.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests;
