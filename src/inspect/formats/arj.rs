//! ARJ archives: walks the main header and every local header after it, and decodes the
//! members stored (method 0), packed with ARJ's LZ77 + Huffman coder (methods 1-3, a 26 KiB
//! window with LHA `-lh7-`-style block tables) or with its "fastest" coder (method 4: LZ77
//! with unary-prefixed lengths and distances). Garbled (password) members and members split
//! across volumes are reported as unsupported. Facts about the format come from ClamAV's
//! `libclamav/unarj.c` (header layout, table and bit-stream rules) and from archives made
//! with ARJ32 3.10; the code is our own.

use super::Measure;
use super::unpacked::Unpacked;

/// Every ARJ header (main and local) starts with this id.
pub const MAGIC: &[u8] = &[0x60, 0xEA];
/// The main header is at the archive's first byte.
pub const MAGIC_AT: usize = 0;

/// ARJ refuses basic headers larger than this (30 fixed bytes, 10 spare, name, comment).
const MAX_BASIC: usize = 2600;
/// The fixed fields every basic header has, before any extra data and the name.
const FIRST_MIN: usize = 30;
const FLAG_GARBLED: u8 = 0x01;
/// The member goes on in the next volume.
const FLAG_VOLUME: u8 = 0x04;
/// The member began in the previous volume.
const FLAG_EXTFILE: u8 = 0x08;

/// One header, main or local, read and checked.
struct Header {
    flags: u8,
    method: u8,
    file_type: u8,
    comp_size: u32,
    orig_size: u32,
    crc: u32,
    name: String,
    crc_ok: bool,
    /// Where the member's data starts: after the basic header, its CRC and the extended
    /// headers.
    data_at: usize,
}

/// The file type of the main header (ARJ calls it the comment header); local headers, which
/// share the id and CRC, have other types.
const MAIN_TYPE: u8 = 2;

/// True when an ARJ archive starts at `bytes[0]`: the id, a main header of a sane size and
/// a matching header CRC (ARJ itself finds archives in SFX stubs by the id and CRC).
pub(super) fn starts(bytes: &[u8]) -> bool {
    matches!(read_header(bytes, 0), Ok(Some(header)) if header.crc_ok && header.file_type == MAIN_TYPE)
}

/// Reads every member of the archive in `bytes` within `measure`.
pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    let mut at = match read_header(bytes, 0) {
        Ok(Some(main)) => {
            if !main.crc_ok {
                out.broken(None, "main header CRC mismatch");
            }
            main.data_at
        }
        Ok(None) | Err(_) => {
            out.broken(None, "no ARJ main header");
            return out;
        }
    };
    // Each round moves `at` forward by at least one header, so the walk ends.
    for index in 1usize.. {
        if !out.in_time() {
            out.late(None);
            break;
        }
        let header = match read_header(bytes, at) {
            Ok(Some(header)) => header,
            Ok(None) => break,
            Err(why) => {
                out.broken(None, why);
                break;
            }
        };
        let name = member_name(&header.name, index);
        if !header.crc_ok {
            out.broken(Some(name.clone()), "local header CRC mismatch");
        }
        let next = header.data_at.checked_add(header.comp_size as usize);
        if !member(&mut out, bytes, &header, name) {
            break;
        }
        match next {
            Some(next) if next <= bytes.len() => at = next,
            _ => break,
        }
    }
    out
}

/// Reads the header at `at`: `Ok(None)` for the end-of-archive header (size 0).
fn read_header(bytes: &[u8], at: usize) -> Result<Option<Header>, &'static str> {
    const TRUNCATED: &str = "archive truncated in a header";
    if bytes.get(at..at.saturating_add(2)).ok_or(TRUNCATED)? != MAGIC {
        return Err("no ARJ header id where a header should be");
    }
    let size = usize::from(le16(bytes, at + 2).ok_or(TRUNCATED)?);
    if size == 0 {
        return Ok(None);
    }
    if size > MAX_BASIC {
        return Err("header larger than ARJ allows");
    }
    let basic_at = at + 4;
    let basic = bytes.get(basic_at..basic_at + size).ok_or(TRUNCATED)?;
    let stored_crc = le32(bytes, basic_at + size).ok_or(TRUNCATED)?;
    let fixed: &[u8; FIRST_MIN] = basic
        .get(..FIRST_MIN)
        .and_then(|part| part.try_into().ok())
        .ok_or("header shorter than its fixed fields")?;
    let first = usize::from(fixed[0]);
    if first < FIRST_MIN || first > size {
        return Err("header's fixed part has an impossible size");
    }
    let name = basic.get(first..).unwrap_or_default();
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    let data_at = skip_extended(bytes, basic_at + size + 4).ok_or(TRUNCATED)?;
    Ok(Some(Header {
        flags: fixed[4],
        method: fixed[5],
        file_type: fixed[6],
        comp_size: le32(fixed, 12).unwrap_or(0),
        orig_size: le32(fixed, 16).unwrap_or(0),
        crc: le32(fixed, 20).unwrap_or(0),
        name: String::from_utf8_lossy(name).replace('\\', "/"),
        crc_ok: crc32(basic) == stored_crc,
        data_at,
    }))
}

