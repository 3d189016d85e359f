//! The first step: what the object's tags say before anything is read. A validly signed
//! `Clean` for the same content (typically a scanned object copied into another protected
//! bucket) is not scanned again, as `SKIP_SIGNED` says; nor is a validly signed `Released` (a
//! false positive released from quarantine), whatever `SKIP_SIGNED` says, unless it waits in a
//! staging bucket without `PROMOTE_RELEASED`. A tag change that left the scanner's own signed
//! verdict in place needs nothing. Every other verdict tag is distrusted, logged, and the
//! object scanned.

use std::sync::Arc;

use tracing::{info, warn};

use crate::config::SkipSigned;
use crate::event::{EventKind, ObjectEvent};
use crate::object::{ObjectInfo, ObjectRef, Tags};
use crate::pipeline::Pipeline;
use crate::report::Settled;
use crate::scan::RuleSets;
use crate::signature::{self, Check, SigningKey};
use crate::store::ObjectStore;
use crate::verdict::{Verdict, has_case_variants, has_scanner_keys};

use super::ending::{Ending, Seen};

/// What the tags decided.
pub(super) enum Checked {
    /// Nothing more to do.
    Kept(Ending),
    /// Scan the object; the tags of the version the event names, when they were read.
    Scan(Option<Tags>),
}

/// Objects up to this size are read before their tags: for an untagged one (most uploads)
/// GetObject tells that there are none, which spares the GetObjectTagging a signed skip would
/// need; reading the bytes of a small signed copy costs about what that request does.
const READ_FIRST_MAX: u64 = 256 * 1024;

/// An object's tags as read before a scan, and what they say.
struct ReadVerdict {
    tags: Tags,
    /// The version whose tags they are, when they hold scanner keys and it was still there.
    info: Option<ObjectInfo>,
    check: Check,
    /// Keys that differ from a scanner key only in letter case: never the scanner's.
    case_variants: bool,
}

impl ReadVerdict {
    /// The tags, when they are those of the exact version `object` names and so can stand
    /// in for a second read when the verdict is written.
    fn handed_on(self, object: &ObjectRef) -> Option<Tags> {
        object.is_pinned().then_some(self.tags)
    }
}

/// What `event`'s object's tags say before it is read.
pub(super) async fn before_read<S: ObjectStore>(
    p: &Pipeline<S>,
    rules: &Arc<RuleSets>,
    event: &ObjectEvent,
) -> Checked {
    match event.kind() {
        EventKind::Created => skip_if_signed(p, rules, event).await,
        EventKind::TagsChanged => recheck_tags(p, rules, event).await,
    }
}

/// True when there is a signing key (a signed `Released` is kept whatever `SKIP_SIGNED`
/// says) and `event`'s object is small enough to read first and check its tags after (see
/// [`READ_FIRST_MAX`]).
fn reads_first<S: ObjectStore>(p: &Pipeline<S>, event: &ObjectEvent) -> bool {
    p.signing_key.is_some()
        && event.kind() == EventKind::Created
        && event.size.is_some_and(|n| n <= READ_FIRST_MAX)
}

/// For an object read first: when GetObject says it has tags, they are read and a valid
/// signed `Clean` for these bytes spares the scan; with none, nothing is to be read.
/// Returns the tags when they are known (none, or read here for the check); the end of the
/// journey when they are a signed `Clean` or `Released` for these bytes, which spares the scan.
pub(super) async fn after_read<S: ObjectStore>(
    p: &Pipeline<S>,
    rules: &Arc<RuleSets>,
    event: &ObjectEvent,
    info: &ObjectInfo,
    tag_count: u32,
) -> Result<Option<Tags>, Ending> {
    if tag_count == 0 {
        return Ok(Some(Vec::new()));
    }
    let (Some(key), true) = (&p.signing_key, reads_first(p, event)) else {
        return Ok(None);
    };
    let read = event.object.at_version(info.version_id.clone());
    let Ok(tags) = p.store.tags(&read).await else {
        return Ok(None);
    };
    let keys = &p.config.tag_keys;
    let case_variants = has_case_variants(&tags, keys);
    let check = signature::verify(key, info, &tags, keys);
    if let Some((settled, verdict)) = signed_kept(p, rules, &event.object, &check, case_variants) {
        let seen = Seen::of(&event.object, info);
        return Err(Ending::settled(settled).seen(seen).verdict(verdict));
    }
    if has_scanner_keys(&tags, keys) {
        warn_distrusted(&event.object, &check, case_variants);
    }
    Ok(read.is_pinned().then_some(tags))
}

