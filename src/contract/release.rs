//! What `s3-yara-scan release` needs (the template's `ReleasePolicy`), beside the function's
//! own grants: an operator's permissions, not the scanner's.

use super::{Grant, Resource, When};

/// Every permission `s3-yara-scan release` needs (the template's `ReleasePolicy`, for
/// operators), and nothing else. STS GetCallerIdentity needs none.
pub const RELEASE_GRANTS: &[Grant] = &[
    Grant {
        resource: Resource::QuarantineObjects,
        when: When::Always,
        actions: &[
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:GetObjectTagging",
            "s3:GetObjectVersionTagging",
            "s3:DeleteObject",
            "s3:DeleteObjectVersion",
        ],
        why: "read the quarantine copy and its tags (its origin); delete it once its copy back \
              is verified",
    },
    Grant {
        resource: Resource::QuarantineBucket,
        when: When::Always,
        actions: &["s3:ListBucket"],
        why: "without ListBucket a copy already released reads as 403, not 404",
    },
    Grant {
        resource: Resource::ProtectedObjects,
        when: When::Always,
        actions: &[
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:GetObjectTagging",
            "s3:GetObjectVersionTagging",
            "s3:PutObject",
            "s3:PutObjectTagging",
            "s3:PutObjectVersionTagging",
            "s3:AbortMultipartUpload",
            "s3:DeleteObjectVersion",
        ],
        why: "check the original key; copy back with the tags, check and reuse the copy, sign \
              it again when its ETag changed; remove a second copy concurrent releases made",
    },
    Grant {
        resource: Resource::ProtectedBuckets,
        when: When::Always,
        actions: &["s3:ListBucket", "s3:ListBucketVersions"],
        why: "list the copies of one key; without ListBucket a free key reads as 403",
    },
    Grant {
        resource: Resource::SigningSecret,
        when: When::SigningKeySecret,
        actions: &["secretsmanager:GetSecretValue"],
        why: "sign the Released verdict with the scanner's key",
    },
    Grant {
        resource: Resource::KmsKeys,
        when: When::SseKms,
        actions: &["kms:Decrypt", "kms:GenerateDataKey"],
        why: "copy SSE-KMS objects; read a secret encrypted with such a key",
    },
    Grant {
        resource: Resource::ResultBus,
        when: When::ResultEvents,
        actions: &["events:PutEvents"],
        why: "publish the Released result event",
    },
    Grant {
        resource: Resource::ResultTopic,
        when: When::ResultEvents,
        actions: &["sns:Publish"],
        why: "publish the Released result event",
    },
    Grant {
        resource: Resource::SecurityHubProduct,
        when: When::SecurityHub,
        actions: &["securityhub:BatchImportFindings"],
        why: "resolve the released object's Security Hub finding",
    },
];
