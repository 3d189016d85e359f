//! ASPack 2.x-packed PE files (2.12 to 2.42). ASPack compresses sections in place, adds its
//! stub in a section `.aspack` (and an empty `.adata`), and points the entry point there. The
//! stub holds, at offsets fixed per version, a table of the compressed blocks (RVA and
//! unpacked size), the constants of its decompressor, the original entry point and the marker
//! of its CALL/JMP filter. We lay the file out as loaded, decode each block in place (see
//! [`codec`]), undo the filter on the first block, and rebuild a PE from the packed one's
//! header: ASPack's two sections dropped, each section's data at its virtual size, the
//! original entry point, and the import directory back where the stub finds it. Facts come
//! from ClamAV's libclamav/aspack.c and pe.c and from reading ASPack 2.12's stub; the code is
//! our own.

use super::Measure;
use super::unpacked::Unpacked;

/// The stub's first instructions (PUSHAD; CALL +3; ...), at the entry point.
const ENTRY_CODE: &[u8] = b"\x60\xe8\x03\x00\x00\x00\xe9\xeb";
/// `PUSH 0; RET`: the jump to the original entry point, patched at run time; where it is
/// tells the version.
const PUSH_RET: &[u8] = b"\x68\x00\x00\x00\x00\xc3";
/// The input of a block is read with this much slack after it (ASPack allocates it too).
const SLACK: usize = 0x10e;
/// The most blocks read from the table (ASPack makes one per section).
const MAX_BLOCKS: usize = 1024;

/// Where a version keeps things. `push_ret` counts from the entry point; the others count
/// from the byte before it, the start of ASPack's section, as ClamAV's offsets do.
struct Version {
    /// The versions a layout covers, as the tests name them.
    #[cfg_attr(not(test), allow(dead_code))]
    name: &'static str,
    push_ret: usize,
    blocks: usize,
    /// The decompressor's constants ([`codec::Stub`]).
    table: usize,
    /// The byte that follows E8/E9 in a filtered CALL/JMP.
    marker: usize,
    /// The original entry point (an RVA).
    entry: usize,
    /// Bytes per row of the block table.
    row: usize,
}

const VERSIONS: [Version; 3] = [
    Version {
        name: "2.12",
        push_ret: 0x3b9,
        blocks: 0x57c,
        table: 0x6d6,
        marker: 0x148,
        entry: 0x39b,
        row: 8,
    },
    Version {
        name: "2.13 to 2.41",
        push_ret: 0x41f,
        blocks: 0x5d8,
        table: 0x732,
        marker: 0x13a,
        entry: 0x401,
        row: 12,
    },
    Version {
        name: "2.42",
        push_ret: 0x42b,
        blocks: 0x5e4,
        table: 0x73e,
        marker: 0x148,
        entry: 0x40d,
        row: 12,
    },
];

/// Why decoding stopped.
#[derive(Debug)]
enum Fail {
    Broken(String),
    Late,
}

type Res<T> = Result<T, Fail>;

fn broken<T>(why: impl Into<String>) -> Res<T> {
    Err(Fail::Broken(why.into()))
}

fn note(out: &mut Unpacked, member: &str, fail: Fail) {
    match fail {
        Fail::Broken(why) => out.broken(Some(member.into()), why),
        Fail::Late => out.late(Some(member.into())),
    }
}

/// True for a 32-bit PE whose entry point has ASPack 2.x's first instructions and, where one
/// of the versions has it, its PUSH 0; RET.
pub(super) fn starts(bytes: &[u8]) -> bool {
    Pe::read(bytes).is_some_and(|pe| pe.version().is_some())
}

pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    match Pe::read(bytes).and_then(|pe| Some((pe.version()?, pe))) {
        Some((version, pe)) => unpack_pe(&pe, version, &mut out),
        None => out.broken(None, "no ASPack 2.x stub at the entry point of a PE"),
    }
    out
}

