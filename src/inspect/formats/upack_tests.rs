//! The Upack unpacker against the ClamAV sample (when installed), its prefixes and mutations, and the cap.

use super::*;
use std::time::{Duration, Instant};

fn measure() -> Measure {
    Measure {
        cap: 64 << 20,
        deadline: Instant::now() + Duration::from_secs(20),
    }
}

#[test]
fn real_sample() {
    let Ok(bytes) = std::fs::read("/usr/share/clamav-testfiles/clam-upack.exe") else {
        return;
    };
    let Ok(clam) = std::fs::read("/usr/share/clamav-testfiles/clam.exe") else {
        return;
    };
    assert!(starts(&bytes));
    let out = unpack(&bytes, measure());
    assert_eq!(out.problem, None);
    let (name, data) = &out.files[0];
    assert_eq!(name, NAME);
    assert!(data.starts_with(b"MZ"));
    // The test program carries clam.exe deflated in a ZIP member, not whole.
    let at = data
        .windows(4)
        .position(|w| w == b"PK\x03\x04")
        .expect("no ZIP header");
    let h = &data[at..];
    let (csize, nlen, elen) = (
        rd32(h, 18).unwrap(),
        rd16(h, 26).unwrap(),
        rd16(h, 28).unwrap(),
    );
    assert_eq!(&h[30..30 + nlen as usize], b"clam.exe");
    let start = 30 + nlen as usize + elen as usize;
    let mut inflated = Vec::new();
    let mut z = flate2::read::DeflateDecoder::new(&h[start..start + csize as usize]);
    std::io::Read::read_to_end(&mut z, &mut inflated).unwrap();
    assert_eq!(inflated, clam);
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

#[test]
fn damaged_samples_do_not_panic() {
    let Ok(bytes) = std::fs::read("/usr/share/clamav-testfiles/clam-upack.exe") else {
        return;
    };
    for n in (0..bytes.len()).step_by(7) {
        let _ = unpack(&bytes[..n], measure());
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..3000 {
        let mut b = bytes.clone();
        for _ in 0..1 + xorshift(&mut seed) % 8 {
            let i = (xorshift(&mut seed) % b.len() as u64) as usize;
            b[i] ^= 1 << (xorshift(&mut seed) % 8);
        }
        let t = Instant::now();
        let _ = unpack(&b, measure());
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}

#[test]
fn cap_is_kept() {
    let Ok(bytes) = std::fs::read("/usr/share/clamav-testfiles/clam-upack.exe") else {
        return;
    };
    let small = Measure {
        cap: 4096,
        deadline: Instant::now() + Duration::from_secs(5),
    };
    let out = unpack(&bytes, small);
    assert!(out.files.is_empty() && out.problem.is_some());
    // A section claiming a huge virtual size stops at the cap.
    let mut b = bytes.clone();
    b[0x178..0x17c].copy_from_slice(&0x7fff_f000u32.to_le_bytes());
    let out = unpack(&b, measure());
    assert!(out.files.is_empty() && out.problem.is_some());
}

#[test]
fn other_bytes_are_not_upack() {
    assert!(!starts(b""));
    assert!(!starts(b"MZ\x90\x00"));
    assert!(!starts(&[0u8; 4096]));
    let out = unpack(b"MZ", measure());
    assert!(out.files.is_empty() && out.problem.is_some());
}
