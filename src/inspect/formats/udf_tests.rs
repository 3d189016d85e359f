//! The UDF walker against a genisoimage bridge image and hand-built images at every block size, damage and the cap.

use super::*;
use crate::inspect::formats::decoder_tests::{
    SEED, XorShift, a_bit_of, every_prefix, expired, flips, hex, measure, mutations, names,
    survives,
};
use std::time::{Duration, Instant};

/// `genisoimage -udf -V X -sysid X` of a directory holding `hello.txt` ("hello udf\n"): a
/// UDF 1.02 bridge. Its non-zero bytes (sector, offset, bytes) in the VRS, the main volume
/// descriptor sequence, the anchor and the partition; ISO 9660's descriptors are cut to
/// their identifiers, and the reserve sequence, integrity descriptor and the ISO 9660
/// directories are left out.
const GENISOIMAGE: &[(usize, usize, &str)] = &[
    (16, 0, "01434430303101"),
    (17, 0, "ff434430303101"),
    (18, 1, "424541303101"),
    (19, 1, "4e5352303201"),
    (20, 1, "544541303101"),
    (32, 0, "010002006a0000005ef8f00120"),
    (32, 24, "0858"),
    (
        32,
        55,
        "020100010002000200010000000100000008364231353041353730303030",
    ),
    (32, 85, "30443043"),
    (
        32,
        199,
        "11004f53544120436f6d7072657373656420556e69636f6465",
    ),
    (32, 265, "4f53544120436f6d7072657373656420556e69636f6465"),
    (32, 377, "10ea070c06070a0f000000002a67656e69736f696d616765"),
    (
        33,
        0,
        "04000200ef0000008651f0012100000001000000002a554446204c562049",
    ),
    (33, 30, "6e666f"),
    (33, 44, "0201"),
    (33, 53, "4f53544120436f6d7072657373656420556e69636f6465"),
    (33, 116, "0858"),
    (33, 243, "02"),
    (33, 353, "2a67656e69736f696d616765"),
    (
        34,
        0,
        "05000200c20000008a1ef001220000000200000001000000022b4e535230",
    ),
    (34, 30, "32"),
    (
        34,
        184,
        "01000000010100000c000000002a67656e69736f696d616765",
    ),
    (
        35,
        0,
        "060002000e00000045efae012300000003000000004f53544120436f6d70",
    ),
    (35, 30, "72657373656420556e69636f6465"),
    (35, 84, "0858"),
    (
        35,
        211,
        "0200080000002a4f5354412055444620436f6d706c69616e740000000002",
    ),
    (35, 241, "010300000000000010"),
    (35, 264, "0600000001000000002a67656e69736f696d616765"),
    (35, 433, "10000040000000010601"),
    (36, 0, "07000200b10000006d0f08002400000004"),
    (37, 0, "08000200200000000000f00125"),
    (
        256,
        0,
        "02000200ce00000001d7f0010001000000800000200000000080000030",
    ),
    (
        257,
        1,
        "0102002b0000000235f001000000000010ea070c06070a0f000000030003",
    ),
    (257, 31, "000100000001"),
    (257, 49, "4f53544120436f6d7072657373656420556e69636f6465"),
    (257, 112, "0858"),
    (
        257,
        239,
        "02004f53544120436f6d7072657373656420556e69636f6465",
    ),
    (257, 304, "0858"),
    (257, 335, "02"),
    (257, 401, "08000002"),
    (
        257,
        417,
        "2a4f5354412055444620436f6d706c69616e7400000000020103",
    ),
    (258, 0, "08000200fc0000000000f00101"),
    (259, 0, "0501020043000000b2dfa80002"),
    (
        259,
        20,
        "04000000010000040000000000003002ffffffffffffffffa514000001",
    ),
    (259, 56, "58"),
    (259, 64, "01"),
    (
        259,
        73,
        "10ea070c06070a0f0000000010ea070c06070a0f0000000010ea070c0607",
    ),
    (259, 103, "0a0f00000001"),
    (259, 129, "2a67656e69736f696d616765"),
    (259, 172, "080000005800000003"),
    (260, 0, "01010200c8000000476218000300000001000a000008000002"),
    (
        260,
        40,
        "010102008b0000004d172000030000000100000a0008000004",
    ),
    (260, 72, "0501000000000868656c6c6f2e747874"),
    (261, 0, "05010200cb000000fe19a80004"),
    (
        261,
        20,
        "04000000010000050000000000003002ffffffffffffffff8410000001",
    ),
    (261, 56, "0a"),
    (261, 64, "01"),
    (
        261,
        73,
        "10ea070c06070a0f0000000010ea070c06070a0f0000000010ea070c0607",
    ),
    (261, 103, "0a0f00000001"),
    (261, 129, "2a67656e69736f696d616765"),
    (261, 160, "0501"),
    (261, 172, "080000000a0000000a"),
    (267, 0, "68656c6c6f207564660a"),
    (
        268,
        0,
        "02000200da00000001d7f0010c01000000800000200000000080000030",
    ),
];

