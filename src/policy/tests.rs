use super::*;
use crate::policy::types::named;

fn node(at: Option<&str>, depth: usize, ext: &str, kind: &str, parent: Option<&str>) -> Node {
    Node {
        at: at.map(str::to_owned),
        depth,
        extension: ext.into(),
        kind: named(kind).unwrap(),
        parent: parent.map(|p| named(p).unwrap()),
        active: Vec::new(),
    }
}

fn policy(allowed: &str) -> Policy {
    Policy {
        allowed: AllowedTypes::parse(allowed).unwrap(),
        ..Policy::default()
    }
}

fn claims(key: &str) -> Claims<'_> {
    Claims {
        key,
        content_type: None,
    }
}

fn rules(found: &[Match]) -> Vec<String> {
    found.iter().map(Match::label).collect()
}

#[test]
fn a_type_not_allowed_under_its_prefix_is_suspicious_with_the_prefix_named() {
    let p = policy("images/=image;cv/=pdf,docx,doc;*=any");
    let elf = [node(None, 0, ".jpg", "elf", None)];
    let found = judge(&p, claims("images/cat.jpg"), &elf);
    assert_eq!(rules(&found), ["type:elf", "type:elf-as-jpg"]);
    assert!(found.iter().all(Match::is_suspicious));
    let detail = found[0].meta[0].1.clone();
    assert_eq!(
        detail,
        "elf is not allowed under images/ by ALLOWED_TYPES: only image"
    );
    let png = [node(None, 0, ".jpg", "png", None)];
    assert!(
        judge(&p, claims("images/cat.jpg"), &png).is_empty(),
        "a .jpg that is a PNG"
    );
    // `*` covers other keys; the longest prefix wins; no prefix, no `*`: anything goes.
    assert!(
        judge(&p, claims("other/x.bin"), &elf[..]).len() == 1,
        "only the mismatch"
    );
    let nested = policy("a/=image;a/b/=exe");
    let exe = [node(None, 0, "", "exe", None)];
    assert!(judge(&nested, claims("a/b/setup"), &exe).is_empty());
    assert_eq!(
        rules(&judge(&nested, claims("a/setup"), &exe)),
        ["type:exe"]
    );
    assert!(judge(&policy("a/=image"), claims("b/setup"), &exe).is_empty());
}

#[test]
fn files_in_archives_are_judged_but_a_documents_own_parts_are_not() {
    let p = policy("cv/=pdf,docx,zip");
    let nodes = [
        node(None, 0, ".zip", "zip", None),
        node(Some("cv.zip>me.docx"), 1, ".docx", "docx", Some("zip")),
        node(
            Some("cv.zip>me.docx>word/document.xml"),
            2,
            ".xml",
            "text",
            Some("docx"),
        ),
        node(Some("cv.zip>tool.exe"), 1, ".exe", "exe", Some("zip")),
    ];
    let found = judge(&p, claims("cv/cv.zip"), &nodes);
    assert_eq!(rules(&found), ["cv.zip>tool.exe:type:exe"]);
}

#[test]
fn a_harmless_name_on_what_runs_code_or_holds_it_is_a_mismatch() {
    let p = Policy::default();
    let exe_txt = [node(None, 0, ".txt", "exe", None)];
    assert_eq!(
        rules(&judge(&p, claims("notes/readme.txt"), &exe_txt)),
        ["type:exe-as-txt"]
    );
    let csv_txt = [node(None, 0, ".txt", "text", None)];
    assert!(judge(&p, claims("notes/a.txt"), &csv_txt).is_empty());
    // A .pdf that is a zip holding a program.
    let zip_pdf = [
        node(None, 0, ".pdf", "zip", None),
        node(Some("x.pdf>run.exe"), 1, ".exe", "exe", Some("zip")),
    ];
    assert_eq!(
        rules(&judge(&p, claims("x.pdf"), &zip_pdf)),
        ["type:zip-as-pdf"]
    );
    // The Content-Type claims too; the mismatch policy can be turned off.
    let content = Claims {
        key: "upload",
        content_type: Some("image/png; q=1"),
    };
    assert_eq!(rules(&judge(&p, content, &exe_txt)), ["type:exe-as-txt"]);
    let exe = [node(None, 0, "", "exe", None)];
    assert_eq!(
        rules(&judge(&p, content, &exe)),
        ["type:exe-as-image/png; q=1"]
    );
    let off = Policy {
        mismatch: Mismatch::Ignore,
        ..Policy::default()
    };
    assert!(judge(&off, claims("notes/readme.txt"), &exe_txt).is_empty());
}

#[test]
fn active_content_is_suspicious_infected_or_ignored_as_set() {
    let mut module = node(
        Some("x.docm>vbaProject.bin>Module1.vba"),
        2,
        ".vba",
        "text",
        Some("ole"),
    );
    module.active = vec![Active::Vba(Some("AutoOpen"))];
    let nodes = [node(None, 0, ".docm", "docx", None), module];
    let found = judge(&Policy::default(), claims("x.docm"), &nodes);
    assert_eq!(
        rules(&found),
        ["x.docm>vbaProject.bin>Module1.vba:active:vba:AutoOpen"]
    );
    assert!(found[0].is_suspicious());
    let infected = Policy {
        active: ActiveContent::Infected,
        ..Policy::default()
    };
    assert!(!judge(&infected, claims("x.docm"), &nodes)[0].is_suspicious());
    // An active document named as a harmless type of another group is a mismatch as well.
    let named_jpg = [node(None, 0, ".jpg", "docx", None), nodes[1].clone()];
    let found = judge(&Policy::default(), claims("x.jpg"), &named_jpg);
    assert_eq!(found[0].rule, "type:docx-as-jpg");
}

#[test]
fn empty_files_are_allowed_everywhere() {
    let p = policy("images/=image");
    let folder = [node(None, 0, "", "empty", None)];
    assert!(judge(&p, claims("images/"), &folder).is_empty());
}
