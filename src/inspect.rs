//! Looking inside: an object's bytes are scanned, and so, recursively, is what they contain
//! (zip, tar and 7z members; gzip, bzip2, xz and zstd streams; archives embedded in other
//! bytes, `embedded`), and what its `Content-Encoding` decodes to (`encoding`). Members are
//! held against the memory budget as they are decoded, spooled when memory cannot hold them.
//! Limits against bombs (depth, members, expanded bytes, expansion ratio, member size, time)
//! end the look with `Unscannable` naming the limit, never `Clean`; so does a container that
//! breaks, or uses what cannot be decoded, once it was recognised (`walk`). A match anywhere
//! makes the object `Infected` all the same.

use std::sync::Arc;
use std::time::Duration;

use crate::object::ObjectRef;
use crate::policy::{Policy, TrueType};
use crate::scan::{Engine, Match, RuleSets, ScanError};
use crate::store::{Budget, Buffer, Hold, Holding};
use crate::verdict::Verdict;

pub mod embedded;
pub mod encoding;
pub mod formats;
pub(crate) mod true_type;
mod walk;

use formats::Format;
use walk::Walk;

pub use crate::config::{ArchiveLimits as Limits, Encrypted};

/// The rule name an encrypted member matches with `ARCHIVE_ENCRYPTED=infected`.
pub const ENCRYPTED_RULE: &str = "Encrypted_Archive_Member";

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
    /// The object's type, by its bytes (the `filetype` external; empty when unknown).
    pub filetype: String,
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

/// An object's bytes as stored, with what they hold of the budget and the `Content-Encoding`
/// they were stored with.
#[derive(Debug, Clone, Copy)]
pub struct Body<'a> {
    /// The bytes.
    pub bytes: &'a [u8],
    /// The room they hold (members are held beside it).
    pub holding: Holding,
    /// The object's `Content-Encoding`, if any.
    pub encoding: Option<&'a str>,
    /// The object's `Content-Type`, if any.
    pub content_type: Option<&'a str>,
}

impl<'a> Body<'a> {
    /// Bytes that hold no room and have no encoding (tests).
    pub fn bytes(bytes: &'a [u8]) -> Body<'a> {
        Body {
            bytes,
            holding: Holding::default(),
            encoding: None,
            content_type: None,
        }
    }

    /// `buffer`'s bytes, stored as `stored` says.
    pub fn of(buffer: &'a Buffer, stored: &'a Stored) -> Body<'a> {
        Body {
            bytes: buffer.as_ref(),
            holding: Holding::of(buffer),
            encoding: stored.encoding.as_deref(),
            content_type: stored.content_type.as_deref(),
        }
    }
}

/// How an object's bytes were stored: the headers that say what they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// Its `Content-Encoding`.
    pub encoding: Option<String>,
    /// Its `Content-Type`.
    pub content_type: Option<String>,
}

/// How far an inspection looks, and the policies it judges with.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// How far to look.
    pub limits: &'a Limits,
    /// The policies.
    pub policy: &'a Policy,
}

/// Scans `body`, the bytes of `object` (stored as `stored` says), and what they contain on
/// the blocking thread pool, once the engine has a scan slot, within the engine's scan timeout
/// in all; judges them with `scope`'s policies. `body` is dropped on that thread at the end.
pub async fn inspect_async(
    engine: &Engine,
    rules: Arc<RuleSets>,
    body: Buffer,
    stored: Stored,
    object: &ObjectRef,
    scope: Scope<'_>,
    budget: &Budget,
) -> Result<Inspection, ScanError> {
    let (scanner, object, limits, policy, budget) = (
        engine.clone(),
        object.clone(),
        scope.limits.clone(),
        scope.policy.clone(),
        budget.clone(),
    );
    engine
        .on_a_slot(move || {
            let look = Look {
                engine: &scanner,
                rules: &rules,
                limits: &limits,
                policy: &policy,
                budget: &budget,
            };
            let body = Body::of(&body, &stored);
            inspect_body(&look, body, &object, scanner.timeout())
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
    /// The policies that judge what is looked at.
    pub policy: &'a Policy,
    /// The memory budget.
    pub budget: &'a Budget,
}

/// Scans `data`, the bytes of `object` (holding no room, with no encoding), and what they
/// contain, with `look`, within `timeout` in all.
pub fn inspect(look: &Look<'_>, data: &[u8], object: &ObjectRef, timeout: Duration) -> Inspection {
    inspect_body(look, Body::bytes(data), object, timeout)
}

/// Scans `body`, the bytes of `object`, what they contain and what they decode to, with
/// `look`, within `timeout` in all.
pub fn inspect_body(
    look: &Look<'_>,
    body: Body<'_>,
    object: &ObjectRef,
    timeout: Duration,
) -> Inspection {
    let mut walk = Walk::new(look, object, body, timeout);
    let root = Subject::of(&object.bucket, &object.key, body.bytes);
    walk.root(body, &root);
    walk.finish()
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
    let hold = look.budget.try_hold(len);
    if !matches!(hold, Hold::Held(_)) {
        return Ok(Inspection {
            incomplete: Some(Incomplete::Unscannable(format!(
                "{len} bytes is more than MAX_OBJECT_SIZE"
            ))),
            ..Inspection::default()
        });
    }
    let data = std::fs::read(path).map_err(unreadable)?;
    let object = ObjectRef::new("", path.display().to_string());
    let body = Body {
        holding: Holding::of_hold(&hold),
        ..Body::bytes(&data)
    };
    Ok(inspect_body(look, body, &object, timeout))
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
    /// The type by its bytes, as policies name it.
    pub kind: TrueType,
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
            filetype: filetype(data),
            owner: String::new(),
            kind: true_type::detect(data),
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

/// The type of a file by its bytes, named as THOR and LOKI rules test `filetype`: their
/// names first (`EXE`, `PDF`…), then the containers looked into (`ZIP`, `MAIL`…), then what
/// the `infer` crate knows (images, media, fonts, other archives), by its usual extension in
/// capitals (`PNG`, `MP4`); empty when unknown.
fn filetype(data: &[u8]) -> String {
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
        return (*name).to_owned();
    }
    if let Some(format) = Format::sniff(data) {
        return format.name().to_owned();
    }
    infer::get(data).map_or_else(String::new, |t| t.extension().to_uppercase())
}

#[cfg(test)]
mod budget_tests;
#[cfg(test)]
mod fail_closed_tests;
#[cfg(test)]
mod hidden_tests;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod tests;
