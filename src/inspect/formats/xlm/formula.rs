//! The formulas of a workbook's cells and names, from their parsed tokens (ptgs, MS-XLS
//! 2.5.198) back to Excel's R1C1 text: a stack machine, each operator or function call taking
//! its operands off the stack and putting back one node of a tree, whose text is written once
//! at the end (so that nesting costs no copying). Bounded: the stack's depth; the tree and its
//! text grow with the tokens read.

use super::functions::{FUNCTIONS, VARIABLE};
use super::{Book, CellAt, escaped, f64_at, number, quoted, sheet_prefix, u16_at, u32_at};

/// Binary operators ptgAdd (0x03) to ptgRange (0x11), in token order.
const OPERATORS: [&str; 15] = [
    "+", "-", "*", "/", "^", "&", "<", "<=", "=", ">=", ">", "<>", " ", ",", ":",
];
/// Operands on the stack of one formula, at most.
const MAX_DEPTH: usize = 256;

/// Why a formula's decoding stopped before its end.
enum Stop {
    Unknown(u8),
    Function(u16),
    Cut,
    Stack,
    Deep,
}

/// An operand of a formula being read: its text, or how it is made of others (indices).
enum Node {
    Text(String),
    /// Text before, the operand, text after: unary operators and parentheses.
    Wrap(&'static str, usize, &'static str),
    Binary(usize, &'static str, usize),
    /// A call: the function's name (a node: a user-defined function's is an operand), the
    /// arguments.
    Call(usize, Vec<usize>),
}

/// The operands made so far, and the stack of those not yet taken by an operator.
#[derive(Default)]
struct Tree {
    nodes: Vec<Node>,
    stack: Vec<usize>,
}

impl Tree {
    fn push(&mut self, node: Node) -> Result<(), Stop> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Stop::Deep);
        }
        self.stack.push(self.nodes.len());
        self.nodes.push(node);
        Ok(())
    }

    fn text(&mut self, text: impl Into<String>) -> Result<usize, Stop> {
        self.push(Node::Text(text.into()))?;
        self.pop()
    }

    fn pop(&mut self) -> Result<usize, Stop> {
        self.stack.pop().ok_or(Stop::Stack)
    }

    /// The operands left on the stack, written out (normally one), spaces between them.
    fn write(&self) -> String {
        enum Piece {
            Node(usize),
            Str(&'static str),
        }
        let mut text = String::new();
        let mut todo: Vec<Piece> = Vec::new();
        for (i, root) in self.stack.iter().enumerate().rev() {
            todo.push(Piece::Node(*root));
            if i > 0 {
                todo.push(Piece::Str(" "));
            }
        }
        // Every node has one parent at most, so this writes each once.
        while let Some(piece) = todo.pop() {
            let node = match piece {
                Piece::Str(s) => {
                    text.push_str(s);
                    continue;
                }
                Piece::Node(i) => self.nodes.get(i),
            };
            match node {
                Some(Node::Text(t)) => text.push_str(t),
                Some(Node::Wrap(before, inner, after)) => {
                    todo.extend([Piece::Str(after), Piece::Node(*inner), Piece::Str(before)]);
                }
                Some(Node::Binary(left, op, right)) => {
                    todo.extend([Piece::Node(*right), Piece::Str(op), Piece::Node(*left)]);
                }
                Some(Node::Call(name, args)) => {
                    todo.push(Piece::Str(")"));
                    for (k, arg) in args.iter().enumerate().rev() {
                        todo.push(Piece::Node(*arg));
                        if k > 0 {
                            todo.push(Piece::Str(","));
                        }
                    }
                    todo.extend([Piece::Str("("), Piece::Node(*name)]);
                }
                None => {}
            }
        }
        text
    }
}

