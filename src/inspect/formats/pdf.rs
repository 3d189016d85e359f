//! PDF: every stream, decoded through its filters (Flate, LZW, ASCIIHex, ASCII85, RunLength;
//! image filters left as they are), as `objN.bin`: page content, JavaScript, object streams
//! (which hold other objects, their `/JS` strings among them), embedded files and attachments.
//! Streams are found as ClamAV finds them, by scanning for `stream` after an object's
//! dictionary, not through the cross-reference table: a broken or lying xref, incremental
//! updates and objects the table leaves out are all read. A stream that does not decode
//! delivers nothing to a viewer either: what decoded is the member, the rest is passed over.
//! A document encrypted with the Standard security handler and an empty user password (one any
//! viewer opens without asking: "protected" against printing or editing) is decrypted
//! (`pdf_crypt`); another encrypted document's streams cannot be read without its key: one
//! encrypted member, which `ARCHIVE_ENCRYPTED` decides.

use std::io::Read;

use memchr::memmem;

use super::pdf_crypt::{self, Key};
use super::{Flow, Format, Seen, Visitor, visit_encrypted, visit_plain};

/// A PDF says so in its first 1024 bytes, as Acrobat reads it.
pub const MAGIC: &[u8] = b"%PDF-";
const HEADER_WITHIN: usize = 1024;
/// The most a stream's filters may chain.
const MAX_FILTERS: usize = 8;

/// True when `bytes` hold `%PDF-` and a version digit in their first 1024 bytes.
pub(super) fn starts(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(HEADER_WITHIN)];
    memmem::find(head, MAGIC).is_some_and(|at| head.get(at + 5).is_some_and(u8::is_ascii_digit))
}

/// Walks every stream of the PDF `bytes`.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Seen {
    let mut seen = Seen::default();
    seen.header(Format::Pdf, 0..0);
    let key = match pdf_crypt::find_encryption(bytes) {
        None => None,
        Some((dictionary, id)) => match pdf_crypt::empty_password(&dictionary, &id) {
            Ok(key) => Some(key),
            Err(_) => {
                visit_encrypted(visit, "(encrypted streams)".into());
                return seen;
            }
        },
    };
    for (n, at) in memmem::find_iter(bytes, b"stream").enumerate() {
        let Some(stream) = stream_at(bytes, at) else {
            continue;
        };
        let plain;
        let data = match (&key, stream.object) {
            (Some(key), Some(object)) if stream.encrypted(key) => {
                match stream.decrypt(key, object, bytes) {
                    Ok(decrypted) => {
                        plain = decrypted;
                        plain.as_slice()
                    }
                    // What does not decrypt delivers nothing to a viewer either.
                    Err(_) => continue,
                }
            }
            _ => &bytes[stream.data.clone()],
        };
        let Some(mut reader) = decode(&stream.filters, data) else {
            continue;
        };
        let name = match stream.object {
            Some((number, _)) => format!("obj{number}.bin"),
            None => format!("stream{n}.bin"),
        };
        if visit_plain(visit, name, &mut reader) == Flow::Stop {
            break;
        }
    }
    seen
}

/// One stream: its object's number and generation, its dictionary's type and filters, where
/// its data lies.
struct Stream {
    object: Option<(u32, u16)>,
    kind: Option<String>,
    filters: Vec<String>,
    data: std::ops::Range<usize>,
}

impl Stream {
    /// True when a document encrypted with `key` encrypts this stream: all but its
    /// cross-reference streams, its metadata when the key leaves metadata alone, and streams
    /// that name their own `/Crypt` filter (writers use it for `/Identity`: left as stored).
    fn encrypted(&self, key: &Key) -> bool {
        match self.kind.as_deref() {
            Some("XRef") => false,
            Some("Metadata") => key.encrypts_metadata(),
            _ => self.filters.first().is_none_or(|f| f != "Crypt"),
        }
    }

