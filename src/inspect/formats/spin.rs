//! PESpin 1.x-packed PE files (32-bit). Undoes the layers of PESpin's stub in the last
//! section (a byte XOR with a falling key, two shift-register XORs, a tiny x86 "poly"
//! decryptor we interpret), then each original section's shift-register XOR (keyed by a
//! checksum of the packed file), its poly layer and its aPLib compression (resources may be
//! compressed from an offset on), and rebuilds a PE of the original sections. Facts come from
//! ClamAV's libclamav/spin.c and the PESpin detection in libclamav/pe.c; the code is our own.

use super::Measure;
use super::unpacked::Unpacked;

mod aplib;
mod poly;
mod rebuild;
#[cfg(test)]
mod tests;

const REBUILT: &str = "unpacked.exe";
/// `call $+5; mov ebx, [esp]; add ebx, ..` four bytes into PESpin's entry point.
const EP_CODE: [u8; 10] = [0xe8, 0, 0, 0, 0, 0x8b, 0x1c, 0x24, 0x83, 0xc3];
const MAX_SECTIONS: usize = 96;
/// The stub's last field used, from the entry point: the stub must reach past it.
const STUB_END: u32 = 0x3217 + 4;

/// Where things are in the stub, from the entry point (PESpin 1.1's layout).
mod at {
    pub const MOV_BL: usize = 0xdb; // bb <key8>
    pub const MOV_ECX: usize = 0xe0; // b9 <len1>
    pub const LAYER1: usize = 0x1fe5;
    pub const LAYER1_LEN: u32 = 0x11fe;
    pub const KEY2: usize = 0x26eb; // key, then 5 bytes on, the length
    pub const LAYER2: usize = 0x2d5;
    pub const LAYER2_LEN: u32 = 0x5a0;
    pub const CRC_SKIP: usize = 0x429;
    pub const CRC: usize = 0x3217;
    pub const XOR_MAP: usize = 0x3207;
    pub const LAYER3_LEN: usize = 0x644; // length, then 0x0c on, the key
    pub const LAYER3: usize = 0x28d3;
    pub const LAYER3_SIZE: u32 = 0x180;
    pub const POLY1_LEN: usize = 0x28dd; // length, then 0x0f on, the code
    pub const POLY1_SIZE: u32 = 0x1a1;
    pub const POLY1: usize = 0x6d4;
    pub const POLY_MAP: usize = 0x6f1;
    pub const POLY_CODE: usize = 0x755;
    pub const PACK_MAP: usize = 0x3061;
    pub const RESOURCES: usize = 0x2fee;
}

/// Why unpacking stopped.
enum Fail {
    Damaged(String),
    Late,
}

type Res<T> = Result<T, Fail>;

fn damaged<T>(why: impl Into<String>) -> Res<T> {
    Err(Fail::Damaged(why.into()))
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

fn field(b: &[u8], at: usize) -> Res<u32> {
    le32(b, at).map_or_else(|| damaged("the stub is cut short"), Ok)
}

fn idx(v: u32) -> usize {
    v as usize
}

fn down(v: u32, a: u32) -> u32 {
    v.checked_div(a).map_or(v, |q| q * a)
}

fn up(v: u32, a: u32) -> u32 {
    if a == 0 {
        v
    } else {
        v.div_ceil(a).saturating_mul(a)
    }
}

/// A section as ClamAV sees it: addresses aligned, raw data clipped to the file.
#[derive(Clone, Copy, Debug)]
struct Sect {
    rva: u32,
    vsz: u32,
    raw: u32,
    rsz: u32,
}

impl Sect {
    fn data<'b>(&self, b: &'b [u8]) -> &'b [u8] {
        let from = idx(self.raw).min(b.len());
        b.get(from..from.saturating_add(idx(self.rsz)).min(b.len()))
            .unwrap_or_default()
    }
}

struct Packed {
    sects: Vec<Sect>,
    /// The entry point's file offset (it is in the last section).
    ep_off: usize,
}

