//! Signed verdicts: an HMAC-SHA256 over an object's content identity and the verdict tags the
//! scanner wrote, keyed by a secret only the scanner holds. It lets the pipeline tell its own
//! verdicts from ones an uploader wrote, so that a scanned object copied to another protected
//! bucket is not scanned again while a forged `scan-result=Clean` never skips a scan.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::object::{ObjectInfo, Tags};
use crate::verdict::{TagKeys, Verdict};

/// The key that signs verdict tags. Its `Debug` form hides the bytes, so it never reaches a
/// log through a `{:?}` of what holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl SigningKey {
    /// Shortest key accepted, in bytes: HMAC-SHA256 wants at least its output size.
    pub const MIN_LEN: usize = 32;

    /// A key from its bytes; `None` when shorter than [`SigningKey::MIN_LEN`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Option<SigningKey> {
        let bytes = bytes.into();
        (bytes.len() >= Self::MIN_LEN).then_some(SigningKey(bytes))
    }

    /// The key's bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(<{} bytes, redacted>)", self.0.len())
    }
}

/// What a key derived from the signing key authenticates. Each purpose has a key of its own,
/// so that a MAC made for one can never pass for another, nor for a verdict's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Compiled rules the function cached in S3 (`.s3-yara-scan-cache/`): they carry code.
    RulesCache,
    /// Result documents the function put back on its queue to be published later.
    QueuedResult,
}

impl Purpose {
    /// The label the derived key is made from; never changed once released, or every cache and
    /// queued document made before would stop verifying.
    fn label(self) -> &'static str {
        match self {
            Purpose::RulesCache => "s3-yara-scan/rules-cache/v1",
            Purpose::QueuedResult => "s3-yara-scan/queued-result/v1",
        }
    }
}

/// A key for one [`Purpose`], derived from the signing key (HMAC-SHA256 of the purpose's
/// label): whoever holds the signing key holds it, no one else. Its `Debug` form hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct DerivedKey {
    purpose: Purpose,
    bytes: [u8; 32],
}

impl fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DerivedKey({:?}, <redacted>)", self.purpose)
    }
}

impl SigningKey {
    /// The key for `purpose`.
    pub fn derive(&self, purpose: Purpose) -> DerivedKey {
        let mut mac = hmac_sha256(self.expose());
        mac.update(purpose.label().as_bytes());
        DerivedKey {
            purpose,
            bytes: mac.finalize().into_bytes().into(),
        }
    }
}

impl DerivedKey {
    /// The MAC over `fields`, hex: each field is preceded by its length, so that no two lists
    /// of fields (bytes of any value, NULs included) give the same input.
    pub fn mac(&self, fields: &[&[u8]]) -> String {
        hex::encode(self.fields_mac(fields).finalize().into_bytes())
    }

    /// True when `mac` (hex) is the MAC over `fields`; compared in constant time.
    pub fn verify(&self, fields: &[&[u8]], mac: &str) -> bool {
        let Ok(bytes) = hex::decode(mac) else {
            return false;
        };
        self.fields_mac(fields).verify_slice(&bytes).is_ok()
    }

    fn fields_mac(&self, fields: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = hmac_sha256(&self.bytes);
        for field in fields {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field);
        }
        mac
    }
}

fn hmac_sha256(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"))
}

/// Prefix of the signature tag's value: the format, so that it can change without old tags
/// verifying under new rules.
const VERSION: &str = "v1.";

/// What an object's tags say about a previous scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// No verdict tags at all: a fresh upload.
    Untagged,
    /// A verdict without a signature: written before signing was on, or by someone else.
    Unsigned,
    /// A signature that does not verify for this content: forged, copied from other content,
    /// or made with another key.
    Invalid,
    /// A verdict this scanner signed for exactly this content.
    Valid {
        /// The result tag's value, such as `Clean`.
        result: String,
        /// The ruleset that produced it.
        rules: String,
        /// When it was produced.
        date: String,
        /// The detail tag's value (empty when there is none).
        detail: String,
    },
}

impl Check {
    /// The `Released` verdict that this valid signature vouches for, when it is one: the
    /// schema's value for `Released` with a detail tag that names who released it and why.
    pub fn released(&self, keys: &TagKeys) -> Option<Verdict> {
        match self {
            Check::Valid { result, detail, .. } if result == keys.schema.released() => {
                Verdict::released_from_detail(detail)
            }
            _ => None,
        }
    }
}

