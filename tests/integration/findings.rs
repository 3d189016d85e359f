//! Through the binary (`handle`): result events in GuardDuty's schema reach an existing
//! GuardDuty rule whose `source` was changed to ours, on a bus named by its ARN (as a central
//! security account's would be); Security Hub findings for EICAR, updated (never duplicated)
//! on re-delivery and resolved by a later `Clean` of the same version.

use std::path::Path;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use s3_yara_scan::findings::finding_id;
use s3_yara_scan::object::ObjectRef;
use s3_yara_scan::publish::{GUARDDUTY_DETAIL_TYPE, SOURCE};

use crate::cli::text;
use crate::support::*;

async fn shared() -> aws_config::SdkConfig {
    aws_config::load_from_env().await
}

/// The binary under test: this build's, or the one `S3_YARA_SCAN_BIN` names (to check that
/// these tests fail on an earlier build).
fn binary() -> String {
    std::env::var("S3_YARA_SCAN_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_s3-yara-scan").into())
}

/// `records` as an SQS event file in `dir`, and `handle` run on it with `env`; the batch
/// response must retry nothing.
fn handle(
    dir: &Path,
    records: Vec<aws_lambda_events::event::sqs::SqsMessage>,
    env: &[(&str, &str)],
) {
    let file = dir.join("event.json");
    std::fs::write(&file, serde_json::to_string(&batch(records)).unwrap()).unwrap();
    let out = std::process::Command::new(binary())
        .args(["handle", file.to_str().unwrap()])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env_remove("QUARANTINE_BUCKET")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let response: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": []}),
        "{}",
        text(&out.stderr)
    );
}

/// A rule on a new bus, matching `pattern`, whose target is a new queue: the bus's ARN and the
/// queue.
async fn rule_to_queue(emu: &Emulator, pattern: Value) -> (String, String, String) {
    let events = aws_sdk_eventbridge::Client::new(&shared().await);
    let bus = events
        .create_event_bus()
        .name(unique("central-security"))
        .send()
        .await
        .unwrap()
        .event_bus_arn
        .unwrap();
    let (url, arn) = emu.queue("threats").await;
    let rule = unique("guardduty-threats");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(&arn)
        .build()
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(target)
        .send()
        .await
        .unwrap();
    (bus, url, arn)
}

#[tokio::test]
async fn a_guardduty_schema_rule_receives_threats_found_for_eicar() {
    let emu = emulator().await;
    let versioned = Options {
        versioned: true,
        ..Options::default()
    };
    let w = emu.wire("guardduty", versioned).await;
    // An existing GuardDuty rule: `"source": ["aws.guardduty"]` changed to ours, nothing else.
    let pattern = json!({
        "source": [SOURCE],
        "detail-type": [GUARDDUTY_DETAIL_TYPE],
        "detail": {"scanResultDetails": {"scanResultStatus": ["THREATS_FOUND"]}},
    });
    let (bus_arn, queue, queue_arn) = rule_to_queue(&emu, pattern).await;
    emu.put(&w.bucket, "in/clean.txt", "plain text").await;
    let version = emu.put(&w.bucket, "in/eicar.com", EICAR).await.unwrap();
    let records = emu.notifications(&w, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ACTION", "tag"),
        ("RESULT_EVENT_BUS", bus_arn.as_str()),
        ("RESULT_EVENT_SCHEMA", "guardduty"),
    ];
    handle(dir.path(), records, &env);

    let got = emu.receive(&queue, &queue_arn, 1).await;
    let event: Value = serde_json::from_str(got[0].body.as_deref().unwrap()).unwrap();
    eprintln!("captured GuardDuty-schema event:\n{event:#}");
    assert_eq!(event["detail-type"], GUARDDUTY_DETAIL_TYPE);
    assert_eq!(event["source"], SOURCE);
    let detail = &event["detail"];
    assert_eq!(
        (
            &detail["schemaVersion"],
            &detail["scanStatus"],
            &detail["resourceType"]
        ),
        (&json!("1.0"), &json!("COMPLETED"), &json!("S3_OBJECT"))
    );
    let object = &detail["s3ObjectDetails"];
    assert_eq!(object["bucketName"], w.bucket.as_str());
    assert_eq!(object["objectKey"], "in/eicar.com");
    assert_eq!(object["versionId"], version.as_str());
    assert_eq!(object["s3Throttled"], false);
    assert!(
        object["eTag"].as_str().is_some_and(|e| !e.contains('"')),
        "{object}"
    );
    assert_eq!(
        detail["scanResultDetails"],
        json!({"scanResultStatus": "THREATS_FOUND", "threats": [{"name": "EICAR_Test_File"}]})
    );
    assert_eq!(detail["s3YaraScan"]["verdict"], "Infected");

    // The clean file's NO_THREATS_FOUND was published too, but the rule let it through not.
    let more = emu
        .sqs
        .receive_message()
        .queue_url(&queue)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert_eq!(more.messages().len(), 0, "{:?}", more.messages());
}

