//! Rule and hash feeds (`FEEDS`): packages of YARA rules and lists of known-bad digests,
//! downloaded (`fetch`), unpacked (`package`), validated and written as objects under the S3
//! prefix that `RULES` already watches (`<prefix>feeds/<name>.yar`, `.sha256`, `.md5`,
//! `.sha1`), so that scanners pick them up with the rules' hot reload and compiled cache.
//!
//! Nothing is written unless the feed is sound: a package must compile with our externals (the
//! scanner's own compiler setup), together with the other sources of the prefix (a duplicate
//! rule name would fail the whole prefix); it may not shrink by more than `FEEDS_MAX_SHRINK`
//! against the one in force; its rules that fire on a canary (`canary`) are made private. A hash
//! list may not have more than `FEEDS_MAX_MALFORMED` % of malformed lines. A refused feed keeps
//! the last good one in force, and is logged at error with the reason.

use crate::config::{Config, Feed, FeedKind, RuleSource};
use crate::object::ObjectRef;
use crate::rules::CACHE_FOLDER;
use crate::store::{Budget, Fetched, ObjectStore, StoreError};

mod canary;
mod fetch;
mod metrics;
mod package;
mod report;
mod rules;
#[cfg(test)]
mod tests;

pub use canary::CANARY_FOLDER;
pub use fetch::{Http, Source};
pub use metrics::FEED_METRICS;
pub use report::{FeedReport, InForce, Outcome};

pub use crate::config::FEEDS_FOLDER;

/// Why a feed was refused (the one in force stays), or an update could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FeedError {
    /// `FEEDS` lists none.
    #[error("FEEDS lists no feed (set it to KIND=URL items, such as yara=https://…/rules.zip)")]
    NoFeeds,
    /// No S3 prefix to write to.
    #[error(
        "no S3 prefix to write feeds to: give RULES an s3://bucket/prefix/ source (the first one \
         is used), or `feeds update --to s3://bucket/prefix/`"
    )]
    NoTarget,
    /// The HTTP client could not be built.
    #[error("cannot set up downloads: {0}")]
    Client(String),
    /// The download failed (after its retries).
    #[error("download failed: {reason}")]
    Download {
        /// Why.
        reason: String,
    },
    /// The package is no readable archive of YARA sources, or is over a limit.
    #[error("package refused: {0}")]
    Package(String),
    /// The package does not compile.
    #[error("package does not compile with the scanner's externals:\n{0}")]
    Compile(String),
    /// The package, with the other sources of the prefix, does not compile.
    #[error("package does not compile with the other rule files under the prefix:\n{0}")]
    Conflict(String),
    /// The package has far fewer rules than the one in force.
    #[error(
        "package has {rules} rules against {before} in force: it shrank by more than \
         {max_percent}% (FEEDS_MAX_SHRINK)"
    )]
    Shrank {
        /// Rules now.
        rules: usize,
        /// Rules in force.
        before: usize,
        /// `FEEDS_MAX_SHRINK`.
        max_percent: u64,
    },
    /// Too many lines of a hash list are no digest of its kind.
    #[error(
        "{bad} of {total} lines are no {kind} digest: more than {max_percent}% \
         (FEEDS_MAX_MALFORMED)"
    )]
    Malformed {
        /// The kind of digest.
        kind: FeedKind,
        /// Malformed lines.
        bad: usize,
        /// Lines in all.
        total: usize,
        /// `FEEDS_MAX_MALFORMED`.
        max_percent: u64,
    },
    /// Making the rules that fired on canaries private did not silence them.
    #[error("canaries: {0}")]
    Canary(String),
    /// Reading from or writing to the rules prefix failed.
    #[error("{what}: {source}")]
    Store {
        /// What was being done.
        what: String,
        /// The store's error.
        source: StoreError,
    },
}

/// The S3 prefix feeds are written under: the first S3 source of `RULES`, or `--to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The bucket.
    pub bucket: String,
    /// The prefix (empty, or ending in `/`).
    pub prefix: String,
}

impl Target {
    /// `to` when given, else the first S3 source of `rules`.
    pub fn choose(to: Option<&RuleSource>, rules: &[RuleSource]) -> Result<Target, FeedError> {
        to.into_iter()
            .chain(rules)
            .find_map(|source| match source {
                RuleSource::S3 { bucket, prefix } => Some(Target {
                    bucket: bucket.clone(),
                    prefix: prefix.clone(),
                }),
                RuleSource::Local(_) => None,
            })
            .ok_or(FeedError::NoTarget)
    }

