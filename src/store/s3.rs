//! [`ObjectStore`] on the AWS SDK for S3: the only file that names `aws_sdk_s3`, and the one
//! place where SDK errors become [`StoreError`]s.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, MetadataDirective, Tag, Tagging, TaggingDirective,
};
use futures::{StreamExt, TryStreamExt};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::{
    Budget, Fetched, ObjectInfo, ObjectRef, ObjectStore, Op, Sink, StoreError, Tags, pinned_version,
};

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

/// CopyObject copies at most 5 GiB; larger objects need a multipart copy.
const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;
const COPY_PART_SIZE: u64 = 512 * 1024 * 1024;
/// S3 allows at most this many parts in one upload.
const MAX_PARTS: u64 = 10_000;
const COPY_PART_CONCURRENCY: usize = 4;
/// Objects larger than this are read in ranged GETs of this size, several at a time: one
/// connection tops out well below what a function's network allows.
const GET_PART_SIZE: usize = 16 * 1024 * 1024;
const GET_PART_CONCURRENCY: usize = 8;

/// S3 through the AWS SDK.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    multipart_threshold: u64,
    part_size: u64,
    get_part_size: usize,
}

impl S3Store {
    /// A store on `client`.
    pub fn new(client: Client) -> S3Store {
        S3Store {
            client,
            multipart_threshold: MAX_SINGLE_COPY,
            part_size: COPY_PART_SIZE,
            get_part_size: GET_PART_SIZE,
        }
    }

    /// Reads objects larger than `part_size` bytes in ranged GETs of that size, several at a
    /// time. Lets tests exercise the ranged path without large objects.
    pub fn with_get_parts(mut self, part_size: usize) -> S3Store {
        self.get_part_size = part_size.max(1);
        self
    }

    /// GetObject for `object`, only while its ETag is `etag` when one is given.
    fn get_request(
        &self,
        object: &ObjectRef,
        etag: Option<&str>,
    ) -> aws_sdk_s3::operation::get_object::builders::GetObjectFluentBuilder {
        self.client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone())
            .set_if_match(etag.map(|e| format!("\"{e}\"")))
    }

    /// Reads bytes `start..start + part.len()` of `object` into `part`.
    async fn get_range(
        &self,
        object: &ObjectRef,
        etag: Option<&str>,
        start: u64,
        part: &mut [u8],
    ) -> Result<(), StoreError> {
        let end = start + part.len() as u64 - 1;
        let out = self
            .get_request(object, etag)
            .range(format!("bytes={start}-{end}"))
            .send()
            .await
            .map_err(|e| classify(Op::GetObject, object, e))?;
        if out.content_length() != Some(part.len() as i64) {
            return Err(transient(format!(
                "range {start}-{end} came back with {:?} bytes",
                out.content_length()
            )));
        }
        read_exactly(out.body, part, true).await
    }

    /// Copies objects larger than `threshold` bytes in parts of `part_size` bytes (S3 requires
    /// parts of at least 5 MiB). Lets tests exercise the multipart path without 5 GiB objects.
    pub fn with_multipart_copy(mut self, threshold: u64, part_size: u64) -> S3Store {
        self.multipart_threshold = threshold;
        self.part_size = part_size.max(5 * 1024 * 1024);
        self
    }

    async fn copy_multipart(
        &self,
        source: &ObjectRef,
        info: &ObjectInfo,
        dest: &ObjectRef,
        tags: &Tags,
    ) -> Result<ObjectInfo, StoreError> {
        let size = info.size;
        // UploadPartCopy does not carry metadata over, so read it from the source version.
        let head = self.head_output(source).await?;
        let upload = self
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
            .send()
            .await
            .map_err(|e| classify(Op::CopyObject, dest, e))?;
        let upload_id = upload
            .upload_id()
            .ok_or_else(|| StoreError::Transient {
                op: Op::CopyObject,
                detail: "CreateMultipartUpload returned no upload id".into(),
            })?
            .to_owned();
        let copy_source = copy_source(source);
        let if_match = source_if_match(source, info);
        let part_size = self.part_size.max(size.div_ceil(MAX_PARTS));
        let ranges: Vec<(i32, u64, u64)> = (0..size.div_ceil(part_size))
            .map(|i| {
                let start = i * part_size;
                let end = (start + part_size).min(size) - 1;
                (i as i32 + 1, start, end)
            })
            .collect();
        let parts: Result<Vec<CompletedPart>, StoreError> =
            futures::stream::iter(ranges.into_iter().map(|(n, start, end)| {
                let req = self
                    .client
                    .upload_part_copy()
                    .bucket(&dest.bucket)
                    .key(&dest.key)
                    .upload_id(&upload_id)
                    .part_number(n)
                    .copy_source(&copy_source)
                    .set_copy_source_if_match(if_match.clone())
                    .copy_source_range(format!("bytes={start}-{end}"));
                async move {
                    let out = req
                        .send()
                        .await
                        .map_err(|e| classify(Op::CopyObject, dest, e))?;
                    Ok(CompletedPart::builder()
                        .part_number(n)
                        .set_e_tag(
                            out.copy_part_result()
                                .and_then(|r| r.e_tag().map(String::from)),
                        )
                        .build())
                }
            }))
            .buffered(COPY_PART_CONCURRENCY)
            .try_collect()
            .await;
        let completed = match parts {
            Ok(parts) => self
                .client
                .complete_multipart_upload()
                .bucket(&dest.bucket)
                .key(&dest.key)
                .upload_id(&upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| classify(Op::CopyObject, dest, e)),
            Err(e) => Err(e),
        };
        let done = match completed {
            Ok(done) => done,
            Err(e) => {
                // Best effort: an abandoned upload is also reaped by a lifecycle rule.
                let _ = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&dest.bucket)
                    .key(&dest.key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                return Err(e);
            }
        };
        Ok(ObjectInfo {
            version_id: pinned_version(done.version_id()),
            size,
            etag: done.e_tag().map(unquote),
            checksum_sha256: None,
            last_modified: None,
        })
    }

    async fn head_output(&self, object: &ObjectRef) -> Result<HeadObjectOutput, StoreError> {
        self.client
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
}

