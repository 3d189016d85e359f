//! Trying the walk's passwords (`ARCHIVE_PASSWORDS`) on an encrypted member. A password opens
//! it only when what it decrypts checks out to its end — zip's CRC-32 or WinZip AES's
//! authentication code, 7z's CRC-32 of each file — read once into nothing, within the walk's
//! member cap and deadline, before the member is handed over and read for real. A wrong
//! ZipCrypto password passes its one-byte check 1 time in 256, and 7z has no check at all:
//! without this, a wrong password's garbage would be scanned as the member.

use std::io::Read;
use std::time::Instant;

use super::{Measure, guarded};

/// What reading a member decrypted with one password to its end said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trial {
    /// Its bytes checked out: the password fits.
    Fits,
    /// Decryption, decoding or the check failed: a wrong password (or damage).
    Wrong,
    /// More than the cap, or the time is up: no password can be told to fit; the member
    /// stays encrypted.
    Undecided,
}

/// Reads `reader` (a member decrypted with one password) to its end, into nothing, within
/// `measure`: whether its bytes checked out.
pub(super) fn trial(reader: &mut dyn Read, measure: Measure) -> Trial {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut read = 0u64;
    loop {
        match guarded(|| reader.read(&mut chunk)) {
            Ok(0) => return Trial::Fits,
            Ok(n) => read += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Trial::Wrong,
        }
        if read > measure.cap || Instant::now() >= measure.deadline {
            return Trial::Undecided;
        }
    }
}

#[cfg(test)]
#[path = "password_tests.rs"]
mod walk_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(cap: u64) -> Measure {
        Measure {
            cap,
            deadline: Instant::now() + std::time::Duration::from_secs(60),
        }
    }

    /// Gives `ok` bytes, then fails.
    struct Failing(usize);

    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match self.0 {
                0 => Err(std::io::Error::other("Invalid checksum")),
                left => {
                    let n = left.min(buf.len());
                    self.0 -= n;
                    Ok(n)
                }
            }
        }
    }

    #[test]
    fn bytes_that_end_without_an_error_fit() {
        assert_eq!(trial(&mut &[7u8; 1000][..], measure(1000)), Trial::Fits);
    }

    #[test]
    fn an_error_at_the_end_is_a_wrong_password() {
        assert_eq!(trial(&mut Failing(100_000), measure(1 << 20)), Trial::Wrong);
    }

    #[test]
    fn over_the_cap_or_the_time_is_undecided() {
        assert_eq!(
            trial(&mut &[0u8; 200_000][..], measure(100_000)),
            Trial::Undecided
        );
        let past = Measure {
            cap: u64::MAX,
            deadline: Instant::now(),
        };
        assert_eq!(trial(&mut &[0u8; 10][..], past), Trial::Undecided);
    }
}
