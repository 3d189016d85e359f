//! Failures S3 answers with, injected at the store seam in front of the real emulator: the
//! other calls of each scenario still go to moto.

use pretty_assertions::assert_eq;
use s3_yara_scan::store::{Budget, Fetched, Listed, Op, Page, Sink};
use s3_yara_scan::{ObjectInfo, SseKms, Tags};
use s3_yara_scan::{ObjectRef, ObjectStore, S3Store, StoreError};

use crate::support::*;

/// The emulator's store, with chosen calls failing.
#[derive(Default)]
pub(crate) struct Faults {
    pub(crate) get: Option<StoreError>,
    pub(crate) head: Option<StoreError>,
    /// When set, `head` fails only for objects of this bucket.
    pub(crate) head_bucket: Option<String>,
    pub(crate) tags: Option<StoreError>,
    pub(crate) put_tags: Option<StoreError>,
    pub(crate) copy: Option<StoreError>,
    pub(crate) delete: Option<StoreError>,
}

pub(crate) struct Faulty {
    inner: S3Store,
    fail: Faults,
    copies: std::sync::atomic::AtomicUsize,
    /// Uploads these bytes over the object just before its first tag write: a newer upload
    /// landing between the read and the tagging.
    replace_before_tagging: std::sync::Mutex<Option<(aws_sdk_s3::Client, Vec<u8>)>>,
}

/// Fails with the injected error if there is one, else runs the real call.
macro_rules! or_fail {
    ($fault:expr, $call:expr) => {
        match &$fault {
            Some(e) => Err(e.clone()),
            None => $call.await,
        }
    };
}

impl ObjectStore for Faulty {
    async fn get(
        &self,
        o: &ObjectRef,
        etag: Option<&str>,
        b: &Budget,
        reserved: Option<Sink>,
    ) -> Result<Fetched, StoreError> {
        or_fail!(self.fail.get, self.inner.get(o, etag, b, reserved))
    }
    async fn head(&self, o: &ObjectRef) -> Result<Option<ObjectInfo>, StoreError> {
        match &self.fail.head_bucket {
            Some(bucket) if *bucket != o.bucket => self.inner.head(o).await,
            _ => or_fail!(self.fail.head, self.inner.head(o)),
        }
    }
    async fn tags(&self, o: &ObjectRef) -> Result<Tags, StoreError> {
        or_fail!(self.fail.tags, self.inner.tags(o))
    }
    async fn put_tags(&self, o: &ObjectRef, t: &Tags) -> Result<(), StoreError> {
        let replacement = self.replace_before_tagging.lock().unwrap().take();
        if let Some((client, body)) = replacement {
            client
                .put_object()
                .bucket(&o.bucket)
                .key(&o.key)
                .body(body.into())
                .send()
                .await
                .unwrap();
        }
        or_fail!(self.fail.put_tags, self.inner.put_tags(o, t))
    }
    async fn copy(
        &self,
        s: &ObjectRef,
        info: &ObjectInfo,
        d: &ObjectRef,
        t: &Tags,
        kms: Option<&SseKms>,
    ) -> Result<ObjectInfo, StoreError> {
        self.copies
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        or_fail!(self.fail.copy, self.inner.copy(s, info, d, t, kms))
    }
    async fn delete(&self, o: &ObjectRef, etag: Option<&str>) -> Result<(), StoreError> {
        or_fail!(self.fail.delete, self.inner.delete(o, etag))
    }
    async fn versions(&self, o: &ObjectRef) -> Result<Vec<ObjectInfo>, StoreError> {
        self.inner.versions(o).await
    }
    async fn is_versioned(&self, bucket: &str) -> Result<Option<bool>, StoreError> {
        self.inner.is_versioned(bucket).await
    }
    async fn bucket_tags(&self, bucket: &str) -> Result<s3_yara_scan::Tags, StoreError> {
        self.inner.bucket_tags(bucket).await
    }
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<Listed>, StoreError> {
        self.inner.list(bucket, prefix).await
    }
    async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: Option<&str>,
        max: usize,
    ) -> Result<Page, StoreError> {
        self.inner.list_page(bucket, prefix, start_after, max).await
    }
    async fn put(&self, o: &ObjectRef, body: Vec<u8>) -> Result<(), StoreError> {
        self.inner.put(o, body).await
    }
}

/// The pipeline on the emulator with `fail` injected.
fn pipeline(emu: &Emulator, w: &Wiring, fail: Faults) -> s3_yara_scan::Pipeline<Faulty> {
    pipeline_with(emu, config(w), fail)
}

pub(crate) fn pipeline_with(
    emu: &Emulator,
    config: s3_yara_scan::Config,
    fail: Faults,
) -> s3_yara_scan::Pipeline<Faulty> {
    let store = Faulty {
        inner: emu.store(),
        fail,
        copies: Default::default(),
        replace_before_tagging: Default::default(),
    };
    let engine = s3_yara_scan::Engine::new(
        s3_yara_scan::RuleSet::embedded().unwrap(),
        std::time::Duration::from_secs(10),
    );
    s3_yara_scan::Pipeline::new(store, engine, config)
}

