//! HTML (and SVG and other markup): the files its `data:` URIs carry (`href`, `src`, CSS
//! `url(…)`, script strings), decoded from base64 or percent-encoding, as the browser that
//! opens or downloads them would (HTML smuggling). Each is a member named `dataN` with the
//! media type's subtype as extension.

use base64::Engine as _;

use super::{Flow, Format, Seen, Visitor, visit_plain};

/// How far into the bytes the first tag is looked for.
const SNIFF_LEN: usize = 1024;
/// The characters that end a URI in markup, script or CSS.
const ENDS: &[u8] = b"\"'`)<> \t\r\n";

/// True when `bytes` start as markup does: past white space (and a UTF-8 byte order mark),
/// a `<` then a letter, `!` or `?`; and hold a `data:` URI somewhere.
pub(super) fn starts(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let Some(first) = head.iter().position(|b| !b.is_ascii_whitespace()) else {
        return false;
    };
    let tag = head[first..].starts_with(b"<")
        && head
            .get(first + 1)
            .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'!' || *b == b'?');
    tag && memchr::memmem::find(bytes, b"data:").is_some()
}

/// Walks the files the `data:` URIs of the markup `bytes` carry.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Seen {
    let mut seen = Seen::default();
    seen.header(Format::Html, 0..0);
    let mut n = 0;
    for at in memchr::memmem::find_iter(bytes, b"data:") {
        let rest = &bytes[at + 5..];
        let Some(comma) = rest.iter().take(256).position(|b| *b == b',') else {
            continue;
        };
        let header = String::from_utf8_lossy(&rest[..comma]).to_ascii_lowercase();
        if header.bytes().any(|b| ENDS.contains(&b)) {
            continue;
        }
        let body = &rest[comma + 1..];
        let body = &body[..body
            .iter()
            .position(|b| ENDS.contains(b))
            .unwrap_or(body.len())];
        n += 1;
        let name = format!("data{n}.{}", extension(&header));
        // A URI that does not decode delivers nothing: browsers refuse it too.
        let Ok(data) = decode(&header, body) else {
            continue;
        };
        let flow = visit_plain(visit, name, &mut data.as_slice());
        if flow == Flow::Stop {
            break;
        }
    }
    seen
}

/// A `data:` URI's bytes: base64 when its header ends `;base64` (white space and a missing
/// padding accepted, as browsers' forgiving base64 does), percent-decoded otherwise.
fn decode(header: &str, body: &[u8]) -> Result<Vec<u8>, String> {
    if !header.ends_with(";base64") {
        return Ok(percent_encoding::percent_decode(body).collect());
    }
    let clean: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .collect();
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&clean)
        .map_err(|e| format!("its base64 does not decode: {e}"))
}

/// The extension a media type's subtype gives (`application/x-msdownload` → `x-msdownload`),
/// kept to letters, digits and dashes.
fn extension(header: &str) -> String {
    let subtype = header
        .split(';')
        .next()
        .and_then(|t| t.split('/').nth(1))
        .unwrap_or("bin");
    let clean: String = subtype
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(32)
        .collect();
    if clean.is_empty() {
        "bin".into()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_with_a_data_uri_is_told() {
        assert!(starts(b"\xef\xbb\xbf  <a href=\"data:,x\">"));
        assert!(starts(
            b"<!DOCTYPE html><img src='data:image/png;base64,AA'>"
        ));
        assert!(!starts(b"<html>no uri</html>"));
        assert!(!starts(b"text <a href=\"data:,x\">"));
    }

    #[test]
    fn data_uris_decode_as_browsers_decode_them() {
        assert_eq!(decode(";base64", b"TVpQ\nAA").unwrap(), b"MZP\0");
        assert_eq!(decode("text/plain", b"a%20b").unwrap(), b"a b");
        assert!(decode(";base64", b"!!!!").is_err());
        assert_eq!(extension("application/x-msdownload;base64"), "x-msdownload");
        assert_eq!(extension(""), "bin");
    }
}
