//! yC's import protection undone. yC keeps its own list of the imported DLLs (name, IAT and
//! lookup table addresses, 12 bytes each, ended by an IAT of 0), points the import directory
//! at its stub's table, fills the original descriptors with junk and swaps the nibbles of
//! every DLL and function name (its loader swaps them back, `ror al, 4`, before
//! `LoadLibraryA` and `GetProcAddress`). We read the list where the stub's code takes it
//! from, swap the names back and write the descriptors again where the linker (or UPX) put
//! them: just before the first lookup table. Learnt from the sample's stub; yc.c does not.

use super::*;

/// Most DLLs, and imports in all, a list may hold before we call it damaged.
const MOST_DLLS: usize = 1024;
const MOST_THUNKS: usize = 1 << 16;
/// The longest name we look at.
const LONGEST_NAME: usize = 512;
const DESCRIPTOR: usize = 20;

/// One DLL in yC's list: its name's address, its IAT's, its lookup table's (0 for none).
struct Dll {
    name: u32,
    iat: u32,
    ilt: u32,
}

impl Dll {
    /// The table the loader reads names from: the lookup table, else the IAT.
    fn lookup(&self) -> u32 {
        if self.ilt != 0 { self.ilt } else { self.iat }
    }
}

/// Puts the imports back when yC's list is found and every name in it reads as a name (as
/// it is, or nibble-swapped); else leaves the file alone. True when the directory is back.
pub(super) fn restore(file: &mut [u8], pe: &Pe, stub: &Stub) -> bool {
    let Some(dlls) = list(file, stub) else {
        return false;
    };
    let map = Map(pe.sects.split_last().map_or(&[][..], |(_, others)| others));
    let Some(mut names) = names(file, &map, &dlls) else {
        return false;
    };
    // A name two thunks share is swapped once.
    names.sort_unstable();
    names.dedup();
    for (at, swapped) in names {
        if swapped {
            swap_name(file, at);
        }
    }
    descriptors(file, pe, &map, &dlls)
}

/// yC's list, from the stub's `add edx, list; lea esi, [edx]; push ebx; mov ebx, ebp;
/// add ebx, ...` that starts its import loop.
fn list(file: &[u8], stub: &Stub) -> Option<Vec<Dll>> {
    let code = stub.base.checked_add(STUB_CODE)?;
    let code = file.get(code..code.saturating_add(idx(stub.ecx)).min(file.len()))?;
    let takes = code.windows(12).find(|w| {
        w.starts_with(&[0x81, 0xc2]) && w.ends_with(&[0x8d, 0x32, 0x53, 0x8b, 0xdd, 0x81])
    })?;
    let mut at = stub.at(le32(takes, 2)?)?;
    let mut dlls = Vec::new();
    while dlls.len() < MOST_DLLS {
        let (name, iat, ilt) = (le32(file, at)?, le32(file, at + 4)?, le32(file, at + 8)?);
        if iat == 0 {
            return (!dlls.is_empty()).then_some(dlls);
        }
        dlls.push(Dll { name, iat, ilt });
        at += 12;
    }
    None
}

/// The file's sections (yC's left out), to find an address's bytes.
struct Map<'a>(&'a [Section]);

impl Map<'_> {
    /// Where `len` bytes at `rva` are in the file, when one section's data holds them all.
    fn span(&self, rva: u32, len: usize) -> Option<usize> {
        self.0.iter().find_map(|s| {
            let into = rva.checked_sub(s.rva)?;
            let end = idx(into).checked_add(len)?;
            (into < s.vsize.max(s.raw_size) && end <= idx(s.raw_size))
                .then(|| idx(s.raw) + idx(into))
        })
    }
}

/// Where every DLL and function name of the list is, and whether it is swapped; `None`
/// when one is neither a name nor a swapped one.
fn names(file: &[u8], map: &Map, dlls: &[Dll]) -> Option<Vec<(usize, bool)>> {
    let (mut names, mut thunks) = (Vec::new(), 0usize);
    for dll in dlls {
        names.push(name_at(file, map.span(dll.name, 1)?)?);
        let mut thunk = map.span(dll.lookup(), 4)?;
        loop {
            let value = le32(file, thunk)?;
            if value == 0 {
                break;
            }
            // An import by ordinal has no name.
            if value & 0x8000_0000 == 0 {
                names.push(name_at(file, map.span(value.checked_add(2)?, 1)?)?);
            }
            thunks += 1;
            if thunks > MOST_THUNKS {
                return None;
            }
            thunk += 4;
        }
    }
    Some(names)
}

/// The name at `at` and whether yC swapped it.
fn name_at(file: &[u8], at: usize) -> Option<(usize, bool)> {
    let tail = file.get(at..)?;
    let name = tail.get(..tail.iter().take(LONGEST_NAME).position(|&b| b == 0)?)?;
    let reads = |swap: bool| {
        let char = |&b: &u8| if swap { b.rotate_left(4) } else { b };
        !name.is_empty() && name.iter().map(char).all(|c| c.is_ascii_graphic())
    };
    if reads(false) {
        Some((at, false))
    } else {
        reads(true).then_some((at, true))
    }
}

fn swap_name(file: &mut [u8], at: usize) {
    let tail = file.get_mut(at..).unwrap_or_default();
    for b in tail.iter_mut().take(LONGEST_NAME).take_while(|b| **b != 0) {
        *b = b.rotate_left(4);
    }
}

/// The descriptors written again just before the first lookup table, when that place is in
/// a section and its last (the ending, empty) descriptor is all zero, as yC leaves it.
fn descriptors(file: &mut [u8], pe: &Pe, map: &Map, dlls: &[Dll]) -> bool {
    let size = DESCRIPTOR * (dlls.len() + 1);
    let first = dlls.iter().map(Dll::lookup).min().unwrap_or(0);
    let Some(rva) = first.checked_sub(size as u32) else {
        return false;
    };
    let Some(at) = map.span(rva, size) else {
        return false;
    };
    if file
        .get(at + size - DESCRIPTOR..at + size)
        .is_none_or(|end| end.iter().any(|&b| b != 0))
    {
        return false;
    }
    for (i, dll) in dlls.iter().enumerate() {
        let d = at + DESCRIPTOR * i;
        for (field, v) in [(0, dll.ilt), (4, 0), (8, 0), (12, dll.name), (16, dll.iat)] {
            put32(file, d + field, v);
        }
    }
    put32(file, pe.opt + 0x68, rva);
    put32(file, pe.opt + 0x6c, size as u32);
    true
}
