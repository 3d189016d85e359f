//! Objects larger than the memory budget: spooled to local storage and scanned through a
//! memory map, fetched in parallel ranged GETs pinned to the version first read.

use std::time::Duration;

use pretty_assertions::assert_eq;
use s3_yara_scan::{Action, Config, Engine, Pipeline, RuleSet, S3Store, Spool};

use crate::support::*;

const MIB: usize = 1024 * 1024;

/// `size` bytes of filler with a PHP web shell `from_end` bytes before the end, so that only
/// the last ranged part holds the detection.
fn shell_at_end(size: usize, from_end: usize) -> Vec<u8> {
    let shell = b"<?php eval($_POST['x']); ?>";
    let mut body: Vec<u8> = (0..size).map(|i| b"abcdefgh\n"[i % 9]).collect();
    let at = size - from_end;
    body[at..at + shell.len()].copy_from_slice(shell);
    body
}

/// A pipeline that holds at most `memory` bytes in memory, spools up to `spool` bytes to
/// `dir`, and reads in 1 MiB ranged parts.
fn pipeline(
    emu: &Emulator,
    memory: u64,
    spool: Option<(&std::path::Path, u64)>,
) -> Pipeline<S3Store> {
    let config = Config {
        max_object_size: memory,
        spool: match spool {
            Some((dir, limit)) => Spool::Dir {
                dir: dir.to_path_buf(),
                max: Some(limit),
            },
            None => Spool::Off,
        },
        ..with_action(Action::Tag)
    };
    let engine = Engine::new(RuleSet::embedded().unwrap(), Duration::from_secs(10));
    Pipeline::new(emu.store().with_get_parts(MIB), engine, config)
}

/// A 6 MiB object with a web shell in its last part, under a 256 KiB memory budget, is
/// spooled, fetched in parts and found; a clean one of the same size is `Clean`. Nothing is
/// left in the spool directory.
#[tokio::test]
async fn objects_larger_than_memory_are_spooled_and_scanned() {
    let emu = emulator().await;
    let w = emu.wire("spool", Options::default()).await;
    emu.put(
        &w.bucket,
        "big/infected.php",
        shell_at_end(6 * MIB + 123, 100),
    )
    .await;
    emu.put(
        &w.bucket,
        "big/clean.txt",
        shell_at_end(6 * MIB, 100)
            .into_iter()
            .map(|b| if b == b'$' { b'#' } else { b })
            .collect::<Vec<u8>>(),
    )
    .await;
    let records = emu.notifications(&w, 2).await;
    let spool = tempfile::tempdir().unwrap();

    let pipeline = pipeline(&emu, 256 * 1024, Some((spool.path(), 64 * MIB as u64)));
    pipeline.preflight().await.unwrap();
    acknowledged(&pipeline, records).await;

    assert_eq!(
        emu.tag(&w.bucket, "big/infected.php", "scan-result")
            .await
            .as_deref(),
        Some("Infected")
    );
    assert_eq!(
        emu.tag(&w.bucket, "big/infected.php", "scan-matches")
            .await
            .as_deref(),
        Some("Webshell_PHP_Request_Eval")
    );
    assert_eq!(
        emu.tag(&w.bucket, "big/clean.txt", "scan-result")
            .await
            .as_deref(),
        Some("Clean")
    );
    assert_eq!(
        std::fs::read_dir(spool.path()).unwrap().count(),
        0,
        "spool files are unlinked"
    );
}

/// Within the memory budget, a multi-part object is read in parallel ranged GETs into one
/// buffer, and the detection in its last part is found.
#[tokio::test]
async fn large_objects_in_memory_are_read_in_parallel_parts() {
    let emu = emulator().await;
    let (w, records) = emu
        .uploaded("ranged", "ranged.bin", shell_at_end(5 * MIB + 7, 30))
        .await;
    acknowledged(&pipeline(&emu, 16 * MIB as u64, None), records).await;
    assert_eq!(
        emu.tag(&w.bucket, "ranged.bin", "scan-result")
            .await
            .as_deref(),
        Some("Infected")
    );
}

/// Over both limits: `Unscannable`, naming the setting to raise; acknowledged, not retried.
#[tokio::test]
async fn objects_over_the_spool_limit_are_unscannable_and_say_why() {
    let emu = emulator().await;
    let (w, records) = emu
        .uploaded("overspool", "huge.bin", vec![7u8; 3 * MIB])
        .await;
    let spool = tempfile::tempdir().unwrap();
    acknowledged(
        &pipeline(&emu, 256 * 1024, Some((spool.path(), 2 * MIB as u64))),
        records,
    )
    .await;
    assert_eq!(
        emu.tag(&w.bucket, "huge.bin", "scan-result")
            .await
            .as_deref(),
        Some("Unscannable")
    );
    let detail = emu.tag(&w.bucket, "huge.bin", "scan-detail").await.unwrap();
    assert!(detail.contains("MAX_SPOOL_SIZE"), "{detail}");
}

/// A spool directory that cannot be written fails the start-up check, naming SPOOL_DIR.
#[tokio::test]
async fn unwritable_spool_dir_fails_preflight() {
    let emu = emulator().await;
    let missing = std::path::Path::new("/nonexistent/spool");
    let e = pipeline(&emu, 256 * 1024, Some((missing, 64 * MIB as u64)))
        .preflight()
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("SPOOL_DIR=`/nonexistent/spool`"),
        "{e}"
    );
}
