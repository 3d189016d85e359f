//! The packed PE: its header and sections, the image laid out at virtual addresses, and the
//! rebuilt file.

use super::*;

/// One row of the section table.
pub(super) struct Section {
    pub(super) vsize: u32,
    pub(super) vaddr: u32,
    pub(super) raw_size: u32,
    pub(super) raw_ptr: u32,
}

impl Section {
    /// Its size once loaded: the virtual size, or the raw size when that is larger.
    fn span(&self) -> usize {
        idx(self.vsize.max(self.raw_size))
    }
}

/// A 32-bit PE file.
pub(super) struct Pe<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pe_off: usize,
    /// Where the section table starts.
    pub(super) table: usize,
    pub(super) sects: Vec<Section>,
    pub(super) entry: u32,
}

impl<'a> Pe<'a> {
    pub(super) fn read(bytes: &'a [u8]) -> Option<Pe<'a>> {
        let pe_off = idx(le32(bytes, 0x3c)?);
        if !bytes.starts_with(b"MZ") || bytes.get(pe_off..pe_off.checked_add(4)?)? != b"PE\0\0" {
            return None;
        }
        if le16(bytes, pe_off + 0x18)? != 0x10b {
            return None;
        }
        let n = usize::from(le16(bytes, pe_off + 6)?);
        let table = pe_off + 0x18 + usize::from(le16(bytes, pe_off + 0x14)?);
        let row = |i: usize| {
            let row = bytes.get(table + 40 * i..table + 40 * i + 40)?;
            Some(Section {
                vsize: le32(row, 8)?,
                vaddr: le32(row, 12)?,
                raw_size: le32(row, 16)?,
                raw_ptr: le32(row, 20)?,
            })
        };
        let sects: Vec<Section> = (0..n).map_while(row).collect();
        let entry = le32(bytes, pe_off + 0x28)?;
        (n > 0 && sects.len() == n).then_some(Pe {
            bytes,
            pe_off,
            table,
            sects,
            entry,
        })
    }

    /// The file's bytes at `rva`, to the end of that section's data.
    fn at_rva(&self, rva: u32) -> Option<&'a [u8]> {
        let s = self
            .sects
            .iter()
            .find(|s| rva.wrapping_sub(s.vaddr) < s.raw_size)?;
        let start = idx(s.raw_ptr).checked_add(idx(rva.wrapping_sub(s.vaddr)))?;
        self.bytes.get(start..)
    }

