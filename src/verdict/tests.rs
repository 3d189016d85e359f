use pretty_assertions::assert_eq;

use super::*;

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn verdicts_write_result_date_detail_and_rules() {
    let keys = TagKeys::default();
    assert_eq!(
        Verdict::Clean.tags(&keys, "abc123", "2026-11-25T10:00:00Z"),
        tags(&[
            ("scan-result", "Clean"),
            ("scan-date", "2026-11-25T10:00:00Z"),
            ("scan-rules", "abc123"),
        ])
    );
    let infected = Verdict::Infected(vec!["EICAR_Test_File".into()]);
    assert_eq!(
        infected.tags(&keys, "abc123", "d")[2],
        ("scan-matches".to_string(), "EICAR_Test_File".to_string())
    );
    let unscannable = Verdict::Unscannable("scan timed out after 30s; <odd> chars".into());
    assert_eq!(
        unscannable.tags(&keys, "abc123", "d")[2],
        (
            "scan-detail".to_string(),
            "scan timed out after 30s_ _odd_ chars".to_string()
        )
    );
}

#[test]
fn merge_keeps_user_tags_and_replaces_ours() {
    let keys = TagKeys::default();
    let existing = tags(&[
        ("owner", "alice"),
        ("scan-result", "Clean"),
        ("scan-matches", "Old_Rule"),
        ("project", "x"),
    ]);
    let infected = Verdict::Infected(vec!["R".into()]);
    let ours = infected.tags(&keys, "id", "d");
    let merged = merge_tags(&existing, ours, &keys, &infected).unwrap();
    assert_eq!(
        merged.tags,
        tags(&[
            ("owner", "alice"),
            ("project", "x"),
            ("scan-result", "Infected"),
            ("scan-date", "d"),
            ("scan-matches", "R"),
            ("scan-rules", "id"),
        ])
    );
    assert_eq!(merged.dropped, Tags::new());
}

#[test]
fn merge_removes_scanner_keys_in_any_letter_case() {
    let keys = TagKeys::default();
    let existing = tags(&[
        ("Scan-Result", "Clean"),
        ("SCAN-SIGNATURE", "v1.00"),
        ("owner", "alice"),
        ("scan-resultx", "kept: not a scanner key"),
    ]);
    assert!(has_case_variants(&existing, &keys));
    assert!(!has_case_variants(
        &tags(&[("scan-result", "Clean")]),
        &keys
    ));
    let ours = Verdict::Clean.tags(&keys, "id", "d");
    let merged = merge_tags(&existing, ours, &keys, &Verdict::Clean).unwrap();
    assert_eq!(
        merged
            .tags
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>(),
        [
            "owner",
            "scan-resultx",
            "scan-result",
            "scan-date",
            "scan-rules"
        ]
    );
}

#[test]
fn a_clean_verdict_never_drops_user_tags() {
    let keys = TagKeys::default();
    let user: Tags = (0..8).map(|i| (format!("k{i}"), "v".to_string())).collect();
    let ours = Verdict::Clean.tags(&keys, "id", "d");
    let err = merge_tags(&user, ours.clone(), &keys, &Verdict::Clean).unwrap_err();
    assert_eq!(err, TagLimitError { user: 8, ours: 3 });
    assert!(err.to_string().contains("limit of 10"));
    // Seven user tags plus our three fit, and so do eight when one of them is an old verdict.
    assert!(merge_tags(&user[..7].to_vec(), ours.clone(), &keys, &Verdict::Clean).is_ok());
    let mut with_old = user[..7].to_vec();
    with_old.push(("scan-result".into(), "Clean".into()));
    assert!(merge_tags(&with_old, ours, &keys, &Verdict::Clean).is_ok());
}

#[test]
fn other_verdicts_drop_the_fewest_user_tags_needed() {
    let keys = TagKeys::default();
    let mut existing: Tags = (0..9).map(|i| (format!("k{i}"), format!("v{i}"))).collect();
    existing.insert(3, ("scan-result".into(), "Clean".into()));
    for verdict in [
        Verdict::Infected(vec!["R".into()]),
        Verdict::Unscannable("too large".into()),
        Verdict::Error("denied".into()),
    ] {
        let ours = verdict.tags(&keys, "id", "d");
        let merged = merge_tags(&existing, ours.clone(), &keys, &verdict).unwrap();
        assert_eq!(merged.tags.len(), MAX_TAGS, "{verdict}");
        assert_eq!(&merged.tags[6..], &ours[..], "{verdict}");
        assert_eq!(merged.tags[0], ("k0".to_string(), "v0".to_string()));
        // Nine user tags, room for six: the last three go, and are reported.
        assert_eq!(
            merged.dropped,
            tags(&[("k6", "v6"), ("k7", "v7"), ("k8", "v8")]),
            "{verdict}"
        );
        assert_eq!(
            merged
                .tags
                .iter()
                .filter(|(k, _)| k == "scan-result")
                .count(),
            1
        );
    }
}

