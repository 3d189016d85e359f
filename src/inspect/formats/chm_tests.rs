//! The CHM decoder against hand-built section-0 and LZX files, damage and the cap; the real sample.

use super::*;
use crate::inspect::formats::decoder_tests::{
    SEED, XorShift, a_bit_of, every_prefix, expired, flips, measure, mutations, names, survives,
};
use std::time::{Duration, Instant};

fn encint_bytes(mut v: u64) -> Vec<u8> {
    let mut out = vec![(v & 0x7F) as u8];
    v >>= 7;
    while v > 0 {
        out.insert(0, (v & 0x7F) as u8 | 0x80);
        v >>= 7;
    }
    out
}

const CHUNK: usize = 0x200;

// No CHM compiler is at hand: the vectors are built here. Written out, the stored one
// extracts the same with extract_chmLib; the LZX one the same with libmspack's chmd and
// with chmlib 0.40 built from source (Debian's extract_chmLib 0.40a refuses it).

/// A CHM as hhc lays one out: the ITSF header (version 3),
/// header section 0, the ITSP header, one PMGL chunk listing `files` (name, section,
/// offset, length), then section 0.
fn chm(files: &[(&str, u64, u64, u64)], section0: &[u8]) -> Vec<u8> {
    let content = 0x78 + ITSP_LEN as usize + CHUNK;
    let total = (content + section0.len()) as u64;
    let mut b = b"ITSF".to_vec();
    for v in [3u32, 0x60, 1, 0x1234_5678, 0x409] {
        b.extend(v.to_le_bytes());
    }
    b.extend(GUIDS);
    for v in [0x60u64, 0x18, 0x78, ITSP_LEN + CHUNK as u64, content as u64] {
        b.extend(v.to_le_bytes());
    }
    b.extend([0xFE, 1, 0, 0, 0, 0, 0, 0]);
    b.extend(total.to_le_bytes());
    b.extend([0; 8]);
    b.extend(b"ITSP");
    for v in [
        1u32,
        0x54,
        10,
        CHUNK as u32,
        2,
        1,
        u32::MAX,
        0,
        0,
        u32::MAX,
        1,
        0x409,
    ] {
        b.extend(v.to_le_bytes());
    }
    b.extend([0x6A, 0x92, 0x02, 0x5D, 0x2E, 0x21, 0xD0, 0x11]);
    b.extend([0x9D, 0xF9, 0x00, 0xA0, 0xC9, 0x22, 0xE6, 0xEC]);
    for v in [0x54u32, u32::MAX, u32::MAX, u32::MAX] {
        b.extend(v.to_le_bytes());
    }
    b.extend(pmgl(files));
    b.extend(section0);
    b
}

fn pmgl(files: &[(&str, u64, u64, u64)]) -> Vec<u8> {
    let mut entries = Vec::new();
    for (name, section, offset, length) in files {
        entries.extend(encint_bytes(name.len() as u64));
        entries.extend(name.as_bytes());
        for v in [*section, *offset, *length] {
            entries.extend(encint_bytes(v));
        }
    }
    let mut c = b"PMGL".to_vec();
    let free = (CHUNK - PMGL_ENTRIES - entries.len()) as u32;
    for v in [free, 0, u32::MAX, u32::MAX] {
        c.extend(v.to_le_bytes());
    }
    c.extend(entries);
    c.resize(CHUNK - 2, 0);
    c.extend((files.len() as u16).to_le_bytes());
    c
}

const STORED: &[u8] = b"<html><body>stored in section 0</body></html>\n";
const TEXT: &[u8] = b"xyyyyyy01234560123456012";

/// Section-0 files only: a text file, a file in a subdirectory, an empty file.
fn stored_chm() -> Vec<u8> {
    let files = [
        ("/", 0, 0, 0),
        ("/#SYSTEM", 0, 0, 4),
        ("/dir/", 0, 0, 0),
        ("/dir/page.htm", 0, 4, STORED.len() as u64),
        ("/empty.txt", 0, 0, 0),
        ("::DataSpace/NameList", 0, 0, 4),
    ];
    chm(&files, &[b"\x03\0\0\0", STORED].concat())
}

