//! Canaries: benign files kept under `<rules prefix>canary/`, looked at with a rule package
//! before it is put in force, as the scanners will look at them once it is: their archive
//! members and compressed streams too (`inspect`), with the externals set as for an object
//! (`filename`, `filepath`, `extension` with its dot, `filetype`). A rule that fires on one is
//! made `private` rather than cut out: a private rule never reports a match, yet other rules of
//! the package that name it in their condition still compile (cutting it would break them, and
//! refuse the whole package).

use std::collections::BTreeSet;
use std::time::Duration;

use yara_x_parser::ast::{AST, Item, RuleFlags, WithSpan};

use crate::config::ArchiveLimits;
use crate::inspect::{self, Incomplete, Look};
use crate::object::ObjectRef;
use crate::policy::Policy;
use crate::scan::{Engine, RuleSet};
use crate::store::Budget;

/// Where canaries live, under the rules prefix.
pub const CANARY_FOLDER: &str = "canary/";

/// A canary's look (with its members) gives up after this: a rule that slow on a small benign
/// file is one to drop anyway, but the update reports it rather than hang.
const TIMEOUT: Duration = Duration::from_secs(60);

/// How the scanners look at an object, for canaries to be looked at the same way.
#[derive(Debug, Clone)]
pub struct Sight {
    /// The bucket the canaries are in (their `filepath` starts with it, as an object's does).
    pub bucket: String,
    /// How far archives and compressed streams are looked into (`ARCHIVE_*`).
    pub limits: ArchiveLimits,
    /// The memory members may take (`MAX_OBJECT_SIZE`).
    pub memory: u64,
}

/// The public rules of `rules` that fire on any of `canaries` (key, bytes), in their bytes or
/// in what they contain, by identifier. A canary that cannot be looked at in full (a limit, a
/// timeout) is an error: a rule could fire in what went unseen.
///
/// The rules are freed when the round ends (`scan/scanners.rs`).
pub fn firing(
    rules: yara_x::Rules,
    canaries: &[(String, Vec<u8>)],
    sight: &Sight,
) -> Result<BTreeSet<String>, String> {
    // Only the package's rules are dropped: the policies' matches and hash lists are not its.
    let names: BTreeSet<String> = rules.iter().map(|r| r.identifier().to_owned()).collect();
    let engine = Engine::new(RuleSet::new(rules, "canaries"), TIMEOUT);
    let (sets, budget) = (engine.rules(), Budget::memory(sight.memory));
    let look = Look {
        engine: &engine,
        rules: &sets,
        limits: &sight.limits,
        policy: &Policy::OFF,
        budget: &budget,
    };
    let mut fired = BTreeSet::new();
    for (key, bytes) in canaries {
        let object = ObjectRef::new(sight.bucket.as_str(), key.as_str());
        let inspection = inspect::inspect(&look, bytes, &object, TIMEOUT);
        if let Some(Incomplete::Unscannable(why) | Incomplete::NoRoom(why)) = &inspection.incomplete
        {
            return Err(format!(
                "the canary {key} could not be looked at in full: {why}"
            ));
        }
        let matched = inspection.matches.into_iter().map(|m| m.rule);
        fired.extend(matched.filter(|rule| names.contains(rule)));
    }
    Ok(fired)
}

/// `text` with the rules named in `names` made `private` (the keyword put before `rule`).
/// Names not declared in `text` are left alone.
pub fn make_private(text: &str, names: &BTreeSet<String>) -> String {
    let ast = AST::from(text);
    let mut at: Vec<usize> = Vec::new();
    for item in &ast.items {
        let Item::Rule(rule) = item else { continue };
        if !names.contains(rule.identifier.name) || rule.flags.contains(RuleFlags::Private) {
            continue;
        }
        // The identifier follows the `rule` keyword; the modifiers (`global`) come before it.
        let start = rule.identifier.span().range().start;
        if let Some(keyword) = text[..start].rfind("rule") {
            at.push(keyword);
        }
    }
    let mut out = text.to_owned();
    at.sort_unstable();
    for position in at.into_iter().rev() {
        out.insert_str(position, "private ");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::config::{Action, Config};

    fn sight() -> Sight {
        Sight {
            bucket: "rules".into(),
            limits: Config::new(Action::Tag).archive,
            memory: 1 << 20,
        }
    }

    fn fired(rules: &str, canaries: &[(&str, &[u8])]) -> BTreeSet<String> {
        let rules = crate::rules::compile(&[("p".into(), rules.as_bytes().to_vec())]).unwrap();
        let canaries: Vec<_> = (canaries.iter())
            .map(|(key, bytes)| (key.to_string(), bytes.to_vec()))
            .collect();
        firing(rules, &canaries, &sight()).unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        w.write_all(bytes).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn named_rules_become_private_and_others_stay() {
        let text = "rule a { condition: true }\nglobal rule b { condition: true }\n\
                    private rule c { condition: true }\nrule d { condition: a }\n";
        let names: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
        let out = make_private(text, &names);
        assert_eq!(
            out,
            "private rule a { condition: true }\nglobal private rule b { condition: true }\n\
             private rule c { condition: true }\nrule d { condition: a }\n"
        );
        assert_eq!(
            fired(&out, &[("canary/x.txt", b"x")]),
            ["d".to_owned()].into(),
            "a still evaluates for d, but is not reported"
        );
    }

    #[test]
    fn a_rule_firing_inside_a_compressed_canary_fires() {
        let rules = r#"rule Inner { strings: $a = "\n.SH NAME" condition: $a }"#;
        let page = gzip(b".TH LS 1\n.SH NAME\nls \\- list directory contents\n");
        assert_eq!(
            fired(rules, &[("team/canary/ls.1.gz", &page)]),
            ["Inner".to_owned()].into(),
            "the scanners look into the gzip stream: so do the canaries"
        );
    }

    #[test]
    fn the_externals_are_set_as_for_an_object() {
        let rules = r#"
            rule By_Extension { condition: extension == ".gz" }
            rule By_Type { condition: filetype == "ELF" }
            rule By_Name { condition: filename == "ls" }
            rule By_Path { condition: filepath == "rules/team/canary/bin" }
        "#;
        let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0";
        let got = fired(
            rules,
            &[
                ("team/canary/bin/ls", elf),
                ("team/canary/a.gz", &gzip(b"x")),
            ],
        );
        let want = ["By_Extension", "By_Name", "By_Path", "By_Type"].map(String::from);
        assert_eq!(got, want.into());
    }
}
