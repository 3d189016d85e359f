//! The RAR header walker against libarchive's RAR4 and RAR5 test archives, hand-built stored ones, damage and the cap.

use super::*;
use crate::inspect::formats::Problem;
use crate::inspect::formats::decoder_tests::{
    SEED, XorShift, every_bit, every_prefix, expired, flips, hex, measure, mutations, names,
    survives, within,
};
use std::process::Command;
use std::time::Duration;

// Archives made by RAR / WinRAR, from libarchive's test suite
// (libarchive/test/test_read_format_{rar,rar_unicode,rar4_encrypted,rar_encryption_header,
// rar5_stored,rar5_unicode,rar5_encrypted}.rar.uu): no RAR archiver is installed here.
// RAR4_STORED: stored test.txt and testdir\test.txt, a Unix symlink, two directories.
// RAR4_UNICODE: Unicode names, a symlink, directories, one member packed with method 3.
// RAR4_ENCRYPTED / RAR5_ENCRYPTED: stored a.txt and c.txt, encrypted b.txt and d.txt.
// RAR4_ENCRYPTED_HEADERS: made with `rar -hp`. RAR5_STORED: helloworld.txt.
// RAR5_UNICODE: a stored file, a hard link and a symlink to it, with emoji names.
const RAR4_STORED: &str = "\
526172211a0700cf907300000d000000000000008452742090320014000000140000000342a2c8beb776da3e14300800\
a4810000746573742e7478748008b776da3eb776da3e74657374207465787420646f63756d656e740d0a9d2f74209032\
000800000008000000037b44c9b6d14cd83e14300800ffa10000746573746c696e6bc008d14cd83e505fda3e74657374\
2e747874cde07420903a0014000000140000000342a2c8be6377da3e14301000a4810000746573746469725c74657374\
2e747874c0cc6377da3e6377da3e74657374207465787420646f63756d656e740d0aa1c874e090310000000000000000\
0003000000006377da3e14300700ed41000074657374646972c0cc6377da3e6477da3ee6e774e0903600000000000000\
000003000000009dabd53e14300c00ed41000074657374656d70747964697280cc9dabd53ec55dda3ec43d7b00400700";
const RAR4_UNICODE: &str = "\
526172211a0700cf907300000d00000000000000a8297420929400000000000000000002000000002269e13e14306f00\
20000000955c82be82e65c905682b582a283748348838b835f5c90568b4b8365834c83588367208368834c8385838183\
9383672e74787400886868603088305caab06557304430d530a8a930eb30c0305caab0658f89c630ad30a2b930c83020\
c930aaad30e530e130f33080c8302e7478007400f0263984e4987420929300050000000500000002dc9d6f42b654743e\
14306e0020000000955c82be82e65c8abf8e9a92b782a2837483408343838b96bc6c6f6e672d66696c656e616d652d69\
6e2d8abf8e9a2e74787400886868603088305caa226f575b77954430aad530a130a430eb30800d546c6f6e00672d6669\
006c656e61006d652d690a6e2d226f575b002e74787400b0767a686b616e6a69942c74e0925300000000000000000002\
000000002269e13e14302e0010000000955c82be82e65c905682b582a283748348838b835f00886868603088305caab0\
6557304430d530a8a930eb30c03000f02639846d7874e0923300000000000000000002000000000f69e13e14300e0010\
000000955c82be82e6008868686030883000f0ea097e590e74208248003600000036000000032582fb5d58540b3f1430\
2800eda10000e8a1a8e381a0e382885ce38395e382a1e382a4e383ab00886868603088305caad530a130a430eb30e6bc\
a2e5ad97e995b7e38184e38395e382a1e382a4e383abe5908d6c6f6e672d66696c656e616d652d696e2de6bca2e5ad97\
2e7478749b6a74208040000f000000100000000305d0b615dd8467401d332000b48100006162636465666768696a6b6c\
6d6e6f70717273e38386e382b9e383882e7478740090ff107fe4b9fc2783303d2e1cd2c43d7b00400700";
const RAR4_ENCRYPTED: &str = "\
526172211a0700cf907300000d000000000000002a637420902a00120000001200000002556e5aee645776581d300500\
20000000612e74787400f0fc4c1b546869732069732066726f6d20612e7478745f8e7424943200200000001200000002\
8514faa9675776581d33050020000000622e747874be021b9a792a8a5500b072a034c9f9f60d107fa8d1d67cebd4a4b6\
c8d46b828a1e9faeb00df8dab6c7440aeae4bbc77420902a00120000001200000002353d9a946e5776581d3005002000\
0000632e74787400b03e482d546869732069732066726f6d20632e747874edca742494320020000000120000000225e1\
ba264d6476581d33050020000000642e747874afe27d13f3a5535200f0fb618f76f83fc947681b502d368cc078c9d3a9\
45aaf68903dcbe18e08c6657db04f5e9c43d7b00400700";
const RAR4_ENCRYPTED_HEADERS: &str = "\
526172211a0700ce997380000d00000000000000e32eab64a75c768c84474200cbcacc9f176791971b7176047333b11a\
439f1b1e763f8d09054ac09a29b3a22acb5004c04e481ca2d5f2c0934b99af893c714ca7ce372b54e13557ac3e48b582\
323500c7eb8ab77409704d4ce32eab64a75c768caa96dff0627a6e68a53a93071e2c3ae38daf32109c06fcf912a47214\
31713e0d2efc3390a4392d04822443a8de84f725bf2881375cb06aa3c308e283078d79a382233c11178b8f835d00d166\
4e3585a7e32eab64a75c768caa67d4af369677486b144d9df522eefa";
const RAR5_STORED: &str = "\
526172211a0701003392b5e50a01050600050101808000383006632c02030b9d00049d00a48302b443a0958000010e68\
656c6c6f776f726c642e7478740a03137e0eab5b56e90e1a68656c6c6f206c6962617263686976652074657374207375\
697465210a1d77565103050400";
const RAR5_UNICODE: &str = "\
526172211a070100f3e182eb0b01050700060101808080003cfd32102802030b8d00048d0020e6c6e6eb8000000cf09f\
918bf09f8c8e2e7478740a030246897856f2ebd90148656c6c6f2c20776f726c642123d98b084802031c00040d200000\
00008000001de292bde29390e293a1e2939320e29381e29398e2939de2939a2e7478740a030246897856f2ebd9011005\
04000cf09f918bf09f8c8e2e74787490d1ce476102031c000400a0080000000080000035f09d92aef09d938ef09d9382\
f09d92b7f09d919cf09d9381f09d92bef09d92b820f09d90bff09d92bef09d9383f09d93802e7478740a03021e5c7a9e\
04ecd901100502000cf09f918bf09f8c8e2e7478741d77565103050400";
const RAR5_ENCRYPTED: &str = "\
526172211a0701003392b5e50a0105060005010180800035ff321e1f02030b12041220556e5aee80000005612e747874\
0a03027c2184a3827cda01546869732069732066726f6d20612e7478747a4171b35002033c300412201845a302800300\
05622e747874300100030fc7445ee180f8b59fd62b433708bc57cdfa34df06ab5d05d49307770f1d8e8053ea35671d70\
f12d4b6b9c1a9c0a0302726598a6827cda0163ba54b2d010a5495fb4bad3c069a83b1bbcbb3827d7879378732f7c93e2\
d228c400defea6c03b7e6c67d4055000dcf88d7cf1661f02030b12041220353d9a9480000005632e7478740a03023e48\
e9ae827cda01546869732069732066726f6d20632e747874ecfdf05d5202033ca00004920020c3df631280030005642e\
747874300100030fc7445ee180f8b59fd62b433708bc57cdf3cdd6b31cb45ba77cac36588eb30e69834cd448e915ebd6\
ac77b7a30a03027bc529f48f7cda01db6972f4f6568ea6fd1965e995b336853437f52aa0d32787b2f5c10232d8aa5e1d\
77565103050400";

