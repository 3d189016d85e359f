//! Reads: GetObject into reserved room (the first part from the response, the rest in
//! parallel ranged GETs pinned to the bytes the first response returned) and HeadObject.

use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use futures::{StreamExt, TryStreamExt};

use super::errors::{classify, transient};
use super::{S3Store, quoted, unquote};
use crate::object::{ObjectInfo, ObjectRef, SseKms, pinned_version};
use crate::store::{Budget, Fetched, Op, Sink, StoreError};

const GET_PART_CONCURRENCY: usize = 8;

pub(super) async fn get(
    store: &S3Store,
    object: &ObjectRef,
    etag: Option<&str>,
    budget: &Budget,
    reserved: Option<Sink>,
) -> Result<Fetched, StoreError> {
    // A version pins the bytes by itself; only an unversioned (or `null`) read needs the ETag.
    let if_match = etag.filter(|_| !object.is_pinned());
    let out = request(store, object, if_match)
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .map_err(|e| classify(Op::GetObject, object, e))?;
    let size = out
        .content_length()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| transient(Op::GetObject, "response has no Content-Length".into()))?;
    let info = ObjectInfo {
        version_id: pinned_version(out.version_id()),
        size,
        etag: out.e_tag().map(unquote),
        checksum_sha256: out.checksum_sha256().map(String::from),
        last_modified: out.last_modified().map(|t| t.secs()),
        kms: sse_kms(
            out.server_side_encryption(),
            out.ssekms_key_id(),
            out.bucket_key_enabled(),
        ),
        content_encoding: out.content_encoding().map(String::from),
        content_type: out.content_type().map(String::from),
    };
    // Sent to a caller allowed to read the tags (the role has s3:GetObjectTagging) when the
    // object has any.
    let tag_count = out
        .tag_count()
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    // Dropping the unread body closes the connection: a too-large object costs one request,
    // not a download.
    let Some(mut sink) = room(budget, reserved, size).await? else {
        return Ok(Fetched::TooLarge(info));
    };
    fill(store, object, &info, out.body, sink.as_mut_slice()).await?;
    let body = sink
        .finish()
        .map_err(|e| transient(Op::GetObject, format!("mapping the spooled object: {e}")))?;
    Ok(Fetched::Body {
        info,
        body,
        tag_count,
    })
}

/// `reserved` when it has room for exactly `size` bytes, else room reserved now.
async fn room(
    budget: &Budget,
    reserved: Option<Sink>,
    size: u64,
) -> Result<Option<Sink>, StoreError> {
    match reserved {
        Some(sink) if sink.len() as u64 == size => Ok(Some(sink)),
        other => {
            drop(other);
            budget
                .reserve(size)
                .await
                .map_err(|e| transient(Op::GetObject, format!("making room for {size} bytes: {e}")))
        }
    }
}

/// Fills `room` with the object: its first part from `body`, the rest in parallel ranged
/// GETs pinned to the version (or, unversioned, the ETag) the first response returned, so that
/// every part comes from the same bytes.
async fn fill(
    store: &S3Store,
    object: &ObjectRef,
    info: &ObjectInfo,
    body: ByteStream,
    room: &mut [u8],
) -> Result<(), StoreError> {
    let first_len = room.len().min(store.get_part_size);
    let (first, rest) = room.split_at_mut(first_len);
    read_exactly(body, first, rest.is_empty()).await?;
    if rest.is_empty() {
        return Ok(());
    }
    let pinned = object.at_version(info.version_id.clone());
    let part_size = store.get_part_size;
    let mut parts = Vec::new();
    for (i, part) in rest.chunks_mut(part_size).enumerate() {
        let start = (first_len + i * part_size) as u64;
        parts.push(get_range(store, &pinned, info.etag.as_deref(), start, part));
    }
    futures::stream::iter(parts)
        .buffer_unordered(GET_PART_CONCURRENCY)
        .try_collect::<()>()
        .await
}

/// GetObject for `object`, only while its ETag is `etag` when one is given.
fn request(
    store: &S3Store,
    object: &ObjectRef,
    etag: Option<&str>,
) -> aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder {
    store
        .client
        .get_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .set_version_id(object.version_id.clone())
        .set_if_match(etag.map(quoted))
}

