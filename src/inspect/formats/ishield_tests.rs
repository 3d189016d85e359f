//! The InstallShield decoders against hand-built setup streams, overlays and cabinets, damage and the cap; the real samples' chains.

use super::*;
use crate::inspect::formats::decoder_tests::{
    GOLDEN, XorShift, a_bit_of, every_prefix, expired, flips, measure, mutations, names, within,
};
use std::io::Write;
use std::time::Duration;

fn file<'a>(u: &'a Unpacked, name: &str) -> &'a [u8] {
    let found = u.files.iter().find(|(n, _)| n == name);
    found
        .map(|(_, b)| b.as_slice())
        .unwrap_or_else(|| panic!("no {name} in {:?}", names(u)))
}

fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

fn put(buf: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    if buf.len() < at + bytes.len() {
        buf.resize(at + bytes.len(), 0);
    }
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

/// Raw deflate ending in a sync flush (00 00 ff ff), as InstallShield's chunks do.
fn deflate_sync(data: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, flate2::FlushCompress::Sync)
        .unwrap();
    out
}

/// What the setup stream stores for `plain` (the inverse of `unscramble`).
fn scramble(plain: &[u8], seed: &[u8], period: Option<usize>) -> Vec<u8> {
    let key: Vec<u8> = seed
        .iter()
        .zip([0x13u8, 0x35, 0x86, 0x07].iter().cycle())
        .map(|(s, m)| s ^ m)
        .collect();
    let at = |i: usize| period.map_or(i, |p| i % p) % key.len();
    plain
        .iter()
        .enumerate()
        .map(|(i, &b)| (key[at(i)] ^ !b).rotate_left(4))
        .collect()
}

fn stream_data(name: &str, flags: u32, deflated: bool, plain: &[u8]) -> Vec<u8> {
    let data = if deflated {
        zlib(plain)
    } else {
        plain.to_vec()
    };
    match flags {
        f if f & 4 != 0 => scramble(&data, name.as_bytes(), Some(1024)),
        f if f & 2 != 0 => scramble(&data, name.as_bytes(), None),
        _ => data,
    }
}

/// A setup stream (`InstallShield`) of (name, flags, zlib, bytes).
fn old_stream(files: &[(&str, u32, bool, &[u8])]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend((files.len() as u16).to_le_bytes());
    out.resize(STREAM_HEADER, 0);
    for &(name, flags, deflated, plain) in files {
        let data = stream_data(name, flags, deflated, plain);
        let mut entry = name.as_bytes().to_vec();
        put(&mut entry, 0x104, &le32(flags));
        put(&mut entry, 0x10c, &(data.len() as u64).to_le_bytes());
        put(&mut entry, 0x118, &[u8::from(deflated), 0]);
        entry.resize(OLD_ENTRY, 0);
        out.extend(entry);
        out.extend(data);
    }
    out
}

/// A setup stream (`ISSetupStream`, of type `kind`) of (name, flags, zlib, bytes).
fn new_stream(kind: u32, files: &[(&str, u32, bool, &[u8])]) -> Vec<u8> {
    let mut out = STREAM_MAGIC.to_vec();
    out.extend((files.len() as u16).to_le_bytes());
    out.extend(le32(kind));
    out.resize(STREAM_HEADER, 0);
    for &(name, flags, deflated, plain) in files {
        let data = stream_data(name, flags, deflated, plain);
        let wide: Vec<u8> = name
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect();
        let mut entry = le32(wide.len() as u32).to_vec();
        put(&mut entry, 4, &le32(flags));
        put(&mut entry, 10, &le32(data.len() as u32));
        put(&mut entry, 22, &[u8::from(deflated), 0]);
        entry.resize(if kind == 4 { 2 * NEW_ENTRY } else { NEW_ENTRY }, 0);
        out.extend(entry);
        out.extend(wide);
        out.extend(data);
    }
    out
}

