//! InstallShield cabinets (`ISc(`, InstallShield 6 and later): `data1.hdr`'s file table and\n//! the `dataN.cab` volumes, each file stored or in deflate chunks, maybe obfuscated, maybe split.

use super::*;

/// A cabinet set: its header (`data1.hdr`, or a cabinet holding its own table) and volumes,
/// each with the name its files are given under.
#[derive(Default)]
pub(super) struct Cabinet<'a> {
    pub(super) header: Option<(String, &'a [u8])>,
    pub(super) volumes: Vec<(u16, String, &'a [u8])>,
}

impl<'a> Cabinet<'a> {
    /// Notes a file of a plain overlay that is part of the set (`data1.hdr`, `dataN.cab`).
    pub(super) fn add(&mut self, file: &str, name: &str, data: &'a [u8]) {
        let file = file.to_ascii_lowercase();
        if file == "data1.hdr" && self.header.is_none() {
            self.header = Some((name.to_owned(), data));
        }
        let number = file
            .strip_prefix("data")
            .and_then(|f| f.strip_suffix(".cab"));
        let number = number
            .and_then(|n| n.parse::<u16>().ok())
            .filter(|&n| n > 0);
        if let Some(n) = number.filter(|&n| self.volume(n).is_none()) {
            self.volumes.push((n, name.to_owned(), data));
        }
    }

    pub(super) fn volume(&self, number: u16) -> Option<(&str, &'a [u8])> {
        let found = self.volumes.iter().find(|v| v.0 == number);
        found.map(|(_, name, bytes)| (name.as_str(), *bytes))
    }

    /// The header: `data1.hdr`, else a first cabinet with its own table.
    pub(super) fn header(&self) -> Option<(&str, &'a [u8])> {
        let own = self.volume(1).filter(|(_, bytes)| table(bytes).is_some());
        self.header
            .as_ref()
            .map(|(name, bytes)| (name.as_str(), *bytes))
            .or(own)
    }
}

/// True when a cabinet holding its own file table starts at `bytes[0]` (a `.hdr` file, whose
/// volume fields are zero, is no use without its cabinets: those come in a plain overlay).
pub(super) fn cab_starts(bytes: &[u8]) -> bool {
    let mut volume_fields = (0x18..0x3c).step_by(4).filter_map(|at| u32_at(bytes, at));
    table(bytes).is_some() && volume_fields.any(|v| v != 0)
}

/// The files of a cabinet holding its own table (its other volumes are not here).
pub(super) fn cab_unpack(bytes: &[u8], measure: Measure) -> Unpacked {
    let mut u = Unpacked::new(measure);
    let cabinet = Cabinet {
        header: None,
        volumes: vec![(1, String::new(), bytes)],
    };
    if cabinet.header().is_some() {
        read_cabinet(&cabinet, &mut u);
    } else {
        u.broken(None, "no file table in the InstallShield cabinet");
    }
    u
}

/// Where a header's file table is: format version, the table's base (names are relative to
/// it), directory and file counts, and where the file descriptors start.
pub(super) struct Table {
    pub(super) major: u32,
    pub(super) base: usize,
    pub(super) dirs: u32,
    pub(super) files: u32,
    pub(super) descriptors: usize,
}

pub(super) fn table(header: &[u8]) -> Option<Table> {
    if !header.starts_with(CAB_MAGIC) || u32_at(header, 16)? == 0 {
        return None;
    }
    let version = u32_at(header, 4)?;
    let major = match version >> 24 {
        1 => (version >> 12) & 0xf,
        2 | 4 => (version & 0xffff) / 100,
        _ => 0,
    };
    // The cabinet descriptor: where the table is, the counts, where the descriptors are.
    let at = usize::try_from(u32_at(header, 12)?).ok()?;
    let cd = header.get(at..at.checked_add(0x30)?)?;
    let base = at.checked_add(usize::try_from(u32_at(cd, 0xc)?).ok()?)?;
    let after = usize::try_from(u32_at(cd, 0x2c)?).ok()?;
    let (dirs, files) = (u32_at(cd, 0x1c)?, u32_at(cd, 0x28)?);
    let descriptors = base.checked_add(after)?;
    Some(Table {
        major,
        base,
        dirs,
        files,
        descriptors,
    })
}

/// A file descriptor's fields that matter here.
pub(super) struct Descriptor {
    pub(super) flags: u16,
    pub(super) size: u64,
    pub(super) csize: u64,
    pub(super) offset: u64,
    pub(super) name: u32,
    pub(super) dir: u16,
    pub(super) link: u8,
    pub(super) volume: u16,
}

pub(super) fn descriptor(header: &[u8], t: &Table, index: u32) -> Option<Descriptor> {
    let at = t
        .descriptors
        .checked_add(usize::try_from(index).ok()?.checked_mul(DESCRIPTOR)?)?;
    let d = header.get(at..at.checked_add(DESCRIPTOR)?)?;
    Some(Descriptor {
        flags: u16_at(d, 0)?,
        size: u64_at(d, 2)?,
        csize: u64_at(d, 10)?,
        offset: u64_at(d, 18)?,
        name: u32_at(d, 0x3a)?,
        dir: u16_at(d, 0x3e)?,
        link: *d.get(0x54)?,
        volume: u16_at(d, 0x55)?,
    })
}

/// Every file of the set whose data is in its volumes.
pub(super) fn read_cabinet(c: &Cabinet, u: &mut Unpacked) {
    let Some((header_name, header)) = c.header() else {
        return;
    };
    let Some(t) = table(header) else {
        u.broken(
            Some(header_name.to_owned()),
            "no file table in the cabinet header",
        );
        return;
    };
    if t.major < 6 {
        u.unsupported(header_name.to_owned(), "InstallShield 5 cabinet layout");
        return;
    }
    // A descriptor past the header's end ends the loop, whatever the count says.
    for index in 0..t.files {
        if !u.in_time() {
            u.late(None);
            return;
        }
        let Some(d) = descriptor(header, &t, index) else {
            u.broken(Some(header_name.to_owned()), "the file table is cut short");
            return;
        };
        // Invalid, outside the cabinets (data offset 0), empty, or a repeat of an earlier file.
        let skip = d.flags & INVALID != 0 || d.offset == 0 || d.size == 0;
        if skip || d.link & LINK_PREVIOUS != 0 {
            continue;
        }
        let path = file_path(header, &t, &d);
        let name = c
            .volume(d.volume)
            .map_or(path.clone(), |(v, _)| path_name(v, &path));
        if !read_cabinet_file(c, &d, index, name, u) {
            return;
        }
    }
}

/// The file's directory and name from the table (UTF-16 from version 17).
pub(super) fn file_path(header: &[u8], t: &Table, d: &Descriptor) -> String {
    let name = table_string(header, t, d.name);
    let dir_at = t.base.saturating_add(4 * usize::from(d.dir));
    let dir = match u32_at(header, dir_at) {
        Some(at) if u32::from(d.dir) < t.dirs => table_string(header, t, at),
        _ => String::new(),
    };
    path_name(&dir, &name)
}

pub(super) fn table_string(header: &[u8], t: &Table, offset: u32) -> String {
    let at = t
        .base
        .saturating_add(usize::try_from(offset).unwrap_or(usize::MAX));
    let window = header.get(at..).unwrap_or_default();
    if t.major >= 17 {
        utf16(
            window
                .get(..window.len().min(4 * NAME_MAX))
                .unwrap_or_default(),
        )
    } else {
        String::from_utf8_lossy(cstr(header, at, 4 * NAME_MAX).unwrap_or_default()).into_owned()
    }
}

/// Reads one file out of its volumes, deobfuscates and inflates it, keeps it. False when
/// decoding must stop (cap, deadline).
pub(super) fn read_cabinet_file(
    c: &Cabinet,
    d: &Descriptor,
    index: u32,
    name: String,
    u: &mut Unpacked,
) -> bool {
    let raw = match gather(c, d, index) {
        Ok(raw) => raw,
        Err(why) => return finish(u, name, Vec::new(), Err(Fail::Broken(why))),
    };
    let raw = match d.flags & OBFUSCATED {
        0 => raw,
        _ => match deobfuscate(&raw, u) {
            Ok(plain) => Cow::Owned(plain),
            Err(fail) => return finish(u, name, Vec::new(), Err(fail)),
        },
    };
    if d.flags & COMPRESSED == 0 {
        return keep(u, name, &raw);
    }
    let mut out = Vec::new();
    let result = inflate_chunks(&raw, &mut out, u).and_then(|()| match out.len() as u64 {
        n if n == d.size || n > u.room() as u64 => Ok(()),
        n => Err(Fail::Broken(format!(
            "{n} bytes where the table says {}",
            d.size
        ))),
    });
    finish(u, name, out, result)
}

/// The file's stored bytes: at its offset in its volume, or for a split file the pieces each
/// volume's header names, from its first volume on.
pub(super) fn gather<'a>(
    c: &Cabinet<'a>,
    d: &Descriptor,
    index: u32,
) -> Result<Cow<'a, [u8]>, String> {
    let want = if d.flags & COMPRESSED != 0 {
        d.csize
    } else {
        d.size
    };
    let missing = |n: u16| format!("its data is in cabinet volume {n}, which is not here");
    let past_end = || "its data runs past the end of its cabinet".to_owned();
    if d.flags & SPLIT == 0 {
        let (_, volume) = c.volume(d.volume).ok_or_else(|| missing(d.volume))?;
        return sub(volume, d.offset, want)
            .map(Cow::Borrowed)
            .ok_or_else(past_end);
    }
    let mut out = Vec::new();
    let mut number = d.volume;
    // Each turn takes a piece from the next volume, or fails: at most one turn per volume.
    while (out.len() as u64) < want {
        let (_, volume) = c.volume(number).ok_or_else(|| missing(number))?;
        let (at, len) = piece(volume, index, d.flags & COMPRESSED != 0)
            .filter(|&(_, len)| len > 0)
            .ok_or("a volume's header does not place a piece of this split file")?;
        let len = len.min(want - out.len() as u64);
        out.extend_from_slice(sub(volume, at, len).ok_or_else(past_end)?);
        number = number.checked_add(1).ok_or_else(past_end)?;
    }
    Ok(Cow::Owned(out))
}