/// Skips the extended headers (size, bytes, CRC; a zero size ends them) that follow a basic
/// header; each one advances, so the loop ends.
fn skip_extended(bytes: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let size = usize::from(le16(bytes, at)?);
        at += 2;
        if size == 0 {
            return Some(at);
        }
        at = at.checked_add(size + 4)?;
    }
}

/// A member's name as the scanner shows it: its path with `/`, or a made-up one.
fn member_name(name: &str, index: usize) -> String {
    let trimmed = name.trim_start_matches('/');
    if trimmed.is_empty() {
        format!("member{index}")
    } else {
        trimmed.to_string()
    }
}

/// Reads one member into `out`; false when the walk must stop (cap, deadline, truncation).
fn member(out: &mut Unpacked, bytes: &[u8], header: &Header, name: String) -> bool {
    // Binary and text files hold data; comments, directories, labels and chapters do not.
    if header.file_type > 1 {
        return true;
    }
    if header.flags & FLAG_GARBLED != 0 {
        out.encrypted(name);
        return true;
    }
    if header.flags & (FLAG_VOLUME | FLAG_EXTFILE) != 0 {
        out.unsupported(name, "member split across volumes (multi-volume archive)");
        return true;
    }
    let end = header.data_at.saturating_add(header.comp_size as usize);
    let data = bytes
        .get(header.data_at..end.min(bytes.len()))
        .unwrap_or_default();
    let truncated = end > bytes.len();
    if header.orig_size as usize > out.room() {
        let why = format!("claims {} bytes, past the cap", header.orig_size);
        out.broken(Some(name), why);
        return false;
    }
    let want = header.orig_size as usize;
    let (decoded, fault) = match header.method {
        0 => (data.get(..want).unwrap_or(data).to_vec(), None),
        1..=3 => Lzh::new(data).decode(want, out),
        4 => decode_fastest(data, want, out),
        method => {
            out.unsupported(name, format!("method {method}"));
            return !truncated;
        }
    };
    if truncated {
        out.broken(
            Some(name.clone()),
            "member data cut short by the archive's end",
        );
    }
    keep(out, name, decoded, header.crc, fault) && !truncated
}

/// Keeps a decoded member and notes what went wrong with it; false when the walk must stop.
fn keep(out: &mut Unpacked, name: String, bytes: Vec<u8>, crc: u32, fault: Option<Fault>) -> bool {
    match fault {
        Some(Fault::Late) => {
            out.late(Some(name));
            return false;
        }
        Some(Fault::Bad(why)) => out.broken(Some(name.clone()), why),
        None if crc32(&bytes) != crc => out.broken(Some(name.clone()), "CRC-32 mismatch"),
        None => {}
    }
    out.file(name, bytes)
}

/// Why a decoder stopped before the member's end.
#[derive(Debug)]
enum Fault {
    Late,
    Bad(&'static str),
}

type Decoded = (Vec<u8>, Option<Fault>);

/// Output a decoder produces between deadline checks.
const CHECK_EVERY: usize = 1 << 16;

/// The "fastest" coder (method 4): a 0 bit then 8 bits is a literal; otherwise a length
/// and a distance, each a unary prefix choosing a power-of-two range plus that many bits.
fn decode_fastest(data: &[u8], want: usize, out: &Unpacked) -> Decoded {
    let mut bits = Bits::new(data);
    let mut text = Vec::with_capacity(want.min(CHECK_EVERY * 16));
    let mut check_at = CHECK_EVERY;
    while text.len() < want {
        if text.len() >= check_at {
            if !out.in_time() {
                return (text, Some(Fault::Late));
            }
            check_at = text.len() + CHECK_EVERY;
        }
        let len = bits.unary_range(0, 7);
        if len == 0 {
            text.push(bits.take(8) as u8);
        } else {
            let distance = bits.unary_range(9, 13) as usize + 1;
            if let Err(why) = copy_match(&mut text, distance, len as usize + 2, want) {
                return (text, Some(Fault::Bad(why)));
            }
        }
        if bits.overrun() {
            return (text, Some(Fault::Bad(ENDS_EARLY)));
        }
    }
    (text, None)
}

const ENDS_EARLY: &str = "compressed data ends early";

/// Copies a match of `len` bytes from `distance` back, stopping at `want` bytes in all.
fn copy_match(
    text: &mut Vec<u8>,
    distance: usize,
    len: usize,
    want: usize,
) -> Result<(), &'static str> {
    let from = text
        .len()
        .checked_sub(distance)
        .ok_or("match reaches before the start of the file")?;
    let len = len.min(want.saturating_sub(text.len()));
    // Byte by byte: a match may overlap the bytes it produces.
    for i in from..from + len {
        let byte = text.get(i).copied().unwrap_or(0);
        text.push(byte);
    }
    Ok(())
}