/// The findings Security Hub holds for `id` (moto's GetFindings ignores filters). Read on a
/// thread of its own: the SDK's ASFF types nest so deep that a debug build's deserializer
/// overflows a test thread's 2 MiB stack.
async fn findings(id: &str) -> Vec<aws_sdk_securityhub::types::AwsSecurityFinding> {
    let id = id.to_owned();
    let reader = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let hub = aws_sdk_securityhub::Client::new(&shared().await);
                let mut all = Vec::new();
                let mut pages = hub.get_findings().into_paginator().send();
                while let Some(page) = pages.next().await {
                    let page = page.unwrap();
                    all.extend(
                        page.findings()
                            .iter()
                            .filter(|f| f.id() == Some(id.as_str()))
                            .cloned(),
                    );
                }
                all
            })
        });
    reader.unwrap().join().unwrap()
}

#[tokio::test]
async fn a_security_hub_finding_for_eicar_is_updated_on_redelivery_and_resolved_by_a_later_clean() {
    let emu = emulator().await;
    let versioned = Options {
        versioned: true,
        ..Options::default()
    };
    let w = emu.wire("findings", versioned).await;
    let version = emu.put(&w.bucket, "up/eicar.com", EICAR).await.unwrap();
    let records = emu.notifications(&w, 1).await;
    let id =
        finding_id(&ObjectRef::new(&w.bucket, "up/eicar.com").at_version(Some(version.clone())));
    let dir = tempfile::tempdir().unwrap();
    let env = [("ACTION", "tag"), ("SECURITY_HUB", "on")];
    handle(dir.path(), records.clone(), &env);

    let filed = findings(&id).await;
    assert_eq!(filed.len(), 1, "{filed:#?}");
    let f = &filed[0];
    assert!(
        f.product_arn()
            .is_some_and(|a| a.starts_with("arn:aws:securityhub:") && a.ends_with("/default")),
        "{f:?}"
    );
    assert_eq!(f.generator_id(), Some("s3-yara-scan"));
    assert_eq!(
        f.severity().and_then(|s| s.label()).map(|l| l.as_str()),
        Some("HIGH")
    );
    assert_eq!(f.record_state().map(|s| s.as_str()), Some("ACTIVE"));
    assert!(
        f.title().is_some_and(|t| t.contains("EICAR_Test_File")),
        "{f:?}"
    );
    let resources: Vec<(Option<&str>, Option<&str>)> =
        f.resources().iter().map(|r| (r.r#type(), r.id())).collect();
    let object_arn = format!("arn:aws:s3:::{}/up/eicar.com", w.bucket);
    let bucket_arn = format!("arn:aws:s3:::{}", w.bucket);
    assert_eq!(
        resources,
        [
            (Some("AwsS3Object"), Some(object_arn.as_str())),
            (Some("AwsS3Bucket"), Some(bucket_arn.as_str()))
        ]
    );
    let details = f.resources()[0]
        .details()
        .and_then(|d| d.aws_s3_object())
        .unwrap();
    assert_eq!(details.version_id(), Some(version.as_str()));
    assert!(
        f.remediation()
            .and_then(|r| r.recommendation())
            .and_then(|r| r.text())
            .is_some_and(|t| t.contains("Left in place, tagged Infected")),
        "{f:?}"
    );

    // SQS delivers the same message again: the same finding is updated, not another filed.
    handle(dir.path(), records.clone(), &env);
    let again = findings(&id).await;
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!(again[0].record_state().map(|s| s.as_str()), Some("ACTIVE"));

    // The rules change (EICAR's bytes allow-listed as a known false positive): the rescan of
    // that version is Clean, and the finding is resolved.
    let allow = dir.path().join("allow");
    std::fs::create_dir(&allow).unwrap();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(EICAR.as_bytes());
    std::fs::write(
        allow.join("fp.sha256"),
        format!("{} eicar\n", hex::encode(digest)),
    )
    .unwrap();
    let rescan = [env[0], env[1], ("ALLOW_HASHES", allow.to_str().unwrap())];
    handle(dir.path(), records, &rescan);
    assert_eq!(
        emu.tag(&w.bucket, "up/eicar.com", "scan-result")
            .await
            .as_deref(),
        Some("Clean")
    );
    let resolved = findings(&id).await;
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    let r = &resolved[0];
    assert_eq!(r.record_state().map(|s| s.as_str()), Some("ARCHIVED"));
    assert_eq!(
        r.workflow().and_then(|w| w.status()).map(|s| s.as_str()),
        Some("RESOLVED")
    );
}
