//! Onboarding on the in-memory store: wiring and unwiring a bucket by its tag with others'
//! configurations kept, a racing writer, and judging by the tag with one read per bucket.

use std::sync::Arc;

use pretty_assertions::assert_eq;

use super::*;
use crate::config::{Action, Config, OnboardTag};
use crate::store::{Destination, DestinationKind, Hook, MemoryStore, Op, Versioning, requests};

const TOPIC: &str = "arn:aws:sns:us-east-1:111122223333:scan";
const TAG: (&str, &str) = ("s3-yara-scan", "protect");

fn config() -> Config {
    let mut config = Config::new(Action::Tag);
    config.protected_buckets = vec!["listed".into()];
    config.onboard.tag = Some(OnboardTag {
        key: TAG.0.into(),
        value: TAG.1.into(),
    });
    config.onboard.topic_arn = Some(TOPIC.into());
    config
}

fn audit_queue() -> Destination {
    Destination {
        kind: DestinationKind::Queue,
        id: Some("audit".into()),
        arn: "arn:aws:sqs:us-east-1:111122223333:audit".into(),
        events: vec!["s3:ObjectRemoved:*".into()],
        filter: vec![],
    }
}

/// A bucket with someone's queue configuration and EventBridge on.
fn store_with(bucket: &str) -> MemoryStore {
    let store = MemoryStore::new();
    store.create_bucket(bucket, Versioning::Unversioned);
    store.set_notifications(
        bucket,
        Notifications {
            destinations: vec![audit_queue()],
            event_bridge: true,
        },
    );
    store
}

#[tokio::test]
async fn a_tagged_bucket_is_wired_once_and_keeps_its_other_notifications() {
    let store = store_with("team");
    store.set_bucket_tags("team", &[TAG, ("owner", "data")]);
    assert_eq!(
        reconcile(&store, &config(), "team").await,
        Ok(Outcome::Wired)
    );
    let config_now = store.notifications_of("team");
    assert!(config_now.event_bridge);
    assert_eq!(
        config_now.destinations,
        vec![audit_queue(), merge::ours(TOPIC)]
    );
    let again = reconcile(&store, &config(), "team").await;
    assert_eq!(again, Ok(Outcome::AlreadyWired));
    assert_eq!(store.notifications_of("team"), config_now, "idempotent");
}

#[tokio::test]
async fn an_untagged_bucket_loses_only_ours() {
    let store = store_with("team");
    store.set_bucket_tags("team", &[TAG]);
    reconcile(&store, &config(), "team").await.unwrap();
    store.set_bucket_tags("team", &[("s3-yara-scan", "PROTECT")]);
    assert_eq!(
        reconcile(&store, &config(), "team").await,
        Ok(Outcome::Unwired)
    );
    let left = store.notifications_of("team");
    assert_eq!(
        (left.destinations, left.event_bridge),
        (vec![audit_queue()], true)
    );
    assert_eq!(
        reconcile(&store, &config(), "team").await,
        Ok(Outcome::NotWired)
    );
}

#[tokio::test]
async fn a_listed_bucket_is_never_unwired_and_a_gone_one_is_said_so() {
    let store = store_with("listed");
    let mut wired = store.notifications_of("listed");
    wired.destinations.push(merge::ours(TOPIC));
    store.set_notifications("listed", wired.clone());
    assert_eq!(
        reconcile(&store, &config(), "listed").await,
        Ok(Outcome::Listed)
    );
    assert_eq!(store.notifications_of("listed"), wired);
    assert_eq!(
        reconcile(&store, &config(), "nope").await,
        Ok(Outcome::Gone)
    );
}

#[tokio::test]
async fn an_overlapping_configuration_is_refused_before_any_write() {
    let store = store_with("team");
    store.set_bucket_tags("team", &[TAG]);
    let mut config_now = store.notifications_of("team");
    config_now.destinations[0].events = vec!["s3:ObjectCreated:Put".into()];
    store.set_notifications("team", config_now.clone());
    let err = reconcile(&store, &config(), "team").await.unwrap_err();
    assert!(
        matches!(err, OnboardError::Overlap { .. }) && !err.is_retryable(),
        "{err}"
    );
    assert_eq!(store.notifications_of("team"), config_now);
}

