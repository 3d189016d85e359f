//! Tests: a test-only ASPack compressor (no ASPack runs here) for the codec, hand-built packed
//! PEs of each version, damaged and truncated input, the cap and the clock, and the real
//! sample when it is installed.

use super::codec::{Stub, decompress, unfilter};
use super::*;
use std::time::{Duration, Instant};

fn measure(cap: u64) -> Measure {
    Measure {
        cap,
        deadline: Instant::now() + Duration::from_secs(60),
    }
}

// ---- the stub's constants, as ASPack 2.12 carries them ---------------------------------------

const LEN_BASE: [u8; 28] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128,
    160, 192, 224,
];

fn len_bits() -> Vec<u8> {
    (0..28)
        .map(|i| if i < 8 { 0 } else { (i / 4 - 1) as u8 })
        .collect()
}

fn off_bits() -> Vec<u8> {
    let mut bits = vec![0u8; 4];
    bits.extend((1..=16).flat_map(|b| [b, b]));
    bits.extend([17; 14]);
    bits.extend([18; 8]);
    bits
}

fn stub_table() -> Vec<u8> {
    [LEN_BASE.to_vec(), len_bits(), off_bits()].concat()
}

fn off_base() -> Vec<u32> {
    let mut next = 0;
    off_bits()
        .iter()
        .map(|b| {
            let base = next;
            next += 1u32 << b;
            base
        })
        .collect()
}

// ---- a test-only compressor -------------------------------------------------------------------

#[derive(Default)]
struct Writer {
    bytes: Vec<u8>,
    bits: u32,
}

impl Writer {
    fn put(&mut self, v: u32, n: u32) {
        for k in (0..n).rev() {
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = (v >> k) as u8 & 1;
            *self.bytes.last_mut().unwrap() |= bit << (7 - self.bits % 8);
            self.bits += 1;
        }
    }
}

/// A complete code over the used symbols (at least two): lengths L-1 and L.
fn flat_lengths(used: &[bool]) -> Vec<u8> {
    let mut used = used.to_vec();
    for s in 0..used.len() {
        if used.iter().filter(|u| **u).count() >= 2 {
            break;
        }
        used[s] = true;
    }
    let k = used.iter().filter(|u| **u).count();
    let l = k.next_power_of_two().trailing_zeros() as u8;
    let mut short = k.next_power_of_two() - k;
    used.iter()
        .map(|&u| match u {
            false => 0,
            true if short > 0 => {
                short -= 1;
                l - 1
            }
            true => l,
        })
        .collect()
}

/// Canonical codes for lengths, as the decoder assigns them.
fn codes(lengths: &[u8]) -> Vec<u32> {
    let mut codes = vec![0; lengths.len()];
    let mut code = 0u32;
    for len in 1..16 {
        for (s, _) in lengths.iter().enumerate().filter(|(_, l)| **l == len) {
            codes[s] = code;
            code += 1;
        }
        code <<= 1;
    }
    codes
}

/// A code's lengths and its codes, for writing symbols.
struct Code(Vec<u8>, Vec<u32>);

impl Code {
    fn new(lengths: &[u8]) -> Code {
        Code(lengths.to_vec(), codes(lengths))
    }
    fn put(&self, w: &mut Writer, sym: usize) {
        assert!(self.0[sym] > 0, "symbol {sym} has no code");
        w.put(self.1[sym], u32::from(self.0[sym]));
    }
}

/// Writes a table header: the reset bit, the pre-code, the 757 lengths (runs where they fit).
fn put_tables(w: &mut Writer, new: &[u8], prev: &mut [u8], reset: bool) {
    w.put(u32::from(!reset), 1);
    if reset {
        prev.fill(0);
    }
    let pre = Code::new(&flat_lengths(&[true; 19]));
    for &l in &pre.0 {
        w.put(u32::from(l), 4);
    }
    let mut i = 0;
    while i < new.len() {
        let run = |v: u8| new[i..].iter().take_while(|&&l| l == v).count();
        let zeros = run(0);
        let same = if i > 0 { run(new[i - 1]) } else { 0 };
        if zeros >= 11 {
            let n = zeros.min(138);
            pre.put(w, 18);
            w.put((n - 11) as u32, 7);
            i += n;
        } else if zeros >= 3 {
            let n = zeros.min(10);
            pre.put(w, 17);
            w.put((n - 3) as u32, 3);
            i += n;
        } else if same >= 3 {
            let n = same.min(6);
            pre.put(w, 16);
            w.put((n - 3) as u32, 2);
            i += n;
        } else {
            pre.put(w, usize::from(new[i].wrapping_sub(prev[i]) & 15));
            i += 1;
        }
    }
    prev.copy_from_slice(new);
}

