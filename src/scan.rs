//! Scanning: YARA-X rules, loaded once per process, applied to object bytes on a blocking
//! thread with a timeout. The rules can come from anywhere; the embedded set is compiled from
//! `signatures/` by `build.rs`, so start-up only deserializes.

use std::cell::RefCell;
use std::path::Path;
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

mod externals;
pub use externals::EXTERNALS;

/// A rule that matched, with its metadata (`description`, `severity`, …), as values' text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The rule's name.
    pub rule: String,
    /// The rule's namespace.
    pub namespace: String,
    /// The rule's `meta` entries, in order, each value as text.
    pub meta: Vec<(String, String)>,
    /// Where it matched when not in the object's own bytes: the archive member's path, such
    /// as `a.zip>b.tar>eicar.com`.
    pub member: Option<String>,
}

impl From<&str> for Match {
    fn from(rule: &str) -> Match {
        Match::named(rule)
    }
}

impl Match {
    /// A match of the rule `rule` with no metadata (tests, local tools).
    pub fn named(rule: impl Into<String>) -> Match {
        Match {
            rule: rule.into(),
            namespace: "default".into(),
            meta: Vec::new(),
            member: None,
        }
    }

    /// The rule, after the member it matched in when that is not the object itself:
    /// `a.zip>b.tar>eicar.com:EICAR_Test_File`.
    pub fn label(&self) -> String {
        match &self.member {
            Some(member) => format!("{member}:{}", self.rule),
            None => self.rule.clone(),
        }
    }

    /// The names of `matches`, in order.
    pub fn names(matches: &[Match]) -> Vec<&str> {
        matches.iter().map(|m| m.rule.as_str()).collect()
    }

    fn of(rule: &yara_x::Rule<'_, '_>) -> Match {
        Match {
            rule: rule.identifier().to_owned(),
            namespace: rule.namespace().to_owned(),
            meta: rule
                .metadata()
                .map(|(k, v)| (k.to_owned(), meta_text(&v)))
                .collect(),
            member: None,
        }
    }
}

fn meta_text(value: &yara_x::MetaValue<'_>) -> String {
    match value {
        yara_x::MetaValue::Integer(i) => i.to_string(),
        yara_x::MetaValue::Float(f) => f.to_string(),
        yara_x::MetaValue::Bool(b) => b.to_string(),
        yara_x::MetaValue::String(s) => (*s).to_owned(),
        yara_x::MetaValue::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// Compiled rules and their identity (a short hash written in tags and logs), shared by every
/// scan in the process.
///
/// The rules live as long as the process: a rule set is loaded once at start-up, and this lets
/// each thread keep a `Scanner` for it between objects (setting one up costs far more than
/// scanning a small object).
#[derive(Clone)]
pub struct RuleSet {
    rules: &'static Rules,
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
        let id = hex::encode(&Sha256::digest(bytes)[..6]);
        Ok(RuleSet::new(rules, id))
    }

    /// Wraps compiled rules with an identity of the caller's choosing.
    pub fn new(rules: Rules, id: impl Into<String>) -> RuleSet {
        RuleSet {
            rules: Box::leak(Box::new(rules)),
            id: id.into(),
        }
    }

    /// The rules in yara-x's serialized form (what `from_serialized` loads).
    pub fn serialize(&self) -> Result<Vec<u8>, ScanError> {
        self.rules
            .serialize()
            .map_err(|e| ScanError::Load(e.to_string()))
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

    /// How long one object may take to scan.
    pub fn timeout(&self) -> Duration {
        self.timeout
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
    ) -> Result<Vec<Match>, ScanError> {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || engine.scan_bytes(data.as_ref()))
            .await
            .map_err(|e| ScanError::Failed(format!("scan task ended abnormally: {e}")))?
    }

    /// Scans `data` on the calling thread within `timeout`, with the [`EXTERNALS`] set to
    /// `externals` (in their order).
    pub fn scan_with(
        &self,
        data: &[u8],
        externals: [&str; 5],
        timeout: Duration,
    ) -> Result<Vec<Match>, ScanError> {
        let timeout = timeout.min(self.timeout);
        self.with_scanner(timeout, |scanner| {
            for (name, value) in EXTERNALS.iter().zip(externals) {
                // Rules compiled elsewhere may not declare them: nothing to fill in then.
                let _ = scanner.set_global(name, value);
            }
            scanner
                .scan(data)
                .map(|r| matches(&r))
                .map_err(|e| scan_error(e, timeout))
        })
    }

    /// Scans `data` on the calling thread; returns the matching rules.
    pub fn scan_bytes(&self, data: &[u8]) -> Result<Vec<Match>, ScanError> {
        self.with_scanner(self.timeout, |scanner| {
            scanner
                .scan(data)
                .map(|r| matches(&r))
                .map_err(|e| scan_error(e, self.timeout))
        })
    }

    /// Scans a local file through a memory map.
    pub fn scan_file(&self, path: &Path) -> Result<Vec<Match>, ScanError> {
        self.with_scanner(self.timeout, |scanner| {
            scanner
                .scan_file(path)
                .map(|r| matches(&r))
                .map_err(|e| match e {
                    yara_x::ScanError::OpenError { err, .. }
                    | yara_x::ScanError::MapError { err, .. } => ScanError::Read {
                        path: path.display().to_string(),
                        reason: err.to_string(),
                    },
                    other => scan_error(other, self.timeout),
                })
        })
    }

    /// Runs `f` with this thread's scanner for these rules, made on first use. `Scanner` is not
    /// `Send`, so each thread of the blocking pool keeps its own. A scanner whose scan failed
    /// is dropped rather than trusted again.
    fn with_scanner<T>(
        &self,
        timeout: Duration,
        f: impl FnOnce(&mut Scanner<'static>) -> Result<T, ScanError>,
    ) -> Result<T, ScanError> {
        thread_local! {
            static SCANNERS: RefCell<Vec<(usize, Scanner<'static>)>> = const { RefCell::new(Vec::new()) };
        }
        let key = std::ptr::from_ref(self.rules.rules) as usize;
        SCANNERS.with(|cell| {
            let mut scanners = cell.borrow_mut();
            let index = match scanners.iter().position(|(k, _)| *k == key) {
                Some(i) => i,
                None => {
                    scanners.push((key, Scanner::new(self.rules.rules)));
                    scanners.len() - 1
                }
            };
            let scanner = &mut scanners[index].1;
            scanner.set_timeout(timeout);
            let result = f(scanner);
            if result.is_err() {
                scanners.swap_remove(index);
            }
            result
        })
    }
}

fn scan_error(e: yara_x::ScanError, timeout: Duration) -> ScanError {
    match e {
        yara_x::ScanError::Timeout => ScanError::Timeout(timeout),
        other => ScanError::Failed(other.to_string()),
    }
}

fn matches(results: &yara_x::ScanResults<'_, '_>) -> Vec<Match> {
    results.matching_rules().map(|r| Match::of(&r)).collect()
}

#[cfg(test)]
mod tests;
