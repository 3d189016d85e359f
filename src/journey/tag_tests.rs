//! Tag changes through the journey: with a key, a change is settled only by a valid signature
//! from the rules in force, whoever S3 names; without one, only the role id field of the
//! principal names the scanner. Every other verdict is rescanned and written over.

use pretty_assertions::assert_eq;

use super::tests::{
    EICAR, created, pipeline, quarantining, settled, signed, store, tag, tag_change, tags,
};
use crate::config::{Action, Config};
use crate::object::ObjectRef;
use crate::report::Settled;
use crate::signature;
use crate::store::{MemoryStore, ObjectStore, Op};
use crate::verdict::Verdict;

#[tokio::test]
async fn tag_changes_are_checked_and_only_others_verdicts_rescanned() {
    let s = store();
    let info = s.put("uploads", "e.com", EICAR, &[]);
    let config = signed(Config {
        action: Action::Tag,
        scanner_role_id: Some("AROASCANNER".into()),
        ..quarantining()
    });
    let p = pipeline(s, config);
    let object = crate::journey::settle(&p, &created("uploads", "e.com", &info))
        .await
        .object;
    let gets = p.store().count(Op::GetObject);

    // With a key the scanner's own change is checked like any other: its signature holds.
    let own = crate::journey::settle(
        &p,
        &tag_change("uploads", "e.com", &info, Some("AWS:AROASCANNER:fn")),
    )
    .await;
    assert!(matches!(settled(&own), Settled::VerdictStillSigned { .. }));
    let intact = crate::journey::settle(&p, &tag_change("uploads", "e.com", &info, None)).await;
    assert!(matches!(
        settled(&intact),
        Settled::VerdictStillSigned { .. }
    ));

    let mut t = p.store().tags_of(&object).unwrap();
    t.retain(|(k, _)| k != "scan-result");
    t.push(("scan-result".into(), "Clean".into()));
    p.store().put_tags(&object, &t).await.unwrap();
    let tampered = crate::journey::settle(
        &p,
        &tag_change("uploads", "e.com", &info, Some("AWS:AROAOTHER:x")),
    )
    .await;
    assert_eq!(settled(&tampered), &Settled::Recorded);
    assert_eq!(p.store().count(Op::GetObject), gets + 1, "scanned again");
    let t = p.store().tags_of(&object).unwrap();
    assert_eq!(tag(&t, "scan-result"), Some("Infected"));

    // Someone else's role, with the scanner's role id as its session name: not the scanner;
    // and even the scanner's own role id does not spare the check of an unsigned verdict.
    for principal in ["AWS:AROAOTHER:AROASCANNER", "AWS:AROASCANNER:fn"] {
        forge_clean(p.store(), &object).await;
        let forged =
            crate::journey::settle(&p, &tag_change("uploads", "e.com", &info, Some(principal)))
                .await;
        assert_eq!(settled(&forged), &Settled::Recorded, "{principal}");
        let t = p.store().tags_of(&object).unwrap();
        assert_eq!(tag(&t, "scan-result"), Some("Infected"), "{principal}");
    }

    p.store()
        .put_tags(&object, &tags(&[("owner", "x")]))
        .await
        .unwrap();
    let removed = crate::journey::settle(&p, &tag_change("uploads", "e.com", &info, None)).await;
    assert_eq!(settled(&removed), &Settled::NoVerdictTags);
}

#[tokio::test]
async fn a_signed_verdict_of_other_rules_put_back_by_a_tag_change_is_rescanned() {
    let s = store();
    let info = s.put("uploads", "e.com", EICAR, &[]);
    let p = pipeline(
        s,
        signed(Config {
            action: Action::Tag,
            ..quarantining()
        }),
    );
    let object = crate::journey::settle(&p, &created("uploads", "e.com", &info))
        .await
        .object;
    // A Clean the scanner really signed for these bytes, but with rules no longer in force (an
    // earlier scan's tags, kept and put back).
    let keys = &p.config.tag_keys;
    let mut old = Verdict::Clean.tags(keys, "0ldru1es0000", "2026-01-01T00:00:00Z");
    let key = p.signing_key.clone().unwrap();
    let read = p.store().head(&object).await.unwrap().unwrap();
    old.push((
        keys.signature.clone(),
        signature::sign(&key, &read, &old, keys),
    ));
    p.store().put_tags(&object, &old).await.unwrap();
    let replayed = crate::journey::settle(
        &p,
        &tag_change("uploads", "e.com", &info, Some("AWS:AROAOTHER:x")),
    )
    .await;
    assert_eq!(settled(&replayed), &Settled::Recorded);
    let t = p.store().tags_of(&object).unwrap();
    assert_eq!(tag(&t, "scan-result"), Some("Infected"));
}

/// Replaces the object's verdict with an unsigned `Clean`, as someone else's tag write would.
pub(crate) async fn forge_clean(store: &MemoryStore, object: &ObjectRef) {
    let mut t = store.tags_of(object).unwrap();
    t.retain(|(k, _)| !k.starts_with("scan-"));
    t.push(("scan-result".into(), "Clean".into()));
    store.put_tags(object, &t).await.unwrap();
}

#[tokio::test]
async fn without_a_key_only_the_role_id_field_makes_a_change_the_scanners_own() {
    let s = store();
    let info = s.put("uploads", "e.com", EICAR, &[]);
    let config = Config {
        action: Action::Tag,
        scanner_role_id: Some("AROASCANNER".into()),
        ..quarantining()
    };
    let p = pipeline(s, config);
    let object = crate::journey::settle(&p, &created("uploads", "e.com", &info))
        .await
        .object;
    let own = crate::journey::settle(
        &p,
        &tag_change("uploads", "e.com", &info, Some("AWS:AROASCANNER:fn")),
    )
    .await;
    assert_eq!(settled(&own), &Settled::OwnTagChange);
    assert_eq!(own.requests, 0);
    forge_clean(p.store(), &object).await;
    let session = crate::journey::settle(
        &p,
        &tag_change("uploads", "e.com", &info, Some("AWS:AROAOTHER:AROASCANNER")),
    )
    .await;
    assert_eq!(settled(&session), &Settled::Recorded);
    assert_eq!(
        tag(&p.store().tags_of(&object).unwrap(), "scan-result"),
        Some("Infected")
    );
}

#[tokio::test]
async fn without_a_key_tag_changes_by_others_are_rescanned_and_unnamed_ones_unchecked() {
    let s = store();
    let info = s.put("uploads", "a.txt", b"plain", &[]);
    let p = pipeline(s, quarantining());
    let unnamed = crate::journey::settle(&p, &tag_change("uploads", "a.txt", &info, None)).await;
    assert_eq!(settled(&unnamed), &Settled::TagChangeUnchecked);
    assert_eq!(unnamed.level(), tracing::Level::WARN);
    let named = crate::journey::settle(
        &p,
        &tag_change("uploads", "a.txt", &info, Some("AWS:AIDAUSER")),
    )
    .await;
    assert_eq!(settled(&named), &Settled::Recorded);
}
