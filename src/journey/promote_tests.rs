//! Promotion from staging to production buckets through the journey: clean objects move with
//! their tags, everything else stays or is quarantined, and a delivery that died between the
//! copy and the delete is finished by the next one with one production copy.

use pretty_assertions::assert_eq;

use std::sync::Arc;

use super::tests::{EICAR, created, pipeline, quarantining, settled, signed, store, tag};
use crate::action::{ActionError, Location};
use crate::config::{Config, Promotion};
use crate::object::{ObjectRef, SseKms};
use crate::pipeline::StartupError;
use crate::report::{Disposition, Retry, Settled};
use crate::store::{Hook, MemoryStore, ObjectStore, Op, StoreError, Versioning};

fn staging(config: Config) -> Config {
    staging_in("uploads", config)
}

/// `config`, promoting `bucket/in/` to `production/files/`.
fn staging_in(bucket: &str, config: Config) -> Config {
    let mut config = config;
    config.promote = vec![Promotion {
        from_bucket: bucket.into(),
        from_prefix: "in/".into(),
        to_bucket: "production".into(),
        to_prefix: "files/".into(),
    }];
    config
}

/// Versions with bytes left under `key` in the staging bucket.
fn in_staging(s: &MemoryStore, key: &str) -> usize {
    s.history("uploads", key)
        .iter()
        .filter(|(_, body)| body.is_some())
        .count()
}

fn with_production() -> MemoryStore {
    let s = store();
    s.create_bucket("production", Versioning::Enabled);
    s
}

#[tokio::test]
async fn a_clean_object_moves_to_production_with_its_tags_and_leaves_staging() {
    let s = with_production();
    let info = s.put("uploads", "in/a.txt", b"fine", &[("team", "blue")]);
    let p = pipeline(s, staging(signed(quarantining())));
    let report = crate::journey::settle(&p, &created("uploads", "in/a.txt", &info)).await;
    assert_eq!(settled(&report), &Settled::Recorded);
    let Location::Promoted(copy) = &report.location else {
        panic!("not promoted: {}", report.location);
    };
    assert_eq!(
        (copy.bucket.as_str(), copy.key.as_str()),
        ("production", "files/a.txt")
    );
    assert_eq!(p.store().body(copy).as_deref(), Some(&b"fine"[..]));
    let tags = p.store().tags_of(copy).unwrap();
    assert_eq!(tag(&tags, "scan-result"), Some("Clean"));
    assert_eq!(tag(&tags, "team"), Some("blue"));
    assert!(tag(&tags, "scan-signature").is_some());
    assert!(tag(&tags, "scan-source").is_some());
    assert_eq!(
        in_staging(p.store(), "in/a.txt"),
        0,
        "the staging version is deleted"
    );
}

#[tokio::test]
async fn infected_is_quarantined_and_unscannable_or_unmapped_objects_stay() {
    let s = with_production();
    let bad = s.put("uploads", "in/e.com", EICAR, &[]);
    let other = s.put("uploads", "elsewhere/a.txt", b"fine", &[]);
    let p = pipeline(s, staging(quarantining()));
    let report = crate::journey::settle(&p, &created("uploads", "in/e.com", &bad)).await;
    assert!(
        matches!(report.location, Location::Quarantined(_)),
        "{}",
        report.location
    );
    let report = crate::journey::settle(&p, &created("uploads", "elsewhere/a.txt", &other)).await;
    assert_eq!(report.location, Location::InPlace);
    assert_eq!(p.store().keys("production"), Vec::<String>::new());
}

#[tokio::test]
async fn a_delivery_that_died_before_the_delete_is_finished_with_one_copy() {
    let s = with_production();
    let info = s.put("uploads", "in/a.txt", b"fine", &[]);
    s.on(
        Op::DeleteObject,
        Some("in/a.txt"),
        Some(1),
        Hook::Fail(StoreError::Transient {
            op: Op::DeleteObject,
            detail: "crash".into(),
        }),
    );
    let p = pipeline(s, staging(signed(quarantining())));
    let event = created("uploads", "in/a.txt", &info);
    let first = crate::journey::settle(&p, &event).await;
    assert!(
        matches!(first.disposition, Disposition::Retry(_)),
        "{}",
        first.disposition
    );
    // The redelivery: the signed Clean skips the scan, and the move is finished.
    let second = crate::journey::settle(&p, &event).await;
    assert!(matches!(settled(&second), Settled::SignedClean { .. }));
    assert!(
        matches!(second.location, Location::Promoted(_)),
        "{}",
        second.location
    );
    assert_eq!(
        p.store().count(Op::CopyObject),
        1,
        "the first copy is reused"
    );
    assert_eq!(p.store().history("production", "files/a.txt").len(), 1);
    assert_eq!(
        in_staging(p.store(), "in/a.txt"),
        0,
        "the staging version is deleted"
    );
    let copy = ObjectRef::new("production", "files/a.txt");
    assert_eq!(
        tag(&p.store().tags_of(&copy).unwrap(), "scan-result"),
        Some("Clean")
    );
}

