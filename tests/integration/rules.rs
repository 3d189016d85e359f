//! Users' rule sets and hash lists in S3 on the emulator: loaded through the real wire
//! (ListObjectsV2, GetObject), their compiled cache written beside them with PutObject and
//! used by the next cold start, and an update put in force by a refresh. `trust.rs`: the
//! cache and `.yarc` files, which are code, through the binary.

use std::time::Duration;

use pretty_assertions::assert_eq;
use s3_yara_scan::config::RuleSource;
use s3_yara_scan::rules::{self, CACHE_FOLDER};
use s3_yara_scan::signature::Purpose;
use s3_yara_scan::store::Budget;

use crate::support::*;

mod trust;

const TEAM_RULE: &str = r#"rule Team_Marker { meta: severity = "high" strings: $a = "team-marker-51c2" condition: $a }"#;

async fn rules_bucket(emu: &Emulator, files: &[(&str, &str)]) -> (String, RuleSource) {
    let bucket = unique("rules");
    emu.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    for (key, text) in files {
        emu.put(&bucket, key, text.as_bytes().to_vec()).await;
    }
    let source = RuleSource::S3 {
        bucket: bucket.clone(),
        prefix: "team/".into(),
    };
    (bucket, source)
}

async fn keys(emu: &Emulator, bucket: &str) -> Vec<String> {
    let listed = emu
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key.clone())
        .collect()
}

/// The first cold start compiles and caches; the next only reads the cache.
#[tokio::test]
async fn a_rule_set_in_s3_is_cached_beside_its_sources() {
    let emu = emulator().await;
    let (bucket, source) = rules_bucket(&emu, &[("team/team.yar", TEAM_RULE)]).await;
    let budget = Budget::memory(64 << 20);
    let key = s3_yara_scan::SigningKey::new(vec![7u8; 32])
        .unwrap()
        .derive(Purpose::RulesCache);
    let trust = rules::Trust {
        cache_key: Some(&key),
        yarc_sha256: &[],
    };
    let first = rules::load(&emu.store(), std::slice::from_ref(&source), &budget, trust)
        .await
        .unwrap();
    assert_eq!(first.compiled, 1);
    let cached: Vec<String> = keys(&emu, &bucket)
        .await
        .into_iter()
        .filter(|k| k.starts_with(&format!("team/{CACHE_FOLDER}")))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    let second = rules::load(&emu.store(), &[source], &budget, trust)
        .await
        .unwrap();
    assert_eq!(second.compiled, 0, "loaded from the cache");
    assert_eq!(second.sets[0].id(), first.sets[0].id());
}

/// Objects uploaded to a protected bucket are judged by the team's rules and hash list, and
/// an update is in force after the next refresh.
#[tokio::test]
async fn uploads_are_judged_by_the_teams_rules_and_updates() {
    let emu = emulator().await;
    use md5::Digest as _;
    let listed = format!(
        "{} Known.Bad\n",
        hex::encode(md5::Md5::digest(b"known bad bytes"))
    );
    let (bucket, source) = rules_bucket(
        &emu,
        &[
            ("team/team.yar", TEAM_RULE),
            ("team/bad.md5", listed.as_str()),
        ],
    )
    .await;
    let w = emu.wire("teamrules", Options::default()).await;
    let config = s3_yara_scan::Config {
        rules: vec![source],
        rules_refresh: Some(Duration::from_millis(1)),
        ..with_action(s3_yara_scan::Action::Tag)
    };
    let pipeline = emu.pipeline(config);
    pipeline.load_rules().await.unwrap();
    emu.put(&w.bucket, "doc.txt", "x team-marker-51c2 x").await;
    let records = emu.notifications(&w, 1).await;
    acknowledged(&pipeline, records).await;
    let tags = emu.tags(&w.bucket, "doc.txt", None).await;
    assert_eq!(tag_map(&tags).get("scan-matches"), Some(&"Team_Marker"));
    emu.put(&w.bucket, "listed.bin", "known bad bytes").await;
    let records = emu.notifications(&w, 1).await;
    acknowledged(&pipeline, records).await;
    let tags = emu.tags(&w.bucket, "listed.bin", None).await;
    assert_eq!(tag_map(&tags).get("scan-matches"), Some(&"hash:Known.Bad"));

    // A new rule, in force at the next batch.
    emu.put(
        &bucket,
        "team/more.yar",
        br#"rule Team_Second { strings: $a = "second-77a0" condition: $a }"#.to_vec(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    emu.put(&w.bucket, "two.txt", "second-77a0").await;
    let records = emu.notifications(&w, 1).await;
    acknowledged(&pipeline, records).await;
    let tags = emu.tags(&w.bucket, "two.txt", None).await;
    assert_eq!(tag_map(&tags).get("scan-matches"), Some(&"Team_Second"));
}
