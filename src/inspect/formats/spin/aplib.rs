//! The aPLib-style LZ that PESpin (like FSG) compresses sections with: a literal first byte,
//! then tag bits (MSB first, 8 to a tag byte read when needed) that choose a literal, a short
//! match, a gamma-coded match or a repeat of the last offset.

use super::Unpacked;

/// How often (in bytes written) decoding asks for the time.
const CHECK_EVERY: usize = 64 * 1024;

/// Why decompressing stopped.
#[derive(Debug, PartialEq)]
pub(super) enum Stop {
    /// The data ran out, a match reached before the start, or the output passed its size.
    Damaged,
    /// The deadline passed.
    Late,
}

struct Bits<'a> {
    src: &'a [u8],
    pos: usize,
    tag: u8,
    left: u8,
}

impl Bits<'_> {
    fn byte(&mut self) -> Result<u8, Stop> {
        let b = *self.src.get(self.pos).ok_or(Stop::Damaged)?;
        self.pos += 1;
        Ok(b)
    }

    fn bit(&mut self) -> Result<bool, Stop> {
        if self.left == 0 {
            self.tag = self.byte()?;
            self.left = 8;
        }
        self.left -= 1;
        let b = self.tag & 0x80 != 0;
        self.tag <<= 1;
        Ok(b)
    }

    /// An Elias-gamma-like number (at least 2): bits after a leading 1, each followed by a
    /// bit that says whether more follow.
    fn gamma(&mut self) -> Result<u32, Stop> {
        let mut v: u32 = 1;
        loop {
            v = v.checked_mul(2).ok_or(Stop::Damaged)? | u32::from(self.bit()?);
            if !self.bit()? {
                return Ok(v);
            }
        }
    }
}

/// Copies `len` bytes from `back` bytes behind the end of `dst`, within `limit` bytes.
fn copy_back(dst: &mut Vec<u8>, back: u32, len: u32, limit: usize) -> Result<(), Stop> {
    let back = back as usize;
    let len = len as usize;
    if back == 0 || back > dst.len() || dst.len().saturating_add(len) > limit {
        return Err(Stop::Damaged);
    }
    let from = dst.len() - back;
    for i in 0..len {
        let b = dst.get(from + i).copied().ok_or(Stop::Damaged)?;
        dst.push(b);
    }
    Ok(())
}

fn push(dst: &mut Vec<u8>, b: u8, limit: usize) -> Result<(), Stop> {
    if dst.len() >= limit {
        return Err(Stop::Damaged);
    }
    dst.push(b);
    Ok(())
}

/// Decompresses `src` into at most `limit` bytes (the end code must come before the limit).
pub(super) fn decompress(src: &[u8], limit: usize, out: &Unpacked) -> Result<Vec<u8>, Stop> {
    let mut dst = Vec::with_capacity(limit.min(src.len().saturating_mul(8)));
    let mut bits = Bits {
        src,
        pos: 0,
        tag: 0,
        left: 0,
    };
    push(&mut dst, bits.byte()?, limit)?;
    // After a literal, gamma offsets are one larger and a gamma of 2 means "last offset".
    let mut after_literal = true;
    let mut last: u32 = 0;
    let mut next_check = CHECK_EVERY;
    loop {
        if dst.len() >= next_check {
            next_check = dst.len().saturating_add(CHECK_EVERY);
            if !out.in_time() {
                return Err(Stop::Late);
            }
        }
        if !bits.bit()? {
            push(&mut dst, bits.byte()?, limit)?;
            after_literal = true;
        } else if !bits.bit()? {
            let g = bits.gamma()?;
            let len;
            if after_literal && g == 2 {
                len = bits.gamma()?;
            } else {
                let hi = g.saturating_sub(2 + u32::from(after_literal));
                let back = hi.checked_mul(256).ok_or(Stop::Damaged)? | u32::from(bits.byte()?);
                len = bits.gamma()?.saturating_add(long_bonus(back));
                last = back;
            }
            copy_back(&mut dst, last, len, limit)?;
            after_literal = false;
        } else if !bits.bit()? {
            let b = bits.byte()?;
            if b >> 1 == 0 {
                return Ok(dst);
            }
            last = u32::from(b >> 1);
            copy_back(&mut dst, last, 2 + u32::from(b & 1), limit)?;
            after_literal = false;
        } else {
            let mut back = 0u32;
            for _ in 0..4 {
                back = back << 1 | u32::from(bits.bit()?);
            }
            if back == 0 {
                push(&mut dst, 0, limit)?;
            } else {
                copy_back(&mut dst, back, 1, limit)?;
            }
            after_literal = true;
        }
    }
}

/// Far and very near matches are longer than their gamma says.
pub(super) fn long_bonus(back: u32) -> u32 {
    u32::from(back >= 0x7d00) + u32::from(back >= 0x500) + 2 * u32::from(back <= 0x7f)
}
