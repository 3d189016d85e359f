//! Compressed streams (gzip, bzip2, xz, zstd): one member, the decoded bytes. A stream is
//! recognised once its header parses (`stream_header`); bytes whose header does not are only
//! noted, but once it parses any error (a dictionary or window over the decoder's limit, an
//! option not decoded here, a dictionary required, damage) is the walk's to judge, never only
//! noted. A gzip file's members are decoded one after the other, as `gzip -d` does, and noted
//! (`Parts`), so that each is also scanned alone: browsers' decoders stop after the first.

use std::cell::RefCell;
use std::io::Read;
use std::ops::Range;

use super::{Coder, DECODER_MEMORY_KIB, Format, Member, Problem, Seen, Visitor};

/// A bzip2 block's magic, and its end-of-stream magic: one follows the `BZh` level.
const BZIP2_MAGICS: [[u8; 6]; 2] = [
    [0x31, 0x41, 0x59, 0x26, 0x53, 0x59],
    [0x17, 0x72, 0x45, 0x38, 0x50, 0x90],
];

/// A compressed stream's format: the formats this file decodes, and no other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumCount)]
pub enum Stream {
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Stream {
    /// Every stream format.
    /// As long as there are variants (strum's `EnumCount`), none twice (a unit test): every
    /// one, so a new format cannot be left out.
    pub const ALL: [Stream; <Stream as strum::EnumCount>::COUNT] =
        [Stream::Gzip, Stream::Bzip2, Stream::Xz, Stream::Zstd];
}

impl From<Stream> for Format {
    fn from(stream: Stream) -> Format {
        match stream {
            Stream::Gzip => Format::Gzip,
            Stream::Bzip2 => Format::Bzip2,
            Stream::Xz => Format::Xz,
            Stream::Zstd => Format::Zstd,
        }
    }
}

/// Hands the decoded bytes of the `stream` `bytes` (named `name`) to `visit`. At the start of
/// an object, concatenated streams are one (as gunzip reads them); embedded in other bytes, a
/// stream ends with its first.
pub(super) fn walk(
    stream: Stream,
    name: &str,
    bytes: &[u8],
    embedded: bool,
    visit: &mut dyn Visitor,
) -> Seen {
    let mut seen = Seen::default();
    seen.header(stream.into(), 0..0);
    if let Err(why) = stream_header(stream, bytes) {
        // Bytes that only looked like a stream: no member.
        visit.problem(Problem::broken(None, why));
        return seen;
    }
    let member = stream_member_name(name);
    let parts = Parts::default();
    let mut reader = match decoder(stream, bytes, embedded, &parts) {
        Ok(reader) => reader,
        Err(e) => {
            visit.problem(Problem::broken(Some(member), e));
            return seen;
        }
    };
    visit.member(Member {
        name: member,
        reader: &mut reader,
        encrypted: false,
        stream: true,
        parts: (stream == Stream::Gzip && !embedded).then_some(&parts),
    });
    drop(reader);
    account(stream, bytes.len(), embedded, &parts, &mut seen);
    seen
}

/// A reader of the `stream` `bytes` decoded (its gzip members noted in `parts`).
fn decoder<'a>(
    stream: Stream,
    bytes: &'a [u8],
    embedded: bool,
    parts: &'a Parts,
) -> std::io::Result<Box<dyn Read + 'a>> {
    Ok(match (stream, embedded) {
        (Stream::Gzip, _) => Box::new(GzipMembers::new(bytes, embedded, Some(parts))),
        (Stream::Bzip2, false) => Box::new(bzip2::read::MultiBzDecoder::new(bytes)),
        (Stream::Bzip2, true) => Box::new(bzip2::read::BzDecoder::new(bytes)),
        (Stream::Xz, _) => Box::new(lzma_rust2::XzReader::new_mem_limit(
            bytes,
            !embedded,
            DECODER_MEMORY_KIB as u32,
        )),
        (Stream::Zstd, _) => {
            let decoder = zstd::stream::read::Decoder::with_buffer(bytes)?;
            match embedded {
                true => Box::new(decoder.single_frame()),
                false => Box::new(decoder),
            }
        }
    })
}

