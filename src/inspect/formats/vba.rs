//! VBA macro source, as Office stores it in a project's module streams (`Macros/VBA/Module1`,
//! `VBA/ThisDocument`): after a cache of compiled code, the source compressed with MS-OVBA's
//! algorithm. Found as olevba finds it when the `dir` stream is not read: the compressed
//! container whose first chunk starts with the literal `Attribut` (every module's source
//! starts `Attribute VB_Name`). Decompressed, it is the member rules read (`Module1.vba`).

use memchr::memmem;

/// The bytes before a module's source: a container's signature (1), a chunk header (2), a
/// flag byte of eight literals (0), then the literals themselves.
const SOURCE_START: &[u8] = b"\x00Attribut";
/// The most source one module may decompress to (the decoders' cap).
const MAX_SOURCE: usize = super::DECODER_MEMORY_KIB * 1024;

/// True when a stream at `path` may be a VBA module's: inside a `VBA` storage, and not one of
/// the project's own streams.
pub(super) fn is_module(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    let name = parts.next().unwrap_or_default();
    let storage = parts.next().unwrap_or_default();
    storage.eq_ignore_ascii_case("VBA")
        && !["dir", "_VBA_PROJECT", "PROJECT", "PROJECTwm"]
            .iter()
            .any(|own| name.eq_ignore_ascii_case(own))
        && !name.starts_with("__SRP_")
}

/// The source a module stream holds, decompressed; `None` when it holds none.
pub(super) fn source(stream: &[u8]) -> Option<Vec<u8>> {
    let at = memmem::find(stream, SOURCE_START)?.checked_sub(3)?;
    (stream[at] == 1).then(|| decompress(&stream[at + 1..]))
}

/// MS-OVBA 2.4.1: chunks of a 2-byte header (size less 3 in its low 12 bits, bit 15 set when
/// compressed); a compressed chunk is flag bytes each followed by 8 tokens, a literal byte
/// (flag bit 0) or a copy token (1) whose offset and length split its 16 bits by how far
/// into the chunk's 4 KiB of output it is. What decoded before damage is kept.
pub(super) fn decompress(mut input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while input.len() >= 2 && out.len() < MAX_SOURCE {
        let header = u16::from_le_bytes([input[0], input[1]]);
        let size = (usize::from(header & 0x0fff) + 3).min(input.len());
        let chunk = &input[2..size];
        input = &input[size..];
        if header & 0x8000 == 0 {
            out.extend_from_slice(chunk);
            continue;
        }
        if !chunk_into(chunk, &mut out) {
            break;
        }
    }
    out.truncate(MAX_SOURCE);
    out
}

/// Decompresses one chunk onto `out`; false at a copy token that reaches before the chunk.
fn chunk_into(chunk: &[u8], out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let mut bytes = chunk.iter().copied();
    while let Some(flags) = bytes.next() {
        for bit in 0..8 {
            if flags >> bit & 1 == 0 {
                let Some(b) = bytes.next() else { return true };
                out.push(b);
                continue;
            }
            let (Some(lo), Some(hi)) = (bytes.next(), bytes.next()) else {
                return true;
            };
            let token = usize::from(u16::from_le_bytes([lo, hi]));
            let written = out.len() - start;
            let bits = (usize::BITS - written.saturating_sub(1).leading_zeros()).max(4) as usize;
            let (offset, length) = ((token >> (16 - bits)) + 1, (token & (0xffff >> bits)) + 3);
            let Some(from) = out.len().checked_sub(offset).filter(|f| *f >= start) else {
                return false;
            };
            for i in 0..length {
                out.push(out[from + i]);
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_example_decompresses() {
        // MS-OVBA 3.2.3, its example of a compressed container.
        let compressed = [
            0x01, 0x2f, 0xb0, 0x00, 0x23, 0x61, 0x61, 0x61, 0x62, 0x63, 0x64, 0x65, 0x82, 0x66,
            0x00, 0x70, 0x61, 0x67, 0x68, 0x69, 0x6a, 0x01, 0x38, 0x08, 0x61, 0x6b, 0x6c, 0x00,
            0x30, 0x6d, 0x6e, 0x6f, 0x70, 0x06, 0x71, 0x02, 0x70, 0x04, 0x10, 0x72, 0x73, 0x74,
            0x75, 0x76, 0x10, 0x77, 0x78, 0x79, 0x7a, 0x00, 0x3c,
        ];
        assert_eq!(
            decompress(&compressed[1..]),
            b"#aaabcdefaaaaghijaaaaaklaaamnopqaaaaaaaaaaaarstuvwxyzaaa"
        );
    }

    #[test]
    fn module_streams_are_told_from_the_projects_own() {
        assert!(is_module("Macros/VBA/Module1") && is_module("VBA/ThisDocument"));
        assert!(!is_module("Macros/VBA/dir") && !is_module("VBA/__SRP_0"));
        assert!(!is_module("WordDocument") && !is_module("Macros/PROJECT"));
    }
}