fn run(bytes: &[u8]) -> Unpacked {
    unpack(bytes, measure(1 << 20))
}

fn problem(out: Unpacked) -> Problem {
    out.problem.expect("a problem")
}

// ------------------------------------------------ hand-built archives (checked by 7z)

fn vint(mut value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

/// A RAR4 block: CRC16, type, flags, size, `fields`, then `data`.
fn block4(kind: u8, flags: u16, fields: &[u8], data: &[u8]) -> Vec<u8> {
    let mut head = vec![kind];
    head.extend(flags.to_le_bytes());
    head.extend(((7 + fields.len()) as u16).to_le_bytes());
    head.extend(fields);
    let mut out = (crc32(&head) as u16).to_le_bytes().to_vec();
    out.extend(head);
    out.extend(data);
    out
}

/// A RAR4 file block (Windows host, RAR 2.9) claiming `size` unpacked bytes.
fn file4(name: &str, data: &[u8], flags: u16, method: u8, size: u64) -> Vec<u8> {
    let large = if size > u64::from(u32::MAX) {
        FILE_LARGE
    } else {
        0
    };
    let mut fields = (data.len() as u32).to_le_bytes().to_vec();
    fields.extend((size as u32).to_le_bytes());
    fields.push(2);
    fields.extend(crc32(data).to_le_bytes());
    fields.extend(0x5B21_4C00u32.to_le_bytes()); // a DOS date and time
    fields.extend([29, 0x30 + method]);
    fields.extend((name.len() as u16).to_le_bytes());
    fields.extend(0x20u32.to_le_bytes());
    if large != 0 {
        fields.extend([0, 0, 0, 0]);
        fields.extend(((size >> 32) as u32).to_le_bytes());
    }
    fields.extend(name.as_bytes());
    block4(FILE4, LONG_BLOCK | flags | large, &fields, data)
}

fn archive4(main_flags: u16, blocks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = SIGNATURE4.to_vec();
    out.extend(block4(MAIN4, main_flags, &[0; 6], &[]));
    blocks.iter().for_each(|b| out.extend(b));
    out.extend(block4(END4, 0x4000, &[], &[]));
    out
}

fn stored4(members: &[(&str, &[u8])]) -> Vec<u8> {
    let files: Vec<Vec<u8>> = members
        .iter()
        .map(|(n, d)| file4(&n.replace('/', "\\"), d, 0, 0, d.len() as u64))
        .collect();
    archive4(0, &files)
}

/// A RAR5 header: CRC32, size, type, flags, [extra size], [data size], fields, extra.
fn block5(kind: u64, flags: u64, fields: &[u8], extra: &[u8], data: &[u8]) -> Vec<u8> {
    let flags = flags | if extra.is_empty() { 0 } else { HAS_EXTRA };
    let mut body = vint(kind);
    body.extend(vint(flags));
    if flags & HAS_EXTRA != 0 {
        body.extend(vint(extra.len() as u64));
    }
    if flags & HAS_DATA != 0 {
        body.extend(vint(data.len() as u64));
    }
    body.extend(fields);
    body.extend(extra);
    let mut covered = vint(body.len() as u64);
    covered.extend(body);
    let mut out = crc32(&covered).to_le_bytes().to_vec();
    out.extend(covered);
    out.extend(data);
    out
}

/// A RAR5 file header (Windows host, CRC-32 given) claiming `size` unpacked bytes.
fn file5(name: &str, data: &[u8], flags: u64, method: u64, size: u64, extra: &[u8]) -> Vec<u8> {
    let mut fields = vint(FILE5_CRC);
    fields.extend(vint(size));
    fields.extend(vint(0x20));
    fields.extend(crc32(data).to_le_bytes());
    fields.extend(vint(method << 7));
    fields.extend(vint(0));
    fields.extend(vint(name.len() as u64));
    fields.extend(name.as_bytes());
    block5(FILE5, flags | HAS_DATA, &fields, extra, data)
}

fn archive5(blocks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = SIGNATURE5.to_vec();
    out.extend(block5(MAIN5, 0, &vint(0), &[], &[]));
    blocks.iter().for_each(|b| out.extend(b));
    out.extend(block5(END5, 0, &vint(0), &[], &[]));
    out
}

fn stored5(members: &[(&str, &[u8])]) -> Vec<u8> {
    let files: Vec<Vec<u8>> = members
        .iter()
        .map(|(n, d)| file5(n, d, 0, 0, d.len() as u64, &[]))
        .collect();
    archive5(&files)
}

const NOTE: &[u8] = b"A RAR test vector for the scanner: stored, not packed.\n";
const SECOND: &[u8] = b"second file in a folder\n";
const MEMBERS: &[(&str, &[u8])] = &[("note.txt", NOTE), ("sub/b.txt", SECOND)];

/// What `7z x` gives for `member` of `archive`, or `None` when 7z is not installed.
fn seven_zip(archive: &[u8], tag: &str, member: &str) -> Option<Vec<u8>> {
    Command::new("7z").arg("i").output().ok()?;
    let path = std::env::temp_dir().join(format!("rar-test-{}-{tag}.rar", std::process::id()));
    std::fs::write(&path, archive).expect("temp file");
    let test = Command::new("7z")
        .arg("t")
        .arg(&path)
        .output()
        .expect("7z t");
    let got = Command::new("7z")
        .args(["x", "-so"])
        .arg(&path)
        .arg(member)
        .output();
    let _ = std::fs::remove_file(&path);
    assert!(test.status.success(), "7z t {tag}: {test:?}");
    let got = got.expect("7z x");
    assert!(got.status.success(), "7z x {tag}: {got:?}");
    Some(got.stdout)
}

// ------------------------------------------------ real archives

#[test]
fn rar4_stored_members_keep_their_paths() {
    let bytes = hex(RAR4_STORED);
    assert!(starts(&bytes));
    let out = run(&bytes);
    assert_eq!(out.problem, None);
    // The symlink `testlink` and the directories are skipped.
    assert_eq!(names(&out), ["test.txt", "testdir/test.txt"]);
    assert!(
        out.files
            .iter()
            .all(|(_, d)| d == b"test text document\r\n")
    );
}

#[test]
fn rar4_unicode_names_and_a_compressed_member() {
    let out = run(&hex(RAR4_UNICODE));
    assert_eq!(
        names(&out),
        [
            "表だよ/新しいフォルダ/新規テキスト ドキュメント.txt",
            "表だよ/漢字長いファイル名long-filename-in-漢字.txt"
        ]
    );
    assert_eq!(out.files[1].1, b"kanji");
    let problem = problem(out);
    assert!(problem.unsupported, "{problem:?}");
    assert_eq!(
        problem.member.as_deref(),
        Some("abcdefghijklmnopqrsテスト.txt")
    );
    assert_eq!(
        problem.why,
        "RAR compression (method 3) is not decoded here"
    );
}

#[test]
fn encrypted_members_are_named_as_such_and_the_walk_goes_on() {
    for vector in [RAR4_ENCRYPTED, RAR5_ENCRYPTED] {
        let out = run(&hex(vector));
        assert_eq!(names(&out), ["a.txt", "c.txt"]);
        assert_eq!(out.files[1].1, b"This is from c.txt");
        assert_eq!(out.encrypted, ["b.txt", "d.txt"]);
        assert_eq!(out.problem, None);
    }
}

#[test]
fn encrypted_headers_are_one_encrypted_member() {
    let crypt = block5(
        CRYPT5,
        0,
        &[0, 0, 15]
            .iter()
            .chain(&[7; 16])
            .copied()
            .collect::<Vec<_>>(),
        &[],
        &[],
    );
    let mut rar5 = SIGNATURE5.to_vec();
    rar5.extend(crypt);
    rar5.extend([0x5A; 48]); // what would be encrypted headers
    for bytes in [hex(RAR4_ENCRYPTED_HEADERS), rar5] {
        assert!(starts(&bytes));
        let out = run(&bytes);
        assert!(out.files.is_empty());
        assert_eq!(out.encrypted, ["(headers)"]);
        assert_eq!(out.problem, None);
    }
}

#[test]
fn rar5_stored_member() {
    let bytes = hex(RAR5_STORED);
    assert!(starts(&bytes));
    let out = run(&bytes);
    assert_eq!(out.problem, None);
    assert_eq!(
        out.files,
        vec![(
            "helloworld.txt".to_string(),
            b"hello libarchive test suite!\n".to_vec()
        )]
    );
}

#[test]
fn rar5_unicode_names_and_links_skipped() {
    let out = run(&hex(RAR5_UNICODE));
    assert_eq!(out.problem, None);
    assert_eq!(
        out.files,
        vec![("👋🌎.txt".to_string(), b"Hello, world!".to_vec())]
    );
}

// ------------------------------------------------ hand-built archives

#[test]
fn built_archives_read_as_7z_reads_them() {
    for (tag, bytes) in [("v4", stored4(MEMBERS)), ("v5", stored5(MEMBERS))] {
        assert!(starts(&bytes), "{tag}");
        let out = run(&bytes);
        assert_eq!(out.problem, None, "{tag}");
        let want: Vec<(String, Vec<u8>)> = MEMBERS
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_vec()))
            .collect();
        assert_eq!(out.files, want, "{tag}");
        for (name, data) in MEMBERS {
            if let Some(got) = seven_zip(&bytes, tag, name) {
                assert_eq!(&got, data, "7z on {tag} {name}");
            }
        }
    }
}

