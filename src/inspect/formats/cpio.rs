//! cpio: the four formats GNU cpio reads — `newc` and `crc` (SVR4, hexadecimal fields, what
//! Linux initramfs and RPM payloads use), `odc` (POSIX, octal) and the old binary format in
//! either byte order. Every entry with data is a member, in order, up to the `TRAILER!!!`
//! entry. A header that does not read ends the walk with a problem: cpio has no index to go
//! on from, and GNU cpio's resync ("skipped N bytes of junk") looks for the next magic, which
//! is done here too. Hand-written: the crates that read cpio read `newc` (and `odc`) only;
//! the headers are fixed fields.

use std::ops::Range;

use memchr::memmem;

use super::{Flow, Format, Problem, Seen, Visitor, visit_plain};

/// The magic numbers of the text formats (newc, crc, odc), six ASCII digits.
pub const NEWC: &[u8] = b"070701";
pub const CRC: &[u8] = b"070702";
pub const ODC: &[u8] = b"070707";
/// The binary format's magic, 0o070707, as a 16-bit number in the archive's byte order.
const BINARY: u16 = 0o070707;
const TRAILER: &[u8] = b"TRAILER!!!";

/// One header, read.
struct Entry {
    /// Where the whole header (fields and name) lies.
    header: Range<usize>,
    name: String,
    data: Range<usize>,
    /// Where the next header starts.
    next: usize,
    /// True for a regular file (an entry whose bytes a reader would write out); links' data
    /// is their target, devices and directories have none.
    file: bool,
}

/// True when `bytes` start as a cpio archive of any of the four formats.
pub(super) fn starts(bytes: &[u8]) -> bool {
    header(bytes, 0).is_ok()
}

/// Walks every entry of the cpio `bytes`.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Seen {
    let mut seen = Seen::default();
    let mut at = 0;
    while at < bytes.len() {
        let entry = match header(bytes, at) {
            Ok(entry) => entry,
            Err(why) => {
                seen.header(Format::Cpio, at..at);
                let problem = Problem::broken(None, format!("header at {at}: {why}"));
                match (visit.problem(problem), next_magic(bytes, at + 1)) {
                    (Flow::Continue, Some(next)) => {
                        at = next;
                        continue;
                    }
                    _ => return seen,
                }
            }
        };
        seen.header(Format::Cpio, entry.header.clone());
        if entry.name.as_bytes() == TRAILER {
            return seen;
        }
        if entry.file || !entry.data.is_empty() {
            let mut data = &bytes[entry.data.clone()];
            seen.content(entry.data.clone());
            let flow = visit_plain(visit, entry.name, &mut data);
            if flow == Flow::Stop {
                return seen;
            }
        }
        at = entry.next;
    }
    seen
}

/// The next offset after `from` where a text-format magic, or a binary header that reads,
/// starts.
fn next_magic(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = bytes.get(from..)?;
    let text = memmem::find_iter(rest, b"07070")
        .map(|i| from + i)
        .find(|at| header(bytes, *at).is_ok());
    let binary = (from..bytes.len())
        .step_by(2)
        .find(|at| is_binary_magic(&bytes[*at..]) && header(bytes, *at).is_ok());
    text.into_iter().chain(binary).min()
}

fn is_binary_magic(bytes: &[u8]) -> bool {
    let magic = BINARY.to_le_bytes();
    bytes.starts_with(&magic) || bytes.starts_with(&[magic[1], magic[0]])
}

/// The header at `at`, of whichever format its magic names.
fn header(bytes: &[u8], at: usize) -> Result<Entry, String> {
    let rest = bytes.get(at..).unwrap_or_default();
    if rest.starts_with(NEWC) || rest.starts_with(CRC) {
        text_header(bytes, at, Layout::NEWC)
    } else if rest.starts_with(ODC) {
        text_header(bytes, at, Layout::ODC)
    } else if is_binary_magic(rest) {
        binary_header(bytes, at)
    } else {
        Err("no cpio magic".into())
    }
}

