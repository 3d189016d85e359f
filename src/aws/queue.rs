//! The SQS queue the `poll` agent consumes: receive (long polling), delete, and keep messages
//! invisible while they are worked on. The agent (`poll`) sees Lambda-shaped [`SqsMessage`]s, [`Handle`]s and [`QueueError`].

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsMessage;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, QueueAttributeName,
};

/// Every SQS permission the agent needs, as its errors name them.
pub const PERMISSIONS: &str = "sqs:ReceiveMessage, sqs:DeleteMessage, \
    sqs:ChangeMessageVisibility and sqs:GetQueueAttributes";

/// Why a call to SQS failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The queue URL names no queue (or a queue in another region).
    #[error(
        "{action}: the queue {url} does not exist (check the URL and AWS_REGION); the agent \
         needs {PERMISSIONS} on it"
    )]
    NotFound {
        /// The IAM action of the call.
        action: &'static str,
        /// The queue URL.
        url: String,
    },
    /// The agent's role lacks a permission on the queue (or its KMS key).
    #[error("{action}: access denied on {url}; the agent needs {PERMISSIONS} on it ({detail})")]
    AccessDenied {
        /// The IAM action of the call.
        action: &'static str,
        /// The queue URL.
        url: String,
        /// SQS's message.
        detail: String,
    },
    /// Throttling, a 5xx, a timeout or a dropped connection: worth trying again.
    #[error("{action} on {url}: transient failure: {detail}")]
    Transient {
        /// The IAM action of the call.
        action: &'static str,
        /// The queue URL.
        url: String,
        /// What happened.
        detail: String,
    },
    /// Anything else SQS refused.
    #[error("{action} on {url}: {detail}")]
    Other {
        /// The IAM action of the call.
        action: &'static str,
        /// The queue URL.
        url: String,
        /// What happened.
        detail: String,
    },
}

impl QueueError {
    /// True when trying again later can succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, QueueError::Transient { .. })
    }
}

/// What deleting or re-hiding a message needs: its id (for logs and batch entries) and the
/// receipt handle of this delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle {
    /// The message id.
    pub message_id: String,
    /// The receipt handle of the delivery being worked on.
    pub receipt_handle: String,
}

/// An SQS queue, by URL, with its ARN (read by [`Queue::connect`]).
#[derive(Debug, Clone)]
pub struct Queue {
    client: Client,
    url: String,
    arn: Option<String>,
    region: Option<String>,
}