    /// Its data in `bytes` decrypted with `key` for `object` (embedded files may have their
    /// own crypt filter).
    fn decrypt(
        &self,
        key: &Key,
        (number, generation): (u32, u16),
        bytes: &[u8],
    ) -> Result<Vec<u8>, String> {
        let data = &bytes[self.data.clone()];
        match self.kind.as_deref() {
            Some("EmbeddedFile") => key.decrypt_embedded(number, generation, data),
            _ => key.decrypt(number, generation, data),
        }
    }
}

/// The stream whose `stream` keyword is at `at`, if it is one: after a dictionary's `>>`,
/// and followed by an end of line.
fn stream_at(bytes: &[u8], at: usize) -> Option<Stream> {
    let before = bytes[..at].trim_ascii_end();
    if !before.ends_with(b">>") || bytes[..at].ends_with(b"end") {
        return None;
    }
    let mut start = at + b"stream".len();
    start += match bytes.get(start..start + 2) {
        Some(b"\r\n") => 2,
        Some([b'\n', _]) | Some([b'\r', _]) => 1,
        _ => return None,
    };
    let object = before
        .windows(3)
        .rposition(|w| w == b"obj")
        .map_or(0, |o| o + 3);
    let dictionary = &before[object..];
    let end = data_end(bytes, start, dictionary);
    Some(Stream {
        object: object_id(&before[..object.saturating_sub(3)]),
        kind: name_after(dictionary, b"/Type"),
        filters: filters(dictionary),
        data: start..end,
    })
}

/// Where a stream's data ends: at its direct `/Length` when `endstream` follows there, else
/// at the next `endstream` (or the end of the bytes).
fn data_end(bytes: &[u8], start: usize, dictionary: &[u8]) -> usize {
    if let Some(length) = direct_length(dictionary) {
        let end = start.saturating_add(length);
        if bytes
            .get(end..)
            .is_some_and(|rest| rest.trim_ascii_start().starts_with(b"endstream"))
        {
            return end;
        }
    }
    memmem::find(&bytes[start..], b"endstream").map_or(bytes.len(), |e| start + e)
}

/// A dictionary's `/Length`, when it is a number (not a reference).
fn direct_length(dictionary: &[u8]) -> Option<usize> {
    let at = memmem::find(dictionary, b"/Length")? + b"/Length".len();
    let rest = dictionary[at..].trim_ascii_start();
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let after = rest[digits..].trim_ascii_start();
    // `5 0 R` is a reference: the number is an object's, not the length.
    if after.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The number and generation of the `N G obj` line that ends `before`.
fn object_id(before: &[u8]) -> Option<(u32, u16)> {
    let mut words = before.trim_ascii_end().rsplit(|b| b.is_ascii_whitespace());
    let generation = std::str::from_utf8(words.next()?).ok()?.parse().ok()?;
    let number = std::str::from_utf8(words.next()?).ok()?.parse().ok()?;
    Some((number, generation))
}

/// The name a dictionary gives `key` (`/Type /XRef` → `XRef`).
fn name_after(dictionary: &[u8], key: &[u8]) -> Option<String> {
    let at = memmem::find(dictionary, key)? + key.len();
    let rest = dictionary[at..].trim_ascii_start().strip_prefix(b"/")?;
    let end = rest
        .iter()
        .position(|b| b.is_ascii_whitespace() || b"<>[]()/".contains(b))
        .unwrap_or(rest.len());
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// The names of a dictionary's `/Filter`, a name or an array of them.
fn filters(dictionary: &[u8]) -> Vec<String> {
    let Some(at) = memmem::find(dictionary, b"/Filter") else {
        return Vec::new();
    };
    let rest = dictionary[at + b"/Filter".len()..].trim_ascii_start();
    let value = match rest.first() {
        Some(b'[') => &rest[1..rest.iter().position(|b| *b == b']').unwrap_or(rest.len())],
        _ => rest,
    };
    let single = rest.first() != Some(&b'[');
    let names = value
        .split(|b| *b == b'/')
        .skip(1)
        .map(|n| {
            n.split(|b| b.is_ascii_whitespace() || b"<>[]()/".contains(b))
                .next()
                .unwrap_or(n)
        })
        .map(|n| String::from_utf8_lossy(n).into_owned());
    names.take(if single { 1 } else { MAX_FILTERS }).collect()
}

/// A reader of `data` through `filters` in order; `None` when an image filter or one this
/// reader does not know is among them (the stored bytes are scanned with the document).
/// Flate is decoded as it is read; the other filters decode in memory, their input capped at
/// what decoders may hold ([`DECODER_MEMORY_KIB`](super::DECODER_MEMORY_KIB)): past it, the
/// stream is not decoded in full (`Unscannable`). A decoding error ends the stream where it
/// is, as it ends a viewer's: what did not decode is delivered to no one.
fn decode<'a>(filters: &[String], data: &'a [u8]) -> Option<Box<dyn Read + 'a>> {
    let mut reader: Box<dyn Read + 'a> = Box::new(data);
    for filter in filters {
        reader = match filter.as_str() {
            "FlateDecode" | "Fl" => Box::new(Lenient(inflate(reader))),
            "LZWDecode" | "LZW" => in_memory(reader, lzw),
            "ASCIIHexDecode" | "AHx" => in_memory(reader, ascii_hex),
            "ASCII85Decode" | "A85" => in_memory(reader, ascii85),
            "RunLengthDecode" | "RL" => in_memory(reader, run_length),
            _ => return None,
        };
    }
    Some(reader)
}

