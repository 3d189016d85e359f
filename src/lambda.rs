//! The function as a process runs it: the [`pipeline`] built from the settings at start-up
//! (the Lambda function, `handle`, `poll` and `backlog`), one invocation's dispatch
//! ([`invoke`]: an SQS batch, an S3 Batch Operations job, an on-demand scan, a CloudTrail
//! event of a bucket or a scheduled feed update), and the Lambda runtime's loop around them ([`serve`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

use crate::aws::{Aws, IdentityError};
use crate::batch::{self, BatchError, demand, operations};
use crate::feeds::{self, FeedError};
use crate::forward::Forward;
use crate::onboard::{self, OnboardError};
use crate::rules::RulesError;
use crate::{Config, ConfigError, Engine, Pipeline, RuleSet, S3Store, ScanError, StartupError};

/// Why the function could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A setting is wrong, or a secret it names cannot be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The rules compiled into the binary do not load.
    #[error("loading the embedded rules")]
    Rules(#[source] ScanError),
    /// Security Hub findings are on, but the account to file them in cannot be told.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The users' rules or the checks against S3 failed.
    #[error(transparent)]
    Startup(#[from] StartupError),
}

/// Why an invocation failed as a whole (Lambda retries it, or its caller sees the error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// A CloudTrail event of a bucket that onboarding could not handle.
    #[error(transparent)]
    Onboard(#[from] OnboardError),
    /// A `scanObject` request that does not parse.
    #[error(
        "not a valid on-demand scan: expected {{\"scanObject\": {{\"bucket\": …, \"key\": …, \
         \"versionId\": … (optional)}}}}"
    )]
    ScanObject(#[source] serde_json::Error),
    /// An S3 Batch Operations invocation that does not parse.
    #[error("not a valid S3 Batch Operations invocation")]
    Job(#[source] serde_json::Error),
    /// Neither of the events the function takes.
    #[error("neither a Lambda SQS event nor an S3 Batch Operations invocation")]
    Unknown(#[source] serde_json::Error),
    /// The batch could not be run.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// A scheduled feed update could not run (each feed's own refusal is in its answer).
    #[error(transparent)]
    Feeds(#[from] FeedError),
    /// The answer could not be written as JSON.
    #[error(transparent)]
    Answer(#[from] serde_json::Error),
}

/// Why the Lambda function stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// It could not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The Lambda runtime's loop failed.
    #[error("{0}")]
    Runtime(lambda_runtime::Error),
}

/// The Lambda function: settings from the environment, the pipeline built once, then every
/// invocation until the runtime stops.
pub async fn serve() -> Result<(), ServeError> {
    let config = Config::from_env()?;
    config.require_bucket_scope()?;
    let aws = Aws::load(&config).await;
    let pipeline = pipeline(&aws, config).await?;
    let pipeline = &pipeline;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        // The runtime logs a failed invocation's error with `{:?}`: anyhow's, the message and
        // its causes, is the one a reader of the function's logs wants (not the enum's).
        invoke(pipeline, event.payload, Some(deadline))
            .await
            .map_err(|e| lambda_runtime::Error::from(anyhow::Error::from(e)))
    }))
    .await
    .map_err(ServeError::Runtime)
}

/// One invocation: an SQS batch (answered with the messages to retry), an S3 Batch
/// Operations job (answered per task), an on-demand scan (answered with its report), a
/// CloudTrail event of a bucket (onboarding by tag), or the scheduled `{"feedsUpdate": {}}`
/// (answered with each feed's report).
pub async fn invoke(
    pipeline: &Pipeline<S3Store>,
    event: Value,
    deadline: Option<SystemTime>,
) -> Result<Value, InvokeError> {
    if onboard::event::is_cloudtrail(&event) {
        return Ok(onboard::handle_event(pipeline.store(), pipeline.config(), event).await?);
    }
    if feeds::is_update_event(&event) {
        let reports = feeds::run(pipeline.store(), pipeline.config(), None).await?;
        return Ok(serde_json::to_value(reports)?);
    }
    if demand::is_scan_object(&event) {
        let request: demand::ScanObject =
            serde_json::from_value(event).map_err(InvokeError::ScanObject)?;
        return Ok(demand::scan_on_demand(pipeline, request, deadline).await);
    }
    if operations::is_job(&event) {
        let job: operations::JobEvent = serde_json::from_value(event).map_err(InvokeError::Job)?;
        let response = operations::process_job_until(pipeline, job, deadline).await;
        return Ok(serde_json::to_value(response)?);
    }
    let batch: SqsEvent = serde_json::from_value(event).map_err(InvokeError::Unknown)?;
    let response = batch::process_until(pipeline, batch, deadline).await?;
    Ok(serde_json::to_value(response)?)
}

/// The pipeline the function runs: embedded rules, S3, the signing key (and the archive
/// passwords, when a secret holds them), checked against S3.
pub async fn pipeline(aws: &Aws, mut config: Config) -> Result<Pipeline<S3Store>, StartError> {
    aws.read_archive_passwords(&mut config).await?;
    let rules = RuleSet::embedded().map_err(StartError::Rules)?;
    tracing::info!(
        ruleset = rules.id(),
        rules = rules.len(),
        action = ?config.action,
        unscannable = ?config.unscannable,
        max_object_size = config.max_object_size,
        concurrency = config.concurrency,
        signing = ?config.signing_key,
        archive_passwords = config.archive.passwords.as_slice().len(),
        "ready"
    );
    let signing_key = aws.signing_key(&config).await?;
    let publisher = aws.publisher(&config).await?;
    let forwarder = (config.large_objects.as_ref())
        .map(|large| Arc::new(aws.scan_queue(&large.queue_url)) as Arc<dyn Forward>);
    let engine = Engine::new(rules, config.scan_timeout);
    let pipeline = Pipeline::new(aws.s3_store(), engine, config)
        .with_signing_key(signing_key)
        .with_publisher(publisher)
        .with_forwarder(forwarder);
    match pipeline.load_rules().await {
        // A first deployment's RULES prefix is empty until its feeds are written: write them.
        Err(StartupError::Rules(RulesError::Empty { .. })) if feeds::bootstrap(&pipeline).await => {
            pipeline.load_rules().await?
        }
        loaded => loaded?,
    }
    pipeline.preflight().await?;
    Ok(pipeline)
}
