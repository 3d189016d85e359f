//! zip: the members every central directory lists (the one at the end, as unzip reads it, then
//! any other end-of-central-directory record in the bytes: concatenated zips), then every
//! local header that none of them accounts for (a zip whose directory is missing or lies, a
//! zip after another, a member hidden in the room a directory says another's compressed data
//! takes but its stream does not, as Java's `ZipInputStream` finds it). Every file, and every
//! entry with data whatever its mode or name says (a symbolic link, a name ending in `/` or
//! `\`: extractors write them as files), is a member. A member that cannot be read is a
//! problem; the walk goes on with the next, as unzip does. An encrypted member (ZipCrypto, WinZip
//! AES) listed by a directory is tried with the walk's passwords (`password`); one found only by
//! its local header is told of as encrypted.

use std::collections::HashSet;
use std::io::Cursor;
use std::time::Instant;

use memchr::memmem;
use zip::CompressionMethod;
use zip::result::ZipError;

use super::password::{self, Trial};
use super::{Coder, Counted, Flow, Format, Member, Problem, Seen, Visitor, visit_encrypted};
use crate::config::Password;

/// A zip archive read from memory.
type Archive<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// An end-of-central-directory record starts so, and is at least this long.
const END_MAGIC: &[u8] = b"PK\x05\x06";
const END_LEN: usize = 22;
const LOCAL_MAGIC: &[u8] = b"PK\x03\x04";
/// A local header's fixed part, before its name and extra field.
const LOCAL_LEN: usize = 30;
/// Central directories read besides the last one: concatenated zips are a handful, not more.
const MAX_OTHER_DIRECTORIES: usize = 16;

/// What the walk has read: what it saw of the bytes, and the local headers' offsets.
#[derive(Default)]
struct Walked {
    seen: Seen,
    headers: HashSet<usize>,
}

/// Where a member's data lies, and how it is stored.
struct Data {
    range: std::ops::Range<usize>,
    /// What compressed it; `None` when stored as is (not compressed, not encrypted): the
    /// bytes read are the member's.
    coder: Option<Coder>,
}

impl Data {
    fn new(range: std::ops::Range<usize>, method: CompressionMethod, encrypted: bool) -> Data {
        let coder = match method {
            _ if encrypted => Some(Coder::AsSaid),
            CompressionMethod::Stored => None,
            CompressionMethod::Deflated => Some(Coder::Deflate),
            CompressionMethod::Bzip2 => Some(Coder::Bzip2),
            CompressionMethod::Zstd => Some(Coder::Zstd),
            CompressionMethod::Xz => Some(Coder::Xz),
            _ => Some(Coder::AsSaid),
        };
        Data { range, coder }
    }
}

/// Walks every member of the zip `bytes` that its directories or its local headers show.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Seen {
    let mut walked = Walked::default();
    if directory(bytes, &mut walked, visit) == Flow::Stop
        || other_directories(bytes, &mut walked, visit) == Flow::Stop
    {
        return walked.seen;
    }
    local_headers(bytes, &mut walked, visit);
    walked.seen
}

/// The directories of every end-of-central-directory record but the last one, last first,
/// but for those inside a member's bytes (that member's, walked itself).
fn other_directories(bytes: &[u8], walked: &mut Walked, visit: &mut dyn Visitor) -> Flow {
    let mut read = 0;
    for at in memmem::rfind_iter(bytes, END_MAGIC) {
        let Some(end) = directory_end(bytes, at) else {
            continue;
        };
        // Inside a member's bytes, or a compressed stream (a copy of what it decodes to, or
        // chance), a record is no directory of this zip.
        if walked.seen.read(at)
            || (walked.seen.in_packed(at) && walked.seen.in_stream(at, bytes, visit.measure()))
        {
            continue;
        }
        if read == MAX_OTHER_DIRECTORIES {
            let why = format!(
                "more than {MAX_OTHER_DIRECTORIES} other end of central directory records: \
                 those before {at} not read"
            );
            return visit.problem(Problem::broken(None, why));
        }
        read += 1;
        if directory(&bytes[..end], walked, visit) == Flow::Stop {
            return Flow::Stop;
        }
    }
    Flow::Continue
}

/// Where the end-of-central-directory record at `at` ends (with its comment), unless that is
/// the end of `bytes` (the last directory, read first) or beyond it.
fn directory_end(bytes: &[u8], at: usize) -> Option<usize> {
    let comment = bytes.get(at + 20..at + 22)?;
    let end = at + END_LEN + usize::from(u16::from_le_bytes([comment[0], comment[1]]));
    (end < bytes.len()).then_some(end)
}

