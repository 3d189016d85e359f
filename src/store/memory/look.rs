//! What tests look at in the store: an object's bytes, tags, encryption and versions, the
//! keys of a bucket, and the calls made; and encrypted uploads.

use super::{MemoryStore, locked};
use crate::object::{ObjectInfo, ObjectRef, SseKms, Tags};
use crate::store::Op;

impl MemoryStore {
    /// Uploads like [`MemoryStore::put`], encrypted with `kms` (PutObject with SSE-KMS
    /// headers).
    pub fn put_kms(&self, bucket: &str, key: &str, body: &[u8], kms: SseKms) -> ObjectInfo {
        let written = self.put(bucket, key, body, &[]);
        let mut state = locked(&self.state);
        let object = ObjectRef::new(bucket, key).at_version(written.version_id.clone());
        if let Ok(version) = state.find_mut(&object, Op::PutObject) {
            version.kms = Some(kms.clone());
        }
        ObjectInfo {
            kms: Some(kms),
            ..written
        }
    }

    /// The KMS encryption of `object`, if it exists and has one.
    pub fn kms_of(&self, object: &ObjectRef) -> Option<SseKms> {
        let state = locked(&self.state);
        state.find(object).ok().and_then(|v| v.kms.clone())
    }

    /// The bytes of `object` (its current version without a version id), if it has any.
    pub fn body(&self, object: &ObjectRef) -> Option<Vec<u8>> {
        let state = locked(&self.state);
        let version = state.find(object).ok()?;
        version.body.as_ref().map(|b| b.to_vec())
    }

    /// The tags of `object`, if it exists.
    pub fn tags_of(&self, object: &ObjectRef) -> Option<Tags> {
        let state = locked(&self.state);
        state.find(object).ok().map(|v| v.tags.clone())
    }

    /// The versions of `bucket`/`key`, newest first, delete markers included (as `None`
    /// bodies): (version id, bytes).
    pub fn history(&self, bucket: &str, key: &str) -> Vec<(String, Option<Vec<u8>>)> {
        let state = locked(&self.state);
        let versions = state
            .buckets
            .get(bucket)
            .and_then(|b| b.keys.get(key))
            .cloned()
            .unwrap_or_default();
        versions
            .into_iter()
            .rev()
            .map(|v| (v.id, v.body.map(|b| b.to_vec())))
            .collect()
    }

    /// Every key of `bucket` that has versions.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let state = locked(&self.state);
        state
            .buckets
            .get(bucket)
            .map(|b| b.keys.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The calls made so far, in order.
    pub fn calls(&self) -> Vec<(Op, ObjectRef)> {
        locked(&self.calls).clone()
    }

    /// How many calls `op` were made so far.
    pub fn count(&self, op: Op) -> usize {
        locked(&self.calls).iter().filter(|(o, _)| *o == op).count()
    }
}
