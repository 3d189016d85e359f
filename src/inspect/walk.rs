//! The walk over one object: its bytes are scanned, then its container's members (`formats`),
//! the archives embedded in it (`embedded`) and what its `Content-Encoding` decodes to
//! (`decode`), each scanned and walked in turn. What a container could not read decides
//! the verdict: bytes that only looked like a container are noted; a container recognised
//! (a member named or read, a stream's header parsed) that breaks, or uses what cannot be
//! decoded, is `Unscannable`.

use std::time::{Duration, Instant};

use super::encoding::{self, Coding};
use super::formats::{self, Flow, Format, Measure, Member, Problem, Seen};
use super::{Body, ENCRYPTED_RULE, Encrypted, Incomplete, Inspection, Limits, Look, Subject};
use crate::object::ObjectRef;
use crate::policy::{Node, Policy, TrueType};
use crate::scan::{Engine, Match, RuleSets, ScanError};
use crate::store::{Budget, Holding};

mod container;
mod decode;
mod judged;
mod read;

use container::Container;

/// Notes kept for the log; more are counted, not kept.
const MAX_NOTES: usize = 32;
/// A container's problems kept for its verdict and the log; more are counted, not kept.
const MAX_PROBLEMS: usize = 8;
/// The characters of a name that member paths show.
const MAX_NAME: usize = 256;

pub(super) struct Walk<'a> {
    engine: &'a Engine,
    rules: &'a RuleSets,
    limits: &'a Limits,
    budget: &'a Budget,
    policy: &'a Policy,
    deadline: Instant,
    timeout: Duration,
    root_size: u64,
    /// The object's name, first in every member path.
    root: String,
    /// The object's key and `Content-Type`, which policies judge.
    key: String,
    content_type: Option<String>,
    /// What was scanned, for the policies; and the types on the current path, with their
    /// depths, whose last is a member's container.
    nodes: Vec<Node>,
    kinds: Vec<(usize, TrueType)>,
    /// The room the object and the members on the current path hold.
    holding: Holding,
    /// The lengths of the current path at which a member is a compressed stream's decoded
    /// bytes.
    streams: Vec<usize>,
    /// The members on the current path that share their level with the stream they came out
    /// of: an archive a stream holds (`x.tar.gz` is one level, as users count it).
    shared: usize,
    out: Inspection,
}

