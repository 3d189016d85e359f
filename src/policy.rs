//! Policies on what a file is and may do, besides what signatures say: its true type against
//! what its prefix allows (`ALLOWED_TYPES`), against what its name or `Content-Type` claims
//! (`TYPE_MISMATCH`), and the active content it carries (`ACTIVE_CONTENT`). The walk records
//! each file and member it scans as a [`Node`] (its type, its active content); [`judge`] turns
//! the nodes into findings, matches named `type:…` and `active:…` that decide the verdict as
//! rules' matches do.

pub mod active;
mod allowed;
pub mod types;

pub use active::{Active, Place};
pub use allowed::{Allow, Allowed, AllowedTypes};
pub use types::{Group, TrueType};

use crate::scan::Match;
use strum::{IntoStaticStr, VariantArray, VariantNames};

/// The namespace of policy findings (rules have theirs).
pub use crate::scan::POLICY_NAMESPACE as NAMESPACE;

/// What a type mismatch makes of an object (`TYPE_MISMATCH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, VariantArray, IntoStaticStr, VariantNames)]
#[strum(serialize_all = "kebab-case")]
pub enum Mismatch {
    /// `Suspicious`.
    #[default]
    Suspicious,
    /// Nothing.
    Ignore,
}

/// What active content makes of an object (`ACTIVE_CONTENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, VariantArray, IntoStaticStr, VariantNames)]
#[strum(serialize_all = "kebab-case")]
pub enum ActiveContent {
    /// `Suspicious`.
    #[default]
    Suspicious,
    /// `Infected`.
    Infected,
    /// Nothing (and not looked for).
    Ignore,
}

impl Mismatch {
    /// Every choice, in the order `TYPE_MISMATCH` lists them.
    pub const ALL: &'static [Mismatch] = <Mismatch as strum::VariantArray>::VARIANTS;

    /// Its word in `TYPE_MISMATCH`.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl ActiveContent {
    /// Every choice, in the order `ACTIVE_CONTENT` lists them.
    pub const ALL: &'static [ActiveContent] = <ActiveContent as strum::VariantArray>::VARIANTS;

    /// Its word in `ACTIVE_CONTENT`.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// The policies in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// `ALLOWED_TYPES`.
    pub allowed: AllowedTypes,
    /// `TYPE_MISMATCH`.
    pub mismatch: Mismatch,
    /// `ACTIVE_CONTENT`.
    pub active: ActiveContent,
}

impl Policy {
    /// No policy at all: only signatures judge.
    pub const OFF: Policy = Policy {
        allowed: AllowedTypes::NONE,
        mismatch: Mismatch::Ignore,
        active: ActiveContent::Ignore,
    };

    /// True when no policy judges anything.
    pub fn is_off(&self) -> bool {
        self.allowed.is_empty()
            && self.mismatch == Mismatch::Ignore
            && self.active == ActiveContent::Ignore
    }
}

/// One file or member the walk scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its path (`a.zip>b.docm`); `None` for the object itself.
    pub at: Option<String>,
    /// How many names deep its path is (the object: 0).
    pub depth: usize,
    /// Its extension, lower case with its dot, or empty.
    pub extension: String,
    /// Its type.
    pub kind: TrueType,
    /// The type of what holds it.
    pub parent: Option<TrueType>,
    /// Its active content.
    pub active: Vec<Active>,
}

impl Node {
    /// True for the object, and for a file an archive or mail holds: what a user put there,
    /// not a document's or program's own parts.
    fn is_file(&self) -> bool {
        self.parent.is_none_or(|p| p.group.holds_files())
    }
}

/// What the object says it is: its key and `Content-Type`.
#[derive(Debug, Clone, Copy)]
pub struct Claims<'a> {
    /// The key.
    pub key: &'a str,
    /// The `Content-Type`, if any.
    pub content_type: Option<&'a str>,
}

/// The findings of `policy` on the `nodes` of the object `claims` describes, in the walk's
/// order.
pub fn judge(policy: &Policy, claims: Claims<'_>, nodes: &[Node]) -> Vec<Match> {
    let mut found = Vec::new();
    if let Some(allowed) = policy.allowed.for_key(claims.key) {
        for node in nodes
            .iter()
            .filter(|n| n.is_file() && !allowed.admits(n.kind))
        {
            let about = format!(
                "{} is not allowed under {} by ALLOWED_TYPES: only {}",
                node.kind.name,
                allowed.prefix,
                allowed.list()
            );
            found.push(finding(
                node,
                format!("type:{}", node.kind.name),
                about,
                true,
            ));
        }
    }
    if policy.mismatch == Mismatch::Suspicious {
        found.extend(mismatches(claims, nodes));
    }
    let suspicious = policy.active == ActiveContent::Suspicious;
    for node in nodes {
        for active in &node.active {
            found.push(finding(node, active.rule(), active.about(), suspicious));
        }
    }
    found
}

