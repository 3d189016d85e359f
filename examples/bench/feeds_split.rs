//! What a magic-byte split of a feed-sized set would buy (`--feeds-split`): the rules whose
//! condition is `<magic> and …` (a PE, ELF or Mach-O header at offset 0, or `pe.is_pe`) can
//! only match objects that start so, so they could be compiled apart and scanned only there.
//! This measures that, with bare yara-x on the same sample: the embedded rules alone, the
//! whole set, and the split (the unguarded rules on every object, the guarded ones only where
//! the first bytes allow). A file whose halves do not compile apart (a rule naming another, a
//! `global` rule) stays whole on the unguarded side. Not the scanner's behaviour: a figure for
//! deciding whether to build it.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use yara_x_parser::ast::{AST, Expr, Item, RuleFlags, WithSpan};

use crate::{round, time};

/// The first bytes that a guard names, by the guard's normalized text.
const GUARDS: [(&str, &[u8]); 9] = [
    ("uint16(0)==0x5a4d", b"MZ"),
    ("uint16be(0)==0x4d5a", b"MZ"),
    ("pe.is_pe", b"MZ"),
    ("uint32(0)==0x464c457f", b"\x7fELF"),
    ("uint32be(0)==0x7f454c46", b"\x7fELF"),
    ("uint32(0)==0xfeedfacf", b"\xcf\xfa\xed\xfe"),
    ("uint32(0)==0xfeedface", b"\xce\xfa\xed\xfe"),
    ("uint32(0)==0xcafebabe", b"\xbe\xba\xfe\xca"),
    ("uint32be(0)==0xcafebabe", b"\xca\xfe\xba\xbe"),
];

/// The sets of `rulesets` split by guard, timed against the whole on `sample`.
pub fn run(rulesets: &Path, sample: &[Vec<u8>]) -> anyhow::Result<serde_json::Value> {
    let embedded = compile(&embedded_sources()?)?;
    let (mut whole, mut open, mut guarded) = (Vec::new(), Vec::new(), Vec::new());
    for path in rule_files(rulesets) {
        let name = path.strip_prefix(rulesets)?.display().to_string();
        let text = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
        let (rest, kept) = split(&text);
        match (
            compile(&[(name.clone(), rest.clone())]),
            compile(&[(name.clone(), kept.clone())]),
        ) {
            (Ok(_), Ok(_)) => {
                open.push((name.clone(), rest));
                guarded.push((name.clone(), kept));
            }
            _ => open.push((name.clone(), text.clone())),
        }
        whole.push((name, text));
    }
    let (whole, open, guarded) = (compile(&whole)?, compile(&open)?, compile(&guarded)?);
    let bytes: usize = sample.iter().map(Vec::len).sum();
    let mb_s = |d: Duration| round(bytes as f64 / d.as_secs_f64() / 1e6);
    let (e, w) = (
        scan_time(&embedded, sample, |_| true),
        scan_time(&whole, sample, |_| true),
    );
    let split = scan_time(&open, sample, |_| true) + scan_time(&guarded, sample, admitted);
    let report = json!({
        "sample_objects": sample.len(), "sample_bytes": bytes,
        "rules_whole": whole.iter().len(), "rules_unguarded": open.iter().len(),
        "rules_guarded": guarded.iter().len(),
        "objects_with_a_guarded_magic": sample.iter().filter(|o| admitted(o)).count(),
        "embedded_mb_s": mb_s(e), "whole_mb_s": mb_s(w), "split_mb_s": mb_s(split),
        "whole_vs_embedded": round(e.as_secs_f64() / w.as_secs_f64()),
        "split_vs_embedded": round(e.as_secs_f64() / split.as_secs_f64()),
    });
    println!(
        "\nfeeds split: {} rules, {} guarded by a magic; on {} objects ({} bytes, {} with such \
         a magic): embedded {} MB/s, whole {} MB/s ({} x), split {} MB/s ({} x)",
        report["rules_whole"],
        report["rules_guarded"],
        report["sample_objects"],
        report["sample_bytes"],
        report["objects_with_a_guarded_magic"],
        report["embedded_mb_s"],
        report["whole_mb_s"],
        report["whole_vs_embedded"],
        report["split_mb_s"],
        report["split_vs_embedded"]
    );
    Ok(report)
}