#[derive(Clone, Copy)]
enum Token {
    Lit(u8),
    Match { dist: u32, len: u32 },
    NewTables { reset: bool },
}

/// A token as codes: main symbol, then (symbol of the long length, its extra bits and count),
/// (offset extra bits and count), aligned symbol.
struct Coded {
    main: usize,
    long: Option<(usize, u32, u32)>,
    extra: (u32, u32),
    aligned: Option<usize>,
}

fn code_match(dist: u32, len: u32, last: &mut [u32; 3], aligned_on: bool) -> Coded {
    let v = match last.iter().position(|&o| o == dist - 1) {
        Some(r) => {
            last.swap(0, r);
            r as u32
        }
        None => {
            *last = [dist - 1, last[0], last[1]];
            dist - 1 + 3
        }
    };
    let bases = off_base();
    let slot = bases.iter().rposition(|&b| b <= v).unwrap();
    let (bits, extra) = (u32::from(off_bits()[slot]), v - bases[slot]);
    let (lc, long) = if len <= 8 {
        (len - 2, None)
    } else {
        let l = len - 9;
        let s = LEN_BASE.iter().rposition(|&b| u32::from(b) <= l).unwrap();
        (
            7,
            Some((s, l - u32::from(LEN_BASE[s]), u32::from(len_bits()[s]))),
        )
    };
    let main = 256 + slot * 8 + lc as usize;
    if aligned_on && bits >= 3 {
        let aligned = Some((extra & 7) as usize);
        return Coded {
            main,
            long,
            extra: (extra >> 3, bits - 3),
            aligned,
        };
    }
    Coded {
        main,
        long,
        extra: (extra, bits),
        aligned: None,
    }
}

/// Lengths for the aligned code that are not all 3 (so it is used).
const ALIGNED_ON: [u8; 8] = [2, 2, 2, 3, 4, 5, 6, 6];

/// Compresses tokens into a block: tables for each run of tokens up to a `NewTables`.
fn compress(tokens: &[Token], aligned_on: bool) -> Vec<u8> {
    let mut segments = vec![(true, Vec::new())];
    let mut last = [0u32; 3];
    for t in tokens {
        match *t {
            Token::Lit(b) => segments
                .last_mut()
                .unwrap()
                .1
                .push((t, usize::from(b), None)),
            Token::NewTables { reset } => {
                segments.last_mut().unwrap().1.push((t, 720, None));
                segments.push((reset, Vec::new()));
            }
            Token::Match { dist, len } => {
                let c = code_match(dist, len, &mut last, aligned_on);
                segments.last_mut().unwrap().1.push((t, c.main, Some(c)));
            }
        }
    }
    let (mut w, mut prev) = (Writer::default(), vec![0u8; 757]);
    for (reset, items) in &segments {
        let mut main = vec![false; 721];
        let mut long = vec![false; 28];
        for (_, m, c) in items {
            main[*m] = true;
            if let Some((s, ..)) = c.as_ref().and_then(|c| c.long) {
                long[s] = true;
            }
        }
        let (main, long) = (
            Code::new(&flat_lengths(&main)),
            Code::new(&flat_lengths(&long)),
        );
        let aligned = Code::new(if aligned_on { &ALIGNED_ON } else { &[3; 8] });
        let all = [&main.0[..], &long.0, &aligned.0].concat();
        put_tables(&mut w, &all, &mut prev, *reset);
        for (_, m, c) in items {
            main.put(&mut w, *m);
            let Some(c) = c else { continue };
            if let Some((s, extra, n)) = c.long {
                long.put(&mut w, s);
                w.put(extra, n);
            }
            w.put(c.extra.0, c.extra.1);
            if let Some(a) = c.aligned {
                aligned.put(&mut w, a);
            }
        }
    }
    w.bytes
}

