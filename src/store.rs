//! Object storage: the one seam between the pipeline and S3. The stages see [`ObjectRef`],
//! plain byte buffers and [`StoreError`]; only `store/s3.rs` names the AWS SDK.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

mod s3;
pub use s3::S3Store;

/// An object, or one version of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Key, decoded (as stored, not as URL-encoded in events).
    pub key: String,
    /// The version; `None` means the current version (or an unversioned bucket).
    pub version_id: Option<String>,
}

impl ObjectRef {
    /// The same object at `version_id`.
    pub fn at_version(&self, version_id: Option<String>) -> ObjectRef {
        ObjectRef {
            version_id,
            ..self.clone()
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:?}` on the key escapes control characters, so a hostile key cannot forge log lines.
        write!(f, "s3://{}/{:?}", self.bucket, self.key)?;
        if let Some(v) = &self.version_id {
            write!(f, "?versionId={v}")?;
        }
        Ok(())
    }
}

/// What a read or a write learnt about an object version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectInfo {
    /// The version read or written; `None` in an unversioned bucket.
    pub version_id: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// ETag, with its quotes removed.
    pub etag: Option<String>,
}

/// An object's tag set, in order.
pub type Tags = Vec<(String, String)>;

/// The result of [`ObjectStore::get`].
#[derive(Debug)]
pub enum Fetched {
    /// The whole object, in one buffer, with the memory reservation it holds.
    Body {
        /// The version read.
        info: ObjectInfo,
        /// The object's bytes.
        body: Buffer,
    },
    /// The object is larger than the budget allows; its body was not read.
    TooLarge(ObjectInfo),
}

/// Object bytes that count against the [`MemoryBudget`] until dropped.
#[derive(Debug)]
pub struct Buffer {
    /// The bytes.
    pub bytes: Vec<u8>,
    _reservation: Option<OwnedSemaphorePermit>,
}

/// Bounds the bytes of all objects held in memory at once, so that concurrent downloads of
/// large objects wait for each other instead of exhausting the function's memory.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    limit: u64,
    kib: Arc<Semaphore>,
}

impl MemoryBudget {
    /// A budget of `limit` bytes; no single object may be larger.
    pub fn new(limit: u64) -> MemoryBudget {
        let units = limit.div_ceil(1024).min(Semaphore::MAX_PERMITS as u64) as usize;
        MemoryBudget {
            limit,
            kib: Arc::new(Semaphore::new(units)),
        }
    }

    /// The largest object that fits.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Waits until `size` bytes are free and returns an empty buffer with that capacity, or
    /// `None` when `size` exceeds the limit.
    pub async fn reserve(&self, size: u64) -> Option<Buffer> {
        if size > self.limit {
            return None;
        }
        let units = u32::try_from(size.div_ceil(1024).max(1)).ok()?;
        let permit = self.kib.clone().acquire_many_owned(units).await.ok()?;
        Some(Buffer {
            bytes: Vec::with_capacity(usize::try_from(size).ok()?),
            _reservation: Some(permit),
        })
    }
}

impl Buffer {
    /// Bytes that count against no budget (local files, tests).
    pub fn unbudgeted(bytes: Vec<u8>) -> Buffer {
        Buffer {
            bytes,
            _reservation: None,
        }
    }
}

/// An S3 call, named as in IAM and CloudTrail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    GetObject,
    HeadObject,
    GetObjectTagging,
    PutObjectTagging,
    CopyObject,
    DeleteObject,
    GetBucketVersioning,
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
    #[error("{op}: access denied ({detail}); the function's role needs {permission}")]
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
/// exactly these.
pub trait ObjectStore: Send + Sync {
    /// Reads a whole object version into memory, reserving its size from `budget` first.
    /// Without a version, reads the key only while its ETag is still `etag` (if given), so
    /// that the bytes scanned are the ones the event announced.
    fn get(
        &self,
        object: &ObjectRef,
        etag: Option<&str>,
        budget: &MemoryBudget,
    ) -> impl Future<Output = Result<Fetched, StoreError>> + Send;

    /// Size, version and ETag of an object version, or `None` if it does not exist.
    fn head(
        &self,
        object: &ObjectRef,
    ) -> impl Future<Output = Result<Option<ObjectInfo>, StoreError>> + Send;

    /// The tag set of an object version.
    fn tags(&self, object: &ObjectRef) -> impl Future<Output = Result<Tags, StoreError>> + Send;

    /// Replaces the tag set of an object version.
    fn put_tags(
        &self,
        object: &ObjectRef,
        tags: &Tags,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Copies `source` (the version described by `info`) to `dest` with its metadata and
    /// content type, replacing its tags with `tags`; returns what was written. Without a
    /// source version, copies only while the source still has `info.etag`.
    fn copy(
        &self,
        source: &ObjectRef,
        info: &ObjectInfo,
        dest: &ObjectRef,
        tags: &Tags,
    ) -> impl Future<Output = Result<ObjectInfo, StoreError>> + Send;

    /// Deletes an object version. Without a version (unversioned bucket), deletes the key only
    /// while its ETag is still `etag`, so a newer upload of the same key is not removed.
    fn delete(
        &self,
        object: &ObjectRef,
        etag: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether versioning is enabled on `bucket`; `None` when the answer cannot be read.
    fn is_versioned(
        &self,
        bucket: &str,
    ) -> impl Future<Output = Result<Option<bool>, StoreError>> + Send;
}
