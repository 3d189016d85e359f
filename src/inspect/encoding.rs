//! HTTP content codings: an object stored with `Content-Encoding` reaches browsers and HTTP
//! clients (and CloudFront, which passes the header on) decoded, so its decoded bytes are
//! scanned as well as the stored ones. The codings here are those clients decode; a list is
//! applied in order, so it is undone from its last coding to its first.

use std::io::Read;

use super::formats::{GzipMembers, Parts};
use crate::object::NO_CODING;

/// A content coding the scanner decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::VariantArray)]
pub enum Coding {
    /// `gzip` (and its old name `x-gzip`): gzip members, concatenated (zero bytes after the
    /// last end them, as `gzip -d` reads them).
    Gzip,
    /// `deflate`: a zlib stream, or a raw deflate stream (which browsers accept too).
    Deflate,
    /// `br`: Brotli.
    Brotli,
    /// `zstd`: Zstandard frames.
    Zstd,
}

impl Coding {
    /// Every coding, in the order their names are listed.
    pub const ALL: &'static [Coding] = <Coding as strum::VariantArray>::VARIANTS;

    /// The names `Content-Encoding` gives it.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Coding::Gzip => &["gzip", "x-gzip"],
            Coding::Deflate => &["deflate"],
            Coding::Brotli => &["br"],
            Coding::Zstd => &["zstd"],
        }
    }

    /// Its name, as member paths give it.
    pub fn name(self) -> &'static str {
        self.names()[0]
    }

    /// A reader of `bytes` decoded; gzip's members are noted in `parts` as they are decoded.
    pub fn decoder<'a>(self, bytes: &'a [u8], parts: &'a Parts) -> Box<dyn Read + 'a> {
        match self {
            Coding::Gzip => Box::new(GzipMembers::new(bytes, false, Some(parts))),
            Coding::Deflate if is_zlib(bytes) => Box::new(flate2::read::ZlibDecoder::new(bytes)),
            Coding::Deflate => Box::new(flate2::read::DeflateDecoder::new(bytes)),
            Coding::Brotli => Box::new(brotli::Decompressor::new(bytes, 64 * 1024)),
            Coding::Zstd => match zstd::stream::read::Decoder::with_buffer(bytes) {
                Ok(decoder) => Box::new(decoder),
                Err(e) => Box::new(Failing(Some(e))),
            },
        }
    }
}

/// A `Content-Encoding` the scanner does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Content-Encoding `{0}` is not one the scanner decodes ({known}); only its stored bytes were scanned",
    known = known_names()
)]
pub struct Unknown(pub String);

/// Every token understood, for messages.
fn known_names() -> String {
    let codings = Coding::ALL.iter().flat_map(|c| c.names().iter().copied());
    codings.chain(NO_CODING).collect::<Vec<_>>().join(", ")
}

/// The codings a `Content-Encoding` value lists, in the order they were applied; tokens
/// are compared without regard to case, as HTTP's are.
pub fn parse(value: &str) -> Result<Vec<Coding>, Unknown> {
    let mut codings = Vec::new();
    for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if NO_CODING.iter().any(|n| n.eq_ignore_ascii_case(token)) {
            continue;
        }
        let coding = (Coding::ALL.iter().copied())
            .find(|c| c.names().iter().any(|n| n.eq_ignore_ascii_case(token)))
            .ok_or_else(|| Unknown(token.to_owned()))?;
        codings.push(coding);
    }
    Ok(codings)
}

/// True when `bytes` start with a zlib header (RFC 1950: deflate, a window of at most 32 KiB,
/// and a check that makes the first two bytes a multiple of 31), as browsers tell it.
fn is_zlib(bytes: &[u8]) -> bool {
    match bytes {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

/// A reader that fails at once with the error its decoder could not be built for.
struct Failing(Option<std::io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| std::io::Error::other("no decoder")))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn decoded(coding: Coding, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        coding
            .decoder(bytes, &Parts::default())
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn lists_are_read_in_the_order_applied_and_known_tokens_only() {
        assert_eq!(parse("gzip"), Ok(vec![Coding::Gzip]));
        assert_eq!(parse("X-GZIP"), Ok(vec![Coding::Gzip]));
        assert_eq!(
            parse(" gzip , br,identity"),
            Ok(vec![Coding::Gzip, Coding::Brotli])
        );
        assert_eq!(parse("aws-chunked,zstd"), Ok(vec![Coding::Zstd]));
        assert_eq!(parse(""), Ok(vec![]));
        let unknown = parse("gzip, compress").unwrap_err();
        assert_eq!(unknown, Unknown("compress".into()));
        let said = unknown.to_string();
        assert!(
            said.contains("gzip, x-gzip, deflate, br, zstd, identity, aws-chunked"),
            "{said}"
        );
    }

    #[test]
    fn deflate_is_zlib_or_raw_as_browsers_read_it() {
        let text = b"hello, hello, hello";
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(text).unwrap();
        let zlib = zlib.finish().unwrap();
        assert!(is_zlib(&zlib));
        assert_eq!(decoded(Coding::Deflate, &zlib), text);
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        raw.write_all(text).unwrap();
        let raw = raw.finish().unwrap();
        assert!(!is_zlib(&raw));
        assert_eq!(decoded(Coding::Deflate, &raw), text);
    }

    #[test]
    fn brotli_and_zstd_decode() {
        let text = b"brotli and zstd, both";
        let mut br = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
        br.write_all(text).unwrap();
        assert_eq!(decoded(Coding::Brotli, &br.into_inner()), text);
        assert_eq!(
            decoded(Coding::Zstd, &zstd::encode_all(&text[..], 1).unwrap()),
            text
        );
        let mut out = Vec::new();
        assert!(
            Coding::Zstd
                .decoder(b"not zstd", &Parts::default())
                .read_to_end(&mut out)
                .is_err()
        );
    }
}
