//! Acting on a verdict: quarantine (copy, verify the copy, delete the scanned version), delete,
//! or, for a clean object of a staging bucket, promotion to its production bucket (the same
//! verified move). The source is deleted only once its copy is confirmed, so a crash at any
//! point loses nothing; a copy an earlier delivery made is found and reused, never duplicated.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::{Config, Disposal};
use crate::object::{MAX_KEY_BYTES, ObjectInfo, ObjectRef, SseKms, Tags};
use crate::store::{ObjectStore, StoreError};
use crate::verdict::{MAX_TAGS, TagLimitError, Verdict, merge_tags, quarantine_tags};

mod restore;
mod source;

pub use crate::object::Location;
pub use restore::{Origin, OriginError, origin_of, restore, source_tag};
pub use source::{SourceTag, SourceTagError};

/// A step of applying a verdict failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// Reading or writing the verdict tags failed.
    #[error("{step}: {source}")]
    Store {
        /// What the function was doing.
        step: &'static str,
        /// The S3 failure.
        source: StoreError,
    },
    /// The verdict could not be written, and the object still carries verdict tags this scan
    /// did not write (an earlier verdict, or one someone else set).
    #[error(
        "tagging the object: {source}; it keeps verdict tags that this scan did not write, so \
         its message is retried"
    )]
    StaleVerdict {
        /// The S3 failure.
        source: StoreError,
    },
    /// Quarantining or deleting an object failed; it is still in its bucket.
    #[error("{step}: {source}; the object is still in its bucket")]
    Act {
        /// What the function was doing.
        step: &'static str,
        /// The S3 failure.
        source: StoreError,
    },
    /// The object's own tags leave no room for a `Clean` verdict.
    #[error(transparent)]
    TagLimit(#[from] TagLimitError),
    /// The copy (to quarantine, or to production) could not be confirmed, so the source was
    /// kept.
    #[error("the copy {dest} {problem}; the source was not deleted")]
    CopyNotVerified {
        /// Where the copy should be.
        dest: ObjectRef,
        /// What is wrong with it.
        problem: String,
    },
    /// A newer upload replaced the (unversioned or `null`) key while the verdict was written,
    /// so the tags may have landed on bytes that were never scanned; they were taken off.
    #[error("the object was replaced while its verdict was written")]
    Replaced,
    /// A clean staging object without a version id of its own (written while versioning was
    /// off or suspended): only a version id pins the bytes scanned, so it is not promoted.
    #[error(
        "{object} has no version id of its own (written while versioning was off or suspended \
         on its staging bucket): a twin of the same size and MD5 could replace it before the \
         copy, so it is not promoted (PROMOTE); keep versioning enabled on the staging bucket \
         and upload it again"
    )]
    Unpinned {
        /// The staging object.
        object: ObjectRef,
    },
}

impl ActionError {
    /// True when the message should go back to the queue. A permission problem tagging a
    /// clean, unscannable or unreadable object is final (logged, acknowledged). Anything that
    /// leaves an infected object in place or unmarked, a verdict unwritten for want of tag
    /// room, or someone else's verdict on the object, is retried so that it ends in the DLQ,
    /// where it can be redriven once fixed.
    pub fn is_retryable(&self, verdict: &Verdict) -> bool {
        match self {
            ActionError::Store { source, .. } => {
                matches!(verdict, Verdict::Infected(_))
                    || !matches!(
                        source,
                        StoreError::AccessDenied { .. } | StoreError::Permanent { .. }
                    )
            }
            ActionError::StaleVerdict { .. }
            | ActionError::Act { .. }
            | ActionError::TagLimit(_)
            | ActionError::CopyNotVerified { .. }
            | ActionError::Replaced
            // Like a Clean without tag room: it stays in staging and ends in the DLQ, in view.
            | ActionError::Unpinned { .. } => true,
        }
    }
}

fn acting(step: &'static str) -> impl FnOnce(StoreError) -> ActionError {
    move |source| ActionError::Act { step, source }
}

