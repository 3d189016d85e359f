//! Verdicts and their tags: what a scan concluded, written as S3 object tags next to the
//! user's own tags, within S3's limits (10 tags, 256-character values, a restricted alphabet).

use std::fmt;
use strum::{EnumCount, EnumIter, IntoStaticStr, VariantNames};

use crate::object::Tags;
use crate::scan::{Match, POLICY_NAMESPACE};

mod schema;

pub use schema::{GuardDutyStatus, TagSchema};

/// S3 allows this many tags on an object.
pub const MAX_TAGS: usize = 10;
/// S3 allows tag values of at most this many characters.
pub const MAX_TAG_VALUE: usize = 256;

/// The outcome of scanning one object version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Scanned in full; no rule matched.
    Clean,
    /// At least one rule matched: the matches.
    Infected(Vec<Match>),
    /// Only rules whose `meta` says `verdict = "suspicious"` matched: the matches.
    Suspicious(Vec<Match>),
    /// Could not be scanned in full (too large, scan timeout); never treated as clean.
    Unscannable(String),
    /// Could not be processed (missing permission, KMS key); never treated as clean.
    Error(Failure),
    /// Not scanned, as the filters say (`SKIP_*`): the reason. Never treated as clean.
    Skipped(String),
    /// A quarantined false positive that an operator moved back (`s3-yara-scan release`): who
    /// and why. Readable like `Clean` while its signature holds for these exact bytes; never
    /// given by a scan.
    Released {
        /// The caller's identity (an ARN, from STS GetCallerIdentity).
        by: String,
        /// Why, in the operator's words.
        reason: String,
    },
}

/// How a `Released` verdict's detail tag starts: `released by <ARN>: <reason>`.
pub const RELEASED_PREFIX: &str = "released by ";

/// Why an object could not be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong, naming the permission or setting to change.
    pub reason: String,
    /// The function's role lacks a permission (some tag schemas say so apart).
    pub access_denied: bool,
}

impl From<String> for Failure {
    fn from(reason: String) -> Failure {
        Failure {
            reason,
            access_denied: false,
        }
    }
}

impl From<&str> for Failure {
    fn from(reason: &str) -> Failure {
        Failure::from(reason.to_owned())
    }
}

/// The kinds of [`Verdict`], without what each carries: the one list of verdict names (the
/// result tag, `RESULT_VERDICTS`, the `Verdict` metric dimension, the contract), in the order
/// they are listed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    EnumIter,
    EnumCount,
    IntoStaticStr,
    VariantNames,
)]
#[allow(missing_docs)] // each is the `Verdict` of the same name
pub enum VerdictKind {
    Clean,
    Infected,
    Suspicious,
    Unscannable,
    Error,
    Skipped,
    Released,
}

impl VerdictKind {
    /// Every verdict name, in the order of [`VerdictKind`].
    pub const NAMES: &'static [&'static str] = <VerdictKind as strum::VariantNames>::VARIANTS;

    /// The verdict's name, as the result tag writes it.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Every kind, in order.
    pub fn all() -> impl Iterator<Item = VerdictKind> {
        <VerdictKind as strum::IntoEnumIterator>::iter()
    }

    /// The kind a name gives, in any letter case.
    pub fn from_name(name: &str) -> Option<VerdictKind> {
        VerdictKind::all().find(|k| k.name().eq_ignore_ascii_case(name))
    }
}

impl Verdict {
    /// Which verdict this is.
    pub fn kind(&self) -> VerdictKind {
        match self {
            Verdict::Clean => VerdictKind::Clean,
            Verdict::Infected(_) => VerdictKind::Infected,
            Verdict::Suspicious(_) => VerdictKind::Suspicious,
            Verdict::Unscannable(_) => VerdictKind::Unscannable,
            Verdict::Error(_) => VerdictKind::Error,
            Verdict::Skipped(_) => VerdictKind::Skipped,
            Verdict::Released { .. } => VerdictKind::Released,
        }
    }

    /// The value of the result tag.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// The detail of a `Released` verdict, as its detail tag holds it (cut and sanitised by
    /// [`tag_value`]): `released by <ARN>: <reason>`.
    pub fn released_detail(&self) -> Option<String> {
        match self {
            Verdict::Released { by, reason } => Some(format!("{RELEASED_PREFIX}{by}: {reason}")),
            _ => None,
        }
    }

