//! What a container's walk saw of its bytes ([`Seen`]): members' bytes read as stored, the
//! headers walked, and the rooms said to hold compressed data, measured as far as their
//! streams really go. The search for embedded archives passes over only these.

use std::collections::HashMap;
use std::ops::Range;

use rangemap::{RangeMap, RangeSet};

use super::Format;
use super::extent::{self, Coder, Measure};

/// What a container's walk read of its bytes, for the search of archives embedded in them.
/// Only what the walk really saw is passed over: a member's bytes that were read as they are
/// stored (an archive there was that member's to find), the headers walked (a container of
/// that format starting there was walked already), and compressed data as far as its stream
/// really goes (`extent`: what looks like an archive there is a copy of what the stream
/// decoded to, or chance). Sizes the container declares are trusted for nothing else: what
/// lies after a stream's real end, in the room said to be its member's, is searched.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Members' bytes read as stored.
    content: RangeSet<usize>,
    /// Headers walked, by the format that walked them.
    headers: HashMap<Format, RangeSet<usize>>,
    /// The room said to hold compressed data: which of `packed` each byte is in (the later
    /// one where they overlap).
    rooms: RangeMap<usize, usize>,
    packed: Vec<Packed>,
}

/// A room said to hold compressed data.
#[derive(Debug, Clone)]
struct Packed {
    room: Range<usize>,
    coder: Coder,
    /// Where its stream really ends, once measured.
    end: Option<usize>,
}

impl Seen {
    /// `range` was read as a member's bytes, as stored.
    pub fn content(&mut self, range: Range<usize>) {
        if !range.is_empty() {
            self.content.insert(range);
        }
    }

    /// A `format` container's header lies in `range` (an empty range counts as its first
    /// byte): that container was walked from there.
    pub fn header(&mut self, format: Format, range: Range<usize>) {
        let end = range.end.max(range.start.saturating_add(1));
        self.headers
            .entry(format)
            .or_default()
            .insert(range.start..end);
    }

    /// `room` is said to hold data that `coder` compressed, from its start.
    pub fn packed(&mut self, room: Range<usize>, coder: Coder) {
        if room.is_empty() {
            return;
        }
        self.rooms.insert(room.clone(), self.packed.len());
        self.packed.push(Packed {
            room,
            coder,
            end: None,
        });
    }

    /// True when a `format` container at `at` was seen already: in a member's bytes, or
    /// among the headers a walk of that format read.
    pub fn walked(&self, at: usize, format: Format) -> bool {
        self.content.contains(&at) || self.headers.get(&format).is_some_and(|h| h.contains(&at))
    }

    /// True when `at` lies in a member's bytes read as stored.
    pub fn read(&self, at: usize) -> bool {
        self.content.contains(&at)
    }

    /// True when `at` lies in a room said to hold compressed data.
    pub fn in_packed(&self, at: usize) -> bool {
        self.rooms.contains_key(&at)
    }

    /// True when `at` lies inside a compressed stream, as far as it really goes (measured in
    /// `bytes`, the container's, the first time it is asked, within `measure`).
    pub fn in_stream(&mut self, at: usize, bytes: &[u8], measure: Measure) -> bool {
        let Some(packed) = self.rooms.get(&at).and_then(|i| self.packed.get_mut(*i)) else {
            return false;
        };
        let start = packed.room.start;
        let end = *packed.end.get_or_insert_with(|| {
            let said = packed.room.len();
            let taken = bytes
                .get(start..)
                .map_or(0, |b| extent::taken(packed.coder, b, said, measure));
            start + taken
        });
        at < end
    }

    /// Adds what `other` (the walk of bytes `by` further on) saw.
    pub fn merge(&mut self, other: Seen, by: usize) {
        let shift = |r: &Range<usize>| r.start.saturating_add(by)..r.end.saturating_add(by);
        for range in other.content.iter() {
            self.content(shift(range));
        }
        for (format, ranges) in &other.headers {
            for range in ranges.iter() {
                self.header(*format, shift(range));
            }
        }
        for packed in other.packed {
            let room = shift(&packed.room);
            self.rooms.insert(room.clone(), self.packed.len());
            self.packed.push(Packed {
                room,
                end: packed.end.map(|e| e.saturating_add(by)),
                ..packed
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_passes_over_what_was_read_and_the_headers_of_its_own_format_only() {
        let mut seen = Seen::default();
        seen.content(10..20);
        seen.content(15..40);
        seen.header(Format::Zip, 100..100);
        seen.header(Format::Tar, 200..712);
        seen.packed(1000..2000, Coder::AsSaid);
        assert!(seen.walked(30, Format::Gzip), "overlapping ranges join");
        assert!(!seen.walked(40, Format::Zip) && !seen.walked(9, Format::Zip));
        assert!(seen.walked(100, Format::Zip) && !seen.walked(101, Format::Zip));
        assert!(!seen.walked(100, Format::Tar), "a zip's header is no tar's");
        assert!(seen.walked(711, Format::Tar) && !seen.walked(300, Format::Zip));
        assert!(
            !seen.walked(1500, Format::Zip),
            "compressed data is no member's bytes"
        );
        assert!(seen.in_packed(1500) && !seen.in_packed(2000));
        let mut outer = Seen::default();
        outer.merge(seen, 5);
        assert!(outer.walked(105, Format::Zip) && outer.read(44) && !outer.read(45));
        assert!(outer.in_packed(1005) && !outer.in_packed(1004));
    }

    #[test]
    fn inside_a_room_said_compressed_only_the_stream_as_far_as_it_goes_is_passed_over() {
        use std::io::Write as _;
        let mut deflate =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        deflate
            .write_all(&b"text and more text ".repeat(500))
            .unwrap();
        let stream = deflate.finish().unwrap();
        let bytes = [vec![b'x'; 100], stream.clone(), vec![b'y'; 500]].concat();
        let end = 100 + stream.len();
        let measure = Measure {
            cap: 1 << 20,
            deadline: std::time::Instant::now() + std::time::Duration::from_secs(20),
        };
        let mut seen = Seen::default();
        seen.packed(100..end + 400, Coder::Deflate);
        assert!(seen.in_stream(100, &bytes, measure) && seen.in_stream(end - 1, &bytes, measure));
        assert!(
            !seen.in_stream(end, &bytes, measure),
            "the rest of the room is searched"
        );
        assert!(
            !seen.in_stream(99, &bytes, measure) && !seen.in_stream(end + 450, &bytes, measure)
        );
        let mut said = Seen::default();
        said.packed(100..end + 400, Coder::AsSaid);
        assert!(said.in_stream(end + 399, &bytes, measure));
        // Merged into the walk of bytes that hold these 7 bytes further on: measured again
        // there or not, the same stream.
        let mut outer = Seen::default();
        outer.merge(seen, 7);
        let shifted = [vec![0; 7], bytes].concat();
        assert!(
            outer.in_stream(end + 6, &shifted, measure)
                && !outer.in_stream(end + 7, &shifted, measure)
        );
    }
}
