//! Microsoft Cabinet (`.cab`, and the cabinets inside installers and MSI files): every file of
//! every folder, decoded by the `cab` crate (stored, MSZIP and LZX). Quantum, which the crate
//! does not decode, is a method that cannot be decoded: `Unscannable` when such a folder holds
//! files. Two files of one name are read as the first (the crate reads by name). The crate
//! panics on some hostile cabinets (found by `scripts/fuzz`): every call into it is guarded.

use std::io::Cursor;

use cab::{Cabinet, CompressionType};

use super::{Flow, Format, Guarded, Problem, Seen, Visitor, guarded, visit_plain};

/// A cabinet starts so: its signature, then 4 reserved zero bytes.
pub const MAGIC: &[u8] = b"MSCF\0\0\0\0";

/// Walks every file of the cabinet `bytes`.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Seen {
    let mut seen = Seen::default();
    seen.header(Format::Cab, 0..MAGIC.len());
    let mut cabinet = match guarded(|| Cabinet::new(Cursor::new(bytes))) {
        Ok(cabinet) => cabinet,
        Err(e) => {
            visit.problem(Problem::broken(None, e));
            return seen;
        }
    };
    let folders: Vec<(CompressionType, Vec<String>)> = cabinet
        .folder_entries()
        .map(|f| {
            let names = f.file_entries().map(|e| e.name().to_owned()).collect();
            (f.compression_type(), names)
        })
        .collect();
    for (compression, names) in folders {
        for name in names {
            let flow = match compression {
                CompressionType::Quantum(..) => {
                    visit.problem(Problem::unsupported(name, "Quantum compression"))
                }
                _ => file(&mut cabinet, name, visit),
            };
            if flow == Flow::Stop {
                return seen;
            }
        }
    }
    seen
}

/// Hands the file `name` to `visit`, or the reason it cannot be read.
fn file(cabinet: &mut Cabinet<Cursor<&[u8]>>, name: String, visit: &mut dyn Visitor) -> Flow {
    match guarded(|| cabinet.read_file(&name)) {
        Ok(reader) => visit_plain(visit, name, &mut Guarded(reader)),
        Err(e) => visit.problem(Problem::broken(Some(name), e)),
    }
}
