//! Result events and Security Hub findings of a batch: each settled object's document
//! published (and its finding imported) once its verdict is recorded and acted on. A document that cannot be published is put back on the scan queue
//! as a message of its own, sealed with a MAC under a key derived from the signing key
//! (`{"s3YaraScanResult": "<document>", "mac": "…"}`), which a later batch publishes without
//! touching the object again; only when that fails too is the object's message retried.
//! Whoever else can send to the queue or invoke the function cannot have a document of theirs
//! published: one that does not verify is dropped, logged at error.

use serde::Deserialize;
use serde_json::{Value, json};
use tracing::{error, warn};

use crate::event::ObjectEvent;
use crate::findings::{self, Finding};
use crate::journey::settle;
use crate::pipeline::Pipeline;
use crate::publish::{Publish, PublishError, QUEUED_KEY};
use crate::report::{Report, Retry};
use crate::signature::{DerivedKey, Purpose};
use crate::store::ObjectStore;

/// The key of a queued document that is a Security Hub finding, not a result event.
const FINDING_KEY: &str = "securityHubFinding";

/// What an object's settling sends out besides its verdict.
enum Outgoing {
    /// A result event's document.
    Event(Value),
    /// A Security Hub finding.
    Finding(Box<Finding>),
}

impl Outgoing {
    async fn send(&self, publisher: &dyn Publish) -> Result<(), PublishError> {
        match self {
            Outgoing::Event(document) => publisher.publish(document).await,
            Outgoing::Finding(finding) => publisher.import(finding).await,
        }
    }

    /// What the scan queue holds of it: the document, or the finding under [`FINDING_KEY`]
    /// (no result event has that key).
    fn sealable(&self) -> Value {
        match self {
            Outgoing::Event(document) => document.clone(),
            Outgoing::Finding(finding) => json!({ FINDING_KEY: finding }),
        }
    }

    /// What a queued document holds.
    fn unsealed(mut document: Value) -> Result<Outgoing, serde_json::Error> {
        match document.get_mut(FINDING_KEY).map(Value::take) {
            Some(finding) => Ok(Outgoing::Finding(serde_json::from_value(finding)?)),
            None => Ok(Outgoing::Event(document)),
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Outgoing::Event(_) => "result event",
            Outgoing::Finding(_) => "Security Hub finding",
        }
    }
}

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

/// One object outside an SQS batch (`backlog`): settles it, logs its report, and publishes
/// its result event, as a batch does for each of its objects.
pub async fn settle_and_announce<S: ObjectStore>(p: &Pipeline<S>, event: &ObjectEvent) -> Report {
    let report = settle(p, event).await;
    report.log(&[]);
    announce(p, report).await
}

/// Publishes the result event of `report` and imports its Security Hub finding, when it
/// has them. A report whose message is retried has none yet: the delivery that settles
/// the object publishes them.
pub async fn announce<S: ObjectStore>(p: &Pipeline<S>, mut report: Report) -> Report {
    let Some(publisher) = &p.publisher else {
        return report;
    };
    if !report.is_settled() {
        return report;
    }
    let mut outgoing = Vec::new();
    if let Some(document) = crate::publish::published_document(&p.config.results, &report) {
        outgoing.push(Outgoing::Event(document));
    }
    if let Some(finding) = publisher
        .product()
        .and_then(|product| findings::finding(&report, product))
    {
        outgoing.push(Outgoing::Finding(Box::new(finding)));
    }
    for out in outgoing {
        if let Err(queued) = send_or_queue(p, &report, out).await {
            report = report.retried(Retry::Publish(queued));
        }
    }
    report
}

/// Sends `out`; when that fails, puts it on the scan queue, sealed, to be sent by a later
/// batch. `Err` when it could be neither sent nor queued: the object's message is retried.
async fn send_or_queue<S: ObjectStore>(
    p: &Pipeline<S>,
    report: &Report,
    out: Outgoing,
) -> Result<(), PublishError> {
    let Some(publisher) = &p.publisher else {
        return Ok(());
    };
    let Err(e) = out.send(publisher.as_ref()).await else {
        return Ok(());
    };
    let document = out.sealable();
    warn!(object = %report.object, error = %e, what = out.what(), "not sent; queueing it to be sent again");
    let queued = match queue_key(p) {
        Some(key) => publisher.requeue(&seal(&document, &key)).await,
        None => Err(PublishError {
            target: "the scan queue".into(),
            detail: "no signing key (SIGNING_KEY_SECRET) to seal the queued document with".into(),
        }),
    };
    queued.inspect_err(|queued| {
        // The document itself in the log: a redelivery of a quarantined or promoted
        // object finds it gone and has no verdict to send again.
        error!(object = %report.object, error = %queued, what = out.what(), document = %document, "not queued either; the message is retried");
    })
}

/// Sends what an earlier batch queued (`body`): a result event, or a finding; `Err`
/// retries its message. One that does not verify is dropped, logged at error: retrying
/// cannot make it verify.
pub(crate) async fn publish_queued<S: ObjectStore>(
    p: &Pipeline<S>,
    message_id: &str,
    body: &str,
) -> Result<(), PublishError> {
    let document = match open(body, queue_key(p).as_ref()) {
        Ok(document) => document,
        Err(e) => {
            let start: String = body.chars().take(1024).collect();
            error!(message_id = %message_id, error = %e, body = %start.escape_debug(), "queued result event dropped");
            return Ok(());
        }
    };
    let out = match Outgoing::unsealed(document) {
        Ok(out) => out,
        Err(e) => {
            error!(message_id = %message_id, error = %e, "queued finding dropped: not one this function writes");
            return Ok(());
        }
    };
    match &p.publisher {
        Some(publisher) => out.send(publisher.as_ref()).await,
        None => {
            warn!(
                what = out.what(),
                "a queued result event or finding arrived, but result events and findings are off (RESULT_EVENT_BUS, RESULT_TOPIC_ARN, SECURITY_HUB); dropped"
            );
            Ok(())
        }
    }
}

/// The key queued documents are sealed with, when there is a signing key.
fn queue_key<S: ObjectStore>(p: &Pipeline<S>) -> Option<DerivedKey> {
    p.signing_key
        .as_ref()
        .map(|key| key.derive(Purpose::QueuedResult))
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
