//! LArc's `-lzs-` and `-lz5-`: LZSS with absolute positions in a ring that starts filled.

use super::*;

/// One of LArc's LZSS variants: its ring, where writing starts, its shortest match.
pub(super) struct Lzss {
    ring: usize,
    start: usize,
    shortest: usize,
    /// `-lz5-`: a flag byte before each 8 items, matches in two bytes; else (`-lzs-`) a flag
    /// bit before each item, matches in 11 + 4 bits.
    bytewise: bool,
}

impl Lzss {
    pub(super) const LZS: Lzss = Lzss {
        ring: 2048,
        start: 2048 - 17,
        shortest: 2,
        bytewise: false,
    };
    pub(super) const LZ5: Lzss = Lzss {
        ring: 4096,
        start: 4096 - 18,
        shortest: 3,
        bytewise: true,
    };

    /// The ring as LArc fills it before the first byte: spaces for `-lzs-`; for `-lz5-`
    /// runs of 13 of each byte value, all values up and down, zeros, spaces, zeros.
    pub(super) fn initial(&self) -> Vec<u8> {
        if !self.bytewise {
            return vec![b' '; self.ring];
        }
        let mut ring: Vec<u8> = (0..=255u8)
            .flat_map(|b| std::iter::repeat_n(b, 13))
            .collect();
        ring.extend(0..=255u8);
        ring.extend((0..=255u8).rev());
        ring.extend(std::iter::repeat_n(0, 128));
        ring.extend(std::iter::repeat_n(b' ', 110));
        ring.resize(self.ring, 0);
        ring
    }
}

/// Decodes an `-lzs-` or `-lz5-` stream.
pub(super) fn lzss(data: &[u8], size: usize, kind: &Lzss, out: &Unpacked) -> Result<Vec<u8>, Stop> {
    let mut ring = kind.initial();
    let mut at = kind.start;
    let mut file = Vec::with_capacity(size.min(1 << 20));
    let mut bits = Bits::new(data);
    let mut flags = 0u32;
    let mut check = CHECK_EVERY;
    while file.len() < size {
        let (literal, item) = if kind.bytewise {
            if flags <= 1 {
                flags = bits.read(8) | 0x100;
            }
            let literal = flags & 1 == 1;
            flags >>= 1;
            (literal, if literal { bits.read(8) } else { bits.read(16) })
        } else if bits.read(1) == 1 {
            (true, bits.read(8))
        } else {
            (false, bits.read(15))
        };
        let (from, len) = match (literal, kind.bytewise) {
            (true, _) => (None, 1),
            // Bytes: the position's low 8 bits, then its high 4 and the length's 4.
            (false, true) => (Some((item >> 8 | (item & 0xF0) << 4) as usize), item & 0x0F),
            (false, false) => (Some((item >> 4) as usize), item & 0x0F),
        };
        let len = if from.is_some() {
            len as usize + kind.shortest
        } else {
            1
        };
        for i in 0..len.min(size - file.len()) {
            let byte = match from {
                Some(from) => ring.get((from + i) % kind.ring).copied().unwrap_or(0),
                None => item as u8,
            };
            file.push(byte);
            if let Some(slot) = ring.get_mut(at) {
                *slot = byte;
            }
            at = (at + 1) % kind.ring;
        }
        step(&bits, file.len(), &mut check, out)?;
    }
    Ok(file)
}