/// A plain overlay of (name, path, bytes); UTF-16 after a count when `wide`.
fn plain(files: &[(&str, &str, &[u8])], wide: bool) -> Vec<u8> {
    let mut out = if wide {
        le32(files.len() as u32).to_vec()
    } else {
        Vec::new()
    };
    for &(name, path, data) in files {
        let head = format!("{name}\0{path}\0{}\0{}\0", "1.2.3.4", data.len());
        if wide {
            out.extend(head.encode_utf16().flat_map(u16::to_le_bytes));
        } else {
            out.extend(head.as_bytes());
        }
        out.extend(data);
    }
    out
}

/// A file of a test cabinet: name, directory, flags, bytes, volume, link flags.
struct F<'a>(&'a str, u16, u16, &'a [u8], u16, u8);

/// The inverse of `deobfuscate`.
fn obfuscate(data: &[u8]) -> Vec<u8> {
    let shift = |i: usize| (i % 0x47) as u8;
    data.iter()
        .enumerate()
        .map(|(i, &b)| b.wrapping_add(shift(i)).rotate_left(2) ^ 0xd5)
        .collect()
}

fn stored(f: &F) -> Vec<u8> {
    let mut data = f.3.to_vec();
    if f.2 & COMPRESSED != 0 {
        // Chunks of up to 100 bytes in, each on its own.
        data =
            f.3.chunks(100)
                .flat_map(|c| {
                    let z = deflate_sync(c);
                    [(z.len() as u16).to_le_bytes().to_vec(), z].concat()
                })
                .collect();
    }
    if f.2 & OBFUSCATED != 0 {
        obfuscate(&data)
    } else {
        data
    }
}

fn common(version: u32, table_at: usize, table_len: usize) -> Vec<u8> {
    let mut out = CAB_MAGIC.to_vec();
    for v in [version, 0, table_at as u32, table_len as u32] {
        out.extend(le32(v));
    }
    out.resize(84, 0);
    out
}

/// A file table at `at` for `files`, whose data is at `places` (offset, stored size).
fn file_table(version: u32, files: &[F], places: &[(usize, usize)]) -> Vec<u8> {
    let wide = version >> 24 == 2;
    let text = |s: &str| -> Vec<u8> {
        if wide {
            s.encode_utf16()
                .chain([0])
                .flat_map(u16::to_le_bytes)
                .collect()
        } else {
            format!("{s}\0").into_bytes()
        }
    };
    let mut strings = vec![0u8; 8];
    let mut name_at = Vec::new();
    for (i, dir) in ["", "sub\\dir"].iter().enumerate() {
        let at = strings.len() as u32;
        put(&mut strings, 4 * i, &le32(at));
        strings.extend(text(dir));
    }
    for f in files {
        name_at.push(strings.len() as u32);
        strings.extend(text(f.0));
    }
    let mut descs = Vec::new();
    for ((f, &(offset, size)), name) in files.iter().zip(places).zip(name_at) {
        let mut d = f.2.to_le_bytes().to_vec();
        d.extend((f.3.len() as u64).to_le_bytes());
        d.extend((size as u64).to_le_bytes());
        d.extend((offset as u64).to_le_bytes());
        put(&mut d, 0x3a, &le32(name));
        put(&mut d, 0x3e, &f.1.to_le_bytes());
        put(&mut d, 0x54, &[f.5]);
        put(&mut d, 0x55, &f.4.to_le_bytes());
        descs.extend(d);
    }
    let mut out = vec![0u8; 0x30];
    put(&mut out, 0xc, &le32(0x30));
    put(&mut out, 0x1c, &le32(2));
    put(&mut out, 0x28, &le32(files.len() as u32));
    put(&mut out, 0x2c, &le32(strings.len() as u32));
    out.extend(strings);
    out.extend(descs);
    out
}

