//! Tag schemas through the whole journey: the verdict written as GuardDuty or
//! bucket-antivirus-function wrote it, and signed skips that follow the schema.

use pretty_assertions::assert_eq;

use super::tests::{
    EICAR, assert_copy_is_skipped_unread, created, pairs_of, pipeline, quarantining, signed, store,
    tag,
};
use crate::config::{Action, Config};
use crate::verdict::TagSchema;

fn with_schema(config: Config, schema: TagSchema) -> Config {
    let mut config = config;
    config.tag_keys.schema = schema;
    for (var, key) in schema.fixed_keys() {
        for (v, slot) in config.tag_keys.by_variable() {
            if v == *var {
                *slot = (*key).to_owned();
            }
        }
    }
    config
}

#[tokio::test]
async fn guardduty_statuses_are_written_and_a_signed_one_is_skipped() {
    let s = store();
    let clean = s.put("uploads", "a.txt", b"plain", &[]);
    let bad = s.put("uploads", "e.com", EICAR, &[]);
    let config = with_schema(signed(Config::new(Action::Tag)), TagSchema::GuardDuty);
    let p = pipeline(s, config);
    let report = crate::journey::settle(&p, &created("uploads", "a.txt", &clean)).await;
    let tags = p.store().tags_of(&report.object).unwrap();
    assert_eq!(
        tag(&tags, "GuardDutyMalwareScanStatus"),
        Some("NO_THREATS_FOUND")
    );
    assert_eq!(tag(&tags, "scan-result"), None);
    let report = crate::journey::settle(&p, &created("uploads", "e.com", &bad)).await;
    let tags = p.store().tags_of(&report.object).unwrap();
    assert_eq!(
        tag(&tags, "GuardDutyMalwareScanStatus"),
        Some("THREATS_FOUND")
    );
    assert_eq!(tag(&tags, "scan-matches"), Some("EICAR_Test_File"));

    // A copy carrying the signed NO_THREATS_FOUND is not read again.
    let clean_tags = p
        .store()
        .tags_of(&crate::object::ObjectRef::new("uploads", "a.txt"))
        .unwrap();
    assert_copy_is_skipped_unread(&p, &pairs_of(&clean_tags)).await;
}

#[tokio::test]
async fn bucket_antivirus_tags_are_written_in_its_format() {
    let s = store();
    let clean = s.put("uploads", "a.txt", b"plain", &[("owner", "alice")]);
    let bad = s.put("uploads", "e.com", EICAR, &[]);
    let p = pipeline(s, with_schema(quarantining(), TagSchema::BucketAntivirus));
    let report = crate::journey::settle(&p, &created("uploads", "a.txt", &clean)).await;
    let tags = p.store().tags_of(&report.object).unwrap();
    assert_eq!(tag(&tags, "av-status"), Some("CLEAN"));
    assert_eq!(tag(&tags, "av-signature"), Some("OK"));
    assert_eq!(tag(&tags, "owner"), Some("alice"));
    let stamp = tag(&tags, "av-timestamp").unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(stamp, "%Y/%m/%d %H:%M:%S UTC").is_ok(),
        "{stamp}"
    );
    crate::journey::settle(&p, &created("uploads", "e.com", &bad)).await;
    let copies = p.store().keys("quarantine");
    assert_eq!(copies.len(), 1);
    let copy = crate::object::ObjectRef::new("quarantine", copies[0].as_str());
    let tags = p.store().tags_of(&copy).unwrap();
    assert_eq!(tag(&tags, "av-status"), Some("INFECTED"));
    assert_eq!(tag(&tags, "av-signature"), Some("EICAR_Test_File"));
}
