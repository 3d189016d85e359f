//! Compiled rule sets: rules yara-x compiled (the embedded ones, a `.yarc`, or users' sources
//! that the `rules` module loaded) with a short identity, and the sets in force together,
//! whose combined identity is the `scan-rules` tag. Where users' rules come from, and when
//! they are compiled again, is the `rules` module's.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use yara_x::Rules;

use super::serialized::{self, FormatError};
use super::{HashList, ScanError};

static EMBEDDED_RULES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rules.bin"));
const EMBEDDED_ID: &str = include_str!(concat!(env!("OUT_DIR"), "/ruleset_id"));

/// Compiled rules and their identity (a short hash written in tags and logs), shared by every
/// scan in the process.
///
/// Clones share the rules; each thread keeps a `Scanner` for them between objects
/// (`scanners.rs`) until the last clone is dropped.
#[derive(Clone)]
pub struct RuleSet {
    pub(super) rules: Arc<Rules>,
    /// Held by every clone and by no scanner: when it is gone, so is the set.
    pub(super) alive: Arc<()>,
    id: String,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("id", &self.id)
            .field("rules", &self.len())
            .finish()
    }
}

impl RuleSet {
    /// The rules built into the binary from `signatures/`.
    pub fn embedded() -> Result<RuleSet, ScanError> {
        let rules =
            Rules::deserialize(EMBEDDED_RULES).map_err(|e| ScanError::Load(e.to_string()))?;
        Ok(RuleSet::new(rules, EMBEDDED_ID))
    }

    /// Rules serialized with the same yara-x version, as `rules build` writes them (with its
    /// header) or as yara-x does (`Rules::serialize`, `yr compile`); the identity is a hash of
    /// yara-x's bytes. Their native code is loaded as is: only for files the user vouches for.
    pub fn from_serialized(bytes: &[u8]) -> Result<RuleSet, ScanError> {
        let refused = |e: FormatError| ScanError::Load(e.to_string());
        let (header, body) = serialized::split(bytes).map_err(refused)?;
        serialized::check_format(body, header.as_ref()).map_err(refused)?;
        let rules = Rules::deserialize(body).map_err(|e| ScanError::Load(e.to_string()))?;
        let id = hex::encode(&Sha256::digest(body)[..6]);
        Ok(RuleSet::new(rules, id))
    }

    /// Wraps compiled rules with an identity of the caller's choosing.
    pub fn new(rules: Rules, id: impl Into<String>) -> RuleSet {
        RuleSet {
            rules: Arc::new(rules),
            alive: Arc::new(()),
            id: id.into(),
        }
    }

    /// The rules in yara-x's serialized form (what `from_serialized` loads).
    pub fn serialize(&self) -> Result<Vec<u8>, ScanError> {
        self.rules
            .serialize()
            .map_err(|e| ScanError::Load(e.to_string()))
    }

    /// The file `rules build` writes: a header naming this yara-x and target, then the rules
    /// serialized.
    pub fn to_file(&self) -> Result<Vec<u8>, ScanError> {
        Ok(serialized::Header::this_build().write(&self.serialize()?))
    }

    /// Short identity of these rules.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.iter().len()
    }

    /// True when there are no rules (every object would be `Clean`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Names of the rules, with their `description` meta when they have one.
    pub fn describe(&self) -> Vec<(String, Option<String>)> {
        self.rules
            .iter()
            .map(|r| {
                let description = r.metadata().into_iter().find_map(|(k, v)| match (k, v) {
                    ("description", yara_x::MetaValue::String(s)) => Some(s.to_owned()),
                    _ => None,
                });
                (r.identifier().to_owned(), description)
            })
            .collect()
    }
}

/// The rule sets in force, scanned one after the other (the embedded set first), the
/// known-bad hashes, and their combined identity: the one written in `scan-rules`, so that a
/// signed verdict names every rule and list that judged the object.
#[derive(Debug, Clone)]
pub struct RuleSets {
    sets: Vec<RuleSet>,
    hashes: HashList,
    allowed: HashList,
    id: String,
}

impl RuleSets {
    /// `sets`, in force together. One set keeps its own identity; several get a hash of theirs.
    pub fn new(sets: Vec<RuleSet>) -> RuleSets {
        RuleSets::with_hashes(sets, HashList::default())
    }

    /// `sets` and the `hashes` to look for, in force together.
    pub fn with_hashes(sets: Vec<RuleSet>, hashes: HashList) -> RuleSets {
        let id = match (sets.as_slice(), hashes.is_empty()) {
            ([one], true) => one.id().to_owned(),
            _ => {
                let mut ids: Vec<String> = sets.iter().map(|s| s.id().to_owned()).collect();
                if !hashes.is_empty() {
                    ids.push(hashes.id());
                }
                hex::encode(&Sha256::digest(ids.join("+").as_bytes())[..6])
            }
        };
        RuleSets {
            sets,
            hashes,
            allowed: HashList::default(),
            id,
        }
    }

    /// These sets, with the bytes `allowed` lists (`ALLOW_HASHES`) never flagged: their
    /// identity changes with the list, as the verdicts it gives do.
    pub fn allowing(self, allowed: HashList) -> RuleSets {
        if allowed.is_empty() {
            return self;
        }
        let id = format!("{}+allow:{}", self.id, allowed.id());
        RuleSets {
            allowed,
            id: hex::encode(&Sha256::digest(id.as_bytes())[..6]),
            ..self
        }
    }

    /// The SHA-256 digests of bytes never flagged.
    pub fn allowed(&self) -> &HashList {
        &self.allowed
    }

    /// The combined identity.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The known-bad hashes.
    pub fn hashes(&self) -> &HashList {
        &self.hashes
    }

    /// The sets, in scanning order.
    pub fn sets(&self) -> &[RuleSet] {
        &self.sets
    }

    /// Rules in all.
    pub fn len(&self) -> usize {
        self.sets.iter().map(RuleSet::len).sum()
    }

    /// True when no set has a rule (every object would be `Clean`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Names of all the rules, with their `description` meta when they have one.
    pub fn describe(&self) -> Vec<(String, Option<String>)> {
        self.sets.iter().flat_map(RuleSet::describe).collect()
    }
}
