//! The settings of the operations around the scan: metrics (`METRICS`), filters (`SKIP_*`),
//! result events (`RESULT_*`, `QUEUE_URL`) and promotion from staging to production buckets
//! (`PROMOTE`).

use super::super::settings::{self as s, Setting};
use super::{Env, Invalid, check_bucket_name, parse_size};
use crate::config::ResultEvents;
use crate::config::{Metrics, MetricsName, Promotion, SecurityHub};
use crate::filter::Filters;
use crate::forward::LargeObjects;
use crate::verdict::VerdictKind;

pub(super) fn metrics(env: &mut Env) -> Metrics {
    match env.choice(&s::METRICS) {
        MetricsName::Off => Metrics::Off,
        MetricsName::Emf => {
            let function = env.get(&s::AWS_LAMBDA_FUNCTION_NAME);
            Metrics::Emf {
                stdout: function.is_some(),
                function: function.unwrap_or_else(|| "local".into()),
            }
        }
    }
}

pub(super) fn filters(env: &mut Env) -> Filters {
    Filters {
        prefixes: list(env, &s::SKIP_KEY_PREFIXES),
        suffixes: list(env, &s::SKIP_KEY_SUFFIXES),
        size_below: optional_size(env, &s::SKIP_SIZE_BELOW),
        size_above: optional_size(env, &s::SKIP_SIZE_ABOVE),
        action: env.choice(&s::SKIPPED_ACTION),
    }
}

pub(super) fn results(env: &mut Env) -> ResultEvents {
    ResultEvents {
        bus: checked(env, &s::RESULT_EVENT_BUS, bus_name),
        topic: checked(env, &s::RESULT_TOPIC_ARN, |v| {
            (v.starts_with("arn:")
                && v.split(':').nth(2) == Some("sns")
                && v.split(':').count() == 6)
                .then_some(())
                .ok_or("not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
        }),
        verdicts: verdicts(env),
        schema: env.choice(&s::RESULT_EVENT_SCHEMA),
        queue_url: checked(env, &s::QUEUE_URL, queue_url),
    }
}

/// `LARGE_OBJECT_SIZE` and `LARGE_OBJECT_QUEUE_URL`: both, or neither.
pub(super) fn large_objects(env: &mut Env) -> Option<LargeObjects> {
    let over = optional_size(env, &s::LARGE_OBJECT_SIZE);
    let queue_url = checked(env, &s::LARGE_OBJECT_QUEUE_URL, queue_url);
    match (over, queue_url) {
        (Some(over), Some(queue_url)) => Some(LargeObjects { over, queue_url }),
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            let (set, unset) = (&s::LARGE_OBJECT_SIZE, &s::LARGE_OBJECT_QUEUE_URL);
            env.problems.push(format!(
                "{} and {} go together (allowed: both set, to send objects over the size to \
                 the agent's queue, or neither)",
                set.name, unset.name
            ));
            None
        }
    }
}

fn queue_url(v: &str) -> Result<(), &'static str> {
    (v.starts_with("https://") || v.starts_with("http://"))
        .then_some(())
        .ok_or("not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)")
}

/// The comma-separated items of `setting`, empty ones dropped.
fn list(env: &mut Env, setting: &Setting) -> Vec<String> {
    env.get(setting)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A size when the setting is set.
fn optional_size(env: &mut Env, setting: &Setting) -> Option<u64> {
    let v = env.get(setting)?;
    let size = parse_size(&v);
    if size.is_none() {
        env.refuse(setting, &v, Invalid::NotAllowed);
    }
    size
}

/// The value of `setting` when `check` accepts it.
fn checked(
    env: &mut Env,
    setting: &Setting,
    check: impl Fn(&str) -> Result<(), &'static str>,
) -> Option<String> {
    let v = env.get(setting)?;
    match check(&v) {
        Ok(()) => Some(v),
        Err(why) => {
            env.refuse(setting, &v, Invalid::Because(why.into()));
            None
        }
    }
}

/// EventBridge's bus names (`default`, `orders.events`) and ARNs.
fn bus_name(v: &str) -> Result<(), &'static str> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "/._-:".contains(c);
    if v.len() <= 1600 && v.chars().all(ok) {
        Ok(())
    } else {
        Err("a bus name has only letters, digits and `/ . _ -` (or is an event bus ARN)")
    }
}

/// `RESULT_VERDICTS`: `all`, or verdicts by name in any letter case.
fn verdicts(env: &mut Env) -> Vec<&'static str> {
    let setting = &s::RESULT_VERDICTS;
    let items = list(env, setting);
    if items.is_empty() || items.iter().any(|i| i.eq_ignore_ascii_case("all")) {
        return VerdictKind::NAMES.to_vec();
    }
    let mut verdicts = Vec::new();
    for item in &items {
        match VerdictKind::NAMES
            .iter()
            .find(|v| v.eq_ignore_ascii_case(item))
        {
            Some(v) => verdicts.push(*v),
            None => env.refuse(setting, item, Invalid::NotAllowed),
        }
    }
    verdicts
}

/// `PROMOTE`: `staging[/prefix]=production[/prefix]` items, longest staging prefix first so
/// that the most specific mapping wins.
pub(super) fn promotions(env: &mut Env, quarantine: Option<&str>) -> Vec<Promotion> {
    let setting = &s::PROMOTE;
    let mut all = Vec::new();
    for item in list(env, setting) {
        match promotion(&item, quarantine) {
            Ok(p) => all.push(p),
            Err(why) => env.problems.push(format!(
                "{} has `{item}`, which is invalid: {why} (allowed: {})",
                setting.name,
                setting.allowed.describe()
            )),
        }
    }
    // A copy landing where another mapping promotes from would move on, or back, forever.
    for a in &all {
        if let Some(b) = all.iter().find(|b| {
            a.to_bucket == b.from_bucket && a.to_prefix.starts_with(b.from_prefix.as_str())
        }) {
            env.problems.push(format!(
                "{} sends objects to s3://{}/{}, which is itself promoted from (by the mapping of \
                 s3://{}/{}); production locations must not be staging ones",
                setting.name, a.to_bucket, a.to_prefix, b.from_bucket, b.from_prefix
            ));
        }
    }
    all.sort_by_key(|p: &Promotion| std::cmp::Reverse(p.from_prefix.len()));
    all
}

fn promotion(item: &str, quarantine: Option<&str>) -> Result<Promotion, String> {
    let (from, to) = item
        .split_once('=')
        .ok_or("no `=` between the staging and the production bucket")?;
    let split = |side: &str| -> Result<(String, String), String> {
        let side = side.trim().trim_start_matches("s3://");
        let (bucket, prefix) = side.split_once('/').unwrap_or((side, ""));
        check_bucket_name(bucket).map_err(|why| format!("`{bucket}`: {why}"))?;
        Ok((bucket.to_owned(), prefix.to_owned()))
    };
    let ((from_bucket, from_prefix), (to_bucket, to_prefix)) = (split(from)?, split(to)?);
    if Some(to_bucket.as_str()) == quarantine {
        return Err("the production bucket is the quarantine bucket".into());
    }
    // A copy landing where it is promoted from would be promoted again, forever.
    if from_bucket == to_bucket && to_prefix.starts_with(&from_prefix) {
        return Err("the production prefix is inside the staging prefix".into());
    }
    Ok(Promotion {
        from_bucket,
        from_prefix,
        to_bucket,
        to_prefix,
    })
}

/// `SECURITY_HUB`: whether threats become Security Hub findings.
pub(super) fn security_hub(env: &mut Env) -> SecurityHub {
    env.choice(&s::SECURITY_HUB)
}
