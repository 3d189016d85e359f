use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::settings::{self, Allowed};
use super::*;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

fn quarantine(bucket: &str) -> Action {
    Action::Quarantine {
        bucket: bucket.into(),
    }
}

#[test]
fn defaults_need_only_the_quarantine_bucket() {
    let c = config(&[("QUARANTINE_BUCKET", "my-quarantine")]).unwrap();
    assert_eq!(c, Config::new(quarantine("my-quarantine")));
    assert_eq!(c.quarantine_bucket(), Some("my-quarantine"));
    assert_eq!(c.max_object_size, parse::DEFAULT_MAX_OBJECT_SIZE);
    assert_eq!(c.concurrency, 64);
    assert_eq!(c.scan_timeout, Duration::from_secs(30));
    assert_eq!(c.tag_keys.result, "scan-result");
    assert_eq!(c.unscannable, TagOrQuarantine::Tag);
    assert!(!c.force_path_style);
}

#[test]
fn every_default_in_the_table_parses() {
    for setting in settings::ALL.iter().filter(|s| !s.default.is_empty()) {
        let mut vars = vec![("ACTION", "tag"), (setting.name, setting.default)];
        if setting.name == "ACTION" {
            vars.push(("QUARANTINE_BUCKET", "q-bucket"));
        }
        assert!(
            config(&vars).is_ok(),
            "{}={}",
            setting.name,
            setting.default
        );
        if let Allowed::Range(low, high) = setting.allowed {
            let n: u64 = setting.default.parse().unwrap();
            assert!((low..=high).contains(&n), "{}", setting.name);
        }
    }
}

#[test]
fn quarantine_without_bucket_names_both_variables() {
    let e = config(&[]).unwrap_err();
    assert_eq!(e.problems.len(), 1);
    assert!(e.problems[0].contains("QUARANTINE_BUCKET is required"));
    assert!(e.problems[0].contains("ACTION"));
}

#[test]
fn tag_action_needs_no_bucket() {
    let c = config(&[("ACTION", "Tag")]).unwrap();
    assert_eq!(c.action, Action::Tag);
    assert_eq!(c.quarantine_bucket(), None);
}

