//! What the binary promises the deployments around it, printed by `s3-yara-scan contract
//! --json`: the settings (defaults, allowed values, who sets them), the tag keys, the verdicts,
//! the AWS calls it makes and the IAM permissions each part of its work needs (and those of
//! `release`, for operators). The template
//! and the docs are checked against this output, so that the code is the one source of truth.
//! The test tools look up the binary's own rules here too, a batch at a time (`lookups.rs`).

use serde_json::{Value, json};

use crate::config::settings::{self, Allowed, SetBy};
use crate::metrics;
use crate::store::Op;
use crate::verdict::TagKeys;

mod lookups;
mod onboard;
mod release;
mod vocabulary;

use vocabulary::{tag_schemas, types, verdicts};

pub use lookups::{Lookup, LookupError};
pub use onboard::ONBOARD_GRANTS;
pub use release::RELEASE_GRANTS;

/// Every permission the function's role may need: [`GRANTS`] and [`ONBOARD_GRANTS`].
pub fn function_grants() -> impl Iterator<Item = &'static Grant> {
    GRANTS.iter().chain(ONBOARD_GRANTS)
}

/// What a permission is granted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// The objects of the protected buckets.
    ProtectedObjects,
    /// The protected buckets themselves.
    ProtectedBuckets,
    /// The objects of the quarantine bucket.
    QuarantineObjects,
    /// The quarantine bucket itself.
    QuarantineBucket,
    /// The Secrets Manager secret holding the signing key.
    SigningSecret,
    /// The Secrets Manager secret holding the archive passwords.
    PasswordsSecret,
    /// The KMS keys of SSE-KMS objects (and of the secret).
    KmsKeys,
    /// The objects under the users' rules prefix.
    RulesObjects,
    /// The objects of the compiled cache, under the rules prefix's `.s3-yara-scan-cache/`.
    RulesCacheObjects,
    /// The feeds' objects, under the rules prefix's `feeds/`.
    FeedObjects,
    /// The bucket of the users' rules.
    RulesBucket,
    /// The objects under the allow lists' prefix (`ALLOW_HASHES`).
    AllowObjects,
    /// The bucket of the allow lists.
    AllowBucket,
    /// The EventBridge bus of result events.
    ResultBus,
    /// The SNS topic of result events.
    ResultTopic,
    /// The scan queue, where a result event or finding that could not be sent waits.
    ScanQueue,
    /// The account's default Security Hub product
    /// (`arn:PARTITION:securityhub:REGION:ACCOUNT:product/ACCOUNT/default`).
    SecurityHubProduct,
    /// The objects of the production buckets.
    ProductionObjects,
    /// The production buckets themselves.
    ProductionBuckets,
    /// The objects of buckets onboarded by tag: any bucket of the account.
    OnboardedObjects,
    /// Buckets onboarded by tag, and those that may be: any bucket of the account.
    OnboardedBuckets,
    /// The account's list of buckets (ListBuckets has no other resource).
    AllBuckets,
    /// The agent's queue, for objects over `LARGE_OBJECT_SIZE`.
    LargeObjectQueue,
}

/// When a permission is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter)]
pub enum When {
    /// Always.
    Always,
    /// When something is deleted from a protected bucket.
    RemovesObjects,
    /// When something is quarantined.
    Quarantines,
    /// When the signing key is read from Secrets Manager.
    SigningKeySecret,
    /// When the archive passwords are read from Secrets Manager.
    ArchivePasswordsSecret,
    /// When objects (or the secret) are encrypted with customer managed KMS keys.
    SseKms,
    /// When `RULES` names an S3 prefix.
    RulesInS3,
    /// When `FEEDS` lists feeds and `RULES` names an S3 prefix to write them to.
    Feeds,
    /// When `ALLOW_HASHES` names an S3 prefix.
    AllowHashesInS3,
    /// When result events are published (`RESULT_EVENT_BUS` or `RESULT_TOPIC_ARN`).
    ResultEvents,
    /// When threats become Security Hub findings (`SECURITY_HUB=on`).
    SecurityHub,
    /// When result events or findings are sent (either of the above).
    Announces,
    /// When clean objects are promoted to production buckets (`PROMOTE`).
    Promotes,
    /// When buckets are onboarded by tag (`ONBOARD_TAG`, the template's `OnboardByTag`).
    OnboardsByTag,
    /// When objects over `LARGE_OBJECT_SIZE` go to the agent (`LARGE_OBJECT_QUEUE_URL`).
    LargeObjects,
}

/// One permission the function's role needs.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    /// On what.
    pub resource: Resource,
    /// When.
    pub when: When,
    /// The IAM actions.
    pub actions: &'static [&'static str],
    /// Why.
    pub why: &'static str,
}