/// Greedy LZ77 over `data` (matches of 2 to 264 bytes within 64 KiB).
fn tokenize(data: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let mut best = (0, 0);
        for start in i.saturating_sub(65536)..i {
            let len = (0..264.min(data.len() - i))
                .take_while(|&k| data[start + k] == data[i + k])
                .count();
            if len > best.1 {
                best = (i - start, len);
            }
        }
        if best.1 >= 2 {
            tokens.push(Token::Match {
                dist: best.0 as u32,
                len: best.1 as u32,
            });
            i += best.1;
        } else {
            tokens.push(Token::Lit(data[i]));
            i += 1;
        }
    }
    tokens
}

fn text(n: usize) -> Vec<u8> {
    let words = ["alpha ", "beta ", "gamma ", "delta\n", "epsilon ", "zeta "];
    let mut seed = 7u32;
    let mut out = Vec::new();
    while out.len() < n {
        seed = seed.wrapping_mul(1103515245).wrapping_add(12345);
        out.extend_from_slice(words[(seed >> 16) as usize % words.len()].as_bytes());
        if seed.is_multiple_of(7) {
            out.extend_from_slice(&[(seed >> 8) as u8, (seed >> 20) as u8]);
        }
    }
    out.truncate(n);
    out
}

fn decode(packed: &[u8], size: usize) -> (Vec<u8>, Option<Fail>) {
    let stub = Stub::new(&stub_table()).unwrap();
    let mut input = packed.to_vec();
    input.resize(packed.len() + SLACK, 0);
    decompress(&input, size, &stub, &|| true)
}

fn round_trip(tokens: &[Token], aligned_on: bool, expect: &[u8]) {
    let packed = compress(tokens, aligned_on);
    let (out, fail) = decode(&packed, expect.len());
    assert!(fail.is_none(), "{fail:?}");
    assert_eq!(out, expect);
}

// ---- the codec ---------------------------------------------------------------------------------

#[test]
fn literals_alone_decode() {
    let data = b"Hello, ASPack!".to_vec();
    let tokens: Vec<Token> = data.iter().map(|&b| Token::Lit(b)).collect();
    round_trip(&tokens, false, &data);
}

#[test]
fn a_hand_made_vector_decodes() {
    // "abababab" as 'a', 'b', a match of 6 at distance 2: one table header, then codes.
    let tokens = [
        Token::Lit(b'a'),
        Token::Lit(b'b'),
        Token::Match { dist: 2, len: 6 },
    ];
    let packed = compress(&tokens, false);
    assert!(packed.len() < 80, "{}", packed.len());
    assert_eq!(decode(&packed, 8).0, b"abababab");
}

#[test]
fn matches_long_lengths_and_repeated_offsets_decode() {
    let data = text(6000);
    let tokens = tokenize(&data);
    assert!(
        tokens
            .iter()
            .any(|t| matches!(t, Token::Match { len: 9.., .. }))
    );
    round_trip(&tokens, false, &data);
}

/// What tokens stand for.
fn apply(tokens: &[Token]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in tokens {
        match *t {
            Token::Lit(b) => out.push(b),
            Token::Match { dist, len } => {
                for _ in 0..len {
                    out.push(out[out.len() - dist as usize]);
                }
            }
            Token::NewTables { .. } => {}
        }
    }
    out
}

#[test]
fn each_of_the_last_three_offsets_is_reused() {
    let mut tokens: Vec<Token> = (0..40u8).map(Token::Lit).collect();
    for dist in [5, 9, 17, 5, 17, 9, 9, 30, 5] {
        tokens.push(Token::Match { dist, len: 4 });
        tokens.push(Token::Lit(0xaa));
    }
    let mut last = [0u32; 3];
    let values: Vec<u32> = tokens
        .iter()
        .filter_map(|t| match *t {
            Token::Match { dist, len } => Some(code_match(dist, len, &mut last, false).main as u32),
            _ => None,
        })
        .collect();
    // Slots 0, 1 and 2 are the last three offsets; each is used.
    for slot in 0..3 {
        assert!(values.contains(&(256 + slot * 8 + 2)), "{values:?}");
    }
    let expect = apply(&tokens);
    round_trip(&tokens, false, &expect);
    round_trip(&tokens, true, &expect);
}

