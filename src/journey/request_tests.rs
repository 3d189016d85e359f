//! The S3 requests each main case costs, counted as the report counts them (each request the
//! store sends): a change that adds one fails here. BENCHMARKS.md prices them.

use pretty_assertions::assert_eq;

use super::tests::{EICAR, created, pipeline, quarantining, signed, store};
use crate::config::{Action, Config};
use crate::store::Op;

/// A case: its name, the settings, the bucket, the body and tags uploaded, the requests.
type Case = (
    &'static str,
    Config,
    &'static str,
    &'static [u8],
    &'static [(&'static str, &'static str)],
    Vec<Op>,
);

/// Settles one upload of `body` (with `tags`) to `bucket` under `config`; the requests made,
/// in order.
async fn requests(config: Config, bucket: &str, body: &[u8], tags: &[(&str, &str)]) -> Vec<Op> {
    let s = store();
    let info = s.put(bucket, "k", body, tags);
    let p = pipeline(s, config);
    let report = crate::journey::settle(&p, &created(bucket, "k", &info)).await;
    let ops: Vec<Op> = p.store().calls().into_iter().map(|(op, _)| op).collect();
    assert_eq!(
        report.requests as usize,
        ops.len(),
        "the report counts every request"
    );
    ops
}

#[tokio::test]
async fn an_untagged_clean_object_costs_two_requests_in_a_versioned_bucket() {
    use Op::*;
    let ops = requests(Config::new(Action::Tag), "uploads", b"fine", &[]).await;
    assert_eq!(ops, [GetObject, PutObjectTagging]);
}

#[tokio::test]
async fn each_main_case_costs_what_it_must() {
    use Op::*;
    let tag = || Config::new(Action::Tag);
    let cases: Vec<Case> = vec![
        (
            "clean, user tags",
            tag(),
            "uploads",
            b"fine",
            &[("team", "a")],
            vec![GetObject, GetObjectTagging, PutObjectTagging],
        ),
        // Unversioned: the key is checked to still hold the bytes scanned once tagged.
        (
            "clean, unversioned",
            tag(),
            "plain",
            b"fine",
            &[],
            vec![GetObject, PutObjectTagging, HeadObject],
        ),
        // Signing on: a small object is read first; untagged, it has no signed verdict.
        (
            "clean, signing",
            signed(tag()),
            "uploads",
            b"fine",
            &[],
            vec![GetObject, PutObjectTagging],
        ),
        // A large one has its tags read first, for a signed verdict that would spare the read.
        (
            "large clean, signing",
            signed(tag()),
            "uploads",
            &[b'a'; 300 * 1024],
            &[],
            vec![GetObjectTagging, GetObject, PutObjectTagging],
        ),
        (
            "infected, tag only",
            tag(),
            "uploads",
            EICAR,
            &[],
            vec![GetObject, PutObjectTagging],
        ),
        (
            "infected, quarantine",
            quarantining(),
            "uploads",
            EICAR,
            &[],
            vec![
                GetObject,
                PutObjectTagging,
                HeadObject,
                CopyObject,
                HeadObject,
                GetObjectTagging,
                ListObjectVersions,
                DeleteObject,
            ],
        ),
    ];
    for (name, config, bucket, body, tags, want) in cases {
        assert_eq!(requests(config, bucket, body, tags).await, want, "{name}");
    }
}

#[tokio::test]
async fn a_signed_clean_copy_is_skipped_for_two_requests() {
    use Op::*;
    let s = store();
    let info = s.put("uploads", "k", b"fine", &[]);
    let p = pipeline(s, signed(Config::new(Action::Tag)));
    crate::journey::settle(&p, &created("uploads", "k", &info)).await;
    let before = p.store().calls().len();
    let again = crate::journey::settle(&p, &created("uploads", "k", &info)).await;
    let ops: Vec<Op> = p.store().calls()[before..]
        .iter()
        .map(|(op, _)| *op)
        .collect();
    // Small: read first, its tags checked after GetObject said it has some.
    assert_eq!(ops, [GetObject, GetObjectTagging]);
    assert_eq!(again.requests, 2);
}
