//! The WWPack32 unpacker against files its test encoder packs, damage and the cap; the ClamAV sample when installed.

use super::*;
use std::time::{Duration, Instant};

fn measure(cap: u64) -> Measure {
    Measure {
        cap,
        deadline: Instant::now() + Duration::from_secs(60),
    }
}

fn run(bytes: &[u8]) -> Unpacked {
    unpack(bytes, measure(1 << 24))
}

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

// ---- a test-only encoder for WWPack32's bit stream --------------------------------------

/// Bits go into a word reserved in the output; when it is full the next word is reserved
/// where the output then ends, so that literals written meanwhile come before it, as the
/// decoder reads them.
struct Writer {
    out: Vec<u8>,
    slot: usize,
    acc: u32,
    n: u32,
}

impl Writer {
    fn new() -> Writer {
        Writer {
            out: vec![0; 4],
            slot: 0,
            acc: 0,
            n: 0,
        }
    }
    fn bit(&mut self, b: u32) {
        self.acc |= (b & 1) << (31 - self.n);
        self.n += 1;
        if self.n == 32 {
            self.flush();
            self.slot = self.out.len();
            self.out.extend([0; 4]);
            (self.acc, self.n) = (0, 0);
        }
    }
    fn bits(&mut self, v: u32, width: u32) {
        for i in (0..width).rev() {
            self.bit(v >> i);
        }
    }
    fn flush(&mut self) {
        self.out[self.slot..self.slot + 4].copy_from_slice(&self.acc.to_le_bytes());
    }
    /// The stream, padded to whole words as the stub's table counts it.
    fn finish(mut self) -> Vec<u8> {
        self.flush();
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
        self.out
    }

    fn literal(&mut self, byte: u8) {
        self.bit(0);
        self.out.push(byte);
    }
    fn end(&mut self) {
        self.bits(0b11111, 5);
        self.bits(0x1ff, 9);
    }
    fn copy(&mut self, dist: u32, len: u32) {
        self.bit(1);
        if len == 2 {
            self.bits(3, 2);
            let (sel, width, base) = match dist {
                1..=32 => (0, 5, 1),
                33..=96 => (1, 6, 0x21),
                97..=352 => (2, 8, 0x61),
                _ => (3, 9, 0x161),
            };
            self.bits(sel, 2);
            self.bits(dist - base, width);
            return;
        }
        let kind = match len {
            3 => 1,
            4 => 2,
            _ => 0,
        };
        self.bits(kind, 2);
        self.distance(dist);
        if kind == 0 {
            self.long_length(len);
        }
    }
    fn distance(&mut self, d: u32) {
        let classes = [
            (0, None, 5),
            (1, None, 6),
            (2, None, 7),
            (3, Some(0), 8),
            (3, Some(1), 9),
            (4, Some(0), 10),
            (4, Some(1), 11),
            (5, None, 12),
        ];
        for (sel, extra, width) in classes {
            let base = (1 << width) - 31;
            if (base..base + (1 << width)).contains(&d) {
                self.bits(sel, 3);
                if let Some(b) = extra {
                    self.bit(b);
                }
                return self.bits(d - base, width);
            }
        }
        if d < 0x5fe1 {
            self.bits(6, 3);
            self.bits(d - 0x1fe1, 14);
        } else {
            self.bits(7, 3);
            self.bits(d - 0x5fe1, 15);
        }
    }
    fn long_length(&mut self, len: u32) {
        match len {
            5 | 6 => return self.bits(len - 5, 2),
            7..=13 => return self.bits(0b1000 | (len - 6), 4),
            14..=28 => return self.bits((0b1000 << 4) | (len - 13), 8),
            _ => self.bits(0b1000_0000, 8),
        }
        let mut base = 0x0d;
        for width in 5..=7 {
            base = (base + 2) * 2 - 1;
            if (base..base + (1 << width)).contains(&len) {
                self.bit(1);
                return self.bits(len - base, width);
            }
            self.bit(0);
        }
        self.bits(len, 14);
    }
}