#[test]
fn the_aligned_offset_code_decodes() {
    let mut data = text(3000);
    data.extend_from_within(0..2000);
    let tokens = tokenize(&data);
    round_trip(&tokens, true, &data);
}

#[test]
fn the_longest_match_and_far_offsets_decode() {
    let mut data = (0..40000u32)
        .map(|i| (i * 7 % 251) as u8 ^ (i >> 9) as u8)
        .collect::<Vec<_>>();
    data.extend_from_within(100..100 + 264);
    let mut tokens: Vec<Token> = data[..40000].iter().map(|&b| Token::Lit(b)).collect();
    tokens.push(Token::Match {
        dist: 39900,
        len: 264,
    });
    round_trip(&tokens, false, &data);
    round_trip(&tokens, true, &data);
}

#[test]
fn new_tables_mid_block_decode_with_and_without_reset() {
    let data = text(4000);
    let mut tokens = tokenize(&data);
    tokens.insert(tokens.len() / 3, Token::NewTables { reset: false });
    tokens.insert(2 * tokens.len() / 3, Token::NewTables { reset: true });
    round_trip(&tokens, false, &data);
    round_trip(&tokens, true, &data);
}

#[test]
fn incomplete_codes_and_bad_matches_are_damage() {
    // All-zero input: the pre-code has no lengths.
    let (out, fail) = decode(&[0; 64], 10);
    assert!(out.is_empty());
    assert!(matches!(fail, Some(Fail::Broken(why)) if why.contains("incomplete")));
    // A match before any output.
    let packed = compress(&[Token::Match { dist: 1, len: 3 }], false);
    let (_, fail) = decode(&packed, 3);
    assert!(matches!(fail, Some(Fail::Broken(why)) if why.contains("outside")));
    // A match longer than the block.
    let packed = compress(&[Token::Lit(1), Token::Match { dist: 1, len: 5 }], false);
    let (out, fail) = decode(&packed, 3);
    assert!(fail.is_some() && out == [1]);
}

#[test]
fn the_data_running_out_is_damage() {
    let data = text(500);
    let packed = compress(&tokenize(&data), false);
    let stub = Stub::new(&stub_table()).unwrap();
    let (out, fail) = decompress(&packed[..packed.len() / 2], data.len(), &stub, &|| true);
    assert!(matches!(fail, Some(Fail::Broken(why)) if why.contains("ends early")));
    assert!(data.starts_with(&out));
}

#[test]
fn stub_tables_wider_than_the_window_are_refused() {
    let mut table = stub_table();
    assert!(Stub::new(&table).is_some());
    table[60] = 25;
    assert!(Stub::new(&table).is_none());
    assert!(Stub::new(&table[..50]).is_none());
}

#[test]
fn the_call_filter_is_undone() {
    let mut code = vec![
        0x90, 0x90, 0xe8, 0x00, 0x34, 0x12, 0x00, 0xe9, 0x01, 0, 0, 0, 0x90, 0x90,
    ];
    unfilter(&mut code, 0);
    let rel = 0x1234u32.wrapping_sub(2).to_le_bytes();
    assert_eq!(code[3..7], rel);
    assert_eq!(code[7..12], [0xe9, 0x01, 0, 0, 0]);
    unfilter(&mut [0xe8, 0, 0, 0, 0, 0], 0); // too short: left alone
}

// ---- hand-built packed PEs -----------------------------------------------------------------------

const PE_AT: usize = 0x80;
const TABLE_AT: usize = PE_AT + 0x18 + 0xe0;
const OEP: u32 = 0x1010;
/// Where the original import descriptors are (in the first section).
const IMPORTS: u32 = 0x1020;

