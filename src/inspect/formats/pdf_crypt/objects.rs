//! Just enough of PDF's object syntax to find and read the `/Encrypt` dictionary and the
//! document's `/ID`: trailers and cross-reference stream dictionaries, the object they
//! name, dictionaries, arrays, names, numbers, strings (literal and hex) and references.

use super::*;

/// The /Encrypt dictionary's text (with its `<< >>`) and the first /ID string of a PDF, from
/// its latest trailer or cross-reference stream dictionary that names one. When /Encrypt
/// refers to an object that cannot be found, the dictionary comes back empty (so that
/// `empty_password` says why) rather than None: the file is encrypted all the same.
pub(in crate::inspect::formats) fn find_encryption(pdf: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let trailers = trailer_dicts(pdf);
    let (base, trailer) = trailers.iter().find(|(_, d)| d.get(b"Encrypt").is_some())?;
    let id = first_id(trailer)
        .or_else(|| trailers.iter().find_map(|(_, d)| first_id(d)))
        .unwrap_or_default();
    let dict = match trailer.get(b"Encrypt") {
        Some(Obj::Dict(d)) => pdf
            .get(base + d.start..base + d.end)
            .unwrap_or_default()
            .to_vec(),
        Some(Obj::Ref(num, generation)) => object_dict(pdf, *num, *generation).unwrap_or_default(),
        _ => Vec::new(),
    };
    Some((dict, id))
}

