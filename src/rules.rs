//! Users' own rule sets, besides the embedded one (`RULES`): YARA sources (`.yar`, `.yara`),
//! rules this tool serialized (`.yarc`) and lists of known-bad hashes (`.hashes`, `.sha256`,
//! `.sha1`, `.md5`), from local folders or S3 prefixes. They are loaded at
//! start-up and checked again every `RULES_REFRESH_SECS`: a changed set is compiled and swapped
//! in while scans go on; one that fails to compile is rejected, its errors logged with file and
//! line, and the rules in force stay. A set compiled from an S3 prefix is cached next to its
//! sources, keyed by the sources' ETags, the yara-x version and the platform, so that only the
//! first cold start after a change compiles: every later one only deserializes.

use std::path::Path;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::config::RuleSource;
use crate::object::ObjectRef;
use crate::scan::{EXTERNALS, HashList, RuleSet};
use crate::store::{Budget, Fetched, ObjectStore, StoreError};

/// Where a source's compiled cache lives, under its prefix.
pub const CACHE_FOLDER: &str = ".s3-yara-scan-cache/";
/// The platform compiled rules' native code is for (`build.rs` sets it).
pub const TARGET: &str = env!("S3_YARA_SCAN_TARGET");

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

/// Loads every source: from its cache when it has a valid one, else compiled (and cached).
pub async fn load<S: ObjectStore>(
    store: &S,
    sources: &[RuleSource],
    budget: &Budget,
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
        let (sets, compiled) = load_source(store, source, &rules, budget).await?;
        loaded.sets.extend(sets);
        loaded.compiled += usize::from(compiled);
        loaded.fingerprint.0.push(entries);
    }
    Ok(loaded)
}

async fn load_source<S: ObjectStore>(
    store: &S,
    source: &RuleSource,
    entries: &[Entry],
    budget: &Budget,
) -> Result<(Vec<RuleSet>, bool), RulesError> {
    if entries.is_empty() {
        return Ok((Vec::new(), false));
    }
    let id = set_id(entries);
    let cache = cache_object(source, &id);
    if let Some(cache) = &cache
        && let Some(set) = from_cache(store, cache, &id, budget).await
    {
        return Ok((vec![set], false));
    }
    let files = read_all(store, source, entries, budget).await?;
    let started = Instant::now();
    let sets = tokio::task::spawn_blocking({
        let (source, id) = (source.to_string(), id.clone());
        move || sets_of(&source, &files, &id)
    })
    .await
    .map_err(|e| read_error(source, "the rules", e.to_string()))??;
    tracing::info!(source = %source, rules = sets.iter().map(RuleSet::len).sum::<usize>(), compile_ms = started.elapsed().as_millis() as u64, "rule set compiled");
    if let (Some(cache), [set]) = (&cache, sets.as_slice()) {
        write_cache(store, cache, set).await;
    }
    Ok((sets, true))
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

fn local_entries(source: &RuleSource, path: &Path) -> Result<Vec<Entry>, RulesError> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(path).follow_links(true) {
        let entry = entry.map_err(|e| read_error(source, "the folder", e.to_string()))?;
        let name = entry.path().display().to_string();
        if !entry.file_type().is_file() || !is_rule_file(&name) {
            continue;
        }
        let bytes =
            std::fs::read(entry.path()).map_err(|e| read_error(source, &name, e.to_string()))?;
        out.push(Entry {
            version: hex::encode(Sha256::digest(&bytes)),
            name,
        });
    }
    Ok(out)
}

fn is_rule_file(name: &str) -> bool {
    [".yar", ".yara", ".yarc"]
        .iter()
        .any(|ext| name.ends_with(ext))
        || is_hash_list(name)
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
                read_object(store, &object, budget)
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
    budget: &Budget,
) -> Result<Vec<u8>, StoreError> {
    match store.get(object, None, budget, None).await? {
        Fetched::Body { body, .. } => Ok(body.as_ref().to_vec()),
        Fetched::TooLarge(info) => Err(StoreError::Permanent {
            op: crate::store::Op::GetObject,
            code: "TooLarge".into(),
            detail: format!("{} bytes is more than a rule file may have", info.size),
        }),
    }
}

/// The sets `files` make: one compiled from all the sources, and one per serialized file.
fn sets_of(
    source: &str,
    files: &[(String, Vec<u8>)],
    id: &str,
) -> Result<Vec<RuleSet>, RulesError> {
    let (serialized, sources): (Vec<_>, Vec<_>) =
        files.iter().partition(|(name, _)| name.ends_with(".yarc"));
    let mut sets = Vec::new();
    if !sources.is_empty() {
        let sources: Vec<(String, Vec<u8>)> = sources.into_iter().cloned().collect();
        let rules = compile(&sources).map_err(|errors| RulesError::Compile {
            origin: source.to_owned(),
            errors,
        })?;
        sets.push(RuleSet::new(rules, id));
    }
    for (name, bytes) in serialized {
        let set = RuleSet::from_serialized(bytes).map_err(|e| RulesError::Serialized {
            origin: source.to_owned(),
            file: name.clone(),
            reason: e.to_string(),
        })?;
        sets.push(set);
    }
    Ok(sets)
}

