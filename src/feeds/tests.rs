//! Feed updates on the store double, with feeds served from memory: what is put in force, what
//! is refused (the last good one staying), and what the rules loader then reads.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use pretty_assertions::assert_eq;
use sha2::Digest;

use super::*;
use crate::config::{Action, Feeds};
use crate::rules::{Trust, load};
use crate::store::{MemoryStore, Versioning};

const BUCKET: &str = "rules";

/// Feeds served from memory, by URL; a missing one is a failed download.
#[derive(Default)]
struct Served(Mutex<HashMap<String, Vec<u8>>>);

impl Served {
    fn serve(&self, feed: &Feed, body: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .insert(feed.url.to_string(), body.to_vec());
    }
}

impl Source for Served {
    async fn fetch(&self, feed: &Feed, _limit: u64) -> Result<Vec<u8>, FeedError> {
        (self.0.lock().unwrap().get(feed.url.as_str()).cloned()).ok_or(FeedError::Download {
            reason: "connection refused".into(),
        })
    }
}

fn feed(item: &str) -> Feed {
    crate::config::Config::from_lookup(|name| {
        (name == "FEEDS")
            .then(|| item.to_owned())
            .or((name == "ACTION").then(|| "tag".into()))
    })
    .unwrap()
    .feeds
    .feeds
    .remove(0)
}

fn config(feeds: &[&Feed]) -> Config {
    let mut config = Config::new(Action::Tag);
    config.feeds = Feeds {
        feeds: feeds.iter().map(|f| (*f).clone()).collect(),
        ..config.feeds
    };
    config
}

fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in members {
        w.start_file(*name, ::zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn tar_gz(members: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = ::tar::Builder::new(gz);
    for (name, data) in members {
        let mut header = ::tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        b.append_data(&mut header, name, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn target() -> Target {
    Target {
        bucket: BUCKET.into(),
        prefix: "team/".into(),
    }
}

fn store() -> MemoryStore {
    let store = MemoryStore::new();
    store.create_bucket(BUCKET, Versioning::Enabled);
    store
}

/// `n` rules, each matching its own marker string.
fn rules(n: usize) -> String {
    (0..n)
        .map(|i| format!("rule Feed_{i} {{ strings: $a = \"feed-marker-{i}-x\" condition: $a }}\n"))
        .collect()
}

async fn run(store: &MemoryStore, served: &Served, feeds: &[&Feed]) -> Vec<FeedReport> {
    update(store, served, &config(feeds), &target()).await
}

async fn object(store: &MemoryStore, feed: &Feed) -> Option<Vec<u8>> {
    read(store, BUCKET, &target().key(feed), &Budget::memory(1 << 30))
        .await
        .unwrap()
}

fn in_force(report: &FeedReport) -> &InForce {
    match &report.outcome {
        Outcome::Updated(f) | Outcome::Unchanged(f) => f,
        Outcome::Refused { reason } => panic!("refused: {reason}"),
    }
}

fn refused(report: &FeedReport) -> &str {
    match &report.outcome {
        Outcome::Refused { reason } => reason,
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test]
async fn a_package_and_a_hash_list_are_put_in_force_where_rules_loads_them() {
    let (store, served) = (store(), Served::default());
    let yara = feed("yara=https://feeds.example/core.zip");
    let sha256 = feed("sha256=https://feeds.example/recent.txt");
    served.serve(
        &yara,
        &zip(&[("rules/a.yar", rules(3).as_bytes()), ("README.md", b"hi")]),
    );
    let bad = sha2::Sha256::digest(b"known bad bytes");
    served.serve(
        &sha256,
        format!("# MalwareBazaar\n{}\n", hex::encode(bad)).as_bytes(),
    );

    let reports = run(&store, &served, &[&yara, &sha256]).await;
    assert!(
        matches!(reports[0].outcome, Outcome::Updated(_)),
        "{reports:?}"
    );
    assert_eq!(in_force(&reports[0]).count, 3);
    assert_eq!(in_force(&reports[1]).count, 1);
    assert_eq!(reports[0].age_secs, Some(0), "{reports:?}");
    assert_eq!(
        reports[0].object,
        format!("s3://rules/team/feeds/{}.yar", yara.name)
    );

    let source = RuleSource::S3 {
        bucket: BUCKET.into(),
        prefix: "team/".into(),
    };
    let loaded = load(
        &store,
        &[source],
        &Budget::memory(1 << 30),
        Trust::default(),
    )
    .await
    .unwrap();
    assert_eq!(loaded.sets[0].len(), 3);
    assert_eq!(loaded.hashes.matches(b"known bad bytes").len(), 1);

    let again = run(&store, &served, &[&yara, &sha256]).await;
    assert!(
        matches!(again[0].outcome, Outcome::Unchanged(_)),
        "{again:?}"
    );
    assert!(
        matches!(again[1].outcome, Outcome::Unchanged(_)),
        "{again:?}"
    );
}

#[tokio::test]
async fn a_tar_gz_package_is_unpacked_too() {
    let (store, served) = (store(), Served::default());
    let yara = feed("yara=https://feeds.example/core.tar.gz");
    served.serve(&yara, &tar_gz(&[("pkg/a.yara", rules(2).as_bytes())]));
    assert_eq!(in_force(&run(&store, &served, &[&yara]).await[0]).count, 2);
}

#[tokio::test]
async fn bad_packages_are_refused_and_the_last_good_one_stays() {
    let (store, served) = (store(), Served::default());
    let yara = feed("yara=https://feeds.example/core.zip");
    served.serve(&yara, &zip(&[("a.yar", rules(10).as_bytes())]));
    run(&store, &served, &[&yara]).await;
    let good = object(&store, &yara).await.unwrap();

    let mut broken = zip(&[("a.yar", rules(10).as_bytes())]);
    broken.truncate(broken.len() / 2);
    let cases: [(&[u8], &str); 6] = [
        (&broken, "not a readable zip"),
        (
            &zip(&[("a.yar", b"rule { condition: true }")]),
            "does not compile",
        ),
        (
            &zip(&[("a.yar", rules(1).as_bytes())]),
            "shrank by more than 50%",
        ),
        (&zip(&[("notes.txt", b"no rules")]), "no .yar or .yara"),
        (
            &zip(&[("a.yar", b"rule X { condition: undefined_ident }")]),
            "does not compile",
        ),
        (
            &zip(&[(
                "a.yar",
                b"include \"/proc/self/environ\"\nrule Y { condition: true }",
            )]),
            "include directives are refused",
        ),
    ];
    for (body, why) in cases {
        served.serve(&yara, body);
        let report = run(&store, &served, &[&yara]).await.remove(0);
        let reason = refused(&report);
        assert!(reason.contains(why), "{why}: {reason}");
        assert_eq!(object(&store, &yara).await.as_ref(), Some(&good));
        // The age of the one left in force is read from the store (a refused feed writes
        // nothing); the in-memory store dates its objects at the epoch.
        assert!(report.age_secs.is_some(), "{report:?}");
    }
    served.0.lock().unwrap().clear();
    let reason = refused(&run(&store, &served, &[&yara]).await[0]).to_owned();
    assert!(reason.contains("download failed"), "{reason}");
    assert_eq!(object(&store, &yara).await, Some(good));
}

#[tokio::test]
async fn a_package_shrinking_within_the_limit_is_put_in_force() {
    let (store, served) = (store(), Served::default());
    let yara = feed("yara=https://feeds.example/core.zip");
    served.serve(&yara, &zip(&[("a.yar", rules(10).as_bytes())]));
    run(&store, &served, &[&yara]).await;
    served.serve(&yara, &zip(&[("a.yar", rules(5).as_bytes())]));
    assert!(matches!(
        run(&store, &served, &[&yara]).await[0].outcome,
        Outcome::Updated(_)
    ));
}

#[tokio::test]
async fn a_rule_firing_on_a_canary_is_made_private_not_the_package_refused() {
    let (store, served) = (store(), Served::default());
    store.put(
        BUCKET,
        "team/canary/notes.txt",
        b"benign text with feed-marker-1-x inside",
        &[],
    );
    let yara = feed("yara=https://feeds.example/core.zip");
    served.serve(&yara, &zip(&[("a.yar", rules(3).as_bytes())]));
    let report = run(&store, &served, &[&yara]).await.remove(0);
    assert_eq!(in_force(&report).dropped, ["Feed_1"]);
    assert_eq!(in_force(&report).count, 3);
    assert!(
        report
            .line()
            .contains("made private (fired on a canary): Feed_1"),
        "{}",
        report.line()
    );

    let source = RuleSource::S3 {
        bucket: BUCKET.into(),
        prefix: "team/feeds/".into(),
    };
    let loaded = load(
        &store,
        &[source],
        &Budget::memory(1 << 30),
        Trust::default(),
    )
    .await
    .unwrap();
    let engine = crate::scan::Engine::with_sets(
        crate::scan::RuleSets::new(loaded.sets),
        std::time::Duration::from_secs(5),
    );
    let scan = |data: &[u8]| engine.scan_bytes(data).unwrap();
    assert!(scan(b"feed-marker-1-x").is_empty());
    assert_eq!(scan(b"feed-marker-2-x").len(), 1);
}

#[tokio::test]
async fn a_package_clashing_with_the_prefix_s_other_rules_is_refused() {
    let (store, served) = (store(), Served::default());
    store.put(
        BUCKET,
        "team/own.yar",
        b"rule Feed_0 { condition: false }",
        &[],
    );
    let yara = feed("yara=https://feeds.example/core.zip");
    served.serve(&yara, &zip(&[("a.yar", rules(2).as_bytes())]));
    let reason = refused(&run(&store, &served, &[&yara]).await[0]).to_owned();
    assert!(reason.contains("with the other rule files"), "{reason}");
    assert_eq!(object(&store, &yara).await, None);
}

#[tokio::test]
async fn hash_lists_keep_their_good_lines_below_the_malformed_threshold() {
    let (store, served) = (store(), Served::default());
    let md5 = feed("md5=https://feeds.example/md5.txt");
    let good: Vec<String> = (0..200u32)
        .map(|i| hex::encode(md5::Md5::digest(i.to_be_bytes())))
        .collect();
    served.serve(
        &md5,
        format!("{}\nnot-a-digest\n", good.join("\n")).as_bytes(),
    );
    let report = run(&store, &served, &[&md5]).await.remove(0);
    assert_eq!(
        (in_force(&report).count, in_force(&report).malformed),
        (200, 1)
    );

    served.serve(
        &md5,
        format!("{}\n{}\n", good[0], "zz\n".repeat(5)).as_bytes(),
    );
    let reason = refused(&run(&store, &served, &[&md5]).await[0]).to_owned();
    assert!(
        reason.contains("5 of 6 lines are no md5 digest"),
        "{reason}"
    );
    // A digest of another kind is malformed in an MD5 list.
    let sha1 = hex::encode(sha1::Sha1::digest(b"x"));
    assert_eq!(package::digests(&sha1, FeedKind::Md5), (vec![], 1, 1));
}

#[test]
fn feeds_are_written_to_the_first_s3_rules_source_or_to() {
    let local = RuleSource::Local("/opt/rules".into());
    let s3 = RuleSource::S3 {
        bucket: "b".into(),
        prefix: "p/".into(),
    };
    let to = RuleSource::S3 {
        bucket: "c".into(),
        prefix: String::new(),
    };
    assert!(matches!(
        Target::choose(None, std::slice::from_ref(&local)),
        Err(FeedError::NoTarget)
    ));
    assert_eq!(
        Target::choose(None, &[local.clone(), s3.clone()])
            .unwrap()
            .bucket,
        "b"
    );
    assert_eq!(Target::choose(Some(&to), &[s3]).unwrap().bucket, "c");
}
