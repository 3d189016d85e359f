//! Known-bad hashes: lists of SHA-256, SHA-1 or MD5 digests, one per line with an optional
//! name (`<hex> [name]`, `#` comments), kept with the rule sets (`RULES`) and refreshed with them. A hit is
//! a match named `hash:<name>`. Digests are computed from the bytes already in memory, only of
//! the kinds some list holds.

use std::collections::HashMap;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::Match;

/// Digests to look for, by kind, each with the name of what it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashList {
    md5: HashMap<[u8; 16], String>,
    sha1: HashMap<[u8; 20], String>,
    sha256: HashMap<[u8; 32], String>,
}

impl HashList {
    /// Adds the lines of `text` (from the file `file`, whose name names digests that have
    /// none); returns the lines it could not read, with their numbers.
    pub fn add(&mut self, file: &str, text: &str) -> Vec<String> {
        let default = file.rsplit('/').next().unwrap_or(file);
        let mut bad = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (digest, name) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let name = match name.trim() {
                "" => default.to_owned(),
                name => name.to_owned(),
            };
            if !self.insert(digest, name) {
                bad.push(format!(
                    "{file}:{}: `{}` is no MD5, SHA-1 or SHA-256",
                    n + 1,
                    digest
                ));
            }
        }
        bad
    }

    fn insert(&mut self, digest: &str, name: String) -> bool {
        let Ok(bytes) = hex::decode(digest) else {
            return false;
        };
        match bytes.len() {
            16 => self.md5.insert(bytes.try_into().unwrap_or_default(), name),
            20 => self.sha1.insert(bytes.try_into().unwrap_or_default(), name),
            32 => self
                .sha256
                .insert(bytes.try_into().unwrap_or_default(), name),
            _ => return false,
        };
        true
    }

    /// Digests in all.
    pub fn len(&self) -> usize {
        self.md5.len() + self.sha1.len() + self.sha256.len()
    }

    /// A short identity of the digests and their names, whatever their order.
    pub fn id(&self) -> String {
        let mut lines: Vec<String> = (self.md5.iter().map(|(d, n)| (hex::encode(d), n)))
            .chain(self.sha1.iter().map(|(d, n)| (hex::encode(d), n)))
            .chain(self.sha256.iter().map(|(d, n)| (hex::encode(d), n)))
            .map(|(d, n)| format!("{d} {n}"))
            .collect();
        lines.sort_unstable();
        hex::encode(&Sha256::digest(lines.join("\n").as_bytes())[..6])
    }

    /// True when the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name of what lists the SHA-256 of `data` (the list's file name, or the name on its
    /// line), if a SHA-256 of this list does. Only SHA-256: an allow list of MD5 or SHA-1 would
    /// let whoever makes a collision through.
    pub fn listed_sha256(&self, data: &[u8]) -> Option<&str> {
        if self.sha256.is_empty() {
            return None;
        }
        let d: [u8; 32] = Sha256::digest(data).into();
        self.sha256.get(&d).map(String::as_str)
    }

    /// True when the list holds MD5 or SHA-1 digests.
    pub fn has_weak(&self) -> bool {
        !self.md5.is_empty() || !self.sha1.is_empty()
    }

    /// The matches of `data`: one per list it is on.
    pub fn matches(&self, data: &[u8]) -> Vec<Match> {
        let mut found = Vec::new();
        let mut hit = |name: Option<&String>, kind: &str, digest: &[u8]| {
            if let Some(name) = name {
                let mut m = Match::named(format!("hash:{name}"));
                m.meta = vec![(kind.to_owned(), hex::encode(digest))];
                found.push(m);
            }
        };
        if !self.sha256.is_empty() {
            let d: [u8; 32] = Sha256::digest(data).into();
            hit(self.sha256.get(&d), "sha256", &d);
        }
        if !self.sha1.is_empty() {
            let d: [u8; 20] = Sha1::digest(data).into();
            hit(self.sha1.get(&d), "sha1", &d);
        }
        if !self.md5.is_empty() {
            let d: [u8; 16] = Md5::digest(data).into();
            hit(self.md5.get(&d), "md5", &d);
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_digest_is_found_by_its_name() {
        let data = b"known bad bytes";
        let mut list = HashList::default();
        let text = format!(
            "# a comment\n{} Bad.Sha256\n{}\n{} Bad.Md5\nnot-hex Whatever\n",
            hex::encode(Sha256::digest(data)),
            hex::encode(Sha1::digest(data)),
            hex::encode(Md5::digest(data)),
        );
        let bad = list.add("lists/team.txt", &text);
        assert_eq!(
            bad,
            ["lists/team.txt:5: `not-hex` is no MD5, SHA-1 or SHA-256"]
        );
        assert_eq!(list.len(), 3);
        let names: Vec<String> = list.matches(data).into_iter().map(|m| m.rule).collect();
        assert_eq!(names, ["hash:Bad.Sha256", "hash:team.txt", "hash:Bad.Md5"]);
        assert!(list.matches(b"other bytes").is_empty());
    }
}
