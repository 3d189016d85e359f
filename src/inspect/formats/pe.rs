//! A Windows program (PE) inside other bytes: a dropper's payload, the program an unpacked
//! packer or an installer carries, a resource. It is carved out by its headers (to the end of
//! its section table and of its last section's raw data) and scanned as a file of its own, so
//! that a rule anchored at a program's start, or a hash that names it, finds it there (ClamAV
//! does the same). A PE at the start of an object or member is that object: it is never a
//! container of itself.

use super::{Format, Problem, Seen, Visitor, visit_plain};

/// The DOS header's magic.
pub const MAGIC: &[u8] = b"MZ";
pub const MAGIC_AT: usize = 0;
/// Where the DOS header says the PE header is.
const LFANEW_AT: usize = 0x3c;
/// How far the PE header may be from the DOS header (linkers put it within the first page).
const LFANEW_MAX: usize = 0x1000;
/// The Windows loader's most sections.
const MAX_SECTIONS: usize = 96;
/// A section table entry, and where its raw size and position are in it.
const SECTION: usize = 40;
const RAW_SIZE_AT: usize = 16;
const RAW_AT: usize = 20;

/// True when `bytes` start a PE: a DOS header that points at `PE\0\0` and a COFF header with
/// 1 to 96 sections whose table is there.
pub(crate) fn starts(bytes: &[u8]) -> bool {
    size(bytes).is_some()
}

/// Hands `visit` the program `bytes` start, carved to its size (`program`).
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Seen {
    let mut seen = Seen::default();
    seen.header(Format::Pe, 0..0);
    match size(bytes) {
        Some(size) => {
            visit_plain(visit, "program".into(), &mut &bytes[..size]);
        }
        None => {
            visit.problem(Problem::broken(None, "no PE header"));
        }
    }
    seen
}

/// The size of the PE `bytes` start (cut at their end when the program is cut short): the end
/// of its section table or of its last section's raw data, whichever is further.
fn size(bytes: &[u8]) -> Option<usize> {
    if !bytes.starts_with(MAGIC) {
        return None;
    }
    let pe = le32(bytes, LFANEW_AT)? as usize;
    if pe > LFANEW_MAX || bytes.get(pe..pe + 4)? != b"PE\0\0" {
        return None;
    }
    let sections = usize::from(le16(bytes, pe + 6)?);
    let optional = usize::from(le16(bytes, pe + 20)?);
    if sections == 0 || sections > MAX_SECTIONS {
        return None;
    }
    let table = pe + 24 + optional;
    let mut end = table + sections * SECTION;
    bytes.get(table..end)?;
    for section in (0..sections).map(|i| table + i * SECTION) {
        let raw_size = le32(bytes, section + RAW_SIZE_AT)? as usize;
        let raw_at = le32(bytes, section + RAW_AT)? as usize;
        if raw_size > 0 {
            end = end.max(raw_at.saturating_add(raw_size));
        }
    }
    Some(end.min(bytes.len()))
}

fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PE of one section of `raw` bytes at 0x200, as small linkers lay one out.
    pub(crate) fn program(raw: &[u8]) -> Vec<u8> {
        let mut exe = vec![0; 0x200];
        exe[..2].copy_from_slice(MAGIC);
        exe[LFANEW_AT..LFANEW_AT + 4].copy_from_slice(&0x80u32.to_le_bytes());
        exe[0x80..0x84].copy_from_slice(b"PE\0\0");
        exe[0x86..0x88].copy_from_slice(&1u16.to_le_bytes());
        exe[0x94..0x96].copy_from_slice(&0xe0u16.to_le_bytes());
        let section = 0x80 + 24 + 0xe0;
        exe[section..section + 8].copy_from_slice(b".text\0\0\0");
        exe[section + RAW_SIZE_AT..section + RAW_SIZE_AT + 4]
            .copy_from_slice(&(raw.len() as u32).to_le_bytes());
        exe[section + RAW_AT..section + RAW_AT + 4].copy_from_slice(&0x200u32.to_le_bytes());
        exe.extend(raw);
        exe
    }

    #[test]
    fn a_program_is_carved_to_its_last_section() {
        let exe = program(&[0x90; 100]);
        assert_eq!(
            size(&[exe.as_slice(), b"overlay and more"].concat()),
            Some(0x200 + 100)
        );
        assert_eq!(size(&exe[..0x250]), Some(0x250), "cut short: what is there");
        assert_eq!(size(&exe[..0x100]), None, "no section table");
        assert_eq!(size(b"MZ and some text"), None);
        let mut far = exe.clone();
        far[LFANEW_AT..LFANEW_AT + 4].copy_from_slice(&0x2000u32.to_le_bytes());
        assert_eq!(size(&far), None);
    }

    #[test]
    fn a_program_inside_other_bytes_is_carved_and_scanned_alone() {
        use crate::inspect::tests::{labels, limits, look_with};
        use crate::object::ObjectRef;
        use crate::scan::{Engine, RuleSet};
        use crate::store::Budget;
        let mut compiler = yara_x::Compiler::new();
        for name in crate::scan::EXTERNALS {
            compiler.define_global(name, "").unwrap();
        }
        // What a hash rule does: a whole file, of this size, from its first byte.
        let rule = "rule small_program { condition: uint16(0) == 0x5a4d and filesize == 0x240 }";
        compiler.add_source(rule).unwrap();
        let engine = Engine::new(
            RuleSet::new(compiler.build(), "pe"),
            std::time::Duration::from_secs(5),
        );
        let unpacked = [
            program(&[0xcc; 0x300]).as_slice(),
            b"resources",
            &program(&[0x90; 0x40]),
            b"more after it",
        ]
        .concat();
        let object = ObjectRef::new("uploads", "unpacked.exe");
        let budget = Budget::memory(1 << 20);
        let found = look_with(&engine, &unpacked, &object, &limits(), &budget);
        assert_eq!(
            labels(&found),
            ["unpacked.exe>@1289.exe>program:small_program"],
            "{found:?}"
        );
        assert_eq!(found.incomplete, None);
    }
}
