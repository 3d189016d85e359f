//! UDF's descriptors read: volume descriptor sequences, partition maps, directories' file\n//! identifiers and their OSTA compressed Unicode names, allocation descriptors.

use super::*;

/// Where the `block`th block of the runs (first block, blocks) is.
pub(super) fn in_runs(runs: &[(u64, u64)], block: u64) -> Option<u64> {
    let mut left = block;
    for &(first, count) in runs {
        if left < count {
            return first.checked_add(left);
        }
        left -= count;
    }
    None
}

/// Reads a volume descriptor sequence from `extent` (length, block), following volume
/// descriptor pointers, to its terminator or first sector not a descriptor.
pub(super) fn sequence(bytes: &[u8], block: usize, (length, mut at): (u32, u32)) -> Sequence<'_> {
    let mut found = Sequence::default();
    let mut left = length / block as u32;
    for _ in 0..MAX_SEQUENCE {
        let start = (at as usize).saturating_mul(block);
        let Some(d) = bytes
            .get(start..start.saturating_add(block))
            .filter(|_| left > 0)
        else {
            break;
        };
        let number = u32_at(d, 16).unwrap_or(0);
        match tag(d) {
            Some(TAG_POINTER) => {
                let Some(next) = u32_at(d, 20).zip(u32_at(d, 24)) else {
                    break;
                };
                (left, at) = (next.0 / block as u32, next.1);
                continue;
            }
            Some(TAG_PARTITION) => {
                // The partition's number, its descriptor's sequence number, its first block:
                // of descriptors of one partition, the highest sequence number counts.
                let entry = (
                    u16_at(d, 22).unwrap_or(0),
                    number,
                    u32_at(d, 188).unwrap_or(0),
                );
                match found.partitions.iter_mut().find(|p| p.0 == entry.0) {
                    Some(p) if p.1 <= number => *p = entry,
                    Some(_) => {}
                    None => found.partitions.push(entry),
                }
            }
            Some(TAG_LOGICAL) if found.logical.is_none_or(|(n, _)| n <= number) => {
                found.logical = Some((number, d));
            }
            Some(TAG_TERMINATOR) | None => break,
            Some(_) => {}
        }
        left -= 1;
        at = at.saturating_add(1);
    }
    found
}

/// The partition maps of a logical volume descriptor (ECMA-167 3/10.7, UDF 2.2.8 to 2.2.10).
pub(super) fn maps(lvd: &[u8], partitions: &[(u16, u32, u32)]) -> Vec<Map> {
    let count = u32_at(lvd, 268).unwrap_or(0);
    let table = u32_at(lvd, 264).and_then(|l| slice(lvd, 440, l));
    let mut table = table.unwrap_or_default();
    let mut maps = Vec::new();
    for _ in 0..count.min(64) {
        let length = usize::from(*table.get(1).unwrap_or(&0));
        let Some(entry) = table.get(..length).filter(|_| length >= 6) else {
            break;
        };
        table = table.get(length..).unwrap_or_default();
        let start = |number: u16| match partitions.iter().find(|p| p.0 == number) {
            Some(p) => Map::Physical(number, p.2.into()),
            None => Map::Unread(broken(format!("no partition numbered {number}"))),
        };
        let kind = entry.get(5..28).unwrap_or_default();
        let number = |at| u16_at(entry, at).unwrap_or(u16::MAX);
        maps.push(match entry.first() {
            Some(1) => start(number(4)),
            Some(2) if kind.starts_with(b"*UDF Sparable Partition") => start(number(38)),
            Some(2) if kind.starts_with(b"*UDF Metadata Partition") => {
                let file = u32_at(entry, 40).unwrap_or(0);
                Map::Pending(number(38), file, u32_at(entry, 44).unwrap_or(0))
            }
            _ => {
                let kind = String::from_utf8_lossy(kind)
                    .trim_end_matches('\0')
                    .to_owned();
                Map::Unread(Stop::Unsupported(format!("a partition of type {kind:?}")))
            }
        });
    }
    maps
}

/// A directory's entries (name, ICB), less its parent and deleted ones, and the damage that
/// ended the list early if any.
pub(super) fn children(data: &[u8]) -> (Vec<(String, Icb)>, Option<String>) {
    let mut children = Vec::new();
    let mut at = 0;
    while let Some(d) = data.get(at..).filter(|d| !d.is_empty()) {
        let Some(TAG_IDENTIFIER) = tag(d) else {
            return (children, Some(format!("no file identifier at byte {at}")));
        };
        let characteristics = *d.get(18).unwrap_or(&0);
        let name_length = usize::from(*d.get(19).unwrap_or(&0));
        let name_at = 38 + usize::from(u16_at(d, 36).unwrap_or(0));
        let Some(raw) = d.get(name_at..name_at + name_length) else {
            return (
                children,
                Some(format!("a file identifier cut short at byte {at}")),
            );
        };
        at += (name_at + name_length).next_multiple_of(4);
        let icb = long_ad(d, 20).unwrap_or_default();
        if characteristics & DELETED_OR_PARENT == 0 {
            children.push((name(raw), icb));
        }
    }
    (children, None)
}

/// A file identifier in OSTA compressed Unicode (UDF 2.1.1): 8 (or 254) for one byte a
/// character, 16 (or 255) for two, big-endian. Made safe as a path component.
pub(super) fn name(raw: &[u8]) -> String {
    let text: String = match raw.split_first() {
        Some((16 | 255, rest)) => {
            let units = rest
                .chunks_exact(2)
                .map(|p| p.try_into().map_or(0, u16::from_be_bytes));
            char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        Some((_, rest)) => rest.iter().map(|&b| char::from(b)).collect(),
        None => String::new(),
    };
    let text: String = text
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect();
    match text.trim_matches('.').is_empty() {
        true => format!("_{text}"),
        false => text,
    }
}

/// The `length` bytes at `at`.
pub(super) fn slice(d: &[u8], at: usize, length: u32) -> Option<&[u8]> {
    d.get(at..at.checked_add(usize::try_from(length).ok()?)?)
}

/// A long allocation descriptor's location at `at`: partition reference and block.
pub(super) fn long_ad(d: &[u8], at: usize) -> Option<Icb> {
    Some((u16_at(d, at + 8)?, u32_at(d, at + 4)?))
}

pub(super) fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

pub(super) fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

pub(super) fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}
