//! Petite's compression (an NRV-like LZ with XORed literals) and its CALL/JMP filter.

use super::*;

/// The stub's bit reader: an 8-bit buffer with a marker bit, refilled from the source when
/// it runs dry, interleaved with the literal bytes.
struct Bits {
    at: usize,
    buf: u8,
}

impl Bits {
    fn byte(&mut self, image: &[u8]) -> Res<u8> {
        let Some(&b) = image.get(self.at) else {
            return damaged("the compressed data runs out of the image");
        };
        self.at += 1;
        Ok(b)
    }

    fn bit(&mut self, image: &[u8]) -> Res<u32> {
        let old = self.buf;
        if old & 0x7f == 0 {
            let b = self.byte(image)?;
            self.buf = b << 1 | 1;
            return Ok(u32::from(b >> 7));
        }
        self.buf = old << 1;
        Ok(u32::from(old >> 7))
    }

    /// An Elias-gamma-like number: bits after a leading 1, each followed by "more".
    fn gamma(&mut self, image: &[u8]) -> Res<u32> {
        let mut v = 1u32;
        loop {
            v = v * 2 + self.bit(image)?;
            if v >= 1 << 30 {
                return damaged("a length or distance in the compressed data is too large");
            }
            if self.bit(image)? == 0 {
                return Ok(v);
            }
        }
    }
}

/// The distance limits past which a match is longer, and the low distance bits sent raw:
/// they grow with the section's size.
pub(super) fn size_class(size: u32) -> (u32, u32, u32) {
    match size {
        0..0x10000 => (0xffff_c060, 0xffff_fc60, 5),
        0x10000..0x40000 => (0xffff_8180, 0xffff_f980, 7),
        _ => (0xffff_8300, 0xffff_fb00, 8),
    }
}

/// Decodes `size` bytes from `src` to `dst` (both in the image): literals are XORed with the
/// count of bytes still to write; matches copy from a negative distance, or the last one.
pub(super) fn inflate(image: &mut [u8], src: u32, dst: u32, size: u32, out: &Unpacked) -> Res<()> {
    let (far, farther, low_bits) = size_class(size);
    let mut bits = Bits {
        at: idx(src),
        buf: 0,
    };
    let mut to = idx(dst);
    let first = bits.byte(image)?;
    *image.get_mut(to).ok_or_else(|| off_image(dst))? = first;
    to += 1;
    let (mut left, mut last, mut check) = (size.saturating_sub(1), 0u32, CHECK_EVERY);
    while left > 0 {
        if bits.bit(image)? == 0 {
            let b = bits.byte(image)? ^ left as u8;
            *image.get_mut(to).ok_or_else(|| off_image(dst))? = b;
            (to, left) = (to + 1, left - 1);
            continue;
        }
        let mut extra = 0;
        let g = bits.gamma(image)?;
        if g > 2 {
            let mut v = g - 3;
            for _ in 0..low_bits {
                v = v.wrapping_mul(2) | bits.bit(image)?;
            }
            last = !v;
            extra = 1 + u32::from(last < farther) + u32::from(last < far);
        }
        let mut len = bits.bit(image)? * 2 + bits.bit(image)?;
        if len == 0 {
            len = bits.gamma(image)? + 2;
        }
        len += extra;
        if len > left {
            return damaged("a match runs past the section's size");
        }
        copy_match(image, to, last, len).ok_or_else(|| off_image(dst))?;
        (to, left) = (to + idx(len), left - len);
        if idx(size - left) >= check {
            check += CHECK_EVERY;
            if !out.in_time() {
                return Err(Fail::Late);
            }
        }
    }
    Ok(())
}

fn off_image(dst: u32) -> Fail {
    Fail::Broken(format!("the section at {dst:#x} goes outside the image"))
}

/// Copies `len` bytes to `to` from `to + distance` (a 32-bit wrap: distances are negative),
/// byte by byte so that an overlapping copy repeats.
fn copy_match(image: &mut [u8], to: usize, distance: u32, len: u32) -> Option<()> {
    let from = idx(u32::try_from(to).ok()?.wrapping_add(distance));
    let len = idx(len);
    if from.checked_add(len)? > image.len() || to.checked_add(len)? > image.len() {
        return None;
    }
    for i in 0..len {
        image[to + i] = image[from + i];
    }
    Some(())
}

/// Undoes the CALL/JMP filter over a section: the dword after E8/E9 and after 0F 80..8F
/// holds the target plus the instruction's offset in the section.
pub(super) fn unfilter(image: &mut [u8], dst: u32, size: u32) {
    let Some(data) = image.get_mut(idx(dst)..idx(dst).saturating_add(idx(size))) else {
        return;
    };
    let mut i = 0usize;
    while i + 6 <= data.len() {
        let at = match (data[i], data[i + 1]) {
            (0xe8 | 0xe9, _) => i + 1,
            (0x0f, 0x80..=0x8f) => i + 2,
            _ => {
                i += 1;
                continue;
            }
        };
        let v = le32(data, at).unwrap_or(0).wrapping_sub(i as u32);
        let _ = put32(data, at, v);
        i = at + 4;
    }
}
