//! Property and fuzz tests of the event decoder (`s3_yara_scan::event`), run by `scripts/fuzz`:
//!
//! ```text
//! fuzz_events [--cases N] [--seed S] [--threads T]     (defaults: 1000000, 1, all cores)
//! ```
//!
//! Each thread is a proptest `TestRunner`: a failing input is shrunk to a smallest one before it
//! is reported.
//!
//! ```text
//! ```
//!
//! Cases are generated with proptest strategies, from random bytes up to structured mutations
//! of the real events in `events/`: dropped fields, wrong types, odd and huge strings, control
//! characters, percent-encoding edge cases, keys encoded as S3 encodes them, nesting far past
//! serde_json's recursion limit, and SQS batches mixing good and bad messages. Every body is
//! decoded on a 2 MiB thread stack and checked against:
//!
//! - no panic, and no body taking longer than [`SLOW`];
//! - an error is one line of bounded length with no control characters; a field error names a
//!   path from `Records`;
//! - decoded objects carry a valid bucket, a key of 1 to 1,024 bytes and no control characters
//!   in what is logged raw (bucket, version id, ignored event names);
//! - the result is the one an independent model of the format predicts ([`model_body`]):
//!   the same objects, or the same kind of error at the same field path; an S3-encoded random
//!   key decodes back to itself;
//! - in a batch, each message's result is its own: a bad message fails alone.
//!
//! `src/event/tests.rs` includes this file and runs a few thousand cases as a unit test.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

// Also compiled inside the library's unit tests (src/event/tests.rs), where lib.rs names the
// crate itself `s3_yara_scan`; `cfg(test)` cannot tell the two apart, as `cargo test
// --all-targets` builds this example with it too.
use s3_yara_scan::event as decoder;

use decoder::{Decoded, EventError};
use s3_yara_scan::object::MAX_KEY_BYTES;

/// A body taking longer than this to decode counts as too slow. Release builds decode the
/// largest bodies made here (2 MB) in tens of milliseconds; the margin is for a loaded machine,
/// whose preemptions count in this wall-clock time.
pub const SLOW: Duration = Duration::from_secs(10);

/// The longest error text accepted (quoted parts are cut to `MAX_QUOTED` characters, each at
/// most 10 bytes once escaped).
pub const MAX_ERROR_BYTES: usize = 4096;

// ---------------------------------------------------------------------------------------------
// Cases

/// One SQS message body to decode, and what to check beyond the model.
#[derive(Debug, Clone)]
pub struct Case {
    /// Which generator made it.
    pub kind: &'static str,
    /// The body; `None` is an SQS record without one.
    pub body: Option<String>,
    /// A key (record index, decoded key) the body must decode to: set by the round-trip cases,
    /// whose key was encoded as S3 encodes keys.
    pub key: Option<(usize, String)>,
    /// Text the error must contain (for nesting past the limit: `recursion limit`).
    pub error_contains: Option<&'static str>,
}

/// What one generated input is.
#[derive(Debug, Clone)]
pub enum Input {
    /// One body, decoded on its own.
    One(Case),
    /// A Lambda SQS event with several messages, parsed and decoded record by record.
    Batch(Vec<Case>),
}

