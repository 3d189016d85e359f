//! tar: every entry that carries data, in order, whatever its type (a regular file, a
//! contiguous file, a GNU sparse file, a type this reader does not know: GNU tar extracts them
//! all as files). A header that does not read (a bad checksum, a bad field) is a problem, and
//! the walk goes on at the next 512-byte block that is a valid header, as GNU tar does
//! ("Skipping to next header"); the end of the archive (a zero block) ends it. A header whose
//! checksum was summed over signed bytes (old HP-UX and Sun tars), which GNU tar and Python
//! accept, is read as theirs do. A tar without the `ustar` magic (the V7 format) is told by
//! its first header: a right checksum and fields that read.

use std::io::{Cursor, Read};

use super::{Counted, Flow, Format, Member, Problem, Seen, Visitor};

const BLOCK: usize = 512;
/// Where the checksum field is in a header, and how long it is.
const CHECKSUM: std::ops::Range<usize> = 148..156;
/// A header's numeric fields before the checksum: mode, uid, gid, size, mtime.
const NUMBERS: [std::ops::Range<usize>; 5] = [100..108, 108..116, 116..124, 124..136, 136..148];
/// Where the entry type is.
const TYPE: usize = 156;

/// How a run of headers ended.
enum Ended {
    /// At the end of the archive, or because the visitor said stop.
    Done,
    /// At a header, at this offset, that could not be read.
    Broken(usize, std::io::Error),
}

/// Walks every entry of the tar `bytes` that carries data, past damaged headers.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Seen {
    let mut seen = Seen::default();
    let (mut ended, mut signed_at) = (run(bytes, 0, &mut seen, visit), None);
    loop {
        let (at, why) = match ended {
            Ended::Done => return seen,
            Ended::Broken(at, why) => (at, why),
        };
        if signed_at != Some(at)
            && let Some(fixed) = with_unsigned_checksum(bytes.get(at..at + BLOCK))
        {
            signed_at = Some(at);
            let rest = Cursor::new(fixed).chain(&bytes[at + BLOCK..]);
            ended = run(rest, at, &mut seen, visit);
            continue;
        }
        seen.header(Format::Tar, at..at + BLOCK);
        // A header that does not read names no member: the bytes may only look like a tar,
        // unless members were read.
        let problem = Problem::broken(None, format!("header at {at}: {why}"));
        if visit.problem(problem) == Flow::Stop {
            return seen;
        }
        ended = match next_header(bytes, at + BLOCK) {
            Some(next) => run(&bytes[next..], next, &mut seen, visit),
            None => Ended::Done,
        };
    }
}

/// The entries that `reader` (the archive from offset `from` on) holds, until the end or a
/// header that does not read.
fn run(reader: impl Read, from: usize, seen: &mut Seen, visit: &mut dyn Visitor) -> Ended {
    let mut archive = tar::Archive::new(reader);
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(e) => return Ended::Broken(from, e),
    };
    // Where the headers of the next entry start (its extension headers, long names, first).
    let mut next = from;
    for (i, entry) in entries.enumerate() {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(e) => return Ended::Broken(next, e),
        };
        let header = from.saturating_add(entry.raw_header_position() as usize);
        let data = from.saturating_add(entry.raw_file_position() as usize);
        // A sparse file's size is that of the file it makes; its chunks, stored, are fewer.
        let sparse = entry.header().entry_type().is_gnu_sparse();
        let stored = match sparse {
            true => entry.header().entry_size().unwrap_or(0),
            false => entry.size(),
        };
        let stored = usize::try_from(stored).unwrap_or(usize::MAX);
        seen.header(Format::Tar, next.min(header)..header.saturating_add(BLOCK));
        next = data.saturating_add(stored.div_ceil(BLOCK).saturating_mul(BLOCK));
        // An empty regular file is a member all the same; other types, when they hold data.
        if entry.size() == 0 && !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_or_else(|_| format!("#{i}@{header}"), |p| p.display().to_string());
        let mut counted = Counted::new(&mut entry);
        let flow = visit.member(Member {
            name,
            reader: &mut counted,
            encrypted: false,
            stream: false,
            parts: None,
        });
        // A sparse file's bytes, read, are not those stored: holes come between its chunks.
        if !sparse {
            seen.content(data..data.saturating_add(counted.read()));
        }
        if flow == Flow::Stop {
            return Ended::Done;
        }
    }
    Ended::Done
}

/// The offset of the first block at or after `from` that is a valid header.
fn next_header(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len())
        .step_by(BLOCK)
        .find(|at| bytes.get(*at..at + BLOCK).is_some_and(is_header))
}