/// The members the central directory at the end of `bytes` lists, each once (by the offset
/// of its local header). A member whose header lies inside another's data is read all the
/// same: unzip extracts it.
fn directory(bytes: &[u8], walked: &mut Walked, visit: &mut dyn Visitor) -> Flow {
    let mut archive = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(archive) => archive,
        Err(e) => return visit.problem(Problem::broken(None, format!("central directory: {e}"))),
    };
    for i in 0..archive.len() {
        let name = archive
            .name_for_index(i)
            .and_then(Result::ok)
            .map_or_else(|| format!("#{i}"), |n| n.into_owned());
        let (start, data) = match archive.by_index_raw(i) {
            Ok(raw) => {
                let start = raw.header_start() as usize;
                let data_start = raw.data_start().map_or(start, |d| d as usize);
                let end = data_start.saturating_add(raw.compressed_size() as usize);
                let range = data_start..end.min(bytes.len());
                (start, Data::new(range, raw.compression(), raw.encrypted()))
            }
            Err(e) => match visit.problem(problem(name, e)) {
                Flow::Stop => return Flow::Stop,
                Flow::Continue | Flow::Skip => continue,
            },
        };
        if !walked.headers.insert(start) {
            continue;
        }
        walked.seen.header(Format::Zip, start..start);
        let (flow, read) = entry(&mut archive, i, name, visit);
        account(&mut walked.seen, data, read);
        if flow == Flow::Stop {
            return Flow::Stop;
        }
    }
    Flow::Continue
}

/// Notes what was read of a member's `data`: the bytes read if it is stored, else the room
/// its data is said to take, which holds compressed (or encrypted) bytes.
fn account(seen: &mut Seen, data: Data, read: usize) {
    match data.coder {
        None => seen.content(data.range.start..data.range.start.saturating_add(read)),
        Some(coder) => seen.packed(data.range, coder),
    }
}

/// Hands member `i` to `visit`, or says why it cannot be read; with the bytes read.
fn entry(
    archive: &mut Archive<'_>,
    i: usize,
    name: String,
    visit: &mut dyn Visitor,
) -> (Flow, usize) {
    match archive.by_index(i) {
        Ok(mut file) if has_data(&file) => return hand_over(&mut file, name, visit),
        Ok(_) => return (Flow::Continue, 0),
        Err(ZipError::UnsupportedArchive(ZipError::PASSWORD_REQUIRED)) => {}
        Err(e) => return (visit.problem(problem(name, e)), 0),
    }
    encrypted_entry(archive, i, name, visit)
}

/// Hands `file`, whose bytes can be read, to `visit`; with the bytes read.
fn hand_over<R: std::io::Read>(
    file: &mut zip::read::ZipFile<'_, R>,
    name: String,
    visit: &mut dyn Visitor,
) -> (Flow, usize) {
    let mut counted = Counted::new(file);
    let flow = visit.member(Member {
        name,
        reader: &mut counted,
        encrypted: false,
        stream: false,
        parts: None,
    });
    (flow, counted.read())
}

/// Encrypted member `i`: opened with the first of the visitor's passwords that fits, and
/// handed over as any member; else told of as encrypted.
fn encrypted_entry(
    archive: &mut Archive<'_>,
    i: usize,
    name: String,
    visit: &mut dyn Visitor,
) -> (Flow, usize) {
    let Some(password) = fitting(archive, i, visit) else {
        return (visit_encrypted(visit, name), 0);
    };
    match archive.by_index_decrypt(i, password.as_str().as_bytes()) {
        Ok(mut file) if has_data(&file) => {
            visit.opened(&name);
            hand_over(&mut file, name, visit)
        }
        Ok(_) => (Flow::Continue, 0),
        Err(e) => (visit.problem(problem(name, e)), 0),
    }
}

/// The first of the visitor's passwords that opens member `i` and whose bytes check out to
/// their end (CRC-32, or AES's authentication code): ZipCrypto's one-byte check lets 1 wrong
/// password in 256 through. Only encrypted members pay for this.
fn fitting(archive: &mut Archive<'_>, i: usize, visit: &dyn Visitor) -> Option<Password> {
    let measure = visit.whole();
    for password in visit.passwords() {
        if Instant::now() >= measure.deadline {
            return None;
        }
        let trial = match archive.by_index_decrypt(i, password.as_str().as_bytes()) {
            Ok(mut file) => password::trial(&mut file, measure),
            // A wrong password, or what no password can open (a method not decoded here).
            Err(_) => Trial::Wrong,
        };
        match trial {
            Trial::Fits => return Some(password.clone()),
            Trial::Wrong => continue,
            Trial::Undecided => return None,
        }
    }
    None
}

/// True for an entry that is a file, or has data whatever it says it is: a symbolic link
/// (its target, which extractors that do not make links write as a file), a name ending in
/// `/` or `\` (which Windows and Python write as a file when it has data).
fn has_data<R: std::io::Read>(file: &zip::read::ZipFile<'_, R>) -> bool {
    file.is_file() || file.compressed_size() > 0 || file.size() > 0
}

