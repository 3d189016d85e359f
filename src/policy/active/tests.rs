use super::*;
use crate::policy::types::named;

fn place<'a>(name: &'a str, extension: &'a str, kind: &str, parent: Option<&str>) -> Place<'a> {
    Place {
        name,
        extension,
        kind: named(kind).unwrap(),
        parent: parent.map(|p| named(p).unwrap()),
    }
}

#[test]
fn a_vba_module_names_the_routine_that_runs_on_open() {
    let module = place("Module1.vba", ".vba", "text", Some("ole"));
    let source =
        b"Attribute VB_Name = \"Module1\"\r\nSub autoopen()\r\n Shell \"calc\"\r\nEnd Sub\r\n";
    assert_eq!(find(source, module), [Active::Vba(Some("AutoOpen"))]);
    assert_eq!(
        find(b"Sub Helper()\r\nEnd Sub", module),
        [Active::Vba(None)]
    );
    assert_eq!(Active::Vba(Some("AutoOpen")).rule(), "active:vba:AutoOpen");
    // A file named .vba in a zip is text, not a macro.
    assert!(find(source, place("x.vba", ".vba", "text", Some("zip"))).is_empty());
}

#[test]
fn excel_4_macro_sheets_name_auto_open() {
    let sheet = place("Workbook.xlm", ".xlm", "text", Some("xls"));
    let text = b"SHEET \"Macro1\" macro very-hidden\nNAME \"Auto_Open\" = Macro1!R1C1\n";
    assert_eq!(find(text, sheet), [Active::Xlm(Some("Auto_Open"))]);
}

#[test]
fn pdf_javascript_launch_and_open_actions_are_told_by_name_tokens() {
    let pdf = place("a.pdf", ".pdf", "pdf", None);
    let open = b"%PDF-1.7\n1 0 obj << /OpenAction 2 0 R >>\n2 0 obj << /S /JavaScript /JS (app.alert(1)) >>";
    assert_eq!(find(open, pdf), [Active::PdfJavaScript { on_open: true }]);
    let launch = b"%PDF-1.4\n<< /S /Launch /F (cmd.exe) >>";
    assert_eq!(find(launch, pdf), [Active::PdfLaunch]);
    // Names that only start like the tokens, and plain documents, are nothing.
    let plain = b"%PDF-1.4\n<< /JSON 1 /Launched 2 /OpenAction [3 0 R /Fit] >>";
    assert!(find(plain, pdf).is_empty());
    // A decoded object stream of the PDF is read too; a page's text, or a stream's data
    // in the file, is not.
    let stream = place("obj4", "", "text", Some("pdf"));
    let objects = b"12 0 13 20 <</S/JavaScript/JS 5 0 R>> <</Type/Page>>";
    assert_eq!(
        find(objects, stream),
        [Active::PdfJavaScript { on_open: false }]
    );
    let page = b"0 g 0 G BT /F1 9 Tf [(<</S/JavaScript/JS (x)>>)]TJ ET";
    assert!(find(page, stream).is_empty());
    let data = b"%PDF-1.4\n4 0 obj <</Length 9>> stream\n/JS (x)\nendstream endobj";
    assert!(find(data, pdf).is_empty());
}

#[test]
fn rtf_objects_dde_fields_and_scripts_in_archives() {
    let rtf = place("a.rtf", ".rtf", "rtf", None);
    let object = b"{\\rtf1{\\object\\objemb{\\*\\objclass Equation.3}\\objdata 0105}}";
    assert_eq!(
        find(object, rtf),
        [Active::RtfObject(Some("Equation.3".into()))]
    );
    let dde = b"{\\rtf1{\\field{\\*\\fldinst DDEAUTO c:\\\\windows\\\\cmd.exe \"/k calc\"}}}";
    assert_eq!(find(dde, rtf), [Active::Dde]);
    let part = place("word/document.xml", ".xml", "text", Some("docx"));
    let xml = b"<w:instrText xml:space=\"preserve\"> DDE cmd \"/c calc\"</w:instrText>";
    assert_eq!(find(xml, part), [Active::Dde]);
    assert!(find(b"<w:t>hidden dde settings</w:t>", part).is_empty());
    let script = place("run.ps1", ".ps1", "text", Some("zip"));
    assert_eq!(
        find(b"Start-Process calc", script),
        [Active::Script("ps1".into())]
    );
    let shortcut = place("x", "", "lnk", Some("eml"));
    assert_eq!(find(b"L\0\0\0", shortcut), [Active::Script("lnk".into())]);
    // A `#!` script anywhere, web code in a tarball, are ordinary software.
    let shell = place("configure", "", "sh", Some("zip"));
    assert!(find(b"#!/bin/sh", shell).is_empty());
    let web = place("searchindex.js", ".js", "text", Some("tar"));
    assert!(find(b"Search.setIndex({})", web).is_empty());
    // The same script as the object itself, or a document's part, is not "in an archive".
    assert!(
        find(
            b"Start-Process calc",
            place("run.ps1", ".ps1", "text", None)
        )
        .is_empty()
    );
}

#[test]
fn programs_in_documents_and_files_in_onenote() {
    let exe = place("payload.exe", ".exe", "exe", Some("pdf"));
    assert_eq!(
        find(&crate::inspect::true_type::tests::pe(), exe),
        [Active::EmbeddedProgram]
    );
    let file = place("invoice.txt", ".txt", "text", Some("one"));
    assert_eq!(find(b"hi", file), [Active::OneNoteFile]);
    // A program in a zip is a file like any other: the type policies judge it.
    assert!(find(b"MZ", place("setup.exe", ".exe", "exe", Some("zip"))).is_empty());
}
