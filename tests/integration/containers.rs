//! Containers and encodings through the binary (`handle` on the emulator's notifications),
//! built here at test time with the encoders Python lacks: an AES-encrypted 7z (data only,
//! and data and headers) is an encrypted member, never `Clean`; 7z members in the PPMd and
//! Deflate coders are read; objects stored with `Content-Encoding: br`, `zstd` and
//! `gzip, br` are scanned decoded. (Zip, tar, concatenated and prefixed archives, deflate and
//! gzip encodings and the member budget: tests/faults/test_archives.py.) A zstd frame whose
//! window is over the decoder's limit is Unscannable, not Clean; the archives a 7z's LZMA2
//! chunks keep as they are stay Clean (they are no archives of their own).

use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::process::Command;

use aws_sdk_s3::primitives::ByteStream;
use pretty_assertions::assert_eq;
use sevenz_rust2::encoder_options::AesEncoderOptions;
use sevenz_rust2::{ArchiveEntry, ArchiveWriter, EncoderConfiguration, EncoderMethod, Password};

use crate::support::*;

/// The binary under test: `S3_YARA_SCAN_BIN` when set (to run these cases against another
/// build), else this build's.
fn binary() -> String {
    std::env::var("S3_YARA_SCAN_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_s3-yara-scan").into())
}

/// An object to upload: key, bytes, `Content-Encoding`.
pub(crate) type Upload = (&'static str, Vec<u8>, Option<&'static str>);

/// Uploads `objects` to a fresh wiring, runs `handle` (ACTION=tag; signatures only, the
/// policies off: tests/integration/policies.rs has theirs) on their notifications, and returns
/// each key's tags.
pub(crate) async fn handled(
    name: &str,
    objects: Vec<Upload>,
) -> BTreeMap<&'static str, BTreeMap<String, String>> {
    let off = [("TYPE_MISMATCH", "ignore"), ("ACTIVE_CONTENT", "ignore")];
    handled_with(name, objects, &[], &off).await
}

/// [`handled`], each key in `content_types` uploaded with that `Content-Type`, the binary run
/// with the variables `env` (the policies at their defaults unless `env` sets them).
pub(crate) async fn handled_with(
    name: &str,
    objects: Vec<Upload>,
    content_types: &[(&str, &str)],
    env: &[(&str, &str)],
) -> BTreeMap<&'static str, BTreeMap<String, String>> {
    let emu = emulator().await;
    let w = emu.wire(name, Options::default()).await;
    for (key, body, encoding) in &objects {
        let content_type = content_types.iter().find(|(k, _)| k == key);
        emu.s3
            .put_object()
            .bucket(&w.bucket)
            .key(*key)
            .body(ByteStream::from(body.clone()))
            .set_content_encoding(encoding.map(String::from))
            .set_content_type(content_type.map(|(_, t)| (*t).to_owned()))
            .send()
            .await
            .unwrap();
    }
    let records = emu.notifications(&w, objects.len()).await;
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(&event, serde_json::to_string(&batch(records)).unwrap()).unwrap();
    let out = Command::new(binary())
        .args(["handle", event.to_str().unwrap()])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "warn")
        .env("ACTION", "tag")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        response,
        serde_json::json!({"batchItemFailures": []}),
        "{stderr}"
    );
    let mut all = BTreeMap::new();
    for (key, _, _) in objects {
        let tags = emu.tags(&w.bucket, key, None).await;
        all.insert(key, tags.into_iter().collect());
    }
    all
}

