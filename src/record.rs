//! Recording a verdict: its tags written on the exact version scanned, next to the user's own,
//! with every scanner key someone else set taken off; and, for a key without a pinned version,
//! the check that the key still holds the bytes scanned, the verdict taken off a newer upload
//! that replaced them.

use crate::action::ActionError;
use crate::config::{Config, Disposal};
use crate::object::{ObjectInfo, ObjectRef, Tags};
use crate::signature::{self, Check, SigningKey};
use crate::store::{ObjectStore, StoreError};
use crate::verdict::{
    TagKeys, Verdict, has_case_variants, has_scanner_keys, merge_tags, user_tags,
};

/// The tags that record `verdict` on the bytes `info` describes, judged by the rules
/// `ruleset`: signed when there is a key.
pub fn verdict_tags(
    keys: &TagKeys,
    key: Option<&SigningKey>,
    info: &ObjectInfo,
    verdict: &Verdict,
    ruleset: &str,
) -> Tags {
    let date = keys.schema.date(chrono::Utc::now());
    let mut tags = verdict.tags(keys, ruleset, &date);
    if let Some(key) = key {
        let signature = signature::sign(key, info, &tags, keys);
        tags.push((keys.signature.clone(), signature));
    }
    tags
}

/// Writes `ours` (the tags of `verdict`) on `target`, the exact version scanned, described by
/// `info`, keeping the user's tags (`known`, when the caller has just read them). Returns the
/// tags the object had, or `None` when it is gone.
///
/// For an object about to leave its bucket (quarantine, delete), a failed tag write is only a
/// warning: its tags stop mattering once it is gone, the quarantine copy carries the verdict,
/// and refusing to act would leave the object where it is.
pub async fn record<S: ObjectStore>(
    store: &S,
    config: &Config,
    target: &ObjectRef,
    info: &ObjectInfo,
    verdict: &Verdict,
    ours: &Tags,
    known: Option<Tags>,
) -> Result<Option<Tags>, ActionError> {
    let keys = &config.tag_keys;
    let leaving = config.disposal(verdict) != Disposal::Tag;
    let existing = match read_tags(store, target, known, leaving).await? {
        Some(tags) => tags,
        None => return Ok(None),
    };
    let merged = match merge_tags(&existing, ours.clone(), keys, verdict) {
        Ok(merged) => merged,
        Err(limit) => {
            // Absent is "not clean": a verdict someone else set must not outlive this one.
            clear_verdict(store, target, &existing, keys).await?;
            return Err(limit.into());
        }
    };
    for (key, value) in &merged.dropped {
        tracing::error!(object = %target, tag = %key.escape_debug(), value = %value.escape_debug(), verdict = %verdict, "user tag dropped: no room for the verdict next to the object's own tags");
    }
    match store.put_tags(target, &merged.tags).await {
        Ok(()) => {}
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) if leaving => {
            tracing::warn!(error = %e, "verdict not tagged on the source; acting on it anyway");
            return Ok(Some(existing));
        }
        Err(source) if has_scanner_keys(&existing, keys) => {
            return Err(ActionError::StaleVerdict { source });
        }
        Err(source) => {
            return Err(ActionError::Store {
                step: "tagging the object",
                source,
            });
        }
    }
    if !target.is_pinned() && !still_the_scanned_upload(store, target, info, keys).await? {
        return Ok(None);
    }
    Ok(Some(existing))
}

/// For an object that gets no verdict of its own (`SKIPPED_ACTION=ignore`): takes its scanner
/// keys off unless they are the scanner's valid signature for its bytes (checked with `signing`;
/// without a key, nothing is), so that no verdict someone else set stays on it. Returns whether
/// any was taken off; `Ok(false)` too when the object is gone.
pub async fn clear_foreign_verdict<S: ObjectStore>(
    store: &S,
    keys: &TagKeys,
    signing: Option<&SigningKey>,
    target: &ObjectRef,
) -> Result<bool, ActionError> {
    let reading = |source| ActionError::Store {
        step: "reading the skipped object's tags",
        source,
    };
    let tags = match store.tags(target).await {
        Ok(tags) => tags,
        Err(StoreError::NotFound { .. }) => return Ok(false),
        Err(source) => return Err(reading(source)),
    };
    if !has_scanner_keys(&tags, keys) {
        return Ok(false);
    }
    if let Some(key) = signing.filter(|_| !has_case_variants(&tags, keys)) {
        match store.head(target).await.map_err(reading)? {
            None => return Ok(false),
            Some(info)
                if matches!(
                    signature::verify(key, &info, &tags, keys),
                    Check::Valid { .. }
                ) =>
            {
                return Ok(false);
            }
            Some(_) => {}
        }
    }
    clear_verdict(store, target, &tags, keys).await?;
    Ok(true)
}

/// The tags of `target` (`known` when the caller has just read them); `None` when it is gone.
/// For an object about to leave its bucket, tags that cannot be read count as none.
async fn read_tags<S: ObjectStore>(
    store: &S,
    target: &ObjectRef,
    known: Option<Tags>,
    leaving: bool,
) -> Result<Option<Tags>, ActionError> {
    let read = match known {
        Some(tags) => Ok(tags),
        None => store.tags(target).await,
    };
    match read {
        Ok(tags) => Ok(Some(tags)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) if leaving => {
            tracing::warn!(error = %e, "cannot read the object's tags; acting on it anyway");
            Ok(Some(Vec::new()))
        }
        Err(source) => Err(ActionError::Store {
            step: "reading the object's tags",
            source,
        }),
    }
}

/// Removes every scanner key from `target` when it has any; nothing to do otherwise.
async fn clear_verdict<S: ObjectStore>(
    store: &S,
    target: &ObjectRef,
    existing: &Tags,
    keys: &TagKeys,
) -> Result<(), ActionError> {
    if !has_scanner_keys(existing, keys) {
        return Ok(());
    }
    match store.put_tags(target, &user_tags(existing, keys)).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(source) => Err(ActionError::StaleVerdict { source }),
    }
}

/// Tagging a key without a pinned version tags whatever it holds now. If a newer upload landed
/// since the read (another ETag, size or write time: a same-size MD5 twin still has a later
/// write time), the verdict is now on bytes nobody scanned: it is taken off at once, and the
/// caller rescans. `Ok(false)` when the key is gone.
async fn still_the_scanned_upload<S: ObjectStore>(
    store: &S,
    target: &ObjectRef,
    info: &ObjectInfo,
    keys: &TagKeys,
) -> Result<bool, ActionError> {
    let now = store
        .head(target)
        .await
        .map_err(|source| ActionError::Store {
            step: "checking the tagged object",
            source,
        })?;
    match now {
        None => Ok(false),
        Some(now) if now.same_upload(info) => Ok(true),
        Some(_) => {
            let removed = match store.tags(target).await {
                Ok(tags) => clear_verdict(store, target, &tags, keys).await,
                Err(source) => Err(ActionError::StaleVerdict { source }),
            };
            if let Err(e) = removed {
                tracing::error!(object = %target, error = %e, "cannot take the verdict off a newer upload; rescanning it to overwrite it");
            }
            Err(ActionError::Replaced)
        }
    }
}
