//! ARJ archives: walks the main header and every local header after it, and decodes the
//! members stored (method 0), packed with ARJ's LZ77 + Huffman coder (methods 1-3, a 26 KiB
//! window with LHA `-lh7-`-style block tables) or with its "fastest" coder (method 4: LZ77
//! with unary-prefixed lengths and distances). Garbled (password) members and members split
//! across volumes are reported as unsupported. Facts about the format come from ClamAV's
//! `libclamav/unarj.c` (header layout, table and bit-stream rules) and from archives made
//! with ARJ32 3.10; the code is our own.

use super::Measure;
use super::unpacked::Unpacked;

/// Every ARJ header (main and local) starts with this id.
pub const MAGIC: &[u8] = &[0x60, 0xEA];
/// The main header is at the archive's first byte.
pub const MAGIC_AT: usize = 0;

/// ARJ refuses basic headers larger than this (30 fixed bytes, 10 spare, name, comment).
const MAX_BASIC: usize = 2600;
/// The fixed fields every basic header has, before any extra data and the name.
const FIRST_MIN: usize = 30;
const FLAG_GARBLED: u8 = 0x01;
/// The member goes on in the next volume.
const FLAG_VOLUME: u8 = 0x04;
/// The member began in the previous volume.
const FLAG_EXTFILE: u8 = 0x08;

/// One header, main or local, read and checked.
struct Header {
    flags: u8,
    method: u8,
    file_type: u8,
    comp_size: u32,
    orig_size: u32,
    crc: u32,
    name: String,
    crc_ok: bool,
    /// Where the member's data starts: after the basic header, its CRC and the extended
    /// headers.
    data_at: usize,
}

/// The file type of the main header (ARJ calls it the comment header); local headers, which
/// share the id and CRC, have other types.
const MAIN_TYPE: u8 = 2;

/// True when an ARJ archive starts at `bytes[0]`: the id, a main header of a sane size and
/// a matching header CRC (ARJ itself finds archives in SFX stubs by the id and CRC).
pub(super) fn starts(bytes: &[u8]) -> bool {
    matches!(read_header(bytes, 0), Ok(Some(header)) if header.crc_ok && header.file_type == MAIN_TYPE)
}

/// Reads every member of the archive in `bytes` within `measure`.
pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    let mut at = match read_header(bytes, 0) {
        Ok(Some(main)) => {
            if !main.crc_ok {
                out.broken(None, "main header CRC mismatch");
            }
            main.data_at
        }
        Ok(None) | Err(_) => {
            out.broken(None, "no ARJ main header");
            return out;
        }
    };
    // Each round moves `at` forward by at least one header, so the walk ends.
    for index in 1usize.. {
        if !out.in_time() {
            out.late(None);
            break;
        }
        let header = match read_header(bytes, at) {
            Ok(Some(header)) => header,
            Ok(None) => break,
            Err(why) => {
                out.broken(None, why);
                break;
            }
        };
        let name = member_name(&header.name, index);
        if !header.crc_ok {
            out.broken(Some(name.clone()), "local header CRC mismatch");
        }
        let next = header.data_at.checked_add(header.comp_size as usize);
        if !member(&mut out, bytes, &header, name) {
            break;
        }
        match next {
            Some(next) if next <= bytes.len() => at = next,
            _ => break,
        }
    }
    out
}

/// Reads the header at `at`: `Ok(None)` for the end-of-archive header (size 0).
fn read_header(bytes: &[u8], at: usize) -> Result<Option<Header>, &'static str> {
    const TRUNCATED: &str = "archive truncated in a header";
    if bytes.get(at..at.saturating_add(2)).ok_or(TRUNCATED)? != MAGIC {
        return Err("no ARJ header id where a header should be");
    }
    let size = usize::from(le16(bytes, at + 2).ok_or(TRUNCATED)?);
    if size == 0 {
        return Ok(None);
    }
    if size > MAX_BASIC {
        return Err("header larger than ARJ allows");
    }
    let basic_at = at + 4;
    let basic = bytes.get(basic_at..basic_at + size).ok_or(TRUNCATED)?;
    let stored_crc = le32(bytes, basic_at + size).ok_or(TRUNCATED)?;
    let fixed: &[u8; FIRST_MIN] = basic
        .get(..FIRST_MIN)
        .and_then(|part| part.try_into().ok())
        .ok_or("header shorter than its fixed fields")?;
    let first = usize::from(fixed[0]);
    if first < FIRST_MIN || first > size {
        return Err("header's fixed part has an impossible size");
    }
    let name = basic.get(first..).unwrap_or_default();
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    let data_at = skip_extended(bytes, basic_at + size + 4).ok_or(TRUNCATED)?;
    Ok(Some(Header {
        flags: fixed[4],
        method: fixed[5],
        file_type: fixed[6],
        comp_size: le32(fixed, 12).unwrap_or(0),
        orig_size: le32(fixed, 16).unwrap_or(0),
        crc: le32(fixed, 20).unwrap_or(0),
        name: String::from_utf8_lossy(name).replace('\\', "/"),
        crc_ok: crc32(basic) == stored_crc,
        data_at,
    }))
}

