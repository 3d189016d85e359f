//! Microsoft Compiled HTML Help (`.chm`, the ITSF container, also `.its`/`.chi`): every file
//! of the directory whose name starts with `/`, named by its path without that `/`. Section 0
//! holds files stored as they are; section 1 ("MSCompressed") is one LZX stream of 32 KiB
//! frames, its decoder reset every reset interval (ControlData), each frame found through the
//! reset table. Format facts: libmspack's chmd.c/chm.h (in ClamAV's tree), chmlib's
//! behaviour (extract_chmLib) and the sample files; the code is our own. LZX is the `lzxd`
//! crate, whose calls are guarded: it can panic on hostile streams.

use std::panic::{AssertUnwindSafe, catch_unwind};

use lzxd::{Lzxd, WindowSize};

use super::Measure;
use super::unpacked::Unpacked;

/// Every CHM starts with its signature.
pub const MAGIC: &[u8] = b"ITSF";
/// The signature is the first thing in the file.
pub const MAGIC_AT: usize = 0;

/// The two GUIDs of every ITSF header, at offset 0x18.
const GUIDS: [u8; 32] = [
    0x10, 0xFD, 0x01, 0x7C, 0xAA, 0x7B, 0xD0, 0x11, 0x9E, 0x0C, 0x00, 0xA0, 0xC9, 0x22, 0xE6, 0xEC,
    0x11, 0xFD, 0x01, 0x7C, 0xAA, 0x7B, 0xD0, 0x11, 0x9E, 0x0C, 0x00, 0xA0, 0xC9, 0x22, 0xE6, 0xEC,
];
/// The directory header (ITSP) is this long; its chunks follow it.
const ITSP_LEN: u64 = 0x54;
/// A PMGL chunk's entries start after its header; it ends with their count (2 bytes).
const PMGL_ENTRIES: usize = 0x14;
/// LZX in CHM decodes 32 KiB frames, each padded out to that size.
const FRAME: u64 = 0x8000;
/// The section-0 files that describe section 1: its content, ControlData, reset table.
const SYSTEM: [&str; 3] = [
    "::DataSpace/Storage/MSCompressed/Content",
    "::DataSpace/Storage/MSCompressed/ControlData",
    "::DataSpace/Storage/MSCompressed/Transform/{7FC28940-9D31-11D0-9B27-00A0C91E9C7C}/InstanceData/ResetTable",
];

/// True when a CHM (ITSF version 2 or 3) starts at `bytes[0]`.
pub(super) fn starts(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
        && matches!(u32_at(bytes, 4), Some(2 | 3))
        && bytes.get(0x18..0x38) == Some(&GUIDS[..])
}

/// Reads every file of the CHM `bytes`: stored (and empty) ones in directory order, then the
/// compressed ones in the order of their offsets, so that the LZX stream is read forward.
pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut unpacked = Unpacked::new(measure);
    let layout = match layout(bytes) {
        Ok(layout) => layout,
        Err(why) => {
            unpacked.broken(None, why);
            return unpacked;
        }
    };
    let mut walk = Walk {
        bytes,
        section0: layout.section0,
        unpacked,
        compressed: Vec::new(),
        claimed: 0,
        system: [None; 3],
    };
    if walk.directory(&layout) {
        walk.decompress();
    }
    walk.unpacked
}

/// Where the parts of a CHM lie: the directory's chunks (those from `first` to `last` list
/// files) and section 0.
struct Layout {
    chunks: u64,
    chunk_size: u64,
    first: u64,
    last: u64,
    section0: u64,
}

/// Reads the ITSF header and the directory's ITSP header.
fn layout(bytes: &[u8]) -> Result<Layout, &'static str> {
    if !starts(bytes) {
        return Err("not a CHM (ITSF) header");
    }
    let version = u32_at(bytes, 4).unwrap_or(0);
    let dir = u64_at(bytes, 0x48).ok_or("the header is cut short")?;
    let itsp = slice(bytes, dir, ITSP_LEN).ok_or("the directory lies past the end")?;
    if !itsp.starts_with(b"ITSP") {
        return Err("the directory has no ITSP header");
    }
    let field = |at| u32_at(itsp, at).map(u64::from).unwrap_or(0);
    let (chunk_size, first, last, count) = (field(0x10), field(0x20), field(0x24), field(0x2C));
    if chunk_size < (PMGL_ENTRIES + 2) as u64 || first > last {
        return Err("the directory's header is damaged");
    }
    let chunks = dir.saturating_add(ITSP_LEN);
    let section0 = if version >= 3 {
        u64_at(bytes, 0x58).ok_or("the header is cut short")?
    } else {
        // Version 2 has no field for it: section 0 follows the directory.
        chunks.saturating_add(chunk_size.saturating_mul(count))
    };
    Ok(Layout {
        chunks,
        chunk_size,
        first,
        last,
        section0,
    })
}

