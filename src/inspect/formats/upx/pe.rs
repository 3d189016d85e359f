//! A UPX-packed PE: its sections, where the packed image is, and the image decoded.

use super::*;

/// A PE header (`PE\0\0` on): the packed file's, or the original UPX stored.
pub(super) struct Header<'a>(pub(super) &'a [u8]);

pub(super) const DIR_EXPORT: usize = 0;
pub(super) const DIR_IMPORT: usize = 1;
pub(super) const DIR_RESOURCE: usize = 2;
pub(super) const DIR_BASERELOC: usize = 5;
pub(super) const RELOCS_STRIPPED: u16 = 1;

impl Header<'_> {
    pub(super) fn is64(&self) -> bool {
        le16(self.0, 0x18) == Some(0x20b)
    }
    /// UPX's `sizeof(pe_header_t)`: the headers with all 16 data directories.
    pub(super) fn size(&self) -> usize {
        if self.is64() { 0x108 } else { 0xf8 }
    }
    pub(super) fn objects(&self) -> usize {
        usize::from(le16(self.0, 6).unwrap_or(0))
    }
    pub(super) fn flags(&self) -> u16 {
        le16(self.0, 0x16).unwrap_or(0)
    }
    pub(super) fn dir_at(&self, i: usize) -> usize {
        if self.is64() {
            0x88 + 8 * i
        } else {
            0x78 + 8 * i
        }
    }
    pub(super) fn dir(&self, i: usize) -> (u32, u32) {
        let at = self.dir_at(i);
        (
            le32(self.0, at).unwrap_or(0),
            le32(self.0, at + 4).unwrap_or(0),
        )
    }
    pub(super) fn imagebase(&self) -> u64 {
        let base = if self.is64() {
            le64(self.0, 0x30)
        } else {
            le32(self.0, 0x34).map(u64::from)
        };
        base.unwrap_or(0)
    }
    pub(super) fn file_align(&self) -> u32 {
        le32(self.0, 0x3c).unwrap_or(0)
    }
}

/// One row of a section table.
pub(super) struct Section {
    pub(super) vaddr: u32,
    pub(super) raw_size: u32,
    pub(super) raw_ptr: u32,
}

pub(super) fn sections(table: &[u8], n: usize) -> Vec<Section> {
    let row = |i: usize| {
        let row = table.get(i * 40..i * 40 + 40)?;
        Some(Section {
            vaddr: le32(row, 12)?,
            raw_size: le32(row, 16)?,
            raw_ptr: le32(row, 20)?,
        })
    };
    (0..n).map_while(row).collect()
}

/// The packed file: its bytes, where its PE header is, and its sections.
pub(super) struct Pe<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pe_off: usize,
    pub(super) sects: Vec<Section>,
}

impl<'a> Pe<'a> {
    pub(super) fn read(bytes: &'a [u8]) -> Option<Pe<'a>> {
        let pe_off = idx(le32(bytes, 0x3c)?);
        if !bytes.starts_with(b"MZ") || bytes.get(pe_off..pe_off.checked_add(4)?)? != b"PE\0\0" {
            return None;
        }
        let n = usize::from(le16(bytes, pe_off + 6)?);
        let table = pe_off + 0x18 + usize::from(le16(bytes, pe_off + 0x14)?);
        let sects = sections(bytes.get(table..)?, n);
        (sects.len() >= 2 && sects.len() == n).then_some(Pe {
            bytes,
            pe_off,
            sects,
        })
    }

    pub(super) fn header(&self) -> Header<'a> {
        Header(self.bytes.get(self.pe_off..).unwrap_or_default())
    }

    /// UPX puts the packheader in the 1 KiB from 64 bytes before the second section's data;
    /// old versions at the third section's; else look in the first 4 KiB.
    pub(super) fn packheader(&self) -> Option<PackHeader> {
        let at = |i: usize| self.sects.get(i).map(|s| idx(s.raw_ptr));
        let ph = at(1)
            .and_then(|p| find_packheader(self.bytes, p.saturating_sub(64), 1024))
            .or_else(|| at(2).and_then(|p| find_packheader(self.bytes, p, 1024)))
            .or_else(|| find_packheader(self.bytes, 0, 4096))?;
        // Windows PE formats: i386, WinCE ARM, AMD64, ARM64, ARM64EC.
        matches!(ph.format, 9 | 21 | 36 | 43 | 44).then_some(ph)
    }

    /// The packed file's bytes at `rva`, to the end of that section's data.
    pub(super) fn at_rva(&self, rva: u32) -> Option<&'a [u8]> {
        let s = self
            .sects
            .iter()
            .find(|s| rva.wrapping_sub(s.vaddr) < s.raw_size)?;
        let (start, size) = (idx(s.raw_ptr), idx(s.raw_size));
        let end = start.saturating_add(size).min(self.bytes.len());
        self.bytes
            .get(start.checked_add(idx(rva.wrapping_sub(s.vaddr)))?..end)
    }

    /// The bytes after the last section's (aligned) data, which UPX copies back.
    pub(super) fn overlay(&self) -> &'a [u8] {
        let last = self
            .sects
            .last()
            .map_or(0, |s| u64::from(s.raw_ptr) + u64::from(s.raw_size));
        let end = align_up(last, u64::from(self.header().file_align()));
        self.bytes.get(idx(end)..).unwrap_or_default()
    }
}

pub(super) fn unpack_pe(ph: &PackHeader, pe: &Pe, out: &mut Unpacked) {
    const RAW: &str = "unpacked";
    let from = ph.at + PACKHEADER;
    let end = from.saturating_add(idx(ph.c_len)).min(pe.bytes.len());
    let packed = pe.bytes.get(from..end).unwrap_or_default();
    if adler32(packed) != ph.c_adler {
        out.broken(Some(RAW.into()), "the packed data's checksum differs");
    }
    let u_len = idx(ph.u_len);
    if u_len > out.room() {
        out.broken(
            Some(RAW.into()),
            format!("the image of {u_len} bytes is past the cap"),
        );
    }
    let mut image = Vec::new();
    if let Err(fail) = decompress(ph.method, packed, u_len.min(out.room()), &mut image, out) {
        note(out, RAW, fail);
        if !image.is_empty() {
            out.file(RAW, image);
        }
        return;
    }
    if adler32(&image) != ph.u_adler {
        out.broken(Some(RAW.into()), "the unpacked image's checksum differs");
    }
    match Rebuild::new(pe, ph, &mut image).and_then(|rebuild| rebuild.run(out)) {
        Ok((name, file, unfiltered)) => {
            if let Some(fail) = unfiltered {
                note(out, name, fail);
            }
            out.file(name, file);
        }
        Err(fail) => {
            note(out, RAW, fail);
            out.file(RAW, image);
        }
    }
}
