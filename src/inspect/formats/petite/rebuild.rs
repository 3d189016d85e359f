//! The original file rebuilt from the decoded image: the packed file's headers with a new
//! section table, each section's data at an aligned file offset.

use super::*;

/// A section of the rebuilt file.
struct Row {
    rva: u32,
    vsz: u32,
    /// Bytes of data (from the image at `rva`).
    data: u32,
    /// Where the section's zeroed tail ends, from `rva`.
    extent: u64,
    chars: u32,
    name: [u8; 8],
}

/// The decoded sections, and the packed sections with data none of them covers (resources
/// Petite left as they were), in address order, each reaching to the next.
fn rows(pe: &Packed, walk: &Walk, image_len: usize) -> Vec<Row> {
    let chars = |rva: u32| pe.holding(rva).map_or(0xe000_0060, |s| s.chars);
    let row = |rva: u32, data: u64, extent: u64, chars: u32, name: [u8; 8]| {
        let data = data.min((image_len as u64).saturating_sub(u64::from(rva)));
        let data = u32::try_from(data).unwrap_or(0);
        let vsz = 0;
        Row {
            rva,
            vsz,
            data,
            extent,
            chars,
            name,
        }
    };
    let mut rows: Vec<Row> = (walk.pieces.iter())
        .map(|p| {
            let start = u64::from(p.start);
            let (data, extent) = (
                p.data_end().saturating_sub(start),
                p.extent_end().saturating_sub(start),
            );
            row(p.start, data, extent, chars(p.start), [0; 8])
        })
        .collect();
    let covered = |s: &Sect| {
        let (lo, hi) = (u64::from(s.rva), u64::from(s.rva) + u64::from(s.rsz));
        let over =
            |p: &Piece| u64::from(p.start) < hi && lo < p.extent_end().max(u64::from(p.start) + 1);
        walk.pieces.iter().any(over)
    };
    for s in pe.sects.get(..pe.petite).unwrap_or_default() {
        if s.rsz != 0 && !covered(s) {
            rows.push(row(
                s.rva,
                u64::from(s.rsz),
                u64::from(s.vsz),
                s.chars,
                s.name,
            ));
        }
    }
    rows.sort_by_key(|r| r.rva);
    let starts: Vec<u32> = rows.iter().map(|r| r.rva).skip(1).collect();
    for (i, r) in rows.iter_mut().enumerate() {
        r.vsz = match starts.get(i) {
            Some(&next) if next > r.rva => next - r.rva,
            _ => u32::try_from(align_up(r.extent.max(u64::from(r.data)), pe.salign)).unwrap_or(0),
        };
        if r.name == [0; 8] {
            let name = format!(".sect{i}");
            let n = name.len().min(8);
            r.name[..n].copy_from_slice(&name.as_bytes()[..n]);
        }
    }
    rows
}

/// The original file as well as it can be told: the packed file's headers with the decoded
/// sections, each at an aligned file offset.
pub(super) fn rebuild(
    pe: &Packed,
    image: &[u8],
    walk: &Walk,
    ep: Option<u32>,
    room: usize,
) -> Res<Vec<u8>> {
    let rows = rows(pe, walk, image.len());
    let head = align_up((pe.table_off + 40 * rows.len()) as u64, pe.falign);
    let body: u64 = rows
        .iter()
        .map(|r| align_up(u64::from(r.data), pe.falign))
        .sum();
    let total = head + body;
    if total > room as u64 || total > u64::from(u32::MAX) {
        return damaged(format!("the rebuilt file of {total} bytes is past the cap"));
    }
    let mut file = vec![0u8; idx(total as u32)];
    let copied = pe.table_off.min(pe.bytes.len()).min(file.len());
    file[..copied].copy_from_slice(&pe.bytes[..copied]);
    let mut raw = head as u32;
    for (i, r) in rows.iter().enumerate() {
        let size = align_up(u64::from(r.data), pe.falign) as u32;
        let ptr = if r.data == 0 { 0 } else { raw };
        let at = pe.table_off + 40 * i;
        if let Some(name) = file.get_mut(at..at + 8) {
            name.copy_from_slice(&r.name);
        }
        for (k, v) in [r.vsz, r.rva, size, ptr, 0, 0, 0, r.chars]
            .into_iter()
            .enumerate()
        {
            let _ = put32(&mut file, at + 8 + 4 * k, v);
        }
        let data = image.get(idx(r.rva)..).unwrap_or_default();
        let n = data.len().min(idx(r.data));
        if let Some(dst) = file.get_mut(idx(ptr)..idx(ptr) + n) {
            dst.copy_from_slice(&data[..n]);
        }
        raw += size;
    }
    let ep = ep.or(rows.first().map(|r| r.rva)).unwrap_or(0);
    fix_header(pe, &mut file, &rows, ep, head as u32);
    Ok(file)
}

/// Points the copied headers at the new sections: their count, the entry point, the sizes,
/// and only the data directories that still land in a section (not Petite's imports).
fn fix_header(pe: &Packed, file: &mut [u8], rows: &[Row], ep: u32, head: u32) {
    let opt = pe.pe_off + 0x18;
    let image_end = rows
        .last()
        .map_or(0, |r| u64::from(r.rva) + u64::from(r.vsz));
    let image_size = u32::try_from(align_up(image_end, pe.salign)).unwrap_or(u32::MAX);
    let count = (rows.len() as u16).to_le_bytes();
    if let Some(n) = file.get_mut(pe.pe_off + 6..pe.pe_off + 8) {
        n.copy_from_slice(&count);
    }
    for (off, v) in [(16, ep), (56, image_size), (60, head), (64, 0)] {
        let _ = put32(file, opt + off, v);
    }
    let dirs = le32(file, opt + 92).map_or(0, |n| idx(n).min(16));
    for i in 0..dirs {
        let at = opt + 96 + 8 * i;
        if at + 8 > pe.table_off {
            break;
        }
        let rva = le32(file, at).unwrap_or(0);
        let inside = rows.iter().any(|r| rva.wrapping_sub(r.rva) < r.vsz);
        if !inside {
            let _ = put32(file, at, 0);
            let _ = put32(file, at + 4, 0);
        }
    }
}
