//! PESpin's "poly" decryptors: 0x24 bytes of x86 that change `al` (the byte) using `cl` (the
//! count of bytes left) and constants, padded with junk, then `stosb` (0xaa). We read the few
//! instructions PESpin emits into a list once and run it on every byte.

/// The size of the code before its `stosb`.
const SIZE: usize = 0x24;
const STOSB: u8 = 0xaa;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Op {
    AddCl,
    SubCl,
    XorCl,
    Add(u8),
    Sub(u8),
    Xor(u8),
    Inc,
    Dec,
    Rol(u32),
    Ror(u32),
}

pub(super) struct Code(Vec<Op>);

impl Code {
    /// The code at the start of `code`, when every instruction is one PESpin emits and they
    /// end exactly at the `stosb`.
    pub(super) fn parse(code: &[u8]) -> Option<Code> {
        let mut ops = Vec::new();
        let mut at = 0;
        while at < SIZE {
            let op = *code.get(at)?;
            let arg = code.get(at + 1).copied();
            at += 1;
            let (step, found) = match op {
                0x90 | 0xf8 | 0xf9 => (0, None), // nop, clc, stc
                0x0a => (1, None),               // or r8, r8 (flags only)
                0xeb => (2, None),               // jmp over one junk byte
                0x02 => (1, Some(Op::AddCl)),
                0x2a => (1, Some(Op::SubCl)),
                0x32 => (1, Some(Op::XorCl)),
                0x04 => (1, Some(Op::Add(arg?))),
                0x2c => (1, Some(Op::Sub(arg?))),
                0x34 => (1, Some(Op::Xor(arg?))),
                0xfe if arg? == 0xc0 => (1, Some(Op::Inc)),
                0xfe => (1, Some(Op::Dec)),
                0xc0 => {
                    let n = u32::from(*code.get(at + 1)? & 7);
                    (2, Some(if arg? == 0xc0 { Op::Rol(n) } else { Op::Ror(n) }))
                }
                _ => return None,
            };
            at += step;
            ops.extend(found);
        }
        (at == SIZE && code.get(SIZE) == Some(&STOSB)).then_some(Code(ops))
    }

    /// Runs the code on every byte of `data`, `cl` counting down from its length.
    pub(super) fn run(&self, data: &mut [u8]) {
        let n = data.len();
        for (i, b) in data.iter_mut().enumerate() {
            *b = self.one(*b, (n - i) as u8);
        }
    }

    fn one(&self, mut al: u8, cl: u8) -> u8 {
        for op in &self.0 {
            al = match *op {
                Op::AddCl => al.wrapping_add(cl),
                Op::SubCl => al.wrapping_sub(cl),
                Op::XorCl => al ^ cl,
                Op::Add(v) => al.wrapping_add(v),
                Op::Sub(v) => al.wrapping_sub(v),
                Op::Xor(v) => al ^ v,
                Op::Inc => al.wrapping_add(1),
                Op::Dec => al.wrapping_sub(1),
                Op::Rol(n) => al.rotate_left(n),
                Op::Ror(n) => al.rotate_right(n),
            };
        }
        al
    }
}