/// Where a text format's fields are, and how it aligns.
struct Layout {
    len: usize,
    radix: u32,
    mode: Range<usize>,
    name_size: Range<usize>,
    file_size: Range<usize>,
    /// Header and name, and data, are padded to a multiple of this.
    align: usize,
}

impl Layout {
    const NEWC: Layout = Layout {
        len: 110,
        radix: 16,
        mode: 14..22,
        name_size: 94..102,
        file_size: 54..62,
        align: 4,
    };
    const ODC: Layout = Layout {
        len: 76,
        radix: 8,
        mode: 18..24,
        name_size: 59..65,
        file_size: 65..76,
        align: 1,
    };
}

fn text_header(bytes: &[u8], at: usize, layout: Layout) -> Result<Entry, String> {
    let fields = bytes.get(at..at + layout.len).ok_or("header cut short")?;
    let number = |range: Range<usize>, what: &str| -> Result<usize, String> {
        std::str::from_utf8(&fields[range])
            .ok()
            .and_then(|s| usize::from_str_radix(s, layout.radix).ok())
            .ok_or_else(|| format!("its {what} field is no number"))
    };
    let mode = number(layout.mode.clone(), "mode")?;
    let name_size = number(layout.name_size.clone(), "name size")?;
    let file_size = number(layout.file_size.clone(), "file size")?;
    entry(
        bytes,
        at,
        layout.len,
        (mode, name_size, file_size),
        layout.align,
    )
}

/// The old binary header: 13 16-bit numbers in the byte order its magic shows; mtime and
/// file size are two of them each, the high half first.
fn binary_header(bytes: &[u8], at: usize) -> Result<Entry, String> {
    let fields = bytes.get(at..at + 26).ok_or("header cut short")?;
    let little = fields[..2] == BINARY.to_le_bytes();
    let word = |i: usize| {
        let pair = [fields[2 * i], fields[2 * i + 1]];
        usize::from(match little {
            true => u16::from_le_bytes(pair),
            false => u16::from_be_bytes(pair),
        })
    };
    let (mode, name_size) = (word(3), word(10));
    let file_size = (word(11) << 16) | word(12);
    entry(bytes, at, 26, (mode, name_size, file_size), 2)
}

/// The entry whose fixed header of `len` bytes at `at` gave `(mode, name size, file size)`.
fn entry(
    bytes: &[u8],
    at: usize,
    len: usize,
    (mode, name_size, file_size): (usize, usize, usize),
    align: usize,
) -> Result<Entry, String> {
    let name_at = at + len;
    let name = bytes
        .get(name_at..name_at.saturating_add(name_size))
        .ok_or("its name runs past the end")?;
    let name = name.strip_suffix(&[0]).ok_or("its name does not end")?;
    let data_at = pad(name_at + name_size, align);
    let data = data_at..data_at.saturating_add(file_size);
    if data.end > bytes.len() {
        return Err(format!("its {file_size} bytes of data run past the end"));
    }
    Ok(Entry {
        header: at..data_at,
        name: String::from_utf8_lossy(name).into_owned(),
        next: pad(data.end, align),
        data,
        file: mode & 0o170000 == 0o100000,
    })
}

