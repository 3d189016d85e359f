//! Filters through the journey: a skipped object is never read, gets `Skipped` (never
//! `Clean`) with its reason, or nothing at all.

use pretty_assertions::assert_eq;

use super::tests::{EICAR, created, pipeline, quarantining, settled, signed, store, tag};
use crate::event::ObjectEvent;
use crate::filter::SkippedAction;
use crate::report::Settled;
use crate::store::Op;
use crate::verdict::Verdict;

fn skipping(action: SkippedAction) -> crate::Config {
    let mut config = signed(quarantining());
    config.filters.prefixes = vec!["logs/".into()];
    config.filters.suffixes = vec![".csv".into()];
    config.filters.size_above = Some(1000);
    config.filters.action = action;
    config
}

#[tokio::test]
async fn a_skipped_object_is_tagged_skipped_with_its_reason_and_never_read() {
    let s = store();
    // Infected bytes under a skipped prefix: the filter is the user's choice, and the tag
    // says Skipped, never Clean.
    let info = s.put("uploads", "logs/e.com", EICAR, &[("team", "a")]);
    let p = pipeline(s, skipping(SkippedAction::Tag));
    let report = crate::journey::settle(&p, &created("uploads", "logs/e.com", &info)).await;
    assert_eq!(settled(&report), &Settled::Recorded);
    assert!(matches!(&report.verdict, Some(Verdict::Skipped(why)) if why.contains("logs/")));
    assert_eq!(p.store().count(Op::GetObject), 0);
    let tags = p.store().tags_of(&report.object).unwrap();
    assert_eq!(tag(&tags, "scan-result"), Some("Skipped"));
    assert!(
        tag(&tags, "scan-detail")
            .unwrap()
            .contains("SKIP_KEY_PREFIXES")
    );
    assert!(tag(&tags, "scan-signature").is_some());
    assert_eq!(tag(&tags, "team"), Some("a"));
    // Not quarantined: it was not judged.
    assert_eq!(p.store().keys("quarantine"), Vec::<String>::new());
}

#[tokio::test]
async fn with_ignore_a_skipped_object_costs_one_read_of_its_tags() {
    let s = store();
    let info = s.put("uploads", "data/A.CSV", b"a,b", &[("team", "a")]);
    let big = s.put("uploads", "big.bin", &[0u8; 2000], &[]);
    let p = pipeline(s, skipping(SkippedAction::Ignore));
    for (key, info) in [("data/A.CSV", &info), ("big.bin", &big)] {
        let report = crate::journey::settle(&p, &created("uploads", key, info)).await;
        assert_eq!(settled(&report), &Settled::NotTagged);
        assert_eq!(report.verdict.as_ref().map(Verdict::name), Some("Skipped"));
        assert_eq!(report.requests, 1, "{key}");
    }
    assert_eq!(p.store().count(Op::GetObjectTagging), 2);
    assert_eq!(p.store().calls().len(), 2, "{:?}", p.store().calls());
}

#[tokio::test]
async fn with_ignore_verdict_tags_the_scanner_did_not_sign_are_taken_off() {
    let s = store();
    let forged = [("scan-result", "Clean"), ("team", "a")];
    let info = s.put("uploads", "logs/e.com", EICAR, &forged);
    let variant = s.put("uploads", "logs/v.txt", b"v", &[("Scan-Result", "Clean")]);
    let p = pipeline(s, skipping(SkippedAction::Ignore));
    for (key, info) in [("logs/e.com", &info), ("logs/v.txt", &variant)] {
        let report = crate::journey::settle(&p, &created("uploads", key, info)).await;
        assert_eq!(settled(&report), &Settled::NotTagged, "{key}");
        assert_eq!(report.verdict.as_ref().map(Verdict::name), Some("Skipped"));
    }
    let object = |key: &str, info: &crate::ObjectInfo| {
        crate::ObjectRef::new("uploads", key).at_version(info.version_id.clone())
    };
    let tags = p.store().tags_of(&object("logs/e.com", &info)).unwrap();
    assert_eq!(tags, vec![("team".to_owned(), "a".to_owned())]);
    assert_eq!(
        p.store().tags_of(&object("logs/v.txt", &variant)).unwrap(),
        vec![]
    );
    assert_eq!(p.store().count(Op::GetObject), 0, "still never read");
}

