//! The containers looked into, told apart by their first bytes, and their members handed one
//! at a time to a [`Visitor`] as readers: zip (`zip`), tar (`tar`), 7z (`seven_z`), gzip,
//! bzip2, xz and zstd streams (`stream`), cpio (`cpio`), cabinets (`cab`), OLE2 compound
//! files (`ole`, with `vba` macros, `ppt` objects and `xlm` macro sheets), ISO 9660 and UDF
//! images (`iso`, `udf`), PDF streams (`pdf`, decrypted by `pdf_crypt`), RTF objects (`rtf`),
//! SZDD, BinHex and TNEF wrappers (`legacy`), mail (`mail`), the `data:` URIs and script blobs
//! of markup (`html`), and programs inside other bytes (`pe`). Decoding is the kept crates'
//! work where one exists; the formats no kept crate reads (`arj`, `lha`, `rar`, `chm`,
//! `onenote`, the installers `nsis`, `ishield`, `autoit`, `sis`, the packers `upx`, `aspack`,
//! `petite`, `wwpack`, `mew`, `upack`, `spin`, `yc`) decode into an [`Unpacked`], held to the
//! walk's cap and deadline. These files name members, go on past damage where the format allows
//! (as GNU tar and unzip do), report what they could not read as [`Problem`]s, which the walk
//! turns into a verdict, and say what of the container's bytes they read ([`Seen`]), for the
//! search of archives embedded in it.

use std::io::Read;

pub(crate) use crate::config::Password;

mod arj;
mod aspack;
mod autoit;
mod cab;
mod chm;
mod cpio;
#[cfg(test)]
mod decoder_tests;
mod extent;
mod format;
#[doc(hidden)]
pub mod fuzz;
mod html;
mod ishield;
mod iso;
mod legacy;
mod lha;
mod mail;
mod mew;
mod nsis;
mod ole;
mod onenote;
mod password;
mod pdf;
mod pdf_crypt;
mod pe;
mod petite;
mod ppt;
mod rar;
mod rc4;
mod rtf;
#[doc(hidden)]
pub mod samples;
mod seen;
mod seven_z;
mod sis;
mod spin;
mod stream;
mod tar;
mod udf;
mod unpacked;
mod upack;
mod upx;
mod vba;
mod wwpack;
mod xlm;
mod yc;
mod zip;

pub use self::extent::{Coder, Measure};
pub use self::format::Format;
use self::legacy::Wrapper;
pub(crate) use self::onenote::header_is_plausible as onenote_header_is_plausible;
pub(crate) use self::pe::starts as pe_starts;
pub use self::seen::Seen;
pub use self::stream::{GzipMembers, Parts};
pub(crate) use self::stream::{Stream, gzip_is_usual, stream_header};
pub(crate) use self::tar::is_header as is_tar_header;
use self::unpacked::Unpacked;
pub(crate) use self::zip::known_method as zip_known_method;

/// Where a tar header's `ustar` magic is.
pub const TAR_MAGIC_AT: usize = 257;

/// The most memory a decoder's dictionary or model may take (7z, xz): a container that asks
/// for more is not decoded. Decoders' memory is not held against the budget; this bounds it.
pub const DECODER_MEMORY_KIB: usize = 256 * 1024;

/// One member, as the visitor sees it.
pub struct Member<'a> {
    /// Its name inside the container.
    pub name: String,
    /// Its bytes, decoded as they are read.
    pub reader: &'a mut dyn Read,
    /// True when it is encrypted: its bytes cannot be read.
    pub encrypted: bool,
    /// True for the decoded bytes of a compressed stream, which has no directory.
    pub stream: bool,
    /// For the decoded bytes of a gzip file, its members, noted as the reader decodes them:
    /// each is also scanned alone (what a reader that stops after one sees).
    pub parts: Option<&'a Parts>,
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
    /// How far finding where compressed data really ends may go.
    fn measure(&self) -> Measure;
    /// How much a decoder that reads all of a container's files before handing them over
    /// ([`Unpacked`]) may hold: what one member may be, within the time left.
    fn whole(&self) -> Measure {
        self.measure()
    }
    /// The passwords tried, in order, on an encrypted member (zip, 7z): one that fits opens it,
    /// and it is handed over as any other member. None by default.
    fn passwords(&self) -> &[Password] {
        &[]
    }
    /// Member `name` is about to be handed over, opened with one of [`Visitor::passwords`].
    fn opened(&mut self, _name: &str) {}
}

/// A reader that counts the bytes it gave: how much of a stored member the visitor read.
pub(crate) struct Counted<'a> {
    inner: &'a mut dyn Read,
    read: usize,
}

impl<'a> Counted<'a> {
    pub(crate) fn new(inner: &'a mut dyn Read) -> Counted<'a> {
        Counted { inner, read: 0 }
    }

    /// The bytes given so far.
    pub(crate) fn read(&self) -> usize {
        self.read
    }
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n;
        Ok(n)
    }
}

/// A reader whose decoder may panic on hostile bytes (a crate's bug, as fuzzing found in
/// `cab`): a panic in a read is caught there and becomes an error, so that the walk never
/// unwinds and the member is reported as not decoded in full.
pub(crate) struct Guarded<R>(pub(crate) R);

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let inner = &mut self.0;
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.read(buf)))
            .unwrap_or_else(|_| Err(std::io::Error::other("the decoder panicked")))
    }
}

