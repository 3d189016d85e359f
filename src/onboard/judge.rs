//! Whether an object's bucket is judged: listed (PROTECTED_BUCKETS, PROMOTE), or carrying
//! ONBOARD_TAG. A message names its bucket, and anyone allowed to send to the queue chooses
//! it; the tag, which only someone allowed s3:PutBucketTagging can set, is the authority. It is
//! read from S3 once per bucket and kept for [`TTL`]: a batch of a hundred objects of one
//! bucket costs one GetBucketTagging (counted, like every S3 call, in the requests of the
//! object that read it), and a removed tag stops judging within a minute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::OnboardTag;
use crate::store::{ObjectStore, StoreError};

/// How long a bucket's answer is kept.
pub const TTL: Duration = Duration::from_secs(60);

/// One bucket's answer: when it was asked for, and the answer once read.
type Entry = (Instant, Arc<OnceCell<bool>>);

/// Each bucket's answer, read at most once per [`TTL`] even by concurrent objects.
#[derive(Debug, Default)]
pub struct TagCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl TagCache {
    /// The cell of `bucket`'s answer: a fresh one when there is none or it is older than TTL.
    fn cell(&self, bucket: &str) -> Arc<OnceCell<bool>> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        // Expired answers go, so that the map holds only the buckets of the last TTL.
        entries.retain(|_, (since, _)| now.duration_since(*since) < TTL);
        let (_, cell) = entries
            .entry(bucket.to_owned())
            .or_insert_with(|| (now, Arc::new(OnceCell::new())));
        Arc::clone(cell)
    }

    /// Whether `bucket` carries `tag`, read through `store` unless known. A bucket that is gone
    /// or whose tags the role may not read does not (an onboarded bucket is always readable:
    /// the template grants it). A transient failure is not kept: the next object reads again.
    pub async fn carries<S: ObjectStore>(
        &self,
        store: &S,
        bucket: &str,
        tag: &OnboardTag,
    ) -> Result<bool, StoreError> {
        let cell = self.cell(bucket);
        let answer = cell
            .get_or_try_init(|| async {
                match store.bucket_tags(bucket).await {
                    Ok(tags) => Ok(tag.is_on(&tags)),
                    Err(e @ StoreError::Transient { .. }) => Err(e),
                    Err(e) => {
                        tracing::warn!(bucket, error = %e, "cannot read the bucket's tags: not onboarded");
                        Ok(false)
                    }
                }
            })
            .await?;
        Ok(*answer)
    }
}