/// `data1.hdr` (empty when the first cabinet holds the table) and the cabinets.
fn cabinet(version: u32, files: &[F], own_table: bool) -> (Vec<u8>, Vec<Vec<u8>>) {
    let volumes = files
        .iter()
        .map(|f| f.4 + u16::from(f.2 & SPLIT != 0))
        .max()
        .unwrap_or(1);
    let mut cabs: Vec<Vec<u8>> = (0..volumes).map(|_| common(version, 0, 0)).collect();
    for c in cabs.iter_mut() {
        put(c, 0x14, &le32(84));
    }
    let mut places = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let data = stored(f);
        let v = usize::from(f.4.max(1) - 1);
        places.push((cabs[v].len(), data.len()));
        if f.2 & SPLIT == 0 {
            // As real volumes do, name the last file in the volume.
            put(&mut cabs[v], 0x20, &le32(i as u32));
            cabs[v].extend(&data);
            continue;
        }
        let (a, b) = data.split_at(data.len() / 2);
        let (at, next) = (cabs[v].len() as u64, cabs[v + 1].len() as u64);
        for (field, value) in [
            (0x20, i as u64),
            (0x3c, at),
            (0x44, a.len() as u64),
            (0x4c, a.len() as u64),
        ] {
            put(
                &mut cabs[v],
                field,
                &value.to_le_bytes()[..if field == 0x20 { 4 } else { 8 }],
            );
        }
        for (field, value) in [
            (0x1c, i as u64),
            (0x24, next),
            (0x2c, b.len() as u64),
            (0x34, b.len() as u64),
        ] {
            put(
                &mut cabs[v + 1],
                field,
                &value.to_le_bytes()[..if field == 0x1c { 4 } else { 8 }],
            );
        }
        cabs[v].extend(a);
        cabs[v + 1].extend(b);
    }
    let table = file_table(version, files, &places);
    if own_table {
        let at = cabs[0].len();
        put(&mut cabs[0], 12, &le32(at as u32));
        put(&mut cabs[0], 16, &le32(table.len() as u32));
        cabs[0].extend(table);
        return (Vec::new(), cabs);
    }
    let mut header = common(version, 84, table.len());
    put(&mut header, 0x14, &le32((84 + table.len()) as u32));
    header.extend(table);
    (header, cabs)
}

const V9: u32 = 0x0100_9500;
const TEXT: &[u8] = b"Hello from a hand-built InstallShield test vector.\n";

fn long_text() -> Vec<u8> {
    (0..3000u32)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect()
}

/// A cabinet set with every kind of file: stored, compressed, obfuscated, split across
/// volumes, a repeat, an invalid entry and one outside the cabinets.
fn cabinet_files(long: &[u8]) -> Vec<F<'_>> {
    vec![
        F("stored.txt", 0, 0, TEXT, 1, 0),
        F("packed.txt", 1, COMPRESSED, long, 1, 0),
        F("hidden.txt", 0, COMPRESSED | OBFUSCATED, long, 1, 0),
        F("split.txt", 1, COMPRESSED | SPLIT, long, 1, 0),
        F("again.txt", 0, 0, TEXT, 2, LINK_PREVIOUS),
        F("bad.txt", 0, INVALID, TEXT, 2, 0),
        F("second.txt", 0, OBFUSCATED, TEXT, 2, 0),
    ]
}

fn cabinet_overlay(long: &[u8]) -> Vec<u8> {
    let (header, cabs) = cabinet(V9, &cabinet_files(long), false);
    plain(
        &[
            ("setup.ini", "Disk1\\setup.ini", b"[Startup]\r\n"),
            ("data1.cab", "Disk1\\data1.cab", &cabs[0]),
            ("data1.hdr", "Disk1\\data1.hdr", &header),
            ("data2.cab", "Disk1\\data2.cab", &cabs[1]),
        ],
        false,
    )
}

#[test]
fn a_real_setup_stream_entry_unscrambles_and_inflates() {
    // clam_ISmsi_ext.exe's stream header (count set to 1) and its EvalMarker.dat entry:
    // flags 6, 8 bytes stored, zlib, which unscramble to 78 9c 03 00 00 00 00 01.
    let mut stream = MAGIC.to_vec();
    stream.extend([1, 0]);
    stream.resize(STREAM_HEADER, 0);
    let mut entry = b"EvalMarker.dat".to_vec();
    put(&mut entry, 0x104, &[6, 0, 0, 0, 0, 0, 0, 0, 8]);
    put(&mut entry, 0x118, &[1]);
    entry.resize(OLD_ENTRY, 0);
    stream.extend(entry);
    stream.extend([0x1d, 0x02, 0xb1, 0x49, 0x1a, 0xba, 0xb0, 0x29]);
    assert!(starts(&stream));
    let u = unpack(&stream, measure(1 << 20));
    assert_eq!(u.problem, None);
    assert_eq!(u.files, vec![("EvalMarker.dat".to_owned(), Vec::new())]);
}

