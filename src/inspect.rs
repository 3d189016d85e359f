//! Looking inside: an object's bytes are scanned, and so, recursively, is what they contain
//! (zip, tar and 7z members; gzip, bzip2, xz and zstd streams, which is also how objects stored
//! with `Content-Encoding: gzip` are scanned decoded). Limits against bombs (depth, members,
//! expanded bytes, expansion ratio, member size, time) end the look with `Unscannable` naming
//! the limit, never `Clean`; a match anywhere makes the object `Infected` all the same.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::object::ObjectRef;
use crate::scan::{Engine, Match, RuleSets, ScanError};
use crate::store::{Budget, Hold};
use crate::verdict::Verdict;

pub mod formats;

use formats::{Flow, Format, Member};

pub use crate::config::{ArchiveLimits as Limits, Encrypted};

/// The rule name an encrypted member matches with `ARCHIVE_ENCRYPTED=infected`.
pub const ENCRYPTED_RULE: &str = "Encrypted_Archive_Member";

/// Expanded bytes below this never count against the ratio: small archives of repetitive text
/// legitimately expand a lot.
const RATIO_FLOOR: u64 = 1 << 20;

/// What an inspection found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    /// Every match, members' with their path.
    pub matches: Vec<Match>,
    /// Why not everything was scanned, if not.
    pub incomplete: Option<Incomplete>,
    /// What could not be read but did not stop the inspection (a corrupt archive is scanned as
    /// bytes): for the log.
    pub notes: Vec<String>,
    /// Members scanned.
    pub members: u64,
    /// Their bytes, in all.
    pub expanded: u64,
}

/// Why an inspection did not scan everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incomplete {
    /// A limit was reached, or a member could not be read: the reason names the setting.
    Unscannable(String),
    /// The memory budget had no room for a member now: try again later.
    NoRoom(String),
}

impl Inspection {
    /// The verdict: `Infected` on any match but suspicious ones, else `Unscannable` when
    /// something went unscanned (what was not scanned may be worse than suspicious), else
    /// `Suspicious` or `Clean`. `Err` when the object should be looked at again later.
    pub fn verdict(self) -> Result<Verdict, String> {
        let verdict = Verdict::of_matches(self.matches);
        match (verdict, self.incomplete) {
            (v @ Verdict::Infected(_), _) | (v, None) => Ok(v),
            (v, Some(Incomplete::Unscannable(why))) => Ok(Verdict::Unscannable(also(&v, why))),
            (_, Some(Incomplete::NoRoom(why))) => Err(why),
        }
    }
}

/// `why`, and the suspicious matches when there were some.
fn also(verdict: &Verdict, why: String) -> String {
    match verdict.labels().as_slice() {
        [] => why,
        labels => format!("{why}; suspicious: {}", labels.join(" ")),
    }
}

/// Scans `data`, the bytes of `object`, and what it contains on the blocking thread pool, once
/// the engine has a scan slot, within the engine's scan timeout in all. `data` is dropped on
/// that thread at the end.
pub async fn inspect_async(
    engine: &Engine,
    rules: Arc<RuleSets>,
    data: impl AsRef<[u8]> + Send + 'static,
    object: &ObjectRef,
    limits: &Limits,
    budget: &Budget,
) -> Result<Inspection, ScanError> {
    let (scanner, object, limits, budget) = (
        engine.clone(),
        object.clone(),
        limits.clone(),
        budget.clone(),
    );
    engine
        .on_a_slot(move || {
            let look = Look {
                engine: &scanner,
                rules: &rules,
                limits: &limits,
                budget: &budget,
            };
            inspect(&look, data.as_ref(), &object, scanner.timeout())
        })
        .await
}

/// What an inspection looks with: the engine and the rules in force, how far it may go, and
/// the memory members' bytes are held against while they are scanned.
pub struct Look<'a> {
    /// The engine that scans.
    pub engine: &'a Engine,
    /// The rules that judge this object.
    pub rules: &'a RuleSets,
    /// How far to look.
    pub limits: &'a Limits,
    /// The memory budget.
    pub budget: &'a Budget,
}

/// Scans `data`, the bytes of `object`, and what they contain, with `look`, within `timeout`
/// in all.
pub fn inspect(look: &Look<'_>, data: &[u8], object: &ObjectRef, timeout: Duration) -> Inspection {
    let mut walk = Walk {
        engine: look.engine,
        rules: look.rules,
        limits: look.limits,
        budget: look.budget,
        deadline: Instant::now() + timeout,
        timeout,
        root_size: data.len() as u64,
        root: object.key.rsplit('/').next().unwrap_or_default().to_owned(),
        out: Inspection::default(),
    };
    let root = Subject::of(&object.bucket, &object.key, data);
    walk.bytes(data, &mut Vec::new(), &root);
    walk.out
}

