//! Symbian installation files (`.sis`). Two formats share the name:
//! - EPOC release 3/4/5 and 6 (UID3 0x10000419 at offset 8, UID2 0x1000006D or 0x10003A12): a
//!   header with pointers to a list of file records; each record names its file (source and
//!   destination paths, UCS-2 when the header says Unicode) and gives its data's length and
//!   offset, once or once per language. Release 6 compresses the data with zlib unless the
//!   header's NoCompress option is set; earlier releases store it. Files are named by their
//!   destination path (drive left out), per-language copies under `lang<code>/`.
//! - Symbian OS 9 (UID1 0x10201A7A): nested type-length fields; every file's data sits in
//!   SISData > data units > file data, stored or zlib-compressed. Their names are in the
//!   (compressed) controller, not read here: files are named `data<unit>/file<index>`.
//!
//! Facts from ClamAV's `libclamav/sis.c`, Deark's `modules/sis.c` (release 6 only fields,
//! which releases compress) and the psifs SIS format notes they cite.

use std::io::Read;

use flate2::read::ZlibDecoder;

use super::Measure;
use super::unpacked::Unpacked;

/// UID3 of a release 3/5/6 SIS file (0x10000419, little-endian).
pub const MAGIC: &[u8] = &[0x19, 0x04, 0x00, 0x10];
/// UID3 is the third UID of the file header.
pub const MAGIC_AT: usize = 8;

/// UID2 of EPOC release 3/4/5 and of release 6 files.
const UID2_ER5: u32 = 0x1000_006D;
const UID2_ER6: u32 = 0x1000_3A12;
/// UID1 of Symbian OS 9 files, and the type of the field that follows their 16-byte header.
const UID1_SIS9: u32 = 0x1020_1A7A;
const SIS9_CONTENTS: u32 = 12;
/// Header options: names are UCS-2; release 6 data is stored, not compressed.
const OPTION_UNICODE: u16 = 0x0001;
const OPTION_NO_COMPRESS: u16 = 0x0008;
/// File types: "null" files are made at install time and hold no data.
const FILE_TYPE_NULL: u32 = 4;
/// The most bytes of a name read.
const NAME_MAX: usize = 1024;
/// Decoded bytes read at once, between two looks at the deadline.
const CHUNK: usize = 64 * 1024;

/// What a release 3/5/6 header says.
struct Header {
    release6: bool,
    unicode: bool,
    compressed: bool,
    languages: usize,
    files: usize,
    languages_at: usize,
    records_at: usize,
}

/// A file record: file type, source and destination names (length, offset) and per
/// language (or once) the data's length and offset.
struct FileRecord {
    kind: u32,
    source: (u32, u32),
    target: (u32, u32),
    forks: Vec<(u32, u32)>,
    multilingual: bool,
}

/// True when a SIS file (of either format) starts at `bytes[0]`.
pub(super) fn starts(bytes: &[u8]) -> bool {
    is_epoc(bytes) || is_sis9(bytes)
}

fn is_epoc(bytes: &[u8]) -> bool {
    bytes.get(MAGIC_AT..MAGIC_AT + MAGIC.len()) == Some(MAGIC)
        && matches!(le32(bytes, 4), Some(UID2_ER5 | UID2_ER6))
}

fn is_sis9(bytes: &[u8]) -> bool {
    le32(bytes, 0) == Some(UID1_SIS9) && le32(bytes, 16) == Some(SIS9_CONTENTS)
}

/// Reads every file of the SIS file `bytes`.
pub(super) fn unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut out = Unpacked::new(measure);
    if is_epoc(bytes) {
        match header(bytes) {
            Some(header) => records(bytes, &header, &mut out),
            None => out.broken(None, "the SIS header is cut short"),
        }
    } else if is_sis9(bytes) {
        sis9(bytes.get(16..).unwrap_or_default(), &mut out);
    } else {
        out.broken(None, "not a SIS file");
    }
    out
}

