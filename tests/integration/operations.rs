//! S3 Batch Operations through `handle`, with job events shaped as AWS sends them (schema 2.0
//! and 1.0): an answer per task, the verdict written as for new uploads, and objects with a
//! valid signed verdict for the current rules skipped.

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::cli::{run, text};
use crate::support::*;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn job(schema: &str, tasks: Vec<Value>) -> Value {
    json!({
        "invocationSchemaVersion": schema,
        "invocationId": "inv-1",
        "job": {"id": "job-1", "userArguments": {}},
        "tasks": tasks,
    })
}

/// Runs `handle` on `job` and returns each task's (id, code, text).
fn handle(job: &Value, env: &[(&str, &str)]) -> Vec<(String, String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job.json");
    std::fs::write(&file, job.to_string()).unwrap();
    let out = run(&["handle", file.to_str().unwrap()], env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let response: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response["invocationId"], "inv-1");
    assert_eq!(
        response["invocationSchemaVersion"],
        job["invocationSchemaVersion"]
    );
    assert_eq!(response["treatMissingKeysAs"], "PermanentFailure");
    let field = |r: &Value, k: &str| r[k].as_str().unwrap().to_owned();
    response["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                field(r, "taskId"),
                field(r, "resultCode"),
                field(r, "resultString"),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_batch_operations_job_is_answered_per_task_and_signed_verdicts_are_skipped() {
    let emu = emulator().await;
    let w = emu
        .wire(
            "batchops",
            Options {
                versioned: true,
                ..Options::default()
            },
        )
        .await;
    let clean = emu.put(&w.bucket, "docs/a b.txt", "plain text").await;
    emu.put(&w.bucket, "docs/eicar.com", EICAR).await;
    let env = [
        ("QUARANTINE_BUCKET", w.quarantine.as_str()),
        ("SIGNING_KEY", KEY),
    ];
    let tasks = vec![
        json!({"taskId": "t1", "s3Bucket": w.bucket, "s3Key": "docs/a+b.txt", "s3VersionId": clean}),
        json!({"taskId": "t2", "s3Bucket": w.bucket, "s3Key": "docs/eicar.com", "s3VersionId": null}),
        json!({"taskId": "t3", "s3Bucket": w.bucket, "s3Key": "docs/missing", "s3VersionId": null}),
    ];
    let results = handle(&job("2.0", tasks.clone()), &env);
    let codes: Vec<(&str, &str)> = results
        .iter()
        .map(|(id, c, _)| (id.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        codes,
        [
            ("t1", "Succeeded"),
            ("t2", "Succeeded"),
            ("t3", "PermanentFailure")
        ]
    );
    assert!(
        results[0].2.starts_with("Clean; in place"),
        "{}",
        results[0].2
    );
    assert!(
        results[1]
            .2
            .starts_with("Infected (EICAR_Test_File); quarantined to"),
        "{}",
        results[1].2
    );
    assert!(
        results[2].2.contains("no longer exists"),
        "{}",
        results[2].2
    );
    assert_eq!(
        emu.tag(&w.bucket, "docs/a b.txt", "scan-result")
            .await
            .as_deref(),
        Some("Clean")
    );
    assert!(!emu.exists(&w.bucket, "docs/eicar.com").await);

    // Again, as a schema 1.0 job (bucket ARN): the signed Clean is not scanned again.
    let arn = format!("arn:aws:s3:::{}", w.bucket);
    let again = vec![
        json!({"taskId": "t4", "s3BucketArn": arn, "s3Key": "docs/a+b.txt", "s3VersionId": clean}),
    ];
    let results = handle(&job("1.0", again), &env);
    assert_eq!(results[0].1, "Succeeded");
    assert!(
        results[0].2.contains("not scanned again: signed Clean"),
        "{}",
        results[0].2
    );
}

#[tokio::test]
async fn a_task_naming_no_bucket_fails_permanently_with_the_reason() {
    let _emu = emulator().await;
    let tasks = vec![json!({"taskId": "t1", "s3Key": "a.txt"})];
    let results = handle(&job("2.0", tasks), &[("ACTION", "tag")]);
    assert_eq!(results[0].1, "PermanentFailure");
    assert!(results[0].2.contains("s3Bucket"), "{}", results[0].2);
}
