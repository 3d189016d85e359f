//! NSIS (Nullsoft Scriptable Install System) installers: the data that follows the "first
//! header" in an installer's overlay. It holds the installer's own header (its script, strings
//! and pages) and then one data block per file the script installs, either as one compressed
//! stream ("solid": each item is a 4-byte length then its bytes) or block by block (each block
//! a 4-byte length whose top bit says it is compressed). Methods: deflate (raw) and LZMA (5
//! bytes of properties, then raw LZMA) are decoded; NSIS's own bzip2 variant (no stream header
//! nor CRCs) is not. The header is given as `header`, every file as `file-N`, N being its
//! offset in the data after the header (the offset NSIS's script uses to name it).
//!
//! Facts from ClamAV's `libclamav/nsis/nulsft.c` and `nsis/bzlib.c` (the first header, the
//! solid/non-solid guess, the method guess, how NSIS's bzip2 differs) and from installers
//! built here with `makensis` 3.08 (the archive length counts the first header and the CRC).

use std::io::Read;

use flate2::read::DeflateDecoder;
use lzma_rust2::LzmaReader;

use super::Measure;
use super::unpacked::Unpacked;

/// The first header's signature (0xDEADBEEF, then "NullsoftInst"), found in the EXE overlay.
pub const MAGIC: &[u8] = b"\xEF\xBE\xAD\xDENullsoftInst";
/// The signature follows the first header's 4-byte flags.
pub const MAGIC_AT: usize = 4;

/// flags, signature (16 bytes), header length, archive length.
const FIRST_HEADER_LEN: usize = 28;
/// Where the archive length (from the first header's start, CRC included) is.
const ARCHIVE_LEN_AT: usize = 24;
/// A first-header flag: no CRC32 follows the data.
const FLAG_NO_CRC: u32 = 4;
/// In a non-solid block's length: the block is compressed.
const COMPRESSED: u32 = 0x8000_0000;
/// Decoded bytes read at once, between two looks at the deadline.
const CHUNK: usize = 64 * 1024;

/// The compression methods NSIS writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Deflate,
    Bzip2,
    Lzma,
}

/// Why a read ended before its end.
enum Cut {
    Late,
    Damaged(String),
}

/// True when `bytes` starts with an NSIS first header.
pub(super) fn starts(bytes: &[u8]) -> bool {
    bytes.len() >= FIRST_HEADER_LEN && bytes.get(MAGIC_AT..MAGIC_AT + MAGIC.len()) == Some(MAGIC)
}

/// Reads the header and every file of the installer data starting at `bytes[0]` (the first
/// header, not the EXE).
pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    if !starts(bytes) {
        out.broken(None, "no NSIS first header");
        return out;
    }
    let Some((data, truncated)) = data_area(bytes, &mut out) else {
        return out;
    };
    if data.is_empty() {
        out.broken(None, "no data after the NSIS first header");
    } else if is_solid(data, truncated) {
        solid(data, &mut out);
    } else {
        blocks(data, &mut out);
    }
    if truncated {
        out.broken(None, "the installer is cut short");
    }
    out
}

/// The data after the first header up to the archive's end (its CRC left out), and whether
/// the installer is shorter than its first header says.
fn data_area<'a>(bytes: &'a [u8], out: &mut Unpacked) -> Option<(&'a [u8], bool)> {
    let flags = le32(bytes, 0)?;
    let archive_len = usize::try_from(le32(bytes, ARCHIVE_LEN_AT)?).ok()?;
    if archive_len < FIRST_HEADER_LEN {
        out.broken(
            None,
            "the NSIS archive length is shorter than its first header",
        );
        return None;
    }
    let truncated = archive_len > bytes.len();
    let mut end = archive_len.min(bytes.len());
    if !truncated && flags & FLAG_NO_CRC == 0 {
        end = end.saturating_sub(4).max(FIRST_HEADER_LEN);
    }
    Some((bytes.get(FIRST_HEADER_LEN..end)?, truncated))
}

/// One non-solid block: where its length word is, the word, its bytes (cut at the data's
/// end) and whether it is all there.
struct Block<'a> {
    pos: usize,
    word: u32,
    body: &'a [u8],
    whole: bool,
}

