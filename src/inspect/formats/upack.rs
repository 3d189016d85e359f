//! Upack (0.39, three-section layout) packed PE executables: finds the packer's loader by its
//! entry-point code, rebuilds the in-memory image the loader would build, runs Upack's LZMA
//! variant over it, undoes the call/jmp address transform and hands back a rebuilt PE.
//! Facts (section layout, loader offsets, probability table layout, the range coder) come from
//! ClamAV's libclamav/upack.c, mew.c (`lzma_upack_*`) and the Upack check in pe.c; the code
//! here is written afresh. The two-section variants (0.39-2s, 1.1/1.2) are reported unsupported.

use super::Measure;
use super::unpacked::Unpacked;

const NAME: &str = "unpacked.exe";

type Res<T> = Result<T, &'static str>;

/// The PE header facts the Upack check needs.
struct Pe {
    nsections: usize,
    opt_size: u16,
    ep_rva: u32,
    base: u32,
    file_align: u32,
    /// (virtual size aligned, rva, raw size, raw offset) per section.
    sections: Vec<(u32, u32, u32, u32)>,
}

fn rd16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn rd32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn align_up(v: u32, a: u32) -> u32 {
    if a == 0 {
        v
    } else {
        v.div_ceil(a).saturating_mul(a)
    }
}

fn parse_pe(b: &[u8]) -> Option<Pe> {
    if b.get(..2)? != b"MZ" {
        return None;
    }
    let pe = rd32(b, 0x3c)? as usize;
    if b.get(pe..pe.checked_add(4)?)? != b"PE\0\0" || rd16(b, pe + 24)? != 0x10b {
        return None;
    }
    let nsections = rd16(b, pe + 6)? as usize;
    let opt_size = rd16(b, pe + 20)?;
    let opt = pe + 24;
    let valign = rd32(b, opt + 32)?;
    let mut sections = Vec::new();
    let table = opt + opt_size as usize;
    for i in 0..nsections.min(96) {
        let s = table + 40 * i;
        let vsz = align_up(rd32(b, s + 8)?, valign);
        sections.push((vsz, rd32(b, s + 12)?, rd32(b, s + 16)?, rd32(b, s + 20)?));
    }
    Some(Pe {
        nsections,
        opt_size,
        ep_rva: rd32(b, opt + 16)?,
        base: rd32(b, opt + 28)?,
        file_align: rd32(b, opt + 36)?,
        sections,
    })
}

impl Pe {
    /// The entry point as a file offset, the way ClamAV maps it (raw offsets rounded down).
    fn ep_raw(&self) -> Option<u32> {
        let s = self
            .sections
            .iter()
            .find(|s| self.ep_rva >= s.1 && self.ep_rva - s.1 < s.0.max(s.2))?;
        let raw =
            s.3.checked_div(self.file_align)
                .map_or(s.3, |q| q * self.file_align);
        (self.ep_rva - s.1).checked_add(raw)
    }

    fn min_rva(&self) -> u32 {
        self.sections.iter().map(|s| s.1).min().unwrap_or(0)
    }
}

/// The 3-section Upack 0.39 shape: optional header of 0x148 bytes, three sections, and an
/// entry point `mov esi, imm32; lodsd; push eax` (or `push [esi]`) pointing past the first
/// section's start.
fn layout(b: &[u8]) -> Option<(Pe, u32)> {
    let pe = parse_pe(b)?;
    if pe.opt_size != 0x148 || pe.nsections != 3 {
        return None;
    }
    let ep = pe.ep_raw()?;
    let code = b.get(ep as usize..(ep as usize).checked_add(168)?)?;
    let imm = u32::from_le_bytes([code[1], code[2], code[3], code[4]]);
    let ok = code[0] == 0xbe
        && imm.wrapping_sub(pe.base) > pe.min_rva()
        && matches!((code[5], code[6]), (0xad, 0x50) | (0xff, 0x36));
    ok.then_some((pe, ep))
}

pub(super) fn starts(bytes: &[u8]) -> bool {
    layout(bytes).is_some()
}

pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    let Some((pe, ep)) = layout(bytes) else {
        out.unsupported(NAME.into(), "not a three-section Upack 0.39 program");
        return out;
    };
    match run(bytes, &pe, ep, &out) {
        Ok(image) => {
            out.file(NAME, image);
        }
        Err("late") => out.late(Some(NAME.into())),
        Err(why) => out.broken(Some(NAME.into()), why),
    }
    out
}