/// A 7z of `members`, one block each, through `methods`; its headers encrypted or not.
fn seven_z(
    members: &[(&str, &[u8])],
    methods: Vec<EncoderConfiguration>,
    headers: bool,
) -> Vec<u8> {
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
    w.set_content_methods(methods);
    w.set_encrypt_header(headers);
    for (name, data) in members {
        w.push_archive_entry(ArchiveEntry::new_file(name), Some(*data))
            .unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn aes() -> Vec<EncoderConfiguration> {
    vec![
        AesEncoderOptions::new(Password::new("secret")).into(),
        EncoderMethod::LZMA2.into(),
    ]
}

/// AES-encrypted 7z archives, data only and data with headers, were `Clean` (the crate was
/// built without AES, and the error that gave was only noted); they are encrypted members.
/// PPMd and Deflate members were never read; their EICAR is found.
#[tokio::test]
async fn seven_z_archives_in_every_coder_and_encrypted_never_hide_eicar() {
    let eicar: &[(&str, &[u8])] = &[
        ("readme.txt", b"see the other file"),
        ("eicar.com", EICAR.as_bytes()),
    ];
    let tags = handled(
        "sevenz",
        vec![
            ("aes-data.7z", seven_z(eicar, aes(), false), None),
            ("aes-all.7z", seven_z(eicar, aes(), true), None),
            (
                "ppmd.7z",
                seven_z(eicar, vec![EncoderMethod::PPMD.into()], false),
                None,
            ),
            (
                "deflate.7z",
                seven_z(eicar, vec![EncoderMethod::DEFLATE.into()], false),
                None,
            ),
        ],
    )
    .await;
    let verdict = |key: &str| tags[key]["scan-result"].as_str();
    assert_eq!(verdict("aes-data.7z"), "Unscannable");
    assert!(
        tags["aes-data.7z"]["scan-detail"].starts_with("encrypted member aes-data.7z_readme.txt"),
        "{tags:?}"
    );
    assert_eq!(verdict("aes-all.7z"), "Unscannable");
    assert!(
        tags["aes-all.7z"]["scan-detail"]
            .contains("encrypted member aes-all.7z__encrypted 7z headers_"),
        "{tags:?}"
    );
    for key in ["ppmd.7z", "deflate.7z"] {
        assert_eq!(verdict(key), "Infected", "{key}: {tags:?}");
        assert_eq!(
            tags[key]["scan-matches"],
            format!("{key}/eicar.com:EICAR_Test_File")
        );
    }
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
    w.write_all(data).unwrap();
    w.into_inner()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Objects stored with `Content-Encoding: br`, `zstd` and `gzip, br` holding EICAR reach
/// browsers as EICAR; they were `Clean`, they are `Infected`.
#[tokio::test]
async fn objects_stored_with_br_zstd_or_a_list_of_encodings_are_scanned_decoded() {
    let eicar = EICAR.as_bytes();
    let tags = handled(
        "encodings",
        vec![
            ("br.html", brotli(eicar), Some("br")),
            (
                "zstd.html",
                zstd::encode_all(eicar, 3).unwrap(),
                Some("zstd"),
            ),
            ("both.html", brotli(&gzip(eicar)), Some("gzip, br")),
            ("plain.html", brotli(b"<html>hello</html>"), Some("br")),
        ],
    )
    .await;
    for (key, path) in [
        ("br.html", "br.html/Content-Encoding=br"),
        ("zstd.html", "zstd.html/Content-Encoding=zstd"),
        (
            "both.html",
            "both.html/Content-Encoding=br/Content-Encoding=gzip",
        ),
    ] {
        assert_eq!(tags[key]["scan-result"], "Infected", "{key}: {tags:?}");
        let matches = &tags[key]["scan-matches"];
        assert!(
            matches.contains(&format!("{path}:EICAR_Test_File")),
            "{key}: {matches}"
        );
    }
    assert_eq!(tags["plain.html"]["scan-result"], "Clean", "{tags:?}");
}

/// EICAR in zstd, its frame's window said to be 2 GiB (`zstd -d --long=31` decodes it).
fn big_window_zstd() -> Vec<u8> {
    let mut e = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    e.include_contentsize(false).unwrap();
    e.write_all(EICAR.as_bytes()).unwrap();
    let mut z = e.finish().unwrap();
    // Frame header: magic, descriptor (no single segment), then the window descriptor.
    z[5] = 21 << 3;
    z
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in members {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// `n` bytes that do not compress.
fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A zstd frame whose window is 2 GiB was Clean (the decoder refused it before its first
/// byte, which was only noted), alone and in a zip: it is Unscannable, naming why. A 7z of a
/// zip of members that do not compress, whose LZMA2 chunks keep that zip's headers as they
/// are, is Clean: those copies are no archives of their own.
#[tokio::test]
async fn a_refused_zstd_window_is_unscannable_and_copies_inside_a_7z_are_no_archives() {
    let big = big_window_zstd();
    let members: Vec<(String, Vec<u8>)> = (0..4)
        .map(|i| {
            (
                format!("m{i}.bin"),
                noise(60_000 + 40_000 * i, i as u32 + 1),
            )
        })
        .collect();
    let pairs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let inner = zip_of(&pairs);
    let tags = handled(
        "refused",
        vec![
            ("big.zst", big.clone(), None),
            ("big.zip", zip_of(&[("big.zst", &big)]), None),
            (
                "copies.7z",
                seven_z(
                    &[("inner.zip", &inner)],
                    vec![EncoderMethod::LZMA2.into()],
                    false,
                ),
                None,
            ),
        ],
    )
    .await;
    for (key, at) in [
        ("big.zst", "big.zst_big"),
        ("big.zip", "big.zip_big.zst_big"),
    ] {
        assert_eq!(tags[key]["scan-result"], "Unscannable", "{key}: {tags:?}");
        let detail = &tags[key]["scan-detail"];
        assert!(
            detail.starts_with(&format!(
                "{at} could not be decoded in full: Frame requires too much memory"
            )),
            "{key}: {detail}"
        );
    }
    assert_eq!(tags["copies.7z"]["scan-result"], "Clean", "{tags:?}");
}