/// The chain of non-solid blocks in `data`; a block that runs past the end is the last.
struct Blocks<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Blocks<'a> {
    type Item = Block<'a>;

    fn next(&mut self) -> Option<Block<'a>> {
        let pos = self.pos;
        if pos >= self.data.len() {
            return None;
        }
        self.pos = self.data.len();
        let Some(word) = le32(self.data, pos) else {
            let body = self.data.get(pos..).unwrap_or_default();
            return Some(Block {
                pos,
                word: 0,
                body,
                whole: false,
            });
        };
        let start = pos.saturating_add(4);
        let end = start.saturating_add((word & !COMPRESSED) as usize);
        let whole = end <= self.data.len();
        let body = self
            .data
            .get(start..end.min(self.data.len()))
            .unwrap_or_default();
        if whole {
            self.pos = end;
        }
        Some(Block {
            pos,
            word,
            body,
            whole,
        })
    }
}

/// Solid unless the data is a chain of blocks ending exactly at its end (or, when the
/// installer is cut short, a chain of at least two whole blocks), as ClamAV guesses.
fn is_solid(data: &[u8], truncated: bool) -> bool {
    for (whole, block) in (Blocks { data, pos: 0 }).enumerate() {
        if !block.whole {
            return !(truncated && whole >= 2);
        }
    }
    false
}

/// The method whose stream starts `bytes`: NSIS's bzip2 starts with its block byte '1',
/// LZMA with properties 0x5D and a dictionary size of whole 64 KiB units; else deflate.
fn method_of(bytes: &[u8]) -> Method {
    match bytes {
        [0x31, ..] => Method::Bzip2,
        [0x5D, 0, 0, ..] => Method::Lzma,
        _ => Method::Deflate,
    }
}

/// The method most compressed blocks start like (one method serves a whole installer).
fn vote(data: &[u8]) -> Method {
    let mut tally = [
        (Method::Deflate, 0usize),
        (Method::Lzma, 0),
        (Method::Bzip2, 0),
    ];
    for block in (Blocks { data, pos: 0 }) {
        if block.word & COMPRESSED != 0 {
            let method = method_of(block.body);
            for (each, count) in tally.iter_mut() {
                if *each == method {
                    *count = count.saturating_add(1);
                }
            }
        }
    }
    // The first of the most frequent: deflate wins a tie, as NSIS's default.
    let best = tally
        .iter()
        .fold((Method::Deflate, 0), |best, &(method, count)| {
            if count > best.1 {
                (method, count)
            } else {
                best
            }
        });
    best.0
}

/// Reads non-solid data: every block, stored or compressed, on its own.
fn blocks(data: &[u8], out: &mut Unpacked) {
    let method = vote(data);
    let mut files_start = None;
    for block in (Blocks { data, pos: 0 }) {
        if !out.in_time() {
            out.late(None);
            return;
        }
        let name = match files_start {
            None => "header".to_string(),
            Some(start) => format!("file-{}", block.pos.saturating_sub(start)),
        };
        let end = block.pos.saturating_add(4).saturating_add(block.body.len());
        files_start.get_or_insert(end);
        if !block.whole {
            out.broken(
                Some(name.clone()),
                "a block runs past the end of the installer",
            );
        }
        let go = if block.word & !COMPRESSED == 0 {
            true // an empty file: nothing to look at
        } else if block.word & COMPRESSED == 0 {
            // No more than one byte past the room: enough for `file` to see the cap.
            let room = out.room().saturating_add(1);
            keep(
                out,
                name,
                block.body.get(..room).unwrap_or(block.body).to_vec(),
                None,
            )
        } else {
            decode_block(method, block.body, name, out)
        };
        if !go {
            return;
        }
    }
}

/// Decodes one compressed non-solid block. False when reading must stop (cap or deadline);
/// a damaged block is noted and the next one read, since blocks do not depend on each other.
fn decode_block(method: Method, body: &[u8], name: String, out: &mut Unpacked) -> bool {
    let mut reader = match open(method, body) {
        Ok(reader) => reader,
        Err(e) => {
            note_open_failure(out, name, method, e);
            return true;
        }
    };
    let (bytes, cut) = read_up_to(&mut *reader, u64::MAX, out);
    keep(out, name, bytes, cut)
}

/// Notes why a stream could not be opened: an unsupported method or a damaged start.
fn note_open_failure(out: &mut Unpacked, name: String, method: Method, why: String) {
    if method == Method::Bzip2 {
        out.unsupported(name, why);
    } else {
        out.broken(Some(name), why);
    }
}