fn genisoimage() -> Vec<u8> {
    let mut image = vec![0; 269 * 2048];
    for (sector, at, text) in GENISOIMAGE {
        let bytes = hex(text);
        let start = sector * 2048 + at;
        image[start..start + bytes.len()].copy_from_slice(&bytes);
    }
    image
}

#[test]
fn a_genisoimage_bridge_is_read() {
    let image = genisoimage();
    assert!(starts(&image));
    let u = unpack(&image, measure(1 << 20));
    assert_eq!(u.problem, None);
    assert_eq!(names(&u), ["hello.txt"]);
    assert_eq!(u.files[0].1, b"hello udf\n");
}

// The other vectors are built here (no tool at hand writes files into a UDF-only image
// without mounting it); written out, 7-Zip lists and extracts them the same.

fn le16(v: u16) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

fn le32(v: u32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// A descriptor of `size` bytes: `fields` at their offsets, under a tag with
/// identifier `id` and location `location`, its checksum and CRC.
fn descriptor(id: u16, location: u32, size: usize, fields: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let mut d = vec![0; size];
    for (at, field) in fields {
        d[*at..at + field.len()].copy_from_slice(field);
    }
    d[0..2].copy_from_slice(&id.to_le_bytes());
    d[2..4].copy_from_slice(&3u16.to_le_bytes());
    d[6..8].copy_from_slice(&1u16.to_le_bytes());
    let crc = crc(&d[16..]);
    d[8..10].copy_from_slice(&crc.to_le_bytes());
    d[10..12].copy_from_slice(&(size as u16 - 16).to_le_bytes());
    d[12..16].copy_from_slice(&location.to_le_bytes());
    d[4] = d[..16].iter().fold(0u8, |s, b| s.wrapping_add(*b));
    d
}

fn short(length: u32, kind: u32, block: u32) -> Vec<u8> {
    [le32(length | kind << 30), le32(block)].concat()
}

fn long(length: u32, kind: u32, block: u32, part: u16) -> Vec<u8> {
    [short(length, kind, block), le16(part), vec![0; 6]].concat()
}

/// A file entry (or extended one): file type, allocation descriptor kind, length, the
/// descriptors' area.
fn entry(extended: bool, kind: u8, ads: u16, size: u64, area: &[u8]) -> Vec<u8> {
    let (id, lengths) = if extended { (266, 208) } else { (261, 168) };
    let fields = [
        (20, le16(4)),
        (27, vec![kind]),
        (34, le16(ads)),
        (56, size.to_le_bytes().to_vec()),
        (lengths + 4, le32(area.len() as u32)),
        (lengths + 8, area.to_vec()),
    ];
    descriptor(id, 0, lengths + 8 + area.len(), &fields)
}

fn file(size: u64, ads: u16, area: &[u8]) -> Vec<u8> {
    entry(false, 5, ads, size, area)
}

/// A file identifier: characteristics, the name in compressed Unicode, the ICB (a block
/// of `size` bytes).
fn identifier(size: u32, characteristics: u8, name: &[u8], block: u32, part: u16) -> Vec<u8> {
    let fields = [
        (16, le16(1)),
        (18, vec![characteristics]),
        (19, vec![name.len() as u8]),
        (20, long(size, 0, block, part)),
        (38, name.to_vec()),
    ];
    descriptor(257, 0, (38 + name.len()).next_multiple_of(4), &fields)
}

fn utf16(text: &str) -> Vec<u8> {
    let units = text.encode_utf16().flat_map(u16::to_be_bytes);
    [16].into_iter().chain(units).collect()
}

/// The first block of partition 0.
const START: usize = 260;

/// A UDF-only image of `block`-byte blocks: the VRS, the anchor, a main volume descriptor
/// sequence (partition 0 at block 260, a logical volume with `maps`, its file set at
/// `file_set`), and `blocks` (block number, bytes) of partition 0.
fn image(block: usize, maps: &[&[u8]], file_set: (u32, u16), blocks: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let last = blocks.iter().map(|b| b.0 as usize).max().unwrap_or(0);
    // The image ends with another anchor, as UDF asks.
    let end = START + last + 1;
    let mut image = vec![0; (end + 1) * block];
    for (i, id) in [b"BEA01", b"NSR03", b"TEA01"].into_iter().enumerate() {
        image[VRS_AT + 2048 * i + 1..][..6].copy_from_slice(&[id.as_slice(), &[1]].concat());
    }
    // The sequence is after the VRS; the reserve one is the same.
    let (vds, length) = (81920 / block, le32(16 * block as u32));
    let at = le32(vds as u32);
    let anchor = [
        (16, length.clone()),
        (20, at.clone()),
        (24, length),
        (28, at),
    ];
    let partition = [(22, le16(0)), (188, le32(START as u32)), (192, le32(64))];
    let table: Vec<u8> = maps.concat();
    let logical = [
        (212, le32(block as u32)),
        (248, long(block as u32, 0, file_set.0, file_set.1)),
        (264, le32(table.len() as u32)),
        (268, le32(maps.len() as u32)),
        (440, table.clone()),
    ];
    let mut put =
        |at: usize, bytes: Vec<u8>| image[at * block..][..bytes.len()].copy_from_slice(&bytes);
    put(256, descriptor(2, 256, 512, &anchor));
    put(end, descriptor(2, end as u32, 512, &anchor));
    put(vds, descriptor(5, vds as u32, 512, &partition));
    put(
        vds + 1,
        descriptor(6, vds as u32 + 1, 440 + table.len(), &logical),
    );
    put(vds + 2, descriptor(8, vds as u32 + 2, 512, &[]));
    for (at, bytes) in blocks {
        put(START + *at as usize, bytes.clone());
    }
    image
}

/// Partition map type 1, of partition 0.
const PHYSICAL: &[u8] = &[1, 6, 1, 0, 0, 0];

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 13 % 256) as u8).collect()
}

