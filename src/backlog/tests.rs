//! The backlog on the store double: the watermark, the resume after an interruption, the retry
//! of failures, and the queue messages decoding to the objects they name.

use std::sync::Arc;

use pretty_assertions::assert_eq;

use super::*;
use crate::event::{EventKind, decode_body};
use crate::journey::tests::{EICAR, pipeline, quarantining, store};
use crate::object::{ObjectRef, encode_key};
use crate::pipeline::Pipeline;
use crate::store::{Hook, MemoryStore, Op, StoreError};

/// `n` clean objects `k-0000`… in the unversioned bucket, and EICAR at `k-0003` and `k-0007`.
fn filled(n: usize) -> MemoryStore {
    let store = store();
    for i in 0..n {
        let body = if i == 3 || i == 7 {
            EICAR.to_vec()
        } else {
            format!("object {i}").into_bytes()
        };
        store.put("plain", &format!("k-{i:04}"), &body, &[]);
    }
    store
}

fn job(dir: &tempfile::TempDir, concurrency: usize) -> Job {
    let mut job = Job::new("s3://plain/k-", concurrency).unwrap();
    job.state_file = dir.path().join("state.json");
    job
}

async fn scan_all(pipeline: &Pipeline<MemoryStore>, job: &Job) -> Summary {
    let work = Work::Scan(pipeline);
    run(
        pipeline.store(),
        work,
        job,
        Progress::quiet(),
        std::future::pending(),
    )
    .await
    .unwrap()
}

fn result_tag(store: &MemoryStore, key: &str) -> Option<String> {
    let tags = store.tags_of(&ObjectRef::new("plain", key))?;
    tags.into_iter()
        .find(|(k, _)| k == "scan-result")
        .map(|(_, v)| v)
}

#[test]
fn watermark_passes_only_objects_finished_in_a_row() {
    let mut w = Watermark::new(Some("a".into()));
    w.finish(1, "c".into(), None);
    assert_eq!((w.after(), w.done()), (Some("a"), 0));
    w.finish(0, "b".into(), Some("slow down".into()));
    assert_eq!((w.after(), w.done()), (Some("c"), 2));
    assert_eq!(w.take_failures(), vec![("b".into(), "slow down".into())]);
    w.finish(3, "e".into(), Some("denied".into()));
    assert_eq!(w.after(), Some("c"));
    assert_eq!(w.pending_failures().count(), 1);
    assert!(!w.is_caught_up());
    w.finish(2, "d".into(), None);
    assert_eq!(
        (w.after(), w.done(), w.is_caught_up()),
        (Some("e"), 4, true)
    );
}

#[test]
fn queue_message_decodes_to_the_object_it_names() {
    for key in ["plain.txt", "dir/a b+c%20é.txt", "100%", "a&b=c?d#e"] {
        let body = body("bucket-1", key, Some(5), "2026-12-02T10:00:00.000Z");
        let decoded = decode_body(&body).unwrap();
        let event = &decoded.objects[0];
        assert_eq!(event.object, ObjectRef::new("bucket-1", key), "{body}");
        assert_eq!(
            (event.kind(), event.size, &event.etag),
            (EventKind::Created, Some(5), &None)
        );
    }
    assert_eq!(encode_key("a b+c/d"), "a+b%2Bc/d");
}

#[test]
fn location_is_a_bucket_and_an_optional_prefix() {
    let job = Job::new("s3://my-bucket", 8).unwrap();
    assert_eq!(
        (job.bucket.as_str(), job.prefix.as_str()),
        ("my-bucket", "")
    );
    let job = Job::new("s3://my-bucket/a/b c/", 8).unwrap();
    assert_eq!(
        (job.bucket.as_str(), job.prefix.as_str()),
        ("my-bucket", "a/b c/")
    );
    for bad in ["my-bucket/x", "s3://", "s3:///x", "s3://a b/x"] {
        assert!(Job::new(bad, 8).is_err(), "{bad}");
    }
    assert_ne!(default_state_file("b", "x/"), default_state_file("b", "y/"));
}

/// Every object is tagged with its verdict (the infected ones quarantined), the counts add up,
/// and a finished run leaves no state behind.
#[tokio::test]
async fn backlog_records_every_verdict_and_sums_up() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(filled(40), quarantining());
    let summary = scan_all(&p, &job(&dir, 4)).await;
    let c = &summary.counts;
    assert_eq!((c.objects, c.clean, c.infected, c.failed), (40, 38, 2, 0));
    assert_eq!(
        (summary.listed, summary.complete, summary.exit_code()),
        (40, true, 1)
    );
    assert_eq!(summary.state_file, None);
    assert!(!dir.path().join("state.json").exists());
    assert_eq!(result_tag(p.store(), "k-0000").as_deref(), Some("Clean"));
    assert!(
        p.store()
            .tags_of(&ObjectRef::new("plain", "k-0003"))
            .is_none(),
        "quarantined"
    );
}

