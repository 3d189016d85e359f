//! Releases on the store double: the round trip quarantine → release → redelivery, what a
//! later delivery does with changed bytes or a forged `Released`, staging buckets, and every
//! refusal.

use std::sync::Arc;

use pretty_assertions::assert_eq;

use super::{ReleaseError, Request};
use crate::action::Location;
use crate::config::{Config, Promotion, SkipSigned};
use crate::event::ObjectEvent;
use crate::journey::tests::{EICAR, created, pipeline, quarantining, settled, signed, store, tag};
use crate::object::ObjectRef;
use crate::pipeline::Pipeline;
use crate::publish::{MemoryPublisher, VERDICTS};
use crate::report::Settled;
use crate::store::{MemoryStore, Versioning};
use crate::verdict::{TagSchema, Verdict};

const BY: &str = "arn:aws:sts::123456789012:assumed-role/ops/alice";

fn request(key: &str) -> Request {
    Request {
        copy: ObjectRef::new("quarantine", key),
        reason: "a false positive (ticket 42)".into(),
        by: BY.into(),
        force: false,
    }
}

fn publishing(config: Config, s: MemoryStore) -> (Pipeline<MemoryStore>, Arc<MemoryPublisher>) {
    let mut config = config;
    config.results.bus = Some("default".into());
    config.results.verdicts = VERDICTS.to_vec();
    let publisher = Arc::new(MemoryPublisher::default());
    let p = pipeline(s, config).with_publisher(Some(publisher.clone()));
    (p, publisher)
}

/// Uploads EICAR as `uploads/<key>` (tagged owner=bob) and quarantines it.
async fn quarantined(p: &Pipeline<MemoryStore>, key: &str) {
    let info = p.store().put("uploads", key, EICAR, &[("owner", "bob")]);
    let report = crate::journey::settle(p, &created("uploads", key, &info)).await;
    assert!(
        matches!(report.location, Location::Quarantined(_)),
        "{}",
        report.location
    );
}

/// The event of the object now at `uploads/<key>`; `announced`: with its size (a small one
/// is then read before its tags are).
async fn delivered(p: &Pipeline<MemoryStore>, key: &str, announced: bool) -> ObjectEvent {
    let object = ObjectRef::new("uploads", key);
    let info = crate::store::ObjectStore::head(p.store(), &object)
        .await
        .unwrap()
        .unwrap();
    let mut event = created("uploads", key, &info);
    if !announced {
        event.size = None;
    }
    event
}

#[tokio::test]
async fn a_released_object_is_back_signed_and_kept_on_every_redelivery() {
    let (p, publisher) = publishing(signed(quarantining()), store());
    quarantined(&p, "e.com").await;
    let report = crate::release::release(&p, &request("uploads/e.com"))
        .await
        .unwrap();
    assert_eq!(report.object.key, "e.com");
    assert_eq!(report.location, Location::InPlace);
    let released = Verdict::Released {
        by: BY.into(),
        reason: "a false positive (ticket 42)".into(),
    };
    assert_eq!(report.verdict.as_ref(), Some(&released));
    let s = p.store();
    assert!(
        s.history("quarantine", "uploads/e.com")
            .iter()
            .all(|(_, b)| b.is_none())
    );
    let t = s.tags_of(&report.object).unwrap();
    assert_eq!(tag(&t, "scan-result"), Some("Released"));
    assert_eq!(tag(&t, "owner"), Some("bob"));
    assert_eq!(
        tag(&t, "scan-detail"),
        Some(
            "released by arn:aws:sts::123456789012:assumed-role/ops/alice: a false positive _ticket 42_"
        )
    );
    assert!(tag(&t, "scan-signature").is_some_and(|s| s.starts_with("v1.")));
    let published = publisher.published.lock().unwrap().clone();
    assert_eq!(published.last().unwrap()["verdict"], "Released");
    // Read first (announced small), or tags first: kept either way, never read to be scanned.
    for announced in [true, false] {
        let again = crate::journey::settle(&p, &delivered(&p, "e.com", announced).await).await;
        assert!(
            matches!(settled(&again), Settled::SignedReleased { .. }),
            "{again:?}"
        );
        // As the signed detail tag holds it: S3's tag alphabet.
        let kept = Verdict::Released {
            by: BY.into(),
            reason: "a false positive _ticket 42_".into(),
        };
        assert_eq!(again.verdict.as_ref(), Some(&kept));
        assert_eq!(again.location, Location::InPlace);
        assert_eq!(again.timings.scan_ms, 0.0);
    }
    assert_eq!(s.body(&ObjectRef::new("uploads", "e.com")).unwrap(), EICAR);
}

