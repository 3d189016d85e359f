//! The AutoIt decoder against containers its test encoders build, the real samples' keys, damage and the cap.

use super::*;
use crate::inspect::formats::decoder_tests::{
    GOLDEN, XorShift, every_bit, every_prefix, expired, flips, hex, measure, mutations, within,
};
use std::time::Duration;

/// What the compressor writes: literal bytes, or a back-reference (distance, length).
enum Op<'a> {
    Lit(&'a [u8]),
    Back(u32, usize),
}

#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    word: u16,
    used: u32,
}

impl BitWriter {
    fn put(&mut self, v: u32, n: u32) {
        for i in (0..n).rev() {
            self.word = self.word << 1 | (v >> i & 1) as u16;
            self.used += 1;
            if self.used == 16 {
                self.out.extend_from_slice(&self.word.to_be_bytes());
                (self.word, self.used) = (0, 0);
            }
        }
    }
}

/// A test-only LZSS writer: the header, then the ops as the decoder reads them.
fn compress(s: &Scheme, ops: &[Op]) -> Vec<u8> {
    let mut w = BitWriter::default();
    let mut size = 0;
    for op in ops {
        match *op {
            Op::Lit(bytes) => {
                for &b in bytes {
                    w.put(1 - s.match_bit, 1);
                    w.put(u32::from(b), 8);
                }
                size += bytes.len();
            }
            Op::Back(distance, length) => {
                w.put(s.match_bit, 1);
                w.put(distance, 15);
                put_length(&mut w, length - 3);
                size += length;
            }
        }
    }
    w.put(0, 15);
    let mut out = [b"EA0", &[s.version][..], &(size as u32).to_be_bytes()].concat();
    out.extend(w.out);
    out
}

fn put_length(w: &mut BitWriter, mut v: usize) {
    for width in [2, 3, 5, 8] {
        let max = (1 << width) - 1;
        if v < max {
            return w.put(v as u32, width);
        }
        w.put(max as u32, width);
        v -= max;
    }
    while v >= 255 {
        w.put(255, 8);
        v -= 255;
    }
    w.put(v as u32, 8);
}

/// A string field: its length masked, then the text encrypted (the cipher is symmetric).
fn field(s: &Scheme, (mask, offset): (u32, u32), text: &str) -> Vec<u8> {
    let (count, raw) = match s.wide {
        true => {
            let units: Vec<u16> = text.encode_utf16().collect();
            (
                units.len(),
                units.iter().flat_map(|u| u.to_le_bytes()).collect(),
            )
        }
        false => (text.len(), text.as_bytes().to_vec()),
    };
    let mut out = (count as u32 ^ mask).to_le_bytes().to_vec();
    out.extend(s.cipher(count as u32 + offset).apply(&raw));
    out
}

/// A resource holding `entries` (tag, method, data as stored), with its end marker.
fn resource(s: &Scheme, entries: &[(&str, u8, Vec<u8>)]) -> Vec<u8> {
    let key = [7u8; 16];
    let mut out = [MAGIC, &[s.version], &key].concat();
    let seed = if s.wide { 0x2477 } else { 0x22af + 7 * 16 };
    for (tag, method, data) in entries {
        out.extend(s.entry.to_le_bytes());
        out.extend(field(s, s.tag, tag));
        out.extend(field(s, s.name, tag));
        out.push(*method);
        out.extend((data.len() as u32 ^ s.size).to_le_bytes());
        out.extend([0; 4 + 4 + 16]);
        out.extend(s.cipher(seed).apply(data));
    }
    out.extend([END, &[s.version]].concat());
    out
}

fn spelled(op: u8, text: &str) -> Vec<u8> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let n = units.len() as u32;
    let mut out = vec![op];
    out.extend(n.to_le_bytes());
    out.extend(units.iter().flat_map(|u| (u ^ n as u16).to_le_bytes()));
    out
}

fn tokens() -> Vec<u8> {
    let mut t = 2u32.to_le_bytes().to_vec();
    t.extend([&[0u8][..], &4u32.to_le_bytes()].concat()); // keyword 4: IF
    t.extend(spelled(0x33, "x"));
    t.push(0x41);
    t.extend([&[5u8][..], &(-1i32).to_le_bytes()].concat());
    t.extend([&[0u8][..], &5u32.to_le_bytes()].concat()); // THEN
    t.extend([&[1u8][..], &0u32.to_le_bytes()].concat()); // ABS
    t.push(0x47);
    t.extend(spelled(0x36, "say \"hi\""));
    t.extend([0x48, 0x7f]);
    t.extend(spelled(0x32, "CRLF"));
    t.extend([&[0x20u8][..], &1.5f64.to_le_bytes()].concat());
    t.extend([&[0x10u8][..], &5_000_000_000i64.to_le_bytes()].concat());
    t.extend(spelled(0x34, "_F"));
    t.push(0x7f);
    t
}