fn read_sect(bytes: &[u8], row: usize, salign: u32, falign: u32) -> Option<Sect> {
    let (uvsz, urva) = (le32(bytes, row + 8)?, le32(bytes, row + 12)?);
    let (ursz, uraw) = (le32(bytes, row + 16)?, le32(bytes, row + 20)?);
    let fsize = u32::try_from(bytes.len()).ok()?;
    let mut s = Sect {
        rva: down(urva, salign),
        vsz: up(uvsz, salign),
        raw: down(uraw, falign),
        rsz: up(ursz, falign),
    };
    if s.rsz != 0 {
        if s.raw >= fsize || uraw >= fsize {
            s.rsz = 0;
        } else if u64::from(s.raw) + u64::from(s.rsz) > u64::from(fsize) {
            s.rsz = fsize - s.raw;
        }
    }
    if s.vsz == 0 && s.rsz != 0 {
        s.vsz = up(ursz, salign);
    }
    Some(s)
}

impl Packed {
    /// The file when it is a PE32 whose entry point, far enough inside the last section, has
    /// PESpin's code (ClamAV's test).
    fn read(bytes: &[u8]) -> Option<Packed> {
        let pe = idx(le32(bytes, 0x3c)?);
        if !bytes.starts_with(b"MZ") || bytes.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
            return None;
        }
        let opt = pe + 0x18;
        let n = usize::from(le16(bytes, pe + 6)?);
        if le16(bytes, opt)? != 0x10b || !(2..=MAX_SECTIONS).contains(&n) {
            return None;
        }
        let table = opt + usize::from(le16(bytes, pe + 0x14)?);
        let (ep, salign) = (le32(bytes, opt + 16)?, le32(bytes, opt + 32)?);
        let mut falign = le32(bytes, opt + 36)?;
        for i in 0..n {
            let (ursz, uraw) = (
                le32(bytes, table + 40 * i + 16)?,
                le32(bytes, table + 40 * i + 20)?,
            );
            // ClamAV's fallback for sections off the file alignment but on 0x200.
            if falign != 0 && ursz != 0 && uraw % falign != 0 && uraw % 0x200 == 0 {
                falign = 0x200;
            }
        }
        let sects = (0..n)
            .map(|i| read_sect(bytes, table + 40 * i, salign, falign))
            .collect::<Option<Vec<_>>>()?;
        let last = sects.last()?;
        let end = u64::from(last.rva) + u64::from(last.rsz);
        if ep < last.rva || u64::from(ep) + u64::from(STUB_END) >= end {
            return None;
        }
        let ep_off = idx(last.raw).checked_add(idx(ep - last.rva))?;
        let code = bytes.get(ep_off.checked_add(4)?..ep_off.checked_add(4 + EP_CODE.len())?)?;
        (code == EP_CODE).then_some(Packed { sects, ep_off })
    }
}

/// True for an MZ/PE32 that ClamAV would take for PESpin 1.x (see [`Packed::read`]).
pub(super) fn starts(bytes: &[u8]) -> bool {
    Packed::read(bytes).is_some()
}

pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    let Some(pe) = Packed::read(bytes) else {
        out.broken(None, "not a PESpin-packed PE");
        return out;
    };
    match unspin(&pe, bytes, &mut out) {
        Ok(sects) => {
            if rebuild::size(&sects) > out.room() {
                out.broken(Some(REBUILT.into()), "the rebuilt file is past the cap");
            } else {
                out.file(REBUILT, rebuild::rebuild(&sects));
            }
        }
        Err(Fail::Late) => out.late(Some(REBUILT.into())),
        Err(Fail::Damaged(why)) => out.broken(Some(REBUILT.into()), why),
    }
    out
}

