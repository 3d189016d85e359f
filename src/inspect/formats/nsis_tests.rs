//! The NSIS decoder against installers makensis 3.08 made, hand-built blocks, damage and the cap.

use super::*;
use crate::inspect::formats::decoder_tests::{
    SEED, XorShift, every_bit, every_prefix, expired, flips, hex, measure, mutations, names,
    survives,
};
use std::io::Write;
use std::time::Duration;

// Installers built by makensis from a script that installs one file, `t.txt` (see
// `text()`), silently; all but ZLIB with `CRCCheck off` (no CRC after the data).
/// `makensis` 3.08, `SetCompressor /FINAL zlib`: the overlay from the first header on.
const ZLIB: &str = concat!(
    "02000000efbeadde4e756c6c736f6674496e7374a40d0000b002000025020080ed563d6f1341107d4e4861903b4a8a43",
    "8a44811311a040691072429414214a28dd5cec339cf0c7e96c03e99c48487449baa4424a507e0635bf21113da2a3a30b",
    "6fdefaf0f9e408a828b839ededccecec9b37736b6bdf03281720b1d9d4a52230cdf9a8e8fc5325e7ff58c26fe53225ce",
    "019c70fa7ef9e7827f2ce7290e09a7b3c2c81eaa9882eb4b2eb9e4924b2eb9e4f2ffc90d8e952bee0237390e8099b5c4",
    "f16de674fddd97c245ea1e31593610a383177cfb68e129423411a08b256a31d72b5c6df1e9a03d717511d50c86978ab3",
    "dbcbaee7ded531ac6cd4e143bb0d1e0f801ee639de7200ebe833a6c9980e1af47858e5de2e355f7e0f5bd8911d28f36b",
    "3ce0ee7b7884396a7751a77f1b0bb84f9c05f56e6f607b02eee82352053e11ef08fb0d2b0885b5480b58a66d95c5b40c",
    "a926fe116d63dd656c9b55db9a2f46b7a957141f0bdd90eaf485639c03ae3e16bad5683dab714e32667d418a43c22fc9",
    "dba3df635f5c1f6dff33e6ed31735ff534b8de14f37888bf85578c8ef81833e733c611bbe8f1ab066219aae31e9e0bbf",
    "42cbf66cd3f28954cf74a623b4f62f56233e8d89bc2d6b09d735a6311824bacb5323430f4f942d5615aecaaee648f64b",
    "a18f77d517be9dacb2d036554bacba1c4262f9e4e06b7759ec63c5afd2db9615a472ba6eb99ca17a925437afcef587bc",
    "5a3ac3b3b355d61a0e7b11ea243b0d285e1bfde2c0af6c677b24bb7ff95fb09fb13f717c4ed95f33eb3f8cdf157f04b7",
    "e8ffc0f1136300008095d1bd0d80201445e1de29ee083cff75031b1b26a0c048f28004d83f1a27f0b6275f7734240f63",
    "76dc5e35e32a39c2a146a78ad31e16cdd786906a7b8b2f9d7e5e48df937e20fd48fa89f433e917d2afa4df382fe45f21",
    "ff0af957c8bf42fe95ff7f1f59a2ccaa",
);
/// `makensis` 3.08, `SetCompressor /FINAL /SOLID lzma`: the overlay from the first header on.
const SOLID_LZMA: &str = concat!(
    "06000000efbeadde4e756c6c736f6674496e7374a40d00006b0200005d000080000052033c17c3be74b0504180cdd188",
    "5757db490529a9db7ec2fea056b8e084a17d352045e70d78026c268ca98e0fb823517fd94e9a14a018f901d40b54a264",
    "4be185c46fd381a3463da6c55d459b63b34d5513aaa507dd52c66e27ee439d1dcfcb38933d6d76c7abfa3268f6b3d1d9",
    "142c5b077f31fc487fc66a408cf167fb5da0b91e18637f15b961dcca22de577788a0cc0e61ad86cdad3fac52ce258324",
    "e55ead79655714ccc42d91aa1ba5a3281b4fce6acdf9e2c81ec2a703413ec6c71ff86bfaaf2db3fc9f59da291f510437",
    "af09b04b7701ea42e69e22445a91fec8b5491a311c9d6e188e7846c429ecfa90438f9977f4a2dfe53b5136aeaafa6177",
    "624869343aadaf4b1de6cdfc29af67f62fcb0485c62e93c495ad8484e0d2eaa7b5df0c3e696de25d6d23ef4557bebc8c",
    "fa3879c904b43b3805857b22eaa0b4356617b3a2bbb7a4dd926a182a96c85ad0a639b32a7511101b93bb0a587df10e03",
    "b95ced2c32dc88ba70cddcd3dc159b303999f4868b42e703c2fcfa57b93f3d72b01579178fc956580203d663950950e7",
    "0913ef8b40c9fe8c7814edf9614367b695a94d968e46aa213f1e147c1b9eaf51be50dbedac3b3a673e65c91da99d6524",
    "8aa9d2eb1421818dbbdd45c8ac81b5546f6fd10643335d832a30a8203af022f99f5e0106d9583c4f2f3b06a4a6ac23c0",
    "15c3fda594bd06f8927282e063ab8fc79930f52e5685ec31b106510ec4da32aa5442439bea5e0fabd807ee0ed2869d07",
    "e24b755e5f5a7013f95cbd83a7410f7d1b0145f963eca72edf98e7f6b9ec63fc6ee8e5f24f8fff8f949800",
);
/// `makensis` 3.08, `SetCompressor /FINAL lzma`: the overlay from the first header on.
const LZMA: &str = concat!(
    "06000000efbeadde4e756c6c736f6674496e7374a40d00007d020000f50100805d0000800000440030058018444a7f94",
    "c00380592db4f4ffc08fa140f0c3455044bd9d68cf103a599e79babecec2c62720a17391c0af6e64fdd9731008fa1a5a",
    "21249d48a3347b11bf363210ac55b7bf035b8ebc3367d8b10c3ebdcd51e379d8fff3299e3f1104312b38996d8ff3ff93",
    "ca755753c7e74ba52032e9a36f8ce40bdfc058e89a85456c15feb1bb3c0d74d51a287c712f3cf5698356be9f5dd4d48d",
    "5a5ada6b19851974155fcd965844835bc5c95c2fbe36a4b6bca3c5e791fbae03e7f3f9ceee61d79f50d905d0c82a971d",
    "89ac49fd49acc2eb95c7abec151a90a3aa70691c3210a0b41f9feacb01312a4aed4ed377b8fe0be54c9aa95bd597a955",
    "76d5815620cabad9cd1ac6cba57af6537ed58b13fadbfe8d754a0e6159d942ca2bccd43833f9b727201d6ec9d6f7556d",
    "314c378c482c26aef55594cda591e35118700b4281826e080016d81036f2d5394c58ca7c923d72d6a2a389e5a773fc88",
    "877c1a318277d1298c94f4fab30b597d3e2d485aadd4597841026d98ec0626c334df607ea59166e2ae938a665e79fbff",
    "3e7af408468f5bee3882ba1854b5bdfd7416a3d671f0bc5c18b55e5d97e32bf1927478e3bd3cc973b0c4d8647fbf22e5",
    "6b561627b8149859a4a4692b0fb93b6a248cc8430acd07af6b334940325991e3b67c3e897aff2c21b8f9e162d4cc7018",
    "fffac421a2640000805d0000800000361a4a1f08a029f9ec7cbb60154db1c45889b6926965828a46c2ad1476fece7f4d",
    "845e53d2d86917ff96a825bd88b8462a1bc1e276b433c2dfc79bee1dd03eb60cc988a7e98083445ce57092268090f9f1",
    "93e71ca6c577ac1fffafd38000",
);
/// `makensis` 3.08, `SetCompressor /FINAL bzip2`: the overlay from the first header on.
const BZIP2: &str = concat!(
    "06000000efbeadde4e756c6c736f6674496e7374a40d0000c50200002902008031000445fffffdf5284ac91ef8a15f63",
    "b8087fdfbfc8e481c0c13a0000020080003400a0409180035cddacda15a841ea1a0000d01a00190d000680d0000007a8",
    "351a6a4c35279a0a7a9a068d068c203200d0f5000060400d034d1229fa8d43103d4f51e900001a640c8d000003d40006",
    "824514f4d53d328d04d06d4d36a7a9a06400c8611a06406f52794608f4d4d32d1980b259093bc6ef8306db0e1802aa2d",
    "0f6a9e5110c100932803828a147cc625e0a45c4d7f689b55f76fdbc5cb2111bb00c868ed6b40385a42fd326c7a70486d",
    "25a8c4522642979fe7b41eb5f367decd6c37f83adc1a72b32aab7194eb2f4ee4cbe3939b79ac45383bf4e0e48c826659",
    "b829fa78d79adf34af3ac90ba55458289792812539215028bc8da172a42ccc44b3e706588a308a4b9a7425e5d46a6272",
    "8b7e42f4f08219350ea6e11a184be9bf649173a8195bf12b2d5bc0ac099765417f0c6a2d674f3405dc349268a93c518d",
    "148120a2992ce81d215188085301281c44b190b91814df60c738042fba9395a4b686e337a263c3288966b33094084284",
    "22237282374408b61d9c14e8509564248cd5122bb1adfc552e65e8d0124f7d0d4853c44940225bac8ccd2c1bd9d72ee4",
    "e1a751acc9f54a320bd2dbf31e989071685e8c4a1db2a8ef899bf4bc84b621374bca7f145f9d2644988fc7a8df283c8f",
    "990ac605a609419c95405369189880e36637c6f95a349d2c4020c75f34731aedbf73156eac10e6bd8e9a2543033a8691",
    "fe7ced67cf9fffd02e78000080310001d0bf0000208000ffe00042100046cf3800600176828d0d000000254f4a683d13",
    "4680002aaa6c89802313ca7a6940e024130a07d0a84824193d33c588332492428154d9675b74d76dddddde601300e003",
    "90201c07c0ec281f82217020160580fe1d02611098542a08876170543108068178221e0b80",
);

