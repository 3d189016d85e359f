//! tar: each regular file, in order. A header that does not read (a bad checksum, a bad
//! field) is a problem, and the walk goes on at the next 512-byte block that is a valid
//! header, as GNU tar does ("Skipping to next header"); the end of the archive (a zero block)
//! ends it.

use super::{Flow, Member, Problem, Spans, Visitor};

const BLOCK: usize = 512;

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
    let mut from = 0;
    loop {
        match run(bytes, from, &mut spans, visit) {
            Ended::Done => return spans,
            Ended::Broken(at, why) => {
                spans.add(at..at + BLOCK);
                // A header that does not read names no member: the bytes may only look like
                // a tar, unless members were read.
                visit.problem(Problem::broken(None, format!("header at {at}: {why}")));
                match next_header(bytes, at + BLOCK) {
                    Some(next) => from = next,
                    None => return spans,
                }
            }
        }
    }
}

/// The members from the header at `from` on, until the end or a header that does not read.
fn run(bytes: &[u8], from: usize, spans: &mut Spans, visit: &mut dyn Visitor) -> Ended {
    let mut archive = tar::Archive::new(&bytes[from..]);
    let entries = match archive.entries() {
        Ok(entries) => entries,
        Err(e) => return Ended::Broken(from, e),
    };
    // Where the header after the last one read starts.
    let mut next = from;
    for (i, entry) in entries.enumerate() {
        let mut entry = match entry {
            Ok(entry) => entry,
            Err(e) => return Ended::Broken(next, e),
        };
        let header = from.saturating_add(entry.raw_header_position() as usize);
        let data = from.saturating_add(entry.raw_file_position() as usize);
        let size = usize::try_from(entry.size()).unwrap_or(usize::MAX);
        spans.add(header..data.saturating_add(size));
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
/// checksum is right.
pub(crate) fn is_header(block: &[u8]) -> bool {
    if block.len() < BLOCK || block.iter().all(|b| *b == 0) {
        return false;
    }
    let header = tar::Header::from_byte_slice(&block[..BLOCK]);
    let mut computed = header.clone();
    computed.set_cksum();
    matches!((header.cksum(), computed.cksum()), (Ok(a), Ok(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_told_by_its_checksum() {
        let mut header = tar::Header::new_gnu();
        header.set_path("a.txt").unwrap();
        header.set_size(3);
        header.set_cksum();
        assert!(is_header(header.as_bytes()));
        let mut bad = header.as_bytes().to_vec();
        bad[0] ^= 1;
        assert!(!is_header(&bad));
        assert!(!is_header(&[0u8; 512]), "the end of an archive");
        assert!(!is_header(&header.as_bytes()[..100]));
    }
}
