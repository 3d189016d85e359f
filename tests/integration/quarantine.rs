//! What happens to infected objects: quarantine (copy, verify, delete), delete, and the
//! idempotence that makes redelivery safe.

use std::time::Duration;

use pretty_assertions::assert_eq;
use s3_yara_scan::{Action, Engine, Pipeline, RuleSet};

use crate::support::*;
use crate::tagging::with_version;

/// EICAR is copied to the quarantine bucket under `<bucket>/<key>` with its metadata, content
/// type, the verdict and the user's tags, and is gone from the protected bucket.
#[tokio::test]
async fn eicar_is_quarantined_with_tags_and_metadata() {
    let emu = emulator().await;
    let w = emu.wire("eicar", Options::default()).await;
    emu.s3
        .put_object()
        .bucket(&w.bucket)
        .key("inbox/eicar.com")
        .body(EICAR.as_bytes().to_vec().into())
        .content_type("application/octet-stream")
        .metadata("uploaded-by", "mallory")
        .tagging("owner=bob")
        .send()
        .await
        .unwrap();
    let records = emu.notifications(&w, 1).await;
    acknowledged(&emu.pipeline(config(&w)), records).await;

    assert!(!emu.exists(&w.bucket, "inbox/eicar.com").await);
    let qkey = format!("{}/inbox/eicar.com", w.bucket);
    let head = emu
        .s3
        .head_object()
        .bucket(&w.quarantine)
        .key(&qkey)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/octet-stream"));
    assert_eq!(
        head.metadata()
            .unwrap()
            .get("uploaded-by")
            .map(String::as_str),
        Some("mallory")
    );
    assert_eq!(head.content_length(), Some(EICAR.len() as i64));
    let tags = emu.tags(&w.quarantine, &qkey, None).await;
    let map = tag_map(&tags);
    assert_eq!(map["scan-result"], "Infected");
    assert_eq!(map["scan-matches"], "EICAR_Test_File");
    assert_eq!(map["owner"], "bob");
}

/// Keys with spaces, `+`, `%` and non-ASCII characters are decoded from the event, scanned,
/// tagged and quarantined under their real names.
#[tokio::test]
async fn encoded_keys_are_scanned_and_acted_on() {
    let emu = emulator().await;
    let w = emu.wire("keys", Options::default()).await;
    let clean = [
        "my file.txt",
        "a+b=c.txt",
        "100% done.txt",
        "café/naïve résumé.txt",
    ];
    let infected = ["bad file+1%.com", "ünïcödé/eicar 2.com"];
    for key in clean {
        emu.put(&w.bucket, key, "plain text").await;
    }
    for key in infected {
        emu.put(&w.bucket, key, EICAR).await;
    }
    let records = emu.notifications(&w, clean.len() + infected.len()).await;
    acknowledged(&emu.pipeline(config(&w)), records).await;
    for key in clean {
        assert_eq!(
            emu.tag(&w.bucket, key, "scan-result").await.as_deref(),
            Some("Clean"),
            "{key}"
        );
    }
    for key in infected {
        assert!(!emu.exists(&w.bucket, key).await, "{key} left in place");
        let qkey = format!("{}/{key}", w.bucket);
        assert_eq!(
            emu.tag(&w.quarantine, &qkey, "scan-result")
                .await
                .as_deref(),
            Some("Infected"),
            "{key}"
        );
    }
}

