//! InstallShield installers (`setup.exe`), read for the files they carry. Three layouts:
//! - the setup stream (`InstallShield\0`, or `ISSetupStream\0` from InstallShield 2015 on),
//!   after the PE's sections (maybe after an `NB10` debug record): a count, then per file a
//!   name and its bytes, scrambled with a key made from the name (nibble swap and XOR, per
//!   1024-byte block or over the whole file) and, for Unicode launchers, zlib-compressed. The
//!   MSI it carries is an OLE2 file, which the walker opens next;
//! - the plain overlay (no magic: it starts where the PE's sections end, [`overlay_start`]):
//!   per file four NUL-ended strings (name, path, version, decimal size) then its bytes, in
//!   ANSI, or in UTF-16 after a count;
//! - InstallShield cabinets (`ISc(`): `data1.hdr` holds the file table, `dataN.cab` the data,
//!   each file stored or in deflate chunks, maybe obfuscated, maybe split across volumes. Read
//!   from a plain overlay that carries them, or alone when a cabinet holds its own table.
//!
//! Facts from ClamAV's libclamav/ishield.c (and pe.c, which hands it the PE overlay),
//! unshield's lib/file.c, libunshield.c and cabfile.h, and the notes of lifenjoiner's ISx
//! (the setup stream's flags and its `ISSetupStream` form); the code is our own.

use std::borrow::Cow;

use flate2::{Decompress, FlushDecompress, Status};

use super::Measure;
use super::unpacked::Unpacked;

/// The setup stream's signature, at its start.
pub const MAGIC: &[u8] = b"InstallShield\0";
pub const MAGIC_AT: usize = 0;
/// The newer setup stream's signature (same place, same decoder).
pub const STREAM_MAGIC: &[u8] = b"ISSetupStream\0";
/// An InstallShield cabinet's (and its `.hdr` file's) signature, at its start.
pub const CAB_MAGIC: &[u8] = b"ISc(";
/// What finds an installer's data inside an EXE: both setup streams' signatures and a
/// cabinet's (each at the start of what it finds).
pub const SIGNATURES: &[&[u8]] = &[MAGIC, STREAM_MAGIC, CAB_MAGIC];

/// Bytes decoded between two looks at the clock.
const BLOCK: usize = 1 << 16;
/// A setup stream's header, and the fixed part of its file entries (old and new form).
const STREAM_HEADER: usize = 46;
const OLD_ENTRY: usize = 312;
const NEW_ENTRY: usize = 24;
/// Room for a name (Windows' MAX_PATH).
const NAME_MAX: usize = 260;
/// A cabinet file descriptor (InstallShield 6 and later).
const DESCRIPTOR: usize = 0x57;
/// Cabinet file flags, and the link flag of a file that repeats an earlier one's data.
const SPLIT: u16 = 1;
const OBFUSCATED: u16 = 2;
const COMPRESSED: u16 = 4;
const INVALID: u16 = 8;
const LINK_PREVIOUS: u8 = 1;

/// Why decoding one file stopped.
enum Fail {
    Late,
    Broken(String),
}

fn broken(why: &str) -> Fail {
    Fail::Broken(why.to_owned())
}

/// True when `bytes` start InstallShield data in any of its layouts: a setup stream, a
/// cabinet that holds its own file table, or a PE whose overlay is a plain one.
pub(super) fn starts_any(bytes: &[u8]) -> bool {
    starts(bytes) || cab_starts(bytes) || plain_overlay(bytes).is_some()
}

/// The files of the InstallShield data `bytes` start, whichever its layout.
pub(super) fn unpack_any(bytes: &[u8], measure: Measure) -> Unpacked {
    if starts(bytes) {
        unpack(bytes, measure)
    } else if cab_starts(bytes) {
        cab_unpack(bytes, measure)
    } else if let Some(overlay) = plain_overlay(bytes) {
        plain_unpack(overlay, measure)
    } else {
        let mut u = Unpacked::new(measure);
        u.broken(None, "no InstallShield setup stream, cabinet or overlay");
        u
    }
}