/// The file the test installers hold.
fn text() -> Vec<u8> {
    (0..16)
        .map(|i| format!("line {i:02}: hello from a small NSIS test installer\n"))
        .collect::<String>()
        .into_bytes()
}

/// Checks a test installer: its header (3492 bytes here) and its one file.
fn check_vector(vector: &str) {
    let bytes = hex(vector);
    assert!(starts(&bytes));
    let unpacked = unpack(&bytes, measure(1 << 20));
    assert_eq!(unpacked.problem, None);
    assert_eq!(names(&unpacked), ["header", "file-0"]);
    assert_eq!(unpacked.files[0].1.len(), 3492);
    assert_eq!(unpacked.files[1].1, text());
}

#[test]
fn non_solid_deflate_with_a_crc() {
    check_vector(ZLIB);
}

#[test]
fn solid_lzma() {
    check_vector(SOLID_LZMA);
}

#[test]
fn non_solid_lzma() {
    check_vector(LZMA);
}

#[test]
fn nsis_bzip2_is_unsupported() {
    let unpacked = unpack(&hex(BZIP2), measure(1 << 20));
    assert!(unpacked.files.is_empty());
    let problem = unpacked.problem.expect("a problem");
    assert!(problem.unsupported);
    assert_eq!(problem.member.as_deref(), Some("header"));
    assert!(problem.why.contains("bzip2"), "{}", problem.why);
}