#[test]
fn a_real_plain_overlay_entry_reads() {
    // clam_IScab_ext.exe's setup.ini entry, as stored.
    let entry: &[u8] = b"setup.ini\0Disk1\\setup.ini\x000.0.0.0\x00452\0[Startup]\r\n\
AppName=clam\r\n\
ProductGUID=82223415-1AAB-4701-9629-06E8DDB80BDA\r\n\
CompanyName=ClamAV\r\n\
CompanyURL=http://www.clamav.net\r\n\
ErrorReportURL=http://www.installshield.com/isetup/ProErrorCentral.asp?ErrorCode=%d : 0x%x&ErrorInfo=%s\r\n\
MediaFormat=0\r\n\
LogMode=1\r\n\
Resource=_Setup.dll\r\n\
SmallProgress=N\r\n\
SplashTime=5\r\n\
CheckMD5=Y\r\n\
CmdLine=\r\n\
ShowPasswordDialog=N\r\n\
EngineVersion=11.0.0.28844\r\n\
EngineBinding=1\r\n\
[Languages]\r\n\
Default=0x0009\r\n\
count=1\r\n\
key0=0x0009\r\n";
    assert!(plain_starts(entry));
    let u = plain_unpack(entry, measure(1 << 20));
    assert_eq!(u.problem, None);
    let ini = file(&u, "Disk1/setup.ini");
    assert_eq!(ini.len(), 452);
    assert!(ini.starts_with(b"[Startup]\r\nAppName=clam\r\n") && ini.ends_with(b"key0=0x0009\r\n"));
}

#[test]
fn setup_stream_files_decode_by_each_method() {
    let long = long_text();
    let files: [(&str, u32, bool, &[u8]); 5] = [
        ("blocks.txt", 6, true, &long),
        ("sub\\whole.txt", 2, false, &long),
        ("plain.txt", 0, false, TEXT),
        ("blocks-stored.bin", 4, false, &long),
        ("empty.dat", 6, true, b""),
    ];
    let stream = old_stream(&files);
    assert!(starts(&stream));
    let u = unpack(&stream, measure(1 << 20));
    assert_eq!(u.problem, None);
    let want = [
        "blocks.txt",
        "sub/whole.txt",
        "plain.txt",
        "blocks-stored.bin",
        "empty.dat",
    ];
    assert_eq!(names(&u), want);
    for ((_, _, _, plain), (_, got)) in files.iter().zip(&u.files) {
        assert_eq!(got.as_slice(), *plain);
    }
}

#[test]
fn the_newer_setup_stream_decodes_in_both_types() {
    let long = long_text();
    for kind in [2, 4] {
        let files: [(&str, u32, bool, &[u8]); 2] =
            [("Ünïcode.msi", 6, true, &long), ("b.txt", 2, false, TEXT)];
        let stream = new_stream(kind, &files);
        assert!(starts(&stream), "type {kind}");
        let u = unpack(&stream, measure(1 << 20));
        assert_eq!(u.problem, None, "type {kind}");
        assert_eq!(file(&u, "Ünïcode.msi"), long.as_slice());
        assert_eq!(file(&u, "b.txt"), TEXT);
    }
}

#[test]
fn strings_that_only_look_like_a_stream_are_not_one() {
    // As in the setup.exe code of the samples: the name followed by text.
    let mut text = b"InstallShield\0\0\0This Setup was created with an EVALUATION VERSION".to_vec();
    text.resize(400, b' ');
    assert!(!starts(&text));
    assert!(!starts(&MAGIC[..10]));
    assert!(!plain_starts(b"MZP\0\x02\0\0\0"));
    assert!(!plain_starts(b"a.exe\0Disk1\\a.exe\x000.0\x009x\0data"));
}