/// The overlay of the PE `bytes`, when it is a plain InstallShield one.
fn plain_overlay(bytes: &[u8]) -> Option<&[u8]> {
    let overlay = bytes.get(overlay_start(bytes)?..)?;
    plain_starts(overlay).then_some(overlay)
}

// ---- The setup stream ----

/// True when a setup stream starts at `bytes[0]`: its header and a first file entry that
/// reads whole.
pub(super) fn starts(bytes: &[u8]) -> bool {
    stream_header(bytes)
        .is_some_and(|(new, _, kind)| entry(bytes, STREAM_HEADER, new, kind).is_some())
}

/// The files of a setup stream, unscrambled and inflated.
pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut u = Unpacked::new(measure);
    let Some((new, count, kind)) = stream_header(bytes) else {
        u.broken(None, "no InstallShield setup stream header");
        return u;
    };
    let mut at = STREAM_HEADER;
    for n in 1..=count {
        if !u.in_time() {
            u.late(None);
            break;
        }
        let Some(member) = entry(bytes, at, new, kind) else {
            u.broken(None, format!("file {n} of {count} is cut short or damaged"));
            break;
        };
        at = member.next;
        if !take_member(&mut u, &member) {
            break;
        }
    }
    u
}

/// The header: which form (new = `ISSetupStream`), the file count, and its type field.
fn stream_header(bytes: &[u8]) -> Option<(bool, u16, u32)> {
    let new = match bytes.get(..MAGIC.len())? {
        m if m == MAGIC => false,
        m if m == STREAM_MAGIC => true,
        _ => return None,
    };
    let count = u16_at(bytes, 14)?;
    let kind = u32_at(bytes, 16)?;
    // ISx reads no `ISSetupStream` of a type past 4; a count of 0 is a string in code.
    let usual = count > 0 && bytes.len() >= STREAM_HEADER && !(new && kind > 4);
    usual.then_some((new, count, kind))
}

/// One file of a setup stream, as stored.
struct Member<'a> {
    name: String,
    /// The bytes the key is made from: the name as stored (ANSI) or in UTF-8.
    seed: Vec<u8>,
    flags: u32,
    deflated: bool,
    data: &'a [u8],
    next: usize,
}

fn entry(bytes: &[u8], at: usize, new: bool, kind: u32) -> Option<Member<'_>> {
    if new {
        new_entry(bytes, at, kind)
    } else {
        old_entry(bytes, at)
    }
}

/// 260 bytes of name, flags at 0x104, size at 0x10c, the zlib flag at 0x118; 312 in all.
fn old_entry(bytes: &[u8], at: usize) -> Option<Member<'_>> {
    let raw = cstr(bytes, at, NAME_MAX)?;
    if raw.is_empty() || raw.iter().any(|&c| c < 0x20) {
        return None;
    }
    let data_at = at.checked_add(OLD_ENTRY)?;
    let data = sub(bytes, data_at as u64, u64_at(bytes, at + 0x10c)?)?;
    Some(Member {
        name: String::from_utf8_lossy(raw).into_owned(),
        seed: raw.to_vec(),
        flags: u32_at(bytes, at + 0x104)?,
        deflated: u16_at(bytes, at + 0x118)? != 0,
        data,
        next: data_at + data.len(),
    })
}

/// Name length, flags, size at 10, zlib flag at 22 (24 bytes; 24 more in type 4), then
/// the name in UTF-16.
fn new_entry(bytes: &[u8], at: usize, kind: u32) -> Option<Member<'_>> {
    let name_len = usize::try_from(u32_at(bytes, at)?).ok()?;
    if name_len > 2 * NAME_MAX {
        return None;
    }
    let name_at = at.checked_add(NEW_ENTRY + if kind == 4 { NEW_ENTRY } else { 0 })?;
    let name = utf16(sub(bytes, name_at as u64, name_len as u64)?);
    if name.is_empty() {
        return None;
    }
    let data_at = name_at + name_len;
    let data = sub(bytes, data_at as u64, u64::from(u32_at(bytes, at + 10)?))?;
    Some(Member {
        seed: name.as_bytes().to_vec(),
        name,
        flags: u32_at(bytes, at + 4)?,
        deflated: u16_at(bytes, at + 22)? != 0,
        data,
        next: data_at + data.len(),
    })
}

