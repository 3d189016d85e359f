//! The containers looked into, told apart by their first bytes, and their members handed one
//! at a time to a visitor as readers: zip (stored, deflate, deflate64, bzip2, lzma, xz, zstd;
//! zip64), tar, 7z, and gzip, bzip2, xz and zstd streams. Decoding is the kept crates' work;
//! this file only names members and reports what it could not read.

use std::io::{Cursor, Read};

/// A container format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A zip archive (also Office documents, jars, apks).
    Zip,
    /// A tar archive.
    Tar,
    /// A 7z archive.
    SevenZ,
    /// A gzip stream (also an object stored with `Content-Encoding: gzip`).
    Gzip,
    /// A bzip2 stream.
    Bzip2,
    /// An xz stream.
    Xz,
    /// A zstd stream.
    Zstd,
}

impl Format {
    /// The format `bytes` start with, if any.
    pub fn sniff(bytes: &[u8]) -> Option<Format> {
        let starts = |magic: &[u8]| bytes.starts_with(magic);
        if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
            Some(Format::Zip)
        } else if starts(&[0x1f, 0x8b]) {
            Some(Format::Gzip)
        } else if starts(b"BZh") {
            Some(Format::Bzip2)
        } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Format::Xz)
        } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Some(Format::Zstd)
        } else if starts(&[b'7', b'z', 0xbc, 0xaf, 0x27, 0x1c]) {
            Some(Format::SevenZ)
        } else if bytes.get(257..262) == Some(b"ustar") {
            Some(Format::Tar)
        } else {
            None
        }
    }

    /// Its name, as the `filetype` external and the logs give it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Zip => "ZIP",
            Format::Tar => "TAR",
            Format::SevenZ => "7Z",
            Format::Gzip => "GZIP",
            Format::Bzip2 => "BZIP2",
            Format::Xz => "XZ",
            Format::Zstd => "ZSTD",
        }
    }

    /// True for a single compressed stream, whose one member is the decoded bytes.
    fn is_stream(self) -> bool {
        matches!(
            self,
            Format::Gzip | Format::Bzip2 | Format::Xz | Format::Zstd
        )
    }
}

/// One member, as the visitor sees it.
pub struct Member<'a> {
    /// Its name inside the container.
    pub name: String,
    /// Its bytes, decoded as they are read.
    pub reader: &'a mut dyn Read,
    /// True when it is encrypted: its bytes cannot be read.
    pub encrypted: bool,
}

/// Whether the visitor wants more members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next member.
    Continue,
    /// Stop: a limit was reached.
    Stop,
}

/// Hands each member of `bytes` (a `format` container named `name`) to `visit`, in order,
/// until it says stop. `Err` says what could not be read: a corrupt or truncated container,
/// or a member the decoders do not support; members before it were visited.
pub fn each_member(
    format: Format,
    name: &str,
    bytes: &[u8],
    visit: &mut dyn FnMut(Member<'_>) -> Flow,
) -> Result<(), String> {
    if format.is_stream() {
        return stream(format, name, bytes, visit);
    }
    match format {
        Format::Zip => zip(bytes, visit),
        Format::Tar => tar(&mut Cursor::new(bytes), visit),
        _ => seven_z(bytes, visit),
    }
}

/// A compressed stream: one member, named after the stream without its extension.
fn stream(
    format: Format,
    name: &str,
    bytes: &[u8],
    visit: &mut dyn FnMut(Member<'_>) -> Flow,
) -> Result<(), String> {
    let inner = stream_member_name(name);
    let mut reader: Box<dyn Read + '_> = match format {
        Format::Gzip => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
        Format::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(bytes)),
        Format::Xz => Box::new(lzma_rust2::XzReader::new(bytes, true)),
        _ => Box::new(zstd::stream::read::Decoder::with_buffer(bytes).map_err(|e| e.to_string())?),
    };
    visit(Member {
        name: inner,
        reader: &mut reader,
        encrypted: false,
    });
    Ok(())
}

/// `report.tar.gz` → `report.tar`; `notes.gz` → `notes`; `data` → `data`.
fn stream_member_name(name: &str) -> String {
    const SUFFIXES: [(&str, &str); 8] = [
        (".gz", ""),
        (".bz2", ""),
        (".xz", ""),
        (".zst", ""),
        (".tgz", ".tar"),
        (".tbz2", ".tar"),
        (".txz", ".tar"),
        (".tzst", ".tar"),
    ];
    for (suffix, instead) in SUFFIXES {
        if let Some(stem) = name.strip_suffix(suffix).filter(|s| !s.is_empty()) {
            return format!("{stem}{instead}");
        }
    }
    name.to_owned()
}

