//! The store's state: finding, writing and stamping versions as S3 does, and the checks S3 makes
//! on conditional requests and tag sets.

use std::sync::Arc;

use super::{Bucket, MAX_TAGS, State, Version, Versioning, etag_of, not_found};
use crate::object::{NULL_VERSION, ObjectInfo, ObjectRef, Tags, pinned_version};
use crate::store::{Op, StoreError};

impl Version {
    pub(super) fn info(&self) -> ObjectInfo {
        ObjectInfo {
            version_id: pinned_version(Some(&self.id)),
            size: self.body.as_ref().map_or(0, |b| b.len() as u64),
            etag: Some(self.etag.clone()),
            checksum_sha256: None,
            last_modified: Some(self.last_modified),
            kms: self.kms.clone(),
            content_encoding: self.encoding.clone(),
            content_type: None,
        }
    }
}

impl State {
    pub(super) fn bucket(&self, name: &str, op: Op) -> Result<&Bucket, StoreError> {
        self.buckets
            .get(name)
            .ok_or_else(|| not_found(op, "NoSuchBucket"))
    }

    /// A new version for `bucket`, stamped with the next write time.
    pub(super) fn new_version(
        &mut self,
        bucket: &str,
        body: Option<Arc<Vec<u8>>>,
        tags: Tags,
    ) -> Version {
        self.clock += 1;
        self.next_version += 1;
        let versioned = self
            .buckets
            .get(bucket)
            .is_some_and(|b| b.versioning == Versioning::Enabled);
        Version {
            id: if versioned {
                format!("v{:04}", self.next_version)
            } else {
                NULL_VERSION.to_owned()
            },
            etag: etag_of(body.as_deref().map_or(&[][..], |b| b.as_slice())),
            body,
            last_modified: self.clock,
            tags,
            encoding: None,
            kms: None,
        }
    }

    /// Adds `version` to `key`, replacing the `null` version unless it has an id of its own.
    pub(super) fn write(&mut self, bucket: &str, key: &str, version: Version) {
        let Some(b) = self.buckets.get_mut(bucket) else {
            return;
        };
        let versions = b.keys.entry(key.to_owned()).or_default();
        if version.id == NULL_VERSION {
            versions.retain(|v| v.id != NULL_VERSION);
        }
        versions.push(version);
    }

    /// The version `object` names, or the current one.
    pub(super) fn find(&self, object: &ObjectRef) -> Result<&Version, StoreError> {
        self.find_for(object, Op::HeadObject)
    }

    pub(super) fn find_for(&self, object: &ObjectRef, op: Op) -> Result<&Version, StoreError> {
        let versions = self
            .bucket(&object.bucket, op)?
            .keys
            .get(&object.key)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let found = match &object.version_id {
            Some(id) => versions
                .iter()
                .find(|v| v.id == *id)
                .ok_or_else(|| not_found(op, "NoSuchVersion"))?,
            None => versions.last().ok_or_else(|| not_found(op, "NoSuchKey"))?,
        };
        match (&found.body, &object.version_id) {
            (Some(_), _) => Ok(found),
            (None, None) => Err(not_found(op, "NoSuchKey")),
            // S3 answers 405 for a read of a delete marker by its id.
            (None, Some(_)) => Err(StoreError::Permanent {
                op,
                code: "MethodNotAllowed".into(),
                detail: "the version is a delete marker".into(),
            }),
        }
    }

    pub(super) fn find_mut(
        &mut self,
        object: &ObjectRef,
        op: Op,
    ) -> Result<&mut Version, StoreError> {
        let id = self.find_for(object, op)?.id.clone();
        self.buckets
            .get_mut(&object.bucket)
            .and_then(|b| b.keys.get_mut(&object.key))
            .and_then(|vs| vs.iter_mut().rev().find(|v| v.id == id))
            .ok_or_else(|| not_found(op, "NoSuchKey"))
    }
}

/// Fails like S3 when an unpinned `object`'s ETag is no longer `etag`.
pub(super) fn check_etag(
    op: Op,
    object: &ObjectRef,
    version: &Version,
    etag: Option<&str>,
) -> Result<(), StoreError> {
    match etag {
        Some(e) if !object.is_pinned() && e != version.etag => Err(StoreError::Changed { op }),
        _ => Ok(()),
    }
}

pub(super) fn check_tag_count(op: Op, tags: &Tags) -> Result<(), StoreError> {
    if tags.len() > MAX_TAGS {
        return Err(StoreError::Permanent {
            op,
            code: "BadRequest".into(),
            detail: format!("Object tags cannot be greater than {MAX_TAGS}"),
        });
    }
    Ok(())
}
