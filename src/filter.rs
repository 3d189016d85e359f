//! Filters: objects the settings say not to scan (`SKIP_KEY_PREFIXES`, `SKIP_KEY_SUFFIXES`,
//! `SKIP_SIZE_BELOW`, `SKIP_SIZE_ABOVE`), decided from the event alone, before any request.
//! A skipped object gets the verdict `Skipped` with the reason (never `Clean`), tagged or left
//! untagged (`SKIPPED_ACTION`).

use strum::{IntoStaticStr, VariantArray, VariantNames};

/// What happens to a skipped object (`SKIPPED_ACTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, VariantArray, IntoStaticStr, VariantNames)]
#[strum(serialize_all = "kebab-case")]
pub enum SkippedAction {
    /// Tagged `Skipped`, with the reason in the detail tag.
    Tag,
    /// No verdict written; verdict tags the scanner did not sign are still taken off.
    Ignore,
}

/// Which objects are not scanned. The default skips nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    /// Keys starting with one of these (case-sensitive, as S3 keys are).
    pub prefixes: Vec<String>,
    /// Keys ending with one of these, in any letter case (`.log` also skips `A.LOG`).
    pub suffixes: Vec<String>,
    /// Objects of fewer bytes than this.
    pub size_below: Option<u64>,
    /// Objects of more bytes than this.
    pub size_above: Option<u64>,
    /// What a skipped object gets.
    pub action: SkippedAction,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            size_below: None,
            size_above: None,
            action: SkippedAction::Tag,
        }
    }
}

impl Filters {
    /// True when no object is ever skipped.
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
            && self.suffixes.is_empty()
            && self.size_below.is_none()
            && self.size_above.is_none()
    }

    /// Why the object at `key`, of `size` bytes when the event says, is not scanned; `None`
    /// when it is. An unknown size skips nothing by size: in doubt, scan.
    pub fn skip_reason(&self, key: &str, size: Option<u64>) -> Option<String> {
        if let Some(p) = self.prefixes.iter().find(|p| key.starts_with(p.as_str())) {
            return Some(format!("key prefix {p} is in SKIP_KEY_PREFIXES"));
        }
        if let Some(s) = self.suffixes.iter().find(|s| ends_with_ignore_case(key, s)) {
            return Some(format!("key ending {s} is in SKIP_KEY_SUFFIXES"));
        }
        match (size, self.size_below, self.size_above) {
            (Some(n), Some(min), _) if n < min => {
                Some(format!("{n} bytes, below SKIP_SIZE_BELOW of {min}"))
            }
            (Some(n), _, Some(max)) if n > max => {
                Some(format!("{n} bytes, above SKIP_SIZE_ABOVE of {max}"))
            }
            _ => None,
        }
    }
}

fn ends_with_ignore_case(key: &str, suffix: &str) -> bool {
    key.len() >= suffix.len()
        && key
            .as_bytes()
            .iter()
            .rev()
            .zip(suffix.as_bytes().iter().rev())
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters() -> Filters {
        Filters {
            prefixes: vec!["logs/".into()],
            suffixes: vec![".csv".into()],
            size_below: Some(10),
            size_above: Some(1000),
            action: SkippedAction::Tag,
        }
    }

    #[test]
    fn the_default_skips_nothing() {
        let f = Filters::default();
        assert!(f.is_empty());
        assert_eq!(f.skip_reason("logs/a.csv", Some(0)), None);
    }

    #[test]
    fn prefixes_are_case_sensitive_and_suffixes_are_not() {
        let f = filters();
        assert!(
            f.skip_reason("logs/x.bin", Some(100))
                .unwrap()
                .contains("logs/")
        );
        assert_eq!(f.skip_reason("Logs/x.bin", Some(100)), None);
        assert!(
            f.skip_reason("data/X.CSV", Some(100))
                .unwrap()
                .contains(".csv")
        );
        assert_eq!(f.skip_reason("data/x.csv.exe", Some(100)), None);
        // Multi-byte characters before the suffix do not trip the byte comparison.
        assert!(f.skip_reason("données.csv", Some(100)).is_some());
        assert_eq!(f.skip_reason("é", Some(100)), None);
    }

    #[test]
    fn sizes_outside_the_range_are_skipped_and_an_unknown_size_is_scanned() {
        let f = filters();
        assert!(
            f.skip_reason("a", Some(9))
                .unwrap()
                .contains("SKIP_SIZE_BELOW")
        );
        assert_eq!(f.skip_reason("a", Some(10)), None);
        assert_eq!(f.skip_reason("a", Some(1000)), None);
        assert!(
            f.skip_reason("a", Some(1001))
                .unwrap()
                .contains("SKIP_SIZE_ABOVE")
        );
        assert_eq!(f.skip_reason("a", None), None);
    }
}
