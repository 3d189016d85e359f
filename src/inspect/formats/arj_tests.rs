//! The ARJ decoder against archives ARJ32 3.10 made, damaged ones and the cap.

use super::*;
use crate::inspect::formats::decoder_tests::{
    SEED, XorShift, every_bit, every_prefix, expired, flips, hex, measure, mutations, names, within,
};
use std::time::Duration;

/// note.txt, the file in the vectors below.
const TEXT: &str = "The quick brown fox jumps over the lazy dog. ARJ test vector for the scanner.\n\
    Pack my box with five dozen liquor jugs; sphinx of black quartz, judge my vow.\n\
    The quick brown fox jumps over the lazy dog again, and again, and again.\n\
    How vexingly quick daft zebras jump! 0123456789 0123456789 abcdefghij\n";

// Made with ARJ32 3.10: `arj a -mN N.arj note.txt` for N = 0-4 (methods 2 and 3 pack
// this small file as method 1 does, under their own method number), `arj a -m1 -r p.arj
// note.txt sub/b.txt` (b.txt does not shrink, so it is stored) and `arj a -m4 -gsecret
// g.arj sub/b.txt` (garbled).
const STORED: &str = "\
60ea2900220b0102100002a04d06156b4d06156b000000000000000000000000000000000000302e61726a0000b292ce\
33000060ea38002e0b01021000004dde05156b2c0100002c0100009a6f68ab0000a411000000000000de05156bde0515\
6b000000006e6f74652e7478740000c65b6731000054686520717569636b2062726f776e20666f78206a756d7073206f\
76657220746865206c617a7920646f672e2041524a207465737420766563746f7220666f7220746865207363616e6e65\
722e0a5061636b206d7920626f782077697468206669766520646f7a656e206c6971756f72206a7567733b2073706869\
6e78206f6620626c61636b2071756172747a2c206a75646765206d7920766f772e0a54686520717569636b2062726f77\
6e20666f78206a756d7073206f76657220746865206c617a7920646f6720616761696e2c20616e6420616761696e2c20\
616e6420616761696e2e0a486f7720766578696e676c7920717569636b2064616674207a6562726173206a756d702120\
303132333435363738392030313233343536373839206162636465666768696a0a60ea0000";
use crate::inspect::formats::samples::ARJ_METHOD1 as METHOD1;
const METHOD2: &str = "\
60ea2900220b0102100002a04d06156b4d06156b000000000000000000000000000000000000322e61726a00009b8351\
a4000060ea38002e0b01021002004dde05156bbd0000002c0100009a6f68ab0000a411000000000000de05156bde0515\
6b000000006e6f74652e747874000086807112000000c25c76d9b4a531f7803f11cedc0aa01cc261bcc279e64ff75fed\
d738b4d6dbaedbc71a030482f80a24001a49fe5a630932cfd087ba6d0a7642e972e700ec4de2343af2d330972eb1eff7\
f2227088c4ec8b9f459d90c2c26b4df5d5f45488e598452166c8da14cc4e8ef4368bd984a8bee92e1ec21ced63720e50\
45fd19e1227c74d74352b3e9038ba75d5e39c04b26375826a7ff2aeaf874e9d9e4c6aefcffa4524a88d0d0f287593d43\
66df2f3f4f5ddbf871ef9122c49a976b2ea860ea0000";
const METHOD3: &str = "\
60ea2900220b0102100002a04d06156b4d06156b000000000000000000000000000000000000332e61726a00002f8826\
02000060ea38002e0b01021003004dde05156bbd0000002c0100009a6f68ab0000a411000000000000de05156bde0515\
6b000000006e6f74652e747874000015734fd8000000c25c76d9b4a531f7803f11cedc0aa01cc261bcc279e64ff75fed\
d738b4d6dbaedbc71a030482f80a24001a49fe5a630932cfd087ba6d0a7642e972e700ec4de2343af2d330972eb1eff7\
f2227088c4ec8b9f459d90c2c26b4df5d5f45488e598452166c8da14cc4e8ef4368bd984a8bee92e1ec21ced63720e50\
45fd19e1227c74d74352b3e9038ba75d5e39c04b26375826a7ff2aeaf874e9d9e4c6aefcffa4524a88d0d0f287593d43\
66df2f3f4f5ddbf871ef9122c49a976b2ea860ea0000";
const METHOD4: &str = "\
60ea2900220b0102100002a04d06156b4d06156b000000000000000000000000000000000000342e61726a0000a1b681\
c7000060ea38002e0b01021004004dde05156be60000002c0100009a6f68ab0000a411000000000000de05156bde0515\
6b000000006e6f74652e7478740000359d9c7200002a1a0ca20389d4d26335880c472379dcdc20331bcf020351d4da70\
39880de76329c8407480f1b0c27a3c880c86f338b84041291284074329cce8203b194c674379ca0599084e663309b8dc\
65390b8145030c120da791018a08a77349d0d020331a4ec6581d9e8ca6e101b0d2713ac0bcd475339cc7620399c0d069\
371e0406f33080c46ca199c4ea61391d0f42c80e990ce65a209d8de771702be5138203099cc269370b0406137193c005\
0b81448379de16678349b8ce6c3ce85132184cc74101e8ca6239184e7814c4220180c464331a0d46c371c0e798146131\
18cc8653319cd06935028060ea0000";
const PATHS: &str = "\
60ea2900220b0102100002a04d06156b4d06156b000000000000000000000000000000000000702e61726a0000cbe7c5\
77000060ea38002e0b01021001004dde05156bbd0000002c0100009a6f68ab0000a411000000000000de05156bde0515\
6b000000006e6f74652e747874000072924397000000c25c76d9b4a531f7803f11cedc0aa01cc261bcc279e64ff75fed\
d738b4d6dbaedbc71a030482f80a24001a49fe5a630932cfd087ba6d0a7642e972e700ec4de2343af2d330972eb1eff7\
f2227088c4ec8b9f459d90c2c26b4df5d5f45488e598452166c8da14cc4e8ef4368bd984a8bee92e1ec21ced63720e50\
45fd19e1227c74d74352b3e9038ba75d5e39c04b26375826a7ff2aeaf874e9d9e4c6aefcffa4524a88d0d0f287593d43\
66df2f3f4f5ddbf871ef9122c49a976b2ea860ea39002e0b01020000004dde05156b180000001800000004d6bdf10400\
a411000000000000de05156bde05156b000000007375622f622e7478740000cd4d3ec200007365636f6e642066696c65\
20696e206120666f6c6465720a60ea0000";
const GARBLED: &str = "\
60ea2900220b0102110002004d06156b4d06156b000000000000000000000000010000000000672e61726a00000e7377\
35000060ea39002e0b01020104004dde05156b1b0000001800000004d6bdf10400a411000000000000de05156bde0515\
6b000000007375622f622e74787400006c756fff0000f92bfcd941b050f2d68b29cd62b1f907f2a0d0ab3d5971e05456\
ba60ea0000";

