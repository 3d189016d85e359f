//! Old Windows and Mac wrappers that hold one file (or a few): SZDD (what `COMPRESS.EXE`
//! wrote, `clam.ex_`, expanded by `expand.exe`), BinHex 4.0 (`.hqx`, Mac mail attachments)
//! and TNEF (`winmail.dat`, Outlook's rich-text attachments). No kept crate reads them; each
//! is a page of its specification, decoded here with every length checked.

use super::{Flow, Format, Problem, Seen, Visitor, visit_plain};

/// SZDD's magic, then the method byte `A`.
pub const SZDD_MAGIC: &[u8] = b"SZDD\x88\xf0\x27\x33";
/// The line BinHex files start with (after any mail text).
pub const BINHEX_MAGIC: &[u8] = b"(This file must be converted with BinHex";
/// TNEF's signature (0x223E9F78, little-endian).
pub const TNEF_MAGIC: &[u8] = &[0x78, 0x9f, 0x3e, 0x22];

/// The files a wrapper gave, and what stopped its reading: naming the file it was in when
/// one was named (then the wrapper was recognised, and its damage is no chance).
type Decoded = (Vec<(String, Vec<u8>)>, Option<Problem>);

/// A wrapper's format: the formats this file reads, and no other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wrapper {
    Szdd,
    BinHex,
    Tnef,
}

impl From<Wrapper> for Format {
    fn from(wrapper: Wrapper) -> Format {
        match wrapper {
            Wrapper::Szdd => Format::Szdd,
            Wrapper::BinHex => Format::BinHex,
            Wrapper::Tnef => Format::Tnef,
        }
    }
}

/// Walks the one file an SZDD, BinHex or TNEF `bytes` holds.
pub(super) fn walk(wrapper: Wrapper, bytes: &[u8], visit: &mut dyn Visitor) -> Seen {
    let mut seen = Seen::default();
    seen.header(wrapper.into(), 0..0);
    let (files, problem) = match wrapper {
        Wrapper::Szdd => match szdd(bytes) {
            Ok(data) => (vec![("expanded".to_owned(), data)], None),
            Err(why) => (Vec::new(), Some(Problem::broken(None, why))),
        },
        Wrapper::BinHex => binhex(bytes),
        Wrapper::Tnef => tnef(bytes),
    };
    for (name, data) in files {
        let flow = visit_plain(visit, name, &mut data.as_slice());
        if flow == Flow::Stop {
            return seen;
        }
    }
    if let Some(problem) = problem {
        visit.problem(problem);
    }
    seen
}

/// SZDD's LZSS: a 4 KiB window filled with spaces, written from 16 bytes before its end;
/// each flag bit (low first) says a literal byte (1) or a 12-bit position and 4-bit length
/// less 3 (0). The header gives the expanded size, which bounds the output.
fn szdd(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let size = bytes
        .get(10..14)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
        .ok_or("SZDD header cut short")?;
    if bytes.get(8) != Some(&b'A') {
        return Err("SZDD method is not A".into());
    }
    let (mut window, mut pos) = ([b' '; 4096], 4096 - 16);
    let mut out = Vec::with_capacity(size.min(bytes.len().saturating_mul(8)));
    let mut input = bytes[14..].iter().copied();
    'blocks: while let Some(flags) = input.next() {
        for bit in 0..8 {
            if out.len() >= size {
                break 'blocks;
            }
            let mut emit = |b: u8, window: &mut [u8; 4096]| {
                out.push(b);
                window[pos] = b;
                pos = (pos + 1) & 4095;
            };
            if flags >> bit & 1 == 1 {
                let Some(b) = input.next() else { break 'blocks };
                emit(b, &mut window);
                continue;
            }
            let (Some(lo), Some(hi)) = (input.next(), input.next()) else {
                break 'blocks;
            };
            let mut from = usize::from(lo) | (usize::from(hi & 0xf0) << 4);
            for _ in 0..usize::from(hi & 0x0f) + 3 {
                emit(window[from], &mut window);
                from = (from + 1) & 4095;
            }
        }
    }
    out.truncate(size);
    match out.len() == size {
        true => Ok(out),
        false => Err(format!("SZDD expands to {} of its {size} bytes", out.len())),
    }
}

/// BinHex 4.0: after the magic line, the text between two colons is six bits per character
/// of its alphabet, then run-length coded (0x90 n: the byte before, n times in all); then a
/// header (name, type, creator, flags, the forks' lengths) and the data and resource forks.
fn binhex(bytes: &[u8]) -> Decoded {
    let data = match binhex_data(bytes) {
        Ok(data) => data,
        Err(why) => return (Vec::new(), Some(Problem::broken(None, why))),
    };
    let Some((name, (data_len, resource_len, fork))) = binhex_header(&data) else {
        let why = "its header is cut short";
        return (Vec::new(), Some(Problem::broken(None, why)));
    };
    let Some(data_fork) = data.get(fork..fork.saturating_add(data_len)) else {
        let why = "its data fork is cut short";
        return (Vec::new(), Some(Problem::broken(Some(name), why)));
    };
    let mut files = vec![(name.clone(), data_fork.to_vec())];
    let resource_at = fork + data_len + 2;
    if resource_len == 0 {
        return (files, None);
    }
    let resource_name = format!("{name}.rsrc");
    match data.get(resource_at..resource_at.saturating_add(resource_len)) {
        Some(resource) => files.push((resource_name, resource.to_vec())),
        None => {
            let why = "its resource fork is cut short";
            return (files, Some(Problem::broken(Some(resource_name), why)));
        }
    }
    (files, None)
}

