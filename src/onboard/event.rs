//! EventBridge's `AWS API Call via CloudTrail` events for S3 (`source` `aws.s3`): which bucket
//! changed and how. Only the bucket's name is taken from the event: what its tags are is read
//! from S3, since whoever can invoke the function could send any document.

use serde::Deserialize;
use serde_json::Value;

/// EventBridge's detail-type for API calls CloudTrail recorded.
pub const DETAIL_TYPE: &str = "AWS API Call via CloudTrail";
/// The source of S3's events.
pub const SOURCE: &str = "aws.s3";

/// The calls that can change whether a bucket is onboarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumCount)]
pub enum Call {
    /// A new bucket (created with tags, or tagged later).
    CreateBucket,
    /// Its tags replaced.
    PutBucketTagging,
    /// Its tags removed.
    DeleteBucketTagging,
}

impl Call {
    /// Every call the rule matches, by CloudTrail's `eventName`.
    /// As long as there are variants (strum's `EnumCount`), none twice (a unit test): every
    /// one, so a new format cannot be left out.
    pub const ALL: [Call; <Call as strum::EnumCount>::COUNT] = [
        Call::CreateBucket,
        Call::PutBucketTagging,
        Call::DeleteBucketTagging,
    ];

    /// CloudTrail's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Call::CreateBucket => "CreateBucket",
            Call::PutBucketTagging => "PutBucketTagging",
            Call::DeleteBucketTagging => "DeleteBucketTagging",
        }
    }
}

/// One bucket change, as the event tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketChange {
    /// The call.
    pub call: Call,
    /// The bucket it named.
    pub bucket: String,
    /// Its error code, when the call failed (nothing changed then).
    pub error_code: Option<String>,
}

/// An event that is not a bucket change this function can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// A field is missing or of the wrong type.
    #[error("not an `{DETAIL_TYPE}` event of {SOURCE}: {0}")]
    Malformed(String),
    /// Another call than those the rule names.
    #[error(
        "CloudTrail event `{0}` is not one that onboards a bucket (allowed: CreateBucket, \
         PutBucketTagging, DeleteBucketTagging); check the EventBridge rule's pattern"
    )]
    OtherCall(String),
}

/// Whether `event` is an EventBridge event of a CloudTrail-recorded S3 call.
pub fn is_cloudtrail(event: &Value) -> bool {
    event.get("detail-type").and_then(Value::as_str) == Some(DETAIL_TYPE)
        && event.get("source").and_then(Value::as_str) == Some(SOURCE)
}

#[derive(Deserialize)]
struct Envelope {
    detail: Detail,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    event_name: String,
    request_parameters: Option<Parameters>,
    error_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Parameters {
    bucket_name: Option<String>,
}

/// The bucket change `event` reports.
pub fn parse(event: Value) -> Result<BucketChange, EventError> {
    let envelope: Envelope = serde_path_to_error::deserialize(event)
        .map_err(|e| EventError::Malformed(format!("at `{}`: {}", e.path(), e.inner())))?;
    let detail = envelope.detail;
    let call = Call::ALL
        .into_iter()
        .find(|c| c.name() == detail.event_name)
        .ok_or_else(|| EventError::OtherCall(detail.event_name.clone()))?;
    let bucket = detail
        .request_parameters
        .and_then(|p| p.bucket_name)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| {
            EventError::Malformed("detail.requestParameters.bucketName is missing".into())
        })?;
    Ok(BucketChange {
        call,
        bucket,
        error_code: detail.error_code,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_call_is_listed_once() {
        let mut seen = Call::ALL.to_vec();
        seen.sort_by_key(|v| format!("{v:?}"));
        seen.dedup();
        assert_eq!(seen.len(), Call::ALL.len());
    }

    fn sample() -> Value {
        let text = std::fs::read_to_string("events/cloudtrail-put-bucket-tagging.json").unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn the_sample_is_a_tagging_of_its_bucket() {
        let event = sample();
        assert!(is_cloudtrail(&event));
        let change = parse(event).unwrap();
        assert_eq!(change.call, Call::PutBucketTagging);
        assert_eq!(change.bucket, "amzn-s3-demo-bucket");
        assert_eq!(change.error_code, None);
    }

    #[test]
    fn other_shapes_and_calls_are_refused_by_name() {
        assert!(!is_cloudtrail(&json!({"Records": []})));
        let mut other = sample();
        other["detail"]["eventName"] = json!("PutBucketPolicy");
        assert_eq!(
            parse(other),
            Err(EventError::OtherCall("PutBucketPolicy".into()))
        );
        let mut no_bucket = sample();
        no_bucket["detail"]["requestParameters"] = json!({});
        let err = parse(no_bucket).unwrap_err().to_string();
        assert!(err.contains("bucketName"), "{err}");
        let err = parse(json!({"detail": 3})).unwrap_err().to_string();
        assert!(err.contains("detail"), "{err}");
    }

    #[test]
    fn a_failed_call_says_so() {
        let mut failed = sample();
        failed["detail"]["errorCode"] = json!("AccessDenied");
        assert_eq!(
            parse(failed).unwrap().error_code.as_deref(),
            Some("AccessDenied")
        );
    }
}