fn header(bytes: &[u8]) -> Option<Header> {
    let options = le16(bytes, 0x24)?;
    let release6 = le32(bytes, 4)? == UID2_ER6;
    Some(Header {
        release6,
        unicode: options & OPTION_UNICODE != 0,
        compressed: release6 && options & OPTION_NO_COMPRESS == 0,
        languages: le16(bytes, 0x12)?.into(),
        files: le16(bytes, 0x14)?.into(),
        languages_at: usize::try_from(le32(bytes, 0x30)?).ok()?,
        records_at: usize::try_from(le32(bytes, 0x34)?).ok()?,
    })
}

/// Walks the file records, reading the files they give.
fn records(bytes: &[u8], header: &Header, out: &mut Unpacked) {
    let mut at = header.records_at;
    for index in 0..header.files {
        if !out.in_time() {
            return out.late(None);
        }
        let Some(kind) = le32(bytes, at) else {
            return out.broken(None, "the file records run past the end");
        };
        let size = match kind {
            0 | 1 => {
                let Some((record, size)) = file_record(bytes, at, header) else {
                    return out.broken(None, "a SIS file record is cut short");
                };
                if !files(bytes, header, &record, index, out) {
                    return;
                }
                Some(size)
            }
            // Options: a count, then a name (length, offset) per option and language.
            2 => le32(bytes, at.saturating_add(4))
                .and_then(|n| skip(8, n as usize, header.languages * 8)),
            // If, else-if: the size of the condition, then the condition.
            3 | 4 => le32(bytes, at.saturating_add(4)).and_then(|n| skip(8, n as usize, 1)),
            5 | 6 => Some(4), // else, end-if
            _ => return out.broken(None, format!("unknown SIS file record type {kind}")),
        };
        match size.and_then(|size| at.checked_add(size)) {
            Some(next) => at = next,
            None => return out.broken(None, "a SIS file record is cut short"),
        }
    }
}

/// `fixed + count * each`, if it does not overflow.
fn skip(fixed: usize, count: usize, each: usize) -> Option<usize> {
    count.checked_mul(each)?.checked_add(fixed)
}

/// The file record at `at` (record type 0: one file; 1: one per language) and its size.
fn file_record(bytes: &[u8], at: usize, header: &Header) -> Option<(FileRecord, usize)> {
    let word = |i: usize| le32(bytes, at.checked_add(i.checked_mul(4)?)?);
    let multilingual = word(0)? == 1;
    let forks = if multilingual { header.languages } else { 1 };
    // Release 6 adds, per fork, the original length, then a MIME type (length, offset).
    let per_fork = if header.release6 { 3 } else { 2 };
    let words = skip(7, forks, per_fork)?.checked_add(if header.release6 { 2 } else { 0 })?;
    word(words - 1)?; // the whole record is there: what follows is bounded by the input
    let forks = (0..forks)
        .map(|i| Some((word(7 + i)?, word(7 + forks + i)?)))
        .collect::<Option<Vec<_>>>()?;
    let record = FileRecord {
        kind: word(1)?,
        source: (word(3)?, word(4)?),
        target: (word(5)?, word(6)?),
        forks,
        multilingual,
    };
    Some((record, words.checked_mul(4)?))
}

/// Reads the files of one record. False when reading must stop.
fn files(
    bytes: &[u8],
    header: &Header,
    record: &FileRecord,
    index: usize,
    out: &mut Unpacked,
) -> bool {
    if record.kind == FILE_TYPE_NULL {
        return true;
    }
    let name = file_name(bytes, header, record, index);
    for (fork, &(len, offset)) in record.forks.iter().enumerate() {
        if len == 0 {
            continue;
        }
        let member = if record.multilingual {
            let code = le16(bytes, header.languages_at.saturating_add(fork * 2));
            format!("lang{}/{name}", code.map_or(fork, usize::from))
        } else {
            name.clone()
        };
        let (start, len) = (offset as usize, len as usize);
        let Some(data) = bytes.get(start..start.saturating_add(len).min(bytes.len())) else {
            out.broken(Some(member), "the file's data is past the end");
            continue;
        };
        if data.len() < len {
            out.broken(Some(member.clone()), "the file's data is cut short");
        }
        if !read_file(out, member, data, header.compressed) {
            return false;
        }
    }
    true
}

