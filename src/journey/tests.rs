//! Every row of the failure table (docs/failures.md), one object at a time, on the store
//! double: each test runs in milliseconds and names the row it proves.

use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;

use crate::action::Location;
use crate::config::{Action, Config, SigningKeySource, Spool, TagOrQuarantine};
use crate::event::ObjectEvent;
use crate::object::{ObjectInfo, ObjectRef, Tags};
use crate::pipeline::Pipeline;
use crate::report::{Disposition, Report, Retry, Settled};
use crate::scan::{Engine, RuleSet};
use crate::signature::SigningKey;
use crate::store::{Hook, MemoryStore, Op, StoreError, Versioning};
use crate::verdict::Verdict;

pub(crate) const EICAR: &[u8] = crate::scan::EICAR.as_bytes();

/// A store with a versioned, an unversioned and a suspended protected bucket, and a versioned
/// quarantine bucket.
pub(crate) fn store() -> MemoryStore {
    let store = MemoryStore::new();
    store.create_bucket("uploads", Versioning::Enabled);
    store.create_bucket("plain", Versioning::Unversioned);
    store.create_bucket("suspended", Versioning::Suspended);
    store.create_bucket("quarantine", Versioning::Enabled);
    store
}

pub(crate) fn quarantining() -> Config {
    Config::new(Action::Quarantine {
        bucket: "quarantine".into(),
    })
}

pub(crate) fn pipeline(store: MemoryStore, config: Config) -> Pipeline<MemoryStore> {
    let engine = Engine::new(RuleSet::embedded().unwrap(), Duration::from_secs(5));
    Pipeline::new(store, engine, config)
}

pub(crate) fn signed(config: Config) -> Config {
    Config {
        signing_key: SigningKeySource::Inline(SigningKey::new(vec![7; 32]).unwrap()),
        ..config
    }
}

/// The event S3 sends for the upload `info` describes.
pub(crate) fn created(bucket: &str, key: &str, info: &ObjectInfo) -> ObjectEvent {
    ObjectEvent {
        object: ObjectRef::new(bucket, key).at_version(info.version_id.clone()),
        size: Some(info.size),
        etag: info.etag.clone(),
        region: None,
        event_name: "ObjectCreated:Put".into(),
        sequencer: None,
        principal: None,
        owner: None,
    }
}

pub(crate) fn tag_change(
    bucket: &str,
    key: &str,
    info: &ObjectInfo,
    principal: Option<&str>,
) -> ObjectEvent {
    ObjectEvent {
        event_name: "ObjectTagging:Put".into(),
        principal: principal.map(String::from),
        ..created(bucket, key, info)
    }
}

pub(crate) fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) fn tag<'a>(tags: &'a Tags, key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

pub(crate) fn settled(report: &Report) -> &Settled {
    match &report.disposition {
        Disposition::Acknowledge(s) => s,
        Disposition::Retry(r) => panic!("retried: {r}"),
    }
}

fn retried(report: &Report) -> &Retry {
    match &report.disposition {
        Disposition::Retry(r) => r,
        Disposition::Acknowledge(s) => panic!("acknowledged: {s}"),
    }
}

fn denied(op: Op) -> StoreError {
    StoreError::AccessDenied {
        op,
        permission: format!("the permission for {op}"),
        detail: "Access Denied".into(),
    }
}

fn transient(op: Op) -> StoreError {
    StoreError::Transient {
        op,
        detail: "SlowDown".into(),
    }
}

/// Runs `f` on the store when the call comes, once.
fn once(store: &MemoryStore, op: Op, f: impl Fn(&MemoryStore) + Send + Sync + 'static) {
    store.on(op, None, Some(1), Hook::Run(Arc::new(f)));
}

