//! The lookups the test tools make of the binary (`contract --identities`, `--source-tags`),
//! checked against what the real wiring sent and what quarantine really wrote: the Python
//! checker (scripts/invariants.py) relies on them instead of copies of the binary's rules.

use std::io::Write as _;
use std::process::{Command, Stdio};

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_s3-yara-scan");

/// One JSON answer per line of `lines`, from `s3-yara-scan ARGS` reading them on stdin.
fn ask(args: &[&str], lines: &[Value]) -> Vec<Value> {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().unwrap();
    for line in lines {
        writeln!(stdin, "{line}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {err}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// EICAR uploaded to `w.bucket` at `key` and quarantined: its version (if any), its ETag, and
/// the value of its quarantine copy's source tag.
async fn quarantined(emu: &Emulator, w: &Wiring, key: &str) -> (Option<String>, String, String) {
    let put = emu
        .s3
        .put_object()
        .bucket(&w.bucket)
        .key(key)
        .body(EICAR.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().trim_matches('"').to_owned();
    acknowledged(&emu.pipeline(config(w)), emu.notifications(w, 1).await).await;
    let qkey = ask(
        &["contract", "--quarantine-keys"],
        &[json!([&w.bucket, key])],
    );
    let tags = emu
        .tags(&w.quarantine, qkey[0].as_str().unwrap(), None)
        .await;
    let source = s3_yara_scan::TagKeys::default().source;
    let value = tags.into_iter().find(|(k, _)| *k == source).unwrap().1;
    (put.version_id, etag, value)
}

/// A quarantine copy's source tag names the version and ETag uploaded; in an unversioned
/// bucket, no version. A value the scanner never writes names nothing, and says why.
#[tokio::test]
async fn source_tags_name_the_version_and_etag_quarantined() {
    let emu = emulator().await;
    let versioned = Options {
        versioned: true,
        ..Options::default()
    };
    let wirings = [
        emu.wire("srctag-v", versioned).await,
        emu.wire("srctag-u", Options::default()).await,
    ];
    let mut expected = Vec::new();
    let mut values = Vec::new();
    for w in &wirings {
        let (version, etag, value) = quarantined(&emu, w, "in/eicar.com").await;
        expected.push(json!({"versionId": version, "eTag": etag}));
        values.push(json!(value));
    }
    assert!(expected[0]["versionId"].is_string(), "{expected:?}");
    values.push(json!("forged"));
    let answers = ask(&["contract", "--source-tags"], &values);
    assert_eq!(answers[..2], expected[..]);
    let why = answers[2]["error"].as_str().unwrap_or_default();
    assert!(why.contains("is not `<version id> <ETag>`"), "{answers:?}");
}

/// What pins the bytes an event names: the version S3 gave the upload, else (no version in
/// the event, as moto sends it, or `null`) the ETag the event carries, which is the upload's.
#[tokio::test]
async fn identities_pin_the_version_else_the_etag_the_event_names() {
    let emu = emulator().await;
    let w = emu
        .wire(
            "ident",
            Options {
                versioned: true,
                ..Options::default()
            },
        )
        .await;
    let version = emu.put(&w.bucket, "a b.txt", "plain text").await.unwrap();
    let records = emu.notifications(&w, 1).await;
    let event = serde_json::to_string(&batch(records)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, event).unwrap();
    let decoded = ask(&["decode", file.to_str().unwrap()], &[]);
    let object = &decoded[0]["objects"][0];
    let named = |v: Value| {
        json!({"bucket": object["bucket"], "key": object["key"], "versionId": v,
               "eTag": object["eTag"]})
    };
    let answers = ask(
        &["contract", "--identities"],
        &[
            named(object["versionId"].clone()),
            named(json!(version)),
            named(json!("null")),
        ],
    );
    let pin = |v: Value, e: Value| json!({"bucket": w.bucket, "key": "a b.txt", "versionId": v, "eTag": e});
    let by_etag = pin(Value::Null, object["eTag"].clone());
    let expected_first = match object["versionId"].as_str() {
        Some(v) => pin(json!(v), Value::Null),
        None => by_etag.clone(),
    };
    assert!(object["eTag"].is_string(), "{object}");
    assert_eq!(
        answers,
        [expected_first, pin(json!(version), Value::Null), by_etag]
    );
}