/// Unscrambles (flag 4: key restarting every 1024 bytes; flag 2: over the whole file) and
/// inflates one file, and keeps it. False when decoding must stop (cap, deadline).
fn take_member(u: &mut Unpacked, m: &Member) -> bool {
    let name = path_name("", &m.name);
    if !m.deflated && m.data.len() > u.room() {
        return keep(u, name, m.data);
    }
    let period = match m.flags {
        f if f & 4 != 0 => Some(1024),
        f if f & 2 != 0 => None,
        _ => return finish_bytes(u, name, Cow::Borrowed(m.data), m.deflated),
    };
    match unscramble(m.data, &m.seed, period, u) {
        Ok(plain) => finish_bytes(u, name, Cow::Owned(plain), m.deflated),
        Err(fail) => finish(u, name, Vec::new(), Err(fail)),
    }
}

fn finish_bytes(u: &mut Unpacked, name: String, plain: Cow<[u8]>, deflated: bool) -> bool {
    if !deflated {
        return keep(u, name, &plain);
    }
    let mut out = Vec::new();
    let result = Inflater::new(true).run(&plain, &mut out, u.room().saturating_add(1), u);
    finish(u, name, out, result)
}

/// The byte each stored byte stands for: nibbles swapped, XORed with the name XOR
/// 13 35 86 07, inverted.
fn unscramble(
    data: &[u8],
    seed: &[u8],
    period: Option<usize>,
    u: &Unpacked,
) -> Result<Vec<u8>, Fail> {
    const MASK: [u8; 4] = [0x13, 0x35, 0x86, 0x07];
    let key: Vec<u8> = seed
        .iter()
        .zip(MASK.iter().cycle())
        .map(|(s, m)| s ^ m)
        .collect();
    let mut out = Vec::with_capacity(data.len());
    for (n, block) in data.chunks(BLOCK).enumerate() {
        if !u.in_time() {
            return Err(Fail::Late);
        }
        out.extend(block.iter().enumerate().map(|(i, &b)| {
            let at = n * BLOCK + i;
            let at = period.map_or(at, |p| at % p);
            let k = key.get(at % key.len().max(1)).copied().unwrap_or(0);
            !(k ^ b.rotate_left(4))
        }));
    }
    Ok(out)
}

// ---- The plain overlay ----

/// The PE overlay's start: where the bytes after the furthest section begin, if any.
pub(super) fn overlay_start(exe: &[u8]) -> Option<usize> {
    if !exe.starts_with(b"MZ") {
        return None;
    }
    let pe = usize::try_from(u32_at(exe, 0x3c)?).ok()?;
    if exe.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let table = pe + 24 + usize::from(u16_at(exe, pe + 20)?);
    let mut end = 0u64;
    for n in 0..usize::from(u16_at(exe, pe + 6)?) {
        let at = table + 40 * n;
        let size = u32_at(exe, at + 16)?;
        if size > 0 {
            end = end.max(u64::from(u32_at(exe, at + 20)?) + u64::from(size));
        }
    }
    let end = usize::try_from(end).ok()?;
    (end > 0 && end < exe.len()).then_some(end)
}

/// True when a plain overlay starts at `bytes[0]`: a first entry that reads whole.
pub(super) fn plain_starts(bytes: &[u8]) -> bool {
    plain_form(bytes).is_some_and(|(wide, at, _)| {
        plain_entry(bytes, at, wide).is_some_and(|e| fits(bytes, e.data_at, e.size))
    })
}

