//! RAR archives, the 1.5-4.x format ("RAR4", signature `Rar!\x1a\x07\x00`) and the 5.0 format
//! ("RAR5", `Rar!\x1a\x07\x01\x00`): walks the block headers, checks their CRCs, and reads out
//! the members stored without compression (RAR4 method 0x30, RAR5 method 0), checking each
//! one's CRC-32. RAR's own compression is not decoded here (its only decoder, unrar, comes
//! with a licence our Apache-2.0 distribution cannot follow), so compressed members, like
//! encrypted ones, members split across volumes and archives with encrypted headers, are
//! reported as unsupported; directories, links and service blocks (comments, ACLs, streams,
//! recovery records) are skipped by their sizes. Facts about the layout come from the header
//! fields as ClamAV's copy of unrar reads them (`libclamunrar/arcread.cpp`, `headers.hpp`,
//! `headers5.hpp`, `encname.cpp`) and from archives made by RAR (libarchive's test files);
//! the code is our own.

use super::Measure;
use super::unpacked::Unpacked;

/// The part both signatures share; [`starts`] checks the whole one.
pub const MAGIC: &[u8] = b"Rar!\x1a\x07";
/// The signature is an archive's first bytes (an SFX stub comes before it, not inside it).
pub const MAGIC_AT: usize = 0;

const SIGNATURE4: &[u8] = b"Rar!\x1a\x07\x00";
const SIGNATURE5: &[u8] = b"Rar!\x1a\x07\x01\x00";

// RAR4 block types.
const MAIN4: u8 = 0x73;
const FILE4: u8 = 0x74;
/// RAR 2.x-era antivirus and signature blocks: their CRC was never set properly.
const AV4: u8 = 0x76;
const OLD_SERVICE4: u8 = 0x77;
const PROTECT4: u8 = 0x78;
const SIGN4: u8 = 0x79;
const SERVICE4: u8 = 0x7A;
const END4: u8 = 0x7B;
/// The old service sub-block of Unix owners, whose CRC covers more than its header.
const UNIX_OWNER4: u16 = 0x101;

// RAR4 flags: main header, file header, every block.
const MAIN_COMMENT: u16 = 0x0002;
const MAIN_PASSWORD: u16 = 0x0080;
const FILE_SPLIT: u16 = 0x0003;
const FILE_PASSWORD: u16 = 0x0004;
const FILE_COMMENT: u16 = 0x0008;
const FILE_DIRECTORY: u16 = 0x00E0;
const FILE_LARGE: u16 = 0x0100;
const FILE_UNICODE: u16 = 0x0200;
const FILE_SALT: u16 = 0x0400;
const LONG_BLOCK: u16 = 0x8000;
/// The fixed fields of a RAR4 file header, before the optional high sizes and the name.
const FILE4_FIXED: usize = 32;
const HOST_UNIX: u8 = 3;

// RAR5 header types, header flags, file flags and extra record types.
const MAIN5: u64 = 1;
const FILE5: u64 = 2;
const CRYPT5: u64 = 4;
const END5: u64 = 5;
const HAS_EXTRA: u64 = 0x01;
const HAS_DATA: u64 = 0x02;
const SPLIT5: u64 = 0x08 | 0x10;
const FILE5_DIRECTORY: u64 = 0x01;
const FILE5_TIME: u64 = 0x02;
const FILE5_CRC: u64 = 0x04;
const FILE5_SIZE_UNKNOWN: u64 = 0x08;
const EXTRA_CRYPT: u64 = 0x01;
const EXTRA_REDIRECT: u64 = 0x05;
/// RAR5 writes a header's size in at most 3 vint bytes (headers up to 2 MiB).
const SIZE5_BYTES: usize = 3;

/// Decoded UTF-16 units kept of a RAR4 Unicode name (unrar's own limit is 2048).
const MAX_NAME: usize = 2048;
const TRUNCATED: &str = "archive cut short inside a block header";
const SHORT: &str = "block header shorter than its fields";

/// True when a RAR archive starts at `bytes[0]`: the whole signature of either version and
/// a first header (the main one, or RAR5's encryption header) whose CRC matches.
pub(super) fn starts(bytes: &[u8]) -> bool {
    if bytes.starts_with(SIGNATURE5) {
        let first = Block5::read(bytes, SIGNATURE5.len());
        return matches!(first, Ok(b) if b.crc_ok && (b.kind == MAIN5 || b.kind == CRYPT5));
    }
    bytes.starts_with(SIGNATURE4)
        && matches!(Block4::read(bytes, SIGNATURE4.len()), Ok(b) if b.crc_ok && b.kind == MAIN4)
}

