//! LHA/LZH archives (and LArc's): walks the member headers of levels 0 to 3 and decodes the
//! members stored (`-lh0-`, `-lz4-`), packed with static Huffman LZ77 (`-lh4-` to `-lh7-`,
//! 4 to 64 KiB windows), with LHarc's adaptive Huffman (`-lh1-`) or with LArc's short LZSS
//! (`-lzs-`, `-lz5-`); each file's CRC-16 is checked. Directory entries (`-lhd-`) are
//! skipped; other methods are reported unsupported. Facts about the format come from
//! lhasa's sources (header layouts, extended headers, the LArc and LHarc decoders' rules),
//! from LHA for UNIX's behaviour and from archives made with jLHA; the code is our own.

use super::Measure;
use super::unpacked::Unpacked;

/// The method id of every LHA member header starts so (`-lh5-`); LArc's start `-lz`, which
/// [`LARC_MAGIC`] finds.
pub const MAGIC: &[u8] = b"-lh";
/// The method id follows the header's size and checksum (or its 16-bit size).
pub const MAGIC_AT: usize = 2;
/// LArc's method ids (`-lz5-`), for a second signature at [`MAGIC_AT`].
pub const LARC_MAGIC: &[u8] = b"-lz";
/// What finds an archive inside other bytes (a self-extracting EXE's overlay).
pub const SIGNATURES: &[&[u8]] = &[MAGIC, LARC_MAGIC];

/// The fixed part every header level has: through the level byte (offset 20) and one more.
const COMMON: usize = 22;
/// Levels 0 and 1: the bytes after the size and checksum, without a name.
const LEVEL0_MIN: usize = 22;
const LEVEL1_MIN: usize = 25;
/// Level 2: the fixed fields through the first extended header's size.
const LEVEL2_MIN: usize = 26;
/// Level 3: likewise, with 32-bit sizes; lhasa refuses headers larger than this.
const LEVEL3_MIN: usize = 32;
const LEVEL3_MAX: usize = 64 * 1024;
/// Level 1's extended headers, which follow its base header, are read as far as this.
const EXTENDED_MAX: usize = 64 * 1024;
/// OS-9/68k's LHA writes level 2 headers two bytes shorter than they are.
const OS9_68K: u8 = b'K';
/// Output between two looks at the clock.
const CHECK_EVERY: usize = 64 * 1024;

/// One member header, read and checked.
#[derive(Debug)]
struct Header {
    method: [u8; 5],
    packed: u64,
    size: u64,
    crc: u16,
    /// The member's path, `dir/name`.
    name: String,
    /// Where the member's data starts, from the header's first byte.
    data_at: usize,
}

/// What the extended headers (levels 1 to 3) add.
#[derive(Default)]
struct Extended {
    name: Option<Vec<u8>>,
    dir: Option<Vec<u8>>,
    /// Where the header's own CRC-16 is, and its value.
    header_crc: Option<(usize, u16)>,
    /// 64-bit packed and original sizes.
    sizes: Option<(u64, u64)>,
}

/// Why a member's decoding stopped.
enum Stop {
    Damaged(&'static str),
    Late,
}

/// True when an LHA member header starts at `bytes[0]`: a method id, a header level, and a
/// header whose size, checksum (levels 0 and 1) or extended headers and their CRC (levels 2
/// and 3) hold.
pub(super) fn starts(bytes: &[u8]) -> bool {
    read_header(bytes).is_ok()
}

/// Reads every member of the archive in `bytes` within `measure`.
pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    let mut at = 0usize;
    let mut index = 0usize;
    // Each member moves `at` past its header, so the walk ends.
    while let Some(rest) = bytes.get(at..) {
        // A zero size byte ends the archive; a lone last byte (a DOS end-of-file mark) is
        // taken as its end too.
        if rest.len() <= 1 || rest.first() == Some(&0) {
            break;
        }
        if !out.in_time() {
            out.late(None);
            break;
        }
        let header = match read_header(rest) {
            Ok(header) => header,
            Err(why) => {
                out.broken(None, format!("member header at offset {at}: {why}"));
                break;
            }
        };
        index += 1;
        if !member(&mut out, &header, rest, index) {
            break;
        }
        let next = usize::try_from(header.packed)
            .ok()
            .and_then(|packed| header.data_at.checked_add(packed))
            .and_then(|len| at.checked_add(len));
        match next {
            Some(next) => at = next,
            None => break,
        }
    }
    out
}

