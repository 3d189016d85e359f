//! Loading users' own rules, besides the embedded ones (`RULES`): their sources, read from
//! local folders or S3 prefixes (YARA sources `.yar` and `.yara`, rules this tool serialized
//! `.yarc`, lists of known-bad hashes `.hashes`, `.sha256`, `.sha1`, `.md5`), compiled into the
//! [`RuleSet`]s that scanning holds (`scan/compiled.rs`: compiled sets and those in force).
//! They are loaded at start-up and checked again every `RULES_REFRESH_SECS`: a changed set is
//! compiled and swapped in while scans go on; one that fails to compile is rejected, its errors
//! logged with file and line, and the rules in force stay. A set compiled from an S3 prefix is
//! cached next to its sources (`cache.rs`: authenticated with a key derived from the signing
//! key), keyed by the sources' ETags, the yara-x version and the platform, so that only the
//! first cold start after a change compiles: every later one only deserializes.
//!
//! Serialized rules carry native code that yara-x loads as is: a `.yarc` is code. One in a
//! local folder is the user's own file; one under an S3 prefix loads only when its SHA-256 is
//! pinned (`RULES_YARC_SHA256`), so that whoever can write the prefix decides rules, not code.

use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::config::RuleSource;
use crate::object::ObjectRef;
use crate::scan::{HashList, RuleSet};
use crate::signature::DerivedKey;
use crate::store::{Budget, Fetched, ObjectStore, StoreError};

pub use crate::scan::TARGET;
pub use compile::{Includes, compile, compile_with, compile_with_warnings};

mod cache;
mod compile;
mod local;

use local::local_entries;
pub use local::{local_serialized, local_sets, local_sources};

/// Where a source's compiled cache lives, under its prefix.
pub const CACHE_FOLDER: &str = ".s3-yara-scan-cache/";

/// What the loader may take from S3 besides the sources' text: each of these is code.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trust<'a> {
    /// Authenticates the compiled cache (the signing key's `RulesCache` key); without it no
    /// cache is read or written.
    pub cache_key: Option<&'a DerivedKey>,
    /// The SHA-256 digests of the `.yarc` files an S3 source may hold (`RULES_YARC_SHA256`).
    pub yarc_sha256: &'a [[u8; 32]],
}

/// Why a rule set could not be loaded. The rules in force stay.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RulesError {
    /// A source or one of its files could not be read.
    #[error("RULES `{origin}`: cannot read {what}: {reason}")]
    Read {
        /// The source (`RULES` entry).
        origin: String,
        /// What could not be read.
        what: String,
        /// Why.
        reason: String,
    },
    /// The sources do not compile; `errors` name each file and line.
    #[error("RULES `{origin}`: rules do not compile:\n{errors}")]
    Compile {
        /// The source.
        origin: String,
        /// yara-x's errors, each with its file and line.
        errors: String,
    },
    /// A `.yarc` under an S3 source whose digest `RULES_YARC_SHA256` does not list.
    #[error(
        "RULES `{origin}`: {file} (SHA-256 {sha256}) is compiled rules, whose native code the \
         function would run as is; a .yarc loads from S3 only when RULES_YARC_SHA256 lists its \
         digest: add {sha256} to RULES_YARC_SHA256 if you built this file, or remove it"
    )]
    Unpinned {
        /// The source.
        origin: String,
        /// The file.
        file: String,
        /// Its SHA-256, hex.
        sha256: String,
    },
    /// A `.yarc` file is not rules this yara-x serialized.
    #[error(
        "RULES `{origin}`: {file} is not rules serialized by yara-x {}: {reason}",
        yara_x::VERSION
    )]
    Serialized {
        /// The source.
        origin: String,
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// Lines of a hash list that are no digest.
    #[error("RULES `{origin}`: hash lists have lines that are no MD5, SHA-1 or SHA-256:\n{errors}")]
    Hashes {
        /// The source.
        origin: String,
        /// Each bad line, with its file and number.
        errors: String,
    },
    /// An allow list (`ALLOW_HASHES`) that cannot be put in force.
    #[error("ALLOW_HASHES `{origin}`: {reason}")]
    Allow {
        /// The source.
        origin: String,
        /// Why.
        reason: String,
    },
    /// No rule file at all: surely a mistake.
    #[error(
        "RULES `{origin}` holds no .yar, .yara, .yarc or hash list (.hashes, .sha256, .sha1, .md5) file"
    )]
    Empty {
        /// The source.
        origin: String,
    },
}