/// The settled outcome, and the verdict kept, when `check` is this scanner's valid
/// `Released` (see [`signed_released`]) or `Clean` (see [`signed_clean`]) for `object`'s
/// bytes.
pub(super) fn signed_kept<S: ObjectStore>(
    p: &Pipeline<S>,
    rules: &Arc<RuleSets>,
    object: &ObjectRef,
    check: &Check,
    case_variants: bool,
) -> Option<(Settled, Verdict)> {
    if let Some(kept) = signed_released(p, object, check, case_variants) {
        return Some(kept);
    }
    let settled = signed_clean(p, rules, check, case_variants)?;
    Some((settled, Verdict::Clean))
}

/// The settled outcome when `check` is this scanner's valid `Released`, whatever the rules
/// and `SKIP_SIGNED`: an operator released these very bytes. Not in a staging bucket unless
/// `PROMOTE_RELEASED=true`: there it would be promoted unscanned, so it is scanned again.
fn signed_released<S: ObjectStore>(
    p: &Pipeline<S>,
    object: &ObjectRef,
    check: &Check,
    case_variants: bool,
) -> Option<(Settled, Verdict)> {
    let verdict = check
        .released(&p.config.tag_keys)
        .filter(|_| !case_variants)?;
    if p.config.promotion(object).is_some() && !p.config.promote_released {
        info!(object = %object, "signed Released in a staging bucket: scanned again before promotion (PROMOTE_RELEASED=false)");
        return None;
    }
    let Check::Valid { date, .. } = check else {
        return None;
    };
    let settled = Settled::SignedReleased { date: date.clone() };
    Some((settled, verdict))
}

/// The settled outcome when `check` is this scanner's valid `Clean` (not a `Released`,
/// which some schemas write as their clean value) for the rules that `SKIP_SIGNED`
/// accepts, and no scanner key in another letter case stands beside it.
fn signed_clean<S: ObjectStore>(
    p: &Pipeline<S>,
    in_force: &Arc<RuleSets>,
    check: &Check,
    case_variants: bool,
) -> Option<Settled> {
    let skip = &p.config.skip_signed;
    match check {
        Check::Valid {
            result,
            rules,
            date,
            ..
        } if result == p.config.tag_keys.schema.clean()
            && check.released(&p.config.tag_keys).is_none()
            && *skip != SkipSigned::Never
            && (*skip == SkipSigned::AnyRules || rules == in_force.id())
            && !case_variants =>
        {
            Some(Settled::SignedClean {
                date: date.clone(),
                rules: rules.clone(),
            })
        }
        _ => None,
    }
}

/// With a signing key, an object whose tags carry this scanner's valid `Clean` for the
/// same content (and, unless `SKIP_SIGNED=any-rules`, the rules in use) is not read again.
/// A small object is read first instead, and its tags checked after when it has any.
async fn skip_if_signed<S: ObjectStore>(
    p: &Pipeline<S>,
    rules: &Arc<RuleSets>,
    event: &ObjectEvent,
) -> Checked {
    let Some(key) = &p.signing_key else {
        return Checked::Scan(None);
    };
    // With SKIP_SIGNED=never the tags are still read: a signed Released is kept.
    if reads_first(p, event) {
        return Checked::Scan(None);
    }
    let Some(read) = read_verdict(p, event, key).await else {
        return Checked::Scan(None);
    };
    let object = &event.object;
    if let Some((settled, verdict)) = signed_kept(p, rules, object, &read.check, read.case_variants)
    {
        let kept = Ending::settled(settled).verdict(verdict);
        return Checked::Kept(match &read.info {
            Some(info) => kept.seen(Seen::of(object, info)),
            None => kept,
        });
    }
    match &read.check {
        Check::Valid { result, rules, .. } if !read.case_variants => {
            info!(object = %object, result = %result, rules = %rules, "signed verdict is not a Clean from the current rules; rescanning");
        }
        Check::Untagged if !read.case_variants => {}
        check => warn_distrusted(object, check, read.case_variants),
    }
    Checked::Scan(read.handed_on(object))
}

