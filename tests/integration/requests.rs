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
        let report = emu.pipeline(with_action(Action::Tag)).settle(&event).await;
        assert_eq!(
            report.verdict.as_ref().map(|v| v.name()),
            Some("Clean"),
            "{name}"
        );
        assert_eq!(report.requests, want, "{name}");
    }
}
