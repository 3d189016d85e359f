//! The MEW unpacker against files its test encoder packs (both stages), damage and the cap; the ClamAV sample when installed.

use super::*;
use std::io::Read;
use std::time::{Duration, Instant};

fn measure(cap: u64) -> Measure {
    Measure {
        cap,
        deadline: Instant::now() + Duration::from_secs(60),
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A test-only encoder for MEW's aPLib variant, using every kind of step.
struct Enc {
    out: Vec<u8>,
    tag: usize,
    left: u32,
}

impl Enc {
    fn bit(&mut self, b: u32) {
        if self.left == 0 {
            self.tag = self.out.len();
            self.out.push(0);
            self.left = 8;
        }
        self.left -= 1;
        self.out[self.tag] |= (b as u8) << self.left;
    }
    fn bits(&mut self, v: u32, n: u32) {
        for k in (0..n).rev() {
            self.bit((v >> k) & 1);
        }
    }
    fn gamma(&mut self, v: u32) {
        let top = 31 - v.leading_zeros();
        for k in (0..top).rev() {
            self.bit((v >> k) & 1);
            self.bit(u32::from(k > 0));
        }
    }
}

fn longest(data: &[u8], at: usize) -> (usize, usize) {
    let mut best = (0, 0);
    for from in (0..at).rev() {
        let n = (0..data.len() - at)
            .take_while(|&k| data[from + k] == data[at + k])
            .count();
        if n > best.1 {
            best = (at - from, n);
        }
    }
    best
}

/// Compresses greedily; counts the steps of each kind used (rep, long, short, nibble,
/// literal) so that a test can see every kind is covered.
fn compress(data: &[u8]) -> (Vec<u8>, [usize; 5]) {
    let mut e = Enc {
        out: vec![data[0]],
        tag: 0,
        left: 0,
    };
    let (mut at, mut after_literal, mut last, mut used) = (1, true, 0, [0; 5]);
    while at < data.len() {
        let (back, len) = longest(data, at);
        let b = back as u32;
        let extra = u32::from(b >= 0x7d00) + u32::from(b >= 0x500) + 2 * u32::from(b <= 0x7f);
        let kind = if len >= 2 && back == last && after_literal {
            e.bits(0b10, 2);
            e.gamma(2);
            e.gamma(len as u32);
            0
        } else if len >= 4 && len as u32 >= extra + 2 {
            e.bits(0b10, 2);
            e.gamma((b >> 8) + 2 + u32::from(after_literal));
            e.out.push(b as u8);
            e.gamma(len as u32 - extra);
            1
        } else if len >= 2 && back < 128 {
            let len = len.min(3);
            e.bits(0b110, 3);
            e.out.push(((back as u8) << 1) | (len as u8 - 2));
            2
        } else if data[at] == 0 || (len >= 1 && back < 16) {
            e.bits(0b111, 3);
            e.bits(if data[at] == 0 { 0 } else { b }, 4);
            3
        } else {
            e.bit(0);
            e.out.push(data[at]);
            4
        };
        used[kind] += 1;
        let n = match kind {
            0 | 1 => len,
            2 => len.min(3),
            _ => 1,
        };
        at += n;
        after_literal = kind >= 3;
        if kind <= 2 {
            last = back;
        }
    }
    e.bits(0b110, 3);
    e.out.push(0);
    (e.out, used)
}

fn z(data: &[u8]) -> Vec<u8> {
    compress(data).0
}

fn sample_text() -> Vec<u8> {
    let mut v = b"MEW test: hello hello hello, \0\0\0 abcabcabc xa1234ya1234za1234 ".to_vec();
    for i in 0..700u32 {
        v.push((i * 7 % 251) as u8);
    }
    v.extend_from_slice(b"MEW test: hello hello hello, far repeat");
    v
}

const BASE: u32 = 0x40_0000;

/// A MEW-shaped PE: empty section at 0x1000 (0x2000 long), MEW's at 0x3000 holding
/// the loader data at offset 0x10 and `blocks` (each to its RVA), the chain's end.
fn packed(blocks: &[(u32, Vec<u8>)], entry: u32) -> Vec<u8> {
    packed_lzma(blocks, entry, None)
}

/// As [`packed`], with an LZMA stage (`calls` whether it fixes calls, its bytes) after
/// the chain, and the loader's `call` to a stub after it.
fn packed_lzma(blocks: &[(u32, Vec<u8>)], entry: u32, lzma: Option<(bool, &[u8])>) -> Vec<u8> {
    let mut data = vec![0u8; 0x10];
    data.extend_from_slice(&0u32.to_le_bytes());
    data.extend_from_slice(&(BASE + entry).to_le_bytes());
    for (k, (rva, block)) in blocks.iter().enumerate() {
        if k == 0 {
            data.extend_from_slice(&(BASE + rva).to_le_bytes());
        }
        data.extend_from_slice(block);
        let next = blocks.get(k + 1).map_or(0, |b| BASE + b.0);
        data.extend_from_slice(&next.to_le_bytes());
    }
    let stub = if let Some((calls, stage)) = lzma {
        data.extend_from_slice(stage);
        let stub = data.len() + 0x10;
        data.resize(stub + 16, 0);
        data[stub + 8] = if calls { 0x50 } else { 0x90 };
        Some(stub as u32)
    } else {
        None
    };
    data.resize(data.len().div_ceil(0x200) * 0x200, 0);
    let mut f = vec![0u8; 0x200];
    if let Some(stub) = stub {
        f[0x154 + LZMA_CALL_AT] = 0xe8;
        put32(
            &mut f,
            0x154 + 0x7c,
            (0x3000 + stub).wrapping_sub(0x154 + 0x80),
        );
    }
    f[..2].copy_from_slice(b"MZ");
    let pe = 0x0c;
    put32(&mut f, 0x3c, pe as u32);
    f[pe..pe + 4].copy_from_slice(b"PE\0\0");
    put16(&mut f, pe + 4, 0x14c);
    put16(&mut f, pe + 6, 2);
    put16(&mut f, pe + 20, 0xe0);
    let opt = pe + 24;
    put16(&mut f, opt, 0x10b);
    put32(&mut f, opt + 16, 0x3000);
    put32(&mut f, opt + 28, BASE);
    put16(&mut f, opt + 68, 2);
    let sec = opt + 0xe0;
    for (k, (vsz, rva, rsz, raw)) in [
        (0x2000, 0x1000, 0, 0),
        (0x1000, 0x3000, data.len() as u32, 0x200),
    ]
    .into_iter()
    .enumerate()
    {
        let s = sec + 40 * k;
        put32(&mut f, s + 8, vsz);
        put32(&mut f, s + 12, rva);
        put32(&mut f, s + 16, rsz);
        put32(&mut f, s + 20, raw);
    }
    f[0x154] = 0xbe;
    put32(&mut f, 0x155, BASE + 0x3010);
    data[0] = 0xe9;
    put32(&mut data, 1, 0x154u32.wrapping_sub(0x3000 + 5));
    f.extend_from_slice(&data);
    f
}

fn image_of(out: &Unpacked) -> &[u8] {
    &out.files[0].1[FILE_ALIGN..]
}

#[test]
fn the_test_encoder_round_trips() {
    let text = sample_text();
    let mut image = vec![0u8; 0x2000];
    let (z, used) = compress(&text);
    assert!(used.iter().all(|&n| n > 0), "{used:?}");
    let (read, end) = aplib(&z, &mut image, 0x10, &Unpacked::new(measure(1 << 20))).unwrap();
    assert_eq!(read, z.len());
    assert_eq!(&image[0x10..end], &text[..]);
}

#[test]
fn a_two_block_file_unpacks() {
    let (a, b) = (sample_text(), b"second block second block!".to_vec());
    let f = packed(&[(0x1000, z(&a)), (0x2800, z(&b))], 0x1234);
    assert!(starts(&f));
    let out = unpack(&f, measure(1 << 20));
    assert!(out.problem.is_none(), "{:?}", out.problem);
    let img = image_of(&out);
    assert_eq!(&img[..a.len()], &a[..]);
    assert_eq!(&img[0x1800..0x1800 + b.len()], &b[..]);
    assert_eq!(u32_at(&out.files[0].1, 0x58 + 16), Some(0x1234));
}

#[test]
fn other_programs_do_not_start() {
    let f = packed(&[(0x1000, z(b"abc"))], 0x1000);
    assert!(!starts(b"MZ"));
    assert!(!starts(&f[..0x100]));
    let mut g = f.to_vec();
    g[0x200] = 0xe8;
    assert!(!starts(&g));
    let mut g = f.to_vec();
    put32(&mut g, 0x201, 0x160u32.wrapping_sub(0x3005));
    assert!(!starts(&g));
    let mut g = f;
    put32(&mut g, 0x0c + 24 + 0xe0 + 16, 0x10);
    assert!(!starts(&g));
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// Made with Python's lzma (raw LZMA1, lc=4 lp=0 pb=2) from `LZMA_PLAIN`.
const LZMA_PLAIN: &[u8] =
    b"LZMA stage of MEW: abcdabcdabcdabcdabcdabcdabcdabcd the end, the end, the end.";
const LZMA_STREAM: &str = "00261685a41118eac9a1caa04002278bf969dd6dc0c4dc2ff1caea124b12392a\
    053e0f4a8e879cee4d7a0bfffff2274000";
/// `CALLS_PLAIN` with its E8/E9 operands made big-endian absolute, then compressed so.
const CALLS_PLAIN: &str =
    "636f646520e810000000206d6f726520e9f0ffffff20656e6420e801020304207461696c";
const CALLS_STREAM: &str = "00319bc8b0534155328df12a58002b7d08c34022fbf3e59ebf4566b20a910998\
    503e909bc751ffffcf942000";

fn lzma_record(plain_len: usize, rva: u32, stream: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [plain_len as u32, BASE + rva, stream.len() as u32] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.push(0);
    v.extend_from_slice(stream);
    v
}

fn lzma_file(calls: bool) -> (Vec<u8>, Vec<u8>) {
    let (plain, stream) = if calls {
        (hex(CALLS_PLAIN), hex(&CALLS_STREAM.replace(' ', "")))
    } else {
        (LZMA_PLAIN.to_vec(), hex(&LZMA_STREAM.replace(' ', "")))
    };
    let mut stage = Vec::new();
    if calls {
        stage.extend_from_slice(&(plain.len() as u32).to_le_bytes());
    }
    stage.extend_from_slice(&(BASE + 0x2c00).to_le_bytes());
    stage.extend(lzma_record(plain.len(), 0x1000, &stream));
    stage.extend_from_slice(&[0; 4]);
    let chain = [(0x2800, z(b"the LZMA decoder would be here"))];
    (packed_lzma(&chain, 0x1000, Some((calls, &stage))), plain)
}

#[test]
fn the_lzma_stage_decodes() {
    let (f, plain) = lzma_file(false);
    assert!(starts(&f));
    let out = unpack(&f, measure(1 << 20));
    assert!(out.problem.is_none(), "{:?}", out.problem);
    let img = image_of(&out);
    assert_eq!(&img[..plain.len()], &plain[..]);
    assert_eq!(&img[0x1800..0x1800 + 10], b"the LZMA d");
}

#[test]
fn the_lzma_stage_with_call_fixing_decodes() {
    let (f, plain) = lzma_file(true);
    let out = unpack(&f, measure(1 << 20));
    assert!(out.problem.is_none(), "{:?}", out.problem);
    assert_eq!(&image_of(&out)[..plain.len()], &plain[..]);
}

#[test]
fn a_damaged_lzma_stage_keeps_the_chain() {
    let (mut f, _) = lzma_file(false);
    let at = find(&f, &hex(&LZMA_STREAM[..16])).unwrap();
    f.truncate(at + 20);
    f.resize(f.len().div_ceil(0x200) * 0x200, 0);
    let out = unpack(&f, measure(1 << 20));
    assert!(out.problem.is_some());
    assert_eq!(&image_of(&out)[0x1800..0x1800 + 10], b"the LZMA d");
}

#[test]
fn the_call_filter_is_undone() {
    let mut code = vec![0x90, 0xe8, 0, 0, 0, 7, 0xe9, 0, 0, 0, 0, 0x90];
    unfix_calls(&mut code);
    assert_eq!(
        code,
        [0x90, 0xe8, 5, 0, 0, 0, 0xe9, 0xf9, 0xff, 0xff, 0xff, 0x90]
    );
}

#[test]
fn a_block_past_the_image_is_broken() {
    let f = packed(&[(0x2ff0, z(&sample_text()))], 0x1000);
    let out = unpack(&f, measure(1 << 20));
    assert!(out.files.is_empty());
    assert!(out.problem.is_some());
}

#[test]
fn a_huge_section_stops_at_the_cap() {
    let mut f = packed(&[(0x1000, z(b"abc"))], 0x1000);
    put32(&mut f, 0x0c + 24 + 0xe0 + 8, 0x7fff_0000);
    let out = unpack(&f, measure(1 << 20));
    assert!(out.files.is_empty());
    assert!(out.problem.is_some());
}

#[test]
fn prefixes_and_mutations_never_panic() {
    for f in [
        packed(
            &[(0x1000, z(&sample_text())), (0x2800, z(b"xyzxyz"))],
            0x1000,
        ),
        lzma_file(false).0,
        lzma_file(true).0,
    ] {
        mutate(&f);
    }
}

fn mutate(f: &[u8]) {
    let start = Instant::now();
    for n in 0..f.len() {
        let _ = unpack(&f[..n], measure(1 << 20));
    }
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..3000 {
        let mut g = f.to_vec();
        for _ in 0..1 + seed % 4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = 0x100 + (seed as usize >> 8) % (g.len() - 0x100);
            g[at] ^= 1 << (seed % 8);
        }
        let _ = starts(&g);
        let _ = unpack(&g, measure(1 << 20));
    }
    for bad in [u32::MAX, 0, 0x7fff_ffff] {
        let mut g = f.to_vec();
        put32(&mut g, 0x155, bad);
        let _ = unpack(&g, measure(1 << 20));
    }
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn the_real_sample_unpacks_to_a_zip_holding_clam_exe() {
    let (Ok(packed), Ok(clam)) = (
        std::fs::read("/usr/share/clamav-testfiles/clam-mew.exe"),
        std::fs::read("/usr/share/clamav-testfiles/clam.exe"),
    ) else {
        return;
    };
    assert!(starts(&packed));
    let out = unpack(&packed, measure(1 << 26));
    assert!(out.problem.is_none(), "{:?}", out.problem);
    let (name, pe) = &out.files[0];
    assert_eq!(name, "unpacked.exe");
    assert_eq!(find(pe, &clam), None, "clam.exe is not stored whole");
    // The test program carries clam.exe deflated in a ZIP local header.
    let at = find(pe, b"PK\x03\x04").expect("a ZIP local header");
    let method = u16_at(pe, at + 8).unwrap();
    let size = u32_at(pe, at + 18).unwrap() as usize;
    let skip =
        30 + usize::from(u16_at(pe, at + 26).unwrap()) + usize::from(u16_at(pe, at + 28).unwrap());
    assert_eq!(method, 8);
    let mut member = Vec::new();
    flate2::read::DeflateDecoder::new(&pe[at + skip..at + skip + size])
        .read_to_end(&mut member)
        .unwrap();
    assert_eq!(member, clam);
}
