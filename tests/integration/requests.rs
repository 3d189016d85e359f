//! The S3 requests one object costs on the wire (each request the SDK sends, as the report
//! counts them), for the main cases: the regression test of issue 14's request budget.

use pretty_assertions::assert_eq;
use s3_yara_scan::event::decode_body;
use s3_yara_scan::{Action, ObjectEvent};

use crate::support::*;

/// The object the notification for one upload names.
async fn announced(emu: &Emulator, w: &Wiring) -> ObjectEvent {
    let records = emu.notifications(w, 1).await;
    let decoded = decode_body(records[0].body.as_deref().unwrap()).unwrap();
    decoded.objects.into_iter().next().unwrap()
}

#[tokio::test]
async fn requests_per_object_on_the_wire() {
    let emu = emulator().await;
    for (name, versioned, tagging, want) in [
        ("untagged clean, versioned", true, None, 2),
        ("user-tagged clean, versioned", true, Some("team=a"), 3),
        ("untagged clean, unversioned", false, None, 3),
    ] {
        let w = emu
            .wire(
                "requests",
                Options {
                    versioned,
                    ..Options::default()
                },
            )
            .await;
        let mut put = emu
            .s3
            .put_object()
            .bucket(&w.bucket)
            .key("k")
            .body(b"fine".to_vec().into());
        if let Some(t) = tagging {
            put = put.tagging(t);
        }
        put.send().await.unwrap();
        let event = announced(&emu, &w).await;
        let report =
            s3_yara_scan::journey::settle(&emu.pipeline(with_action(Action::Tag)), &event).await;
        assert_eq!(
            report.verdict.as_ref().map(|v| v.name()),
            Some("Clean"),
            "{name}"
        );
        assert_eq!(report.requests, want, "{name}");
    }
}

/// With signing on, an untagged small upload costs 2 requests too (read first: GetObject says
/// it has no tags), and a signed copy of it is skipped after GetObject + GetObjectTagging.
#[tokio::test]
async fn with_signing_small_objects_are_read_first() {
    let emu = emulator().await;
    let w = emu
        .wire(
            "requests-signed",
            Options {
                versioned: true,
                ..Options::default()
            },
        )
        .await;
    let mut config = with_action(Action::Tag);
    config.signing_key = s3_yara_scan::SigningKeySource::Inline(
        s3_yara_scan::SigningKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap(),
    );
    let pipeline = emu.pipeline(config);
    emu.put(&w.bucket, "a.txt", "fine").await;
    let report = s3_yara_scan::journey::settle(&pipeline, &announced(&emu, &w).await).await;
    assert_eq!(report.requests, 2, "untagged, signing on");
    emu.s3
        .copy_object()
        .bucket(&w.bucket)
        .key("copy.txt")
        .copy_source(format!("{}/a.txt", w.bucket))
        .send()
        .await
        .unwrap();
    let copy = s3_yara_scan::journey::settle(&pipeline, &announced(&emu, &w).await).await;
    assert!(
        copy.disposition.to_string().contains("signed Clean"),
        "{}",
        copy.disposition
    );
    assert_eq!(copy.requests, 2, "GetObject, GetObjectTagging");
}
