//! Object storage: the seam between the pipeline and S3. The stages see [`ObjectRef`], byte
//! buffers and [`StoreError`] through [`ObjectStore`] (and onboarding [`BucketStore`]); `s3`
//! implements both on the AWS SDK for S3 (its client built in the `aws` module, with every other
//! AWS client), `budget` holds the room for objects' bytes, `requests` counts each object's
//! requests. `MemoryStore`, in unit tests only, is the same seam in memory, for tests of the
//! decision logic.

use std::fmt;
use std::future::Future;

use crate::object::{ObjectInfo, ObjectRef, SseKms, Tags};

mod buckets;
mod budget;
#[cfg(test)]
mod memory;
pub mod requests;
mod s3;

pub use buckets::{BucketStore, Destination, DestinationKind, ListedBucket, Notifications};
pub use budget::{Budget, Buffer, Full, Hold, Holding, Room, Sink};
#[cfg(test)]
pub use memory::{Hook, MemoryStore, Versioning};
pub use s3::{QUIET_SDK_LOGS, S3Store};

/// The result of [`ObjectStore::get`].
#[derive(Debug)]
pub enum Fetched {
    /// The whole object, in memory or spooled to local storage, with the reservation it holds.
    Body {
        /// The version read.
        info: ObjectInfo,
        /// The object's bytes.
        body: Buffer,
        /// How many tags the object has, as GetObject says (`x-amz-tagging-count`, which S3
        /// leaves out when there are none): with none, its tags need no request of their own.
        tag_count: u32,
    },
    /// The object is larger than the budget allows; its body was not read.
    TooLarge(ObjectInfo),
}

/// An object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Its key.
    pub key: String,
    /// Its ETag, without quotes.
    pub etag: Option<String>,
    /// Its size in bytes.
    pub size: u64,
}

/// One page of a listing, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The objects of the page.
    pub objects: Vec<Listed>,
    /// True when more objects follow the last one of this page.
    pub more: bool,
}

/// A call to AWS, named as in IAM and CloudTrail: S3's, and those of the signing key, the
/// result events, the Security Hub findings, and the agent's queue (`poll`, which runs with the
/// function's role in the template's large-object agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumIter)]
#[allow(missing_docs)]
pub enum Op {
    GetObject,
    HeadObject,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    CopyObject,
    CreateMultipartUpload,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    DeleteObject,
    GetBucketVersioning,
    ListObjectVersions,
    ListObjects,
    PutObject,
    GetSecretValue,
    PutEvents,
    Publish,
    SendMessage,
    GetBucketTagging,
    GetBucketNotificationConfiguration,
    PutBucketNotificationConfiguration,
    ListBuckets,
    GetBucketLocation,
    BatchImportFindings,
    ReceiveMessage,
    DeleteMessageBatch,
    ChangeMessageVisibilityBatch,
    GetQueueAttributes,
}

impl Op {
    /// Every call the function makes, in the order of [`Op`].
    pub fn all() -> impl Iterator<Item = Op> {
        <Op as strum::IntoEnumIterator>::iter()
    }

