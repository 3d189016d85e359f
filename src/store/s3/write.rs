//! Writes and listings: CopyObject (UploadPartCopy above 5 GiB), DeleteObject, the versions of
//! one key, and a bucket's versioning. A copy is never retried blindly: a copy whose answer is
//! lost has been made all the same, and the caller looks for it first.

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, MetadataDirective, ServerSideEncryption,
    TaggingDirective,
};
use aws_smithy_xml::decode::{Document, try_data};
use futures::{StreamExt, TryStreamExt};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::errors::classify;
use super::read::{head_output, sse_kms};
use super::{S3Store, quoted, unquote};
use crate::object::{ObjectInfo, ObjectRef, SseKms, Tags, decode_key, pinned_version};
use crate::store::{Listed, Op, Page, StoreError};

/// Characters kept as they are in a `CopySource` key; everything else is percent-encoded.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');
/// Characters kept as they are in an `x-amz-tagging` query string.
const TAGGING: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// S3 allows at most this many parts in one upload.
const MAX_PARTS: u64 = 10_000;
const COPY_PART_CONCURRENCY: usize = 4;

/// CopyObject, with the source's metadata and content type and `tags` instead of its tags.
/// Encrypted with `kms` when given, else with the destination bucket's default encryption.
pub(super) async fn copy(
    store: &S3Store,
    source: &ObjectRef,
    info: &ObjectInfo,
    dest: &ObjectRef,
    tags: &Tags,
    kms: Option<&SseKms>,
) -> Result<ObjectInfo, StoreError> {
    let (algorithm, key_id, bucket_key) = encryption(kms);
    let out = store
        .client
        .copy_object()
        .bucket(&dest.bucket)
        .key(&dest.key)
        .copy_source(copy_source(source))
        .set_copy_source_if_match(source_if_match(source, info))
        .metadata_directive(MetadataDirective::Copy)
        .tagging_directive(TaggingDirective::Replace)
        .tagging(tagging_query(tags))
        .set_server_side_encryption(algorithm)
        .set_ssekms_key_id(key_id)
        .set_bucket_key_enabled(bucket_key)
        .customize()
        .config_override(no_retries())
        .send()
        .await
        .map_err(|e| classify(Op::CopyObject, dest, e))?;
    let result = out.copy_object_result();
    Ok(ObjectInfo {
        version_id: pinned_version(out.version_id()),
        size: info.size,
        etag: result.and_then(|r| r.e_tag()).map(unquote),
        checksum_sha256: None,
        last_modified: result.and_then(|r| r.last_modified()).map(|t| t.secs()),
        kms: sse_kms(
            out.server_side_encryption(),
            out.ssekms_key_id(),
            out.bucket_key_enabled(),
        ),
        // The copy carries the source's metadata (MetadataDirective COPY).
        content_encoding: info.content_encoding.clone(),
        content_type: info.content_type.clone(),
    })
}

/// The encryption headers of a copy: SSE-KMS (or DSSE-KMS) with `kms`'s key, or none (the
/// destination bucket's default).
fn encryption(
    kms: Option<&SseKms>,
) -> (Option<ServerSideEncryption>, Option<String>, Option<bool>) {
    let Some(kms) = kms else {
        return (None, None, None);
    };
    let algorithm = if kms.dual_layer {
        ServerSideEncryption::AwsKmsDsse
    } else {
        ServerSideEncryption::AwsKms
    };
    // Left out when false: a bucket that uses Bucket Keys by default keeps using them.
    let bucket_key = kms.bucket_key.then_some(true);
    (Some(algorithm), kms.key_id.clone(), bucket_key)
}