/// A BinHex file's bytes: its characters decoded to six bits each, and its runs undone.
fn binhex_data(bytes: &[u8]) -> Result<Vec<u8>, String> {
    const ALPHABET: &[u8] = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
    let start = memchr::memmem::find(bytes, BINHEX_MAGIC).ok_or("no BinHex line")?;
    let body = &bytes[start..];
    let open = memchr::memchr(b':', body).ok_or("no BinHex data")? + 1;
    let mut bits = Vec::new();
    for &c in &body[open..] {
        match c {
            b':' => break,
            b'\r' | b'\n' | b' ' | b'\t' => {}
            _ => match ALPHABET.iter().position(|a| *a == c) {
                Some(six) => bits.push(six as u8),
                None => return Err(format!("{:?} is no BinHex character", c as char)),
            },
        }
    }
    let mut packed = Vec::with_capacity(bits.len() * 3 / 4);
    for quad in bits.chunks(4) {
        let six = |i: usize| u32::from(quad.get(i).copied().unwrap_or(0));
        let n = six(0) << 18 | six(1) << 12 | six(2) << 6 | six(3);
        packed.extend_from_slice(&n.to_be_bytes()[1..quad.len().max(1)]);
    }
    Ok(unrun(&packed))
}

/// A BinHex header: the file's name, then the data and resource forks' lengths and where
/// the data fork starts (after the name, a version, type, creator, flags and a CRC).
fn binhex_header(data: &[u8]) -> Option<(String, (usize, usize, usize))> {
    let name_len = usize::from(*data.first()?);
    let name = String::from_utf8_lossy(data.get(1..1 + name_len)?).into_owned();
    let at = 1 + name_len + 1 + 4 + 4 + 2;
    let number = |at: usize| Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?));
    let (data_len, resource_len) = (number(at)? as usize, number(at + 4)? as usize);
    Some((name, (data_len, resource_len, at + 8 + 2)))
}

/// BinHex's run-length coding undone.
fn unrun(packed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packed.len());
    let mut input = packed.iter().copied();
    while let Some(b) = input.next() {
        if b != 0x90 {
            out.push(b);
            continue;
        }
        match input.next() {
            Some(0) | None => out.push(0x90),
            Some(n) => {
                let last = out.last().copied().unwrap_or(0);
                out.extend(std::iter::repeat_n(last, usize::from(n) - 1));
            }
        }
    }
    out
}

/// TNEF: after the signature and a key, attributes (a level, an id, a length, the data, a
/// checksum). An attachment's title names the attachment data that follows it. Fewer bytes
/// than an attribute's header after the last are padding.
fn tnef(bytes: &[u8]) -> Decoded {
    const TITLE: u32 = 0x0001_8010;
    const DATA: u32 = 0x0006_800f;
    let (mut at, mut title, mut files) = (6, None::<String>, Vec::new());
    let number =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    while at + 9 <= bytes.len() {
        let (id, len) = (number(at + 1), number(at + 5) as usize);
        let Some(data) = bytes.get(at + 9..(at + 9).saturating_add(len)) else {
            let why = format!("the attribute at {at} runs past the end");
            // Named when it was the data of an attachment a title named.
            let member = (id == DATA).then(|| title.take()).flatten();
            return (files, Some(Problem::broken(member, why)));
        };
        match id {
            TITLE => {
                let text = data.strip_suffix(&[0]).unwrap_or(data);
                title = Some(String::from_utf8_lossy(text).into_owned());
            }
            DATA => {
                let n = files.len() + 1;
                let name = title.take().unwrap_or_else(|| format!("attachment{n}"));
                files.push((name, data.to_vec()));
            }
            _ => {}
        }
        at += 9 + len + 2;
    }
    (files, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn szdd_literals_and_matches_expand() {
        // "abcabcabc": 3 literals, then a match of 6 at the window's start position.
        let header = [SZDD_MAGIC, b"A", b"x", &9u32.to_le_bytes()].concat();
        let start = 4096 - 16;
        let body = [
            0b0000_0111,
            b'a',
            b'b',
            b'c',
            (start & 0xff) as u8,
            (((start >> 4) & 0xf0) | 3) as u8,
        ];
        assert_eq!(
            szdd(&[header.clone(), body.to_vec()].concat()).unwrap(),
            b"abcabcabc"
        );
        assert!(
            szdd(&[header, body[..4].to_vec()].concat()).is_err(),
            "cut short"
        );
    }

    #[test]
    fn binhex_runs_are_undone() {
        assert_eq!(unrun(&[1, 0x90, 4, 2, 0x90, 0]), [1, 1, 1, 1, 2, 0x90]);
    }

    #[test]
    fn tnef_attachments_are_named_by_their_titles() {
        let attribute = |id: u32, data: &[u8]| {
            [
                &[2u8][..],
                &id.to_le_bytes(),
                &(data.len() as u32).to_le_bytes(),
                data,
                &[0, 0],
            ]
            .concat()
        };
        let bytes = [
            TNEF_MAGIC.to_vec(),
            vec![0, 0],
            attribute(0x0001_8010, b"a.exe\0"),
            attribute(0x0006_800f, b"MZ"),
        ]
        .concat();
        let want = vec![("a.exe".to_owned(), b"MZ".to_vec())];
        assert_eq!(tnef(&bytes), (want, None));
        assert_eq!(tnef(&[&bytes[..], &[0; 8]].concat()).0.len(), 1, "padding");
        let (files, problem) = tnef(&bytes[..bytes.len() - 4]);
        assert!(files.is_empty());
        let member = problem.and_then(|p| p.member);
        assert_eq!(
            member.as_deref(),
            Some("a.exe"),
            "named: the wrapper was recognised"
        );
    }
}