#[test]
fn every_bad_value_is_reported_with_allowed_values() {
    let e = config(&[
        ("ACTION", "purge"),
        ("QUARANTINE_BUCKET", "Bad_Bucket"),
        ("MAX_OBJECT_SIZE", "lots"),
        ("MAX_CONCURRENCY", "0"),
        ("SCAN_TIMEOUT_SECS", "forever"),
        ("TAG_KEY_RESULT", "aws:scan"),
        ("S3_FORCE_PATH_STYLE", "maybe"),
    ])
    .unwrap_err();
    let text = e.to_string();
    for needle in [
        "ACTION=`purge` is invalid (allowed: quarantine, delete, tag)",
        "QUARANTINE_BUCKET=`Bad_Bucket` is invalid",
        "MAX_OBJECT_SIZE=`lots` is invalid",
        "MAX_CONCURRENCY=`0` is invalid (allowed: a whole number from 1 to 256)",
        "SCAN_TIMEOUT_SECS=`forever` is invalid (allowed: a whole number from 1 to 86400)",
        "TAG_KEY_RESULT=`aws:scan` is invalid",
        "S3_FORCE_PATH_STYLE=`maybe` is invalid (allowed: true, false)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }
    assert_eq!(e.problems.len(), 7);
}

#[test]
fn sizes_accept_bytes_and_units() {
    for (v, n) in [
        ("2048", 2048),
        ("512MiB", 512 * 1024 * 1024),
        ("2 GB", 2_000_000_000),
    ] {
        let c = config(&[("ACTION", "tag"), ("MAX_OBJECT_SIZE", v)]).unwrap();
        assert_eq!(c.max_object_size, n, "{v}");
    }
    assert!(config(&[("ACTION", "tag"), ("MAX_OBJECT_SIZE", "10")]).is_err());
}

#[test]
fn max_object_size_defaults_to_three_quarters_of_lambda_memory() {
    let c = config(&[
        ("ACTION", "tag"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
    ])
    .unwrap();
    assert_eq!(c.max_object_size, 768 * 1024 * 1024);
    let e = config(&[("ACTION", "tag"), ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "x")]).unwrap_err();
    assert!(
        e.to_string()
            .contains("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=`x`")
    );
}

#[test]
fn max_object_size_cannot_exceed_lambda_memory() {
    let e = config(&[
        ("ACTION", "tag"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
        ("MAX_OBJECT_SIZE", "8GB"),
    ])
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("more than the function's memory of 1024 MB")
    );
}

#[test]
fn tag_keys_must_differ_even_in_letter_case() {
    let e = config(&[("ACTION", "tag"), ("TAG_KEY_DATE", "scan-result")]).unwrap_err();
    assert!(e.to_string().contains("seven different keys"));
    let e = config(&[("ACTION", "tag"), ("TAG_KEY_DATE", "Scan-Result")]).unwrap_err();
    assert!(e.to_string().contains("seven different keys"));
}

#[test]
fn spool_and_signing_settings() {
    let c = config(&[("ACTION", "tag")]).unwrap();
    assert_eq!(
        c.spool,
        Spool::Dir {
            dir: PathBuf::from("/tmp"),
            max: None
        }
    );
    assert_eq!(c.skip_signed, SkipSigned::CurrentRules);
    assert_eq!(c.signing_key, SigningKeySource::Off);
    let key = "k".repeat(40);
    let c = config(&[
        ("ACTION", "tag"),
        ("SPOOL_DIR", "off"),
        ("SIGNING_KEY", &key),
        ("SKIP_SIGNED", "never"),
        ("S3_TIMEOUT_SECS", "5"),
    ])
    .unwrap();
    assert_eq!(c.spool, Spool::Off);
    assert_eq!(c.skip_signed, SkipSigned::Never);
    assert_eq!(c.s3_timeout, Duration::from_secs(5));
    assert!(matches!(c.signing_key, SigningKeySource::Inline(_)));
    // The key never shows in the configuration's debug form.
    assert!(!format!("{c:?}").contains(&key));
    let c = config(&[("ACTION", "tag"), ("MAX_SPOOL_SIZE", "2GiB")]).unwrap();
    assert_eq!(
        c.spool,
        Spool::Dir {
            dir: PathBuf::from("/tmp"),
            max: Some(2 << 30)
        }
    );

    let e = config(&[
        ("ACTION", "tag"),
        ("SPOOL_DIR", "tmp"),
        ("SIGNING_KEY", "short-secret"),
        ("SKIP_SIGNED", "sometimes"),
    ])
    .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("SPOOL_DIR=`tmp` is invalid"), "{text}");
    assert!(text.contains("SIGNING_KEY is too short"), "{text}");
    assert!(!text.contains("short-secret"), "{text}");
    assert!(
        text.contains(
            "SKIP_SIGNED=`sometimes` is invalid (allowed: current-rules, any-rules, never)"
        ),
        "{text}"
    );
    let both = config(&[
        ("ACTION", "tag"),
        ("SIGNING_KEY", &key),
        ("SIGNING_KEY_SECRET", "arn:aws:secretsmanager:x"),
    ])
    .unwrap_err();
    assert!(both.to_string().contains("both set"), "{both}");
    let c = config(&[("ACTION", "tag"), ("SIGNING_KEY_SECRET", " my-secret ")]).unwrap();
    assert_eq!(c.signing_key, SigningKeySource::Secret("my-secret".into()));
}

#[test]
fn unscannable_objects_can_be_quarantined_with_a_bucket() {
    let c = config(&[
        ("ACTION", "tag"),
        ("UNSCANNABLE_ACTION", "Quarantine"),
        ("QUARANTINE_BUCKET", "q-bucket"),
    ])
    .unwrap();
    assert_eq!(
        c.unscannable,
        TagOrQuarantine::Quarantine {
            bucket: "q-bucket".into()
        }
    );
    assert_eq!(c.quarantine_bucket(), Some("q-bucket"));
    let e = config(&[("ACTION", "tag"), ("UNSCANNABLE_ACTION", "quarantine")]).unwrap_err();
    assert!(
        e.to_string()
            .contains("QUARANTINE_BUCKET is required when UNSCANNABLE_ACTION is quarantine"),
        "{e}"
    );
    let e = config(&[("ACTION", "tag"), ("UNSCANNABLE_ACTION", "delete")]).unwrap_err();
    assert!(
        e.to_string()
            .contains("UNSCANNABLE_ACTION=`delete` is invalid (allowed: tag, quarantine)"),
        "{e}"
    );
}