impl ObjectStore for S3Store {
    async fn get(
        &self,
        object: &ObjectRef,
        etag: Option<&str>,
        budget: &Budget,
        reserved: Option<Sink>,
    ) -> Result<Fetched, StoreError> {
        // A version pins the bytes by itself; only an unversioned (or `null`) read needs the
        // ETag.
        let if_match = etag.filter(|_| !object.is_pinned());
        let out = self
            .get_request(object, if_match)
            .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
            .send()
            .await
            .map_err(|e| classify(Op::GetObject, object, e))?;
        let size = out
            .content_length()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or_else(|| transient("response has no Content-Length".into()))?;
        let info = ObjectInfo {
            version_id: pinned_version(out.version_id()),
            size,
            etag: out.e_tag().map(unquote),
            checksum_sha256: out.checksum_sha256().map(String::from),
            last_modified: out.last_modified().map(|t| t.secs()),
        };
        // Dropping the unread body closes the connection: a too-large object costs one request,
        // not a download.
        let room = match reserved {
            Some(sink) if sink.len() as u64 == size => Some(sink),
            other => {
                drop(other);
                budget
                    .reserve(size)
                    .await
                    .map_err(|e| transient(format!("making room for {size} bytes: {e}")))?
            }
        };
        let Some(mut sink) = room else {
            return Ok(Fetched::TooLarge(info));
        };
        let room = sink.as_mut_slice();
        let first_len = room.len().min(self.get_part_size);
        let (first, rest) = room.split_at_mut(first_len);
        read_exactly(out.body, first, rest.is_empty()).await?;
        if !rest.is_empty() {
            // The rest in parallel ranged GETs, pinned to the version (or, unversioned, the
            // ETag) the first response returned, so every part comes from the same bytes.
            let pinned = object.at_version(info.version_id.clone());
            let part_size = self.get_part_size;
            let mut parts = Vec::new();
            for (i, part) in rest.chunks_mut(part_size).enumerate() {
                let start = (first_len + i * part_size) as u64;
                parts.push(self.get_range(&pinned, info.etag.as_deref(), start, part));
            }
            futures::stream::iter(parts)
                .buffer_unordered(GET_PART_CONCURRENCY)
                .try_collect::<()>()
                .await?;
        }
        let body = sink
            .finish()
            .map_err(|e| transient(format!("mapping the spooled object: {e}")))?;
        Ok(Fetched::Body { info, body })
    }

