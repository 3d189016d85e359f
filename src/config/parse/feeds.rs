//! `FEEDS` and its limits (`FEEDS_*`) → [`Feeds`]: each `KIND=URL` item checked here, once, so
//! that an update never meets an unknown kind or a URL it may not fetch.

use std::time::Duration;

use sha2::{Digest, Sha256};
use strum::{VariantArray, VariantNames};

use super::super::settings as s;
use super::Env;
use crate::config::{Feed, FeedKind, Feeds, is_loopback};

pub(super) fn feeds(env: &mut Env) -> Feeds {
    Feeds {
        feeds: sources(env),
        max_shrink_percent: env.number(&s::FEEDS_MAX_SHRINK),
        max_malformed_percent: env.number(&s::FEEDS_MAX_MALFORMED),
        max_size: env.size(&s::FEEDS_MAX_SIZE, 1),
        timeout: Duration::from_secs(env.number(&s::FEEDS_TIMEOUT_SECS)),
    }
}

fn sources(env: &mut Env) -> Vec<Feed> {
    let Some(v) = env.get(&s::FEEDS) else {
        return Vec::new();
    };
    let mut feeds: Vec<Feed> = Vec::new();
    for item in v.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match feed(item) {
            Ok(feed) if feeds.iter().any(|f| f.name == feed.name) => env.problems.push(format!(
                "{} lists `{item}` twice (each feed once)",
                s::FEEDS.name
            )),
            Ok(feed) => feeds.push(feed),
            Err(why) => env.problems.push(format!(
                "{} has `{item}`, which is invalid: {why} (allowed: {})",
                s::FEEDS.name,
                s::FEEDS.allowed.describe()
            )),
        }
    }
    feeds
}

/// One `KIND=URL` item.
pub(crate) fn feed(item: &str) -> Result<Feed, String> {
    let (kind, url) = item
        .split_once('=')
        .ok_or_else(|| "not KIND=URL".to_owned())?;
    let kind = <FeedKind as VariantArray>::VARIANTS
        .iter()
        .copied()
        .find(|k| Into::<&str>::into(*k).eq_ignore_ascii_case(kind.trim()))
        .ok_or_else(|| {
            format!(
                "`{}` is no kind of feed (kinds: {})",
                kind.trim(),
                <FeedKind as VariantNames>::VARIANTS.join(", ")
            )
        })?;
    let url = reqwest::Url::parse(url.trim()).map_err(|e| format!("not a URL: {e}"))?;
    check_scheme(&url)?;
    Ok(Feed {
        kind,
        name: name(&url),
        url,
    })
}

/// https anywhere; plain http only to this machine (a test's server), as anything else could
/// be changed on its way.
fn check_scheme(url: &reqwest::Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(
            "plain http is allowed only to loopback (127.0.0.1, ::1, localhost); \
                       use https"
                .into(),
        ),
        other => Err(format!("the scheme `{other}` is not https")),
    }
}

/// The URL's last path segment without its extensions, letters, digits and `-` only, then a
/// short hash of the URL: `yara-forge-rules-core-1f2e3d`.
fn name(url: &reqwest::Url) -> String {
    let last = (url.path_segments())
        .and_then(|mut segments| segments.rfind(|s| !s.is_empty()))
        .unwrap_or("feed");
    let stem = last.split('.').next().unwrap_or(last);
    let mut clean: String = (stem.chars())
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(48)
        .collect();
    if clean.trim_matches('-').is_empty() {
        clean = "feed".into();
    }
    let hash = hex::encode(&Sha256::digest(url.as_str().as_bytes())[..3]);
    format!("{}-{hash}", clean.trim_matches('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_is_kind_url_with_a_stable_name() {
        let f = feed("yara=https://example.com/r/yara-forge-rules-core.zip").unwrap();
        assert_eq!(f.kind, FeedKind::Yara);
        assert!(f.name.starts_with("yara-forge-rules-core-"), "{}", f.name);
        assert_eq!(
            f.name,
            feed("YARA=https://example.com/r/yara-forge-rules-core.zip")
                .unwrap()
                .name
        );
        let other = feed("yara=https://example.org/r/yara-forge-rules-core.zip").unwrap();
        assert_ne!(f.name, other.name);
        assert_eq!(
            feed("sha256=https://bazaar.example/export/txt/sha256/recent/")
                .unwrap()
                .kind,
            FeedKind::Sha256
        );
    }

    #[test]
    fn plain_http_is_refused_but_to_loopback() {
        assert!(feed("md5=http://127.0.0.1:8080/x.txt").is_ok());
        assert!(feed("md5=http://[::1]:8080/x.txt").is_ok());
        assert!(feed("md5=http://localhost/x.txt").is_ok());
        let err = feed("md5=http://example.com/x.txt").unwrap_err();
        assert!(err.contains("only to loopback"), "{err}");
        assert!(
            feed("md5=ftp://example.com/x.txt")
                .unwrap_err()
                .contains("ftp")
        );
    }

    #[test]
    fn unknown_kinds_and_bad_items_name_what_is_allowed() {
        let err = feed("clamav=https://example.com/x").unwrap_err();
        assert!(err.contains("yara, sha256, md5, sha1"), "{err}");
        assert!(
            feed("https://example.com/x")
                .unwrap_err()
                .contains("KIND=URL")
        );
        assert!(feed("yara=not a url").unwrap_err().contains("not a URL"));
    }
}
