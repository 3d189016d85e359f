//! Reading BIFF's strings (the SST across its CONTINUE records, counted and wide or compressed\n//! characters) and numbers (RK, doubles), and writing them as formulas print them.

/// The SST's data across its CONTINUE records, read from `parts[part][at]` on.
pub(super) struct Parts<'p, 'a> {
    pub(super) parts: &'p [&'a [u8]],
    pub(super) part: usize,
    pub(super) at: usize,
}

impl Parts<'_, '_> {
    pub(super) fn byte(&mut self) -> Option<u8> {
        loop {
            let part = self.parts.get(self.part)?;
            if let Some(b) = part.get(self.at) {
                self.at += 1;
                return Some(*b);
            }
            self.part += 1;
            self.at = 0;
        }
    }

    pub(super) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }

    pub(super) fn skip(&mut self, mut count: usize) -> Option<()> {
        while count > 0 {
            let part = self.parts.get(self.part)?;
            let here = part.len().saturating_sub(self.at).min(count);
            if here == 0 {
                self.part += 1;
                self.at = 0;
            }
            self.at += here;
            count -= here;
        }
        Some(())
    }

    /// An XLUnicodeRichExtendedString: cch, flags, [runs], [ext size], characters, runs, ext.
    pub(super) fn rich_string(&mut self) -> Option<String> {
        let count = usize::from(self.u16()?);
        let flags = self.byte()?;
        let runs = if flags & 0x08 != 0 { self.u16()? } else { 0 };
        let ext = if flags & 0x04 != 0 {
            u32::from_le_bytes([self.byte()?, self.byte()?, self.byte()?, self.byte()?])
        } else {
            0
        };
        let text = self.chars(count, flags & 1 != 0)?;
        self.skip(usize::from(runs) * 4)?;
        self.skip(usize::try_from(ext).ok()?)?;
        Some(text)
    }

    /// Characters; where a CONTINUE record cuts them, it starts with a new flags byte.
    pub(super) fn chars(&mut self, mut count: usize, mut wide: bool) -> Option<String> {
        let mut text = String::new();
        while count > 0 {
            let part = self.parts.get(self.part)?;
            let width = if wide { 2 } else { 1 };
            let here = (part.len().saturating_sub(self.at) / width).min(count);
            if here == 0 {
                self.part += 1;
                self.at = 0;
                wide = self.byte()? & 1 != 0;
                continue;
            }
            let raw = part.get(self.at..self.at + here * width)?;
            text.push_str(&decode(raw, wide));
            self.at += here * width;
            count -= here;
        }
        Some(text)
    }
}

/// A 16-bit count at `at` and the bytes it counts after it (cut at the data's end).
pub(super) fn counted(data: &[u8], at: usize) -> &[u8] {
    let count = usize::from(u16_at(data, at).unwrap_or(0));
    let start = (at + 2).min(data.len());
    data.get(start..start.saturating_add(count).min(data.len()))
        .unwrap_or_default()
}

/// `count` characters at `at`, UTF-16LE when `wide`, else one byte each (compressed UTF-16,
/// or BIFF5's code page read as Latin-1), cut at the data's end; and where they end.
pub(super) fn chars(data: &[u8], at: usize, count: usize, wide: bool) -> (String, usize) {
    let end = at.saturating_add(count.saturating_mul(if wide { 2 } else { 1 }));
    let raw = data
        .get(at.min(data.len())..end.min(data.len()))
        .unwrap_or_default();
    (decode(raw, wide), end)
}

pub(super) fn decode(raw: &[u8], wide: bool) -> String {
    if wide {
        let units = raw
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]));
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    } else {
        raw.iter().map(|b| char::from(*b)).collect()
    }
}

/// A string as a formula writes it: in double quotes, quotes doubled.
pub(super) fn quoted(text: &str) -> String {
    format!("\"{}\"", escaped(text, '"'))
}

/// A sheet name and `!` as a reference prints it, quoted when it is not a plain word.
pub(super) fn sheet_prefix(name: &str) -> String {
    let plain = name
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    if plain && !name.is_empty() {
        format!("{name}!")
    } else {
        format!("'{}'!", escaped(name, '\''))
    }
}

/// `text` with `quote` doubled and control characters (which would break the lines) as
/// `\xNN`.
pub(super) fn escaped(text: &str, quote: char) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if c == quote => out.extend([quote, quote]),
            c => out.push(c),
        }
    }
    out
}

/// A number as Excel would show it, in exponent form when very large or small.
pub(super) fn number(value: f64) -> String {
    match value.abs() {
        a if value.fract() == 0.0 && a < 1e15 => format!("{}", value as i64),
        a if (1e-5..1e15).contains(&a) => format!("{value}"),
        _ => format!("{value:e}"),
    }
}

/// An RK number: bit 1, a 30-bit integer (else the high 30 bits of a double); bit 0, / 100.
pub(super) fn rk(value: u32) -> f64 {
    let number = if value & 2 != 0 {
        f64::from((value as i32) >> 2)
    } else {
        f64::from_bits(u64::from(value & !3) << 32)
    };
    if value & 1 != 0 {
        number / 100.0
    } else {
        number
    }
}

pub(super) fn bytes<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at.checked_add(N)?)?.try_into().ok()
}

pub(super) fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    bytes(data, at).map(u16::from_le_bytes)
}

pub(super) fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    bytes(data, at).map(u32::from_le_bytes)
}

pub(super) fn f64_at(data: &[u8], at: usize) -> Option<f64> {
    bytes(data, at).map(f64::from_le_bytes)
}