fn case(kind: &'static str, body: String) -> Case {
    Case {
        kind,
        body: Some(body),
        key: None,
        error_contains: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures

const FIXTURES: &[&str] = &[
    include_str!("../events/sqs-batch-one-poison.json"),
    include_str!("../events/sqs-s3-direct-put.json"),
    include_str!("../events/sqs-sns-raw-put.json"),
    include_str!("../events/sqs-sns-s3-batch.json"),
    include_str!("../events/sqs-sns-s3-delete.json"),
    include_str!("../events/sqs-sns-s3-encoded-key.json"),
    include_str!("../events/sqs-sns-s3-multi-record.json"),
    include_str!("../events/sqs-sns-s3-put.json"),
    include_str!("../events/sqs-sns-s3-test-event.json"),
    include_str!("../events/sqs-sns-s3-versioned.json"),
];

struct Fixtures {
    /// Every message body of every fixture, good and bad.
    bodies: Vec<String>,
    /// The `Message` of every SNS envelope.
    messages: Vec<String>,
    /// S3 events whose records all create a valid object: the starting points of mutations.
    events: Vec<Value>,
    /// A real SNS envelope, to wrap mutated events in.
    envelope: Value,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES_CELL: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES_CELL.get_or_init(|| {
        let mut f = Fixtures {
            bodies: Vec::new(),
            messages: Vec::new(),
            events: Vec::new(),
            envelope: Value::Null,
        };
        for text in FIXTURES {
            let event: SqsEvent = serde_json::from_str(text).expect("fixture is an SQS event");
            for body in event.records.into_iter().filter_map(|r| r.body) {
                let Ok(value) = serde_json::from_str::<Value>(&body) else {
                    f.bodies.push(body);
                    continue;
                };
                let s3 = match value.get("Message").and_then(Value::as_str) {
                    Some(m) if value["Type"] == "Notification" => {
                        f.messages.push(m.to_owned());
                        if f.envelope.is_null() {
                            f.envelope = value.clone();
                        }
                        serde_json::from_str(m).ok()
                    }
                    _ => Some(value.clone()),
                };
                if let Some(s3) = s3
                    && let Model::Ok(m) = model_s3(&s3)
                    && !m.objects.is_empty()
                    && m.ignored.is_empty()
                {
                    f.events.push(s3);
                }
                f.bodies.push(body);
            }
        }
        assert!(
            f.events.len() >= 8 && f.envelope.is_object(),
            "fixtures missing"
        );
        f
    })
}

// ---------------------------------------------------------------------------------------------
// Strategies

/// Characters that stress a key or a name: separators, `%` and `+`, hex digits, control
/// characters and NUL, line separators and bidi overrides, non-ASCII, any char at all.
fn nasty_char() -> impl Strategy<Value = char> {
    any::<u64>().prop_map(nasty_char_from)
}

/// The character of [`nasty_char`] that `bits` picks.
fn nasty_char_from(bits: u64) -> char {
    const PUNCT: &[char] = &[
        '%', '+', '/', '.', '-', '_', ' ', '=', '&', '?', '#', '\\', '"', '\'', '*', '~',
    ];
    const ODD: &[char] = &[
        '\x7f', '\u{85}', '\u{2028}', '\u{2029}', '\u{202e}', '\u{feff}', '\u{200f}', '\u{2066}',
    ];
    const WIDE: &[char] = &['é', 'ï', 'ß', '€', '😀', '\u{301}', '\u{fffd}', '日'];
    let pick = |table: &[char]| table[(bits >> 8) as usize % table.len()];
    let n = (bits >> 8) as u32;
    match bits % 15 {
        0..=3 => char::from(b'a' + (n % 26) as u8),
        4 | 5 => char::from(b'0' + (n % 10) as u8),
        6 => char::from(b'A' + (n % 6) as u8),
        7..=9 => pick(PUNCT),
        10 | 11 => char::from((n % 32) as u8),
        12 => pick(ODD),
        13 => pick(WIDE),
        _ => char::from_u32(n % 0x11_0000).unwrap_or('\u{fffd}'),
    }
}

/// Up to `max` characters of [`nasty_char`]. Long strings are expanded from one random seed
/// (a SplitMix64 stream), as a vector of a million proptest values would cost a second.
fn nasty_string(max: usize) -> impl Strategy<Value = String> {
    (0..max, any::<u64>()).prop_map(|(len, seed)| nasty_string_from(len, seed))
}

fn nasty_string_from(len: usize, mut seed: u64) -> String {
    (0..len)
        .map(|_| {
            seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            nasty_char_from(z ^ (z >> 31))
        })
        .collect()
}

/// A raw (still encoded) key as an event might carry it: `%` in every odd position (`%`,
/// `%G1`, `%2`, `%%`), escapes that decode to invalid UTF-8 (`%FF%FE`, overlong, surrogate,
/// past U+10FFFF), escaped control characters, `+`, and keys around 1,024 bytes.
fn raw_key() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        3 => nasty_char().prop_map(String::from),
        2 => select(vec![
            "%", "%G1", "%FF%FE", "%FF", "%C3", "%C3%A9", "%c3%a9", "%2", "%%", "%25", "%2B",
            "+", "%20", "%00", "%0A", "%0d", "%1B", "%7F", "%E2%80%A8", "%ED%A0%80",
            "%F4%90%80%80", "%C0%AF", "%2F", "%u0041", "%+1", "%%41",
        ])
        .prop_map(String::from),
    ];
    prop_oneof![
        6 => prop::collection::vec(fragment, 0..24).prop_map(|f| f.concat()),
        1 => (1015usize..1035, nasty_string(4)).prop_map(|(n, tail)| format!("{}{tail}", "k".repeat(n))),
        1 => (330usize..350).prop_map(|n| "%E2%82%AC".repeat(n)),
    ]
}

/// How S3 (or an emulator) may encode a key; every choice decodes to the same key.
#[derive(Debug, Clone, Copy)]
pub struct Encoding {
    slash_raw: bool,
    space_plus: bool,
    lower_hex: bool,
    unicode_raw: bool,
    controls_raw: bool,
    punct_raw: bool,
}

fn encoding() -> impl Strategy<Value = Encoding> {
    any::<[bool; 6]>().prop_map(|b| Encoding {
        slash_raw: b[0],
        space_plus: b[1],
        lower_hex: b[2],
        unicode_raw: b[3],
        controls_raw: b[4],
        punct_raw: b[5],
    })
}

/// Every character but letters, digits and `-_.*` escaped.
pub const ENCODE_ALL: Encoding = Encoding {
    slash_raw: false,
    space_plus: false,
    lower_hex: false,
    unicode_raw: false,
    controls_raw: false,
    punct_raw: false,
};

/// `key` form-encoded the way S3 puts keys in events (`+` for a space, `%XX` for the bytes of
/// anything else but letters, digits and `-_.*`), with the latitude `e` allows.
pub fn s3_encode(key: &str, e: Encoding) -> String {
    let mut out = String::new();
    for c in key.chars() {
        let raw = match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' | '*' => true,
            '%' | '+' => false,
            ' ' if e.space_plus => {
                out.push('+');
                continue;
            }
            ' ' => false,
            '/' => e.slash_raw,
            c if c.is_ascii_control() => e.controls_raw,
            c if c.is_ascii() => e.punct_raw,
            _ => e.unicode_raw,
        };
        if raw {
            out.push(c);
        } else {
            for b in c.to_string().bytes() {
                out.push_str(&if e.lower_hex {
                    format!("%{b:02x}")
                } else {
                    format!("%{b:02X}")
                });
            }
        }
    }
    out
}

/// A random key to round-trip: mostly short, sometimes near or past 1,024 bytes.
fn round_trip_key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (1usize..48, any::<u64>()),
        1 => (250usize..1100, any::<u64>()),
    ]
    .prop_map(|(len, seed)| nasty_string_from(len, seed))
}

/// Any JSON, with keys that are often the ones the decoder looks for.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        nasty_string(12).prop_map(Value::String),
        select(vec![
            "ObjectCreated:Put",
            "ObjectRemoved:Delete",
            "ObjectTagging:Put",
            "s3:TestEvent",
            "Notification",
            "{}",
            "[]"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec![
            "Records", "eventName", "awsRegion", "s3", "bucket", "name", "object", "key", "size",
            "eTag", "versionId", "Type", "Message", "Event", "Bucket", "sequencer",
            "userIdentity", "principalId",
        ])
        .prop_map(String::from),
        1 => nasty_string(8),
    ]
}

/// The fields of an S3 record the decoder reads, from the record.
const FIELDS: &[&str] = &[
    "eventName",
    "awsRegion",
    "s3",
    "s3.bucket",
    "s3.bucket.name",
    "s3.object",
    "s3.object.key",
    "s3.object.size",
    "s3.object.eTag",
    "s3.object.versionId",
];

