//! RC4, the stream cipher of PDF's older standard security (R2 to R4) and of Excel's
//! "VelvetSweatshop" workbooks: no kept crate of the project offers it, and it is a page.

/// An RC4 key stream, applied in order over as many calls as it takes.
pub(super) struct Rc4 {
    state: [u8; 256],
    i: u8,
    j: u8,
}

impl Rc4 {
    /// The key stream of `key` (an empty key is taken as one zero byte).
    pub(super) fn new(key: &[u8]) -> Rc4 {
        let key = if key.is_empty() { &[0u8][..] } else { key };
        let mut state: [u8; 256] = std::array::from_fn(|i| i as u8);
        let mut j = 0u8;
        for i in 0..256 {
            j = j.wrapping_add(state[i]).wrapping_add(key[i % key.len()]);
            state.swap(i, usize::from(j));
        }
        Rc4 { state, i: 0, j: 0 }
    }

    /// XORs `data` with the next bytes of the key stream (encrypts or decrypts).
    pub(super) fn apply(&mut self, data: &mut [u8]) {
        for byte in data {
            self.i = self.i.wrapping_add(1);
            self.j = self.j.wrapping_add(self.state[usize::from(self.i)]);
            self.state.swap(usize::from(self.i), usize::from(self.j));
            let k = self.state[usize::from(self.i)].wrapping_add(self.state[usize::from(self.j)]);
            *byte ^= self.state[usize::from(k)];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_6229_key_stream_and_a_round_trip() {
        // RFC 6229, key 0x0102030405: the key stream's first bytes.
        let mut stream = [0u8; 8];
        Rc4::new(&[1, 2, 3, 4, 5]).apply(&mut stream);
        assert_eq!(stream, [0xb2, 0x39, 0x63, 0x05, 0xf0, 0x3d, 0xc0, 0x27]);
        let mut data = *b"attack at dawn";
        Rc4::new(b"Key").apply(&mut data);
        Rc4::new(b"Key").apply(&mut data);
        assert_eq!(&data, b"attack at dawn");
    }
}
