//! AutoIt v3 compiled scripts (`AU3!EA05`, `AU3!EA06`). An EXE that AutoIt's compiler made
//! carries its script, and the files `FileInstall` embeds, in a resource that starts with a
//! 16-byte GUID and `AU3!EA0` and a version digit. Each entry after it is encrypted (EA05 with
//! a Mersenne Twister key stream, EA06 with a RanRot-like generator) and usually compressed with
//! AutoIt's own LZSS. An EA06 script is a token stream; it is given back as script text.
//! Facts: ClamAV's `libclamav/autoit.c` and its test samples `clam.ea05.exe`, `clam.ea06.exe`.

use super::Measure;
use super::unpacked::Unpacked;

/// The AutoIt resource GUID and `AU3!EA0`; the version digit (`5` or `6`) follows.
pub const MAGIC: &[u8] = b"\xa3\x48\x4b\xbe\x98\x6c\x4a\xa9\x99\x4c\x53\x0a\x86\xd6\x48\x7dAU3!EA0";
pub const MAGIC_AT: usize = 0;

/// After the version digit, 16 bytes: EA05 keys its data with their sum, EA06 ignores them.
const KEY_LEN: usize = 16;
/// The entries end with the version string again.
const END: &[u8] = b"AU3!EA0";
/// After an entry's names: method, sizes, checksum and two file times.
const ENTRY_TAIL: usize = 1 + 4 + 4 + 4 + 16;
/// The most of a name decrypted (it only names a member).
const NAME_MAX: usize = 1024;
/// Bytes of output between deadline checks.
const CHECK_EVERY: usize = 64 * 1024;
const SHORT: &str = "truncated";
/// The entry that holds the script, in EA06 a token stream.
const EA06_SCRIPT: &str = ">>>AUTOIT SCRIPT<<<";

/// True when an AutoIt EA05 or EA06 script resource starts at `bytes[0]`.
pub(super) fn starts(bytes: &[u8]) -> bool {
    scheme(bytes).is_some()
}

/// Reads every entry of the resource at `bytes[0]`: the script and the embedded files.
pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut unpacked = Unpacked::new(measure);
    let Some(scheme) = scheme(bytes) else {
        unpacked.broken(None, "not an AutoIt EA05/EA06 script resource");
        return unpacked;
    };
    let body = MAGIC.len() + 1;
    let Some(key) = bytes.get(body..body + KEY_LEN) else {
        unpacked.broken(None, SHORT);
        return unpacked;
    };
    let seed = match scheme.wide {
        false => key.iter().map(|&b| u32::from(b)).sum::<u32>() + 0x22af,
        true => 0x2477,
    };
    let mut reader = Reader {
        bytes,
        at: body + KEY_LEN,
    };
    let mut index = 0;
    // Each entry takes at least its fixed fields from the input, so this loop ends.
    loop {
        index += 1;
        if !unpacked.in_time() {
            unpacked.late(None);
            break;
        }
        match entry(&mut reader, scheme) {
            Ok(None) => break,
            Ok(Some(entry)) if member(&entry, scheme, seed, index, &mut unpacked) => {}
            Ok(Some(_)) => break,
            Err(why) => {
                unpacked.broken(None, why);
                break;
            }
        }
    }
    unpacked
}

/// The constants that tell the two versions apart.
struct Scheme {
    version: u8,
    /// An entry's first four bytes (`FILE` encrypted).
    entry: u32,
    /// XOR masks of the lengths of the entry's tag and name, and their key seeds' offsets.
    tag: (u32, u32),
    name: (u32, u32),
    /// XOR mask of the data sizes.
    size: u32,
    /// EA06: names are UTF-16 (lengths count characters), the cipher is RanRot.
    wide: bool,
    /// The LZSS flag bit that means a back-reference.
    match_bit: u32,
}

const EA05: Scheme = Scheme {
    version: b'5',
    entry: 0xceb0_6dff,
    tag: (0x29bc, 0xa25e),
    name: (0x29ac, 0xf25e),
    size: 0x45aa,
    wide: false,
    match_bit: 1,
};

const EA06: Scheme = Scheme {
    version: b'6',
    entry: 0x52ca_436b,
    tag: (0xadbc, 0xb33f),
    name: (0xf820, 0xf479),
    size: 0x87bc,
    wide: true,
    match_bit: 0,
};