/// Reads one member whose header starts `rest`; false when the walk stops there.
fn member(out: &mut Unpacked, header: &Header, rest: &[u8], index: usize) -> bool {
    let name = if header.name.is_empty() {
        format!("member{index}")
    } else {
        header.name.clone()
    };
    let data = rest.get(header.data_at..).unwrap_or_default();
    let whole = usize::try_from(header.packed).is_ok_and(|packed| packed <= data.len());
    let data = data
        .get(..usize::try_from(header.packed).unwrap_or(usize::MAX))
        .unwrap_or(data);
    let method = &header.method;
    if method == b"-lhd-" {
        return whole;
    }
    let Some(decode) = decoder(method) else {
        let id = String::from_utf8_lossy(method);
        out.unsupported(name, format!("compression method {id}"));
        return whole;
    };
    let size = match usize::try_from(header.size) {
        Ok(size) if size <= out.room() => size,
        _ => {
            let why = format!(
                "claims {} bytes, past the cap of {} bytes",
                header.size,
                out.room()
            );
            out.broken(Some(name), why);
            return false;
        }
    };
    match decode(data, size, out) {
        Ok(bytes) => keep(out, name, bytes, header.crc) && whole,
        Err(Stop::Damaged(why)) => {
            out.broken(Some(name), if whole { why } else { "truncated" });
            whole
        }
        Err(Stop::Late) => {
            out.late(Some(name));
            false
        }
    }
}

/// Keeps a decoded file, noting a CRC mismatch; false at the cap.
fn keep(out: &mut Unpacked, name: String, bytes: Vec<u8>, crc: u16) -> bool {
    let bad = crc16(&bytes) != crc;
    if bad {
        out.broken(Some(name.clone()), "CRC-16 mismatch");
    }
    out.file(name, bytes)
}

/// How a member's data becomes its `size` bytes.
type Decoder = fn(&[u8], usize, &Unpacked) -> Result<Vec<u8>, Stop>;

/// The decoder of `method`, if it is one decoded here.
fn decoder(method: &[u8; 5]) -> Option<Decoder> {
    Some(match method {
        b"-lh0-" | b"-lz4-" => stored,
        b"-lh1-" => lh1,
        b"-lh4-" => |data, size, out| lzh(data, size, 12, 4, out),
        b"-lh5-" => |data, size, out| lzh(data, size, 13, 4, out),
        b"-lh6-" => |data, size, out| lzh(data, size, 15, 5, out),
        b"-lh7-" => |data, size, out| lzh(data, size, 16, 5, out),
        b"-lzs-" => |data, size, out| lzss(data, size, &Lzss::LZS, out),
        b"-lz5-" => |data, size, out| lzss(data, size, &Lzss::LZ5, out),
        _ => return None,
    })
}

fn stored(data: &[u8], size: usize, _: &Unpacked) -> Result<Vec<u8>, Stop> {
    let file = data
        .get(..size)
        .ok_or(Stop::Damaged("stored data shorter than the file"))?;
    Ok(file.to_vec())
}

/// After each item: damage once the packed data ran out, and a look at the clock every
/// [`CHECK_EVERY`] bytes out.
fn step(bits: &Bits, made: usize, check: &mut usize, out: &Unpacked) -> Result<(), Stop> {
    if bits.overrun() {
        return Err(Stop::Damaged("packed data ends early"));
    }
    if made >= *check {
        *check = made + CHECK_EVERY;
        if !out.in_time() {
            return Err(Stop::Late);
        }
    }
    Ok(())
}

