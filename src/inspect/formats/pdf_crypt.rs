//! Decryption of PDFs protected by the Standard security handler when the user password is
//! empty: documents that any viewer opens without asking but whose strings and streams (and so
//! any JavaScript or embedded file) are encrypted.
//!
//! Facts come from ISO 32000-1 7.6 (Algorithms 1, 2, 4, 5, 6 and crypt filters), ISO 32000-2
//! 7.6.4.3 (Algorithms 2.A, 2.B, 11 for R6), Adobe's Extension Level 3 (R5: plain SHA-256), and
//! what pdf.js, qpdf and ClamAV's libclamav/pdf.c accept (key length read from the crypt filter
//! when /Length is absent, in bytes when below 40; lenient AES padding).

use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use md5::{Digest, Md5};
use sha2::{Sha256, Sha384, Sha512};

/// The 32 bytes that pad a password (the empty password is exactly these), ISO 32000-1 7.6.3.3.
const PAD: [u8; 32] = [
    0x28, 0xBF, 0x4E, 0x5E, 0x4E, 0x75, 0x8A, 0x41, 0x64, 0x00, 0x4E, 0x56, 0xFF, 0xFA, 0x01, 0x08,
    0x2E, 0x2E, 0x00, 0xB6, 0xD0, 0x68, 0x3E, 0x80, 0x2F, 0x0C, 0xA9, 0xFE, 0x64, 0x53, 0x69, 0x7A,
];
/// How deep dictionaries and arrays may nest before the text is called malformed.
const MAX_DEPTH: usize = 32;
/// How many bytes of a PDF one trailer dictionary may span.
const DICT_WINDOW: usize = 1 << 20;
/// How many trailer candidates `find_encryption` parses, latest first.
const MAX_TRAILERS: usize = 64;

/// Decrypted bytes, or why they could not be.
pub(super) type Decrypted = Result<Vec<u8>, String>;

/// How the strings or streams of a document are encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Identity,
    Rc4,
    AesV2,
    AesV3,
}

/// The file key and the method of each kind of data.
#[derive(Debug, Clone)]
pub(super) struct Key {
    file: Vec<u8>,
    streams: Method,
    /// Strings' method: the `/JS` strings of an encrypted document's dictionaries are not
    /// read yet (docs/archives.md), only the tests decrypt strings.
    #[cfg_attr(not(test), allow(dead_code))]
    strings: Method,
    embedded: Method,
    metadata: bool,
}

/// The key of a PDF whose /Encrypt dictionary (with or without its `<< >>`) and first /ID
/// string are given, when the empty user password opens it.
pub(super) fn empty_password(encrypt_dict: &[u8], id: &[u8]) -> Result<Key, String> {
    let blank = encrypt_dict.iter().all(|&c| is_white(c));
    let dict = parse_dict_text(encrypt_dict).filter(|_| !blank);
    let dict = dict.ok_or("/Encrypt dictionary missing or malformed")?;
    match dict.name(b"Filter") {
        Some(b"Standard") => {}
        Some(other) => {
            let other = String::from_utf8_lossy(other);
            return Err(format!("unsupported security handler /{other}"));
        }
        None => return Err("no /Filter in /Encrypt dictionary".into()),
    }
    let v = dict.int(b"V").unwrap_or(0);
    let r = dict.int(b"R").ok_or("no /R in /Encrypt dictionary")?;
    let (streams, strings, embedded) = methods(&dict, v)?;
    let metadata = !matches!(dict.get(b"EncryptMetadata"), Some(Obj::Bool(false)));
    let file = match r {
        2..=4 => legacy_key(&dict, r, key_length(&dict, v), id, metadata)?,
        5 | 6 => modern_key(&dict, r == 6)?,
        _ => return Err(format!("unknown security handler revision /R {r}")),
    };
    Ok(Key {
        file,
        streams,
        strings,
        embedded,
        metadata,
    })
}

impl Key {
    /// A stream's bytes decrypted for object `num` generation `generation`.
    pub(super) fn decrypt(&self, num: u32, generation: u16, data: &[u8]) -> Decrypted {
        self.apply(self.streams, num, generation, data)
    }

    /// A string's bytes decrypted (the /StrF crypt filter, which may differ from streams').
    #[cfg(test)]
    pub(super) fn decrypt_string(&self, num: u32, generation: u16, data: &[u8]) -> Decrypted {
        self.apply(self.strings, num, generation, data)
    }

    /// An embedded file stream's bytes decrypted (the /EFF crypt filter, /StmF by default).
    pub(super) fn decrypt_embedded(&self, num: u32, generation: u16, data: &[u8]) -> Decrypted {
        self.apply(self.embedded, num, generation, data)
    }

    /// False when /EncryptMetadata is false: /Type /Metadata streams are then in clear.
    pub(super) fn encrypts_metadata(&self) -> bool {
        self.metadata
    }