#[test]
fn plain_overlays_read_in_ansi_and_utf16() {
    for wide in [false, true] {
        let overlay = plain(
            &[
                ("a.txt", "Disk1\\a.txt", TEXT),
                ("b.bin", "Disk1\\b.bin", b"\0\x01\x02"),
            ],
            wide,
        );
        let mut with_tail = overlay.clone();
        with_tail.extend(b"\x30\x82\x05\x00 a signature follows");
        assert!(plain_starts(&with_tail));
        let u = plain_unpack(&with_tail, measure(1 << 20));
        assert_eq!(u.problem, None, "wide {wide}");
        assert_eq!(names(&u), ["Disk1/a.txt", "Disk1/b.bin"]);
        assert_eq!(file(&u, "Disk1/b.bin"), b"\0\x01\x02");
    }
}

#[test]
fn cabinets_in_a_plain_overlay_give_their_files() {
    let long = long_text();
    let overlay = cabinet_overlay(&long);
    assert!(plain_starts(&overlay));
    let u = plain_unpack(&overlay, measure(1 << 22));
    assert_eq!(u.problem, None);
    let inside = [
        "Disk1/data1.cab/stored.txt",
        "Disk1/data1.cab/sub/dir/packed.txt",
        "Disk1/data1.cab/hidden.txt",
        "Disk1/data1.cab/sub/dir/split.txt",
        "Disk1/data2.cab/second.txt",
    ];
    let want: Vec<&str> = [
        "Disk1/setup.ini",
        "Disk1/data1.cab",
        "Disk1/data1.hdr",
        "Disk1/data2.cab",
    ]
    .into_iter()
    .chain(inside)
    .collect();
    assert_eq!(names(&u), want);
    for (name, bytes) in inside.iter().zip([TEXT, &long, &long, &long, TEXT]) {
        assert_eq!(file(&u, name), bytes, "{name}");
    }
}

#[test]
fn a_cabinet_with_its_own_table_reads_alone() {
    let long = long_text();
    let files = [
        F("a.txt", 1, COMPRESSED, &long, 1, 0),
        F("b.txt", 0, 0, TEXT, 1, 0),
        F("c.txt", 0, 0, TEXT, 2, 0),
    ];
    let (_, cabs) = cabinet(V9, &files, true);
    assert!(cab_starts(&cabs[0]));
    let u = cab_unpack(&cabs[0], measure(1 << 20));
    assert_eq!(names(&u), ["sub/dir/a.txt", "b.txt"]);
    assert_eq!(file(&u, "sub/dir/a.txt"), long.as_slice());
    let problem = u.problem.expect("c.txt is in volume 2");
    assert_eq!(problem.member.as_deref(), Some("c.txt"));
    // A header file alone, or a cabinet without the table, is no container.
    let (header, cabs) = cabinet(V9, &files, false);
    assert!(!cab_starts(&header) && !cab_starts(&cabs[0]));
}

#[test]
fn version_17_tables_have_utf16_names_and_version_5_is_unsupported() {
    let files = [F("wide.txt", 1, COMPRESSED, TEXT, 1, 0)];
    let (_, cabs) = cabinet(0x0200_0000 | 1700, &files, true);
    let u = cab_unpack(&cabs[0], measure(1 << 20));
    assert_eq!(u.problem, None);
    assert_eq!(file(&u, "sub/dir/wide.txt"), TEXT);
    let (_, cabs) = cabinet(0x0100_5000, &files, true);
    let u = cab_unpack(&cabs[0], measure(1 << 20));
    assert!(u.files.is_empty() && u.problem.expect("a problem").unsupported);
}