/// What a bucket that receives verified copies (quarantine, production) needs: write, check
/// and reuse copies; remove a second copy that concurrent deliveries made.
const COPY_TARGET: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObject",
    "s3:PutObjectTagging",
    "s3:AbortMultipartUpload",
    "s3:DeleteObjectVersion",
];

/// What the objects of a bucket the function judges need: read and tag each version.
const SCAN_OBJECTS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
];

/// What removing an object (quarantine, delete, promotion) needs where it was.
const REMOVE_OBJECTS: &[&str] = &["s3:DeleteObject", "s3:DeleteObjectVersion"];

/// Every permission the function's role needs, and nothing else, but for onboarding by tag's
/// ([`ONBOARD_GRANTS`]); [`function_grants`] gives both.
pub const GRANTS: &[Grant] = &[
    Grant {
        resource: Resource::ProtectedObjects,
        when: When::Always,
        actions: SCAN_OBJECTS,
        why: "read and tag each object version (an empty tag set is a DeleteObjectTagging); \
              read it as the source of its quarantine copy",
    },
    Grant {
        resource: Resource::ProtectedObjects,
        when: When::RemovesObjects,
        actions: REMOVE_OBJECTS,
        why: "delete a quarantined or infected version",
    },
    Grant {
        resource: Resource::ProtectedBuckets,
        when: When::Always,
        actions: &["s3:ListBucket"],
        why: "without it S3 answers 403 rather than 404 for an object already gone",
    },
    Grant {
        resource: Resource::QuarantineObjects,
        when: When::Quarantines,
        actions: COPY_TARGET,
        why: "write, check and reuse quarantine copies; remove a second copy that concurrent \
              deliveries made",
    },
    Grant {
        resource: Resource::QuarantineBucket,
        when: When::Quarantines,
        actions: &[
            "s3:ListBucket",
            "s3:ListBucketVersions",
            "s3:GetBucketVersioning",
        ],
        why: "list the copies of one key; check at start-up that versioning is on",
    },
    Grant {
        resource: Resource::SigningSecret,
        when: When::SigningKeySecret,
        actions: &["secretsmanager:GetSecretValue"],
        why: "read the signing key once, at start-up",
    },
    Grant {
        resource: Resource::PasswordsSecret,
        when: When::ArchivePasswordsSecret,
        actions: &["secretsmanager:GetSecretValue"],
        why: "read the archive passwords once, at start-up",
    },
    Grant {
        resource: Resource::KmsKeys,
        when: When::SseKms,
        actions: &["kms:Decrypt", "kms:GenerateDataKey"],
        why: "read SSE-KMS objects and write their copies (a production copy keeps its \
              source's key), through S3 or Secrets Manager only",
    },
    Grant {
        resource: Resource::RulesObjects,
        when: When::RulesInS3,
        actions: &["s3:GetObject"],
        why: "read rule files, hash lists and the compiled cache",
    },
    Grant {
        resource: Resource::RulesCacheObjects,
        when: When::RulesInS3,
        actions: &["s3:PutObject"],
        why: "write the compiled cache, and nothing else: the rule files stay out of the \
              function's reach",
    },
    Grant {
        resource: Resource::FeedObjects,
        when: When::Feeds,
        actions: &["s3:PutObject"],
        why: "write the validated feeds (the scheduled `feedsUpdate`), under feeds/ only",
    },
    Grant {
        resource: Resource::RulesBucket,
        when: When::RulesInS3,
        actions: &["s3:ListBucket"],
        why: "list the rule files, at start-up and every RULES_REFRESH_SECS",
    },
    Grant {
        resource: Resource::AllowObjects,
        when: When::AllowHashesInS3,
        actions: &["s3:GetObject"],
        why: "read the allow lists (SHA-256 of bytes never flagged)",
    },
    Grant {
        resource: Resource::AllowBucket,
        when: When::AllowHashesInS3,
        actions: &["s3:ListBucket"],
        why: "list the allow lists, at start-up and every RULES_REFRESH_SECS",
    },
    Grant {
        resource: Resource::ResultBus,
        when: When::ResultEvents,
        actions: &["events:PutEvents"],
        why: "publish each object's result event (RESULT_EVENT_BUS)",
    },
    Grant {
        resource: Resource::ResultTopic,
        when: When::ResultEvents,
        actions: &["sns:Publish"],
        why: "publish each object's result event (RESULT_TOPIC_ARN)",
    },
    Grant {
        resource: Resource::ScanQueue,
        when: When::Announces,
        actions: &["sqs:SendMessage"],
        why: "queue a result event or finding that could not be sent, to send it again later",
    },
    Grant {
        resource: Resource::SecurityHubProduct,
        when: When::SecurityHub,
        actions: &["securityhub:BatchImportFindings"],
        why: "file each Infected or Suspicious object as a finding, and resolve it (SECURITY_HUB)",
    },
    Grant {
        resource: Resource::ProtectedBuckets,
        when: When::Promotes,
        actions: &["s3:GetBucketVersioning"],
        why: "check at start-up that each staging bucket (PROMOTE) has versioning on: only a \
              version id pins the bytes scanned",
    },
    Grant {
        resource: Resource::ProductionObjects,
        when: When::Promotes,
        actions: COPY_TARGET,
        why: "write, check and reuse production copies; remove a second copy that concurrent \
              deliveries made",
    },
    Grant {
        resource: Resource::ProductionBuckets,
        when: When::Promotes,
        actions: &["s3:ListBucket", "s3:ListBucketVersions"],
        why: "list the copies of one key; without ListBucket a missing copy reads as 403",
    },
    Grant {
        resource: Resource::LargeObjectQueue,
        when: When::LargeObjects,
        actions: &[
            "sqs:SendMessage",
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
        ],
        why: "send an object over LARGE_OBJECT_SIZE to the agent's queue, unread; the agent \
              (`poll` on ECS, with the function's role) receives it, keeps it hidden while it \
              scans, and deletes it once settled",
    },
];

