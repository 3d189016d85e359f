//! The commands that run for long: `poll` (the long-running agent) and `backlog` (the objects
//! already in a bucket).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use s3_yara_scan::backlog::{self, Progress, Work};
use s3_yara_scan::config::settings;
use s3_yara_scan::lambda::pipeline;
use s3_yara_scan::{Aws, Config, poll};

use super::local::print_json;

/// Go through the objects already under an S3 location: scan each here (settings from the
/// environment, as for `handle`; a validly signed Clean is skipped), or send it to the scan
/// queue. Shows progress on stderr, resumes where an interrupted run stopped, prints a summary.
/// Exit code 0: done; 1: something infected; 2: failures or errors; 130: interrupted.
#[derive(clap::Args)]
pub struct BacklogArgs {
    /// s3://bucket or s3://bucket/prefix.
    location: String,
    /// Send each object to this SQS queue (the function's) instead of scanning it here.
    #[arg(long, value_name = "URL")]
    to_queue: Option<String>,
    /// Objects in flight at once (SendMessageBatch calls with --to-queue); default
    /// MAX_CONCURRENCY.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    concurrency: Option<u64>,
    /// The file that makes the run resumable (default:
    /// .s3-yara-scan-backlog-<bucket>-<digest of the prefix>.json in the current directory).
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Start again from the first key, whatever the state file says.
    #[arg(long)]
    restart: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Consume an SQS queue as a long-running agent (ECS, EC2): the function's pipeline and batch
/// semantics without Lambda's 15-minute and 10 GB limits; settings from the environment, as in
/// Lambda. SIGTERM or SIGINT finishes the batch in flight, then exits. Exit code 0: stopped
/// cleanly; 1: a batch was abandoned (second signal or drain timeout); 2: could not run
/// (settings, queue, S3).
#[derive(clap::Args)]
pub struct PollArgs {
    /// The queue's URL, such as https://sqs.us-east-1.amazonaws.com/123456789012/scan.
    #[arg(long)]
    queue_url: String,
    /// Messages taken at once (objects of one batch run MAX_CONCURRENCY at a time).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i32).range(1..=10))]
    batch_size: i32,
    /// Seconds a batch's messages stay hidden from other consumers; renewed every third of it
    /// while the batch runs, so it need not cover the longest scan.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=43_200))]
    visibility_timeout: u64,
    /// Seconds the batch in flight may still run after SIGTERM before it is abandoned; keep
    /// it below ECS's stopTimeout (30 s unless set, at most 120 s).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    drain_timeout: u64,
    /// Exit after this many batches (for tests and one-off runs).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_batches: Option<u64>,
}

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