/// `offset` rounded up to a multiple of `align`, counted from the archive's start.
fn pad(offset: usize, align: usize) -> usize {
    offset.div_ceil(align).saturating_mul(align)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::inspect::formats::Member;

    /// A newc archive of `files`, as `cpio -o -H newc` writes it.
    pub(crate) fn newc(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let trailer = [("TRAILER!!!", &b""[..])];
        for (i, (name, data)) in files.iter().chain(trailer.iter()).enumerate() {
            let mode = if *name == "TRAILER!!!" { 0 } else { 0o100644 };
            let fields = [
                i + 1,
                mode,
                0,
                0,
                1,
                0,
                data.len(),
                0,
                0,
                0,
                0,
                name.len() + 1,
                0,
            ];
            out.extend_from_slice(NEWC);
            for field in fields {
                out.extend_from_slice(format!("{field:08X}").as_bytes());
            }
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            out.resize(out.len().div_ceil(4) * 4, 0);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(4) * 4, 0);
        }
        out
    }

    /// An odc archive of `files`.
    fn odc(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in files {
            out.extend_from_slice(ODC);
            out.extend_from_slice(format!("{:06o}{:06o}{:06o}", 0, 1, 0o100644).as_bytes());
            out.extend_from_slice(format!("{:06o}{:06o}{:06o}{:06o}", 0, 0, 1, 0).as_bytes());
            out.extend_from_slice(
                format!("{:011o}{:06o}{:011o}", 0, name.len() + 1, data.len()).as_bytes(),
            );
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            out.extend_from_slice(data);
        }
        out
    }

    /// A binary archive of `files`, big- or little-endian.
    fn binary(files: &[(&str, &[u8])], big: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in files {
            let size = data.len();
            let words = [
                BINARY,
                0,
                1,
                0o100644,
                0,
                0,
                1,
                0,
                0,
                0,
                name.len() as u16 + 1,
                (size >> 16) as u16,
                size as u16,
            ];
            for w in words {
                out.extend_from_slice(&if big {
                    w.to_be_bytes()
                } else {
                    w.to_le_bytes()
                });
            }
            out.extend_from_slice(name.as_bytes());
            out.push(0);
            out.resize(out.len().div_ceil(2) * 2, 0);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(2) * 2, 0);
        }
        out
    }

    struct Names(Vec<(String, Vec<u8>)>, usize);

    impl Visitor for Names {
        fn member(&mut self, member: Member<'_>) -> Flow {
            let mut data = Vec::new();
            std::io::Read::read_to_end(member.reader, &mut data).unwrap();
            self.0.push((member.name, data));
            Flow::Continue
        }
        fn problem(&mut self, _: Problem) -> Flow {
            self.1 += 1;
            Flow::Continue
        }
        fn measure(&self) -> super::super::Measure {
            super::super::Measure {
                cap: 1 << 20,
                deadline: std::time::Instant::now() + std::time::Duration::from_secs(5),
            }
        }
    }

    /// The members' names and bytes, and how many problems, of a walk of `bytes` as cpio —
    /// or, for other formats' tests, as whatever format they are.
    pub(crate) fn members(bytes: &[u8]) -> (Vec<(String, Vec<u8>)>, usize) {
        let mut names = Names(Vec::new(), 0);
        let format = Format::sniff(bytes).unwrap_or(Format::Cpio);
        super::super::each_member(format, "test", bytes, false, &mut names);
        (names.0, names.1)
    }

    #[test]
    fn every_format_gives_its_files() {
        let files: [(&str, &[u8]); 2] = [("a.txt", b"odd"), ("dir/b.bin", b"four")];
        let want: Vec<(String, Vec<u8>)> = files
            .iter()
            .map(|(n, d)| (n.to_string(), d.to_vec()))
            .collect();
        for archive in [
            newc(&files),
            odc(&files),
            binary(&files, true),
            binary(&files, false),
        ] {
            assert!(starts(&archive));
            assert_eq!(members(&archive), (want.clone(), 0));
        }
    }

    #[test]
    fn a_broken_header_is_a_problem_and_the_walk_goes_on_at_the_next() {
        let mut archive = newc(&[("a", b"x"), ("b", b"EICAR")]);
        archive[14] = b'Z';
        let (found, problems) = members(&archive);
        assert_eq!(problems, 1);
        assert_eq!(found, [("b".to_owned(), b"EICAR".to_vec())]);
        let cut = &newc(&[("a", b"0123456789")])[..120];
        assert_eq!(members(cut), (Vec::new(), 1), "data past the end");
        assert!(!starts(b"0707010000"));
    }
}