#[tokio::test]
async fn a_clean_upload_is_tagged_clean_next_to_the_users_tags_in_three_requests() {
    let s = store();
    let info = s.put("uploads", "a.txt", b"plain text", &[("owner", "alice")]);
    let p = pipeline(s, quarantining());
    let report = crate::journey::settle(&p, &created("uploads", "a.txt", &info)).await;
    assert_eq!(settled(&report), &Settled::Recorded);
    assert_eq!(report.verdict, Some(Verdict::Clean));
    assert_eq!(report.location, Location::InPlace);
    let t = p.store().tags_of(&report.object).unwrap();
    assert_eq!(tag(&t, "owner"), Some("alice"));
    assert_eq!(tag(&t, "scan-result"), Some("Clean"));
    // GetObject, GetObjectTagging, PutObjectTagging.
    assert_eq!(report.requests, 3);
}

#[tokio::test]
async fn an_infected_upload_is_quarantined_once_and_its_version_deleted() {
    let s = store();
    let info = s.put("uploads", "e.com", EICAR, &[("owner", "mallory")]);
    let p = pipeline(s, quarantining());
    let report = crate::journey::settle(&p, &created("uploads", "e.com", &info)).await;
    assert_eq!(settled(&report), &Settled::Recorded);
    let Location::Quarantined(copy) = &report.location else {
        panic!("{:?}", report.location)
    };
    assert_eq!(copy.key, "uploads/e.com");
    let copy_tags = p.store().tags_of(copy).unwrap();
    assert_eq!(tag(&copy_tags, "scan-result"), Some("Infected"));
    assert_eq!(tag(&copy_tags, "owner"), Some("mallory"));
    assert!(tag(&copy_tags, "scan-source").is_some());
    assert!(
        p.store().history("uploads", "e.com").is_empty(),
        "no delete marker left"
    );
    assert_eq!(report.verdict.unwrap().rule_names(), ["EICAR_Test_File"]);
}

#[tokio::test]
async fn an_object_gone_before_the_read_is_acknowledged_naming_an_earlier_copy() {
    let s = store();
    let info = s.put("uploads", "e.com", EICAR, &[]);
    let p = pipeline(s, quarantining());
    let event = created("uploads", "e.com", &info);
    crate::journey::settle(&p, &event).await;
    let again = crate::journey::settle(&p, &event).await;
    match settled(&again) {
        Settled::Gone {
            quarantined: Some(copy),
            ..
        } => assert_eq!(copy.bucket, "quarantine"),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.store().count(Op::CopyObject), 1);
}

#[tokio::test]
async fn too_large_objects_are_unscannable_naming_the_setting_to_raise() {
    let s = store();
    let info = s.put("uploads", "big.bin", &[b'x'; 4096], &[]);
    let config = Config {
        max_object_size: 2048,
        spool: Spool::Off,
        ..quarantining()
    };
    let p = pipeline(s, config);
    let report = crate::journey::settle(&p, &created("uploads", "big.bin", &info)).await;
    let Some(Verdict::Unscannable(reason)) = &report.verdict else {
        panic!("{:?}", report.verdict)
    };
    assert!(
        reason.contains("over MAX_OBJECT_SIZE of 2048 bytes"),
        "{reason}"
    );
    assert_eq!(
        report.location,
        Location::InPlace,
        "tagged where it is by default"
    );
}

#[tokio::test]
async fn unscannable_objects_can_be_quarantined() {
    let s = store();
    let info = s.put("uploads", "big.bin", &[b'x'; 4096], &[]);
    let config = Config {
        max_object_size: 2048,
        spool: Spool::Off,
        action: Action::Tag,
        unscannable: TagOrQuarantine::Quarantine {
            bucket: "quarantine".into(),
        },
        ..quarantining()
    };
    let p = pipeline(s, config);
    let report = crate::journey::settle(&p, &created("uploads", "big.bin", &info)).await;
    assert!(matches!(report.location, Location::Quarantined(_)));
}

#[tokio::test]
async fn a_denied_read_is_tagged_error_naming_the_permission_and_acknowledged() {
    let s = store();
    let info = s.put("uploads", "secret.bin", b"x", &[]);
    s.fail(Op::GetObject, denied(Op::GetObject));
    let p = pipeline(s, quarantining());
    let report = crate::journey::settle(&p, &created("uploads", "secret.bin", &info)).await;
    assert_eq!(settled(&report), &Settled::Recorded);
    let t = p.store().tags_of(&report.object).unwrap();
    assert_eq!(tag(&t, "scan-result"), Some("Error"));
    assert!(
        tag(&t, "scan-detail")
            .unwrap()
            .contains("the permission for GetObject")
    );
    assert_eq!(report.level(), tracing::Level::ERROR);
}

