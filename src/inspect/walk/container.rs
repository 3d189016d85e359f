//! One container's walk as the formats' walkers see it (their [`Visitor`]): each member handed
//! to the walk, each problem kept for the container's verdict, the caps and deadline the
//! decoders keep to, and the archive passwords they try.

use std::time::Instant;

use super::{MAX_PROBLEMS, Walk, shown};
use crate::inspect::Subject;
use crate::inspect::formats::{Flow, Measure, Member, Password, Problem, Visitor};

/// One container's walk, as its formats walker sees the walk.
pub(super) struct Container<'w, 'a> {
    pub(super) walk: &'w mut Walk<'a>,
    pub(super) path: &'w mut Vec<String>,
    pub(super) parent: &'w Subject,
    pub(super) embedded: bool,
    /// Members handed over (read, or found encrypted).
    pub(super) visited: u64,
    pub(super) problems: Vec<Problem>,
    /// Problems beyond those kept.
    pub(super) more_problems: usize,
    pub(super) stopped: bool,
}

impl Visitor for Container<'_, '_> {
    fn member(&mut self, member: Member<'_>) -> Flow {
        self.visited += 1;
        let flow = self
            .walk
            .member(member, self.path, self.parent, self.embedded);
        self.stopped |= flow == Flow::Stop;
        flow
    }

    fn problem(&mut self, problem: Problem) -> Flow {
        match self.problems.len() {
            n if n < MAX_PROBLEMS => self.problems.push(problem),
            _ => self.more_problems += 1,
        }
        if Instant::now() < self.walk.deadline {
            return Flow::Continue;
        }
        self.stopped = true;
        self.walk.timed_out(self.path)
    }

    fn measure(&self) -> Measure {
        self.walk.measure()
    }

    /// The decoders that hold a container's files at once hold them outside the budget, as
    /// their dictionaries are: no more than one member may be.
    fn whole(&self) -> Measure {
        let limits = self.walk.limits;
        Measure {
            cap: limits.max_expanded.min(limits.max_member_size),
            ..self.walk.measure()
        }
    }

    fn passwords(&self) -> &[Password] {
        self.walk.limits.passwords.as_slice()
    }

    fn opened(&mut self, name: &str) {
        let at = format!("{}>{}", self.walk.at(self.path), shown(name));
        self.walk
            .note(format!("{at} opened with an ARCHIVE_PASSWORDS entry"));
    }
}
