//! The containers looked into, told apart by their first bytes, and their members handed one
//! at a time to a [`Visitor`] as readers: zip (`zip`), tar (`tar`), 7z (`seven_z`), and gzip,
//! bzip2, xz and zstd streams (here). Decoding is the kept crates' work; these files name
//! members, go on past damage where the format allows (as GNU tar and unzip do), and report
//! what they could not read as [`Problem`]s, which the walk turns into a verdict.

use std::io::Read;
use std::ops::Range;

mod seven_z;
mod tar;
mod zip;

pub(crate) use self::tar::is_header as is_tar_header;

/// A container format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A zip archive (also Office documents, jars, apks).
    Zip,
    /// A tar archive.
    Tar,
    /// A 7z archive.
    SevenZ,
    /// A gzip stream.
    Gzip,
    /// A bzip2 stream.
    Bzip2,
    /// An xz stream.
    Xz,
    /// A zstd stream.
    Zstd,
}

/// Where a tar header's `ustar` magic is.
pub const TAR_MAGIC_AT: usize = 257;

/// The most memory a decoder's dictionary or model may take (7z, xz): a container that asks
/// for more is not decoded. Decoders' memory is not held against the budget; this bounds it.
pub const DECODER_MEMORY_KIB: usize = 256 * 1024;

impl Format {
    /// Every format, in the order [`Format::sniff`] tries them.
    pub const ALL: [Format; 7] = [
        Format::Zip,
        Format::Gzip,
        Format::Bzip2,
        Format::Xz,
        Format::Zstd,
        Format::SevenZ,
        Format::Tar,
    ];

    /// The format `bytes` start with, if any.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(b"PK\x05\x06") {
            // An empty zip: its end of central directory alone.
            return Some(Format::Zip);
        }
        Format::ALL.into_iter().find(|f| f.starts(bytes))
    }

    /// True when `bytes` start as a container of this format does.
    pub fn starts(self, bytes: &[u8]) -> bool {
        match self {
            Format::Tar => bytes
                .get(TAR_MAGIC_AT..)
                .is_some_and(|b| b.starts_with(self.magic())),
            _ => bytes.starts_with(self.magic()),
        }
    }

    /// Where its magic is found in a container of this format.
    pub fn magic_at(self) -> usize {
        match self {
            Format::Tar => TAR_MAGIC_AT,
            _ => 0,
        }
    }

    /// The bytes a container of this format starts with (for tar, those at [`Format::magic_at`]).
    pub fn magic(self) -> &'static [u8] {
        match self {
            Format::Zip => b"PK\x03\x04",
            Format::Gzip => &[0x1f, 0x8b],
            Format::Bzip2 => b"BZh",
            Format::Xz => &[0xfd, b'7', b'z', b'X', b'Z', 0],
            Format::Zstd => &[0x28, 0xb5, 0x2f, 0xfd],
            Format::SevenZ => &[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c],
            Format::Tar => b"ustar",
        }
    }

    /// Its name, as the `filetype` external and the logs give it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Zip => "ZIP",
            Format::Tar => "TAR",
            Format::SevenZ => "7Z",
            Format::Gzip => "GZIP",
            Format::Bzip2 => "BZIP2",
            Format::Xz => "XZ",
            Format::Zstd => "ZSTD",
        }
    }

    /// The usual file extension, which names an archive found inside other bytes
    /// (`x.png>@108.zip`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::Tar => "tar",
            Format::SevenZ => "7z",
            Format::Gzip => "gz",
            Format::Bzip2 => "bz2",
            Format::Xz => "xz",
            Format::Zstd => "zst",
        }
    }

    /// True for a single compressed stream, whose one member is the decoded bytes.
    pub fn is_stream(self) -> bool {
        match self {
            Format::Gzip | Format::Bzip2 | Format::Xz | Format::Zstd => true,
            Format::Zip | Format::Tar | Format::SevenZ => false,
        }
    }
}