/// Carries out what `verdict` calls for on `target`: quarantine (with `existing` user tags
/// and `ours` on the copy), delete, or nothing.
pub async fn act<S: ObjectStore>(
    store: &S,
    config: &Config,
    target: &ObjectRef,
    info: &ObjectInfo,
    verdict: &Verdict,
    existing: &Tags,
    ours: Tags,
) -> Result<Location, ActionError> {
    match config.disposal(verdict) {
        Disposal::Tag => Ok(Location::InPlace),
        Disposal::Delete => Ok(
            match remove(store, target, info, Place::Quarantine).await? {
                true => Location::Gone,
                false => Location::Deleted,
            },
        ),
        Disposal::Quarantine(bucket) => {
            let dest = ObjectRef::new(bucket, quarantine_key(&target.bucket, &target.key));
            let source_tag = (
                config.tag_keys.source.clone(),
                source_identity(target, info),
            );
            let mut tags = quarantine_tags(existing, ours, &config.tag_keys);
            tags.insert(0, source_tag.clone());
            tags.truncate(MAX_TAGS);
            let to = (&dest, Place::Quarantine);
            move_verified(store, target, info, to, &tags, &source_tag).await
        }
    }
}

/// Promotes a clean `target` to `dest` in its production bucket: the copy, made from the very
/// version scanned (`info`'s), carries its metadata, content type, KMS encryption, the user's
/// tags (`existing`), the verdict tags (`ours`) and the source's identity; it is verified
/// before the staging version is deleted, and redeliveries or concurrent deliveries converge
/// on one copy.
pub async fn promote<S: ObjectStore>(
    store: &S,
    config: &Config,
    (target, info): (&ObjectRef, &ObjectInfo),
    existing: &Tags,
    ours: Tags,
    dest: &ObjectRef,
) -> Result<Location, ActionError> {
    // A key and its ETag do not pin the bytes: a twin of the same size and MD5 uploaded after
    // the scan would be copied in their place. A version id does.
    let target = &target.at_version(info.version_id.clone());
    if !target.is_pinned() {
        return Err(ActionError::Unpinned {
            object: target.clone(),
        });
    }
    let keys = &config.tag_keys;
    let source_tag = (keys.source.clone(), source_identity(target, info));
    let mut with_source = ours;
    with_source.push(source_tag.clone());
    let merged = merge_tags(existing, with_source, keys, &Verdict::Clean)?;
    move_verified(
        store,
        target,
        info,
        (dest, Place::Production),
        &merged.tags,
        &source_tag,
    )
    .await
}

/// The quarantine copy of `object` (any version), when one is there: to explain, on a
/// redelivery, why the object is gone.
pub async fn find_quarantined<S: ObjectStore>(
    store: &S,
    config: &Config,
    object: &ObjectRef,
) -> Option<ObjectRef> {
    let bucket = config.quarantine_bucket()?;
    let dest = ObjectRef::new(bucket, quarantine_key(&object.bucket, &object.key));
    match store.head(&dest).await {
        Ok(Some(_)) => Some(dest),
        _ => None,
    }
}

/// The value of a copy's source tag: which version of `source` (and ETag) it was made from.
fn source_identity(source: &ObjectRef, info: &ObjectInfo) -> String {
    SourceTag::of(source, info).value()
}

/// How many times a copy is tried within one delivery.
const COPY_ATTEMPTS: u32 = 3;

/// Where a verified move takes an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The quarantine bucket (`QUARANTINE_BUCKET`).
    Quarantine,
    /// A production bucket (`PROMOTE`).
    Production,
    /// The bucket and key a released quarantine copy came from (`release`).
    Origin,
}