/// An LZX bit writer: bits from the most significant, in 16-bit little-endian words.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    word: u32,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            self.word = self.word << 1 | (value >> i & 1);
            self.n += 1;
            if self.n == 16 {
                self.out.extend((self.word as u16).to_le_bytes());
                (self.word, self.n) = (0, 0);
            }
        }
    }
    /// To the next 16-bit word, as a frame's end does.
    fn align(&mut self) {
        if self.n > 0 {
            self.put(0, 16 - self.n);
        }
    }
    /// The header of an uncompressed block: its 1 to 16 bits of padding, R0 to R2.
    fn uncompressed(&mut self, size: u32) {
        self.put(3, 3);
        self.put(size >> 8, 16);
        self.put(size & 0xFF, 8);
        self.put(0, if self.n == 0 { 16 } else { 16 - self.n });
        for _ in 0..3 {
            self.out.extend(1u32.to_le_bytes());
        }
    }
    /// A pretree giving `lengths` (symbol, length), the others absent.
    fn pretree(&mut self, lengths: &[(usize, u32)]) {
        for symbol in 0..20 {
            let len = lengths
                .iter()
                .find(|(s, _)| *s == symbol)
                .map_or(0, |l| l.1);
            self.put(len, 4);
        }
    }
}

/// A verbatim LZX block of one 32 KiB frame (window 64 KiB): `TEXT` (literals and three
/// kinds of match), then '2' repeated, then "!!!!". Main tree: a match of offset 1 and
/// length 5 in 2 bits ("00"), a repeated-offset match of length 3 ("010"), a match of
/// position slot 6 and length 7 ("011"), each literal in 9 bits ("1" and the byte).
fn verbatim_frame(w: &mut Bits) {
    w.put(0, 1); // no E8 translation
    w.put(1, 3);
    w.put(FRAME as u32 >> 8, 16);
    w.put(0, 8);
    w.pretree(&[(0, 1), (8, 1)]); // "1": length 9 (17 - 8)
    (0..256).for_each(|_| w.put(1, 1));
    w.pretree(&[(0, 1), (14, 2), (15, 2)]); // "0": 0, "10": length 3, "11": length 2
    for element in 256..256 + 256 {
        match element {
            283 => w.put(3, 2),
            257 | 309 => w.put(2, 2),
            _ => w.put(0, 1),
        }
    }
    w.pretree(&[(0, 1), (1, 1)]);
    (0..249).for_each(|_| w.put(0, 1)); // no length tree
    let literal = |w: &mut Bits, s: &[u8]| s.iter().for_each(|&c| w.put(0x100 | c as u32, 9));
    literal(w, b"xy");
    w.put(0, 2); // offset 1, length 5
    literal(w, b"0123456");
    w.put(3, 3); // slot 6 (offset 6 + footer), length 7
    w.put(1, 2); // footer 1: offset 7
    w.put(2, 3); // R0 (7), length 3
    (0..(FRAME as usize - TEXT.len() - 4) / 5).for_each(|_| w.put(0, 2));
    literal(w, b"!!!!");
    w.align();
}