#[test]
fn each_verdict_has_its_disposal() {
    use crate::scan::Match;
    use crate::verdict::Verdict;
    let infected = Verdict::Infected(vec![Match::named("R")]);
    let unscannable = Verdict::Unscannable("too large".into());
    let c = config(&[("QUARANTINE_BUCKET", "q-bucket")]).unwrap();
    assert_eq!(c.disposal(&infected), Disposal::Quarantine("q-bucket"));
    assert_eq!(c.disposal(&unscannable), Disposal::Tag);
    assert_eq!(c.disposal(&Verdict::Clean), Disposal::Tag);
    let c = config(&[
        ("ACTION", "delete"),
        ("UNSCANNABLE_ACTION", "quarantine"),
        ("QUARANTINE_BUCKET", "q-bucket"),
    ])
    .unwrap();
    assert_eq!(c.disposal(&infected), Disposal::Delete);
    assert_eq!(c.disposal(&unscannable), Disposal::Quarantine("q-bucket"));
    assert_eq!(c.disposal(&Verdict::Error("denied".into())), Disposal::Tag);
}

#[test]
fn a_protected_quarantine_bucket_is_refused() {
    let c = config(&[
        ("QUARANTINE_BUCKET", "q-bucket"),
        ("PROTECTED_BUCKETS", " uploads , ,more-uploads"),
    ])
    .unwrap();
    assert_eq!(c.protected_buckets, ["uploads", "more-uploads"]);
    let e = config(&[
        ("QUARANTINE_BUCKET", "uploads"),
        ("PROTECTED_BUCKETS", "uploads,other"),
    ])
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("QUARANTINE_BUCKET=`uploads` is also in PROTECTED_BUCKETS"),
        "{e}"
    );
    let e = config(&[("ACTION", "tag"), ("PROTECTED_BUCKETS", "Bad_Name")]).unwrap_err();
    assert!(
        e.to_string().contains("PROTECTED_BUCKETS has `Bad_Name`"),
        "{e}"
    );
}

#[test]
fn only_protected_and_staging_buckets_are_judged_once_any_is_listed() {
    let local = config(&[("ACTION", "tag")]).unwrap();
    assert!(
        local.judges("anything"),
        "a local run with no list judges any bucket"
    );
    let e = local.require_bucket_scope().unwrap_err();
    assert!(e.to_string().contains("PROTECTED_BUCKETS is empty"), "{e}");
    let c = config(&[
        ("ACTION", "tag"),
        ("PROTECTED_BUCKETS", "uploads"),
        ("PROMOTE", "staging/in/=production"),
    ])
    .unwrap();
    c.require_bucket_scope().unwrap();
    assert!(c.judges("uploads") && c.judges("staging"));
    assert!(!c.judges("production") && !c.judges("rules") && !c.judges("Uploads"));
    let promote_only = config(&[("ACTION", "tag"), ("PROMOTE", "staging=production")]).unwrap();
    promote_only.require_bucket_scope().unwrap();
    assert!(!promote_only.judges("uploads"));
    // A deployment that onboards by tag alone lists nothing: it judges no bucket by the list
    // (its tagged buckets by their tag), and may start.
    let topic = (
        "NOTIFICATION_TOPIC_ARN",
        "arn:aws:sns:us-east-1:111122223333:scan",
    );
    let by_tag = config(&[("ACTION", "tag"), topic]).unwrap();
    by_tag.require_bucket_scope().unwrap();
    assert!(!by_tag.judges("anything"));
    let off = config(&[("ACTION", "tag"), topic, ("ONBOARD_TAG", "off")]).unwrap();
    assert!(off.require_bucket_scope().is_err() && !off.judges("anything"));
}

