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
    let report = p.settle(&created("uploads", "logs/e.com", &info)).await;
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
async fn with_ignore_a_skipped_object_costs_no_request() {
    let s = store();
    let info = s.put("uploads", "data/A.CSV", b"a,b", &[]);
    let big = s.put("uploads", "big.bin", &[0u8; 2000], &[]);
    let p = pipeline(s, skipping(SkippedAction::Ignore));
    for (key, info) in [("data/A.CSV", &info), ("big.bin", &big)] {
        let report = p.settle(&created("uploads", key, info)).await;
        assert_eq!(settled(&report), &Settled::NotTagged);
        assert_eq!(report.verdict.as_ref().map(Verdict::name), Some("Skipped"));
        assert_eq!(report.requests, 0, "{key}");
    }
    assert_eq!(p.store().calls(), vec![]);
}

#[tokio::test]
async fn a_tag_change_on_a_skipped_key_is_acknowledged_without_a_request() {
    let s = store();
    let info = s.put("uploads", "logs/a.txt", b"x", &[]);
    let p = pipeline(s, skipping(SkippedAction::Tag));
    let event = ObjectEvent {
        event_name: "ObjectTagging:Put".into(),
        ..created("uploads", "logs/a.txt", &info)
    };
    let report = p.settle(&event).await;
    assert_eq!(settled(&report), &Settled::NotTagged);
    assert_eq!(p.store().calls(), vec![]);
}

#[tokio::test]
async fn objects_the_filters_let_through_are_scanned_and_an_unversioned_skip_is_checked() {
    let s = store();
    let info = s.put("uploads", "data/e.com", EICAR, &[]);
    let plain = s.put("plain", "logs/x", b"x", &[]);
    let p = pipeline(s, skipping(SkippedAction::Tag));
    let report = p.settle(&created("uploads", "data/e.com", &info)).await;
    assert_eq!(report.verdict.as_ref().map(Verdict::name), Some("Infected"));
    // An unversioned key: the tags land only while it still holds the announced upload.
    let report = p.settle(&created("plain", "logs/x", &plain)).await;
    assert_eq!(settled(&report), &Settled::Recorded);
    let tags = p.store().tags_of(&report.object).unwrap();
    assert_eq!(tag(&tags, "scan-result"), Some("Skipped"));
}
