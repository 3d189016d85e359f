//! ARJ's methods 1 to 3: LZ77 over a 26 KiB window with LHA `-lh7-`-style Huffman block\n//! tables, read from a bit stream.

use super::*;

/// ARJ's bit stream: most significant bit first; past the data, zeros (as ARJ reads it).
pub(super) struct Bits<'a> {
    pub(super) data: &'a [u8],
    /// Next byte of `data` to load.
    pub(super) pos: usize,
    /// Loaded bits, the next one at bit 63.
    pub(super) buf: u64,
    /// How many bits `buf` holds.
    pub(super) count: u32,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8]) -> Bits<'a> {
        Bits {
            data,
            pos: 0,
            buf: 0,
            count: 0,
        }
    }

    pub(super) fn refill(&mut self) {
        while self.count <= 56 {
            let byte = self.data.get(self.pos).copied().unwrap_or(0);
            self.buf |= u64::from(byte) << (56 - self.count);
            self.pos = self.pos.saturating_add(1);
            self.count += 8;
        }
    }

    /// The next `n` (at most 16) bits, not consumed.
    pub(super) fn peek(&mut self, n: u32) -> u32 {
        if self.count < n {
            self.refill();
        }
        if n == 0 {
            0
        } else {
            (self.buf >> (64 - n)) as u32
        }
    }

    pub(super) fn skip(&mut self, n: u32) {
        if self.count < n {
            self.refill();
        }
        self.buf = self.buf.checked_shl(n).unwrap_or(0);
        self.count = self.count.saturating_sub(n);
    }

    /// Takes the next `n` (at most 16) bits.
    pub(super) fn take(&mut self, n: u32) -> u32 {
        let value = self.peek(n);
        self.skip(n);
        value
    }

    /// Method 4's numbers: up to `stop - start` one bits, each doubling the range, then
    /// `width` bits (the count of ones plus `start`) of offset into the range.
    pub(super) fn unary_range(&mut self, start: u32, stop: u32) -> u32 {
        let (mut width, mut base) = (start, 0u32);
        while width < stop && self.take(1) == 1 {
            base += 1 << width;
            width += 1;
        }
        base + self.take(width)
    }

    /// True once more bits were consumed than the data holds.
    pub(super) fn overrun(&self) -> bool {
        let consumed = (self.pos as u64 * 8).saturating_sub(u64::from(self.count));
        consumed > self.data.len() as u64 * 8
    }
}

/// A canonical Huffman code (codes given in order of length, then symbol), as ARJ's
/// `make_table` builds it; a code of one symbol takes no bits.
pub(super) struct Huffman {
    /// How many codes each length 0-16 has.
    pub(super) count: [u16; 17],
    /// Symbols in code order.
    pub(super) symbols: Vec<u16>,
    /// The only symbol, for a table sent as a single value.
    pub(super) single: Option<u16>,
    /// Direct look-up of codes of up to `FAST` bits: (symbol, length), length 0 = not here.
    pub(super) fast: Vec<(u16, u8)>,
}

pub(super) const FAST: u32 = 10;

impl Huffman {
    pub(super) fn single(symbol: u16) -> Huffman {
        Huffman {
            count: [0; 17],
            symbols: Vec::new(),
            single: Some(symbol),
            fast: Vec::new(),
        }
    }

    /// Builds the code from its lengths; ARJ accepts only complete codes of up to 16 bits.
    pub(super) fn new(lengths: &[u8]) -> Result<Huffman, &'static str> {
        let mut count = [0u16; 17];
        for &len in lengths {
            *count
                .get_mut(usize::from(len))
                .ok_or("code length over 16 bits")? += 1;
        }
        let mut left: i64 = 1;
        for &n in &count[1..] {
            left = left * 2 - i64::from(n);
            if left < 0 {
                return Err("Huffman table oversubscribed");
            }
        }
        if left != 0 {
            return Err("Huffman table incomplete");
        }
        let mut symbols = Vec::with_capacity(lengths.len());
        for len in 1..=16u8 {
            let of_len = lengths.iter().enumerate().filter(|&(_, &l)| l == len);
            symbols.extend(of_len.map(|(symbol, _)| symbol as u16));
        }
        let mut code = Huffman {
            count,
            symbols,
            single: None,
            fast: Vec::new(),
        };
        code.fill_fast();
        Ok(code)
    }

    /// Fills the look-up of short codes, walking the codes in canonical order.
    pub(super) fn fill_fast(&mut self) {
        let mut fast = vec![(0u16, 0u8); 1 << FAST];
        let mut next = 0u32;
        let mut index = 0usize;
        for len in 1..=FAST {
            for _ in 0..self.count[len as usize] {
                let symbol = self.symbols.get(index).copied().unwrap_or(0);
                let span = 1u32 << (FAST - len);
                let first = (next << (FAST - len)) as usize;
                if let Some(slots) = fast.get_mut(first..first + span as usize) {
                    slots.fill((symbol, len as u8));
                }
                next += 1;
                index += 1;
            }
            next <<= 1;
        }
        self.fast = fast;
    }

    pub(super) fn decode(&self, bits: &mut Bits) -> u16 {
        if let Some(symbol) = self.single {
            return symbol;
        }
        let peeked = bits.peek(16);
        if let Some(&(symbol, len)) = self.fast.get((peeked >> (16 - FAST)) as usize)
            && len != 0
        {
            bits.skip(u32::from(len));
            return symbol;
        }
        self.decode_long(bits, peeked)
    }

    /// The canonical walk for codes longer than the look-up holds.
    pub(super) fn decode_long(&self, bits: &mut Bits, peeked: u32) -> u16 {
        let (mut first, mut index) = (0u32, 0usize);
        for len in 1..=16u32 {
            let code = peeked >> (16 - len);
            let n = u32::from(self.count[len as usize]);
            if code.wrapping_sub(first) < n {
                bits.skip(len);
                let at = index + (code - first) as usize;
                return self.symbols.get(at).copied().unwrap_or(0);
            }
            index += n as usize;
            first = (first + n) << 1;
        }
        0 // a complete code always matches above
    }
}

