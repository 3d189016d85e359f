//! Environment → [`Config`]: one small parser per setting, each reading its variable through
//! the [`settings`] table and reporting a problem that names the variable and what it allows.
//! Every problem is collected, so one start-up lists them all.

use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;

use super::settings::{self as s, Allowed, Setting};
use super::{
    Action, ActionName, ArchiveLimits, Config, ConfigError, SigningKeySource, Spool,
    TagOrQuarantine, TagOrQuarantineName,
};
use crate::signature::SigningKey;
use crate::verdict::{TagKeys, check_tag_key};
use strum::{VariantArray, VariantNames};

mod feeds;
mod onboard;
mod ops;
mod passwords;
mod policy;
mod rules;

pub(crate) use rules::source as rule_source;

/// `MAX_OBJECT_SIZE` outside Lambda, where no memory size is known.
pub const DEFAULT_MAX_OBJECT_SIZE: u64 = 1024 * 1024 * 1024;
/// Smallest `MAX_OBJECT_SIZE` accepted: below this, ordinary documents would be `Unscannable`.
const MIN_OBJECT_SIZE: u64 = 1024;

/// Reads every setting through `lookup`.
pub fn config(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let mut env = Env {
        lookup,
        problems: Vec::new(),
    };
    let protected_buckets = protected_buckets(&mut env);
    let quarantine = quarantine_bucket(&mut env, &protected_buckets);
    let mut config = Config {
        action: action(&mut env, quarantine.clone()),
        unscannable: tag_or_quarantine(&mut env, &s::UNSCANNABLE_ACTION, quarantine.clone()),
        suspicious: tag_or_quarantine(&mut env, &s::SUSPICIOUS_ACTION, quarantine),
        protected_buckets,
        max_object_size: max_object_size(&mut env),
        spool: spool(&mut env),
        concurrency: env.number(&s::MAX_CONCURRENCY) as usize,
        scan_timeout: Duration::from_secs(env.number(&s::SCAN_TIMEOUT_SECS)),
        archive: ArchiveLimits {
            max_depth: env.number(&s::ARCHIVE_MAX_DEPTH) as usize,
            max_members: env.number(&s::ARCHIVE_MAX_MEMBERS),
            max_expanded: env.size(&s::ARCHIVE_MAX_EXPANDED, 1),
            max_ratio: env.number(&s::ARCHIVE_MAX_RATIO),
            max_member_size: 0, // below, from MAX_OBJECT_SIZE unless set
            encrypted: env.choice(&s::ARCHIVE_ENCRYPTED),
            passwords: Default::default(), // below, with the secret that may replace them
        },
        s3_timeout: Duration::from_secs(env.number(&s::S3_TIMEOUT_SECS)),
        rules: rules::sources(&mut env, &s::RULES),
        feeds: feeds::feeds(&mut env),
        allow_hashes: rules::sources(&mut env, &s::ALLOW_HASHES),
        policy: policy::policy(&mut env),
        rules_yarc_sha256: rules::yarc_pins(&mut env),
        rules_refresh: match env.number(&s::RULES_REFRESH_SECS) {
            0 => None,
            n => Some(Duration::from_secs(n)),
        },
        archive_passwords_secret: None, // below
        signing_key: signing_key(&mut env),
        skip_signed: env.choice(&s::SKIP_SIGNED),
        tag_keys: tag_keys(&mut env),
        scanner_role_id: scanner_role_id(&mut env),
        force_path_style: force_path_style(&mut env),
        metrics: ops::metrics(&mut env),
        filters: ops::filters(&mut env),
        results: ops::results(&mut env),
        large_objects: ops::large_objects(&mut env),
        security_hub: ops::security_hub(&mut env),
        promote: Vec::new(), // below, once the quarantine bucket is known
        promote_released: env.flag(&s::PROMOTE_RELEASED),
        onboard: onboard::onboarding(&mut env),
    };
    config.promote = ops::promotions(&mut env, config.quarantine_bucket());
    (config.archive.passwords, config.archive_passwords_secret) = passwords::archive(&mut env);
    config.archive.max_member_size = match env.get(&s::ARCHIVE_MAX_MEMBER_SIZE) {
        Some(_) => env.size(&s::ARCHIVE_MAX_MEMBER_SIZE, 1),
        None => config.max_object_size / 2,
    };
    if env.problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError {
            problems: env.problems,
        })
    }
}

