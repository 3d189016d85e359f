//! The targets of result events in AWS, the transport: EventBridge `PutEvents`, SNS `Publish`
//! (with the verdict and bucket as message attributes) and, for a document that could not be
//! published, SQS `SendMessage` to the scan queue; Security Hub `BatchImportFindings`
//! (aws/securityhub.rs) with the same timeouts. What is sent (the documents) and the
//! [`Publish`] seam this implements are `crate::publish`'s. The SDK retries each call
//! (standard mode); what still fails is a [`PublishError`] naming the target and, when it is
//! one, the permission to grant.

use std::sync::Arc;

use serde_json::Value;

use super::securityhub::SecurityHubTarget;
use super::{Aws, IdentityError};
use crate::config::Config;
use crate::findings::{Finding, Product, SecurityHub};
use crate::publish::{Publish, PublishError, Publishing, SOURCE};
use crate::store::requests;

/// Publishes to the targets `RESULT_EVENT_BUS` and `RESULT_TOPIC_ARN` name, and imports
/// findings into Security Hub (`SECURITY_HUB`).
#[derive(Debug)]
pub struct AwsPublisher {
    events: Option<(aws_sdk_eventbridge::Client, String)>,
    detail_type: &'static str,
    sns: Option<(aws_sdk_sns::Client, String)>,
    sqs: Option<(aws_sdk_sqs::Client, String)>,
    securityhub: Option<SecurityHubTarget>,
    /// The timeouts of the re-queue, whose client is shared with the queues' calls.
    bounded: aws_config::timeout::TimeoutConfig,
}

impl Aws {
    /// The publisher the settings ask for, or `None` when result events and findings are off;
    /// an error when findings are on but the account to file them in cannot be told.
    pub async fn publisher(
        &self,
        config: &Config,
    ) -> Result<Option<Arc<dyn Publish>>, IdentityError> {
        let results = &config.results;
        let findings = match config.security_hub {
            SecurityHub::On => true,
            SecurityHub::Off => false,
        };
        if !results.is_on() && !findings {
            return Ok(None);
        }
        let securityhub = match findings {
            true => Some(SecurityHubTarget::connect(self).await?),
            false => None,
        };
        Ok(Some(Arc::new(AwsPublisher {
            events: (results.bus.clone()).map(|bus| (self.events.clone(), bus)),
            detail_type: results.schema.detail_type(),
            sns: (results.topic.clone()).map(|topic| (self.sns.clone(), topic)),
            sqs: (results.queue_url.clone()).map(|url| (self.sqs.clone(), url)),
            securityhub,
            bounded: self.bounded.clone(),
        })))
    }
}

impl Publish for AwsPublisher {
    fn publish<'a>(&'a self, document: &'a Value) -> Publishing<'a> {
        Box::pin(async move {
            if let Some((client, bus)) = &self.events {
                put_event(client, bus, self.detail_type, document).await?;
            }
            if let Some((client, topic)) = &self.sns {
                publish_sns(client, topic, document).await?;
            }
            Ok(())
        })
    }

    fn product(&self) -> Option<&Product> {
        self.securityhub.as_ref().map(SecurityHubTarget::product)
    }

    fn import<'a>(&'a self, finding: &'a Finding) -> Publishing<'a> {
        Box::pin(async move {
            match &self.securityhub {
                Some(target) => target.import(finding).await,
                None => Err(PublishError {
                    target: "Security Hub".into(),
                    detail: "SECURITY_HUB is off".into(),
                }),
            }
        })
    }

    fn requeue<'a>(&'a self, body: &'a str) -> Publishing<'a> {
        Box::pin(async move {
            let Some((client, url)) = &self.sqs else {
                return Err(PublishError {
                    target: "the scan queue".into(),
                    detail: "QUEUE_URL is not set".into(),
                });
            };
            requests::count();
            let sent = client
                .send_message()
                .queue_url(url)
                .message_body(body)
                .customize()
                .config_override(
                    aws_sdk_sqs::config::Builder::default().timeout_config(self.bounded.clone()),
                )
                .send();
            sent.await
                .map(|_| ())
                .map_err(|e| failure(format!("queue {url}"), "sqs:SendMessage", e))
        })
    }
}

async fn put_event(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    detail_type: &str,
    document: &Value,
) -> Result<(), PublishError> {
    let target = || format!("EventBridge bus {bus}");
    // A bus ARN (another account's, a central security account) is taken as it is.
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(SOURCE)
        .detail_type(detail_type)
        .detail(document.to_string())
        .build();
    requests::count();
    let out = client
        .put_events()
        .entries(entry)
        .send()
        .await
        .map_err(|e| failure(target(), "events:PutEvents", e))?;
    // PutEvents answers 200 with the entries it refused.
    match out.entries().first() {
        Some(entry) if entry.error_code().is_some() => Err(PublishError {
            target: target(),
            detail: format!(
                "{}: {}",
                entry.error_code().unwrap_or_default(),
                entry.error_message().unwrap_or_default()
            ),
        }),
        _ => Ok(()),
    }
}

async fn publish_sns(
    client: &aws_sdk_sns::Client,
    topic: &str,
    document: &Value,
) -> Result<(), PublishError> {
    let (verdict, bucket) = crate::publish::attributes(document);
    let attribute = |value: &str| {
        aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
    };
    let target = || format!("SNS topic {topic}");
    let (verdict, bucket) = match (attribute(verdict), attribute(bucket)) {
        (Ok(v), Ok(b)) => (v, b),
        (Err(e), _) | (_, Err(e)) => {
            return Err(PublishError {
                target: target(),
                detail: e.to_string(),
            });
        }
    };
    requests::count();
    client
        .publish()
        .topic_arn(topic)
        .message(document.to_string())
        .message_attributes("verdict", verdict)
        .message_attributes("bucket", bucket)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failure(target(), "sns:Publish", e))
}

/// A failed call as a [`PublishError`]: the permission to grant when access was denied.
pub(super) fn failure<E, R>(
    target: String,
    permission: &str,
    e: aws_sdk_sqs::error::SdkError<E, R>,
) -> PublishError
where
    E: std::error::Error + aws_sdk_sqs::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sqs::error::ProvideErrorMetadata as _;
    let code = e.code().unwrap_or_default().to_owned();
    let detail = if code.contains("AccessDenied") || code.contains("AuthorizationError") {
        format!("access denied; the function's role needs {permission} on it ({code})")
    } else {
        aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()
    };
    PublishError { target, detail }
}