impl Queue {
    /// The queue at `url`, through `client` (whose requests go to `region`). Reads the queue's
    /// ARN and redrive policy, so that a wrong URL or a missing permission stops the agent at
    /// start-up; returns whether the queue has a redrive policy (without one, a poison message
    /// is retried forever).
    pub(super) async fn connect(
        client: Client,
        url: &str,
        region: Option<String>,
    ) -> Result<(Queue, bool), QueueError> {
        let mut queue = Queue {
            client,
            url: url.to_owned(),
            arn: None,
            region,
        };
        let out = queue
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| queue.classify("sqs:GetQueueAttributes", e))?;
        let mut attributes = out.attributes.unwrap_or_default();
        queue.arn = attributes.remove(&QueueAttributeName::QueueArn);
        let redrive = attributes.contains_key(&QueueAttributeName::RedrivePolicy);
        Ok((queue, redrive))
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Waits up to `wait` for at most `max` messages, hidden from other consumers for
    /// `visibility`, shaped as Lambda's event source delivers them. Messages without an id or
    /// receipt handle (SQS always sets both) are left out: they could not be acknowledged.
    pub async fn receive(
        &self,
        max: i32,
        visibility: Duration,
        wait: Duration,
    ) -> Result<Vec<SqsMessage>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max)
            .visibility_timeout(seconds(visibility))
            .wait_time_seconds(seconds(wait))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| self.classify("sqs:ReceiveMessage", e))?;
        let messages = out.messages.unwrap_or_default().into_iter();
        Ok(messages
            .filter(|m| m.message_id.is_some() && m.receipt_handle.is_some())
            .map(|m| self.lambda_shaped(m))
            .collect())
    }

    fn lambda_shaped(&self, m: aws_sdk_sqs::types::Message) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.attributes = m
            .attributes
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.as_str().to_owned(), v))
            .collect();
        record.message_id = m.message_id;
        record.receipt_handle = m.receipt_handle;
        record.body = m.body;
        record.md5_of_body = m.md5_of_body;
        record.event_source = Some("aws:sqs".into());
        record.event_source_arn = self.arn.clone();
        record.aws_region = self.region.clone();
        record
    }

    /// Deletes the messages (at most 10); returns the ids of those SQS did not delete, each
    /// with its reason (an expired receipt handle: the message was delivered again).
    pub async fn delete(&self, handles: &[Handle]) -> Result<Vec<(String, String)>, QueueError> {
        if handles.is_empty() {
            return Ok(Vec::new());
        }
        let entries = handles.iter().enumerate().map(|(i, h)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(&h.receipt_handle)
                .build()
        });
        let entries = entries
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.invalid("sqs:DeleteMessage", &e))?;
        let out = self
            .client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| self.classify("sqs:DeleteMessage", e))?;
        Ok(failures(handles, out.failed()))
    }

    /// Hides the messages (at most 10) from other consumers for `visibility` from now; returns
    /// the ids of those SQS did not change, each with its reason.
    pub async fn extend(
        &self,
        handles: &[Handle],
        visibility: Duration,
    ) -> Result<Vec<(String, String)>, QueueError> {
        if handles.is_empty() {
            return Ok(Vec::new());
        }
        let entries = handles.iter().enumerate().map(|(i, h)| {
            ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(&h.receipt_handle)
                .visibility_timeout(seconds(visibility))
                .build()
        });
        let entries = entries
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.invalid("sqs:ChangeMessageVisibility", &e))?;
        let out = self
            .client
            .change_message_visibility_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| self.classify("sqs:ChangeMessageVisibility", e))?;
        Ok(failures(handles, out.failed()))
    }

    fn invalid(&self, action: &'static str, e: &dyn std::error::Error) -> QueueError {
        QueueError::Other {
            action,
            url: self.url.clone(),
            detail: e.to_string(),
        }
    }

    /// Sorts an SDK failure (the SDK has already retried throttling and 5xx answers).
    fn classify<E, R>(&self, action: &'static str, err: SdkError<E, R>) -> QueueError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        let url = self.url.clone();
        let detail = DisplayErrorContext(&err).to_string();
        let SdkError::ServiceError(service) = &err else {
            return QueueError::Transient {
                action,
                url,
                detail,
            };
        };
        let code = service.err().code().unwrap_or_default();
        sort(action, url, code, detail)
    }
}

/// What an SQS error `code` means for the agent.
fn sort(action: &'static str, url: String, code: &str, detail: String) -> QueueError {
    let code = code.rsplit('.').next().unwrap_or(code);
    match code {
        "QueueDoesNotExist" | "NonExistentQueue" => QueueError::NotFound { action, url },
        "AccessDenied"
        | "AccessDeniedException"
        | "KmsAccessDenied"
        | "KmsDisabled"
        | "KmsNotFound" => QueueError::AccessDenied {
            action,
            url,
            detail,
        },
        "RequestThrottled"
        | "ThrottlingException"
        | "ServiceUnavailable"
        | "InternalError"
        | "InternalFailure"
        | "KmsThrottled" => QueueError::Transient {
            action,
            url,
            detail,
        },
        _ => QueueError::Other {
            action,
            url,
            detail,
        },
    }
}

/// The (message id, reason) of each failed entry of a batch call.
fn failures(
    handles: &[Handle],
    failed: &[aws_sdk_sqs::types::BatchResultErrorEntry],
) -> Vec<(String, String)> {
    failed
        .iter()
        .filter_map(|f| {
            let handle = handles.get(f.id().parse::<usize>().ok()?)?;
            let why = format!("{}: {}", f.code(), f.message().unwrap_or_default());
            Some((handle.message_id.clone(), why))
        })
        .collect()
}

/// Whole seconds for SQS, which takes an `i32` (at most 12 hours for visibility, 20 s for
/// waiting; callers keep within those).
fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_of_both_sqs_protocols_sort_the_same() {
        let url = || "https://sqs.example/1/q".to_owned();
        for code in [
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
        ] {
            let e = sort("sqs:ReceiveMessage", url(), code, String::new());
            assert!(matches!(e, QueueError::NotFound { .. }), "{code}: {e}");
            assert!(e.to_string().contains("https://sqs.example/1/q"));
            assert!(e.to_string().contains("sqs:ChangeMessageVisibility"));
        }
        let e = sort("sqs:DeleteMessage", url(), "AccessDenied", "no".into());
        assert!(matches!(e, QueueError::AccessDenied { .. }));
        assert!(sort("sqs:ReceiveMessage", url(), "RequestThrottled", "".into()).is_transient());
        assert!(
            !sort(
                "sqs:ReceiveMessage",
                url(),
                "InvalidParameterValue",
                "".into()
            )
            .is_transient()
        );
    }
}
