//! An object's true type, told by its bytes: the formats this crate looks into (by their
//! signatures), then `infer`'s matchers, then text and markup. The vocabulary (each type's
//! name and group) is the policies' (`policy::types`); telling which one some bytes are
//! needs the formats, so it lives here.

use std::io::Cursor;

use super::formats::Format;
use crate::policy::types::{Group, TrueType, known, named};

/// The type of `data`, by its bytes.
pub fn detect(data: &[u8]) -> TrueType {
    if data.is_empty() {
        return known("empty");
    }
    if let Some(found) = by_magic(data) {
        return found;
    }
    if let Some(format) = Format::sniff(data) {
        return of_format(format, data);
    }
    if let Some(found) = infer::get(data) {
        return of_infer(&found);
    }
    match is_text(data) {
        true if looks_like_html(data) => known("html"),
        true => known("text"),
        false => known("other"),
    }
}

/// Programs and scripts, told apart before containers: a self-extracting archive is a program.
fn by_magic(data: &[u8]) -> Option<TrueType> {
    if is_pe(data) {
        return Some(known("exe"));
    }
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\x7fELF", "elf"),
        (&[0xcf, 0xfa, 0xed, 0xfe], "macho"),
        (&[0xce, 0xfa, 0xed, 0xfe], "macho"),
        (&[0xca, 0xfe, 0xba, 0xbe], "macho"),
        (b"#!", "sh"),
        (b"<?php", "php"),
        (&[0x4c, 0, 0, 0, 1, 0x14, 2, 0], "lnk"),
        (b"%PDF", "pdf"),
    ];
    let (_, name) = MAGIC.iter().find(|(magic, _)| data.starts_with(magic))?;
    Some(known(name))
}

/// True for a PE program: `MZ`, and the `PE` signature where its DOS header points. (`MZ`
/// alone starts many fonts' and images' streams by chance.)
fn is_pe(data: &[u8]) -> bool {
    let at = data
        .get(0x3c..0x40)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    data.starts_with(b"MZ")
        && at.is_some_and(|at| data.get(at..at.saturating_add(4)) == Some(b"PE\0\0"))
}

/// The type of a container `format` recognised (refined, for zip and OLE2, to the documents
/// they are).
fn of_format(format: Format, data: &[u8]) -> TrueType {
    known(match format {
        Format::Zip => return zip_based(data),
        Format::Ole => ole_based(data),
        Format::Gzip => "gz",
        Format::Bzip2 => "bz2",
        Format::Xz => "xz",
        Format::Zstd => "zst",
        Format::SevenZ => "7z",
        Format::Tar => "tar",
        Format::Cpio => "cpio",
        Format::Cab | Format::InstallShield => "cab",
        Format::Udf | Format::Iso => "iso",
        Format::Pdf => "pdf",
        Format::Rtf => "rtf",
        Format::Szdd | Format::BinHex => "other",
        Format::Tnef => "tnef",
        Format::Arj => "arj",
        Format::Lha => "lzh",
        Format::Rar => "rar",
        Format::Sis => "sis",
        Format::Chm => "chm",
        Format::OneNote => "one",
        Format::Mail => "eml",
        Format::Html => "html",
        Format::AutoIt
        | Format::Nsis
        | Format::Yc
        | Format::Upx
        | Format::Pe
        | Format::WwPack
        | Format::Petite
        | Format::AsPack
        | Format::Mew
        | Format::Upack
        // `MZ` but no PE header (`by_magic` took those): no program.
        | Format::PeSpin => "other",
    })
}

/// A zip: an Office Open XML document by the parts its central directory names (at the end,
/// where every name is), an OpenDocument or EPUB document as `infer` tells them, or a zip.
fn zip_based(data: &[u8]) -> TrueType {
    let tail = &data[data.len().saturating_sub(64 << 10)..];
    let has = |name: &[u8]| memchr::memmem::find(tail, name).is_some();
    if has(b"[Content_Types].xml") {
        return known(if has(b"word/document.xml") {
            "docx"
        } else if has(b"xl/workbook.") {
            "xlsx"
        } else if has(b"ppt/presentation.xml") {
            "pptx"
        } else {
            "ooxml"
        });
    }
    infer::get(data).map_or(known("zip"), |t| of_infer(&t))
}

/// An OLE2 compound file by its root's class: a Word, Excel or PowerPoint file, a Windows
/// Installer package, or another (`ole`).
fn ole_based(data: &[u8]) -> &'static str {
    const CLASSES: &[(&str, &str)] = &[
        ("00020906-0000-0000-c000-000000000046", "doc"),
        ("00020810-0000-0000-c000-000000000046", "xls"),
        ("00020820-0000-0000-c000-000000000046", "xls"),
        ("64818d10-4f9b-11cf-86ea-00aa00b929e8", "ppt"),
        ("000c1084-0000-0000-c000-000000000046", "msi"),
        ("000c1086-0000-0000-c000-000000000046", "msi"),
    ];
    let Ok(file) = cfb::CompoundFile::open(Cursor::new(data)) else {
        return "ole";
    };
    let class = file.root_entry().clsid().to_string().to_lowercase();
    CLASSES
        .iter()
        .find(|(c, _)| *c == class)
        .map_or("ole", |(_, name)| name)
}

/// What `infer` says, in our names where ours differ.
fn of_infer(found: &infer::Type) -> TrueType {
    let name = match found.extension() {
        "jpx" | "jpg" => "jpg",
        "tif" | "cr2" => "tif",
        // `infer` says so of any `MZ`; `by_magic` took the real programs.
        "dll" | "exe" => "other",
        "mach" => "macho",
        "m4v" => "mp4",
        "gz" | "tgz" => "gz",
        other => other,
    };
    named(name).unwrap_or(TrueType {
        name,
        group: group_of(found.matcher_type()),
    })
}

fn group_of(matcher: infer::MatcherType) -> Group {
    use infer::MatcherType as M;
    match matcher {
        M::Image => Group::Image,
        M::Doc | M::Book => Group::Document,
        M::Audio => Group::Audio,
        M::Video => Group::Video,
        M::Archive => Group::Archive,
        // The programs among `infer`'s are named in TYPES; its other "applications" are
        // certificates, disk images, object files.
        M::App => Group::Other,
        M::Font => Group::Font,
        M::Text => Group::Text,
        M::Custom => Group::Other,
    }
}

/// How many first bytes say whether a file is text.
const SNIFF: usize = 8192;

/// True when the first bytes are UTF-8 (or ASCII) with no NUL and few control characters.
fn is_text(data: &[u8]) -> bool {
    let head = &data[..data.len().min(SNIFF)];
    if head.contains(&0) {
        return false;
    }
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        // Cut inside a character at the end of the head: still text.
        Err(e) => e.error_len().is_none() && data.len() > SNIFF,
    };
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c | 0x1b))
        .count();
    valid && control * 100 <= head.len()
}

/// True when text starts as a web page does.
fn looks_like_html(data: &[u8]) -> bool {
    let head = &data[..data.len().min(512)];
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let text = text.trim_start_matches('\u{feff}').trim_start();
    text.starts_with("<!doctype html") || text.starts_with("<html")
}

#[cfg(test)]
pub(crate) mod tests;