/// ARJ's bit stream: most significant bit first; past the data, zeros (as ARJ reads it).
struct Bits<'a> {
    data: &'a [u8],
    /// Next byte of `data` to load.
    pos: usize,
    /// Loaded bits, the next one at bit 63.
    buf: u64,
    /// How many bits `buf` holds.
    count: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Bits<'a> {
        Bits {
            data,
            pos: 0,
            buf: 0,
            count: 0,
        }
    }

    fn refill(&mut self) {
        while self.count <= 56 {
            let byte = self.data.get(self.pos).copied().unwrap_or(0);
            self.buf |= u64::from(byte) << (56 - self.count);
            self.pos = self.pos.saturating_add(1);
            self.count += 8;
        }
    }

    /// The next `n` (at most 16) bits, not consumed.
    fn peek(&mut self, n: u32) -> u32 {
        if self.count < n {
            self.refill();
        }
        if n == 0 {
            0
        } else {
            (self.buf >> (64 - n)) as u32
        }
    }

    fn skip(&mut self, n: u32) {
        if self.count < n {
            self.refill();
        }
        self.buf = self.buf.checked_shl(n).unwrap_or(0);
        self.count = self.count.saturating_sub(n);
    }

    /// Takes the next `n` (at most 16) bits.
    fn take(&mut self, n: u32) -> u32 {
        let value = self.peek(n);
        self.skip(n);
        value
    }

    /// Method 4's numbers: up to `stop - start` one bits, each doubling the range, then
    /// `width` bits (the count of ones plus `start`) of offset into the range.
    fn unary_range(&mut self, start: u32, stop: u32) -> u32 {
        let (mut width, mut base) = (start, 0u32);
        while width < stop && self.take(1) == 1 {
            base += 1 << width;
            width += 1;
        }
        base + self.take(width)
    }

    /// True once more bits were consumed than the data holds.
    fn overrun(&self) -> bool {
        let consumed = (self.pos as u64 * 8).saturating_sub(u64::from(self.count));
        consumed > self.data.len() as u64 * 8
    }
}

/// A canonical Huffman code (codes given in order of length, then symbol), as ARJ's
/// `make_table` builds it; a code of one symbol takes no bits.
struct Huffman {
    /// How many codes each length 0-16 has.
    count: [u16; 17],
    /// Symbols in code order.
    symbols: Vec<u16>,
    /// The only symbol, for a table sent as a single value.
    single: Option<u16>,
    /// Direct look-up of codes of up to `FAST` bits: (symbol, length), length 0 = not here.
    fast: Vec<(u16, u8)>,
}

const FAST: u32 = 10;

impl Huffman {
    fn single(symbol: u16) -> Huffman {
        Huffman {
            count: [0; 17],
            symbols: Vec::new(),
            single: Some(symbol),
            fast: Vec::new(),
        }
    }

    /// Builds the code from its lengths; ARJ accepts only complete codes of up to 16 bits.
    fn new(lengths: &[u8]) -> Result<Huffman, &'static str> {
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
    fn fill_fast(&mut self) {
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

    fn decode(&self, bits: &mut Bits) -> u16 {
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
    fn decode_long(&self, bits: &mut Bits, peeked: u32) -> u16 {
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
const NC: usize = 510;
/// Position codes: 0 and 1-16 bits of distance.
const NP: usize = 17;
/// Codes of the code lengths.
const NT: usize = 19;

/// Methods 1-3: blocks, each a symbol count and three Huffman tables (lengths of the
/// literal/length code's lengths, those lengths, the position code), then its symbols.
struct Lzh<'a> {
    bits: Bits<'a>,
    left_in_block: u32,
    literal: Huffman,
    position: Huffman,
}

impl<'a> Lzh<'a> {
    fn new(data: &'a [u8]) -> Lzh<'a> {
        Lzh {
            bits: Bits::new(data),
            left_in_block: 0,
            literal: Huffman::single(0),
            position: Huffman::single(0),
        }
    }

    fn decode(mut self, want: usize, out: &Unpacked) -> Decoded {
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
    fn step(&mut self, text: &mut Vec<u8>, want: usize) -> Result<(), &'static str> {
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

    fn read_block_head(&mut self) -> Result<(), &'static str> {
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
    fn read_small_code(
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
    fn read_literal_code(&mut self, lengths_code: &Huffman) -> Result<Huffman, &'static str> {
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

/// A table sent as its one symbol.
fn only(symbol: u32, most: usize) -> Result<Huffman, &'static str> {
    match u16::try_from(symbol) {
        Ok(symbol) if usize::from(symbol) < most => Ok(Huffman::single(symbol)),
        _ => Err("single-symbol table out of range"),
    }
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

#[cfg(test)]
#[path = "arj_tests.rs"]
mod tests;