fn scheme(bytes: &[u8]) -> Option<&'static Scheme> {
    if !bytes.starts_with(MAGIC) {
        return None;
    }
    match bytes.get(MAGIC.len()) {
        Some(b'5') => Some(&EA05),
        Some(b'6') => Some(&EA06),
        _ => None,
    }
}

impl Scheme {
    fn cipher(&self, seed: u32) -> Cipher {
        match self.wide {
            false => Cipher::Mt(Box::new(Mt::new(seed))),
            true => Cipher::RanRot(RanRot::new(seed)),
        }
    }
}

/// A key stream; encryption and decryption are the same XOR.
enum Cipher {
    Mt(Box<Mt>),
    RanRot(RanRot),
}

impl Cipher {
    fn byte(&mut self) -> u8 {
        match self {
            Cipher::Mt(mt) => mt.byte(),
            Cipher::RanRot(r) => r.byte(),
        }
    }

    fn apply(&mut self, data: &[u8]) -> Vec<u8> {
        data.iter().map(|b| b ^ self.byte()).collect()
    }
}

/// MT19937, standard seeding and tempering; each key byte is bits 1..9 of an output.
struct Mt {
    state: [u32; 624],
    next: usize,
}

impl Mt {
    fn new(seed: u32) -> Mt {
        let mut state = [seed; 624];
        for i in 1..624 {
            let p = state[i - 1];
            state[i] = 0x6c07_8965u32
                .wrapping_mul(p ^ (p >> 30))
                .wrapping_add(i as u32);
        }
        Mt { state, next: 624 }
    }

    fn byte(&mut self) -> u8 {
        if self.next >= 624 {
            self.twist();
        }
        let mut y = self.state[self.next % 624];
        self.next += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        (y >> 1) as u8
    }

    fn twist(&mut self) {
        for i in 0..624 {
            let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % 624] & 0x7fff_ffff);
            let odd = if y & 1 == 1 { 0x9908_b0df } else { 0 };
            self.state[i] = self.state[(i + 397) % 624] ^ (y >> 1) ^ odd;
        }
        self.next = 0;
    }
}

/// EA06's generator: 17 words, each new one the sum of two rotated older ones. The original
/// builds the double 1 + r/2^32 and keeps (x - 1) * 256, which is exactly r's top byte.
struct RanRot {
    words: [u32; 17],
    a: usize,
    b: usize,
}

impl RanRot {
    /// The seed is taken as 16 bits, as the original's is.
    fn new(seed: u32) -> RanRot {
        let mut s = seed & 0xffff;
        let mut words = [0; 17];
        for w in &mut words {
            s = 1u32.wrapping_sub(s.wrapping_mul(0x53a9_b4fb));
            *w = s;
        }
        let mut r = RanRot { words, a: 0, b: 10 };
        for _ in 0..9 {
            r.step();
        }
        r
    }

    fn step(&mut self) -> u32 {
        let v = self.words[self.a % 17]
            .rotate_left(9)
            .wrapping_add(self.words[self.b % 17].rotate_left(13));
        self.words[self.a % 17] = v;
        self.a = (self.a + 16) % 17;
        self.b = (self.b + 16) % 17;
        v
    }

    fn byte(&mut self) -> u8 {
        self.step();
        (self.step() >> 24) as u8
    }
}

/// Reads fields in order from the input.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let taken = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(taken)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.at..).unwrap_or_default()
    }
}

/// One entry: its tag (the script's marker, or an embedded file's source path), its method
/// (0 stored, 1 LZSS) and its encrypted data.
struct Entry<'a> {
    tag: String,
    method: u8,
    data: &'a [u8],
}

/// Reads the entry at the reader; `None` at the end marker.
fn entry<'a>(r: &mut Reader<'a>, s: &Scheme) -> Result<Option<Entry<'a>>, &'static str> {
    if r.rest().starts_with(END) {
        return Ok(None);
    }
    if r.u32().ok_or("ends before its end marker")? != s.entry {
        return Err("no entry where one was expected");
    }
    let tag = text(r, s, s.tag)?;
    // The second name is the compiler's temporary or source file: nothing to name by.
    text(r, s, s.name)?;
    let tail = r.take(ENTRY_TAIL).ok_or(SHORT)?;
    let method = tail.first().copied().unwrap_or_default();
    let size = tail
        .get(1..5)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes);
    let size = size.ok_or(SHORT)? ^ s.size;
    let data = r
        .take(usize::try_from(size).map_err(|_| SHORT)?)
        .ok_or(SHORT)?;
    Ok(Some(Entry { tag, method, data }))
}

