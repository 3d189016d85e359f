//! Tests: a test-only Petite compressor and packed-file builder, and the ClamAV sample.

use super::*;
use std::collections::HashMap;
use std::io::Read;
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

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..len).map(|_| xorshift(&mut s) as u8).collect()
}

// ---- a test-only Petite compressor ----

/// Bits into flag bytes placed where the decoder will want them, between literal bytes.
struct Writer {
    out: Vec<u8>,
    flags_at: usize,
    used: u32,
}

impl Writer {
    fn bit(&mut self, b: u32) {
        if self.used == 8 {
            (self.flags_at, self.used) = (self.out.len(), 0);
            self.out.push(0);
        }
        if b != 0 {
            self.out[self.flags_at] |= 0x80 >> self.used;
        }
        self.used += 1;
    }
    fn gamma(&mut self, g: u32) {
        let digits = 31 - g.leading_zeros();
        for i in (0..digits).rev() {
            self.bit(g >> i & 1);
            self.bit(u32::from(i > 0));
        }
    }
    fn length(&mut self, base: u32) {
        if base <= 3 {
            self.bit(base >> 1);
            self.bit(base & 1);
        } else {
            self.bit(0);
            self.bit(0);
            self.gamma(base - 2);
        }
    }
}

/// Greedy: the last distance, or the last place the next 3 bytes were seen.
fn compress(data: &[u8]) -> Vec<u8> {
    let n = data.len();
    let (far, farther, low_bits) = size_class(n as u32);
    let extra = |d: usize| {
        let off = (d as u32).wrapping_neg();
        1 + u32::from(off < farther) + u32::from(off < far)
    };
    let mut w = Writer {
        out: vec![data[0]],
        flags_at: 0,
        used: 8,
    };
    let (mut pos, mut last, mut seen) = (1, None::<usize>, HashMap::new());
    while pos < n {
        let left = n - pos;
        let run = |d: usize| {
            (0..left)
                .take_while(|&k| data[pos + k] == data[pos + k - d])
                .count()
        };
        let mut best = last.map(|d| (d, run(d), true)).filter(|b| b.1 >= 1);
        if let Some(&p) = data.get(pos..pos + 3).and_then(|k| seen.get(k)) {
            let d = pos - p;
            let l = run(d);
            if l as u32 > extra(d) && l > best.map_or(0, |b| b.1) + 1 {
                best = Some((d, l, false));
            }
        }
        let step = match best {
            None => {
                w.bit(0);
                w.out.push(data[pos] ^ left as u8);
                1
            }
            Some((_, l, true)) => {
                w.bit(1);
                w.gamma(2);
                w.length(l as u32);
                l
            }
            Some((d, l, false)) => {
                let v = d as u32 - 1;
                w.bit(1);
                w.gamma((v >> low_bits) + 3);
                for i in (0..low_bits).rev() {
                    w.bit(v >> i & 1);
                }
                w.length(l as u32 - extra(d));
                last = Some(d);
                l
            }
        };
        for p in pos..pos + step {
            if let Some(k) = data.get(p..p + 3) {
                seen.insert(k, p);
            }
        }
        pos += step;
    }
    w.out
}

/// The packer's side of the CALL/JMP filter.
fn filter(data: &mut [u8]) {
    let mut i = 0;
    while i + 6 <= data.len() {
        let at = match (data[i], data[i + 1]) {
            (0xe8 | 0xe9, _) => i + 1,
            (0x0f, 0x80..=0x8f) => i + 2,
            _ => {
                i += 1;
                continue;
            }
        };
        let v = le32(data, at).unwrap().wrapping_add(i as u32);
        put32(data, at, v).unwrap();
        i = at + 4;
    }
}

// ---- a test-only packed file ----

fn set(f: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    if f.len() < at + bytes.len() {
        f.resize(at + bytes.len(), 0);
    }
    f[at..at + bytes.len()].copy_from_slice(bytes);
}
fn set32(f: &mut Vec<u8>, at: usize, v: u32) {
    set(f, at, &v.to_le_bytes());
}

const OPT: usize = 0x98;
const EP: u32 = 0x5040;
const RESOURCE: &[u8] = b"RESOURCE DATA LEFT AS IT WAS";

