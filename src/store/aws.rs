//! The AWS clients of the running function, from the default configuration chain
//! (`AWS_REGION`, `AWS_ENDPOINT_URL` and friends, the Lambda role), the signing key and the
//! archive passwords read from Secrets Manager at start-up, and the caller's identity
//! (`release`).

use std::time::Duration;

use super::S3Store;
use crate::config::settings::{self, Setting};
use crate::config::{Config, ConfigError, Passwords, SigningKeySource};
use crate::signature::SigningKey;

/// Builds the S3 store (honouring `S3_FORCE_PATH_STYLE` and `S3_TIMEOUT_SECS`) and resolves the
/// signing key: the one given, or the one in `SIGNING_KEY_SECRET`.
pub async fn connect(config: &Config) -> Result<(S3Store, Option<SigningKey>), ConfigError> {
    let shared = aws_config::load_from_env().await;
    let signing_key = match &config.signing_key {
        SigningKeySource::Off => None,
        SigningKeySource::Inline(key) => Some(key.clone()),
        SigningKeySource::Secret(secret) => Some(read_signing_key(&shared, secret).await?),
    };
    // The attempt timeout covers a request up to its response headers; a body that stalls is
    // cut off by the SDK's stalled-stream protection. Each is retried by the SDK's retry policy.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(config.s3_timeout.min(Duration::from_secs(5)))
        .read_timeout(config.s3_timeout)
        .operation_attempt_timeout(config.s3_timeout)
        .build();
    let s3 = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(config.force_path_style)
        .timeout_config(timeouts)
        .build();
    Ok((S3Store::new(aws_sdk_s3::Client::from_conf(s3)), signing_key))
}

/// Reads the signing key, the secret's `SecretString`. The error names the secret and the
/// permission, never the value.
async fn read_signing_key(
    shared: &aws_config::SdkConfig,
    secret: &str,
) -> Result<SigningKey, ConfigError> {
    let setting = &settings::SIGNING_KEY_SECRET;
    let value = secret_string(shared, setting, secret).await?;
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

/// Reads the archive passwords from the secret `ARCHIVE_PASSWORDS_SECRET_ARN` names, when it
/// is set, into `config`: once, at start-up, so that a secret that cannot be read stops the
/// function before it judges any object. The error names the variable, never a password.
pub async fn read_archive_passwords(config: &mut Config) -> Result<(), ConfigError> {
    let Some(secret) = config.archive_passwords_secret.as_deref() else {
        return Ok(());
    };
    let setting = &settings::ARCHIVE_PASSWORDS_SECRET_ARN;
    let shared = aws_config::load_from_env().await;
    let text = secret_string(&shared, setting, secret).await?;
    config.archive.passwords =
        Passwords::from_secret(&text).map_err(|why| secret_problem(setting, secret, why))?;
    Ok(())
}

/// The `SecretString` of `secret`, which `setting` names.
async fn secret_string(
    shared: &aws_config::SdkConfig,
    setting: &Setting,
    secret: &str,
) -> Result<String, ConfigError> {
    let out = aws_sdk_secretsmanager::Client::new(shared)
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

/// A secret that `setting` names could not be used: why, naming the variable and the secret.
fn secret_problem(setting: &Setting, secret: &str, why: String) -> ConfigError {
    ConfigError::new(format!("{}=`{secret}`: {why}", setting.name))
}

/// STS could not say who the caller is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot tell who is calling (STS GetCallerIdentity): {0}")]
pub struct IdentityError(String);

impl IdentityError {
    /// An identity problem, in words.
    pub(super) fn new(why: impl Into<String>) -> IdentityError {
        IdentityError(why.into())
    }
}

/// The caller's ARN (STS GetCallerIdentity, which needs no permission): who releases an
/// object from quarantine.
pub async fn caller_arn() -> Result<String, IdentityError> {
    caller_arn_with(&aws_config::load_from_env().await).await
}

/// The caller's ARN, with the SDK settings `shared`.
pub(super) async fn caller_arn_with(
    shared: &aws_config::SdkConfig,
) -> Result<String, IdentityError> {
    let out = aws_sdk_sts::Client::new(shared)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| IdentityError(aws_sdk_sts::error::DisplayErrorContext(&e).to_string()))?;
    out.arn()
        .map(str::to_owned)
        .ok_or_else(|| IdentityError("the answer names no ARN".into()))
}