#[tokio::test]
async fn a_released_object_is_kept_whatever_skip_signed_and_the_rules_say() {
    let mut config = signed(quarantining());
    config.skip_signed = SkipSigned::Never;
    let p = pipeline(store(), config);
    quarantined(&p, "e.com").await;
    crate::release::release(&p, &request("uploads/e.com"))
        .await
        .unwrap();
    for announced in [true, false] {
        let again = crate::journey::settle(&p, &delivered(&p, "e.com", announced).await).await;
        assert!(
            matches!(settled(&again), Settled::SignedReleased { .. }),
            "{again:?}"
        );
    }
    // A signed Clean is still scanned again under SKIP_SIGNED=never.
    let info = p.store().put("uploads", "a.txt", b"fine", &[]);
    crate::journey::settle(&p, &created("uploads", "a.txt", &info)).await;
    let again = crate::journey::settle(&p, &delivered(&p, "a.txt", true).await).await;
    assert_eq!(settled(&again), &Settled::Recorded);
}

#[tokio::test]
async fn changed_bytes_under_released_tags_are_scanned() {
    let p = pipeline(store(), signed(quarantining()));
    quarantined(&p, "e.com").await;
    let report = crate::release::release(&p, &request("uploads/e.com"))
        .await
        .unwrap();
    let t = p.store().tags_of(&report.object).unwrap();
    let pairs: Vec<(&str, &str)> = t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // The released tags copied onto other bytes: an EICAR with a line more.
    let other = [EICAR, b"\n"].concat();
    let info = p.store().put("uploads", "copy.com", &other, &pairs);
    let again = crate::journey::settle(&p, &created("uploads", "copy.com", &info)).await;
    assert_eq!(settled(&again), &Settled::Recorded);
    assert_eq!(again.verdict.as_ref().map(Verdict::name), Some("Infected"));
    assert!(matches!(again.location, Location::Quarantined(_)));
}

#[tokio::test]
async fn a_forged_released_tag_is_scanned() {
    let p = pipeline(store(), signed(quarantining()));
    let forged = [
        ("scan-result", "Released"),
        (
            "scan-detail",
            "released by arn:aws:iam::1:user/me: trust me",
        ),
        ("scan-signature", "v1.00"),
    ];
    for (key, tags) in [("f.com", &forged[..]), ("u.com", &forged[..2])] {
        let info = p.store().put("uploads", key, EICAR, tags);
        for announced in [true, false] {
            let mut event = created("uploads", key, &info);
            if !announced {
                event.size = None;
            }
            let report = crate::journey::settle(&p, &event).await;
            if matches!(report.location, Location::Gone) {
                continue; // quarantined by the first delivery
            }
            assert_eq!(
                report.verdict.as_ref().map(Verdict::name),
                Some("Infected"),
                "{key}"
            );
        }
    }
}

fn staging(config: Config, promote_released: bool) -> Config {
    let mut config = config;
    config.promote = vec![Promotion {
        from_bucket: "uploads".into(),
        from_prefix: String::new(),
        to_bucket: "production".into(),
        to_prefix: String::new(),
    }];
    config.promote_released = promote_released;
    config
}

#[tokio::test]
async fn a_released_object_in_staging_is_scanned_before_promotion_unless_promote_released() {
    for promote_released in [false, true] {
        let s = store();
        s.create_bucket("production", Versioning::Enabled);
        let p = pipeline(s, staging(signed(quarantining()), promote_released));
        quarantined(&p, "e.com").await;
        crate::release::release(&p, &request("uploads/e.com"))
            .await
            .unwrap();
        let again = crate::journey::settle(&p, &delivered(&p, "e.com", true).await).await;
        if promote_released {
            assert!(matches!(settled(&again), Settled::SignedReleased { .. }));
            let Location::Promoted(copy) = &again.location else {
                panic!("not promoted: {}", again.location);
            };
            let t = p.store().tags_of(copy).unwrap();
            assert_eq!(tag(&t, "scan-result"), Some("Released"));
        } else {
            // Scanned again: the rescan decides, and EICAR goes back to quarantine.
            assert_eq!(again.verdict.as_ref().map(Verdict::name), Some("Infected"));
            assert!(matches!(again.location, Location::Quarantined(_)));
        }
    }
}

