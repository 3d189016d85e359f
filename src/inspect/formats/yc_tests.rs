//! The yC decryptors against known answers from ClamAV's sample and a test-only encryptor;
//! hand-built yC files of each stub variant, damage, the cap and the deadline; ClamAV's
//! sample (UPX inside yC) through the UPX module when installed.

use super::*;
use std::time::{Duration, Instant};

fn measure(cap: u64) -> Measure {
    Measure {
        cap,
        deadline: Instant::now() + Duration::from_secs(30),
    }
}

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    let nibble = |d: u8| (d as char).to_digit(16).unwrap_or(0) as u8;
    digits
        .chunks(2)
        .map(|p| nibble(p[0]) << 4 | nibble(p[1]))
        .collect()
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn memmem(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Unpacks within two seconds, holding no more than the cap.
fn survives(bytes: &[u8]) -> Unpacked {
    let started = Instant::now();
    let out = unpack(bytes, measure(1 << 20));
    assert!(started.elapsed() < Duration::from_secs(2), "too slow");
    assert!(out.files.iter().map(|f| f.1.len()).sum::<usize>() <= 1 << 20);
    out
}

// ---- the decryptors ----------------------------------------------------------------------

/// The first decryptor of ClamAV's clam-yc.exe, and its second (once the first has run).
const SAMPLE_FIRST: &str = "2ac1c0c0f5c0c8ec fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8\
                            fec8fec8fec8fec8 9090f8f8";
const SAMPLE_SECOND: &str = "fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8fec8\
                             9090f8f8 3468 c0c069 eb01e9";

#[test]
fn the_samples_decryptors_give_the_known_bytes() {
    // The stub's code after the first layer is `mov edx, ebp; add edx, 0x402b13`.
    let ops = trace(&hex(SAMPLE_FIRST)).ok().expect("traced");
    assert_eq!(ops.len(), 21);
    let mut code = hex("395d32d2f9048e6d");
    run(&ops, &mut code, 0xb6b_u32 as u8);
    assert_eq!(code, hex("8bd581c2132b4000"));
    // UPX1 (0x600 bytes) decrypts to NRV data starting with UPX's first flag word.
    let ops = trace(&hex(SAMPLE_SECOND)).ok().expect("traced");
    assert_eq!(&ops[18..], &[Op::Xor(0x68), Op::Rol(0x69)]);
    let mut data = hex("c705c3a86f7a6e54");
    run(&ops, &mut data, 0);
    assert_eq!(data, hex("bb37b3fd6a006854"));
}

/// Every instruction yc.c knows, jumps forward and back, and junk jumped over.
const EVERY_OP: &str = "eb04 3455 eb04 0433 ebf8 2c07 02c1 2ac1 32c1 fec0 fec8 d2c0 d2c8 c0c013 c0c8fd \
                        90 f8 f9 eb01 cc";

#[test]
fn every_instruction_traces() {
    let mut window = hex(EVERY_OP);
    window.resize(POLY_LEN, 0x90);
    let ops = trace(&window).ok().expect("traced");
    let want = [
        Op::Add(0x33),
        Op::Xor(0x55),
        Op::Sub(7),
        Op::AddCl,
        Op::SubCl,
        Op::XorCl,
        Op::Add(1),
        Op::Sub(1),
        Op::RolCl,
        Op::RorCl,
        Op::Rol(0x13),
        Op::Ror(0xfd),
    ];
    assert_eq!(ops, want);
    // A hand-worked byte: 0x41 with CL = 3 through each in turn.
    let mut b = [0x41];
    run(&ops, &mut b, 3);
    let al = ((0x41u8 + 0x33) ^ 0x55) - 7; // 0x26
    let al = ((al + 3 - 3) ^ 3) + 1 - 1; // 0x25
    let al = al
        .rotate_left(3)
        .rotate_right(3)
        .rotate_left(3)
        .rotate_right(5);
    assert_eq!(b[0], al);
}

#[test]
fn bad_decryptors_are_refused() {
    let pad = |s: &str| {
        let mut w = hex(s);
        w.resize(POLY_LEN, 0x90);
        w
    };
    assert!(matches!(
        trace(&pad("0433 8b c0")),
        Err(Trace::Unknown(0x8b, 0xc0))
    ));
    assert!(matches!(
        trace(&pad("fed0")),
        Err(Trace::Unknown(0xfe, 0xd0))
    ));
    assert!(matches!(trace(&pad("ebfe")), Err(Trace::Broken(_))));
    assert!(matches!(trace(&pad("eb7f")), Err(Trace::Broken(_))));
    assert!(matches!(trace(&pad("eb80")), Err(Trace::Broken(_))));
    assert!(matches!(trace(&hex("0433 90")), Err(Trace::Broken(_))));
    let mut straddle = pad("");
    straddle[POLY_LEN - 2..].copy_from_slice(&[0xc0, 0xc0]);
    assert!(trace(&straddle).is_err());
}

// ---- a test-only encryptor and hand-built yC files ---------------------------------------

/// What undoes `ops`: each inverted, in reverse order, with the same CL per byte.
fn encrypt(ops: &[Op], data: &mut [u8], mut cl: u8) {
    for b in data {
        for op in ops.iter().rev() {
            *b = match *op {
                Op::Add(n) => b.wrapping_sub(n),
                Op::Sub(n) => b.wrapping_add(n),
                Op::Xor(n) => *b ^ n,
                Op::AddCl => b.wrapping_sub(cl),
                Op::SubCl => b.wrapping_add(cl),
                Op::XorCl => *b ^ cl,
                Op::Rol(n) => b.rotate_right(u32::from(n % 8)),
                Op::Ror(n) => b.rotate_left(u32::from(n % 8)),
                Op::RolCl => b.rotate_right(u32::from(cl % 8)),
                Op::RorCl => b.rotate_left(u32::from(cl % 8)),
            };
        }
        cl = cl.wrapping_sub(1);
    }
}

const ANCHOR: u32 = 0x40_2000;
const ECX: u32 = 0x9a0;
const YC_RAW: usize = 0x600;
const OPT: usize = 0x58;
const TEXT: &[u8] = b"A hand-built program's code: yC encrypts this section byte by byte.";

fn set(b: &mut [u8], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}

/// The entry code of stub variant 0, 1 or 2 (yC 1.3, its variant, 1.x/modified): its shift
/// from the section start, the place its second decryptor has, and the code.
fn entry(variant: usize) -> (isize, usize, Vec<u8>) {
    let (start, end) = (ANCHOR + 0x100, ANCHOR + 0x100 + ECX);
    let mut ep = vec![0x90; 0x80];
    let (shift, poly) = match variant {
        0 => {
            set(&mut ep, 0, &hex("558bec535657 60 e800000000 5d 81ed"));
            set(&mut ep, 0x13, &[0xb9]);
            set(&mut ep, 0x18, &[0x81, 0xe9]);
            set(&mut ep, 0x1e, &hex("8bd581c2"));
            set(&mut ep, 0x26, &hex("8d3a8bf733c0eb0490eb01c2ac"));
            for (at, v) in [
                (0xf, ANCHOR),
                (0x14, end),
                (0x1a, start),
                (0x22, ANCHOR + 0x5a),
            ] {
                set(&mut ep, at, &v.to_le_bytes());
            }
            (0, 0x457)
        }
        1 => {
            set(&mut ep, 0, &hex("558bec83ec40535657"));
            set(&mut ep, 0x17, &hex("e800000000 5d 81ed"));
            set(&mut ep, 0x23, &[0xb9]);
            set(&mut ep, 0x28, &[0x81, 0xe9]);
            for (at, v) in [
                (0x1f, ANCHOR),
                (0x24, end),
                (0x2a, start),
                (0x32, ANCHOR + 0x5a),
            ] {
                set(&mut ep, at, &v.to_le_bytes());
            }
            (0x10, 0x457)
        }
        _ => {
            set(&mut ep, 0, &hex("60 e800000000 5d 81ed"));
            set(&mut ep, 0xd, &[0xb9]);
            set(&mut ep, 0x12, &hex("8dbd"));
            set(&mut ep, 0x18, &hex("8bf7ac"));
            for (at, v) in [(0x9, ANCHOR), (0xe, ECX), (0x14, ANCHOR + 0x48)] {
                set(&mut ep, at, &v.to_le_bytes());
            }
            (-0x18, 0x3ea)
        }
    };
    (shift, poly, ep)
}

/// What the stub's code says: where the entry point is read from (else it is at yc.c's
/// fixed place), and where its import list is (else there is none to find).
#[derive(Clone, Copy)]
struct Says {
    oep: bool,
    imports: bool,
}

const ALL: Says = Says {
    oep: true,
    imports: true,
};

/// A PE32 with `.text` (encrypted), `.rsrc` (left plain, with the imports yC hid) and a
/// yC section whose stub is `variant`, with decryptors `first` and `second`, and entry point
/// 0x1234. Gives the file and what it should decrypt to.
fn yc_file(variant: usize, first: &str, second: &str, says: Says) -> (Vec<u8>, Vec<u8>) {
    let (shift, poly_at, ep) = entry(variant);
    let base = YC_RAW.checked_add_signed(shift).unwrap();
    let yc_len = base + 0xc6 + ECX as usize - YC_RAW;
    let mut f = vec![0; YC_RAW + yc_len];
    set(&mut f, 0, b"MZ");
    set(&mut f, 0x3c, &0x40u32.to_le_bytes());
    set(
        &mut f,
        0x40,
        &hex("50450000 4c01 0300 00000000 00000000 00000000 e000 0f01"),
    );
    let words = [
        (0, 0x10b),
        (0x10, 0x3060),
        (0x1c, 0x40_0000),
        (0x20, 0x1000),
    ];
    let words = words
        .into_iter()
        .chain([(0x24, 0x200), (0x38, 0x5000), (0x3c, 0x200)]);
    for (at, v) in words.chain([(0x5c, 16), (0x68, 0x3000), (0x6c, 0x28)]) {
        set(&mut f, OPT + at, &u32::to_le_bytes(v));
    }
    let rows = [
        (b".text\0\0\0", 0x1000, 0x1000, 0x200, 0x200),
        (b".rsrc\0\0\0", 0x1000, 0x2000, 0x200, 0x400),
        (
            b"yC\0\0\0\0\0\0",
            0x2000,
            0x3000,
            yc_len as u32,
            YC_RAW as u32,
        ),
    ];
    for (i, (name, vsize, rva, size, ptr)) in rows.into_iter().enumerate() {
        let row = OPT + 0xe0 + 40 * i;
        set(&mut f, row, name);
        for (at, v) in [(8, vsize), (12, rva), (16, size), (20, ptr)] {
            set(&mut f, row + at, &u32::to_le_bytes(v));
        }
    }
    set(&mut f, 0x200, TEXT);
    set(&mut f, 0x400, b"resources stay as they are");
    set(&mut f, YC_RAW + 0x60, &ep);
    imports(&mut f);
    let mut expected = f[..YC_RAW].to_vec();
    hide_imports(&mut f);
    if !says.imports {
        expected = f[..YC_RAW].to_vec();
    }
    set(&mut expected, 0x46, &2u16.to_le_bytes());
    set(&mut expected, OPT + 0x10, &0x1234u32.to_le_bytes());
    set(&mut expected, OPT + 0x38, &0x3000u32.to_le_bytes());
    let dir: [u32; 2] = if says.imports { [0x2100, 60] } else { [0, 0] };
    set(
        &mut expected,
        OPT + 0x68,
        &[dir[0].to_le_bytes(), dir[1].to_le_bytes()].concat(),
    );
    set(&mut expected, OPT + 0xe0 + 80, &[0; 40]);
    let popped = if variant == 2 { 0x7e } else { 0x6c };
    if says.imports {
        // `add edx, list; lea esi, [edx]; push ebx; mov ebx, ebp; add ebx, ...`
        set(
            &mut f,
            base + 0x220,
            &hex("81c2 80284000 8d32 53 8bdd 81c3"),
        );
        let list = [0x2150u32, 0x213c, 0, 0x2180, 0x2148, 0, 0, 0, 0];
        let list: Vec<u8> = list.iter().flat_map(|v| v.to_le_bytes()).collect();
        set(&mut f, base + 0x880 + popped, &list);
    }
    stub(
        &mut f,
        base,
        poly_at,
        first,
        second,
        says.oep.then_some(popped),
    );
    (f, expected)
}

/// An import area at 0x2100 (in `.rsrc`, which yC leaves plain), laid out as UPX does:
/// descriptors, IATs (an import by name and one by ordinal), DLL names, hints and names.
fn imports(f: &mut [u8]) {
    let words = [(0x2100, 0), (0x210c, 0x2150), (0x2110, 0x213c)];
    let words = words
        .into_iter()
        .chain([(0x2120, 0x2180), (0x2124, 0x2148)]);
    let words = words.chain([(0x213c, 0x2160), (0x2140, 0x8000_0010), (0x2148, 0x2172)]);
    for (rva, v) in words {
        set(f, rva - 0x1c00, &u32::to_le_bytes(v));
    }
    set(f, 0x550, b"KERNEL32.DLL\0");
    set(f, 0x562, b"ExitProcess\0");
    set(f, 0x574, b"MessageBoxA\0");
    set(f, 0x580, b"USER32.dll\0");
}

/// What yC does to them: the descriptors filled with junk, the names nibble-swapped.
fn hide_imports(f: &mut [u8]) {
    for d in (0x500..0x528).step_by(4) {
        set(f, d, &hex("b7446f79"));
    }
    for b in f[0x550..0x590].iter_mut() {
        *b = b.rotate_left(4);
    }
}

/// The stub's decryptors, its code (with the entry point) and the sections, encrypted.
/// `popped` (where the stub's `pop ebp` is, from `base`) when the code names the entry point.
fn stub(
    f: &mut [u8],
    base: usize,
    poly_at: usize,
    first: &str,
    second: &str,
    popped: Option<usize>,
) {
    let window = |s: &str| {
        let mut w = hex(s);
        w.resize(POLY_LEN, 0x90);
        w.extend([0xaa, 0xe2, 0xcc]);
        w
    };
    set(f, base + 0x93, &window(first));
    set(f, base + poly_at, &window(second));
    if let Some(popped) = popped {
        // `add edx, 0x402800; add ebx, [edx]; ror ebx, 7`: the label is 0x800 past the anchor.
        set(f, base + 0x200, &hex("81c2 00284000 031a c1cb07"));
        set(f, base + 0x800 + popped, &0x1234u32.to_le_bytes());
    } else {
        set(f, base + OEP_FIXED, &0x1234u32.to_le_bytes());
    }
    let second = trace(&window(second)).ok().unwrap();
    encrypt(&second, &mut f[0x200..0x400], 0);
    let first = trace(&window(first)).ok().unwrap();
    let code = base + 0xc6;
    encrypt(&first, &mut f[code..code + ECX as usize], ECX as u8);
}

// ---- unpacking hand-built files ----------------------------------------------------------

const FIRST: &str = "2ac1 c0c0f5 c0c8ec fec8 fec8 0411 9090 f8f8";
const SECOND: &str = "3468 c0c069 eb01e9 32c1 d2c8";

fn decrypted(out: &Unpacked) -> &[u8] {
    assert!(out.problem.is_none(), "{:?}", out.problem);
    assert_eq!(out.files.len(), 1);
    assert_eq!(out.files[0].0, "decrypted.exe");
    &out.files[0].1
}

#[test]
fn each_stub_variant_decrypts() {
    for variant in 0..3 {
        for (oep, imports) in [(true, true), (false, true), (true, false), (false, false)] {
            let says = Says { oep, imports };
            let (file, expected) = yc_file(variant, FIRST, SECOND, says);
            assert!(starts(&file), "variant {variant}");
            let out = unpack(&file, measure(1 << 20));
            assert_eq!(
                decrypted(&out),
                expected,
                "variant {variant}, {oep}, {imports}"
            );
            assert!(memmem(decrypted(&out), TEXT));
            assert!(!starts(decrypted(&out)));
        }
    }
}

#[test]
fn every_instruction_decrypts_in_a_file() {
    let (file, expected) = yc_file(0, EVERY_OP, EVERY_OP, ALL);
    assert_eq!(decrypted(&unpack(&file, measure(1 << 20))), expected);
}

#[test]
fn only_yc_files_start() {
    let (file, _) = yc_file(0, FIRST, SECOND, ALL);
    assert!(!starts(b"MZ"));
    assert!(!starts(&[]));
    let mut other = file.clone();
    set(&mut other, OPT + 0x10, &0x3000u32.to_le_bytes()); // entry point elsewhere
    assert!(!starts(&other));
    let mut other = file.clone();
    set(&mut other, YC_RAW + 0x60 + 0x63, &[0xaa, 0xe2, 0xcd]); // no `stosb; loop`
    assert!(!starts(&other));
    let mut other = file.clone();
    set(
        &mut other,
        YC_RAW + 0x60 + 0x22,
        &(ANCHOR + 0x5b).to_le_bytes(),
    ); // code elsewhere
    assert!(!starts(&other));
    let mut other = file.clone();
    set(&mut other, OPT, &0x20bu16.to_le_bytes()); // PE32+
    assert!(!starts(&other));
    assert!(!starts(&file[..file.len() - 1])); // the stub's code cut short
    let out = unpack(b"MZ not a PE", measure(1 << 20));
    assert!(out.files.is_empty() && out.problem.is_some());
}

#[test]
fn an_unknown_instruction_is_named() {
    let (mut file, _) = yc_file(0, FIRST, SECOND, ALL);
    set(&mut file, YC_RAW + FIRST_POLY, &hex("0433 8bc0"));
    let out = unpack(&file, measure(1 << 20));
    let problem = out.problem.expect("a problem");
    assert!(
        problem.unsupported && problem.why.contains("8b c0"),
        "{problem:?}"
    );
    assert!(out.files.is_empty());
}

#[test]
fn the_cap_and_the_deadline_stop_it() {
    let (file, _) = yc_file(1, FIRST, SECOND, ALL);
    let out = unpack(&file, measure(file.len() as u64 - 1));
    assert!(out.files.is_empty());
    assert!(out.problem.expect("a problem").why.contains("cap"));
    let late = Measure {
        cap: 1 << 20,
        deadline: Instant::now(),
    };
    let out = unpack(&file, late);
    assert!(out.files.is_empty());
    assert!(out.problem.expect("a problem").why.contains("time"));
}

#[test]
fn huge_claimed_sizes_stay_in_the_file() {
    let (mut file, _) = yc_file(
        2,
        FIRST,
        SECOND,
        Says {
            oep: false,
            imports: false,
        },
    );
    let text_size = OPT + 0xe0 + 16;
    set(&mut file, text_size, &u32::MAX.to_le_bytes());
    set(&mut file, text_size + 40 * 2, &u32::MAX.to_le_bytes());
    let out = survives(&file);
    assert!(out.files.iter().all(|f| f.1.len() <= file.len()));
}

// ---- damage ------------------------------------------------------------------------------

#[test]
fn every_prefix_is_survived() {
    let (file, _) = yc_file(0, FIRST, SECOND, ALL);
    for end in (0..file.len())
        .step_by(3)
        .chain(file.len() - 0x40..file.len())
    {
        survives(&file[..end]);
    }
}

#[test]
fn bit_flips_are_survived() {
    for variant in 0..3 {
        let (file, _) = yc_file(variant, FIRST, SECOND, ALL);
        let mut bytes = file.clone();
        let places = (0..0x200).chain(YC_RAW - 0x20..YC_RAW + 0x200);
        for i in places.chain((YC_RAW + 0x800..file.len()).step_by(7)) {
            let bit = 1 << (i % 8);
            bytes[i] ^= bit;
            survives(&bytes);
            bytes[i] ^= bit;
        }
    }
}

#[test]
fn random_mutations_are_survived() {
    let vectors: Vec<_> = (0..3)
        .map(|v| {
            yc_file(
                v,
                FIRST,
                SECOND,
                Says {
                    oep: v != 1,
                    imports: v != 2,
                },
            )
            .0
        })
        .collect();
    let (mut state, mut decoded) = (0x2545_F491_4F6C_DD1D_u64, 0);
    for case in 0..3000 {
        let mut bytes = vectors[case % 3].clone();
        for _ in 0..1 + xorshift(&mut state) % 4 {
            // Mostly the headers and the entry code, where the decisions are.
            let span = if case % 2 == 0 { 0x300 } else { bytes.len() };
            let at = match xorshift(&mut state) % 3 {
                0 => (xorshift(&mut state) as usize) % span.min(bytes.len()).max(1),
                1 => YC_RAW + (xorshift(&mut state) as usize) % 0x100,
                _ => (xorshift(&mut state) as usize) % bytes.len().max(1),
            };
            match xorshift(&mut state) % 8 {
                0..3 if at < bytes.len() => bytes[at] = xorshift(&mut state) as u8,
                3..6 if at < bytes.len() => bytes[at] ^= 1 << (xorshift(&mut state) % 8),
                6 if at + 4 <= bytes.len() => bytes[at..at + 4].fill(0xff),
                _ => bytes.truncate(at),
            }
        }
        decoded += survives(&bytes).files.len();
    }
    // Enough of them still decrypt to have gone through every step.
    assert!(decoded > 300, "{decoded}");
}

// ---- ClamAV's sample -------------------------------------------------------------------

#[test]
fn clamav_sample_decrypts_to_upx_holding_clam_exe() {
    let dir = "/usr/share/clamav-testfiles";
    let (Ok(sample), Ok(clam)) = (
        std::fs::read(format!("{dir}/clam-yc.exe")),
        std::fs::read(format!("{dir}/clam.exe")),
    ) else {
        return;
    };
    assert_eq!(clam.len(), 544);
    assert!(starts(&sample));
    let out = unpack(&sample, measure(1 << 24));
    let pe = decrypted(&out);
    assert_eq!(pe.len(), 0xc00, "the yC section's data cut off");
    assert_eq!(le16(pe, 0xc8 + 6), Some(3));
    assert_eq!(
        le32(pe, 0xc8 + 0x18 + 0x10),
        Some(0x6320),
        "UPX's entry point"
    );
    assert_eq!(le32(pe, 0xc8 + 0x18 + 0x38), Some(0x8000));
    let imports = le32(pe, 0xc8 + 0x18 + 0x68).zip(le32(pe, 0xc8 + 0x18 + 0x6c));
    assert_eq!(imports, Some((0x70b4, 60)), "UPX's import directory");
    assert!(memmem(pe, b"KERNEL32.DLL\0USER32.dll\0"));
    assert!(memmem(pe, b"LoadLibraryA\0"));
    assert!(super::super::upx::starts(pe));
    let unpacked = super::super::upx::unpack(pe, measure(1 << 24));
    assert!(unpacked.problem.is_none(), "{:?}", unpacked.problem);
    assert_eq!(unpacked.files.len(), 1);
    let (name, program) = &unpacked.files[0];
    assert_eq!((name.as_str(), program.len()), ("unpacked.exe", 6656));
    assert!(memmem(program, &clam));
}

#[test]
fn names_that_read_neither_way_leave_the_imports_alone() {
    let (mut file, _) = yc_file(0, FIRST, SECOND, ALL);
    file[0x562] = 0x7f; // in a swapped function name: no name either way
    let before = file[0x500..0x590].to_vec();
    let out = unpack(&file, measure(1 << 20));
    let pe = decrypted(&out);
    assert_eq!(&pe[0x500..0x590], &before[..]);
    assert_eq!(le32(pe, OPT + 0x68), Some(0));
}

#[test]
fn cl_runs_on_across_blocks() {
    let ops = [Op::XorCl, Op::AddCl, Op::Rol(3)];
    let count = 3 * CHECK_EVERY as u32 + 77;
    let mut whole: Vec<u8> = (0..count).map(|i| (i * 7) as u8).collect();
    let mut blocks = whole.clone();
    run(&ops, &mut whole, count as u8);
    let out = Unpacked::new(measure(1 << 20));
    assert!(decrypt(&ops, &mut blocks, 0, count, &out).is_ok());
    assert_eq!(whole, blocks);
}

#[test]
fn clamavs_other_samples_do_not_start() {
    let Ok(dir) = std::fs::read_dir("/usr/share/clamav-testfiles") else {
        return;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        let is_yc = path.file_name().is_some_and(|n| n == "clam-yc.exe");
        if let Ok(bytes) = std::fs::read(&path) {
            assert_eq!(starts(&bytes), is_yc, "{}", path.display());
        }
    }
}