/// Inspects a local file (the command line's `scan`) as [`inspect`] does an object's bytes.
/// Its bytes are read into memory held against the budget: a file larger than it has room
/// for is `Unscannable`, as an object over `MAX_OBJECT_SIZE` is.
pub fn inspect_file(
    look: &Look<'_>,
    path: &std::path::Path,
    timeout: Duration,
) -> Result<Inspection, ScanError> {
    let unreadable = |e: std::io::Error| ScanError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let len = std::fs::metadata(path).map_err(unreadable)?.len();
    let Hold::Held(_hold) = look.budget.try_hold(len) else {
        return Ok(Inspection {
            incomplete: Some(Incomplete::Unscannable(format!(
                "{len} bytes is more than MAX_OBJECT_SIZE"
            ))),
            ..Inspection::default()
        });
    };
    let data = std::fs::read(path).map_err(unreadable)?;
    let object = ObjectRef::new("", path.display().to_string());
    Ok(inspect(look, &data, &object, timeout))
}

/// A member's bytes, and the memory they hold until dropped.
struct Held {
    data: Vec<u8>,
    _hold: Hold,
}

struct Walk<'a> {
    engine: &'a Engine,
    rules: &'a RuleSets,
    limits: &'a Limits,
    budget: &'a Budget,
    deadline: Instant,
    timeout: Duration,
    root_size: u64,
    /// The object's name, first in every member path.
    root: String,
    out: Inspection,
}

impl Walk<'_> {
    /// Scans `data` (the member at `path`; the object itself when empty), then its members.
    fn bytes(&mut self, data: &[u8], path: &mut Vec<String>, subject: &Subject) -> Flow {
        if self.scan(data, path, subject) == Flow::Stop {
            return Flow::Stop;
        }
        let Some(format) = Format::sniff(data) else {
            return Flow::Continue;
        };
        if path.len() >= self.limits.max_depth {
            return self.stop(format!(
                "ARCHIVE_MAX_DEPTH ({}) reached at {}",
                self.limits.max_depth,
                self.at(path)
            ));
        }
        let mut flow = Flow::Continue;
        let name = subject.filename.clone();
        let read = formats::each_member(format, &name, data, &mut |member| {
            flow = self.member(member, path, subject);
            flow
        });
        if let Err(why) = read {
            let at = self.at(path);
            self.out
                .notes
                .push(format!("{} {at} not read in full: {why}", format.name()));
        }
        flow
    }

    /// Scans `data` itself, with what time is left.
    fn scan(&mut self, data: &[u8], path: &[String], subject: &Subject) -> Flow {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return self.timed_out(path);
        }
        match self
            .engine
            .scan_with(self.rules, data, subject.values(), left)
        {
            Ok(found) => {
                let member = (!path.is_empty()).then(|| self.at(path));
                self.out.matches.extend(found.into_iter().map(|m| Match {
                    member: member.clone(),
                    ..m
                }));
                Flow::Continue
            }
            Err(ScanError::Timeout(_)) => self.timed_out(path),
            Err(e) => self.stop(format!("{} at {}", e, self.at(path))),
        }
    }

    /// Reads `member` of the container at `path`, then scans it and what it contains.
    fn member(&mut self, member: Member<'_>, path: &mut Vec<String>, parent: &Subject) -> Flow {
        self.out.members += 1;
        if self.out.members > self.limits.max_members {
            return self.stop(format!(
                "ARCHIVE_MAX_MEMBERS ({}) reached in {}",
                self.limits.max_members,
                self.at(path)
            ));
        }
        path.push(member.name.clone());
        let flow = if member.encrypted {
            self.encrypted(path)
        } else {
            match self.read(member.reader, path) {
                Ok(held) => {
                    let subject = parent.member(&member.name, &held.data);
                    self.bytes(&held.data, path, &subject)
                }
                Err(()) => Flow::Stop,
            }
        };
        path.pop();
        flow
    }

    /// An encrypted member: a detection, or a reason the object was not scanned in full. The
    /// other members are still scanned: a match among them decides.
    fn encrypted(&mut self, path: &[String]) -> Flow {
        let at = self.at(path);
        match self.limits.encrypted {
            Encrypted::Infected => self.out.matches.push(Match {
                member: Some(at),
                ..Match::named(ENCRYPTED_RULE)
            }),
            Encrypted::Unscannable => {
                if self.out.incomplete.is_none() {
                    self.out.incomplete = Some(Incomplete::Unscannable(format!(
                        "encrypted member {at} (ARCHIVE_ENCRYPTED=unscannable)"
                    )));
                }
            }
        }
        Flow::Continue
    }

    /// A member's bytes, within the member, expanded-bytes and ratio limits and held against
    /// the memory budget; what a damaged member gave before the damage (noted). `Err` when the
    /// inspection must stop.
    fn read(&mut self, reader: &mut dyn Read, path: &[String]) -> Result<Held, ()> {
        let cap = self
            .limits
            .max_member_size
            .min(self.limits.max_expanded.saturating_sub(self.out.expanded));
        let mut data = Vec::new();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    self.out
                        .notes
                        .push(format!("{} not decoded in full: {e}", self.at(path)));
                    break;
                }
            };
            data.extend_from_slice(&chunk[..n]);
            self.out.expanded += n as u64;
            if let Some(limit) = self.over_a_limit(data.len() as u64, cap) {
                let at = self.at(path);
                self.stop(format!("{limit} reached at {at}"));
                return Err(());
            }
            if Instant::now() >= self.deadline {
                self.timed_out(path);
                return Err(());
            }
        }
        self.hold(data, path)
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

    /// Holds `data` against the memory budget while it is scanned.
    fn hold(&mut self, data: Vec<u8>, path: &[String]) -> Result<Held, ()> {
        match self.budget.try_hold(data.len() as u64) {
            hold @ Hold::Held(_) => Ok(Held { data, _hold: hold }),
            Hold::TooLarge => {
                self.stop(format!(
                    "{} is {} bytes, more than MAX_OBJECT_SIZE lets members hold",
                    self.at(path),
                    data.len()
                ));
                Err(())
            }
            Hold::Busy => {
                self.out.incomplete = Some(Incomplete::NoRoom(format!(
                    "no room in memory for {} ({} bytes) while other objects are scanned",
                    self.at(path),
                    data.len()
                )));
                Err(())
            }
        }
    }

    fn timed_out(&mut self, path: &[String]) -> Flow {
        let at = if path.is_empty() {
            String::new()
        } else {
            format!(" at {}", self.at(path))
        };
        self.stop(format!(
            "scan timed out after {:?}{at} (SCAN_TIMEOUT_SECS covers the object and its members)",
            self.timeout
        ))
    }

    /// Where `path` is: the object's name, then the members' (`a.zip>b.tar>eicar.com`).
    fn at(&self, path: &[String]) -> String {
        std::iter::once(self.root.as_str())
            .chain(path.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(">")
    }

    /// Ends the inspection: nothing more is scanned.
    fn stop(&mut self, why: String) -> Flow {
        if !matches!(self.out.incomplete, Some(Incomplete::NoRoom(_))) {
            self.out.incomplete = Some(Incomplete::Unscannable(why));
        }
        Flow::Stop
    }
}