const MAX_DIST: usize = 0x5fe1 + 0x7fff;

/// A greedy compressor: the longest match in the window, else a literal.
fn compress(data: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    let mut pos = 0;
    while pos < data.len() {
        let (mut best, mut best_dist) = (0, 0);
        for dist in 1..=pos.min(MAX_DIST) {
            let len = (0..(data.len() - pos).min(16383))
                .take_while(|&i| data[pos + i] == data[pos + i - dist])
                .count();
            if len > best && (len >= 3 || dist <= 863) {
                (best, best_dist) = (len, dist);
            }
        }
        if best >= 2 {
            w.copy(best_dist as u32, best as u32);
            pos += best;
        } else {
            w.literal(data[pos]);
            pos += 1;
        }
    }
    w.end();
    w.finish()
}

fn expand_all(stream: &[u8], size: usize) -> Res<Vec<u8>> {
    let mut image = vec![0; size];
    let end = expand(stream, &mut image, 0, &Unpacked::new(measure(1 << 24)))?;
    image.truncate(end);
    Ok(image)
}

fn sample_text() -> Vec<u8> {
    let mut text = b"WWPack32 test: the quick brown fox jumps over the lazy dog. ".repeat(8);
    text.extend((0..=255u8).map(|b| b.wrapping_mul(37)));
    text.extend(b"\x55\x8b\xec\x83\xec\x10\x6a\x00\xff\x15\x00\x20\x40\x00\xc3".repeat(5));
    text
}

#[test]
fn a_compressed_text_expands_byte_for_byte() {
    let text = sample_text();
    let stream = compress(&text);
    assert!(stream.len() < text.len() / 2, "{}", stream.len());
    assert_eq!(expand_all(&stream, 4096).unwrap(), text);
}

#[test]
fn every_distance_and_length_class_decodes() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut w = Writer::new();
    let mut want: Vec<u8> = (0..60000).map(|_| rng.next() as u8).collect();
    want.iter().for_each(|&b| w.literal(b));
    let mut copy = |w: &mut Writer, dist: u32, len: u32| {
        w.copy(dist, len);
        for _ in 0..len {
            want.push(want[want.len() - dist as usize]);
        }
    };
    for dist in [1, 32, 33, 96, 97, 224, 225, 352, 353, 480, 481, 863] {
        copy(&mut w, dist, 2);
    }
    let dists = [1, 32, 33, 96, 97, 224, 225, 480, 481, 992, 993, 2016, 2017];
    let dists = dists
        .into_iter()
        .chain([4064, 4065, 8160, 8161, 24544, 24545, 57312]);
    for (i, dist) in dists.enumerate() {
        copy(&mut w, dist, 3 + (i as u32 % 2));
    }
    for len in [
        5, 6, 7, 13, 14, 28, 29, 60, 61, 124, 125, 252, 253, 16383, 0,
    ] {
        copy(&mut w, 1000, len);
    }
    w.end();
    let stream = w.finish();
    assert_eq!(expand_all(&stream, want.len() + 16).unwrap(), want);
}

#[test]
fn damaged_streams_fail_without_panic() {
    let stream = compress(&sample_text());
    for n in 0..stream.len() {
        let _ = expand_all(&stream[..n], 4096);
    }
    assert!(expand_all(&stream[..stream.len() / 2], 4096).is_err());
    // Output past the image, and a distance before its start.
    assert!(expand_all(&stream, 100).is_err());
    let mut w = Writer::new();
    w.literal(1);
    w.copy(5, 3);
    w.end();
    assert!(expand_all(&w.finish(), 100).is_err());
    let mut rng = XorShift(7);
    for _ in 0..3000 {
        let mut s = stream.clone();
        for _ in 0..1 + rng.next() % 4 {
            let at = (rng.next() as usize) % s.len();
            s[at] ^= 1 << (rng.next() % 8);
        }
        let _ = expand_all(&s, 4096);
    }
}

