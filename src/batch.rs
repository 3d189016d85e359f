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
use crate::journey;
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

/// Processes one SQS batch without a deadline; see [`process_until`].
pub async fn process<S: ObjectStore>(
    p: &Pipeline<S>,
    event: SqsEvent,
) -> Result<SqsBatchResponse, BatchError> {
    process_until(p, event, None).await
}

/// Processes one SQS batch and lists the messages to retry: undecodable ones (they reach the
/// DLQ after `maxReceiveCount` tries), and those with an object that is not settled, including
/// objects not started, or abandoned, too close to `deadline`.
pub async fn process_until<S: ObjectStore>(
    p: &Pipeline<S>,
    event: SqsEvent,
    deadline: Option<SystemTime>,
) -> Result<SqsBatchResponse, BatchError> {
    p.refresh_rules().await;
    let Planned {
        ids,
        mut failed,
        jobs,
        queued,
    } = plan(&event)?;
    let timing = Timing::new(deadline, p.config.scan_timeout);
    let (ids, timing) = (&ids, &timing);
    let reports: Vec<(Vec<usize>, Report)> = futures::stream::iter(jobs)
        .map(|job| run_job(p, job, ids, timing))
        .buffer_unordered(p.config.concurrency)
        .flat_map(futures::stream::iter)
        .collect()
        .await;
    for (m, body) in &queued {
        if let Err(e) = announce::publish_queued(p, &ids[*m], body).await {
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
    if let Metrics::Emf { function, stdout } = &p.config.metrics {
        let failures = failed.iter().filter(|f| **f).count();
        BatchMetrics::of(ids.len(), failures, reports.iter().map(|(_, r)| r))
            .emit(function, *stdout);
    }
    Ok(response(ids, &failed))
}

/// Settles a job's events one after the other (each a journey of its own, logged and
/// announced), and reports each with the messages that named it.
async fn run_job<S: ObjectStore>(
    p: &Pipeline<S>,
    job: Job,
    ids: &[String],
    timing: &Timing,
) -> Vec<(Vec<usize>, Report)> {
    let mut done = Vec::with_capacity(job.steps.len());
    for step in job.steps {
        let report = journey::settle_within(p, &step.event, timing).await;
        let message_ids: Vec<&str> = step.messages.iter().map(|&m| ids[m].as_str()).collect();
        report.log(&message_ids);
        done.push((step.messages, announce::announce(p, report).await));
    }
    done
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

/// The events of one object's bytes, settled one after the other so that two journeys never
/// act on the same bytes at once.
struct Job {
    steps: Vec<Step>,
}

/// One event to settle, and the messages (by position in the batch) that name it or an event
/// it stands for.
struct Step {
    event: ObjectEvent,
    messages: Vec<usize>,
}

/// Which events one journey may settle for all: creations of the same bytes (S3 announces a
/// multipart upload twice, SQS redelivers), or tag changes made by the same principal. A tag
/// change is never folded into another principal's, nor into a creation: whoever sent one
/// event must not decide how another is checked (a forged "own change" would absorb a genuine
/// one).
#[derive(Debug, PartialEq, Eq)]
enum Sameness {
    Created,
    TagsChangedBy(Option<String>),
}

impl Sameness {
    fn of(event: &ObjectEvent) -> Sameness {
        match event.kind() {
            EventKind::Created => Sameness::Created,
            EventKind::TagsChanged => Sameness::TagsChangedBy(event.principal.clone()),
        }
    }
}

/// What makes two events name the same bytes: the bucket, the key, and a pinned version or,
/// for an unversioned (or `null`) key, the ETag. Two uploads of one unversioned key with
/// different bytes are two jobs: the older one's read finds its bytes gone (its ETag no
/// longer matches) and the newer one's scans what the key holds.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Identity {
    bucket: String,
    key: String,
    pin: Option<crate::object::Pin>,
}

impl Identity {
    fn of(event: &ObjectEvent) -> Identity {
        let o = &event.object;
        Identity {
            bucket: o.bucket.clone(),
            key: o.key.clone(),
            pin: o.pin(event.etag.as_deref()),
        }
    }
}

/// A batch's records as jobs: the message ids in batch order, which messages already failed
/// (could not be decoded), and the objects to settle.
struct Planned {
    ids: Vec<String>,
    failed: Vec<bool>,
    jobs: Vec<Job>,
    /// Result events queued again by an earlier batch: their message bodies, by message.
    queued: Vec<(usize, String)>,
}

/// Decodes each record on its own (an undecodable one is marked failed) and makes one job per
/// identity.
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
        if let Some(queued) = body.filter(|b| announce::is_queued(b)) {
            planned.queued.push((index, queued.to_owned()));
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

/// Adds `object`, named by message `index`, to the job for its bytes (to the step of the same
/// kind of event, or as a step of its own), or as a new job. Creations go first: a tag change
/// is checked against the verdict the creation's journey wrote.
fn add(
    jobs: &mut Vec<Job>,
    job_of: &mut HashMap<Identity, usize>,
    object: ObjectEvent,
    index: usize,
) {
    let identity = Identity::of(&object);
    let new_step = |object| Step {
        event: object,
        messages: vec![index],
    };
    let Some(&j) = job_of.get(&identity) else {
        job_of.insert(identity, jobs.len());
        jobs.push(Job {
            steps: vec![new_step(object)],
        });
        return;
    };
    let steps = &mut jobs[j].steps;
    let same = Sameness::of(&object);
    match steps.iter_mut().find(|s| Sameness::of(&s.event) == same) {
        Some(step) if !step.messages.contains(&index) => step.messages.push(index),
        Some(_) => {}
        None if same == Sameness::Created => steps.insert(0, new_step(object)),
        None => steps.push(new_step(object)),
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

pub mod announce;
pub mod demand;
#[cfg(test)]
mod finding_tests;
pub mod operations;
#[cfg(test)]
mod tests;