    /// The `Released` verdict a detail tag written by [`Verdict::released_detail`] records;
    /// `None` when it is not one. Only as trustworthy as the signature over that tag.
    pub fn released_from_detail(detail: &str) -> Option<Verdict> {
        let (by, reason) = detail.strip_prefix(RELEASED_PREFIX)?.split_once(": ")?;
        Some(Verdict::Released {
            by: by.to_owned(),
            reason: reason.to_owned(),
        })
    }

    /// The verdict of a scan that found `matches` in everything it looked at: `Infected`
    /// when a rule other than a suspicious one matched, `Suspicious` when only those did.
    pub fn of_matches(matches: Vec<Match>) -> Verdict {
        match matches.iter().all(Match::is_suspicious) {
            true if matches.is_empty() => Verdict::Clean,
            true => Verdict::Suspicious(matches),
            false => Verdict::Infected(matches),
        }
    }

    /// The matches, for `Infected` and `Suspicious`.
    pub fn matches(&self) -> &[Match] {
        match self {
            Verdict::Infected(matches) | Verdict::Suspicious(matches) => matches,
            _ => &[],
        }
    }

    /// The names of the matching rules, for `Infected`.
    pub fn rule_names(&self) -> Vec<&str> {
        self.matches().iter().map(|m| m.rule.as_str()).collect()
    }

    /// Each match as its tag names it: the rule, after the archive member it matched in
    /// (`a.zip>b.tar>eicar.com:EICAR_Test_File`).
    pub fn labels(&self) -> Vec<String> {
        self.matches().iter().map(Match::label).collect()
    }

    /// What the rules say of each match that has a `severity` or `description` meta, for the
    /// log: `label (severity: description)`.
    pub fn details(&self) -> Vec<String> {
        self.matches()
            .iter()
            .filter_map(|m| {
                let meta = |key: &str| m.meta.iter().find(|(k, _)| k == key).map(|(_, v)| v);
                match (meta("severity"), meta("description")) {
                    (None, None) => None,
                    (s, d) => Some(format!(
                        "{} ({}: {})",
                        m.label(),
                        s.map_or("-", String::as_str),
                        d.map_or("-", String::as_str)
                    )),
                }
            })
            .collect()
    }

    /// What the policies found (their namespace, [`POLICY_NAMESPACE`]), when they found something: each finding's
    /// description, for `scan-detail` (the type and the prefix that does not allow it, the
    /// macro's entry point).
    pub fn policy_detail(&self) -> Option<String> {
        let found: Vec<&str> = (self.matches().iter())
            .filter(|m| m.namespace == POLICY_NAMESPACE)
            .filter_map(|m| m.meta.iter().find(|(k, _)| k == "description"))
            .map(|(_, about)| about.as_str())
            .collect();
        (!found.is_empty()).then(|| found.join("; "))
    }

