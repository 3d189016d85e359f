//! Rule sets in local folders: for `RULES=/opt/...` (the deployment package) and the command
//! line (`scan --rules`, `rules check`, `rules build`). The user's own files: a `.yarc` here
//! loads without a pin.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{
    Entry, Includes, RulesError, compiled_set, hash_lists, is_hash_list, is_rule_file,
    is_serialized, read_error, serialized_set, set_id,
};
use crate::config::RuleSource;
use crate::scan::{HashList, RuleSet};

pub(super) fn local_entries(source: &RuleSource, path: &Path) -> Result<Vec<Entry>, RulesError> {
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

/// The rule sets and hash lists under local `paths` (sources compiled together, each `.yarc`
/// loaded), for the command line.
pub fn local_sets(paths: &[PathBuf]) -> Result<(Vec<RuleSet>, HashList), RulesError> {
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
        let origin = source.to_string();
        let (lists, rules): (Vec<_>, Vec<_>) =
            files.into_iter().partition(|(name, _)| is_hash_list(name));
        hash_lists(&origin, &lists, &mut hashes)?;
        let (serialized, sources): (Vec<_>, Vec<_>) =
            rules.into_iter().partition(|(name, _)| is_serialized(name));
        if !sources.is_empty() {
            let named: Vec<Entry> = entries
                .into_iter()
                .filter(|e| !is_hash_list(&e.name) && !is_serialized(&e.name))
                .collect();
            sets.push(compiled_set(
                &origin,
                &sources,
                &set_id(&named),
                Includes::Allowed,
            )?);
        }
        for (name, bytes) in serialized {
            sets.push(serialized_set(&origin, &name, &bytes)?);
        }
    }
    Ok((sets, hashes))
}

/// The YARA source files under local `paths`, read, for `rules check` and `rules build`.
pub fn local_sources(paths: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>, RulesError> {
    local_files(paths, |name| !is_serialized(name) && !is_hash_list(name))
}

/// The `.yarc` files under local `paths`, read, for `rules check`.
pub fn local_serialized(paths: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>, RulesError> {
    local_files(paths, is_serialized)
}

fn local_files(
    paths: &[PathBuf],
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<(String, Vec<u8>)>, RulesError> {
    let mut files = Vec::new();
    for path in paths {
        let source = RuleSource::Local(path.clone());
        for e in local_entries(&source, path)? {
            if !wanted(&e.name) {
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
