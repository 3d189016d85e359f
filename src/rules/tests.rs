//! Users' rule sets on the store double and in local folders: loading, the compiled cache,
//! updates swapped in while the pipeline runs, and bad updates rejected with file and line.

use std::time::Duration;

use pretty_assertions::assert_eq;

use super::*;
use crate::config::{Action, Config};
use crate::event::ObjectEvent;
use crate::object::ObjectInfo;
use crate::pipeline::Pipeline;
use crate::scan::{Engine, RuleSet};
use crate::signature::{Purpose, SigningKey};
use crate::store::{MemoryStore, Op, Versioning};
use crate::verdict::Verdict;
use sha2::{Digest, Sha256};

pub(super) const MARKER_RULE: &str =
    r#"rule Custom_Marker { strings: $a = "custom-marker-7f3a" condition: $a }"#;

/// The cache key of a function whose signing key is `byte` repeated.
pub(super) fn cache_key(byte: u8) -> DerivedKey {
    SigningKey::new(vec![byte; 32])
        .unwrap()
        .derive(Purpose::RulesCache)
}

/// What a function with `key` trusts, no `.yarc` pinned.
pub(super) fn keyed(key: &DerivedKey) -> Trust<'_> {
    Trust {
        cache_key: Some(key),
        yarc_sha256: &[],
    }
}

pub(super) fn s3_source() -> RuleSource {
    RuleSource::S3 {
        bucket: "rules".into(),
        prefix: "team/".into(),
    }
}

pub(super) fn store_with_rules(files: &[(&str, &str)]) -> MemoryStore {
    let store = MemoryStore::new();
    store.create_bucket("rules", Versioning::Enabled);
    store.create_bucket("uploads", Versioning::Enabled);
    for (key, text) in files {
        store.put("rules", key, text.as_bytes(), &[]);
    }
    store
}

pub(super) fn budget() -> Budget {
    Budget::memory(64 << 20)
}

#[tokio::test]
async fn an_s3_rule_set_is_compiled_once_then_loaded_from_its_cache() {
    let store = store_with_rules(&[("team/marker.yar", MARKER_RULE), ("team/notes.txt", "x")]);
    let key = cache_key(1);
    let first = load(&store, &[s3_source()], &budget(), keyed(&key))
        .await
        .unwrap();
    assert_eq!(first.compiled, 1);
    assert_eq!(first.sets.len(), 1);
    let cached: Vec<String> = store
        .keys("rules")
        .into_iter()
        .filter(|k| k.contains(CACHE_FOLDER))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].contains(yara_x::VERSION) && cached[0].contains(TARGET));
    // The next cold start: one listing, one cache read, no source read, no compile.
    let gets = store.count(Op::GetObject);
    let second = load(&store, &[s3_source()], &budget(), keyed(&key))
        .await
        .unwrap();
    assert_eq!(second.compiled, 0);
    assert_eq!(store.count(Op::GetObject), gets + 1);
    assert_eq!(second.sets[0].id(), first.sets[0].id());
    assert_eq!(second.fingerprint, first.fingerprint);
}

#[tokio::test]
async fn a_source_replaced_between_the_listing_and_its_read_is_not_compiled_under_the_old_id() {
    let store = store_with_rules(&[("team/marker.yar", MARKER_RULE)]);
    // Another upload lands after the listing named the first one's ETag.
    store.on(
        Op::GetObject,
        Some("team/marker.yar"),
        Some(1),
        crate::store::Hook::Run(std::sync::Arc::new(|s: &MemoryStore| {
            s.put(
                "rules",
                "team/marker.yar",
                b"rule other { condition: true }",
                &[],
            );
        })),
    );
    let key = cache_key(1);
    let e = load(&store, &[s3_source()], &budget(), keyed(&key))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("team/marker.yar") && e.to_string().contains("changed"),
        "{e}"
    );
    assert!(
        store
            .keys("rules")
            .iter()
            .all(|k| !k.contains(CACHE_FOLDER)),
        "nothing cached under the listed set's id"
    );
}