/// Every local header that no directory accounted for, read as unzip's streaming mode would,
/// but for those inside a member's bytes, or inside a compressed stream (a copy of what it
/// decodes to, or chance: a header there that names no method zip knows is not even measured
/// for). One after a stream's real end, in the room said to be its member's, is read.
fn local_headers(bytes: &[u8], walked: &mut Walked, visit: &mut dyn Visitor) {
    for at in memmem::find_iter(bytes, LOCAL_MAGIC) {
        if walked.headers.contains(&at) || walked.seen.read(at) {
            continue;
        }
        if walked.seen.in_packed(at)
            && (!known_method(&bytes[at..]) || walked.seen.in_stream(at, bytes, visit.measure()))
        {
            continue;
        }
        walked.headers.insert(at);
        walked.seen.header(Format::Zip, at..at);
        if local(bytes, at, walked, visit) == Flow::Stop {
            return;
        }
    }
}

/// Reads the member whose local header is at `at`. A member with a data descriptor has no
/// size before its data: it is decoded to its end, or to the end of the bytes if stored, and
/// accounts only for its header, so that the headers after it are still read.
fn local(bytes: &[u8], at: usize, walked: &mut Walked, visit: &mut dyn Visitor) -> Flow {
    let mut cursor = Cursor::new(&bytes[at..]);
    let known = (bytes.len() - at) as u64;
    let (flow, data, read) =
        match zip::read::read_zipfile_from_stream_with_compressed_size(&mut cursor, known) {
            Ok(Some(mut file)) => {
                let name = file
                    .name()
                    .map_or_else(|_| format!("@{at}"), |n| n.into_owned());
                let data = (!file.flags().is_using_data_descriptor()).then(|| {
                    let start = at + local_len(&bytes[at..]);
                    let range = start..start.saturating_add(file.compressed_size() as usize);
                    Data::new(range, file.compression(), file.encrypted())
                });
                let (flow, read) = if !has_data(&file) {
                    (Flow::Continue, 0)
                } else if file.encrypted() {
                    (visit_encrypted(visit, name), 0)
                } else {
                    hand_over(&mut file, name, visit)
                };
                (flow, data, read)
            }
            Ok(None) => (Flow::Continue, None, 0),
            Err(ZipError::UnsupportedArchive(ZipError::PASSWORD_REQUIRED)) => {
                (visit_encrypted(visit, format!("@{at}")), None, 0)
            }
            // A local header alone names no member: the bytes may only look like one.
            Err(e) => {
                let problem = Problem::broken(None, format!("local header at {at}: {e}"));
                (visit.problem(problem), None, 0)
            }
        };
    if let Some(data) = data {
        let end = data.range.end.min(bytes.len());
        account(
            &mut walked.seen,
            Data {
                range: data.range.start..end,
                ..data
            },
            read,
        );
    }
    flow
}

/// The length of the local header `bytes` start with: its fixed part, name and extra field.
fn local_len(bytes: &[u8]) -> usize {
    let field = |at: usize| {
        bytes
            .get(at..at + 2)
            .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])))
    };
    LOCAL_LEN + field(26) + field(28)
}

/// True when the local header `bytes` start with names a compression method the zip
/// specification lists (APPNOTE 4.4.5: 0 to 20, 93 to 99): no extractor reads a member in
/// another, so a header that names none is chance (only 1 in 2,340 chance headers names one).
pub(crate) fn known_method(bytes: &[u8]) -> bool {
    bytes
        .get(8..10)
        .map(|m| u16::from_le_bytes([m[0], m[1]]))
        .is_some_and(|m| m <= 20 || (93..=99).contains(&m))
}

/// What a member's error means: a method not decoded here, or damage.
fn problem(name: String, e: ZipError) -> Problem {
    match e {
        ZipError::CompressionMethodNotSupported(_) | ZipError::UnsupportedArchive(_) => {
            Problem::unsupported(name, e)
        }
        e => Problem::broken(Some(name), e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_header_names_a_method_zip_knows() {
        let header = |method: u16| {
            let mut h = b"PK\x03\x04\x14\x00\x00\x00".to_vec();
            h.extend_from_slice(&method.to_le_bytes());
            h
        };
        for method in [0, 8, 12, 14, 20, 93, 95, 99] {
            assert!(known_method(&header(method)), "{method}");
        }
        for method in [21, 92, 100, 0x4b50, u16::MAX] {
            assert!(!known_method(&header(method)), "{method}");
        }
        assert!(!known_method(b"PK\x03\x04"), "cut short");
    }

    #[test]
    fn a_local_header_is_as_long_as_its_name_and_extra_field() {
        let mut h = vec![0u8; 30];
        h[26] = 5;
        h[28] = 4;
        assert_eq!(local_len(&h), 39);
        assert_eq!(local_len(&h[..20]), 30, "cut short: the fixed part");
    }
}