/// The object and files whose name (or, for the object, `Content-Type`) claims a harmless
/// type while they run code, hold what does, or carry active content.
fn mismatches(claims: Claims<'_>, nodes: &[Node]) -> Vec<Match> {
    let mut found = Vec::new();
    for (i, node) in nodes.iter().enumerate().filter(|(_, n)| n.is_file()) {
        let mut said = vec![(
            claimed_by_extension(&node.extension),
            node.extension.clone(),
        )];
        if node.at.is_none()
            && let Some(content_type) = claims.content_type
        {
            said.push((
                claimed_by_content_type(content_type),
                content_type.to_owned(),
            ));
        }
        let claim = said
            .into_iter()
            .find_map(|(group, what)| group.filter(|g| *g != node.kind.group).map(|g| (g, what)));
        if let Some((group, what)) = claim
            && dangerous(nodes, i)
        {
            let about = format!(
                "{} named {what} as if {} runs code or holds what does",
                node.kind.name,
                group.name()
            );
            let rule = format!(
                "type:{}-as-{}",
                node.kind.name,
                what.trim_start_matches('.')
            );
            found.push(finding(node, rule, about, true));
        }
    }
    found
}

/// True when node `i`, or anything in it, is a program or script or has active content.
fn dangerous(nodes: &[Node], i: usize) -> bool {
    let depth = nodes[i].depth;
    std::iter::once(&nodes[i])
        .chain(nodes[i + 1..].iter().take_while(|n| n.depth > depth))
        .any(|n| n.kind.group.runs() || !n.active.is_empty())
}

/// The harmless group an extension names, if it names one.
fn claimed_by_extension(extension: &str) -> Option<Group> {
    const HARMLESS: &[(&[&str], Group)] = &[
        (
            &[
                "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp", "ico", "heic", "heif",
                "avif",
            ],
            Group::Image,
        ),
        (&["txt", "csv", "tsv", "log", "md"], Group::Text),
        (
            &[
                "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "ods", "odp", "rtf",
            ],
            Group::Document,
        ),
        (&["mp3", "wav", "ogg", "flac", "m4a", "aac"], Group::Audio),
        (&["mp4", "mov", "avi", "mkv", "webm", "m4v"], Group::Video),
    ];
    let ext = extension.strip_prefix('.')?;
    HARMLESS
        .iter()
        .find(|(exts, _)| exts.contains(&ext))
        .map(|(_, g)| *g)
}

/// The harmless group a `Content-Type` names, if it names one.
fn claimed_by_content_type(content_type: &str) -> Option<Group> {
    let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
    let (top, sub) = essence.split_once('/')?;
    match top {
        "image" if sub != "svg+xml" => Some(Group::Image),
        "audio" => Some(Group::Audio),
        "video" => Some(Group::Video),
        "text" if matches!(sub, "plain" | "csv" | "markdown" | "tab-separated-values") => {
            Some(Group::Text)
        }
        "application"
            if sub == "pdf"
                || sub == "msword"
                || sub == "rtf"
                || sub.starts_with("vnd.openxmlformats-officedocument.")
                || sub.starts_with("vnd.ms-excel")
                || sub.starts_with("vnd.ms-powerpoint")
                || sub.starts_with("vnd.oasis.opendocument.") =>
        {
            Some(Group::Document)
        }
        _ => None,
    }
}

/// A finding about `node`: suspicious (`verdict = "suspicious"`) or not (infected).
fn finding(node: &Node, rule: String, about: String, suspicious: bool) -> Match {
    let mut meta = vec![("description".to_owned(), about)];
    if suspicious {
        meta.push(("verdict".into(), "suspicious".into()));
    }
    Match {
        rule,
        namespace: NAMESPACE.into(),
        meta,
        member: node.at.clone(),
        filetype: Some(node.kind.name.to_owned()),
    }
}

#[cfg(test)]
mod tests;
