//! Reading a member's bytes: within the member, expanded-bytes and ratio limits and the time
//! left, each chunk held against the budget before it is kept (in memory, or spooled when
//! memory cannot hold it beside what the object holds already).

use std::io::Read;
use std::time::Instant;

use super::{Flow, Incomplete, Walk};
use crate::config::settings;
use crate::store::{Buffer, Full};

/// Expanded bytes below this never count against the ratio: small archives of repetitive text
/// legitimately expand a lot.
const RATIO_FLOOR: u64 = 1 << 20;

impl Walk<'_> {
    /// The bytes `reader` gives, and the error that ended them early, if one did (what came
    /// before it is kept). `Err` says how the walk goes on when they could not be read: past
    /// this member (`Skip`: it cannot be held, ever), or not at all (a limit, no room now).
    pub(super) fn read(
        &mut self,
        reader: &mut dyn Read,
        path: &[String],
    ) -> Result<(Buffer, Option<String>), Flow> {
        let cap = self
            .limits
            .max_member_size
            .min(self.limits.max_expanded.saturating_sub(self.out.expanded));
        let mut room = self.budget.room(self.holding);
        let mut chunk = [0u8; 64 * 1024];
        let mut failed = None;
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            };
            self.out.expanded += n as u64;
            if let Some(limit) = self.over_a_limit(room.len() + n as u64, cap) {
                let at = self.at(path);
                return Err(self.stop(format!("{limit} reached at {at}")));
            }
            if Instant::now() >= self.deadline {
                return Err(self.timed_out(path));
            }
            if let Err(full) = room.extend(&chunk[..n]) {
                return Err(self.full(full, path));
            }
        }
        match room.finish() {
            Ok(buffer) => Ok((buffer, failed)),
            Err(e) => Err(self.full_now(format!("mapping its spool file failed: {e}"), path)),
        }
    }

    /// The limit that `member` expanded bytes (of at most `cap`) break, if any.
    fn over_a_limit(&self, member: u64, cap: u64) -> Option<String> {
        let l = self.limits;
        if member > l.max_member_size {
            return Some(format!(
                "ARCHIVE_MAX_MEMBER_SIZE ({} bytes)",
                l.max_member_size
            ));
        }
        if member > cap || self.out.expanded > l.max_expanded {
            return Some(format!("ARCHIVE_MAX_EXPANDED ({} bytes)", l.max_expanded));
        }
        let allowed = l.max_ratio.saturating_mul(self.root_size);
        (self.out.expanded > RATIO_FLOOR && self.out.expanded > allowed).then(|| {
            format!(
                "ARCHIVE_MAX_RATIO ({}: {} bytes expanded from {})",
                l.max_ratio, self.out.expanded, self.root_size
            )
        })
    }

    /// A member the budget had no room for: never (the member is `Unscannable`, naming the
    /// setting to raise; the others are still scanned), or not now (the object is tried again
    /// later, when other objects have let go of their room).
    fn full(&mut self, full: Full, path: &[String]) -> Flow {
        let at = self.at(path);
        let beside = self.holding.bytes();
        match full {
            Full::Never {
                needed,
                memory,
                spool: None,
            } => {
                self.unscannable(format!(
                    "{at} needs more than {needed} bytes, more than {} ({memory} bytes) holds \
                     beside the {beside} bytes of the object and its containers (raise it, or \
                     turn on {})",
                    settings::MAX_OBJECT_SIZE.name,
                    settings::SPOOL_DIR.name
                ));
                Flow::Skip
            }
            Full::Never {
                needed,
                spool: Some(spool),
                ..
            } => {
                self.unscannable(format!(
                    "{at} needs more than {needed} bytes, more than {} ({spool} bytes) holds \
                     beside the {beside} bytes of the object and its containers (raise the \
                     function's ephemeral storage)",
                    settings::MAX_SPOOL_SIZE.name
                ));
                Flow::Skip
            }
            Full::Busy { needed } => self.full_now(
                format!("no room for {needed} bytes while other objects are scanned"),
                path,
            ),
        }
    }

    /// No room now: the object is tried again later (unless a match decides it).
    fn full_now(&mut self, why: String, path: &[String]) -> Flow {
        let at = self.at(path);
        self.out.incomplete = Some(Incomplete::NoRoom(format!("{at}: {why}")));
        Flow::Stop
    }
}
