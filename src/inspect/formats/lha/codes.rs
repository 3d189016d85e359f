//! LHA's bit input, its canonical Huffman codes, and the static-Huffman LZ77 of `-lh4-` to
//! `-lh7-` (also ARJ's methods 1 to 3).

use super::*;

/// The packed data as bits, most significant first; past its end it reads zeros and says so.
pub(super) struct Bits<'a> {
    data: &'a [u8],
    next: usize,
    buf: u64,
    count: u32,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8]) -> Bits<'a> {
        Bits {
            data,
            next: 0,
            buf: 0,
            count: 0,
        }
    }

    /// The next `n` bits (at most 32) without taking them.
    pub(super) fn peek(&mut self, n: u32) -> u32 {
        while self.count <= 56 {
            let byte = self.data.get(self.next).copied().unwrap_or(0);
            self.next = self.next.saturating_add(1);
            self.buf |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
        if n == 0 {
            0
        } else {
            (self.buf >> (64 - n)) as u32
        }
    }

    pub(super) fn skip(&mut self, n: u32) {
        self.peek(n);
        self.buf = self.buf.checked_shl(n).unwrap_or(0);
        self.count -= n;
    }

    pub(super) fn read(&mut self, n: u32) -> u32 {
        let value = self.peek(n);
        self.skip(n);
        value
    }

    /// True once more bits were taken than the data holds.
    pub(super) fn overrun(&self) -> bool {
        let taken = (self.next as u64 * 8).saturating_sub(u64::from(self.count));
        taken > self.data.len() as u64 * 8
    }
}

/// A canonical Huffman code (shorter codes first, then by symbol), as LHA builds its tables;
/// or a single symbol sent in no bits.
pub(super) struct Huffman {
    counts: [u16; 17],
    symbols: Vec<u16>,
    single: Option<u16>,
}

impl Huffman {
    /// The code of these lengths (0: unused). An over-full code is damage; an incomplete one
    /// is taken, its unused codes fail when read.
    pub(super) fn new(lengths: &[u8]) -> Result<Huffman, Stop> {
        let mut counts = [0u16; 17];
        for len in lengths {
            let slot = counts
                .get_mut(usize::from(*len))
                .ok_or(Stop::Damaged("code too long"))?;
            *slot += 1;
        }
        let mut left = 1i32;
        for count in &counts[1..] {
            left = left * 2 - i32::from(*count);
            if left < 0 {
                return Err(Stop::Damaged("over-full Huffman code"));
            }
        }
        // Symbols by length, then by value: each length's run starts after the shorter ones.
        let mut next = [0usize; 17];
        for len in 1..16 {
            next[len + 1] = next[len] + usize::from(counts[len]);
        }
        let mut symbols = vec![0u16; next[16] + usize::from(counts[16])];
        for (symbol, len) in lengths.iter().enumerate().filter(|(_, len)| **len > 0) {
            let at = &mut next[usize::from(*len)];
            if let Some(slot) = symbols.get_mut(*at) {
                *slot = symbol as u16;
            }
            *at += 1;
        }
        Ok(Huffman {
            counts,
            symbols,
            single: None,
        })
    }

    pub(super) fn single(symbol: u16) -> Huffman {
        Huffman {
            counts: [0; 17],
            symbols: Vec::new(),
            single: Some(symbol),
        }
    }

