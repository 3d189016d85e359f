//! What an update did, feed by feed: put in force (written, or unchanged) with its count of
//! rules or digests and the rules a canary made private, or refused and why. Printed by
//! `feeds update`, as text or JSON.

use serde::Serialize;

use crate::config::{Feed, FeedKind};

/// One feed's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedReport {
    /// The feed's name (its object is `<prefix>feeds/<name>.<kind>`).
    pub name: String,
    /// What it holds.
    pub kind: FeedKind,
    /// Where it came from.
    pub url: String,
    /// The object it is written as (`s3://bucket/key`).
    pub object: String,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Seconds since its object in force was last written, after this update; `None` when
    /// there is none (or its time cannot be read).
    pub age_secs: Option<u64>,
}

/// What became of a feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// Validated and written as a new version: in force from the next rules refresh.
    Updated(InForce),
    /// Validated, and the same bytes as the one in force: written again all the same, so that
    /// its time says when it was last found sound (its ETag, and so the scanners' rules, stay).
    Unchanged(InForce),
    /// Refused; the one in force (if any) stays.
    Refused {
        /// Why.
        reason: String,
    },
}

/// A validated feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InForce {
    /// Rules of a package, or digests of a list.
    pub count: usize,
    /// Rules that fired on a canary, made private.
    pub dropped: Vec<String>,
    /// Lines of a hash list left out as no digest of its kind.
    pub malformed: usize,
}

impl FeedReport {
    pub(super) fn new(
        feed: &Feed,
        object: String,
        outcome: Outcome,
        age_secs: Option<u64>,
    ) -> FeedReport {
        FeedReport {
            name: feed.name.clone(),
            kind: feed.kind,
            url: feed.url.to_string(),
            object,
            outcome,
            age_secs,
        }
    }

    /// True when the feed is in force (written or unchanged).
    pub fn in_force(&self) -> bool {
        !matches!(self.outcome, Outcome::Refused { .. })
    }

    /// One line for people.
    pub fn line(&self) -> String {
        let what = match self.kind {
            FeedKind::Yara => "rules",
            FeedKind::Sha256 | FeedKind::Md5 | FeedKind::Sha1 => "digests",
        };
        let done = |word: &str, f: &InForce| {
            let mut text = format!("{word}: {} {what}", f.count);
            if !f.dropped.is_empty() {
                let names = f.dropped.join(", ");
                text.push_str(&format!(", made private (fired on a canary): {names}"));
            }
            if f.malformed > 0 {
                text.push_str(&format!(", {} malformed lines left out", f.malformed));
            }
            text
        };
        let status = match &self.outcome {
            Outcome::Updated(f) => done("in force, updated", f),
            Outcome::Unchanged(f) => done("in force, unchanged", f),
            Outcome::Refused { reason } => {
                format!("REFUSED (the last good one stays in force): {reason}")
            }
        };
        format!(
            "{} {} ({}) → {}: {status}",
            self.kind, self.name, self.url, self.object
        )
    }
}
