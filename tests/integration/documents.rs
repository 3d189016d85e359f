//! Mail, documents and installers through the binary (`handle` on the emulator's
//! notifications), each built here at test time the way mail clients, office suites and
//! installers build them, with EICAR inside: a base64 mail attachment, a uuencoded file in an
//! mbox, a zip attached to a mail inside a cabinet (three formats deep), an MSZIP cabinet, a
//! gzipped newc cpio, an ISO 9660 image, an OLE2 document's stream and its OLE1 package, a package inside a
//! presentation's compressed object record, a macro whose source
//! only decompressed shows, an RTF's embedded package, a PDF's embedded file, TNEF, BinHex,
//! SZDD and an HTML `data:` URI. Every one was `Clean` before these formats were opened. (The
//! other cpio formats: src/inspect/formats/cpio.rs; clamav-testfiles: scripts/detection.py.)

use std::io::{Cursor, Write};

use base64::Engine as _;
use pretty_assertions::assert_eq;

use crate::containers::handled;
use crate::support::*;

fn b64(data: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(data);
    let lines: Vec<&str> = text
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    lines.join("\r\n")
}

/// A multipart mail with a text body and `attachment` as base64, as mail clients send it.
fn mail(name: &str, attachment: &[u8]) -> Vec<u8> {
    format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\n\
         Content-Type: text/plain\r\n\r\nSee attached.\r\n--XX\r\n\
         Content-Type: application/octet-stream; name=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{}\r\n--XX--\r\n",
        b64(attachment)
    )
    .into_bytes()
}

/// A zip storing `data` as `name`.
fn zip(name: &str, data: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file(name, options).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap().into_inner()
}