/// zlib, or raw deflate when what follows is no zlib header (some writers leave it out).
fn inflate<'a>(reader: Box<dyn Read + 'a>) -> Box<dyn Read + 'a> {
    let mut buffered = std::io::BufReader::new(reader);
    let head = std::io::BufRead::fill_buf(&mut buffered).unwrap_or_default();
    let zlib = head.len() >= 2
        && head[0] & 0x0f == 8
        && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
    match zlib {
        true => Box::new(flate2::bufread::ZlibDecoder::new(buffered)),
        false => Box::new(flate2::bufread::DeflateDecoder::new(buffered)),
    }
}

/// A filter decoded in memory: its whole input read (up to the decoders' cap), then decoded.
fn in_memory<'a>(reader: Box<dyn Read + 'a>, filter: fn(&[u8]) -> Vec<u8>) -> Box<dyn Read + 'a> {
    let cap = super::DECODER_MEMORY_KIB as u64 * 1024;
    let mut input = Vec::new();
    match reader.take(cap + 1).read_to_end(&mut input) {
        Ok(n) if n as u64 > cap => {
            Box::new(Failed("its filters' input is over the decoders' limit"))
        }
        Ok(_) => Box::new(std::io::Cursor::new(filter(&input))),
        Err(e) => Box::new(Failed(if e.kind() == std::io::ErrorKind::OutOfMemory {
            "its filters' input is over the decoders' limit"
        } else {
            "it does not decode"
        })),
    }
}

/// A stream that cannot be decoded in full, for the reason given.
struct Failed(&'static str);

impl Read for Failed {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(std::io::ErrorKind::OutOfMemory, self.0))
    }
}

/// Ends the stream at a decoding error (a viewer shows what decoded before it), but passes
/// on the decoders' cap, past which the stream would go on.
struct Lenient<R>(R);

impl<R: Read> Read for Lenient<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf) {
            Err(e) if e.kind() != std::io::ErrorKind::OutOfMemory => Ok(0),
            other => other,
        }
    }
}

/// PDF's LZW: most significant bit first, code size growing one code early; what decoded
/// before an error.
fn lzw(data: &[u8]) -> Vec<u8> {
    let mut decoder = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
    let mut out = Vec::new();
    let _ = decoder.into_stream(&mut out).decode_all(data).status;
    out
}

fn ascii_hex(data: &[u8]) -> Vec<u8> {
    let digits: Vec<u8> = data
        .iter()
        .copied()
        .take_while(|b| *b != b'>')
        .filter(u8::is_ascii_hexdigit)
        .collect();
    digits
        .chunks(2)
        .filter_map(|pair| {
            let text = std::str::from_utf8(pair).ok()?;
            let padded = if pair.len() == 1 {
                format!("{text}0")
            } else {
                text.to_owned()
            };
            u8::from_str_radix(&padded, 16).ok()
        })
        .collect()
}