impl Resource {
    fn name(self) -> &'static str {
        match self {
            Resource::ProtectedObjects => "protected-objects",
            Resource::ProtectedBuckets => "protected-buckets",
            Resource::QuarantineObjects => "quarantine-objects",
            Resource::QuarantineBucket => "quarantine-bucket",
            Resource::SigningSecret => "signing-secret",
            Resource::PasswordsSecret => "archive-passwords-secret",
            Resource::KmsKeys => "kms-keys",
            Resource::RulesObjects => "rules-objects",
            Resource::RulesCacheObjects => "rules-cache-objects",
            Resource::FeedObjects => "feed-objects",
            Resource::RulesBucket => "rules-bucket",
            Resource::AllowObjects => "allow-objects",
            Resource::AllowBucket => "allow-bucket",
            Resource::ResultBus => "result-bus",
            Resource::ResultTopic => "result-topic",
            Resource::ScanQueue => "scan-queue",
            Resource::SecurityHubProduct => "securityhub-product",
            Resource::ProductionObjects => "production-objects",
            Resource::ProductionBuckets => "production-buckets",
            Resource::OnboardedObjects => "onboarded-objects",
            Resource::OnboardedBuckets => "onboarded-buckets",
            Resource::AllBuckets => "all-buckets",
            Resource::LargeObjectQueue => "large-object-queue",
        }
    }
}

impl When {
    fn name(self) -> &'static str {
        match self {
            When::Always => "always",
            When::RemovesObjects => "removes-objects",
            When::Quarantines => "quarantines",
            When::SigningKeySecret => "signing-key-secret",
            When::ArchivePasswordsSecret => "archive-passwords-secret",
            When::SseKms => "sse-kms",
            When::RulesInS3 => "rules-in-s3",
            When::Feeds => "feeds",
            When::AllowHashesInS3 => "allow-hashes-in-s3",
            When::ResultEvents => "result-events",
            When::SecurityHub => "security-hub",
            When::Announces => "announces",
            When::Promotes => "promotes",
            When::OnboardsByTag => "onboards-by-tag",
            When::LargeObjects => "large-objects",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            When::Always => "always",
            When::RemovesObjects => {
                "ACTION is quarantine or delete, UNSCANNABLE_ACTION or SUSPICIOUS_ACTION is \
                 quarantine, or PROMOTE is set"
            }
            When::Quarantines => "ACTION, UNSCANNABLE_ACTION or SUSPICIOUS_ACTION is quarantine",
            When::SigningKeySecret => "SIGNING_KEY_SECRET is set",
            When::ArchivePasswordsSecret => "ARCHIVE_PASSWORDS_SECRET_ARN is set",
            When::SseKms => "objects or the secret are encrypted with customer managed KMS keys",
            When::RulesInS3 => "RULES names an s3:// location",
            When::Feeds => "FEEDS lists feeds and RULES names an s3:// location",
            When::AllowHashesInS3 => "ALLOW_HASHES names an s3:// location",
            When::ResultEvents => "RESULT_EVENT_BUS or RESULT_TOPIC_ARN is set",
            When::SecurityHub => "SECURITY_HUB is on",
            When::Announces => "RESULT_EVENT_BUS or RESULT_TOPIC_ARN is set, or SECURITY_HUB is on",
            When::Promotes => "PROMOTE is set",
            When::OnboardsByTag => {
                "ONBOARD_TAG is not off and NOTIFICATION_TOPIC_ARN is set (the template's \
                 OnboardByTag)"
            }
            When::LargeObjects => "LARGE_OBJECT_SIZE and LARGE_OBJECT_QUEUE_URL are set",
        }
    }
}

