use super::*;
use std::time::{Duration, Instant};

fn measure(cap: u64) -> Measure {
    Measure {
        cap,
        deadline: Instant::now() + Duration::from_secs(60),
    }
}

fn memmem(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_real_sample_gives_clam_exe() {
    let dir = "/usr/share/clamav-testfiles/";
    let (Ok(packed), Ok(clam)) = (
        std::fs::read(format!("{dir}clam-pespin.exe")),
        std::fs::read(format!("{dir}clam.exe")),
    ) else {
        return;
    };
    assert!(starts(&packed));
    let out = unpack(&packed, measure(1 << 26));
    assert!(out.problem.is_none(), "{:?}", out.problem);
    let (name, pe) = &out.files[0];
    assert_eq!(name, "unpacked.exe");
    std::fs::write("/tmp/spin-unpacked.exe", pe).ok();
    assert!(memmem(pe, &clam), "clam.exe not found whole");
}

/// A test-only aPLib encoder (greedy) that uses every code the decoder reads.
#[derive(Default)]
struct Enc {
    out: Vec<u8>,
    tag_at: usize,
    left: u8,
}

impl Enc {
    fn bit(&mut self, b: bool) {
        if self.left == 0 {
            self.tag_at = self.out.len();
            self.out.push(0);
            self.left = 8;
        }
        self.left -= 1;
        if b {
            self.out[self.tag_at] |= 1 << self.left;
        }
    }
    fn bits(&mut self, bits: &[u8]) {
        bits.iter().for_each(|&b| self.bit(b != 0));
    }
    fn gamma(&mut self, v: u32) {
        assert!(v >= 2);
        let n = 32 - v.leading_zeros();
        for i in (0..n - 1).rev() {
            self.bit(v >> i & 1 != 0);
            self.bit(i != 0);
        }
    }
}

fn compress(data: &[u8]) -> Vec<u8> {
    let mut e = Enc {
        out: vec![data[0]],
        ..Enc::default()
    };
    let (mut i, mut after_literal, mut last) = (1usize, true, 0usize);
    while i < data.len() {
        let (mut len, mut off) = (0usize, 0usize);
        for back in 1..=i.min(0x7cff) {
            let l = (0..data.len() - i)
                .take_while(|&k| data[i + k] == data[i + k - back])
                .count();
            if l > len {
                (len, off) = (l, back);
            }
        }
        let bonus = aplib::long_bonus(off as u32) as usize;
        if after_literal && len >= 2 && off == last {
            e.bits(&[1, 0]);
            e.gamma(2);
            e.gamma(len as u32);
        } else if (2..=3).contains(&len) && off < 0x80 {
            e.bits(&[1, 1, 0]);
            e.out.push((off << 1 | (len - 2)) as u8);
        } else if len >= bonus + 2 {
            e.bits(&[1, 0]);
            e.gamma((off >> 8) as u32 + 2 + u32::from(after_literal));
            e.out.push(off as u8);
            e.gamma((len - bonus) as u32);
        } else {
            let near = (1..16.min(i + 1)).find(|&b| data[i - b] == data[i]);
            match (data[i], near) {
                (0, _) => e.bits(&[1, 1, 1, 0, 0, 0, 0]),
                (_, Some(b)) => {
                    e.bits(&[1, 1, 1]);
                    (0..4).rev().for_each(|k| e.bit(b >> k & 1 != 0));
                }
                (byte, None) => {
                    e.bit(false);
                    e.out.push(byte);
                }
            }
            i += 1;
            after_literal = true;
            continue;
        }
        (i, after_literal, last) = (i + len, false, off);
    }
    e.bits(&[1, 1, 0]);
    e.out.push(0);
    e.out
}

fn sample_text(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    let mut x = 1u32;
    while v.len() < n {
        v.extend_from_slice(b"PESpin test text: hello, hello, hello!\0\0\0\0\0\0");
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        v.extend((0..(x >> 24) % 40).map(|k| (x >> (k % 24)) as u8));
    }
    v.truncate(n);
    v
}

fn run_aplib(src: &[u8], limit: usize) -> Result<Vec<u8>, aplib::Stop> {
    aplib::decompress(src, limit, &Unpacked::new(measure(1 << 20)))
}

#[test]
fn aplib_round_trips_every_code() {
    let mut data = sample_text(3000);
    data.extend_from_within(..400); // a far match (offset >= 0x500)
    data.extend_from_slice(&[7, 7, 7, 7, 7, 0, 3, 0, 9, 3]);
    let packed = compress(&data);
    assert!(packed.len() < data.len());
    assert_eq!(run_aplib(&packed, 0x2000).unwrap(), data);
    // An output larger than the limit is damage.
    assert_eq!(
        run_aplib(&packed, data.len() - 1),
        Err(aplib::Stop::Damaged)
    );
    for n in 0..packed.len() {
        assert!(run_aplib(&packed[..n], 0x2000).is_err(), "prefix {n}");
    }
}

#[test]
fn aplib_a_hand_made_stream() {
    // 'a', literal 'b', short match (off 2, len 3), end.
    let stream = [b'a', 0b0110_1100, b'b', 2 << 1 | 1, 0];
    assert_eq!(run_aplib(&stream, 100).unwrap(), b"ababa");
}

#[test]
fn poly_reads_every_instruction() {
    let mut code = vec![
        0x02, 0xc1, 0x2a, 0xc1, 0x32, 0xc1, 0x04, 5, 0x2c, 3, 0x34, 0x81, 0xfe, 0xc0, 0xfe, 0xc8,
        0xc0, 0xc0, 3, 0xc0, 0xc8, 1, 0xeb, 1, 0x77, 0x0a, 0xc0, 0x90, 0xf8, 0xf9,
    ];
    code.resize(0x24, 0x90);
    code.push(0xaa);
    let c = poly::Code::parse(&code).unwrap();
    let mut data = [0x10u8, 0x20];
    c.run(&mut data);
    let f = |al: u8, cl: u8| {
        let al = ((al.wrapping_add(cl).wrapping_sub(cl) ^ cl) + 5 - 3) ^ 0x81;
        al.rotate_left(3).rotate_right(1)
    };
    assert_eq!(data, [f(0x10, 2), f(0x20, 1)]);
    code[0x24] = 0xab;
    assert!(poly::Code::parse(&code).is_none());
    code[0x24] = 0xaa;
    code[0x23] = 0x04; // an operand past the end
    assert!(poly::Code::parse(&code).is_none());
    assert!(poly::Code::parse(&[0x0f; 0x25]).is_none());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// A poly code of XORs only (its own inverse), with junk.
fn xor_code() -> Vec<u8> {
    let mut c = vec![0x32, 0xc1, 0xeb, 0x01, 0x99, 0x34, 0x5a, 0xf8, 0x0a, 0xc0];
    c.resize(0x24, 0x90);
    c.push(0xaa);
    c
}

const E: usize = 0x10; // the entry point's offset in the stub section
const RES_HEAD: usize = 0x40;

/// A hand-built PESpin 1.1 file: section 0 compressed, poly-coded and XORed; section 1
/// resources compressed from RES_HEAD on; section 2 the stub. Returns it and sections 0, 1.
fn build() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let code = sample_text(0xc00);
    let res = sample_text(0x900);
    let mut c0 = compress(&code);
    c0.resize(c0.len().div_ceil(0x200) * 0x200, 0);
    let mut c1 = res[..RES_HEAD].to_vec();
    c1.extend(compress(&res[RES_HEAD..]));
    c1.resize(c1.len().div_ceil(0x200) * 0x200, 0);
    let (raw0, raw1) = (0x400, 0x400 + c0.len());
    let raw2 = raw1 + c1.len();
    let mut f = vec![0u8; raw2 + 0x3400];
    f[..2].copy_from_slice(b"MZ");
    put32(&mut f, 0x3c, 0x80);
    f[0x80..0x84].copy_from_slice(b"PE\0\0");
    f[0x86] = 3;
    f[0x94] = 0xe0;
    f[0x98..0x9a].copy_from_slice(&0x10bu16.to_le_bytes());
    put32(&mut f, 0x98 + 16, 0x3000 + E as u32);
    put32(&mut f, 0x98 + 32, 0x1000);
    put32(&mut f, 0x98 + 36, 0x200);
    let rows = [
        (0x1000, 0x1000, c0.len(), raw0),
        (0x1000, 0x2000, c1.len(), raw1),
        (0x3300, 0x3000, 0x3400, raw2),
    ];
    for (i, &(vsz, rva, rsz, raw)) in rows.iter().enumerate() {
        let row = 0x178 + 40 * i;
        for (k, v) in [vsz, rva, rsz as u32, raw as u32].into_iter().enumerate() {
            put32(&mut f, row + 8 + 4 * k, v);
        }
    }
    let key = 0x1234_5678u32;
    let poly = poly::Code::parse(&xor_code()).unwrap();
    poly.run(&mut c0);
    c0.iter_mut().for_each(shift_xor(key, 0xed43_af31, false));
    f[raw0..raw1].copy_from_slice(&c0);
    f[raw1..raw2].copy_from_slice(&c1);
    let sum = checksum(&f[..0x200], &Unpacked::new(measure(1)))
        .ok()
        .unwrap();
    let skip = f.len() - 0x200;
    let stub = &mut f[raw2..];
    fill_stub(stub, key.wrapping_add(sum), skip as u32);
    (f, code, res)
}

/// Writes the stub's fields in the clear, then encrypts its layers (last opened, first done).
fn fill_stub(s: &mut [u8], crc: u32, skip: u32) {
    s[E + 4..E + 14].copy_from_slice(&EP_CODE);
    s[E + at::MOV_BL] = 0xbb;
    s[E + at::MOV_BL + 1] = 0x3c;
    s[E + at::MOV_ECX] = 0xb9;
    put32(s, E + at::MOV_ECX + 1, at::LAYER1_LEN);
    put32(s, E + at::KEY2, 0xdead_beef);
    put32(s, E + at::KEY2 + 5, at::LAYER2_LEN);
    put32(s, E + at::CRC_SKIP, skip);
    put32(s, E + at::CRC, crc);
    put32(s, E + at::XOR_MAP, 1);
    put32(s, E + at::LAYER3_LEN, at::LAYER3_SIZE);
    put32(s, E + at::LAYER3_LEN + 0x0c, 0x0bad_f00d);
    put32(s, E + at::POLY1_LEN, at::POLY1_SIZE);
    s[E + at::POLY1_LEN + 0x0f..][..0x25].copy_from_slice(&xor_code());
    put32(s, E + at::POLY_MAP, 1);
    s[E + at::POLY_CODE..][..0x25].copy_from_slice(&xor_code());
    put32(s, E + at::PACK_MAP, 1);
    put32(s, E + at::RESOURCES, 0x2000 + RES_HEAD as u32);
    let poly = poly::Code::parse(&xor_code()).unwrap();
    poly.run(&mut s[E + at::POLY1..][..idx(at::POLY1_SIZE)]);
    let l3 = &mut s[E + at::LAYER3..][..idx(at::LAYER3_SIZE)];
    l3.iter_mut()
        .for_each(shift_xor(0x0bad_f00d, 0xed43_af32, true));
    let l2 = &mut s[E + at::LAYER2..][..idx(at::LAYER2_LEN)];
    l2.iter_mut()
        .for_each(shift_xor(0xdead_beef, 0x8c32_8834, true));
    let mut key8 = 0x3cu8;
    for b in s[E + at::LAYER1..][..idx(at::LAYER1_LEN)].iter_mut().rev() {
        *b ^= key8;
        key8 = key8.wrapping_sub(1);
    }
}

#[test]
fn a_built_file_unpacks_every_layer() {
    let (f, code, res) = build();
    assert!(starts(&f));
    let out = unpack(&f, measure(1 << 20));
    assert!(out.problem.is_none(), "{:?}", out.problem);
    let pe = &out.files[0].1;
    assert_eq!(&pe[..2], b"MZ");
    let mut want0 = code.clone();
    want0.resize(0x1000, 0);
    let mut want1 = res.clone();
    want1.resize(0x1000, 0);
    // Headers take 0x200 bytes; each section follows at its unpacked size.
    let bad = (0..0x1000).find(|&i| pe[0x200 + i] != want0[i]);
    assert_eq!(
        bad,
        None,
        "{:02x?} {:02x?}",
        &pe[0x200..0x220],
        &want0[..0x20]
    );
    assert_eq!(&pe[0x1200..0x2200], &want1[..]);
}

#[test]
fn other_files_are_not_taken() {
    let (mut f, _, _) = build();
    assert!(!starts(b"MZ"));
    assert!(!starts(&f[..0x1000]));
    let ep = f.len() - 0x3400 + E + 4;
    f[ep] = 0xe9;
    assert!(!starts(&f));
    assert!(unpack(&f, measure(1 << 20)).problem.is_some());
}

#[test]
fn a_wrong_checksum_is_noted_not_panicked() {
    let (mut f, _, _) = build();
    f[0x100] ^= 1; // inside the checksummed headers: the sections' key goes wrong
    let out = unpack(&f, measure(1 << 20));
    assert!(out.problem.is_some() || out.files.len() == 1);
}

#[test]
fn a_huge_section_stops_at_the_cap() {
    let (mut f, _, _) = build();
    put32(&mut f, 0x178 + 8, 0x7fff_0000);
    let out = unpack(&f, measure(1 << 20));
    assert!(out.files.is_empty());
    assert!(out.problem.unwrap().why.contains("cap"));
}

#[test]
fn prefixes_and_flips_never_panic() {
    let (f, _, _) = build();
    let start = Instant::now();
    for n in (0..f.len()).step_by(7) {
        unpack(&f[..n], measure(1 << 20));
    }
    for at in (0..f.len()).step_by(13) {
        let mut g = f.clone();
        g[at] ^= 1 << (at % 8);
        unpack(&g, measure(1 << 20));
    }
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn seeded_mutations_never_panic() {
    let (f, _, _) = build();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..3000 {
        let mut g = f.clone();
        for _ in 0..1 + next() % 8 {
            let at = (next() % g.len() as u64) as usize;
            g[at] = next() as u8;
        }
        unpack(&g, measure(1 << 20));
    }
}
