//! The LHA decoder against archives jLHA made in every method and header level, damage and
//! the cap; clam.exe packed by jlha when it is installed.

use super::*;
use crate::inspect::formats::decoder_tests::{
    GOLDEN, SEED, XorShift, every_bit, every_prefix, expired, flips, hex, measure, mutations,
    within,
};
use std::time::Duration;

// Archives made with jLHA (`jlha a<level>o<method>`, and its library for the methods its
// command line lacks) holding docs/hello.txt (HELLO below), unless said otherwise.
/// -lh0-, level 0 (a DOS path with `\`).
const T00: &str = "24bc2d6c68302d5100000051000000a436865d20000e646f63735c68656c\
    6c6f2e747874af7b48656c6c6f2c204c4841212048656c6c6f2c204c4841\
    212048656c6c6f2c204c4841210a54686520717569636b2062726f776e20\
    666f78206a756d7073206f76657220746865206c617a7920646f672e0a00";
use crate::inspect::formats::samples::LHA_LH5 as T51;
/// -lh6-, level 2.
const T62: &str = "33002d6c68362d41000000510000005406156b2002af7b0005000030320c\
    000168656c6c6f2e747874080002646f6373ff000000394c729198ac7ba0\
    1eb1ee59e876022248781e714a0d38b278c0004c1154b84f099a3f36517a\
    0da585790aa27ad05a7b18cb3d77079488e3ef2d3ef82c373d8000";
/// -lh7-, level 0.
const T70: &str = "24b32d6c68372d4100000051000000a436865d20000e646f63735c68656c\
    6c6f2e747874af7b00394c729198ac7ba01eb1ee59e876022248781e714a\
    0d38b278c0004c1154b84f099a3f36517a0da585790aa27ad05a7b18cb3d\
    77079488e3ef2d3ef82c373d8000";
/// -lh5-, level 3 (32-bit extended header sizes).
const G3: &str = "04002d6c68352d410000005100000000f153652003af7b4a3f0000000700\
    000000cbbd0e0000000168656c6c6f2e7478740a00000002646f6373ff00\
    00000000394c729198ac7ba01eb1ee59e876022248781e714a0d38b27980\
    009822a9709e13347e6ca2f41b4b0af21544f5a0b4f631967aee0f2911c7\
    de5a7df0586e7b0000";
/// -lh4-, level 1.
const GLH4: &str = "22662d6c68342d4e00000051000000aab16e5720010968656c6c6f2e7478\
    74af7b4a0500003343080002646f6373ff000000394c729198ac7ba01eb1\
    ee59e876022248781e714a0d38b27980009822a9709e13347e6ca2f41b4b\
    0af21544f5a0b4f631967aee0f2911c7de5a7df0586e7b0000";
/// -lh1-, level 1.
const GLH1: &str = "225f2d6c68312d4a00000051000000aab16e5720010968656c6c6f2e7478\
    74af7b4a0500004523080002646f6373ff0000ea7c7f187fbdc6b3b18bcd\
    d6e05002f2de0fa625bfe80fd7dff7b9eeff6101fea9f95404a7ed6bf9fe\
    7fe9ac0542c2900a607a67b418163f087e7babb000";
/// -lzs-, level 1.
const GLZS: &str = "22ba2d6c7a732d5100000051000000aab16e5720010968656c6c6f2e7478\
    74af7b4a050000cabf080002646f6373ff0000a4596d96cb7cb2414ca450\
    643207eff000485552d165905c6eb69b1dae4162b95beef6e9059adf7890\
    5aaeb6db85ce416fbb596e520ba00a0db2c37abcc82c96fb3cba1400";
/// -lz5-, level 1.
const GLZ5: &str = "227d2d6c7a352d5200000051000000aab16e5720010968656c6c6f2e7478\
    74af7b4a0500001183080002646f6373ff0000ff48656c6c6f2c204ccf48\
    412120eeff00020a54ff686520717569636bff2062726f776e2066ff6f78\
    206a756d70737f206f76657220741300ff6c617a7920646f67032e0a00";
