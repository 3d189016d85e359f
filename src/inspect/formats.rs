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
use self::legacy::Wrapper;
pub(crate) use self::pe::starts as pe_starts;
pub use self::seen::Seen;
pub use self::stream::{GzipMembers, Parts};
pub(crate) use self::stream::{Stream, gzip_is_usual, stream_header};
pub(crate) use self::tar::is_header as is_tar_header;
use self::unpacked::Unpacked;
pub(crate) use self::zip::known_method as zip_known_method;

/// A container format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// A cpio archive (newc, crc, odc or binary).
    Cpio,
    /// A Microsoft Cabinet.
    Cab,
    /// An OLE2 compound file (Office 97-2003 documents, MSI, Outlook `.msg`).
    Ole,
    /// An ISO 9660 disc image.
    Iso,
    /// A PDF document, for its streams.
    Pdf,
    /// An RTF document, for the objects it embeds.
    Rtf,
    /// A file `COMPRESS.EXE` compressed (SZDD).
    Szdd,
    /// A BinHex 4.0 file.
    BinHex,
    /// Outlook's TNEF (`winmail.dat`).
    Tnef,
    /// An ARJ archive (methods 0 to 4).
    Arj,
    /// A compiled AutoIt v3 script (EA05, EA06) inside an executable, for its files and script.
    AutoIt,
    /// An NSIS installer's data (deflate, LZMA; solid or not), found in its executable.
    Nsis,
    /// A Symbian installer (SIS, releases 3 to 6 and 9).
    Sis,
    /// InstallShield data: a setup stream, cabinets (ISc(), or a plain overlay of a setup.exe.
    InstallShield,
    /// A Microsoft Compiled HTML Help file (CHM: stored and LZX sections).
    Chm,
    /// An LHA/LZH archive (-lh0- to -lh7-, -lh1-, LArc's -lzs-/-lz4-/-lz5-; header levels 0 to 3).
    Lha,
    /// A UPX-packed executable (PE or ELF), unpacked.
    Upx,
    /// A Windows program (PE) inside other bytes, carved by its headers.
    Pe,
    /// A RAR archive (v4, v5): stored members read, compressed ones not decoded here.
    Rar,
    /// A OneNote section (.one), for the files embedded in it.
    OneNote,
    /// A UDF disc image (.iso, .img; UDF-only or a bridge with ISO 9660).
    Udf,
    /// A WWPack32-packed program, unpacked.
    WwPack,
    /// A program yoda's Crypter (yC) encrypted, decrypted.
    Yc,
    /// A Petite-packed program, unpacked.
    Petite,
    /// An ASPack-packed program, unpacked.
    AsPack,
    /// A MEW-packed program, unpacked.
    Mew,
    /// An Upack-packed program, unpacked.
    Upack,
    /// A PESpin-packed program, unpacked.
    PeSpin,
    /// A mail message (RFC 822 / MIME), or an mbox of them.
    Mail,
    /// Markup (HTML, SVG, XML) holding `data:` URIs.
    Html,
}

/// Where a tar header's `ustar` magic is.
pub const TAR_MAGIC_AT: usize = 257;

/// The most memory a decoder's dictionary or model may take (7z, xz): a container that asks
/// for more is not decoded. Decoders' memory is not held against the budget; this bounds it.
pub const DECODER_MEMORY_KIB: usize = 256 * 1024;

impl Format {
    /// Every format, in the order [`Format::sniff`] tries them.
    /// Mail and markup, told by their text rather than a magic number, come last.
    pub const ALL: [Format; 37] = [
        Format::Zip,
        Format::Gzip,
        Format::Bzip2,
        Format::Xz,
        Format::Zstd,
        Format::SevenZ,
        Format::Tar,
        Format::Cpio,
        Format::Cab,
        Format::Ole,
        // A bridge image is read as Windows mounts it: by its UDF side.
        Format::Udf,
        Format::Iso,
        Format::Pdf,
        Format::Rtf,
        Format::Szdd,
        Format::BinHex,
        Format::Tnef,
        Format::Arj,
        Format::AutoIt,
        Format::Nsis,
        Format::Sis,
        Format::InstallShield,
        Format::Chm,
        Format::Lha,
        // yC encrypts a UPX-packed program: its layer is taken off first.
        Format::Yc,
        Format::Upx,
        Format::Pe,
        Format::Rar,
        Format::OneNote,
        Format::WwPack,
        Format::Petite,
        Format::AsPack,
        Format::Mew,
        Format::Upack,
        Format::PeSpin,
        Format::Mail,
        Format::Html,
    ];

