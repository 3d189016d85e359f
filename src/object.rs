//! Objects as every stage sees them: which object version ([`ObjectRef`]), what S3 said about
//! it ([`ObjectInfo`]), its tags, and where it is once its verdict is applied ([`Location`]).
//! No I/O here; the store reads and writes them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use std::fmt;

/// S3's limit on the length of an object key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// The version id S3 gives objects written while versioning was off or suspended.
pub const NULL_VERSION: &str = "null";

/// An object's tag set, in order.
pub type Tags = Vec<(String, String)>;

/// An object, or one version of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Key, decoded (as stored, not as URL-encoded in events).
    pub key: String,
    /// The version; `None` means the current version (or an unversioned bucket).
    pub version_id: Option<String>,
}

impl ObjectRef {
    /// The current version of `key` in `bucket`.
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> ObjectRef {
        ObjectRef {
            bucket: bucket.into(),
            key: key.into(),
            version_id: None,
        }
    }

    /// True when the version id names bytes that can never change (see [`pinned_version`]).
    pub fn is_pinned(&self) -> bool {
        self.version_id
            .as_deref()
            .is_some_and(|v| v != NULL_VERSION)
    }

    /// The same object at `version_id`.
    pub fn at_version(&self, version_id: Option<String>) -> ObjectRef {
        ObjectRef {
            version_id,
            ..self.clone()
        }
    }

    /// What pins the bytes this reference names, `etag` being the ETag its event (or read)
    /// reported: its version id when that can never change, else the ETag; `None` when
    /// neither is known. Two events with the same bucket, key and pin name the same bytes.
    pub fn pin(&self, etag: Option<&str>) -> Option<Pin> {
        match &self.version_id {
            Some(version) if self.is_pinned() => Some(Pin::Version(version.clone())),
            _ => etag.map(|e| Pin::ETag(e.to_owned())),
        }
    }
}