/// Every variant on a physical partition: a file entry with short descriptors, an
/// extended one with long descriptors and an unrecorded extent under a 16-bit name, a
/// directory and a file embedded in their entries, a list of descriptors going on in an
/// allocation extent; a deleted entry. `hello.txt` claims `hello` bytes.
fn variants(block: usize, hello: u64) -> Vec<u8> {
    let b = block as u32;
    let root = [
        identifier(b, 0x0A, &[], 1, 0),
        identifier(b, 0, b"\x08hello.txt", 3, 0),
        identifier(b, 0, &utf16("Ünï€.txt"), 5, 0),
        identifier(b, 0x04, b"\x08gone.txt", 3, 0),
        identifier(b, 0x02, b"\x08sub", 7, 0),
        identifier(b, 0, b"\x08chain.bin", 9, 0),
    ]
    .concat();
    let sub = [
        identifier(b, 0x0A, &[], 1, 0),
        identifier(b, 0, b"\x08inner.txt", 8, 0),
    ]
    .concat();
    let unicode = [long(17, 0, 6, 0), long(100, 1, 0, 0)].concat();
    let chain = [short(b, 0, 11), short(300, 0, 12)].concat();
    let chain = descriptor(258, 10, 24 + chain.len(), &[(20, le32(16)), (24, chain)]);
    let blocks = [
        (0, descriptor(256, 0, 512, &[(400, long(b, 0, 1, 0))])),
        (
            1,
            entry(
                false,
                4,
                0,
                root.len() as u64,
                &short(root.len() as u32, 0, 2),
            ),
        ),
        (2, root),
        (3, file(hello, 0, &short(10, 0, 4))),
        (4, b"hello udf\n".to_vec()),
        (5, entry(true, 5, 1, 117, &unicode)),
        (6, b"sixteen-bit name\n".to_vec()),
        (7, entry(false, 4, 3, sub.len() as u64, &sub)),
        (8, file(12, 3, b"nested file\n")),
        (9, file(block as u64 + 300, 0, &short(b, 3, 10))),
        (10, chain),
        (11, pattern(block)),
        (12, pattern(300)),
    ];
    image(block, &[PHYSICAL], (0, 0), &blocks)
}