/// Reads an encrypted string: its length (masked), then bytes keyed by that length.
fn text(r: &mut Reader, s: &Scheme, (mask, offset): (u32, u32)) -> Result<String, &'static str> {
    let count = r.u32().ok_or(SHORT)? ^ mask;
    let unit = if s.wide { 2 } else { 1 };
    let len = usize::try_from(count)
        .ok()
        .and_then(|c| c.checked_mul(unit));
    let raw = r.take(len.ok_or(SHORT)?).ok_or(SHORT)?;
    let plain = s
        .cipher(count.wrapping_add(offset))
        .apply(raw.get(..NAME_MAX).unwrap_or(raw));
    Ok(match s.wide {
        true => utf16(&plain, 0),
        false => plain.iter().map(|&b| char::from(b)).collect(),
    })
}

/// UTF-16LE bytes, each unit XORed with `key`, as text.
fn utf16(bytes: &[u8], key: u16) -> String {
    let units = bytes.chunks_exact(2).map(|p| {
        u16::from_le_bytes([
            p.first().copied().unwrap_or(0),
            p.get(1).copied().unwrap_or(0),
        ]) ^ key
    });
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Why decoding a member stopped early.
enum Stop {
    Damaged(&'static str),
    Cap,
    Late,
}

/// Decodes one entry into `unpacked`; false when reading should stop.
fn member(e: &Entry, s: &Scheme, seed: u32, index: usize, unpacked: &mut Unpacked) -> bool {
    let name = member_name(&e.tag, index);
    let mut src = Source {
        data: e.data,
        at: 0,
        key: s.cipher(seed),
    };
    let (mut bytes, mut stop) = match e.method {
        0 => stored(&mut src, unpacked),
        1 => match lzss(&mut src, s, unpacked) {
            Ok(done) => done,
            Err(magic) => {
                let magic = String::from_utf8_lossy(&magic).into_owned();
                unpacked.unsupported(name, format!("compressed as {magic:?}"));
                return true;
            }
        },
        m => {
            unpacked.unsupported(name, format!("compression method {m}"));
            return true;
        }
    };
    if s.wide && e.tag == EA06_SCRIPT {
        let (text, late) = script_text(&bytes, unpacked);
        bytes = text;
        stop = stop.or(late);
    }
    if !unpacked.file(name.clone(), bytes) {
        return false;
    }
    match stop {
        None => true,
        Some(Stop::Damaged(why)) => {
            unpacked.broken(Some(name), why);
            true
        }
        Some(Stop::Cap) => {
            let why = format!("expands past the cap ({} bytes left)", unpacked.room());
            unpacked.broken(Some(name), why);
            false
        }
        Some(Stop::Late) => {
            unpacked.late(Some(name));
            false
        }
    }
}

/// The script as `script.au3`, other markers by their words, files by their source path.
fn member_name(tag: &str, index: usize) -> String {
    if tag.starts_with('>') && tag.ends_with('<') {
        let mark = tag.trim_matches(|c| c == '>' || c == '<');
        return match mark.ends_with("SCRIPT") {
            true => "script.au3".into(),
            false => mark.into(),
        };
    }
    let path = tag.replace('\\', "/");
    let drive = path.as_bytes().get(1) == Some(&b':');
    let path = if drive {
        path.get(2..).unwrap_or_default()
    } else {
        &path
    };
    match path.trim_start_matches('/') {
        "" => format!("file{index}"),
        path => path.into(),
    }
}

/// An entry's data, decrypted as it is read.
struct Source<'a> {
    data: &'a [u8],
    at: usize,
    key: Cipher,
}

impl Source<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.data.get(self.at)?;
        self.at += 1;
        Some(b ^ self.key.byte())
    }
}

/// A stored entry: its data decrypted, up to the cap.
fn stored(src: &mut Source, unpacked: &Unpacked) -> (Vec<u8>, Option<Stop>) {
    let room = unpacked.room();
    let mut out = Vec::with_capacity(src.data.len().min(room));
    while let Some(b) = src.byte() {
        if out.len() >= room {
            return (out, Some(Stop::Cap));
        }
        if out.len() % CHECK_EVERY == 0 && !unpacked.in_time() {
            return (out, Some(Stop::Late));
        }
        out.push(b);
    }
    (out, None)
}

