//! The `s3-yara-scan` binary: the Lambda function when `AWS_LAMBDA_RUNTIME_API` is set, a
//! local command line otherwise (`scan` files, `handle` an SQS event file, list `rules`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use aws_lambda_events::event::sqs::SqsEvent;
use clap::{Parser, Subcommand};
use lambda_runtime::{LambdaEvent, service_fn};
use s3_yara_scan::{Config, Engine, Pipeline, RuleSet, S3Store, config};

#[derive(Parser)]
#[command(version, about = "Scan S3 objects (or local files) with YARA-X rules")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
        #[arg(long, default_value_t = config::DEFAULT_SCAN_TIMEOUT_SECS,
              value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
    },
    /// Run the batch handler once on a Lambda SQS event file against the configured S3
    /// endpoint (settings from the environment, as in Lambda) and print the batch response.
    Handle {
        /// A Lambda SQS event (JSON), such as the files in events/.
        event: PathBuf,
        /// Behave as a function with this timeout, in seconds: objects not finished shortly
        /// before it are abandoned and their messages reported for retry, as in Lambda.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=900))]
        timeout: Option<u64>,
    },
    /// Print the embedded ruleset's identity and rules.
    Rules,
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
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let result = match cli.command {
        Command::Scan {
            paths,
            json,
            timeout,
        } => scan(&paths, json, Duration::from_secs(timeout)),
        Command::Handle { event, timeout } => {
            let deadline = timeout.map(|t| std::time::SystemTime::now() + Duration::from_secs(t));
            handle(&event, deadline).map(|()| ExitCode::SUCCESS)
        }
        Command::Rules => rules().map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::from(2)
    })
}

#[tokio::main]
async fn lambda() -> anyhow::Result<()> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let pipeline = pipeline(config).await?;
    let pipeline = &pipeline;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = std::time::UNIX_EPOCH + Duration::from_millis(event.context.deadline);
        pipeline
            .process_batch_until(event.payload, Some(deadline))
            .await
    }))
    .await
    .map_err(|e| anyhow::anyhow!(e))
}

async fn pipeline(mut config: Config) -> anyhow::Result<Pipeline<S3Store>> {
    let rules = RuleSet::embedded().context("loading the embedded rules")?;
    tracing::info!(
        ruleset = rules.id(),
        rules = rules.len(),
        action = %config.action,
        quarantine_bucket = ?config.quarantine_bucket,
        max_object_size = config.max_object_size,
        concurrency = config.concurrency,
        signed = config.signing_key.is_some() || config.signing_key_secret.is_some(),
        "ready"
    );
    let store = s3_yara_scan::s3_store(&mut config).await?;
    let engine = Engine::new(rules, config.scan_timeout);
    let pipeline = Pipeline::new(store, engine, config);
    pipeline.preflight().await?;
    Ok(pipeline)
}

#[tokio::main]
async fn handle(path: &Path, deadline: Option<std::time::SystemTime>) -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let event: SqsEvent = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a Lambda SQS event", path.display()))?;
    let pipeline = pipeline(config).await?;
    let response = pipeline.process_batch_until(event, deadline).await?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}

fn rules() -> anyhow::Result<()> {
    let rules = RuleSet::embedded()?;
    println!("ruleset {} ({} rules)", rules.id(), rules.len());
    for (name, description) in rules.describe() {
        println!("  {name}: {}", description.unwrap_or_default());
    }
    Ok(())
}

fn scan(paths: &[PathBuf], json: bool, timeout: Duration) -> anyhow::Result<ExitCode> {
    let engine = Engine::new(RuleSet::embedded()?, timeout);
    let (mut infected, mut errors) = (false, false);
    let files = paths
        .iter()
        .flat_map(|p| walkdir::WalkDir::new(p).follow_links(false))
        .filter(|e| e.as_ref().map_or(true, |e| e.file_type().is_file()));
    for entry in files {
        let (path, result) = match entry {
            Ok(e) => (e.path().to_path_buf(), engine.scan_file(e.path())),
            Err(e) => (
                e.path().map(Path::to_path_buf).unwrap_or_default(),
                Err(s3_yara_scan::ScanError::Read {
                    path: e
                        .path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    reason: e.to_string(),
                }),
            ),
        };
        let (verdict, matches, error) = match &result {
            Ok(m) if m.is_empty() => ("Clean", m.as_slice(), None),
            Ok(m) => ("Infected", m.as_slice(), None),
            Err(e) => ("Error", &[][..], Some(e.to_string())),
        };
        infected |= verdict == "Infected";
        errors |= error.is_some();
        if json {
            let line = serde_json::json!({
                "path": path.to_string_lossy(), "verdict": verdict, "matches": matches, "error": error,
            });
            println!("{line}");
        } else {
            match (&error, matches.is_empty()) {
                (Some(e), _) => println!("{}: Error ({e})", path.display()),
                (None, true) => println!("{}: {verdict}", path.display()),
                (None, false) => println!("{}: {verdict} ({})", path.display(), matches.join(", ")),
            }
        }
    }
    // Infected wins over errors: a caller alerting on 1 must not miss a detection because
    // another file was unreadable.
    Ok(ExitCode::from(if infected {
        1
    } else if errors {
        2
    } else {
        0
    }))
}
