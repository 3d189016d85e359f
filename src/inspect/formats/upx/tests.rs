//! The UPX decoders against test encoders' round trips, synthetic packed PE and ELF files,
//! damage and the cap; the ClamAV samples when installed.

use super::*;
use crate::inspect::formats::decoder_tests::{
    GOLDEN, XorShift, a_bit_of, every_prefix, expired, flips, hex, measure, mutations, survives,
};
use std::collections::HashMap;
use std::time::Duration;

fn quiet() -> Unpacked {
    Unpacked::new(measure(1 << 30))
}

/// Unpacks `bytes` within two seconds and the cap.
fn runs_fast(bytes: &[u8]) -> Unpacked {
    survives(unpack, bytes, 1 << 20, Duration::from_secs(2))
}

// ---- a test-only NRV encoder: literals, and matches a naive search finds -------------

struct Enc {
    out: Vec<u8>,
    word_at: usize,
    word: u32,
    used: u32,
    width: u32,
}

impl Enc {
    fn bit(&mut self, b: usize) {
        if self.used == self.width {
            self.flush();
            self.word_at = self.out.len();
            self.out.resize(self.out.len() + self.width as usize / 8, 0);
            (self.word, self.used) = (0, 0);
        }
        self.used += 1;
        self.word |= (b as u32 & 1) << (self.width - self.used);
    }
    fn flush(&mut self) {
        let n = self.width as usize / 8;
        if self.out.len() >= self.word_at + n {
            self.out[self.word_at..self.word_at + n].copy_from_slice(&self.word.to_le_bytes()[..n]);
        }
    }
    /// `m >= 2` as the bits under its top one, each followed by a stop bit.
    fn gamma(&mut self, m: usize) {
        for i in (0..m.ilog2()).rev() {
            self.bit(m >> i);
            self.bit(usize::from(i == 0));
        }
    }
    /// NRV2D/E's offset prefix: see `Bits::gamma_de`, run backwards.
    fn gamma_de(&mut self, m: usize) {
        self.prefix(m >> 1);
        self.bit(m);
        self.bit(1);
    }
    fn prefix(&mut self, a: usize) {
        if a > 1 {
            let t = a + 2;
            self.prefix(t >> 2);
            self.bit(t >> 1);
            self.bit(0);
            self.bit(t);
        }
    }
}

/// Compresses `data` as UPX method `method` (2..=10).
fn nrv_encode(data: &[u8], method: u8) -> Vec<u8> {
    let (kind, width) = ((method - 2) / 3, [32, 8, 16][usize::from((method - 2) % 3)]);
    let mut e = Enc {
        out: Vec::new(),
        word_at: 0,
        word: 0,
        used: width,
        width,
    };
    let (mut i, mut last) = (0, 1);
    let mut seen: HashMap<&[u8], Vec<usize>> = HashMap::new();
    while i < data.len() {
        let (off, len) = longest_match(data, i, last, &seen);
        let far = usize::from(off > if kind == 0 { 0xd00 } else { 0x500 });
        let step = if len < 3 + far { 1 } else { len };
        for at in i..i + step {
            if let Some(key) = data.get(at..at + 3) {
                seen.entry(key).or_default().push(at);
            }
        }
        if step == 1 {
            e.bit(1);
            e.out.push(data[i]);
        } else {
            e.bit(0);
            e.put_match(kind, off, off == last, len - 1 - far);
            last = off;
        }
        i += step;
    }
    e.bit(0);
    if kind == 0 {
        e.gamma(0x0100_0002)
    } else {
        e.gamma_de(0x0100_0002)
    }
    e.out.push(0xff);
    e.flush();
    e.out
}

