//! What an object's `Content-Encoding` decodes to, walked as the object itself; and each
//! member of a gzip file (or gzip coding) alone, besides the whole: a reader that stops after
//! a member, as browsers' decoders do, sees that member only.

use std::ops::Range;

use super::{Flow, Walk};
use crate::inspect::Subject;
use crate::inspect::encoding::Coding;
use crate::inspect::formats::Parts;
use crate::store::{Buffer, Holding};

impl Walk<'_> {
    /// Undoes `codings` (in the order applied) on `stored`, each decoded layer held while the
    /// next is decoded, then walks the decoded bytes as the object itself (same name), and,
    /// when the first coding applied is gzip, each of its members alone.
    pub(super) fn decode(
        &mut self,
        stored: &[u8],
        codings: &[Coding],
        path: &mut Vec<String>,
        subject: &Subject,
    ) {
        let depth = path.len();
        let mut decoded: Option<Buffer> = None;
        let mut parts = Vec::new();
        for (i, coding) in codings.iter().enumerate().rev() {
            let stopped =
                self.depth(path) >= self.limits.max_depth && self.too_deep(path) == Flow::Stop;
            path.push(format!("Content-Encoding={}", coding.name()));
            if stopped || self.count_member(path) == Flow::Stop {
                path.truncate(depth);
                return;
            }
            let (input, outer) = match &decoded {
                Some(layer) => (layer.as_ref(), self.holding.plus(Holding::of(layer))),
                None => (stored, self.holding),
            };
            let before = std::mem::replace(&mut self.holding, outer);
            let members = Parts::default();
            let read = self.read(&mut coding.decoder(input, &members), path);
            self.holding = before;
            let Ok((layer, failed)) = read else {
                path.truncate(depth);
                return;
            };
            decoded = Some(layer);
            if let Some(e) = failed {
                let (name, at) = (coding.name(), self.at(&path[..depth]));
                self.unscannable(format!(
                    "Content-Encoding {name} of {at} could not be decoded: {e}"
                ));
                break;
            }
            if i == 0 {
                parts = members.decoded();
            }
        }
        if let Some(layer) = decoded {
            let inner = Subject {
                filetype: crate::inspect::filetype(layer.as_ref()),
                ..subject.clone()
            };
            let outer = self.holding;
            self.holding = outer.plus(Holding::of(&layer));
            if self.bytes(layer.as_ref(), path, &inner) != Flow::Stop {
                self.alone(layer.as_ref(), &parts, path, &inner);
            }
            self.holding = outer;
        }
        path.truncate(depth);
    }

    /// Scans each of `parts` of `data` (a gzip file's members in its decoded bytes, which are
    /// the last of `path`, described by `subject`) alone, as `x.gz>x#1`, `x.gz>x#2`…, when
    /// there is more than one. Each counts as a member.
    pub(super) fn alone(
        &mut self,
        data: &[u8],
        parts: &[Range<usize>],
        path: &mut Vec<String>,
        subject: &Subject,
    ) -> Flow {
        if parts.len() < 2 {
            return Flow::Continue;
        }
        let Some(name) = path.pop() else {
            return Flow::Continue;
        };
        let mut flow = Flow::Continue;
        for (i, part) in parts.iter().enumerate() {
            let Some(bytes) = data.get(part.clone()) else {
                break;
            };
            path.push(format!("{name}#{}", i + 1));
            let one = Subject {
                filetype: crate::inspect::filetype(bytes),
                ..subject.clone()
            };
            flow = match self.count_member(path) {
                Flow::Stop => Flow::Stop,
                Flow::Continue | Flow::Skip => self.bytes(bytes, path, &one),
            };
            path.pop();
            if flow == Flow::Stop {
                break;
            }
        }
        path.push(name);
        match flow {
            Flow::Stop => Flow::Stop,
            Flow::Continue | Flow::Skip => Flow::Continue,
        }
    }
}
