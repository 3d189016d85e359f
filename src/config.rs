//! Configuration: every setting comes from an environment variable, read and validated once at
//! start-up so that a bad value stops the function before it touches any object.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use bytesize::ByteSize;

/// What to do with an object whose verdict is `Infected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Copy it to the quarantine bucket, verify the copy, then delete the scanned version.
    Quarantine,
    /// Delete the scanned version.
    Delete,
    /// Only tag it.
    Tag,
}

impl Action {
    const ALLOWED: &'static str = "quarantine, delete, tag";
    const ALLOWED_UNSCANNABLE: &'static str = "tag, quarantine";
}

impl FromStr for Action {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "quarantine" => Ok(Action::Quarantine),
            "delete" => Ok(Action::Delete),
            "tag" => Ok(Action::Tag),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Quarantine => "quarantine",
            Action::Delete => "delete",
            Action::Tag => "tag",
        })
    }
}

/// When an object that already carries a validly signed verdict is skipped rather than scanned
/// again (`SKIP_SIGNED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipSigned {
    /// Skip when the signature is valid and was made with the rules in use now; rescan after a
    /// rules update.
    CurrentRules,
    /// Skip whenever the signature is valid, whatever rules made it.
    AnyRules,
    /// Always scan.
    Never,
}

impl SkipSigned {
    const ALLOWED: &'static str = "current-rules, any-rules, never";
}

impl FromStr for SkipSigned {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_lowercase().as_str() {
            "current-rules" => Ok(SkipSigned::CurrentRules),
            "any-rules" => Ok(SkipSigned::AnyRules),
            "never" => Ok(SkipSigned::Never),
            _ => Err(()),
        }
    }
}

/// The key that signs verdict tags. Its `Debug` form hides the bytes, so it never reaches a
/// log through a `{:?}` of the configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// Shortest key accepted, in bytes: HMAC-SHA256 wants at least its output size.
    pub const MIN_LEN: usize = 32;

    /// A key from its bytes; `None` when shorter than [`SigningKey::MIN_LEN`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Option<SigningKey> {
        let bytes = bytes.into();
        (bytes.len() >= Self::MIN_LEN).then_some(SigningKey(bytes))
    }

    /// The key's bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(<{} bytes, redacted>)", self.0.len())
    }
}

/// The S3 tag keys the scanner writes. Each one is configurable so that the tags can match
/// what bucket policies or downstream tools already expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagKeys {
    /// Verdict: `Clean`, `Infected`, `Unscannable` or `Error` (`TAG_KEY_RESULT`).
    pub result: String,
    /// Scan time, RFC 3339 UTC (`TAG_KEY_DATE`).
    pub date: String,
    /// Names of the matching rules, for `Infected` (`TAG_KEY_MATCHES`).
    pub matches: String,
    /// Identity of the ruleset that produced the verdict (`TAG_KEY_RULES`).
    pub rules: String,
    /// Why an object is `Unscannable` or `Error` (`TAG_KEY_DETAIL`).
    pub detail: String,
    /// On quarantine copies: the source version and ETag the copy was made from
    /// (`TAG_KEY_SOURCE`).
    pub source: String,
    /// HMAC of the verdict, the content identity and the ruleset, when a signing key is set
    /// (`TAG_KEY_SIGNATURE`).
    pub signature: String,
}

impl Default for TagKeys {
    fn default() -> Self {
        TagKeys {
            result: "scan-result".into(),
            date: "scan-date".into(),
            matches: "scan-matches".into(),
            rules: "scan-rules".into(),
            detail: "scan-detail".into(),
            source: "scan-source".into(),
            signature: "scan-signature".into(),
        }
    }
}

impl TagKeys {
    /// True when `key` is one of these keys in any letter case. S3 tag keys are
    /// case-sensitive, but IAM condition keys (`s3:ExistingObjectTag/<key>`) may not be, so a
    /// `Scan-Result` set by someone else is treated like a forged `scan-result`.
    pub fn is_scanner_key(&self, key: &str) -> bool {
        self.all().iter().any(|k| k.eq_ignore_ascii_case(key))
    }

    /// All keys, in a fixed order.
    pub fn all(&self) -> [&str; 7] {
        [
            &self.result,
            &self.date,
            &self.matches,
            &self.rules,
            &self.detail,
            &self.source,
            &self.signature,
        ]
    }
}