/// The files of a plain overlay, then those of the InstallShield cabinets among them.
pub(super) fn plain_unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut u = Unpacked::new(measure);
    let Some((wide, mut at, count)) = plain_form(bytes) else {
        u.broken(None, "no InstallShield file entry");
        return u;
    };
    let mut cabinet = Cabinet::default();
    let mut n = 0;
    // Each entry takes at least 8 bytes: the loop ends. What follows the last (a signature)
    // is no entry and no damage.
    while n < count && at < bytes.len() {
        if !u.in_time() {
            u.late(None);
            return u;
        }
        let Some(e) = plain_entry(bytes, at, wide) else {
            break;
        };
        let name = path_name("", &e.path);
        let Some(data) = bytes.get(e.data_at..e.data_at.saturating_add(e.size)) else {
            u.broken(Some(name), "its data runs past the end of the installer");
            return u;
        };
        cabinet.add(&e.name, &name, data);
        if !keep(&mut u, name, data) {
            return u;
        }
        (at, n) = (e.data_at + data.len(), n + 1);
    }
    if cabinet.header().is_some() {
        read_cabinet(&cabinet, &mut u);
    }
    u
}

/// ANSI (entries from the start), or UTF-16 (a count, then entries): (wide, first, count).
fn plain_form(bytes: &[u8]) -> Option<(bool, usize, usize)> {
    if plain_entry(bytes, 0, false).is_some() {
        return Some((false, 0, usize::MAX));
    }
    let count = usize::try_from(u32_at(bytes, 0)?).ok()?;
    (count > 0 && plain_entry(bytes, 4, true).is_some()).then_some((true, 4, count))
}

/// A plain entry's header: file name, path, where its data starts and its size.
struct Plain {
    name: String,
    path: String,
    data_at: usize,
    size: usize,
}

fn plain_entry(bytes: &[u8], at: usize, wide: bool) -> Option<Plain> {
    let (name, at) = field(bytes, at, wide, NAME_MAX)?;
    let (path, at) = field(bytes, at, wide, NAME_MAX)?;
    let (version, at) = field(bytes, at, wide, 32)?;
    let (size, data_at) = field(bytes, at, wide, 10)?;
    let numeric =
        |s: &str, dots: bool| s.bytes().all(|c| c.is_ascii_digit() || (dots && c == b'.'));
    if !numeric(&version, true) || !numeric(&size, false) {
        return None;
    }
    let size = size.parse().ok()?;
    Some(Plain {
        name,
        path,
        data_at,
        size,
    })
}

/// A non-empty NUL-ended string of printable characters, of at most `max` characters, and
/// where the next field starts.
fn field(bytes: &[u8], at: usize, wide: bool, max: usize) -> Option<(String, usize)> {
    let unit = if wide { 2 } else { 1 };
    let window = bytes.get(at..)?;
    let window = window.get(..window.len().min((max + 1) * unit))?;
    let units: Vec<u16> = window
        .chunks_exact(unit)
        .map(|c| c.iter().rev().fold(0, |v, &b| v << 8 | u16::from(b)))
        .take_while(|&c| c != 0)
        .collect();
    let ended = units.len() < window.len() / unit;
    if units.is_empty() || !ended || units.iter().any(|&c| c < 0x20) {
        return None;
    }
    let text = if wide {
        String::from_utf16_lossy(&units)
    } else {
        units.iter().map(|&c| char::from(c as u8)).collect()
    };
    Some((text, at + (units.len() + 1) * unit))
}

// ---- Shared ----

/// A deflate decoder and its output window, kept across a file's chunks.
struct Inflater {
    z: Decompress,
    buf: Vec<u8>,
    zlib: bool,
}

impl Inflater {
    fn new(zlib: bool) -> Inflater {
        let z = Decompress::new(zlib);
        Inflater {
            z,
            buf: vec![0; BLOCK],
            zlib,
        }
    }

