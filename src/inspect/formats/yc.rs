//! yoda's Crypter (yC 1.3 and the two variants ClamAV knows): a PE whose sections yC
//! encrypted byte by byte and whose last section holds yC's stub. The stub decrypts itself
//! with a small polymorphic decryptor, then decrypts the other sections with a second one
//! that sits in the part just decrypted. Both are straight-line code over AL with CL (the
//! low byte of the count left) as a key; we trace each once into a list of byte operations
//! and run that over the data. The result is the original PE as ClamAV's yc.c writes it:
//! sections decrypted, the yC section dropped, the entry point taken from the stub; and
//! beyond yc.c, the imports yC hid put back (see `imports`), else the import directory
//! cleared as yc.c does. Facts from ClamAV's libclamav/yc.c and its detection in
//! libclamav/pe.c, and from the stub of ClamAV's sample; the code is our own.

use super::Measure;
use super::unpacked::Unpacked;

/// The member the decrypted PE is given as.
const MEMBER: &str = "decrypted.exe";
/// How often (in bytes) the decrypting loop asks for the time.
const CHECK_EVERY: usize = 64 * 1024;
/// The entry point is this far into the yC section.
const EP_AT: u32 = 0x60;
/// Each polymorphic decryptor fills this many bytes, up to the `stosb; loop` after it.
const POLY_LEN: usize = 0x30;
/// Where, in the stub, the first decryptor is and the code it decrypts begins.
const FIRST_POLY: usize = 0x93;
const STUB_CODE: usize = 0xc6;
/// Where yc.c reads the original entry point when the stub does not say (see `oep_at`).
const OEP_FIXED: usize = 0xa0f;
/// Sections yC leaves alone, by the first four bytes of their name (as yc.c lists them).
const PLAIN: [&[u8; 4]; 8] = [
    b"rsrc", b".rsr", b"relo", b".rel", b".eda", b".rda", b".ida", b".tls",
];