/// Notes in `seen` what the stream of `len` bytes took: its gzip members (`parts`) where
/// they lie, and the rest as far as the stream goes.
fn account(stream: Stream, len: usize, embedded: bool, parts: &Parts, seen: &mut Seen) {
    let members = parts.packed();
    for member in &members {
        seen.header(stream.into(), member.start..member.start);
        seen.packed(member.clone(), Coder::AsSaid);
    }
    let coder = match (stream, embedded) {
        // A gzip file is its members, measured as they were decoded; what follows the last
        // one decoded in full is a member that broke (measured if asked), or zero padding.
        (Stream::Gzip, false) => {
            let from = members.last().map_or(0, |m| m.end);
            seen.packed(from..len, Coder::Gzip);
            return;
        }
        // At the start of an object, another stream is all its bytes (anything after it
        // does not decode, and the walk says so).
        (Stream::Bzip2 | Stream::Xz | Stream::Zstd, false) => Coder::AsSaid,
        // Inside other bytes, a stream ends where its decoder stops: measured if asked.
        (Stream::Gzip, true) if !members.is_empty() => return,
        (Stream::Gzip, true) => Coder::Gzip,
        (Stream::Bzip2, true) => Coder::Bzip2,
        (Stream::Xz, true) => Coder::Xz,
        (Stream::Zstd, true) => Coder::Zstd,
    };
    seen.packed(0..len, coder);
}

/// Why `bytes` do not start with a header of a `stream` that parses, if they do not:
/// gzip's member header and its first deflate block's type (what `gzip -d` reads before any
/// byte comes out), bzip2's `BZh` level and its first block's (or end's) magic, xz's stream
/// header (its CRC32 right), zstd's frame header.
pub(crate) fn stream_header(stream: Stream, bytes: &[u8]) -> Result<(), String> {
    match stream {
        Stream::Gzip => gzip_header(bytes),
        Stream::Bzip2 => {
            let level = bytes.get(3).is_some_and(|l| (b'1'..=b'9').contains(l));
            let block = bytes
                .get(4..10)
                .is_some_and(|m| BZIP2_MAGICS.iter().any(|magic| magic == m));
            match bytes.starts_with(b"BZh") && level && block {
                true => Ok(()),
                false => Err("no bzip2 header".into()),
            }
        }
        Stream::Xz => xz_header(bytes),
        Stream::Zstd => zstd::zstd_safe::get_frame_content_size(bytes)
            .map(drop)
            .map_err(|_| "no zstd frame header".into()),
    }
}

fn gzip_header(bytes: &[u8]) -> Result<(), String> {
    let decoder = flate2::bufread::GzDecoder::new(bytes);
    if decoder.header().is_none() {
        return Err("no gzip header".into());
    }
    // The header read, what is left starts with the first deflate block: its type is in the
    // 2nd and 3rd bits, and 3 is reserved (no decoder reads one).
    match decoder.get_ref().first() {
        None => Err("a gzip header and nothing after it".into()),
        Some(b) if (b >> 1) & 3 == 3 => Err("a gzip header, then no deflate block".into()),
        Some(_) => Ok(()),
    }
}

fn xz_header(bytes: &[u8]) -> Result<(), String> {
    let mut xz = lzma_rust2::XzStream::new(false);
    xz.set_stop_after_stream_header(true)
        .map_err(|e| e.to_string())?;
    let head = &bytes[..bytes.len().min(12)];
    match xz.process(head, &mut [], lzma_rust2::Action::Run) {
        Ok(_) if xz.streams_started() > 0 => Ok(()),
        Ok(_) => Err("an xz stream header cut short".into()),
        Err(e) => Err(format!("no xz stream header: {e}")),
    }
}

