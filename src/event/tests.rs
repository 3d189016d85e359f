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
            sequencer: None,
            principal: None,
            owner: None,
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
    assert!(err.to_string().contains("UTF-8"), "{err}");
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
fn empty_and_null_version_ids_mean_none() {
    // The `null` version is replaced by the next upload of its key: it pins nothing.
    for version in ["", "null"] {
        let object = &decode_body(&one_record("k", "b", version)).unwrap().objects[0];
        assert_eq!(object.object.version_id, None, "{version:?}");
        assert!(!object.object.is_pinned());
    }
}

#[test]
fn tag_changes_are_object_events_naming_who_made_them() {
    let body = serde_json::json!({ "Records": [
        { "eventName": "ObjectTagging:Put", "userIdentity": { "principalId": "AWS:AROAX:fn" },
          "s3": { "bucket": { "name": "b" }, "object": {
              "key": "k", "versionId": "v1", "sequencer": "0055AED6DCD90281E5" } } },
        { "eventName": "ObjectTagging:Delete",
          "s3": { "bucket": { "name": "b" }, "object": { "key": "k" } } },
        { "eventName": "ObjectCreated:Put",
          "s3": { "bucket": { "name": "b" }, "object": { "key": "k" } } },
    ] })
    .to_string();
    let decoded = decode_body(&body).unwrap();
    assert!(decoded.ignored.is_empty());
    let kinds: Vec<EventKind> = decoded.objects.iter().map(ObjectEvent::kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::TagsChanged,
            EventKind::TagsChanged,
            EventKind::Created
        ]
    );
    let first = &decoded.objects[0];
    assert_eq!(first.principal.as_deref(), Some("AWS:AROAX:fn"));
    assert_eq!(first.sequencer.as_deref(), Some("0055AED6DCD90281E5"));
    assert_eq!(decoded.objects[1].principal, None);
}

#[test]
fn the_bucket_owner_is_named_and_a_forged_one_refused() {
    let record = |owner: &str| {
        serde_json::json!({ "Records": [{ "eventName": "ObjectCreated:Put", "s3": {
            "bucket": { "name": "b", "ownerIdentity": { "principalId": owner } },
            "object": { "key": "k" } } }] })
        .to_string()
    };
    let decoded = decode_body(&record("A3NL1KOZZKExample")).unwrap();
    assert_eq!(
        decoded.objects[0].owner.as_deref(),
        Some("A3NL1KOZZKExample")
    );
    match decode_body(&record("A3NL\nINFO forged")) {
        Err(e) => assert!(
            e.to_string().contains("bucket.ownerIdentity.principalId"),
            "{e}"
        ),
        Ok(d) => panic!("accepted {:?}", d.objects[0].owner),
    }
}

// Property and fuzz tests: the generators, the model and the checks of examples/fuzz_events.rs
// (where `scripts/fuzz` runs a million cases), here on a fast subset.
#[path = "../../examples/fuzz_events.rs"]
#[allow(dead_code)]
mod fuzz_events;

use fuzz_events::{Options, check, fixed_cases, run};

fn assert_passed(summary: &fuzz_events::Summary) {
    assert!(
        summary.passed(),
        "{:?}\n{:#?}",
        summary.failures_by_property,
        summary.failures
    );
}

#[test]
fn fuzz_a_few_thousand_cases() {
    let summary = run(Options {
        cases: 3000,
        seed: 7,
        threads: 2,
    });
    assert_passed(&summary);
    assert!(summary.bodies >= 3000);
    // Each generator made something, and the model judged nearly everything.
    for kind in [
        "random-bytes",
        "token-soup",
        "fixture-bytes",
        "sns-message-bytes",
        "deep-nesting",
        "arbitrary-json",
        "key-round-trip",
        "odd-key",
        "drop-field",
        "wrong-type",
    ] {
        assert!(summary.by_kind.contains_key(kind), "no {kind} case");
    }
    assert!(summary.unmodelled * 20 < summary.bodies, "{summary:?}");
    assert!(
        summary.by_result.get("ok").copied().unwrap_or(0) > 300,
        "{summary:?}"
    );
}

#[test]
fn fixed_edge_cases_hold() {
    let mut summary = fuzz_events::Summary::default();
    for c in fixed_cases() {
        check(&c, &mut summary);
    }
    assert_passed(&summary);
}

#[test]
fn nesting_past_the_recursion_limit_is_rejected_cleanly() {
    for body in [
        "[".repeat(100_000),
        format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000)),
    ] {
        let err = decode_body(&body).unwrap_err();
        assert!(matches!(err, EventError::BodyNotJson(_)), "{err}");
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }
    let sns = serde_json::json!({ "Type": "Notification", "Message": "[".repeat(100_000) });
    let err = decode_body(&sns.to_string()).unwrap_err();
    assert!(matches!(err, EventError::SnsMessageNotJson(_)), "{err}");
    // The deepest body accepted (an unknown field nested 122 levels inside a record; one more
    // is past the limit) and a million `[` fit in a quarter of a tokio worker's 2 MiB stack,
    // even in a debug build (measured: about 320 KiB).
    let nest = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let deepest = move |depth: usize| {
        format!(
            r#"{{"Records":[{{"eventName":"ObjectCreated:Put","s3":{{"bucket":{{"name":"b"}},"object":{{"key":"k","junk":{}}}}}}}]}}"#,
            nest(depth)
        )
    };
    assert!(decode_body(&deepest(123)).is_err());
    std::thread::Builder::new()
        .stack_size(512 << 10)
        .spawn(move || {
            assert_eq!(decode_body(&deepest(122)).unwrap().objects.len(), 1);
            assert!(decode_body(&"[".repeat(1_000_000)).is_err());
        })
        .unwrap()
        .join()
        .unwrap();
}

