//! MEW 11-packed PE files (32-bit). MEW leaves the original image's space as one empty
//! section followed by its own section, which holds its stub, a short header and a chain of
//! aPLib-style compressed blocks (each names the virtual address it decompresses to); the
//! entry point jumps back into the PE header where the loader code sits. This module lays the
//! two sections out at their virtual addresses, decodes the chain into the empty section and
//! rebuilds a one-section PE from it. When the loader calls an LZMA stage, the LZMA blocks
//! after the chain are decoded too (plain LZMA, via lzma-rust2), and MEW's CALL/JMP filter
//! undone when that stage has one. Facts come from ClamAV's libclamav/mew.c,
//! libclamav/packlibs.c (the block decoder) and the MEW detection in libclamav/pe.c; the code
//! is our own.

use super::Measure;
use super::unpacked::Unpacked;

const REBUILT: &str = "unpacked.exe";
/// How often (in bytes written) decoding asks for the time.
const CHECK_EVERY: usize = 64 * 1024;
/// Where the entry point jump lands in the PE header: with and without Win9x compatibility.
const LOADERS: [u32; 2] = [0x154, 0x158];
/// Bytes of loader code read at that place (ClamAV's window).
const LOADER_LEN: usize = 0xb0;
/// Offset in the loader of the `call` that only the LZMA variant has.
const LZMA_CALL_AT: usize = 0x7b;
/// Blocks a chain may have: MEW writes one per original section.
const MAX_BLOCKS: usize = 96;
/// File and section alignment of the rebuilt PE.
const FILE_ALIGN: usize = 0x200;
const SECT_ALIGN: u32 = 0x1000;

/// One PE section header: virtual size and address, raw size and offset.
#[derive(Debug, Clone, Copy)]
struct Section {
    vsz: u32,
    rva: u32,
    rsz: u32,
    raw: u32,
}

/// What `starts` and `unpack` need from the packed PE.
#[derive(Debug)]
struct Layout {
    base: u32,
    subsystem: u16,
    /// The empty section the program is decoded into, then MEW's own section.
    empty: Section,
    packed: Section,
    /// The loader code in the header the entry point jumps to.
    loader: usize,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn sections(bytes: &[u8], at: usize, n: usize) -> Option<Vec<Section>> {
    (0..n)
        .map(|i| {
            let s = at.checked_add(i.checked_mul(40)?)?;
            Some(Section {
                vsz: u32_at(bytes, s + 8)?,
                rva: u32_at(bytes, s + 12)?,
                rsz: u32_at(bytes, s + 16)?,
                raw: u32_at(bytes, s + 20)?,
            })
        })
        .collect()
}

/// The file offset of `rva` in a file whose sections are `secs` (header bytes map 1:1).
fn rva_to_off(secs: &[Section], rva: u32) -> Option<usize> {
    for s in secs {
        if rva >= s.rva && rva - s.rva < s.rsz.max(s.vsz) {
            return usize::try_from(s.raw.checked_add(rva - s.rva)?).ok();
        }
    }
    usize::try_from(rva).ok()
}

/// Reads the layout ClamAV's pe.c checks: a PE32 with an empty section followed by a
/// non-empty one, an entry point starting with `jmp rel32` that lands at 0x154 or 0x158.
fn layout(bytes: &[u8]) -> Option<Layout> {
    if bytes.get(..2)? != b"MZ" {
        return None;
    }
    let pe = usize::try_from(u32_at(bytes, 0x3c)?).ok()?;
    if bytes.get(pe..pe.checked_add(4)?)? != b"PE\0\0" || u16_at(bytes, pe + 24)? != 0x10b {
        return None;
    }
    let n = usize::from(u16_at(bytes, pe + 6)?);
    let opt = pe + 24;
    let secs = sections(bytes, opt + usize::from(u16_at(bytes, pe + 20)?), n.min(96))?;
    let i = secs
        .windows(2)
        .position(|w| w[0].rsz == 0 && w[0].vsz != 0 && w[1].rsz != 0 && w[1].vsz != 0)?;
    let vep = u32_at(bytes, opt + 16)?;
    let ep = rva_to_off(&secs, vep)?;
    if *bytes.get(ep)? != 0xe9 || bytes.len() < ep.checked_add(16)? {
        return None;
    }
    let target = vep.wrapping_add(u32_at(bytes, ep + 1)?).wrapping_add(5);
    if !LOADERS.contains(&target) {
        return None;
    }
    let loader = usize::try_from(target).ok()?;
    bytes.get(loader..loader + LOADER_LEN)?;
    Some(Layout {
        base: u32_at(bytes, opt + 28)?,
        subsystem: u16_at(bytes, opt + 68)?,
        empty: secs[i],
        packed: *secs.get(i + 1)?,
        loader,
    })
}

/// True for a PE laid out the way MEW 11 leaves it (ClamAV's checks): cheap, header reads only.
pub(super) fn starts(bytes: &[u8]) -> bool {
    layout(bytes).is_some()
}

/// Unpacks a MEW 11 file into `unpacked.exe`, a PE rebuilt from the decoded image.
pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    let Some(lay) = layout(bytes) else {
        out.broken(None, "not a MEW 11 packed PE");
        return out;
    };
    match decode(bytes, &lay, &mut out) {
        Ok((image, entry)) => {
            let pe = rebuild(&lay, &image, entry);
            out.file(REBUILT, pe);
        }
        Err(why) => out.broken(Some(REBUILT.into()), why),
    }
    out
}

