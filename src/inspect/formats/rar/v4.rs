//! RAR 1.5 to 4.x: block headers with 16-bit CRCs, file headers, old sub-blocks.

use super::*;

/// One RAR4 block header, read and checked.
pub(super) struct Block4<'a> {
    pub(super) kind: u8,
    pub(super) flags: u16,
    /// The whole header, from its CRC on.
    pub(super) head: &'a [u8],
    pub(super) data_at: usize,
    pub(super) data_len: u64,
    pub(super) crc_ok: bool,
}

impl<'a> Block4<'a> {
    /// Reads the block header at `at`: CRC (2), type (1), flags (2), size (2), then fields.
    pub(super) fn read(bytes: &'a [u8], at: usize) -> Result<Block4<'a>, &'static str> {
        let fixed = bytes.get(at..).and_then(|b| b.get(..7)).ok_or(TRUNCATED)?;
        let size = usize::from(le16(fixed, 5).ok_or(TRUNCATED)?);
        if size < 7 {
            return Err("block header smaller than its fixed fields");
        }
        let head = bytes
            .get(at..)
            .and_then(|b| b.get(..size))
            .ok_or(TRUNCATED)?;
        let kind = fixed.get(2).copied().unwrap_or(0);
        let flags = le16(fixed, 3).unwrap_or(0);
        Ok(Block4 {
            kind,
            flags,
            head,
            data_at: at + size,
            data_len: data_len4(kind, flags, head)?,
            crc_ok: crc4_ok(kind, flags, head),
        })
    }
}

/// The size of the data after a RAR4 block header: file and service blocks always give it
/// (with 32 high bits when large), the old sub-blocks too, other blocks when "long".
pub(super) fn data_len4(kind: u8, flags: u16, head: &[u8]) -> Result<u64, &'static str> {
    match kind {
        FILE4 | SERVICE4 => {
            let low = le32(head, 7).ok_or(SHORT)?;
            let high = match flags & FILE_LARGE {
                0 => 0,
                _ => le32(head, FILE4_FIXED).ok_or(SHORT)?,
            };
            Ok(u64::from(high) << 32 | u64::from(low))
        }
        OLD_SERVICE4 | PROTECT4 => le32(head, 7).map(u64::from).ok_or(SHORT),
        _ if flags & LONG_BLOCK != 0 => le32(head, 7).map(u64::from).ok_or(SHORT),
        _ => Ok(0),
    }
}

/// The low 16 bits of the CRC-32 of the header after its CRC field: of all of it, except
/// that an old-style comment inside a main or file header is left out, and that RAR 2.x
/// antivirus, signature and Unix-owner blocks never had a checkable CRC.
pub(super) fn crc4_ok(kind: u8, flags: u16, head: &[u8]) -> bool {
    let end = match kind {
        MAIN4 if flags & MAIN_COMMENT != 0 => 13,
        FILE4 if flags & FILE_COMMENT != 0 => file4_fields_end(flags, head),
        AV4 | SIGN4 => return true,
        OLD_SERVICE4 if le16(head, 11) == Some(UNIX_OWNER4) => return true,
        _ => head.len(),
    };
    let covered = head.get(2..end.min(head.len())).unwrap_or_default();
    le16(head, 0) == Some(crc32(covered) as u16)
}

/// Where a RAR4 file header's fields end: fixed part, high sizes, name, salt.
pub(super) fn file4_fields_end(flags: u16, head: &[u8]) -> usize {
    let large = if flags & FILE_LARGE != 0 { 8 } else { 0 };
    let salt = if flags & FILE_SALT != 0 { 8 } else { 0 };
    let name = usize::from(le16(head, 26).unwrap_or(0));
    FILE4_FIXED + large + name + salt
}

/// Walks a RAR4 archive: the main header, then blocks until the end block or the input's end.
pub(super) fn walk4(bytes: &[u8], out: &mut Unpacked) {
    let main = match Block4::read(bytes, SIGNATURE4.len()) {
        Ok(block) if block.kind == MAIN4 => block,
        Ok(_) => return out.broken(None, "no main header after the RAR signature"),
        Err(why) => return out.broken(None, why),
    };
    if !main.crc_ok {
        out.broken(None, "main header fails its CRC check");
    }
    if main.flags & MAIN_PASSWORD != 0 {
        return out.encrypted(String::from("(headers)"));
    }
    let mut at = main.data_at;
    let mut index = 0;
    // Every block is at least 7 bytes long, so `at` moves on each round.
    while at < bytes.len() {
        if !out.in_time() {
            return out.late(None);
        }
        let block = match Block4::read(bytes, at) {
            Ok(block) => block,
            Err(why) => return out.broken(None, why),
        };
        match block.kind {
            FILE4 => {
                index += 1;
                if !take(out, member4(bytes, &block, index)) {
                    return;
                }
            }
            END4 => return,
            kind if !block.crc_ok => {
                out.broken(
                    None,
                    format!("block of type 0x{kind:02x} fails its CRC check"),
                );
            }
            _ => {}
        }
        match next_block(bytes, block.data_at, block.data_len) {
            Some(next) => at = next,
            None => return out.broken(None, "archive cut short inside a block's data"),
        }
    }
}