#[tokio::test]
async fn other_schemas_write_released_as_their_clean_value_and_still_keep_it() {
    let mut config = signed(quarantining());
    config.tag_keys.schema = TagSchema::GuardDuty;
    config.tag_keys.result = "GuardDutyMalwareScanStatus".into();
    let p = pipeline(store(), config);
    quarantined(&p, "e.com").await;
    let report = crate::release::release(&p, &request("uploads/e.com"))
        .await
        .unwrap();
    let t = p.store().tags_of(&report.object).unwrap();
    assert_eq!(
        tag(&t, "GuardDutyMalwareScanStatus"),
        Some("NO_THREATS_FOUND")
    );
    let again = crate::journey::settle(&p, &delivered(&p, "e.com", true).await).await;
    assert!(
        matches!(settled(&again), Settled::SignedReleased { .. }),
        "{again:?}"
    );
}

#[tokio::test]
async fn releases_are_refused_without_key_reason_quarantine_copy_or_origin() {
    let unsigned = pipeline(store(), quarantining());
    quarantined(&unsigned, "e.com").await;
    let refused = crate::release::release(&unsigned, &request("uploads/e.com")).await;
    assert_eq!(refused.unwrap_err(), ReleaseError::NoSigningKey);

    let p = pipeline(store(), signed(quarantining()));
    quarantined(&p, "e.com").await;
    let blank = Request {
        reason: "  ".into(),
        ..request("uploads/e.com")
    };
    assert_eq!(
        crate::release::release(&p, &blank).await.unwrap_err(),
        ReleaseError::NoReason
    );
    let elsewhere = Request {
        copy: ObjectRef::new("uploads", "e.com"),
        ..request("uploads/e.com")
    };
    assert!(matches!(
        crate::release::release(&p, &elsewhere).await.unwrap_err(),
        ReleaseError::NotQuarantine { .. }
    ));
    assert!(matches!(
        crate::release::release(&p, &request("uploads/none.com"))
            .await
            .unwrap_err(),
        ReleaseError::NotFound(_)
    ));
    // Put there by hand: no source tag, no record of where it came from.
    p.store().put("quarantine", "uploads/hand.com", EICAR, &[]);
    assert!(matches!(
        crate::release::release(&p, &request("uploads/hand.com"))
            .await
            .unwrap_err(),
        ReleaseError::NoOrigin { .. }
    ));
    // Nothing was moved.
    assert!(
        p.store()
            .body(&ObjectRef::new("quarantine", "uploads/e.com"))
            .is_some()
    );
    assert!(
        p.store()
            .body(&ObjectRef::new("uploads", "e.com"))
            .is_none()
    );
}

