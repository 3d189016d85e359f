//! The original PE rebuilt from the unpacked image, as `upx -d` writes it: header and section
//! table, imports, relocations, exports and resources.

use super::*;

/// An import as UPX keeps it for its loader: by name, by ordinal, or a thunk the packed
/// file's own import table holds (kernel32 ordinals).
pub(super) enum Import {
    Name(Vec<u8>),
    Ordinal(u16),
    Thunk(u64),
}

pub(super) struct Dll {
    pub(super) name: Vec<u8>,
    pub(super) iat: u32,
    pub(super) imports: Vec<Import>,
}

/// `upx -d`: the original header and sections (stored after the image, found through the
/// image's last word), with imports, relocations, exports and resources put back.
pub(super) struct Rebuild<'a> {
    pub(super) pe: &'a Pe<'a>,
    pub(super) ph: &'a PackHeader,
    pub(super) image: &'a mut Vec<u8>,
    pub(super) oh: Vec<u8>,
    pub(super) osects: Vec<u8>,
    pub(super) rvamin: u32,
    /// Where the next piece of UPX's extra information is read in the image.
    pub(super) extra: usize,
}

impl<'a> Rebuild<'a> {
    pub(super) fn new(pe: &'a Pe, ph: &'a PackHeader, image: &'a mut Vec<u8>) -> Res<Rebuild<'a>> {
        let missing = || bad("stored PE header");
        let skip = idx(le32(image, image.len().wrapping_sub(4)).ok_or_else(missing)?);
        let stored = image.get(skip..).ok_or_else(missing)?;
        let size = Header(stored).size();
        let oh = stored
            .get(..size)
            .filter(|h| h.starts_with(b"PE\0\0"))
            .ok_or_else(missing)?;
        let objs = Header(oh).objects();
        let osects = stored.get(size..size + 40 * objs).filter(|_| objs > 0);
        let (oh, osects) = (oh.to_vec(), osects.ok_or_else(missing)?.to_vec());
        let rvamin = le32(&osects, 12).unwrap_or(0);
        let extra = skip + size + 40 * objs;
        Ok(Rebuild {
            pe,
            ph,
            image,
            oh,
            osects,
            rvamin,
            extra,
        })
    }

    /// The file and its name; with a filter not undone, the file and that problem.
    pub(super) fn run(mut self, out: &Unpacked) -> Res<(&'static str, Vec<u8>, Option<Fail>)> {
        let unfiltered = match self.unfilter(out) {
            Ok(()) => None,
            Err(Fail::Unsupported(why)) => Some(Fail::Unsupported(why)),
            Err(fail) => return Err(fail),
        };
        if self.pe.header().flags() & RELOCS_STRIPPED != 0 {
            let flags = Header(&self.oh).flags() | RELOCS_STRIPPED;
            self.set(0x16, &flags.to_le_bytes());
            self.set(Header(&self.oh).dir_at(DIR_BASERELOC), &[0; 8]);
        }
        self.imports()?;
        self.relocs(out)?;
        self.exports()?;
        self.resources()?;
        self.finish_header();
        let dll = Header(&self.oh).flags() & 0x2000 != 0;
        let name = if dll { "unpacked.dll" } else { "unpacked.exe" };
        Ok((name, self.write(out.room())?, unfiltered))
    }

    pub(super) fn set(&mut self, at: usize, v: &[u8]) {
        let _ = put(&mut self.oh, at, v);
    }
    pub(super) fn put(&mut self, at: usize, v: &[u8]) -> Res<()> {
        put(self.image, at, v).ok_or_else(|| bad("table address"))
    }
    pub(super) fn is64(&self) -> bool {
        Header(&self.oh).is64()
    }
    /// Where `rva` is in the image.
    pub(super) fn at(&self, rva: u32) -> Res<usize> {
        rva.checked_sub(self.rvamin)
            .map(idx)
            .ok_or_else(|| bad("table address"))
    }
    pub(super) fn rva(&self, at: usize) -> u32 {
        u32::try_from(at)
            .unwrap_or(u32::MAX)
            .wrapping_add(self.rvamin)
    }
    /// The next `n` (1, 2 or 4) bytes of extra information.
    pub(super) fn take(&mut self, n: usize) -> Res<u32> {
        let at = self.extra;
        self.extra += n;
        let v = match n {
            1 => self.image.get(at).map(|&b| u32::from(b)),
            2 => le16(self.image, at).map(u32::from),
            _ => le32(self.image, at),
        };
        v.ok_or_else(|| bad("extra information"))
    }
    pub(super) fn thunk_at(&self, at: usize) -> Option<u64> {
        if self.is64() {
            le64(self.image, at)
        } else {
            le32(self.image, at).map(u64::from)
        }
    }
    pub(super) fn put_thunk(&mut self, at: usize, v: u64) -> Res<()> {
        if self.is64() {
            self.put(at, &v.to_le_bytes())
        } else {
            self.put(at, &(v as u32).to_le_bytes())
        }
    }

    /// The code section, filtered with the code base as `addvalue`.
    pub(super) fn unfilter(&mut self, out: &Unpacked) -> Res<()> {
        if self.ph.filter == 0 {
            return Ok(());
        }
        let base = self.at(le32(&self.oh, 0x2c).unwrap_or(0))?;
        let size = idx(le32(&self.oh, 0x1c).unwrap_or(0));
        let Some(code) = self.image.get_mut(base..base.saturating_add(size)) else {
            return broken("the filtered code lies outside the image");
        };
        let add = u32::try_from(base).unwrap_or(0);
        unfilter(code, self.ph.filter, self.ph.cto, add, out)
    }

    /// Import descriptors, DLL names, hint/names and IATs, from UPX's list for its loader:
    /// names go where the unpacker puts them (after the DLL names, at even addresses; hints
    /// stay 0), or, when UPX left the names in place, back there.
    pub(super) fn imports(&mut self) -> Res<()> {
        let (addr, size) = Header(&self.oh).dir(DIR_IMPORT);
        if addr == 0 || size <= 20 {
            return Ok(());
        }
        let list = idx(self.take(4)?);
        let names_at = self.take(4)?;
        let dlls = self.import_list(list)?;
        let mut desc = self.at(addr)?;
        let mut dll_names = if names_at != 0 { self.at(names_at)? } else { 0 };
        let dll_size = dlls.iter().map(|d| d.name.len() + 1).sum::<usize>();
        let names_start = dll_names + dll_size + dll_size % 2;
        let mut names = names_start;
        for dll in &dlls {
            let name = [&dll.name[..], &[0]].concat();
            if names_at != 0 {
                self.put(dll_names, &name)?;
                self.put(desc + 12, &self.rva(dll_names).to_le_bytes())?;
                dll_names += name.len();
            } else {
                let to = self.at(le32(self.image, desc + 12).unwrap_or(0))?;
                self.put(to, &name)?;
            }
            let iat = dll.iat.wrapping_add(self.rvamin);
            self.put(desc + 16, &iat.to_le_bytes())?;
            if self.ph.format == 21 {
                self.put(desc, &iat.to_le_bytes())?; // WinCE: OriginalFirstThunk too
            }
            let mut thunk = self.at(iat)?;
            for import in &dll.imports {
                let value = match import {
                    Import::Ordinal(o) => {
                        u64::from(*o) | if self.is64() { 1 << 63 } else { 1 << 31 }
                    }
                    Import::Thunk(t) => *t,
                    Import::Name(n) if names_at != 0 => {
                        names -= (names - names_start) % 2;
                        self.put(names + 2, &[&n[..], &[0]].concat())?;
                        let rva = self.rva(names);
                        names += n.len() + 3;
                        u64::from(rva)
                    }
                    Import::Name(n) => {
                        let old = self.thunk_at(thunk).ok_or_else(|| bad("import table"))?;
                        let to = self.at(u32::try_from(old).unwrap_or(u32::MAX))?;
                        self.put(to + 2, &[&n[..], &[0]].concat())?;
                        old
                    }
                };
                self.put_thunk(thunk, value)?;
                thunk += if self.is64() { 8 } else { 4 };
            }
            self.put_thunk(thunk, 0)?;
            desc += 20;
        }
        Ok(())
    }

    /// UPX's list: per DLL its name's offset (in the packed file's import area), its IAT,
    /// then entries (1 and a name, 0xff and an ordinal, else a thunk's offset) and a 0.
    pub(super) fn import_list(&self, mut p: usize) -> Res<Vec<Dll>> {
        let image: &[u8] = self.image;
        let base = self.pe.header().dir(DIR_IMPORT).0;
        let mut dlls = Vec::new();
        loop {
            let name_off = le32(image, p).ok_or_else(|| bad("import list"))?;
            if name_off == 0 {
                return Ok(dlls);
            }
            let name = self.pe.at_rva(base.wrapping_add(name_off)).and_then(cstr);
            let name = name.ok_or_else(|| bad("DLL name"))?.to_vec();
            let iat = le32(image, p + 4).ok_or_else(|| bad("import list"))?;
            p += 8;
            let mut imports = Vec::new();
            loop {
                let (import, len) = match image.get(p).copied() {
                    Some(0) => break,
                    Some(1) => {
                        let n = image.get(p + 1..).and_then(cstr);
                        let n = n.ok_or_else(|| bad("import list"))?;
                        (Some(Import::Name(n.to_vec())), n.len() + 2)
                    }
                    Some(0xff) => (le16(image, p + 1).map(Import::Ordinal), 3),
                    Some(_) => {
                        let at = le32(image, p + 1).map(|off| base.wrapping_add(off));
                        let at = at.and_then(|rva| self.pe.at_rva(rva)).unwrap_or_default();
                        let t = if self.is64() {
                            le64(at, 0)
                        } else {
                            le32(at, 0).map(u64::from)
                        };
                        (t.map(Import::Thunk), 5)
                    }
                    None => (None, 0),
                };
                imports.push(import.ok_or_else(|| bad("import list"))?);
                p += len;
            }
            p += 1;
            dlls.push(Dll { name, iat, imports });
        }
    }

    /// Relocations: UPX keeps their positions delta-coded and the targets byte-swapped and
    /// less the image base; put the targets back and rebuild the `.reloc` blocks.
    pub(super) fn relocs(&mut self, out: &Unpacked) -> Res<()> {
        let (addr, size) = Header(&self.oh).dir(DIR_BASERELOC);
        if addr == 0 || size == 0 || Header(&self.oh).flags() & RELOCS_STRIPPED != 0 {
            return Ok(());
        }
        let table_at = self.at(addr)?;
        if size == 8 {
            return self.put(table_at, &[0, 0, 0, 0, 8, 0, 0, 0]);
        }
        let start = idx(self.take(4)?);
        let big = self.take(1)?;
        let width = if self.is64() { 8 } else { 4 };
        let (positions, mut p) = reloc_positions(self.image, start, width, out)?;
        let mut entries = Vec::new();
        if big & 6 != 0 {
            // 16-bit ones: a zero-ended list of LOW (or HIGH) ones, maybe a list of HIGH ones.
            let mut ty = if big & 4 != 0 { 2 } else { 1 };
            for _ in 0..1 + usize::from(big & 6 == 6) {
                while let Some(v) = le32(self.image, p).filter(|&v| v != 0) {
                    entries.push((v.wrapping_add(self.rvamin), ty));
                    p += 4;
                }
                (p, ty) = (p + 4, 1);
            }
        }
        let delta = Header(&self.oh)
            .imagebase()
            .wrapping_add(u64::from(self.rvamin));
        for &pc in &positions {
            let at = idx(pc);
            if self.is64() {
                let v = u64::from_be_bytes(array(self.image, at).unwrap_or_default());
                self.put(at, &v.wrapping_add(delta).to_le_bytes())?;
            } else {
                let v = be32(self.image, at).unwrap_or(0).wrapping_add(delta as u32);
                self.put(at, &v.to_le_bytes())?;
            }
            entries.push((
                pc.wrapping_add(self.rvamin),
                if self.is64() { 10 } else { 3 },
            ));
        }
        let table = reloc_table(entries);
        self.put(table_at, &table)?;
        let at = Header(&self.oh).dir_at(DIR_BASERELOC) + 4;
        self.set(at, &u32::try_from(table.len()).unwrap_or(0).to_le_bytes());
        Ok(())
    }

    /// A DLL's exports: UPX moved the directory into the packed file's last sections, laid
    /// out as its unpacker builds it, so copy it and move its addresses back.
    pub(super) fn exports(&mut self) -> Res<()> {
        let (to, size) = Header(&self.oh).dir(DIR_EXPORT);
        let (from, from_size) = self.pe.header().dir(DIR_EXPORT);
        if size == 0 || to == from {
            return Ok(());
        }
        let dir = self.pe.at_rva(from).and_then(|d| d.get(..idx(from_size)));
        let mut dir = dir.ok_or_else(|| bad("export directory"))?.to_vec();
        let field = |d: &[u8], at| le32(d, at).ok_or_else(|| bad("export directory"));
        let (functions, names) = (idx(field(&dir, 0x14)?), idx(field(&dir, 0x18)?));
        if functions.max(names) > dir.len() / 4 {
            return Err(bad("export directory"));
        }
        let fn_table = idx(field(&dir, 0x1c)?.wrapping_sub(from));
        let name_table = idx(field(&dir, 0x20)?.wrapping_sub(from));
        let mut moved = vec![0x0c, 0x1c, 0x20, 0x24];
        // Name pointers all point inside; function pointers only when forwarders.
        moved.extend((0..names).map(|i| name_table.saturating_add(4 * i)));
        for i in 0..functions {
            let at = fn_table.saturating_add(4 * i);
            if field(&dir, at)?.wrapping_sub(from) < from_size {
                moved.push(at);
            }
        }
        for at in moved {
            let v = field(&dir, at)?.wrapping_add(to.wrapping_sub(from));
            put(&mut dir, at, &v.to_le_bytes());
        }
        let at = self.at(to)?;
        self.put(at, &dir)
    }

    /// Resources UPX left uncompressed (icons, manifest, version) go back where they were
    /// (the 4 bytes before each say where), and the directory too when UPX zeroed it.
    pub(super) fn resources(&mut self) -> Res<()> {
        let (to, size) = Header(&self.oh).dir(DIR_RESOURCE);
        let (from, from_size) = self.pe.header().dir(DIR_RESOURCE);
        if size == 0 || from_size == 0 {
            return Ok(());
        }
        let mut icons = self.take(2)?;
        let dir = self
            .pe
            .at_rva(from)
            .ok_or_else(|| bad("resource directory"))?;
        let mut walk = ResWalk {
            dir,
            dsize: 0,
            ssize: 0,
            leaves: Vec::new(),
            budget: 1 << 20,
        };
        walk.node(0, 0, 0)?;
        let dir_size = idx(align_up((walk.dsize + walk.ssize) as u64, 4));
        let copy = dir.get(..dir_size).ok_or_else(|| bad("resource directory"));
        let mut copy = copy?.to_vec();
        for &(leaf, ty) in &walk.leaves {
            let (rva, len) = (
                le32(&copy, leaf).unwrap_or(0),
                le32(&copy, leaf + 4).unwrap_or(0),
            );
            if rva <= from {
                continue;
            }
            let orig = self.pe.at_rva(rva.wrapping_sub(4)).and_then(|d| le32(d, 0));
            let orig = orig.ok_or_else(|| bad("resource"))?;
            let len = idx(align_up(u64::from(len), 4));
            let data = self.pe.at_rva(rva).and_then(|d| d.get(..len));
            let at = self.at(orig)?;
            self.put(at, data.ok_or_else(|| bad("resource"))?)?;
            put(&mut copy, leaf, &orig.to_le_bytes());
            if icons != 0 && ty == 14 {
                // UPX kept one icon of the first group uncompressed and said so in its count.
                self.put(at + 4, &(icons as u16).to_le_bytes())?;
                icons = 0;
            }
        }
        let root = self.at(to)?;
        if le32(self.image, root + 12) == Some(0) {
            self.put(root, &copy)?;
        }
        Ok(())
    }

    /// What `upx -d` changes in the header: no debug, IAT or bound-import directory, the
    /// header size recomputed, the checksum 0.
    pub(super) fn finish_header(&mut self) {
        for dir in [6, 11, 12] {
            self.set(Header(&self.oh).dir_at(dir), &[0; 8]);
        }
        let len = (self.pe.pe_off + self.oh.len() + self.osects.len()) as u64;
        let size = align_up(len, u64::from(Header(&self.oh).file_align()));
        self.set(0x54, &u32::try_from(size).unwrap_or(0).to_le_bytes());
        self.set(0x58, &[0; 4]);
    }

    /// The file: the packed file's DOS stub, the header, the section table, each section's
    /// data (from its place in the image) one after another, then the overlay.
    pub(super) fn write(&self, room: usize) -> Res<Vec<u8>> {
        let align = u64::from(Header(&self.oh).file_align());
        if !align.is_power_of_two() {
            return broken("the stored PE header has a bad file alignment");
        }
        let sects = sections(&self.osects, self.osects.len() / 40);
        let head = self.pe.pe_off + self.oh.len() + self.osects.len();
        let first = sects
            .iter()
            .find(|s| s.raw_ptr != 0)
            .map_or(head, |s| idx(s.raw_ptr));
        let with_data = || sects.iter().filter(|s| s.raw_ptr != 0);
        let overlay = self.pe.overlay();
        let total = with_data()
            .map(|s| align_up(u64::from(s.raw_size), align))
            .sum::<u64>()
            + first.max(head) as u64
            + overlay.len() as u64;
        if total > room as u64 {
            return broken(format!("the rebuilt file of {total} bytes is past the cap"));
        }
        let mut file = Vec::with_capacity(idx(total));
        file.extend_from_slice(self.pe.bytes.get(..self.pe.pe_off).unwrap_or_default());
        file.extend_from_slice(&self.oh);
        file.extend_from_slice(&self.osects);
        file.resize(first.max(head), 0);
        for s in with_data() {
            let len = idx(align_up(u64::from(s.raw_size), align));
            let data = self.image.get(self.at(s.vaddr)?..).unwrap_or_default();
            let data = data.get(..len.min(data.len())).unwrap_or_default();
            file.extend_from_slice(data);
            file.resize(file.len() + len - data.len(), 0);
        }
        file.extend_from_slice(overlay);
        Ok(file)
    }
}

/// UPX's relocation positions: deltas from -4, one byte each below 0xf0, else 4 bits and a
/// 16-bit word, or 0xf0 0 0 and a 32-bit word; ended by 0. Returns them and where the list
/// ended.
pub(super) fn reloc_positions(
    image: &[u8],
    mut p: usize,
    width: usize,
    out: &Unpacked,
) -> Res<(Vec<u32>, usize)> {
    let (mut pc, mut list) = (u32::MAX - 3, Vec::new());
    loop {
        if list.len() % CHECK_EVERY == CHECK_EVERY - 1 && !out.in_time() {
            return Err(Fail::Late);
        }
        let b = *image.get(p).ok_or_else(|| bad("relocation list"))?;
        let delta = match b {
            0 => return Ok((list, p + 1)),
            1..0xf0 => {
                p += 1;
                u32::from(b)
            }
            _ => {
                let short = u32::from(b & 15) << 16 | u32::from(le16(image, p + 1).unwrap_or(0));
                p += if short == 0 { 7 } else { 3 };
                if short == 0 {
                    le32(image, p - 4).ok_or_else(|| bad("relocation list"))?
                } else {
                    short
                }
            }
        };
        if (delta as i32) < 4 {
            return broken("UPX's relocations overlap");
        }
        pc = pc.wrapping_add(delta);
        if idx(pc).saturating_add(width) > image.len() {
            return broken("a relocation lies outside the image");
        }
        list.push(pc);
    }
}

/// `.reloc` blocks as UPX writes them: sorted, one block per 4 KiB page, each padded to 4.
pub(super) fn reloc_table(mut entries: Vec<(u32, u16)>) -> Vec<u8> {
    entries.sort_unstable();
    let (mut table, mut block, mut page) = (Vec::new(), None, 0u32);
    for &(pos, ty) in &entries {
        if block.is_none() || pos.wrapping_sub(page) >= 0x1000 {
            end_block(&mut table, block);
            page = pos & !0xfff;
            block = Some(table.len());
            table.extend_from_slice(&page.to_le_bytes());
            table.extend_from_slice(&8u32.to_le_bytes());
        }
        table.extend_from_slice(&(ty << 12 | (pos & 0xfff) as u16).to_le_bytes());
    }
    end_block(&mut table, block);
    table
}

pub(super) fn end_block(table: &mut Vec<u8>, block: Option<usize>) {
    let Some(at) = block else { return };
    while !(table.len() - at).is_multiple_of(4) {
        table.push(0);
    }
    let size = u32::try_from(table.len() - at).unwrap_or(0);
    put(table, at + 4, &size.to_le_bytes());
}

/// A walk of the packed file's resource directory, which UPX laid out as its unpacker
/// rebuilds it: node sizes, name sizes, and each leaf with the type it is under.
pub(super) struct ResWalk<'a> {
    pub(super) dir: &'a [u8],
    pub(super) dsize: usize,
    pub(super) ssize: usize,
    pub(super) leaves: Vec<(usize, u32)>,
    pub(super) budget: usize,
}

