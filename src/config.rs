//! Configuration: every setting comes from an environment variable ([`settings`] lists them),
//! parsed once at start-up into types that cannot hold an invalid state, so that a bad value
//! stops the function before it touches any object.

use std::path::PathBuf;
use std::time::Duration;
use strum::{IntoStaticStr, VariantArray, VariantNames};

pub use crate::filter::{Filters, SkippedAction};
use crate::forward::LargeObjects;
use crate::object::ObjectRef;
use crate::policy::Policy;
use crate::signature::SigningKey;
use crate::verdict::{TagKeys, Verdict};

pub use self::feeds::{FEEDS_FOLDER, Feed, FeedKind, Feeds, is_loopback};
pub use self::onboarding::{OnboardTag, Onboarding};
pub use self::passwords::{MAX_PASSWORDS, Password, Passwords};
pub use self::results::{
    DETAIL_TYPE, GUARDDUTY_DETAIL_TYPE, ResultEvents, ResultSchema, SecurityHub,
};

mod feeds;
mod onboarding;
#[cfg(test)]
mod ops_tests;
mod parse;
mod passwords;
mod results;
pub mod settings;
#[cfg(test)]
mod tests;

/// What to do with an object whose verdict is `Infected`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Copy it to the quarantine bucket, verify the copy, then delete the scanned version.
    Quarantine {
        /// The quarantine bucket (`QUARANTINE_BUCKET`).
        bucket: String,
    },
    /// Delete the scanned version.
    Delete,
    /// Only tag it.
    Tag,
}

/// The words of `ACTION`, one per kind of [`Action`] (the bucket comes from
/// `QUARANTINE_BUCKET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, VariantArray, IntoStaticStr, VariantNames)]
#[strum(serialize_all = "kebab-case")]
#[allow(missing_docs)] // each is the `Action` of the same name
pub enum ActionName {
    Quarantine,
    Delete,
    Tag,
}

/// What to do with an object that is neither clean nor infected: `Unscannable`
/// (`UNSCANNABLE_ACTION`) or `Suspicious` (`SUSPICIOUS_ACTION`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagOrQuarantine {
    /// Tag it where it is.
    Tag,
    /// Quarantine it, like an infected object.
    Quarantine {
        /// The quarantine bucket (`QUARANTINE_BUCKET`).
        bucket: String,
    },
}

/// The words of `UNSCANNABLE_ACTION` and `SUSPICIOUS_ACTION`, one per kind of
/// [`TagOrQuarantine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, VariantArray, IntoStaticStr, VariantNames)]
#[strum(serialize_all = "kebab-case")]
#[allow(missing_docs)] // each is the `TagOrQuarantine` of the same name
pub enum TagOrQuarantineName {
    Tag,
    Quarantine,
}

/// When an object that already carries a validly signed verdict is skipped rather than scanned
/// again (`SKIP_SIGNED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, VariantArray, IntoStaticStr, VariantNames)]
#[strum(serialize_all = "kebab-case")]
pub enum SkipSigned {
    /// Skip when the signature is valid and was made with the rules in use now; rescan after a
    /// rules update.
    CurrentRules,
    /// Skip whenever the signature is valid, whatever rules made it.
    AnyRules,
    /// Always scan.
    Never,
}

/// Where the key that signs verdicts comes from. The key read from a secret is not kept here:
/// it belongs to the running pipeline, which reads it at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKeySource {
    /// No signatures: nothing is written, nothing is skipped.
    Off,
    /// The key itself (`SIGNING_KEY`, local runs).
    Inline(SigningKey),
    /// A Secrets Manager secret, by name or ARN (`SIGNING_KEY_SECRET`).
    Secret(String),
}

/// Where objects too large for memory are scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spool {
    /// Not at all: they get `Unscannable` (`SPOOL_DIR=off`).
    Off,
    /// In unlinked files in `dir`, scanned through a memory map.
    Dir {
        /// The directory (`SPOOL_DIR`).
        dir: PathBuf,
        /// The largest object spooled, and the room all spooled objects share
        /// (`MAX_SPOOL_SIZE`); `None` means the free space in `dir` at start-up.
        max: Option<u64>,
    },
}

