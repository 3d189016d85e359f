//! SDK failures → [`StoreError`]: the one place that sorts what S3 (or KMS behind it) answered
//! by what the pipeline should do about it, and names the permission a denial calls for.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::object::ObjectRef;
use crate::store::{Op, StoreError};

/// Sorts an SDK failure. The SDK has already retried throttling and 5xx responses by the time
/// an error gets here.
pub(super) fn classify<E>(
    op: Op,
    object: &ObjectRef,
    err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let context = || aws_sdk_s3::error::DisplayErrorContext(&err).to_string();
    let service = match &err {
        SdkError::ServiceError(service) => service,
        SdkError::ConstructionFailure(_) => {
            return StoreError::Permanent {
                op,
                code: "InvalidRequest".into(),
                detail: context(),
            };
        }
        _ => {
            return StoreError::Transient {
                op,
                detail: context(),
            };
        }
    };
    let status = service.raw().status().as_u16();
    let code = service.err().code().unwrap_or_default().to_owned();
    let detail = service
        .err()
        .message()
        .map(String::from)
        .unwrap_or_else(|| format!("HTTP {status}"));
    sort(op, object, status, code, detail)
}

/// What an S3 answer with `status`, `code` and `detail` means for the pipeline.
fn sort(op: Op, object: &ObjectRef, status: u16, code: String, detail: String) -> StoreError {
    let busy = matches!(
        code.as_str(),
        "SlowDown"
            | "Throttling"
            | "ThrottlingException"
            | "RequestTimeout"
            | "InternalError"
            | "ServiceUnavailable"
    );
    let kms = code.starts_with("KMS.") || detail.to_ascii_lowercase().contains("kms:");
    let or_default = |code: String, default: &str| {
        if code.is_empty() {
            default.to_owned()
        } else {
            code
        }
    };
    match (status, code.as_str()) {
        // Busy or failing: retry, even when the message mentions KMS.
        _ if busy || (500..=599).contains(&status) => StoreError::Transient {
            op,
            detail: format!("{code}: {detail}"),
        },
        (412, _) | (_, "PreconditionFailed") => StoreError::Changed { op },
        _ if kms => StoreError::AccessDenied {
            op,
            permission: kms_permission(&detail),
            detail: format!("{code}: {detail}"),
        },
        (_, "NoSuchKey" | "NoSuchVersion" | "NoSuchBucket" | "NotFound") | (404, _) => {
            StoreError::NotFound {
                op,
                code: or_default(code, "NotFound"),
            }
        }
        // A bucket in another region: S3 notifications only reach same-region topics, so a
        // stack per region is the fix.
        (301, _) | (_, "PermanentRedirect" | "AuthorizationHeaderMalformed") => {
            StoreError::Permanent {
                op,
                code: or_default(code, "PermanentRedirect"),
                detail: format!(
                    "{detail} (bucket `{}` is in another region than the function; deploy one \
                     stack per region)",
                    object.bucket
                ),
            }
        }
        // Archived objects (403), delete markers (405): final, but no permission is missing.
        (_, "InvalidObjectState" | "MethodNotAllowed") => {
            StoreError::Permanent { op, code, detail }
        }
        (_, "AccessDenied" | "AllAccessDisabled") | (403, _) => StoreError::AccessDenied {
            op,
            permission: permission(op, object),
            detail,
        },
        (400..=499, _) => StoreError::Permanent { op, code, detail },
        _ => StoreError::Transient {
            op,
            detail: format!("HTTP {status} {code}: {detail}"),
        },
    }
}

fn kms_permission(detail: &str) -> String {
    let key = kms_key_in(detail).unwrap_or("the object's KMS key");
    format!("kms:Decrypt (and kms:GenerateDataKey for copies) on {key}")
}

/// The IAM permission a call on `object` needs.
pub(super) fn permission(op: Op, object: &ObjectRef) -> String {
    let bucket = &object.bucket;
    match op {
        Op::GetBucketVersioning | Op::ListObjectVersions | Op::ListObjects => {
            format!("{} on arn:aws:s3:::{bucket}", op.iam_actions().0)
        }
        Op::CopyObject | Op::CreateMultipartUpload | Op::UploadPartCopy => format!(
            "s3:PutObject and s3:PutObjectTagging on arn:aws:s3:::{bucket}/*, and \
             s3:GetObjectVersion (and kms:Decrypt for SSE-KMS) on the source"
        ),
        _ => {
            let (plain, versioned) = op.iam_actions();
            let action = if object.version_id.is_some() {
                versioned
            } else {
                plain
            };
            format!("{action} on arn:aws:s3:::{bucket}/*")
        }
    }
}

