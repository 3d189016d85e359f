//! WWPack32-packed executables. WWPack32 (Piotr Warezak and Rafal Wierzbicki) compresses the
//! sections of a PE in place and appends a section holding its decompression stub, where the
//! entry point goes. This module lays the packed file out as the loader would, expands each
//! block the stub's table names (WWPack32's LZ77 bit stream), and rebuilds the PE as ClamAV
//! does: sections at raw offsets equal to their virtual addresses, the stub's section dropped
//! and the original entry point restored. Facts come from ClamAV's libclamav/wwunpack.c and the
//! WWPack detection in libclamav/pe.c, checked against the stub's own code (version 1.12);
//! the code is our own.

use super::Measure;
use super::unpacked::Unpacked;

/// The stub's first bytes (`push ebx; push ebp; mov ebp, eax; xor ebx, ebx; jmp short`).
const STUB_HEAD: &[u8] = b"\x53\x55\x8b\xe8\x33\xdb\xeb";
/// Where the stub's code resumes after its banner, and its bytes there (`call $+5; pop eax;
/// sub eax, 0x6d; push eax; pushad; xor ecx, ecx; ...`).
const STUB_CODE_AT: usize = 0x68;
const STUB_CODE: &[u8] =
    b"\xe8\x00\x00\x00\x00\x58\x2d\x6d\x00\x00\x00\x50\x60\x33\xc9\x50\x58\x50\x50";
/// The stub ends in `jmp rel32` to the original entry point: the rel32 is here, and the jump's
/// next instruction at `OEP_JUMP + 4`.
const OEP_JUMP: usize = 0x295;
/// The stub's table of packed blocks: per block the distance back from the stub's section to
/// the block, where the stub parks the packed data (its last dword, from the block), the
/// packed data's size in dwords, where its last dword is (from the block), and a byte that is
/// 0 for the last block.
const BLOCKS_AT: usize = 0x2a1;
const BLOCK: usize = 17;
/// How often (in decoding steps) the decoder asks for the time.
const CHECK_EVERY: usize = 64 * 1024;

/// Why decoding stopped.
#[derive(Debug)]
enum Fail {
    Broken(String),
    Late,
}

type Res<T> = Result<T, Fail>;

fn bad(what: &str) -> Fail {
    Fail::Broken(format!("WWPack32's {what} is damaged"))
}

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
fn put(b: &mut [u8], at: usize, v: &[u8]) -> Option<()> {
    b.get_mut(at..at.checked_add(v.len())?)?.copy_from_slice(v);
    Some(())
}
fn put32(b: &mut [u8], at: usize, v: u64) -> Option<()> {
    put(b, at, &u32::try_from(v).ok()?.to_le_bytes())
}
fn idx(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
fn align_down(v: u64, a: u64) -> u64 {
    v.checked_div(a).map_or(v, |q| q * a)
}
fn align_up(v: u64, a: u64) -> u64 {
    if a == 0 {
        v
    } else {
        v.div_ceil(a).saturating_mul(a)
    }
}

// ---- the packed PE ---------------------------------------------------------------------------

/// One section, its addresses aligned as ClamAV's PE reader aligns them, its raw size cut to
/// the file.
#[derive(Debug, Clone, Copy)]
struct Section {
    rva: u64,
    vsz: u64,
    raw: u64,
    rsz: u64,
}

impl Section {
    fn read(bytes: &[u8], at: usize, salign: u64, falign: u64) -> Option<Section> {
        let field = |off: usize| le32(bytes, at.checked_add(off)?).map(u64::from);
        let (uvsz, ursz) = (field(8)?, field(16)?);
        let raw = align_down(field(20)?, falign);
        let len = bytes.len() as u64;
        let rsz = match align_up(ursz, falign) {
            0 => 0,
            _ if raw >= len => 0,
            rsz => rsz.min(len - raw),
        };
        let vsz = match align_up(uvsz, salign) {
            0 => align_up(rsz, salign),
            vsz => vsz,
        };
        let rva = align_down(field(12)?, salign);
        Some(Section { rva, vsz, raw, rsz })
    }

    /// Its bytes in the packed file.
    fn data<'a>(&self, bytes: &'a [u8]) -> &'a [u8] {
        let end = self.raw.saturating_add(self.rsz);
        bytes.get(idx(self.raw)..idx(end)).unwrap_or_default()
    }
}

/// A PE whose entry point is WWPack32's stub, at the start of its last section.
struct Packed<'a> {
    bytes: &'a [u8],
    /// Where `PE\0\0` is, and the section table.
    pe: usize,
    table: usize,
    sects: Vec<Section>,
}