// ---- hand-built packed PEs -------------------------------------------------------------

const TABLE: usize = 0x40 + 0x18 + 0xe0;

struct Sect {
    rva: u32,
    vsz: u32,
    data: Vec<u8>,
}

/// A PE with these sections (data at 0x200-aligned file offsets after 0x200 bytes of
/// headers) and this entry point.
fn pe(sects: &[Sect], entry: u32) -> Vec<u8> {
    let mut f = vec![0u8; 0x200];
    f[..2].copy_from_slice(b"MZ");
    f[0x3c] = 0x40;
    let h = 0x40;
    f[h..h + 4].copy_from_slice(b"PE\0\0");
    let set = |f: &mut Vec<u8>, at: usize, v: &[u8]| f[at..at + v.len()].copy_from_slice(v);
    set(&mut f, h + 4, &0x14cu16.to_le_bytes());
    set(&mut f, h + 6, &(sects.len() as u16).to_le_bytes());
    set(&mut f, h + 0x14, &0xe0u16.to_le_bytes());
    set(&mut f, h + 0x16, &0x102u16.to_le_bytes());
    set(&mut f, h + 0x18, &0x10bu16.to_le_bytes());
    set(&mut f, h + 0x28, &entry.to_le_bytes());
    set(&mut f, h + 0x34, &0x40_0000u32.to_le_bytes());
    set(&mut f, h + 0x38, &0x1000u32.to_le_bytes());
    set(&mut f, h + 0x3c, &0x200u32.to_le_bytes());
    let last = sects.last().map_or(0, |s| s.rva + s.vsz);
    set(&mut f, h + 0x50, &last.to_le_bytes());
    set(&mut f, h + 0x54, &0x200u32.to_le_bytes());
    set(&mut f, h + 0x74, &16u32.to_le_bytes());
    for (i, s) in sects.iter().enumerate() {
        let raw = f.len() as u32;
        let rsz = s.data.len().div_ceil(0x200) as u32 * 0x200;
        let row = TABLE + 40 * i;
        set(&mut f, row, format!(".s{i}").as_bytes());
        for (off, v) in [
            (8, s.vsz),
            (12, s.rva),
            (16, rsz),
            (20, raw),
            (36, 0xe000_0040),
        ] {
            set(&mut f, row + off, &v.to_le_bytes());
        }
        f.extend(&s.data);
        f.resize(raw as usize + rsz as usize, 0);
    }
    f
}

/// The stub's section: its code where it is checked, the jump to `oep`, and the table
/// (`from` back from the stub, where the data is parked, its words, its last word, more).
fn stub(rva: u32, oep: u32, blocks: &[[u32; 5]]) -> Vec<u8> {
    let mut s = vec![0u8; 0x400];
    s[..STUB_HEAD.len()].copy_from_slice(STUB_HEAD);
    s[STUB_CODE_AT..STUB_CODE_AT + STUB_CODE.len()].copy_from_slice(STUB_CODE);
    s[OEP_JUMP - 1] = 0xe9;
    let rel = oep.wrapping_sub(rva + OEP_JUMP as u32 + 4);
    s[OEP_JUMP..OEP_JUMP + 4].copy_from_slice(&rel.to_le_bytes());
    for (i, b) in blocks.iter().enumerate() {
        let at = BLOCKS_AT + BLOCK * i;
        for k in 0..4 {
            s[at + 4 * k..at + 4 * k + 4].copy_from_slice(&b[k].to_le_bytes());
        }
        s[at + 16] = b[4] as u8;
    }
    s
}

fn data_section() -> Vec<u8> {
    b"an uncompressed data section\0".to_vec()
}

