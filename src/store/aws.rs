//! The AWS clients of the running function, from the default configuration chain
//! (`AWS_REGION`, `AWS_ENDPOINT_URL` and friends, the Lambda role), the signing key read
//! from Secrets Manager at start-up, and the caller's identity (`release`).

use std::time::Duration;

use super::S3Store;
use crate::config::{Config, ConfigError, SigningKeySource, settings};
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
    let problem = |why: String| {
        ConfigError::new(format!(
            "{}=`{secret}`: {why}",
            settings::SIGNING_KEY_SECRET.name
        ))
    };
    let out = aws_sdk_secretsmanager::Client::new(shared)
        .get_secret_value()
        .secret_id(secret)
        .send()
        .await
        .map_err(|e| {
            problem(format!(
                "cannot read the secret ({}); the function's role needs \
                 secretsmanager:GetSecretValue on it",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ))
        })?;
    let value = out
        .secret_string()
        .ok_or_else(|| problem("the secret has no SecretString (allowed: a text secret)".into()))?;
    SigningKey::new(value.as_bytes().to_vec()).ok_or_else(|| {
        problem(format!(
            "the secret is too short (allowed: at least {} bytes)",
            SigningKey::MIN_LEN
        ))
    })
}

/// STS could not say who the caller is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot tell who is calling (STS GetCallerIdentity): {0}")]
pub struct IdentityError(String);

/// The caller's ARN (STS GetCallerIdentity, which needs no permission): who releases an
/// object from quarantine.
pub async fn caller_arn() -> Result<String, IdentityError> {
    let shared = aws_config::load_from_env().await;
    let out = aws_sdk_sts::Client::new(&shared)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| IdentityError(aws_sdk_sts::error::DisplayErrorContext(&e).to_string()))?;
    out.arn()
        .map(str::to_owned)
        .ok_or_else(|| IdentityError("the answer names no ARN".into()))
}