/// One rule file of a source: its name (path or key), and what says it changed (its ETag, or
/// a hash of a local file's bytes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    /// Path or key.
    pub name: String,
    /// ETag, or a hash of the bytes.
    pub version: String,
}

/// The files of every source, as last seen: when they differ, the rules are loaded again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fingerprint(Vec<Vec<Entry>>);

/// Rule sets loaded from the sources.
#[derive(Debug)]
pub struct Loaded {
    /// The sets, source by source.
    pub sets: Vec<RuleSet>,
    /// The known-bad hashes of every source.
    pub hashes: HashList,
    /// The files they came from.
    pub fingerprint: Fingerprint,
    /// Sources compiled now (not found in the cache).
    pub compiled: usize,
}

/// The files of every source now, without their bytes: one listing per source.
pub async fn fingerprint<S: ObjectStore>(
    store: &S,
    sources: &[RuleSource],
) -> Result<Fingerprint, RulesError> {
    let mut all = Vec::new();
    for source in sources {
        all.push(entries(store, source).await?);
    }
    Ok(Fingerprint(all))
}

impl Fingerprint {
    /// The files whose folder is named `folder` (such as `feeds/`).
    pub fn in_folder<'a>(&'a self, folder: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        let folder = folder.trim_end_matches('/');
        self.0.iter().flatten().filter(move |e| {
            let parent = e.name.rsplit_once('/').map_or("", |(dir, _)| dir);
            parent.rsplit('/').next() == Some(folder)
        })
    }

    /// These files, then `more`'s.
    pub fn and(mut self, more: Fingerprint) -> Fingerprint {
        self.0.extend(more.0);
        self
    }
}

/// The allow lists of `ALLOW_HASHES` sources: their hash list files (`.sha256`, `.hashes`),
/// SHA-256 digests only (an allow list of MD5 or SHA-1 digests would let through whoever makes
/// a collision), and the files they came from.
pub async fn load_allowed<S: ObjectStore>(
    store: &S,
    sources: &[RuleSource],
    budget: &Budget,
) -> Result<(HashList, Fingerprint), RulesError> {
    let mut allowed = HashList::default();
    let mut fingerprint = Fingerprint::default();
    for source in sources {
        let refused = |reason: String| RulesError::Allow {
            origin: source.to_string(),
            reason,
        };
        let entries = entries(store, source)
            .await
            .map_err(|e| refused(e.to_string()))?;
        let lists: Vec<Entry> = (entries.iter())
            .filter(|e| is_hash_list(&e.name))
            .cloned()
            .collect();
        if lists.is_empty() {
            return Err(refused("holds no .sha256 or .hashes file".into()));
        }
        let files = read_all(store, source, &lists, budget).await?;
        hash_lists(&source.to_string(), &files, &mut allowed)
            .map_err(|e| refused(e.to_string()))?;
        if allowed.has_weak() {
            return Err(refused(
                "holds MD5 or SHA-1 digests; allow lists take SHA-256 only (a collision could \
                 pass as allowed bytes)"
                    .into(),
            ));
        }
        fingerprint.0.push(entries);
    }
    Ok((allowed, fingerprint))
}

/// Loads every source: from its cache when it has one that `trust` authenticates, else
/// compiled (and cached when `trust` has a key); a `.yarc` in S3 only when `trust` pins it.
pub async fn load<S: ObjectStore>(
    store: &S,
    sources: &[RuleSource],
    budget: &Budget,
    trust: Trust<'_>,
) -> Result<Loaded, RulesError> {
    let mut loaded = Loaded {
        sets: Vec::new(),
        hashes: HashList::default(),
        fingerprint: Fingerprint::default(),
        compiled: 0,
    };
    for source in sources {
        let entries = entries(store, source).await?;
        let (lists, rules): (Vec<Entry>, Vec<Entry>) =
            entries.iter().cloned().partition(|e| is_hash_list(&e.name));
        let files = read_all(store, source, &lists, budget).await?;
        hash_lists(&source.to_string(), &files, &mut loaded.hashes)?;
        let (sets, compiled) = load_source(store, source, &rules, budget, trust).await?;
        loaded.sets.extend(sets);
        loaded.compiled += usize::from(compiled);
        loaded.fingerprint.0.push(entries);
    }
    Ok(loaded)
}

