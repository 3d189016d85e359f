//! Petite 2.1/2.2-packed PE files (32-bit). Lays the packed file out at its virtual
//! addresses, replays Petite's section table (block moves and compressed sections), undoes the
//! CALL/JMP filter, strips Petite's own code from the section that carries it, recovers the
//! original entry point when its key is there, and rebuilds a PE of the original sections.
//! Imports stay as Petite mangled them. Facts come from ClamAV's libclamav/petite.c and the
//! Petite detection in libclamav/pe.c, and from the unpacking stub in Petite-packed files;
//! the code is our own.

use super::Measure;
use super::unpacked::Unpacked;

const REBUILT: &str = "unpacked.exe";
const IMAGE: &str = "unpacked";
/// How often (in bytes written) decoding asks for the time.
const CHECK_EVERY: usize = 64 * 1024;
/// Bytes the entry point code must have (ClamAV's check).
const EP_BYTES: usize = 200;
/// ClamAV stops at this many sections, as Petite never writes more.
const MAX_SECTIONS: usize = 96;
/// The dword at entry point + 0x80 of level-0 ("no compression") files.
const LEVEL_ZERO: u32 = 0x163c_988d;
/// Dwords at a fixed place in Petite's own code, appended to the last section it decodes.
const STUB_CODE: [u32; 2] = [0x645e_c033, 0x1b8b_188b];
/// The keys that hide the original entry point in that code.
const EP_KEYS: [u32; 2] = [0x9d66_61aa, 0xe908_c483];
/// Stands for an import the entry point walk did not rewrite (ClamAV's value).
const UNMANGLED_API: u32 = 0xbff0_1337;
/// Steps the entry point walk over the import lists may take.
const WALK_STEPS: usize = 1 << 20;

/// The layout facts that differ between Petite 2.1 and 2.2.
#[derive(Debug, PartialEq)]
struct Version {
    /// Where the section table is, from the start of Petite's section.
    table: u32,
    /// The size of Petite's code at the end of the last section decoded.
    grown: u32,
    /// How much further back that code is when the original file had relocations.
    skew: u32,
    /// 2.2 also hides the entry point in the import walk.
    walks_imports: bool,
}

const V21: Version = Version {
    table: 0x178,
    grown: 0x323,
    skew: 0x34,
    walks_imports: false,
};
const V22: Version = Version {
    table: 0x1b8,
    grown: 0x355,
    skew: 0x35,
    walks_imports: true,
};

/// Why decoding stopped.
#[derive(Debug)]
enum Fail {
    Broken(String),
    Late,
}

type Res<T> = Result<T, Fail>;

fn damaged<T>(why: impl Into<String>) -> Res<T> {
    Err(Fail::Broken(why.into()))
}

fn note(out: &mut Unpacked, member: &str, fail: Fail) {
    match fail {
        Fail::Broken(why) => out.broken(Some(member.into()), why),
        Fail::Late => out.late(Some(member.into())),
    }
}

fn array<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}
fn le16(b: &[u8], at: usize) -> Option<u16> {
    array(b, at).map(u16::from_le_bytes)
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_le_bytes)
}
/// The dword at an address of the image (an RVA), as the stub reads it.
fn dword(image: &[u8], rva: u32) -> Option<u32> {
    le32(image, idx(rva))
}
fn put32(b: &mut [u8], at: usize, v: u32) -> Option<()> {
    b.get_mut(at..at.checked_add(4)?)?
        .copy_from_slice(&v.to_le_bytes());
    Some(())
}
fn idx(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
fn align_up(v: u64, align: u32) -> u64 {
    let align = u64::from(align.max(1));
    v.div_ceil(align).saturating_mul(align)
}
/// A power of two in `lo..=hi`, else `default` (hostile headers may say anything).
fn sane_align(v: u32, lo: u32, hi: u32, default: u32) -> u32 {
    if v.is_power_of_two() && (lo..=hi).contains(&v) {
        v
    } else {
        default
    }
}

// ---- the packed file -----------------------------------------------------------------------

/// A row of the packed file's section table.
#[derive(Debug, Clone)]
struct Sect {
    name: [u8; 8],
    vsz: u32,
    rva: u32,
    rsz: u32,
    raw: u32,
    chars: u32,
}

/// A Petite-packed PE as its headers and entry point say.
struct Packed<'a> {
    bytes: &'a [u8],
    pe_off: usize,
    /// Where the section table starts (after the optional header).
    table_off: usize,
    base: u32,
    ep: u32,
    salign: u32,
    falign: u32,
    sects: Vec<Sect>,
    /// The index of Petite's section; the sections from it on are Petite's.
    petite: usize,
    version: &'static Version,
}

