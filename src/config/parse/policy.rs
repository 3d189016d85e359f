//! The policies' settings: `ALLOWED_TYPES`, `TYPE_MISMATCH` and `ACTIVE_CONTENT`.

use super::super::settings as s;
use super::{Env, Invalid};
use crate::policy::{AllowedTypes, Policy};

pub(super) fn policy(env: &mut Env) -> Policy {
    Policy {
        allowed: env.parsed(&s::ALLOWED_TYPES, |v| {
            AllowedTypes::parse(v).map_err(Invalid::Because)
        }),
        mismatch: env.choice(&s::TYPE_MISMATCH),
        active: env.choice(&s::ACTIVE_CONTENT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::Allowed;
    use crate::policy::{ActiveContent, Mismatch};

    #[test]
    fn the_settings_words_are_the_enums_names() {
        let words = |setting: &crate::config::settings::Setting| match setting.allowed {
            Allowed::OneOf(words) => words.to_vec(),
            other => panic!("{} is {other:?}", setting.name),
        };
        let names: Vec<&str> = Mismatch::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(words(&s::TYPE_MISMATCH), names);
        let names: Vec<&str> = ActiveContent::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(words(&s::ACTIVE_CONTENT), names);
    }

    #[test]
    fn allowed_types_are_parsed_with_the_entry_named_in_errors() {
        let parse = |v: &str| {
            crate::config::parse::config(&|n| match n {
                "ACTION" => Some("tag".into()),
                "ALLOWED_TYPES" => Some(v.into()),
                _ => None,
            })
        };
        let config = parse("images/=image;cv/=pdf,docx,doc;*=any").expect("valid");
        let cv = config.policy.allowed.for_key("cv/me.pdf").expect("cv/");
        assert_eq!(cv.list(), "pdf docx doc");
        let err = parse("images/=imagez")
            .expect_err("no such type")
            .to_string();
        assert!(
            err.contains("ALLOWED_TYPES=`images/=imagez` is invalid: `imagez` is no type"),
            "{err}"
        );
        let err = parse("images").expect_err("no =").to_string();
        assert!(err.contains("`images` is not PREFIX=TYPE,TYPE"), "{err}");
    }
}
