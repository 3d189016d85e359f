//! Secrets Manager: the signing key and the archive passwords, read at start-up. An error
//! names the variable, the secret and the permission, never the value.

use super::Aws;
use crate::config::settings::{self, Setting};
use crate::config::{Config, ConfigError, Passwords, SigningKeySource};
use crate::signature::SigningKey;

impl Aws {
    /// The signing key the settings give: none, the one given inline, or the one in
    /// `SIGNING_KEY_SECRET`.
    pub async fn signing_key(&self, config: &Config) -> Result<Option<SigningKey>, ConfigError> {
        Ok(match &config.signing_key {
            SigningKeySource::Off => None,
            SigningKeySource::Inline(key) => Some(key.clone()),
            SigningKeySource::Secret(secret) => Some(self.read_signing_key(secret).await?),
        })
    }

    /// Reads the signing key, the secret's `SecretString`.
    async fn read_signing_key(&self, secret: &str) -> Result<SigningKey, ConfigError> {
        let setting = &settings::SIGNING_KEY_SECRET;
        let value = self.secret_string(setting, secret).await?;
        SigningKey::new(value.into_bytes()).ok_or_else(|| {
            secret_problem(
                setting,
                secret,
                format!(
                    "the secret is too short (allowed: at least {} bytes)",
                    SigningKey::MIN_LEN
                ),
            )
        })
    }

    /// Reads the archive passwords from the secret `ARCHIVE_PASSWORDS_SECRET_ARN` names, when
    /// it is set, into `config`: once, at start-up, so that a secret that cannot be read stops
    /// the function before it judges any object.
    pub async fn read_archive_passwords(&self, config: &mut Config) -> Result<(), ConfigError> {
        let Some(secret) = config.archive_passwords_secret.as_deref() else {
            return Ok(());
        };
        let setting = &settings::ARCHIVE_PASSWORDS_SECRET_ARN;
        let text = self.secret_string(setting, secret).await?;
        config.archive.passwords =
            Passwords::from_secret(&text).map_err(|why| secret_problem(setting, secret, why))?;
        Ok(())
    }

    /// The `SecretString` of `secret`, which `setting` names.
    async fn secret_string(&self, setting: &Setting, secret: &str) -> Result<String, ConfigError> {
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(secret)
            .send()
            .await
            .map_err(|e| {
                let why = format!(
                    "cannot read the secret ({}); the function's role needs \
                     secretsmanager:GetSecretValue on it",
                    aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
                );
                secret_problem(setting, secret, why)
            })?;
        out.secret_string().map(str::to_owned).ok_or_else(|| {
            let why = "the secret has no SecretString (allowed: a text secret)";
            secret_problem(setting, secret, why.into())
        })
    }
}

/// A secret that `setting` names could not be used: why, naming the variable and the secret.
fn secret_problem(setting: &Setting, secret: &str, why: String) -> ConfigError {
    ConfigError::new(format!("{}=`{secret}`: {why}", setting.name))
}