/// A file laid out as Petite lays one: the compressed sections at the start of the
/// first section, moved to its end by the table and decoded from there; resources kept;
/// Petite's section last (2.2) or before one more (2.1). `parts`: (rva, data, flags).
fn packed_pe(v21: bool, parts: &[(u32, Vec<u8>, u32)]) -> Vec<u8> {
    let blobs: Vec<Vec<u8>> = (parts.iter())
        .map(|(_, d, flags)| {
            let mut d = d.clone();
            if flags & 1 != 0 {
                filter(&mut d);
            }
            compress(&d)
        })
        .collect();
    let mut data = blobs.concat();
    data.resize(data.len().next_multiple_of(4), 0);
    let raw0 = data.len().next_multiple_of(0x200) as u32;
    let mut f = vec![0u8; 0x400];
    set(&mut f, 0, b"MZ");
    set32(&mut f, 0x3c, 0x80);
    set(&mut f, 0x80, b"PE\0\0\x4c\x01");
    let n: u16 = if v21 { 4 } else { 3 };
    set(&mut f, 0x86, &n.to_le_bytes());
    set(&mut f, 0x94, b"\xe0\x00\x0f\x01\x0b\x01");
    for (off, v) in [(16, EP), (28, 0x40_0000), (32, 0x1000), (36, 0x200)] {
        set32(&mut f, OPT + off, v);
    }
    for (off, v) in [(56, 0x7000), (60, 0x400), (92, 16)] {
        set32(&mut f, OPT + off, v);
    }
    for (off, v) in [(104, 0x5300), (108, 0x28), (112, 0x4000), (116, 0x10)] {
        set32(&mut f, OPT + off, v);
    }
    let rows = [
        (*b".text\0\0\0", 0x3000, 0x1000, raw0, 0xe000_0060),
        (*b".rsrc\0\0\0", 0x1000, 0x4000, 0x200, 0x4000_0040),
        (*b".petite\0", 0x1000, 0x5000, 0x400, 0xe000_0060),
        (*b".extra\0\0", 0x1000, 0x6000, 0x200, 0xc000_0040),
    ];
    let mut raw = 0x400;
    for (i, (name, vsz, rva, rsz, chars)) in rows.iter().take(usize::from(n)).enumerate() {
        let at = 0x178 + 40 * i;
        set(&mut f, at, name);
        for (k, v) in [*vsz, *rva, *rsz, raw, 0, 0, 0, *chars]
            .into_iter()
            .enumerate()
        {
            set32(&mut f, at + 8 + 4 * k, v);
        }
        raw += rsz;
    }
    set(&mut f, 0x400, &data);
    let res = 0x400 + raw0 as usize;
    set(&mut f, res, RESOURCE);
    let petite = res + 0x200;
    f.resize(petite + 0x400 + if v21 { 0x200 } else { 0 }, 0);
    set(&mut f, petite + 0x40, b"\xb8\x00\x50\x40\x00");
    let mut at = petite + if v21 { 0x178 } else { 0x1b8 };
    let count = data.len() as u32 / 4;
    for v in [0x8000_0000 | count, 0x1000 + 4 * (count - 1), 0x3ffc] {
        set32(&mut f, at, v);
        at += 4;
    }
    let mut src = 0x4000 - 4 * count;
    for ((rva, plain, flags), blob) in parts.iter().zip(&blobs) {
        for v in [src, plain.len() as u32, *rva, *flags] {
            set32(&mut f, at, v);
            at += 4;
        }
        src += blob.len() as u32;
    }
    for v in [0, 1, 0, 0] {
        set32(&mut f, at, v);
        at += 4;
    }
    f
}

/// Some x86-like code: calls, jumps and conditional jumps between plain bytes.
fn code() -> Vec<u8> {
    let mut c = Vec::new();
    for i in 0..40u32 {
        c.extend_from_slice(b"\x55\x8b\xec\x6a\x00");
        c.push(0xe8);
        c.extend_from_slice(&(0x100u32.wrapping_sub(i * 7)).to_le_bytes());
        c.extend_from_slice(b"\x0f\x84");
        c.extend_from_slice(&(i * 3).to_le_bytes());
        c.push(0xe9);
        c.extend_from_slice(&(i * 11).to_le_bytes());
        c.extend_from_slice(b"\x5d\xc3\x90");
    }
    c
}

fn text() -> Vec<u8> {
    let mut t = Vec::new();
    for i in 0..60 {
        t.extend_from_slice(format!("line {i}: a Petite test section, nothing more. ").as_bytes());
    }
    t
}

