//! Object storage: the one seam between the pipeline and S3. The stages see [`ObjectRef`],
//! plain byte buffers and [`StoreError`]; only `store/s3.rs` names the AWS SDK.

use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io;
use std::path::PathBuf;
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
    /// True when the version id names bytes that can never change (see [`pinned_version`]).
    pub fn is_pinned(&self) -> bool {
        self.version_id
            .as_deref()
            .is_some_and(|v| v != NULL_VERSION)
    }

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

/// The version id S3 gives objects written while versioning was off or suspended.
pub const NULL_VERSION: &str = "null";

/// A version id as S3 reports it, with the `null` version (of an object written while
/// versioning was off or suspended) read as no version: that version is replaced by every new
/// upload of its key, so it is handled like an unversioned key, through the key and on the
/// condition that it still holds the bytes scanned.
pub fn pinned_version(reported: Option<&str>) -> Option<String> {
    reported
        .filter(|v| !v.is_empty() && *v != NULL_VERSION)
        .map(String::from)
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
    /// S3's SHA-256 checksum (base64), when the object was uploaded with one.
    pub checksum_sha256: Option<String>,
    /// When this version was written, as S3 reports it (whole seconds). A later upload of the
    /// same key always has a later one, even when its bytes are the same.
    pub last_modified: Option<i64>,
}

impl ObjectInfo {
    /// True when `other` describes the same upload: same ETag, size and, when both are known,
    /// write time. This is what tells an unversioned key's bytes from a newer upload of
    /// identical size and MD5.
    pub fn same_upload(&self, other: &ObjectInfo) -> bool {
        self.etag == other.etag
            && self.size == other.size
            && match (self.last_modified, other.last_modified) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// An object's tag set, in order.
pub type Tags = Vec<(String, String)>;

/// The result of [`ObjectStore::get`].
#[derive(Debug)]
pub enum Fetched {
    /// The whole object, in memory or spooled to local storage, with the reservation it holds.
    Body {
        /// The version read.
        info: ObjectInfo,
        /// The object's bytes.
        body: Buffer,
    },
    /// The object is larger than the budget allows; its body was not read.
    TooLarge(ObjectInfo),
}

/// An object's bytes, counted against a [`Budget`] until dropped.
#[derive(Debug)]
pub struct Buffer {
    data: Data,
    _reservation: Option<OwnedSemaphorePermit>,
}

#[derive(Debug)]
enum Data {
    Memory(Vec<u8>),
    // The file behind the map is already unlinked: it disappears with the map, or with the
    // process if it crashes.
    Mapped(memmap2::Mmap),
}

impl Buffer {
    /// Bytes that count against no budget (local files, tests).
    pub fn unbudgeted(bytes: Vec<u8>) -> Buffer {
        Buffer {
            data: Data::Memory(bytes),
            _reservation: None,
        }
    }

    /// Whether the bytes live in a memory-mapped local file rather than on the heap.
    pub fn is_spooled(&self) -> bool {
        matches!(self.data, Data::Mapped(_))
    }
}

impl AsRef<[u8]> for Buffer {
    fn as_ref(&self) -> &[u8] {
        match &self.data {
            Data::Memory(v) => v,
            Data::Mapped(m) => m,
        }
    }
}

/// Room for one object's bytes, reserved from a [`Budget`]: a zeroed heap buffer or a
/// writable map of a fresh temporary file. Parts of the object can be written into
/// [`Sink::as_mut_slice`] in any order, which lets ranged GETs run in parallel.
#[derive(Debug)]
pub struct Sink {
    data: SinkData,
    reservation: OwnedSemaphorePermit,
}

#[derive(Debug)]
enum SinkData {
    Memory(Vec<u8>),
    Mapped(memmap2::MmapMut),
}

impl Sink {
    /// The number of bytes it holds room for.
    pub fn len(&self) -> usize {
        match &self.data {
            SinkData::Memory(v) => v.len(),
            SinkData::Mapped(m) => m.len(),
        }
    }

    /// True when it holds room for no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole object's room, to be filled.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match &mut self.data {
            SinkData::Memory(v) => v,
            SinkData::Mapped(m) => m,
        }
    }