fn denied(op: Op) -> StoreError {
    StoreError::AccessDenied {
        op,
        permission: format!("the permission for {op}"),
        detail: "Access Denied".into(),
    }
}

/// A read the role is not allowed to make cannot succeed on retry: the object is tagged
/// `Error` naming the permission, and the message is acknowledged.
#[tokio::test]
async fn access_denied_read_is_tagged_error_and_acknowledged() {
    let emu = emulator().await;
    let (w, records) = emu.uploaded("denied", "secret.bin", EICAR).await;
    let fail = Faults {
        get: Some(denied(Op::GetObject)),
        ..Faults::default()
    };
    acknowledged(&pipeline(&emu, &w, fail), records).await;
    let tags = emu.tags(&w.bucket, "secret.bin", None).await;
    let map = tag_map(&tags);
    assert_eq!(map["scan-result"], "Error");
    assert!(
        map["scan-detail"].contains("the permission for GetObject"),
        "{map:?}"
    );
}

/// Throttling or a dropped connection on the read: nothing is tagged and the message is
/// retried.
#[tokio::test]
async fn transient_read_failure_is_retried_untagged() {
    let emu = emulator().await;
    let (w, records) = emu.uploaded("slowdown", "busy.txt", "text").await;
    let id = records[0].message_id.clone().unwrap();
    let slow = StoreError::Transient {
        op: Op::GetObject,
        detail: "SlowDown: Please reduce your request rate.".into(),
    };
    let fail = Faults {
        get: Some(slow),
        ..Faults::default()
    };
    let response = s3_yara_scan::batch::process(&pipeline(&emu, &w, fail), batch(records))
        .await
        .unwrap();
    assert_eq!(failed_ids(&response), [id]);
    assert!(emu.tags(&w.bucket, "busy.txt", None).await.is_empty());
}

/// When the quarantine copy fails, the infected object stays in place tagged `Infected`, and
/// the message is retried (it ends in the DLQ, to be redriven once the cause is fixed), even
/// for a permission error.
#[tokio::test]
async fn failed_quarantine_copy_keeps_the_object_and_retries() {
    let emu = emulator().await;
    let (w, records) = emu.uploaded("nocopy", "stuck.com", EICAR).await;
    let id = records[0].message_id.clone().unwrap();
    let fail = Faults {
        copy: Some(denied(Op::CopyObject)),
        ..Faults::default()
    };
    let response = s3_yara_scan::batch::process(&pipeline(&emu, &w, fail), batch(records))
        .await
        .unwrap();
    assert_eq!(failed_ids(&response), [id]);
    assert!(emu.exists(&w.bucket, "stuck.com").await);
    assert_eq!(
        emu.tag(&w.bucket, "stuck.com", "scan-result")
            .await
            .as_deref(),
        Some("Infected")
    );
    assert!(emu.versions(&w.quarantine).await.is_empty());
}

/// An infected object whose tags cannot be written is still quarantined: the copy carries the
/// verdict.
#[tokio::test]
async fn infected_object_is_quarantined_even_when_tagging_is_denied() {
    let emu = emulator().await;
    let (w, records) = emu.uploaded("notag", "x.com", EICAR).await;
    let fail = Faults {
        put_tags: Some(denied(Op::PutObjectTagging)),
        ..Faults::default()
    };
    acknowledged(&pipeline(&emu, &w, fail), records).await;
    assert!(!emu.exists(&w.bucket, "x.com").await);
    let qkey = format!("{}/x.com", w.bucket);
    assert_eq!(
        emu.tag(&w.quarantine, &qkey, "scan-result")
            .await
            .as_deref(),
        Some("Infected")
    );
}

/// A clean object whose tags cannot be written: retrying cannot grant the permission, so the
/// message is acknowledged (and the failure logged at error).
#[tokio::test]
async fn clean_object_with_tagging_denied_is_acknowledged() {
    let emu = emulator().await;
    let (w, records) = emu.uploaded("notagclean", "ok.txt", "fine").await;
    let fail = Faults {
        put_tags: Some(denied(Op::PutObjectTagging)),
        ..Faults::default()
    };
    acknowledged(&pipeline(&emu, &w, fail), records).await;
    assert!(emu.tags(&w.bucket, "ok.txt", None).await.is_empty());
}

