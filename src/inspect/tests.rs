//! Looking inside archives: detections at any depth across every format, bombs and encrypted or
//! corrupt archives, all built here at test time (nothing malicious is committed).

use std::io::{Cursor, Write};
use std::time::{Duration, Instant};

use pretty_assertions::assert_eq;

use super::*;
use crate::scan::RuleSet;

pub(crate) const EICAR: &[u8] = crate::scan::EICAR.as_bytes();

pub(crate) const WEBSHELL: &[u8] = concat!("<?php ", "eval($_PO", "ST['cmd']); ?>").as_bytes();

pub(crate) fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(::zip::CompressionMethod::Deflated, members)
}

pub(crate) fn zip_with(method: ::zip::CompressionMethod, members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ::zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = ::zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in members {
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub(crate) fn tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = ::tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut header = ::tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        b.append_data(&mut header, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub(crate) fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut e = ::bzip2::write::BzEncoder::new(Vec::new(), ::bzip2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub(crate) fn xz(data: &[u8]) -> Vec<u8> {
    let mut w =
        lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1)).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

pub(crate) fn zstd(data: &[u8]) -> Vec<u8> {
    ::zstd::encode_all(data, 1).unwrap()
}

pub(crate) fn seven_z(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = sevenz_rust2::ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
    for (name, data) in members {
        let entry = sevenz_rust2::ArchiveEntry::new_file(name);
        w.push_archive_entry(entry, Some(*data)).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub(super) fn limits() -> Limits {
    Limits {
        max_depth: 10,
        max_members: 1000,
        max_expanded: 64 << 20,
        max_ratio: 100,
        max_member_size: 32 << 20,
        encrypted: Encrypted::Unscannable,
        passwords: Default::default(),
    }
}

pub(super) fn engine() -> Engine {
    Engine::new(RuleSet::embedded().unwrap(), Duration::from_secs(20))
}

pub(super) fn look(data: &[u8], name: &str, limits: &Limits) -> Inspection {
    let object = ObjectRef::new("uploads", name);
    let budget = Budget::memory(256 << 20);
    look_with(&engine(), data, &object, limits, &budget)
}

/// Inspects with the engine's current rules, the way a journey does.
pub(super) fn look_with(
    engine: &Engine,
    data: &[u8],
    object: &ObjectRef,
    limits: &Limits,
    budget: &Budget,
) -> Inspection {
    let rules = engine.rules();
    let look = Look {
        engine,
        rules: &rules,
        limits,
        policy: &crate::policy::Policy::OFF,
        budget,
    };
    inspect(&look, data, object, Duration::from_secs(20))
}

pub(super) fn labels(inspection: &Inspection) -> Vec<String> {
    inspection.matches.iter().map(Match::label).collect()
}

pub(super) fn unscannable_reason(inspection: Inspection) -> String {
    match inspection.verdict() {
        Ok(Verdict::Unscannable(why)) => why,
        other => panic!("{other:?}"),
    }
}

#[test]
fn eicar_is_found_in_every_format_and_six_levels_deep() {
    for (name, data) in [
        ("e.zip", zip(&[("eicar.com", EICAR)])),
        ("e.tar", tar(&[("eicar.com", EICAR)])),
        ("e.7z", seven_z(&[("eicar.com", EICAR)])),
        ("eicar.com.gz", gzip(EICAR)),
        ("eicar.com.bz2", bzip2(EICAR)),
        ("eicar.com.xz", xz(EICAR)),
        ("eicar.com.zst", zstd(EICAR)),
    ] {
        let found = look(&data, name, &limits());
        assert_eq!(found.matches.len(), 1, "{name}: {found:?}");
        assert_eq!(found.matches[0].rule, "EICAR_Test_File", "{name}");
    }
    // zip > tar > gzip > bzip2 > xz > zstd > eicar.com: six containers deep.
    let inner = zstd(&tar(&[("eicar.com", EICAR)]));
    let nested = zip(&[("b.tar", &tar(&[("c.gz", &gzip(&bzip2(&xz(&inner))))]))]);
    let found = look(&nested, "a.zip", &limits());
    assert_eq!(
        labels(&found),
        ["a.zip>b.tar>c.gz>c>c>c>c>eicar.com:EICAR_Test_File"],
        "{found:?}"
    );
    assert_eq!(found.incomplete, None);
}

#[test]
fn a_benign_archive_of_real_files_is_clean() {
    let files: Vec<(String, Vec<u8>)> = ["src/lib.rs", "src/journey.rs", "Cargo.toml", "README.md"]
        .iter()
        .map(|p| (p.to_string(), std::fs::read(p).unwrap()))
        .collect();
    let members: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let archive = gzip(&tar(&members));
    let found = look(&archive, "sources.tar.gz", &limits());
    assert_eq!(found.clone().verdict(), Ok(Verdict::Clean), "{found:?}");
    assert_eq!(found.members, 5, "the tar, then its four files");
}

#[test]
fn a_zip_bomb_and_a_gzip_bomb_are_unscannable_quickly() {
    let zeros = vec![0u8; 48 << 20];
    let started = Instant::now();
    let bomb = zip(&[("zeros.bin", &zeros)]);
    assert!(bomb.len() < 1 << 20, "{}", bomb.len());
    let why = unscannable_reason(look(&bomb, "bomb.zip", &limits()));
    assert!(why.contains("ARCHIVE_MAX_RATIO (100"), "{why}");
    // A bomb of bombs.
    let layered = zip(&[("a.zip", &bomb), ("b.zip", &bomb), ("c.zip", &bomb)]);
    let why = unscannable_reason(look(&layered, "layered.zip", &limits()));
    assert!(why.contains("ARCHIVE_MAX_RATIO"), "{why}");
    // With no ratio to stop it, a single huge member stops at the member limit.
    let gz = gzip(&zeros);
    let no_ratio = Limits {
        max_ratio: u64::MAX,
        ..limits()
    };
    let why = unscannable_reason(look(&gz, "zeros.gz", &no_ratio));
    assert!(why.contains("ARCHIVE_MAX_MEMBER_SIZE"), "{why}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn limits_on_depth_members_and_expanded_bytes_name_their_setting() {
    let deep = gzip(&gzip(&gzip(b"plain")));
    let shallow = Limits {
        max_depth: 2,
        ..limits()
    };
    assert!(unscannable_reason(look(&deep, "x.gz", &shallow)).contains("ARCHIVE_MAX_DEPTH (2)"));
    let many: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("f{i}"), vec![b'a'; 10])).collect();
    let members: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let few = Limits {
        max_members: 3,
        ..limits()
    };
    assert!(
        unscannable_reason(look(&zip(&members), "m.zip", &few)).contains("ARCHIVE_MAX_MEMBERS (3)")
    );
    let small = Limits {
        max_expanded: 20,
        ..limits()
    };
    assert!(
        unscannable_reason(look(&zip(&members), "m.zip", &small)).contains("ARCHIVE_MAX_EXPANDED")
    );
}

#[test]
fn an_archive_in_a_stream_shares_its_level_and_a_stream_in_a_stream_does_not() {
    // Three tar.gz, each in the one before, as clamav-testfiles' clam_cache_emax.tgz nests
    // nine: three levels as users count them, six members deep.
    let mut nested = EICAR.to_vec();
    for name in ["eicar.com", "c.tgz", "b.tgz"] {
        nested = gzip(&tar(&[(name, &nested)]));
    }
    let three = Limits {
        max_depth: 3,
        ..limits()
    };
    let found = look(&nested, "a.tgz", &three);
    assert_eq!(
        labels(&found),
        ["a.tgz>a.tar>b.tgz>b.tar>c.tgz>c.tar>eicar.com:EICAR_Test_File"],
        "{found:?}"
    );
    assert_eq!(found.incomplete, None);
    let two = Limits {
        max_depth: 2,
        ..limits()
    };
    let why = unscannable_reason(look(&nested, "a.tgz", &two));
    assert!(
        why.contains("ARCHIVE_MAX_DEPTH (2) reached at a.tgz>a.tar>b.tgz>b.tar>c.tgz"),
        "{why}"
    );
    // Streams alone count each: gzip(gzip(gzip)) is three levels.
    let streams = gzip(&gzip(&gzip(EICAR)));
    let why = unscannable_reason(look(&streams, "x.gz", &two));
    assert!(why.contains("ARCHIVE_MAX_DEPTH (2)"), "{why}");
}

#[test]
fn a_match_wins_over_a_limit() {
    let zeros = vec![0u8; 40 << 20];
    let archive = zip(&[("eicar.com", EICAR), ("zeros.bin", &zeros)]);
    let found = look(&archive, "mixed.zip", &limits());
    assert!(found.incomplete.is_some());
    assert!(matches!(found.verdict(), Ok(Verdict::Infected(_))));
}

/// Sets the "encrypted" flag of every entry, as an encrypting zip tool does.
fn encrypt_flags(mut zip: Vec<u8>) -> Vec<u8> {
    for (sig, flag_at) in [(b"PK\x03\x04", 6), (b"PK\x01\x02", 8)] {
        let at: Vec<usize> = zip
            .windows(4)
            .enumerate()
            .filter(|(_, w)| w == sig)
            .map(|(i, _)| i)
            .collect();
        for i in at {
            zip[i + flag_at] |= 1;
        }
    }
    zip
}

#[test]
fn encrypted_members_are_unscannable_or_infected_as_set() {
    let locked = encrypt_flags(zip(&[("secret.docx", b"PK whatever")]));
    let why = unscannable_reason(look(&locked, "locked.zip", &limits()));
    assert!(
        why.contains("encrypted member locked.zip>secret.docx"),
        "{why}"
    );
    let strict = Limits {
        encrypted: Encrypted::Infected,
        ..limits()
    };
    assert_eq!(
        labels(&look(&locked, "locked.zip", &strict)),
        ["locked.zip>secret.docx:Encrypted_Archive_Member"]
    );
}

#[test]
fn bytes_that_only_look_like_an_archive_are_scanned_as_bytes_and_noted() {
    // Nothing in them reads as a member: their bytes are all there is.
    let mut fake = b"PK\x03\x04".to_vec();
    fake.extend_from_slice(b" is not a zip, and here is ");
    fake.extend_from_slice(WEBSHELL);
    let found = look(&fake, "fake.zip", &limits());
    assert_eq!(found.notes.len(), 1, "{found:?}");
    assert!(
        found.notes[0].starts_with("ZIP fake.zip not read"),
        "{:?}",
        found.notes
    );
    assert_eq!(
        labels(&found),
        ["Webshell_PHP_Request_Eval"],
        "found in its bytes"
    );
    assert!(matches!(found.verdict(), Ok(Verdict::Infected(_))));
    let clean = look(&fake[..40], "fake.zip", &limits());
    assert_eq!(clean.notes.len(), 1);
    assert_eq!(clean.verdict(), Ok(Verdict::Clean));
}

#[test]
fn an_archive_that_breaks_after_a_member_is_unscannable_unless_a_match_decides() {
    // Cut inside its second member: the first is read, then the zip breaks.
    let stored = ::zip::CompressionMethod::Stored;
    let full = zip_with(stored, &[("a.txt", b"hello"), ("b.txt", &[b'b'; 200])]);
    let broken = &full[..120];
    let why = unscannable_reason(look(broken, "broken.zip", &limits()));
    assert!(why.contains("broken.zip>b.txt"), "{why}");
    // A payload that matches anywhere, in the member read before the break.
    let full = zip_with(stored, &[("shell.php", WEBSHELL), ("b.txt", &[b'b'; 200])]);
    let found = look(&full[..120], "broken.zip", &limits());
    assert_eq!(
        labels(&found),
        [
            "Webshell_PHP_Request_Eval",
            "broken.zip>shell.php:Webshell_PHP_Request_Eval"
        ]
    );
    assert!(matches!(found.verdict(), Ok(Verdict::Infected(_))));
}

#[test]
fn rules_see_each_members_name() {
    let mut compiler = yara_x::Compiler::new();
    for name in crate::scan::EXTERNALS {
        compiler.define_global(name, "").unwrap();
    }
    compiler
        .add_source(
            r#"rule script_by_name { condition: extension == ".ps1" and filename == "run.ps1" }"#,
        )
        .unwrap();
    let engine = Engine::new(
        RuleSet::new(compiler.build(), "names"),
        Duration::from_secs(5),
    );
    let archive = zip(&[("docs/readme.txt", b"x"), ("bin/run.ps1", b"y")]);
    let object = ObjectRef::new("uploads", "in/tools.zip");
    let budget = Budget::memory(1 << 20);
    let found = look_with(&engine, &archive, &object, &limits(), &budget);
    assert_eq!(labels(&found), ["tools.zip>bin/run.ps1:script_by_name"]);
}

/// A shell link (MS-SHLLINK) with no target list, holding only command-line arguments.
fn shortcut(arguments: &str) -> Vec<u8> {
    const HAS_ARGUMENTS: u32 = 0x20;
    const IS_UNICODE: u32 = 0x80;
    let mut lnk = 0x4cu32.to_le_bytes().to_vec();
    // The ShellLink CLSID {00021401-0000-0000-C000-000000000046}.
    lnk.extend([1, 0x14, 2, 0, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46]);
    lnk.extend((HAS_ARGUMENTS | IS_UNICODE).to_le_bytes());
    lnk.resize(76, 0);
    let units: Vec<u16> = arguments.encode_utf16().collect();
    lnk.extend((units.len() as u16).to_le_bytes());
    lnk.extend(units.iter().flat_map(|u| u.to_le_bytes()));
    lnk
}

#[test]
fn rules_read_a_shortcuts_arguments_in_an_archive_with_the_lnk_module() {
    let mut compiler = yara_x::Compiler::new();
    for name in crate::scan::EXTERNALS {
        compiler.define_global(name, "").unwrap();
    }
    compiler
        .add_source(
            r#"import "lnk"
            rule lnk_runs_powershell {
                condition: lnk.is_lnk and lnk.cmd_line_args icontains "powershell"
            }"#,
        )
        .unwrap();
    let engine = Engine::new(
        RuleSet::new(compiler.build(), "lnk"),
        Duration::from_secs(5),
    );
    let archive = zip(&[
        (
            "invoice.pdf.lnk",
            &shortcut("-w hidden -c PowerShell iwr x"),
        ),
        ("readme.lnk", &shortcut("/n notes.txt")),
    ]);
    let object = ObjectRef::new("uploads", "mail/invoice.zip");
    let budget = Budget::memory(1 << 20);
    let found = look_with(&engine, &archive, &object, &limits(), &budget);
    assert_eq!(
        labels(&found),
        ["invoice.zip>invoice.pdf.lnk:lnk_runs_powershell"]
    );
}

#[test]
fn members_that_do_not_fit_in_memory_now_ask_for_a_retry_without_a_spool() {
    let archive = zip(&[("a.bin", &vec![b'a'; 600 << 10])]);
    let budget = Budget::memory(1 << 20);
    // Another object holds most of the memory.
    let Hold::Held(_other) = budget.try_hold(900 << 10) else {
        panic!()
    };
    let object = ObjectRef::new("uploads", "a.zip");
    let found = look_with(&engine(), &archive, &object, &limits(), &budget);
    assert!(
        found.verdict().is_err(),
        "retry later rather than a verdict"
    );
}

#[test]
fn the_object_and_each_matching_member_carry_their_true_type() {
    let png = [&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], &[0; 16]].concat();
    assert_eq!(filetype(&png), "PNG", "by infer, named by its extension");
    assert_eq!(filetype(b"MZ\x90\0"), "EXE", "THOR's names first");
    assert_eq!(
        filetype(b"From: a\nSubject: b\n\nhi"),
        "MAIL",
        "then the formats looked into"
    );
    assert_eq!(filetype(b"plain words"), "", "unknown");
    let found = look(&zip(&[("eicar.com", EICAR)]), "e.zip", &limits());
    assert_eq!(found.filetype, "ZIP");
    assert_eq!(
        found.matches[0].filetype, None,
        "EICAR's bytes are of no known type"
    );
    let shell: &[u8] = b"<?php eval($_POST['x']); ?>";
    let found = look(&zip(&[("shell.php", shell)]), "e.zip", &limits());
    assert_eq!(found.matches[0].member.as_deref(), Some("e.zip>shell.php"));
    assert_eq!(found.matches[0].filetype.as_deref(), Some("PHP"));
}
