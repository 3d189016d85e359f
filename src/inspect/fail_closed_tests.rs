//! Containers that break, hide members, use what cannot be decoded, or sit inside other
//! bytes, and objects stored with a `Content-Encoding`: never `Clean` when something could
//! not be read, and every member a tool would extract is scanned. Built here at test time.

use std::io::{Cursor, Write};

use pretty_assertions::assert_eq;
use sevenz_rust2::encoder_options::AesEncoderOptions;
use sevenz_rust2::{ArchiveEntry, ArchiveWriter, EncoderConfiguration};
use sevenz_rust2::{EncoderMethod, Password};

use super::tests::{EICAR, WEBSHELL, labels, limits, look, tar, unscannable_reason, zip, zip_with};
use super::*;

/// The offset of the `n`th (from 0) occurrence of `needle`.
fn nth(bytes: &[u8], needle: &[u8], n: usize) -> usize {
    memchr::memmem::find_iter(bytes, needle).nth(n).unwrap()
}

fn infected_by(found: &Inspection) -> Vec<String> {
    assert!(
        matches!(found.clone().verdict(), Ok(Verdict::Infected(_))),
        "{found:?}"
    );
    labels(found)
}

#[test]
fn a_zip_member_whose_local_header_is_broken_hides_none_after_it() {
    let members = [
        ("a.txt", &b"first"[..]),
        ("b.txt", b"second"),
        ("eicar.com", EICAR),
    ];
    let mut broken = zip(&members);
    let second = nth(&broken, b"PK\x03\x04", 1);
    broken[second + 3] = 0x05;
    assert_eq!(
        infected_by(&look(&broken, "z.zip", &limits())),
        ["z.zip>eicar.com:EICAR_Test_File"]
    );
    // Without a match, the member that could not be read makes it Unscannable.
    let mut broken = zip(&members[..2]);
    let second = nth(&broken, b"PK\x03\x04", 1);
    broken[second + 3] = 0x05;
    let why = unscannable_reason(look(&broken, "z.zip", &limits()));
    assert!(why.starts_with("ZIP z.zip>b.txt is damaged"), "{why}");
}

#[test]
fn a_tar_header_with_a_bad_checksum_is_skipped_to_the_next_header() {
    let members = [
        ("a.txt", &[b'a'; 600][..]),
        ("b.txt", b"second"),
        ("eicar.com", EICAR),
    ];
    // a.txt: its header and two blocks of data; then b.txt's header, at 1536.
    let mut broken = tar(&members);
    broken[1536 + 100] ^= 0x40;
    assert_eq!(
        infected_by(&look(&broken, "t.tar", &limits())),
        ["t.tar>eicar.com:EICAR_Test_File"]
    );
    let mut broken = tar(&members[..2]);
    broken[1536 + 100] ^= 0x40;
    let why = unscannable_reason(look(&broken, "t.tar", &limits()));
    assert_eq!(
        why,
        "TAR t.tar is damaged: header at 1536: archive header checksum mismatch"
    );
}

#[test]
fn every_zip_of_a_concatenation_is_read() {
    let mut both = zip(&[("eicar.com", EICAR)]);
    both.extend(zip(&[("clean.txt", b"nothing here")]));
    assert_eq!(
        infected_by(&look(&both, "c.zip", &limits())),
        ["c.zip>eicar.com:EICAR_Test_File"]
    );
    // And the other way round.
    let mut both = zip(&[("clean.txt", b"nothing here")]);
    both.extend(zip(&[("eicar.com", EICAR)]));
    assert_eq!(
        infected_by(&look(&both, "c.zip", &limits())),
        ["c.zip>eicar.com:EICAR_Test_File"]
    );
}

/// 108 bytes that start like a PNG.
fn png_prefix() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.resize(108, 0x42);
    png
}