/// Undoes every layer; the original sections (all but PESpin's last), each with its bytes.
fn unspin(pe: &Packed, bytes: &[u8], out: &mut Unpacked) -> Res<Vec<rebuild::Out>> {
    let mut src = bytes.to_vec();
    let key = open_stub(pe, &mut src, out)?;
    let ep = pe.ep_off;
    let originals = pe.sects.get(..pe.sects.len() - 1).unwrap_or_default();
    let xor_map = field(&src, ep + at::XOR_MAP)?;
    for (j, s) in originals.iter().enumerate() {
        if flagged(xor_map, j) {
            sect_mut(&mut src, s)
                .iter_mut()
                .for_each(shift_xor(key, 0xed43_af31, false));
        }
    }
    open_poly(ep, &mut src)?;
    let code = poly::Code::parse(src.get(ep + at::POLY_CODE..).unwrap_or_default()).ok_or(
        Fail::Damaged("the sections' poly code is not understood".into()),
    )?;
    let poly_map = field(&src, ep + at::POLY_MAP)?;
    for (j, s) in originals.iter().enumerate() {
        if !out.in_time() {
            return Err(Fail::Late);
        }
        if flagged(poly_map, j) {
            code.run(sect_mut(&mut src, s));
        }
    }
    grow(pe, &src, originals, out)
}

fn flagged(map: u32, j: usize) -> bool {
    j < 32 && map >> j & 1 != 0
}

fn sect_mut<'b>(src: &'b mut [u8], s: &Sect) -> &'b mut [u8] {
    let from = idx(s.raw).min(src.len());
    let to = from.saturating_add(idx(s.rsz)).min(src.len());
    src.get_mut(from..to).unwrap_or_default()
}

/// A byte XOR with a shift register that takes in `poly` when the bit shifted out is
/// `on_odd` (PESpin uses both senses).
fn shift_xor(mut key: u32, poly: u32, on_odd: bool) -> impl FnMut(&mut u8) {
    move |b| {
        let odd = key & 1 != 0;
        key >>= 1;
        if odd == on_odd {
            key ^= poly;
        }
        *b ^= key as u8;
    }
}

/// Decrypts the stub's first two layers in a copy of the last section, checks the packed
/// file, and puts the copy back; the key of the sections' XOR layer.
fn open_stub(pe: &Packed, src: &mut [u8], out: &Unpacked) -> Res<u32> {
    let last = pe
        .sects
        .last()
        .copied()
        .ok_or(Fail::Damaged("no sections".into()))?;
    let mut stub = last.data(src).to_vec();
    let e = pe.ep_off - idx(last.raw);
    let byte = |s: &[u8], at: usize| s.get(e + at).copied();
    if byte(&stub, at::MOV_BL) != Some(0xbb)
        || byte(&stub, at::MOV_ECX) != Some(0xb9)
        || le32(&stub, e + at::MOV_ECX + 1) != Some(at::LAYER1_LEN)
    {
        return damaged("not PESpin 1.1's stub");
    }
    let mut key8 = byte(&stub, at::MOV_BL + 1).unwrap_or(0);
    let layer1 = e + at::LAYER1..e + at::LAYER1 + idx(at::LAYER1_LEN);
    for b in stub.get_mut(layer1).unwrap_or_default().iter_mut().rev() {
        *b ^= key8;
        key8 = key8.wrapping_sub(1);
    }
    let key2 = field(&stub, e + at::KEY2)?;
    if field(&stub, e + at::KEY2 + 5)? != at::LAYER2_LEN {
        return damaged("not PESpin 1.1's second layer");
    }
    let layer2 = e + at::LAYER2..e + at::LAYER2 + idx(at::LAYER2_LEN);
    let region = stub.get_mut(layer2).unwrap_or_default();
    region
        .iter_mut()
        .for_each(shift_xor(key2, 0x8c32_8834, true));
    let skip = idx(field(&stub, e + at::CRC_SKIP)?);
    if skip == 0 || skip > src.len() {
        return damaged("the checksum's span is out of the file");
    }
    let sum = checksum(src.get(..src.len() - skip).unwrap_or_default(), out)?;
    let key = field(&stub, e + at::CRC)?.wrapping_sub(sum);
    let from = idx(last.raw);
    if let Some(dst) = src.get_mut(from..from + stub.len()) {
        dst.copy_from_slice(&stub);
    }
    Ok(key)
}