impl Place {
    fn copying(self) -> &'static str {
        match self {
            Place::Quarantine => "copying to the quarantine bucket (QUARANTINE_BUCKET)",
            Place::Production => "copying to the production bucket (PROMOTE)",
            Place::Origin => "copying back to the object's own bucket (release)",
        }
    }

    fn checking(self) -> &'static str {
        match self {
            Place::Quarantine => "checking the quarantine bucket (QUARANTINE_BUCKET)",
            Place::Production => "checking the production bucket (PROMOTE)",
            Place::Origin => "checking the object's own bucket (release)",
        }
    }

    fn deleting(self) -> &'static str {
        match self {
            Place::Quarantine => "deleting the infected object",
            Place::Production => "deleting the promoted object from its staging bucket",
            Place::Origin => "deleting the released object from the quarantine bucket",
        }
    }

    /// How the copy of `info`'s version is encrypted (`None`: as the destination bucket's
    /// default says). A production copy keeps the source's KMS key, so that an SSE-KMS object
    /// never turns into SSE-S3 where its readers are; a quarantine copy takes the quarantine
    /// bucket's own encryption (docs/security.md, "SSE-KMS"); so does a released copy, whose
    /// original KMS key the quarantine copy does not record.
    fn encryption(self, info: &ObjectInfo) -> Option<&SseKms> {
        match self {
            Place::Quarantine | Place::Origin => None,
            Place::Production => info.kms.as_ref(),
        }
    }

    fn at(self, dest: ObjectRef) -> Location {
        match self {
            Place::Quarantine => Location::Quarantined(dest),
            Place::Production => Location::Promoted(dest),
            Place::Origin => Location::Restored(dest),
        }
    }
}

/// Copies `source` to `dest` (or reuses a copy an earlier delivery made of this very version),
/// verifies the copy, keeps one copy when concurrent deliveries made two, then deletes the
/// source version.
async fn move_verified<S: ObjectStore>(
    store: &S,
    source: &ObjectRef,
    info: &ObjectInfo,
    (dest, place): (&ObjectRef, Place),
    tags: &Tags,
    source_tag: &(String, String),
) -> Result<Location, ActionError> {
    let mut attempt = 0;
    let copy = loop {
        // A delivery that died between copy and delete, or a copy whose answer was lost, left
        // a copy behind: reuse it rather than copy again, but only when its tags say it was
        // made from this very source version. This is also why the store does not retry
        // CopyObject itself.
        if let Some(copy) = earlier_copy(store, info, dest, source_tag, place).await? {
            break copy;
        }
        attempt += 1;
        match store
            .copy(source, info, dest, tags, place.encryption(info))
            .await
        {
            Ok(copy) => break copy,
            // The key was replaced after the scan: the bytes we scanned are gone, and the new
            // upload gets its own event. Or the version is gone (a concurrent delivery
            // quarantined it): nothing is left to copy.
            Err(StoreError::Changed { .. }) => return Ok(Location::Gone),
            Err(StoreError::NotFound { code, .. }) if code != "NoSuchBucket" => {
                return Ok(Location::Gone);
            }
            Err(e) if e.is_retryable() && attempt < COPY_ATTEMPTS => {
                tracing::warn!(error = %e, attempt, step = place.copying(), "copy failed; checking for it, then retrying");
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            Err(e) => return Err(acting(place.copying())(e)),
        }
    };
    let written = dest.at_version(copy.version_id.clone());
    verify(store, &written, info, source_tag).await?;
    let kept = keep_oldest_copy(store, dest, &written, info, source_tag).await?;
    if remove(store, source, info, place).await? {
        tracing::warn!(source = %source, copy = %kept, "the source changed before it could be deleted; its copy stays");
    }
    Ok(place.at(kept))
}

/// The current version of `dest`, when it is a copy of this source version.
async fn earlier_copy<S: ObjectStore>(
    store: &S,
    info: &ObjectInfo,
    dest: &ObjectRef,
    source_tag: &(String, String),
    place: Place,
) -> Result<Option<ObjectInfo>, ActionError> {
    let earlier = store.head(dest).await.map_err(acting(place.checking()))?;
    Ok(match earlier {
        Some(copy) if copy.size == info.size => store
            .tags(&dest.at_version(copy.version_id.clone()))
            .await
            .map_err(acting("reading the tags of an earlier copy"))?
            .contains(source_tag)
            .then_some(copy),
        _ => None,
    })
}

/// Two deliveries of one message running at once can both copy. Each keeps the oldest copy of
/// this source version and deletes the others, so whatever the interleaving they converge on
/// one copy: none deletes the oldest, and the last to list sees every copy made before it.
async fn keep_oldest_copy<S: ObjectStore>(
    store: &S,
    dest: &ObjectRef,
    written: &ObjectRef,
    info: &ObjectInfo,
    source_tag: &(String, String),
) -> Result<ObjectRef, ActionError> {
    // A second copy wastes space but loses nothing, and this copy is verified: a listing
    // that fails does not hold the infected object back.
    let versions = match store.versions(dest).await {
        Ok(versions) => versions,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the copies to remove a second one; keeping this one");
            return Ok(written.clone());
        }
    };
    let mut copies = Vec::new();
    for version in versions.into_iter().filter(|v| v.size == info.size) {
        let at = dest.at_version(version.version_id);
        if at == *written {
            // `verify` has just read its tags.
            copies.push(at);
            continue;
        }
        match store.tags(&at).await {
            Ok(tags) if tags.contains(source_tag) => copies.push(at),
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(acting("reading a copy's tags")(e)),
        }
    }
    // Newest first: the oldest is last.
    let Some(oldest) = copies.pop() else {
        return Ok(written.clone());
    };
    for extra in copies {
        match store.delete(&extra, None).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {
                tracing::info!(copy = %extra, kept = %oldest, "removed a second copy of the same version");
            }
            Err(e) => return Err(acting("removing a second copy")(e)),
        }
    }
    Ok(oldest)
}

