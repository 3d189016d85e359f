//! Rule and hash feeds through the binary on the emulator, served by a local HTTP server
//! (Python's `http.server`) from fixtures built here: a package of the reversinglabs rules of
//! `../shared/rulesets/` (never copied into the repository) with a marker rule, and a generated
//! SHA-256 list. `feeds update` puts both in force and `handle` then finds an object matching
//! each `Infected`; a broken zip, a package that does not compile, one that shrank by 90 % and
//! an unreachable source are each refused with the last good one in force; a rule firing on a
//! canary is made private.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use sha2::{Digest, Sha256};

use crate::cli::{run, text};
use crate::support::*;

const RULESETS: &str = "../shared/rulesets/reversinglabs-yara-rules";
pub(crate) const MARKER_RULE: &str =
    r#"rule Feed_Marker { strings: $a = "feed-marker-2c9e41" condition: $a }"#;
const OTHER_RULE: &str = r#"rule Feed_Other { strings: $a = "feed-other-77d0aa" condition: $a }"#;
/// The signing key of these runs: it turns the compiled cache on, so only the first `handle`
/// after an update compiles the package.
pub(crate) const KEY: &str = "feeds-test-signing-key-0123456789abcdef";
/// Bytes the generated hash list names.
const LISTED: &[u8] = b"bytes a hash feed lists as malware 5e0b";

/// `python3 -m http.server` on a free loopback port, serving `dir`; stopped when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
}