const SCRIPT_TEXT: &str = "IF $x = -1 THEN ABS ( \"say \"\"hi\"\"\" ) \n@CRLF 1.5 5000000000 _F\n";

fn ea06() -> Vec<u8> {
    let tokens = compress(&EA06, &[Op::Lit(&tokens())]);
    let exe = compress(&EA06, &[Op::Lit(b"MZ-ab"), Op::Back(2, 600), Op::Lit(b"!")]);
    resource(
        &EA06,
        &[(EA06_SCRIPT, 1, tokens), ("C:\\dir\\x.exe", 1, exe)],
    )
}

fn ea05() -> Vec<u8> {
    let script = compress(&EA05, &[Op::Lit(b"MsgBox(0, 'a', 'b')"), Op::Back(4, 5)]);
    let stored = b"plain stored bytes".to_vec();
    let exe = compress(&EA05, &[Op::Lit(b"xyz"), Op::Back(3, 40)]);
    let entries = [
        (">AUTOIT SCRIPT<", 1, script),
        ("a.txt", 0, stored),
        ("\\\\srv\\y.exe", 1, exe),
    ];
    resource(&EA05, &entries)
}

fn files(u: &Unpacked) -> Vec<(&str, &[u8])> {
    u.files
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect()
}

#[test]
fn the_samples_key_streams_decrypt_their_names_and_headers() {
    let tag = EA05
        .cipher(11 + 0xa25e)
        .apply(&hex("be74d119fe4f38f6abd450"));
    assert_eq!(tag, b"C:\\clam.exe");
    let key_sum = hex("37b841e41c7b9776422d2659b4fd464a")
        .iter()
        .map(|&b| u32::from(b))
        .sum::<u32>();
    let data = EA05
        .cipher(0x22af + key_sum)
        .apply(&hex("52f426e5257070de"));
    assert_eq!(data, b"EA05\0\0\x02\x20");
    let tag = EA06
        .cipher(11 + 0xb33f)
        .apply(&hex("b4d29ab86b8d945aa39f57ef31f4e3b2f076ffd8b195"));
    assert_eq!(utf16(&tag, 0), "C:\\clam.exe");
    let data = EA06.cipher(0x2477).apply(&hex("6dfbfa03b38b3c99"));
    assert_eq!(data, b"EA06\0\0\x02\x20");
}

#[test]
fn the_tables_have_their_lengths() {
    assert_eq!(FUNCTIONS.split(' ').count(), 406);
    assert!(FUNCTIONS.split(' ').all(|f| !f.is_empty()));
    assert_eq!(KEYWORDS.split(' ').count(), 45);
    assert_eq!(KEYWORDS.split(' ').nth(4), Some("IF"));
}

#[test]
fn an_ea06_resource_gives_its_script_as_text_and_its_files() {
    let bytes = ea06();
    assert!(starts(&bytes));
    let u = unpack(&bytes, measure(1 << 20));
    assert!(u.problem.is_none(), "{:?}", u.problem);
    let exe = [&b"MZ-ab"[..], &b"ab".repeat(300), b"!"].concat();
    assert_eq!(
        files(&u),
        [
            ("script.au3", SCRIPT_TEXT.as_bytes()),
            ("dir/x.exe", &exe[..])
        ]
    );
}

#[test]
fn an_ea05_resource_gives_its_script_and_stored_and_compressed_files() {
    let u = unpack(&ea05(), measure(1 << 20));
    assert!(u.problem.is_none(), "{:?}", u.problem);
    let exe = [&b"xyz"[..], &b"xyz".repeat(13), b"x"].concat();
    let expected: [(&str, &[u8]); 3] = [
        ("script.au3", b"MsgBox(0, 'a', 'b')'b')'"),
        ("a.txt", b"plain stored bytes"),
        ("srv/y.exe", &exe),
    ];
    assert_eq!(files(&u), expected);
}

#[test]
fn other_versions_and_bytes_do_not_start_a_resource() {
    let mut bytes = ea05();
    bytes[MAGIC.len()] = b'4';
    assert!(!starts(&bytes));
    assert!(!starts(&bytes[1..]));
    assert!(unpack(&bytes, measure(100)).problem.is_some());
}

#[test]
fn an_unknown_method_is_unsupported_and_the_rest_is_read() {
    let bytes = resource(&EA05, &[("a", 3, b"zz".to_vec()), ("b", 0, b"ok".to_vec())]);
    let u = unpack(&bytes, measure(100));
    assert_eq!(files(&u), [("b", &b"ok"[..])]);
    let problem = u.problem.expect("a problem");
    assert!(
        problem.unsupported && problem.why.contains("method 3"),
        "{problem:?}"
    );
}

