//! UPX-packed executables. For a PE: finds the `UPX!` packheader, decompresses the packed
//! image (NRV2B, NRV2D, NRV2E in their LE32, 8-bit and LE16 bit orders; LZMA; deflate), undoes
//! the x86 CALL/JMP filters, and rebuilds the file as `upx -d` does from the original header
//! and section table UPX stores after the image: imports, relocations, exports and the
//! resources UPX left uncompressed go back in place. For an ELF: decodes the blocks of each
//! loaded segment and of the gaps between into the original file. Facts come from UPX's
//! formats (packhead, filters, pefile, p_lx_elf, as published with UPX) and ClamAV's
//! libclamav/upx.c; the code is our own.

use std::io::Read;

use super::Measure;
use super::unpacked::Unpacked;

/// The packheader's magic. It has no fixed place (in a PE just before the packed data of the
/// second section, in an ELF at the end and after the program headers), so it finds no packed
/// file inside other bytes: [`starts`] tells one from its first byte.
pub const MAGIC: &[u8] = b"UPX!";
/// See [`MAGIC`]: no fixed offset; 0 stands for "from the start".
pub const MAGIC_AT: usize = 0;

/// How often (in bytes) decoding loops ask for the time.
const CHECK_EVERY: usize = 64 * 1024;
/// The size of a packheader of version 10 and later (all but DOS formats).
const PACKHEADER: usize = 32;

/// Why decoding stopped.
#[derive(Debug)]
enum Fail {
    Broken(String),
    Unsupported(String),
    Late,
}

type Res<T> = Result<T, Fail>;

fn broken<T>(why: impl Into<String>) -> Res<T> {
    Err(Fail::Broken(why.into()))
}

fn bad(what: &str) -> Fail {
    Fail::Broken(format!("UPX's {what} is damaged"))
}

fn note(out: &mut Unpacked, member: &str, fail: Fail) {
    match fail {
        Fail::Broken(why) => out.broken(Some(member.into()), why),
        Fail::Unsupported(why) => out.unsupported(member.into(), why),
        Fail::Late => out.late(Some(member.into())),
    }
}

/// True for an MZ/PE with a valid packheader where UPX puts it, or an ELF ending in one.
pub(super) fn starts(bytes: &[u8]) -> bool {
    Pe::read(bytes).is_some_and(|pe| pe.packheader().is_some()) || elf_packheader(bytes).is_some()
}

pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    if let Some((ph, pe)) = Pe::read(bytes).and_then(|pe| Some((pe.packheader()?, pe))) {
        unpack_pe(&ph, &pe, &mut out);
    } else if let Some((ph, p_info)) = elf_packheader(bytes) {
        unpack_elf(bytes, &ph, p_info, &mut out);
    } else {
        out.broken(None, "no UPX packheader in a PE or ELF file");
    }
    out
}

// ---- little helpers ------------------------------------------------------------------------

fn array<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}
fn le16(b: &[u8], at: usize) -> Option<u16> {
    array(b, at).map(u16::from_le_bytes)
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_le_bytes)
}
fn be32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_be_bytes)
}
fn le64(b: &[u8], at: usize) -> Option<u64> {
    array(b, at).map(u64::from_le_bytes)
}
fn put(b: &mut [u8], at: usize, v: &[u8]) -> Option<()> {
    b.get_mut(at..at.checked_add(v.len())?)?.copy_from_slice(v);
    Some(())
}
/// The bytes up to (not with) the first NUL, when there is one.
fn cstr(b: &[u8]) -> Option<&[u8]> {
    b.get(..b.iter().position(|&c| c == 0)?)
}
fn align_up(v: u64, align: u64) -> u64 {
    v.div_ceil(align.max(1)).saturating_mul(align.max(1))
}
fn idx(v: impl TryInto<usize>) -> usize {
    v.try_into().unwrap_or(usize::MAX)
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += u32::from(x);
            b += a;
        }
        (a, b) = (a % 65521, b % 65521);
    }
    b << 16 | a
}

// ---- the packheader ------------------------------------------------------------------------

/// The `UPX!` header before the packed data (version 10 and later, 32 bytes).
#[derive(Debug, Clone)]
struct PackHeader {
    at: usize,
    format: u8,
    method: u8,
    u_adler: u32,
    c_adler: u32,
    u_len: u32,
    c_len: u32,
    filter: u8,
    cto: u8,
}

/// The first valid packheader in `bytes[from..from + window]`.
fn find_packheader(bytes: &[u8], from: usize, window: usize) -> Option<PackHeader> {
    let area = bytes.get(from..from.saturating_add(window).min(bytes.len()))?;
    let mut hits = area.windows(4).enumerate().filter(|(_, w)| *w == MAGIC);
    hits.find_map(|(i, _)| parse_packheader(bytes, from + i))
}

fn parse_packheader(bytes: &[u8], at: usize) -> Option<PackHeader> {
    let p: [u8; PACKHEADER] = array(bytes, at)?;
    let [_, _, _, _, version, format, method, ..] = p;
    // DOS formats have shorter headers; before version 10 there is no checksum to trust.
    if version < 10 || matches!(format, 1..=3 | 7) {
        return None;
    }
    let sum: u32 = p.get(4..31)?.iter().map(|&b| u32::from(b)).sum();
    if sum % 251 != u32::from(p[31]) {
        return None;
    }
    let big = format >= 128;
    let word = |at| if big { be32(&p, at) } else { le32(&p, at) };
    let (u_len, c_len, u_adler, c_adler) = if big {
        (word(8)?, word(12)?, word(16)?, word(20)?)
    } else {
        (word(16)?, word(20)?, word(8)?, word(12)?)
    };
    let (filter, cto) = (p[28], p[29]);
    Some(PackHeader {
        at,
        format,
        method,
        u_adler,
        c_adler,
        u_len,
        c_len,
        filter,
        cto,
    })
}

mod codec;
mod elf;
mod pe;
mod rebuild;
#[cfg(test)]
mod tests;

use self::codec::*;
use self::elf::*;
use self::pe::*;
use self::rebuild::*;