impl ResWalk<'_> {
    pub(super) fn node(&mut self, at: usize, level: u8, ty: u32) -> Res<()> {
        let damaged = || bad("resource directory");
        self.budget = self.budget.checked_sub(1).ok_or_else(damaged)?;
        if level == 3 {
            self.dir
                .get(at..at.saturating_add(16))
                .ok_or_else(damaged)?;
            self.leaves.push((at, ty));
            self.dsize += 16;
            return Ok(());
        }
        let (named, ids) = (le16(self.dir, at + 12), le16(self.dir, at + 14));
        let n = usize::from(named.ok_or_else(damaged)?) + usize::from(ids.unwrap_or(0));
        if n == 0 {
            return Err(damaged());
        }
        for e in (0..n).map(|i| at + 16 + 8 * i) {
            let (tnl, child) = (le32(self.dir, e), le32(self.dir, e + 4));
            let (tnl, child) = (tnl.ok_or_else(damaged)?, child.ok_or_else(damaged)?);
            if (child >> 31 == 0) != (level == 2) {
                return Err(damaged());
            }
            self.node(
                idx(child & 0x7fff_ffff),
                level + 1,
                if level == 0 { tnl } else { ty },
            )?;
            if tnl >> 31 == 1 {
                let s = idx(tnl & 0x7fff_ffff);
                let len = 2 + 2 * usize::from(le16(self.dir, s).unwrap_or(0));
                self.dir.get(s..s + len).ok_or_else(damaged)?;
                self.ssize += len;
            }
        }
        self.dsize += 16 + 8 * n;
        Ok(())
    }
}