/// Compiles YARA sources, the externals public sets expect defined; every error, each with its
/// file and line, when they do not compile.
pub fn compile(files: &[(String, Vec<u8>)]) -> Result<yara_x::Rules, String> {
    compile_with_warnings(files).map(|(rules, _)| rules)
}

/// [`compile`], with yara-x's warnings (each with its file and line).
pub fn compile_with_warnings(
    files: &[(String, Vec<u8>)],
) -> Result<(yara_x::Rules, Vec<String>), String> {
    let mut compiler = yara_x::Compiler::new();
    for name in EXTERNALS {
        compiler
            .define_global(name, "")
            .map_err(|e| format!("defining the external `{name}`: {e}"))?;
    }
    let mut errors = Vec::new();
    for (name, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        let code = yara_x::SourceCode::from(text.as_ref()).with_origin(name.as_str());
        if let Err(e) = compiler.add_source(code) {
            errors.push(e.to_string());
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let warnings = compiler.warnings().iter().map(|w| w.to_string()).collect();
    Ok((compiler.build(), warnings))
}

/// The rule sets and hash lists under local `paths` (sources compiled together, each `.yarc`
/// loaded), for the command line.
pub fn local_sets(paths: &[std::path::PathBuf]) -> Result<(Vec<RuleSet>, HashList), RulesError> {
    let (mut sets, mut hashes) = (Vec::new(), HashList::default());
    for path in paths {
        let source = RuleSource::Local(path.clone());
        let mut entries = local_entries(&source, path)?;
        entries.sort();
        if entries.is_empty() {
            return Err(RulesError::Empty {
                origin: source.to_string(),
            });
        }
        let files = entries
            .iter()
            .map(|e| {
                std::fs::read(&e.name)
                    .map(|b| (e.name.clone(), b))
                    .map_err(|err| read_error(&source, &e.name, err.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (lists, rules): (Vec<_>, Vec<_>) =
            files.into_iter().partition(|(name, _)| is_hash_list(name));
        hash_lists(&source.to_string(), &lists, &mut hashes)?;
        if !rules.is_empty() {
            sets.extend(sets_of(&source.to_string(), &rules, &set_id(&entries))?);
        }
    }
    Ok((sets, hashes))
}

/// The YARA source files under local `paths`, read, for `rules check` and `rules build`.
pub fn local_sources(paths: &[std::path::PathBuf]) -> Result<Vec<(String, Vec<u8>)>, RulesError> {
    let mut files = Vec::new();
    for path in paths {
        let source = RuleSource::Local(path.clone());
        for e in local_entries(&source, path)? {
            if e.name.ends_with(".yarc") || is_hash_list(&e.name) {
                continue;
            }
            let bytes = std::fs::read(&e.name)
                .map_err(|err| read_error(&source, &e.name, err.to_string()))?;
            files.push((e.name, bytes));
        }
    }
    files.sort();
    Ok(files)
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

/// Where an S3 source's compiled set is cached: next to its sources, keyed by their identity,
/// the yara-x version and this platform (native code only loads where it was made).
fn cache_object(source: &RuleSource, id: &str) -> Option<ObjectRef> {
    let RuleSource::S3 { bucket, prefix } = source else {
        return None;
    };
    let key = format!(
        "{prefix}{CACHE_FOLDER}{id}-yara-x-{}-{TARGET}.yarc",
        yara_x::VERSION
    );
    Some(ObjectRef::new(bucket.as_str(), key))
}

async fn from_cache<S: ObjectStore>(
    store: &S,
    cache: &ObjectRef,
    id: &str,
    budget: &Budget,
) -> Option<RuleSet> {
    let bytes = match read_object(store, cache, budget).await {
        Ok(bytes) => bytes,
        Err(StoreError::NotFound { .. }) => return None,
        Err(e) => {
            tracing::warn!(cache = %cache, error = %e, "cannot read the compiled rules cache; compiling");
            return None;
        }
    };
    let started = Instant::now();
    let id = id.to_owned();
    let loaded = tokio::task::spawn_blocking(move || {
        yara_x::Rules::deserialize(&bytes).map(|rules| RuleSet::new(rules, id))
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
        Err(_) => None,
    }
}

/// Best effort: a cache that cannot be written only costs the next cold start a compile.
async fn write_cache<S: ObjectStore>(store: &S, cache: &ObjectRef, set: &RuleSet) {
    let written = match set.serialize() {
        Ok(bytes) => store.put(cache, bytes).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match written {
        Ok(()) => tracing::info!(cache = %cache, "compiled rules cached for the next cold starts"),
        Err(e) => {
            tracing::warn!(cache = %cache, error = %e, "cannot cache the compiled rules (s3:PutObject on the rules prefix); every cold start compiles")
        }
    }
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