fn array<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}
fn le16(b: &[u8], at: usize) -> Option<u16> {
    array(b, at).map(u16::from_le_bytes)
}
fn le32(b: &[u8], at: usize) -> Option<u32> {
    array(b, at).map(u32::from_le_bytes)
}
fn put32(b: &mut [u8], at: usize, v: u32) {
    if let Some(d) = at.checked_add(4).and_then(|end| b.get_mut(at..end)) {
        d.copy_from_slice(&v.to_le_bytes());
    }
}
fn idx(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
/// `v` rounded down to a multiple of `align` (left alone when `align` is 0).
fn align_down(v: u32, align: u32) -> u32 {
    v.checked_rem(align).map_or(v, |r| v - r)
}
fn align_up(v: u32, align: u32) -> u32 {
    match v.checked_rem(align) {
        Some(r) if r != 0 => v.saturating_add(align - r),
        _ => v,
    }
}

// ---- the PE ------------------------------------------------------------------------------

/// One section as ClamAV's PE parser sees it: address and file offset rounded down to their
/// alignments, sizes rounded up (the raw size kept as written, cut at the end of the file).
struct Section {
    row: usize,
    name: [u8; 8],
    rva: u32,
    vsize: u32,
    raw: u32,
    raw_size: u32,
}

/// A 32-bit PE: where its optional header is, and its sections.
struct Pe {
    pe_off: usize,
    opt: usize,
    sects: Vec<Section>,
}

impl Pe {
    fn read(bytes: &[u8]) -> Option<Pe> {
        let pe_off = idx(le32(bytes, 0x3c)?);
        if !bytes.starts_with(b"MZ") || array(bytes, pe_off)? != *b"PE\0\0" {
            return None;
        }
        let opt = pe_off.checked_add(0x18)?;
        // yC's stub and the header fields yc.c rewrites are those of a PE32.
        if le16(bytes, opt)? != 0x10b {
            return None;
        }
        let n = usize::from(le16(bytes, pe_off + 6)?);
        let table = opt + usize::from(le16(bytes, pe_off + 0x14)?);
        if n < 2 || bytes.len() / 40 < n || table > bytes.len() - 40 * n {
            return None;
        }
        let rows = (0..n).map(|i| table + 40 * i);
        let (salign, falign) = (le32(bytes, opt + 0x20)?, file_align(bytes, opt, table, n)?);
        let sects = rows.map(|row| section(bytes, row, salign, falign));
        let sects = sects.collect::<Option<Vec<_>>>()?;
        Some(Pe { pe_off, opt, sects })
    }

    fn entry(&self, bytes: &[u8]) -> Option<u32> {
        le32(bytes, self.opt + 0x10)
    }
}

/// The file alignment, or 0x200 when a section's data is placed by that instead (as pe.c
/// falls back).
fn file_align(bytes: &[u8], opt: usize, table: usize, n: usize) -> Option<u32> {
    let falign = le32(bytes, opt + 0x24)?;
    let off_grid = |i: usize| {
        let (size, ptr) = (
            le32(bytes, table + 40 * i + 16),
            le32(bytes, table + 40 * i + 20),
        );
        let (size, ptr) = (size.unwrap_or(0), ptr.unwrap_or(0));
        size != 0 && falign != 0 && ptr % falign != 0 && ptr % 0x200 == 0
    };
    Some(if falign != 0x200 && (0..n).any(off_grid) {
        0x200
    } else {
        falign
    })
}

fn section(bytes: &[u8], row: usize, salign: u32, falign: u32) -> Option<Section> {
    let word = |at: usize| le32(bytes, row + at);
    let (vsize, rva, size, ptr) = (word(8)?, word(12)?, word(16)?, word(20)?);
    let raw = align_down(ptr, falign);
    let in_file = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    let raw_size = if ptr >= in_file {
        0
    } else {
        size.min(in_file - ptr)
    };
    let vsize = if vsize == 0 { raw_size } else { vsize };
    Some(Section {
        row,
        name: array(bytes, row)?,
        rva: align_down(rva, salign),
        vsize: align_up(vsize, salign),
        raw,
        raw_size,
    })
}

// ---- the stub ----------------------------------------------------------------------------

/// yC's stub as its entry-point code says: where the stub's own offsets count from, the
/// length of its self-decrypted code, where its section decryptor is, and how the stub's
/// addresses (it finds itself with `call $+5; pop ebp; sub ebp, anchor`) map into it.
struct Stub {
    base: usize,
    ecx: u32,
    section_poly: usize,
    /// A stub address `a` is at `base + a - anchor + popped`.
    anchor: u32,
    popped: u32,
}

impl Stub {
    fn at(&self, address: u32) -> Option<usize> {
        let offset = address.wrapping_sub(self.anchor).wrapping_add(self.popped);
        self.base.checked_add(idx(offset))
    }
}

/// The stub, when the file is a PE whose entry code is one of the yC forms pe.c knows.
fn stub(bytes: &[u8], pe: &Pe) -> Option<Stub> {
    let last = pe.sects.last()?;
    if pe.entry(bytes)? != last.rva.checked_add(EP_AT)? {
        return None;
    }
    let ep = bytes.get(idx(last.raw).checked_add(idx(EP_AT))?..)?;
    let (shift, stub) = variant(ep)?;
    let base = idx(last.raw).checked_add_signed(shift)?;
    let stub = Stub { base, ..stub };
    let (lo, hi) = (0x800, 0x2000);
    let loops = array::<3>(ep, idx(EP_AT).checked_add_signed(shift)? + 3)? == [0xaa, 0xe2, 0xcc];
    let room = bytes.len() >= base.checked_add(STUB_CODE)?.checked_add(idx(stub.ecx))?;
    (stub.ecx > lo && stub.ecx < hi && loops && room).then_some(stub)
}

/// The variant the entry code is (yC 1.3, its variant, or the 1.x/modified form): the
/// shift of the stub from the section start, and the stub (with `base` still 0).
fn variant(ep: &[u8]) -> Option<(isize, Stub)> {
    let word = |at| le32(ep, at).unwrap_or(0);
    let has = |at: usize, want: &[u8]| ep.get(at..at + want.len()) == Some(want);
    let stub = |ecx, section_poly, anchor: u32, popped: u32, code: u32| {
        let stub = Stub {
            base: 0,
            ecx,
            section_poly,
            anchor,
            popped,
        };
        (stub.at(code) == Some(STUB_CODE)).then_some(stub)
    };
    if has(0, b"\x55\x8b\xec\x53\x56\x57\x60\xe8\0\0\0\0\x5d\x81\xed")
        && has(
            0x26,
            b"\x8d\x3a\x8b\xf7\x33\xc0\xeb\x04\x90\xeb\x01\xc2\xac",
        )
        && has(0x13, b"\xb9")
        && has(0x18, b"\x81\xe9")
        && has(0x1e, b"\x8b\xd5\x81\xc2")
    {
        let ecx = word(0x14).wrapping_sub(word(0x1a));
        if let Some(s) = stub(ecx, 0x457, word(0xf), 0x6c, word(0x22)) {
            return Some((0, s));
        }
    }
    if has(0, b"\x55\x8b\xec\x83\xec\x40\x53\x56\x57")
        && has(0x17, b"\xe8\0\0\0\0\x5d\x81\xed")
        && has(0x23, b"\xb9")
    {
        let ecx = word(0x24).wrapping_sub(word(0x2a));
        if let Some(s) = stub(ecx, 0x457, word(0x1f), 0x6c, word(0x32)) {
            return Some((0x10, s));
        }
    }
    let modified = has(0, b"\x60\xe8\0\0\0\0\x5d\x81\xed")
        && has(0xd, b"\xb9")
        && has(0x12, b"\x8d\xbd")
        && has(0x18, b"\x8b\xf7\xac");
    let s = stub(word(0xe), 0x3ea, word(0x9), 0x7e, word(0x14)).filter(|_| modified)?;
    Some((-0x18, s))
}

/// True for a PE32 whose entry point is 0x60 into its last section and whose code there is
/// yC's stub, as pe.c checks it.
pub(super) fn starts(bytes: &[u8]) -> bool {
    Pe::read(bytes).is_some_and(|pe| stub(bytes, &pe).is_some())
}

// ---- the polymorphic decryptors ----------------------------------------------------------

/// What one instruction of a decryptor does to AL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add(u8),
    Sub(u8),
    Xor(u8),
    AddCl,
    SubCl,
    XorCl,
    Rol(u8),
    Ror(u8),
    RolCl,
    RorCl,
}

