//! UPX's decompressors (NRV2B, NRV2D, NRV2E in their bit orders; LZMA; deflate) and the
//! filters that undo what UPX did to CALL and JMP targets before compressing.

use super::*;

/// Decompresses `src` with UPX method `method` into `dst`, `u_len` bytes. What was decoded
/// stays in `dst` when it fails.
pub(super) fn decompress(
    method: u8,
    src: &[u8],
    u_len: usize,
    dst: &mut Vec<u8>,
    out: &Unpacked,
) -> Res<()> {
    dst.reserve(u_len.min(16 << 20));
    match method {
        2..=10 => nrv(src, u_len, method - 2, dst, out),
        14 => lzma(src, u_len, dst, out),
        15 => read_all(flate2::read::DeflateDecoder::new(src), u_len, dst, out),
        m => Err(Fail::Unsupported(format!("UPX compression method {m}"))),
    }?;
    if dst.len() < u_len {
        return broken("the packed data ends before the size its header gives");
    }
    Ok(())
}

/// The NRV bit stream: bits taken from the top of 8-, 16- or 32-bit little-endian words
/// read as needed between the literal bytes.
pub(super) struct Bits<'a> {
    pub(super) src: &'a [u8],
    pub(super) pos: usize,
    pub(super) word: u32,
    pub(super) left: u32,
    pub(super) width: u32,
}

impl Bits<'_> {
    pub(super) fn bit(&mut self) -> Res<u32> {
        if self.left == 0 {
            let n = idx(self.width / 8);
            let Some(w) = self.src.get(self.pos..self.pos + n) else {
                return broken("the packed data is cut short");
            };
            self.word = w.iter().rev().fold(0, |acc, &b| acc << 8 | u32::from(b));
            (self.pos, self.left) = (self.pos + n, self.width);
        }
        self.left -= 1;
        Ok(self.word >> self.left & 1)
    }

    pub(super) fn byte(&mut self) -> Res<u32> {
        let Some(&b) = self.src.get(self.pos) else {
            return broken("the packed data is cut short");
        };
        self.pos += 1;
        Ok(u32::from(b))
    }

    /// A number from `start`, doubled plus a bit until a stop bit.
    pub(super) fn gamma(&mut self, start: u32) -> Res<u32> {
        let mut v = start;
        loop {
            v = v * 2 + self.bit()?;
            if v > 0x0100_0002 {
                return broken("an NRV number runs past 24 bits");
            }
            if self.bit()? == 1 {
                return Ok(v);
            }
        }
    }

    /// NRV2D/NRV2E's offset prefix: a bit, a stop bit, and if not stopped one more bit.
    pub(super) fn gamma_de(&mut self) -> Res<u32> {
        let mut v = 1u32;
        loop {
            v = v * 2 + self.bit()?;
            if v > 0x0100_0002 {
                return broken("an NRV number runs past 24 bits");
            }
            if self.bit()? == 1 {
                return Ok(v);
            }
            v = (v - 1) * 2 + self.bit()?;
        }
    }
}

/// NRV2B (`kind` 0..3), NRV2D (3..6) and NRV2E (6..9), each in LE32, 8-bit, LE16 order.
pub(super) fn nrv(
    src: &[u8],
    u_len: usize,
    kind: u8,
    dst: &mut Vec<u8>,
    out: &Unpacked,
) -> Res<()> {
    let width = [32, 8, 16][usize::from(kind % 3)];
    let mut bits = Bits {
        src,
        pos: 0,
        word: 0,
        left: 0,
        width,
    };
    let (mut last_off, mut check_at) = (1u32, 0);
    loop {
        if dst.len() >= check_at {
            if !out.in_time() {
                return Err(Fail::Late);
            }
            check_at = dst.len() + CHECK_EVERY;
        }
        while bits.bit()? == 1 {
            if dst.len() >= u_len {
                return broken("the packed data holds more than its header says");
            }
            dst.push(bits.byte()? as u8);
        }
        let found = match kind / 3 {
            0 => match_2b(&mut bits, &mut last_off)?,
            k => match_2de(&mut bits, &mut last_off, k == 2)?,
        };
        let Some((off, len)) = found else {
            return Ok(());
        };
        copy_match(dst, idx(off), idx(len), u_len)?;
    }
}