/// Lays the packed sections out as the loader sees them (offset 0 = first section's rva).
fn image(bytes: &[u8], pe: &Pe, room: usize) -> Res<Vec<u8>> {
    let [s0, s1, s2] = [pe.sections[0], pe.sections[1], pe.sections[2]];
    let dsize = (s0.0 as u64) + (s1.0 as u64) + (s2.0 as u64);
    let ssize = (s0.2 as u64) + (s0.3 as u64);
    if dsize > room as u64 {
        return Err("image larger than the cap");
    }
    let mut d = vec![0u8; dsize as usize];
    let head = bytes
        .get(..ssize as usize)
        .ok_or("section 0 past the end")?;
    let at2 = s2.1.checked_sub(s0.1).ok_or("bad section order")? as usize;
    let at1 = s1.1.checked_sub(s0.1).ok_or("bad section order")? as usize;
    let body = (s1.3 as usize)
        .checked_add(s1.2 as usize)
        .and_then(|e| bytes.get(s1.3 as usize..e))
        .ok_or("section 1 past the end")?;
    d.get_mut(..head.len())
        .ok_or("bad layout")?
        .copy_from_slice(head);
    put(&mut d, at2, head)?;
    put(&mut d, at1, body)?;
    Ok(d)
}

fn put(d: &mut [u8], at: usize, src: &[u8]) -> Res<()> {
    let end = at.checked_add(src.len()).ok_or("bad layout")?;
    d.get_mut(at..end).ok_or("bad layout")?.copy_from_slice(src);
    Ok(())
}

/// Memory of the image addressed by u32 offsets, every access checked.
struct Mem {
    d: Vec<u8>,
}

impl Mem {
    fn b(&self, at: u32) -> Res<u8> {
        self.d
            .get(at as usize)
            .copied()
            .ok_or("reference outside the image")
    }
    fn r32(&self, at: u32) -> Res<u32> {
        rd32(&self.d, at as usize).ok_or("reference outside the image")
    }
    fn w32(&mut self, at: u32, v: u32) -> Res<()> {
        let s = (at as usize)
            .checked_add(4)
            .and_then(|e| self.d.get_mut(at as usize..e))
            .ok_or("reference outside the image")?;
        s.copy_from_slice(&v.to_le_bytes());
        Ok(())
    }
}

/// What the loader code tells: where the data and tables are, and the LZMA parameters.
struct Plan {
    original_ep: u32,
    probs: u32,
    shift: u32,
    src: u32,
    start: u32,
    end: u32,
    calls: u32,
    marker: u8,
}

fn run(bytes: &[u8], pe: &Pe, ep: u32, out: &Unpacked) -> Res<Vec<u8>> {
    let mut m = Mem {
        d: image(bytes, pe, out.room())?,
    };
    let vma = pe.base.wrapping_add(pe.sections[0].1);
    let plan = read_loader(&mut m, bytes, pe, ep, vma)?;
    let mut lz = Lzma::new(&m, &plan)?;
    lz.decode(&mut m, &plan, out)?;
    fix_calls(&mut m, &plan)?;
    Ok(rebuild(&m.d, pe.base, pe.sections[0].1, plan.original_ep))
}