#[test]
fn the_overlay_starts_after_the_last_section() {
    let mut exe = b"MZ".to_vec();
    put(&mut exe, 0x3c, &le32(0x40));
    put(&mut exe, 0x40, b"PE\0\0");
    put(&mut exe, 0x46, &2u16.to_le_bytes());
    put(&mut exe, 0x54, &0xe0u16.to_le_bytes());
    let table = 0x40 + 24 + 0xe0;
    for (n, (size, at)) in [(0x200u32, 0x400u32), (0x100, 0x200)]
        .into_iter()
        .enumerate()
    {
        put(&mut exe, table + 40 * n + 16, &le32(size));
        put(&mut exe, table + 40 * n + 20, &le32(at));
    }
    exe.resize(0x600, 0);
    exe.extend(plain(&[("a.txt", "Disk1\\a.txt", TEXT)], false));
    assert_eq!(overlay_start(&exe), Some(0x600));
    assert!(plain_starts(&exe[0x600..]));
    assert_eq!(overlay_start(&exe[..0x600]), None);
    assert_eq!(overlay_start(b"MZ\0\0"), None);
}

fn all_readers(bytes: &[u8]) -> usize {
    let m = measure(1 << 20);
    let _ = (
        starts(bytes),
        plain_starts(bytes),
        cab_starts(bytes),
        overlay_start(bytes),
    );
    unpack(bytes, m).files.len()
        + plain_unpack(bytes, m).files.len()
        + cab_unpack(bytes, m).files.len()
}

fn vectors() -> Vec<Vec<u8>> {
    let long = long_text();
    let stream: [(&str, u32, bool, &[u8]); 2] =
        [("a.txt", 6, true, &long[..1500]), ("b.txt", 2, false, TEXT)];
    let files = [
        F("a.txt", 1, COMPRESSED | OBFUSCATED, &long[..900], 1, 0),
        F("b.txt", 0, 0, TEXT, 1, 0),
    ];
    vec![
        old_stream(&stream),
        new_stream(4, &stream),
        plain(&[("a.txt", "Disk1\\a.txt", TEXT)], true),
        cabinet(V9, &files, true).1.remove(0),
        cabinet_overlay(&long[..2000]),
    ]
}

#[test]
fn every_prefix_and_bit_flip_is_read_without_panic() {
    within(Duration::from_secs(60), || {
        for v in vectors() {
            every_prefix(&v, |_, prefix| {
                all_readers(prefix);
            });
            flips(&v, a_bit_of(0..v.len()), |flipped| {
                all_readers(flipped);
            });
        }
    });
}

#[test]
fn random_mutations_are_read_without_panic() {
    let edit = |rng: &mut XorShift, v: &mut Vec<u8>, _| rng.overwrite(v, 0, 6);
    within(Duration::from_secs(60), || {
        mutations(&vectors(), GOLDEN, 3000, edit, |v| {
            all_readers(v);
        });
    });
}

#[test]
fn sizes_past_the_cap_stop_with_a_problem() {
    // A stream file that inflates past the cap.
    let zeros = vec![0u8; 1 << 20];
    let u = unpack(
        &old_stream(&[("zeros.bin", 6, true, &zeros)]),
        measure(4096),
    );
    assert!(u.files.is_empty());
    assert!(u.problem.expect("a problem").why.contains("cap"));
    // A cabinet file that claims a huge size: no huge buffer, a problem.
    let files = [F("a.txt", 0, COMPRESSED, TEXT, 1, 0)];
    let (_, mut cabs) = cabinet(V9, &files, true);
    let t = table(&cabs[0]).unwrap();
    put(&mut cabs[0], t.descriptors + 2, &u64::MAX.to_le_bytes());
    let u = cab_unpack(&cabs[0], measure(1 << 20));
    assert!(u.problem.expect("a problem").why.contains("table says"));
    // A stored file larger than the cap, and a plain entry claiming more than there is.
    let u = plain_unpack(&plain(&[("a.bin", "a.bin", &zeros)], false), measure(1000));
    assert!(u.problem.expect("a problem").why.contains("cap"));
    let mut short = plain(&[("a.bin", "a.bin", TEXT)], false);
    short.truncate(short.len() - 1);
    let u = plain_unpack(&short, measure(1000));
    assert!(u.problem.expect("a problem").why.contains("runs past"));
}