// ---- little helpers ------------------------------------------------------------------------

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn put32(b: &mut [u8], at: usize, v: u32) {
    if let Some(to) = b.get_mut(at..at.saturating_add(4)) {
        to.copy_from_slice(&v.to_le_bytes());
    }
}
fn idx(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
fn align_up(v: usize, align: usize) -> usize {
    v.div_ceil(align.max(1)).saturating_mul(align.max(1))
}

mod codec;
mod pe;
#[cfg(test)]
mod tests;

use self::pe::*;

/// Lays out the image, decodes the blocks, and keeps the rebuilt file (or, when it cannot be
/// rebuilt, the image) with what went wrong.
fn unpack_pe(pe: &Pe, version: &Version, out: &mut Unpacked) {
    const RAW: &str = "unpacked";
    let mut image = match pe.image(out.room()) {
        Ok(image) => image,
        Err(fail) => return note(out, RAW, fail),
    };
    let stub = idx(pe.entry).saturating_sub(1);
    let decoded = decode_blocks(&mut image, stub, version, out);
    let dll = le16(pe.bytes, pe.pe_off + 0x16).is_some_and(|c| c & 0x2000 != 0);
    let member = if dll { "unpacked.dll" } else { "unpacked.exe" };
    if let Err(fail) = decoded {
        note(out, member, fail);
    }
    let entry = le32(&image, stub.saturating_add(version.entry));
    let imports = import_directory(&image, stub);
    match pe.rebuild(&image, entry, imports, out.room()) {
        Some(file) => out.file(member, file),
        None => out.file(RAW, image),
    };
}

/// Decodes each block of the stub's table in place; the first gets its CALL/JMP filter
/// undone when the stub says so.
fn decode_blocks(image: &mut [u8], stub: usize, version: &Version, out: &Unpacked) -> Res<()> {
    let table = stub.saturating_add(version.table);
    let constants = image.get(table..table.saturating_add(codec::STUB_TABLE));
    let Some(constants) = constants.and_then(codec::Stub::new) else {
        return broken("ASPack's decompressor tables are missing or damaged");
    };
    let marker = image.get(stub.saturating_add(version.marker)).copied();
    let filter = marker.filter(|_| filter_on(image, stub));
    let mut row = stub.saturating_add(version.blocks);
    for n in 0..MAX_BLOCKS {
        let (Some(rva), Some(size)) = (le32(image, row), le32(image, row.saturating_add(4))) else {
            return broken("ASPack's block table is cut off");
        };
        row = row.saturating_add(version.row);
        // Later versions skip rows of this size (ClamAV's reading of their loop).
        if version.row == 12 && size == 0xffff_fef2 {
            continue;
        }
        if rva == 0 {
            return Ok(());
        }
        let (at, size) = (idx(rva), idx(size));
        let Some(block) = image
            .get_mut(at..at.saturating_add(size))
            .filter(|_| size > 0)
        else {
            return broken(format!("block {n} lies outside the image"));
        };
        let mut input = block.to_vec();
        input.resize(size + SLACK, 0);
        let (data, fail) = codec::decompress(&input, size, &constants, &|| out.in_time());
        if let Some(to) = block.get_mut(..data.len()) {
            to.copy_from_slice(&data);
        }
        if let Some(fail) = fail {
            return Err(fail);
        }
        if let Some(marker) = filter.filter(|_| n == 0) {
            codec::unfilter(block, marker);
        }
    }
    broken("ASPack's block table has too many rows")
}

/// Whether the stub undoes its CALL/JMP filter: it tests a flag it loads with `MOV BL, flag;
/// CMP BL, 0; JNZ skip` and filters when the flag is 0. Without that code (not seen), filter,
/// as ClamAV always does.
fn filter_on(image: &[u8], stub: usize) -> bool {
    let code = image.get(stub..stub.saturating_add(0x200).min(image.len()));
    let test = code
        .unwrap_or_default()
        .windows(6)
        .find(|w| matches!(w, [0xb3, _, 0x80, 0xfb, 0x00, 0x75]));
    test.is_none_or(|w| w.get(1) == Some(&0))
}

/// The original import directory: the stub walks it from `MOV ESI, rva` followed by
/// `MOV EDX, [EBP+x]; ADD ESI, EDX; MOV EAX, [ESI+12]`. Its size: the descriptors up to the one
/// with no name, and that one.
fn import_directory(image: &[u8], stub: usize) -> Option<(u32, u32)> {
    let code = image.get(stub..stub.saturating_add(0x600).min(image.len()))?;
    let walk = |w: &[u8]| {
        w.first() == Some(&0xbe)
            && w.get(5..7) == Some(&[0x8b, 0x95])
            && w.get(9..16) == Some(&[0, 0, 0x03, 0xf2, 0x8b, 0x46, 0x0c])
    };
    let at = code.windows(16).position(walk)?;
    let rva = le32(code, at + 1)?;
    let count = (0..4096)
        .take_while(|i| le32(image, idx(rva).saturating_add(20 * i + 12)).is_some_and(|n| n != 0))
        .count();
    let size = 20 * (count as u32 + 1);
    (count > 0 && idx(rva).saturating_add(idx(size)) <= image.len()).then_some((rva, size))
}