/// The validated settings of the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// What to do with infected objects (`ACTION`).
    pub action: Action,
    /// What to do with objects that could not be scanned in full (`UNSCANNABLE_ACTION`): only
    /// [`Action::Tag`] or [`Action::Quarantine`].
    pub unscannable_action: Action,
    /// The buckets whose uploads are scanned, when listed (`PROTECTED_BUCKETS`); used to refuse
    /// a quarantine bucket that is also protected.
    pub protected_buckets: Vec<String>,
    /// The unique id of the scanner's IAM role (`SCANNER_ROLE_ID`, `AROA…`): tag changes that S3
    /// reports as made by this role are the scanner's own and are acknowledged unread.
    pub scanner_role_id: Option<String>,
    /// Destination of quarantined objects; required when `action` is quarantine
    /// (`QUARANTINE_BUCKET`).
    pub quarantine_bucket: Option<String>,
    /// Objects larger than this are not downloaded and get `Unscannable`; also the memory
    /// budget shared by the objects scanned at the same time (`MAX_OBJECT_SIZE`).
    pub max_object_size: u64,
    /// Where objects larger than `max_object_size` are written to be scanned through a memory
    /// map (`SPOOL_DIR`; `off` disables spooling).
    pub spool_dir: Option<PathBuf>,
    /// The largest object spooled, and the room all spooled objects share (`MAX_SPOOL_SIZE`);
    /// `None` means the free space in `spool_dir` at start-up.
    pub max_spool_size: Option<u64>,
    /// Each S3 request attempt, and each wait for response bytes, gives up after this and is
    /// retried (`S3_TIMEOUT_SECS`).
    pub s3_timeout: Duration,
    /// Key for signed verdict tags, given directly (`SIGNING_KEY`, for local use).
    pub signing_key: Option<SigningKey>,
    /// Secrets Manager secret (name or ARN) holding the signing key, read at start-up
    /// (`SIGNING_KEY_SECRET`).
    pub signing_key_secret: Option<String>,
    /// When signed verdicts let an object skip its scan (`SKIP_SIGNED`).
    pub skip_signed: SkipSigned,
    /// Objects processed at the same time in one invocation (`MAX_CONCURRENCY`).
    pub concurrency: usize,
    /// A scan running longer than this is abandoned and the object gets `Unscannable`
    /// (`SCAN_TIMEOUT_SECS`).
    pub scan_timeout: Duration,
    /// Tag keys written on scanned objects.
    pub tag_keys: TagKeys,
    /// Address buckets as `endpoint/bucket` rather than `bucket.endpoint`; needed by local
    /// emulators (`S3_FORCE_PATH_STYLE`).
    pub force_path_style: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            action: Action::Quarantine,
            unscannable_action: Action::Tag,
            protected_buckets: Vec::new(),
            scanner_role_id: None,
            quarantine_bucket: None,
            max_object_size: DEFAULT_MAX_OBJECT_SIZE,
            spool_dir: Some(PathBuf::from(DEFAULT_SPOOL_DIR)),
            max_spool_size: None,
            s3_timeout: Duration::from_secs(DEFAULT_S3_TIMEOUT_SECS),
            signing_key: None,
            signing_key_secret: None,
            skip_signed: SkipSigned::CurrentRules,
            concurrency: DEFAULT_CONCURRENCY,
            scan_timeout: Duration::from_secs(DEFAULT_SCAN_TIMEOUT_SECS),
            tag_keys: TagKeys::default(),
            force_path_style: false,
        }
    }
}

/// `MAX_OBJECT_SIZE` outside Lambda, where no memory size is known.
pub const DEFAULT_MAX_OBJECT_SIZE: u64 = 1024 * 1024 * 1024;
/// Default of `SPOOL_DIR`: Lambda's ephemeral storage.
pub const DEFAULT_SPOOL_DIR: &str = "/tmp";
/// Default of `S3_TIMEOUT_SECS`.
pub const DEFAULT_S3_TIMEOUT_SECS: u64 = 30;
/// Default of `MAX_CONCURRENCY`.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Default of `SCAN_TIMEOUT_SECS`.
pub const DEFAULT_SCAN_TIMEOUT_SECS: u64 = 30;
const MAX_CONCURRENCY_LIMIT: usize = 256;
const MAX_SCAN_TIMEOUT_SECS: u64 = 900;
/// Smallest `MAX_OBJECT_SIZE` accepted: below this, ordinary documents would be `Unscannable`.
const MIN_OBJECT_SIZE: u64 = 1024;

