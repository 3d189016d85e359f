//! Excel 4.0 (XLM) macro sheets of a legacy Excel workbook, as text a YARA rule can read.
//!
//! Malware hides `EXEC`, `CALL`, `REGISTER` or `URLDownloadToFileA` in (often very hidden) macro
//! sheets that an `Auto_Open` name runs. Their formulas are kept as parsed tokens (ptgs), so a
//! rule sees nothing readable in the file; this module walks the BIFF8 `Workbook` stream (or a
//! BIFF5 `Book` stream) of the OLE2 file and writes, one line per item, the sheets, the defined
//! names and every cell of each macro sheet, formulas decoded back to Excel's R1C1 text
//! (xlm_formula.rs):
//!
//! ```text
//! SHEET "Macro1" macro very-hidden
//! NAME "Auto_Open" = Macro1!R1C1
//! CELL Macro1!R1C1 =EXEC("calc.exe")
//! VALUE Macro1!R1C1 ="cached string result"
//! ```
//!
//! Labels, shared strings and numbers of macro sheets are CELL lines too. An encrypted workbook
//! (a FILEPASS record) is decrypted when it has Excel's default password (xlm_rc4.rs), and its
//! text starts with the line `DECRYPTED "VelvetSweatshop"`; any other gives the one line
//! `ENCRYPTED`. A formula this cannot read to its end ends in a `?` mark (`?ptg18`, `?cut`).
//! Facts about records and tokens come from MS-XLS (2.4 records, 2.5.198 formulas) and were
//! checked against xlrd2 and xlwt; the function numbers (xlm_functions.rs) are MS-XLS's Ftab
//! and Cetab tables as xlrd2 and ClamAV carry them.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};

mod formula;
mod functions;
mod rc4;

// Record types (MS-XLS 2.3).
const BOF: u16 = 0x0809;
const EOF: u16 = 0x000A;
const FILEPASS: u16 = 0x002F;
const BOUNDSHEET: u16 = 0x0085;
const LBL: u16 = 0x0018;
const EXTERNSHEET: u16 = 0x0017;
const SUPBOOK: u16 = 0x01AE;
const EXTERNNAME: u16 = 0x0023;
const SST: u16 = 0x00FC;
const CONTINUE: u16 = 0x003C;
const FORMULA: u16 = 0x0006;
const STRING: u16 = 0x0207;
const SHRFMLA: u16 = 0x04BC;
const ARRAY: u16 = 0x0221;
const LABELSST: u16 = 0x00FD;
const LABEL: u16 = 0x0204;
const RSTRING: u16 = 0x00D6;
const NUMBER: u16 = 0x0203;
const RK: u16 = 0x027E;
const MULRK: u16 = 0x00BD;

/// BOF substream types: the workbook globals, a macro sheet.
const GLOBALS: u16 = 0x0005;
const MACRO_SHEET: u16 = 0x0040;
/// BOF version of BIFF5 (BIFF8 is 0x0600).
const BIFF5: u16 = 0x0500;
/// Built-in defined names by their one-character code (MS-XLS 2.5.198.x, Lbl's fBuiltin).
const BUILTIN: &str = "Consolidate_Area Auto_Open Auto_Close Extract Database Criteria \
    Print_Area Print_Titles Recorder Data_Form Auto_Activate Auto_Deactivate Sheet_Title \
    _FilterDatabase";

type CellAt = (u16, u16);

/// True for the stream that holds a workbook: `Workbook` (BIFF8), or `Book` (BIFF5), at the
/// compound file's root.
pub(super) fn is_workbook(name: &str) -> bool {
    name == "Workbook" || name == "Book"
}

/// The Excel 4.0 macro sheets of the BIFF8 workbook stream `workbook`, as text a rule can
/// read, when it has any: `None` when the workbook has no macro sheet.
pub(super) fn macro_sheets(workbook: &[u8], room: usize) -> Option<Vec<u8>> {
    let mut out = Out {
        buf: Vec::new(),
        room,
    };
    workbook_text(workbook, false, &mut out)?;
    Some(out.buf)
}