type Res<T> = Result<T, &'static str>;

/// Lays the two sections out, then decodes the block chain into the empty one. Gives the
/// decoded empty section (trimmed of its zero tail) and the original entry point RVA.
fn decode(bytes: &[u8], lay: &Layout, out: &mut Unpacked) -> Res<(Vec<u8>, u32)> {
    let (empty, packed) = (lay.empty, lay.packed);
    let vma = lay.base.checked_add(empty.rva).ok_or("bad image base")?;
    let gap = packed
        .rva
        .checked_sub(empty.rva)
        .ok_or("sections out of order")?;
    let esi = u32_at(bytes, lay.loader + 1).ok_or("short loader")?;
    let off = esi
        .checked_sub(lay.base)
        .and_then(|r| r.checked_sub(packed.rva))
        .filter(|&o| o > 0 && o.saturating_add(12) <= packed.rsz.min(packed.vsz))
        .ok_or("the loader's data is not in MEW's section")?;
    let raw = usize::try_from(packed.raw).map_err(|_| "bad offset")?;
    let src = bytes
        .get(raw..raw.saturating_add(packed.rsz as usize))
        .ok_or("MEW's section is cut short")?;
    let room = out.room();
    let size = (gap as usize).min(room);
    if (empty.vsz as usize) > room {
        return Err("the image is larger than the cap");
    }
    let mut image = vec![0u8; size];
    let at = off as usize;
    let entry = u32_at(src, at + 4).ok_or("short header")?;
    let first = u32_at(src, at + 8).ok_or("short header")?;
    let lzma = lzma_variant(bytes, lay, src)?;
    let (mut end, pos) = chain(src, at + 12, first, vma, &mut image, out)?;
    if let Some(calls) = lzma {
        // Damage here keeps what was decoded (the chain and any earlier LZMA blocks).
        match lzma_stage(src, pos, calls, vma, &mut image, out) {
            Ok(high) => end = end.max(high),
            Err(why) => {
                out.broken(Some(REBUILT.into()), why);
                end = image.len();
            }
        }
    }
    end = end.min(empty.vsz as usize);
    image.truncate(end);
    while image.last() == Some(&0) {
        image.pop();
    }
    Ok((image, entry.wrapping_sub(lay.base)))
}

/// Decodes the blocks one after another, each to the virtual address before it; a zero
/// address ends the chain. Gives the end of the highest byte written and where the chain
/// ended in `src`.
fn chain(
    src: &[u8],
    mut pos: usize,
    mut va: u32,
    vma: u32,
    image: &mut [u8],
    out: &mut Unpacked,
) -> Res<(usize, usize)> {
    let mut high = 0;
    for _ in 0..MAX_BLOCKS {
        if !out.in_time() {
            return Err("the time to look inside ran out");
        }
        let dst = va.checked_sub(vma).ok_or("a block goes below the image")? as usize;
        let (read, wrote) = aplib(src.get(pos..).unwrap_or(&[]), image, dst, out)?;
        high = high.max(wrote);
        pos = pos.saturating_add(read);
        va = u32_at(src, pos).ok_or("the block chain is cut short")?;
        pos += 4;
        if va == 0 {
            return Ok((high, pos));
        }
    }
    Err("too many blocks")
}