/// The contract as JSON.
pub fn to_json() -> Value {
    json!({
        "settings": settings::ALL.iter().map(setting).collect::<Vec<_>>(),
        "tag_keys": tag_keys(),
        "verdicts": verdicts(),
        "types": types(),
        "tag_schemas": tag_schemas(),
        "rules_cache_folder": crate::rules::CACHE_FOLDER,
        "onboard": json!({
            "calls": crate::onboard::event::Call::ALL.map(|c| c.name()),
            "config_id": crate::onboard::merge::CONFIG_ID,
            "event": crate::onboard::merge::EVENT,
        }),
        "metrics": json!({
            "namespace": metrics::NAMESPACE,
            "totals": metrics::TOTALS.iter().map(|(name, unit)| json!({"name": name, "unit": unit}))
                .collect::<Vec<_>>(),
            "per_verdict": "Objects",
            "per_error_kind": "Errors",
            "error_kinds": metrics::ERROR_KINDS,
        }),
        "grants": grants(function_grants()),
        "release_grants": grants(RELEASE_GRANTS),
        "when": <When as strum::IntoEnumIterator>::iter().map(|w| (w.name().to_owned(), json!(w.describe())))
            .collect::<serde_json::Map<_, _>>(),
        "operations": Op::all().map(|op| {
            let (plain, versioned) = op.iam_actions();
            let mut actions = vec![plain];
            if versioned != plain {
                actions.push(versioned);
            }
            json!({"op": op.to_string(), "actions": actions})
        }).collect::<Vec<_>>(),
    })
}

fn grants<'a>(grants: impl IntoIterator<Item = &'a Grant>) -> Vec<Value> {
    grants
        .into_iter()
        .map(|g| {
            json!({
                "resource": g.resource.name(),
                "when": g.when.name(),
                "actions": g.actions,
                "why": g.why,
            })
        })
        .collect()
}

fn setting(s: &settings::Setting) -> Value {
    let allowed = match s.allowed {
        Allowed::OneOf(words) => json!({ "one_of": words }),
        Allowed::Range(low, high) => json!({ "range": [low, high] }),
        Allowed::Text(text) => json!({ "text": text }),
    };
    let set_by = match s.set_by {
        SetBy::Parameter(p) => json!({ "parameter": p }),
        SetBy::Template => json!("template"),
        SetBy::Lambda => json!("lambda"),
        SetBy::Local => json!("local"),
    };
    json!({
        "name": s.name,
        "default": (!s.default.is_empty()).then_some(s.default),
        "allowed": allowed,
        "set_by": set_by,
        "about": s.about,
    })
}

fn tag_keys() -> Value {
    let mut keys = TagKeys::default();
    Value::Object(
        keys.by_variable()
            .into_iter()
            .map(|(var, key)| (var.to_owned(), json!(key)))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_call_is_granted_and_nothing_more() {
        let granted: BTreeSet<&str> = function_grants()
            .flat_map(|g| g.actions.iter().copied())
            .collect();
        let mut called = BTreeSet::new();
        for op in Op::all() {
            let (plain, versioned) = op.iam_actions();
            called.extend([plain, versioned]);
        }
        assert!(
            called.is_subset(&granted),
            "{:?}",
            called.difference(&granted)
        );
        // Needed without a call of their own: see each grant's `why`.
        let implied = BTreeSet::from(["s3:ListBucket", "kms:Decrypt", "kms:GenerateDataKey"]);
        let extra: Vec<_> = granted
            .difference(&called)
            .filter(|a| !implied.contains(*a))
            .collect();
        assert!(extra.is_empty(), "{extra:?}");
    }

    #[test]
    fn the_json_names_every_setting_and_tag_key() {
        let json = to_json();
        assert_eq!(
            json["settings"].as_array().unwrap().len(),
            settings::ALL.len()
        );
        assert_eq!(json["tag_keys"]["TAG_KEY_RESULT"], "scan-result");
        assert_eq!(
            json["verdicts"],
            json!([
                "Clean",
                "Infected",
                "Suspicious",
                "Unscannable",
                "Error",
                "Skipped",
                "Released"
            ])
        );
        let action = &json["settings"][0];
        assert_eq!(action["name"], "ACTION");
        assert_eq!(action["default"], "quarantine");
        assert_eq!(action["set_by"]["parameter"], "Action");
    }
}
