//! The long-running agent (`s3-yara-scan poll`): the same pipeline and batch semantics as the
//! Lambda function, fed by SQS long polling instead of Lambda's event source, for objects and
//! rule sets beyond Lambda's limits (on ECS or EC2). One batch at a time: receive, keep its
//! messages hidden while the pipeline works, delete exactly those it acknowledged.
//!
//! SIGTERM or SIGINT stops the receiving; the batch in flight finishes and is acknowledged as
//! usual. A second signal, or the drain timeout, abandons it instead.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::aws::{Handle, Queue, QueueError};
use crate::pipeline::Pipeline;
use crate::store::ObjectStore;

/// How the agent polls and stops.
#[derive(Debug, Clone)]
pub struct Options {
    /// Messages received at once (SQS allows 1 to 10).
    pub batch_size: i32,
    /// How long the messages of a batch stay hidden from other consumers; renewed every third
    /// of it while the batch runs, so it only needs to cover a stalled agent, not a long scan.
    pub visibility: Duration,
    /// After the first signal, how long the batch in flight may still run.
    pub drain_timeout: Duration,
    /// Stop after this many batches (that received at least one message).
    pub max_batches: Option<u64>,
    /// How long one receive waits for messages (long polling; SQS allows up to 20 s).
    pub wait: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            batch_size: 10,
            visibility: Duration::from_secs(120),
            drain_timeout: Duration::from_secs(25),
            max_batches: None,
            wait: Duration::from_secs(20),
        }
    }
}

/// Why the agent stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stopped {
    /// A signal arrived; the batch in flight, if any, finished and was acknowledged.
    Drained,
    /// [`Options::max_batches`] batches were processed.
    MaxBatches,
    /// A second signal or the drain timeout cut the batch in flight short: its messages were
    /// made visible again, for another consumer to take.
    Abandoned {
        /// The messages of the abandoned batch.
        messages: usize,
    },
}

/// A fault that stops the agent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    /// The queue refused a receive for a reason waiting cannot fix (no queue, no permission).
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The signal handlers could not be installed.
    #[error("cannot listen for {signal}: {source}")]
    Signal {
        /// The signal.
        signal: &'static str,
        /// Why.
        source: std::io::Error,
    },
}

/// Consumes `queue` with `pipeline` until a signal, [`Options::max_batches`], or a queue fault.
pub async fn run<S: ObjectStore>(
    pipeline: &Pipeline<S>,
    queue: &Queue,
    options: &Options,
) -> Result<Stopped, PollError> {
    let signals = Signals::install()?;
    let (mut batches, mut backoff) = (0, Duration::ZERO);
    loop {
        if options.max_batches.is_some_and(|max| batches >= max) {
            return Ok(Stopped::MaxBatches);
        }
        let received = tokio::select! {
            biased;
            () = signals.at_least(1) => return Ok(Stopped::Drained),
            got = queue.receive(options.batch_size, options.visibility, options.wait) => got,
        };
        let messages = match received {
            Ok(messages) => messages,
            Err(e) if e.is_transient() => {
                backoff = (backoff * 2).clamp(Duration::from_secs(1), Duration::from_secs(30));
                warn!(error = %e, retry_in = ?backoff, "cannot receive; trying again");
                tokio::select! {
                    () = signals.at_least(1) => return Ok(Stopped::Drained),
                    () = tokio::time::sleep(backoff) => continue,
                }
            }
            Err(e) => return Err(e.into()),
        };
        backoff = Duration::ZERO;
        if messages.is_empty() {
            continue;
        }
        batches += 1;
        if let Some(messages) = work(pipeline, queue, messages, options, &signals).await {
            return Ok(Stopped::Abandoned { messages });
        }
        if signals.received() {
            return Ok(Stopped::Drained);
        }
    }
}

