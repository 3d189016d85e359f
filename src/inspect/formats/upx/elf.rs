//! A UPX-packed ELF (little-endian): the packheader at its end and each loaded segment's
//! blocks decoded at its file offset.

use super::*;

/// A packed ELF ends (before any zero padding) with the packheader and the offset of its
/// `p_info`, which follows the `l_info` (whose magic is `UPX!` too) after the headers.
pub(super) fn elf_packheader(bytes: &[u8]) -> Option<(PackHeader, usize)> {
    if !bytes.starts_with(b"\x7fELF") {
        return None;
    }
    let tail = bytes.len().saturating_sub(2 * 4096 + 73);
    let end = tail + bytes.get(tail..)?.iter().rposition(|&b| b != 0)? + 1;
    let ph = find_packheader(bytes, end.checked_sub(PACKHEADER + 5)?, PACKHEADER + 5)?;
    let p_info = idx(le32(bytes, ph.at + PACKHEADER)?);
    let l_magic = bytes.get(p_info.checked_sub(8)?..p_info.checked_sub(4)?)?;
    (l_magic == MAGIC).then_some((ph, p_info))
}

pub(super) fn unpack_elf(bytes: &[u8], ph: &PackHeader, p_info: usize, out: &mut Unpacked) {
    const NAME: &str = "unpacked";
    if ph.format >= 128 {
        return out.unsupported(NAME.into(), format!("big-endian UPX format {}", ph.format));
    }
    let (Some(size), Some(blocksize)) = (le32(bytes, p_info + 4), le32(bytes, p_info + 8)) else {
        return out.broken(Some(NAME.into()), "the packed header is cut short");
    };
    if idx(size) > out.room() {
        let why = format!("the file of {size} bytes is past the cap");
        return out.broken(Some(NAME.into()), why);
    }
    let lsize = usize::from(le16(bytes, p_info - 4).unwrap_or(0));
    let (pos, method, unfiltered) = (p_info + 12, ph.method, None);
    let mut blocks = Blocks {
        bytes,
        pos,
        blocksize,
        method,
        unfiltered,
    };
    let mut file = vec![0u8; idx(size)];
    if let Err(fail) = elf_extents(&mut blocks, &mut file, lsize, out) {
        note(out, NAME, fail);
    }
    if let Some(fail) = blocks.unfiltered {
        note(out, NAME, fail);
    }
    out.file(NAME, file);
}

/// Each PT_LOAD's bytes at its offset, then the gaps between them and after the last.
pub(super) fn elf_extents(
    blocks: &mut Blocks,
    file: &mut [u8],
    lsize: usize,
    out: &Unpacked,
) -> Res<()> {
    let start = blocks.pos;
    let loads = elf_loads(&blocks.next(file.len(), out)?)?;
    blocks.pos = start;
    for &(off, len) in &loads {
        blocks.extent(file, off, len, out)?;
    }
    for &(off, len) in &loads {
        let end = off.saturating_add(len);
        let after = loads.iter().map(|l| l.0).filter(|&o| o >= end);
        let next = after.chain([file.len()]).min().unwrap_or(end);
        if next > end {
            blocks.seek(u32::try_from(next - end).unwrap_or(0), lsize + CHECK_EVERY)?;
            blocks.extent(file, end, next - end, out)?;
        }
    }
    Ok(())
}