fn run(bytes: &[u8]) -> Unpacked {
    unpack(bytes, measure(1 << 20))
}

/// Where the first local header of a vector starts.
fn first_local(bytes: &[u8]) -> usize {
    read_header(bytes, 0)
        .ok()
        .flatten()
        .map(|h| h.data_at)
        .unwrap_or(0)
}

/// Rewrites the first local header's basic header with `edit` and fixes its CRC, so
/// that only the edited field is wrong.
fn edit_first(vector: &str, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut bytes = hex(vector);
    let at = first_local(&bytes);
    let size = usize::from(le16(&bytes, at + 2).unwrap_or(0));
    edit(&mut bytes[at + 4..at + 4 + size]);
    let crc = crc32(&bytes[at + 4..at + 4 + size]);
    bytes[at + 4 + size..at + 8 + size].copy_from_slice(&crc.to_le_bytes());
    bytes
}

#[test]
fn every_method_gives_the_text() {
    for (method, vector) in [STORED, METHOD1, METHOD2, METHOD3, METHOD4]
        .iter()
        .enumerate()
    {
        let bytes = hex(vector);
        assert!(starts(&bytes));
        let header = read_header(&bytes, first_local(&bytes)).ok().flatten();
        assert_eq!(header.map(|h| h.method), Some(method as u8));
        let out = run(&bytes);
        assert_eq!(out.problem, None, "method {method}");
        assert_eq!(
            out.files,
            vec![("note.txt".to_string(), TEXT.as_bytes().to_vec())]
        );
    }
}

#[test]
fn paths_keep_their_folders() {
    let out = run(&hex(PATHS));
    assert_eq!(out.problem, None);
    assert_eq!(names(&out), ["note.txt", "sub/b.txt"]);
    assert_eq!(out.files[1].1, b"second file in a folder\n");
}

#[test]
fn garbled_members_are_encrypted() {
    let out = run(&hex(GARBLED));
    assert!(out.files.is_empty());
    assert_eq!(out.encrypted, ["sub/b.txt"]);
    assert_eq!(out.problem, None);
}

#[test]
fn other_methods_and_volumes_are_unsupported() {
    let out = run(&edit_first(METHOD1, |h| h[5] = 7));
    let problem = out.problem.expect("a problem");
    assert!(
        problem.unsupported && problem.why.contains("method 7"),
        "{problem:?}"
    );
    let out = run(&edit_first(METHOD1, |h| h[4] |= FLAG_VOLUME));
    assert!(out.problem.expect("a problem").why.contains("volume"));
}

#[test]
fn a_crc_mismatch_is_broken_but_the_bytes_are_kept() {
    let out = run(&edit_first(METHOD4, |h| h[20] ^= 1));
    assert_eq!(out.files[0].1, TEXT.as_bytes());
    let problem = out.problem.expect("a problem");
    assert!(
        !problem.unsupported && problem.why.contains("CRC-32"),
        "{problem:?}"
    );
}