    pub(super) fn decode(&self, bits: &mut Bits) -> Result<u16, Stop> {
        if let Some(symbol) = self.single {
            return Ok(symbol);
        }
        let window = bits.peek(16);
        let (mut code, mut first, mut index) = (0u32, 0u32, 0usize);
        for len in 1..=16u32 {
            code |= (window >> (16 - len)) & 1;
            let count = u32::from(self.counts[len as usize]);
            if code < first + count {
                bits.skip(len);
                let at = index + (code - first) as usize;
                return self
                    .symbols
                    .get(at)
                    .copied()
                    .ok_or(Stop::Damaged("bad code"));
            }
            index += count as usize;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(Stop::Damaged("unused Huffman code"))
    }
}

// ---- -lh4- to -lh7-: static Huffman LZ77 in blocks ----

/// Literals and lengths: 256 bytes and match lengths 3 to 256.
pub(super) const NC: usize = 510;
/// The code that sends the code lengths: lengths 0 to 16 and three kinds of zero runs.
pub(super) const NT: usize = 19;

/// Decodes a `-lh4-` to `-lh7-` stream: blocks, each with its tables and a count of codes.
pub(super) fn lzh(
    data: &[u8],
    size: usize,
    dict_bits: u32,
    pbit: u32,
    out: &Unpacked,
) -> Result<Vec<u8>, Stop> {
    let mut bits = Bits::new(data);
    let mut file = Vec::with_capacity(size.min(1 << 20));
    let mut check = CHECK_EVERY;
    while file.len() < size {
        if !out.in_time() {
            return Err(Stop::Late);
        }
        let count = bits.read(16);
        if count == 0 {
            return Err(Stop::Damaged("empty block"));
        }
        let temp = lengths_code(&mut bits, NT, 5, Some(3))?;
        let codes = literal_code(&mut bits, &temp)?;
        let offsets = lengths_code(&mut bits, (1 << pbit) - 1, pbit, None)?;
        for _ in 0..count {
            if file.len() >= size {
                break;
            }
            let code = usize::from(codes.decode(&mut bits)?);
            if code < 256 {
                file.push(code as u8);
            } else {
                let distance = offset(&mut bits, &offsets)? + 1;
                if distance > 1 << dict_bits {
                    return Err(Stop::Damaged("match beyond the window"));
                }
                copy_match(&mut file, distance, code - 253, size);
            }
            step(&bits, file.len(), &mut check, out)?;
        }
    }
    Ok(file)
}

/// A distance code: its bit count, then those bits below a leading one.
pub(super) fn offset(bits: &mut Bits, offsets: &Huffman) -> Result<usize, Stop> {
    let n = u32::from(offsets.decode(bits)?);
    Ok(match n {
        0 => 0,
        _ => (1usize << (n - 1)) | bits.read(n - 1) as usize,
    })
}

/// Copies `len` bytes from `distance` back (before the file's start, spaces: LHA's window
/// starts filled with them), stopping at `size`.
pub(super) fn copy_match(file: &mut Vec<u8>, distance: usize, len: usize, size: usize) {
    for _ in 0..len.min(size.saturating_sub(file.len())) {
        let back = file.len().checked_sub(distance).and_then(|at| file.get(at));
        file.push(back.copied().unwrap_or(b' '));
    }
}

/// A code sent as up to `most` lengths in 3 bits (7 and up: more one bits), or as one symbol
/// in `nbits`; after the entry at `zeros_after`, 2 bits of zero lengths.
pub(super) fn lengths_code(
    bits: &mut Bits,
    most: usize,
    nbits: u32,
    zeros_after: Option<usize>,
) -> Result<Huffman, Stop> {
    let n = bits.read(nbits) as usize;
    if n == 0 {
        let symbol = bits.read(nbits);
        return match usize::try_from(symbol) {
            Ok(symbol) if symbol < most => Ok(Huffman::single(symbol as u16)),
            _ => Err(Stop::Damaged("bad single code")),
        };
    }
    if n > most {
        return Err(Stop::Damaged("too many code lengths"));
    }
    let mut lengths = vec![0u8; n];
    let mut i = 0;
    while i < n {
        let mut len = bits.read(3);
        if len == 7 {
            while bits.read(1) == 1 {
                len += 1;
                if len > 16 {
                    return Err(Stop::Damaged("code length too long"));
                }
            }
        }
        lengths[i] = len as u8;
        i += 1;
        if Some(i) == zeros_after {
            i += bits.read(2) as usize;
        }
    }
    lengths.truncate(n);
    Huffman::new(&lengths)
}

/// The literal-and-length code, its lengths sent with the `temp` code: 0 to 2 are runs of
/// zeros (1, 3 to 18, 20 to 531), higher values a length plus 2.
pub(super) fn literal_code(bits: &mut Bits, temp: &Huffman) -> Result<Huffman, Stop> {
    let n = bits.read(9) as usize;
    if n == 0 {
        let symbol = bits.read(9) as usize;
        if symbol >= NC {
            return Err(Stop::Damaged("bad single code"));
        }
        return Ok(Huffman::single(symbol as u16));
    }
    if n > NC {
        return Err(Stop::Damaged("too many code lengths"));
    }
    let mut lengths = vec![0u8; n];
    let mut i = 0;
    while i < n {
        let code = temp.decode(bits)?;
        let zeros = match code {
            0 => 1,
            1 => bits.read(4) as usize + 3,
            2 => bits.read(9) as usize + 20,
            _ => {
                lengths[i] = (code - 2) as u8;
                i += 1;
                continue;
            }
        };
        i = (i + zeros).min(n);
        if bits.overrun() {
            return Err(Stop::Damaged("packed data ends early"));
        }
    }
    Huffman::new(&lengths)
}