    /// The filled bytes, ready to scan.
    pub fn finish(self) -> io::Result<Buffer> {
        let data = match self.data {
            SinkData::Memory(v) => Data::Memory(v),
            SinkData::Mapped(m) => Data::Mapped(m.make_read_only()?),
        };
        Ok(Buffer {
            data,
            _reservation: Some(self.reservation),
        })
    }
}

/// Bounds the bytes of all objects held at once. Objects up to the memory limit are read into
/// memory; larger ones, up to the spool limit, into unlinked files in the spool directory
/// (Lambda's ephemeral storage), which are scanned through a memory map. Concurrent
/// downloads of large objects wait for each other instead of exhausting memory or disk.
#[derive(Debug, Clone)]
pub struct Budget {
    memory: Bytes,
    spool: Option<(PathBuf, Bytes)>,
}

/// A byte count shared through a semaphore of KiB units.
#[derive(Debug, Clone)]
struct Bytes {
    limit: u64,
    kib: Arc<Semaphore>,
}

impl Bytes {
    fn new(limit: u64) -> Bytes {
        let units = limit.div_ceil(1024).min(Semaphore::MAX_PERMITS as u64) as usize;
        Bytes {
            limit,
            kib: Arc::new(Semaphore::new(units)),
        }
    }

    async fn reserve(&self, size: u64) -> Option<OwnedSemaphorePermit> {
        if size > self.limit {
            return None;
        }
        let units = u32::try_from(size.div_ceil(1024).max(1)).ok()?;
        self.kib.clone().acquire_many_owned(units).await.ok()
    }
}

impl Budget {
    /// Objects of up to `memory` bytes in memory, and no spooling.
    pub fn memory(memory: u64) -> Budget {
        Budget {
            memory: Bytes::new(memory),
            spool: None,
        }
    }

    /// Also spool objects of up to `limit` bytes to files in `dir`.
    pub fn with_spool(self, dir: PathBuf, limit: u64) -> Budget {
        Budget {
            spool: Some((dir, Bytes::new(limit))),
            ..self
        }
    }

    /// The largest object held in memory.
    pub fn memory_limit(&self) -> u64 {
        self.memory.limit
    }

    /// The largest object spooled to local storage, if spooling is on.
    pub fn spool_limit(&self) -> Option<u64> {
        self.spool.as_ref().map(|(_, b)| b.limit)
    }

    /// Waits until `size` bytes are free in memory or, for larger objects, in the spool
    /// directory, and returns room for them; `None` when `size` exceeds every limit.
    pub async fn reserve(&self, size: u64) -> io::Result<Option<Sink>> {
        if size <= self.memory.limit {
            let Some(reservation) = self.memory.reserve(size).await else {
                return Ok(None);
            };
            let len = usize::try_from(size).map_err(io::Error::other)?;
            return Ok(Some(Sink {
                data: SinkData::Memory(vec![0; len]),
                reservation,
            }));
        }
        let Some((dir, spool)) = &self.spool else {
            return Ok(None);
        };
        let Some(reservation) = spool.reserve(size).await else {
            return Ok(None);
        };
        let file = tempfile::tempfile_in(dir)?;
        file.set_len(size)?;
        Ok(Some(Sink {
            data: SinkData::Mapped(map_mut(&file)?),
            reservation,
        }))
    }
}

/// Maps a spool file for writing.
#[allow(unsafe_code)]
fn map_mut(file: &File) -> io::Result<memmap2::MmapMut> {
    // SAFETY: a map is undefined behaviour if the file changes size or content behind it.
    // This one comes from `tempfile_in`, which unlinks it at once (or never links it), so no
    // other process can open it, and this module never truncates it while it is mapped.
    unsafe { memmap2::MmapMut::map_mut(file) }
}

/// An S3 call, named as in IAM and CloudTrail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    GetObject,
    HeadObject,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    CopyObject,
    DeleteObject,
    GetBucketVersioning,
    ListObjectVersions,
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
/// exactly these.
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
    /// source version is pinned, copies only while the source still has `info.etag`.
    fn copy(
        &self,
        source: &ObjectRef,
        info: &ObjectInfo,
        dest: &ObjectRef,
        tags: &Tags,
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

    /// Whether versioning is enabled on `bucket`; `None` when the answer cannot be read.
    fn is_versioned(
        &self,
        bucket: &str,
    ) -> impl Future<Output = Result<Option<bool>, StoreError>> + Send;
}