    /// The format `bytes` start with, if any.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(b"PK\x05\x06") {
            // An empty zip: its end of central directory alone.
            return Some(Format::Zip);
        }
        Format::ALL.into_iter().find(|f| f.starts(bytes))
    }

    /// True when `bytes` start as a container of this format does: its magic number; for a
    /// tar, also a pre-POSIX (V7) header, which has none, told by its checksum and fields; for
    /// a cpio, a header that reads (the binary format's magic is two bytes); for mail, its
    /// header lines.
    pub fn starts(self, bytes: &[u8]) -> bool {
        match self {
            Format::Tar => {
                bytes
                    .get(TAR_MAGIC_AT..)
                    .is_some_and(|b| b.starts_with(self.magic()))
                    || self::tar::is_v7_header(bytes)
            }
            Format::Cpio => self::cpio::starts(bytes),
            Format::Mail => self::mail::starts(bytes),
            Format::Html => self::html::starts(bytes),
            Format::Rtf => bytes.starts_with(self::rtf::MAGIC),
            Format::Pdf => self::pdf::starts(bytes),
            Format::Iso => self::iso::starts(bytes),
            Format::PeSpin => self::spin::starts(bytes),
            Format::Upack => self::upack::starts(bytes),
            Format::Mew => self::mew::starts(bytes),
            Format::AsPack => self::aspack::starts(bytes),
            Format::Petite => self::petite::starts(bytes),
            Format::Yc => self::yc::starts(bytes),
            Format::WwPack => self::wwpack::starts(bytes),
            Format::Udf => self::udf::starts(bytes),
            Format::OneNote => self::onenote::starts(bytes),
            Format::Rar => self::rar::starts(bytes),
            // A program at the start of bytes is those bytes: it is carved only inside others.
            Format::Pe => false,
            Format::Upx => self::upx::starts(bytes),
            Format::Lha => self::lha::starts(bytes),
            Format::Chm => self::chm::starts(bytes),
            Format::InstallShield => self::ishield::starts_any(bytes),
            Format::Sis => self::sis::starts(bytes),
            Format::Nsis => self::nsis::starts(bytes),
            Format::AutoIt => self::autoit::starts(bytes),
            Format::Arj => self::arj::starts(bytes),
            Format::Zip
            | Format::SevenZ
            | Format::Gzip
            | Format::Bzip2
            | Format::Xz
            | Format::Zstd
            | Format::Cab
            | Format::Ole
            | Format::Szdd
            | Format::BinHex
            | Format::Tnef => bytes.starts_with(self.magic()),
        }
    }

    /// The magic numbers that find a container of this format inside other bytes (at
    /// [`Format::magic_at`] of its start): none for mail and markup, which have none, nor
    /// RTF (a document is one from its first byte), and only the text formats' for cpio (the
    /// binary format's two bytes turn up everywhere).
    pub fn signatures(self) -> &'static [&'static [u8]] {
        match self {
            Format::Cpio => &[self::cpio::NEWC, self::cpio::CRC, self::cpio::ODC],
            // An image inside other bytes is no image a system mounts.
            Format::Mail | Format::Html | Format::Rtf | Format::Iso | Format::Udf => &[],
            Format::Szdd => &[self::legacy::SZDD_MAGIC],
            Format::Pdf => &[self::pdf::MAGIC],
            Format::BinHex => &[self::legacy::BINHEX_MAGIC],
            Format::Tnef => &[self::legacy::TNEF_MAGIC],
            Format::OneNote => &[self::onenote::MAGIC],
            Format::Rar => &[self::rar::MAGIC],
            Format::Pe => &[self::pe::MAGIC],
            // A packed program is told by its layout and its stub's code, not by a signature
            // (`UPX!` turns up in other files).
            Format::Upx
            | Format::WwPack
            | Format::Yc
            | Format::Petite
            | Format::AsPack
            | Format::Mew
            | Format::Upack
            | Format::PeSpin => &[],
            Format::Lha => self::lha::SIGNATURES,
            Format::Chm => &[self::chm::MAGIC],
            Format::InstallShield => self::ishield::SIGNATURES,
            Format::Sis => &[self::sis::MAGIC],
            Format::Nsis => &[self::nsis::MAGIC],
            Format::AutoIt => &[self::autoit::MAGIC],
            Format::Arj => &[self::arj::MAGIC],
            Format::Zip => &[b"PK\x03\x04"],
            Format::Gzip => &[&[0x1f, 0x8b]],
            Format::Bzip2 => &[b"BZh"],
            Format::Xz => &[&[0xfd, b'7', b'z', b'X', b'Z', 0]],
            Format::Zstd => &[&[0x28, 0xb5, 0x2f, 0xfd]],
            Format::SevenZ => &[&[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c]],
            Format::Tar => &[b"ustar"],
            Format::Cab => &[self::cab::MAGIC],
            Format::Ole => &[self::ole::MAGIC],
        }
    }

    /// True for a compressed stream, which holds one member and no names.
    pub fn is_stream(self) -> bool {
        Stream::ALL
            .into_iter()
            .any(|stream| Format::from(stream) == self)
    }

    /// Where its magic is found in a container of this format.
    pub fn magic_at(self) -> usize {
        match self {
            Format::Tar => TAR_MAGIC_AT,
            Format::OneNote => self::onenote::MAGIC_AT,
            Format::Rar => self::rar::MAGIC_AT,
            Format::Pe => self::pe::MAGIC_AT,
            Format::Upx => self::upx::MAGIC_AT,
            Format::Lha => self::lha::MAGIC_AT,
            Format::Chm => self::chm::MAGIC_AT,
            Format::InstallShield => self::ishield::MAGIC_AT,
            Format::Sis => self::sis::MAGIC_AT,
            Format::Nsis => self::nsis::MAGIC_AT,
            Format::AutoIt => self::autoit::MAGIC_AT,
            Format::Arj => self::arj::MAGIC_AT,
            Format::Zip
            | Format::Gzip
            | Format::Bzip2
            | Format::Xz
            | Format::Zstd
            | Format::SevenZ
            | Format::Cpio
            | Format::Cab
            | Format::Ole
            | Format::Udf
            | Format::Iso
            | Format::Pdf
            | Format::Rtf
            | Format::Szdd
            | Format::BinHex
            | Format::Tnef
            | Format::Yc
            | Format::WwPack
            | Format::Petite
            | Format::AsPack
            | Format::Mew
            | Format::Upack
            | Format::PeSpin
            | Format::Mail
            | Format::Html => 0,
        }
    }

    /// The bytes a container of this format starts with (for tar, those at
    /// [`Format::magic_at`]): its first signature, or for RTF its start; none for mail and
    /// markup.
    pub fn magic(self) -> &'static [u8] {
        match self {
            Format::Rtf => self::rtf::MAGIC,
            _ => self.signatures().first().copied().unwrap_or_default(),
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
            Format::Cpio => "CPIO",
            Format::Cab => "CAB",
            Format::Ole => "OLE",
            Format::Rtf => "RTF",
            Format::Pdf => "PDF",
            Format::Iso => "ISO",
            Format::Szdd => "SZDD",
            Format::BinHex => "BINHEX",
            Format::Tnef => "TNEF",
            Format::PeSpin => "PESPIN",
            Format::Upack => "UPACK",
            Format::Mew => "MEW",
            Format::AsPack => "ASPACK",
            Format::Petite => "PETITE",
            Format::Yc => "YC",
            Format::WwPack => "WWPACK",
            Format::Udf => "UDF",
            Format::OneNote => "ONENOTE",
            Format::Rar => "RAR",
            Format::Pe => "PE",
            Format::Upx => "UPX",
            Format::Lha => "LHA",
            Format::Chm => "CHM",
            Format::InstallShield => "INSTALLSHIELD",
            Format::Sis => "SIS",
            Format::Nsis => "NSIS",
            Format::AutoIt => "AUTOIT",
            Format::Arj => "ARJ",
            Format::Mail => "MAIL",
            Format::Html => "HTML",
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
            Format::Cpio => "cpio",
            Format::Cab => "cab",
            Format::Ole => "ole",
            Format::Rtf => "rtf",
            Format::Pdf => "pdf",
            Format::Iso => "iso",
            Format::Szdd => "_",
            Format::BinHex => "hqx",
            Format::Tnef => "dat",
            Format::PeSpin => "spin",
            Format::Upack => "upack",
            Format::Mew => "mew",
            Format::AsPack => "aspack",
            Format::Petite => "petite",
            Format::Yc => "yc",
            Format::WwPack => "wwpack",
            Format::Udf => "udf",
            Format::OneNote => "one",
            Format::Rar => "rar",
            Format::Pe => "exe",
            Format::Upx => "upx",
            Format::Lha => "lzh",
            Format::Chm => "chm",
            Format::InstallShield => "is",
            Format::Sis => "sis",
            Format::Nsis => "nsis",
            Format::AutoIt => "au3",
            Format::Arj => "arj",
            Format::Mail => "eml",
            Format::Html => "html",
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