#[test]
fn compressed_members_are_unsupported_and_the_walk_goes_on() {
    let rar4 = archive4(
        0,
        &[
            file4("packed.bin", b"\x0c\x33\x99", 0, 5, 40),
            file4("note.txt", NOTE, 0, 0, NOTE.len() as u64),
        ],
    );
    let rar5 = archive5(&[
        file5("packed.bin", b"\x0c\x33\x99", 0, 3, 40, &[]),
        file5("note.txt", NOTE, 0, 0, NOTE.len() as u64, &[]),
    ]);
    for (bytes, method) in [(rar4, 5), (rar5, 3)] {
        let out = run(&bytes);
        assert_eq!(names(&out), ["note.txt"]);
        let problem = problem(out);
        assert!(problem.unsupported, "{problem:?}");
        assert_eq!(problem.member.as_deref(), Some("packed.bin"));
        assert_eq!(
            problem.why,
            format!("RAR compression (method {method}) is not decoded here")
        );
    }
}

#[test]
fn split_members_are_unsupported() {
    let rar4 = archive4(0, &[file4("part.bin", NOTE, 0x02, 0, 1000)]);
    let rar5 = archive5(&[file5("part.bin", NOTE, 0x10, 0, 1000, &[])]);
    for bytes in [rar4, rar5] {
        let problem = problem(run(&bytes));
        assert!(
            problem.unsupported && problem.why.contains("split"),
            "{problem:?}"
        );
    }
}