/// Why a decryptor could not be traced.
enum Trace {
    Unknown(u8, u8),
    Broken(&'static str),
}

/// Follows the decryptor in `window` from its start to its end (where `stosb` is), giving
/// its operations in order. It is straight-line code: AL-only arithmetic, rotations, no-ops
/// and short jumps (the instructions yc.c emulates, with their x86 lengths).
fn trace(window: &[u8]) -> Result<Vec<Op>, Trace> {
    let (mut ip, mut ops) = (0usize, Vec::new());
    // Jumps could circle: no decryptor takes more steps than this.
    for _ in 0..4 * POLY_LEN {
        if ip == POLY_LEN {
            return Ok(ops);
        }
        let byte = |at: usize| {
            window
                .get(ip + at)
                .copied()
                .ok_or(Trace::Broken("ends early"))
        };
        let (op, len) = match (byte(0)?, byte(1)) {
            (0x90 | 0xf8 | 0xf9, _) => (None, 1),
            (0xeb, Ok(d)) => {
                let to = (ip + 2).checked_add_signed(isize::from(d as i8));
                ip = to
                    .filter(|&t| t <= POLY_LEN)
                    .ok_or(Trace::Broken("jumps out"))?;
                continue;
            }
            (0x04, Ok(n)) => (Some(Op::Add(n)), 2),
            (0x2c, Ok(n)) => (Some(Op::Sub(n)), 2),
            (0x34, Ok(n)) => (Some(Op::Xor(n)), 2),
            (0x02, Ok(0xc1)) => (Some(Op::AddCl), 2),
            (0x2a, Ok(0xc1)) => (Some(Op::SubCl), 2),
            (0x32, Ok(0xc1)) => (Some(Op::XorCl), 2),
            (0xfe, Ok(0xc0)) => (Some(Op::Add(1)), 2),
            (0xfe, Ok(0xc8)) => (Some(Op::Sub(1)), 2),
            (0xd2, Ok(0xc0)) => (Some(Op::RolCl), 2),
            (0xd2, Ok(0xc8)) => (Some(Op::RorCl), 2),
            (0xc0, Ok(0xc0)) => (Some(Op::Rol(byte(2)?)), 3),
            (0xc0, Ok(0xc8)) => (Some(Op::Ror(byte(2)?)), 3),
            (op, Ok(modrm)) => return Err(Trace::Unknown(op, modrm)),
            (_, Err(e)) => return Err(e),
        };
        ops.extend(op);
        ip += len;
        if ip > POLY_LEN {
            return Err(Trace::Broken("runs past its end"));
        }
    }
    Err(Trace::Broken("jumps in a circle"))
}

/// Runs `ops` over each byte of `data`, CL starting at `cl` and counting down per byte
/// (it is the low byte of the `loop` count); gives CL for the bytes after.
fn run(ops: &[Op], data: &mut [u8], mut cl: u8) -> u8 {
    for b in data {
        let mut al = *b;
        for op in ops {
            // x86 rotates a byte by the count mod 32, which is the count mod 8 for 8 bits.
            al = match *op {
                Op::Add(n) => al.wrapping_add(n),
                Op::Sub(n) => al.wrapping_sub(n),
                Op::Xor(n) => al ^ n,
                Op::AddCl => al.wrapping_add(cl),
                Op::SubCl => al.wrapping_sub(cl),
                Op::XorCl => al ^ cl,
                Op::Rol(n) => al.rotate_left(u32::from(n % 8)),
                Op::Ror(n) => al.rotate_right(u32::from(n % 8)),
                Op::RolCl => al.rotate_left(u32::from(cl % 8)),
                Op::RorCl => al.rotate_right(u32::from(cl % 8)),
            };
        }
        *b = al;
        cl = cl.wrapping_sub(1);
    }
    cl
}

/// Why unpacking stopped.
enum Fail {
    Broken(String),
    Unsupported(String),
    Late,
}

/// The decryptor at `at` in `file`, traced.
fn decryptor(file: &[u8], at: usize, which: &str) -> Result<Vec<Op>, Fail> {
    let window = file.get(at..at.saturating_add(POLY_LEN).min(file.len()));
    match trace(window.unwrap_or_default()) {
        Ok(ops) => Ok(ops),
        Err(Trace::Unknown(op, modrm)) => Err(Fail::Unsupported(format!(
            "yC's {which} decryptor uses the instruction {op:02x} {modrm:02x}"
        ))),
        Err(Trace::Broken(why)) => Err(Fail::Broken(format!("yC's {which} decryptor {why}"))),
    }
}

/// Decrypts `count` bytes at `at` (fewer when the file ends first), asking for the time.
fn decrypt(ops: &[Op], file: &mut [u8], at: usize, count: u32, out: &Unpacked) -> Result<(), Fail> {
    let end = at.saturating_add(idx(count)).min(file.len());
    let mut cl = count as u8;
    for chunk in file
        .get_mut(at..end)
        .unwrap_or_default()
        .chunks_mut(CHECK_EVERY)
    {
        if !out.in_time() {
            return Err(Fail::Late);
        }
        cl = run(ops, chunk, cl);
    }
    Ok(())
}

// ---- unpacking ---------------------------------------------------------------------------

pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    let Some((stub, pe)) = Pe::read(bytes).and_then(|pe| Some((stub(bytes, &pe)?, pe))) else {
        out.broken(None, "not a PE encrypted by yC");
        return out;
    };
    let name = if le16(bytes, pe.pe_off + 0x16).unwrap_or(0) & 0x2000 != 0 {
        "decrypted.dll"
    } else {
        MEMBER
    };
    if bytes.len() > out.room() {
        out.broken(Some(name.into()), "the file is past the cap");
        return out;
    }
    match decrypt_all(bytes, &pe, &stub, &out) {
        Ok(file) => {
            out.file(name, file);
        }
        Err(Fail::Broken(why)) => out.broken(Some(name.into()), why),
        Err(Fail::Unsupported(why)) => out.unsupported(name.into(), why),
        Err(Fail::Late) => out.late(Some(name.into())),
    }
    out
}

