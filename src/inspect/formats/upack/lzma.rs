//! Upack's LZMA variant: a range decoder that re-reads its input for every bit, with its\n//! probabilities kept inside the image at the loader's offsets.

use super::*;

/// Byte offsets of Upack's probability groups from the table start (upack.c, mew.c).
pub(super) const ALIGN: u32 = 0x18;
pub(super) const IS_MATCH: u32 = 0x58;
pub(super) const IS_REP: u32 = 0x88;
pub(super) const IS_REP_G0: u32 = 0xb8;
pub(super) const IS_REP0_LONG: u32 = 0xe8;
pub(super) const IS_REP_G1: u32 = 0x118;
pub(super) const IS_REP_G2: u32 = 0x148;
pub(super) const SPEC_POS: u32 = 0x178;
pub(super) const POS_SLOT: u32 = 0x378;
pub(super) const REP_LEN: u32 = 0x778;
pub(super) const MATCH_LEN: u32 = 0xbc0;
pub(super) const LITERAL: u32 = 0x1008;

/// Upack's range decoder: it re-reads four big-endian bytes at `src` for every bit and keeps
/// `low` to subtract, where plain LZMA keeps a running code; probabilities live in the image.
pub(super) struct Lzma {
    pub(super) src: u32,
    pub(super) range: u32,
    pub(super) low: u32,
    pub(super) probs: u32,
    pub(super) reps: [u32; 4],
    pub(super) state: u32,
}

impl Lzma {
    pub(super) fn new(m: &Mem, plan: &Plan) -> Res<Lzma> {
        Ok(Lzma {
            src: plan.src,
            range: m.r32(plan.probs)?,
            low: m.r32(plan.probs.wrapping_add(4))?,
            probs: plan.probs,
            reps: [1; 4],
            state: 0,
        })
    }

    pub(super) fn bit(&mut self, m: &mut Mem, group: u32, idx: u32) -> Res<u32> {
        let at = self
            .probs
            .wrapping_add(group)
            .wrapping_add(idx.wrapping_mul(4));
        let prob = m.r32(at)?;
        let bound = (self.range >> 11).wrapping_mul(prob);
        let code = m.r32(self.src)?.swap_bytes().wrapping_sub(self.low);
        let bit = if code < bound {
            self.range = bound;
            m.w32(at, prob.wrapping_add(0x800u32.wrapping_sub(prob) >> 5))?;
            0
        } else {
            self.low = self.low.wrapping_add(bound);
            self.range = self.range.wrapping_sub(bound);
            m.w32(at, prob.wrapping_sub(prob >> 5))?;
            1
        };
        self.normalize();
        Ok(bit)
    }

    pub(super) fn normalize(&mut self) {
        if self.range & 0xff00_0000 == 0 {
            self.low <<= 8;
            self.range <<= 8;
            self.src = self.src.wrapping_add(1);
        }
    }

    pub(super) fn direct(&mut self, m: &Mem, n: u32) -> Res<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let code = m.r32(self.src)?.swap_bytes().wrapping_sub(self.low);
            self.range >>= 1;
            v <<= 1;
            if code >= self.range {
                v += 1;
                self.low = self.low.wrapping_add(self.range);
            }
            self.normalize();
        }
        Ok(v)
    }

    /// A bit tree from `start` up to `limit` (a power of two): the value less `limit`.
    pub(super) fn tree(&mut self, m: &mut Mem, group: u32, start: u32, limit: u32) -> Res<u32> {
        let mut v = start;
        for _ in 0..40 {
            v = v.wrapping_mul(2).wrapping_add(self.bit(m, group, v)?);
            if v >= limit {
                return Ok(v - limit);
            }
        }
        Err("bit tree does not end")
    }

    pub(super) fn reverse(&mut self, m: &mut Mem, group: u32, n: u32) -> Res<u32> {
        let v = self.tree(m, group, 1, 1u32.checked_shl(n).ok_or("bad distance")?)?;
        Ok((0..n).fold(0, |r, i| (r << 1) | ((v >> i) & 1)))
    }

    /// A length less one (1..=0x110): low, mid or high tree after one or two choice bits.
    pub(super) fn len(&mut self, m: &mut Mem, group: u32) -> Res<u32> {
        let (base, limit) = if self.bit(m, group, 0)? == 0 {
            (1, 8)
        } else if self.bit(m, group, 1)? == 0 {
            (9, 8)
        } else {
            (0x11, 0x100)
        };
        let v = self.tree(m, group.wrapping_add(4 + base * 4), 1, limit)?;
        Ok(base + v)
    }

    pub(super) fn distance(&mut self, m: &mut Mem, len: u32) -> Res<u32> {
        let slot = self.tree(m, POS_SLOT + (len - 1).min(3) * 0x100, 1, 0x40)?;
        if slot < 4 {
            return Ok(slot + 1);
        }
        let n = (slot >> 1) - 1;
        let mut dist = (2 | (slot & 1)) << n;
        if n <= 5 {
            let group = SPEC_POS.wrapping_add(dist.wrapping_mul(4));
            dist = dist.wrapping_add(self.reverse(m, group, n)?);
        } else {
            dist = dist.wrapping_add(self.direct(m, n - 4)? << 4);
            dist = dist.wrapping_add(self.reverse(m, ALIGN, 4)?);
        }
        Ok(dist.wrapping_add(1))
    }
}