    /// The version whose marks are at the entry point.
    pub(super) fn version(&self) -> Option<&'static Version> {
        let code = self.at_rva(self.entry)?;
        if !code.starts_with(ENTRY_CODE) {
            return None;
        }
        let at = |v: &Version| code.get(v.push_ret..v.push_ret + PUSH_RET.len());
        VERSIONS.iter().find(|v| at(v) == Some(PUSH_RET))
    }

    /// The file laid out at its virtual addresses: each section's data at its RVA.
    pub(super) fn image(&self, room: usize) -> Res<Vec<u8>> {
        let end = self
            .sects
            .iter()
            .map(|s| idx(s.vaddr).saturating_add(s.span()));
        let size = end.max().unwrap_or(0);
        if size > room {
            return broken(format!("the image of {size} bytes is past the cap"));
        }
        let mut image = vec![0; size];
        for s in &self.sects {
            let from = idx(s.raw_ptr);
            let data = self.bytes.get(from..from.saturating_add(idx(s.raw_size)));
            let data = data.or_else(|| self.bytes.get(from..)).unwrap_or_default();
            let at = idx(s.vaddr);
            if let Some(to) = image.get_mut(at..at.saturating_add(data.len())) {
                to.copy_from_slice(data);
            }
        }
        Ok(image)
    }

    /// The sections kept: all but ASPack's two (its stub's, where the entry point is, and the
    /// empty last one) when they are last.
    fn kept(&self) -> &[Section] {
        let n = self.sects.len();
        let stub = self.entry.wrapping_sub(1);
        match self.sects.get(n.saturating_sub(2)..) {
            Some([a, b]) if n > 2 && a.vaddr == stub && b.raw_size == 0 => {
                self.sects.get(..n - 2).unwrap_or_default()
            }
            _ => &self.sects,
        }
    }

    /// The bytes after the last section's data.
    fn overlay(&self) -> &'a [u8] {
        let end = self.sects.iter().map(|s| {
            let end = idx(s.raw_ptr).saturating_add(idx(s.raw_size));
            if s.raw_size == 0 { 0 } else { end }
        });
        self.bytes.get(end.max().unwrap_or(0)..).unwrap_or_default()
    }

    fn file_align(&self) -> usize {
        let align = idx(le32(self.bytes, self.pe_off + 0x3c).unwrap_or(0));
        if align.is_power_of_two() && (0x200..=0x10000).contains(&align) {
            align
        } else {
            0x200
        }
    }

    /// The PE rebuilt: the packed file's headers with the kept sections, each section's data
    /// at its virtual size, the original entry point and imports, data directories that
    /// pointed into ASPack's sections cleared, then the overlay. None past `room`.
    pub(super) fn rebuild(
        &self,
        image: &[u8],
        entry: Option<u32>,
        imports: Option<(u32, u32)>,
        room: usize,
    ) -> Option<Vec<u8>> {
        let (kept, align) = (self.kept(), self.file_align());
        let head = align_up(self.table + 40 * kept.len(), align);
        let sizes: Vec<usize> = kept.iter().map(|s| align_up(s.span(), align)).collect();
        let overlay = self.overlay();
        let total = sizes
            .iter()
            .try_fold(head + overlay.len(), |t, s| t.checked_add(*s))?;
        if total > room {
            return None;
        }
        let mut file = Vec::with_capacity(total);
        file.extend_from_slice(self.bytes.get(..self.table)?);
        let mut raw = head;
        for (i, size) in sizes.iter().enumerate() {
            let mut row = self
                .bytes
                .get(self.table + 40 * i..self.table + 40 * i + 40)?
                .to_vec();
            put32(&mut row, 16, *size as u32);
            put32(&mut row, 20, raw as u32);
            file.extend_from_slice(&row);
            raw += size;
        }
        file.resize(head, 0);
        for (s, size) in kept.iter().zip(&sizes) {
            let at = idx(s.vaddr);
            let data = image.get(at..at.saturating_add(*size).min(image.len()));
            let data = data.unwrap_or_default();
            file.extend_from_slice(data);
            file.resize(file.len() + size - data.len(), 0);
        }
        file.extend_from_slice(overlay);
        self.fix_header(&mut file, kept, head, entry, imports);
        Some(file)
    }

    /// Section count, entry point, header size, no checksum, and the data directories.
    fn fix_header(
        &self,
        file: &mut [u8],
        kept: &[Section],
        head: usize,
        entry: Option<u32>,
        imports: Option<(u32, u32)>,
    ) {
        let pe = self.pe_off;
        let end = kept.iter().map(|s| idx(s.vaddr).saturating_add(s.span()));
        let end = end.max().unwrap_or(0);
        if let Some(count) = file.get_mut(pe + 6..pe + 8) {
            count.copy_from_slice(&(kept.len() as u16).to_le_bytes());
        }
        if let Some(entry) = entry.filter(|&e| idx(e) < end) {
            put32(file, pe + 0x28, entry);
        }
        put32(file, pe + 0x54, head as u32);
        put32(file, pe + 0x58, 0);
        // Only directories the optional header has room for (the section table follows).
        let room = self.table.saturating_sub(pe + 0x78) / 8;
        let dirs = idx(le32(file, pe + 0x74).unwrap_or(0)).min(16).min(room);
        for d in 0..dirs {
            let at = pe + 0x78 + 8 * d;
            let rva = idx(le32(file, at).unwrap_or(0));
            // Bound imports and the IAT are ASPack's; the rest in its sections are gone.
            if rva >= end || d == 11 || d == 12 {
                put32(file, at, 0);
                put32(file, at + 4, 0);
            }
        }
        if let Some((rva, size)) = imports.filter(|_| dirs > 1) {
            put32(file, pe + 0x80, rva);
            put32(file, pe + 0x84, size);
        }
    }
}