    async fn head(&self, object: &ObjectRef) -> Result<Option<ObjectInfo>, StoreError> {
        match self.head_output(object).await {
            Ok(out) => Ok(Some(ObjectInfo {
                version_id: pinned_version(out.version_id()),
                size: out
                    .content_length()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                etag: out.e_tag().map(unquote),
                checksum_sha256: out.checksum_sha256().map(String::from),
                last_modified: out.last_modified().map(|t| t.secs()),
            })),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn tags(&self, object: &ObjectRef) -> Result<Tags, StoreError> {
        let out = self
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

    async fn put_tags(&self, object: &ObjectRef, tags: &Tags) -> Result<(), StoreError> {
        if tags.is_empty() {
            // The same as an empty PutObjectTagging, which some emulators reject.
            self.client
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
        self.client
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

    async fn copy(
        &self,
        source: &ObjectRef,
        info: &ObjectInfo,
        dest: &ObjectRef,
        tags: &Tags,
    ) -> Result<ObjectInfo, StoreError> {
        if info.size > self.multipart_threshold {
            return self.copy_multipart(source, info, dest, tags).await;
        }
        // No encryption headers: the copy takes the quarantine bucket's default encryption.
        let out = self
            .client
            .copy_object()
            .bucket(&dest.bucket)
            .key(&dest.key)
            .copy_source(copy_source(source))
            .set_copy_source_if_match(source_if_match(source, info))
            .metadata_directive(MetadataDirective::Copy)
            .tagging_directive(TaggingDirective::Replace)
            .tagging(tagging_query(tags))
            // A copy whose answer is lost has still been made: a blind retry would make a
            // second one. The caller looks for it before trying again.
            .customize()
            .config_override(no_retries())
            .send()
            .await
            .map_err(|e| classify(Op::CopyObject, dest, e))?;
        Ok(ObjectInfo {
            version_id: pinned_version(out.version_id()),
            size: info.size,
            etag: out
                .copy_object_result()
                .and_then(|r| r.e_tag())
                .map(unquote),
            checksum_sha256: None,
            last_modified: out
                .copy_object_result()
                .and_then(|r| r.last_modified())
                .map(|t| t.secs()),
        })
    }

    async fn delete(&self, object: &ObjectRef, etag: Option<&str>) -> Result<(), StoreError> {
        let mut req = self
            .client
            .delete_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone());
        if !object.is_pinned()
            && let Some(etag) = etag
        {
            req = req.if_match(format!("\"{etag}\""));
        }
        req.send()
            .await
            .map_err(|e| classify(Op::DeleteObject, object, e))?;
        Ok(())
    }

    async fn versions(&self, object: &ObjectRef) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut found = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
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

    async fn is_versioned(&self, bucket: &str) -> Result<Option<bool>, StoreError> {
        let bucket_ref = ObjectRef {
            bucket: bucket.to_owned(),
            key: String::new(),
            version_id: None,
        };
        match self
            .client
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.status() == Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled),
            )),
            // A 200 the SDK cannot parse: moto names the XML root differently from S3.
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 200 => Ok(None),
            Err(e) => Err(classify(Op::GetBucketVersioning, &bucket_ref, e)),
        }
    }
}

/// `If-Match` for a copy of a key read without a pinned version: the bytes copied must be the
/// bytes scanned.
fn source_if_match(source: &ObjectRef, info: &ObjectInfo) -> Option<String> {
    match &info.etag {
        Some(etag) if !source.is_pinned() => Some(format!("\"{etag}\"")),
        _ => None,
    }
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

fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

/// The IAM permission a call on `object` needs.
fn permission(op: Op, object: &ObjectRef) -> String {
    let versioned = object.version_id.is_some();
    let action = match (op, versioned) {
        (Op::GetObject | Op::HeadObject, false) => "s3:GetObject",
        (Op::GetObject | Op::HeadObject, true) => "s3:GetObjectVersion",
        (Op::GetObjectTagging, false) => "s3:GetObjectTagging",
        (Op::GetObjectTagging, true) => "s3:GetObjectVersionTagging",
        (Op::PutObjectTagging, false) => "s3:PutObjectTagging",
        (Op::PutObjectTagging, true) => "s3:PutObjectVersionTagging",
        (Op::DeleteObjectTagging, false) => "s3:DeleteObjectTagging",
        (Op::DeleteObjectTagging, true) => "s3:DeleteObjectVersionTagging",
        (Op::DeleteObject, false) => "s3:DeleteObject",
        (Op::DeleteObject, true) => "s3:DeleteObjectVersion",
        (Op::GetBucketVersioning, _) => {
            return format!("s3:GetBucketVersioning on arn:aws:s3:::{}", object.bucket);
        }
        (Op::ListObjectVersions, _) => {
            return format!("s3:ListBucketVersions on arn:aws:s3:::{}", object.bucket);
        }
        (Op::CopyObject, _) => {
            return format!(
                "s3:PutObject and s3:PutObjectTagging on arn:aws:s3:::{}/*, and \
                 s3:GetObjectVersion (and kms:Decrypt for SSE-KMS) on the source",
                object.bucket
            );
        }
    };
    format!("{action} on arn:aws:s3:::{}/*", object.bucket)
}

/// Sorts an SDK failure by what the pipeline should do about it. The SDK has already retried
/// throttling and 5xx responses by the time an error gets here.
/// Fills `dest` from `body`. When `whole` is true the body must end exactly there; otherwise it
/// is the first part of a longer body, and the rest is left unread (dropping it closes the
/// connection).
async fn read_exactly(
    mut body: aws_sdk_s3::primitives::ByteStream,
    dest: &mut [u8],
    whole: bool,
) -> Result<(), StoreError> {
    let mut filled = 0;
    while filled < dest.len() || whole {
        let Some(chunk) = body.next().await else {
            break;
        };
        let chunk = chunk.map_err(|e| transient(format!("reading the body: {e}")))?;
        let take = chunk.len().min(dest.len() - filled);
        if whole && take < chunk.len() {
            return Err(transient(format!(
                "body is longer than its Content-Length of {} bytes",
                dest.len()
            )));
        }
        dest[filled..filled + take].copy_from_slice(&chunk[..take]);
        filled += take;
    }
    if filled != dest.len() {
        return Err(transient(format!(
            "body ended after {filled} of {} bytes",
            dest.len()
        )));
    }
    Ok(())
}

/// A key from a listing made with `encoding-type=url`, decoded.
fn listed_key(raw: Option<&str>) -> Option<String> {
    crate::event::decode_key(raw?).ok()
}

/// The KMS key ARN that an access-denied message names, if it names one.
fn kms_key_in(message: &str) -> Option<&str> {
    message.match_indices("arn:aws").find_map(|(start, _)| {
        let arn = message[start..]
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == ')')
            .next()?
            .trim_end_matches('.');
        arn.contains(":kms:").then_some(arn)
    })
}