/// A copy in parts, for objects CopyObject cannot copy in one go; aborted if any step fails
/// (a lifecycle rule reaps what an abort leaves).
pub(super) async fn copy_in_parts(
    store: &S3Store,
    source: &ObjectRef,
    info: &ObjectInfo,
    dest: &ObjectRef,
    tags: &Tags,
    kms: Option<&SseKms>,
) -> Result<ObjectInfo, StoreError> {
    let upload_id = start_upload(store, source, dest, tags, kms).await?;
    let copied = match copy_parts(store, source, info, dest, &upload_id).await {
        Ok(parts) => complete_upload(store, dest, &upload_id, parts).await,
        Err(e) => Err(e),
    };
    if copied.is_err() {
        let _ = store
            .client
            .abort_multipart_upload()
            .bucket(&dest.bucket)
            .key(&dest.key)
            .upload_id(&upload_id)
            .send()
            .await;
    }
    let version_id = copied?;
    Ok(ObjectInfo {
        version_id,
        size: info.size,
        content_encoding: info.content_encoding.clone(),
        ..ObjectInfo::default()
    })
}

/// CreateMultipartUpload with the source's metadata, which UploadPartCopy does not carry
/// over, encrypted with `kms` when given.
async fn start_upload(
    store: &S3Store,
    source: &ObjectRef,
    dest: &ObjectRef,
    tags: &Tags,
    kms: Option<&SseKms>,
) -> Result<String, StoreError> {
    let head = head_output(store, source).await?;
    let (algorithm, key_id, bucket_key) = encryption(kms);
    let upload = store
        .client
        .create_multipart_upload()
        .bucket(&dest.bucket)
        .key(&dest.key)
        .set_content_type(head.content_type().map(String::from))
        .set_content_encoding(head.content_encoding().map(String::from))
        .set_content_disposition(head.content_disposition().map(String::from))
        .set_content_language(head.content_language().map(String::from))
        .set_cache_control(head.cache_control().map(String::from))
        .set_metadata(head.metadata().cloned())
        .tagging(tagging_query(tags))
        .set_server_side_encryption(algorithm)
        .set_ssekms_key_id(key_id)
        .set_bucket_key_enabled(bucket_key)
        .send()
        .await
        .map_err(|e| classify(Op::CreateMultipartUpload, dest, e))?;
    upload
        .upload_id()
        .map(String::from)
        .ok_or_else(|| StoreError::Transient {
            op: Op::CreateMultipartUpload,
            detail: "CreateMultipartUpload returned no upload id".into(),
        })
}

async fn copy_parts(
    store: &S3Store,
    source: &ObjectRef,
    info: &ObjectInfo,
    dest: &ObjectRef,
    upload_id: &str,
) -> Result<Vec<CompletedPart>, StoreError> {
    let copy_source = copy_source(source);
    let if_match = source_if_match(source, info);
    let size = info.size;
    let part_size = store.part_size.max(size.div_ceil(MAX_PARTS));
    let parts = (0..size.div_ceil(part_size)).map(|i| {
        let (start, number) = (i * part_size, i as i32 + 1);
        let end = (start + part_size).min(size) - 1;
        let request = store
            .client
            .upload_part_copy()
            .bucket(&dest.bucket)
            .key(&dest.key)
            .upload_id(upload_id)
            .part_number(number)
            .copy_source(&copy_source)
            .set_copy_source_if_match(if_match.clone())
            .copy_source_range(format!("bytes={start}-{end}"));
        async move {
            let out = request
                .send()
                .await
                .map_err(|e| classify(Op::UploadPartCopy, dest, e))?;
            let etag = out.copy_part_result().and_then(|r| r.e_tag());
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(etag.map(String::from))
                .build())
        }
    });
    futures::stream::iter(parts)
        .buffered(COPY_PART_CONCURRENCY)
        .try_collect()
        .await
}