/// One or more settings are invalid. The message lists every problem, each naming the
/// variable and the values it accepts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {}", .problems.join("; "))]
#[non_exhaustive]
pub struct ConfigError {
    /// One message per invalid variable.
    pub problems: Vec<String>,
}

impl Config {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which returns a variable's value if it is set.
    /// Empty values count as unset, as SAM templates often pass `""` for "use the default".
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut problems = Vec::new();
        let defaults = Config::default();

        let action = match get("ACTION") {
            None => defaults.action,
            Some(v) => v.parse().unwrap_or_else(|()| {
                problems.push(format!(
                    "ACTION=`{v}` is invalid (allowed: {})",
                    Action::ALLOWED
                ));
                defaults.action
            }),
        };

        let unscannable_action = match get("UNSCANNABLE_ACTION") {
            None => defaults.unscannable_action,
            Some(v) => match v.parse() {
                Ok(a @ (Action::Tag | Action::Quarantine)) => a,
                _ => {
                    problems.push(format!(
                        "UNSCANNABLE_ACTION=`{v}` is invalid (allowed: {})",
                        Action::ALLOWED_UNSCANNABLE
                    ));
                    defaults.unscannable_action
                }
            },
        };

        let protected_buckets: Vec<String> = get("PROTECTED_BUCKETS")
            .map(|v| {
                v.split(',')
                    .map(|b| b.trim().to_owned())
                    .filter(|b| !b.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        for b in &protected_buckets {
            if let Err(why) = check_bucket_name(b) {
                problems.push(format!(
                    "PROTECTED_BUCKETS has `{b}`, which is invalid: {why}"
                ));
            }
        }
        let quarantine_bucket = get("QUARANTINE_BUCKET").map(|v| v.trim().to_owned());
        match &quarantine_bucket {
            Some(b) => {
                if let Err(why) = check_bucket_name(b) {
                    problems.push(format!("QUARANTINE_BUCKET=`{b}` is invalid: {why}"));
                }
                if protected_buckets.contains(b) {
                    problems.push(format!(
                        "QUARANTINE_BUCKET=`{b}` is also in PROTECTED_BUCKETS (allowed: a bucket \
                         that is not protected; each quarantine copy would be scanned and \
                         quarantined again)"
                    ));
                }
            }
            None if action == Action::Quarantine => problems.push(
                "QUARANTINE_BUCKET is required when ACTION is quarantine (set it to a bucket \
                 name, or set ACTION to delete or tag)"
                    .into(),
            ),
            None if unscannable_action == Action::Quarantine => problems.push(
                "QUARANTINE_BUCKET is required when UNSCANNABLE_ACTION is quarantine (set it to \
                 a bucket name, or set UNSCANNABLE_ACTION to tag)"
                    .into(),
            ),
            None => {}
        }
        let scanner_role_id = get("SCANNER_ROLE_ID").map(|v| v.trim().to_owned());
        if let Some(id) = &scanner_role_id
            && !id.chars().all(|c| c.is_ascii_alphanumeric())
        {
            problems.push(format!(
                "SCANNER_ROLE_ID=`{id}` is invalid (allowed: the role's unique id, letters and \
                 digits such as AROA3XFRBF535EXAMPLE; the template sets it)"
            ));
        }

        let memory_mb =
            get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").and_then(|v| v.trim().parse::<u64>().ok());
        let max_object_size = match get("MAX_OBJECT_SIZE") {
            Some(v) => match parse_size(&v) {
                Some(n) if memory_mb.is_some_and(|mb| n > mb * 1024 * 1024) => {
                    problems.push(format!(
                        "MAX_OBJECT_SIZE=`{v}` is more than the function's memory of {} MB \
                         (allowed: at most that; objects are held in memory)",
                        memory_mb.unwrap_or(0)
                    ));
                    defaults.max_object_size
                }
                Some(n) if n >= MIN_OBJECT_SIZE => n,
                _ => {
                    problems.push(format!(
                        "MAX_OBJECT_SIZE=`{v}` is invalid (allowed: a size of at least \
                         {MIN_OBJECT_SIZE} bytes, such as 1048576, 512MiB or 2GB)"
                    ));
                    defaults.max_object_size
                }
            },
            None => match get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") {
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(mb) if mb > 0 => size_for_memory(mb),
                    _ => {
                        problems.push(format!(
                            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=`{v}` is invalid (allowed: memory \
                             in MB, as Lambda sets it); set MAX_OBJECT_SIZE to override"
                        ));
                        defaults.max_object_size
                    }
                },
                None => defaults.max_object_size,
            },
        };

        let concurrency = parse_in_range(
            &get,
            "MAX_CONCURRENCY",
            1..=MAX_CONCURRENCY_LIMIT,
            defaults.concurrency,
            &mut problems,
        );
        let timeout_secs = parse_in_range(
            &get,
            "SCAN_TIMEOUT_SECS",
            1..=MAX_SCAN_TIMEOUT_SECS,
            DEFAULT_SCAN_TIMEOUT_SECS,
            &mut problems,
        );

        let spool_dir = match get("SPOOL_DIR") {
            None => defaults.spool_dir.clone(),
            Some(v) if v.trim().eq_ignore_ascii_case("off") => None,
            Some(v) if v.trim().starts_with('/') => Some(PathBuf::from(v.trim())),
            Some(v) => {
                problems.push(format!(
                    "SPOOL_DIR=`{v}` is invalid (allowed: an absolute directory path such as \
                     /tmp, or `off` to never spool objects larger than MAX_OBJECT_SIZE)"
                ));
                None
            }
        };
        let max_spool_size = get("MAX_SPOOL_SIZE").and_then(|v| match parse_size(&v) {
            Some(n) => Some(n),
            None => {
                problems.push(format!(
                    "MAX_SPOOL_SIZE=`{v}` is invalid (allowed: a size such as 10GiB or \
                     536870912; unset means the free space in SPOOL_DIR at start-up)"
                ));
                None
            }
        });
        let s3_timeout_secs = parse_in_range(
            &get,
            "S3_TIMEOUT_SECS",
            1..=MAX_SCAN_TIMEOUT_SECS,
            DEFAULT_S3_TIMEOUT_SECS,
            &mut problems,
        );
        // Not trimmed: a key's bytes are its own business.
        let signing_key = lookup("SIGNING_KEY")
            .filter(|v| !v.is_empty())
            .and_then(|v| {
                let key = SigningKey::new(v.into_bytes());
                if key.is_none() {
                    problems.push(format!(
                    "SIGNING_KEY is too short (allowed: at least {} bytes; its value is not shown)",
                    SigningKey::MIN_LEN
                ));
                }
                key
            });
        let signing_key_secret = get("SIGNING_KEY_SECRET").map(|v| v.trim().to_owned());
        if signing_key.is_some() && signing_key_secret.is_some() {
            problems.push(
                "SIGNING_KEY and SIGNING_KEY_SECRET are both set (allowed: one of them; \
                 SIGNING_KEY_SECRET in AWS, SIGNING_KEY for local runs)"
                    .into(),
            );
        }
        let skip_signed = match get("SKIP_SIGNED") {
            None => defaults.skip_signed,
            Some(v) => v.parse().unwrap_or_else(|()| {
                problems.push(format!(
                    "SKIP_SIGNED=`{v}` is invalid (allowed: {})",
                    SkipSigned::ALLOWED
                ));
                defaults.skip_signed
            }),
        };

        let mut tag_keys = defaults.tag_keys.clone();
        for (var, slot) in [
            ("TAG_KEY_RESULT", &mut tag_keys.result),
            ("TAG_KEY_DATE", &mut tag_keys.date),
            ("TAG_KEY_MATCHES", &mut tag_keys.matches),
            ("TAG_KEY_RULES", &mut tag_keys.rules),
            ("TAG_KEY_DETAIL", &mut tag_keys.detail),
            ("TAG_KEY_SOURCE", &mut tag_keys.source),
            ("TAG_KEY_SIGNATURE", &mut tag_keys.signature),
        ] {
            if let Some(v) = get(var) {
                match check_tag_key(&v) {
                    Ok(()) => *slot = v,
                    Err(why) => problems.push(format!("{var}=`{v}` is invalid: {why}")),
                }
            }
        }
        let keys = tag_keys.all();
        if (1..keys.len()).any(|i| keys[..i].contains(&keys[i])) {
            problems.push(format!(
                "TAG_KEY_* must name seven different keys (got {})",
                keys.join(", ")
            ));
        }

        let endpoint_set =
            get("AWS_ENDPOINT_URL").is_some() || get("AWS_ENDPOINT_URL_S3").is_some();
        let force_path_style = match get("S3_FORCE_PATH_STYLE") {
            None => endpoint_set,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => {
                    problems.push(format!(
                        "S3_FORCE_PATH_STYLE=`{v}` is invalid (allowed: true, false)"
                    ));
                    endpoint_set
                }
            },
        };

        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(Config {
            action,
            unscannable_action,
            protected_buckets,
            scanner_role_id,
            quarantine_bucket,
            max_object_size,
            spool_dir,
            max_spool_size,
            s3_timeout: Duration::from_secs(s3_timeout_secs),
            signing_key,
            signing_key_secret,
            skip_signed,
            concurrency,
            scan_timeout: Duration::from_secs(timeout_secs),
            tag_keys,
            force_path_style,
        })
    }
}