    /// The key of `feed`'s object.
    pub fn key(&self, feed: &Feed) -> String {
        format!(
            "{}{FEEDS_FOLDER}{}.{}",
            self.prefix,
            feed.name,
            feed.kind.extension()
        )
    }
}

/// The key of the scheduled invocation's payload (EventBridge Scheduler's input):
/// `{"feedsUpdate": {}}`.
pub const UPDATE_EVENT_KEY: &str = "feedsUpdate";

/// True when an invocation's payload asks for a feed update.
pub fn is_update_event(event: &serde_json::Value) -> bool {
    event
        .get(UPDATE_EVENT_KEY)
        .is_some_and(serde_json::Value::is_object)
}

/// Updates every feed of `config` with downloads from the web, into `to` or the first S3
/// source of `RULES`: what `feeds update` and the scheduled invocation run.
pub async fn run<S: ObjectStore>(
    store: &S,
    config: &Config,
    to: Option<&RuleSource>,
) -> Result<Vec<FeedReport>, FeedError> {
    if config.feeds.feeds.is_empty() {
        return Err(FeedError::NoFeeds);
    }
    let target = Target::choose(to, &config.rules)?;
    let http = Http::new(&config.feeds)?;
    let reports = update(store, &http, config, &target).await;
    metrics::emit(&reports, &config.metrics);
    Ok(reports)
}

/// The first feed update of a deployment whose rules prefix is still empty (the function would
/// not start on it): run before the rules load, when `FEEDS` lists feeds. True when a feed is
/// now in force there.
pub async fn bootstrap<S: ObjectStore>(pipeline: &crate::pipeline::Pipeline<S>) -> bool {
    if pipeline.config().feeds.feeds.is_empty() {
        return false;
    }
    tracing::warn!("the RULES prefix holds no rule file yet: updating the FEEDS into it first");
    let in_force = match run(pipeline.store(), pipeline.config(), None).await {
        Ok(reports) => reports.iter().any(FeedReport::in_force),
        Err(e) => {
            tracing::error!(error = %e, "the first feed update failed");
            false
        }
    };
    if !in_force {
        // Fails closed: the function does not scan with fewer rules than it was given.
        tracing::error!(
            "no feed of FEEDS could be put in force and RULES holds nothing else: let the \
             function reach the feeds' URLs (a NAT gateway or a proxy), run `s3-yara-scan feeds \
             update --to <RULES>` from a machine that can, or set FEEDS empty (template: Feeds)"
        );
    }
    in_force
}

/// Updates every feed of `config` into `target`, one after the other; a feed refused is
/// logged at error and the others go on.
pub async fn update<S: ObjectStore, F: Source>(
    store: &S,
    source: &F,
    config: &Config,
    target: &Target,
) -> Vec<FeedReport> {
    let mut reports = Vec::new();
    for feed in &config.feeds.feeds {
        let key = target.key(feed);
        let object = format!("s3://{}/{key}", target.bucket);
        let outcome = match update_one(store, source, config, target, feed, &key).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(feed = %feed.name, url = %feed.url, object, error = %e, "feed refused; the last good one stays in force");
                Outcome::Refused {
                    reason: e.to_string(),
                }
            }
        };
        // A feed in force was written just now (even unchanged, see `update_one`); only a
        // refused one asks S3 how old the one it left in force is.
        let age = match outcome {
            Outcome::Updated(_) | Outcome::Unchanged(_) => Some(0),
            Outcome::Refused { .. } => age(store, &target.bucket, &key).await,
        };
        let report = FeedReport::new(feed, object, outcome, age);
        if report.in_force() {
            tracing::info!(feed = %feed.name, report = %report.line(), "feed in force");
        }
        reports.push(report);
    }
    reports
}

