//! The settings of filters, result events and promotion.

use std::collections::HashMap;

use super::*;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<&str, &str> = vars.iter().copied().chain([("ACTION", "tag")]).collect();
    Config::from_lookup(|k| map.get(k).map(|v| v.to_string()))
}

fn problems(vars: &[(&str, &str)]) -> String {
    config(vars).unwrap_err().to_string()
}

#[test]
fn filters_are_read_and_a_bad_size_names_its_variable() {
    let c = config(&[
        ("SKIP_KEY_PREFIXES", "logs/, tmp/,"),
        ("SKIP_KEY_SUFFIXES", ".log"),
        ("SKIP_SIZE_BELOW", "1"),
        ("SKIP_SIZE_ABOVE", "5GiB"),
        ("SKIPPED_ACTION", "IGNORE"),
    ])
    .unwrap();
    assert_eq!(c.filters.prefixes, ["logs/", "tmp/"]);
    assert_eq!(c.filters.suffixes, [".log"]);
    assert_eq!(
        (c.filters.size_below, c.filters.size_above),
        (Some(1), Some(5 << 30))
    );
    assert_eq!(c.filters.action, SkippedAction::Ignore);
    assert!(Config::new(Action::Tag).filters.is_empty());
    assert!(problems(&[("SKIP_SIZE_ABOVE", "huge")]).contains("SKIP_SIZE_ABOVE=`huge`"));
    assert!(problems(&[("SKIPPED_ACTION", "drop")]).contains("allowed: tag, ignore"));
}

#[test]
fn result_events_need_valid_targets_and_known_verdicts() {
    let c = config(&[
        ("RESULT_EVENT_BUS", "default"),
        (
            "RESULT_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:results",
        ),
        ("RESULT_VERDICTS", "infected, Suspicious"),
        (
            "QUEUE_URL",
            "https://sqs.us-east-1.amazonaws.com/123456789012/scan",
        ),
    ])
    .unwrap();
    assert!(c.results.is_on());
    assert_eq!(c.results.verdicts, ["Infected", "Suspicious"]);
    let all = config(&[]).unwrap();
    assert!(!all.results.is_on());
    assert_eq!(all.results.verdicts.len(), 7);
    assert!(problems(&[("RESULT_TOPIC_ARN", "results")]).contains("not an SNS topic ARN"));
    assert!(problems(&[("RESULT_VERDICTS", "Clean,Bad")]).contains("RESULT_VERDICTS=`Bad`"));
    assert!(problems(&[("RESULT_EVENT_BUS", "a bus")]).contains("RESULT_EVENT_BUS"));
}

#[test]
fn promotions_map_staging_to_production_and_refuse_loops() {
    let c = config(&[(
        "PROMOTE",
        "uploads=published, uploads/in/=s3://published/files/",
    )])
    .unwrap();
    let target = |key: &str| {
        c.promotion(&ObjectRef::new("uploads", key))
            .map(|o| (o.bucket, o.key))
    };
    // The longest staging prefix wins.
    assert_eq!(
        target("in/a.pdf"),
        Some(("published".into(), "files/a.pdf".into()))
    );
    assert_eq!(
        target("a/b.pdf"),
        Some(("published".into(), "a/b.pdf".into()))
    );
    assert_eq!(c.promotion(&ObjectRef::new("other", "a")), None);
    for (value, why) in [
        ("uploads", "no `=`"),
        ("uploads=Bad_Bucket", "`Bad_Bucket`"),
        ("uploads/in/=uploads/in/out/", "inside the staging prefix"),
        ("uploads=quarantine", "is the quarantine bucket"),
        ("a-b/x/=c-d/y/,c-d/y/=a-b/x/", "itself promoted from"),
    ] {
        let vars = [
            ("PROMOTE", value),
            ("UNSCANNABLE_ACTION", "quarantine"),
            ("QUARANTINE_BUCKET", "quarantine"),
        ];
        let text = problems(&vars);
        assert!(
            text.contains("PROMOTE") && text.contains(why),
            "{value}: {text}"
        );
    }
}

#[test]
fn released_objects_are_promoted_only_when_asked() {
    assert!(!config(&[]).unwrap().promote_released);
    assert!(
        config(&[("PROMOTE_RELEASED", "true")])
            .unwrap()
            .promote_released
    );
    assert!(
        problems(&[("PROMOTE_RELEASED", "yes")])
            .contains("PROMOTE_RELEASED=`yes` is invalid (allowed: true, false)")
    );
}

#[test]
fn result_verdicts_describes_every_verdict_kind() {
    // The setting's text cannot be built from the enum in a const; this keeps it in step.
    let settings::Allowed::Text(text) = settings::RESULT_VERDICTS.allowed else {
        panic!("RESULT_VERDICTS is a text setting");
    };
    let names = crate::verdict::VerdictKind::NAMES.join(", ");
    assert!(text.ends_with(&names), "{text} does not list {names}");
}