/// One file of section 1: where its bytes lie in the decompressed stream.
struct Entry {
    name: String,
    offset: u64,
    length: u64,
}

/// What the walk keeps while it reads the directory, and what it read.
struct Walk<'a> {
    bytes: &'a [u8],
    section0: u64,
    unpacked: Unpacked,
    /// The files of section 1, decoded after the whole directory is read.
    compressed: Vec<Entry>,
    /// Bytes the files of `compressed` claim: past the room, more are not listed.
    claimed: u64,
    /// Where in section 0 the files of [`SYSTEM`] lie (offset, length).
    system: [Option<(u64, u64)>; 3],
}

impl Walk<'_> {
    /// Reads the listing chunks; false when reading must stop (cap or deadline).
    fn directory(&mut self, layout: &Layout) -> bool {
        for n in layout.first..=layout.last {
            if !self.unpacked.in_time() {
                self.unpacked.late(None);
                return false;
            }
            let at = n
                .checked_mul(layout.chunk_size)
                .and_then(|a| a.checked_add(layout.chunks));
            let Some(chunk) = at.and_then(|at| slice(self.bytes, at, layout.chunk_size)) else {
                self.unpacked.broken(None, "the directory is cut short");
                return true;
            };
            // Index (PMGI) chunks among them only repeat names.
            if chunk.starts_with(b"PMGL") && !self.chunk(chunk) {
                return false;
            }
        }
        true
    }

    /// Takes each entry of one PMGL chunk; false when reading must stop.
    fn chunk(&mut self, chunk: &[u8]) -> bool {
        let end = chunk.len().saturating_sub(2);
        let area = chunk.get(..end).unwrap_or_default();
        let count = chunk
            .get(end..)
            .and_then(|c| c.try_into().ok())
            .map(u16::from_le_bytes);
        let mut at = PMGL_ENTRIES;
        for _ in 0..count.unwrap_or(0) {
            let Some((name, section, offset, length)) = entry(area, &mut at) else {
                self.unpacked.broken(None, "a directory entry is damaged");
                return true;
            };
            if !self.take(name, section, offset, length) {
                return false;
            }
        }
        true
    }

    /// Keeps a stored file, lists a compressed one, notes a system file; false to stop.
    fn take(&mut self, name: String, section: u64, offset: u64, length: u64) -> bool {
        if let Some(i) = SYSTEM.iter().position(|s| *s == name) {
            if let (0, Some(slot)) = (section, self.system.get_mut(i)) {
                *slot = Some((offset, length));
            }
            return true;
        }
        // Names not under `/` are internal (`::`); names ending in `/` are directories.
        let member = match name.strip_prefix('/') {
            Some(member) if !member.is_empty() && !member.ends_with('/') => member.to_owned(),
            _ => return true,
        };
        match section {
            0 => self.stored(member, offset, length),
            1 if length == 0 => self.unpacked.file(member, Vec::new()),
            1 => {
                if self.claimed <= self.unpacked.room() as u64 {
                    self.claimed = self.claimed.saturating_add(length);
                    self.compressed.push(Entry {
                        name: member,
                        offset,
                        length,
                    });
                }
                true
            }
            _ => {
                self.unpacked.broken(
                    Some(member),
                    format!("in section {section}, which no CHM has"),
                );
                true
            }
        }
    }

    /// Keeps a file of section 0; false when it went past the cap.
    fn stored(&mut self, member: String, offset: u64, length: u64) -> bool {
        let at = offset.checked_add(self.section0);
        let Some(data) = at.and_then(|at| slice(self.bytes, at, length)) else {
            self.unpacked
                .broken(Some(member), "stored past the end of the file");
            return true;
        };
        // One byte past the room is enough for the cap to refuse it, without copying it all.
        let take = data.len().min(self.unpacked.room().saturating_add(1));
        self.unpacked
            .file(member, data.get(..take).unwrap_or(data).to_vec())
    }

    /// Decodes the files of section 1, in the order of their offsets.
    fn decompress(&mut self) {
        let Some(name) = self.compressed.first().map(|e| e.name.clone()) else {
            return;
        };
        let mut lzx = match Lzx::open(self.bytes, self.section0, &self.system) {
            Ok(lzx) => lzx,
            Err(Fail::Unsupported(why)) => return self.unpacked.unsupported(name, why),
            Err(Fail::Broken(why)) => return self.unpacked.broken(Some(name), why),
            Err(Fail::Late) => return self.unpacked.late(Some(name)),
        };
        self.compressed.sort_by_key(|e| e.offset);
        for entry in std::mem::take(&mut self.compressed) {
            // One byte past the room is enough for the cap to refuse it.
            let limit = (self.unpacked.room() as u64).saturating_add(1);
            match lzx.read(entry.offset, entry.length.min(limit), &self.unpacked) {
                Ok(data) => {
                    if !self.unpacked.file(entry.name, data) {
                        return;
                    }
                }
                Err(Fail::Late) => return self.unpacked.late(Some(entry.name)),
                Err(Fail::Broken(why)) => self.unpacked.broken(Some(entry.name), why),
                Err(Fail::Unsupported(why)) => self.unpacked.unsupported(entry.name, why),
            }
        }
    }
}