    fn apply(&self, method: Method, num: u32, generation: u16, data: &[u8]) -> Decrypted {
        match method {
            Method::Identity => Ok(data.to_vec()),
            Method::Rc4 => Ok(rc4(&self.object_key(num, generation, false), data)),
            Method::AesV2 => aes_cbc_decrypt(&self.object_key(num, generation, true), data),
            Method::AesV3 => aes_cbc_decrypt(&self.file, data),
        }
    }

    /// Algorithm 1: MD5 of the file key, the low 3 bytes of the object number and the low 2 of
    /// the generation (and "sAlT" for AES), cut to the file key's length + 5, at most 16.
    fn object_key(&self, num: u32, generation: u16, aes: bool) -> Vec<u8> {
        let mut md = Md5::new();
        md.update(&self.file);
        md.update(&num.to_le_bytes()[..3]);
        md.update(generation.to_le_bytes());
        if aes {
            md.update(b"sAlT");
        }
        let hash = md.finalize();
        let n = (self.file.len() + 5).min(16);
        hash.get(..n).unwrap_or(&hash[..]).to_vec()
    }
}

/// The methods of streams, strings and embedded files: RC4 before V4, crypt filters after.
fn methods(dict: &Dict, v: i64) -> Result<(Method, Method, Method), String> {
    match v {
        1 | 2 => Ok((Method::Rc4, Method::Rc4, Method::Rc4)),
        4 | 5 => {
            let stmf = dict.name(b"StmF").unwrap_or(b"Identity");
            let streams = crypt_filter(dict, stmf)?;
            let strings = crypt_filter(dict, dict.name(b"StrF").unwrap_or(b"Identity"))?;
            let embedded = crypt_filter(dict, dict.name(b"EFF").unwrap_or(stmf))?;
            Ok((streams, strings, embedded))
        }
        _ => Err(format!("unsupported encryption algorithm /V {v}")),
    }
}

/// The method of the crypt filter named `name` in /CF.
fn crypt_filter(dict: &Dict, name: &[u8]) -> Result<Method, String> {
    if name == b"Identity" {
        return Ok(Method::Identity);
    }
    let shown = String::from_utf8_lossy(name);
    let filter = dict
        .dict(b"CF")
        .and_then(|cf| cf.dict(name))
        .ok_or_else(|| format!("crypt filter /{shown} not in /CF"))?;
    match filter.name(b"CFM") {
        Some(b"V2") => Ok(Method::Rc4),
        Some(b"AESV2") => Ok(Method::AesV2),
        Some(b"AESV3") => Ok(Method::AesV3),
        Some(b"None") | None => Ok(Method::Identity),
        Some(other) => Err(format!(
            "unsupported crypt filter method /{}",
            String::from_utf8_lossy(other)
        )),
    }
}

/// The file key's length in bytes for R2-R4: /Length, else (V4) the stream filter's /Length,
/// which some writers give in bytes; 40 bits by default.
fn key_length(dict: &Dict, v: i64) -> usize {
    let from_filter = || {
        let cf = dict.dict(b"CF")?.dict(dict.name(b"StmF")?)?;
        let bits = cf.int(b"Length").unwrap_or(128);
        Some(if bits < 40 {
            bits.saturating_mul(8)
        } else {
            bits
        })
    };
    let bits = match v {
        1 => 40,
        4 => dict.int(b"Length").or_else(from_filter).unwrap_or(128),
        _ => dict.int(b"Length").unwrap_or(40),
    };
    usize::try_from(bits / 8).unwrap_or(5).clamp(5, 16)
}

/// Algorithm 2 with the empty password, then Algorithm 6 checks it against /U.
fn legacy_key(dict: &Dict, r: i64, n: usize, id: &[u8], metadata: bool) -> Result<Vec<u8>, String> {
    let o = dict
        .string(b"O")
        .and_then(|o| o.get(..32))
        .ok_or("/O missing or short")?;
    let u = dict.string(b"U").ok_or("/U missing")?;
    // /P is a signed 32-bit value; some writers give it unsigned.
    let p = dict.int(b"P").ok_or("/P missing")? as u32;
    let mut md = Md5::new();
    md.update(PAD);
    md.update(o);
    md.update(p.to_le_bytes());
    md.update(id);
    if r >= 4 && !metadata {
        md.update([0xFF; 4]);
    }
    let mut hash: [u8; 16] = md.finalize().into();
    let n = if r == 2 { 5 } else { n.min(16) };
    if r >= 3 {
        for _ in 0..50 {
            hash = Md5::digest(&hash[..n]).into();
        }
    }
    let key = hash[..n].to_vec();
    if user_matches(&key, r, u, id) {
        Ok(key)
    } else {
        Err("a user password is needed".into())
    }
}