/// The PE header's place, the section table's and the number of sections, and the
/// alignments, when `bytes` is an MZ/PE with at least two sections.
fn pe_header(bytes: &[u8]) -> Option<(usize, usize, usize, u64, u64)> {
    let pe = usize::try_from(le32(bytes, 0x3c)?).ok()?;
    if !bytes.starts_with(b"MZ") || bytes.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let n = usize::from(le16(bytes, pe + 6)?);
    let table = pe + 0x18 + usize::from(le16(bytes, pe + 0x14)?);
    let salign = u64::from(le32(bytes, pe + 0x38)?);
    let falign = u64::from(le32(bytes, pe + 0x3c)?);
    (n >= 2).then_some((pe, table, n, salign, falign))
}

impl<'a> Packed<'a> {
    /// The packed file, when its entry point is at its last section's start and holds the
    /// stub's code (what ClamAV checks). Reads the last section first, so most files are
    /// turned down after a few reads.
    fn read(bytes: &'a [u8]) -> Option<Packed<'a>> {
        let (pe, table, n, salign, falign) = pe_header(bytes)?;
        let row = |i: usize| Section::read(bytes, table + 40 * i, salign, falign);
        let last = row(n - 1)?;
        let entry = u64::from(le32(bytes, pe + 0x28)?);
        let code = idx(last.raw);
        let at = |off: usize, len: usize| {
            let from = code.checked_add(off)?;
            bytes.get(from..from.checked_add(len)?)
        };
        if entry != last.rva
            || at(0, STUB_HEAD.len())? != STUB_HEAD
            || at(STUB_CODE_AT, STUB_CODE.len())? != STUB_CODE
        {
            return None;
        }
        let sects = (0..n).map(row).collect::<Option<Vec<_>>>()?;
        Some(Packed {
            bytes,
            pe,
            table,
            sects,
        })
    }

    /// The stub's section, and the sections it unpacks into.
    fn split(&self) -> (Section, &[Section]) {
        match self.sects.split_last() {
            Some((last, rest)) => (*last, rest),
            None => (
                Section {
                    rva: 0,
                    vsz: 0,
                    raw: 0,
                    rsz: 0,
                },
                &[],
            ),
        }
    }
}

/// True for a PE whose entry point is WWPack32's stub.
pub(super) fn starts(bytes: &[u8]) -> bool {
    Packed::read(bytes).is_some()
}

pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    let Some(packed) = Packed::read(bytes) else {
        out.broken(None, "not a WWPack32-packed PE");
        return out;
    };
    let Some((mut image, head)) = lay_out(&packed, &mut out) else {
        return out;
    };
    let exe = if le16(bytes, packed.pe + 0x16).is_some_and(|f| f & 0x2000 != 0) {
        "unpacked.dll"
    } else {
        "unpacked.exe"
    };
    match expand_blocks(&packed, &mut image, &out) {
        Ok(()) => {}
        Err(Fail::Broken(why)) => out.broken(Some(exe.into()), why),
        Err(Fail::Late) => out.late(Some(exe.into())),
    }
    // What was expanded is kept even after damage: the rest of the image may still be whole.
    if rebuild(&packed, &mut image, head).is_some() {
        out.file(exe, image);
    } else {
        out.broken(
            Some("unpacked".into()),
            "the PE header lies outside the image",
        );
        out.file("unpacked", image);
    }
    out
}

/// The packed file as the loader maps it, up to the stub's section: headers, then each
/// section's data at its virtual address. Also where the first section's data starts (the
/// headers' end).
fn lay_out(packed: &Packed, out: &mut Unpacked) -> Option<(Vec<u8>, u64)> {
    let (stub, sects) = packed.split();
    let size = sects.iter().map(|s| s.rva.saturating_add(s.vsz)).max();
    let size = size.unwrap_or(0);
    let with_data = packed.sects.iter().filter(|s| s.rsz > 0);
    let head = with_data.map(|s| s.raw).min().unwrap_or(stub.raw);
    if head == 0 || size == 0 || head > size {
        out.broken(None, "WWPack32's section layout is damaged");
        return None;
    }
    if size > out.room() as u64 {
        let why = format!("the image of {size} bytes is past the cap");
        out.broken(Some("unpacked.exe".into()), why);
        return None;
    }
    let mut image = vec![0; idx(size)];
    copy_clipped(
        &mut image,
        0,
        packed.bytes.get(..idx(head)).unwrap_or(packed.bytes),
    );
    let mut clipped = false;
    for s in sects {
        clipped |= !copy_clipped(&mut image, s.rva, s.data(packed.bytes));
    }
    if clipped {
        out.broken(None, "a section's data lies outside the image");
    }
    Some((image, head))
}