/// Three quarters of the function's memory: the rest covers the runtime, the rules and the
/// SDK's buffers. Objects above it would risk an out-of-memory kill, which loses the whole batch.
fn size_for_memory(memory_mb: u64) -> u64 {
    (memory_mb * 1024 * 1024 / 4 * 3).max(MIN_OBJECT_SIZE)
}

fn parse_size(v: &str) -> Option<u64> {
    let v = v.trim();
    v.parse::<u64>()
        .ok()
        .or_else(|| v.parse::<ByteSize>().ok().map(|b| b.as_u64()))
}

fn parse_in_range<T>(
    get: &impl Fn(&str) -> Option<String>,
    var: &str,
    range: std::ops::RangeInclusive<T>,
    default: T,
    problems: &mut Vec<String>,
) -> T
where
    T: FromStr + PartialOrd + fmt::Display + Copy,
{
    let Some(v) = get(var) else { return default };
    match v.trim().parse::<T>() {
        Ok(n) if range.contains(&n) => n,
        _ => {
            problems.push(format!(
                "{var}=`{v}` is invalid (allowed: a whole number from {} to {})",
                range.start(),
                range.end()
            ));
            default
        }
    }
}

/// S3's bucket naming rules, so that a typo fails at start-up rather than on the first
/// infected object.
fn check_bucket_name(b: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&b.len()) {
        return Err("a bucket name has 3 to 63 characters");
    }
    if !b
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
    {
        return Err("a bucket name has only lower-case letters, digits, `.` and `-`");
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(b.chars().next()) || !edge_ok(b.chars().last()) {
        return Err("a bucket name starts and ends with a letter or digit");
    }
    Ok(())
}