/// `jlha a` of the directory: a -lhd- entry for docs/, then -lh5- level 2.
const DIR: &str = "2a002d6c68642d00000000000000005406156b2002000000050000735f03\
    0001080002646f6373ff000033002d6c68352d4100000051000000540615\
    6b2002af7b0005000080870c000168656c6c6f2e747874080002646f6373\
    ff000000394c729198ac7ba01eb1ee59e876022248781e714a0d38b27980\
    009822a9709e13347e6ca2f41b4b0af21544f5a0b4f631967aee0f2911c7\
    de5a7df0586e7b0000";
/// far7.txt, -lh7- level 2: far(40000), its last line a match 40056 bytes back.
const FAR7: &str = "2a002d6c68372d7a000000b09c0000f807156b2002020d000500004ee60b\
    0001666172372e747874000000d5568cc06c8ffb9ec01fba6bcaa03019d2\
    1003f220638b081c6cacf62400100000000b36db63adfbb4f08d174bcf38\
    d72f51befe5d3b44bc5b7477fb771cff3dc6a96ca229aabb3061c58f2659\
    a70000000000000000000000000000000000000000000000000000000000\
    00000000000000000000fefd9c7700";
/// far6.txt, -lh6- level 1: far(20000).
const FAR6: &str = "21982d6c68362d6c000000904e00000438865d200108666172362e747874\
    c9d700050000e0f200000087568cc06c8ffb9ec01fba6bcaa03019d21003\
    f220638b01d808cb3f604001000000059b6db1d6fdda78468ba5e79c6b97\
    a8df7f2e9da25e2dba3bfdbb8e7f9ee354b65114d55d9830e2c7932cd380\
    00000000000000000000000000000000000007e7fce57000";

const HELLO: &[u8] =
    b"Hello, LHA! Hello, LHA! Hello, LHA!\nThe quick brown fox jumps over the lazy dog.\n";
const LINE: &[u8] = b"The quick brown fox jumps over the lazy dog. 0123456789\n";

fn far(dashes: usize) -> Vec<u8> {
    [LINE, &vec![b'-'; dashes], LINE].concat()
}

fn all() -> Vec<(&'static str, Vec<u8>)> {
    [
        ("T00", T00),
        ("T51", T51),
        ("T62", T62),
        ("T70", T70),
        ("G3", G3),
        ("GLH4", GLH4),
        ("GLH1", GLH1),
        ("GLZS", GLZS),
        ("GLZ5", GLZ5),
        ("DIR", DIR),
        ("FAR7", FAR7),
        ("FAR6", FAR6),
    ]
    .into_iter()
    .map(|(name, text)| (name, hex(text)))
    .collect()
}

/// Rewrites the method id of the first header and puts its checksum and CRC right.
fn with_method(archive: &[u8], method: &[u8; 5]) -> Vec<u8> {
    let mut bytes = archive.to_vec();
    bytes[2..7].copy_from_slice(method);
    refit(&mut bytes);
    bytes
}

/// Recomputes the first header's checksum (levels 0, 1) and header CRC (if it has one).
fn refit(bytes: &mut [u8]) {
    let level = bytes[20];
    if level < 2 {
        let len = usize::from(bytes[0]);
        bytes[1] = bytes[2..2 + len]
            .iter()
            .fold(0u8, |s, b| s.wrapping_add(*b));
    }
    let mut ext = Extended::default();
    let end = match level {
        0 => return,
        1 => extended(bytes, usize::from(bytes[0]), 2, &mut ext).unwrap(),
        2 => usize::from(le16(bytes, 0).unwrap()),
        _ => le32(bytes, 24).unwrap() as usize,
    };
    if level >= 2 {
        let (at, field) = if level == 2 { (24, 2) } else { (28, 4) };
        extended(&bytes[..end], at, field, &mut ext).unwrap();
    }
    if let Some((at, _)) = ext.header_crc {
        bytes[at..at + 2].fill(0);
        let crc = crc16(&bytes[..end]).to_le_bytes();
        bytes[at..at + 2].copy_from_slice(&crc);
    }
}

#[test]
fn every_vector_decodes_to_its_file() {
    let hello = ("docs/hello.txt", HELLO.to_vec());
    for (label, archive) in all() {
        assert!(starts(&archive), "{label}");
        let out = unpack(&archive, measure(1 << 20));
        assert_eq!(out.problem, None, "{label}");
        let expected = match label {
            "FAR7" => ("far7.txt", far(40000)),
            "FAR6" => ("far6.txt", far(20000)),
            _ => hello.clone(),
        };
        assert_eq!(
            out.files,
            vec![(expected.0.to_string(), expected.1)],
            "{label}"
        );
    }
}

