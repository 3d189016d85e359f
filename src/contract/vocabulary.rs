//! The vocabularies the contract prints: each verdict, how each tag schema writes it, and the
//! types `ALLOWED_TYPES` names.

use serde_json::{Value, json};

use crate::verdict::Verdict;

/// Each tag schema: the keys it fixes and the value each verdict is written as (`Error`
/// twice: a missing permission, and anything else).
pub(super) fn tag_schemas() -> Value {
    use crate::verdict::{Failure, TagSchema};
    let denied = Verdict::Error(Failure {
        reason: String::new(),
        access_denied: true,
    });
    let schemas = TagSchema::ALL.iter().map(|schema| {
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

pub(super) fn verdicts() -> Vec<&'static str> {
    examples().iter().map(Verdict::name).collect()
}

/// One verdict of each kind.
pub(super) fn examples() -> Vec<Verdict> {
    use crate::scan::Match;
    [
        Verdict::Clean,
        Verdict::Infected(vec![Match::named("rule")]),
        Verdict::Suspicious(vec![Match::named("rule")]),
        Verdict::Unscannable(String::new()),
        Verdict::Error("".into()),
        Verdict::Skipped(String::new()),
        Verdict::Released {
            by: String::new(),
            reason: String::new(),
        },
    ]
    .into()
}