/// The sets of one source's rule files: one compiled from its YARA sources (or read from its
/// cache), then one per `.yarc`; and whether the sources were compiled now.
async fn load_source<S: ObjectStore>(
    store: &S,
    source: &RuleSource,
    entries: &[Entry],
    budget: &Budget,
    trust: Trust<'_>,
) -> Result<(Vec<RuleSet>, bool), RulesError> {
    let (serialized, sources): (Vec<Entry>, Vec<Entry>) = entries
        .iter()
        .cloned()
        .partition(|e| is_serialized(&e.name));
    let (mut sets, mut compiled) = (Vec::new(), false);
    if !sources.is_empty() {
        let (set, now) = source_set(store, source, &sources, budget, trust.cache_key).await?;
        sets.push(set);
        compiled = now;
    }
    for (name, bytes) in read_all(store, source, &serialized, budget).await? {
        if let RuleSource::S3 { .. } = source {
            check_pin(source, &name, &bytes, trust.yarc_sha256)?;
        }
        let origin = source.to_string();
        sets.push(blocking(source, move || serialized_set(&origin, &name, &bytes)).await?);
    }
    Ok((sets, compiled))
}

/// The set compiled from a source's YARA sources: from its cache when `key` authenticates one,
/// else compiled now (and cached when there is a key).
async fn source_set<S: ObjectStore>(
    store: &S,
    source: &RuleSource,
    entries: &[Entry],
    budget: &Budget,
    key: Option<&DerivedKey>,
) -> Result<(RuleSet, bool), RulesError> {
    let id = set_id(entries);
    let cache = key.and_then(|key| Some((cache::object(source, &id, key)?, key)));
    if let Some((cache, key)) = &cache
        && let Some(set) = cache::read(store, cache, &id, key, budget).await
    {
        return Ok((set, false));
    }
    let files = read_all(store, source, entries, budget).await?;
    let started = Instant::now();
    let set = blocking(source, {
        let (origin, id) = (source.to_string(), id.clone());
        let includes = Includes::of(source);
        move || compiled_set(&origin, &files, &id, includes)
    })
    .await?;
    tracing::info!(source = %source, rules = set.len(), compile_ms = started.elapsed().as_millis() as u64, "rule set compiled");
    if let Some((cache, key)) = &cache {
        cache::write(store, cache, &id, key, &set).await;
    }
    Ok((set, true))
}

/// `work` on the blocking pool: compiling and deserializing take long.
async fn blocking<T: Send + 'static>(
    source: &RuleSource,
    work: impl FnOnce() -> Result<T, RulesError> + Send + 'static,
) -> Result<T, RulesError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| read_error(source, "the rules", e.to_string()))?
}

/// Refuses the `.yarc` `name` of an S3 source unless `pins` hold the SHA-256 of its `bytes`:
/// the very bytes then deserialized.
fn check_pin(
    source: &RuleSource,
    name: &str,
    bytes: &[u8],
    pins: &[[u8; 32]],
) -> Result<(), RulesError> {
    let digest: [u8; 32] = Sha256::digest(bytes).into();
    if pins.contains(&digest) {
        return Ok(());
    }
    Err(RulesError::Unpinned {
        origin: source.to_string(),
        file: name.to_owned(),
        sha256: hex::encode(digest),
    })
}

/// The rule files of `source`, sorted by name.
async fn entries<S: ObjectStore>(store: &S, source: &RuleSource) -> Result<Vec<Entry>, RulesError> {
    let mut entries = match source {
        RuleSource::Local(path) => local_entries(source, path)?,
        RuleSource::S3 { bucket, prefix } => store
            .list(bucket, prefix)
            .await
            .map_err(|e| read_error(source, "the listing", e.to_string()))?
            .into_iter()
            .filter(|l| is_rule_file(&l.key) && !l.key[prefix.len()..].starts_with(CACHE_FOLDER))
            .map(|l| Entry {
                name: l.key,
                version: l.etag.unwrap_or_default(),
            })
            .collect(),
    };
    entries.sort();
    if entries.is_empty() {
        return Err(RulesError::Empty {
            origin: source.to_string(),
        });
    }
    Ok(entries)
}

