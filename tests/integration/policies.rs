//! The policies through the binary (`handle` on the emulator's notifications, defaults unless
//! set): `ALLOWED_TYPES` per prefix, `TYPE_MISMATCH` by extension and by `Content-Type`,
//! `ACTIVE_CONTENT` (a macro that runs on open, PDF JavaScript run by an open action) and
//! `ALLOW_HASHES` (a listed EICAR is `Clean`), each with a harmless twin that stays `Clean`.

use std::io::{Cursor, Write};

use pretty_assertions::assert_eq;
use sha2::{Digest, Sha256};

use crate::containers::{Upload, handled_with};
use crate::documents::macro_document;
use crate::support::*;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";
const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0";

/// The headers of a PE program: `MZ`, where the PE signature is, the signature.
fn exe() -> Vec<u8> {
    let mut headers = vec![0u8; 0x48];
    headers[..2].copy_from_slice(b"MZ");
    headers[0x3c] = 0x40;
    headers[0x40..0x44].copy_from_slice(b"PE\0\0");
    headers
}

/// A Word document (OOXML): its parts, and a macro project when `vba` is one.
fn word(vba: Option<&[u8]>) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    let mut parts: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", b"<Types/>"),
        ("_rels/.rels", b"<Relationships/>"),
        (
            "word/document.xml",
            b"<w:document><w:t>Dear hiring manager</w:t></w:document>",
        ),
    ];
    if let Some(vba) = vba {
        parts.push(("word/vbaProject.bin", vba));
    }
    for (name, data) in parts {
        w.start_file(name, options).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A PDF whose open action runs JavaScript, or (`js` false) only shows its first page.
fn pdf(js: bool) -> Vec<u8> {
    let action = match js {
        true => "<< /S /JavaScript /JS (app.alert\\('hi'\\)) >>",
        false => "[3 0 R /Fit]",
    };
    format!(
        "%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R /OpenAction {action} >>\nendobj\n\
         2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n\
         3 0 obj\n<< /Type /Page /Parent 2 0 R >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%EOF\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn types_mismatches_and_active_content_are_suspicious_and_their_twins_clean() {
    let autoopen =
        macro_document(b"Attribute VB_Name = \"Module1\"\r\nSub AutoOpen()\r\nEnd Sub\r\n");
    let objects: Vec<Upload> = vec![
        ("images/cat.jpg", ELF.to_vec(), None),
        ("images/real.png", PNG.to_vec(), None),
        ("notes/readme.txt", exe(), None),
        ("notes/plain.txt", b"name,age\nann,3\n".to_vec(), None),
        ("uploads/avatar", exe(), None),
        ("docs/open.pdf", pdf(true), None),
        ("docs/page.pdf", pdf(false), None),
        ("cv/letter.docm", word(Some(&autoopen)), None),
        ("cv/letter.docx", word(None), None),
    ];
    let env = [("ALLOWED_TYPES", "images/=image")];
    let tags = handled_with(
        "policies",
        objects,
        &[("uploads/avatar", "image/png")],
        &env,
    )
    .await;
    let seen = |key: &str| {
        let t = &tags[key];
        let get = |k: &str| t.get(k).cloned().unwrap_or_default();
        (get("scan-result"), get("scan-matches"), get("scan-detail"))
    };
    let (result, matches, detail) = seen("images/cat.jpg");
    assert_eq!(
        (result.as_str(), matches.as_str()),
        ("Suspicious", "type:elf type:elf-as-jpg")
    );
    assert!(
        detail.starts_with("elf is not allowed under images/ by ALLOWED_TYPES: only image"),
        "{detail}"
    );
    let (result, matches, _) = seen("notes/readme.txt");
    assert_eq!(
        (result.as_str(), matches.as_str()),
        ("Suspicious", "type:exe-as-txt")
    );
    let (result, matches, _) = seen("uploads/avatar");
    assert_eq!(
        (result.as_str(), matches.as_str()),
        ("Suspicious", "type:exe-as-image/png")
    );
    let (result, matches, _) = seen("docs/open.pdf");
    assert_eq!(
        (result.as_str(), matches.as_str()),
        ("Suspicious", "active:pdf-javascript:OpenAction")
    );
    let (result, matches, detail) = seen("cv/letter.docm");
    assert_eq!(result, "Suspicious");
    assert_eq!(
        matches,
        "letter.docm/word/vbaProject.bin/Macros/VBA/Module1.vba:active:vba:AutoOpen"
    );
    assert_eq!(detail, "VBA macro that runs AutoOpen when opened");
    for key in [
        "images/real.png",
        "notes/plain.txt",
        "docs/page.pdf",
        "cv/letter.docx",
    ] {
        assert_eq!(seen(key).0, "Clean", "{key}: {:?}", tags[key]);
    }
}

#[tokio::test]
async fn bytes_an_allow_list_holds_are_clean() {
    let dir = tempfile::tempdir().unwrap();
    let list = format!(
        "{} vendor-test-file\n",
        hex::encode(Sha256::digest(EICAR.as_bytes()))
    );
    std::fs::write(dir.path().join("fp.sha256"), list).unwrap();
    let objects: Vec<Upload> = vec![
        ("allowed/eicar.com", EICAR.as_bytes().to_vec(), None),
        ("other/eicar2.com", [EICAR.as_bytes(), b"\n"].concat(), None),
    ];
    let allow = dir.path().to_str().unwrap().to_owned();
    let env = [("ALLOW_HASHES", allow.as_str())];
    let tags = handled_with("allowlists", objects, &[], &env).await;
    assert_eq!(
        tags["allowed/eicar.com"]["scan-result"], "Clean",
        "{tags:?}"
    );
    // Other bytes are judged as ever; the lists are part of the ruleset identity.
    assert_eq!(tags["other/eicar2.com"]["scan-result"], "Infected");
    assert_eq!(
        tags["allowed/eicar.com"]["scan-rules"],
        tags["other/eicar2.com"]["scan-rules"]
    );
}