fn no_retries() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default()
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
}

fn transient(detail: String) -> StoreError {
    StoreError::Transient {
        op: Op::GetObject,
        detail,
    }
}

fn classify<E>(
    op: Op,
    object: &ObjectRef,
    err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let service = match &err {
        SdkError::ServiceError(service) => service,
        SdkError::ConstructionFailure(_) => {
            return StoreError::Permanent {
                op,
                code: "InvalidRequest".into(),
                detail: aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
            };
        }
        _ => {
            return StoreError::Transient {
                op,
                detail: aws_sdk_s3::error::DisplayErrorContext(&err).to_string(),
            };
        }
    };
    let status = service.raw().status().as_u16();
    let code = service.err().code().unwrap_or_default().to_owned();
    let detail = service
        .err()
        .message()
        .map(String::from)
        .unwrap_or_else(|| format!("HTTP {status}"));
    let kms = code.starts_with("KMS.") || detail.to_ascii_lowercase().contains("kms:");
    match (status, code.as_str()) {
        // Busy or failing: retry, even when the message mentions KMS.
        (
            _,
            "SlowDown"
            | "Throttling"
            | "ThrottlingException"
            | "RequestTimeout"
            | "InternalError"
            | "ServiceUnavailable",
        )
        | (500..=599, _) => StoreError::Transient {
            op,
            detail: format!("{code}: {detail}"),
        },
        (412, _) | (_, "PreconditionFailed") => StoreError::Changed { op },
        _ if kms => StoreError::AccessDenied {
            op,
            permission: match kms_key_in(&detail) {
                Some(key) => format!("kms:Decrypt (and kms:GenerateDataKey for copies) on {key}"),
                None => "kms:Decrypt (and kms:GenerateDataKey for copies) on the object's KMS key"
                    .into(),
            },
            detail: format!("{code}: {detail}"),
        },
        (_, "NoSuchKey" | "NoSuchVersion" | "NoSuchBucket" | "NotFound") | (404, _) => {
            StoreError::NotFound {
                op,
                code: if code.is_empty() {
                    "NotFound".into()
                } else {
                    code
                },
            }
        }
        // A bucket in another region: S3 notifications only reach same-region topics, so a
        // stack per region is the fix.
        (301, _) | (_, "PermanentRedirect" | "AuthorizationHeaderMalformed") => {
            StoreError::Permanent {
                op,
                code: if code.is_empty() {
                    "PermanentRedirect".into()
                } else {
                    code
                },
                detail: format!(
                    "{detail} (bucket `{}` is in another region than the function; deploy one \
                 stack per region)",
                    object.bucket
                ),
            }
        }
        // Archived objects (403), delete markers (405): final, but no permission is missing.
        (_, "InvalidObjectState" | "MethodNotAllowed") => {
            StoreError::Permanent { op, code, detail }
        }
        (_, "AccessDenied" | "AllAccessDisabled") | (403, _) => StoreError::AccessDenied {
            op,
            permission: permission(op, object),
            detail,
        },
        (400..=499, _) => StoreError::Permanent { op, code, detail },
        _ => StoreError::Transient {
            op,
            detail: format!("HTTP {status} {code}: {detail}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str, version: Option<&str>) -> ObjectRef {
        ObjectRef {
            bucket: "b".into(),
            key: key.into(),
            version_id: version.map(String::from),
        }
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

    /// A service error as the SDK hands it over, for codes the emulator cannot produce.
    fn service_error(
        status: u16,
        code: &str,
    ) -> SdkError<
        aws_sdk_s3::operation::get_object::GetObjectError,
        aws_sdk_s3::config::http::HttpResponse,
    > {
        let meta = aws_sdk_s3::error::ErrorMetadata::builder()
            .code(code)
            .message(format!("{code} message"))
            .build();
        let raw = aws_sdk_s3::config::http::HttpResponse::new(
            status.try_into().unwrap(),
            aws_sdk_s3::primitives::SdkBody::empty(),
        );
        SdkError::service_error(
            aws_sdk_s3::operation::get_object::GetObjectError::generic(meta),
            raw,
        )
    }

    #[test]
    fn sdk_errors_are_sorted_by_what_to_do() {
        let o = obj("k", Some("v1"));
        let sorted = |status, code| classify(Op::GetObject, &o, service_error(status, code));
        for (status, code) in [
            (404, "NoSuchKey"),
            (404, "NoSuchVersion"),
            (404, ""),
            (404, "NoSuchBucket"),
        ] {
            assert!(
                matches!(sorted(status, code), StoreError::NotFound { .. }),
                "{status} {code}"
            );
        }
        match sorted(403, "AccessDenied") {
            StoreError::AccessDenied { permission, .. } => {
                assert_eq!(permission, "s3:GetObjectVersion on arn:aws:s3:::b/*")
            }
            other => panic!("{other:?}"),
        }
        match sorted(400, "KMS.DisabledException") {
            StoreError::AccessDenied {
                permission, detail, ..
            } => {
                assert!(permission.starts_with("kms:Decrypt"), "{permission}");
                assert!(detail.contains("KMS.DisabledException"));
            }
            other => panic!("{other:?}"),
        }
        for (status, code) in [
            (503, "SlowDown"),
            (500, "InternalError"),
            (400, "RequestTimeout"),
            (502, ""),
        ] {
            let e = sorted(status, code);
            assert!(e.is_retryable(), "{status} {code}: {e:?}");
        }
        for (status, code) in [
            (403, "InvalidObjectState"),
            (405, "MethodNotAllowed"),
            (412, "PreconditionFailed"),
            (301, "PermanentRedirect"),
        ] {
            let e = sorted(status, code);
            assert!(!e.is_retryable(), "{status} {code}: {e:?}");
        }
        assert!(matches!(
            sorted(412, "PreconditionFailed"),
            StoreError::Changed { .. }
        ));
        assert!(
            sorted(301, "PermanentRedirect")
                .to_string()
                .contains("another region")
        );
        let denied = "User: arn:aws:sts::1:assumed-role/r/f is not authorized to perform: \
                      kms:Decrypt on resource: arn:aws:kms:us-east-1:1:key/k-1 because no \
                      identity-based policy allows the kms:Decrypt action";
        assert_eq!(
            kms_key_in(denied),
            Some("arn:aws:kms:us-east-1:1:key/k-1"),
            "the first ARN that is a KMS key"
        );
        assert_eq!(kms_key_in("kms:Decrypt denied"), None);
        // A throttled KMS call is retried, not reported as a missing permission.
        assert!(sorted(503, "KMS.ThrottlingException").is_retryable());
        let timeout: SdkError<aws_sdk_s3::operation::get_object::GetObjectError, _> =
            SdkError::timeout_error("slow");
        assert!(classify(Op::GetObject, &o, timeout).is_retryable());
    }

    #[test]
    fn permissions_name_the_versioned_action() {
        assert_eq!(
            permission(Op::GetObject, &obj("k", Some("v"))),
            "s3:GetObjectVersion on arn:aws:s3:::b/*"
        );
        assert_eq!(
            permission(Op::PutObjectTagging, &obj("k", None)),
            "s3:PutObjectTagging on arn:aws:s3:::b/*"
        );
    }
}
