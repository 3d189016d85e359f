use aws_lambda_events::event::sqs::SqsEvent;
use pretty_assertions::assert_eq;

use super::*;

/// Decodes every body of a fixture from events/.
fn fixture(text: &str) -> Vec<(String, Result<Decoded, EventError>)> {
    let event: SqsEvent = serde_json::from_str(text).expect("fixture is a Lambda SQS event");
    event
        .records
        .into_iter()
        .map(|r| {
            let id = r.message_id.expect("fixture records have ids");
            let decoded = r
                .body
                .as_deref()
                .ok_or(EventError::MissingBody)
                .and_then(decode_body);
            (id, decoded)
        })
        .collect()
}

fn keys(text: &str) -> Vec<String> {
    fixture(text)
        .into_iter()
        .flat_map(|(_, d)| d.expect("decodes").objects)
        .map(|o| o.object.key)
        .collect()
}

#[test]
fn sns_wrapped_put_names_bucket_key_size_and_etag() {
    let decoded = fixture(include_str!("../../events/sqs-sns-s3-put.json"));
    assert_eq!(decoded.len(), 1);
    let objects = decoded[0].1.as_ref().unwrap().objects.clone();
    assert_eq!(
        objects,
        vec![ObjectEvent {
            object: ObjectRef {
                bucket: "scan-demo-uploads".into(),
                key: "reports/q3.txt".into(),
                version_id: None,
            },
            size: Some(18),
            etag: objects[0].etag.clone(),
            region: Some("us-east-1".into()),
            event_name: "ObjectCreated:Put".into(),
        }]
    );
    assert_eq!(objects[0].etag.as_deref().map(str::len), Some(32));
}

#[test]
fn direct_and_raw_deliveries_decode_like_the_envelope() {
    let wrapped = keys(include_str!("../../events/sqs-sns-s3-put.json"));
    assert_eq!(
        keys(include_str!("../../events/sqs-s3-direct-put.json")),
        wrapped
    );
    assert_eq!(
        keys(include_str!("../../events/sqs-sns-raw-put.json")),
        wrapped
    );
}

#[test]
fn encoded_keys_are_decoded() {
    assert_eq!(
        keys(include_str!("../../events/sqs-sns-s3-encoded-key.json")),
        [
            "my file.txt",
            "a+b=c.txt",
            "100% done.txt",
            "café/naïve résumé.txt"
        ]
    );
}

#[test]
fn test_event_is_ignored_not_failed() {
    let decoded = fixture(include_str!("../../events/sqs-sns-s3-test-event.json"));
    let d = decoded[0].1.as_ref().unwrap();
    assert!(d.objects.is_empty());
    assert_eq!(d.ignored[0].event_name, "s3:TestEvent");
    assert_eq!(d.ignored[0].bucket.as_deref(), Some("scan-demo-uploads"));
}

#[test]
fn removal_events_are_ignored() {
    let decoded = fixture(include_str!("../../events/sqs-sns-s3-delete.json"));
    let d = decoded[0].1.as_ref().unwrap();
    assert!(d.objects.is_empty());
    assert!(d.ignored[0].event_name.starts_with("ObjectRemoved:"));
}

#[test]
fn batch_and_multi_record_events_yield_every_object() {
    assert_eq!(
        keys(include_str!("../../events/sqs-sns-s3-batch.json")),
        ["inbox/clean.txt", "inbox/eicar.com", "inbox/notes.md"]
    );
    let multi = fixture(include_str!("../../events/sqs-sns-s3-multi-record.json"));
    assert_eq!(multi.len(), 1);
    assert_eq!(multi[0].1.as_ref().unwrap().objects.len(), 2);
}

#[test]
fn versioned_event_keeps_its_version() {
    let decoded = fixture(include_str!("../../events/sqs-sns-s3-versioned.json"));
    let object = &decoded[0].1.as_ref().unwrap().objects[0].object;
    assert_eq!(object.key, "docs/v.txt");
    assert!(object.version_id.is_some());
}

#[test]
fn each_poison_record_fails_alone_with_a_reason() {
    let decoded = fixture(include_str!("../../events/sqs-batch-one-poison.json"));
    let expected = [
        ("poison-not-json", "the body is not JSON"),
        (
            "poison-sns-message-not-json",
            "the SNS envelope's `Message` is not a JSON-encoded S3 event",
        ),
        ("", "ok inbox/after-poison.txt"),
        (
            "poison-missing-key",
            "field `Records[0].s3.object`: missing field `key`",
        ),
        (
            "poison-wrong-type",
            "field `Records[0].s3.object.size`: invalid type",
        ),
        ("poison-not-s3", "not an S3 event notification"),
    ];
    assert_eq!(decoded.len(), expected.len());
    for ((id, result), (want_id, want_text)) in decoded.iter().zip(expected) {
        let text = match result {
            Ok(d) => format!("ok {}", d.objects[0].object.key),
            Err(e) => e.to_string(),
        };
        if want_id.is_empty() {
            assert!(!id.starts_with("poison-"), "{id}");
        } else {
            assert_eq!(id, want_id);
        }
        assert!(
            text.starts_with(want_text),
            "{text:?} does not start with {want_text:?}"
        );
    }
}

#[test]
fn key_decoding_handles_plus_percent_and_utf8() {
    assert_eq!(decode_key("a+b%2Bc%25d+%C3%A9").unwrap(), "a b+c%d é");
    assert_eq!(decode_key("dir%2Ffile").unwrap(), "dir/file");
    assert!(decode_key("").is_err());
    let err = decode_key("bad%FF").unwrap_err();
    assert!(err.contains("bad%FF"), "{err}");
}

#[test]
fn malformed_shapes_name_what_is_wrong() {
    let cases = [
        (
            "[]",
            "not an S3 event notification: the JSON is not an object",
        ),
        (r#"{"Records": 3}"#, "field `Records`: invalid type"),
        (
            r#"{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {}, "object": {"key": "k"}}}]}"#,
            "field `Records[0].s3.bucket`: missing field `name`",
        ),
        (
            r#"{"Type": "Notification", "Message": 5}"#,
            "the SNS envelope's `Message` is not a JSON-encoded S3 event: `Message` is not a string",
        ),
        (
            r#"{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": ""}, "object": {"key": "k"}}}]}"#,
            "field `Records[0].s3.bucket.name`: empty bucket name",
        ),
    ];
    for (body, want) in cases {
        let err = decode_body(body).unwrap_err().to_string();
        assert!(err.starts_with(want), "{body}: {err}");
    }
}

#[test]
fn empty_version_id_means_none() {
    let body = r#"{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "k", "versionId": ""}}}]}"#;
    assert_eq!(
        decode_body(body).unwrap().objects[0].object.version_id,
        None
    );
}