/// Whether the loader calls an LZMA stage (a `call` at 0x7b), and if so whether that
/// stage also turns CALL/JMP targets back to relative (its code pushes eax, 0x50, at 8).
fn lzma_variant(bytes: &[u8], lay: &Layout, src: &[u8]) -> Res<Option<bool>> {
    if bytes.get(lay.loader + LZMA_CALL_AT) != Some(&0xe8) {
        return Ok(None);
    }
    let rel = u32_at(bytes, lay.loader + LZMA_CALL_AT + 1).ok_or("short loader")?;
    let target = (lay.loader as u32 + LZMA_CALL_AT as u32 + 5).wrapping_add(rel);
    let inside = target
        .checked_sub(lay.packed.rva)
        .filter(|&o| o.saturating_add(4) <= lay.packed.vsz)
        .ok_or("the LZMA stage is outside MEW's section")?;
    Ok(Some(src.get(inside as usize + 8) == Some(&0x50)))
}

/// The LZMA stage after the chain: [call-fix length], a scratch address, then blocks of
/// (output size, address, input size, one byte, LZMA range coder data) until a zero size;
/// the call-fixing kind has one block. The coder is plain LZMA, lc=4 lp=0 pb=2, with the
/// block's output as its dictionary. Gives the end of the highest byte written.
fn lzma_stage(
    src: &[u8],
    mut pos: usize,
    calls: bool,
    vma: u32,
    image: &mut [u8],
    out: &mut Unpacked,
) -> Res<usize> {
    let short = "the LZMA stage is cut short";
    let fix_len = if calls {
        pos += 4;
        Some(u32_at(src, pos - 4).ok_or(short)? as usize)
    } else {
        None
    };
    pos += 4;
    let mut high = 0;
    for _ in 0..MAX_BLOCKS {
        let size = u32_at(src, pos).ok_or(short)? as usize;
        if size == 0 && !calls {
            return Ok(high);
        }
        let va = u32_at(src, pos + 4).ok_or(short)?;
        let len = u32_at(src, pos + 8).ok_or(short)? as usize;
        let data = src.get(pos + 13..).ok_or(short)?;
        pos = (pos + 13).saturating_add(len);
        let dst = va.checked_sub(vma).ok_or("an LZMA block below the image")? as usize;
        let block = image
            .get_mut(dst..dst.saturating_add(size))
            .ok_or("an LZMA block past the image")?;
        lzma_block(data.get(..len).unwrap_or(data), block, out)?;
        high = high.max(dst + size);
        if let Some(n) = fix_len {
            unfix_calls(block.get_mut(..n).unwrap_or(&mut []));
            return Ok(high);
        }
    }
    Err("too many LZMA blocks")
}

/// Decodes one LZMA block to fill `block`.
fn lzma_block(data: &[u8], block: &mut [u8], out: &Unpacked) -> Res<()> {
    use std::io::Read;
    // MEW's coder skips the stream's first byte; the library wants it zero.
    let mut stream = vec![0u8];
    stream.extend_from_slice(data.get(1..).ok_or("an empty LZMA block")?);
    let dict = (block.len() as u32).max(4096);
    let props = (2 * 5) * 9 + 4;
    let mut reader =
        lzma_rust2::LzmaReader::new_with_props(&stream[..], block.len() as u64, props, dict, None)
            .map_err(|_| "bad LZMA parameters")?;
    for chunk in block.chunks_mut(CHECK_EVERY) {
        if !out.in_time() {
            return Err("the time to look inside ran out");
        }
        reader.read_exact(chunk).map_err(|_| "damaged LZMA data")?;
    }
    Ok(())
}