#[test]
fn scanner_role_id_is_letters_and_digits() {
    let c = config(&[
        ("ACTION", "tag"),
        ("SCANNER_ROLE_ID", "AROA3XFRBF535EXAMPLE"),
    ])
    .unwrap();
    assert_eq!(c.scanner_role_id.as_deref(), Some("AROA3XFRBF535EXAMPLE"));
    let e = config(&[("ACTION", "tag"), ("SCANNER_ROLE_ID", "AROA:x")]).unwrap_err();
    assert!(
        e.to_string()
            .contains("SCANNER_ROLE_ID=`AROA:x` is invalid"),
        "{e}"
    );
}

#[test]
fn endpoint_url_turns_on_path_style() {
    let c = config(&[
        ("ACTION", "tag"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
    ])
    .unwrap();
    assert!(c.force_path_style);
    let c = config(&[
        ("ACTION", "tag"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ("S3_FORCE_PATH_STYLE", "false"),
    ])
    .unwrap();
    assert!(!c.force_path_style);
}

#[test]
fn empty_values_mean_default() {
    let c = config(&[
        ("ACTION", ""),
        ("QUARANTINE_BUCKET", "q-bucket"),
        ("MAX_CONCURRENCY", " "),
    ])
    .unwrap();
    assert_eq!(c.action, quarantine("q-bucket"));
    assert_eq!(c.concurrency, 64);
}

#[test]
fn only_settings_of_the_table_are_read() {
    let read = std::cell::RefCell::new(Vec::new());
    let _ = Config::from_lookup(|name| {
        read.borrow_mut().push(name.to_owned());
        None
    });
    let names: Vec<&str> = settings::ALL.iter().map(|s| s.name).collect();
    for name in read.borrow().iter() {
        assert!(names.contains(&name.as_str()), "{name} is not in the table");
    }
}

#[test]
fn a_tag_schema_fixes_its_keys_and_refuses_others() {
    let c = config(&[("ACTION", "tag"), ("TAG_SCHEMA", "bucket-antivirus")]).unwrap();
    assert_eq!(
        c.tag_keys.schema,
        crate::verdict::TagSchema::BucketAntivirus
    );
    assert_eq!(
        (
            c.tag_keys.result.as_str(),
            c.tag_keys.matches.as_str(),
            c.tag_keys.date.as_str()
        ),
        ("av-status", "av-signature", "av-timestamp")
    );
    assert_eq!(c.tag_keys.rules, "scan-rules");
    let e = config(&[
        ("ACTION", "tag"),
        ("TAG_SCHEMA", "guardduty"),
        ("TAG_KEY_RESULT", "scan-result"),
    ])
    .unwrap_err();
    assert!(
        e.to_string().contains(
            "TAG_KEY_RESULT=`scan-result` cannot be used with TAG_SCHEMA=guardduty, whose tag key \
             is GuardDutyMalwareScanStatus"
        ),
        "{e}"
    );
}

#[test]
fn yarc_pins_are_sha256_digests_in_any_letter_case() {
    let a = "ab".repeat(32);
    let b = "0F".repeat(32);
    let c = config(&[
        ("ACTION", "tag"),
        ("RULES_YARC_SHA256", &format!(" {a}, {b} ,")),
    ])
    .unwrap();
    assert_eq!(c.rules_yarc_sha256, [[0xab; 32], [0x0f; 32]]);
    assert_eq!(
        config(&[("ACTION", "tag")]).unwrap().rules_yarc_sha256,
        Vec::<[u8; 32]>::new()
    );
    let short = "ab".repeat(31);
    let e = config(&[
        ("ACTION", "tag"),
        ("RULES_YARC_SHA256", &format!("{a},{short},xyz")),
    ])
    .unwrap_err()
    .to_string();
    for bad in [short.as_str(), "xyz"] {
        assert!(
            e.contains(&format!(
                "RULES_YARC_SHA256=`{bad}` is invalid: not a SHA-256 digest"
            )),
            "{e}"
        );
    }
}
