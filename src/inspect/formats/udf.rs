//! UDF disc images (`.iso`, `.img`: what Windows mounts with a double click, written UDF-only
//! or as a bridge beside ISO 9660, whose side may hold other files): every file of every
//! directory, named by its path, read where its allocation descriptors say.
//!
//! The facts are ECMA-167 (3rd edition) and OSTA UDF 2.01 and 2.50: the Volume Recognition
//! Sequence from byte 32768 (`BEA01`, `NSR02`/`NSR03`, `TEA01`), the Anchor Volume Descriptor
//! Pointer at block 256, the Volume Descriptor Sequence it points to (Partition and Logical
//! Volume Descriptors, the latter with the partition maps), the File Set Descriptor, then File
//! Entries (or Extended ones) and the File Identifier Descriptors of directories. Every
//! descriptor's tag checksum and CRC are checked. Partitions of type 1 maps, sparable ones
//! (read without their sparing table) and UDF 2.50 metadata partitions are read; virtual
//! ones (VAT, write-once discs) are not, nor extended allocation descriptors.

use std::collections::HashSet;

use super::Measure;
use super::unpacked::Unpacked;

/// Where the volume recognition sequence starts (a UDF-only image's `BEA01`, a bridge's
/// `CD001`, then `NSR02`/`NSR03`); its descriptors are 2048 bytes apart, whatever the block
/// size. No signature finds an image inside other bytes: that is no image a system mounts.
const VRS_AT: usize = 16 * 2048;
/// How many VRS descriptors are looked at for an `NSR02`/`NSR03`.
const VRS_SLOTS: usize = 32;
/// The logical block sizes tried, the commonest first.
const BLOCK_SIZES: [usize; 4] = [2048, 512, 1024, 4096];
/// The block of the anchor volume descriptor pointer.
const ANCHOR: u32 = 256;
/// Descriptors of a volume descriptor sequence read at most, and pointers followed.
const MAX_SEQUENCE: u32 = 256;
/// Allocation extent descriptors followed for one file at most.
const MAX_HOPS: usize = 64;
/// Directories deeper than this are a problem.
const MAX_DEPTH: usize = 64;

const TAG_ANCHOR: u16 = 2;
const TAG_POINTER: u16 = 3;
const TAG_PARTITION: u16 = 5;
const TAG_LOGICAL: u16 = 6;
const TAG_TERMINATOR: u16 = 8;
const TAG_FILE_SET: u16 = 256;
const TAG_IDENTIFIER: u16 = 257;
const TAG_EXTENT: u16 = 258;
const TAG_FILE_ENTRY: u16 = 261;
const TAG_EXTENDED_ENTRY: u16 = 266;
/// The ICB file type of a directory.
const DIRECTORY: u8 = 4;
/// File characteristics of a File Identifier Descriptor: deleted, parent.
const DELETED_OR_PARENT: u8 = 0x04 | 0x08;

/// True when a UDF image starts at `bytes[0]`: an NSR descriptor in the VRS, and an anchor.
pub(super) fn starts(bytes: &[u8]) -> bool {
    let nsr = (0..VRS_SLOTS)
        .filter_map(|i| bytes.get(VRS_AT + i * 2048 + 1..VRS_AT + i * 2048 + 6))
        .any(|id| id == b"NSR02" || id == b"NSR03");
    nsr && anchor(bytes).is_some()
}

/// Every file of the image `bytes`, directory by directory from the root.
pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut unpacked = Unpacked::new(measure);
    let opened = anchor(bytes)
        .ok_or_else(|| broken("no anchor volume descriptor pointer at block 256"))
        .and_then(|(block, anchor)| Volume::open(bytes, block, anchor));
    match opened.and_then(|volume| Ok((volume.root()?, volume))) {
        Ok((root, volume)) => volume.walk(root, &mut unpacked),
        Err(stop) => _ = note(&mut unpacked, None, stop),
    }
    unpacked
}

