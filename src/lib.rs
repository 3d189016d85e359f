//! Malware scanning for Amazon S3, as an AWS Lambda function fed by SQS.
//!
//! An object created in a protected bucket makes S3 publish an event to SNS, which an SQS queue
//! delivers to the function in batches. The modules are named for the stages:
//!
//! 1. [`event`] decodes each message body (SNS envelope, direct or raw S3 event) into
//!    [`ObjectEvent`]s: new objects and tag changes;
//! 2. [`batch`] turns a batch into jobs, one per distinct object, and runs them within the
//!    function's [`deadline`];
//! 3. [`journey`] takes one object through its steps: the signature check of its tags
//!    ([`signature`]), the read ([`store`]), the scan ([`scan`]), the [`verdict`], its
//!    [`record`] in the object's tags, and the [`action`] (quarantine or delete);
//! 4. each journey ends in a [`Report`]: what happened, and whether its message is settled
//!    ([`report`]). The batch acknowledges only settled messages, through an SQS partial batch
//!    response.
//!
//! [`release`] moves a quarantined false positive back, signed `Released`.
//! [`backlog`] takes the objects already in a bucket through the same journey (or sends them
//! to the queue). [`config`] parses the settings once, at start-up; [`pipeline`] holds what a running
//! function keeps (store, rules, settings, signing key, room for bytes); [`object`] has the
//! types every stage shares; [`contract`] is what the binary promises its deployments;
//! [`poll`] runs the same batches as a long-running SQS consumer, outside Lambda, and
//! [`forward`] hands it the objects too large for the function. [`aws`] builds every AWS
//! client once, from one SDK configuration; [`lambda`] builds the running pipeline from the
//! settings and dispatches each invocation.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use s3_yara_scan::{Aws, Config, Engine, Pipeline, RuleSet};
//!
//! let mut config = Config::from_env()?;
//! let aws = Aws::load(&config).await;
//! aws.read_archive_passwords(&mut config).await?;
//! let signing_key = aws.signing_key(&config).await?;
//! let engine = Engine::new(RuleSet::embedded()?, config.scan_timeout);
//! let pipeline = Pipeline::new(aws.s3_store(), engine, config).with_signing_key(signing_key);
//! pipeline.preflight().await?;
//! # let event = Default::default();
//! let response = s3_yara_scan::batch::process(&pipeline, event).await?;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]
// One audited exception: mapping spool files (store/budget.rs).
#![deny(unsafe_code)]

// Lets the decoder's fuzzer (examples/fuzz_events.rs), also compiled into the unit tests, name
// this crate the same way in both builds.
#[cfg(test)]
extern crate self as s3_yara_scan;

pub mod action;
pub mod aws;
pub mod backlog;
pub mod batch;
pub mod config;
pub mod contract;
pub mod deadline;
pub mod event;
pub mod feeds;
pub mod filter;
pub mod findings;
pub mod forward;
pub mod inspect;
pub mod journey;
pub mod lambda;
pub mod metrics;
pub mod object;
pub mod onboard;
pub mod pipeline;
pub mod policy;
pub mod poll;
pub mod publish;
pub mod record;
pub mod release;
pub mod report;
pub mod rules;
pub mod scan;
pub mod signature;
pub mod store;
pub mod verdict;

pub use action::Location;
pub use aws::Aws;
pub use batch::BatchError;
pub use config::{
    Action, Config, ConfigError, SigningKeySource, SkipSigned, Spool, TagOrQuarantine,
};
pub use event::ObjectEvent;
pub use object::{ObjectInfo, ObjectRef, SseKms, Tags};
pub use pipeline::{Pipeline, StartupError};
pub use report::{Disposition, Report, Retry, Settled};
pub use scan::{Engine, Match, RuleSet, ScanError};
pub use signature::SigningKey;
#[cfg(test)]
pub use store::MemoryStore;
pub use store::{ObjectStore, S3Store, StoreError};
pub use verdict::{TagKeys, Verdict};
