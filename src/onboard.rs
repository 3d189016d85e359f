//! Buckets onboarded by a tag (`ONBOARD_TAG`): a bucket that carries the tag gets our
//! `s3:ObjectCreated:*` topic configuration to `NOTIFICATION_TOPIC_ARN`, merged into its
//! notification configuration (`merge`), and its objects are judged (`judge`); when the tag
//! goes, our configuration goes, and only ours. What starts it: EventBridge's CloudTrail events
//! for CreateBucket, PutBucketTagging and DeleteBucketTagging (`event`), or `s3-yara-scan
//! onboard` for the buckets of a region. The tags are always read from S3: an event, like
//! anything read from a queue, only says which bucket to look at.

use serde_json::{Value, json};

use crate::config::Config;
use crate::config::settings;
pub use crate::config::{OnboardTag, Onboarding};
use crate::store::{BucketStore, Notifications, ObjectStore, StoreError};

pub mod event;
mod judge;
pub mod merge;
mod region;
#[cfg(test)]
mod tests;

pub use judge::TagCache;
pub use merge::Overlap;
pub use region::{preview, region_buckets};

/// Reads of the configuration after writing it, when another writer's change raced ours.
const MAX_ROUNDS: usize = 3;

/// What onboarding did to one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Tagged: our configuration was added.
    Wired,
    /// Tagged, and its created objects already reach the topic.
    AlreadyWired,
    /// Not tagged (any more): our configuration was removed.
    Unwired,
    /// Not tagged, and nothing of ours is there.
    NotWired,
    /// Listed in PROTECTED_BUCKETS (or a staging bucket of PROMOTE): wired by whoever listed
    /// it, never unwired here.
    Listed,
    /// The bucket no longer exists.
    Gone,
    /// The CloudTrail event reports a call that failed: nothing changed.
    FailedCall,
}

impl Outcome {
    /// Its name in logs and answers.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Wired => "Wired",
            Outcome::AlreadyWired => "AlreadyWired",
            Outcome::Unwired => "Unwired",
            Outcome::NotWired => "NotWired",
            Outcome::Listed => "Listed",
            Outcome::Gone => "Gone",
            Outcome::FailedCall => "FailedCall",
        }
    }
}

/// Why a bucket could not be onboarded (or unwired).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnboardError {
    /// Onboarding is off, or has no topic to wire to.
    #[error("{0}")]
    Settings(String),
    /// The event is not a bucket change this function acts on.
    #[error(transparent)]
    Event(#[from] event::EventError),
    /// S3 refused or failed a call.
    #[error("bucket `{bucket}`: {source}")]
    Store {
        /// The bucket.
        bucket: String,
        /// The call's failure.
        source: StoreError,
    },
    /// Our configuration would overlap another one.
    #[error("bucket `{bucket}`: {source}")]
    Overlap {
        /// The bucket.
        bucket: String,
        /// The other configuration.
        source: Overlap,
    },
    /// Other writers changed the configuration after each of our writes.
    #[error(
        "bucket `{0}`: its notification configuration kept changing under ours ({MAX_ROUNDS} \
         rounds); run `s3-yara-scan onboard --apply` once the other writer is done"
    )]
    Raced(String),
}

impl OnboardError {
    /// True when trying again later may succeed (a transient S3 failure, a race).
    pub fn is_retryable(&self) -> bool {
        match self {
            OnboardError::Store { source, .. } => source.is_retryable(),
            OnboardError::Raced(_) => true,
            OnboardError::Settings(_) | OnboardError::Event(_) | OnboardError::Overlap { .. } => {
                false
            }
        }
    }
}

/// What a bucket's configuration should become: its plan from what is there now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// What the bucket is.
    pub outcome: Outcome,
    /// The configuration to write, when there is a change.
    pub write: Option<Notifications>,
}

/// The onboarding settings, or why they do not allow wiring.
pub fn settings_of(config: &Config) -> Result<(&OnboardTag, &str), OnboardError> {
    let tag = config.onboard.tag.as_ref().ok_or_else(|| {
        OnboardError::Settings(format!(
            "{}=off: buckets are not onboarded by tag (set it to KEY=VALUE)",
            settings::ONBOARD_TAG.name
        ))
    })?;
    let topic = config.onboard.topic_arn.as_deref().ok_or_else(|| {
        OnboardError::Settings(format!(
            "{} is not set: onboarded buckets need the topic the scan queue is subscribed to \
             (the template sets it)",
            settings::NOTIFICATION_TOPIC_ARN.name
        ))
    })?;
    Ok((tag, topic))
}

/// Plans `bucket`'s configuration from its tags and what is there now.
pub fn plan(
    config: &Config,
    bucket: &str,
    tagged: bool,
    current: &Notifications,
) -> Result<Plan, OnboardError> {
    let (_, topic) = settings_of(config)?;
    let (outcome, write) = if tagged {
        match merge::with_ours(current, topic) {
            Ok(Some(wanted)) => (Outcome::Wired, Some(wanted)),
            Ok(None) => (Outcome::AlreadyWired, None),
            Err(source) => {
                let bucket = bucket.to_owned();
                return Err(OnboardError::Overlap { bucket, source });
            }
        }
    } else if listed(config, bucket) {
        (Outcome::Listed, None)
    } else {
        match merge::without_ours(current) {
            Some(wanted) => (Outcome::Unwired, Some(wanted)),
            None => (Outcome::NotWired, None),
        }
    };
    Ok(Plan { outcome, write })
}

