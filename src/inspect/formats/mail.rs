//! Mail: an RFC 822 / MIME message (`.eml`), or an mbox of them. Every leaf part is a member,
//! decoded from its transfer encoding (base64, quoted-printable) as the mail client that
//! opens it would: attachments under their file names, bodies as `partN.txt`/`.html`, a
//! nested `message/rfc822` as `partN.eml` (walked again as mail). Uuencoded files inside a
//! part (`begin 644 name` … `end`, as old clients and `x-uuencode` parts carry them) are
//! members too. Parsing is the `mail-parser` crate's; it reads any bytes, so a damaged
//! message is never refused: a part whose encoding does not decode is a problem.

use mail_parser::{Encoding, MessageParser, MimeHeaders, PartType};

use super::{Flow, Format, Problem, Seen, Visitor, visit_plain};

/// The header fields one of which a mail's first header block must have: what every mail
/// client and MTA writes, and what other `Name: value` texts (HTTP dumps, configs) lack.
const MAIL_FIELDS: [&str; 8] = [
    "from",
    "received",
    "return-path",
    "message-id",
    "mime-version",
    "delivered-to",
    "subject",
    "x-mailer",
];
/// How far into the bytes the first header block is looked for.
const SNIFF_LEN: usize = 4096;

/// True when `bytes` start as a mail does: an mbox `From ` line or not, then a block of at
/// least two header fields, one of them a mail's, ended by an empty line.
pub(super) fn starts(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    let mut lines = head.split(|b| *b == b'\n').peekable();
    if lines.peek().is_some_and(|l| l.starts_with(b"From ")) {
        lines.next();
    }
    let (mut fields, mut mail) = (0, false);
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return fields >= 2 && mail;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if fields == 0 {
                return false;
            }
            continue;
        }
        let Some(name) = field_name(line) else {
            return false;
        };
        fields += 1;
        mail |= MAIL_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(name));
    }
    false
}

/// The name of the header field `line` starts, if it is one (printable, no spaces, a colon).
fn field_name(line: &[u8]) -> Option<&str> {
    let colon = line.iter().position(|b| *b == b':')?;
    let name = &line[..colon];
    let printable = |b: &u8| (33..=126).contains(b);
    (!name.is_empty() && name.iter().all(printable))
        .then(|| std::str::from_utf8(name).ok())
        .flatten()
}

/// Walks every part of the mail (or mbox) `bytes`.
pub(super) fn walk(bytes: &[u8], visit: &mut dyn Visitor) -> Seen {
    let mut seen = Seen::default();
    seen.header(Format::Mail, 0..0);
    if bytes.starts_with(b"From ") {
        let messages = mbox_messages(bytes);
        if messages.len() > 1 {
            for (i, range) in messages.into_iter().enumerate() {
                let mut message = &bytes[range];
                if visit_plain(visit, format!("message{}.eml", i + 1), &mut message) == Flow::Stop {
                    break;
                }
            }
            return seen;
        }
    }
    parts(bytes, &mut seen, visit);
    seen
}

/// Where each message of an mbox lies: from one `From ` line at the start of a line to the
/// next.
fn mbox_messages(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut starts = vec![0];
    starts.extend(memchr::memmem::find_iter(bytes, b"\nFrom ").map(|at| at + 1));
    let ends = starts.iter().skip(1).copied().chain([bytes.len()]);
    starts.iter().zip(ends).map(|(s, e)| *s..e).collect()
}

/// Hands each leaf part of one message to `visit`.
fn parts(bytes: &[u8], seen: &mut Seen, visit: &mut dyn Visitor) {
    let parsed = super::guarded(|| Ok(MessageParser::default().parse(bytes)));
    let Ok(Some(message)) = parsed else {
        visit.problem(Problem::broken(None, "no message in the bytes"));
        return;
    };
    for (i, part) in message.parts.iter().enumerate() {
        let name = match part.attachment_name() {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => format!("part{i}.{}", extension(&part.body)),
        };
        if part.is_multipart() {
            continue;
        }
        // A text part in a charset it does not hold is still its bytes; only a transfer
        // encoding that does not decode leaves the part unread.
        if part.is_encoding_problem && part.encoding != Encoding::None {
            let why = format!("its {:?} encoding does not decode", part.encoding);
            if visit.problem(Problem::broken(Some(name.clone()), why)) == Flow::Stop {
                return;
            }
        }
        let body = part.offset_body as usize..part.offset_end as usize;
        let mut contents = part.contents();
        if part.encoding == Encoding::None && !part.is_text() && !part.is_message() {
            seen.content(body);
        }
        let uuencoded = uuencoded(contents);
        if visit_plain(visit, name.clone(), &mut contents) == Flow::Stop {
            return;
        }
        for (file, data) in uuencoded {
            if visit_plain(visit, format!("{name}>{file}"), &mut data.as_slice()) == Flow::Stop {
                return;
            }
        }
    }
}

