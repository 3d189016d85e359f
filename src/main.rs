//! The `s3-yara-scan` binary: the Lambda function when `AWS_LAMBDA_RUNTIME_API` is set, a
//! local command line otherwise (`scan` files, `handle` an SQS event file, `decode` one, list
//! `rules`, print the `contract`, go through a bucket's existing objects: `backlog`), or the
//! long-running agent (`poll` a queue, on ECS or EC2).

use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use aws_lambda_events::event::sqs::SqsEvent;
use clap::{Args, Parser, Subcommand};
use lambda_runtime::{LambdaEvent, service_fn};
use s3_yara_scan::batch::{demand, operations};
use s3_yara_scan::config::settings;
use s3_yara_scan::{Aws, Config, Engine, Pipeline, RuleSet, S3Store, contract, event, onboard};
use serde_json::Value;

mod cli;

#[derive(Parser)]
#[command(version, about = "Scan S3 objects (or local files) with YARA-X rules")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Compile the YARA sources under PATH: every error with its file and line, or the number
    /// of rules; and say what each .yarc holds (its rules, the yara-x that serialized it, its
    /// native code and that code's target, its SHA-256), its native code read, never loaded.
    /// Exit code 0: they compile and load; 1: they do not.
    Check {
        /// Files or folders of .yar, .yara and .yarc files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Compile the sources under PATH and write them serialized to FILE, for RULES or
    /// `scan --rules`. The file holds a header (the yara-x version and target), portable code,
    /// and native code for this machine that other machines ignore: it is executable code. The
    /// SHA-256 printed is what RULES_YARC_SHA256 pins to load it from S3.
    Build {
        /// Files or folders of .yar and .yara files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Where to write them (by convention `.yarc`).
        #[arg(short, long)]
        output: PathBuf,
    },
}

