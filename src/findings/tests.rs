use super::*;
use crate::scan::Match;
use crate::verdict::TagSchema;

fn product() -> Product {
    Product::of_caller(
        "arn:aws:sts::123456789012:assumed-role/scanner/fn",
        "eu-west-1",
    )
    .unwrap()
}

fn report(verdict: Verdict) -> Report {
    Report::sample(verdict)
}

fn rule(name: &str, member: Option<&str>, severity: Option<&str>) -> Match {
    let mut m = Match::named(name);
    m.member = member.map(str::to_owned);
    if let Some(s) = severity {
        m.meta.push(("severity".into(), s.into()));
    }
    m
}

#[test]
fn the_product_is_the_callers_account_default_in_its_partition() {
    assert_eq!(
        product().arn(),
        "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
    );
    let cn = Product::of_caller("arn:aws-cn:iam::123456789012:user/a", "cn-north-1").unwrap();
    assert_eq!(cn.partition, "aws-cn");
    assert_eq!(
        Product::of_caller("arn:aws:sts::1234:user/a", "eu-west-1"),
        None
    );
    assert_eq!(Product::of_caller("not an arn", "eu-west-1"), None);
    assert_eq!(
        Product::of_caller("arn:aws:sts::123456789012:user/a", ""),
        None
    );
}

#[test]
fn an_infected_object_is_an_active_finding_naming_rules_member_and_quarantine() {
    let mut r = report(Verdict::Infected(vec![rule(
        "EICAR_Test_File",
        Some("a.zip>eicar.com"),
        None,
    )]));
    r.location =
        Location::Quarantined(ObjectRef::new("q", "b/dir/a.zip").at_version(Some("qv".into())));
    let f = finding(&r, &product()).unwrap();
    assert_eq!(f.id, finding_id(&r.object));
    assert_eq!(
        f.product_arn,
        "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
    );
    assert_eq!(
        (f.aws_account_id.as_str(), f.region.as_str()),
        ("123456789012", "eu-west-1")
    );
    assert_eq!(f.types, ["TTPs/Initial Access/Malware"]);
    assert_eq!(f.severity, Severity::High);
    assert_eq!(f.record_state, RecordState::Active);
    assert!(
        f.title.contains("EICAR_Test_File") && f.title.contains("s3://b/dir/a.zip"),
        "{}",
        f.title
    );
    assert!(
        f.description.contains("a.zip>eicar.com:EICAR_Test_File"),
        "{}",
        f.description
    );
    assert!(
        f.remediation.contains("s3://q/b/dir/a.zip (version qv)"),
        "{}",
        f.remediation
    );
    assert_eq!(
        f.resources,
        [
            Resource {
                kind: "AwsS3Object".into(),
                id: "arn:aws:s3:::b/dir/a.zip".into(),
                etag: Some("e1".into()),
                version_id: Some("v1".into()),
            },
            Resource {
                kind: "AwsS3Bucket".into(),
                id: "arn:aws:s3:::b".into(),
                etag: None,
                version_id: None,
            },
        ]
    );
    // What the scan queue holds of it reads back the same.
    let text = serde_json::to_string(&f).unwrap();
    assert_eq!(serde_json::from_str::<Finding>(&text).unwrap(), f);
}

#[test]
fn severity_is_the_highest_rule_meta_else_the_verdicts_default() {
    let infected = |metas: &[Option<&str>]| {
        Severity::of(&Verdict::Infected(
            metas.iter().map(|m| rule("R", None, *m)).collect(),
        ))
    };
    assert_eq!(infected(&[None]), Severity::High);
    assert_eq!(
        infected(&[Some("low"), Some("Critical"), None]),
        Severity::Critical
    );
    assert_eq!(infected(&[Some("info")]), Severity::Informational);
    assert_eq!(infected(&[Some("whatever")]), Severity::High);
    assert_eq!(
        Severity::of(&Verdict::Suspicious(vec![rule("S", None, None)])),
        Severity::Medium
    );
    assert_eq!(
        Severity::of(&Verdict::Suspicious(vec![rule(
            "S",
            None,
            Some("moderate")
        )])),
        Severity::Medium
    );
    for &s in Severity::ALL {
        assert_eq!(
            Severity::from_meta(&s.label().to_ascii_lowercase()),
            Some(s)
        );
    }
}