/// What to make of an encrypted member, whose bytes cannot be read (`ARCHIVE_ENCRYPTED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, VariantArray, IntoStaticStr, VariantNames)]
#[strum(serialize_all = "kebab-case")]
pub enum Encrypted {
    /// Not scanned in full: `Unscannable`.
    Unscannable,
    /// Treated as a detection: `Infected`, with the pseudo-rule `Encrypted_Archive_Member`.
    Infected,
}

/// How far an inspection may go (each an `ARCHIVE_*` setting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Containers inside containers, the object itself being level 0 (`ARCHIVE_MAX_DEPTH`).
    pub max_depth: usize,
    /// Members in all (`ARCHIVE_MAX_MEMBERS`).
    pub max_members: u64,
    /// Bytes expanded in all (`ARCHIVE_MAX_EXPANDED`).
    pub max_expanded: u64,
    /// Bytes expanded per byte of the object, once over 1 MiB (`ARCHIVE_MAX_RATIO`).
    pub max_ratio: u64,
    /// Bytes of one member (`ARCHIVE_MAX_MEMBER_SIZE`).
    pub max_member_size: u64,
    /// Encrypted members (`ARCHIVE_ENCRYPTED`).
    pub encrypted: Encrypted,
    /// Tried on encrypted members, in order (`ARCHIVE_PASSWORDS`; with
    /// `ARCHIVE_PASSWORDS_SECRET_ARN`, empty until the secret is read at start-up).
    pub passwords: Passwords,
}

/// Where a user's rule set comes from (`RULES`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    /// A local file or folder (absolute path).
    Local(PathBuf),
    /// The objects under an S3 prefix.
    S3 {
        /// The bucket.
        bucket: String,
        /// The prefix (empty, or ending in `/`).
        prefix: String,
    },
}

impl std::fmt::Display for RuleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuleSource::Local(path) => write!(f, "{}", path.display()),
            RuleSource::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl std::str::FromStr for RuleSource {
    type Err = String;

    /// `s3://bucket/prefix/` or an absolute path, as in `RULES`.
    fn from_str(item: &str) -> Result<RuleSource, String> {
        parse::rule_source(item)
    }
}

/// Clean objects of a staging bucket (or prefix) move to a production bucket (and prefix)
/// that only the scanner writes (`PROMOTE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// The staging bucket.
    pub from_bucket: String,
    /// The staging prefix (empty: the whole bucket).
    pub from_prefix: String,
    /// The production bucket.
    pub to_bucket: String,
    /// Prepended to the key, once the staging prefix is taken off.
    pub to_prefix: String,
}

impl Promotion {
    /// Where `object` goes, when this mapping covers it.
    pub fn target(&self, object: &ObjectRef) -> Option<ObjectRef> {
        if object.bucket != self.from_bucket {
            return None;
        }
        let rest = object.key.strip_prefix(&self.from_prefix)?;
        let key = format!("{}{rest}", self.to_prefix);
        (!rest.is_empty() && key.len() <= crate::object::MAX_KEY_BYTES)
            .then(|| ObjectRef::new(&self.to_bucket, key))
    }
}