impl Lzma {
    pub(super) fn decode(&mut self, m: &mut Mem, plan: &Plan, out: &Unpacked) -> Res<()> {
        let (mut pos, mut matched) = (plan.start, false);
        let mut next_check = pos;
        while pos < plan.end {
            if pos >= next_check {
                if !out.in_time() {
                    return Err("late");
                }
                next_check = pos.saturating_add(0x10000);
            }
            let s = self.state;
            if self.bit(m, IS_MATCH, s)? == 0 {
                self.state = [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 4, 5]
                    .get(s as usize)
                    .copied()
                    .unwrap_or(0);
                let byte = self.literal(m, plan, pos, matched)?;
                put(&mut m.d, pos as usize, &[byte])?;
                pos += 1;
                matched = false;
                continue;
            }
            let len = if self.bit(m, IS_REP, s)? == 0 {
                self.state = if s < 7 { 7 } else { 10 };
                let len = self.len(m, MATCH_LEN)?;
                let dist = self.distance(m, len)?;
                self.reps = [dist, self.reps[0], self.reps[1], self.reps[2]];
                len
            } else {
                // A short repeat (`None`) copies one byte: length 0 plus the extra byte.
                self.rep(m, s)?.unwrap_or_default()
            };
            pos = copy(m, pos, self.reps[0], len + 1)?;
            matched = true;
        }
        Ok(())
    }

    /// A repeat of an earlier distance; `None` for the one-byte short repeat (length 0).
    pub(super) fn rep(&mut self, m: &mut Mem, s: u32) -> Res<Option<u32>> {
        let r = self.reps;
        if self.bit(m, IS_REP_G0, s)? == 0 {
            if self.bit(m, IS_REP0_LONG, s)? == 0 {
                self.state = if s < 7 { 9 } else { 11 };
                return Ok(None);
            }
        } else if self.bit(m, IS_REP_G1, s)? == 0 {
            self.reps = [r[1], r[0], r[2], r[3]];
        } else if self.bit(m, IS_REP_G2, s)? == 0 {
            self.reps = [r[2], r[0], r[1], r[3]];
        } else {
            self.reps = [r[3], r[0], r[1], r[2]];
        }
        self.state = if s < 7 { 8 } else { 11 };
        Ok(Some(self.len(m, REP_LEN)?))
    }

    pub(super) fn literal(&mut self, m: &mut Mem, plan: &Plan, pos: u32, matched: bool) -> Res<u8> {
        let prev = if pos > plan.start {
            m.b(pos - 1)? as u32
        } else {
            0
        };
        let group = LITERAL.wrapping_add((prev >> plan.shift).wrapping_mul(0xc00));
        if !matched {
            return Ok(self.tree(m, group, 1, 0x100)? as u8);
        }
        let mbyte = m.b(pos.wrapping_sub(self.reps[0]))? as u32;
        let mut v = 1u32;
        for i in (0..8).rev() {
            let mbit = (mbyte >> i) & 1;
            let bit = self.bit(m, group, ((1 + mbit) << 8) + v)?;
            v = (v << 1) | bit;
            if bit != mbit {
                if i == 0 {
                    break;
                }
                return Ok(self.tree(m, group, v, 0x100)? as u8);
            }
        }
        Ok(v as u8)
    }
}

/// Copies `len` bytes from `dist` back, byte by byte (the ranges may overlap).
pub(super) fn copy(m: &mut Mem, pos: u32, dist: u32, len: u32) -> Res<u32> {
    let from = pos.checked_sub(dist).ok_or("distance before the image")? as usize;
    let end = (pos as usize)
        .checked_add(len as usize)
        .ok_or("bad length")?;
    if end > m.d.len() {
        return Err("match past the image");
    }
    for i in 0..len as usize {
        let b = m.d[from + i];
        m.d[pos as usize + i] = b;
    }
    Ok(end as u32)
}
