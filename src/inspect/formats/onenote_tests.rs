//! The OneNote walker against hand-built sections, damage and the cap; ClamAV's samples when decoded into CLAMAV_TESTFILES.

use super::*;
use crate::inspect::formats::decoder_tests::{
    SEED, XorShift, a_bit_of, every_prefix, expired, flips, measure, mutations, names, survives,
};
use std::time::{Duration, Instant};

// No OneNote is at hand: the vectors are built here as the specification lays them out
// (and as ClamAV's sample sections do, which the last tests read when present).

/// A FileDataStoreObject holding `data`, claiming `length` bytes.
fn store_object(data: &[u8], length: u64) -> Vec<u8> {
    let mut b = DATA_HEADER.to_vec();
    b.extend(length.to_le_bytes());
    b.extend([0; 12]);
    b.extend(data);
    b.resize(b.len().next_multiple_of(8), 0);
    b.extend(DATA_FOOTER);
    b
}

/// A revision-store section: the header (guidFileType, guidFile, guidLegacyFileVersion,
/// guidFileFormat {109ADD3F-911B-49F5-A5D0-1791EDC8AED8}), padding, two embedded files
/// with other data between.
fn section() -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    b.extend([0x11; 16]);
    b.extend([0; 16]);
    b.extend([
        0x3F, 0xDD, 0x9A, 0x10, 0x1B, 0x91, 0xF5, 0x49, 0xA5, 0xD0, 0x17, 0x91, 0xED, 0xC8, 0xAE,
        0xD8,
    ]);
    b.resize(0x400, 0);
    b.extend(store_object(b"first attachment\r\n", 18));
    b.extend(b"page property sets go here");
    b.resize(b.len().next_multiple_of(8), 0);
    b.extend(store_object(b"second, eight-aligned...", 24));
    b.extend([0; 64]);
    b
}

/// The compact form of `v` (MS-FSSHTTPB 2.2.1.1).
fn compact_bytes(v: u64) -> Vec<u8> {
    for size in 1..=7u32 {
        if v < 1 << (7 * size) {
            let word = ((v << size) | 1 << (size - 1)).to_le_bytes();
            return word[..size as usize].to_vec();
        }
    }
    [vec![0x80], v.to_le_bytes().to_vec()].concat()
}

/// An Object Data BLOB stream object holding `data`.
fn blob_object(data: &[u8]) -> Vec<u8> {
    let item = [compact_bytes(data.len() as u64), data.to_vec()].concat();
    let length = item.len() as u32;
    let mut b = ((length.min(0x7FFF) << 17) | BLOB_HEADER)
        .to_le_bytes()
        .to_vec();
    if length >= 0x7FFF {
        b.extend(compact_bytes(length.into()));
    }
    [b, item].concat()
}

/// An alternative-packaging section: its header, then data elements around blobs (the
/// 0x15 bytes end the stream objects before them, as in ClamAV's sample).
fn packaged(big: &[u8]) -> Vec<u8> {
    let mut b = MAGIC.to_vec();
    b.extend([0x22; 32]);
    b.extend(PACKAGED);
    b.extend([0, 0, 0, 0, 0xD6, 0x03, 0x42, 0x00, 0x15]);
    b.extend(blob_object(b"a small picture"));
    b.extend([0x0C, 0x56, 0x0C, 0x2D, 0x15]);
    b.extend(blob_object(big));
    b.extend([0x15, 0x01, 0x2C]);
    b
}

