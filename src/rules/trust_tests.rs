//! What the loader takes from S3 only when a key or a pin vouches for it: the compiled cache
//! (sealed with the signing key's `RulesCache` key; refused, logged and rewritten otherwise;
//! none at all without a key) and `.yarc` files (only those `RULES_YARC_SHA256` pins).

use std::time::Duration;

use pretty_assertions::assert_eq;
use sha2::{Digest, Sha256};

use super::cache::{self, Refused};
use super::tests::{MARKER_RULE, budget, cache_key, keyed, marked, s3_source, store_with_rules};
use super::*;
use crate::config::{Action, Config};
use crate::pipeline::{Pipeline, StartupError};
use crate::scan::Engine;
use crate::scan::serialized::Header;
use crate::signature::SigningKey;
use crate::store::MemoryStore;
use crate::verdict::Verdict;

const NEVER_RULE: &str = "rule never { condition: false }";

fn names(sets: &[RuleSet]) -> Vec<String> {
    sets.iter()
        .flat_map(|s| s.describe())
        .map(|(n, _)| n)
        .collect()
}

fn caches(store: &MemoryStore, prefix: &str) -> Vec<String> {
    let folder = format!("{prefix}{CACHE_FOLDER}");
    let mut all: Vec<String> = store
        .keys("rules")
        .into_iter()
        .filter(|k| k.starts_with(&folder))
        .collect();
    all.sort();
    all
}

fn at(key: &str) -> ObjectRef {
    ObjectRef::new("rules", key)
}

#[tokio::test]
async fn without_a_key_no_cache_is_read_or_written() {
    let store = store_with_rules(&[("team/marker.yar", MARKER_RULE)]);
    let planted = format!("team/{CACHE_FOLDER}anything.yarc");
    store.put("rules", &planted, b"planted", &[]);
    for _ in 0..2 {
        let loaded = load(&store, &[s3_source()], &budget(), Trust::default())
            .await
            .unwrap();
        assert_eq!(
            (loaded.compiled, names(&loaded.sets)),
            (1, vec!["Custom_Marker".into()])
        );
    }
    let touched: Vec<_> = store
        .calls()
        .into_iter()
        .filter(|(_, o)| o.key.contains(CACHE_FOLDER))
        .collect();
    assert_eq!(touched, []);
    assert_eq!(caches(&store, "team/"), [planted]);
}

#[test]
fn each_key_caches_under_a_name_of_its_own() {
    let (one, two) = (cache_key(1), cache_key(2));
    let a = cache::object(&s3_source(), "abc123", &one).unwrap();
    let b = cache::object(&s3_source(), "abc123", &two).unwrap();
    assert_ne!(a, b);
    for name in [&a.key, &b.key] {
        assert!(name.starts_with(&format!("team/{CACHE_FOLDER}abc123-yara-x-")));
        assert!(
            name.contains(yara_x::VERSION) && name.contains(TARGET),
            "{name}"
        );
    }
    let local = RuleSource::Local("/opt/rules".into());
    assert_eq!(cache::object(&local, "abc123", &one), None);
}

#[test]
fn only_what_the_key_sealed_for_this_place_and_set_verifies() {
    let key = cache_key(1);
    let place = at("team/.s3-yara-scan-cache/x.yarc");
    let body = yara_x::compile(MARKER_RULE).unwrap().serialize().unwrap();
    let sealed = cache::sealed(&body, &place, "id1", &key);
    assert_eq!(
        cache::verify(&sealed, &place, "id1", &key),
        Ok(body.as_slice())
    );

    let verify = |bytes: &[u8]| cache::verify(bytes, &place, "id1", &key).map(|_| ());
    assert_eq!(verify(&body), Err(Refused::NoHeader));
    assert_eq!(
        verify(&Header::this_build().write(&body)),
        Err(Refused::NoMac)
    );
    let mut flipped = sealed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(verify(&flipped), Err(Refused::BadMac));
    assert_eq!(verify(&sealed[..sealed.len() - 100]), Err(Refused::BadMac));
    assert!(matches!(verify(&sealed[..40]), Err(Refused::Header(_))));
    let wrong_mac = Header::this_build().with_mac("zz".into()).write(&body);
    assert_eq!(verify(&wrong_mac), Err(Refused::BadMac));
    // Another set, another place, another key.
    let other_place = at("other/.s3-yara-scan-cache/x.yarc");
    assert_eq!(
        cache::verify(&sealed, &place, "id2", &key),
        Err(Refused::BadMac)
    );
    assert_eq!(
        cache::verify(&sealed, &other_place, "id1", &key),
        Err(Refused::BadMac)
    );
    assert_eq!(
        cache::verify(&sealed, &place, "id1", &cache_key(2)),
        Err(Refused::BadMac)
    );
}