/// Stopped after a dozen objects, the run finishes those in flight and saves its watermark;
/// the next run starts after it, does not read what was done, and tags the rest.
#[tokio::test]
async fn interrupted_backlog_resumes_after_its_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(60);
    let stop = Arc::new(tokio::sync::Notify::new());
    let notify = stop.clone();
    let hook = Hook::Run(Arc::new(move |_: &MemoryStore| notify.notify_one()));
    store.on(Op::GetObject, Some("k-0012"), Some(1), hook);
    let p = pipeline(store, quarantining());
    let job = job(&dir, 3);
    let stopped = stop.notified();
    let first = run(p.store(), Work::Scan(&p), &job, Progress::quiet(), stopped)
        .await
        .unwrap();
    assert!(first.interrupted && !first.complete, "{first}");
    assert_eq!(first.exit_code(), 130);
    let state = State::open(&job.state_file, "plain", "k-", false).unwrap();
    let after = state.after.clone().unwrap();
    assert!(
        after.as_str() >= "k-0010" && after.as_str() < "k-0020",
        "{after}"
    );
    let reads = p.store().count(Op::GetObject);

    let second = scan_all(&p, &job).await;
    assert_eq!(second.resumed_after.as_deref(), Some(after.as_str()));
    assert_eq!(second.done_before, state.done);
    assert_eq!(second.counts.objects, 60 - state.done);
    assert_eq!(
        second.counts.infected, 0,
        "both infected objects were done before"
    );
    // Only the objects finished above the watermark are read twice.
    let again = p.store().count(Op::GetObject) - reads;
    assert!(again as u64 <= 60 - state.done, "{again} reads");
    assert!(second.complete && second.state_file.is_none());
    for i in (0..60).filter(|i| *i != 3 && *i != 7) {
        assert_eq!(
            result_tag(p.store(), &format!("k-{i:04}")).as_deref(),
            Some("Clean")
        );
    }
}

/// An object that fails is counted, listed and kept in the state; the next run tries it (and
/// only it) again.
#[tokio::test]
async fn failed_objects_are_retried_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = filled(10);
    let slow = StoreError::Transient {
        op: Op::GetObject,
        detail: "SlowDown".into(),
    };
    store.on(Op::GetObject, Some("k-0005"), Some(1), Hook::Fail(slow));
    let p = pipeline(store, quarantining());
    let job = job(&dir, 2);
    let first = scan_all(&p, &job).await;
    assert_eq!(
        (first.counts.failed, first.complete, first.exit_code()),
        (1, true, 1)
    );
    assert_eq!(first.failed[0].key, "k-0005");
    assert!(first.failed[0].reason.contains("SlowDown"), "{first}");
    assert!(job.state_file.exists());

    let second = scan_all(&p, &job).await;
    let c = &second.counts;
    assert_eq!(
        (second.retried, second.listed, c.objects, c.clean),
        (1, 0, 1, 1)
    );
    assert_eq!((second.failed.len(), second.exit_code()), (0, 0));
    assert!(!job.state_file.exists());
    assert_eq!(result_tag(p.store(), "k-0005").as_deref(), Some("Clean"));
}

/// A state file of another listing is refused, not reused; `--restart` ignores it.
#[tokio::test]
async fn state_of_another_listing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    State::new("other", "k-").save(&path).unwrap();
    assert!(State::open(&path, "plain", "k-", false).is_err());
    assert_eq!(
        State::open(&path, "plain", "k-", true).unwrap(),
        State::new("plain", "k-")
    );
    std::fs::write(&path, "not json").unwrap();
    let err = State::open(&path, "plain", "k-", false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a backlog state file"), "{err}");
}

/// The text summary names the first failures and counts the rest; failures make exit code 2.
#[test]
fn text_summary_names_the_first_failures_only() {
    let failed: Vec<Failed> = (0..25)
        .map(|i| Failed {
            key: format!("k-{i:02}"),
            reason: "access denied".into(),
        })
        .collect();
    let mut counts = Counts::default();
    for _ in 0..25 {
        counts.add(&Outcome::Failed("access denied".into()));
    }
    let summary = Summary {
        location: "s3://plain/".into(),
        mode: "scan",
        counts,
        listed: 25,
        retried: 0,
        resumed_after: None,
        done_before: 0,
        elapsed_secs: 1.0,
        objects_per_sec: 25.0,
        interrupted: false,
        listing_error: None,
        complete: true,
        failed,
        state_file: Some("state.json".into()),
    };
    let text = summary.to_string();
    assert!(text.contains("failed: k-19: access denied"), "{text}");
    assert!(!text.contains("k-20"), "{text}");
    assert!(text.contains("… and 5 more failed"), "{text}");
    assert_eq!(summary.exit_code(), 2);
}
