//! tar: each regular file, in order. A header that does not read (a bad checksum, a bad
//! field) is a problem, and the walk goes on at the next 512-byte block that is a valid
//! header, as GNU tar does ("Skipping to next header"); the end of the archive (a zero block)
//! ends it. A header whose checksum was summed over signed bytes (old HP-UX and Sun tars),
//! which GNU tar and Python accept, is read as theirs do.

use std::io::{Cursor, Read};

use super::{Flow, Member, Problem, Spans, Visitor};

const BLOCK: usize = 512;
/// Where the checksum field is in a header, and how long it is.
const CHECKSUM: std::ops::Range<usize> = 148..156;

/// How a run of headers ended.
enum Ended {
    /// At the end of the archive, or because the visitor said stop.
    Done,
    /// At a header, at this offset, that could not be read.
    Broken(usize, std::io::Error),
}

/// Walks every regular file of the tar `bytes`, past damaged headers.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Spans {
    let mut spans = Spans::default();
    let (mut ended, mut signed_at) = (run(bytes, 0, &mut spans, visit), None);
    loop {
        let (at, why) = match ended {
            Ended::Done => return spans,
            Ended::Broken(at, why) => (at, why),
        };
        if signed_at != Some(at)
            && let Some(fixed) = with_unsigned_checksum(bytes.get(at..at + BLOCK))
        {
            signed_at = Some(at);
            let rest = Cursor::new(fixed).chain(&bytes[at + BLOCK..]);
            ended = run(rest, at, &mut spans, visit);
            continue;
        }
        spans.add(at..at + BLOCK);
        // A header that does not read names no member: the bytes may only look like a tar,
        // unless members were read.
        let problem = Problem::broken(None, format!("header at {at}: {why}"));
        if visit.problem(problem) == Flow::Stop {
            return spans;
        }
        ended = match next_header(bytes, at + BLOCK) {
            Some(next) => run(&bytes[next..], next, &mut spans, visit),
            None => Ended::Done,
        };
    }
}

/// The members that `reader` (the archive from offset `from` on) holds, until the end or a
/// header that does not read.
fn run(reader: impl Read, from: usize, spans: &mut Spans, visit: &mut dyn Visitor) -> Ended {
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
        let size = usize::try_from(entry.size()).unwrap_or(usize::MAX);
        spans.add(next..data.saturating_add(size));
        next = data.saturating_add(size.div_ceil(BLOCK).saturating_mul(BLOCK));
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_or_else(|_| format!("#{i}@{header}"), |p| p.display().to_string());
        let member = Member {
            name,
            reader: &mut entry,
            encrypted: false,
            stream: false,
        };
        if visit.member(member) == Flow::Stop {
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
