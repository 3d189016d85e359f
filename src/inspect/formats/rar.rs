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

// ---------------------------------------------------------------- RAR 1.5-4.x

/// One RAR4 block header, read and checked.
struct Block4<'a> {
    kind: u8,
    flags: u16,
    /// The whole header, from its CRC on.
    head: &'a [u8],
    data_at: usize,
    data_len: u64,
    crc_ok: bool,
}

impl<'a> Block4<'a> {
    /// Reads the block header at `at`: CRC (2), type (1), flags (2), size (2), then fields.
    fn read(bytes: &'a [u8], at: usize) -> Result<Block4<'a>, &'static str> {
        let fixed = bytes.get(at..).and_then(|b| b.get(..7)).ok_or(TRUNCATED)?;
        let size = usize::from(le16(fixed, 5).ok_or(TRUNCATED)?);
        if size < 7 {
            return Err("block header smaller than its fixed fields");
        }
        let head = bytes
            .get(at..)
            .and_then(|b| b.get(..size))
            .ok_or(TRUNCATED)?;
        let kind = fixed.get(2).copied().unwrap_or(0);
        let flags = le16(fixed, 3).unwrap_or(0);
        Ok(Block4 {
            kind,
            flags,
            head,
            data_at: at + size,
            data_len: data_len4(kind, flags, head)?,
            crc_ok: crc4_ok(kind, flags, head),
        })
    }
}

/// The size of the data after a RAR4 block header: file and service blocks always give it
/// (with 32 high bits when large), the old sub-blocks too, other blocks when "long".
fn data_len4(kind: u8, flags: u16, head: &[u8]) -> Result<u64, &'static str> {
    match kind {
        FILE4 | SERVICE4 => {
            let low = le32(head, 7).ok_or(SHORT)?;
            let high = match flags & FILE_LARGE {
                0 => 0,
                _ => le32(head, FILE4_FIXED).ok_or(SHORT)?,
            };
            Ok(u64::from(high) << 32 | u64::from(low))
        }
        OLD_SERVICE4 | PROTECT4 => le32(head, 7).map(u64::from).ok_or(SHORT),
        _ if flags & LONG_BLOCK != 0 => le32(head, 7).map(u64::from).ok_or(SHORT),
        _ => Ok(0),
    }
}

/// The low 16 bits of the CRC-32 of the header after its CRC field: of all of it, except
/// that an old-style comment inside a main or file header is left out, and that RAR 2.x
/// antivirus, signature and Unix-owner blocks never had a checkable CRC.
fn crc4_ok(kind: u8, flags: u16, head: &[u8]) -> bool {
    let end = match kind {
        MAIN4 if flags & MAIN_COMMENT != 0 => 13,
        FILE4 if flags & FILE_COMMENT != 0 => file4_fields_end(flags, head),
        AV4 | SIGN4 => return true,
        OLD_SERVICE4 if le16(head, 11) == Some(UNIX_OWNER4) => return true,
        _ => head.len(),
    };
    let covered = head.get(2..end.min(head.len())).unwrap_or_default();
    le16(head, 0) == Some(crc32(covered) as u16)
}

/// Where a RAR4 file header's fields end: fixed part, high sizes, name, salt.
fn file4_fields_end(flags: u16, head: &[u8]) -> usize {
    let large = if flags & FILE_LARGE != 0 { 8 } else { 0 };
    let salt = if flags & FILE_SALT != 0 { 8 } else { 0 };
    let name = usize::from(le16(head, 26).unwrap_or(0));
    FILE4_FIXED + large + name + salt
}

