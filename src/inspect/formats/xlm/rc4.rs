//! The RC4 encryption of a BIFF8 workbook stream (MS-XLS 2.2.10, the key from MS-OFFCRYPTO
//! 2.3.6) undone when the password is Excel's default one, "VelvetSweatshop": a workbook so
//! "encrypted" opens in Excel without a prompt, and malware used that to hide its macro sheets
//! from scanners. No other password, and no other kind of encryption, is tried.

pub(super) use crate::inspect::formats::rc4::Rc4;

/// Records never encrypted: BOF, FILEPASS, UsrExcl, FileLock, InterfaceHdr, RRDInfo, RRDHead.
const CLEAR: [u16; 7] = [0x0809, 0x002F, 0x0194, 0x0195, 0x00E1, 0x0138, 0x0196];
/// BOUNDSHEET8, whose first field (the sheet's stream offset) is not encrypted.
const BOUNDSHEET: u16 = 0x0085;
/// Each 1024 bytes of the stream take a key of their own.
const BLOCK: usize = 1024;

/// The stream decrypted, when FILEPASS (its data: `filepass`) says RC4 with an MD5 key
/// (version 1.1) and the default password passes its verifier; else `None`.
pub(super) fn decrypt(stream: &[u8], filepass: &[u8]) -> Option<Vec<u8>> {
    // wEncryptionType 1 (RC4), version 1.1; salt, encrypted verifier and verifier hash.
    if filepass.get(..6)? != [1, 0, 1, 0, 1, 0] {
        return None;
    }
    let key = derive(filepass.get(6..22)?);
    let mut check: [u8; 32] = filepass.get(22..54)?.try_into().ok()?;
    Rc4::new(&block_key(&key, 0)).apply(&mut check);
    if md5(check.get(..16)?) != check[16..] {
        return None;
    }
    let mut plain = stream.to_vec();
    let mut keys = Keystream {
        key,
        block: usize::MAX,
        bytes: [0; BLOCK],
    };
    let mut at = 0;
    // Record headers stay clear; the key stream still runs over them (it is by offset).
    while let (Some(kind), Some(len)) = (u16_at(stream, at), u16_at(stream, at + 2)) {
        let start = at + 4 + if kind == BOUNDSHEET { 4 } else { 0 };
        let end = (at + 4 + usize::from(len)).min(stream.len());
        if !CLEAR.contains(&kind) {
            for pos in start..end {
                if let Some(byte) = plain.get_mut(pos) {
                    *byte ^= keys.at(pos);
                }
            }
        }
        at += 4 + usize::from(len);
    }
    Some(plain)
}

/// MD5 of the password, its first 5 bytes with the salt 16 times over, the first 5 bytes of
/// MD5 of that.
pub(super) fn derive(salt: &[u8]) -> [u8; 5] {
    let password: Vec<u8> = "VelvetSweatshop"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let first = md5(&password);
    let once: Vec<u8> = first.iter().take(5).chain(salt).copied().collect();
    let second = md5(&once.repeat(16));
    [second[0], second[1], second[2], second[3], second[4]]
}

/// The RC4 key of a block: MD5 of the derived key and the block's number.
pub(super) fn block_key(key: &[u8; 5], block: usize) -> [u8; 16] {
    let number = u32::try_from(block).unwrap_or(u32::MAX).to_le_bytes();
    let data: Vec<u8> = key.iter().chain(&number).copied().collect();
    md5(&data)
}

/// The key stream by stream offset, one block at a time.
struct Keystream {
    key: [u8; 5],
    block: usize,
    bytes: [u8; BLOCK],
}

impl Keystream {
    fn at(&mut self, pos: usize) -> u8 {
        if pos / BLOCK != self.block {
            self.block = pos / BLOCK;
            self.bytes = [0; BLOCK];
            Rc4::new(&block_key(&self.key, self.block)).apply(&mut self.bytes);
        }
        self.bytes.get(pos % BLOCK).copied().unwrap_or(0)
    }
}

/// MD5, as MS-OFFCRYPTO's key derivation uses it.
pub(super) fn md5(data: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(data).into()
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        data.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}
