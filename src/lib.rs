//! Malware scanning for Amazon S3, as an AWS Lambda function fed by SQS.
//!
//! An object created in a protected bucket makes S3 publish an event to SNS, which an SQS queue
//! delivers to the function in batches. For each message the pipeline:
//!
//! 1. [`event`] decodes the body (SNS envelope, direct or raw S3 event) into objects;
//! 2. [`store`] fetches the exact version into one buffer;
//! 3. [`scan`] runs the YARA-X rules compiled into the binary;
//! 4. [`verdict`] turns the result into `Clean`, `Infected`, `Unscannable` or `Error` tags;
//!    [`signature`] signs it, so that a forged verdict never skips a scan;
//! 5. [`action`] tags the scanned version and quarantines or deletes it when infected;
//! 6. [`batch`] acknowledges only settled messages, through an SQS partial batch response.
//!
//! [`config`] reads and validates the settings once, at start-up.

#![deny(missing_docs)]
// One audited exception: mapping spool files (store.rs).
#![deny(unsafe_code)]

// Lets the decoder's fuzzer (examples/fuzz_events.rs), also compiled into the unit tests, name
// this crate the same way in both builds.
#[cfg(test)]
extern crate self as s3_yara_scan;

pub mod action;
pub mod batch;
pub mod config;
pub mod event;
pub mod scan;
pub mod signature;
pub mod store;
pub mod verdict;

pub use batch::{BatchError, ObjectOutcome, Pipeline};
pub use config::{Action, Config, ConfigError, SigningKey, SkipSigned};
pub use scan::{Engine, RuleSet, ScanError};
pub use store::{ObjectRef, ObjectStore, S3Store, StoreError};
pub use verdict::Verdict;

/// Builds the S3 store from the default AWS configuration chain (`AWS_ENDPOINT_URL` and
/// friends included), honouring `S3_FORCE_PATH_STYLE` and `S3_TIMEOUT_SECS`; with
/// `SIGNING_KEY_SECRET`, first reads the signing key from Secrets Manager into `config`.
pub async fn s3_store(config: &mut Config) -> Result<S3Store, ConfigError> {
    let shared = aws_config::load_from_env().await;
    if let Some(secret) = config.signing_key_secret.clone() {
        config.signing_key = Some(signing_key_from_secret(&shared, &secret).await?);
    }
    // The attempt timeout covers a request up to its response headers; a body that stalls is
    // cut off by the SDK's stalled-stream protection. Each is retried by the SDK's retry policy.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(config.s3_timeout.min(std::time::Duration::from_secs(5)))
        .read_timeout(config.s3_timeout)
        .operation_attempt_timeout(config.s3_timeout)
        .build();
    let s3 = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(config.force_path_style)
        .timeout_config(timeouts)
        .build();
    Ok(S3Store::new(aws_sdk_s3::Client::from_conf(s3)))
}

/// Reads the signing key, the secret's `SecretString`, once at start-up. The error names the
/// secret and the permission, never the value.
async fn signing_key_from_secret(
    shared: &aws_config::SdkConfig,
    secret: &str,
) -> Result<SigningKey, ConfigError> {
    let problem = |why: String| ConfigError {
        problems: vec![format!("SIGNING_KEY_SECRET=`{secret}`: {why}")],
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
