//! Promotion from staging to production buckets through the journey: clean objects move with
//! their tags, everything else stays or is quarantined, and a delivery that died between the
//! copy and the delete is finished by the next one with one production copy.

use pretty_assertions::assert_eq;

use super::tests::{EICAR, created, pipeline, quarantining, settled, signed, store, tag};
use crate::action::Location;
use crate::config::{Config, Promotion};
use crate::object::ObjectRef;
use crate::report::{Disposition, Settled};
use crate::store::{Hook, MemoryStore, Op, StoreError, Versioning};

fn staging(config: Config) -> Config {
    let mut config = config;
    config.promote = vec![Promotion {
        from_bucket: "uploads".into(),
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
    let report = p.settle(&created("uploads", "in/a.txt", &info)).await;
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
    let report = p.settle(&created("uploads", "in/e.com", &bad)).await;
    assert!(
        matches!(report.location, Location::Quarantined(_)),
        "{}",
        report.location
    );
    let report = p
        .settle(&created("uploads", "elsewhere/a.txt", &other))
        .await;
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
    let first = p.settle(&event).await;
    assert!(
        matches!(first.disposition, Disposition::Retry(_)),
        "{}",
        first.disposition
    );
    // The redelivery: the signed Clean skips the scan, and the move is finished.
    let second = p.settle(&event).await;
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