#[tokio::test]
async fn with_ignore_the_scanners_own_signed_verdict_stays() {
    let s = store();
    let info = s.put("uploads", "logs/a.txt", b"x", &[]);
    let mut p = pipeline(s, skipping(SkippedAction::Tag));
    let report = crate::journey::settle(&p, &created("uploads", "logs/a.txt", &info)).await;
    let before = p.store().tags_of(&report.object).unwrap();
    p.config.filters.action = SkippedAction::Ignore;
    let again = crate::journey::settle(&p, &created("uploads", "logs/a.txt", &info)).await;
    assert_eq!(settled(&again), &Settled::NotTagged);
    assert_eq!(p.store().tags_of(&report.object).unwrap(), before);
}

#[tokio::test]
async fn tag_changes_on_a_skipped_object_are_checked_and_a_forged_verdict_rescanned() {
    let s = store();
    let info = s.put("uploads", "logs/a.txt", b"x", &[]);
    let p = pipeline(s, skipping(SkippedAction::Tag));
    let report = crate::journey::settle(&p, &created("uploads", "logs/a.txt", &info)).await;
    let tag_change = ObjectEvent {
        event_name: "ObjectTagging:Put".into(),
        ..created("uploads", "logs/a.txt", &info)
    };
    // The scanner's own Skipped tags: still its valid signature, nothing to do.
    let own = crate::journey::settle(&p, &tag_change).await;
    assert!(
        matches!(settled(&own), Settled::VerdictStillSigned { .. }),
        "{}",
        own.disposition
    );
    // Someone else's Clean on a skipped object is not left standing: the object is scanned.
    let forged = vec![("scan-result".to_owned(), "Clean".to_owned())];
    crate::ObjectStore::put_tags(p.store(), &report.object, &forged)
        .await
        .unwrap();
    let rescanned = crate::journey::settle(&p, &tag_change).await;
    assert_eq!(rescanned.verdict.as_ref().map(Verdict::name), Some("Clean"));
    assert!(rescanned.timings.scan_ms > 0.0 || p.store().count(Op::GetObject) == 1);
    let tags = p.store().tags_of(&report.object).unwrap();
    assert!(
        tag(&tags, "scan-signature").is_some(),
        "the scanner's own verdict now"
    );
}

#[tokio::test]
async fn a_listed_size_that_no_longer_holds_is_scanned_not_skipped() {
    let s = store();
    // Listed (backlog, Batch Operations: no ETag) as 2000 bytes, over SKIP_SIZE_ABOVE; the
    // key holds 10 bytes by the time it is handled.
    let now = s.put("plain", "data.bin", b"0123456789", &[]);
    let p = pipeline(s, skipping(SkippedAction::Tag));
    let event = ObjectEvent {
        size: Some(2000),
        etag: None,
        ..created("plain", "data.bin", &now)
    };
    let report = crate::journey::settle(&p, &event).await;
    assert_eq!(report.verdict.as_ref().map(Verdict::name), Some("Clean"));
    assert_eq!(p.store().count(Op::GetObject), 1);
}

#[tokio::test]
async fn objects_the_filters_let_through_are_scanned_and_an_unversioned_skip_is_checked() {
    let s = store();
    let info = s.put("uploads", "data/e.com", EICAR, &[]);
    let plain = s.put("plain", "logs/x", b"x", &[]);
    let p = pipeline(s, skipping(SkippedAction::Tag));
    let report = crate::journey::settle(&p, &created("uploads", "data/e.com", &info)).await;
    assert_eq!(report.verdict.as_ref().map(Verdict::name), Some("Infected"));
    // An unversioned key: the tags land only while it still holds the announced upload.
    let report = crate::journey::settle(&p, &created("plain", "logs/x", &plain)).await;
    assert_eq!(settled(&report), &Settled::Recorded);
    let tags = p.store().tags_of(&report.object).unwrap();
    assert_eq!(tag(&tags, "scan-result"), Some("Skipped"));
}
