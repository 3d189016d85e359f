//! The binary: start-up validation, `handle` on an event file, `scan` on local files.

use std::process::{Command, Output};

use pretty_assertions::assert_eq;

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_s3-yara-scan");

pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "warn");
    for var in [
        "ACTION",
        "QUARANTINE_BUCKET",
        "MAX_OBJECT_SIZE",
        "MAX_CONCURRENCY",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("the binary runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A bad setting stops the function at start-up with the variable's name and the allowed
/// values, before any object is touched; so does a missing quarantine bucket.
#[test]
fn bad_configuration_fails_at_start_up() {
    let out = run(
        &["handle", "events/sqs-sns-s3-put.json"],
        &[("ACTION", "purge"), ("MAX_CONCURRENCY", "lots")],
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("ACTION=`purge` is invalid (allowed: quarantine, delete, tag)"),
        "{err}"
    );
    assert!(err.contains("MAX_CONCURRENCY=`lots` is invalid"), "{err}");
    assert!(out.stdout.is_empty());

    let out = run(&["handle", "events/sqs-sns-s3-put.json"], &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("QUARANTINE_BUCKET is required"));
}

/// In Lambda mode (`AWS_LAMBDA_RUNTIME_API` set) a bad setting fails the init the same way.
#[test]
fn bad_configuration_fails_lambda_init() {
    let out = Command::new(BIN)
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("ACTION", "purge")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let all = text(&out.stderr) + &text(&out.stdout);
    assert!(all.contains("ACTION=`purge` is invalid"), "{all}");
}

/// The EMF documents among a run's log lines (stderr outside Lambda).
fn emf(stderr: &[u8]) -> Vec<serde_json::Value> {
    text(stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|doc| doc.get("_aws").is_some())
        .collect()
}

/// `handle` runs the batch handler on an event file and prints the batch response: live
/// notifications are settled, and of the sample poison batch exactly the malformed records are
/// listed for retry. Each batch writes its metrics as EMF lines (and none with METRICS=off).
#[tokio::test]
async fn handle_prints_the_batch_response_and_its_metrics() {
    let emu = emulator().await;
    let w = emu.wire("handle", Options::default()).await;
    emu.put(&w.bucket, "h.com", EICAR).await;
    let records = emu.notifications(&w, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, serde_json::to_string(&batch(records)).unwrap()).unwrap();
    let env = [("QUARANTINE_BUCKET", w.quarantine.as_str())];
    let out = run(&["handle", file.to_str().unwrap()], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response, serde_json::json!({"batchItemFailures": []}));
    assert!(!emu.exists(&w.bucket, "h.com").await);
    let docs = emf(&out.stderr);
    assert_eq!(docs.len(), 2, "totals and Infected: {docs:#?}");
    assert_eq!(
        (
            &docs[0]["Records"],
            &docs[0]["BytesScanned"],
            &docs[0]["FunctionName"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!(EICAR.len()),
            &serde_json::json!("local")
        )
    );
    assert_eq!(
        (&docs[1]["Verdict"], &docs[1]["Objects"]),
        (&serde_json::json!("Infected"), &serde_json::json!(1))
    );

    let out = run(&["handle", "events/sqs-batch-one-poison.json"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = response["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "poison-not-json",
            "poison-sns-message-not-json",
            "poison-missing-key",
            "poison-wrong-type",
            "poison-not-s3"
        ]
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("poison-missing-key") && err.contains("missing field `key`"),
        "{err}"
    );
    assert_eq!(emf(&out.stderr)[0]["BatchItemFailures"], 5);
    let off = [env[0], ("METRICS", "off")];
    let out = run(&["handle", "events/sqs-batch-one-poison.json"], &off);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(emf(&out.stderr), Vec::<serde_json::Value>::new());
}

/// `handle` on a file that is not an SQS event names the file.
#[test]
fn handle_rejects_a_file_that_is_not_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nope.json");
    std::fs::write(&file, "[1, 2").unwrap();
    let out = run(&["handle", file.to_str().unwrap()], &[("ACTION", "tag")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not a Lambda SQS event"));
}

/// `scan` walks directories and exits like clamscan: 0 clean, 1 infected, 2 errors.
#[test]
fn scan_reports_files_and_exits_like_clamscan() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("clean.txt"), "hello").unwrap();
    std::fs::write(dir.path().join("sub/eicar.com"), EICAR).unwrap();
    let root = dir.path().to_str().unwrap();

    let out = run(&["scan", root], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("clean.txt: Clean"), "{stdout}");
    assert!(
        stdout.contains("eicar.com: Infected (EICAR_Test_File)"),
        "{stdout}"
    );

    let out = run(&["scan", "--json", root], &[]);
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(
        lines
            .iter()
            .any(|l| l["verdict"] == "Infected" && l["matches"][0] == "EICAR_Test_File")
    );

    let clean = dir.path().join("clean.txt");
    assert_eq!(
        run(&["scan", clean.to_str().unwrap()], &[]).status.code(),
        Some(0)
    );
    let missing = dir.path().join("missing");
    let out = run(&["scan", missing.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains("Error"));
    // Infected wins over errors, so that a check for 1 never misses a detection.
    let out = run(&["scan", missing.to_str().unwrap(), root], &[]);
    assert_eq!(out.status.code(), Some(1));
}

/// `rules` lists the embedded rules with their identity.
#[test]
fn rules_lists_the_embedded_rules() {
    let out = run(&["rules"], &[]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("ruleset "), "{stdout}");
    assert!(stdout.contains("EICAR_Test_File: EICAR anti-malware test file"));
}

/// Every sample in events/ runs through `handle`: their buckets do not exist on this emulator,
/// so objects are acknowledged as gone, and only the malformed records of the poison sample
/// are listed for retry.
#[tokio::test]
async fn every_sample_event_runs_through_handle() {
    let _emulator = emulator().await;
    let mut seen = 0;
    for entry in std::fs::read_dir("events").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        seen += 1;
        let name = path.file_name().unwrap().to_str().unwrap();
        // The CloudTrail samples need the topic onboarded buckets notify.
        let topic = (
            "NOTIFICATION_TOPIC_ARN",
            "arn:aws:sns:us-east-1:123456789012:scan",
        );
        let env = [("ACTION", "tag"), topic];
        let env = if name.starts_with("cloudtrail-") {
            &env[..]
        } else {
            &env[..1]
        };
        let out = run(&["handle", path.to_str().unwrap()], env);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
        let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if path.ends_with("s3-batch-operations.json") {
            // Answered per task; the bucket does not exist, so neither object can be scanned.
            let codes: Vec<&str> = response["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["resultCode"].as_str().unwrap())
                .collect();
            assert_eq!(codes, ["PermanentFailure"; 2], "{response}");
            continue;
        }
        if name.starts_with("cloudtrail-") {
            // Onboarding by tag: the bucket does not exist, so there is nothing to wire.
            assert_eq!(response["outcome"], "Gone", "{name}: {response}");
            continue;
        }
        let failures = response["batchItemFailures"].as_array().unwrap().len();
        let poison = path.ends_with("sqs-batch-one-poison.json");
        assert_eq!(failures, if poison { 5 } else { 0 }, "{}", path.display());
    }
    assert!(seen >= 10, "{seen} samples");
}

/// With SIGNING_KEY_SECRET, the key is read from Secrets Manager at start-up and verdicts are
/// signed with it; a secret that cannot be read stops start-up naming the setting and the
/// permission, and the key's value is never printed.
#[tokio::test]
async fn signing_key_is_read_from_secrets_manager() {
    let emu = emulator().await;
    let (w, records) = emu.uploaded("secret", "doc.txt", "hello").await;
    let shared = aws_config::load_from_env().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&shared);
    let name = unique("signing-key");
    let key = "k3y-".repeat(16);
    secrets
        .create_secret()
        .name(&name)
        .secret_string(&key)
        .send()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, serde_json::to_string(&batch(records)).unwrap()).unwrap();
    let file = file.to_str().unwrap();

    let env = [("ACTION", "tag"), ("SIGNING_KEY_SECRET", name.as_str())];
    let out = run(&["handle", file], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let signature = emu.tag(&w.bucket, "doc.txt", "scan-signature").await;
    assert!(signature.is_some_and(|s| s.starts_with("v1.")));
    assert!(!text(&out.stderr).contains(&key));

    let env = [("ACTION", "tag"), ("SIGNING_KEY_SECRET", "no-such-secret")];
    let out = run(&["handle", file], &env);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("SIGNING_KEY_SECRET=`no-such-secret`"), "{err}");
    assert!(err.contains("secretsmanager:GetSecretValue"), "{err}");
}

/// `scan` looks inside archives as the pipeline does, naming the member.
#[test]
fn scan_looks_inside_archives() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("bundle.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&zip).unwrap());
    w.start_file("docs/eicar.com", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut w, EICAR.as_bytes()).unwrap();
    w.finish().unwrap();
    let out = run(&["scan", zip.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("Infected (bundle.zip>docs/eicar.com:EICAR_Test_File)"),
        "{stdout}"
    );
}

/// `rules check` names every error with its file and line; `rules build` serializes sources
/// that `scan --rules` then uses, beside the embedded rules.
#[test]
fn rules_check_build_and_scan_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("bad.yar"), "rule bad {\n  condition: nope\n}\n").unwrap();
    let out = run(&["rules", "check", src.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("bad.yar:2:"), "{err}");

    std::fs::remove_file(src.join("bad.yar")).unwrap();
    std::fs::write(
        src.join("team.yar"),
        r#"rule Team_Marker { strings: $a = "team-marker-51c2" condition: $a }"#,
    )
    .unwrap();
    let out = run(&["rules", "check", src.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("1 rules from 1 files"));

    let built = dir.path().join("team.yarc");
    let out = run(
        &[
            "rules",
            "build",
            src.to_str().unwrap(),
            "-o",
            built.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let sample = dir.path().join("sample.txt");
    std::fs::write(&sample, "x team-marker-51c2 x").unwrap();
    let args = [
        "scan",
        "--rules",
        built.to_str().unwrap(),
        sample.to_str().unwrap(),
    ];
    let out = run(&args, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Infected (Team_Marker)"));
    assert_eq!(
        run(&["scan", sample.to_str().unwrap()], &[]).status.code(),
        Some(0)
    );
}
