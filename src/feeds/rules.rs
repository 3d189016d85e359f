//! A rule package made into the object put in force: its sources unpacked and joined into one
//! `.yar` (one object, so that a scanner's listing sees all of it or none), compiled with the
//! scanner's externals, checked against the one in force, canaries and the prefix's other
//! sources. Compiling takes seconds for a feed-sized package: it runs on the blocking pool.

use std::collections::BTreeSet;

use super::{FeedError, InForce, Target, canary, package, read_under};
use crate::config::{Config, Feed};
use crate::rules::compile;
use crate::store::{Budget, ObjectStore};

/// The first line of a package's object, then its count of rules: the shrink check's
/// reference for the next update.
const HEADER: &str = "// s3-yara-scan feed: rules=";

/// Rounds of making rules private: a rule made private can leave another, which names it,
/// firing in its place.
const CANARY_ROUNDS: usize = 5;

/// What a package is checked against, besides the one in force.
pub struct Context {
    /// The bucket of the prefix.
    bucket: String,
    /// Benign files (`<prefix>canary/`).
    canaries: Vec<(String, Vec<u8>)>,
    /// The other YARA sources under the prefix, compiled with the package by the scanners.
    siblings: Vec<(String, Vec<u8>)>,
}

impl Context {
    /// The canaries and the other sources of `target`, but for the package's own `key`.
    pub async fn read<S: ObjectStore>(
        store: &S,
        target: &Target,
        key: &str,
        budget: &Budget,
    ) -> Result<Context, FeedError> {
        let canary_prefix = format!("{}{}", target.prefix, canary::CANARY_FOLDER);
        let canaries = read_under(store, target, &canary_prefix, |_| true, budget).await?;
        let is_source = |k: &str| k != key && (k.ends_with(".yar") || k.ends_with(".yara"));
        let siblings = read_under(store, target, &target.prefix, is_source, budget).await?;
        Ok(Context {
            bucket: target.bucket.clone(),
            canaries,
            siblings,
        })
    }
}

/// The object of a package downloaded as `body`, validated; `before` is the one in force.
pub async fn prepare(
    feed: &Feed,
    body: Vec<u8>,
    before: Option<&[u8]>,
    context: Context,
    config: &Config,
) -> Result<(Vec<u8>, InForce), FeedError> {
    let limits = package::Limits::new(&config.archive, config.feeds.max_size);
    let before = before.and_then(count_in_force);
    let (max_shrink, feed) = (config.feeds.max_shrink_percent, feed.clone());
    let sight = canary::Sight {
        bucket: context.bucket.clone(),
        limits: config.archive.clone(),
        memory: config.max_object_size,
    };
    tokio::task::spawn_blocking(move || {
        let files = package::sources(&body, limits)?;
        validate(&feed, &files, before, max_shrink, &context, &sight)
    })
    .await
    .map_err(|e| FeedError::Package(format!("validation stopped: {e}")))?
}

fn validate(
    feed: &Feed,
    files: &[(String, Vec<u8>)],
    before: Option<usize>,
    max_shrink: u64,
    context: &Context,
    sight: &canary::Sight,
) -> Result<(Vec<u8>, InForce), FeedError> {
    let text = join(files);
    refuse_includes(&text)?;
    let rules =
        compile(&[(feed.name.clone(), text.clone().into_bytes())]).map_err(FeedError::Compile)?;
    let count = rules.iter().len();
    if count == 0 {
        return Err(FeedError::Package("holds no rule".into()));
    }
    if let Some(before) = before
        && (count as u64) * 100 < (before as u64) * (100 - max_shrink.min(100))
    {
        return Err(FeedError::Shrank {
            rules: count,
            before,
            max_percent: max_shrink,
        });
    }
    let (text, dropped) = silence_canaries(feed, text, rules, &context.canaries, sight)?;
    let mut object = format!("{HEADER}{count}\n// source: {}\n", feed.url);
    if !dropped.is_empty() {
        let names: Vec<&str> = dropped.iter().map(String::as_str).collect();
        object.push_str(&format!(
            "// made private, fired on a canary: {}\n",
            names.join(", ")
        ));
        tracing::warn!(feed = %feed.name, rules = ?names, "rules that fired on a canary made private");
    }
    object.push_str(&text);
    if !context.siblings.is_empty() {
        let mut all = context.siblings.clone();
        all.push((feed.name.clone(), object.clone().into_bytes()));
        compile(&all).map_err(FeedError::Conflict)?;
    }
    let in_force = InForce {
        count,
        dropped: dropped.into_iter().collect(),
        malformed: 0,
    };
    Ok((object.into_bytes(), in_force))
}

/// Refuses `include` directives: the compiler would read the named file from the updater's
/// own disk (its environment under /proc, its credentials) and quote it in its errors.
fn refuse_includes(text: &str) -> Result<(), FeedError> {
    let ast = yara_x_parser::ast::AST::from(text);
    let included: Vec<&str> = (ast.items.iter())
        .filter_map(|item| match item {
            yara_x_parser::ast::Item::Include(include) => Some(include.file_name),
            _ => None,
        })
        .collect();
    if included.is_empty() {
        return Ok(());
    }
    Err(FeedError::Package(format!(
        "include directives are refused in feeds (a feed may not read the updater's files): {}",
        included.join(", ")
    )))
}

/// The package's sources as one text, each after a comment naming its member.
fn join(files: &[(String, Vec<u8>)]) -> String {
    let mut text = String::new();
    for (name, bytes) in files {
        text.push_str(&format!("// ---- {}\n", name.replace(['\n', '\r'], " ")));
        text.push_str(&String::from_utf8_lossy(bytes));
        text.push('\n');
    }
    text
}

/// `text` with every rule that fires on a canary made private, and those rules' names.
fn silence_canaries(
    feed: &Feed,
    mut text: String,
    mut rules: yara_x::Rules,
    canaries: &[(String, Vec<u8>)],
    sight: &canary::Sight,
) -> Result<(String, BTreeSet<String>), FeedError> {
    if canaries.is_empty() {
        return Ok((text, BTreeSet::new()));
    }
    let mut dropped = BTreeSet::new();
    for _ in 0..CANARY_ROUNDS {
        let fired = canary::firing(rules, canaries, sight).map_err(FeedError::Canary)?;
        if fired.is_empty() {
            return Ok((text, dropped));
        }
        text = canary::make_private(&text, &fired);
        dropped.extend(fired);
        rules = compile(&[(feed.name.clone(), text.clone().into_bytes())])
            .map_err(|e| FeedError::Canary(format!("made private, the rules fail: {e}")))?;
    }
    Err(FeedError::Canary(format!(
        "rules still fire on canaries after {CANARY_ROUNDS} rounds of making them private"
    )))
}

/// The count of rules of the object in force, from its first line.
fn count_in_force(object: &[u8]) -> Option<usize> {
    let first = object.split(|b| *b == b'\n').next()?;
    std::str::from_utf8(first)
        .ok()?
        .strip_prefix(HEADER)?
        .trim()
        .parse()
        .ok()
}