/// Follows the loader's jumps to the facts ClamAV reads (upack.c, the 3-section branch).
fn read_loader(m: &mut Mem, bytes: &[u8], pe: &Pe, ep: u32, vma: u32) -> Res<Plan> {
    let code = bytes.get(ep as usize..).ok_or("entry point past the end")?;
    let alt = code.get(5..7) == Some(&[0xff, 0x36]);
    let mut esi = rd32(code, 1).ok_or("short entry")?.wrapping_sub(vma);
    let original_ep = m.r32(esi)?.wrapping_sub(vma);
    esi = esi.wrapping_add(8);
    let mut edi = 0;
    let (mut al, lng) = if !alt {
        edi = m.r32(esi)?.wrapping_sub(vma);
        if m.b(ep + 0xa)? != 0xeb {
            return Err("loader: no first jump");
        }
        esi = rel8(m, ep + 0xb)?.wrapping_add(ep + 0xc);
        let j = esi.wrapping_add(0x1a);
        if m.b(j)? != 0xeb {
            return Err("loader: no second jump");
        }
        (
            j.wrapping_add(1 + 1 + 0xa).wrapping_add(m.b(j + 1)? as u32),
            8,
        )
    } else {
        if m.b(ep + 7)? != 0xe9 {
            return Err("loader: no jump");
        }
        esi = m.r32(ep + 8)?.wrapping_add(ep + 0xc);
        (esi.wrapping_add(0x25), 10)
    };
    if m.b(al)? != 0xb5 {
        return Err("loader: no table size");
    }
    al = al.wrapping_add(1);
    let count = m.b(al)? as u32 * 0x100;
    if m.b(al.wrapping_add(lng))? != 0xe9 {
        return Err("loader: no long jump");
    }
    let mut head = m.r32(al.wrapping_add(lng + 1))?.wrapping_add(esi);
    head = if !alt {
        head.wrapping_add(rel8(m, esi.wrapping_add(0x1b))?)
            .wrapping_add(0x1c + 0x18)
    } else {
        head.wrapping_add(0x35)
    };
    let (marker, shift) = decoder_facts(m, head, alt)?;
    tables(
        m,
        esi,
        edi,
        vma,
        pe.base,
        alt,
        original_ep,
        count,
        shift,
        marker,
    )
}

fn rel8(m: &Mem, at: u32) -> Res<u32> {
    Ok(m.b(at)? as i8 as i32 as u32)
}

/// In the unpacking routine: the `jecxz` that leads to the call-fix loop (its `cmp al, xx`
/// gives the marker byte) and `shr ebp, n` (n: the literal context shift).
fn decoder_facts(m: &Mem, head: u32, alt: bool) -> Res<(u8, u32)> {
    let (mut al, aljump, shroff) = if m.b(head.wrapping_add(42))? == 0xe3 {
        (head.wrapping_add(43), 8, 24)
    } else if m.b(head.wrapping_add(45))? == 0xe3 {
        (head.wrapping_add(46), 7, 26)
    } else {
        return Err("loader: no jecxz");
    };
    al = al.wrapping_add(m.b(al)? as u32 + 1);
    if m.b(al.wrapping_add(aljump))? != 0xe9 {
        return Err("loader: no jump to the call fixer");
    }
    let rel = m.r32(al.wrapping_add(aljump + 1))?;
    al = al.wrapping_add(rel).wrapping_add(aljump + 1 + 4 + 27);
    if alt {
        al = al.wrapping_add(2);
    }
    let s = head.wrapping_add(shroff);
    if m.b(s)? != 0xc1 || m.b(s.wrapping_add(1))? != 0xed {
        return Err("loader: no shr ebp");
    }
    let shift = m.b(s.wrapping_add(2))? as u32;
    if !(2..=8).contains(&shift) {
        return Err("context bits out of range");
    }
    Ok((m.b(al)?, shift))
}

/// Copies the loader's table block, sets up the coder state and probabilities, and reads
/// where the compressed data, the output and the call count are.
#[allow(clippy::too_many_arguments)]
fn tables(
    m: &mut Mem,
    esi: u32,
    edi: u32,
    vma: u32,
    base: u32,
    alt: bool,
    original_ep: u32,
    count: u32,
    shift: u32,
    marker: u8,
) -> Res<Plan> {
    let (mut esi, mut edi, n) = table_block(m, esi, edi, vma, base, alt)?;
    for _ in 0..n {
        let v = m.r32(esi)?;
        m.w32(edi, v)?;
        esi = esi.wrapping_add(4);
        edi = edi.wrapping_add(4);
    }
    let mut calls = m.r32(esi.wrapping_add(4))?;
    let src = m.r32(edi.wrapping_sub(4))?.wrapping_sub(vma);
    let probs = edi;
    for v in [0xffff_ffff, 0, 1, 1, 1, 1] {
        m.w32(edi, v)?;
        edi = edi.wrapping_add(4);
    }
    if (count as usize).saturating_mul(4) > m.d.len() {
        return Err("probability table larger than the image");
    }
    for _ in 0..count {
        m.w32(edi, 0x400)?;
        edi = edi.wrapping_add(4);
    }
    let (start, end) = if alt {
        calls = m.r32(esi.wrapping_add(0x40))?;
        (
            vma.wrapping_sub(base),
            m.r32(esi.wrapping_add(0x64))?.wrapping_sub(vma),
        )
    } else {
        let s = m.r32(esi.wrapping_add(0xc))?.wrapping_sub(vma);
        (s, m.r32(esi.wrapping_add(0x34))?.wrapping_sub(vma))
    };
    if start > end || end as usize > m.d.len() {
        return Err("output range outside the image");
    }
    Ok(Plan {
        original_ep,
        probs,
        shift,
        src,
        start,
        end,
        calls,
        marker,
    })
}