/// `.text` packed at 0x1000, `.data` as it is at 0x2000, the stub at 0x3000.
fn packed_pe() -> Vec<u8> {
    let c = compress(&sample_text());
    let words = c.len() as u32 / 4;
    let table = [[0x2000, 0xffc, words, c.len() as u32 - 4, 0]];
    pe(
        &[
            Sect {
                rva: 0x1000,
                vsz: 0x1000,
                data: c,
            },
            Sect {
                rva: 0x2000,
                vsz: 0x1000,
                data: data_section(),
            },
            Sect {
                rva: 0x3000,
                vsz: 0x1000,
                data: stub(0x3000, 0x1010, &table),
            },
        ],
        0x3000,
    )
}

/// Where the stub's section is in a file from [`packed_pe`].
fn stub_at(f: &[u8]) -> usize {
    le32(f, TABLE + 80 + 20).unwrap() as usize
}

fn the_file(out: &Unpacked) -> &[u8] {
    assert_eq!(out.files.len(), 1, "{:?}", out.problem);
    &out.files[0].1
}

#[test]
fn starts_tells_the_stub_at_the_entry_point() {
    let f = packed_pe();
    assert!(starts(&f));
    let mut moved = f.clone();
    moved[0x40 + 0x28] = 0x10; // entry point elsewhere
    assert!(!starts(&moved));
    let mut other = f.clone();
    other[stub_at(&f) + STUB_CODE_AT + 6] ^= 0xff;
    assert!(!starts(&other));
    assert!(!starts(b"MZ"));
    assert!(!starts(&[]));
    assert!(!starts(&f[..stub_at(&f) + 0x70]));
}

#[test]
fn a_packed_pe_unpacks_and_is_rebuilt() {
    let out = run(&packed_pe());
    assert!(out.problem.is_none(), "{:?}", out.problem);
    assert_eq!(out.files[0].0, "unpacked.exe");
    let f = the_file(&out);
    let text = sample_text();
    assert_eq!(f.len(), 0x3000);
    assert_eq!(&f[0x1000..0x1000 + text.len()], &text[..]);
    assert!(f[0x1000 + text.len()..0x2000].iter().all(|&b| b == 0));
    assert_eq!(
        &f[0x2000..0x2000 + data_section().len()],
        &data_section()[..]
    );
    assert_eq!(le16(f, 0x46), Some(2));
    assert_eq!(le32(f, 0x40 + 0x28), Some(0x1010));
    assert_eq!(le32(f, 0x40 + 0x50), Some(0x3000));
    for (i, rva) in [(0, 0x1000), (1, 0x2000)] {
        let row = TABLE + 40 * i;
        let fields: Vec<_> = [8, 12, 16, 20].iter().map(|&o| le32(f, row + o)).collect();
        assert_eq!(fields, [Some(0x1000), Some(rva), Some(0x1000), Some(rva)]);
    }
    assert!(f[TABLE + 80..TABLE + 120].iter().all(|&b| b == 0));
}

#[test]
fn two_blocks_unpack() {
    let (a, b) = (
        sample_text(),
        b"second block, second block, second block!".to_vec(),
    );
    let (ca, cb) = (compress(&a), compress(&b));
    let block =
        |from: u32, c: &[u8], more| [from, 0xffc, c.len() as u32 / 4, c.len() as u32 - 4, more];
    let table = [block(0x2000, &ca, 1), block(0x1000, &cb, 0)];
    let f = pe(
        &[
            Sect {
                rva: 0x1000,
                vsz: 0x1000,
                data: ca,
            },
            Sect {
                rva: 0x2000,
                vsz: 0x1000,
                data: cb,
            },
            Sect {
                rva: 0x3000,
                vsz: 0x1000,
                data: stub(0x3000, 0x1000, &table),
            },
        ],
        0x3000,
    );
    let out = run(&f);
    assert!(out.problem.is_none(), "{:?}", out.problem);
    let f = the_file(&out);
    assert_eq!(&f[0x1000..0x1000 + a.len()], &a[..]);
    assert_eq!(&f[0x2000..0x2000 + b.len()], &b[..]);
}