/// What pins an object's bytes (see [`ObjectRef::pin`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pin {
    /// A version id other than `null`: those bytes never change.
    Version(String),
    /// The ETag of an unversioned (or `null`) key: the bytes the key holds while its ETag is
    /// this one (an upload of other bytes has another ETag).
    ETag(String),
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:?}` on the key escapes control characters, so a hostile key cannot forge log lines.
        write!(f, "s3://{}/{:?}", self.bucket, self.key)?;
        if let Some(v) = &self.version_id {
            write!(f, "?versionId={v}")?;
        }
        Ok(())
    }
}

/// A version id as S3 reports it, with the `null` version (of an object written while
/// versioning was off or suspended) read as no version: that version is replaced by every new
/// upload of its key, so it is handled like an unversioned key, through the key and on the
/// condition that it still holds the bytes scanned.
pub fn pinned_version(reported: Option<&str>) -> Option<String> {
    reported
        .filter(|v| !v.is_empty() && *v != NULL_VERSION)
        .map(String::from)
}

/// What a read or a write learnt about an object version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectInfo {
    /// The version read or written; `None` in an unversioned bucket.
    pub version_id: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// ETag, with its quotes removed.
    pub etag: Option<String>,
    /// S3's SHA-256 checksum (base64), when the object was uploaded with one.
    pub checksum_sha256: Option<String>,
    /// When this version was written, as S3 reports it (whole seconds since the epoch). A
    /// later upload of the same key always has a later one, even with the same bytes.
    pub last_modified: Option<i64>,
    /// Its KMS encryption (SSE-KMS, DSSE-KMS), when it has one: a production copy is
    /// encrypted the same way, never with the destination's SSE-S3 default.
    pub kms: Option<SseKms>,
    /// Its `Content-Encoding`, as S3 stores it: clients decode the bytes with it, so it is part
    /// of what the bytes are (scanned decoded, and covered by a signed verdict).
    pub content_encoding: Option<String>,
    /// Its `Content-Type`, as S3 stores it: what the uploader says the bytes are, which the
    /// type policies check against what they are.
    pub content_type: Option<String>,
}

/// How S3 encrypted an object version with a KMS key, as GetObject and HeadObject say
/// (`x-amz-server-side-encryption: aws:kms` or `aws:kms:dsse`, `…-aws-kms-key-id`,
/// `…-bucket-key-enabled`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseKms {
    /// The key. S3 always names it; without it a copy asks for SSE-KMS with the bucket's (or
    /// the account's `aws/s3`) key.
    pub key_id: Option<String>,
    /// Two layers of encryption (DSSE-KMS, `aws:kms:dsse`) rather than one (`aws:kms`).
    pub dual_layer: bool,
    /// Encrypted under an S3 Bucket Key, which saves KMS requests: the copy asks for one too.
    pub bucket_key: bool,
}

impl ObjectInfo {
    /// True when `other` describes the same upload: same ETag, size and, when both are known,
    /// write time. This is what tells an unversioned key's bytes from a newer upload of
    /// identical size and MD5.
    pub fn same_upload(&self, other: &ObjectInfo) -> bool {
        self.etag == other.etag
            && self.size == other.size
            && match (self.last_modified, other.last_modified) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// S3 keys in events and URL-encoded listings are form-encoded: `+` is a space and `%XX` an
/// escaped byte (a literal `+` arrives as `%2B`, so replacing `+` first is safe). A `%` not
/// followed by two hex digits is kept as it is. The decoded key may hold any character S3
/// allows, control characters included: log it escaped (`ObjectRef`'s `Display` does).
pub fn decode_key(raw: &str) -> Result<String, KeyError> {
    if raw.is_empty() {
        return Err(KeyError::Empty);
    }
    let spaced = raw.replace('+', " ");
    let key = percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map_err(|e| KeyError::NotUtf8(e.to_string()))?;
    if key.len() > MAX_KEY_BYTES {
        return Err(KeyError::TooLong(key.len()));
    }
    Ok(key.into_owned())
}

/// Why an encoded key is no S3 key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// S3 keys have at least one character.
    #[error("empty object key")]
    Empty,
    /// The escapes decode to bytes that are not UTF-8.
    #[error("does not decode to UTF-8: {0}")]
    NotUtf8(String),
    /// Longer than S3 allows once decoded.
    #[error("is {0} bytes once decoded, over S3's limit of {MAX_KEY_BYTES}")]
    TooLong(usize),
}

/// Characters S3 leaves as they are in a notification's key; the space becomes `+`, the rest
/// is percent-encoded (a literal `+` becomes `%2B`, so decoding `+` first is unambiguous).
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'*')
    .remove(b'/')
    .remove(b' ');

/// `key` as S3 writes it in a notification.
pub fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY).to_string().replace(' ', "+")
}

/// A `Content-Encoding` token that is not a coding: nothing to undo.
pub const NO_CODING: [&str; 2] = [
    "identity",
    // S3 takes it off when the object is stored; clients never see it.
    "aws-chunked",
];

/// A `Content-Encoding` value as what it does to the bytes: its tokens in lower case, those
/// that are no coding left out, joined with `,`; empty when it changes nothing. This is what a
/// signed verdict covers, so that bytes which clients decode differently never share one.
pub fn canonical_encoding(value: &str) -> String {
    value
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty() && !NO_CODING.contains(&t.as_str()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Where the object is once its verdict has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// Still in its bucket.
    InPlace,
    /// Copied to the quarantine bucket and deleted from its own.
    Quarantined(ObjectRef),
    /// Deleted (`ACTION=delete`).
    Deleted,
    /// Gone before the function could act (deleted, overwritten in an unversioned bucket, or
    /// quarantined by an earlier delivery).
    Gone,
    /// Clean, copied to its production bucket and deleted from its staging bucket.
    Promoted(ObjectRef),
    /// Released (`s3-yara-scan release`): copied from the quarantine bucket back to its own
    /// bucket and key, and deleted from the quarantine bucket.
    Restored(ObjectRef),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::InPlace => f.write_str("in place"),
            Location::Quarantined(dest) => write!(f, "quarantined to {dest}"),
            Location::Deleted => f.write_str("deleted"),
            Location::Gone => f.write_str("gone"),
            Location::Promoted(dest) => write!(f, "promoted to {dest}"),
            Location::Restored(dest) => write!(f, "released from quarantine to {dest}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_null_version_pins_nothing() {
        assert_eq!(pinned_version(Some("null")), None);
        assert_eq!(pinned_version(Some("")), None);
        assert_eq!(pinned_version(Some("v1")).as_deref(), Some("v1"));
        let o = ObjectRef::new("b", "k");
        assert!(!o.is_pinned());
        assert!(!o.at_version(Some("null".into())).is_pinned());
        assert!(o.at_version(Some("v1".into())).is_pinned());
    }

    #[test]
    fn a_version_pins_the_bytes_else_the_etag() {
        let o = ObjectRef::new("b", "k");
        let v1 = o.at_version(Some("v1".into()));
        assert_eq!(v1.pin(Some("e")), Some(Pin::Version("v1".into())));
        assert_eq!(v1.pin(None), Some(Pin::Version("v1".into())));
        for unpinned in [o.clone(), o.at_version(Some(NULL_VERSION.into()))] {
            assert_eq!(unpinned.pin(Some("e")), Some(Pin::ETag("e".into())));
            assert_eq!(unpinned.pin(None), None);
        }
    }

    #[test]
    fn a_later_upload_of_the_same_bytes_is_another_upload() {
        let info = |lm| ObjectInfo {
            etag: Some("e".into()),
            size: 3,
            last_modified: lm,
            ..ObjectInfo::default()
        };
        assert!(info(Some(10)).same_upload(&info(Some(10))));
        assert!(!info(Some(10)).same_upload(&info(Some(11))));
        assert!(
            info(None).same_upload(&info(Some(11))),
            "unknown time: ETag and size"
        );
    }
}