fn is_rule_file(name: &str) -> bool {
    [".yar", ".yara", ".yarc"]
        .iter()
        .any(|ext| name.ends_with(ext))
        || is_hash_list(name)
}

fn is_serialized(name: &str) -> bool {
    name.ends_with(".yarc")
}

fn is_hash_list(name: &str) -> bool {
    [".hashes", ".sha256", ".sha1", ".md5"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Adds the digests of the hash list `files` to `hashes`; every bad line is an error, so that
/// a list mangled in transit is rejected as a whole rather than half in force.
fn hash_lists(
    source: &str,
    files: &[(String, Vec<u8>)],
    hashes: &mut HashList,
) -> Result<(), RulesError> {
    let mut bad = Vec::new();
    for (name, bytes) in files {
        bad.extend(hashes.add(name, &String::from_utf8_lossy(bytes)));
    }
    if bad.is_empty() {
        return Ok(());
    }
    Err(RulesError::Hashes {
        origin: source.to_owned(),
        errors: bad.join("\n"),
    })
}

/// The bytes of every entry.
async fn read_all<S: ObjectStore>(
    store: &S,
    source: &RuleSource,
    entries: &[Entry],
    budget: &Budget,
) -> Result<Vec<(String, Vec<u8>)>, RulesError> {
    let mut files = Vec::new();
    for entry in entries {
        let bytes = match source {
            RuleSource::Local(_) => std::fs::read(&entry.name)
                .map_err(|e| read_error(source, &entry.name, e.to_string()))?,
            RuleSource::S3 { bucket, .. } => {
                let object = ObjectRef::new(bucket.as_str(), entry.name.as_str());
                // The bytes the listing named (the set's id and cache are keyed by its ETags),
                // not a newer upload made since: that one is read at the next refresh.
                let listed = Some(entry.version.as_str()).filter(|v| !v.is_empty());
                read_object(store, &object, listed, budget)
                    .await
                    .map_err(|e| read_error(source, &entry.name, e.to_string()))?
            }
        };
        files.push((entry.name.clone(), bytes));
    }
    Ok(files)
}

async fn read_object<S: ObjectStore>(
    store: &S,
    object: &ObjectRef,
    etag: Option<&str>,
    budget: &Budget,
) -> Result<Vec<u8>, StoreError> {
    match store.get(object, etag, budget, None).await? {
        Fetched::Body { body, .. } => Ok(body.as_ref().to_vec()),
        Fetched::TooLarge(info) => Err(StoreError::Permanent {
            op: crate::store::Op::GetObject,
            code: "TooLarge".into(),
            detail: format!("{} bytes is more than a rule file may have", info.size),
        }),
    }
}

/// The set YARA source `files` compile to.
fn compiled_set(
    source: &str,
    files: &[(String, Vec<u8>)],
    id: &str,
    includes: Includes,
) -> Result<RuleSet, RulesError> {
    let rules = compile_with(files, includes).map_err(|errors| RulesError::Compile {
        origin: source.to_owned(),
        errors,
    })?;
    Ok(RuleSet::new(rules, id))
}

/// The set of the `.yarc` file `name`, whose native code yara-x loads as is: only for files
/// the user vouched for (local, or pinned).
fn serialized_set(source: &str, name: &str, bytes: &[u8]) -> Result<RuleSet, RulesError> {
    RuleSet::from_serialized(bytes).map_err(|e| RulesError::Serialized {
        origin: source.to_owned(),
        file: name.to_owned(),
        reason: e.to_string(),
    })
}

/// The identity of a set made from `entries`: a hash of their names and versions, and of the
/// yara-x version that compiles them.
fn set_id(entries: &[Entry]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(yara_x::VERSION.as_bytes());
    for e in entries {
        for part in [&e.name, &e.version] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
    }
    hex::encode(&hasher.finalize()[..6])
}

fn read_error(source: &RuleSource, what: &str, reason: String) -> RulesError {
    RulesError::Read {
        origin: source.to_string(),
        what: what.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod trust_tests;
