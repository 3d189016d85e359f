//! The vocabularies the contract prints: each verdict, how each tag schema writes it, and the
//! types `ALLOWED_TYPES` names.

use serde_json::{Value, json};

use crate::verdict::{Verdict, VerdictKind};

/// Each tag schema: the keys it fixes and the value each verdict is written as (`Error`
/// twice: a missing permission, and anything else).
pub(super) fn tag_schemas() -> Value {
    use crate::verdict::{Failure, TagSchema};
    let denied = Verdict::Error(Failure {
        reason: String::new(),
        access_denied: true,
    });
    let schemas = TagSchema::all().map(|schema| {
        let mut values: serde_json::Map<String, Value> = examples()
            .iter()
            .map(|v| (v.name().to_owned(), json!(schema.value(v))))
            .collect();
        values.insert("Error (access denied)".into(), json!(schema.value(&denied)));
        let keys: serde_json::Map<String, Value> = schema
            .fixed_keys()
            .iter()
            .map(|(var, key)| ((*var).to_owned(), json!(key)))
            .collect();
        let name = schema.name().to_owned();
        (
            name,
            json!({"keys": keys, "values": values, "no_matches": schema.no_matches()}),
        )
    });
    Value::Object(schemas.collect())
}

/// The vocabulary of `ALLOWED_TYPES`: the groups, and each type name with its group.
pub(super) fn types() -> Value {
    use crate::policy::types::{Group, TYPES};
    json!({
        "any": "every type",
        "groups": Group::ALL.iter().map(|g| g.name()).collect::<Vec<_>>(),
        "types": TYPES.iter().map(|t| json!({"name": t.name, "group": t.group.name()}))
            .collect::<Vec<_>>(),
    })
}

pub(super) fn verdicts() -> &'static [&'static str] {
    VerdictKind::NAMES
}

/// One verdict of each kind.
pub(super) fn examples() -> Vec<Verdict> {
    VerdictKind::all().map(example).collect()
}

/// A verdict of `kind`, with empty contents.
fn example(kind: VerdictKind) -> Verdict {
    use crate::scan::Match;
    match kind {
        VerdictKind::Clean => Verdict::Clean,
        VerdictKind::Infected => Verdict::Infected(vec![Match::named("rule")]),
        VerdictKind::Suspicious => Verdict::Suspicious(vec![Match::named("rule")]),
        VerdictKind::Unscannable => Verdict::Unscannable(String::new()),
        VerdictKind::Error => Verdict::Error("".into()),
        VerdictKind::Skipped => Verdict::Skipped(String::new()),
        VerdictKind::Released => Verdict::Released {
            by: String::new(),
            reason: String::new(),
        },
    }
}