/// The configuration of an empty environment but for `ACTION=tag`: every default. The table's
/// defaults are valid by construction (a unit test parses each).
pub fn defaults() -> Config {
    let lookup = |name: &str| (name == s::ACTION.name).then(|| "tag".to_owned());
    config(&lookup).unwrap_or_else(|e| unreachable!("the defaults are valid: {e}"))
}

/// The environment being read, and the problems found so far.
struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

/// Why a value was refused: the setting's allowed values, or a reason of its own.
enum Invalid {
    NotAllowed,
    Because(String),
}

impl Env<'_> {
    /// The value of `setting`, trimmed; `None` when unset or empty.
    fn get(&self, setting: &Setting) -> Option<String> {
        (self.lookup)(setting.name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// Records that `value` of `setting` is invalid.
    fn refuse(&mut self, setting: &Setting, value: &str, why: Invalid) {
        self.problems.push(match why {
            Invalid::NotAllowed => format!(
                "{}=`{value}` is invalid (allowed: {})",
                setting.name,
                setting.allowed.describe()
            ),
            Invalid::Because(why) => format!("{}=`{value}` is invalid: {why}", setting.name),
        });
    }

    /// `setting` parsed with `parse`: its value, else its default; a refused value is recorded
    /// and the default used, so that later settings are still checked.
    fn parsed<T>(&mut self, setting: &Setting, parse: impl Fn(&str) -> Result<T, Invalid>) -> T {
        if let Some(v) = self.get(setting) {
            match parse(&v) {
                Ok(value) => return value,
                Err(why) => self.refuse(setting, &v, why),
            }
        }
        parse(setting.default)
            .unwrap_or_else(|_| unreachable!("the default of {} is valid", setting.name))
    }

    /// A whole number within the setting's range.
    fn number(&mut self, setting: &Setting) -> u64 {
        let Allowed::Range(low, high) = setting.allowed else {
            unreachable!("{} is not a number setting", setting.name)
        };
        self.parsed(setting, |v| match v.parse::<u64>() {
            Ok(n) if (low..=high).contains(&n) => Ok(n),
            _ => Err(Invalid::NotAllowed),
        })
    }

    /// A size of at least `min` bytes (`1048576`, `512MiB`, `2GB`).
    fn size(&mut self, setting: &Setting, min: u64) -> u64 {
        self.parsed(setting, |v| match parse_size(v) {
            Some(n) if n >= min => Ok(n),
            _ => Err(Invalid::NotAllowed),
        })
    }

    /// The value of `T` the setting names, in any letter case. The setting's words are `T`'s
    /// names (the table takes them from the enum), so every word is a value and none is
    /// mapped by a catch-all.
    fn choice<T>(&mut self, setting: &Setting) -> T
    where
        T: Copy + VariantArray + VariantNames + Into<&'static str>,
    {
        let names = <T as VariantNames>::VARIANTS;
        debug_assert_eq!(setting.allowed, Allowed::OneOf(names), "{}", setting.name);
        self.parsed(setting, |v| {
            (<T as VariantArray>::VARIANTS.iter().copied())
                .find(|t| Into::<&str>::into(*t).eq_ignore_ascii_case(v))
                .ok_or(Invalid::NotAllowed)
        })
    }

    /// `true` or `false`, in any letter case.
    fn flag(&mut self, setting: &Setting) -> bool {
        debug_assert_eq!(setting.allowed, Allowed::OneOf(&["true", "false"]));
        self.parsed(setting, |v| {
            v.to_ascii_lowercase()
                .parse()
                .map_err(|_| Invalid::NotAllowed)
        })
    }
}

fn action(env: &mut Env, quarantine: Option<String>) -> Action {
    match (env.choice(&s::ACTION), quarantine) {
        (ActionName::Delete, _) => Action::Delete,
        (ActionName::Tag, _) => Action::Tag,
        (ActionName::Quarantine, Some(bucket)) => Action::Quarantine { bucket },
        (ActionName::Quarantine, None) => {
            env.problems.push(format!(
                "{} is required when {} is quarantine (set it to a bucket name, or set {} to \
                 delete or tag)",
                s::QUARANTINE_BUCKET.name,
                s::ACTION.name,
                s::ACTION.name
            ));
            Action::Tag
        }
    }
}

fn tag_or_quarantine(
    env: &mut Env,
    setting: &Setting,
    quarantine: Option<String>,
) -> TagOrQuarantine {
    match (env.choice(setting), quarantine) {
        (TagOrQuarantineName::Quarantine, Some(bucket)) => TagOrQuarantine::Quarantine { bucket },
        (TagOrQuarantineName::Quarantine, None) => {
            env.problems.push(format!(
                "{} is required when {} is quarantine (set it to a bucket name, or set {} to tag)",
                s::QUARANTINE_BUCKET.name,
                setting.name,
                setting.name
            ));
            TagOrQuarantine::Tag
        }
        (TagOrQuarantineName::Tag, _) => TagOrQuarantine::Tag,
    }
}

fn protected_buckets(env: &mut Env) -> Vec<String> {
    let Some(v) = env.get(&s::PROTECTED_BUCKETS) else {
        return Vec::new();
    };
    let buckets: Vec<String> = v
        .split(',')
        .map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty())
        .collect();
    for b in &buckets {
        if let Err(why) = check_bucket_name(b) {
            env.problems.push(format!(
                "{} has `{b}`, which is invalid: {why}",
                s::PROTECTED_BUCKETS.name
            ));
        }
    }
    buckets
}