#[test]
fn archives_inside_other_bytes_are_looked_into_and_named_by_their_offset() {
    let mut polyglot = png_prefix();
    polyglot.extend(zip(&[("a.com", EICAR)]));
    assert_eq!(
        infected_by(&look(&polyglot, "x.png", &limits())),
        ["x.png>@108.zip>a.com:EICAR_Test_File"]
    );
    let mut doc = b"text, then a gzip stream: ".to_vec();
    let at = doc.len();
    doc.extend(super::tests::gzip(EICAR));
    doc.extend_from_slice(b" and more text after it");
    assert_eq!(
        infected_by(&look(&doc, "doc.txt", &limits())),
        [format!("doc.txt>@{at}.gz>@{at}:EICAR_Test_File")]
    );
    let mut seven = png_prefix();
    seven.extend(seven_z_with(
        &[("a.com", EICAR)],
        vec![EncoderMethod::LZMA2.into()],
        false,
    ));
    assert_eq!(
        infected_by(&look(&seven, "y.png", &limits())),
        ["y.png>@108.7z>a.com:EICAR_Test_File"]
    );
}

#[test]
fn a_false_signature_in_ordinary_bytes_is_only_noted() {
    let mut bytes = b"plain bytes ".to_vec();
    bytes.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff]);
    bytes.extend_from_slice(b" then more plain bytes");
    let found = look(&bytes, "plain.bin", &limits());
    assert_eq!(found.clone().verdict(), Ok(Verdict::Clean), "{found:?}");
    assert_eq!(found.notes.len(), 1, "{found:?}");
    assert_eq!(
        found.members, 1,
        "the candidate counts as a member; its stream, whose header does not parse, is none"
    );
    let ordinary = look(&vec![b'x'; 100_000], "plain.bin", &limits());
    assert_eq!((ordinary.members, ordinary.notes.len()), (0, 0));
}

#[test]
fn an_embedded_archive_within_a_member_span_is_that_members_business() {
    // A stored zip inside a tar: found once, as the tar's member, not again by its signature.
    let inner = zip_with(::zip::CompressionMethod::Stored, &[("eicar.com", EICAR)]);
    let outer = tar(&[("inner.zip", &inner)]);
    let found = look(&outer, "t.tar", &limits());
    assert_eq!(
        infected_by(&found),
        ["t.tar>inner.zip>eicar.com:EICAR_Test_File"]
    );
    assert_eq!(found.members, 2);
}