#[tokio::test]
async fn a_damaged_cache_is_compiled_again_and_replaced() {
    let store = store_with_rules(&[("team/marker.yar", MARKER_RULE)]);
    let key = cache_key(1);
    let first = load(&store, &[s3_source()], &budget(), keyed(&key))
        .await
        .unwrap();
    let cache = store
        .keys("rules")
        .into_iter()
        .find(|k| k.contains(CACHE_FOLDER))
        .unwrap();
    store.put("rules", &cache, b"not a serialized rule set", &[]);
    let second = load(&store, &[s3_source()], &budget(), keyed(&key))
        .await
        .unwrap();
    assert_eq!(second.compiled, 1);
    assert_eq!(second.sets[0].id(), first.sets[0].id());
    // Rewritten: the next cold start loads it again without compiling.
    let third = load(&store, &[s3_source()], &budget(), keyed(&key))
        .await
        .unwrap();
    assert_eq!(third.compiled, 0);
}

#[tokio::test]
async fn a_rule_set_that_does_not_compile_names_the_file_and_line() {
    let store = store_with_rules(&[("team/broken.yar", "rule broken {\n  condition: nope\n}\n")]);
    let e = load(&store, &[s3_source()], &budget(), Trust::default())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("RULES `s3://rules/team/`"), "{text}");
    assert!(text.contains("team/broken.yar:2"), "{text}");
    let empty = store_with_rules(&[("team/readme.md", "no rules here")]);
    let e = load(&empty, &[s3_source()], &budget(), Trust::default())
        .await
        .unwrap_err();
    assert!(matches!(e, RulesError::Empty { .. }), "{e}");
}

#[test]
fn the_feed_files_of_a_fingerprint_are_those_in_a_feeds_folder() {
    let entry = |name: &str| Entry {
        name: name.into(),
        version: "e".into(),
    };
    let files = vec![
        entry("rules/feeds/core.yar"),
        entry("feeds/list.sha256"),
        entry("rules/team.yar"),
        entry("rules/myfeeds/x.yar"),
        entry("rules/feeds/sub/y.yar"),
    ];
    let fingerprint = Fingerprint(vec![files]);
    let found: Vec<&str> = (fingerprint.in_folder("feeds/"))
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(found, ["rules/feeds/core.yar", "feeds/list.sha256"]);
}

/// Whoever can write the rules prefix must not have the function read its own files: an
/// `include` of a local file (here one holding a secret) is refused, and the secret is never
/// quoted; the same include in a local folder (the user's own files) compiles.
#[tokio::test]
async fn an_include_in_s3_rules_is_refused_and_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.yar");
    std::fs::write(&secret, "rule leaked_SECRET_VALUE { condition: true }").unwrap();
    let source = format!(
        "include \"{}\"\nrule team {{ condition: true }}\n",
        secret.display()
    );
    let store = store_with_rules(&[("team/index.yar", source.as_str())]);
    let e = load(&store, &[s3_source()], &budget(), Trust::default())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("team/index.yar"), "{text}");
    assert!(text.contains("include"), "{text}");
    assert!(!text.contains("SECRET_VALUE"), "{text}");
    let local = [("index.yar".to_owned(), source.into_bytes())];
    let rules = compile_with(&local, Includes::Allowed).expect("a local include compiles");
    assert_eq!(rules.iter().count(), 2);
}

#[tokio::test]
async fn local_folders_hold_sources_and_serialized_sets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("marker.yar"), MARKER_RULE).unwrap();
    let other =
        yara_x::compile(r#"rule Other { strings: $a = "other-marker" condition: $a }"#).unwrap();
    let bytes = RuleSet::new(other, "x").serialize().unwrap();
    std::fs::write(dir.path().join("other.yarc"), bytes).unwrap();
    let (sets, _) = local_sets(&[dir.path().to_path_buf()]).unwrap();
    let names: Vec<String> = sets
        .iter()
        .flat_map(|s| s.describe())
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["Custom_Marker", "Other"]);
}

pub(super) fn marked(store: &MemoryStore, key: &str) -> ObjectEvent {
    let info: ObjectInfo = store.put("uploads", key, b"xx custom-marker-7f3a xx", &[]);
    ObjectEvent {
        object: crate::object::ObjectRef::new("uploads", key).at_version(info.version_id.clone()),
        size: Some(info.size),
        etag: info.etag,
        region: None,
        event_name: "ObjectCreated:Put".into(),
        sequencer: None,
        principal: None,
        owner: None,
    }
}