fn one_record(key: &str, bucket: &str, version: &str) -> String {
    serde_json::json!({ "Records": [{ "eventName": "ObjectCreated:Put", "s3": {
        "bucket": { "name": bucket }, "object": { "key": key, "versionId": version } } }] })
    .to_string()
}

#[test]
fn errors_quote_keys_escaped_and_cut() {
    // A raw newline, NUL and escape in a key that does not decode: one log line, escaped.
    let err = decode_body(&one_record("bad\n%FF\0\u{1b}[31m", "b", ""))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "field `Records[0].s3.object.key`: key `bad\\n%FF\\u{0}\\u{1b}[31m` does not decode to \
         UTF-8: invalid utf-8 sequence of 1 bytes from index 4"
    );
    // A megabyte of value where a number belongs: the error repeats 200 characters of it.
    let body = serde_json::json!({ "Records": [{ "eventName": "ObjectCreated:Put", "s3": {
        "bucket": { "name": "b" }, "object": { "key": "k", "size": "9".repeat(1 << 20) } } }] });
    let err = decode_body(&body.to_string()).unwrap_err().to_string();
    assert!(
        err.starts_with("field `Records[0].s3.object.size`: invalid type: string"),
        "{err}"
    );
    assert!(
        err.len() < 400 && err.ends_with("(1048613 bytes in all)"),
        "{err}"
    );
}

#[test]
fn keys_over_1024_bytes_are_rejected_at_the_key() {
    assert!(decode_body(&one_record(&"k".repeat(1024), "b", "")).is_ok());
    let err = decode_body(&one_record(&"%C3%A9".repeat(513), "b", ""))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("field `Records[0].s3.object.key`: key `%C3%A9")
            && err.ends_with("is 1026 bytes once decoded, over S3's limit of 1024"),
        "{err}"
    );
}

#[test]
fn percent_edge_cases_decode_leniently_or_fail_on_utf8() {
    assert_eq!(decode_key("%").unwrap(), "%");
    assert_eq!(decode_key("%G1").unwrap(), "%G1");
    assert_eq!(decode_key("%2").unwrap(), "%2");
    assert_eq!(decode_key("%%41").unwrap(), "%A");
    assert_eq!(decode_key("+").unwrap(), " ");
    assert_eq!(decode_key("%00%0A").unwrap(), "\0\n");
    for bad in ["%FF%FE", "%C3", "%ED%A0%80", "%C0%AF", "%F4%90%80%80"] {
        assert!(decode_key(bad).is_err(), "{bad}");
    }
}

#[test]
fn buckets_and_version_ids_that_could_forge_log_lines_are_rejected() {
    for (bucket, version, path) in [
        ("b\nINFO forged", "", "Records[0].s3.bucket.name"),
        ("b/c", "", "Records[0].s3.bucket.name"),
        (&"b".repeat(256), "", "Records[0].s3.bucket.name"),
        ("b", "v\r\n", "Records[0].s3.object.versionId"),
        ("b", "v\u{2028}", "Records[0].s3.object.versionId"),
    ] {
        match decode_body(&one_record("k", bucket, version)) {
            Err(EventError::BadField { path: p, reason }) => {
                assert_eq!(p, path);
                assert!(!reason.contains(['\n', '\r', '\u{2028}']), "{reason}");
            }
            other => panic!("{bucket:?} {version:?}: {other:?}"),
        }
    }
    let legacy = decode_body(&one_record("k", "Old_Bucket.name-1", "3sL4kqtJlcpXroDTDmJ"));
    assert_eq!(
        legacy.unwrap().objects[0].object.bucket,
        "Old_Bucket.name-1"
    );
}

#[test]
fn keys_with_control_characters_decode_and_display_escaped() {
    let key = "a\0b\nc\u{1b}[31md\u{2028}";
    let body = one_record(
        &fuzz_events::s3_encode(key, fuzz_events::ENCODE_ALL),
        "b",
        "",
    );
    let object = decode_body(&body).unwrap().objects.remove(0).object;
    assert_eq!(object.key, key);
    let shown = object.to_string();
    assert!(!shown.chars().any(fuzz_events::breaks_a_line), "{shown}");
    assert!(shown.contains(r"a\0b\nc\u{1b}[31md\u{2028}"), "{shown}");
}

#[test]
fn ignored_event_names_are_escaped() {
    let body = r#"{"Records": [{"eventName": "ObjectRemoved:Delete\nERROR forged", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]}"#;
    let decoded = decode_body(body).unwrap();
    assert_eq!(
        decoded.ignored[0].event_name,
        r"ObjectRemoved:Delete\nERROR forged"
    );
}

#[test]
fn one_bad_message_fails_alone() {
    let good = include_str!("../../events/sqs-sns-s3-put.json");
    let mut event: serde_json::Value = serde_json::from_str(good).unwrap();
    let record = event["Records"][0].clone();
    let mut records = Vec::new();
    for (i, body) in ["[".repeat(10_000), "{\"Records\": 1}".into(), "\0".into()]
        .into_iter()
        .enumerate()
    {
        let mut bad = record.clone();
        bad["messageId"] = format!("bad-{i}").into();
        bad["body"] = body.into();
        records.push(bad);
        records.push(record.clone());
    }
    event["Records"] = records.into();
    let decoded = fixture(&event.to_string());
    assert_eq!(decoded.len(), 6);
    for (id, result) in decoded {
        match result {
            Ok(d) => assert_eq!(d.objects[0].object.key, "reports/q3.txt"),
            Err(e) => assert!(
                id.starts_with("bad-") && !e.to_string().contains('\n'),
                "{id}: {e}"
            ),
        }
    }
}
