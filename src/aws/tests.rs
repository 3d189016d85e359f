//! Each client keeps the timeouts it had when every part loaded its own configuration.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

use super::Aws;
use crate::{Action, Config};

/// A configuration as the default chain loads it: the SDK's default connect timeout.
fn shared() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(3100))
                .build(),
        )
        .build()
}

fn config() -> Config {
    let mut config = Config::new(Action::Tag);
    config.s3_timeout = Duration::from_secs(7);
    config
}

#[test]
fn s3_has_its_own_timeouts() {
    let aws = Aws::with(&shared(), &config());
    let t = aws.s3.config().timeout_config().unwrap();
    assert_eq!(t.connect_timeout(), Some(Duration::from_secs(5)));
    assert_eq!(t.read_timeout(), Some(Duration::from_secs(7)));
    assert_eq!(t.operation_attempt_timeout(), Some(Duration::from_secs(7)));
    assert_eq!(aws.region(), Some("eu-west-1"));
}

#[test]
fn result_targets_are_bounded_as_when_they_loaded_their_own_configuration() {
    let shared = shared();
    let aws = Aws::with(&shared, &config());
    // What the publisher loaded before: the default chain with these timeouts merged in.
    let mut before = TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_secs(7))
        .operation_timeout(Duration::from_secs(14))
        .build();
    before.take_defaults_from(shared.timeout_config().unwrap());
    assert_eq!(before.connect_timeout(), Some(Duration::from_millis(3100)));
    assert_eq!(aws.events.config().timeout_config(), Some(&before));
    assert_eq!(aws.sns.config().timeout_config(), Some(&before));
    assert_eq!(aws.securityhub.config().timeout_config(), Some(&before));
    // The re-queue's SendMessage and Security Hub's GetCallerIdentity, overridden per call.
    assert_eq!(aws.bounded, before);
}

#[test]
fn the_other_clients_keep_the_sdk_defaults() {
    let shared = shared();
    let aws = Aws::with(&shared, &config());
    let defaults = shared.timeout_config();
    assert_eq!(aws.sqs.config().timeout_config(), defaults);
    assert_eq!(aws.sts.config().timeout_config(), defaults);
    assert_eq!(aws.secrets.config().timeout_config(), defaults);
}