/// ASCII85: groups of five characters from `!` for four bytes, `z` for four zeros, `~>` ends.
fn ascii85(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut group = Vec::with_capacity(5);
    let body = data.strip_prefix(b"<~").unwrap_or(data);
    for &c in body {
        match c {
            b'~' => break,
            b'z' if group.is_empty() => out.extend_from_slice(&[0; 4]),
            b'!'..=b'u' => group.push(u32::from(c - b'!')),
            _ => continue,
        }
        if group.len() == 5 {
            let n = group
                .iter()
                .fold(0u32, |n, d| n.wrapping_mul(85).wrapping_add(*d));
            out.extend_from_slice(&n.to_be_bytes());
            group.clear();
        }
    }
    if group.len() > 1 {
        let kept = group.len() - 1;
        group.resize(5, 84);
        let n = group
            .iter()
            .fold(0u32, |n, d| n.wrapping_mul(85).wrapping_add(*d));
        out.extend_from_slice(&n.to_be_bytes()[..kept]);
    }
    out
}

/// RunLength: a length byte, then that many + 1 literal bytes (0–127) or one byte repeated
/// 257 − length times (129–255); 128 ends.
fn run_length(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut input = data.iter().copied();
    while let Some(len) = input.next() {
        match len {
            128 => break,
            0..=127 => out.extend(input.by_ref().take(usize::from(len) + 1)),
            _ => {
                let Some(b) = input.next() else { break };
                out.extend(std::iter::repeat_n(b, 257 - usize::from(len)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deflate(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn read(mut reader: Box<dyn Read + '_>) -> Vec<u8> {
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn streams_are_found_and_decoded_through_their_filters() {
        let flate = deflate(b"hidden text");
        let pdf = [
            &b"%PDF-1.4\n1 0 obj\n<< /Length 5 0 R /Filter /FlateDecode >>\nstream\n"[..],
            &flate,
            b"\nendstream\nendobj\n7 0 obj\n<</Filter[/AHx /Fl]/Length 9>>stream\r\n",
            hex::encode(deflate(b"two")).as_bytes(),
            b">\nendstream endobj\n",
        ]
        .concat();
        type Found = (Option<(u32, u16)>, Vec<u8>);
        let found: Vec<Found> = memmem::find_iter(&pdf, b"stream")
            .filter_map(|at| stream_at(&pdf, at))
            .map(|s| (s.object, read(decode(&s.filters, &pdf[s.data]).unwrap())))
            .collect();
        assert_eq!(
            found,
            [
                (Some((1, 0)), b"hidden text".to_vec()),
                (Some((7, 0)), b"two".to_vec())
            ]
        );
    }

    #[test]
    fn the_ascii_and_run_length_filters_decode() {
        assert_eq!(ascii_hex(b"48 65 6c6C 6>"), b"Hell`");
        assert_eq!(ascii85(b"<~87cURD]i,\"Ebo80~>"), b"Hello World!");
        assert_eq!(ascii85(b"z"), [0; 4]);
        assert_eq!(
            run_length(&[2, b'a', b'b', b'c', 254, b'x', 128]),
            b"abcxxx"
        );
        assert!(
            decode(&["DCTDecode".into()], b"jpeg").is_none(),
            "images are left alone"
        );
        let broken = [deflate(b"shown"), b"garbage".to_vec()].concat();
        assert_eq!(read(decode(&["Fl".into()], &broken).unwrap()), b"shown");
        assert_eq!(
            filters(b"<</Filter [/ASCII85Decode/FlateDecode] /Length 3>>"),
            ["ASCII85Decode", "FlateDecode"]
        );
        assert!(starts(b"junk\n%PDF-1.7\n") && !starts(b"%PDF-x"));
    }
}