fn check_variants(u: &Unpacked, block: usize) {
    assert_eq!(u.problem, None);
    let expected = ["hello.txt", "Ünï€.txt", "chain.bin", "sub/inner.txt"];
    assert_eq!(names(u), expected);
    assert_eq!(u.files[0].1, b"hello udf\n");
    let unicode = [b"sixteen-bit name\n".as_slice(), &[0; 100]].concat();
    assert_eq!(u.files[1].1, unicode);
    assert_eq!(u.files[2].1, [pattern(block), pattern(300)].concat());
    assert_eq!(u.files[3].1, b"nested file\n");
}

#[test]
fn every_variant_is_read_in_every_block_size() {
    for block in BLOCK_SIZES {
        let image = variants(block, 10);
        assert!(starts(&image), "{block}");
        check_variants(&unpack(&image, measure(1 << 20)), block);
    }
}

/// A UDF 2.50 image whose directories and entries are in a metadata partition: its file
/// (at block 2, mirror at 3) in one run, blocks 10 to 14, or `split` in two, blocks 10 and
/// 11, then 20 to 22 (7-Zip reads only the first).
fn metadata(split: bool) -> Vec<u8> {
    let b = 512;
    let mut map = vec![2, 64, 0, 0, 0];
    map.extend(b"*UDF Metadata Partition");
    map.resize(36, 0);
    map.extend([le16(1), le16(0), le32(2), le32(3), le32(u32::MAX), le32(32)].concat());
    map.resize(64, 0);
    let root = [
        identifier(b, 0x0A, &[], 1, 1),
        identifier(b, 0, b"\x08meta.txt", 3, 1),
    ]
    .concat();
    let (runs, at) = match split {
        true => (
            [short(2 * b, 0, 10), short(3 * b, 0, 20)].concat(),
            [10, 11, 20, 21],
        ),
        false => (short(5 * b, 0, 10), [10, 11, 12, 13]),
    };
    let directory = entry(
        false,
        4,
        0,
        root.len() as u64,
        &short(root.len() as u32, 0, 2),
    );
    let blocks = [
        (2, entry(false, 250, 0, 5 * 512, &runs)),
        (at[0], descriptor(256, 0, 512, &[(400, long(b, 0, 1, 1))])),
        (at[1], directory),
        (at[2], root),
        (at[3], entry(true, 5, 1, 24, &long(24, 0, 24, 0))),
        (24, b"in a metadata partition\n".to_vec()),
    ];
    image(512, &[PHYSICAL, &map], (0, 1), &blocks)
}