impl Server {
    pub(crate) fn start(dir: &Path) -> Server {
        let mut child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "0",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("its stdout");
        BufReader::new(stdout).read_line(&mut line).unwrap();
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        let port = (line.split(" port ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Server { child, port }
    }

    pub(crate) fn url(&self, file: &str) -> String {
        format!("http://127.0.0.1:{}/{file}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn zip(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in members {
        w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// The `.yara` files of the reversinglabs set, every `step`-th one, with their paths.
fn ruleset_files(step: usize) -> Vec<(String, Vec<u8>)> {
    let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(RULESETS)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "yara" || e == "yar"))
        .collect();
    paths.sort();
    assert!(paths.len() > 200, "the reversinglabs set is at {RULESETS}");
    (paths.iter().step_by(step))
        .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
        .collect()
}

fn with_marker(mut files: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    files.push(("marker/marker.yar".into(), MARKER_RULE.as_bytes().to_vec()));
    files
}

fn feeds_update(feeds: &str, rules: &str) -> Output {
    run(
        &["feeds", "update"],
        // No ACTION: an update touches no scanned object, so its default needs no bucket here.
        &[("RUST_LOG", "info"), ("FEEDS", feeds), ("RULES", rules)],
    )
}

/// Uploads `body` as `key`, runs `handle` on its notification with `RULES=rules`: the
/// `scan-result` and `scan-matches` tags written.
pub(crate) async fn judged(
    emu: &Emulator,
    w: &Wiring,
    key: &str,
    body: &[u8],
    rules: &str,
) -> (String, String) {
    emu.put(&w.bucket, key, body.to_vec()).await;
    let records = emu.notifications(w, 1).await;
    // `handle` does not delete it, and these runs outlast the queue's visibility timeout.
    for r in &records {
        let handle = r.receipt_handle.clone().unwrap_or_default();
        let delete = emu
            .sqs
            .delete_message()
            .queue_url(&w.queue_url)
            .receipt_handle(handle);
        delete.send().await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("event.json");
    std::fs::write(&file, serde_json::to_string(&batch(records)).unwrap()).unwrap();
    let env = [("ACTION", "tag"), ("RULES", rules), ("SIGNING_KEY", KEY)];
    let out = run(&["handle", file.to_str().unwrap()], &env);
    assert!(out.status.success(), "{key}: {}", text(&out.stderr));
    let tags = emu.tags(&w.bucket, key, None).await;
    let map = tag_map(&tags);
    let get = |k: &str| map.get(k).map(|v| v.to_string()).unwrap_or_default();
    (get("scan-result"), get("scan-matches"))
}

/// Takes `message` off the queue: neither `handle` nor the wiring deletes what they receive,
/// and these runs outlast the queue's visibility timeout.
pub(crate) async fn delete(
    emu: &Emulator,
    w: &Wiring,
    message: &aws_lambda_events::event::sqs::SqsMessage,
) {
    let handle = message.receipt_handle.clone().unwrap_or_default();
    let delete = emu
        .sqs
        .delete_message()
        .queue_url(&w.queue_url)
        .receipt_handle(handle);
    delete.send().await.unwrap();
}

/// A wiring whose `s3:TestEvent` is off the queue.
pub(crate) async fn wired(emu: &Emulator, name: &str) -> Wiring {
    let w = emu.wire(name, Options::default()).await;
    delete(emu, &w, &w.test_event).await;
    w
}

async fn object(emu: &Emulator, bucket: &str, key: &str) -> Vec<u8> {
    let got = emu
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    got.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn feed_keys(emu: &Emulator, bucket: &str) -> Vec<String> {
    let listed = (emu
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix("team/feeds/")
        .send()
        .await)
        .unwrap();
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key.clone())
        .collect()
}

fn assert_refused(out: &Output, why: &str) {
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("REFUSED") && stdout.contains(why),
        "{why}: {stdout}"
    );
    assert!(
        text(&out.stderr).contains("feed refused"),
        "logged: {}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn feeds_put_a_package_and_a_hash_list_in_force_and_refuse_bad_updates() {
    let emu = emulator().await;
    let w = wired(&emu, "feeds").await;
    let bucket = unique("feedrules");
    emu.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let rules = format!("s3://{bucket}/team/");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let package = with_marker(ruleset_files(1));
    std::fs::write(dir.path().join("core.zip"), zip(&package)).unwrap();
    let mut list = String::from("# generated, as MalwareBazaar's export\n");
    for i in 0..500u32 {
        list.push_str(&format!(
            "{}\n",
            hex::encode(Sha256::digest(i.to_be_bytes()))
        ));
    }
    list.push_str(&format!("{}\n", hex::encode(Sha256::digest(LISTED))));
    std::fs::write(dir.path().join("recent.txt"), list).unwrap();
    let feeds = format!(
        "yara={},sha256={}",
        server.url("core.zip"),
        server.url("recent.txt")
    );

    let out = feeds_update(&feeds, &rules);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("in force, updated: 1205 rules"), "{stdout}");
    assert!(
        stdout.contains("in force, updated: 501 digests"),
        "{stdout}"
    );
    let keys = feed_keys(&emu, &bucket).await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let yar = keys.iter().find(|k| k.ends_with(".yar")).unwrap().clone();
    let good = object(&emu, &bucket, &yar).await;

    let (verdict, matches) = judged(&emu, &w, "a.txt", b"x feed-marker-2c9e41 x", &rules).await;
    assert_eq!(
        (verdict.as_str(), matches.as_str()),
        ("Infected", "Feed_Marker")
    );
    let (verdict, matches) = judged(&emu, &w, "b.bin", LISTED, &rules).await;
    assert_eq!(verdict, "Infected");
    assert!(matches.starts_with("hash:"), "{matches}");

    let again = feeds_update(&feeds, &rules);
    assert!(
        text(&again.stdout).contains("in force, unchanged: 1205 rules"),
        "{}",
        text(&again.stdout)
    );

    let mut broken = zip(&package);
    broken.truncate(broken.len() / 3);
    let not_compiling = with_marker(vec![(
        "bad.yar".into(),
        b"rule Bad { condition: $nope }".to_vec(),
    )]);
    let cases = [
        (broken, "not a readable zip"),
        (zip(&not_compiling), "does not compile"),
        (
            zip(&with_marker(ruleset_files(10))),
            "shrank by more than 50%",
        ),
    ];
    for (body, why) in cases {
        std::fs::write(dir.path().join("core.zip"), body).unwrap();
        assert_refused(&feeds_update(&feeds, &rules), why);
        assert_eq!(
            object(&emu, &bucket, &yar).await,
            good,
            "{why}: the last good one stays"
        );
    }
    let port = server.port;
    drop(server);
    let gone = format!("yara=http://127.0.0.1:{port}/core.zip");
    assert_refused(&feeds_update(&gone, &rules), "download failed");
    assert_eq!(
        object(&emu, &bucket, &yar).await,
        good,
        "unreachable: the last good one stays"
    );

    let (verdict, matches) = judged(&emu, &w, "c.txt", b"x feed-marker-2c9e41 x", &rules).await;
    assert_eq!(
        (verdict.as_str(), matches.as_str()),
        ("Infected", "Feed_Marker")
    );
}

#[tokio::test]
async fn a_rule_firing_on_a_canary_is_made_private_and_the_rest_is_in_force() {
    let emu = emulator().await;
    let w = wired(&emu, "canary").await;
    let bucket = unique("canaryrules");
    emu.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    emu.put(
        &bucket,
        "team/canary/readme.txt",
        &b"benign words, then feed-marker-2c9e41"[..],
    )
    .await;
    let rules = format!("s3://{bucket}/team/");
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let package = [(
        "a.yar".to_owned(),
        format!("{MARKER_RULE}\n{OTHER_RULE}\n").into_bytes(),
    )];
    std::fs::write(dir.path().join("small.zip"), zip(&package)).unwrap();

    let out = feeds_update(&format!("yara={}", server.url("small.zip")), &rules);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("2 rules, made private (fired on a canary): Feed_Marker"),
        "{stdout}"
    );

    let (verdict, _) = judged(&emu, &w, "a.txt", b"x feed-marker-2c9e41 x", &rules).await;
    assert_eq!(verdict, "Clean");
    let (verdict, matches) = judged(&emu, &w, "b.txt", b"x feed-other-77d0aa x", &rules).await;
    assert_eq!(
        (verdict.as_str(), matches.as_str()),
        ("Infected", "Feed_Other")
    );
}

/// A feed server holding one small package (`MARKER_RULE`) and the scheduled invocation's
/// payload (`{"feedsUpdate": {}}`, EventBridge Scheduler's input) as an event file.
struct Scheduled {
    server: Server,
    event: String,
    _dir: tempfile::TempDir,
}

impl Scheduled {
    fn serving_one_rule() -> Scheduled {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path());
        let package = [("a.yar".to_owned(), MARKER_RULE.as_bytes().to_vec())];
        std::fs::write(dir.path().join("small.zip"), zip(&package)).unwrap();
        let event = dir.path().join("scheduled.json");
        std::fs::write(&event, r#"{"feedsUpdate": {}}"#).unwrap();
        let event = event.to_str().unwrap().to_owned();
        Scheduled {
            server,
            event,
            _dir: dir,
        }
    }

    fn event(&self) -> &str {
        &self.event
    }

    /// `FEEDS` naming the package.
    fn feeds(&self) -> String {
        format!("yara={}", self.server.url("small.zip"))
    }
}

/// The scheduled invocation's payload (`{"feedsUpdate": {}}`, EventBridge Scheduler's input)
/// runs the same update in the function: `handle` answers with each feed's report.
#[tokio::test]
async fn the_scheduled_event_runs_the_update() {
    let emu = emulator().await;
    let bucket = unique("schedrules");
    emu.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // The function starts only with rules under RULES (an empty prefix stops it): the team's own.
    emu.put(&bucket, "team/own.yar", OTHER_RULE).await;
    let rules = format!("s3://{bucket}/team/");
    let scheduled = Scheduled::serving_one_rule();
    let (event, feeds) = (scheduled.event(), scheduled.feeds());
    let env = [
        ("ACTION", "tag"),
        ("RULES", rules.as_str()),
        ("FEEDS", feeds.as_str()),
    ];

    let out = run(&["handle", event], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer[0]["status"], "updated", "{answer}");
    assert_eq!(answer[0]["count"], 1, "{answer}");
    assert_eq!(answer[0]["age_secs"], 0, "{answer}");
    assert_eq!(feed_keys(&emu, &bucket).await.len(), 1);
    assert!(
        text(&out.stderr).contains(r#""FeedAge":0"#),
        "EMF: {}",
        text(&out.stderr)
    );
}

/// A first deployment: RULES names an empty prefix (which alone stops the function at
/// start-up) and FEEDS lists feeds: the cold start writes the feeds first, then starts.
#[tokio::test]
async fn a_cold_start_on_an_empty_rules_prefix_writes_the_feeds_first() {
    let emu = emulator().await;
    let bucket = unique("firstrules");
    emu.s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let rules = format!("s3://{bucket}/team/");
    let scheduled = Scheduled::serving_one_rule();
    let (event, feeds) = (scheduled.event(), scheduled.feeds());
    let env = [
        ("ACTION", "tag"),
        ("RULES", rules.as_str()),
        ("FEEDS", feeds.as_str()),
    ];

    let out = run(&["handle", event], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("holds no rule file yet"),
        "{}",
        text(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        answer[0]["status"], "unchanged",
        "written at start-up: {answer}"
    );

    // A feed it cannot reach leaves the prefix empty: it does not start, and says what to do.
    let other = format!("s3://{bucket}/other/");
    let unreachable = format!("yara={}", scheduled.server.url("gone.zip"));
    let stopped = run(
        &["handle", event],
        &[
            ("ACTION", "tag"),
            ("RULES", other.as_str()),
            ("FEEDS", unreachable.as_str()),
        ],
    );
    assert!(!stopped.status.success());
    let stderr = text(&stopped.stderr);
    assert!(
        stderr.contains("no feed of FEEDS could be put in force"),
        "{stderr}"
    );
    assert!(stderr.contains("set FEEDS empty"), "{stderr}");
    assert!(stderr.contains("holds no .yar"), "{stderr}");

    // Without FEEDS, an empty prefix still stops it.
    let without = run(
        &["handle", event],
        &[("ACTION", "tag"), ("RULES", other.as_str())],
    );
    assert!(!without.status.success());
    assert!(
        text(&without.stderr).contains("holds no .yar"),
        "{}",
        text(&without.stderr)
    );
}