/// Whether the deployment lists `bucket` itself (and so wires it without a tag).
fn listed(config: &Config, bucket: &str) -> bool {
    config.protected_buckets.iter().any(|b| b == bucket)
        || config.promote.iter().any(|p| p.from_bucket == bucket)
}

/// Whether `bucket` carries the tag, read from S3; `None` when the bucket is gone.
pub async fn is_tagged<S: ObjectStore>(
    store: &S,
    tag: &OnboardTag,
    bucket: &str,
) -> Result<Option<bool>, OnboardError> {
    match store.bucket_tags(bucket).await {
        Ok(tags) => Ok(Some(tag.is_on(&tags))),
        Err(StoreError::NotFound { code, .. }) if code == "NoSuchBucket" => Ok(None),
        Err(source) => Err(store_error(bucket, source)),
    }
}

/// A bucket deleted while it was looked at is [`Outcome::Gone`], not a failure.
fn gone_is_done(result: Result<Outcome, OnboardError>) -> Result<Outcome, OnboardError> {
    match result {
        Err(OnboardError::Store {
            source: StoreError::NotFound { code, .. },
            ..
        }) if code == "NoSuchBucket" => Ok(Outcome::Gone),
        other => other,
    }
}

fn store_error(bucket: &str, source: StoreError) -> OnboardError {
    OnboardError::Store {
        bucket: bucket.to_owned(),
        source,
    }
}

/// Brings `bucket`'s configuration in line with its tag: read its tags, then read, merge,
/// write and read again its notification configuration. S3 has no conditional write for it:
/// when the read after our write shows that another writer's change took ours out (or put it
/// back, for a removal), the merge starts again from what is there, at most [`MAX_ROUNDS`]
/// times.
pub async fn reconcile<S: ObjectStore + BucketStore>(
    store: &S,
    config: &Config,
    bucket: &str,
) -> Result<Outcome, OnboardError> {
    gone_is_done(read_merge_write(store, config, bucket).await)
}

async fn read_merge_write<S: ObjectStore + BucketStore>(
    store: &S,
    config: &Config,
    bucket: &str,
) -> Result<Outcome, OnboardError> {
    let (tag, topic) = settings_of(config)?;
    let Some(tagged) = is_tagged(store, tag, bucket).await? else {
        return Ok(Outcome::Gone);
    };
    let err = |e| store_error(bucket, e);
    let mut current = store.notifications(bucket).await.map_err(err)?;
    for _ in 0..MAX_ROUNDS {
        let plan = plan(config, bucket, tagged, &current)?;
        let Some(wanted) = plan.write else {
            return Ok(plan.outcome);
        };
        store
            .put_notifications(bucket, &wanted)
            .await
            .map_err(err)?;
        current = store.notifications(bucket).await.map_err(err)?;
        let holds = match plan.outcome {
            Outcome::Wired => merge::is_wired(&current, topic),
            Outcome::AlreadyWired
            | Outcome::Unwired
            | Outcome::NotWired
            | Outcome::Listed
            | Outcome::Gone
            | Outcome::FailedCall => !merge::has_ours(&current),
        };
        if holds {
            return Ok(plan.outcome);
        }
        tracing::warn!(
            bucket,
            "the notification configuration changed under ours; merging again"
        );
    }
    Err(OnboardError::Raced(bucket.to_owned()))
}

/// One EventBridge CloudTrail event, acted on: the answer names the bucket and the outcome.
/// Every failure is an error of the invocation, logged at error: it counts in the function's
/// Errors (and their alarm), and Lambda retries the asynchronous invocation, which helps a
/// transient one and is harmless otherwise (onboarding is idempotent).
pub async fn handle_event<S: ObjectStore + BucketStore>(
    store: &S,
    config: &Config,
    event: Value,
) -> Result<Value, OnboardError> {
    let change = event::parse(event)?;
    let bucket = change.bucket.as_str();
    let call = change.call.name();
    if let Some(code) = &change.error_code {
        tracing::info!(bucket, call, code, "the call failed: nothing to do");
        return Ok(json!({"bucket": bucket, "call": call, "outcome": Outcome::FailedCall.name()}));
    }
    match reconcile(store, config, bucket).await {
        Ok(outcome) => {
            tracing::info!(bucket, call, outcome = outcome.name(), "onboarding");
            Ok(json!({"bucket": bucket, "call": call, "outcome": outcome.name()}))
        }
        Err(e) => {
            let retryable = e.is_retryable();
            tracing::error!(bucket, call, error = %e, retryable, "cannot onboard the bucket");
            Err(e)
        }
    }
}