fn quarantine_bucket(env: &mut Env, protected: &[String]) -> Option<String> {
    let setting = &s::QUARANTINE_BUCKET;
    let bucket = env.get(setting)?;
    if let Err(why) = check_bucket_name(&bucket) {
        env.refuse(setting, &bucket, Invalid::Because(why.into()));
    }
    if protected.contains(&bucket) {
        env.problems.push(format!(
            "{}=`{bucket}` is also in {} (allowed: a bucket that is not protected; each \
             quarantine copy would be scanned and quarantined again)",
            setting.name,
            s::PROTECTED_BUCKETS.name
        ));
    }
    Some(bucket)
}

fn max_object_size(env: &mut Env) -> u64 {
    let memory_mb = lambda_memory_mb(env);
    let Some(v) = env.get(&s::MAX_OBJECT_SIZE) else {
        return memory_mb.map_or(DEFAULT_MAX_OBJECT_SIZE, size_for_memory);
    };
    match parse_size(&v) {
        Some(n) if memory_mb.is_some_and(|mb| n > mb * 1024 * 1024) => {
            env.problems.push(format!(
                "{}=`{v}` is more than the function's memory of {} MB (allowed: at most that; \
                 objects are held in memory)",
                s::MAX_OBJECT_SIZE.name,
                memory_mb.unwrap_or(0)
            ));
            DEFAULT_MAX_OBJECT_SIZE
        }
        Some(n) if n >= MIN_OBJECT_SIZE => n,
        _ => {
            env.refuse(&s::MAX_OBJECT_SIZE, &v, Invalid::NotAllowed);
            DEFAULT_MAX_OBJECT_SIZE
        }
    }
}

/// The function's memory, read once.
fn lambda_memory_mb(env: &mut Env) -> Option<u64> {
    let setting = &s::AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
    let v = env.get(setting)?;
    match v.parse::<u64>() {
        Ok(mb) if mb > 0 => Some(mb),
        _ => {
            env.problems.push(format!(
                "{}=`{v}` is invalid (allowed: {}); set {} to override",
                setting.name,
                setting.allowed.describe(),
                s::MAX_OBJECT_SIZE.name
            ));
            None
        }
    }
}

/// Three quarters of the function's memory: the rest covers the runtime, the rules and the
/// SDK's buffers. Objects above it would risk an out-of-memory kill, which loses the whole batch.
fn size_for_memory(memory_mb: u64) -> u64 {
    (memory_mb * 1024 * 1024 / 4 * 3).max(MIN_OBJECT_SIZE)
}

fn spool(env: &mut Env) -> Spool {
    let dir = env.parsed(&s::SPOOL_DIR, |v| {
        if v.eq_ignore_ascii_case("off") {
            Ok(None)
        } else if v.starts_with('/') {
            Ok(Some(PathBuf::from(v)))
        } else {
            Err(Invalid::NotAllowed)
        }
    });
    let max = env
        .get(&s::MAX_SPOOL_SIZE)
        .and_then(|v| match parse_size(&v) {
            Some(n) => Some(n),
            None => {
                env.refuse(&s::MAX_SPOOL_SIZE, &v, Invalid::NotAllowed);
                None
            }
        });
    match dir {
        Some(dir) => Spool::Dir { dir, max },
        None => Spool::Off,
    }
}