/// Algorithms 4 and 5: what /U holds when the password that gave `key` is the user's.
fn user_matches(key: &[u8], r: i64, u: &[u8], id: &[u8]) -> bool {
    if r == 2 {
        return u.get(..32) == Some(&rc4(key, &PAD)[..]);
    }
    let mut md = Md5::new();
    md.update(PAD);
    md.update(id);
    let mut value = rc4(key, &md.finalize());
    for i in 1..=19u8 {
        let round: Vec<u8> = key.iter().map(|b| b ^ i).collect();
        value = rc4(&round, &value);
    }
    u.get(..16) == Some(&value[..])
}

/// R5 (SHA-256) and R6 (Algorithm 2.B): check the empty password with /U's validation salt,
/// then decrypt /UE with the hash of its key salt (Algorithm 2.A).
fn modern_key(dict: &Dict, r6: bool) -> Result<Vec<u8>, String> {
    let u = dict
        .string(b"U")
        .and_then(|u| u.get(..48))
        .ok_or("/U missing or short")?;
    let ue = dict
        .string(b"UE")
        .and_then(|u| u.get(..32))
        .ok_or("/UE missing or short")?;
    let hash = |salt: &[u8]| -> [u8; 32] {
        if r6 {
            hash_2b(salt)
        } else {
            Sha256::digest(salt).into()
        }
    };
    if hash(&u[32..40]) != u[..32] {
        return Err("a user password is needed".into());
    }
    let key = hash(&u[40..48]);
    let mut file = ue.to_vec();
    let dec = cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, &[0; 16]);
    decrypt_blocks(dec.map_err(|_| "bad AES key length")?, &mut file);
    Ok(file)
}

/// Algorithm 2.B (ISO 32000-2) for the empty password and no /U data: rounds of AES-128-CBC
/// and SHA-256/384/512 until at least 64 rounds ran and the last byte allows a stop.
fn hash_2b(salt: &[u8]) -> [u8; 32] {
    let mut k: Vec<u8> = Sha256::digest(salt).to_vec();
    // The stop test holds by round 288 (a byte is at most 255); the bound is a safeguard.
    for round in 1..=300u32 {
        let mut e = k.repeat(64);
        let enc = cbc::Encryptor::<aes::Aes128>::new_from_slices(&k[..16], &k[16..32]);
        if let Ok(mut enc) = enc {
            for chunk in e.chunks_exact_mut(16) {
                if let Ok(block) = <&mut aes::Block>::try_from(chunk) {
                    enc.encrypt_block(block);
                }
            }
        }
        // The first 16 bytes as a big number mod 3 equal their sum mod 3 (256 = 1 mod 3).
        let sum: u32 = e.iter().take(16).map(|&b| u32::from(b)).sum();
        k = match sum % 3 {
            0 => Sha256::digest(&e).to_vec(),
            1 => Sha384::digest(&e).to_vec(),
            _ => Sha512::digest(&e).to_vec(),
        };
        let last = u32::from(e.last().copied().unwrap_or(0));
        if round >= 64 && last + 32 <= round {
            break;
        }
    }
    let mut out = [0; 32];
    out.copy_from_slice(&k[..32]);
    out
}

/// RC4, the stream cipher of /V 1, 2 and the V2 crypt filter.
fn rc4(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    if !key.is_empty() {
        super::rc4::Rc4::new(key).apply(&mut out);
    }
    out
}

/// AES-CBC with the IV in the first 16 bytes; a trailing partial block is dropped and the
/// PKCS#5 padding removed when it is well formed (kept otherwise, as viewers do).
fn aes_cbc_decrypt(key: &[u8], data: &[u8]) -> Decrypted {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let (iv, body) = data
        .split_at_checked(16)
        .ok_or("AES data shorter than its IV")?;
    let mut out = body[..body.len() - body.len() % 16].to_vec();
    let bad = |_| "bad AES key length".to_string();
    match key.len() {
        16 => decrypt_blocks(
            cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv).map_err(bad)?,
            &mut out,
        ),
        32 => decrypt_blocks(
            cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv).map_err(bad)?,
            &mut out,
        ),
        n => return Err(format!("no AES key of {n} bytes")),
    }
    if let Some(&pad) = out.last() {
        let pad = usize::from(pad);
        let start = out.len().saturating_sub(pad);
        if (1..=16).contains(&pad)
            && pad <= out.len()
            && out[start..].iter().all(|&b| usize::from(b) == pad)
        {
            out.truncate(start);
        }
    }
    Ok(out)
}

/// Runs a CBC decryptor over the whole 16-byte blocks of `buf`, in place.
fn decrypt_blocks(
    mut mode: impl BlockModeDecrypt<BlockSize = aes::cipher::consts::U16>,
    buf: &mut [u8],
) {
    for chunk in buf.chunks_exact_mut(16) {
        if let Ok(block) = <&mut aes::Block>::try_from(chunk) {
            mode.decrypt_block(block);
        }
    }
}

mod objects;
#[cfg(test)]
mod tests;

pub(super) use self::objects::find_encryption;
use self::objects::*;
