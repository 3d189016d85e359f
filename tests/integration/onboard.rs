//! Buckets onboarded by a tag, through the binary: a CloudTrail PutBucketTagging event run by
//! `handle` wires a tagged bucket (its own queue notification kept), an EICAR uploaded to it
//! travels S3 → SNS → SQS and is judged Infected, a DeleteBucketTagging event unwires ours
//! and keeps theirs; `onboard` changes nothing without `--apply`, and wires with it. One test,
//! run in order: `onboard` goes through every bucket of the shared emulator.

use aws_sdk_s3::types::{
    Event, NotificationConfiguration, QueueConfiguration, Tag, Tagging, TopicConfiguration,
};
use pretty_assertions::assert_eq;

use crate::cli::{run, text};
use crate::support::*;

/// A key of its own, so that no other test's bucket carries this tag.
fn tag_key() -> String {
    unique("onboard-test")
}

/// A bucket whose notifications already send removals to a queue of its owner's.
async fn team_bucket(emu: &Emulator) -> (String, String) {
    let bucket = unique("team");
    emu.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let (_, queue_arn) = emu.queue("theirs").await;
    let theirs = QueueConfiguration::builder()
        .id("audit")
        .queue_arn(&queue_arn)
        .events(Event::from("s3:ObjectRemoved:*"))
        .build()
        .unwrap();
    let config = NotificationConfiguration::builder()
        .queue_configurations(theirs)
        .build();
    emu.s3
        .put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(config)
        .send()
        .await
        .unwrap();
    (bucket, queue_arn)
}

async fn set_tag(emu: &Emulator, bucket: &str, key: &str) {
    let tag = Tag::builder().key(key).value("protect").build().unwrap();
    let tagging = Tagging::builder().tag_set(tag).build().unwrap();
    emu.s3
        .put_bucket_tagging()
        .bucket(bucket)
        .tagging(tagging)
        .send()
        .await
        .unwrap();
}

/// The bucket's queue and topic configurations, as (id, ARN) pairs.
async fn wiring(emu: &Emulator, bucket: &str) -> (Vec<(String, String)>, Vec<(String, String)>) {
    let out = emu
        .s3
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let pairs = |id: Option<&str>, arn: &str| (id.unwrap_or_default().to_owned(), arn.to_owned());
    let queues = out
        .queue_configurations()
        .iter()
        .map(|q| pairs(q.id(), q.queue_arn()));
    let topics = out
        .topic_configurations()
        .iter()
        .map(|t| pairs(t.id(), t.topic_arn()));
    (queues.collect(), topics.collect())
}

