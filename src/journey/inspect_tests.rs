//! What the read hands the inspection, through the pipeline on the store double: an object's
//! `Content-Encoding` (its decoded bytes are judged too), and the memory budget its members
//! are held against (a member that can never fit settles the object, it is not retried).

use std::io::Write;

use pretty_assertions::assert_eq;

use super::tests::{EICAR, created, pipeline, quarantining, settled, store};
use crate::action::Location;
use crate::config::{ArchiveLimits, Config, Spool};
use crate::report::Settled;
use crate::verdict::Verdict;

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
    w.write_all(data).unwrap();
    w.into_inner()
}

#[tokio::test]
async fn an_object_whose_content_encoding_decodes_to_eicar_is_quarantined() {
    let s = store();
    let info = s.put_encoded("uploads", "page.html", &brotli(EICAR), "br");
    let p = pipeline(s, quarantining());
    let report = crate::journey::settle(&p, &created("uploads", "page.html", &info)).await;
    assert!(
        matches!(report.location, Location::Quarantined(_)),
        "{report:?}"
    );
    let Some(Verdict::Infected(matches)) = &report.verdict else {
        panic!("{:?}", report.verdict)
    };
    assert_eq!(
        matches[0].label(),
        "page.html>Content-Encoding=br:EICAR_Test_File"
    );
}

#[tokio::test]
async fn an_object_in_an_encoding_not_decoded_here_is_unscannable() {
    let s = store();
    let info = s.put_encoded("uploads", "page.html", b"<html>", "compress");
    let p = pipeline(s, quarantining());
    let report = crate::journey::settle(&p, &created("uploads", "page.html", &info)).await;
    let Some(Verdict::Unscannable(why)) = &report.verdict else {
        panic!("{:?}", report.verdict)
    };
    assert!(why.starts_with("Content-Encoding `compress`"), "{why}");
}

fn zip(method: ::zip::CompressionMethod, name: &str, data: &[u8]) -> Vec<u8> {
    let mut w = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = ::zip::write::SimpleFileOptions::default().compression_method(method);
    w.start_file(name, options).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap().into_inner()
}

/// A zip holding a stored zip holding `size` bytes that do not compress.
fn nested(size: usize) -> Vec<u8> {
    let noise: Vec<u8> = (0..size as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8 ^ (i as u8))
        .collect();
    let inner = zip(::zip::CompressionMethod::Stored, "big.bin", &noise);
    zip(::zip::CompressionMethod::Deflated, "inner.zip", &inner)
}

#[tokio::test]
async fn a_member_that_can_never_fit_in_memory_settles_the_object() {
    // The issue's case, scaled down: members that together need more than MAX_OBJECT_SIZE.
    let s = store();
    let info = s.put("uploads", "n.zip", &nested(600 << 10), &[]);
    let config = Config {
        max_object_size: 1 << 20,
        spool: Spool::Off,
        archive: ArchiveLimits {
            max_member_size: 1 << 20,
            ..quarantining().archive
        },
        ..quarantining()
    };
    let p = pipeline(s, config);
    let report = crate::journey::settle(&p, &created("uploads", "n.zip", &info)).await;
    assert_eq!(
        settled(&report),
        &Settled::Recorded,
        "a verdict, not a retry"
    );
    let Some(Verdict::Unscannable(why)) = &report.verdict else {
        panic!("{:?}", report.verdict)
    };
    assert!(why.contains("MAX_OBJECT_SIZE"), "{why}");
}

#[tokio::test]
async fn with_a_spool_such_a_member_is_spooled_and_scanned() {
    let s = store();
    let info = s.put("uploads", "n.zip", &nested(600 << 10), &[]);
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        max_object_size: 1 << 20,
        spool: Spool::Dir {
            dir: dir.path().to_owned(),
            max: Some(64 << 20),
        },
        archive: ArchiveLimits {
            max_member_size: 1 << 20,
            ..quarantining().archive
        },
        ..quarantining()
    };
    let p = pipeline(s, config);
    let report = crate::journey::settle(&p, &created("uploads", "n.zip", &info)).await;
    assert_eq!(report.verdict, Some(Verdict::Clean), "{report:?}");
}
