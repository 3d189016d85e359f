//! The GuardDuty-schema document against GuardDuty's documented sample events
//! (tests/fixtures/guardduty-scan-results.json): for every verdict, the same keys with the same
//! JSON types as the sample of its status, and the values GuardDuty allows.

use serde_json::Value;

use super::*;
use crate::publish::{ResultEvents, ResultSchema, published_document};
use crate::scan::Match;
use crate::verdict::Failure;

const SAMPLES: &str = include_str!("../../../tests/fixtures/guardduty-scan-results.json");

fn samples() -> Vec<Value> {
    let all: Value = serde_json::from_str(SAMPLES).unwrap();
    all["events"].as_array().unwrap().clone()
}

/// GuardDuty's sample whose `scanResultStatus` is `status`.
fn sample(status: &str) -> Value {
    samples()
        .into_iter()
        .find(|e| e["detail"]["scanResultDetails"]["scanResultStatus"] == status)
        .unwrap_or_else(|| panic!("no sample for {status}"))
}

fn every_verdict() -> Vec<Verdict> {
    let denied = Failure {
        reason: "AccessDenied".into(),
        access_denied: true,
    };
    let mut suspicious = Match::named("Macro_AutoOpen");
    suspicious.meta = vec![("verdict".into(), "suspicious".into())];
    vec![
        Verdict::Clean,
        Verdict::Infected(vec![
            Match::named("EICAR_Test_File"),
            Match::named("EICAR_Test_File"),
        ]),
        Verdict::Suspicious(vec![suspicious]),
        Verdict::Unscannable("too large".into()),
        Verdict::Error(denied),
        Verdict::Error(Failure::from("KMS")),
        Verdict::Skipped("prefix".into()),
        Verdict::Released {
            by: "arn:aws:iam::1:user/a".into(),
            reason: "false positive".into(),
        },
    ]
}

fn report(verdict: &Verdict) -> Report {
    Report::sample(verdict.clone())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `ours` has the keys and JSON types of `theirs`, recursively. `statusReasons` is optional
/// (GuardDuty's own reasons; its COMPLETED samples have none); our own fields ride along
/// under [`OWN_FIELDS`] only.
fn same_shape(ours: &Value, theirs: &Value, path: &str) {
    assert_eq!(kind(ours), kind(theirs), "{path}: {ours} vs {theirs}");
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) => {
            for (key, value) in t {
                if key == "statusReasons" {
                    continue;
                }
                let mine = o.get(key).unwrap_or_else(|| panic!("{path}.{key} missing"));
                same_shape(mine, value, &format!("{path}.{key}"));
            }
            for key in o.keys() {
                assert!(
                    t.contains_key(key) || (path == "detail" && key == OWN_FIELDS),
                    "{path}.{key} is not in GuardDuty's event"
                );
            }
        }
        (Value::Array(o), Value::Array(t)) => {
            for item in o {
                same_shape(item, &t[0], &format!("{path}[]"));
            }
        }
        _ => {}
    }
}

#[test]
fn every_verdict_gives_guardduty_s_event_field_by_field() {
    let events = ResultEvents {
        bus: Some("default".into()),
        verdicts: crate::publish::VERDICTS.to_vec(),
        schema: ResultSchema::GuardDuty,
        ..ResultEvents::default()
    };
    for verdict in every_verdict() {
        let ours = published_document(&events, &report(&verdict)).unwrap();
        let status = GuardDutyStatus::of(&verdict);
        let theirs = sample(status.name());
        assert_eq!(theirs["detail-type"], ResultSchema::GuardDuty.detail_type());
        same_shape(&ours, &theirs["detail"], "detail");
        let detail = &theirs["detail"];
        for key in ["schemaVersion", "scanStatus", "resourceType"] {
            assert_eq!(ours[key], detail[key], "{verdict}: {key}");
        }
        assert_eq!(
            ours["scanResultDetails"]["scanResultStatus"],
            status.name(),
            "{verdict}"
        );
        // The tag schema writes the same status.
        assert_eq!(
            crate::verdict::TagSchema::GuardDuty.value(&verdict),
            status.name()
        );
    }
}

#[test]
fn the_object_and_its_threats_are_named_as_guardduty_names_them() {
    let infected = Verdict::Infected(vec![
        Match::named("EICAR_Test_File"),
        Match::named("Other"),
        Match::named("EICAR_Test_File"),
    ]);
    let doc = document(&report(&infected), &infected);
    assert_eq!(
        doc["s3ObjectDetails"],
        serde_json::json!({"bucketName": "b", "objectKey": "dir/a.zip", "eTag": "e1",
            "versionId": "v1", "s3Throttled": false})
    );
    assert_eq!(
        doc["scanResultDetails"]["threats"],
        serde_json::json!([{"name": "EICAR_Test_File"}, {"name": "Other"}])
    );
    assert_eq!(doc[OWN_FIELDS]["verdict"], "Infected");
    assert_eq!(
        crate::publish::attributes(&doc),
        ("Infected", "b"),
        "SNS attributes from our own fields"
    );
    // Unversioned: no versionId at all, as GuardDuty writes it, never null.
    let mut unversioned = report(&Verdict::Clean);
    unversioned.object.version_id = None;
    let doc = document(&unversioned, &Verdict::Clean);
    assert!(doc["s3ObjectDetails"].get("versionId").is_none(), "{doc}");
    assert_eq!(doc["scanResultDetails"]["threats"], Value::Null);
}

#[test]
fn the_samples_cover_every_status_with_its_scan_status() {
    for &status in GuardDutyStatus::ALL {
        assert_eq!(
            sample(status.name())["detail"]["scanStatus"],
            status.scan_status(),
            "{status:?}"
        );
    }
    assert_eq!(samples().len(), GuardDutyStatus::ALL.len());
}

#[test]
fn the_schema_is_named_by_the_setting() {
    assert_eq!(ResultSchema::NAMES, ["scan", "guardduty"]);
    for &schema in ResultSchema::ALL {
        assert_eq!(ResultSchema::from_name(schema.name()), Some(schema));
    }
    assert_eq!(
        ResultSchema::from_name("GuardDuty"),
        Some(ResultSchema::GuardDuty)
    );
    assert_eq!(ResultSchema::from_name("aws.guardduty"), None);
}