/// Where a descriptor is: a partition reference and a logical block in it.
type Icb = (u16, u32);

/// Why reading stopped: damage, a variant not read, the deadline, or the cap.
#[derive(Debug, Clone)]
enum Stop {
    Broken(String),
    Unsupported(String),
    Late,
    Full(String),
}

fn broken(why: impl ToString) -> Stop {
    Stop::Broken(why.to_string())
}

/// Notes why `member` (or the image) was not read whole; true when the walk may go on
/// (not past the deadline or the cap).
fn note(unpacked: &mut Unpacked, member: Option<String>, stop: Stop) -> bool {
    let go_on = matches!(stop, Stop::Broken(_) | Stop::Unsupported(_));
    match stop {
        Stop::Broken(why) | Stop::Full(why) => unpacked.broken(member, why),
        Stop::Unsupported(why) => unpacked.unsupported(member.unwrap_or("/".into()), why),
        Stop::Late => unpacked.late(member),
    }
    go_on
}

/// The logical block size and the anchor: the first size at whose block 256 an anchor
/// volume descriptor pointer says it is there.
fn anchor(bytes: &[u8]) -> Option<(usize, &[u8])> {
    BLOCK_SIZES.into_iter().find_map(|size| {
        let at = ANCHOR as usize * size;
        let anchor = bytes.get(at..at + size)?;
        let here = tag(anchor) == Some(TAG_ANCHOR) && u32_at(anchor, 12) == Some(ANCHOR);
        here.then_some((size, anchor))
    })
}

/// A descriptor tag's identifier, when its version is 2 or 3, its checksum (ECMA-167
/// 3/7.2.3) and its CRC over the bytes after it (3/7.2.6, when they are there) are right.
/// (An unrecorded block, all zeros, has a right checksum: identifier 0 is refused.)
fn tag(d: &[u8]) -> Option<u16> {
    let head = d.get(..16)?;
    if !matches!(u16_at(head, 2), Some(2 | 3)) || u16_at(head, 0) == Some(0) {
        return None;
    }
    let sum = head
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 4)
        .fold(0u8, |sum, (_, b)| sum.wrapping_add(*b));
    if sum != *head.get(4)? {
        return None;
    }
    let length = usize::from(u16_at(d, 10)?);
    if let Some(body) = d.get(16..16 + length) {
        (crc(body) == u16_at(d, 8)?).then_some(())?;
    }
    u16_at(d, 0)
}

/// CRC-16 of ITU-T V.41 (polynomial 0x1021, initial 0), as descriptor tags carry it.
fn crc(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        let index = usize::from((crc >> 8) as u8 ^ b);
        (crc << 8) ^ CRC_TABLE.get(index).copied().unwrap_or(0)
    })
}

/// The CRC of each byte value, a byte at a time.
const CRC_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 0x8000 == 0 {
                c << 1
            } else {
                (c << 1) ^ 0x1021
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// How a partition reference maps logical blocks onto the image's blocks.
#[derive(Debug, Clone)]
enum Map {
    /// A partition: its number and first block.
    Physical(u16, u64),
    /// A metadata partition: the runs (first block, blocks) of its metadata file.
    Metadata(Vec<(u64, u64)>),
    /// A metadata partition not yet read: partition number, file and mirror blocks.
    Pending(u16, u32, u32),
    /// A partition that cannot be read, and why.
    Unread(Stop),
}

/// A file's (or directory's) entry: where it is, what it is, how long, and its allocation
/// descriptors (or, embedded, its data).
struct Entry<'a> {
    part: u16,
    file_type: u8,
    ads: u16,
    size: u64,
    area: &'a [u8],
}

/// One extent of a file: recorded (else it reads as zeros), where, and its length.
struct Extent {
    recorded: bool,
    part: u16,
    block: u32,
    length: u32,
}