impl<'a> Walk<'a> {
    pub(super) fn new(
        look: &Look<'a>,
        object: &ObjectRef,
        body: Body<'_>,
        timeout: Duration,
    ) -> Walk<'a> {
        Walk {
            engine: look.engine,
            rules: look.rules,
            limits: look.limits,
            budget: look.budget,
            policy: look.policy,
            deadline: Instant::now() + timeout,
            timeout,
            root_size: body.bytes.len() as u64,
            root: object.key.rsplit('/').next().unwrap_or_default().to_owned(),
            key: object.key.clone(),
            content_type: body.content_type.map(str::to_owned),
            nodes: Vec::new(),
            kinds: Vec::new(),
            holding: body.holding,
            streams: Vec::new(),
            shared: 0,
            out: Inspection::default(),
        }
    }

    pub(super) fn finish(mut self) -> Inspection {
        self.apply_policies();
        self.out
    }

    /// The object: its stored bytes and what they contain, then what its encoding decodes
    /// to. A gzip or zstd stream that the encoding says it is stored as is decoded once, as
    /// the encoding, whose failure is never only noted.
    pub(super) fn root(&mut self, body: Body<'_>, subject: &Subject) {
        self.out.filetype = subject.filetype.clone();
        let mut path = Vec::new();
        let codings = body.encoding.map(encoding::parse).transpose();
        let format = Format::sniff(body.bytes);
        let stored_as = match &codings {
            Ok(Some(codings)) => codings.last().copied(),
            _ => None,
        };
        let as_encoding = matches!(
            (format, stored_as),
            (Some(Format::Gzip), Some(Coding::Gzip)) | (Some(Format::Zstd), Some(Coding::Zstd))
        );
        if self.allowed(body.bytes, &path) {
            return;
        }
        if self.scan(body.bytes, &path, subject) == Flow::Stop {
            return;
        }
        if !as_encoding && self.inside(body.bytes, &mut path, subject, format) == Flow::Stop {
            return;
        }
        match codings {
            Ok(Some(codings)) => self.decode(body.bytes, &codings, &mut path, subject),
            Ok(None) => {}
            Err(unknown) => self.unscannable(unknown.to_string()),
        }
    }

    /// Scans `data` (the member at `path`), then what it contains.
    fn bytes(&mut self, data: &[u8], path: &mut Vec<String>, subject: &Subject) -> Flow {
        if self.allowed(data, path) {
            return Flow::Continue;
        }
        if self.scan(data, path, subject) == Flow::Stop {
            return Flow::Stop;
        }
        self.inside(data, path, subject, Format::sniff(data))
    }

    /// What `data` contains: the members of the `format` container it is, if any, then the
    /// archives embedded in it outside those members.
    fn inside(
        &mut self,
        data: &[u8],
        path: &mut Vec<String>,
        subject: &Subject,
        format: Option<Format>,
    ) -> Flow {
        let mut seen = Seen::default();
        if let Some(format) = format {
            // A stream in a stream counts: only archives share a level.
            let shares = !format.is_stream() && self.streams.last() == Some(&path.len());
            if self.depth(path) >= self.limits.max_depth && !shares {
                return self.too_deep(path);
            }
            self.shared += usize::from(shares);
            let (flow, walked) = self.container(format, data, path, subject, None);
            self.shared -= usize::from(shares);
            if flow == Flow::Stop {
                return Flow::Stop;
            }
            seen = walked;
        }
        self.embedded(data, &mut seen, path, subject)
    }

    /// Walks the members of `data`, a `format` container (`embedded` at that offset of
    /// other bytes, if so), and judges what it could not read.
    fn container(
        &mut self,
        format: Format,
        data: &[u8],
        path: &mut Vec<String>,
        subject: &Subject,
        embedded: Option<usize>,
    ) -> (Flow, Seen) {
        let name = match embedded {
            Some(_) => path.last().cloned().unwrap_or_default(),
            None => subject.filename.clone(),
        };
        let at = self.at(path);
        let mut visit = Container {
            walk: self,
            path,
            parent: subject,
            embedded: embedded.is_some(),
            visited: 0,
            problems: Vec::new(),
            more_problems: 0,
            stopped: false,
        };
        let seen = formats::each_member(format, &name, data, embedded.is_some(), &mut visit);
        let Container {
            visited,
            mut problems,
            more_problems,
            stopped,
            ..
        } = visit;
        if more_problems > 0 {
            let why = format!("{more_problems} more like these");
            problems.push(Problem::broken(None, why));
        }
        self.judge(format, &at, visited, problems);
        (if stopped { Flow::Stop } else { Flow::Continue }, seen)
    }

    /// A container's problems: only noted (in one note) when the bytes merely looked like a
    /// container (nothing in it was named or read), else the object is `Unscannable`.
    fn judge(&mut self, format: Format, at: &str, visited: u64, problems: Vec<Problem>) {
        let name = format.name();
        let mut unread = Vec::new();
        for problem in problems {
            let why = &problem.why;
            match problem.member.as_deref().map(shown) {
                Some(member) if problem.unsupported => self.unscannable(format!(
                    "{name} {at}>{member} uses what cannot be decoded: {why}"
                )),
                Some(member) => self.unscannable(format!("{name} {at}>{member} is damaged: {why}")),
                None if visited > 0 => self.unscannable(format!("{name} {at} is damaged: {why}")),
                None => unread.push(problem.why),
            }
        }
        if !unread.is_empty() {
            self.note(format!("{name} {at} not read: {}", unread.join("; ")));
        }
    }

    /// The archives embedded in `data` but for those its walk saw already (`seen`, which
    /// grows with each one walked), and those inside a compressed stream as far as it really
    /// goes (a copy of what it decoded to, or chance). In the room a container says its
    /// compressed data takes, a candidate must also hold what a reader of it needs
    /// (`embedded::likely`) before the stream there is measured.
    fn embedded(
        &mut self,
        data: &[u8],
        seen: &mut Seen,
        path: &mut Vec<String>,
        subject: &Subject,
    ) -> Flow {
        for found in super::embedded::candidates(data) {
            let (bytes, format) = (&data[found.offset..], found.format);
            if seen.walked(found.offset, format)
                || (seen.in_packed(found.offset)
                    && (!super::embedded::likely(format, bytes)
                        || seen.in_stream(found.offset, data, self.measure())))
            {
                continue;
            }
            if self.depth(path) >= self.limits.max_depth {
                return self.too_deep(path);
            }
            if self.count_member(path) == Flow::Stop {
                return Flow::Stop;
            }
            let name = format!("@{}.{}", found.offset, format.extension());
            let inner = subject.member(&name, bytes);
            path.push(name);
            let (flow, walked) = self.container(format, bytes, path, &inner, Some(found.offset));
            path.pop();
            seen.header(format, found.offset..found.offset);
            seen.merge(walked, found.offset);
            if flow == Flow::Stop {
                return Flow::Stop;
            }
        }
        Flow::Continue
    }

    /// Scans `data` itself, with what time is left.
    fn scan(&mut self, data: &[u8], path: &[String], subject: &Subject) -> Flow {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return self.timed_out(path);
        }
        match self
            .engine
            .scan_with(self.rules, data, subject.values(), left)
        {
            Ok(found) => {
                self.record(data, path, subject);
                let member = (!path.is_empty()).then(|| self.at(path));
                let filetype = Some(subject.filetype.clone()).filter(|t| !t.is_empty());
                self.out.matches.extend(found.into_iter().map(|m| Match {
                    member: member.clone(),
                    filetype: filetype.clone(),
                    ..m
                }));
                Flow::Continue
            }
            Err(ScanError::Timeout(_)) => self.timed_out(path),
            Err(e) => self.stop(format!("{} at {}", e, self.at(path))),
        }
    }

    /// How far measuring where compressed data ends may go: what an object may expand to in
    /// all (a 7z block holds many members), within the time left.
    fn measure(&self) -> Measure {
        Measure {
            cap: self.limits.max_expanded,
            deadline: self.deadline,
        }
    }

    /// Counts one more member; stops at the limit.
    fn count_member(&mut self, path: &[String]) -> Flow {
        self.out.members += 1;
        if self.out.members > self.limits.max_members {
            return self.stop(format!(
                "ARCHIVE_MAX_MEMBERS ({}) reached in {}",
                self.limits.max_members,
                self.at(path)
            ));
        }
        Flow::Continue
    }

    /// Reads `member` of the container at `path`, then scans it and what it contains.
    fn member(
        &mut self,
        member: Member<'_>,
        path: &mut Vec<String>,
        parent: &Subject,
        embedded: bool,
    ) -> Flow {
        if self.count_member(path) == Flow::Stop {
            return Flow::Stop;
        }
        path.push(member.name.clone());
        let flow = if member.encrypted {
            self.encrypted(path)
        } else {
            self.read_member(member, path, parent, embedded)
        };
        path.pop();
        flow
    }

    /// Reads a member's bytes and walks them (and, for a gzip file of several members, each
    /// member alone). A member that fails to decode is scanned as far as it decoded; the
    /// object is `Unscannable`, unless what failed was found inside other bytes (where a
    /// signature can be chance, and a stream's end is unknown) and is a stream, or gave no
    /// bytes at all. Those are noted. (A stream whose header does not parse is no member:
    /// `formats` notes it.)
    fn read_member(
        &mut self,
        member: Member<'_>,
        path: &mut Vec<String>,
        parent: &Subject,
        embedded: bool,
    ) -> Flow {
        let (held, failed) = match self.read(member.reader, path) {
            Ok(read) => read,
            Err(flow) => return flow,
        };
        let data = held.as_ref();
        if let Some(e) = &failed {
            let why = format!("{} could not be decoded in full: {e}", self.at(path));
            match embedded && (member.stream || data.is_empty()) {
                true => self.note(why),
                false => self.unscannable(why),
            }
        }
        let subject = parent.member(&member.name, data);
        let outer = self.holding;
        self.holding = outer.plus(Holding::of(&held));
        if member.stream {
            self.streams.push(path.len());
        }
        let mut flow = self.bytes(data, path, &subject);
        if member.stream {
            self.streams.pop();
        }
        if let Some(parts) = member.parts
            && flow != Flow::Stop
        {
            flow = self.alone(data, &parts.decoded(), path, &subject);
        }
        self.holding = outer;
        match (flow, failed) {
            (Flow::Continue, Some(_)) => Flow::Skip,
            (flow, _) => flow,
        }
    }

    /// An encrypted member: a detection, or a reason the object was not scanned in full. The
    /// other members are still scanned: a match among them decides.
    fn encrypted(&mut self, path: &[String]) -> Flow {
        let at = self.at(path);
        match self.limits.encrypted {
            Encrypted::Infected => self.out.matches.push(Match {
                member: Some(at),
                ..Match::named(ENCRYPTED_RULE)
            }),
            Encrypted::Unscannable => self.unscannable(format!(
                "encrypted member {at} (ARCHIVE_ENCRYPTED=unscannable)"
            )),
        }
        Flow::Continue
    }

    /// How many containers deep `path` is: its members but those that share their level.
    fn depth(&self, path: &[String]) -> usize {
        path.len() - self.shared
    }

    fn too_deep(&mut self, path: &[String]) -> Flow {
        self.stop(format!(
            "ARCHIVE_MAX_DEPTH ({}) reached at {}",
            self.limits.max_depth,
            self.at(path)
        ))
    }

    fn timed_out(&mut self, path: &[String]) -> Flow {
        let at = if path.is_empty() {
            String::new()
        } else {
            format!(" at {}", self.at(path))
        };
        self.stop(format!(
            "scan timed out after {:?}{at} (SCAN_TIMEOUT_SECS covers the object and its members)",
            self.timeout
        ))
    }

    /// Where `path` is: the object's name, then the members' (`a.zip>b.tar>eicar.com`), each
    /// cut at `MAX_NAME` characters (a member's name is the uploader's choice, up to 64 KiB).
    fn at(&self, path: &[String]) -> String {
        std::iter::once(self.root.as_str())
            .chain(path.iter().map(String::as_str))
            .map(shown)
            .collect::<Vec<_>>()
            .join(">")
    }

    /// Ends the inspection: nothing more is scanned.
    fn stop(&mut self, why: String) -> Flow {
        if !matches!(self.out.incomplete, Some(Incomplete::NoRoom(_))) {
            self.out.incomplete = Some(Incomplete::Unscannable(why));
        }
        Flow::Stop
    }

    /// Something was not scanned; the inspection goes on (a match elsewhere still decides).
    /// The first reason is the verdict's; the others are noted.
    fn unscannable(&mut self, why: String) {
        match self.out.incomplete {
            None => self.out.incomplete = Some(Incomplete::Unscannable(why)),
            Some(_) => self.note(why),
        }
    }

    /// Something not read that does not change the verdict, for the log.
    fn note(&mut self, why: String) {
        match self.out.notes.len() {
            n if n < MAX_NOTES => self.out.notes.push(why),
            MAX_NOTES => self.out.notes.push("(more left out)".into()),
            _ => {}
        }
    }
}

/// `name`, cut at `MAX_NAME` characters.
fn shown(name: &str) -> String {
    match name.char_indices().nth(MAX_NAME) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_owned(),
    }
}