#[test]
fn a_metadata_partition_is_read_through_its_file() {
    for split in [false, true] {
        let u = unpack(&metadata(split), measure(1 << 20));
        assert_eq!(u.problem, None);
        assert_eq!(names(&u), ["meta.txt"]);
        assert_eq!(u.files[0].1, b"in a metadata partition\n");
    }
    // The main metadata file gone, its mirror serves.
    let mut image = metadata(true);
    image.copy_within((START + 2) * 512..(START + 3) * 512, (START + 3) * 512);
    image[(START + 2) * 512] ^= 1;
    assert_eq!(unpack(&image, measure(1 << 20)).files.len(), 1);
}

#[test]
fn a_virtual_partition_is_unsupported() {
    let mut map = vec![2, 64, 0, 0, 0];
    map.extend(b"*UDF Virtual Partition");
    map.resize(64, 0);
    let image = image(2048, &[PHYSICAL, &map], (0, 1), &[]);
    let problem = unpack(&image, measure(1 << 20)).problem.expect("a problem");
    assert!(problem.unsupported, "{problem:?}");
    assert!(problem.why.contains("Virtual"), "{}", problem.why);
}

#[test]
fn the_tag_crc_is_that_of_ecma_167() {
    // ECMA-167 3/7.2.6: the CRC of the bytes 70 6A 77 is 3299.
    assert_eq!(crc(&[0x70, 0x6A, 0x77]), 0x3299);
}

#[test]
fn starts_only_with_an_nsr_descriptor_and_an_anchor() {
    let image = variants(2048, 10);
    let mut other = image.clone();
    other[VRS_AT + 2048 + 4] = b'1';
    assert!(!starts(&other));
    let mut other = image.clone();
    other[256 * 2048 + 12] = 1;
    assert!(!starts(&other));
    assert!(!starts(&image[..256 * 2048 + 100]));
    assert_eq!(&image[VRS_AT + 1..VRS_AT + 6], b"BEA01");
}

#[test]
fn a_bad_checksum_or_crc_is_damage() {
    let at = (START + 3) * 2048;
    for flip in [4, 100] {
        let mut image = variants(2048, 10);
        image[at + flip] ^= 0x10;
        let u = unpack(&image, measure(1 << 20));
        assert_eq!(names(&u), ["Ünï€.txt", "chain.bin", "sub/inner.txt"]);
        let problem = u.problem.expect("a problem");
        assert_eq!(problem.member.as_deref(), Some("hello.txt"));
        assert!(problem.why.contains("no file entry"), "{}", problem.why);
    }
}

#[test]
fn a_file_past_the_end_keeps_the_others() {
    let image = variants(2048, 10);
    let u = unpack(&image[..(START + 12) * 2048], measure(1 << 20));
    assert_eq!(
        names(&u),
        ["hello.txt", "Ünï€.txt", "chain.bin", "sub/inner.txt"]
    );
    assert_eq!(u.files[2].1, pattern(2048));
    let problem = u.problem.expect("a problem");
    assert_eq!(problem.member.as_deref(), Some("chain.bin"));
    assert!(problem.why.contains("past the end"), "{}", problem.why);
}