/// Runs one batch to its end, keeping its messages hidden meanwhile, and deletes the ones it
/// acknowledged. Returns the number of messages when the batch was abandoned instead.
async fn work<S: ObjectStore>(
    pipeline: &Pipeline<S>,
    queue: &Queue,
    messages: Vec<SqsMessage>,
    options: &Options,
    signals: &Signals,
) -> Option<usize> {
    let started = Instant::now();
    let handles: Vec<Handle> = messages.iter().filter_map(handle).collect();
    debug!(messages = handles.len(), "batch started");
    let mut event = SqsEvent::default();
    event.records = messages;
    let outcome = tokio::select! {
        biased;
        done = crate::batch::process_until(pipeline, event, None) => done,
        never = keep_hidden(queue, &handles, options.visibility) => match never {},
        () = abandon(signals, options.drain_timeout) => {
            release(queue, &handles).await;
            return Some(handles.len());
        }
    };
    let response = match outcome {
        Ok(response) => response,
        Err(e) => {
            error!(error = %e, messages = handles.len(), "batch failed; its messages return after their visibility timeout");
            return None;
        }
    };
    let retry: HashSet<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    // Messages to retry are left hidden until their visibility timeout ends, as Lambda leaves
    // them: a back-off before the next try, instead of spending the redrive policy's receive
    // count within seconds while S3 is failing.
    let settled: Vec<Handle> = handles
        .iter()
        .filter(|h| !retry.contains(h.message_id.as_str()))
        .cloned()
        .collect();
    let acknowledged = acknowledge(queue, &settled).await;
    info!(
        received = handles.len(),
        acknowledged,
        retried = retry.len(),
        seconds = started.elapsed().as_secs_f64(),
        "batch done"
    );
    None
}

/// The id and receipt handle of a message (the queue only returns messages with both).
fn handle(message: &SqsMessage) -> Option<Handle> {
    Some(Handle {
        message_id: message.message_id.clone()?,
        receipt_handle: message.receipt_handle.clone()?,
    })
}

/// Deletes the settled messages; returns how many SQS deleted. One that is not deleted is
/// delivered again and settled again, which the pipeline makes harmless.
async fn acknowledge(queue: &Queue, settled: &[Handle]) -> usize {
    match queue.delete(settled).await {
        Ok(failed) => {
            for (message_id, why) in &failed {
                warn!(
                    message_id,
                    why, "message not deleted; it will be delivered again"
                );
            }
            settled.len() - failed.len()
        }
        Err(e) => {
            error!(error = %e, "cannot delete the settled messages; they will be delivered again");
            0
        }
    }
}

/// Renews the messages' visibility every third of it, so that a long scan does not make them
/// visible to another consumer; runs until dropped.
async fn keep_hidden(queue: &Queue, handles: &[Handle], visibility: Duration) -> Infallible {
    let period = (visibility / 3).max(Duration::from_millis(500));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        ticks.tick().await;
        match queue.extend(handles, visibility).await {
            Ok(failed) => {
                for (message_id, why) in &failed {
                    warn!(message_id, why, "cannot keep the message hidden");
                }
                debug!(messages = handles.len(), ?visibility, "visibility extended");
            }
            Err(e) => warn!(error = %e, "cannot keep the batch's messages hidden"),
        }
    }
}

/// Ends when the batch in flight must be abandoned: a second signal, or `drain` after the
/// first.
async fn abandon(signals: &Signals, drain: Duration) {
    signals.at_least(1).await;
    tokio::select! {
        () = signals.at_least(2) => warn!("second signal: abandoning the batch in flight"),
        () = tokio::time::sleep(drain) => {
            warn!(drain_timeout = ?drain, "drain timeout: abandoning the batch in flight");
        }
    }
}

/// Makes an abandoned batch's messages visible at once, so that another consumer takes them
/// now rather than after the visibility timeout. Bounded: the agent is being stopped.
async fn release(queue: &Queue, handles: &[Handle]) {
    let released = tokio::time::timeout(
        Duration::from_secs(5),
        queue.extend(handles, Duration::ZERO),
    )
    .await;
    match released {
        Ok(Ok(failed)) => warn!(
            messages = handles.len() - failed.len(),
            "abandoned messages made visible again"
        ),
        Ok(Err(e)) => warn!(error = %e, "abandoned messages return after their visibility timeout"),
        Err(_) => warn!("abandoned messages return after their visibility timeout"),
    }
}

/// SIGTERM and SIGINT, counted.
struct Signals {
    count: watch::Receiver<u32>,
}

impl Signals {
    fn install() -> Result<Signals, PollError> {
        let listen = |kind, name| {
            signal(kind).map_err(|source| PollError::Signal {
                signal: name,
                source,
            })
        };
        let mut term = listen(SignalKind::terminate(), "SIGTERM")?;
        let mut int = listen(SignalKind::interrupt(), "SIGINT")?;
        let (tx, rx) = watch::channel(0);
        tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                tx.send_modify(|n| *n += 1);
                if *tx.borrow() == 1 {
                    info!(
                        signal = name,
                        "stopping: no more receiving; the batch in flight finishes"
                    );
                }
            }
        });
        Ok(Signals { count: rx })
    }

    /// True once a signal arrived.
    fn received(&self) -> bool {
        *self.count.borrow() > 0
    }

    /// Ends once `n` signals arrived.
    async fn at_least(&self, n: u32) {
        let mut count = self.count.clone();
        if count.wait_for(|c| *c >= n).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
