//! The policies through the walk: what it records of each file and member (types, active
//! content) and what the allow lists spare, on bytes built here.

use std::io::{Cursor, Write};
use std::time::Duration;

use pretty_assertions::assert_eq;

use super::tests::{EICAR, engine, limits, zip};
use super::*;
use crate::policy::{AllowedTypes, Policy};
use crate::scan::{HashList, RuleSets};

/// The labels and verdict name of `data` stored as `key`, judged with `policy` and the
/// embedded rules, the SHA-256 lists `allowed` allowing what they list.
fn judged(data: &[u8], key: &str, policy: &Policy, allowed: &str) -> (Vec<String>, String) {
    let engine = engine();
    let mut list = HashList::default();
    assert!(list.add("fp.sha256", allowed).is_empty());
    let rules = RuleSets::new(engine.rules().sets().to_vec()).allowing(list);
    let budget = Budget::memory(64 << 20);
    let look = Look {
        engine: &engine,
        rules: &rules,
        limits: &limits(),
        policy,
        budget: &budget,
    };
    let object = ObjectRef::new("uploads", key);
    let inspection = inspect(&look, data, &object, Duration::from_secs(20));
    let labels = inspection.matches.iter().map(Match::label).collect();
    let verdict = inspection
        .verdict()
        .map_or_else(|e| e, |v| v.name().to_owned());
    (labels, verdict)
}

/// A Word 97 document whose module `source` is stored compressed as Office stores it
/// (MS-OVBA, literal tokens only), after a cache of compiled code.
fn macro_document(source: &[u8]) -> Vec<u8> {
    let mut compressed = vec![1u8];
    for chunk in source.chunks(4096) {
        let mut body = Vec::new();
        for eight in chunk.chunks(8) {
            body.push(0);
            body.extend_from_slice(eight);
        }
        let header = 0xb000u16 | (body.len() as u16 + 2 - 3);
        compressed.extend_from_slice(&header.to_le_bytes());
        compressed.extend_from_slice(&body);
    }
    let stream = [vec![0xcc; 300], compressed].concat();
    let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    file.create_storage_all("/Macros/VBA").unwrap();
    for (path, data) in [
        ("/WordDocument", &b"text"[..]),
        ("/Macros/VBA/Module1", &stream),
    ] {
        file.create_stream(path).unwrap().write_all(data).unwrap();
    }
    file.into_inner().into_inner()
}

#[test]
fn a_macro_that_runs_on_open_is_named_with_its_path() {
    let doc = macro_document(b"Attribute VB_Name = \"Module1\"\r\nSub AutoOpen()\r\nEnd Sub\r\n");
    let report = zip(&[("x.doc", &doc)]);
    let (labels, verdict) = judged(&report, "in/report.zip", &Policy::default(), "");
    assert_eq!(
        labels,
        ["report.zip>x.doc>Macros/VBA/Module1.vba:active:vba:AutoOpen"]
    );
    assert_eq!(verdict, "Suspicious");
    let (labels, verdict) = judged(&report, "in/report.zip", &Policy::OFF, "");
    assert_eq!((labels.len(), verdict.as_str()), (0, "Clean"));
}

#[test]
fn an_executable_as_an_image_is_suspicious_and_a_real_image_clean() {
    let policy = Policy {
        allowed: AllowedTypes::parse("images/=image").unwrap(),
        ..Policy::default()
    };
    let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0";
    let (labels, verdict) = judged(elf, "images/cat.jpg", &policy, "");
    assert_eq!(labels, ["type:elf", "type:elf-as-jpg"]);
    assert_eq!(verdict, "Suspicious");
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    assert_eq!(judged(png, "images/cat.jpg", &policy, "").1, "Clean");
    // In a zip under images/, both the zip and its program are out of place.
    let (labels, _) = judged(&zip(&[("run", elf)]), "images/a.zip", &policy, "");
    assert_eq!(labels, ["type:zip", "a.zip>run:type:elf"]);
}

#[test]
fn bytes_an_allow_list_holds_are_never_flagged_nor_looked_into() {
    use sha2::{Digest, Sha256};
    let listed = |data: &[u8]| format!("{} known-good", hex::encode(Sha256::digest(data)));
    let (_, verdict) = judged(EICAR, "eicar.com", &Policy::default(), &listed(EICAR));
    assert_eq!(verdict, "Clean");
    // A listed member is spared; the rest of the archive is judged as ever.
    let both = zip(&[("a.com", EICAR), ("b.txt", b"hi")]);
    assert_eq!(
        judged(&both, "x.zip", &Policy::default(), &listed(EICAR)).1,
        "Clean"
    );
    let (labels, _) = judged(&both, "x.zip", &Policy::default(), &listed(b"hi"));
    assert_eq!(labels, ["x.zip>a.com:EICAR_Test_File"]);
    // A listed archive is not opened.
    assert_eq!(
        judged(&both, "x.zip", &Policy::default(), &listed(&both)).1,
        "Clean"
    );
}