/// The file with the stub's code and then the sections decrypted, its header fixed and the
/// yC section's data cut out.
fn decrypt_all(bytes: &[u8], pe: &Pe, stub: &Stub, out: &Unpacked) -> Result<Vec<u8>, Fail> {
    let mut file = bytes.to_vec();
    let first = decryptor(&file, stub.base + FIRST_POLY, "first")?;
    decrypt(&first, &mut file, stub.base + STUB_CODE, stub.ecx, out)?;
    let second = decryptor(
        &file,
        stub.base.saturating_add(stub.section_poly),
        "section",
    )?;
    let (yc, others) = pe
        .sects
        .split_last()
        .ok_or(Fail::Broken("no sections".into()))?;
    for s in others.iter().filter(|s| encrypted(s)) {
        decrypt(&second, &mut file, idx(s.raw), s.raw_size, out)?;
    }
    let oep = oep_at(&file, stub).and_then(|at| le32(&file, at));
    fix_header(&mut file, pe, yc, oep);
    imports::restore(&mut file, pe, stub);
    Ok(cut(file, yc, others))
}

/// Whether yC encrypted a section: one with data, not resources, relocations, the export,
/// import or TLS data, nor a yC section.
fn encrypted(s: &Section) -> bool {
    let plain = PLAIN.iter().any(|p| s.name.starts_with(*p)) || s.name.starts_with(b"yC");
    s.raw != 0 && s.raw_size != 0 && !plain
}