#[test]
fn quarantine_tags_put_the_verdict_first() {
    let keys = TagKeys::default();
    let user: Tags = (0..9).map(|i| (format!("k{i}"), "v".to_string())).collect();
    let ours = Verdict::Infected(vec!["R".into()]).tags(&keys, "id", "d");
    let q = quarantine_tags(&user, ours.clone(), &keys);
    assert_eq!(q.len(), MAX_TAGS);
    assert_eq!(&q[..4], &ours[..]);
    assert_eq!(q[4].0, "k0");
}

#[test]
fn long_match_lists_fit_and_count_the_rest() {
    let rules: Vec<String> = (0..40)
        .map(|i| format!("Some_Long_Rule_Name_{i:02}"))
        .collect();
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    let value = matches_value(&rules);
    assert!(value.chars().count() <= MAX_TAG_VALUE, "{}", value.len());
    let (shown, more) = value.rsplit_once(' ').unwrap();
    let shown_count = shown.split(' ').count();
    assert_eq!(more, format!("+{}", 40 - shown_count));
    assert_eq!(matches_value(&["A", "B"]), "A B");
    // A name longer than a tag value is cut; when it leaves no room to count the rest, only
    // the count is written.
    let huge = "X".repeat(300);
    assert_eq!(matches_value(&[huge.as_str()]), "X".repeat(256));
    assert_eq!(matches_value(&[huge.as_str(), huge.as_str()]), "+2");
}

#[test]
fn tag_values_are_cleaned_and_cut() {
    assert_eq!(tag_value("a;b\nc\u{7f}é"), "a_b_c_é");
    assert_eq!(tag_value(&"x".repeat(300)).len(), MAX_TAG_VALUE);
}

#[test]
fn match_details_carry_severity_and_description_for_the_log() {
    let mut m = Match::named("Web_Shell");
    m.member = Some("site.zip>shell.php".into());
    m.meta = vec![
        ("severity".into(), "high".into()),
        ("description".into(), "PHP web shell".into()),
    ];
    let verdict = Verdict::Infected(vec![m, Match::named("Bare")]);
    assert_eq!(
        verdict.details(),
        ["site.zip>shell.php:Web_Shell (high: PHP web shell)"]
    );
}

#[test]
fn each_schema_writes_each_verdict_as_its_product_did() {
    use chrono::TimeZone;
    let denied = Verdict::Error(Failure {
        reason: "GetObject: access denied".into(),
        access_denied: true,
    });
    let verdicts = [
        Verdict::Clean,
        Verdict::Infected(vec![Match::named("X")]),
        Verdict::Suspicious(vec![Match::named("X")]),
        Verdict::Unscannable("big".into()),
        denied,
        Verdict::Error("KMS".into()),
    ];
    let written =
        |schema: TagSchema| -> Vec<&str> { verdicts.iter().map(|v| schema.value(v)).collect() };
    assert_eq!(
        written(TagSchema::GuardDuty),
        [
            "NO_THREATS_FOUND",
            "THREATS_FOUND",
            "THREATS_FOUND",
            "UNSUPPORTED",
            "ACCESS_DENIED",
            "FAILED"
        ]
    );
    assert_eq!(
        written(TagSchema::BucketAntivirus),
        [
            "CLEAN",
            "INFECTED",
            "INFECTED",
            "UNSCANNABLE",
            "ERROR",
            "ERROR"
        ]
    );
    assert_eq!(
        written(TagSchema::Scan)[..3],
        ["Clean", "Infected", "Suspicious"]
    );
    let now = chrono::Utc
        .with_ymd_and_hms(2026, 12, 2, 4, 38, 39)
        .unwrap();
    assert_eq!(
        TagSchema::BucketAntivirus.date(now),
        "2026/12/02 04:38:39 UTC"
    );
    assert_eq!(TagSchema::GuardDuty.date(now), "2026-12-02T04:38:39Z");
}