/// One change to an S3 event.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Remove a field of `FIELDS` (index), or the record itself (index `FIELDS.len()`), or
    /// `Records` (index `FIELDS.len() + 1`).
    Drop(Index, usize),
    /// Set a field of `FIELDS` (or the record, or `Records`) to any JSON value.
    Set(Index, usize, Value),
    /// Set the key to a raw string.
    Key(Index, String),
    /// Set the bucket name.
    Bucket(Index, String),
    /// Set the version id.
    Version(Index, String),
    /// Set the event name.
    EventName(Index, String),
    /// Add an unknown field to the root, a record, `s3`, `bucket` or `object`.
    Extra(Index, usize, String, Value),
    /// Repeat a record.
    Duplicate(Index),
    /// Set a string field to a huge string.
    Huge(Index, usize, usize, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = FIELDS.len();
    prop_oneof![
        3 => (any::<Index>(), 0..n + 2).prop_map(|(r, f)| Mutation::Drop(r, f)),
        4 => (any::<Index>(), 0..n + 2, json()).prop_map(|(r, f, v)| Mutation::Set(r, f, v)),
        5 => (any::<Index>(), raw_key()).prop_map(|(r, k)| Mutation::Key(r, k)),
        2 => (any::<Index>(), prop_oneof![
                3 => prop::collection::vec(select(vec!['a', 'z', '0', '9', '.', '-', '_', 'A']), 1..70)
                    .prop_map(String::from_iter),
                2 => nasty_string(20),
                1 => (250usize..260).prop_map(|n| "b".repeat(n)),
            ]).prop_map(|(r, b)| Mutation::Bucket(r, b)),
        1 => (any::<Index>(), nasty_string(40)).prop_map(|(r, v)| Mutation::Version(r, v)),
        2 => (any::<Index>(), prop_oneof![
                nasty_string(20).prop_map(|s| format!("ObjectCreated:{s}")),
                nasty_string(20).prop_map(|s| format!("ObjectRemoved:{s}")),
                nasty_string(20).prop_map(|s| format!("ObjectTagging:{s}")),
                nasty_string(20),
            ]).prop_map(|(r, e)| Mutation::EventName(r, e)),
        2 => (any::<Index>(), 0usize..5, json_key(), json())
            .prop_map(|(r, at, k, v)| Mutation::Extra(r, at, k, v)),
        1 => any::<Index>().prop_map(Mutation::Duplicate),
        1 => (any::<Index>(), 0..n, huge_len(), nasty_char())
            .prop_map(|(r, f, len, c)| Mutation::Huge(r, f, len, c)),
    ]
}

/// The length of a huge string: mostly tens of kilobytes, sometimes up to 300,000 characters
/// (an SQS message holds at most 1 MiB).
fn huge_len() -> impl Strategy<Value = usize> {
    prop_oneof![8 => 1000usize..20_000, 1 => 20_000usize..300_000]
}

