//! S3 Batch Operations: the same function invoked by a Batch Operations job (`LambdaInvoke`,
//! schema 2.0, or 1.0) on objects listed in a manifest, such as an S3 Inventory report. Each
//! task is one object's journey, answered with `Succeeded`, `TemporaryFailure` (retried by the
//! job) or `PermanentFailure` with the reason, which AWS writes in the job's completion report.

use std::time::SystemTime;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::deadline::Timing;
use crate::event::ObjectEvent;
use crate::journey;

use super::announce::announce;
use crate::object::{ObjectRef, decode_key, pinned_version};
use crate::pipeline::Pipeline;
use crate::report::{Disposition, Report, Retry, Settled};
use crate::store::ObjectStore;

/// The event name the tasks' objects are processed under: a creation, as for new uploads.
pub const EVENT_NAME: &str = "ObjectCreated:BatchOperations";

/// A Batch Operations invocation.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobEvent {
    /// `1.0` or `2.0`.
    pub invocation_schema_version: String,
    /// Copied into the answer.
    pub invocation_id: String,
    /// The objects, usually one.
    pub tasks: Vec<Task>,
}

/// One object of a job.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// Copied into its result.
    pub task_id: String,
    /// The key, URL-encoded as in the manifest.
    pub s3_key: String,
    /// The version the manifest names, if any.
    #[serde(default)]
    pub s3_version_id: Option<String>,
    /// The bucket's name (schema 2.0).
    #[serde(default)]
    pub s3_bucket: Option<String>,
    /// The bucket's ARN (schema 1.0).
    #[serde(default)]
    pub s3_bucket_arn: Option<String>,
}

/// The answer to an invocation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JobResponse {
    /// As invoked.
    pub invocation_schema_version: String,
    /// What a task without a result counts as.
    pub treat_missing_keys_as: String,
    /// As invoked.
    pub invocation_id: String,
    /// One per task.
    pub results: Vec<TaskResult>,
}

/// The result of one task.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    /// As invoked.
    pub task_id: String,
    /// `Succeeded`, `TemporaryFailure` or `PermanentFailure`.
    pub result_code: String,
    /// The verdict and where the object is, or why it failed.
    pub result_string: String,
}

/// True when `event` is a Batch Operations invocation rather than an SQS batch.
pub fn is_job(event: &serde_json::Value) -> bool {
    event.get("invocationSchemaVersion").is_some() && event.get("tasks").is_some()
}

impl Task {
    /// The object the task names, or why it names none.
    fn object_event(&self) -> Result<ObjectEvent, String> {
        let bucket = match (&self.s3_bucket, &self.s3_bucket_arn) {
            (Some(name), _) => name.clone(),
            (None, Some(arn)) => arn.rsplit(":::").next().unwrap_or(arn).to_owned(),
            (None, None) => return Err("the task names no bucket (s3Bucket, s3BucketArn)".into()),
        };
        let key = decode_key(&self.s3_key).map_err(|e| format!("s3Key {e}"))?;
        let version = pinned_version(self.s3_version_id.as_deref());
        let object = ObjectRef::new(bucket, key).at_version(version);
        Ok(ObjectEvent::announced(object, None, EVENT_NAME))
    }
}

/// Takes each task's object through its journey, within `deadline`, and answers per task.
pub async fn process_job_until<S: ObjectStore>(
    p: &Pipeline<S>,
    job: JobEvent,
    deadline: Option<SystemTime>,
) -> JobResponse {
    p.refresh_rules().await;
    let timing = Timing::new(deadline, p.config.scan_timeout);
    let timing = &timing;
    let results = futures::stream::iter(job.tasks)
        .map(|task| async move {
            let event = match task.object_event() {
                Ok(event) => event,
                Err(why) => {
                    tracing::error!(task = %task.task_id.escape_debug(), error = %why, "cannot read the Batch Operations task");
                    return result(task.task_id, "PermanentFailure", why);
                }
            };
            let report = journey::settle_within(p, &event, timing).await;
            report.log(&[task.task_id.as_str()]);
            let report = announce(p, report).await;
            let (code, text) = answer(&report);
            result(task.task_id, code, text)
        })
        .buffered(p.config.concurrency)
        .collect()
        .await;
    JobResponse {
        invocation_schema_version: job.invocation_schema_version,
        treat_missing_keys_as: "PermanentFailure".into(),
        invocation_id: job.invocation_id,
        results,
    }
}

fn result(task_id: String, code: &str, text: String) -> TaskResult {
    TaskResult {
        task_id,
        result_code: code.into(),
        result_string: text,
    }
}

/// A report as a task's result: a verdict recorded (or a signed one standing) succeeded; what
/// is retried is a temporary failure; an object gone, or a verdict that could not be recorded,
/// a permanent one.
fn answer(report: &Report) -> (&'static str, String) {
    let verdict = report.verdict.as_ref();
    match &report.disposition {
        // Retrying cannot make a bucket protected: the job should not name it.
        Disposition::Retry(why @ Retry::NotProtected(_)) => ("PermanentFailure", why.to_string()),
        Disposition::Retry(why) => ("TemporaryFailure", why.to_string()),
        Disposition::Acknowledge(Settled::Gone { .. } | Settled::NotRecorded(_)) => {
            ("PermanentFailure", report.disposition.to_string())
        }
        Disposition::Acknowledge(settled) => {
            let verdict = verdict.map_or("-".into(), |v| match v.labels().as_slice() {
                [] => v.name().to_owned(),
                labels => format!("{} ({})", v.name(), labels.join(", ")),
            });
            (
                "Succeeded",
                format!("{verdict}; {}; {settled}", report.location),
            )
        }
    }
}