#[test]
fn a_huge_claimed_size_stops_at_the_cap() {
    let mut stream = compress(&EA06, &[Op::Lit(&[b'a'; 300])]);
    stream[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    let bytes = resource(&EA06, &[("big", 1, stream), ("next", 0, b"n".to_vec())]);
    let u = unpack(&bytes, measure(100));
    assert_eq!(files(&u), [("big", &[b'a'; 100][..])]);
    let problem = u.problem.expect("a problem");
    assert_eq!(problem.member.as_deref(), Some("big"));
    assert!(problem.why.contains("cap"), "{problem:?}");
    let stored = resource(&EA05, &[("s", 0, vec![1; 500])]);
    assert!(
        unpack(&stored, measure(100))
            .problem
            .expect("a problem")
            .why
            .contains("cap")
    );
}

#[test]
fn damage_keeps_the_files_read_before_it() {
    let bytes = ea05();
    let u = unpack(&bytes[..bytes.len() - 12], measure(1 << 20));
    assert_eq!(u.files.len(), 2);
    assert_eq!(u.problem.expect("a problem").why, SHORT);
    let bad = compress(&EA06, &[Op::Lit(b"ab"), Op::Back(5, 3)]);
    let bytes = resource(&EA06, &[("ok", 0, b"ok".to_vec()), ("bad", 1, bad)]);
    let u = unpack(&bytes, measure(1 << 20));
    assert_eq!(files(&u), [("ok", &b"ok"[..]), ("bad", &b"ab"[..])]);
    let problem = u.problem.expect("a problem");
    assert_eq!(problem.member.as_deref(), Some("bad"));
    assert!(problem.why.contains("before the start"), "{problem:?}");
}

#[test]
fn a_passed_deadline_stops_reading() {
    let u = unpack(&ea06(), expired());
    assert!(u.files.is_empty());
    assert!(u.problem.expect("a problem").why.contains("time"));
}

#[test]
fn every_prefix_reads_without_panic_and_says_it_is_cut() {
    for bytes in [ea05(), ea06()] {
        every_prefix(&bytes[..bytes.len() - 1], |len, prefix| {
            let u = unpack(prefix, measure(1 << 20));
            assert!(u.problem.is_some(), "prefix {len}");
        });
    }
}

#[test]
fn bit_flips_and_mutations_never_panic_and_finish_fast() {
    let vectors = [ea05(), ea06()];
    let check = |bytes: &[u8]| {
        unpack(bytes, measure(1 << 16));
    };
    let edit = |rng: &mut XorShift, bytes: &mut Vec<u8>, _| {
        rng.overwrite(bytes, MAGIC.len() + 1, 8);
        let cut = rng.below(16);
        bytes.truncate(bytes.len() - cut);
    };
    within(Duration::from_secs(30), || {
        for bytes in &vectors {
            flips(bytes, every_bit(bytes.len()), check);
        }
        mutations(&vectors, GOLDEN, 3000, edit, check);
    });
}

#[test]
fn the_real_samples_hold_clam_exe() {
    let dir = "/usr/share/clamav-testfiles";
    let Ok(clam) = std::fs::read(format!("{dir}/clam.exe")) else {
        return;
    };
    for (sample, marker) in [
        ("clam.ea05.exe", "AUT2EXE VERSION"),
        ("clam.ea06.exe", "FILEGETSIZE"),
    ] {
        let Ok(exe) = std::fs::read(format!("{dir}/{sample}")) else {
            return;
        };
        let at = exe
            .windows(MAGIC.len())
            .position(|w| w == MAGIC)
            .expect("the magic");
        let u = unpack(&exe[at..], measure(1 << 24));
        assert!(u.problem.is_none(), "{sample}: {:?}", u.problem);
        assert!(
            u.files.iter().any(|(n, b)| n == "clam.exe" && *b == clam),
            "{sample}"
        );
        let script = &u.files[0];
        assert_eq!(script.0, "script.au3");
        let text = String::from_utf8_lossy(&script.1);
        let wide: String = script
            .1
            .iter()
            .filter(|&&b| b != 0)
            .map(|&b| char::from(b))
            .collect();
        assert!(text.contains(marker) || wide.contains(marker), "{sample}");
    }
}

#[test]
fn eicar_installed_by_a_script_is_found_by_the_walk() {
    use crate::inspect::tests::{EICAR, labels, limits, look};
    for scheme in [&EA05, &EA06] {
        let resource = resource(scheme, &[("C:\\eicar.com", 0, EICAR.to_vec())]);
        let exe = [b"MZ".as_slice(), &[0; 100], &resource].concat();
        let found = look(&exe, "setup.exe", &limits());
        assert_eq!(
            labels(&found),
            ["setup.exe>@102.au3>eicar.com:EICAR_Test_File"],
            "{found:?}"
        );
    }
}