/// A fixture event, changed by a few mutations, sent through SNS or straight to SQS.
fn structured() -> impl Strategy<Value = Case> {
    (
        any::<Index>(),
        prop::collection::vec(mutation(), 1..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(t, mutations, sns, pretty)| {
            let f = fixtures();
            let mut event = t.get(&f.events).clone();
            for m in &mutations {
                apply(&mut event, m);
            }
            let kind = match &mutations[..] {
                [Mutation::Drop(..)] => "drop-field",
                [Mutation::Set(..)] => "wrong-type",
                [Mutation::Key(..)] => "odd-key",
                [Mutation::Bucket(..)] => "bucket",
                [Mutation::Version(..)] => "version-id",
                [Mutation::EventName(..)] => "event-name",
                [Mutation::Extra(..)] => "extra-field",
                [Mutation::Duplicate(..)] => "duplicate-record",
                [Mutation::Huge(..)] => "huge-string",
                _ => "mutations",
            };
            case(kind, wrap(&event, sns, pretty))
        })
}

/// A fixture event whose key is a random key, encoded as S3 encodes keys.
fn round_trip() -> impl Strategy<Value = Case> {
    (
        any::<Index>(),
        any::<Index>(),
        round_trip_key(),
        encoding(),
        any::<bool>(),
    )
        .prop_map(|(t, r, key, enc, sns)| {
            let mut event = t.get(&fixtures().events).clone();
            let records = event["Records"].as_array_mut().expect("template");
            let i = r.index(records.len());
            records[i]["s3"]["object"]["key"] = Value::String(s3_encode(&key, enc));
            Case {
                key: Some((i, key)),
                ..case("key-round-trip", wrap(&event, sns, false))
            }
        })
}

/// The S3 event as a message body: in a real SNS envelope, or as it is.
fn wrap(event: &Value, sns: bool, pretty: bool) -> String {
    let text = if pretty {
        serde_json::to_string_pretty(event)
    } else {
        serde_json::to_string(event)
    }
    .expect("serializes");
    if !sns {
        return text;
    }
    let mut envelope = fixtures().envelope.clone();
    envelope["Message"] = Value::String(text);
    serde_json::to_string(&envelope).expect("serializes")
}

fn apply(event: &mut Value, m: &Mutation) {
    let Some(records) = event.get_mut("Records").and_then(Value::as_array_mut) else {
        return;
    };
    if records.is_empty() {
        return;
    }
    let n = FIELDS.len();
    let len = records.len();
    let pick = |r: &Index| r.index(len);
    match m {
        Mutation::Drop(r, f) if *f == n => {
            records.remove(pick(r));
        }
        Mutation::Drop(_, f) if *f == n + 1 => {
            event.as_object_mut().map(|o| o.remove("Records"));
        }
        Mutation::Drop(r, f) => {
            let i = pick(r);
            if let Some((parent, name)) = parent_of(&mut records[i], FIELDS[*f]) {
                parent.remove(name);
            }
        }
        Mutation::Set(r, f, v) if *f == n => {
            let i = pick(r);
            records[i] = v.clone();
        }
        Mutation::Set(_, f, v) if *f == n + 1 => event["Records"] = v.clone(),
        Mutation::Set(r, f, v) => set(&mut records[pick(r)], FIELDS[*f], v.clone()),
        Mutation::Key(r, k) => set(&mut records[pick(r)], "s3.object.key", k.clone().into()),
        Mutation::Bucket(r, b) => set(&mut records[pick(r)], "s3.bucket.name", b.clone().into()),
        Mutation::Version(r, v) => set(
            &mut records[pick(r)],
            "s3.object.versionId",
            v.clone().into(),
        ),
        Mutation::EventName(r, e) => set(&mut records[pick(r)], "eventName", e.clone().into()),
        Mutation::Extra(r, at, k, v) => {
            let i = pick(r);
            let target = if *at == 0 {
                Some(&mut *event)
            } else {
                let record = event.get_mut("Records").and_then(|r| r.get_mut(i));
                match at {
                    1 => record,
                    2 => record.and_then(|r| r.get_mut("s3")),
                    3 => record.and_then(|r| pointer_mut(r, "s3.bucket")),
                    _ => record.and_then(|r| pointer_mut(r, "s3.object")),
                }
            };
            if let Some(Value::Object(o)) = target {
                o.insert(k.clone(), v.clone());
            }
        }
        Mutation::Duplicate(r) => {
            let i = pick(r);
            let copy = records[i].clone();
            records.insert(i, copy);
        }
        Mutation::Huge(r, f, len, c) => {
            let huge = String::from_iter(std::iter::repeat_n(*c, *len));
            let value = match FIELDS[*f] {
                "eventName" => format!("ObjectCreated:{huge}"),
                _ => huge,
            };
            set(&mut records[pick(r)], FIELDS[*f], value.into());
        }
    }
}

/// The object holding `path` (dotted, from a record) and the last name of the path.
fn parent_of<'a, 'p>(
    record: &'a mut Value,
    path: &'p str,
) -> Option<(&'a mut serde_json::Map<String, Value>, &'p str)> {
    let (init, last) = match path.rsplit_once('.') {
        Some((init, last)) => (Some(init), last),
        None => (None, path),
    };
    let mut at = record;
    for name in init.into_iter().flat_map(|p| p.split('.')) {
        at = at.get_mut(name)?;
    }
    Some((at.as_object_mut()?, last))
}

fn set(record: &mut Value, path: &str, value: Value) {
    if let Some((parent, name)) = parent_of(record, path) {
        parent.insert(name.to_owned(), value);
    }
}

fn random_bytes() -> impl Strategy<Value = Case> {
    prop::collection::vec(any::<u8>(), 0..300)
        .prop_map(|b| case("random-bytes", String::from_utf8_lossy(&b).into_owned()))
}

/// JSON-looking token sequences, more likely than random bytes to get past the first byte.
fn token_soup() -> impl Strategy<Value = Case> {
    let token = prop_oneof![
        4 => select(vec![
            "{", "}", "[", "]", ":", ",", "\"", "null", "true", "0", "-1", "1e999", "18",
            "\"Records\"", "\"s3\"", "\"key\"", "\"eventName\"", "\"ObjectCreated:Put\"",
            "\"Type\"", "\"Notification\"", "\"Message\"", "\\u0000", "\\ud800", "\\", " ",
        ])
        .prop_map(String::from),
        1 => nasty_string(4),
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| case("token-soup", t.concat()))
}

/// Byte-level edits of a real body (or of an SNS `Message`, put back in a valid envelope).
fn fixture_bytes() -> impl Strategy<Value = Case> {
    let edit = (any::<Index>(), 0u8..6, any::<u8>());
    (
        any::<bool>(),
        any::<Index>(),
        prop::collection::vec(edit, 1..8),
    )
        .prop_map(|(in_message, b, edits)| {
            let f = fixtures();
            let source = if in_message { &f.messages } else { &f.bodies };
            let mut bytes = b.get(source).clone().into_bytes();
            for (at, op, byte) in edits {
                let i = at.index(bytes.len().max(1)).min(bytes.len());
                match op {
                    0 if i < bytes.len() => bytes[i] ^= 1 << (byte % 8),
                    1 if i < bytes.len() => bytes[i] = byte,
                    2 => bytes.insert(i, byte),
                    3 if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    4 => {
                        let token: &[u8] = match byte % 6 {
                            0 => b"{",
                            1 => b"[",
                            2 => b"\"",
                            3 => b"%FF",
                            4 => b"\\u0000",
                            _ => b"null",
                        };
                        bytes.splice(i..i, token.iter().copied());
                    }
                    _ => {
                        let end = (i + byte as usize).min(bytes.len());
                        let slice = bytes[i..end].to_vec();
                        bytes.splice(i..i, slice);
                    }
                }
            }
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if in_message {
                let mut envelope = f.envelope.clone();
                envelope["Message"] = Value::String(text);
                case("sns-message-bytes", envelope.to_string())
            } else {
                case("fixture-bytes", text)
            }
        })
}

/// Arbitrary JSON, alone or where the decoder expects a record.
fn arbitrary_json() -> impl Strategy<Value = Case> {
    (json(), 0u8..3).prop_map(|(v, at)| {
        let body = match at {
            0 => v,
            1 => json!({ "Records": [v] }),
            _ => json!({ "Type": "Notification", "Message": v.to_string() }),
        };
        case("arbitrary-json", body.to_string())
    })
}

/// Nesting from a few levels to 150,000, at the root, in an SNS `Message`, or inside a valid
/// record (as an unknown field), closed or not.
fn deep_nesting() -> impl Strategy<Value = Case> {
    let depth = prop_oneof![8 => 1usize..200, 2 => 200usize..5000, 1 => 5000usize..150_000];
    let opener = select(vec![("[", "]"), ("{\"a\":", "}"), ("{\"Records\":", "}")]);
    (depth, opener, 0u8..3, any::<bool>()).prop_map(|(depth, (open, close), at, closed)| {
        let mut nest = open.repeat(depth);
        nest.push('1');
        if closed {
            nest.push_str(&close.repeat(depth));
        }
        let (body, base) = match at {
            0 => (nest, 0),
            1 => {
                let message = Value::String(nest).to_string();
                (
                    format!(r#"{{"Type":"Notification","Message":{message}}}"#),
                    0,
                )
            }
            _ => (
                format!(
                    r#"{{"Records":[{{"eventName":"ObjectCreated:Put","s3":{{"bucket":{{"name":"b"}},"object":{{"key":"k","junk":{nest}}}}}}}]}}"#
                ),
                4,
            ),
        };
        Case {
            error_contains: (depth + base > 130).then_some("recursion limit"),
            ..case("deep-nesting", body)
        }
    })
}

/// One body of any kind but a batch.
fn one() -> impl Strategy<Value = Case> {
    prop_oneof![
        4 => random_bytes(),
        3 => token_soup(),
        8 => fixture_bytes(),
        2 => deep_nesting(),
        5 => arbitrary_json(),
        24 => structured(),
        10 => round_trip(),
    ]
}

/// A Lambda SQS event of 1 to 8 messages, one of them perhaps without a body.
fn batch() -> impl Strategy<Value = Input> {
    let message = prop_oneof![
        6 => one(),
        1 => Just(Case { kind: "no-body", body: None, key: None, error_contains: None }),
    ];
    prop::collection::vec(message, 1..9).prop_map(Input::Batch)
}

/// Every input the fuzzer makes.
pub fn input() -> impl Strategy<Value = Input> {
    prop_oneof![12 => one().prop_map(Input::One), 1 => batch()]
}

/// Cases run first in every run: the edges the issue names, at their extremes.
pub fn fixed_cases() -> Vec<Case> {
    let record = |key: &str| {
        json!({ "Records": [{ "eventName": "ObjectCreated:Put",
            "s3": { "bucket": { "name": "b" }, "object": { "key": key } } }] })
        .to_string()
    };
    let mut cases = vec![
        case("fixed", "[".repeat(100_000)),
        case("fixed", "{\"a\":".repeat(100_000)),
        case(
            "fixed",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        ),
        case(
            "fixed",
            json!({ "Type": "Notification", "Message": "[".repeat(100_000) }).to_string(),
        ),
        case("fixed", String::new()),
        case("fixed", "\0".into()),
        case("fixed", "null".into()),
        case("fixed", r#"{"Records":[]}"#.into()),
        case("fixed", r#"{"Records":null}"#.into()),
        case("fixed", record(&"k".repeat(1024))),
        case("fixed", record(&"k".repeat(1025))),
        case("fixed", record(&"k".repeat(1 << 20))),
        case("fixed", record("a\0b\nc\u{1b}[31m\u{2028}")),
    ];
    for key in ["%", "%G1", "%FF%FE", "+", "%2", "%%", "%00", "%0A"] {
        cases.push(case("fixed", record(key)));
    }
    for c in &mut cases[..4] {
        c.error_contains = Some("recursion limit");
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// The model: what the decoder should make of a body, worked out independently of it.

/// One object, as the model expects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    bucket: String,
    key: String,
    version_id: Option<String>,
    size: Option<u64>,
    etag: Option<String>,
    region: Option<String>,
    event_name: String,
}

/// What the model expects of a body that decodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    objects: Vec<Object>,
    /// Raw event name and bucket of each ignored record.
    ignored: Vec<(String, Option<String>)>,
}

/// The model's verdict on a body.
#[derive(Debug, Clone)]
pub enum Model {
    /// It decodes to this.
    Ok(Expected),
    /// It fails with this kind of error; for `BadField`, at one of these paths.
    Err(&'static str, Vec<String>),
    /// The model cannot tell (serde reads a struct from a JSON array, field by position).
    Unknown,
}

/// The kind of an error, as the model names it.
pub fn kind_of(e: &EventError) -> &'static str {
    match e {
        EventError::MissingBody => "MissingBody",
        EventError::BodyNotJson(_) => "BodyNotJson",
        EventError::SnsMessageNotJson(_) => "SnsMessageNotJson",
        EventError::NotS3Event(_) => "NotS3Event",
        EventError::BadField { .. } => "BadField",
        #[allow(unreachable_patterns)] // `EventError` is non-exhaustive outside its crate
        _ => "other",
    }
}

/// The model of `decode_body`.
pub fn model_body(body: &str) -> Model {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return Model::Err("BodyNotJson", vec![]);
    };
    if value["Type"] == "Notification" {
        return match &value["Message"] {
            Value::String(m) => match serde_json::from_str::<Value>(m) {
                Ok(inner) => model_s3(&inner),
                Err(_) => Model::Err("SnsMessageNotJson", vec![]),
            },
            _ => Model::Err("SnsMessageNotJson", vec![]),
        };
    }
    model_s3(&value)
}

/// The model of decoding an S3 event.
pub fn model_s3(v: &Value) -> Model {
    if v["Event"] == "s3:TestEvent" {
        let bucket = v["Bucket"].as_str().map(String::from);
        return Model::Ok(Expected {
            objects: vec![],
            ignored: vec![("s3:TestEvent".into(), bucket)],
        });
    }
    let Some(root) = v.as_object() else {
        return Model::Err("NotS3Event", vec![]);
    };
    let Some(records) = root.get("Records") else {
        return Model::Err("NotS3Event", vec![]);
    };
    let Some(records) = records.as_array() else {
        return Model::Err("BadField", vec!["Records".into()]);
    };
    // First the shapes, record by record: serde stops at the first record in error.
    for (i, r) in records.iter().enumerate() {
        match shape_errors(r, &format!("Records[{i}]")) {
            None => return Model::Unknown,
            Some(errors) if !errors.is_empty() => return Model::Err("BadField", errors),
            Some(_) => {}
        }
    }
    // Then the values, in order.
    let mut expected = Expected::default();
    for (i, r) in records.iter().enumerate() {
        let s = |p: &str| pointer(r, p).and_then(Value::as_str).map(String::from);
        let event_name = s("eventName").unwrap_or_default();
        let bucket = s("s3.bucket.name").unwrap_or_default();
        if !["ObjectCreated:", "ObjectTagging:"]
            .iter()
            .any(|p| event_name.starts_with(p))
        {
            expected.ignored.push((event_name, Some(bucket)));
            continue;
        }
        let at = |p: &str| Model::Err("BadField", vec![format!("Records[{i}].s3.{p}")]);
        let bucket_ok = !bucket.is_empty()
            && bucket.len() <= 255
            && bucket
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !bucket_ok {
            return at("bucket.name");
        }
        let raw = s("s3.object.key").unwrap_or_default();
        let Some(key) = reference_decode(&raw) else {
            return at("object.key");
        };
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return at("object.key");
        }
        let version_id = s("s3.object.versionId");
        if version_id
            .as_deref()
            .is_some_and(|v| v.chars().any(breaks_a_line))
        {
            return at("object.versionId");
        }
        // The `null` version is not pinned: it is handled as no version at all.
        let version_id = version_id.filter(|v| !v.is_empty() && v != "null");
        expected.objects.push(Object {
            bucket,
            key,
            version_id,
            size: pointer(r, "s3.object.size").and_then(Value::as_u64),
            etag: s("s3.object.eTag"),
            region: s("awsRegion"),
            event_name,
        });
    }
    Model::Ok(expected)
}

/// The paths serde would name for a record of the wrong shape; `None` when a struct is given
/// as an array (serde reads it by position, which the model does not follow).
fn shape_errors(r: &Value, at: &str) -> Option<Vec<String>> {
    let mut errors = Vec::new();
    // (path from the record, kind): s = string, o = optional string, u = optional u64,
    // m = object, n = optional object.
    let spec: &[(&str, char)] = &[
        ("eventName", 's'),
        ("awsRegion", 'o'),
        ("userIdentity", 'n'),
        ("userIdentity.principalId", 'o'),
        ("s3", 'm'),
        ("s3.bucket", 'm'),
        ("s3.bucket.name", 's'),
        ("s3.object", 'm'),
        ("s3.object.key", 's'),
        ("s3.object.size", 'u'),
        ("s3.object.eTag", 'o'),
        ("s3.object.versionId", 'o'),
        ("s3.object.sequencer", 'o'),
    ];
    match r {
        Value::Object(_) => {}
        Value::Array(_) => return None,
        _ => return Some(vec![at.to_owned()]),
    }
    for (path, kind) in spec {
        let (parent_path, name) = match path.rsplit_once('.') {
            Some((p, n)) => (Some(p), n),
            None => (None, *path),
        };
        let parent = match parent_path {
            Some(p) => pointer(r, p),
            None => Some(r),
        };
        let Some(Value::Object(parent)) = parent else {
            continue; // the parent's own error is reported instead
        };
        let full = format!("{at}.{path}");
        let parent_full = parent_path.map_or(at.to_owned(), |p| format!("{at}.{p}"));
        let ok = match (parent.get(name), kind) {
            (None, 's' | 'm') => {
                errors.push(parent_full);
                continue;
            }
            (None, _) => true,
            (Some(Value::Null), 'o' | 'u' | 'n') => true,
            (Some(Value::String(_)), 's' | 'o') => true,
            (Some(n), 'u') => n.is_u64(),
            (Some(Value::Object(_)), 'm' | 'n') => true,
            (Some(Value::Array(_)), 'm' | 'n') => return None,
            _ => false,
        };
        if !ok {
            errors.push(full);
        }
    }
    Some(errors)
}

fn pointer_mut<'a>(v: &'a mut Value, dotted: &str) -> Option<&'a mut Value> {
    dotted.split('.').try_fold(v, |at, name| at.get_mut(name))
}