/// The settings of the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// What to do with infected objects (`ACTION`).
    pub action: Action,
    /// What to do with objects that could not be scanned in full (`UNSCANNABLE_ACTION`).
    pub unscannable: TagOrQuarantine,
    /// What to do with objects only suspicious rules matched (`SUSPICIOUS_ACTION`).
    pub suspicious: TagOrQuarantine,
    /// The protected buckets, when listed (`PROTECTED_BUCKETS`).
    pub protected_buckets: Vec<String>,
    /// Objects larger than this are not read into memory; also the memory shared by the
    /// objects scanned at the same time (`MAX_OBJECT_SIZE`).
    pub max_object_size: u64,
    /// Where larger objects go (`SPOOL_DIR`, `MAX_SPOOL_SIZE`).
    pub spool: Spool,
    /// Objects processed at the same time in one invocation (`MAX_CONCURRENCY`).
    pub concurrency: usize,
    /// A scan running longer (the object and what it contains) is abandoned: `Unscannable`
    /// (`SCAN_TIMEOUT_SECS`).
    pub scan_timeout: Duration,
    /// How far archives and compressed streams are looked into (`ARCHIVE_*`).
    pub archive: ArchiveLimits,
    /// Users' rule sets, scanned besides the embedded one (`RULES`).
    pub rules: Vec<RuleSource>,
    /// Rule packages and hash lists downloaded into the first S3 source of `rules`
    /// (`FEEDS`, `FEEDS_*`).
    pub feeds: Feeds,
    /// Lists of SHA-256 digests of bytes never flagged (`ALLOW_HASHES`).
    pub allow_hashes: Vec<RuleSource>,
    /// What a file may be and do (`ALLOWED_TYPES`, `TYPE_MISMATCH`, `ACTIVE_CONTENT`).
    pub policy: Policy,
    /// The SHA-256 of each `.yarc` file an S3 rule set may hold (`RULES_YARC_SHA256`).
    pub rules_yarc_sha256: Vec<[u8; 32]>,
    /// How often the rule sets are checked for changes; `None`: never (`RULES_REFRESH_SECS`).
    pub rules_refresh: Option<Duration>,
    /// Each S3 request attempt, and each wait for response bytes, gives up after this and is
    /// retried (`S3_TIMEOUT_SECS`).
    pub s3_timeout: Duration,
    /// The key that signs verdicts (`SIGNING_KEY`, `SIGNING_KEY_SECRET`).
    pub signing_key: SigningKeySource,
    /// The secret whose lines are the archive passwords, read at start-up into
    /// `archive.passwords` (`ARCHIVE_PASSWORDS_SECRET_ARN`).
    pub archive_passwords_secret: Option<String>,
    /// When signed verdicts let an object skip its scan (`SKIP_SIGNED`).
    pub skip_signed: SkipSigned,
    /// Tag keys written on scanned objects (`TAG_KEY_*`).
    pub tag_keys: TagKeys,
    /// The unique id of the scanner's IAM role (`SCANNER_ROLE_ID`): tag changes S3 reports as
    /// made by it are the scanner's own.
    pub scanner_role_id: Option<String>,
    /// Address buckets as `endpoint/bucket`, for local emulators (`S3_FORCE_PATH_STYLE`).
    pub force_path_style: bool,
    /// Whether batches write metric lines (`METRICS`), and as which function.
    pub metrics: Metrics,
    /// Objects not scanned (`SKIP_*`, `SKIPPED_ACTION`).
    pub filters: Filters,
    /// Where each object's result is published (`RESULT_*`, `QUEUE_URL`).
    pub results: ResultEvents,
    /// Where objects too large for the function go (`LARGE_OBJECT_SIZE`,
    /// `LARGE_OBJECT_QUEUE_URL`); `None`: every object is read here.
    pub large_objects: Option<LargeObjects>,
    /// Whether threats become Security Hub findings (`SECURITY_HUB`).
    pub security_hub: SecurityHub,
    /// Staging buckets whose clean objects are promoted (`PROMOTE`), longest prefix first.
    pub promote: Vec<Promotion>,
    /// Whether a released object (`s3-yara-scan release`) of a staging bucket is promoted on
    /// its signed `Released`; otherwise it is scanned again, and the scan decides
    /// (`PROMOTE_RELEASED`).
    pub promote_released: bool,
    /// Buckets onboarded by a tag, and the topic they notify (`ONBOARD_TAG`,
    /// `NOTIFICATION_TOPIC_ARN`).
    pub onboard: Onboarding,
}

impl Config {
    /// The defaults (what an empty environment gives outside Lambda), with `action` for
    /// infected objects.
    pub fn new(action: Action) -> Config {
        Config {
            action,
            ..parse::defaults()
        }
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which returns a variable's value if it is set.
    /// Empty values count as unset, as SAM templates often pass `""` for "use the default".
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        parse::config(&lookup)
    }

    /// The quarantine bucket, when anything is quarantined.
    pub fn quarantine_bucket(&self) -> Option<&str> {
        match (&self.action, &self.unscannable, &self.suspicious) {
            (Action::Quarantine { bucket }, _, _)
            | (_, TagOrQuarantine::Quarantine { bucket }, _)
            | (_, _, TagOrQuarantine::Quarantine { bucket }) => Some(bucket),
            (Action::Delete | Action::Tag, TagOrQuarantine::Tag, TagOrQuarantine::Tag) => None,
        }
    }

