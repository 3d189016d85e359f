//! zip: the members every central directory lists (the one at the end, as unzip reads it, then
//! any other end-of-central-directory record in the bytes: concatenated zips), then every
//! local header that none of them accounts for (a zip whose directory is missing or lies, a
//! zip after another). A member that cannot be read is a problem; the walk goes on with the
//! next, as unzip does.

use std::collections::HashSet;
use std::io::Cursor;

use memchr::memmem;
use zip::result::ZipError;

use super::{Flow, Member, Problem, Spans, Visitor, visit_encrypted};

/// An end-of-central-directory record starts so, and is at least this long.
const END_MAGIC: &[u8] = b"PK\x05\x06";
const END_LEN: usize = 22;
const LOCAL_MAGIC: &[u8] = b"PK\x03\x04";
/// Central directories read besides the last one: concatenated zips are a handful, not more.
const MAX_OTHER_DIRECTORIES: usize = 16;

/// What the walk has read: the members' spans, and their local headers' offsets.
#[derive(Default)]
struct Seen {
    spans: Spans,
    headers: HashSet<usize>,
}

/// Walks every member of the zip `bytes` that its directories or its local headers show.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Spans {
    let mut seen = Seen::default();
    if directory(bytes, &mut seen, visit) == Flow::Stop {
        return seen.spans;
    }
    for end in other_directory_ends(bytes).take(MAX_OTHER_DIRECTORIES) {
        // A directory inside a member's data belongs to that member, which is walked itself.
        if !seen.spans.covers(end - END_LEN)
            && directory(&bytes[..end], &mut seen, visit) == Flow::Stop
        {
            return seen.spans;
        }
    }
    local_headers(bytes, &mut seen.spans, visit);
    seen.spans
}

/// Where each end-of-central-directory record but the last one ends, last first.
fn other_directory_ends(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memmem::rfind_iter(bytes, END_MAGIC)
        .filter_map(move |at| {
            let comment = bytes.get(at + 20..at + 22)?;
            let end = at + END_LEN + usize::from(u16::from_le_bytes([comment[0], comment[1]]));
            (end <= bytes.len()).then_some(end)
        })
        .filter(move |end| *end < bytes.len())
}

/// The members the central directory at the end of `bytes` lists, each once (by the offset
/// of its local header). A member whose header lies inside another's data is read all the
/// same: unzip extracts it.
fn directory(bytes: &[u8], seen: &mut Seen, visit: &mut dyn Visitor) -> Flow {
    let mut archive = match zip::ZipArchive::new(Cursor::new(bytes)) {
        Ok(archive) => archive,
        Err(e) => return visit.problem(Problem::broken(None, format!("central directory: {e}"))),
    };
    for i in 0..archive.len() {
        let name = archive
            .name_for_index(i)
            .and_then(Result::ok)
            .map_or_else(|| format!("#{i}"), |n| n.into_owned());
        let span = match archive.by_index_raw(i) {
            Ok(raw) => {
                let start = raw.header_start() as usize;
                let end = raw
                    .data_start()
                    .map_or(start, |d| (d + raw.compressed_size()) as usize);
                if !seen.headers.insert(start) {
                    continue;
                }
                start..end
            }
            Err(e) => match visit.problem(problem(name, e)) {
                Flow::Stop => return Flow::Stop,
                Flow::Continue | Flow::Skip => continue,
            },
        };
        seen.spans.add(span);
        if entry(&mut archive, i, name, visit) == Flow::Stop {
            return Flow::Stop;
        }
    }
    Flow::Continue
}

/// Hands member `i` to `visit`, or says why it cannot be read.
fn entry(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    i: usize,
    name: String,
    visit: &mut dyn Visitor,
) -> Flow {
    match archive.by_index(i) {
        Ok(mut file) if file.is_file() => {
            let encrypted = file.encrypted();
            visit.member(Member {
                name,
                reader: &mut file,
                encrypted,
                stream: false,
            })
        }
        Ok(_) => Flow::Continue,
        Err(ZipError::UnsupportedArchive(ZipError::PASSWORD_REQUIRED)) => {
            visit_encrypted(visit, name)
        }
        Err(e) => visit.problem(problem(name, e)),
    }
}

/// Every local header that no directory accounted for, read as unzip's streaming mode would.
fn local_headers(bytes: &[u8], seen: &mut Spans, visit: &mut dyn Visitor) {
    for at in memmem::find_iter(bytes, LOCAL_MAGIC) {
        if seen.covers(at) {
            continue;
        }
        let (flow, end) = local(&bytes[at..], at, visit);
        seen.add(at..at + end);
        if flow == Flow::Stop {
            return;
        }
    }
}

/// Reads the member whose local header starts `bytes` (at `at` in the container); returns
/// how far its data is known to go. A member with a data descriptor has no size before its
/// data: it is decoded to its end, or to the end of the bytes if stored, and accounts only for
/// its header, so that the headers after it are still read.
fn local(bytes: &[u8], at: usize, visit: &mut dyn Visitor) -> (Flow, usize) {
    let mut cursor = Cursor::new(bytes);
    let known = bytes.len() as u64;
    let (flow, descriptor) =
        match zip::read::read_zipfile_from_stream_with_compressed_size(&mut cursor, known) {
            Ok(Some(mut file)) => {
                let name = file
                    .name()
                    .map_or_else(|_| format!("@{at}"), |n| n.into_owned());
                let descriptor = file.flags().is_using_data_descriptor();
                let flow = if !file.is_file() {
                    Flow::Continue
                } else if file.encrypted() {
                    visit_encrypted(visit, name)
                } else {
                    let encrypted = false;
                    visit.member(Member {
                        name,
                        reader: &mut file,
                        encrypted,
                        stream: false,
                    })
                };
                (flow, descriptor)
            }
            Ok(None) => (Flow::Continue, true),
            Err(ZipError::UnsupportedArchive(ZipError::PASSWORD_REQUIRED)) => {
                (visit_encrypted(visit, format!("@{at}")), true)
            }
            // A local header alone names no member: the bytes may only look like one.
            Err(e) => {
                let problem = Problem::broken(None, format!("local header at {at}: {e}"));
                (visit.problem(problem), true)
            }
        };
    // Dropping the member left the cursor after its data.
    let end = if descriptor {
        0
    } else {
        cursor.position() as usize
    };
    (flow, end)
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