fn read_sects(bytes: &[u8], table: usize, n: usize) -> Option<Vec<Sect>> {
    let row = |i: usize| {
        let at = table.checked_add(i.checked_mul(40)?)?;
        let r = bytes.get(at..at.checked_add(40)?)?;
        Some(Sect {
            name: r.get(..8)?.try_into().ok()?,
            vsz: le32(r, 8)?,
            rva: le32(r, 12)?,
            rsz: le32(r, 16)?,
            raw: le32(r, 20)?,
            chars: le32(r, 36)?,
        })
    };
    (0..n).map(row).collect()
}

impl<'a> Packed<'a> {
    /// The packed file when it is a PE32 whose entry point starts with `mov eax, <Petite's
    /// section>`: the last section for 2.2, the one before it for 2.1 (as ClamAV tells them).
    fn read(bytes: &'a [u8]) -> Option<Packed<'a>> {
        let pe_off = idx(le32(bytes, 0x3c)?);
        if !bytes.starts_with(b"MZ") || bytes.get(pe_off..pe_off.checked_add(4)?)? != b"PE\0\0" {
            return None;
        }
        let opt = pe_off + 0x18;
        let n = usize::from(le16(bytes, pe_off + 6)?);
        if le16(bytes, opt)? != 0x10b || n == 0 || n > MAX_SECTIONS {
            return None;
        }
        let table_off = opt + usize::from(le16(bytes, pe_off + 0x14)?);
        let mut pe = Packed {
            bytes,
            pe_off,
            table_off,
            base: le32(bytes, opt + 28)?,
            ep: le32(bytes, opt + 16)?,
            salign: sane_align(le32(bytes, opt + 32)?, 0x200, 0x10000, 0x1000),
            falign: sane_align(le32(bytes, opt + 36)?, 0x200, 0x10000, 0x200),
            sects: read_sects(bytes, table_off, n)?,
            petite: n - 1,
            version: &V22,
        };
        let code = pe.ep_code()?;
        let target = le32(code, 1)?.wrapping_sub(pe.base);
        if code.first() != Some(&0xb8) {
            return None;
        }
        if pe.sects.get(n - 1)?.rva != target {
            (n >= 2 && pe.sects.get(n - 2)?.rva == target).then_some(())?;
            (pe.petite, pe.version) = (n - 2, &V21);
        }
        Some(pe)
    }

    /// The file's bytes at the entry point (to the end of its section's data), when there
    /// are enough of them to hold Petite's stub.
    fn ep_code(&self) -> Option<&'a [u8]> {
        let s = self.sects.iter().find(|s| {
            let span = s.vsz.max(s.rsz);
            self.ep.wrapping_sub(s.rva) < span
        })?;
        let into = self.ep.wrapping_sub(s.rva);
        (into < s.rsz).then_some(())?;
        let start = idx(s.raw).checked_add(idx(into))?;
        let end = idx(s.raw).saturating_add(idx(s.rsz)).min(self.bytes.len());
        let code = self.bytes.get(start..end)?;
        (code.len() >= EP_BYTES).then_some(code)
    }

    fn petite_rva(&self) -> u32 {
        self.sects.get(self.petite).map_or(0, |s| s.rva)
    }

    /// The packed section whose virtual span holds `rva`, up to Petite's own (ClamAV's
    /// bounds: 2.1 leaves out the section after it).
    fn holding(&self, rva: u32) -> Option<&Sect> {
        let packed = self.sects.get(..=self.petite)?;
        packed
            .iter()
            .find(|s| rva.wrapping_sub(s.rva) < s.vsz.max(s.rsz))
    }

    /// The packed file laid out at its virtual addresses (headers at 0), within the cap.
    fn image(&self, room: usize) -> Res<Vec<u8>> {
        let span = |s: &Sect| {
            u64::from(s.rva) + align_up(u64::from(s.vsz), self.salign).max(u64::from(s.rsz))
        };
        let end = self.sects.iter().map(span).max().unwrap_or(0);
        if end > room as u64 {
            return damaged(format!("the image of {end} bytes is past the cap"));
        }
        let mut image = vec![0u8; usize::try_from(end).unwrap_or(0)];
        let head = self.sects.iter().map(|s| idx(s.rva)).min().unwrap_or(0);
        let head = head.min(self.bytes.len()).min(image.len());
        image[..head].copy_from_slice(&self.bytes[..head]);
        for s in &self.sects {
            let from = idx(s.raw).min(self.bytes.len());
            let data = &self.bytes[from..from.saturating_add(idx(s.rsz)).min(self.bytes.len())];
            let at = idx(s.rva).min(image.len());
            let n = data.len().min(image.len() - at);
            image[at..at + n].copy_from_slice(&data[..n]);
        }
        Ok(image)
    }
}

