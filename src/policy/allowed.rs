//! `ALLOWED_TYPES`: per key prefix, the types allowed there (`images/=image;cv/=pdf,docx;*=any`),
//! the longest prefix winning, `*` for keys no prefix matches.

use super::types::{self, Group, TYPES, TrueType};

/// What may be stored under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// The key prefix (`*` for every other key).
    pub prefix: String,
    /// Every type (`any`), or these groups and names.
    pub types: Vec<Allow>,
}

/// One entry of a prefix's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    /// Anything.
    Any,
    /// Every type of a group.
    Group(Group),
    /// One type.
    Type(TrueType),
}

impl Allow {
    fn admits(self, kind: TrueType) -> bool {
        match self {
            Allow::Any => true,
            Allow::Group(group) => kind.group == group,
            Allow::Type(t) => t.name == kind.name,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Allow::Any => "any",
            Allow::Group(group) => group.name(),
            Allow::Type(t) => t.name,
        }
    }
}

/// The prefixes and what each allows (`ALLOWED_TYPES`); empty: anything anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedTypes(Vec<Allowed>);

impl AllowedTypes {
    /// No prefix: anything anywhere.
    pub const NONE: AllowedTypes = AllowedTypes(Vec::new());

    /// Parses `prefix=type,type;…`; the error names the entry and the words allowed.
    pub fn parse(text: &str) -> Result<AllowedTypes, String> {
        let mut rules = Vec::new();
        for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((prefix, list)) = entry.split_once('=') else {
                return Err(format!("`{entry}` is not PREFIX=TYPE,TYPE"));
            };
            let prefix = prefix.trim().to_owned();
            if rules.iter().any(|r: &Allowed| r.prefix == prefix) {
                return Err(format!("the prefix `{prefix}` is listed twice"));
            }
            let types = list
                .split(',')
                .map(|w| allow(&w.trim().to_ascii_lowercase()))
                .collect::<Result<Vec<_>, _>>()?;
            if types.is_empty() {
                return Err(format!("`{entry}` allows no type"));
            }
            rules.push(Allowed { prefix, types });
        }
        Ok(AllowedTypes(rules))
    }

    /// True when no prefix is listed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entry that decides for `key`: the longest prefix it starts with, else `*`.
    pub fn for_key(&self, key: &str) -> Option<&Allowed> {
        let prefixed = (self.0.iter())
            .filter(|r| r.prefix != "*" && key.starts_with(&r.prefix))
            .max_by_key(|r| r.prefix.len());
        prefixed.or_else(|| self.0.iter().find(|r| r.prefix == "*"))
    }
}

impl Allowed {
    /// True when `kind` may be stored here. Empty files always may (S3's folder markers).
    pub fn admits(&self, kind: TrueType) -> bool {
        kind.group == Group::Empty || self.types.iter().any(|a| a.admits(kind))
    }

    /// The list, normalised, in the characters S3 allows in tag values: `image pdf`.
    pub fn list(&self) -> String {
        let names: Vec<&str> = self.types.iter().map(|a| a.name()).collect();
        names.join(" ")
    }
}

fn allow(word: &str) -> Result<Allow, String> {
    if word == "any" {
        return Ok(Allow::Any);
    }
    if let Some(group) = Group::named(word) {
        return Ok(Allow::Group(group));
    }
    types::named(word).map(Allow::Type).ok_or_else(|| {
        let groups: Vec<&str> = Group::ALL.iter().map(|g| g.name()).collect();
        let names: Vec<&str> = TYPES.iter().map(|t| t.name).collect();
        format!(
            "`{word}` is no type: allowed are any, the groups {} and the types {}",
            groups.join(", "),
            names.join(", ")
        )
    })
}