    /// The reason, for `Unscannable`, `Error`, `Skipped` and `Released`.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Verdict::Unscannable(r) | Verdict::Skipped(r) => Some(r),
            Verdict::Error(f) => Some(&f.reason),
            Verdict::Released { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// The tags that record this verdict, as `keys.schema` writes it: always the result, date
    /// and ruleset; the matching rules for `Infected` and `Suspicious` (and what the policies
    /// found, when they found something), the reason for `Unscannable`, `Error` and `Skipped`,
    /// who released it and why for `Released`. At most five tags.
    pub fn tags(&self, keys: &TagKeys, ruleset_id: &str, date: &str) -> Tags {
        let mut tags = vec![
            (keys.result.clone(), keys.schema.value(self).to_owned()),
            (keys.date.clone(), date.to_owned()),
        ];
        match self {
            Verdict::Clean => {
                if let Some(none) = keys.schema.no_matches() {
                    tags.push((keys.matches.clone(), none.to_owned()));
                }
            }
            Verdict::Infected(_) | Verdict::Suspicious(_) => {
                // S3 allows no `>` in tag values: the levels are separated by `/` there.
                let labels: Vec<String> =
                    self.labels().iter().map(|l| l.replace('>', "/")).collect();
                let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
                tags.push((keys.matches.clone(), matches_value(&labels)));
                if let Some(detail) = self.policy_detail() {
                    tags.push((keys.detail.clone(), tag_value(&detail)));
                }
            }
            Verdict::Unscannable(_) | Verdict::Error(_) | Verdict::Skipped(_) => {
                let reason = self.reason().unwrap_or_default();
                tags.push((keys.detail.clone(), tag_value(reason)))
            }
            Verdict::Released { .. } => {
                let detail = self.released_detail().unwrap_or_default();
                tags.push((keys.detail.clone(), tag_value(&detail)))
            }
        }
        tags.push((keys.rules.clone(), tag_value(ruleset_id)));
        tags
    }
}

/// The S3 tag keys the scanner writes. Each one is configurable so that the tags can match
/// what bucket policies or downstream tools already expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagKeys {
    /// Verdict: `Clean`, `Infected`, `Unscannable` or `Error` (`TAG_KEY_RESULT`).
    pub result: String,
    /// Scan time, RFC 3339 UTC (`TAG_KEY_DATE`).
    pub date: String,
    /// Names of the matching rules, for `Infected` (`TAG_KEY_MATCHES`).
    pub matches: String,
    /// Identity of the ruleset that produced the verdict (`TAG_KEY_RULES`).
    pub rules: String,
    /// Why an object is `Unscannable` or `Error` (`TAG_KEY_DETAIL`).
    pub detail: String,
    /// On quarantine copies: the source version and ETag the copy was made from
    /// (`TAG_KEY_SOURCE`).
    pub source: String,
    /// HMAC of the verdict, the content identity and the ruleset, when a signing key is set
    /// (`TAG_KEY_SIGNATURE`).
    pub signature: String,
    /// How the result and date are written, and which keys that fixes (`TAG_SCHEMA`).
    pub schema: TagSchema,
}

impl Default for TagKeys {
    fn default() -> Self {
        TagKeys {
            result: "scan-result".into(),
            date: "scan-date".into(),
            matches: "scan-matches".into(),
            rules: "scan-rules".into(),
            detail: "scan-detail".into(),
            source: "scan-source".into(),
            signature: "scan-signature".into(),
            schema: TagSchema::Scan,
        }
    }
}

impl TagKeys {
    /// True when `key` is one of these keys in any letter case. S3 tag keys are
    /// case-sensitive, but IAM condition keys (`s3:ExistingObjectTag/<key>`) may not be, so a
    /// `Scan-Result` set by someone else is treated like a forged `scan-result`.
    pub fn is_scanner_key(&self, key: &str) -> bool {
        self.all().iter().any(|k| k.eq_ignore_ascii_case(key))
    }

    /// All keys, in a fixed order.
    pub fn all(&self) -> [&str; 7] {
        [
            &self.result,
            &self.date,
            &self.matches,
            &self.rules,
            &self.detail,
            &self.source,
            &self.signature,
        ]
    }

    /// Each key with the variable that sets it, in the order of [`TagKeys::all`].
    pub fn by_variable(&mut self) -> [(&'static str, &mut String); 7] {
        [
            ("TAG_KEY_RESULT", &mut self.result),
            ("TAG_KEY_DATE", &mut self.date),
            ("TAG_KEY_MATCHES", &mut self.matches),
            ("TAG_KEY_RULES", &mut self.rules),
            ("TAG_KEY_DETAIL", &mut self.detail),
            ("TAG_KEY_SOURCE", &mut self.source),
            ("TAG_KEY_SIGNATURE", &mut self.signature),
        ]
    }
}

/// S3's rules for tag keys: up to 128 characters of letters, digits, spaces and `_.:/=+-@`,
/// and no `aws:` prefix.
pub fn check_tag_key(k: &str) -> Result<(), &'static str> {
    if k.is_empty() || k.chars().count() > 128 {
        return Err("a tag key has 1 to 128 characters");
    }
    if k.to_ascii_lowercase().starts_with("aws:") {
        return Err("tag keys starting with `aws:` are reserved");
    }
    if !k.chars().all(is_tag_char) {
        return Err("a tag key has only letters, digits, spaces and `_ . : / = + - @`");
    }
    Ok(())
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `Clean` verdict and the user's tags do not fit in S3's limit together.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error(
    "the object has {user} tags of its own and the Clean verdict needs {ours}, more than S3's \
     limit of {MAX_TAGS}; no verdict was written (remove some of the object's tags, then redrive \
     the message)"
)]
pub struct TagLimitError {
    /// Tags of the user's that would be kept.
    pub user: usize,
    /// Tags the verdict needs.
    pub ours: usize,
}