#[test]
fn directories_service_blocks_and_sub_blocks_are_skipped() {
    let mut dir_fields = vint(FILE5_DIRECTORY);
    dir_fields.extend([0, 0x10, 0, 0, 3]);
    dir_fields.extend(b"sub");
    // A stored comment service header (CMT), as RAR 5 writes archive comments.
    let comment = {
        let mut fields = vint(0);
        fields.extend([12, 0, 0, 0, 3]);
        fields.extend(b"CMT");
        block5(3, HAS_DATA, &fields, &[], b"comment text")
    };
    let rar5 = archive5(&[
        block5(FILE5, 0, &dir_fields, &[], &[]),
        comment,
        file5("sub/b.txt", SECOND, 0, 0, 24, &[]),
    ]);
    let sub = block4(0x77, LONG_BLOCK, &[5, 0, 0, 0, 0x00, 0x01, 0], b"owner");
    let service = block4(SERVICE4, LONG_BLOCK, &[0; 25], b"");
    let rar4 = archive4(
        0,
        &[
            file4("sub", &[], FILE_DIRECTORY, 0, 0),
            sub,
            service,
            file4("sub\\b.txt", SECOND, 0, 0, 24),
        ],
    );
    for bytes in [rar5, rar4] {
        let out = run(&bytes);
        assert_eq!(out.problem, None);
        assert_eq!(out.files, vec![("sub/b.txt".to_string(), SECOND.to_vec())]);
    }
}