/// A record's file name: its destination path without the drive, else its source's leaf
/// name, else its place in the records.
fn file_name(bytes: &[u8], header: &Header, record: &FileRecord, index: usize) -> String {
    let target = clean_path(&string(bytes, header, record.target));
    if !target.is_empty() {
        return target;
    }
    let source = clean_path(&string(bytes, header, record.source));
    match source.rsplit('/').next() {
        Some(leaf) if !leaf.is_empty() => leaf.to_string(),
        _ => format!("file{index}"),
    }
}

/// The string of (length in bytes, offset): UCS-2 or 8-bit, as the header says.
fn string(bytes: &[u8], header: &Header, (len, offset): (u32, u32)) -> String {
    let start = offset as usize;
    let end = start.saturating_add((len as usize).min(NAME_MAX));
    let raw = bytes.get(start..end.min(bytes.len())).unwrap_or_default();
    if header.unicode {
        let units = raw
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes(pair.try_into().unwrap_or_default()));
        char::decode_utf16(units)
            .map(|c| c.unwrap_or('\u{FFFD}'))
            .collect()
    } else {
        raw.iter().map(|&b| char::from(b)).collect()
    }
}

/// `!:\system\apps\x.app` as `system/apps/x.app`: `/` between parts, no drive, no `.`/`..`.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = path.split(['\\', '/']).collect();
    if parts.first().is_some_and(|first| first.ends_with(':')) {
        parts.remove(0);
    }
    parts.retain(|part| !part.is_empty() && *part != "." && *part != "..");
    parts.join("/")
}

/// SIS9 field types on the way to the files' data.
const SIS9_ARRAY: u32 = 2;
const SIS9_COMPRESSED: u32 = 3;
const SIS9_DATA: u32 = 30;
const SIS9_DATA_UNIT: u32 = 31;
const SIS9_FILE_DATA: u32 = 32;

/// Reads a Symbian OS 9 file's data: every data unit (the package's, then those of the
/// packages embedded in it), each a list of files.
fn sis9(bytes: &[u8], out: &mut Unpacked) {
    let units = match data_units(bytes) {
        Ok(units) => units,
        Err(why) => return out.broken(None, why),
    };
    for (unit, body) in units.enumerate() {
        if !out.in_time() {
            return out.late(Some(format!("data{unit}")));
        }
        let files = match body.and_then(|(_, body)| array(body, SIS9_FILE_DATA)) {
            Ok(files) => files,
            Err(why) => return out.broken(Some(format!("data{unit}")), why),
        };
        if !sis9_unit(unit, files, out) {
            return;
        }
    }
}

/// The data units: SISContents holds checksums, the controller, then SISData, whose one
/// field is an SISArray of them.
fn data_units(bytes: &[u8]) -> Result<Fields<'_>, &'static str> {
    let contents = first_field(bytes, SIS9_CONTENTS)?;
    for field in Fields::typed(contents) {
        if let (SIS9_DATA, data) = field? {
            return array(data, SIS9_DATA_UNIT);
        }
    }
    Err("no SISData field")
}

/// Reads the files of one data unit, each an SISFileData holding an SISCompressed. False
/// when reading must stop.
fn sis9_unit(unit: usize, files: Fields<'_>, out: &mut Unpacked) -> bool {
    for (index, file) in files.enumerate() {
        let name = format!("data{unit}/file{index}");
        if !out.in_time() {
            out.late(Some(name));
            return false;
        }
        let go = match file.and_then(|(_, file)| first_field(file, SIS9_COMPRESSED)) {
            Ok(compressed) => sis9_file(compressed, name, out),
            Err(why) => {
                out.broken(Some(name), why);
                false
            }
        };
        if !go {
            return false;
        }
    }
    true
}