impl Enc {
    /// A match's offset (or "the last one again") and its length code `m` (copies m+1,
    /// one more when far).
    fn put_match(&mut self, kind: u8, off: usize, repeat: bool, m: usize) {
        if kind == 0 {
            if repeat {
                self.gamma(2);
            } else {
                self.gamma(((off - 1) >> 8) + 3);
                self.out.push((off - 1) as u8);
            }
            if m <= 3 {
                self.bit(m >> 1);
                self.bit(m);
            } else {
                self.bit(0);
                self.bit(0);
                self.gamma(m - 2);
            }
            return;
        }
        // NRV2D/E: the length's first bit rides in the offset's low bit.
        let first = usize::from(if kind == 1 { m == 2 || m == 3 } else { m <= 2 });
        if repeat {
            self.gamma_de(2);
            self.bit(first);
        } else {
            let v = (off - 1) << 1 | (1 - first);
            self.gamma_de((v >> 8) + 3);
            self.out.push(v as u8);
        }
        if kind == 1 && m <= 3 {
            self.bit(m);
        } else if kind == 1 {
            self.bit(0);
            self.gamma(m - 2);
        } else if m <= 2 {
            self.bit(m - 1);
        } else if m <= 4 {
            self.bit(1);
            self.bit(m - 3);
        } else {
            self.bit(0);
            self.gamma(m - 3);
        }
    }
}

/// The longest earlier copy of `data[i..]` (at most 300 bytes), among the last 64 places
/// its first 3 bytes were seen; the last offset when it does as well.
fn longest_match(
    data: &[u8],
    i: usize,
    last: usize,
    seen: &HashMap<&[u8], Vec<usize>>,
) -> (usize, usize) {
    let len_at = |off: usize| {
        (0..300.min(data.len() - i))
            .take_while(|&k| data[i + k] == data[i + k - off])
            .count()
    };
    let mut best = if last <= i {
        (last, len_at(last))
    } else {
        (1, 0)
    };
    let earlier = data
        .get(i..i + 3)
        .and_then(|key| seen.get(key))
        .map_or(&[][..], |v| &v[..]);
    for &at in earlier.iter().rev().take(64) {
        let len = len_at(i - at);
        if len > best.1 {
            best = (i - at, len);
        }
    }
    best
}

fn sample_text() -> Vec<u8> {
    let mut data = b"abcabcabcabc UPX test text, UPX test text; aaaaaaaaaaaaaaaaaaaaaaaaa! \
        The cat sat. The cat ran. The cat hid. The cat sat. #xy1#xy2#xy3 -vwxy1-vwxy2-vwxy3 "
        .to_vec();
    let mut rng = XorShift(7);
    data.extend((0..5000).map(|_| rng.byte() % 16 + b'a'));
    let head = data[..200].to_vec();
    data.extend(head); // a match 5000 bytes back: past NRV's "far offset" limits
    data
}

fn decode(method: u8, packed: &[u8], u_len: usize) -> (Vec<u8>, Res<()>) {
    let mut dst = Vec::new();
    let got = decompress(method, packed, u_len, &mut dst, &quiet());
    (dst, got)
}

#[test]
fn every_nrv_variant_round_trips() {
    let data = sample_text();
    for method in 2..=10 {
        let packed = nrv_encode(&data, method);
        assert!(
            packed.len() < data.len() - 300,
            "method {method} compresses"
        );
        let (got, res) = decode(method, &packed, data.len());
        assert!(res.is_ok(), "method {method}: {res:?}");
        assert_eq!(got, data, "method {method}");
    }
}

#[test]
fn lzma_round_trips() {
    // Python: lzma.compress(TEXT, FORMAT_RAW, [LZMA1 lc=3 lp=0 pb=2]); UPX's 2 bytes first.
    let text = b"UPX packs executables; UPX unpacks them. ".repeat(3);
    let text = [&text[..], b"LZMA test vector, not a real program.\n"].concat();
    let raw = "002a94074abede3b51f9fa1557c18cba2d6991f1fe072eb1a4d70e4b4be2a717e1557aa375a5\
               bbfab1a3c83d984d1bb485dde20d7e482ce888cda09057bb878054c3d7e6b0db6afafa71da32\
               1db0a0fffa5e8180";
    let mut packed = vec![3 << 3 | 2, 3];
    packed.extend(hex(raw));
    let (got, res) = decode(14, &packed, text.len());
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(got, text);
    packed[0] = 0xff;
    assert!(matches!(
        decode(14, &packed, text.len()).1,
        Err(Fail::Broken(_))
    ));
}

