//! ASPack 2.x's compression: an LZ77 with canonical Huffman codes read MSB first. A block
//! starts with its code tables; a main code of 721 symbols gives literals (0..256), matches
//! (256..720: 58 offset slots of 8 length codes) and 720, "new tables". Tables are sent as
//! code lengths, each a delta (mod 16) on the previous tables' length through a 19-symbol
//! pre-code that also has runs (16: repeat the last length, 17 and 18: zeros). Long lengths
//! take a second code of 28 symbols, and when the third code (8 symbols) is not all length 3,
//! an offset's low 3 bits come from it. Offsets below 3 pick one of the last three offsets.

use super::{Fail, Res, broken, idx};

/// Symbols of the main code (literals, matches, and "new tables").
const MAIN: usize = 721;
/// Symbols of the long-length code.
const LENGTHS: usize = 28;
/// Symbols of the code for an offset's low 3 bits.
const ALIGNED: usize = 8;
/// All code lengths sent for the three codes together.
const ALL: usize = MAIN + LENGTHS + ALIGNED;
/// Symbols of the pre-code the lengths are sent with.
const PRE: usize = 19;
/// The main code's symbol for "new tables follow".
const NEW_TABLES: u16 = 720;
/// Offset slots (each with its base and extra bits in the stub's table).
pub(super) const SLOTS: usize = 58;
/// The widest read the bit reader does (ASPack's 24-bit window).
const WINDOW: u32 = 24;
/// How many symbols are decoded between two looks at the clock.
const CHECK_EVERY: usize = 64 * 1024;

/// The constant tables ASPack's stub carries (found at a version's fixed offset): the base and
/// extra bits of the 28 long lengths, then the extra bits of the 58 offset slots.
pub(super) struct Stub {
    len_base: [u8; LENGTHS],
    len_bits: [u8; LENGTHS],
    off_bits: [u8; SLOTS],
    off_base: [u32; SLOTS],
}

/// The size of the stub's table in bytes.
pub(super) const STUB_TABLE: usize = 2 * LENGTHS + SLOTS;

impl Stub {
    /// The tables from their bytes; None when a count of extra bits is wider than the window.
    pub(super) fn new(table: &[u8]) -> Option<Stub> {
        let len_base: [u8; LENGTHS] = table.get(..LENGTHS)?.try_into().ok()?;
        let len_bits: [u8; LENGTHS] = table.get(LENGTHS..2 * LENGTHS)?.try_into().ok()?;
        let off_bits: [u8; SLOTS] = table.get(2 * LENGTHS..STUB_TABLE)?.try_into().ok()?;
        let too_wide = |b: &u8| u32::from(*b) > WINDOW;
        if len_bits.iter().chain(&off_bits).any(too_wide) {
            return None;
        }
        // Each slot starts where the one before ends.
        let mut off_base = [0u32; SLOTS];
        let mut next = 0u32;
        for (base, bits) in off_base.iter_mut().zip(off_bits) {
            *base = next;
            next += 1 << bits;
        }
        Some(Stub {
            len_base,
            len_bits,
            off_bits,
            off_base,
        })
    }
}

/// An MSB-first bit reader; reads past the end see zeros, but consuming them is damage.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    /// The next 24 bits, the first in the top bit.
    fn window(&self) -> u32 {
        let at = self.pos / 8;
        let word = (0..4).fold(0u32, |w, k| {
            w << 8 | u32::from(self.data.get(at + k).copied().unwrap_or(0))
        });
        (word << (self.pos % 8)) >> 8
    }

    fn skip(&mut self, n: u32) -> Res<()> {
        self.pos = self.pos.saturating_add(n as usize);
        if self.pos > self.data.len().saturating_mul(8) {
            return broken("the compressed data ends early");
        }
        Ok(())
    }

    /// The next `n` (at most 24) bits as a number.
    fn take(&mut self, n: u32) -> Res<u32> {
        let n = n.min(WINDOW);
        let v = if n == 0 {
            0
        } else {
            self.window() >> (WINDOW - n)
        };
        self.skip(n)?;
        Ok(v)
    }
}

