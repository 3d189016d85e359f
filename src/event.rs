//! Event decoding: one SQS message body → the S3 objects it announces. Bodies arrive as an SNS
//! envelope around an S3 event (the main path), an S3 event sent straight to SQS, or an S3 event
//! through SNS raw message delivery. Each body is decoded on its own so that one bad message
//! fails only itself.

use serde::Deserialize;
use serde_json::Value;

use crate::store::ObjectRef;

/// An object named by an `ObjectCreated:*` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// Bucket, decoded key and the version the event names, if any.
    pub object: ObjectRef,
    /// Size in bytes, as the event states it.
    pub size: Option<u64>,
    /// ETag, as the event states it.
    pub etag: Option<String>,
    /// Region of the bucket.
    pub region: Option<String>,
    /// For example `ObjectCreated:Put`.
    pub event_name: String,
}

/// A record the function acknowledges without scanning anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// `s3:TestEvent`, or the S3 event name (for example `ObjectRemoved:Delete`).
    pub event_name: String,
    /// Bucket the record is about, when it says.
    pub bucket: Option<String>,
}

/// What one SQS message body holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Objects to scan.
    pub objects: Vec<ObjectEvent>,
    /// Records to acknowledge without a scan.
    pub ignored: Vec<Ignored>,
}

/// Why a message body could not be decoded. Retrying does not change a body, so such a
/// message is reported as failed until the queue's redrive policy moves it to the DLQ.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventError {
    /// The SQS record has no body.
    #[error("the SQS record has no body")]
    MissingBody,
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    BodyNotJson(String),
    /// The SNS envelope's `Message` is not a JSON string.
    #[error("the SNS envelope's `Message` is not a JSON-encoded S3 event: {0}")]
    SnsMessageNotJson(String),
    /// The JSON is neither an S3 event nor an SNS envelope around one.
    #[error("not an S3 event notification: {0}")]
    NotS3Event(&'static str),
    /// A field is missing or has the wrong type; `path` locates it (`Records[0].s3.object.key`).
    #[error("field `{path}`: {reason}")]
    BadField {
        /// Where the field is, from the S3 event's root.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Decodes one SQS message body.
pub fn decode_body(body: &str) -> Result<Decoded, EventError> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| EventError::BodyNotJson(e.to_string()))?;
    let s3_event = match sns_message(&value) {
        Some(Ok(message)) => serde_json::from_str(message)
            .map_err(|e| EventError::SnsMessageNotJson(e.to_string()))?,
        Some(Err(e)) => return Err(e),
        None => value,
    };
    decode_s3_event(s3_event)
}

/// The `Message` of an SNS envelope, if `value` is one.
fn sns_message(value: &Value) -> Option<Result<&str, EventError>> {
    let obj = value.as_object()?;
    if obj.get("Type").and_then(Value::as_str) != Some("Notification") {
        return None;
    }
    Some(match obj.get("Message") {
        Some(Value::String(m)) => Ok(m),
        Some(_) => Err(EventError::SnsMessageNotJson(
            "`Message` is not a string".into(),
        )),
        None => Err(EventError::SnsMessageNotJson("`Message` is missing".into())),
    })
}

// Our own shapes rather than `aws_lambda_events::s3::S3Event`: that type requires
// `userIdentity` and `requestParameters`, which S3 always sends but emulators (moto) omit, and
// we need only these fields.
#[derive(Deserialize)]
struct S3Notification {
    #[serde(rename = "Records")]
    records: Vec<S3Record>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Record {
    event_name: String,
    #[serde(default)]
    aws_region: Option<String>,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Object {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    e_tag: Option<String>,
    #[serde(default)]
    version_id: Option<String>,
}

fn decode_s3_event(value: Value) -> Result<Decoded, EventError> {
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Ok(Decoded {
            objects: Vec::new(),
            ignored: vec![Ignored {
                event_name: "s3:TestEvent".into(),
                bucket: value
                    .get("Bucket")
                    .and_then(Value::as_str)
                    .map(String::from),
            }],
        });
    }
    if !value.is_object() {
        return Err(EventError::NotS3Event("the JSON is not an object"));
    }
    if value.get("Records").is_none() {
        return Err(EventError::NotS3Event(
            "no `Records` array and not an `s3:TestEvent`",
        ));
    }
    let notification: S3Notification =
        serde_path_to_error::deserialize(value).map_err(|e| EventError::BadField {
            path: e.path().to_string(),
            reason: e.inner().to_string(),
        })?;

    let mut decoded = Decoded::default();
    for (i, record) in notification.records.into_iter().enumerate() {
        if !record.event_name.starts_with("ObjectCreated:") {
            decoded.ignored.push(Ignored {
                event_name: record.event_name,
                bucket: Some(record.s3.bucket.name),
            });
            continue;
        }
        let field = |name: &str| format!("Records[{i}].s3.{name}");
        let bucket = record.s3.bucket.name;
        if bucket.is_empty() {
            return Err(EventError::BadField {
                path: field("bucket.name"),
                reason: "empty bucket name".into(),
            });
        }
        let key = decode_key(&record.s3.object.key).map_err(|reason| EventError::BadField {
            path: field("object.key"),
            reason,
        })?;
        decoded.objects.push(ObjectEvent {
            object: ObjectRef {
                bucket,
                key,
                version_id: record.s3.object.version_id.filter(|v| !v.is_empty()),
            },
            size: record.s3.object.size,
            etag: record.s3.object.e_tag,
            region: record.aws_region,
            event_name: record.event_name,
        });
    }
    Ok(decoded)
}

/// S3 event keys are form-encoded: `+` is a space and `%XX` an escaped byte (a literal `+`
/// arrives as `%2B`, so replacing `+` first is safe).
pub fn decode_key(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("empty object key".into());
    }
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|e| format!("key `{raw}` does not decode to UTF-8: {e}"))
}

#[cfg(test)]
mod tests;