/// Petite's code as it ends a section: its marker, the entry point's keys, where the
/// import lists are (`imports`), and whether it mangled them.
fn stub_tail(v: &Version, reloc: u32, enc: u32, imports: u32, mangled: bool) -> Vec<u8> {
    let mut tail = vec![0u8; (v.grown + reloc) as usize];
    let key = 0x1234_5678;
    set32(&mut tail, 5 + 0x4f, STUB_CODE[0]);
    set32(&mut tail, 5 + 0x4f + 4, STUB_CODE[1]);
    set32(&mut tail, 7, key ^ EP_KEYS[0]);
    set32(&mut tail, 0xb, key ^ EP_KEYS[1]);
    set32(&mut tail, 0xf, enc ^ key);
    set32(&mut tail, 0x121, imports);
    set32(&mut tail, 0x1c0, if mangled { 0 } else { 0x9090_9090 });
    tail
}

/// The rebuilt file's entry point and sections: (name, rva, vsz, data).
type Rows = Vec<([u8; 8], u32, u32, Vec<u8>)>;

fn sections(pe: &[u8]) -> (u32, Rows) {
    let p = Packed {
        bytes: pe,
        ..parse_plain(pe)
    };
    let rows = p.sects.iter().map(|s| {
        let data = pe[s.raw as usize..(s.raw + s.rsz) as usize].to_vec();
        (s.name, s.rva, s.vsz, data)
    });
    (p.ep, rows.collect())
}

/// Any PE32's headers, without Petite's entry point check.
fn parse_plain(pe: &[u8]) -> Packed<'_> {
    let pe_off = le32(pe, 0x3c).unwrap() as usize;
    let n = le16(pe, pe_off + 6).unwrap() as usize;
    let table_off = pe_off + 0x18 + le16(pe, pe_off + 0x14).unwrap() as usize;
    Packed {
        bytes: pe,
        pe_off,
        table_off,
        base: le32(pe, pe_off + 0x34).unwrap(),
        ep: le32(pe, pe_off + 0x28).unwrap(),
        salign: 0x1000,
        falign: 0x200,
        sects: read_sects(pe, table_off, n).unwrap(),
        petite: n,
        version: &V22,
    }
}

fn dir(pe: &[u8], i: usize) -> (u32, u32) {
    let at = le32(pe, 0x3c).unwrap() as usize + 0x18 + 96 + 8 * i;
    (le32(pe, at).unwrap(), le32(pe, at + 4).unwrap())
}

fn only_file(out: &Unpacked) -> &[u8] {
    assert!(out.problem.is_none(), "{:?}", out.problem);
    assert_eq!(out.files.len(), 1);
    assert_eq!(out.files[0].0, REBUILT);
    &out.files[0].1
}

// ---- the tests ----

#[test]
fn sections_come_back_unfiltered_with_resources_kept() {
    let parts = [(0x1000, code(), 1 | 0x800 << 1), (0x2000, text(), 0)];
    let packed = packed_pe(false, &parts);
    assert!(starts(&packed));
    let out = run(&packed);
    let (ep, rows) = sections(only_file(&out));
    assert_eq!(ep, 0x1000, "no key: the first section");
    assert_eq!(rows.len(), 3);
    assert_eq!((rows[0].1, rows[0].2), (0x1000, 0x1000));
    assert_eq!(&rows[0].3[..code().len()], code().as_slice());
    assert_eq!((rows[1].1, rows[1].2), (0x2000, 0x2000));
    assert_eq!(&rows[1].3[..text().len()], text().as_slice());
    assert_eq!((&rows[2].0, rows[2].1), (b".rsrc\0\0\0", 0x4000));
    assert!(rows[2].3.starts_with(RESOURCE));
    let file = &out.files[0].1;
    assert_eq!(dir(file, 1), (0, 0), "Petite's imports are dropped");
    assert_eq!(dir(file, 2), (0x4000, 0x10));
}

#[test]
fn petites_code_is_cut_and_the_entry_point_found() {
    let tail_at = 0x2000 + text().len() as u32;
    let enc = 0x1010u32.wrapping_sub(EP + 5);
    let mut last = text();
    last.extend(stub_tail(&V22, 0, enc, tail_at + 0x300, true));
    let out = run(&packed_pe(false, &[(0x1000, code(), 0), (0x2000, last, 0)]));
    let (ep, rows) = sections(only_file(&out));
    assert_eq!(ep, 0x1010);
    assert_eq!(rows[1].3, {
        let mut t = text();
        t.resize(t.len().next_multiple_of(0x200), 0);
        t
    });
}

