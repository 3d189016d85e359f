//! Result events of a batch: each settled object's document published once its verdict is
//! recorded and acted on. A document that cannot be published is put back on the scan queue
//! as a message of its own (`{"s3YaraScanResult": …}`), which a later batch publishes without
//! touching the object again; only when that fails too is the object's message retried.

use serde_json::Value;
use tracing::{error, warn};

use crate::event::ObjectEvent;
use crate::pipeline::Pipeline;
use crate::publish::{PublishError, QUEUED_KEY};
use crate::report::{Disposition, Report, Retry};
use crate::store::ObjectStore;

/// The start of a queued document's body, as `requeue` writes it.
const QUEUED_PREFIX: &str = "{\"s3YaraScanResult\":";

/// The document a message body holds when it is a queued result event, not an S3 event.
pub(super) fn queued_document(body: &str) -> Option<Result<Value, String>> {
    if !body.starts_with(QUEUED_PREFIX) {
        return None;
    }
    Some(
        serde_json::from_str::<Value>(body)
            .map_err(|e| e.to_string())
            .and_then(|mut v| match v.get_mut(QUEUED_KEY).map(Value::take) {
                Some(document @ Value::Object(_)) => Ok(document),
                _ => Err(format!("`{QUEUED_KEY}` is not a JSON object")),
            }),
    )
}

impl<S: ObjectStore> Pipeline<S> {
    /// One object outside an SQS batch (`backlog`): settles it, logs its report, and publishes
    /// its result event, as a batch does for each of its objects.
    pub async fn settle_and_announce(&self, event: &ObjectEvent) -> Report {
        let report = self.settle(event).await;
        report.log(&[]);
        self.announce(report).await
    }

    /// Publishes the result event of `report` when it has one. A report whose message is
    /// retried has none yet: the delivery that settles the object publishes it.
    pub(super) async fn announce(&self, report: Report) -> Report {
        let Some(publisher) = &self.publisher else {
            return report;
        };
        if !report.is_settled() {
            return report;
        }
        let Some(document) = self.config.results.document(&report) else {
            return report;
        };
        let Err(e) = publisher.publish(&document).await else {
            return report;
        };
        warn!(object = %report.object, error = %e, "result event not published; queueing it to be published again");
        match publisher.requeue(&document).await {
            Ok(()) => report,
            Err(queued) => {
                // The document itself in the log: a redelivery of a quarantined or promoted
                // object finds it gone and has no verdict to publish again.
                error!(object = %report.object, error = %queued, document = %document, "result event not queued either; the message is retried");
                report.ending(Disposition::Retry(Retry::Publish(queued)))
            }
        }
    }

    /// Publishes a document an earlier batch queued; `Err` retries its message.
    pub(super) async fn publish_queued(&self, document: &Value) -> Result<(), PublishError> {
        match &self.publisher {
            Some(publisher) => publisher.publish(document).await,
            None => {
                warn!(
                    "a queued result event arrived, but result events are off (RESULT_EVENT_BUS, RESULT_TOPIC_ARN); dropped"
                );
                Ok(())
            }
        }
    }
}
