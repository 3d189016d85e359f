//! [`ObjectStore`] in memory, with S3's semantics wherever the pipeline relies on them:
//! versions and the `null` version, delete markers, the 10-tag limit, If-Match on reads,
//! copies and deletes, and write times that grow with every upload. [`Hook`]s fail, delay or
//! interleave calls, so that every decision of the pipeline can be tested in milliseconds;
//! moto stays for what only the wire can show.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{Budget, Fetched, Listed, ObjectStore, Op, Page, Sink, StoreError, requests};
use crate::object::{NULL_VERSION, ObjectInfo, ObjectRef, SseKms, Tags};
use state::{check_etag, check_tag_count};

/// S3 allows this many tags on an object.
const MAX_TAGS: usize = 10;

/// A bucket's versioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Versioning {
    /// Never enabled: each key holds one object, version `null`.
    Unversioned,
    /// Every upload is a new version.
    Enabled,
    /// Uploads replace the `null` version; earlier versions stay.
    Suspended,
}

/// Something to do when a call comes, before the store answers it.
#[derive(Clone)]
pub enum Hook {
    /// Fail the call with this error.
    Fail(StoreError),
    /// Wait this long first (on tokio's clock, which tests may pause).
    Delay(Duration),
    /// Run this first, for instance an upload that lands between two calls.
    Run(Arc<dyn Fn(&MemoryStore) + Send + Sync>),
    /// Wait until as many calls as the barrier counts have come: forces them to overlap.
    Barrier(Arc<tokio::sync::Barrier>),
}

struct Rule {
    op: Op,
    key: Option<String>,
    times: Option<usize>,
    hook: Hook,
}

#[derive(Debug, Clone)]
struct Version {
    id: String,
    /// `None` for a delete marker.
    body: Option<Arc<Vec<u8>>>,
    etag: String,
    last_modified: i64,
    tags: Tags,
    /// Its `Content-Encoding`.
    encoding: Option<String>,
    /// SSE-KMS; `None` for the buckets' SSE-S3 default.
    kms: Option<SseKms>,
}

#[derive(Debug)]
struct Bucket {
    versioning: Versioning,
    /// Each key's versions, oldest first.
    keys: BTreeMap<String, Vec<Version>>,
    /// The bucket's own tags, its notification configuration and region (`buckets.rs`).
    meta: buckets::Meta,
}

#[derive(Debug, Default)]
struct State {
    buckets: BTreeMap<String, Bucket>,
    clock: i64,
    next_version: u64,
}

/// S3 in memory.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    rules: Mutex<Vec<Rule>>,
    calls: Mutex<Vec<(Op, ObjectRef)>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn etag_of(body: &[u8]) -> String {
    hex::encode(&Sha256::digest(body)[..16])
}

