//! Batch handling: which messages are acknowledged and which come back.

use pretty_assertions::assert_eq;
use s3_yara_scan::Config;

use crate::support::*;

/// The `s3:TestEvent` S3 sends when notifications are configured is acknowledged.
#[tokio::test]
async fn test_event_is_acknowledged() {
    let emu = emulator().await;
    let w = emu.wire("testevent", Options::default()).await;
    acknowledged(&emu.pipeline(config(&w)), vec![w.test_event.clone()]).await;
}

/// Malformed messages are reported one by one; the good message of the same batch is still
/// processed and acknowledged.
#[tokio::test]
async fn poison_records_fail_only_themselves() {
    let emu = emulator().await;
    let w = emu.wire("poison", Options::default()).await;
    emu.put(&w.bucket, "good.txt", "good").await;
    let good = emu.notifications(&w, 1).await.remove(0);
    let envelope: serde_json::Value = serde_json::from_str(good.body.as_deref().unwrap()).unwrap();
    let bodies = [
        "not json at all".to_string(),
        serde_json::json!({"Type": "Notification", "Message": "{broken"}).to_string(),
        envelope
            .to_string()
            .replace("\\\"key\\\"", "\\\"nokey\\\""),
        serde_json::json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": 7}, "object": {"key": "k"}}}]}).to_string(),
    ];
    let mut records = vec![good.clone()];
    let mut bad_ids = Vec::new();
    for (i, body) in bodies.into_iter().enumerate() {
        let mut bad = good.clone();
        bad.message_id = Some(format!("bad-{i}"));
        bad.body = Some(body);
        bad_ids.push(format!("bad-{i}"));
        records.insert(records.len() / 2, bad);
    }
    let mut no_body = good.clone();
    no_body.message_id = Some("bad-nobody".into());
    no_body.body = None;
    records.push(no_body);

    let response = s3_yara_scan::batch::process(&emu.pipeline(config(&w)), batch(records.clone()))
        .await
        .unwrap();
    let mut failed = failed_ids(&response);
    failed.sort();
    bad_ids.push("bad-nobody".into());
    bad_ids.sort();
    assert_eq!(failed, bad_ids);
    assert_eq!(
        emu.tag(&w.bucket, "good.txt", "scan-result")
            .await
            .as_deref(),
        Some("Clean")
    );
}

/// S3 → SQS without SNS, and SNS with raw message delivery, are handled like the envelope.
#[tokio::test]
async fn direct_and_raw_deliveries_are_handled() {
    let emu = emulator().await;
    let w = emu.wire("shapes", Options::default()).await;
    let (direct_url, direct_arn) = emu.queue("shapes-direct").await;
    let (raw_url, raw_arn) = emu.queue("shapes-raw").await;
    emu.sns
        .subscribe()
        .topic_arn(&w.topic_arn)
        .protocol("sqs")
        .endpoint(&raw_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let created = aws_sdk_s3::types::Event::from("s3:ObjectCreated:*");
    emu.s3
        .put_bucket_notification_configuration()
        .bucket(&w.bucket)
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .topic_configurations(
                    aws_sdk_s3::types::TopicConfiguration::builder()
                        .topic_arn(&w.topic_arn)
                        .events(created.clone())
                        .build()
                        .unwrap(),
                )
                .queue_configurations(
                    aws_sdk_s3::types::QueueConfiguration::builder()
                        .queue_arn(&direct_arn)
                        .events(created)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    // Reconfiguring sends new test events; they are acknowledged like any other.
    let mut tests = emu.receive(&direct_url, &direct_arn, 1).await;
    tests.extend(emu.receive(&raw_url, &raw_arn, 1).await);
    tests.extend(emu.notifications(&w, 1).await);
    assert!(
        tests
            .iter()
            .all(|t| t.body.as_deref().unwrap().contains("s3:TestEvent"))
    );

    emu.put(&w.bucket, "direct.com", EICAR).await;
    let direct = emu.receive(&direct_url, &direct_arn, 1).await;
    let raw = emu.receive(&raw_url, &raw_arn, 1).await;
    assert!(
        direct[0]
            .body
            .as_deref()
            .unwrap()
            .starts_with("{\"Records\"")
    );
    assert!(raw[0].body.as_deref().unwrap().starts_with("{\"Records\""));
    let pipeline = emu.pipeline(config(&w));
    // The raw delivery alone quarantines the object...
    let mut first = tests;
    first.extend(raw);
    acknowledged(&pipeline, first).await;
    assert!(!emu.exists(&w.bucket, "direct.com").await);
    assert_eq!(emu.versions(&w.quarantine).await.len(), 1);
    // ...and the direct copy of the same notification, arriving after, is acknowledged.
    emu.put(&w.bucket, "second.com", EICAR).await;
    let mut direct_too = direct;
    direct_too.extend(emu.receive(&direct_url, &direct_arn, 1).await);
    acknowledged(&pipeline, direct_too).await;
    assert!(!emu.exists(&w.bucket, "second.com").await);
    assert_eq!(emu.versions(&w.quarantine).await.len(), 2);
}

/// A batch of many objects is processed concurrently, and every object gets its verdict.
#[tokio::test]
async fn a_full_batch_settles_every_object() {
    let emu = emulator().await;
    let w = emu.wire("many", Options::default()).await;
    for i in 0..24 {
        let body = if i % 6 == 0 {
            EICAR.to_string()
        } else {
            format!("file {i}")
        };
        emu.put(&w.bucket, &format!("f{i:02}"), body).await;
    }
    let records = emu.notifications(&w, 24).await;
    let config = Config {
        concurrency: 4,
        ..config(&w)
    };
    acknowledged(&emu.pipeline(config), records).await;
    for i in 0..24 {
        let key = format!("f{i:02}");
        if i % 6 == 0 {
            assert!(!emu.exists(&w.bucket, &key).await);
            let qkey = format!("{}/{key}", w.bucket);
            assert_eq!(
                emu.tag(&w.quarantine, &qkey, "scan-result")
                    .await
                    .as_deref(),
                Some("Infected")
            );
        } else {
            assert_eq!(
                emu.tag(&w.bucket, &key, "scan-result").await.as_deref(),
                Some("Clean")
            );
        }
    }
}
