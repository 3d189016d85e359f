//! What a magic-byte split of a feed-sized set would buy (`--feeds-split`): the rules whose
//! condition is `<magic> and …` (a PE, ELF or Mach-O header at offset 0, or `pe.is_pe`) can
//! only match objects that start so, so they could be compiled apart and scanned only there.
//! This measures that, with bare yara-x on the same sample: the embedded rules alone, the
//! whole set, and the split (the unguarded rules on every object, the rules guarded by each
//! magic only on the objects that start with it). A file whose halves do not compile apart (a rule naming another, a
//! `global` rule) stays whole on the unguarded side. Not the scanner's behaviour: a figure for
//! deciding whether to build it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use yara_x_parser::ast::{AST, Expr, Item, RuleFlags, WithSpan};

use crate::{round, time};

/// The first bytes an object must start with.
type Magic = &'static [u8];

/// The first bytes that a guard names, by the guard's normalized text.
const GUARDS: [(&str, Magic); 9] = [
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
    let (mut whole, mut open) = (Vec::new(), Vec::new());
    let mut guarded: BTreeMap<Magic, Vec<(String, String)>> = BTreeMap::new();
    let sets = ["reversinglabs-yara-rules", "signature-base"];
    for path in sets
        .iter()
        .flat_map(|set| crate::feeds_profile::rule_files(rulesets, set))
    {
        let name = path.strip_prefix(rulesets)?.display().to_string();
        let text = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
        let (rest, kept) = split(&text);
        let apart = std::iter::once(&rest).chain(kept.values());
        match apart
            .map(|half| compile(&[(name.clone(), half.clone())]))
            .all(|c| c.is_ok())
        {
            true => {
                open.push((name.clone(), rest));
                for (magic, half) in kept {
                    guarded.entry(magic).or_default().push((name.clone(), half));
                }
            }
            false => open.push((name.clone(), text.clone())),
        }
        whole.push((name, text));
    }
    let (whole, open) = (compile(&whole)?, compile(&open)?);
    let bytes: usize = sample.iter().map(Vec::len).sum();
    let mb_s = |d: Duration| round(bytes as f64 / d.as_secs_f64() / 1e6);
    let e = scan_time(&embedded, sample.iter().collect());
    let w = scan_time(&whole, sample.iter().collect());
    let mut split = scan_time(&open, sample.iter().collect());
    let mut by_magic = Vec::new();
    for (magic, files) in &guarded {
        let rules = compile(files)?;
        let objects: Vec<_> = sample.iter().filter(|o| o.starts_with(magic)).collect();
        by_magic.push(
            json!({"magic": hex::encode(magic), "rules": rules.iter().len(),
                             "objects": objects.len()}),
        );
        split += scan_time(&rules, objects);
    }
    let report = json!({
        "sample_objects": sample.len(), "sample_bytes": bytes,
        "rules_whole": whole.iter().len(), "rules_unguarded": open.iter().len(),
        "guarded": by_magic,
        "embedded_mb_s": mb_s(e), "whole_mb_s": mb_s(w), "split_mb_s": mb_s(split),
        "whole_vs_embedded": round(e.as_secs_f64() / w.as_secs_f64()),
        "split_vs_embedded": round(e.as_secs_f64() / split.as_secs_f64()),
    });
    println!(
        "\nfeeds split: {} rules, {} unguarded; guarded by magic {}; on {} objects ({} bytes): \
         embedded {} MB/s, whole {} MB/s ({} x), split {} MB/s ({} x)",
        report["rules_whole"],
        report["rules_unguarded"],
        report["guarded"],
        report["sample_objects"],
        report["sample_bytes"],
        report["embedded_mb_s"],
        report["whole_mb_s"],
        report["whole_vs_embedded"],
        report["split_mb_s"],
        report["split_vs_embedded"]
    );
    Ok(report)
}

/// `text` as sources, each with the file's imports: its unguarded rules, and its guarded ones
/// by the magic they require.
fn split(text: &str) -> (String, BTreeMap<Magic, String>) {
    let ast = AST::from(text);
    let mut imports = String::new();
    let mut open = String::new();
    let mut guarded: BTreeMap<Magic, String> = BTreeMap::new();
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
                    Some(magic) => guarded.entry(magic).or_default(),
                    None => &mut open,
                };
                side.push_str(&source);
                side.push('\n');
            }
        }
    }
    let with_imports = |rules: &str| format!("{imports}{rules}");
    let guarded = (guarded.into_iter())
        .map(|(m, rules)| (m, with_imports(&rules)))
        .collect();
    (with_imports(&open), guarded)
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
fn guard(text: &str, condition: &Expr) -> Option<Magic> {
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

/// The best of three scans of `objects` with `rules`.
fn scan_time(rules: &yara_x::Rules, objects: Vec<&Vec<u8>>) -> Duration {
    let mut scanner = yara_x::Scanner::new(rules);
    let mut best = Duration::MAX;
    for _ in 0..3 {
        best = best.min(time(|| {
            for item in &objects {
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
        let pe = &guarded[b"MZ".as_slice()];
        assert_eq!(guarded.len(), 1, "{guarded:?}");
        assert!(pe.starts_with("import \"pe\"\n"), "{pe}");
        assert!(pe.contains("rule Pe_Only") && pe.contains("private rule Nested"));
        assert!(
            open.contains("rule Elf_Or") && open.contains("rule Plain"),
            "{open}"
        );
        assert!(!open.contains("Pe_Only") && !pe.contains("Plain"));
        for half in [open, pe.clone()] {
            compile(&[("half".into(), half)]).unwrap();
        }
    }
}