/// A canonical Huffman code: codes of one length are consecutive, shorter ones first, and
/// within a length in symbol order. It must be complete, as ASPack's unpacker demands.
struct Huff {
    /// Per length, the first 24-bit left-aligned code that is longer.
    limit: [u32; 16],
    /// Per length, the index in `symbols` of its first code.
    first: [u32; 16],
    symbols: Vec<u16>,
}

impl Huff {
    fn new(lengths: &[u8]) -> Res<Huff> {
        let mut count = [0u64; 16];
        for &l in lengths {
            count[usize::from(l & 15)] += 1;
        }
        let (mut limit, mut first) = ([0u32; 16], [0u32; 16]);
        let (mut sum, mut index) = (0u64, 0u32);
        for len in 1..16 {
            first[len] = index;
            index += count[len] as u32;
            sum += count[len] << (24 - len);
            if sum > 1 << 24 {
                return broken("a Huffman code is oversubscribed");
            }
            limit[len] = sum as u32;
        }
        if sum != 1 << 24 {
            return broken("a Huffman code is incomplete");
        }
        let mut symbols = Vec::with_capacity(index as usize);
        for len in 1..16u8 {
            let of_len = lengths.iter().enumerate().filter(|(_, l)| **l & 15 == len);
            symbols.extend(of_len.map(|(s, _)| s as u16));
        }
        Ok(Huff {
            limit,
            first,
            symbols,
        })
    }

    fn decode(&self, bits: &mut Bits) -> Res<u16> {
        // 15 bits are enough: no code is longer.
        let v = bits.window() & 0xff_fe00;
        let mut below = 0;
        for len in 1..16u32 {
            let limit = self.limit[len as usize];
            if v < limit {
                let i = self.first[len as usize] + ((v - below) >> (24 - len));
                let symbol = self.symbols.get(i as usize).copied();
                bits.skip(len)?;
                return symbol.ok_or_else(|| Fail::Broken("a Huffman code is damaged".into()));
            }
            below = limit;
        }
        broken("a Huffman code is damaged")
    }
}

/// The state of one block's decoding: its codes, the lengths they came from (the next
/// tables are sent as deltas on them) and the last three offsets.
struct Decoder<'a> {
    bits: Bits<'a>,
    stub: &'a Stub,
    prev: [u8; ALL],
    main: Huff,
    lengths: Huff,
    aligned: Huff,
    aligned_on: bool,
    last: [u32; 3],
}

/// Decodes a block of `size` bytes from `input`: the bytes, and why it stopped early.
pub(super) fn decompress(
    input: &[u8],
    size: usize,
    stub: &Stub,
    in_time: &dyn Fn() -> bool,
) -> (Vec<u8>, Option<Fail>) {
    let mut out = Vec::with_capacity(size);
    let empty = || Huff {
        limit: [0; 16],
        first: [0; 16],
        symbols: Vec::new(),
    };
    let mut decoder = Decoder {
        bits: Bits {
            data: input,
            pos: 0,
        },
        stub,
        prev: [0; ALL],
        main: empty(),
        lengths: empty(),
        aligned: empty(),
        aligned_on: false,
        last: [0; 3],
    };
    let fail = decoder.run(size, &mut out, in_time).err();
    (out, fail)
}