/// Where a volume holds a piece of split file `index`: as its last file, or its first.
pub(super) fn piece(volume: &[u8], index: u32, compressed: bool) -> Option<(u64, u64)> {
    let size = |at: usize| u64_at(volume, if compressed { at + 8 } else { at });
    let last_at = u64_at(volume, 0x3c)?;
    if index == u32_at(volume, 0x20)? && last_at != 0x7fff_ffff {
        return Some((last_at, size(0x44)?));
    }
    (index == u32_at(volume, 0x1c)?).then_some((u64_at(volume, 0x24)?, size(0x2c)?))
}

/// Undoes the cabinets' obfuscation: XOR 0xd5, rotate right 2, minus the position mod 0x47.
pub(super) fn deobfuscate(data: &[u8], u: &Unpacked) -> Result<Vec<u8>, Fail> {
    let mut out = Vec::with_capacity(data.len());
    for (n, block) in data.chunks(BLOCK).enumerate() {
        if !u.in_time() {
            return Err(Fail::Late);
        }
        out.extend(block.iter().enumerate().map(|(i, &b)| {
            let shift = ((n * BLOCK + i) % 0x47) as u8;
            (b ^ 0xd5).rotate_right(2).wrapping_sub(shift)
        }));
    }
    Ok(out)
}

/// Compressed cabinet data: chunks of a 16-bit length and raw deflate data, each inflated
/// on its own.
pub(super) fn inflate_chunks(raw: &[u8], out: &mut Vec<u8>, u: &Unpacked) -> Result<(), Fail> {
    let limit = u.room().saturating_add(1);
    let mut inflater = Inflater::new(false);
    let mut at = 0;
    // Each turn takes at least the two length bytes.
    while at < raw.len() && out.len() < limit {
        let len =
            usize::from(u16_at(raw, at).ok_or_else(|| broken("a chunk length is cut short"))?);
        let chunk = raw
            .get(at + 2..at + 2 + len)
            .ok_or_else(|| broken("a chunk runs past the file's data"))?;
        if !chunk.is_empty() {
            inflater.run(chunk, out, limit, u)?;
        }
        at += 2 + len;
    }
    Ok(())
}