fn pointer<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(v, |at, name| at.get(name))
}

/// Form decoding written from the definition: `+` is a space, `%` and two hex digits a byte,
/// anything else itself; `None` when the bytes are not UTF-8.
pub fn reference_decode(raw: &str) -> Option<String> {
    if raw.is_empty() {
        return Some(String::new());
    }
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b[i], hex(i + 1), hex(i + 2)) {
            (b'+', _, _) => out.push(b' '),
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 2;
            }
            (c, _, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Characters that must not reach a log line raw (the model's own list).
pub fn breaks_a_line(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}' | '\u{feff}'
        )
}

// ---------------------------------------------------------------------------------------------
// Checks

/// A property a case broke.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Which property: `panic`, `slow`, `error-text`, `unsafe-output`, `model`.
    pub property: &'static str,
    /// The generator.
    pub kind: &'static str,
    /// What went wrong.
    pub detail: String,
    /// The body, escaped and cut.
    pub body: String,
}

/// Counts over a run.
#[derive(Debug, Default)]
pub struct Summary {
    /// Inputs generated (a batch is one).
    pub cases: u64,
    /// Bodies decoded.
    pub bodies: u64,
    /// Bodies per generator.
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Results: `ok` or the error kind.
    pub by_result: BTreeMap<&'static str, u64>,
    /// Broken properties, by property.
    pub failures_by_property: BTreeMap<&'static str, u64>,
    /// The first few failures of each property.
    pub failures: Vec<Failure>,
    /// The slowest body.
    pub slowest: (Duration, &'static str),
    /// Bodies the model could not predict (checked for the other properties only).
    pub unmodelled: u64,
    /// Time spent generating and checking, per generator (`batch` for batches).
    pub time_by_kind: BTreeMap<&'static str, Duration>,
}

impl Summary {
    fn fail(&mut self, property: &'static str, c: &Case, detail: String) {
        let n = self.failures_by_property.entry(property).or_default();
        *n += 1;
        if *n <= 3 {
            self.failures.push(Failure {
                property,
                kind: c.kind,
                detail: short(&detail, 600),
                body: short(c.body.as_deref().unwrap_or("<no body>"), 600),
            });
        }
    }