/// Copies `data` to `image[at..]`, as much as fits; false when not all did.
fn copy_clipped(image: &mut [u8], at: u64, data: &[u8]) -> bool {
    let at = idx(at).min(image.len());
    let to = image.get_mut(at..).unwrap_or_default();
    let n = to.len().min(data.len());
    if let (Some(to), Some(from)) = (to.get_mut(..n), data.get(..n)) {
        to.copy_from_slice(from);
    }
    n == data.len()
}

/// Expands each block of the stub's table in place, as the stub does: the packed data is
/// taken out, expanded from the block's start, and what is left up to where the stub parked
/// the packed data is zeroed.
fn expand_blocks(packed: &Packed, image: &mut [u8], out: &Unpacked) -> Res<()> {
    let (stub, _) = packed.split();
    let code = stub.data(packed.bytes);
    let mut at = BLOCKS_AT;
    loop {
        if !out.in_time() {
            return Err(Fail::Late);
        }
        let field = |k: usize| {
            le32(code, at + 4 * k)
                .map(u64::from)
                .ok_or_else(|| bad("block table"))
        };
        let more = *code.get(at + 16).ok_or_else(|| bad("block table"))?;
        let start = stub
            .rva
            .checked_sub(field(0)?)
            .ok_or_else(|| bad("block table"))?;
        let parked_end = start + field(1)? + 4;
        let packed_len = field(2)? * 4;
        let from = (start + field(3)? + 4).checked_sub(packed_len);
        let from = from
            .filter(|_| packed_len > 0)
            .ok_or_else(|| bad("block table"))?;
        let data = image.get(idx(from)..idx(from + packed_len));
        let data = data.ok_or_else(|| bad("block table"))?.to_vec();
        let end = expand(&data, image, idx(start), out)?;
        if let Some(rest) = image.get_mut(end..idx(parked_end).min(image.len())) {
            rest.fill(0);
        }
        if more == 0 {
            return Ok(());
        }
        at += BLOCK;
    }
}

/// The stub's way back: the section count without its own section, the original entry point
/// (where its last jump goes), the image size without its section, and each section's raw
/// place and size made its virtual one. None when the headers are not in the image.
fn rebuild(packed: &Packed, image: &mut [u8], head: u64) -> Option<()> {
    let (stub, sects) = packed.split();
    let rows = packed.table + 40 * packed.sects.len();
    if rows as u64 > head || !image.starts_with(b"MZ") {
        return None;
    }
    let jump = le32(stub.data(packed.bytes), OEP_JUMP)?;
    let narrow = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let entry = jump
        .wrapping_add(narrow(stub.rva))
        .wrapping_add(OEP_JUMP as u32 + 4);
    let pe = packed.pe;
    let size = le32(image, pe + 0x50)?.saturating_sub(narrow(stub.vsz));
    put(
        image,
        pe + 6,
        &u16::try_from(sects.len()).ok()?.to_le_bytes(),
    )?;
    put(image, pe + 0x28, &entry.to_le_bytes())?;
    put(image, pe + 0x50, &size.to_le_bytes())?;
    for (i, s) in sects.iter().enumerate() {
        let row = packed.table + 40 * i;
        for (off, v) in [(8, s.vsz), (12, s.rva), (16, s.vsz), (20, s.rva)] {
            put32(image, row + off, v)?;
        }
    }
    put(image, packed.table + 40 * sects.len(), &[0; 40])
}

// ---- the LZ77 bit stream ---------------------------------------------------------------------

/// WWPack32's bits: 32-bit little-endian words read from the top bit down, with literal bytes
/// between them. A new word is read as soon as the last bit of the one before is taken (so it
/// comes before any literal that follows), which places words and literals in the stream.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    word: u32,
    left: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Bits<'a> {
        let mut bits = Bits {
            data,
            pos: 0,
            word: 0,
            left: 0,
        };
        bits.refill();
        bits
    }

    /// The next word; at the end none, and reading a bit then fails.
    fn refill(&mut self) {
        if let Some(word) = le32(self.data, self.pos) {
            (self.word, self.left) = (word, 32);
            self.pos += 4;
        }
    }

    fn bit(&mut self) -> Option<u32> {
        self.left = self.left.checked_sub(1)?;
        let bit = self.word >> 31;
        self.word <<= 1;
        if self.left == 0 {
            self.refill();
        }
        Some(bit)
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0, |v, _| Some(v << 1 | self.bit()?))
    }

    fn byte(&mut self) -> Option<u8> {
        let byte = *self.data.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }
}