/// True when `block` is a tar header: not all zeros (the end of an archive), and its
/// checksum is right, summed over unsigned bytes or (as old tars did) signed ones.
pub(crate) fn is_header(block: &[u8]) -> bool {
    let Some(block) = block.get(..BLOCK) else {
        return false;
    };
    if block.iter().all(|b| *b == 0) {
        return false;
    }
    let header = tar::Header::from_byte_slice(block);
    let mut computed = header.clone();
    computed.set_cksum();
    match (header.cksum(), computed.cksum()) {
        (Ok(stored), Ok(unsigned)) => stored == unsigned || Some(stored) == signed_sum(block),
        _ => false,
    }
}

/// True when `bytes` start with a tar header without the `ustar` magic (the V7 format, which
/// has none): its checksum right, a name, numeric fields in octal, a type that is a digit,
/// a letter or NUL. Ordinary files do not hold all of that by chance.
pub(crate) fn is_v7_header(bytes: &[u8]) -> bool {
    let Some(block) = bytes.get(..BLOCK) else {
        return false;
    };
    let name = &block[..100];
    let len = name.iter().position(|b| *b == 0).unwrap_or(name.len());
    let octal = |field: &[u8]| {
        field.iter().any(u8::is_ascii_digit)
            && field.iter().all(|b| matches!(b, b'0'..=b'7' | b' ' | 0))
    };
    len > 0
        && !name[..len].iter().any(u8::is_ascii_control)
        && NUMBERS.iter().all(|field| octal(&block[field.clone()]))
        && (block[TYPE] == 0 || block[TYPE].is_ascii_alphanumeric())
        && is_header(block)
}

/// The header `block` with its checksum rewritten as an unsigned sum, when it holds a valid
/// signed one that is not also the unsigned one (the tar crate accepts only those).
fn with_unsigned_checksum(block: Option<&[u8]>) -> Option<Vec<u8>> {
    let block = block?;
    let header = tar::Header::from_byte_slice(block);
    let mut fixed = header.clone();
    fixed.set_cksum();
    let stored = header.cksum().ok()?;
    (stored != fixed.cksum().ok()? && Some(stored) == signed_sum(block))
        .then(|| fixed.as_bytes().to_vec())
}

/// The checksum of a 512-byte header summed over signed bytes, the field itself as spaces.
fn signed_sum(block: &[u8]) -> Option<u32> {
    let block = block.get(..BLOCK)?;
    let sum: i64 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if CHECKSUM.contains(&i) {
                32
            } else {
                i64::from(*b as i8)
            }
        })
        .sum();
    u32::try_from(sum).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_path(name).unwrap();
        header.set_size(3);
        header.set_cksum();
        header
    }

    #[test]
    fn a_header_is_told_by_its_checksum() {
        let header = header("a.txt");
        assert!(is_header(header.as_bytes()));
        let mut bad = header.as_bytes().to_vec();
        bad[0] ^= 1;
        assert!(!is_header(&bad));
        assert!(!is_header(&[0u8; 512]), "the end of an archive");
        assert!(!is_header(&header.as_bytes()[..100]));
    }

    #[test]
    fn a_v7_header_is_told_by_its_checksum_and_fields() {
        let mut v7 = tar::Header::new_old();
        v7.set_path("eicar.com").unwrap();
        v7.set_size(68);
        v7.set_mode(0o644);
        v7.set_mtime(1_700_000_000);
        v7.set_uid(1000);
        v7.set_gid(1000);
        v7.set_cksum();
        let block = v7.as_bytes().to_vec();
        assert!(is_v7_header(&block) && !block[257..].starts_with(b"ustar"));
        let mut bad = block.clone();
        bad[0] ^= 1;
        assert!(!is_v7_header(&bad), "its checksum");
        // The right checksum over fields that are not numbers: no header.
        let mut text = block.clone();
        text[124..136].copy_from_slice(b"not a size!!");
        let mut fixed = tar::Header::from_byte_slice(&text).clone();
        fixed.set_cksum();
        assert!(!is_v7_header(fixed.as_bytes()));
        let mut nameless = tar::Header::from_byte_slice(&block).clone();
        nameless.as_old_mut().name = [0; 100];
        nameless.set_cksum();
        assert!(!is_v7_header(nameless.as_bytes()));
        assert!(!is_v7_header(&[b' '; 512]) && !is_v7_header(&block[..511]));
    }

    #[test]
    fn a_checksum_summed_over_signed_bytes_is_accepted_as_gnu_tar_does() {
        let mut block = header("r\u{e9}sum\u{e9}.txt").as_bytes().to_vec();
        let signed = signed_sum(&block).unwrap();
        let field = format!("{signed:06o}\0 ");
        block[CHECKSUM].copy_from_slice(field.as_bytes());
        assert!(is_header(&block));
        let fixed = with_unsigned_checksum(Some(&block)).unwrap();
        assert!(is_header(&fixed));
        assert_eq!(fixed[..148], block[..148]);
        assert_eq!(
            with_unsigned_checksum(Some(header("a").as_bytes())),
            None,
            "already unsigned"
        );
    }
}