#[test]
fn the_22_entry_point_walks_the_import_lists() {
    let at = 0x2000 + text().len() as u32;
    let mut last = text();
    let mut tail = stub_tail(&V22, 0, 7, at + 0x300, true);
    // The lists' table at +0x300 (one list at +0x310, of three imports, one by ordinal).
    for (off, v) in [
        (0x300, at + 0x310),
        (0x310, 0x2100),
        (0x314, 0x8000_0001),
        (0x318, 0x2110),
    ] {
        set32(&mut tail, off, v);
    }
    last.extend(tail);
    let out = run(&packed_pe(false, &[(0x2000, last, 0)]));
    let (ep, _) = sections(only_file(&out));
    let mut enc = 7u32;
    // First import: taken (skip goes below 0), its target below the new next_call.
    // Second: by ordinal. Third: skip = (0x40504c & 7) - 1 = 3, so not taken.
    for target in [0x40_5047u32, UNMANGLED_API, UNMANGLED_API] {
        let next = 0x40_504c;
        enc = enc.wrapping_sub(u32::from(0x40_5000 < target) + u32::from(target < next));
        enc = enc.rotate_right(3);
    }
    assert_eq!(ep, (EP + 5).wrapping_add(enc));
}

#[test]
fn petite_21_and_its_relocation_skew_are_read() {
    let tail_at = 0x2000 + text().len() as u32;
    let mut last = text();
    last.extend(stub_tail(&V21, V21.skew, 0x30, tail_at, false));
    let packed = packed_pe(true, &[(0x1000, code(), 1), (0x2000, last, 0)]);
    assert!(starts(&packed));
    let out = run(&packed);
    let (ep, rows) = sections(only_file(&out));
    assert_eq!(ep, EP + 5 + 0x30, "2.1 has no import walk");
    assert_eq!(&rows[1].3[..text().len()], text().as_slice());
    assert!(rows[1].3[text().len()..].iter().all(|&b| b == 0));
    assert_eq!(rows.len(), 3, "Petite's sections are left out");
}

#[test]
fn all_three_size_classes_and_both_match_kinds_decode() {
    for size in [0x3000usize, 0x12000, 0x42000] {
        let mut data = noise(size, size as u64);
        let block = data[..0x800].to_vec();
        for at in [0x9a0, 0x1f00, size - 0x900] {
            data[at..at + 0x800].copy_from_slice(&block);
        }
        data[0x100..0x180].fill(b'z');
        for i in 0..64 {
            data[0x200 + 3 * i] = b'a';
        }
        let packed = compress(&data);
        let mut image = packed.clone();
        let dst = image.len().next_multiple_of(16);
        image.resize(dst + size, 0);
        inflate(
            &mut image,
            0,
            dst as u32,
            size as u32,
            &Unpacked::new(measure(1)),
        )
        .unwrap();
        assert!(image[dst..] == data[..], "size {size:#x}");
    }
}

#[test]
fn a_hand_built_stream_decodes() {
    // 'A', then literal 'B' (XOR 4), a match of 3 at distance 1 ("BBB"), size 5.
    let mut w = Writer {
        out: vec![b'A'],
        flags_at: 0,
        used: 8,
    };
    w.bit(0);
    w.out.push(b'B' ^ 4);
    w.bit(1);
    w.gamma(3);
    for _ in 0..5 {
        w.bit(0);
    }
    w.length(2);
    let mut image = w.out.clone();
    image.resize(0x20, 0);
    inflate(&mut image, 0, 0x10, 5, &Unpacked::new(measure(1))).unwrap();
    assert_eq!(&image[0x10..0x15], b"ABBBB");
}

#[test]
fn the_filter_is_undone_at_each_instruction() {
    let mut data = code();
    filter(&mut data);
    assert_ne!(data, code());
    let mut image = data.clone();
    unfilter(&mut image, 0, data.len() as u32);
    assert_eq!(image, code());
}

#[test]
fn level_zero_is_unsupported() {
    let mut packed = packed_pe(false, &[(0x2000, text(), 0)]);
    let ep_at = packed.len() - 0x400 + 0x40;
    set32(&mut packed, ep_at + 0x80, LEVEL_ZERO);
    let out = run(&packed);
    assert!(out.files.is_empty());
    assert!(out.problem.expect("a problem").unsupported);
}