#[test]
fn deflate_round_trips() {
    use std::io::Write;
    let data = sample_text();
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&data).unwrap();
    let (got, res) = decode(15, &enc.finish().unwrap(), data.len());
    assert!(res.is_ok(), "{res:?}");
    assert_eq!(got, data);
}

#[test]
fn other_methods_are_unsupported_by_name() {
    let (_, res) = decode(16, b"xx", 2);
    assert!(matches!(res, Err(Fail::Unsupported(why)) if why.contains("method 16")));
}

// ---- filters ------------------------------------------------------------------------

/// UPX's forward CALL trick (0x24..0x49), test-only: operands aimed inside the buffer
/// become `cto`-marked big-endian absolute addresses.
fn filter_cto(buf: &mut [u8], cto: u8, addvalue: u32, jcc: bool) {
    let (mut ic, mut lastcall) = (0, 0);
    while ic + 5 < buf.len() {
        let op = buf[ic];
        let is_jcc =
            jcc && ic > 0 && lastcall != ic && buf[ic - 1] == 0x0f && (0x80..=0x8f).contains(&op);
        let jc = le32(buf, ic + 1).unwrap().wrapping_add(ic as u32 + 1);
        if (op == 0xe8 || op == 0xe9 || is_jcc) && (jc as usize) < buf.len() {
            let v = jc + addvalue + (u32::from(cto) << 24);
            buf[ic + 1..ic + 5].copy_from_slice(&v.to_be_bytes());
            ic += 5;
            lastcall = ic;
        } else {
            ic += 1;
        }
    }
}

/// Code with a CALL and a JMP inside, a JE (0F 84), and a CALL aimed far outside.
fn code() -> Vec<u8> {
    let mut code = vec![0x90; 48];
    code[3..8].copy_from_slice(&[0xe8, 0x20, 0, 0, 0]); // call +0x20
    code[10..15].copy_from_slice(&[0xe9, 0xf5, 0xff, 0xff, 0xff]); // jmp -11
    code[20..26].copy_from_slice(&[0x0f, 0x84, 0x10, 0, 0, 0]); // je +0x10
    code[30..35].copy_from_slice(&[0xe8, 0, 0, 0, 0x40]); // call far away
    code
}

#[test]
fn cto_filters_are_undone() {
    // Filtered by hand: each operand aimed inside becomes 0x7f, then (operand offset +
    // displacement + 0x1000) big-endian: 4+0x20+0x1000, 11-11+0x1000, 22+0x10+0x1000.
    let mut filtered = code();
    filtered[4..8].copy_from_slice(&[0x7f, 0, 0x10, 0x24]);
    filtered[11..15].copy_from_slice(&[0x7f, 0, 0x10, 0]);
    let mut forward = code();
    filter_cto(&mut forward, 0x7f, 0x1000, false);
    assert_eq!(forward, filtered);
    for id in [0x26, 0x36, 0x46] {
        let mut buf = filtered.clone();
        unfilter(&mut buf, id, 0x7f, 0x1000, &quiet()).unwrap();
        assert_eq!(buf, code(), "filter {id:#x}");
    }
    // 0x49 also takes the JE; 0x24 only CALLs, 0x25 only JMPs.
    filtered[22..26].copy_from_slice(&[0x7f, 0, 0x10, 0x26]);
    let mut forward = code();
    filter_cto(&mut forward, 0x7f, 0x1000, true);
    assert_eq!(forward, filtered);
    unfilter(&mut filtered, 0x49, 0x7f, 0x1000, &quiet()).unwrap();
    assert_eq!(filtered, code());
    let mut only_calls = code();
    only_calls[4..8].copy_from_slice(&[0x7f, 0, 0x10, 0x24]);
    unfilter(&mut only_calls, 0x24, 0x7f, 0x1000, &quiet()).unwrap();
    assert_eq!(only_calls, code());
}