#[tokio::test]
async fn a_swapped_cache_is_refused_compiled_and_rewritten() {
    let store = store_with_rules(&[
        ("team/marker.yar", MARKER_RULE),
        ("other/never.yar", NEVER_RULE),
    ]);
    let key = cache_key(1);
    let other = RuleSource::S3 {
        bucket: "rules".into(),
        prefix: "other/".into(),
    };
    let team = load(&store, &[s3_source()], &budget(), keyed(&key))
        .await
        .unwrap();
    load(&store, &[other], &budget(), keyed(&key))
        .await
        .unwrap();
    let [team_cache] = caches(&store, "team/").try_into().unwrap();
    let [other_cache] = caches(&store, "other/").try_into().unwrap();
    let swapped = store.body(&at(&other_cache)).unwrap();
    store.put("rules", &team_cache, &swapped, &[]);

    let again = load(&store, &[s3_source()], &budget(), keyed(&key))
        .await
        .unwrap();
    assert_eq!(again.compiled, 1, "refused, compiled");
    assert_eq!(names(&again.sets), ["Custom_Marker"]);
    assert_eq!(again.sets[0].id(), team.sets[0].id());
    let rewritten = store.body(&at(&team_cache)).unwrap();
    assert_ne!(rewritten, swapped);
    let next = load(&store, &[s3_source()], &budget(), keyed(&key))
        .await
        .unwrap();
    assert_eq!(
        (next.compiled, names(&next.sets)),
        (0, vec!["Custom_Marker".into()])
    );
}

/// A `.yarc` as `rules build` writes it.
fn built(source: &str) -> Vec<u8> {
    RuleSet::new(yara_x::compile(source).unwrap(), "x")
        .to_file()
        .unwrap()
}

#[tokio::test]
async fn an_s3_yarc_loads_only_when_its_digest_is_pinned() {
    let yarc = built(MARKER_RULE);
    let digest: [u8; 32] = Sha256::digest(&yarc).into();
    let store = store_with_rules(&[("team/never.yar", NEVER_RULE)]);
    store.put("rules", "team/sub/marker.yarc", &yarc, &[]);
    let other: [u8; 32] = Sha256::digest(b"another file").into();
    for pins in [vec![], vec![other]] {
        let trust = Trust {
            cache_key: None,
            yarc_sha256: &pins,
        };
        let e = load(&store, &[s3_source()], &budget(), trust)
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, RulesError::Unpinned { .. }), "{text}");
        for said in [
            "team/sub/marker.yarc",
            &hex::encode(digest),
            "RULES_YARC_SHA256",
        ] {
            assert!(text.contains(said), "{said} not in {text}");
        }
    }
    let pins = [other, digest];
    let trust = Trust {
        cache_key: None,
        yarc_sha256: &pins,
    };
    let loaded = load(&store, &[s3_source()], &budget(), trust)
        .await
        .unwrap();
    assert_eq!(names(&loaded.sets), ["never", "Custom_Marker"]);
}

#[test]
fn a_local_yarc_is_the_users_own_and_needs_no_pin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker.yarc"), built(MARKER_RULE)).unwrap();
    let raw = yara_x::compile(NEVER_RULE).unwrap().serialize().unwrap();
    std::fs::write(dir.path().join("raw.yarc"), raw).unwrap();
    let (sets, _) = local_sets(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(names(&sets), ["Custom_Marker", "never"]);
}

#[tokio::test]
async fn an_unpinned_yarc_stops_the_start_up_and_is_rejected_in_an_update() {
    let config = Config {
        rules: vec![s3_source()],
        rules_refresh: Some(Duration::from_millis(1)),
        ..Config::new(Action::Tag)
    };
    let engine = || Engine::new(RuleSet::embedded().unwrap(), Duration::from_secs(5));
    let unpinned = store_with_rules(&[("team/marker.yar", MARKER_RULE)]);
    unpinned.put("rules", "team/never.yarc", &built(NEVER_RULE), &[]);
    let p = Pipeline::new(unpinned, engine(), config.clone());
    let e = p.load_rules().await.unwrap_err();
    assert!(
        matches!(e, StartupError::Rules(RulesError::Unpinned { .. })),
        "{e}"
    );

    let p = Pipeline::new(
        store_with_rules(&[("team/marker.yar", MARKER_RULE)]),
        engine(),
        config,
    );
    p.load_rules().await.unwrap();
    let in_force = p.engine().rules().id().to_owned();
    p.store()
        .put("rules", "team/never.yarc", &built(NEVER_RULE), &[]);
    tokio::time::sleep(Duration::from_millis(5)).await;
    p.refresh_rules().await;
    assert_eq!(p.engine().rules().id(), in_force, "the rules in force stay");
    let report = crate::journey::settle(&p, &marked(p.store(), "a.txt")).await;
    assert_eq!(report.verdict.unwrap().rule_names(), ["Custom_Marker"]);
}

#[tokio::test]
async fn a_pipeline_with_a_signing_key_caches_and_one_without_does_not() {
    for (key, cached) in [(None, 0), (SigningKey::new(vec![3u8; 32]), 1)] {
        let store = store_with_rules(&[("team/marker.yar", MARKER_RULE)]);
        let config = Config {
            rules: vec![s3_source()],
            ..Config::new(Action::Tag)
        };
        let engine = Engine::new(RuleSet::embedded().unwrap(), Duration::from_secs(5));
        let p = Pipeline::new(store, engine, config).with_signing_key(key);
        p.load_rules().await.unwrap();
        assert_eq!(caches(p.store(), "team/").len(), cached);
        let report = crate::journey::settle(&p, &marked(p.store(), "a.txt")).await;
        assert!(matches!(report.verdict, Some(Verdict::Infected(_))));
    }
}
