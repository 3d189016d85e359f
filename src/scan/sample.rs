//! The EICAR test file: the one sample that the embedded rules must detect, and that every test
//! and benchmark uses (split in two in the source, so that this file is not itself a sample).

/// The 68 bytes of the EICAR anti-malware test file.
pub const EICAR: &str = concat!(
    "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
    "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
);