/// `backlog`'s arguments.
#[derive(Args)]
struct BacklogArgs {
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

#[derive(Subcommand)]
enum Command {
    /// Go through the objects already under an S3 location: scan each here (settings from
    /// the environment, as for `handle`; a validly signed Clean is skipped), or send it to the
    /// scan queue. Shows progress on stderr, resumes where an interrupted run stopped, prints
    /// a summary. Exit code 0: done; 1: something infected; 2: failures or errors; 130:
    /// interrupted.
    Backlog(BacklogArgs),
    /// Scan local files and directories (recursively) with the embedded rules. Exit code 0:
    /// all clean; 1: something infected; 2: errors and nothing infected.
    Scan {
        /// Files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        /// Give up on a file after this many seconds.
        #[arg(long, default_value = settings::SCAN_TIMEOUT_SECS.default,
              value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
        /// Also scan with the rules under this path (.yar, .yara sources, or .yarc files that
        /// `rules build` wrote: native code loaded as is, so only files you trust); may be
        /// given several times.
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
    },
    /// Run the function once on an event file against the configured S3 endpoint (settings
    /// from the environment, as in Lambda) and print its answer: a Lambda SQS event (the batch
    /// response), an S3 Batch Operations invocation (a result per task), or an EventBridge
    /// CloudTrail event of a bucket (what onboarding by tag did to it).
    Handle {
        /// A Lambda SQS event, S3 Batch Operations invocation or CloudTrail event (JSON), such
        /// as those in events/.
        event: PathBuf,
        /// Behave as a function with this timeout, in seconds: objects not finished shortly
        /// before it are abandoned and their messages reported for retry, as in Lambda.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=900))]
        timeout: Option<u64>,
    },
    /// Consume an SQS queue as a long-running agent (ECS, EC2): the function's pipeline and
    /// batch semantics without Lambda's 15-minute and 10 GB limits; settings from the
    /// environment, as in Lambda. SIGTERM or SIGINT finishes the batch in flight, then exits.
    /// Exit code 0: stopped cleanly; 1: a batch was abandoned (second signal or drain
    /// timeout); 2: could not run (settings, queue, S3).
    Poll(PollArgs),
    /// Bring every bucket of the region in line with ONBOARD_TAG once: tagged buckets get the
    /// topic configuration to NOTIFICATION_TOPIC_ARN merged into their notifications, untagged
    /// ones lose ours; settings from the environment, as for `handle`. Prints what it would
    /// change per bucket unless --apply. Exit code 0: done; 2: a bucket failed.
    Onboard(cli::OnboardArgs),
    /// Print what each message of a Lambda SQS event file names, as JSON lines: its objects
    /// (bucket, key, version, ETag, kind), the records it ignores, or why it cannot be decoded.
    Decode {
        /// A Lambda SQS event (JSON); `-` reads standard input.
        event: PathBuf,
    },
    /// Move a quarantined false positive back to the bucket and key it came from (copied,
    /// verified, then deleted from quarantine), tagged Released and signed, naming who released
    /// it and why; settings from the environment, as for `handle`. Exit code 0: released; 2:
    /// refused or failed (the message says why and where the object is).
    Release(cli::ReleaseArgs),
    /// Print the embedded ruleset's identity and rules; or check and build rule sets.
    Rules {
        #[command(subcommand)]
        action: Option<RulesCommand>,
    },
    /// Print what the binary promises its deployments: settings, tag keys, verdicts and the
    /// IAM permissions each part of the work needs.
    Contract {
        /// As JSON (the only form for now).
        #[arg(long)]
        json: bool,
        /// Instead, read `["bucket", "key"]` JSON lines on standard input and print the key of
        /// each one's quarantine copy, as a JSON string per line.
        #[arg(long)]
        quarantine_keys: bool,
    },
}

#[derive(clap::Args)]
struct PollArgs {
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

fn main() -> ExitCode {
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        return match lambda() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "start-up failed");
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let cli = Cli::parse();
    init_logging(&cli.command);
    run(cli.command).unwrap_or_else(|e| {
        // A reader that stopped reading (`| head`) is no error of ours.
        let broken_pipe = e
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe);
        if broken_pipe {
            return ExitCode::SUCCESS;
        }
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}

/// Text logs on stderr, at `RUST_LOG`'s level (by default info; warn for `backlog`).
fn init_logging(command: &Command) {
    // A backlog's one line per object would bury its progress: only the loud ones by default
    // (infected, unscannable, failed); RUST_LOG=info brings them all back.
    let level = match command {
        Command::Backlog(_) => "warn",
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in files or the agent's log stream.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()),
        )
        .init();
}

/// Runs one subcommand; the exit code when it has one of its own.
fn run(command: Command) -> anyhow::Result<ExitCode> {
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    match command {
        Command::Backlog(args) => cli::backlog(args),
        Command::Scan {
            paths,
            json,
            timeout,
            rules,
        } => cli::scan(&paths, json, Duration::from_secs(timeout), &rules),
        Command::Handle { event, timeout } => {
            let deadline = timeout.map(|t| SystemTime::now() + Duration::from_secs(t));
            done(handle(&event, deadline))
        }
        Command::Poll(args) => cli::run_poll(args),
        Command::Onboard(args) => cli::onboard(args),
        Command::Release(args) => cli::release(args),
        Command::Decode { event } => done(decode(&event)),
        Command::Rules { action: None } => done(cli::rules()),
        Command::Rules {
            action: Some(RulesCommand::Check { paths }),
        } => cli::check_rules(&paths),
        Command::Rules {
            action: Some(RulesCommand::Build { paths, output }),
        } => done(cli::build_rules(&paths, &output)),
        Command::Contract {
            quarantine_keys, ..
        } => done(if quarantine_keys {
            cli::print_quarantine_keys()
        } else {
            cli::print_json(&contract::to_json())
        }),
    }
}

fn lambda() -> anyhow::Result<()> {
    runtime()?.block_on(lambda_async())
}

/// The runtime of the function and of `handle`: one thread for all the I/O, scans and archive
/// inspection on the blocking pool. Measured with scripts/cost.py (BENCHMARKS.md): 15-20% less
/// CPU per object than the multi-threaded runtime, whose workers wake, search and steal for
/// every ready request; below 1,769 MB a function has less than one vCPU for them anyway.
/// (`poll` and `backlog`, long runs on machines of several vCPUs, keep the multi-threaded one.)
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

async fn lambda_async() -> anyhow::Result<()> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    config.require_bucket_scope()?;
    let aws = Aws::load(&config).await;
    let pipeline = pipeline(&aws, config).await?;
    let pipeline = &pipeline;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = std::time::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        invoke(pipeline, event.payload, Some(deadline))
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}

/// One invocation: an SQS batch (answered with the messages to retry), an S3 Batch
/// Operations job (answered per task), an on-demand scan (answered with its report), or a
/// CloudTrail event of a bucket (onboarding by tag).
async fn invoke(
    pipeline: &Pipeline<S3Store>,
    event: Value,
    deadline: Option<SystemTime>,
) -> anyhow::Result<Value> {
    if onboard::event::is_cloudtrail(&event) {
        return Ok(onboard::handle_event(pipeline.store(), pipeline.config(), event).await?);
    }
    if demand::is_scan_object(&event) {
        let request: demand::ScanObject = serde_json::from_value(event).context(
            "not a valid on-demand scan: expected {\"scanObject\": {\"bucket\": …, \"key\": …, \
             \"versionId\": … (optional)}}",
        )?;
        return Ok(pipeline.scan_on_demand(request, deadline).await);
    }
    if operations::is_job(&event) {
        let job: operations::JobEvent =
            serde_json::from_value(event).context("not a valid S3 Batch Operations invocation")?;
        let response = pipeline.process_job_until(job, deadline).await;
        return Ok(serde_json::to_value(response)?);
    }
    let batch: SqsEvent = serde_json::from_value(event)
        .context("neither a Lambda SQS event nor an S3 Batch Operations invocation")?;
    let response = pipeline.process_batch_until(batch, deadline).await?;
    Ok(serde_json::to_value(response)?)
}

/// The pipeline the function runs: embedded rules, S3, the signing key (and the archive
/// passwords, when a secret holds them), checked against S3.
async fn pipeline(aws: &Aws, mut config: Config) -> anyhow::Result<Pipeline<S3Store>> {
    aws.read_archive_passwords(&mut config).await?;
    let rules = RuleSet::embedded().context("loading the embedded rules")?;
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
    let forwarder = match &config.large_objects {
        Some(large) => {
            let queue = aws.scan_queue(&large.queue_url);
            Some(Arc::new(queue) as Arc<dyn s3_yara_scan::forward::Forward>)
        }
        None => None,
    };
    let engine = Engine::new(rules, config.scan_timeout);
    let pipeline = Pipeline::new(aws.s3_store(), engine, config)
        .with_signing_key(signing_key)
        .with_publisher(publisher)
        .with_forwarder(forwarder);
    pipeline.load_rules().await?;
    pipeline.preflight().await?;
    Ok(pipeline)
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

fn read_event(path: &Path) -> anyhow::Result<SqsEvent> {
    serde_json::from_str(&read_text(path)?)
        .with_context(|| format!("{} is not a Lambda SQS event", path.display()))
}

fn handle(path: &Path, deadline: Option<SystemTime>) -> anyhow::Result<()> {
    runtime()?.block_on(handle_async(path, deadline))
}

async fn handle_async(path: &Path, deadline: Option<SystemTime>) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let event: Value = serde_json::from_str(&read_text(path)?).with_context(|| {
        format!(
            "{} is not a Lambda SQS event nor an S3 Batch Operations invocation: not JSON",
            path.display()
        )
    })?;
    let aws = Aws::load(&config).await;
    let pipeline = pipeline(&aws, config).await?;
    let response = invoke(&pipeline, event, deadline).await?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}

fn decode(path: &Path) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for record in read_event(path)?.records {
        let decoded = record
            .body
            .as_deref()
            .ok_or(event::EventError::MissingBody)
            .and_then(event::decode_body);
        let line = match decoded {
            Ok(d) => serde_json::json!({
                "messageId": record.message_id,
                "objects": d.objects.iter().map(|o| serde_json::json!({
                    "bucket": o.object.bucket, "key": o.object.key,
                    "versionId": o.object.version_id, "eTag": o.etag, "size": o.size,
                    "kind": format!("{:?}", o.kind()),
                })).collect::<Vec<_>>(),
                "ignored": d.ignored.iter().map(|i| &i.event_name).collect::<Vec<_>>(),
            }),
            Err(e) => serde_json::json!({"messageId": record.message_id, "error": e.to_string()}),
        };
        writeln!(out, "{line}")?;
    }
    Ok(())
}
