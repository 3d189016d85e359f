//! Tag schemas (`TAG_SCHEMA`): the verdict written the way a product users switch from wrote
//! it, so that their bucket policies, lifecycle rules and consumers keep working unchanged.
//! The scanner's other keys (rules, detail, signature) are written beside them all the same.

use chrono::{DateTime, Utc};
use strum::{IntoStaticStr, VariantArray, VariantNames};

use super::Verdict;

/// Whose tags the verdict is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, VariantArray, IntoStaticStr, VariantNames)]
pub enum TagSchema {
    /// This scanner's own: `scan-result` = `Clean`, `Infected`, `Suspicious`, `Unscannable`,
    /// `Error` or `Skipped`, `scan-date` in RFC 3339.
    #[default]
    #[strum(serialize = "scan")]
    Scan,
    /// Amazon GuardDuty Malware Protection for S3: `GuardDutyMalwareScanStatus`.
    #[strum(serialize = "guardduty")]
    GuardDuty,
    /// bucket-antivirus-function: `av-status`, `av-signature`, `av-timestamp`.
    #[strum(serialize = "bucket-antivirus")]
    BucketAntivirus,
}

impl TagSchema {
    /// Every schema, in the order the setting lists them.
    pub fn all() -> impl Iterator<Item = TagSchema> {
        <TagSchema as strum::VariantArray>::VARIANTS.iter().copied()
    }

    /// The setting's value for this schema.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The schema a setting's value names.
    pub fn from_name(name: &str) -> Option<TagSchema> {
        TagSchema::all().find(|s| s.name() == name)
    }

    /// The tag keys the schema fixes, with the variables that would otherwise set them.
    pub fn fixed_keys(self) -> &'static [(&'static str, &'static str)] {
        match self {
            TagSchema::Scan => &[],
            TagSchema::GuardDuty => &[("TAG_KEY_RESULT", "GuardDutyMalwareScanStatus")],
            TagSchema::BucketAntivirus => &[
                ("TAG_KEY_RESULT", "av-status"),
                ("TAG_KEY_MATCHES", "av-signature"),
                ("TAG_KEY_DATE", "av-timestamp"),
            ],
        }
    }

    /// The result tag's value for `verdict`. The products with no `Suspicious` read it as a
    /// threat: their policies then keep it from readers, as they would an infected object.
    /// Nor have they a `Released`: it is written as their clean value, so that their read
    /// policies let it be read; its signed detail tag (`released by …`) tells it from a scan's
    /// `Clean`.
    pub fn value(self, verdict: &Verdict) -> &'static str {
        match (self, verdict) {
            (TagSchema::Scan, v) => v.name(),
            (TagSchema::GuardDuty, v) => GuardDutyStatus::of(v).name(),
            (TagSchema::BucketAntivirus, Verdict::Clean) => "CLEAN",
            (TagSchema::BucketAntivirus, Verdict::Infected(_) | Verdict::Suspicious(_)) => {
                "INFECTED"
            }
            (TagSchema::BucketAntivirus, Verdict::Unscannable(_)) => "UNSCANNABLE",
            (TagSchema::BucketAntivirus, Verdict::Error(_)) => "ERROR",
            (TagSchema::BucketAntivirus, Verdict::Skipped(_)) => "SKIPPED",
            (TagSchema::BucketAntivirus, Verdict::Released { .. }) => "CLEAN",
        }
    }

    /// The value a `Released` verdict is written as.
    pub fn released(self) -> &'static str {
        self.value(&Verdict::Released {
            by: String::new(),
            reason: String::new(),
        })
    }

    /// The value a `Clean` verdict is written as.
    pub fn clean(self) -> &'static str {
        self.value(&Verdict::Clean)
    }

    /// The matches tag's value when nothing matched, for the schemas that always write it
    /// (bucket-antivirus writes `OK`).
    pub fn no_matches(self) -> Option<&'static str> {
        (self == TagSchema::BucketAntivirus).then_some("OK")
    }

    /// The date tag's value for `now`.
    pub fn date(self, now: DateTime<Utc>) -> String {
        match self {
            TagSchema::BucketAntivirus => now.format("%Y/%m/%d %H:%M:%S UTC").to_string(),
            TagSchema::Scan | TagSchema::GuardDuty => {
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            }
        }
    }
}

/// GuardDuty Malware Protection for S3's scan result status: the value of its
/// `GuardDutyMalwareScanStatus` tag and of `scanResultDetails.scanResultStatus` in its
/// EventBridge events, so that the tag schema and the event schema say the same of a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum GuardDutyStatus {
    /// `NO_THREATS_FOUND`.
    NoThreatsFound,
    /// `THREATS_FOUND`.
    ThreatsFound,
    /// `UNSUPPORTED`: GuardDuty skipped the object.
    Unsupported,
    /// `ACCESS_DENIED`: GuardDuty could not read the object.
    AccessDenied,
    /// `FAILED`: GuardDuty could not scan the object.
    Failed,
}

impl GuardDutyStatus {
    /// Every status, as GuardDuty's documentation lists them.
    pub const ALL: &'static [GuardDutyStatus] = <GuardDutyStatus as strum::VariantArray>::VARIANTS;

    /// The status GuardDuty would give `verdict`. It has no `Suspicious`: read as a threat, so
    /// that its policies keep it from readers as they would an infected object. Nor has it a
    /// `Released`: written as its clean value, so that its read policies let it be read (the
    /// signed detail tag tells it from a scan's `Clean`).
    pub fn of(verdict: &Verdict) -> GuardDutyStatus {
        match verdict {
            Verdict::Clean | Verdict::Released { .. } => GuardDutyStatus::NoThreatsFound,
            Verdict::Infected(_) | Verdict::Suspicious(_) => GuardDutyStatus::ThreatsFound,
            Verdict::Unscannable(_) => GuardDutyStatus::Unsupported,
            Verdict::Error(f) if f.access_denied => GuardDutyStatus::AccessDenied,
            Verdict::Error(_) => GuardDutyStatus::Failed,
            // GuardDuty leaves objects outside its filters untagged; tagged, "not scanned" is
            // the nearest of its statuses.
            Verdict::Skipped(_) => GuardDutyStatus::Unsupported,
        }
    }

    /// The status as GuardDuty writes it.
    pub fn name(self) -> &'static str {
        match self {
            GuardDutyStatus::NoThreatsFound => "NO_THREATS_FOUND",
            GuardDutyStatus::ThreatsFound => "THREATS_FOUND",
            GuardDutyStatus::Unsupported => "UNSUPPORTED",
            GuardDutyStatus::AccessDenied => "ACCESS_DENIED",
            GuardDutyStatus::Failed => "FAILED",
        }
    }

    /// The `scanStatus` GuardDuty's events carry with it: `COMPLETED` for a scan that gave a
    /// result, `SKIPPED` for an object it did not scan, `FAILED` for a scan that failed.
    pub fn scan_status(self) -> &'static str {
        match self {
            GuardDutyStatus::NoThreatsFound | GuardDutyStatus::ThreatsFound => "COMPLETED",
            GuardDutyStatus::Unsupported | GuardDutyStatus::AccessDenied => "SKIPPED",
            GuardDutyStatus::Failed => "FAILED",
        }
    }
}