/// A tag change (`ObjectTagging:*`): nothing to do when the verdict tags are still the
/// scanner's valid signature for these bytes with the rules in force (its own write, or a
/// change to the user's tags only), or when no verdict tag is left ("no verdict" reads as "not clean"). Otherwise
/// someone else changed the verdict: the object is scanned again, which writes its true
/// verdict over theirs. With a key, nobody's word is taken for who made the change, the
/// scanner's role's included: the tags are read and their signature decides (a rescan's
/// own write verifies, so rescans cause no further rescans). Without one, a change S3
/// names the scanner's role for is its own.
async fn recheck_tags<S: ObjectStore>(
    p: &Pipeline<S>,
    rules: &Arc<RuleSets>,
    event: &ObjectEvent,
) -> Checked {
    let settled = |s| Checked::Kept(Ending::settled(s));
    let Some(key) = &p.signing_key else {
        if is_own_change(p, event) {
            return settled(Settled::OwnTagChange);
        }
        if event.principal.is_none() {
            return settled(Settled::TagChangeUnchecked);
        }
        warn!(object = %event.object, "tags changed by someone other than the scanner; rescanning");
        return Checked::Scan(None);
    };
    let Some(read) = read_verdict(p, event, key).await else {
        return Checked::Scan(None);
    };
    let current = rules;
    // A Released stands whatever the rules: an operator released these very bytes.
    let released = read.check.released(&p.config.tag_keys).is_some();
    match &read.check {
        Check::Valid {
            result,
            date,
            rules,
            ..
        } if !read.case_variants && (rules == current.id() || released) => {
            settled(Settled::VerdictStillSigned {
                result: result.clone(),
                date: date.clone(),
            })
        }
        // The scanner's own, but from other rules: tags put back from an earlier scan
        // would restore an older verdict over a newer one (a Clean over an Infected).
        Check::Valid { rules, .. } if !read.case_variants => {
            info!(object = %event.object, rules = %rules, "tags changed to a verdict signed with other rules; rescanning");
            Checked::Scan(read.handed_on(&event.object))
        }
        Check::Untagged if !read.case_variants => settled(Settled::NoVerdictTags),
        check => {
            warn_distrusted(&event.object, check, read.case_variants);
            Checked::Scan(read.handed_on(&event.object))
        }
    }
}

/// True when S3 says the scanner's own role made the change (`SCANNER_ROLE_ID`): the role id
/// field of the principal, never the session name, which whoever assumes a role chooses.
fn is_own_change<S: ObjectStore>(p: &Pipeline<S>, event: &ObjectEvent) -> bool {
    match (&p.config.scanner_role_id, &event.principal) {
        (Some(role), Some(principal)) => role_id(principal) == role,
        _ => false,
    }
}

/// The object's tags and what they say about an earlier scan of these bytes; `None` when
/// they cannot be read (the scan goes ahead, and reports what is wrong).
async fn read_verdict<S: ObjectStore>(
    p: &Pipeline<S>,
    event: &ObjectEvent,
    key: &SigningKey,
) -> Option<ReadVerdict> {
    let keys = &p.config.tag_keys;
    let tags = p.store.tags(&event.object).await.ok()?;
    let mut read = ReadVerdict {
        check: Check::Untagged,
        info: None,
        case_variants: has_case_variants(&tags, keys),
        tags,
    };
    if !has_scanner_keys(&read.tags, keys) {
        return Some(read);
    }
    match p.store.head(&event.object).await {
        // Replaced since the event: the normal path reports that.
        Ok(Some(info)) if event.etag.is_none() || info.etag == event.etag => {
            read.check = signature::verify(key, &info, &read.tags, keys);
            read.info = Some(info);
        }
        _ => read.check = Check::Unsigned,
    }
    Some(read)
}

/// The role (or user) id of an event's `userIdentity.principalId`: `AWS:<id>:<session>` for an
/// assumed role, `AWS:<id>` for a user; whatever follows the id is the caller's to choose.
fn role_id(principal: &str) -> &str {
    let unprefixed = principal.strip_prefix("AWS:").unwrap_or(principal);
    unprefixed.split(':').next().unwrap_or_default()
}

fn warn_distrusted(object: &ObjectRef, check: &Check, case_variants: bool) {
    if case_variants {
        warn!(object = %object, "tags with scanner keys in another letter case (set by someone else); rescanning");
    } else if matches!(check, Check::Invalid) {
        warn!(object = %object, "forged verdict: the scan signature does not match this content under this scanner's key; rescanning");
    } else {
        warn!(object = %object, "verdict tags without a valid signature (set by someone else, or before signing was on); rescanning");
    }
}

#[cfg(test)]
mod tests {
    use super::role_id;

    #[test]
    fn only_the_role_id_field_names_the_principal() {
        assert_eq!(role_id("AWS:AROASCANNER:fn"), "AROASCANNER");
        assert_eq!(role_id("AWS:AROAATTACKER:AROASCANNER"), "AROAATTACKER");
        assert_eq!(role_id("AWS:AIDAUSER"), "AIDAUSER");
        assert_eq!(role_id("A3NL1KOZZKExample"), "A3NL1KOZZKExample");
        assert_eq!(role_id(""), "");
    }
}
