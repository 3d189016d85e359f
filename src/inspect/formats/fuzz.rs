//! Fuzzing of the container walkers (`scripts/fuzz`, `examples/fuzz_containers.rs`; a few
//! hundred cases in `cargo test`): seeds of every format built in code, mutated (bytes
//! flipped, cut, grown, length fields set huge, chunks repeated), and walked as each format,
//! whatever their bytes look like. A case passes when the walk returns — no panic — within
//! a second, having read every member it gave. The walk tries the password `infected` on
//! encrypted members, as `ARCHIVE_PASSWORDS` does: the zip seeds encrypted with it
//! ([`samples`]) are decrypted.

use std::io::{Cursor, Read, Write};
use std::time::{Duration, Instant};

use super::{Flow, Format, Measure, Member, Problem, Visitor, samples};
use crate::config::{Password, Passwords};

/// What one case did wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The walk panicked.
    Panic(Format, String),
    /// The walk took longer than this.
    Slow(Format, Duration),
}

/// A small sample of each format the walkers read, EICAR-like text inside.
pub fn seeds() -> Vec<Vec<u8>> {
    let data: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$TEST-FILE!$H+H*";
    let mut cab = cab::CabinetBuilder::new();
    cab.add_folder(cab::CompressionType::MsZip)
        .add_file("a.com");
    let mut seeds = vec![
        cabinet(cab, data),
        compound(data),
        (
            "From: a@b\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; \
             boundary=\"B\"\r\n\r\n--B\r\nContent-Transfer-Encoding: base64\r\n\r\nWDVPIVAl\r\n\
             --B\r\nContent-Type: message/rfc822\r\n\r\nFrom: c\r\nTo: d\r\n\r\nbegin 644 x\n\
             #0V%T\n`\nend\n--B--\r\n"
        )
        .as_bytes()
        .to_vec(),
        b"{\\rtf1{\\object{\\*\\objdata 0105000002000000080000005061636b61676500000000000000000010000000020061002e00630000000000\\bin3 abc}}}".to_vec(),
        b"(This file must be converted with BinHex 4.0)\r\n:#'0XB@dZCAKP!%9B43\"$E'&Y!!!!!!)J!!!!!:".to_vec(),
        [b"SZDD\x88\xf0\x27\x33A_\x10\x00\x00\x00\xff".to_vec(), data[..8].to_vec(), vec![0x00, 0xf0, 0xf3]].concat(),
        [&[0x78, 0x9f, 0x3e, 0x22, 1, 0, 2][..], &0x0006_800fu32.to_le_bytes(), &4u32.to_le_bytes(), b"MZ\0\0", &[0, 0]].concat(),
        b"<html><a href=\"data:application/x;base64,WDVPIVAl\">x</a><img src='data:,%41'>".to_vec(),
        [
            &b"%PDF-1.4\n1 0 obj\n<</Filter[/AHx/Fl]/Length 5 0 R>>stream\n789c0b0e0100>\nendstream\nendobj\n"[..],
            b"2 0 obj<</Filter/LZW>>stream\r\n\x80\x0b\x60\x50\x22\x0c\x0c\x85\x01\nendstream endobj\n",
            b"3 0 obj<</Filter[/A85/RL]>>stream\n<~87cURD]i~>\nendstream\n/Encrypt",
        ]
        .concat(),
    ];
    for magic in [&b"070701"[..], b"070707"] {
        seeds.push(cpio_text(magic, data));
    }
    seeds.push(
        [
            &[0xc7u8, 0x71][..],
            &[0; 18],
            &[2, 0, 0, 0, 8, 0],
            b"a\0",
            data,
        ]
        .concat(),
    );
    seeds.push(iso("A.COM", data));
    for sample in [samples::ARJ_METHOD1, samples::LHA_LH5] {
        seeds.push(hex::decode(sample).unwrap_or_default());
    }
    // Not the 7z: each mutation of its salt costs a key (2^19 SHA-256 rounds), most of the
    // second a case has in a debug build. The zip keys take 1,000 rounds.
    let zips = [samples::ZIP_ZIPCRYPTO, samples::ZIP_AES256];
    seeds.extend(zips.map(|sample| hex::decode(sample).unwrap_or_default()));
    seeds
}

/// The password the fuzzing walk tries on encrypted members.
const PASSWORD: &str = "infected";

