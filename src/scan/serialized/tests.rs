//! The compiled-rules file format: the header round trip and what it refuses, the format
//! check, and the description of a file (rules, native code and its target) made without
//! loading its native code.

use pretty_assertions::assert_eq;

use super::*;

const TWO_RULES: &str = r#"rule one { strings: $a = "one-7d1" condition: $a }
rule two { condition: false }"#;

fn serialized(source: &str) -> Vec<u8> {
    yara_x::compile(source).unwrap().serialize().unwrap()
}

#[test]
fn the_header_round_trips_and_files_without_one_are_yara_xs() {
    let body = serialized(TWO_RULES);
    let header = Header::this_build().with_mac("ab12".into());
    let file = header.write(&body);
    assert!(file.starts_with(b"s3-yara-scan compiled rules\nyara-x "));
    let (read, rest) = split(&file).unwrap();
    assert_eq!(read, Some(header));
    assert_eq!(rest, body.as_slice());
    let (none, same) = split(&body).unwrap();
    assert_eq!((none, same), (None, body.as_slice()));
}

#[test]
fn a_malformed_header_is_refused_naming_what_is_wrong() {
    let start = "s3-yara-scan compiled rules\n";
    for (text, why) in [
        ("yara-x 1\n", "no blank line"),
        ("yara-x 1\nsigner me\n\n", "unknown field `signer`"),
        ("yara-x 1\nyara-x 2\n\n", "`yara-x` twice"),
        ("target x\n\n", "no `yara-x` field"),
        ("yara-x\n\n", "no `name value` line"),
    ] {
        let file = format!("{start}{text}YARA-X");
        let e = split(file.as_bytes()).unwrap_err();
        assert!(e.to_string().contains(why), "{text:?}: {e}");
    }
    let mut not_utf8 = start.as_bytes().to_vec();
    not_utf8.extend_from_slice(b"yara-x \xff\n\nYARA-X");
    assert!(split(&not_utf8).unwrap_err().to_string().contains("UTF-8"));
    // The end must come early: a header is short.
    let long = format!("{start}yara-x {}\n\n", "1".repeat(HEADER_MAX));
    assert!(matches!(
        split(long.as_bytes()),
        Err(FormatError::Header(_))
    ));
}

#[test]
fn the_format_is_the_one_this_yara_x_reads() {
    let expected = format_version().expect("yara-x names the format it reads");
    let body = serialized(TWO_RULES);
    assert_eq!(check_format(&body, None).unwrap(), expected);
    assert!(matches!(
        check_format(b"rule x { condition: true }", None),
        Err(FormatError::NotRules)
    ));
    assert!(matches!(
        check_format(b"YARA-X\0\0\x08", None),
        Err(FormatError::NotRules)
    ));
    let mut other = body.clone();
    other[8..12].copy_from_slice(&(expected + 1).to_le_bytes());
    let header = Header {
        yara_x: "9.9.9".into(),
        target: None,
        mac: None,
    };
    let e = check_format(&other, Some(&header)).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, FormatError::Format { .. }), "{text}");
    assert!(text.contains("written by yara-x 9.9.9"), "{text}");
    assert!(text.contains("rules build"), "{text}");
}

#[test]
fn a_description_counts_the_rules_and_reads_the_native_code_without_loading_it() {
    let body = serialized(TWO_RULES);
    let file = Header::this_build().write(&body);
    let found = describe(&file).unwrap();
    assert_eq!(found.rules, 2);
    assert_eq!(found.header, Some(Header::this_build()));
    assert_eq!(found.sha256, hex::encode(Sha256::digest(&file)));
    // The default build serializes native code for its own platform.
    if cfg!(feature = "native-rules") {
        let native = found.native.clone().expect("native code");
        assert_eq!(native.target.as_deref(), Some(TARGET));
        assert!(native.wasmtime.is_some());
        let own = own_native().expect("this build's native code");
        assert_eq!((native.target, native.wasmtime), (own.target, own.wasmtime));
    }
    // Without it: the same rules, portable code only, and it loads and scans.
    let (native, portable) = without_native_code(&body).unwrap();
    assert_eq!(native.is_some(), cfg!(feature = "native-rules"));
    let plain = describe(&portable).unwrap();
    assert_eq!((plain.rules, plain.native, plain.header), (2, None, None));
    let rules = yara_x::Rules::deserialize(&portable).unwrap();
    let mut scanner = yara_x::Scanner::new(&rules);
    let results = scanner.scan(b"x one-7d1 x").unwrap();
    assert_eq!(results.matching_rules().len(), 1);
}

#[test]
fn a_description_refuses_what_is_no_rule_set_of_this_yara_x() {
    assert!(matches!(describe(b"junk"), Err(FormatError::NotRules)));
    let body = serialized(TWO_RULES);
    // Cut inside the fields before the native code, then after them.
    for cut in [20, body.len() - 10] {
        let e = describe(&body[..cut]).unwrap_err();
        assert!(
            matches!(e, FormatError::Content(_) | FormatError::Load(_)),
            "{cut}: {e}"
        );
    }
}

#[test]
fn native_code_that_is_no_wasmtime_artifact_is_described_as_such() {
    let native = native_of(b"not an ELF file");
    assert_eq!(
        (native.size, native.target, native.wasmtime),
        (15, None, None)
    );
    assert!(
        native_of(b"x")
            .to_string()
            .contains("no wasmtime engine section")
    );
}
