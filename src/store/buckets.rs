//! The bucket-level calls of onboarding by tag (`ONBOARD_TAG`): a bucket's notification
//! configuration, read and written whole, and the buckets of a region. A trait of its own,
//! beside [`ObjectStore`](super::ObjectStore): only onboarding (the CloudTrail events and
//! `s3-yara-scan onboard`) makes these calls, never an object's journey, whose one bucket-level
//! read ([`ObjectStore::bucket_tags`](super::ObjectStore::bucket_tags)) stays on the object
//! seam. [`Notifications`] holds every kind of destination S3 knows, so that a configuration
//! read and written back loses nothing of others'.

use std::future::Future;

use super::StoreError;

/// What kind of destination a notification configuration sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DestinationKind {
    /// An SNS topic (`TopicConfiguration`).
    Topic,
    /// An SQS queue (`QueueConfiguration`).
    Queue,
    /// A Lambda function (`LambdaFunctionConfiguration`).
    Lambda,
}

/// One configuration of a bucket's notifications: which events go where, for which keys.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Destination {
    /// Topic, queue or function.
    pub kind: DestinationKind,
    /// Its id (S3 assigns one when the writer gave none).
    pub id: Option<String>,
    /// The ARN of the topic, queue or function.
    pub arn: String,
    /// The event types, such as `s3:ObjectCreated:*`.
    pub events: Vec<String>,
    /// The key filter's rules, as (name, value): (`prefix`, `logs/`), (`suffix`, `.jpg`).
    pub filter: Vec<(String, String)>,
}

/// A bucket's whole notification configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notifications {
    /// The topic, queue and function configurations.
    pub destinations: Vec<Destination>,
    /// Whether events also go to EventBridge.
    pub event_bridge: bool,
}

/// A bucket of a listing, with its region when the listing said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBucket {
    /// Its name.
    pub name: String,
    /// Its region, such as `eu-west-1`.
    pub region: Option<String>,
}

/// The bucket-level calls of onboarding. Implementations count each request with
/// [`requests::count`](super::requests::count), as the object calls do.
pub trait BucketStore: Send + Sync {
    /// The region this store's requests go to, if it knows one.
    fn region(&self) -> Option<String>;

    /// `bucket`'s notification configuration (GetBucketNotificationConfiguration).
    fn notifications(
        &self,
        bucket: &str,
    ) -> impl Future<Output = Result<Notifications, StoreError>> + Send;

    /// Replaces `bucket`'s notification configuration with `config`
    /// (PutBucketNotificationConfiguration: S3 has no partial update, and no condition).
    fn put_notifications(
        &self,
        bucket: &str,
        config: &Notifications,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The account's buckets in `region` (ListBuckets, every page).
    fn buckets(
        &self,
        region: &str,
    ) -> impl Future<Output = Result<Vec<ListedBucket>, StoreError>> + Send;

    /// `bucket`'s region (GetBucketLocation), for listings that did not say it.
    fn bucket_region(
        &self,
        bucket: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
}