fn set(b: &mut [u8], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}

/// The stub section of `version`: entry code, version mark, filter flag, import walk, block
/// table, constants, original entry point.
fn stub(version: &Version, blocks: &[(u32, u32)], flag: u8, marker: u8) -> Vec<u8> {
    let mut s = vec![0xcc; 0x800];
    s[0] = 0x90;
    set(&mut s, 1, ENTRY_CODE);
    set(&mut s, 1 + version.push_ret, PUSH_RET);
    set(&mut s, 0xfe, &[0xb3, flag, 0x80, 0xfb, 0x00, 0x75]);
    set(&mut s, 0x278, &[0xbe]);
    set(&mut s, 0x279, &IMPORTS.to_le_bytes());
    set(
        &mut s,
        0x27d,
        &[0x8b, 0x95, 0x22, 0x04, 0, 0, 0x03, 0xf2, 0x8b, 0x46, 0x0c],
    );
    s[version.marker] = marker;
    set(&mut s, version.entry, &OEP.to_le_bytes());
    let mut row = version.blocks;
    for &(rva, size) in blocks.iter().chain([&(0, 0)]) {
        set(&mut s, row, &rva.to_le_bytes());
        set(&mut s, row + 4, &size.to_le_bytes());
        set(&mut s, row + 8, &[0; 4]);
        row += version.row;
    }
    set(&mut s, version.table, &stub_table());
    s
}

/// A PE as ASPack leaves it: `sections` compressed (each a block), its stub and `.adata`.
fn packed_pe(version: &Version, sections: &[Vec<u8>], flag: u8, marker: u8) -> Vec<u8> {
    let n = sections.len();
    let stub_rva = 0x1000 * (n as u32 + 1);
    let blocks: Vec<(u32, u32)> = (0..n)
        .map(|i| (0x1000 * (i as u32 + 1), sections[i].len() as u32))
        .collect();
    let mut raws: Vec<Vec<u8>> = sections
        .iter()
        .map(|s| compress(&tokenize(s), false))
        .collect();
    raws.push(stub(version, &blocks, flag, marker));
    raws.push(Vec::new());
    let mut file = vec![0u8; 0x400];
    set(&mut file, 0, b"MZ");
    set(&mut file, 0x3c, &(PE_AT as u32).to_le_bytes());
    set(&mut file, PE_AT, b"PE\0\0\x4c\x01");
    set(&mut file, PE_AT + 6, &(n as u16 + 2).to_le_bytes());
    set(&mut file, PE_AT + 0x14, &[0xe0, 0, 0x0f, 0x01, 0x0b, 0x01]);
    for (at, v) in [
        (0x28, stub_rva + 1),
        (0x34, 0x40_0000),
        (0x38, 0x1000),
        (0x3c, 0x200),
    ] {
        set(&mut file, PE_AT + at, &u32::to_le_bytes(v));
    }
    for (at, v) in [(0x50, stub_rva + 0x3000), (0x54, 0x400), (0x74, 16)] {
        set(&mut file, PE_AT + at, &u32::to_le_bytes(v));
    }
    set(&mut file, PE_AT + 0x80, &(stub_rva + 0x700).to_le_bytes());
    set(&mut file, PE_AT + 0x84, &0x40u32.to_le_bytes());
    for (i, raw) in raws.iter().enumerate() {
        let row = TABLE_AT + 40 * i;
        set(
            &mut file,
            row,
            if i < n { b".text\0\0\0" } else { b".aspack\0" },
        );
        let vsize = if i == n { 0x2000 } else { 0x1000 };
        let raw_ptr = if raw.is_empty() { 0 } else { file.len() as u32 };
        for (at, v) in [
            (8, vsize),
            (12, 0x1000 * (i as u32 + 1)),
            (16, raw.len() as u32),
            (20, raw_ptr),
        ] {
            set(&mut file, row + at, &u32::to_le_bytes(v));
        }
        file.extend_from_slice(raw);
        file.resize(align_up(file.len(), 0x200), 0);
    }
    file
}