/// With `ACTION=tag`, an infected object whose tags cannot be written would stay unmarked:
/// its message is retried (to the DLQ), not acknowledged.
#[tokio::test]
async fn tag_only_infected_object_with_tagging_denied_is_retried() {
    let emu = emulator().await;
    let (w, records) = emu.uploaded("tagdenied", "t.com", EICAR).await;
    let id = records[0].message_id.clone().unwrap();
    let config = s3_yara_scan::Config {
        action: s3_yara_scan::Action::Tag,
        ..config(&w)
    };
    let fail = Faults {
        put_tags: Some(denied(Op::PutObjectTagging)),
        ..Faults::default()
    };
    let response = s3_yara_scan::batch::process(&pipeline_with(&emu, config, fail), batch(records))
        .await
        .unwrap();
    assert_eq!(failed_ids(&response), [id]);
}

/// A failed delete after a verified copy: the object stays (tagged `Infected`), the copy
/// stays, and the message is retried; the retry reuses the copy and deletes.
#[tokio::test]
async fn failed_delete_is_retried_and_the_retry_reuses_the_copy() {
    let emu = emulator().await;
    let (w, records) = emu.uploaded("nodelete", "d.com", EICAR).await;
    let id = records[0].message_id.clone().unwrap();
    let fail = Faults {
        delete: Some(StoreError::Transient {
            op: Op::DeleteObject,
            detail: "connection reset".into(),
        }),
        ..Faults::default()
    };
    let response = s3_yara_scan::batch::process(&pipeline(&emu, &w, fail), batch(records.clone()))
        .await
        .unwrap();
    assert_eq!(failed_ids(&response), [id]);
    assert!(emu.exists(&w.bucket, "d.com").await);
    assert_eq!(emu.versions(&w.quarantine).await.len(), 1);

    let retry = pipeline(&emu, &w, Faults::default());
    acknowledged(&retry, records).await;
    assert!(!emu.exists(&w.bucket, "d.com").await);
    assert_eq!(
        emu.versions(&w.quarantine).await.len(),
        1,
        "copy reused, not duplicated"
    );
}

/// A quarantine bucket that cannot be checked (403 on HeadObject, as S3 answers for a
/// missing key without s3:ListBucket) keeps the object, tagged `Infected`, and retries. Only
/// the quarantine bucket is denied: the source's own re-check after tagging goes through.
#[tokio::test]
async fn unreadable_quarantine_bucket_keeps_the_object() {
    let emu = emulator().await;
    let (w, records) = emu.uploaded("nohead", "h.com", EICAR).await;
    let fail = Faults {
        head: Some(denied(Op::HeadObject)),
        head_bucket: Some(w.quarantine.clone()),
        ..Faults::default()
    };
    let id = records[0].message_id.clone().unwrap();
    let response = s3_yara_scan::batch::process(&pipeline(&emu, &w, fail), batch(records))
        .await
        .unwrap();
    assert_eq!(failed_ids(&response), [id]);
    assert!(emu.exists(&w.bucket, "h.com").await);
    assert_eq!(
        emu.tag(&w.bucket, "h.com", "scan-result").await.as_deref(),
        Some("Infected"),
        "tagged, and past the source's re-check: the quarantine bucket's check failed"
    );
    assert!(emu.versions(&w.quarantine).await.is_empty());
}

/// The same notification twice in one batch is processed once: one copy, both acknowledged.
#[tokio::test]
async fn duplicate_messages_in_a_batch_copy_once() {
    let emu = emulator().await;
    let w = emu.wire("dupes", Options::default()).await;
    emu.put(&w.bucket, "dup.com", EICAR).await;
    let first = emu.notifications(&w, 1).await.remove(0);
    let mut second = first.clone();
    second.message_id = Some("duplicate".into());
    let pipeline = pipeline(&emu, &w, Faults::default());
    acknowledged(&pipeline, vec![first, second]).await;
    assert_eq!(emu.versions(&w.quarantine).await.len(), 1);
    assert_eq!(pipeline_copies(&pipeline), 1);
}

fn pipeline_copies(p: &s3_yara_scan::Pipeline<Faulty>) -> usize {
    p.store().copies.load(std::sync::atomic::Ordering::SeqCst)
}

/// In an unversioned bucket, an infected upload that replaces a clean one while the clean
/// one's verdict is being written must not keep that `Clean` tag: the function notices the
/// changed ETag, reads the new object, and quarantines it.
#[tokio::test]
async fn replacement_during_tagging_is_rescanned() {
    let emu = emulator().await;
    let (w, records) = emu.uploaded("replaced", "r.txt", "clean at first").await;
    let pipeline = pipeline(&emu, &w, Faults::default());
    *pipeline.store().replace_before_tagging.lock().unwrap() =
        Some((emu.s3.clone(), EICAR.as_bytes().to_vec()));
    acknowledged(&pipeline, records).await;
    assert!(
        !emu.exists(&w.bucket, "r.txt").await,
        "the infected replacement was left in place"
    );
    let qkey = format!("{}/r.txt", w.bucket);
    assert_eq!(
        emu.tag(&w.quarantine, &qkey, "scan-result")
            .await
            .as_deref(),
        Some("Infected")
    );
}