/// Reads what a RAR4 file header says about its member.
pub(super) fn member4<'a>(
    bytes: &'a [u8],
    block: &Block4<'a>,
    index: usize,
) -> Result<Member<'a>, &'static str> {
    let (head, flags) = (block.head, block.flags);
    let fixed = head.get(..FILE4_FIXED).ok_or(SHORT)?;
    let low_size = le32(fixed, 11).unwrap_or(0);
    let host = fixed.get(15).copied().unwrap_or(0);
    let version = fixed.get(24).copied().unwrap_or(0);
    let method = fixed.get(25).copied().unwrap_or(0);
    let attributes = le32(fixed, 28).unwrap_or(0);
    let large = flags & FILE_LARGE != 0;
    let name_at = FILE4_FIXED + if large { 8 } else { 0 };
    let name_len = usize::from(le16(fixed, 26).unwrap_or(0));
    let raw_name = head
        .get(name_at..name_at + name_len)
        .ok_or("file name runs past its header")?;
    let high_size = if large {
        le32(head, 36).ok_or(SHORT)?
    } else {
        0
    };
    let unknown = low_size == u32::MAX && (!large || high_size == u32::MAX);
    // RAR 1.5 marked directories by their attribute, later versions by the window bits;
    // a Unix symbolic link's data is its target's path.
    let directory =
        flags & FILE_DIRECTORY == FILE_DIRECTORY || (version < 20 && attributes & 0x10 != 0);
    let link = host == HOST_UNIX && attributes & 0xF000 == 0xA000;
    // Methods are the digits '0' (stored) to '5'; other bytes are shown as they are.
    let method = (method != b'0').then(|| match method.checked_sub(b'0') {
        Some(digit) => digit.to_string(),
        None => format!("0x{method:02x}"),
    });
    let unsupported = refusal(flags & FILE_PASSWORD != 0, flags & FILE_SPLIT != 0, method);
    let (data, cut) = data_area(bytes, block.data_at, block.data_len);
    Ok(Member {
        name: member_name(&name4(raw_name, flags & FILE_UNICODE != 0), index),
        header_ok: block.crc_ok,
        skip: directory || link,
        unsupported,
        size: (!unknown).then_some(u64::from(high_size) << 32 | u64::from(low_size)),
        crc: le32(fixed, 16),
        data,
        cut,
    })
}

/// A RAR4 name: 8-bit (the archiver's code page, read as UTF-8 here), or with the Unicode
/// flag an 8-bit name, a zero and the Unicode name coded against it; `\` separates folders.
pub(super) fn name4(raw: &[u8], unicode: bool) -> String {
    let (plain, coded) = match raw.iter().position(|&b| b == 0) {
        Some(zero) => (
            raw.get(..zero).unwrap_or_default(),
            raw.get(zero + 1..).unwrap_or_default(),
        ),
        None => (raw, &[][..]),
    };
    let mut name = String::new();
    if unicode && !coded.is_empty() {
        // Runs copy from the whole name field, as RAR reads them.
        name = decode_wide_name(raw, coded);
    }
    if name.is_empty() {
        name = String::from_utf8_lossy(plain).into_owned();
    }
    name.replace('\\', "/")
}

/// RAR4's coded Unicode name: a high byte, then for every four characters a byte of 2-bit
/// codes: 0 a low byte, 1 a low byte under the high byte, 2 a whole UTF-16 unit, 3 a run
/// copied from the 8-bit name (with a correction added and the high byte, when the run
/// length's top bit is set). Every round takes at least one byte of `coded`.
pub(super) fn decode_wide_name(plain: &[u8], coded: &[u8]) -> String {
    let mut input = coded.iter().copied();
    let Some(high) = input.next() else {
        return String::new();
    };
    let high = u16::from(high) << 8;
    let mut units: Vec<u16> = Vec::new();
    let (mut codes, mut left) = (0u8, 0);
    while units.len() < MAX_NAME {
        if left == 0 {
            let Some(byte) = input.next() else { break };
            (codes, left) = (byte, 4);
        }
        let code = codes >> 6;
        (codes, left) = (codes << 2, left - 1);
        let Some(first) = input.next() else { break };
        match code {
            0 => units.push(u16::from(first)),
            1 => units.push(high | u16::from(first)),
            2 => {
                let Some(second) = input.next() else { break };
                units.push(u16::from_le_bytes([first, second]));
            }
            _ => {
                let correction = if first & 0x80 != 0 {
                    input.next()
                } else {
                    None
                };
                for _ in 0..usize::from(first & 0x7F) + 2 {
                    let Some(&byte) = plain.get(units.len()) else {
                        break;
                    };
                    units.push(match correction {
                        Some(add) => high | u16::from(byte.wrapping_add(add)),
                        None => u16::from(byte),
                    });
                }
            }
        }
    }
    String::from_utf16_lossy(&units)
}