#[test]
fn a_match_past_the_window_is_damage() {
    // far7's match reaches 40056 bytes back: past -lh6-'s 32 KiB.
    let archive = with_method(&hex(FAR7), b"-lh6-");
    let out = unpack(&archive, measure(1 << 20));
    let problem = out.problem.expect("a problem");
    assert_eq!(problem.member.as_deref(), Some("far7.txt"));
    assert!(problem.why.contains("window"), "{}", problem.why);
}

#[test]
fn other_methods_are_unsupported_by_name() {
    let archive = with_method(&hex(T51), b"-lh2-");
    assert!(starts(&archive));
    let out = unpack(&archive, measure(1 << 20));
    assert!(out.files.is_empty());
    let problem = out.problem.expect("a problem");
    assert!(
        problem.unsupported && problem.why.contains("-lh2-"),
        "{problem:?}"
    );
    assert_eq!(problem.member.as_deref(), Some("docs/hello.txt"));
}

#[test]
fn lz4_is_stored() {
    let archive = with_method(&hex(T00), b"-lz4-");
    let out = unpack(&archive, measure(1 << 20));
    assert_eq!(out.problem, None);
    assert_eq!(out.files[0].1, HELLO);
}

#[test]
fn a_crc_mismatch_keeps_the_file_and_notes_it() {
    let mut archive = hex(T00);
    let at = archive.len() - 10;
    archive[at] ^= 0x20;
    let out = unpack(&archive, measure(1 << 20));
    assert_eq!(out.files.len(), 1);
    assert_ne!(out.files[0].1, HELLO);
    let problem = out.problem.expect("a problem");
    assert!(
        !problem.unsupported && problem.why.contains("CRC"),
        "{problem:?}"
    );
}

#[test]
fn a_huge_size_stops_at_the_cap() {
    let mut archive = hex(T62);
    archive[11..15].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    refit(&mut archive);
    assert!(starts(&archive));
    let out = unpack(&archive, measure(1 << 20));
    assert!(out.files.is_empty());
    let problem = out.problem.expect("a problem");
    assert!(problem.why.contains("cap"), "{}", problem.why);
    // A true size past a small cap likewise.
    let out = unpack(&hex(T51), measure(50));
    assert!(out.problem.expect("a problem").why.contains("cap"));
}

/// Bits written most significant first, as LHA reads them.
#[derive(Default)]
struct Writer {
    bytes: Vec<u8>,
    bits: u32,
    count: u32,
}

impl Writer {
    fn put(&mut self, value: u32, n: u32) {
        for i in (0..n).rev() {
            self.bits = self.bits << 1 | (value >> i & 1);
            self.count += 1;
            if self.count == 8 {
                self.bytes.push(self.bits as u8);
                (self.bits, self.count) = (0, 0);
            }
        }
    }

    /// A -lh5- block of `count` copies of one code (a literal, or a match `distance_bits`
    /// long): every table a single symbol, every code sent in no bits.
    fn block(&mut self, count: u32, code: u32, distance_bits: u32) {
        self.put(count, 16);
        self.put(0, 5);
        self.put(0, 5);
        self.put(0, 9);
        self.put(code, 9);
        self.put(0, 4);
        self.put(distance_bits, 4);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.count > 0 {
            self.put(0, 8 - self.count);
        }
        self.bytes
    }
}

/// A level 0 archive of one -lh5- member.
fn level0(name: &[u8], packed: &[u8], file: &[u8]) -> Vec<u8> {
    let mut header = b"-lh5-".to_vec();
    header.extend((packed.len() as u32).to_le_bytes());
    header.extend((file.len() as u32).to_le_bytes());
    header.extend([0, 0, 0, 0, 0x20, 0, name.len() as u8]);
    header.extend(name);
    header.extend(crc16(file).to_le_bytes());
    let mut archive = vec![header.len() as u8, 0];
    archive.extend(header);
    archive.extend(packed);
    archive.push(0);
    refit(&mut archive);
    archive
}