#[tokio::test]
async fn a_newer_upload_at_the_origin_is_not_overwritten_unless_forced() {
    let p = pipeline(store(), signed(quarantining()));
    quarantined(&p, "e.com").await;
    p.store().put("uploads", "e.com", b"a newer upload", &[]);
    let refused = crate::release::release(&p, &request("uploads/e.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ReleaseError::OriginTaken { .. }),
        "{refused}"
    );
    assert!(
        p.store()
            .body(&ObjectRef::new("quarantine", "uploads/e.com"))
            .is_some()
    );
    let forced = Request {
        force: true,
        ..request("uploads/e.com")
    };
    let report = crate::release::release(&p, &forced).await.unwrap();
    assert_eq!(p.store().body(&report.object).unwrap(), EICAR);
    // Versioned: the newer upload stays, as the version before.
    let history = p.store().history("uploads", "e.com");
    assert_eq!(history.len(), 2);
    assert!(
        history
            .iter()
            .any(|(_, b)| b.as_deref() == Some(&b"a newer upload"[..]))
    );
}

#[test]
fn the_detail_tag_names_who_and_why_and_reads_back() {
    let released = Verdict::Released {
        by: BY.into(),
        reason: "fine: really".into(),
    };
    let detail = released.released_detail().unwrap();
    assert_eq!(Verdict::released_from_detail(&detail), Some(released));
    assert_eq!(Verdict::released_from_detail("object is 5 bytes"), None);
}

#[tokio::test]
async fn a_released_verdict_from_other_rules_stands_on_tag_changes_and_deliveries() {
    let p = pipeline(store(), signed(quarantining()));
    quarantined(&p, "e.com").await;
    let report = crate::release::release(&p, &request("uploads/e.com"))
        .await
        .unwrap();
    // Released under other rules than those in force, and a tag of the user's added.
    let info = crate::store::ObjectStore::head(p.store(), &report.object)
        .await
        .unwrap()
        .unwrap();
    let released = report.verdict.clone().unwrap();
    let mut t = crate::record::verdict_tags(
        &p.config.tag_keys,
        p.signing_key.as_ref(),
        &info,
        &released,
        "0123456789ab",
    );
    t.push(("team".into(), "red".into()));
    crate::store::ObjectStore::put_tags(p.store(), &report.object, &t)
        .await
        .unwrap();
    let event = delivered(&p, "e.com", true).await;
    let changed = crate::journey::tests::tag_change("uploads", "e.com", &info_of(&event), None);
    let again = crate::journey::settle(&p, &changed).await;
    assert!(
        matches!(settled(&again), Settled::VerdictStillSigned { .. }),
        "{again:?}"
    );
    assert_eq!(again.location, Location::InPlace);
    let again = crate::journey::settle(&p, &event).await;
    assert!(
        matches!(settled(&again), Settled::SignedReleased { .. }),
        "{again:?}"
    );
}

fn info_of(event: &ObjectEvent) -> crate::object::ObjectInfo {
    crate::object::ObjectInfo {
        version_id: event.object.version_id.clone(),
        size: event.size.unwrap_or(0),
        etag: event.etag.clone(),
        ..crate::object::ObjectInfo::default()
    }
}

#[tokio::test]
async fn a_copy_whose_etag_changed_is_signed_again_for_its_bytes() {
    let p = pipeline(store(), signed(quarantining()));
    let info = p.store().put("uploads", "x", b"bytes", &[]);
    let object = ObjectRef::new("uploads", "x").at_version(info.version_id.clone());
    let key = p.signing_key.clone().unwrap();
    let keys = &p.config.tag_keys;
    let verdict = Verdict::Released {
        by: BY.into(),
        reason: "fine".into(),
    };
    // Signed for the quarantine copy, whose ETag a multipart copy does not keep.
    let before = crate::object::ObjectInfo {
        etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
        ..info.clone()
    };
    let tags = crate::record::verdict_tags(
        &p.config.tag_keys,
        p.signing_key.as_ref(),
        &before,
        &verdict,
        "abc",
    );
    let check = crate::signature::verify(&key, &info, &tags, keys);
    assert_eq!(check, crate::signature::Check::Invalid);
    crate::store::ObjectStore::put_tags(p.store(), &object, &tags)
        .await
        .unwrap();
    let now = super::sign_restored(&p, &key, &object, tags).await.unwrap();
    let written = p.store().tags_of(&object).unwrap();
    let check = crate::signature::verify(&key, &now, &written, keys);
    assert_eq!(check.released(keys), Some(verdict));
}

#[tokio::test]
async fn a_release_interrupted_after_its_copy_is_finished_by_the_next_with_one_copy() {
    let p = pipeline(store(), signed(quarantining()));
    quarantined(&p, "e.com").await;
    let denied = crate::store::StoreError::AccessDenied {
        op: crate::store::Op::DeleteObject,
        permission: "s3:DeleteObjectVersion".into(),
        detail: "Access Denied".into(),
    };
    let copy = "uploads/e.com";
    p.store().on(
        crate::store::Op::DeleteObject,
        Some(copy),
        Some(1),
        crate::store::Hook::Fail(denied),
    );
    let failed = crate::release::release(&p, &request(copy))
        .await
        .unwrap_err();
    assert!(matches!(failed, ReleaseError::Move(_)), "{failed}");
    assert!(
        p.store()
            .body(&ObjectRef::new("quarantine", copy))
            .is_some()
    );
    // The copy back is there: the same bytes, so the next release is not refused, and reuses it.
    let report = crate::release::release(&p, &request(copy)).await.unwrap();
    assert_eq!(p.store().history("uploads", "e.com").len(), 1);
    assert!(
        p.store()
            .body(&ObjectRef::new("quarantine", copy))
            .is_none()
    );
    let t = p.store().tags_of(&report.object).unwrap();
    assert_eq!(tag(&t, "scan-result"), Some("Released"));
}