/// Undoes MEW's CALL/JMP filter: the operand after each E8/E9 byte was stored as a
/// big-endian absolute offset; it becomes a little-endian one relative to the next byte.
fn unfix_calls(code: &mut [u8]) {
    let mut k = 0;
    while k + 5 < code.len() {
        if code[k] == 0xe8 || code[k] == 0xe9 {
            let at = &mut code[k + 1..k + 5];
            let abs = u32::from_be_bytes([at[0], at[1], at[2], at[3]]);
            at.copy_from_slice(&abs.wrapping_sub(k as u32 + 1).to_le_bytes());
            k += 5;
        } else {
            k += 1;
        }
    }
}

/// The bit reader of MEW's aPLib variant: a tag byte read MSB first, refilled when spent.
struct Bits<'a> {
    src: &'a [u8],
    pos: usize,
    tag: u8,
}

impl Bits<'_> {
    fn byte(&mut self) -> Res<u8> {
        let b = *self.src.get(self.pos).ok_or("compressed data cut short")?;
        self.pos += 1;
        Ok(b)
    }

    fn bit(&mut self) -> Res<u32> {
        let mut old = self.tag;
        self.tag = old << 1;
        if old & 0x7f == 0 {
            old = self.byte()?;
            self.tag = (old << 1) | 1;
        }
        Ok(u32::from(old >> 7))
    }

    /// An Elias-gamma-like number (≥ 2): a leading 1, then data bits each followed by
    /// a "more" bit.
    fn gamma(&mut self) -> Res<u32> {
        let mut v: u32 = 1;
        for _ in 0..32 {
            v = (v << 1) | self.bit()?;
            if self.bit()? == 0 {
                return Ok(v);
            }
        }
        Err("a length that does not end")
    }
}

/// One step of the decoder: a literal, a match (offset back, length), or the end.
enum Step {
    Literal(u8),
    Copy(u32, u32),
    End,
}

/// Decodes one block from `src` into `image` at `dst`. Gives the bytes of `src` read and
/// where writing ended.
fn aplib(src: &[u8], image: &mut [u8], dst: usize, out: &Unpacked) -> Res<(usize, usize)> {
    let mut bits = Bits {
        src,
        pos: 0,
        tag: 0x80,
    };
    let mut at = dst;
    let first = bits.byte()?;
    put(image, &mut at, first)?;
    let (mut last, mut after_literal) = (0u32, true);
    let mut next_check = at + CHECK_EVERY;
    loop {
        if at >= next_check {
            if !out.in_time() {
                return Err("the time to look inside ran out");
            }
            next_check = at + CHECK_EVERY;
        }
        match step(&mut bits, &mut last, &mut after_literal)? {
            Step::End => return Ok((bits.pos, at)),
            Step::Literal(b) => put(image, &mut at, b)?,
            Step::Copy(back, len) => {
                let from = at
                    .checked_sub(back as usize)
                    .ok_or("a match before the start")?;
                if from < dst || at.saturating_add(len as usize) > image.len() {
                    return Err("a match outside the block");
                }
                for k in 0..len as usize {
                    image[at + k] = image[from + k];
                }
                at += len as usize;
            }
        }
    }
}

fn put(image: &mut [u8], at: &mut usize, b: u8) -> Res<()> {
    *image.get_mut(*at).ok_or("a block writes past the image")? = b;
    *at += 1;
    Ok(())
}

/// Reads one step; `last` is the last match offset, `after_literal` whether the previous
/// step was a literal (which changes how a long match's offset is coded).
fn step(bits: &mut Bits, last: &mut u32, after_literal: &mut bool) -> Res<Step> {
    if bits.bit()? == 0 {
        *after_literal = true;
        return Ok(Step::Literal(bits.byte()?));
    }
    if bits.bit()? == 0 {
        return long_match(bits, last, after_literal);
    }
    if bits.bit()? == 0 {
        // A short match: 7 bits of offset and 1 of length in one byte; offset 0 ends.
        let b = bits.byte()?;
        let back = u32::from(b >> 1);
        if back == 0 {
            return Ok(Step::End);
        }
        *last = back;
        *after_literal = false;
        return Ok(Step::Copy(back, 2 + u32::from(b & 1)));
    }
    // A 4-bit offset for one byte; offset 0 writes a zero.
    let mut back = 0;
    for _ in 0..4 {
        back = (back << 1) | bits.bit()?;
    }
    *after_literal = true;
    Ok(match back {
        0 => Step::Literal(0),
        _ => Step::Copy(back, 1),
    })
}

