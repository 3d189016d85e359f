//! The formats themselves: every one the walk knows ([`Format::ALL`], in the order they are
//! tried), how each is told by its first bytes (its signatures and where they are), whether it
//! is a compressed stream, its name (the `filetype` rules see) and its usual extension.

use super::*;

/// A container format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumCount)]
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

impl Format {
    /// Every format, in the order [`Format::sniff`] tries them.
    /// Mail and markup, told by their text rather than a magic number, come last.
    /// As long as there are variants (strum's `EnumCount`), none twice (a unit test): every
    /// one, so a new format cannot be left out.
    pub const ALL: [Format; <Format as strum::EnumCount>::COUNT] = [
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

#[cfg(test)]
mod tests {
    use super::Format;

    #[test]
    fn every_format_is_listed_once() {
        let mut seen = Format::ALL.to_vec();
        seen.sort_by_key(|f| format!("{f:?}"));
        seen.dedup();
        assert_eq!(seen.len(), Format::ALL.len());
    }
}