/// Walks a RAR4 archive: the main header, then blocks until the end block or the input's end.
fn walk4(bytes: &[u8], out: &mut Unpacked) {
    let main = match Block4::read(bytes, SIGNATURE4.len()) {
        Ok(block) if block.kind == MAIN4 => block,
        Ok(_) => return out.broken(None, "no main header after the RAR signature"),
        Err(why) => return out.broken(None, why),
    };
    if !main.crc_ok {
        out.broken(None, "main header fails its CRC check");
    }
    if main.flags & MAIN_PASSWORD != 0 {
        return out.encrypted(String::from("(headers)"));
    }
    let mut at = main.data_at;
    let mut index = 0;
    // Every block is at least 7 bytes long, so `at` moves on each round.
    while at < bytes.len() {
        if !out.in_time() {
            return out.late(None);
        }
        let block = match Block4::read(bytes, at) {
            Ok(block) => block,
            Err(why) => return out.broken(None, why),
        };
        match block.kind {
            FILE4 => {
                index += 1;
                if !take(out, member4(bytes, &block, index)) {
                    return;
                }
            }
            END4 => return,
            kind if !block.crc_ok => {
                out.broken(
                    None,
                    format!("block of type 0x{kind:02x} fails its CRC check"),
                );
            }
            _ => {}
        }
        match next_block(bytes, block.data_at, block.data_len) {
            Some(next) => at = next,
            None => return out.broken(None, "archive cut short inside a block's data"),
        }
    }
}

/// Reads what a RAR4 file header says about its member.
fn member4<'a>(
    bytes: &'a [u8],
    block: &Block4<'a>,
    index: usize,
) -> Result<Member<'a>, &'static str> {
    let (head, flags) = (block.head, block.flags);
    let fixed = head.get(..FILE4_FIXED).ok_or(SHORT)?;
    let low_size = le32(fixed, 11).unwrap_or(0);
    let host = fixed.get(15).copied().unwrap_or(0);
    let version = fixed.get(24).copied().unwrap_or(0);
    let method = fixed.get(25).copied().unwrap_or(0);
    let attributes = le32(fixed, 28).unwrap_or(0);
    let large = flags & FILE_LARGE != 0;
    let name_at = FILE4_FIXED + if large { 8 } else { 0 };
    let name_len = usize::from(le16(fixed, 26).unwrap_or(0));
    let raw_name = head
        .get(name_at..name_at + name_len)
        .ok_or("file name runs past its header")?;
    let high_size = if large {
        le32(head, 36).ok_or(SHORT)?
    } else {
        0
    };
    let unknown = low_size == u32::MAX && (!large || high_size == u32::MAX);
    // RAR 1.5 marked directories by their attribute, later versions by the window bits;
    // a Unix symbolic link's data is its target's path.
    let directory =
        flags & FILE_DIRECTORY == FILE_DIRECTORY || (version < 20 && attributes & 0x10 != 0);
    let link = host == HOST_UNIX && attributes & 0xF000 == 0xA000;
    // Methods are the digits '0' (stored) to '5'; other bytes are shown as they are.
    let method = (method != b'0').then(|| match method.checked_sub(b'0') {
        Some(digit) => digit.to_string(),
        None => format!("0x{method:02x}"),
    });
    let unsupported = refusal(flags & FILE_PASSWORD != 0, flags & FILE_SPLIT != 0, method);
    let (data, cut) = data_area(bytes, block.data_at, block.data_len);
    Ok(Member {
        name: member_name(&name4(raw_name, flags & FILE_UNICODE != 0), index),
        header_ok: block.crc_ok,
        skip: directory || link,
        unsupported,
        size: (!unknown).then_some(u64::from(high_size) << 32 | u64::from(low_size)),
        crc: le32(fixed, 16),
        data,
        cut,
    })
}

/// A RAR4 name: 8-bit (the archiver's code page, read as UTF-8 here), or with the Unicode
/// flag an 8-bit name, a zero and the Unicode name coded against it; `\` separates folders.
fn name4(raw: &[u8], unicode: bool) -> String {
    let (plain, coded) = match raw.iter().position(|&b| b == 0) {
        Some(zero) => (
            raw.get(..zero).unwrap_or_default(),
            raw.get(zero + 1..).unwrap_or_default(),
        ),
        None => (raw, &[][..]),
    };
    let mut name = String::new();
    if unicode && !coded.is_empty() {
        // Runs copy from the whole name field, as RAR reads them.
        name = decode_wide_name(raw, coded);
    }
    if name.is_empty() {
        name = String::from_utf8_lossy(plain).into_owned();
    }
    name.replace('\\', "/")
}