/// NRV2B's match: its offset and length, or None at the end marker.
pub(super) fn match_2b(bits: &mut Bits, last_off: &mut u32) -> Res<Option<(u32, u32)>> {
    let m = bits.gamma(1)?;
    if m != 2 {
        let v = (m - 3) << 8 | bits.byte()?;
        if v == u32::MAX {
            return Ok(None);
        }
        *last_off = v + 1;
    }
    let mut len = bits.bit()? << 1;
    len |= bits.bit()?;
    if len == 0 {
        len = bits.gamma(1)? + 2;
    }
    Ok(Some((*last_off, len + 1 + u32::from(*last_off > 0xd00))))
}

/// NRV2D's (or with `e`, NRV2E's) match: offset and length, or None at the end marker.
pub(super) fn match_2de(bits: &mut Bits, last_off: &mut u32, e: bool) -> Res<Option<(u32, u32)>> {
    let m = bits.gamma_de()?;
    let mut len = if m == 2 {
        bits.bit()?
    } else {
        let v = (m - 3) << 8 | bits.byte()?;
        if v == u32::MAX {
            return Ok(None);
        }
        *last_off = (v >> 1) + 1;
        !v & 1
    };
    if !e {
        len = len << 1 | bits.bit()?;
        if len == 0 {
            len = bits.gamma(1)? + 2;
        }
    } else if len != 0 {
        len = 1 + bits.bit()?;
    } else if bits.bit()? == 1 {
        len = 3 + bits.bit()?;
    } else {
        len = bits.gamma(1)? + 3;
    }
    Ok(Some((*last_off, len + 1 + u32::from(*last_off > 0x500))))
}

/// Copies `len` bytes from `off` back; past `u_len` only what fits, then fails.
pub(super) fn copy_match(dst: &mut Vec<u8>, off: usize, len: usize, u_len: usize) -> Res<()> {
    if off == 0 || off > dst.len() {
        return broken("an NRV match reaches before the start");
    }
    let from = dst.len() - off;
    let fits = len.min(u_len.saturating_sub(dst.len()));
    if off >= fits {
        dst.extend_from_within(from..from + fits);
    } else {
        for i in from..from + fits {
            let b = dst.get(i).copied().unwrap_or(0);
            dst.push(b);
        }
    }
    if fits < len {
        return broken("the packed data holds more than its header says");
    }
    Ok(())
}

/// UPX's LZMA: two bytes of properties (`(lc+lp)<<3 | pb`, `lp<<4 | lc`), then raw LZMA.
pub(super) fn lzma(src: &[u8], u_len: usize, dst: &mut Vec<u8>, out: &Unpacked) -> Res<()> {
    let (Some(&p0), Some(&p1), Some(data)) = (src.first(), src.get(1), src.get(2..)) else {
        return broken("the LZMA data is cut short");
    };
    let (pb, lp, lc) = (p0 & 7, p1 >> 4, p1 & 15);
    if pb > 4 || lp > 4 || lc > 8 || p0 >> 3 != lc + lp {
        return broken("bad LZMA properties");
    }
    let dict = u32::try_from(u_len).unwrap_or(u32::MAX).max(4096);
    let (lc, lp, pb) = (lc.into(), lp.into(), pb.into());
    let reader = lzma_rust2::LzmaReader::new(data, u_len as u64, lc, lp, pb, dict, None)
        .map_err(|e| Fail::Broken(format!("LZMA: {e}")))?;
    read_all(reader, u_len, dst, out)
}

/// Reads a decoder up to `u_len` bytes, a block at a time.
pub(super) fn read_all(
    mut r: impl Read,
    u_len: usize,
    dst: &mut Vec<u8>,
    out: &Unpacked,
) -> Res<()> {
    let mut block = vec![0u8; CHECK_EVERY];
    while dst.len() < u_len {
        if !out.in_time() {
            return Err(Fail::Late);
        }
        let want = (u_len - dst.len()).min(block.len());
        match r.read(block.get_mut(..want).unwrap_or_default()) {
            Ok(0) => return Ok(()),
            Ok(n) => dst.extend_from_slice(block.get(..n).unwrap_or_default()),
            Err(e) => return broken(format!("decompressing: {e}")),
        }
    }
    Ok(())
}