/// PESpin's checksum of the packed file, which keys the sections' XOR.
fn checksum(data: &[u8], out: &Unpacked) -> Res<u32> {
    let (mut a, mut b) = (u32::MAX, u32::MAX);
    for (i, &byte) in data.iter().enumerate() {
        if i % 0x10000 == 0 && !out.in_time() {
            return Err(Fail::Late);
        }
        a ^= u32::from(byte) << 8;
        a = a >> 3 & 0x1fff_ffff;
        for _ in 0..4 {
            a ^= b >> 8 & 0xff;
            a = a.wrapping_add(0x7801_a108) ^ b;
            a = a.rotate_right(b & 31);
            (a, b) = (b, a);
        }
    }
    Ok(b)
}

/// The stub's third layer, then its poly-encrypted part (which holds the sections' poly code).
fn open_poly(ep: usize, src: &mut [u8]) -> Res<()> {
    if field(src, ep + at::LAYER3_LEN)? != at::LAYER3_SIZE {
        return damaged("not PESpin 1.1's third layer");
    }
    let key = field(src, ep + at::LAYER3_LEN + 0x0c)?;
    let layer3 = ep + at::LAYER3..ep + at::LAYER3 + idx(at::LAYER3_SIZE);
    let region = src
        .get_mut(layer3)
        .ok_or(Fail::Damaged("the stub is cut short".into()))?;
    region
        .iter_mut()
        .for_each(shift_xor(key, 0xed43_af32, true));
    if field(src, ep + at::POLY1_LEN)? != at::POLY1_SIZE {
        return damaged("not PESpin 1.1's poly layer");
    }
    let code = poly::Code::parse(src.get(ep + at::POLY1_LEN + 0x0f..).unwrap_or_default()).ok_or(
        Fail::Damaged("the stub's poly code is not understood".into()),
    )?;
    let poly1 = ep + at::POLY1..ep + at::POLY1 + idx(at::POLY1_SIZE);
    code.run(
        src.get_mut(poly1)
            .ok_or(Fail::Damaged("the stub is cut short".into()))?,
    );
    Ok(())
}

/// Decompresses the sections the compression map names (and resources compressed from an
/// offset on); the others keep their bytes. A section that fails keeps its packed bytes.
fn grow(pe: &Packed, src: &[u8], originals: &[Sect], out: &mut Unpacked) -> Res<Vec<rebuild::Out>> {
    let pack_map = field(src, pe.ep_off + at::PACK_MAP)?;
    let res = field(src, pe.ep_off + at::RESOURCES)?;
    let res_in = originals
        .iter()
        .position(|s| res != 0 && res >= s.rva && res - s.rva < s.vsz && res - s.rva <= s.rsz);
    let mut room = out.room();
    let mut sects = Vec::new();
    for (j, s) in originals.iter().enumerate() {
        let data = s.data(src);
        let from = match (flagged(pack_map, j), res_in == Some(j)) {
            (true, _) => Some(0),
            (false, true) => Some(idx(res - s.rva)),
            _ => None,
        };
        let data = match from {
            Some(from) => inflate(data, from, idx(s.vsz), &mut room, out)?,
            None => data.to_vec(),
        };
        sects.push(rebuild::Out {
            rva: s.rva,
            vsz: s.vsz,
            data,
        });
    }
    Ok(sects)
}

/// `data` with its bytes from `from` on decompressed, to `size` bytes in all; on damage the
/// bytes as they are (noted).
fn inflate(
    data: &[u8],
    from: usize,
    size: usize,
    room: &mut usize,
    out: &mut Unpacked,
) -> Res<Vec<u8>> {
    if size > *room {
        return damaged("a section grows past the cap");
    }
    *room -= size;
    let (head, packed) = data.split_at(from.min(data.len()));
    match aplib::decompress(packed, size.saturating_sub(head.len()), out) {
        Ok(body) => {
            let mut whole = head.to_vec();
            whole.extend_from_slice(&body);
            whole.resize(size, 0);
            Ok(whole)
        }
        Err(aplib::Stop::Late) => Err(Fail::Late),
        Err(aplib::Stop::Damaged) => {
            out.broken(Some(REBUILT.into()), "a compressed section is damaged");
            Ok(data.to_vec())
        }
    }
}