async fn complete_upload(
    store: &S3Store,
    dest: &ObjectRef,
    upload_id: &str,
    parts: Vec<CompletedPart>,
) -> Result<Option<String>, StoreError> {
    let done = store
        .client
        .complete_multipart_upload()
        .bucket(&dest.bucket)
        .key(&dest.key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .map_err(|e| classify(Op::CompleteMultipartUpload, dest, e))?;
    Ok(pinned_version(done.version_id()))
}

pub(super) async fn delete(
    store: &S3Store,
    object: &ObjectRef,
    etag: Option<&str>,
) -> Result<(), StoreError> {
    let if_match = etag.filter(|_| !object.is_pinned()).map(quoted);
    store
        .client
        .delete_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .set_version_id(object.version_id.clone())
        .set_if_match(if_match)
        .send()
        .await
        .map_err(|e| classify(Op::DeleteObject, object, e))?;
    Ok(())
}

/// The versions of exactly `object`'s key, newest first.
pub(super) async fn versions(
    store: &S3Store,
    object: &ObjectRef,
) -> Result<Vec<ObjectInfo>, StoreError> {
    let mut found = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = store
            .client
            .list_object_versions()
            .bucket(&object.bucket)
            .prefix(&object.key)
            // Keys can hold characters XML 1.0 cannot carry: have them URL-encoded.
            .encoding_type(aws_sdk_s3::types::EncodingType::Url)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .map_err(|e| classify(Op::ListObjectVersions, object, e))?;
        // The prefix also matches longer keys, which are listed after this one.
        found.extend(
            page.versions()
                .iter()
                .filter(|v| listed_key(v.key()).as_deref() == Some(object.key.as_str()))
                .map(|v| ObjectInfo {
                    version_id: pinned_version(v.version_id()),
                    size: v.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    etag: v.e_tag().map(unquote),
                    checksum_sha256: None,
                    last_modified: v.last_modified().map(|t| t.secs()),
                    kms: None,
                    content_encoding: None,
                    content_type: None,
                }),
        );
        let past_key = listed_key(page.next_key_marker()).is_some_and(|k| k != object.key);
        if !page.is_truncated().unwrap_or(false) || past_key {
            return Ok(found);
        }
        key_marker = listed_key(page.next_key_marker());
        version_marker = page.next_version_id_marker().map(String::from);
    }
}

pub(super) async fn is_versioned(
    store: &S3Store,
    bucket: &str,
) -> Result<Option<bool>, StoreError> {
    match store
        .client
        .get_bucket_versioning()
        .bucket(bucket)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.status() == Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled),
        )),
        // A 200 the SDK cannot parse: moto names the XML root differently from S3 (its
        // `Status` is read all the same).
        Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 200 => {
            Ok(e.raw().body().bytes().and_then(versioning_enabled))
        }
        Err(e) => Err(classify(
            Op::GetBucketVersioning,
            &ObjectRef::new(bucket, ""),
            e,
        )),
    }
}

/// Whether a GetBucketVersioning answer whose root element the SDK refuses says `Enabled`;
/// `None` when it is not an XML document.
fn versioning_enabled(body: &[u8]) -> Option<bool> {
    let mut doc = Document::try_from(body).ok()?;
    let mut root = doc.root_element().ok()?;
    while let Some(mut tag) = root.next_tag() {
        if tag.start_el().matches("Status") {
            return Some(try_data(&mut tag).ok()? == "Enabled");
        }
    }
    Some(false)
}

/// The current objects under `prefix`, in key order (every page).
pub(super) async fn list(
    store: &S3Store,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<Listed>, StoreError> {
    let at = ObjectRef::new(bucket, prefix);
    let mut found = Vec::new();
    let mut pages = store
        .client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| classify(Op::ListObjects, &at, e))?;
        found.extend(page.contents().iter().filter_map(listed));
    }
    Ok(found)
}

/// One ListObjectsV2 request: up to `max` keys (S3 caps it at 1,000) after `start_after`.
pub(super) async fn list_page(
    store: &S3Store,
    bucket: &str,
    prefix: &str,
    start_after: Option<&str>,
    max: usize,
) -> Result<Page, StoreError> {
    let at = ObjectRef::new(bucket, prefix);
    let page = store
        .client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .set_start_after(start_after.map(String::from))
        .max_keys(i32::try_from(max.clamp(1, 1000)).unwrap_or(1000))
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .map_err(|e| classify(Op::ListObjects, &at, e))?;
    Ok(Page {
        objects: page.contents().iter().filter_map(listed).collect(),
        more: page.is_truncated().unwrap_or(false),
    })
}