/// Skips the extended headers (size, bytes, CRC; a zero size ends them) that follow a basic
/// header; each one advances, so the loop ends.
fn skip_extended(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let size = usize::from(le16(bytes, at)?);
        at += 2;
        if size == 0 {
            return Some(at);
        }
        at = at.checked_add(size + 4)?;
    }
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

/// Reads one member into `out`; false when the walk must stop (cap, deadline, truncation).
fn member(out: &mut Unpacked, bytes: &[u8], header: &Header, name: String) -> bool {
    // Binary and text files hold data; comments, directories, labels and chapters do not.
    if header.file_type > 1 {
        return true;
    }
    if header.flags & FLAG_GARBLED != 0 {
        out.encrypted(name);
        return true;
    }
    if header.flags & (FLAG_VOLUME | FLAG_EXTFILE) != 0 {
        out.unsupported(name, "member split across volumes (multi-volume archive)");
        return true;
    }
    let end = header.data_at.saturating_add(header.comp_size as usize);
    let data = bytes
        .get(header.data_at..end.min(bytes.len()))
        .unwrap_or_default();
    let truncated = end > bytes.len();
    if header.orig_size as usize > out.room() {
        let why = format!("claims {} bytes, past the cap", header.orig_size);
        out.broken(Some(name), why);
        return false;
    }
    let want = header.orig_size as usize;
    let (decoded, fault) = match header.method {
        0 => (data.get(..want).unwrap_or(data).to_vec(), None),
        1..=3 => Lzh::new(data).decode(want, out),
        4 => decode_fastest(data, want, out),
        method => {
            out.unsupported(name, format!("method {method}"));
            return !truncated;
        }
    };
    if truncated {
        out.broken(
            Some(name.clone()),
            "member data cut short by the archive's end",
        );
    }
    keep(out, name, decoded, header.crc, fault) && !truncated
}

/// Keeps a decoded member and notes what went wrong with it; false when the walk must stop.
fn keep(out: &mut Unpacked, name: String, bytes: Vec<u8>, crc: u32, fault: Option<Fault>) -> bool {
    match fault {
        Some(Fault::Late) => {
            out.late(Some(name));
            return false;
        }
        Some(Fault::Bad(why)) => out.broken(Some(name.clone()), why),
        None if crc32(&bytes) != crc => out.broken(Some(name.clone()), "CRC-32 mismatch"),
        None => {}
    }
    out.file(name, bytes)
}

/// Why a decoder stopped before the member's end.
#[derive(Debug)]
enum Fault {
    Late,
    Bad(&'static str),
}

type Decoded = (Vec<u8>, Option<Fault>);

/// Output a decoder produces between deadline checks.
const CHECK_EVERY: usize = 1 << 16;

/// The "fastest" coder (method 4): a 0 bit then 8 bits is a literal; otherwise a length
/// and a distance, each a unary prefix choosing a power-of-two range plus that many bits.
fn decode_fastest(data: &[u8], want: usize, out: &Unpacked) -> Decoded {
    let mut bits = Bits::new(data);
    let mut text = Vec::with_capacity(want.min(CHECK_EVERY * 16));
    let mut check_at = CHECK_EVERY;
    while text.len() < want {
        if text.len() >= check_at {
            if !out.in_time() {
                return (text, Some(Fault::Late));
            }
            check_at = text.len() + CHECK_EVERY;
        }
        let len = bits.unary_range(0, 7);
        if len == 0 {
            text.push(bits.take(8) as u8);
        } else {
            let distance = bits.unary_range(9, 13) as usize + 1;
            if let Err(why) = copy_match(&mut text, distance, len as usize + 2, want) {
                return (text, Some(Fault::Bad(why)));
            }
        }
        if bits.overrun() {
            return (text, Some(Fault::Bad(ENDS_EARLY)));
        }
    }
    (text, None)
}

const ENDS_EARLY: &str = "compressed data ends early";

/// Copies a match of `len` bytes from `distance` back, stopping at `want` bytes in all.
fn copy_match(
    text: &mut Vec<u8>,
    distance: usize,
    len: usize,
    want: usize,
) -> Result<(), &'static str> {
    let from = text
        .len()
        .checked_sub(distance)
        .ok_or("match reaches before the start of the file")?;
    let len = len.min(want.saturating_sub(text.len()));
    // Byte by byte: a match may overlap the bytes it produces.
    for i in from..from + len {
        let byte = text.get(i).copied().unwrap_or(0);
        text.push(byte);
    }
    Ok(())
}

/// A table sent as its one symbol.
fn only(symbol: u32, most: usize) -> Result<Huffman, &'static str> {
    match u16::try_from(symbol) {
        Ok(symbol) if usize::from(symbol) < most => Ok(Huffman::single(symbol)),
        _ => Err("single-symbol table out of range"),
    }
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

mod lzh;
use self::lzh::*;

#[cfg(test)]
#[path = "arj_tests.rs"]
mod tests;