/// Where the loader's table block is (`mov esi`, and for the other loader `mov edi`) and how
/// many dwords it has.
fn table_block(
    m: &Mem,
    esi: u32,
    edi: u32,
    vma: u32,
    base: u32,
    alt: bool,
) -> Res<(u32, u32, u32)> {
    if !alt {
        if m.b(esi.wrapping_add(7))? != 0xbe {
            return Err("loader: no mov esi");
        }
        return Ok((m.r32(esi.wrapping_add(8))?.wrapping_sub(vma), edi, 0x27));
    }
    if m.b(esi.wrapping_add(6))? != 0xbe || m.b(esi.wrapping_add(11))? != 0xbf {
        return Err("loader: no mov esi/edi");
    }
    let src = m.r32(esi.wrapping_add(7))?;
    if src < base || src > vma {
        return Err("loader: table outside the image");
    }
    let edi = m.r32(esi.wrapping_add(12))?.wrapping_sub(vma);
    Ok((src.wrapping_sub(base), edi, 0x16))
}

/// Upack stores call/jmp targets as big-endian absolute values tagged by a marker byte.
fn fix_calls(m: &mut Mem, plan: &Plan) -> Res<()> {
    let (mut left, mut i) = (plan.calls, 0u32);
    while left > 0 {
        let op = m.b(plan.start.wrapping_add(i))?;
        i = i.checked_add(1).ok_or("call fix runs off")?;
        if op != 0xe8 && op != 0xe9 {
            continue;
        }
        let at = plan.start.wrapping_add(i);
        let v = m.r32(at)?;
        if v as u8 != plan.marker {
            continue;
        }
        m.w32(
            at,
            (v & 0xffff_ff00)
                .swap_bytes()
                .wrapping_sub(i)
                .wrapping_sub(4),
        )?;
        i = i.wrapping_add(4);
        left -= 1;
    }
    Ok(())
}

/// A one-section PE around the unpacked image (as ClamAV's rebuildpe does).
fn rebuild(img: &[u8], base: u32, rva: u32, ep: u32) -> Vec<u8> {
    let raw = align_up(img.len() as u32, 0x200);
    let mut h = vec![0u8; 0x200];
    let mut w = |at: usize, v: &[u8]| {
        if let Some(s) = h.get_mut(at..at + v.len()) {
            s.copy_from_slice(v);
        }
    };
    w(0, b"MZ");
    w(0x3c, &0x40u32.to_le_bytes());
    w(0x40, b"PE\0\0");
    w(0x44, &0x14cu16.to_le_bytes());
    w(0x46, &1u16.to_le_bytes());
    w(0x54, &0xe0u16.to_le_bytes());
    w(0x56, &0x10fu16.to_le_bytes());
    let o = 0x58;
    w(o, &0x10bu16.to_le_bytes());
    w(o + 16, &ep.wrapping_add(rva).to_le_bytes());
    w(o + 28, &base.to_le_bytes());
    w(o + 32, &0x1000u32.to_le_bytes());
    w(o + 36, &0x200u32.to_le_bytes());
    w(o + 40, &4u16.to_le_bytes());
    w(
        o + 56,
        &align_up(rva.saturating_add(img.len() as u32), 0x1000).to_le_bytes(),
    );
    w(o + 60, &0x200u32.to_le_bytes());
    w(o + 68, &2u16.to_le_bytes());
    w(o + 92, &16u32.to_le_bytes());
    let s = o + 0xe0;
    w(s, b".upack\0\0");
    w(s + 8, &(img.len() as u32).to_le_bytes());
    w(s + 12, &rva.to_le_bytes());
    w(s + 16, &raw.to_le_bytes());
    w(s + 20, &0x200u32.to_le_bytes());
    w(s + 36, &0xe000_0060u32.to_le_bytes());
    h.extend_from_slice(img);
    h.resize(0x200 + raw as usize, 0);
    h
}

mod lzma;
use self::lzma::*;

#[cfg(test)]
#[path = "upack_tests.rs"]
mod tests;
