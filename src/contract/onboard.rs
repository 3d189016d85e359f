//! What onboarding by tag needs (the template's `OnboardByTag`): its buckets are not known
//! when the stack is deployed, so each grant is on every bucket of the account (the template
//! limits them with `s3:ResourceAccount`); the bucket's tag, which only someone allowed
//! s3:PutBucketTagging sets, decides which of them the function touches.

use super::{Grant, REMOVE_OBJECTS, Resource, SCAN_OBJECTS, When};

/// Every permission onboarding by tag adds to the function's role, and nothing else.
pub const ONBOARD_GRANTS: &[Grant] = &[
    Grant {
        resource: Resource::OnboardedObjects,
        when: When::OnboardsByTag,
        actions: SCAN_OBJECTS,
        why: "read and tag each object version of a bucket carrying ONBOARD_TAG, as for a \
              protected bucket",
    },
    Grant {
        resource: Resource::OnboardedObjects,
        when: When::RemovesObjects,
        actions: REMOVE_OBJECTS,
        why: "delete a quarantined or infected version of an onboarded bucket",
    },
    Grant {
        resource: Resource::OnboardedBuckets,
        when: When::OnboardsByTag,
        actions: &[
            "s3:ListBucket",
            "s3:GetBucketTagging",
            "s3:GetBucketNotification",
            "s3:PutBucketNotification",
            "s3:GetBucketLocation",
        ],
        why: "read a bucket's tags (whether it is onboarded, and judged); merge the topic \
              configuration into its notifications and take it out again; its region for \
              `onboard`; ListBucket so that a deleted object reads as 404",
    },
    Grant {
        resource: Resource::AllBuckets,
        when: When::OnboardsByTag,
        actions: &["s3:ListAllMyBuckets"],
        why: "list the region's buckets for `s3-yara-scan onboard`",
    },
];
