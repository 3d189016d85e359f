//! A finding's severity (ASFF `Severity.Label`): the highest `severity` meta among the matching
//! rules, else a default per verdict (`Infected` HIGH, `Suspicious` MEDIUM); a finding that is
//! resolved is INFORMATIONAL, the object being no threat any more.

use serde::{Deserialize, Serialize};

use crate::verdict::Verdict;

/// ASFF's severity labels, lowest first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, strum::VariantArray,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// `INFORMATIONAL`.
    Informational,
    /// `LOW`.
    Low,
    /// `MEDIUM`.
    Medium,
    /// `HIGH`.
    High,
    /// `CRITICAL`.
    Critical,
}

impl Severity {
    /// Every label, lowest first.
    pub const ALL: &'static [Severity] = <Severity as strum::VariantArray>::VARIANTS;

    /// ASFF's label.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Informational => "INFORMATIONAL",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }

    /// The severity a rule's `severity` meta names: ASFF's labels in any letter case, and the
    /// words rule sets use for them (`info`, `moderate`, `warning`).
    pub fn from_meta(value: &str) -> Option<Severity> {
        let value = value.trim();
        let alias = match value.to_ascii_lowercase().as_str() {
            "info" => Some(Severity::Informational),
            "moderate" | "warning" => Some(Severity::Medium),
            _ => None,
        };
        alias.or_else(|| {
            (Severity::ALL.iter().copied()).find(|s| s.label().eq_ignore_ascii_case(value))
        })
    }

    /// The severity of a finding for `verdict`.
    pub fn of(verdict: &Verdict) -> Severity {
        let default = match verdict {
            Verdict::Infected(_) => Severity::High,
            Verdict::Suspicious(_) => Severity::Medium,
            Verdict::Clean
            | Verdict::Unscannable(_)
            | Verdict::Error(_)
            | Verdict::Skipped(_)
            | Verdict::Released { .. } => return Severity::Informational,
        };
        verdict
            .matches()
            .iter()
            .flat_map(|m| m.meta.iter())
            .filter(|(k, _)| k.eq_ignore_ascii_case("severity"))
            .filter_map(|(_, v)| Severity::from_meta(v))
            .max()
            .unwrap_or(default)
    }
}
