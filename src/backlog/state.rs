//! What makes a backlog resumable: the [`Watermark`] (the key below which every object is
//! done, although objects finish out of order) and the [`State`] file it is saved in.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::BacklogError;

/// The format of the state file; another number is refused rather than misread.
const FORMAT: u32 = 1;

/// The objects of a listing, taken in key order and finished in any order: the last key before
/// which every object taken is finished. Objects finished above it are done again on resume,
/// which the journey allows (a signed `Clean` is skipped unread; a verdict is written again).
#[derive(Debug, Default)]
pub struct Watermark {
    /// The sequence number of the first object not yet finished.
    next: u64,
    /// Objects finished out of order, by sequence number: key, and why it failed if it did.
    finished: BTreeMap<u64, (String, Option<String>)>,
    /// Failures the watermark passed over, not yet taken by the caller: (key, why).
    passed: VecDeque<(String, String)>,
    after: Option<String>,
    done: u64,
}

impl Watermark {
    /// A watermark at `after` (`None`: before the first key).
    pub fn new(after: Option<String>) -> Watermark {
        Watermark {
            after,
            ..Watermark::default()
        }
    }

    /// Object number `seq` of the listing (numbered from 0 in key order) ended, with `failure`
    /// when it did not settle. Moves the watermark over every object finished in a row.
    pub fn finish(&mut self, seq: u64, key: String, failure: Option<String>) {
        self.finished.insert(seq, (key, failure));
        while let Some((key, failure)) = self.finished.remove(&self.next) {
            if let Some(why) = failure {
                self.passed.push_back((key.clone(), why));
            }
            self.after = Some(key);
            self.next += 1;
            self.done += 1;
        }
    }

    /// The last key below which every object is finished.
    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// How many objects the watermark passed over.
    pub fn done(&self) -> u64 {
        self.done
    }

    /// The failures the watermark passed over since the last call: (key, why).
    pub fn take_failures(&mut self) -> Vec<(String, String)> {
        self.passed.drain(..).collect()
    }

    /// The failures finished above the watermark: (key, why). A run that stops now does them
    /// again, as it does every object above the watermark.
    pub fn pending_failures(&self) -> impl Iterator<Item = (&String, &String)> {
        self.finished
            .values()
            .filter_map(|(key, failure)| Some((key, failure.as_ref()?)))
    }

    /// True when every object taken so far is finished.
    pub fn is_caught_up(&self) -> bool {
        self.finished.is_empty()
    }
}

/// The state file of one backlog: where to resume, and what failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The file format.
    pub format: u32,
    /// The bucket listed.
    pub bucket: String,
    /// The prefix listed.
    pub prefix: String,
    /// Every object up to this key is done.
    pub after: Option<String>,
    /// The listing reached its end: only `failed` is left to do.
    pub listed_all: bool,
    /// Objects done below `after`, by all runs.
    pub done: u64,
    /// Objects that did not settle, by key, with why: retried first by the next run.
    pub failed: BTreeMap<String, String>,
}

impl State {
    /// A fresh state: nothing done.
    pub fn new(bucket: &str, prefix: &str) -> State {
        State {
            format: FORMAT,
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            after: None,
            listed_all: false,
            done: 0,
            failed: BTreeMap::new(),
        }
    }

    /// The state saved at `path` for this bucket and prefix, or a fresh one when there is no
    /// file (or `restart`). A file for another listing, or not a state file, is an error: the
    /// user chose the path, and guessing could redo or skip a whole bucket.
    pub fn open(
        path: &Path,
        bucket: &str,
        prefix: &str,
        restart: bool,
    ) -> Result<State, BacklogError> {
        let problem = |detail: String| BacklogError::State {
            path: path.to_owned(),
            detail,
        };
        let text = match std::fs::read_to_string(path) {
            Ok(_) if restart => return Ok(State::new(bucket, prefix)),
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State::new(bucket, prefix));
            }
            Err(e) => return Err(problem(format!("cannot read it: {e}"))),
        };
        let state: State = serde_json::from_str(&text).map_err(|e| {
            problem(format!(
                "not a backlog state file ({e}); remove it or pass --restart"
            ))
        })?;
        if state.format != FORMAT {
            return Err(problem(format!(
                "format {} is not {FORMAT}; pass --restart",
                state.format
            )));
        }
        if (state.bucket.as_str(), state.prefix.as_str()) != (bucket, prefix) {
            return Err(problem(format!(
                "it is the state of s3://{}/{}, not of s3://{bucket}/{prefix}",
                state.bucket, state.prefix
            )));
        }
        Ok(state)
    }

    /// Writes the state to `path` through a temporary file and a rename, so that an
    /// interruption leaves the old state or the new one, never half of one.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut file = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(&mut file, self)?;
        file.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The default state file of a backlog, in the current directory: named for the bucket and a
/// digest of the prefix (prefixes can hold any character, file names cannot).
pub fn default_state_file(bucket: &str, prefix: &str) -> PathBuf {
    let digest = hex::encode(Sha256::digest(prefix.as_bytes()));
    PathBuf::from(format!(
        ".s3-yara-scan-backlog-{bucket}-{}.json",
        &digest[..12]
    ))
}
