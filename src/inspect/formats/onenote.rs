//! OneNote section files (`.one`): the files embedded in a page (the attachments that carried
//! malware past mail filters in 2023), read out without parsing the pages' property sets.
//!
//! A section in the revision-store format (MS-ONESTORE 2) keeps each embedded file, and each
//! picture, as a FileDataStoreObject (MS-ONESTORE 2.6.13): a header GUID, its length (8
//! bytes), 12 bytes unused or reserved, the data, padding to a multiple of 8 bytes, a footer
//! GUID. A section exported by OneNote for the web uses the alternative packaging
//! (MS-ONESTORE 2.8), whose file data lies in Object Data BLOB stream objects (MS-FSSHTTPB
//! 2.2.1.5): a 32-bit header of type 2 and its length, then the data as a binary item (a
//! compact unsigned 64-bit length, 2.2.1.1, and the bytes). As ClamAV's fallback does for the
//! revision store, every such structure is found by its signature (a blob, by its two lengths
//! agreeing); the names (in the property sets) are not read, so members are `embedded1.bin`,
//! `embedded2.bin`, and so on, in the order of the file. Pictures come out too.

use super::Measure;
use super::unpacked::Unpacked;

/// A section's file type GUID {7B5C52E4-D88C-4DA7-AEB1-5378D02996D3}, its first 16 bytes.
pub const MAGIC: &[u8] = &[
    0xE4, 0x52, 0x5C, 0x7B, 0x8C, 0xD8, 0xA7, 0x4D, 0xAE, 0xB1, 0x53, 0x78, 0xD0, 0x29, 0x96, 0xD3,
];
pub const MAGIC_AT: usize = 0;

/// FileDataStoreObject's guidHeader, {BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}.
const DATA_HEADER: [u8; 16] = [
    0xE7, 0x16, 0xE3, 0xBD, 0x65, 0x26, 0x11, 0x45, 0xA4, 0xC4, 0x8D, 0x4D, 0x0B, 0x7A, 0x9E, 0xAC,
];
/// FileDataStoreObject's guidFooter, {71FBA722-0F79-4A0B-BB13-899256426B24}.
const DATA_FOOTER: [u8; 16] = [
    0x22, 0xA7, 0xFB, 0x71, 0x79, 0x0F, 0x0B, 0x4A, 0xBB, 0x13, 0x89, 0x92, 0x56, 0x42, 0x6B, 0x24,
];
/// guidHeader, cbLength, unused, reserved: where the data starts.
const DATA_AT: usize = 16 + 8 + 4 + 8;
/// Where the header's guidFileFormat is, and its value in the alternative packaging,
/// {638DE92F-A6D4-4BC1-9A36-B3FC2511A5B7}.
const FORMAT_AT: usize = 48;
const PACKAGED: [u8; 16] = [
    0x2F, 0xE9, 0x8D, 0x63, 0xD4, 0xA6, 0xC1, 0x4B, 0x9A, 0x36, 0xB3, 0xFC, 0x25, 0x11, 0xA5, 0xB7,
];
/// The header's guidFileFormat in the revision store's own packaging,
/// {109ADD3F-911B-49F5-A5D0-1791EDC8AED8}.
const REVISION_STORE: [u8; 16] = [
    0x3F, 0xDD, 0x9A, 0x10, 0x1B, 0x91, 0xF5, 0x49, 0xA5, 0xD0, 0x17, 0x91, 0xED, 0xC8, 0xAE, 0xD8,
];
/// A 32-bit stream object header's low 17 bits for an Object Data BLOB: header type 2, not
/// compound, object type 2.
const BLOB_HEADER: u32 = 0x12;
/// A 15-bit length this large says a compact 64-bit one follows.
const LARGE_LENGTH: u64 = 0x7FFF;

/// True when a OneNote file (section or table of contents) starts at `bytes[0]`.
pub(super) fn starts(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// True when the header goes on as a OneNote file's must: a file format GUID of either
/// packaging at its place. Programs that read OneNote files (ClamAV's among them) hold the
/// file type GUID as a constant, followed by other constants, not by a header.
pub(crate) fn header_is_plausible(bytes: &[u8]) -> bool {
    starts(bytes)
        && bytes
            .get(FORMAT_AT..FORMAT_AT + 16)
            .is_some_and(|g| g == REVISION_STORE || g == PACKAGED)
}

/// Every embedded file of the section `bytes`, in file order.
pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut unpacked = Unpacked::new(measure);
    if bytes.get(FORMAT_AT..FORMAT_AT + 16) == Some(&PACKAGED) {
        blobs(bytes, &mut unpacked);
    } else {
        stores(bytes, &mut unpacked);
    }
    unpacked
}