/// Writes the macro sheets of `workbook` to `out`; `None` when it has none. `clear`: the
/// workbook was decrypted (its FILEPASS record stays).
fn workbook_text(workbook: &[u8], clear: bool, out: &mut Out) -> Option<()> {
    let first = record(workbook, 0)?;
    if first.kind != BOF || u16_at(first.data, 2)? != GLOBALS {
        return None;
    }
    // Every record is at least 4 bytes: this lets every walk below read the stream twice.
    let steps = Cell::new(workbook.len() / 2 + 64);
    let mut book = Book::new(u16_at(first.data, 0)? != BIFF5);
    if let Some(filepass) = book.globals(workbook, &steps, clear) {
        return decrypted(workbook, filepass, out);
    }
    let macros: Vec<bool> = book.sheets.iter().map(|s| s.is_macro(workbook)).collect();
    if !macros.contains(&true) {
        return None;
    }
    if clear {
        out.line(&["DECRYPTED \"VelvetSweatshop\""]);
    }
    book.read_names();
    book.read_sst();
    book.write_globals(&macros, out);
    let mut walked = HashSet::new();
    for (sheet, _) in book.sheets.iter().zip(&macros).filter(|(_, m)| **m) {
        if walked.insert(sheet.at) {
            book.write_sheet(workbook, sheet, &steps, out);
        }
    }
    Some(())
}

/// An encrypted workbook: decrypted when it has the default password, else the one line
/// `ENCRYPTED`.
fn decrypted(workbook: &[u8], filepass: &[u8], out: &mut Out) -> Option<()> {
    let Some(plain) = rc4::decrypt(workbook, filepass) else {
        out.line(&["ENCRYPTED"]);
        return Some(());
    };
    workbook_text(&plain, true, out)
}

/// One record: its type, its data (cut short at the stream's end) and where the next starts.
struct Record<'a> {
    kind: u16,
    data: &'a [u8],
    next: usize,
}

fn record(stream: &[u8], at: usize) -> Option<Record<'_>> {
    let kind = u16_at(stream, at)?;
    let len = usize::from(u16_at(stream, at.checked_add(2)?)?);
    let start = at.checked_add(4)?;
    let next = start.checked_add(len)?;
    let data = stream.get(start..next.min(stream.len()))?;
    Some(Record { kind, data, next })
}

/// The records from `at` on, each taking one of the shared `steps`.
struct Records<'a, 'b> {
    stream: &'a [u8],
    at: usize,
    steps: &'b Cell<usize>,
}

fn records<'a, 'b>(stream: &'a [u8], at: usize, steps: &'b Cell<usize>) -> Records<'a, 'b> {
    Records { stream, at, steps }
}

impl<'a> Iterator for Records<'a, '_> {
    type Item = Record<'a>;
    fn next(&mut self) -> Option<Record<'a>> {
        self.steps.set(self.steps.get().checked_sub(1)?);
        let rec = record(self.stream, self.at)?;
        self.at = rec.next;
        Some(rec)
    }
}

/// The text produced so far, never longer than `room`.
struct Out {
    buf: Vec<u8>,
    room: usize,
}

impl Out {
    fn full(&self) -> bool {
        self.buf.len() >= self.room
    }

    /// Writes `parts` and a newline, cut (on a character boundary) where the room ends.
    fn line(&mut self, parts: &[&str]) {
        for part in parts.iter().copied().chain(["\n"]) {
            let mut take = part.len().min(self.room.saturating_sub(self.buf.len()));
            while !part.is_char_boundary(take) {
                take -= 1;
            }
            self.buf
                .extend_from_slice(part.as_bytes().get(..take).unwrap_or_default());
        }
    }
}

/// A sheet as BOUNDSHEET8 lists it.
struct Sheet {
    name: String,
    state: u8,
    kind: u8,
    at: usize,
}

impl Sheet {
    /// A macro sheet by its BOUNDSHEET8 type or by its own BOF.
    fn is_macro(&self, stream: &[u8]) -> bool {
        let bof = record(stream, self.at).filter(|r| r.kind == BOF);
        self.kind == 1 || bof.is_some_and(|r| u16_at(r.data, 2) == Some(MACRO_SHEET))
    }
}

/// A SUPBOOK: whether it is this workbook's own, and its EXTERNNAME records.
struct Supbook<'a> {
    own: bool,
    names: Vec<&'a [u8]>,
}

