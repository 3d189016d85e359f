//! Encrypted zip (ZipCrypto, WinZip AES-256) and 7z (AES, data and headers) members built here
//! with the crates' writers, EICAR inside, walked with `ARCHIVE_PASSWORDS`: the right password
//! opens them (`Infected`, a note naming the member and no password), no password that fits
//! leaves them encrypted as before, and a wrong ZipCrypto password that passes its one-byte
//! check is never taken for the right one.

use std::io::{Cursor, Read, Write};
use std::time::{Duration, Instant};

use pretty_assertions::assert_eq;
use sevenz_rust2::encoder_options::AesEncoderOptions;
use sevenz_rust2::{ArchiveEntry, ArchiveWriter, EncoderMethod};
use zip::unstable::write::FileOptionsExt;
use zip::write::SimpleFileOptions;
use zip::{AesMode, CompressionMethod};

use crate::config::Passwords;
use crate::inspect::formats::{Flow, Format, Measure, Member, Problem, Visitor, each_member};
use crate::inspect::tests::{EICAR, labels, limits, look, unscannable_reason};
use crate::inspect::{Inspection, Limits};

/// How a zip member is encrypted.
#[derive(Clone, Copy)]
enum Crypt {
    ZipCrypto,
    Aes256,
}

/// A zip of `members`, stored (so that only the CRC tells a wrong ZipCrypto password), each
/// encrypted with `password`.
fn zip_encrypted(crypt: Crypt, password: &str, members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, data) in members {
        let options = match crypt {
            Crypt::ZipCrypto => stored
                .with_deprecated_encryption(password.as_bytes())
                .unwrap(),
            Crypt::Aes256 => stored.with_aes_encryption(AesMode::Aes256, password),
        };
        w.start_file(*name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A 7z of `members` in one AES + LZMA2 block under `password`; its headers encrypted or not.
fn seven_z_encrypted(password: &str, headers: bool, members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ArchiveWriter::new(Cursor::new(Vec::new())).unwrap();
    w.set_content_methods(vec![
        AesEncoderOptions::new(sevenz_rust2::Password::new(password)).into(),
        EncoderMethod::LZMA2.into(),
    ]);
    w.set_encrypt_header(headers);
    for (name, data) in members {
        w.push_archive_entry(ArchiveEntry::new_file(name), Some(*data))
            .unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn with_passwords(list: &str) -> Limits {
    Limits {
        passwords: Passwords::parse(list, ',').unwrap(),
        ..limits()
    }
}

/// The one note, which says what was opened.
fn opened_notes(found: &Inspection) -> Vec<&str> {
    let opened = found
        .notes
        .iter()
        .filter(|n| n.contains("ARCHIVE_PASSWORDS"));
    opened.map(String::as_str).collect()
}

#[test]
fn zipcrypto_and_aes_members_open_with_a_listed_password_and_are_scanned() {
    for (crypt, name) in [(Crypt::ZipCrypto, "zipcrypto"), (Crypt::Aes256, "aes256")] {
        let zip = zip_encrypted(crypt, "s3cr3t-pw", &[("eicar.com", EICAR)]);
        let found = look(&zip, "e.zip", &with_passwords("infected,s3cr3t-pw"));
        assert_eq!(
            labels(&found),
            ["e.zip>eicar.com:EICAR_Test_File"],
            "{name}"
        );
        assert_eq!(found.incomplete, None, "{name}");
        assert_eq!(
            opened_notes(&found),
            ["e.zip>eicar.com opened with an ARCHIVE_PASSWORDS entry"],
            "{name}: the member, never the password"
        );
    }
}

#[test]
fn no_password_that_fits_leaves_the_member_encrypted_as_before() {
    for crypt in [Crypt::ZipCrypto, Crypt::Aes256] {
        let zip = zip_encrypted(crypt, "unlisted", &[("eicar.com", EICAR)]);
        let found = look(&zip, "e.zip", &with_passwords("infected,malware,virus"));
        assert!(opened_notes(&found).is_empty());
        let why = unscannable_reason(found);
        assert!(why.starts_with("encrypted member e.zip>eicar.com"), "{why}");
    }
}

/// A wrong password whose ZipCrypto check byte passes (1 in 256 do).
fn wrong_but_checked(zip: &[u8]) -> String {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    (0..100_000)
        .map(|i| format!("wrong{i}"))
        .find(|p| archive.by_index_decrypt(0, p.as_bytes()).is_ok())
        .expect("1 in 256 passes the check byte")
}

#[test]
fn a_wrong_zipcrypto_password_that_passes_its_check_byte_is_not_taken() {
    let zip = zip_encrypted(Crypt::ZipCrypto, "infected", &[("eicar.com", EICAR)]);
    let wrong = wrong_but_checked(&zip);
    let mut garbage = Vec::new();
    let mut archive = zip::ZipArchive::new(Cursor::new(&zip[..])).unwrap();
    let read = archive
        .by_index_decrypt(0, wrong.as_bytes())
        .unwrap()
        .read_to_end(&mut garbage);
    assert!(read.is_err(), "the CRC tells it: {read:?}");

    let found = look(&zip, "e.zip", &with_passwords(&wrong));
    assert!(found.matches.is_empty() && opened_notes(&found).is_empty());
    let why = unscannable_reason(found);
    assert!(why.starts_with("encrypted member e.zip>eicar.com"), "{why}");

    let found = look(&zip, "e.zip", &with_passwords(&format!("{wrong},infected")));
    assert_eq!(labels(&found), ["e.zip>eicar.com:EICAR_Test_File"]);
}

#[test]
fn an_aes_7z_opens_with_a_listed_password_headers_encrypted_or_not() {
    let members: &[(&str, &[u8])] = &[("readme.txt", b"see the other file"), ("eicar.com", EICAR)];
    for headers in [false, true] {
        let archive = seven_z_encrypted("infected", headers, members);
        let found = look(&archive, "e.7z", &with_passwords("malware,infected"));
        assert_eq!(
            labels(&found),
            ["e.7z>eicar.com:EICAR_Test_File"],
            "{headers}"
        );
        assert_eq!(found.incomplete, None, "{headers}");
        assert!(
            opened_notes(&found).contains(&"e.7z>eicar.com opened with an ARCHIVE_PASSWORDS entry")
        );

        let found = look(&archive, "e.7z", &with_passwords("malware,virus"));
        assert!(found.matches.is_empty(), "{headers}");
        let why = unscannable_reason(found);
        assert!(why.starts_with("encrypted member e.7z>"), "{why}");
    }
}

/// Counts what the walk asked of it; reads every member.
struct Counting {
    passwords: Vec<crate::config::Password>,
    asked: std::cell::Cell<usize>,
    /// The time is up.
    late: bool,
    members: Vec<(String, bool, Vec<u8>)>,
}

impl Visitor for Counting {
    fn member(&mut self, member: Member<'_>) -> Flow {
        let mut data = Vec::new();
        let _ = member.reader.read_to_end(&mut data);
        self.members.push((member.name, member.encrypted, data));
        Flow::Continue
    }
    fn problem(&mut self, _: Problem) -> Flow {
        Flow::Continue
    }
    fn measure(&self) -> Measure {
        Measure {
            cap: 1 << 20,
            deadline: match self.late {
                true => Instant::now(),
                false => Instant::now() + Duration::from_secs(20),
            },
        }
    }
    fn passwords(&self) -> &[crate::config::Password] {
        self.asked.set(self.asked.get() + 1);
        &self.passwords
    }
}

fn counting(list: &str) -> Counting {
    Counting {
        passwords: Passwords::parse(list, ',').unwrap().as_slice().to_vec(),
        asked: Default::default(),
        late: false,
        members: Vec::new(),
    }
}

#[test]
fn plain_members_never_try_a_password() {
    let plain = crate::inspect::tests::zip(&[("a.txt", b"text"), ("eicar.com", EICAR)]);
    let mut visit = counting("infected,malware");
    each_member(Format::Zip, "a.zip", &plain, false, &mut visit);
    assert_eq!(visit.asked.get(), 0);
    assert_eq!(visit.members.len(), 2);
    assert!(visit.members.iter().all(|(_, encrypted, _)| !encrypted));
}

#[test]
fn an_opened_member_is_handed_over_as_a_plain_one_with_its_bytes() {
    let zip = zip_encrypted(Crypt::ZipCrypto, "infected", &[("eicar.com", EICAR)]);
    let mut visit = counting("virus,infected");
    each_member(Format::Zip, "a.zip", &zip, false, &mut visit);
    assert_eq!(visit.asked.get(), 1, "once per encrypted member");
    assert_eq!(visit.members, [("eicar.com".into(), false, EICAR.to_vec())]);
}

#[test]
fn once_the_time_is_up_no_password_is_tried_and_members_stay_encrypted() {
    let zip = zip_encrypted(Crypt::Aes256, "infected", &[("eicar.com", EICAR)]);
    let seven_z = seven_z_encrypted("infected", false, &[("eicar.com", EICAR)]);
    for (format, bytes) in [(Format::Zip, zip), (Format::SevenZ, seven_z)] {
        let mut visit = Counting {
            late: true,
            ..counting("infected")
        };
        each_member(format, "e", &bytes, false, &mut visit);
        assert_eq!(
            visit.members,
            [("eicar.com".into(), true, vec![])],
            "{format:?}"
        );
    }
}