/// What a find gives: the data found, and where to look on from.
type Found<'a> = Result<(&'a [u8], usize), String>;

/// Keeps the FileDataStoreObjects of a revision-store file.
fn stores(bytes: &[u8], unpacked: &mut Unpacked) {
    walk(bytes, DATA_HEADER.len(), unpacked, |at| {
        bytes
            .get(at..)
            .filter(|rest| rest.starts_with(&DATA_HEADER))
            .map(|_| store(bytes, at))
    });
}

/// The data of the FileDataStoreObject at `at`, and its end.
fn store(bytes: &[u8], at: usize) -> Found<'_> {
    let length = u64_at(bytes, at + 16).ok_or("its header is cut short")?;
    let data = slice(bytes, at + DATA_AT, length)
        .ok_or_else(|| format!("claims {length} bytes, past the end of the file"))?;
    // The padding makes the whole object a multiple of 8 bytes.
    let end = at + DATA_AT + data.len();
    let footer = end + (8 - (end - at) % 8) % 8;
    match bytes.get(footer..footer + 16) == Some(&DATA_FOOTER) {
        true => Ok((data, footer + 16)),
        false => Err("its footer is missing".into()),
    }
}

/// Keeps the Object Data BLOBs of an alternative-packaging file.
fn blobs(bytes: &[u8], unpacked: &mut Unpacked) {
    walk(bytes, 1, unpacked, |at| blob(bytes, at).map(Ok));
}

/// The data of the Object Data BLOB whose header is at `at`, and its end; none when the
/// bytes there are no such header, or its two lengths disagree.
fn blob(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let header = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
    if header & 0x1_FFFF != BLOB_HEADER {
        return None;
    }
    let mut next = at + 4;
    let mut length = u64::from(header >> 17);
    if length == LARGE_LENGTH {
        length = compact(bytes, &mut next)?;
    }
    let start = next;
    let count = compact(bytes, &mut next)?;
    if (next - start) as u64 + count != length {
        return None;
    }
    let data = slice(bytes, next, count)?;
    Some((data, next + data.len()))
}

/// Finds structures by trying `find` at every offset (stepping `step` past a bad one) and
/// keeps their data as `embedded1.bin`, ...: a damaged one is noted, and the search goes on.
fn walk<'a>(
    bytes: &'a [u8],
    step: usize,
    unpacked: &mut Unpacked,
    find: impl Fn(usize) -> Option<Found<'a>>,
) {
    let mut at = 0;
    let mut count = 0usize;
    let mut steps = 0u32;
    while at < bytes.len() {
        steps = steps.wrapping_add(1);
        if steps % 0x1_0000 == 1 && !unpacked.in_time() {
            unpacked.late(None);
            return;
        }
        let name = || format!("embedded{}.bin", count + 1);
        match find(at) {
            None => at += 1,
            Some(Err(why)) => {
                unpacked.broken(Some(name()), why);
                at += step;
            }
            Some(Ok(([], end))) => at = end,
            Some(Ok((data, end))) => {
                if !keep(unpacked, name(), data) {
                    return;
                }
                count += 1;
                at = end;
            }
        }
    }
}

/// Keeps one file; false at the cap.
fn keep(unpacked: &mut Unpacked, name: String, data: &[u8]) -> bool {
    if data.len() > unpacked.room() {
        let why = format!("{} bytes go past the cap", data.len());
        unpacked.broken(Some(name), why);
        return false;
    }
    unpacked.file(name, data.to_vec())
}

/// A compact unsigned 64-bit integer at `*at` (MS-FSSHTTPB 2.2.1.1): the trailing zero bits
/// of its first byte say how many bytes it takes; 0x80 says 8 more.
fn compact(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let first = *bytes.get(*at)?;
    let (value, size) = match first {
        0 => (0, 1),
        0x80 => (u64_at(bytes, *at + 1)?, 9),
        _ => {
            let size = first.trailing_zeros() as usize + 1;
            let mut le = [0u8; 8];
            le.get_mut(..size)?
                .copy_from_slice(bytes.get(*at..*at + size)?);
            (u64::from_le_bytes(le) >> size, size)
        }
    };
    *at += size;
    Some(value)
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn slice(bytes: &[u8], at: usize, len: u64) -> Option<&[u8]> {
    bytes.get(at..at.checked_add(usize::try_from(len).ok()?)?)
}

#[cfg(test)]
#[path = "onenote_tests.rs"]
mod tests;