fn parse_size(v: &str) -> Option<u64> {
    v.parse::<u64>()
        .ok()
        .or_else(|| v.parse::<ByteSize>().ok().map(|b| b.as_u64()))
}

fn signing_key(env: &mut Env) -> SigningKeySource {
    // Not trimmed: a key's bytes are its own business.
    let inline = (env.lookup)(s::SIGNING_KEY.name).filter(|v| !v.is_empty());
    let secret = env.get(&s::SIGNING_KEY_SECRET);
    let key = inline.and_then(|v| {
        let key = SigningKey::new(v.into_bytes());
        if key.is_none() {
            env.problems.push(format!(
                "{} is too short (allowed: at least {} bytes; its value is not shown)",
                s::SIGNING_KEY.name,
                SigningKey::MIN_LEN
            ));
        }
        key
    });
    match (key, secret) {
        (Some(_), Some(_)) => {
            env.problems.push(format!(
                "{} and {} are both set (allowed: one of them; {} in AWS, {} for local runs)",
                s::SIGNING_KEY.name,
                s::SIGNING_KEY_SECRET.name,
                s::SIGNING_KEY_SECRET.name,
                s::SIGNING_KEY.name
            ));
            SigningKeySource::Off
        }
        (Some(key), None) => SigningKeySource::Inline(key),
        (None, Some(secret)) => SigningKeySource::Secret(secret),
        (None, None) => SigningKeySource::Off,
    }
}

fn tag_keys(env: &mut Env) -> TagKeys {
    let mut keys = TagKeys {
        schema: env.choice(&s::TAG_SCHEMA),
        ..TagKeys::default()
    };
    let schema = keys.schema;
    let fixed = schema.fixed_keys();
    let settings = [
        &s::TAG_KEY_RESULT,
        &s::TAG_KEY_DATE,
        &s::TAG_KEY_MATCHES,
        &s::TAG_KEY_RULES,
        &s::TAG_KEY_DETAIL,
        &s::TAG_KEY_SOURCE,
        &s::TAG_KEY_SIGNATURE,
    ];
    for (setting, (var, slot)) in settings.into_iter().zip(keys.by_variable()) {
        debug_assert_eq!(setting.name, var);
        let schema_key = fixed.iter().find(|(v, _)| *v == var).map(|(_, key)| *key);
        match (schema_key, env.get(setting)) {
            (Some(key), Some(set)) if set != key => env.problems.push(format!(
                "{var}=`{set}` cannot be used with {}={}, whose tag key is {key} (unset {var})",
                s::TAG_SCHEMA.name,
                schema.name(),
            )),
            (Some(key), _) => *slot = key.to_owned(),
            (None, _) => {
                *slot = env.parsed(setting, |v| match check_tag_key(v) {
                    Ok(()) => Ok(v.to_owned()),
                    Err(why) => Err(Invalid::Because(why.into())),
                })
            }
        }
    }
    let all = keys.all();
    let lower: Vec<String> = all.iter().map(|k| k.to_ascii_lowercase()).collect();
    if (1..lower.len()).any(|i| lower[..i].contains(&lower[i])) {
        env.problems.push(format!(
            "TAG_KEY_* must name seven different keys, also ignoring letter case (got {})",
            all.join(", ")
        ));
    }
    keys
}

fn scanner_role_id(env: &mut Env) -> Option<String> {
    let id = env.get(&s::SCANNER_ROLE_ID)?;
    if id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Some(id)
    } else {
        env.refuse(&s::SCANNER_ROLE_ID, &id, Invalid::NotAllowed);
        None
    }
}

fn force_path_style(env: &mut Env) -> bool {
    let endpoint_set =
        env.get(&s::AWS_ENDPOINT_URL).is_some() || env.get(&s::AWS_ENDPOINT_URL_S3).is_some();
    match env.get(&s::S3_FORCE_PATH_STYLE) {
        None => endpoint_set,
        Some(v) => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => {
                env.refuse(&s::S3_FORCE_PATH_STYLE, &v, Invalid::NotAllowed);
                endpoint_set
            }
        },
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