/// True when the gzip header `bytes` start with says what gzip writers say: compression
/// level flags of 0, 2 or 4, and a known operating system (0 to 13, or 255, unknown). Asked
/// only of a gzip signature inside compressed data, where one turns up by chance.
pub(crate) fn gzip_is_usual(bytes: &[u8]) -> bool {
    let xfl = bytes.get(8).is_some_and(|x| [0, 2, 4].contains(x));
    let os = bytes.get(9).is_some_and(|o| *o <= 13 || *o == 255);
    xfl && os
}

/// A gzip file's members, noted as they are decoded: where each lies in the file, and where
/// its bytes lie among the decoded ones. Only members decoded to their end are noted.
#[derive(Debug, Default)]
pub struct Parts(RefCell<Vec<Part>>);

#[derive(Debug, Clone)]
struct Part {
    packed: Range<usize>,
    decoded: Range<usize>,
}

impl Parts {
    /// Where each member's bytes lie in the decoded bytes, in order.
    pub fn decoded(&self) -> Vec<Range<usize>> {
        self.0.borrow().iter().map(|p| p.decoded.clone()).collect()
    }

    /// Where each member lies in the file, in order.
    pub fn packed(&self) -> Vec<Range<usize>> {
        self.0.borrow().iter().map(|p| p.packed.clone()).collect()
    }
}

/// A gzip file's members one after the other, as `gzip -d` reads them: zero bytes after a
/// member (the padding that tar's blocking and tapes add, which gzip ignores) end the file;
/// anything else must be another member, or the file is broken. `single`: the first member
/// only (a stream found inside other bytes, which go on after it).
pub struct GzipMembers<'a> {
    len: usize,
    member: Option<flate2::bufread::GzDecoder<&'a [u8]>>,
    /// Where the member being decoded starts in the file, and in the decoded bytes.
    start: (usize, usize),
    /// The bytes decoded so far.
    decoded: usize,
    single: bool,
    parts: Option<&'a Parts>,
}

impl<'a> GzipMembers<'a> {
    /// The members of `bytes` (the first only if `single`), noted in `parts` if given.
    pub fn new(bytes: &'a [u8], single: bool, parts: Option<&'a Parts>) -> GzipMembers<'a> {
        GzipMembers {
            len: bytes.len(),
            member: Some(flate2::bufread::GzDecoder::new(bytes)),
            start: (0, 0),
            decoded: 0,
            single,
            parts,
        }
    }
}

impl Read for GzipMembers<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(member) = &mut self.member {
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.decoded += n;
                return Ok(n);
            }
            // The member ended: its decoder read exactly up to the end of its trailer.
            let rest = self.member.take().map_or(&[][..], |m| m.into_inner());
            let end = self.len - rest.len();
            if let Some(parts) = self.parts {
                parts.0.borrow_mut().push(Part {
                    packed: self.start.0..end,
                    decoded: self.start.1..self.decoded,
                });
            }
            if !self.single && rest.iter().any(|&b| b != 0) {
                self.start = (end, self.decoded);
                self.member = Some(flate2::bufread::GzDecoder::new(rest));
            }
        }
        Ok(0)
    }
}

