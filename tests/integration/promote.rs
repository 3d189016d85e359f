//! The two-bucket system on the emulator: clean uploads move from the staging bucket to the
//! production bucket with their metadata and tags, infected ones to quarantine, and a
//! redelivered notification changes nothing.

use pretty_assertions::assert_eq;
use s3_yara_scan::config::Promotion;

use crate::support::*;

#[tokio::test]
async fn clean_uploads_are_promoted_and_infected_ones_quarantined() {
    let emu = emulator().await;
    let w = emu
        .wire(
            "staging",
            Options {
                versioned: true,
                ..Options::default()
            },
        )
        .await;
    let production = unique("production");
    emu.s3
        .create_bucket()
        .bucket(&production)
        .send()
        .await
        .unwrap();
    emu.s3
        .put_object()
        .bucket(&w.bucket)
        .key("in/report one.pdf")
        .body(b"%PDF-1.7 quarterly figures".to_vec().into())
        .content_type("application/pdf")
        .metadata("author", "ana")
        .tagging("team=finance")
        .send()
        .await
        .unwrap();
    emu.put(&w.bucket, "in/eicar.com", EICAR).await;
    let records = emu.notifications(&w, 2).await;
    let mut config = config(&w);
    config.promote = vec![Promotion {
        from_bucket: w.bucket.clone(),
        from_prefix: "in/".into(),
        to_bucket: production.clone(),
        to_prefix: "published/".into(),
    }];
    let pipeline = emu.pipeline(config);
    acknowledged(&pipeline, records.clone()).await;

    let head = emu
        .s3
        .head_object()
        .bucket(&production)
        .key("published/report one.pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/pdf"));
    assert_eq!(
        head.metadata().unwrap().get("author").map(String::as_str),
        Some("ana")
    );
    let tags = emu
        .tags(&production, "published/report one.pdf", None)
        .await;
    let map = tag_map(&tags);
    assert_eq!((map["scan-result"], map["team"]), ("Clean", "finance"));
    assert!(map.contains_key("scan-source"));
    assert_eq!(
        emu.versions(&w.bucket)
            .await
            .into_iter()
            .filter(|(_, marker)| !marker)
            .count(),
        0,
        "staging is empty"
    );
    assert!(
        emu.exists(&w.quarantine, &format!("{}/in/eicar.com", w.bucket))
            .await
    );
    assert!(!emu.exists(&production, "published/eicar.com").await);

    // The same notifications again: both objects are gone from staging; nothing changes.
    acknowledged(&pipeline, records).await;
    assert_eq!(
        emu.versions(&production).await,
        vec![("published/report one.pdf".to_owned(), false)]
    );
}