/// True for an MZ/PE32 whose entry point code is Petite 2.1's or 2.2's (see [`Packed::read`]).
pub(super) fn starts(bytes: &[u8]) -> bool {
    Packed::read(bytes).is_some()
}

pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    let Some(pe) = Packed::read(bytes) else {
        out.broken(None, "not a Petite-packed PE");
        return out;
    };
    if pe.ep_code().and_then(|c| le32(c, 0x80)) == Some(LEVEL_ZERO) {
        out.unsupported(REBUILT.into(), "Petite level-0 layout");
        return out;
    }
    let mut image = match pe.image(out.room()) {
        Ok(image) => image,
        Err(fail) => {
            note(&mut out, REBUILT, fail);
            return out;
        }
    };
    let mut walk = Walk::default();
    if let Err(fail) = walk.run(&pe, &mut image, &out) {
        note(&mut out, REBUILT, fail);
        if !walk.pieces.is_empty() {
            out.file(IMAGE, image);
        }
        return out;
    }
    let ep = walk
        .stub
        .as_ref()
        .and_then(|stub| old_entry(&pe, &image, stub));
    for piece in &walk.pieces {
        if piece.flags & 1 != 0 {
            unfilter(&mut image, piece.dst, piece.size);
        }
    }
    match rebuild(&pe, &image, &walk, ep, out.room()) {
        Ok(file) => {
            out.file(REBUILT, file);
        }
        Err(fail) => {
            note(&mut out, REBUILT, fail);
            out.file(IMAGE, image);
        }
    }
    out
}

// ---- the section table ---------------------------------------------------------------------

/// One section Petite's table decoded.
#[derive(Debug)]
struct Piece {
    /// Where the section starts: `dst`, or lower when data Petite left in place precedes it.
    start: u32,
    dst: u32,
    size: u32,
    /// Bit 0: the CALL/JMP filter was applied; the rest: zero bytes after the data.
    flags: u32,
    /// Bytes of Petite's code at the end of the data.
    cut: u32,
}

impl Piece {
    fn data_end(&self) -> u64 {
        (u64::from(self.dst) + u64::from(self.size)).saturating_sub(u64::from(self.cut))
    }
    fn extent_end(&self) -> u64 {
        u64::from(self.dst) + u64::from(self.size) + u64::from(self.flags >> 1)
    }
}

/// What is left in Petite's code of the original entry point.
#[derive(Debug)]
struct Stub {
    enc: u32,
    imports: u32,
    mangled: bool,
}

#[derive(Debug, Default)]
struct Walk {
    pieces: Vec<Piece>,
    stub: Option<Stub>,
}

impl Walk {
    /// Replays the table: a record with bit 31 set moves dwords; else it decodes a section
    /// (`src`, `size`, `dst`, `flags`); `src` 0 ends it.
    fn run(&mut self, pe: &Packed, image: &mut [u8], out: &Unpacked) -> Res<()> {
        let mut at = pe.petite_rva().wrapping_add(pe.version.table);
        let mut after_move = true;
        loop {
            if !out.in_time() {
                return Err(Fail::Late);
            }
            let field = |i: u32| dword(image, at.wrapping_add(4 * i));
            let Some(first) = field(0) else {
                return damaged("Petite's section table runs out of the image");
            };
            if first == 0 {
                return Ok(());
            }
            let (Some(a), Some(b)) = (field(1), field(2)) else {
                return damaged("Petite's section table runs out of the image");
            };
            if first & 0x8000_0000 != 0 {
                move_dwords(image, first & 0x7fff_ffff, a, b, out)?;
                after_move = true;
                at = at
                    .checked_add(12)
                    .ok_or_else(|| Fail::Broken("no end".into()))?;
                continue;
            }
            if self.pieces.len() >= MAX_SECTIONS {
                return damaged(format!("more than {MAX_SECTIONS} sections"));
            }
            let flags = field(3).unwrap_or(0);
            self.section(pe, image, [first, a, b, flags], after_move, out)?;
            after_move &= a == 0;
            at = at
                .checked_add(16)
                .ok_or_else(|| Fail::Broken("no end".into()))?;
        }
    }