#[test]
fn a_huge_claimed_size_stops_at_the_cap() {
    let start = Instant::now();
    let u = unpack(&variants(2048, u64::MAX / 2), measure(1 << 16));
    assert!(u.files.is_empty());
    let problem = u.problem.expect("a problem");
    assert_eq!(problem.member.as_deref(), Some("hello.txt"));
    assert!(problem.why.contains("cap"), "{}", problem.why);
    // Unrecorded extents claim no bytes of the image: still only up to the cap.
    let u = unpack(&variants(2048, 10), measure(2000));
    assert_eq!(names(&u), ["hello.txt", "Ünï€.txt"]);
    assert!(u.problem.expect("a problem").why.contains("cap"));
    assert!(start.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_loop_of_directories_is_walked_once() {
    let b = 2048;
    let root = [
        identifier(b, 0x0A, &[], 1, 0),
        identifier(b, 0x02, b"\x08again", 1, 0),
    ]
    .concat();
    let blocks = [
        (0, descriptor(256, 0, 512, &[(400, long(2048, 0, 1, 0))])),
        (1, entry(false, 4, 3, root.len() as u64, &root)),
    ];
    let u = unpack(&image(2048, &[PHYSICAL], (0, 0), &blocks), measure(1 << 20));
    assert!(u.files.is_empty());
    assert_eq!(u.problem, None);
}

#[test]
fn names_are_made_safe() {
    assert_eq!(name(b"\x08a/b\x01"), "a_b_");
    assert_eq!(name(b"\x08.."), "_..");
    assert_eq!(name(b""), "_");
    assert_eq!(name(&[16, 0xD8, 0x00, 0, b'x']), "\u{FFFD}x");
    assert_eq!(name(&utf16("日本.txt")), "日本.txt");
}

#[test]
fn a_passed_deadline_stops_with_a_problem() {
    let u = unpack(&variants(2048, 10), expired());
    assert!(u.files.is_empty());
    assert!(u.problem.expect("a problem").why.contains("time"));
}

/// Unpacks `bytes` within a second and the cap, whatever they are.
fn check(bytes: &[u8]) {
    survives(unpack, bytes, 1 << 16, Duration::from_secs(1));
}

fn vectors() -> [Vec<u8>; 2] {
    [variants(512, 10), metadata(true)]
}

#[test]
fn every_prefix_is_read_without_panic() {
    for vector in vectors() {
        every_prefix(&vector, |_, prefix| check(prefix));
    }
}

/// The offsets of the blocks (of 512 bytes) holding something.
fn written(vector: &[u8]) -> Vec<usize> {
    let blocks = vector.chunks(512).enumerate();
    let used = blocks.filter(|(_, b)| b.iter().any(|&x| x != 0));
    used.flat_map(|(i, _)| i * 512..(i + 1) * 512).collect()
}

#[test]
fn bit_flips_are_read_without_panic() {
    for vector in vectors() {
        flips(&vector, a_bit_of(written(&vector)), check);
    }
}

#[test]
fn random_mutations_are_read_without_panic() {
    let vectors = vectors();
    let places = vectors.clone().map(|v| written(&v));
    let edit = |rng: &mut XorShift, bytes: &mut Vec<u8>, case: usize| {
        let places = &places[case % 2];
        rng.edit(bytes, |rng, _| places[rng.below(places.len())]);
    };
    mutations(&vectors, SEED, 3000, edit, check);
}

/// Writes the vectors out, for 7-Zip to check: `UDF_VECTORS=dir cargo test -- write`.
#[test]
fn write_vectors() {
    let Ok(dir) = std::env::var("UDF_VECTORS") else {
        return;
    };
    let [v512, meta] = vectors();
    for (name, bytes) in [
        ("variants2048.img", variants(2048, 10)),
        ("variants512.img", v512),
        ("metadata.img", metadata(false)),
        ("metadata-split.img", meta),
        ("genisoimage.iso", genisoimage()),
    ] {
        std::fs::write(format!("{dir}/{name}"), bytes).expect("written");
    }
}

#[test]
fn eicar_in_an_image_is_found_by_the_walk() {
    use crate::inspect::tests::{EICAR, labels, limits, look};
    let b = 2048u32;
    let root = [
        identifier(b, 0x0A, &[], 1, 0),
        identifier(b, 0, b"\x08eicar.com", 3, 0),
    ]
    .concat();
    let blocks = [
        (0, descriptor(256, 0, 512, &[(400, long(b, 0, 1, 0))])),
        (
            1,
            entry(
                false,
                4,
                0,
                root.len() as u64,
                &short(root.len() as u32, 0, 2),
            ),
        ),
        (2, root),
        (3, file(EICAR.len() as u64, 3, EICAR)),
    ];
    let found = look(
        &image(2048, &[PHYSICAL], (0, 0), &blocks),
        "x.img",
        &limits(),
    );
    assert_eq!(
        labels(&found),
        ["x.img>eicar.com:EICAR_Test_File"],
        "{found:?}"
    );
}