/// `report.tar.gz` → `report.tar`; `notes.gz` → `notes`; `data` → `data`.
fn stream_member_name(name: &str) -> String {
    const SUFFIXES: [(&str, &str); 8] = [
        (".gz", ""),
        (".bz2", ""),
        (".xz", ""),
        (".zst", ""),
        (".tgz", ".tar"),
        (".tbz2", ".tar"),
        (".txz", ".tar"),
        (".tzst", ".tar"),
    ];
    for (suffix, instead) in SUFFIXES {
        if let Some(stem) = name.strip_suffix(suffix).filter(|s| !s.is_empty()) {
            return format!("{stem}{instead}");
        }
    }
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn every_stream_is_listed_once() {
        let mut seen = Stream::ALL.to_vec();
        seen.sort_by_key(|v| format!("{v:?}"));
        seen.dedup();
        assert_eq!(seen.len(), Stream::ALL.len());
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_members_are_read_in_turn_and_zero_padding_ends_them() {
        let read = |bytes: &[u8]| {
            let mut out = Vec::new();
            GzipMembers::new(bytes, false, None)
                .read_to_end(&mut out)
                .map(|_| out)
        };
        let two = [gz(b"one "), gz(b"two")].concat();
        assert_eq!(read(&two).unwrap(), b"one two");
        let padded = [two.clone(), vec![0; 1024]].concat();
        assert_eq!(read(&padded).unwrap(), b"one two");
        // A member whose size ends in zero bytes (256: 00 01 00 00) keeps its trailer whole.
        assert_eq!(
            read(&[gz(&[7; 256]), vec![0; 10]].concat()).unwrap(),
            vec![7; 256]
        );
        assert!(
            read(&[two, b"junk".to_vec()].concat()).is_err(),
            "trailing garbage"
        );
    }

    #[test]
    fn each_gzip_member_is_noted_where_it_lies_before_and_after_decoding() {
        let (first, second) = (gz(b"one "), gz(b"two"));
        let file = [first.clone(), second.clone(), vec![0; 7]].concat();
        let parts = Parts::default();
        let mut out = Vec::new();
        GzipMembers::new(&file, false, Some(&parts))
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(parts.decoded(), [0..4, 4..7]);
        let end = first.len() + second.len();
        assert_eq!(parts.packed(), [0..first.len(), first.len()..end]);
        // Only the first, inside other bytes.
        let parts = Parts::default();
        let mut out = Vec::new();
        GzipMembers::new(&file, true, Some(&parts))
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"one ");
        let decoded = parts.decoded();
        assert_eq!((decoded.len(), decoded.first()), (1, Some(&(0..4))));
    }

    #[test]
    fn a_stream_is_recognised_by_a_header_that_parses() {
        let text = b"some text, some text";
        assert_eq!(stream_header(Stream::Gzip, &gz(text)), Ok(()));
        let header_only = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        assert!(stream_header(Stream::Gzip, &header_only).is_err());
        let reserved = [&header_only[..], &[0xff, 0xff]].concat();
        assert!(stream_header(Stream::Gzip, &reserved).is_err());
        assert!(stream_header(Stream::Gzip, &[0x1f, 0x8b, 9, 0]).is_err());
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(text).unwrap();
        let bz = bz.finish().unwrap();
        assert_eq!(stream_header(Stream::Bzip2, &bz), Ok(()));
        assert!(stream_header(Stream::Bzip2, b"BZh9 and no block").is_err());
        let options = lzma_rust2::XzOptions::with_preset(1);
        let mut xz = lzma_rust2::XzWriter::new(Vec::new(), options).unwrap();
        xz.write_all(text).unwrap();
        let mut xz = xz.finish().unwrap();
        assert_eq!(stream_header(Stream::Xz, &xz), Ok(()));
        xz[7] ^= 1;
        assert!(stream_header(Stream::Xz, &xz).is_err(), "its CRC32");
        let zst = zstd::encode_all(&text[..], 1).unwrap();
        assert_eq!(stream_header(Stream::Zstd, &zst), Ok(()));
        assert!(stream_header(Stream::Zstd, &zst[..4]).is_err());
    }

    #[test]
    fn a_gzip_header_is_usual_as_writers_write_it() {
        assert!(gzip_is_usual(&gz(b"x")));
        let mut odd = gz(b"x");
        odd[8] = 7;
        assert!(!gzip_is_usual(&odd));
    }

    #[test]
    fn a_stream_member_is_named_after_the_stream() {
        assert_eq!(stream_member_name("a/report.tar.gz"), "a/report.tar");
        assert_eq!(stream_member_name("x.tgz"), "x.tar");
        assert_eq!(stream_member_name("notes.zst"), "notes");
        assert_eq!(stream_member_name("data"), "data");
    }
}