/// Literal/length codes: 256 bytes and match lengths 3-256.
pub(super) const NC: usize = 510;
/// Position codes: 0 and 1-16 bits of distance.
pub(super) const NP: usize = 17;
/// Codes of the code lengths.
pub(super) const NT: usize = 19;

/// Methods 1-3: blocks, each a symbol count and three Huffman tables (lengths of the
/// literal/length code's lengths, those lengths, the position code), then its symbols.
pub(super) struct Lzh<'a> {
    pub(super) bits: Bits<'a>,
    pub(super) left_in_block: u32,
    pub(super) literal: Huffman,
    pub(super) position: Huffman,
}

impl<'a> Lzh<'a> {
    pub(super) fn new(data: &'a [u8]) -> Lzh<'a> {
        Lzh {
            bits: Bits::new(data),
            left_in_block: 0,
            literal: Huffman::single(0),
            position: Huffman::single(0),
        }
    }

    pub(super) fn decode(mut self, want: usize, out: &Unpacked) -> Decoded {
        let mut text = Vec::with_capacity(want.min(CHECK_EVERY * 16));
        let mut check_at = CHECK_EVERY;
        while text.len() < want {
            if text.len() >= check_at {
                if !out.in_time() {
                    return (text, Some(Fault::Late));
                }
                check_at = text.len() + CHECK_EVERY;
            }
            if let Err(why) = self.step(&mut text, want) {
                return (text, Some(Fault::Bad(why)));
            }
        }
        (text, None)
    }

    /// Decodes one literal or match.
    pub(super) fn step(&mut self, text: &mut Vec<u8>, want: usize) -> Result<(), &'static str> {
        if self.left_in_block == 0 {
            self.read_block_head()?;
        }
        self.left_in_block -= 1;
        let symbol = self.literal.decode(&mut self.bits);
        if let Ok(byte) = u8::try_from(symbol) {
            text.push(byte);
        } else {
            let len = usize::from(symbol) - 253;
            let slot = u32::from(self.position.decode(&mut self.bits));
            let distance = match slot {
                0 => 0,
                _ => (1 << (slot - 1)) + self.bits.take(slot - 1),
            };
            copy_match(text, distance as usize + 1, len, want)?;
        }
        if self.bits.overrun() {
            return Err(ENDS_EARLY);
        }
        Ok(())
    }

    pub(super) fn read_block_head(&mut self) -> Result<(), &'static str> {
        // ARJ counts a size of 0 down from 65536.
        self.left_in_block = match self.bits.take(16) {
            0 => 1 << 16,
            n => n,
        };
        let lengths_code = self.read_small_code(NT, 5, Some(3))?;
        self.literal = self.read_literal_code(&lengths_code)?;
        self.position = self.read_small_code(NP, 5, None)?;
        Ok(())
    }

    /// The code-length code and the position code: a count, then each length as 3 bits or,
    /// from 7, a run of ones; after the third length of the first, 2 bits of zero lengths.
    pub(super) fn read_small_code(
        &mut self,
        most: usize,
        count_bits: u32,
        zeros_after: Option<usize>,
    ) -> Result<Huffman, &'static str> {
        let n = self.bits.take(count_bits) as usize;
        if n == 0 {
            return only(self.bits.take(count_bits), most);
        }
        if n > most {
            return Err("table longer than its alphabet");
        }
        let mut lengths = vec![0u8; most];
        let mut i = 0;
        while i < n {
            let mut len = self.bits.take(3);
            // 7 goes on in unary: each further one bit adds 1, a zero bit ends it.
            if len == 7 {
                while len <= 16 && self.bits.take(1) == 1 {
                    len += 1;
                }
            }
            *lengths.get_mut(i).ok_or("table too long")? = len as u8;
            i += 1;
            if Some(i) == zeros_after {
                i += self.bits.take(2) as usize;
            }
        }
        if i > most {
            return Err("table longer than its alphabet");
        }
        Huffman::new(&lengths)
    }

    /// The literal/length code: a count, then lengths coded with `lengths_code`, where
    /// symbols 0-2 are runs of zero lengths (1, 3-18, 20-531) and others are length + 2.
    pub(super) fn read_literal_code(
        &mut self,
        lengths_code: &Huffman,
    ) -> Result<Huffman, &'static str> {
        let n = self.bits.take(9) as usize;
        if n == 0 {
            return only(self.bits.take(9), NC);
        }
        if n > NC {
            return Err("table longer than its alphabet");
        }
        let mut lengths = vec![0u8; NC];
        let mut i = 0;
        while i < n {
            match lengths_code.decode(&mut self.bits) {
                0 => i += 1,
                1 => i += self.bits.take(4) as usize + 3,
                2 => i += self.bits.take(9) as usize + 20,
                c => {
                    *lengths.get_mut(i).ok_or("table too long")? = (c - 2).min(17) as u8;
                    i += 1;
                }
            }
            if i > NC || self.bits.overrun() {
                return Err("bad literal table");
            }
        }
        Huffman::new(&lengths)
    }
}