/// The KMS key ARN that an access-denied message names, if it names one.
fn kms_key_in(message: &str) -> Option<&str> {
    message.match_indices("arn:aws").find_map(|(start, _)| {
        let arn = message[start..]
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == ')')
            .next()?
            .trim_end_matches('.');
        arn.contains(":kms:").then_some(arn)
    })
}

/// A failure of the response body rather than of the call (short, long, dropped).
pub(super) fn transient(op: Op, detail: String) -> StoreError {
    StoreError::Transient { op, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str, version: Option<&str>) -> ObjectRef {
        ObjectRef {
            bucket: "b".into(),
            key: key.into(),
            version_id: version.map(String::from),
        }
    }

    /// A service error as the SDK hands it over, for codes the emulator cannot produce.
    fn service_error(
        status: u16,
        code: &str,
    ) -> SdkError<
        aws_sdk_s3::operation::get_object::GetObjectError,
        aws_sdk_s3::config::http::HttpResponse,
    > {
        let meta = aws_sdk_s3::error::ErrorMetadata::builder()
            .code(code)
            .message(format!("{code} message"))
            .build();
        let raw = aws_sdk_s3::config::http::HttpResponse::new(
            status.try_into().unwrap(),
            aws_sdk_s3::primitives::SdkBody::empty(),
        );
        SdkError::service_error(
            aws_sdk_s3::operation::get_object::GetObjectError::generic(meta),
            raw,
        )
    }

    #[test]
    fn sdk_errors_are_sorted_by_what_to_do() {
        let o = obj("k", Some("v1"));
        let sorted = |status, code| classify(Op::GetObject, &o, service_error(status, code));
        for (status, code) in [
            (404, "NoSuchKey"),
            (404, "NoSuchVersion"),
            (404, ""),
            (404, "NoSuchBucket"),
        ] {
            assert!(
                matches!(sorted(status, code), StoreError::NotFound { .. }),
                "{status} {code}"
            );
        }
        match sorted(403, "AccessDenied") {
            StoreError::AccessDenied { permission, .. } => {
                assert_eq!(permission, "s3:GetObjectVersion on arn:aws:s3:::b/*")
            }
            other => panic!("{other:?}"),
        }
        match sorted(400, "KMS.DisabledException") {
            StoreError::AccessDenied {
                permission, detail, ..
            } => {
                assert!(permission.starts_with("kms:Decrypt"), "{permission}");
                assert!(detail.contains("KMS.DisabledException"));
            }
            other => panic!("{other:?}"),
        }
        for (status, code) in [
            (503, "SlowDown"),
            (500, "InternalError"),
            (400, "RequestTimeout"),
            (502, ""),
        ] {
            let e = sorted(status, code);
            assert!(e.is_retryable(), "{status} {code}: {e:?}");
        }
        for (status, code) in [
            (403, "InvalidObjectState"),
            (405, "MethodNotAllowed"),
            (412, "PreconditionFailed"),
            (301, "PermanentRedirect"),
        ] {
            let e = sorted(status, code);
            assert!(!e.is_retryable(), "{status} {code}: {e:?}");
        }
        assert!(matches!(
            sorted(412, "PreconditionFailed"),
            StoreError::Changed { .. }
        ));
        assert!(
            sorted(301, "PermanentRedirect")
                .to_string()
                .contains("another region")
        );
        let denied = "User: arn:aws:sts::1:assumed-role/r/f is not authorized to perform: \
                      kms:Decrypt on resource: arn:aws:kms:us-east-1:1:key/k-1 because no \
                      identity-based policy allows the kms:Decrypt action";
        assert_eq!(
            kms_key_in(denied),
            Some("arn:aws:kms:us-east-1:1:key/k-1"),
            "the first ARN that is a KMS key"
        );
        assert_eq!(kms_key_in("kms:Decrypt denied"), None);
        // A throttled KMS call is retried, not reported as a missing permission.
        assert!(sorted(503, "KMS.ThrottlingException").is_retryable());
        let timeout: SdkError<aws_sdk_s3::operation::get_object::GetObjectError, _> =
            SdkError::timeout_error("slow");
        assert!(classify(Op::GetObject, &o, timeout).is_retryable());
    }

    #[test]
    fn permissions_name_the_versioned_action() {
        assert_eq!(
            permission(Op::GetObject, &obj("k", Some("v"))),
            "s3:GetObjectVersion on arn:aws:s3:::b/*"
        );
        assert_eq!(
            permission(Op::PutObjectTagging, &obj("k", None)),
            "s3:PutObjectTagging on arn:aws:s3:::b/*"
        );
        assert_eq!(
            permission(Op::ListObjectVersions, &obj("k", None)),
            "s3:ListBucketVersions on arn:aws:s3:::b"
        );
    }
}
