//! Signed verdicts: a forged or copied `scan-result=Clean` never skips a scan, and an object
//! this scanner already signed `Clean` is not read again when copied to another protected
//! bucket.

use pretty_assertions::assert_eq;
use s3_yara_scan::store::Op;
use s3_yara_scan::{Config, SigningKey, SigningKeySource, SkipSigned, StoreError};

use crate::faults::{Faults, pipeline_with};
use crate::support::*;

fn signing(w: &Wiring) -> Config {
    let key = SigningKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
    Config {
        signing_key: SigningKeySource::Inline(key),
        ..config(w)
    }
}

/// The emulator's store with GetObject failing: a read would fail the message.
/// `text` repeated past 256 KiB: an object whose tags are read before its bytes, so that its
/// signed `Clean` spares the read (smaller ones are read first and their tags checked after).
fn large(text: &str) -> Vec<u8> {
    text.as_bytes().repeat(300 * 1024 / text.len() + 1)
}

fn forbid_reads() -> Faults {
    Faults {
        get: Some(StoreError::Transient {
            op: Op::GetObject,
            detail: "this test forbids reads".into(),
        }),
        ..Faults::default()
    }
}

async fn put_tagged(emu: &Emulator, bucket: &str, key: &str, body: &[u8], tagging: &str) {
    emu.s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.to_vec().into())
        .tagging(tagging)
        .send()
        .await
        .unwrap();
}

fn query(tags: &[(String, String)]) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={}", v.replace(':', "%3A")))
        .collect::<Vec<_>>()
        .join("&")
}

/// EICAR uploaded with `scan-result=Clean` (unsigned), and EICAR uploaded with the whole signed
/// tag set of a clean object, are both scanned and quarantined.
#[tokio::test]
async fn forged_and_copied_clean_verdicts_do_not_skip_the_scan() {
    let emu = emulator().await;
    let w = emu.wire("forged", Options::default()).await;
    emu.put(&w.bucket, "clean.txt", "hello").await;
    let records = emu.notifications(&w, 1).await;
    let pipeline = emu.pipeline(signing(&w));
    s3_yara_scan::batch::process(&pipeline, batch(records))
        .await
        .unwrap();
    let signed = emu.tags(&w.bucket, "clean.txt", None).await;
    assert!(tag_map(&signed)["scan-signature"].starts_with("v1."));

    put_tagged(
        &emu,
        &w.bucket,
        "a/eicar.com",
        EICAR.as_bytes(),
        "scan-result=Clean",
    )
    .await;
    put_tagged(
        &emu,
        &w.bucket,
        "b/eicar.com",
        EICAR.as_bytes(),
        &query(&signed),
    )
    .await;
    let records = emu.notifications(&w, 2).await;
    acknowledged(&pipeline, records).await;
    for key in ["a/eicar.com", "b/eicar.com"] {
        assert!(!emu.exists(&w.bucket, key).await, "{key} left in place");
        let qkey = format!("{}/{key}", w.bucket);
        let tags = emu.tags(&w.quarantine, &qkey, None).await;
        assert_eq!(tag_map(&tags)["scan-result"], "Infected", "{key}");
    }
}

/// Clean objects scanned and signed in one protected bucket (one uploaded with a SHA-256
/// checksum, which the signature then covers), then copied with their tags into another, are
/// acknowledged as `Clean` without a GET: the store's GetObject fails here, so a read would
/// have failed the message. With SKIP_SIGNED=never they are read (and fail).
#[tokio::test]
async fn signed_clean_object_copied_to_another_bucket_is_not_read_again() {
    let emu = emulator().await;
    let first = emu.wire("signed-src", Options::default()).await;
    emu.put(&first.bucket, "report.pdf", large("quarterly numbers"))
        .await;
    emu.s3
        .put_object()
        .bucket(&first.bucket)
        .key("summed.pdf")
        .body(large("checked numbers").into())
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    let records = emu.notifications(&first, 2).await;
    s3_yara_scan::batch::process(&emu.pipeline(signing(&first)), batch(records))
        .await
        .unwrap();

    let second = emu.wire("signed-dst", Options::default()).await;
    for key in ["report.pdf", "summed.pdf"] {
        emu.s3
            .copy_object()
            .bucket(&second.bucket)
            .key(format!("copied/{key}"))
            .copy_source(format!("{}/{key}", first.bucket))
            .send()
            .await
            .unwrap();
    }
    let records = emu.notifications(&second, 2).await;
    acknowledged(
        &pipeline_with(&emu, signing(&second), forbid_reads()),
        records.clone(),
    )
    .await;
    for key in ["copied/report.pdf", "copied/summed.pdf"] {
        assert_eq!(
            emu.tag(&second.bucket, key, "scan-result").await.as_deref(),
            Some("Clean"),
            "{key}"
        );
    }

    let never = Config {
        skip_signed: SkipSigned::Never,
        ..signing(&second)
    };
    let response =
        s3_yara_scan::batch::process(&pipeline_with(&emu, never, forbid_reads()), batch(records))
            .await
            .unwrap();
    assert_eq!(failed_ids(&response).len(), 2);
}

/// A signature made by other rules counts as stale: with the default SKIP_SIGNED the object
/// is scanned again; with any-rules it is not.
#[tokio::test]
async fn a_signature_from_other_rules_is_rescanned_by_default() {
    let emu = emulator().await;
    let (w, records) = emu.uploaded("stale", "doc.txt", large("plain text")).await;
    s3_yara_scan::batch::process(&emu.pipeline(signing(&w)), batch(records.clone()))
        .await
        .unwrap();
    // Re-sign the same verdict as if another ruleset had made it.
    let key = SigningKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
    let head = emu.store();
    let info = s3_yara_scan::ObjectStore::head(
        &head,
        &s3_yara_scan::ObjectRef {
            bucket: w.bucket.clone(),
            key: "doc.txt".into(),
            version_id: None,
        },
    )
    .await
    .unwrap()
    .unwrap();
    let keys = s3_yara_scan::TagKeys::default();
    let mut tags: Vec<(String, String)> = emu
        .tags(&w.bucket, "doc.txt", None)
        .await
        .into_iter()
        .filter(|(k, _)| k != "scan-signature")
        .map(|(k, v)| {
            if k == "scan-rules" {
                (k, "000000000000".into())
            } else {
                (k, v)
            }
        })
        .collect();
    let signature = s3_yara_scan::signature::sign(&key, &info, &tags, &keys);
    tags.push(("scan-signature".into(), signature));
    s3_yara_scan::ObjectStore::put_tags(
        &head,
        &s3_yara_scan::ObjectRef {
            bucket: w.bucket.clone(),
            key: "doc.txt".into(),
            version_id: None,
        },
        &tags,
    )
    .await
    .unwrap();

    let response = s3_yara_scan::batch::process(
        &pipeline_with(&emu, signing(&w), forbid_reads()),
        batch(records.clone()),
    )
    .await
    .unwrap();
    assert_eq!(
        failed_ids(&response).len(),
        1,
        "stale signature must be rescanned"
    );
    let any = Config {
        skip_signed: SkipSigned::AnyRules,
        ..signing(&w)
    };
    acknowledged(&pipeline_with(&emu, any, forbid_reads()), records).await;
}