/// `handle` on the sample CloudTrail event `sample`, naming `bucket`: its JSON answer.
fn handle_cloudtrail(sample: &str, bucket: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let text_of = std::fs::read_to_string(format!("events/{sample}")).unwrap();
    let mut event: serde_json::Value = serde_json::from_str(&text_of).unwrap();
    event["detail"]["requestParameters"]["bucketName"] = bucket.into();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, event.to_string()).unwrap();
    let out = run(&["handle", file.to_str().unwrap()], env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The notifications after `key`'s upload: the s3:TestEvent that writing the configuration
/// sent (which the batch acknowledges), and the upload's, through S3 → SNS → SQS.
async fn upload_notified(
    emu: &Emulator,
    w: &Wiring,
    bucket: &str,
    key: &str,
) -> Vec<aws_lambda_events::event::sqs::SqsMessage> {
    emu.put(bucket, key, EICAR).await;
    let records = emu.receive(&w.queue_url, &w.queue_arn, 2).await;
    let bodies: Vec<&str> = records.iter().filter_map(|r| r.body.as_deref()).collect();
    assert!(
        bodies.iter().any(|b| b.contains("s3:TestEvent")),
        "{bodies:?}"
    );
    assert!(
        bodies.iter().any(|b| b.contains(key) && b.contains(bucket)),
        "{bodies:?}"
    );
    records
}

#[tokio::test]
async fn a_bucket_tagged_is_wired_scanned_and_unwired_through_the_binary() {
    let emu = emulator().await;
    // The stack's own bucket and the scan topic → queue, as the template makes them.
    let w = emu.wire("onboard", Options::default()).await;
    let (team, their_queue) = team_bucket(&emu).await;
    let key = tag_key();
    let tag = format!("{key}=protect");
    let env = [
        ("ACTION", "tag"),
        ("PROTECTED_BUCKETS", w.bucket.as_str()),
        ("ONBOARD_TAG", tag.as_str()),
        ("NOTIFICATION_TOPIC_ARN", w.topic_arn.as_str()),
    ];
    let theirs = vec![("audit".to_owned(), their_queue.clone())];

    // Not tagged yet: the event changes nothing.
    let answer = handle_cloudtrail("cloudtrail-put-bucket-tagging.json", &team, &env);
    assert_eq!(answer["outcome"], "NotWired", "{answer}");
    set_tag(&emu, &team, &key).await;
    let answer = handle_cloudtrail("cloudtrail-put-bucket-tagging.json", &team, &env);
    assert_eq!(answer["outcome"], "Wired", "{answer}");
    let ours = vec![("s3-yara-scan".to_owned(), w.topic_arn.clone())];
    assert_eq!(wiring(&emu, &team).await, (theirs.clone(), ours.clone()));

    // An upload travels S3 → SNS → SQS, and the tagged bucket is judged.
    let records = upload_notified(&emu, &w, &team, "eicar.com").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("batch.json");
    std::fs::write(&file, serde_json::to_string(&batch(records)).unwrap()).unwrap();
    let out = run(&["handle", file.to_str().unwrap()], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        response,
        serde_json::json!({"batchItemFailures": []}),
        "{}",
        text(&out.stderr)
    );
    let verdict = emu.tag(&team, "eicar.com", "scan-result").await;
    assert_eq!(verdict.as_deref(), Some("Infected"));

    // Untagged: ours goes, theirs stays.
    emu.s3
        .delete_bucket_tagging()
        .bucket(&team)
        .send()
        .await
        .unwrap();
    let answer = handle_cloudtrail("cloudtrail-delete-bucket-tagging.json", &team, &env);
    assert_eq!(answer["outcome"], "Unwired", "{answer}");
    assert_eq!(wiring(&emu, &team).await, (theirs.clone(), vec![]));

    // `onboard`: a dry run names the bucket and writes nothing; --apply wires it.
    set_tag(&emu, &team, &key).await;
    let stdout = onboard(&["onboard"], &env);
    assert!(
        stdout.contains(&format!("{team}: would wire (tagged)")),
        "{stdout}"
    );
    assert!(stdout.contains("dry run, nothing changed"), "{stdout}");
    assert_eq!(wiring(&emu, &team).await, (theirs.clone(), vec![]));
    let stdout = onboard(&["onboard", "--apply"], &env);
    assert!(
        stdout.contains(&format!("{team}: wired (tagged; other notifications kept)")),
        "{stdout}"
    );
    assert!(
        stdout.lines().last().unwrap().contains("1 Wired"),
        "{stdout}"
    );
    assert_eq!(wiring(&emu, &team).await, (theirs, ours));
    let again = text(&run(&["onboard", "--apply"], &env).stdout);
    assert!(again.contains(&format!("{team}: already wired")), "{again}");
}

/// `s3-yara-scan ARGS`, which must succeed: its standard output.
fn onboard(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run(args, env);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", text(&out.stderr));
    stdout
}

/// Without ONBOARD_TAG's tag on the bucket, an object of it is not judged: NotProtected.
#[tokio::test]
async fn an_untagged_bucket_is_not_judged() {
    let emu = emulator().await;
    let w = emu.wire("onboard-untagged", Options::default()).await;
    let (team, _) = team_bucket(&emu).await;
    let topic = TopicConfiguration::builder()
        .topic_arn(&w.topic_arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .build()
        .unwrap();
    let config = NotificationConfiguration::builder()
        .topic_configurations(topic)
        .build();
    emu.s3
        .put_bucket_notification_configuration()
        .bucket(&team)
        .notification_configuration(config)
        .send()
        .await
        .unwrap();
    let records = upload_notified(&emu, &w, &team, "eicar.com").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("batch.json");
    std::fs::write(&file, serde_json::to_string(&batch(records)).unwrap()).unwrap();
    let tag = format!("{}=protect", tag_key());
    let env = [
        ("ACTION", "tag"),
        ("PROTECTED_BUCKETS", w.bucket.as_str()),
        ("ONBOARD_TAG", tag.as_str()),
        ("NOTIFICATION_TOPIC_ARN", w.topic_arn.as_str()),
    ];
    let out = run(&["handle", file.to_str().unwrap()], &env);
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        response["batchItemFailures"].as_array().unwrap().len(),
        1,
        "{response}"
    );
    assert!(
        text(&out.stderr).contains("is not protected"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(emu.tag(&team, "eicar.com", "scan-result").await, None);
}
