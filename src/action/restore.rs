//! Releasing a quarantine copy (`s3-yara-scan release`): where it came from, as its key
//! (`<bucket>/<key>`, see [`super::quarantine_key`]) and its source tag record it, and the move
//! back there, which is the quarantine's own copy → verify → delete protocol run the other way.

use super::{
    ActionError, Location, Place, SourceTag, SourceTagError, move_verified, source_identity,
};
use crate::object::{MAX_KEY_BYTES, ObjectInfo, ObjectRef, Tags};
use crate::store::ObjectStore;
use crate::verdict::TagKeys;

/// Where a quarantine copy came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The bucket and key it was quarantined from; no version: quarantine deleted that one.
    pub object: ObjectRef,
    /// The ETag of the version quarantined, as the copy's source tag recorded it.
    pub etag: Option<String>,
}

/// Why a quarantine copy does not say where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// No source tag: not a copy the scanner made (or its tags were replaced).
    #[error(
        "it has no `{0}` tag, which every quarantine copy the scanner makes carries: no record \
         of its origin"
    )]
    NoSourceTag(String),
    /// The key is not `<bucket>/<key>`.
    #[error("its key is not `<source-bucket>/<key>`, as quarantine names its copies")]
    NotAQuarantineKey,
    /// The source tag is not `<version> <etag>`: not as the scanner wrote it.
    #[error("its source tag {0}")]
    BadSourceTag(#[from] SourceTagError),
    /// The key was cut to S3's length limit and suffixed with a hash: the end of the original
    /// key is lost.
    #[error(
        "its key was cut to S3's 1,024-byte limit when it was quarantined (it ends in `~` and a \
         hash): the original key is not recorded in full; copy it back by hand"
    )]
    CutKey,
}

/// The origin of the quarantine copy at `key` whose tags are `tags`.
pub fn origin_of(key: &str, tags: &Tags, keys: &TagKeys) -> Result<Origin, OriginError> {
    let source = tags
        .iter()
        .find(|(k, _)| *k == keys.source)
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| OriginError::NoSourceTag(keys.source.clone()))?;
    let (bucket, original) = key
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or(OriginError::NotAQuarantineKey)?;
    if was_cut(key) {
        return Err(OriginError::CutKey);
    }
    Ok(Origin {
        object: ObjectRef::new(bucket, original),
        etag: SourceTag::parse(source)?.etag,
    })
}

/// True when `key` may be one that `quarantine_key` cut: as long as the limit allows (less up
/// to three bytes, for a character boundary), ending in `~` and 16 hex digits. A key of its own
/// that happens to look so is refused too: better than a guess.
fn was_cut(key: &str) -> bool {
    key.len() + 3 >= MAX_KEY_BYTES
        && key.rsplit_once('~').is_some_and(|(_, hash)| {
            hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// The source tag a released object carries: the quarantine version and ETag it was copied
/// from, which is how its copy is verified and a second copy recognised.
pub fn source_tag(keys: &TagKeys, copy: &ObjectRef, info: &ObjectInfo) -> (String, String) {
    (keys.source.clone(), source_identity(copy, info))
}

/// Moves the quarantine copy `copy` (the version `info` describes) back to `origin` with
/// `tags` (which hold `source`, see [`source_tag`]): copied, verified, then deleted from the
/// quarantine bucket. A copy an interrupted release made is found and reused.
pub async fn restore<S: ObjectStore>(
    store: &S,
    (copy, info): (&ObjectRef, &ObjectInfo),
    origin: &ObjectRef,
    tags: &Tags,
    source: &(String, String),
) -> Result<Location, ActionError> {
    move_verified(store, copy, info, (origin, Place::Origin), tags, source).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(source: &str) -> Tags {
        vec![("scan-source".into(), source.into())]
    }

    #[test]
    fn the_origin_is_the_key_and_the_source_tag() {
        let keys = TagKeys::default();
        let origin = origin_of("uploads/a/b c.txt", &tagged("v1 abc"), &keys).unwrap();
        assert_eq!(origin.object, ObjectRef::new("uploads", "a/b c.txt"));
        assert_eq!(origin.etag.as_deref(), Some("abc"));
        let unversioned = origin_of("uploads/x", &tagged("null -"), &keys).unwrap();
        assert_eq!(unversioned.etag, None);
    }

    #[test]
    fn no_record_no_origin() {
        let keys = TagKeys::default();
        assert_eq!(
            origin_of("uploads/x", &vec![], &keys),
            Err(OriginError::NoSourceTag("scan-source".into()))
        );
        for key in ["uploads", "/x", "uploads/"] {
            assert_eq!(
                origin_of(key, &tagged("v e"), &keys),
                Err(OriginError::NotAQuarantineKey),
                "{key}"
            );
        }
        let cut = super::super::quarantine_key("uploads", &"k".repeat(2000));
        assert_eq!(
            origin_of(&cut, &tagged("v e"), &keys),
            Err(OriginError::CutKey)
        );
        for malformed in ["v1", "v1 a b", ""] {
            assert!(
                matches!(
                    origin_of("uploads/x", &tagged(malformed), &keys),
                    Err(OriginError::BadSourceTag(_))
                ),
                "{malformed:?}"
            );
        }
        let long = format!("uploads/{}", "k".repeat(1000));
        assert!(origin_of(&long, &tagged("v e"), &keys).is_ok());
    }
}