fn not_found(op: Op, code: &str) -> StoreError {
    StoreError::NotFound {
        op,
        code: code.into(),
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// Creates `name` (or changes its versioning).
    pub fn create_bucket(&self, name: &str, versioning: Versioning) {
        let mut state = locked(&self.state);
        let bucket = state.buckets.entry(name.to_owned()).or_insert(Bucket {
            versioning,
            keys: BTreeMap::new(),
            meta: buckets::Meta::default(),
        });
        bucket.versioning = versioning;
    }

    /// Uploads `body` with `tags` to `bucket`/`key`, as a PutObject would: a new version when
    /// versioning is enabled, else the `null` version replaced. Each upload gets a later write
    /// time than the last. Returns what was written.
    pub fn put(&self, bucket: &str, key: &str, body: &[u8], tags: &[(&str, &str)]) -> ObjectInfo {
        let tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut state = locked(&self.state);
        let version = state.new_version(bucket, Some(Arc::new(body.to_vec())), tags);
        let info = version.info();
        state.write(bucket, key, version);
        info
    }

    /// Uploads `body` stored with `Content-Encoding: encoding`, as [`MemoryStore::put`] does.
    pub fn put_encoded(&self, bucket: &str, key: &str, body: &[u8], encoding: &str) -> ObjectInfo {
        let mut state = locked(&self.state);
        let mut version = state.new_version(bucket, Some(Arc::new(body.to_vec())), Tags::new());
        version.encoding = Some(encoding.to_owned());
        let info = version.info();
        state.write(bucket, key, version);
        info
    }

    /// Adds a hook for calls `op` (on `key`, if given), the first `times` of them (all, if
    /// `None`). Hooks run in the order they were added; a failing one ends the call.
    pub fn on(&self, op: Op, key: Option<&str>, times: Option<usize>, hook: Hook) {
        locked(&self.rules).push(Rule {
            op,
            key: key.map(String::from),
            times,
            hook,
        });
    }

    /// Makes every call `op` fail with `error`.
    pub fn fail(&self, op: Op, error: StoreError) {
        self.on(op, None, None, Hook::Fail(error));
    }

    /// Logs and counts a call, then runs the hooks that apply to it.
    async fn call(&self, op: Op, object: &ObjectRef) -> Result<(), StoreError> {
        requests::count();
        locked(&self.calls).push((op, object.clone()));
        let hooks: Vec<Hook> = {
            let mut rules = locked(&self.rules);
            rules
                .iter_mut()
                .filter(|r| r.op == op && r.key.as_ref().is_none_or(|k| *k == object.key))
                .filter(|r| r.times != Some(0))
                .map(|r| {
                    r.times = r.times.map(|t| t - 1);
                    r.hook.clone()
                })
                .collect()
        };
        for hook in hooks {
            match hook {
                Hook::Fail(e) => return Err(e),
                Hook::Delay(d) => tokio::time::sleep(d).await,
                Hook::Run(f) => f(self),
                Hook::Barrier(b) => {
                    b.wait().await;
                }
            }
        }
        Ok(())
    }
}

impl ObjectStore for MemoryStore {
    async fn get(
        &self,
        object: &ObjectRef,
        etag: Option<&str>,
        budget: &Budget,
        reserved: Option<Sink>,
    ) -> Result<Fetched, StoreError> {
        self.call(Op::GetObject, object).await?;
        let (info, body, tag_count) = {
            let state = locked(&self.state);
            let version = state.find_for(object, Op::GetObject)?;
            check_etag(Op::GetObject, object, version, etag)?;
            let body = version.body.clone().unwrap_or_default();
            (version.info(), body, version.tags.len() as u32)
        };
        let room = match reserved {
            Some(sink) if sink.len() as u64 == info.size => Some(sink),
            _ => budget
                .reserve(info.size)
                .await
                .map_err(|e| StoreError::Transient {
                    op: Op::GetObject,
                    detail: e.to_string(),
                })?,
        };
        let Some(mut sink) = room else {
            return Ok(Fetched::TooLarge(info));
        };
        sink.as_mut_slice().copy_from_slice(&body);
        let body = sink.finish().map_err(|e| StoreError::Transient {
            op: Op::GetObject,
            detail: e.to_string(),
        })?;
        Ok(Fetched::Body {
            info,
            body,
            tag_count,
        })
    }

    async fn head(&self, object: &ObjectRef) -> Result<Option<ObjectInfo>, StoreError> {
        self.call(Op::HeadObject, object).await?;
        match locked(&self.state).find_for(object, Op::HeadObject) {
            Ok(version) => Ok(Some(version.info())),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn tags(&self, object: &ObjectRef) -> Result<Tags, StoreError> {
        self.call(Op::GetObjectTagging, object).await?;
        let state = locked(&self.state);
        Ok(state.find_for(object, Op::GetObjectTagging)?.tags.clone())
    }

    async fn put_tags(&self, object: &ObjectRef, tags: &Tags) -> Result<(), StoreError> {
        let op = if tags.is_empty() {
            Op::DeleteObjectTagging
        } else {
            Op::PutObjectTagging
        };
        self.call(op, object).await?;
        check_tag_count(op, tags)?;
        locked(&self.state).find_mut(object, op)?.tags = tags.clone();
        Ok(())
    }

    async fn copy(
        &self,
        source: &ObjectRef,
        info: &ObjectInfo,
        dest: &ObjectRef,
        tags: &Tags,
        kms: Option<&SseKms>,
    ) -> Result<ObjectInfo, StoreError> {
        self.call(Op::CopyObject, dest).await?;
        check_tag_count(Op::CopyObject, tags)?;
        let mut state = locked(&self.state);
        let version = state.find_for(source, Op::CopyObject)?;
        check_etag(Op::CopyObject, source, version, info.etag.as_deref())?;
        let (body, encoding) = (version.body.clone(), version.encoding.clone());
        state.bucket(&dest.bucket, Op::CopyObject)?;
        let mut copy = state.new_version(&dest.bucket, body, tags.clone());
        // A copy keeps the source's metadata, as CopyObject's default directive does.
        copy.encoding = encoding;
        copy.kms = kms.cloned();
        let written = copy.info();
        state.write(&dest.bucket, &dest.key, copy);
        Ok(written)
    }

    async fn delete(&self, object: &ObjectRef, etag: Option<&str>) -> Result<(), StoreError> {
        self.call(Op::DeleteObject, object).await?;
        let mut state = locked(&self.state);
        match state.find_for(object, Op::DeleteObject) {
            Ok(version) => check_etag(Op::DeleteObject, object, version, etag)?,
            // S3 deletes a missing version, or an absent key, without complaint.
            Err(StoreError::NotFound { .. }) | Err(StoreError::Permanent { .. }) => {}
            Err(e) => return Err(e),
        }
        let versioning = state.bucket(&object.bucket, Op::DeleteObject)?.versioning;
        let marker = match (&object.version_id, versioning) {
            (None, Versioning::Enabled | Versioning::Suspended) => {
                Some(state.new_version(&object.bucket, None, Tags::new()))
            }
            _ => None,
        };
        let Some(versions) = state
            .buckets
            .get_mut(&object.bucket)
            .and_then(|b| b.keys.get_mut(&object.key))
        else {
            return Ok(());
        };
        match (&object.version_id, marker) {
            (Some(id), _) => versions.retain(|v| v.id != *id),
            (None, Some(marker)) => {
                if marker.id == NULL_VERSION {
                    versions.retain(|v| v.id != NULL_VERSION);
                }
                versions.push(marker);
            }
            (None, None) => versions.clear(),
        }
        Ok(())
    }

    async fn versions(&self, object: &ObjectRef) -> Result<Vec<ObjectInfo>, StoreError> {
        self.call(Op::ListObjectVersions, object).await?;
        let state = locked(&self.state);
        let bucket = state.bucket(&object.bucket, Op::ListObjectVersions)?;
        Ok(bucket
            .keys
            .get(&object.key)
            .map(|vs| {
                vs.iter()
                    .rev()
                    .filter(|v| v.body.is_some())
                    .map(Version::info)
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>, StoreError> {
        Ok(self
            .list_page(bucket, prefix, None, usize::MAX)
            .await?
            .objects)
    }

    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<Page, StoreError> {
        self.call(Op::ListObjects, &ObjectRef::new(bucket, prefix))
            .await?;
        let state = locked(&self.state);
        let b = state.bucket(bucket, Op::ListObjects)?;
        // Rust's `str` order is UTF-8 byte order, S3's listing order.
        let after = start_after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut current = b
            .keys
            .range::<str, _>((after, Bound::Unbounded))
            .filter(|(key, _)| key.starts_with(prefix))
            .filter_map(|(key, versions)| {
                let current = versions.last()?;
                current.body.as_ref().map(|body| Listed {
                    key: key.clone(),
                    etag: Some(current.etag.clone()),
                    size: body.len() as u64,
                })
            });
        let objects: Vec<Listed> = current.by_ref().take(max).collect();
        let more = current.next().is_some();
        Ok(Page { objects, more })
    }

    async fn put(&self, object: &ObjectRef, body: Vec<u8>) -> Result<(), StoreError> {
        self.call(Op::PutObject, object).await?;
        let mut state = locked(&self.state);
        state.bucket(&object.bucket, Op::PutObject)?;
        let version = state.new_version(&object.bucket, Some(Arc::new(body)), Tags::new());
        state.write(&object.bucket, &object.key, version);
        Ok(())
    }

    async fn is_versioned(&self, bucket: &str) -> Result<Option<bool>, StoreError> {
        self.call(Op::GetBucketVersioning, &ObjectRef::new(bucket, ""))
            .await?;
        let state = locked(&self.state);
        let b = state.bucket(bucket, Op::GetBucketVersioning)?;
        Ok(Some(b.versioning == Versioning::Enabled))
    }

    async fn bucket_tags(&self, bucket: &str) -> Result<Tags, StoreError> {
        self.call(Op::GetBucketTagging, &ObjectRef::new(bucket, ""))
            .await?;
        let state = locked(&self.state);
        Ok(state
            .bucket(bucket, Op::GetBucketTagging)?
            .meta
            .tags
            .clone())
    }
}

mod buckets;
mod look;
mod state;
#[cfg(test)]
mod tests;
