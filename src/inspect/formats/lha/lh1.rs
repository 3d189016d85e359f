//! LHarc's `-lh1-`: LZ77 over a 4 KiB window with an adaptive Huffman code of literals and
//! lengths, rebuilt when its counts fill up.

use super::codes::{Bits, Huffman, copy_match};
use super::*;

/// Literals and match lengths 3 to 60.
pub(super) const LH1_CODES: usize = 314;
/// Tree nodes, kept in order of frequency; the root is the last.
pub(super) const LH1_NODES: usize = 2 * LH1_CODES - 1;
pub(super) const LH1_ROOT: usize = LH1_NODES - 1;
/// When the root's count reaches this, the tree is rebuilt with halved counts.
pub(super) const LH1_REBUILD: u32 = 0x8000;
/// The fixed code of a distance's upper 6 bits: how many codes have 3, 4, ... 8 bits.
pub(super) const LH1_UPPER: [(u8, usize); 6] = [(3, 1), (4, 3), (5, 8), (6, 12), (7, 24), (8, 16)];

/// LHarc's adaptive Huffman tree (as in Okumura's LZHUF, which it follows).
pub(super) struct Adaptive {
    /// Each node's count, in increasing order, and a sentinel above them all.
    freq: [u32; LH1_NODES + 1],
    /// A branch's first child (the second follows it); a leaf's symbol plus `LH1_NODES`.
    son: [usize; LH1_NODES],
    /// Each node's parent, then (at symbol plus `LH1_NODES`) each symbol's leaf.
    parent: [usize; LH1_NODES + LH1_CODES],
}

impl Adaptive {
    pub(super) fn new() -> Box<Adaptive> {
        let mut tree = Box::new(Adaptive {
            freq: [0; LH1_NODES + 1],
            son: [0; LH1_NODES],
            parent: [0; LH1_NODES + LH1_CODES],
        });
        for symbol in 0..LH1_CODES {
            tree.freq[symbol] = 1;
            tree.son[symbol] = symbol + LH1_NODES;
            tree.parent[symbol + LH1_NODES] = symbol;
        }
        for (pair, node) in (LH1_CODES..LH1_NODES).enumerate() {
            let child = 2 * pair;
            tree.freq[node] = tree.freq[child] + tree.freq[child + 1];
            tree.son[node] = child;
            tree.parent[child] = node;
            tree.parent[child + 1] = node;
        }
        tree.freq[LH1_NODES] = u32::MAX;
        tree.parent[LH1_ROOT] = 0;
        tree
    }

    /// Reads one symbol, from the root down, and counts it.
    pub(super) fn decode(&mut self, bits: &mut Bits) -> Result<usize, Stop> {
        let mut node = self.son[LH1_ROOT];
        for _ in 0..LH1_NODES {
            if node >= LH1_NODES {
                let symbol = node - LH1_NODES;
                self.update(symbol);
                return Ok(symbol);
            }
            let child = node + bits.read(1) as usize;
            node = *self.son.get(child).ok_or(Stop::Damaged("bad tree"))?;
        }
        Err(Stop::Damaged("bad tree"))
    }

    /// Counts `symbol`: from its leaf up, each node's count grows, and a node that passes
    /// the next ones in order swaps places with the last of them.
    pub(super) fn update(&mut self, symbol: usize) {
        if self.freq[LH1_ROOT] >= LH1_REBUILD {
            self.rebuild();
        }
        let mut node = self.parent[symbol + LH1_NODES];
        // Each pass climbs one level; the sentinel stops the search for a place.
        for _ in 0..LH1_NODES {
            self.freq[node] += 1;
            let count = self.freq[node];
            if count > self.freq[node + 1] {
                let mut last = node + 1;
                while count > self.freq[last + 1] {
                    last += 1;
                }
                self.swap(node, last, count);
                node = last;
            }
            node = self.parent[node];
            if node == 0 {
                break;
            }
        }
    }

    /// Moves the subtree at `node` to `last` (whose count it passed) and that at `last` back.
    pub(super) fn swap(&mut self, node: usize, last: usize, count: u32) {
        self.freq[node] = self.freq[last];
        self.freq[last] = count;
        let moved = self.son[node];
        self.adopt(moved, last);
        let other = self.son[last];
        self.adopt(other, node);
        self.son[last] = moved;
        self.son[node] = other;
    }

    /// Makes `at` the parent of the children `son` names (or of the leaf).
    pub(super) fn adopt(&mut self, son: usize, at: usize) {
        self.parent[son] = at;
        if son < LH1_NODES {
            self.parent[son + 1] = at;
        }
    }

    /// Rebuilds the tree from its leaves with their counts halved.
    pub(super) fn rebuild(&mut self) {
        let mut leaves = 0;
        for node in 0..LH1_NODES {
            if self.son[node] >= LH1_NODES {
                self.freq[leaves] = self.freq[node].div_ceil(2);
                self.son[leaves] = self.son[node];
                leaves += 1;
            }
        }
        for (pair, node) in (LH1_CODES..LH1_NODES).enumerate() {
            let child = 2 * pair;
            let count = self.freq[child] + self.freq[child + 1];
            let mut at = node;
            while at > 0 && count < self.freq[at - 1] {
                at -= 1;
            }
            self.freq.copy_within(at..node, at + 1);
            self.son.copy_within(at..node, at + 1);
            self.freq[at] = count;
            self.son[at] = child;
        }
        for node in 0..LH1_NODES {
            let son = self.son[node];
            self.adopt(son, node);
        }
    }
}

/// Decodes an `-lh1-` stream: adaptive Huffman symbols; a match's distance is a fixed code
/// for its upper 6 bits, then 6 plain bits.
pub(super) fn lh1(data: &[u8], size: usize, out: &Unpacked) -> Result<Vec<u8>, Stop> {
    let mut upper = Vec::with_capacity(64);
    for (len, count) in LH1_UPPER {
        upper.extend(std::iter::repeat_n(len, count));
    }
    let upper = Huffman::new(&upper)?;
    let mut tree = Adaptive::new();
    let mut bits = Bits::new(data);
    let mut file = Vec::with_capacity(size.min(1 << 20));
    let mut check = CHECK_EVERY;
    while file.len() < size {
        let code = tree.decode(&mut bits)?;
        if code < 256 {
            file.push(code as u8);
        } else {
            let high = usize::from(upper.decode(&mut bits)?);
            let distance = (high << 6 | bits.read(6) as usize) + 1;
            copy_match(&mut file, distance, code - 253, size);
        }
        step(&bits, file.len(), &mut check, out)?;
    }
    Ok(file)
}