/// The copy must exist, have the source's size and carry the source's identity (an
/// unversioned quarantine bucket can have had the key overwritten by another copy meanwhile).
async fn verify<S: ObjectStore>(
    store: &S,
    written: &ObjectRef,
    info: &ObjectInfo,
    source_tag: &(String, String),
) -> Result<(), ActionError> {
    let problem = match store
        .head(written)
        .await
        .map_err(acting("checking the copy"))?
    {
        None => "is missing".to_owned(),
        Some(found) if found.size != info.size => {
            format!("has {} bytes, the source {}", found.size, info.size)
        }
        Some(_) => {
            let tags = store
                .tags(written)
                .await
                .map_err(acting("checking the copy's tags"))?;
            if tags.contains(source_tag) {
                return Ok(());
            }
            "was made from another source version".to_owned()
        }
    };
    Err(ActionError::CopyNotVerified {
        dest: written.clone(),
        problem,
    })
}

/// Deletes the scanned version; `Ok(true)` when it was already gone or replaced.
async fn remove<S: ObjectStore>(
    store: &S,
    target: &ObjectRef,
    info: &ObjectInfo,
    place: Place,
) -> Result<bool, ActionError> {
    match store.delete(target, info.etag.as_deref()).await {
        Ok(()) => Ok(false),
        // An unversioned key whose ETag changed holds a newer upload, which gets its own
        // event and scan; the bytes we scanned are already gone.
        Err(StoreError::NotFound { .. } | StoreError::Changed { .. }) => Ok(true),
        Err(e) => Err(acting(place.deleting())(e)),
    }
}

/// `<source-bucket>/<key>`: keeps the origin visible and keeps objects of different buckets
/// apart. Keys that would pass S3's 1,024-byte limit are cut and suffixed with a hash of the
/// whole key, so that they stay distinct.
pub fn quarantine_key(bucket: &str, key: &str) -> String {
    let full = format!("{bucket}/{key}");
    if full.len() <= MAX_KEY_BYTES {
        return full;
    }
    let hash = hex::encode(&Sha256::digest(key.as_bytes())[..8]);
    let mut cut = MAX_KEY_BYTES - hash.len() - 1;
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{hash}", &full[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantine_key_keeps_the_source_bucket() {
        assert_eq!(quarantine_key("uploads", "a/b c.txt"), "uploads/a/b c.txt");
    }

    #[test]
    fn long_quarantine_keys_fit_and_stay_distinct() {
        let a = quarantine_key("uploads", &"é".repeat(512));
        let b = quarantine_key("uploads", &format!("{}x", "é".repeat(511)));
        assert!(a.len() <= MAX_KEY_BYTES && b.len() <= MAX_KEY_BYTES);
        assert_ne!(a, b);
        assert!(a.starts_with("uploads/é"));
    }
}