/// A decoder of `method` over `bytes`.
fn open<'a>(method: Method, bytes: &'a [u8]) -> Result<Box<dyn Read + 'a>, String> {
    match method {
        Method::Deflate => Ok(Box::new(DeflateDecoder::new(bytes))),
        Method::Bzip2 => Err("NSIS's bzip2 variant is not decoded".to_string()),
        Method::Lzma => {
            let (props, dict) = match (bytes.first(), le32(bytes, 1)) {
                (Some(&props), Some(dict)) => (props, dict),
                _ => return Err("LZMA properties are cut off".to_string()),
            };
            let rest = bytes.get(5..).unwrap_or_default();
            let mut reader = LzmaReader::new_with_props(rest, u64::MAX, props, dict, None)
                .map_err(|e| format!("LZMA: {e}"))?;
            // Bytes decoded before damage are handed out first, so that they can be kept.
            reader.set_defer_errors(true);
            Ok(Box::new(reader))
        }
    }
}

/// Reads solid data: one stream holding the header then every file, each after its length.
fn solid(data: &[u8], out: &mut Unpacked) {
    let method = method_of(data);
    let mut reader = match open(method, data) {
        Ok(reader) => reader,
        Err(e) => return note_open_failure(out, "solid stream".to_string(), method, e),
    };
    let mut offset: Option<u64> = None;
    loop {
        if !out.in_time() {
            return out.late(None);
        }
        let name = offset.map_or_else(|| "header".to_string(), |at| format!("file-{at}"));
        let len = match read_length(&mut *reader) {
            Ok(Some(len)) => len,
            Ok(None) => return,
            Err(why) => return out.broken(Some(name), why),
        };
        let (bytes, cut) = read_up_to(&mut *reader, u64::from(len), out);
        let whole = cut.is_none() && bytes.len() as u64 == u64::from(len);
        // After damage the rest of a solid stream cannot be found: stop there.
        if !keep(out, name.clone(), bytes, cut) || !whole {
            return out.broken(Some(name), "the stream ends inside this item");
        }
        offset = Some(offset.map_or(0, |at| at.saturating_add(4).saturating_add(len.into())));
    }
}

/// The next item's 4-byte length in a solid stream, or None at the stream's clean end.
fn read_length(reader: &mut dyn Read) -> Result<Option<u32>, String> {
    let mut word = [0u8; 4];
    let mut got = 0;
    while let Some(rest) = word.get_mut(got..).filter(|rest| !rest.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(e.to_string()),
        }
    }
    match got {
        0 => Ok(None),
        4 => Ok(Some(u32::from_le_bytes(word))),
        _ => Err("the stream ends inside an item's length".to_string()),
    }
}

/// Reads up to `want` bytes (and never more than one past the room left, so that a file
/// past the cap is seen as such), looking at the deadline every chunk.
fn read_up_to(reader: &mut dyn Read, want: u64, out: &Unpacked) -> (Vec<u8>, Option<Cut>) {
    let limit = usize::try_from(want)
        .unwrap_or(usize::MAX)
        .min(out.room().saturating_add(1));
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        if !out.in_time() {
            return (bytes, Some(Cut::Late));
        }
        let len = bytes.len();
        bytes.resize(len.saturating_add(CHUNK.min(limit - len)), 0);
        match reader.read(bytes.get_mut(len..).unwrap_or_default()) {
            Ok(0) => {
                bytes.truncate(len);
                break;
            }
            Ok(n) => bytes.truncate(len.saturating_add(n)),
            Err(e) => {
                bytes.truncate(len);
                return (bytes, Some(Cut::Damaged(e.to_string())));
            }
        }
    }
    (bytes, None)
}

/// Keeps what was read of `name` (even a part: it is still worth a look) and notes why it
/// was cut. False when reading must stop: past the cap, or late.
fn keep(out: &mut Unpacked, name: String, bytes: Vec<u8>, cut: Option<Cut>) -> bool {
    if !bytes.is_empty() && !out.file(name.clone(), bytes) {
        return false;
    }
    match cut {
        None => true,
        Some(Cut::Late) => {
            out.late(Some(name));
            false
        }
        Some(Cut::Damaged(why)) => {
            out.broken(Some(name), why);
            true
        }
    }
}

/// The little-endian u32 at `at`, if all there.
fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(word.try_into().ok()?))
}

#[cfg(test)]
#[path = "nsis_tests.rs"]
mod tests;
