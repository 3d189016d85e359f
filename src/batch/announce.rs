//! Result events of a batch: each settled object's document published once its verdict is
//! recorded and acted on. A document that cannot be published is put back on the scan queue
//! as a message of its own, sealed with a MAC under a key derived from the signing key
//! (`{"s3YaraScanResult": "<document>", "mac": "…"}`), which a later batch publishes without
//! touching the object again; only when that fails too is the object's message retried.
//! Whoever else can send to the queue or invoke the function cannot have a document of theirs
//! published: one that does not verify is dropped, logged at error.

use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{error, warn};

use crate::event::ObjectEvent;
use crate::pipeline::Pipeline;
use crate::publish::{PublishError, QUEUED_KEY};
use crate::report::{Disposition, Report, Retry};
use crate::signature::{DerivedKey, Purpose};
use crate::store::ObjectStore;

/// The start of a queued document's body, as [`seal`] writes it.
const QUEUED_PREFIX: &str = "{\"s3YaraScanResult\":";

/// True when a message body is a queued result event, not an S3 event.
pub(super) fn is_queued(body: &str) -> bool {
    body.starts_with(QUEUED_PREFIX)
}

/// `document` as a queued message body: its text and the MAC over it.
fn seal(document: &Value, key: &DerivedKey) -> String {
    let text = document.to_string();
    let mac = key.mac(&[text.as_bytes()]);
    json!({ QUEUED_KEY: text, "mac": mac }).to_string()
}

/// A queued message body as [`seal`] wrote it.
#[derive(Deserialize)]
struct Sealed {
    #[serde(rename = "s3YaraScanResult")]
    document: String,
    mac: String,
}

/// Why a queued document is not published.
#[derive(Debug, thiserror::Error)]
pub(super) enum Unsealed {
    /// Not a sealed document at all.
    #[error("not a document this function queued ({0})")]
    Malformed(String),
    /// No signing key to check it with.
    #[error("no signing key (SIGNING_KEY_SECRET) to check it with")]
    NoKey,
    /// The MAC does not verify: someone else sent it, or the key changed since.
    #[error(
        "its MAC does not verify under this function's key: someone else put it on the queue (or the signing key changed since)"
    )]
    Forged,
}

/// The document a queued message body holds, once its MAC verifies under `key`.
pub(super) fn open(body: &str, key: Option<&DerivedKey>) -> Result<Value, Unsealed> {
    let sealed: Sealed =
        serde_json::from_str(body).map_err(|e| Unsealed::Malformed(e.to_string()))?;
    let key = key.ok_or(Unsealed::NoKey)?;
    if !key.verify(&[sealed.document.as_bytes()], &sealed.mac) {
        return Err(Unsealed::Forged);
    }
    match serde_json::from_str(&sealed.document) {
        Ok(document @ Value::Object(_)) => Ok(document),
        Ok(_) => Err(Unsealed::Malformed(
            "the document is not a JSON object".into(),
        )),
        Err(e) => Err(Unsealed::Malformed(e.to_string())),
    }
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
    pub(crate) async fn announce(&self, report: Report) -> Report {
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
        let queued = match self.queue_key() {
            Some(key) => publisher.requeue(&seal(&document, &key)).await,
            None => Err(PublishError {
                target: "the scan queue".into(),
                detail: "no signing key (SIGNING_KEY_SECRET) to seal the queued document with"
                    .into(),
            }),
        };
        match queued {
            Ok(()) => report,
            Err(queued) => {
                // The document itself in the log: a redelivery of a quarantined or promoted
                // object finds it gone and has no verdict to publish again.
                error!(object = %report.object, error = %queued, document = %document, "result event not queued either; the message is retried");
                report.ending(Disposition::Retry(Retry::Publish(queued)))
            }
        }
    }

    /// Publishes the document an earlier batch queued (`body`); `Err` retries its message. One
    /// that does not verify is dropped, logged at error: retrying cannot make it verify.
    pub(super) async fn publish_queued(
        &self,
        message_id: &str,
        body: &str,
    ) -> Result<(), PublishError> {
        let document = match open(body, self.queue_key().as_ref()) {
            Ok(document) => document,
            Err(e) => {
                let start: String = body.chars().take(1024).collect();
                error!(message_id = %message_id, error = %e, body = %start.escape_debug(), "queued result event dropped");
                return Ok(());
            }
        };
        match &self.publisher {
            Some(publisher) => publisher.publish(&document).await,
            None => {
                warn!(
                    "a queued result event arrived, but result events are off (RESULT_EVENT_BUS, RESULT_TOPIC_ARN); dropped"
                );
                Ok(())
            }
        }
    }

    /// The key queued documents are sealed with, when there is a signing key.
    fn queue_key(&self) -> Option<DerivedKey> {
        self.signing_key
            .as_ref()
            .map(|key| key.derive(Purpose::QueuedResult))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::SigningKey;

    fn key(byte: u8) -> DerivedKey {
        SigningKey::new(vec![byte; 32])
            .unwrap()
            .derive(Purpose::QueuedResult)
    }

    #[test]
    fn only_a_document_sealed_with_the_functions_key_opens() {
        let document = json!({"verdict": "Clean", "key": "a.txt"});
        let body = seal(&document, &key(1));
        assert!(is_queued(&body), "{body}");
        assert_eq!(open(&body, Some(&key(1))).unwrap(), document);
        assert!(matches!(open(&body, Some(&key(2))), Err(Unsealed::Forged)));
        assert!(matches!(open(&body, None), Err(Unsealed::NoKey)));
        let edited = body.replace("Clean", "Infected");
        assert!(matches!(
            open(&edited, Some(&key(1))),
            Err(Unsealed::Forged)
        ));
        // The format before documents were sealed, or anyone's: never published.
        let unsealed = json!({ QUEUED_KEY: document }).to_string();
        assert!(is_queued(&unsealed));
        assert!(matches!(
            open(&unsealed, Some(&key(1))),
            Err(Unsealed::Malformed(_))
        ));
    }
}