/// Another writer that read before our write and writes after it (without ours) is seen on
/// the read after the write: the merge starts again from its configuration, which it keeps.
#[tokio::test]
async fn a_racing_writer_that_drops_ours_is_merged_again() {
    let store = store_with("team");
    store.set_bucket_tags("team", &[TAG]);
    let theirs = Notifications {
        destinations: vec![
            audit_queue(),
            Destination {
                id: Some("late".into()),
                ..audit_queue()
            },
        ],
        event_bridge: false,
    };
    let late = theirs.clone();
    let reads = std::sync::atomic::AtomicUsize::new(0);
    // The second read (right after our first write) finds their configuration instead.
    let write_after_ours = move |s: &MemoryStore| {
        if reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
            s.set_notifications("team", late.clone());
        }
    };
    let op = Op::GetBucketNotificationConfiguration;
    store.on(op, None, None, Hook::Run(Arc::new(write_after_ours)));
    assert_eq!(
        reconcile(&store, &config(), "team").await,
        Ok(Outcome::Wired)
    );
    let mut expected = theirs.destinations.clone();
    expected.push(merge::ours(TOPIC));
    assert_eq!(store.notifications_of("team").destinations, expected);
}

#[tokio::test]
async fn a_writer_that_never_stops_is_an_error_to_retry() {
    let store = store_with("team");
    store.set_bucket_tags("team", &[TAG]);
    let reset = |s: &MemoryStore| s.set_notifications("team", Notifications::default());
    store.on(
        Op::GetBucketNotificationConfiguration,
        None,
        None,
        Hook::Run(Arc::new(reset)),
    );
    let err = reconcile(&store, &config(), "team").await.unwrap_err();
    assert_eq!(err, OnboardError::Raced("team".into()));
    assert!(err.is_retryable());
}

#[tokio::test]
async fn without_a_topic_or_with_the_tag_off_nothing_is_wired() {
    let store = store_with("team");
    store.set_bucket_tags("team", &[TAG]);
    let mut no_topic = config();
    no_topic.onboard.topic_arn = None;
    let err = reconcile(&store, &no_topic, "team").await.unwrap_err();
    assert!(err.to_string().contains("NOTIFICATION_TOPIC_ARN"), "{err}");
    let mut off = config();
    off.onboard.tag = None;
    let err = reconcile(&store, &off, "team").await.unwrap_err();
    assert!(err.to_string().contains("ONBOARD_TAG=off"), "{err}");
}

#[tokio::test]
async fn a_failed_call_in_the_event_changes_nothing() {
    let store = store_with("amzn-s3-demo-bucket");
    let text = std::fs::read_to_string("events/cloudtrail-put-bucket-tagging.json").unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&text).unwrap();
    store.set_bucket_tags("amzn-s3-demo-bucket", &[TAG]);
    event["detail"]["errorCode"] = "AccessDenied".into();
    let answer = handle_event(&store, &config(), event.clone())
        .await
        .unwrap();
    assert_eq!(answer["outcome"], "FailedCall");
    event["detail"].as_object_mut().unwrap().remove("errorCode");
    let answer = handle_event(&store, &config(), event).await.unwrap();
    assert_eq!(answer["outcome"], "Wired", "{answer}");
}

/// Judging by the tag: one GetBucketTagging per bucket, whatever the number of objects; a
/// bucket without the tag is not judged; a transient failure is not remembered.
#[tokio::test]
async fn the_tag_is_read_once_per_bucket_and_counted() {
    let store = store_with("team");
    store.create_bucket("other", Versioning::Unversioned);
    store.set_bucket_tags("team", &[TAG]);
    let cache = TagCache::default();
    let tag = config().onboard.tag.unwrap();
    let (first, n) = requests::counted(cache.carries(&store, "team", &tag)).await;
    assert_eq!((first, n), (Ok(true), 1));
    let (again, n) = requests::counted(cache.carries(&store, "team", &tag)).await;
    assert_eq!((again, n), (Ok(true), 0), "cached");
    assert_eq!(cache.carries(&store, "other", &tag).await, Ok(false));
    assert_eq!(cache.carries(&store, "gone", &tag).await, Ok(false));
    let busy = StoreError::Transient {
        op: Op::GetBucketTagging,
        detail: "SlowDown".into(),
    };
    store.on(
        Op::GetBucketTagging,
        Some(""),
        Some(1),
        Hook::Fail(busy.clone()),
    );
    let fresh = TagCache::default();
    assert_eq!(fresh.carries(&store, "team", &tag).await, Err(busy));
    assert_eq!(fresh.carries(&store, "team", &tag).await, Ok(true));
}
