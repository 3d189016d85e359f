//! What the walk keeps for the policies (`crate::policy`): each file and member it scans, with
//! its type and active content, judged once the walk is over; and the bytes `ALLOW_HASHES`
//! lists, which are not scanned, judged or looked into at all.

use super::Walk;
use crate::inspect::Subject;
use crate::policy::{self, ActiveContent, Claims, Node, Place};

impl Walk<'_> {
    /// True when `data` (the member at `path`) is on an allow list: noted, and left alone.
    pub(super) fn allowed(&mut self, data: &[u8], path: &[String]) -> bool {
        let allowed = self.rules.allowed();
        if allowed.is_empty() {
            return false;
        }
        match allowed.listed_sha256(data) {
            Some(list) => {
                let why = format!("{} allowed by {list} (ALLOW_HASHES)", self.at(path));
                self.note(why);
                true
            }
            None => false,
        }
    }

    /// Keeps what the policies need of `data`, the member at `path` that `subject` describes.
    pub(super) fn record(&mut self, data: &[u8], path: &[String], subject: &Subject) {
        if self.policy.is_off() {
            return;
        }
        let depth = path.len();
        while self.kinds.last().is_some_and(|(d, _)| *d >= depth) {
            self.kinds.pop();
        }
        let parent = self.kinds.last().map(|(_, kind)| *kind);
        self.kinds.push((depth, subject.kind));
        let active = match self.policy.active {
            ActiveContent::Ignore => Vec::new(),
            ActiveContent::Suspicious | ActiveContent::Infected => {
                let place = Place {
                    name: &subject.filename,
                    extension: &subject.extension,
                    kind: subject.kind,
                    parent,
                };
                policy::active::find(data, place)
            }
        };
        self.nodes.push(Node {
            at: (!path.is_empty()).then(|| self.at(path)),
            depth,
            extension: subject.extension.clone(),
            kind: subject.kind,
            parent,
            active,
        });
    }

    /// The policies' findings on what was scanned, with the matches.
    pub(super) fn apply_policies(&mut self) {
        let claims = Claims {
            key: &self.key,
            content_type: self.content_type.as_deref(),
        };
        let found = policy::judge(self.policy, claims, &self.nodes);
        self.out.matches.extend(found);
    }
}