impl Decoder<'_> {
    fn run(&mut self, size: usize, out: &mut Vec<u8>, in_time: &dyn Fn() -> bool) -> Res<()> {
        self.read_tables()?;
        let mut steps = 0usize;
        while out.len() < size {
            steps += 1;
            if steps.is_multiple_of(CHECK_EVERY) && !in_time() {
                return Err(Fail::Late);
            }
            match self.main.decode(&mut self.bits)? {
                literal @ 0..256 => out.push(literal as u8),
                NEW_TABLES.. => self.read_tables()?,
                code => self.copy(code - 256, size, out)?,
            }
        }
        Ok(())
    }

    /// New codes: a bit saying whether the deltas build on the last lengths or on zeros, the
    /// pre-code's 19 lengths of 4 bits, then the 757 lengths through the pre-code.
    fn read_tables(&mut self) -> Res<()> {
        if self.bits.take(1)? == 0 {
            self.prev = [0; ALL];
        }
        let mut pre = [0u8; PRE];
        for l in &mut pre {
            *l = self.bits.take(4)? as u8;
        }
        let pre = Huff::new(&pre)?;
        let mut new = [0u8; ALL];
        let mut i = 0;
        while i < ALL {
            let (run, value) = match pre.decode(&mut self.bits)? {
                delta @ 0..16 => (1, (self.prev[i] + delta as u8) & 15),
                16 => (
                    3 + self.bits.take(2)?,
                    i.checked_sub(1).map_or(0, |p| new[p]),
                ),
                17 => (3 + self.bits.take(3)?, 0),
                _ => (11 + self.bits.take(7)?, 0),
            };
            let end = (i + run as usize).min(ALL);
            new[i..end].fill(value);
            i = end;
        }
        self.main = Huff::new(&new[..MAIN])?;
        self.lengths = Huff::new(&new[MAIN..MAIN + LENGTHS])?;
        let aligned = &new[MAIN + LENGTHS..];
        self.aligned = Huff::new(aligned)?;
        // All of length 3 is the same as 3 plain bits: ASPack reads them plain then.
        self.aligned_on = aligned.iter().any(|&l| l != 3);
        self.prev = new;
        Ok(())
    }

    /// A match: `code` holds the offset slot (high bits) and the length (low 3 bits, 7 for
    /// "a long length follows").
    fn copy(&mut self, code: u16, size: usize, out: &mut Vec<u8>) -> Res<()> {
        let stub = self.stub;
        let slot = usize::from(code >> 3);
        let mut len = u32::from(code & 7) + 2;
        if len == 9 {
            let s = usize::from(self.lengths.decode(&mut self.bits)?);
            let (base, bits) = (stub.len_base.get(s), stub.len_bits.get(s));
            let (base, bits) = base.zip(bits).ok_or_else(bad_code)?;
            len += u32::from(*base) + self.bits.take(u32::from(*bits))?;
        }
        let bits = u32::from(*stub.off_bits.get(slot).ok_or_else(bad_code)?);
        let mut value = *stub.off_base.get(slot).ok_or_else(bad_code)?;
        if self.aligned_on && bits >= 3 {
            value += self.bits.take(bits - 3)? << 3;
            value += u32::from(self.aligned.decode(&mut self.bits)?);
        } else {
            value += self.bits.take(bits)?;
        }
        let offset = match value {
            // One of the last three offsets, swapped to the front.
            0..3 => {
                self.last.swap(0, value as usize);
                self.last[0]
            }
            _ => {
                self.last = [value - 3, self.last[0], self.last[1]];
                value - 3
            }
        };
        let dist = idx(offset).saturating_add(1);
        if dist > out.len() || idx(len) > size.saturating_sub(out.len()) {
            return broken("a match reaches outside the block");
        }
        for _ in 0..len {
            let byte = out.get(out.len() - dist).copied().unwrap_or(0);
            out.push(byte);
        }
        Ok(())
    }
}

fn bad_code() -> Fail {
    Fail::Broken("a match code is damaged".into())
}

/// ASPack's CALL/JMP filter, undone: after an E8 or E9 whose next byte is the stub's marker,
/// the next three bytes hold the absolute target (little-endian); make it relative again.
pub(super) fn unfilter(code: &mut [u8], marker: u8) {
    let mut i = 0;
    while i + 6 < code.len() {
        let op = code
            .get(i..i + 5)
            .and_then(|op| <[u8; 5]>::try_from(op).ok());
        if let Some([0xe8 | 0xe9, m, a, b, c]) = op
            && m == marker
        {
            let target = u32::from_le_bytes([a, b, c, 0]).wrapping_sub(i as u32);
            if let Some(at) = code.get_mut(i + 1..i + 5) {
                at.copy_from_slice(&target.to_le_bytes());
            }
            i += 5;
        } else {
            i += 1;
        }
    }
}