    fn merge(&mut self, other: Summary) {
        self.cases += other.cases;
        self.bodies += other.bodies;
        for (k, n) in other.by_kind {
            *self.by_kind.entry(k).or_default() += n;
        }
        for (k, n) in other.by_result {
            *self.by_result.entry(k).or_default() += n;
        }
        for (k, n) in other.failures_by_property {
            *self.failures_by_property.entry(k).or_default() += n;
        }
        self.failures.extend(other.failures);
        self.slowest = self.slowest.max(other.slowest);
        self.unmodelled += other.unmodelled;
        for (k, t) in other.time_by_kind {
            *self.time_by_kind.entry(k).or_default() += t;
        }
    }

    /// Whether every property held.
    pub fn passed(&self) -> bool {
        self.failures_by_property.is_empty()
    }
}

fn short(text: &str, max: usize) -> String {
    let escaped: String = text
        .chars()
        .take(max)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().nth(max).is_some() {
        format!("{escaped}… ({} bytes)", text.len())
    } else {
        escaped
    }
}

/// Decodes `c` as the batch handler does and checks every property.
pub fn check(c: &Case, s: &mut Summary) {
    s.bodies += 1;
    *s.by_kind.entry(c.kind).or_default() += 1;
    let started = Instant::now();
    let decoded = catch_unwind(AssertUnwindSafe(|| {
        c.body
            .as_deref()
            .ok_or(EventError::MissingBody)
            .and_then(decoder::decode_body)
    }));
    let took = started.elapsed();
    s.slowest = s.slowest.max((took, c.kind));
    if took > SLOW {
        s.fail("slow", c, format!("took {took:?}"));
    }
    let decoded = match decoded {
        Ok(d) => d,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|m| m.to_string()))
                .unwrap_or_default();
            s.fail("panic", c, message);
            return;
        }
    };
    *s.by_result
        .entry(decoded.as_ref().map_or_else(kind_of, |_| "ok"))
        .or_default() += 1;
    match &decoded {
        Err(e) => check_error(c, e, s),
        Ok(d) => check_output(c, d, s),
    }
    let model = match &c.body {
        None => Model::Err("MissingBody", vec![]),
        Some(body) => model_body(body),
    };
    compare(c, &decoded, model, s);
}