/// The extension a part without a file name is shown with.
fn extension(body: &PartType<'_>) -> &'static str {
    match body {
        PartType::Text(_) => "txt",
        PartType::Html(_) => "html",
        PartType::Binary(_) | PartType::InlineBinary(_) => "bin",
        PartType::Message(_) => "eml",
        PartType::Multipart(_) => "multipart",
    }
}

/// The files uuencoded in `text`: each `begin MODE NAME` line to its `end`, decoded. A block
/// cut short gives what it had.
fn uuencoded(text: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut lines = text
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    while let Some(line) = lines.next() {
        let Some(name) = begin_line(line) else {
            continue;
        };
        let mut data = Vec::new();
        for line in lines.by_ref() {
            if line == b"end" || line == b"`" && data.is_empty() {
                break;
            }
            uudecode_line(line, &mut data);
        }
        files.push((name, data));
    }
    files
}

/// The file name of a uuencode `begin` line: `begin`, an octal mode, a name.
fn begin_line(line: &[u8]) -> Option<String> {
    let rest = line.strip_prefix(b"begin ")?;
    let space = rest.iter().position(|b| *b == b' ')?;
    let (mode, name) = (&rest[..space], &rest[space + 1..]);
    let octal = (3..=4).contains(&mode.len()) && mode.iter().all(|b| (b'0'..=b'7').contains(b));
    (octal && !name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned())
}

/// Decodes one uuencoded line into `out`: a length character, then four characters for each
/// three bytes (each character 32 plus six bits; a backquote is zero).
fn uudecode_line(line: &[u8], out: &mut Vec<u8>) {
    let six = |c: u8| c.wrapping_sub(b' ') & 0x3f;
    let Some((&len, rest)) = line.split_first() else {
        return;
    };
    let len = six(len) as usize;
    let mut bytes = Vec::with_capacity(len + 2);
    for quad in rest.chunks(4) {
        let c = |i: usize| six(quad.get(i).copied().unwrap_or(b' '));
        bytes.push((c(0) << 2) | (c(1) >> 4));
        bytes.push((c(1) << 4) | (c(2) >> 2));
        bytes.push((c(2) << 6) | c(3));
    }
    bytes.truncate(len);
    out.extend_from_slice(&bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_is_told_by_its_header_block() {
        assert!(starts(b"From: a@b\r\nSubject: hi\r\n\r\nbody"));
        assert!(starts(b"From x@y Thu Jul 31 2008\nFrom: a\nTo: b\n\nbody"));
        assert!(starts(b"Received: x\n  continued\nX-Other: y\n\n"));
        assert!(
            !starts(b"Content-Type: text/plain\nContent-Length: 3\n\nabc"),
            "no mail field"
        );
        assert!(!starts(b"From: a\n\nbody"), "one field");
        assert!(
            !starts(b"From: a\nSubject: b\nno blank line"),
            "no end to the headers"
        );
        assert!(!starts(b"hello world: not a field\nSubject: x\n\n"));
    }

    #[test]
    fn uuencoded_files_are_decoded() {
        // `uuencode` of "Cat" and of 46 bytes (a full line and a short one).
        let text = b"text before\nbegin 644 cat.txt\n#0V%T\n`\nend\nafter\n";
        assert_eq!(uuencoded(text), [("cat.txt".to_owned(), b"Cat".to_vec())]);
        assert!(
            uuencoded(b"begin 64 x\n#0V%T\nend\n").is_empty(),
            "a mode of 2 digits"
        );
        let data: Vec<u8> = (0u8..46).collect();
        let mut encoded = b"begin 600 n\n".to_vec();
        for chunk in data.chunks(45) {
            encoded.push(b' ' + chunk.len() as u8);
            for triple in chunk.chunks(3) {
                let t = [
                    triple[0],
                    *triple.get(1).unwrap_or(&0),
                    *triple.get(2).unwrap_or(&0),
                ];
                for six in [
                    t[0] >> 2,
                    (t[0] << 4 | t[1] >> 4) & 63,
                    (t[1] << 2 | t[2] >> 6) & 63,
                    t[2] & 63,
                ] {
                    encoded.push(if six == 0 { b'`' } else { b' ' + six });
                }
            }
            encoded.push(b'\n');
        }
        encoded.extend_from_slice(b"`\nend\n");
        assert_eq!(uuencoded(&encoded), [("n".to_owned(), data)]);
    }

    #[test]
    fn an_mbox_is_cut_at_its_from_lines() {
        let mbox = b"From a\nX: 1\n\nbody\nFrom b\nY: 2\n\nbody\n";
        assert_eq!(mbox_messages(mbox), [0..18, 18..mbox.len()]);
    }
}