/// The files of `dir` up to 300 KiB, as more seeds (`--seeds`: the formats whose samples are
/// on the machine, such as clamav-testfiles' installers, CHM, SIS and AutoIt).
pub fn seeds_from(dir: &std::path::Path) -> std::io::Result<Vec<Vec<u8>>> {
    let mut seeds = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_file() && std::fs::metadata(&path)?.len() <= 300 << 10 {
            seeds.push(std::fs::read(&path)?);
        }
    }
    Ok(seeds)
}

/// An ISO 9660 image of one file in a subdirectory (`DIR/NAME`), as mkisofs lays it out:
/// 16 empty sectors, the primary volume descriptor, the terminator, the root directory, the
/// subdirectory, the file. (Also the tests' builder: tests/integration/documents.rs.)
pub fn iso(name: &str, data: &[u8]) -> Vec<u8> {
    const SECTOR: usize = 2048;
    let record = |lba: u32, len: usize, directory: bool, name: &[u8]| {
        let mut r = vec![0u8; 33];
        r[2..6].copy_from_slice(&lba.to_le_bytes());
        r[6..10].copy_from_slice(&lba.to_be_bytes());
        r[10..14].copy_from_slice(&(len as u32).to_le_bytes());
        r[14..18].copy_from_slice(&(len as u32).to_be_bytes());
        r[25] = if directory { 2 } else { 0 };
        r[32] = name.len() as u8;
        r.extend_from_slice(name);
        r.resize(r.len().div_ceil(2) * 2, 0);
        r[0] = r.len() as u8;
        r
    };
    let sector = |mut s: Vec<u8>| {
        s.resize(s.len().div_ceil(SECTOR).max(1) * SECTOR, 0);
        s
    };
    let mut pvd = b"\x01CD001\x01".to_vec();
    pvd.resize(156, 0);
    pvd.extend_from_slice(&record(18, SECTOR, true, b"\0"));
    let root = [
        record(18, SECTOR, true, b"\0"),
        record(18, SECTOR, true, b"\x01"),
        record(19, SECTOR, true, b"DIR"),
    ];
    let file = format!("{name};1");
    let dir = [
        record(19, SECTOR, true, b"\0"),
        record(18, SECTOR, true, b"\x01"),
        record(20, data.len(), false, file.as_bytes()),
    ];
    [
        vec![0; 16 * SECTOR],
        sector(pvd),
        sector(b"\xffCD001\x01".to_vec()),
        sector(root.concat()),
        sector(dir.concat()),
        sector(data.to_vec()),
    ]
    .concat()
}

fn cabinet(builder: cab::CabinetBuilder, data: &[u8]) -> Vec<u8> {
    let built = builder.build(Cursor::new(Vec::new())).and_then(|mut w| {
        while let Some(mut file) = w.next_file()? {
            file.write_all(data)?;
        }
        w.finish()
    });
    built.map(Cursor::into_inner).unwrap_or_default()
}

fn compound(data: &[u8]) -> Vec<u8> {
    let Ok(mut file) = cfb::CompoundFile::create(Cursor::new(Vec::new())) else {
        return Vec::new();
    };
    for path in ["/WordDocument", "/\u{1}Ole10Native", "/PowerPoint Document"] {
        if let Ok(mut s) = file.create_stream(path) {
            let _ = s.write_all(data);
        }
    }
    let _ = file.flush();
    file.into_inner().into_inner()
}

fn cpio_text(magic: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = magic.to_vec();
    let newc = magic == b"070701";
    let fields: &[(usize, usize)] = match newc {
        true => &[
            (1, 8),
            (0o100644, 8),
            (0, 8),
            (0, 8),
            (1, 8),
            (0, 8),
            (data.len(), 8),
            (0, 8),
            (0, 8),
            (0, 8),
            (0, 8),
            (2, 8),
            (0, 8),
        ],
        false => &[
            (0, 6),
            (1, 6),
            (0o100644, 6),
            (0, 6),
            (0, 6),
            (1, 6),
            (0, 6),
            (0, 11),
            (2, 6),
            (data.len(), 11),
        ],
    };
    for (value, width) in fields {
        let text = match newc {
            true => format!("{value:0width$X}"),
            false => format!("{value:0width$o}"),
        };
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(b"a\0");
    out.resize(out.len().div_ceil(4) * 4, 0);
    out.extend_from_slice(data);
    out
}

/// A mutation of `seed` chosen by the random number `r` (xorshift, advanced here).
pub fn mutate(seed: &[u8], r: &mut u64) -> Vec<u8> {
    let mut next = || {
        *r ^= *r << 13;
        *r ^= *r >> 7;
        *r ^= *r << 17;
        *r
    };
    let mut bytes = seed.to_vec();
    for _ in 0..1 + next() % 4 {
        let len = bytes.len().max(1);
        let at = next() as usize % len;
        match next() % 6 {
            0 => bytes.truncate(at),
            1 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= 1 << (next() % 8);
                }
            }
            2 => {
                let huge = [0xff, 0xff, 0xff, 0x7f];
                for (i, b) in huge.iter().enumerate() {
                    if let Some(x) = bytes.get_mut(at + i) {
                        *x = *b;
                    }
                }
            }
            3 => {
                let chunk: Vec<u8> = bytes[at..].iter().take(64).copied().collect();
                for _ in 0..next() % 64 {
                    bytes.splice(at..at, chunk.iter().copied());
                }
            }
            4 => bytes.insert(at.min(bytes.len()), next() as u8),
            _ => {
                let digit = b"0123456789abcdef"[next() as usize % 16];
                if let Some(b) = bytes.get_mut(at) {
                    *b = digit;
                }
            }
        }
    }
    bytes
}

