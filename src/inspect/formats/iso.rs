//! ISO 9660 disc images (`.iso`, `.img`: the attachments that carry installers past mail
//! filters, mounted by Windows with a double click): every file of every directory, from the
//! primary volume descriptor's root, read where its extent says. A directory seen twice (a
//! loop a hostile image can build) is walked once. UDF-only images are not read.

use std::collections::HashSet;

use super::{Flow, Format, Problem, Seen, Visitor, visit_plain};

/// Where the first volume descriptor's `CD001` is: sector 16, after its type byte.
pub const MAGIC_AT: usize = 16 * 2048 + 1;
pub const MAGIC: &[u8] = b"CD001";
const SECTOR: usize = 2048;
/// Where the root directory's record is in the primary volume descriptor.
const ROOT_RECORD: usize = 156;
/// Directories deeper than this are a problem (ISO 9660 allows 8; Rock Ridge, more).
const MAX_DEPTH: usize = 64;

/// True when `bytes` hold a volume descriptor at sector 16.
pub(super) fn starts(bytes: &[u8]) -> bool {
    bytes.get(MAGIC_AT..MAGIC_AT + MAGIC.len()) == Some(MAGIC)
}

/// One directory record: its extent, its length, whether it is a directory, its name.
struct Record {
    extent: std::ops::Range<usize>,
    directory: bool,
    name: String,
}

/// Walks every file of the image `bytes`.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Seen {
    let mut seen = Seen::default();
    seen.header(Format::Iso, MAGIC_AT - 1..MAGIC_AT - 1 + SECTOR);
    let Some(root) = primary(bytes).and_then(|pvd| record(pvd.get(ROOT_RECORD..)?)) else {
        visit.problem(Problem::broken(None, "no primary volume descriptor"));
        return seen;
    };
    let mut walked = HashSet::new();
    let mut stack = vec![(String::new(), root.extent, 0usize)];
    while let Some((dir, extent, depth)) = stack.pop() {
        if !walked.insert(extent.start) {
            continue;
        }
        let Some(entries) = bytes.get(extent.clone()) else {
            let why = format!("directory {dir}/ lies past the end");
            visit.problem(Problem::broken(Some(format!("{dir}/")), why));
            continue;
        };
        seen.header(Format::Iso, extent.clone());
        for entry in records(entries) {
            let path = format!("{dir}/{}", entry.name)
                .trim_start_matches('/')
                .to_owned();
            if entry.directory {
                match depth < MAX_DEPTH {
                    true => stack.push((path, entry.extent, depth + 1)),
                    false => {
                        visit.problem(Problem::broken(Some(path), "directories too deep"));
                    }
                }
                continue;
            }
            if file(bytes, path, entry.extent, &mut seen, visit) == Flow::Stop {
                return seen;
            }
        }
    }
    seen
}

/// The primary volume descriptor: the first of type 1 from sector 16 until the terminator.
fn primary(bytes: &[u8]) -> Option<&[u8]> {
    (16..16 + 64)
        .map_while(|sector| bytes.get(sector * SECTOR..(sector + 1) * SECTOR))
        .take_while(|d| d.get(1..6) == Some(MAGIC) && d[0] != 255)
        .find(|d| d[0] == 1)
}

/// The records of a directory's extent; a zero length byte pads to the next sector.
fn records(entries: &[u8]) -> Vec<Record> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < entries.len() {
        let len = usize::from(entries[at]);
        if len == 0 {
            at = (at / SECTOR + 1) * SECTOR;
            continue;
        }
        if let Some(record) = entries.get(at..at + len).and_then(record) {
            // `\0` and `\1` name the directory itself and its parent.
            if !matches!(record.name.as_str(), "\u{0}" | "\u{1}") {
                found.push(record);
            }
        }
        at += len;
    }
    found
}

/// A directory record: length, extended attribute length, extent (both-endian, little first),
/// data length, date, flags (bit 1: a directory), unit size, gap, volume, name length, name.
fn record(bytes: &[u8]) -> Option<Record> {
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let start = (u32_at(2)? as usize).checked_mul(SECTOR)?;
    let len = u32_at(10)? as usize;
    let name_len = usize::from(*bytes.get(32)?);
    let name = bytes.get(33..33 + name_len)?;
    let name = String::from_utf8_lossy(name);
    let name = name.strip_suffix(";1").unwrap_or(&name).to_owned();
    Some(Record {
        extent: start..start.checked_add(len)?,
        directory: bytes.get(25)? & 2 != 0,
        name,
    })
}

/// Hands the file at `extent` to `visit`.
fn file(
    bytes: &[u8],
    name: String,
    extent: std::ops::Range<usize>,
    seen: &mut Seen,
    visit: &mut dyn Visitor,
) -> Flow {
    let Some(mut data) = bytes.get(extent.clone()) else {
        return visit.problem(Problem::broken(Some(name), "its extent lies past the end"));
    };
    seen.content(extent);
    visit_plain(visit, name, &mut data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_every_directory_is_a_member() {
        let members = super::super::cpio::tests::members;
        let image = super::super::fuzz::iso("SETUP.EXE", b"MZ payload");
        assert!(starts(&image) && Format::sniff(&image) == Some(Format::Iso));
        let want = ("DIR/SETUP.EXE".to_owned(), b"MZ payload".to_vec());
        assert_eq!(members(&image), (vec![want], 0));
        // A file whose extent lies past the end is a problem, named.
        let (found, problems) = members(&image[..image.len() - 2048]);
        assert_eq!((found.len(), problems), (0, 1));
    }
}