/// `text` as two sources, each with the file's imports: its unguarded rules, its guarded ones.
fn split(text: &str) -> (String, String) {
    let ast = AST::from(text);
    let mut imports = String::new();
    let (mut open, mut guarded) = (String::new(), String::new());
    for item in &ast.items {
        match item {
            Item::Import(import) => {
                imports.push_str(&format!("import \"{}\"\n", import.module_name));
            }
            Item::Include(_) => {}
            Item::Rule(rule) => {
                let Some(source) = rule_text(text, rule) else {
                    continue;
                };
                let side = match guard(text, &rule.condition) {
                    Some(_) => &mut guarded,
                    None => &mut open,
                };
                side.push_str(&source);
                side.push('\n');
            }
        }
    }
    (format!("{imports}{open}"), format!("{imports}{guarded}"))
}

/// A rule's source: from its `rule` keyword (its flags written again) to the brace closing it.
fn rule_text(text: &str, rule: &yara_x_parser::ast::Rule) -> Option<String> {
    let start = text[..rule.identifier.span().range().start].rfind("rule")?;
    let end = rule.condition.span().range().end;
    let close = end + text[end..].find('}')? + 1;
    let mut flags = String::new();
    if rule.flags.contains(RuleFlags::Global) {
        flags.push_str("global ");
    }
    if rule.flags.contains(RuleFlags::Private) {
        flags.push_str("private ");
    }
    Some(format!("{flags}{}", &text[start..close]))
}

/// The first bytes a condition requires, when it is a guard or an `and` with one among its
/// operands (at any depth of `and`s).
fn guard(text: &str, condition: &Expr) -> Option<&'static [u8]> {
    if let Expr::And(and) = condition {
        return and.operands().find_map(|operand| guard(text, operand));
    }
    let plain: String = text[condition.span().range()]
        .split_whitespace()
        .collect::<String>()
        .to_lowercase();
    // Parentheses around it (no guard starts with one or ends with one).
    let plain = plain.trim_start_matches('(').trim_end_matches(')');
    GUARDS
        .iter()
        .find(|(g, _)| *g == plain)
        .map(|(_, magic)| *magic)
}

/// True when `object` starts with one of the guards' magics.
fn admitted(object: &[u8]) -> bool {
    GUARDS.iter().any(|(_, magic)| object.starts_with(magic))
}

fn rule_files(rulesets: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = ["reversinglabs-yara-rules", "signature-base"]
        .iter()
        .flat_map(|set| walkdir::WalkDir::new(rulesets.join(set)))
        .filter_map(Result::ok)
        .map(walkdir::DirEntry::into_path)
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yar" | "yara")))
        .collect();
    files.sort();
    files
}

/// The embedded rules' sources (`signatures/`, as `build.rs` compiles them).
fn embedded_sources() -> anyhow::Result<Vec<(String, String)>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("signatures");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yar" | "yara")
        ) {
            out.push((path.display().to_string(), std::fs::read_to_string(&path)?));
        }
    }
    Ok(out)
}

/// Rules compiled as the scanner compiles users' sources.
fn compile(files: &[(String, String)]) -> anyhow::Result<yara_x::Rules> {
    let files: Vec<_> = (files.iter())
        .map(|(name, text)| (name.clone(), text.as_bytes().to_vec()))
        .collect();
    s3_yara_scan::rules::compile(&files).map_err(anyhow::Error::msg)
}

/// The best of three scans of the objects of `sample` that `admit` lets in, with `rules`.
fn scan_time(rules: &yara_x::Rules, sample: &[Vec<u8>], admit: fn(&[u8]) -> bool) -> Duration {
    let mut scanner = yara_x::Scanner::new(rules);
    let mut best = Duration::MAX;
    for _ in 0..3 {
        best = best.min(time(|| {
            for item in sample.iter().filter(|o| admit(o)) {
                let _ = scanner.scan(item).map(|r| r.matching_rules().len());
            }
        }));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_guarded_by_a_magic_go_apart_with_the_imports_and_their_flags() {
        let text = r#"import "pe"
rule Pe_Only { strings: $a = "x" condition: uint16(0) == 0x5A4D and $a }
private rule Nested { condition: (filesize < 10 and (pe.is_pe and true)) }
rule Elf_Or { condition: uint32(0) == 0x464c457f or filesize == 3 }
rule Plain { strings: $b = "y" condition: $b }
"#;
        let (open, guarded) = split(text);
        assert!(guarded.starts_with("import \"pe\"\n"), "{guarded}");
        assert!(guarded.contains("rule Pe_Only") && guarded.contains("private rule Nested"));
        assert!(
            open.contains("rule Elf_Or") && open.contains("rule Plain"),
            "{open}"
        );
        assert!(!open.contains("Pe_Only") && !guarded.contains("Plain"));
        for half in [open, guarded] {
            compile(&[("half".into(), half)]).unwrap();
        }
        assert!(admitted(b"MZ\x90\x00") && admitted(b"\x7fELF\x02") && !admitted(b"#!/bin/sh"));
    }
}
