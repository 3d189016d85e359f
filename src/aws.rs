//! Every AWS client, from one SDK configuration loaded once at start-up (the default chain:
//! `AWS_REGION`, `AWS_ENDPOINT_URL` and friends, the Lambda, task or instance role), one client
//! per service, shared: [`Aws`]. S3 is handed to the object-store seam ([`S3Store`]); the
//! other services are here: Secrets Manager (`secrets`: the signing key, the archive
//! passwords), STS (`identity`: who releases an object, which account files findings), the
//! targets of result events (`targets`: EventBridge, SNS and the SQS re-queue, which carry the
//! documents `crate::publish` builds), Security Hub (`securityhub`), and SQS for queues
//! (`queue`: the one the `poll` agent consumes; `enqueue`: SendMessageBatch for `backlog
//! --to-queue`, SendMessage to the agent's queue). Only this module and `store/s3*` name an
//! `aws_sdk_*` crate.

use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;

use crate::config::Config;
use crate::store::S3Store;

mod enqueue;
mod identity;
mod queue;
mod secrets;
mod securityhub;
mod targets;

pub use enqueue::{EnqueueError, ScanQueue};
pub use identity::IdentityError;
pub use queue::{Handle, Queue, QueueError};
pub use securityhub::SecurityHubTarget;
pub use targets::AwsPublisher;

/// The clients of a running process, built once from one SDK configuration and cloned (cheap:
/// each is a handle on shared state) into whatever needs one.
#[derive(Debug, Clone)]
pub struct Aws {
    region: Option<String>,
    s3: aws_sdk_s3::Client,
    secrets: aws_sdk_secretsmanager::Client,
    sts: aws_sdk_sts::Client,
    sqs: aws_sdk_sqs::Client,
    events: aws_sdk_eventbridge::Client,
    sns: aws_sdk_sns::Client,
    securityhub: aws_sdk_securityhub::Client,
    /// The timeouts of the result events' calls, the SDK's defaults filled in: those of the
    /// clients above that publish, and of the calls of shared clients made for them.
    bounded: TimeoutConfig,
}

impl Aws {
    /// Loads the SDK configuration from the environment (once) and builds every client.
    pub async fn load(config: &Config) -> Aws {
        Aws::with(&aws_config::load_from_env().await, config)
    }

    /// Every client from `shared`: S3 honouring `S3_FORCE_PATH_STYLE` and `S3_TIMEOUT_SECS`,
    /// the result events' targets bounded by `S3_TIMEOUT_SECS` too, the others as the SDK
    /// configures them.
    pub fn with(shared: &SdkConfig, config: &Config) -> Aws {
        // The attempt timeout covers a request up to its response headers; a body that stalls
        // is cut off by the SDK's stalled-stream protection. Each is retried by the SDK's retry
        // policy.
        let s3_timeouts = TimeoutConfig::builder()
            .connect_timeout(config.s3_timeout.min(std::time::Duration::from_secs(5)))
            .read_timeout(config.s3_timeout)
            .operation_attempt_timeout(config.s3_timeout)
            .build();
        let s3 = aws_sdk_s3::config::Builder::from(shared)
            .force_path_style(config.force_path_style)
            .timeout_config(s3_timeouts)
            .build();
        // Bounded like S3 calls: a stalled publish must not run the function past its deadline.
        let mut bounded = TimeoutConfig::builder()
            .operation_attempt_timeout(config.s3_timeout)
            .operation_timeout(config.s3_timeout * 2)
            .build();
        let events = aws_sdk_eventbridge::config::Builder::from(shared)
            .timeout_config(bounded.clone())
            .build();
        let sns = aws_sdk_sns::config::Builder::from(shared)
            .timeout_config(bounded.clone())
            .build();
        let securityhub = aws_sdk_securityhub::config::Builder::from(shared)
            .timeout_config(bounded.clone())
            .build();
        // As the service builders above merge them, for the per-call overrides.
        if let Some(defaults) = shared.timeout_config() {
            bounded.take_defaults_from(defaults);
        }
        Aws {
            region: shared.region().map(ToString::to_string),
            s3: aws_sdk_s3::Client::from_conf(s3),
            secrets: aws_sdk_secretsmanager::Client::new(shared),
            sts: aws_sdk_sts::Client::new(shared),
            sqs: aws_sdk_sqs::Client::new(shared),
            events: aws_sdk_eventbridge::Client::from_conf(events),
            sns: aws_sdk_sns::Client::from_conf(sns),
            securityhub: aws_sdk_securityhub::Client::from_conf(securityhub),
            bounded,
        }
    }

    /// The region the clients' requests go to, if the configuration names one.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The object store on S3.
    pub fn s3_store(&self) -> S3Store {
        S3Store::new(self.s3.clone())
    }

    /// The scan queue at `url` (SendMessageBatch, SendMessage).
    pub fn scan_queue(&self, url: &str) -> ScanQueue {
        ScanQueue::new(self.sqs.clone(), url)
    }

    /// The queue the `poll` agent consumes at `url`, checked; with whether it has a redrive
    /// policy (see [`Queue::connect`]).
    pub async fn queue(&self, url: &str) -> Result<(Queue, bool), QueueError> {
        Queue::connect(self.sqs.clone(), url, self.region.clone()).await
    }
}

#[cfg(test)]
mod tests;
