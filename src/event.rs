//! Event decoding: one SQS message body → the S3 objects it announces (new objects and tag
//! changes). Bodies arrive as an SNS envelope around an S3 event (the main path), an S3 event
//! sent straight to SQS, or an S3 event through SNS raw message delivery. Each body is decoded
//! on its own so that one bad message fails only itself.

use serde::Deserialize;
use serde_json::Value;

use crate::object::{KeyError, ObjectRef, decode_key, pinned_version};

mod encode;
pub use encode::notification;

/// An object named by an `ObjectCreated:*` or `ObjectTagging:*` record.
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
    /// S3's ordering key for events of one key: a later upload has a greater sequencer. Real
    /// S3 always sends it; emulators may not.
    pub sequencer: Option<String>,
    /// `userIdentity.principalId`: who caused the event (for an assumed role,
    /// `AWS:<role id>:<session>`). Real S3 always sends it; emulators may not.
    pub principal: Option<String>,
    /// `s3.bucket.ownerIdentity.principalId`: the bucket's owner, which names the account when
    /// the bucket is in another one. Real S3 always sends it; emulators may not.
    pub owner: Option<String>,
}

impl ObjectEvent {
    /// An event the scanner makes itself (a backlog's listing, a Batch Operations task): the
    /// creation of `object`, named `event_name`, with nothing else known but maybe its size.
    pub fn announced(object: ObjectRef, size: Option<u64>, event_name: &str) -> ObjectEvent {
        ObjectEvent {
            object,
            size,
            etag: None,
            region: None,
            event_name: event_name.into(),
            sequencer: None,
            principal: None,
            owner: None,
        }
    }

    /// The same event for whatever the key holds now, whatever its ETag and size: for a key
    /// replaced while it was judged.
    pub fn newest(&self) -> ObjectEvent {
        ObjectEvent {
            etag: None,
            size: None,
            ..self.clone()
        }
    }

    /// What happened to the object.
    pub fn kind(&self) -> EventKind {
        if self.event_name.starts_with(TAGGING_PREFIX) {
            EventKind::TagsChanged
        } else {
            EventKind::Created
        }
    }
}

/// What an object event announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// New bytes (`ObjectCreated:*`): scan them.
    Created,
    /// The tag set changed (`ObjectTagging:Put` or `:Delete`): check that the verdict tags are
    /// still the scanner's own.
    TagsChanged,
}

const CREATED_PREFIX: &str = "ObjectCreated:";
const TAGGING_PREFIX: &str = "ObjectTagging:";

/// A record the function acknowledges without scanning anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// `s3:TestEvent`, or the S3 event name (for example `ObjectRemoved:Delete`), escaped and cut
    /// as [`quote`] does: it is only logged, and a forged name must not forge log lines.
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
///
/// The text of every error is one line of bounded length: text quoted from the body is
/// escaped (control characters, NUL, line separators) and cut to [`MAX_QUOTED`] characters.
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

/// The longest piece of a body (a key, a value serde quotes) that an error message repeats.
pub const MAX_QUOTED: usize = 200;

/// Decodes one SQS message body. JSON nested deeper than serde_json's recursion limit (128) is
/// rejected as not JSON, so no body can exhaust the stack.
pub fn decode_body(body: &str) -> Result<Decoded, EventError> {
    let value: Value =
        serde_json::from_str(body).map_err(|e| EventError::BodyNotJson(quote(&e.to_string())))?;
    let s3_event = match sns_message(&value) {
        Some(Ok(message)) => serde_json::from_str(message)
            .map_err(|e| EventError::SnsMessageNotJson(quote(&e.to_string())))?,
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
    #[serde(default)]
    user_identity: Option<UserIdentity>,
    s3: S3Entity,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    #[serde(default)]
    principal_id: Option<String>,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct S3Bucket {
    name: String,
    #[serde(default)]
    owner_identity: Option<UserIdentity>,
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
    #[serde(default)]
    sequencer: Option<String>,
}

fn decode_s3_event(value: Value) -> Result<Decoded, EventError> {
    if value.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        let bucket = value.get("Bucket").and_then(Value::as_str);
        return Ok(Decoded {
            objects: Vec::new(),
            ignored: vec![Ignored {
                event_name: "s3:TestEvent".into(),
                bucket: bucket.map(String::from),
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
            path: quote(&e.path().to_string()),
            reason: quote(&e.inner().to_string()),
        })?;
    let mut decoded = Decoded::default();
    for (i, record) in notification.records.into_iter().enumerate() {
        if [CREATED_PREFIX, TAGGING_PREFIX]
            .iter()
            .any(|p| record.event_name.starts_with(p))
        {
            decoded.objects.push(object_event(i, record)?);
        } else {
            decoded.ignored.push(Ignored {
                event_name: quote(&record.event_name),
                bucket: Some(record.s3.bucket.name),
            });
        }
    }
    Ok(decoded)
}

/// The object record `i` names, its bucket, key and version id checked.
fn object_event(i: usize, record: S3Record) -> Result<ObjectEvent, EventError> {
    let bad = |name: &str, reason: String| EventError::BadField {
        path: format!("Records[{i}].s3.{name}"),
        reason,
    };
    let bucket = record.s3.bucket.name;
    check_bucket(&bucket).map_err(|reason| bad("bucket.name", reason))?;
    let raw_key = &record.s3.object.key;
    let key = decode_key(raw_key).map_err(|e| match e {
        KeyError::Empty => bad("object.key", e.to_string()),
        e => bad("object.key", format!("key `{}` {e}", quote(raw_key))),
    })?;
    // Values that end up in log lines: one with a line break could forge a line.
    let one_line = |name: &str, value: Option<String>| match value {
        Some(v) if v.chars().any(unsafe_in_a_line) => Err(bad(
            name,
            format!("`{}` has control or line-breaking characters", quote(&v)),
        )),
        v => Ok(v),
    };
    let owner = one_line(
        "bucket.ownerIdentity.principalId",
        record.s3.bucket.owner_identity.and_then(|o| o.principal_id),
    )?;
    let raw_version = one_line("object.versionId", record.s3.object.version_id)?;
    Ok(ObjectEvent {
        object: ObjectRef {
            bucket,
            key,
            version_id: pinned_version(raw_version.as_deref()),
        },
        size: record.s3.object.size,
        etag: record.s3.object.e_tag,
        region: record.aws_region,
        event_name: record.event_name,
        sequencer: record.s3.object.sequencer,
        principal: record.user_identity.and_then(|u| u.principal_id),
        owner,
    })
}

/// Bucket names S3 can have: letters, digits, `.`, `-` and (in old us-east-1 buckets) `_`, at
/// most 255 of them. Anything else (a `/`, a space, a control character) is no S3 event.
fn check_bucket(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty bucket name".into());
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if name.len() > 255 || !name.chars().all(allowed) {
        return Err(format!("`{}` is not an S3 bucket name", quote(name)));
    }
    Ok(())
}

/// `text` made safe to put in one log line: control characters (NUL, newlines, escape…), line
/// and paragraph separators and bidirectional overrides are escaped as `\n` or `\u{..}`, and
/// text longer than [`MAX_QUOTED`] characters is cut, saying how long it was. Quotes and
/// backslashes are kept, so that text serde already quoted stays readable.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_QUOTED + 32));
    for (n, c) in text.chars().enumerate() {
        if n == MAX_QUOTED {
            out.push_str(&format!("… ({} bytes in all)", text.len()));
            break;
        }
        if unsafe_in_a_line(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that can break or disguise a log line.
pub fn unsafe_in_a_line(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}' | '\u{feff}'
        )
}

#[cfg(test)]
mod tests;