/// Reads one directory entry at `at` of a PMGL chunk's entry area: its name, then its
/// section, offset and length as ENCINTs. `None` when it runs past the area.
fn entry(area: &[u8], at: &mut usize) -> Option<(String, u64, u64, u64)> {
    let len = usize::try_from(encint(area, at)?).ok()?;
    let name = area.get(*at..at.checked_add(len)?)?;
    *at += len;
    let name = String::from_utf8_lossy(name).into_owned();
    Some((
        name,
        encint(area, at)?,
        encint(area, at)?,
        encint(area, at)?,
    ))
}

/// An ENCINT: 7 bits a byte, most significant first, the high bit set on all but the last.
fn encint(area: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    loop {
        let byte = *area.get(*at)?;
        *at += 1;
        if value >> 57 != 0 {
            return None; // more than 64 bits
        }
        value = value << 7 | u64::from(byte & 0x7F);
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
}

/// Why a file of section 1 could not be read.
enum Fail {
    Broken(String),
    Unsupported(String),
    Late,
}

/// Section 1: its LZX stream, cut into frames by the reset table, and the decoder.
struct Lzx<'a> {
    stream: &'a [u8],
    table: ResetTable<'a>,
    /// Frames from one reset of the decoder to the next.
    per_reset: u64,
    decoder: Lzxd,
    /// The frame the decoder goes on with, while its state is good.
    next: Option<u64>,
}

impl<'a> Lzx<'a> {
    /// Finds the content, ControlData and reset table of section 1 in section 0.
    fn open(
        bytes: &'a [u8],
        section0: u64,
        system: &[Option<(u64, u64)>; 3],
    ) -> Result<Self, Fail> {
        let part = |i: usize, what: &str| {
            let (offset, length) = system
                .get(i)
                .copied()
                .flatten()
                .ok_or_else(|| missing(what))?;
            let at = offset.checked_add(section0).ok_or_else(|| missing(what))?;
            slice(bytes, at, length).ok_or_else(|| missing(what))
        };
        let stream = part(0, "content")?;
        let (window, per_reset) = control_data(part(1, "ControlData")?)?;
        let table = ResetTable::read(part(2, "reset table")?)?;
        let decoder = Lzxd::new(window);
        Ok(Lzx {
            stream,
            table,
            per_reset,
            decoder,
            next: None,
        })
    }

    /// The `length` bytes at `offset` of the decompressed section.
    fn read(&mut self, offset: u64, length: u64, unpacked: &Unpacked) -> Result<Vec<u8>, Fail> {
        let end = offset
            .checked_add(length)
            .filter(|end| *end <= self.table.length);
        let end = end.ok_or_else(|| Fail::Broken("lies past the end of section 1".into()))?;
        if length == 0 {
            return Ok(Vec::new());
        }
        let (first, last) = (offset / FRAME, (end - 1) / FRAME);
        let mut out = Vec::new();
        let mut frame = self.resume(first);
        while frame <= last {
            if !unpacked.in_time() {
                return Err(Fail::Late);
            }
            let data = self.frame(frame)?;
            if frame >= first {
                let base = frame * FRAME;
                let from = offset.saturating_sub(base) as usize;
                let to = (end - base).min(FRAME) as usize;
                let part = data
                    .get(from..to)
                    .ok_or_else(|| Fail::Broken("short frame".into()))?;
                out.extend_from_slice(part);
            }
            frame += 1;
        }
        Ok(out)
    }

    /// The frame to decode from to reach frame `first`: the next one when the decoder is
    /// in `first`'s reset interval and not past it, else the interval's first frame.
    fn resume(&self, first: u64) -> u64 {
        let start = first - first % self.per_reset;
        match self.next {
            Some(next) if (start..=first).contains(&next) => next,
            _ => start,
        }
    }