#[test]
fn ct32_filters_are_undone() {
    // 0x11: every E8 operand + its offset + addvalue, little-endian.
    let mut buf = vec![0x90, 0xe8, 5, 0, 0, 0, 0x90, 0x90];
    unfilter(&mut buf, 0x11, 0, 0x100, &quiet()).unwrap();
    assert_eq!(buf, [0x90, 0xe8, 0x03, 0xff, 0xff, 0xff, 0x90, 0x90]);
    // 0x16: E8 and E9, stored big-endian.
    let mut buf = vec![0xe9, 0, 0, 0, 9, 0x90, 0x90];
    unfilter(&mut buf, 0x16, 0, 0, &quiet()).unwrap();
    assert_eq!(buf, [0xe9, 8, 0, 0, 0, 0x90, 0x90]);
    assert!(matches!(
        unfilter(&mut buf, 0x50, 0, 0, &quiet()),
        Err(Fail::Unsupported(_))
    ));
}

// ---- a PE packed as UPX would pack it ------------------------------------------------

fn set(f: &mut [u8], at: usize, v: &[u8]) {
    f[at..at + v.len()].copy_from_slice(v);
}

const PE: usize = 0x40;

/// A small PE32: a CALL, an absolute address with its relocation, one DLL imported by
/// name and by ordinal, laid out as `upx -d` writes it.
fn original_pe() -> Vec<u8> {
    let mut f = vec![0u8; 0x600];
    set(&mut f, 0, b"MZ");
    set(&mut f, 0x3c, &(PE as u32).to_le_bytes());
    set(&mut f, PE, b"PE\0\0\x4c\x01\x02\0");
    set(&mut f, PE + 0x14, &[0xe0, 0, 0x02, 0x01, 0x0b, 0x01]);
    for (at, v) in [
        (0x1c, 0x200),
        (0x28, 0x1000),
        (0x2c, 0x1000),
        (0x30, 0x2000),
        (0x34, 0x40_0000),
    ]
    .into_iter()
    .chain([
        (0x38, 0x1000),
        (0x3c, 0x200),
        (0x50, 0x3000),
        (0x54, 0x200),
        (0x5c, 2),
        (0x74, 16),
    ])
    .chain([(0x80, 0x2000), (0x84, 40), (0xa0, 0x2100), (0xa4, 12)])
    {
        set(&mut f, PE + at, &u32::to_le_bytes(v));
    }
    for (i, (name, vsize, vaddr, raw, flags)) in [
        (b".text\0\0\0", 0x100, 0x1000, 0x200, 0x6000_0020u32),
        (b".rdata\0\0", 0x200, 0x2000, 0x400, 0x4000_0040),
    ]
    .into_iter()
    .enumerate()
    {
        let row = PE + 0xf8 + 40 * i;
        set(&mut f, row, name);
        for (at, v) in [(8, vsize), (12, vaddr), (16, 0x200), (20, raw), (36, flags)] {
            set(&mut f, row + at, &u32::to_le_bytes(v));
        }
    }
    // .text: call 0x1010; mov eax, [0x402000]; ret ... 0x1010: ret
    set(
        &mut f,
        0x200,
        &[0xe8, 0x0b, 0, 0, 0, 0xa1, 0x00, 0x20, 0x40, 0x00, 0xc3],
    );
    f[0x210] = 0xc3;
    // .rdata: the import descriptor, DLL name, hint/name, IAT; the .reloc block.
    set(&mut f, 0x40c, &[0x30, 0x20, 0, 0, 0x50, 0x20, 0, 0]);
    set(&mut f, 0x430, b"KERNEL32.DLL\0");
    set(&mut f, 0x440, b"ExitProcess\0");
    set(&mut f, 0x450, &[0x3e, 0x20, 0, 0, 5, 0, 0, 0x80]);
    set(
        &mut f,
        0x500,
        &[0, 0x10, 0, 0, 12, 0, 0, 0, 0x06, 0x30, 0, 0],
    );
    f
}