#[test]
fn a_huge_size_stops_at_the_cap() {
    let out = run(&edit_first(METHOD1, |h| {
        h[16..20].copy_from_slice(&[0xFF; 4])
    }));
    assert!(out.files.is_empty());
    assert!(out.problem.expect("a problem").why.contains("cap"));
    let out = unpack(&hex(METHOD1), measure(100));
    assert!(out.files.is_empty() && out.problem.is_some());
}

#[test]
fn a_passed_deadline_stops_the_walk() {
    let out = unpack(&hex(METHOD1), expired());
    assert!(out.problem.expect("a problem").why.contains("time"));
}

#[test]
fn other_bytes_do_not_start_an_archive() {
    assert!(!starts(b""));
    assert!(!starts(b"MZ\x90\x00"));
    let mut bytes = hex(METHOD1);
    bytes[10] ^= 0x40; // inside the main header: its CRC no longer matches
    assert!(!starts(&bytes));
    let bytes = hex(METHOD1);
    assert!(
        !starts(&bytes[first_local(&bytes)..]),
        "a local header is no archive"
    );
    assert!(unpack(b"\x60\xea", measure(10)).problem.is_some());
}

#[test]
fn every_prefix_is_a_problem_not_a_panic() {
    for vector in [STORED, METHOD1, METHOD4, PATHS] {
        every_prefix(&hex(vector), |end, prefix| {
            assert!(run(prefix).problem.is_some(), "prefix {end}");
        });
    }
}

#[test]
fn every_bit_flip_finishes() {
    for vector in [METHOD1, METHOD4] {
        let bytes = hex(vector);
        flips(&bytes, every_bit(bytes.len()), |flipped| {
            let _ = run(flipped);
        });
    }
}

#[test]
fn random_mutations_finish_fast() {
    let vectors = [METHOD1, METHOD4, PATHS, STORED].map(hex);
    let edit = |rng: &mut XorShift, bytes: &mut Vec<u8>, case: usize| {
        // Mostly the compressed data past the headers, sometimes anywhere.
        let from = if case.is_multiple_of(4) {
            0
        } else {
            first_local(bytes) + 60
        };
        rng.overwrite(bytes, from, 8);
        // The header CRCs are fixed up half the time, to reach the decoders.
        if case % 2 == 1 {
            let at = first_local(bytes);
            let size = usize::from(le16(bytes, at + 2).unwrap_or(0));
            if let Some(basic) = bytes.get(at + 4..at + 4 + size) {
                let crc = crc32(basic).to_le_bytes();
                if let Some(slot) = bytes.get_mut(at + 4 + size..at + 8 + size) {
                    slot.copy_from_slice(&crc);
                }
            }
        }
    };
    within(Duration::from_secs(20), || {
        mutations(&vectors, SEED, 3000, edit, |bytes| {
            let _ = run(bytes);
        });
    });
}

#[test]
fn the_clamav_sample_gives_clam_exe() {
    let dir = std::path::Path::new("/usr/share/clamav-testfiles");
    let (Ok(archive), Ok(exe)) = (
        std::fs::read(dir.join("clam.arj")),
        std::fs::read(dir.join("clam.exe")),
    ) else {
        return; // the sample is not on this machine
    };
    assert!(starts(&archive));
    let out = run(&archive);
    assert_eq!(out.problem, None);
    assert_eq!(out.files.len(), 1);
    assert_eq!(out.files[0].0, "clam.exe");
    assert!(out.files[0].1 == exe, "clam.exe differs");
}

/// The stored vector with `data` as its file's bytes (sizes and CRCs made to fit).
fn stored_with(data: &[u8]) -> Vec<u8> {
    let vector = hex(STORED);
    let local = first_local(&vector);
    let header = read_header(&vector, local)
        .ok()
        .flatten()
        .expect("a local header");
    let mut bytes = vector[..header.data_at].to_vec();
    let (size, basic) = (usize::from(le16(&bytes, local + 2).unwrap_or(0)), local + 4);
    let len = (data.len() as u32).to_le_bytes();
    bytes[basic + 12..basic + 16].copy_from_slice(&len);
    bytes[basic + 16..basic + 20].copy_from_slice(&len);
    bytes[basic + 20..basic + 24].copy_from_slice(&crc32(data).to_le_bytes());
    let crc = crc32(&bytes[basic..basic + size]);
    bytes[basic + size..basic + size + 4].copy_from_slice(&crc.to_le_bytes());
    [&bytes, data, &[0x60, 0xea, 0, 0]].concat()
}

#[test]
fn eicar_in_an_archive_and_a_self_extractor_is_found_by_the_walk() {
    use crate::inspect::tests::{EICAR, labels, limits, look};
    let archive = stored_with(EICAR);
    let found = look(&archive, "x.arj", &limits());
    assert_eq!(
        labels(&found),
        ["x.arj>note.txt:EICAR_Test_File"],
        "{found:?}"
    );
    let sfx = [b"MZ".as_slice(), &[0; 100], &archive].concat();
    let found = look(&sfx, "setup.exe", &limits());
    assert_eq!(
        labels(&found),
        ["setup.exe>@102.arj>note.txt:EICAR_Test_File"],
        "{found:?}"
    );
}
