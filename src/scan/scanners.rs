//! Each thread's scanners. yara-x's `Scanner` borrows its rules and is not `Send`, and setting
//! one up costs far more than scanning a small object, so each thread of the blocking pool
//! keeps one per rule set it has scanned with. A scanner owns a share of its rules, so they
//! outlive it; once no `RuleSet` holds them any more (a reload replaced them, a feed update's
//! canary round ended), the thread's next scan drops its scanner, and with the last one the
//! rules are freed: a process that reloads its rules every day does not grow by a set a day.

use std::cell::RefCell;
use std::sync::{Arc, Weak};
use std::time::Duration;

use yara_x::{Rules, Scanner};

use super::{RuleSet, ScanError};

self_cell::self_cell!(
    /// A scanner with the rules it borrows.
    struct Owned {
        owner: Arc<Rules>,
        #[not_covariant]
        dependent: Scanner,
    }
);

/// One thread's scanner for one rule set, and whether that set is still held anywhere.
struct Cached {
    alive: Weak<()>,
    scanner: Owned,
}

thread_local! {
    static SCANNERS: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's scanner for `set`, made on first use, within `timeout`. A
/// scanner whose scan failed is dropped rather than trusted again.
pub(super) fn with_scanner<T>(
    set: &RuleSet,
    timeout: Duration,
    f: impl for<'r> FnOnce(&mut Scanner<'r>) -> Result<T, ScanError>,
) -> Result<T, ScanError> {
    SCANNERS.with(|cell| {
        let mut scanners = cell.borrow_mut();
        scanners.retain(|cached| cached.alive.strong_count() > 0);
        let index =
            match (scanners.iter()).position(|c| c.alive.as_ptr() == Arc::as_ptr(&set.alive)) {
                Some(i) => i,
                None => {
                    scanners.push(Cached {
                        alive: Arc::downgrade(&set.alive),
                        scanner: Owned::new(set.rules.clone(), |rules| Scanner::new(rules)),
                    });
                    scanners.len() - 1
                }
            };
        let result = scanners[index].scanner.with_dependent_mut(|_, scanner| {
            scanner.set_timeout(timeout.max(Duration::from_millis(1)));
            f(scanner)
        });
        if result.is_err() {
            scanners.swap_remove(index);
        }
        result
    })
}

/// How many scanners this thread keeps (for tests).
#[cfg(test)]
pub(super) fn kept() -> usize {
    SCANNERS.with(|cell| cell.borrow().len())
}