fn zip(bytes: &[u8], visit: &mut dyn FnMut(Member<'_>) -> Flow) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    for i in 0..archive.len() {
        let error = match archive.by_index(i) {
            Ok(mut file) => {
                if !file.is_file() {
                    continue;
                }
                let name = file
                    .name()
                    .map_or_else(|_| format!("#{i}"), |n| n.into_owned());
                let encrypted = file.encrypted();
                let member = Member {
                    name,
                    reader: &mut file,
                    encrypted,
                };
                if visit(member) == Flow::Stop {
                    return Ok(());
                }
                continue;
            }
            Err(e) => e,
        };
        match error {
            // An encrypted member cannot be opened without its password: say so.
            zip::result::ZipError::UnsupportedArchive(why) if why.contains("assword") => {
                let name = zip_name(&mut archive, i);
                if visit_encrypted(visit, name) == Flow::Stop {
                    return Ok(());
                }
            }
            e => return Err(format!("member {i}: {e}")),
        }
    }
    Ok(())
}

fn zip_name(archive: &mut zip::ZipArchive<Cursor<&[u8]>>, i: usize) -> String {
    archive
        .by_index_raw(i)
        .ok()
        .and_then(|f| f.name().ok().map(|n| n.into_owned()))
        .unwrap_or_else(|| format!("#{i}"))
}

/// Tells `visit` of a member whose bytes cannot be read without a password.
fn visit_encrypted(visit: &mut dyn FnMut(Member<'_>) -> Flow, name: String) -> Flow {
    let mut nothing: &[u8] = &[];
    visit(Member {
        name,
        reader: &mut nothing,
        encrypted: true,
    })
}

fn tar(bytes: &mut dyn Read, visit: &mut dyn FnMut(Member<'_>) -> Flow) -> Result<(), String> {
    let mut archive = tar::Archive::new(bytes);
    let entries = archive.entries().map_err(|e| e.to_string())?;
    for (i, entry) in entries.enumerate() {
        let mut entry = entry.map_err(|e| format!("member {i}: {e}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_or_else(|_| format!("#{i}"), |p| p.display().to_string());
        let member = Member {
            name,
            reader: &mut entry,
            encrypted: false,
        };
        if visit(member) == Flow::Stop {
            return Ok(());
        }
    }
    Ok(())
}

fn seven_z(bytes: &[u8], visit: &mut dyn FnMut(Member<'_>) -> Flow) -> Result<(), String> {
    let password = sevenz_rust2::Password::empty();
    let mut archive = match sevenz_rust2::ArchiveReader::new(Cursor::new(bytes), password) {
        Ok(archive) => archive,
        Err(sevenz_rust2::Error::PasswordRequired) => {
            visit_encrypted(visit, "(encrypted 7z headers)".into());
            return Ok(());
        }
        Err(e) => return Err(e.to_string()),
    };
    // The blocking pool is the parallelism: one decoding thread per archive.
    archive.set_thread_count(1);
    let mut stopped = false;
    let result = archive.for_each_entries(|entry, reader| {
        if stopped || entry.is_directory || !entry.has_stream {
            return Ok(!stopped);
        }
        let member = Member {
            name: entry.name.clone(),
            reader,
            encrypted: false,
        };
        stopped = visit(member) == Flow::Stop;
        Ok(!stopped)
    });
    match result {
        Ok(()) => Ok(()),
        Err(sevenz_rust2::Error::PasswordRequired | sevenz_rust2::Error::MaybeBadPassword(_)) => {
            visit_encrypted(visit, "(encrypted 7z member)".into());
            Ok(())
        }
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_told_by_their_first_bytes() {
        assert_eq!(Format::sniff(b"PK\x03\x04rest"), Some(Format::Zip));
        assert_eq!(Format::sniff(&[0x1f, 0x8b, 8]), Some(Format::Gzip));
        assert_eq!(Format::sniff(b"BZh91AY"), Some(Format::Bzip2));
        assert_eq!(Format::sniff(b"plain text"), None);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(Format::sniff(&tar), Some(Format::Tar));
    }

    #[test]
    fn a_stream_member_is_named_after_the_stream() {
        assert_eq!(stream_member_name("a/report.tar.gz"), "a/report.tar");
        assert_eq!(stream_member_name("x.tgz"), "x.tar");
        assert_eq!(stream_member_name("notes.zst"), "notes");
        assert_eq!(stream_member_name("data"), "data");
    }
}