/// The signature tag's value for `ours` (the verdict tags about to be written) on the content
/// described by `info`.
pub fn sign(key: &SigningKey, info: &ObjectInfo, ours: &Tags, keys: &TagKeys) -> String {
    let mac = mac(key, info, ours, keys).finalize().into_bytes();
    format!("{VERSION}{}", hex::encode(mac))
}

/// Checks the verdict in `tags` against the content described by `info`.
pub fn verify(key: &SigningKey, info: &ObjectInfo, tags: &Tags, keys: &TagKeys) -> Check {
    let value = |k: &str| tag(tags, k);
    let Some(signature) = value(&keys.signature) else {
        return if value(&keys.result).is_some() {
            Check::Unsigned
        } else {
            Check::Untagged
        };
    };
    let Some(bytes) = signature
        .strip_prefix(VERSION)
        .and_then(|h| hex::decode(h).ok())
    else {
        return Check::Invalid;
    };
    // `verify_slice` compares in constant time.
    if mac(key, info, tags, keys).verify_slice(&bytes).is_err() {
        return Check::Invalid;
    }
    let owned = |k: &str| value(k).unwrap_or_default().to_owned();
    Check::Valid {
        result: owned(&keys.result),
        rules: owned(&keys.rules),
        date: owned(&keys.date),
        detail: owned(&keys.detail),
    }
}

/// The MAC over the content identity (ETag, size and, when S3 has one, the SHA-256 checksum:
/// all the same in every bucket the bytes are copied to), the values of the verdict tags and,
/// when the object has one, its `Content-Encoding`: the same bytes served with another coding
/// are other bytes to whoever reads them. Each field ends with a NUL, which neither tags, ETags
/// nor headers can contain; the coding is one field more, so that verdicts on objects without
/// one verify as before and never as one with one.
fn mac(key: &SigningKey, info: &ObjectInfo, tags: &Tags, keys: &TagKeys) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `SigningKey` guarantees at least 32 bytes.
    let mut mac = hmac_sha256(key.expose());
    let size = info.size.to_string();
    let identity = [
        "s3-yara-scan",
        info.etag.as_deref().unwrap_or_default(),
        &size,
        info.checksum_sha256.as_deref().unwrap_or_default(),
    ];
    let verdict = [
        &keys.result,
        &keys.date,
        &keys.rules,
        &keys.matches,
        &keys.detail,
    ]
    .map(|k| tag(tags, k).unwrap_or_default());
    for field in identity.iter().chain(verdict.iter()) {
        mac.update(field.as_bytes());
        mac.update(b"\0");
    }
    let coding = info
        .content_encoding
        .as_deref()
        .map(crate::object::canonical_encoding)
        .unwrap_or_default();
    if !coding.is_empty() {
        mac.update(b"content-encoding=");
        mac.update(coding.as_bytes());
        mac.update(b"\0");
    }
    mac
}

