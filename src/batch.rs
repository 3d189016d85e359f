//! Batch handling: SQS records in, an SQS partial batch response out. Each record is decoded
//! on its own (a bad one fails only itself), events that name the same bytes become one job,
//! jobs run with bounded concurrency within the function's deadline, and a message is
//! acknowledged only when every object it names is settled.

use std::collections::HashMap;
use std::time::SystemTime;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use futures::StreamExt;
use tracing::{error, info};

use crate::config::Metrics;
use crate::deadline::Timing;
use crate::event::{EventError, EventKind, ObjectEvent, decode_body};
use crate::metrics::BatchMetrics;
use crate::pipeline::Pipeline;
use crate::report::Report;
use crate::store::ObjectStore;

/// A fault of the whole invocation (not of one message): Lambda retries the whole batch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// SQS always sets a message id; without one, a failure could not be reported.
    #[error("SQS record {index} has no messageId, so its failure could not be reported")]
    MissingMessageId {
        /// Position of the record in the batch.
        index: usize,
    },
}

impl<S: ObjectStore> Pipeline<S> {
    /// Processes one SQS batch without a deadline; see [`Pipeline::process_batch_until`].
    pub async fn process_batch(&self, event: SqsEvent) -> Result<SqsBatchResponse, BatchError> {
        self.process_batch_until(event, None).await
    }

    /// Processes one SQS batch and lists the messages to retry: undecodable ones (they reach
    /// the DLQ after `maxReceiveCount` tries), and those with an object that is not settled,
    /// including objects not started, or abandoned, too close to `deadline`.
    pub async fn process_batch_until(
        &self,
        event: SqsEvent,
        deadline: Option<SystemTime>,
    ) -> Result<SqsBatchResponse, BatchError> {
        self.refresh_rules().await;
        let Planned {
            ids,
            mut failed,
            jobs,
            queued,
        } = plan(&event)?;
        let timing = Timing::new(deadline, self.config.scan_timeout);
        let (ids, timing) = (&ids, &timing);
        let reports: Vec<(Vec<usize>, Report)> = futures::stream::iter(jobs)
            .map(|job| async move {
                let blank = Report::new(&job.event, self.engine.rules().id());
                let report = timing.run(blank, self.settle(&job.event)).await;
                let message_ids: Vec<&str> =
                    job.messages.iter().map(|&m| ids[m].as_str()).collect();
                report.log(&message_ids);
                (job.messages, self.announce(report).await)
            })
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        for (m, document) in &queued {
            if let Err(e) = self.publish_queued(document).await {
                error!(message_id = %ids[*m], error = %e, "queued result event not published; its message is retried");
                failed[*m] = true;
            }
        }
        for (messages, report) in &reports {
            if !report.is_settled() {
                for &m in messages {
                    failed[m] = true;
                }
            }
        }
        if let Metrics::Emf { function, stdout } = &self.config.metrics {
            let failures = failed.iter().filter(|f| **f).count();
            BatchMetrics::of(ids.len(), failures, reports.iter().map(|(_, r)| r))
                .emit(function, *stdout);
        }
        Ok(response(ids, &failed))
    }
}

/// The messages to retry, in batch order.
fn response(ids: &[String], failed: &[bool]) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for (id, _) in ids.iter().zip(failed).filter(|(_, failed)| **failed) {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id.clone();
        response.batch_item_failures.push(failure);
    }
    response
}

/// One object to settle, and the messages (by position in the batch) that name it.
struct Job {
    event: ObjectEvent,
    messages: Vec<usize>,
}

/// What makes two events name the same bytes: the bucket, the key, and a pinned version or,
/// for an unversioned (or `null`) key, the ETag. Two uploads of one unversioned key with
/// different bytes are two jobs: the older one's read finds its bytes gone (its ETag no
/// longer matches) and the newer one's scans what the key holds.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Identity {
    bucket: String,
    key: String,
    pin: Option<String>,
}

impl Identity {
    fn of(event: &ObjectEvent) -> Identity {
        let o = &event.object;
        Identity {
            bucket: o.bucket.clone(),
            key: o.key.clone(),
            pin: if o.is_pinned() {
                o.version_id.clone()
            } else {
                event.etag.as_ref().map(|e| format!("etag {e}"))
            },
        }
    }
}

/// A batch's records as jobs: the message ids in batch order, which messages already failed
/// (could not be decoded), and the objects to settle.
struct Planned {
    ids: Vec<String>,
    failed: Vec<bool>,
    jobs: Vec<Job>,
    /// Result events queued again by an earlier batch, by message.
    queued: Vec<(usize, serde_json::Value)>,
}

/// Decodes each record on its own (an undecodable one is marked failed) and makes one job per
/// identity. A creation event for the same bytes as a tag change stands for both.
fn plan(event: &SqsEvent) -> Result<Planned, BatchError> {
    let mut planned = Planned {
        ids: Vec::with_capacity(event.records.len()),
        failed: vec![false; event.records.len()],
        jobs: Vec::new(),
        queued: Vec::new(),
    };
    let mut job_of: HashMap<Identity, usize> = HashMap::new();
    for (index, record) in event.records.iter().enumerate() {
        let id = record
            .message_id
            .clone()
            .ok_or(BatchError::MissingMessageId { index })?;
        let body = record.body.as_deref();
        if let Some(queued) = body.and_then(announce::queued_document) {
            match queued {
                Ok(document) => planned.queued.push((index, document)),
                Err(e) => {
                    error!(message_id = %id, error = %e, "cannot decode a queued result event; reporting it as failed");
                    planned.failed[index] = true;
                }
            }
            planned.ids.push(id);
            continue;
        }
        match body.ok_or(EventError::MissingBody).and_then(decode_body) {
            Err(e) => {
                error!(message_id = %id, error = %e, "cannot decode message; reporting it as failed");
                planned.failed[index] = true;
            }
            Ok(decoded) => {
                for ignored in decoded.ignored {
                    info!(message_id = %id, event = %ignored.event_name, bucket = ?ignored.bucket, "not an object creation or tag change; acknowledged");
                }
                for object in decoded.objects {
                    add(&mut planned.jobs, &mut job_of, object, index);
                }
            }
        }
        planned.ids.push(id);
    }
    Ok(planned)
}

/// Adds `object`, named by message `index`, to the job for its bytes, or as a new job.
fn add(
    jobs: &mut Vec<Job>,
    job_of: &mut HashMap<Identity, usize>,
    object: ObjectEvent,
    index: usize,
) {
    let identity = Identity::of(&object);
    let Some(&j) = job_of.get(&identity) else {
        job_of.insert(identity, jobs.len());
        jobs.push(Job {
            event: object,
            messages: vec![index],
        });
        return;
    };
    let job = &mut jobs[j];
    if !job.messages.contains(&index) {
        job.messages.push(index);
    }
    if job.event.kind() == EventKind::TagsChanged && object.kind() == EventKind::Created {
        job.event = object;
    }
}

impl From<BatchError> for lambda_runtime::Diagnostic {
    fn from(e: BatchError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "BatchError".into(),
            error_message: e.to_string(),
        }
    }
}

mod announce;
pub mod operations;
#[cfg(test)]
mod tests;
