//! `onboard`: every bucket of the region brought in line with ONBOARD_TAG once (tagged ones
//! wired to NOTIFICATION_TOPIC_ARN, untagged ones with our configuration unwired): a dry run
//! by default, `--apply` to write. Settings from the environment, as for `handle`.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use s3_yara_scan::onboard::{self, Outcome};
use s3_yara_scan::{Aws, Config, S3Store, store};

/// Bring every bucket of the region in line with ONBOARD_TAG once: tagged buckets get the
/// topic configuration to NOTIFICATION_TOPIC_ARN merged into their notifications, untagged ones
/// lose ours; settings from the environment, as for `handle`. Prints what it would change per
/// bucket unless --apply. Exit code 0: done; 2: a bucket failed.
#[derive(clap::Args)]
pub struct OnboardArgs {
    /// Write the changes (without it, only print what would change).
    #[arg(long)]
    apply: bool,
}

/// Goes through the region's buckets; exit code 0, or 2 when a bucket failed.
pub fn onboard(args: OnboardArgs) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(onboard_async(args))
}

async fn onboard_async(args: OnboardArgs) -> anyhow::Result<ExitCode> {
    let config = Config::from_env()?;
    let (tag, topic) = onboard::settings_of(&config)?;
    let aws = Aws::load(&config).await;
    // Read, though onboarding signs nothing: a key that cannot be read stops it, as before.
    aws.signing_key(&config).await?;
    let s3 = aws.s3_store();
    let buckets = onboard::region_buckets(&s3).await?;
    eprintln!(
        "{} bucket(s) in {}; tag {tag}; topic {topic}{}",
        buckets.len(),
        store::BucketStore::region(&s3).unwrap_or_default(),
        if args.apply { "" } else { " (dry run)" }
    );
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    let mut out = std::io::stdout().lock();
    for bucket in &buckets {
        let line = match one(&s3, &config, bucket, args.apply).await {
            Ok(outcome) => {
                *counts.entry(outcome.name()).or_default() += 1;
                describe(outcome, args.apply).to_owned()
            }
            Err(e) => {
                *counts.entry("Error").or_default() += 1;
                format!("error: {e}")
            }
        };
        writeln!(out, "{bucket}: {line}")?;
    }
    let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    let mode = if args.apply {
        "applied"
    } else {
        "dry run, nothing changed (--apply to write)"
    };
    writeln!(
        out,
        "{} bucket(s): {} ({mode})",
        buckets.len(),
        summary.join(", ")
    )?;
    Ok(if counts.contains_key("Error") {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

async fn one(
    s3: &S3Store,
    config: &Config,
    bucket: &str,
    apply: bool,
) -> Result<Outcome, onboard::OnboardError> {
    if apply {
        onboard::reconcile(s3, config, bucket).await
    } else {
        onboard::preview(s3, config, bucket).await
    }
}

/// What happened, or would happen, to a bucket.
fn describe(outcome: Outcome, applied: bool) -> &'static str {
    match (outcome, applied) {
        (Outcome::Wired, true) => "wired (tagged; other notifications kept)",
        (Outcome::Wired, false) => "would wire (tagged)",
        (Outcome::Unwired, true) => "unwired (not tagged; other notifications kept)",
        (Outcome::Unwired, false) => "would unwire (not tagged, ours is there)",
        (Outcome::AlreadyWired, _) => "already wired",
        (Outcome::NotWired, _) => "not tagged",
        (Outcome::Listed, _) => "listed in PROTECTED_BUCKETS or PROMOTE: left as it is",
        (Outcome::Gone, _) => "gone",
        (Outcome::FailedCall, _) => "nothing to do",
    }
}