/// Runs `f`, a call into a decoder's crate, turning a panic into an error.
pub(crate) fn guarded<T>(f: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(std::io::Error::other("the decoder panicked")))
}

/// Hands each member of `bytes` (a `format` container named `name`) to `visit`, in order,
/// until it says stop, and what could not be read as problems. `embedded` containers were
/// found inside other bytes, which go on after them: their streams end at their first
/// member. Returns what the walk saw of `bytes`.
pub fn each_member(
    format: Format,
    name: &str,
    bytes: &[u8],
    embedded: bool,
    visit: &mut dyn Visitor,
) -> Seen {
    match format {
        Format::Zip => zip::walk(bytes, visit),
        Format::Tar => tar::walk(bytes, visit),
        Format::SevenZ => seven_z::walk(bytes, visit),
        Format::Cpio => cpio::walk(bytes, visit),
        Format::Cab => cab::walk(bytes, visit),
        Format::Ole => ole::walk(bytes, visit),
        Format::Mail => mail::walk(bytes, visit),
        Format::Rtf => rtf::walk(bytes, visit),
        Format::Pdf => pdf::walk(bytes, visit),
        Format::Iso => iso::walk(bytes, visit),
        Format::Html => html::walk(bytes, visit),
        Format::Szdd => legacy::walk(Wrapper::Szdd, bytes, visit),
        Format::BinHex => legacy::walk(Wrapper::BinHex, bytes, visit),
        Format::Tnef => legacy::walk(Wrapper::Tnef, bytes, visit),
        Format::PeSpin => walk_unpacked(format, spin::unpack(bytes, visit.whole()), visit),
        Format::Upack => walk_unpacked(format, upack::unpack(bytes, visit.whole()), visit),
        Format::Mew => walk_unpacked(format, mew::unpack(bytes, visit.whole()), visit),
        Format::AsPack => walk_unpacked(format, aspack::unpack(bytes, visit.whole()), visit),
        Format::Petite => walk_unpacked(format, petite::unpack(bytes, visit.whole()), visit),
        Format::Yc => walk_unpacked(format, yc::unpack(bytes, visit.whole()), visit),
        Format::WwPack => walk_unpacked(format, wwpack::unpack(bytes, visit.whole()), visit),
        Format::Udf => walk_unpacked(format, udf::unpack(bytes, visit.whole()), visit),
        Format::OneNote => walk_unpacked(format, onenote::unpack(bytes, visit.whole()), visit),
        Format::Rar => walk_unpacked(format, rar::unpack(bytes, visit.whole()), visit),
        Format::Pe => pe::walk(bytes, visit),
        Format::Upx => walk_unpacked(format, upx::unpack(bytes, visit.whole()), visit),
        Format::Lha => walk_unpacked(format, lha::unpack(bytes, visit.whole()), visit),
        Format::Chm => walk_unpacked(format, chm::unpack(bytes, visit.whole()), visit),
        Format::InstallShield => {
            walk_unpacked(format, ishield::unpack_any(bytes, visit.whole()), visit)
        }
        Format::Sis => walk_unpacked(format, sis::unpack(bytes, visit.whole()), visit),
        Format::Nsis => walk_unpacked(format, nsis::unpack(bytes, visit.whole()), visit),
        Format::AutoIt => walk_unpacked(format, autoit::unpack(bytes, visit.whole()), visit),
        Format::Arj => walk_unpacked(format, arj::unpack(bytes, visit.whole()), visit),
        Format::Gzip => stream::walk(Stream::Gzip, name, bytes, embedded, visit),
        Format::Bzip2 => stream::walk(Stream::Bzip2, name, bytes, embedded, visit),
        Format::Xz => stream::walk(Stream::Xz, name, bytes, embedded, visit),
        Format::Zstd => stream::walk(Stream::Zstd, name, bytes, embedded, visit),
    }
}

/// Hands `visit` a member read as it is (not encrypted, no stream's parts): what most
/// formats' members are.
fn visit_plain(visit: &mut dyn Visitor, name: String, reader: &mut dyn Read) -> Flow {
    visit.member(Member {
        name,
        reader,
        encrypted: false,
        stream: false,
        parts: None,
    })
}

/// Hands `visit` the files a decoder read whole (a format no kept crate reads, `format`),
/// then why it stopped early, if it did.
fn walk_unpacked(format: Format, unpacked: Unpacked, visit: &mut dyn Visitor) -> Seen {
    let mut seen = Seen::default();
    seen.header(format, 0..0);
    for (name, data) in unpacked.files {
        if visit_plain(visit, name, &mut data.as_slice()) == Flow::Stop {
            return seen;
        }
    }
    for name in unpacked.encrypted {
        if visit_encrypted(visit, name) == Flow::Stop {
            return seen;
        }
    }
    if let Some(problem) = unpacked.problem {
        visit.problem(problem);
    }
    seen
}

/// Tells `visit` of a member whose bytes cannot be read without a password.
fn visit_encrypted(visit: &mut dyn Visitor, name: String) -> Flow {
    let mut nothing: &[u8] = &[];
    visit.member(Member {
        name,
        reader: &mut nothing,
        encrypted: true,
        stream: false,
        parts: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
