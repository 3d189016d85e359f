//! [`BucketStore`] in memory: a bucket's own tags, its notification configuration (replaced
//! whole, as S3 does) and its region, for the tests of onboarding by tag.

use super::{MemoryStore, locked};
use crate::object::{ObjectRef, Tags};
use crate::store::{BucketStore, ListedBucket, Notifications, Op, StoreError};

/// The region of a bucket whose region was never set, and of the store.
const REGION: &str = "us-east-1";

/// What a bucket holds besides its objects.
#[derive(Debug, Clone, Default)]
pub(super) struct Meta {
    pub(super) tags: Tags,
    pub(super) notifications: Notifications,
    pub(super) region: Option<String>,
}

impl MemoryStore {
    /// Replaces `bucket`'s own tags (PutBucketTagging; an empty set deletes them).
    pub fn set_bucket_tags(&self, bucket: &str, tags: &[(&str, &str)]) {
        self.with_meta(bucket, |m| {
            m.tags = tags
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
        });
    }

    /// Moves `bucket` to `region` (buckets are in us-east-1 unless moved).
    pub fn set_bucket_region(&self, bucket: &str, region: &str) {
        self.with_meta(bucket, |m| m.region = Some(region.to_owned()));
    }

    /// Replaces `bucket`'s notification configuration without a call (someone else's write).
    pub fn set_notifications(&self, bucket: &str, config: Notifications) {
        self.with_meta(bucket, |m| m.notifications = config);
    }

    /// `bucket`'s notification configuration, read without a call.
    pub fn notifications_of(&self, bucket: &str) -> Notifications {
        let state = locked(&self.state);
        let meta = state
            .buckets
            .get(bucket)
            .map(|b| b.meta.notifications.clone());
        meta.unwrap_or_default()
    }

    fn with_meta(&self, bucket: &str, change: impl FnOnce(&mut Meta)) {
        let mut state = locked(&self.state);
        if let Some(b) = state.buckets.get_mut(bucket) {
            change(&mut b.meta);
        }
    }
}

impl BucketStore for MemoryStore {
    fn region(&self) -> Option<String> {
        Some(REGION.to_owned())
    }

    async fn notifications(&self, bucket: &str) -> Result<Notifications, StoreError> {
        let op = Op::GetBucketNotificationConfiguration;
        self.call(op, &ObjectRef::new(bucket, "")).await?;
        let state = locked(&self.state);
        Ok(state.bucket(bucket, op)?.meta.notifications.clone())
    }

    async fn put_notifications(
        &self,
        bucket: &str,
        config: &Notifications,
    ) -> Result<(), StoreError> {
        let op = Op::PutBucketNotificationConfiguration;
        self.call(op, &ObjectRef::new(bucket, "")).await?;
        let mut state = locked(&self.state);
        state.bucket(bucket, op)?;
        if let Some(b) = state.buckets.get_mut(bucket) {
            b.meta.notifications = config.clone();
        }
        Ok(())
    }

    async fn buckets(&self, region: &str) -> Result<Vec<ListedBucket>, StoreError> {
        self.call(Op::ListBuckets, &ObjectRef::new("", "")).await?;
        let state = locked(&self.state);
        let listed = state.buckets.iter().map(|(name, b)| ListedBucket {
            name: name.clone(),
            region: Some(b.meta.region.clone().unwrap_or_else(|| REGION.to_owned())),
        });
        Ok(listed
            .filter(|b| b.region.as_deref() == Some(region))
            .collect())
    }

    async fn bucket_region(&self, bucket: &str) -> Result<String, StoreError> {
        let op = Op::GetBucketLocation;
        self.call(op, &ObjectRef::new(bucket, "")).await?;
        let state = locked(&self.state);
        let meta = &state.bucket(bucket, op)?.meta;
        Ok(meta.region.clone().unwrap_or_else(|| REGION.to_owned()))
    }
}