    /// The IAM actions that allow this call: without a version id, then with one (the same
    /// when versions make no difference). A copy needs these on its destination, and
    /// `s3:GetObject(Version)` on its source.
    pub fn iam_actions(self) -> (&'static str, &'static str) {
        match self {
            Op::GetObject | Op::HeadObject => ("s3:GetObject", "s3:GetObjectVersion"),
            Op::GetObjectTagging => ("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
            Op::PutObjectTagging => ("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
            Op::DeleteObjectTagging => ("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
            // The copy carries its tags (x-amz-tagging), which needs PutObjectTagging too.
            Op::CopyObject | Op::CreateMultipartUpload => ("s3:PutObject", "s3:PutObjectTagging"),
            Op::UploadPartCopy | Op::CompleteMultipartUpload => ("s3:PutObject", "s3:PutObject"),
            Op::AbortMultipartUpload => ("s3:AbortMultipartUpload", "s3:AbortMultipartUpload"),
            Op::DeleteObject => ("s3:DeleteObject", "s3:DeleteObjectVersion"),
            Op::GetBucketVersioning => ("s3:GetBucketVersioning", "s3:GetBucketVersioning"),
            Op::ListObjectVersions => ("s3:ListBucketVersions", "s3:ListBucketVersions"),
            Op::ListObjects => ("s3:ListBucket", "s3:ListBucket"),
            Op::PutObject => ("s3:PutObject", "s3:PutObject"),
            Op::GetSecretValue => (
                "secretsmanager:GetSecretValue",
                "secretsmanager:GetSecretValue",
            ),
            Op::PutEvents => ("events:PutEvents", "events:PutEvents"),
            Op::Publish => ("sns:Publish", "sns:Publish"),
            Op::SendMessage => ("sqs:SendMessage", "sqs:SendMessage"),
            Op::GetBucketTagging => ("s3:GetBucketTagging", "s3:GetBucketTagging"),
            Op::GetBucketNotificationConfiguration => {
                ("s3:GetBucketNotification", "s3:GetBucketNotification")
            }
            Op::PutBucketNotificationConfiguration => {
                ("s3:PutBucketNotification", "s3:PutBucketNotification")
            }
            Op::ListBuckets => ("s3:ListAllMyBuckets", "s3:ListAllMyBuckets"),
            Op::GetBucketLocation => ("s3:GetBucketLocation", "s3:GetBucketLocation"),
            Op::BatchImportFindings => (
                "securityhub:BatchImportFindings",
                "securityhub:BatchImportFindings",
            ),
            Op::ReceiveMessage => ("sqs:ReceiveMessage", "sqs:ReceiveMessage"),
            Op::DeleteMessageBatch => ("sqs:DeleteMessage", "sqs:DeleteMessage"),
            Op::ChangeMessageVisibilityBatch => {
                ("sqs:ChangeMessageVisibility", "sqs:ChangeMessageVisibility")
            }
            Op::GetQueueAttributes => ("sqs:GetQueueAttributes", "sqs:GetQueueAttributes"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Why an S3 call failed, sorted by what the caller should do about it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// The object, version or bucket does not exist (any more).
    #[error("{op}: not found ({code})")]
    NotFound {
        /// The call.
        op: Op,
        /// S3's error code, such as `NoSuchKey`.
        code: String,
    },
    /// The object no longer has the ETag it was read with: a newer upload replaced it.
    #[error("{op}: the object changed (its ETag no longer matches)")]
    Changed {
        /// The call.
        op: Op,
    },
    /// The function lacks a permission; retrying cannot help.
    // The permission comes first: tag values are cut at 256 characters.
    #[error("{op}: access denied; the function's role needs {permission} ({detail})")]
    AccessDenied {
        /// The call.
        op: Op,
        /// The IAM permission to grant, with its resource.
        permission: String,
        /// S3's or KMS's message.
        detail: String,
    },
    /// S3 refused the request for a reason retrying cannot change (archived object, delete
    /// marker, precondition failed).
    #[error("{op}: {code}: {detail}")]
    Permanent {
        /// The call.
        op: Op,
        /// S3's error code.
        code: String,
        /// S3's message.
        detail: String,
    },
    /// Throttling, a 5xx, a timeout, a dropped connection or a short body: worth retrying.
    #[error("{op}: transient failure: {detail}")]
    Transient {
        /// The call.
        op: Op,
        /// What happened.
        detail: String,
    },
}

impl StoreError {
    /// True when the message should go back to the queue.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Transient { .. })
    }
}

/// The S3 calls the scanner makes, and nothing else: the IAM policy in `template.yaml` grants
/// exactly these (see `s3-yara-scan contract`). Implementations count each request they send
/// with [`requests::count`].
pub trait ObjectStore: Send + Sync {
    /// Reads a whole object version into `reserved` when that is room for exactly its size
    /// (reserved before the request from the size the event announced), else into room
    /// reserved from `budget` once the size is known. Unless the version is pinned, reads the
    /// key only while its ETag is still `etag` (if given), so that the bytes scanned are the
    /// ones the event announced.
    fn get(
        &self,
        object: &ObjectRef,
        etag: Option<&str>,
        budget: &Budget,
        reserved: Option<Sink>,
    ) -> impl Future<Output = Result<Fetched, StoreError>> + Send;

    /// Size, version and ETag of an object version, or `None` if it does not exist.
    fn head(
        &self,
        object: &ObjectRef,
    ) -> impl Future<Output = Result<Option<ObjectInfo>, StoreError>> + Send;

    /// The tag set of an object version.
    fn tags(&self, object: &ObjectRef) -> impl Future<Output = Result<Tags, StoreError>> + Send;

    /// Replaces the tag set of an object version (an empty set removes every tag).
    fn put_tags(
        &self,
        object: &ObjectRef,
        tags: &Tags,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Copies `source` (the version described by `info`) to `dest` with its metadata and
    /// content type, replacing its tags with `tags`; returns what was written. Unless the
    /// source version is pinned, copies only while the source still has `info.etag`. The copy
    /// is encrypted with `kms` when given, else as the destination bucket's default says.
    fn copy(
        &self,
        source: &ObjectRef,
        info: &ObjectInfo,
        dest: &ObjectRef,
        tags: &Tags,
        kms: Option<&SseKms>,
    ) -> impl Future<Output = Result<ObjectInfo, StoreError>> + Send;

    /// Deletes an object version. Unless the version is pinned (an unversioned key, or the
    /// `null` version), deletes only while its ETag is still `etag`, so a newer upload of the
    /// same key is not removed.
    fn delete(
        &self,
        object: &ObjectRef,
        etag: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The versions of exactly `object`'s key, newest first.
    fn versions(
        &self,
        object: &ObjectRef,
    ) -> impl Future<Output = Result<Vec<ObjectInfo>, StoreError>> + Send;

    /// The objects under `prefix` in `bucket` (their current versions), in key order.
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<Listed>, StoreError>> + Send;

    /// At most `max` objects under `prefix` in `bucket` (their current versions) whose keys
    /// come after `start_after` in key order (UTF-8 byte order, as S3 sorts): one request, so
    /// that a long listing can stop and resume at any key.
    fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Writes `body` as a new object (or version) at `object`.
    fn put(
        &self,
        object: &ObjectRef,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether versioning is enabled on `bucket`; `None` when the answer cannot be read.
    fn is_versioned(
        &self,
        bucket: &str,
    ) -> impl Future<Output = Result<Option<bool>, StoreError>> + Send;

    /// The tag set of `bucket` itself (empty when it has none): whether a bucket onboarded by
    /// its tag (`ONBOARD_TAG`) is judged.
    fn bucket_tags(&self, bucket: &str) -> impl Future<Output = Result<Tags, StoreError>> + Send;
}