/// What the workbook globals say.
#[derive(Default)]
struct Book<'a> {
    v8: bool,
    sheets: Vec<Sheet>,
    lbls: Vec<&'a [u8]>,
    names: Vec<String>,
    sst_parts: Vec<&'a [u8]>,
    sst: Vec<String>,
    xti: Vec<(u16, i16, i16)>,
    supbooks: Vec<Supbook<'a>>,
}

impl<'a> Book<'a> {
    fn new(v8: bool) -> Book<'a> {
        Book {
            v8,
            ..Book::default()
        }
    }

    /// Reads the globals substream's records; FILEPASS's data when the workbook is encrypted.
    fn globals(&mut self, stream: &'a [u8], steps: &Cell<usize>, clear: bool) -> Option<&'a [u8]> {
        let mut in_sst = false;
        for (i, rec) in records(stream, 0, steps).enumerate() {
            match rec.kind {
                BOF if i > 0 => break,
                EOF => break,
                FILEPASS if !clear => return Some(rec.data),
                BOUNDSHEET => self.boundsheet(rec.data),
                LBL => self.lbls.push(rec.data),
                SST => self.sst_parts = vec![rec.data],
                CONTINUE if in_sst => self.sst_parts.push(rec.data),
                EXTERNSHEET if self.v8 => self.externsheet(rec.data),
                // This workbook's own SUPBOOK is a sheet count and the marker 0x0401.
                SUPBOOK => self.supbooks.push(Supbook {
                    own: rec.data.len() == 4 && u16_at(rec.data, 2) == Some(0x0401),
                    names: Vec::new(),
                }),
                EXTERNNAME => {
                    if let Some(book) = self.supbooks.last_mut() {
                        book.names.push(rec.data);
                    }
                }
                _ => {}
            }
            in_sst = rec.kind == SST || (in_sst && rec.kind == CONTINUE);
        }
        None
    }

    /// BOUNDSHEET8: lbPlyPos, hsState, dt, the name (MS-XLS 2.4.28).
    fn boundsheet(&mut self, data: &[u8]) {
        let (Some(at), Some([state, kind])) = (u32_at(data, 0), bytes(data, 4)) else {
            return;
        };
        let name = self.short_string(data, 6).map(|s| s.0).unwrap_or_default();
        let at = usize::try_from(at).unwrap_or(usize::MAX);
        self.sheets.push(Sheet {
            name,
            state,
            kind,
            at,
        });
    }

    /// EXTERNSHEET (BIFF8): cXTI, then XTI entries of supbook, first and last sheet.
    fn externsheet(&mut self, data: &[u8]) {
        let count = u16_at(data, 0).unwrap_or(0);
        for i in 0..usize::from(count) {
            let at = 2 + 6 * i;
            let Some([book, first, last]) = bytes::<6>(data, at)
                .map(|b| [0, 2, 4].map(|i| u16::from_le_bytes([b[i], b[i + 1]])))
            else {
                break;
            };
            self.xti.push((book, first as i16, last as i16));
        }
    }

    /// The defined names' texts, for ptgName (an index into them).
    fn read_names(&mut self) {
        self.names = self
            .lbls
            .iter()
            .map(|d| escaped(&self.lbl(d).0, '\0'))
            .collect();
    }

    /// A LBL record's name (built-in ones spelled out), hidden flag and formula.
    fn lbl(&self, data: &'a [u8]) -> (String, bool, &'a [u8]) {
        let flags = u16_at(data, 0).unwrap_or(0);
        let count = usize::from(data.get(3).copied().unwrap_or(0));
        let cce = usize::from(u16_at(data, 4).unwrap_or(0));
        let (mut name, end) = self.string_body(data, 14, count).unwrap_or_default();
        if flags & 0x0020 != 0 {
            let mut chars = name.chars();
            let code = chars.next().map_or(0, u32::from);
            let known = BUILTIN.split(' ').nth(code as usize);
            let builtin = known.map_or_else(|| format!("builtin#{code}"), |n| n.to_string());
            name = builtin + chars.as_str();
        }
        let rgce = data.get(end.min(data.len())..end.saturating_add(cce).min(data.len()));
        (name, flags & 0x0001 != 0, rgce.unwrap_or_default())
    }

    /// The shared strings (SST and its CONTINUE records), for LABELSST cells.
    fn read_sst(&mut self) {
        // After the string counts, cstTotal and cstUnique.
        let (parts, part, at) = (&self.sst_parts, 0, 8);
        let mut parts = Parts { parts, part, at };
        while let Some(text) = parts.rich_string() {
            self.sst.push(text);
        }
    }

    /// The SHEET and NAME lines.
    fn write_globals(&self, macros: &[bool], out: &mut Out) {
        for (sheet, macro_sheet) in self.sheets.iter().zip(macros) {
            let kind = match (macro_sheet, sheet.kind) {
                (true, _) => "macro".to_string(),
                (_, 0) => "worksheet".to_string(),
                (_, 2) => "chart".to_string(),
                (_, 6) => "vba".to_string(),
                (_, k) => format!("type#{k}"),
            };
            let states = ["visible", "hidden", "very-hidden", "state#3"];
            let state = states.get(usize::from(sheet.state & 3)).unwrap_or(&"");
            out.line(&["SHEET ", &quoted(&sheet.name), " ", &kind, " ", state]);
        }
        for data in &self.lbls {
            if out.full() {
                return;
            }
            let (name, hidden, rgce) = self.lbl(data);
            let hidden = if hidden { " hidden" } else { "" };
            let formula = self.formula(rgce, None);
            out.line(&["NAME ", &quoted(&name), hidden, " = ", &formula]);
        }
    }

    /// The CELL (and VALUE) lines of the macro sheet whose BOF is at `sheet.at`.
    fn write_sheet(&self, stream: &'a [u8], sheet: &Sheet, steps: &Cell<usize>, out: &mut Out) {
        if record(stream, sheet.at).is_none_or(|r| r.kind != BOF) {
            return;
        }
        let mut walk = Walk {
            prefix: sheet_prefix(&sheet.name),
            depth: 0,
            last: None,
            pending: None,
            shared: HashMap::new(),
        };
        for rec in records(stream, sheet.at, steps) {
            if out.full() || !self.sheet_record(&mut walk, &rec, out) {
                break;
            }
        }
    }

    /// One record of a macro sheet; false at the sheet's end.
    fn sheet_record(&self, walk: &mut Walk<'a>, rec: &Record<'a>, out: &mut Out) -> bool {
        let data = rec.data;
        if !matches!(rec.kind, SHRFMLA | ARRAY)
            && let Some((cell, rgce)) = walk.pending.take()
        {
            self.write_cell(walk, cell, &self.formula(rgce, Some(cell)), out);
        }
        let cell = u16_at(data, 0).zip(u16_at(data, 2));
        match (rec.kind, cell) {
            (BOF, _) => walk.depth += 1,
            (EOF, _) => {
                walk.depth = walk.depth.saturating_sub(1);
                return walk.depth > 0;
            }
            (FORMULA, Some(cell)) => self.formula_cell(walk, cell, data, out),
            (SHRFMLA, Some(_)) => self.shared_formula(walk, data, 8, out),
            (ARRAY, Some(_)) => self.shared_formula(walk, data, 12, out),
            (STRING, _) => {
                if let (Some(cell), Some((text, _))) = (walk.last.take(), self.string16(data, 0)) {
                    let at = walk.cell_name(cell);
                    out.line(&["VALUE ", &at, " =", &quoted(&text)]);
                }
            }
            (LABELSST, Some(cell)) => {
                let index = u32_at(data, 6).unwrap_or(u32::MAX);
                let text = usize::try_from(index).ok().and_then(|i| self.sst.get(i));
                let text = text.map_or_else(|| format!("sst#{index}"), |t| quoted(t));
                self.write_cell(walk, cell, &text, out);
            }
            (LABEL | RSTRING, Some(cell)) => {
                let text = self
                    .string16(data, 6)
                    .map(|t| quoted(&t.0))
                    .unwrap_or_default();
                self.write_cell(walk, cell, &text, out);
            }
            (NUMBER, Some(cell)) => {
                let value = f64_at(data, 6).map(number).unwrap_or_default();
                self.write_cell(walk, cell, &value, out);
            }
            (RK, Some(cell)) => {
                let value = u32_at(data, 6).map(|v| number(rk(v))).unwrap_or_default();
                self.write_cell(walk, cell, &value, out);
            }
            (MULRK, Some((row, col))) => {
                // ixfe and RK value pairs, then the last column.
                let count = data.len().saturating_sub(6) / 6;
                for i in 0..count {
                    if let Some(v) = u32_at(data, 6 + 6 * i) {
                        let col = col.wrapping_add(i as u16);
                        self.write_cell(walk, (row, col), &number(rk(v)), out);
                    }
                }
            }
            _ => {}
        }
        true
    }

    fn write_cell(&self, walk: &Walk, cell: CellAt, text: &str, out: &mut Out) {
        out.line(&["CELL ", &walk.cell_name(cell), " =", text]);
    }

    /// FORMULA: cell, cached value, flags, then the parsed expression (cce, rgce) at 20.
    fn formula_cell(&self, walk: &mut Walk<'a>, cell: CellAt, data: &'a [u8], out: &mut Out) {
        let rgce = counted(data, 20);
        walk.last = Some(cell);
        // A lone ptgExp points at a shared or array formula, which follows the first such cell.
        if let ([0x01, ..], Some(anchor)) = (rgce, u16_at(rgce, 1).zip(u16_at(rgce, 3))) {
            match walk.shared.get(&anchor) {
                Some(shared) => self.write_cell(walk, cell, &self.formula(shared, Some(cell)), out),
                None => walk.pending = Some((cell, rgce)),
            }
            return;
        }
        self.write_cell(walk, cell, &self.formula(rgce, Some(cell)), out);
    }

    /// SHRFMLA or ARRAY: the range (first row, last row, first and last column), then the
    /// parsed expression at `cce_at`; given for the cell just before, kept for the others.
    fn shared_formula(&self, walk: &mut Walk<'a>, data: &'a [u8], cce_at: usize, out: &mut Out) {
        let anchor = u16_at(data, 0).zip(data.get(4).map(|c| u16::from(*c)));
        let rgce = counted(data, cce_at);
        if let Some(anchor) = anchor {
            walk.shared.insert(anchor, rgce);
        }
        if let Some((cell, own)) = walk.pending.take() {
            let found = anchor.filter(|a| u16_at(own, 1).zip(u16_at(own, 3)) == Some(*a));
            let rgce = if found.is_some() { rgce } else { own };
            self.write_cell(walk, cell, &self.formula(rgce, Some(cell)), out);
        }
    }

    /// A ShortXLUnicodeString (BIFF8) or a byte-counted string (BIFF5) at `at`.
    fn short_string(&self, data: &[u8], at: usize) -> Option<(String, usize)> {
        self.string_body(data, at + 1, usize::from(*data.get(at)?))
    }

    /// An XLUnicodeString (BIFF8) or a 16-bit-counted string (BIFF5) at `at`.
    fn string16(&self, data: &[u8], at: usize) -> Option<(String, usize)> {
        self.string_body(data, at + 2, usize::from(u16_at(data, at)?))
    }

    /// `count` characters at `at`, after a flags byte in BIFF8 (bit 0: two bytes a character).
    fn string_body(&self, data: &[u8], at: usize, count: usize) -> Option<(String, usize)> {
        if self.v8 {
            Some(chars(data, at + 1, count, data.get(at)? & 1 != 0))
        } else {
            Some(chars(data, at, count, false))
        }
    }
}

/// Where a macro sheet's walk is: its name as references print it, BOF nesting, the formula
/// a STRING gives the value of, a formula waiting for its shared formula, shared formulas.
struct Walk<'a> {
    prefix: String,
    depth: usize,
    last: Option<CellAt>,
    pending: Option<(CellAt, &'a [u8])>,
    shared: HashMap<CellAt, &'a [u8]>,
}

impl Walk<'_> {
    fn cell_name(&self, (row, col): CellAt) -> String {
        format!(
            "{}R{}C{}",
            self.prefix,
            u32::from(row) + 1,
            u32::from(col) + 1
        )
    }
}

mod text;
use self::text::*;

#[cfg(test)]
mod tests;
