//! Every environment variable the function reads, with its default and allowed values: the
//! one table that the parser, the error messages, `s3-yara-scan contract` (and through it the
//! template and docs checks) all read.

/// What a setting accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// One of these words (case-insensitive).
    OneOf(&'static [&'static str]),
    /// A whole number in this range.
    Range(u64, u64),
    /// Anything described by this text.
    Text(&'static str),
}

impl Allowed {
    /// The text error messages quote after "allowed: ".
    pub fn describe(&self) -> String {
        match self {
            Allowed::OneOf(words) => words.join(", "),
            Allowed::Range(low, high) => format!("a whole number from {low} to {high}"),
            Allowed::Text(text) => (*text).to_owned(),
        }
    }
}

/// Who sets a variable in a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetBy {
    /// The template, from this parameter.
    Parameter(&'static str),
    /// The template, from a resource it creates (not a parameter of its own).
    Template,
    /// Lambda itself, or the SDK's environment.
    Lambda,
    /// Only local runs; never the template.
    Local,
}

/// One environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The variable's name.
    pub name: &'static str,
    /// The default as text; empty when the setting has none (or it is computed).
    pub default: &'static str,
    /// What it accepts.
    pub allowed: Allowed,
    /// Who sets it in a deployment.
    pub set_by: SetBy,
    /// What it does, in one line.
    pub about: &'static str,
}

macro_rules! settings {
    ($($id:ident = $name:literal, $default:literal, $allowed:expr, $set_by:expr, $about:literal;)*) => {
        $(
            #[doc = $about]
            pub const $id: Setting = Setting {
                name: $name,
                default: $default,
                allowed: $allowed,
                set_by: $set_by,
                about: $about,
            };
        )*
        /// Every setting, in the order the docs list them.
        pub const ALL: &[Setting] = &[$($id),*];
    };
}

use Allowed::{OneOf, Range, Text};
// The words of a setting that chooses a value of one of these enums are the enum's names.
use crate::config::{
    ActionName, Encrypted, MetricsName, ResultSchema, SecurityHub, SkipSigned, TagOrQuarantineName,
};
use crate::filter::SkippedAction;
use crate::policy::{ActiveContent, Mismatch};
use crate::verdict::TagSchema;
use SetBy::{Lambda, Local, Parameter, Template};
use strum::VariantNames;