    /// Decodes frame `n` (after those before it, back to its reset).
    fn frame(&mut self, n: u64) -> Result<&[u8], Fail> {
        self.next = None;
        if n.is_multiple_of(self.per_reset) {
            self.decoder.reset();
        }
        let chunk = self.table.frame(n, self.stream);
        let chunk =
            chunk.ok_or_else(|| Fail::Broken(format!("no frame {n} in the reset table")))?;
        let decoder = &mut self.decoder;
        // Moving `decoder` into the closure lets the frame it returns outlive the call.
        let decode = move || {
            let decoder = decoder;
            decoder.decompress_next(chunk, FRAME as usize)
        };
        match catch_unwind(AssertUnwindSafe(decode)) {
            Ok(Ok(data)) => {
                self.next = Some(n + 1);
                Ok(data)
            }
            Ok(Err(e)) => Err(Fail::Broken(format!("LZX frame {n}: {e}"))),
            Err(_) => Err(Fail::Broken(format!("LZX frame {n}: the decoder panicked"))),
        }
    }
}

fn missing(what: &str) -> Fail {
    Fail::Broken(format!("section 1 has no readable {what}"))
}

/// ControlData: "LZXC", then the reset interval and window size (in frames from version 2,
/// in bytes before). Gives the window and the frames per reset interval.
fn control_data(data: &[u8]) -> Result<(WindowSize, u64), Fail> {
    if data.get(4..8) != Some(b"LZXC") {
        return Err(Fail::Unsupported(
            "a section-1 compression other than LZX".into(),
        ));
    }
    let unit = match u32_at(data, 8) {
        Some(1) => 1,
        Some(2) => FRAME,
        _ => return Err(Fail::Broken("unknown LZX ControlData version".into())),
    };
    let field = |at| u32_at(data, at).map_or(0, |v| u64::from(v) * unit);
    let (reset, window) = (field(0x0C), field(0x10));
    let window = match window {
        0x8000 => WindowSize::KB32,
        0x1_0000 => WindowSize::KB64,
        0x2_0000 => WindowSize::KB128,
        0x4_0000 => WindowSize::KB256,
        0x8_0000 => WindowSize::KB512,
        0x10_0000 => WindowSize::MB1,
        0x20_0000 => WindowSize::MB2,
        _ => return Err(Fail::Broken(format!("LZX window of {window} bytes"))),
    };
    if reset == 0 || !reset.is_multiple_of(FRAME) {
        return Err(Fail::Broken(format!("LZX reset interval of {reset} bytes")));
    }
    Ok((window, reset / FRAME))
}

/// The reset table: the uncompressed length of section 1 and where each frame starts in
/// the compressed stream (entries of 4 or 8 bytes).
struct ResetTable<'a> {
    data: &'a [u8],
    entries: u64,
    entry_size: u64,
    table_at: u64,
    length: u64,
}

impl<'a> ResetTable<'a> {
    fn read(data: &'a [u8]) -> Result<Self, Fail> {
        let damaged = || Fail::Broken("the LZX reset table is damaged".into());
        let field = |at| u32_at(data, at).map(u64::from).ok_or_else(damaged);
        let (entries, entry_size, table_at) = (field(4)?, field(8)?, field(0x0C)?);
        let length = u64_at(data, 0x10).ok_or_else(damaged)?;
        if u64_at(data, 0x20) != Some(FRAME) || !matches!(entry_size, 4 | 8) {
            return Err(damaged());
        }
        Ok(ResetTable {
            data,
            entries,
            entry_size,
            table_at,
            length,
        })
    }

    /// Where frame `n` starts in the compressed stream.
    fn start(&self, n: u64) -> Option<u64> {
        if n >= self.entries {
            return None;
        }
        let at = n.checked_mul(self.entry_size)?.checked_add(self.table_at)?;
        let at = usize::try_from(at).ok()?;
        match self.entry_size {
            4 => u32_at(self.data, at).map(u64::from),
            _ => u64_at(self.data, at),
        }
    }

    /// Frame `n`'s compressed bytes: up to the next frame's start, or the stream's end.
    fn frame<'s>(&self, n: u64, stream: &'s [u8]) -> Option<&'s [u8]> {
        let start = usize::try_from(self.start(n)?).ok()?;
        let end = match n.checked_add(1).and_then(|next| self.start(next)) {
            Some(end) => usize::try_from(end).ok()?,
            None => stream.len(),
        };
        stream.get(start..end)
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// `len` bytes at `at` of `bytes`, when all are there.
fn slice(bytes: &[u8], at: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(at).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    bytes.get(start..end)
}

#[cfg(test)]
#[path = "chm_tests.rs"]
mod tests;
