//! The settings of onboarding by tag (`ONBOARD_TAG`, `NOTIFICATION_TOPIC_ARN`), kept with the
//! configuration so that it depends on no part of the onboarding it configures (`onboard`).

use crate::object::Tags;

/// The tag that onboards a bucket (`ONBOARD_TAG`, `KEY=VALUE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnboardTag {
    /// The tag key (case-sensitive, as S3's are).
    pub key: String,
    /// The value it must have.
    pub value: String,
}

impl OnboardTag {
    /// Whether `tags` hold this tag with this value.
    pub fn is_on(&self, tags: &Tags) -> bool {
        tags.iter().any(|(k, v)| *k == self.key && *v == self.value)
    }
}

impl std::fmt::Display for OnboardTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// The settings of onboarding by tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Onboarding {
    /// The tag, unless `ONBOARD_TAG=off`.
    pub tag: Option<OnboardTag>,
    /// The topic onboarded buckets notify (`NOTIFICATION_TOPIC_ARN`).
    pub topic_arn: Option<String>,
}

impl Onboarding {
    /// The tag, when buckets are onboarded by it: a tag, and a topic to wire them to (a
    /// deployment with OnboardByTag). Only then does a bucket's tag make it judged.
    pub fn active_tag(&self) -> Option<&OnboardTag> {
        self.tag.as_ref().filter(|_| self.topic_arn.is_some())
    }
}