/// A first header (no CRC) before `data`.
fn installer(data: &[u8]) -> Vec<u8> {
    let mut bytes = FLAG_NO_CRC.to_le_bytes().to_vec();
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&100u32.to_le_bytes());
    let len = (FIRST_HEADER_LEN + data.len()) as u32;
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(data);
    bytes
}

fn deflated(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Items as a solid stream holds them: each after its length.
fn items(items: &[&[u8]]) -> Vec<u8> {
    let mut stream = Vec::new();
    for item in items {
        stream.extend_from_slice(&(item.len() as u32).to_le_bytes());
        stream.extend_from_slice(item);
    }
    stream
}

#[test]
fn solid_deflate_names_files_by_offset() {
    let stream = items(&[b"the header", b"first", b"", b"third"]);
    let unpacked = unpack(&installer(&deflated(&stream)), measure(1 << 20));
    assert_eq!(unpacked.problem, None);
    assert_eq!(names(&unpacked), ["header", "file-0", "file-13"]);
    assert_eq!(unpacked.files[2].1, b"third");
}

#[test]
fn stored_blocks_are_kept_as_they_are() {
    let data = items(&[b"stored header", b"stored file"]);
    let unpacked = unpack(&installer(&data), measure(1 << 20));
    assert_eq!(unpacked.problem, None);
    assert_eq!(names(&unpacked), ["header", "file-0"]);
    assert_eq!(unpacked.files[1].1, b"stored file");
}

#[test]
fn a_huge_claimed_item_stops_at_the_cap() {
    let mut stream = items(&[b"header"]);
    stream.extend_from_slice(&0x7fff_fff0u32.to_le_bytes());
    stream.extend_from_slice(&vec![0u8; 1 << 20]);
    let unpacked = unpack(&installer(&deflated(&stream)), measure(64 * 1024));
    assert_eq!(names(&unpacked), ["header"]);
    let problem = unpacked.problem.expect("a problem");
    assert_eq!(problem.member.as_deref(), Some("file-0"));
    assert!(problem.why.contains("cap"), "{}", problem.why);
}

#[test]
fn a_cut_installer_keeps_what_is_there() {
    let bytes = hex(SOLID_LZMA);
    let unpacked = unpack(&bytes[..bytes.len() - 10], measure(1 << 20));
    assert_eq!(names(&unpacked)[0], "header");
    assert!(unpacked.problem.is_some());
    // Stored blocks: the whole ones and what is there of the last.
    let data = items(&[b"stored header", b"first", b"second file"]);
    let bytes = installer(&data);
    let unpacked = unpack(&bytes[..bytes.len() - 4], measure(1 << 20));
    assert_eq!(names(&unpacked), ["header", "file-0", "file-9"]);
    assert_eq!(unpacked.files[2].1, b"second ");
    assert!(unpacked.problem.is_some());
}

#[test]
fn a_passed_deadline_stops_reading() {
    for vector in [ZLIB, SOLID_LZMA] {
        let unpacked = unpack(&hex(vector), expired());
        assert!(unpacked.files.is_empty());
        assert!(unpacked.problem.expect("a problem").why.contains("time"));
    }
}

#[test]
fn not_an_installer() {
    assert!(!starts(b"MZ\x90\0"));
    assert!(!starts(&hex(ZLIB)[..20]));
    let unpacked = unpack(b"not NSIS at all, not NSIS at all", measure(100));
    assert!(unpacked.files.is_empty() && unpacked.problem.is_some());
}

/// Unpacks `bytes`, which must not panic, and must finish fast within the cap.
fn check(bytes: &[u8]) {
    survives(unpack, bytes, 1 << 20, Duration::from_secs(2));
}

fn vectors() -> [Vec<u8>; 4] {
    [ZLIB, SOLID_LZMA, LZMA, BZIP2].map(hex)
}

#[test]
fn every_prefix_is_read_safely() {
    for bytes in vectors() {
        every_prefix(&bytes, |_, prefix| check(prefix));
    }
}

#[test]
fn bit_flips_are_read_safely() {
    for bytes in vectors() {
        flips(&bytes, every_bit(bytes.len()).step_by(3), check);
    }
}

#[test]
fn random_mutations_are_read_safely() {
    let edit = |rng: &mut XorShift, bytes: &mut Vec<u8>, _| {
        rng.overwrite(bytes, 0, 8);
        rng.maybe_cut(bytes);
    };
    mutations(&vectors(), SEED, 3000, edit, check);
}

#[test]
fn the_real_sample_holds_clam_exe() {
    let dir = std::path::Path::new("/usr/share/clamav-testfiles");
    let (Ok(exe), Ok(clam)) = (
        std::fs::read(dir.join("clam-nsis.exe")),
        std::fs::read(dir.join("clam.exe")),
    ) else {
        return; // not on this machine
    };
    let at = exe.windows(MAGIC.len()).position(|w| w == MAGIC).unwrap() - MAGIC_AT;
    let unpacked = unpack(&exe[at..], measure(1 << 20));
    assert_eq!(unpacked.problem, None);
    assert!(unpacked.files.iter().any(|(_, bytes)| *bytes == clam));
}

#[test]
fn eicar_in_an_installer_is_found_by_the_walk() {
    use crate::inspect::tests::{EICAR, labels, limits, look};
    let data = installer(&deflated(&items(&[b"the header", EICAR])));
    let exe = [b"MZ".as_slice(), &[0; 100], &data].concat();
    let found = look(&exe, "setup.exe", &limits());
    assert_eq!(
        labels(&found),
        ["setup.exe>@102.nsis>file-0:EICAR_Test_File"],
        "{found:?}"
    );
}
