//! Actions: record a verdict on the scanned version (merged with the user's tags) and, for
//! `Infected`, quarantine or delete that version. Quarantine copies first, checks the copy,
//! and deletes the source only then, so a crash at any point loses nothing.

use sha2::{Digest, Sha256};

use crate::config::{Action, Config};
use crate::store::{ObjectInfo, ObjectRef, ObjectStore, StoreError, Tags};
use crate::verdict::{TagLimitError, Verdict, merge_tags, quarantine_tags};

/// S3 keys are at most 1,024 bytes.
const MAX_KEY_BYTES: usize = 1024;

/// Where the scanned object is once its verdict has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Still in its bucket.
    InPlace,
    /// Copied to the quarantine bucket and deleted from its own.
    Quarantined(ObjectRef),
    /// Deleted (`ACTION=delete`).
    Deleted,
    /// Gone before the function could act (deleted, overwritten in an unversioned bucket, or
    /// quarantined by an earlier delivery).
    Gone,
}

/// A step of applying a verdict failed.
#[derive(Debug, thiserror::Error)]
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
    /// Quarantining or deleting an infected object failed; it is still in its bucket.
    #[error("{step}: {source}; the infected object is still in its bucket")]
    Act {
        /// What the function was doing.
        step: &'static str,
        /// The S3 failure.
        source: StoreError,
    },
    /// The object's own tags leave no room for the verdict.
    #[error(transparent)]
    TagLimit(#[from] TagLimitError),
    /// The quarantine copy could not be confirmed, so the source was kept.
    #[error("the quarantine copy {dest} {problem}; the source was not deleted")]
    CopyNotVerified {
        /// Where the copy should be.
        dest: ObjectRef,
        /// What is wrong with it.
        problem: String,
    },
}

impl ActionError {
    /// True when the message should go back to the queue. A permission problem tagging the
    /// object is final (logged, acknowledged). Anything that leaves an infected object in place,
    /// or a verdict unwritten for want of tag room, is retried so that it ends in the DLQ, where
    /// it can be redriven once the cause is fixed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ActionError::Store { source, .. } => !matches!(
                source,
                StoreError::AccessDenied { .. } | StoreError::Permanent { .. }
            ),
            ActionError::Act { .. }
            | ActionError::TagLimit(_)
            | ActionError::CopyNotVerified { .. } => true,
        }
    }
}

fn step(step: &'static str) -> impl FnOnce(StoreError) -> ActionError {
    move |source| ActionError::Store { step, source }
}

fn acting(step: &'static str) -> impl FnOnce(StoreError) -> ActionError {
    move |source| ActionError::Act { step, source }
}

/// Writes `verdict` on `target` (the exact version scanned), keeping the user's tags. Returns
/// the tags the object had, or `None` when it is gone.
///
/// For an object about to leave its bucket (quarantine, delete), a failed tag write is only a
/// warning: its tags stop mattering once it is gone, the quarantine copy carries the verdict,
/// and refusing to act would leave the infected object where it is.
pub async fn record<S: ObjectStore>(
    store: &S,
    config: &Config,
    target: &ObjectRef,
    verdict: &Verdict,
    ours: &Tags,
) -> Result<Option<Tags>, ActionError> {
    let leaving = moves_away(config, verdict);
    let existing = match store.tags(target).await {
        Ok(tags) => tags,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) if leaving => {
            tracing::warn!(error = %e, "cannot read the object's tags; acting on it anyway");
            return Ok(Some(Vec::new()));
        }
        Err(e) => return Err(step("reading the object's tags")(e)),
    };
    let written = match merge_tags(&existing, ours.clone(), &config.tag_keys) {
        Ok(merged) => store
            .put_tags(target, &merged)
            .await
            .map_err(step("tagging the object")),
        Err(limit) => Err(limit.into()),
    };
    match written {
        Ok(()) => Ok(Some(existing)),
        Err(ActionError::Store {
            source: StoreError::NotFound { .. },
            ..
        }) => Ok(None),
        Err(e) if leaving => {
            tracing::warn!(error = %e, "verdict not tagged on the source; acting on it anyway");
            Ok(Some(existing))
        }
        Err(e) => Err(e),
    }
}

/// True when `verdict` makes the object leave its bucket.
pub fn moves_away(config: &Config, verdict: &Verdict) -> bool {
    matches!(verdict, Verdict::Infected(_)) && config.action != Action::Tag
}

