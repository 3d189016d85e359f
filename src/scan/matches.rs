//! What a scan found: the matching rules, with their metadata and, for archive members, where.

/// The namespace of the matches the policies make (`ALLOWED_TYPES`, `TYPE_MISMATCH`,
/// `ACTIVE_CONTENT`); rules have theirs. Here, with [`Match`], so that what reads a match need
/// not know the policies.
pub const POLICY_NAMESPACE: &str = "policy";

/// A rule that matched, with its metadata (`description`, `severity`, …), as values' text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The rule's name.
    pub rule: String,
    /// The rule's namespace.
    pub namespace: String,
    /// The rule's `meta` entries, in order, each value as text.
    pub meta: Vec<(String, String)>,
    /// Where it matched when not in the object's own bytes: the archive member's path, such
    /// as `a.zip>b.tar>eicar.com`.
    pub member: Option<String>,
    /// The type of the bytes it matched in, as the `filetype` external gives it (`EXE`,
    /// `MAIL`, `PNG`…), when known.
    pub filetype: Option<String>,
}

impl From<&str> for Match {
    fn from(rule: &str) -> Match {
        Match::named(rule)
    }
}

impl Match {
    /// A match of the rule `rule` with no metadata (tests, local tools).
    pub fn named(rule: impl Into<String>) -> Match {
        Match {
            rule: rule.into(),
            namespace: "default".into(),
            meta: Vec::new(),
            member: None,
            filetype: None,
        }
    }

    /// The rule, after the member it matched in when that is not the object itself:
    /// `a.zip>b.tar>eicar.com:EICAR_Test_File`.
    pub fn label(&self) -> String {
        match &self.member {
            Some(member) => format!("{member}:{}", self.rule),
            None => self.rule.clone(),
        }
    }

    /// True when the rule's `meta` says `verdict = "suspicious"`: on its own, such a match
    /// makes an object `Suspicious` rather than `Infected`.
    pub fn is_suspicious(&self) -> bool {
        self.meta
            .iter()
            .any(|(k, v)| k == "verdict" && v.eq_ignore_ascii_case("suspicious"))
    }

    /// The names of `matches`, in order.
    pub fn names(matches: &[Match]) -> Vec<&str> {
        matches.iter().map(|m| m.rule.as_str()).collect()
    }

    fn of(rule: &yara_x::Rule<'_, '_>) -> Match {
        Match {
            rule: rule.identifier().to_owned(),
            namespace: rule.namespace().to_owned(),
            meta: rule
                .metadata()
                .map(|(k, v)| (k.to_owned(), meta_text(&v)))
                .collect(),
            member: None,
            filetype: None,
        }
    }
}

fn meta_text(value: &yara_x::MetaValue<'_>) -> String {
    match value {
        yara_x::MetaValue::Integer(i) => i.to_string(),
        yara_x::MetaValue::Float(f) => f.to_string(),
        yara_x::MetaValue::Bool(b) => b.to_string(),
        yara_x::MetaValue::String(s) => (*s).to_owned(),
        yara_x::MetaValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// The matches of a scan's results.
pub(super) fn matches(results: &yara_x::ScanResults<'_, '_>) -> Vec<Match> {
    results.matching_rules().map(|r| Match::of(&r)).collect()
}