/// The partitions (start blocks by number) and the newest logical volume descriptor of
/// a volume descriptor sequence.
#[derive(Default)]
struct Sequence<'a> {
    partitions: Vec<(u16, u32, u32)>,
    logical: Option<(u32, &'a [u8])>,
}

/// An image opened: its bytes, block size, partition maps and file set descriptor.
struct Volume<'a> {
    bytes: &'a [u8],
    block: usize,
    maps: Vec<Map>,
    file_set: Icb,
}

impl<'a> Volume<'a> {
    /// Reads the main volume descriptor sequence (else the reserve one) the anchor points to.
    fn open(bytes: &'a [u8], block: usize, anchor: &[u8]) -> Result<Self, Stop> {
        let sequence = [16, 24]
            .into_iter()
            .filter_map(|at| Some((u32_at(anchor, at)?, u32_at(anchor, at + 4)?)))
            .map(|extent| sequence(bytes, block, extent))
            .find(|s| !s.partitions.is_empty() && s.logical.is_some())
            .ok_or_else(|| broken("no partition or logical volume descriptor"))?;
        let lvd = sequence.logical.map_or(&[][..], |(_, d)| d);
        let size = u32_at(lvd, 212).unwrap_or(0);
        if usize::try_from(size).ok() != Some(block) {
            return Err(broken(format!("logical blocks of {size} bytes on {block}")));
        }
        let file_set = long_ad(lvd, 248).ok_or_else(|| broken("no file set"))?;
        let mut volume = Volume {
            bytes,
            block,
            maps: maps(lvd, &sequence.partitions),
            file_set,
        };
        volume.read_metadata();
        Ok(volume)
    }

    /// Resolves each metadata partition to the runs of its metadata file (else its mirror).
    fn read_metadata(&mut self) {
        for i in 0..self.maps.len() {
            let Some(Map::Pending(number, file, mirror)) = self.maps.get(i).cloned() else {
                continue;
            };
            let physical = self.maps.iter().position(|m| match m {
                Map::Physical(n, _) => *n == number,
                _ => false,
            });
            let physical = physical.and_then(|p| u16::try_from(p).ok());
            let runs = physical
                .ok_or_else(|| broken(format!("no partition numbered {number}")))
                .and_then(|p| self.runs(p, file).or_else(|_| self.runs(p, mirror)));
            if let Some(map) = self.maps.get_mut(i) {
                *map = runs.map_or_else(Map::Unread, Map::Metadata);
            }
        }
    }

    /// The image's runs of blocks of the metadata file whose entry is at `file`.
    fn runs(&self, part: u16, file: u32) -> Result<Vec<(u64, u64)>, Stop> {
        let entry = self.entry((part, file))?;
        let block = self.block as u64;
        let mut runs = Vec::new();
        for extent in self.extents(&entry)? {
            let Some(Map::Physical(_, start)) = self.maps.get(usize::from(extent.part)) else {
                return Err(broken("the metadata file is not in a physical partition"));
            };
            let first = start.saturating_add(extent.block.into());
            runs.push((first, u64::from(extent.length).div_ceil(block)));
        }
        Ok(runs)
    }

    /// The root directory's ICB, from the file set descriptor.
    fn root(&self) -> Result<Icb, Stop> {
        let d = self.block_at(self.file_set)?;
        if tag(d) != Some(TAG_FILE_SET) {
            return Err(broken("no file set descriptor"));
        }
        long_ad(d, 400).ok_or_else(|| broken("no root directory"))
    }

    /// Where logical block `block` of partition reference `part` is in the image.
    fn offset(&self, (part, block): Icb) -> Result<usize, Stop> {
        let map = self.maps.get(usize::from(part));
        let absolute = match map {
            Some(Map::Physical(_, start)) => start.checked_add(block.into()),
            Some(Map::Metadata(runs)) => in_runs(runs, block.into()),
            Some(Map::Unread(stop)) => return Err(stop.clone()),
            Some(Map::Pending(..)) | None => None,
        };
        absolute
            .and_then(|b| usize::try_from(b).ok()?.checked_mul(self.block))
            .ok_or_else(|| broken(format!("no block {block} in partition {part}")))
    }

