//! Scanning: compiled YARA-X rule sets applied to bytes on a blocking thread, with a timeout.
//! The embedded set is compiled from `signatures/` by `build.rs`, so start-up only
//! deserializes; users' own sets, which the `rules` module loads from their sources, join it
//! (`compiled.rs`: the sets in force and their identity) and are swapped in while scans go on.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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

mod compiled;
mod externals;
mod hashes;
mod matches;
mod sample;
mod scanners;
pub mod serialized;

pub use compiled::{RuleSet, RuleSets};
pub use externals::EXTERNALS;
pub use hashes::HashList;
pub use matches::{Match, POLICY_NAMESPACE};
pub use sample::EICAR;
pub use serialized::TARGET;

/// Scans bytes with the rule sets in force. Cheap to clone: clones share the rule sets, and a
/// swap ([`Engine::swap`]) is seen by all of them.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: Arc<ArcSwap<RuleSets>>,
    timeout: Duration,
    /// Scans (and archive inspections) running at once: one per vCPU. Many objects are in
    /// flight at once (`MAX_CONCURRENCY`), but scanning is CPU work: more scans than vCPUs
    /// would only share them, stretching each scan past its wall-clock timeout, and hold more
    /// decoders and per-thread scanners in memory. A scan's timeout starts once it has a slot.
    slots: Arc<Semaphore>,
}

impl Engine {
    /// An engine with one rule set, whose scans give up after `timeout`.
    pub fn new(rules: RuleSet, timeout: Duration) -> Engine {
        Engine::with_sets(RuleSets::new(vec![rules]), timeout)
    }

    /// An engine with `sets` in force.
    pub fn with_sets(sets: RuleSets, timeout: Duration) -> Engine {
        let vcpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Engine {
            rules: Arc::new(ArcSwap::from_pointee(sets)),
            timeout,
            slots: Arc::new(Semaphore::new(vcpus)),
        }
    }

    /// Waits for a slot to scan in.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, ScanError> {
        (self.slots.clone().acquire_owned().await)
            .map_err(|e| ScanError::Failed(format!("no scan slot: {e}")))
    }

    /// Runs `work` (a scan, an inspection) on the blocking thread pool once a slot is free. The
    /// slot is given back when `work` ends on its thread, even when the task that awaited it
    /// has gone.
    pub async fn on_a_slot<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ScanError> {
        let slot = self.slot().await?;
        tokio::task::spawn_blocking(move || {
            let done = work();
            drop(slot);
            done
        })
        .await
        .map_err(|e| ScanError::Failed(format!("scan task ended abnormally: {e}")))
    }

    /// How long one object may take to scan.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The rule sets in force now. One object is scanned, and its verdict tagged, with one
    /// such snapshot, whatever swap happens meanwhile.
    pub fn rules(&self) -> Arc<RuleSets> {
        self.rules.load_full()
    }

    /// Puts `sets` in force for every scan that starts from now on.
    pub fn swap(&self, sets: RuleSets) {
        self.rules.store(Arc::new(sets));
    }

    /// Scans `data` with each set of `rules` on the calling thread, within `timeout` in all,
    /// with the [`EXTERNALS`] set to `externals` (in their order).
    pub fn scan_with(
        &self,
        rules: &RuleSets,
        data: &[u8],
        externals: [&str; 5],
        timeout: Duration,
    ) -> Result<Vec<Match>, ScanError> {
        let timeout = timeout.min(self.timeout);
        let started = std::time::Instant::now();
        let mut found = Vec::new();
        for set in rules.sets() {
            let left = timeout.saturating_sub(started.elapsed());
            found.extend(scanners::with_scanner(set, left, |scanner| {
                for (name, value) in EXTERNALS.iter().zip(externals) {
                    // Rules compiled elsewhere may not declare them: nothing to fill in then.
                    let _ = scanner.set_global(name, value);
                }
                scanner
                    .scan(data)
                    .map(|r| matches::matches(&r))
                    .map_err(|e| scan_error(e, timeout))
            })?);
        }
        // Bytes already in memory: no second read.
        found.extend(rules.hashes().matches(data));
        Ok(found)
    }

    /// Scans `data` on the calling thread with the rules in force; returns the matches.
    pub fn scan_bytes(&self, data: &[u8]) -> Result<Vec<Match>, ScanError> {
        self.scan_with(&self.rules(), data, [""; 5], self.timeout)
    }
}

fn scan_error(e: yara_x::ScanError, timeout: Duration) -> ScanError {
    match e {
        yara_x::ScanError::Timeout => ScanError::Timeout(timeout),
        other => ScanError::Failed(other.to_string()),
    }
}

#[cfg(test)]
mod tests;