/// A gamma-coded offset high part (or the last offset again) and a gamma-coded length.
fn long_match(bits: &mut Bits, last: &mut u32, after_literal: &mut bool) -> Res<Step> {
    let high = bits.gamma()? - 1 - u32::from(*after_literal);
    *after_literal = false;
    if high == 0 {
        return Ok(Step::Copy(*last, bits.gamma()?));
    }
    let low = u32::from(bits.byte()?);
    let back = ((high - 1) << 8) | low;
    if high - 1 > 0xff_ffff {
        return Err("a match offset too far");
    }
    let extra = u32::from(back >= 0x7d00) + u32::from(back >= 0x500) + 2 * u32::from(back <= 0x7f);
    let len = bits.gamma()?.saturating_add(extra);
    *last = back;
    Ok(Step::Copy(back, len))
}

fn put32(v: &mut [u8], at: usize, x: u32) {
    if let Some(s) = v.get_mut(at..at + 4) {
        s.copy_from_slice(&x.to_le_bytes());
    }
}

fn put16(v: &mut [u8], at: usize, x: u16) {
    if let Some(s) = v.get_mut(at..at + 2) {
        s.copy_from_slice(&x.to_le_bytes());
    }
}

fn align(x: usize, a: usize) -> usize {
    x.div_ceil(a).saturating_mul(a)
}

/// A PE32 with one section holding the decoded image at the empty section's address.
/// Imports stay as MEW left them (its loader resolves them at run time).
fn rebuild(lay: &Layout, image: &[u8], entry: u32) -> Vec<u8> {
    let raw = align(image.len().max(1), FILE_ALIGN);
    let mut pe = vec![0u8; FILE_ALIGN + raw];
    pe[..2].copy_from_slice(b"MZ");
    put32(&mut pe, 0x3c, 0x40);
    pe[0x40..0x44].copy_from_slice(b"PE\0\0");
    put16(&mut pe, 0x44, 0x14c);
    put16(&mut pe, 0x46, 1);
    put16(&mut pe, 0x54, 0xe0);
    put16(&mut pe, 0x56, 0x010f);
    let opt = 0x58;
    put16(&mut pe, opt, 0x10b);
    put32(&mut pe, opt + 4, raw as u32);
    put32(&mut pe, opt + 16, entry);
    put32(&mut pe, opt + 20, lay.empty.rva);
    put32(&mut pe, opt + 28, lay.base);
    put32(&mut pe, opt + 32, SECT_ALIGN);
    put32(&mut pe, opt + 36, FILE_ALIGN as u32);
    put16(&mut pe, opt + 40, 4);
    put16(&mut pe, opt + 48, 4);
    let vsz = lay.empty.vsz.max(raw as u32);
    let end = lay.empty.rva.saturating_add(vsz);
    put32(
        &mut pe,
        opt + 56,
        end.div_ceil(SECT_ALIGN).saturating_mul(SECT_ALIGN),
    );
    put32(&mut pe, opt + 60, FILE_ALIGN as u32);
    put16(&mut pe, opt + 68, lay.subsystem);
    put32(&mut pe, opt + 92, 16);
    let sec = opt + 0xe0;
    pe[sec..sec + 5].copy_from_slice(b".text");
    put32(&mut pe, sec + 8, vsz);
    put32(&mut pe, sec + 12, lay.empty.rva);
    put32(&mut pe, sec + 16, raw as u32);
    put32(&mut pe, sec + 20, FILE_ALIGN as u32);
    put32(&mut pe, sec + 36, 0xe000_0060);
    pe[FILE_ALIGN..FILE_ALIGN + image.len()].copy_from_slice(image);
    pe
}

#[cfg(test)]
#[path = "mew_tests.rs"]
mod tests;
