//! Active content: what runs when a file is opened. Found in the bytes the walk already read
//! (VBA module source, Excel 4.0 macro sheets as text, a PDF's objects and decoded streams, an
//! RTF's control words, a document's field codes) and in what an archive or mail holds (a
//! script, a shortcut). Each finding names what runs and, for macros, the entry point that runs
//! it on open.

use memchr::memmem;

use super::types::{Group, TrueType};

/// One piece of active content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Active {
    /// A VBA module, and the routine that runs on open or close, if it has one.
    Vba(Option<&'static str>),
    /// Excel 4.0 macro sheets, and the name that runs them on open, if any.
    Xlm(Option<&'static str>),
    /// PDF JavaScript, run on open when the document also has an `OpenAction` or `AA`.
    PdfJavaScript {
        /// An open action or additional actions are there to run it.
        on_open: bool,
    },
    /// A PDF `Launch` action: it starts a program.
    PdfLaunch,
    /// An OLE object embedded in RTF, with its class (`Package`, `Equation.3`) when named.
    RtfObject(Option<String>),
    /// A DDE field: it runs a command when the document's fields update.
    Dde,
    /// A script or shortcut inside an archive or a mail: its extension or type.
    Script(String),
    /// A file embedded in a OneNote section.
    OneNoteFile,
    /// A program inside a document (an OLE package, a PDF's embedded file).
    EmbeddedProgram,
}

impl Active {
    /// The finding's name in `scan-matches`: `active:vba:AutoOpen`, `active:pdf-javascript`.
    pub fn rule(&self) -> String {
        let (what, entry): (&str, Option<&str>) = match self {
            Active::Vba(entry) => ("vba", *entry),
            Active::Xlm(entry) => ("xlm", *entry),
            Active::PdfJavaScript { on_open: true } => ("pdf-javascript", Some("OpenAction")),
            Active::PdfJavaScript { on_open: false } => ("pdf-javascript", None),
            Active::PdfLaunch => ("pdf-launch", None),
            Active::RtfObject(class) => ("rtf-object", class.as_deref()),
            Active::Dde => ("dde", None),
            Active::Script(ext) => ("script", Some(ext.as_str())),
            Active::OneNoteFile => ("onenote-file", None),
            Active::EmbeddedProgram => ("embedded-program", None),
        };
        match entry {
            Some(entry) => format!("active:{what}:{entry}"),
            None => format!("active:{what}"),
        }
    }

    /// What it is, for the log and `scan-detail` (in the characters S3 allows in tag values).
    pub fn about(&self) -> String {
        match self {
            Active::Vba(Some(entry)) => format!("VBA macro that runs {entry} when opened"),
            Active::Vba(None) => "VBA macro".into(),
            Active::Xlm(Some(entry)) => format!("Excel 4.0 macro sheet run by {entry}"),
            Active::Xlm(None) => "Excel 4.0 macro sheet".into(),
            Active::PdfJavaScript { on_open: true } => "PDF JavaScript run on open".into(),
            Active::PdfJavaScript { on_open: false } => "PDF JavaScript".into(),
            Active::PdfLaunch => "PDF Launch action: starts a program".into(),
            Active::RtfObject(Some(class)) => format!("OLE object {class} in RTF"),
            Active::RtfObject(None) => "OLE object in RTF".into(),
            Active::Dde => "DDE field: runs a command".into(),
            Active::Script(ext) => format!("{ext} script or shortcut in an archive or mail"),
            Active::OneNoteFile => "file embedded in OneNote".into(),
            Active::EmbeddedProgram => "program embedded in a document".into(),
        }
    }
}

/// What the walk knows of the bytes being looked at.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// The file or member name.
    pub name: &'a str,
    /// Its extension, lower case with its dot, or empty.
    pub extension: &'a str,
    /// Its type.
    pub kind: TrueType,
    /// The type of the bytes it was found in, for a member.
    pub parent: Option<TrueType>,
}

/// Extensions of what runs when opened, flagged inside archives and mail.
const SCRIPTS: &[&str] = &[
    ".lnk", ".hta", ".js", ".jse", ".vbs", ".vbe", ".wsf", ".wsh", ".ps1", ".psm1", ".bat", ".cmd",
];

/// Archives Windows does not open with a double click: the web code and `.bat` files a
/// software or documentation tarball holds are not delivered to be run.
const UNIX_ARCHIVES: &[&str] = &["tar", "cpio", "gz", "bz2", "xz", "zst"];

/// Routines Office runs by themselves (MS-VBA names; Word's, Excel's, PowerPoint's).
const AUTORUN: &[&str] = &[
    "AutoOpen",
    "AutoExec",
    "AutoClose",
    "AutoNew",
    "AutoExit",
    "Document_Open",
    "Document_Close",
    "Document_New",
    "DocumentOpen",
    "Workbook_Open",
    "Workbook_Activate",
    "Workbook_Close",
    "Auto_Open",
    "Auto_Close",
];