#[test]
fn a_data_crc_mismatch_is_broken_but_the_bytes_are_kept() {
    for mut bytes in [stored4(MEMBERS), stored5(MEMBERS)] {
        let at = bytes
            .windows(NOTE.len())
            .position(|w| w == NOTE)
            .unwrap_or(0);
        bytes[at] ^= 0x20;
        let out = run(&bytes);
        assert_eq!(out.files.len(), 2, "the walk goes on");
        assert_eq!(out.files[0].1[1..], NOTE[1..]);
        let problem = problem(out);
        assert!(
            !problem.unsupported && problem.why.contains("CRC-32"),
            "{problem:?}"
        );
        assert_eq!(problem.member.as_deref(), Some("note.txt"));
    }
}

#[test]
fn a_header_crc_mismatch_is_broken() {
    for (mut bytes, main_at) in [(stored4(MEMBERS), 7), (stored5(MEMBERS), 8)] {
        let at = bytes.windows(4).rposition(|w| w == b"b.tx").unwrap_or(0);
        bytes[at] = b'c';
        let out = run(&bytes);
        assert_eq!(names(&out), ["note.txt", "sub/c.txt"]);
        let problem = problem(out);
        assert!(problem.why.contains("header fails its CRC"), "{problem:?}");
        bytes[main_at] ^= 1; // the main header's CRC
        assert!(!starts(&bytes));
    }
}

