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
/// friends included), honouring `S3_FORCE_PATH_STYLE`.
pub async fn s3_store(config: &Config) -> S3Store {
    let shared = aws_config::load_from_env().await;
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
    S3Store::new(aws_sdk_s3::Client::from_conf(s3))
}
