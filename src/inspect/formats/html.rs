//! HTML (and SVG and other markup): the files its `data:` URIs carry (`href`, `src`, CSS
//! `url(…)`, script strings), decoded from base64 or percent-encoding, as the browser that
//! opens or downloads them would (HTML smuggling). Each is a member named `dataN` with the
//! media type's subtype as extension. Also the long base64 strings of its scripts, which a
//! script hands to `atob` to build a file the same way: each is a member `scriptN.b64`.

use base64::Engine as _;

use super::{Flow, Format, Seen, Visitor, visit_plain};

/// How far into the bytes the first tag is looked for.
const SNIFF_LEN: usize = 1024;
/// The characters that end a URI in markup, script or CSS.
const ENDS: &[u8] = b"\"'`)<> \t\r\n";
/// The shortest string in a script taken for an encoded file: 48 bytes or more once decoded
/// (shorter ones are keys, hashes and identifiers).
const BLOB_MIN: usize = 64;

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
    tag && (memchr::memmem::find(bytes, b"data:").is_some() || blobs(bytes).next().is_some())
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
            return seen;
        }
    }
    for (n, blob) in blobs(bytes).enumerate() {
        let name = format!("script{}.b64", n + 1);
        if visit_plain(visit, name, &mut blob.as_slice()) == Flow::Stop {
            break;
        }
    }
    seen
}

/// The long base64 strings (quoted with `"`, `'` or `` ` ``) inside the `<script>` elements of
/// `bytes`, decoded; strings that do not decode are no files.
fn blobs(bytes: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    scripts(bytes).into_iter().flat_map(|script| {
        script
            .split(|b| matches!(b, b'"' | b'\'' | b'`'))
            .skip(1)
            .step_by(2)
            .filter(|s| s.len() >= BLOB_MIN && s.iter().all(|b| is_base64(*b)))
            .filter_map(|s| decode(";base64", s).ok())
            .collect::<Vec<_>>()
    })
}

/// The text of each `<script …>` element of `bytes` (to its `</script`, or the end).
fn scripts(bytes: &[u8]) -> Vec<&[u8]> {
    let lower = bytes.to_ascii_lowercase();
    memchr::memmem::find_iter(&lower, b"<script")
        .map(|at| {
            let body = memchr::memchr(b'>', &lower[at..]).map_or(lower.len(), |gt| at + gt + 1);
            let end =
                memchr::memmem::find(&lower[body..], b"</script").map_or(lower.len(), |e| body + e);
            &bytes[body..end]
        })
        .collect()
}

/// A character of standard base64 or its padding.
fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')
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

    #[test]
    fn long_base64_strings_in_scripts_are_files_and_others_are_not() {
        let file = vec![0x4d; 60];
        let encoded = base64::engine::general_purpose::STANDARD.encode(&file);
        let page = format!(
            "<html><SCRIPT type='x'>var a = \"{encoded}\"; var k = 'c2hvcnQ=';\
             var w = \"{} not base64!\";</SCRIPT><p>'{encoded}'</p><script>`{encoded}`",
            "x".repeat(80)
        );
        assert!(starts(page.as_bytes()));
        let found: Vec<Vec<u8>> = blobs(page.as_bytes()).collect();
        // The string outside a script is text; the one in the unclosed script counts.
        assert_eq!(found, [file.clone(), file]);
        assert!(!starts(b"<html><script>var k = 'c2hvcnQ=';</script>"));
    }

    #[test]
    fn eicar_smuggled_by_a_script_is_found_by_the_walk() {
        use crate::inspect::tests::{EICAR, labels, limits, look};
        let encoded = base64::engine::general_purpose::STANDARD.encode(EICAR);
        let page = format!("<html><script>const b = atob(\"{encoded}\");</script></html>");
        let found = look(page.as_bytes(), "page.html", &limits());
        assert_eq!(
            labels(&found),
            ["page.html>script1.b64:EICAR_Test_File"],
            "{found:?}"
        );
    }
}