#[test]
fn a_passed_deadline_is_noted() {
    let late = expired();
    for v in vectors() {
        let found = [
            unpack(&v, late),
            plain_unpack(&v, late),
            cab_unpack(&v, late),
        ];
        assert!(
            found
                .iter()
                .any(|u| u.problem.as_ref().is_some_and(|p| p.why.contains("time")))
        );
    }
}

/// The chain the main scanner follows for the MSI: its OLE2 streams, then any MS cabinet.
fn in_msi(msi: &[u8], want: &[u8]) -> bool {
    let mut ole = cfb::CompoundFile::open(std::io::Cursor::new(msi)).expect("an OLE2 file");
    let streams: Vec<_> = ole
        .walk()
        .filter(|e| e.is_stream())
        .map(|e| e.path().to_owned())
        .collect();
    streams.iter().any(|path| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut ole.open_stream(path).unwrap(), &mut bytes).unwrap();
        if !bytes.starts_with(b"MSCF") {
            return false;
        }
        let mut cab = cab::Cabinet::new(std::io::Cursor::new(bytes)).expect("a cabinet");
        let names: Vec<String> = cab
            .folder_entries()
            .flat_map(|f| f.file_entries())
            .map(|f| f.name().to_owned())
            .collect();
        names.iter().any(|name| {
            let mut got = Vec::new();
            std::io::Read::read_to_end(&mut cab.read_file(name).unwrap(), &mut got).unwrap();
            got == want
        })
    })
}

fn stream_in(exe: &[u8]) -> Option<usize> {
    (0..exe.len())
        .find(|&at| SIGNATURES.iter().any(|m| exe[at..].starts_with(m)) && starts(&exe[at..]))
}

#[test]
fn the_real_samples_give_clam_exe() {
    let dir = std::path::Path::new("/usr/share/clamav-testfiles");
    let Ok(want) = std::fs::read(dir.join("clam.exe")) else {
        return;
    };
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let m = measure(1 << 30);
    // Setup streams: clam.exe itself (ext), or inside the MSI's cabinet (int).
    let exe = read("clam_ISmsi_ext.exe");
    let u = unpack(&exe[stream_in(&exe).unwrap()..], m);
    assert_eq!(
        (u.problem.clone(), file(&u, "clam.exe409.bmp")),
        (None, want.as_slice())
    );
    let exe = read("clam_ISmsi_int.exe");
    let at = stream_in(&exe).unwrap();
    assert_eq!(
        overlay_start(&exe).map(|o| &exe[o..o + 4]),
        Some(&b"NB10"[..])
    );
    let u = unpack(&exe[at..], m);
    assert_eq!(u.problem, None);
    assert!(in_msi(file(&u, "clam.msi"), &want));
    // Plain overlays: clam.exe stored (ext), or in the InstallShield cabinet (int).
    for (sample, name) in [
        ("clam_IScab_ext.exe", "Disk1/clam.exe"),
        ("clam_IScab_int.exe", "Disk1/data2.cab/clam.exe"),
    ] {
        let exe = read(sample);
        assert_eq!(stream_in(&exe), None, "{sample}");
        let overlay = &exe[overlay_start(&exe).unwrap()..];
        assert!(plain_starts(overlay));
        let u = plain_unpack(overlay, m);
        assert_eq!(
            (u.problem.clone(), file(&u, name)),
            (None, want.as_slice()),
            "{sample}"
        );
    }
}

#[test]
fn eicar_in_a_setup_stream_is_found_by_the_walk() {
    use crate::inspect::tests::{EICAR, labels, limits, look};
    let stream = old_stream(&[("eicar.com", 4, false, EICAR)]);
    let exe = [b"MZ".as_slice(), &[0; 100], &stream].concat();
    let found = look(&exe, "setup.exe", &limits());
    assert_eq!(
        labels(&found),
        ["setup.exe>@102.is>eicar.com:EICAR_Test_File"],
        "{found:?}"
    );
}