    /// Decodes one section. The first decoded after a move starts with its packed section,
    /// as data Petite left uncompressed (an icon) may come before it.
    fn section(
        &mut self,
        pe: &Packed,
        image: &mut [u8],
        rec: [u32; 4],
        first: bool,
        out: &Unpacked,
    ) -> Res<()> {
        let [src, size, dst, flags] = rec;
        let mut piece = Piece {
            start: dst,
            dst,
            size,
            flags,
            cut: 0,
        };
        if size != 0 {
            let Some(holder) = pe.holding(dst) else {
                return damaged(format!(
                    "a section at {dst:#x} is outside the packed sections"
                ));
            };
            if first {
                piece.start = holder.rva;
            }
            inflate(image, src, dst, size, out)?;
            self.strip(pe.version, image, &mut piece);
        }
        self.pieces.push(piece);
        Ok(())
    }

    /// Finds Petite's code at the end of a decoded section: cuts it off, keeps its keys.
    fn strip(&mut self, v: &Version, image: &[u8], piece: &mut Piece) {
        let end = u64::from(piece.dst) + u64::from(piece.size);
        let len = end - u64::from(piece.start);
        let code_at = |reloc: u32| {
            let base = end.checked_sub(u64::from(v.grown + reloc))?;
            let base = u32::try_from(base).ok()?;
            let magic = base.checked_add(5 + 0x4f)?;
            let found = [dword(image, magic)?, dword(image, magic.wrapping_add(4))?] == STUB_CODE;
            (len > u64::from(v.grown + reloc) && found).then_some((base, reloc))
        };
        let Some((base, reloc)) = code_at(0).or_else(|| code_at(v.skew)) else {
            return;
        };
        piece.cut = v.grown + reloc;
        let read = |off: u32| dword(image, base.wrapping_add(off));
        let keys = (read(7), read(0xb), read(0xf), read(0x121), read(0x1c0));
        if let (Some(t1), Some(t2), Some(enc), Some(imports), Some(nops)) = keys {
            let key = t1 ^ EP_KEYS[0];
            if key == t2 ^ EP_KEYS[1] {
                let mangled = nops != 0x9090_9090;
                self.stub = Some(Stub {
                    enc: enc ^ key,
                    imports,
                    mangled,
                });
            }
        }
    }
}

/// Copies `count` dwords downwards, from the one at `src` to the one at `dst` and on to
/// lower addresses, one by one as the stub does (`std; rep movsd`).
fn move_dwords(image: &mut [u8], count: u32, src: u32, dst: u32, out: &Unpacked) -> Res<()> {
    let span = u64::from(count).saturating_sub(1) * 4;
    let inside = |end: u32| span <= u64::from(end) && u64::from(end) + 4 <= image.len() as u64;
    if !inside(src) || !inside(dst) {
        return damaged("Petite moves data from or to outside the image");
    }
    let (mut s, mut d) = (idx(src), idx(dst));
    for i in 0..count {
        if i % 0x4000 == 0 && !out.in_time() {
            return Err(Fail::Late);
        }
        image.copy_within(s..s + 4, d);
        s = s.saturating_sub(4);
        d = d.saturating_sub(4);
    }
    Ok(())
}

// ---- the entry point -----------------------------------------------------------------------

/// The original entry point: the key, and for 2.2 a walk over the import lists that steps
/// it once per import as the stub rewrites them (ClamAV's reading of it).
fn old_entry(pe: &Packed, image: &[u8], stub: &Stub) -> Option<u32> {
    let mut enc = stub.enc;
    if pe.version.walks_imports {
        enc = walk_imports(pe, image, stub)?;
    }
    Some(pe.ep.wrapping_add(5).wrapping_add(enc))
}

fn walk_imports(pe: &Packed, image: &[u8], stub: &Stub) -> Option<u32> {
    let limit = pe.petite_rva().wrapping_add(pe.base);
    let mut next_call = pe.ep.wrapping_add(5).wrapping_add(pe.base);
    let (mut enc, mut skip, mut steps) = (stub.enc, 0i64, 0usize);
    let mut thunk = stub.imports;
    loop {
        let list = dword(image, thunk)?;
        if list == 0 {
            return Some(enc);
        }
        thunk = thunk.checked_add(4)?;
        let mut at = list;
        loop {
            steps += 1;
            let api = dword(image, at)?;
            if api == 0 || steps > WALK_STEPS {
                break;
            }
            at = at.checked_add(4)?;
            let mut target = UNMANGLED_API;
            if api & 0x8000_0000 == 0 && stub.mangled {
                skip -= 1;
                if skip < 0 {
                    target = next_call;
                    next_call = next_call.wrapping_add(5);
                    skip = i64::from(next_call & 7);
                }
            }
            enc = enc.wrapping_sub(u32::from(limit < target) + u32::from(target < next_call));
            enc = enc.rotate_right(3);
        }
        if steps > WALK_STEPS {
            return None;
        }
    }
}

mod codec;
mod rebuild;
#[cfg(test)]
mod tests;

use self::codec::*;
use self::rebuild::*;