/// Code with an import descriptor at `IMPORTS` and a filtered CALL at 0x60.
fn first_section() -> Vec<u8> {
    let mut s = text(0x300);
    set(
        &mut s,
        0x20,
        &[
            0x50, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x60, 0x20, 0, 0, 0, 0x20, 0, 0,
        ],
    );
    set(&mut s, 0x34, &[0; 20]);
    set(&mut s, 0x60, &[0xe8, 0x00, 0x00, 0x11, 0x00, 0x90]);
    s
}

/// The rebuilt file's sections: (vaddr, data).
fn rebuilt_sections(file: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let n = usize::from(le16(file, PE_AT + 6).unwrap());
    (0..n)
        .map(|i| {
            let row = TABLE_AT + 40 * i;
            let (va, size, ptr) = (
                le32(file, row + 12).unwrap(),
                le32(file, row + 16).unwrap(),
                le32(file, row + 20).unwrap(),
            );
            (va, file[idx(ptr)..idx(ptr + size)].to_vec())
        })
        .collect()
}

#[test]
fn each_version_unpacks_and_rebuilds() {
    let sections = vec![first_section(), text(3000), vec![0x41; 100]];
    for (version, flag) in VERSIONS.iter().zip([0, 1, 0]) {
        let file = packed_pe(version, &sections, flag, 0);
        assert!(starts(&file), "{}", version.name);
        let out = unpack(&file, measure(1 << 20));
        assert_eq!(out.problem, None, "{}", version.name);
        let (name, rebuilt) = &out.files[0];
        assert_eq!(name, "unpacked.exe");
        assert_eq!(le32(rebuilt, PE_AT + 0x28), Some(OEP));
        assert_eq!(le32(rebuilt, PE_AT + 0x80), Some(IMPORTS));
        assert_eq!(le32(rebuilt, PE_AT + 0x84), Some(40));
        let got = rebuilt_sections(rebuilt);
        assert_eq!(got.len(), 3);
        let mut first = first_section();
        if flag == 0 {
            // The CALL's absolute 0x1100 made relative to its place.
            set(&mut first, 0x61, &(0x1100u32 - 0x60).to_le_bytes());
        }
        assert!(got[0].1.starts_with(&first), "{}", version.name);
        assert!(got[1].1.starts_with(&sections[1]));
        assert!(got[2].1.starts_with(&sections[2]));
        assert_eq!(got[1].0, 0x2000);
    }
}

#[test]
fn other_programs_are_not_taken_for_aspack() {
    let file = packed_pe(&VERSIONS[0], &[text(500)], 1, 0);
    assert!(!starts(b"MZ"));
    assert!(!starts(&file[..0x400]));
    let mut no_mark = file.clone();
    let ep = file.len() - 0x800 + 1;
    no_mark[ep + VERSIONS[0].push_ret] = 0x6a;
    assert!(!starts(&no_mark));
    let mut other_code = file.clone();
    other_code[ep] = 0x55;
    assert!(!starts(&other_code));
    let out = unpack(&other_code, measure(1 << 20));
    assert!(out.files.is_empty() && out.problem.is_some());
}

#[test]
fn a_damaged_block_keeps_the_image_and_says_so() {
    let mut file = packed_pe(&VERSIONS[0], &[text(2000)], 1, 0);
    file[0x400 + 60] ^= 0xff;
    let out = unpack(&file, measure(1 << 20));
    assert!(out.problem.is_some());
    assert_eq!(out.files.len(), 1);
}

#[test]
fn a_block_outside_the_image_is_damage() {
    let mut file = packed_pe(&VERSIONS[0], &[text(500)], 1, 0);
    let rows = file.len() - 0x800 + VERSIONS[0].blocks;
    set(&mut file, rows + 4, &0xffff_0000u32.to_le_bytes());
    let out = unpack(&file, measure(1 << 20));
    let problem = out.problem.unwrap();
    assert!(problem.why.contains("outside the image"), "{}", problem.why);
}

