//! The store double behaves like S3 where the pipeline depends on it.

use super::*;

fn budget() -> Budget {
    Budget::memory(1 << 20)
}

async fn read(
    store: &MemoryStore,
    o: &ObjectRef,
    etag: Option<&str>,
) -> Result<Vec<u8>, StoreError> {
    match store.get(o, etag, &budget(), None).await? {
        Fetched::Body { body, .. } => Ok(body.as_ref().to_vec()),
        Fetched::TooLarge(_) => panic!("too large"),
    }
}

#[tokio::test]
async fn versions_stay_and_the_null_version_is_replaced() {
    let s = MemoryStore::new();
    s.create_bucket("v", Versioning::Enabled);
    let one = s.put("v", "k", b"one", &[]);
    let two = s.put("v", "k", b"two", &[]);
    assert_ne!(one.version_id, two.version_id);
    let k = ObjectRef::new("v", "k");
    assert_eq!(
        read(&s, &k.at_version(one.version_id.clone()), None)
            .await
            .unwrap(),
        b"one"
    );
    assert_eq!(read(&s, &k, None).await.unwrap(), b"two");
    assert!(two.last_modified > one.last_modified);

    s.create_bucket("s", Versioning::Suspended);
    let first = s.put("s", "k", b"first", &[]);
    assert_eq!(first.version_id, None, "the null version pins nothing");
    s.put("s", "k", b"second", &[]);
    assert_eq!(s.history("s", "k").len(), 1, "one null version, replaced");
    let k = ObjectRef::new("s", "k");
    assert_eq!(read(&s, &k, None).await.unwrap(), b"second");
    assert_eq!(
        read(&s, &k.at_version(Some("null".into())), None)
            .await
            .unwrap(),
        b"second"
    );
}

#[tokio::test]
async fn unpinned_reads_copies_and_deletes_hold_to_their_etag() {
    let s = MemoryStore::new();
    s.create_bucket("u", Versioning::Unversioned);
    s.create_bucket("q", Versioning::Enabled);
    let old = s.put("u", "k", b"old", &[]);
    s.put("u", "k", b"new", &[]);
    let k = ObjectRef::new("u", "k");
    let stale = old.etag.as_deref();
    assert!(matches!(
        read(&s, &k, stale).await,
        Err(StoreError::Changed { .. })
    ));
    let dest = ObjectRef::new("q", "u/k");
    assert!(matches!(
        s.copy(&k, &old, &dest, &Tags::new(), None).await,
        Err(StoreError::Changed { .. })
    ));
    assert!(matches!(
        s.delete(&k, stale).await,
        Err(StoreError::Changed { .. })
    ));
    assert_eq!(s.body(&k).unwrap(), b"new");
    s.delete(&k, None).await.unwrap();
    assert!(s.head(&k).await.unwrap().is_none());
}

#[tokio::test]
async fn deleting_without_a_version_leaves_a_delete_marker() {
    let s = MemoryStore::new();
    s.create_bucket("v", Versioning::Enabled);
    let one = s.put("v", "k", b"one", &[]);
    let k = ObjectRef::new("v", "k");
    s.delete(&k, None).await.unwrap();
    assert!(matches!(
        read(&s, &k, None).await,
        Err(StoreError::NotFound { .. })
    ));
    let history = s.history("v", "k");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].1, None, "newest is the marker");
    let marker = k.at_version(Some(history[0].0.clone()));
    assert!(matches!(
        read(&s, &marker, None).await,
        Err(StoreError::Permanent { .. })
    ));
    let pinned = k.at_version(one.version_id);
    assert_eq!(read(&s, &pinned, None).await.unwrap(), b"one");
    assert_eq!(
        s.versions(&k).await.unwrap().len(),
        1,
        "markers are not versions"
    );
}

#[tokio::test]
async fn ten_tags_at_most_and_an_empty_set_removes_them() {
    let s = MemoryStore::new();
    s.create_bucket("v", Versioning::Enabled);
    s.put("v", "k", b"x", &[("a", "1")]);
    let k = ObjectRef::new("v", "k");
    let eleven: Tags = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
    assert!(matches!(
        s.put_tags(&k, &eleven).await,
        Err(StoreError::Permanent { .. })
    ));
    assert_eq!(s.tags(&k).await.unwrap(), vec![("a".into(), "1".into())]);
    s.put_tags(&k, &Tags::new()).await.unwrap();
    assert!(s.tags(&k).await.unwrap().is_empty());
    assert_eq!(s.count(Op::DeleteObjectTagging), 1);
}

#[tokio::test]
async fn hooks_fail_delay_or_interleave_and_every_call_is_counted() {
    let s = MemoryStore::new();
    s.create_bucket("u", Versioning::Unversioned);
    s.put("u", "k", b"first", &[]);
    let k = ObjectRef::new("u", "k");
    let denied = StoreError::AccessDenied {
        op: Op::GetObjectTagging,
        permission: "p".into(),
        detail: "d".into(),
    };
    s.on(
        Op::GetObjectTagging,
        Some("k"),
        Some(1),
        Hook::Fail(denied.clone()),
    );
    s.on(
        Op::HeadObject,
        None,
        Some(1),
        Hook::Run(Arc::new(|s: &MemoryStore| {
            s.put("u", "k", b"replaced", &[]);
        })),
    );
    let (results, requests) = requests::counted(async {
        let tags = s.tags(&k).await;
        let again = s.tags(&k).await;
        let head = s.head(&k).await;
        (tags, again, head)
    })
    .await;
    assert_eq!(results.0, Err(denied), "the first call fails");
    assert!(results.1.is_ok(), "a hook with times runs that many times");
    assert_eq!(
        results.2.unwrap().unwrap().size,
        8,
        "the upload landed before the answer"
    );
    assert_eq!(requests, 3);
}