    /// The bytes of logical block `at`.
    fn block_at(&self, at: Icb) -> Result<&'a [u8], Stop> {
        let offset = self.offset(at)?;
        let end = offset.saturating_add(self.block);
        self.bytes
            .get(offset..end)
            .ok_or_else(|| broken(format!("block {} lies past the end", at.1)))
    }

    /// The file entry (or extended file entry) at `icb`.
    fn entry(&self, icb: Icb) -> Result<Entry<'a>, Stop> {
        let d = self.block_at(icb)?;
        let lengths = match tag(d) {
            Some(TAG_FILE_ENTRY) => 168,
            Some(TAG_EXTENDED_ENTRY) => 208,
            _ => return Err(broken(format!("no file entry at block {}", icb.1))),
        };
        // Extended attributes, then the allocation descriptors, each after its length.
        let extended = u32_at(d, lengths).and_then(|l| usize::try_from(l).ok());
        let start = extended.and_then(|l| (lengths + 8).checked_add(l));
        let area = start
            .zip(u32_at(d, lengths + 4))
            .and_then(|(start, length)| slice(d, start, length))
            .ok_or_else(|| broken("a file entry's descriptors lie past its block"))?;
        Ok(Entry {
            part: icb.0,
            file_type: *d.get(27).unwrap_or(&0),
            ads: u16_at(d, 34).unwrap_or(0) & 7,
            size: u64_at(d, 56).unwrap_or(0),
            area,
        })
    }

    /// The extents an entry's allocation descriptors give, following allocation extent
    /// descriptors (ECMA-167 4/14.5) where the list goes on.
    fn extents(&self, entry: &Entry<'a>) -> Result<Vec<Extent>, Stop> {
        let size = match entry.ads {
            0 => 8,
            1 => 16,
            2 => return Err(Stop::Unsupported("extended allocation descriptors".into())),
            other => return Err(broken(format!("allocation descriptors of type {other}"))),
        };
        let (mut area, mut hops, mut extents) = (entry.area, 0, Vec::new());
        while let Some(ad) = area.get(..size) {
            area = area.get(size..).unwrap_or_default();
            let raw = u32_at(ad, 0).unwrap_or(0);
            let block = u32_at(ad, 4).unwrap_or(0);
            let part = if size == 16 { u16_at(ad, 8) } else { None };
            let part = part.unwrap_or(entry.part);
            let length = raw & 0x3FFF_FFFF;
            match (length, raw >> 30) {
                (0, _) => break,
                (_, 3) if hops < MAX_HOPS => {
                    hops += 1;
                    let d = self.block_at((part, block))?;
                    let ads = u32_at(d, 20).and_then(|l| slice(d, 24, l));
                    area = match tag(d) {
                        Some(TAG_EXTENT) => ads.ok_or_else(|| broken("a bad allocation extent"))?,
                        _ => return Err(broken("no allocation extent descriptor")),
                    };
                }
                (_, 3) => return Err(broken("too many allocation extents")),
                (_, kind) => extents.push(Extent {
                    recorded: kind == 0,
                    part,
                    block,
                    length,
                }),
            }
        }
        Ok(extents)
    }

    /// Reads an entry's data into `out` (what was read stays there on a problem).
    fn contents(&self, entry: &Entry<'a>, out: &mut Vec<u8>, u: &Unpacked) -> Result<(), Stop> {
        let size = usize::try_from(entry.size).unwrap_or(usize::MAX);
        if size > u.room() {
            return Err(Stop::Full(format!(
                "claims {} bytes, past the cap",
                entry.size
            )));
        }
        if entry.ads == 3 {
            let data = entry.area.get(..size);
            out.extend_from_slice(data.ok_or_else(|| broken("its embedded data is short"))?);
            return Ok(());
        }
        out.reserve(size.min(self.bytes.len()));
        for extent in self.extents(entry)? {
            let take = (extent.length as usize).min(size.saturating_sub(out.len()));
            match extent.recorded {
                true => self.copy(extent.part, extent.block, take, out, u)?,
                false => out.resize(out.len() + take, 0),
            }
        }
        match out.len() < size {
            true => Err(broken(format!(
                "{} of its {size} bytes recorded",
                out.len()
            ))),
            false => Ok(()),
        }
    }

    /// Appends `length` bytes from logical block `block` on, block by block (a metadata
    /// partition's blocks need not be contiguous).
    fn copy(
        &self,
        part: u16,
        block: u32,
        length: usize,
        out: &mut Vec<u8>,
        u: &Unpacked,
    ) -> Result<(), Stop> {
        let mut left = length;
        for n in 0u32.. {
            if left == 0 {
                break;
            }
            if n % 32 == 0 && !u.in_time() {
                return Err(Stop::Late);
            }
            let at = block
                .checked_add(n)
                .ok_or_else(|| broken("an extent too long"))?;
            let data = self.block_at((part, at))?;
            let take = left.min(self.block);
            out.extend_from_slice(data.get(..take).unwrap_or_default());
            left -= take;
        }
        Ok(())
    }

    /// Walks every directory from `root`, keeping every file; an entry seen twice (a loop a
    /// hostile image can build, or a hard link) is read once.
    fn walk(&self, root: Icb, u: &mut Unpacked) {
        let mut seen = HashSet::from([root]);
        let mut stack = vec![(String::new(), root, 0usize)];
        while let Some((path, icb, depth)) = stack.pop() {
            let member = Some(format!("{path}/"));
            let mut data = Vec::new();
            let read = self.entry(icb).and_then(|entry| match entry.file_type {
                DIRECTORY => self.contents(&entry, &mut data, u),
                _ => Err(broken("not a directory")),
            });
            if let Err(stop) = read
                && !note(u, member.clone(), stop)
            {
                return;
            }
            let (children, damage) = children(&data);
            if let Some(why) = damage {
                u.broken(member, why);
            }
            let mut directories = Vec::new();
            for (i, (name, child)) in children.into_iter().enumerate() {
                if i % 256 == 0 && !u.in_time() {
                    u.late(Some(format!("{path}/")));
                    return;
                }
                if !seen.insert(child) {
                    continue;
                }
                let path = format!("{path}/{name}").trim_start_matches('/').to_owned();
                match self.entry(child) {
                    Ok(entry) if entry.file_type == DIRECTORY => directories.push((path, child)),
                    Ok(entry) => {
                        if !self.file(path, &entry, u) {
                            return;
                        }
                    }
                    Err(stop) => _ = note(u, Some(path), stop),
                }
            }
            if !directories.is_empty() && depth >= MAX_DEPTH {
                u.broken(Some(format!("{path}/")), "directories too deep");
                continue;
            }
            stack.extend(
                directories
                    .into_iter()
                    .rev()
                    .map(|(p, c)| (p, c, depth + 1)),
            );
        }
    }

    /// Keeps one file, whole or as far as it reads; false when the walk must stop.
    fn file(&self, path: String, entry: &Entry<'a>, u: &mut Unpacked) -> bool {
        let mut data = Vec::new();
        let read = self.contents(entry, &mut data, u);
        if (read.is_ok() || !data.is_empty()) && !u.file(path.clone(), data) {
            return false;
        }
        read.map_or_else(|stop| note(u, Some(path), stop), |()| true)
    }
}

mod descriptors;
use self::descriptors::*;

#[cfg(test)]
#[path = "udf_tests.rs"]
mod tests;