/// The tag set to write on a scanned object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    /// The user's tags (those that fit), then the verdict's.
    pub tags: Tags,
    /// User tags left out to make room for a verdict that is not `Clean`.
    pub dropped: Tags,
}

/// The tag set to write: the user's tags, minus every scanner key (whoever set it, in any
/// letter case), then `ours`. When they do not fit, a verdict that keeps readers away
/// (`Infected`, `Suspicious`, `Unscannable`, `Error`) wins: the last user tags are dropped, as
/// few as needed, so that an object is never left looking clean for want of room. `Clean`,
/// `Released` and `Skipped` never drop a user tag (they may drive lifecycle rules or access policies); they
/// fail instead, and the object stays without a verdict.
pub fn merge_tags(
    existing: &Tags,
    ours: Tags,
    keys: &TagKeys,
    verdict: &Verdict,
) -> Result<Merged, TagLimitError> {
    let mut user = user_tags(existing, keys);
    let room = MAX_TAGS.saturating_sub(ours.len());
    // Neither a Clean nor a Skipped object is worth a user's tag: only a verdict that keeps
    // readers away is.
    if user.len() > room
        && matches!(
            verdict,
            Verdict::Clean | Verdict::Skipped(_) | Verdict::Released { .. }
        )
    {
        return Err(TagLimitError {
            user: user.len(),
            ours: ours.len(),
        });
    }
    let dropped = user.split_off(room.min(user.len()));
    user.extend(ours);
    Ok(Merged {
        tags: user,
        dropped,
    })
}

/// `tags` without any scanner key, in any letter case.
pub fn user_tags(tags: &Tags, keys: &TagKeys) -> Tags {
    tags.iter()
        .filter(|(k, _)| !keys.is_scanner_key(k))
        .cloned()
        .collect()
}

/// True when `tags` hold a scanner key, in any letter case.
pub fn has_scanner_keys(tags: &Tags, keys: &TagKeys) -> bool {
    tags.iter().any(|(k, _)| keys.is_scanner_key(k))
}

/// True when `tags` hold a key that differs from a scanner key only in letter case: never
/// the scanner's own, and possibly matched by a case-insensitive policy condition.
pub fn has_case_variants(tags: &Tags, keys: &TagKeys) -> bool {
    let exact = keys.all();
    tags.iter()
        .any(|(k, _)| keys.is_scanner_key(k) && !exact.contains(&k.as_str()))
}

/// Our tags first, then as many of the user's as fit: for the quarantine copy, where the
/// verdict matters more than the user's labels.
pub fn quarantine_tags(existing: &Tags, ours: Tags, keys: &TagKeys) -> Tags {
    let room = MAX_TAGS.saturating_sub(ours.len());
    let mut tags = ours;
    tags.extend(user_tags(existing, keys).into_iter().take(room));
    tags
}

/// Characters S3 accepts in tag keys and values.
pub fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c)
}

/// `value` with characters S3 rejects replaced by `_`, cut to S3's length limit.
pub fn tag_value(value: &str) -> String {
    value
        .chars()
        .map(|c| if is_tag_char(c) { c } else { '_' })
        .take(MAX_TAG_VALUE)
        .collect()
}

/// Rule names separated by spaces; when they do not all fit, as many as fit and `+N` for
/// the rest, so the tag never claims fewer matches than there were.
fn matches_value(rules: &[&str]) -> String {
    let mut out = String::new();
    for (i, rule) in rules.iter().enumerate() {
        let name = tag_value(rule);
        let rest = rules.len() - i - 1;
        let suffix = if rest > 0 {
            format!(" +{rest}")
        } else {
            String::new()
        };
        let sep = if out.is_empty() { 0 } else { 1 };
        if out.chars().count() + sep + name.chars().count() + suffix.chars().count() > MAX_TAG_VALUE
        {
            let more = format!("+{}", rules.len() - i);
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&more);
            return out;
        }
        if sep == 1 {
            out.push(' ');
        }
        out.push_str(&name);
    }
    out
}

#[cfg(test)]
mod tests;