/// One member, as the visitor sees it.
pub struct Member<'a> {
    /// Its name inside the container.
    pub name: String,
    /// Its bytes, decoded as they are read.
    pub reader: &'a mut dyn Read,
    /// True when it is encrypted: its bytes cannot be read.
    pub encrypted: bool,
    /// True for the decoded bytes of a compressed stream, which has no directory: a stream
    /// that fails before its first byte is bytes that only looked like one.
    pub stream: bool,
}

/// Whether the visitor wants more members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next member.
    Continue,
    /// Go on, but this member was left unread on purpose (it could not be held): do not
    /// decode the rest of it, nor what can only be decoded after it.
    Skip,
    /// Stop: a limit was reached.
    Stop,
}

/// What a container walk could not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The member it concerns (a name, or `@offset` where only a position is known); `None`
    /// when the container itself could not be read.
    pub member: Option<String>,
    /// What went wrong.
    pub why: String,
    /// True when the member uses a method (compression, filter) that cannot be decoded here.
    pub unsupported: bool,
}

impl Problem {
    /// A damaged container or member.
    pub fn broken(member: Option<String>, why: impl ToString) -> Problem {
        Problem {
            member,
            why: why.to_string(),
            unsupported: false,
        }
    }

    /// A member whose method cannot be decoded.
    pub fn unsupported(member: String, why: impl ToString) -> Problem {
        Problem {
            member: Some(member),
            why: why.to_string(),
            unsupported: true,
        }
    }
}

/// What a container walk hands its members and problems to.
pub trait Visitor {
    /// One member; says whether to go on.
    fn member(&mut self, member: Member<'_>) -> Flow;
    /// Something that could not be read; the walk goes on where the format allows, unless
    /// this says stop (the time is up: finding the next member can take as long as reading
    /// one).
    fn problem(&mut self, problem: Problem) -> Flow;
}

/// The byte ranges of a container that its walk accounted for (members' headers and data):
/// archives embedded there are the members' business, not the container's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spans(std::collections::BTreeMap<usize, usize>);

impl Spans {
    /// All of `len` bytes.
    pub fn all(len: usize) -> Spans {
        let mut spans = Spans::default();
        spans.add(0..len);
        spans
    }

    /// Adds `range` (an empty one counts as its first byte).
    pub fn add(&mut self, range: Range<usize>) {
        let end = range.end.max(range.start + 1);
        let known = self.0.entry(range.start).or_insert(end);
        *known = (*known).max(end);
    }

    /// True when `at` lies in a range added.
    pub fn covers(&self, at: usize) -> bool {
        self.0
            .range(..=at)
            .next_back()
            .is_some_and(|(_, end)| at < *end)
    }

    /// Adds every range of `other`.
    pub fn merge(&mut self, other: Spans) {
        for (start, end) in other.0 {
            self.add(start..end);
        }
    }

    /// The same ranges, `by` bytes further.
    pub fn shifted(self, by: usize) -> Spans {
        Spans(self.0.into_iter().map(|(s, e)| (s + by, e + by)).collect())
    }
}

/// Hands each member of `bytes` (a `format` container named `name`) to `visit`, in order,
/// until it says stop, and what could not be read as problems. `embedded` containers were
/// found inside other bytes, which go on after them: their streams end at their first
/// member. Returns the spans the walk accounted for.
pub fn each_member(
    format: Format,
    name: &str,
    bytes: &[u8],
    embedded: bool,
    visit: &mut dyn Visitor,
) -> Spans {
    match format {
        Format::Zip => zip::walk(bytes, visit),
        Format::Tar => tar::walk(bytes, visit),
        Format::SevenZ => seven_z::walk(bytes, visit),
        Format::Gzip | Format::Bzip2 | Format::Xz | Format::Zstd => {
            stream(format, name, bytes, embedded, visit);
            Spans::all(bytes.len())
        }
    }
}

/// A compressed stream: one member, named after the stream without its extension. At the
/// start of an object, concatenated streams are one (as gunzip reads them); embedded in other
/// bytes, a stream ends with its first.
fn stream(format: Format, name: &str, bytes: &[u8], embedded: bool, visit: &mut dyn Visitor) {
    let mut reader: Box<dyn Read + '_> = match (format, embedded) {
        (Format::Gzip, false) => Box::new(GzipMembers::new(bytes)),
        (Format::Gzip, true) => Box::new(flate2::read::GzDecoder::new(bytes)),
        (Format::Bzip2, false) => Box::new(bzip2::read::MultiBzDecoder::new(bytes)),
        (Format::Bzip2, true) => Box::new(bzip2::read::BzDecoder::new(bytes)),
        (Format::Xz, _) => Box::new(lzma_rust2::XzReader::new_mem_limit(
            bytes,
            !embedded,
            DECODER_MEMORY_KIB as u32,
        )),
        (Format::Zstd, _) => match zstd::stream::read::Decoder::with_buffer(bytes) {
            Ok(decoder) if embedded => Box::new(decoder.single_frame()),
            Ok(decoder) => Box::new(decoder),
            Err(e) => {
                visit.problem(Problem::broken(None, e));
                return;
            }
        },
        (Format::Zip | Format::Tar | Format::SevenZ, _) => return,
    };
    visit.member(Member {
        name: stream_member_name(name),
        reader: &mut reader,
        encrypted: false,
        stream: true,
    });
}