fn tag<'a>(tags: &'a Tags, key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::new(vec![byte; 32]).unwrap()
    }

    fn info(etag: &str, size: u64) -> ObjectInfo {
        ObjectInfo {
            etag: Some(etag.into()),
            size,
            ..ObjectInfo::default()
        }
    }

    fn signed(key: &SigningKey, info: &ObjectInfo, verdict: &Verdict) -> Tags {
        let keys = TagKeys::default();
        let mut tags = verdict.tags(&keys, "abc123", "2026-11-25T00:00:00Z");
        let signature = sign(key, info, &tags, &keys);
        tags.push((keys.signature.clone(), signature));
        tags
    }

    #[test]
    fn own_signature_verifies_on_the_same_content_only() {
        let keys = TagKeys::default();
        let k = key(1);
        let tags = signed(&k, &info("e1", 10), &Verdict::Clean);
        assert_eq!(
            verify(&k, &info("e1", 10), &tags, &keys),
            Check::Valid {
                result: "Clean".into(),
                rules: "abc123".into(),
                date: "2026-11-25T00:00:00Z".into(),
                detail: String::new(),
            }
        );
        // Other content, another key, a changed verdict, a checksum the signer did not see.
        assert_eq!(verify(&k, &info("e2", 10), &tags, &keys), Check::Invalid);
        assert_eq!(verify(&k, &info("e1", 11), &tags, &keys), Check::Invalid);
        assert_eq!(
            verify(&key(2), &info("e1", 10), &tags, &keys),
            Check::Invalid
        );
        let mut checksummed = info("e1", 10);
        checksummed.checksum_sha256 = Some("abc=".into());
        assert_eq!(verify(&k, &checksummed, &tags, &keys), Check::Invalid);
        let mut edited = tags.clone();
        edited[1].1 = "2030-01-01T00:00:00Z".into();
        assert_eq!(verify(&k, &info("e1", 10), &edited, &keys), Check::Invalid);
    }

    #[test]
    fn the_content_encoding_is_part_of_the_signed_identity() {
        let keys = TagKeys::default();
        let k = key(1);
        let with = |coding: &str| ObjectInfo {
            content_encoding: Some(coding.into()),
            ..info("e", 5)
        };
        let plain = signed(&k, &info("e", 5), &Verdict::Clean);
        assert!(matches!(
            verify(&k, &info("e", 5), &plain, &keys),
            Check::Valid { .. }
        ));
        // The same bytes served deflated: no longer what was judged.
        assert_eq!(verify(&k, &with("deflate"), &plain, &keys), Check::Invalid);
        let deflated = signed(&k, &with("deflate"), &Verdict::Clean);
        assert_eq!(verify(&k, &info("e", 5), &deflated, &keys), Check::Invalid);
        assert_eq!(verify(&k, &with("gzip"), &deflated, &keys), Check::Invalid);
        // Spelling that changes nothing a client does is the same coding.
        assert!(matches!(
            verify(&k, &with(" Deflate, identity"), &deflated, &keys),
            Check::Valid { .. }
        ));
        assert!(matches!(
            verify(&k, &with("identity"), &plain, &keys),
            Check::Valid { .. }
        ));
    }

    #[test]
    fn a_verdict_signed_infected_cannot_be_relabelled_clean() {
        let keys = TagKeys::default();
        let k = key(1);
        let mut tags = signed(&k, &info("e", 5), &Verdict::Infected(vec!["X".into()]));
        tags[0].1 = "Clean".into();
        assert_eq!(verify(&k, &info("e", 5), &tags, &keys), Check::Invalid);
    }

    #[test]
    fn unsigned_untagged_and_malformed() {
        let keys = TagKeys::default();
        let k = key(1);
        let i = info("e", 1);
        assert_eq!(verify(&k, &i, &vec![], &keys), Check::Untagged);
        let forged = vec![("scan-result".to_string(), "Clean".to_string())];
        assert_eq!(verify(&k, &i, &forged, &keys), Check::Unsigned);
        for bad in [
            "",
            "v1.",
            "v1.zz",
            "v2.00",
            &format!("v1.{}", "g".repeat(64)),
        ] {
            let mut tags = forged.clone();
            tags.push(("scan-signature".into(), bad.into()));
            assert_eq!(verify(&k, &i, &tags, &keys), Check::Invalid, "{bad}");
        }
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_signing_key() {
        let fields: [&[u8]; 2] = [b"a\0", b"b"];
        let cache = key(1).derive(Purpose::RulesCache);
        let mac = cache.mac(&fields);
        assert!(cache.verify(&fields, &mac));
        assert!(!key(1).derive(Purpose::QueuedResult).verify(&fields, &mac));
        assert!(!key(2).derive(Purpose::RulesCache).verify(&fields, &mac));
        // The same bytes split into other fields are another input.
        assert!(!cache.verify(&[b"a", b"\0b"], &mac));
        assert!(!cache.verify(&fields, "zz"));
        assert_eq!(format!("{cache:?}"), "DerivedKey(RulesCache, <redacted>)");
    }

    #[test]
    fn signature_fits_a_tag_value() {
        let tags = signed(&key(1), &info("e", 1), &Verdict::Clean);
        let value = &tags.last().unwrap().1;
        assert_eq!(value.len(), 67);
        assert!(value.chars().all(crate::verdict::is_tag_char));
    }
}
