//! What the decoder tests share: a measure, member names, hexadecimal vectors, a seeded
//! generator, and the damage every decoder must survive (every prefix, bit flips and
//! random mutations) within a time limit and the cap.

use super::{Measure, Unpacked};
use std::time::{Duration, Instant};

/// A measure capping what is decoded at `cap` bytes, its deadline 30 seconds ahead.
pub(super) fn measure(cap: u64) -> Measure {
    Measure {
        cap,
        deadline: Instant::now() + Duration::from_secs(30),
    }
}

/// A measure (of 1 MiB) whose deadline has already passed.
pub(super) fn expired() -> Measure {
    Measure {
        cap: 1 << 20,
        deadline: Instant::now(),
    }
}

/// The names of the files read, in order.
pub(super) fn names(u: &Unpacked) -> Vec<&str> {
    u.files.iter().map(|(name, _)| name.as_str()).collect()
}

/// The bytes `text` spells in hexadecimal; other characters (spaces, line breaks) are
/// skipped.
pub(super) fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    let nibble = |d: u8| (d as char).to_digit(16).unwrap_or(0) as u8;
    digits
        .chunks(2)
        .map(|p| nibble(p[0]) << 4 | nibble(p[1]))
        .collect()
}

/// The seeds of `XorShift` the tests use: Marsaglia's, and the golden ratio's.
pub(super) const SEED: u64 = 0x2545_F491_4F6C_DD1D;
pub(super) const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Marsaglia's xorshift64: the same cases on every run.
pub(super) struct XorShift(pub(super) u64);

impl XorShift {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (0 when `n` is 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub(super) fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    /// Sets one to `most` bytes at or after `from` to random values.
    pub(super) fn overwrite(&mut self, bytes: &mut [u8], from: usize, most: u64) {
        for _ in 0..1 + self.next() % most {
            let at = from + self.below(bytes.len() - from);
            bytes[at] = self.byte();
        }
    }

    /// Cuts `bytes` at a random place one time in four.
    pub(super) fn maybe_cut(&mut self, bytes: &mut Vec<u8>) {
        if self.next().is_multiple_of(4) {
            let at = self.below(bytes.len());
            bytes.truncate(at);
        }
    }

    /// One to four edits where `pick` says (of the bytes as they are): a byte set, a bit
    /// flipped, four bytes set to FF, the rest cut off, or two bytes zeroed. A place past
    /// the end (after a cut) is passed over.
    pub(super) fn edit(
        &mut self,
        bytes: &mut Vec<u8>,
        mut pick: impl FnMut(&mut Self, &[u8]) -> usize,
    ) {
        for _ in 0..1 + self.next() % 4 {
            let at = pick(self, bytes);
            if at >= bytes.len() {
                continue;
            }
            match self.next() % 5 {
                0 => bytes[at] = self.byte(),
                1 => bytes[at] ^= 1 << (self.next() % 8),
                2 if at + 4 <= bytes.len() => bytes[at..at + 4].fill(0xFF),
                3 => bytes.truncate(at),
                _ if at + 2 <= bytes.len() => bytes[at..at + 2].fill(0),
                _ => {}
            }
        }
    }
}

/// Runs `f`, asserting it took less than `limit`.
pub(super) fn within<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took < limit, "took {took:?}, more than {limit:?}");
    out
}

/// Decodes `bytes` with `unpack` under `measure(cap)`: it must not panic, must finish
/// within `limit` and must hold no more than `cap` bytes.
pub(super) fn survives(
    unpack: impl FnOnce(&[u8], Measure) -> Unpacked,
    bytes: &[u8],
    cap: u64,
    limit: Duration,
) -> Unpacked {
    let u = within(limit, || unpack(bytes, measure(cap)));
    let held: usize = u.files.iter().map(|f| f.1.len()).sum();
    assert!(held as u64 <= cap, "{held} bytes held past a cap of {cap}");
    u
}

/// Calls `check` with every proper prefix of `vector` (its length, its bytes).
pub(super) fn every_prefix(vector: &[u8], mut check: impl FnMut(usize, &[u8])) {
    for end in 0..vector.len() {
        check(end, &vector[..end]);
    }
}

/// Every bit of `len` bytes, as `flips` takes them.
pub(super) fn every_bit(len: usize) -> std::ops::Range<usize> {
    0..len * 8
}

/// One bit of each byte at `places`, as `flips` takes them: bit `i % 8` of byte `i`.
pub(super) fn a_bit_of(places: impl IntoIterator<Item = usize>) -> impl Iterator<Item = usize> {
    places.into_iter().map(|i| i * 8 + i % 8)
}

/// Calls `check` with `vector` with each of `bits` flipped in turn (bit `b` is bit
/// `b % 8` of byte `b / 8`), one at a time.
pub(super) fn flips(
    vector: &[u8],
    bits: impl IntoIterator<Item = usize>,
    mut check: impl FnMut(&[u8]),
) {
    let mut bytes = vector.to_vec();
    for bit in bits {
        bytes[bit / 8] ^= 1 << (bit % 8);
        check(&bytes);
        bytes[bit / 8] ^= 1 << (bit % 8);
    }
}

/// Calls `check` with `cases` mutated copies of the vectors, taken in turn: `mutate`
/// edits each copy, given a generator seeded with `seed` and the case number.
pub(super) fn mutations(
    vectors: &[Vec<u8>],
    seed: u64,
    cases: usize,
    mut mutate: impl FnMut(&mut XorShift, &mut Vec<u8>, usize),
    mut check: impl FnMut(&[u8]),
) {
    let mut rng = XorShift(seed);
    for case in 0..cases {
        let mut bytes = vectors[case % vectors.len()].clone();
        mutate(&mut rng, &mut bytes, case);
        check(&bytes);
    }
}
