//! Canaries: benign files kept under `<rules prefix>canary/`, scanned with a rule package
//! before it is put in force. A rule that fires on one is made `private` rather than cut out:
//! a private rule never reports a match, yet other rules of the package that name it in their
//! condition still compile (cutting it would break them, and refuse the whole package).

use std::collections::BTreeSet;
use std::time::Duration;

use yara_x_parser::ast::{AST, Item, RuleFlags, WithSpan};

use crate::scan::EXTERNALS;

/// Where canaries live, under the rules prefix.
pub const CANARY_FOLDER: &str = "canary/";

/// A canary scan gives up after this: a rule that slow on a small benign file is one to drop
/// anyway, but the update reports it rather than hang.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The public rules of `rules` that fire on any of `canaries` (key, bytes), by identifier.
pub fn firing(
    rules: &yara_x::Rules,
    canaries: &[(String, Vec<u8>)],
) -> Result<BTreeSet<String>, String> {
    let mut scanner = yara_x::Scanner::new(rules);
    scanner.set_timeout(TIMEOUT);
    let mut fired = BTreeSet::new();
    for (key, bytes) in canaries {
        let filename = key.rsplit('/').next().unwrap_or(key);
        let extension = filename.rsplit_once('.').map_or("", |(_, e)| e);
        for (name, value) in EXTERNALS.iter().zip([filename, key, extension, "", ""]) {
            // Only those the package declares can be set: nothing to fill in otherwise.
            let _ = scanner.set_global(name, value);
        }
        let results = scanner
            .scan(bytes)
            .map_err(|e| format!("scanning the canary {key}: {e}"))?;
        fired.extend(results.matching_rules().map(|r| r.identifier().to_owned()));
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
    use super::*;

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
        let rules = yara_x::compile(out.as_str()).unwrap();
        let fired = firing(&rules, &[("canary/x.txt".into(), b"x".to_vec())]).unwrap();
        assert_eq!(
            fired,
            ["d".to_owned()].into(),
            "a still evaluates for d, but is not reported"
        );
    }
}