/// `original_pe()` packed: its image with imports and relocations taken out for UPX's
/// own lists, code filtered with 0x49, compressed with `method`, in a 3-section PE.
fn packed_pe(method: u8) -> Vec<u8> {
    let orig = original_pe();
    let mut image = vec![0u8; 0x2000];
    image[..0x200].copy_from_slice(&orig[0x200..0x400]);
    image[0x1000..0x1200].copy_from_slice(&orig[0x400..0x600]);
    image[0x1000..0x1200].fill(0);
    set(&mut image, 6, &0x1000u32.to_be_bytes()); // 0x402000 - imagebase - rvamin, swapped
    filter_cto(&mut image[..0x200], 0x7f, 0, true);
    // Imports: DLL name at 0x10 in the packed import area, IAT 0x1050; then relocations.
    image.extend([0x10, 0, 0, 0, 0x50, 0x10, 0, 0, 1]);
    image.extend(b"ExitProcess\0\xff\x05\0\0\0\0\0\0");
    let relocs = image.len() as u32;
    image.extend([10, 0]);
    let extra = image.len() as u32;
    image.extend(&orig[PE..PE + 0xf8 + 80]);
    for v in [0x2000u32, 0x2030, relocs] {
        image.extend(v.to_le_bytes());
    }
    image.push(0);
    image.extend(extra.to_le_bytes());
    let packed = nrv_encode(&image, method);
    let raw1 = packed.len().div_ceil(0x200) * 0x200;
    let mut f = orig[..0x400].to_vec();
    f.resize(0x400 + raw1 + 0x200, 0);
    set(&mut f, PE + 6, &[3]);
    set(&mut f, PE + 0x80, &[0, 0x50, 0, 0, 20, 0, 0, 0]);
    set(&mut f, PE + 0xa0, &[0; 8]);
    for (i, (vaddr, raw_size, raw)) in [
        (0x1000, 0, 0),
        (0x4000, raw1, 0x400),
        (0x5000, 0x200, 0x400 + raw1),
    ]
    .into_iter()
    .enumerate()
    {
        let row = PE + 0xf8 + 40 * i;
        set(&mut f, row, b"UPX0\0\0\0\0");
        for (at, v) in [
            (8, 0x1000),
            (12, vaddr),
            (16, raw_size as u32),
            (20, raw as u32),
        ] {
            set(&mut f, row + at, &u32::to_le_bytes(v));
        }
    }
    set(&mut f, 0x400 + raw1 + 0x10, b"KERNEL32.DLL\0");
    let mut ph = b"UPX!\x0d\x09".to_vec();
    ph.extend([method, 8]);
    for v in [
        adler32(&image),
        adler32(&packed),
        image.len() as u32,
        packed.len() as u32,
        0x600,
    ] {
        ph.extend(v.to_le_bytes());
    }
    ph.extend([0x49, 0x7f, 0]);
    ph.push((ph[4..].iter().map(|&b| u32::from(b)).sum::<u32>() % 251) as u8);
    set(&mut f, 0x3e0, &ph);
    set(&mut f, 0x400, &packed);
    f
}

#[test]
fn a_packed_pe_unpacks_to_the_original_byte_for_byte() {
    for method in [2, 5, 8, 3, 10] {
        let packed = packed_pe(method);
        assert!(starts(&packed));
        let out = runs_fast(&packed);
        assert!(out.problem.is_none(), "method {method}: {:?}", out.problem);
        assert_eq!(out.files.len(), 1);
        assert_eq!(out.files[0].0, "unpacked.exe");
        assert!(out.files[0].1 == original_pe(), "method {method}");
    }
    assert!(!starts(&original_pe()));
}

#[test]
fn truncated_and_flipped_packed_pes_never_panic() {
    let packed = packed_pe(8);
    every_prefix(&packed, |_, prefix| {
        let out = runs_fast(prefix);
        assert!(out.problem.is_some() || out.files == [("unpacked.exe".into(), original_pe())]);
    });
    flips(&packed, a_bit_of(0..packed.len()), |bad| {
        runs_fast(bad);
    });
}

