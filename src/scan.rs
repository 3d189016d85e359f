//! Scanning: YARA-X rules, loaded once per process, applied to object bytes on a blocking
//! thread with a timeout. The rules can come from anywhere; the embedded set is compiled from
//! `signatures/` by `build.rs`, so start-up only deserializes.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use yara_x::{Rules, Scanner};

static EMBEDDED_RULES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rules.bin"));
const EMBEDDED_ID: &str = include_str!(concat!(env!("OUT_DIR"), "/ruleset_id"));

/// Why rules could not be loaded or an object not scanned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// Serialized rules are damaged or come from another yara-x version.
    #[error("cannot load rules: {0}")]
    Load(String),
    /// The scan ran longer than the configured timeout.
    #[error("scan timed out after {0:?}")]
    Timeout(Duration),
    /// yara-x reported an error (for example a module failed on malformed data).
    #[error("scan failed: {0}")]
    Failed(String),
    /// A local file could not be read.
    #[error("cannot read `{path}`: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        reason: String,
    },
}

/// Compiled rules and their identity (a short hash written in tags and logs), shared by every
/// scan in the process.
#[derive(Clone)]
pub struct RuleSet {
    rules: Arc<Rules>,
    id: String,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("id", &self.id)
            .field("rules", &self.len())
            .finish()
    }
}

impl RuleSet {
    /// The rules built into the binary from `signatures/`.
    pub fn embedded() -> Result<RuleSet, ScanError> {
        let rules =
            Rules::deserialize(EMBEDDED_RULES).map_err(|e| ScanError::Load(e.to_string()))?;
        Ok(RuleSet::new(rules, EMBEDDED_ID))
    }

    /// Rules serialized by `Rules::serialize` with the same yara-x version; the identity is
    /// a hash of the bytes.
    pub fn from_serialized(bytes: &[u8]) -> Result<RuleSet, ScanError> {
        let rules = Rules::deserialize(bytes).map_err(|e| ScanError::Load(e.to_string()))?;
        let digest = Sha256::digest(bytes);
        let id: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Ok(RuleSet::new(rules, id))
    }

    /// Wraps compiled rules with an identity of the caller's choosing.
    pub fn new(rules: Rules, id: impl Into<String>) -> RuleSet {
        RuleSet {
            rules: Arc::new(rules),
            id: id.into(),
        }
    }

    /// Short identity of these rules.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.iter().len()
    }

    /// True when there are no rules (every object would be `Clean`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Names of the rules, with their `description` meta when they have one.
    pub fn describe(&self) -> Vec<(String, Option<String>)> {
        self.rules
            .iter()
            .map(|r| {
                let description = r.metadata().into_iter().find_map(|(k, v)| match (k, v) {
                    ("description", yara_x::MetaValue::String(s)) => Some(s.to_owned()),
                    _ => None,
                });
                (r.identifier().to_owned(), description)
            })
            .collect()
    }
}

/// Scans bytes with a [`RuleSet`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: RuleSet,
    timeout: Duration,
}

impl Engine {
    /// An engine whose scans give up after `timeout`.
    pub fn new(rules: RuleSet, timeout: Duration) -> Engine {
        Engine { rules, timeout }
    }

    /// The rules in use.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Scans `data` on the blocking thread pool, which keeps the async runtime free to move
    /// other objects' bytes meanwhile. `data` is dropped on that thread when the scan ends.
    pub async fn scan(
        &self,
        data: impl AsRef<[u8]> + Send + 'static,
    ) -> Result<Vec<String>, ScanError> {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || engine.scan_bytes(data.as_ref()))
            .await
            .map_err(|e| ScanError::Failed(format!("scan task ended abnormally: {e}")))?
    }

    /// Scans `data` on the calling thread; returns the names of the matching rules.
    pub fn scan_bytes(&self, data: &[u8]) -> Result<Vec<String>, ScanError> {
        let mut scanner = self.scanner();
        let results = scanner.scan(data).map_err(|e| self.scan_error(e))?;
        Ok(rule_names(&results))
    }

    /// `Scanner` is not `Send`, so it is made on the thread that uses it.
    fn scanner(&self) -> Scanner<'_> {
        let mut scanner = Scanner::new(&self.rules.rules);
        scanner.set_timeout(self.timeout);
        scanner
    }

    /// Scans a local file through a memory map.
    pub fn scan_file(&self, path: &Path) -> Result<Vec<String>, ScanError> {
        let mut scanner = self.scanner();
        let results = scanner.scan_file(path).map_err(|e| match e {
            yara_x::ScanError::OpenError { err, .. } | yara_x::ScanError::MapError { err, .. } => {
                ScanError::Read {
                    path: path.display().to_string(),
                    reason: err.to_string(),
                }
            }
            other => self.scan_error(other),
        })?;
        Ok(rule_names(&results))
    }

    fn scan_error(&self, e: yara_x::ScanError) -> ScanError {
        match e {
            yara_x::ScanError::Timeout => ScanError::Timeout(self.timeout),
            other => ScanError::Failed(other.to_string()),
        }
    }
}

fn rule_names(results: &yara_x::ScanResults<'_, '_>) -> Vec<String> {
    results
        .matching_rules()
        .map(|r| r.identifier().to_owned())
        .collect()
}

#[cfg(test)]
mod tests;