/// A gzip file's members one after the other, as `gzip -d` reads them: zero bytes after a
/// member (the padding that tar's blocking and tapes add, which gzip ignores) end the file;
/// anything else must be another member, or the file is broken.
struct GzipMembers<'a> {
    member: Option<flate2::bufread::GzDecoder<&'a [u8]>>,
}

impl<'a> GzipMembers<'a> {
    fn new(bytes: &'a [u8]) -> GzipMembers<'a> {
        GzipMembers {
            member: Some(flate2::bufread::GzDecoder::new(bytes)),
        }
    }
}

impl Read for GzipMembers<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(member) = &mut self.member {
            let n = member.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            // The member ended: its decoder read exactly up to the end of its trailer.
            let rest = self.member.take().map_or(&[][..], |m| m.into_inner());
            if rest.iter().any(|&b| b != 0) {
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

/// Tells `visit` of a member whose bytes cannot be read without a password.
fn visit_encrypted(visit: &mut dyn Visitor, name: String) -> Flow {
    let mut nothing: &[u8] = &[];
    visit.member(Member {
        name,
        reader: &mut nothing,
        encrypted: true,
        stream: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_members_are_read_in_turn_and_zero_padding_ends_them() {
        use std::io::Write as _;
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        let read = |bytes: &[u8]| {
            let mut out = Vec::new();
            GzipMembers::new(bytes).read_to_end(&mut out).map(|_| out)
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
    fn formats_are_told_by_their_first_bytes() {
        assert_eq!(Format::sniff(b"PK\x03\x04rest"), Some(Format::Zip));
        assert_eq!(Format::sniff(b"PK\x05\x06rest"), Some(Format::Zip));
        assert_eq!(Format::sniff(&[0x1f, 0x8b, 8]), Some(Format::Gzip));
        assert_eq!(Format::sniff(b"BZh91AY"), Some(Format::Bzip2));
        assert_eq!(Format::sniff(b"plain text"), None);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(Format::sniff(&tar), Some(Format::Tar));
        assert_eq!(Format::sniff(b"ustar"), None, "tar's magic is at 257");
    }

    #[test]
    fn a_stream_member_is_named_after_the_stream() {
        assert_eq!(stream_member_name("a/report.tar.gz"), "a/report.tar");
        assert_eq!(stream_member_name("x.tgz"), "x.tar");
        assert_eq!(stream_member_name("notes.zst"), "notes");
        assert_eq!(stream_member_name("data"), "data");
    }

    #[test]
    fn spans_cover_what_was_added() {
        let mut spans = Spans::default();
        spans.add(10..20);
        spans.add(30..30);
        assert!(!spans.covers(9));
        assert!(spans.covers(10) && spans.covers(19));
        assert!(!spans.covers(20));
        assert!(
            spans.covers(30) && !spans.covers(31),
            "an empty span is its first byte"
        );
        let shifted = spans.shifted(100);
        assert!(shifted.covers(110) && !shifted.covers(10));
        assert!(Spans::all(5).covers(4) && !Spans::all(5).covers(5));
    }
}
