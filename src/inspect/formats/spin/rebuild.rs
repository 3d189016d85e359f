//! A plain PE32 around unpacked sections: each section's bytes at a file offset aligned to
//! 0x200, at its own virtual address. Image base and alignments are fixed (as ClamAV's
//! rebuild for PESpin does): PESpin keeps nothing that would say the original values.

/// One section of the rebuilt file.
pub(super) struct Out {
    pub rva: u32,
    pub vsz: u32,
    pub data: Vec<u8>,
}

const FILE_ALIGN: usize = 0x200;
const SECT_ALIGN: u64 = 0x1000;
const PE_AT: usize = 0x40;
const OPT_SIZE: usize = 0xe0;

fn put16(b: &mut [u8], at: usize, v: u16) {
    if let Some(d) = b.get_mut(at..at + 2) {
        d.copy_from_slice(&v.to_le_bytes());
    }
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    if let Some(d) = b.get_mut(at..at + 4) {
        d.copy_from_slice(&v.to_le_bytes());
    }
}

fn align(v: usize) -> usize {
    v.div_ceil(FILE_ALIGN).saturating_mul(FILE_ALIGN)
}

/// The size of the headers for `n` sections.
fn header_size(n: usize) -> usize {
    align(PE_AT + 0x18 + OPT_SIZE + 40 * n)
}

/// The bytes the rebuilt file will take (what the caller checks against the cap).
pub(super) fn size(sects: &[Out]) -> usize {
    sects.iter().fold(header_size(sects.len()), |n, s| {
        n.saturating_add(align(s.data.len()))
    })
}

/// The rebuilt PE; `sects` are in the packed file's order.
pub(super) fn rebuild(sects: &[Out]) -> Vec<u8> {
    let head = header_size(sects.len());
    let mut pe = vec![0u8; head];
    pe[..2].copy_from_slice(b"MZ");
    put32(&mut pe, 0x3c, PE_AT as u32);
    pe[PE_AT..PE_AT + 4].copy_from_slice(b"PE\0\0");
    let coff = PE_AT + 4;
    put16(&mut pe, coff, 0x14c);
    put16(&mut pe, coff + 2, sects.len() as u16);
    put16(&mut pe, coff + 16, OPT_SIZE as u16);
    put16(&mut pe, coff + 18, 0x10f);
    let end = sects
        .iter()
        .map(|s| u64::from(s.rva) + u64::from(s.vsz.max(s.data.len() as u32)))
        .max()
        .unwrap_or(0);
    optional_header(
        &mut pe,
        coff + 20,
        head,
        end.div_ceil(SECT_ALIGN) * SECT_ALIGN,
    );
    let table = coff + 20 + OPT_SIZE;
    for (i, s) in sects.iter().enumerate() {
        let row = table + 40 * i;
        let raw = pe.len();
        if let Some(name) = pe.get_mut(row..row + 8) {
            name.copy_from_slice(b".spin\0\0\0");
        }
        put32(&mut pe, row + 8, s.vsz);
        put32(&mut pe, row + 12, s.rva);
        put32(&mut pe, row + 16, align(s.data.len()) as u32);
        put32(&mut pe, row + 20, raw as u32);
        put32(&mut pe, row + 36, 0xe000_0060);
        pe.extend_from_slice(&s.data);
        pe.resize(align(pe.len()), 0);
    }
    pe
}

fn optional_header(pe: &mut [u8], opt: usize, head: usize, image: u64) {
    put16(pe, opt, 0x10b);
    put32(pe, opt + 28, 0x40_0000);
    put32(pe, opt + 32, SECT_ALIGN as u32);
    put32(pe, opt + 36, FILE_ALIGN as u32);
    put16(pe, opt + 40, 4);
    put16(pe, opt + 48, 4);
    put32(pe, opt + 56, u32::try_from(image).unwrap_or(u32::MAX));
    put32(pe, opt + 60, head as u32);
    put16(pe, opt + 68, 2);
    put32(pe, opt + 92, 16);
}