/// An MSZIP cabinet of `name`.
fn cab(name: &str, data: &[u8]) -> Vec<u8> {
    let mut builder = cab::CabinetBuilder::new();
    builder
        .add_folder(cab::CompressionType::MsZip)
        .add_file(name);
    let mut writer = builder.build(Cursor::new(Vec::new())).unwrap();
    while let Some(mut file) = writer.next_file().unwrap() {
        file.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

/// A compound file with `data` as a stream, and an `Ole10Native` package of `data`.
fn ole(data: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut stream = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    stream
        .create_stream("/WordDocument")
        .unwrap()
        .write_all(data)
        .unwrap();
    let mut package = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    package
        .create_stream("/\u{1}Ole10Native")
        .unwrap()
        .write_all(&ole10_native("invoice.com", data))
        .unwrap();
    let bytes = |c: cfb::CompoundFile<Cursor<Vec<u8>>>| c.into_inner().into_inner();
    (bytes(stream), bytes(package))
}

/// What Windows' Packager writes for a file dropped into a document: a size, flags, the
/// label, the path, two reserved words, the temporary path, the data's size and the data.
fn ole10_native(name: &str, data: &[u8]) -> Vec<u8> {
    let path = format!("C:\\Temp\\{name}\0");
    let body = [
        &[2u8, 0][..],
        format!("{name}\0").as_bytes(),
        path.as_bytes(),
        &[0, 0, 3, 0],
        &(path.len() as u32).to_le_bytes(),
        path.as_bytes(),
        &(data.len() as u32).to_le_bytes(),
        data,
    ]
    .concat();
    [(body.len() as u32).to_le_bytes().to_vec(), body].concat()
}

/// An RTF embedding `data` as an OLE1 `Package` object, as Word saves a dropped file.
fn rtf(data: &[u8]) -> Vec<u8> {
    let mut object = vec![1, 5, 0, 0, 2, 0, 0, 0];
    for s in ["Package\0", "", ""] {
        object.extend_from_slice(&(s.len() as u32).to_le_bytes());
        object.extend_from_slice(s.as_bytes());
    }
    object.extend_from_slice(&ole10_native("invoice.com", data));
    let hex = hex::encode(object);
    format!("{{\\rtf1\\ansi{{\\object\\objemb{{\\*\\objdata\r\n{hex}}}}}}}").into_bytes()
}

/// A newc cpio of `name`.
fn cpio(name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data, mode) in [(name, data, 0o100644), ("TRAILER!!!", &b""[..], 0)] {
        out.extend_from_slice(b"070701");
        for field in [
            1,
            mode,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0,
        ] {
            out.extend_from_slice(format!("{field:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(out.len().div_ceil(4) * 4, 0);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(4) * 4, 0);
    }
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Outlook's TNEF with `data` attached as `name`.
fn tnef(name: &str, data: &[u8]) -> Vec<u8> {
    let attribute = |id: u32, data: &[u8]| {
        let sum = data
            .iter()
            .map(|b| u16::from(*b))
            .fold(0u16, u16::wrapping_add);
        [
            &[2u8][..],
            &id.to_le_bytes(),
            &(data.len() as u32).to_le_bytes(),
            data,
            &sum.to_le_bytes(),
        ]
        .concat()
    };
    [
        vec![0x78, 0x9f, 0x3e, 0x22, 1, 0],
        attribute(0x0001_8010, format!("{name}\0").as_bytes()),
        attribute(0x0006_800f, data),
    ]
    .concat()
}

/// BinHex 4.0 of `data` as `name` (CRCs left zero: readers that check them are not the
/// ones malware is written for).
fn binhex(name: &str, data: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8] = b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";
    let header = [
        &[name.len() as u8][..],
        name.as_bytes(),
        &[0],
        b"TEXTttxt",
        &[0, 0],
        &(data.len() as u32).to_be_bytes(),
        &0u32.to_be_bytes(),
        &[0, 0],
    ]
    .concat();
    let plain = [header, data.to_vec(), vec![0, 0, 0, 0]].concat();
    let mut escaped = Vec::new();
    for b in plain {
        escaped.push(b);
        if b == 0x90 {
            escaped.push(0);
        }
    }
    let mut text = b"(This file must be converted with BinHex 4.0)\r\n:".to_vec();
    for triple in escaped.chunks(3) {
        let t = [
            triple[0],
            *triple.get(1).unwrap_or(&0),
            *triple.get(2).unwrap_or(&0),
        ];
        let n = u32::from(t[0]) << 16 | u32::from(t[1]) << 8 | u32::from(t[2]);
        for i in 0..=triple.len() {
            text.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
        }
    }
    text.extend_from_slice(b":\r\n");
    text
}

/// A Word 97 document whose macro `source` is stored as Office stores it: after a cache of
/// compiled code, compressed (MS-OVBA; literal tokens only, a flag byte before every 8).
pub(crate) fn macro_document(source: &[u8]) -> Vec<u8> {
    let mut compressed = vec![1u8];
    for chunk in source.chunks(4096) {
        let mut body = Vec::new();
        for eight in chunk.chunks(8) {
            body.push(0);
            body.extend_from_slice(eight);
        }
        let header = 0xb000u16 | (body.len() as u16 + 2 - 3);
        compressed.extend_from_slice(&header.to_le_bytes());
        compressed.extend_from_slice(&body);
    }
    let stream = [vec![0xcc; 300], compressed].concat();
    assert!(
        memchr::memmem::find(&stream, b"AutoOpen").is_none(),
        "hidden as stored"
    );
    let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    file.create_storage_all("/Macros/VBA").unwrap();
    for (path, data) in [
        ("/WordDocument", &b"text"[..]),
        ("/Macros/VBA/Module1", &stream),
    ] {
        file.create_stream(path).unwrap().write_all(data).unwrap();
    }
    file.into_inner().into_inner()
}

/// A PowerPoint 97 presentation embedding `object` (an OLE2 file) as PowerPoint does: a
/// zlib-compressed `ExOleObjStg` record inside a container record of its document stream.
fn presentation(object: &[u8]) -> Vec<u8> {
    let record = |version_instance: u16, kind: u16, body: &[u8]| {
        let header = [version_instance.to_le_bytes(), kind.to_le_bytes()].concat();
        [
            header,
            (body.len() as u32).to_le_bytes().to_vec(),
            body.to_vec(),
        ]
        .concat()
    };
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(object).unwrap();
    let compressed = [
        (object.len() as u32).to_le_bytes().to_vec(),
        z.finish().unwrap(),
    ]
    .concat();
    let stream = record(0x0f, 0x03e8, &record(0x10, 0x1011, &compressed));
    let mut file = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
    file.create_stream("/PowerPoint Document")
        .unwrap()
        .write_all(&stream)
        .unwrap();
    file.into_inner().into_inner()
}

/// A PDF with `data` attached as an embedded file, Flate-compressed, as Acrobat attaches.
fn pdf(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(data).unwrap();
    let packed = z.finish().unwrap();
    [
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Names << /EmbeddedFiles << /Names [(eicar.com) 2 0 R] >> >> >>\nendobj\n".as_slice(),
        b"2 0 obj\n<< /Type /Filespec /F (eicar.com) /EF << /F 3 0 R >> >>\nendobj\n",
        format!("3 0 obj\n<< /Type /EmbeddedFile /Filter /FlateDecode /Length {} >>\nstream\n", packed.len()).as_bytes(),
        &packed,
        b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n",
    ]
    .concat()
}

/// SZDD (`COMPRESS.EXE`) of `data`, every byte a literal.
fn szdd(data: &[u8]) -> Vec<u8> {
    let mut out = b"SZDD\x88\xf0\x27\x33A_".to_vec();
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    for chunk in data.chunks(8) {
        out.push(0xff);
        out.extend_from_slice(chunk);
    }
    out
}

/// Each format with EICAR inside comes out `Infected`, named by its path through the
/// containers; their benign twins stay `Clean`.
#[tokio::test]
async fn eicar_is_found_in_mail_documents_and_installers() {
    let eicar = EICAR.as_bytes();
    let (doc, package) = ole(eicar);
    let slides = presentation(&package);
    let uuencoded = format!(
        "From x@example.com Thu Jul 31 13:51:21 2008\nFrom: x@example.com\nSubject: old\n\n\
         begin 644 eicar.com\n{}\n`\nend\n",
        uuencode(eicar)
    );
    let objects = vec![
        (
            "attachment.eml",
            mail("eicar.com", eicar),
            "attachment.eml/eicar.com",
        ),
        (
            "three-deep.cab",
            cab("forward.eml", &mail("x.zip", &zip("eicar.com", eicar))),
            "three-deep.cab/forward.eml/x.zip/eicar.com",
        ),
        (
            "old.mbox",
            uuencoded.into_bytes(),
            "old.mbox/part0.txt/eicar.com",
        ),
        ("setup.cab", cab("eicar.com", eicar), "setup.cab/eicar.com"),
        (
            "invoice.iso",
            s3_yara_scan::inspect::formats::fuzz::iso("EICAR.COM", eicar),
            "invoice.iso/DIR/EICAR.COM",
        ),
        (
            "initrd.cpio.gz",
            gzip(&cpio("eicar.com", eicar)),
            "initrd.cpio.gz/initrd.cpio/eicar.com",
        ),
        ("report.doc", doc, "report.doc/WordDocument"),
        (
            "package.doc",
            package,
            "package.doc/_Ole10Native/invoice.com",
        ),
        (
            "letter.rtf",
            rtf(eicar),
            "letter.rtf/object1.ole/invoice.com",
        ),
        (
            "slides.ppt",
            slides,
            "slides.ppt/PowerPoint Document/oleobject1.ole/_Ole10Native/invoice.com",
        ),
        (
            "winmail.dat",
            tnef("eicar.com", eicar),
            "winmail.dat/eicar.com",
        ),
        (
            "eicar.hqx",
            binhex("eicar.com", eicar),
            "eicar.hqx/eicar.com",
        ),
        ("eicar.co_", szdd(eicar), "eicar.co_/expanded"),
        ("attached.pdf", pdf(eicar), "attached.pdf/obj3.bin"),
        (
            "page.html",
            format!(
                "<a href=\"data:application/octet-stream;base64,{}\">x</a>",
                b64(eicar).replace("\r\n", "")
            )
            .into_bytes(),
            "page.html/data1.octet-stream",
        ),
    ];
    let source = b"Attribute VB_Name = \"Module1\"\r\nSub AutoOpen()\r\n    \
                   CreateObject(\"WScript.Shell\").Run \"calc\"\r\nEnd Sub\r\n";
    let benign = vec![
        ("benign.eml", mail("notes.txt", b"meeting at noon")),
        ("benign.cab", cab("notes.txt", b"meeting at noon")),
        ("benign.rtf", rtf(b"meeting at noon")),
        ("benign.pdf", pdf(b"meeting at noon")),
    ];
    let mut uploads: Vec<(&'static str, Vec<u8>, Option<&'static str>)> = objects
        .iter()
        .map(|(key, bytes, _)| (*key, bytes.clone(), None))
        .collect();
    uploads.extend(benign.into_iter().map(|(key, bytes)| (key, bytes, None)));
    let tags = handled("documents", uploads).await;
    for (key, _, member) in &objects {
        assert_eq!(
            tags[key]["scan-result"], "Infected",
            "{key}: {:?}",
            tags[key]
        );
        assert_eq!(
            tags[key]["scan-matches"],
            format!("{member}:EICAR_Test_File"),
            "{key}"
        );
    }
    // The macro's source, decompressed from its module stream, is what the rule reads.
    let macros = handled("macros", vec![("macro.doc", macro_document(source), None)]).await;
    assert_eq!(macros["macro.doc"]["scan-result"], "Infected", "{macros:?}");
    assert_eq!(
        macros["macro.doc"]["scan-matches"],
        "macro.doc/Macros/VBA/Module1.vba:Office_Macro_AutoExec_Shell"
    );
    for key in ["benign.eml", "benign.cab", "benign.rtf", "benign.pdf"] {
        assert_eq!(tags[key]["scan-result"], "Clean", "{key}: {:?}", tags[key]);
    }
}

/// Lines of uuencode for `data`: a length character, then four characters per three bytes
/// (a backquote for zero).
fn uuencode(data: &[u8]) -> String {
    let char_of = |six: u8| if six == 0 { '`' } else { (b' ' + six) as char };
    let mut lines = Vec::new();
    for chunk in data.chunks(45) {
        let mut line = String::from(char_of(chunk.len() as u8));
        for triple in chunk.chunks(3) {
            let t = [
                triple[0],
                *triple.get(1).unwrap_or(&0),
                *triple.get(2).unwrap_or(&0),
            ];
            for six in [
                t[0] >> 2,
                (t[0] << 4 | t[1] >> 4) & 63,
                (t[1] << 2 | t[2] >> 6) & 63,
                t[2] & 63,
            ] {
                line.push(char_of(six));
            }
        }
        lines.push(line);
    }
    lines.join("\n")
}
