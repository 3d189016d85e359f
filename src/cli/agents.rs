//! The commands that run for long: `poll` (the long-running agent) and `backlog` (the objects
//! already in a bucket).

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use s3_yara_scan::backlog::{self, Progress, Work};
use s3_yara_scan::config::settings;
use s3_yara_scan::{Aws, Config, poll};

use super::print_json;
use crate::{BacklogArgs, PollArgs, pipeline};

/// `poll`, on a runtime of its own: a batch abandoned at shutdown may leave a scan running on
/// the blocking pool, which dropping the runtime would wait for (up to `SCAN_TIMEOUT_SECS`).
pub fn run_poll(args: PollArgs) -> anyhow::Result<ExitCode> {
    // The main thread's stack for every worker: an object's journey is deep in a debug build.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(poll_queue(args));
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn poll_queue(args: PollArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::from_env()?;
    config.require_bucket_scope()?;
    // A result event that cannot be published waits on the queue the agent consumes.
    (config.results.queue_url).get_or_insert_with(|| args.queue_url.clone());
    // The agent of the large-object queue scans what it receives, whatever its size: sending
    // it back to its own queue would loop.
    if let Some(large) = config
        .large_objects
        .take_if(|l| l.queue_url == args.queue_url)
    {
        tracing::info!(
            queue = large.queue_url,
            "polling the large-object queue: every object is scanned here"
        );
    }
    let aws = Aws::load(&config).await;
    let (queue, redrive) = aws.queue(&args.queue_url).await?;
    if !redrive {
        tracing::warn!(
            queue = args.queue_url,
            "the queue has no redrive policy: a message that always fails is retried forever; \
             give it a dead-letter queue"
        );
    }
    let pipeline = pipeline(&aws, config).await?;
    let options = poll::Options {
        batch_size: args.batch_size,
        visibility: Duration::from_secs(args.visibility_timeout),
        drain_timeout: Duration::from_secs(args.drain_timeout),
        max_batches: args.max_batches,
        ..poll::Options::default()
    };
    tracing::info!(queue = queue.url(), ?options, "polling");
    let stopped = poll::run(&pipeline, &queue, &options).await?;
    tracing::info!(?stopped, "stopped");
    Ok(match stopped {
        poll::Stopped::Abandoned { .. } => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

#[tokio::main]
pub async fn backlog(args: BacklogArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.to_queue {
        None => Config::from_env()?,
        Some(_) => listing_config()?,
    };
    let concurrency = args.concurrency.map_or(config.concurrency, |n| n as usize);
    let mut job = backlog::Job::new(&args.location, concurrency)?;
    job.restart = args.restart;
    if let Some(path) = args.state {
        job.state_file = path;
    }
    let stop = interrupted()?;
    let aws = Aws::load(&config).await;
    let summary = match &args.to_queue {
        Some(url) => {
            let queue = aws.scan_queue(url);
            // A listing's settings name no signing key: nothing to read.
            let store = aws.s3_store();
            backlog::run(
                &store,
                Work::Enqueue(&queue),
                &job,
                Progress::stderr(),
                stop,
            )
            .await?
        }
        None => {
            let pipeline = pipeline(&aws, config).await?;
            let work = Work::Scan(&pipeline);
            backlog::run(pipeline.store(), work, &job, Progress::stderr(), stop).await?
        }
    };
    if args.json {
        print_json(&serde_json::to_value(&summary)?)?;
    } else {
        write!(std::io::stdout(), "{summary}")?;
    }
    Ok(ExitCode::from(summary.exit_code()))
}

/// The settings of a backlog that only lists and enqueues: the connection settings from the
/// environment. What the function does with each object is its own settings' business, so
/// neither a quarantine bucket nor the signing key is asked for here.
fn listing_config() -> anyhow::Result<Config> {
    Ok(Config::from_lookup(|name| match name {
        n if n == settings::ACTION.name => Some("tag".into()),
        n if n == settings::SIGNING_KEY_SECRET.name || n == settings::SIGNING_KEY.name => None,
        n => std::env::var(n).ok(),
    })?)
}

/// Completes at the first SIGINT or SIGTERM, after which a backlog finishes the objects in
/// flight and saves its state; a second signal ends the process at once.
fn interrupted() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!(
            "backlog: stopping: finishing the objects in flight, then saving the state \
             (signal again to quit at once)"
        );
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            std::process::exit(130);
        });
    })
}