/// One feed: downloaded, validated against the one in force, written when it differs.
async fn update_one<S: ObjectStore, F: Source>(
    store: &S,
    source: &F,
    config: &Config,
    target: &Target,
    feed: &Feed,
    key: &str,
) -> Result<Outcome, FeedError> {
    let budget = Budget::memory(config.max_object_size.max(config.feeds.max_size));
    let body = source.fetch(feed, config.feeds.max_size).await?;
    let before = read(store, &target.bucket, key, &budget).await?;
    let (bytes, in_force) = match feed.kind {
        FeedKind::Yara => {
            let context = rules::Context::read(store, target, key, &budget).await?;
            rules::prepare(feed, body, before.as_deref(), context, config).await?
        }
        FeedKind::Sha256 | FeedKind::Md5 | FeedKind::Sha1 => {
            hash_list(feed, &body, config.feeds.max_malformed_percent)?
        }
    };
    // Written even when unchanged: its LastModified then says when it was last found sound
    // (the age metric), and the same bytes keep the same ETag, so that the scanners' refresh
    // neither reloads nor recompiles it.
    let unchanged = before.as_deref() == Some(bytes.as_slice());
    let object = ObjectRef::new(target.bucket.as_str(), key);
    (store.put(&object, bytes).await).map_err(|source| FeedError::Store {
        what: format!("writing s3://{}/{key}", target.bucket),
        source,
    })?;
    Ok(match unchanged {
        true => Outcome::Unchanged(in_force),
        false => Outcome::Updated(in_force),
    })
}

/// Seconds since `key` was last written; `None` when it does not exist or says no time.
async fn age<S: ObjectStore>(store: &S, bucket: &str, key: &str) -> Option<u64> {
    let info = store.head(&ObjectRef::new(bucket, key)).await.ok()??;
    let now = chrono::Utc::now().timestamp();
    Some(now.saturating_sub(info.last_modified?).max(0) as u64)
}

/// The object of a hash list: its digests of the feed's kind, one a line, after a comment
/// naming the feed.
fn hash_list(feed: &Feed, body: &[u8], max_percent: u64) -> Result<(Vec<u8>, InForce), FeedError> {
    let (digests, bad, total) = package::digests(&String::from_utf8_lossy(body), feed.kind);
    if (bad as u64) * 100 > (total as u64) * max_percent || digests.is_empty() {
        return Err(FeedError::Malformed {
            kind: feed.kind,
            bad,
            total,
            max_percent,
        });
    }
    let mut text = format!("# s3-yara-scan feed {} from {}\n", feed.name, feed.url);
    for digest in &digests {
        text.push_str(digest);
        text.push('\n');
    }
    let in_force = InForce {
        count: digests.len(),
        dropped: Vec::new(),
        malformed: bad,
    };
    Ok((text.into_bytes(), in_force))
}

/// The bytes of `key`, or `None` when there is no such object.
async fn read<S: ObjectStore>(
    store: &S,
    bucket: &str,
    key: &str,
    budget: &Budget,
) -> Result<Option<Vec<u8>>, FeedError> {
    let object = ObjectRef::new(bucket, key);
    let failed = |source| FeedError::Store {
        what: format!("reading s3://{bucket}/{key}"),
        source,
    };
    match store.get(&object, None, budget, None).await {
        Ok(Fetched::Body { body, .. }) => Ok(Some(body.as_ref().to_vec())),
        Ok(Fetched::TooLarge(info)) => Err(failed(StoreError::Permanent {
            op: crate::store::Op::GetObject,
            code: "TooLarge".into(),
            detail: format!("{} bytes is more than FEEDS_MAX_SIZE", info.size),
        })),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(failed(e)),
    }
}

/// The bytes of every object under `prefix` whose key `wanted` picks (the compiled cache
/// left out), in key order.
async fn read_under<S: ObjectStore>(
    store: &S,
    target: &Target,
    prefix: &str,
    wanted: impl Fn(&str) -> bool,
    budget: &Budget,
) -> Result<Vec<(String, Vec<u8>)>, FeedError> {
    let listed = (store.list(&target.bucket, prefix).await).map_err(|source| FeedError::Store {
        what: format!("listing s3://{}/{prefix}", target.bucket),
        source,
    })?;
    let mut files = Vec::new();
    for l in listed {
        let rest = &l.key[target.prefix.len().min(l.key.len())..];
        if rest.starts_with(CACHE_FOLDER) || !wanted(&l.key) {
            continue;
        }
        if let Some(bytes) = read(store, &target.bucket, &l.key, budget).await? {
            files.push((l.key, bytes));
        }
    }
    Ok(files)
}