// ---- filters -------------------------------------------------------------------------------

/// Undoes UPX filter `id` on `buf`, whose first byte is `addvalue` into the image. The
/// CALL-trick filters stored each E8/E9 (for 0x49 also 0F 8x) operand as an absolute address:
/// 0x11..0x19 every one; 0x24..0x49 those aimed inside, big-endian, `cto` in the top byte.
pub(super) fn unfilter(buf: &mut [u8], id: u8, cto: u8, addvalue: u32, out: &Unpacked) -> Res<()> {
    let call = |b: u8| b == 0xe8;
    let jmp = |b: u8| b == 0xe9;
    let either = |b: u8| b == 0xe8 || b == 0xe9;
    let mut pass = Pass {
        buf,
        add: addvalue,
        next_check: 0,
        out,
    };
    match id {
        0 => Ok(()),
        0x11..=0x19 => pass.ct32((id - 0x11) % 3, (id - 0x11) / 3),
        0x24 => pass.cto32(cto, false, &call),
        0x25 => pass.cto32(cto, false, &jmp),
        0x26 | 0x36 | 0x46 => pass.cto32(cto, false, &either),
        0x49 => pass.cto32(cto, true, &either),
        _ => Err(Fail::Unsupported(format!("UPX filter {id:#04x}"))),
    }
}

/// One filter pass over a buffer, asking for the time every 64 KiB.
pub(super) struct Pass<'a> {
    pub(super) buf: &'a mut [u8],
    pub(super) add: u32,
    pub(super) next_check: usize,
    pub(super) out: &'a Unpacked,
}

impl Pass<'_> {
    pub(super) fn in_time(&mut self, ic: usize) -> Res<()> {
        if ic >= self.next_check {
            if !self.out.in_time() {
                return Err(Fail::Late);
            }
            self.next_check = ic + CHECK_EVERY;
        }
        Ok(())
    }

    /// Puts `v`, less the operand's offset and `add`, back at `ic + 1`.
    pub(super) fn restore(&mut self, ic: usize, v: u32, big_endian: bool) {
        let a = u32::try_from(ic + 1).unwrap_or(u32::MAX);
        let v = v.wrapping_sub(a).wrapping_sub(self.add);
        let _ = put(
            self.buf,
            ic + 1,
            &if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            },
        );
    }

    /// 0x11..0x13: E8, E9, both; 0x14.. read big-endian; 0x17.. write big-endian.
    pub(super) fn ct32(&mut self, which: u8, order: u8) -> Res<()> {
        let mut ic = 0usize;
        while ic + 5 < self.buf.len() || (ic == 0 && self.buf.len() == 5) {
            self.in_time(ic)?;
            let op = self.buf.get(ic).copied().unwrap_or(0);
            let hit = (op == 0xe8 && which != 1) || (op == 0xe9 && which != 0);
            match array::<4>(self.buf, ic + 1).filter(|_| hit) {
                Some(raw) if order == 1 => self.restore(ic, u32::from_be_bytes(raw), false),
                Some(raw) => self.restore(ic, u32::from_le_bytes(raw), order == 2),
                None => {
                    ic += 1;
                    continue;
                }
            }
            ic += 5;
        }
        Ok(())
    }

    /// 0x24..0x49; with `jcc` also a 0F 80..8F not right after an operand just restored.
    pub(super) fn cto32(&mut self, cto: u8, jcc: bool, cond: &dyn Fn(u8) -> bool) -> Res<()> {
        let (mut ic, mut lastcall) = (0usize, 0usize);
        while ic + 5 < self.buf.len() {
            self.in_time(ic)?;
            let op = self.buf.get(ic).copied().unwrap_or(0);
            let prev = ic.checked_sub(1).and_then(|p| self.buf.get(p)).copied();
            let is_jcc = jcc && lastcall != ic && prev == Some(0x0f) && op & 0xf0 == 0x80;
            if (cond(op) || is_jcc) && self.buf.get(ic + 1) == Some(&cto) {
                let v = be32(self.buf, ic + 1)
                    .unwrap_or(0)
                    .wrapping_sub(u32::from(cto) << 24);
                self.restore(ic, v, false);
                ic += 5;
                lastcall = ic;
            } else {
                ic += 1;
            }
        }
        Ok(())
    }
}
