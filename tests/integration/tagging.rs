//! Verdict tags on objects that stay in place.

use pretty_assertions::assert_eq;
use s3_yara_scan::{Action, Config};

use crate::support::*;

/// A clean upload is tagged `Clean` on its version, next to the user's own tags.
#[tokio::test]
async fn clean_object_is_tagged_clean_and_keeps_user_tags() {
    let emu = emulator().await;
    let w = emu.wire("clean", Options::default()).await;
    emu.s3
        .put_object()
        .bucket(&w.bucket)
        .key("docs/readme.txt")
        .body(b"just text\n".to_vec().into())
        .tagging("owner=alice&project=apollo")
        .send()
        .await
        .unwrap();
    let records = emu.notifications(&w, 1).await;
    acknowledged(&emu.pipeline(config(&w)), records).await;

    let tags = emu.tags(&w.bucket, "docs/readme.txt", None).await;
    let map = tag_map(&tags);
    assert_eq!(map["scan-result"], "Clean");
    assert_eq!(map["owner"], "alice");
    assert_eq!(map["project"], "apollo");
    assert_eq!(map["scan-rules"].len(), 12);
    assert!(map["scan-date"].ends_with('Z') && map["scan-date"].contains('T'));
    assert!(!map.contains_key("scan-matches"));
    assert_eq!(tags.len(), 5);
}

/// A rescan replaces our earlier tags instead of adding to them.
#[tokio::test]
async fn rescan_replaces_earlier_verdict_tags() {
    let emu = emulator().await;
    let w = emu.wire("rescan", Options::default()).await;
    emu.put(&w.bucket, "a.txt", "text").await;
    let records = emu.notifications(&w, 1).await;
    let pipeline = emu.pipeline(config(&w));
    s3_yara_scan::batch::process(&pipeline, batch(records.clone()))
        .await
        .unwrap();
    s3_yara_scan::batch::process(&pipeline, batch(records))
        .await
        .unwrap();
    let tags = emu.tags(&w.bucket, "a.txt", None).await;
    assert_eq!(tags.len(), 3, "{tags:?}");
}

/// With `ACTION=tag` an infected object stays where it is, tagged `Infected` with the rule.
#[tokio::test]
async fn tag_action_marks_infected_in_place() {
    let emu = emulator().await;
    let w = emu.wire("tagonly", Options::default()).await;
    emu.put(&w.bucket, "eicar.com", EICAR).await;
    let records = emu.notifications(&w, 1).await;
    let config = Config {
        action: Action::Tag,
        ..config(&w)
    };
    acknowledged(&emu.pipeline(config), records).await;
    let tags = emu.tags(&w.bucket, "eicar.com", None).await;
    assert_eq!(tag_map(&tags)["scan-result"], "Infected");
    assert_eq!(tag_map(&tags)["scan-matches"], "EICAR_Test_File");
    assert!(emu.versions(&w.quarantine).await.is_empty());
}

/// With spooling off, an object over `MAX_OBJECT_SIZE` is not downloaded and is tagged
/// `Unscannable`, never `Clean`, even when it holds a signature further in.
#[tokio::test]
async fn too_large_object_is_unscannable() {
    let emu = emulator().await;
    let w = emu.wire("large", Options::default()).await;
    let mut body = vec![b' '; 4096];
    body.extend_from_slice(b"<?php eval($_POST['x']); ?>");
    emu.put(&w.bucket, "big.php", body).await;
    let records = emu.notifications(&w, 1).await;
    let config = Config {
        max_object_size: 2048,
        spool: s3_yara_scan::Spool::Off,
        ..config(&w)
    };
    acknowledged(&emu.pipeline(config), records).await;
    let tags = emu.tags(&w.bucket, "big.php", None).await;
    let map = tag_map(&tags);
    assert_eq!(map["scan-result"], "Unscannable");
    assert!(
        map["scan-detail"].contains("over MAX_OBJECT_SIZE of 2048 bytes"),
        "{map:?}"
    );
    assert!(emu.exists(&w.bucket, "big.php").await);
}

/// When the user's tags leave no room for the verdict, nothing is written and the message is
/// retried (so it reaches the DLQ) rather than acknowledged with no verdict.
#[tokio::test]
async fn no_room_for_tags_fails_the_message_and_writes_nothing() {
    let emu = emulator().await;
    let w = emu.wire("fulltags", Options::default()).await;
    let tagging: Vec<String> = (0..9).map(|i| format!("k{i}=v{i}")).collect();
    emu.s3
        .put_object()
        .bucket(&w.bucket)
        .key("crowded.txt")
        .body(b"text".to_vec().into())
        .tagging(tagging.join("&"))
        .send()
        .await
        .unwrap();
    let records = emu.notifications(&w, 1).await;
    let id = records[0].message_id.clone().unwrap();
    let response = s3_yara_scan::batch::process(&emu.pipeline(config(&w)), batch(records))
        .await
        .unwrap();
    assert_eq!(failed_ids(&response), [id]);
    let tags = emu.tags(&w.bucket, "crowded.txt", None).await;
    assert_eq!(tags.len(), 9);
    assert!(!tag_map(&tags).contains_key("scan-result"));
}

/// In a versioned bucket, the version named by the event is scanned and tagged, not the
/// newer current version.
#[tokio::test]
async fn versioned_event_tags_the_exact_version() {
    let emu = emulator().await;
    let w = emu
        .wire(
            "vtag",
            Options {
                versioned: true,
                ..Options::default()
            },
        )
        .await;
    let v1 = emu.put(&w.bucket, "doc.txt", "first").await.unwrap();
    let v2 = emu.put(&w.bucket, "doc.txt", "second").await.unwrap();
    let mut records = emu.notifications(&w, 2).await;
    records.truncate(1);
    with_version(&mut records[0], &v1);
    acknowledged(&emu.pipeline(config(&w)), records).await;
    assert_eq!(
        tag_map(&emu.tags(&w.bucket, "doc.txt", Some(&v1)).await)["scan-result"],
        "Clean"
    );
    assert!(emu.tags(&w.bucket, "doc.txt", Some(&v2)).await.is_empty());
}

/// Puts `version` into the S3 event inside an SNS-wrapped record, as S3 (unlike moto) does.
pub fn with_version(record: &mut aws_lambda_events::event::sqs::SqsMessage, version: &str) {
    let mut envelope: serde_json::Value =
        serde_json::from_str(record.body.as_deref().unwrap()).unwrap();
    let mut message: serde_json::Value =
        serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    message["Records"][0]["s3"]["object"]["versionId"] = version.into();
    envelope["Message"] = message.to_string().into();
    record.body = Some(envelope.to_string());
}
