//! OLE2 Compound Files (`.doc`, `.xls`, `.ppt`, `.msi`, `.msg`, `vbaProject.bin`, the OLE
//! objects of OOXML and RTF documents): every stream, by its storage path, read through the
//! `cfb` crate. Some streams also give what they hold: an `Ole10Native` stream (an OLE1
//! `Package`: a file dropped into a document) the file it wraps, under that file's name; a VBA
//! module stream its macro source, decompressed (`vba`); a workbook its Excel 4.0 macro
//! sheets as text (`xlm`); a presentation's `PowerPoint
//! Document` the objects its records embed (`ppt`). Those streams are read into memory (small
//! in any real document, and at most the object's size). Calls into the crate are guarded
//! against panics, as the cabinet crate's are.

use std::io::{Cursor, Read};

use cfb::CompoundFile;

use super::{Flow, Format, Guarded, Problem, Seen, Visitor, guarded, visit_plain};

/// A compound file starts so.
pub const MAGIC: &[u8] = &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
/// The stream an OLE1 package is wrapped in.
const OLE10_NATIVE: &str = "\u{1}Ole10Native";

/// Walks every stream of the compound file `bytes`.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Seen {
    let mut seen = Seen::default();
    seen.header(Format::Ole, 0..512.min(bytes.len()));
    let mut file = match guarded(|| CompoundFile::open(Cursor::new(bytes))) {
        Ok(file) => file,
        Err(e) => {
            visit.problem(Problem::broken(None, e));
            return seen;
        }
    };
    let listed = guarded(|| {
        let streams = file.walk().filter(|e| e.is_stream());
        Ok(streams
            .map(|e| (e.path().display().to_string(), e.path().to_owned()))
            .collect::<Vec<_>>())
    });
    let Ok(streams) = listed else {
        visit.problem(Problem::broken(None, "its directory does not read"));
        return seen;
    };
    for (name, path) in streams {
        let name = name.trim_start_matches('/').to_owned();
        let flow = match guarded(|| file.open_stream(&path)) {
            Ok(stream) if name.ends_with(OLE10_NATIVE) => native(Guarded(stream), name, visit),
            Ok(stream)
                if super::vba::is_module(&name)
                    || super::ppt::is_document(&name)
                    || super::xlm::is_workbook(&name) =>
            {
                inside(Guarded(stream), name, visit)
            }
            Ok(stream) => visit_plain(visit, name, &mut Guarded(stream)),
            Err(e) => visit.problem(Problem::broken(Some(name), e)),
        };
        if flow == Flow::Stop {
            break;
        }
    }
    seen
}

/// A stream that holds more than its bytes show: a VBA module (its source, decompressed:
/// `name.vba`), a presentation (the objects its records embed: `name>oleobjectN.ole`) or a
/// workbook (its Excel 4.0 macro sheets as text: `Workbook.xlm`).
fn inside(mut stream: impl Read, name: String, visit: &mut dyn Visitor) -> Flow {
    let mut bytes = Vec::new();
    if let Err(e) = stream.read_to_end(&mut bytes) {
        return visit.problem(Problem::broken(Some(name), e));
    }
    if visit_plain(visit, name.clone(), &mut bytes.as_slice()) == Flow::Stop {
        return Flow::Stop;
    }
    if super::ppt::is_document(&name) {
        for (i, object) in super::ppt::objects(&bytes).into_iter().enumerate() {
            let object_name = format!("{name}>oleobject{}.ole", i + 1);
            if visit_plain(visit, object_name, &mut object.as_slice()) == Flow::Stop {
                return Flow::Stop;
            }
        }
        return Flow::Continue;
    }
    if super::xlm::is_workbook(&name) {
        let room = usize::try_from(visit.whole().cap).unwrap_or(usize::MAX);
        return match super::xlm::macro_sheets(&bytes, room) {
            Some(text) => visit_plain(visit, format!("{name}.xlm"), &mut text.as_slice()),
            None => Flow::Continue,
        };
    }
    match super::vba::source(&bytes) {
        Some(source) => visit_plain(visit, format!("{name}.vba"), &mut source.as_slice()),
        None => Flow::Continue,
    }
}

/// An `Ole10Native` stream: the stream itself, then the file its package holds.
fn native(mut stream: impl Read, name: String, visit: &mut dyn Visitor) -> Flow {
    let mut bytes = Vec::new();
    if let Err(e) = stream.read_to_end(&mut bytes) {
        return visit.problem(Problem::broken(Some(name), e));
    }
    if visit_plain(visit, name.clone(), &mut bytes.as_slice()) == Flow::Stop {
        return Flow::Stop;
    }
    match package(&bytes) {
        Some((file, data)) => visit_plain(visit, format!("{name}>{file}"), &mut &data[..]),
        // Not every native stream is a package (an embedded Paintbrush picture is not).
        None => Flow::Continue,
    }
}

/// The file name and bytes of an OLE1 package: its size, flags, a label, a path, two
/// reserved numbers, the temporary path it was dropped from, then the data's size and data.
pub(crate) fn package(bytes: &[u8]) -> Option<(String, &[u8])> {
    let mut at = 6;
    let label = c_string(bytes, &mut at)?;
    c_string(bytes, &mut at)?;
    at += 4;
    let path_len = u32_at(bytes, at)? as usize;
    at += 4 + path_len;
    let size = u32_at(bytes, at)? as usize;
    let data = bytes.get(at + 4..(at + 4).checked_add(size)?)?;
    let name = match label.is_empty() {
        true => "package".to_owned(),
        false => label,
    };
    Some((name, data))
}

/// The NUL-ended string at `*at`, moving past it.
fn c_string(bytes: &[u8], at: &mut usize) -> Option<String> {
    let rest = bytes.get(*at..)?;
    let end = rest.iter().position(|b| *b == 0)?;
    *at += end + 1;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let four = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(four.try_into().ok()?))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An OLE1 package holding `data` as `name`, as Windows' Packager writes it.
    pub(crate) fn ole10_native(name: &str, data: &[u8]) -> Vec<u8> {
        let path = format!("C:\\Users\\u\\{name}\0");
        let mut body = vec![2, 0];
        body.extend_from_slice(format!("{name}\0").as_bytes());
        body.extend_from_slice(path.as_bytes());
        body.extend_from_slice(&[0, 0, 3, 0]);
        body.extend_from_slice(&(path.len() as u32).to_le_bytes());
        body.extend_from_slice(path.as_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        [(body.len() as u32).to_le_bytes().to_vec(), body].concat()
    }

    #[test]
    fn a_package_gives_its_file() {
        let native = ole10_native("run.bat", b"echo hi");
        assert_eq!(
            package(&native),
            Some(("run.bat".to_owned(), &b"echo hi"[..]))
        );
        assert_eq!(package(&native[..native.len() - 1]), None, "cut short");
        assert_eq!(package(b"\x04\x00\x00\x00"), None);
    }
}