/// A 7z of `members` (one block each) through `methods`, its headers encrypted or not.
pub(super) fn seven_z_with(
    members: &[(&str, &[u8])],
    methods: Vec<EncoderConfiguration>,
    encrypt_header: bool,
) -> Vec<u8> {
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
    w.set_content_methods(methods);
    w.set_encrypt_header(encrypt_header);
    for (name, data) in members {
        w.push_archive_entry(ArchiveEntry::new_file(name), Some(*data))
            .unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn aes() -> Vec<EncoderConfiguration> {
    vec![
        AesEncoderOptions::new(Password::new("secret")).into(),
        EncoderMethod::LZMA2.into(),
    ]
}

#[test]
fn an_encrypted_7z_is_encrypted_members_data_and_headers_alike() {
    let data_only = seven_z_with(&[("eicar.com", EICAR)], aes(), false);
    let why = unscannable_reason(look(&data_only, "e.7z", &limits()));
    assert_eq!(
        why,
        "encrypted member e.7z>eicar.com (ARCHIVE_ENCRYPTED=unscannable)"
    );
    let headers_too = seven_z_with(&[("eicar.com", EICAR)], aes(), true);
    let why = unscannable_reason(look(&headers_too, "e.7z", &limits()));
    assert!(
        why.starts_with("encrypted member e.7z>(encrypted 7z headers)"),
        "{why}"
    );
    let strict = Limits {
        encrypted: Encrypted::Infected,
        ..limits()
    };
    assert_eq!(
        labels(&look(&data_only, "e.7z", &strict)),
        ["e.7z>eicar.com:Encrypted_Archive_Member"]
    );
}

#[test]
fn seven_z_members_are_read_with_every_coder_the_crate_offers() {
    for method in [
        EncoderMethod::PPMD,
        EncoderMethod::DEFLATE,
        EncoderMethod::BZIP2,
        EncoderMethod::LZMA,
    ] {
        let archive = seven_z_with(&[("eicar.com", EICAR)], vec![method.into()], false);
        assert_eq!(
            infected_by(&look(&archive, "m.7z", &limits())),
            ["m.7z>eicar.com:EICAR_Test_File"],
            "{method:?}"
        );
    }
}

/// `n` bytes that do not compress.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x2545_f491;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn a_7z_block_that_breaks_does_not_hide_the_next() {
    let methods = vec![EncoderMethod::LZMA2.into()];
    let first = noise(4000);
    let mut archive = seven_z_with(&[("a.bin", &first), ("eicar.com", EICAR)], methods, false);
    // The first block's packed data starts right after the 32-byte signature header.
    for b in &mut archive[40..60] {
        *b ^= 0x5a;
    }
    let found = look(&archive, "b.7z", &limits());
    assert_eq!(infected_by(&found), ["b.7z>eicar.com:EICAR_Test_File"]);
    assert!(
        matches!(found.incomplete, Some(Incomplete::Unscannable(ref why)) if why.contains("b.7z>a.bin")),
        "{found:?}"
    );
}

#[test]
fn a_member_in_a_method_not_decoded_here_is_unscannable() {
    let stored = ::zip::CompressionMethod::Stored;
    let mut imploded = zip_with(
        stored,
        &[("old.txt", b"tokenized long ago"), ("b.txt", b"fine")],
    );
    // Method 7 (PKWARE's reserved "tokenizing") in the first member's local and central
    // headers: no zip tool ever wrote it, no reader decodes it.
    imploded[8] = 7;
    let central = nth(&imploded, b"PK\x01\x02", 0);
    imploded[central + 10] = 7;
    let why = unscannable_reason(look(&imploded, "i.zip", &limits()));
    assert!(
        why.starts_with(
            "i.zip>old.txt could not be decoded in full: compression method not supported"
        ),
        "{why}"
    );
    let mut with_eicar = zip_with(stored, &[("old.txt", b"tokenized"), ("eicar.com", EICAR)]);
    with_eicar[8] = 7;
    let central = nth(&with_eicar, b"PK\x01\x02", 0);
    with_eicar[central + 10] = 7;
    assert_eq!(
        infected_by(&look(&with_eicar, "i.zip", &limits())),
        ["i.zip>eicar.com:EICAR_Test_File"]
    );
}

#[test]
fn a_stream_that_breaks_after_giving_bytes_is_unscannable() {
    let text: Vec<u8> = (0..20_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let gz = super::tests::gzip(&text);
    let why = unscannable_reason(look(&gz[..gz.len() / 2], "t.bin.gz", &limits()));
    assert!(
        why.starts_with("t.bin.gz>t.bin could not be decoded in full"),
        "{why}"
    );
    // A gzip header and nothing that decodes: bytes that looked like a stream.
    let found = look(
        &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff],
        "x.gz",
        &limits(),
    );
    assert_eq!(found.clone().verdict(), Ok(Verdict::Clean), "{found:?}");
    assert_eq!(found.notes.len(), 1);
}

fn encoded(bytes: &[u8], encoding: &str) -> Inspection {
    let engine = super::tests::engine();
    let rules = engine.rules();
    let budget = Budget::memory(64 << 20);
    let look = Look {
        engine: &engine,
        rules: &rules,
        limits: &limits(),
        policy: &crate::policy::Policy::OFF,
        budget: &budget,
    };
    let body = Body {
        encoding: Some(encoding),
        ..Body::bytes(bytes)
    };
    inspect_body(
        &look,
        body,
        &ObjectRef::new("site", "pages/e.html"),
        Duration::from_secs(20),
    )
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
    w.write_all(data).unwrap();
    w.into_inner()
}

#[test]
fn what_a_content_encoding_decodes_to_is_scanned() {
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    zlib.write_all(EICAR).unwrap();
    let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    raw.write_all(EICAR).unwrap();
    for (bytes, encoding, label) in [
        (
            zlib.finish().unwrap(),
            "deflate",
            "e.html>Content-Encoding=deflate:EICAR_Test_File",
        ),
        (
            raw.finish().unwrap(),
            "deflate",
            "e.html>Content-Encoding=deflate:EICAR_Test_File",
        ),
        (
            brotli(EICAR),
            "br",
            "e.html>Content-Encoding=br:EICAR_Test_File",
        ),
        (
            ::zstd::encode_all(EICAR, 1).unwrap(),
            "zstd",
            "e.html>Content-Encoding=zstd:EICAR_Test_File",
        ),
        (
            super::tests::gzip(EICAR),
            "x-gzip",
            "e.html>Content-Encoding=gzip:EICAR_Test_File",
        ),
        (
            brotli(&super::tests::gzip(EICAR)),
            "gzip, br",
            "e.html>Content-Encoding=br>Content-Encoding=gzip:EICAR_Test_File",
        ),
    ] {
        let found = encoded(&bytes, encoding);
        // (Brotli keeps incompressible bytes as they are: the gzip stream inside its bytes is
        // found as an embedded archive too.)
        assert!(
            infected_by(&found).contains(&label.to_owned()),
            "{encoding}: {found:?}"
        );
        assert_eq!(found.incomplete, None, "{encoding}");
    }
}

#[test]
fn an_unknown_or_broken_content_encoding_is_unscannable_naming_it() {
    let why = unscannable_reason(encoded(b"<html>", "compress"));
    assert!(
        why.starts_with("Content-Encoding `compress` is not one the scanner decodes"),
        "{why}"
    );
    let why = unscannable_reason(encoded(b"<html>not brotli at all</html>", "br"));
    assert!(
        why.starts_with("Content-Encoding br of e.html could not be decoded"),
        "{why}"
    );
    // Nothing to decode.
    assert_eq!(encoded(b"<html>", "identity").verdict(), Ok(Verdict::Clean));
    // The stored bytes are scanned all the same.
    let mut shell = WEBSHELL.to_vec();
    shell.extend_from_slice(b" (not gzip)");
    assert!(matches!(
        encoded(&shell, "gzip").verdict(),
        Ok(Verdict::Infected(_))
    ));
}

#[test]
fn a_tar_with_long_names_is_walked_once() {
    // GNU tar writes a name over 100 bytes as an extension header before the entry's own;
    // both are valid headers, and neither is an archive embedded in the tar.
    let long = format!("{}/eicar.com", "d".repeat(120));
    let members: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| (format!("{}/{i}.txt", "p".repeat(150)), vec![b'x'; 700]))
        .chain([(long.clone(), EICAR.to_vec())])
        .collect();
    let pairs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let found = look(&tar(&pairs), "long.tar", &limits());
    assert_eq!(found.members, 6, "{found:?}");
    assert_eq!(found.notes, Vec::<String>::new());
    assert_eq!(
        infected_by(&found),
        [format!("long.tar>{long}:EICAR_Test_File")]
    );
}

#[test]
fn a_flood_of_broken_headers_costs_little_and_is_told_once() {
    // 20,000 tar headers with a bad checksum, each followed by an empty file's good header.
    let mut good = ::tar::Header::new_gnu();
    good.set_path("a").unwrap();
    good.set_size(0);
    good.set_cksum();
    let mut bad = good.as_bytes().to_vec();
    bad[100] ^= 0x40;
    let bytes: Vec<u8> = [bad, good.as_bytes().to_vec()].concat().repeat(20_000);
    let many = Limits {
        max_members: 100_000,
        ..limits()
    };
    let started = std::time::Instant::now();
    let found = look(&bytes, "many.tar", &many);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(found.members, 20_000);
    let Some(Incomplete::Unscannable(why)) = &found.incomplete else {
        panic!("{:?}", found.incomplete)
    };
    assert!(
        why.starts_with("TAR many.tar is damaged: header at 0"),
        "{why}"
    );
    assert_eq!(found.notes.len(), 8, "{:?}", found.notes);
    assert!(
        found.notes[7].ends_with("19992 more like these"),
        "{:?}",
        found.notes
    );
}