/// What the bytes being scanned are, for rules that look at names (the [`EXTERNALS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// The file name: the key's or member's last part.
    pub filename: String,
    /// The path without the file name: the bucket and the key's folders; for a member, its
    /// container's path and name, then the member's folders.
    pub filepath: String,
    /// The extension, lower case, with its dot (`.exe`), or empty.
    pub extension: String,
    /// The type the first bytes say (`EXE`, `ELF`, `PDF`, `ZIP`…), or empty.
    pub filetype: String,
    /// The owner: unknown for S3 objects, so empty.
    pub owner: String,
}

impl Subject {
    /// The object `key` of `bucket`, whose bytes start with `data`.
    pub fn of(bucket: &str, key: &str, data: &[u8]) -> Subject {
        Subject::named(&format!("{bucket}/{key}"), data)
    }

    /// A member `name` of the container this subject describes.
    pub fn member(&self, name: &str, data: &[u8]) -> Subject {
        let container = match self.filepath.is_empty() {
            true => self.filename.clone(),
            false => format!("{}/{}", self.filepath, self.filename),
        };
        Subject::named(&format!("{container}/{name}"), data)
    }

    fn named(path: &str, data: &[u8]) -> Subject {
        let (dir, filename) = path.rsplit_once('/').unwrap_or(("", path));
        let extension = match filename.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => format!(".{}", ext.to_lowercase()),
            _ => String::new(),
        };
        Subject {
            filename: filename.to_owned(),
            filepath: dir.to_owned(),
            extension,
            filetype: filetype(data).to_owned(),
            owner: String::new(),
        }
    }

    fn values(&self) -> [&str; 5] {
        [
            &self.filename,
            &self.filepath,
            &self.extension,
            &self.filetype,
            &self.owner,
        ]
    }
}

/// The type of a file by its first bytes, named as THOR and LOKI rules test `filetype`.
fn filetype(data: &[u8]) -> &'static str {
    const TYPES: &[(&[u8], &str)] = &[
        (b"MZ", "EXE"),
        (b"\x7fELF", "ELF"),
        (b"%PDF", "PDF"),
        (b"{\\rtf", "RTF"),
        (b"<?php", "PHP"),
        (b"MDMP", "MDMP"),
        (&[0xcf, 0xfa, 0xed, 0xfe], "MACH-O"),
        (&[0xd0, 0xcf, 0x11, 0xe0], "OLE"),
    ];
    if let Some((_, name)) = TYPES.iter().find(|(magic, _)| data.starts_with(magic)) {
        return name;
    }
    Format::sniff(data).map_or("", |f| f.name())
}

#[cfg(test)]
mod tests;