/// Where the stub keeps the original entry point: the address its code reads it from
/// (`add edx, oep; add ebx, [edx]; ror ebx, 7`, once the image base is in EBX), else the
/// fixed place yc.c reads.
fn oep_at(file: &[u8], stub: &Stub) -> Option<usize> {
    let code = stub.base.checked_add(STUB_CODE)?;
    let code = file.get(code..code.saturating_add(idx(stub.ecx)).min(file.len()))?;
    let reads = code
        .windows(11)
        .find(|w| w.starts_with(&[0x81, 0xc2]) && w.ends_with(&[0x03, 0x1a, 0xc1, 0xcb, 0x07]));
    let from_code = reads.and_then(|w| stub.at(le32(w, 2)?));
    from_code
        .filter(|&at| le32(file, at).is_some())
        .or(stub.base.checked_add(OEP_FIXED))
}

/// As yc.c: one section fewer, no import directory (the stub's), the original entry point,
/// the image smaller by the yC section. The yC section's row is cleared too.
fn fix_header(file: &mut [u8], pe: &Pe, yc: &Section, oep: Option<u32>) {
    let n = pe.sects.len().saturating_sub(1) as u16;
    if let Some(d) = file.get_mut(pe.pe_off + 6..pe.pe_off + 8) {
        d.copy_from_slice(&n.to_le_bytes());
    }
    put32(file, pe.opt + 0x68, 0);
    put32(file, pe.opt + 0x6c, 0);
    if let Some(oep) = oep {
        put32(file, pe.opt + 0x10, oep);
    }
    let size = le32(file, pe.opt + 0x38).unwrap_or(0);
    put32(file, pe.opt + 0x38, size.wrapping_sub(yc.vsize));
    if let Some(row) = file.get_mut(yc.row..yc.row + 40) {
        row.fill(0);
    }
}

/// The file without the yC section's data when that comes after every other section's (as
/// yC appends it); what follows it (an overlay) is kept.
fn cut(mut file: Vec<u8>, yc: &Section, others: &[Section]) -> Vec<u8> {
    let (from, to) = (idx(yc.raw), idx(yc.raw.saturating_add(yc.raw_size)));
    let last = others
        .iter()
        .filter(|s| s.raw_size != 0)
        .all(|s| s.raw < yc.raw);
    if last && from < to && to <= file.len() {
        file.drain(from..to);
    }
    file
}

mod imports;

#[cfg(test)]
#[path = "yc_tests.rs"]
mod tests;