    /// Inflates `input` (a zlib stream, which must end, or a raw deflate chunk, which may
    /// stop at a flush) onto `out`, stopping at `limit` bytes in all.
    fn run(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
        u: &Unpacked,
    ) -> Result<(), Fail> {
        self.z.reset(self.zlib);
        let mut used = 0usize;
        loop {
            if !u.in_time() {
                return Err(Fail::Late);
            }
            let room = limit.saturating_sub(out.len()).min(BLOCK);
            if room == 0 {
                return Ok(());
            }
            let (rest, window) = (
                input.get(used..).unwrap_or_default(),
                self.buf.get_mut(..room),
            );
            let before = (self.z.total_in(), self.z.total_out());
            let status = self
                .z
                .decompress(rest, window.unwrap_or_default(), FlushDecompress::None)
                .map_err(|_| broken("damaged deflate data"))?;
            let took = usize::try_from(self.z.total_in() - before.0).unwrap_or(usize::MAX);
            let made = usize::try_from(self.z.total_out() - before.1).unwrap_or(0);
            out.extend_from_slice(self.buf.get(..made).unwrap_or_default());
            used = used.saturating_add(took);
            match status {
                Status::StreamEnd => return Ok(()),
                _ if took == 0 && made == 0 && self.zlib => {
                    return Err(broken("the zlib stream is cut short"));
                }
                _ if took == 0 && made == 0 => return Ok(()),
                _ => {}
            }
        }
    }
}

/// Keeps a decoded file whole, or notes why it stopped (keeping what was decoded of a
/// damaged one). False when decoding must stop: past the cap or the deadline.
fn finish(u: &mut Unpacked, name: String, out: Vec<u8>, result: Result<(), Fail>) -> bool {
    match result {
        Ok(()) => u.file(name, out),
        Err(Fail::Late) => {
            u.late(Some(name));
            false
        }
        Err(Fail::Broken(why)) => {
            let kept = out.is_empty() || u.file(name.clone(), out);
            u.broken(Some(name), why);
            kept
        }
    }
}

/// Keeps a file stored as it is, unless it is larger than the bytes left to decode.
fn keep(u: &mut Unpacked, name: String, data: &[u8]) -> bool {
    if data.len() > u.room() {
        u.broken(Some(name), "goes past the cap on decoded bytes");
        return false;
    }
    u.file(name, data.to_vec())
}

/// `dir/name` with `/` for `\`, without leading `/`.
fn path_name(dir: &str, name: &str) -> String {
    let joined = if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    };
    joined.replace('\\', "/").trim_start_matches('/').to_owned()
}

/// UTF-16LE text up to a 0 unit.
fn utf16(bytes: &[u8]) -> String {
    let units = bytes.chunks_exact(2).map(|c| u16_at(c, 0).unwrap_or(0));
    String::from_utf16_lossy(&units.take_while(|&c| c != 0).collect::<Vec<_>>())
}

/// The bytes before the first NUL within `max` bytes from `at`.
fn cstr(bytes: &[u8], at: usize, max: usize) -> Option<&[u8]> {
    let window = bytes.get(at..)?;
    let window = window.get(..window.len().min(max))?;
    window.get(..window.iter().position(|&c| c == 0)?)
}

fn sub(bytes: &[u8], at: u64, len: u64) -> Option<&[u8]> {
    let at = usize::try_from(at).ok()?;
    bytes.get(at..at.checked_add(usize::try_from(len).ok()?)?)
}

fn fits(bytes: &[u8], at: usize, len: usize) -> bool {
    at.checked_add(len).is_some_and(|end| end <= bytes.len())
}

fn le<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    le(bytes, at).map(u16::from_le_bytes)
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    le(bytes, at).map(u32::from_le_bytes)
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    le(bytes, at).map(u64::from_le_bytes)
}

mod cabinet;
use self::cabinet::*;

#[cfg(test)]
#[path = "ishield_tests.rs"]
mod tests;