/// Puts the packheader's checksum (at 0x3ff, of the PE's packheader) right.
fn fix_checksum(packed: &mut [u8]) {
    packed[0x3ff] = (packed[0x3e4..0x3ff]
        .iter()
        .map(|&b| u32::from(b))
        .sum::<u32>()
        % 251) as u8;
}

#[test]
fn random_mutations_never_panic() {
    let edit = |rng: &mut XorShift, bad: &mut Vec<u8>, case: usize| {
        rng.overwrite(bad, 0, 4);
        if case.is_multiple_of(2) {
            // Keep the packheader's checksum right so the damage reaches the decoders.
            fix_checksum(bad);
        }
    };
    let mut case = 0;
    mutations(&[packed_pe(8)], GOLDEN, 3000, edit, |bad| {
        runs_fast(bad);
        let method = 2 + (case % 14) as u8;
        case += 1;
        let mut dst = Vec::new();
        let _ = decompress(
            method,
            &bad[0x400..],
            0x3000,
            &mut dst,
            &Unpacked::new(measure(1 << 20)),
        );
    });
}

fn with_u_len(mut packed: Vec<u8>, u_len: u32) -> Vec<u8> {
    set(&mut packed, 0x3f0, &u_len.to_le_bytes());
    fix_checksum(&mut packed);
    packed
}

#[test]
fn a_huge_claimed_size_stops_at_the_cap() {
    let out = unpack(&with_u_len(packed_pe(8), 0xfff0_0000), measure(4096));
    let problem = out.problem.expect("a problem");
    assert!(problem.why.contains("cap"), "{}", problem.why);
    assert!(out.files.iter().map(|f| f.1.len()).sum::<usize>() <= 4096);
}

#[test]
fn a_short_image_keeps_what_was_decoded() {
    let out = runs_fast(&with_u_len(packed_pe(8), 0x1800));
    assert!(out.problem.is_some());
    assert_eq!(out.files[0].0, "unpacked");
    assert_eq!(out.files[0].1.len(), 0x1800);
}

#[test]
fn a_passed_deadline_stops_with_a_problem() {
    let out = unpack(&packed_pe(8), expired());
    assert!(out.problem.expect("a problem").why.contains("time"));
}

#[test]
fn the_clamav_sample_unpacks_around_clam_exe() {
    let (Ok(packed), Ok(clam)) = (
        std::fs::read("/usr/share/clamav-testfiles/clam-upx.exe"),
        std::fs::read("/usr/share/clamav-testfiles/clam.exe"),
    ) else {
        return;
    };
    assert!(starts(&packed));
    let out = runs_fast(&packed);
    assert!(out.problem.is_none(), "{:?}", out.problem);
    let (name, file) = &out.files[0];
    assert_eq!(name, "unpacked.exe");
    // UPX 3.01, NRV2B LE32, filter 0x26: the original was 0x1a00 bytes (the packheader's
    // u_file_size), a program that carries clam.exe whole in its .clam section.
    assert_eq!(file.len(), 0x1a00);
    assert_eq!(&file[0x17e0..0x17e0 + clam.len()], &clam[..]);
    for s in [
        &b"KERNEL32.DLL"[..],
        b"CLAMessageBoxA",
        b"[CLAMAV]",
        b"MessageBoxA",
        b"<assembly",
    ] {
        assert!(file.windows(s.len()).any(|w| w == s));
    }
    assert_eq!(file[0x435..0x43a], [0xe8, 0x8a, 0, 0, 0]); // a CALL the filter restored
    assert_eq!(adler32(file), 0x9e4d_9a80);
}

// ---- an ELF packed as UPX packs one (built to the format, not by the tool) ----------

