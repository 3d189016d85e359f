//! Failures S3 answers with, injected at the store seam in front of the real emulator: the
//! other calls of each scenario still go to moto.

use pretty_assertions::assert_eq;
use s3_yara_scan::store::{Fetched, MemoryBudget, ObjectInfo, Op, Tags};
use s3_yara_scan::{ObjectRef, ObjectStore, S3Store, StoreError};

use crate::support::*;

/// The emulator's store, with chosen calls failing.
struct Faulty {
    inner: S3Store,
    get: Option<StoreError>,
    put_tags: Option<StoreError>,
    copy: Option<StoreError>,
}

impl Faulty {
    fn new(emu: &Emulator) -> Faulty {
        Faulty {
            inner: emu.store(),
            get: None,
            put_tags: None,
            copy: None,
        }
    }

    fn pipeline(self, w: &Wiring) -> s3_yara_scan::Pipeline<Faulty> {
        let engine = s3_yara_scan::Engine::new(
            s3_yara_scan::RuleSet::embedded().unwrap(),
            std::time::Duration::from_secs(10),
        );
        s3_yara_scan::Pipeline::new(self, engine, config(w))
    }
}

fn denied(op: Op) -> StoreError {
    StoreError::AccessDenied {
        op,
        permission: format!("the permission for {op}"),
        detail: "Access Denied".into(),
    }
}

impl ObjectStore for Faulty {
    async fn get(&self, o: &ObjectRef, b: &MemoryBudget) -> Result<Fetched, StoreError> {
        match &self.get {
            Some(e) => Err(e.clone()),
            None => self.inner.get(o, b).await,
        }
    }
    async fn head(&self, o: &ObjectRef) -> Result<Option<ObjectInfo>, StoreError> {
        self.inner.head(o).await
    }
    async fn tags(&self, o: &ObjectRef) -> Result<Tags, StoreError> {
        self.inner.tags(o).await
    }
    async fn put_tags(&self, o: &ObjectRef, t: &Tags) -> Result<(), StoreError> {
        match &self.put_tags {
            Some(e) => Err(e.clone()),
            None => self.inner.put_tags(o, t).await,
        }
    }
    async fn copy(
        &self,
        s: &ObjectRef,
        n: u64,
        d: &ObjectRef,
        t: &Tags,
    ) -> Result<ObjectInfo, StoreError> {
        match &self.copy {
            Some(e) => Err(e.clone()),
            None => self.inner.copy(s, n, d, t).await,
        }
    }
    async fn delete(&self, o: &ObjectRef, etag: Option<&str>) -> Result<(), StoreError> {
        self.inner.delete(o, etag).await
    }
}

/// A read the role is not allowed to make cannot succeed on retry: the object is tagged
/// `Error` naming the permission, and the message is acknowledged.
#[tokio::test]
async fn access_denied_read_is_tagged_error_and_acknowledged() {
    let emu = emulator().await;
    let w = emu.wire("denied", Options::default()).await;
    emu.put(&w.bucket, "secret.bin", EICAR).await;
    let records = emu.notifications(&w, 1).await;
    let store = Faulty {
        get: Some(denied(Op::GetObject)),
        ..Faulty::new(&emu)
    };
    let response = store
        .pipeline(&w)
        .process_batch(batch(records))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
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
    let w = emu.wire("slowdown", Options::default()).await;
    emu.put(&w.bucket, "busy.txt", "text").await;
    let records = emu.notifications(&w, 1).await;
    let id = records[0].message_id.clone().unwrap();
    let slow = StoreError::Transient {
        op: Op::GetObject,
        detail: "SlowDown: Please reduce your request rate.".into(),
    };
    let store = Faulty {
        get: Some(slow),
        ..Faulty::new(&emu)
    };
    let response = store
        .pipeline(&w)
        .process_batch(batch(records))
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
    let w = emu.wire("nocopy", Options::default()).await;
    emu.put(&w.bucket, "stuck.com", EICAR).await;
    let records = emu.notifications(&w, 1).await;
    let id = records[0].message_id.clone().unwrap();
    let store = Faulty {
        copy: Some(denied(Op::CopyObject)),
        ..Faulty::new(&emu)
    };
    let response = store
        .pipeline(&w)
        .process_batch(batch(records))
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
    let w = emu.wire("notag", Options::default()).await;
    emu.put(&w.bucket, "x.com", EICAR).await;
    let records = emu.notifications(&w, 1).await;
    let store = Faulty {
        put_tags: Some(denied(Op::PutObjectTagging)),
        ..Faulty::new(&emu)
    };
    let response = store
        .pipeline(&w)
        .process_batch(batch(records))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
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
    let w = emu.wire("notagclean", Options::default()).await;
    emu.put(&w.bucket, "ok.txt", "fine").await;
    let records = emu.notifications(&w, 1).await;
    let store = Faulty {
        put_tags: Some(denied(Op::PutObjectTagging)),
        ..Faulty::new(&emu)
    };
    let response = store
        .pipeline(&w)
        .process_batch(batch(records))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert!(emu.tags(&w.bucket, "ok.txt", None).await.is_empty());
}