fn check_error(c: &Case, e: &EventError, s: &mut Summary) {
    let text = e.to_string();
    // The batch handler logs it with the message id: `message_id=… error=…`.
    let line = format!("message_id=msg-0 error={text}");
    if text.is_empty() || text.len() > MAX_ERROR_BYTES || line.chars().any(breaks_a_line) {
        s.fail(
            "error-text",
            c,
            format!("{} bytes: {}", text.len(), short(&text, 300)),
        );
    }
    if let EventError::BadField { path, .. } = e
        && !path.starts_with("Records")
    {
        s.fail(
            "error-text",
            c,
            format!("path {path:?} is not from Records"),
        );
    }
    if let Some(want) = c.error_contains
        && !text.contains(want)
    {
        s.fail(
            "model",
            c,
            format!("error {text:?} does not contain {want:?}"),
        );
    }
}

fn check_output(c: &Case, d: &Decoded, s: &mut Summary) {
    for o in &d.objects {
        let b = &o.object.bucket;
        let bucket_ok =
            !b.is_empty() && b.len() <= 255 && !b.chars().any(|c| breaks_a_line(c) || c == '/');
        let version_ok = !o
            .object
            .version_id
            .as_deref()
            .is_some_and(|v| v.chars().any(breaks_a_line));
        let key_ok = !o.object.key.is_empty() && o.object.key.len() <= MAX_KEY_BYTES;
        let display_ok = !o.object.to_string().chars().any(breaks_a_line);
        if !(bucket_ok && version_ok && key_ok && display_ok) {
            s.fail("unsafe-output", c, format!("{:?}", o.object));
        }
    }
    for i in &d.ignored {
        if i.event_name.chars().any(breaks_a_line) {
            s.fail(
                "unsafe-output",
                c,
                format!("ignored event name {:?}", i.event_name),
            );
        }
    }
    if let Some(want) = c.error_contains {
        s.fail(
            "model",
            c,
            format!("decoded, but the error should contain {want:?}"),
        );
    }
}

fn compare(c: &Case, got: &Result<Decoded, EventError>, model: Model, s: &mut Summary) {
    match (model, got) {
        (Model::Unknown, _) => s.unmodelled += 1,
        (Model::Ok(mut want), Ok(d)) => {
            if let Some((i, key)) = &c.key {
                match want.objects.get_mut(*i) {
                    Some(o) => o.key = key.clone(),
                    None => s.fail("model", c, "round-trip key without its object".into()),
                }
            }
            let objects: Vec<Object> = d
                .objects
                .iter()
                .map(|o| Object {
                    bucket: o.object.bucket.clone(),
                    key: o.object.key.clone(),
                    version_id: o.object.version_id.clone(),
                    size: o.size,
                    etag: o.etag.clone(),
                    region: o.region.clone(),
                    event_name: o.event_name.clone(),
                })
                .collect();
            if objects != want.objects {
                s.fail(
                    "model",
                    c,
                    format!("decoded {objects:?}, expected {:?}", want.objects),
                );
            }
            let ignored_ok = d.ignored.len() == want.ignored.len()
                && d.ignored
                    .iter()
                    .zip(&want.ignored)
                    .all(|(g, (name, bucket))| {
                        g.bucket == *bucket
                            && (g.event_name == *name
                                || name.chars().any(breaks_a_line)
                                || name.chars().count() > decoder::MAX_QUOTED)
                    });
            if !ignored_ok {
                s.fail(
                    "model",
                    c,
                    format!("ignored {:?}, expected {:?}", d.ignored, want.ignored),
                );
            }
        }
        (Model::Ok(want), Err(e)) => {
            if c.key.as_ref().is_some_and(|(_, k)| k.len() > MAX_KEY_BYTES) {
                // The model does not see the key is too long until it is decoded.
                if !matches!(e, EventError::BadField { path, .. } if path.ends_with("object.key")) {
                    s.fail("model", c, format!("{e}, expected a key-length error"));
                }
                return;
            }
            s.fail("model", c, format!("failed: {e}; expected {want:?}"));
        }
        (Model::Err(kind, paths), Ok(d)) => s.fail(
            "model",
            c,
            format!("decoded {d:?}; expected {kind} at {paths:?}"),
        ),
        (Model::Err(kind, paths), Err(e)) => {
            let path_ok = match e {
                EventError::BadField { path, .. } => paths.is_empty() || paths.contains(path),
                _ => true,
            };
            if kind_of(e) != kind || !path_ok {
                s.fail(
                    "model",
                    c,
                    format!("failed with {e}; expected {kind} at {paths:?}"),
                );
            }
        }
    }
}