#[test]
fn one_id_per_bucket_key_and_version() {
    let a = ObjectRef::new("b", "k");
    assert_eq!(
        finding_id(&a),
        finding_id(&a.at_version(Some("null".into())))
    );
    assert_ne!(finding_id(&a), finding_id(&a.at_version(Some("v1".into()))));
    assert_ne!(finding_id(&a), finding_id(&ObjectRef::new("b", "k2")));
    // The separator keeps `b`/`ck` apart from `bc`/`k`.
    assert_ne!(
        finding_id(&ObjectRef::new("bc", "k")),
        finding_id(&ObjectRef::new("b", "ck"))
    );
    let long = ObjectRef::new("b", "k".repeat(1024));
    assert!(finding_id(&long).len() <= 512);
    assert!(finding_id(&a).starts_with("s3-yara-scan/"));
}

#[test]
fn a_clean_resolves_only_an_earlier_threat_and_other_verdicts_file_nothing() {
    let p = product();
    assert_eq!(finding(&report(Verdict::Clean), &p), None);
    for v in [
        Verdict::Unscannable("big".into()),
        Verdict::Error("x".into()),
        Verdict::Skipped("p".into()),
    ] {
        assert_eq!(finding(&report(v), &p), None);
    }
    let mut clean = report(Verdict::Clean);
    clean.earlier_threat = Some(clean.object.clone());
    let f = finding(&clean, &p).unwrap();
    assert_eq!(f.id, finding_id(&clean.object));
    assert_eq!(f.record_state, RecordState::Archived);
    assert_eq!(f.record_state.workflow(), "RESOLVED");
    assert_eq!(f.severity, Severity::Informational);
    // A release resolves the finding of the version quarantined, not of the one restored.
    let mut released = report(Verdict::Released {
        by: "arn:aws:iam::1:user/a".into(),
        reason: "fp".into(),
    });
    let quarantined = ObjectRef::new("b", "dir/a.zip").at_version(Some("v0".into()));
    released.earlier_threat = Some(quarantined.clone());
    let f = finding(&released, &p).unwrap();
    assert_eq!(f.id, finding_id(&quarantined));
    assert!(
        f.description
            .contains("released by arn:aws:iam::1:user/a: fp"),
        "{}",
        f.description
    );
}

#[test]
fn a_threat_verdict_in_the_earlier_tags_is_read_in_each_tag_schema() {
    for schema in TagSchema::all() {
        let mut keys = TagKeys {
            schema,
            ..TagKeys::default()
        };
        for (k, v) in schema.fixed_keys() {
            if *k == "TAG_KEY_RESULT" {
                keys.result = (*v).to_owned();
            }
        }
        let tagged = |v: &Verdict| vec![(keys.result.clone(), schema.value(v).to_owned())];
        assert!(
            had_threat(&tagged(&Verdict::Infected(vec![])), &keys),
            "{schema:?}"
        );
        assert!(
            had_threat(&tagged(&Verdict::Suspicious(vec![])), &keys),
            "{schema:?}"
        );
        assert!(!had_threat(&tagged(&Verdict::Clean), &keys), "{schema:?}");
        assert!(!had_threat(
            &vec![("other".into(), "Infected".into())],
            &keys
        ));
    }
}

#[test]
fn long_words_are_cut_to_asffs_limits() {
    let names: Vec<Match> = (0..200)
        .map(|i| rule(&format!("Rule_{i:03}_{}", "x".repeat(20)), None, None))
        .collect();
    let f = finding(&report(Verdict::Infected(names)), &product()).unwrap();
    assert!(f.title.chars().count() <= 256);
    assert!(f.description.chars().count() <= 1024);
    assert_eq!(SecurityHub::NAMES, ["on", "off"]);
    assert_eq!(SecurityHub::from_name("ON"), Some(SecurityHub::On));
    assert_eq!(SecurityHub::from_name("yes"), None);
}