/// One SISCompressed: algorithm (0 stored, 1 zlib), uncompressed size (64 bits), data.
fn sis9_file(compressed: &[u8], name: String, out: &mut Unpacked) -> bool {
    let data = compressed.get(12..).unwrap_or_default();
    match le32(compressed, 0) {
        Some(0) => read_file(out, name, data, false),
        Some(1) => read_file(out, name, data, true),
        Some(n) => {
            out.unsupported(name, format!("SIS compression algorithm {n}"));
            true
        }
        None => {
            out.broken(Some(name), "SISCompressed is cut short");
            false
        }
    }
}

/// The contents of the first field of `bytes`, which must be of type `kind`.
fn first_field(bytes: &[u8], kind: u32) -> Result<&[u8], &'static str> {
    match Fields::typed(bytes).next() {
        Some(Ok((found, contents))) if found == kind => Ok(contents),
        Some(Err(why)) => Err(why),
        _ => Err("an unexpected SIS field"),
    }
}

/// The elements of the SISArray that is the first field of `bytes`, which must hold `kind`.
fn array(bytes: &[u8], kind: u32) -> Result<Fields<'_>, &'static str> {
    let contents = first_field(bytes, SIS9_ARRAY)?;
    if le32(contents, 0) != Some(kind) {
        return Err("an SISArray of unexpected elements");
    }
    Ok(Fields {
        bytes: contents.get(4..).unwrap_or_default(),
        at: 0,
        typed: false,
    })
}

/// SIS9 fields in a row: type (left out in an array's elements), length, contents padded to
/// 4 bytes. Yields the type (0 in arrays) and contents; stops after a damaged field.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
    typed: bool,
}

impl<'a> Fields<'a> {
    fn typed(bytes: &'a [u8]) -> Fields<'a> {
        Fields {
            bytes,
            at: 0,
            typed: true,
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, &'a [u8]), &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let at = self.at;
        self.at = self.bytes.len(); // until this field is found whole
        let (kind, len_at) = if self.typed {
            (le32(self.bytes, at), at + 4)
        } else {
            (Some(0), at)
        };
        let (Some(kind), Some(len)) = (kind, le32(self.bytes, len_at)) else {
            return Some(Err("a SIS field header is cut short"));
        };
        // A set top bit means a 64-bit length: more than this decoder reads.
        if len & 0x8000_0000 != 0 {
            return Some(Err("a SIS field of over 2 GiB"));
        }
        let start = len_at.saturating_add(4);
        let end = start.saturating_add(len as usize);
        let Some(contents) = self.bytes.get(start..end) else {
            return Some(Err("a SIS field runs past its container"));
        };
        self.at = start.saturating_add((len as usize).next_multiple_of(4));
        Some(Ok((kind, contents)))
    }
}

/// Keeps one file's data, inflated when `zlib`; what inflates before damage is kept too.
/// False when reading must stop: past the cap, or late.
fn read_file(out: &mut Unpacked, name: String, data: &[u8], zlib: bool) -> bool {
    let limit = out.room().saturating_add(1); // one past the room: `file` sees the cap
    if !zlib {
        let bytes = data.get(..limit).unwrap_or(data).to_vec();
        return bytes.is_empty() || out.file(name, bytes);
    }
    let mut reader = ZlibDecoder::new(data);
    let mut bytes = Vec::new();
    let mut damage = None;
    while bytes.len() < limit {
        if !out.in_time() {
            out.late(Some(name));
            return false;
        }
        let len = bytes.len();
        bytes.resize(len.saturating_add(CHUNK.min(limit - len)), 0);
        match reader.read(bytes.get_mut(len..).unwrap_or_default()) {
            Ok(n) => bytes.truncate(len.saturating_add(n)),
            Err(e) => {
                bytes.truncate(len);
                damage = Some(e.to_string());
            }
        }
        if damage.is_some() || bytes.len() == len {
            break;
        }
    }
    if !bytes.is_empty() && !out.file(name.clone(), bytes) {
        return false;
    }
    if let Some(why) = damage {
        out.broken(Some(name), why);
    }
    true
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    let half = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes(half.try_into().ok()?))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(word.try_into().ok()?))
}

#[cfg(test)]
#[path = "sis_tests.rs"]
mod tests;