/// Runs a batch as the Lambda SQS event source hands it over: one event, parsed, then each
/// record decoded on its own.
fn check_batch(cases: &[Case], s: &mut Summary) {
    let records: Vec<Value> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({ "messageId": format!("msg-{i}"), "receiptHandle": "r", "body": c.body,
                    "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs" })
        })
        .collect();
    let text = json!({ "Records": records }).to_string();
    let event: SqsEvent = match serde_json::from_str(&text) {
        Ok(e) => e,
        Err(e) => {
            return s.fail(
                "model",
                &cases[0],
                format!("the SQS event does not parse: {e}"),
            );
        }
    };
    for (record, c) in event.records.iter().zip(cases) {
        let as_sent = Case {
            body: record.body.clone(),
            ..c.clone()
        };
        if as_sent.body != c.body {
            s.fail("model", c, "the SQS event changed the body".into());
        }
        check(&as_sent, s);
    }
}

/// Options of a run (`fuzz_events --help`).
#[derive(Debug, Clone, Copy, clap::Parser)]
pub struct Options {
    /// Inputs to generate, besides the fixed cases.
    #[arg(long, default_value_t = 1_000_000)]
    pub cases: u64,
    /// Seed of the first thread; thread `t` uses `seed + t`.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Threads (default: all cores).
    #[arg(long, default_value_t = std::thread::available_parallelism().map_or(1, |n| n.get()))]
    pub threads: usize,
}

/// Runs the fixed cases, then `opts.cases` generated inputs, split over `opts.threads`
/// proptest runners, each on its own 2 MiB stack. A runner stops at its first failing input,
/// which proptest shrinks to a smallest failing one before it is reported.
pub fn run(opts: Options) -> Summary {
    let _ = fixtures(); // build once, outside the timed loops
    let mut summary = Summary::default();
    for c in fixed_cases() {
        summary.cases += 1;
        check(&c, &mut summary);
    }
    let threads = opts.threads.max(1) as u64;
    let parts: Vec<Summary> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let n = opts.cases / threads + u64::from(t < opts.cases % threads);
                std::thread::Builder::new()
                    .name(format!("fuzz-{t}"))
                    .stack_size(2 << 20)
                    .spawn_scoped(scope, move || worker(n, opts.seed.wrapping_add(t)))
                    .expect("spawn")
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    for p in parts {
        summary.merge(p);
    }
    summary
}

/// One proptest runner over `cases` inputs: every input is checked; the first one that breaks
/// a property fails the run, shrunk, and its failures are kept.
fn worker(cases: u64, seed: u64) -> Summary {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
    let config = Config {
        cases: u32::try_from(cases).unwrap_or(u32::MAX),
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, rng);
    let total = std::sync::Mutex::new(Summary::default());
    let result = runner.run(&input(), |input| {
        let started = Instant::now();
        let mut s = Summary {
            cases: 1,
            ..Summary::default()
        };
        let kind = match &input {
            Input::One(c) => {
                check(c, &mut s);
                c.kind
            }
            Input::Batch(cases) => {
                check_batch(cases, &mut s);
                "batch"
            }
        };
        *s.time_by_kind.entry(kind).or_default() += started.elapsed();
        let passed = s.passed();
        let detail = format!("{:?}", s.failures);
        total.lock().unwrap_or_else(|p| p.into_inner()).merge(s);
        if passed {
            Ok(())
        } else {
            Err(proptest::test_runner::TestCaseError::fail(detail))
        }
    });
    let mut total = total.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Err(proptest::test_runner::TestError::Fail(why, minimal)) = result {
        eprintln!("fuzz_events: smallest failing input: {minimal:?}\n{why}");
    }
    total.cases = total.cases.min(cases);
    total
}

#[cfg_attr(test, allow(dead_code))]
fn main() -> std::process::ExitCode {
    let opts = <Options as clap::Parser>::parse();
    eprintln!(
        "fuzz_events: {} cases, seed {}, {} threads",
        opts.cases, opts.seed, opts.threads
    );
    let started = Instant::now();
    let s = run(opts);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "cases: {} ({} bodies decoded) in {secs:.1} s: {:.0} cases/s, {:.0} bodies/s",
        s.cases,
        s.bodies,
        s.cases as f64 / secs,
        s.bodies as f64 / secs
    );
    println!("slowest body: {:?} ({})", s.slowest.0, s.slowest.1);
    let list = |m: &BTreeMap<&str, u64>| {
        m.iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("bodies by generator: {}", list(&s.by_kind));
    println!("results: {}", list(&s.by_result));
    let mut costs: Vec<_> = s.time_by_kind.iter().collect();
    costs.sort_by(|a, b| b.1.cmp(a.1));
    let costs: Vec<String> = costs
        .iter()
        .take(6)
        .map(|(k, t)| format!("{k} {:.1} s", t.as_secs_f64()))
        .collect();
    println!("time (generate + check), top: {}", costs.join(", "));
    println!(
        "checked against the model: {} (unmodelled: {})",
        s.bodies - s.unmodelled,
        s.unmodelled
    );
    if s.passed() {
        println!("failures: none (panics 0, slow 0, error-text 0, unsafe-output 0, model 0)");
        return std::process::ExitCode::SUCCESS;
    }
    println!("failures: {}", list(&s.failures_by_property));
    for f in &s.failures {
        println!(
            "- {} [{}]: {}\n  body: {}",
            f.property, f.kind, f.detail, f.body
        );
    }
    std::process::ExitCode::FAILURE
}
