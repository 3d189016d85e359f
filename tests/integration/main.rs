//! Integration tests against a real S3/SNS/SQS emulator (moto server, started by
//! `scripts/test`). Every test wires its own buckets, topic and queue as in production and
//! drives the batch handler with the notifications the emulator really sent.

mod agent;
mod backlog;
mod batch;
mod canaries;
mod cli;
mod containers;
mod contract;
mod documents;
mod events;
mod faults;
mod feed_canaries;
mod feeds;
mod findings;
mod large;
mod onboard;
mod operations;
mod passwords;
mod pathological;
mod policies;
mod poll;
mod promote;
mod quarantine;
mod release;
mod requests;
mod rules;
mod signing;
mod support;
mod tagging;
