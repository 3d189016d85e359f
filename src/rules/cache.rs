//! The compiled cache of an S3 source's set, next to its sources: serialized rules carry
//! native code that yara-x loads as is, so whoever can write the cache would run code in the
//! scanner's role. Every cache is authenticated before yara-x sees a byte of it: its header
//! holds an HMAC (the signing key's `RulesCache` key) over where it lives, the set it is
//! for, the yara-x version, the target and the serialized bytes. Without a key there is no
//! cache; one that does not verify is ignored, logged at error, and rewritten.

use std::fmt;
use std::time::Instant;

use super::{CACHE_FOLDER, read_object};
use crate::config::RuleSource;
use crate::object::ObjectRef;
use crate::scan::serialized::{self, Header};
use crate::scan::{RuleSet, TARGET};
use crate::signature::DerivedKey;
use crate::store::{Budget, ObjectStore, StoreError};

/// Where an S3 source's compiled set is cached: next to its sources, keyed by the set's
/// identity, the yara-x version, this platform (native code only loads where it was made) and
/// the key (functions with different keys sharing a prefix keep a cache each, rather than
/// refusing each other's). `None` for a local source.
pub(super) fn object(source: &RuleSource, id: &str, key: &DerivedKey) -> Option<ObjectRef> {
    let RuleSource::S3 { bucket, prefix } = source else {
        return None;
    };
    // A MAC of a fixed label: it names the key without telling anything about it.
    let key_id = &key.mac(&[b"compiled rules cache name"])[..12];
    let key_name = format!(
        "{prefix}{CACHE_FOLDER}{id}-yara-x-{}-{TARGET}-{key_id}.yarc",
        yara_x::VERSION
    );
    Some(ObjectRef::new(bucket.as_str(), key_name))
}

/// What the MAC covers: the place, the set, the yara-x that serialized it, the platform its
/// native code is for, and the bytes. A cache copied from another place or set, or made by
/// another build, does not verify.
fn fields<'a>(cache: &'a ObjectRef, id: &'a str, body: &'a [u8]) -> [&'a [u8]; 6] {
    [
        cache.bucket.as_bytes(),
        cache.key.as_bytes(),
        id.as_bytes(),
        yara_x::VERSION.as_bytes(),
        TARGET.as_bytes(),
        body,
    ]
}

/// Why a cache was refused before yara-x saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refused {
    /// Not a file this tool wrote (yara-x's own bytes, or anything else).
    NoHeader,
    /// A header that does not parse.
    Header(String),
    /// A header without a MAC.
    NoMac,
    /// A MAC that does not verify.
    BadMac,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::NoHeader => write!(f, "it has no s3-yara-scan header"),
            Refused::Header(why) => write!(f, "{why}"),
            Refused::NoMac => write!(f, "its header holds no MAC"),
            Refused::BadMac => write!(
                f,
                "its MAC does not verify: it was changed, copied from another set or place, or \
                 written with another key"
            ),
        }
    }
}

/// The serialized rules in `bytes`, when their MAC verifies for `cache` and `id`.
pub(super) fn verify<'a>(
    bytes: &'a [u8],
    cache: &ObjectRef,
    id: &str,
    key: &DerivedKey,
) -> Result<&'a [u8], Refused> {
    let (header, body) = serialized::split(bytes).map_err(|e| Refused::Header(e.to_string()))?;
    let mac = header.ok_or(Refused::NoHeader)?.mac.ok_or(Refused::NoMac)?;
    if key.verify(&fields(cache, id, body), &mac) {
        Ok(body)
    } else {
        Err(Refused::BadMac)
    }
}

/// The file written to `cache`: a header with the MAC, then `body`.
pub(super) fn sealed(body: &[u8], cache: &ObjectRef, id: &str, key: &DerivedKey) -> Vec<u8> {
    let mac = key.mac(&fields(cache, id, body));
    Header::this_build().with_mac(mac).write(body)
}

/// The set cached at `cache`, when there is one that verifies and loads; `None` (logged when
/// something is wrong) means compile and rewrite it.
pub(super) async fn read<S: ObjectStore>(
    store: &S,
    cache: &ObjectRef,
    id: &str,
    key: &DerivedKey,
    budget: &Budget,
) -> Option<RuleSet> {
    let bytes = match read_object(store, cache, None, budget).await {
        Ok(bytes) => bytes,
        Err(StoreError::NotFound { .. }) => return None,
        Err(e) => {
            tracing::warn!(cache = %cache, error = %e, "cannot read the compiled rules cache; compiling");
            return None;
        }
    };
    let start = match verify(&bytes, cache, id, key) {
        Ok(body) => bytes.len() - body.len(),
        Err(why) => {
            tracing::error!(cache = %cache, reason = %why, "compiled rules cache refused before loading: not written by this function with its key (whoever can write there could run code in the scanner); compiling the set and rewriting it");
            return None;
        }
    };
    let started = Instant::now();
    let id = id.to_owned();
    let loaded = tokio::task::spawn_blocking(move || {
        yara_x::Rules::deserialize(&bytes[start..]).map(|rules| RuleSet::new(rules, id))
    })
    .await;
    match loaded {
        Ok(Ok(set)) => {
            tracing::info!(cache = %cache, rules = set.len(), load_ms = started.elapsed().as_millis() as u64, "rule set loaded from its cache");
            Some(set)
        }
        Ok(Err(e)) => {
            tracing::warn!(cache = %cache, error = %e, "the compiled rules cache does not load; compiling");
            None
        }
        Err(e) => {
            // It passed its MAC, so this function wrote it: a panic is yara-x's, not an attack.
            tracing::error!(cache = %cache, error = %e, "loading the compiled rules cache failed; compiling");
            None
        }
    }
}

/// Best effort: a cache that cannot be written only costs the next cold start a compile.
pub(super) async fn write<S: ObjectStore>(
    store: &S,
    cache: &ObjectRef,
    id: &str,
    key: &DerivedKey,
    set: &RuleSet,
) {
    let written = match set.serialize() {
        Ok(body) => {
            let file = sealed(&body, cache, id, key);
            store.put(cache, file).await.map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    match written {
        Ok(()) => tracing::info!(cache = %cache, "compiled rules cached for the next cold starts"),
        Err(e) => {
            tracing::warn!(cache = %cache, error = %e, "cannot cache the compiled rules (s3:PutObject on the rules prefix's .s3-yara-scan-cache/); every cold start compiles")
        }
    }
}