/// An object of a listing; `None` for a key that does not decode (never seen from S3).
fn listed(o: &aws_sdk_s3::types::Object) -> Option<Listed> {
    Some(Listed {
        key: listed_key(o.key())?,
        etag: o.e_tag().map(unquote),
        size: o.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
    })
}

/// PutObject of `body` at `object`.
pub(super) async fn put(
    store: &S3Store,
    object: &ObjectRef,
    body: Vec<u8>,
) -> Result<(), StoreError> {
    store
        .client
        .put_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .body(body.into())
        .send()
        .await
        .map_err(|e| classify(Op::PutObject, object, e))?;
    Ok(())
}

/// A key from a listing made with `encoding-type=url`, decoded.
fn listed_key(raw: Option<&str>) -> Option<String> {
    decode_key(raw?).ok()
}

/// `If-Match` for a copy of a key read without a pinned version: the bytes copied must be the
/// bytes scanned.
fn source_if_match(source: &ObjectRef, info: &ObjectInfo) -> Option<String> {
    info.etag
        .as_deref()
        .filter(|_| !source.is_pinned())
        .map(quoted)
}

fn copy_source(source: &ObjectRef) -> String {
    let key = utf8_percent_encode(&source.key, COPY_SOURCE);
    match &source.version_id {
        Some(v) => format!(
            "{}/{key}?versionId={}",
            source.bucket,
            utf8_percent_encode(v, TAGGING)
        ),
        None => format!("{}/{key}", source.bucket),
    }
}

fn tagging_query(tags: &Tags) -> String {
    tags.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, TAGGING),
                utf8_percent_encode(v, TAGGING)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A copy whose answer is lost has still been made: a blind retry would make a second one.
fn no_retries() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default()
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str, version: Option<&str>) -> ObjectRef {
        ObjectRef::new("b", key).at_version(version.map(String::from))
    }

    #[test]
    fn copy_source_encodes_the_key_again() {
        assert_eq!(
            copy_source(&obj("dir/a b+c%d é.txt", None)),
            "b/dir/a%20b%2Bc%25d%20%C3%A9.txt"
        );
        assert_eq!(copy_source(&obj("k", Some("v1+x"))), "b/k?versionId=v1%2Bx");
    }

    #[test]
    fn versioning_is_read_whatever_the_root_element() {
        let moto = |status: &str| {
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<GetBucketVersioningResponse \
                 xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{status}\
                 </GetBucketVersioningResponse>"
            )
        };
        let enabled = moto("<Status>Enabled</Status>");
        assert_eq!(versioning_enabled(enabled.as_bytes()), Some(true));
        let suspended = moto("<Status>Suspended</Status>");
        assert_eq!(versioning_enabled(suspended.as_bytes()), Some(false));
        assert_eq!(
            versioning_enabled(moto("").as_bytes()),
            Some(false),
            "never enabled"
        );
        assert_eq!(versioning_enabled(b"not xml"), None);
    }

    #[test]
    fn a_copy_keeps_the_kms_key_it_is_given_or_takes_the_bucket_default() {
        assert_eq!(encryption(None), (None, None, None));
        let kms = SseKms {
            key_id: Some("arn:aws:kms:us-east-1:1:key/k".into()),
            dual_layer: false,
            bucket_key: true,
        };
        assert_eq!(
            encryption(Some(&kms)),
            (
                Some(ServerSideEncryption::AwsKms),
                kms.key_id.clone(),
                Some(true)
            )
        );
        let dsse = SseKms {
            dual_layer: true,
            bucket_key: false,
            ..kms
        };
        assert_eq!(
            encryption(Some(&dsse)).0,
            Some(ServerSideEncryption::AwsKmsDsse)
        );
        assert_eq!(encryption(Some(&dsse)).2, None);
    }

    #[test]
    fn tagging_query_escapes_separators() {
        let tags = vec![
            ("a b".to_string(), "x=y&z".to_string()),
            ("scan-date".into(), "2026-01-01T00:00:00Z".into()),
        ];
        assert_eq!(
            tagging_query(&tags),
            "a%20b=x%3Dy%26z&scan-date=2026-01-01T00%3A00%3A00Z"
        );
    }
}
