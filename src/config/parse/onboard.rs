//! Onboarding by tag: `ONBOARD_TAG` (KEY=VALUE or `off`) and `NOTIFICATION_TOPIC_ARN`.

use super::super::settings as s;
use super::{Env, Invalid};
use crate::config::{OnboardTag, Onboarding};

pub(super) fn onboarding(env: &mut Env) -> Onboarding {
    Onboarding {
        tag: env.parsed(&s::ONBOARD_TAG, tag),
        topic_arn: topic(env),
    }
}

/// `KEY=VALUE` as S3 allows a bucket tag (a key of 1 to 128 characters not starting with
/// `aws:`, a value of at most 256), or `off`.
fn tag(v: &str) -> Result<Option<OnboardTag>, Invalid> {
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (key, value) = v.split_once('=').ok_or(Invalid::NotAllowed)?;
    let (key, value) = (key.trim(), value.trim());
    let why = |w: &str| Err(Invalid::Because(w.to_owned()));
    if key.is_empty() || key.chars().count() > 128 {
        return why("a tag key has 1 to 128 characters");
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return why("tag keys starting with `aws:` are AWS's own");
    }
    if value.chars().count() > 256 {
        return why("a tag value has at most 256 characters");
    }
    Ok(Some(OnboardTag {
        key: key.to_owned(),
        value: value.to_owned(),
    }))
}

fn topic(env: &mut Env) -> Option<String> {
    let setting = &s::NOTIFICATION_TOPIC_ARN;
    let v = env.get(setting)?;
    let parts: Vec<&str> = v.split(':').collect();
    if parts.len() == 6 && parts[0] == "arn" && parts[2] == "sns" {
        return Some(v);
    }
    let why = "not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)";
    env.refuse(setting, &v, Invalid::Because(why.into()));
    None
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, OnboardTag};

    fn parse(vars: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
        Config::from_lookup(|name| {
            let found = vars
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string());
            found.or_else(|| (name == "ACTION").then(|| "tag".into()))
        })
    }

    #[test]
    fn the_tag_defaults_to_the_documented_one_and_can_be_turned_off() {
        let default = parse(&[]).unwrap().onboard;
        let expected = OnboardTag {
            key: "s3-yara-scan".into(),
            value: "protect".into(),
        };
        assert_eq!((default.tag, default.topic_arn), (Some(expected), None));
        assert_eq!(parse(&[("ONBOARD_TAG", "OFF")]).unwrap().onboard.tag, None);
        let team = parse(&[("ONBOARD_TAG", "Team = Scan=Me")])
            .unwrap()
            .onboard
            .tag
            .unwrap();
        assert_eq!(
            (team.key.as_str(), team.value.as_str()),
            ("Team", "Scan=Me")
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value, says) in [
            ("ONBOARD_TAG", "protect", "allowed: KEY=VALUE"),
            ("ONBOARD_TAG", "=x", "1 to 128"),
            (
                "ONBOARD_TAG",
                "aws:cloudformation:stack-name=x",
                "AWS's own",
            ),
            (
                "NOTIFICATION_TOPIC_ARN",
                "arn:aws:sqs:us-east-1:1:q",
                "not an SNS topic ARN",
            ),
        ] {
            let err = parse(&[(var, value)]).unwrap_err().to_string();
            assert!(err.contains(var) && err.contains(says), "{value}: {err}");
        }
        let ok = parse(&[(
            "NOTIFICATION_TOPIC_ARN",
            "arn:aws:sns:us-east-1:111122223333:scan",
        )]);
        assert!(ok.unwrap().onboard.topic_arn.is_some());
    }
}