/// The file's PT_LOAD (offset, size)s, from the ELF header the first block holds.
pub(super) fn elf_loads(head: &[u8]) -> Res<Vec<(usize, usize)>> {
    let wide = match (head.get(..4), head.get(4), head.get(5)) {
        (Some(b"\x7fELF"), Some(1), Some(1)) => false,
        (Some(b"\x7fELF"), Some(2), Some(1)) => true,
        _ => return broken("the first block holds no little-endian ELF header"),
    };
    let word = |b: &[u8], at| {
        if wide {
            le64(b, at).map(idx)
        } else {
            le32(b, at).map(idx)
        }
    };
    let (phoff, at) = if wide {
        (word(head, 32), 54)
    } else {
        (word(head, 28), 42)
    };
    let size = usize::from(le16(head, at).unwrap_or(0));
    let rows = usize::from(le16(head, at + 2).unwrap_or(0));
    if rows > 256 {
        return broken("the ELF header claims too many program headers");
    }
    let table = head.get(phoff.unwrap_or(usize::MAX)..).unwrap_or_default();
    let mut loads = Vec::new();
    for row in (0..rows).map_while(|i| table.get(i * size..)) {
        if le32(row, 0) == Some(1) {
            let (off, filesz) = if wide { (8, 32) } else { (4, 16) };
            let off = word(row, off).ok_or_else(|| bad("program header"))?;
            loads.push((off, word(row, filesz).unwrap_or(0)));
        }
    }
    Ok(loads)
}

/// The stream of blocks after `p_info`: each a `b_info` (sizes, method, filter, cto) and
/// its data, compressed or (as long as it is) stored.
pub(super) struct Blocks<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
    pub(super) blocksize: u32,
    pub(super) method: u8,
    /// A filter not undone: decoding goes on, and this is noted.
    pub(super) unfiltered: Option<Fail>,
}

impl Blocks<'_> {
    /// The next block, which must fit in `room` bytes.
    pub(super) fn next(&mut self, room: usize, out: &Unpacked) -> Res<Vec<u8>> {
        if !out.in_time() {
            return Err(Fail::Late);
        }
        let (unc, cpr) = (le32(self.bytes, self.pos), le32(self.bytes, self.pos + 4));
        let (Some(unc), Some(cpr), Some([method, ftid, cto, _])) =
            (unc, cpr, array::<4>(self.bytes, self.pos + 8))
        else {
            return broken("a block header is cut short");
        };
        if unc == 0 || cpr == 0 || cpr > unc || unc > self.blocksize || idx(unc) > room {
            return broken("a block header is damaged");
        }
        let data = self.bytes.get(self.pos + 12..self.pos + 12 + idx(cpr));
        let data = data.ok_or_else(|| bad("block"))?;
        self.pos += 12 + idx(cpr);
        if cpr == unc {
            return Ok(data.to_vec());
        }
        let mut block = Vec::new();
        let method = if method != 0 { method } else { self.method };
        decompress(method, data, idx(unc), &mut block, out)?;
        match unfilter(&mut block, ftid, cto, 0, out) {
            Ok(()) => {}
            Err(Fail::Unsupported(why)) => self.unfiltered = Some(Fail::Unsupported(why)),
            Err(fail) => return Err(fail),
        }
        Ok(block)
    }

    /// Decodes blocks into `file[at..at + len]`.
    pub(super) fn extent(
        &mut self,
        file: &mut [u8],
        mut at: usize,
        len: usize,
        out: &Unpacked,
    ) -> Res<()> {
        let end = at.saturating_add(len);
        while at < end {
            let block = self.next(end.min(file.len()).saturating_sub(at), out)?;
            let stop = at.checked_add(block.len()).filter(|&stop| stop <= end);
            let to = stop.and_then(|stop| file.get_mut(at..stop));
            to.ok_or_else(|| bad("block size"))?.copy_from_slice(&block);
            at += block.len();
        }
        Ok(())
    }

    /// UPX's loader sits between the loaded parts and the gaps: find the next block that
    /// holds `size` bytes (stored, or packed like the others and without a filter).
    pub(super) fn seek(&mut self, size: u32, limit: usize) -> Res<()> {
        let b = self.bytes;
        let method = u32::from(self.method);
        let found = (self.pos..self.pos.saturating_add(limit)).find(|&at| {
            let (unc, cpr, word) = (le32(b, at), le32(b, at + 4), le32(b, at + 8));
            let stored = cpr == Some(size) && word == Some(0);
            let packed = cpr.is_some_and(|c| c > 0 && c < size)
                && word.is_some_and(|w| w & 0x00ff_ffff == method);
            unc == Some(size) && (stored || packed)
        });
        self.pos = found.ok_or_else(|| bad("block after the loader"))?;
        Ok(())
    }
}