/// Carries out the configured action on an infected `target`: quarantine (with `existing`
/// user tags and `ours` on the copy), delete, or nothing.
pub async fn act<S: ObjectStore>(
    store: &S,
    config: &Config,
    target: &ObjectRef,
    info: &ObjectInfo,
    existing: &Tags,
    ours: Tags,
) -> Result<Location, ActionError> {
    match (config.action, &config.quarantine_bucket) {
        (Action::Tag, _) => Ok(Location::InPlace),
        (Action::Delete, _) => remove(store, target, info).await.map(|gone| {
            if gone {
                Location::Gone
            } else {
                Location::Deleted
            }
        }),
        (Action::Quarantine, Some(bucket)) => {
            let dest = ObjectRef {
                bucket: bucket.clone(),
                key: quarantine_key(&target.bucket, &target.key),
                version_id: None,
            };
            let tags = quarantine_tags(existing, ours, &config.tag_keys);
            quarantine(store, target, info, &dest, &tags).await
        }
        // Config validation makes this unreachable; keep the object rather than guess.
        (Action::Quarantine, None) => Ok(Location::InPlace),
    }
}

async fn quarantine<S: ObjectStore>(
    store: &S,
    source: &ObjectRef,
    info: &ObjectInfo,
    dest: &ObjectRef,
    tags: &Tags,
) -> Result<Location, ActionError> {
    // A delivery that died between copy and delete left the copy behind: reuse it.
    let earlier = store
        .head(dest)
        .await
        .map_err(acting("checking the quarantine bucket (QUARANTINE_BUCKET)"))?;
    let copy = match earlier {
        Some(copy) if same_content(&copy, info) => copy,
        _ => store
            .copy(source, info.size, dest, tags)
            .await
            .map_err(acting(
                "copying to the quarantine bucket (QUARANTINE_BUCKET)",
            ))?,
    };
    let written = dest.at_version(copy.version_id.clone());
    match store
        .head(&written)
        .await
        .map_err(acting("checking the quarantine copy"))?
    {
        Some(found) if found.size == info.size => {}
        Some(found) => {
            return Err(ActionError::CopyNotVerified {
                dest: written,
                problem: format!("has {} bytes, the source {}", found.size, info.size),
            });
        }
        None => {
            return Err(ActionError::CopyNotVerified {
                dest: written,
                problem: "is missing".into(),
            });
        }
    }
    remove(store, source, info).await?;
    Ok(Location::Quarantined(written))
}

/// Deletes the scanned version; `Ok(true)` when it was already gone or replaced.
async fn remove<S: ObjectStore>(
    store: &S,
    target: &ObjectRef,
    info: &ObjectInfo,
) -> Result<bool, ActionError> {
    match store.delete(target, info.etag.as_deref()).await {
        Ok(()) => Ok(false),
        Err(StoreError::NotFound { .. }) => Ok(true),
        // An unversioned key whose ETag changed holds a newer upload, which gets its own
        // event and scan; the bytes we scanned are already gone.
        Err(StoreError::Permanent { code, .. }) if code == "PreconditionFailed" => Ok(true),
        Err(e) => Err(acting("deleting the infected object")(e)),
    }
}

/// ETags differ between copies of SSE-KMS and multipart objects, so equal sizes and either
/// equal or incomparable ETags count as the same content.
fn same_content(copy: &ObjectInfo, source: &ObjectInfo) -> bool {
    if copy.size != source.size {
        return false;
    }
    match (&copy.etag, &source.etag) {
        (Some(a), Some(b)) if is_md5(a) && is_md5(b) => a == b,
        _ => true,
    }
}

fn is_md5(etag: &str) -> bool {
    etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `<source-bucket>/<key>`: keeps the origin visible and keeps objects of different buckets
/// apart. Keys that would pass S3's 1,024-byte limit are cut and suffixed with a hash of the
/// whole key, so that they stay distinct.
pub fn quarantine_key(bucket: &str, key: &str) -> String {
    let full = format!("{bucket}/{key}");
    if full.len() <= MAX_KEY_BYTES {
        return full;
    }
    let hash: String = Sha256::digest(key.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
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

    #[test]
    fn same_content_compares_md5_etags_only() {
        let info = |size, etag: &str| ObjectInfo {
            version_id: None,
            size,
            etag: Some(etag.into()),
        };
        let md5 = "44d88612fea8a8f36de82e1278abb02f";
        assert!(same_content(&info(68, md5), &info(68, md5)));
        assert!(!same_content(
            &info(68, md5),
            &info(68, "0123456789abcdef0123456789abcdef")
        ));
        assert!(!same_content(&info(69, md5), &info(68, md5)));
        assert!(same_content(&info(68, "abc-2"), &info(68, md5)));
    }
}