/// RAR4's coded Unicode name: a high byte, then for every four characters a byte of 2-bit
/// codes: 0 a low byte, 1 a low byte under the high byte, 2 a whole UTF-16 unit, 3 a run
/// copied from the 8-bit name (with a correction added and the high byte, when the run
/// length's top bit is set). Every round takes at least one byte of `coded`.
fn decode_wide_name(plain: &[u8], coded: &[u8]) -> String {
    let mut input = coded.iter().copied();
    let Some(high) = input.next() else {
        return String::new();
    };
    let high = u16::from(high) << 8;
    let mut units: Vec<u16> = Vec::new();
    let (mut codes, mut left) = (0u8, 0);
    while units.len() < MAX_NAME {
        if left == 0 {
            let Some(byte) = input.next() else { break };
            (codes, left) = (byte, 4);
        }
        let code = codes >> 6;
        (codes, left) = (codes << 2, left - 1);
        let Some(first) = input.next() else { break };
        match code {
            0 => units.push(u16::from(first)),
            1 => units.push(high | u16::from(first)),
            2 => {
                let Some(second) = input.next() else { break };
                units.push(u16::from_le_bytes([first, second]));
            }
            _ => {
                let correction = if first & 0x80 != 0 {
                    input.next()
                } else {
                    None
                };
                for _ in 0..usize::from(first & 0x7F) + 2 {
                    let Some(&byte) = plain.get(units.len()) else {
                        break;
                    };
                    units.push(match correction {
                        Some(add) => high | u16::from(byte.wrapping_add(add)),
                        None => u16::from(byte),
                    });
                }
            }
        }
    }
    String::from_utf16_lossy(&units)
}

// ---------------------------------------------------------------- RAR 5.0

/// One RAR5 header, read and checked.
struct Block5<'a> {
    kind: u64,
    flags: u64,
    /// The type-specific fields, between the common ones and the extra area.
    fields: &'a [u8],
    extra: &'a [u8],
    data_at: usize,
    data_len: u64,
    crc_ok: bool,
}

impl<'a> Block5<'a> {
    /// Reads the header at `at`: CRC-32 (4), size (vint), then `size` bytes: type, flags,
    /// extra area size and data size (when flagged), fields, extra area.
    fn read(bytes: &'a [u8], at: usize) -> Result<Block5<'a>, &'static str> {
        let stored = le32(bytes, at).ok_or(TRUNCATED)?;
        let sized = bytes.get(at.saturating_add(4)..).unwrap_or_default();
        let mut reader = Reader::new(sized);
        let size = reader
            .vint_within(SIZE5_BYTES)
            .ok_or("header size missing or too large")?;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_add(reader.at))
            .ok_or(TRUNCATED)?;
        let covered = sized.get(..end).ok_or(TRUNCATED)?;
        let mut body = Reader::new(covered.get(reader.at..).unwrap_or_default());
        let kind = body.vint().ok_or(SHORT)?;
        let flags = body.vint().ok_or(SHORT)?;
        let extra_len = if flags & HAS_EXTRA != 0 {
            body.vint().ok_or(SHORT)?
        } else {
            0
        };
        let data_len = if flags & HAS_DATA != 0 {
            body.vint().ok_or(SHORT)?
        } else {
            0
        };
        let rest = body.rest();
        let split = usize::try_from(extra_len)
            .ok()
            .and_then(|e| rest.len().checked_sub(e))
            .ok_or("extra area larger than its header")?;
        Ok(Block5 {
            kind,
            flags,
            fields: rest.get(..split).unwrap_or_default(),
            extra: rest.get(split..).unwrap_or_default(),
            data_at: at + 4 + end,
            data_len,
            crc_ok: crc32(covered) == stored,
        })
    }
}