#[tokio::test]
async fn staging_buckets_without_versioning_are_refused_at_start_up() {
    for bucket in ["plain", "suspended"] {
        let p = pipeline(with_production(), staging_in(bucket, quarantining()));
        let Err(StartupError::Preflight(message)) = p.preflight().await else {
            panic!("{bucket}: started");
        };
        assert!(
            message.contains(&format!("PROMOTE names the staging bucket `{bucket}`"))
                && message.contains("does not have versioning enabled"),
            "{message}"
        );
    }
    let p = pipeline(with_production(), staging(quarantining()));
    p.preflight().await.unwrap();
}

#[tokio::test]
async fn a_staging_bucket_whose_versioning_cannot_be_checked_stops_the_start() {
    let s = with_production();
    s.fail(
        Op::GetBucketVersioning,
        StoreError::AccessDenied {
            op: Op::GetBucketVersioning,
            permission: "s3:GetBucketVersioning on arn:aws:s3:::uploads".into(),
            detail: "Access Denied".into(),
        },
    );
    let p = pipeline(s, staging(quarantining()));
    let Err(StartupError::Preflight(message)) = p.preflight().await else {
        panic!("started");
    };
    assert!(
        message.contains("`uploads`") && message.contains("s3:GetBucketVersioning"),
        "{message}"
    );
}

#[tokio::test]
async fn a_version_written_while_versioning_was_suspended_is_not_promoted() {
    let s = with_production();
    let info = s.put("suspended", "in/a.txt", b"fine", &[]);
    let p = pipeline(s, staging_in("suspended", quarantining()));
    let report = crate::journey::settle(&p, &created("suspended", "in/a.txt", &info)).await;
    let Disposition::Retry(Retry::Record(ActionError::Unpinned { object })) = &report.disposition
    else {
        panic!("not refused: {}", report.disposition);
    };
    assert_eq!(object.key, "in/a.txt");
    assert_eq!(p.store().keys("production"), Vec::<String>::new());
    let staged = p.store().tags_of(&ObjectRef::new("suspended", "in/a.txt"));
    assert_eq!(
        tag(&staged.unwrap(), "scan-result"),
        Some("Clean"),
        "stays, tagged"
    );
}

/// A signed `Clean` found on redelivery is promoted from the version whose signature was
/// checked, even when the event names no version and a twin (same bytes, so same size and
/// ETag) lands on the key just before the copy.
#[tokio::test]
async fn a_signed_skip_promotes_the_version_it_checked_not_a_twin() {
    let s = with_production();
    let info = s.put("uploads", "in/a.txt", b"fine", &[]);
    let v1 = info.version_id.clone().unwrap();
    s.on(
        Op::DeleteObject,
        Some("in/a.txt"),
        Some(1),
        Hook::Fail(StoreError::Transient {
            op: Op::DeleteObject,
            detail: "crash".into(),
        }),
    );
    let p = pipeline(s, staging(signed(quarantining())));
    let first = crate::journey::settle(&p, &created("uploads", "in/a.txt", &info)).await;
    assert!(matches!(first.disposition, Disposition::Retry(_)));
    // The copy is lost (someone removed it), so the redelivery copies again; the twin lands
    // as it does.
    let (copy_version, _) = p.store().history("production", "files/a.txt").remove(0);
    let copy = ObjectRef::new("production", "files/a.txt").at_version(Some(copy_version));
    p.store().delete(&copy, None).await.unwrap();
    p.store().on(
        Op::CopyObject,
        Some("files/a.txt"),
        Some(1),
        Hook::Run(Arc::new(|s: &MemoryStore| {
            s.put("uploads", "in/a.txt", b"fine", &[]);
        })),
    );
    let mut unversioned = created("uploads", "in/a.txt", &info);
    unversioned.object.version_id = None;
    let second = crate::journey::settle(&p, &unversioned).await;
    assert!(matches!(settled(&second), Settled::SignedClean { .. }));
    let Location::Promoted(copy) = &second.location else {
        panic!("not promoted: {}", second.location);
    };
    let source = tag(&p.store().tags_of(copy).unwrap(), "scan-source").map(String::from);
    assert!(
        source
            .as_deref()
            .is_some_and(|s| s.starts_with(&format!("{v1} "))),
        "copied from {source:?}, not {v1}"
    );
    let left = p.store().history("uploads", "in/a.txt");
    assert_eq!(
        left.len(),
        1,
        "the checked version is deleted, the twin stays"
    );
    assert_ne!(left[0].0, v1);
}

#[tokio::test]
async fn sse_kms_objects_keep_their_key_in_production_not_in_quarantine() {
    let s = with_production();
    let kms = SseKms {
        key_id: Some("arn:aws:kms:us-east-1:111122223333:key/staging".into()),
        dual_layer: false,
        bucket_key: true,
    };
    let clean = s.put_kms("uploads", "in/a.txt", b"fine", kms.clone());
    let bad = s.put_kms("uploads", "in/e.com", EICAR, kms.clone());
    let p = pipeline(s, staging(signed(quarantining())));
    let report = crate::journey::settle(&p, &created("uploads", "in/a.txt", &clean)).await;
    let Location::Promoted(copy) = &report.location else {
        panic!("not promoted: {}", report.location);
    };
    assert_eq!(p.store().kms_of(copy), Some(kms));
    let report = crate::journey::settle(&p, &created("uploads", "in/e.com", &bad)).await;
    let Location::Quarantined(copy) = &report.location else {
        panic!("not quarantined: {}", report.location);
    };
    assert_eq!(
        p.store().kms_of(copy),
        None,
        "the quarantine bucket's default"
    );
}