/// In a versioned bucket, the infected version named by the event is quarantined and that
/// version deleted; a newer clean version of the same key is left alone.
#[tokio::test]
async fn versioned_bucket_quarantines_the_exact_version() {
    let emu = emulator().await;
    let w = emu
        .wire(
            "vquar",
            Options {
                versioned: true,
                ..Options::default()
            },
        )
        .await;
    let v1 = emu.put(&w.bucket, "f.bin", EICAR).await.unwrap();
    let v2 = emu.put(&w.bucket, "f.bin", "clean now").await.unwrap();
    let mut records = emu.notifications(&w, 2).await;
    with_version(&mut records[0], &v1);
    with_version(&mut records[1], &v2);
    acknowledged(&emu.pipeline(config(&w)), records).await;

    // v1 is gone (deleted by version: no delete marker), v2 is current and clean.
    assert_eq!(
        emu.versions(&w.bucket).await,
        [("f.bin".to_string(), false)]
    );
    let current = emu
        .s3
        .head_object()
        .bucket(&w.bucket)
        .key("f.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(current.version_id(), Some(v2.as_str()));
    assert_eq!(
        tag_map(&emu.tags(&w.bucket, "f.bin", Some(&v2)).await)["scan-result"],
        "Clean"
    );
    let copy = emu
        .s3
        .get_object()
        .bucket(&w.quarantine)
        .key(format!("{}/f.bin", w.bucket))
        .send()
        .await
        .unwrap();
    let bytes = copy.body.collect().await.unwrap().into_bytes();
    assert_eq!(&bytes[..], EICAR.as_bytes());
}

/// An event without a version (as moto sends) on a versioned bucket: the function acts on the
/// version GetObject returned, and deletes that version rather than adding a delete marker.
#[tokio::test]
async fn versionless_event_acts_on_the_version_read() {
    let emu = emulator().await;
    let w = emu
        .wire(
            "vless",
            Options {
                versioned: true,
                ..Options::default()
            },
        )
        .await;
    emu.put(&w.bucket, "x.com", EICAR).await.unwrap();
    let records = emu.notifications(&w, 1).await;
    acknowledged(&emu.pipeline(config(&w)), records).await;
    assert!(emu.versions(&w.bucket).await.is_empty());
    assert_eq!(emu.versions(&w.quarantine).await.len(), 1);
}

/// Redelivery of a message whose object was already quarantined is acknowledged, and the
/// quarantine bucket still holds exactly one copy.
#[tokio::test]
async fn redelivery_of_quarantined_object_is_acknowledged_without_duplicate() {
    let emu = emulator().await;
    let w = emu.wire("redeliver", Options::default()).await;
    emu.put(&w.bucket, "e.com", EICAR).await;
    let records = emu.notifications(&w, 1).await;
    let pipeline = emu.pipeline(config(&w));
    let first = s3_yara_scan::batch::process(&pipeline, batch(records.clone()))
        .await
        .unwrap();
    let second = s3_yara_scan::batch::process(&pipeline, batch(records))
        .await
        .unwrap();
    assert!(first.batch_item_failures.is_empty());
    assert!(second.batch_item_failures.is_empty());
    let qkey = format!("{}/e.com", w.bucket);
    assert_eq!(emu.versions(&w.quarantine).await, [(qkey, false)]);
}

/// A copy already at the quarantine key with the same size but made from another source
/// (another version, or planted) is not taken for this object's copy: a new copy is made
/// before the source is deleted, so nothing is lost.
#[tokio::test]
async fn same_size_copy_of_another_source_is_not_reused() {
    let emu = emulator().await;
    let w = emu.wire("notreused", Options::default()).await;
    let planted = EICAR.replace("TEST", "XXXX");
    emu.put(
        &w.quarantine,
        &format!("{}/c.com", w.bucket),
        planted.clone(),
    )
    .await;
    emu.put(&w.bucket, "c.com", EICAR).await;
    let records = emu.notifications(&w, 1).await;
    acknowledged(&emu.pipeline(config(&w)), records).await;
    assert!(!emu.exists(&w.bucket, "c.com").await);
    let qkey = format!("{}/c.com", w.bucket);
    assert_eq!(emu.versions(&w.quarantine).await.len(), 2);
    let copy = emu
        .s3
        .get_object()
        .bucket(&w.quarantine)
        .key(&qkey)
        .send()
        .await
        .unwrap();
    assert_eq!(
        &copy.body.collect().await.unwrap().into_bytes()[..],
        EICAR.as_bytes()
    );
    let tags = emu.tags(&w.quarantine, &qkey, None).await;
    assert!(
        tag_map(&tags)["scan-source"].starts_with("null "),
        "{tags:?}"
    );
}

/// With `ACTION=delete` the infected version is deleted and nothing is copied.
#[tokio::test]
async fn delete_action_removes_the_object() {
    let emu = emulator().await;
    let w = emu.wire("delete", Options::default()).await;
    emu.put(&w.bucket, "d.com", EICAR).await;
    emu.put(&w.bucket, "ok.txt", "fine").await;
    let records = emu.notifications(&w, 2).await;
    let config = with_action(Action::Delete);
    acknowledged(&emu.pipeline(config), records).await;
    assert!(!emu.exists(&w.bucket, "d.com").await);
    assert!(emu.exists(&w.bucket, "ok.txt").await);
    assert!(emu.versions(&w.quarantine).await.is_empty());
}

/// Objects over the single-copy limit go through UploadPartCopy (here with a 5 MiB threshold
/// so that the test stays small) and keep their metadata. Also shows the scanner taking rules
/// from another source than the embedded set.
#[tokio::test]
async fn large_objects_are_quarantined_by_multipart_copy() {
    let emu = emulator().await;
    let w = emu.wire("multipart", Options::default()).await;
    let mut body = vec![b'a'; 12 * 1024 * 1024 + 123];
    body[7_000_000..7_000_014].copy_from_slice(b"MALWARE-MARKER");
    emu.s3
        .put_object()
        .bucket(&w.bucket)
        .key("big.bin")
        .body(body.clone().into())
        .content_type("application/x-test")
        .metadata("origin", "test")
        .send()
        .await
        .unwrap();
    let records = emu.notifications(&w, 1).await;
    let rules =
        yara_x::compile(r#"rule Marker { strings: $m = "MALWARE-MARKER" condition: $m }"#).unwrap();
    let engine = Engine::new(RuleSet::new(rules, "marker"), Duration::from_secs(10));
    let store = emu
        .store()
        .with_multipart_copy(5 * 1024 * 1024, 5 * 1024 * 1024);
    let pipeline = Pipeline::new(store, engine, config(&w));
    acknowledged(&pipeline, records).await;

    assert!(!emu.exists(&w.bucket, "big.bin").await);
    let qkey = format!("{}/big.bin", w.bucket);
    let copy = emu
        .s3
        .get_object()
        .bucket(&w.quarantine)
        .key(&qkey)
        .send()
        .await
        .unwrap();
    assert_eq!(copy.content_type(), Some("application/x-test"));
    assert_eq!(
        copy.metadata().unwrap().get("origin").map(String::as_str),
        Some("test")
    );
    assert!(copy.e_tag().unwrap().contains('-'), "multipart ETag");
    let bytes = copy.body.collect().await.unwrap().into_bytes();
    assert!(bytes[..] == body[..], "copy differs from the source");
    let tags = emu.tags(&w.quarantine, &qkey, None).await;
    assert_eq!(tag_map(&tags)["scan-matches"], "Marker");
    assert_eq!(tag_map(&tags)["scan-rules"], "marker");
}

/// An object deleted before its message is processed is acknowledged; nothing is created.
#[tokio::test]
async fn object_deleted_before_the_scan_is_acknowledged() {
    let emu = emulator().await;
    let w = emu.wire("gone", Options::default()).await;
    emu.put(&w.bucket, "short-lived.com", EICAR).await;
    let records = emu.notifications(&w, 1).await;
    emu.s3
        .delete_object()
        .bucket(&w.bucket)
        .key("short-lived.com")
        .send()
        .await
        .unwrap();
    acknowledged(&emu.pipeline(config(&w)), records).await;
    assert!(emu.versions(&w.quarantine).await.is_empty());
    assert!(emu.versions(&w.bucket).await.is_empty());
}

/// Two deliveries of one infected object processed at the same time may both copy it; they
/// converge on one quarantine copy (the oldest), and the source is gone.
#[tokio::test]
async fn concurrent_deliveries_leave_one_quarantine_copy() {
    let emu = emulator().await;
    let (w, records) = emu.uploaded("racing", "twice.com", EICAR).await;
    let (a, b) = (emu.pipeline(config(&w)), emu.pipeline(config(&w)));
    let (ra, rb) = tokio::join!(
        s3_yara_scan::batch::process(&a, batch(records.clone())),
        s3_yara_scan::batch::process(&b, batch(records))
    );
    assert!(ra.unwrap().batch_item_failures.is_empty());
    assert!(rb.unwrap().batch_item_failures.is_empty());
    let qkey = format!("{}/twice.com", w.bucket);
    assert_eq!(emu.versions(&w.quarantine).await, [(qkey, false)]);
    assert!(!emu.exists(&w.bucket, "twice.com").await);
}