/// Walks a RAR5 archive: headers until the end header or the input's end.
fn walk5(bytes: &[u8], out: &mut Unpacked) {
    let mut at = SIGNATURE5.len();
    let mut index = 0;
    // Every header is at least 7 bytes long, so `at` moves on each round.
    while at < bytes.len() {
        if !out.in_time() {
            return out.late(None);
        }
        let block = match Block5::read(bytes, at) {
            Ok(block) => block,
            Err(why) => return out.broken(None, why),
        };
        match block.kind {
            CRYPT5 => return out.encrypted(String::from("(headers)")),
            FILE5 => {
                index += 1;
                if !take(out, member5(bytes, &block, index)) {
                    return;
                }
            }
            END5 => return,
            kind if !block.crc_ok => {
                out.broken(None, format!("header of type {kind} fails its CRC check"));
            }
            _ => {}
        }
        match next_block(bytes, block.data_at, block.data_len) {
            Some(next) => at = next,
            None => return out.broken(None, "archive cut short inside a block's data"),
        }
    }
    // RAR 5 always ends an archive (and every volume) with an end header.
    out.broken(None, "archive ends without its end header");
}

/// Reads what a RAR5 file header says about its member: file flags, unpacked size,
/// attributes, [mtime], [CRC-32], compression info, host OS, name; records in the extra area.
fn member5<'a>(
    bytes: &'a [u8],
    block: &Block5<'a>,
    index: usize,
) -> Result<Member<'a>, &'static str> {
    let mut fields = Reader::new(block.fields);
    let file_flags = fields.vint().ok_or(SHORT)?;
    let size = fields.vint().ok_or(SHORT)?;
    fields.vint().ok_or(SHORT)?; // attributes
    if file_flags & FILE5_TIME != 0 {
        fields.take(4).ok_or(SHORT)?;
    }
    let crc = match file_flags & FILE5_CRC {
        0 => None,
        _ => Some(fields.take(4).and_then(|b| le32(b, 0)).ok_or(SHORT)?),
    };
    let info = fields.vint().ok_or(SHORT)?;
    fields.vint().ok_or(SHORT)?; // host OS
    let name_len = fields
        .vint()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(SHORT)?;
    let name = fields
        .take(name_len)
        .ok_or("file name runs past its header")?;
    let (encrypted, link) = extra_records5(block.extra);
    let method = (info >> 7) & 7;
    let method = (method != 0).then(|| method.to_string());
    let unsupported = refusal(encrypted, block.flags & SPLIT5 != 0, method);
    let (data, cut) = data_area(bytes, block.data_at, block.data_len);
    Ok(Member {
        name: member_name(&String::from_utf8_lossy(name), index),
        header_ok: block.crc_ok,
        skip: file_flags & FILE5_DIRECTORY != 0 || link,
        unsupported,
        size: (file_flags & FILE5_SIZE_UNKNOWN == 0).then_some(size),
        crc,
        data,
        cut,
    })
}

/// Whether a RAR5 file's extra area has an encryption record, and a redirection record (a
/// link or a copy of another member: no data of its own). Each record is its size (vint),
/// then that many bytes: type (vint) and data; a record that does not fit ends the area.
fn extra_records5(extra: &[u8]) -> (bool, bool) {
    let (mut encrypted, mut link) = (false, false);
    let mut reader = Reader::new(extra);
    while let Some(size) = reader.vint() {
        let Some(record) = usize::try_from(size)
            .ok()
            .filter(|&s| s > 0)
            .and_then(|s| reader.take(s))
        else {
            break;
        };
        match Reader::new(record).vint() {
            Some(EXTRA_CRYPT) => encrypted = true,
            Some(EXTRA_REDIRECT) => link = true,
            _ => {}
        }
    }
    (encrypted, link)
}

/// Reads RAR5 fields from a header, every read checked against its end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.at..).unwrap_or_default()
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let taken = self.rest().get(..len)?;
        self.at += len;
        Some(taken)
    }

    /// A vint: 7 bits a byte, low first, the top bit set on all but the last byte.
    fn vint(&mut self) -> Option<u64> {
        self.vint_within(10)
    }

    /// A vint of at most `max` bytes whose value fits 64 bits.
    fn vint_within(&mut self, max: usize) -> Option<u64> {
        let mut value = 0u64;
        for index in 0..max.min(10) {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            let part = u64::from(byte & 0x7F);
            if index == 9 && part > 1 {
                return None;
            }
            value |= part << (7 * index);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
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

#[cfg(test)]
#[path = "rar_tests.rs"]
mod tests;
