//! Lookups the test tools make (`contract --quarantine-keys`, `--identities`, `--source-tags`):
//! one JSON line out for each JSON line in, each answered by the very function the pipeline
//! uses, so that a tool (scripts/invariants.py) asks the binary rather than keeping a copy of
//! its rules: where an object's quarantine copy goes ([`action::quarantine_key`]), what pins
//! the bytes an event names ([`ObjectRef::pin`]), what a copy's source tag names
//! ([`SourceTag::parse`]).

use std::io::{BufRead, Write};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::action::{self, SourceTag};
use crate::object::{ObjectRef, Pin, pinned_version};

/// What the tools can look up, a batch at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// `["bucket", "key"]` → the key of its quarantine copy, as a JSON string.
    QuarantineKeys,
    /// `{"bucket", "key", "versionId", "eTag"}` → the same with only what pins the bytes.
    Identities,
    /// A source tag's value, as a JSON string → `{"versionId", "eTag"}` or `{"error"}`.
    SourceTags,
}

/// An input line that is not what its lookup reads, or input or output that failed.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The line is not the JSON the lookup reads.
    #[error("line {line}: not {expected}")]
    Line {
        /// Counted from 1.
        line: usize,
        /// What the lookup reads.
        expected: &'static str,
        /// What the JSON parser said.
        source: serde_json::Error,
    },
    /// Reading standard input or writing standard output failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// An object as `decode` prints it, less its size and kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    bucket: String,
    key: String,
    #[serde(rename = "versionId", default)]
    version_id: Option<String>,
    #[serde(rename = "eTag", default)]
    etag: Option<String>,
}

impl Lookup {
    /// What one input line holds, for errors.
    fn expected(self) -> &'static str {
        match self {
            Lookup::QuarantineKeys => "a [\"bucket\", \"key\"] pair",
            Lookup::Identities => "an object {\"bucket\", \"key\", \"versionId\", \"eTag\"}",
            Lookup::SourceTags => "a source tag's value as a JSON string",
        }
    }

    /// The answer to one input line.
    pub fn answer(self, line: &str) -> Result<Value, serde_json::Error> {
        Ok(match self {
            Lookup::QuarantineKeys => {
                let (bucket, key): (String, String) = serde_json::from_str(line)?;
                json!(action::quarantine_key(&bucket, &key))
            }
            Lookup::Identities => identity(serde_json::from_str(line)?),
            Lookup::SourceTags => named_by(&serde_json::from_str::<String>(line)?),
        })
    }

    /// Answers every line of `input` on `output`, in order.
    pub fn answer_all(
        self,
        input: impl BufRead,
        mut output: impl Write,
    ) -> Result<(), LookupError> {
        for (n, line) in input.lines().enumerate() {
            let answer = self.answer(&line?).map_err(|source| LookupError::Line {
                line: n + 1,
                expected: self.expected(),
                source,
            })?;
            writeln!(output, "{answer}")?;
        }
        output.flush()?;
        Ok(())
    }
}

/// The object with only what pins its bytes: its version id when that is not `null` (the
/// event decoder's rule), else its ETag; both `null` when neither is known.
fn identity(named: Named) -> Value {
    let object = ObjectRef {
        bucket: named.bucket,
        key: named.key,
        version_id: pinned_version(named.version_id.as_deref()),
    };
    let (version_id, etag) = match object.pin(named.etag.as_deref()) {
        Some(Pin::Version(v)) => (Some(v), None),
        Some(Pin::ETag(e)) => (None, Some(e)),
        None => (None, None),
    };
    json!({"bucket": object.bucket, "key": object.key, "versionId": version_id, "eTag": etag})
}

/// What a source tag's value names, or why it names nothing.
fn named_by(value: &str) -> Value {
    match SourceTag::parse(value) {
        Ok(tag) => json!({"versionId": tag.version_id, "eTag": tag.etag}),
        Err(e) => json!({"error": e.to_string()}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(lookup: Lookup, input: &str) -> Vec<Value> {
        let mut out = Vec::new();
        lookup.answer_all(input.as_bytes(), &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn quarantine_keys_are_the_actions_own() {
        let long = "k".repeat(2000);
        let input = format!("[\"b\", \"a/c d\"]\n[\"b\", \"{long}\"]\n");
        assert_eq!(
            answers(Lookup::QuarantineKeys, &input),
            [json!("b/a/c d"), json!(action::quarantine_key("b", &long))]
        );
    }

    #[test]
    fn a_version_pins_the_bytes_and_without_one_the_etag() {
        let input = [
            r#"{"bucket": "b", "key": "k", "versionId": "v1", "eTag": "e"}"#,
            r#"{"bucket": "b", "key": "k", "versionId": "null", "eTag": "e"}"#,
            r#"{"bucket": "b", "key": "k", "versionId": null, "eTag": "e"}"#,
            r#"{"bucket": "b", "key": "k", "eTag": "e"}"#,
            r#"{"bucket": "b", "key": "k", "versionId": "", "eTag": null}"#,
        ]
        .join("\n");
        let pinned =
            |v: Value, e: Value| json!({"bucket": "b", "key": "k", "versionId": v, "eTag": e});
        let by_etag = pinned(Value::Null, json!("e"));
        assert_eq!(
            answers(Lookup::Identities, &input),
            [
                pinned(json!("v1"), Value::Null),
                by_etag.clone(),
                by_etag.clone(),
                by_etag,
                pinned(Value::Null, Value::Null),
            ]
        );
    }

    #[test]
    fn a_source_tag_names_a_version_and_etag_or_says_why_not() {
        let input = "\"v1 abc-2\"\n\"null -\"\n\"v1\"\n";
        let got = answers(Lookup::SourceTags, input);
        assert_eq!(got[0], json!({"versionId": "v1", "eTag": "abc-2"}));
        assert_eq!(got[1], json!({"versionId": null, "eTag": null}));
        let why = got[2]["error"].as_str().unwrap();
        assert!(why.contains("`v1` is not `<version id> <ETag>`"), "{why}");
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn a_line_that_is_not_the_lookups_input_is_named() {
        let cases = [
            (
                Lookup::QuarantineKeys,
                "[\"b\"]",
                "a [\"bucket\", \"key\"] pair",
            ),
            (
                Lookup::Identities,
                r#"{"bucket": "b", "key": "k", "etag": "e"}"#,
                "an object",
            ),
            (Lookup::SourceTags, "v1 abc", "a source tag's value"),
        ];
        for (lookup, bad, expected) in cases {
            let input = format!("{}\n{bad}\n", good(lookup));
            let err = lookup.answer_all(input.as_bytes(), Vec::new()).unwrap_err();
            let message = err.to_string();
            assert!(message.starts_with("line 2: not "), "{message}");
            assert!(message.contains(expected), "{message}");
        }
    }

    fn good(lookup: Lookup) -> &'static str {
        match lookup {
            Lookup::QuarantineKeys => "[\"b\", \"k\"]",
            Lookup::Identities => r#"{"bucket": "b", "key": "k"}"#,
            Lookup::SourceTags => "\"v1 abc\"",
        }
    }
}