/// Reads bytes `start..start + part.len()` of `object` into `part`.
async fn get_range(
    store: &S3Store,
    object: &ObjectRef,
    etag: Option<&str>,
    start: u64,
    part: &mut [u8],
) -> Result<(), StoreError> {
    let end = start + part.len() as u64 - 1;
    // A part's bytes cannot be checked against the object's checksum, and a multipart object's
    // composite checksum cannot be checked at all (the SDK would warn once per part): the
    // parts are pinned by version or ETag instead, and the first read asked for the checksum
    // that a signed verdict covers.
    let unchecked = aws_sdk_s3::config::Builder::default()
        .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired);
    let out = request(store, object, etag)
        .range(format!("bytes={start}-{end}"))
        .customize()
        .config_override(unchecked)
        .send()
        .await
        .map_err(|e| classify(Op::GetObject, object, e))?;
    if out.content_length() != Some(part.len() as i64) {
        return Err(transient(
            Op::GetObject,
            format!(
                "range {start}-{end} came back with {:?} bytes",
                out.content_length()
            ),
        ));
    }
    read_exactly(out.body, part, true).await
}

/// Fills `dest` from `body`. When `whole` is true the body must end exactly there; otherwise it
/// is the first part of a longer body, and the rest is left unread (dropping it closes the
/// connection).
async fn read_exactly(
    mut body: ByteStream,
    dest: &mut [u8],
    whole: bool,
) -> Result<(), StoreError> {
    let short = |detail: String| transient(Op::GetObject, detail);
    let mut filled = 0;
    while filled < dest.len() || whole {
        let Some(chunk) = body.next().await else {
            break;
        };
        let chunk = chunk.map_err(|e| short(format!("reading the body: {e}")))?;
        let take = chunk.len().min(dest.len() - filled);
        if whole && take < chunk.len() {
            return Err(short(format!(
                "body is longer than its Content-Length of {} bytes",
                dest.len()
            )));
        }
        dest[filled..filled + take].copy_from_slice(&chunk[..take]);
        filled += take;
    }
    if filled != dest.len() {
        return Err(short(format!(
            "body ended after {filled} of {} bytes",
            dest.len()
        )));
    }
    Ok(())
}

pub(super) async fn head(
    store: &S3Store,
    object: &ObjectRef,
) -> Result<Option<ObjectInfo>, StoreError> {
    match head_output(store, object).await {
        Ok(out) => Ok(Some(ObjectInfo {
            version_id: pinned_version(out.version_id()),
            size: out
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            etag: out.e_tag().map(unquote),
            checksum_sha256: out.checksum_sha256().map(String::from),
            last_modified: out.last_modified().map(|t| t.secs()),
            kms: sse_kms(
                out.server_side_encryption(),
                out.ssekms_key_id(),
                out.bucket_key_enabled(),
            ),
            content_encoding: out.content_encoding().map(String::from),
            content_type: out.content_type().map(String::from),
        })),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The KMS encryption S3 reports in a response's `x-amz-server-side-encryption` headers;
/// `None` for SSE-S3, SSE-C or none.
pub(super) fn sse_kms(
    algorithm: Option<&ServerSideEncryption>,
    key_id: Option<&str>,
    bucket_key: Option<bool>,
) -> Option<SseKms> {
    let dual_layer = match algorithm? {
        ServerSideEncryption::AwsKms => false,
        ServerSideEncryption::AwsKmsDsse => true,
        // SSE-S3, FSx, AWS Backup, and values newer than this SDK: no KMS key of the object's
        // own to keep.
        _ => return None,
    };
    Some(SseKms {
        key_id: key_id.map(String::from),
        dual_layer,
        bucket_key: bucket_key.unwrap_or(false),
    })
}

/// HeadObject, with what a multipart copy needs to carry over (content type, metadata…).
pub(super) async fn head_output(
    store: &S3Store,
    object: &ObjectRef,
) -> Result<HeadObjectOutput, StoreError> {
    store
        .client
        .head_object()
        .bucket(&object.bucket)
        .key(&object.key)
        .set_version_id(object.version_id.clone())
        // The SHA-256 checksum, if any, is part of the identity a signed verdict covers.
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .map_err(|e| classify(Op::HeadObject, object, e))
}