#[test]
fn a_huge_image_stops_at_the_cap() {
    let mut file = packed_pe(&VERSIONS[0], &[text(500)], 1, 0);
    set(&mut file, TABLE_AT + 8, &0x7fff_0000u32.to_le_bytes());
    let out = unpack(&file, measure(1 << 24));
    assert!(out.files.is_empty());
    assert!(out.problem.unwrap().why.contains("past the cap"));
    let file = packed_pe(&VERSIONS[0], &[text(500)], 1, 0);
    let out = unpack(&file, measure(0x2000));
    assert!(out.files.is_empty() && out.problem.is_some());
}

#[test]
fn a_passed_deadline_stops_a_long_block() {
    let data = vec![7u8; 200_000];
    let tokens: Vec<Token> = data.iter().map(|&b| Token::Lit(b)).collect();
    let packed = compress(&tokens, false);
    let stub = Stub::new(&stub_table()).unwrap();
    let (out, fail) = decompress(&packed, data.len(), &stub, &|| false);
    assert!(matches!(fail, Some(Fail::Late)));
    assert!(out.len() < data.len());
}

#[test]
fn sections_whose_sizes_wrap_around_are_harmless() {
    let mut file = packed_pe(&VERSIONS[0], &[text(500)], 1, 0);
    set(&mut file, TABLE_AT + 12, &0x9000u32.to_le_bytes());
    set(&mut file, TABLE_AT + 16, &0xffff_ff00u32.to_le_bytes());
    survives(&file);
    // One data directory: the section table is where the import directory would be, and
    // the import directory found in the stub is not written over it.
    let mut file = packed_pe(&VERSIONS[0], &[first_section()], 1, 0);
    let rows = file[TABLE_AT..TABLE_AT + 3 * 40].to_vec();
    set(&mut file, PE_AT + 0x80, &rows);
    set(&mut file, PE_AT + 0x14, &0x68u16.to_le_bytes());
    set(&mut file, PE_AT + 0x74, &1u32.to_le_bytes());
    let out = unpack(&file, measure(1 << 20));
    assert_eq!(out.problem, None);
    let rebuilt = &out.files[0].1;
    assert_eq!(&rebuilt[PE_AT + 0x80..PE_AT + 0x85], b".text");
    assert_eq!(le32(rebuilt, PE_AT + 0x28), Some(OEP));
}

fn survives(file: &[u8]) {
    let started = Instant::now();
    let _ = starts(file);
    let _ = unpack(file, measure(1 << 20));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn every_prefix_is_harmless() {
    let file = packed_pe(&VERSIONS[2], &[first_section(), text(600)], 0, 0);
    for end in 0..file.len() {
        survives(&file[..end]);
    }
}

#[test]
fn bit_flips_and_mutations_are_harmless() {
    let file = packed_pe(&VERSIONS[0], &[first_section(), text(600)], 0, 0);
    for at in (0..file.len()).step_by(7) {
        let mut bad = file.clone();
        bad[at] ^= 1 << (at % 8);
        survives(&bad);
    }
    let mut seed = 0x2545_f491_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let mut bad = file.clone();
        for _ in 0..1 + next() % 8 {
            let at = (next() as usize) % bad.len();
            bad[at] = next() as u8;
        }
        survives(&bad);
    }
}

// ---- the real sample -------------------------------------------------------------------------

#[test]
fn the_real_sample_unpacks_to_clam_exe() {
    let dir = "/usr/share/clamav-testfiles";
    let (Ok(packed), Ok(clam)) = (
        std::fs::read(format!("{dir}/clam-aspack.exe")),
        std::fs::read(format!("{dir}/clam.exe")),
    ) else {
        return;
    };
    assert!(starts(&packed));
    let out = unpack(&packed, measure(1 << 24));
    assert_eq!(out.problem, None);
    let (name, file) = &out.files[0];
    assert_eq!(name, "unpacked.exe");
    assert!(file.windows(clam.len()).any(|w| w == clam));
    // The original entry point and imports (KERNEL32, USER32) are back.
    assert_eq!(le32(file, 0xc8 + 0x28), Some(0x1020));
    assert_eq!(le32(file, 0xc8 + 0x80), Some(0x205c));
    assert_eq!(le16(file, 0xc8 + 6), Some(4));
}