settings! {
    ACTION = "ACTION", "quarantine", OneOf(ActionName::VARIANTS), Parameter("Action"),
        "What to do with Infected objects.";
    UNSCANNABLE_ACTION = "UNSCANNABLE_ACTION", "tag", OneOf(TagOrQuarantineName::VARIANTS),
        Parameter("UnscannableAction"),
        "What to do with Unscannable objects (too large, or too slow to scan).";
    SUSPICIOUS_ACTION = "SUSPICIOUS_ACTION", "tag", OneOf(TagOrQuarantineName::VARIANTS),
        Parameter("SuspiciousAction"),
        "What to do with Suspicious objects (only rules with meta verdict = \"suspicious\" matched).";
    QUARANTINE_BUCKET = "QUARANTINE_BUCKET", "", Text("a bucket name, versioned, not protected"),
        Parameter("QuarantineBucketName"),
        "Bucket that receives quarantined objects; required when anything is quarantined.";
    PROTECTED_BUCKETS = "PROTECTED_BUCKETS", "", Text("bucket names, comma-separated"),
        Parameter("ProtectedBucketNames"),
        "The protected buckets: only their objects (and those of PROMOTE's staging buckets) are \
        judged; required by the function and the agent. A QUARANTINE_BUCKET among them is \
        refused at start-up.";
    MAX_OBJECT_SIZE = "MAX_OBJECT_SIZE", "", Text("a size of at least 1024 bytes, such as \
        1048576, 512MiB or 2GB"), Parameter("MaxObjectSize"),
        "Largest object scanned in memory, and the memory all objects share (default: 3/4 of \
        the function's memory; 1 GiB outside Lambda).";
    SPOOL_DIR = "SPOOL_DIR", "/tmp", Text("an absolute directory path such as /tmp, or `off` \
        to never spool objects larger than MAX_OBJECT_SIZE"), Local,
        "Where objects over MAX_OBJECT_SIZE are written and scanned through a memory map.";
    MAX_SPOOL_SIZE = "MAX_SPOOL_SIZE", "", Text("a size such as 10GiB or 536870912; unset means \
        the free space in SPOOL_DIR at start-up"), Local,
        "Largest object spooled, and the room all spooled objects share.";
    MAX_CONCURRENCY = "MAX_CONCURRENCY", "64", Range(1, 256), Parameter("MaxConcurrency"),
        "Objects processed at the same time in one invocation.";
    SCAN_TIMEOUT_SECS = "SCAN_TIMEOUT_SECS", "30", Range(1, 86_400), Parameter("ScanTimeoutSecs"),
        "A scan running longer is abandoned and the object gets Unscannable (the function: \
        below its timeout; the large-object agent: its own, AgentScanTimeoutSecs).";
    ARCHIVE_MAX_DEPTH = "ARCHIVE_MAX_DEPTH", "10", Range(0, 64), Parameter("ArchiveMaxDepth"),
        "Containers inside containers looked into (0: only the object's own bytes).";
    ARCHIVE_MAX_MEMBERS = "ARCHIVE_MAX_MEMBERS", "10000", Range(1, 10_000_000),
        Parameter("ArchiveMaxMembers"), "Archive members scanned per object, in all.";
    ARCHIVE_MAX_EXPANDED = "ARCHIVE_MAX_EXPANDED", "2GiB", Text("a size such as 2GiB"),
        Parameter("ArchiveMaxExpanded"), "Bytes expanded from archives per object, in all.";
    ARCHIVE_MAX_RATIO = "ARCHIVE_MAX_RATIO", "100", Range(2, 1_000_000),
        Parameter("ArchiveMaxRatio"),
        "Bytes expanded per byte of the object, once over 1 MiB (zip and gzip bombs).";
    ARCHIVE_MAX_MEMBER_SIZE = "ARCHIVE_MAX_MEMBER_SIZE", "", Text("a size such as 256MiB; \
        default: half of MAX_OBJECT_SIZE"), Parameter("ArchiveMaxMemberSize"),
        "Largest archive member scanned; members are held in memory while scanned.";
    ARCHIVE_ENCRYPTED = "ARCHIVE_ENCRYPTED", "unscannable", OneOf(Encrypted::VARIANTS),
        Parameter("ArchiveEncrypted"),
        "What an encrypted archive member makes of its object: Unscannable, or Infected.";
    ARCHIVE_PASSWORDS = "ARCHIVE_PASSWORDS", "infected,malware,virus", Text("passwords, \
        comma-separated (at most 32, each at most 256 bytes), or `none` to try none"),
        Parameter("ArchivePasswords"),
        "Passwords tried, in order, on encrypted zip (ZipCrypto, AES) and 7z members: one that \
        opens a member has it scanned like any other; none fits: ARCHIVE_ENCRYPTED decides.";
    ARCHIVE_PASSWORDS_SECRET_ARN = "ARCHIVE_PASSWORDS_SECRET_ARN", "", Text("a Secrets Manager \
        secret name or ARN whose SecretString holds one password per line"),
        Parameter("ArchivePasswordsSecretArn"),
        "Secret holding the archive passwords instead of ARCHIVE_PASSWORDS, read at start-up.";
    ALLOWED_TYPES = "ALLOWED_TYPES", "", Text("PREFIX=TYPE,TYPE;… (longest key prefix wins, * for \
        every other key), each TYPE a group, a type name or any: see docs/policies.md or \
        `contract --json`"), Parameter("AllowedTypes"),
        "The types allowed under each key prefix; others are Suspicious. Unset: anything anywhere.";
    TYPE_MISMATCH = "TYPE_MISMATCH", "suspicious", OneOf(Mismatch::VARIANTS),
        Parameter("TypeMismatch"),
        "A file whose name or Content-Type says image, text, document or media but that runs code.";
    ACTIVE_CONTENT = "ACTIVE_CONTENT", "suspicious", OneOf(ActiveContent::VARIANTS),
        Parameter("ActiveContent"),
        "What macros, PDF JavaScript, DDE, embedded objects and scripts in archives make of an object.";
    ALLOW_HASHES = "ALLOW_HASHES", "", Text("SHA-256 lists, comma-separated: s3://bucket/prefix/ \
        or an absolute local path, each holding .sha256 or .hashes files"),
        Parameter("AllowHashesUri"),
        "Bytes never flagged (false positives), checked again with the RULES.";
    SKIP_KEY_PREFIXES = "SKIP_KEY_PREFIXES", "", Text("key prefixes, comma-separated, such as \
        logs/,tmp/ (case-sensitive)"), Parameter("SkipKeyPrefixes"),
        "Objects whose key starts with one of these are not scanned: verdict Skipped.";
    SKIP_KEY_SUFFIXES = "SKIP_KEY_SUFFIXES", "", Text("key endings, comma-separated, such as \
        .log,.parquet (any letter case)"), Parameter("SkipKeySuffixes"),
        "Objects whose key ends with one of these are not scanned: verdict Skipped. An uploader \
        chooses the name: skip only what an attacker cannot write.";
    SKIP_SIZE_BELOW = "SKIP_SIZE_BELOW", "", Text("a size such as 1 or 16KiB"),
        Parameter("SkipSizeBelow"), "Objects of fewer bytes are not scanned: verdict Skipped.";
    SKIP_SIZE_ABOVE = "SKIP_SIZE_ABOVE", "", Text("a size such as 5GiB"),
        Parameter("SkipSizeAbove"),
        "Objects of more bytes are not scanned: verdict Skipped (not Unscannable).";
    SKIPPED_ACTION = "SKIPPED_ACTION", "tag", OneOf(SkippedAction::VARIANTS),
        Parameter("SkippedAction"),
        "What a skipped object gets: the Skipped verdict tags, or none (verdict tags the scanner \
        did not sign are still taken off).";
    PROMOTE = "PROMOTE", "", Text("staging-bucket[/prefix]=production-bucket[/prefix], \
        comma-separated"), Parameter("PromoteTo"),
        "Clean objects of each staging bucket (or prefix) are moved to its production bucket \
        (and prefix): copied with their tags, verified, then deleted from staging.";
    PROMOTE_RELEASED = "PROMOTE_RELEASED", "false", OneOf(&["true", "false"]),
        Parameter("PromoteReleased"),
        "Whether an object released from quarantine (`s3-yara-scan release`) into a staging \
        bucket is promoted on its signed Released; false: it is scanned again, and the scan \
        decides.";
    ONBOARD_TAG = "ONBOARD_TAG", "s3-yara-scan=protect", Text("KEY=VALUE (a bucket tag; the key \
        case-sensitive), or `off`"), Parameter("OnboardTag"),
        "With NOTIFICATION_TOPIC_ARN, buckets carrying this tag are onboarded: wired to the topic \
        (CloudTrail events, `s3-yara-scan onboard`) and their objects judged; `off`: only the \
        listed buckets.";
    NOTIFICATION_TOPIC_ARN = "NOTIFICATION_TOPIC_ARN", "", Text("an SNS topic ARN"), Template,
        "The topic the scan queue is subscribed to, which onboarded buckets notify.";
    RESULT_EVENT_BUS = "RESULT_EVENT_BUS", "", Text("an EventBridge bus name or ARN; `default` \
        for the account's default bus"), Parameter("ResultEventBus"),
        "Each object's result is published to this bus (detail-type `S3 Object Scan Result v1`).";
    RESULT_TOPIC_ARN = "RESULT_TOPIC_ARN", "", Text("an SNS topic ARN"),
        Parameter("ResultTopicArn"),
        "Each object's result is published to this topic, with message attributes verdict and \
        bucket for subscription filters.";
    RESULT_VERDICTS = "RESULT_VERDICTS", "all", Text("all, or verdicts comma-separated: Clean, \
        Infected, Suspicious, Unscannable, Error, Skipped, Released"), Parameter("ResultVerdicts"),
        "Which verdicts are published as result events.";
    LARGE_OBJECT_SIZE = "LARGE_OBJECT_SIZE", "", Text("a size such as 2GiB or 536870912; \
        set with LARGE_OBJECT_QUEUE_URL"), Parameter("LargeObjectSize"),
        "Objects larger than this are not read: their message goes to LARGE_OBJECT_QUEUE_URL, \
        for the agent (`s3-yara-scan poll`), and is acknowledged.";
    LARGE_OBJECT_QUEUE_URL = "LARGE_OBJECT_QUEUE_URL", "", Text("an SQS queue URL; set with \
        LARGE_OBJECT_SIZE"), Template,
        "The queue the agent polls, where objects over LARGE_OBJECT_SIZE are sent.";
    RESULT_EVENT_SCHEMA = "RESULT_EVENT_SCHEMA", "scan", OneOf(ResultSchema::NAMES),
        Parameter("ResultEventSchema"),
        "Whose schema result events follow: this scanner's (detail-type `S3 Object Scan Result \
        v1`) or GuardDuty Malware Protection for S3's (detail-type `GuardDuty Malware Protection \
        Object Scan Result`, its detail fields, this scanner's own under `s3YaraScan`).";
    SECURITY_HUB = "SECURITY_HUB", "off", OneOf(SecurityHub::NAMES),
        Parameter("SecurityHub"),
        "Infected and Suspicious objects become AWS Security Hub findings (BatchImportFindings, \
        the account's default product), resolved by a later Clean or a release.";
    QUEUE_URL = "QUEUE_URL", "", Text("the scan queue's URL"), Template,
        "A result event whose publish failed goes back on this queue, to be published again \
        without a rescan; unset: its message is retried instead.";
    RULES = "RULES", "", Text("rule sets besides the embedded one, comma-separated: \
        s3://bucket/prefix/ or an absolute local path, each holding .yar, .yara or .yarc files"),
        Parameter("RulesUri"),
        "Users' own rule sets, loaded at start-up and checked again every RULES_REFRESH_SECS.";
    RULES_YARC_SHA256 = "RULES_YARC_SHA256", "", Text("SHA-256 digests in hex (64 digits), \
        comma-separated"), Parameter("RulesYarcSha256"),
        "The .yarc files RULES may load from S3, by the SHA-256 of their bytes: a .yarc is native \
        code the function runs, so any other found under an S3 source is refused.";
    RULES_REFRESH_SECS = "RULES_REFRESH_SECS", "300", Range(0, 86_400),
        Parameter("RulesRefreshSecs"),
        "How often the RULES are checked for changes (one listing each); 0: never.";
    FEEDS = "FEEDS", "", Text("KIND=URL items, comma-separated, each KIND one of yara, sha256, \
        md5, sha1 and each URL https (plain http only to loopback)"), Parameter("Feeds"),
        "Rule packages (zip or tar.gz of .yar/.yara, or one .yar) and hash lists that \
        `s3-yara-scan feeds update` downloads, checks and writes under the first S3 source of \
        RULES (or --to), in feeds/.";
    FEEDS_MAX_SHRINK = "FEEDS_MAX_SHRINK", "50", Range(0, 100), Parameter("FeedsMaxShrink"),
        "A rule package with fewer rules than (100 - this) % of the one in force is refused; \
        the one in force stays.";
    FEEDS_MAX_MALFORMED = "FEEDS_MAX_MALFORMED", "1", Range(0, 100),
        Parameter("FeedsMaxMalformed"),
        "A hash list with more lines that are no digest of its kind than this % of its lines \
        is refused; below it, those lines are left out.";
    FEEDS_MAX_SIZE = "FEEDS_MAX_SIZE", "256MiB", Text("a size such as 256MiB"),
        Parameter("FeedsMaxSize"),
        "Largest feed download, and largest rule package once unpacked.";
    FEEDS_TIMEOUT_SECS = "FEEDS_TIMEOUT_SECS", "120", Range(1, 900),
        Parameter("FeedsTimeoutSecs"),
        "Each feed download attempt gives up after this (three attempts, with backoff).";
    S3_TIMEOUT_SECS = "S3_TIMEOUT_SECS", "30", Range(1, 900), Parameter("S3TimeoutSecs"),
        "Each attempt of an S3 call, and each wait for response bytes, gives up after this.";
    SIGNING_KEY_SECRET = "SIGNING_KEY_SECRET", "", Text("a Secrets Manager secret name or ARN"),
        Parameter("SigningKeySecretArn"),
        "Secret whose SecretString is the HMAC key of signed verdicts, read at start-up.";
    SIGNING_KEY = "SIGNING_KEY", "", Text("at least 32 bytes"), Local,
        "The signing key itself, for local runs only; never in the template.";
    SKIP_SIGNED = "SKIP_SIGNED", "current-rules", OneOf(SkipSigned::VARIANTS),
        Parameter("SkipSigned"),
        "When an object with a valid signed Clean for the same content is not scanned again.";
    SCANNER_ROLE_ID = "SCANNER_ROLE_ID", "", Text("the role's unique id, letters and digits such \
        as AROA3XFRBF535EXAMPLE"), Template,
        "The function role's unique id: tag changes S3 reports as made by it need no check.";
    TAG_SCHEMA = "TAG_SCHEMA", "scan", OneOf(TagSchema::VARIANTS),
        Parameter("TagSchema"),
        "Whose tags the verdict is written as: this scanner's, GuardDuty Malware Protection's \
        (GuardDutyMalwareScanStatus) or bucket-antivirus-function's (av-status, av-signature, \
        av-timestamp); the schema fixes those keys.";
    TAG_KEY_RESULT = "TAG_KEY_RESULT", "scan-result", Text("an S3 tag key"),
        Parameter("TagKeyResult"), "Tag key for the verdict.";
    TAG_KEY_DATE = "TAG_KEY_DATE", "scan-date", Text("an S3 tag key"), Parameter("TagKeyDate"),
        "Tag key for the scan time (RFC 3339, UTC).";
    TAG_KEY_MATCHES = "TAG_KEY_MATCHES", "scan-matches", Text("an S3 tag key"),
        Parameter("TagKeyMatches"), "Tag key for the matching rules (Infected only).";
    TAG_KEY_RULES = "TAG_KEY_RULES", "scan-rules", Text("an S3 tag key"),
        Parameter("TagKeyRules"), "Tag key for the ruleset identity.";
    TAG_KEY_DETAIL = "TAG_KEY_DETAIL", "scan-detail", Text("an S3 tag key"),
        Parameter("TagKeyDetail"), "Tag key for the reason (Unscannable and Error only).";
    TAG_KEY_SOURCE = "TAG_KEY_SOURCE", "scan-source", Text("an S3 tag key"),
        Parameter("TagKeySource"),
        "Tag key, on quarantine copies, for the source version id and ETag.";
    TAG_KEY_SIGNATURE = "TAG_KEY_SIGNATURE", "scan-signature", Text("an S3 tag key"),
        Parameter("TagKeySignature"), "Tag key for the verdict's signature.";
    METRICS = "METRICS", "emf", OneOf(MetricsName::VARIANTS), Parameter("Metrics"),
        "Metrics of each batch (objects by verdict, bytes, scan and S3 time, errors by kind) as \
        CloudWatch Embedded Metric Format lines on the log, namespace S3YaraScan: emf, or off.";
    S3_FORCE_PATH_STYLE = "S3_FORCE_PATH_STYLE", "", OneOf(&["true", "false"]), Local,
        "Path-style S3 addressing (default: true when AWS_ENDPOINT_URL or AWS_ENDPOINT_URL_S3 \
        is set), for local emulators.";
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "",
        Text("memory in MB, as Lambda sets it"), Lambda,
        "The function's memory, which sets the default MAX_OBJECT_SIZE.";
    AWS_LAMBDA_FUNCTION_NAME = "AWS_LAMBDA_FUNCTION_NAME", "", Text("the function's name, as \
        Lambda sets it"), Lambda, "The FunctionName dimension of the metrics (`local` outside \
        Lambda).";
    AWS_ENDPOINT_URL = "AWS_ENDPOINT_URL", "", Text("a URL"), Local,
        "The AWS endpoint (an emulator); also turns on path-style addressing.";
    AWS_ENDPOINT_URL_S3 = "AWS_ENDPOINT_URL_S3", "", Text("a URL"), Local,
        "The S3 endpoint (an emulator); also turns on path-style addressing.";
}