#[test]
fn a_huge_size_stops_at_the_cap() {
    let rar4 = archive4(0, &[file4("big.bin", NOTE, 0, 0, 1 << 40)]);
    let rar5 = archive5(&[file5("big.bin", NOTE, 0, 0, 1 << 50, &[])]);
    let mut long5 = rar5.clone();
    let at = long5.len() - NOTE.len() - 7;
    long5.truncate(at); // the data area claimed runs far past the input
    for bytes in [rar4, rar5, long5] {
        let out = run(&bytes);
        assert!(out.files.is_empty());
        assert!(problem(out).why.contains("cap"));
    }
    let out = unpack(&stored5(MEMBERS), measure(60));
    assert_eq!(names(&out), ["note.txt"]);
    assert!(problem(out).why.contains("cap"));
}

#[test]
fn a_cut_member_keeps_what_is_there() {
    let bytes = stored4(MEMBERS);
    let at = bytes.windows(4).position(|w| w == b"A RA").unwrap_or(0) + 10;
    let out = run(&bytes[..at]);
    assert_eq!(
        out.files,
        vec![("note.txt".to_string(), b"A RAR test".to_vec())]
    );
    assert!(problem(out).why.contains("cut short"));
}

#[test]
fn a_passed_deadline_stops_the_walk() {
    for bytes in [stored4(MEMBERS), stored5(MEMBERS)] {
        assert!(problem(unpack(&bytes, expired())).why.contains("time"));
    }
}

#[test]
fn other_bytes_do_not_start_an_archive() {
    assert!(!starts(b""));
    assert!(!starts(MAGIC));
    assert!(!starts(b"MZ\x90\x00"));
    assert!(!starts(b"Rar!\x1a\x07\x02\x00\x00\x00\x00"));
    let rar4 = stored4(MEMBERS);
    assert!(!starts(&rar4[7 + 13..]), "a file block is no archive");
    assert!(run(b"Rar!\x1a\x07").problem.is_some());
    assert!(run(b"PK\x03\x04").problem.is_some());
}

#[test]
fn an_sfx_is_found_by_its_magic() {
    let mut exe = b"MZ\x90\x00".to_vec();
    exe.extend([0u8; 200]);
    exe.extend(stored5(MEMBERS));
    let at = exe
        .windows(MAGIC.len())
        .position(|w| w == MAGIC)
        .expect("magic")
        - MAGIC_AT;
    assert!(starts(&exe[at..]));
    assert_eq!(run(&exe[at..]).files.len(), 2);
}

#[test]
fn vints_and_wide_names_are_read_with_their_bounds() {
    assert_eq!(Reader::new(&[0x80, 0x80, 0x01]).vint(), Some(1 << 14));
    assert_eq!(
        Reader::new(&[0xFF; 9].iter().chain(&[0x01]).copied().collect::<Vec<_>>()).vint(),
        Some(u64::MAX)
    );
    assert_eq!(
        Reader::new(&[0xFF; 9].iter().chain(&[0x02]).copied().collect::<Vec<_>>()).vint(),
        None
    );
    assert_eq!(Reader::new(&[0x80; 11]).vint(), None);
    assert_eq!(Reader::new(&[0x80, 0x80]).vint(), None);
    assert_eq!(Reader::new(&[0x80, 0x80, 0x80, 0x01]).vint_within(3), None);
    // High byte 0x30; codes 1 (0xC8 under it: 'ト'), 0 ('.'), 2 and 2 (U+1F30E's halves),
    // then 3: a run of 2 from the 8-bit name.
    let coded = [
        0x30,
        0b0100_1010,
        0xC8,
        b'.',
        0x3C,
        0xD8,
        0x0E,
        0xDF,
        0b1100_0000,
        0x00,
    ];
    let plain = b"?.??ab";
    assert_eq!(decode_wide_name(plain, &coded), "\u{30C8}.\u{1F30E}ab");
    assert_eq!(name4(b"dir\\a.txt", false), "dir/a.txt");
    assert_eq!(name4(b"", true), "");
}

// ------------------------------------------------ hostile input