#[tokio::test]
async fn a_transient_read_failure_is_retried_and_nothing_tagged() {
    let s = store();
    let info = s.put("uploads", "busy.txt", b"x", &[]);
    s.fail(Op::GetObject, transient(Op::GetObject));
    let p = pipeline(s, quarantining());
    let report = crate::journey::settle(&p, &created("uploads", "busy.txt", &info)).await;
    assert!(matches!(retried(&report), Retry::Read(_)));
    assert!(p.store().tags_of(&report.object).unwrap().is_empty());
}

#[tokio::test]
async fn an_unversioned_key_replaced_before_the_read_is_acknowledged() {
    let s = store();
    let old = s.put("plain", "k", b"old", &[]);
    s.put("plain", "k", b"new", &[]);
    let p = pipeline(s, quarantining());
    let report = crate::journey::settle(&p, &created("plain", "k", &old)).await;
    assert_eq!(settled(&report), &Settled::Replaced);
    assert!(
        p.store()
            .tags_of(&ObjectRef::new("plain", "k"))
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_replacement_during_tagging_loses_the_verdict_then_is_scanned_itself() {
    for bucket in ["plain", "suspended"] {
        let s = store();
        let info = s.put(bucket, "r.txt", b"clean at first", &[]);
        let b = bucket.to_owned();
        once(&s, Op::PutObjectTagging, move |s| {
            s.put(&b, "r.txt", EICAR, &[]);
        });
        // When the rescan reads, the verdict of the first bytes must already be gone.
        let b = bucket.to_owned();
        s.on(
            Op::GetObject,
            None,
            None,
            Hook::Run(Arc::new(move |s: &MemoryStore| {
                if s.count(Op::GetObject) == 2 {
                    let t = s.tags_of(&ObjectRef::new(&b, "r.txt")).unwrap();
                    assert_eq!(tag(&t, "scan-result"), None, "{t:?}");
                }
            })),
        );
        let p = pipeline(s, quarantining());
        let report = crate::journey::settle(&p, &created(bucket, "r.txt", &info)).await;
        assert_eq!(settled(&report), &Settled::Recorded, "{bucket}");
        assert!(
            matches!(report.location, Location::Quarantined(_)),
            "{bucket}"
        );
        assert_eq!(p.store().count(Op::GetObject), 2, "{bucket}");
    }
}

#[tokio::test]
async fn a_same_size_twin_uploaded_during_tagging_is_scanned_again() {
    let s = store();
    let info = s.put("plain", "t.txt", b"same bytes", &[]);
    once(&s, Op::PutObjectTagging, |s| {
        s.put("plain", "t.txt", b"same bytes", &[]);
    });
    let p = pipeline(s, quarantining());
    let report = crate::journey::settle(&p, &created("plain", "t.txt", &info)).await;
    assert_eq!(settled(&report), &Settled::Recorded);
    assert_eq!(
        p.store().count(Op::GetObject),
        2,
        "same ETag and size, later write time"
    );
}

#[tokio::test]
async fn a_key_replaced_at_every_tagging_is_retried() {
    let s = store();
    let info = s.put("plain", "busy", b"v0", &[]);
    s.on(
        Op::PutObjectTagging,
        None,
        None,
        Hook::Run(Arc::new(|s: &MemoryStore| {
            let n = s.count(Op::PutObjectTagging);
            s.put("plain", "busy", format!("v{n}").as_bytes(), &[]);
        })),
    );
    let p = pipeline(s, quarantining());
    let report = crate::journey::settle(&p, &created("plain", "busy", &info)).await;
    assert!(matches!(retried(&report), Retry::ReplacedTooOften(3)));
}

#[tokio::test]
async fn events_from_the_quarantine_bucket_are_not_scanned() {
    let s = store();
    let info = s.put("quarantine", "uploads/e.com", EICAR, &[]);
    let p = pipeline(s, quarantining());
    let report = crate::journey::settle(&p, &created("quarantine", "uploads/e.com", &info)).await;
    assert_eq!(settled(&report), &Settled::QuarantineBucket);
    assert_eq!(report.requests, 0);
}

#[tokio::test]
async fn objects_of_buckets_not_protected_are_refused_without_a_request() {
    let s = store();
    let info = s.put("plain", "e.com", EICAR, &[]);
    let config = Config {
        protected_buckets: vec!["uploads".into()],
        ..quarantining()
    };
    let p = pipeline(s, config);
    let report = crate::journey::settle(&p, &created("plain", "e.com", &info)).await;
    assert!(
        matches!(&report.disposition, Disposition::Retry(Retry::NotProtected(b)) if b == "plain"),
        "{}",
        report.disposition
    );
    assert_eq!(report.requests, 0);
    assert_eq!(p.store().calls(), vec![]);
}

#[tokio::test]
async fn no_room_for_clean_removes_a_forged_verdict_and_retries() {
    let s = store();
    let mut pairs: Vec<(String, String)> = (0..7).map(|i| (format!("u{i}"), "v".into())).collect();
    pairs.push(("Scan-Result".into(), "Clean".into()));
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let info = s.put("uploads", "c.txt", b"fine", &borrowed);
    let p = pipeline(s, signed(quarantining()));
    let report = crate::journey::settle(&p, &created("uploads", "c.txt", &info)).await;
    assert!(matches!(retried(&report), Retry::Record(_)));
    let t = p.store().tags_of(&report.object).unwrap();
    assert_eq!(t.len(), 7);
    assert!(t.iter().all(|(k, _)| k.starts_with('u')), "{t:?}");
}

#[tokio::test]
async fn no_room_for_infected_drops_user_tags_and_settles() {
    let s = store();
    let pairs: Vec<(String, String)> = (0..10).map(|i| (format!("u{i}"), "v".into())).collect();
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let info = s.put("uploads", "e.com", EICAR, &borrowed);
    let config = Config {
        action: Action::Tag,
        ..quarantining()
    };
    let p = pipeline(s, config);
    let report = crate::journey::settle(&p, &created("uploads", "e.com", &info)).await;
    assert_eq!(settled(&report), &Settled::Recorded);
    let t = p.store().tags_of(&report.object).unwrap();
    assert_eq!(t.len(), 10);
    assert_eq!(tag(&t, "scan-result"), Some("Infected"));
}

#[tokio::test]
async fn denied_tagging_of_a_clean_object_is_acknowledged_unless_a_verdict_is_left() {
    for (user_tags, acknowledged) in [(vec![], true), (vec![("scan-result", "Clean")], false)] {
        let s = store();
        let info = s.put("uploads", "ok.txt", b"fine", &user_tags);
        s.fail(Op::PutObjectTagging, denied(Op::PutObjectTagging));
        let p = pipeline(s, quarantining());
        let report = crate::journey::settle(&p, &created("uploads", "ok.txt", &info)).await;
        assert_eq!(report.is_settled(), acknowledged, "{user_tags:?}");
        if acknowledged {
            assert!(matches!(settled(&report), Settled::NotRecorded(_)));
            assert_eq!(report.level(), tracing::Level::ERROR);
        }
    }
}

#[tokio::test]
async fn denied_tagging_of_an_infected_object_retries_with_tag_only_and_quarantines_otherwise() {
    for (action, settles) in [(Action::Tag, false), (quarantining().action, true)] {
        let s = store();
        let info = s.put("uploads", "e.com", EICAR, &[]);
        s.fail(Op::PutObjectTagging, denied(Op::PutObjectTagging));
        let config = Config {
            action: action.clone(),
            ..quarantining()
        };
        let p = pipeline(s, config);
        let report = crate::journey::settle(&p, &created("uploads", "e.com", &info)).await;
        assert_eq!(report.is_settled(), settles, "{action:?}");
        if settles {
            assert!(matches!(report.location, Location::Quarantined(_)));
        }
    }
}

#[tokio::test]
async fn a_failed_copy_keeps_the_object_tagged_and_retries() {
    let s = store();
    let info = s.put("uploads", "e.com", EICAR, &[]);
    s.fail(Op::CopyObject, denied(Op::CopyObject));
    let p = pipeline(s, quarantining());
    let report = crate::journey::settle(&p, &created("uploads", "e.com", &info)).await;
    assert!(matches!(retried(&report), Retry::Record(_)));
    let t = p.store().tags_of(&report.object).unwrap();
    assert_eq!(tag(&t, "scan-result"), Some("Infected"));
    assert!(p.store().keys("quarantine").is_empty());
}

#[tokio::test]
async fn a_copy_whose_answer_was_lost_is_found_and_reused() {
    let s = store();
    let info = s.put("uploads", "e.com", EICAR, &[]);
    let source = format!(
        "{} {}",
        info.version_id.clone().unwrap(),
        info.etag.clone().unwrap()
    );
    // The copy is made, then its answer is lost.
    once(&s, Op::CopyObject, move |s| {
        s.put(
            "quarantine",
            "uploads/e.com",
            EICAR,
            &[("scan-source", source.as_str())],
        );
    });
    s.on(
        Op::CopyObject,
        None,
        Some(1),
        Hook::Fail(transient(Op::CopyObject)),
    );
    let p = pipeline(s, quarantining());
    let report = crate::journey::settle(&p, &created("uploads", "e.com", &info)).await;
    assert!(
        matches!(report.location, Location::Quarantined(_)),
        "{report:?}"
    );
    assert_eq!(
        p.store().count(Op::CopyObject),
        1,
        "found, not copied again"
    );
    assert_eq!(p.store().history("quarantine", "uploads/e.com").len(), 1);
}

#[tokio::test]
async fn a_failed_delete_is_retried_and_the_retry_reuses_the_copy() {
    let s = store();
    let info = s.put("uploads", "e.com", EICAR, &[]);
    let p = pipeline(s, quarantining());
    let event = created("uploads", "e.com", &info);
    p.store().on(
        Op::DeleteObject,
        None,
        Some(1),
        Hook::Fail(transient(Op::DeleteObject)),
    );
    let first = crate::journey::settle(&p, &event).await;
    assert!(matches!(retried(&first), Retry::Record(_)));
    let again = crate::journey::settle(&p, &event).await;
    assert!(matches!(again.location, Location::Quarantined(_)));
    assert_eq!(
        p.store().count(Op::CopyObject),
        1,
        "copy reused, not duplicated"
    );
    assert_eq!(p.store().history("quarantine", "uploads/e.com").len(), 1);
}

#[tokio::test]
async fn two_deliveries_at_once_leave_one_quarantine_copy() {
    let s = store();
    let info = s.put("uploads", "e.com", EICAR, &[]);
    // Both copy before either has listed: they must converge on one copy.
    let both = Arc::new(tokio::sync::Barrier::new(2));
    s.on(Op::CopyObject, None, Some(2), Hook::Barrier(both));
    let p = pipeline(s, quarantining());
    let event = created("uploads", "e.com", &info);
    let (a, b) = tokio::join!(
        crate::journey::settle(&p, &event),
        crate::journey::settle(&p, &event)
    );
    assert!(a.is_settled() && b.is_settled(), "{a:?} {b:?}");
    assert_eq!(p.store().count(Op::CopyObject), 2, "the race happened");
    assert_eq!(p.store().history("quarantine", "uploads/e.com").len(), 1);
}

#[tokio::test]
async fn a_late_clean_never_lands_on_a_newer_null_version() {
    let s = store();
    let info = s.put("suspended", "doc.txt", b"clean at first", &[]);
    once(&s, Op::PutObjectTagging, |s| {
        s.put("suspended", "doc.txt", EICAR, &[]);
    });
    let p = pipeline(s, quarantining());
    let mut event = created("suspended", "doc.txt", &info);
    event.object.version_id = Some("null".into());
    let report = crate::journey::settle(&p, &event).await;
    assert!(
        matches!(report.location, Location::Quarantined(_)),
        "{report:?}"
    );
    assert!(
        p.store()
            .history("suspended", "doc.txt")
            .iter()
            .all(|(_, b)| b.is_none())
    );
}

#[tokio::test]
async fn a_newer_clean_null_version_is_never_deleted() {
    let s = store();
    let info = s.put("suspended", "doc.txt", EICAR, &[]);
    once(&s, Op::DeleteObject, |s| {
        s.put("suspended", "doc.txt", b"a clean replacement", &[]);
    });
    let p = pipeline(s, quarantining());
    let report = crate::journey::settle(&p, &created("suspended", "doc.txt", &info)).await;
    assert!(report.is_settled());
    let left = p.store().body(&ObjectRef::new("suspended", "doc.txt"));
    assert_eq!(left.as_deref(), Some(&b"a clean replacement"[..]));
    assert_eq!(
        p.store().history("quarantine", "suspended/doc.txt").len(),
        1
    );
}

/// Tags as the (key, value) pairs the store double takes.
pub(crate) fn pairs_of(tags: &Tags) -> Vec<(&str, &str)> {
    tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A copy of a scanned object (same bytes, its tags) into the same protected bucket is skipped
/// as signed Clean without a scan: a small one is read first (GetObject says it has tags, which
/// are then checked), so nothing is written and nothing scanned.
pub(crate) async fn assert_copy_is_skipped_unread(
    p: &Pipeline<MemoryStore>,
    tags: &[(&str, &str)],
) {
    let copy = p.store().put("uploads", "copy.txt", b"plain", tags);
    let puts = p.store().count(Op::PutObjectTagging);
    let skipped = crate::journey::settle(p, &created("uploads", "copy.txt", &copy)).await;
    assert!(matches!(settled(&skipped), Settled::SignedClean { .. }));
    assert_eq!(skipped.timings.scan_ms, 0.0, "not scanned again");
    assert_eq!(
        p.store().count(Op::PutObjectTagging),
        puts,
        "nothing written"
    );
}

#[tokio::test]
async fn a_large_signed_copy_is_skipped_without_being_read() {
    let s = store();
    let big = vec![b'a'; 300 * 1024];
    let info = s.put("uploads", "big.bin", &big, &[]);
    let p = pipeline(s, signed(quarantining()));
    let report = crate::journey::settle(&p, &created("uploads", "big.bin", &info)).await;
    let tags = p.store().tags_of(&report.object).unwrap();
    let copy = p
        .store()
        .put("uploads", "big-copy.bin", &big, &pairs_of(&tags));
    let gets = p.store().count(Op::GetObject);
    let skipped = crate::journey::settle(&p, &created("uploads", "big-copy.bin", &copy)).await;
    assert!(matches!(settled(&skipped), Settled::SignedClean { .. }));
    assert_eq!(p.store().count(Op::GetObject), gets, "not read");
}

#[tokio::test]
async fn a_signed_clean_copy_is_not_read_again_but_forgeries_are() {
    let s = store();
    let info = s.put("uploads", "a.txt", b"plain", &[]);
    let p = pipeline(s, signed(quarantining()));
    let report = crate::journey::settle(&p, &created("uploads", "a.txt", &info)).await;
    let signed_tags = p.store().tags_of(&report.object).unwrap();
    let pairs = pairs_of(&signed_tags);
    assert_copy_is_skipped_unread(&p, &pairs).await;
    // The same tags on other bytes, or next to a case variant, do not verify.
    let mut with_variant = pairs.clone();
    with_variant.push(("SCAN-RESULT", "Clean"));
    for (key, body, tags) in [
        ("forged.com", EICAR, pairs.clone()),
        ("variant.txt", &b"plain"[..], with_variant),
    ] {
        let info = p.store().put("uploads", key, body, &tags);
        let report = crate::journey::settle(&p, &created("uploads", key, &info)).await;
        assert_eq!(settled(&report), &Settled::Recorded, "{key}");
    }
}
