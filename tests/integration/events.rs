//! Result events on the emulator: EventBridge (a rule on a bus, with an SQS target) and SNS
//! (an SQS subscription filtering on the `verdict` attribute), and a publish that fails being
//! queued and published by a later batch without touching the object again.

use pretty_assertions::assert_eq;
use serde_json::Value;

use s3_yara_scan::publish::{DETAIL_TYPE, SOURCE, VERDICTS};
use s3_yara_scan::{Aws, Config, SigningKey, SigningKeySource};

use crate::support::*;

/// An EventBridge bus whose rule sends the scanner's result events to a fresh queue.
async fn bus_to_queue(
    emu: &Emulator,
    events: &aws_sdk_eventbridge::Client,
) -> (String, String, String) {
    let bus = unique("results");
    events.create_event_bus().name(&bus).send().await.unwrap();
    let (url, arn) = emu.queue("bus-target").await;
    let pattern = serde_json::json!({"source": [SOURCE], "detail-type": [DETAIL_TYPE]});
    events
        .put_rule()
        .name(unique("rule"))
        .event_bus_name(&bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    (bus, url, arn)
}

async fn eventbridge() -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::new(&aws_config::load_from_env().await)
}

/// Points every rule on `bus` at the queue `arn`.
async fn target(events: &aws_sdk_eventbridge::Client, bus: &str, arn: &str) {
    let rules = events
        .list_rules()
        .event_bus_name(bus)
        .send()
        .await
        .unwrap();
    for rule in rules.rules() {
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("queue")
            .arn(arn)
            .build()
            .unwrap();
        events
            .put_targets()
            .rule(rule.name().unwrap())
            .event_bus_name(bus)
            .targets(target)
            .send()
            .await
            .unwrap();
    }
}

fn publishing(w: &Wiring, bus: Option<&str>, topic: Option<&str>) -> Config {
    let mut config = config(w);
    config.results.bus = bus.map(String::from);
    config.results.topic = topic.map(String::from);
    config.results.verdicts = VERDICTS.to_vec();
    config.results.queue_url = Some(w.queue_url.clone());
    // Queued documents are sealed with a key derived from the signing key.
    config.signing_key = SigningKeySource::Inline(SigningKey::new(vec![7; 32]).unwrap());
    config
}

fn bodies(messages: &[aws_lambda_events::event::sqs::SqsMessage]) -> Vec<Value> {
    messages
        .iter()
        .map(|m| serde_json::from_str(m.body.as_deref().unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn result_events_reach_an_eventbridge_rule_and_a_filtered_sns_subscription() {
    let emu = emulator().await;
    let events = eventbridge().await;
    let w = emu.wire("results", Options::default()).await;
    let (bus, bus_queue, bus_queue_arn) = bus_to_queue(&emu, &events).await;
    target(&events, &bus, &bus_queue_arn).await;
    let topic = emu
        .sns
        .create_topic()
        .name(unique("results"))
        .send()
        .await
        .unwrap();
    let topic = topic.topic_arn.unwrap();
    let (sns_queue, sns_queue_arn) = emu.queue("infected-only").await;
    emu.sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&sns_queue_arn)
        .attributes("FilterPolicy", r#"{"verdict": ["Infected"]}"#)
        .send()
        .await
        .unwrap();
    emu.put(&w.bucket, "docs/a.txt", "plain text").await;
    emu.put(&w.bucket, "docs/eicar.com", EICAR).await;
    let records = emu.notifications(&w, 2).await;

    let config = publishing(&w, Some(&bus), Some(&topic));
    let pipeline = emu
        .pipeline(config.clone())
        .with_publisher(Aws::load(&config).await.publisher(&config).await.unwrap());
    acknowledged(&pipeline, records).await;

    let mut from_bus = bodies(&emu.receive(&bus_queue, &bus_queue_arn, 2).await);
    from_bus.sort_by_key(|e| e["detail"]["key"].as_str().unwrap_or_default().to_owned());
    assert_eq!(from_bus[0]["detail-type"], DETAIL_TYPE);
    assert_eq!(from_bus[0]["source"], SOURCE);
    assert_eq!(from_bus[0]["detail"]["verdict"], "Clean");
    assert_eq!(from_bus[0]["detail"]["location"]["state"], "in-place");
    let infected = &from_bus[1]["detail"];
    assert_eq!(infected["verdict"], "Infected");
    assert_eq!(infected["bucket"], w.bucket.as_str());
    assert_eq!(infected["matches"][0]["rule"], "EICAR_Test_File");
    assert_eq!(infected["location"]["state"], "quarantined");
    assert_eq!(infected["location"]["bucket"], w.quarantine.as_str());

    // The subscription's filter let through only the Infected one.
    let from_topic = bodies(&emu.receive(&sns_queue, &sns_queue_arn, 1).await);
    let attributes = &from_topic[0]["MessageAttributes"];
    assert_eq!(attributes["verdict"]["Value"], "Infected");
    assert_eq!(attributes["bucket"]["Value"], w.bucket.as_str());
    let document: Value = serde_json::from_str(from_topic[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(document["key"], "docs/eicar.com");
}

#[tokio::test]
async fn a_result_event_that_cannot_be_published_is_queued_and_published_later() {
    let emu = emulator().await;
    let events = eventbridge().await;
    let w = emu.wire("requeue", Options::default()).await;
    // A topic that does not exist: every publish fails.
    let missing = format!("arn:aws:sns:us-east-1:123456789012:{}", unique("gone"));
    emu.put(&w.bucket, "a.txt", "plain text").await;
    let records = emu.notifications(&w, 1).await;
    let config = publishing(&w, None, Some(&missing));
    let pipeline = emu
        .pipeline(config.clone())
        .with_publisher(Aws::load(&config).await.publisher(&config).await.unwrap());
    acknowledged(&pipeline, records).await;
    let date = emu.tag(&w.bucket, "a.txt", "scan-date").await;
    assert!(date.is_some(), "the verdict is recorded");

    // The document waits on the scan queue; a later batch with a working target publishes it.
    let queued = emu.receive(&w.queue_url, &w.queue_arn, 1).await;
    let sealed = bodies(&queued)[0].clone();
    assert!(sealed["mac"].is_string(), "{sealed}");
    let document: Value =
        serde_json::from_str(sealed["s3YaraScanResult"].as_str().unwrap()).unwrap();
    assert_eq!(document["verdict"], "Clean");
    let (bus, bus_queue, bus_queue_arn) = bus_to_queue(&emu, &events).await;
    target(&events, &bus, &bus_queue_arn).await;
    let config = publishing(&w, Some(&bus), None);
    let pipeline = emu
        .pipeline(config.clone())
        .with_publisher(Aws::load(&config).await.publisher(&config).await.unwrap());
    acknowledged(&pipeline, queued).await;
    let published = bodies(&emu.receive(&bus_queue, &bus_queue_arn, 1).await);
    assert_eq!(published[0]["detail"]["key"], "a.txt");
    assert_eq!(published[0]["detail"]["verdict"], "Clean");
    // The very document queued (its scan time and timings), not a new scan's.
    assert_eq!(published[0]["detail"], document);
    assert_eq!(emu.tag(&w.bucket, "a.txt", "scan-date").await, date);
}