fn big() -> Vec<u8> {
    (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn store_objects_are_read_in_file_order() {
    let u = unpack(&section(), measure(1 << 20));
    assert_eq!(u.problem, None);
    assert_eq!(names(&u), ["embedded1.bin", "embedded2.bin"]);
    assert_eq!(u.files[0].1, b"first attachment\r\n");
    assert_eq!(u.files[1].1, b"second, eight-aligned...");
}

#[test]
fn packaged_blobs_are_read_short_and_large() {
    let u = unpack(&packaged(&big()), measure(1 << 20));
    assert_eq!(u.problem, None);
    assert_eq!(names(&u), ["embedded1.bin", "embedded2.bin"]);
    assert_eq!(u.files[0].1, b"a small picture");
    assert_eq!(u.files[1].1, big());
}

#[test]
fn compact_integers_read_in_every_size() {
    for v in [
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        1 << 40,
        1 << 48,
        1 << 50,
        u64::MAX,
    ] {
        let mut at = 0;
        let bytes = compact_bytes(v);
        assert_eq!(compact(&bytes, &mut at), Some(v), "{v}");
        assert_eq!(at, bytes.len());
    }
}

#[test]
fn starts_only_at_the_file_type_guid() {
    assert!(starts(&section()));
    assert!(starts(&packaged(b"x")));
    assert!(!starts(&section()[1..]));
    assert!(!starts(&DATA_HEADER));
}

#[test]
fn a_missing_footer_keeps_the_others() {
    let mut bytes = section();
    let at = 0x400 + 56; // 36 + 18 bytes, padded to 8
    assert_eq!(bytes[at..at + 16], DATA_FOOTER);
    bytes[at] ^= 1;
    let u = unpack(&bytes, measure(1 << 20));
    assert_eq!(u.files.len(), 1);
    assert_eq!(u.files[0].1, b"second, eight-aligned...");
    let problem = u.problem.expect("a problem");
    assert_eq!(problem.member.as_deref(), Some("embedded1.bin"));
    assert!(problem.why.contains("footer"), "{}", problem.why);
}

#[test]
fn a_length_past_the_end_is_a_problem() {
    let mut bytes = section();
    bytes.truncate(bytes.len() - 100);
    let u = unpack(&bytes, measure(1 << 20));
    assert_eq!(names(&u), ["embedded1.bin"]);
    let problem = u.problem.expect("a problem");
    assert_eq!(problem.member.as_deref(), Some("embedded2.bin"));
    assert!(problem.why.contains("past the end"), "{}", problem.why);
}

#[test]
fn a_huge_claimed_size_stops_at_the_cap() {
    let start = Instant::now();
    let mut bytes = section();
    bytes.extend(store_object(&[0x41; 0x2000], 0x2000));
    let u = unpack(&bytes, measure(0x1000));
    assert_eq!(names(&u), ["embedded1.bin", "embedded2.bin"]);
    let problem = u.problem.expect("a problem");
    assert_eq!(problem.member.as_deref(), Some("embedded3.bin"));
    assert!(problem.why.contains("cap"), "{}", problem.why);
    let mut bytes = section();
    bytes[0x410..0x418].copy_from_slice(&u64::MAX.to_le_bytes());
    let u = unpack(&bytes, measure(1 << 20));
    assert_eq!(u.files.len(), 1);
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_passed_deadline_stops_with_a_problem() {
    let u = unpack(&section(), expired());
    assert!(u.files.is_empty());
    assert!(u.problem.expect("a problem").why.contains("time"));
}

/// The directory of ClamAV's test files: `CLAMAV_TESTFILES`, else the Debian package's.
fn samples() -> String {
    std::env::var("CLAMAV_TESTFILES").unwrap_or("/usr/share/clamav-testfiles".into())
}

#[test]
fn the_real_samples_give_clam_exe() {
    let dir = samples();
    let Ok(exe) = std::fs::read(format!("{dir}/clam.exe")) else {
        return; // the samples are not on this machine
    };
    let samples = [
        ("clam.exe.2007.one", 1),
        ("clam.exe.2010.one", 53),
        ("clam.exe.webapp-export.one", 3),
    ];
    for (sample, count) in samples {
        let Ok(one) = std::fs::read(format!("{dir}/{sample}")) else {
            continue; // ClamAV's source has them (xor'ed), its Debian package not
        };
        assert!(starts(&one));
        let u = unpack(&one, measure(1 << 24));
        assert_eq!(u.problem, None, "{sample}");
        assert_eq!(u.files.len(), count, "{sample}");
        assert!(u.files.iter().any(|f| f.1 == exe), "{sample}");
    }
}

/// Unpacks `bytes` within a second and the cap, whatever they are.
fn check(bytes: &[u8]) {
    survives(unpack, bytes, 1 << 16, Duration::from_secs(1));
}

fn vectors() -> [Vec<u8>; 2] {
    [section(), packaged(&big()[..300])]
}

#[test]
fn every_prefix_is_read_without_panic() {
    for vector in vectors() {
        every_prefix(&vector, |_, prefix| check(prefix));
    }
}

#[test]
fn bit_flips_are_read_without_panic() {
    for vector in vectors() {
        flips(&vector, a_bit_of(0..vector.len()), check);
    }
}

#[test]
fn random_mutations_are_read_without_panic() {
    let edit =
        |rng: &mut XorShift, bytes: &mut Vec<u8>, _| rng.edit(bytes, |rng, b| rng.below(b.len()));
    mutations(&vectors(), SEED, 3000, edit, check);
}

#[test]
fn eicar_attached_to_a_page_is_found_by_the_walk() {
    use crate::inspect::tests::{EICAR, labels, limits, look};
    let mut one = section();
    one.truncate(0x400);
    one.extend(store_object(EICAR, EICAR.len() as u64));
    let found = look(&one, "notes.one", &limits());
    assert_eq!(
        labels(&found),
        ["notes.one>embedded1.bin:EICAR_Test_File"],
        "{found:?}"
    );
}