/// S3's rules for tag keys: up to 128 characters of letters, digits, spaces and `_.:/=+-@`,
/// and no `aws:` prefix.
fn check_tag_key(k: &str) -> Result<(), &'static str> {
    if k.chars().count() > 128 {
        return Err("a tag key has at most 128 characters");
    }
    if k.to_ascii_lowercase().starts_with("aws:") {
        return Err("tag keys starting with `aws:` are reserved");
    }
    if !k.chars().all(crate::verdict::is_tag_char) {
        return Err("a tag key has only letters, digits, spaces and `_ . : / = + - @`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_only_the_quarantine_bucket() {
        let c = config(&[("QUARANTINE_BUCKET", "my-quarantine")]).unwrap();
        assert_eq!(c.action, Action::Quarantine);
        assert_eq!(c.quarantine_bucket.as_deref(), Some("my-quarantine"));
        assert_eq!(c.max_object_size, DEFAULT_MAX_OBJECT_SIZE);
        assert_eq!(c.concurrency, 8);
        assert_eq!(c.scan_timeout, Duration::from_secs(30));
        assert_eq!(c.tag_keys.result, "scan-result");
        assert!(!c.force_path_style);
    }

    #[test]
    fn quarantine_without_bucket_names_both_variables() {
        let e = config(&[]).unwrap_err();
        assert_eq!(e.problems.len(), 1);
        assert!(e.problems[0].contains("QUARANTINE_BUCKET is required"));
        assert!(e.problems[0].contains("ACTION"));
    }

    #[test]
    fn tag_action_needs_no_bucket() {
        let c = config(&[("ACTION", "Tag")]).unwrap();
        assert_eq!(c.action, Action::Tag);
    }

    #[test]
    fn every_bad_value_is_reported_with_allowed_values() {
        let e = config(&[
            ("ACTION", "purge"),
            ("QUARANTINE_BUCKET", "Bad_Bucket"),
            ("MAX_OBJECT_SIZE", "lots"),
            ("MAX_CONCURRENCY", "0"),
            ("SCAN_TIMEOUT_SECS", "forever"),
            ("TAG_KEY_RESULT", "aws:scan"),
            ("S3_FORCE_PATH_STYLE", "maybe"),
        ])
        .unwrap_err();
        let text = e.to_string();
        for needle in [
            "ACTION=`purge` is invalid (allowed: quarantine, delete, tag)",
            "QUARANTINE_BUCKET=`Bad_Bucket` is invalid",
            "MAX_OBJECT_SIZE=`lots` is invalid",
            "MAX_CONCURRENCY=`0` is invalid (allowed: a whole number from 1 to 256)",
            "SCAN_TIMEOUT_SECS=`forever` is invalid (allowed: a whole number from 1 to 900)",
            "TAG_KEY_RESULT=`aws:scan` is invalid",
            "S3_FORCE_PATH_STYLE=`maybe` is invalid (allowed: true, false)",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in {text}");
        }
        assert_eq!(e.problems.len(), 7);
    }

    #[test]
    fn sizes_accept_bytes_and_units() {
        for (v, n) in [
            ("2048", 2048),
            ("512MiB", 512 * 1024 * 1024),
            ("2 GB", 2_000_000_000),
        ] {
            let c = config(&[("ACTION", "tag"), ("MAX_OBJECT_SIZE", v)]).unwrap();
            assert_eq!(c.max_object_size, n, "{v}");
        }
        assert!(config(&[("ACTION", "tag"), ("MAX_OBJECT_SIZE", "10")]).is_err());
    }

    #[test]
    fn max_object_size_defaults_to_three_quarters_of_lambda_memory() {
        let c = config(&[
            ("ACTION", "tag"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
        ])
        .unwrap();
        assert_eq!(c.max_object_size, 768 * 1024 * 1024);
        let e = config(&[("ACTION", "tag"), ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "x")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=`x`")
        );
    }

    #[test]
    fn max_object_size_cannot_exceed_lambda_memory() {
        let e = config(&[
            ("ACTION", "tag"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
            ("MAX_OBJECT_SIZE", "8GB"),
        ])
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("more than the function's memory of 1024 MB")
        );
    }

    #[test]
    fn tag_keys_must_differ() {
        let e = config(&[("ACTION", "tag"), ("TAG_KEY_DATE", "scan-result")]).unwrap_err();
        assert!(e.to_string().contains("seven different keys"));
    }

    #[test]
    fn spool_and_signing_settings() {
        let c = config(&[("ACTION", "tag")]).unwrap();
        assert_eq!(c.spool_dir.as_deref(), Some(std::path::Path::new("/tmp")));
        assert_eq!(c.max_spool_size, None);
        assert_eq!(c.skip_signed, SkipSigned::CurrentRules);
        assert_eq!(c.signing_key, None);
        let key = "k".repeat(40);
        let c = config(&[
            ("ACTION", "tag"),
            ("SPOOL_DIR", "off"),
            ("MAX_SPOOL_SIZE", "2GiB"),
            ("SIGNING_KEY", &key),
            ("SKIP_SIGNED", "never"),
            ("S3_TIMEOUT_SECS", "5"),
        ])
        .unwrap();
        assert_eq!(c.spool_dir, None);
        assert_eq!(c.max_spool_size, Some(2 << 30));
        assert_eq!(c.skip_signed, SkipSigned::Never);
        assert_eq!(c.s3_timeout, Duration::from_secs(5));
        // The key never shows in the configuration's debug form.
        assert!(!format!("{c:?}").contains(&key));

        let e = config(&[
            ("ACTION", "tag"),
            ("SPOOL_DIR", "tmp"),
            ("SIGNING_KEY", "short-secret"),
            ("SIGNING_KEY_SECRET", "arn:aws:secretsmanager:x"),
            ("SKIP_SIGNED", "sometimes"),
        ])
        .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("SPOOL_DIR=`tmp` is invalid"), "{text}");
        assert!(text.contains("SIGNING_KEY is too short"), "{text}");
        assert!(!text.contains("short-secret"), "{text}");
        let both = config(&[
            ("ACTION", "tag"),
            ("SIGNING_KEY", &key),
            ("SIGNING_KEY_SECRET", "arn:aws:secretsmanager:x"),
        ])
        .unwrap_err();
        assert!(both.to_string().contains("both set"), "{both}");
        assert!(
            text.contains(
                "SKIP_SIGNED=`sometimes` is invalid (allowed: current-rules, any-rules, never)"
            ),
            "{text}"
        );
    }

    #[test]
    fn unscannable_objects_can_be_quarantined_with_a_bucket() {
        let c = config(&[("ACTION", "tag")]).unwrap();
        assert_eq!(c.unscannable_action, Action::Tag);
        let c = config(&[
            ("ACTION", "tag"),
            ("UNSCANNABLE_ACTION", "Quarantine"),
            ("QUARANTINE_BUCKET", "q-bucket"),
        ])
        .unwrap();
        assert_eq!(c.unscannable_action, Action::Quarantine);
        let e = config(&[("ACTION", "tag"), ("UNSCANNABLE_ACTION", "quarantine")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("QUARANTINE_BUCKET is required when UNSCANNABLE_ACTION is quarantine"),
            "{e}"
        );
        let e = config(&[("ACTION", "tag"), ("UNSCANNABLE_ACTION", "delete")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("UNSCANNABLE_ACTION=`delete` is invalid (allowed: tag, quarantine)"),
            "{e}"
        );
    }

    #[test]
    fn a_protected_quarantine_bucket_is_refused() {
        let c = config(&[
            ("QUARANTINE_BUCKET", "q-bucket"),
            ("PROTECTED_BUCKETS", " uploads , ,more-uploads"),
        ])
        .unwrap();
        assert_eq!(c.protected_buckets, ["uploads", "more-uploads"]);
        let e = config(&[
            ("QUARANTINE_BUCKET", "uploads"),
            ("PROTECTED_BUCKETS", "uploads,other"),
        ])
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("QUARANTINE_BUCKET=`uploads` is also in PROTECTED_BUCKETS"),
            "{e}"
        );
        let e = config(&[("ACTION", "tag"), ("PROTECTED_BUCKETS", "Bad_Name")]).unwrap_err();
        assert!(
            e.to_string().contains("PROTECTED_BUCKETS has `Bad_Name`"),
            "{e}"
        );
    }

    #[test]
    fn scanner_role_id_is_letters_and_digits() {
        let c = config(&[
            ("ACTION", "tag"),
            ("SCANNER_ROLE_ID", "AROA3XFRBF535EXAMPLE"),
        ])
        .unwrap();
        assert_eq!(c.scanner_role_id.as_deref(), Some("AROA3XFRBF535EXAMPLE"));
        let e = config(&[("ACTION", "tag"), ("SCANNER_ROLE_ID", "AROA:x")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("SCANNER_ROLE_ID=`AROA:x` is invalid"),
            "{e}"
        );
    }

    #[test]
    fn endpoint_url_turns_on_path_style() {
        let c = config(&[
            ("ACTION", "tag"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ])
        .unwrap();
        assert!(c.force_path_style);
        let c = config(&[
            ("ACTION", "tag"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("S3_FORCE_PATH_STYLE", "false"),
        ])
        .unwrap();
        assert!(!c.force_path_style);
    }

    #[test]
    fn empty_values_mean_default() {
        let c = config(&[
            ("ACTION", ""),
            ("QUARANTINE_BUCKET", "q-bucket"),
            ("MAX_CONCURRENCY", " "),
        ])
        .unwrap();
        assert_eq!(c.action, Action::Quarantine);
        assert_eq!(c.concurrency, 8);
    }
}
