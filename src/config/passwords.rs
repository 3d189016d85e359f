//! The passwords tried on encrypted archive members (`ARCHIVE_PASSWORDS`, or the lines of the
//! secret `ARCHIVE_PASSWORDS_SECRET_ARN` names): parsed once, held behind an `Arc` so that each
//! object's copy of the limits costs no allocation, and never shown by `Debug` (a log line of
//! the configuration prints how many there are, not what they are).

use std::sync::Arc;

/// Passwords tried at most: each wrong one costs a key derivation on every encrypted member
/// (a 7z AES key takes 2^19 SHA-256 rounds), within the scan's time.
pub const MAX_PASSWORDS: usize = 32;
/// The longest password accepted, in bytes.
pub const MAX_PASSWORD_LEN: usize = 256;
/// The value of `ARCHIVE_PASSWORDS` that tries no password (an empty value means the default,
/// as for every setting: templates pass `""` for "use the default").
pub const NONE: &str = "none";

/// One password. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Its bytes, as the archive formats take them (zip: the bytes as given; 7z: the text).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(not shown)")
    }
}

/// The passwords tried on an encrypted member, in order. Its `Debug` shows only how many.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Passwords(Arc<[Password]>);

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Passwords({} not shown)", self.0.len())
    }
}

impl Passwords {
    /// `infected,malware,virus`-like text: the passwords split at `separator`, each trimmed,
    /// empty ones dropped, a repeated one kept once. Refused: more than [`MAX_PASSWORDS`], or
    /// one longer than [`MAX_PASSWORD_LEN`] bytes. The reason never quotes a password.
    pub fn parse(text: &str, separator: char) -> Result<Passwords, String> {
        let mut list: Vec<Password> = Vec::new();
        for (i, p) in text.split(separator).map(str::trim).enumerate() {
            if p.len() > MAX_PASSWORD_LEN {
                return Err(format!(
                    "password {} is {} bytes long (allowed: at most {MAX_PASSWORD_LEN})",
                    i + 1,
                    p.len()
                ));
            }
            if !p.is_empty() && !list.iter().any(|known| known.0 == p) {
                list.push(Password(p.to_owned()));
            }
        }
        if list.len() > MAX_PASSWORDS {
            return Err(format!(
                "{} passwords (allowed: at most {MAX_PASSWORDS}; each wrong one costs time on \
                 every encrypted member)",
                list.len()
            ));
        }
        Ok(Passwords(list.into()))
    }

    /// The secret's `SecretString`: one password per line (a password may hold a comma).
    pub fn from_secret(text: &str) -> Result<Passwords, String> {
        let passwords = Passwords::parse(text, '\n')?;
        match passwords.is_empty() {
            true => Err("the secret holds no password (allowed: one password per line)".into()),
            false => Ok(passwords),
        }
    }

    /// The passwords, in the order they are tried.
    pub fn as_slice(&self) -> &[Password] {
        &self.0
    }

    /// True when none is tried.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(p: &Passwords) -> Vec<&str> {
        p.as_slice().iter().map(Password::as_str).collect()
    }

    #[test]
    fn a_list_is_split_trimmed_and_kept_in_order_once_each() {
        let p = Passwords::parse(" infected, malware,,virus ,infected", ',').unwrap();
        assert_eq!(texts(&p), ["infected", "malware", "virus"]);
    }

    #[test]
    fn a_secret_holds_one_password_per_line_commas_included() {
        let p = Passwords::from_secret("infected\r\na,b\n\n  spaced  \n").unwrap();
        assert_eq!(texts(&p), ["infected", "a,b", "spaced"]);
        assert!(
            Passwords::from_secret("\n \n").is_err(),
            "no password at all"
        );
    }

    #[test]
    fn too_many_or_too_long_is_refused_without_quoting_a_password() {
        let many = (0..=MAX_PASSWORDS)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>();
        assert!(Passwords::parse(&many.join(","), ',').is_err());
        let long = "s".repeat(MAX_PASSWORD_LEN + 1);
        let why = Passwords::parse(&format!("ok,{long}"), ',').unwrap_err();
        assert!(why.starts_with("password 2 is"), "{why}");
        assert!(!why.contains(&long));
    }

    #[test]
    fn debug_never_shows_a_password() {
        let p = Passwords::parse("hunter2,infected", ',').unwrap();
        let shown = format!("{p:?} {:?}", p.as_slice()[0]);
        assert!(
            !shown.contains("hunter2") && !shown.contains("infected"),
            "{shown}"
        );
        assert!(shown.contains('2'), "how many: {shown}");
    }
}
