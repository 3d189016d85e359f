//! The function's timeout, as limits on each object: when objects may still start, and when
//! those in progress are abandoned, so that the batch response always leaves before Lambda's
//! timeout (which would retry the whole batch, moving innocent messages toward the DLQ).

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::report::Retry;

/// Leave at least this long between the last object abandoned and the function's timeout.
const STOP_MARGIN: Duration = Duration::from_secs(1);

/// When objects may start, and when those in progress stop.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    last_start: Option<SystemTime>,
    stop: Option<tokio::time::Instant>,
}

impl Timing {
    /// No deadline: every object runs to its end.
    pub fn unlimited() -> Timing {
        Timing {
            last_start: None,
            stop: None,
        }
    }

    /// Objects start only while there is room for the slowest scan plus the calls around it,
    /// but never later than half the time left (a function timeout at or below
    /// `scan_timeout` must still work). Every object still in progress is abandoned a little
    /// before `deadline`: waiting for room, reading, scanning, tagging or copying alike. A
    /// deadline already past is no deadline (local emulators send odd values).
    pub fn new(deadline: Option<SystemTime>, scan_timeout: Duration) -> Timing {
        let left = deadline.and_then(|d| d.duration_since(SystemTime::now()).ok());
        let (Some(deadline), Some(left)) = (deadline, left.filter(|l| !l.is_zero())) else {
            return Timing::unlimited();
        };
        let reserve = scan_timeout + Duration::from_secs(2);
        if reserve >= left {
            tracing::warn!(
                left_ms = left.as_millis() as u64,
                "SCAN_TIMEOUT_SECS is not well below the function timeout; lower it"
            );
        }
        Timing {
            last_start: Some(deadline - reserve.min(left / 2)),
            stop: Some(tokio::time::Instant::now() + (left - STOP_MARGIN.min(left / 4))),
        }
    }

    /// Runs `work` (an object's journey) within these limits: `Err` says why it did not
    /// start, or was abandoned.
    pub async fn run<T>(&self, work: impl Future<Output = T>) -> Result<T, Retry> {
        if self.last_start.is_some_and(|t| SystemTime::now() >= t) {
            return Err(Retry::NotStarted);
        }
        match self.stop {
            Some(stop) => tokio::time::timeout_at(stop, work)
                .await
                .map_err(|_| Retry::Abandoned),
            None => Ok(work.await),
        }
    }
}
