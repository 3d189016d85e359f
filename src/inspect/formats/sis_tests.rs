//! The SIS decoder against hand-built release 5, 6 and v9 files, damage and the cap.

use super::*;
use crate::inspect::formats::decoder_tests::{
    GOLDEN, XorShift, every_bit, every_prefix, expired, flips, measure, mutations, names, survives,
};
use std::io::Write;
use std::time::Duration;

/// A release 3/5/6 SIS file to build, as `makesis` would lay it out.
struct Sis {
    release6: bool,
    options: u16,
    languages: Vec<u16>,
    records: Vec<Record>,
}

enum Record {
    /// File type, destination, source, and data (one per language when several).
    File(u32, &'static str, &'static str, Vec<Vec<u8>>),
    /// Any other record, as its words.
    Other(Vec<u32>),
}

fn words(words: &[u32]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn zlib(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), Default::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn build(sis: &Sis) -> Vec<u8> {
    let unicode = sis.options & OPTION_UNICODE != 0;
    let compressed = sis.release6 && sis.options & OPTION_NO_COMPRESS == 0;
    let per_fork = if sis.release6 { 3 } else { 2 };
    let extra = if sis.release6 { 2 } else { 0 };
    let records_at = 0x64 + 2 * sis.languages.len();
    let size = |record: &Record| match record {
        Record::File(.., forks) => 4 * (7 + per_fork * forks.len() + extra),
        Record::Other(words) => 4 * words.len(),
    };
    let blobs_at = records_at + sis.records.iter().map(size).sum::<usize>();
    let mut blobs = Vec::new();
    let mut place = |bytes: Vec<u8>| {
        let at = (blobs_at + blobs.len()) as u32;
        blobs.extend_from_slice(&bytes);
        [bytes.len() as u32, at]
    };
    let text = |s: &str| match unicode {
        true => s.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        false => s.as_bytes().to_vec(),
    };
    let mut records = Vec::new();
    for record in &sis.records {
        let (kind, target, source, forks) = match record {
            Record::File(kind, target, source, forks) => (kind, target, source, forks),
            Record::Other(other) => {
                records.extend(words(other));
                continue;
            }
        };
        let source = place(text(source));
        let target = place(text(target));
        let placed: Vec<[u32; 2]> = forks
            .iter()
            .map(|data| place(if compressed { zlib(data) } else { data.clone() }))
            .collect();
        let mut w = vec![u32::from(forks.len() > 1), *kind, 0];
        w.extend(source.iter().chain(&target));
        w.extend(placed.iter().map(|p| p[0]));
        w.extend(placed.iter().map(|p| p[1]));
        if sis.release6 {
            w.extend(forks.iter().map(|f| f.len() as u32));
            w.extend([0, 0]);
        }
        records.extend(words(&w));
    }
    let uid2 = if sis.release6 { UID2_ER6 } else { UID2_ER5 };
    let mut bytes = words(&[0x1000_1234, uid2, 0x1000_0419, 0]);
    bytes.extend([0, 0]); // checksum
    let counts = [sis.languages.len(), sis.records.len(), 0, 0, 0, 0, 0];
    bytes.extend(counts.iter().flat_map(|&n| (n as u16).to_le_bytes()));
    bytes.extend(words(&[if sis.release6 { 200 } else { 100 }]));
    bytes.extend(sis.options.to_le_bytes());
    bytes.extend([0; 10]); // type, version, variant
    bytes.extend(words(&[0x64, records_at as u32]));
    bytes.resize(0x64, 0);
    bytes.extend(sis.languages.iter().flat_map(|l| l.to_le_bytes()));
    bytes.extend(records);
    bytes.extend(blobs);
    bytes
}

fn text(what: &str) -> Vec<u8> {
    format!("{what}: a small file in a SIS test package\n")
        .repeat(4)
        .into_bytes()
}

/// Release 6, Unicode, compressed: one file.
fn release6() -> Vec<u8> {
    build(&Sis {
        release6: true,
        options: OPTION_UNICODE,
        languages: vec![1],
        records: vec![Record::File(
            0,
            "!:\\system\\apps\\demo\\demo.txt",
            "C:\\work\\demo.txt",
            vec![text("demo")],
        )],
    })
}

/// Release 5, 8-bit names, stored: conditions, a file per language, a null file.
fn release5() -> Vec<u8> {
    build(&Sis {
        release6: false,
        options: 0,
        languages: vec![1, 2],
        records: vec![
            Record::Other(vec![3, 8, 0x0d, 0]), // if (an 8-byte condition)
            Record::File(0, "C:\\System\\Apps\\x\\x.app", "x.app", vec![text("app")]),
            Record::Other(vec![6]), // end-if
            Record::File(0, "", "..\\src\\readme.txt", vec![text("readme")]),
            Record::File(4, "!:\\x.ini", "", vec![vec![]]),
            Record::File(0, "!:\\x.rsc", "", vec![text("english"), text("french")]),
        ],
    })
}

#[test]
fn release6_compressed_unicode() {
    let bytes = release6();
    assert!(starts(&bytes));
    let unpacked = unpack(&bytes, measure(1 << 20));
    assert_eq!(unpacked.problem, None);
    assert_eq!(names(&unpacked), ["system/apps/demo/demo.txt"]);
    assert_eq!(unpacked.files[0].1, text("demo"));
}

#[test]
fn release5_stored_with_conditions_and_languages() {
    let bytes = release5();
    assert!(starts(&bytes));
    let unpacked = unpack(&bytes, measure(1 << 20));
    assert_eq!(unpacked.problem, None);
    let expected = [
        "System/Apps/x/x.app",
        "readme.txt",
        "lang1/x.rsc",
        "lang2/x.rsc",
    ];
    assert_eq!(names(&unpacked), expected);
    assert_eq!(unpacked.files[1].1, text("readme"));
    assert_eq!(unpacked.files[3].1, text("french"));
}

#[test]
fn release6_no_compress_option_stores() {
    let bytes = build(&Sis {
        release6: true,
        options: OPTION_NO_COMPRESS,
        languages: vec![1],
        records: vec![Record::File(0, "!:\\a.txt", "", vec![text("a")])],
    });
    let unpacked = unpack(&bytes, measure(1 << 20));
    assert_eq!(unpacked.problem, None);
    assert_eq!(unpacked.files, [("a.txt".to_string(), text("a"))]);
}

#[test]
fn a_huge_claimed_length_is_damage_and_the_cap_holds() {
    let mut bytes = release6();
    let len_at = 0x64 + 2 + 28; // the file record's data length
    bytes[len_at..len_at + 4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let unpacked = unpack(&bytes, measure(1 << 20));
    assert!(
        unpacked
            .problem
            .expect("a problem")
            .why
            .contains("cut short")
    );
    let big = build(&Sis {
        release6: true,
        options: 0,
        languages: vec![1],
        records: vec![Record::File(0, "!:\\big", "", vec![vec![0; 1 << 20]])],
    });
    let unpacked = unpack(&big, measure(64 * 1024));
    assert!(unpacked.files.is_empty());
    assert!(unpacked.problem.expect("a problem").why.contains("cap"));
}

/// A SIS9 field: type, length, contents padded to 4 bytes (no type in arrays).
fn field(kind: Option<u32>, contents: &[u8]) -> Vec<u8> {
    let mut bytes = kind.map_or_else(Vec::new, |k| words(&[k]));
    bytes.extend(words(&[contents.len() as u32]));
    bytes.extend_from_slice(contents);
    bytes.resize(bytes.len().next_multiple_of(4), 0);
    bytes
}

fn array(kind: u32, elements: &[Vec<u8>]) -> Vec<u8> {
    let mut contents = words(&[kind]);
    for element in elements {
        contents.extend(field(None, element));
    }
    field(Some(SIS9_ARRAY), &contents)
}

fn compressed(algorithm: u32, data: &[u8]) -> Vec<u8> {
    let mut contents = words(&[algorithm, data.len() as u32, 0]);
    contents.extend(if algorithm == 1 {
        zlib(data)
    } else {
        data.to_vec()
    });
    field(Some(SIS9_COMPRESSED), &contents)
}

/// A Symbian OS 9 file: a controller (not read), then one data unit of three files.
fn sis9_file() -> Vec<u8> {
    let files = [
        compressed(1, &text("one")),
        compressed(0, b"two"),
        compressed(7, b"?"),
    ];
    let unit = array(SIS9_FILE_DATA, &files);
    let data = field(Some(SIS9_DATA), &array(SIS9_DATA_UNIT, &[unit]));
    let mut contents = compressed(0, b"controller");
    contents.extend(data);
    let mut bytes = words(&[UID1_SIS9, 0, 0x2000_1234, 0]);
    bytes.extend(field(Some(SIS9_CONTENTS), &contents));
    bytes
}

#[test]
fn sis9_files_are_read_by_place() {
    let bytes = sis9_file();
    assert!(starts(&bytes));
    let unpacked = unpack(&bytes, measure(1 << 20));
    assert_eq!(names(&unpacked), ["data0/file0", "data0/file1"]);
    assert_eq!(unpacked.files[0].1, text("one"));
    assert_eq!(unpacked.files[1].1, b"two");
    let problem = unpacked.problem.expect("a problem");
    assert!(problem.unsupported && problem.why.contains("algorithm 7"));
}

#[test]
fn a_passed_deadline_stops_reading() {
    for bytes in [release6(), sis9_file()] {
        let unpacked = unpack(&bytes, expired());
        assert!(unpacked.files.is_empty());
        assert!(unpacked.problem.expect("a problem").why.contains("time"));
    }
}

#[test]
fn not_a_sis_file() {
    assert!(!starts(b"\0\0\0\0\x6d\0\0\x10\x18\x04\0\x10"));
    let unpacked = unpack(&release5()[..0x20], measure(100));
    assert!(unpacked.files.is_empty() && unpacked.problem.is_some());
}

/// Unpacks `bytes`, which must not panic, and must finish fast within the cap.
fn check(bytes: &[u8]) {
    survives(unpack, bytes, 1 << 20, Duration::from_secs(2));
}

fn vectors() -> [Vec<u8>; 3] {
    [release6(), release5(), sis9_file()]
}

#[test]
fn every_prefix_and_bit_flip_is_read_safely() {
    for bytes in vectors() {
        every_prefix(&bytes, |_, prefix| check(prefix));
        flips(&bytes, every_bit(bytes.len()), check);
    }
}

#[test]
fn random_mutations_are_read_safely() {
    let edit = |rng: &mut XorShift, bytes: &mut Vec<u8>, _| {
        rng.overwrite(bytes, 0, 8);
        rng.maybe_cut(bytes);
    };
    mutations(&vectors(), GOLDEN, 3000, edit, check);
}

#[test]
fn the_real_sample_holds_clam_exe() {
    let dir = std::path::Path::new("/usr/share/clamav-testfiles");
    let (Ok(sis), Ok(clam)) = (
        std::fs::read(dir.join("clam.sis")),
        std::fs::read(dir.join("clam.exe")),
    ) else {
        return; // not on this machine
    };
    assert!(starts(&sis));
    let unpacked = unpack(&sis, measure(1 << 20));
    assert_eq!(unpacked.problem, None);
    assert_eq!(unpacked.files, [("clam.exe".to_string(), clam)]);
}

#[test]
fn eicar_in_an_installer_is_found_by_the_walk() {
    use crate::inspect::tests::{EICAR, labels, limits, look};
    let sis = build(&Sis {
        release6: true,
        options: OPTION_UNICODE,
        languages: vec![1],
        records: vec![Record::File(
            0,
            "!:\\system\\apps\\x\\eicar.com",
            "C:\\eicar.com",
            vec![EICAR.to_vec()],
        )],
    });
    let found = look(&sis, "x.sis", &limits());
    assert_eq!(
        labels(&found),
        ["x.sis>system/apps/x/eicar.com:EICAR_Test_File"],
        "{found:?}"
    );
}
