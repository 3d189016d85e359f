//! The settings of where results go: result events (`RESULT_*`, `QUEUE_URL`: where documents
//! go, which verdicts, and whose schema they follow) and Security Hub findings
//! (`SECURITY_HUB`). The documents and findings themselves are built in `publish` and
//! `findings`, which depend on these settings, never the reverse.

use strum::{IntoStaticStr, VariantArray, VariantNames};

/// The `detail-type` of the EventBridge events, and the `type` of every document. A change
/// that could break a consumer gets a new version.
pub const DETAIL_TYPE: &str = "S3 Object Scan Result v1";

/// The `detail-type` of GuardDuty's scan result events.
pub const GUARDDUTY_DETAIL_TYPE: &str = "GuardDuty Malware Protection Object Scan Result";

/// Whose schema result events follow (`RESULT_EVENT_SCHEMA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, VariantArray, IntoStaticStr, VariantNames)]
pub enum ResultSchema {
    /// This scanner's own document, detail-type [`DETAIL_TYPE`].
    #[default]
    #[strum(serialize = "scan")]
    Scan,
    /// GuardDuty Malware Protection for S3's scan result, detail-type
    /// [`GUARDDUTY_DETAIL_TYPE`], so that rules and consumers written for it keep working.
    #[strum(serialize = "guardduty")]
    GuardDuty,
}

impl ResultSchema {
    /// Every schema, in the order the setting lists them.
    pub const ALL: &'static [ResultSchema] = <ResultSchema as strum::VariantArray>::VARIANTS;

    /// The setting's values, in the order of [`ResultSchema::ALL`].
    pub const NAMES: &'static [&'static str] = <ResultSchema as strum::VariantNames>::VARIANTS;

    /// The setting's value for this schema.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The schema a setting's value names, in any letter case.
    pub fn from_name(name: &str) -> Option<ResultSchema> {
        (ResultSchema::ALL.iter().copied()).find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// The `detail-type` of its EventBridge events.
    pub fn detail_type(self) -> &'static str {
        match self {
            ResultSchema::Scan => DETAIL_TYPE,
            ResultSchema::GuardDuty => GUARDDUTY_DETAIL_TYPE,
        }
    }
}

/// Where result events go, and which (`RESULT_*`, `QUEUE_URL`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResultEvents {
    /// The EventBridge bus, by name or ARN.
    pub bus: Option<String>,
    /// The SNS topic's ARN.
    pub topic: Option<String>,
    /// The verdicts published, by name.
    pub verdicts: Vec<&'static str>,
    /// The scan queue, where a document whose publish failed waits to be published again.
    pub queue_url: Option<String>,
    /// Whose schema the documents follow.
    pub schema: ResultSchema,
}

impl ResultEvents {
    /// True when documents are published anywhere.
    pub fn is_on(&self) -> bool {
        self.bus.is_some() || self.topic.is_some()
    }
}

/// Whether threats become findings (`SECURITY_HUB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, VariantArray, IntoStaticStr, VariantNames)]
pub enum SecurityHub {
    /// `BatchImportFindings` for each threat, and its resolution.
    #[strum(serialize = "on")]
    On,
    /// No findings.
    #[default]
    #[strum(serialize = "off")]
    Off,
}

impl SecurityHub {
    /// Every value, in the order the setting lists them.
    pub const ALL: &'static [SecurityHub] = <SecurityHub as strum::VariantArray>::VARIANTS;

    /// The setting's values, in the order of [`SecurityHub::ALL`].
    pub const NAMES: &'static [&'static str] = <SecurityHub as strum::VariantNames>::VARIANTS;

    /// The setting's value.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The value a setting names, in any letter case.
    pub fn from_name(name: &str) -> Option<SecurityHub> {
        (SecurityHub::ALL.iter().copied()).find(|s| s.name().eq_ignore_ascii_case(name))
    }
}