/// The offsets where RAR4 blocks of `bytes` end: a prefix cut there is an archive
/// without its (optional) end block.
fn block_ends4(bytes: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = SIGNATURE4.len();
    while let Ok(block) = Block4::read(bytes, at) {
        match next_block(bytes, block.data_at, block.data_len) {
            Some(next) if next > at => at = next,
            _ => break,
        }
        ends.push(at);
    }
    ends
}

#[test]
fn every_prefix_is_a_problem_not_a_panic() {
    for vector in [
        RAR4_STORED,
        RAR4_UNICODE,
        RAR5_STORED,
        RAR5_UNICODE,
        RAR5_ENCRYPTED,
    ] {
        let bytes = hex(vector);
        let ends = block_ends4(&bytes);
        every_prefix(&bytes, |end, prefix| {
            let out = run(prefix);
            assert!(out.problem.is_some() || ends.contains(&end), "prefix {end}");
        });
    }
}

#[test]
fn every_bit_flip_finishes() {
    for bytes in [hex(RAR4_STORED), hex(RAR5_UNICODE), stored5(MEMBERS)] {
        flips(&bytes, every_bit(bytes.len()), |flipped| {
            let _ = starts(flipped);
            let _ = run(flipped);
        });
    }
}

#[test]
fn random_mutations_finish_fast() {
    let vectors = [
        hex(RAR4_UNICODE),
        hex(RAR4_ENCRYPTED),
        hex(RAR5_ENCRYPTED),
        stored4(MEMBERS),
    ];
    let edit = |rng: &mut XorShift, bytes: &mut Vec<u8>, _| {
        for _ in 0..1 + rng.next() % 8 {
            let at = rng.below(bytes.len());
            match rng.next() % 3 {
                0 => bytes[at] = rng.byte(),
                1 => bytes[at] ^= 0x80,
                _ => bytes.truncate(at.max(8)),
            }
        }
    };
    within(Duration::from_secs(20), || {
        mutations(&vectors, SEED, 3000, edit, |bytes| {
            let _ = starts(bytes);
            survives(unpack, bytes, 1 << 16, Duration::from_secs(20));
        });
    });
}

// ------------------------------------------------ the real sample

#[test]
fn clam_exe_stored_in_both_versions_agrees_with_7z() {
    let Ok(clam) = std::fs::read("/usr/share/clamav-testfiles/clam.exe") else {
        return;
    };
    let rar4 = stored4(&[("clam.exe", &clam)]);
    let rar5 = stored5(&[("clam.exe", &clam)]);
    for (tag, bytes) in [("clam4", rar4), ("clam5", rar5)] {
        let out = run(&bytes);
        assert_eq!(out.problem, None, "{tag}");
        assert_eq!(
            out.files,
            vec![("clam.exe".to_string(), clam.clone())],
            "{tag}"
        );
        if let Some(got) = seven_zip(&bytes, tag, "clam.exe") {
            assert_eq!(got, clam, "7z on {tag}");
        }
    }
}

#[test]
fn eicar_stored_in_an_archive_and_a_self_extractor_is_found_by_the_walk() {
    use crate::inspect::tests::{EICAR, labels, limits, look};
    for archive in [
        stored4(&[("eicar.com", EICAR)]),
        stored5(&[("eicar.com", EICAR)]),
    ] {
        let found = look(&archive, "x.rar", &limits());
        assert_eq!(
            labels(&found),
            ["x.rar>eicar.com:EICAR_Test_File"],
            "{found:?}"
        );
        let sfx = [b"MZ".as_slice(), &[0; 100], &archive].concat();
        let found = look(&sfx, "setup.exe", &limits());
        assert_eq!(
            labels(&found),
            ["setup.exe>@102.rar>eicar.com:EICAR_Test_File"],
            "{found:?}"
        );
    }
}

#[test]
fn a_compressed_member_is_unscannable_and_an_encrypted_one_as_set() {
    use crate::inspect::tests::{limits, look, unscannable_reason};
    let why = unscannable_reason(look(&hex(RAR4_UNICODE), "x.rar", &limits()));
    assert!(why.contains("is not decoded here"), "{why}");
    let why = unscannable_reason(look(&hex(RAR5_ENCRYPTED), "y.rar", &limits()));
    assert!(why.contains("encrypted member y.rar>b.txt"), "{why}");
}