/// Reads every stored member of the archive in `bytes` within `measure`.
pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    if bytes.starts_with(SIGNATURE5) {
        walk5(bytes, &mut out);
    } else if bytes.starts_with(SIGNATURE4) {
        walk4(bytes, &mut out);
    } else {
        out.broken(None, "no RAR 1.5-5.x signature");
    }
    out
}

/// What a file header of either version says about its member.
struct Member<'a> {
    name: String,
    header_ok: bool,
    /// Directories and links: nothing to read.
    skip: bool,
    /// Why the member is not read (encrypted, split, compressed), when it is not.
    unsupported: Option<String>,
    /// The unpacked size, when the header knows it.
    size: Option<u64>,
    crc: Option<u32>,
    /// The data area, as far as the input goes.
    data: &'a [u8],
    /// The data area runs past the input's end.
    cut: bool,
}

/// Keeps one member in `out` (or notes why not); false when the walk must stop there.
fn keep(out: &mut Unpacked, member: Member) -> bool {
    let name = member.name;
    if !member.header_ok {
        out.broken(Some(name.clone()), "file header fails its CRC check");
    }
    if member.skip {
        return true;
    }
    if let Some(why) = member.unsupported {
        match why == ENCRYPTED {
            true => out.encrypted(name),
            false => out.unsupported(name, why),
        }
        return true;
    }
    let claimed = member.size.unwrap_or(0).max(member.data.len() as u64);
    if claimed > out.room() as u64 {
        out.broken(Some(name), format!("claims {claimed} bytes, past the cap"));
        return false;
    }
    let Some(sum) = crc_in_time(out, member.data) else {
        out.late(Some(name));
        return false;
    };
    if member.cut {
        out.broken(
            Some(name.clone()),
            "member data cut short by the archive's end",
        );
    } else if member.crc.is_some_and(|crc| crc != sum) {
        out.broken(Some(name.clone()), "stored data fails its CRC-32 check");
    }
    out.file(name, member.data.to_vec()) && !member.cut
}

/// Keeps the member a file header described, or notes why the header could not be read;
/// false when the walk must stop.
fn take(out: &mut Unpacked, member: Result<Member, &'static str>) -> bool {
    match member {
        Ok(member) => keep(out, member),
        Err(why) => {
            out.broken(None, why);
            false
        }
    }
}

/// The data area `len` bytes long at `at`, clipped to the input, and whether it was clipped.
fn data_area(bytes: &[u8], at: usize, len: u64) -> (&[u8], bool) {
    let rest = bytes.get(at..).unwrap_or_default();
    match usize::try_from(len) {
        Ok(len) if len <= rest.len() => (rest.get(..len).unwrap_or_default(), false),
        _ => (rest, true),
    }
}

/// Where the block after one at `data_at` with `len` data bytes starts, if inside `bytes`.
fn next_block(bytes: &[u8], data_at: usize, len: u64) -> Option<usize> {
    let next = data_at.checked_add(usize::try_from(len).ok()?)?;
    (next <= bytes.len()).then_some(next)
}

/// A member's name as the scanner shows it: its path with `/`, or a made-up one.
fn member_name(name: &str, index: usize) -> String {
    let trimmed = name.trim_start_matches('/');
    if trimmed.is_empty() {
        format!("member{index}")
    } else {
        trimmed.to_string()
    }
}

/// What [`refusal`] says of a member that cannot be read without a password.
const ENCRYPTED: &str = "encrypted";

/// Why a member is not read, if it is not: encryption first, then splitting, then a
/// compression `method` (named as RAR numbers it).
fn refusal(encrypted: bool, split: bool, method: Option<String>) -> Option<String> {
    if encrypted {
        Some(String::from(ENCRYPTED))
    } else if split {
        Some(String::from(
            "member split across volumes (multi-volume archive)",
        ))
    } else {
        method.map(|method| format!("RAR compression (method {method}) is not decoded here"))
    }
}

// ---------------------------------------------------------------- shared helpers

/// The CRC-32 of `data`, or `None` when the deadline passes on the way.
fn crc_in_time(out: &Unpacked, data: &[u8]) -> Option<u32> {
    let mut crc = flate2::Crc::new();
    for chunk in data.chunks(1 << 16) {
        if !out.in_time() {
            return None;
        }
        crc.update(chunk);
    }
    Some(crc.sum())
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*pair.first()?, *pair.get(1)?]))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    let quad: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(quad))
}

mod v5;
use self::v5::*;

mod v4;
use self::v4::*;

#[cfg(test)]
#[path = "rar_tests.rs"]
mod tests;
