//! The two-bucket system on the emulator: clean uploads move from the staging bucket to the
//! production bucket with their metadata and tags, infected ones to quarantine, and a
//! redelivered notification changes nothing; an SSE-KMS object copied in parts keeps its key.

use std::time::Duration;

use aws_sdk_s3::types::{
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule,
};
use pretty_assertions::assert_eq;
use s3_yara_scan::config::Promotion;
use s3_yara_scan::{Engine, Pipeline, RuleSet};

use crate::support::*;

/// A versioned production bucket whose default encryption is SSE-S3, as the stack's is.
async fn production_bucket(emu: &Emulator) -> String {
    let production = unique("production");
    emu.s3
        .create_bucket()
        .bucket(&production)
        .send()
        .await
        .unwrap();
    emu.s3
        .put_bucket_versioning()
        .bucket(&production)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let sse_s3 = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::Aes256)
        .build()
        .unwrap();
    let rule = ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(sse_s3)
        .build();
    emu.s3
        .put_bucket_encryption()
        .bucket(&production)
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    production
}

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

/// Above the copy-in-parts threshold, CreateMultipartUpload carries the source's KMS key: the
/// production copy is SSE-KMS with that key, not the bucket's SSE-S3.
#[tokio::test]
async fn an_sse_kms_object_copied_in_parts_keeps_its_key() {
    let emu = emulator().await;
    let w = emu
        .wire(
            "kms-staging",
            Options {
                versioned: true,
                ..Options::default()
            },
        )
        .await;
    let production = production_bucket(&emu).await;
    // moto takes any key id; real S3 checks it exists and the uploader may use it.
    let key = "arn:aws:kms:us-east-1:123456789012:key/staging-key";
    let body = vec![b'a'; 12 * 1024 * 1024 + 5];
    emu.s3
        .put_object()
        .bucket(&w.bucket)
        .key("big.bin")
        .body(body.into())
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id(key)
        .send()
        .await
        .unwrap();
    let records = emu.notifications(&w, 1).await;
    let mut config = config(&w);
    config.promote = vec![Promotion {
        from_bucket: w.bucket.clone(),
        from_prefix: String::new(),
        to_bucket: production.clone(),
        to_prefix: String::new(),
    }];
    let store = emu
        .store()
        .with_multipart_copy(5 * 1024 * 1024, 5 * 1024 * 1024);
    let engine = Engine::new(RuleSet::embedded().unwrap(), Duration::from_secs(10));
    let pipeline = Pipeline::new(store, engine, config);
    pipeline.preflight().await.unwrap();
    acknowledged(&pipeline, records).await;

    let copy = emu
        .s3
        .head_object()
        .bucket(&production)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert!(copy.e_tag().unwrap().contains('-'), "copied in parts");
    assert_eq!(
        (copy.server_side_encryption(), copy.ssekms_key_id()),
        (Some(&ServerSideEncryption::AwsKms), Some(key))
    );
    assert!(!emu.exists(&w.bucket, "big.bin").await, "gone from staging");
}

/// On the emulator too, the start-up check reads a staging bucket's versioning and refuses an
/// unversioned one, naming PROMOTE and the bucket.
#[tokio::test]
async fn an_unversioned_staging_bucket_fails_the_start_up_check() {
    let emu = emulator().await;
    let w = emu.wire("plain-staging", Options::default()).await;
    let production = production_bucket(&emu).await;
    let mut config = config(&w);
    config.promote = vec![Promotion {
        from_bucket: w.bucket.clone(),
        from_prefix: String::new(),
        to_bucket: production,
        to_prefix: String::new(),
    }];
    let error = emu
        .pipeline(config)
        .preflight()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("PROMOTE names the staging bucket `{}`", w.bucket))
            && error.contains("does not have versioning enabled"),
        "{error}"
    );
}