impl Book<'_> {
    /// The formula of the parsed expression `rgce` as R1C1 text; `base` is the cell that the
    /// relative references of a shared formula (ptgRefN, ptgAreaN) count from.
    pub(super) fn formula(&self, rgce: &[u8], base: Option<CellAt>) -> String {
        let mut tree = Tree::default();
        let mut at = 0;
        let mut stop = None;
        while let Some(ptg) = rgce.get(at) {
            match self.token(rgce, at, *ptg, base, &mut tree) {
                Ok(next) => at = next,
                Err(why) => {
                    stop = Some(why);
                    break;
                }
            }
        }
        let mut text = tree.write();
        if let Some(stop) = stop {
            let why = match stop {
                Stop::Unknown(ptg) => format!("?ptg{ptg:02X}"),
                Stop::Function(tab) => format!("?func{tab:04X}"),
                Stop::Cut => "?cut".to_string(),
                Stop::Stack => "?stack".to_string(),
                Stop::Deep => "?deep".to_string(),
            };
            text = if text.is_empty() {
                why
            } else {
                text + " " + &why
            };
        }
        text
    }

    /// Applies the token at `rgce[at]` to the stack; where the next token starts.
    fn token(
        &self,
        b: &[u8],
        at: usize,
        ptg: u8,
        base: Option<CellAt>,
        tree: &mut Tree,
    ) -> Result<usize, Stop> {
        // Tokens from 0x20 on come in three classes (reference, value, array): bits 5 and 6.
        let op = if (0x20..0x80).contains(&ptg) {
            (ptg & 0x1F) | 0x20
        } else {
            ptg
        };
        let (text, next) = match op {
            0x03..=0x11 => {
                let (right, left) = (tree.pop()?, tree.pop()?);
                let operator = OPERATORS.get(usize::from(op - 3)).unwrap_or(&"?");
                tree.push(Node::Binary(left, operator, right))?;
                return Ok(at + 1);
            }
            0x12..=0x15 => {
                let operand = tree.pop()?;
                let (before, after) = [("+", ""), ("-", ""), ("", "%"), ("(", ")")]
                    .get(usize::from(op - 0x12))
                    .copied()
                    .unwrap_or_default();
                tree.push(Node::Wrap(before, operand, after))?;
                return Ok(at + 1);
            }
            0x19 => return self.attribute(b, at, tree),
            0x21 | 0x22 => return self.function(b, at, op == 0x22, tree),
            // Mem tokens only announce the subexpression that follows them.
            0x26..=0x28 => return Ok(at + 7),
            0x29 | 0x2E | 0x2F => return Ok(at + 3),
            0x24 | 0x25 | 0x2A..=0x2D | 0x3A..=0x3D => self.reference(b, at, op, base)?,
            _ => self.operand(b, at, op).ok_or(Stop::Cut)??,
        };
        tree.push(Node::Text(text))?;
        Ok(next)
    }

    /// A constant or a name: its text and where the next token starts; `Some(Err)` for a
    /// token this does not know.
    fn operand(&self, b: &[u8], at: usize, op: u8) -> Option<Result<(String, usize), Stop>> {
        let (v8, arg) = (self.v8, at + 1);
        let byte = b.get(arg).copied();
        Some(Ok(match op {
            0x16 => (String::new(), arg),
            0x17 => self
                .short_string(b, arg)
                .map(|(text, end)| (quoted(&text), end))?,
            0x1C => (error(byte?), arg + 1),
            0x1D => (
                if byte? != 0 { "TRUE" } else { "FALSE" }.to_string(),
                arg + 1,
            ),
            0x1E => (u16_at(b, arg)?.to_string(), arg + 2),
            0x1F => (number(f64_at(b, arg)?), arg + 8),
            0x01 | 0x02 => {
                let (row, col) = (u32::from(u16_at(b, arg)?), u32::from(u16_at(b, arg + 2)?));
                let kind = if op == 1 { "SHARED" } else { "TABLE" };
                (format!("{kind}(R{}C{})", row + 1, col + 1), arg + 4)
            }
            0x20 => ("{array}".to_string(), arg + 7),
            0x23 => {
                let index = if v8 {
                    u32_at(b, arg)?
                } else {
                    u32::from(u16_at(b, arg)?)
                };
                let name = usize::try_from(index).ok().and_then(|i| i.checked_sub(1));
                let name = name.and_then(|i| self.names.get(i)).cloned();
                (
                    name.unwrap_or_else(|| format!("name#{index}")),
                    at + if v8 { 5 } else { 15 },
                )
            }
            0x39 => (self.external_name(b, arg)?, at + if v8 { 7 } else { 25 }),
            _ => return Some(Err(Stop::Unknown(b.get(at).copied().unwrap_or(op)))),
        }))
    }

    /// ptgRef, ptgArea, their relative (N), error and 3-D forms: text, where the next starts.
    fn reference(
        &self,
        b: &[u8],
        at: usize,
        op: u8,
        base: Option<CellAt>,
    ) -> Result<(String, usize), Stop> {
        let (sheet, at) = match op {
            0x3A..=0x3D => self.sheet_of(b, at + 1).ok_or(Stop::Cut)?,
            _ => (String::new(), at + 1),
        };
        // Even tokens name a cell, odd ones an area.
        let size = match (op & 1 == 0, self.v8) {
            (true, true) => 4,
            (true, false) => 3,
            (false, true) => 8,
            (false, false) => 6,
        };
        // ptgRefN and ptgAreaN count their relative parts from the formula's cell.
        let offsets = matches!(op, 0x2C | 0x2D).then_some(base);
        let text = match op {
            0x24 | 0x2C | 0x3A => self.cell(b, at, offsets),
            0x25 | 0x2D | 0x3B => self.area(b, at, offsets),
            _ => Some("#REF!".to_string()),
        };
        Ok((sheet + &text.ok_or(Stop::Cut)?, at + size))
    }

    /// ptgAttr: flags, then a 16-bit value; a CHOOSE jump table follows its own flag.
    fn attribute(&self, b: &[u8], at: usize, tree: &mut Tree) -> Result<usize, Stop> {
        let flags = *b.get(at + 1).ok_or(Stop::Cut)?;
        let value = usize::from(u16_at(b, at + 2).ok_or(Stop::Cut)?);
        if flags & 0x04 != 0 {
            return Ok(at + 4 + 2 * (value + 1));
        }
        if flags & 0x10 != 0 {
            // AttrSum: SUM of the one operand on the stack.
            let operand = tree.pop()?;
            let name = tree.text("SUM")?;
            tree.push(Node::Call(name, vec![operand]))?;
        }
        Ok(at + 4)
    }

    /// ptgFunc (a function number with its fixed argument count) or ptgFuncVar (a count whose
    /// bit 7 asks for a dialog, then the number; bit 15 of the number: a macro command).
    fn function(&self, b: &[u8], at: usize, var: bool, tree: &mut Tree) -> Result<usize, Stop> {
        let (count, prompt, tab_at) = if var {
            let count = *b.get(at + 1).ok_or(Stop::Cut)?;
            (Some(count & 0x7F), count & 0x80 != 0, at + 2)
        } else {
            (None, false, at + 1)
        };
        let tab = u16_at(b, tab_at).ok_or(Stop::Cut)?;
        let known = FUNCTIONS.binary_search_by_key(&tab, |f| f.0).ok();
        let known = known.and_then(|i| FUNCTIONS.get(i));
        let count = match (count, known) {
            (Some(count), _) => count,
            (None, Some(f)) if f.2 != VARIABLE => f.2,
            (None, _) => return Err(Stop::Function(tab)),
        };
        let first = tree.stack.len().checked_sub(usize::from(count));
        let mut args = tree.stack.split_off(first.ok_or(Stop::Stack)?);
        let mut name = match known {
            // Number 255 calls a user-defined function, named by its first argument.
            _ if tab == 0x00FF && !args.is_empty() => args.remove(0),
            Some(f) => tree.text(f.1)?,
            None => tree.text(format!("func#{tab:04X}"))?,
        };
        if prompt {
            tree.push(Node::Wrap("", name, "?"))?;
            name = tree.pop()?;
        }
        tree.push(Node::Call(name, args))?;
        Ok(tab_at + 2)
    }

    /// ptgNameX (BIFF8): an XTI index and a 1-based index into that SUPBOOK's EXTERNNAMEs.
    fn external_name(&self, b: &[u8], at: usize) -> Option<String> {
        if !self.v8 {
            return Some(format!("name#{}", u16_at(b, at + 10)?));
        }
        let (ixti, index) = (u16_at(b, at)?, u32_at(b, at + 2)?);
        let book = self.xti.get(usize::from(ixti)).map(|x| x.0);
        let book = book.and_then(|i| self.supbooks.get(usize::from(i)));
        let data = usize::try_from(index).ok().and_then(|i| i.checked_sub(1));
        let data = data.and_then(|i| book?.names.get(i));
        // EXTERNNAME: flags, 4 bytes, then the name (for add-in, external and DDE/OLE names).
        let name = data
            .and_then(|d| self.short_string(d, 6))
            .map(|n| escaped(&n.0, '\0'));
        Some(name.unwrap_or_else(|| format!("name#{index}")))
    }

    /// The sheet part (`Sheet1!`) of a 3-D reference at `at`, and where its cells start.
    fn sheet_of(&self, b: &[u8], at: usize) -> Option<(String, usize)> {
        let (index, first, last, end) = if self.v8 {
            let ixti = u16_at(b, at)?;
            let xti = self.xti.get(usize::from(ixti));
            let own = xti
                .and_then(|x| self.supbooks.get(usize::from(x.0)))
                .is_some_and(|s| s.own);
            let (first, last) = xti.filter(|_| own).map_or((-1, -1), |x| (x.1, x.2));
            (i32::from(ixti), first, last, at + 2)
        } else {
            // ixals, 8 reserved bytes, first and last sheet (negative: another workbook).
            let ixals = u16_at(b, at)? as i16;
            (
                i32::from(ixals),
                u16_at(b, at + 10)? as i16,
                u16_at(b, at + 12)? as i16,
                at + 14,
            )
        };
        let sheet = |i: i16| usize::try_from(i).ok().and_then(|i| self.sheets.get(i));
        let text = match (sheet(first), sheet(last)) {
            (Some(a), Some(z)) if first != last => sheet_prefix(&format!("{}:{}", a.name, z.name)),
            (Some(a), _) => sheet_prefix(&a.name),
            _ => format!("sheet#{index}!"),
        };
        Some((text, end))
    }

    /// A cell reference at `at` (BIFF8: row, column with the relative flags; BIFF5: row with
    /// the flags, 8-bit column); `offsets` for ptgRefN: relative parts count from the cell.
    fn cell(&self, b: &[u8], at: usize, offsets: Option<Option<CellAt>>) -> Option<String> {
        let col = if self.v8 {
            u16_at(b, at + 2)?
        } else {
            u16::from(*b.get(at + 2)?)
        };
        Some(self.cell_text(u16_at(b, at)?, col, offsets))
    }

    /// An area at `at`: first and last rows, then first and last columns.
    fn area(&self, b: &[u8], at: usize, offsets: Option<Option<CellAt>>) -> Option<String> {
        let (row1, row2) = (u16_at(b, at)?, u16_at(b, at + 2)?);
        let (col1, col2) = if self.v8 {
            (u16_at(b, at + 4)?, u16_at(b, at + 6)?)
        } else {
            (u16::from(*b.get(at + 4)?), u16::from(*b.get(at + 5)?))
        };
        let first = self.cell_text(row1, col1, offsets);
        Some(first + ":" + &self.cell_text(row2, col2, offsets))
    }

    /// R1C1 text of a row and column field; with `offsets`, a relative part is a signed
    /// offset, added to the base cell when there is one, else printed as R[n] or C[n].
    fn cell_text(&self, row: u16, col: u16, offsets: Option<Option<CellAt>>) -> String {
        let (row, col, row_rel, col_rel) = if self.v8 {
            (row, col & 0x3FFF, col & 0x8000 != 0, col & 0x4000 != 0)
        } else {
            (row & 0x3FFF, col, row & 0x8000 != 0, row & 0x4000 != 0)
        };
        let Some(base) = offsets else {
            return format!("R{}C{}", u32::from(row) + 1, u32::from(col) + 1);
        };
        // BIFF8 row offsets take 16 bits, BIFF5 ones 14; column offsets take 8.
        let row_offset = if self.v8 {
            i32::from(row as i16)
        } else {
            i32::from((row << 2) as i16 >> 2)
        };
        let col_offset = i32::from(col as u8 as i8);
        let rows = if self.v8 { 65536 } else { 16384 };
        let part =
            |axis: &str, rel: bool, value: u16, offset: i32, from: Option<u16>, size: i32| match (
                rel, from,
            ) {
                (false, _) => format!("{axis}{}", u32::from(value) + 1),
                (true, Some(from)) => {
                    format!("{axis}{}", (i32::from(from) + offset).rem_euclid(size) + 1)
                }
                (true, None) => format!("{axis}[{offset}]"),
            };
        part("R", row_rel, row, row_offset, base.map(|c| c.0), rows)
            + &part("C", col_rel, col, col_offset, base.map(|c| c.1), 256)
    }
}

/// Error values (BErr).
fn error(code: u8) -> String {
    match code {
        0x00 => "#NULL!".to_string(),
        0x07 => "#DIV/0!".to_string(),
        0x0F => "#VALUE!".to_string(),
        0x17 => "#REF!".to_string(),
        0x1D => "#NAME?".to_string(),
        0x24 => "#NUM!".to_string(),
        0x2A => "#N/A".to_string(),
        0x2B => "#GETTING_DATA".to_string(),
        c => format!("#ERR{c}!"),
    }
}
