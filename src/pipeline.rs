//! The pipeline: what one running function holds for its whole life (the store, the rules,
//! the settings, the signing key and the room for objects' bytes), built once at start-up and
//! checked against S3 before the first batch. `batch.rs` and `journey.rs` add what it does.

use std::sync::Arc;
use std::time::Instant;

use crate::config::{Config, RuleSource, SigningKeySource, Spool};
use crate::forward::Forward;
use crate::publish::Publish;
use crate::rules::{self, Fingerprint};
use crate::scan::{Engine, RuleSet, RuleSets};
use crate::signature::{Purpose, SigningKey};
use crate::store::{Budget, ObjectStore, StoreError};

/// Rule files are read into memory of their own, not the objects' budget.
const RULES_MEMORY: u64 = 512 << 20;

/// A fault found at start-up: the function stops before it touches any object.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartupError {
    /// The ruleset has no rules: every object would be `Clean`.
    #[error("the ruleset has no rules; refusing to mark objects Clean without any check")]
    NoRules,
    /// A check against S3 or the spool directory failed; the message names the setting.
    #[error("{0}")]
    Preflight(String),
    /// The users' rule sets do not load; the message names the source, and file and line.
    #[error(transparent)]
    Rules(#[from] rules::RulesError),
}

/// The users' rule sets: the sets always in force beside them, and their files when last seen.
#[derive(Debug)]
struct RuleState {
    base: Vec<RuleSet>,
    fingerprint: Fingerprint,
    checked: Option<Instant>,
}

/// Everything a batch needs, built once per process.
#[derive(Debug)]
pub struct Pipeline<S> {
    pub(crate) store: S,
    pub(crate) engine: Engine,
    pub(crate) config: Config,
    pub(crate) signing_key: Option<SigningKey>,
    pub(crate) budget: Budget,
    /// Where result events go, when they are on (`RESULT_*`).
    pub(crate) publisher: Option<Arc<dyn Publish>>,
    /// Which buckets carry ONBOARD_TAG, as last read.
    pub(crate) onboarded: crate::onboard::TagCache,
    /// Where objects over `LARGE_OBJECT_SIZE` go, when it is set.
    pub(crate) forwarder: Option<Arc<dyn Forward>>,
    rule_state: tokio::sync::Mutex<RuleState>,
}

impl<S: ObjectStore> Pipeline<S> {
    /// A pipeline reading and writing through `store`. A key given inline in the settings signs
    /// verdicts; one in a secret is handed over with [`Pipeline::with_signing_key`].
    pub fn new(store: S, engine: Engine, config: Config) -> Pipeline<S> {
        let signing_key = match &config.signing_key {
            SigningKeySource::Inline(key) => Some(key.clone()),
            _ => None,
        };
        let rule_state = RuleState {
            base: engine.rules().sets().to_vec(),
            fingerprint: Fingerprint::default(),
            checked: None,
        };
        Pipeline {
            budget: budget(&config),
            store,
            engine,
            config,
            signing_key,
            publisher: None,
            onboarded: Default::default(),
            forwarder: None,
            rule_state: tokio::sync::Mutex::new(rule_state),
        }
    }

    /// The same pipeline, publishing result events through `publisher` (see
    /// `Aws::publisher`, which builds one from the settings).
    pub fn with_publisher(self, publisher: Option<Arc<dyn Publish>>) -> Pipeline<S> {
        Pipeline { publisher, ..self }
    }

    /// The same pipeline, sending objects over `LARGE_OBJECT_SIZE` to the agent's queue
    /// through `forwarder`.
    pub fn with_forwarder(self, forwarder: Option<Arc<dyn Forward>>) -> Pipeline<S> {
        Pipeline { forwarder, ..self }
    }

