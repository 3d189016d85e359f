use super::*;

#[test]
fn every_name_detection_gives_is_in_the_vocabulary() {
    // `known` falls back to `other` for a name TYPES lacks: none may.
    for format in Format::ALL {
        let name = of_format(format, b"").name;
        assert!(named(name).is_some(), "{format:?} gives {name}");
    }
    for name in ["empty", "html", "text", "other"] {
        assert!(named(name).is_some(), "{name}");
    }
}

/// The headers of a PE program: `MZ`, where the PE signature is, the signature.
pub(crate) fn pe() -> Vec<u8> {
    let mut headers = vec![0u8; 0x48];
    headers[..2].copy_from_slice(b"MZ");
    headers[0x3c] = 0x40;
    headers[0x40..0x44].copy_from_slice(b"PE\0\0");
    headers
}

#[test]
fn programs_documents_media_and_text_are_told_by_their_bytes() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
    let pe = pe();
    let cases: [(&[u8], &str, Group); 9] = [
        (&pe, "exe", Group::Executable),
        (b"\x7fELF\x02\x01\x01", "elf", Group::Executable),
        (b"#!/bin/sh\necho hi\n", "sh", Group::Script),
        (b"%PDF-1.7\n", "pdf", Group::Document),
        (png, "png", Group::Image),
        (b"\xff\xd8\xff\xe0\0\x10JFIF\0", "jpg", Group::Image),
        (b"name,age\nann,3\n", "text", Group::Text),
        (b"<!DOCTYPE html><html></html>", "html", Group::Web),
        (b"", "empty", Group::Empty),
    ];
    for (bytes, name, group) in cases {
        assert_eq!(detect(bytes), TrueType { name, group }, "{name}");
    }
    assert_eq!(detect(&[0u8, 1, 2, 3, 200, 201]).group, Group::Other);
    // `MZ` without a PE header is no program (fonts' streams start so by chance).
    assert_ne!(detect(b"MZ\x90\0\x03\0\0\0").group, Group::Executable);
}

#[test]
fn a_zip_is_told_from_the_office_document_it_is() {
    use std::io::Write;
    let zip = |names: &[&str]| {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for name in names {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(b"<x/>").unwrap();
        }
        w.finish().unwrap().into_inner()
    };
    assert_eq!(detect(&zip(&["a.txt"])).name, "zip");
    let docx = zip(&["[Content_Types].xml", "word/document.xml"]);
    assert_eq!(detect(&docx), named("docx").unwrap());
}

#[test]
fn an_ole_file_is_told_by_its_root_class() {
    use std::io::Write;
    let ole = |class: Option<&str>| {
        let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        if let Some(class) = class {
            let id = uuid::Uuid::parse_str(class).unwrap();
            file.set_storage_clsid("/", id).unwrap();
        }
        file.create_stream("/WordDocument")
            .unwrap()
            .write_all(b"x")
            .unwrap();
        file.into_inner().into_inner()
    };
    assert_eq!(detect(&ole(None)).name, "ole");
    let doc = ole(Some("00020906-0000-0000-C000-000000000046"));
    assert_eq!(detect(&doc).name, "doc");
    let msi = ole(Some("000C1084-0000-0000-C000-000000000046"));
    assert_eq!(detect(&msi), named("msi").unwrap());
}
