//! Sending work to a queue: SendMessageBatch to the scan queue (`backlog --to-queue`), and
//! SendMessage to the agent's queue for objects over `LARGE_OBJECT_SIZE`, through the AWS SDK
//! for SQS. The bodies are built by the caller; this file only carries them.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::store::requests;

/// Why a SendMessageBatch call failed as a whole (each message's own failure is an answer, not
/// an error).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnqueueError {
    /// More messages than one call takes.
    #[error("{0} messages in one SendMessageBatch (at most 10)")]
    TooMany(usize),
    /// The call failed (after the SDK's retries); the detail names the permission when it is
    /// one (`sqs:SendMessage`).
    #[error("SendMessageBatch to `{url}`: {detail}")]
    Send {
        /// The queue.
        url: String,
        /// What SQS or the connection said.
        detail: String,
    },
}

/// The queue the function reads its notifications from.
#[derive(Debug, Clone)]
pub struct ScanQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl ScanQueue {
    /// SQS takes at most this many messages in one SendMessageBatch.
    pub const MAX_BATCH: usize = 10;

    /// The queue at `url`, through `client`.
    pub(super) fn new(client: aws_sdk_sqs::Client, url: &str) -> ScanQueue {
        ScanQueue {
            client,
            url: url.to_owned(),
        }
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends each of `bodies` (at most [`ScanQueue::MAX_BATCH`]) as one message, in one call. Returns
    /// the bodies SQS did not take, by index, with its reason; the others are on the queue.
    pub async fn send_batch(
        &self,
        bodies: &[String],
    ) -> Result<Vec<(usize, String)>, EnqueueError> {
        if bodies.len() > ScanQueue::MAX_BATCH {
            return Err(EnqueueError::TooMany(bodies.len()));
        }
        let entries = bodies.iter().enumerate().map(|(i, body)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .build()
        });
        let entries = entries
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.failed(e.to_string()))?;
        requests::count();
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| self.failed(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
        // An answer that names no entry we sent (never seen) counts against the first body
        // rather than being lost.
        Ok(out
            .failed()
            .iter()
            .map(|f| {
                let why = format!("{}: {}", f.code(), f.message().unwrap_or("-"));
                (f.id().parse().unwrap_or(0), why)
            })
            .collect())
    }

    fn failed(&self, detail: String) -> EnqueueError {
        EnqueueError::Send {
            url: self.url.clone(),
            detail,
        }
    }
}

/// The agent's queue, for objects over `LARGE_OBJECT_SIZE`: one SendMessage per object.
impl crate::forward::Forward for ScanQueue {
    fn forward<'a>(&'a self, body: &'a str) -> crate::forward::Forwarding<'a> {
        // Counted by the journey, which also counts its test double's.
        Box::pin(async move {
            let sent = self
                .client
                .send_message()
                .queue_url(&self.url)
                .message_body(body)
                .send()
                .await;
            sent.map(|_| ()).map_err(|e| crate::forward::ForwardError {
                queue: self.url.clone(),
                detail: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string(),
            })
        })
    }
}
