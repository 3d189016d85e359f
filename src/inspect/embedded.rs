//! Archives inside other bytes: a zip after a PNG (self-extracting and polyglot files), a
//! gzip stream inside a document, a second zip after a first. Different tools open different
//! archives of one file, so every one is looked into, found by its signature in one pass over
//! the bytes (the formats' magic numbers, a multi-pattern search) and checked cheaply before
//! any decoder sees it.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};

use super::formats::{self, Format};

/// An archive's start inside other bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Where it starts.
    pub offset: usize,
    /// What it looks like.
    pub format: Format,
}

/// Each format's signatures, in the order the automaton numbers its patterns.
static PATTERNS: LazyLock<Vec<(Format, &'static [u8])>> = LazyLock::new(|| {
    Format::ALL
        .into_iter()
        .flat_map(|f| f.signatures().iter().map(move |s| (f, *s)))
        .collect()
});

/// The formats' signatures, searched for all at once. Built from constants: it cannot fail
/// but by a bug, which the tests would show (`the_signatures_build`).
static SIGNATURES: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(PATTERNS.iter().map(|(_, s)| s))
        .expect("the formats' magic numbers make an automaton")
});

/// Every plausible archive start in `bytes` after its first byte (an archive at the start is
/// the bytes' own format), in order.
pub fn candidates(bytes: &[u8]) -> impl Iterator<Item = Candidate> + '_ {
    SIGNATURES.find_iter(bytes).filter_map(move |found| {
        let (format, _) = PATTERNS[found.pattern().as_usize()];
        let offset = found.start().checked_sub(format.magic_at())?;
        (offset > 0 && plausible(format, &bytes[offset..])).then_some(Candidate { offset, format })
    })
}

/// True when `bytes` start like a `format` container beyond its magic number: the fields a
/// decoder checks first hold values it accepts. Cheap, so that the bytes of ordinary files
/// that happen to hold a magic number cost no decoder.
fn plausible(format: Format, bytes: &[u8]) -> bool {
    let at = |i: usize| bytes.get(i).copied();
    match format {
        // Version needed to extract (at most 6.3), and a file name.
        Format::Zip => {
            at(4).is_some_and(|v| v <= 63) && bytes.get(26..28).is_some_and(|n| n != [0, 0])
        }
        // Deflate, and no reserved flag.
        Format::Gzip => at(2) == Some(8) && at(3).is_some_and(|f| f & 0xe0 == 0),
        // A block size, then a block's or the end's magic.
        Format::Bzip2 => formats::stream_header(formats::Stream::Bzip2, bytes).is_ok(),
        // The stream flags' first byte is reserved.
        Format::Xz => at(6) == Some(0),
        // The frame header's reserved bit.
        Format::Zstd => at(4).is_some_and(|d| d & 0x08 == 0),
        // The format's major version.
        Format::SevenZ => at(6) == Some(0),
        Format::Tar => bytes.get(..512).is_some_and(formats::is_tar_header),
        // A header that reads; a cabinet's version (1.3); a compound file's byte order mark.
        Format::Cpio => format.starts(bytes),
        Format::Cab => bytes.get(24..26) == Some(&[3, 1]),
        Format::Ole => bytes.get(28..30) == Some(&[0xfe, 0xff]),
        // SZDD's method; BinHex's line goes on as written; a TNEF attribute's level.
        Format::Szdd => bytes.get(8) == Some(&b'A'),
        Format::Pdf => format.starts(bytes),
        Format::BinHex => bytes.get(40..44) == Some(b" 4.0"),
        Format::Tnef => bytes.get(6).is_some_and(|l| *l == 1 || *l == 2),
        Format::OneNote => formats::onenote_header_is_plausible(bytes),
        Format::Rar => format.starts(bytes),
        Format::Pe => formats::pe_starts(bytes),
        Format::Lha => format.starts(bytes),
        Format::Chm => format.starts(bytes),
        Format::InstallShield => format.starts(bytes),
        Format::Sis => format.starts(bytes),
        Format::Nsis => format.starts(bytes),
        Format::AutoIt => format.starts(bytes),
        Format::Arj => format.starts(bytes),
        // Never searched for: they have no signature.
        Format::Mail
        | Format::Html
        | Format::Rtf
        | Format::Iso
        | Format::Udf
        | Format::Upx
        | Format::WwPack
        | Format::Yc
        | Format::Petite
        | Format::AsPack
        | Format::Mew
        | Format::Upack
        | Format::PeSpin => false,
    }
}