/// The active content in `data`, the bytes at `place`.
pub fn find(data: &[u8], place: Place<'_>) -> Vec<Active> {
    let parent = place.parent.map(|p| p.name);
    let in_ole = matches!(parent, Some("doc" | "xls" | "ppt" | "ole"));
    let mut found = Vec::new();
    if in_ole && place.extension == ".vba" {
        found.push(Active::Vba(entry(data, "sub ")));
    }
    if in_ole && place.extension == ".xlm" {
        found.push(Active::Xlm(entry(data, "name \"")));
    }
    if place.kind.name == "pdf" || parent == Some("pdf") {
        found.extend(pdf(data, place.kind.name == "pdf"));
    }
    if place.kind.name == "rtf" {
        found.extend(rtf(data));
    }
    let document_part = place.parent.is_some_and(|p| p.group == Group::Document)
        && (place.extension == ".xml" || place.name.ends_with("WordDocument"));
    if (document_part || place.kind.name == "rtf") && has_dde(data) {
        found.push(Active::Dde);
    }
    found.extend(in_container(place));
    found
}

/// What a member is by where it is: a Windows script or shortcut in an archive or mail, a file in OneNote, a
/// program in a document.
fn in_container(place: Place<'_>) -> Option<Active> {
    let parent = place.parent?;
    // Windows runs these on a double click; a `#!` script or PHP file in a tarball is
    // ordinary software (the type policies judge those).
    let script = SCRIPTS.contains(&place.extension) || place.kind.name == "lnk";
    if parent.group.holds_files() && script && !UNIX_ARCHIVES.contains(&parent.name) {
        let what = match place.extension {
            "" => place.kind.name.to_owned(),
            ext => ext.trim_start_matches('.').to_owned(),
        };
        return Some(Active::Script(what));
    }
    if parent.name == "one" {
        return Some(Active::OneNoteFile);
    }
    (parent.group == Group::Document && place.kind.group == Group::Executable)
        .then_some(Active::EmbeddedProgram)
}

/// The first autorun routine `text` defines after `before` (`sub `), in any letter case.
fn entry(text: &[u8], before: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    AUTORUN.iter().copied().find(|name| {
        let wanted = format!("{before}{}", name.to_ascii_lowercase());
        memmem::find(&lower, wanted.as_bytes()).is_some()
    })
}

/// PDF actions that run something: a name token ended by a delimiter, in the PDF's own
/// objects (not in its streams' data, where pages' text and fonts' bytes are) or in an object
/// stream it decoded. A page's content stream is not read: its text may quote the names.
fn pdf(data: &[u8], whole: bool) -> Vec<Active> {
    let objects = match whole {
        true => outside_streams(data),
        false if is_object_stream(data) => vec![data],
        false => return Vec::new(),
    };
    let name = |token: &[u8]| {
        objects.iter().any(|part| {
            memmem::find_iter(part, token).any(|at| {
                part.get(at + token.len())
                    .is_none_or(|b| b.is_ascii_whitespace() || b"()<>[]{}/%".contains(b))
            })
        })
    };
    let mut found = Vec::new();
    if name(b"/JavaScript") || name(b"/JS") {
        found.push(Active::PdfJavaScript {
            on_open: name(b"/OpenAction") || name(b"/AA"),
        });
    }
    if name(b"/Launch") {
        found.push(Active::PdfLaunch);
    }
    found
}

/// The parts of a PDF outside its streams' data (`stream` … `endstream`).
fn outside_streams(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut at = 0;
    while let Some(start) = memmem::find(&data[at..], b"stream").map(|i| at + i) {
        parts.push(&data[at..start]);
        // `endstream` ends the data; none: the rest is data.
        match memmem::find(&data[start + 6..], b"endstream") {
            Some(end) => at = start + 6 + end + b"endstream".len(),
            None => return parts,
        }
    }
    parts.push(&data[at..]);
    parts
}

/// True for an object stream's data: pairs of numbers (object number, offset), then the first
/// object, a dictionary or an array. A page's content starts with operators (`0 g`, `BT`).
fn is_object_stream(data: &[u8]) -> bool {
    let head = &data[..data.len().min(256)];
    let first = head
        .iter()
        .position(|b| !(b.is_ascii_digit() || b.is_ascii_whitespace()));
    let numbers = head[..first.unwrap_or(head.len())]
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .count();
    numbers >= 2 && first.is_some_and(|i| matches!(head[i], b'<' | b'['))
}

/// Objects embedded in RTF (`\object`), with the class `\objclass` names.
fn rtf(data: &[u8]) -> Option<Active> {
    memmem::find(data, b"\\object")?;
    let class = memmem::find(data, b"\\objclass").map(|at| {
        let rest = &data[at + b"\\objclass".len()..];
        let name: Vec<u8> = (rest.iter())
            .skip_while(|b| b.is_ascii_whitespace())
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            .take(64)
            .copied()
            .collect();
        String::from_utf8_lossy(&name).into_owned()
    });
    Some(Active::RtfObject(class.filter(|c| !c.is_empty())))
}

/// A `DDE` or `DDEAUTO` field code: after `instrText>` (Word XML), `\fldinst` (RTF) or a field
/// start (0x13, Word binary), in any letter case.
fn has_dde(data: &[u8]) -> bool {
    let lower = data.to_ascii_lowercase();
    memmem::find_iter(&lower, b"dde").any(|at| {
        let before = &lower[at.saturating_sub(48)..at];
        let after = lower.get(at + 3).copied();
        let opens = memmem::find(before, b"instrtext").is_some()
            || memmem::find(before, b"fldinst").is_some()
            || before.contains(&0x13);
        opens && (after == Some(b' ') || lower[at + 3..].starts_with(b"auto"))
    })
}

#[cfg(test)]
mod tests;
