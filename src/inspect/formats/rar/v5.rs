//! RAR 5.0: vint-coded headers with CRC-32, file and service headers, extra records.

use super::*;

/// One RAR5 header, read and checked.
pub(super) struct Block5<'a> {
    pub(super) kind: u64,
    pub(super) flags: u64,
    /// The type-specific fields, between the common ones and the extra area.
    pub(super) fields: &'a [u8],
    pub(super) extra: &'a [u8],
    pub(super) data_at: usize,
    pub(super) data_len: u64,
    pub(super) crc_ok: bool,
}

impl<'a> Block5<'a> {
    /// Reads the header at `at`: CRC-32 (4), size (vint), then `size` bytes: type, flags,
    /// extra area size and data size (when flagged), fields, extra area.
    pub(super) fn read(bytes: &'a [u8], at: usize) -> Result<Block5<'a>, &'static str> {
        let stored = le32(bytes, at).ok_or(TRUNCATED)?;
        let sized = bytes.get(at.saturating_add(4)..).unwrap_or_default();
        let mut reader = Reader::new(sized);
        let size = reader
            .vint_within(SIZE5_BYTES)
            .ok_or("header size missing or too large")?;
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_add(reader.at))
            .ok_or(TRUNCATED)?;
        let covered = sized.get(..end).ok_or(TRUNCATED)?;
        let mut body = Reader::new(covered.get(reader.at..).unwrap_or_default());
        let kind = body.vint().ok_or(SHORT)?;
        let flags = body.vint().ok_or(SHORT)?;
        let extra_len = if flags & HAS_EXTRA != 0 {
            body.vint().ok_or(SHORT)?
        } else {
            0
        };
        let data_len = if flags & HAS_DATA != 0 {
            body.vint().ok_or(SHORT)?
        } else {
            0
        };
        let rest = body.rest();
        let split = usize::try_from(extra_len)
            .ok()
            .and_then(|e| rest.len().checked_sub(e))
            .ok_or("extra area larger than its header")?;
        Ok(Block5 {
            kind,
            flags,
            fields: rest.get(..split).unwrap_or_default(),
            extra: rest.get(split..).unwrap_or_default(),
            data_at: at + 4 + end,
            data_len,
            crc_ok: crc32(covered) == stored,
        })
    }
}

/// Walks a RAR5 archive: headers until the end header or the input's end.
pub(super) fn walk5(bytes: &[u8], out: &mut Unpacked) {
    let mut at = SIGNATURE5.len();
    let mut index = 0;
    // Every header is at least 7 bytes long, so `at` moves on each round.
    while at < bytes.len() {
        if !out.in_time() {
            return out.late(None);
        }
        let block = match Block5::read(bytes, at) {
            Ok(block) => block,
            Err(why) => return out.broken(None, why),
        };
        match block.kind {
            CRYPT5 => return out.encrypted(String::from("(headers)")),
            FILE5 => {
                index += 1;
                if !take(out, member5(bytes, &block, index)) {
                    return;
                }
            }
            END5 => return,
            kind if !block.crc_ok => {
                out.broken(None, format!("header of type {kind} fails its CRC check"));
            }
            _ => {}
        }
        match next_block(bytes, block.data_at, block.data_len) {
            Some(next) => at = next,
            None => return out.broken(None, "archive cut short inside a block's data"),
        }
    }
    // RAR 5 always ends an archive (and every volume) with an end header.
    out.broken(None, "archive ends without its end header");
}

/// Reads what a RAR5 file header says about its member: file flags, unpacked size,
/// attributes, [mtime], [CRC-32], compression info, host OS, name; records in the extra area.
pub(super) fn member5<'a>(
    bytes: &'a [u8],
    block: &Block5<'a>,
    index: usize,
) -> Result<Member<'a>, &'static str> {
    let mut fields = Reader::new(block.fields);
    let file_flags = fields.vint().ok_or(SHORT)?;
    let size = fields.vint().ok_or(SHORT)?;
    fields.vint().ok_or(SHORT)?; // attributes
    if file_flags & FILE5_TIME != 0 {
        fields.take(4).ok_or(SHORT)?;
    }
    let crc = match file_flags & FILE5_CRC {
        0 => None,
        _ => Some(fields.take(4).and_then(|b| le32(b, 0)).ok_or(SHORT)?),
    };
    let info = fields.vint().ok_or(SHORT)?;
    fields.vint().ok_or(SHORT)?; // host OS
    let name_len = fields
        .vint()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(SHORT)?;
    let name = fields
        .take(name_len)
        .ok_or("file name runs past its header")?;
    let (encrypted, link) = extra_records5(block.extra);
    let method = (info >> 7) & 7;
    let method = (method != 0).then(|| method.to_string());
    let unsupported = refusal(encrypted, block.flags & SPLIT5 != 0, method);
    let (data, cut) = data_area(bytes, block.data_at, block.data_len);
    Ok(Member {
        name: member_name(&String::from_utf8_lossy(name), index),
        header_ok: block.crc_ok,
        skip: file_flags & FILE5_DIRECTORY != 0 || link,
        unsupported,
        size: (file_flags & FILE5_SIZE_UNKNOWN == 0).then_some(size),
        crc,
        data,
        cut,
    })
}

/// Whether a RAR5 file's extra area has an encryption record, and a redirection record (a
/// link or a copy of another member: no data of its own). Each record is its size (vint),
/// then that many bytes: type (vint) and data; a record that does not fit ends the area.
pub(super) fn extra_records5(extra: &[u8]) -> (bool, bool) {
    let (mut encrypted, mut link) = (false, false);
    let mut reader = Reader::new(extra);
    while let Some(size) = reader.vint() {
        let Some(record) = usize::try_from(size)
            .ok()
            .filter(|&s| s > 0)
            .and_then(|s| reader.take(s))
        else {
            break;
        };
        match Reader::new(record).vint() {
            Some(EXTRA_CRYPT) => encrypted = true,
            Some(EXTRA_REDIRECT) => link = true,
            _ => {}
        }
    }
    (encrypted, link)
}

/// Reads RAR5 fields from a header, every read checked against its end.
pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    pub(super) fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.at..).unwrap_or_default()
    }

    pub(super) fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let taken = self.rest().get(..len)?;
        self.at += len;
        Some(taken)
    }

    /// A vint: 7 bits a byte, low first, the top bit set on all but the last byte.
    pub(super) fn vint(&mut self) -> Option<u64> {
        self.vint_within(10)
    }

    /// A vint of at most `max` bytes whose value fits 64 bits.
    pub(super) fn vint_within(&mut self, max: usize) -> Option<u64> {
        let mut value = 0u64;
        for index in 0..max.min(10) {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            let part = u64::from(byte & 0x7F);
            if index == 9 && part > 1 {
                return None;
            }
            value |= part << (7 * index);
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}