/// True when a candidate found inside data declared compressed (where a short magic number
/// turns up by chance: a zip's 4 bytes once in 4 GiB, a gzip's 3 once in 16 MiB) also holds
/// what a reader of it would need: a compression method zip knows, a gzip header as gzip
/// writers write it. The longer magic numbers, and tar's checksum, are enough as they are.
pub fn likely(format: Format, bytes: &[u8]) -> bool {
    match format {
        Format::Zip => formats::zip_known_method(bytes),
        Format::Gzip => formats::gzip_is_usual(bytes),
        Format::Bzip2
        | Format::Xz
        | Format::Zstd
        | Format::SevenZ
        | Format::Tar
        | Format::Cpio
        | Format::Cab
        | Format::Ole
        | Format::Rtf
        | Format::Pdf
        | Format::Iso
        | Format::Szdd
        | Format::BinHex
        | Format::Tnef
        | Format::PeSpin
        | Format::Upack
        | Format::Mew
        | Format::AsPack
        | Format::Petite
        | Format::Yc
        | Format::WwPack
        | Format::Udf
        | Format::OneNote
        | Format::Rar
        | Format::Pe
        | Format::Upx
        | Format::Lha
        | Format::Chm
        | Format::InstallShield
        | Format::Sis
        | Format::Nsis
        | Format::AutoIt
        | Format::Arj
        | Format::Mail
        | Format::Html => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_found_after_other_bytes_and_checked() {
        let mut bytes = b"\x89PNG\r\n\x1a\n....".to_vec();
        let zip_at = bytes.len();
        bytes.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x08\x00");
        bytes.extend_from_slice(&[0; 16]);
        bytes.extend_from_slice(&[5, 0, 0, 0]);
        let gzip_at = bytes.len();
        bytes.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0]);
        // Magic numbers whose next fields a decoder would refuse.
        bytes.extend_from_slice(&[0x1f, 0x8b, 9, 0]);
        bytes.extend_from_slice(b"BZh0");
        bytes.extend_from_slice(b"....ustar....");
        let found: Vec<Candidate> = candidates(&bytes).collect();
        assert_eq!(
            found,
            [
                Candidate {
                    offset: zip_at,
                    format: Format::Zip
                },
                Candidate {
                    offset: gzip_at,
                    format: Format::Gzip
                },
            ]
        );
        assert_eq!(
            candidates(b"PK\x03\x04\x14\x00").count(),
            0,
            "not at the start"
        );
    }

    #[test]
    fn a_onenote_guid_among_a_program_constants_is_no_onenote_file() {
        // As in ClamAV's clambc: the file type GUID, the data store GUID, then messages.
        let guid = formats::Format::OneNote.signatures()[0];
        let mut program = b"\x7fELF........".to_vec();
        program.extend_from_slice(guid);
        program.extend_from_slice(&[0xE7, 0x16, 0xE3, 0xBD, 0x65, 0x26, 0x11, 0x45]);
        program.extend_from_slice(b"Looking to extract file from OneNote section...Invalid format");
        assert_eq!(candidates(&program).count(), 0);
        // A section's header: the file type, the file's own GUID, zeros, the format GUID.
        let mut document = b"....".to_vec();
        document.extend_from_slice(guid);
        document.extend_from_slice(&[7; 16]);
        document.extend_from_slice(&[0; 16]);
        document.extend_from_slice(&[
            0x3F, 0xDD, 0x9A, 0x10, 0x1B, 0x91, 0xF5, 0x49, 0xA5, 0xD0, 0x17, 0x91, 0xED, 0xC8,
            0xAE, 0xD8,
        ]);
        let found: Vec<Candidate> = candidates(&document).collect();
        assert_eq!(
            found,
            [Candidate {
                offset: 4,
                format: Format::OneNote
            }]
        );
    }

    #[test]
    fn the_signatures_build() {
        let signatures: usize = Format::ALL.map(|f| f.signatures().len()).iter().sum();
        assert_eq!(SIGNATURES.patterns_len(), signatures);
    }

    #[test]
    fn inside_compressed_data_a_candidate_must_hold_more_than_its_magic() {
        // A zip's local header whose method is deflate, then one whose method is nothing zip
        // knows; a gzip header as gzip writes it (level flags 2, Unix), then one with odd
        // level flags.
        assert!(likely(Format::Zip, b"PK\x03\x04\x14\x00\x00\x00\x08\x00"));
        assert!(!likely(Format::Zip, b"PK\x03\x04\x14\x00\x00\x00\x4b\x50"));
        assert!(likely(Format::Gzip, &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]));
        assert!(!likely(
            Format::Gzip,
            &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0x61, 3]
        ));
        assert!(likely(Format::Xz, &[0xfd, b'7', b'z', b'X', b'Z', 0, 0]));
    }

    #[test]
    fn a_tar_is_found_by_its_header_around_the_magic() {
        let mut header = tar::Header::new_ustar();
        header.set_path("a.txt").unwrap();
        header.set_size(0);
        header.set_cksum();
        let mut bytes = vec![b'x'; 100];
        bytes.extend_from_slice(header.as_bytes());
        assert_eq!(
            candidates(&bytes).collect::<Vec<_>>(),
            [Candidate {
                offset: 100,
                format: Format::Tar
            }]
        );
        bytes[150] ^= 1;
        assert_eq!(candidates(&bytes).count(), 0, "a bad checksum");
    }
}