    /// Whether objects of `bucket` are this deployment's to judge: those of the protected
    /// buckets and of PROMOTE's staging buckets, so that whoever can invoke the function or send
    /// to its queue cannot make it read, tag or move objects of any other bucket its role can
    /// reach (the rules, production or Batch Operations buckets). When neither is set (a local
    /// `handle` or `backlog`) every bucket is, unless NOTIFICATION_TOPIC_ARN says this is a
    /// deployment onboarding buckets by tag (those are judged by their tag: see
    /// `Pipeline::judged`); the function and the agent refuse to start with no scope at all
    /// ([`Config::require_bucket_scope`]).
    pub fn judges(&self, bucket: &str) -> bool {
        let mut scope = self
            .protected_buckets
            .iter()
            .chain(self.promote.iter().map(|p| &p.from_bucket))
            .peekable();
        let local = self.onboard.topic_arn.is_none();
        (scope.peek().is_none() && local) || scope.any(|b| b == bucket)
    }

    /// For the function and the agent, which anyone allowed to invoke them or send to their
    /// queue can point at an object: the buckets they judge must be listed, or onboarded by
    /// their tag (ONBOARD_TAG with NOTIFICATION_TOPIC_ARN).
    pub fn require_bucket_scope(&self) -> Result<(), ConfigError> {
        let onboards = self.onboard.active_tag().is_some();
        if !self.protected_buckets.is_empty() || !self.promote.is_empty() || onboards {
            return Ok(());
        }
        Err(ConfigError::new(format!(
            "{} is empty (and {} too, and no {} with {}): the function would judge objects of \
             any bucket its role can read; list the protected buckets (the template sets it from \
             ProtectedBucketNames and the bucket it creates) or onboard them by tag",
            settings::PROTECTED_BUCKETS.name,
            settings::PROMOTE.name,
            settings::ONBOARD_TAG.name,
            settings::NOTIFICATION_TOPIC_ARN.name
        )))
    }

    /// Where a clean `object` is promoted to, when its bucket is a staging bucket.
    pub fn promotion(&self, object: &ObjectRef) -> Option<ObjectRef> {
        self.promote.iter().find_map(|p| p.target(object))
    }

    /// What happens to an object with `verdict`, besides its tags.
    pub fn disposal(&self, verdict: &Verdict) -> Disposal<'_> {
        let other = match verdict {
            Verdict::Infected(_) => {
                return match &self.action {
                    Action::Quarantine { bucket } => Disposal::Quarantine(bucket),
                    Action::Delete => Disposal::Delete,
                    Action::Tag => Disposal::Tag,
                };
            }
            Verdict::Unscannable(_) => &self.unscannable,
            Verdict::Suspicious(_) => &self.suspicious,
            Verdict::Clean | Verdict::Error(_) | Verdict::Skipped(_) | Verdict::Released { .. } => {
                return Disposal::Tag;
            }
        };
        match other {
            TagOrQuarantine::Quarantine { bucket } => Disposal::Quarantine(bucket),
            TagOrQuarantine::Tag => Disposal::Tag,
        }
    }
}

/// What happens to one object besides its tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposal<'a> {
    /// It stays, tagged.
    Tag,
    /// It is deleted.
    Delete,
    /// It is moved to this quarantine bucket.
    Quarantine(&'a str),
}

/// Whether (and as which function) batches report metrics; from `METRICS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metrics {
    /// No metric lines.
    Off,
    /// EMF lines on the log, with this `FunctionName` dimension.
    Emf {
        /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`; `local` outside Lambda).
        function: String,
        /// On stdout, where Lambda's log agent expects them; elsewhere on stderr, as stdout
        /// is the CLI's answer (`handle` prints the batch response there).
        stdout: bool,
    },
}

/// The words of `METRICS`, one per kind of [`Metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, VariantArray, IntoStaticStr, VariantNames)]
#[strum(serialize_all = "kebab-case")]
#[allow(missing_docs)] // each is the `Metrics` of the same name
pub enum MetricsName {
    Emf,
    Off,
}

/// One or more settings are invalid. The message lists every problem, each naming the
/// variable and the values it accepts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {}", .problems.join("; "))]
#[non_exhaustive]
pub struct ConfigError {
    /// One message per invalid variable.
    pub problems: Vec<String>,
}

impl ConfigError {
    /// A single problem.
    pub fn new(problem: impl Into<String>) -> ConfigError {
        ConfigError {
            problems: vec![problem.into()],
        }
    }
}