/// Walks `bytes` as every format; the first failure, if any. A walk over a second is timed
/// again before it counts as slow: on a machine shared with other builds a second run tells a
/// hang (slow again) from a stall of the machine.
pub fn case(bytes: &[u8]) -> Option<Failure> {
    for format in Format::ALL {
        let failure = match walk_as(format, bytes) {
            Some(Failure::Slow(..)) => walk_as(format, bytes),
            other => other,
        };
        if failure.is_some() {
            return failure;
        }
    }
    None
}

/// Walks `bytes` as `format`: a panic, or a walk over a second, is a failure.
fn walk_as(format: Format, bytes: &[u8]) -> Option<Failure> {
    let started = Instant::now();
    let walked = std::panic::catch_unwind(|| {
        let mut reader = Reader {
            read: 0,
            passwords: Passwords::parse(PASSWORD, ',').unwrap_or_default(),
        };
        super::each_member(format, "fuzz", bytes, false, &mut reader);
    });
    if let Err(panic) = walked {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        return Some(Failure::Panic(format, why));
    }
    let took = started.elapsed();
    (took > Duration::from_secs(1)).then_some(Failure::Slow(format, took))
}

/// Reads every member to its end (up to 64 MiB), as the walk would, trying [`PASSWORD`].
struct Reader {
    read: u64,
    passwords: Passwords,
}

impl Visitor for Reader {
    fn member(&mut self, member: Member<'_>) -> Flow {
        let mut sink = [0u8; 8192];
        let mut limited = member.reader.take(64 << 20);
        while let Ok(n) = limited.read(&mut sink) {
            if n == 0 {
                break;
            }
            self.read += n as u64;
        }
        Flow::Continue
    }

    fn problem(&mut self, _: Problem) -> Flow {
        Flow::Continue
    }

    fn measure(&self) -> Measure {
        Measure {
            cap: 64 << 20,
            deadline: Instant::now() + Duration::from_secs(1),
        }
    }

    fn passwords(&self) -> &[Password] {
        self.passwords.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The samples encrypted with [`PASSWORD`]: zip (ZipCrypto, AES-256) and 7z (data and headers).
    fn encrypted() -> [&'static str; 3] {
        [
            samples::ZIP_ZIPCRYPTO,
            samples::ZIP_AES256,
            samples::SEVEN_Z_AES,
        ]
    }

    #[test]
    fn seeds_are_read_as_their_formats() {
        for seed in seeds() {
            assert!(
                Format::sniff(&seed).is_some(),
                "{:?}",
                String::from_utf8_lossy(&seed[..seed.len().min(40)])
            );
        }
    }

    #[test]
    fn the_encrypted_seeds_are_opened_with_the_password() {
        for (sample, format) in
            encrypted()
                .into_iter()
                .zip([Format::Zip, Format::Zip, Format::SevenZ])
        {
            let mut reader = Reader {
                read: 0,
                passwords: Passwords::parse(PASSWORD, ',').unwrap(),
            };
            let bytes = hex::decode(sample).unwrap();
            super::super::each_member(format, "e", &bytes, false, &mut reader);
            assert_eq!(
                reader.read,
                b"a note, encrypted\n".len() as u64,
                "{format:?}"
            );
        }
    }

    #[test]
    fn a_few_hundred_mutations_of_each_seed_walk_without_panic_or_hang() {
        let mut r = 0x9e37_79b9_7f4a_7c15;
        for seed in seeds() {
            for _ in 0..200 {
                let bytes = mutate(&seed, &mut r);
                assert_eq!(case(&bytes), None, "{bytes:?}");
            }
        }
    }
}
