//! The pipeline: what one running function holds for its whole life (the store, the rules,
//! the settings, the signing key and the room for objects' bytes), built once at start-up and
//! checked against S3 before the first batch. `batch.rs` and `journey.rs` add what it does.

use crate::config::{Config, SigningKeySource, Spool};
use crate::scan::Engine;
use crate::signature::SigningKey;
use crate::store::{Budget, ObjectStore};

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
}

/// Everything a batch needs, built once per process.
#[derive(Debug)]
pub struct Pipeline<S> {
    pub(crate) store: S,
    pub(crate) engine: Engine,
    pub(crate) config: Config,
    pub(crate) signing_key: Option<SigningKey>,
    pub(crate) budget: Budget,
}

impl<S: ObjectStore> Pipeline<S> {
    /// A pipeline reading and writing through `store`. A key given inline in the settings signs
    /// verdicts; one in a secret is handed over with [`Pipeline::with_signing_key`].
    pub fn new(store: S, engine: Engine, config: Config) -> Pipeline<S> {
        let signing_key = match &config.signing_key {
            SigningKeySource::Inline(key) => Some(key.clone()),
            _ => None,
        };
        Pipeline {
            budget: budget(&config),
            store,
            engine,
            config,
            signing_key,
        }
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

    /// Start-up checks: rules to scan with, a writable spool directory, and (when anything is
    /// quarantined) a quarantine bucket that exists, is reachable and has versioning enabled
    /// (without it, two infected versions of one key would overwrite each other's copy).
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
