//! The passwords tried on encrypted archive members: `ARCHIVE_PASSWORDS`, or the secret
//! `ARCHIVE_PASSWORDS_SECRET_ARN` names (read at start-up, not here). A refused value is never
//! quoted: it may hold a password.

use super::super::passwords::NONE;
use super::super::settings as s;
use super::Env;
use crate::config::Passwords;

/// The passwords, and the secret to read them from instead (when one is named, the passwords
/// are empty until it is read).
pub(super) fn archive(env: &mut Env) -> (Passwords, Option<String>) {
    let secret = env.get(&s::ARCHIVE_PASSWORDS_SECRET_ARN);
    let listed = env.get(&s::ARCHIVE_PASSWORDS);
    if secret.is_some() && listed.is_some() {
        env.problems.push(format!(
            "{} and {} are both set (allowed: one of them; the secret for passwords that must \
             stay private)",
            s::ARCHIVE_PASSWORDS.name,
            s::ARCHIVE_PASSWORDS_SECRET_ARN.name
        ));
    }
    if secret.is_some() {
        return (Passwords::default(), secret);
    }
    let text = listed.as_deref().unwrap_or(s::ARCHIVE_PASSWORDS.default);
    if text.eq_ignore_ascii_case(NONE) {
        return (Passwords::default(), None);
    }
    match Passwords::parse(text, ',') {
        Ok(passwords) => (passwords, None),
        Err(why) => {
            env.problems.push(format!(
                "{} is invalid: {why} (allowed: {}; its value is not shown)",
                s::ARCHIVE_PASSWORDS.name,
                s::ARCHIVE_PASSWORDS.allowed.describe()
            ));
            (Passwords::default(), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, Password};

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([("ACTION".into(), "tag".into())])
            .collect();
        Config::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    fn tried(c: &Config) -> Vec<&str> {
        c.archive
            .passwords
            .as_slice()
            .iter()
            .map(Password::as_str)
            .collect()
    }

    #[test]
    fn the_malware_sharing_passwords_are_tried_by_default() {
        let c = config(&[]).unwrap();
        assert_eq!(tried(&c), ["infected", "malware", "virus"]);
        assert_eq!(c.archive_passwords_secret, None);
        let empty = config(&[("ARCHIVE_PASSWORDS", "")]).unwrap();
        assert_eq!(tried(&empty), tried(&c), "empty means the default");
    }

    #[test]
    fn a_list_replaces_them_and_none_tries_none() {
        let c = config(&[("ARCHIVE_PASSWORDS", "s3cret, infected")]).unwrap();
        assert_eq!(tried(&c), ["s3cret", "infected"]);
        let none = config(&[("ARCHIVE_PASSWORDS", "None")]).unwrap();
        assert!(none.archive.passwords.is_empty());
    }

    #[test]
    fn a_secret_replaces_the_list_and_is_read_later() {
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pw";
        let c = config(&[("ARCHIVE_PASSWORDS_SECRET_ARN", arn)]).unwrap();
        assert!(c.archive.passwords.is_empty(), "until start-up reads it");
        assert_eq!(c.archive_passwords_secret.as_deref(), Some(arn));
    }

    #[test]
    fn both_set_or_a_bad_list_names_the_variable_but_no_password() {
        let e = config(&[
            ("ARCHIVE_PASSWORDS", "a"),
            ("ARCHIVE_PASSWORDS_SECRET_ARN", "pw"),
        ])
        .unwrap_err();
        assert!(e.problems[0].contains("ARCHIVE_PASSWORDS and ARCHIVE_PASSWORDS_SECRET_ARN"));
        let long = "hunter2".repeat(50);
        let e = config(&[("ARCHIVE_PASSWORDS", &long)]).unwrap_err();
        assert!(
            e.problems[0].starts_with("ARCHIVE_PASSWORDS is invalid"),
            "{e}"
        );
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