fn raw(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// The decompressed section 1 of `lzx_chm`: frame 0 (verbatim), frame 1 (uncompressed,
/// same reset interval), frame 2 (uncompressed, after a reset), 100 bytes used of it.
fn section1() -> Vec<u8> {
    let mut s = TEXT.to_vec();
    s.resize(FRAME as usize - 4, b'2');
    s.extend(b"!!!!");
    s.extend(raw(FRAME as usize + 100));
    s
}

/// A CHM with section 1 in `frames` frames of LZX (1 to 3) reset every 2 frames, `length`
/// bytes long, and files in it that end, start and span frames (`b_len` bytes).
fn lzx_chm(frames: usize, length: u64, b_len: u64) -> Vec<u8> {
    let mut w = Bits::default();
    let mut starts = vec![0u64];
    verbatim_frame(&mut w);
    let data = raw(FRAME as usize * 2);
    for frame in 1..frames {
        starts.push(w.out.len() as u64);
        if frame == 2 {
            w.put(0, 1); // after a reset: the E8 header again
        }
        w.uncompressed(FRAME as u32);
        w.out
            .extend(&data[(frame - 1) * FRAME as usize..][..FRAME as usize]);
    }
    let control = [6u32, u32::from_le_bytes(*b"LZXC"), 2, 2, 2, 1, 0];
    let control: Vec<u8> = control.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mut table: Vec<u8> = [2u32, frames as u32, 8, 0x28]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    for v in [length, w.out.len() as u64, FRAME].iter().chain(&starts) {
        table.extend(v.to_le_bytes());
    }
    let (t, c) = (control.len() as u64, table.len() as u64);
    let files = [
        ("/a.txt", 1, 0, TEXT.len() as u64),
        ("/c.txt", 1, 2 * FRAME + 10, 50),
        ("/d.txt", 1, FRAME + 7000, 10),
        ("/dir/b.bin", 1, FRAME - 8, b_len),
        ("/empty", 1, 0, 0),
        ("/s.txt", 0, t + c + w.out.len() as u64, STORED.len() as u64),
        (SYSTEM[0], 0, t + c, w.out.len() as u64),
        (SYSTEM[1], 0, 0, t),
        (SYSTEM[2], 0, t, c),
    ];
    chm(&files, &[control, table, w.out, STORED.to_vec()].concat())
}

#[test]
fn stored_files_are_read_in_directory_order() {
    let u = unpack(&stored_chm(), measure(1 << 20));
    assert_eq!(u.problem, None);
    assert_eq!(names(&u), ["#SYSTEM", "dir/page.htm", "empty.txt"]);
    assert_eq!(u.files[1].1, STORED);
    assert_eq!(u.files[2].1, b"");
}

#[test]
fn lzx_files_span_frames_and_resets() {
    let u = unpack(&lzx_chm(3, 2 * FRAME + 100, FRAME + 16), measure(1 << 20));
    assert_eq!(u.problem, None);
    assert_eq!(
        names(&u),
        ["empty", "s.txt", "a.txt", "dir/b.bin", "d.txt", "c.txt"]
    );
    let s = section1();
    let at = |o: u64, l: u64| &s[o as usize..(o + l) as usize];
    assert_eq!(u.files[1].1, STORED);
    assert_eq!(u.files[2].1, TEXT);
    assert_eq!(u.files[3].1, at(FRAME - 8, FRAME + 16));
    assert_eq!(u.files[4].1, at(FRAME + 7000, 10));
    assert_eq!(u.files[5].1, at(2 * FRAME + 10, 50));
}

#[test]
fn the_real_sample_gives_clam_exe() {
    let dir = "/usr/share/clamav-testfiles";
    let (Ok(chm), Ok(exe)) = (
        std::fs::read(format!("{dir}/clam.chm")),
        std::fs::read(format!("{dir}/clam.exe")),
    ) else {
        return; // the samples are not on this machine
    };
    assert!(starts(&chm));
    let u = unpack(&chm, measure(1 << 24));
    assert_eq!(u.problem, None);
    assert_eq!(u.files.len(), 15, "{:?}", names(&u));
    let file = u
        .files
        .iter()
        .find(|(n, _)| n == "clam.exe.txt")
        .expect("clam.exe.txt");
    assert_eq!(file.1, exe);
}

#[test]
fn starts_only_at_an_itsf_header() {
    assert!(starts(&stored_chm()));
    assert!(!starts(b"ITSF"));
    assert!(!starts(&[b"ITSF\x04".as_slice(), &[0; 0x60]].concat()));
    let mut other = stored_chm();
    other[0x20] ^= 1;
    assert!(!starts(&other));
}

fn complete() -> Vec<u8> {
    lzx_chm(3, 2 * FRAME + 100, FRAME + 16)
}

#[test]
fn a_missing_frame_keeps_the_files_before_it() {
    let u = unpack(&lzx_chm(2, 2 * FRAME + 100, FRAME + 16), measure(1 << 20));
    assert_eq!(names(&u), ["empty", "s.txt", "a.txt", "d.txt"]);
    let problem = u.problem.expect("a problem");
    assert_eq!(problem.member.as_deref(), Some("dir/b.bin"));
    assert!(problem.why.contains("no frame 2"), "{}", problem.why);
}

#[test]
fn another_compression_is_unsupported() {
    let mut chm = complete();
    let at = chm
        .windows(4)
        .position(|w| w == b"LZXC")
        .expect("ControlData");
    chm[at..at + 4].copy_from_slice(b"QTMC");
    let u = unpack(&chm, measure(1 << 20));
    assert_eq!(names(&u), ["empty", "s.txt"]);
    assert!(u.problem.expect("a problem").unsupported);
}

#[test]
fn a_huge_claimed_size_stops_at_the_cap() {
    let start = Instant::now();
    let u = unpack(&lzx_chm(3, u64::MAX, u64::MAX / 2), measure(1 << 16));
    assert_eq!(names(&u), ["empty", "s.txt", "a.txt"]);
    let problem = u.problem.expect("a problem");
    assert_eq!(problem.member.as_deref(), Some("dir/b.bin"));
    assert!(problem.why.contains("cap"), "{}", problem.why);
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_passed_deadline_stops_with_a_problem() {
    let u = unpack(&complete(), expired());
    assert!(u.files.is_empty());
    assert!(u.problem.expect("a problem").why.contains("time"));
}

/// Unpacks `bytes` within a second and the cap, whatever they are.
fn check(bytes: &[u8]) {
    survives(unpack, bytes, 1 << 20, Duration::from_secs(1));
}

#[test]
fn every_prefix_is_read_without_panic() {
    let check = |_, prefix: &[u8]| check(prefix);
    every_prefix(&stored_chm(), check);
    let lzx = lzx_chm(1, FRAME, FRAME - 8);
    every_prefix(&lzx, check);
    let complete = complete();
    for n in (lzx.len()..complete.len()).step_by(997) {
        check(n, &complete[..n]);
    }
}

#[test]
fn bit_flips_are_read_without_panic() {
    for vector in [stored_chm(), lzx_chm(1, FRAME, FRAME - 8)] {
        flips(&vector, a_bit_of(0..vector.len()), check);
    }
}

#[test]
fn random_mutations_are_read_without_panic() {
    let vectors = [stored_chm(), lzx_chm(1, FRAME, FRAME - 8), complete()];
    let edit = |rng: &mut XorShift, bytes: &mut Vec<u8>, _| {
        // Most of the structure is in the first few KiB: aim there mostly.
        let span = if rng.next().is_multiple_of(4) {
            bytes.len()
        } else {
            bytes.len().min(0xC00)
        };
        rng.edit(bytes, |rng, _| rng.below(span));
    };
    mutations(&vectors, SEED, 3000, edit, check);
}

#[test]
fn eicar_in_a_help_file_is_found_by_the_walk() {
    use crate::inspect::tests::{EICAR, labels, limits, look};
    let files = [("/", 0, 0, 0), ("/eicar.com", 0, 0, EICAR.len() as u64)];
    let found = look(&chm(&files, EICAR), "x.chm", &limits());
    assert_eq!(
        labels(&found),
        ["x.chm>eicar.com:EICAR_Test_File"],
        "{found:?}"
    );
}