#[test]
fn blocks_of_single_codes_and_matches_before_the_start() {
    let mut writer = Writer::default();
    writer.block(1, 256, 0); // 3 bytes from 1 back: before the start, spaces.
    writer.block(2, u32::from(b'x'), 0);
    writer.block(3, 300, 0); // 47 bytes from 1 back.
    let file = [b"   xx".to_vec(), vec![b'x'; 141]].concat();
    let archive = level0(b"run.txt", &writer.finish(), &file);
    assert!(starts(&archive));
    let out = unpack(&archive, measure(1 << 20));
    assert_eq!(out.problem, None);
    assert_eq!(out.files, vec![("run.txt".to_string(), file)]);
}

#[test]
fn a_directory_entry_is_skipped_and_names_join() {
    assert_eq!(path(b"a\xffb\xff", b"c.txt"), "a/b/c.txt");
    assert_eq!(path(b"", b"x\\y.txt"), "x/y.txt");
    assert_eq!(path(b"d", b""), "d");
    let out = unpack(&hex(DIR), measure(1 << 20));
    assert_eq!(out.files.len(), 1);
    assert_eq!(out.files[0].0, "docs/hello.txt");
}

#[test]
fn starts_needs_a_header_that_holds() {
    assert!(starts(&hex(GLZS)), "LArc's methods are found too");
    assert!(!starts(b""));
    assert!(!starts(
        b"ls -lh5- /tmp and more text to make twenty-two bytes"
    ));
    let mut sum = hex(T00);
    sum[1] ^= 1;
    assert!(!starts(&sum), "level 0 checksum");
    let mut crc = hex(T62);
    crc[27] ^= 1;
    assert!(!starts(&crc), "level 2 header CRC");
    let mut rng = XorShift(SEED);
    // Random bytes around a method id: the level, sizes and sums turn them away.
    let mut random = vec![0u8; 300];
    let mut passed = 0;
    for _ in 0..100_000 {
        random.iter_mut().for_each(|b| *b = rng.byte());
        random[2..7].copy_from_slice(b"-lh5-");
        passed += usize::from(starts(&random));
    }
    assert!(passed <= 3, "{passed} of 100000 random headers passed");
}

#[test]
fn garbage_after_the_end_mark_is_ignored_and_without_it_noted() {
    let mut archive = hex(T51);
    archive.extend(b"trailing bytes that are no header at all");
    let out = unpack(&archive, measure(1 << 20));
    assert_eq!((out.files.len(), out.problem), (1, None));
    archive.remove(hex(T51).len() - 1);
    let out = unpack(&archive, measure(1 << 20));
    assert_eq!(out.files.len(), 1);
    assert!(out.problem.is_some());
}

#[test]
fn a_passed_deadline_stops() {
    let out = unpack(&hex(T51), expired());
    assert!(out.problem.expect("late").why.contains("time"));
}

#[test]
fn every_prefix_is_noted_and_never_panics() {
    for (label, archive) in all() {
        // Cut where a member ends (or one byte after: a lone last byte ends an archive),
        // an archive reads as whole; the last byte is the end mark.
        let mut ends = vec![];
        let mut at = 0;
        while let Ok(header) = read_header(&archive[at..]) {
            at += header.data_at + header.packed as usize;
            ends.push(at);
        }
        every_prefix(&archive[..archive.len() - 1], |len, prefix| {
            if len < 2 {
                return;
            }
            let out = unpack(prefix, measure(1 << 20));
            assert!(
                out.problem.is_some() || ends.contains(&len) || ends.contains(&(len - 1)),
                "{label} cut at {len}"
            );
        });
        let out = unpack(&archive[..archive.len() - 1], measure(1 << 20));
        assert_eq!(out.problem, None, "{label} without its end mark");
    }
}