/// One step of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Literal,
    Copy { dist: u32, len: u32 },
    End,
}

/// `0`: a literal byte. `1` then two bits: 3 is a two-byte copy (or the end), 1 and 2 a copy
/// of 3 and 4 bytes, 0 a longer copy whose length follows the distance.
fn token(bits: &mut Bits) -> Option<Token> {
    if bits.bit()? == 0 {
        return Some(Token::Literal);
    }
    let kind = bits.bits(2)?;
    if kind == 3 {
        let (width, base) = match bits.bits(2)? {
            0 => (5, 0x01),
            1 => (6, 0x21),
            2 => (8, 0x61),
            _ => (9, 0x161),
        };
        return Some(match bits.bits(width)? {
            0x1ff => Token::End,
            v => Token::Copy {
                dist: base + v,
                len: 2,
            },
        });
    }
    let dist = distance(bits)?;
    let len = if kind == 0 {
        long_length(bits)?
    } else {
        kind + 2
    };
    Some(Token::Copy { dist, len })
}

/// Three bits choose the distance's width (some with one more bit); each width's distances
/// follow the narrower one's.
fn distance(bits: &mut Bits) -> Option<u32> {
    let width = match bits.bits(3)? {
        w @ 0..=2 => w + 5,
        3 => 8 + bits.bit()?,
        4 => 10 + bits.bit()?,
        5 => 12,
        6 => return Some(bits.bits(14)? + 0x1fe1),
        _ => return Some(bits.bits(15)? + 0x5fe1),
    };
    Some(bits.bits(width)? + (1 << width) - 31)
}

/// Lengths from 5: 5-6, 7-13, 14-28, then a unary prefix picks 5, 6 or 7 more bits over the
/// range before, or 14 bits as they are.
fn long_length(bits: &mut Bits) -> Option<u32> {
    if bits.bit()? == 0 {
        return Some(5 + bits.bit()?);
    }
    match bits.bits(3)? {
        0 => {}
        v => return Some(v + 6),
    }
    match bits.bits(4)? {
        0 => {}
        v => return Some(v + 13),
    }
    let mut base = 0x0d;
    for width in 5..=7 {
        base = (base + 2) * 2 - 1;
        if bits.bit()? == 1 {
            return Some(bits.bits(width)? + base);
        }
    }
    bits.bits(14)
}

/// Expands `data` into `image` from `start` up to the end token; back copies may reach
/// anywhere before in the image, as the stub's do. Returns where the output ends.
fn expand(data: &[u8], image: &mut [u8], start: usize, out: &Unpacked) -> Res<usize> {
    let mut bits = Bits::new(data);
    let mut pos = start;
    for step in 0usize.. {
        if step % CHECK_EVERY == 0 && !out.in_time() {
            return Err(Fail::Late);
        }
        let token = token(&mut bits).ok_or_else(|| bad("packed data (it ends early)"))?;
        match token {
            Token::End => return Ok(pos),
            Token::Literal => {
                let byte = bits
                    .byte()
                    .ok_or_else(|| bad("packed data (it ends early)"))?;
                *image
                    .get_mut(pos)
                    .ok_or_else(|| bad("packed data (it runs past the image)"))? = byte;
                pos += 1;
            }
            Token::Copy { dist, len } => {
                pos = copy_back(image, pos, dist as usize, len as usize)?;
            }
        }
    }
    Err(Fail::Late)
}

/// Copies `len` bytes from `dist` back to `pos`, byte by byte (a copy may overlap what it
/// writes); returns where the output then ends.
fn copy_back(image: &mut [u8], pos: usize, dist: usize, len: usize) -> Res<usize> {
    if pos < dist {
        return Err(bad("packed data (a distance)"));
    }
    let end = pos.saturating_add(len);
    if end > image.len() {
        return Err(bad("packed data (it runs past the image)"));
    }
    for to in pos..end {
        let byte = image.get(to - dist).copied().unwrap_or(0);
        if let Some(slot) = image.get_mut(to) {
            *slot = byte;
        }
    }
    Ok(end)
}

#[cfg(test)]
#[path = "wwpack_tests.rs"]
mod tests;
