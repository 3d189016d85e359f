//! The settings of users' rule sets: where they are (`RULES`, and the allow lists of
//! `ALLOW_HASHES`) and which compiled `.yarc` files they may hold in S3 (`RULES_YARC_SHA256`).

use std::path::PathBuf;

use super::super::settings::{self as s, Setting};
use super::{Env, Invalid, check_bucket_name};
use crate::config::RuleSource;

pub(super) fn sources(env: &mut Env, setting: &Setting) -> Vec<RuleSource> {
    let Some(v) = env.get(setting) else {
        return Vec::new();
    };
    let mut sources = Vec::new();
    for item in v.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match source(item) {
            Ok(source) => sources.push(source),
            Err(why) => env.problems.push(format!(
                "{} has `{item}`, which is invalid: {why} (allowed: {})",
                setting.name,
                setting.allowed.describe()
            )),
        }
    }
    sources
}

/// One `s3://bucket/prefix/` or absolute path.
pub(crate) fn source(item: &str) -> Result<RuleSource, String> {
    if let Some(rest) = item.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket_name(bucket).map_err(String::from)?;
        let prefix = match prefix {
            "" => String::new(),
            p if p.ends_with('/') => p.to_owned(),
            p => format!("{p}/"),
        };
        return Ok(RuleSource::S3 {
            bucket: bucket.to_owned(),
            prefix,
        });
    }
    if item.starts_with('/') {
        return Ok(RuleSource::Local(PathBuf::from(item)));
    }
    Err("neither s3://bucket/prefix/ nor an absolute path".into())
}

/// The SHA-256 digests (hex, any letter case, comma-separated) of the `.yarc` files that S3
/// sources may hold; every item that is no such digest is a problem of its own.
pub(super) fn yarc_pins(env: &mut Env) -> Vec<[u8; 32]> {
    let Some(v) = env.get(&s::RULES_YARC_SHA256) else {
        return Vec::new();
    };
    let mut pins = Vec::new();
    for item in v.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let mut digest = [0u8; 32];
        match hex::decode_to_slice(item, &mut digest) {
            Ok(()) => pins.push(digest),
            Err(_) => env.refuse(
                &s::RULES_YARC_SHA256,
                item,
                Invalid::Because(format!(
                    "not a SHA-256 digest (allowed: {})",
                    s::RULES_YARC_SHA256.allowed.describe()
                )),
            ),
        }
    }
    pins
}