#[test]
fn other_files_are_not_taken_for_petite() {
    let mut packed = packed_pe(false, &[(0x2000, text(), 0)]);
    let ep_at = packed.len() - 0x400 + 0x40;
    set32(&mut packed, ep_at + 1, 0x40_3000);
    assert!(!starts(&packed));
    assert!(!starts(b""));
    assert!(!starts(&noise(4096, 9)));
    let others = [
        "clam.exe",
        "clam-aspack.exe",
        "clam-fsg.exe",
        "clam-mew.exe",
        "clam-nsis.exe",
        "clam-pespin.exe",
        "clam-upack.exe",
        "clam-upx.exe",
        "clam-wwpack.exe",
        "clam-yc.exe",
        "clam.ea05.exe",
        "clam.ea06.exe",
        "clam_IScab_ext.exe",
        "clam_ISmsi_int.exe",
    ];
    for name in others {
        if let Ok(other) = std::fs::read(format!("/usr/share/clamav-testfiles/{name}")) {
            assert!(!starts(&other), "{name}");
        }
    }
    assert!(run(&noise(100, 3)).problem.is_some());
}

#[test]
fn a_huge_section_stops_at_the_cap() {
    let mut packed = packed_pe(false, &[(0x2000, text(), 0)]);
    set32(&mut packed, 0x178 + 2 * 40 + 8, 0x7000_0000);
    let out = unpack(&packed, measure(1 << 20));
    assert!(out.files.is_empty());
    let why = out.problem.expect("a problem").why;
    assert!(why.contains("past the cap"), "{why}");
}

#[test]
fn damage_after_a_section_keeps_the_image() {
    let mut packed = packed_pe(false, &[(0x1000, code(), 0), (0x2000, text(), 0)]);
    let second = packed.len() - 0x400 + 0x1b8 + 12 + 16;
    set32(&mut packed, second + 4, 0x0100_0000);
    let out = run(&packed);
    assert!(out.problem.is_some());
    assert_eq!(out.files[0].0, IMAGE);
    assert!(find(&out.files[0].1, &code()).is_some());
}

#[test]
fn a_passed_deadline_stops() {
    let packed = packed_pe(false, &[(0x2000, text(), 0)]);
    let out = unpack(
        &packed,
        Measure {
            cap: 1 << 24,
            deadline: Instant::now(),
        },
    );
    assert!(out.problem.expect("a problem").why.contains("time"));
}

#[test]
fn damaged_files_never_panic() {
    let tail_at = 0x2000 + text().len() as u32;
    let mut last = text();
    last.extend(stub_tail(&V22, 0, 5, tail_at + 0x300, true));
    let good = packed_pe(false, &[(0x1000, code(), 1 | 0x40), (0x2000, last, 0)]);
    let started = Instant::now();
    for n in 0..good.len() {
        let _ = run(&good[..n]);
    }
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 1 << (at % 8);
        let _ = run(&bad);
    }
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..3000 {
        let mut bad = good.clone();
        for _ in 0..1 + xorshift(&mut s) % 8 {
            let at = (xorshift(&mut s) % good.len() as u64) as usize;
            bad[at] = xorshift(&mut s) as u8;
        }
        let _ = run(&bad);
    }
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// The sample's program carries clam.exe deflated in a ZIP (not whole): the rebuilt file
/// holds that ZIP, whose member inflates to clam.exe.
#[test]
fn the_clamav_sample_unpacks_to_a_pe_with_the_zipped_clam_exe() {
    let dir = "/usr/share/clamav-testfiles/";
    let (Ok(packed), Ok(clam)) = (
        std::fs::read(format!("{dir}clam-petite.exe")),
        std::fs::read(format!("{dir}clam.exe")),
    ) else {
        return;
    };
    assert!(starts(&packed));
    let out = run(&packed);
    let file = only_file(&out);
    assert_eq!(file.len(), 6656);
    let (ep, rows) = sections(file);
    assert_eq!(ep, 0x1020);
    assert_eq!(rows.len(), 4);
    let zip = &file[find(file, b"PK\x03\x04\x14\x00\x00\x00\x08\x00").expect("a ZIP")..];
    assert_eq!(&zip[30..38], b"clam.exe");
    let size = le32(zip, 18).unwrap() as usize;
    let data = 30 + 8 + le16(zip, 28).unwrap() as usize;
    let mut inflated = Vec::new();
    flate2::read::DeflateDecoder::new(&zip[data..data + size])
        .read_to_end(&mut inflated)
        .unwrap();
    assert_eq!(inflated, clam);
    assert!(
        find(file, &clam).is_none(),
        "not stored whole: the ZIP must be carved"
    );
}
