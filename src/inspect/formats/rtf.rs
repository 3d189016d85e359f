//! RTF: the objects a document embeds (`\objdata`, hexadecimal, with `\bin` runs of raw
//! bytes), each an OLE1 object: its native data is a member (`objectN.ole` — an OLE2
//! compound file for an embedded Word or Excel object, walked again), and a `Package` also
//! gives the file it wraps (`objectN.ole>name`). Word opens any file that starts `{\rt`, so
//! that is what is looked for; the rest of the syntax is read as loosely as Word reads it:
//! in object data, what is not a hex digit or `\bin` is passed over.

use super::{Flow, Format, Problem, Seen, Visitor, visit_plain};

/// What Word needs to open a file as RTF.
pub const MAGIC: &[u8] = b"{\\rt";
/// Objects looked at in one document; more are a problem (a document holds a few).
const MAX_OBJECTS: usize = 1024;

/// Walks the objects embedded in the RTF `bytes`.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Seen {
    let mut seen = Seen::default();
    seen.header(Format::Rtf, 0..MAGIC.len());
    let starts: Vec<usize> = memchr::memmem::find_iter(bytes, b"\\objdata").collect();
    for (i, at) in starts.into_iter().enumerate() {
        if i == MAX_OBJECTS {
            visit.problem(Problem::broken(
                None,
                format!("more than {MAX_OBJECTS} objects"),
            ));
            break;
        }
        let data = object_data(&bytes[at + b"\\objdata".len()..]);
        if object(i + 1, &data, visit) == Flow::Stop {
            break;
        }
    }
    seen
}

/// The bytes of one `\objdata` group: hex digit pairs and `\bin N` runs, up to the group's
/// closing brace.
fn object_data(rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut at, mut high, mut depth) = (0, None::<u8>, 0usize);
    while let Some(&b) = rest.get(at) {
        at += 1;
        match b {
            b'{' => depth += 1,
            b'}' if depth == 0 => break,
            b'}' => depth -= 1,
            b'\\' => at += control_word(&rest[at..], &mut out),
            _ => {
                let Some(digit) = (b as char).to_digit(16) else {
                    continue;
                };
                match high.take() {
                    Some(h) => out.push((h << 4) | digit as u8),
                    None => high = Some(digit as u8),
                }
            }
        }
    }
    out
}

/// Reads the control word after a backslash (`rest`); a `\binN` copies its N raw bytes to
/// `out`. Returns how many bytes it took.
fn control_word(rest: &[u8], out: &mut Vec<u8>) -> usize {
    let letters = rest.iter().take_while(|b| b.is_ascii_alphabetic()).count();
    if letters == 0 {
        // A control symbol (`\*`, `\'hh`, `\\`): one character.
        return rest.len().min(1);
    }
    let digits = rest[letters..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'-')
        .count();
    let mut taken = letters + digits;
    if rest.get(taken) == Some(&b' ') {
        taken += 1;
    }
    if &rest[..letters] == b"bin" {
        let n: usize = std::str::from_utf8(&rest[letters..letters + digits])
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(0);
        let raw = &rest[taken..(taken.saturating_add(n)).min(rest.len())];
        out.extend_from_slice(raw);
        taken += raw.len();
    }
    taken
}

/// One object's members: its OLE1 native data, and a package's file.
fn object(n: usize, data: &[u8], visit: &mut dyn Visitor) -> Flow {
    let name = format!("object{n}.ole");
    let Some((class, native)) = ole1(data) else {
        // Not an OLE1 object (Word writes other data there too): the bytes themselves.
        return visit_plain(visit, name, &mut &data[..]);
    };
    if visit_plain(visit, name.clone(), &mut &native[4..]) == Flow::Stop {
        return Flow::Stop;
    }
    match class.as_str() {
        "Package" => match super::ole::package(native) {
            Some((file, payload)) => {
                visit_plain(visit, format!("{name}>{file}"), &mut &payload[..])
            }
            None => visit.problem(Problem::broken(Some(name), "its package does not read")),
        },
        _ => Flow::Continue,
    }
}

/// An OLE1 object's class name and native data (from its 4-byte size on): version, format
/// id, then three length-prefixed strings (class, topic, item).
fn ole1(data: &[u8]) -> Option<(String, &[u8])> {
    let mut at = 8;
    let mut strings = Vec::new();
    for _ in 0..3 {
        let len = u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize;
        let text = data.get(at + 4..(at + 4).checked_add(len)?)?;
        strings.push(String::from_utf8_lossy(text.strip_suffix(&[0]).unwrap_or(text)).into_owned());
        at += 4 + len;
    }
    let size = u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize;
    let native = data.get(at..(at + 4).checked_add(size)?)?;
    Some((strings.swap_remove(0), native))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OLE1 `Package` object holding `data` as `name`, as hex in `\objdata`.
    pub(crate) fn rtf_with_package(name: &str, data: &[u8]) -> Vec<u8> {
        let native = super::super::ole::tests::ole10_native(name, data);
        let mut object = vec![1, 5, 0, 0, 2, 0, 0, 0];
        for s in ["Package\0", "", ""] {
            object.extend_from_slice(&(s.len() as u32).to_le_bytes());
            object.extend_from_slice(s.as_bytes());
        }
        object.extend_from_slice(&native);
        let hex: String = object.iter().map(|b| format!("{b:02x}")).collect();
        let lines: Vec<&str> = hex
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "{{\\rtf1\\ansi{{\\object\\objemb{{\\*\\objclass Package}}{{\\*\\objdata\r\n{}}}}}}}",
            lines.join("\r\n")
        )
        .into_bytes()
    }

    #[test]
    fn object_data_reads_hex_and_bin_runs_to_the_end_of_its_group() {
        assert_eq!(object_data(b" 41 42\r\n4\\par 3}44"), b"ABC");
        assert_eq!(object_data(b"41\\bin3 }}}42}"), b"A}}}B");
        assert_eq!(object_data(b"{\\*\\x 41}42}43"), b"AB", "nested groups");
    }

    #[test]
    fn a_package_object_gives_its_file() {
        let rtf = rtf_with_package("a.exe", b"MZ payload");
        let start = memchr::memmem::find(&rtf, b"\\objdata").unwrap() + 8;
        let data = object_data(&rtf[start..]);
        let (class, native) = ole1(&data).unwrap();
        assert_eq!(class, "Package");
        assert_eq!(super::super::ole::package(native).unwrap().1, b"MZ payload");
    }
}