/// A compressed entry: `EA05`/`EA06`, the size big-endian, then the LZSS bits. `Err` holds
/// the magic of a stream this version does not write.
fn lzss(src: &mut Source, s: &Scheme, u: &Unpacked) -> Result<(Vec<u8>, Option<Stop>), [u8; 4]> {
    let mut head = [0u8; 8];
    for b in &mut head {
        match src.byte() {
            Some(byte) => *b = byte,
            None => return Ok((Vec::new(), Some(Stop::Damaged(SHORT)))),
        }
    }
    if head[..3] != *b"EA0" || head[3] != s.version {
        return Err([head[0], head[1], head[2], head[3]]);
    }
    let size = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    // A size of 0 is taken as the compressed size, as ClamAV does.
    let size = match size {
        0 => src.data.len(),
        n => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let mut bits = Bits {
        src,
        word: 0,
        left: 0,
    };
    Ok(inflate(&mut bits, size, s.match_bit, u))
}

/// Reads bits most significant first from 16-bit big-endian words.
struct Bits<'s, 'a> {
    src: &'s mut Source<'a>,
    word: u32,
    left: u32,
}

impl Bits<'_, '_> {
    fn get(&mut self, n: u32) -> Result<u32, &'static str> {
        let mut v = 0;
        for _ in 0..n {
            if self.left == 0 {
                let hi = self.src.byte().ok_or(SHORT)?;
                let lo = self.src.byte().ok_or(SHORT)?;
                self.word = u32::from(hi) << 8 | u32::from(lo);
                self.left = 16;
            }
            self.left -= 1;
            v = v << 1 | (self.word >> self.left) & 1;
        }
        Ok(v)
    }
}

/// Decodes `size` bytes (no more than the cap allows): a flag bit, then a literal byte or a
/// back-reference (15-bit distance, then its length).
fn inflate(bits: &mut Bits, size: usize, match_bit: u32, u: &Unpacked) -> (Vec<u8>, Option<Stop>) {
    let limit = size.min(u.room());
    let mut out = Vec::with_capacity(limit.min(1 << 20));
    let mut check = 0;
    while out.len() < limit {
        if out.len() >= check {
            if !u.in_time() {
                return (out, Some(Stop::Late));
            }
            check = out.len() + CHECK_EVERY;
        }
        let step = match bits.get(1) {
            Ok(flag) if flag == match_bit => copy(bits, &mut out, size, limit),
            Ok(_) => bits.get(8).map(|b| out.push(b as u8)),
            Err(why) => Err(why),
        };
        if let Err(why) = step {
            return (out, Some(Stop::Damaged(why)));
        }
    }
    (out, (size > limit).then_some(Stop::Cap))
}

/// Copies a back-reference; overlapping copies repeat, as in any LZ77.
fn copy(bits: &mut Bits, out: &mut Vec<u8>, size: usize, limit: usize) -> Result<(), &'static str> {
    let distance = bits.get(15)? as usize;
    let length = match_length(bits, size)?;
    let from = match out.len().checked_sub(distance) {
        Some(from) if distance > 0 => from,
        _ => return Err("a back-reference before the start"),
    };
    if out.len().saturating_add(length) > size {
        return Err("a back-reference past the stated size");
    }
    for i in 0..length.min(limit.saturating_sub(out.len())) {
        let b = out.get(from + i).copied().unwrap_or_default();
        out.push(b);
    }
    Ok(())
}

/// A back-reference's length: 3 plus fields of 2, 3, 5 and 8 bits, each read only when the
/// one before is all ones, then further bytes while they are 255.
fn match_length(bits: &mut Bits, size: usize) -> Result<usize, &'static str> {
    let mut length = 3usize;
    for width in [2, 3, 5, 8] {
        let v = bits.get(width)?;
        length += v as usize;
        if v != (1 << width) - 1 {
            return Ok(length);
        }
    }
    loop {
        let v = bits.get(8)?;
        length = length.saturating_add(v as usize);
        if v != 255 {
            return Ok(length);
        }
        if length > size {
            return Err("a back-reference past the stated size");
        }
    }
}

mod script;
use self::script::*;

#[cfg(test)]
#[path = "autoit_tests.rs"]
mod tests;
