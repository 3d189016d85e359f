//! What a download holds: a rule package's YARA sources (a zip or a tar.gz of `.yar`/`.yara`
//! files, or one such file), unpacked within the archive limits (`ARCHIVE_MAX_MEMBERS`,
//! `ARCHIVE_MAX_MEMBER_SIZE`, and `FEEDS_MAX_SIZE` for all of it), and a hash list's digests.

use std::io::{Cursor, Read};

use flate2::read::GzDecoder;

use super::FeedError;
use crate::config::{ArchiveLimits, FeedKind};

/// Limits of one unpacking.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Members in all.
    pub members: u64,
    /// Bytes of one member.
    pub member_size: u64,
    /// Bytes unpacked in all.
    pub total: u64,
}

impl Limits {
    /// The archive limits of the scanner, and the feeds' size limit.
    pub fn new(archive: &ArchiveLimits, max_size: u64) -> Limits {
        Limits {
            members: archive.max_members,
            member_size: archive.max_member_size.min(max_size),
            total: archive.max_expanded.min(max_size),
        }
    }
}

/// The YARA sources of a package, by member name, sorted by name.
pub fn sources(bytes: &[u8], limits: Limits) -> Result<Vec<(String, Vec<u8>)>, FeedError> {
    let mut files = if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        zip_sources(bytes, limits)?
    } else if bytes.starts_with(&[0x1f, 0x8b]) {
        tar_gz_sources(bytes, limits)?
    } else {
        vec![("package.yar".to_owned(), bytes.to_vec())]
    };
    if files.is_empty() {
        return Err(FeedError::Package("holds no .yar or .yara file".into()));
    }
    files.sort();
    Ok(files)
}

fn is_yara(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".yar") || lower.ends_with(".yara")
}

fn zip_sources(bytes: &[u8], limits: Limits) -> Result<Vec<(String, Vec<u8>)>, FeedError> {
    let broken = |e: zip::result::ZipError| FeedError::Package(format!("not a readable zip: {e}"));
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(broken)?;
    if archive.len() as u64 > limits.members {
        return Err(too_many(limits));
    }
    let mut tally = Tally::new(limits);
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let member = archive.by_index(i).map_err(broken)?;
        let name = member.name().map_err(broken)?.into_owned();
        if !member.is_file() || !is_yara(&name) {
            continue;
        }
        files.push((name.clone(), tally.read(&name, member)?));
    }
    Ok(files)
}

fn tar_gz_sources(bytes: &[u8], limits: Limits) -> Result<Vec<(String, Vec<u8>)>, FeedError> {
    let broken = |e: std::io::Error| FeedError::Package(format!("not a readable tar.gz: {e}"));
    let mut archive = tar::Archive::new(GzDecoder::new(bytes));
    let mut tally = Tally::new(limits);
    let mut files = Vec::new();
    for (n, entry) in archive.entries().map_err(broken)?.enumerate() {
        if n as u64 >= limits.members {
            return Err(too_many(limits));
        }
        let entry = entry.map_err(broken)?;
        let name = entry.path().map_err(broken)?.display().to_string();
        if !entry.header().entry_type().is_file() || !is_yara(&name) {
            continue;
        }
        files.push((name.clone(), tally.read(&name, entry)?));
    }
    Ok(files)
}

fn too_many(limits: Limits) -> FeedError {
    FeedError::Package(format!(
        "more than {} members (ARCHIVE_MAX_MEMBERS)",
        limits.members
    ))
}

/// The bytes unpacked so far, against the limits.
struct Tally {
    limits: Limits,
    total: u64,
}

impl Tally {
    fn new(limits: Limits) -> Tally {
        Tally { limits, total: 0 }
    }

    /// A member's bytes, refused when over the member or total limit (read one byte past the
    /// limit to tell, never more).
    fn read(&mut self, name: &str, member: impl Read) -> Result<Vec<u8>, FeedError> {
        let cap = self.limits.member_size.min(self.limits.total - self.total);
        let mut bytes = Vec::new();
        member
            .take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| FeedError::Package(format!("cannot unpack {name}: {e}")))?;
        if bytes.len() as u64 > cap {
            return Err(FeedError::Package(format!(
                "{name} unpacks to more than {cap} bytes (ARCHIVE_MAX_MEMBER_SIZE, \
                 ARCHIVE_MAX_EXPANDED, FEEDS_MAX_SIZE)"
            )));
        }
        self.total += bytes.len() as u64;
        Ok(bytes)
    }
}

/// A hash list's digests of `kind`, as the lines the rules loader reads (`<hex> [name]`,
/// lower-case, sorted, each once), the count of lines that were no such digest, and the count
/// of lines in all (comments and blank lines left out).
pub fn digests(text: &str, kind: FeedKind) -> (Vec<String>, usize, usize) {
    let len = kind.digest_len().unwrap_or(0);
    let (mut good, mut bad, mut total) = (Vec::new(), 0, 0);
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        total += 1;
        // CSV exports quote their fields: the digest is the first one.
        let line = line.replace('"', " ");
        let mut fields = line.split([',', ';', ' ', '\t']).filter(|f| !f.is_empty());
        let digest = fields.next().unwrap_or_default();
        match hex::decode(digest) {
            Ok(bytes) if bytes.len() == len => good.push(hex::encode(bytes)),
            _ => bad += 1,
        }
    }
    good.sort_unstable();
    good.dedup();
    (good, bad, total)
}
