//! The source tag (`TAG_KEY_SOURCE`, by default `scan-source`) of every copy the scanner makes
//! (quarantine, production, release): the version and ETag it was made from, as
//! `<version id> <ETag>`. Written with the copy; compared whole to recognise a copy of this
//! very version (a redelivery reuses it, a second copy is removed); read back to tell where a
//! quarantine copy came from (`release`). `contract --source-tags` prints what values name.

use crate::object::{NULL_VERSION, ObjectInfo, ObjectRef, pinned_version};
use crate::verdict::tag_value;

/// What stands for "no ETag" in a source tag.
const NO_ETAG: &str = "-";

/// The version and ETag a copy was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTag {
    /// The version copied; `None` for an unversioned (or `null`) one, written `null`.
    pub version_id: Option<String>,
    /// Its ETag, when S3 reported one; `None` is written `-`.
    pub etag: Option<String>,
}

/// A value that is not `<version id> <ETag>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not `<version id> <ETag>` (`{NULL_VERSION}` for no version, `{NO_ETAG}` for no \
     ETag), as the scanner writes it"
)]
pub struct SourceTagError(String);

impl SourceTag {
    /// The source tag of a copy of `source`, the version `info` describes.
    pub fn of(source: &ObjectRef, info: &ObjectInfo) -> SourceTag {
        SourceTag {
            version_id: pinned_version(source.version_id.as_deref()),
            etag: info.etag.clone(),
        }
    }

    /// The tag's value, with any character S3 refuses in a tag replaced (see [`tag_value`]).
    pub fn value(&self) -> String {
        tag_value(&format!(
            "{} {}",
            self.version_id.as_deref().unwrap_or(NULL_VERSION),
            self.etag.as_deref().unwrap_or(NO_ETAG)
        ))
    }

    /// What a tag's `value` names: exactly two words, the version and the ETag.
    pub fn parse(value: &str) -> Result<SourceTag, SourceTagError> {
        let refused = || SourceTagError(value.to_owned());
        let (version, etag) = value.split_once(' ').ok_or_else(refused)?;
        if version.is_empty() || etag.is_empty() || etag.contains(' ') {
            return Err(refused());
        }
        Ok(SourceTag {
            version_id: pinned_version(Some(version)),
            etag: (etag != NO_ETAG).then(|| etag.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(etag: Option<&str>) -> ObjectInfo {
        ObjectInfo {
            etag: etag.map(String::from),
            ..ObjectInfo::default()
        }
    }

    #[test]
    fn a_copy_names_the_version_and_etag_it_was_made_from() {
        let object = ObjectRef::new("b", "k");
        let v1 = object.at_version(Some("v1".into()));
        let multipart = SourceTag::of(&v1, &info(Some("0f3a-2")));
        assert_eq!(multipart.value(), "v1 0f3a-2");
        assert_eq!(SourceTag::parse("v1 0f3a-2"), Ok(multipart));
        for unversioned in [object.clone(), object.at_version(Some("null".into()))] {
            let tag = SourceTag::of(&unversioned, &info(Some("abc")));
            assert_eq!(tag.value(), "null abc");
            assert_eq!(SourceTag::parse(&tag.value()), Ok(tag));
        }
        let no_etag = SourceTag::of(&v1, &info(None));
        assert_eq!(no_etag.value(), "v1 -");
        assert_eq!(SourceTag::parse("v1 -"), Ok(no_etag));
    }

    #[test]
    fn characters_s3_refuses_in_a_tag_are_replaced() {
        let tag = SourceTag::of(&ObjectRef::new("b", "k"), &info(Some("\"abc\"")));
        assert_eq!(tag.value(), "null _abc_");
    }

    #[test]
    fn anything_but_two_words_names_nothing() {
        for value in ["", "v1", "v1 ", " abc", "v1 abc def", "v1  abc"] {
            assert_eq!(
                SourceTag::parse(value),
                Err(SourceTagError(value.into())),
                "{value:?}"
            );
        }
    }
}