/// The first string of a dictionary's /ID array.
pub(super) fn first_id(dict: &Dict) -> Option<Vec<u8>> {
    match dict.get(b"ID")? {
        Obj::Array(items) => match items.first()? {
            Obj::Str(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Trailer dictionaries (after `trailer`) and cross-reference stream dictionaries (the object
/// around a `/XRef`), latest first, each with its offset in the file.
pub(super) fn trailer_dicts(pdf: &[u8]) -> Vec<(usize, Dict)> {
    let mut starts: Vec<usize> = last_matches(pdf, b"trailer")
        .iter()
        .map(|at| at + 7)
        .collect();
    for at in last_matches(pdf, b"/XRef") {
        let from = at.saturating_sub(1 << 16);
        let before = pdf.get(from..at).unwrap_or_default();
        if let Some(obj) = before.windows(3).rposition(|w| w == b"obj") {
            starts.push(from + obj + 3);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let dicts = starts
        .iter()
        .rev()
        .filter_map(|&start| Some((start, dict_at(pdf, start)?)));
    dicts.map(|(start, (skip, d))| (start + skip, d)).collect()
}

/// The last `MAX_TRAILERS` places of `needle` not followed by a regular character.
pub(super) fn last_matches(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    let ends_token = |at: usize| hay.get(at + needle.len()).is_none_or(|&c| !is_regular(c));
    let found = hay.windows(needle.len()).enumerate().rev();
    let found = found.filter(|(at, w)| *w == needle && ends_token(*at));
    found.map(|(at, _)| at).take(MAX_TRAILERS).collect()
}

/// The dictionary that starts (after blanks) at `start`, parsed within `DICT_WINDOW` bytes,
/// with the number of blank bytes skipped before it (its positions count from there).
pub(super) fn dict_at(pdf: &[u8], start: usize) -> Option<(usize, Dict)> {
    let window = pdf.get(start..)?;
    let window = window.get(..DICT_WINDOW).unwrap_or(window);
    let mut p = Parser { b: window, pos: 0 };
    p.skip_space();
    let skip = p.pos;
    if !window.get(skip..)?.starts_with(b"<<") {
        return None;
    }
    let mut p = Parser {
        b: window.get(skip..)?,
        pos: 0,
    };
    Some((skip, p.dict(0)?))
}

/// The text of the dictionary of object `num generation` (its last definition, as updates append).
pub(super) fn object_dict(pdf: &[u8], num: u32, generation: u16) -> Option<Vec<u8>> {
    let is_header = |(at, w): &(usize, &[u8])| {
        *w == b"obj" && object_header(pdf, *at) == Some((num, generation))
    };
    let (at, _) = pdf.windows(3).enumerate().rev().find(is_header)?;
    let (skip, d) = dict_at(pdf, at + 3)?;
    let base = at + 3 + skip;
    pdf.get(base + d.start..base + d.end).map(<[u8]>::to_vec)
}

/// The `num generation` before the `obj` keyword at `at`.
pub(super) fn object_header(pdf: &[u8], at: usize) -> Option<(u32, u16)> {
    if pdf.get(at + 3).is_some_and(|&c| is_regular(c)) {
        return None;
    }
    let (generation, before_gen) = number_before(pdf, blanks_before(pdf, at)?)?;
    let (num, before_num) = number_before(pdf, blanks_before(pdf, before_gen)?)?;
    if before_num > 0 && pdf.get(before_num - 1).is_some_and(|&c| is_regular(c)) {
        return None;
    }
    Some((num, u16::try_from(generation).ok()?))
}

/// Where a run of 1 to 64 blanks ending at `end` starts.
pub(super) fn blanks_before(pdf: &[u8], end: usize) -> Option<usize> {
    let run = pdf
        .get(end.saturating_sub(64)..end)?
        .iter()
        .rev()
        .take_while(|&&c| is_white(c))
        .count();
    (run > 0).then(|| end - run)
}

/// The number of 1 to 10 digits ending at `end`, and where it starts.
pub(super) fn number_before(pdf: &[u8], end: usize) -> Option<(u32, usize)> {
    let digits = pdf
        .get(end.saturating_sub(11)..end)?
        .iter()
        .rev()
        .take_while(|c| c.is_ascii_digit())
        .count();
    if digits == 0 || digits > 10 {
        return None;
    }
    let text = std::str::from_utf8(pdf.get(end - digits..end)?).ok()?;
    Some((text.parse().ok()?, end - digits))
}

/// A PDF object, as far as the /Encrypt and trailer dictionaries need one.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Obj {
    Name(Vec<u8>),
    Int(i64),
    Str(Vec<u8>),
    Dict(Dict),
    Array(Vec<Obj>),
    Bool(bool),
    Ref(u32, u16),
    /// Reals, null and other keywords.
    Other,
}

/// A dictionary's entries and its span in the parsed text.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Dict {
    pub(super) entries: Vec<(Vec<u8>, Obj)>,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Dict {
    /// The value of `key`; the last one when a key repeats, as qpdf and pdf.js read it.
    pub(super) fn get(&self, key: &[u8]) -> Option<&Obj> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
    pub(super) fn name(&self, key: &[u8]) -> Option<&[u8]> {
        match self.get(key)? {
            Obj::Name(n) => Some(n),
            _ => None,
        }
    }
    pub(super) fn int(&self, key: &[u8]) -> Option<i64> {
        match self.get(key)? {
            Obj::Int(n) => Some(*n),
            _ => None,
        }
    }
    pub(super) fn string(&self, key: &[u8]) -> Option<&[u8]> {
        match self.get(key)? {
            Obj::Str(s) => Some(s),
            _ => None,
        }
    }
    pub(super) fn dict(&self, key: &[u8]) -> Option<&Dict> {
        match self.get(key)? {
            Obj::Dict(d) => Some(d),
            _ => None,
        }
    }
}

/// A dictionary's text, with or without its `<< >>`.
pub(super) fn parse_dict_text(text: &[u8]) -> Option<Dict> {
    let mut p = Parser { b: text, pos: 0 };
    p.skip_space();
    if text.get(p.pos..)?.starts_with(b"<<") {
        return p.dict(0);
    }
    let wrapped = [b"<<", text, b"\n>>"].concat();
    Parser {
        b: &wrapped,
        pos: 0,
    }
    .dict(0)
}

pub(super) fn is_white(c: u8) -> bool {
    matches!(c, 0 | b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

pub(super) fn is_regular(c: u8) -> bool {
    !is_white(c) && !b"()<>[]{}/%".contains(&c)
}

/// A reader of PDF object syntax (ISO 32000-1 7.2, 7.3) over a byte slice.
pub(super) struct Parser<'a> {
    pub(super) b: &'a [u8],
    pub(super) pos: usize,
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// Skips white space and comments.
    pub(super) fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c == b'%' {
                let rest = self.b.get(self.pos..).unwrap_or_default();
                self.pos += rest
                    .iter()
                    .take_while(|&&c| c != b'\n' && c != b'\r')
                    .count();
            } else if is_white(c) {
                self.pos += 1;
            } else {
                return;
            }
        }
    }

    /// One object; None when the text is malformed. Every branch consumes a byte or fails.
    pub(super) fn value(&mut self, depth: usize) -> Option<Obj> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_space();
        let next = self.b.get(self.pos + 1).copied();
        match self.peek()? {
            b'/' => Some(Obj::Name(self.name())),
            b'(' => self.literal().map(Obj::Str),
            b'<' if next == Some(b'<') => self.dict(depth).map(Obj::Dict),
            b'<' => self.hex().map(Obj::Str),
            b'[' => self.array(depth).map(Obj::Array),
            b'+' | b'-' | b'.' | b'0'..=b'9' => Some(self.number()),
            c if is_regular(c) => Some(self.keyword()),
            _ => None,
        }
    }

    /// A dictionary from its `<<` to its `>>`.
    pub(super) fn dict(&mut self, depth: usize) -> Option<Dict> {
        let start = self.pos;
        self.pos += 2;
        let mut entries = Vec::new();
        loop {
            self.skip_space();
            match self.peek()? {
                b'>' if self.b.get(self.pos + 1) == Some(&b'>') => {
                    self.pos += 2;
                    return Some(Dict {
                        entries,
                        start,
                        end: self.pos,
                    });
                }
                b'/' => {
                    let key = self.name();
                    let value = self.value(depth + 1)?;
                    entries.push((key, value));
                }
                _ => return None,
            }
        }
    }

    pub(super) fn array(&mut self, depth: usize) -> Option<Vec<Obj>> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if self.peek()? == b']' {
                self.pos += 1;
                return Some(items);
            }
            items.push(self.value(depth + 1)?);
        }
    }

    /// A name after its `/`, with `#xx` escapes decoded.
    pub(super) fn name(&mut self) -> Vec<u8> {
        self.pos += 1;
        let mut out = Vec::new();
        while let Some(c) = self.peek().filter(|&c| is_regular(c)) {
            self.pos += 1;
            let escaped = self.b.get(self.pos..self.pos + 2).and_then(hex_byte);
            match escaped {
                Some(byte) if c == b'#' => {
                    out.push(byte);
                    self.pos += 2;
                }
                _ => out.push(c),
            }
        }
        out
    }

    /// A literal string: balanced parentheses, escapes, end-of-line markers read as `\n`.
    pub(super) fn literal(&mut self) -> Option<Vec<u8>> {
        self.pos += 1;
        let mut depth = 1usize;
        let mut out = Vec::new();
        loop {
            let c = self.peek()?;
            self.pos += 1;
            match c {
                b'(' => depth += 1,
                b')' => depth -= 1,
                b'\\' => {
                    self.escape(&mut out)?;
                    continue;
                }
                b'\r' => {
                    self.pos += usize::from(self.peek() == Some(b'\n'));
                    out.push(b'\n');
                    continue;
                }
                _ => {}
            }
            if depth == 0 {
                return Some(out);
            }
            out.push(c);
        }
    }

    /// The escape after a backslash in a literal string.
    pub(super) fn escape(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let c = self.peek()?;
        self.pos += 1;
        match c {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0C),
            b'0'..=b'7' => {
                let mut value = u32::from(c - b'0');
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                // Three octal digits can exceed a byte; the high bit is dropped.
                out.push(value as u8);
            }
            // A backslash before an end of line continues the string on the next line.
            b'\r' => self.pos += usize::from(self.peek() == Some(b'\n')),
            b'\n' => {}
            _ => out.push(c),
        }
        Some(())
    }

    /// A hexadecimal string; white space is ignored and a lone last digit is followed by 0.
    pub(super) fn hex(&mut self) -> Option<Vec<u8>> {
        self.pos += 1;
        let mut digits = Vec::new();
        loop {
            let c = self.peek()?;
            self.pos += 1;
            match c {
                b'>' => break,
                c if is_white(c) => {}
                c if c.is_ascii_hexdigit() => digits.push(c),
                _ => return None,
            }
        }
        if digits.len() % 2 == 1 {
            digits.push(b'0');
        }
        digits.chunks_exact(2).map(hex_byte).collect()
    }

    /// An integer, possibly the start of a reference `num generation R`; reals are `Other`.
    pub(super) fn number(&mut self) -> Obj {
        let start = self.pos;
        self.pos += 1;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == b'.') {
            self.pos += 1;
        }
        let text =
            std::str::from_utf8(self.b.get(start..self.pos).unwrap_or_default()).unwrap_or("");
        let Ok(n) = text.parse::<i64>() else {
            return Obj::Other;
        };
        let after = self.pos;
        if let Some(r) = u32::try_from(n).ok().and_then(|num| self.reference(num)) {
            return r;
        }
        self.pos = after;
        Obj::Int(n)
    }

    /// The `generation R` after an object number, if there.
    pub(super) fn reference(&mut self, num: u32) -> Option<Obj> {
        self.skip_space();
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = std::str::from_utf8(self.b.get(start..self.pos)?).ok()?;
        let generation: u16 = digits.parse().ok()?;
        self.skip_space();
        let is_r =
            self.peek() == Some(b'R') && self.b.get(self.pos + 1).is_none_or(|&c| !is_regular(c));
        if !is_r {
            return None;
        }
        self.pos += 1;
        Some(Obj::Ref(num, generation))
    }

    pub(super) fn keyword(&mut self) -> Obj {
        let start = self.pos;
        while self.peek().is_some_and(is_regular) {
            self.pos += 1;
        }
        match self.b.get(start..self.pos) {
            Some(b"true") => Obj::Bool(true),
            Some(b"false") => Obj::Bool(false),
            _ => Obj::Other,
        }
    }
}

/// The byte of two hexadecimal digits.
pub(super) fn hex_byte(two: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(two).ok()?;
    if text.len() != 2 {
        return None;
    }
    u8::from_str_radix(text, 16).ok()
}