#[tokio::test]
async fn updates_are_swapped_in_and_bad_ones_rejected_while_the_pipeline_runs() {
    let store = store_with_rules(&[("team/marker.yar", "rule Placeholder { condition: false }")]);
    let config = Config {
        rules: vec![s3_source()],
        rules_refresh: Some(Duration::from_millis(1)),
        ..Config::new(Action::Tag)
    };
    let engine = Engine::new(RuleSet::embedded().unwrap(), Duration::from_secs(5));
    let embedded_id = engine.rules().id().to_owned();
    let p = Pipeline::new(store, engine, config);
    p.load_rules().await.unwrap();
    let before = p.engine().rules().id().to_owned();
    assert_ne!(before, embedded_id, "scan-rules names every set in force");
    let report = crate::journey::settle(&p, &marked(p.store(), "a.txt")).await;
    assert_eq!(report.verdict, Some(Verdict::Clean));

    // A good update is in force at the next check.
    p.store()
        .put("rules", "team/marker.yar", MARKER_RULE.as_bytes(), &[]);
    tokio::time::sleep(Duration::from_millis(5)).await;
    p.refresh_rules().await;
    let updated = p.engine().rules().id().to_owned();
    assert_ne!(updated, before);
    let report = crate::journey::settle(&p, &marked(p.store(), "b.txt")).await;
    assert_eq!(report.verdict.unwrap().rule_names(), ["Custom_Marker"]);
    assert_eq!(report.ruleset, updated);

    // A bad one is rejected: the rules in force stay.
    p.store().put(
        "rules",
        "team/marker.yar",
        b"rule broken { condition: nope }",
        &[],
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    p.refresh_rules().await;
    assert_eq!(p.engine().rules().id(), updated);
    let report = crate::journey::settle(&p, &marked(p.store(), "c.txt")).await;
    assert_eq!(report.verdict.unwrap().rule_names(), ["Custom_Marker"]);
}

/// A third-party set from `../shared/rulesets/` compiles unchanged, and scans with the
/// externals filled in. `RULESETS_DIR` says where the sets are (default `../shared/rulesets`);
/// where they are not, the test says so and passes.
fn third_party_set_compiles_and_scans(set: &str) {
    let dir = std::env::var("RULESETS_DIR").unwrap_or_else(|_| "../shared/rulesets".into());
    let root = std::path::Path::new(&dir).join(set);
    if !root.is_dir() {
        eprintln!("skipped: no {} (set RULESETS_DIR)", root.display());
        return;
    }
    let files = local_sources(&[root]).unwrap();
    let rules = compile(&files).unwrap_or_else(|e| panic!("{set}: {e}"));
    assert!(rules.iter().len() > 1000, "{set}");
    let sets = crate::scan::RuleSets::new(vec![RuleSet::new(rules, set)]);
    let engine = Engine::with_sets(sets.clone(), Duration::from_secs(30));
    let externals = ["run.ps1", "/home/user/run.ps1", "ps1", "TEXT", "user"];
    let found = engine
        .scan_with(
            &sets,
            b"Write-Host 'hello'",
            externals,
            Duration::from_secs(30),
        )
        .unwrap();
    assert!(found.is_empty(), "{set}: {found:?}");
}

#[test]
fn signature_base_compiles_unchanged_and_sees_the_externals() {
    third_party_set_compiles_and_scans("signature-base");
}

#[test]
fn reversinglabs_compiles_unchanged_and_sees_the_externals() {
    third_party_set_compiles_and_scans("reversinglabs-yara-rules");
}

#[tokio::test]
async fn hash_lists_beside_the_rules_make_known_bad_bytes_infected() {
    let bad = b"xx custom-marker-7f3a xx";
    let digest = hex::encode(Sha256::digest(bad));
    let list = format!("# team list\n{digest} Team.Known.Bad\n");
    let store = store_with_rules(&[("team/known.sha256", list.as_str())]);
    let loaded = load(&store, &[s3_source()], &budget(), Trust::default())
        .await
        .unwrap();
    assert_eq!((loaded.sets.len(), loaded.hashes.len()), (0, 1));
    let config = Config {
        rules: vec![s3_source()],
        ..Config::new(Action::Tag)
    };
    let engine = Engine::new(RuleSet::embedded().unwrap(), Duration::from_secs(5));
    let embedded_id = engine.rules().id().to_owned();
    let p = Pipeline::new(store, engine, config);
    p.load_rules().await.unwrap();
    assert_ne!(
        p.engine().rules().id(),
        embedded_id,
        "scan-rules covers the lists"
    );
    let report = crate::journey::settle(&p, &marked(p.store(), "a.txt")).await;
    let verdict = report.verdict.unwrap();
    assert_eq!(verdict.rule_names(), ["hash:Team.Known.Bad"]);
    assert_eq!(verdict.matches()[0].meta, [("sha256".to_owned(), digest)]);
}

#[tokio::test]
async fn a_bad_line_rejects_the_whole_hash_list_naming_file_and_line() {
    let store = store_with_rules(&[("team/known.hashes", "abc123 too short\n")]);
    let e = load(&store, &[s3_source()], &budget(), Trust::default())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, RulesError::Hashes { .. }), "{text}");
    assert!(text.contains("team/known.hashes:1"), "{text}");
}

