//! The settings of rule and hash feeds (`FEEDS`, `FEEDS_*`): which packages and lists are
//! downloaded, and the limits that decide whether one is put in force.

use std::net::IpAddr;
use std::time::Duration;

use serde::Serialize;
use strum::{Display, IntoStaticStr, VariantArray, VariantNames};

/// Where feeds are written, under the rules prefix (a folder the RULES loader reads like any
/// other).
pub const FEEDS_FOLDER: &str = "feeds/";

/// What a feed holds: a YARA rule package, or a list of digests of one kind.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, VariantArray, IntoStaticStr, VariantNames, Display, Serialize,
)]
#[strum(serialize_all = "kebab-case")]
#[serde(rename_all = "kebab-case")]
pub enum FeedKind {
    /// A zip or tar.gz of `.yar`/`.yara` files, or one such file.
    Yara,
    /// SHA-256 digests, one a line.
    Sha256,
    /// MD5 digests, one a line.
    Md5,
    /// SHA-1 digests, one a line.
    Sha1,
}

impl FeedKind {
    /// The extension of the object a feed of this kind is written as: one the rules loader
    /// (`RULES`) reads as YARA sources or as a hash list.
    pub fn extension(self) -> &'static str {
        match self {
            FeedKind::Yara => "yar",
            FeedKind::Sha256 => "sha256",
            FeedKind::Md5 => "md5",
            FeedKind::Sha1 => "sha1",
        }
    }

    /// The length in bytes of the digests of a hash list kind; `None` for rules.
    pub fn digest_len(self) -> Option<usize> {
        match self {
            FeedKind::Yara => None,
            FeedKind::Sha256 => Some(32),
            FeedKind::Md5 => Some(16),
            FeedKind::Sha1 => Some(20),
        }
    }
}

/// One feed of `FEEDS`: its kind, where it is downloaded from (https, or http to loopback),
/// and the name of the object it is written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feed {
    /// What it holds.
    pub kind: FeedKind,
    /// Where it comes from.
    pub url: reqwest::Url,
    /// The object's name under `<rules prefix>feeds/`, without extension: the URL's last
    /// path segment, cleaned, and a short hash of the whole URL (stable, and distinct for
    /// distinct URLs).
    pub name: String,
}

/// Every feed and the limits of an update (`FEEDS_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feeds {
    /// The feeds, in the order `FEEDS` lists them (`FEEDS`).
    pub feeds: Vec<Feed>,
    /// A rule package with fewer rules than (100 - this) % of the one in force is refused
    /// (`FEEDS_MAX_SHRINK`).
    pub max_shrink_percent: u64,
    /// A hash list with more malformed lines than this % of its lines is refused
    /// (`FEEDS_MAX_MALFORMED`).
    pub max_malformed_percent: u64,
    /// Largest download, and largest package once unpacked (`FEEDS_MAX_SIZE`).
    pub max_size: u64,
    /// Each download attempt gives up after this (`FEEDS_TIMEOUT_SECS`).
    pub timeout: Duration,
}

/// Whether `url` names this machine.
pub fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
