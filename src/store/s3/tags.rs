//! Tags: GetObjectTagging, and PutObjectTagging (DeleteObjectTagging for an empty set).

use aws_sdk_s3::types::{Tag, Tagging};

use super::S3Store;
use super::errors::classify;
use crate::object::{ObjectRef, Tags};
use crate::store::{Op, StoreError};

pub(super) async fn get(store: &S3Store, object: &ObjectRef) -> Result<Tags, StoreError> {
    let out = store
        .client
        .get_object_tagging()
        .bucket(&object.bucket)
        .key(&object.key)
        .set_version_id(object.version_id.clone())
        .send()
        .await
        .map_err(|e| classify(Op::GetObjectTagging, object, e))?;
    Ok(out
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect())
}

pub(super) async fn put(
    store: &S3Store,
    object: &ObjectRef,
    tags: &Tags,
) -> Result<(), StoreError> {
    if tags.is_empty() {
        // The same as an empty PutObjectTagging, which some emulators reject.
        store
            .client
            .delete_object_tagging()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone())
            .send()
            .await
            .map_err(|e| classify(Op::DeleteObjectTagging, object, e))?;
        return Ok(());
    }
    let tag_set = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .and_then(|set| Tagging::builder().set_tag_set(Some(set)).build())
        .map_err(|e| StoreError::Permanent {
            op: Op::PutObjectTagging,
            code: "InvalidTag".into(),
            detail: e.to_string(),
        })?;
    store
        .client
        .put_object_tagging()
        .bucket(&object.bucket)
        .key(&object.key)
        .set_version_id(object.version_id.clone())
        .tagging(tag_set)
        .send()
        .await
        .map_err(|e| classify(Op::PutObjectTagging, object, e))?;
    Ok(())
}