    /// The same pipeline, signing verdicts with `key` (read from `SIGNING_KEY_SECRET`).
    pub fn with_signing_key(self, key: Option<SigningKey>) -> Pipeline<S> {
        Pipeline {
            signing_key: key.or(self.signing_key),
            ..self
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store objects are read from and written to.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The engine that scans.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads the users' rule sets (`RULES`) and puts them in force beside the embedded one. At
    /// start-up, where a set that does not load stops the function.
    pub async fn load_rules(&self) -> Result<(), StartupError> {
        if self.config.rules.is_empty() && self.config.allow_hashes.is_empty() {
            return Ok(());
        }
        let in_s3 = |s: &RuleSource| matches!(s, RuleSource::S3 { .. });
        if self.signing_key.is_none() && self.config.rules.iter().any(in_s3) {
            tracing::warn!(
                "no compiled rules cache without a signing key (nothing could authenticate it): \
                 every cold start compiles the RULES in S3; set SIGNING_KEY_SECRET (SIGNING_KEY \
                 for local runs) to cache them"
            );
        }
        let mut state = self.rule_state.lock().await;
        self.put_in_force(&mut state).await?;
        Ok(())
    }

    /// Checks the users' rule sets when `RULES_REFRESH_SECS` have passed since the last check
    /// (one listing per source), and puts changed ones in force. A set that does not load is
    /// rejected, its errors logged with file and line, and the rules in force stay.
    pub async fn refresh_rules(&self) {
        let Some(every) = self
            .config
            .rules_refresh
            .filter(|_| !self.config.rules.is_empty() || !self.config.allow_hashes.is_empty())
        else {
            return;
        };
        // Another batch of this process is checking already.
        let Ok(mut state) = self.rule_state.try_lock() else {
            return;
        };
        if state.checked.is_some_and(|t| t.elapsed() < every) {
            return;
        }
        state.checked = Some(Instant::now());
        let sources = [&self.config.rules[..], &self.config.allow_hashes[..]].concat();
        let changed = match rules::fingerprint(&self.store, &sources).await {
            Ok(now) => now != state.fingerprint,
            Err(e) => {
                tracing::error!(error = %e, "cannot check the rule sets; the rules in force stay");
                return;
            }
        };
        if changed && let Err(e) = self.put_in_force(&mut state).await {
            tracing::error!(error = %e, rules = self.engine.rules().id(), "rule set update rejected; the rules in force stay");
        }
    }

    async fn put_in_force(&self, state: &mut RuleState) -> Result<(), rules::RulesError> {
        let budget = Budget::memory(RULES_MEMORY);
        let cache_key = self
            .signing_key
            .as_ref()
            .map(|k| k.derive(Purpose::RulesCache));
        let trust = rules::Trust {
            cache_key: cache_key.as_ref(),
            yarc_sha256: &self.config.rules_yarc_sha256,
        };
        let loaded = rules::load(&self.store, &self.config.rules, &budget, trust).await?;
        let (allowed, allow_files) =
            rules::load_allowed(&self.store, &self.config.allow_hashes, &budget).await?;
        let all = state.base.iter().cloned().chain(loaded.sets).collect();
        let sets = RuleSets::with_hashes(all, loaded.hashes).allowing(allowed);
        // Which feed files (and versions) this `scan-rules` identity stands for.
        let feeds: Vec<String> = (loaded.fingerprint)
            .in_folder(crate::config::FEEDS_FOLDER)
            .map(|e| format!("{} ({})", e.name, e.version))
            .collect();
        tracing::info!(
            ruleset = sets.id(),
            rules = sets.len(),
            hashes = sets.hashes().len(),
            allowed = sets.allowed().len(),
            compiled = loaded.compiled,
            feeds = %feeds.join(", "),
            "rules in force"
        );
        self.engine.swap(sets);
        state.fingerprint = loaded.fingerprint.and(allow_files);
        state.checked = Some(Instant::now());
        Ok(())
    }

    /// Start-up checks: rules to scan with, a writable spool directory, (when anything is
    /// quarantined) a quarantine bucket that exists, is reachable and has versioning enabled
    /// (without it, two infected versions of one key would overwrite each other's copy), and
    /// (with `PROMOTE`) staging buckets with versioning enabled.
    pub async fn preflight(&self) -> Result<(), StartupError> {
        if self.engine.rules().is_empty() {
            return Err(StartupError::NoRules);
        }
        if let Spool::Dir { dir, .. } = &self.config.spool
            && let Err(e) = tempfile::tempfile_in(dir)
        {
            return Err(StartupError::Preflight(format!(
                "SPOOL_DIR=`{}` is not a writable directory ({e}); point it at one, or set \
                 it to `off` to scan only objects up to MAX_OBJECT_SIZE",
                dir.display()
            )));
        }
        self.check_staging_buckets().await?;
        let Some(bucket) = self.config.quarantine_bucket() else {
            return Ok(());
        };
        match self.store.is_versioned(bucket).await {
            Ok(Some(true)) => Ok(()),
            Ok(None) => {
                tracing::warn!(bucket = %bucket, "cannot read the quarantine bucket's versioning; make sure it is enabled");
                Ok(())
            }
            Ok(Some(false)) => Err(StartupError::Preflight(format!(
                "QUARANTINE_BUCKET=`{bucket}` does not have versioning enabled; enable it (the \
                 stack's own quarantine bucket has it)"
            ))),
            Err(e) => Err(StartupError::Preflight(format!(
                "cannot check QUARANTINE_BUCKET=`{bucket}`: {e}"
            ))),
        }
    }

    /// Every staging bucket of `PROMOTE` must have versioning enabled: only a version id pins
    /// the bytes scanned, and a key copied by its ETag alone lets a twin of the same size and
    /// MD5, uploaded after the scan, reach production unscanned. Fails closed when the answer
    /// cannot be read.
    async fn check_staging_buckets(&self) -> Result<(), StartupError> {
        let mut staging: Vec<&str> = self
            .config
            .promote
            .iter()
            .map(|p| p.from_bucket.as_str())
            .collect();
        staging.sort_unstable();
        staging.dedup();
        for bucket in staging {
            let named = format!("PROMOTE names the staging bucket `{bucket}`");
            let problem = match self.store.is_versioned(bucket).await {
                Ok(Some(true)) => continue,
                Ok(Some(false)) => format!(
                    "{named}, which does not have versioning enabled; enable it (the stack's own \
                     protected bucket has it): without a version id, an object replaced after \
                     its scan by a twin of the same size and MD5 would be promoted unscanned"
                ),
                Ok(None) => format!(
                    "{named}, whose versioning cannot be read (GetBucketVersioning gave no \
                     readable answer); promotion needs it enabled"
                ),
                Err(e) => format!("{named}, whose versioning cannot be checked: {e}"),
            };
            return Err(StartupError::Preflight(problem));
        }
        Ok(())
    }

    /// Whether objects of `bucket` are this deployment's to judge: listed in the settings
    /// ([`Config::judges`]), or carrying ONBOARD_TAG (read through the `onboard` tag cache).
    pub(crate) async fn judged(&self, bucket: &str) -> Result<bool, StoreError> {
        if self.config.judges(bucket) {
            return Ok(true);
        }
        match self.config.onboard.active_tag() {
            Some(tag) => self.onboarded.carries(&self.store, bucket, tag).await,
            None => Ok(false),
        }
    }
}

/// Memory for objects up to `MAX_OBJECT_SIZE`, and the spool directory for larger ones: on
/// Lambda its free space is the ephemeral storage the function was given.
fn budget(config: &Config) -> Budget {
    let budget = Budget::memory(config.max_object_size);
    match &config.spool {
        Spool::Dir { dir, max } => {
            let limit = max.unwrap_or_else(|| fs4::available_space(dir).unwrap_or(0));
            if limit > config.max_object_size {
                budget.with_spool(dir.clone(), limit)
            } else {
                budget
            }
        }
        Spool::Off => budget,
    }
}

impl From<StartupError> for lambda_runtime::Diagnostic {
    fn from(e: StartupError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "StartupError".into(),
            error_message: e.to_string(),
        }
    }
}
