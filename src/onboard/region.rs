//! `s3-yara-scan onboard`: the buckets of a region, and what onboarding would do to each
//! without writing anything (the dry run), or does (`--apply`, [`reconcile`](super::reconcile)).

use super::{OnboardError, Outcome, gone_is_done, is_tagged, plan, settings_of, store_error};
use crate::config::Config;
use crate::store::{BucketStore, ObjectStore};

/// The buckets of the store's region, by name. ListBuckets filters by region; a listing that
/// leaves a bucket's region out (older endpoints) is completed with GetBucketLocation.
pub async fn region_buckets<S: BucketStore>(store: &S) -> Result<Vec<String>, OnboardError> {
    let region = store.region().ok_or_else(|| {
        OnboardError::Settings("no AWS region is configured (set AWS_REGION)".into())
    })?;
    let listed = store
        .buckets(&region)
        .await
        .map_err(|e| store_error("*", e))?;
    let mut names = Vec::with_capacity(listed.len());
    for bucket in listed {
        let here = match bucket.region {
            Some(r) => r,
            None => store
                .bucket_region(&bucket.name)
                .await
                .map_err(|e| store_error(&bucket.name, e))?,
        };
        if here == region {
            names.push(bucket.name);
        }
    }
    Ok(names)
}

/// What [`reconcile`](super::reconcile) would do to `bucket` now, reading only.
pub async fn preview<S: ObjectStore + BucketStore>(
    store: &S,
    config: &Config,
    bucket: &str,
) -> Result<Outcome, OnboardError> {
    gone_is_done(read_plan(store, config, bucket).await)
}

async fn read_plan<S: ObjectStore + BucketStore>(
    store: &S,
    config: &Config,
    bucket: &str,
) -> Result<Outcome, OnboardError> {
    let (tag, _) = settings_of(config)?;
    let Some(tagged) = is_tagged(store, tag, bucket).await? else {
        return Ok(Outcome::Gone);
    };
    let current = store
        .notifications(bucket)
        .await
        .map_err(|e| store_error(bucket, e))?;
    Ok(plan(config, bucket, tagged, &current)?.outcome)
}
