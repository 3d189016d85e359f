//! What the decoders of formats no kept crate reads (ARJ, CHM, installers, packed
//! executables) give: the files they read out of a container, each whole in memory, and why
//! they stopped early. They decode into an [`Unpacked`], which holds them to the walk's
//! [`Measure`]: its cap on decoded bytes and its deadline, so that no hostile header makes one
//! allocate without bound or loop for ever.

use std::time::Instant;

use super::{Measure, Problem};

/// The files a decoder read, in order, and why it stopped before the end.
#[derive(Debug)]
pub struct Unpacked {
    /// Each file read: its name inside the container (a path with `/`) and its bytes.
    pub files: Vec<(String, Vec<u8>)>,
    /// Why reading stopped before the end, if it did.
    pub problem: Option<Problem>,
    /// The members that cannot be read without a password, by name.
    pub encrypted: Vec<String>,
    /// Decoded bytes held so far, against `measure.cap`.
    held: u64,
    measure: Measure,
}

impl Unpacked {
    /// Nothing read yet, within `measure`.
    pub fn new(measure: Measure) -> Unpacked {
        Unpacked {
            files: Vec::new(),
            problem: None,
            encrypted: Vec::new(),
            held: 0,
            measure,
        }
    }

    /// The bytes a decoder may still produce before the cap: what a buffer may be reserved
    /// to, and where decoding a file stops.
    pub fn room(&self) -> usize {
        usize::try_from(self.measure.cap.saturating_sub(self.held)).unwrap_or(usize::MAX)
    }

    /// False once the deadline has passed: a decoder's loops ask this every block, and stop
    /// (after [`Unpacked::late`]) when it is false.
    pub fn in_time(&self) -> bool {
        Instant::now() < self.measure.deadline
    }

    /// Keeps one file read whole. False (and a problem noted) when it goes past the cap:
    /// the decoder stops there.
    pub fn file(&mut self, name: impl Into<String>, bytes: Vec<u8>) -> bool {
        let name = name.into();
        self.held = self.held.saturating_add(bytes.len() as u64);
        if self.held > self.measure.cap {
            let why = format!("expands past the cap of {} bytes", self.measure.cap);
            self.broken(Some(name), why);
            return false;
        }
        self.files.push((name, bytes));
        true
    }

    /// Notes damage (in `member`, or in the container when `None`); the first noted stays.
    pub fn broken(&mut self, member: Option<String>, why: impl ToString) {
        self.problem.get_or_insert(Problem::broken(member, why));
    }

    /// Notes a member stored with a method not decoded here; the first noted stays.
    pub fn unsupported(&mut self, member: String, why: impl ToString) {
        self.problem
            .get_or_insert(Problem::unsupported(member, why));
    }

    /// Notes a member that cannot be read without a password (`ARCHIVE_ENCRYPTED` decides).
    pub fn encrypted(&mut self, member: String) {
        self.encrypted.push(member);
    }

    /// Notes that the deadline passed while reading `member`.
    pub fn late(&mut self, member: Option<String>) {
        self.broken(member, "the time to look inside ran out");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn measure(cap: u64) -> Measure {
        Measure {
            cap,
            deadline: Instant::now() + Duration::from_secs(60),
        }
    }

    #[test]
    fn files_past_the_cap_are_refused_and_named() {
        let mut unpacked = Unpacked::new(measure(10));
        assert!(unpacked.file("a", vec![0; 6]));
        assert_eq!(unpacked.room(), 4);
        assert!(!unpacked.file("b", vec![0; 6]));
        assert_eq!(unpacked.files.len(), 1);
        let problem = unpacked.problem.expect("a problem");
        assert_eq!(problem.member.as_deref(), Some("b"));
        assert!(problem.why.contains("cap of 10 bytes"), "{}", problem.why);
    }

    #[test]
    fn the_first_problem_noted_is_kept() {
        let mut unpacked = Unpacked::new(measure(10));
        unpacked.unsupported("x".into(), "method 7");
        unpacked.broken(None, "later damage");
        assert!(unpacked.problem.expect("a problem").unsupported);
    }

    #[test]
    fn a_passed_deadline_is_seen() {
        let unpacked = Unpacked::new(Measure {
            cap: 1,
            deadline: Instant::now(),
        });
        assert!(!unpacked.in_time());
    }
}