// ---- Headers ----

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads and checks the member header at `bytes[0]`.
fn read_header(bytes: &[u8]) -> Result<Header, &'static str> {
    let fixed = bytes.get(..COMMON).ok_or("header cut short")?;
    let mut method = [0u8; 5];
    method.copy_from_slice(&fixed[2..7]);
    let id_ok = method[0] == b'-'
        && method[1] == b'l'
        && method[4] == b'-'
        && method[2..4].iter().all(u8::is_ascii_alphanumeric);
    if !id_ok {
        return Err("no method id");
    }
    let mut header = match fixed[20] {
        0 | 1 => low_level(bytes, fixed[20])?,
        2 => level2(bytes)?,
        3 => level3(bytes)?,
        _ => return Err("unknown header level"),
    };
    header.method = method;
    Ok(header)
}

/// Levels 0 and 1: a one-byte size and an 8-bit checksum, the name in the fixed part; level 1
/// adds extended headers after it, counted in the packed size.
fn low_level(bytes: &[u8], level: u8) -> Result<Header, &'static str> {
    let fixed = bytes.get(..COMMON).ok_or("header cut short")?;
    let len = usize::from(fixed[0]);
    let base = bytes.get(2..2 + len).ok_or("header cut short")?;
    let sum = base.iter().fold(0u8, |sum, b| sum.wrapping_add(*b));
    if sum != fixed[1] {
        return Err("header checksum mismatch");
    }
    let name_len = usize::from(fixed[21]);
    let min = if level == 0 { LEVEL0_MIN } else { LEVEL1_MIN };
    if len < min + name_len {
        return Err("header too short for its name");
    }
    let mut packed = u64::from(le32(bytes, 7).ok_or("header cut short")?);
    let mut ext = Extended::default();
    let mut data_at = 2 + len;
    if level == 1 {
        // Extended headers past 64 KiB are no LHA's: a bound on what a search costs.
        let bounded = bytes.get(..2 + len + EXTENDED_MAX).unwrap_or(bytes);
        data_at = extended(bounded, len, 2, &mut ext)?;
        let added = (data_at - 2 - len) as u64;
        packed = packed
            .checked_sub(added)
            .ok_or("extended headers past the packed size")?;
    }
    let name = bytes.get(22..22 + name_len).unwrap_or_default();
    let header = Header {
        method: [0; 5],
        packed,
        size: u64::from(le32(bytes, 11).ok_or("header cut short")?),
        crc: le16(bytes, 22 + name_len).ok_or("header cut short")?,
        name: String::new(),
        data_at,
    };
    finish(bytes, header, ext, Some(name))
}

/// Level 2: a 16-bit size of the whole header, extended headers from offset 24.
fn level2(bytes: &[u8]) -> Result<Header, &'static str> {
    let mut len = usize::from(le16(bytes, 0).ok_or("header cut short")?);
    if bytes.get(23) == Some(&OS9_68K) {
        len += 2;
    }
    if len < LEVEL2_MIN {
        return Err("header too short");
    }
    let whole = bytes.get(..len).ok_or("header cut short")?;
    let mut ext = Extended::default();
    extended(whole, 24, 2, &mut ext)?;
    let header = sized_header(whole, len)?;
    finish(whole, header, ext, None)
}

/// Level 3: a word size of 4, a 32-bit header size at offset 24, extended headers with
/// 32-bit sizes from offset 28.
fn level3(bytes: &[u8]) -> Result<Header, &'static str> {
    if le16(bytes, 0) != Some(4) {
        return Err("level 3 word size is not 4");
    }
    let len = le32(bytes, 24).and_then(|len| usize::try_from(len).ok());
    let len = len.ok_or("header cut short")?;
    if !(LEVEL3_MIN..=LEVEL3_MAX).contains(&len) {
        return Err("level 3 header size out of range");
    }
    let whole = bytes.get(..len).ok_or("header cut short")?;
    let mut ext = Extended::default();
    extended(whole, 28, 4, &mut ext)?;
    let header = sized_header(whole, len)?;
    finish(whole, header, ext, None)
}

