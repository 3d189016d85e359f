//! `ARCHIVE_PASSWORDS` through the binary (`handle` on the emulator's notifications): EICAR in a
//! zip encrypted with `infected` (the malware-sharing convention) was `Unscannable`; with the
//! default passwords it is opened, `Infected` and quarantined, and the log names the member
//! opened, never the password. Another password list leaves it `Unscannable` as before; a list
//! kept in a Secrets Manager secret is read at start-up, and a secret that cannot be read stops
//! the function naming `ARCHIVE_PASSWORDS_SECRET_ARN`.

use std::io::{Cursor, Write};
use std::process::{Command, Output};

use pretty_assertions::assert_eq;

use crate::cli::text;
use crate::support::*;

/// Runs the binary under test — `S3_YARA_SCAN_BIN` when set (to run these cases against
/// another build, such as main's before this change), else this build's — with `env`.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let bin = std::env::var("S3_YARA_SCAN_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_s3-yara-scan").into());
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .env("RUST_LOG", "warn");
    for var in ["ACTION", "QUARANTINE_BUCKET", "ARCHIVE_PASSWORDS"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("the binary runs")
}

/// A zip of EICAR as `eicar.com`, encrypted with ZipCrypto under `password`, as `zip -P` makes.
fn zip_encrypted(password: &str) -> Vec<u8> {
    use zip::unstable::write::FileOptionsExt;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .with_deprecated_encryption(password.as_bytes())
        .unwrap();
    w.start_file("eicar.com", options).unwrap();
    w.write_all(EICAR.as_bytes()).unwrap();
    w.finish().unwrap().into_inner()
}

/// Uploads `body` as `key` to a fresh wiring, and runs `handle` on its notification with `env`
/// (besides the quarantine bucket).
async fn handled(name: &str, key: &str, body: Vec<u8>, env: &[(&str, &str)]) -> (Wiring, Output) {
    let emu = emulator().await;
    let w = emu.wire(name, Options::default()).await;
    emu.put(&w.bucket, key, body).await;
    let records = emu.notifications(&w, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, serde_json::to_string(&batch(records)).unwrap()).unwrap();
    let mut all = vec![("QUARANTINE_BUCKET", w.quarantine.as_str())];
    all.extend_from_slice(env);
    let out = run(&["handle", file.to_str().unwrap()], &all);
    (w, out)
}

/// The quarantined copy's verdict and matches.
async fn quarantined(w: &Wiring, key: &str) -> (Option<String>, Option<String>) {
    let emu = emulator().await;
    let qkey = format!("{}/{key}", w.bucket);
    (
        emu.tag(&w.quarantine, &qkey, "scan-result").await,
        emu.tag(&w.quarantine, &qkey, "scan-matches").await,
    )
}

#[tokio::test]
async fn a_zip_encrypted_with_infected_is_opened_and_quarantined() {
    let env = [("RUST_LOG", "info")];
    let (w, out) = handled("pw-default", "sample.zip", zip_encrypted("infected"), &env).await;
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    let emu = emulator().await;
    assert!(!emu.exists(&w.bucket, "sample.zip").await, "{log}");
    assert_eq!(
        quarantined(&w, "sample.zip").await,
        (
            Some("Infected".into()),
            Some("sample.zip/eicar.com:EICAR_Test_File".into())
        )
    );
    assert!(
        log.contains("sample.zip>eicar.com opened with an ARCHIVE_PASSWORDS entry"),
        "{log}"
    );
}

#[tokio::test]
async fn with_other_passwords_the_zip_stays_unscannable() {
    let env = [("ARCHIVE_PASSWORDS", "s3cret,hunter2")];
    let (w, out) = handled("pw-other", "sample.zip", zip_encrypted("infected"), &env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let emu = emulator().await;
    let tags = emu.tags(&w.bucket, "sample.zip", None).await;
    let tags = tag_map(&tags);
    assert_eq!(tags["scan-result"], "Unscannable");
    assert!(
        tags["scan-detail"].starts_with("encrypted member sample.zip_eicar.com"),
        "{tags:?}"
    );
}

#[tokio::test]
async fn passwords_kept_in_a_secret_are_read_at_start_up() {
    let shared = aws_config::load_from_env().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&shared);
    let name = unique("archive-passwords");
    let private = "pr1vate,with a comma";
    secrets
        .create_secret()
        .name(&name)
        .secret_string(format!("infected\n{private}\n"))
        .send()
        .await
        .unwrap();
    let env = [
        ("ARCHIVE_PASSWORDS_SECRET_ARN", name.as_str()),
        ("RUST_LOG", "info"),
    ];
    let (w, out) = handled("pw-secret", "private.zip", zip_encrypted(private), &env).await;
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert_eq!(
        quarantined(&w, "private.zip").await.0.as_deref(),
        Some("Infected")
    );
    assert!(!log.contains("pr1vate"), "never the password: {log}");

    let env = [("ARCHIVE_PASSWORDS_SECRET_ARN", "no-such-secret")];
    let (_, out) = handled("pw-nosecret", "private.zip", zip_encrypted(private), &env).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("ARCHIVE_PASSWORDS_SECRET_ARN=`no-such-secret`"),
        "{err}"
    );
    assert!(err.contains("secretsmanager:GetSecretValue"), "{err}");
}