fn original_elf() -> Vec<u8> {
    let mut f = vec![0u8; 0x300];
    set(&mut f, 0, b"\x7fELF\x02\x01\x01");
    set(&mut f, 16, &[2, 0, 62, 0, 1, 0, 0, 0, 0x78, 0, 0x40]);
    set(&mut f, 32, &[64]);
    set(&mut f, 52, &[64, 0, 56, 0, 1]);
    set(&mut f, 64, &[1, 0, 0, 0, 5]);
    set(&mut f, 64 + 16, &[0, 0, 0x40]);
    set(&mut f, 64 + 32, &[0, 2]);
    set(&mut f, 64 + 40, &[0, 2]);
    let code = code();
    set(&mut f, 0x78, &code);
    set(
        &mut f,
        0x200,
        &b"not loaded: section headers and such. ".repeat(6),
    );
    f
}

fn packed_elf() -> Vec<u8> {
    let orig = original_elf();
    let mut f = orig[..120].to_vec();
    f.extend(b"\0\0\0\0UPX!\x40\0\x0d\x16"); // l_info: loader size 64, version, format
    let p_info = f.len() as u32;
    for v in [0u32, 0x300, 0x1000] {
        f.extend(v.to_le_bytes());
    }
    let mut first = orig[..0x200].to_vec();
    filter_cto(&mut first, 0x7f, 0, true);
    let packed = nrv_encode(&first, 8);
    for v in [0x200, packed.len() as u32, 0x007f_4908] {
        f.extend(v.to_le_bytes());
    }
    f.extend(&packed);
    f.extend([0xcc; 64]); // the loader
    for v in [0x100u32, 0x100, 0] {
        f.extend(v.to_le_bytes());
    }
    f.extend(&orig[0x200..]);
    f.extend(b"\0\0\0\0UPX!\0\0\0\0");
    let mut ph = b"UPX!\x0d\x16\x08\x08".to_vec();
    ph.extend([0; 20]);
    ph.extend([0x49, 0x7f, 0]);
    ph.push((ph[4..].iter().map(|&b| u32::from(b)).sum::<u32>() % 251) as u8);
    f.extend(ph);
    f.extend(p_info.to_le_bytes());
    f.extend([0; 100]);
    f
}

#[test]
fn a_packed_elf_unpacks_to_the_original() {
    let packed = packed_elf();
    assert!(starts(&packed));
    assert!(!starts(&original_elf()));
    let out = runs_fast(&packed);
    assert!(out.problem.is_none(), "{:?}", out.problem);
    assert!(out.files == [("unpacked".into(), original_elf())]);
    let mut huge = packed.clone();
    set(&mut huge, 136, &0xfff0_0000u32.to_le_bytes()); // p_info's file size
    let problem = unpack(&huge, measure(4096)).problem.expect("a problem");
    assert!(problem.why.contains("cap"), "{}", problem.why);
    let mut rng = XorShift(0x5eed);
    every_prefix(&packed, |_, prefix| {
        runs_fast(prefix);
        let mut bad = packed.clone();
        rng.overwrite(&mut bad, 0, 3);
        runs_fast(&bad);
    });
}

#[test]
fn the_clamav_autoit_samples_unpack_whole() {
    for (name, marker) in [
        ("clam.ea05.exe", b"AU3!EA05"),
        ("clam.ea06.exe", b"AU3!EA06"),
    ] {
        let Ok(packed) = std::fs::read(format!("/usr/share/clamav-testfiles/{name}")) else {
            continue;
        };
        let out = runs_fast(&packed);
        assert!(out.problem.is_none(), "{name}: {:?}", out.problem);
        let (member, file) = &out.files[0];
        assert_eq!(member, "unpacked.exe");
        // NRV2E, filter 0x26: imports by name and ordinal, icons, and the script overlay.
        assert!(file.ends_with(marker), "{name}");
        for s in [
            &b"QueryPerformanceCounter\0"[..],
            b"WSOCK32.dll\0",
            b"<?xml",
        ] {
            assert!(file.windows(s.len()).any(|w| w == s), "{name}");
        }
    }
}
