//! The commands on event files: `handle` (the function run once on an event, against the
//! configured S3) and `decode` (what each message of an SQS event names).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use aws_lambda_events::event::sqs::SqsEvent;
use s3_yara_scan::{Aws, Config, event, lambda};
use serde_json::Value;

/// Run the function once on an event file against the configured S3 endpoint (settings from
/// the environment, as in Lambda) and print its answer: a Lambda SQS event (the batch
/// response), an S3 Batch Operations invocation (a result per task), or an EventBridge
/// CloudTrail event of a bucket (what onboarding by tag did to it).
#[derive(clap::Args)]
pub struct HandleArgs {
    /// A Lambda SQS event, S3 Batch Operations invocation or CloudTrail event (JSON), such as
    /// those in events/.
    event: PathBuf,
    /// Behave as a function with this timeout, in seconds: objects not finished shortly
    /// before it are abandoned and their messages reported for retry, as in Lambda.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=900))]
    timeout: Option<u64>,
}

/// Print what each message of a Lambda SQS event file names, as JSON lines: its objects
/// (bucket, key, version, ETag, kind), the records it ignores, or why it cannot be decoded.
#[derive(clap::Args)]
pub struct DecodeArgs {
    /// A Lambda SQS event (JSON); `-` reads standard input.
    event: PathBuf,
}

/// `handle`, on the function's runtime.
pub fn handle(args: HandleArgs) -> anyhow::Result<ExitCode> {
    let deadline = (args.timeout).map(|t| SystemTime::now() + Duration::from_secs(t));
    super::runtime()?.block_on(handle_async(&args.event, deadline))?;
    Ok(ExitCode::SUCCESS)
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
    let pipeline = lambda::pipeline(&aws, config).await?;
    let response = lambda::invoke(&pipeline, event, deadline).await?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
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

/// `decode`: one JSON line per message.
pub fn decode(args: DecodeArgs) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    for record in read_event(&args.event)?.records {
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
    Ok(ExitCode::SUCCESS)
}