#[test]
fn bit_flips_and_mutations_never_panic_and_end_fast() {
    let vectors: Vec<Vec<u8>> = all().into_iter().map(|(_, archive)| archive).collect();
    let edit = |rng: &mut XorShift, bytes: &mut Vec<u8>, _| {
        for _ in 0..1 + rng.next() % 8 {
            let at = rng.below(bytes.len());
            match rng.next() % 3 {
                0 => bytes[at] = rng.byte(),
                1 => bytes[at] ^= 0xFF,
                _ => bytes.insert(at, rng.byte()),
            }
        }
    };
    within(Duration::from_secs(120), || {
        for archive in &vectors {
            flips(archive, every_bit(archive.len()), |bytes| {
                let _ = starts(bytes);
                let _ = unpack(bytes, measure(1 << 20));
            });
        }
        mutations(&vectors, GOLDEN, 3000, edit, |bytes| {
            within(Duration::from_secs(2), || {
                let _ = starts(bytes);
                let _ = unpack(bytes, measure(1 << 24));
            });
        });
    });
}

/// clam.exe packed by jLHA in each method it writes and each header level must come back
/// whole. Runs where jlha and ClamAV's test files are (no LHA sample ships with them).
#[test]
fn clam_exe_packed_by_jlha_unpacks_whole() {
    let clam = std::path::Path::new("/usr/share/clamav-testfiles/clam.exe");
    let Ok(expected) = std::fs::read(clam) else {
        return;
    };
    if !std::path::Path::new("/usr/bin/jlha").exists() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lha-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(clam, dir.join("clam.exe")).unwrap();
    for (option, method) in [
        ("z", "-lh0-"),
        ("o5", "-lh5-"),
        ("o6", "-lh6-"),
        ("o7", "-lh7-"),
    ] {
        for level in 0..3 {
            let name = format!("clam{level}{option}.lzh");
            let made = std::process::Command::new("/usr/bin/jlha")
                .current_dir(&dir)
                .args([format!("a{level}{option}"), name.clone(), "clam.exe".into()])
                .output()
                .unwrap();
            assert!(made.status.success(), "{made:?}");
            let archive = std::fs::read(dir.join(&name)).unwrap();
            assert_eq!(&archive[2..7], method.as_bytes());
            assert!(starts(&archive));
            let out = unpack(&archive, measure(1 << 20));
            assert_eq!(out.problem, None, "{name}");
            assert_eq!(
                out.files,
                vec![("clam.exe".to_string(), expected.clone())],
                "{name}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// ClamAV's own LHA test archives (logo.png and cisco.png in -lh0-, -lh1-, -lh5- to -lh7-,
/// levels 0 to 2, made with LHA for UNIX), read from its source mirror where it is.
#[test]
fn clamav_unit_test_archives_unpack() {
    let repo = "/work/.mirror/Cisco-Talos+clamav/repo";
    let dir = "unit_tests/input/other_scanfiles/lha_lzh";
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .output()
    };
    let Ok(listing) = git(&["ls-tree", "--name-only", &format!("HEAD:{dir}")]) else {
        return;
    };
    let names = String::from_utf8_lossy(&listing.stdout).into_owned();
    for name in names.lines().filter(|n| n.ends_with(".lzh")) {
        let archive = git(&["show", &format!("HEAD:{dir}/{name}")])
            .unwrap()
            .stdout;
        assert!(starts(&archive), "{name}");
        let out = unpack(&archive, measure(1 << 24));
        assert_eq!(out.problem, None, "{name}");
        let sizes: Vec<(u16, usize)> = out.files.iter().map(|(_, b)| (crc16(b), b.len())).collect();
        assert!(sizes.contains(&(0xcad8, 25476)), "{name}: logo.png");
        assert!(sizes.contains(&(0xebf8, 10662)), "{name}: cisco.png");
        assert!(
            out.files
                .iter()
                .any(|(n, _)| n.ends_with("images/logo.png") || n.contains(":ff")),
            "{name}"
        );
    }
}

#[test]
fn eicar_in_an_archive_and_a_self_extractor_is_found_by_the_walk() {
    use crate::inspect::tests::{EICAR, labels, limits, look};
    let archive = with_method(&level0(b"eicar.com", EICAR, EICAR), b"-lh0-");
    let found = look(&archive, "x.lzh", &limits());
    assert_eq!(
        labels(&found),
        ["x.lzh>eicar.com:EICAR_Test_File"],
        "{found:?}"
    );
    let sfx = [b"MZ".as_slice(), &[0; 100], &archive].concat();
    let found = look(&sfx, "setup.exe", &limits());
    assert_eq!(
        labels(&found),
        ["setup.exe>@102.lzh>eicar.com:EICAR_Test_File"],
        "{found:?}"
    );
}