#[test]
fn a_damaged_stream_keeps_the_image_and_says_so() {
    // The table says the packed data is half as long: the stream ends early.
    let mut f = packed_pe();
    let at = stub_at(&f) + BLOCKS_AT;
    let words = le32(&f, at + 8).unwrap() / 2;
    f[at + 8..at + 16]
        .copy_from_slice(&[words.to_le_bytes(), (words * 4 - 4).to_le_bytes()].concat());
    let out = run(&f);
    assert_eq!(&out.files[0].1[0x1000..0x1010], &sample_text()[..16]);
    let why = out.problem.expect("a problem").why;
    assert!(why.contains("ends early"), "{why}");
    let mut table = packed_pe();
    table[stub_at(&f) + BLOCKS_AT + 9] = 0xff; // more words than the image holds
    let out = run(&table);
    let why = out.problem.expect("a problem").why;
    assert!(why.contains("block table"), "{why}");
}

#[test]
fn a_huge_image_stops_at_the_cap() {
    let mut f = packed_pe();
    f[TABLE + 8..TABLE + 12].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    let out = unpack(&f, measure(1 << 20));
    assert!(out.files.is_empty());
    let why = out.problem.expect("a problem").why;
    assert!(why.contains("cap"), "{why}");
}

#[test]
fn a_passed_deadline_stops() {
    let gone = Measure {
        cap: 1 << 24,
        deadline: Instant::now(),
    };
    let out = unpack(&packed_pe(), gone);
    assert!(out.problem.expect("a problem").why.contains("time"));
}

#[test]
fn truncated_and_mutated_files_never_panic() {
    let f = packed_pe();
    let started = Instant::now();
    for n in 0..f.len() {
        let _ = run(&f[..n]);
    }
    for at in 0..f.len() {
        for bit in [0, 3, 7] {
            let mut g = f.clone();
            g[at] ^= 1 << bit;
            let _ = run(&g);
        }
    }
    let mut rng = XorShift(0x1234_5678);
    for _ in 0..3000 {
        let mut g = f.clone();
        for _ in 0..1 + rng.next() % 8 {
            let at = (rng.next() as usize) % g.len();
            g[at] = rng.next() as u8;
        }
        let _ = run(&g);
    }
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn the_clamav_sample_unpacks_to_a_pe_holding_clam_exe() {
    let dir = "/usr/share/clamav-testfiles/";
    let (Ok(sample), Ok(clam)) = (
        std::fs::read(format!("{dir}clam-wwpack.exe")),
        std::fs::read(format!("{dir}clam.exe")),
    ) else {
        return;
    };
    assert!(starts(&sample));
    let out = run(&sample);
    assert!(out.problem.is_none(), "{:?}", out.problem);
    assert_eq!(out.files[0].0, "unpacked.exe");
    let f = the_file(&out);
    assert_eq!(le32(f, 0xc8 + 0x28), Some(0x1020));
    // The sample's program holds clam.exe deflated in a ZIP (in its `.clam` section),
    // not whole: the scanner carves the ZIP out of the output and inflates it.
    let zip = f
        .windows(4)
        .position(|w| w == b"PK\x03\x04")
        .expect("a ZIP");
    let field = |off: usize| usize::from(le16(f, zip + off).unwrap());
    assert_eq!((field(8), &f[zip + 30..zip + 38]), (8, &b"clam.exe"[..]));
    let data = zip + 30 + field(26) + field(28);
    let size = le32(f, zip + 18).unwrap() as usize;
    let mut inflated = Vec::new();
    let mut z = flate2::read::DeflateDecoder::new(&f[data..data + size]);
    std::io::Read::read_to_end(&mut z, &mut inflated).unwrap();
    assert_eq!(inflated, clam);
}