/// The fields levels 2 and 3 share: sizes at 7 and 11, the file's CRC at 21.
fn sized_header(whole: &[u8], len: usize) -> Result<Header, &'static str> {
    Ok(Header {
        method: [0; 5],
        packed: u64::from(le32(whole, 7).ok_or("header cut short")?),
        size: u64::from(le32(whole, 11).ok_or("header cut short")?),
        crc: le16(whole, 21).ok_or("header cut short")?,
        name: String::new(),
        data_at: len,
    })
}

/// Walks the chain of extended headers whose first size field is at `at` (each header holds
/// the next one's size in its last `field` bytes); returns where the chain ends.
fn extended(
    bytes: &[u8],
    mut at: usize,
    field: usize,
    ext: &mut Extended,
) -> Result<usize, &'static str> {
    loop {
        let size = if field == 2 {
            le16(bytes, at).map(usize::from)
        } else {
            le32(bytes, at).and_then(|s| usize::try_from(s).ok())
        };
        let size = size.ok_or("extended header cut short")?;
        let start = at + field;
        if size == 0 {
            return Ok(start);
        }
        if size < field + 1 {
            return Err("extended header too short");
        }
        let end = start.checked_add(size).ok_or("extended header too long")?;
        let body = bytes.get(start..end).ok_or("extended header cut short")?;
        one_extended(body[0], &body[1..size - field], start + 1, ext);
        // The next size field is this header's tail: `at` moves on by `size`, at least 3.
        at = end - field;
    }
}

/// Notes what one extended header of `kind` says; `data_at` is where its data is.
fn one_extended(kind: u8, data: &[u8], data_at: usize, ext: &mut Extended) {
    match kind {
        0x00 => ext.header_crc = le16(data, 0).map(|crc| (data_at, crc)),
        0x01 => ext.name = Some(data.to_vec()),
        0x02 => ext.dir = Some(data.to_vec()),
        0x42 => {
            let word = |at| Some(u64::from(le32(data, at)?) | u64::from(le32(data, at + 4)?) << 32);
            ext.sizes = word(0).zip(word(8));
        }
        _ => {}
    }
}

/// Checks the header's own CRC when it has one and fills in its sizes and path.
fn finish(
    bytes: &[u8],
    mut header: Header,
    ext: Extended,
    base_name: Option<&[u8]>,
) -> Result<Header, &'static str> {
    if let Some((at, crc)) = ext.header_crc {
        let raw = bytes.get(..header.data_at).ok_or("header cut short")?;
        // The CRC is of the header with its own field zeroed.
        let mut zeroed = raw.to_vec();
        for i in [at, at + 1] {
            if let Some(byte) = zeroed.get_mut(i) {
                *byte = 0;
            }
        }
        if crc16(&zeroed) != crc {
            return Err("header CRC mismatch");
        }
    }
    if let Some((packed, size)) = ext.sizes {
        (header.packed, header.size) = (packed, size);
    }
    let name = ext.name.as_deref().or(base_name).unwrap_or_default();
    header.name = path(ext.dir.as_deref().unwrap_or_default(), name);
    Ok(header)
}

/// Joins a directory (parts split by 0xFF, or `\` from DOS) and a name as `dir/name`.
fn path(dir: &[u8], name: &[u8]) -> String {
    let slash = |b: &u8| if *b == 0xFF || *b == b'\\' { b'/' } else { *b };
    let mut joined: Vec<u8> = dir.iter().map(slash).collect();
    while joined.last() == Some(&b'/') {
        joined.pop();
    }
    if !joined.is_empty() && !name.is_empty() {
        joined.push(b'/');
    }
    joined.extend(name.iter().map(slash));
    String::from_utf8_lossy(&joined).into_owned()
}

/// CRC-16 as LHA computes it (the ARC polynomial 0xA001, reflected, starting at 0).
fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, b| {
        let mut crc = crc ^ u16::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                crc >> 1 ^ 0xA001
            } else {
                crc >> 1
            };
        }
        crc
    })
}

mod codes;
use self::codes::{Bits, lzh};
use self::larc::{Lzss, lzss};
use self::lh1::lh1;
mod larc;
mod lh1;
#[cfg(test)]
mod tests;