#[tokio::test]
async fn rules_can_say_an_object_is_only_suspicious() {
    let suspicious = r#"rule Odd_Marker { meta: verdict = "suspicious" severity = "low"
        strings: $a = "custom-marker-7f3a" condition: $a }"#;
    let quarantine = crate::config::TagOrQuarantine::Quarantine {
        bucket: "quarantine".into(),
    };
    for (action, stays) in [
        (crate::config::TagOrQuarantine::Tag, true),
        (quarantine, false),
    ] {
        let store = store_with_rules(&[("team/odd.yar", suspicious)]);
        store.create_bucket("quarantine", Versioning::Enabled);
        let config = Config {
            rules: vec![s3_source()],
            suspicious: action,
            ..Config::new(Action::Tag)
        };
        let engine = Engine::new(RuleSet::embedded().unwrap(), Duration::from_secs(5));
        let p = Pipeline::new(store, engine, config);
        p.load_rules().await.unwrap();
        let event = marked(p.store(), "odd.txt");
        let verdict = crate::journey::settle(&p, &event).await.verdict.unwrap();
        assert!(matches!(verdict, Verdict::Suspicious(_)), "{verdict:?}");
        assert_eq!(verdict.rule_names(), ["Odd_Marker"]);
        let tags = p.store().tags_of(&event.object);
        assert_eq!(tags.is_some(), stays, "quarantined when so set: {tags:?}");
        if let Some(tags) = tags {
            assert!(tags.contains(&("scan-result".to_owned(), "Suspicious".to_owned())));
        }
        assert_eq!(p.store().keys("quarantine").len(), usize::from(!stays));
    }
}

#[tokio::test]
async fn allow_lists_in_s3_take_sha256_only_and_change_with_their_files() {
    let good = Sha256::digest(b"known good bytes");
    let list = format!("# false positives\n{} vendor-tool\n", hex::encode(good));
    let store = store_with_rules(&[("team/fp.sha256", &list), ("team/notes.txt", "x")]);
    let (allowed, fingerprint) = load_allowed(&store, &[s3_source()], &budget())
        .await
        .unwrap();
    assert_eq!(
        allowed.listed_sha256(b"known good bytes"),
        Some("vendor-tool")
    );
    assert_eq!(allowed.listed_sha256(b"other bytes"), None);
    // An update is seen by the fingerprint that the refresh compares.
    store.put("rules", "team/more.sha256", b"", &[]);
    let now = super::fingerprint(&store, &[s3_source()]).await.unwrap();
    assert_ne!(now, fingerprint);
    // MD5 or SHA-1 lines refuse the list, naming the setting; so does a prefix without lists.
    let md5 = format!("{}\n", hex::encode(md5::Md5::digest(b"x")));
    let weak = store_with_rules(&[("team/fp.hashes", &md5)]);
    let err = load_allowed(&weak, &[s3_source()], &budget())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("ALLOW_HASHES `s3://rules/team/`: holds MD5 or SHA-1"),
        "{err}"
    );
    let none = store_with_rules(&[("team/rules.yar", MARKER_RULE)]);
    let err = load_allowed(&none, &[s3_source()], &budget())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("holds no .sha256 or .hashes file"),
        "{err}"
    );
}
