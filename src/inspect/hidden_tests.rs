//! What a hostile review hid from the walk, each found now: a member in the room a zip's
//! directory says another's compressed data takes, archives in the extent a 7z, a sparse tar
//! or a stream inside other bytes declares, tar entries of every type and V7 tars, zip
//! entries whose mode or name says they are no file, streams a decoder's limit refused, gzip
//! members read alone, directories crowded out by false records. And the other side: copies
//! of archives that compressors keep as they are (stored blocks, raw chunks) are no archives
//! of their own, never made `Unscannable`. Built here at test time.

use std::io::{Cursor, Write};

use pretty_assertions::assert_eq;

use super::tests::{
    EICAR, WEBSHELL, gzip, labels, limits, look, tar, unscannable_reason, xz, zip, zip_with, zstd,
};
use super::*;

fn infected_by(found: &Inspection) -> Vec<String> {
    assert!(
        matches!(found.clone().verdict(), Ok(Verdict::Infected(_))),
        "{found:?}"
    );
    labels(found)
}

fn clean(found: &Inspection) {
    assert_eq!(found.clone().verdict(), Ok(Verdict::Clean), "{found:?}");
    assert_eq!(found.incomplete, None);
}

fn u16_at(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

/// A zip of `a.txt` (deflated) whose directory says its compressed data runs on over a
/// member no directory lists, `eicar.com` holding `hidden`: the review's hide.zip. Java's
/// `ZipInputStream` reads it after `a.txt`'s stream ends.
fn hidden_member(hidden: &[u8]) -> Vec<u8> {
    let z = zip(&[
        ("a.txt", b"hello world, hello world"),
        ("eicar.com", hidden),
    ]);
    let end = z.len() - 22;
    let directory = u32::from_le_bytes(z[end + 16..end + 20].try_into().unwrap()) as usize;
    let first = 46 + u16_at(&z, directory + 28) + u16_at(&z, directory + 30);
    let first = first + u16_at(&z, directory + 32);
    let data = 30 + u16_at(&z, 26) + u16_at(&z, 28);
    let mut entry = z[directory..directory + first].to_vec();
    entry[20..24].copy_from_slice(&((directory - data) as u32).to_le_bytes());
    let mut record = z[end..].to_vec();
    record[8..10].copy_from_slice(&1u16.to_le_bytes());
    record[10..12].copy_from_slice(&1u16.to_le_bytes());
    record[12..16].copy_from_slice(&(first as u32).to_le_bytes());
    [&z[..directory], &entry, &record].concat()
}

#[test]
fn a_member_hidden_in_the_room_a_directory_gives_another_is_found() {
    assert_eq!(
        infected_by(&look(&hidden_member(EICAR), "h.zip", &limits())),
        ["h.zip>eicar.com:EICAR_Test_File"]
    );
    let found = look(&hidden_member(b"nothing to see"), "h.zip", &limits());
    clean(&found);
    assert_eq!(found.members, 2, "a.txt, then the member after its stream");
}

/// `n` bytes that do not compress: compressors keep them as they are.
fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
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
fn copies_of_archives_that_compressors_keep_as_they_are_are_no_archives_of_their_own() {
    // A zip of members that do not compress, several blocks long: inside a deflated zip,
    // a tar.gz, a tar.xz, a tar.zst and a 7z, its headers are there as they are, cut by the
    // compressors' block headers. Read as archives, they would break (Unscannable).
    let members: Vec<(String, Vec<u8>)> = (0..6)
        .map(|i| {
            (
                format!("m{i}.bin"),
                noise(40_000 + 30_000 * i, i as u32 + 1),
            )
        })
        .collect();
    let pairs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let inner = zip(&pairs);
    let in_tar = tar(&[("inner.zip", &inner)]);
    let seven = super::fail_closed_tests::seven_z_with(
        &[("inner.zip", &inner)],
        vec![sevenz_rust2::EncoderMethod::LZMA2.into()],
        false,
    );
    for (name, bytes, walked) in [
        ("o.zip", zip(&[("inner.zip", &inner)]), 7),
        ("t.tar.gz", gzip(&in_tar), 8),
        ("t.tar.xz", xz(&in_tar), 8),
        ("t.tar.zst", zstd(&in_tar), 8),
        ("s.7z", seven, 7),
    ] {
        let found = look(&bytes, name, &limits());
        clean(&found);
        assert_eq!(found.members, walked, "{name}: each member once");
    }
}

#[test]
fn an_archive_inside_the_extent_a_7z_header_declares_is_found() {
    // The review's poly.7z: an empty 7z whose next header lies after a zip (in its comment,
    // where unzip reads it as the comment).
    let zip = zip(&[("eicar.com", EICAR)]);
    let next: &[u8] = &[1, 0];
    let mut head = b"7z\xbc\xaf\x27\x1c\x00\x04".to_vec();
    let mut start = (zip.len() as u64).to_le_bytes().to_vec();
    start.extend((next.len() as u64).to_le_bytes());
    start.extend(crc(next).to_le_bytes());
    head.extend(crc(&start).to_le_bytes());
    head.extend(start);
    let poly = [head, zip, next.to_vec()].concat();
    assert_eq!(
        infected_by(&look(&poly, "p.7z", &limits())),
        ["p.7z>@32.zip>eicar.com:EICAR_Test_File"]
    );
}

fn crc(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// A GNU sparse tar of `name`: `chunk` at its start, then a hole up to `size`.
fn sparse_tar(name: &str, chunk: &[u8], size: u64) -> Vec<u8> {
    let mut header = ::tar::Header::new_gnu();
    header.set_path(name).unwrap();
    header.set_mode(0o644);
    header.set_entry_type(::tar::EntryType::GNUSparse);
    header.set_size(chunk.len() as u64);
    let gnu = header.as_gnu_mut().unwrap();
    gnu.sparse[0].set_offset(0);
    gnu.sparse[0].set_length(chunk.len() as u64);
    // The hole at the end: an empty chunk where the file ends.
    gnu.sparse[1].set_offset(size);
    gnu.sparse[1].set_length(0);
    gnu.set_real_size(size);
    header.set_cksum();
    let mut data = chunk.to_vec();
    data.resize(chunk.len().div_ceil(512) * 512, 0);
    [header.as_bytes().to_vec(), data, vec![0; 1024]].concat()
}

#[test]
fn an_archive_after_a_sparse_file_is_found_however_large_the_file_says_it_is() {
    // The review's tarzip.bin: the sparse file says 200,000 bytes, but only its 512-byte
    // chunk is stored; the zip after the tar was taken for the file's.
    let mut bytes = sparse_tar("hole.bin", b"hello", 200_000);
    let at = bytes.len();
    bytes.extend(zip(&[("eicar.com", EICAR)]));
    assert_eq!(
        infected_by(&look(&bytes, "t.bin", &limits())),
        [format!("t.bin>@{at}.zip>eicar.com:EICAR_Test_File")]
    );
}

#[test]
fn an_archive_after_a_stream_inside_other_bytes_is_found() {
    let mut bytes = b"text, a gzip stream: ".to_vec();
    bytes.extend(gzip(b"nothing in here"));
    bytes.extend_from_slice(b", more text, then a zip: ");
    let at = bytes.len();
    bytes.extend(zip(&[("eicar.com", EICAR)]));
    assert_eq!(
        infected_by(&look(&bytes, "d.txt", &limits())),
        [format!("d.txt>@{at}.zip>eicar.com:EICAR_Test_File")]
    );
}

/// A tar of one entry `eicar.com` of type `kind`, holding EICAR.
fn tar_of_type(kind: ::tar::EntryType) -> Vec<u8> {
    let mut header = ::tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(EICAR.len() as u64);
    header.set_mode(0o644);
    let mut b = ::tar::Builder::new(Vec::new());
    b.append_data(&mut header, "eicar.com", EICAR).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn every_tar_entry_that_holds_data_is_a_member_whatever_its_type() {
    for kind in [
        ::tar::EntryType::Continuous,
        ::tar::EntryType::new(b'Z'),
        ::tar::EntryType::new(b'V'),
        ::tar::EntryType::Link,
    ] {
        assert_eq!(
            infected_by(&look(&tar_of_type(kind), "t.tar", &limits())),
            ["t.tar>eicar.com:EICAR_Test_File"],
            "{kind:?}"
        );
    }
    // A sparse file: its chunk, then its hole, as GNU tar writes it out.
    assert_eq!(
        infected_by(&look(&sparse_tar("e.com", EICAR, 100), "s.tar", &limits())),
        ["s.tar>e.com:EICAR_Test_File"]
    );
    let shell = sparse_tar("s.php", WEBSHELL, 300_000);
    let found = infected_by(&look(&shell, "s.tar", &limits()));
    assert!(
        found.contains(&"s.tar>s.php:Webshell_PHP_Request_Eval".to_owned()),
        "{found:?}"
    );
}

/// A V7 tar (no `ustar` magic) of `eicar.com`, as `tar --format=v7` writes it.
fn v7_tar(data: &[u8]) -> Vec<u8> {
    let mut header = ::tar::Header::new_old();
    header.set_path("eicar.com").unwrap();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_uid(1000);
    header.set_gid(1000);
    header.set_mtime(1_700_000_000);
    header.set_cksum();
    let mut padded = data.to_vec();
    padded.resize(data.len().div_ceil(512) * 512, 0);
    [header.as_bytes().to_vec(), padded, vec![0; 1024]].concat()
}

#[test]
fn a_v7_tar_is_told_by_its_first_header() {
    let v7 = v7_tar(EICAR);
    assert!(!v7[257..].starts_with(b"ustar"));
    assert_eq!(
        infected_by(&look(&v7, "v.tar", &limits())),
        ["v.tar>eicar.com:EICAR_Test_File"]
    );
    assert_eq!(
        infected_by(&look(&gzip(&v7), "v.tgz", &limits())),
        ["v.tgz>v.tar>eicar.com:EICAR_Test_File"]
    );
    // Ordinary files are no tars.
    for path in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "src/lib.rs",
        "build.rs",
    ] {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(formats::Format::sniff(&bytes), None, "{path}");
    }
    for seed in 1..200 {
        assert_eq!(formats::Format::sniff(&noise(1024, seed)), None, "{seed}");
    }
}

#[test]
fn every_zip_entry_that_holds_data_is_a_member_whatever_its_mode_or_name() {
    let eicar = std::str::from_utf8(EICAR).unwrap();
    let mut w = ::zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = ::zip::write::SimpleFileOptions::default();
    w.add_symlink("link.com", eicar, options).unwrap();
    let link = w.finish().unwrap().into_inner();
    assert_eq!(
        infected_by(&look(&link, "l.zip", &limits())),
        ["l.zip>link.com:EICAR_Test_File"]
    );
    for name in ["eicar.com\\", "eicar.com/"] {
        let named = zip(&[(name, EICAR)]);
        assert_eq!(
            infected_by(&look(&named, "n.zip", &limits())),
            [format!("n.zip>{name}:EICAR_Test_File")]
        );
    }
}

/// EICAR in xz, its block's LZMA2 dictionary said to be 1 GiB (`xz -dc` decodes it).
fn big_dictionary_xz() -> Vec<u8> {
    let mut x = xz(EICAR);
    let size = (usize::from(x[12]) + 1) * 4;
    let block = 12..12 + size;
    let filter = memchr::memmem::find(&x[block.clone()], &[0x21, 0x01]).unwrap();
    x[12 + filter + 2] = 36;
    let sum = crc(&x[12..12 + size - 4]);
    x[block.end - 4..block.end].copy_from_slice(&sum.to_le_bytes());
    x
}

/// EICAR in zstd, its frame's window said to be 2 GiB (`zstd -d --long=31` decodes it).
fn big_window_zstd() -> Vec<u8> {
    let mut e = ::zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    e.include_contentsize(false).unwrap();
    e.write_all(EICAR).unwrap();
    let mut z = e.finish().unwrap();
    assert_eq!(
        z[4] & 0x20,
        0,
        "no single segment: a window descriptor follows"
    );
    z[5] = 21 << 3;
    z
}

#[test]
fn a_stream_a_decoders_limit_refuses_is_unscannable_naming_it() {
    let xz = big_dictionary_xz();
    let why = unscannable_reason(look(&xz, "big.xz", &limits()));
    assert!(
        why.starts_with("big.xz>big could not be decoded in full: needed memory"),
        "{why}"
    );
    let zst = big_window_zstd();
    let why = unscannable_reason(look(&zst, "big.zst", &limits()));
    assert!(
        why.starts_with("big.zst>big could not be decoded in full: Frame requires too much"),
        "{why}"
    );
    for method in [
        ::zip::CompressionMethod::Stored,
        ::zip::CompressionMethod::Deflated,
    ] {
        let nested = zip_with(method, &[("big.xz", &xz), ("big.zst", &zst)]);
        let found = look(&nested, "n.zip", &limits());
        let why = unscannable_reason(found.clone());
        assert!(
            why.starts_with("n.zip>big.xz>big could not be decoded"),
            "{why}"
        );
        assert!(
            found
                .notes
                .iter()
                .any(|n| n.starts_with("n.zip>big.zst>big could not")),
            "{found:?}"
        );
    }
}

#[test]
fn each_member_of_a_gzip_file_is_also_scanned_alone() {
    // The review's cat.gz: what a browser's decoder, which stops after the first member,
    // reads is EICAR alone (the whole is EICAR and 200 spaces, which the rule does not match).
    let cat = [gzip(EICAR), gzip(&[b' '; 200])].concat();
    let found = look(&cat, "c.gz", &limits());
    assert_eq!(infected_by(&found), ["c.gz>c#1:EICAR_Test_File"]);
    assert_eq!(found.members, 3, "the whole, then each member");
    let one = look(&gzip(EICAR), "o.gz", &limits());
    assert_eq!(infected_by(&one), ["o.gz>o:EICAR_Test_File"]);
    assert_eq!(one.members, 1, "one member: the whole only");
    // A gzip content coding likewise.
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
        encoding: Some("gzip"),
        ..Body::bytes(&cat)
    };
    let object = ObjectRef::new("site", "e.html");
    let found = inspect_body(&look, body, &object, std::time::Duration::from_secs(20));
    assert_eq!(
        infected_by(&found),
        ["e.html>Content-Encoding=gzip#1:EICAR_Test_File"]
    );
}

#[test]
fn false_directory_records_in_a_member_crowd_out_no_directory() {
    // The review's cat2.zip: a zip streamed with data descriptors holding EICAR, then a zip
    // whose stored member holds 17 end-of-central-directory records.
    let mut w = ::zip::ZipWriter::new_stream(Vec::new());
    let stored = ::zip::write::SimpleFileOptions::default()
        .compression_method(::zip::CompressionMethod::Stored);
    w.start_file("eicar.com", stored).unwrap();
    w.write_all(EICAR).unwrap();
    let first = w.finish().unwrap().into_inner();
    let junk = [
        &b"hello"[..],
        &[b"PK\x05\x06".as_slice(), &[0; 18]].concat().repeat(17),
    ]
    .concat();
    let second = zip_with(::zip::CompressionMethod::Stored, &[("readme.txt", &junk)]);
    let both = [first, second].concat();
    let found = look(&both, "c.zip", &limits());
    assert_eq!(infected_by(&found), ["c.zip>eicar.com:EICAR_Test_File"]);
    assert_eq!(found.incomplete, None, "{found:?}");
}
